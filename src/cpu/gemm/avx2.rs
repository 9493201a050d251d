//! AVX2/FMA/F16C kernels for `gemm` (6x16 register tiles) and the
//! `matmul_strided` fast paths.

use super::super::Act;
use super::super::x86::{act_tile, hsum, lane_mask};
use super::{NR, Tile};
use core::arch::x86_64::*;

/// f32-weight microkernel entry (`mr` in 1..=6).
///
/// # Safety
/// avx2+fma+f16c are available and `t` describes memory as built by `drive`.
pub(super) unsafe fn tile_f32(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract.
    unsafe { dispatch::<false>(t, mr) }
}

/// f16-weight microkernel entry (`mr` in 1..=6).
///
/// # Safety
/// As [`tile_f32`].
pub(super) unsafe fn tile_f16(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract.
    unsafe { dispatch::<true>(t, mr) }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dispatch<const F16: bool>(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract; each arm handles exactly `mr` rows.
    unsafe {
        match mr {
            1 => tile::<1, 4, F16>(t),
            2 => tile::<2, 2, F16>(t),
            3 => tile::<3, 1, F16>(t),
            4 => tile::<4, 1, F16>(t),
            5 => tile::<5, 1, F16>(t),
            6 => tile::<6, 1, F16>(t),
            _ => debug_assert!(false, "mr out of range"),
        }
        if t.last && t.act != Act::None {
            // Second pass over the freshly stored tile (hot in L1): one
            // branch-free loop per activation instead of a dispatch per
            // vector inside the register epilogue.
            act_tile(t.act, t.c, t.ldc, mr.min(6), t.nv.min(NR));
        }
    }
}

/// `MR x 16` tile: 2·MR ymm accumulators, A broadcast, two B vectors per kk.
/// `S` independent accumulator sets (interleaved kk) keep at least 8 FMA
/// chains in flight when MR is small (m = 1 decode-style products).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const MR: usize, const S: usize, const F16: bool>(t: &Tile) {
    let mut acc = [[[_mm256_setzero_ps(); 2]; MR]; S];
    let mut rows = [t.a; MR];
    for (r, p) in rows.iter_mut().enumerate() {
        *p = t.a.wrapping_add(r * t.lda);
    }
    let esz = if F16 { 2 } else { 4 };
    let step = |acc: &mut [[__m256; 2]; MR], kk: usize| {
        // SAFETY: kk < kc, so the NR weights of row kk lie inside the panel
        // and A[r][kk] inside row r of the validated A block.
        unsafe {
            let bp = t.b.add(kk * NR * esz);
            let (b0, b1) = if F16 {
                let h = bp as *const __m128i;
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(h)),
                    _mm256_cvtph_ps(_mm_loadu_si128(h.add(1))),
                )
            } else {
                let f = bp as *const f32;
                (_mm256_loadu_ps(f), _mm256_loadu_ps(f.add(8)))
            };
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*rows[r].add(kk));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    };
    let kmain = t.kc / S * S;
    let mut kk = 0;
    while kk < kmain {
        for (s, a) in acc.iter_mut().enumerate() {
            step(a, kk + s);
        }
        kk += S;
    }
    while kk < t.kc {
        step(&mut acc[0], kk);
        kk += 1;
    }
    let (head, rest) = acc.split_at_mut(1);
    for other in rest.iter() {
        for (dr, sr) in head[0].iter_mut().zip(other) {
            for (d, s) in dr.iter_mut().zip(sr) {
                *d = _mm256_add_ps(*d, *s);
            }
        }
    }
    let acc = head[0];

    let full = t.nv == NR;
    let masks = [lane_mask(t.nv), lane_mask(t.nv.saturating_sub(8))];
    let halves = if t.nv > 8 { 2 } else { 1 };
    let mut bias = [_mm256_setzero_ps(); 2];
    let has_bias = t.last && !t.bias.is_null();
    if has_bias {
        for h in 0..halves {
            // SAFETY: bias has nv valid entries from t.bias; the masked load
            // touches only lanes < nv and the pointer (h*8 < nv) is in bounds.
            bias[h] = unsafe {
                if full {
                    _mm256_loadu_ps(t.bias.add(8 * h))
                } else {
                    _mm256_maskload_ps(t.bias.add(8 * h), masks[h])
                }
            };
        }
    }
    for (r, &[v0, v1]) in acc.iter().enumerate() {
        // SAFETY: row r < mr of the validated C tile; the second half is
        // only touched when it holds valid columns (nv > 8).
        unsafe {
            let cp = t.c.add(r * t.ldc);
            store_half(t, cp, v0, masks[0], bias[0], has_bias, full);
            if halves == 2 {
                store_half(t, cp.add(8), v1, masks[1], bias[1], has_bias, full);
            }
        }
    }
}

/// Epilogue for 8 columns at `cp`: accumulate into C unless first K block,
/// add bias on the last one, store (masked unless `full`). The activation
/// runs afterwards over the whole tile (`act_tile`). Kept separate with
/// by-value arguments so the accumulators stay in registers in the main
/// loop; small enough to be inlined.
///
/// # Safety
/// The lanes selected by `mask` (all 8 when `full`) are valid C elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_half(
    t: &Tile,
    cp: *mut f32,
    mut v: __m256,
    mask: __m256i,
    bias: __m256,
    has_bias: bool,
    full: bool,
) {
    // SAFETY: forwarded contract; masked lanes are never accessed.
    unsafe {
        if !t.first {
            let old = if full {
                _mm256_loadu_ps(cp)
            } else {
                _mm256_maskload_ps(cp, mask)
            };
            v = _mm256_add_ps(v, old);
        }
        if has_bias {
            v = _mm256_add_ps(v, bias);
        }
        if full {
            _mm256_storeu_ps(cp, v);
        } else {
            _mm256_maskstore_ps(cp, mask, v);
        }
    }
}

/// `matmul_strided` with `csb == 1`: tiles of up to 4 rows x 16 columns,
/// each kk adds `A[i][kk] * B[kk][j0..j0+16]`.
///
/// # Safety
/// avx2+fma+f16c available; `k > 0`; all indices of the documented formula
/// in bounds (checked by `strided_args_ok`).
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn strided_axpy(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let mut i0 = 0;
    while i0 < m {
        let mr = 4.min(m - i0);
        let mut j0 = 0;
        while j0 < n {
            let nv = 16.min(n - j0);
            let ap = a.wrapping_add(i0 * rsa);
            let bp = b.wrapping_add(j0);
            let cp = c.wrapping_add(i0 * ldc + j0);
            let g = Axpy {
                k,
                alpha,
                a: ap,
                rsa,
                csa,
                b: bp,
                rsb,
                c: cp,
                ldc,
                nv,
            };
            // SAFETY: rows i0..i0+mr < m and columns j0..j0+nv <= n are in bounds.
            unsafe {
                match (mr, nv == 16) {
                    (1, true) => axpy_tile::<1, true>(&g),
                    (2, true) => axpy_tile::<2, true>(&g),
                    (3, true) => axpy_tile::<3, true>(&g),
                    (4, true) => axpy_tile::<4, true>(&g),
                    (1, false) => axpy_tile::<1, false>(&g),
                    (2, false) => axpy_tile::<2, false>(&g),
                    (3, false) => axpy_tile::<3, false>(&g),
                    _ => axpy_tile::<4, false>(&g),
                }
            }
            j0 += 16;
        }
        i0 += mr;
    }
}

struct Axpy {
    k: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    c: *mut f32,
    ldc: usize,
    nv: usize,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_tile<const MR: usize, const FULL: bool>(g: &Axpy) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let masks = [lane_mask(g.nv), lane_mask(g.nv.saturating_sub(8))];
    let two = FULL || g.nv > 8;
    for kk in 0..g.k {
        // SAFETY: kk < k, rows < MR and columns < nv are in bounds; the
        // second half is only touched when it holds valid columns.
        unsafe {
            let bp = g.b.add(kk * g.rsb);
            let (b0, b1) = if FULL {
                (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)))
            } else {
                let b0 = _mm256_maskload_ps(bp, masks[0]);
                let b1 = if two {
                    _mm256_maskload_ps(bp.add(8), masks[1])
                } else {
                    _mm256_setzero_ps()
                };
                (b0, b1)
            };
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*g.a.add(r * g.rsa + kk * g.csa));
                accr[0] = _mm256_fmadd_ps(av, b0, accr[0]);
                accr[1] = _mm256_fmadd_ps(av, b1, accr[1]);
            }
        }
    }
    let al = _mm256_set1_ps(g.alpha);
    for (r, accr) in acc.iter().enumerate() {
        // SAFETY: row r of the C tile, columns < nv (masked when partial).
        unsafe {
            let cp = g.c.add(r * g.ldc);
            if FULL {
                _mm256_storeu_ps(cp, _mm256_mul_ps(al, accr[0]));
                _mm256_storeu_ps(cp.add(8), _mm256_mul_ps(al, accr[1]));
            } else {
                _mm256_maskstore_ps(cp, masks[0], _mm256_mul_ps(al, accr[0]));
                if two {
                    _mm256_maskstore_ps(cp.add(8), masks[1], _mm256_mul_ps(al, accr[1]));
                }
            }
        }
    }
}

/// `matmul_strided` with `csa == 1 && rsb == 1`: `C[i][j] = alpha *
/// dot(A row i, B column j)`, both contiguous; 2 x 4 tiles of dot products.
///
/// # Safety
/// avx2+fma+f16c available; `k > 0`; indices in bounds (`strided_args_ok`).
#[target_feature(enable = "avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn strided_dot(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    b: *const f32,
    csb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let mut i0 = 0;
    while i0 < m {
        let mr = 2.min(m - i0);
        let mut j0 = 0;
        while j0 < n {
            let nj = 4.min(n - j0);
            let g = Dot {
                k,
                alpha,
                a: a.wrapping_add(i0 * rsa),
                rsa,
                b: b.wrapping_add(j0 * csb),
                csb,
                c: c.wrapping_add(i0 * ldc + j0),
                ldc,
            };
            // SAFETY: rows i0..i0+mr < m and columns j0..j0+nj <= n in bounds.
            unsafe {
                match (mr, nj) {
                    (1, 1) => dot_tile::<1, 1>(&g),
                    (1, 2) => dot_tile::<1, 2>(&g),
                    (1, 3) => dot_tile::<1, 3>(&g),
                    (1, _) => dot_tile::<1, 4>(&g),
                    (_, 1) => dot_tile::<2, 1>(&g),
                    (_, 2) => dot_tile::<2, 2>(&g),
                    (_, 3) => dot_tile::<2, 3>(&g),
                    _ => dot_tile::<2, 4>(&g),
                }
            }
            j0 += 4;
        }
        i0 += mr;
    }
}

struct Dot {
    k: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    b: *const f32,
    csb: usize,
    c: *mut f32,
    ldc: usize,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_tile<const R: usize, const J: usize>(g: &Dot) {
    let mut acc = [[_mm256_setzero_ps(); J]; R];
    let k8 = g.k / 8 * 8;
    let mut kk = 0;
    while kk < k8 {
        // SAFETY: kk + 8 <= k, so 8 contiguous values of each row/column exist.
        unsafe {
            let mut bv = [_mm256_setzero_ps(); J];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(g.b.add(j * g.csb + kk));
            }
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_loadu_ps(g.a.add(r * g.rsa + kk));
                for j in 0..J {
                    accr[j] = _mm256_fmadd_ps(av, bv[j], accr[j]);
                }
            }
        }
        kk += 8;
    }
    if kk < g.k {
        let mask = lane_mask(g.k - kk);
        // SAFETY: masked loads touch only indices < k; the base pointers
        // (index kk < k) are in bounds.
        unsafe {
            let mut bv = [_mm256_setzero_ps(); J];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = _mm256_maskload_ps(g.b.add(j * g.csb + kk), mask);
            }
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_maskload_ps(g.a.add(r * g.rsa + kk), mask);
                for j in 0..J {
                    accr[j] = _mm256_fmadd_ps(av, bv[j], accr[j]);
                }
            }
        }
    }
    for (r, accr) in acc.iter().enumerate() {
        for (j, v) in accr.iter().enumerate() {
            // SAFETY: C tile element (r, j), r < mr, j < nj.
            unsafe { *g.c.add(r * g.ldc + j) = g.alpha * hsum(*v) };
        }
    }
}
