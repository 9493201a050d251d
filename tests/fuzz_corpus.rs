//! Replays every committed fuzz input through the fuzz-target bodies (`fewstep::fuzz`): the
//! corpus in fuzz/corpus/<target>/ (seeds and what the fuzzer kept) and each crash reproducer in
//! fuzz/regressions/<target>/. Runs on stable, so every bug the fuzzer found stays a test.
//!
//! The c_abi seeds are also checked to reach what they are meant to reach (a forecast), so the
//! corpus cannot silently decay into inputs that stop at the first error.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        if let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) {
            out.extend(dir.map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.iter().any(|p| p.to_string_lossy().contains("seed-")),
        "no seeds for {target}: run `cargo run --release --example fuzz_seeds -- fuzz/corpus`"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // a panic names the input, so a failure here is reproducible with `cargo fuzz run`
        eprintln!("{target}: {}", f.display());
        body(&data);
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn onnx_model_corpus() {
    replay("onnx_model", fewstep::fuzz::onnx_model);
}

#[test]
fn card_json_corpus() {
    replay("card_json", fewstep::fuzz::card_json);
}

#[test]
fn scene_file_corpus() {
    replay("scene_file", fewstep::fuzz::scene_file);
}

#[test]
fn c_abi_corpus() {
    replay("c_abi", |d| {
        fewstep::fuzz::c_abi(d);
    });
}

#[test]
fn seeds_are_valid_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for name in ["mlp", "generator", "transformer", "trajectory"] {
        let bytes = std::fs::read(root.join("onnx_model").join(format!("seed-{name}"))).unwrap();
        let m = fewstep::model::Model::from_bytes(&bytes).expect(name);
        assert!(m.card().is_some(), "{name} seed has no card");
        let card = std::fs::read_to_string(root.join("card_json").join(format!("seed-{name}")));
        fewstep::card::Card::from_json(&card.unwrap()).expect(name);
    }
    for name in ["tabs", "crlf", "spaces", "walk"] {
        let text = std::fs::read_to_string(root.join("scene_file").join(format!("seed-{name}")));
        let scene = fewstep::forecast::scene::parse(&text.unwrap(), name).expect(name);
        if name == "walk" {
            assert_eq!(fewstep::forecast::windows::windows(&scene, 1).len(), 2);
        }
    }
    let abi = |name: &str| {
        let program = std::fs::read(root.join("c_abi").join(format!("seed-{name}"))).unwrap();
        fewstep::fuzz::c_abi(&program)
    };
    assert_eq!(
        abi("sample").samples,
        1,
        "the sample program no longer samples"
    );
    assert_eq!(
        abi("forecast").forecasts,
        2,
        "the forecast program no longer forecasts"
    );
}
