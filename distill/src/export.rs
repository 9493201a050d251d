//! Export of a [`TrajNet`] as ONNX with fewstep's writer, op for op the network of
//! [`TrajNet::forward`], using only ops fewstep's native backend runs.
//!
//! A velocity net's graph outputs the velocity `v = (x̂1 − x) / max(1 − t, 1e-3)` (the clamp is
//! `Relu(1 − t − ε) + ε`), so the card's Euler sampler integrates it directly. A generator's
//! graph outputs its sample `y`. Besides the card (`metadata_props["fewstep"]`) the file carries
//! the network's config under [`CONFIG_KEY`].

use std::collections::BTreeMap;
use std::path::Path;

use fewstep::card::{
    Card, CardDim, FORMAT_VERSION, Kind, Method, Prediction, Provenance, Roles, SamplerSpec,
    TensorSpec,
};
use fewstep::forecast::features::Normalization;
use fewstep::onnx::{Attr, Dim, GraphBuilder, pb};

use crate::model::{LN_EPS, NetKind, ONE_MINUS_T_MIN, TrajConfig, TrajNet};

/// `metadata_props` key of the [`TrajConfig`] JSON.
pub const CONFIG_KEY: &str = "fewstep-distill.trajnet";

/// What goes into the card besides the network.
#[derive(Debug, Clone, Default)]
pub struct ExportInfo {
    /// Euler steps of the card's uniform grid (velocity nets).
    pub steps: usize,
    /// `Normalization::future_scale` of the training data.
    pub future_scale: f32,
    pub provenance: Provenance,
    pub metrics: BTreeMap<String, f64>,
}

fn spec(name: &str, shape: &[CardDim]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape: shape.to_vec(),
    }
}

/// The card of `config` with `info`.
pub fn card(config: &TrajConfig, info: &ExportInfo) -> Card {
    let n = || CardDim::Sym("N".into());
    let state = [
        n(),
        CardDim::Fixed(config.modes),
        CardDim::Fixed(config.state),
    ];
    let cond = spec("cond", &[n(), CardDim::Fixed(config.cond)]);
    let normalization = serde_json::to_value(Normalization {
        features: config.features,
        future_scale: info.future_scale,
    })
    .expect("normalization serializes");
    let mut metrics = info.metrics.clone();
    metrics.insert("params".into(), config.parameter_count() as f64);
    metrics.insert("macs_per_agent_pass".into(), config.macs_per_pass() as f64);
    match config.kind {
        NetKind::Velocity => Card {
            format_version: FORMAT_VERSION,
            kind: Kind::Velocity,
            roles: Roles {
                state: "x".into(),
                time: Some("t".into()),
                cond: Some("cond".into()),
                output: "v".into(),
            },
            inputs: vec![
                spec("x", &state),
                spec("t", &[n(), CardDim::Fixed(1)]),
                cond,
            ],
            outputs: vec![spec("v", &state)],
            sampler: Some(SamplerSpec::uniform(Method::Euler, info.steps.max(1))),
            prediction: Some(Prediction::Data),
            normalization,
            provenance: info.provenance.clone(),
            metrics,
        },
        NetKind::Generator => Card {
            format_version: FORMAT_VERSION,
            kind: Kind::Generator,
            roles: Roles {
                state: "x".into(),
                time: None,
                cond: Some("cond".into()),
                output: "y".into(),
            },
            inputs: vec![spec("x", &state), cond],
            outputs: vec![spec("y", &state)],
            sampler: None,
            prediction: None,
            normalization,
            provenance: info.provenance.clone(),
            metrics,
        },
    }
}

/// The net's weights as the graph takes them, recording the order in which they become
/// initializers (what [`crate::import`] inverts).
struct Weights<'a> {
    net: &'a TrajNet,
    order: Vec<String>,
}

impl Weights<'_> {
    fn take(&mut self, name: &str) -> Result<Vec<f32>, String> {
        let v = self.net.param_vec(name).map_err(|e| e.to_string())?;
        self.order.push(name.to_string());
        Ok(v)
    }
}

fn linear(g: &mut GraphBuilder, net: &mut Weights, x: &str, name: &str) -> Result<String, String> {
    let w = net
        .net
        .param(&format!("{name}.w"))
        .map_err(|e| e.to_string())?;
    let (k, n) = w.dims2().map_err(|e| e.to_string())?;
    let wv = net.take(&format!("{name}.w"))?;
    let bv = net.take(&format!("{name}.b"))?;
    Ok(g.linear(x, &wv, Some(&bv), k, n))
}

fn layer_norm(
    g: &mut GraphBuilder,
    net: &mut Weights,
    x: &str,
    name: &str,
) -> Result<String, String> {
    let gm = net.take(&format!("{name}.g"))?;
    let bt = net.take(&format!("{name}.b"))?;
    Ok(g.layer_norm(x, &gm, &bt, LN_EPS))
}

/// The residual GELU MLP of block `p` applied to `hs`.
fn mlp(g: &mut GraphBuilder, net: &mut Weights, hs: &str, p: &str) -> Result<String, String> {
    let m = layer_norm(g, net, hs, &format!("{p}.ln2"))?;
    let m = linear(g, net, &m, &format!("{p}.fc1"))?;
    let m = g.node("Gelu", &[&m], &[]);
    let m = linear(g, net, &m, &format!("{p}.fc2"))?;
    Ok(g.node("Add", &[hs, &m], &[]))
}

/// The ONNX bytes of `net` with its card.
pub fn to_onnx(net: &TrajNet, info: &ExportInfo) -> Result<Vec<u8>, String> {
    let (proto, _) = to_proto(net, info)?;
    Ok(fewstep::onnx::write::encode(&proto))
}

/// The names of the parameters of a `config` net in the order the export writes them as
/// initializers (each linear layer's `.w` then `.b`, each LayerNorm's `.g` then `.b`,
/// `mode_emb`), skipping the graph's own constants.
pub fn weight_order(config: &TrajConfig) -> Result<Vec<String>, String> {
    let net = TrajNet::new(config.clone(), 0)?;
    Ok(to_proto(&net, &ExportInfo::default())?.1)
}

/// Initializer name hints of the network's parameters (the writer names initializers
/// `<hint>_<counter>`); every other initializer is a constant of the graph itself.
pub const WEIGHT_HINTS: [&str; 5] = ["w", "b", "ln_g", "ln_b", "mode_emb"];

fn to_proto(net: &TrajNet, info: &ExportInfo) -> Result<(pb::ModelProto, Vec<String>), String> {
    let c = &net.config;
    let net = &mut Weights {
        net,
        order: Vec::new(),
    };
    let (k, s, d, h) = (c.modes, c.state, c.d_model, c.heads);
    let dh = d / h;
    let mut g = GraphBuilder::new(match c.kind {
        NetKind::Velocity => "trajnet_velocity",
        NetKind::Generator => "trajnet_generator",
    });
    let nsym = Dim::Sym("N".into());
    let x = g.input("x", &[nsym.clone(), k.into(), s.into()]);
    let t = match c.kind {
        NetKind::Velocity => Some(g.input("t", &[nsym.clone(), 1.into()])),
        NetKind::Generator => None,
    };
    let cond = g.input("cond", &[nsym.clone(), c.cond.into()]);

    // context [N, d]
    let ctx = linear(&mut g, net, &cond, "cond1")?;
    let ctx = g.node("Gelu", &[&ctx], &[]);
    let mut ctx = linear(&mut g, net, &ctx, "cond2")?;
    if let Some(t) = &t {
        let f = c.time_freqs();
        let fq = g.constant("time_freqs", &[1, f.len()], &f);
        let tf = g.node("Mul", &[t, &fq], &[]);
        let ts = g.node("Sin", &[&tf], &[]);
        let tc = g.node("Cos", &[&tf], &[]);
        let feats = g.node("Concat", &[&ts, &tc], &[Attr::Int("axis", 1)]);
        let temb = linear(&mut g, net, &feats, "time")?;
        ctx = g.node("Add", &[&ctx, &temb], &[]);
    }
    let ax1 = g.constant_i64("axes1", &[1], &[1]);
    let ctx = g.node("Unsqueeze", &[&ctx, &ax1], &[]);

    // tokens [N, K, d]
    let hx = linear(&mut g, net, &x, "in")?;
    let me = net.take("mode_emb")?;
    let me = g.constant("mode_emb", &[k, d], &me);
    let hx = g.node("Add", &[&hx, &me], &[]);
    let mut hs = g.node("Add", &[&hx, &ctx], &[]);

    // the attention's constants, only where the blocks attend across the modes
    let attention = c.mode_attention.then(|| {
        (
            g.constant_i64("split", &[4], &[0, k as i64, h as i64, dh as i64]),
            g.constant_i64("merge", &[3], &[0, k as i64, d as i64]),
            g.constant("attn_scale", &[1], &[1.0 / (dh as f32).sqrt()]),
        )
    });
    for l in 0..c.layers {
        let p = format!("blk{l}");
        let a = layer_norm(&mut g, net, &hs, &format!("{p}.ln1"))?;
        let Some((split, merge, scale)) = &attention else {
            let v = linear(&mut g, net, &a, &format!("{p}.v"))?;
            let o = linear(&mut g, net, &v, &format!("{p}.o"))?;
            hs = g.node("Add", &[&hs, &o], &[]);
            hs = mlp(&mut g, net, &hs, &p)?;
            continue;
        };
        let q = linear(&mut g, net, &a, &format!("{p}.q"))?;
        let kk = linear(&mut g, net, &a, &format!("{p}.k"))?;
        let v = linear(&mut g, net, &a, &format!("{p}.v"))?;
        let mut heads = |y: &str, perm: Vec<i64>| {
            let r = g.node("Reshape", &[y, split], &[]);
            g.node("Transpose", &[&r], &[Attr::Ints("perm", perm)])
        };
        let qh = heads(&q, vec![0, 2, 1, 3]); // [N, H, K, dh]
        let kh = heads(&kk, vec![0, 2, 3, 1]); // [N, H, dh, K]
        let vh = heads(&v, vec![0, 2, 1, 3]);
        let sc = g.node("MatMul", &[&qh, &kh], &[]);
        let sc = g.node("Mul", &[&sc, scale], &[]);
        let pr = g.node("Softmax", &[&sc], &[Attr::Int("axis", -1)]);
        let o = g.node("MatMul", &[&pr, &vh], &[]);
        let o = g.node("Transpose", &[&o], &[Attr::Ints("perm", vec![0, 2, 1, 3])]);
        let o = g.node("Reshape", &[&o, merge], &[]);
        let o = linear(&mut g, net, &o, &format!("{p}.o"))?;
        hs = g.node("Add", &[&hs, &o], &[]);
        hs = mlp(&mut g, net, &hs, &p)?;
    }
    let y = layer_norm(&mut g, net, &hs, "ln_f")?;
    let y = linear(&mut g, net, &y, "out")?;
    let out_shape = [nsym, k.into(), s.into()];
    match &t {
        Some(t) => {
            // v = (x̂1 − x) / (Relu(1 − t − ε) + ε)
            let num = g.node("Sub", &[&y, &x], &[]);
            let one_m_eps = g.constant("one_minus_eps", &[1], &[1.0 - ONE_MINUS_T_MIN]);
            let eps = g.constant("eps", &[1], &[ONE_MINUS_T_MIN]);
            let a = g.node("Sub", &[&one_m_eps, t], &[]);
            let a = g.node("Relu", &[&a], &[]);
            let den = g.node("Add", &[&a, &eps], &[]);
            let ax2 = g.constant_i64("axes2", &[1], &[2]);
            let den = g.node("Unsqueeze", &[&den, &ax2], &[]);
            g.node_named("Div", &[&num, &den], &[], "v");
            g.output("v", &out_shape);
        }
        None => {
            g.node_named("Identity", &[&y], &[], "y");
            g.output("y", &out_shape);
        }
    }
    let card = card(c, info);
    card.validate().map_err(|e| e.to_string())?;
    let mut proto = g.finish(Some(&card));
    // the config, for tools that want the architecture (clone the card entry for its type)
    let mut entry = proto.metadata_props[0].clone();
    entry.key = CONFIG_KEY.into();
    entry.value = serde_json::to_string(c).map_err(|e| e.to_string())?;
    proto.metadata_props.push(entry);
    Ok((proto, std::mem::take(&mut net.order)))
}

/// Writes `net` as ONNX to `path` (creating its folder).
pub fn save(net: &TrajNet, info: &ExportInfo, path: &Path) -> Result<(), String> {
    let bytes = to_onnx(net, info)?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The [`TrajConfig`] stored in an exported file, if any.
pub fn read_config(bytes: &[u8]) -> Option<TrajConfig> {
    config_of(&fewstep::onnx::decode(bytes).ok()?)
}

/// The [`TrajConfig`] stored in a decoded exported model, if any.
pub fn config_of(proto: &pb::ModelProto) -> Option<TrajConfig> {
    proto
        .metadata_props
        .iter()
        .find(|e| e.key == CONFIG_KEY)
        .and_then(|e| serde_json::from_str(&e.value).ok())
}
