//! A small builder for ONNX graphs, on top of tract's prost-generated protobuf types.
//!
//! This is what `fewstep-distill` exports with and what tests build their fixtures with.
//! Every tensor is f32 (or i64 for index constants); the graph uses opset 20 (Gelu needs it)
//! and IR version 9. A symbolic dimension is written as a `dim_param`.

use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

use crate::card::Card;

/// The opset every graph built here declares.
pub const OPSET: i64 = 20;
/// The ONNX IR version every graph built here declares.
pub const IR_VERSION: i64 = 9;

/// A dimension of a declared input or output shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbol, bound when a session is built (e.g. the batch `N`).
    Sym(String),
}

impl From<usize> for Dim {
    fn from(v: usize) -> Self {
        Dim::Fixed(v)
    }
}

impl From<&str> for Dim {
    fn from(v: &str) -> Self {
        Dim::Sym(v.to_string())
    }
}

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Str(&'static str, String),
}

/// Builds one ONNX graph. Value names are generated (`<hint>_<n>`) unless given.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    name: String,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    counter: usize,
}

fn value_info(name: &str, shape: &[Dim], elem: DataType) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = shape
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => Value::DimValue(*v as i64),
                Dim::Sym(s) => Value::DimParam(s.clone()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            name: name.to_string(),
            ..Default::default()
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}_{}", self.counter)
    }

    /// Declares an f32 graph input and returns its name.
    pub fn input(&mut self, name: &str, shape: &[Dim]) -> String {
        self.inputs.push(value_info(name, shape, DataType::Float));
        name.to_string()
    }

    /// Adds an f32 initializer (a weight) and returns its name.
    pub fn constant(&mut self, hint: &str, shape: &[usize], data: &[f32]) -> String {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "constant {hint}: shape/data"
        );
        let name = self.fresh(hint);
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds an i64 initializer (indices, shapes, axes) and returns its name.
    pub fn constant_i64(&mut self, hint: &str, shape: &[usize], data: &[i64]) -> String {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "constant {hint}: shape/data"
        );
        let name = self.fresh(hint);
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds a node with one output and returns the output's name.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        let out = self.fresh(&op_type.to_lowercase());
        self.node_named(op_type, inputs, attrs, &out);
        out
    }

    /// Adds a node whose single output has the given name (use it for graph outputs).
    pub fn node_named(&mut self, op_type: &str, inputs: &[&str], attrs: &[Attr], output: &str) {
        let attribute = attrs
            .iter()
            .map(|a| {
                let mut p = pb::AttributeProto::default();
                match a {
                    Attr::Int(n, v) => {
                        p.name = n.to_string();
                        p.r#type = AttributeType::Int as i32;
                        p.i = *v;
                    }
                    Attr::Ints(n, v) => {
                        p.name = n.to_string();
                        p.r#type = AttributeType::Ints as i32;
                        p.ints = v.clone();
                    }
                    Attr::Float(n, v) => {
                        p.name = n.to_string();
                        p.r#type = AttributeType::Float as i32;
                        p.f = *v;
                    }
                    Attr::Str(n, v) => {
                        p.name = n.to_string();
                        p.r#type = AttributeType::String as i32;
                        p.s = v.as_bytes().to_vec();
                    }
                }
                p
            })
            .collect();
        let name = self.fresh(&format!("{op_type}_node"));
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name,
            op_type: op_type.to_string(),
            attribute,
            ..Default::default()
        });
    }

    /// Declares `value` (already produced by a node) as an f32 graph output.
    pub fn output(&mut self, value: &str, shape: &[Dim]) {
        self.outputs.push(value_info(value, shape, DataType::Float));
    }

    /// `x @ w + b` with `w` of shape `[k, n]` given row-major, `b` of length `n`.
    pub fn linear(&mut self, x: &str, w: &[f32], b: Option<&[f32]>, k: usize, n: usize) -> String {
        let wn = self.constant("w", &[k, n], w);
        let y = self.node("MatMul", &[x, &wn], &[]);
        match b {
            Some(b) => {
                let bn = self.constant("b", &[n], b);
                self.node("Add", &[&y, &bn], &[])
            }
            None => y,
        }
    }

    /// ONNX LayerNormalization over the last axis.
    pub fn layer_norm(&mut self, x: &str, gamma: &[f32], beta: &[f32], eps: f32) -> String {
        let g = self.constant("ln_g", &[gamma.len()], gamma);
        let b = self.constant("ln_b", &[beta.len()], beta);
        self.node(
            "LayerNormalization",
            &[x, &g, &b],
            &[Attr::Int("axis", -1), Attr::Float("epsilon", eps)],
        )
    }

    /// The finished model, with `card` (if any) in `metadata_props["fewstep"]`.
    pub fn finish(self, card: Option<&Card>) -> pb::ModelProto {
        let metadata_props = card
            .map(|c| {
                vec![pb::StringStringEntryProto {
                    key: crate::card::METADATA_KEY.to_string(),
                    value: c.to_json(),
                }]
            })
            .unwrap_or_default();
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "fewstep".into(),
            producer_version: crate::VERSION.into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: self.name,
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            metadata_props,
            ..Default::default()
        }
    }
}

/// Serializes a model to ONNX bytes.
pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    prost::Message::encode_to_vec(model)
}

/// Serializes a model and writes it to `path`.
pub fn save(model: &pb::ModelProto, path: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(path, encode(model))
}
