//! Teacher training: conditional flow matching with MoFlow's recipe, on [`crate::fit`].
//!
//! `x1` = the normalized ground-truth future tiled over the K modes, `x0 ~ N(0, I)` `[B, K, 24]`
//! (optionally one noise shared by the K modes), `t ~ logit-normal(−0.5, 1.5)`,
//! `x_t = (1 − t) x0 + t x1`. The net predicts the data, `x̂1 = net(x_t, t, cond)`; the loss per
//! agent is the minimum over the K modes of the summed squared error to the ground truth
//! (best-of-K; `--loss ade` sums Euclidean distances instead), averaged over the batch.
//! Validation: minADE20 of the EMA weights on the fold's filtered val split (K samples, N Euler
//! steps); test data is never looked at. At the end the best EMA weights are exported to
//! `teacher.onnx`.
//!
//! The same objective trains any [`TrajNet`]-shaped velocity net on flat arrays
//! ([`FlowMatching`]), e.g. the toy 2-D suite's teachers.

use std::path::{Path, PathBuf};

use candle_core::{D, Tensor};
use fewstep::card::Provenance;
use fewstep::forecast::PRED;
use fewstep::forecast::features::{FUTURE_VALUES, FeatureVersion, Frame, future_world, mirror_y};
use fewstep::forecast::metrics::min_ade_fde;
use fewstep::forecast::windows::Window;
use fewstep::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::data::{Arrays, Split, arrays, fold_windows, holdout_windows, reversed};
use crate::export::{ExportInfo, save};
use crate::fit::{CheckpointMeta, Io, Objective, Schedule, export_outcome, fit, paths, read_meta};
use crate::model::{NetKind, TrajConfig, TrajNet};
use crate::optim::permutation;

/// Options of `fewstep-distill train teacher`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct TeacherArgs {
    /// Test scene of the leave-one-out fold (eth, hotel, univ, zara1, zara2).
    #[arg(long)]
    pub scene: String,
    /// The folder holding the ETH-UCY files.
    #[arg(long, default_value = "data/eth_ucy")]
    pub data: PathBuf,
    /// Output folder (checkpoints, teacher.onnx). Default: `runs/<scene>/teacher`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Passes over the training windows.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Training windows per optimizer step.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Fraction of all steps spent in linear warm-up.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Clip the global gradient norm to this (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// EMA decay per step.
    #[arg(long, default_value_t = 0.995)]
    pub ema: f64,
    /// Seed of the weights, the window order and the noise: one seed, one model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for candle's kernels (sets RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Width of the transformer (the shipped teachers use 96).
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Attention heads per block (must divide --d-model).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Use at most this many training windows (a seeded random subset).
    #[arg(long)]
    pub max_windows: Option<usize>,
    /// Use at most this many validation windows: a random subset that is the same for every
    /// run of the fold, whatever its `--seed`, so that runs compare.
    #[arg(long)]
    pub max_val_windows: Option<usize>,
    /// Hold this training scene out whole: train without its recordings and validate on all
    /// of its windows (Social-GAN filter) instead of the fold's validation split, which is
    /// drawn from the training scenes themselves. For judging a recipe on an unseen scene, as
    /// the test does; a net trained so is not the fold's model.
    #[arg(long)]
    #[serde(default)]
    pub holdout: Option<String>,
    /// Euler steps of the validation sampler.
    #[arg(long, default_value_t = 10)]
    pub val_steps: usize,
    /// Euler steps of the exported card's sampler.
    #[arg(long, default_value_t = 100)]
    pub export_steps: usize,
    /// One noise sample shared by the K modes of an agent.
    #[arg(long)]
    pub tied_noise: bool,
    /// Speed augmentation: each training item's condition and future (both in metres, linear
    /// in the coordinates) are scaled by a factor drawn log-uniformly from [1/F, F]; 1 = off.
    /// Scenes recorded at other speeds or frame rates (ETH's steps are about twice the other
    /// scenes') then stay in the training distribution.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "one")]
    pub scale_aug: f32,
    /// Minibatch optimal-transport coupling: each batch's noise is re-paired with its futures
    /// by the permutation of least total squared distance (Hungarian method; about 30 ms per
    /// batch of 256 on one core).
    #[arg(long)]
    #[serde(default)]
    pub minibatch_ot: bool,
    /// The per-mode error that the best-of-K loss minimises: `mse` (summed squared error of the
    /// 24 normalized values) or `ade` (summed Euclidean distance of the 12 positions, the
    /// quantity minADE measures).
    #[arg(long, value_enum, default_value_t = ModeError::Mse)]
    #[serde(default)]
    pub loss: ModeError,
    /// Mirror augmentation: each training item's condition and future are reflected across the
    /// heading axis (local y → −y) with probability 1/2.
    #[arg(long)]
    #[serde(default)]
    pub mirror_aug: bool,
    /// Time-reversal augmentation: each training item is replaced with probability 1/2 by its
    /// window played backwards (the last 8 positions, latest first, observed; the first 12,
    /// latest first, to predict). Only for the `v1` and `v2-scene` layouts: a reversed window's
    /// neighbours are not recorded.
    #[arg(long)]
    #[serde(default)]
    pub reverse_aug: bool,
    /// Relaxed winner-takes-all: the best mode's error is weighted 1 − ε and every other mode's
    /// ε / (K − 1), so that modes that never win still get a gradient (0: plain best-of-K).
    /// Without it some mode queries never win from initialisation on and are wasted samples.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub wta_relax: f32,
    /// Scale the relaxed weight of each item by 1 − t, so that it acts near the noise end (where
    /// the modes' states tell nothing about the ground truth) and fades towards the data end.
    #[arg(long)]
    #[serde(default)]
    pub wta_relax_by_t: bool,
    /// Annealed winner-takes-all (aMCL, Perera et al. 2024; aWTA, Xu et al. 2025) from this
    /// starting temperature T₀: each mode's error is weighted by `softmin(err / T)` (held
    /// constant in the gradient) instead of the hard best-of-K choice, with T falling
    /// geometrically from T₀ to T₀/1000 over the first `--wta-anneal-until` of the steps, and
    /// the plain (or relaxed) best-of-K after that. Errors are the per-mode squared error of
    /// the scaled future (about 0.01–1). Off by default.
    #[arg(long)]
    #[serde(default)]
    pub wta_anneal: Option<f32>,
    /// The fraction of the training steps over which `--wta-anneal`'s temperature falls.
    #[arg(long, default_value_t = 0.5)]
    #[serde(default = "default_anneal_until")]
    pub wta_anneal_until: f32,
    /// Early stopping: end once this many epochs in a row have not improved val, exporting
    /// the best epoch (the learning-rate schedule still spans `--epochs`). Off by default.
    #[arg(long)]
    #[serde(default)]
    pub patience: Option<usize>,
    /// Time-dependent input dropout: each training item's state embedding is dropped with
    /// probability `sigmoid(20 (t − m))` for this midpoint `m` (0.5 is MoFlow's setting), so
    /// near the data end the net predicts from the condition alone and cannot read the ground
    /// truth off the K states it is given. Off by default.
    #[arg(long)]
    #[serde(default)]
    pub input_drop: Option<f32>,
    /// Compute every mode on its own: the blocks drop their attention across the K modes
    /// (keeping its value and output projections), so that no mode sees the others' states.
    #[arg(long)]
    #[serde(default)]
    pub independent_modes: bool,
    /// The condition's layout: `v1`, the observed track in its own frame, or `v2-scene`, the
    /// track plus its last position in scene coordinates and its heading. A `v2-scene` model
    /// has learned the training scenes' frames and only fits positions given in them; or
    /// `v3-social`, the track plus its 4 nearest neighbours in its own frame.
    #[arg(long, value_enum, default_value_t = Features::V1)]
    #[serde(default)]
    pub features: Features,
    /// Extra weight of the last position in the per-mode error: `W` times the squared error
    /// of the endpoint (what minFDE measures) is added to the mode's error (0: off). It acts
    /// on which mode wins as well as on the regression.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub final_weight: f32,
    /// Start from the weights of an exported teacher (fine-tuning) instead of a fresh
    /// initialisation; its network config must be the one these arguments describe. The
    /// optimizer and the learning-rate schedule start afresh.
    #[arg(long)]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Continue from `<out>/last.json`.
    #[arg(long)]
    pub resume: bool,
    /// Stop (after checkpointing) once this many epochs are complete, without exporting;
    /// continue later with `--resume` (the schedule still spans `--epochs`).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

fn one() -> f32 {
    1.0
}

/// The error of one mode against the ground truth in the best-of-K loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeError {
    /// Summed squared error over the state's values.
    #[default]
    Mse,
    /// Summed Euclidean distance over the state's (x, y) pairs.
    Ade,
}

/// Keeps the square root's gradient finite where a mode hits its target exactly.
const ADE_EPS: f64 = 1e-8;

/// Per-mode error `[B, K]` of predictions `[B, K, S]` against targets (broadcastable to it).
pub fn mode_error(pred: &Tensor, target: &Tensor, kind: ModeError) -> candle_core::Result<Tensor> {
    let d2 = pred.broadcast_sub(target)?.sqr()?;
    match kind {
        ModeError::Mse => d2.sum(D::Minus1),
        ModeError::Ade => {
            let (b, k, s) = d2.dims3()?;
            d2.reshape((b, k, s / 2, 2))?
                .sum(D::Minus1)?
                .affine(1.0, ADE_EPS)?
                .sqrt()?
                .sum(D::Minus1)
        }
    }
}

/// `err` `[B, K]` plus `w` times the squared error of the last position (the state's last two
/// values) of predictions `[B, K, S]` against targets; `err` itself when `w` is 0.
pub fn with_final(
    err: Tensor,
    pred: &Tensor,
    target: &Tensor,
    w: f32,
) -> candle_core::Result<Tensor> {
    if w == 0.0 {
        return Ok(err);
    }
    let s = pred.dim(D::Minus1)?;
    let last = pred
        .narrow(D::Minus1, s - 2, 2)?
        .broadcast_sub(&target.narrow(D::Minus1, s - 2, 2)?)?
        .sqr()?
        .sum(D::Minus1)?;
    err + last.affine(w as f64, 0.0)?
}

/// A seeded subset of at most `max` windows (all of them, in order, if `max` is `None`).
pub fn subset(ws: Vec<Window>, max: Option<usize>, seed: u64) -> Vec<Window> {
    match max {
        Some(m) if m < ws.len() => {
            let mut p = permutation(ws.len(), &mut Rng::new(seed));
            p.truncate(m);
            p.sort_unstable();
            p.into_iter().map(|i| ws[i].clone()).collect()
        }
        _ => ws,
    }
}

/// `future_scale` of a training set: the largest |local future coordinate| in metres, rounded
/// up to a whole metre.
pub fn future_scale_of(ws: &[Window]) -> f32 {
    let a = arrays(ws, 1.0, FeatureVersion::V1);
    a.future
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .ceil()
        .max(1.0)
}

/// minADE/minFDE (metres, averaged over windows) of `samples` (`[n, K, 24]`, normalized, in
/// each window's frame) against the windows' ground truth.
pub fn min_ade_fde_windows(ws: &[Window], samples: &[f32], k: usize, scale: f32) -> (f64, f64) {
    let (mut ade, mut fde) = (0f64, 0f64);
    let mut futs = vec![[[0f32; 2]; PRED]; k];
    for (i, w) in ws.iter().enumerate() {
        let f = Frame::of(&w.obs);
        for (m, fut) in futs.iter_mut().enumerate() {
            let o = (i * k + m) * FUTURE_VALUES;
            future_world(&f, &samples[o..o + FUTURE_VALUES], scale, fut);
        }
        let (a, b) = min_ade_fde(&futs, &w.fut);
        ade += a as f64;
        fde += b as f64;
    }
    let n = ws.len().max(1) as f64;
    (ade / n, fde / n)
}

/// K samples per window from `steps` uniform Euler steps of a velocity net in candle (one pass
/// of a generator), with noise from `seed`; `[n, K, 24]` normalized.
pub fn sample_candle(
    net: &TrajNet,
    cond: &[f32],
    n: usize,
    steps: usize,
    seed: u64,
    chunk: usize,
) -> candle_core::Result<Vec<f32>> {
    let c = &net.config;
    let per = c.modes * c.state;
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * per);
    let mut i = 0;
    while i < n {
        let b = chunk.min(n - i);
        let mut z = vec![0f32; b * per];
        rng.fill_normal(&mut z);
        out.extend(integrate(
            net,
            &z,
            &cond[i * c.cond..(i + b) * c.cond],
            b,
            steps,
        )?);
        i += b;
    }
    Ok(out)
}

/// Samples from the given noise `z` `[n, K, state]`: `steps` uniform Euler steps of a velocity
/// net, one pass of a generator; in chunks of 512 items.
pub fn sample_from(
    net: &TrajNet,
    z: &[f32],
    cond: &[f32],
    n: usize,
    steps: usize,
) -> candle_core::Result<Vec<f32>> {
    let c = &net.config;
    let per = c.modes * c.state;
    let mut out = Vec::with_capacity(n * per);
    for i in (0..n).step_by(512) {
        let b = 512.min(n - i);
        out.extend(integrate(
            net,
            &z[i * per..(i + b) * per],
            &cond[i * c.cond..(i + b) * c.cond],
            b,
            steps,
        )?);
    }
    Ok(out)
}

fn integrate(
    net: &TrajNet,
    z: &[f32],
    cond: &[f32],
    b: usize,
    steps: usize,
) -> candle_core::Result<Vec<f32>> {
    let c = &net.config;
    let ct = net.tensor(cond, &[b, c.cond])?;
    let mut x = net.tensor(z, &[b, c.modes, c.state])?;
    match c.kind {
        NetKind::Velocity => {
            for s in 0..steps {
                let (t0, t1) = (s as f32 / steps as f32, (s + 1) as f32 / steps as f32);
                let tt = net.tensor(&vec![t0; b], &[b, 1])?;
                let v = net.velocity(&x, &tt, &ct)?;
                x = (x + (v * (t1 - t0) as f64)?)?;
            }
        }
        NetKind::Generator => x = net.forward(&x, None, &ct)?,
    }
    x.flatten_all()?.to_vec1::<f32>()
}

/// Flow matching with data prediction and a best-of-K loss on flat arrays: conditions
/// `[n, cond]` and targets `[n, state]` (tiled over the K modes).
pub struct FlowMatching<V> {
    pub cond: Vec<f32>,
    pub target: Vec<f32>,
    pub n: usize,
    pub config: TrajConfig,
    /// One noise sample shared by the K modes of an item.
    pub tied_noise: bool,
    /// Scale each item's condition and target by a log-uniform factor in [1/F, F] (1: off).
    pub scale_aug: f32,
    /// Minibatch OT: re-pair the batch's noise with its targets by least total squared
    /// distance ([`crate::ot::couple`]) before interpolating.
    pub minibatch_ot: bool,
    /// The per-mode error of the best-of-K loss.
    pub loss: ModeError,
    /// Reflect each item across its heading axis (odd-indexed values negated) with
    /// probability 1/2.
    pub mirror_aug: bool,
    /// Conditions and targets of the items played backwards ([`crate::data::reversed`]), row
    /// for row: with them each item is replaced by its reversal with probability 1/2.
    pub reversed: Option<Arrays>,
    /// Relaxed winner-takes-all weight ε ([`relaxed_wta`]; 0: plain best-of-K).
    pub wta_relax: f32,
    /// Scale ε by 1 − t per item ([`relaxed_wta_per_item`]).
    pub wta_relax_by_t: bool,
    /// Midpoint of the time-dependent input dropout ([`input_drop_probability`]; `None`: off).
    pub input_drop: Option<f32>,
    /// Extra weight of the endpoint's squared error in the per-mode error ([`with_final`]).
    pub final_weight: f32,
    /// Annealed winner-takes-all: (T₀, fraction of the steps) ([`anneal_temperature`]).
    pub wta_anneal: Option<(f32, f32)>,
    /// Fraction of the schedule done ([`Objective::set_progress`]).
    pub progress: f64,
    /// Validation of the EMA weights.
    pub val: V,
}

fn default_anneal_until() -> f32 {
    0.5
}

/// The annealed winner-takes-all temperature at `done` (fraction of the steps): `t0` falling
/// geometrically to `t0 / 1000` at `until`, and 0 (the hard best-of-K) from there on.
pub fn anneal_temperature(t0: f32, until: f32, done: f64) -> f32 {
    if until <= 0.0 || done >= f64::from(until) {
        return 0.0;
    }
    t0 * 1e-3f32.powf((done / f64::from(until)) as f32)
}

/// The annealed best-of-K loss of per-mode errors `err` `[B, K]`, averaged over the batch.
/// Each row's modes are weighted by `q = softmin(err / temp)`, held constant in the gradient,
/// blended with the relaxed weighting of [`relaxed_wta_per_item`]: mode k gets
/// `(1 − eps[i]) q_k + eps[i] (1 − q_k) / (K − 1)`, which is that loss exactly as `temp` → 0
/// and the plain mean over the modes as `temp` → ∞ (with `eps` 0). `temp` must be > 0.
pub fn annealed_wta_per_item(err: &Tensor, temp: f32, eps: &[f32]) -> candle_core::Result<Tensor> {
    let (b, k) = err.dims2()?;
    let q = candle_nn::ops::softmax(&err.detach().affine(-1.0 / f64::from(temp), 0.0)?, 1)?;
    let w = if k < 2 {
        q
    } else {
        let e = Tensor::from_vec(eps.to_vec(), (b, 1), err.device())?;
        let share = e.affine(1.0 / (k - 1) as f64, 0.0)?;
        // (1 − e) q + share (1 − q) = q (1 − e − share) + share
        let keep = e.affine(-1.0, 1.0)?.broadcast_sub(&share)?;
        q.broadcast_mul(&keep)?.broadcast_add(&share)?
    };
    (err * w)?.sum(1)?.mean_all()
}

/// The best-of-K loss of per-mode errors `err` `[B, K]`, averaged over the batch: the best
/// mode weighted `1 − eps`, each of the other K − 1 weighted `eps / (K − 1)`; `eps = 0` is the
/// plain minimum.
pub fn relaxed_wta(err: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    let (best, rest) = best_and_rest(err)?;
    let k = err.dim(1)?;
    if eps == 0.0 || k < 2 {
        return best.mean_all();
    }
    let w = f64::from(eps) / (k - 1) as f64;
    ((best * (1.0 - f64::from(eps)))? + (rest * w)?)?.mean_all()
}

/// [`relaxed_wta`] with its own weight per item, `eps[i]` for row `i` of `err` `[B, K]`.
pub fn relaxed_wta_per_item(err: &Tensor, eps: &[f32]) -> candle_core::Result<Tensor> {
    let (best, rest) = best_and_rest(err)?;
    let (b, k) = err.dims2()?;
    if k < 2 {
        return best.mean_all();
    }
    let e = Tensor::from_vec(eps.to_vec(), (b, 1), err.device())?;
    let keep = e.affine(-1.0, 1.0)?;
    let share = e.affine(1.0 / (k - 1) as f64, 0.0)?;
    ((best * keep)? + (rest * share)?)?.mean_all()
}

/// Per row of `err` `[B, K]`: the least error `[B, 1]` and the sum of the others `[B, 1]`.
fn best_and_rest(err: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let best = err.gather(&err.argmin_keepdim(1)?, 1)?;
    let rest = (err.sum_keepdim(1)? - &best)?;
    Ok((best, rest))
}

/// Steepness of the time-dependent input dropout.
pub const INPUT_DROP_STEEPNESS: f32 = 20.0;

/// The probability that an item at time `t` is trained without its state embedding:
/// `sigmoid(20 (t − mid))`.
pub fn input_drop_probability(t: f32, mid: f32) -> f32 {
    1.0 / (1.0 + (-INPUT_DROP_STEEPNESS * (t - mid)).exp())
}

/// Training-time augmentation of a batch of conditions `[B, cond]` and targets `[B, state]`:
/// with `scale_aug` > 1 each item's track and target are scaled by a log-uniform factor in
/// `[1/scale_aug, scale_aug]`; with `mirror` each is reflected across its heading axis with
/// probability 1/2. Only the track part of a condition ([`TrajConfig::track_cond`]) changes.
pub fn augment(
    config: &TrajConfig,
    scale_aug: f32,
    mirror: bool,
    cond: &mut [f32],
    fut: &mut [f32],
    rng: &mut Rng,
) {
    let (cw, sw, track) = (config.cond, config.state, config.track_cond());
    let b = cond.len() / cw;
    if scale_aug > 1.0 {
        let l = scale_aug.ln();
        for i in 0..b {
            let s = (l * (2.0 * rng.uniform() - 1.0)).exp();
            cond[i * cw..i * cw + track]
                .iter_mut()
                .for_each(|v| *v *= s);
            fut[i * sw..(i + 1) * sw].iter_mut().for_each(|v| *v *= s);
        }
    }
    if mirror {
        for i in 0..b {
            if rng.uniform() < 0.5 {
                config.features.mirror(&mut cond[i * cw..(i + 1) * cw]);
                mirror_y(&mut fut[i * sw..(i + 1) * sw]);
            }
        }
    }
}

/// Time-reversal augmentation of a batch gathered from rows `idx`: each item's condition and
/// target (`[B, cond]`, `[B, state]`) is replaced, with probability 1/2, by row `idx[i]` of
/// `rev`, the same windows played backwards.
pub fn swap_in_reversed(
    rev: &Arrays,
    idx: &[usize],
    cond: &mut [f32],
    fut: &mut [f32],
    rng: &mut Rng,
) {
    let (cw, sw) = (rev.cond.len() / rev.n, rev.future.len() / rev.n);
    for (i, &j) in idx.iter().enumerate() {
        if rng.uniform() < 0.5 {
            cond[i * cw..(i + 1) * cw].copy_from_slice(&rev.cond[j * cw..(j + 1) * cw]);
            fut[i * sw..(i + 1) * sw].copy_from_slice(&rev.future[j * sw..(j + 1) * sw]);
        }
    }
}

/// `t ~ logit-normal(mean, std)`.
pub fn logit_normal(rng: &mut Rng, mean: f32, std: f32) -> f32 {
    1.0 / (1.0 + (-(mean + std * rng.normal())).exp())
}

/// Rows `idx` of a row-major `[_, w]` array.
pub fn gather_rows(a: &[f32], w: usize, idx: &[usize]) -> Vec<f32> {
    let mut v = Vec::with_capacity(idx.len() * w);
    for &i in idx {
        v.extend_from_slice(&a[i * w..(i + 1) * w]);
    }
    v
}

impl<V: FnMut(&TrajNet) -> Result<(f64, f64), String>> Objective for FlowMatching<V> {
    fn items(&self) -> usize {
        self.n
    }

    fn loss(&mut self, net: &TrajNet, idx: &[usize], rng: &mut Rng) -> candle_core::Result<Tensor> {
        let (k, sw, cw) = (self.config.modes, self.config.state, self.config.cond);
        let b = idx.len();
        let dev = net.device().clone();
        let mut cond = gather_rows(&self.cond, cw, idx);
        let mut fut = gather_rows(&self.target, sw, idx);
        if let Some(rev) = &self.reversed {
            swap_in_reversed(rev, idx, &mut cond, &mut fut, rng);
        }
        let nz = if self.tied_noise { b * sw } else { b * k * sw };
        let mut z = vec![0f32; nz];
        rng.fill_normal(&mut z);
        let t: Vec<f32> = (0..b).map(|_| logit_normal(rng, -0.5, 1.5)).collect();
        augment(
            &self.config,
            self.scale_aug,
            self.mirror_aug,
            &mut cond,
            &mut fut,
            rng,
        );
        if self.minibatch_ot {
            let w = if self.tied_noise { sw } else { k * sw };
            z = crate::ot::couple(&z, &fut, b, w, sw);
        }
        let ct = Tensor::from_vec(cond, (b, cw), &dev)?;
        let x1 = Tensor::from_vec(fut, (b, 1, sw), &dev)?.broadcast_as((b, k, sw))?;
        let x0 = if self.tied_noise {
            Tensor::from_vec(z, (b, 1, sw), &dev)?.broadcast_as((b, k, sw))?
        } else {
            Tensor::from_vec(z, (b, k, sw), &dev)?
        };
        let eps_by_t: Option<Vec<f32>> = (self.wta_relax_by_t && self.wta_relax > 0.0)
            .then(|| t.iter().map(|t| self.wta_relax * (1.0 - t)).collect());
        let keep = match self.input_drop {
            Some(mid) => {
                let k: Vec<f32> = t
                    .iter()
                    .map(|&t| f32::from(rng.uniform() >= input_drop_probability(t, mid)))
                    .collect();
                Some(Tensor::from_vec(k, (b, 1, 1), &dev)?)
            }
            None => None,
        };
        let tt = Tensor::from_vec(t, (b, 1), &dev)?;
        let t3 = tt.unsqueeze(2)?;
        let xt = (x0.broadcast_mul(&t3.affine(-1.0, 1.0)?)? + x1.broadcast_mul(&t3)?)?;
        let pred = net.forward_keeping(&xt, Some(&tt), &ct, keep.as_ref())?;
        let err = with_final(
            mode_error(&pred, &x1, self.loss)?,
            &pred,
            &x1,
            self.final_weight,
        )?; // [B, K]
        let temp = self.wta_anneal.map_or(0.0, |(t0, until)| {
            anneal_temperature(t0, until, self.progress)
        });
        match (&eps_by_t, temp > 0.0) {
            (Some(eps), true) => annealed_wta_per_item(&err, temp, eps),
            (None, true) => annealed_wta_per_item(&err, temp, &vec![self.wta_relax; b]),
            (Some(eps), false) => relaxed_wta_per_item(&err, eps),
            (None, false) => relaxed_wta(&err, self.wta_relax),
        }
    }

    fn set_progress(&mut self, done: f64) {
        self.progress = done;
    }

    fn validate(&mut self, ema: &TrajNet) -> Result<(f64, f64), String> {
        (self.val)(ema)
    }
}

/// The feature layouts `train teacher --features` offers (`fewstep::forecast::features`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum Features {
    #[default]
    V1,
    V2Scene,
    V3Social,
}

impl From<Features> for FeatureVersion {
    fn from(f: Features) -> Self {
        match f {
            Features::V1 => FeatureVersion::V1,
            Features::V2Scene => FeatureVersion::V2,
            Features::V3Social => FeatureVersion::V3,
        }
    }
}

/// A validation split in the runtime's features: minADE20/minFDE20 (metres) of a net's samples
/// (`steps` uniform Euler steps for a velocity net, one pass for a generator; fixed noise seed).
pub struct TrajValidation {
    pub windows: Vec<Window>,
    pub cond: Vec<f32>,
    pub future_scale: f32,
    pub steps: usize,
    pub seed: u64,
}

impl TrajValidation {
    pub fn new(
        windows: Vec<Window>,
        future_scale: f32,
        features: FeatureVersion,
        steps: usize,
        seed: u64,
    ) -> Self {
        let cond = arrays(&windows, future_scale, features).cond;
        TrajValidation {
            windows,
            cond,
            future_scale,
            steps,
            seed,
        }
    }

    /// (minADE, minFDE) of `net` in metres.
    pub fn score(&self, net: &TrajNet) -> Result<(f64, f64), String> {
        let n = self.windows.len();
        let samples = sample_candle(net, &self.cond, n, self.steps, self.seed, 512)
            .map_err(|e| e.to_string())?;
        Ok(min_ade_fde_windows(
            &self.windows,
            &samples,
            net.config.modes,
            self.future_scale,
        ))
    }
}

/// Seed of the validation subset. It does not depend on a run's `--seed`, so runs of the
/// same fold with different seeds validate on the same windows and their figures compare;
/// it is the subset every `--seed 0` run has used (0 ^ 0x7A1).
pub const VAL_SUBSET_SEED: u64 = 0x7A1;

/// The fold's validation windows (Social-GAN filter), at most `max` of them, always the same
/// subset for a fold ([`VAL_SUBSET_SEED`]). With `holdout`, the windows of that whole training
/// scene instead ([`holdout_windows`]).
pub fn val_windows(
    data: &Path,
    scene: &str,
    holdout: Option<&str>,
    max: Option<usize>,
) -> Result<Vec<Window>, String> {
    let ws = match holdout {
        None => fold_windows(data, scene, Split::Val, 2)?,
        Some(h) => holdout_windows(data, scene, h, Split::Val, 2)?,
    };
    Ok(subset(ws, max, VAL_SUBSET_SEED))
}

/// The fold's training windows (every window), a seeded subset of at most `max`.
/// With `holdout`, without that training scene's recordings.
pub fn train_windows(
    data: &Path,
    scene: &str,
    holdout: Option<&str>,
    max: Option<usize>,
    seed: u64,
) -> Result<Vec<Window>, String> {
    let ws = match holdout {
        None => fold_windows(data, scene, Split::Train, 1)?,
        Some(h) => holdout_windows(data, scene, h, Split::Train, 1)?,
    };
    Ok(subset(ws, max, seed ^ 0x5EED))
}

impl TeacherArgs {
    /// The optimisation settings of these arguments.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            warmup: self.warmup,
            clip: self.clip,
            ema: self.ema,
            seed: self.seed,
            stop_after: self.stop_after,
            patience: self.patience,
        }
    }
}

/// Trains a teacher; returns the path of the exported `teacher.onnx` (or of `last.json` when
/// stopped early by `stop_after`).
pub fn train_teacher(args: &TeacherArgs, command: &str) -> Result<PathBuf, String> {
    if let Some(t0) = args.wta_anneal {
        let until = args.wta_anneal_until;
        if !(t0.is_finite() && t0 > 0.0 && until > 0.0 && until <= 1.0) {
            return Err(format!(
                "--wta-anneal {t0} --wta-anneal-until {until}: the temperature must be positive \
                 and finite, and the fraction of the steps in (0, 1]"
            ));
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}/teacher", args.scene)));
    let holdout = args.holdout.as_deref();
    let train_ws = train_windows(
        &args.data,
        &args.scene,
        holdout,
        args.max_windows,
        args.seed,
    )?;
    let val_ws = val_windows(&args.data, &args.scene, holdout, args.max_val_windows)?;
    if train_ws.is_empty() || val_ws.is_empty() {
        return Err("empty training or validation split".into());
    }
    let config = TrajConfig {
        d_model: args.d_model,
        heads: args.heads,
        layers: args.layers,
        kind: NetKind::Velocity,
        mode_attention: !args.independent_modes,
        ..Default::default()
    }
    .with_features(args.features.into());
    // a resumed run keeps its stored config and scale
    let last = paths(&out, "last")[4].clone();
    let stored = if args.resume && last.exists() {
        Some(read_meta(&last)?)
    } else {
        None
    };
    let config = stored.as_ref().map_or(config, |m| m.config.clone());
    let scale = stored
        .as_ref()
        .map_or_else(|| future_scale_of(&train_ws), |m| m.future_scale);
    if args.reverse_aug && config.features == FeatureVersion::V3 {
        return Err(format!(
            "--reverse-aug needs a layout without neighbours (v1 or v2-scene), not {:?}: a reversed window's neighbours are not recorded",
            config.features
        ));
    }
    let tr = arrays(&train_ws, scale, config.features);
    let reversed = args.reverse_aug.then(|| {
        let rev: Vec<Window> = train_ws.iter().map(reversed).collect();
        arrays(&rev, scale, config.features)
    });
    eprintln!(
        "teacher {}: {} train / {} val windows{}, future_scale {scale} m, {} params, {} MACs/agent/pass, {} steps/epoch",
        args.scene,
        tr.n,
        val_ws.len(),
        holdout.map_or(String::new(), |h| format!(" (held-out scene {h})")),
        config.parameter_count(),
        config.macs_per_pass(),
        tr.n.div_ceil(args.batch)
    );
    let val = TrajValidation::new(
        val_ws,
        scale,
        config.features,
        args.val_steps,
        args.seed ^ 0x7A1,
    );
    let mut obj = FlowMatching {
        cond: tr.cond,
        target: tr.future,
        n: tr.n,
        config: config.clone(),
        tied_noise: args.tied_noise,
        scale_aug: args.scale_aug,
        minibatch_ot: args.minibatch_ot,
        loss: args.loss,
        mirror_aug: args.mirror_aug,
        reversed,
        wta_relax: args.wta_relax,
        wta_relax_by_t: args.wta_relax_by_t,
        input_drop: args.input_drop,
        final_weight: args.final_weight,
        wta_anneal: args.wta_anneal.map(|t0| (t0, args.wta_anneal_until)),
        progress: 0.0,
        val: |net: &TrajNet| val.score(net),
    };
    let init = match &args.init {
        None => TrajNet::new(config.clone(), args.seed)?,
        Some(p) => {
            let net = crate::import::from_file(p)?;
            if net.config != config {
                return Err(format!(
                    "--init {}: its network ({:?}) is not the one the arguments describe ({config:?})",
                    p.display(),
                    net.config
                ));
            }
            net
        }
    };
    let fresh = CheckpointMeta::fresh(
        config,
        scale,
        serde_json::to_value(args).map_err(|e| e.to_string())?,
        command,
    );
    let io = Io {
        out: Some(&out),
        resume: args.resume,
        label: &format!("teacher {}", args.scene),
        progress: true,
    };
    let outcome = fit(&mut obj, init, fresh, &args.schedule(), &io)?;
    export_outcome(outcome, out.join("teacher.onnx"), |m| {
        export_info(m, args.export_steps)
    })
}

/// The card contents of a checkpoint.
pub fn export_info(meta: &CheckpointMeta, steps: usize) -> Result<ExportInfo, String> {
    let args: TeacherArgs = serde_json::from_value(meta.args.clone())
        .map_err(|e| format!("checkpoint args are not a teacher's: {e}"))?;
    let mut metrics = std::collections::BTreeMap::new();
    if let Some((a, f)) = meta.val {
        metrics.insert(
            format!("val_minADE20_euler{}", args.val_steps),
            (a * 1e4).round() / 1e4,
        );
        metrics.insert(
            format!("val_minFDE20_euler{}", args.val_steps),
            (f * 1e4).round() / 1e4,
        );
    }
    metrics.insert("epoch".into(), meta.epoch as f64);
    let mut extras = Vec::new();
    if args.tied_noise {
        extras.push("tied noise".to_string());
    }
    if args.minibatch_ot {
        extras.push("minibatch OT coupling".into());
    }
    if args.scale_aug > 1.0 {
        extras.push(format!("speed augmentation x[1/{0}, {0}]", args.scale_aug));
    }
    if args.mirror_aug {
        extras.push("mirror augmentation".into());
    }
    if args.reverse_aug {
        extras.push("time-reversal augmentation".into());
    }
    if let Some(t0) = args.wta_anneal {
        extras.push(format!(
            "annealed winner-takes-all from T = {t0} over {} of the steps",
            args.wta_anneal_until
        ));
    }
    if args.wta_relax > 0.0 {
        let by_t = if args.wta_relax_by_t { " (1 - t)" } else { "" };
        extras.push(format!("relaxed winner-takes-all {}{by_t}", args.wta_relax));
    }
    if let Some(mid) = args.input_drop {
        extras.push(format!(
            "input dropout sigmoid({INPUT_DROP_STEEPNESS} (t - {mid}))"
        ));
    }
    if !meta.config.mode_attention {
        extras.push("independent modes".into());
    }
    if meta.config.features != FeatureVersion::V1 {
        extras.push(format!("features {}", meta.config.features.name()));
    }
    if args.final_weight > 0.0 {
        extras.push(format!("endpoint weight {}", args.final_weight));
    }
    if let Some(p) = &args.init {
        extras.push(format!("fine-tuned from {}", p.display()));
    }
    let extras: String = extras.iter().map(|e| format!(", {e}")).collect();
    Ok(ExportInfo {
        steps,
        future_scale: meta.future_scale,
        provenance: Provenance {
            teacher: None,
            method: Some(format!(
                "teacher: conditional flow matching (MoFlow recipe: data prediction, logit-normal t, best-of-{} {} loss{extras}), EMA {} weights, {} epochs of {}",
                meta.config.modes,
                match args.loss {
                    ModeError::Mse => "squared-error",
                    ModeError::Ade => "ADE",
                },
                args.ema,
                meta.epoch,
                args.epochs
            )),
            data: Some(format!("eth_ucy/{}", args.scene)),
            seed: Some(args.seed),
            command: Some(meta.command.clone()),
        },
        metrics,
    })
}

/// Exports checkpoint `<dir>/<tag>` (EMA weights) to `out`.
pub fn export_checkpoint(dir: &Path, tag: &str, steps: usize, out: &Path) -> Result<(), String> {
    let [_, e, _, _, j] = paths(dir, tag);
    let meta = read_meta(&j)?;
    let net = TrajNet::load(meta.config.clone(), &e)?;
    let info = if meta.args.get("method").is_some() {
        crate::students::export_info(&meta, steps)?
    } else {
        export_info(&meta, steps)?
    };
    save(&net, &info, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use fewstep::forecast::features::{PAST_FEATURES, past_features};
    use fewstep::forecast::{OBS, Point};

    /// Every run of a fold validates on the same windows, whatever its seed: the subset that
    /// `--seed 0` runs drew before the subset stopped depending on the seed (so every shipped
    /// run's validation figures still describe the same windows), and a strict subset of the
    /// fold's val split.
    #[test]
    fn the_val_subset_is_the_same_for_every_seed() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eth_ucy");
        let all = fold_windows(&data, "zara2", Split::Val, 2).unwrap();
        let picked = val_windows(&data, "zara2", None, Some(1000)).unwrap();
        assert_eq!(picked.len(), 1000);
        assert!(all.len() > 1000);
        // how a run of seed s drew its subset until session 13: `subset(.., s ^ 0x7A1)`
        let drawn_by = |s: u64| subset(all.clone(), Some(1000), s ^ 0x7A1);
        let (seed0, seed1) = (drawn_by(0), drawn_by(1));
        assert!(
            picked == seed0,
            "not the subset the seed-0 runs validated on"
        );
        assert!(picked != seed1);
        assert_eq!(
            val_windows(&data, "zara2", None, None).unwrap().len(),
            all.len()
        );
    }

    /// Speed and mirror augmentation change a V2 condition's track and leave its scene
    /// position and heading as observed; on V1 they act on the whole condition.
    #[test]
    fn augmentation_keeps_the_scene_part_of_the_condition() {
        for features in [FeatureVersion::V1, FeatureVersion::V2, FeatureVersion::V3] {
            let config = TrajConfig::default().with_features(features);
            let (b, cw, sw) = (16, config.cond, config.state);
            let cond0: Vec<f32> = (0..b * cw).map(|i| 1.0 + (i % 7) as f32).collect();
            let fut0: Vec<f32> = (0..b * sw).map(|i| 1.0 + (i % 5) as f32).collect();
            // mirroring: each item is left alone or mirrored whole (the layout's mirror)
            let (mut cond, mut fut) = (cond0.clone(), fut0.clone());
            augment(&config, 1.0, true, &mut cond, &mut fut, &mut Rng::new(3));
            let mut mirrored = 0;
            for i in 0..b {
                let row0 = &cond0[i * cw..(i + 1) * cw];
                let mut m = row0.to_vec();
                features.mirror(&mut m);
                let row = &cond[i * cw..(i + 1) * cw];
                let flipped = fut[i * sw + 1] == -fut0[i * sw + 1];
                assert_eq!(row, if flipped { &m[..] } else { row0 }, "item {i}");
                mirrored += usize::from(flipped);
            }
            assert!(mirrored > 0 && mirrored < b, "{mirrored} of {b}");
            // speed: the track and the target scale together, the rest stays as observed
            let (mut cond, mut fut) = (cond0.clone(), fut0.clone());
            augment(&config, 2.0, false, &mut cond, &mut fut, &mut Rng::new(3));
            let track = config.track_cond();
            assert_eq!(track, PAST_FEATURES);
            for i in 0..b {
                let (row, row0) = (&cond[i * cw..(i + 1) * cw], &cond0[i * cw..(i + 1) * cw]);
                assert_ne!(&row[..track], &row0[..track], "item {i} not augmented");
                assert_eq!(&row[track..], &row0[track..]);
                // the factor applied to the track's x values is the target's
                let s = row[0] / row0[0];
                let t = fut[i * sw] / fut0[i * sw];
                assert!((s - t).abs() < 1e-5, "{s} vs {t}");
            }
            assert_eq!(cw - track, features.cond_len() - PAST_FEATURES);
        }
    }

    /// Each item of the batch is either its own row or its reversed row, whole, and both occur.
    #[test]
    fn reversal_swaps_whole_rows() {
        let (n, cw, sw) = (10, 3, 2);
        let fwd = Arrays {
            n,
            cond: (0..n * cw).map(|v| v as f32).collect(),
            future: (0..n * sw).map(|v| v as f32).collect(),
        };
        let rev = Arrays {
            n,
            cond: fwd.cond.iter().map(|v| -1.0 - v).collect(),
            future: fwd.future.iter().map(|v| -1.0 - v).collect(),
        };
        let idx = [7, 2, 2, 9, 0, 4, 4, 1, 3, 8, 5, 6, 7, 0, 1, 2];
        let mut cond = gather_rows(&fwd.cond, cw, &idx);
        let mut fut = gather_rows(&fwd.future, sw, &idx);
        swap_in_reversed(&rev, &idx, &mut cond, &mut fut, &mut Rng::new(3));
        let mut swapped = 0;
        for (i, &j) in idx.iter().enumerate() {
            let (c, f) = (&cond[i * cw..(i + 1) * cw], &fut[i * sw..(i + 1) * sw]);
            let is_rev = c == &rev.cond[j * cw..(j + 1) * cw];
            assert!(
                is_rev || c == &fwd.cond[j * cw..(j + 1) * cw],
                "item {i}: {c:?}"
            );
            let from = if is_rev { &rev.future } else { &fwd.future };
            assert_eq!(
                f,
                &from[j * sw..(j + 1) * sw],
                "item {i}: target from the other row"
            );
            swapped += usize::from(is_rev);
        }
        assert!(
            swapped > 0 && swapped < idx.len(),
            "{swapped} of {}",
            idx.len()
        );
    }

    #[test]
    fn input_dropout_is_a_logistic_in_t() {
        assert!((input_drop_probability(0.5, 0.5) - 0.5).abs() < 1e-6);
        assert!((input_drop_probability(0.6, 0.5) - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
        assert!(input_drop_probability(0.2, 0.5) < 0.01);
        assert!(input_drop_probability(0.8, 0.5) > 0.99);
        assert!(input_drop_probability(0.6, 0.7) < 0.5);
    }

    #[test]
    fn mirroring_the_features_is_mirroring_the_world() {
        let track: [Point; OBS] =
            std::array::from_fn(|i| [1.0 + 0.4 * i as f32, -2.0 + 0.03 * (i * i) as f32]);
        let flipped: [Point; OBS] = std::array::from_fn(|i| [track[i][0], -track[i][1]]);
        let (mut a, mut b) = ([0f32; PAST_FEATURES], [0f32; PAST_FEATURES]);
        past_features(&track, &mut a);
        past_features(&flipped, &mut b);
        mirror_y(&mut a);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
        assert!(
            a.iter().skip(1).step_by(2).any(|y| y.abs() > 0.1),
            "a track that turns"
        );
    }

    #[test]
    fn mode_errors_are_squared_error_and_summed_distance() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        // one item, two modes, two positions: mode 0 is off by (3, 4) then 0; mode 1 by (1, 0) twice
        let pred = Tensor::from_vec(vec![3f32, 4., 0., 0., 1., 0., 1., 0.], (1, 2, 4), &dev)?;
        let target = Tensor::zeros((1, 1, 4), candle_core::DType::F32, &dev)?;
        let mse = mode_error(&pred, &target, ModeError::Mse)?.to_vec2::<f32>()?;
        let ade = mode_error(&pred, &target, ModeError::Ade)?.to_vec2::<f32>()?;
        assert_eq!(mse, vec![vec![25.0, 2.0]]);
        assert!(
            (ade[0][0] - 5.0).abs() < 1e-3 && (ade[0][1] - 2.0).abs() < 1e-3,
            "{ade:?}"
        );
        Ok(())
    }

    #[test]
    fn annealed_wta_is_the_relaxed_loss_when_cold_and_the_mean_when_hot() -> candle_core::Result<()>
    {
        let dev = candle_core::Device::Cpu;
        let err = candle_core::Var::from_vec(vec![1f32, 5., 9., 4., 2., 6.], (2, 3), &dev)?;
        let eps = [0.1f32, 0.3];
        let cold = annealed_wta_per_item(err.as_tensor(), 1e-3, &eps)?.to_scalar::<f32>()?;
        let relaxed = relaxed_wta_per_item(err.as_tensor(), &eps)?.to_scalar::<f32>()?;
        assert!((cold - relaxed).abs() < 1e-5, "{cold} vs {relaxed}");
        // hot, without relaxation: every mode weighted 1/3; (15/3 + 12/3) / 2 = 4.5
        let hot = annealed_wta_per_item(err.as_tensor(), 1e6, &[0.0, 0.0])?;
        assert!((hot.to_scalar::<f32>()? - 4.5).abs() < 1e-4);
        // in between, item 0 at T = 2 with eps 0: q ∝ (e^-0.5, e^-2.5, e^-4.5); the weights are
        // held constant, so the gradient of each error is its weight / 2 (the batch mean)
        let l = annealed_wta_per_item(err.as_tensor(), 2.0, &[0.0, 0.0])?;
        let g = l.backward()?;
        let g = g.get(&err).unwrap().to_vec2::<f32>()?;
        let z: f32 = [-0.5f32, -2.5, -4.5].iter().map(|x| x.exp()).sum();
        for (j, x) in [-0.5f32, -2.5, -4.5].iter().enumerate() {
            assert!((g[0][j] - x.exp() / z / 2.0).abs() < 1e-5, "{g:?}");
        }
        let row: f32 = g[1].iter().sum();
        assert!((row - 0.5).abs() < 1e-5, "{g:?}");
        Ok(())
    }

    #[test]
    fn the_anneal_temperature_falls_a_thousandfold_then_stops() {
        assert_eq!(anneal_temperature(0.5, 0.5, 0.0), 0.5);
        // halfway through the anneal: T₀ · 1000^(−1/2)
        assert!((anneal_temperature(0.5, 0.5, 0.25) - 0.5 * 10f32.powf(-1.5)).abs() < 1e-6);
        assert!(anneal_temperature(0.5, 0.5, 0.4999) > 0.0005 * 0.99);
        assert_eq!(anneal_temperature(0.5, 0.5, 0.5), 0.0);
        assert_eq!(anneal_temperature(0.5, 0.5, 0.9), 0.0);
        assert_eq!(anneal_temperature(0.5, 0.0, 0.0), 0.0);
    }

    #[test]
    fn relaxed_wta_weights_the_losers_and_reaches_them_with_a_gradient() -> candle_core::Result<()>
    {
        let dev = candle_core::Device::Cpu;
        // two items, three modes; the best errors are 1 and 2
        let err = candle_core::Var::from_vec(vec![1f32, 5., 9., 4., 2., 6.], (2, 3), &dev)?;
        let plain = relaxed_wta(err.as_tensor(), 0.0)?.to_scalar::<f32>()?;
        assert_eq!(plain, 1.5);
        // item 0: 0.9·1 + 0.05·(5 + 9) = 1.6; item 1: 0.9·2 + 0.05·(4 + 6) = 2.3
        let relaxed = relaxed_wta(err.as_tensor(), 0.1)?;
        assert!((relaxed.to_scalar::<f32>()? - 1.95).abs() < 1e-6);
        let g = relaxed.backward()?;
        let g = g.get(&err).unwrap().to_vec2::<f32>()?;
        assert_eq!(g, vec![vec![0.45, 0.025, 0.025], vec![0.025, 0.45, 0.025]]);
        // one weight per item: equal weights give the constant version; 0 for an item is its minimum
        let same = relaxed_wta_per_item(err.as_tensor(), &[0.1, 0.1])?.to_scalar::<f32>()?;
        assert!((same - 1.95).abs() < 1e-6);
        let mixed = relaxed_wta_per_item(err.as_tensor(), &[0.1, 0.0])?.to_scalar::<f32>()?;
        assert!((mixed - (1.6 + 2.0) / 2.0).abs() < 1e-6);
        // plain best-of-K: the losing modes get no gradient at all
        let g = relaxed_wta(err.as_tensor(), 0.0)?.backward()?;
        let g = g.get(&err).unwrap().to_vec2::<f32>()?;
        assert_eq!(g, vec![vec![0.5, 0.0, 0.0], vec![0.0, 0.5, 0.0]]);
        Ok(())
    }

    #[test]
    fn the_final_weight_adds_the_endpoint_error() -> candle_core::Result<()> {
        let dev = candle_core::Device::Cpu;
        // B = 1, K = 2, S = 4 (two positions)
        let pred = Tensor::from_vec(vec![0f32, 0., 1., 2., 1., 1., 0., 0.], (1, 2, 4), &dev)?;
        let target = Tensor::from_vec(vec![0f32, 0., 0., 0.], (1, 1, 4), &dev)?;
        let err = mode_error(&pred, &target, ModeError::Mse)?;
        let same = with_final(err.clone(), &pred, &target, 0.0)?;
        assert_eq!(same.to_vec2::<f32>()?, vec![vec![5.0, 2.0]]);
        let w = with_final(err, &pred, &target, 3.0)?;
        // endpoint errors 1 + 4 = 5 and 0: the first mode's error becomes 5 + 15
        assert_eq!(w.to_vec2::<f32>()?, vec![vec![20.0, 2.0]]);
        Ok(())
    }

    #[test]
    fn logit_normal_is_in_the_unit_interval() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let t = logit_normal(&mut rng, -0.5, 1.5);
            assert!(t > 0.0 && t < 1.0);
        }
    }
}
