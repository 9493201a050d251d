//! Many threads sharing one `Model`, each with its own `Session`, produce bitwise the same
//! outputs as one thread: native f32 and f16, velocity (Euler and Heun) and generator models,
//! and the streaming forecaster.

use std::sync::Arc;

use fewstep::forecast::forecaster::{Forecaster, ForecasterOptions};
use fewstep::rng::Rng;
use fewstep::testing::{mlp_generator, trajectory_velocity, transformer_velocity};
use fewstep::{Backend, Model, Precision, Session, SessionOptions};

const THREADS: usize = 8;
const RUNS: usize = 25;

fn session(model: &Model, precision: Precision, n: usize) -> Session {
    let mut o = SessionOptions {
        backend: Backend::Native,
        precision,
        ..Default::default()
    };
    for s in model.symbols() {
        o.dims.insert(s.clone(), n);
    }
    Session::new(model, o).unwrap()
}

/// `RUNS` samples with inputs drawn from `seed`, concatenated.
fn outputs(model: &Model, precision: Precision, seed: u64) -> Vec<u32> {
    let mut s = session(model, precision, 4);
    let mut rng = Rng::new(seed);
    let (mut cond, mut noise) = (vec![0f32; s.cond_len()], vec![0f32; s.state_len()]);
    let mut out = vec![0f32; s.state_len()];
    let mut all = Vec::new();
    for _ in 0..RUNS {
        rng.fill_normal(&mut cond);
        rng.fill_normal(&mut noise);
        s.sample(&cond, &noise, &mut out).unwrap();
        all.extend(out.iter().map(|v| v.to_bits()));
    }
    all
}

fn check(model: Model) {
    for precision in [Precision::F32, Precision::F16] {
        let want: Vec<Vec<u32>> = (0..THREADS as u64)
            .map(|seed| outputs(&model, precision, seed))
            .collect();
        let shared = Arc::new(model.clone());
        let got: Vec<Vec<u32>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..THREADS as u64)
                .map(|seed| {
                    let m = Arc::clone(&shared);
                    sc.spawn(move || outputs(&m, precision, seed))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert!(
                w == g,
                "thread {i} ({precision:?}) differs from the single-threaded run"
            );
        }
    }
}

#[test]
fn velocity_models_are_bitwise_deterministic_across_threads() {
    check(
        Model::from_bytes(&fewstep::onnx::write::encode(&trajectory_velocity(
            3, 32, 4,
        )))
        .unwrap(),
    );
    check(
        Model::from_bytes(&fewstep::onnx::write::encode(&transformer_velocity(
            5,
            Default::default(),
            3,
        )))
        .unwrap(),
    );
}

#[test]
fn generator_is_bitwise_deterministic_across_threads() {
    check(Model::from_bytes(&fewstep::onnx::write::encode(&mlp_generator(7, 24, 16, 64))).unwrap());
}

#[test]
fn forecasters_sharing_a_model_agree_bitwise() {
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/eth/teacher.onnx"
    ))
    .unwrap();
    let scene = fewstep::forecast::scene::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/eth_ucy/biwi_eth.txt"
    )))
    .unwrap();
    let run = |m: &Model| -> Vec<u32> {
        let mut f = Forecaster::new(
            m,
            ForecasterOptions {
                max_agents: 32,
                seed: 11,
                ..Default::default()
            },
        )
        .unwrap();
        f.set_steps(4).unwrap();
        let mut out = f.new_output();
        let mut bits = Vec::new();
        let mut obs = Vec::new();
        for (frame, range) in scene.frames.iter().zip(scene.frame_ranges()).take(60) {
            obs.clear();
            obs.extend(scene.rows[range].iter().map(|r| (r.agent, r.x, r.y)));
            f.observe(*frame, &obs).unwrap();
            f.predict(&mut out).unwrap();
            for i in 0..out.len() {
                for fut in out.futures(i) {
                    bits.extend(fut.iter().flat_map(|p| [p[0].to_bits(), p[1].to_bits()]));
                }
            }
        }
        bits
    };
    let want = run(&model);
    assert!(!want.is_empty());
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4).map(|_| sc.spawn(|| run(&model))).collect();
        for h in hs {
            assert!(h.join().unwrap() == want, "a forecaster thread differs");
        }
    });
}
