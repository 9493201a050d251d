//! fewstep native (f32, f16) against onnxruntime, an independent implementation, on the whole
//! test models. Needs the reference venv (`python3 -m venv .venv-ref && .venv-ref/bin/pip
//! install onnxruntime onnx numpy`, done by `.ci/run`). Without it the test is skipped locally
//! and fails in CI (`CI` set), so CI can never pass without running it.

use std::path::Path;
use std::process::Command;

use fewstep::onnx::write::{encode, save};
use fewstep::rng::Rng;
use fewstep::testing::{self, TOL_F16, TOL_F32, compare};
use fewstep::{Backend, Model, Precision, Session, SessionOptions, npy};

fn check(name: &str, proto: tract_onnx::pb::ModelProto, n: usize) {
    let Some(py) = testing::reference_python(&format!("the onnxruntime reference ({name})")) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("fewstep-ort-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model_path = dir.join("model.onnx");
    save(&proto, &model_path).unwrap();
    let model = Model::from_bytes(&encode(&proto)).unwrap();
    let mut rng = Rng::new(21);
    let mut args = vec![];
    let mut inputs = vec![];
    for spec in model.inputs() {
        let shape: Vec<usize> = spec
            .shape
            .iter()
            .map(|d| match d {
                fewstep::card::CardDim::Fixed(v) => *v,
                fewstep::card::CardDim::Sym(_) => n,
            })
            .collect();
        let data: Vec<f32> = (0..shape.iter().product()).map(|_| rng.normal()).collect();
        let p = dir.join(format!("{}.npy", spec.name));
        npy::write(&p, &shape, &data).unwrap();
        args.push(format!("{}={}", spec.name, p.display()));
        inputs.push(data);
    }
    let out_dir = dir.join("out");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/ort_run.py");
    let st = Command::new(&py)
        .arg(&script)
        .arg(&model_path)
        .arg(&out_dir)
        .args(&args)
        .status()
        .unwrap();
    assert!(st.success(), "{name}: onnxruntime reference failed");
    for (precision, tol) in [(Precision::F32, TOL_F32), (Precision::F16, TOL_F16)] {
        let mut o = SessionOptions {
            backend: Backend::Native,
            precision,
            ..Default::default()
        };
        o.dims.insert("N".into(), n);
        let mut s = Session::new(&model, o).unwrap();
        let refs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
        let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
        let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        s.run(&refs, &mut out_refs).unwrap();
        for (spec, got) in model.outputs().iter().zip(&outs) {
            let want = npy::read(&out_dir.join(format!("{}.npy", spec.name))).unwrap();
            let r = compare(got, &want.data, tol)
                .unwrap_or_else(|e| panic!("{name} {precision:?} vs onnxruntime: {e}"));
            eprintln!(
                "{name} native {precision:?} vs onnxruntime: max-abs/scale {:.2e}, NMSE {:.2e}",
                r.0, r.1
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mlp_matches_onnxruntime() {
    check("mlp", testing::mlp_velocity(1, Default::default(), 1), 20);
}

#[test]
fn transformer_matches_onnxruntime() {
    check(
        "transformer",
        testing::transformer_velocity(2, Default::default(), 1),
        20,
    );
}

#[test]
fn generator_matches_onnxruntime() {
    check("generator", testing::mlp_generator(3, 24, 16, 64), 5);
}
