//! `Model`: a parsed ONNX file, its card, and what fewstep knows about its graph.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tract_core::internal::DimLike;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::card::{Card, CardDim, Kind};
use crate::error::Error;
use crate::onnx;

/// A declared graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct IoSpec {
    pub name: String,
    /// Each dimension: a number or a symbol to be bound at session build (e.g. `N`).
    pub shape: Vec<CardDim>,
}

/// A loaded model. Cheap to share: `Model` is `Send + Sync`; build one `Session` per thread.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) inner: Arc<ModelInner>,
}

#[derive(Debug)]
pub(crate) struct ModelInner {
    /// The graph's declared inputs (initializers left out): their shapes, symbols included.
    pub(crate) graph_inputs: Vec<pb::ValueInfoProto>,
    /// tract's decluttered graph, symbols unbound; every session binds its dims on a copy
    /// (`onnx::read::bind_dims`) instead of parsing the file again.
    pub(crate) typed: TypedModel,
    pub(crate) card: Option<Card>,
    pub(crate) inputs: Vec<IoSpec>,
    pub(crate) outputs: Vec<IoSpec>,
    pub(crate) ops: BTreeMap<String, usize>,
    pub(crate) parameters: usize,
}

fn dims_of(fact: &TypedFact) -> Vec<CardDim> {
    fact.shape
        .iter()
        .map(|d| match d.to_usize() {
            Ok(v) => CardDim::Fixed(v),
            Err(_) => CardDim::Sym(d.to_string()),
        })
        .collect()
}

impl Model {
    /// Loads an ONNX file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Loads an ONNX model from memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, Error> {
        let proto = onnx::decode(bytes)?;
        let card = onnx::read_card(&proto)?;
        let typed = crate::onnx::read::parse_typed(&proto, None)?;
        let io = |outlets: &[OutletId]| -> Result<Vec<IoSpec>, Error> {
            outlets
                .iter()
                .map(|o| {
                    let fact = typed.outlet_fact(*o).map_err(Error::bad_model)?;
                    Ok(IoSpec {
                        name: typed.node(o.node).name.clone(),
                        shape: dims_of(fact),
                    })
                })
                .collect()
        };
        let inputs = io(&typed.inputs)?;
        let mut outputs = io(&typed.outputs)?;
        // tract names an output after the node producing it; ONNX names it after the value.
        if let Some(g) = &proto.graph {
            for (o, vi) in outputs.iter_mut().zip(&g.output) {
                o.name = vi.name.clone();
            }
        }
        let mut ops = BTreeMap::new();
        let mut parameters = 0;
        for node in typed.nodes() {
            if let Some(c) = node.op_as::<tract_core::ops::konst::Const>() {
                parameters += c.val().len();
                continue;
            }
            if node
                .op_as::<tract_core::ops::source::TypedSource>()
                .is_some()
            {
                continue;
            }
            *ops.entry(node.op.name().to_string()).or_insert(0) += 1;
        }
        let inner = ModelInner {
            graph_inputs: crate::onnx::read::graph_inputs(&proto)?,
            typed,
            card,
            inputs,
            outputs,
            ops,
            parameters,
        };
        if let Some(card) = &inner.card {
            check_card_against_graph(card, &inner)?;
        }
        Ok(Model {
            inner: Arc::new(inner),
        })
    }

    /// Each declared input's shape with `dims` bound; refuses an unbound symbol and an input
    /// over `onnx::read::MAX_INPUT_ELEMENTS`.
    pub(crate) fn input_shapes(
        &self,
        dims: &BTreeMap<String, usize>,
    ) -> Result<Vec<(String, Vec<usize>)>, Error> {
        crate::onnx::read::bind_input_shapes(&self.inner.graph_inputs, dims)
    }

    /// tract's decluttered graph with `dims` bound, once [`Model::input_shapes`] accepts them.
    pub(crate) fn bound(&self, dims: &BTreeMap<String, usize>) -> Result<TypedModel, Error> {
        self.input_shapes(dims)?;
        crate::onnx::read::bind_dims(&self.inner.typed, dims)
    }

    /// The card, if the file has one.
    pub fn card(&self) -> Option<&Card> {
        self.inner.card.as_ref()
    }

    /// Graph inputs in declaration order.
    pub fn inputs(&self) -> &[IoSpec] {
        &self.inner.inputs
    }

    /// Graph outputs in declaration order.
    pub fn outputs(&self) -> &[IoSpec] {
        &self.inner.outputs
    }

    /// Op counts of the decluttered graph (tract's op names).
    pub fn ops(&self) -> &BTreeMap<String, usize> {
        &self.inner.ops
    }

    /// Number of weight scalars (constants) in the graph.
    pub fn parameter_count(&self) -> usize {
        self.inner.parameters
    }

    /// The symbols (e.g. `N`) appearing in input shapes, in first-seen order.
    pub fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.inner.inputs {
            for d in &i.shape {
                if let CardDim::Sym(s) = d
                    && !out.contains(s)
                {
                    out.push(s.clone());
                }
            }
        }
        out
    }
}

fn check_card_against_graph(card: &Card, m: &ModelInner) -> Result<(), Error> {
    let check =
        |what: &str, specs: &[crate::card::TensorSpec], graph: &[IoSpec]| -> Result<(), Error> {
            for s in specs {
                let g = graph.iter().find(|g| g.name == s.name).ok_or_else(|| {
                    Error::BadCard(format!(
                        "the card's {what} {:?} is not a graph {what}",
                        s.name
                    ))
                })?;
                let compatible = g.shape.len() == s.shape.len()
                    && g.shape.iter().zip(&s.shape).all(|(a, b)| match (a, b) {
                        (CardDim::Fixed(x), CardDim::Fixed(y)) => x == y,
                        (CardDim::Sym(_), _) | (_, CardDim::Sym(_)) => true,
                    });
                if !compatible {
                    return Err(Error::BadCard(format!(
                        "the card says {what} {:?} has shape {:?} but the graph says {:?}",
                        s.name, s.shape, g.shape
                    )));
                }
            }
            Ok(())
        };
    check("input", &card.inputs, &m.inputs)?;
    check("output", &card.outputs, &m.outputs)?;
    let state = m
        .inputs
        .iter()
        .find(|i| i.name == card.roles.state)
        .ok_or_else(|| {
            Error::BadCard(format!(
                "roles.state {:?} is not a graph input",
                card.roles.state
            ))
        })?;
    let out = m
        .outputs
        .iter()
        .find(|o| o.name == card.roles.output)
        .ok_or_else(|| {
            Error::BadCard(format!(
                "roles.output {:?} is not a graph output",
                card.roles.output
            ))
        })?;
    if card.kind == Kind::Velocity && state.shape != out.shape {
        return Err(Error::BadCard(format!(
            "a velocity model's output must have the state's shape: {:?} vs {:?}",
            out.shape, state.shape
        )));
    }
    for r in [&card.roles.time, &card.roles.cond].into_iter().flatten() {
        if !m.inputs.iter().any(|i| &i.name == r) {
            return Err(Error::BadCard(format!(
                "role input {r:?} is not a graph input"
            )));
        }
    }
    Ok(())
}
