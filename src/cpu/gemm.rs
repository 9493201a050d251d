use super::{Act, Isa};
use half::f16;
#[derive(Debug)]
pub struct PackedB<T> { k: usize, n: usize, data: Vec<T> }
impl<T> PackedB<T> { pub fn k(&self)->usize{self.k} pub fn n(&self)->usize{self.n} pub fn bytes(&self)->usize{self.data.len()*std::mem::size_of::<T>()} }
pub fn pack_b_f32(b: &[f32], k: usize, n: usize) -> PackedB<f32> { PackedB { k, n, data: b.to_vec() } }
pub fn pack_b_f16(b: &[f32], k: usize, n: usize) -> PackedB<f16> { PackedB { k, n, data: b.iter().map(|&x| f16::from_f32(x)).collect() } }
pub fn gemm_f32(_: Isa, m: usize, a: &[f32], lda: usize, b: &PackedB<f32>, bias: Option<&[f32]>, act: Act, c: &mut [f32], ldc: usize) { gemm_ref(m, b.n, b.k, a, lda, &b.data, b.n, bias, act, c, ldc) }
pub fn gemm_f16(_: Isa, m: usize, a: &[f32], lda: usize, b: &PackedB<f16>, bias: Option<&[f32]>, act: Act, c: &mut [f32], ldc: usize) {
  for i in 0..m { for j in 0..b.n { let mut s = 0f32; for kk in 0..b.k { s += a[i*lda+kk] * b.data[kk*b.n+j].to_f32(); } if let Some(bb) = bias { s += bb[j]; } c[i*ldc+j] = super::unary::act_scalar(act, s); } } }
pub fn gemm_ref(m: usize, n: usize, k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, bias: Option<&[f32]>, act: Act, c: &mut [f32], ldc: usize) {
  for i in 0..m { for j in 0..n { let mut s = 0f32; for kk in 0..k { s += a[i*lda+kk] * b[kk*ldb+j]; } if let Some(bb) = bias { s += bb[j]; } c[i*ldc+j] = super::unary::act_scalar(act, s); } } }
pub fn matmul_strided(_: Isa, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], rsa: usize, csa: usize, b: &[f32], rsb: usize, csb: usize, c: &mut [f32], ldc: usize) {
  for i in 0..m { for j in 0..n { let mut s = 0f32; for kk in 0..k { s += a[i*rsa+kk*csa] * b[kk*rsb+j*csb]; } c[i*ldc+j] = alpha*s; } } }
