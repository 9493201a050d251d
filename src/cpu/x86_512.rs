//! AVX-512F + FMA vector math shared by the x86_64 kernels (16 lanes).
//!
//! Every function here is compiled with `avx512f,fma,f16c` enabled; callers
//! must only reach them after `Isa::resolve()` returned `Isa::Avx512`. Only
//! AVX-512F instructions are used (bitwise float ops go through the integer
//! domain, AVX-512DQ is not required).
//!
//! The polynomials and reductions are those of the AVX2 module (`x86`), so
//! the accuracy statement there holds here too; the one change is that
//! `exp` scales by `2^n` with `vscalefps`, which rounds once and handles
//! overflow and subnormal results exactly like the two-factor product of the
//! AVX2 version. NaN propagates through all of them; infinities give the
//! mathematical limits. Tails shorter than 16 lanes use masked loads and
//! stores (masked-off lanes are never accessed).

use super::Act;
use super::unary::{Unary, unary_scalar};
use core::arch::x86_64::*;

const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0.693359375, exactly representable
const LN2_LO: f32 = -2.121_944_4e-4;
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;
/// `2 * sqrt(2/pi)`.
const TWO_SQRT_2_OVER_PI: f32 = 1.595_769_2;
/// Bit pattern of the f32 sign bit.
const SIGN_BIT: i32 = i32::MIN;

#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
fn splat(v: f32) -> __m512 {
    _mm512_set1_ps(v)
}

/// `x` with its sign bit flipped (exact `-x`, also for 0 and NaN).
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
fn neg(x: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(x),
        _mm512_set1_epi32(SIGN_BIT),
    ))
}

/// `mag` (sign bit clear) with the sign bit of `x`.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
fn with_sign_of(mag: __m512, x: __m512) -> __m512 {
    let s = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(SIGN_BIT));
    _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag), s))
}

/// Lanes of `res` where `x == -inf` are replaced by `-0.0` (the limit of
/// `x * f(x)` activations whose naive evaluation would be `-inf * 0`).
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
fn fix_neg_inf(res: __m512, x: __m512) -> __m512 {
    let m = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(x, splat(f32::NEG_INFINITY));
    _mm512_mask_mov_ps(res, m, splat(-0.0))
}

/// Mask with the first `n` (0..=16) lanes set.
#[inline]
pub(crate) fn lane_mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// `e^x`, ~1 ulp; overflows to `+inf` above ~88.72, underflows through the
/// subnormals to 0 below ~-103.9 (exactly 0 below -104); NaN propagates.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn exp(x: __m512) -> __m512 {
    // Lanes below -104 (e^x < 2^-150: exactly 0, e.g. -inf attention masks
    // or softmax padding) are computed from x = 0 and zeroed at the end, so
    // they never produce an underflowing intermediate (each of which costs a
    // microcode assist of ~100+ cycles on Intel cores).
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, splat(-104.0));
    // vminps returns its second operand when either is NaN, so a NaN x
    // survives the clamp and propagates through every step below.
    let xc = _mm512_mask_mov_ps(_mm512_min_ps(splat(89.0), x), tiny, _mm512_setzero_ps());
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(xc, splat(LOG2E)),
    );
    let r = _mm512_fnmadd_ps(n, splat(LN2_HI), xc);
    let r = _mm512_fnmadd_ps(n, splat(LN2_LO), r);
    let mut p = splat(1.987_569_1e-4);
    p = _mm512_fmadd_ps(p, r, splat(1.398_199_9e-3));
    p = _mm512_fmadd_ps(p, r, splat(8.333_452e-3));
    p = _mm512_fmadd_ps(p, r, splat(4.166_579_6e-2));
    p = _mm512_fmadd_ps(p, r, splat(0.166_666_65));
    p = _mm512_fmadd_ps(p, r, splat(0.5));
    let r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, splat(1.0)));
    // p * 2^n with a single rounding (n in [-150, 129]): exact overflow to
    // inf and correctly rounded subnormals; 0 in the `tiny` lanes.
    _mm512_maskz_scalef_ps(!tiny, p, n)
}

/// Logistic function, stable for all inputs.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn sigmoid(x: __m512) -> __m512 {
    let e = exp(neg(_mm512_abs_ps(x))); // e^-|x| in (0, 1]
    let r = _mm512_div_ps(splat(1.0), _mm512_add_ps(splat(1.0), e));
    let is_neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
    _mm512_mask_mul_ps(r, is_neg, e, r)
}

#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn silu(x: __m512) -> __m512 {
    fix_neg_inf(_mm512_mul_ps(x, sigmoid(x)), x)
}

#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn relu(x: __m512) -> __m512 {
    // vmaxps returns the second operand (x) when both are zero or either is
    // NaN, so -0.0 and NaN pass through like the scalar version.
    _mm512_max_ps(_mm512_setzero_ps(), x)
}

/// tanh: odd Taylor polynomial (degree 15) for |x| < 0.4, otherwise
/// `(1 - e^-2|x|) / (1 + e^-2|x|)` with the sign of x.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn tanh(x: __m512) -> __m512 {
    let a = _mm512_abs_ps(x);
    let e = exp(_mm512_mul_ps(a, splat(-2.0)));
    let t = _mm512_div_ps(_mm512_sub_ps(splat(1.0), e), _mm512_add_ps(splat(1.0), e));
    let big = with_sign_of(t, x);
    let y = _mm512_mul_ps(x, x);
    let mut p = splat(-1.455_834_4e-3); // -929569/638512875
    p = _mm512_fmadd_ps(p, y, splat(3.592_128e-3)); // 21844/6081075
    p = _mm512_fmadd_ps(p, y, splat(-8.863_235e-3)); // -1382/155925
    p = _mm512_fmadd_ps(p, y, splat(2.186_949e-2)); // 62/2835
    p = _mm512_fmadd_ps(p, y, splat(-5.396_825_4e-2)); // -17/315
    p = _mm512_fmadd_ps(p, y, splat(0.133_333_33)); // 2/15
    p = _mm512_fmadd_ps(p, y, splat(-0.333_333_34)); // -1/3
    let small = _mm512_fmadd_ps(_mm512_mul_ps(x, y), p, x);
    let is_small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, splat(0.4));
    _mm512_mask_mov_ps(big, is_small, small)
}

/// erfc(z) for z >= 0 (or NaN): `t exp(-z^2 + P(t))`, `t = 1/(1 + z/2)`
/// (same Chebyshev fit as the AVX2 version).
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
fn erfc_pos(z: __m512) -> __m512 {
    let t = _mm512_div_ps(splat(1.0), _mm512_fmadd_ps(z, splat(0.5), splat(1.0)));
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
        p = _mm512_fmadd_ps(p, t, splat(c));
    }
    _mm512_mul_ps(t, exp(_mm512_fnmadd_ps(z, z, p)))
}

/// erf: Taylor series (to z^15) for |z| < 0.5, `1 - erfc(|z|)` with the sign
/// of z otherwise.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn erf(x: __m512) -> __m512 {
    let a = _mm512_abs_ps(x);
    let big = with_sign_of(_mm512_sub_ps(splat(1.0), erfc_pos(a)), x);
    let y = _mm512_mul_ps(x, x);
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
        p = _mm512_fmadd_ps(p, y, splat(c));
    }
    let small = _mm512_mul_ps(x, p);
    let is_small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, splat(0.5));
    _mm512_mask_mov_ps(big, is_small, small)
}

/// Exact (erf) GELU: `0.5 x erfc(-x/sqrt2)`, using `erfc(-z) = 2 - erfc(z)`.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn gelu(x: __m512) -> __m512 {
    let e = erfc_pos(_mm512_mul_ps(_mm512_abs_ps(x), splat(FRAC_1_SQRT_2)));
    let pos = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_setzero_ps());
    let f = _mm512_mask_sub_ps(e, pos, splat(2.0), e);
    fix_neg_inf(_mm512_mul_ps(_mm512_mul_ps(splat(0.5), x), f), x)
}

/// Tanh GELU via `0.5 (1 + tanh u) = sigmoid(2u)`.
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn gelu_tanh(x: __m512) -> __m512 {
    let inner = _mm512_fmadd_ps(_mm512_mul_ps(x, x), splat(0.044715), splat(1.0));
    let u2 = _mm512_mul_ps(_mm512_mul_ps(x, splat(TWO_SQRT_2_OVER_PI)), inner);
    fix_neg_inf(_mm512_mul_ps(x, sigmoid(u2)), x)
}

/// In-place map over `len` floats at `p`, 16 lanes at a time, masked tail.
macro_rules! map_ptr {
    ($src:expr, $dst:expr, $len:expr, |$v:ident| $body:expr) => {{
        let (src, dst, len): (*const f32, *mut f32, usize) = ($src, $dst, $len);
        let mut i = 0;
        while i + 16 <= len {
            // SAFETY: i + 16 <= len, inside both buffers (caller contract).
            unsafe {
                let $v = _mm512_loadu_ps(src.add(i));
                _mm512_storeu_ps(dst.add(i), $body);
            }
            i += 16;
        }
        if i < len {
            let k = lane_mask(len - i);
            // SAFETY: only the lanes < len - i are accessed (masked), and
            // the base pointers (index i < len) are in bounds.
            unsafe {
                let $v = _mm512_maskz_loadu_ps(k, src.add(i));
                _mm512_mask_storeu_ps(dst.add(i), k, $body);
            }
        }
    }};
}

/// In-place activation over a slice.
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn apply_act(act: Act, x: &mut [f32]) {
    let (p, n) = (x.as_mut_ptr(), x.len());
    match act {
        Act::None => {}
        Act::Relu => map_ptr!(p, p, n, |v| relu(v)),
        Act::Gelu => map_ptr!(p, p, n, |v| gelu(v)),
        Act::GeluTanh => map_ptr!(p, p, n, |v| gelu_tanh(v)),
        Act::Silu => map_ptr!(p, p, n, |v| silu(v)),
        Act::Tanh => map_ptr!(p, p, n, |v| tanh(v)),
        Act::Sigmoid => map_ptr!(p, p, n, |v| sigmoid(v)),
    }
}

/// Activation over a `rows x nv` block of C (row stride `ldc`), in place:
/// the GEMM epilogue's second pass, run while the tile is hot in L1.
///
/// # Safety
/// `c.add(r * ldc + j)` is a valid, writable f32 for every `r < rows`,
/// `j < nv`.
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) unsafe fn act_tile(act: Act, c: *mut f32, ldc: usize, rows: usize, nv: usize) {
    macro_rules! rows_map {
        (|$v:ident| $body:expr) => {
            for r in 0..rows {
                let p = c.wrapping_add(r * ldc);
                map_ptr!(p, p, nv, |$v| $body)
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
#[target_feature(enable = "avx512f,fma,f16c")]
pub(crate) fn apply_unary(op: Unary, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (s, d) = (x.as_ptr(), y.as_mut_ptr());
    match op {
        Unary::Neg => map_ptr!(s, d, n, |v| neg(v)),
        Unary::Abs => map_ptr!(s, d, n, |v| _mm512_abs_ps(v)),
        Unary::Exp => map_ptr!(s, d, n, |v| exp(v)),
        Unary::Sqrt => map_ptr!(s, d, n, |v| _mm512_sqrt_ps(v)),
        Unary::Recip => map_ptr!(s, d, n, |v| _mm512_div_ps(splat(1.0), v)),
        Unary::Erf => map_ptr!(s, d, n, |v| erf(v)),
        Unary::Tanh => map_ptr!(s, d, n, |v| tanh(v)),
        Unary::Sigmoid => map_ptr!(s, d, n, |v| sigmoid(v)),
        Unary::Relu => map_ptr!(s, d, n, |v| relu(v)),
        Unary::Gelu => map_ptr!(s, d, n, |v| gelu(v)),
        Unary::GeluTanh => map_ptr!(s, d, n, |v| gelu_tanh(v)),
        Unary::Silu => map_ptr!(s, d, n, |v| silu(v)),
        Unary::Square => map_ptr!(s, d, n, |v| _mm512_mul_ps(v, v)),
        Unary::Rsqrt => map_ptr!(s, d, n, |v| _mm512_div_ps(splat(1.0), _mm512_sqrt_ps(v))),
        Unary::Sin | Unary::Cos | Unary::Ln => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = unary_scalar(op, v);
            }
        }
    }
}
