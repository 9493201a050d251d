//! A randomly initialised `TrajNet`, exported with fewstep's ONNX writer and run by fewstep's
//! native backend (f32 and f16), matches candle's forward pass.

use fewstep::rng::Rng;
use fewstep::testing::{TOL_F16, TOL_F32, Tolerance, compare};
use fewstep::{Backend, Model, Precision, Session, SessionOptions};
use fewstep_distill::export::{ExportInfo, read_config, to_onnx};
use fewstep_distill::model::{NetKind, TrajNet};

mod common;
use common::random_net_with;

/// Random weights everywhere (LayerNorm gains and biases too, so every parameter is exercised).
fn random_net(kind: NetKind, seed: u64) -> TrajNet {
    random_net_with(kind, true, seed)
}

fn check(kind: NetKind, precision: Precision, tol: Tolerance) {
    check_net(random_net(kind, 3), precision, tol);
}

fn check_net(net: TrajNet, precision: Precision, tol: Tolerance) {
    let kind = net.config.kind;
    let c = net.config.clone();
    let info = ExportInfo {
        steps: 10,
        future_scale: 5.0,
        ..Default::default()
    };
    let bytes = to_onnx(&net, &info).unwrap();
    assert_eq!(read_config(&bytes).as_ref(), Some(&c));
    let model = Model::from_bytes(&bytes).unwrap();
    let card = model.card().unwrap();
    assert_eq!(card.normalization["future_scale"], 5.0);
    let n = 3;
    let mut opts = SessionOptions {
        backend: Backend::Native,
        precision,
        ..Default::default()
    };
    opts.dims.insert("N".into(), n);
    let mut s = Session::new(&model, opts).unwrap();
    assert_eq!(s.info().backend, Backend::Native);
    let mut rng = Rng::new(11);
    let mut x = vec![0f32; n * c.modes * c.state];
    rng.fill_normal(&mut x);
    let mut cond = vec![0f32; n * c.cond];
    rng.fill_normal(&mut cond);
    let t = vec![0.1f32, 0.55, 0.999]; // 0.999 exercises the clamp of 1 − t
    let xt = net.tensor(&x, &[n, c.modes, c.state]).unwrap();
    let ct = net.tensor(&cond, &[n, c.cond]).unwrap();
    let tt = net.tensor(&t, &[n, 1]).unwrap();
    let want = match kind {
        NetKind::Velocity => net.velocity(&xt, &tt, &ct).unwrap(),
        NetKind::Generator => net.forward(&xt, None, &ct).unwrap(),
    };
    let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let mut got = vec![0f32; want.len()];
    match kind {
        NetKind::Velocity => s.run(&[&x, &t, &cond], &mut [&mut got]).unwrap(),
        NetKind::Generator => s.run(&[&x, &cond], &mut [&mut got]).unwrap(),
    }
    let (rel, nmse) =
        compare(&got, &want, tol).unwrap_or_else(|e| panic!("{kind:?} {precision:?}: {e}"));
    eprintln!("{kind:?} {precision:?}: max-abs/scale {rel:.2e}, NMSE {nmse:.2e}");
}

#[test]
fn velocity_f32() {
    check(NetKind::Velocity, Precision::F32, TOL_F32);
}

#[test]
fn velocity_f16() {
    check(NetKind::Velocity, Precision::F16, TOL_F16);
}

#[test]
fn generator_f32() {
    check(NetKind::Generator, Precision::F32, TOL_F32);
}

#[test]
fn generator_f16() {
    check(NetKind::Generator, Precision::F16, TOL_F16);
}

#[test]
fn independent_modes_velocity_f32() {
    let net = random_net_with(NetKind::Velocity, false, 4);
    check_net(net, Precision::F32, TOL_F32);
}

#[test]
fn independent_modes_generator_f16() {
    let net = random_net_with(NetKind::Generator, false, 4);
    check_net(net, Precision::F16, TOL_F16);
}

/// `Session::sample` with the card's Euler grid equals Euler over candle's velocity.
#[test]
fn euler_sampling_matches_candle() {
    let net = random_net(NetKind::Velocity, 5);
    let c = net.config.clone();
    let steps = 4;
    let info = ExportInfo {
        steps,
        future_scale: 5.0,
        ..Default::default()
    };
    let model = Model::from_bytes(&to_onnx(&net, &info).unwrap()).unwrap();
    let n = 2;
    let mut opts = SessionOptions {
        backend: Backend::Native,
        ..Default::default()
    };
    opts.dims.insert("N".into(), n);
    let mut s = Session::new(&model, opts).unwrap();
    let mut rng = Rng::new(1);
    let mut z = vec![0f32; n * c.modes * c.state];
    rng.fill_normal(&mut z);
    let mut cond = vec![0f32; n * c.cond];
    rng.fill_normal(&mut cond);
    let mut got = vec![0f32; z.len()];
    s.sample(&cond, &z, &mut got).unwrap();
    let ct = net.tensor(&cond, &[n, c.cond]).unwrap();
    let mut xs = net.tensor(&z, &[n, c.modes, c.state]).unwrap();
    for i in 0..steps {
        let (t0, t1) = (i as f32 / steps as f32, (i + 1) as f32 / steps as f32);
        let tt = net.tensor(&vec![t0; n], &[n, 1]).unwrap();
        let v = net.velocity(&xs, &tt, &ct).unwrap();
        xs = (xs + (v * (t1 - t0) as f64).unwrap()).unwrap();
    }
    let want: Vec<f32> = xs.flatten_all().unwrap().to_vec1().unwrap();
    compare(&got, &want, TOL_F32).unwrap();
}
