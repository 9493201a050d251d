//! Parsing an ONNX proto into tract's decluttered `TypedModel`, with symbols bound or not.

use std::collections::BTreeMap;

use tract_core::model::translator::Translate;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::Error;

/// Concrete shapes of the graph inputs, with `dims` binding every symbol.
pub fn concrete_input_shapes(
    proto: &pb::ModelProto,
    dims: &BTreeMap<String, usize>,
) -> Result<Vec<(String, Vec<usize>)>, Error> {
    bind_input_shapes(&graph_inputs(proto)?, dims)
}

/// The graph's declared inputs, without the initializers an older ONNX file also lists there.
pub fn graph_inputs(proto: &pb::ModelProto) -> Result<Vec<pb::ValueInfoProto>, Error> {
    let g = proto
        .graph
        .as_ref()
        .ok_or_else(|| Error::BadModel("no graph".into()))?;
    let inits: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    Ok(g.input
        .iter()
        .filter(|vi| !inits.contains(vi.name.as_str()))
        .cloned()
        .collect())
}

/// [`concrete_input_shapes`] of inputs already taken from the graph by [`graph_inputs`].
pub fn bind_input_shapes(
    inputs: &[pb::ValueInfoProto],
    dims: &BTreeMap<String, usize>,
) -> Result<Vec<(String, Vec<usize>)>, Error> {
    use pb::tensor_shape_proto::dimension::Value;
    let mut out = Vec::new();
    for vi in inputs {
        let Some(pb::type_proto::Value::TensorType(t)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(Error::BadModel(format!(
                "input {:?} has no tensor type",
                vi.name
            )));
        };
        if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
            return Err(Error::Unsupported(format!(
                "input {:?} is not f32 (elem_type {})",
                vi.name, t.elem_type
            )));
        }
        let shape = t
            .shape
            .as_ref()
            .ok_or_else(|| Error::BadModel(format!("input {:?} has no shape", vi.name)))?;
        let mut s = Vec::new();
        for d in &shape.dim {
            match &d.value {
                Some(Value::DimValue(v)) if *v >= 0 => s.push(*v as usize),
                Some(Value::DimParam(p)) => s.push(*dims.get(p).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "input {:?} has symbolic dimension {p:?}: bind it (e.g. --dim {p}=20)",
                        vi.name
                    ))
                })?),
                _ => {
                    return Err(Error::BadModel(format!(
                        "input {:?} has an unknown dimension",
                        vi.name
                    )));
                }
            }
        }
        if crate::buffers::elements(&s).is_none_or(|n| n > MAX_INPUT_ELEMENTS) {
            return Err(Error::InvalidArgument(format!(
                "input {:?} of shape {s:?} has more than {MAX_INPUT_ELEMENTS} elements (2^32 - 1, \
                 the most a session takes per input): bind a smaller dimension",
                vi.name
            )));
        }
        out.push((vi.name.clone(), s));
    }
    Ok(out)
}

/// The most elements one input of a session may have: 2^32 - 1 (16 GiB of f32), which also
/// keeps every input addressable by the GPU's 32-bit indices. Dimensions come from untrusted
/// model files and callers; past this bound a session is refused before anything is allocated.
pub const MAX_INPUT_ELEMENTS: usize = u32::MAX as usize;

/// `typed` (a decluttered model as [`parse_typed`] gives it without dims, its symbols unbound)
/// with each symbol named in `dims` replaced by its value, decluttered again. This is what
/// `parse_typed(proto, Some(dims))` gives (`tests/bind_dims.rs` compares the lowered graphs of
/// every shipped model), at about a tenth of the cost: the file is not parsed and its shapes
/// are not inferred again. The caller checks the inputs against `dims` first
/// ([`bind_input_shapes`]).
pub fn bind_dims(typed: &TypedModel, dims: &BTreeMap<String, usize>) -> Result<TypedModel, Error> {
    let values = dims
        .iter()
        .filter_map(|(name, &v)| {
            let symbol = typed.symbols.get(name)?;
            Some(i64::try_from(v).map(|v| (symbol, TDim::Val(v))))
        })
        .collect::<Result<std::collections::HashMap<_, _>, _>>()
        .map_err(|_| Error::InvalidArgument("a dimension does not fit in an i64".into()))?;
    crate::tract::no_panic(
        || Error::BadModel("tract panicked while binding the model's dimensions".into()),
        || {
            values
                .translate_model(typed)
                .and_then(|m| m.into_decluttered())
                .map_err(Error::bad_model)
        },
    )
}

/// tract's decluttered typed model; with `dims`, every input shape is made concrete first.
/// `Model::load` parses without dims, and sessions bind theirs on that graph ([`bind_dims`]);
/// a parse with dims is the reference `tests/bind_dims.rs` holds that binding to.
///
/// tract is not expected to panic on a malformed graph, but a model file is untrusted input:
/// a panic inside tract is caught and reported as `Error::BadModel`.
pub fn parse_typed(
    proto: &pb::ModelProto,
    dims: Option<&BTreeMap<String, usize>>,
) -> Result<TypedModel, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_typed_inner(proto, dims)
    }))
    .unwrap_or_else(|_| {
        Err(Error::BadModel(
            "tract panicked while reading the graph".into(),
        ))
    })
}

/// The largest axis an attribute may name (in absolute value). No real tensor has this many
/// axes, but tract walks the range an axis implies while it infers shapes: one absurd value in
/// an untrusted file kept it busy for ever (`LayerNormalization` with `axis = -134217729`,
/// found by mutating a shipped model; `fuzz/regressions/onnx_model/`).
pub const MAX_AXIS: i64 = 64;

/// Refuses a graph (or any of its subgraphs) whose `axis`, `axes` or `perm` attribute names an
/// axis beyond [`MAX_AXIS`], before tract sees it.
fn check_axis_attributes(g: &pb::GraphProto) -> Result<(), Error> {
    for node in &g.node {
        for a in &node.attribute {
            let values: &[i64] = match a.name.as_str() {
                "axis" => std::slice::from_ref(&a.i),
                "axes" | "perm" => &a.ints,
                _ => &[],
            };
            if let Some(v) = values.iter().find(|v| v.unsigned_abs() > MAX_AXIS as u64) {
                return Err(Error::BadModel(format!(
                    "node {:?} ({}): attribute {} = {v} is not an axis of any tensor",
                    node.name, node.op_type, a.name
                )));
            }
            for sub in a.g.iter().chain(&a.graphs) {
                check_axis_attributes(sub)?;
            }
        }
    }
    Ok(())
}

/// tract's shape rules for the LayerNormalization family loop for ever when the axis is below
/// minus the input's rank (the sum wraps to a huge `usize` they count up to). Any rank is safe
/// with axis 0.
fn is_layer_norm(op_type: &str) -> bool {
    op_type.ends_with("LayerNormalization")
}

/// Refuses a layer norm whose axis is outside its input's rank, before tract's rules see the
/// real axis: the ranks come from an analysis of a copy of the graph whose layer-norm axes are
/// all 0. (A rank the analysis cannot tell stays unknown in the real parse too, where those
/// rules then never run.)
fn check_layer_norm_axes(proto: &pb::ModelProto) -> Result<(), Error> {
    let Some(g) = &proto.graph else {
        return Ok(());
    };
    if !g.node.iter().any(|n| is_layer_norm(&n.op_type)) {
        return Ok(());
    }
    let mut copy = proto.clone();
    let mut axes = std::collections::HashMap::new();
    for (i, n) in copy
        .graph
        .as_mut()
        .expect("checked above")
        .node
        .iter_mut()
        .enumerate()
    {
        // unique names (every node's, so that none collides), to find each layer norm again
        let name = format!("fewstep-node-{i}");
        let original = std::mem::replace(&mut n.name, name.clone());
        if !is_layer_norm(&n.op_type) {
            continue;
        }
        let axis = n
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map_or(-1, |a| a.i);
        n.attribute.retain(|a| a.name != "axis");
        n.attribute.push(pb::AttributeProto {
            name: "axis".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: 0,
            ..Default::default()
        });
        axes.insert(name, (axis, original));
    }
    let mut m = tract_onnx::onnx()
        .model_for_proto_model(&copy)
        .map_err(Error::bad_model)?;
    // an analysis error is the real parse's to report
    let _ = m.analyse(false);
    for node in m.nodes() {
        let Some((axis, name)) = axes.get(&node.name) else {
            continue;
        };
        let rank = node
            .inputs
            .first()
            .and_then(|&o| m.outlet_fact(o).ok())
            .and_then(|f| f.shape.rank().concretize());
        if let Some(rank) = rank
            && !(-rank..rank).contains(axis)
        {
            return Err(Error::BadModel(format!(
                "node {name:?} ({}): axis {axis} is outside its input's {rank} axes",
                node.op.name()
            )));
        }
    }
    Ok(())
}

fn parse_typed_inner(
    proto: &pb::ModelProto,
    dims: Option<&BTreeMap<String, usize>>,
) -> Result<TypedModel, Error> {
    if let Some(g) = &proto.graph {
        check_axis_attributes(g)?;
    }
    if dims.is_none() {
        // a model is parsed without dims first, when it is loaded: ranks do not depend on
        // them, so one check there covers every session
        check_layer_norm_axes(proto)?;
    }
    let mut m = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(Error::bad_model)?;
    if let Some(dims) = dims {
        for (i, (_, shape)) in concrete_input_shapes(proto, dims)?.iter().enumerate() {
            m = m
                .with_input_fact(i, f32::fact(shape).into())
                .map_err(Error::bad_model)?;
        }
    }
    m.into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(Error::bad_model)
}
