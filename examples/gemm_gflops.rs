//! Timing loop for the packed GEMMs: `cargo run --release --example gemm_gflops`.
//! Prints the median GFLOP/s over many runs, and (x86_64) the measured
//! single-core AVX2 FMA peak for reference.

use fewstep::cpu::gemm::{gemm_f16, gemm_f32, pack_b_f16, pack_b_f32};
use fewstep::cpu::{Act, Isa};
use std::hint::black_box;
use std::time::Instant;

fn median_secs(mut f: impl FnMut(), iters: usize, runs: usize) -> f64 {
    for _ in 0..iters {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..iters {
                f();
            }
            s.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_peak_gflops() -> f64 {
    use core::arch::x86_64::*;
    let iters = 20_000_000usize;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let (mut x0, mut x1, mut x2, mut x3, mut x4, mut x5) = (a, b, a, b, a, b);
    let (mut x6, mut x7, mut x8, mut x9, mut x10, mut x11) = (a, b, a, b, a, b);
    let s = Instant::now();
    for _ in 0..iters {
        x0 = _mm256_fmadd_ps(x0, a, b);
        x1 = _mm256_fmadd_ps(x1, a, b);
        x2 = _mm256_fmadd_ps(x2, a, b);
        x3 = _mm256_fmadd_ps(x3, a, b);
        x4 = _mm256_fmadd_ps(x4, a, b);
        x5 = _mm256_fmadd_ps(x5, a, b);
        x6 = _mm256_fmadd_ps(x6, a, b);
        x7 = _mm256_fmadd_ps(x7, a, b);
        x8 = _mm256_fmadd_ps(x8, a, b);
        x9 = _mm256_fmadd_ps(x9, a, b);
        x10 = _mm256_fmadd_ps(x10, a, b);
        x11 = _mm256_fmadd_ps(x11, a, b);
    }
    let dt = s.elapsed().as_secs_f64();
    black_box((x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11));
    (iters * 12 * 16) as f64 / dt / 1e9
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: features checked just above. Best of 5 (the first runs warm the clock up).
        let peak = (0..5)
            .map(|_| unsafe { fma_peak_gflops() })
            .fold(0.0, f64::max);
        println!("measured AVX2 FMA peak, one core: {peak:.1} GFLOP/s");
    }
    for (m, k, n) in [
        (1, 256, 256),
        (20, 256, 256),
        (120, 256, 256),
        (64, 1024, 1024),
    ] {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 997) as f32 * 1e-3 - 0.5)
            .collect();
        let bias = vec![0.1f32; n];
        let (p32, p16) = (pack_b_f32(&b, k, n), pack_b_f16(&b, k, n));
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let iters = ((2e-3 / (flops / 20e9)) as usize).max(1);
        for isa in Isa::available() {
            let t32 = median_secs(
                || {
                    gemm_f32(
                        isa,
                        m,
                        black_box(&a),
                        k,
                        &p32,
                        Some(&bias),
                        Act::None,
                        &mut c,
                        n,
                    )
                },
                iters,
                101,
            );
            let t16 = median_secs(
                || {
                    gemm_f16(
                        isa,
                        m,
                        black_box(&a),
                        k,
                        &p16,
                        Some(&bias),
                        Act::None,
                        &mut c,
                        n,
                    )
                },
                iters,
                101,
            );
            let tg = median_secs(
                || {
                    gemm_f32(
                        isa,
                        m,
                        black_box(&a),
                        k,
                        &p32,
                        Some(&bias),
                        Act::Gelu,
                        &mut c,
                        n,
                    )
                },
                iters,
                101,
            );
            println!(
                "{:>14} m={m:<4} k={k:<5} n={n:<5} f32 {:6.1} GFLOP/s ({:7.2} us)  f16 {:6.1} GFLOP/s ({:7.2} us)  f32+gelu {:7.2} us",
                isa.name(),
                flops / t32 / 1e9,
                t32 * 1e6,
                flops / t16 / 1e9,
                t16 * 1e6,
                tg * 1e6
            );
        }
    }
}
