//! Lowering tract's decluttered `TypedModel` (with concrete shapes) into fewstep's [`Graph`].
//!
//! Every node maps to one of our ops or is reported as unsupported, naming the op, so that
//! `Backend::Auto` can fall back to tract and `fewstep info` can say why.

use std::collections::HashMap;

use tract_core::internal::{DatumType, OutletId, TVec, TypedModel, TypedNode};
use tract_core::ops::array::{Gather, MultiBroadcastTo, Slice, TypedConcat};
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::change_axes::AxisOp;
use tract_core::ops::einsum::EinSum;
use tract_core::ops::element_wise::ElementWiseOp;
use tract_core::ops::konst::Const;
use tract_core::ops::nn::{Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};
use tract_core::ops::source::TypedSource;

use super::{
    Around, BinKind, Broadcast, Graph, MatMulSpec, Node, Op, ReduceKind, Storage, Unary, Value,
    ValueId,
};
use crate::error::Error;

fn unsupported(node: &TypedNode, why: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("{} (node {:?}): {why}", node.op.name(), node.name))
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

fn unary_of(name: &str) -> Option<Unary> {
    Some(match name {
        "GeluExact" => Unary::Gelu,
        "GeluApproximate" => Unary::GeluTanh,
        "Silu" => Unary::Silu,
        "Sigmoid" => Unary::Sigmoid,
        "Tanh" => Unary::Tanh,
        "Exp" => Unary::Exp,
        "Ln" => Unary::Ln,
        "Sin" => Unary::Sin,
        "Cos" => Unary::Cos,
        "Erf" => Unary::Erf,
        "Abs" => Unary::Abs,
        "Neg" => Unary::Neg,
        "Sqrt" => Unary::Sqrt,
        "Rsqrt" => Unary::Rsqrt,
        "Recip" => Unary::Recip,
        "Square" => Unary::Square,
        _ => return None,
    })
}

fn bin_of(name: &str) -> Option<BinKind> {
    Some(match name {
        "Add" => BinKind::Add,
        "Sub" => BinKind::Sub,
        "Mul" => BinKind::Mul,
        "Div" => BinKind::Div,
        "Max" => BinKind::Max,
        "Min" => BinKind::Min,
        "Pow" => BinKind::Pow,
        _ => return None,
    })
}

/// Lowers a decluttered model whose input shapes are all concrete.
pub fn lower(model: &TypedModel) -> Result<Graph, Error> {
    let mut g = Graph::default();
    let mut map: HashMap<OutletId, ValueId> = HashMap::new();
    let mut int_consts: HashMap<OutletId, Vec<i64>> = HashMap::new();
    let order = model.eval_order().map_err(Error::bad_model)?;

    for id in order {
        let node = model.node(id);
        if node.outputs.len() != 1 {
            return Err(unsupported(node, "more than one output"));
        }
        let fact = &node.outputs[0].fact;
        let shape: Vec<usize> = fact
            .shape
            .as_concrete()
            .ok_or_else(|| unsupported(node, format!("symbolic shape {:?}", fact.shape)))?
            .to_vec();
        // every later size is a product of these dimensions: one that overflows (a shape from
        // an untrusted file) would wrap to a small buffer the kernels then overrun
        if crate::buffers::elements(&shape)
            .and_then(|n| n.checked_mul(std::mem::size_of::<f32>()))
            .is_none_or(|bytes| bytes > isize::MAX as usize)
        {
            return Err(Error::InvalidArgument(format!(
                "{} (node {:?}): shape {shape:?} is larger than any buffer",
                node.op.name(),
                node.name
            )));
        }
        let outlet = OutletId::new(id, 0);

        if let Some(c) = node.op_as::<Const>() {
            let t = c.val();
            match t.datum_type() {
                DatumType::F32 => {
                    let data = t
                        .try_as_plain_ram()
                        .and_then(|v| v.as_slice::<f32>().map(|s| s.to_vec()))
                        .map_err(Error::bad_model)?;
                    map.insert(
                        outlet,
                        push_value(&mut g, node, shape, Storage::Const(data)),
                    );
                }
                DatumType::I64 | DatumType::I32 => {
                    let t = t.cast_to::<i64>().map_err(Error::bad_model)?;
                    int_consts.insert(
                        outlet,
                        t.try_as_plain_ram()
                            .and_then(|v| v.as_slice::<i64>().map(|s| s.to_vec()))
                            .map_err(Error::bad_model)?,
                    );
                }
                dt => return Err(unsupported(node, format!("constant of type {dt:?}"))),
            }
            continue;
        }
        if node.op_as::<TypedSource>().is_some() {
            if fact.datum_type != DatumType::F32 {
                return Err(unsupported(
                    node,
                    format!("input of type {:?}", fact.datum_type),
                ));
            }
            let i = model
                .inputs
                .iter()
                .position(|o| o.node == id)
                .expect("a source is an input");
            let v = push_value(&mut g, node, shape, Storage::Input(i));
            g.inputs.push(v);
            map.insert(outlet, v);
            continue;
        }
        if fact.datum_type != DatumType::F32 {
            return Err(unsupported(
                node,
                format!("output of type {:?}", fact.datum_type),
            ));
        }
        let in_shapes: Vec<Vec<usize>> = node
            .inputs
            .iter()
            .map(|o| {
                model
                    .outlet_fact(*o)
                    .ok()
                    .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
                    .unwrap_or_default()
            })
            .collect();
        let value_in = |i: usize| -> Result<ValueId, Error> {
            map.get(&node.inputs[i])
                .copied()
                .ok_or_else(|| unsupported(node, format!("input {i} is not an f32 tensor")))
        };

        let (op, inputs): (Op, Vec<ValueId>) = if let Some(e) = node.op_as::<EinSum>() {
            if e.q_params.is_some() || e.operating_dt != DatumType::F32 {
                return Err(unsupported(node, "quantized or non-f32 einsum"));
            }
            if node.inputs.len() != 2 {
                return Err(unsupported(node, "einsum with other than two inputs"));
            }
            (
                Op::MatMul(einsum_spec(node, e, &in_shapes[0], &in_shapes[1], &shape)?),
                vec![value_in(0)?, value_in(1)?],
            )
        } else if let Some(b) = node.op_as::<TypedBinOp>() {
            let kind = bin_of(b.0.name())
                .ok_or_else(|| unsupported(node, "binary op not in the native set"))?;
            if in_shapes.iter().any(|s| s.len() != shape.len()) {
                return Err(unsupported(node, "binary op on inputs of different ranks"));
            }
            let layout = Broadcast::new(&shape, &[&in_shapes[0], &in_shapes[1]]);
            (
                Op::Binary { kind, layout },
                vec![value_in(0)?, value_in(1)?],
            )
        } else if let Some(e) = node.op_as::<ElementWiseOp>() {
            let name = e.0.name();
            if let Some(ga) =
                e.0.downcast_ref::<tract_core::ops::nn::gelu_approximate::GeluApproximate>()
                && ga.fast_impl
            {
                return Err(unsupported(node, "fast GeluApproximate"));
            }
            if let Some(p) = e.0.downcast_ref::<tract_core::ops::math::PowConst>() {
                // x^c as a broadcast binary op against a scalar constant
                let one = vec![1; shape.len()];
                let c = push_value(&mut g, node, one.clone(), Storage::Const(vec![p.exponent]));
                let layout = Broadcast::new(&shape, &[&in_shapes[0], &one]);
                (
                    Op::Binary {
                        kind: BinKind::Pow,
                        layout,
                    },
                    vec![value_in(0)?, c],
                )
            } else {
                let u = unary_of(&name)
                    .ok_or_else(|| unsupported(node, "elementwise op not in the native set"))?;
                (Op::Unary(u), vec![value_in(0)?])
            }
        } else if let Some(r) = node.op_as::<Reduce>() {
            let kind = match r.reducer {
                Reducer::Sum => ReduceKind::Sum,
                Reducer::Max => ReduceKind::Max,
                Reducer::Min => ReduceKind::Min,
                Reducer::MeanOfSquares => ReduceKind::MeanOfSquares,
                _ => return Err(unsupported(node, format!("reducer {:?}", r.reducer))),
            };
            let mut axes = r.axes.to_vec();
            axes.sort();
            if axes.is_empty() || axes.windows(2).any(|w| w[1] != w[0] + 1) {
                return Err(unsupported(node, "reduction over non-adjacent axes"));
            }
            (
                Op::Reduce {
                    kind,
                    around: Around::new(&in_shapes[0], axes[0], *axes.last().unwrap()),
                },
                vec![value_in(0)?],
            )
        } else if let Some(r) = node.op_as::<RmsNorm>() {
            let eps = r.eps.cast_to_scalar::<f32>().map_err(Error::bad_model)?;
            (
                Op::RmsNorm {
                    around: Around::new(&shape, r.axis, r.axis),
                    eps,
                },
                vec![value_in(0)?],
            )
        } else if let Some(s) = node.op_as::<Softmax>() {
            if s.kind != SoftmaxKind::Softmax || s.axes.len() != 1 || s.quant_output_dt.is_some() {
                return Err(unsupported(node, "only plain single-axis softmax"));
            }
            (
                Op::Softmax {
                    around: Around::new(&shape, s.axes[0], s.axes[0]),
                },
                vec![value_in(0)?],
            )
        } else if let Some(c) = node.op_as::<TypedConcat>() {
            let outer: usize = shape[..c.axis].iter().product();
            let inners = in_shapes
                .iter()
                .map(|s| s[c.axis..].iter().product())
                .collect();
            let inputs = (0..node.inputs.len())
                .map(value_in)
                .collect::<Result<_, _>>()?;
            (Op::Concat { outer, inners }, inputs)
        } else if let Some(s) = node.op_as::<Slice>() {
            let start = s
                .start
                .to_i64()
                .map_err(|_| unsupported(node, "symbolic slice start"))?
                as usize;
            let end =
                s.end
                    .to_i64()
                    .map_err(|_| unsupported(node, "symbolic slice end"))? as usize;
            let around = Around::new(&in_shapes[0], s.axis, s.axis);
            if start > end || end > around.axis {
                return Err(unsupported(node, "slice bounds out of range"));
            }
            (Op::Slice { around, start, end }, vec![value_in(0)?])
        } else if let Some(ga) = node.op_as::<Gather>() {
            let idx = int_consts
                .get(&node.inputs[1])
                .ok_or_else(|| unsupported(node, "gather with non-constant indices"))?;
            let around = Around::new(&in_shapes[0], ga.axis, ga.axis);
            let len = around.axis as i64;
            let indices = idx
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + len } else { i };
                    if (0..len).contains(&j) {
                        Ok(j as usize)
                    } else {
                        Err(unsupported(node, format!("index {i} out of range")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            (Op::Gather { around, indices }, vec![value_in(0)?])
        } else if let Some(b) = node.op_as::<MultiBroadcastTo>() {
            let _ = b;
            let layout = Broadcast::new(&shape, &[&in_shapes[0]]);
            (Op::BroadcastTo { layout }, vec![value_in(0)?])
        } else if let Some(a) = node.op_as::<AxisOp>() {
            match a {
                AxisOp::Add(_) | AxisOp::Rm(_) | AxisOp::Reshape(..) => {
                    let src = value_in(0)?;
                    let v = push_value(&mut g, node, shape, Storage::Alias(src));
                    map.insert(outlet, v);
                    continue;
                }
                AxisOp::Move(from, to) => {
                    let mut perm: Vec<usize> = (0..shape.len()).collect();
                    let ax = perm.remove(*from);
                    perm.insert(*to, ax);
                    (
                        Op::Transpose {
                            shape: in_shapes[0].clone(),
                            perm,
                        },
                        vec![value_in(0)?],
                    )
                }
            }
        } else if node.op.name() == "Cast"
            && node.inputs.len() == 1
            && model
                .outlet_fact(node.inputs[0])
                .map(|f| f.datum_type == DatumType::F32)
                .unwrap_or(false)
        {
            let src = value_in(0)?;
            let v = push_value(&mut g, node, shape, Storage::Alias(src));
            map.insert(outlet, v);
            continue;
        } else {
            return Err(unsupported(node, "op not in the native set"));
        };
        let out = push_value(&mut g, node, shape, Storage::Activation);
        g.nodes.push(Node {
            name: node.name.clone(),
            op,
            inputs,
            output: out,
        });
        map.insert(outlet, out);
    }
    // graph inputs in the model's declaration order, not evaluation order
    g.inputs.sort_by_key(|&v| match g.values[v].storage {
        Storage::Input(i) => i,
        _ => usize::MAX,
    });
    for o in &model.outputs {
        let v = *map
            .get(o)
            .ok_or_else(|| Error::Unsupported("a graph output is not an f32 tensor".into()))?;
        g.outputs.push(v);
    }
    Ok(g)
}

fn push_value(g: &mut Graph, node: &TypedNode, shape: Vec<usize>, storage: Storage) -> ValueId {
    g.values.push(Value {
        name: node.name.clone(),
        shape,
        storage,
    });
    g.values.len() - 1
}

/// Merges a group of axes (each `(size, strides in the tensors that carry them)`) into one
/// axis when they are contiguous in every tensor; `None` if they cannot be merged.
fn merge_group(mut axes: Vec<(usize, Vec<usize>)>) -> Option<(usize, Vec<usize>)> {
    axes.retain(|a| a.0 != 1);
    axes.sort_by_key(|a| std::cmp::Reverse(a.1[0]));
    let mut it = axes.into_iter();
    let first = it.next()?;
    let (mut size, mut strides) = first;
    for (sz, st) in it {
        // the merged (outer) axis must step exactly over the inner one in every tensor
        if strides.iter().zip(&st).any(|(&o, &i)| o != i * sz) {
            return None;
        }
        size *= sz;
        strides = st;
    }
    Some((size, strides))
}

fn einsum_spec(
    node: &TypedNode,
    e: &EinSum,
    sa: &[usize],
    sb: &[usize],
    sc: &[usize],
) -> Result<MatMulSpec, Error> {
    let (st_a, st_b, st_c) = (
        contiguous_strides(sa),
        contiguous_strides(sb),
        contiguous_strides(sc),
    );
    let no_map = || {
        unsupported(
            node,
            format!("einsum {} does not map to a batched matmul", e.axes),
        )
    };
    let (mut ms, mut ns, mut ks, mut batch) = (vec![], vec![], vec![], vec![]);
    for axis in e.axes.iter_all_axes() {
        let pos = |v: &TVec<usize>| -> Result<Option<usize>, Error> {
            match v.len() {
                0 => Ok(None),
                1 => Ok(Some(v[0])),
                _ => Err(unsupported(
                    node,
                    "an einsum axis repeated within one tensor",
                )),
            }
        };
        match (
            pos(&axis.inputs[0])?,
            pos(&axis.inputs[1])?,
            pos(&axis.outputs[0])?,
        ) {
            (Some(a), Some(b), Some(c)) => {
                if sa[a] != sc[c] || sb[b] != sc[c] {
                    return Err(unsupported(node, "broadcast batch axis in einsum"));
                }
                if sc[c] != 1 {
                    batch.push((sc[c], st_a[a], st_b[b], st_c[c]));
                }
            }
            (Some(a), None, Some(c)) => ms.push((sa[a], vec![st_a[a], st_c[c]])),
            (None, Some(b), Some(c)) => ns.push((sb[b], vec![st_b[b], st_c[c]])),
            (Some(a), Some(b), None) => ks.push((sa[a], vec![st_a[a], st_b[b]])),
            (Some(a), None, None) if sa[a] == 1 => {}
            (None, Some(b), None) if sb[b] == 1 => {}
            (None, None, Some(c)) if sc[c] == 1 => {}
            _ => return Err(no_map()),
        }
    }
    let (ms_empty, ns_empty, ks_empty) = (
        ms.iter().all(|a| a.0 == 1),
        ns.iter().all(|a| a.0 == 1),
        ks.iter().all(|a| a.0 == 1),
    );
    let (m, m_st) = if ms_empty {
        (1, vec![0, 0])
    } else {
        merge_group(ms).ok_or_else(no_map)?
    };
    let (n, n_st) = if ns_empty {
        (1, vec![0, 0])
    } else {
        merge_group(ns).ok_or_else(no_map)?
    };
    let (k, k_st) = if ks_empty {
        (1, vec![0, 0])
    } else {
        merge_group(ks).ok_or_else(no_map)?
    };
    let (rsc, csc) = (m_st[1], n_st[1]);
    let spec = MatMulSpec {
        batch,
        m,
        n,
        k,
        rsa: m_st[0],
        csa: k_st[0],
        rsb: k_st[1],
        csb: n_st[0],
        ldc: rsc,
    };
    if n == 1 || csc == 1 {
        // C[i][j] at i·ldc + j: with n == 1 only the row stride matters
        return Ok(spec);
    }
    if m == 1 || rsc == 1 {
        // C is stored transposed: compute Cᵀ = Bᵀ·Aᵀ, whose rows are C's columns.
        return Ok(MatMulSpec {
            batch: spec
                .batch
                .iter()
                .map(|&(l, a, b, c)| (l, b, a, c))
                .collect(),
            m: n,
            n: m,
            k,
            rsa: spec.csb,
            csa: spec.rsb,
            rsb: spec.csa,
            csb: spec.rsa,
            ldc: csc,
        });
    }
    Err(unsupported(
        node,
        "einsum output layout has neither m nor n innermost",
    ))
}
