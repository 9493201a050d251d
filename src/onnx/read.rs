//! Parsing an ONNX proto into tract's decluttered `TypedModel`, with symbols bound or not.

use std::collections::BTreeMap;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::Error;

/// Concrete shapes of the graph inputs, with `dims` binding every symbol.
pub fn concrete_input_shapes(
    proto: &pb::ModelProto,
    dims: &BTreeMap<String, usize>,
) -> Result<Vec<(String, Vec<usize>)>, Error> {
    use pb::tensor_shape_proto::dimension::Value;
    let g = proto
        .graph
        .as_ref()
        .ok_or_else(|| Error::BadModel("no graph".into()))?;
    let inits: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut out = Vec::new();
    for vi in g
        .input
        .iter()
        .filter(|vi| !inits.contains(vi.name.as_str()))
    {
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
        let elements = s.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements.is_none_or(|n| n > MAX_INPUT_ELEMENTS) {
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

/// tract's decluttered typed model; with `dims`, every input shape is made concrete first.
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

fn parse_typed_inner(
    proto: &pb::ModelProto,
    dims: Option<&BTreeMap<String, usize>>,
) -> Result<TypedModel, Error> {
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
