//! Replays every committed fuzz input through the fuzz-target bodies (`fewstep::fuzz`): the
//! corpus in fuzz/corpus/<target>/ (seeds and what the fuzzer kept) and each crash reproducer in
//! fuzz/regressions/<target>/. Runs on stable, so every bug the fuzzer found stays a test.
//!
//! `random_mutations_of_the_corpus` is the fuzz smoke that runs on every CI run: seeded random
//! mutations (bit flips, byte changes, truncation, splices) of every corpus input, a few seconds
//! per target, on stable. It is not coverage-guided; `cargo fuzz` (fuzz/README.md) is.
//!
//! The c_abi seeds are also checked to reach what they are meant to reach (a forecast), so the
//! corpus cannot silently decay into inputs that stop at the first error.

use std::path::{Path, PathBuf};

use fewstep::rng::Rng;

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
        abi("batch").samples,
        1,
        "the batch program no longer samples a partial batch"
    );
    assert_eq!(
        abi("forecast").forecasts,
        2,
        "the forecast program no longer forecasts"
    );
    let sampler = abi("sampler");
    assert_eq!(
        (sampler.sampler_changes, sampler.samples),
        (1, 1),
        "the sampler program no longer sets a sampler and samples"
    );
    assert_eq!(
        abi("threads").samples,
        1,
        "the threads program no longer samples on 2 threads"
    );
    assert_eq!(
        abi("forecast-threads").forecasts,
        2,
        "the forecast-threads program no longer forecasts on 2 threads"
    );
    let overflow = abi("overflow");
    assert_eq!(
        (
            overflow.sampler_changes,
            overflow.samples,
            overflow.overflows
        ),
        (1, 0, 1),
        "the overflow program no longer sets a stretched grid whose sample is refused"
    );
}

/// One random mutation of `data` (libFuzzer's simplest mutators, driven by a seeded `Rng`).
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    let pick = |rng: &mut Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    for _ in 0..1 + pick(rng, 4) {
        match pick(rng, 6) {
            0 if !d.is_empty() => {
                let i = pick(rng, d.len());
                d[i] ^= 1 << pick(rng, 8);
            }
            1 if !d.is_empty() => {
                let i = pick(rng, d.len());
                d[i] = rng.next_u64() as u8;
            }
            2 => d.truncate(pick(rng, d.len() + 1)),
            3 if !d.is_empty() => {
                let i = pick(rng, d.len());
                d.insert(i, [0, 0xff, 0x7f, 0x80, b'\n', b' '][pick(rng, 6)]);
            }
            4 if !other.is_empty() => {
                let at = pick(rng, d.len() + 1);
                let from = pick(rng, other.len());
                let len = pick(rng, other.len() - from + 1);
                d.splice(at..at, other[from..from + len].iter().copied());
            }
            _ if d.len() > 1 => {
                let i = pick(rng, d.len());
                d.remove(i);
            }
            _ => {}
        }
    }
    d
}

#[test]
fn random_mutations_of_the_corpus() {
    type Body = fn(&[u8]);
    let targets: [(&str, Body, usize); 4] = [
        ("onnx_model", fewstep::fuzz::onnx_model, 20_000),
        ("card_json", fewstep::fuzz::card_json, 20_000),
        ("scene_file", fewstep::fuzz::scene_file, 20_000),
        (
            "c_abi",
            |d| {
                fewstep::fuzz::c_abi(d);
            },
            300,
        ),
    ];
    for (target, body, runs) in targets {
        let corpus: Vec<Vec<u8>> = inputs(target)
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        let mut rng = Rng::new(0x5eed);
        for i in 0..runs {
            let a = &corpus[i % corpus.len()];
            let b = &corpus[(rng.next_u64() % corpus.len() as u64) as usize];
            let input = mutate(&mut rng, a, b);
            let r = std::panic::catch_unwind(|| body(&input));
            if r.is_err() {
                let path = std::env::temp_dir().join(format!("fewstep-{target}-mutation-{i}"));
                std::fs::write(&path, &input).unwrap();
                panic!(
                    "{target}: mutation {i} failed; input saved to {} (add it to fuzz/regressions/{target}/)",
                    path.display()
                );
            }
        }
        eprintln!("{target}: {runs} mutations of {} inputs", corpus.len());
    }
}
