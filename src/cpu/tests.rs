//! Property tests: every fast kernel against its reference, on every `Isa`
//! this machine can run (`Scalar` and the detected one).

use super::gemm::*;
use super::norm::*;
use super::unary::*;
use super::{Act, Isa};
use proptest::prelude::*;

/// f32 GEMM: |c - ref| <= GEMM_REL_TOL * Σ_kk |a||b| (+|bias|), the honest
/// bound for reordered f32 accumulation, times the activation's Lipschitz
/// constant, plus the activation's own tolerance.
const GEMM_REL_TOL: f64 = 1e-5;
/// Upper bound on |act'(x)| over all activations (GELU peaks at ~1.13).
const ACT_LIPSCHITZ: f64 = 1.2;
/// Vector activation / unary vs f64 reference: relative part (~8 ulp).
const UNARY_REL_TOL: f64 = 1e-6;
/// Absolute floor for results that are tiny compared with activations'
/// O(1) scale (exp-based tails whose error grows with |x| ε).
const UNARY_ABS_TOL: f64 = 1e-9;
/// LayerNorm: |y - ref| <= LN_TOL * (|ref| + |gamma| + |beta|).
const LN_TOL: f64 = 2e-5;
/// LayerNorm on ill-conditioned rows (mean 1e4, std 1e-2).
const LN_CLUSTER_TOL: f64 = 1e-3;
/// Softmax: |y - ref| <= SOFTMAX_REL_TOL |ref| + SOFTMAX_ABS_TOL.
const SOFTMAX_REL_TOL: f64 = 1e-5;
const SOFTMAX_ABS_TOL: f64 = 1e-9;

/// Small deterministic generator (SplitMix64) so proptest only has to
/// shrink a seed and the dimensions.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Approximately standard normal (sum of 4 uniforms, rescaled).
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

/// The NEON paths evaluate activations with f32 libm (`act_fast`), a few
/// ulp further from the f64 reference than the AVX2 polynomials.
const NEON_ACT_TOL_FACTOR: f64 = 4.0;

fn act_tol_isa(isa: Isa, r: f32) -> f64 {
    if isa == Isa::Neon {
        NEON_ACT_TOL_FACTOR * act_tol(r)
    } else {
        act_tol(r)
    }
}

/// Scales for the "extreme magnitudes" cases: 10^ea for A, 10^eb for B with
/// |ea|, |eb| <= 30 and |ea + eb| <= 28, so sums stay finite and products
/// stay normal.
fn scales(rng: &mut Rng, extreme: bool) -> (f64, f64) {
    if !extreme {
        return (1.0, 1.0);
    }
    let ea = rng.uniform(-30.0, 30.0);
    let eb = rng.uniform((-28.0 - ea).max(-30.0), (28.0 - ea).min(30.0));
    (10f64.powf(ea), 10f64.powf(eb))
}

#[allow(clippy::too_many_arguments)]
fn check_gemm(
    f16w: bool,
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    ldc: usize,
    use_bias: bool,
    act: Act,
    a: &[f32],
    b: &[f32],
    bias: &[f32],
) -> Result<(), TestCaseError> {
    let bias = use_bias.then_some(bias);
    // f16: the reference runs on the f16-rounded weights.
    let bref: Vec<f32> = if f16w {
        b.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
    } else {
        b.to_vec()
    };
    let mut cref = vec![0.0f32; (m - 1) * ldc + n];
    gemm_ref(m, n, k, a, lda, &bref, n, bias, act, &mut cref, ldc);
    let p32 = pack_b_f32(b, k, n);
    let p16 = pack_b_f16(b, k, n);
    for isa in Isa::available() {
        let mut c = vec![f32::from_bits(0x7fc0_1234); (m - 1) * ldc + n];
        if f16w {
            gemm_f16(isa, m, a, lda, &p16, bias, act, &mut c, ldc);
        } else {
            gemm_f32(isa, m, a, lda, &p32, bias, act, &mut c, ldc);
        }
        for i in 0..m {
            for j in 0..n {
                let sum_abs: f64 = (0..k)
                    .map(|kk| (a[i * lda + kk] as f64 * bref[kk * n + j] as f64).abs())
                    .sum::<f64>()
                    + bias.map_or(0.0, |bs| (bs[j] as f64).abs());
                let r = cref[i * ldc + j];
                let y = c[i * ldc + j];
                let tol = GEMM_REL_TOL * ACT_LIPSCHITZ * sum_abs + act_tol_isa(isa, r);
                prop_assert!(
                    close(y, r, tol),
                    "{} f16={f16w} act={act:?} m={m} n={n} k={k} at ({i},{j}): got {y}, ref {r}, tol {tol}",
                    isa.name()
                );
            }
            // Padding between rows must be untouched.
            if i + 1 < m {
                for j in n..ldc {
                    prop_assert_eq!(c[i * ldc + j].to_bits(), 0x7fc0_1234);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    // 96 cases by default; PROPTEST_CASES=N for a longer soak.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
    ))]

    #[test]
    fn gemm_matches_ref(
        m in 1usize..=25, n in 1usize..=70, k in 1usize..=300,
        lda_pad in 0usize..4, ldc_pad in 0usize..4, use_bias: bool,
        act_i in 0usize..7, f16w: bool, extreme: bool, seed: u64,
    ) {
        let mut rng = Rng(seed);
        let (mut sa, mut sb) = scales(&mut rng, extreme);
        if f16w {
            // Keep the weights inside f16's normal range.
            sb = 10f64.powf(rng.uniform(-3.0, 3.0));
            if extreme { sa = 10f64.powf(rng.uniform(-25.0, 25.0)); }
        }
        let lda = k + lda_pad;
        let ldc = n + ldc_pad;
        let a = rng.vec((m - 1) * lda + k, sa);
        let b = rng.vec(k * n, sb);
        let bias = rng.vec(n, sa * sb);
        check_gemm(f16w, m, n, k, lda, ldc, use_bias, Act::ALL[act_i], &a, &b, &bias)?;
    }

    #[test]
    fn matmul_strided_matches_ref(
        m in 1usize..=25, n in 1usize..=70, k in 1usize..=300,
        a_t: bool, b_mode in 0usize..3, pad in 0usize..3,
        alpha_i in 0usize..3, extreme: bool, seed: u64,
    ) {
        let mut rng = Rng(seed);
        let (sa, sb) = scales(&mut rng, extreme);
        let alpha = [1.0f32, 0.125, -2.5][alpha_i];
        // A: row-major (csa = 1 or 2) or transposed (rsa = 1).
        let (rsa, csa) = if a_t { (1, m + pad) } else { let c = 1 + pad % 2; (k * c + pad, c) };
        // B: row-major (csb = 1) -> axpy path, transposed (rsb = 1) -> dot path, or general.
        let (rsb, csb) = match b_mode {
            0 => (n + pad, 1),
            1 => (1, k + pad),
            _ => (2 * n + pad, 2),
        };
        let ldc = n + pad;
        let a = rng.vec((m - 1) * rsa + (k - 1) * csa + 1, sa);
        let b = rng.vec((k - 1) * rsb + (n - 1) * csb + 1, sb);
        let mut cref = vec![0.0f32; (m - 1) * ldc + n];
        matmul_strided_ref(m, n, k, alpha, &a, rsa, csa, &b, rsb, csb, &mut cref, ldc);
        for isa in Isa::available() {
            let mut c = vec![f32::NAN; (m - 1) * ldc + n];
            matmul_strided(isa, m, n, k, alpha, &a, rsa, csa, &b, rsb, csb, &mut c, ldc);
            for i in 0..m {
                for j in 0..n {
                    let sum_abs: f64 = (0..k)
                        .map(|kk| (a[i * rsa + kk * csa] as f64 * b[kk * rsb + j * csb] as f64).abs())
                        .sum();
                    let tol = GEMM_REL_TOL * (alpha as f64).abs() * sum_abs;
                    let (y, r) = (c[i * ldc + j], cref[i * ldc + j]);
                    prop_assert!(close(y, r, tol), "{} ({i},{j}) got {y} ref {r} tol {tol} a_t={a_t} b_mode={b_mode}", isa.name());
                }
            }
        }
    }

    #[test]
    fn apply_act_matches_scalar(len in 0usize..100, act_i in 0usize..7, extreme: bool, seed: u64) {
        let mut rng = Rng(seed);
        let act = Act::ALL[act_i];
        let x: Vec<f32> = (0..len).map(|_| if extreme {
            (rng.normal().signum() * 10f64.powf(rng.uniform(-30.0, 30.0))) as f32
        } else {
            (rng.normal() * 4.0) as f32
        }).collect();
        for isa in Isa::available() {
            let mut y = x.clone();
            apply_act(isa, act, &mut y);
            for (&xi, &yi) in x.iter().zip(&y) {
                let r = act_scalar(act, xi);
                prop_assert!(close(yi, r, act_tol_isa(isa, r)), "{} {act:?}({xi}) = {yi}, ref {r}", isa.name());
            }
        }
    }

    #[test]
    fn apply_unary_matches_scalar(len in 0usize..100, op_i in 0usize..17, extreme: bool, seed: u64) {
        let mut rng = Rng(seed);
        let op = Unary::ALL[op_i];
        let x: Vec<f32> = (0..len).map(|_| if extreme {
            (rng.normal().signum() * 10f64.powf(rng.uniform(-30.0, 30.0))) as f32
        } else {
            (rng.normal() * 4.0) as f32
        }).collect();
        for isa in Isa::available() {
            let mut y = vec![0.0; len];
            apply_unary(isa, op, &x, &mut y);
            for (&xi, &yi) in x.iter().zip(&y) {
                let r = unary_scalar(op, xi);
                prop_assert!(close(yi, r, act_tol(r)), "{} {op:?}({xi}) = {yi}, ref {r}", isa.name());
            }
        }
    }

    #[test]
    fn layer_norm_matches_ref(
        rows in 1usize..4, d in 1usize..=300, use_beta: bool, small_eps: bool,
        extreme: bool, seed: u64,
    ) {
        let mut rng = Rng(seed);
        let scale = if extreme { 10f64.powf(rng.uniform(-30.0, 30.0)) } else { 1.0 };
        let offset = if extreme { scale * rng.normal() * 10.0 } else { rng.normal() };
        let x: Vec<f32> = (0..rows * d).map(|_| (offset + rng.normal() * scale) as f32).collect();
        let gamma: Vec<f32> = (0..d).map(|_| (1.0 + 0.5 * rng.normal()) as f32).collect();
        let beta = rng.vec(d, 1.0);
        let beta = use_beta.then_some(&beta[..]);
        let eps = if small_eps { 1e-12 } else { 1e-5 };
        let mut r = vec![0.0; rows * d];
        layer_norm_ref(&x, d, &gamma, beta, eps, &mut r);
        for isa in Isa::available() {
            let mut y = vec![f32::NAN; rows * d];
            layer_norm(isa, &x, d, &gamma, beta, eps, &mut y);
            for (i, (&yi, &ri)) in y.iter().zip(&r).enumerate() {
                let j = i % d;
                let tol = LN_TOL * ((ri as f64).abs() + (gamma[j] as f64).abs()
                    + beta.map_or(0.0, |b| (b[j] as f64).abs()));
                prop_assert!(close(yi, ri, tol), "{} elem {i}: {yi} vs {ri}", isa.name());
            }
        }
    }

    #[test]
    fn softmax_matches_ref(rows in 1usize..4, d in 1usize..=300, scale_i in 0usize..3, masked: bool, seed: u64) {
        let mut rng = Rng(seed);
        let scale = [1.0, 10.0, 100.0][scale_i];
        let mut x = rng.vec(rows * d, scale);
        if masked {
            // Attention-style -inf masking, keeping one finite entry per row.
            for (i, v) in x.iter_mut().enumerate() {
                if i % d != 0 && rng.unit() < 0.3 { *v = f32::NEG_INFINITY; }
            }
        }
        let mut r = vec![0.0; rows * d];
        softmax_ref(&x, d, &mut r);
        for isa in Isa::available() {
            let mut y = vec![f32::NAN; rows * d];
            softmax(isa, &x, d, &mut y);
            for (&yi, &ri) in y.iter().zip(&r) {
                let tol = SOFTMAX_REL_TOL * (ri as f64).abs() + SOFTMAX_ABS_TOL;
                prop_assert!(close(yi, ri, tol), "{}: {yi} vs {ri}", isa.name());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
    ))]

    /// Shapes aimed at the AVX-512 microkernel: every row count 1..=12 of a
    /// tile and 13..=36 (two or three balanced row blocks), column counts
    /// around the 16 / 32 boundaries of its two-panel tiles (odd last panel,
    /// partial second panel), and K across the KC block boundary.
    #[test]
    fn gemm_two_panel_tiles_match_ref(
        m in 1usize..=36, n_i in 0usize..12, k_i in 0usize..6,
        ldc_pad in 0usize..3, use_bias: bool, act_i in 0usize..7, f16w: bool, seed: u64,
    ) {
        let n = [1usize, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 80][n_i];
        let k = [1usize, 2, 7, 64, 257, 300][k_i];
        let mut rng = Rng(seed);
        let sb = if f16w { 10f64.powf(rng.uniform(-2.0, 2.0)) } else { 1.0 };
        let ldc = n + ldc_pad;
        let a = rng.vec((m - 1) * k + k, 1.0);
        let b = rng.vec(k * n, sb);
        let bias = rng.vec(n, sb);
        check_gemm(f16w, m, n, k, k, ldc, use_bias, Act::ALL[act_i], &a, &b, &bias)?;
    }

    /// Short softmax rows (the register-resident AVX-512 path is d <= 32),
    /// with and without -inf masking.
    #[test]
    fn softmax_short_rows_match_ref(rows in 1usize..9, d in 1usize..=40, masked: bool, seed: u64) {
        let mut rng = Rng(seed);
        let mut x = rng.vec(rows * d, 3.0);
        if masked {
            for (i, v) in x.iter_mut().enumerate() {
                if i % d != d / 2 && rng.unit() < 0.5 { *v = f32::NEG_INFINITY; }
            }
        }
        let mut r = vec![0.0; rows * d];
        softmax_ref(&x, d, &mut r);
        for isa in Isa::available() {
            // Trailing sentinel: nothing past rows * d may be written.
            let mut y = vec![f32::NAN; rows * d + 1];
            y[rows * d] = 7.0;
            softmax(isa, &x, d, &mut y[..rows * d]);
            prop_assert_eq!(y[rows * d], 7.0);
            for (&yi, &ri) in y.iter().zip(&r) {
                let tol = SOFTMAX_REL_TOL * (ri as f64).abs() + SOFTMAX_ABS_TOL;
                prop_assert!(close(yi, ri, tol), "{} d={d}: {yi} vs {ri}", isa.name());
            }
        }
    }
}

#[test]
fn isa_list_is_consistent() {
    let avail = Isa::available();
    assert_eq!(avail[0], Isa::Scalar);
    assert_eq!(*avail.last().unwrap(), Isa::detect());
    for (i, a) in avail.iter().enumerate() {
        assert!(avail[i + 1..].iter().all(|b| b.name() != a.name()));
    }
    #[cfg(target_arch = "x86_64")]
    {
        let has512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        assert_eq!(avail.contains(&Isa::Avx512), has512);
        assert_eq!(Isa::Avx512.name(), "avx512f");
        if has512 {
            assert_eq!(Isa::detect(), Isa::Avx512);
            // Every AVX-512 machine can also run the AVX2 kernels.
            assert!(avail.contains(&Isa::Avx2Fma));
        }
    }
}

/// Every (rows, columns) combination of the AVX-512 microkernel dispatch
/// (mr 1..=12, one or two panels, full and partial), deterministic, with
/// row padding checks.
#[test]
fn gemm_every_tile_shape() {
    let mut rng = Rng(21);
    for m in 1..=12 {
        for n in [5usize, 16, 21, 32] {
            for (i, f16w) in [false, true].into_iter().enumerate() {
                let k = 37;
                let act = Act::ALL[(m + n + i) % Act::ALL.len()];
                let ldc = n + 2;
                let a = rng.vec(m * k, 1.0);
                let b = rng.vec(k * n, 1.0);
                let bias = rng.vec(n, 1.0);
                check_gemm(f16w, m, n, k, k, ldc, true, act, &a, &b, &bias).unwrap();
            }
        }
    }
}

/// exp and the exp-based activations across the underflow range, where
/// results become subnormal and then exactly 0 (the vector paths zero
/// inputs below -104 directly).
#[test]
fn exp_underflow_range() {
    let mut x: Vec<f32> = (0..=400).map(|i| -80.0 - i as f32 * 0.075).collect();
    x.extend([
        -103.97,
        -103.98,
        -104.0,
        -104.01,
        -1e6,
        f32::MIN,
        f32::NEG_INFINITY,
    ]);
    for isa in Isa::available() {
        for op in [
            Unary::Exp,
            Unary::Sigmoid,
            Unary::Silu,
            Unary::Gelu,
            Unary::Tanh,
        ] {
            let mut y = vec![f32::NAN; x.len()];
            apply_unary(isa, op, &x, &mut y);
            for (&xi, &yi) in x.iter().zip(&y) {
                let r = unary_scalar(op, xi);
                assert!(
                    close(yi, r, act_tol(r)),
                    "{} {op:?}({xi}) = {yi}, ref {r}",
                    isa.name()
                );
            }
        }
        let mut y = vec![f32::NAN; x.len()];
        apply_unary(isa, Unary::Exp, &x, &mut y);
        for (&xi, &yi) in x.iter().zip(&y) {
            if xi < -104.0 {
                assert_eq!(yi.to_bits(), 0, "{} exp({xi}) = {yi}", isa.name());
            }
        }
    }
}

#[test]
fn packed_f16_is_half_of_f32() {
    let b: Vec<f32> = (0..37 * 45).map(|i| i as f32 * 0.01).collect();
    let p32 = pack_b_f32(&b, 37, 45);
    let p16 = pack_b_f16(&b, 37, 45);
    assert_eq!(p16.bytes() * 2, p32.bytes());
    assert_eq!(p32.bytes(), 45usize.div_ceil(NR) * NR * 37 * 4);
    assert_eq!((p32.k(), p32.n()), (37, 45));
}

#[test]
fn packed_layout_is_documented_one() {
    let (k, n) = (3, 20);
    let b: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
    let p = pack_b_f32(&b, k, n);
    let d = p.data();
    for pnl in 0..2 {
        for kk in 0..k {
            for j in 0..NR {
                let col = pnl * NR + j;
                let want = if col < n { b[kk * n + col] } else { 0.0 };
                assert_eq!(d[(pnl * k + kk) * NR + j], want);
            }
        }
    }
}

#[test]
fn gemm_k_zero_gives_act_of_bias() {
    let bias = [1.0f32, -2.0, 0.5];
    let p = pack_b_f32(&[], 0, 3);
    for isa in Isa::available() {
        let mut c = [9.0f32; 6];
        gemm_f32(isa, 2, &[], 0, &p, Some(&bias), Act::Relu, &mut c, 3);
        assert_eq!(c, [1.0, 0.0, 0.5, 1.0, 0.0, 0.5]);
    }
}

#[test]
fn gemm_propagates_inf_and_nan() {
    // 7 x 21: one row block, a full and a partial panel (one AVX-512 tile
    // with a partial second panel); 3 x 45 below: a two-panel tile plus an
    // odd partial last panel.
    gemm_inf_nan_case(7, 21, 33);
    gemm_inf_nan_case(4, 45, 300);
}

fn gemm_inf_nan_case(m: usize, n: usize, k: usize) {
    let mut rng = Rng(7);
    let mut a = rng.vec(m * k, 1.0);
    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(0.5, 1.0) as f32).collect();
    assert!(m >= 4);
    a[k + 3] = f32::NAN; // row 1
    a[2 * k + 5] = f32::INFINITY; // row 2
    a[3 * k + 7] = f32::NEG_INFINITY; // row 3
    for act in Act::ALL {
        let mut r = vec![0.0; m * n];
        gemm_ref(m, n, k, &a, k, &b, n, None, act, &mut r, n);
        for isa in Isa::available() {
            for f16w in [false, true] {
                let mut c = vec![0.0; m * n];
                if f16w {
                    gemm_f16(isa, m, &a, k, &pack_b_f16(&b, k, n), None, act, &mut c, n);
                } else {
                    gemm_f32(isa, m, &a, k, &pack_b_f32(&b, k, n), None, act, &mut c, n);
                }
                for i in 1..4 {
                    for j in 0..n {
                        let (y, rv) = (c[i * n + j], r[i * n + j]);
                        assert!(
                            close(y, rv, 1e-6),
                            "{} {act:?} f16={f16w} ({i},{j}): {y} vs {rv}",
                            isa.name()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn activations_special_values() {
    let specials = [
        0.0f32,
        -0.0,
        1e-30,
        -1e-30,
        1e-7,
        -0.39,
        0.41,
        -0.49,
        0.51,
        3.0,
        -3.0,
        -6.0,
        -9.0,
        20.0,
        -20.0,
        88.7,
        -88.7,
        89.0,
        -103.0,
        -104.5,
        1e30,
        -1e30,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    for isa in Isa::available() {
        for op in Unary::ALL {
            let mut y = [0.0; 27];
            apply_unary(isa, op, &specials, &mut y);
            for (&x, &v) in specials.iter().zip(&y) {
                let r = unary_scalar(op, x);
                assert!(
                    close(v, r, act_tol(r)),
                    "{} {op:?}({x}) = {v}, ref {r}",
                    isa.name()
                );
                if x.is_nan() {
                    assert!(v.is_nan(), "{op:?}: NaN must propagate");
                }
            }
        }
        for act in Act::ALL {
            let mut y = specials;
            apply_act(isa, act, &mut y);
            for (&x, &v) in specials.iter().zip(&y) {
                let r = act_scalar(act, x);
                assert!(
                    close(v, r, act_tol_isa(isa, r)),
                    "{} {act:?}({x}) = {v}, ref {r}",
                    isa.name()
                );
                if !x.is_nan() {
                    assert!(!v.is_nan(), "{act:?}({x}) is NaN");
                }
            }
        }
    }
    // Limits.
    assert_eq!(act_scalar(Act::Gelu, f32::NEG_INFINITY), 0.0);
    assert_eq!(act_scalar(Act::Silu, f32::NEG_INFINITY), 0.0);
    assert_eq!(act_scalar(Act::GeluTanh, f32::INFINITY), f32::INFINITY);
    assert_eq!(act_scalar(Act::Sigmoid, -1e30), 0.0);
    assert_eq!(act_scalar(Act::Sigmoid, 1e30), 1.0);
}

#[test]
fn act_fast_matches_reference() {
    let mut rng = Rng(11);
    for act in Act::ALL {
        for i in 0..5000 {
            let x = if i % 2 == 0 {
                (rng.normal() * 5.0) as f32
            } else {
                (rng.normal().signum() * 10f64.powf(rng.uniform(-30.0, 30.0))) as f32
            };
            let (y, r) = (super::unary::act_fast(act, x), act_scalar(act, x));
            assert!(
                close(y, r, act_tol(r) * NEON_ACT_TOL_FACTOR),
                "{act:?}({x}): {y} vs {r}"
            );
        }
    }
}

#[test]
fn layer_norm_cluster_is_accurate() {
    let mut rng = Rng(3);
    for d in [7usize, 64, 300, 1024] {
        let x: Vec<f32> = (0..d).map(|_| (1e4 + 1e-2 * rng.normal()) as f32).collect();
        let gamma = vec![1.0f32; d];
        let mut r = vec![0.0; d];
        layer_norm_ref(&x, d, &gamma, None, 1e-12, &mut r);
        for isa in Isa::available() {
            let mut y = vec![0.0; d];
            layer_norm(isa, &x, d, &gamma, None, 1e-12, &mut y);
            for (&yi, &ri) in y.iter().zip(&r) {
                let tol = LN_CLUSTER_TOL * ((ri as f64).abs() + 1.0);
                assert!(close(yi, ri, tol), "{} d={d}: {yi} vs {ri}", isa.name());
            }
        }
    }
}

#[test]
fn softmax_special_rows() {
    for isa in Isa::available() {
        let x = [f32::NEG_INFINITY; 5];
        let mut y = [0.0; 5];
        softmax(isa, &x, 5, &mut y);
        assert!(y.iter().all(|v| v.is_nan()), "all -inf row gives NaN");
        let x = [1.0, f32::NAN, 2.0, 3.0, 0.5, 0.25, 1.0, 9.0, 1.0];
        let mut y = [0.0; 9];
        softmax(isa, &x, 9, &mut y);
        assert!(y.iter().all(|v| v.is_nan()), "NaN poisons the row");
        let x = [1e30f32, -1e30, 0.0];
        softmax(isa, &x, 3, &mut y[..3]);
        assert_eq!(&y[..3], &[1.0, 0.0, 0.0]);
    }
}

#[test]
fn foreign_isa_falls_back() {
    let foreign = if cfg!(target_arch = "x86_64") {
        Isa::Neon
    } else {
        Isa::Avx2Fma
    };
    let (m, n, k) = (5, 19, 40);
    let mut rng = Rng(5);
    let (a, b) = (rng.vec(m * k, 1.0), rng.vec(k * n, 1.0));
    let p = pack_b_f32(&b, k, n);
    let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
    gemm_f32(Isa::Scalar, m, &a, k, &p, None, Act::Gelu, &mut c1, n);
    gemm_f32(foreign, m, &a, k, &p, None, Act::Gelu, &mut c2, n);
    assert_eq!(c1, c2);
    assert_eq!(
        Isa::detect().name(),
        Isa::available().last().unwrap().name()
    );
}
