//! The three distillation methods, each an [`Objective`] for [`crate::fit`], on flat arrays so
//! that the ETH-UCY folds and the toy 2-D suite share them. Our convention: `t = 0` is noise,
//! `t = 1` data, `x_t = (1 − t) z + t x1`; a velocity net predicts `x̂1` and its velocity is
//! `φ(x_t, t) = (x̂1 − x_t) / (1 − t)` (the average velocity to the endpoint).
//!
//! - [`Reflow`] (2-rectified flow): regress `x̂1(x_t, t)` onto the teacher's endpoint `x1` of the
//!   same noise `z` on the straight line between them. `t` is 0 with probability ¼, ½ with ¼,
//!   else uniform, so the one- and two-step evaluation points are trained directly.
//! - [`Mdt`] (MDT-dist, in our convention): Velocity Matching
//!   `‖φθ(x_t,t) − (1 − t)·sg[dφθ/dt] − v_T(x_t,t)‖²`, `dφθ/dt` a forward difference along the
//!   teacher's velocity with step `dt`, evaluated on a lagged (EMA) copy of the student as
//!   consistency distillation does (the online student diverged in the toy suite); plus λ · Velocity Distillation: one-step samples
//!   `x' = x̂1θ(z', 0)`, re-noised `x'_t = (1 − t) z″ + t x'`, pushed along
//!   `v_T(x'_t,t) − u_θ(x'_t,t)` (the student's implied velocity standing in for the fake
//!   score) through the surrogate `½‖x'_t − sg[x'_t + (v_T − u_θ)]‖²`, whose gradient reaches
//!   only the generator output. Both terms are adaptively weighted (`robust_mse`). `x_t` is built from the teacher's samples (the teacher's
//!   "data") and fresh noise; `t ~ logit-normal(−1, 1)` (MDT's `logit-normal(1, 1)` on `1 − t`),
//!   clamped below `1 − dt − 0.01`.
//! - [`Imle`] (as in MoFlow): a generator `g(z, cond)`; per condition `M` candidate noise sets,
//!   the candidate whose K trajectories are nearest by Chamfer distance to the teacher's sampled
//!   set is regressed onto it (loss = that Chamfer distance; trajectory distance = the summed
//!   L2 over the points).

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Tensor};
use fewstep::card::Provenance;
use fewstep::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::data::arrays;
use crate::export::ExportInfo;
use crate::fit::{CheckpointMeta, Io, Objective, Schedule, export_outcome, fit, paths, read_meta};
use crate::model::{NetKind, TrajConfig, TrajNet};
use crate::samples::TeacherSamples;
use crate::train::{TrajValidation, gather_rows, logit_normal, train_windows, val_windows};

/// A distillation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Reflow,
    Mdt,
    Imle,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Reflow => "reflow",
            Method::Mdt => "mdt",
            Method::Imle => "imle",
        }
    }

    /// What the student network is.
    pub fn kind(self) -> NetKind {
        match self {
            Method::Imle => NetKind::Generator,
            _ => NetKind::Velocity,
        }
    }
}

/// Shapes shared by the objectives.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub modes: usize,
    pub state: usize,
    pub cond: usize,
}

impl Dims {
    pub fn of(c: &TrajConfig) -> Dims {
        Dims {
            modes: c.modes,
            state: c.state,
            cond: c.cond,
        }
    }
    fn per(&self) -> usize {
        self.modes * self.state
    }
}

/// Teacher samples with their conditions: what every method trains on.
pub struct Pairs {
    pub cond: Vec<f32>,
    pub samples: TeacherSamples,
    pub dims: Dims,
}

impl Pairs {
    fn tensors(
        &self,
        net: &TrajNet,
        idx: &[usize],
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b, d) = (idx.len(), self.dims);
        let c = net.tensor(&gather_rows(&self.cond, d.cond, idx), &[b, d.cond])?;
        let z = net.tensor(
            &gather_rows(&self.samples.z, d.per(), idx),
            &[b, d.modes, d.state],
        )?;
        let x1 = net.tensor(
            &gather_rows(&self.samples.x1, d.per(), idx),
            &[b, d.modes, d.state],
        )?;
        Ok((c, z, x1))
    }
}

fn normal(net: &TrajNet, rng: &mut Rng, shape: &[usize]) -> candle_core::Result<Tensor> {
    let mut v = vec![0f32; shape.iter().product()];
    rng.fill_normal(&mut v);
    net.tensor(&v, shape)
}

/// `(1 − t) z + t x` with `t` `[B, 1]`.
fn interpolate(z: &Tensor, x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
    let t3 = t.unsqueeze(2)?;
    z.broadcast_mul(&t3.affine(-1.0, 1.0)?)? + x.broadcast_mul(&t3)?
}

/// Summed squared error over the state, averaged over items and modes.
fn mse(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    (a - b)?.sqr()?.sum(D::Minus1)?.mean_all()
}

/// Reflow on teacher pairs.
pub struct Reflow<V> {
    pub pairs: Pairs,
    pub val: V,
}

impl<V: FnMut(&TrajNet) -> Result<(f64, f64), String>> Objective for Reflow<V> {
    fn items(&self) -> usize {
        self.pairs.samples.n
    }

    fn loss(&mut self, net: &TrajNet, idx: &[usize], rng: &mut Rng) -> candle_core::Result<Tensor> {
        let (c, z, x1) = self.pairs.tensors(net, idx)?;
        let t: Vec<f32> = (0..idx.len())
            .map(|_| {
                let u = rng.uniform();
                if u < 0.25 {
                    0.0
                } else if u < 0.5 {
                    0.5
                } else {
                    rng.uniform()
                }
            })
            .collect();
        let tt = net.tensor(&t, &[idx.len(), 1])?;
        let xt = interpolate(&z, &x1, &tt)?;
        mse(&net.forward(&xt, Some(&tt), &c)?, &x1)
    }

    fn validate(&mut self, ema: &TrajNet) -> Result<(f64, f64), String> {
        (self.val)(ema)
    }
}

/// MDT-dist: Velocity Matching + λ · Velocity Distillation against a frozen teacher.
pub struct Mdt<V> {
    pub pairs: Pairs,
    pub teacher: TrajNet,
    pub lambda: f64,
    /// Finite-difference step of `dφ/dt`.
    pub dt: f32,
    /// A lagged copy of the student (EMA of decay `target_decay` per step) that evaluates
    /// `dφ/dt`; `None` until the first batch. Not checkpointed: a resumed run restarts it from
    /// the student.
    pub target: Option<TrajNet>,
    pub target_decay: f64,
    pub val: V,
}

impl<V> Mdt<V> {
    fn draw_t(&self, rng: &mut Rng, b: usize) -> Vec<f32> {
        let hi = 1.0 - self.dt - 0.01;
        (0..b)
            .map(|_| logit_normal(rng, -1.0, 1.0).min(hi))
            .collect()
    }

    /// `u = φ(x,t) − (1 − t)·dφ/dt` along `v` (no gradient).
    fn implied_velocity(
        &self,
        net: &TrajNet,
        x: &Tensor,
        t: &Tensor,
        v: &Tensor,
        c: &Tensor,
        phi: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let dt = self.dt as f64;
        let x2 = (x + (v * dt)?)?;
        let phi2 = net.velocity(&x2, &(t + dt)?, c)?.detach();
        let dphi = ((phi2 - phi)? / dt)?;
        let omt = t.affine(-1.0, 1.0)?.unsqueeze(2)?;
        phi - dphi.broadcast_mul(&omt)?
    }
}

impl<V: FnMut(&TrajNet) -> Result<(f64, f64), String>> Objective for Mdt<V> {
    fn items(&self) -> usize {
        self.pairs.samples.n
    }

    fn loss(&mut self, net: &TrajNet, idx: &[usize], rng: &mut Rng) -> candle_core::Result<Tensor> {
        let b = idx.len();
        let d = self.pairs.dims;
        let shape = [b, d.modes, d.state];
        let (c, _, x1) = self.pairs.tensors(net, idx)?;
        match &self.target {
            Some(tg) => tg.ema_update(net, self.target_decay)?,
            None => {
                self.target = Some(
                    net.deep_clone()
                        .map_err(|e| candle_core::Error::Msg(e.to_string()))?,
                )
            }
        }
        let tg = self.target.as_ref().expect("set above");
        // velocity matching on x_t between fresh noise and the teacher's samples
        let z = normal(net, rng, &shape)?;
        let t = net.tensor(&self.draw_t(rng, b), &[b, 1])?;
        let xt = interpolate(&z, &x1, &t)?;
        let vt = self.teacher.velocity(&xt, &t, &c)?.detach();
        let phi = net.velocity(&xt, &t, &c)?;
        let dt = self.dt as f64;
        let phi_lag = tg.velocity(&xt, &t, &c)?.detach();
        let phi2 = tg
            .velocity(&(&xt + (&vt * dt)?)?, &(&t + dt)?, &c)?
            .detach();
        let dphi = ((phi2 - phi_lag)? / dt)?;
        let omt = t.affine(-1.0, 1.0)?.unsqueeze(2)?;
        let vm = robust_mse(&(phi - dphi.broadcast_mul(&omt)?)?, &vt)?;
        if self.lambda == 0.0 {
            return Ok(vm);
        }
        // velocity distillation through re-noised one-step samples
        let z1 = normal(net, rng, &shape)?;
        let t0 = net.tensor(&vec![0f32; b], &[b, 1])?;
        let xs = net.forward(&z1, Some(&t0), &c)?;
        let z2 = normal(net, rng, &shape)?;
        let t2 = net.tensor(&self.draw_t(rng, b), &[b, 1])?;
        let xs_t = interpolate(&z2, &xs, &t2)?;
        let x_det = xs_t.detach();
        let vt2 = self.teacher.velocity(&x_det, &t2, &c)?.detach();
        let phis = tg.velocity(&x_det, &t2, &c)?.detach();
        let us = self.implied_velocity(tg, &x_det, &t2, &vt2, &c, &phis)?;
        let target = (&x_det + (vt2 - us)?)?.detach();
        let vd = (robust_mse(&xs_t, &target)? * 0.5)?;
        vm + (vd * self.lambda)?
    }

    fn validate(&mut self, ema: &TrajNet) -> Result<(f64, f64), String> {
        (self.val)(ema)
    }
}

/// Adaptively weighted squared error: per trajectory `e / sg(√(e + c))` with `e` the summed
/// squared error (≈ ‖a − b‖ once large: robust to the occasional huge finite difference),
/// averaged over items and modes. MDT-dist's code normalises the derivative term for the same
/// reason; MeanFlow weights its loss this way.
fn robust_mse(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let e = (a - b)?.sqr()?.sum(D::Minus1)?;
    let w = (e.detach() + 1e-2)?.sqrt()?;
    (e / w)?.mean_all()
}

/// Chamfer distance between sets of K trajectories, `[B, K, S]` each (S = 2 × points) → `[B]`:
/// trajectory distance = summed L2 over the points, averaged over both directions.
pub fn chamfer(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k, s) = a.dims3()?;
    let kb = b.dim(1)?;
    let diff = a.unsqueeze(2)?.broadcast_sub(&b.unsqueeze(1)?)?; // [B, K, Kb, S]
    let sq = diff.sqr()?.reshape((n, k, kb, s / 2, 2))?.sum(D::Minus1)?;
    let dist = (sq + 1e-8)?.sqrt()?.sum(D::Minus1)?; // [B, K, Kb]
    let ab = dist.min(2)?.mean(1)?;
    let ba = dist.min(1)?.mean(1)?;
    (ab + ba)? * 0.5
}

/// IMLE: nearest of `candidates` noise sets, regressed onto the teacher's set.
pub struct Imle<V> {
    pub pairs: Pairs,
    pub candidates: usize,
    pub val: V,
}

impl<V: FnMut(&TrajNet) -> Result<(f64, f64), String>> Objective for Imle<V> {
    fn items(&self) -> usize {
        self.pairs.samples.n
    }

    fn loss(&mut self, net: &TrajNet, idx: &[usize], rng: &mut Rng) -> candle_core::Result<Tensor> {
        let (b, d, m) = (idx.len(), self.pairs.dims, self.candidates.max(1));
        let per = d.per();
        let (c, _, x1) = self.pairs.tensors(net, idx)?;
        let mut z = vec![0f32; b * m * per];
        rng.fill_normal(&mut z);
        // pick the nearest candidate of every condition, a few conditions at a time
        let mut chosen = vec![0f32; b * per];
        let group = 16usize;
        for g in (0..b).step_by(group) {
            let gb = group.min(b - g);
            let zc = net.tensor(
                &z[g * m * per..(g + gb) * m * per],
                &[gb * m, d.modes, d.state],
            )?;
            let cc = c
                .narrow(0, g, gb)?
                .unsqueeze(1)?
                .broadcast_as((gb, m, d.cond))?
                .reshape((gb * m, d.cond))?;
            let tc = x1
                .narrow(0, g, gb)?
                .unsqueeze(1)?
                .broadcast_as((gb, m, d.modes, d.state))?
                .reshape((gb * m, d.modes, d.state))?;
            let y = net.forward(&zc, None, &cc)?.detach();
            let best = chamfer(&y, &tc)?
                .reshape((gb, m))?
                .argmin(1)?
                .to_dtype(DType::U32)?
                .to_vec1::<u32>()?;
            for (i, &j) in best.iter().enumerate() {
                let src = ((g + i) * m + j as usize) * per;
                chosen[(g + i) * per..(g + i + 1) * per].copy_from_slice(&z[src..src + per]);
            }
        }
        let zs = net.tensor(&chosen, &[b, d.modes, d.state])?;
        chamfer(&net.forward(&zs, None, &c)?, &x1)?.mean_all()
    }

    fn validate(&mut self, ema: &TrajNet) -> Result<(f64, f64), String> {
        (self.val)(ema)
    }
}

/// The student network a method starts from: the teacher itself (reflow, MDT-dist) or a
/// generator initialised from every teacher weight it shares (IMLE).
pub fn init_student(method: Method, teacher: &TrajNet, seed: u64) -> Result<TrajNet, String> {
    match method.kind() {
        NetKind::Velocity => teacher.deep_clone(),
        NetKind::Generator => {
            let cfg = TrajConfig {
                kind: NetKind::Generator,
                ..teacher.config.clone()
            };
            let g = TrajNet::new(cfg, seed)?;
            g.copy_shared(teacher).map_err(|e| e.to_string())?;
            Ok(g)
        }
    }
}

/// Options of `fewstep-distill train student`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct StudentArgs {
    /// reflow, mdt or imle.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Test scene of the leave-one-out fold.
    #[arg(long)]
    pub scene: String,
    /// The teacher's training folder (best.json, best.ema.safetensors, teacher.onnx).
    #[arg(long)]
    pub teacher: PathBuf,
    /// The folder holding the ETH-UCY files.
    #[arg(long, default_value = "data/eth_ucy")]
    pub data: PathBuf,
    /// Output folder. Default: `runs/<scene>/<method>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Passes over the training windows.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Training windows per optimizer step.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-4)]
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
    /// Threads for candle and for the teacher sampling.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Euler steps of the teacher samples (cached next to the teacher).
    #[arg(long, default_value_t = 50)]
    pub teacher_steps: usize,
    /// Use at most this many training windows (a seeded subset).
    #[arg(long)]
    pub max_windows: Option<usize>,
    /// Use at most this many validation windows: the same subset for every run of the fold,
    /// whatever its `--seed` (`train::VAL_SUBSET_SEED`).
    #[arg(long, default_value_t = 1000)]
    pub max_val_windows: usize,
    /// Sampler steps of the validation and of the exported card (velocity students).
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// IMLE: candidate noise sets per condition.
    #[arg(long, default_value_t = 20)]
    pub candidates: usize,
    /// MDT-dist: weight of Velocity Distillation.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// MDT-dist: finite-difference step of dφ/dt.
    #[arg(long, default_value_t = 0.01)]
    pub dt: f32,
    /// MDT-dist: per-step EMA decay of the lagged student that evaluates dφ/dt.
    #[arg(long, default_value_t = 0.99)]
    pub target_decay: f64,
    /// Speed augmentation of the training conditions (each window's condition scaled once by a
    /// seeded log-uniform factor in [1/F, F] before the teacher samples it); 1 = off. Use the
    /// teacher's value.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "one")]
    pub scale_aug: f32,
    /// Teacher sample sets per training window, each from its own noise (an epoch then visits
    /// every window this many times). On the UNIV fold 3 did not change reflow's val
    /// (models/README.md, "Recipe experiments").
    #[arg(long, default_value_t = 1)]
    #[serde(default = "one_usize")]
    pub pairs: usize,
    /// Early stopping: end once this many epochs in a row have not improved val, exporting
    /// the best epoch (the learning-rate schedule still spans `--epochs`). Off by default.
    #[arg(long)]
    #[serde(default)]
    pub patience: Option<usize>,
    /// Continue from `<out>/last.json`.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many epochs (checkpointed; continue with --resume).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

fn one() -> f32 {
    1.0
}

fn one_usize() -> usize {
    1
}

impl StudentArgs {
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

/// The teacher of a training folder: its best EMA weights and metadata.
pub fn load_teacher(dir: &Path) -> Result<(TrajNet, CheckpointMeta), String> {
    let [_, e, _, _, j] = paths(dir, "best");
    let meta = read_meta(&j)?;
    let net = TrajNet::load(meta.config.clone(), &e)?;
    Ok((net, meta))
}

/// Trains a student on an ETH-UCY fold; returns the exported `<out>/student.onnx` (or
/// `last.json` when stopped early).
pub fn train_student(args: &StudentArgs, command: &str) -> Result<PathBuf, String> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}/{}", args.scene, args.method.name())));
    if args.pairs == 0 {
        return Err("--pairs must be at least 1".into());
    }
    let (teacher, tmeta) = load_teacher(&args.teacher)?;
    let scale = tmeta.future_scale;
    let train_ws = train_windows(&args.data, &args.scene, None, args.max_windows, args.seed)?;
    let val_ws = val_windows(&args.data, &args.scene, None, Some(args.max_val_windows))?;
    let mut tr = arrays(&train_ws, scale, teacher.config.features);
    tr.cond = tr.cond.repeat(args.pairs);
    tr.n *= args.pairs;
    let mut aug = String::new();
    if args.scale_aug > 1.0 {
        let (l, cw) = (args.scale_aug.ln(), teacher.config.cond);
        let track = teacher.config.track_cond();
        let mut rng = Rng::new(args.seed ^ 0x5CA1E);
        for row in tr.cond.chunks_mut(cw) {
            let s = (l * (2.0 * rng.uniform() - 1.0)).exp();
            row[..track].iter_mut().for_each(|v| *v *= s);
        }
        aug = format!("-aug{}", args.scale_aug);
    }
    let cache = args.teacher.join(format!(
        "samples-euler{}-seed{}-n{}{aug}.fsts",
        args.teacher_steps, args.seed, tr.n
    ));
    let samples = match TeacherSamples::load(&cache) {
        Ok(s) if s.n == tr.n => {
            eprintln!("teacher samples: {}", cache.display());
            s
        }
        _ => {
            let s = crate::samples::from_runtime(
                &args.teacher.join("teacher.onnx"),
                &tr.cond,
                tr.n,
                args.teacher_steps,
                args.seed ^ 0x5A3,
                args.threads,
            )?;
            s.save(&cache)?;
            eprintln!("teacher samples written to {}", cache.display());
            s
        }
    };
    let pairs = Pairs {
        cond: tr.cond,
        samples,
        dims: Dims::of(&teacher.config),
    };
    let val = TrajValidation::new(
        val_ws,
        scale,
        teacher.config.features,
        args.steps,
        args.seed ^ 0x7A1,
    );
    let score = |net: &TrajNet| val.score(net);
    let init = init_student(args.method, &teacher, args.seed)?;
    eprintln!(
        "{} student {}: {} pairs ({} teacher steps), {} params, {} MACs/agent/pass",
        args.method.name(),
        args.scene,
        pairs.samples.n,
        pairs.samples.steps,
        init.config.parameter_count(),
        init.config.macs_per_pass()
    );
    let fresh = CheckpointMeta::fresh(
        init.config.clone(),
        scale,
        serde_json::to_value(args).map_err(|e| e.to_string())?,
        command,
    );
    let label = format!("{} {}", args.method.name(), args.scene);
    let io = Io {
        out: Some(&out),
        resume: args.resume,
        label: &label,
        progress: true,
    };
    let s = args.schedule();
    let outcome = match args.method {
        Method::Reflow => fit(&mut Reflow { pairs, val: score }, init, fresh, &s, &io)?,
        Method::Mdt => fit(
            &mut Mdt {
                pairs,
                teacher,
                lambda: args.lambda,
                dt: args.dt,
                target: None,
                target_decay: args.target_decay,
                val: score,
            },
            init,
            fresh,
            &s,
            &io,
        )?,
        Method::Imle => fit(
            &mut Imle {
                pairs,
                candidates: args.candidates,
                val: score,
            },
            init,
            fresh,
            &s,
            &io,
        )?,
    };
    export_outcome(outcome, out.join("student.onnx"), |m| {
        export_info(m, args.steps)
    })
}

/// The card contents of a student checkpoint.
pub fn export_info(meta: &CheckpointMeta, steps: usize) -> Result<ExportInfo, String> {
    let a: StudentArgs = serde_json::from_value(meta.args.clone())
        .map_err(|e| format!("checkpoint args are not a student's: {e}"))?;
    let mut metrics = std::collections::BTreeMap::new();
    if let Some((ade, fde)) = meta.val {
        let tag = match a.method.kind() {
            NetKind::Generator => "gen".to_string(),
            NetKind::Velocity => format!("euler{}", a.steps),
        };
        metrics.insert(format!("val_minADE20_{tag}"), (ade * 1e4).round() / 1e4);
        metrics.insert(format!("val_minFDE20_{tag}"), (fde * 1e4).round() / 1e4);
    }
    metrics.insert("epoch".into(), meta.epoch as f64);
    let what = match a.method {
        Method::Reflow => format!(
            "reflow (2-rectified flow) on teacher pairs ({} Euler steps)",
            a.teacher_steps
        ),
        Method::Mdt => format!(
            "MDT-dist: velocity matching + {} x velocity distillation (dt {}), teacher-sample marginals ({} Euler steps)",
            a.lambda, a.dt, a.teacher_steps
        ),
        Method::Imle => format!(
            "IMLE: nearest of {} candidate sets by Chamfer distance to the teacher's sample set ({} Euler steps)",
            a.candidates, a.teacher_steps
        ),
    };
    Ok(ExportInfo {
        steps,
        future_scale: meta.future_scale,
        provenance: Provenance {
            teacher: Some(a.teacher.join("teacher.onnx").display().to_string()),
            method: Some(format!(
                "{what}; EMA {} weights, {} epochs of {}",
                a.ema, meta.epoch, a.epochs
            )),
            data: Some(format!("eth_ucy/{}", a.scene)),
            seed: Some(a.seed),
            command: Some(meta.command.clone()),
        },
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn chamfer_of_a_set_with_itself_is_zero_and_is_symmetric() {
        let dev = Device::Cpu;
        let mut rng = Rng::new(2);
        let mut a = vec![0f32; 2 * 3 * 4];
        let mut b = vec![0f32; 2 * 3 * 4];
        rng.fill_normal(&mut a);
        rng.fill_normal(&mut b);
        let ta = Tensor::from_vec(a.clone(), (2, 3, 4), &dev).unwrap();
        let tb = Tensor::from_vec(b.clone(), (2, 3, 4), &dev).unwrap();
        let self_d = chamfer(&ta, &ta).unwrap().to_vec1::<f32>().unwrap();
        assert!(self_d.iter().all(|&d| d < 1e-3), "{self_d:?}");
        let ab = chamfer(&ta, &tb).unwrap().to_vec1::<f32>().unwrap();
        let ba = chamfer(&tb, &ta).unwrap().to_vec1::<f32>().unwrap();
        for (x, y) in ab.iter().zip(&ba) {
            assert!((x - y).abs() < 1e-5);
        }
        // against a scalar reference for item 0
        let traj_d = |p: &[f32], q: &[f32]| -> f32 {
            (0..2)
                .map(|j| {
                    ((p[2 * j] - q[2 * j]).powi(2) + (p[2 * j + 1] - q[2 * j + 1]).powi(2)).sqrt()
                })
                .sum()
        };
        let (pa, pb) = (&a[..12], &b[..12]);
        let dir = |x: &[f32], y: &[f32]| -> f32 {
            (0..3)
                .map(|i| {
                    (0..3)
                        .map(|j| traj_d(&x[i * 4..i * 4 + 4], &y[j * 4..j * 4 + 4]))
                        .fold(f32::INFINITY, f32::min)
                })
                .sum::<f32>()
                / 3.0
        };
        let want = 0.5 * (dir(pa, pb) + dir(pb, pa));
        assert!((ab[0] - want).abs() < 1e-4, "{} vs {want}", ab[0]);
    }
}
