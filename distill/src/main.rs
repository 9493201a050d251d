//! `fewstep-distill`: offline side of fewstep — data, teacher training, distillation into 1–2
//! step students, export and evaluation.
//!
//! - `train teacher --scene eth ...`: conditional flow matching (see `fewstep_distill::train`),
//!   checkpoints every epoch, `--resume`, best-on-val export to `<out>/teacher.onnx`;
//! - `export --ckpt DIR [--tag best|last] --out F.onnx`: export a checkpoint's EMA weights;
//! - `import --model models/eth/teacher.onnx --out DIR`: a teacher folder rebuilt from a
//!   shipped teacher, for `train student --teacher DIR`;
//! - `train student --method reflow|mdt|imle --scene eth --teacher runs/eth/teacher ...`: a
//!   1–2 step student (see `fewstep_distill::students`), exported to `<out>/student.onnx`;
//! - `toy`: the toy 2-D suite (every method in seconds, sliced Wasserstein scores);
//! - `choose-sampler --model F.onnx [--write]`: a velocity model's sampler chosen on its fold's
//!   val split;
//! - `eval [--model F.onnx ...] [--steps N ...]`: minADE20/minFDE20 on the test scenes of the
//!   constant-velocity baseline and of each model, sampled through the fewstep runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use fewstep::card::{Method, SamplerSpec, sampler_refusal};
use fewstep::forecast::eval::Seeds;
use fewstep_distill::choose::{Candidate, best, candidates, sampler_label, score_candidates};
use fewstep_distill::data::{SCENES, Split};
use fewstep_distill::eval::{
    Row, Sampling, evaluate_groups, load, method_label, par_map, power_grid, split_sets,
    write_seed_spread, write_table,
};
use fewstep_distill::import::teacher_folder;
use fewstep_distill::model_file::{prune_unused_initializers, set_sampler, write_metrics};
use fewstep_distill::students::{StudentArgs, train_student};
use fewstep_distill::toy::{ToyOptions, run as run_toy};
use fewstep_distill::train::{TeacherArgs, export_checkpoint, train_teacher};

/// `println!` that gives a `Result<(), String>` instead of panicking when standard output
/// fails: [`READER_LEFT`] when its reader went away (`fewstep-distill eval ... | head`), which
/// `main` takes as a quiet end.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(stdout_failed)
    }};
}

/// The error of a write to a standard output whose reader has gone (a closed pipe).
const READER_LEFT: &str = "standard output was closed by its reader";

/// A failed write to standard output, as the commands' `String` error.
fn stdout_failed(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        READER_LEFT.into()
    } else {
        format!("cannot write standard output: {e}")
    }
}

#[derive(Parser)]
#[command(
    name = "fewstep-distill",
    version,
    about = "Train flow-matching teachers and distil them into few-step students"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Evaluate on the ETH-UCY test scenes (or each fold's val split): minADE20/minFDE20 per
    /// scene and averaged.
    Eval(EvalArgs),
    /// Train a teacher or a student.
    #[command(subcommand)]
    Train(TrainCmd),
    /// The toy 2-D suite: a teacher and the three students in seconds, scored by sliced
    /// Wasserstein distance to fresh data.
    Toy {
        /// Seed of the data, the weights and the noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training items per method.
        #[arg(long, default_value_t = 4096)]
        items: usize,
        /// The teacher's passes over the training items.
        #[arg(long, default_value_t = 40)]
        teacher_epochs: usize,
        /// Each student's passes over the training items.
        #[arg(long, default_value_t = 20)]
        student_epochs: usize,
        /// Euler steps of the teacher's samples and of its reference score.
        #[arg(long, default_value_t = 32)]
        teacher_steps: usize,
        /// MDT-dist's weight of Velocity Distillation.
        #[arg(long, default_value_t = 1.0)]
        mdt_lambda: f64,
        /// Peak learning rate of the students.
        #[arg(long, default_value_t = 1e-3)]
        student_lr: f64,
        /// Train the teacher with minibatch OT coupling.
        #[arg(long)]
        minibatch_ot: bool,
    },
    /// Export a training checkpoint's EMA weights as ONNX with a card.
    Export {
        /// The training output folder.
        #[arg(long)]
        ckpt: PathBuf,
        /// Which checkpoint: best or last.
        #[arg(long, default_value = "best")]
        tag: String,
        /// Euler steps of the card's sampler.
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// The ONNX file to write (network and card).
        #[arg(long)]
        out: PathBuf,
    },
    /// Set the sampler in an exported velocity model's card to N uniform steps or a given grid
    /// of a method (what `fewstep` samples it with by default, e.g. one chosen on the val split).
    /// Rewrites the file in place; the graph and its weights are untouched.
    SetSampler {
        /// The exported velocity model (rewritten in place).
        #[arg(long)]
        model: PathBuf,
        /// Uniform steps from 0 to 1.
        #[arg(long, required_unless_present = "times", conflicts_with = "times")]
        steps: Option<usize>,
        /// This time grid instead (comma-separated, strictly increasing, e.g. `0,0.1,1`).
        #[arg(long, value_delimiter = ',', num_args = 1..)]
        times: Option<Vec<f32>>,
        /// Integration method (Heun and midpoint take two network passes a step). Heun on a
        /// grid ending at 1 is refused for this crate's nets: it evaluates them at t = 1,
        /// where their velocity is divided by 1e-3. The rewritten card says what the net
        /// predicts (`prediction: data`), so that the runtime refuses that sampler too.
        #[arg(long, value_enum, default_value_t = MethodArg::Euler)]
        method: MethodArg,
    },
    /// Choose each velocity model's sampler on its fold's val split (the scene its card names):
    /// the candidate with the lowest minADE + minFDE, averaged over the noise seeds, wins
    /// (ties: fewer network passes, then a uniform grid, then Euler). Prints every candidate's figures; `--write`
    /// stores the winner in the card (as `set-sampler` would). Test windows are never read.
    ChooseSampler(ChooseArgs),
    /// Remove the initializers no node reads from an exported model (weights left behind by
    /// older exports; onnxruntime warns about each). Rewrites the file in place if there are
    /// any; what the model computes is unchanged.
    Prune {
        /// The exported model to prune (rewritten in place).
        #[arg(long)]
        model: PathBuf,
    },
    /// Rebuild a teacher's training folder from its exported file (e.g. a shipped
    /// models/<scene>/teacher.onnx), bit for bit, so that `train student --teacher OUT`
    /// distils it without the run that trained it.
    Import {
        /// A velocity model that fewstep-distill exported.
        #[arg(long)]
        model: PathBuf,
        /// The folder to write (best.ema.safetensors, best.json, teacher.onnx).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Options of `fewstep-distill choose-sampler`.
#[derive(clap::Args)]
struct ChooseArgs {
    /// Velocity models whose cards name their folds (`provenance.data = eth_ucy/<scene>`):
    /// `--model A B`, or repeated.
    #[arg(long = "model", required = true, num_args = 1..)]
    models: Vec<PathBuf>,
    /// Euler step counts to try (comma-separated; the flag alone: none).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1,2,3,4,5,10,20")]
    euler: Vec<usize>,
    /// Heun step counts to try (two network passes a step). Refused for a net whose card says
    /// it predicts the data (`prediction: data`, as this crate exports them): Heun evaluates it
    /// at t = 1.
    #[arg(long, value_delimiter = ',')]
    heun: Vec<usize>,
    /// Midpoint step counts to try (two network passes a step).
    #[arg(long, value_delimiter = ',')]
    midpoint: Vec<usize>,
    /// Two-step Euler grids (0, t1, 1) to try, one per t1 (0 < t1 < 1).
    #[arg(long, value_delimiter = ',')]
    two_step_at: Vec<f32>,
    /// Noise seeds; each candidate's figures are their mean.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "0,1")]
    seeds: Vec<u64>,
    /// Store the winner in each model's card (rewrites the file; the graph is untouched).
    #[arg(long)]
    write: bool,
    /// The folder holding the 22 ETH-UCY files.
    #[arg(long, default_value = "data/eth_ucy")]
    data: PathBuf,
    /// Agents per runtime batch.
    #[arg(long, default_value_t = 256)]
    chunk: usize,
    /// Candidates scored at once, each on one thread of its own, so the scores do not depend
    /// on it (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

/// Options of `fewstep-distill eval`.
#[derive(clap::Args)]
struct EvalArgs {
    /// The folder holding the 22 ETH-UCY files.
    #[arg(long, default_value = "data/eth_ucy")]
    data: PathBuf,
    /// Comma-separated scenes (default: all five).
    #[arg(long, default_value = "eth,hotel,univ,zara1,zara2")]
    scenes: String,
    /// Keep every agent window instead of applying the Social-GAN filter (≥ 2 agents).
    #[arg(long)]
    no_sgan_filter: bool,
    /// Exported models (`--model A B`, or repeated: `--model A --model B`). A model whose card
    /// names its fold (`provenance.data = eth_ucy/<scene>`) is evaluated on that scene only;
    /// models with the same file name share a row.
    #[arg(long = "model", num_args = 1..)]
    models: Vec<PathBuf>,
    /// Uniform steps instead of the card's grid (repeatable: one row each).
    #[arg(long = "steps")]
    steps: Vec<usize>,
    /// Integration method with `--steps` (Heun and midpoint take two network passes a step).
    #[arg(long, value_enum, default_value_t = MethodArg::Euler)]
    method: MethodArg,
    /// With `--steps N`: the grid t_i = (i/N)^P instead of the uniform one (P > 1 is denser
    /// near the noise end, P < 1 near the data end).
    #[arg(long)]
    grid_power: Option<f32>,
    /// Standard deviation of the sampling noise (a generator's input noise, a velocity
    /// net's starting point). 1, the default, is what the models were trained from; below 1
    /// concentrates the samples, above 1 spreads them.
    #[arg(long, default_value_t = 1.0)]
    noise_scale: f32,
    /// Which windows of each scene's fold: `test` (the scene) or `val` (the val files of
    /// the other four scenes: the split on which settings may be chosen).
    #[arg(long, value_enum, default_value_t = EvalSplit::Test)]
    split: EvalSplit,
    /// Seeds of the sampling noise: one (`0`), a list (`0,3`) or a range (`0-9`). With
    /// several, each cell is the mean over the seeds, and a second table gives each row's
    /// average over the scenes as mean ± sd and lowest – highest across the seeds.
    #[arg(long, default_value = "0")]
    seed: Seeds,
    /// Agents per runtime batch.
    #[arg(long, default_value_t = 256)]
    chunk: usize,
    /// Evaluations (a model on a scene at a noise seed) run at once, each on one thread of its
    /// own, so the figures do not depend on it (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Store each model's test minADE20/minFDE20 (per step count) in its card, as
    /// `test_minADE20_euler<N>[_pow<P>]` (test split only).
    #[arg(long)]
    write_metrics: bool,
}

/// `--jobs`, or one job per core when it is not given.
fn jobs_or_cores(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A sampler's integration method, as a command-line value.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    Euler,
    Heun,
    Midpoint,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Euler => Method::Euler,
            MethodArg::Heun => Method::Heun,
            MethodArg::Midpoint => Method::Midpoint,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EvalSplit {
    Test,
    Val,
}

#[derive(Subcommand)]
enum TrainCmd {
    /// The flow-matching teacher (MoFlow's recipe).
    Teacher(Box<TeacherArgs>),
    /// A 1–2 step student of a trained teacher: reflow, MDT-dist or IMLE.
    Student(Box<StudentArgs>),
}

fn eval(a: &EvalArgs) -> Result<(), String> {
    let min_agents = if a.no_sgan_filter { 1 } else { 2 };
    let wanted: Vec<String> = SCENES
        .iter()
        .filter(|s| a.scenes.split(',').any(|x| x.trim() == **s))
        .map(|s| s.to_string())
        .collect();
    let (split, split_name) = match a.split {
        EvalSplit::Test => (Split::Test, "test"),
        EvalSplit::Val => (Split::Val, "val"),
    };
    if a.write_metrics && split != Split::Test {
        return Err("--write-metrics stores test figures: drop it with --split val".into());
    }
    let seeds = &a.seed.0;
    let jobs = jobs_or_cores(a.jobs);
    if a.write_metrics && seeds.len() > 1 {
        return Err("--write-metrics stores one noise seed's figures: give one --seed".into());
    }
    if !(a.noise_scale.is_finite() && a.noise_scale >= 0.0) {
        return Err(format!(
            "--noise-scale {}: want a finite value ≥ 0",
            a.noise_scale
        ));
    }
    if a.grid_power.is_some() && a.steps.is_empty() {
        return Err("--grid-power needs --steps N".into());
    }
    if a.method != MethodArg::Euler && a.steps.is_empty() {
        return Err("--method needs --steps N".into());
    }
    let method_name = method_label(a.method.method());
    let sets = split_sets(&a.data, &wanted, split, min_agents)?;
    let mut rows = Vec::new();
    let mut cv = BTreeMap::new();
    for (scene, groups) in &sets {
        let ws = groups.concat();
        let r = fewstep::forecast::eval::constant_velocity(&ws);
        eprintln!("{scene}: {} {split_name} windows", ws.len());
        cv.insert(scene.clone(), (r.min_ade, r.min_fde));
    }
    rows.push(Row {
        label: "constant velocity".into(),
        steps: "0".into(),
        cells: cv,
        params: Some(0),
        macs: Some(0),
        per_seed: Vec::new(),
    });
    let loaded = a
        .models
        .iter()
        .map(|p| load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let step_opts: Vec<Option<usize>> = if a.steps.is_empty() {
        vec![None]
    } else {
        a.steps.iter().map(|&s| Some(s)).collect()
    };
    // group by file name
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, m) in loaded.iter().enumerate() {
        let name = m
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(i),
            None => groups.push((name, vec![i])),
        }
    }
    for (name, idx) in &groups {
        // a generator has no sampler: one row, whatever --steps asks of the velocity models
        let generators = idx
            .iter()
            .all(|&i| loaded[i].kind == fewstep::card::Kind::Generator);
        let rows_of_group = if generators { 1 } else { step_opts.len() };
        for st in &step_opts[..rows_of_group] {
            let mut cells = BTreeMap::new();
            let mut per_seed = vec![BTreeMap::new(); seeds.len()];
            let mut labels = Vec::new();
            for &i in idx {
                let m = &loaded[i];
                let card_steps = m
                    .model
                    .card()
                    .and_then(|c| c.sampler.as_ref())
                    .map(|s| s.times.len() - 1);
                let mut steps_label = match (m.kind, st, card_steps) {
                    (fewstep::card::Kind::Generator, _, _) => "1 (generator)".into(),
                    (_, Some(s), _) => match a.grid_power {
                        Some(p) => format!("{s} {method_name}, (i/{s})^{p}"),
                        None => format!("{s} {method_name}"),
                    },
                    (_, None, Some(s)) => format!("{s} (card)"),
                    _ => "?".into(),
                };
                if a.noise_scale != 1.0 {
                    steps_label += &format!(", noise ×{}", a.noise_scale);
                }
                if sets
                    .keys()
                    .any(|scene| m.scene.as_ref().is_none_or(|s| s == scene))
                {
                    labels.push(steps_label.clone());
                }
                let times = match (a.grid_power, st) {
                    (Some(p), Some(n)) if m.kind != fewstep::card::Kind::Generator => {
                        Some(power_grid(*n, p)?)
                    }
                    _ => None,
                };
                // every (scene, seed) of this model, evaluated `jobs` at a time
                let tasks: Vec<(&String, usize)> = sets
                    .keys()
                    .filter(|scene| m.scene.as_ref().is_none_or(|s| s == *scene))
                    .flat_map(|scene| (0..seeds.len()).map(move |k| (scene, k)))
                    .collect();
                let results = par_map(&tasks, jobs, |&(scene, k)| {
                    let sampling = Sampling {
                        steps: *st,
                        times: times.clone(),
                        // the runtime's evaluator leaves a generator's (absent) sampler alone
                        method: st.map(|_| a.method.method()),
                        noise_scale: a.noise_scale,
                        seed: seeds[k],
                        chunk: a.chunk,
                    };
                    let groups = &sets[scene];
                    let r = evaluate_groups(m, groups, &sampling)?;
                    eprintln!(
                        "{} on {scene} {split_name} ({steps_label}, noise seed {}): {:.4}/{:.4} m, {} windows sampled in {:.2} s",
                        m.path.display(),
                        seeds[k],
                        r.0,
                        r.1,
                        groups.iter().map(Vec::len).sum::<usize>(),
                        r.2
                    );
                    Ok::<_, String>(r)
                });
                // this model's scenes: the mean over the seeds
                let mut mine = BTreeMap::new();
                for (&(scene, k), r) in tasks.iter().zip(results) {
                    let (sa, sf, _) = r?;
                    per_seed[k].insert(scene.clone(), (sa, sf));
                    let cell = mine.entry(scene.clone()).or_insert((0.0, 0.0));
                    cell.0 += sa / seeds.len() as f64;
                    cell.1 += sf / seeds.len() as f64;
                }
                for (scene, (ade, fde)) in mine {
                    cells.insert(scene, (ade, fde));
                    if a.write_metrics {
                        let lower = method_name.to_lowercase();
                        let generator = m.kind == fewstep::card::Kind::Generator;
                        let mut tag = match (st, a.grid_power) {
                            _ if generator => "card".into(),
                            (Some(s), None) => format!("{lower}{s}"),
                            (Some(s), Some(p)) => format!("{lower}{s}_pow{p}"),
                            (None, _) => "card".into(),
                        };
                        if a.noise_scale != 1.0 {
                            tag += &format!("_noise{}", a.noise_scale);
                        }
                        let r4 = |v: f64| (v * 1e4).round() / 1e4;
                        let metrics = BTreeMap::from([
                            (format!("test_minADE20_{tag}"), r4(ade)),
                            (format!("test_minFDE20_{tag}"), r4(fde)),
                        ]);
                        write_metrics(&m.path, &metrics)?;
                    }
                }
            }
            let first = &loaded[idx[0]];
            rows.push(Row {
                label: name.clone(),
                steps: row_steps_label(&labels),
                cells,
                params: Some(first.params),
                macs: first.macs,
                per_seed: if seeds.len() > 1 {
                    per_seed
                } else {
                    Vec::new()
                },
            });
        }
    }
    let mut out = std::io::stdout().lock();
    write_table(&mut out, &rows).map_err(stdout_failed)?;
    write_seed_spread(&mut out, &rows).map_err(stdout_failed)
}

/// One row's steps column from its models' labels, in scene order: the label if they agree, else
/// each model's (`2/2/5/2/3 (card)` for teachers whose cards sample different step counts).
fn row_steps_label(labels: &[String]) -> String {
    if labels.windows(2).all(|w| w[0] == w[1]) {
        return labels.first().cloned().unwrap_or_default();
    }
    const CARD: &str = " (card)";
    match labels
        .iter()
        .map(|l| l.strip_suffix(CARD))
        .collect::<Option<Vec<_>>>()
    {
        Some(steps) => format!("{}{CARD}", steps.join("/")),
        None => labels.join("/"),
    }
}

/// `set-sampler`'s grid: `steps` uniform steps (at least one) or the grid `times`.
fn sampler_spec(
    method: Method,
    steps: Option<usize>,
    times: Option<Vec<f32>>,
) -> Result<SamplerSpec, String> {
    match (steps, times) {
        (Some(0), _) => Err("the sampler needs at least one step".into()),
        (Some(n), None) => Ok(SamplerSpec::uniform(method, n)),
        (None, Some(times)) => Ok(SamplerSpec { method, times }),
        _ => Err("give either --steps N or --times T0,T1,...".into()),
    }
}

fn choose_sampler(a: &ChooseArgs) -> Result<(), String> {
    let cands = candidates(&a.euler, &a.heun, &a.midpoint, &a.two_step_at)?;
    for path in &a.models {
        let m = load(path)?;
        let scene = m.scene.clone().ok_or_else(|| {
            format!(
                "{}: the card names no fold (provenance.data = eth_ucy/<scene>), so there is no val split to choose on",
                path.display()
            )
        })?;
        let prediction = m.model.card().and_then(|c| c.prediction);
        for c in &cands {
            if let Some(why) = sampler_refusal(prediction, c.method, &c.times) {
                return Err(format!("{} ({}): {why}", path.display(), sampler_label(c)));
            }
        }
        let sets = split_sets(&a.data, std::slice::from_ref(&scene), Split::Val, 2)?;
        let groups = &sets[&scene];
        eprintln!(
            "{}: {} candidates on {} {scene} val windows, noise seeds {:?}",
            path.display(),
            cands.len(),
            groups.iter().map(Vec::len).sum::<usize>(),
            a.seeds
        );
        // the bar advances by network passes, so its ETA holds across 1- and 20-step candidates
        let pb = ProgressBar::new(cands.iter().map(Candidate::passes).sum::<usize>() as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "choose-sampler [{bar:30}] {pos}/{len} passes ({elapsed} < {eta})",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        let jobs = jobs_or_cores(a.jobs);
        let scored = score_candidates(&m, groups, &cands, &a.seeds, a.chunk, jobs, |s| {
            pb.suspend(|| {
                eprintln!(
                    "{} on {scene} val ({}): {:.4}/{:.4} m",
                    path.display(),
                    sampler_label(&s.candidate),
                    s.min_ade,
                    s.min_fde
                )
            });
            pb.inc(s.candidate.passes() as u64);
        })?;
        pb.finish_and_clear();
        let win = &best(&scored).expect("at least one candidate").candidate;
        outln!("{} ({scene}, val):", path.display())?;
        outln!("| sampler | passes | minADE | minFDE | sum |")?;
        outln!("|---|---|---|---|---|")?;
        for s in &scored {
            let mark = if s.candidate == *win {
                " **chosen**"
            } else {
                ""
            };
            outln!(
                "| {}{mark} | {} | {:.4} | {:.4} | {:.4} |",
                sampler_label(&s.candidate),
                s.candidate.passes(),
                s.min_ade,
                s.min_fde,
                s.score()
            )?;
        }
        if a.write {
            set_sampler(path, win.clone())?;
            outln!("{}: sampler set to {}", path.display(), sampler_label(win))?;
        }
    }
    Ok(())
}

/// candle's CPU kernels take their thread count from `RAYON_NUM_THREADS`. When `--threads`
/// asks for a count that variable does not already hold, this program runs itself again with
/// it set (on Unix it replaces itself, on other systems it waits for the copy and returns its
/// exit code), so that the process never edits its own environment. `None`: the variable
/// already holds `threads`; go on.
fn rerun_with_threads(threads: usize) -> Option<ExitCode> {
    const VAR: &str = "RAYON_NUM_THREADS";
    let want = threads.to_string();
    if std::env::var(VAR).ok().as_deref() == Some(want.as_str()) {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this program to set {VAR}={want}: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(std::env::args_os().skip(1)).env(VAR, &want);
    #[cfg(unix)]
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    #[cfg(not(unix))]
    let err = match cmd.status() {
        Ok(s) => return Some(ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8)),
        Err(e) => e,
    };
    eprintln!(
        "error: cannot run {} again with {VAR}={want}: {err}",
        exe.display()
    );
    Some(ExitCode::FAILURE)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.cmd {
        Cmd::Train(TrainCmd::Teacher(a)) => Some(a.threads),
        Cmd::Train(TrainCmd::Student(a)) => Some(a.threads),
        _ => None,
    };
    if let Some(t) = threads
        && let Some(code) = rerun_with_threads(t.max(1))
    {
        return code;
    }
    let r = match cli.cmd {
        Cmd::Eval(a) => eval(&a),
        Cmd::Train(TrainCmd::Teacher(a)) => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            train_teacher(&a, &command).and_then(|p| outln!("{}", p.display()))
        }
        Cmd::Train(TrainCmd::Student(a)) => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            train_student(&a, &command).and_then(|p| outln!("{}", p.display()))
        }
        Cmd::Toy {
            seed,
            items,
            teacher_epochs,
            student_epochs,
            teacher_steps,
            mdt_lambda,
            student_lr,
            minibatch_ot,
        } => {
            let o = ToyOptions {
                seed,
                items,
                teacher_epochs,
                student_epochs,
                teacher_steps,
                mdt_lambda,
                student_lr,
                minibatch_ot,
                progress: true,
                ..Default::default()
            };
            let t = std::time::Instant::now();
            run_toy(&o).and_then(|r| {
                outln!("toy 2-D suite (sliced Wasserstein to fresh data, lower is better):")?;
                outln!("  teacher, {teacher_steps} Euler steps  {:.4}", r.teacher_n)?;
                outln!("  teacher, 1 Euler step    {:.4}", r.teacher_1)?;
                outln!(
                    "  reflow, 1 / 2 steps      {:.4} / {:.4}",
                    r.reflow_1,
                    r.reflow_2
                )?;
                outln!("  MDT-dist, 1 / 2 steps    {:.4} / {:.4}", r.mdt_1, r.mdt_2)?;
                outln!("  IMLE, 1 pass             {:.4}", r.imle)?;
                outln!("  ({:.1} s)", t.elapsed().as_secs_f64())?;
                Ok(())
            })
        }
        Cmd::Export {
            ckpt,
            tag,
            steps,
            out,
        } => export_checkpoint(&ckpt, &tag, steps, &out).and_then(|()| outln!("{}", out.display())),
        Cmd::SetSampler {
            model,
            steps,
            times,
            method,
        } => sampler_spec(method.method(), steps, times).and_then(|spec| {
            let label = sampler_label(&spec);
            set_sampler(&model, spec)
                .and_then(|()| outln!("{}: sampler set to {label}", model.display()))
        }),
        Cmd::ChooseSampler(a) => choose_sampler(&a),
        Cmd::Prune { model } => prune_unused_initializers(&model).and_then(|names| {
            if names.is_empty() {
                outln!("{}: nothing to remove", model.display())
            } else {
                outln!("{}: removed {}", model.display(), names.join(", "))
            }
        }),
        Cmd::Import { model, out } => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            teacher_folder(&model, &out, &command).and_then(|()| outln!("{}", out.display()))
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e == READER_LEFT => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use fewstep::forecast::features::FeatureVersion;
    use fewstep_distill::data::*;
    use std::path::Path;

    /// `fewstep-distill COMMAND [SUBCOMMAND] --help` explains every command and every flag.
    #[test]
    fn every_command_and_flag_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                for arg in sub.get_arguments() {
                    if arg.get_help().is_none() {
                        missing.push(format!("{here} {}", arg.get_id()));
                    }
                }
                walk(sub, &here, missing);
            }
        }
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cli, "fewstep-distill", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    /// A row's steps column: one label when its models agree, else theirs in scene order.
    #[test]
    fn row_steps_labels() {
        let l = |v: &[&str]| {
            super::row_steps_label(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(l(&["1 (card)", "1 (card)"]), "1 (card)");
        assert_eq!(l(&["2 (card)", "5 (card)", "3 (card)"]), "2/5/3 (card)");
        assert_eq!(l(&["1 (generator)", "2 (card)"]), "1 (generator)/2 (card)");
        assert_eq!(l(&[]), "");
    }

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eth_ucy")
    }

    /// Train/val window counts of every fold equal the published ones (data/eth_ucy/SOURCE.md of
    /// the shared data, "all / filtered").
    #[test]
    fn fold_window_counts() {
        let expected = [
            ("eth", (30307, 29809), (5422, 5349)),
            ("hotel", (29676, 29152), (5203, 5136)),
            ("univ", (9874, 9231), (2800, 2708)),
            ("zara1", (28577, 28010), (5184, 5118)),
            ("zara2", (26076, 25507), (4262, 4173)),
        ];
        for (scene, train, val) in expected {
            for (split, (all, filtered)) in [(Split::Train, train), (Split::Val, val)] {
                let n_all = fold_windows(&data_dir(), scene, split, 1).unwrap().len();
                let n_f = fold_windows(&data_dir(), scene, split, 2).unwrap().len();
                assert_eq!((n_all, n_f), (all, filtered), "{scene} {split:?}");
            }
        }
    }

    /// Holding ZARA1 out of the UNIV fold: training loses exactly ZARA1's recording, and
    /// validation is all of it (both its parts); the test is untouched; nonsense is refused.
    #[test]
    fn holding_out_a_training_scene() {
        let d = data_dir();
        let names = |split| -> Vec<String> {
            holdout_files(&d, "univ", "zara1", split)
                .unwrap()
                .iter()
                .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(Split::Train),
            [
                "biwi_eth_train.txt",
                "biwi_hotel_train.txt",
                "crowds_zara02_train.txt",
                "crowds_zara03_train.txt",
                "uni_examples_train.txt"
            ]
        );
        assert_eq!(
            names(Split::Val),
            ["crowds_zara01_train.txt", "crowds_zara01_val.txt"]
        );
        assert_eq!(
            holdout_files(&d, "univ", "zara1", Split::Test).unwrap(),
            fold_files(&d, "univ", Split::Test).unwrap()
        );
        let zara01 = |part: &str, min: usize| {
            let s = fewstep::forecast::scene::load(&d.join(format!("crowds_zara01_{part}.txt")));
            fewstep::forecast::windows::windows(&s.unwrap(), min).len()
        };
        let train = holdout_windows(&d, "univ", "zara1", Split::Train, 1).unwrap();
        assert_eq!(train.len() + zara01("train", 1), 9874);
        let val = holdout_windows(&d, "univ", "zara1", Split::Val, 2).unwrap();
        assert_eq!(val.len(), zara01("train", 2) + zara01("val", 2));
        assert!(val.len() > 1000);
        for (holdout, why) in [("univ", "test scene"), ("mars", "unknown")] {
            let e = holdout_files(&d, "univ", holdout, Split::Train).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    fn eval_args(split: super::EvalSplit) -> super::EvalArgs {
        super::EvalArgs {
            data: data_dir(),
            scenes: "hotel".into(),
            no_sgan_filter: false,
            models: vec![],
            steps: vec![],
            method: super::MethodArg::Euler,
            grid_power: None,
            noise_scale: 1.0,
            split,
            seed: super::Seeds(vec![0]),
            chunk: 256,
            jobs: None,
            write_metrics: false,
        }
    }

    /// Cards hold one noise seed's test figures only: `--write-metrics` is refused with val
    /// windows and with several seeds, and
    /// `--grid-power` and `--method` need `--steps`.
    #[test]
    fn eval_refuses_inconsistent_flags() {
        let mut a = eval_args(super::EvalSplit::Val);
        a.write_metrics = true;
        assert!(super::eval(&a).unwrap_err().contains("--write-metrics"));
        let mut a = eval_args(super::EvalSplit::Test);
        (a.write_metrics, a.seed) = (true, super::Seeds(vec![0, 1]));
        assert!(super::eval(&a).unwrap_err().contains("give one --seed"));
        let mut a = eval_args(super::EvalSplit::Test);
        a.grid_power = Some(2.0);
        assert!(super::eval(&a).unwrap_err().contains("--steps"));
        let mut a = eval_args(super::EvalSplit::Test);
        a.method = super::MethodArg::Midpoint;
        assert!(
            super::eval(&a)
                .unwrap_err()
                .contains("--method needs --steps")
        );
        for bad in [-0.5, f32::NAN, f32::INFINITY] {
            let mut a = eval_args(super::EvalSplit::Test);
            a.noise_scale = bad;
            assert!(super::eval(&a).unwrap_err().contains("--noise-scale"));
        }
        // and a plain val evaluation of the baseline runs
        super::eval(&eval_args(super::EvalSplit::Val)).unwrap();
    }

    #[test]
    fn arrays_use_the_runtime_features() {
        let ws = fold_windows(&data_dir(), "eth", Split::Test, 2).unwrap();
        let a = arrays(&ws[..10], 5.0, FeatureVersion::V1);
        assert_eq!((a.n, a.cond.len(), a.future.len()), (10, 320, 240));
        // the last observed position is the origin of every condition
        for i in 0..10 {
            assert_eq!(&a.cond[i * 32 + 14..i * 32 + 16], &[0.0, 0.0]);
        }
        // the scene layout appends the last observed position in scene coordinates and the
        // heading; its first 32 values are V1's
        let b = arrays(&ws[..10], 5.0, FeatureVersion::V2);
        assert_eq!((b.cond.len(), b.future), (360, a.future));
        for (i, w) in ws[..10].iter().enumerate() {
            assert_eq!(&b.cond[i * 36..i * 36 + 32], &a.cond[i * 32..i * 32 + 32]);
            assert_eq!(&b.cond[i * 36 + 32..i * 36 + 34], &w.obs[7][..]);
            let (c, s) = (b.cond[i * 36 + 34], b.cond[i * 36 + 35]);
            assert!((c.hypot(s) - 1.0).abs() < 1e-5 || (c, s) == (1.0, 0.0));
        }
        // the social layout appends the neighbours: as many present as the window has within
        // the radius, at most four
        let c = FeatureVersion::V3.cond_len();
        let some = &ws[..ws.len().min(200)];
        let v = arrays(some, 5.0, FeatureVersion::V3);
        let mut seen = 0;
        for (i, w) in some.iter().enumerate() {
            let row = &v.cond[i * c..(i + 1) * c];
            assert_eq!(
                &row[..32],
                &arrays(&ws[i..i + 1], 5.0, FeatureVersion::V1).cond[..]
            );
            let flags: f32 = row[c - 4..].iter().sum();
            let near = w.neighbours.iter().filter(|n| {
                let d = (n.pos[0] - w.obs[7][0]).hypot(n.pos[1] - w.obs[7][1]);
                d > 0.0 && d < 6.0
            });
            assert_eq!(flags as usize, near.count().min(4), "window {i}");
            seen += usize::from(flags > 0.0);
        }
        assert!(
            seen > some.len() / 4,
            "{seen} of {} have neighbours",
            some.len()
        );
    }
}
