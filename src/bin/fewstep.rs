//! The `fewstep` command line. Its forms are a contract other tools rely on; see `--help`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use fewstep::card::{CardDim, Kind, Method, uniform_grid};
use fewstep::rng::Rng;
use fewstep::{Backend, Error, Model, Precision, Session, SessionOptions, npy};
use serde_json::json;

use fewstep::alloc_count;

#[path = "fewstep/stream.rs"]
mod stream;

/// `println!` that gives a `Result` ([`Error::Write`] on failure) instead of panicking when
/// standard output fails, e.g. closed by its reader (`fewstep info M | head -1`), on which
/// `main` ends quietly ([`reader_left`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(stdout_failed)
    }};
}

/// A failed write to standard output.
fn stdout_failed(source: std::io::Error) -> Error {
    Error::Write {
        path: STDOUT.into(),
        source,
    }
}

const STDOUT: &str = "standard output";

/// Whether `e` says the reader of standard output went away (a closed pipe), which ends a
/// command quietly, as it does other Unix tools.
fn reader_left(e: &Error) -> bool {
    matches!(e, Error::Write { path, source } if path == STDOUT
        && source.kind() == std::io::ErrorKind::BrokenPipe)
}

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

#[derive(Parser)]
#[command(
    name = "fewstep",
    version,
    about = "Run few-step flow-model students: inspect, run, sample and benchmark ONNX models"
)]
struct Cli {
    /// Without a command: the demo (forecast a bundled ETH-UCY scene with the shipped model,
    /// print minADE/minFDE and latency, write forecast.png).
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print JSON about a model: card, inputs/outputs, ops, parameters, which backends run it.
    Info {
        /// The ONNX model file (a fewstep card is read from its metadata when present).
        model: PathBuf,
        /// Bind a symbolic dimension for the backend check (default: every symbol = 1).
        #[arg(long = "dim", value_name = "SYMBOL=VALUE")]
        dims: Vec<String>,
    },
    /// One forward pass of any ONNX model (no card needed); writes DIR/<output name>.npy.
    Run {
        /// The ONNX model file (a fewstep card is read from its metadata when present).
        model: PathBuf,
        /// An input, as NAME=FILE.npy (float32). Repeat for every graph input.
        #[arg(long = "input", value_name = "NAME=FILE.npy", required = true)]
        inputs: Vec<String>,
        /// Folder for the outputs, one NAME.npy (float32) per graph output; created if missing.
        #[arg(long, value_name = "DIR")]
        output_dir: PathBuf,
        /// auto (native when its kernels cover every op, else tract), native, tract or gpu.
        #[arg(long, default_value = "auto", value_name = "auto|native|tract|gpu")]
        backend: String,
        /// f32, or f16 weights (half the weight memory; each backend's f16 path: docs/BENCHMARKS.md).
        #[arg(long, default_value = "f32", value_name = "f32|f16")]
        precision: String,
        /// Bind a symbolic dimension (inferred from the input files when omitted).
        #[arg(long = "dim", value_name = "SYMBOL=VALUE")]
        dims: Vec<String>,
    },
    /// Sample with the model card's sampler: condition (and noise or a seed) in, sample out.
    Sample {
        /// The ONNX model file (a fewstep card is read from its metadata when present).
        model: PathBuf,
        /// The condition, shaped like the card's cond input (its batch binds the batch symbol).
        #[arg(long, value_name = "FILE.npy")]
        cond: Option<PathBuf>,
        /// The noise (state at the first time); default: standard normal from --seed.
        #[arg(long, value_name = "FILE.npy", conflicts_with = "seed")]
        noise: Option<PathBuf>,
        /// Seed of the standard-normal noise (when --noise is not given).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the sample: float32 .npy, shaped like the card's state input.
        #[arg(long, value_name = "FILE.npy")]
        out: PathBuf,
        /// Bind a symbolic dimension (inferred from --cond or --noise when omitted; else 1).
        #[arg(long = "dim", value_name = "SYMBOL=VALUE")]
        dims: Vec<String>,
        #[command(flatten)]
        sampler: SamplerArgs,
        #[command(flatten)]
        cpu: CpuArgs,
    },
    /// Forecast every agent at every frame of a scene with the streaming forecaster; write
    /// JSON (per frame, per agent: observed track and K futures) and a picture.
    Forecast {
        /// A fewstep trajectory model: an ONNX file whose card has a trajectory normalization.
        #[arg(long)]
        model: PathBuf,
        /// A `frame agent x y` file (tabs or spaces, any frame step).
        #[arg(long)]
        scene: PathBuf,
        /// Seed of the sampling noise (the same seed gives the same forecasts).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write every frame's forecasts as JSON: per agent, its observed track and K futures.
        #[arg(long, value_name = "OUT.json")]
        json: Option<PathBuf>,
        /// Picture of the frame with the most forecast agents (or of --frame).
        #[arg(long, value_name = "OUT.png")]
        png: Option<PathBuf>,
        /// Frame id to draw (default: the one with the most forecast agents).
        #[arg(long)]
        frame: Option<f64>,
        /// Sample every frame at the scene's largest agent count, padding, instead of at about
        /// the frame's own (slower; for comparison with earlier versions).
        #[arg(long)]
        pad: bool,
        #[command(flatten)]
        sampler: SamplerArgs,
        #[command(flatten)]
        cpu: CpuArgs,
    },
    /// Forecast frames as they arrive: `frame agent x y` lines on standard input (or --input),
    /// one JSON line per frame on standard output, flushed at once. A frame ends at the next
    /// frame's first line, at a blank line, or at the end of the input.
    Stream {
        /// A fewstep trajectory model: an ONNX file whose card has a trajectory normalization.
        #[arg(long)]
        model: PathBuf,
        /// Where the lines come from: `-` (standard input) or a file.
        #[arg(long, default_value = "-", value_name = "FILE|-")]
        input: PathBuf,
        /// Most agents in view at once; a frame with more is refused (an error line).
        #[arg(long, default_value_t = 64)]
        max_agents: usize,
        /// Seed of the sampling noise (the same seed and frames give the same forecasts).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sample every frame at --max-agents, padding, instead of at about the frame's own
        /// agent count.
        #[arg(long)]
        pad: bool,
        #[command(flatten)]
        sampler: SamplerArgs,
        #[command(flatten)]
        cpu: CpuArgs,
    },
    /// Evaluate a trajectory model on a scene file or a folder of them: standard windows
    /// (8 observed + 12 future, stride 1), minADE_K / minFDE_K in the file's units.
    Eval {
        /// A fewstep trajectory model: an ONNX file whose card has a trajectory normalization.
        #[arg(long)]
        model: PathBuf,
        /// A `frame agent x y` file, or a folder whose *.txt files are all evaluated.
        #[arg(long)]
        scene: PathBuf,
        /// Futures per window that minADE_K / minFDE_K take the best of (at most the model's K).
        #[arg(long, default_value_t = 20)]
        k: usize,
        /// Keep only windows with at least two complete agents (the Social-GAN test set).
        #[arg(long)]
        sgan_filter: bool,
        /// Print JSON (per file and overall) instead of a table.
        #[arg(long)]
        json: bool,
        /// Seeds of the sampling noise: one (`0`), a list (`0,3`) or a range (`0-9`); the same
        /// seed gives the same figures. With several, each figure is the mean over the seeds,
        /// and a last line gives the overall minADE and minFDE as mean ± sd and lowest –
        /// highest across the seeds (`per_seed` in --json).
        #[arg(long, default_value = "0")]
        seed: fewstep::forecast::eval::Seeds,
        #[command(flatten)]
        sampler: SamplerArgs,
        #[command(flatten)]
        cpu: CpuArgs,
    },
    /// Time the model on random inputs: the session's build time, median, p99, p99.9 and max
    /// µs per call, allocations per call, weight bytes and resident memory before and after the
    /// timed calls, per backend and precision. `--iters 100000` gives the tail; `--iters 1000000` is the soak run.
    /// `--backend gpu` adds the encode and submit-to-readback medians and the adapter; use
    /// `--dim N=1024` for a batch.
    Bench {
        /// The ONNX model file (a fewstep card is read from its metadata when present).
        model: PathBuf,
        /// Comma-separated backends (auto, native, tract, gpu).
        #[arg(long, default_value = "native,tract")]
        backend: String,
        /// Comma-separated precisions.
        #[arg(long, default_value = "f32,f16")]
        precision: String,
        /// Timed calls per backend and precision (after iters/10 untimed warm-up calls, 3 to 200).
        #[arg(long, default_value_t = 1000)]
        iters: usize,
        /// Bind a symbolic dimension (default: every symbol = 1).
        #[arg(long = "dim", value_name = "SYMBOL=VALUE")]
        dims: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Comma-separated f16 paths for `gpu`/`f16`: auto (SHADER_F16 when the adapter has
        /// it), shader (f16 weights and activations), packed (f16 weights packed in u32, f32
        /// activations).
        #[arg(long, default_value = "auto", value_name = "auto|shader|packed")]
        gpu_f16: String,
        /// Comma-separated CPU thread counts that share a call's batch rows, each timed in
        /// turn (e.g. `--threads 1,2 --dim N=64`); the GPU backend runs with 1.
        #[arg(long, default_value = "1")]
        threads: String,
        #[command(flatten)]
        sampler: SamplerArgs,
    },
}

/// `--steps` and `--method`, shared by the commands that sample.
#[derive(clap::Args)]
struct SamplerArgs {
    /// Override the card's time grid with N uniform steps over the same interval.
    #[arg(long)]
    steps: Option<usize>,
    /// Override the card's integration method (keeps the grid, or the --steps grid).
    #[arg(long, value_name = "euler|heun|midpoint")]
    method: Option<String>,
}

impl SamplerArgs {
    fn flags(&self) -> Result<SamplerFlags, Error> {
        SamplerFlags::parse(self.steps, self.method.as_deref())
    }
}

/// `--backend`, `--precision` and `--threads`, shared by `sample`, `forecast` and `eval`.
#[derive(clap::Args)]
struct CpuArgs {
    /// auto (native when its kernels cover every op, else tract), native, tract or gpu.
    #[arg(long, default_value = "auto", value_name = "auto|native|tract|gpu")]
    backend: String,
    /// f32, or f16 weights (half the weight memory; each backend's f16 path: docs/BENCHMARKS.md).
    #[arg(long, default_value = "f32", value_name = "f32|f16")]
    precision: String,
    /// CPU threads that share each sampler call's rows (a frame's agents, a batch of windows;
    /// native and tract backends; the output depends on it only to f32 rounding).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl CpuArgs {
    fn options(&self) -> Result<SessionOptions, Error> {
        options(
            &self.backend,
            &self.precision,
            BTreeMap::new(),
            self.threads,
        )
    }
}

fn parse_dims(dims: &[String]) -> Result<BTreeMap<String, usize>, Error> {
    dims.iter()
        .map(|d| {
            let (k, v) = d.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!("--dim {d:?}: expected SYMBOL=VALUE"))
            })?;
            let v = v
                .parse::<usize>()
                .map_err(|_| Error::InvalidArgument(format!("--dim {d:?}: {v:?} is not a size")))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

fn with_default_dims(model: &Model, mut dims: BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    for s in model.symbols() {
        dims.entry(s).or_insert(1);
    }
    dims
}

/// Binds symbols of `declared` from an actual array shape.
fn bind(
    declared: &[CardDim],
    actual: &[usize],
    what: &str,
    dims: &mut BTreeMap<String, usize>,
) -> Result<(), Error> {
    if declared.len() != actual.len() {
        return Err(Error::InvalidArgument(format!(
            "{what}: rank {} but the model expects {:?}",
            actual.len(),
            declared
        )));
    }
    for (d, &a) in declared.iter().zip(actual) {
        match d {
            CardDim::Fixed(v) if *v != a => {
                return Err(Error::InvalidArgument(format!(
                    "{what}: shape {actual:?} but the model expects {declared:?}"
                )));
            }
            CardDim::Sym(s) => {
                if let Some(&prev) = dims.get(s)
                    && prev != a
                {
                    return Err(Error::InvalidArgument(format!(
                        "{what}: {s} = {a} but it is already bound to {prev}"
                    )));
                }
                dims.insert(s.clone(), a);
            }
            _ => {}
        }
    }
    Ok(())
}

fn eval_shape(declared: &[CardDim], dims: &BTreeMap<String, usize>) -> Vec<usize> {
    declared
        .iter()
        .map(|d| match d {
            CardDim::Fixed(v) => *v,
            CardDim::Sym(s) => dims.get(s).copied().unwrap_or(1),
        })
        .collect()
}

fn info(path: &Path, dims: &[String]) -> Result<(), Error> {
    let model = Model::load(path)?;
    let dims = with_default_dims(&model, parse_dims(dims)?);
    let io = |v: &[fewstep::model::IoSpec]| {
        v.iter()
            .map(|i| json!({"name": i.name, "shape": i.shape}))
            .collect::<Vec<_>>()
    };
    let native = match fewstep::session::native_report(&model, &dims) {
        Ok(ops) => {
            let weight_bytes = |precision| {
                let o = SessionOptions {
                    backend: Backend::Native,
                    precision,
                    dims: dims.clone(),
                    ..Default::default()
                };
                Session::new(&model, o).map(|s| s.info().weight_bytes).ok()
            };
            json!({
                "ok": true,
                "ops": ops,
                "isa": fewstep::cpu::Isa::detect().name(),
                "weight_bytes": {"f32": weight_bytes(Precision::F32), "f16": weight_bytes(Precision::F16)},
            })
        }
        Err(e) => json!({"ok": false, "reason": e.to_string()}),
    };
    let tract_ok = Session::new(
        &model,
        SessionOptions {
            backend: Backend::Tract,
            dims: dims.clone(),
            ..Default::default()
        },
    );
    let tract = match tract_ok {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "reason": e.to_string()}),
    };
    let gpu = match Session::new(
        &model,
        SessionOptions {
            backend: Backend::Gpu,
            dims: dims.clone(),
            ..Default::default()
        },
    ) {
        Ok(s) => {
            let g = s.info().gpu.clone().expect("a GPU session has GPU info");
            let f16 = Session::new(
                &model,
                SessionOptions {
                    backend: Backend::Gpu,
                    precision: Precision::F16,
                    dims: dims.clone(),
                    ..Default::default()
                },
            )
            .map(|s| s.info().gpu.as_ref().map_or("", |g| g.f16_path).to_string())
            .unwrap_or_else(|e| e.to_string());
            json!({"ok": true, "adapter": g.adapter, "f16_path": {"f32": g.f16_path, "f16": f16},
                   "shader_compile_ms": g.compile_time.as_secs_f64() * 1e3, "dispatches_per_forward": g.dispatches})
        }
        Err(e) => json!({"ok": false, "reason": e.to_string()}),
    };
    let auto = if native["ok"] == json!(true) {
        "native"
    } else if tract["ok"] == json!(true) {
        "tract"
    } else {
        "none"
    };
    let out = json!({
        "file": path.display().to_string(),
        "card": model.card(),
        "inputs": io(model.inputs()),
        "outputs": io(model.outputs()),
        "ops": model.ops(),
        "parameters": model.parameter_count(),
        "checked_with_dims": dims,
        "backends": {"native": native, "tract": tract, "gpu": gpu, "auto": auto},
    });
    outln!("{}", serde_json::to_string_pretty(&out).expect("json"))?;
    Ok(())
}

fn options(
    backend: &str,
    precision: &str,
    dims: BTreeMap<String, usize>,
    threads: usize,
) -> Result<SessionOptions, Error> {
    Ok(SessionOptions {
        backend: backend.parse()?,
        precision: precision.parse()?,
        dims,
        threads,
        ..Default::default()
    })
}

fn run(
    model_path: &Path,
    inputs: &[String],
    out_dir: &Path,
    backend: &str,
    precision: &str,
    dims: &[String],
) -> Result<(), Error> {
    let model = Model::load(model_path)?;
    let mut dims = parse_dims(dims)?;
    let mut arrays: Vec<Option<npy::Array>> = vec![None; model.inputs().len()];
    for spec in inputs {
        let (name, file) = spec.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("--input {spec:?}: expected NAME=FILE.npy"))
        })?;
        let i = model
            .inputs()
            .iter()
            .position(|x| x.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = model.inputs().iter().map(|x| x.name.as_str()).collect();
                Error::InvalidArgument(format!(
                    "--input {name}: the model has no such input (inputs: {names:?})"
                ))
            })?;
        let a = npy::read(Path::new(file))?;
        bind(
            &model.inputs()[i].shape,
            &a.shape,
            &format!("input {name}"),
            &mut dims,
        )?;
        arrays[i] = Some(a);
    }
    let arrays: Vec<npy::Array> = arrays
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "missing --input {}=FILE.npy",
                    model.inputs()[i].name
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut s = Session::new(&model, options(backend, precision, dims.clone(), 1)?)?;
    let ins: Vec<&[f32]> = arrays.iter().map(|a| a.data.as_slice()).collect();
    let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
    s.run(&ins, &mut refs)?;
    std::fs::create_dir_all(out_dir).map_err(Error::writing(out_dir))?;
    for (o, data) in model.outputs().iter().zip(&outs) {
        let shape = eval_shape(&o.shape, &dims);
        let shape = if shape.iter().product::<usize>() == data.len() {
            shape
        } else {
            vec![data.len()]
        };
        let file = out_dir.join(format!("{}.npy", sanitize(&o.name)));
        npy::write(&file, &shape, data)?;
        eprintln!(
            "wrote {} {:?} ({:?} backend)",
            file.display(),
            shape,
            s.info().backend
        );
    }
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `--steps` and `--method`: the sampler a command uses instead of the card's.
#[derive(Debug, Clone, Copy, Default)]
struct SamplerFlags {
    steps: Option<usize>,
    method: Option<Method>,
}

impl SamplerFlags {
    fn parse(steps: Option<usize>, method: Option<&str>) -> Result<Self, Error> {
        if steps == Some(0) {
            return Err(Error::InvalidArgument("--steps must be at least 1".into()));
        }
        Ok(SamplerFlags {
            steps,
            method: method.map(str::parse).transpose()?,
        })
    }

    /// The sampler these flags make of the card's (`method` over `times`), or `None` when no
    /// flag is given: `--steps N` spreads N uniform steps over the card's interval, and
    /// `--method` replaces the method. Setting it refuses what `Session::set_sampler` refuses,
    /// a generator included.
    fn resolve(&self, method: Method, times: &[f32]) -> Option<(Method, Vec<f32>)> {
        if self.steps.is_none() && self.method.is_none() {
            return None;
        }
        let grid = match self.steps {
            Some(n) => uniform_grid(times[0], times[times.len() - 1], n),
            None => times.to_vec(),
        };
        Some((self.method.unwrap_or(method), grid))
    }

    /// A generator has no sampler: either flag is an error for it. (`eval` checks this itself:
    /// the evaluator leaves a generator's sampler alone rather than refusing.)
    fn refuse_generator(&self, kind: Option<Kind>) -> Result<(), Error> {
        if kind == Some(Kind::Generator) && (self.steps.is_some() || self.method.is_some()) {
            return Err(Error::InvalidArgument(
                "--steps/--method: a generator runs once; it has no sampler".into(),
            ));
        }
        Ok(())
    }

    /// Applies the flags to a session (see [`SamplerFlags::resolve`]).
    fn apply(&self, s: &mut Session) -> Result<(), Error> {
        match self.resolve(s.method(), s.times()) {
            Some((m, grid)) => s.set_sampler(m, &grid),
            None => Ok(()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn sample(
    model_path: &Path,
    cond: Option<&Path>,
    noise: Option<&Path>,
    seed: u64,
    out: &Path,
    flags: SamplerFlags,
    opts: SessionOptions,
    dims: &[String],
) -> Result<(), Error> {
    let model = Model::load(model_path)?;
    let card = model.card().ok_or(Error::NoCard)?.clone();
    let mut dims = parse_dims(dims)?;
    let spec = |name: &str| {
        model
            .inputs()
            .iter()
            .find(|i| i.name == name)
            .expect("card checked")
            .shape
            .clone()
    };
    let cond_arr = match (&card.roles.cond, cond) {
        (Some(c), Some(p)) => {
            let a = npy::read(p)?;
            bind(&spec(c), &a.shape, "--cond", &mut dims)?;
            Some(a)
        }
        (Some(c), None) => {
            return Err(Error::InvalidArgument(format!(
                "this model is conditional: pass --cond FILE.npy (input {c:?})"
            )));
        }
        (None, Some(_)) => {
            return Err(Error::InvalidArgument(
                "this model takes no condition; drop --cond".into(),
            ));
        }
        (None, None) => None,
    };
    let noise_arr = match noise {
        Some(p) => {
            let a = npy::read(p)?;
            bind(&spec(&card.roles.state), &a.shape, "--noise", &mut dims)?;
            Some(a)
        }
        None => None,
    };
    let dims = with_default_dims(&model, dims);
    let mut s = Session::new(
        &model,
        SessionOptions {
            dims: dims.clone(),
            ..opts
        },
    )?;
    flags.apply(&mut s)?;
    let noise = match noise_arr {
        Some(a) => a.data,
        None => {
            let mut v = vec![0.0; s.state_len()];
            Rng::new(seed).fill_normal(&mut v);
            v
        }
    };
    let cond = cond_arr.map(|a| a.data).unwrap_or_default();
    let mut y = vec![0.0; s.state_len()];
    let t = Instant::now();
    s.sample(&cond, &noise, &mut y)?;
    let us = t.elapsed().as_secs_f64() * 1e6;
    let shape = eval_shape(&spec(&card.roles.state), &dims);
    npy::write(out, &shape, &y)?;
    eprintln!(
        "wrote {} {:?}: {} steps ({:?}), {:?} backend, {:?}, {:.0} µs",
        out.display(),
        shape,
        s.times().len() - 1,
        card.sampler.as_ref().map(|_| s.method()),
        s.info().backend,
        s.info().precision,
        us
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Resident set size of this process in KiB (Linux `/proc/self/statm`; `None` elsewhere).
fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// The (backend, precision, GPU f16 path) triples of `fewstep bench`'s comma-separated lists;
/// the f16 path list applies to `gpu`/`f16` only.
fn bench_configs<'a>(
    backends: &'a str,
    precisions: &'a str,
    gpu_f16: &'a str,
    threads: &str,
) -> Result<Vec<BenchConfig<'a>>, Error> {
    let threads = threads
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|&t| t > 0)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "--threads {t:?}: expected counts ≥ 1, like 1,2"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut configs = Vec::new();
    for b in backends.split(',').map(str::trim) {
        for p in precisions.split(',').map(str::trim) {
            let paths: Vec<&str> = if b == "gpu" && p == "f16" {
                gpu_f16.split(',').map(str::trim).collect()
            } else {
                vec!["auto"]
            };
            for m in paths {
                if b == "gpu" {
                    configs.push((b, p, m, 1));
                } else {
                    configs.extend(threads.iter().map(|&t| (b, p, m, t)));
                }
            }
        }
    }
    Ok(configs)
}

/// One row of `fewstep bench`: backend, precision, GPU f16 path, threads.
type BenchConfig<'a> = (&'a str, &'a str, &'a str, usize);

/// What one timed call of a sampling session is: `sampler run (2 steps)` for Euler, and the
/// method's name otherwise (`sampler run (2 midpoint steps)`).
fn sampler_unit(method: Method, steps: usize) -> String {
    match method {
        Method::Euler => format!("sampler run ({steps} steps)"),
        Method::Heun => format!("sampler run ({steps} Heun steps)"),
        Method::Midpoint => format!("sampler run ({steps} midpoint steps)"),
    }
}

fn bench(
    path: &Path,
    configs: &[BenchConfig],
    iters: usize,
    dims: &[String],
    as_json: bool,
    flags: SamplerFlags,
) -> Result<(), Error> {
    let model = Model::load(path)?;
    let dims = with_default_dims(&model, parse_dims(dims)?);
    let iters = iters.max(1);
    let mut rows = Vec::new();
    for &(b, p, m, threads) in configs {
        let mut opts = options(b, p, dims.clone(), threads)?;
        opts.gpu_f16 = m.parse()?;
        let t0 = Instant::now();
        let mut s = match Session::new(&model, opts) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{b}/{p}: cannot build a session: {e}");
                rows.push(json!({"backend": b, "precision": p, "error": e.to_string()}));
                continue;
            }
        };
        let build_ms = t0.elapsed().as_secs_f64() * 1e3;
        flags.apply(&mut s)?;
        let mut rng = Rng::new(1);
        let sampling = model.card().is_some();
        let ins: Vec<Vec<f32>> = s
            .input_lens()
            .iter()
            .map(|&l| (0..l).map(|_| rng.normal()).collect())
            .collect();
        let (cond, noise): (Vec<f32>, Vec<f32>) = if sampling {
            let mut c = vec![0.0; s.cond_len()];
            rng.fill_normal(&mut c);
            let mut n = vec![0.0; s.state_len()];
            rng.fill_normal(&mut n);
            (c, n)
        } else {
            (vec![], vec![])
        };
        let mut out = vec![0.0; s.state_len()];
        let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
        let in_refs: Vec<&[f32]> = ins.iter().map(|v| v.as_slice()).collect();
        let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        let mut call = |s: &mut Session| -> Result<(), Error> {
            if sampling {
                s.sample(&cond, &noise, &mut out)
            } else {
                s.run(&in_refs, &mut out_refs)
            }
        };
        if let Err(e) = call(&mut s) {
            eprintln!("{b}/{p}: run failed: {e}");
            rows.push(json!({"backend": b, "precision": p, "error": e.to_string()}));
            continue;
        }
        for _ in 0..(iters / 10).clamp(3, 200) {
            call(&mut s)?;
        }
        // written (so resident) before the start figure: RSS then measures the session only
        let mut times = vec![f64::NAN; iters];
        let is_gpu = s.gpu_timing().is_some();
        let mut encode = vec![f64::NAN; if is_gpu { iters } else { 0 }];
        let mut submit = vec![f64::NAN; if is_gpu { iters } else { 0 }];
        let rss_start = rss_kib();
        let a0 = alloc_count::allocations();
        for (i, slot) in times.iter_mut().enumerate() {
            let t = Instant::now();
            call(&mut s)?;
            *slot = t.elapsed().as_secs_f64() * 1e6;
            if let Some((e, r)) = s.gpu_timing() {
                encode[i] = e.as_secs_f64() * 1e6;
                submit[i] = r.as_secs_f64() * 1e6;
            }
        }
        let allocs = (alloc_count::allocations() - a0) as f64 / iters as f64;
        let rss_end = rss_kib();
        times.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        encode.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        submit.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        let info = s.info();
        let gpu = info.gpu.as_ref().map(|g| {
            json!({
                "adapter": g.adapter,
                "f16_path": g.f16_path,
                "shader_compile_ms": g.compile_time.as_secs_f64() * 1e3,
                "dispatches_per_forward": g.dispatches,
                "encode_median_us": percentile(&encode, 0.5),
                "submit_to_readback_median_us": percentile(&submit, 0.5),
                "note": "wgpu's own host allocations are included in allocations_per_call",
            })
        });
        rows.push(json!({
                "backend": format!("{:?}", info.backend).to_lowercase(),
                "precision": format!("{:?}", info.precision).to_lowercase(),
                "isa": info.isa,
                "threads": info.threads,
                "unit": if sampling { sampler_unit(s.method(), s.times().len() - 1) } else { "forward pass".to_string() },
                "batch_rows": s.batch_rows(),
                "median_us_per_row": percentile(&times, 0.5) / s.batch_rows() as f64,
                "median_us": percentile(&times, 0.5),
                "p99_us": percentile(&times, 0.99),
                "p999_us": percentile(&times, 0.999),
                "max_us": times.last().copied().unwrap_or(0.0),
                "rss_start_kib": rss_start,
                "rss_end_kib": rss_end,
                "allocations_per_call": allocs,
                "weight_bytes": info.weight_bytes,
                "arena_bytes": info.arena_bytes,
                "build_ms": build_ms,
                "iters": iters,
                "fallback_reason": info.fallback_reason,
                "gpu": gpu,
            }));
    }
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"model": path.display().to_string(), "dims": dims, "results": rows})
            )
            .expect("json")
        )?;
    } else {
        outln!("{} with {:?}", path.display(), dims)?;
        outln!(
            "{:<8} {:<5} {:>3} {:>8} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10} {:>17}  unit",
            "backend",
            "prec",
            "thr",
            "build ms",
            "median µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "allocs",
            "weight B",
            "RSS KiB start→end"
        )?;
        for r in &rows {
            if let Some(e) = r.get("error") {
                outln!(
                    "{:<8} {:<5} error: {}",
                    r["backend"].as_str().unwrap_or(""),
                    r["precision"].as_str().unwrap_or(""),
                    e
                )?;
                continue;
            }
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            // a JSON value's Display ignores width: integers are taken out to pad
            let u = |k: &str| r[k].as_u64().unwrap_or(0);
            outln!(
                "{:<8} {:<5} {:>3} {:>8.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8.1} {:>10} {:>17}  {}",
                r["backend"].as_str().unwrap_or(""),
                r["precision"].as_str().unwrap_or(""),
                u("threads"),
                f("build_ms"),
                f("median_us"),
                f("p99_us"),
                f("p999_us"),
                f("max_us"),
                f("allocations_per_call"),
                u("weight_bytes"),
                format!("{}→{}", u("rss_start_kib"), u("rss_end_kib")),
                match r["batch_rows"].as_u64() {
                    Some(rows) if rows > 1 => format!(
                        "{} of {rows} rows, {:.2} µs per row",
                        r["unit"].as_str().unwrap_or(""),
                        f("median_us_per_row")
                    ),
                    _ => r["unit"].as_str().unwrap_or("").to_string(),
                }
            )?;
            if let Some(g) = r.get("gpu").filter(|g| !g.is_null()) {
                let f = |k: &str| g[k].as_f64().unwrap_or(0.0);
                outln!(
                    "{:<14} on {} ({}): encode {:.1} µs + submit→readback {:.1} µs (medians), shaders compiled in {:.1} ms at build, {} launches per forward pass",
                    "",
                    g["adapter"].as_str().unwrap_or(""),
                    g["f16_path"].as_str().unwrap_or(""),
                    f("encode_median_us"),
                    f("submit_to_readback_median_us"),
                    f("shader_compile_ms"),
                    g["dispatches_per_forward"]
                )?;
            }
        }
    }
    Ok(())
}

/// The shipped default model: the ETH fold's one-step reflow student (see models/README.md).
const DEFAULT_MODEL: &str = "models/eth/reflow.onnx";

/// The main job: the shipped ETH model on the held-out ETH scene (Social-GAN test windows),
/// then a streamed forecast of the whole scene and its picture in forecast.png.
fn demo() -> Result<(), Error> {
    let root = |rel: &str| -> PathBuf {
        let here = PathBuf::from(rel);
        if here.exists() {
            here
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
        }
    };
    let model = root(DEFAULT_MODEL);
    let scene = root("data/eth_ucy/biwi_eth.txt");
    let flags = SamplerFlags::default();
    outln!(
        "fewstep {}: {} (one-step student) on {} (held out from its training)",
        fewstep::VERSION,
        model.display(),
        scene.display()
    )?;
    eval(
        &model,
        &scene,
        20,
        true,
        false,
        SessionOptions::default(),
        &[0],
        flags,
    )?;
    forecast(
        &model,
        &scene,
        SessionOptions {
            fit_batches: true,
            ..Default::default()
        },
        0,
        None,
        Some(Path::new("forecast.png")),
        None,
        flags,
    )?;
    outln!("(other commands: fewstep --help)")?;
    Ok(())
}

/// One agent at one frame: id, observed track, K futures.
type AgentForecast = (f64, Vec<[f32; 2]>, Vec<[[f32; 2]; 12]>);

/// One frame's forecasts, kept for the JSON and the picture.
struct FrameForecast {
    frame: f64,
    agents: Vec<AgentForecast>,
}

/// The streaming forecaster of `forecast` and `stream`: `max_agents` agents, the backend,
/// precision, threads and batch fitting of `session`, and the sampler `flags` make of the card's.
fn forecaster(
    model: &Model,
    max_agents: usize,
    session: &SessionOptions,
    seed: u64,
    flags: SamplerFlags,
) -> Result<fewstep::forecast::Forecaster, Error> {
    let opts = fewstep::forecast::ForecasterOptions {
        max_agents,
        backend: session.backend,
        precision: session.precision,
        seed,
        threads: session.threads,
        fit_batches: session.fit_batches,
    };
    let mut f = fewstep::forecast::Forecaster::new(model, opts)?;
    if let Some((m, grid)) = flags.resolve(f.session().method(), f.session().times()) {
        f.set_sampler(m, &grid)?;
    }
    Ok(f)
}

#[allow(clippy::too_many_arguments)]
fn forecast(
    model: &Path,
    scene: &Path,
    session: SessionOptions,
    seed: u64,
    json_out: Option<&Path>,
    png_out: Option<&Path>,
    pick: Option<f64>,
    flags: SamplerFlags,
) -> Result<(), Error> {
    use fewstep::forecast::draw::{Canvas, palette};
    use fewstep::forecast::{OBS, scene as scene_file};
    let model = Model::load(model)?;
    let s = scene_file::load(scene)?;
    let ranges = s.frame_ranges();
    let max_agents = ranges.iter().map(|r| r.len()).max().unwrap_or(1);
    let mut f = forecaster(&model, max_agents, &session, seed, flags)?;
    let mut out = f.new_output();
    let mut history: std::collections::HashMap<u64, Vec<[f32; 2]>> = Default::default();
    let mut frames: Vec<FrameForecast> = Vec::new();
    let mut obs = Vec::with_capacity(max_agents);
    let mut secs = 0f64;
    for (fi, r) in ranges.iter().enumerate() {
        obs.clear();
        obs.extend(
            s.rows[r.clone()]
                .iter()
                .map(|row| (row.agent, row.x, row.y)),
        );
        for row in &s.rows[r.clone()] {
            history
                .entry(row.agent.to_bits())
                .or_default()
                .push([row.x, row.y]);
        }
        let t = Instant::now();
        f.observe(s.frames[fi], &obs)?;
        let n = f.predict(&mut out)?;
        secs += t.elapsed().as_secs_f64();
        if n > 0 {
            let agents = (0..n)
                .map(|i| {
                    let h = &history[&out.agent(i).to_bits()];
                    (
                        out.agent(i),
                        h[h.len().saturating_sub(OBS)..].to_vec(),
                        out.futures(i).to_vec(),
                    )
                })
                .collect();
            frames.push(FrameForecast {
                frame: s.frames[fi],
                agents,
            });
        }
    }
    let forecasts: usize = frames.iter().map(|f| f.agents.len()).sum();
    eprintln!(
        "{}: {} frames, {} agent forecasts ({} futures each), {:?} backend, {:.1} µs per frame (observe + predict)",
        scene.display(),
        s.frames.len(),
        forecasts,
        out.k(),
        f.session().info().backend,
        secs * 1e6 / s.frames.len().max(1) as f64
    );
    if let Some(p) = json_out {
        let j = json!({
            "model": model.card().map(|c| c.provenance.clone()),
            "scene": scene.display().to_string(),
            "frame_step": s.frame_step,
            "k": out.k(),
            "frames": frames.iter().map(|f| json!({
                "frame": f.frame,
                "agents": f.agents.iter().map(|(a, o, fut)| json!({"id": a, "observed": o, "futures": fut})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let tmp = p.with_extension("json.tmp");
        let io = Error::writing(p);
        std::fs::write(&tmp, serde_json::to_vec(&j).expect("json")).map_err(io)?;
        std::fs::rename(&tmp, p).map_err(io)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = png_out {
        let chosen = match pick {
            Some(fr) => frames.iter().find(|f| f.frame == fr).ok_or_else(|| {
                Error::InvalidArgument(format!("--frame {fr}: no forecasts at that frame"))
            })?,
            None => frames
                .iter()
                .max_by_key(|f| (f.agents.len(), std::cmp::Reverse((f.frame * 1e3) as i64)))
                .ok_or_else(|| {
                    Error::BadScene(format!(
                        "{}: no agent has 8 consecutive frames",
                        scene.display()
                    ))
                })?,
        };
        // ground truth after the chosen frame, for reference
        let idx = s
            .frames
            .iter()
            .position(|&x| x == chosen.frame)
            .expect("a scene frame");
        let truth = |a: f64| -> Vec<[f32; 2]> {
            ranges[idx..(idx + 13).min(ranges.len())]
                .iter()
                .filter_map(|r| {
                    s.rows[r.clone()]
                        .iter()
                        .find(|row| row.agent == a)
                        .map(|row| [row.x, row.y])
                })
                .collect()
        };
        let pts = chosen
            .agents
            .iter()
            .flat_map(|(_, o, fut)| o.iter().copied().chain(fut.iter().flatten().copied()));
        let mut c = Canvas::fitting(960, 720, pts);
        for (i, (a, o, fut)) in chosen.agents.iter().enumerate() {
            let col = palette(i);
            for path in fut {
                let mut p = vec![o[o.len() - 1]];
                p.extend_from_slice(path);
                c.polyline(&p, col, 0.25, 1.5);
            }
            c.polyline(&truth(*a), [0, 0, 0], 0.8, 1.5);
            c.polyline(o, col, 1.0, 3.5);
            c.dot(o[o.len() - 1], col, 4.0);
        }
        c.save_png(p)?;
        eprintln!(
            "wrote {} (frame {}: {} agents; observed = thick, {} futures = thin, truth = black)",
            p.display(),
            chosen.frame,
            chosen.agents.len(),
            out.k()
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn eval(
    model: &Path,
    scene: &Path,
    k: usize,
    sgan: bool,
    as_json: bool,
    session: SessionOptions,
    seeds: &[u64],
    flags: SamplerFlags,
) -> Result<(), Error> {
    use fewstep::forecast::eval::{EvalOptions, evaluate, modes_won, spread};
    use fewstep::forecast::{scene as scene_file, windows::windows};
    let model = Model::load(model)?;
    flags.refuse_generator(model.card().map(|c| c.kind))?;
    let files: Vec<PathBuf> = if scene.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(scene)
            .map_err(|source| Error::Io {
                path: scene.display().to_string(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        v.sort();
        v
    } else {
        vec![scene.to_path_buf()]
    };
    if files.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no .txt scene files",
            scene.display()
        )));
    }
    let opts = EvalOptions {
        k,
        backend: session.backend,
        precision: session.precision,
        threads: session.threads,
        steps: flags.steps,
        method: flags.method,
        ..Default::default()
    };
    let seed_count = seeds.len() as f64;
    let mut rows = Vec::new();
    let (mut n, mut us, mut endpoint_spread) = (0usize, 0f64, 0f64);
    // window-weighted sums over the files, one per seed
    let (mut ade, mut fde) = (vec![0f64; seeds.len()], vec![0f64; seeds.len()]);
    let mut wins = vec![0usize; k];
    for f in &files {
        let s = scene_file::load(f)?;
        let ws = windows(&s, if sgan { 2 } else { 1 });
        if ws.is_empty() {
            return Err(Error::BadScene(format!(
                "{}: no complete 20-frame window",
                f.display()
            )));
        }
        // this file's means over the seeds
        let (mut file_ade, mut file_fde, mut file_us, mut file_spread) = (0f64, 0f64, 0f64, 0f64);
        let mut file_wins = vec![0usize; k];
        let mut file_windows = 0;
        for (i, &seed) in seeds.iter().enumerate() {
            let r = evaluate(
                &model,
                &ws,
                &EvalOptions {
                    seed,
                    ..opts.clone()
                },
            )?;
            file_windows = r.windows;
            let w = r.windows as f64;
            ade[i] += r.min_ade * w;
            fde[i] += r.min_fde * w;
            file_ade += r.min_ade / seed_count;
            file_fde += r.min_fde / seed_count;
            file_us += r.us_per_window / seed_count;
            file_spread += r.endpoint_spread / seed_count;
            file_wins.iter_mut().zip(&r.wins).for_each(|(a, b)| *a += b);
        }
        let w = file_windows as f64;
        n += file_windows;
        us += file_us * w;
        endpoint_spread += file_spread * w;
        wins.iter_mut().zip(&file_wins).for_each(|(a, b)| *a += b);
        rows.push(json!({"scene": f.display().to_string(), "frame_step": s.frame_step, "windows": file_windows,
            "min_ade": file_ade, "min_fde": file_fde, "us_per_window": file_us, "modes_won": modes_won(&file_wins), "wins": file_wins, "endpoint_spread": file_spread}));
    }
    let (ade, fde): (Vec<f64>, Vec<f64>) = (
        ade.iter().map(|a| a / n as f64).collect(),
        fde.iter().map(|f| f / n as f64).collect(),
    );
    let (ade_spread, fde_spread) = (spread(&ade), spread(&fde));
    let spread_json = |s: fewstep::forecast::eval::Spread| json!({"mean": s.mean, "sd": s.sd, "lowest": s.lowest, "highest": s.highest});
    let per_seed_json: Vec<_> = seeds
        .iter()
        .zip(ade.iter().zip(&fde))
        .map(|(seed, (a, f))| json!({"seed": seed, "min_ade": a, "min_fde": f}))
        .collect();
    let total = json!({"windows": n, "min_ade": ade_spread.mean, "min_fde": fde_spread.mean, "us_per_window": us / n as f64,
        "modes_won": modes_won(&wins), "wins": wins, "endpoint_spread": endpoint_spread / n as f64,
        "per_seed": per_seed_json, "min_ade_over_seeds": spread_json(ade_spread), "min_fde_over_seeds": spread_json(fde_spread)});
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"k": k, "sgan_filter": sgan, "seeds": seeds, "scenes": rows, "total": total})
            )
            .expect("json")
        )?;
        return Ok(());
    }
    if seeds.len() > 1 {
        outln!("means over {} noise seeds:", seeds.len())?;
    }
    outln!(
        "{:<40} {:>8} {:>10} {:>10} {:>12} {:>10}",
        "scene",
        "windows",
        &format!("minADE{k}"),
        &format!("minFDE{k}"),
        "µs/window",
        "modes won"
    )?;
    for r in rows.iter().chain(std::iter::once(&json!({"scene": "all", "windows": total["windows"], "min_ade": total["min_ade"], "min_fde": total["min_fde"], "us_per_window": total["us_per_window"], "modes_won": total["modes_won"]}))) {
        outln!(
            "{:<40} {:>8} {:>10.3} {:>10.3} {:>12.1} {:>10}",
            r["scene"].as_str().unwrap_or(""),
            // a JSON value's Display ignores width: the number pads
            r["windows"].as_u64().unwrap_or(0),
            r["min_ade"].as_f64().unwrap_or(0.0),
            r["min_fde"].as_f64().unwrap_or(0.0),
            r["us_per_window"].as_f64().unwrap_or(0.0),
            format!("{}/{k}", r["modes_won"])
        )?;
    }
    if seeds.len() > 1 {
        let line = |name: &str, s: fewstep::forecast::eval::Spread| {
            format!(
                "{name}{k} {:.4} ± {:.4} ({:.4} – {:.4})",
                s.mean, s.sd, s.lowest, s.highest
            )
        };
        outln!(
            "all, over the seeds (mean ± sd, lowest – highest): {}, {}",
            line("minADE", ade_spread),
            line("minFDE", fde_spread)
        )?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(cmd) = &cli.cmd else {
        return match demo() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if reader_left(&e) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    };
    match dispatch(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if reader_left(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand.
fn dispatch(cmd: &Cmd) -> Result<(), Error> {
    match cmd {
        Cmd::Info { model, dims } => info(model, dims),
        Cmd::Run {
            model,
            inputs,
            output_dir,
            backend,
            precision,
            dims,
        } => run(model, inputs, output_dir, backend, precision, dims),
        Cmd::Sample {
            model,
            cond,
            noise,
            seed,
            out,
            dims,
            sampler,
            cpu,
        } => sample(
            model,
            cond.as_deref(),
            noise.as_deref(),
            *seed,
            out,
            sampler.flags()?,
            cpu.options()?,
            dims,
        ),
        Cmd::Forecast {
            model,
            scene,
            seed,
            json,
            png,
            frame,
            pad,
            sampler,
            cpu,
        } => forecast(
            model,
            scene,
            SessionOptions {
                fit_batches: !*pad,
                ..cpu.options()?
            },
            *seed,
            json.as_deref(),
            png.as_deref(),
            *frame,
            sampler.flags()?,
        ),
        Cmd::Stream {
            model,
            input,
            max_agents,
            seed,
            pad,
            sampler,
            cpu,
        } => stream::stream(stream::StreamArgs {
            model,
            input,
            max_agents: *max_agents,
            session: SessionOptions {
                fit_batches: !*pad,
                ..cpu.options()?
            },
            seed: *seed,
            flags: sampler.flags()?,
        }),
        Cmd::Eval {
            model,
            scene,
            k,
            sgan_filter,
            json,
            seed,
            sampler,
            cpu,
        } => eval(
            model,
            scene,
            *k,
            *sgan_filter,
            *json,
            cpu.options()?,
            &seed.0,
            sampler.flags()?,
        ),
        Cmd::Bench {
            model,
            backend,
            precision,
            iters,
            dims,
            json,
            gpu_f16,
            threads,
            sampler,
        } => bench(
            model,
            &bench_configs(backend, precision, gpu_f16, threads)?,
            *iters,
            dims,
            *json,
            sampler.flags()?,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `fewstep COMMAND --help` explains every command and every flag.
    #[test]
    fn every_command_and_flag_has_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(sub.get_name().to_string());
            }
            for arg in sub.get_arguments() {
                if arg.get_help().is_none() {
                    missing.push(format!("{} {}", sub.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
