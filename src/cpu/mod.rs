//! Native CPU kernels for `fewstep`.
//!
//! Every public kernel takes an [`Isa`] chosen once at session build with
//! [`Isa::detect`]. Passing an `Isa` that the running CPU cannot execute is
//! never undefined behaviour: the kernels re-check the hardware (a cached,
//! lock-free lookup) and fall back to the best lower x86_64 ISA it can run
//! (`Avx512` -> `Avx2Fma`), otherwise to the portable scalar code.
//!
//! Module map:
//! * [`gemm`]: packed-weight matmul with fused bias + activation, and the
//!   strided activation x activation matmul used by attention.
//! * [`unary`]: activations and elementwise unary operators.
//! * [`norm`]: layer normalisation and softmax.
//! * [`finite`]: the NaN/infinity scan of every sample's inputs and output (portable).
//!
//! No kernel allocates on the heap; only the packing functions
//! ([`gemm::pack_b_f32`], [`gemm::pack_b_f16`]) do, and they run at session build.

pub mod finite;
pub mod gemm;
pub mod norm;
pub mod unary;

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_512;

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
    /// x86_64 with AVX-512F, FMA and F16C (and AVX2, which every AVX-512
    /// CPU has; kernels without a 512-bit version run their AVX2 code).
    Avx512,
}

impl Isa {
    /// Best available on this CPU (x86_64: avx512f+avx2+fma+f16c for
    /// `Avx512`, else avx2+fma+f16c all required for `Avx2Fma`; aarch64:
    /// neon). Never `target-cpu=native`: this is a run-time check.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512_fma_f16c() {
                return Isa::Avx512;
            }
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

    /// Stable lower-case name: `"scalar"`, `"avx2+fma+f16c"`, `"neon"`,
    /// `"avx512f"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2+fma+f16c",
            Isa::Neon => "neon",
            Isa::Avx512 => "avx512f",
        }
    }

    /// Every `Isa` this CPU can execute, `Scalar` first and [`Isa::detect`]
    /// last (used by tests and benchmarks; allocates, so do not call it from
    /// a kernel).
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if avx2_fma_f16c() {
                v.push(Isa::Avx2Fma);
            }
            if avx512_fma_f16c() {
                v.push(Isa::Avx512);
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                v.push(Isa::Neon);
            }
        }
        v
    }

    /// The `Isa` a kernel actually runs: `self` if this CPU supports it,
    /// otherwise `Avx2Fma` for an `Avx512` request on an AVX2-only CPU, and
    /// `Scalar` in every other case. Cheap (std caches feature detection in
    /// an atomic).
    #[inline]
    pub(crate) fn resolve(self) -> Isa {
        match self {
            Isa::Scalar => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 if avx512_fma_f16c() => Isa::Avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma | Isa::Avx512 if avx2_fma_f16c() => Isa::Avx2Fma,
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

/// Requirements of [`Isa::Avx512`]: avx512f, fma and f16c, plus avx2 so
/// that kernels without a 512-bit version can run their AVX2 code.
#[cfg(target_arch = "x86_64")]
#[inline]
fn avx512_fma_f16c() -> bool {
    is_x86_feature_detected!("avx512f") && avx2_fma_f16c()
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
