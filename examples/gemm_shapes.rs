//! Timing loop for the packed GEMMs at the shapes of the AVX-512 work, plus
//! epilogue / softmax / unary timings:
//! `cargo run --release --example gemm_shapes`.
//! Prints median GFLOP/s (or us) over many runs for every available `Isa`,
//! and the measured single-core AVX2 and AVX-512 FMA peaks.

use fewstep::cpu::gemm::{gemm_f16, gemm_f32, pack_b_f16, pack_b_f32};
use fewstep::cpu::norm::{layer_norm, softmax};
use fewstep::cpu::unary::{Unary, apply_unary};
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
fn fma_peak_avx2() -> f64 {
    use core::arch::x86_64::*;
    let iters = 20_000_000usize;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut x = [a; 12];
    let s = Instant::now();
    for _ in 0..iters {
        for v in x.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let dt = s.elapsed().as_secs_f64();
    black_box(x);
    (iters * 12 * 16) as f64 / dt / 1e9
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn fma_peak_avx512() -> f64 {
    use core::arch::x86_64::*;
    let iters = 20_000_000usize;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut x = [a; 12];
    let s = Instant::now();
    for _ in 0..iters {
        for v in x.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let dt = s.elapsed().as_secs_f64();
    black_box(x);
    (iters * 12 * 32) as f64 / dt / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only_gemm = args.iter().any(|a| a == "gemm");
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: features checked just above.
            let p = (0..5)
                .map(|_| unsafe { fma_peak_avx2() })
                .fold(0.0, f64::max);
            println!("measured AVX2 FMA peak, one core: {p:.1} GFLOP/s");
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: features checked just above.
            let p = (0..5)
                .map(|_| unsafe { fma_peak_avx512() })
                .fold(0.0, f64::max);
            println!("measured AVX-512 FMA peak, one core: {p:.1} GFLOP/s");
        }
    }
    for (m, k, n) in [
        (1, 256, 256),
        (20, 256, 256),
        (120, 256, 256),
        (400, 64, 256),
        (400, 256, 64),
        // the shipped students (d = 96, MLP ratio 4) on 20 modes of 1 agent and of 64 agents
        (20, 96, 96),
        (20, 96, 384),
        (20, 384, 96),
        (1280, 24, 96),
        (1280, 96, 96),
        (1280, 96, 384),
        (1280, 384, 96),
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
            if isa == Isa::Scalar {
                continue;
            }
            let g32 = |act, c: &mut [f32]| {
                median_secs(
                    || gemm_f32(isa, m, black_box(&a), k, &p32, Some(&bias), act, c, n),
                    iters,
                    101,
                )
            };
            let t32 = g32(Act::None, &mut c);
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
            let mut line = format!(
                "{:>14} m={m:<4} k={k:<4} n={n:<4} f32 {:6.1} GFLOP/s  f16 {:6.1} GFLOP/s",
                isa.name(),
                flops / t32 / 1e9,
                flops / t16 / 1e9,
            );
            if !only_gemm {
                for (nm, act) in [
                    ("gelu", Act::Gelu),
                    ("gelu_tanh", Act::GeluTanh),
                    ("silu", Act::Silu),
                ] {
                    let t = g32(act, &mut c);
                    line += &format!("  +{nm} {:5.1}", flops / t / 1e9);
                }
            }
            println!("{line}");
        }
    }
    if only_gemm {
        return;
    }
    // Standalone elementwise / norm kernels.
    let x: Vec<f32> = (0..65536)
        .map(|i| ((i * 7919) % 1000) as f32 * 8e-3 - 4.0)
        .collect();
    let mut y = vec![0.0f32; x.len()];
    let gamma = vec![1.1f32; 768];
    let beta = vec![0.1f32; 768];
    for isa in Isa::available() {
        if isa == Isa::Scalar {
            continue;
        }
        let mut line = format!("{:>14}", isa.name());
        for op in [Unary::Gelu, Unary::GeluTanh, Unary::Silu, Unary::Exp] {
            let t = median_secs(|| apply_unary(isa, op, black_box(&x), &mut y), 20, 51);
            line += &format!("  {op:?} {:5.2} ns/el", t * 1e9 / x.len() as f64);
        }
        for d in [20usize, 64, 197] {
            let xs = &x[..x.len() / d * d];
            let t = median_secs(|| softmax(isa, black_box(xs), d, &mut y), 20, 51);
            line += &format!("  softmax{d} {:5.2} ns/el", t * 1e9 / xs.len() as f64);
        }
        let xs = &x[..x.len() / 768 * 768];
        let t = median_secs(
            || layer_norm(isa, black_box(xs), 768, &gamma, Some(&beta), 1e-5, &mut y),
            20,
            51,
        );
        line += &format!("  ln768 {:5.2} ns/el", t * 1e9 / xs.len() as f64);
        println!("{line}");
    }
}
