//! `import` inverts `export`: every weight of an exported net comes back bit for bit, a shipped
//! teacher imported into candle computes what fewstep's runtime computes on the same file, and
//! files that are not fewstep-distill exports are refused with a clear error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fewstep::forecast::features::FeatureVersion;
use fewstep::rng::Rng;
use fewstep::testing::{TOL_F32, compare};
use fewstep::{Backend, Model, Session, SessionOptions};
use fewstep_distill::export::{ExportInfo, to_onnx};
use fewstep_distill::import::{from_file, from_onnx, teacher_folder};
use fewstep_distill::model::{NetKind, TrajNet};

use fewstep_distill::students::load_teacher;

mod common;
use common::{random_net, random_net_with, small};

fn info() -> ExportInfo {
    ExportInfo {
        steps: 10,
        future_scale: 5.0,
        ..Default::default()
    }
}

fn assert_same_weights(a: &TrajNet, b: &TrajNet) {
    assert_eq!(a.config, b.config);
    for name in a.names() {
        let (x, y) = (a.param_vec(&name).unwrap(), b.param_vec(&name).unwrap());
        let same = x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same && x.len() == y.len(), "parameter {name} differs");
    }
}

#[test]
fn every_weight_comes_back_bit_for_bit() {
    for kind in [NetKind::Velocity, NetKind::Generator] {
        for attention in [true, false] {
            let net = random_net_with(kind, attention, 7);
            let back = from_onnx(&to_onnx(&net, &info()).unwrap()).unwrap();
            assert_same_weights(&net, &back);
        }
    }
}

/// Every initializer is an input of some node: the export writes no constant the graph does
/// not use (independent-modes nets have no attention, so no attention constants).
#[test]
fn exports_hold_no_unused_initializers() {
    for attention in [true, false] {
        let bytes = to_onnx(&random_net_with(NetKind::Velocity, attention, 2), &info()).unwrap();
        let proto = fewstep::onnx::decode(&bytes).unwrap();
        let g = proto.graph.unwrap();
        let used: BTreeSet<&str> = g
            .node
            .iter()
            .flat_map(|n| n.input.iter().map(|s| s.as_str()))
            .collect();
        let unused: Vec<&str> = g
            .initializer
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !used.contains(n))
            .collect();
        assert!(
            unused.is_empty(),
            "attention {attention}: unused {unused:?}"
        );
    }
}

fn shipped(scene: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../models/{scene}/teacher.onnx"))
}

/// A shipped teacher (written by an earlier version of the exporter) imported into candle
/// gives the velocity that fewstep's native backend computes from the same file.
#[test]
fn a_shipped_teacher_imports_and_matches_the_runtime() {
    let path = shipped("eth");
    let bytes = std::fs::read(&path).unwrap();
    let net = from_onnx(&bytes).unwrap();
    assert_eq!(net.config.parameter_count(), 215_064);
    assert_runtime_matches(&net, &bytes);
}

/// Scene-layout (V2) and social-layout (V3) nets export with a 36- or 52-wide condition and
/// that layout in their card, come back with that layout, and the runtime computes what
/// candle does and accepts them as forecasters.
#[test]
fn scene_and_social_layout_nets_round_trip() {
    for (features, width) in [(FeatureVersion::V2, 36), (FeatureVersion::V3, 52)] {
        let config = small(NetKind::Velocity, false).with_features(features);
        let net = random_net(config, 9);
        let bytes = to_onnx(&net, &info()).unwrap();
        let back = from_onnx(&bytes).unwrap();
        assert_same_weights(&net, &back);
        assert_eq!(back.config.features, features);
        assert_eq!(back.config.cond, width);
        let model = Model::from_bytes(&bytes).unwrap();
        let (k, norm) = fewstep::forecast::forecaster::trajectory_shape(&model).unwrap();
        assert_eq!((k, norm.features), (20, features));
        assert_runtime_matches(&net, &bytes);
    }
}

/// The velocity of `net` (candle) and of its export `bytes` (native backend) agree.
fn assert_runtime_matches(net: &TrajNet, bytes: &[u8]) {
    let c = net.config.clone();
    let model = Model::from_bytes(bytes).unwrap();
    let n = 4;
    let mut opts = SessionOptions {
        backend: Backend::Native,
        ..Default::default()
    };
    opts.dims.insert("N".into(), n);
    let mut s = Session::new(&model, opts).unwrap();
    let mut rng = Rng::new(3);
    let mut x = vec![0f32; n * c.modes * c.state];
    rng.fill_normal(&mut x);
    let mut cond = vec![0f32; n * c.cond];
    rng.fill_normal(&mut cond);
    let t = vec![0.0f32, 0.3, 0.7, 0.95];
    let want = net
        .velocity(
            &net.tensor(&x, &[n, c.modes, c.state]).unwrap(),
            &net.tensor(&t, &[n, 1]).unwrap(),
            &net.tensor(&cond, &[n, c.cond]).unwrap(),
        )
        .unwrap();
    let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let mut got = vec![0f32; want.len()];
    s.run(&[&x, &t, &cond], &mut [&mut got]).unwrap();
    compare(&got, &want, TOL_F32).unwrap();
}

#[test]
fn a_teacher_folder_loads_as_the_teacher() {
    let out = std::env::temp_dir().join(format!("fewstep-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let path = shipped("zara1");
    teacher_folder(&path, &out, "test").unwrap();
    let (net, meta) = load_teacher(&out).unwrap();
    let direct = from_file(&path).unwrap();
    assert_same_weights(&net, &direct);
    let card = Model::from_bytes(&std::fs::read(&path).unwrap())
        .unwrap()
        .card()
        .unwrap()
        .clone();
    assert_eq!(
        meta.future_scale as f64,
        card.normalization["future_scale"].as_f64().unwrap()
    );
    assert_eq!(
        std::fs::read(out.join("teacher.onnx")).unwrap(),
        std::fs::read(&path).unwrap()
    );
    // a generator is not a teacher
    let gen_path = out.join("gen.onnx");
    let g = random_net_with(NetKind::Generator, false, 1);
    std::fs::write(&gen_path, to_onnx(&g, &info()).unwrap()).unwrap();
    let err = teacher_folder(&gen_path, &out.join("g"), "test").unwrap_err();
    assert!(err.contains("generator"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// The import error of `bytes` after `edit` changed its graph.
fn tampered(bytes: &[u8], edit: impl FnOnce(&mut fewstep::onnx::pb::GraphProto)) -> String {
    let mut proto = fewstep::onnx::decode(bytes).unwrap();
    edit(proto.graph.as_mut().unwrap());
    from_onnx(&fewstep::onnx::write::encode(&proto))
        .err()
        .unwrap()
}

#[test]
fn foreign_truncated_and_tampered_files_are_refused() {
    // not a fewstep-distill export: the runtime's toy model has no network config
    let toy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/toy-velocity.onnx");
    let err = from_onnx(&std::fs::read(toy).unwrap()).err().unwrap();
    assert!(
        err.contains("only files that fewstep-distill exported"),
        "{err}"
    );

    let bytes = to_onnx(&random_net_with(NetKind::Velocity, false, 5), &info()).unwrap();
    let err = from_onnx(&bytes[..bytes.len() / 2]).err().unwrap();
    assert!(!err.is_empty());

    // one weight initializer dropped
    let err = tampered(&bytes, |g| {
        let i = g
            .initializer
            .iter()
            .position(|t| t.name.starts_with("ln_g_"))
            .unwrap();
        g.initializer.remove(i);
    });
    assert!(err.contains("weight initializers"), "{err}");

    // a NaN weight
    let err = tampered(&bytes, |g| {
        let t = g
            .initializer
            .iter_mut()
            .find(|t| t.name.starts_with("w_"))
            .unwrap();
        t.raw_data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    assert!(err.contains("non-finite"), "{err}");
}
