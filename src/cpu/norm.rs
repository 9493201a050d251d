//! Layer normalisation and softmax over contiguous rows.
//!
//! Contracts (checked in O(1) by `debug_assert!`; a release call that
//! violates them returns without writing `y`): `d > 0`, `x.len()` a multiple
//! of `d`, `y.len() >= x.len()`, `gamma.len() >= d`, `beta.len() >= d`.
//! No allocation.

use super::Isa;

fn pow2_scale(mx: f32) -> f32 {
    if !(mx.is_finite() && mx > 0.0) {
        return 1.0;
    }
    let e = (((mx.to_bits() >> 23) & 0xff) as i32 - 127).clamp(-126, 126);
    f32::from_bits(((127 - e) as u32) << 23)
}

/// `1/sqrt(var + eps)` from the scaled sum of squares, in f64.
fn rstd_from(q: f32, d: usize, sc: f32, eps: f32) -> f32 {
    let sc = sc as f64;
    let var = q as f64 / d as f64 / (sc * sc);
    (1.0 / (var + eps as f64).sqrt()) as f32
}

fn norm_args_ok(x: usize, d: usize, y: usize, gamma: usize, beta: Option<usize>) -> bool {
    d > 0 && x.is_multiple_of(d) && y >= x && gamma >= d && beta.is_none_or(|b| b >= d)
}

/// LayerNorm over the last `d` elements of each row: rows = `x.len()/d`,
/// `y = (x - mean) / sqrt(var + eps) * gamma + beta` (biased variance).
///
/// f32 accumulation, made accurate by (1) shifting each row by its first
/// element before summing (inputs with mean 1e4 and std 1e-2 stay within
/// 1e-3 relative of the f64 reference), (2) scaling the centred values by a
/// power of two before squaring (no overflow/underflow for |x| up to ~1e37
/// or down to subnormals), and (3) computing the per-row scalars in f64.
/// A row of constant values with `eps == 0` gives NaN, like the reference;
/// NaN inputs make the row NaN.
pub fn layer_norm(
    isa: Isa,
    x: &[f32],
    d: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    y: &mut [f32],
) {
    let ok = norm_args_ok(x.len(), d, y.len(), gamma.len(), beta.map(|b| b.len()));
    debug_assert!(ok, "layer_norm: slice lengths violate the contract");
    if !ok {
        return;
    }
    let (gamma, beta) = (&gamma[..d], beta.map(|b| &b[..d]));
    let isa = isa.resolve();
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `resolve` confirmed avx512f+fma+f16c; all rows have length d.
            Isa::Avx512 => unsafe { avx512::ln_row(xr, gamma, beta, eps, yr) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `resolve` confirmed avx2+fma+f16c; all rows have length d.
            Isa::Avx2Fma => unsafe { avx2::ln_row(xr, gamma, beta, eps, yr) },
            _ => ln_row_scalar(xr, gamma, beta, eps, yr),
        }
    }
}

fn ln_row_scalar(xr: &[f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32, yr: &mut [f32]) {
    let d = xr.len();
    let x0 = xr[0];
    let (mut s, mut mx) = (0.0f32, 0.0f32);
    for &v in xr {
        let t = v - x0;
        s += t;
        mx = mx.max(t.abs());
    }
    let mu = s / d as f32;
    let sc = pow2_scale(mx);
    let mut q = 0.0f32;
    for &v in xr {
        let t = ((v - x0) - mu) * sc;
        q += t * t;
    }
    let rstd = rstd_from(q, d, sc, eps);
    for (j, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
        let t = ((v - x0) - mu) * rstd;
        *o = t * gamma[j] + beta.map_or(0.0, |b| b[j]);
    }
}

/// Reference LayerNorm computed in f64, then rounded. Panics on bad lengths.
pub fn layer_norm_ref(
    x: &[f32],
    d: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    y: &mut [f32],
) {
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let mean = xr.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = xr.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
        let rstd = 1.0 / (var + eps as f64).sqrt();
        for j in 0..d {
            let b = beta.map_or(0.0, |b| b[j] as f64);
            yr[j] = ((xr[j] as f64 - mean) * rstd * gamma[j] as f64 + b) as f32;
        }
    }
}

/// Softmax over contiguous rows of length `d` (max-subtracted, f32
/// accumulation): `y = exp(x - max) / Σ exp(x - max)`.
///
/// Special values: a row of all `-inf` gives NaN (0/0: there is no
/// distribution); a `+inf` or NaN anywhere in a row makes the whole row NaN.
/// Contract: `d > 0`, `x.len()` a multiple of `d`, `y.len() >= x.len()`.
pub fn softmax(isa: Isa, x: &[f32], d: usize, y: &mut [f32]) {
    let ok = norm_args_ok(x.len(), d, y.len(), d, None);
    debug_assert!(ok, "softmax: slice lengths violate the contract");
    if !ok {
        return;
    }
    let isa = isa.resolve();
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `resolve` confirmed avx512f+fma+f16c; rows have length d.
            Isa::Avx512 => unsafe { avx512::softmax_row(xr, yr) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `resolve` confirmed avx2+fma+f16c; rows have length d.
            Isa::Avx2Fma => unsafe { avx2::softmax_row(xr, yr) },
            _ => softmax_row_scalar(xr, yr),
        }
    }
}

fn softmax_row_scalar(xr: &[f32], yr: &mut [f32]) {
    let mx = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut s = 0.0f32;
    for (o, &v) in yr.iter_mut().zip(xr) {
        *o = libm::expf(v - mx);
        s += *o;
    }
    let inv = 1.0 / s;
    yr.iter_mut().for_each(|o| *o *= inv);
}

/// Reference softmax computed in f64, then rounded. Panics on bad lengths.
pub fn softmax_ref(x: &[f32], d: usize, y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let mx = xr.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let s: f64 = xr.iter().map(|&v| (v as f64 - mx).exp()).sum();
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = ((v as f64 - mx).exp() / s) as f32;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::x86::{exp, hmax, hsum};
    use super::{pow2_scale, rstd_from};
    use core::arch::x86_64::*;

    /// One LayerNorm row (`xr`, `gamma`, `yr` and `beta` all of length d > 0).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn ln_row(
        xr: &[f32],
        gamma: &[f32],
        beta: Option<&[f32]>,
        eps: f32,
        yr: &mut [f32],
    ) {
        let d = xr.len();
        let x0 = xr[0];
        let x0v = _mm256_set1_ps(x0);
        let sign = _mm256_set1_ps(-0.0);
        let (mut s, mut mx) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut ch = xr.chunks_exact(8);
        for c in &mut ch {
            // SAFETY: `c` has exactly 8 floats.
            let t = _mm256_sub_ps(unsafe { _mm256_loadu_ps(c.as_ptr()) }, x0v);
            s = _mm256_add_ps(s, t);
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, t));
        }
        let (mut s1, mut mx1) = (hsum(s), hmax(mx));
        for &v in ch.remainder() {
            let t = v - x0;
            s1 += t;
            mx1 = mx1.max(t.abs());
        }
        let mu = s1 / d as f32;
        let sc = pow2_scale(mx1);
        let (muv, scv) = (_mm256_set1_ps(mu), _mm256_set1_ps(sc));
        let mut q = _mm256_setzero_ps();
        let mut ch = xr.chunks_exact(8);
        for c in &mut ch {
            // SAFETY: `c` has exactly 8 floats.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            let t = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(v, x0v), muv), scv);
            q = _mm256_fmadd_ps(t, t, q);
        }
        let mut q1 = hsum(q);
        for &v in ch.remainder() {
            let t = ((v - x0) - mu) * sc;
            q1 += t * t;
        }
        let rstd = rstd_from(q1, d, sc, eps);
        let rv = _mm256_set1_ps(rstd);
        let d8 = d / 8 * 8;
        let mut j = 0;
        while j < d8 {
            // SAFETY: j + 8 <= d and all four slices have length d.
            unsafe {
                let v = _mm256_loadu_ps(xr.as_ptr().add(j));
                let t = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(v, x0v), muv), rv);
                let g = _mm256_loadu_ps(gamma.as_ptr().add(j));
                let b = match beta {
                    Some(b) => _mm256_loadu_ps(b.as_ptr().add(j)),
                    None => _mm256_setzero_ps(),
                };
                _mm256_storeu_ps(yr.as_mut_ptr().add(j), _mm256_fmadd_ps(t, g, b));
            }
            j += 8;
        }
        for j in d8..d {
            let t = ((xr[j] - x0) - mu) * rstd;
            yr[j] = t.mul_add(gamma[j], beta.map_or(0.0, |b| b[j]));
        }
    }

    /// One softmax row (`xr` and `yr` of equal length > 0).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn softmax_row(xr: &[f32], yr: &mut [f32]) {
        let mut mv = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut ch = xr.chunks_exact(8);
        for c in &mut ch {
            // SAFETY: `c` has exactly 8 floats.
            mv = _mm256_max_ps(mv, unsafe { _mm256_loadu_ps(c.as_ptr()) });
        }
        let mx = ch.remainder().iter().fold(hmax(mv), |m, &v| m.max(v));
        let mxv = _mm256_set1_ps(mx);
        let mut s = _mm256_setzero_ps();
        let mut xc = xr.chunks_exact(8);
        let mut yc = yr.chunks_exact_mut(8);
        for (xi, yi) in (&mut xc).zip(&mut yc) {
            // SAFETY: both chunks have exactly 8 floats.
            unsafe {
                let e = exp(_mm256_sub_ps(_mm256_loadu_ps(xi.as_ptr()), mxv));
                _mm256_storeu_ps(yi.as_mut_ptr(), e);
                s = _mm256_add_ps(s, e);
            }
        }
        let (xt, yt) = (xc.remainder(), yc.into_remainder());
        let mut s1 = hsum(s);
        if !xt.is_empty() {
            let mut buf = [f32::NEG_INFINITY; 8];
            buf[..xt.len()].copy_from_slice(xt);
            // SAFETY: `buf` is a local array of 8 floats.
            unsafe {
                let e = exp(_mm256_sub_ps(_mm256_loadu_ps(buf.as_ptr()), mxv));
                _mm256_storeu_ps(buf.as_mut_ptr(), e);
            }
            for (o, &e) in yt.iter_mut().zip(&buf) {
                *o = e;
                s1 += e;
            }
        }
        let inv = _mm256_set1_ps(1.0 / s1);
        let mut yc = yr.chunks_exact_mut(8);
        for yi in &mut yc {
            // SAFETY: `yi` has exactly 8 floats.
            unsafe {
                let v = _mm256_loadu_ps(yi.as_ptr());
                _mm256_storeu_ps(yi.as_mut_ptr(), _mm256_mul_ps(v, inv));
            }
        }
        let inv1 = 1.0 / s1;
        yc.into_remainder().iter_mut().for_each(|o| *o *= inv1);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::x86_512::{exp, lane_mask};
    use super::{pow2_scale, rstd_from};
    use core::arch::x86_64::*;

    /// Rows up to this length are kept in registers by `softmax_row`
    /// (one load, one store per element).
    const SOFTMAX_REG_MAX: usize = 32;

    /// Masked load of `n` (0..=16) floats at `p`, `fill` in the other lanes.
    ///
    /// # Safety
    /// `p.add(i)` is readable for `i < n`.
    #[inline]
    #[target_feature(enable = "avx512f,fma,f16c")]
    unsafe fn load_n(p: *const f32, n: usize, fill: __m512) -> __m512 {
        // SAFETY: forwarded; masked-off lanes are not accessed.
        unsafe { _mm512_mask_loadu_ps(fill, lane_mask(n), p) }
    }

    /// One LayerNorm row (`xr`, `gamma`, `yr` and `beta` all of length d > 0).
    /// Same algorithm as the AVX2 row (shift by x0, power-of-two scaling,
    /// f64 scalars), 16 lanes with masked tails.
    #[target_feature(enable = "avx512f,fma,f16c")]
    pub(super) fn ln_row(
        xr: &[f32],
        gamma: &[f32],
        beta: Option<&[f32]>,
        eps: f32,
        yr: &mut [f32],
    ) {
        let d = xr.len();
        let xp = xr.as_ptr();
        let x0 = xr[0];
        let x0v = _mm512_set1_ps(x0);
        let zero = _mm512_setzero_ps();
        let (mut s, mut mx) = (zero, zero);
        let mut j = 0;
        while j < d {
            // SAFETY: lanes j..min(j+16, d) of xr (masked load, fill x0 so
            // that the padding contributes t = 0).
            let v = unsafe { load_n(xp.add(j), d - j, x0v) };
            let t = _mm512_sub_ps(v, x0v);
            s = _mm512_add_ps(s, t);
            mx = _mm512_max_ps(mx, _mm512_abs_ps(t));
            j += 16;
        }
        let mu = _mm512_reduce_add_ps(s) / d as f32;
        let sc = pow2_scale(_mm512_reduce_max_ps(mx));
        let (muv, scv) = (_mm512_set1_ps(mu), _mm512_set1_ps(sc));
        let mut q = zero;
        let mut j = 0;
        while j < d {
            let k = lane_mask(d - j);
            // SAFETY: masked load of the lanes < d - j of row xr.
            let v = unsafe { _mm512_maskz_loadu_ps(k, xp.add(j)) };
            let t = _mm512_mul_ps(_mm512_sub_ps(_mm512_sub_ps(v, x0v), muv), scv);
            q = _mm512_mask3_fmadd_ps(t, t, q, k);
            j += 16;
        }
        let rstd = rstd_from(_mm512_reduce_add_ps(q), d, sc, eps);
        let rv = _mm512_set1_ps(rstd);
        let (gp, yp) = (gamma.as_ptr(), yr.as_mut_ptr());
        let mut j = 0;
        while j < d {
            let k = lane_mask(d - j);
            // SAFETY: masked accesses to lanes < d - j of the four slices,
            // all of length d.
            unsafe {
                let v = _mm512_maskz_loadu_ps(k, xp.add(j));
                let t = _mm512_mul_ps(_mm512_sub_ps(_mm512_sub_ps(v, x0v), muv), rv);
                let g = _mm512_maskz_loadu_ps(k, gp.add(j));
                let b = match beta {
                    Some(b) => _mm512_maskz_loadu_ps(k, b.as_ptr().add(j)),
                    None => zero,
                };
                _mm512_mask_storeu_ps(yp.add(j), k, _mm512_fmadd_ps(t, g, b));
            }
            j += 16;
        }
    }

    /// One softmax row (`xr` and `yr` of equal length > 0).
    ///
    /// Padding lanes load `-inf`: with a finite row maximum they give
    /// `exp(-inf) = 0`; they only give NaN when the maximum is `-inf` (all
    /// valid lanes `-inf`) or `+inf`/NaN, where every valid output is NaN
    /// anyway, so no extra masking is needed.
    #[target_feature(enable = "avx512f,fma,f16c")]
    pub(super) fn softmax_row(xr: &[f32], yr: &mut [f32]) {
        let d = xr.len().min(yr.len());
        let (xp, yp) = (xr.as_ptr(), yr.as_mut_ptr());
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        if d <= SOFTMAX_REG_MAX {
            // Short rows (attention over few tokens): everything in two zmm.
            let (n0, n1) = (d.min(16), d.saturating_sub(16));
            // SAFETY: masked loads of lanes < d of xr; the second pointer is
            // only formed in bounds (wrapping_add) and used with n1 lanes.
            let (v0, v1) = unsafe { (load_n(xp, n0, ninf), load_n(xp.wrapping_add(16), n1, ninf)) };
            let mx = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(v0, v1)));
            let e0 = exp(_mm512_sub_ps(v0, mx));
            let e1 = exp(_mm512_sub_ps(v1, mx));
            let s = _mm512_reduce_add_ps(_mm512_add_ps(e0, e1));
            let inv = _mm512_set1_ps(1.0 / s);
            // SAFETY: masked stores of lanes < d of yr.
            unsafe {
                _mm512_mask_storeu_ps(yp, lane_mask(n0), _mm512_mul_ps(e0, inv));
                _mm512_mask_storeu_ps(yp.wrapping_add(16), lane_mask(n1), _mm512_mul_ps(e1, inv));
            }
            return;
        }
        let mut mv = ninf;
        let mut j = 0;
        while j < d {
            // SAFETY: masked load of lanes < d - j of xr.
            mv = _mm512_max_ps(mv, unsafe { load_n(xp.add(j), d - j, ninf) });
            j += 16;
        }
        let mx = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
        let mut s = _mm512_setzero_ps();
        let mut j = 0;
        while j < d {
            // SAFETY: masked load/store of lanes < d - j of xr / yr.
            unsafe {
                let e = exp(_mm512_sub_ps(load_n(xp.add(j), d - j, ninf), mx));
                _mm512_mask_storeu_ps(yp.add(j), lane_mask(d - j), e);
                s = _mm512_add_ps(s, e);
            }
            j += 16;
        }
        let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(s));
        let mut j = 0;
        while j < d {
            let k = lane_mask(d - j);
            // SAFETY: masked load/store of lanes < d - j of yr.
            unsafe {
                let v = _mm512_maskz_loadu_ps(k, yp.add(j));
                _mm512_mask_storeu_ps(yp.add(j), k, _mm512_mul_ps(v, inv));
            }
            j += 16;
        }
    }
}
