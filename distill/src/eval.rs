//! Evaluation of exported models THROUGH the fewstep runtime (`Session::sample` on the native
//! backend), on the ETH-UCY test scenes: minADE20/minFDE20 in metres.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fewstep::card::{Kind, Method};
use fewstep::forecast::eval::{EvalOptions, spread};
use fewstep::forecast::features::Normalization;
use fewstep::forecast::forecaster::trajectory_shape;
use fewstep::forecast::windows::Window;
use fewstep::{Backend, Model, Precision};

use crate::data::{SCENES, Split, fold_file_windows, fold_windows};
use crate::export::read_config;

/// A loaded model file and what its card says.
pub struct Loaded {
    pub path: PathBuf,
    pub model: Model,
    /// The scene named by `provenance.data` (`eth_ucy/<scene>`), if any.
    pub scene: Option<String>,
    pub future_scale: f32,
    /// Trainable parameters (from the stored config; else the runtime's count of weights).
    pub params: usize,
    /// Multiply-adds per agent per network pass (from the stored config or the card).
    pub macs: Option<usize>,
    pub kind: Kind,
}

/// Loads `path` and reads its card's normalization and provenance.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let model = Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let card = model
        .card()
        .ok_or_else(|| format!("{}: no card", path.display()))?;
    let norm: Normalization = serde_json::from_value(card.normalization.clone())
        .map_err(|e| format!("{}: card.normalization: {e}", path.display()))?;
    let scene = card
        .provenance
        .data
        .as_deref()
        .and_then(|d| d.strip_prefix("eth_ucy/"))
        .map(str::to_string);
    let config = read_config(&bytes);
    let macs = config
        .as_ref()
        .map(|c| c.macs_per_pass())
        .or_else(|| card.metrics.get("macs_per_agent_pass").map(|&m| m as usize));
    Ok(Loaded {
        path: path.to_path_buf(),
        scene,
        future_scale: norm.future_scale,
        params: config
            .as_ref()
            .map_or_else(|| model.parameter_count(), |c| c.parameter_count()),
        macs,
        kind: card.kind,
        model,
    })
}

/// minADE/minFDE of `m` on `ws`, sampled by the runtime in chunks of `chunk` agents; `steps`
/// overrides the card's grid with `steps` uniform steps. Returns (ADE, FDE, seconds).
///
/// This is `fewstep::forecast::eval::evaluate`, the function behind `fewstep eval`, so both
/// command lines report the same numbers for the same model, windows, seed and chunk size.
pub fn evaluate(
    m: &Loaded,
    ws: &[Window],
    steps: Option<usize>,
    seed: u64,
    chunk: usize,
) -> Result<(f64, f64, f64), String> {
    let sampling = Sampling {
        steps,
        seed,
        chunk,
        ..Sampling::default()
    };
    evaluate_on(m, ws, &sampling)
}

/// The method's name as tables print it (`Euler`, `Heun`, `midpoint`).
pub fn method_label(m: Method) -> &'static str {
    match m {
        Method::Euler => "Euler",
        Method::Heun => "Heun",
        Method::Midpoint => "midpoint",
    }
}

/// How an evaluation samples: the card's sampler unless a field overrides it.
#[derive(Debug, Clone)]
pub struct Sampling {
    /// Uniform steps over the card's interval instead of the card's grid.
    pub steps: Option<usize>,
    /// This time grid instead of the card's (wins over `steps`).
    pub times: Option<Vec<f32>>,
    /// This integration method instead of the card's.
    pub method: Option<Method>,
    /// Scale of the starting noise (1 = as trained).
    pub noise_scale: f32,
    /// Seed of the sampling noise.
    pub seed: u64,
    /// Agents per runtime batch.
    pub chunk: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            steps: None,
            times: None,
            method: None,
            noise_scale: 1.0,
            seed: 0,
            chunk: 256,
        }
    }
}

/// [`evaluate`] with every sampling setting of [`Sampling`].
pub fn evaluate_on(
    m: &Loaded,
    ws: &[Window],
    sampling: &Sampling,
) -> Result<(f64, f64, f64), String> {
    let (k, _) = trajectory_shape(&m.model).map_err(|e| format!("{}: {e}", m.path.display()))?;
    let opts = EvalOptions {
        k,
        backend: Backend::Native,
        precision: Precision::F32,
        seed: sampling.seed,
        batch: sampling.chunk,
        // one thread: the cards' figures reproduce bit for bit
        threads: 1,
        steps: sampling.steps,
        times: sampling.times.clone(),
        method: sampling.method,
        noise_scale: sampling.noise_scale,
    };
    let r = fewstep::forecast::eval::evaluate(&m.model, ws, &opts).map_err(|e| e.to_string())?;
    Ok((
        r.min_ade,
        r.min_fde,
        r.us_per_window * r.windows as f64 / 1e6,
    ))
}

/// One row of the results table.
pub struct Row {
    pub label: String,
    pub steps: String,
    /// Per scene: (minADE, minFDE).
    pub cells: BTreeMap<String, (f64, f64)>,
    pub params: Option<usize>,
    pub macs: Option<usize>,
    /// With several noise seeds: each seed's cells (`cells` holds their mean); else empty.
    pub per_seed: Vec<BTreeMap<String, (f64, f64)>>,
}

/// The mean (minADE, minFDE) over `cells`' scenes.
fn average(cells: &BTreeMap<String, (f64, f64)>) -> (f64, f64) {
    let n = cells.len().max(1) as f64;
    let (a, f) = cells
        .values()
        .fold((0.0, 0.0), |(x, y), (a, f)| (x + a, y + f));
    (a / n, f / n)
}

/// Writes, for every row sampled at several noise seeds, how its average over the scenes
/// spreads across the seeds: mean ± sd, lowest – highest, of minADE and minFDE.
pub fn write_seed_spread(w: &mut impl std::io::Write, rows: &[Row]) -> std::io::Result<()> {
    let spread_rows: Vec<&Row> = rows.iter().filter(|r| r.per_seed.len() > 1).collect();
    let Some(first) = spread_rows.first() else {
        return Ok(());
    };
    writeln!(w)?;
    writeln!(
        w,
        "AVG over the scenes at each of {} noise seeds (the table above holds their mean):",
        first.per_seed.len()
    )?;
    writeln!(
        w,
        "| method | steps | minADE mean ± sd | lowest – highest | minFDE mean ± sd | lowest – highest |"
    )?;
    writeln!(w, "|---|---|---|---|---|---|")?;
    for r in spread_rows {
        let avgs: Vec<(f64, f64)> = r.per_seed.iter().map(average).collect();
        let (ade, fde): (Vec<f64>, Vec<f64>) = avgs.into_iter().unzip();
        let cell = |v: &[f64]| {
            let s = spread(v);
            (
                format!("{:.4} ± {:.4}", s.mean, s.sd),
                format!("{:.4} – {:.4}", s.lowest, s.highest),
            )
        };
        let ((am, ar), (fm, fr)) = (cell(&ade), cell(&fde));
        writeln!(
            w,
            "| {} | {} | {am} | {ar} | {fm} | {fr} |",
            r.label, r.steps
        )?;
    }
    Ok(())
}

/// Writes the markdown table of `rows` over `SCENES` (AVG over the scenes a row has).
pub fn write_table(w: &mut impl std::io::Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        w,
        "| method | steps | {} | AVG | params | MACs/agent/pass |",
        SCENES.map(|s| s.to_uppercase()).join(" | ")
    )?;
    writeln!(w, "|---|---|{}---|---|---|", "---|".repeat(SCENES.len()))?;
    for r in rows {
        let cells: Vec<String> = SCENES
            .iter()
            .map(|s| match r.cells.get(*s) {
                Some((a, f)) => format!("{a:.3}/{f:.3}"),
                None => "–".into(),
            })
            .collect();
        let (avg_ade, avg_fde) = average(&r.cells);
        let opt = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or("–".into());
        writeln!(
            w,
            "| {} | {} | {} | {:.3}/{:.3} | {} | {} |",
            r.label,
            r.steps,
            cells.join(" | "),
            avg_ade,
            avg_fde,
            opt(r.params),
            opt(r.macs)
        )?;
    }
    Ok(())
}

/// The `split` windows of each scene's fold (test: the scene itself; val: the val files of
/// the other four scenes, where checkpoints and settings are chosen), in sampling groups: test
/// has one group per file, sampled on its own as `fewstep eval --scene FILE` samples it (so
/// both report the same figures on a scene of several files, such as UNIV); val is one group,
/// as every val figure since session 9 was sampled.
pub fn split_sets(
    data: &Path,
    scenes: &[String],
    split: Split,
    min_agents: usize,
) -> Result<BTreeMap<String, Vec<Vec<Window>>>, String> {
    let mut m = BTreeMap::new();
    for s in scenes {
        let groups = match split {
            Split::Test => fold_file_windows(data, s, split, min_agents)?,
            _ => vec![fold_windows(data, s, split, min_agents)?],
        };
        m.insert(s.clone(), groups);
    }
    Ok(m)
}

/// [`evaluate_on`] over sampling groups: each group is sampled on its own from `sampling.seed`,
/// and the figures are the window-weighted means (seconds: the sum).
pub fn evaluate_groups(
    m: &Loaded,
    groups: &[Vec<Window>],
    sampling: &Sampling,
) -> Result<(f64, f64, f64), String> {
    let (mut ade, mut fde, mut secs, mut n) = (0.0, 0.0, 0.0, 0usize);
    for ws in groups.iter().filter(|ws| !ws.is_empty()) {
        let (a, f, t) = evaluate_on(m, ws, sampling)?;
        ade += a * ws.len() as f64;
        fde += f * ws.len() as f64;
        secs += t;
        n += ws.len();
    }
    if n == 0 {
        return Err(format!("{}: no window to evaluate on", m.path.display()));
    }
    Ok((ade / n as f64, fde / n as f64, secs))
}

/// `f` over `items` on up to `jobs` threads (at least one), the results in `items`' order.
/// Each item is computed whole on one thread, so a result does not depend on `jobs`.
pub fn par_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let jobs = jobs.clamp(1, items.len().max(1));
    let mut all: Vec<(usize, R)> = if jobs == 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// A time grid of `steps` Euler steps from 0 to 1 with `t_i = (i / steps)^power`: 1 is the
/// uniform grid, above 1 denser near the noise end (t = 0), below 1 near the data end.
pub fn power_grid(steps: usize, power: f32) -> Result<Vec<f32>, String> {
    if steps == 0 || !(power.is_finite() && power > 0.0) {
        return Err(format!(
            "a power grid needs ≥ 1 step and a positive power (got {steps} steps, power {power})"
        ));
    }
    Ok((0..=steps)
        .map(|i| (i as f32 / steps as f32).powf(power))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_grids_span_zero_to_one_and_power_one_is_uniform() {
        let uniform = fewstep::card::SamplerSpec::uniform(fewstep::card::Method::Euler, 10).times;
        assert_eq!(power_grid(10, 1.0).unwrap(), uniform);
        for p in [0.5f32, 2.0, 3.0] {
            let g = power_grid(10, p).unwrap();
            assert_eq!((g.len(), g[0], g[10]), (11, 0.0, 1.0));
            assert!(g.windows(2).all(|w| w[1] > w[0]), "{p}: {g:?}");
            // p > 1 puts the first step below the uniform 0.1, p < 1 above it
            assert_eq!(g[1] < 0.1, p > 1.0, "{p}: {g:?}");
        }
        assert!(power_grid(0, 1.0).is_err());
        assert!(power_grid(10, 0.0).is_err());
        assert!(power_grid(10, f32::NAN).is_err());
    }

    #[test]
    fn par_map_keeps_the_order_whatever_the_jobs() {
        let items: Vec<u64> = (0..37).collect();
        let want: Vec<u64> = items.iter().map(|x| x * x + 1).collect();
        for jobs in [0, 1, 2, 3, 8, 100] {
            assert_eq!(par_map(&items, jobs, |x| x * x + 1), want, "{jobs} jobs");
        }
        assert!(par_map(&[] as &[u64], 4, |x| *x).is_empty());
    }
}
