//! The training loop every method shares: seeded shuffling, AdamW with warm-up + cosine,
//! global gradient-norm clipping, an EMA of the weights, validation of the EMA each epoch,
//! checkpoints (`last.*` every epoch, `best.*` on improved validation) and resume.
//!
//! A method supplies an [`Objective`]: its loss on a batch of item indices and its validation
//! figure. The loop is deterministic for a seed: epoch `e` draws its permutation and every
//! random number of its batches from `Rng::new(seed · φ + e + 1)`, so stopping after an epoch
//! and resuming gives the same weights as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use fewstep::rng::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::model::{TrajConfig, TrajNet};
use crate::optim::{AdamW, grad_norm, lr_at, permutation};

/// What a method trains.
pub trait Objective {
    /// Training items per epoch.
    fn items(&self) -> usize;
    /// The loss of the batch `idx` (scalar tensor); random numbers come from `rng`.
    fn loss(&mut self, net: &TrajNet, idx: &[usize], rng: &mut Rng) -> candle_core::Result<Tensor>;
    /// Called before each step's [`Objective::loss`] with the fraction of the schedule done,
    /// `step / total steps` (so a resumed run sees the same values); ignored by default.
    fn set_progress(&mut self, _done: f64) {}
    /// Validation figures of the EMA weights: (primary, secondary), lower is better; the
    /// primary one selects the best epoch.
    fn validate(&mut self, ema: &TrajNet) -> Result<(f64, f64), String>;
}

/// Optimisation settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    pub epochs: usize,
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub weight_decay: f64,
    /// Fraction of all steps spent in linear warm-up.
    pub warmup: f64,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// EMA decay per step.
    pub ema: f64,
    pub seed: u64,
    /// Stop (after checkpointing) once this many epochs are complete.
    pub stop_after: Option<usize>,
    /// Early stopping: finish (exporting the best epoch) once this many epochs in a row have
    /// not improved the validation figure. The learning-rate schedule still spans `epochs`.
    pub patience: Option<usize>,
}

impl Schedule {
    /// Whether `meta`'s run has gone `patience` epochs without improving.
    pub fn patience_exhausted(&self, meta: &CheckpointMeta) -> bool {
        match (self.patience, meta.best) {
            (Some(p), Some((_, _, best))) => meta.epoch >= best + p,
            _ => false,
        }
    }
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
    /// Best validation (primary, secondary) so far and its epoch.
    pub best: Option<(f64, f64, usize)>,
    /// Validation of this epoch.
    pub val: Option<(f64, f64)>,
    /// The method's own arguments (for the card and for resuming).
    pub args: serde_json::Value,
    pub command: String,
}

impl CheckpointMeta {
    /// The metadata of a run that has not taken a step yet.
    pub fn fresh(
        config: TrajConfig,
        future_scale: f32,
        args: serde_json::Value,
        command: impl Into<String>,
    ) -> CheckpointMeta {
        CheckpointMeta {
            epoch: 0,
            step: 0,
            config,
            future_scale,
            best: None,
            val: None,
            args,
            command: command.into(),
        }
    }
}

/// How a [`fit`] ended.
pub enum Outcome {
    /// All epochs ran: the EMA weights of the best epoch and that epoch's metadata.
    Done {
        best: Box<TrajNet>,
        meta: CheckpointMeta,
    },
    /// Stopped by `stop_after`; `<out>/last.json` continues it.
    Stopped { last: PathBuf },
}

/// Exports a finished fit's best EMA weights to `path` with the card `info` builds from its
/// metadata and returns `path`; a stopped fit returns its `last.json`.
pub fn export_outcome(
    outcome: Outcome,
    path: PathBuf,
    info: impl FnOnce(&CheckpointMeta) -> Result<crate::export::ExportInfo, String>,
) -> Result<PathBuf, String> {
    match outcome {
        Outcome::Stopped { last } => Ok(last),
        Outcome::Done { best, meta } => {
            crate::export::save(&best, &info(&meta)?, &path)?;
            eprintln!(
                "exported the EMA weights of epoch {} to {}",
                meta.epoch,
                path.display()
            );
            Ok(path)
        }
    }
}

/// Checkpoint files of `tag` under `out`: weights, EMA, AdamW m, AdamW v, sidecar.
pub fn paths(out: &Path, tag: &str) -> [PathBuf; 5] {
    [
        out.join(format!("{tag}.safetensors")),
        out.join(format!("{tag}.ema.safetensors")),
        out.join(format!("{tag}.adam_m.safetensors")),
        out.join(format!("{tag}.adam_v.safetensors")),
        out.join(format!("{tag}.json")),
    ]
}

/// Reads a checkpoint sidecar.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&s).map_err(|e| format!("{}: {e}", path.display()))
}

fn ce<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
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

/// Where a [`fit`] keeps its state and how it reports.
pub struct Io<'a> {
    /// Checkpoint folder; `None` keeps everything in memory.
    pub out: Option<&'a Path>,
    /// Continue from `<out>/last.json` when it exists.
    pub resume: bool,
    /// Prefix of the log lines.
    pub label: &'a str,
    /// Draw a progress bar (indicatif hides it when stderr is not a terminal).
    pub progress: bool,
}

/// Trains `init` on `obj`. When resuming, the checkpoint replaces `init` and `fresh` (whose
/// command is appended to the stored one).
pub fn fit(
    obj: &mut dyn Objective,
    init: TrajNet,
    fresh: CheckpointMeta,
    s: &Schedule,
    io: &Io,
) -> Result<Outcome, String> {
    let (out, resume, label) = (io.out, io.resume, io.label);
    if let Some(o) = out {
        std::fs::create_dir_all(o).map_err(|e| format!("{}: {e}", o.display()))?;
    }
    let last_json = out.map(|o| paths(o, "last")[4].clone());
    let (net, ema, mut opt, mut meta) = match &last_json {
        Some(j) if resume && j.exists() => {
            let mut meta = read_meta(j)?;
            let o = out.expect("out is set");
            let [p, e, m, v, _] = paths(o, "last");
            let net = TrajNet::load(meta.config.clone(), &p)?;
            let ema = TrajNet::load(meta.config.clone(), &e)?;
            let mut opt = AdamW::new(&net, s.weight_decay).map_err(ce)?;
            opt.m.load(&m).map_err(ce)?;
            opt.v.load(&v).map_err(ce)?;
            opt.step = meta.step;
            meta.command = format!("{}; resumed: {}", meta.command, fresh.command);
            eprintln!(
                "{label}: resuming from {} (epoch {}, step {})",
                j.display(),
                meta.epoch,
                meta.step
            );
            (net, ema, opt, meta)
        }
        _ => {
            if resume {
                eprintln!("{label}: no checkpoint to resume: starting fresh");
            }
            let ema = init.deep_clone()?;
            let opt = AdamW::new(&init, s.weight_decay).map_err(ce)?;
            (init, ema, opt, fresh)
        }
    };
    let n = obj.items();
    if n == 0 {
        return Err(format!("{label}: no training items"));
    }
    let steps_per_epoch = n.div_ceil(s.batch);
    let total = steps_per_epoch * s.epochs;
    let t_start = Instant::now();
    let end = s.stop_after.map_or(s.epochs, |x| x.min(s.epochs));
    let mut best_mem: Option<(TrajNet, CheckpointMeta)> = None;
    let mut early = false;
    for epoch in meta.epoch..end {
        if s.patience_exhausted(&meta) {
            early = true;
            break;
        }
        let mut rng = Rng::new(
            s.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(epoch as u64 + 1),
        );
        let perm = permutation(n, &mut rng);
        let pb = if io.progress {
            ProgressBar::new(steps_per_epoch as u64)
        } else {
            ProgressBar::hidden()
        };
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})",
            )
            .map_err(ce)?
            .progress_chars("=> "),
        );
        pb.set_prefix(format!("{label} epoch {}/{}", epoch + 1, s.epochs));
        let (mut loss_sum, mut loss_n) = (0f64, 0usize);
        let t_epoch = Instant::now();
        for idx in perm.chunks(s.batch) {
            obj.set_progress(opt.step as f64 / total as f64);
            let loss = obj.loss(&net, idx, &mut rng).map_err(ce)?;
            let lr = lr_at(opt.step, total, s.lr, s.warmup);
            let grads = loss.backward().map_err(ce)?;
            let scale_g = if s.clip > 0.0 {
                let gn = grad_norm(&net, &grads).map_err(ce)?;
                if gn > s.clip { s.clip / gn } else { 1.0 }
            } else {
                1.0
            };
            opt.step(&net, &grads, lr, scale_g).map_err(ce)?;
            let decay = s.ema.min((1 + opt.step) as f64 / (10 + opt.step) as f64);
            ema.ema_update(&net, decay).map_err(ce)?;
            let l = loss.to_scalar::<f32>().map_err(ce)? as f64;
            if !l.is_finite() {
                return Err(format!(
                    "{label}: the loss became {l} in epoch {} (lower --lr?)",
                    epoch + 1
                ));
            }
            loss_sum += l;
            loss_n += 1;
            pb.set_message(format!(
                "loss {l:.4} (avg {:.4}) lr {lr:.2e}",
                loss_sum / loss_n as f64
            ));
            pb.inc(1);
        }
        pb.finish_and_clear();
        let train_s = t_epoch.elapsed().as_secs_f64();
        let t_val = Instant::now();
        let (a, f) = obj.validate(&ema)?;
        meta.epoch = epoch + 1;
        meta.step = opt.step;
        meta.val = Some((a, f));
        let improved = meta.best.is_none_or(|(b, _, _)| a < b);
        if improved {
            meta.best = Some((a, f, epoch + 1));
        }
        match out {
            Some(o) => {
                save_ckpt(o, "last", &net, &ema, &opt, &meta)?;
                if improved {
                    save_ckpt(o, "best", &net, &ema, &opt, &meta)?;
                }
            }
            None if improved => best_mem = Some((ema.deep_clone()?, meta.clone())),
            None => {}
        }
        eprintln!(
            "{label} epoch {}/{}: loss {:.4}, val {a:.4}/{f:.4}{}, train {train_s:.1} s, val {:.1} s, total {:.1} s",
            epoch + 1,
            s.epochs,
            loss_sum / loss_n.max(1) as f64,
            if improved { " *best*" } else { "" },
            t_val.elapsed().as_secs_f64(),
            t_start.elapsed().as_secs_f64()
        );
    }
    // the last epoch of a stop_after slice is checked here, as the loop does not come back
    early |= meta.epoch < s.epochs && s.patience_exhausted(&meta);
    if let (true, Some((_, _, best))) = (early, meta.best) {
        eprintln!(
            "{label}: no improvement for {} epochs since epoch {best}: stopped early at epoch {} of {}",
            meta.epoch - best,
            meta.epoch,
            s.epochs
        );
    } else if end < s.epochs {
        let last = last_json.ok_or("stop_after needs a checkpoint folder")?;
        eprintln!(
            "{label}: stopped after epoch {end} of {}; continue with --resume",
            s.epochs
        );
        return Ok(Outcome::Stopped { last });
    }
    match out {
        Some(o) => {
            let best_json = paths(o, "best")[4].clone();
            let tag = if best_json.exists() { "best" } else { "last" };
            let [_, e, _, _, j] = paths(o, tag);
            let meta = read_meta(&j)?;
            let best = Box::new(TrajNet::load(meta.config.clone(), &e)?);
            Ok(Outcome::Done { best, meta })
        }
        None => {
            let (best, meta) = match best_mem {
                Some(b) => b,
                None => (ema, meta),
            };
            Ok(Outcome::Done {
                best: Box::new(best),
                meta,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetKind;

    /// A loss that trains the net towards zero output, and a scripted validation figure.
    struct Scripted {
        vals: Vec<f64>,
        calls: usize,
    }

    impl Objective for Scripted {
        fn items(&self) -> usize {
            4
        }
        fn loss(
            &mut self,
            net: &TrajNet,
            idx: &[usize],
            _: &mut Rng,
        ) -> candle_core::Result<Tensor> {
            let c = &net.config;
            let dev = net.device().clone();
            let x = Tensor::ones((idx.len(), c.modes, c.state), candle_core::DType::F32, &dev)?;
            let t = Tensor::ones((idx.len(), 1), candle_core::DType::F32, &dev)?;
            let cond = Tensor::ones((idx.len(), c.cond), candle_core::DType::F32, &dev)?;
            net.forward(&x, Some(&t), &cond)?.sqr()?.mean_all()
        }
        fn validate(&mut self, _: &TrajNet) -> Result<(f64, f64), String> {
            self.calls += 1;
            Ok((self.vals[self.calls - 1], 0.0))
        }
    }

    fn run(
        patience: Option<usize>,
        stop_after: Option<usize>,
        out: Option<&Path>,
    ) -> (Outcome, usize) {
        let config = TrajConfig {
            d_model: 8,
            heads: 2,
            layers: 1,
            modes: 2,
            state: 4,
            cond: 3,
            kind: NetKind::Velocity,
            ..Default::default()
        };
        let fresh = CheckpointMeta::fresh(config.clone(), 1.0, serde_json::Value::Null, "test");
        let s = Schedule {
            epochs: 10,
            batch: 2,
            lr: 1e-3,
            weight_decay: 0.0,
            warmup: 0.0,
            clip: 0.0,
            ema: 0.9,
            seed: 1,
            stop_after,
            patience,
        };
        let io = Io {
            out,
            resume: true,
            label: "test",
            progress: false,
        };
        // best at epoch 3, never improved after
        let mut obj = Scripted {
            vals: vec![3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 1.3, 1.4, 1.6, 1.7],
            calls: 0,
        };
        let init = TrajNet::new(config, 0).unwrap();
        (fit(&mut obj, init, fresh, &s, &io).unwrap(), obj.calls)
    }

    fn best_epoch(o: &Outcome) -> usize {
        match o {
            Outcome::Done { meta, .. } => meta.epoch,
            Outcome::Stopped { .. } => panic!("stopped, not done"),
        }
    }

    #[test]
    fn patience_ends_the_run_at_the_best_epoch() {
        let (o, calls) = run(Some(3), None, None);
        assert_eq!((best_epoch(&o), calls), (3, 6));
        let (o, calls) = run(None, None, None);
        assert_eq!((best_epoch(&o), calls), (3, 10));
        // more patience than epochs left: the schedule ends first
        let (o, calls) = run(Some(8), None, None);
        assert_eq!((best_epoch(&o), calls), (3, 10));
    }

    #[test]
    fn patience_is_checked_across_a_resume() {
        let dir = std::env::temp_dir().join(format!("fewstep-fit-patience-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // five epochs without early stopping, then resumed with patience 2: nothing more runs
        let (o, calls) = run(None, Some(5), Some(&dir));
        assert!(matches!(o, Outcome::Stopped { .. }));
        assert_eq!(calls, 5);
        let (o, calls) = run(Some(2), None, Some(&dir));
        assert_eq!((best_epoch(&o), calls), (3, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
