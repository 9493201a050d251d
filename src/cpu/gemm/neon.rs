//! aarch64 Advanced SIMD microkernel for `gemm` (6x16 tiles: 24 q-register
//! accumulators, `fmla` by scalar, 4 B vectors per kk).
//!
//! f16 weights are widened with `fcvtl`/`fcvtl2` (base ARMv8.0 Advanced
//! SIMD) through inline assembly, because the `float16x4_t` intrinsics are
//! not stable Rust. The epilogue (accumulate, bias, activation) runs per
//! element on a stack row buffer with the f32 scalar activations.

use super::super::unary::act_fast;
use super::{NR, Tile};
use core::arch::aarch64::*;

/// f32-weight microkernel entry (`mr` in 1..=6).
///
/// # Safety
/// neon is available and `t` describes memory as built by `drive`.
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

#[target_feature(enable = "neon")]
unsafe fn dispatch<const F16: bool>(t: &Tile, mr: usize) {
    // SAFETY: forwarded contract; each arm handles exactly `mr` rows.
    unsafe {
        match mr {
            1 => tile::<1, F16>(t),
            2 => tile::<2, F16>(t),
            3 => tile::<3, F16>(t),
            4 => tile::<4, F16>(t),
            5 => tile::<5, F16>(t),
            6 => tile::<6, F16>(t),
            _ => debug_assert!(false, "mr out of range"),
        }
    }
}

/// Widens the low four halves of `h` to f32.
#[inline(always)]
fn cvt_lo(h: uint16x8_t) -> float32x4_t {
    let r: float32x4_t;
    // SAFETY: `fcvtl` only reads one vector register and writes another; no
    // memory, stack or flags are touched.
    unsafe {
        core::arch::asm!(
            "fcvtl {0:v}.4s, {1:v}.4h",
            lateout(vreg) r,
            in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    r
}

/// Widens the high four halves of `h` to f32.
#[inline(always)]
fn cvt_hi(h: uint16x8_t) -> float32x4_t {
    let r: float32x4_t;
    // SAFETY: as `cvt_lo` (`fcvtl2`).
    unsafe {
        core::arch::asm!(
            "fcvtl2 {0:v}.4s, {1:v}.8h",
            lateout(vreg) r,
            in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    r
}

#[inline]
#[target_feature(enable = "neon")]
unsafe fn tile<const MR: usize, const F16: bool>(t: &Tile) {
    let mut acc = [[vdupq_n_f32(0.0); 4]; MR];
    let mut rows = [t.a; MR];
    for (r, p) in rows.iter_mut().enumerate() {
        *p = t.a.wrapping_add(r * t.lda);
    }
    let esz = if F16 { 2 } else { 4 };
    for kk in 0..t.kc {
        // SAFETY: kk < kc: the NR weights of row kk lie inside the panel and
        // A[r][kk] inside row r of the validated A block.
        unsafe {
            let bp = t.b.add(kk * NR * esz);
            let b: [float32x4_t; 4] = if F16 {
                let h = bp as *const u16;
                let lo = vld1q_u16(h);
                let hi = vld1q_u16(h.add(8));
                [cvt_lo(lo), cvt_hi(lo), cvt_lo(hi), cvt_hi(hi)]
            } else {
                let f = bp as *const f32;
                [
                    vld1q_f32(f),
                    vld1q_f32(f.add(4)),
                    vld1q_f32(f.add(8)),
                    vld1q_f32(f.add(12)),
                ]
            };
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = *rows[r].add(kk);
                for q in 0..4 {
                    accr[q] = vfmaq_n_f32(accr[q], b[q], av);
                }
            }
        }
    }
    for (r, accr) in acc.iter().enumerate() {
        let mut row = [0.0f32; NR];
        for (q, v) in accr.iter().enumerate() {
            // SAFETY: `row` has NR = 16 floats; q*4+4 <= 16.
            unsafe { vst1q_f32(row.as_mut_ptr().add(4 * q), *v) };
        }
        for (j, &acc_v) in row.iter().enumerate().take(t.nv) {
            // SAFETY: element (r, j) of the validated C tile, j < nv; bias
            // has nv valid entries when non-null.
            unsafe {
                let cp = t.c.add(r * t.ldc + j);
                let mut v = acc_v;
                if !t.first {
                    v += *cp;
                }
                if t.last {
                    if !t.bias.is_null() {
                        v += *t.bias.add(j);
                    }
                    v = act_fast(t.act, v);
                }
                *cp = v;
            }
        }
    }
}
