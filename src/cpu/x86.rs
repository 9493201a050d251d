//! AVX2 + FMA vector math shared by the x86_64 kernels.
//!
//! Every function here is compiled with `avx2,fma,f16c` enabled; callers
//! must only reach them after `Isa::resolve()` returned `Isa::Avx2Fma`.
//!
//! Accuracy (vs the f64 references in `unary`): `exp` ~1 ulp (Cephes
//! polynomial, Cody-Waite reduction), `sigmoid`/`silu`/`tanh` a few ulp,
//! `erfc`-based `gelu`/`erf` ~4e-7 relative (Chebyshev-fitted erfc with
//! fractional error < 1.2e-7, plus f32 evaluation). NaN propagates through
//! all of them; infinities give the mathematical limits.

use super::Act;
use super::unary::{Unary, unary_scalar};
use core::arch::x86_64::*;

const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0.693359375, exactly representable
const LN2_LO: f32 = -2.121_944_4e-4;
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;
/// `2 * sqrt(2/pi)`.
const TWO_SQRT_2_OVER_PI: f32 = 1.595_769_2;

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn splat(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn abs(x: __m256) -> __m256 {
    _mm256_andnot_ps(splat(-0.0), x)
}

/// Lanes of `res` where `x == -inf` are replaced by `-0.0` (the limit of
/// `x * f(x)` activations whose naive evaluation would be `-inf * 0`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fix_neg_inf(res: __m256, x: __m256) -> __m256 {
    let m = _mm256_cmp_ps::<_CMP_EQ_OQ>(x, splat(f32::NEG_INFINITY));
    _mm256_blendv_ps(res, splat(-0.0), m)
}

/// `e^x`, ~1 ulp; overflows to `+inf` above ~88.72, underflows through the
/// subnormals to 0 below ~-103.9 (exactly 0 below -104); NaN propagates.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn exp(x: __m256) -> __m256 {
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
    // Lanes below -104 (e^x < 2^-150: exactly 0, e.g. -inf attention masks
    // or softmax padding) are computed from x = 0 and zeroed at the end, so
    // they never produce an underflowing intermediate (each of which costs a
    // microcode assist of ~100+ cycles on Intel cores).
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(-104.0));
    // (vminps returns its second operand for a NaN x; the final blend
    // restores the NaN.)
    let xc = _mm256_andnot_ps(tiny, _mm256_min_ps(x, splat(89.0)));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        xc,
        splat(LOG2E),
    ));
    let r = _mm256_fnmadd_ps(n, splat(LN2_HI), xc);
    let r = _mm256_fnmadd_ps(n, splat(LN2_LO), r);
    let mut p = splat(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, splat(1.398_199_9e-3));
    p = _mm256_fmadd_ps(p, r, splat(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, splat(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, splat(0.166_666_65));
    p = _mm256_fmadd_ps(p, r, splat(0.5));
    let r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, splat(1.0)));
    // 2^n with n in [-150, 128], split in two factors so that both are normal
    // and the final product rounds only once (correct subnormals / overflow).
    let ni = _mm256_cvtps_epi32(n);
    let n1 = _mm256_srai_epi32::<1>(ni);
    let n2 = _mm256_sub_epi32(ni, n1);
    let bias = _mm256_set1_epi32(127);
    let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
    let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
    let res = _mm256_andnot_ps(tiny, _mm256_mul_ps(_mm256_mul_ps(p, s1), s2));
    _mm256_blendv_ps(res, x, nan)
}

/// Logistic function, stable for all inputs.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn sigmoid(x: __m256) -> __m256 {
    let e = exp(_mm256_xor_ps(abs(x), splat(-0.0))); // e^-|x| in (0, 1]
    let r = _mm256_div_ps(splat(1.0), _mm256_add_ps(splat(1.0), e));
    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    _mm256_blendv_ps(r, _mm256_mul_ps(e, r), neg)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn silu(x: __m256) -> __m256 {
    fix_neg_inf(_mm256_mul_ps(x, sigmoid(x)), x)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn relu(x: __m256) -> __m256 {
    // NaN and -0.0 compare false, so they pass through like the scalar version.
    _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps()), x)
}

/// tanh: odd Taylor polynomial (degree 15) for |x| < 0.4, otherwise
/// `(1 - e^-2|x|) / (1 + e^-2|x|)` with the sign of x.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn tanh(x: __m256) -> __m256 {
    let a = abs(x);
    let e = exp(_mm256_mul_ps(a, splat(-2.0)));
    let t = _mm256_div_ps(_mm256_sub_ps(splat(1.0), e), _mm256_add_ps(splat(1.0), e));
    let big = _mm256_or_ps(t, _mm256_and_ps(x, splat(-0.0)));
    let y = _mm256_mul_ps(x, x);
    let mut p = splat(-1.455_834_4e-3); // -929569/638512875
    p = _mm256_fmadd_ps(p, y, splat(3.592_128e-3)); // 21844/6081075
    p = _mm256_fmadd_ps(p, y, splat(-8.863_235e-3)); // -1382/155925
    p = _mm256_fmadd_ps(p, y, splat(2.186_949e-2)); // 62/2835
    p = _mm256_fmadd_ps(p, y, splat(-5.396_825_4e-2)); // -17/315
    p = _mm256_fmadd_ps(p, y, splat(0.133_333_33)); // 2/15
    p = _mm256_fmadd_ps(p, y, splat(-0.333_333_34)); // -1/3
    let small = _mm256_fmadd_ps(_mm256_mul_ps(x, y), p, x);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(a, splat(0.4));
    _mm256_blendv_ps(big, small, is_small)
}

/// erfc(z) for z >= 0 (or NaN): `t exp(-z^2 + P(t))`, `t = 1/(1 + z/2)`
/// (Chebyshev fit, fractional error < 1.2e-7 for all z >= 0).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn erfc_pos(z: __m256) -> __m256 {
    let t = _mm256_div_ps(splat(1.0), _mm256_fmadd_ps(z, splat(0.5), splat(1.0)));
    let mut p = splat(0.170_872_77);
    for c in [
        -0.822_152_23,
        1.488_515_9,
        -1.135_204,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_7,
        -1.265_512_2,
    ] {
        p = _mm256_fmadd_ps(p, t, splat(c));
    }
    _mm256_mul_ps(t, exp(_mm256_fnmadd_ps(z, z, p)))
}

/// erf: Taylor series (to z^15) for |z| < 0.5, `1 - erfc(|z|)` with the sign
/// of z otherwise.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn erf(x: __m256) -> __m256 {
    let a = abs(x);
    let big = _mm256_sub_ps(splat(1.0), erfc_pos(a));
    let big = _mm256_or_ps(big, _mm256_and_ps(x, splat(-0.0)));
    // 2/sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1))
    let y = _mm256_mul_ps(x, x);
    let mut p = splat(-1.492_565e-5); // -2/sqrt(pi)/75600
    for c in [
        1.205_533_3e-4,  //  2/sqrt(pi)/9360
        -8.548_327e-4,   // -2/sqrt(pi)/1320
        5.223_977_6e-3,  //  2/sqrt(pi)/216
        -2.686_617_1e-2, // -2/sqrt(pi)/42
        0.112_837_92,    //  2/sqrt(pi)/10
        -0.376_126_4,    // -2/sqrt(pi)/3
        core::f32::consts::FRAC_2_SQRT_PI,
    ] {
        p = _mm256_fmadd_ps(p, y, splat(c));
    }
    let small = _mm256_mul_ps(x, p);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(a, splat(0.5));
    _mm256_blendv_ps(big, small, is_small)
}

/// Exact (erf) GELU: `0.5 x erfc(-x/sqrt2)`, using `erfc(-z) = 2 - erfc(z)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn gelu(x: __m256) -> __m256 {
    let e = erfc_pos(_mm256_mul_ps(abs(x), splat(FRAC_1_SQRT_2)));
    let pos = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_setzero_ps());
    let f = _mm256_blendv_ps(e, _mm256_sub_ps(splat(2.0), e), pos);
    fix_neg_inf(_mm256_mul_ps(_mm256_mul_ps(splat(0.5), x), f), x)
}

/// Tanh GELU via `0.5 (1 + tanh u) = sigmoid(2u)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn gelu_tanh(x: __m256) -> __m256 {
    let inner = _mm256_fmadd_ps(_mm256_mul_ps(x, x), splat(0.044715), splat(1.0));
    let u2 = _mm256_mul_ps(_mm256_mul_ps(x, splat(TWO_SQRT_2_OVER_PI)), inner);
    fix_neg_inf(_mm256_mul_ps(x, sigmoid(u2)), x)
}

/// In-place map over a slice, 8 lanes at a time; the tail goes through a
/// zero-padded stack buffer.
macro_rules! map_inplace {
    ($x:expr, |$v:ident| $body:expr) => {{
        let mut chunks = $x.chunks_exact_mut(8);
        for ch in &mut chunks {
            // SAFETY: `ch` has exactly 8 f32, so the unaligned 32-byte load
            // and store stay inside it.
            unsafe {
                let $v = _mm256_loadu_ps(ch.as_ptr());
                _mm256_storeu_ps(ch.as_mut_ptr(), $body);
            }
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut buf = [0.0f32; 8];
            buf[..rest.len()].copy_from_slice(rest);
            // SAFETY: `buf` is a local array of exactly 8 f32.
            unsafe {
                let $v = _mm256_loadu_ps(buf.as_ptr());
                _mm256_storeu_ps(buf.as_mut_ptr(), $body);
            }
            let n = rest.len();
            rest.copy_from_slice(&buf[..n]);
        }
    }};
}

/// Out-of-place map `y = f(x)`; `x.len() == y.len()` (caller guarantees).
macro_rules! map_to {
    ($x:expr, $y:expr, |$v:ident| $body:expr) => {{
        let (x, y): (&[f32], &mut [f32]) = ($x, $y);
        let mut xc = x.chunks_exact(8);
        let mut yc = y.chunks_exact_mut(8);
        for (xi, yi) in (&mut xc).zip(&mut yc) {
            // SAFETY: both chunks have exactly 8 f32.
            unsafe {
                let $v = _mm256_loadu_ps(xi.as_ptr());
                _mm256_storeu_ps(yi.as_mut_ptr(), $body);
            }
        }
        let (xr, yr) = (xc.remainder(), yc.into_remainder());
        if !xr.is_empty() {
            let mut buf = [0.0f32; 8];
            buf[..xr.len()].copy_from_slice(xr);
            // SAFETY: `buf` is a local array of exactly 8 f32.
            unsafe {
                let $v = _mm256_loadu_ps(buf.as_ptr());
                _mm256_storeu_ps(buf.as_mut_ptr(), $body);
            }
            let n = yr.len();
            yr.copy_from_slice(&buf[..n]);
        }
    }};
}

/// In-place activation over a slice.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn apply_act(act: Act, x: &mut [f32]) {
    match act {
        Act::None => {}
        Act::Relu => map_inplace!(x, |v| relu(v)),
        Act::Gelu => map_inplace!(x, |v| gelu(v)),
        Act::GeluTanh => map_inplace!(x, |v| gelu_tanh(v)),
        Act::Silu => map_inplace!(x, |v| silu(v)),
        Act::Tanh => map_inplace!(x, |v| tanh(v)),
        Act::Sigmoid => map_inplace!(x, |v| sigmoid(v)),
    }
}

/// Activation over a `rows x nv` block of C (row stride `ldc`), in place:
/// the GEMM epilogue's second pass, run while the tile is hot in L1. One
/// branch-free loop per activation; `nv % 8` tail columns are masked.
///
/// # Safety
/// `c.add(r * ldc + j)` is a valid, writable f32 for every `r < rows`,
/// `j < nv`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn act_tile(act: Act, c: *mut f32, ldc: usize, rows: usize, nv: usize) {
    let tail = nv % 8;
    let mask = lane_mask(tail);
    macro_rules! rows_map {
        (|$v:ident| $body:expr) => {
            for r in 0..rows {
                let p = c.wrapping_add(r * ldc);
                let mut j = 0;
                while j + 8 <= nv {
                    // SAFETY: columns j..j+8 <= nv of row r (caller contract).
                    unsafe {
                        let $v = _mm256_loadu_ps(p.add(j));
                        _mm256_storeu_ps(p.add(j), $body);
                    }
                    j += 8;
                }
                if tail != 0 {
                    // SAFETY: only lanes < tail (columns < nv) are accessed.
                    unsafe {
                        let $v = _mm256_maskload_ps(p.add(j), mask);
                        _mm256_maskstore_ps(p.add(j), mask, $body);
                    }
                }
            }
        };
    }
    match act {
        Act::None => {}
        Act::Relu => rows_map!(|v| relu(v)),
        Act::Gelu => rows_map!(|v| gelu(v)),
        Act::GeluTanh => rows_map!(|v| gelu_tanh(v)),
        Act::Silu => rows_map!(|v| silu(v)),
        Act::Tanh => rows_map!(|v| tanh(v)),
        Act::Sigmoid => rows_map!(|v| sigmoid(v)),
    }
}

/// `y = op(x)`; requires `x.len() == y.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn apply_unary(op: Unary, x: &[f32], y: &mut [f32]) {
    match op {
        Unary::Neg => map_to!(x, y, |v| _mm256_xor_ps(v, splat(-0.0))),
        Unary::Abs => map_to!(x, y, |v| abs(v)),
        Unary::Exp => map_to!(x, y, |v| exp(v)),
        Unary::Sqrt => map_to!(x, y, |v| _mm256_sqrt_ps(v)),
        Unary::Recip => map_to!(x, y, |v| _mm256_div_ps(splat(1.0), v)),
        Unary::Erf => map_to!(x, y, |v| erf(v)),
        Unary::Tanh => map_to!(x, y, |v| tanh(v)),
        Unary::Sigmoid => map_to!(x, y, |v| sigmoid(v)),
        Unary::Relu => map_to!(x, y, |v| relu(v)),
        Unary::Gelu => map_to!(x, y, |v| gelu(v)),
        Unary::GeluTanh => map_to!(x, y, |v| gelu_tanh(v)),
        Unary::Silu => map_to!(x, y, |v| silu(v)),
        Unary::Square => map_to!(x, y, |v| _mm256_mul_ps(v, v)),
        Unary::Rsqrt => map_to!(x, y, |v| _mm256_div_ps(splat(1.0), _mm256_sqrt_ps(v))),
        Unary::Sin | Unary::Cos | Unary::Ln => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = unary_scalar(op, v);
            }
        }
    }
}

/// Horizontal sum of 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// Horizontal max of 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_max_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// Mask with the first `n` (0..=8) lanes set, for `maskload`/`maskstore`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn lane_mask(n: usize) -> __m256i {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), lanes)
}
