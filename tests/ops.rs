//! Every op of the native set, one small graph each, native f32 (and f16) against tract, and
//! the GPU backend (f32, packed f16 weights, SHADER_F16) against native f32 where an adapter
//! exists.
//! Shapes exercise broadcasting, non-last axes and batched layouts.

use fewstep::onnx::write::encode;
use fewstep::onnx::{Attr, Dim, GraphBuilder};
use fewstep::rng::Rng;
use fewstep::testing::{TOL_F16, TOL_F32, compare, gpu_configs};
use fewstep::{Backend, GpuF16Mode, Model, Precision, Session, SessionOptions};

/// Builds a graph with inputs of `shapes`, lets `body` wire it, and checks native vs tract.
fn check(
    name: &str,
    shapes: &[&[usize]],
    body: impl Fn(&mut GraphBuilder, &[String], &mut Rng) -> String,
) {
    let mut g = GraphBuilder::new(name);
    let mut rng = Rng::new(11);
    let ins: Vec<String> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            g.input(
                &format!("in{i}"),
                &s.iter().map(|&d| Dim::Fixed(d)).collect::<Vec<_>>(),
            )
        })
        .collect();
    let y = body(&mut g, &ins, &mut rng);
    g.node_named("Identity", &[&y], &[], "y");
    g.output("y", &[]);
    let model =
        Model::from_bytes(&encode(&g.finish(None))).unwrap_or_else(|e| panic!("{name}: {e}"));
    let data: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| {
            (0..s.iter().product())
                .map(|_| rng.normal() * 2.0)
                .collect()
        })
        .collect();
    let refs: Vec<&[f32]> = data.iter().map(|v| v.as_slice()).collect();
    let run_with = |backend, precision, gpu_f16| {
        let mut s = Session::new(
            &model,
            SessionOptions {
                backend,
                precision,
                gpu_f16,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name} {backend:?}: {e}"));
        let mut out = vec![0.0; s.output_lens()[0]];
        s.run(&refs, &mut [&mut out]).unwrap();
        out
    };
    let run = |backend, precision| run_with(backend, precision, GpuF16Mode::Auto);
    let want = run(Backend::Tract, Precision::F32);
    assert!(!want.is_empty(), "{name}: empty output");
    compare(&run(Backend::Native, Precision::F32), &want, TOL_F32)
        .unwrap_or_else(|e| panic!("{name} f32: {e}"));
    compare(&run(Backend::Native, Precision::F16), &want, TOL_F16)
        .unwrap_or_else(|e| panic!("{name} f16: {e}"));
    let native = run(Backend::Native, Precision::F32);
    for (precision, mode, tol) in gpu_configs() {
        compare(&run_with(Backend::Gpu, precision, mode), &native, tol)
            .unwrap_or_else(|e| panic!("{name} gpu {precision:?} {mode:?} vs native f32: {e}"));
    }
}

fn w(g: &mut GraphBuilder, rng: &mut Rng, shape: &[usize]) -> String {
    let data: Vec<f32> = (0..shape.iter().product()).map(|_| rng.normal()).collect();
    g.constant("w", shape, &data)
}

#[test]
fn binary_ops_with_broadcasting() {
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min"] {
        for (a, b) in [
            (&[2usize, 3, 4][..], &[2usize, 3, 4][..]),
            (&[2, 3, 4], &[4]),
            (&[2, 1, 4], &[3, 1]),
            (&[5], &[1]),
            (&[3, 1], &[1, 6]),
        ] {
            check(&format!("{op} {a:?} {b:?}"), &[a, b], |g, i, _| {
                g.node(op, &[&i[0], &i[1]], &[])
            });
        }
        check(&format!("{op} with const"), &[&[4, 8]], |g, i, r| {
            let c = w(g, r, &[8]);
            g.node(op, &[&i[0], &c], &[])
        });
    }
    check("Pow", &[&[3, 5]], |g, i, _| {
        let a = g.node("Abs", &[&i[0]], &[]);
        let two = g.constant("two", &[1], &[2.5]);
        g.node("Pow", &[&a, &two], &[])
    });
}

#[test]
fn unary_ops() {
    for op in [
        "Relu", "Sigmoid", "Tanh", "Sin", "Cos", "Exp", "Erf", "Abs", "Neg",
    ] {
        check(op, &[&[3, 17]], |g, i, _| g.node(op, &[&i[0]], &[]));
    }
    check("Gelu erf", &[&[3, 17]], |g, i, _| {
        g.node("Gelu", &[&i[0]], &[])
    });
    check("Gelu tanh", &[&[3, 17]], |g, i, _| {
        g.node("Gelu", &[&i[0]], &[Attr::Str("approximate", "tanh".into())])
    });
    check("SiLU", &[&[3, 17]], |g, i, _| {
        let s = g.node("Sigmoid", &[&i[0]], &[]);
        g.node("Mul", &[&i[0], &s], &[])
    });
    for op in ["Sqrt", "Log", "Reciprocal"] {
        check(op, &[&[2, 9]], |g, i, _| {
            let a = g.node("Abs", &[&i[0]], &[]);
            let c = g.constant("eps", &[1], &[0.25]);
            let a = g.node("Add", &[&a, &c], &[]);
            g.node(op, &[&a], &[])
        });
    }
}

#[test]
fn matmul_layouts() {
    check("MatMul act x act", &[&[5, 7], &[7, 3]], |g, i, _| {
        g.node("MatMul", &[&i[0], &i[1]], &[])
    });
    check("MatMul batched", &[&[2, 5, 7], &[2, 7, 3]], |g, i, _| {
        g.node("MatMul", &[&i[0], &i[1]], &[])
    });
    check("MatMul batch x const", &[&[2, 5, 7]], |g, i, r| {
        let b = w(g, r, &[7, 33]);
        g.node("MatMul", &[&i[0], &b], &[])
    });
    check("MatMul const x act", &[&[7, 4]], |g, i, r| {
        let a = w(g, r, &[3, 7]);
        g.node("MatMul", &[&a, &i[0]], &[])
    });
    check("MatMul vector", &[&[7], &[7, 3]], |g, i, _| {
        g.node("MatMul", &[&i[0], &i[1]], &[])
    });
    check("Gemm transB + bias + relu", &[&[6, 19]], |g, i, r| {
        let b = w(g, r, &[40, 19]);
        let c = w(g, r, &[40]);
        let y = g.node("Gemm", &[&i[0], &b, &c], &[Attr::Int("transB", 1)]);
        g.node("Relu", &[&y], &[])
    });
    check("Gemm transA alpha beta", &[&[19, 6]], |g, i, r| {
        let b = w(g, r, &[19, 5]);
        let c = w(g, r, &[5]);
        g.node(
            "Gemm",
            &[&i[0], &b, &c],
            &[
                Attr::Int("transA", 1),
                Attr::Float("alpha", 0.5),
                Attr::Float("beta", 2.0),
            ],
        )
    });
    check(
        "attention scores",
        &[&[2, 3, 5, 8], &[2, 3, 5, 8]],
        |g, i, _| {
            let kt = g.node(
                "Transpose",
                &[&i[1]],
                &[Attr::Ints("perm", vec![0, 1, 3, 2])],
            );
            g.node("MatMul", &[&i[0], &kt], &[])
        },
    );
    for act in ["Gelu", "Tanh", "Sigmoid"] {
        check(&format!("Linear+bias+{act}"), &[&[4, 33]], |g, i, r| {
            // weights at the usual 1/sqrt(fan-in) scale, as in a trained or initialised layer
            let wd: Vec<f32> = (0..33 * 70).map(|_| r.normal() / 33f32.sqrt()).collect();
            let bd: Vec<f32> = (0..70).map(|_| r.normal()).collect();
            let y = g.linear(&i[0], &wd, Some(&bd), 33, 70);
            g.node(act, &[&y], &[])
        });
    }
}

#[test]
fn norms_and_softmax() {
    check("LayerNorm", &[&[4, 3, 40]], |g, i, r| {
        let gamma: Vec<f32> = (0..40).map(|_| r.normal()).collect();
        let beta: Vec<f32> = (0..40).map(|_| r.normal()).collect();
        g.layer_norm(&i[0], &gamma, &beta, 1e-5)
    });
    check("LayerNorm no bias", &[&[4, 40]], |g, i, r| {
        let gamma = w(g, r, &[40]);
        g.node(
            "LayerNormalization",
            &[&i[0], &gamma],
            &[Attr::Int("axis", -1), Attr::Float("epsilon", 1e-3)],
        )
    });
    check("Softmax last", &[&[3, 4, 10]], |g, i, _| {
        g.node("Softmax", &[&i[0]], &[Attr::Int("axis", -1)])
    });
    check("Softmax middle", &[&[3, 4, 10]], |g, i, _| {
        g.node("Softmax", &[&i[0]], &[Attr::Int("axis", 1)])
    });
    check("ReduceMean", &[&[3, 4, 10]], |g, i, _| {
        let ax = g.constant_i64("axes", &[1], &[1]);
        g.node("ReduceMean", &[&i[0], &ax], &[Attr::Int("keepdims", 1)])
    });
    check("ReduceMax", &[&[3, 4, 10]], |g, i, _| {
        let ax = g.constant_i64("axes", &[1], &[2]);
        g.node("ReduceMax", &[&i[0], &ax], &[Attr::Int("keepdims", 0)])
    });
}

#[test]
fn shape_ops() {
    check("Concat 0", &[&[2, 3], &[4, 3]], |g, i, _| {
        g.node("Concat", &[&i[0], &i[1]], &[Attr::Int("axis", 0)])
    });
    check(
        "Concat 1",
        &[&[2, 3, 2], &[2, 5, 2], &[2, 1, 2]],
        |g, i, _| g.node("Concat", &[&i[0], &i[1], &i[2]], &[Attr::Int("axis", 1)]),
    );
    for perm in [vec![1, 0, 2], vec![2, 0, 1], vec![0, 2, 1], vec![2, 1, 0]] {
        check(&format!("Transpose {perm:?}"), &[&[2, 3, 4]], |g, i, _| {
            let t = g.node("Transpose", &[&i[0]], &[Attr::Ints("perm", perm.clone())]);
            g.node("Neg", &[&t], &[])
        });
    }
    check("Reshape", &[&[2, 3, 4]], |g, i, _| {
        let s = g.constant_i64("shape", &[2], &[4, 6]);
        let r = g.node("Reshape", &[&i[0], &s], &[]);
        g.node("Exp", &[&r], &[])
    });
    check("Slice", &[&[4, 9]], |g, i, _| {
        let st = g.constant_i64("st", &[1], &[2]);
        let en = g.constant_i64("en", &[1], &[7]);
        let ax = g.constant_i64("ax", &[1], &[1]);
        g.node("Slice", &[&i[0], &st, &en, &ax], &[])
    });
    check("Gather axis 0", &[&[5, 3]], |g, i, _| {
        let idx = g.constant_i64("idx", &[3], &[4, 0, -1]);
        g.node("Gather", &[&i[0], &idx], &[Attr::Int("axis", 0)])
    });
    check("Gather axis 1", &[&[2, 5, 3]], |g, i, _| {
        let idx = g.constant_i64("idx", &[2], &[1, 3]);
        g.node("Gather", &[&i[0], &idx], &[Attr::Int("axis", 1)])
    });
    check("Unsqueeze + Expand", &[&[3]], |g, i, _| {
        let ax = g.constant_i64("ax", &[1], &[0]);
        let u = g.node("Unsqueeze", &[&i[0], &ax], &[]);
        let s = g.constant_i64("shape", &[2], &[4, 3]);
        g.node("Expand", &[&u, &s], &[])
    });
}
