//! The native CPU backend: runs a planned [`Graph`] with fewstep's kernels.
//!
//! Everything is built in [`NativeEngine::new`]: packed weights, the arena, and a flat list of
//! instructions with resolved locations. [`NativeEngine::run`] only reads and writes those buffers.

use std::sync::Arc;

use half::f16;

use crate::Precision;
use crate::cpu::gemm::{self, PackedB};
use crate::cpu::{Isa, norm, unary};
use crate::error::Error;
use crate::ir::{Around, BinKind, Broadcast, Graph, MatMulSpec, Op, ReduceKind};
use crate::plan::{Loc, MemoryPlan};

/// Most axes a broadcast, transpose or batched matmul may have after merging.
const MAX_RANK: usize = 8;

#[derive(Debug)]
enum Packed {
    F32(PackedB<f32>),
    F16(PackedB<f16>),
}

/// An engine's packed weight matrices, which other engines of the same model and precision
/// (built for other dims, e.g. the chunks of a multi-threaded session) can share instead of
/// packing their own copy. Each matrix carries its shape and a fingerprint of the weights it
/// was packed from, so an engine only shares matrices that are the very ones it would pack.
#[derive(Debug, Clone)]
pub struct SharedWeights {
    packed: Arc<Vec<Packed>>,
    /// Per matrix: (k, n, FNV-1a of the source weights' bits).
    keys: Arc<Vec<(usize, usize, u64)>>,
    precision: Precision,
}

impl SharedWeights {
    /// Bytes of the packed matrices.
    pub fn bytes(&self) -> usize {
        self.packed
            .iter()
            .map(|p| match p {
                Packed::F32(b) => b.bytes(),
                Packed::F16(b) => b.bytes(),
            })
            .sum()
    }
}

/// FNV-1a over the bits of `w`: identifies a weight matrix without keeping it.
fn fingerprint(w: &[f32]) -> u64 {
    w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h ^ u64::from(v.to_bits())).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug)]
struct Instr {
    op: Op,
    /// For `Linear`: index into `packed`.
    packed: usize,
    ins: Vec<Loc>,
    out: (usize, usize),
}

/// A graph ready to run on the CPU.
#[derive(Debug)]
pub struct NativeEngine {
    isa: Isa,
    instrs: Vec<Instr>,
    arena: Vec<f32>,
    consts: Vec<Vec<f32>>,
    packed: Arc<Vec<Packed>>,
    keys: Arc<Vec<(usize, usize, u64)>>,
    precision: Precision,
    inputs: Vec<(usize, usize)>,
    outputs: Vec<Loc>,
    weight_bytes: usize,
    arena_bytes: usize,
}

impl NativeEngine {
    /// Builds the engine: packs weights (as f16 for `Precision::F16`), allocates the arena.
    /// With `shared`, the packed matrices of another engine are used instead of packing, if
    /// they are exactly this graph's (same precision, and per matrix the same shape and
    /// weights); `weight_bytes` then counts only what this engine holds itself.
    pub fn new(
        g: &Graph,
        plan: &MemoryPlan,
        precision: Precision,
        isa: Isa,
        shared: Option<&SharedWeights>,
    ) -> Result<NativeEngine, Error> {
        let weight_only = g.linear_weight_only();
        let mut weight_bytes = 0;
        let consts: Vec<Vec<f32>> = plan
            .consts
            .iter()
            .map(|&v| {
                if weight_only[v] {
                    Vec::new()
                } else {
                    let d = g.const_data(v).expect("planned const").to_vec();
                    weight_bytes += d.len() * 4;
                    d
                }
            })
            .collect();
        let linear_weight = |n: &crate::ir::Node| {
            g.const_data(n.inputs[1])
                .expect("a Linear weight is constant")
        };
        let keys: Vec<(usize, usize, u64)> = g
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Linear { k, n: cols, .. } => Some((k, cols, fingerprint(linear_weight(n)))),
                _ => None,
            })
            .collect();
        let reuse = shared.filter(|s| s.precision == precision && *s.keys == keys);
        let mut packed = Vec::new();
        let mut linears = 0;
        let mut instrs = Vec::with_capacity(g.nodes.len());
        for n in &g.nodes {
            let mut p = 0;
            match &n.op {
                Op::Linear { k, n: cols, .. } => {
                    p = linears;
                    linears += 1;
                    if reuse.is_none() {
                        let w = linear_weight(n);
                        let pk = match precision {
                            Precision::F32 => Packed::F32(gemm::pack_b_f32(w, *k, *cols)),
                            Precision::F16 => Packed::F16(gemm::pack_b_f16(w, *k, *cols)),
                        };
                        weight_bytes += match &pk {
                            Packed::F32(b) => b.bytes(),
                            Packed::F16(b) => b.bytes(),
                        };
                        packed.push(pk);
                    }
                }
                Op::MatMul(s) if s.batch.len() > MAX_RANK => {
                    return Err(Error::Unsupported(format!(
                        "{}: more than {MAX_RANK} batch axes",
                        n.name
                    )));
                }
                Op::Binary { layout, .. } | Op::BroadcastTo { layout }
                    if layout.shape.len() > MAX_RANK =>
                {
                    return Err(Error::Unsupported(format!(
                        "{}: broadcast of rank > {MAX_RANK}",
                        n.name
                    )));
                }
                Op::Transpose { shape, .. } if shape.len() > MAX_RANK => {
                    return Err(Error::Unsupported(format!(
                        "{}: transpose of rank > {MAX_RANK}",
                        n.name
                    )));
                }
                _ => {}
            }
            let out = match plan.locs[n.output] {
                Loc::Arena { offset, len } => (offset, len),
                _ => unreachable!("a node output is always in the arena"),
            };
            instrs.push(Instr {
                op: n.op.clone(),
                packed: p,
                ins: n.inputs.iter().map(|&v| plan.locs[v]).collect(),
                out,
            });
        }
        let inputs = g
            .inputs
            .iter()
            .map(|&v| match plan.locs[v] {
                Loc::Arena { offset, len } => (offset, len),
                _ => unreachable!("inputs are in the arena"),
            })
            .collect();
        let outputs = g.outputs.iter().map(|&v| plan.locs[v]).collect();
        Ok(NativeEngine {
            isa,
            instrs,
            arena: crate::buffers::zeroed(plan.arena_len, "activation arena")?,
            consts,
            packed: match reuse {
                Some(s) => s.packed.clone(),
                None => Arc::new(packed),
            },
            keys: Arc::new(keys),
            precision,
            inputs,
            outputs,
            weight_bytes,
            arena_bytes: plan.arena_len * 4,
        })
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// This engine's packed weights, for other engines of the same model to share.
    pub fn shared_weights(&self) -> SharedWeights {
        SharedWeights {
            packed: self.packed.clone(),
            keys: self.keys.clone(),
            precision: self.precision,
        }
    }

    /// Bytes of weights as stored by this engine (packed matrices plus other constants).
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// Bytes of the activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// The buffer of graph input `i`; write the input here before `run`.
    pub fn input_mut(&mut self, i: usize) -> &mut [f32] {
        let (o, l) = self.inputs[i];
        &mut self.arena[o..o + l]
    }

    /// Graph output `i` after `run`.
    pub fn output(&self, i: usize) -> &[f32] {
        match self.outputs[i] {
            Loc::Arena { offset, len } => &self.arena[offset..offset + len],
            Loc::Const(c) => &self.consts[c],
            Loc::None => &[],
        }
    }

    /// One forward pass. Never allocates.
    pub fn run(&mut self) {
        let isa = self.isa;
        for ins in &self.instrs {
            let (o, len) = ins.out;
            let (lo, rest) = self.arena.split_at_mut(o);
            let (out, hi) = rest.split_at_mut(len);
            let (lo, hi): (&[f32], &[f32]) = (lo, hi);
            let consts = &self.consts;
            let get = |i: usize| -> &[f32] {
                match ins.ins[i] {
                    Loc::Const(c) => &consts[c],
                    Loc::Arena { offset, len } if offset + len <= o => &lo[offset..offset + len],
                    Loc::Arena { offset, len: l } => &hi[offset - o - len..][..l],
                    Loc::None => &[],
                }
            };
            exec(isa, ins, &self.packed, &get, out);
        }
    }
}

fn exec<'a>(
    isa: Isa,
    ins: &Instr,
    packed: &[Packed],
    get: &dyn Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    match &ins.op {
        Op::Linear {
            m,
            k,
            n,
            act,
            has_bias,
        } => {
            let bias = if *has_bias { Some(get(2)) } else { None };
            match &packed[ins.packed] {
                Packed::F32(b) => gemm::gemm_f32(isa, *m, get(0), *k, b, bias, *act, out, *n),
                Packed::F16(b) => gemm::gemm_f16(isa, *m, get(0), *k, b, bias, *act, out, *n),
            }
        }
        Op::MatMul(s) => matmul(isa, s, get(0), get(1), out),
        Op::Binary { kind, layout } => binary(*kind, layout, get(0), get(1), out),
        Op::BroadcastTo { layout } => broadcast_to(layout, get(0), out),
        Op::Unary(u) => unary::apply_unary(isa, *u, get(0), out),
        Op::LayerNorm { d, eps, has_beta } => {
            let beta = if *has_beta { Some(get(2)) } else { None };
            norm::layer_norm(isa, get(0), *d, get(1), beta, *eps, out)
        }
        Op::RmsNorm { around, eps } => rms_norm(*around, *eps, get(0), out),
        Op::Reduce { kind, around } => reduce(*kind, *around, get(0), out),
        Op::Softmax { around } => {
            if around.inner == 1 {
                norm::softmax(isa, get(0), around.axis, out)
            } else {
                softmax_strided(*around, get(0), out)
            }
        }
        Op::Concat { outer, inners } => {
            let total: usize = inners.iter().sum();
            let mut at = 0;
            for (i, &inner) in inners.iter().enumerate() {
                let x = get(i);
                for o in 0..*outer {
                    out[o * total + at..o * total + at + inner]
                        .copy_from_slice(&x[o * inner..(o + 1) * inner]);
                }
                at += inner;
            }
        }
        Op::Transpose { shape, perm } => transpose(shape, perm, get(0), out),
        Op::Slice { around, start, end } => {
            let x = get(0);
            let w = (end - start) * around.inner;
            for o in 0..around.outer {
                let src = (o * around.axis + start) * around.inner;
                out[o * w..(o + 1) * w].copy_from_slice(&x[src..src + w]);
            }
        }
        Op::Gather { around, indices } => {
            let x = get(0);
            let inner = around.inner;
            for o in 0..around.outer {
                for (j, &idx) in indices.iter().enumerate() {
                    let src = (o * around.axis + idx) * inner;
                    let dst = (o * indices.len() + j) * inner;
                    out[dst..dst + inner].copy_from_slice(&x[src..src + inner]);
                }
            }
        }
        Op::Copy => out.copy_from_slice(get(0)),
    }
}

/// Iterates an odometer over `shape[..rank-1]`, calling `f` with the offsets of each input.
#[inline(always)]
fn for_each_row<const N: usize>(
    shape: &[usize],
    strides: [&[usize]; N],
    mut f: impl FnMut([usize; N], usize),
) {
    let r = shape.len();
    let rows: usize = shape[..r.saturating_sub(1)].iter().product();
    let inner = if r == 0 { 1 } else { shape[r - 1] };
    let mut idx = [0usize; MAX_RANK];
    let mut offs = [0usize; N];
    for row in 0..rows {
        f(offs, row * inner);
        // advance the odometer over the outer axes
        let mut d = r.saturating_sub(1);
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            for (t, st) in strides.iter().enumerate() {
                offs[t] += st[d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for (t, st) in strides.iter().enumerate() {
                offs[t] -= st[d] * shape[d];
            }
            idx[d] = 0;
        }
    }
}

#[inline(always)]
fn binary_rows(
    layout: &Broadcast,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(f32, f32) -> f32 + Copy,
) {
    let r = layout.shape.len();
    if r == 0 {
        out[0] = f(a[0], b[0]);
        return;
    }
    let inner = layout.shape[r - 1];
    let (sa, sb) = (layout.strides[0][r - 1], layout.strides[1][r - 1]);
    for_each_row(
        &layout.shape,
        [&layout.strides[0], &layout.strides[1]],
        |[oa, ob], oc| {
            let c = &mut out[oc..oc + inner];
            match (sa, sb) {
                (1, 1) => {
                    for ((c, &x), &y) in
                        c.iter_mut().zip(&a[oa..oa + inner]).zip(&b[ob..ob + inner])
                    {
                        *c = f(x, y);
                    }
                }
                (1, 0) => {
                    let y = b[ob];
                    for (c, &x) in c.iter_mut().zip(&a[oa..oa + inner]) {
                        *c = f(x, y);
                    }
                }
                (0, 1) => {
                    let x = a[oa];
                    for (c, &y) in c.iter_mut().zip(&b[ob..ob + inner]) {
                        *c = f(x, y);
                    }
                }
                _ => {
                    for (j, c) in c.iter_mut().enumerate() {
                        *c = f(a[oa + j * sa], b[ob + j * sb]);
                    }
                }
            }
        },
    );
}

fn binary(kind: BinKind, layout: &Broadcast, a: &[f32], b: &[f32], out: &mut [f32]) {
    match kind {
        BinKind::Add => binary_rows(layout, a, b, out, |x, y| x + y),
        BinKind::Sub => binary_rows(layout, a, b, out, |x, y| x - y),
        BinKind::Mul => binary_rows(layout, a, b, out, |x, y| x * y),
        BinKind::Div => binary_rows(layout, a, b, out, |x, y| x / y),
        k => binary_rows(layout, a, b, out, move |x, y| k.apply(x, y)),
    }
}

fn broadcast_to(layout: &Broadcast, x: &[f32], out: &mut [f32]) {
    let r = layout.shape.len();
    if r == 0 {
        out[0] = x[0];
        return;
    }
    let inner = layout.shape[r - 1];
    let s = layout.strides[0][r - 1];
    for_each_row(&layout.shape, [&layout.strides[0]], |[ox], oc| {
        for (j, c) in out[oc..oc + inner].iter_mut().enumerate() {
            *c = x[ox + j * s];
        }
    });
}

fn matmul(isa: Isa, s: &MatMulSpec, a: &[f32], b: &[f32], c: &mut [f32]) {
    let nb = s.batch.len();
    let count: usize = s.batch.iter().map(|x| x.0).product();
    let mut idx = [0usize; MAX_RANK];
    let (mut oa, mut ob, mut oc) = (0usize, 0usize, 0usize);
    for _ in 0..count {
        gemm::matmul_strided(
            isa,
            s.m,
            s.n,
            s.k,
            1.0,
            &a[oa..],
            s.rsa,
            s.csa,
            &b[ob..],
            s.rsb,
            s.csb,
            &mut c[oc..],
            s.ldc,
        );
        let mut d = nb;
        while d > 0 {
            d -= 1;
            let (len, sa, sb, sc) = s.batch[d];
            idx[d] += 1;
            oa += sa;
            ob += sb;
            oc += sc;
            if idx[d] < len {
                break;
            }
            oa -= sa * len;
            ob -= sb * len;
            oc -= sc * len;
            idx[d] = 0;
        }
    }
}

fn rms_norm(a: Around, eps: f32, x: &[f32], y: &mut [f32]) {
    for o in 0..a.outer {
        for i in 0..a.inner {
            let base = o * a.axis * a.inner + i;
            let mut ss = 0f32;
            for j in 0..a.axis {
                let v = x[base + j * a.inner];
                ss += v * v;
            }
            let scale = 1.0 / (ss / a.axis as f32 + eps).sqrt();
            for j in 0..a.axis {
                y[base + j * a.inner] = x[base + j * a.inner] * scale;
            }
        }
    }
}

fn reduce(kind: ReduceKind, a: Around, x: &[f32], y: &mut [f32]) {
    for o in 0..a.outer {
        for i in 0..a.inner {
            let base = o * a.axis * a.inner + i;
            let vals = (0..a.axis).map(|j| x[base + j * a.inner]);
            y[o * a.inner + i] = match kind {
                ReduceKind::Sum => vals.sum(),
                ReduceKind::Max => vals.fold(f32::NEG_INFINITY, f32::max),
                ReduceKind::Min => vals.fold(f32::INFINITY, f32::min),
                ReduceKind::MeanOfSquares => vals.map(|v| v * v).sum::<f32>() / a.axis as f32,
            };
        }
    }
}

fn softmax_strided(a: Around, x: &[f32], y: &mut [f32]) {
    for o in 0..a.outer {
        for i in 0..a.inner {
            let base = o * a.axis * a.inner + i;
            let mut m = f32::NEG_INFINITY;
            for j in 0..a.axis {
                m = m.max(x[base + j * a.inner]);
            }
            let mut s = 0f32;
            for j in 0..a.axis {
                let e = (x[base + j * a.inner] - m).exp();
                y[base + j * a.inner] = e;
                s += e;
            }
            let inv = 1.0 / s;
            for j in 0..a.axis {
                y[base + j * a.inner] *= inv;
            }
        }
    }
}

fn transpose(shape: &[usize], perm: &[usize], x: &[f32], out: &mut [f32]) {
    let r = shape.len();
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1;
    for d in (0..r).rev() {
        in_strides[d] = acc;
        acc *= shape[d];
    }
    let mut out_shape = [1usize; MAX_RANK];
    let mut st = [0usize; MAX_RANK];
    for (d, &p) in perm.iter().enumerate() {
        out_shape[d] = shape[p];
        st[d] = in_strides[p];
    }
    for_each_row(&out_shape[..r], [&st[..r]], |[ox], oc| {
        let inner = if r == 0 { 1 } else { out_shape[r - 1] };
        let s = if r == 0 { 0 } else { st[r - 1] };
        for (j, c) in out[oc..oc + inner].iter_mut().enumerate() {
            *c = x[ox + j * s];
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::onnx::write::encode;
    use crate::session::lower_native;
    use crate::testing::{MlpShape, mlp_velocity};
    use std::collections::BTreeMap;

    fn engine(
        model: &Model,
        n: usize,
        precision: Precision,
        shared: Option<&SharedWeights>,
    ) -> NativeEngine {
        let dims = BTreeMap::from([("N".to_string(), n)]);
        let g = lower_native(model, &dims).unwrap();
        NativeEngine::new(&g, &crate::plan::plan(&g), precision, Isa::detect(), shared).unwrap()
    }

    fn forward(e: &mut NativeEngine, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        for i in 0..e.inputs.len() {
            rng.fill_normal(e.input_mut(i));
        }
        e.run();
        e.output(0).to_vec()
    }

    /// Weights are shared only when they are the ones the engine would pack: the same model
    /// at another batch size shares them (and computes what its own packing computes); another
    /// model of the same shapes, or another precision, packs its own.
    #[test]
    fn engines_share_only_their_own_weights() {
        let shape = MlpShape {
            state: 4,
            cond: 3,
            hidden: 16,
        };
        let a = Model::from_bytes(&encode(&mlp_velocity(1, shape, 1))).unwrap();
        let b = Model::from_bytes(&encode(&mlp_velocity(2, shape, 1))).unwrap();
        let base = engine(&a, 4, Precision::F32, None);
        let w = base.shared_weights();
        let mut same = engine(&a, 2, Precision::F32, Some(&w));
        assert!(Arc::ptr_eq(&same.packed, &base.packed));
        assert!(same.weight_bytes() < base.weight_bytes());
        let mut own = engine(&a, 2, Precision::F32, None);
        assert_eq!(forward(&mut same, 7), forward(&mut own, 7));
        let mut other = engine(&b, 2, Precision::F32, Some(&w));
        assert!(!Arc::ptr_eq(&other.packed, &base.packed));
        let mut other_own = engine(&b, 2, Precision::F32, None);
        assert_eq!(forward(&mut other, 7), forward(&mut other_own, 7));
        let half = engine(&a, 2, Precision::F16, Some(&w));
        assert!(!Arc::ptr_eq(&half.packed, &base.packed));
    }
}
