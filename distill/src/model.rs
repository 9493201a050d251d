//! `TrajNet`: the trajectory network of the teacher (velocity) and of one-step students
//! (generator), in candle, batch-first.
//!
//! Inputs: `x` `[B, K, 24]` (the noisy future `x_t` for a velocity net, the noise `z` for a
//! generator), `t` `[B, 1]` (velocity only) and `cond` `[B, 32]`.
//!
//! ```text
//! ctx = Linear(GELU(Linear(cond)))            (+ Linear([sin(t f), cos(t f)]) for velocity)
//! h   = Linear(x) + mode_embedding[K, d] + ctx (broadcast over the K modes)
//! h   = layers × pre-LN block (multi-head self-attention across the K modes, GELU MLP)
//!       (with `mode_attention` off, the attention is replaced by its value and output
//!       projections: every mode is then computed on its own)
//! out = Linear(LayerNorm(h))                   -> x̂1 (velocity: predicted data) or y (generator)
//! ```
//!
//! A velocity net predicts the data `x̂1`; its velocity is `(x̂1 − x_t) / max(1 − t, 1e-3)`
//! ([`TrajNet::velocity`]); the exported ONNX graph outputs that velocity.
//!
//! Every weight lives in a [`VarMap`] under a fixed name (see [`TrajNet::names`]); matrices are
//! stored `[in, out]` so that export writes them unchanged as MatMul operands. Initial weights
//! come from fewstep's seeded [`Rng`] (normal × 1/sqrt(fan_in), biases 0, LayerNorm 1/0).

use candle_core::{D, DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;
use fewstep::forecast::features::FeatureVersion;
use fewstep::rng::Rng;
use serde::{Deserialize, Serialize};

/// LayerNorm epsilon (candle and ONNX alike).
pub const LN_EPS: f32 = 1e-5;
/// Lower bound of `1 − t` in the velocity formula: the ε the runtime's card knows for nets
/// that predict the data (`fewstep::card::Prediction::Data`).
pub const ONE_MINUS_T_MIN: f32 = fewstep::card::DATA_SINGULAR_GAP;
/// Highest frequency of the time features (the lowest is 1).
pub const TIME_FREQ_MAX: f32 = 1000.0;

/// What the network computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetKind {
    /// `v(x_t, t, cond)`: predicts data, exported as a velocity.
    Velocity,
    /// `g(z, cond)`: one-step sample.
    Generator,
}

/// Shape of a [`TrajNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrajConfig {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub mlp_ratio: usize,
    /// K, the number of joint modes.
    pub modes: usize,
    /// Width of one mode's state: 12 × (x, y).
    pub state: usize,
    /// Width of the condition.
    pub cond: usize,
    /// The runtime's feature layout the condition is in (`cond` is its width for trajectory
    /// nets; toy nets keep V1 and their own width). Files from before it existed are V1.
    pub features: FeatureVersion,
    pub kind: NetKind,
    /// Self-attention across the K modes (the default). Off, each mode's block keeps only its
    /// value and output projections, so no mode sees another's state: in training the K states
    /// of an item all interpolate towards one ground truth, and attending across them lets the
    /// net read it off their mean (see models/README.md, "Recipe experiments").
    pub mode_attention: bool,
}

impl Default for TrajConfig {
    fn default() -> Self {
        TrajConfig {
            d_model: 128,
            heads: 4,
            layers: 2,
            mlp_ratio: 4,
            modes: 20,
            state: 24,
            cond: 32,
            features: FeatureVersion::V1,
            kind: NetKind::Velocity,
            mode_attention: true,
        }
    }
}

impl TrajConfig {
    /// A trajectory net's config for the feature layout `features` (sets `cond` to its width).
    pub fn with_features(self, features: FeatureVersion) -> Self {
        TrajConfig {
            cond: features.cond_len(),
            features,
            ..self
        }
    }

    /// How many leading condition values describe the track in its own frame: speed
    /// augmentation scales these alone (a V2 condition's scene position and heading and a V3
    /// condition's neighbours stay as observed).
    pub fn track_cond(&self) -> usize {
        match self.features {
            FeatureVersion::V1 => self.cond,
            FeatureVersion::V2 | FeatureVersion::V3 => fewstep::forecast::features::PAST_FEATURES,
        }
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        names_and_shapes(self)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Multiply-adds per agent per network pass (matrix products and attention; element-wise
    /// work, norms and the velocity formula are not counted).
    pub fn macs_per_pass(&self) -> usize {
        let (d, k) = (self.d_model, self.modes);
        let mut m = k * self.state * d; // input
        m += self.cond * d + d * d; // condition MLP (once per agent)
        if self.kind == NetKind::Velocity {
            m += d * d; // time features
        }
        let mixing = if self.mode_attention {
            4 * k * d * d + 2 * k * k * d
        } else {
            2 * k * d * d
        };
        let per_layer = mixing + 2 * k * d * self.mlp_ratio * d;
        m += self.layers * per_layer;
        m += k * d * self.state; // output
        m
    }

    /// The time-feature frequencies: `d/2` geometric values from 1 to [`TIME_FREQ_MAX`].
    pub fn time_freqs(&self) -> Vec<f32> {
        let half = self.d_model / 2;
        (0..half)
            .map(|i| {
                let a = if half > 1 {
                    i as f32 / (half - 1) as f32
                } else {
                    0.0
                };
                (a * TIME_FREQ_MAX.ln()).exp()
            })
            .collect()
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.d_model == 0 || self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "d_model {} must be a positive multiple of heads {}",
                self.d_model, self.heads
            ));
        }
        if !self.d_model.is_multiple_of(2) {
            return Err("d_model must be even (sin/cos time features)".into());
        }
        if self.modes == 0 || self.state == 0 || self.cond == 0 || self.mlp_ratio == 0 {
            return Err("modes, state, cond and mlp_ratio must be positive".into());
        }
        Ok(())
    }
}

/// Whether a parameter is a matrix (for weight decay) or a vector (bias, norm).
pub fn is_matrix(shape: &[usize]) -> bool {
    shape.len() >= 2
}

/// Every parameter's name and shape, in a fixed order (the order of initialisation).
pub fn names_and_shapes(c: &TrajConfig) -> Vec<(String, Vec<usize>)> {
    let (d, s) = (c.d_model, c.state);
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    let lin = |v: &mut Vec<(String, Vec<usize>)>, name: &str, i: usize, o: usize| {
        v.push((format!("{name}.w"), vec![i, o]));
        v.push((format!("{name}.b"), vec![o]));
    };
    lin(&mut v, "in", s, d);
    v.push(("mode_emb".into(), vec![c.modes, d]));
    lin(&mut v, "cond1", c.cond, d);
    lin(&mut v, "cond2", d, d);
    if c.kind == NetKind::Velocity {
        lin(&mut v, "time", d, d);
    }
    for l in 0..c.layers {
        let p = format!("blk{l}");
        v.push((format!("{p}.ln1.g"), vec![d]));
        v.push((format!("{p}.ln1.b"), vec![d]));
        let projections: &[&str] = if c.mode_attention {
            &["q", "k", "v", "o"]
        } else {
            &["v", "o"]
        };
        for n in projections {
            lin(&mut v, &format!("{p}.{n}"), d, d);
        }
        v.push((format!("{p}.ln2.g"), vec![d]));
        v.push((format!("{p}.ln2.b"), vec![d]));
        lin(&mut v, &format!("{p}.fc1"), d, c.mlp_ratio * d);
        lin(&mut v, &format!("{p}.fc2"), c.mlp_ratio * d, d);
    }
    v.push(("ln_f.g".into(), vec![d]));
    v.push(("ln_f.b".into(), vec![d]));
    lin(&mut v, "out", d, s);
    v
}

/// The network: its config and the [`VarMap`] holding its weights.
pub struct TrajNet {
    pub config: TrajConfig,
    pub varmap: VarMap,
    freqs: Tensor,
    device: Device,
}

impl TrajNet {
    /// A freshly initialised network from `seed` (fewstep's [`Rng`]).
    pub fn new(config: TrajConfig, seed: u64) -> std::result::Result<TrajNet, String> {
        config.check()?;
        let mut rng = Rng::new(seed);
        let varmap = VarMap::new();
        let device = Device::Cpu;
        {
            let mut data = varmap.data().lock().expect("varmap lock");
            for (name, shape) in names_and_shapes(&config) {
                let n: usize = shape.iter().product();
                let vals: Vec<f32> = if name.ends_with(".g") {
                    vec![1.0; n]
                } else if name.ends_with(".b") {
                    vec![0.0; n]
                } else {
                    let scale = if name == "mode_emb" {
                        1.0
                    } else {
                        1.0 / (shape[0] as f32).sqrt()
                    };
                    (0..n).map(|_| rng.normal() * scale).collect()
                };
                let t = Tensor::from_vec(vals, shape.as_slice(), &device).map_err(s)?;
                data.insert(name, Var::from_tensor(&t).map_err(s)?);
            }
        }
        Self::with_varmap(config, varmap)
    }

    /// Wraps an existing varmap (e.g. an EMA copy or a loaded checkpoint).
    pub fn with_varmap(config: TrajConfig, varmap: VarMap) -> std::result::Result<TrajNet, String> {
        config.check()?;
        let device = Device::Cpu;
        let f = config.time_freqs();
        let freqs = Tensor::from_vec(f.clone(), (1, f.len()), &device).map_err(s)?;
        let net = TrajNet {
            config,
            varmap,
            freqs,
            device,
        };
        {
            let data = net.varmap.data().lock().expect("varmap lock");
            for (name, shape) in names_and_shapes(&net.config) {
                let v = data
                    .get(&name)
                    .ok_or_else(|| format!("parameter {name} is missing"))?;
                if v.dims() != shape.as_slice() {
                    return Err(format!(
                        "parameter {name} has shape {:?}, expected {shape:?}",
                        v.dims()
                    ));
                }
            }
        }
        Ok(net)
    }

    /// Loads a checkpoint saved with `varmap.save`.
    pub fn load(
        config: TrajConfig,
        path: &std::path::Path,
    ) -> std::result::Result<TrajNet, String> {
        let mut net = TrajNet::new(config, 0)?;
        net.varmap
            .load(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        net = TrajNet::with_varmap(net.config, net.varmap)?;
        Ok(net)
    }

    /// A deep copy (own tensors), e.g. to start an EMA.
    pub fn deep_clone(&self) -> std::result::Result<TrajNet, String> {
        let varmap = VarMap::new();
        {
            let src = self.varmap.data().lock().expect("varmap lock");
            let mut dst = varmap.data().lock().expect("varmap lock");
            for (k, v) in src.iter() {
                let t = v.as_tensor().copy().map_err(s)?;
                dst.insert(k.clone(), Var::from_tensor(&t).map_err(s)?);
            }
        }
        TrajNet::with_varmap(self.config.clone(), varmap)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tensor of parameter `name`.
    pub fn param(&self, name: &str) -> Result<Tensor> {
        let data = self.varmap.data().lock().expect("varmap lock");
        data.get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| candle_core::Error::Msg(format!("no parameter {name}")))
    }

    /// A parameter's values, row-major.
    pub fn param_vec(&self, name: &str) -> Result<Vec<f32>> {
        self.param(name)?.flatten_all()?.to_vec1::<f32>()
    }

    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let w = self.param(&format!("{name}.w"))?;
        let b = self.param(&format!("{name}.b"))?;
        x.broadcast_matmul(&w)?.broadcast_add(&b)
    }

    fn layer_norm(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let g = self.param(&format!("{name}.g"))?;
        let b = self.param(&format!("{name}.b"))?;
        let d = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / d)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / d)?;
        let xn = xc.broadcast_div(&(var + LN_EPS as f64)?.sqrt()?)?;
        xn.broadcast_mul(&g)?.broadcast_add(&b)
    }

    /// The network's raw output: `x̂1` for a velocity net, the sample for a generator.
    /// `x` `[B, K, state]`, `t` `[B, 1]` (ignored, may be `None`, for a generator), `cond`
    /// `[B, cond]`.
    pub fn forward(&self, x: &Tensor, t: Option<&Tensor>, cond: &Tensor) -> Result<Tensor> {
        self.forward_keeping(x, t, cond, None)
    }

    /// [`TrajNet::forward`] with the state's embedding `Linear(x)` multiplied per item by
    /// `keep` `[B, 1, 1]` (0 drops it: the item is predicted from its condition, time and mode
    /// embeddings alone). Training only; `None` is the plain forward pass.
    pub fn forward_keeping(
        &self,
        x: &Tensor,
        t: Option<&Tensor>,
        cond: &Tensor,
        keep: Option<&Tensor>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, k, _) = x.dims3()?;
        let (d, h) = (c.d_model, c.heads);
        let dh = d / h;
        let mut ctx = self.linear(cond, "cond1")?.gelu_erf()?;
        ctx = self.linear(&ctx, "cond2")?;
        if c.kind == NetKind::Velocity {
            let t = t.ok_or_else(|| candle_core::Error::Msg("a velocity net needs t".into()))?;
            let tf = t.broadcast_mul(&self.freqs)?; // [B, d/2]
            let feats = Tensor::cat(&[tf.sin()?, tf.cos()?], 1)?;
            ctx = (ctx + self.linear(&feats, "time")?)?;
        }
        let mut hx = self.linear(x, "in")?;
        if let Some(keep) = keep {
            hx = hx.broadcast_mul(keep)?;
        }
        let mut hs = hx
            .broadcast_add(&self.param("mode_emb")?)?
            .broadcast_add(&ctx.unsqueeze(1)?)?;
        let scale = 1.0 / (dh as f64).sqrt();
        for l in 0..c.layers {
            let p = format!("blk{l}");
            let a = self.layer_norm(&hs, &format!("{p}.ln1"))?;
            if !c.mode_attention {
                let v = self.linear(&a, &format!("{p}.v"))?;
                hs = (hs + self.linear(&v, &format!("{p}.o"))?)?;
                hs = self.mlp(hs, &p)?;
                continue;
            }
            let split = |y: Tensor| -> Result<Tensor> {
                y.reshape((b, k, h, dh))?.transpose(1, 2)?.contiguous()
            };
            let q = split(self.linear(&a, &format!("{p}.q"))?)?;
            let kk = split(self.linear(&a, &format!("{p}.k"))?)?;
            let v = split(self.linear(&a, &format!("{p}.v"))?)?;
            let sc = (q.matmul(&kk.t()?.contiguous()?)? * scale)?;
            let pr = candle_nn::ops::softmax(&sc, D::Minus1)?;
            let o = pr
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, k, d))?;
            hs = (hs + self.linear(&o, &format!("{p}.o"))?)?;
            hs = self.mlp(hs, &p)?;
        }
        let y = self.layer_norm(&hs, "ln_f")?;
        self.linear(&y, "out")
    }

    /// The residual GELU MLP of block `p`.
    fn mlp(&self, hs: Tensor, p: &str) -> Result<Tensor> {
        let m = self.layer_norm(&hs, &format!("{p}.ln2"))?;
        let m = self.linear(&m, &format!("{p}.fc1"))?.gelu_erf()?;
        hs + self.linear(&m, &format!("{p}.fc2"))?
    }

    /// The velocity `(x̂1 − x_t) / max(1 − t, 1e-3)` of a velocity net (what the ONNX graph
    /// outputs).
    pub fn velocity(&self, x: &Tensor, t: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let x1 = self.forward(x, Some(t), cond)?;
        let omt = t.affine(-1.0, 1.0)?.clamp(ONE_MINUS_T_MIN, f32::INFINITY)?;
        (x1 - x)?.broadcast_div(&omt.unsqueeze(2)?)
    }

    /// Convenience: a `[rows, cols..]` f32 tensor on this net's device.
    pub fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_slice(data, shape, &self.device)
    }

    /// Parameter names in a fixed order.
    pub fn names(&self) -> Vec<String> {
        names_and_shapes(&self.config)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Copies every parameter of `other` (same config) into this net.
    pub fn copy_from(&self, other: &TrajNet) -> Result<()> {
        let src = other.varmap.data().lock().expect("varmap lock");
        let dst = self.varmap.data().lock().expect("varmap lock");
        for (k, v) in dst.iter() {
            let s = src
                .get(k)
                .ok_or_else(|| candle_core::Error::Msg(format!("no parameter {k}")))?;
            v.set(s.as_tensor())?;
        }
        Ok(())
    }

    /// Copies every parameter of `other` that this net has under the same name and shape
    /// (e.g. a teacher into a generator, which lacks the time features); returns how many.
    pub fn copy_shared(&self, other: &TrajNet) -> Result<usize> {
        let src = other.varmap.data().lock().expect("varmap lock");
        let dst = self.varmap.data().lock().expect("varmap lock");
        let mut n = 0;
        for (k, v) in dst.iter() {
            if let Some(s) = src.get(k).filter(|s| s.dims() == v.dims()) {
                v.set(s.as_tensor())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// `self ← decay · self + (1 − decay) · other` (EMA update).
    pub fn ema_update(&self, other: &TrajNet, decay: f64) -> Result<()> {
        let src = other.varmap.data().lock().expect("varmap lock");
        let dst = self.varmap.data().lock().expect("varmap lock");
        for (k, v) in dst.iter() {
            let s = src
                .get(k)
                .ok_or_else(|| candle_core::Error::Msg(format!("no parameter {k}")))?;
            let next = ((v.as_tensor() * decay)? + (s.as_tensor().detach() * (1.0 - decay))?)?;
            v.set(&next)?;
        }
        Ok(())
    }

    /// The dtype of every parameter.
    pub fn dtype(&self) -> DType {
        DType::F32
    }
}

fn s(e: candle_core::Error) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_varmap() {
        for (kind, mode_attention) in [
            (NetKind::Velocity, true),
            (NetKind::Generator, true),
            (NetKind::Velocity, false),
        ] {
            let c = TrajConfig {
                d_model: 32,
                kind,
                mode_attention,
                ..Default::default()
            };
            let net = TrajNet::new(c.clone(), 1).unwrap();
            let n: usize = net.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(n, c.parameter_count());
            assert!(c.macs_per_pass() > 0);
        }
    }

    #[test]
    fn independent_modes_do_not_see_each_other() {
        // perturbing mode 0's state changes mode 1's output only when the modes attend
        for attend in [true, false] {
            let c = TrajConfig {
                d_model: 16,
                heads: 2,
                layers: 2,
                modes: 3,
                mode_attention: attend,
                ..Default::default()
            };
            let net = TrajNet::new(c.clone(), 1).unwrap();
            let mut x: Vec<f32> = (0..c.modes * c.state)
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let cond: Vec<f32> = (0..c.cond).map(|i| (i as f32 * 0.11).cos()).collect();
            let ct = net.tensor(&cond, &[1, c.cond]).unwrap();
            let t = net.tensor(&[0.3], &[1, 1]).unwrap();
            let run = |x: &[f32]| -> Vec<f32> {
                let xt = net.tensor(x, &[1, c.modes, c.state]).unwrap();
                let y = net.forward(&xt, Some(&t), &ct).unwrap();
                y.flatten_all().unwrap().to_vec1().unwrap()
            };
            let before = run(&x);
            for v in &mut x[..c.state] {
                *v += 1.0;
            }
            let after = run(&x);
            let mode1 = c.state..2 * c.state;
            let moved = before[mode1.clone()]
                .iter()
                .zip(&after[mode1])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert_eq!(
                moved > 1e-4,
                attend,
                "attend {attend}: mode 1 moved by {moved}"
            );
            let mode0_moved = (0..c.state).any(|i| (before[i] - after[i]).abs() > 1e-4);
            assert!(mode0_moved, "mode 0 must depend on its own state");
            let names = net.names();
            assert_eq!(names.iter().any(|n| n.ends_with(".q.w")), attend);
        }
    }

    #[test]
    fn a_dropped_state_embedding_leaves_the_condition_alone() {
        let c = TrajConfig {
            d_model: 16,
            heads: 2,
            modes: 3,
            ..Default::default()
        };
        let net = TrajNet::new(c.clone(), 2).unwrap();
        let (b, w) = (2, c.modes * c.state);
        let xa: Vec<f32> = (0..b * w).map(|i| (i as f32 * 0.3).sin()).collect();
        let xb: Vec<f32> = (0..b * w).map(|i| (i as f32 * 0.7).cos()).collect();
        let cond: Vec<f32> = (0..b * c.cond).map(|i| (i as f32 * 0.13).cos()).collect();
        let ct = net.tensor(&cond, &[b, c.cond]).unwrap();
        let t = net.tensor(&[0.2, 0.9], &[b, 1]).unwrap();
        // item 0 kept, item 1 dropped
        let keep = net.tensor(&[1.0, 0.0], &[b, 1, 1]).unwrap();
        let run = |x: &[f32], keep: Option<&Tensor>| -> Vec<f32> {
            let xt = net.tensor(x, &[b, c.modes, c.state]).unwrap();
            let y = net.forward_keeping(&xt, Some(&t), &ct, keep).unwrap();
            y.flatten_all().unwrap().to_vec1().unwrap()
        };
        let plain = run(&xa, None);
        let (ka, kb) = (run(&xa, Some(&keep)), run(&xb, Some(&keep)));
        let max_diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max)
        };
        assert!(
            max_diff(&ka[..w], &plain[..w]) < 1e-6,
            "a kept item is the plain forward"
        );
        assert!(
            max_diff(&ka[..w], &kb[..w]) > 1e-3,
            "a kept item sees its state"
        );
        assert!(
            max_diff(&ka[w..], &kb[w..]) < 1e-6,
            "a dropped item ignores its state"
        );
        assert!(max_diff(&ka[w..], &plain[w..]) > 1e-3);
    }

    #[test]
    fn seeded_init_is_deterministic() {
        let c = TrajConfig {
            d_model: 16,
            ..Default::default()
        };
        let a = TrajNet::new(c.clone(), 7).unwrap();
        let b = TrajNet::new(c, 7).unwrap();
        for n in a.names() {
            assert_eq!(a.param_vec(&n).unwrap(), b.param_vec(&n).unwrap(), "{n}");
        }
    }
}
