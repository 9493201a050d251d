use super::Isa;
pub fn layer_norm(_: Isa, x: &[f32], d: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32, y: &mut [f32]) {
  for (xr, yr) in x.chunks(d).zip(y.chunks_mut(d)) { let mean = xr.iter().sum::<f32>()/d as f32; let var = xr.iter().map(|v| (v-mean)*(v-mean)).sum::<f32>()/d as f32; let inv = 1.0/(var+eps).sqrt();
    for j in 0..d { yr[j] = (xr[j]-mean)*inv*gamma[j] + beta.map(|b| b[j]).unwrap_or(0.0); } } }
pub fn softmax(_: Isa, x: &[f32], d: usize, y: &mut [f32]) { for (xr, yr) in x.chunks(d).zip(y.chunks_mut(d)) { let m = xr.iter().cloned().fold(f32::NEG_INFINITY, f32::max); let mut s = 0.0; for j in 0..d { yr[j] = (xr[j]-m).exp(); s += yr[j]; } for v in yr.iter_mut() { *v /= s; } } }
