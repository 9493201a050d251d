//! The toy 2-D suite: every method on a problem small enough to train in seconds, scored by
//! sliced Wasserstein distance to fresh data.
//!
//! Condition 0 (one-hot) is a mixture of 8 Gaussians on a circle, condition 1 two moons; the
//! data are 2-D points (`modes = 1`, `state = 2`), the networks [`TrajNet`]s with the shapes of
//! the trajectory nets. A teacher is trained by flow matching (the ETH-UCY objective), sampled
//! with `teacher_steps` Euler steps to make the pairs, and distilled by reflow, MDT-dist and
//! IMLE, all through the same objectives as the trajectory students. A one-step teacher
//! collapses each condition onto its mean; a working one-step student does not.

use fewstep::rng::Rng;

use crate::fit::{CheckpointMeta, Io, Outcome, Schedule, fit};
use crate::model::{NetKind, TrajConfig, TrajNet};
use crate::samples::{TeacherSamples, from_candle};
use crate::students::{Dims, Imle, Mdt, Method, Pairs, Reflow, init_student};
use crate::train::{FlowMatching, sample_from};

/// Number of conditions (one-hot width).
pub const CONDITIONS: usize = 2;

/// One sample of condition `c`.
pub fn draw(c: usize, rng: &mut Rng) -> [f32; 2] {
    if c == 0 {
        let k = (rng.next_u64() % 8) as f32;
        let a = k * std::f32::consts::TAU / 8.0;
        [a.cos() + 0.08 * rng.normal(), a.sin() + 0.08 * rng.normal()]
    } else {
        let u = rng.uniform() * std::f32::consts::PI;
        let (x, y) = if rng.next_u64().is_multiple_of(2) {
            (u.cos(), u.sin())
        } else {
            (1.0 - u.cos(), 0.5 - u.sin())
        };
        // centre and scale to about [-1, 1]
        [
            0.6 * (x - 0.5) + 0.05 * rng.normal(),
            0.6 * (y - 0.25) + 0.05 * rng.normal(),
        ]
    }
}

/// `n` items alternating between the conditions: one-hot conditions `[n, 2]` and points `[n, 2]`.
pub fn dataset(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let (mut cond, mut x) = (vec![0f32; n * CONDITIONS], Vec::with_capacity(n * 2));
    for i in 0..n {
        let c = i % CONDITIONS;
        cond[i * CONDITIONS + c] = 1.0;
        x.extend(draw(c, &mut rng));
    }
    (cond, x)
}

/// Sliced 1-Wasserstein distance between two equal-size 2-D point sets (`[n, 2]` each),
/// averaged over `projections` seeded random directions.
pub fn sliced_wasserstein(a: &[f32], b: &[f32], projections: usize, seed: u64) -> f64 {
    assert_eq!(a.len(), b.len(), "equal-size sets");
    let n = a.len() / 2;
    let mut rng = Rng::new(seed);
    let mut total = 0f64;
    let (mut pa, mut pb) = (vec![0f32; n], vec![0f32; n]);
    for _ in 0..projections {
        let th = rng.uniform() * std::f32::consts::PI;
        let (c, s) = (th.cos(), th.sin());
        for i in 0..n {
            pa[i] = a[2 * i] * c + a[2 * i + 1] * s;
            pb[i] = b[2 * i] * c + b[2 * i + 1] * s;
        }
        pa.sort_by(f32::total_cmp);
        pb.sort_by(f32::total_cmp);
        total += pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / n as f64;
    }
    total / projections as f64
}

/// Settings of the suite.
#[derive(Debug, Clone)]
pub struct ToyOptions {
    pub seed: u64,
    /// Training items (pairs) per method.
    pub items: usize,
    pub teacher_epochs: usize,
    pub student_epochs: usize,
    pub teacher_steps: usize,
    /// Evaluation points per condition.
    pub eval: usize,
    pub d_model: usize,
    /// MDT-dist's weight of Velocity Distillation.
    pub mdt_lambda: f64,
    /// Peak learning rate of the reflow and IMLE students.
    pub student_lr: f64,
    /// Peak learning rate of the MDT-dist student (its self-referential target wants less).
    pub mdt_lr: f64,
    /// Train the teacher with minibatch OT coupling.
    pub minibatch_ot: bool,
    pub progress: bool,
}

impl Default for ToyOptions {
    fn default() -> Self {
        ToyOptions {
            seed: 0,
            items: 4096,
            teacher_epochs: 40,
            student_epochs: 20,
            teacher_steps: 32,
            eval: 1000,
            d_model: 64,
            mdt_lambda: 1.0,
            student_lr: 1e-3,
            mdt_lr: 2e-4,
            minibatch_ot: false,
            progress: false,
        }
    }
}

/// Sliced Wasserstein distances to fresh data (mean over the two conditions).
#[derive(Debug, Clone)]
pub struct ToyReport {
    pub teacher_n: f64,
    pub teacher_1: f64,
    pub reflow_1: f64,
    pub reflow_2: f64,
    pub mdt_1: f64,
    pub mdt_2: f64,
    pub imle: f64,
}

/// SW distance of `net` (`steps` Euler steps, or one generator pass) to fresh data, averaged
/// over the conditions.
pub fn score(net: &TrajNet, steps: usize, eval: usize, seed: u64) -> Result<f64, String> {
    let mut total = 0.0;
    for c in 0..CONDITIONS {
        let mut cond = vec![0f32; eval * CONDITIONS];
        for i in 0..eval {
            cond[i * CONDITIONS + c] = 1.0;
        }
        let mut z = vec![0f32; eval * 2];
        Rng::new(seed ^ (0xC0 + c as u64)).fill_normal(&mut z);
        let x = sample_from(net, &z, &cond, eval, steps).map_err(|e| e.to_string())?;
        let mut rng = Rng::new(seed ^ (0xDA7A + c as u64));
        let data: Vec<f32> = (0..eval).flat_map(|_| draw(c, &mut rng)).collect();
        total += sliced_wasserstein(&x, &data, 64, seed);
    }
    Ok(total / CONDITIONS as f64)
}

fn meta(config: &TrajConfig) -> CheckpointMeta {
    CheckpointMeta::fresh(config.clone(), 1.0, serde_json::Value::Null, "toy")
}

fn best(o: Outcome) -> Result<TrajNet, String> {
    match o {
        Outcome::Done { best, .. } => Ok(*best),
        Outcome::Stopped { .. } => Err("stopped early".into()),
    }
}

/// Trains the toy teacher and the three students; scores each.
pub fn run(o: &ToyOptions) -> Result<ToyReport, String> {
    let config = TrajConfig {
        d_model: o.d_model,
        heads: 2,
        layers: 1,
        mlp_ratio: 2,
        modes: 1,
        state: 2,
        cond: CONDITIONS,
        features: Default::default(),
        kind: NetKind::Velocity,
        mode_attention: true,
    };
    let (cond, x) = dataset(o.items, o.seed ^ 0xDA7A);
    let sched = |epochs: usize, lr: f64| Schedule {
        epochs,
        batch: 256,
        lr,
        weight_decay: 0.0,
        warmup: 0.05,
        clip: 1.0,
        ema: 0.99,
        seed: o.seed,
        stop_after: None,
        patience: None,
    };
    let io = |label: &'static str| Io {
        out: None,
        resume: false,
        label,
        progress: o.progress,
    };
    let (eval, seed) = (o.eval, o.seed ^ 0xE7A1);
    let mut fm = FlowMatching {
        final_weight: 0.0,
        cond: cond.clone(),
        target: x,
        n: o.items,
        config: config.clone(),
        tied_noise: false,
        scale_aug: 1.0,
        minibatch_ot: o.minibatch_ot,
        loss: crate::train::ModeError::Mse,
        mirror_aug: false,
        reversed: None,
        wta_relax: 0.0,
        wta_relax_by_t: false,
        input_drop: None,
        wta_anneal: None,
        progress: 0.0,
        val: |net: &TrajNet| score(net, o.teacher_steps, eval / 2, seed ^ 1).map(|s| (s, 0.0)),
    };
    let teacher = best(fit(
        &mut fm,
        TrajNet::new(config.clone(), o.seed)?,
        meta(&config),
        &sched(o.teacher_epochs, 2e-3),
        &io("toy teacher"),
    )?)?;
    let samples: TeacherSamples =
        from_candle(&teacher, &cond, o.items, o.teacher_steps, o.seed ^ 0x5A3)?;
    let pairs = || Pairs {
        cond: cond.clone(),
        samples: samples.clone(),
        dims: Dims::of(&config),
    };
    let val1 = |net: &TrajNet| score(net, 1, eval / 2, seed ^ 1).map(|s| (s, 0.0));
    let student = |m: Method| init_student(m, &teacher, o.seed);
    let se = o.student_epochs;
    let reflow = best(fit(
        &mut Reflow {
            pairs: pairs(),
            val: val1,
        },
        student(Method::Reflow)?,
        meta(&config),
        &sched(se, o.student_lr),
        &io("toy reflow"),
    )?)?;
    let mdt = best(fit(
        &mut Mdt {
            pairs: pairs(),
            teacher: teacher.deep_clone()?,
            lambda: o.mdt_lambda,
            dt: 0.01,
            target: None,
            target_decay: 0.99,
            val: val1,
        },
        student(Method::Mdt)?,
        meta(&config),
        &sched(se, o.mdt_lr),
        &io("toy mdt"),
    )?)?;
    let gen_config = TrajConfig {
        kind: NetKind::Generator,
        ..config.clone()
    };
    let imle = best(fit(
        &mut Imle {
            pairs: pairs(),
            candidates: 20,
            val: val1,
        },
        student(Method::Imle)?,
        meta(&gen_config),
        &sched(se, o.student_lr),
        &io("toy imle"),
    )?)?;
    Ok(ToyReport {
        teacher_n: score(&teacher, o.teacher_steps, eval, seed)?,
        teacher_1: score(&teacher, 1, eval, seed)?,
        reflow_1: score(&reflow, 1, eval, seed)?,
        reflow_2: score(&reflow, 2, eval, seed)?,
        mdt_1: score(&mdt, 1, eval, seed)?,
        mdt_2: score(&mdt, 2, eval, seed)?,
        imle: score(&imle, 1, eval, seed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliced_wasserstein_is_zero_on_itself_and_grows_with_a_shift() {
        let (_, x) = dataset(512, 1);
        assert!(sliced_wasserstein(&x, &x, 16, 0) < 1e-9);
        let shifted: Vec<f32> = x.iter().map(|v| v + 0.5).collect();
        let d = sliced_wasserstein(&x, &shifted, 64, 0);
        // a shift by (0.5, 0.5) projects to 0.5·(|cos θ| ... ) on average 2/π·0.5·√2 ≈ 0.45
        assert!((d - 0.45).abs() < 0.05, "{d}");
    }
}
