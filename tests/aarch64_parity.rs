//! Single-threaded kernel-vs-reference parity checks with a fixed seed, and the hot-path
//! contract on this architecture's kernels: sampling the shipped default student, and
//! forecasting a stream of frames with it, allocate nothing after the first calls.
//!
//! `harness = false`: no libtest, no threads, no proptest, so it also runs
//! under qemu-user (where spawning a thread hangs), e.g.
//! `qemu-aarch64-static -L /usr/aarch64-linux-gnu target/.../aarch64_parity-*`.
//! Natively it runs as part of `cargo test`. Prints `N passed, N failed`
//! and exits non-zero on any failure.

use fewstep::alloc_count::{Counting, thread_allocations};
use fewstep::cpu::finite::{first_non_finite, first_non_finite_ref};
use fewstep::cpu::gemm::*;
use fewstep::cpu::norm::*;
use fewstep::cpu::unary::*;
use fewstep::cpu::{Act, Isa};

#[global_allocator]
static ALLOC: Counting = Counting;

const GEMM_REL_TOL: f64 = 1e-5;
const ACT_LIPSCHITZ: f64 = 1.2;
/// Looser than the unit tests' 1e-6: on aarch64 the activations run through
/// f32 libm (`act_fast`), a few ulp from the f64 reference.
const UNARY_REL_TOL: f64 = 4e-6;
const UNARY_ABS_TOL: f64 = 1e-9;
const NORM_TOL: f64 = 2e-5;

struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
    fn vec(&mut self, len: usize, scale: f64) -> Vec<f32> {
        (0..len).map(|_| (self.normal() * scale) as f32).collect()
    }
}

fn close(y: f32, r: f32, tol: f64) -> bool {
    if r.is_nan() {
        return y.is_nan();
    }
    if r.is_infinite() {
        return y == r;
    }
    y.is_finite() && (y as f64 - r as f64).abs() <= tol
}

fn act_tol(r: f32) -> f64 {
    UNARY_REL_TOL * (r as f64).abs() + UNARY_ABS_TOL
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}
impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            if self.failed <= 20 {
                eprintln!("FAIL: {}", what());
            }
        }
    }
}

fn gemm_cases(t: &mut Tally, rng: &mut Rng, isa: Isa) {
    let shapes = [
        (1, 1, 1),
        (1, 256, 256),
        (6, 16, 8),
        (7, 17, 9),
        (20, 70, 256),
        (25, 33, 300),
        (13, 5, 513),
        (3, 48, 0),
    ];
    for (si, &(m, n, k)) in shapes.iter().enumerate() {
        for (ai, &act) in Act::ALL.iter().enumerate() {
            let f16w = (si + ai) % 2 == 1;
            let use_bias = ai % 3 != 0;
            let (lda, ldc) = (k + si % 3, n + ai % 2);
            let a = rng.vec((m - 1) * lda + k, 1.0);
            let b = rng.vec(k * n, 1.0);
            let bias = rng.vec(n, 1.0);
            let bias = use_bias.then_some(&bias[..]);
            let bref: Vec<f32> = if f16w {
                b.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
            } else {
                b.clone()
            };
            let mut r = vec![0.0f32; (m - 1) * ldc + n];
            gemm_ref(m, n, k, &a, lda, &bref, n, bias, act, &mut r, ldc);
            let mut c = vec![f32::NAN; r.len()];
            if f16w {
                gemm_f16(
                    isa,
                    m,
                    &a,
                    lda,
                    &pack_b_f16(&b, k, n),
                    bias,
                    act,
                    &mut c,
                    ldc,
                );
            } else {
                gemm_f32(
                    isa,
                    m,
                    &a,
                    lda,
                    &pack_b_f32(&b, k, n),
                    bias,
                    act,
                    &mut c,
                    ldc,
                );
            }
            let mut ok = true;
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|kk| (a[i * lda + kk] as f64 * bref[kk * n + j] as f64).abs())
                        .sum::<f64>()
                        + bias.map_or(0.0, |bs| (bs[j] as f64).abs());
                    let rv = r[i * ldc + j];
                    ok &= close(
                        c[i * ldc + j],
                        rv,
                        GEMM_REL_TOL * ACT_LIPSCHITZ * s + act_tol(rv),
                    );
                }
            }
            t.check(ok, || {
                format!("{} gemm f16={f16w} m={m} n={n} k={k} {act:?}", isa.name())
            });
        }
    }
}

fn strided_cases(t: &mut Tally, rng: &mut Rng, isa: Isa) {
    for case in 0..24 {
        let (m, n, k) = (1 + rng.below(25), 1 + rng.below(70), 1 + rng.below(300));
        let (rsa, csa) = if case % 2 == 0 { (k, 1) } else { (1, m) };
        let (rsb, csb) = match case % 3 {
            0 => (n, 1),
            1 => (1, k),
            _ => (2 * n, 2),
        };
        let a = rng.vec((m - 1) * rsa + (k - 1) * csa + 1, 1.0);
        let b = rng.vec((k - 1) * rsb + (n - 1) * csb + 1, 1.0);
        let alpha = 0.125f32;
        let mut r = vec![0.0; m * n];
        matmul_strided_ref(m, n, k, alpha, &a, rsa, csa, &b, rsb, csb, &mut r, n);
        let mut c = vec![f32::NAN; m * n];
        matmul_strided(isa, m, n, k, alpha, &a, rsa, csa, &b, rsb, csb, &mut c, n);
        let mut ok = true;
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|kk| (a[i * rsa + kk * csa] as f64 * b[kk * rsb + j * csb] as f64).abs())
                    .sum();
                ok &= close(c[i * n + j], r[i * n + j], GEMM_REL_TOL * 0.125 * s);
            }
        }
        t.check(ok, || {
            format!("{} strided case {case} m={m} n={n} k={k}", isa.name())
        });
    }
}

fn elementwise_cases(t: &mut Tally, rng: &mut Rng, isa: Isa) {
    let mut x: Vec<f32> = (0..301).map(|_| (rng.normal() * 4.0) as f32).collect();
    x.extend([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, 88.7, -104.5]);
    x.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    for act in Act::ALL {
        let mut y = x.clone();
        apply_act(isa, act, &mut y);
        let bad = x
            .iter()
            .zip(&y)
            .find(|(xi, yi)| !close(**yi, act_scalar(act, **xi), act_tol(act_scalar(act, **xi))));
        t.check(bad.is_none(), || {
            format!("{} act {act:?} at {bad:?}", isa.name())
        });
    }
    for op in Unary::ALL {
        let mut y = vec![0.0; x.len()];
        apply_unary(isa, op, &x, &mut y);
        let bad = x.iter().zip(&y).find(|(xi, yi)| {
            !close(
                **yi,
                unary_scalar(op, **xi),
                act_tol(unary_scalar(op, **xi)),
            )
        });
        t.check(bad.is_none(), || {
            format!("{} unary {op:?} at {bad:?}", isa.name())
        });
    }
}

fn norm_cases(t: &mut Tally, rng: &mut Rng, isa: Isa) {
    for &d in &[1usize, 7, 64, 300] {
        let rows = 3;
        let x: Vec<f32> = (0..rows * d)
            .map(|_| (1e4 + 1e-2 * rng.normal()) as f32)
            .collect();
        let gamma = rng.vec(d, 1.0);
        let beta = rng.vec(d, 1.0);
        let (mut y, mut r) = (vec![0.0; rows * d], vec![0.0; rows * d]);
        layer_norm(isa, &x, d, &gamma, Some(&beta), 1e-5, &mut y);
        layer_norm_ref(&x, d, &gamma, Some(&beta), 1e-5, &mut r);
        let ok = y.iter().zip(&r).enumerate().all(|(i, (&yi, &ri))| {
            let j = i % d;
            close(
                yi,
                ri,
                1e-3 * (ri.abs() + gamma[j].abs() + beta[j].abs()) as f64,
            )
        });
        t.check(ok, || format!("{} layer_norm cluster d={d}", isa.name()));

        let x = rng.vec(rows * d, 10.0);
        softmax(isa, &x, d, &mut y);
        softmax_ref(&x, d, &mut r);
        let ok = y
            .iter()
            .zip(&r)
            .all(|(&yi, &ri)| close(yi, ri, NORM_TOL * ri.abs() as f64 + 1e-9));
        t.check(ok, || format!("{} softmax d={d}", isa.name()));
    }
}

/// The finiteness scan (portable, vectorized by the compiler for each target) against the plain
/// search: every length to 70, with NaN or an infinity at every position, and finite edges.
fn finite_cases(t: &mut Tally, rng: &mut Rng) {
    let edges = [f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45, -0.0];
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    for len in 0..=70 {
        let mut x: Vec<f32> = (0..len).map(|i| edges[(i + len) % edges.len()]).collect();
        for v in x.iter_mut() {
            if rng.below(3) == 0 {
                *v = rng.normal() as f32;
            }
        }
        t.check(first_non_finite(&x).is_none(), || {
            format!("finite scan flags a finite slice of {len}")
        });
        for at in 0..len {
            let mut y = x.clone();
            y[at] = specials[rng.below(specials.len())];
            let (got, want) = (first_non_finite(&y), first_non_finite_ref(&y));
            t.check(got == Some(at) && want == Some(at), || {
                format!("finite scan: {got:?} for a non-finite value at {at} of {len}")
            });
        }
    }
}

/// The shipped default student on the native backend (the best kernels this CPU has: NEON on
/// aarch64), f32 and f16, 1 and 3 agents: 100 sampler calls after the first allocate nothing
/// on this thread (tests/alloc.rs checks every op and sampler on the host; this is the same
/// contract where the device runs it).
fn hot_path_cases(t: &mut Tally) {
    use fewstep::{Backend, Model, Precision, Session, SessionOptions};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/eth/reflow.onnx");
    let model = match Model::load(path) {
        Ok(m) => m,
        Err(e) => return t.check(false, || format!("cannot load {path}: {e}")),
    };
    for precision in [Precision::F32, Precision::F16] {
        for n in [1, 3] {
            let mut o = SessionOptions {
                backend: Backend::Native,
                precision,
                ..Default::default()
            };
            o.dims.insert("N".into(), n);
            let mut s = match Session::new(&model, o) {
                Ok(s) => s,
                Err(e) => return t.check(false, || format!("{precision:?} N={n}: {e}")),
            };
            let mut rng = Rng(0xa110c + n as u64);
            let cond: Vec<f32> = (0..s.cond_len()).map(|_| rng.normal() as f32).collect();
            let noise: Vec<f32> = (0..s.state_len()).map(|_| rng.normal() as f32).collect();
            let mut out = vec![0.0; s.state_len()];
            let first = s.sample(&cond, &noise, &mut out);
            let before = thread_allocations();
            let rest = (0..100).try_for_each(|_| s.sample(&cond, &noise, &mut out));
            let allocs = thread_allocations() - before;
            t.check(first.is_ok() && rest.is_ok(), || {
                format!("{precision:?} N={n}: sampling failed: {first:?} {rest:?}")
            });
            t.check(allocs == 0, || {
                format!("{precision:?} N={n}: {allocs} allocations in 100 sampler calls")
            });
            t.check(out.iter().all(|v| v.is_finite()), || {
                format!("{precision:?} N={n}: a non-finite sample")
            });
        }
    }
}

/// The streaming forecaster on the default student (native f32, fitted batches): 60 frames of
/// five or six walking agents after ten to warm up allocate nothing on this thread.
fn forecaster_cases(t: &mut Tally) {
    use fewstep::forecast::{Forecaster, ForecasterOptions};
    use fewstep::{Backend, Model};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/eth/reflow.onnx");
    let opts = ForecasterOptions {
        max_agents: 8,
        backend: Backend::Native,
        seed: 1,
        threads: 1,
        ..Default::default()
    };
    let mut f = match Model::load(path).and_then(|m| Forecaster::new(&m, opts)) {
        Ok(f) => f,
        Err(e) => return t.check(false, || format!("forecaster on {path}: {e}")),
    };
    let mut out = f.new_output();
    let mut obs = [(0.0f64, 0.0f32, 0.0f32); 6];
    let mut frame = |f: &mut Forecaster, out: &mut fewstep::forecast::Forecasts, i: usize| {
        for (a, o) in obs.iter_mut().enumerate() {
            *o = (a as f64, 0.4 * i as f32 + a as f32, 0.1 * (a * i) as f32);
        }
        // agent 5 skips every third frame
        let n = if i.is_multiple_of(3) { 5 } else { 6 };
        f.observe(i as f64, &obs[..n]).and_then(|_| f.predict(out))
    };
    let warm = (0..10).try_for_each(|i| frame(&mut f, &mut out, i).map(drop));
    let before = thread_allocations();
    let forecast = (10..70).try_fold(0, |sum, i| frame(&mut f, &mut out, i).map(|n| sum + n));
    let allocs = thread_allocations() - before;
    t.check(warm.is_ok(), || format!("forecaster warm-up: {warm:?}"));
    t.check(matches!(forecast, Ok(n) if n >= 300), || {
        format!("forecaster: {forecast:?} agent forecasts in 60 frames")
    });
    t.check(allocs == 0, || {
        format!("forecaster: {allocs} allocations in 60 frames")
    });
}

fn main() {
    let mut t = Tally::default();
    println!("checking the hot path of the default student");
    hot_path_cases(&mut t);
    forecaster_cases(&mut t);
    finite_cases(&mut t, &mut Rng(0xf1));
    for isa in Isa::available() {
        println!("checking {}", isa.name());
        let mut rng = Rng(0x5eed);
        gemm_cases(&mut t, &mut rng, isa);
        strided_cases(&mut t, &mut rng, isa);
        elementwise_cases(&mut t, &mut rng, isa);
        norm_cases(&mut t, &mut rng, isa);
    }
    let p16 = pack_b_f16(&[1.0; 40 * 33], 40, 33);
    let p32 = pack_b_f32(&[1.0; 40 * 33], 40, 33);
    t.check(p16.bytes() * 2 == p32.bytes(), || {
        "f16 packing is not half".into()
    });
    println!("{} passed, {} failed", t.passed, t.failed);
    if t.failed > 0 {
        std::process::exit(1);
    }
}
