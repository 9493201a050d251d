//! Native CPU kernels for `fewstep`.
//!
//! Every public kernel takes an [`Isa`] chosen once at session build with
//! [`Isa::detect`]. Passing an `Isa` that the running CPU cannot execute is
//! never undefined behaviour: the kernels re-check the hardware (a cached,
//! lock-free lookup) and fall back to the portable scalar code.
//!
//! Module map:
//! * [`gemm`]: packed-weight matmul with fused bias + activation, and the
//!   strided activation x activation matmul used by attention.
//! * [`unary`]: activations and elementwise unary operators.
//! * [`norm`]: layer normalisation and softmax.
//!
//! No kernel allocates on the heap; only the packing functions
//! ([`gemm::pack_b_f32`], [`gemm::pack_b_f16`]) do, and they run at session build.

pub mod gemm;
pub mod norm;
pub mod unary;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

/// Instruction set chosen once at session build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust, no explicit SIMD. Always available.
    Scalar,
    /// x86_64 with AVX2, FMA and F16C (all three required).
    Avx2Fma,
    /// aarch64 Advanced SIMD.
    Neon,
}

impl Isa {
    /// Best available on this CPU (x86_64: avx2+fma+f16c all required for
    /// `Avx2Fma`; aarch64: neon). Never `target-cpu=native`: this is a
    /// run-time check.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if avx2_fma_f16c() {
                return Isa::Avx2Fma;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Isa::Neon;
            }
        }
        Isa::Scalar
    }

    /// Stable lower-case name: `"scalar"`, `"avx2+fma+f16c"`, `"neon"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2+fma+f16c",
            Isa::Neon => "neon",
        }
    }

    /// Every `Isa` this CPU can execute, `Scalar` first (used by tests and
    /// benchmarks; allocates, so do not call it from a kernel).
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar];
        let best = Isa::detect();
        if best != Isa::Scalar {
            v.push(best);
        }
        v
    }

    /// The `Isa` a kernel actually runs: `self` if this CPU supports it,
    /// otherwise `Scalar`. Cheap (std caches feature detection in an atomic).
    #[inline]
    pub(crate) fn resolve(self) -> Isa {
        match self {
            Isa::Scalar => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma if avx2_fma_f16c() => Isa::Avx2Fma,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon if std::arch::is_aarch64_feature_detected!("neon") => Isa::Neon,
            _ => Isa::Scalar,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2_fma_f16c() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Activation fused into a matmul epilogue or applied elementwise.
///
/// The exact definitions are those of [`unary::act_scalar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Identity.
    None,
    /// `max(x, 0)`; NaN propagates.
    Relu,
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`.
    Gelu,
    /// Tanh-approximated GELU, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    GeluTanh,
    /// `x * sigmoid(x)`.
    Silu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function `1 / (1 + e^-x)`.
    Sigmoid,
}

impl Act {
    /// All variants, for tests and tooling.
    pub const ALL: [Act; 7] = [
        Act::None,
        Act::Relu,
        Act::Gelu,
        Act::GeluTanh,
        Act::Silu,
        Act::Tanh,
        Act::Sigmoid,
    ];
}
