//! `set-sampler` and `--write-metrics` rewrite only the card of an exported file: the graph and
//! its weights stay byte for byte, and a refused edit leaves the file as it was. `prune` removes
//! exactly the initializers no node reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fewstep::Model;
use fewstep::card::{Method, Prediction, SamplerSpec};
use fewstep_distill::model::NetKind;
use fewstep_distill::model_file::{prune_unused_initializers, set_sampler, write_metrics};

mod common;
use common::write_exported;

fn exported(kind: NetKind, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewstep-card-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    write_exported(kind, &path);
    path
}

fn graph_bytes(path: &PathBuf) -> Vec<u8> {
    let proto = fewstep::onnx::decode(&std::fs::read(path).unwrap()).unwrap();
    fewstep::onnx::write::encode(&fewstep::onnx::pb::ModelProto {
        graph: proto.graph,
        ..Default::default()
    })
}

#[test]
fn set_sampler_changes_the_card_and_nothing_else() {
    let path = exported(NetKind::Velocity, "velocity.onnx");
    let mut m = BTreeMap::new();
    m.insert("test_minADE20_euler10".to_string(), 0.25);
    write_metrics(&path, &m).unwrap();
    let before = Model::load(&path).unwrap().card().unwrap().clone();
    assert_eq!(
        before.sampler,
        Some(SamplerSpec::uniform(Method::Euler, 10))
    );
    let graph = graph_bytes(&path);

    set_sampler(&path, SamplerSpec::uniform(Method::Midpoint, 3)).unwrap();
    let after = Model::load(&path).unwrap().card().unwrap().clone();
    assert_eq!(
        after.sampler,
        Some(SamplerSpec::uniform(Method::Midpoint, 3))
    );
    assert_eq!(after.metrics, before.metrics);
    assert_eq!(after.provenance, before.provenance);
    assert_eq!(graph_bytes(&path), graph);

    refused_unchanged(
        &path,
        |p| {
            let times = vec![0.0, 0.5, 0.5];
            set_sampler(
                p,
                SamplerSpec {
                    method: Method::Euler,
                    times,
                },
            )
        },
        "strictly increasing",
    );
}

/// The exported nets predict the data, so Heun's evaluation at t = 1 divides by 1e-3: refused.
/// Their cards say so (`prediction: data`, which the runtime refuses such samplers by), and a
/// card exported before that field existed gets it on its next edit. A grid that stops short of
/// 1 is allowed, and so is Heun on a model fewstep-distill did not export (the toy velocity
/// model of models/, whose velocity is the net's output).
#[test]
fn heun_ending_at_data_is_refused_for_data_predicting_nets() {
    let path = exported(NetKind::Velocity, "heun.onnx");
    let card = |p: &PathBuf| Model::load(p).unwrap().card().unwrap().clone();
    assert_eq!(card(&path).prediction, Some(Prediction::Data));
    let generator = exported(NetKind::Generator, "heun-generator.onnx");
    assert_eq!(card(&generator).prediction, None);

    // an older export: the same file without the field
    let old = path.with_file_name("heun-old.onnx");
    let mut proto = fewstep::onnx::decode(&std::fs::read(&path).unwrap()).unwrap();
    let entry = proto
        .metadata_props
        .iter_mut()
        .find(|e| e.key == fewstep::card::METADATA_KEY)
        .unwrap();
    let mut c = fewstep::Card::from_json(&entry.value).unwrap();
    c.prediction = None;
    entry.value = c.to_json();
    std::fs::write(&old, fewstep::onnx::write::encode(&proto)).unwrap();
    assert_eq!(card(&old).prediction, None);
    let graph = graph_bytes(&old);
    write_metrics(&old, &BTreeMap::from([("x".to_string(), 1.0)])).unwrap();
    assert_eq!(card(&old).prediction, Some(Prediction::Data));
    assert_eq!(graph_bytes(&old), graph);

    refused_unchanged(
        &path,
        |p| set_sampler(p, SamplerSpec::uniform(Method::Heun, 2)),
        "Heun evaluates the net at the grid's last time",
    );
    let short = SamplerSpec {
        method: Method::Heun,
        times: vec![0.0, 0.5, 0.9],
    };
    set_sampler(&path, short.clone()).unwrap();
    let card = Model::load(&path).unwrap().card().unwrap().clone();
    assert_eq!(card.sampler, Some(short));

    let toy = path.with_file_name("toy-velocity.onnx");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/toy-velocity.onnx"),
        &toy,
    )
    .unwrap();
    set_sampler(&toy, SamplerSpec::uniform(Method::Heun, 2)).unwrap();
}

#[test]
fn a_generator_has_no_sampler_to_set() {
    let path = exported(NetKind::Generator, "generator.onnx");
    refused_unchanged(
        &path,
        |p| set_sampler(p, SamplerSpec::uniform(Method::Euler, 2)),
        "no sampler",
    );
}

/// `edit` fails with an error naming `why`, and the file is byte for byte what it was.
fn refused_unchanged(path: &PathBuf, edit: impl FnOnce(&PathBuf) -> Result<(), String>, why: &str) {
    let bytes = std::fs::read(path).unwrap();
    let err = edit(path).unwrap_err();
    assert!(err.contains(why), "{err}");
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

#[test]
fn prune_removes_exactly_the_initializers_no_node_reads() {
    let path = exported(NetKind::Velocity, "prune.onnx");
    let clean = std::fs::read(&path).unwrap();
    // a clean export has nothing to remove and is not rewritten
    assert!(prune_unused_initializers(&path).unwrap().is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), clean);

    let mut proto = fewstep::onnx::decode(&clean).unwrap();
    let g = proto.graph.as_mut().unwrap();
    let mut stray = g.initializer[0].clone();
    stray.name = "left_behind".into();
    g.initializer.insert(1, stray);
    std::fs::write(&path, fewstep::onnx::write::encode(&proto)).unwrap();
    assert_eq!(prune_unused_initializers(&path).unwrap(), ["left_behind"]);
    assert_eq!(std::fs::read(&path).unwrap(), clean);
}
