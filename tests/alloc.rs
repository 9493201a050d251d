//! The hot-path contract: after the first call, `Session::sample`, `Session::sample_batch` and
//! `Session::run` on the native backend perform zero heap allocations (counted by a
//! `#[global_allocator]`, on this test's own thread).

use fewstep::alloc_count::{Counting, thread_allocations};
use fewstep::card::{Method, SamplerSpec};
use fewstep::onnx::write::encode;
use fewstep::rng::Rng;
use fewstep::testing;
use fewstep::{Backend, Model, Precision, Session, SessionOptions};

#[global_allocator]
static ALLOC: Counting = Counting;

const RUNS: usize = 1000;

fn native(bytes: &[u8], precision: Precision, n: usize) -> Session {
    let model = Model::from_bytes(bytes).unwrap();
    let mut o = SessionOptions {
        backend: Backend::Native,
        precision,
        ..Default::default()
    };
    o.dims.insert("N".into(), n);
    Session::new(&model, o).unwrap()
}

fn count_sample_allocs(s: &mut Session) -> usize {
    let mut rng = Rng::new(5);
    let mut cond = vec![0.0; s.cond_len()];
    let mut noise = vec![0.0; s.state_len()];
    rng.fill_normal(&mut cond);
    rng.fill_normal(&mut noise);
    let mut out = vec![0.0; s.state_len()];
    s.sample(&cond, &noise, &mut out).unwrap(); // the first run may touch lazily-initialised state
    let before = thread_allocations();
    for _ in 0..RUNS {
        s.sample(&cond, &noise, &mut out).unwrap();
    }
    let allocs = thread_allocations() - before;
    assert!(out.iter().all(|v| v.is_finite()));
    allocs
}

#[test]
fn sampling_allocates_nothing_f32_and_f16_one_and_many_steps() {
    let mlp = encode(&testing::mlp_velocity(1, Default::default(), 1));
    let block = encode(&testing::transformer_velocity(2, Default::default(), 1));
    let generator = encode(&testing::mlp_generator(3, 24, 16, 64));
    for precision in [Precision::F32, Precision::F16] {
        for (name, bytes) in [("mlp", &mlp), ("transformer", &block)] {
            for (method, steps) in [
                (Method::Euler, 1),
                (Method::Euler, 8),
                (Method::Heun, 3),
                (Method::Midpoint, 2),
            ] {
                let mut s = native(bytes, precision, 4);
                s.set_sampler(method, &SamplerSpec::uniform(method, steps).times)
                    .unwrap();
                let allocs = count_sample_allocs(&mut s);
                assert_eq!(
                    allocs, 0,
                    "{name} {precision:?} {method:?} x{steps}: {allocs} allocations in {RUNS} runs"
                );
            }
        }
        let mut g = native(&generator, precision, 4);
        assert_eq!(count_sample_allocs(&mut g), 0, "generator {precision:?}");
    }
}

#[test]
fn forward_pass_allocates_nothing() {
    let bytes = encode(&testing::transformer_velocity(2, Default::default(), 1));
    for precision in [Precision::F32, Precision::F16] {
        let mut s = native(&bytes, precision, 2);
        let ins: Vec<Vec<f32>> = s.input_lens().iter().map(|&l| vec![0.5; l]).collect();
        let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
        let in_refs: Vec<&[f32]> = ins.iter().map(|v| v.as_slice()).collect();
        let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        s.run(&in_refs, &mut out_refs).unwrap();
        let before = thread_allocations();
        for _ in 0..RUNS {
            s.run(&in_refs, &mut out_refs).unwrap();
        }
        assert_eq!(thread_allocations() - before, 0, "{precision:?}");
    }
}

#[test]
fn a_partial_batch_allocates_nothing() {
    let bytes = encode(&testing::transformer_velocity(2, Default::default(), 1));
    let mut s = native(&bytes, Precision::F32, 8);
    let rows = 3;
    let cond = vec![0.25; s.cond_len() / 8 * rows];
    let noise = vec![-0.5; s.state_len() / 8 * rows];
    let mut out = vec![0.0; noise.len()];
    s.sample_batch(rows, &cond, &noise, &mut out).unwrap();
    let before = thread_allocations();
    for _ in 0..RUNS {
        s.sample_batch(rows, &cond, &noise, &mut out).unwrap();
    }
    assert_eq!(thread_allocations() - before, 0);
    assert!(out.iter().all(|v| v.is_finite()));
}

/// The counter itself works: a run of the tract backend allocates (tract builds tensors).
#[test]
fn the_counter_sees_allocations() {
    let before = thread_allocations();
    let v: Vec<u64> = (0..100).collect();
    assert!(thread_allocations() > before && v.len() == 100);
    let model =
        Model::from_bytes(&encode(&testing::mlp_velocity(1, Default::default(), 1))).unwrap();
    let mut o = SessionOptions {
        backend: Backend::Tract,
        ..Default::default()
    };
    o.dims.insert("N".into(), 2);
    let mut s = Session::new(&model, o).unwrap();
    assert!(count_sample_allocs(&mut s) > 0);
}

#[test]
fn the_forecaster_allocates_nothing_per_frame() {
    use fewstep::forecast::features::FeatureVersion;
    use fewstep::forecast::{Forecaster, ForecasterOptions};
    for (features, precision) in [
        (FeatureVersion::V1, Precision::F32),
        (FeatureVersion::V1, Precision::F16),
        (FeatureVersion::V2, Precision::F32),
        (FeatureVersion::V3, Precision::F32),
    ] {
        let proto = testing::trajectory_velocity_with(5, 32, 2, features);
        let m = Model::from_bytes(&encode(&proto)).unwrap();
        let opts = ForecasterOptions {
            max_agents: 8,
            backend: Backend::Native,
            precision,
            seed: 1,
            threads: 1,
            ..Default::default()
        };
        let mut f = Forecaster::new(&m, opts).unwrap();
        let mut out = f.new_output();
        let mut obs = [(0.0f64, 0.0f32, 0.0f32); 6];
        let mut frame = |f: &mut Forecaster, out: &mut fewstep::forecast::Forecasts, i: usize| {
            for (a, o) in obs.iter_mut().enumerate() {
                // agent 5 skips every third frame; the others walk
                *o = (
                    a as f64,
                    0.4 * i as f32 + a as f32,
                    0.1 * a as f32 * i as f32,
                );
            }
            let n = if i.is_multiple_of(3) { 5 } else { 6 };
            f.observe(i as f64, &obs[..n]).unwrap();
            f.predict(out).unwrap()
        };
        for i in 0..10 {
            frame(&mut f, &mut out, i);
        }
        let before = thread_allocations();
        let mut forecast = 0;
        for i in 10..1010 {
            forecast += frame(&mut f, &mut out, i);
        }
        assert_eq!(
            thread_allocations() - before,
            0,
            "{features:?} {precision:?}"
        );
        assert!(forecast >= 5000);
    }
}
