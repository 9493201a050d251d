//! docs/CARD.md's examples are real: its JSON card is the shipped default student's (less
//! provenance and metrics), and its Python snippet, run on a card-less generator, attaches a card
//! that fewstep loads and samples with, giving what the same graph with fewstep's own card gives.

use std::path::Path;
use std::process::Command;

use fewstep::onnx::write::save;
use fewstep::{Model, Session, SessionOptions, testing};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The body of the first fenced block of `lang` in docs/CARD.md.
fn block(lang: &str) -> String {
    let doc = std::fs::read_to_string(root().join("docs/CARD.md")).unwrap();
    let start = doc
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} block"));
    let body = &doc[start + lang.len() + 4..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_json_example_is_the_default_students_card() {
    let doc = fewstep::Card::from_json(&block("json")).unwrap();
    let shipped = Model::load(root().join("models/eth/reflow.onnx")).unwrap();
    let shipped = shipped.card().unwrap();
    assert_eq!(doc.format_version, shipped.format_version);
    assert_eq!(doc.kind, shipped.kind);
    assert_eq!(doc.roles, shipped.roles);
    assert_eq!(doc.inputs, shipped.inputs);
    assert_eq!(doc.outputs, shipped.outputs);
    assert_eq!(doc.sampler, shipped.sampler);
    assert_eq!(doc.prediction, shipped.prediction);
    assert_eq!(doc.normalization, shipped.normalization);
}

fn sample(model: &Model) -> Vec<f32> {
    let mut opts = SessionOptions::default();
    opts.dims.insert("N".into(), 2);
    let mut s = Session::new(model, opts).unwrap();
    let cond: Vec<f32> = (0..s.cond_len()).map(|i| (i as f32).sin()).collect();
    let noise: Vec<f32> = (0..s.state_len()).map(|i| (i as f32 * 0.3).cos()).collect();
    let mut out = vec![0.0; s.state_len()];
    s.sample(&cond, &noise, &mut out).unwrap();
    out
}

#[test]
fn the_python_example_attaches_a_card_fewstep_samples_with() {
    let Some(py) = testing::reference_python("docs/CARD.md's Python example") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("fewstep-card-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // the generator of the example: z [N, 16], cond [N, 4] -> y [N, 16]
    let carded = testing::mlp_generator(4, 16, 4, 32);
    let mut bare = carded.clone();
    bare.metadata_props.clear();
    save(&bare, &dir.join("generator.onnx")).unwrap();
    let before = Model::load(dir.join("generator.onnx")).unwrap();
    assert!(before.card().is_none());

    testing::output_ok(
        Command::new(py)
            .arg("-c")
            .arg(block("python"))
            .current_dir(&dir),
    );
    let after = Model::load(dir.join("generator.onnx")).unwrap();
    let card = after.card().expect("the snippet attached a card");
    assert_eq!(card.kind, fewstep::card::Kind::Generator);
    let reference = Model::from_bytes(&fewstep::onnx::write::encode(&carded)).unwrap();
    assert_eq!(sample(&after), sample(&reference));
    std::fs::remove_dir_all(&dir).ok();
}
