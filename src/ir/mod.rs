//! fewstep's graph IR: concrete shapes, f32 values, an op set small enough to run natively
//! on the CPU (and, later, on the GPU from the same plan).
//!
//! A graph is lowered from tract's *decluttered* `TypedModel` (see [`lower`]), then rewritten by
//! [`fuse`] (matmul + bias + activation, the LayerNorm chain).

pub mod fuse;
pub mod lower;

use crate::cpu::Act;
pub use crate::cpu::unary::Unary;

/// Index of a value in [`Graph::values`].
pub type ValueId = usize;

/// Where a value's data lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    /// The `i`-th graph input.
    Input(usize),
    /// A weight or other constant.
    Const(Vec<f32>),
    /// Produced by a node.
    Activation,
    /// The same data as another value, reinterpreted (reshape, add/remove axis).
    Alias(ValueId),
}

/// A tensor in the graph: its concrete shape and where it lives.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: String,
    pub shape: Vec<usize>,
    pub storage: Storage,
}

impl Value {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Elementwise binary operations (with broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

impl BinKind {
    /// The reference semantics, used by every backend.
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinKind::Add => a + b,
            BinKind::Sub => a - b,
            BinKind::Mul => a * b,
            BinKind::Div => a / b,
            BinKind::Max => a.max(b),
            BinKind::Min => a.min(b),
            BinKind::Pow => a.powf(b),
        }
    }
}

/// Reductions over one contiguous group of axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Max,
    Min,
    MeanOfSquares,
}

/// A tensor viewed as `[outer, axis, inner]` around one axis (or a contiguous group of axes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Around {
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
}

impl Around {
    pub fn new(shape: &[usize], first: usize, last_inclusive: usize) -> Around {
        Around {
            outer: shape[..first].iter().product(),
            axis: shape[first..=last_inclusive].iter().product(),
            inner: shape[last_inclusive + 1..].iter().product(),
        }
    }
}

/// A batched matrix product in strides (elements), from an EinSum:
/// `C[b][i][j] = Σ_k A[b][i][k] · B[b][k][j]` over any layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatMulSpec {
    /// Batch axes: (length, stride in A, stride in B, stride in C).
    pub batch: Vec<(usize, usize, usize, usize)>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub rsa: usize,
    pub csa: usize,
    pub rsb: usize,
    pub csb: usize,
    /// Row stride of C; C's column stride is always 1.
    pub ldc: usize,
}

/// Broadcasting layout of an elementwise op: per output axis, the stride in each input (0 when
/// the input is broadcast along it). Axes are merged where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub shape: Vec<usize>,
    pub strides: Vec<Vec<usize>>,
}

impl Broadcast {
    /// Layout for inputs of `in_shapes` (all of the output's rank) producing `out`.
    pub fn new(out: &[usize], in_shapes: &[&[usize]]) -> Broadcast {
        let mut strides: Vec<Vec<usize>> = in_shapes
            .iter()
            .map(|s| {
                let mut st = vec![0; s.len()];
                let mut acc = 1;
                for d in (0..s.len()).rev() {
                    st[d] = if s[d] == 1 && out[d] != 1 { 0 } else { acc };
                    acc *= s[d];
                }
                st
            })
            .collect();
        // Drop unit axes, then merge adjacent axes that are contiguous in every input.
        let mut shape: Vec<usize> = Vec::new();
        let mut merged: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
        for d in 0..out.len() {
            if out[d] == 1 {
                continue;
            }
            let can_merge = !shape.is_empty()
                && strides.iter().zip(&merged).all(|(st, m)| {
                    let prev = *m.last().unwrap();
                    prev == st[d] * out[d]
                });
            if can_merge {
                *shape.last_mut().unwrap() *= out[d];
                for (st, m) in strides.iter().zip(merged.iter_mut()) {
                    *m.last_mut().unwrap() = st[d];
                }
            } else {
                shape.push(out[d]);
                for (st, m) in strides.iter().zip(merged.iter_mut()) {
                    m.push(st[d]);
                }
            }
        }
        strides = merged;
        Broadcast { shape, strides }
    }
}

/// The op set.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `y[.., n] = act(x[.., k] · W + bias)`; inputs `[x, W(const, k x n row-major), bias?]`.
    Linear {
        m: usize,
        k: usize,
        n: usize,
        act: Act,
        has_bias: bool,
    },
    /// Activation x activation product (attention); inputs `[A, B]`.
    MatMul(MatMulSpec),
    Binary {
        kind: BinKind,
        layout: Broadcast,
    },
    /// Copy with broadcasting (tract's MultiBroadcastTo); one input.
    BroadcastTo {
        layout: Broadcast,
    },
    Unary(Unary),
    /// Over the last axis: inputs `[x, gamma, beta?]`.
    LayerNorm {
        d: usize,
        eps: f32,
        has_beta: bool,
    },
    /// `x / sqrt(mean(x², axis) + eps)`.
    RmsNorm {
        around: Around,
        eps: f32,
    },
    Reduce {
        kind: ReduceKind,
        around: Around,
    },
    Softmax {
        around: Around,
    },
    /// Concatenation: each input is `[outer, inner_i]`.
    Concat {
        outer: usize,
        inners: Vec<usize>,
    },
    /// General permutation of a tensor of `shape`.
    Transpose {
        shape: Vec<usize>,
        perm: Vec<usize>,
    },
    /// `[outer, axis, inner]` -> `[outer, end - start, inner]`.
    Slice {
        around: Around,
        start: usize,
        end: usize,
    },
    /// Gather along an axis with constant indices.
    Gather {
        around: Around,
        indices: Vec<usize>,
    },
    /// Copies its input (used where an output must not alias an input).
    Copy,
}

impl Op {
    /// Short name, for `fewstep info` and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Linear { .. } => "Linear",
            Op::MatMul(_) => "MatMul",
            Op::Binary { .. } => "Binary",
            Op::BroadcastTo { .. } => "BroadcastTo",
            Op::Unary(_) => "Unary",
            Op::LayerNorm { .. } => "LayerNorm",
            Op::RmsNorm { .. } => "RmsNorm",
            Op::Reduce { .. } => "Reduce",
            Op::Softmax { .. } => "Softmax",
            Op::Concat { .. } => "Concat",
            Op::Transpose { .. } => "Transpose",
            Op::Slice { .. } => "Slice",
            Op::Gather { .. } => "Gather",
            Op::Copy => "Copy",
        }
    }
}

/// One computation.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

/// A lowered graph with concrete shapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub values: Vec<Value>,
    /// In evaluation order.
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// Follows aliases to the value that owns the data.
    pub fn root(&self, mut v: ValueId) -> ValueId {
        while let Storage::Alias(r) = self.values[v].storage {
            v = r;
        }
        v
    }

    /// The constant data behind `v` (through aliases), if it is a constant.
    pub fn const_data(&self, v: ValueId) -> Option<&[f32]> {
        match &self.values[self.root(v)].storage {
            Storage::Const(d) => Some(d),
            _ => None,
        }
    }

    /// How many node inputs (plus graph outputs) read each value, aliases counted on their root.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.values.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                c[i] += 1;
            }
        }
        for &o in &self.outputs {
            c[o] += 1;
        }
        for v in 0..self.values.len() {
            if let Storage::Alias(r) = self.values[v].storage {
                c[r] += 1;
            }
        }
        c
    }

    /// Per value: true when it is read only as a `Linear` weight (input 1), never as an
    /// activation or graph output, so a backend may store it packed or in f16.
    pub fn linear_weight_only(&self) -> Vec<bool> {
        let mut only = vec![true; self.values.len()];
        for n in &self.nodes {
            for (slot, &v) in n.inputs.iter().enumerate() {
                if !(matches!(n.op, Op::Linear { .. }) && slot == 1) {
                    only[self.root(v)] = false;
                }
            }
        }
        for &o in &self.outputs {
            only[self.root(o)] = false;
        }
        only
    }

    /// Number of weight scalars.
    pub fn parameter_count(&self) -> usize {
        self.values
            .iter()
            .filter_map(|v| match &v.storage {
                Storage::Const(d) => Some(d.len()),
                _ => None,
            })
            .sum()
    }
}
