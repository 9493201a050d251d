//! Teacher training: conditional flow matching with MoFlow's recipe.
//!
//! `x1` = the normalized ground-truth future tiled over the K modes, `x0 ~ N(0, I)` `[B, K, 24]`
//! (optionally one noise shared by the K modes), `t ~ logit-normal(−0.5, 1.5)`,
//! `x_t = (1 − t) x0 + t x1`. The net predicts the data, `x̂1 = net(x_t, t, cond)`; the loss per
//! agent is the minimum over the K modes of the summed squared error to the ground truth
//! (best-of-K), averaged over the batch. AdamW (decoupled weight decay on matrices), cosine
//! schedule with linear warm-up, global gradient-norm clipping, and an EMA of the weights (a
//! second `VarMap`) used for validation and export.
//!
//! Every epoch writes `last.*` (weights, EMA, AdamW moments, and `last.json` with the epoch and
//! step) under `--out`; `--resume` continues from there. The epoch with the best validation
//! minADE20 (the fold's filtered val split, K samples, N Euler steps) is kept as `best.*`; test
//! data is never looked at. At the end the best EMA weights are exported to `teacher.onnx`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{D, Tensor, Var};
use candle_nn::VarMap;
use fewstep::card::Provenance;
use fewstep::forecast::PRED;
use fewstep::forecast::features::{FUTURE_VALUES, Frame, PAST_FEATURES, future_world};
use fewstep::forecast::metrics::min_ade_fde;
use fewstep::forecast::windows::Window;
use fewstep::rng::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::data::{Split, arrays, fold_windows};
use crate::export::{ExportInfo, save};
use crate::model::{NetKind, TrajConfig, TrajNet, is_matrix};

/// Options of `fewstep-distill train teacher`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct TeacherArgs {
    /// Test scene of the leave-one-out fold (eth, hotel, univ, zara1, zara2).
    #[arg(long)]
    pub scene: String,
    /// The folder holding the ETH-UCY files.
    #[arg(long, default_value = "data/eth_ucy")]
    pub data: PathBuf,
    /// Output folder (checkpoints, teacher.onnx). Default: runs/<scene>/teacher.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
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
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for candle's kernels (sets RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Use at most this many training windows (a seeded random subset).
    #[arg(long)]
    pub max_windows: Option<usize>,
    /// Use at most this many validation windows (a seeded random subset).
    #[arg(long)]
    pub max_val_windows: Option<usize>,
    /// Euler steps of the validation sampler.
    #[arg(long, default_value_t = 10)]
    pub val_steps: usize,
    /// Euler steps of the exported card's sampler.
    #[arg(long, default_value_t = 100)]
    pub export_steps: usize,
    /// One noise sample shared by the K modes of an agent.
    #[arg(long)]
    pub tied_noise: bool,
    /// Continue from `<out>/last.json`.
    #[arg(long)]
    pub resume: bool,
    /// Stop (after checkpointing) once this many epochs are complete, without exporting;
    /// continue later with `--resume` (the schedule still spans `--epochs`).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

/// The JSON sidecar of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: usize,
    pub config: TrajConfig,
    pub future_scale: f32,
    /// Best validation (minADE20, minFDE20) so far and its epoch.
    pub best: Option<(f64, f64, usize)>,
    /// Validation of this epoch.
    pub val: Option<(f64, f64)>,
    pub args: TeacherArgs,
    pub command: String,
}

/// AdamW with its moments in two `VarMap`s (so they are saved with the checkpoint).
pub struct AdamW {
    pub m: VarMap,
    pub v: VarMap,
    pub step: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(net: &TrajNet, weight_decay: f64) -> candle_core::Result<AdamW> {
        let (m, v) = (VarMap::new(), VarMap::new());
        for vm in [&m, &v] {
            let mut d = vm.data().lock().expect("varmap lock");
            for name in net.names() {
                let p = net.param(&name)?;
                d.insert(name, Var::zeros(p.shape(), p.dtype(), p.device())?);
            }
        }
        Ok(AdamW {
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// One step at learning rate `lr`; gradients are scaled by `grad_scale` (clipping).
    pub fn step(
        &mut self,
        net: &TrajNet,
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> candle_core::Result<()> {
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        let params = net.varmap.data().lock().expect("varmap lock");
        let ms = self.m.data().lock().expect("varmap lock");
        let vs = self.v.data().lock().expect("varmap lock");
        for (name, theta) in params.iter() {
            let Some(g) = grads.get(theta.as_tensor()) else {
                continue;
            };
            let g = (g * grad_scale)?;
            let (m, v) = (&ms[name], &vs[name]);
            let nm = ((m.as_tensor() * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let nv = ((v.as_tensor() * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let upd = ((&nm / bc1)? / ((&nv / bc2)?.sqrt()? + self.eps)?)?;
            let decay = if is_matrix(theta.dims()) {
                1.0 - lr * self.weight_decay
            } else {
                1.0
            };
            let next = ((theta.as_tensor() * decay)? - (upd * lr)?)?;
            m.set(&nm)?;
            v.set(&nv)?;
            theta.set(&next)?;
        }
        Ok(())
    }
}

/// Global L2 norm of the gradients of `net`'s parameters.
fn grad_norm(net: &TrajNet, grads: &candle_core::backprop::GradStore) -> candle_core::Result<f64> {
    let params = net.varmap.data().lock().expect("varmap lock");
    let mut s = 0f64;
    for theta in params.values() {
        if let Some(g) = grads.get(theta.as_tensor()) {
            s += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    Ok(s.sqrt())
}

/// Learning rate at `step` of `total`: linear warm-up, then cosine to 0.
pub fn lr_at(step: usize, total: usize, peak: f64, warmup: f64) -> f64 {
    let w = ((total as f64 * warmup).round() as usize).max(1);
    if step < w {
        return peak * (step + 1) as f64 / w as f64;
    }
    let p = (step - w) as f64 / (total.saturating_sub(w)).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
}

/// A seeded Fisher–Yates permutation of `0..n`.
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
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
    let a = arrays(ws, 1.0);
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

/// K samples per window from `steps` uniform Euler steps of a velocity net in candle, with
/// noise from `seed`; `[n, K, 24]` normalized.
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
        let ct = net.tensor(&cond[i * c.cond..(i + b) * c.cond], &[b, c.cond])?;
        let mut x = net.tensor(&z, &[b, c.modes, c.state])?;
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
        out.extend(x.flatten_all()?.to_vec1::<f32>()?);
        i += b;
    }
    Ok(out)
}

fn ce<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn paths(out: &Path, tag: &str) -> [PathBuf; 5] {
    [
        out.join(format!("{tag}.safetensors")),
        out.join(format!("{tag}.ema.safetensors")),
        out.join(format!("{tag}.adam_m.safetensors")),
        out.join(format!("{tag}.adam_v.safetensors")),
        out.join(format!("{tag}.json")),
    ]
}

fn save_ckpt(
    out: &Path,
    tag: &str,
    net: &TrajNet,
    ema: &TrajNet,
    opt: &AdamW,
    meta: &CheckpointMeta,
) -> Result<(), String> {
    let [p, e, m, v, j] = paths(out, tag);
    net.varmap.save(&p).map_err(ce)?;
    ema.varmap.save(&e).map_err(ce)?;
    opt.m.save(&m).map_err(ce)?;
    opt.v.save(&v).map_err(ce)?;
    // the sidecar last, so a complete sidecar means a complete checkpoint
    let tmp = j.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(meta).map_err(ce)?).map_err(ce)?;
    std::fs::rename(&tmp, &j).map_err(ce)
}

/// Trains a teacher; returns the path of the exported `teacher.onnx` (or of `last.json` when
/// stopped early by `stop_after`).
pub fn train_teacher(args: &TeacherArgs, command: &str) -> Result<PathBuf, String> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}/teacher", args.scene)));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    // data
    let train_ws = fold_windows(&args.data, &args.scene, Split::Train, 1)?;
    let train_ws = subset(train_ws, args.max_windows, args.seed ^ 0x5EED);
    let val_ws = fold_windows(&args.data, &args.scene, Split::Val, 2)?;
    let val_ws = subset(val_ws, args.max_val_windows, args.seed ^ 0x7A1);
    if train_ws.is_empty() || val_ws.is_empty() {
        return Err("empty training or validation split".into());
    }

    // model, EMA, optimizer: fresh or resumed
    let last_json = paths(&out, "last")[4].clone();
    let (net, ema, mut opt, mut meta) = if args.resume && last_json.exists() {
        let meta: CheckpointMeta =
            serde_json::from_str(&std::fs::read_to_string(&last_json).map_err(ce)?).map_err(ce)?;
        let [p, e, m, v, _] = paths(&out, "last");
        let net = TrajNet::load(meta.config.clone(), &p)?;
        let ema = TrajNet::load(meta.config.clone(), &e)?;
        let mut opt = AdamW::new(&net, args.weight_decay).map_err(ce)?;
        opt.m.load(&m).map_err(ce)?;
        opt.v.load(&v).map_err(ce)?;
        opt.step = meta.step;
        let mut meta = meta;
        meta.command = format!("{}; resumed: {command}", meta.command);
        eprintln!(
            "resuming from {} (epoch {}, step {})",
            last_json.display(),
            meta.epoch,
            meta.step
        );
        (net, ema, opt, meta)
    } else {
        if args.resume {
            eprintln!("no checkpoint at {}: starting fresh", last_json.display());
        }
        let config = TrajConfig {
            d_model: args.d_model,
            heads: args.heads,
            layers: args.layers,
            kind: NetKind::Velocity,
            ..Default::default()
        };
        let net = TrajNet::new(config.clone(), args.seed)?;
        let ema = net.deep_clone()?;
        let opt = AdamW::new(&net, args.weight_decay).map_err(ce)?;
        let meta = CheckpointMeta {
            epoch: 0,
            step: 0,
            config,
            future_scale: future_scale_of(&train_ws),
            best: None,
            val: None,
            args: args.clone(),
            command: command.to_string(),
        };
        (net, ema, opt, meta)
    };
    let c = net.config.clone();
    let scale = meta.future_scale;
    let tr = arrays(&train_ws, scale);
    let va = arrays(&val_ws, scale);
    let (k, sw) = (c.modes, c.state);
    let steps_per_epoch = tr.n.div_ceil(args.batch);
    let total = steps_per_epoch * args.epochs;
    eprintln!(
        "teacher {}: {} train / {} val windows, future_scale {scale} m, {} params, {} MACs/agent/pass, {} steps/epoch",
        args.scene,
        tr.n,
        va.n,
        c.parameter_count(),
        c.macs_per_pass(),
        steps_per_epoch
    );
    let dev = net.device().clone();
    let t_start = Instant::now();
    let end = args.stop_after.map_or(args.epochs, |s| s.min(args.epochs));
    for epoch in meta.epoch..end {
        let mut rng = Rng::new(
            args.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(epoch as u64 + 1),
        );
        let perm = permutation(tr.n, &mut rng);
        let pb = ProgressBar::new(steps_per_epoch as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})",
            )
            .map_err(ce)?
            .progress_chars("=> "),
        );
        pb.set_prefix(format!("{}/{}", epoch + 1, args.epochs));
        let (mut loss_sum, mut loss_n) = (0f64, 0usize);
        let t_epoch = Instant::now();
        for idx in perm.chunks(args.batch) {
            let b = idx.len();
            let mut cond = Vec::with_capacity(b * PAST_FEATURES);
            let mut fut = Vec::with_capacity(b * FUTURE_VALUES);
            for &i in idx {
                cond.extend_from_slice(&tr.cond[i * PAST_FEATURES..(i + 1) * PAST_FEATURES]);
                fut.extend_from_slice(&tr.future[i * FUTURE_VALUES..(i + 1) * FUTURE_VALUES]);
            }
            let nz = if args.tied_noise { b * sw } else { b * k * sw };
            let mut z = vec![0f32; nz];
            rng.fill_normal(&mut z);
            let t: Vec<f32> = (0..b)
                .map(|_| 1.0 / (1.0 + (-(-0.5 + 1.5 * rng.normal())).exp()))
                .collect();
            let loss = (|| -> candle_core::Result<Tensor> {
                let ct = Tensor::from_vec(cond, (b, PAST_FEATURES), &dev)?;
                let x1 = Tensor::from_vec(fut, (b, 1, sw), &dev)?.broadcast_as((b, k, sw))?;
                let x0 = if args.tied_noise {
                    Tensor::from_vec(z, (b, 1, sw), &dev)?.broadcast_as((b, k, sw))?
                } else {
                    Tensor::from_vec(z, (b, k, sw), &dev)?
                };
                let tt = Tensor::from_vec(t, (b, 1), &dev)?;
                let t3 = tt.unsqueeze(2)?;
                let xt = (x0.broadcast_mul(&t3.affine(-1.0, 1.0)?)? + x1.broadcast_mul(&t3)?)?;
                let pred = net.forward(&xt, Some(&tt), &ct)?;
                let err = (pred - x1)?.sqr()?.sum(D::Minus1)?; // [B, K]
                let best = err.argmin_keepdim(1)?;
                err.gather(&best, 1)?.mean_all()
            })()
            .map_err(ce)?;
            let lr = lr_at(opt.step, total, args.lr, args.warmup);
            let grads = loss.backward().map_err(ce)?;
            let scale_g = if args.clip > 0.0 {
                let gn = grad_norm(&net, &grads).map_err(ce)?;
                if gn > args.clip { args.clip / gn } else { 1.0 }
            } else {
                1.0
            };
            opt.step(&net, &grads, lr, scale_g).map_err(ce)?;
            let decay = args.ema.min((1 + opt.step) as f64 / (10 + opt.step) as f64);
            ema.ema_update(&net, decay).map_err(ce)?;
            let l = loss.to_scalar::<f32>().map_err(ce)? as f64;
            loss_sum += l;
            loss_n += 1;
            pb.set_message(format!(
                "loss {:.4} (avg {:.4}) lr {lr:.2e}",
                l,
                loss_sum / loss_n as f64
            ));
            pb.inc(1);
        }
        pb.finish_and_clear();
        let train_s = t_epoch.elapsed().as_secs_f64();
        // validation with the EMA weights
        let t_val = Instant::now();
        let samples = sample_candle(&ema, &va.cond, va.n, args.val_steps, args.seed ^ 0x7A1, 512)
            .map_err(ce)?;
        let (ade, fde) = min_ade_fde_windows(&val_ws, &samples, k, scale);
        meta.epoch = epoch + 1;
        meta.step = opt.step;
        meta.val = Some((ade, fde));
        let improved = meta.best.is_none_or(|(b, _, _)| ade < b);
        if improved {
            meta.best = Some((ade, fde, epoch + 1));
        }
        save_ckpt(&out, "last", &net, &ema, &opt, &meta)?;
        if improved {
            save_ckpt(&out, "best", &net, &ema, &opt, &meta)?;
        }
        eprintln!(
            "epoch {}/{}: loss {:.4}, val minADE20/minFDE20 {ade:.3}/{fde:.3} m ({} Euler steps){}, train {train_s:.1} s, val {:.1} s, total {:.1} s",
            epoch + 1,
            args.epochs,
            loss_sum / loss_n.max(1) as f64,
            args.val_steps,
            if improved { " *best*" } else { "" },
            t_val.elapsed().as_secs_f64(),
            t_start.elapsed().as_secs_f64()
        );
    }

    if end < args.epochs {
        eprintln!(
            "stopped after epoch {end} of {}; continue with --resume",
            args.epochs
        );
        return Ok(paths(&out, "last")[4].clone());
    }
    // export the best EMA weights
    let best_json = paths(&out, "best")[4].clone();
    let (ema_path, best_meta) = if best_json.exists() {
        let m: CheckpointMeta =
            serde_json::from_str(&std::fs::read_to_string(&best_json).map_err(ce)?).map_err(ce)?;
        (paths(&out, "best")[1].clone(), m)
    } else {
        (paths(&out, "last")[1].clone(), meta.clone())
    };
    let best = TrajNet::load(c.clone(), &ema_path)?;
    let onnx = out.join("teacher.onnx");
    save(&best, &export_info(&best_meta, args.export_steps), &onnx)?;
    eprintln!(
        "exported {} (EMA weights of epoch {}) to {}",
        ema_path.display(),
        best_meta.epoch,
        onnx.display()
    );
    Ok(onnx)
}

/// The card contents of a checkpoint.
pub fn export_info(meta: &CheckpointMeta, steps: usize) -> ExportInfo {
    let mut metrics = std::collections::BTreeMap::new();
    if let Some((a, f)) = meta.val {
        metrics.insert(
            format!("val_minADE20_euler{}", meta.args.val_steps),
            (a * 1e4).round() / 1e4,
        );
        metrics.insert(
            format!("val_minFDE20_euler{}", meta.args.val_steps),
            (f * 1e4).round() / 1e4,
        );
    }
    metrics.insert("epoch".into(), meta.epoch as f64);
    ExportInfo {
        steps,
        future_scale: meta.future_scale,
        provenance: Provenance {
            teacher: None,
            method: Some(format!(
                "teacher: conditional flow matching (MoFlow recipe: data prediction, logit-normal t, best-of-{} loss{}), EMA {} weights, {} epochs of {}",
                meta.config.modes,
                if meta.args.tied_noise {
                    ", tied noise"
                } else {
                    ""
                },
                meta.args.ema,
                meta.epoch,
                meta.args.epochs
            )),
            data: Some(format!("eth_ucy/{}", meta.args.scene)),
            seed: Some(meta.args.seed),
            command: Some(meta.command.clone()),
        },
        metrics,
    }
}

/// Exports checkpoint `<dir>/<tag>` (EMA weights) to `out`.
pub fn export_checkpoint(dir: &Path, tag: &str, steps: usize, out: &Path) -> Result<(), String> {
    let [_, e, _, _, j] = paths(dir, tag);
    let meta: CheckpointMeta = serde_json::from_str(
        &std::fs::read_to_string(&j).map_err(|err| format!("{}: {err}", j.display()))?,
    )
    .map_err(ce)?;
    let net = TrajNet::load(meta.config.clone(), &e)?;
    save(&net, &export_info(&meta, steps), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let total = 100;
        assert!((lr_at(0, total, 1.0, 0.05) - 0.2).abs() < 1e-12);
        assert!((lr_at(4, total, 1.0, 0.05) - 1.0).abs() < 1e-12);
        assert!((lr_at(5, total, 1.0, 0.05) - 1.0).abs() < 1e-12);
        assert!(lr_at(99, total, 1.0, 0.05) < 0.01);
    }

    #[test]
    fn permutation_is_seeded_and_complete() {
        let a = permutation(50, &mut Rng::new(3));
        assert_eq!(a, permutation(50, &mut Rng::new(3)));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
