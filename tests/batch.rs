//! `Session::sample_batch`: the first `rows` rows of a session built for a larger batch give
//! what a session built for exactly `rows` gives (native, tract, and every GPU configuration),
//! and bad row counts or lengths are errors.

use std::path::Path;

use fewstep::rng::Rng;
use fewstep::testing::{TOL_F32, compare, gpu_configs, session};
use fewstep::{Backend, Error, GpuF16Mode, Model, Precision};

fn shipped() -> Model {
    Model::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx")).unwrap()
}

/// `rows` conditions and noises, and the reference sample from a native f32 session of exactly
/// `rows` rows.
fn reference(model: &Model, rows: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut s = session(
        model,
        Backend::Native,
        Precision::F32,
        GpuF16Mode::Auto,
        rows,
    );
    let mut rng = Rng::new(21);
    let mut cond = vec![0.0; s.cond_len()];
    rng.fill_normal(&mut cond);
    let mut noise = vec![0.0; s.state_len()];
    rng.fill_normal(&mut noise);
    let mut want = vec![0.0; s.state_len()];
    s.sample(&cond, &noise, &mut want).unwrap();
    (cond, noise, want)
}

#[test]
fn a_partial_batch_matches_a_session_of_that_size() {
    let model = shipped();
    let (built, rows) = (16, 5);
    let (cond, noise, want) = reference(&model, rows);
    let mut configs = vec![
        (Backend::Native, Precision::F32, GpuF16Mode::Auto, TOL_F32),
        (Backend::Tract, Precision::F32, GpuF16Mode::Auto, TOL_F32),
    ];
    configs.extend(
        gpu_configs()
            .into_iter()
            .map(|(p, m, t)| (Backend::Gpu, p, m, t)),
    );
    for (backend, precision, mode, tol) in configs {
        let mut s = session(&model, backend, precision, mode, built);
        assert_eq!(s.batch_rows(), built);
        let mut got = vec![0.0; want.len()];
        // twice: the padding rows left by one call must not leak into the next
        for _ in 0..2 {
            s.sample_batch(rows, &cond, &noise, &mut got).unwrap();
            compare(&got, &want, tol)
                .unwrap_or_else(|e| panic!("{backend:?} {precision:?} {mode:?}: {e}"));
        }
        // a full batch is a plain sample
        let mut full_cond = cond.clone();
        full_cond.resize(s.cond_len(), 0.5);
        let mut full_noise = noise.clone();
        full_noise.resize(s.state_len(), -0.5);
        let mut full = vec![0.0; s.state_len()];
        s.sample_batch(built, &full_cond, &full_noise, &mut full)
            .unwrap();
        compare(&full[..want.len()], &want, tol)
            .unwrap_or_else(|e| panic!("{backend:?} {precision:?} {mode:?} full: {e}"));
    }
}

#[test]
fn bad_row_counts_and_lengths_are_errors() {
    let model = shipped();
    let mut s = session(&model, Backend::Native, Precision::F32, GpuF16Mode::Auto, 8);
    let state_row = s.state_len() / 8;
    let cond_row = s.cond_len() / 8;
    let (cond, noise) = (vec![0.0; 3 * cond_row], vec![0.0; 3 * state_row]);
    let mut out = vec![0.0; 3 * state_row];
    for rows in [0, 9] {
        let r = s.sample_batch(rows, &cond, &noise, &mut out);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{rows}: {r:?}");
    }
    let r = s.sample_batch(3, &cond[1..], &noise, &mut out);
    assert!(
        matches!(r, Err(Error::WrongLength { what: "cond", .. })),
        "{r:?}"
    );
    let r = s.sample_batch(3, &cond, &noise, &mut out[1..]);
    assert!(
        matches!(r, Err(Error::WrongLength { what: "out", .. })),
        "{r:?}"
    );
    let mut bad = noise.clone();
    bad[4] = f32::NAN;
    let r = s.sample_batch(3, &cond, &bad, &mut out);
    assert!(
        matches!(
            r,
            Err(Error::NonFinite {
                what: "noise",
                index: 4
            })
        ),
        "{r:?}"
    );
    // and the session still works
    s.sample_batch(3, &cond, &noise, &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}
