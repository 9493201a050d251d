//! Batch evaluation of a trajectory model on standard windows: minADE_K / minFDE_K in the
//! scene's units, through the fewstep runtime. `fewstep eval` and `fewstep-distill eval` both
//! call this, so their numbers agree by construction.

use std::time::Instant;

use super::features::{FUTURE_VALUES, Frame, future_world};
use super::forecaster::trajectory_shape;
use super::metrics::{min_ade_fde, min_ade_fde_mode};
use super::windows::Window;
use super::{PRED, Point};
use crate::card::{Kind, Method};
use crate::error::Error;
use crate::model::Model;
use crate::rng::Rng;
use crate::session::{Backend, Precision, Session, SessionOptions};

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Futures per window used for the metrics (at most the model's K).
    pub k: usize,
    pub backend: Backend,
    pub precision: Precision,
    pub seed: u64,
    /// Windows per sampler call.
    pub batch: usize,
    /// CPU threads that share each sampler call's windows (`SessionOptions::threads`); the
    /// figures depend on it only to f32 rounding.
    pub threads: usize,
    /// Replace the card's time grid by this many uniform steps (velocity models; a generator
    /// has no sampler, and `steps`, `times` and `method` leave it alone).
    pub steps: Option<usize>,
    /// Replace the card's time grid by this one (strictly increasing; wins over `steps`).
    pub times: Option<Vec<f32>>,
    /// Replace the card's integration method (the grid is kept or replaced as above).
    pub method: Option<Method>,
    /// Standard deviation of the starting noise (1 = the distribution the model was trained
    /// from; below 1 concentrates the samples, above 1 spreads them). Finite and ≥ 0.
    pub noise_scale: f32,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            k: 20,
            backend: Backend::Auto,
            precision: Precision::F32,
            seed: 0,
            batch: 256,
            threads: 1,
            steps: None,
            times: None,
            method: None,
            noise_scale: 1.0,
        }
    }
}

/// Averages over windows.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    pub windows: usize,
    pub min_ade: f64,
    pub min_fde: f64,
    /// Wall time of the sampler per window (µs), batch included.
    pub us_per_window: f64,
    /// Per future index (K of them): in how many windows it was the best (least ADE) one. A
    /// multi-mode model with zeros here has modes that never help the metric.
    pub wins: Vec<usize>,
    /// Mean over windows of the RMS distance of the K final positions from their centroid
    /// (metres): how spread out the forecasts are, whatever the ground truth.
    pub endpoint_spread: f64,
}

impl EvalResult {
    /// How many of the K futures were the best one for at least one window.
    pub fn modes_won(&self) -> usize {
        modes_won(&self.wins)
    }
}

/// RMS distance of the futures' final positions from their centroid.
fn endpoint_spread(futures: &[[Point; PRED]]) -> f32 {
    let k = futures.len().max(1) as f32;
    let c = futures.iter().fold([0f32; 2], |c, f| {
        [c[0] + f[PRED - 1][0] / k, c[1] + f[PRED - 1][1] / k]
    });
    let ms = futures
        .iter()
        .map(|f| (f[PRED - 1][0] - c[0]).powi(2) + (f[PRED - 1][1] - c[1]).powi(2))
        .sum::<f32>()
        / k;
    ms.sqrt()
}

/// Noise seeds from a command line: one (`0`), a list (`0,3`), a range (`0-9`) or a mix, in
/// order. Refuses a seed given twice and a range of more than 1,000 seeds.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("{t:?} is not a seed (a whole number ≥ 0)"))
    };
    let mut seeds = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi || hi - lo >= 1000 {
                    return Err(format!(
                        "{part:?}: want a range A-B with A ≤ B, at most 1000 seeds"
                    ));
                }
                seeds.extend(lo..=hi);
            }
            None => seeds.push(number(part)?),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(format!("seed {d} is given twice"));
    }
    Ok(seeds)
}

/// Noise seeds as a command-line value (`--seed 0`, `0,3`, `0-9` or a mix), parsed by
/// [`parse_seeds`]; `fewstep eval` and `fewstep-distill eval` both take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

impl std::str::FromStr for Seeds {
    type Err = String;

    fn from_str(text: &str) -> Result<Seeds, String> {
        parse_seeds(text).map(Seeds)
    }
}

/// How a figure spreads over noise seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub sd: f64,
    pub lowest: f64,
    pub highest: f64,
}

/// Mean, sample standard deviation, lowest and highest of `v` (sd 0 for one value).
pub fn spread(v: &[f64]) -> Spread {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Spread {
        mean,
        sd: var.sqrt(),
        lowest: v.iter().copied().fold(f64::INFINITY, f64::min),
        highest: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// How many entries of a per-future win count are non-zero.
pub fn modes_won(wins: &[usize]) -> usize {
    wins.iter().filter(|&&w| w > 0).count()
}

/// Evaluates `model` on `windows`.
pub fn evaluate(
    model: &Model,
    windows: &[Window],
    opts: &EvalOptions,
) -> Result<EvalResult, Error> {
    let (k_model, norm) = trajectory_shape(model)?;
    let (scale, features) = (norm.future_scale, norm.features);
    if opts.k == 0 || opts.k > k_model {
        return Err(Error::InvalidArgument(format!(
            "--k {} but the model predicts {k_model} futures",
            opts.k
        )));
    }
    if !(opts.noise_scale.is_finite() && opts.noise_scale >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "noise scale {} (want a finite value ≥ 0)",
            opts.noise_scale
        )));
    }
    let batch = opts.batch.clamp(1, windows.len().max(1));
    let sym = model
        .symbols()
        .first()
        .cloned()
        .unwrap_or_else(|| "N".into());
    let mut so = SessionOptions {
        backend: opts.backend,
        precision: opts.precision,
        threads: opts.threads,
        ..Default::default()
    };
    so.dims.insert(sym, batch);
    let mut s = Session::new(model, so)?;
    // a generator has no sampler: the overrides are for velocity models
    if s.kind() == Some(Kind::Velocity) {
        match (&opts.times, opts.steps) {
            (Some(t), _) => s.set_times(t)?,
            (None, Some(n)) => s.set_uniform_steps(n.max(1))?,
            (None, None) => {}
        }
        if let Some(m) = opts.method {
            let grid = s.times().to_vec();
            s.set_sampler(m, &grid)?;
        }
    }
    let mut rng = Rng::new(opts.seed);
    let mut cond = vec![0f32; s.cond_len()];
    let mut noise = vec![0f32; s.state_len()];
    let mut out = vec![0f32; s.state_len()];
    let mut frames = vec![
        Frame {
            origin: [0.0; 2],
            cos: 1.0,
            sin: 0.0
        };
        batch
    ];
    let mut futures = vec![[[0f32; 2]; PRED]; opts.k];
    let (mut ade, mut fde, mut secs) = (0f64, 0f64, 0f64);
    let mut wins = vec![0; opts.k];
    let mut spread = 0f64;
    let c = features.cond_len();
    for chunk in windows.chunks(batch) {
        cond.fill(0.0);
        for (i, w) in chunk.iter().enumerate() {
            frames[i] = features.write(
                &w.obs,
                w.neighbours.iter().copied(),
                &mut cond[i * c..(i + 1) * c],
            );
        }
        rng.fill_normal(&mut noise);
        if opts.noise_scale != 1.0 {
            noise.iter_mut().for_each(|z| *z *= opts.noise_scale);
        }
        let t = Instant::now();
        s.sample(&cond, &noise, &mut out)?;
        secs += t.elapsed().as_secs_f64();
        for (i, w) in chunk.iter().enumerate() {
            for (m, f) in futures.iter_mut().enumerate() {
                let at = (i * k_model + m) * FUTURE_VALUES;
                future_world(&frames[i], &out[at..at + FUTURE_VALUES], scale, f);
            }
            let (a, b, m) = min_ade_fde_mode(&futures, &w.fut);
            ade += a as f64;
            fde += b as f64;
            wins[m] += 1;
            spread += f64::from(endpoint_spread(&futures));
        }
    }
    let n = windows.len().max(1) as f64;
    Ok(EvalResult {
        windows: windows.len(),
        min_ade: ade / n,
        min_fde: fde / n,
        us_per_window: secs * 1e6 / n,
        wins,
        endpoint_spread: spread / n,
    })
}

/// The constant-velocity baseline on `windows` (one future per window).
pub fn constant_velocity(windows: &[Window]) -> EvalResult {
    let (mut ade, mut fde) = (0f64, 0f64);
    for w in windows {
        let f: [[Point; PRED]; 1] = [super::features::constant_velocity(&w.obs)];
        let (a, b) = min_ade_fde(&f, &w.fut);
        ade += a as f64;
        fde += b as f64;
    }
    let n = windows.len().max(1) as f64;
    EvalResult {
        windows: windows.len(),
        min_ade: ade / n,
        min_fde: fde / n,
        us_per_window: 0.0,
        wins: vec![windows.len()],
        endpoint_spread: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::OBS;

    #[test]
    fn endpoint_spread_is_the_rms_distance_from_the_centroid() {
        let mut a = [[0f32; 2]; PRED];
        let mut b = [[0f32; 2]; PRED];
        a[PRED - 1] = [0.0, 0.0];
        b[PRED - 1] = [2.0, 0.0];
        assert!((endpoint_spread(&[a, b]) - 1.0).abs() < 1e-6);
        assert_eq!(endpoint_spread(&[b, b, b]), 0.0);
        assert_eq!(modes_won(&[0, 3, 0, 1]), 2);
    }

    fn walkers(n: usize) -> Vec<Window> {
        (0..n)
            .map(|i| {
                let (v, y) = (0.3 + 0.05 * i as f32, i as f32);
                Window {
                    start: 0,
                    agent: i as f64,
                    obs: std::array::from_fn(|j| [v * j as f32, y]),
                    fut: std::array::from_fn(|j| [v * (OBS + j) as f32, y + 0.02 * j as f32]),
                    neighbours: Vec::new(),
                }
            })
            .collect()
    }

    /// The noise scale multiplies the sampler's starting noise: at 0 the seed no longer
    /// matters, at 1 it does; a negative or non-finite scale is refused.
    #[test]
    fn the_noise_scale_scales_the_starting_noise() {
        let proto = crate::testing::trajectory_velocity(5, 32, 2);
        let model = Model::from_bytes(&crate::onnx::write::encode(&proto)).unwrap();
        let ws = walkers(6);
        let run = |seed, noise_scale| {
            let o = EvalOptions {
                backend: Backend::Native,
                seed,
                noise_scale,
                ..Default::default()
            };
            evaluate(&model, &ws, &o).unwrap()
        };
        let strip = |r: EvalResult| (r.min_ade, r.min_fde, r.wins, r.endpoint_spread);
        assert_eq!(strip(run(1, 0.0)), strip(run(2, 0.0)));
        assert_ne!(strip(run(1, 1.0)), strip(run(2, 1.0)));
        assert_ne!(strip(run(1, 1.0)), strip(run(1, 0.5)));
        for bad in [-1.0, f32::NAN, f32::INFINITY] {
            let o = EvalOptions {
                noise_scale: bad,
                ..Default::default()
            };
            assert!(matches!(
                evaluate(&model, &ws, &o),
                Err(Error::InvalidArgument(_))
            ));
        }
    }
}
