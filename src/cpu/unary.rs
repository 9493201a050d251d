//! Activations and elementwise unary operators.
//!
//! The scalar functions ([`act_scalar`], [`unary_scalar`]) are the reference
//! definitions: transcendental ones are evaluated in `f64` with `libm` and
//! rounded once to `f32`, so they are accurate to about half an ulp. The
//! vector paths ([`apply_act`], [`apply_unary`]) agree with them to within
//! about 1e-6 relative (see the tolerance constants in the tests); `Sin`,
//! `Cos` and `Ln` always use the scalar reference.
//!
//! Special values: NaN in gives NaN out for every operator. Infinities and
//! huge finite inputs give the mathematical limit wherever it is defined
//! (for example `Gelu(-inf) = -0`, `Silu(-inf) = -0`, `Sigmoid(-1e30) = 0`);
//! never NaN where the math is defined.

use super::{Act, Isa};
use core::f64::consts::FRAC_1_SQRT_2;

/// Elementwise unary operators of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `e^x`.
    Exp,
    /// `sqrt(x)` (NaN for `x < 0`).
    Sqrt,
    /// `1 / x`.
    Recip,
    /// `sin(x)`.
    Sin,
    /// `cos(x)`.
    Cos,
    /// Error function.
    Erf,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function.
    Sigmoid,
    /// Same as [`Act::Relu`].
    Relu,
    /// Same as [`Act::Gelu`].
    Gelu,
    /// Same as [`Act::GeluTanh`].
    GeluTanh,
    /// Same as [`Act::Silu`].
    Silu,
    /// `x * x`.
    Square,
    /// `1 / sqrt(x)`.
    Rsqrt,
    /// Natural logarithm (NaN for `x < 0`, `-inf` at 0).
    Ln,
}

impl Unary {
    /// All variants, for tests and tooling.
    pub const ALL: [Unary; 17] = [
        Unary::Neg,
        Unary::Abs,
        Unary::Exp,
        Unary::Sqrt,
        Unary::Recip,
        Unary::Sin,
        Unary::Cos,
        Unary::Erf,
        Unary::Tanh,
        Unary::Sigmoid,
        Unary::Relu,
        Unary::Gelu,
        Unary::GeluTanh,
        Unary::Silu,
        Unary::Square,
        Unary::Rsqrt,
        Unary::Ln,
    ];
}

/// `sqrt(2/pi)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

#[inline]
fn relu(x: f32) -> f32 {
    // `x < 0` is false for NaN and -0.0, so NaN propagates and -0.0 stays.
    if x < 0.0 { 0.0 } else { x }
}

/// Numerically stable logistic function in f64 (no overflow for any input).
#[inline]
fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        let e = libm::exp(x);
        e / (1.0 + e)
    }
}

/// Reference activation.
///
/// * `Gelu`: `0.5 x (1 + erf(x/sqrt 2))`, evaluated as `0.5 x erfc(-x/sqrt 2)`
///   (same function, no cancellation in the negative tail).
/// * `GeluTanh`: `0.5 x (1 + tanh(u))`, `u = sqrt(2/pi)(x + 0.044715 x^3)`,
///   evaluated through the identity `0.5 (1 + tanh u) = sigmoid(2u)`.
/// * `Silu`: `x sigmoid(x)`; `Sigmoid`: `1/(1+e^-x)` computed stably.
///
/// All but `None`/`Relu` are evaluated in f64 and rounded once.
/// `Gelu`, `GeluTanh` and `Silu` return `-0.0` at `-inf` (their limit).
pub fn act_scalar(act: Act, x: f32) -> f32 {
    let xd = x as f64;
    match act {
        Act::None => x,
        Act::Relu => relu(x),
        Act::Sigmoid => sigmoid64(xd) as f32,
        Act::Tanh => libm::tanh(xd) as f32,
        _ if x == f32::NEG_INFINITY => -0.0,
        Act::Silu => (xd * sigmoid64(xd)) as f32,
        Act::Gelu => (0.5 * xd * libm::erfc(-xd * FRAC_1_SQRT_2)) as f32,
        Act::GeluTanh => {
            let u = SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd);
            (xd * sigmoid64(2.0 * u)) as f32
        }
    }
}

/// f32-only activation (libm single precision, stable formulas): the fast
/// scalar path used where no vector version exists (aarch64 epilogues).
/// Agrees with [`act_scalar`] to a few ulp.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub(crate) fn act_fast(act: Act, x: f32) -> f32 {
    #[inline]
    fn sigmoid32(x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + libm::expf(-x))
        } else {
            let e = libm::expf(x);
            e / (1.0 + e)
        }
    }
    match act {
        Act::None => x,
        Act::Relu => relu(x),
        Act::Sigmoid => sigmoid32(x),
        Act::Tanh => libm::tanhf(x),
        _ if x == f32::NEG_INFINITY => -0.0,
        Act::Silu => x * sigmoid32(x),
        Act::Gelu => 0.5 * x * libm::erfcf(-x * core::f32::consts::FRAC_1_SQRT_2),
        Act::GeluTanh => {
            let inner = 1.0 + 0.044715 * x * x;
            x * sigmoid32(2.0 * SQRT_2_OVER_PI as f32 * x * inner)
        }
    }
}

/// Reference unary operator (transcendentals in f64, rounded once).
pub fn unary_scalar(op: Unary, x: f32) -> f32 {
    let xd = x as f64;
    match op {
        Unary::Neg => -x,
        Unary::Abs => x.abs(),
        Unary::Exp => libm::exp(xd) as f32,
        Unary::Sqrt => x.sqrt(),
        Unary::Recip => 1.0 / x,
        Unary::Sin => libm::sin(xd) as f32,
        Unary::Cos => libm::cos(xd) as f32,
        Unary::Erf => libm::erf(xd) as f32,
        Unary::Tanh => act_scalar(Act::Tanh, x),
        Unary::Sigmoid => act_scalar(Act::Sigmoid, x),
        Unary::Relu => relu(x),
        Unary::Gelu => act_scalar(Act::Gelu, x),
        Unary::GeluTanh => act_scalar(Act::GeluTanh, x),
        Unary::Silu => act_scalar(Act::Silu, x),
        Unary::Square => x * x,
        Unary::Rsqrt => (1.0 / xd.sqrt()) as f32,
        Unary::Ln => libm::log(xd) as f32,
    }
}

/// Applies `act` to every element of `x`, in place. No allocation.
///
/// `Isa::Avx2Fma` and `Isa::Avx512` run every activation vectorised (8 or
/// 16 lanes, own exp/erfc polynomials, ~1e-6 relative to [`act_scalar`]);
/// other ISAs run [`act_scalar`] (or its f32 variant on aarch64) per element.
pub fn apply_act(isa: Isa, act: Act, x: &mut [f32]) {
    if act == Act::None {
        return;
    }
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `resolve` returned Avx512, so avx512f, fma and f16c are present.
        Isa::Avx512 => unsafe { super::x86_512::apply_act(act, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `resolve` returned Avx2Fma, so avx2, fma and f16c are present.
        Isa::Avx2Fma => unsafe { super::x86::apply_act(act, x) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => x.iter_mut().for_each(|v| *v = act_fast(act, *v)),
        _ => x.iter_mut().for_each(|v| *v = act_scalar(act, *v)),
    }
}

/// `y[i] = op(x[i])`. Contract: `x.len() == y.len()` (checked by
/// `debug_assert!`; in release only the common prefix is written). No allocation.
///
/// On `Isa::Avx2Fma` and `Isa::Avx512` every operator except `Sin`, `Cos`
/// and `Ln` is vectorised.
pub fn apply_unary(isa: Isa, op: Unary, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len(), "apply_unary: length mismatch");
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `resolve` returned Avx512, so avx512f, fma and f16c are present.
        Isa::Avx512 => unsafe { super::x86_512::apply_unary(op, x, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `resolve` returned Avx2Fma, so avx2, fma and f16c are present.
        Isa::Avx2Fma => unsafe { super::x86::apply_unary(op, x, y) },
        _ => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = unary_scalar(op, v);
            }
        }
    }
}
