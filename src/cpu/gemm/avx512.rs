//! AVX-512F/FMA/F16C microkernel for `gemm`: up to 12 rows x 32 columns
//! (two NR = 16 panels, one zmm each) per call.

use super::super::Act;
use super::super::x86_512::{act_tile, lane_mask};
use super::{NR, Tile};
use core::arch::x86_64::*;

/// f32-weight microkernel entry (`mr` in 1..=12, `nv` in 1..=32).
///
/// # Safety
/// avx512f+fma+f16c are available and `t` describes memory as built by
/// `drive` with two panels per tile.
pub(super) unsafe fn tile_f32(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract.
    unsafe { dispatch::<false>(t, mr) }
}

/// f16-weight microkernel entry (`mr` in 1..=12, `nv` in 1..=32).
///
/// # Safety
/// As [`tile_f32`].
pub(super) unsafe fn tile_f16(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract.
    unsafe { dispatch::<true>(t, mr) }
}

/// Picks the register tile: `H` = 2 zmm per row when the tile has more than
/// NR valid columns (two panels), else 1; `S` interleaved accumulator sets
/// so that at least 8 independent FMA chains are in flight (2 FMA ports x 4
/// cycles latency) for small `mr`.
#[target_feature(enable = "avx512f,fma,f16c")]
unsafe fn dispatch<const F16: bool>(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract; each arm handles exactly `mr` rows and
    // touches the second panel only when nv > NR.
    unsafe {
        if t.nv > NR {
            match mr {
                1 => tile::<1, 4, 2, F16>(t),
                2 => tile::<2, 2, 2, F16>(t),
                3 => tile::<3, 2, 2, F16>(t),
                4 => tile::<4, 1, 2, F16>(t),
                5 => tile::<5, 1, 2, F16>(t),
                6 => tile::<6, 1, 2, F16>(t),
                7 => tile::<7, 1, 2, F16>(t),
                8 => tile::<8, 1, 2, F16>(t),
                9 => tile::<9, 1, 2, F16>(t),
                10 => tile::<10, 1, 2, F16>(t),
                11 => tile::<11, 1, 2, F16>(t),
                12 => tile::<12, 1, 2, F16>(t),
                _ => debug_assert!(false, "mr out of range"),
            }
        } else {
            match mr {
                1 => tile::<1, 8, 1, F16>(t),
                2 => tile::<2, 4, 1, F16>(t),
                3 => tile::<3, 3, 1, F16>(t),
                4 => tile::<4, 2, 1, F16>(t),
                5 => tile::<5, 2, 1, F16>(t),
                6 => tile::<6, 2, 1, F16>(t),
                7 => tile::<7, 2, 1, F16>(t),
                8 => tile::<8, 1, 1, F16>(t),
                9 => tile::<9, 1, 1, F16>(t),
                10 => tile::<10, 1, 1, F16>(t),
                11 => tile::<11, 1, 1, F16>(t),
                12 => tile::<12, 1, 1, F16>(t),
                _ => debug_assert!(false, "mr out of range"),
            }
        }
        if t.last && t.act != Act::None {
            // Second pass over the freshly stored tile (hot in L1): one
            // branch-free loop per activation instead of a dispatch per
            // vector inside the register epilogue.
            act_tile(t.act, t.c, t.ldc, mr.min(12), t.nv.min(2 * NR));
        }
    }
}

/// `MR x (16 H)` tile: `MR * H` zmm accumulators (times `S`), A broadcast,
/// `H` B vectors per kk (f16 weights widened with `vcvtph2ps`).
#[inline]
#[target_feature(enable = "avx512f,fma,f16c")]
unsafe fn tile<const MR: usize, const S: usize, const H: usize, const F16: bool>(t: &Tile) {
    let mut acc = [[[_mm512_setzero_ps(); H]; MR]; S];
    let (a, lda) = (t.a, t.lda);
    let esz = if F16 { 2 } else { 4 };
    let step = |acc: &mut [[__m512; H]; MR], kk: usize| {
        // SAFETY: kk < kc, so the NR weights of row kk lie inside panel p
        // (and p + 1 when H == 2, which the caller only uses for nv > NR),
        // and A[r][kk] inside row r of the validated A block.
        unsafe {
            let bp = t.b.add(kk * NR * esz);
            let mut bv = [_mm512_setzero_ps(); H];
            for (h, v) in bv.iter_mut().enumerate() {
                let q = bp.add(h * t.bstride);
                *v = if F16 {
                    _mm512_cvtph_ps(_mm256_loadu_si256(q as *const __m256i))
                } else {
                    _mm512_loadu_ps(q as *const f32)
                };
            }
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * lda + kk));
                for (acch, &b) in accr.iter_mut().zip(&bv) {
                    *acch = _mm512_fmadd_ps(av, b, *acch);
                }
            }
        }
    };
    // Unrolled by U so that the A row addresses are formed once per U
    // steps (the broadcasts then differ only by a displacement). Not for
    // the largest tiles: there LLVM hoists the extra broadcasts and spills.
    let unroll = if MR * H <= 20 { 4 } else { 1 };
    let kmain = t.kc / (S * unroll) * (S * unroll);
    let mut kk = 0;
    while kk < kmain {
        for u in 0..unroll {
            for (s, a) in acc.iter_mut().enumerate() {
                step(a, kk + u * S + s);
            }
        }
        kk += S * unroll;
    }
    while kk < t.kc {
        step(&mut acc[0], kk);
        kk += 1;
    }
    let (head, rest) = acc.split_at_mut(1);
    for other in rest.iter() {
        for (dr, sr) in head[0].iter_mut().zip(other) {
            for (d, s) in dr.iter_mut().zip(sr) {
                *d = _mm512_add_ps(*d, *s);
            }
        }
    }
    let acc = head[0];

    // Register epilogue: accumulate into C unless first K block, add the
    // bias on the last one, masked store. The activation runs afterwards
    // (`act_tile`).
    let mut masks = [0 as __mmask16; H];
    for (h, k) in masks.iter_mut().enumerate() {
        *k = lane_mask(t.nv.saturating_sub(h * NR));
    }
    let mut bias = [_mm512_setzero_ps(); H];
    if t.last && !t.bias.is_null() {
        for h in 0..H {
            // SAFETY: bias has nv valid entries from t.bias; the masked load
            // touches only lanes < nv - 16h, and h*16 < nv for every h < H.
            bias[h] = unsafe { _mm512_maskz_loadu_ps(masks[h], t.bias.add(h * NR)) };
        }
    }
    for (r, accr) in acc.iter().enumerate() {
        for h in 0..H {
            // SAFETY: row r < mr of the validated C tile; only the lanes
            // selected by masks[h] (columns < nv) are accessed.
            unsafe {
                let cp = t.c.add(r * t.ldc + h * NR);
                let mut v = accr[h];
                if !t.first {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(masks[h], cp));
                }
                v = _mm512_add_ps(v, bias[h]);
                _mm512_mask_storeu_ps(cp, masks[h], v);
            }
        }
    }
}
