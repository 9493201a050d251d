//! Bodies of the fuzz targets. `fuzz/` (cargo-fuzz, nightly) feeds them coverage-guided
//! input; `tests/fuzz_corpus.rs` replays the committed corpus and every crash reproducer through
//! the same functions on stable, so each found bug stays a regression test.
//!
//! Contract of every body: any input may be rejected with an error, but nothing panics, and what
//! is accepted keeps its invariants. A body panics (which the fuzzer reports) only when such an
//! invariant breaks.
//!
//! The C ABI body lives with the ABI, in [`crate::ffi::fuzz`] (it is all `unsafe` calls).

use std::collections::BTreeMap;

use crate::card::Card;
use crate::forecast::frames::{FrameReader, MAX_LINE_BYTES};
use crate::forecast::{OBS, PRED, features, scene, windows};
use crate::model::Model;
use crate::session::{Backend, Session, SessionOptions};

/// Installed by the fuzz targets at start-up. libFuzzer's panic hook aborts on every panic, even
/// one fewstep catches; this hook lets a panic raised inside a dependency (tract on a malformed
/// graph) unwind to fewstep's `catch_unwind` and become an error. A panic in fewstep's own code
/// still aborts through the previous hook, and a dependency panic that fewstep does not catch
/// escapes the target, where libfuzzer-sys aborts too.
pub fn tolerate_caught_dependency_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_dependency = info
            .location()
            .is_some_and(|l| l.file().contains("/.cargo/registry/"));
        if !in_dependency {
            previous(info)
        }
    }));
}

/// Largest input a model body builds a session for: keeps one fuzz run to milliseconds.
const MAX_SESSION_PARAMETERS: usize = 1 << 16;

/// ONNX bytes: `Model::from_bytes`, then, for a small accepted model, a session on the native
/// backend (falling back to tract) with every symbol set to 2, and one run on zeros.
pub fn onnx_model(data: &[u8]) {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let _ = (model.inputs(), model.outputs(), model.ops(), model.card());
    if model.parameter_count() > MAX_SESSION_PARAMETERS {
        return;
    }
    let dims: BTreeMap<String, usize> = model.symbols().into_iter().map(|s| (s, 2)).collect();
    let opts = SessionOptions {
        backend: Backend::Auto,
        dims,
        ..SessionOptions::default()
    };
    let Ok(mut session) = Session::new(&model, opts) else {
        return;
    };
    let total: usize = session
        .input_lens()
        .iter()
        .chain(session.output_lens())
        .sum();
    if total > 1 << 20 {
        return;
    }
    let inputs: Vec<Vec<f32>> = session.input_lens().iter().map(|&n| vec![0.0; n]).collect();
    let mut outputs: Vec<Vec<f32>> = session
        .output_lens()
        .iter()
        .map(|&n| vec![0.0; n])
        .collect();
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    let _ = session.run(&ins, &mut outs);
    if model.card().is_some() {
        let cond = vec![0.0; session.cond_len()];
        let noise = vec![0.0; session.state_len()];
        let mut out = vec![0.0; session.state_len()];
        let _ = session.sample(&cond, &noise, &mut out);
    }
}

/// Card JSON: an accepted card is valid and survives a round trip unchanged.
pub fn card_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(card) = Card::from_json(text) else {
        return;
    };
    card.validate()
        .expect("from_json accepted a card that does not validate");
    let again = Card::from_json(&card.to_json()).expect("a card's own JSON is rejected");
    assert_eq!(card, again, "card changed in a JSON round trip");
}

/// Scene files: an accepted scene is sorted, finite and consistent, and its windows and
/// trajectory features are computed without a panic. The same bytes read as a stream
/// ([`FrameReader`]) give frames of one id each, sorted by agent, and, for an accepted scene
/// without over-long lines, no error and the scene's rows.
pub fn scene_file(data: &[u8]) {
    let mut streamed = Vec::new();
    let mut refused = 0;
    for f in FrameReader::new(data, "fuzz") {
        match f {
            Ok(f) => {
                assert!(!f.rows.is_empty(), "an empty frame");
                assert!(
                    f.rows.iter().all(|r| r.frame == f.frame),
                    "a frame of two ids"
                );
                assert!(
                    f.rows.windows(2).all(|w| w[0].agent <= w[1].agent),
                    "a frame not sorted by agent"
                );
                streamed.extend(f.rows);
            }
            Err(_) => refused += 1,
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scene) = scene::parse(text, "fuzz") else {
        return;
    };
    // (FrameReader refuses over-long lines by design)
    if text.lines().all(|l| l.len() <= MAX_LINE_BYTES) {
        assert_eq!(
            refused, 0,
            "a line of an accepted scene refused by FrameReader"
        );
        streamed.sort_by(|a, b| {
            a.frame
                .total_cmp(&b.frame)
                .then(a.agent.total_cmp(&b.agent))
        });
        assert_eq!(
            streamed, scene.rows,
            "FrameReader and scene::parse read different rows"
        );
    }
    for r in &scene.rows {
        assert!(
            r.frame.is_finite() && r.agent.is_finite(),
            "non-finite id accepted"
        );
        assert!(
            r.x.is_finite() && r.y.is_finite(),
            "non-finite position accepted"
        );
    }
    assert!(
        scene
            .rows
            .windows(2)
            .all(|w| (w[0].frame, w[0].agent) < (w[1].frame, w[1].agent)),
        "rows not strictly sorted by (frame, agent)"
    );
    assert!(scene.frames.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(scene.frame_ranges().len(), scene.frames.len());
    let mut feats = [0f32; features::MAX_PAST_FEATURES];
    let mut target = [0f32; 2 * PRED];
    let ranges = scene.frame_ranges();
    for w in windows::windows(&scene, 1) {
        let frame = features::past_features(&w.obs, &mut feats[..features::PAST_FEATURES]);
        for v in [features::FeatureVersion::V2, features::FeatureVersion::V3] {
            let nb = w.neighbours.iter().copied();
            assert_eq!(v.write(&w.obs, nb, &mut feats[..v.cond_len()]), frame);
        }
        assert!(w.neighbours.len() < ranges[w.start + OBS - 1].len());
        features::future_target(&frame, &w.fut, 1.0, &mut target);
        let _ = features::constant_velocity(&w.obs);
    }
}

pub use crate::ffi::fuzz::{AbiRun, c_abi};
