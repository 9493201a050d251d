//! Matrix multiplication kernels.
//!
//! * [`gemm_f32`] / [`gemm_f16`]: `C = act(A·B + bias)` against a weight
//!   matrix B packed once at session build ([`pack_b_f32`], [`pack_b_f16`]).
//!   x86_64 uses a 12x32 AVX-512 register-tile microkernel (two panels at
//!   once) or a 6x16 AVX2/FMA one, aarch64 a 6x16 NEON one; all block K by
//!   [`KC`] to keep a panel slice in L1.
//! * [`matmul_strided`]: general strided product for activation x activation
//!   (attention), with vectorised fast paths.
//!
//! Contracts on lengths are checked in O(1) at entry. They are `debug_assert!`ed;
//! in a release build a call that violates them returns without writing C
//! (no panic, and never an out-of-bounds access).

use super::unary::act_scalar;
use super::{Act, Isa};
use core::ptr;
use half::f16;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

/// Packed panel width (columns of B per panel).
pub const NR: usize = 16;
/// K blocking of the packed kernels: at most this many rows of a panel are
/// streamed per pass (16 KiB of f32 weights, fits L1 with the A rows).
pub const KC: usize = 256;
/// Most rows one AVX2 / NEON microkernel call handles.
const MR_MAX: usize = 6;
/// Most rows one AVX-512 microkernel call handles (12 x 32 tile: 24 zmm
/// accumulators, 2 for B, 1 for the A broadcast, of 32 registers).
#[cfg(target_arch = "x86_64")]
const MR_MAX_512: usize = 12;

/// Weight matrix B (k x n, row-major input) repacked at session build into
/// `ceil(n/NR)` panels; panel `p` holds, for each `kk` in `0..k`, the `NR`
/// values `B[kk][p*NR .. p*NR+NR]` (zero-padded past n).
///
/// Invariant (upheld by the packing functions, the fields are private):
/// `data.len() == ceil(n/NR) * k * NR`.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedB<T> {
    k: usize,
    n: usize,
    data: Vec<T>,
}

impl<T> PackedB<T> {
    /// Rows of B (the reduction dimension).
    pub fn k(&self) -> usize {
        self.k
    }
    /// Columns of B (the output width).
    pub fn n(&self) -> usize {
        self.n
    }
    /// Bytes held by the packed data (including the zero padding).
    pub fn bytes(&self) -> usize {
        self.data.len() * core::mem::size_of::<T>()
    }
    /// The packed panels, laid out as documented on the type.
    pub fn data(&self) -> &[T] {
        &self.data
    }
}

fn pack_with<T: Copy + Default>(
    b: &[f32],
    k: usize,
    n: usize,
    conv: impl Fn(f32) -> T,
) -> PackedB<T> {
    assert!(
        k.checked_mul(n).is_some_and(|kn| b.len() >= kn),
        "pack_b: b has {} elements, need k*n = {k}*{n}",
        b.len()
    );
    let np = n.div_ceil(NR);
    let mut data = vec![T::default(); np * k * NR];
    for p in 0..np {
        let nv = NR.min(n - p * NR);
        for kk in 0..k {
            let src = &b[kk * n + p * NR..][..nv];
            let dst = &mut data[(p * k + kk) * NR..][..nv];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = conv(s);
            }
        }
    }
    PackedB { k, n, data }
}

/// Packs a row-major `k x n` f32 matrix (`b.len() >= k*n`, else panics:
/// this runs at session build, not on the hot path). Allocates.
pub fn pack_b_f32(b: &[f32], k: usize, n: usize) -> PackedB<f32> {
    pack_with(b, k, n, |v| v)
}

/// Packs a row-major `k x n` f32 matrix into f16 (round to nearest even;
/// values beyond ±65504 become ±inf). Half the bytes of [`pack_b_f32`].
pub fn pack_b_f16(b: &[f32], k: usize, n: usize) -> PackedB<f16> {
    pack_with(b, k, n, f16::from_f32)
}

/// O(1) validation shared by the packed GEMMs.
#[allow(clippy::too_many_arguments)]
fn gemm_args_ok(
    m: usize,
    k: usize,
    n: usize,
    a_len: usize,
    lda: usize,
    bias: Option<&[f32]>,
    c_len: usize,
    ldc: usize,
) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    let need = |rows: usize, ld: usize, w: usize| {
        (rows - 1).checked_mul(ld).and_then(|v| v.checked_add(w))
    };
    (m == 1 || (lda >= k && ldc >= n))
        && need(m, lda, k).is_some_and(|v| v <= a_len)
        && need(m, ldc, n).is_some_and(|v| v <= c_len)
        && bias.is_none_or(|b| b.len() >= n)
}

/// Arguments of one microkernel call. All pointers are derived from
/// validated slices by [`drive`].
pub(crate) struct Tile {
    /// Rows of the K block.
    pub kc: usize,
    /// First A element of the tile (row r0, column k0).
    pub a: *const f32,
    pub lda: usize,
    /// Panel data at row k0 (f32 or f16, NR elements per kk).
    pub b: *const u8,
    /// Bytes from one panel to the next (`k * NR * element size`); used by
    /// kernels that handle two panels per call (only the AVX-512 one today).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub bstride: usize,
    /// C element (r0, p*NR).
    pub c: *mut f32,
    pub ldc: usize,
    /// Valid columns of this tile, 1..=NR * (panels per call); columns past
    /// NR only exist (and are only touched) when nv > NR.
    pub nv: usize,
    /// Null, or bias + p*NR (nv valid entries).
    pub bias: *const f32,
    pub act: Act,
    /// First K block: overwrite C instead of accumulating into it.
    pub first: bool,
    /// Last K block: add bias and apply the activation.
    pub last: bool,
}

/// A microkernel: computes the tile for `mr` (1..=mr_max) rows.
type TileFn = unsafe fn(&Tile, usize);

/// Blocking driver shared by the SIMD backends: each `tile` call covers at
/// most `mr_max` rows and `panels` consecutive panels (`panels * NR`
/// columns, fewer at the right edge).
///
/// # Safety
/// `gemm_args_ok` holds for these arguments, `b` points at the
/// `ceil(n/NR)*k*NR` elements of size `esz` of a [`PackedB`], the ISA
/// required by `tile` is available, and `tile` handles `mr_max` rows and
/// `panels * NR` columns.
#[allow(clippy::too_many_arguments)]
unsafe fn drive(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: *const u8,
    esz: usize,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
    ldc: usize,
    tile: TileFn,
    mr_max: usize,
    panels: usize,
) {
    let cols = NR * panels;
    let ng = n.div_ceil(cols);
    let nkb = k.div_ceil(KC).max(1);
    let kcb = k.div_ceil(nkb);
    let nrb = m.div_ceil(mr_max);
    let (ap, cp) = (a.as_ptr(), c.as_mut_ptr());
    for kb in 0..nkb {
        let k0 = kb * kcb;
        let kc = kcb.min(k.saturating_sub(k0));
        for g in 0..ng {
            let p = g * panels;
            let nv = cols.min(n - p * NR);
            let bias_p = bias.map_or(ptr::null(), |bs| bs.as_ptr().wrapping_add(p * NR));
            for rb in 0..nrb {
                // Balanced row blocks: e.g. m = 20 gives 5,5,5,5 rather than 6,6,6,2.
                let r0 = rb * m / nrb;
                let r1 = (rb + 1) * m / nrb;
                let t = Tile {
                    kc,
                    a: ap.wrapping_add(r0 * lda + k0),
                    lda,
                    b: b.wrapping_add((p * k + k0) * NR * esz),
                    bstride: k * NR * esz,
                    c: cp.wrapping_add(r0 * ldc + p * NR),
                    ldc,
                    nv,
                    bias: bias_p,
                    act,
                    first: kb == 0,
                    last: kb + 1 == nkb,
                };
                // SAFETY: the tile lies inside the validated A, C, bias and
                // packed B (rows r0..r1 < m with r1 - r0 <= mr_max, columns
                // p*NR..p*NR+nv <= n, panels p..ceil((p*NR+nv)/NR) exist,
                // k0+kc <= k); the caller guarantees the ISA.
                unsafe { tile(&t, r1 - r0) };
            }
        }
    }
}

/// Element types a packed B can hold.
trait Weight: Copy {
    fn to_f32(self) -> f32;
}
impl Weight for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl Weight for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

/// Portable kernel on the packed layout (4 x NR register-friendly tiles).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn gemm_scalar<T: Weight>(
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB<T>,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
    ldc: usize,
) {
    const MR: usize = 4;
    let (k, n) = (b.k, b.n);
    for p in 0..n.div_ceil(NR) {
        let nv = NR.min(n - p * NR);
        let panel = &b.data[p * k * NR..(p + 1) * k * NR];
        let mut i0 = 0;
        while i0 < m {
            let mr = MR.min(m - i0);
            let mut acc = [[0.0f32; NR]; MR];
            for kk in 0..k {
                let mut bv = [0.0f32; NR];
                for (d, s) in bv.iter_mut().zip(&panel[kk * NR..kk * NR + NR]) {
                    *d = s.to_f32();
                }
                for r in 0..mr {
                    let av = a[(i0 + r) * lda + kk];
                    for j in 0..NR {
                        acc[r][j] += av * bv[j];
                    }
                }
            }
            for r in 0..mr {
                let crow = &mut c[(i0 + r) * ldc + p * NR..][..nv];
                for j in 0..nv {
                    let mut v = acc[r][j];
                    if let Some(bs) = bias {
                        v += bs[p * NR + j];
                    }
                    crow[j] = act_scalar(act, v);
                }
            }
            i0 += mr;
        }
    }
}

/// `C = act(A·B + bias)` with f32 weights.
///
/// A is `m x k` (k = `b.k()`) with row stride `lda`; C is `m x n`
/// (n = `b.n()`) with row stride `ldc`; `bias` has at least n entries.
/// Contract: `a.len() >= (m-1)*lda + k`, `c.len() >= (m-1)*ldc + n`,
/// `lda >= k`, `ldc >= n` (strides only matter when m > 1). C is fully
/// overwritten (columns `0..n` of each row), A and B are not modified.
/// No allocation; summation order differs from [`gemm_ref`] (error bounded
/// by ~k·ε·Σ|a||b|).
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32(
    isa: Isa,
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB<f32>,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
    ldc: usize,
) {
    let ok = gemm_args_ok(m, b.k, b.n, a.len(), lda, bias, c.len(), ldc);
    debug_assert!(
        ok,
        "gemm_f32: slice lengths or strides violate the contract"
    );
    if !ok || m == 0 || b.n == 0 {
        return;
    }
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: arguments validated above, packed data obeys the PackedB
        // invariant, and `resolve` confirmed avx512f+fma+f16c; the 512-bit
        // kernel handles MR_MAX_512 rows and two panels.
        Isa::Avx512 => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                4,
                bias,
                act,
                c,
                ldc,
                avx512::tile_f32,
                MR_MAX_512,
                2,
            )
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: arguments validated above, packed data obeys the PackedB
        // invariant, and `resolve` confirmed avx2+fma+f16c.
        Isa::Avx2Fma => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                4,
                bias,
                act,
                c,
                ldc,
                avx2::tile_f32,
                MR_MAX,
                1,
            )
        },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above; `resolve` confirmed neon.
        Isa::Neon => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                4,
                bias,
                act,
                c,
                ldc,
                neon::tile_f32,
                MR_MAX,
                1,
            )
        },
        _ => gemm_scalar(m, a, lda, b, bias, act, c, ldc),
    }
}

/// `C = act(A·B + bias)` with f16 weights converted on the fly, f32
/// accumulation. Same contract as [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_f16(
    isa: Isa,
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB<f16>,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
    ldc: usize,
) {
    let ok = gemm_args_ok(m, b.k, b.n, a.len(), lda, bias, c.len(), ldc);
    debug_assert!(
        ok,
        "gemm_f16: slice lengths or strides violate the contract"
    );
    if !ok || m == 0 || b.n == 0 {
        return;
    }
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: arguments validated above, packed data obeys the PackedB
        // invariant, and `resolve` confirmed avx512f+fma+f16c; the 512-bit
        // kernel handles MR_MAX_512 rows and two panels.
        Isa::Avx512 => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                2,
                bias,
                act,
                c,
                ldc,
                avx512::tile_f16,
                MR_MAX_512,
                2,
            )
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: arguments validated above, packed data obeys the PackedB
        // invariant, and `resolve` confirmed avx2+fma+f16c.
        Isa::Avx2Fma => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                2,
                bias,
                act,
                c,
                ldc,
                avx2::tile_f16,
                MR_MAX,
                1,
            )
        },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above; `resolve` confirmed neon.
        Isa::Neon => unsafe {
            drive(
                m,
                b.k,
                b.n,
                a,
                lda,
                b.data.as_ptr().cast(),
                2,
                bias,
                act,
                c,
                ldc,
                neon::tile_f16,
                MR_MAX,
                1,
            )
        },
        _ => gemm_scalar(m, a, lda, b, bias, act, c, ldc),
    }
}

/// Scalar reference on an unpacked row-major B (`k x n`, row stride `ldb`):
/// `C[i][j] = act_scalar(act, (Σ_kk A[i][kk]·B[kk][j] + bias[j]) as f32)`
/// with the sum and bias add in f64. Used by tests as the independent
/// reference; panics (index out of bounds) on short slices.
#[allow(clippy::too_many_arguments)]
pub fn gemm_ref(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    bias: Option<&[f32]>,
    act: Act,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for kk in 0..k {
                s += a[i * lda + kk] as f64 * b[kk * ldb + j] as f64;
            }
            if let Some(bs) = bias {
                s += bs[j] as f64;
            }
            c[i * ldc + j] = act_scalar(act, s as f32);
        }
    }
}

/// O(1) validation for [`matmul_strided`].
#[allow(clippy::too_many_arguments)]
fn strided_args_ok(
    m: usize,
    n: usize,
    k: usize,
    a_len: usize,
    rsa: usize,
    csa: usize,
    b_len: usize,
    rsb: usize,
    csb: usize,
    c_len: usize,
    ldc: usize,
) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    // Largest index touched by `x[i*rs + j*cs]` for i < r, j < c, plus one.
    let end = |r: usize, rs: usize, c: usize, cs: usize| {
        (r - 1)
            .checked_mul(rs)
            .and_then(|v| v.checked_add((c - 1).checked_mul(cs)?))
            .and_then(|v| v.checked_add(1))
    };
    let c_ok = (m == 1 || ldc >= n) && end(m, ldc, n, 1).is_some_and(|v| v <= c_len);
    c_ok && (k == 0
        || (end(m, rsa, k, csa).is_some_and(|v| v <= a_len)
            && end(k, rsb, n, csb).is_some_and(|v| v <= b_len)))
}

/// General strided matmul for activation x activation products (attention:
/// Q·Kᵀ, P·V):
/// `C[i][j] = alpha * Σ_kk A[i*rsa + kk*csa] * B[kk*rsb + j*csb]`,
/// C with row stride `ldc` and column stride 1; C is overwritten.
///
/// Contract: every index above is in bounds (`a.len() > (m-1)*rsa + (k-1)*csa`,
/// `b.len() > (k-1)*rsb + (n-1)*csb`, `c.len() >= (m-1)*ldc + n`, `ldc >= n`);
/// any strides (including 0) are accepted. Fast paths on `Isa::Avx2Fma` and
/// `Isa::Avx512`:
/// `csb == 1` (axpy over contiguous B rows) and `csa == 1 && rsb == 1`
/// (dot products of contiguous vectors). Other layouts, and other ISAs, use a
/// scalar f32 loop. No allocation.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    let ok = strided_args_ok(m, n, k, a.len(), rsa, csa, b.len(), rsb, csb, c.len(), ldc);
    debug_assert!(
        ok,
        "matmul_strided: slice lengths or strides violate the contract"
    );
    if !ok || m == 0 || n == 0 {
        return;
    }
    match isa.resolve() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma | Isa::Avx512 if k > 0 && csb == 1 => {
            // SAFETY: bounds validated above; `resolve` confirmed avx2+fma+f16c
            // (`Avx512` implies them).
            unsafe {
                avx2::strided_axpy(
                    m,
                    n,
                    k,
                    alpha,
                    a.as_ptr(),
                    rsa,
                    csa,
                    b.as_ptr(),
                    rsb,
                    c.as_mut_ptr(),
                    ldc,
                )
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma | Isa::Avx512 if k > 0 && csa == 1 && rsb == 1 => {
            // SAFETY: bounds validated above; `resolve` confirmed avx2+fma+f16c
            // (`Avx512` implies them).
            unsafe {
                avx2::strided_dot(
                    m,
                    n,
                    k,
                    alpha,
                    a.as_ptr(),
                    rsa,
                    b.as_ptr(),
                    csb,
                    c.as_mut_ptr(),
                    ldc,
                )
            }
        }
        _ => {
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0f32;
                    for kk in 0..k {
                        s += a[i * rsa + kk * csa] * b[kk * rsb + j * csb];
                    }
                    c[i * ldc + j] = alpha * s;
                }
            }
        }
    }
}

/// Reference for [`matmul_strided`] (f64 accumulation, then
/// `(alpha * sum) as f32`). Panics on out-of-bounds indices.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided_ref(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    ldc: usize,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for kk in 0..k {
                s += a[i * rsa + kk * csa] as f64 * b[kk * rsb + j * csb] as f64;
            }
            c[i * ldc + j] = (alpha as f64 * s) as f32;
        }
    }
}
