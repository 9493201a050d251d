//! Reference models built with fewstep's ONNX writer: the fixtures of the parity tests, the
//! benchmarks, and the bundled toy model. Weights are drawn from a seeded [`Rng`].

use crate::card::{
    Card, CardDim, FORMAT_VERSION, Kind, Method, Provenance, Roles, SamplerSpec, TensorSpec,
};
use crate::onnx::{Attr, Dim, GraphBuilder};
use crate::rng::Rng;
use crate::{Backend, GpuF16Mode, Model, Precision, Session, SessionOptions};
use tract_onnx::pb::ModelProto;

/// The Python of the reference venv (with onnx and onnxruntime) for a test of `what`:
/// `FEWSTEP_REF_PYTHON`, else `.venv-ref/bin/python` in the crate. Without either the test is
/// skipped (`None`, with a message), except on CI (`CI` set), where that is a failure.
pub fn reference_python(what: &str) -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("FEWSTEP_REF_PYTHON") {
        return Some(p.into());
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-ref/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run {what}: .venv-ref is missing"
    );
    eprintln!("skipping {what}: no reference venv (.venv-ref) and FEWSTEP_REF_PYTHON unset");
    None
}

/// Runs `cmd` and returns its output, failing the test with its stderr if it did not succeed.
pub fn output_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` with its standard output closed before it writes (a reader that has gone, as
/// after `| head`): it must end with success and without a panic.
pub fn quiet_on_closed_stdout(cmd: &mut std::process::Command) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} on a closed pipe: {err}");
    assert!(!err.contains("panicked"), "{cmd:?} on a closed pipe: {err}");
}

/// Runs `cmd` with its standard output on `/dev/full` (every write fails): it must fail with
/// "cannot write standard output". Does nothing where there is no `/dev/full`.
pub fn fails_on_full_stdout(cmd: &mut std::process::Command) {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let sink = std::fs::OpenOptions::new().write(true).open(full).unwrap();
    let out = cmd
        .stdout(sink)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{cmd:?} succeeded on /dev/full");
    assert!(
        err.contains("cannot write standard output"),
        "{cmd:?}: {err}"
    );
}

fn weights(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.normal() * scale).collect()
}

fn dense(g: &mut GraphBuilder, rng: &mut Rng, x: &str, k: usize, n: usize) -> String {
    let w = weights(rng, k * n, (1.0 / k as f32).sqrt());
    let b = weights(rng, n, 0.1);
    g.linear(x, &w, Some(&b), k, n)
}

fn spec(name: &str, shape: &[CardDim]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape: shape.to_vec(),
    }
}

fn n_sym() -> CardDim {
    CardDim::Sym("N".into())
}

/// Shape of the MLP fixture: state `[N, state]`, time `[N, 1]`, condition `[N, cond]`.
#[derive(Debug, Clone, Copy)]
pub struct MlpShape {
    pub state: usize,
    pub cond: usize,
    pub hidden: usize,
}

impl Default for MlpShape {
    fn default() -> Self {
        MlpShape {
            state: 24,
            cond: 16,
            hidden: 256,
        }
    }
}

/// A conditional velocity MLP: `concat(x, t, cond) -> Linear+GELU -> LayerNorm -> Linear+SiLU
/// (written as x·sigmoid(x)) -> Linear+tanh-GELU -> Linear`, with a card (Euler, `steps` steps).
pub fn mlp_velocity(seed: u64, s: MlpShape, steps: usize) -> ModelProto {
    let mut rng = Rng::new(seed);
    let mut g = GraphBuilder::new("mlp_velocity");
    let n = Dim::Sym("N".into());
    let x = g.input("x", &[n.clone(), s.state.into()]);
    let t = g.input("t", &[n.clone(), 1.into()]);
    let c = g.input("cond", &[n.clone(), s.cond.into()]);
    let h = g.node("Concat", &[&x, &t, &c], &[Attr::Int("axis", 1)]);
    let h = dense(&mut g, &mut rng, &h, s.state + 1 + s.cond, s.hidden);
    let h = g.node("Gelu", &[&h], &[]);
    let ones = vec![1.0; s.hidden];
    let gamma: Vec<f32> = ones.iter().map(|v| v + rng.normal() * 0.1).collect();
    let beta = weights(&mut rng, s.hidden, 0.1);
    let h = g.layer_norm(&h, &gamma, &beta, 1e-5);
    let h = dense(&mut g, &mut rng, &h, s.hidden, s.hidden);
    let sg = g.node("Sigmoid", &[&h], &[]);
    let h = g.node("Mul", &[&h, &sg], &[]);
    let h = dense(&mut g, &mut rng, &h, s.hidden, s.hidden);
    let h = g.node("Gelu", &[&h], &[Attr::Str("approximate", "tanh".into())]);
    let w = weights(&mut rng, s.hidden * s.state, (1.0 / s.hidden as f32).sqrt());
    let b = weights(&mut rng, s.state, 0.1);
    let wn = g.constant("w_out", &[s.hidden, s.state], &w);
    let bn = g.constant("b_out", &[s.state], &b);
    g.node_named("Gemm", &[&h, &wn, &bn], &[], "v");
    g.output("v", &[n, s.state.into()]);
    let card = velocity_card(
        vec![
            spec("x", &[n_sym(), CardDim::Fixed(s.state)]),
            spec("t", &[n_sym(), CardDim::Fixed(1)]),
            spec("cond", &[n_sym(), CardDim::Fixed(s.cond)]),
        ],
        vec![spec("v", &[n_sym(), CardDim::Fixed(s.state)])],
        steps,
        seed,
        format!("fewstep::testing::mlp_velocity({seed}, {s:?}, {steps})"),
    );
    g.finish(Some(&card))
}

/// The card of a velocity fixture: roles `x`, `t`, `cond` → `v`, `steps` uniform Euler steps,
/// random weights drawn from `seed` by `command`.
fn velocity_card(
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    steps: usize,
    seed: u64,
    command: String,
) -> Card {
    Card {
        format_version: FORMAT_VERSION,
        kind: Kind::Velocity,
        roles: Roles {
            state: "x".into(),
            time: Some("t".into()),
            cond: Some("cond".into()),
            output: "v".into(),
        },
        inputs,
        outputs,
        sampler: Some(SamplerSpec::uniform(Method::Euler, steps)),
        prediction: None,
        normalization: serde_json::Value::Null,
        provenance: Provenance {
            method: Some("random weights (fixture, not trained)".into()),
            seed: Some(seed),
            command: Some(command),
            ..Default::default()
        },
        metrics: Default::default(),
    }
}

/// `x [N, 4]`, a time `t [1]` without the batch axis, `cond [N, 3]`; `v = Linear(x ‖ cond) +
/// t`, 3 Euler steps. With `extra_output`, a second output `t2 = 2 t` that does not scale with
/// the batch. For what splits a batch into rows (`SessionOptions::threads`).
pub fn whole_time_velocity(seed: u64, extra_output: bool) -> ModelProto {
    let mut rng = Rng::new(seed);
    let mut g = GraphBuilder::new("whole_time_velocity");
    let n = || Dim::Sym("N".into());
    let x = g.input("x", &[n(), 4.into()]);
    let t = g.input("t", &[1.into()]);
    let c = g.input("cond", &[n(), 3.into()]);
    let h = g.node("Concat", &[&x, &c], &[Attr::Int("axis", 1)]);
    let (w, b) = (weights(&mut rng, 7 * 4, 0.5), weights(&mut rng, 4, 0.1));
    let h = g.linear(&h, &w, Some(&b), 7, 4);
    g.node_named("Add", &[&h, &t], &[], "v");
    g.output("v", &[n(), 4.into()]);
    let mut outputs = vec![spec("v", &[n_sym(), CardDim::Fixed(4)])];
    if extra_output {
        let two = g.constant("two", &[1], &[2.0]);
        g.node_named("Mul", &[&t, &two], &[], "t2");
        g.output("t2", &[1.into()]);
        outputs.push(spec("t2", &[CardDim::Fixed(1)]));
    }
    let card = velocity_card(
        vec![
            spec("x", &[n_sym(), CardDim::Fixed(4)]),
            spec("t", &[CardDim::Fixed(1)]),
            spec("cond", &[n_sym(), CardDim::Fixed(3)]),
        ],
        outputs,
        3,
        seed,
        format!("fewstep::testing::whole_time_velocity({seed}, {extra_output})"),
    );
    g.finish(Some(&card))
}

/// Shape of the transformer fixture: `[N, tokens, width]` state (e.g. 20 modes of 12 (x, y)).
#[derive(Debug, Clone, Copy)]
pub struct BlockShape {
    pub tokens: usize,
    pub width: usize,
    pub d_model: usize,
    pub heads: usize,
    pub cond: usize,
}

impl Default for BlockShape {
    fn default() -> Self {
        BlockShape {
            tokens: 20,
            width: 24,
            d_model: 64,
            heads: 4,
            cond: 16,
        }
    }
}

/// A velocity network with one pre-LN transformer block across tokens (multi-head attention
/// over the `tokens` axis, GELU MLP), a sinusoidal time embedding (Mul, Sin, Cos, Concat) and
/// a condition embedding broadcast over tokens. Also exercises Slice, Gather, Div and Exp.
pub fn transformer_velocity(seed: u64, s: BlockShape, steps: usize) -> ModelProto {
    assert_eq!(s.d_model % s.heads, 0);
    let mut rng = Rng::new(seed);
    let (t_, w_, d, h_) = (s.tokens, s.width, s.d_model, s.heads);
    let dh = d / h_;
    let mut g = GraphBuilder::new("transformer_velocity");
    let n = Dim::Sym("N".into());
    let x = g.input("x", &[n.clone(), t_.into(), w_.into()]);
    let t = g.input("t", &[n.clone(), 1.into()]);
    let c = g.input("cond", &[n.clone(), s.cond.into()]);
    // token embedding [N, T, d]
    let hx = dense(&mut g, &mut rng, &x, w_, d);
    // time embedding: [sin(t f), cos(t f)] with f = exp(-linspace) -> [N, d]
    let half = d / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| -(i as f32) * (1000f32).ln() / half as f32)
        .collect();
    let fq = g.constant("log_freqs", &[1, half], &freqs);
    let tt = g.node("Exp", &[&t], &[]); // exp(t) keeps an Exp on a live value
    let tt = g.node("Mul", &[&tt, &fq], &[]);
    let ts = g.node("Sin", &[&tt], &[]);
    let tc = g.node("Cos", &[&tt], &[]);
    let temb = g.node("Concat", &[&ts, &tc], &[Attr::Int("axis", 1)]);
    let temb = dense(&mut g, &mut rng, &temb, d, d);
    // condition: take the first half and a gathered permutation of it
    let st = g.constant_i64("st", &[1], &[0]);
    let en = g.constant_i64("en", &[1], &[s.cond as i64 / 2]);
    let ax = g.constant_i64("ax", &[1], &[1]);
    let c1 = g.node("Slice", &[&c, &st, &en, &ax], &[]);
    let perm: Vec<i64> = (0..s.cond as i64).rev().collect();
    let pi = g.constant_i64("perm", &[s.cond], &perm);
    let c2 = g.node("Gather", &[&c, &pi], &[Attr::Int("axis", 1)]);
    let cc = g.node("Concat", &[&c1, &c2], &[Attr::Int("axis", 1)]);
    let cemb = dense(&mut g, &mut rng, &cc, s.cond + s.cond / 2, d);
    let ctx = g.node("Add", &[&temb, &cemb], &[]);
    let ctx = g.node("Tanh", &[&ctx], &[]);
    let axes1 = g.constant_i64("ax1", &[1], &[1]);
    let ctx = g.node("Unsqueeze", &[&ctx, &axes1], &[]);
    let h0 = g.node("Add", &[&hx, &ctx], &[]);
    // attention
    let ln1 = g.layer_norm(&h0, &vec![1.0; d], &vec![0.0; d], 1e-5);
    let q = dense(&mut g, &mut rng, &ln1, d, d);
    let k = dense(&mut g, &mut rng, &ln1, d, d);
    let v = dense(&mut g, &mut rng, &ln1, d, d);
    let split = g.constant_i64("split", &[4], &[0, t_ as i64, h_ as i64, dh as i64]);
    let heads = |g: &mut GraphBuilder, y: &str, perm: Vec<i64>| {
        let r = g.node("Reshape", &[y, &split], &[]);
        g.node("Transpose", &[&r], &[Attr::Ints("perm", perm)])
    };
    let qh = heads(&mut g, &q, vec![0, 2, 1, 3]); // [N, H, T, dh]
    let kh = heads(&mut g, &k, vec![0, 2, 3, 1]); // [N, H, dh, T]
    let vh = heads(&mut g, &v, vec![0, 2, 1, 3]);
    let sc = g.node("MatMul", &[&qh, &kh], &[]);
    let scale = g.constant("scale", &[1], &[(dh as f32).sqrt()]);
    let sc = g.node("Div", &[&sc, &scale], &[]);
    let p = g.node("Softmax", &[&sc], &[Attr::Int("axis", -1)]);
    let o = g.node("MatMul", &[&p, &vh], &[]);
    let o = g.node("Transpose", &[&o], &[Attr::Ints("perm", vec![0, 2, 1, 3])]);
    let merge = g.constant_i64("merge", &[3], &[0, t_ as i64, d as i64]);
    let o = g.node("Reshape", &[&o, &merge], &[]);
    let o = dense(&mut g, &mut rng, &o, d, d);
    let h1 = g.node("Add", &[&h0, &o], &[]);
    // MLP
    let gamma: Vec<f32> = (0..d).map(|_| 1.0 + rng.normal() * 0.1).collect();
    let beta = weights(&mut rng, d, 0.1);
    let ln2 = g.layer_norm(&h1, &gamma, &beta, 1e-5);
    let m = dense(&mut g, &mut rng, &ln2, d, 4 * d);
    let m = g.node("Gelu", &[&m], &[]);
    let m = dense(&mut g, &mut rng, &m, 4 * d, d);
    let h2 = g.node("Add", &[&h1, &m], &[]);
    let r = g.node("Relu", &[&h2], &[]);
    let out = dense(&mut g, &mut rng, &r, d, w_);
    g.node_named("Identity", &[&out], &[], "v");
    g.output("v", &[n, t_.into(), w_.into()]);
    let card = velocity_card(
        vec![
            spec("x", &[n_sym(), CardDim::Fixed(t_), CardDim::Fixed(w_)]),
            spec("t", &[n_sym(), CardDim::Fixed(1)]),
            spec("cond", &[n_sym(), CardDim::Fixed(s.cond)]),
        ],
        vec![spec(
            "v",
            &[n_sym(), CardDim::Fixed(t_), CardDim::Fixed(w_)],
        )],
        steps,
        seed,
        format!("fewstep::testing::transformer_velocity({seed}, {s:?}, {steps})"),
    );
    g.finish(Some(&card))
}

/// A conditional generator `g(z, cond)`: one pass, no time input.
pub fn mlp_generator(seed: u64, state: usize, cond: usize, hidden: usize) -> ModelProto {
    let mut rng = Rng::new(seed);
    let mut g = GraphBuilder::new("mlp_generator");
    let n = Dim::Sym("N".into());
    let z = g.input("z", &[n.clone(), state.into()]);
    let c = g.input("cond", &[n.clone(), cond.into()]);
    let h = g.node("Concat", &[&z, &c], &[Attr::Int("axis", 1)]);
    let h = dense(&mut g, &mut rng, &h, state + cond, hidden);
    let h = g.node("Relu", &[&h], &[]);
    let h = dense(&mut g, &mut rng, &h, hidden, state);
    g.node_named("Identity", &[&h], &[], "y");
    g.output("y", &[n, state.into()]);
    let card = Card {
        format_version: FORMAT_VERSION,
        kind: Kind::Generator,
        roles: Roles {
            state: "z".into(),
            time: None,
            cond: Some("cond".into()),
            output: "y".into(),
        },
        inputs: vec![
            spec("z", &[n_sym(), CardDim::Fixed(state)]),
            spec("cond", &[n_sym(), CardDim::Fixed(cond)]),
        ],
        outputs: vec![spec("y", &[n_sym(), CardDim::Fixed(state)])],
        sampler: None,
        prediction: None,
        normalization: serde_json::Value::Null,
        provenance: Provenance {
            method: Some("random weights (fixture, not trained)".into()),
            seed: Some(seed),
            ..Default::default()
        },
        metrics: Default::default(),
    };
    g.finish(Some(&card))
}

/// A named tolerance class for comparing two backends' outputs.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub name: &'static str,
    /// Bound on `max |got - want| / max(1, max |want|)`.
    pub max_abs: f32,
    /// Bound on `Σ (got - want)² / Σ want²`.
    pub nmse: f32,
}

/// Same graph, f32 weights, different kernels or summation order.
pub const TOL_F32: Tolerance = Tolerance {
    name: "f32",
    max_abs: 1e-5,
    nmse: 1e-10,
};
/// f16 weights (f32 accumulation) against an f32 reference.
pub const TOL_F16: Tolerance = Tolerance {
    name: "f16",
    max_abs: 2e-3,
    nmse: 1e-5,
};

/// The GPU backend (f32 weights) against native f32: GPU transcendentals (`exp`, `log`, `sin`)
/// are not correctly rounded (WGSL allows a few ulp), and its reductions sum in another order.
pub const TOL_GPU_F32: Tolerance = Tolerance {
    name: "gpu-f32",
    max_abs: 1e-4,
    nmse: 1e-8,
};

/// f16 weights and f16 activations (the GPU's SHADER_F16 path; f32 math and accumulation)
/// against an f32 reference. Besides the weights, every stored activation (the residual stream
/// included) is rounded to f16, unit roundoff u = 2^-11, and those roundings compound layer by
/// layer: the bound is 16 u relative to the output scale, in max and in RMS (NMSE (16 u)^2).
pub const TOL_F16_ACT: Tolerance = Tolerance {
    name: "f16-activations",
    max_abs: 16.0 / 2048.0,
    nmse: (16.0 / 2048.0) * (16.0 / 2048.0),
};

/// A session of `model` with every symbol bound to `n`; panics with the configuration on error.
pub fn session(
    model: &Model,
    backend: Backend,
    precision: Precision,
    gpu_f16: GpuF16Mode,
    n: usize,
) -> Session {
    let mut o = SessionOptions {
        backend,
        precision,
        gpu_f16,
        ..Default::default()
    };
    for s in model.symbols() {
        o.dims.insert(s, n);
    }
    Session::new(model, o)
        .unwrap_or_else(|e| panic!("{backend:?} {precision:?} {gpu_f16:?} N={n}: {e}"))
}

/// The GPU configurations checked against native f32, each with its tolerance: f32, f16
/// weights packed in u32, and f16 weights and activations where the adapter has `SHADER_F16`
/// ([`TOL_F16_ACT`]). Empty when
/// [`gpu_available`] is false. Under `FEWSTEP_REQUIRE_SHADER_F16=1` (CI, on lavapipe) an
/// adapter without `SHADER_F16` fails instead of leaving that path out.
pub fn gpu_configs() -> Vec<(Precision, GpuF16Mode, Tolerance)> {
    if !gpu_available() {
        return Vec::new();
    }
    #[cfg_attr(not(feature = "gpu"), allow(unused_mut))]
    let mut out = vec![
        (Precision::F32, GpuF16Mode::Auto, TOL_GPU_F32),
        (Precision::F16, GpuF16Mode::PackedWeights, TOL_F16),
    ];
    #[cfg(feature = "gpu")]
    {
        let ctx = crate::gpu::context().expect("gpu_available checked it");
        if ctx.shader_f16 {
            out.push((Precision::F16, GpuF16Mode::ShaderF16, TOL_F16_ACT));
        } else {
            let required = std::env::var("FEWSTEP_REQUIRE_SHADER_F16").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "FEWSTEP_REQUIRE_SHADER_F16=1 but {} has no SHADER_F16",
                ctx.adapter
            );
            eprintln!("skipping the SHADER_F16 checks: {} lacks it", ctx.adapter);
        }
    }
    out
}

/// Whether the GPU checks can run here. Without an adapter they are skipped with a message,
/// unless `FEWSTEP_REQUIRE_GPU=1` (CI), where a missing adapter fails instead.
pub fn gpu_available() -> bool {
    let required = std::env::var("FEWSTEP_REQUIRE_GPU").is_ok_and(|v| v == "1");
    #[cfg(feature = "gpu")]
    let why = match crate::gpu::context() {
        Ok(_) => return true,
        Err(e) => e.to_string(),
    };
    #[cfg(not(feature = "gpu"))]
    let why = "built without the `gpu` feature".to_string();
    assert!(!required, "FEWSTEP_REQUIRE_GPU=1 but no GPU: {why}");
    eprintln!("skipping the GPU checks: {why}");
    false
}

/// Compares `got` with `want` under `tol`; the error says by how much it failed.
pub fn compare(got: &[f32], want: &[f32], tol: Tolerance) -> Result<(f32, f32), String> {
    if got.len() != want.len() {
        return Err(format!("length {} vs {}", got.len(), want.len()));
    }
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let mut max_abs = 0f32;
    let (mut num, mut den) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        if !g.is_finite() || !w.is_finite() {
            if g.to_bits() != w.to_bits() && !(g.is_nan() && w.is_nan()) {
                return Err(format!("non-finite mismatch: {g} vs {w}"));
            }
            continue;
        }
        max_abs = max_abs.max((g - w).abs());
        num += ((g - w) as f64).powi(2);
        den += (w as f64).powi(2);
    }
    let rel = max_abs / scale;
    let nmse = if den > 0.0 {
        (num / den) as f32
    } else {
        num as f32
    };
    if rel > tol.max_abs || nmse > tol.nmse {
        return Err(format!(
            "{} tolerance exceeded: max-abs/scale {rel:.3e} (≤ {:.1e}), NMSE {nmse:.3e} (≤ {:.1e})",
            tol.name, tol.max_abs, tol.nmse
        ));
    }
    Ok((rel, nmse))
}

/// A trajectory velocity model with the shapes of fewstep's forecasters (state `[N, 20, 24]`,
/// condition `[N, 32]`) and a trajectory normalization in its card. Random weights.
pub fn trajectory_velocity(seed: u64, d_model: usize, steps: usize) -> ModelProto {
    trajectory_velocity_with(
        seed,
        d_model,
        steps,
        crate::forecast::features::FeatureVersion::V1,
    )
}

/// [`trajectory_velocity`] for the feature layout `features` (condition
/// `[N, features.cond_len()]`).
pub fn trajectory_velocity_with(
    seed: u64,
    d_model: usize,
    steps: usize,
    features: crate::forecast::features::FeatureVersion,
) -> ModelProto {
    let shape = BlockShape {
        tokens: 20,
        width: 24,
        d_model,
        heads: 4,
        cond: features.cond_len(),
    };
    let mut proto = transformer_velocity(seed, shape, steps);
    let mut card = Card::from_json(&proto.metadata_props[0].value).expect("fixture card");
    card.normalization = serde_json::to_value(crate::forecast::features::Normalization {
        features,
        future_scale: 5.0,
    })
    .expect("json");
    proto.metadata_props[0].value = card.to_json();
    proto
}
