//! Kernel benchmarks: `cargo bench --bench kernels`. Scalar reference against the fast kernels
//! this CPU has (on an AVX-512 machine both the AVX2 and the AVX-512 code, side by side), on
//! the shapes the test models use (batch 20 rows) and those of the shipped trajectory nets
//! (d = 96, MLP 384; 20 modes of one agent, and of 64 agents), and the finiteness scan of a
//! sample (one agent and 1,024).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fewstep::cpu::gemm::{gemm_f16, gemm_f32, gemm_ref, pack_b_f16, pack_b_f32};
use fewstep::cpu::{Act, Isa, finite, norm, unary};
use fewstep::rng::Rng;
use std::hint::black_box;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0; n];
    Rng::new(seed).fill_normal(&mut v);
    v
}

/// The fast kernels this CPU runs: the detected one and, below it, AVX2 when AVX-512 is there.
fn fast_isas() -> Vec<Isa> {
    let best = Isa::detect();
    if best == Isa::Avx512 {
        vec![Isa::Avx2Fma, Isa::Avx512]
    } else {
        vec![best]
    }
}

fn gemm(c: &mut Criterion) {
    for (m, k, n) in [
        (20, 256, 256),
        (120, 256, 256),
        (20, 41, 256),
        (20, 256, 24),
        (20, 96, 384),
        (20, 384, 96),
        (1280, 96, 384),
        (1280, 384, 96),
    ] {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let bias = data(n, 3);
        let (pf, ph) = (pack_b_f32(&b, k, n), pack_b_f16(&b, k, n));
        let mut out = vec![0.0; m * n];
        let mut g = c.benchmark_group(format!("gemm {m}x{k}x{n}"));
        g.throughput(Throughput::Elements((2 * m * k * n) as u64)); // FLOPs
        g.bench_function("scalar reference", |bch| {
            bch.iter(|| {
                gemm_ref(
                    m,
                    n,
                    k,
                    black_box(&a),
                    k,
                    &b,
                    n,
                    Some(&bias),
                    Act::Gelu,
                    &mut out,
                    n,
                )
            })
        });
        for isa in fast_isas() {
            g.bench_function(format!("f32 {}", isa.name()), |bch| {
                bch.iter(|| {
                    gemm_f32(
                        isa,
                        m,
                        black_box(&a),
                        k,
                        &pf,
                        Some(&bias),
                        Act::Gelu,
                        &mut out,
                        n,
                    )
                })
            });
            g.bench_function(format!("f16 weights {}", isa.name()), |bch| {
                bch.iter(|| {
                    gemm_f16(
                        isa,
                        m,
                        black_box(&a),
                        k,
                        &ph,
                        Some(&bias),
                        Act::Gelu,
                        &mut out,
                        n,
                    )
                })
            });
        }
        g.finish();
    }
}

fn elementwise(c: &mut Criterion) {
    let isa = Isa::detect();
    let x = data(20 * 256, 4);
    let mut y = vec![0.0; x.len()];
    let gamma = data(256, 5);
    let beta = data(256, 6);
    let mut g = c.benchmark_group("rows 20x256");
    g.bench_function("layer_norm reference (f64)", |b| {
        b.iter(|| norm::layer_norm_ref(black_box(&x), 256, &gamma, Some(&beta), 1e-5, &mut y))
    });
    g.bench_function(format!("layer_norm {}", isa.name()), |b| {
        b.iter(|| norm::layer_norm(isa, black_box(&x), 256, &gamma, Some(&beta), 1e-5, &mut y))
    });
    g.bench_function(format!("softmax {}", isa.name()), |b| {
        b.iter(|| norm::softmax(isa, black_box(&x), 256, &mut y))
    });
    for u in [unary::Unary::Gelu, unary::Unary::Silu, unary::Unary::Exp] {
        g.bench_function(format!("{u:?} scalar"), |b| {
            b.iter(|| unary::apply_unary(Isa::Scalar, u, black_box(&x), &mut y))
        });
        g.bench_function(format!("{u:?} {}", isa.name()), |b| {
            b.iter(|| unary::apply_unary(isa, u, black_box(&x), &mut y))
        });
    }
    g.finish();
}

/// The NaN/infinity scan every sample runs on its inputs and output: one agent's sample (20
/// futures of 24 values) and 1,024 agents'.
fn finite_scan(c: &mut Criterion) {
    for n in [480, 1024 * 480] {
        let x = data(n, 7);
        let mut g = c.benchmark_group(format!("finite scan {n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("reference (position)", |b| {
            b.iter(|| finite::first_non_finite_ref(black_box(&x)))
        });
        g.bench_function("branch-free", |b| {
            b.iter(|| finite::first_non_finite(black_box(&x)))
        });
        g.finish();
    }
}

criterion_group!(benches, gemm, elementwise, finite_scan);
criterion_main!(benches);
