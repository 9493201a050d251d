//! Whole-model benchmarks: `cargo bench --bench models`. The two test models (MLP velocity net,
//! transformer block) at batch N = 20, one sampler run (1 Euler step = one forward pass plus
//! the in-place update), on native f32, native f16 and tract. And what building costs, on the
//! shipped default student: loading it, a session for 1 and 64 agents, and a forecaster for 64
//! agents (its ladder of sessions for 1, 2, 4, … 32 agents beside the full one) on 1 and 2
//! threads.

use criterion::{Criterion, criterion_group, criterion_main};
use fewstep::forecast::{Forecaster, ForecasterOptions};
use fewstep::onnx::write::encode;
use fewstep::rng::Rng;
use fewstep::testing;
use fewstep::{Backend, Model, Precision, Session, SessionOptions};

fn bench_model(c: &mut Criterion, name: &str, bytes: &[u8]) {
    let model = Model::from_bytes(bytes).unwrap();
    let mut g = c.benchmark_group(format!("{name} N=20"));
    for (label, backend, precision) in [
        ("native f32", Backend::Native, Precision::F32),
        ("native f16", Backend::Native, Precision::F16),
        ("tract f32", Backend::Tract, Precision::F32),
    ] {
        let mut o = SessionOptions {
            backend,
            precision,
            ..Default::default()
        };
        o.dims.insert("N".into(), 20);
        let mut s = Session::new(&model, o).unwrap();
        let mut rng = Rng::new(1);
        let mut cond = vec![0.0; s.cond_len()];
        let mut noise = vec![0.0; s.state_len()];
        rng.fill_normal(&mut cond);
        rng.fill_normal(&mut noise);
        let mut out = vec![0.0; s.state_len()];
        g.bench_function(label, |b| {
            b.iter(|| s.sample(&cond, &noise, &mut out).unwrap())
        });
    }
    g.finish();
}

fn models(c: &mut Criterion) {
    bench_model(
        c,
        "mlp",
        &encode(&testing::mlp_velocity(1, Default::default(), 1)),
    );
    bench_model(
        c,
        "transformer",
        &encode(&testing::transformer_velocity(2, Default::default(), 1)),
    );
}

fn build(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/eth/reflow.onnx");
    let model = Model::load(path).unwrap();
    let mut g = c.benchmark_group("build eth/reflow");
    let bytes = std::fs::read(path).unwrap();
    g.bench_function("model load (from bytes)", |b| {
        b.iter(|| Model::from_bytes(&bytes).unwrap())
    });
    for agents in [1, 64] {
        g.bench_function(format!("session N={agents}"), |b| {
            b.iter(|| {
                let mut o = SessionOptions::default();
                o.dims.insert("N".into(), agents);
                Session::new(&model, o).unwrap()
            })
        });
    }
    for threads in [1, 2] {
        g.bench_function(format!("forecaster 64 agents, {threads} threads"), |b| {
            b.iter(|| {
                let o = ForecasterOptions {
                    max_agents: 64,
                    threads,
                    ..Default::default()
                };
                Forecaster::new(&model, o).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, models, build);
criterion_main!(benches);
