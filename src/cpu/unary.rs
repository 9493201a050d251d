use super::{Act, Isa};
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary { Neg, Abs, Exp, Sqrt, Recip, Sin, Cos, Erf, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Square, Rsqrt, Ln }
fn sig(x: f32) -> f32 { 1.0 / (1.0 + (-x).exp()) }
pub fn act_scalar(act: Act, x: f32) -> f32 { match act { Act::None => x, Act::Relu => x.max(0.0), Act::Gelu => unary_scalar(Unary::Gelu, x), Act::GeluTanh => unary_scalar(Unary::GeluTanh, x), Act::Silu => x * sig(x), Act::Tanh => x.tanh(), Act::Sigmoid => sig(x) } }
pub fn unary_scalar(op: Unary, x: f32) -> f32 { match op { Unary::Neg => -x, Unary::Abs => x.abs(), Unary::Exp => x.exp(), Unary::Sqrt => x.sqrt(), Unary::Recip => 1.0/x, Unary::Sin => x.sin(), Unary::Cos => x.cos(), Unary::Erf => libm::erff(x), Unary::Tanh => x.tanh(), Unary::Sigmoid => sig(x), Unary::Relu => x.max(0.0),
  Unary::Gelu => 0.5*x*(1.0+libm::erff(x/std::f32::consts::SQRT_2)), Unary::GeluTanh => 0.5*x*(1.0+((2.0/std::f32::consts::PI).sqrt()*(x+0.044715*x*x*x)).tanh()), Unary::Silu => x*sig(x), Unary::Square => x*x, Unary::Rsqrt => 1.0/x.sqrt(), Unary::Ln => x.ln() } }
pub fn apply_unary(_: Isa, op: Unary, x: &[f32], y: &mut [f32]) { for (y, &x) in y.iter_mut().zip(x) { *y = unary_scalar(op, x); } }
