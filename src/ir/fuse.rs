//! Graph rewrites that matter for small models:
//! - `Max(x, 0)` -> `Relu`;
//! - a matmul by a constant 2-D matrix -> `Linear` (the weight is packed at session build);
//! - `Linear` + bias add + activation -> one `Linear`;
//! - tract's LayerNorm chain (ReduceSum, Mul 1/d, Sub, RmsNorm, Mul gamma, Add beta) -> `LayerNorm`.
//!
//! Each rewrite keeps the graph's semantics; the parity tests compare the fused graph with tract.

use super::*;

/// Applies every rewrite, then drops dead nodes.
pub fn fuse(g: &mut Graph) {
    relu_from_max(g);
    linear_from_matmul(g);
    layer_norm_chain(g);
    linear_bias(g);
    linear_act(g);
    remove_dead(g);
}

fn is_const_all(g: &Graph, v: ValueId, x: f32) -> bool {
    g.const_data(v)
        .is_some_and(|d| !d.is_empty() && d.iter().all(|&c| c == x))
}

fn relu_from_max(g: &mut Graph) {
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        if let Op::Binary {
            kind: BinKind::Max, ..
        } = n.op
        {
            let (a, b) = (n.inputs[0], n.inputs[1]);
            let out_len = g.values[n.output].len();
            let x = if is_const_all(g, b, 0.0) && g.values[a].len() == out_len {
                Some(a)
            } else if is_const_all(g, a, 0.0) && g.values[b].len() == out_len {
                Some(b)
            } else {
                None
            };
            if let Some(x) = x {
                g.nodes[i].op = Op::Unary(Unary::Relu);
                g.nodes[i].inputs = vec![x];
            }
        }
    }
}

/// Matmul whose B is a constant [k, n] (or [n, k]) matrix, A is row-major with k innermost and C
/// row-major: becomes `Linear` with the weight rewritten to [k, n] row-major.
fn linear_from_matmul(g: &mut Graph) {
    for i in 0..g.nodes.len() {
        let Op::MatMul(s) = &g.nodes[i].op else {
            continue;
        };
        let b = g.nodes[i].inputs[1];
        let Some(wdata) = g.const_data(b) else {
            continue;
        };
        let a_rows_ok = (s.k == 1 || s.csa == 1) && (s.m == 1 || s.rsa == s.k);
        let c_ok = s.m == 1 || s.ldc == s.n;
        if !s.batch.is_empty() || !a_rows_ok || !c_ok || wdata.len() != s.k * s.n {
            continue;
        }
        let (m, k, n, rsb, csb) = (s.m, s.k, s.n, s.rsb, s.csb);
        let mut w = vec![0f32; k * n];
        for kk in 0..k {
            for j in 0..n {
                w[kk * n + j] = wdata[kk * rsb + j * csb];
            }
        }
        g.values.push(Value {
            name: format!("{}.weight", g.nodes[i].name),
            shape: vec![k, n],
            storage: Storage::Const(w),
        });
        let wv = g.values.len() - 1;
        g.nodes[i].inputs[1] = wv;
        g.nodes[i].op = Op::Linear {
            m,
            k,
            n,
            act: Act::None,
            has_bias: false,
        };
    }
}

/// The single node reading `v`, when `v` has exactly one reader and is not a graph output.
fn sole_consumer(g: &Graph, counts: &[usize], v: ValueId) -> Option<usize> {
    if counts[v] != 1 || g.outputs.contains(&v) {
        return None;
    }
    g.nodes.iter().position(|n| n.inputs.contains(&v))
}

fn linear_bias(g: &mut Graph) {
    loop {
        let counts = g.use_counts();
        let mut changed = false;
        for i in 0..g.nodes.len() {
            let Op::Linear {
                n, has_bias: false, ..
            } = g.nodes[i].op
            else {
                continue;
            };
            let y = g.nodes[i].output;
            let Some(j) = sole_consumer(g, &counts, y) else {
                continue;
            };
            let Op::Binary {
                kind: BinKind::Add, ..
            } = g.nodes[j].op
            else {
                continue;
            };
            let other = if g.nodes[j].inputs[0] == y {
                g.nodes[j].inputs[1]
            } else {
                g.nodes[j].inputs[0]
            };
            let oshape = &g.values[other].shape;
            let is_row_bias =
                oshape.last() == Some(&n) && oshape.iter().rev().skip(1).all(|&d| d == 1);
            if !is_row_bias
                || g.const_data(other).is_none()
                || g.values[g.nodes[j].output].shape != g.values[y].shape
            {
                continue;
            }
            let out = g.nodes[j].output;
            g.nodes[i].inputs.push(other);
            g.nodes[i].output = out;
            if let Op::Linear { has_bias, .. } = &mut g.nodes[i].op {
                *has_bias = true;
            }
            g.nodes[j].inputs.clear(); // dead: removed by remove_dead
            g.nodes[j].op = Op::Copy;
            g.nodes[j].output = usize::MAX;
            changed = true;
            break;
        }
        remove_dead(g);
        if !changed {
            return;
        }
    }
}

fn linear_act(g: &mut Graph) {
    loop {
        let counts = g.use_counts();
        let mut changed = false;
        for i in 0..g.nodes.len() {
            let Op::Linear { act: Act::None, .. } = g.nodes[i].op else {
                continue;
            };
            let y = g.nodes[i].output;
            let Some(j) = sole_consumer(g, &counts, y) else {
                continue;
            };
            let Op::Unary(u) = g.nodes[j].op else {
                continue;
            };
            let act = match u {
                Unary::Relu => Act::Relu,
                Unary::Gelu => Act::Gelu,
                Unary::GeluTanh => Act::GeluTanh,
                Unary::Silu => Act::Silu,
                Unary::Tanh => Act::Tanh,
                Unary::Sigmoid => Act::Sigmoid,
                _ => continue,
            };
            let out = g.nodes[j].output;
            g.nodes[i].output = out;
            if let Op::Linear { act: a, .. } = &mut g.nodes[i].op {
                *a = act;
            }
            g.nodes[j].inputs.clear();
            g.nodes[j].output = usize::MAX;
            changed = true;
            break;
        }
        remove_dead(g);
        if !changed {
            return;
        }
    }
}

/// `RmsNorm(x - ReduceSum(x)·(1/d))·gamma + beta` over the last axis -> `LayerNorm`.
fn layer_norm_chain(g: &mut Graph) {
    loop {
        let counts = g.use_counts();
        let producer = |v: ValueId| g.nodes.iter().position(|n| n.output == v);
        let mut found = None;
        for r in 0..g.nodes.len() {
            let Op::RmsNorm { around, eps } = g.nodes[r].op else {
                continue;
            };
            if around.inner != 1 {
                continue;
            }
            let d = around.axis;
            // RmsNorm's input: Sub(x, mean)
            let Some(s) = producer(g.nodes[r].inputs[0]) else {
                continue;
            };
            let Op::Binary {
                kind: BinKind::Sub, ..
            } = g.nodes[s].op
            else {
                continue;
            };
            if counts[g.nodes[s].output] != 1 {
                continue;
            }
            let (x, mean) = (g.nodes[s].inputs[0], g.nodes[s].inputs[1]);
            let Some(mm) = producer(mean) else { continue };
            let Op::Binary {
                kind: BinKind::Mul, ..
            } = g.nodes[mm].op
            else {
                continue;
            };
            let (sum, recip) = (g.nodes[mm].inputs[0], g.nodes[mm].inputs[1]);
            let Some(rd) = g.const_data(recip) else {
                continue;
            };
            if rd.len() != 1
                || (rd[0] - 1.0 / d as f32).abs() > 1e-7 / d as f32
                || counts[mean] != 1
            {
                continue;
            }
            let Some(rs) = producer(sum) else { continue };
            let Op::Reduce {
                kind: ReduceKind::Sum,
                around: ra,
            } = g.nodes[rs].op
            else {
                continue;
            };
            if g.nodes[rs].inputs[0] != x || ra.inner != 1 || ra.axis != d || counts[sum] != 1 {
                continue;
            }
            // Then Mul(gamma) and optionally Add(beta), each a constant over the last axis.
            let y = g.nodes[r].output;
            let Some(mg) = sole_consumer(g, &counts, y) else {
                continue;
            };
            let Op::Binary {
                kind: BinKind::Mul, ..
            } = g.nodes[mg].op
            else {
                continue;
            };
            let gamma = if g.nodes[mg].inputs[0] == y {
                g.nodes[mg].inputs[1]
            } else {
                g.nodes[mg].inputs[0]
            };
            let row_const = |v: ValueId| {
                g.const_data(v).is_some()
                    && g.values[v].shape.last() == Some(&d)
                    && g.values[v].shape.iter().rev().skip(1).all(|&s| s == 1)
            };
            if !row_const(gamma) {
                continue;
            }
            let yg = g.nodes[mg].output;
            let beta = sole_consumer(g, &counts, yg).and_then(|ab| match g.nodes[ab].op {
                Op::Binary {
                    kind: BinKind::Add, ..
                } => {
                    let b = if g.nodes[ab].inputs[0] == yg {
                        g.nodes[ab].inputs[1]
                    } else {
                        g.nodes[ab].inputs[0]
                    };
                    row_const(b).then_some((ab, b))
                }
                _ => None,
            });
            found = Some((rs, mm, s, r, mg, x, gamma, beta, d, eps));
            break;
        }
        let Some((rs, mm, s, r, mg, x, gamma, beta, d, eps)) = found else {
            return;
        };
        let (last, inputs) = match beta {
            Some((ab, b)) => (ab, vec![x, gamma, b]),
            None => (mg, vec![x, gamma]),
        };
        let out = g.nodes[last].output;
        g.nodes[last] = Node {
            name: g.nodes[r].name.clone(),
            op: Op::LayerNorm {
                d,
                eps,
                has_beta: beta.is_some(),
            },
            inputs,
            output: out,
        };
        for k in [rs, mm, s, r, mg] {
            if k != last {
                g.nodes[k].inputs.clear();
                g.nodes[k].output = usize::MAX;
            }
        }
        remove_dead(g);
    }
}

/// Drops nodes marked dead (output `usize::MAX`) and nodes whose output nobody reads.
fn remove_dead(g: &mut Graph) {
    loop {
        let counts = g.use_counts();
        let before = g.nodes.len();
        g.nodes
            .retain(|n| n.output != usize::MAX && counts[n.output] > 0);
        if g.nodes.len() == before {
            return;
        }
    }
}
