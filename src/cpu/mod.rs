//! TEMPORARY scalar stand-in until the kernel module lands (same API).
pub mod gemm;
pub mod norm;
pub mod unary;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa { Scalar, Avx2Fma, Neon }
impl Isa { pub fn detect() -> Isa { Isa::Scalar } pub fn name(self) -> &'static str { "scalar" } }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act { None, Relu, Gelu, GeluTanh, Silu, Tanh, Sigmoid }
pub use unary::Unary;
