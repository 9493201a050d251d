//! `Session`: a model bound to concrete shapes, a backend and a precision, with every buffer
//! allocated up front. [`Session::sample`] and [`Session::run`] never allocate on the native
//! backend (asserted by `tests/alloc.rs`).

use std::collections::BTreeMap;

use crate::buffers::zeroed;
use crate::card::{CardDim, Kind, Method, Prediction, grid_problem, sampler_refusal, uniform_grid};
use crate::cpu::Isa;
use crate::cpu::finite::first_non_finite;
use crate::error::Error;
use crate::ir;
use crate::model::Model;
use crate::native::{NativeEngine, SharedWeights};
use crate::plan;
use crate::pool::{RowPool, chunk_rows};
use crate::sampler::{self, VelocityField};
use crate::tract::TractEngine;

/// Which engine runs the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Native if every op is covered, else tract.
    #[default]
    Auto,
    /// fewstep's own CPU kernels.
    Native,
    /// tract's optimized plan (any ONNX graph tract can run).
    Tract,
    /// The GPU through wgpu (cargo feature `gpu`): the native op set as WGSL kernels. Without
    /// an adapter, building a session fails with `Error::BackendUnavailable`; `Auto` never
    /// picks it.
    Gpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(Backend::Auto),
            "native" => Ok(Backend::Native),
            "tract" => Ok(Backend::Tract),
            "gpu" => Ok(Backend::Gpu),
            _ => Err(Error::InvalidArgument(format!(
                "unknown backend {s:?} (auto, native, tract, gpu)"
            ))),
        }
    }
}

/// Storage precision of weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 everywhere.
    #[default]
    F32,
    /// Matrix weights stored as f16, all arithmetic and accumulation in f32.
    F16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(Error::InvalidArgument(format!(
                "unknown precision {s:?} (f32, f16)"
            ))),
        }
    }
}

/// Which f16 path a GPU session at [`Precision::F16`] takes (ignored elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuF16Mode {
    /// f16 weights and activations when the adapter has `SHADER_F16`, else packed f16 weights.
    #[default]
    Auto,
    /// f16 weights and activations (f32 math); an error if the adapter lacks `SHADER_F16`.
    ShaderF16,
    /// f16 weights packed two per u32, f32 activations and math, on any adapter.
    PackedWeights,
}

impl std::str::FromStr for GpuF16Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(GpuF16Mode::Auto),
            "shader" => Ok(GpuF16Mode::ShaderF16),
            "packed" => Ok(GpuF16Mode::PackedWeights),
            _ => Err(Error::InvalidArgument(format!(
                "unknown GPU f16 path {s:?} (auto, shader, packed)"
            ))),
        }
    }
}

/// How to build a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    pub backend: Backend,
    pub precision: Precision,
    /// The GPU's f16 path at `Precision::F16`; `Auto` unless comparing paths.
    pub gpu_f16: GpuF16Mode,
    /// Values of the symbols in input shapes (e.g. `N` = 20). A symbol left out is an error.
    pub dims: BTreeMap<String, usize>,
    /// CPU threads that share a sampler call's batch (0 or 1: the calling thread only). With
    /// more, the batch's rows (e.g. agents) are split into that many chunks, each sampled by
    /// a session of its own (sharing the packed weights on the native backend), all but the
    /// first on worker threads started at build: the same samples to f32 rounding (the
    /// kernels' register tiles depend on the row count), bit for bit from call to call, still
    /// without allocation or lock: a call hands the chunks over through atomics and wakes the
    /// workers by unparking them (Linux, Android: a futex). Locks are taken only by
    /// `set_sampler`, when a chunk fails, and on the first call from a thread other than the
    /// last caller's (which registers that thread to be woken; on a thread that Rust did not
    /// start, e.g. a C caller's, the first call there also allocates its `Thread` handle).
    /// Needs a card whose state and condition share a symbolic batch axis, rows that do not
    /// interact (as `sample_batch` assumes), and a CPU backend. Such a session holds no engine
    /// for the whole batch: `run` too is split by rows over the chunks.
    pub threads: usize,
    /// Make [`Session::sample_batch`] cost about its own rows: a ladder of sessions for 1, 2,
    /// 4, … rows (below the batch) is built beside the full one, sharing its packed weights,
    /// and a partial batch runs on the smallest that holds it instead of padding the full
    /// batch (at most twice its rows, for the memory of about one more full-batch arena).
    /// Samples equal the padded ones to f32 rounding. CPU backends, for a card whose state
    /// and condition share a symbolic batch axis; otherwise the batch is padded as without it.
    /// With `threads`, each chunk has its own ladder.
    pub fit_batches: bool,
}

/// What a session was built with, for reports.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The backend actually used.
    pub backend: Backend,
    pub precision: Precision,
    /// Why `Auto` did not pick native, if it did not.
    pub fallback_reason: Option<String>,
    /// Instruction set of the native kernels.
    pub isa: Option<&'static str>,
    pub weight_bytes: usize,
    pub arena_bytes: usize,
    pub nodes: usize,
    /// For the GPU backend: adapter, fp16 path and shader compile time.
    pub gpu: Option<GpuInfo>,
    /// Threads a full batch is sampled on (1 unless `SessionOptions::threads` split it; then
    /// `weight_bytes` and `arena_bytes` are those of the chunks' sessions, the packed matrices
    /// they share counted once).
    pub threads: usize,
}

/// What a GPU session runs on.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    /// Adapter name and graphics API.
    pub adapter: String,
    /// How f16 is handled ([`crate::gpu::GpuF16Path::describe`]).
    pub f16_path: &'static str,
    /// Shader modules and pipelines created at session build.
    pub compile_time: std::time::Duration,
    /// Kernel launches per forward pass.
    pub dispatches: usize,
}

enum Engine {
    Native(NativeEngine),
    Tract(TractEngine),
    #[cfg(feature = "gpu")]
    Gpu(Box<crate::gpu::GpuEngine>),
}

impl Engine {
    fn input_mut(&mut self, i: usize) -> &mut [f32] {
        match self {
            Engine::Native(e) => e.input_mut(i),
            Engine::Tract(e) => e.input_mut(i),
            #[cfg(feature = "gpu")]
            Engine::Gpu(e) => e.input_mut(i),
        }
    }
    fn output(&self, i: usize) -> &[f32] {
        match self {
            Engine::Native(e) => e.output(i),
            Engine::Tract(e) => e.output(i),
            #[cfg(feature = "gpu")]
            Engine::Gpu(e) => e.output(i),
        }
    }
    fn run(&mut self) -> Result<(), Error> {
        match self {
            Engine::Native(e) => {
                e.run();
                Ok(())
            }
            Engine::Tract(e) => e.run(),
            #[cfg(feature = "gpu")]
            Engine::Gpu(e) => e.run(),
        }
    }
}

/// Roles resolved to input/output indices, for sampling.
#[derive(Debug, Clone, Copy)]
struct Roles {
    kind: Kind,
    state: usize,
    time: Option<usize>,
    cond: Option<usize>,
    output: usize,
}

/// What runs a session's batch: its own engine, or (with `SessionOptions::threads` > 1) the
/// sessions of its chunks, on worker threads, with no engine for the whole batch.
enum Exec {
    Engine(Engine),
    Rows(RowPool),
}

/// A model ready to run. `Send`; build one per thread.
pub struct Session {
    exec: Exec,
    info: SessionInfo,
    input_lens: Vec<usize>,
    output_lens: Vec<usize>,
    roles: Option<Roles>,
    method: Method,
    times: Vec<f32>,
    /// The card's `prediction`, which can rule samplers out.
    prediction: Option<Prediction>,
    /// Elements of the sampler state (noise and sample) of the whole batch.
    state_len: usize,
    /// The sampler's state and scratch (empty with `Exec::Rows`, whose chunks hold their own).
    state: Vec<f32>,
    scratch: Vec<f32>,
    batch_rows: usize,
    /// Padding for a partial batch that no `fit_batches` session holds (empty with
    /// `Exec::Rows`, whose chunks pad their own).
    batch: BatchBuffers,
    /// With `fit_batches`: sessions for 1, 2, 4, … rows (fewer than `batch_rows`), ascending.
    ladder: Vec<Session>,
}

/// Full-batch copies for `sample_batch`, allocated at build.
#[derive(Default)]
struct BatchBuffers {
    cond: Vec<f32>,
    noise: Vec<f32>,
    out: Vec<f32>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("info", &self.info).finish()
    }
}

/// Checks a sampler a session is asked to use: a valid time grid ([`grid_problem`]), and
/// nothing [`sampler_refusal`] refuses for the card's `prediction`.
fn check_sampler(
    prediction: Option<Prediction>,
    method: Method,
    times: &[f32],
) -> Result<(), Error> {
    if let Some(why) = grid_problem(times) {
        return Err(Error::InvalidArgument(format!("the time grid {why}")));
    }
    match sampler_refusal(prediction, method, times) {
        Some(why) => Err(Error::InvalidArgument(why)),
        None => Ok(()),
    }
}

/// Lowers the model to fewstep's IR for the given dims; the error names the first op native lacks.
pub(crate) fn lower_native(
    model: &Model,
    dims: &BTreeMap<String, usize>,
) -> Result<ir::Graph, Error> {
    let typed = model.bound(dims)?;
    let mut g = ir::lower::lower(&typed)?;
    ir::fuse::fuse(&mut g);
    Ok(g)
}

impl Session {
    /// Builds a session: binds symbols, lowers, plans memory and allocates every buffer.
    pub fn new(model: &Model, opts: SessionOptions) -> Result<Session, Error> {
        Self::build(model, opts, None)
    }

    /// [`Session::new`], on the native backend reusing `shared` packed weights where they are
    /// this model's.
    fn build(
        model: &Model,
        opts: SessionOptions,
        shared: Option<&SharedWeights>,
    ) -> Result<Session, Error> {
        let dims = &opts.dims;
        if let Some((s, _)) = dims.iter().find(|(_, v)| **v == 0) {
            return Err(Error::InvalidArgument(format!(
                "symbol {s} = 0: every dimension must be at least 1"
            )));
        }
        let (engine, info) = match opts.backend {
            Backend::Tract => Self::tract(model, dims, opts.precision, None)?,
            Backend::Native => Self::native(model, dims, opts.precision, shared)?,
            Backend::Gpu => Self::gpu(model, dims, opts.precision, opts.gpu_f16)?,
            Backend::Auto => match Self::native(model, dims, opts.precision, shared) {
                Ok(x) => x,
                Err(Error::Unsupported(why)) => {
                    Self::tract(model, dims, opts.precision, Some(why))?
                }
                Err(e) => return Err(e),
            },
        };
        let shapes = model.input_shapes(dims)?;
        let input_lens = shapes
            .iter()
            .map(|(_, s)| s.iter().product())
            .collect::<Vec<usize>>();
        let output_lens = (0..model.outputs().len())
            .map(|i| engine.output(i).len())
            .collect::<Vec<_>>();
        let roles = model.card().map(|c| {
            let inp = |n: &str| {
                model
                    .inputs()
                    .iter()
                    .position(|i| i.name == n)
                    .expect("card checked at load")
            };
            Roles {
                kind: c.kind,
                state: inp(&c.roles.state),
                time: c.roles.time.as_deref().map(inp),
                cond: c.roles.cond.as_deref().map(inp),
                output: model
                    .outputs()
                    .iter()
                    .position(|o| o.name == c.roles.output)
                    .expect("card checked at load"),
            }
        });
        let (method, times) = model
            .card()
            .and_then(|c| c.sampler.as_ref())
            .map(|s| (s.method, s.times.clone()))
            .unwrap_or((Method::Euler, vec![0.0, 1.0]));
        let state_len = roles.map(|r| input_lens[r.state]).unwrap_or(0);
        if let Some(r) = roles
            && output_lens[r.output] != state_len
        {
            return Err(Error::BadCard(format!(
                "output {} has {} elements but the state has {state_len}",
                model.outputs()[r.output].name,
                output_lens[r.output]
            )));
        }
        // the batch axis: the state's leading axis, when the condition shares it
        let lead = |i: usize| shapes[i].1.first().copied();
        let batch_rows = roles
            .and_then(|r| {
                let n = lead(r.state).filter(|&n| n > 0)?;
                r.cond.is_none_or(|c| lead(c) == Some(n)).then_some(n)
            })
            .unwrap_or(1);
        let cond_len = roles.and_then(|r| r.cond).map_or(0, |c| input_lens[c]);
        let weights = match &engine {
            Engine::Native(e) => Some(e.shared_weights()),
            _ => None,
        };
        let pool = match opts.threads {
            0 | 1 => None,
            threads => {
                let chunks = Self::chunk_sessions(
                    model,
                    &opts,
                    &info,
                    roles,
                    batch_rows,
                    threads,
                    weights.as_ref(),
                )?;
                Some(RowPool::new(chunks, &input_lens, &output_lens)?)
            }
        };
        let symbol = roles.and_then(|r| batch_symbol(model, r));
        let ladder = match symbol {
            Some(symbol) if opts.fit_batches && pool.is_none() && info.backend != Backend::Gpu => {
                let part = SessionOptions {
                    fit_batches: false,
                    ..opts.clone()
                };
                std::iter::successors(Some(1usize), |n| Some(n * 2))
                    .take_while(|&n| n < batch_rows)
                    .map(|n| Self::part(model, &part, info.backend, &symbol, n, weights.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => Vec::new(),
        };
        let mut info = info;
        if let Some(p) = &pool {
            // the whole batch's engine is dropped below; its packed matrices live on in the
            // chunks, which share them (counted once, here)
            let (chunk_weights, arenas) = p.bytes();
            let shared = weights.as_ref().map_or(0, SharedWeights::bytes);
            info.threads = p.threads();
            info.weight_bytes = shared + chunk_weights;
            info.arena_bytes = arenas;
        }
        for s in &ladder {
            info.weight_bytes += s.info.weight_bytes;
            info.arena_bytes += s.info.arena_bytes;
        }
        // a multi-threaded session samples and runs on its chunks only
        let (exec, own) = match pool {
            Some(pool) => (Exec::Rows(pool), 0),
            None => (Exec::Engine(engine), 1),
        };
        Ok(Session {
            exec,
            info,
            input_lens,
            output_lens,
            roles,
            method,
            times,
            prediction: model.card().and_then(|c| c.prediction),
            state_len,
            state: zeroed(own * state_len, "sampler state")?,
            scratch: zeroed(own * state_len, "sampler scratch")?,
            batch_rows,
            batch: BatchBuffers {
                cond: zeroed(own * cond_len, "condition buffer")?,
                noise: zeroed(own * state_len, "noise buffer")?,
                out: zeroed(own * state_len, "output buffer")?,
            },
            ladder,
        })
    }

    /// The sessions that share a batch over `threads` CPU threads (`SessionOptions::threads`),
    /// one per chunk of rows.
    fn chunk_sessions(
        model: &Model,
        opts: &SessionOptions,
        info: &SessionInfo,
        roles: Option<Roles>,
        batch_rows: usize,
        threads: usize,
        weights: Option<&SharedWeights>,
    ) -> Result<Vec<Session>, Error> {
        let refuse = |why: &str| {
            Err(Error::InvalidArgument(format!(
                "threads = {threads}: {why}"
            )))
        };
        if info.backend == Backend::Gpu {
            return refuse(
                "the GPU backend runs the whole batch itself; threads are for CPU backends",
            );
        }
        let Some(r) = roles else {
            return refuse("a model without a card has no batch to split");
        };
        let Some(symbol) = batch_symbol(model, r) else {
            return refuse(
                "the batch is split along the state's leading axis, which must be a symbol the \
                 condition shares (e.g. N)",
            );
        };
        chunk_rows(batch_rows, threads)
            .into_iter()
            .map(|n| Self::part(model, opts, info.backend, &symbol, n, weights))
            .collect()
    }

    /// A single-threaded session like `opts` on `backend` (the one the whole session resolved
    /// to) for `rows` rows of the batch axis `symbol`, sharing `weights`: a thread's chunk or a
    /// step of the `fit_batches` ladder.
    fn part(
        model: &Model,
        opts: &SessionOptions,
        backend: Backend,
        symbol: &str,
        rows: usize,
        weights: Option<&SharedWeights>,
    ) -> Result<Session, Error> {
        let mut o = SessionOptions {
            backend,
            threads: 1,
            ..opts.clone()
        };
        o.dims.insert(symbol.to_string(), rows);
        Session::build(model, o, weights)
    }

    fn native(
        model: &Model,
        dims: &BTreeMap<String, usize>,
        precision: Precision,
        shared: Option<&SharedWeights>,
    ) -> Result<(Engine, SessionInfo), Error> {
        let g = lower_native(model, dims)?;
        let p = plan::plan(&g);
        let e = NativeEngine::new(&g, &p, precision, Isa::detect(), shared)?;
        let info = SessionInfo {
            backend: Backend::Native,
            precision,
            fallback_reason: None,
            isa: Some(e.isa().name()),
            weight_bytes: e.weight_bytes(),
            arena_bytes: e.arena_bytes(),
            nodes: g.nodes.len(),
            gpu: None,
            threads: 1,
        };
        Ok((Engine::Native(e), info))
    }

    #[cfg(feature = "gpu")]
    fn gpu(
        model: &Model,
        dims: &BTreeMap<String, usize>,
        precision: Precision,
        gpu_f16: GpuF16Mode,
    ) -> Result<(Engine, SessionInfo), Error> {
        // the adapter first: "no GPU" is the answer even for a model the GPU could not run
        crate::gpu::context()?;
        let g = lower_native(model, dims)?;
        let p = plan::plan(&g);
        let state_input = model
            .card()
            .and_then(|c| model.inputs().iter().position(|i| i.name == c.roles.state));
        let e = crate::gpu::GpuEngine::new(&g, &p, precision, gpu_f16, state_input)?;
        let info = SessionInfo {
            backend: Backend::Gpu,
            precision,
            fallback_reason: None,
            isa: None,
            weight_bytes: e.weight_bytes(),
            arena_bytes: e.arena_bytes(),
            nodes: g.nodes.len(),
            gpu: Some(GpuInfo {
                adapter: e.adapter().to_string(),
                f16_path: e.f16_path().describe(),
                compile_time: e.compile_time(),
                dispatches: e.dispatches(),
            }),
            threads: 1,
        };
        Ok((Engine::Gpu(Box::new(e)), info))
    }

    #[cfg(not(feature = "gpu"))]
    fn gpu(
        _: &Model,
        _: &BTreeMap<String, usize>,
        _: Precision,
        _: GpuF16Mode,
    ) -> Result<(Engine, SessionInfo), Error> {
        Err(Error::BackendUnavailable(
            "this build of fewstep has no GPU backend (cargo feature `gpu`)".into(),
        ))
    }

    /// Timings of the last GPU run (encode, submit-to-readback); `None` on other backends.
    pub fn gpu_timing(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        match &self.exec {
            #[cfg(feature = "gpu")]
            Exec::Engine(Engine::Gpu(e)) => {
                Some((e.timing().encode, e.timing().submit_to_readback))
            }
            _ => None,
        }
    }

    fn tract(
        model: &Model,
        dims: &BTreeMap<String, usize>,
        precision: Precision,
        fallback_reason: Option<String>,
    ) -> Result<(Engine, SessionInfo), Error> {
        let mut typed = model.bound(dims)?;
        if precision == Precision::F16 {
            let t = tract_core::transform::get_transform("f32_to_f16")
                .map_err(Error::bad_model)?
                .ok_or_else(|| Error::Unsupported("tract has no f32_to_f16 transform".into()))?;
            crate::tract::no_panic(
                || Error::BadModel("tract panicked converting the graph to f16".into()),
                || t.transform(&mut typed).map_err(Error::bad_model),
            )?;
        }
        let weight_bytes = typed
            .nodes()
            .iter()
            .filter_map(|n| n.op_as::<tract_core::ops::konst::Const>())
            .map(|c| c.val().len() * c.val().datum_type().size_of())
            .sum();
        let nodes = typed.nodes().len();
        let e = TractEngine::new(typed)?;
        let info = SessionInfo {
            backend: Backend::Tract,
            precision,
            fallback_reason,
            isa: None,
            weight_bytes,
            arena_bytes: 0,
            nodes,
            gpu: None,
            threads: 1,
        };
        Ok((Engine::Tract(e), info))
    }

    /// What the session was built with.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// Element counts of the graph inputs, in order.
    pub fn input_lens(&self) -> &[usize] {
        &self.input_lens
    }

    /// Element counts of the graph outputs, in order.
    pub fn output_lens(&self) -> &[usize] {
        &self.output_lens
    }

    /// Length of the state (noise and sample) for `sample`; 0 without a card.
    pub fn state_len(&self) -> usize {
        self.state_len
    }

    /// Length of the condition for `sample`; 0 if the model is unconditional or has no card.
    pub fn cond_len(&self) -> usize {
        self.roles
            .and_then(|r| r.cond)
            .map(|c| self.input_lens[c])
            .unwrap_or(0)
    }

    /// Rows of the sampler's batch: the size of the state input's leading axis (e.g. `N`
    /// agents) when the condition shares it, else 1. [`Session::sample_batch`] takes up to
    /// this many conditions.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
    }

    /// Samples `rows` conditions (1 ≤ `rows` ≤ [`Session::batch_rows`]) in one call; on the
    /// GPU that is one submit. `cond` and `noise` hold `rows` rows, `out` receives `rows` rows.
    /// The rows of the built batch beyond `rows` run on zeros and are discarded, so a session
    /// built for the largest batch (every agent of a crowded frame, or many scenes' agents)
    /// serves every smaller one without a rebuild (with `SessionOptions::fit_batches`, a
    /// smaller session of its ladder runs them instead; with `threads`, the chunks share
    /// them). Rows must not interact in the model (true of per-agent forecasters). Inputs and
    /// output are checked as [`Session::sample`] checks them (the padding rows' output is
    /// not). No allocation.
    pub fn sample_batch(
        &mut self,
        rows: usize,
        cond: &[f32],
        noise: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        if rows == 0 || rows > self.batch_rows {
            return Err(Error::InvalidArgument(format!(
                "a batch of {rows} rows: this session takes 1 to {}",
                self.batch_rows
            )));
        }
        if rows == self.batch_rows {
            return self.sample(cond, noise, out);
        }
        // rows < batch_rows: only a carded model has a batch of more than one row
        let r = self.roles.ok_or(Error::NoCard)?;
        let state_row = self.state_len / self.batch_rows;
        let cond_row = self.cond_len() / self.batch_rows;
        check(cond, rows * cond_row, "cond")?;
        check(noise, rows * state_row, "noise")?;
        if out.len() != rows * state_row {
            return Err(Error::WrongLength {
                what: "out",
                expected: rows * state_row,
                got: out.len(),
            });
        }
        if let Exec::Rows(pool) = &mut self.exec {
            pool.sample(rows, cond, noise, out)?;
            return check_finite(out, "sample");
        }
        if let Some(fit) = self.ladder.iter_mut().find(|s| s.batch_rows >= rows) {
            // checked there as here
            return fit.sample_batch(rows, cond, noise, out);
        }
        let mut b = std::mem::take(&mut self.batch);
        b.cond[..cond.len()].copy_from_slice(cond);
        b.cond[cond.len()..].fill(0.0);
        b.noise[..noise.len()].copy_from_slice(noise);
        b.noise[noise.len()..].fill(0.0);
        // the padded copies are checked already: the rows were, and the padding is zeros
        let result = self.sample_checked(r, &b.cond, &b.noise, &mut b.out);
        if result.is_ok() {
            out.copy_from_slice(&b.out[..out.len()]);
        }
        self.batch = b;
        result?;
        check_finite(out, "sample")
    }

    /// Heap allocations made so far on this session's worker threads (with more than one of
    /// `SessionOptions::threads`), as counted by [`crate::alloc_count::Counting`] when it is
    /// the global allocator; 0 otherwise. With [`crate::alloc_count::thread_allocations`] on
    /// the calling thread, it gives a multi-threaded call's allocations exactly.
    pub fn worker_allocations(&self) -> usize {
        match &self.exec {
            Exec::Rows(pool) => pool.worker_allocations(),
            Exec::Engine(_) => 0,
        }
    }

    /// What the model's card says it is (`None`: no card, so nothing to sample).
    pub fn kind(&self) -> Option<Kind> {
        self.roles.map(|r| r.kind)
    }

    /// The sampler's time grid.
    pub fn times(&self) -> &[f32] {
        &self.times
    }

    /// The sampler's integration method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Replaces the sampler (method and time grid) of the card. Refused, and the sampler left
    /// as it was, for a model without a card (`Error::NoCard`) or a generator (which runs once),
    /// for a grid that is not ≥ 2 finite, strictly increasing entries, and for a sampler that
    /// would evaluate a data-predicting net at t = 1 ([`sampler_refusal`]).
    pub fn set_sampler(&mut self, method: Method, times: &[f32]) -> Result<(), Error> {
        match self.kind() {
            None => return Err(Error::NoCard),
            Some(Kind::Generator) => {
                return Err(Error::InvalidArgument(
                    "a generator runs once: it has no sampler to set".into(),
                ));
            }
            Some(Kind::Velocity) => {}
        }
        check_sampler(self.prediction, method, times)?;
        if let Exec::Rows(pool) = &mut self.exec {
            pool.set_sampler(method, times)?;
        }
        for s in &mut self.ladder {
            s.set_sampler(method, times)?;
        }
        self.method = method;
        self.times = times.to_vec();
        Ok(())
    }

    /// Replaces the time grid by `steps` uniform steps over the same interval (`--steps`);
    /// refused as [`Session::set_sampler`] refuses.
    pub fn set_uniform_steps(&mut self, steps: usize) -> Result<(), Error> {
        if steps == 0 {
            return Err(Error::InvalidArgument(
                "the number of steps must be at least 1".into(),
            ));
        }
        let (t0, t1) = (self.times[0], self.times[self.times.len() - 1]);
        self.set_times(&uniform_grid(t0, t1, steps))
    }

    /// Replaces the time grid (e.g. `--steps`) and keeps the method; refused as
    /// [`Session::set_sampler`] refuses.
    pub fn set_times(&mut self, times: &[f32]) -> Result<(), Error> {
        self.set_sampler(self.method, times)
    }

    /// One forward pass of the graph (no card needed): `inputs[i]` and `outputs[i]` in graph
    /// order, each of the exact length. NaN/Inf in an input is rejected with `Error::NonFinite`.
    /// With `SessionOptions::threads` > 1 the chunks run their rows of the batch; that needs
    /// every output (and every input but those without the batch axis) to scale with the
    /// batch, else it is refused (`Error::InvalidInput`).
    pub fn run(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) -> Result<(), Error> {
        if inputs.len() != self.input_lens.len() {
            return Err(Error::WrongLength {
                what: "number of inputs",
                expected: self.input_lens.len(),
                got: inputs.len(),
            });
        }
        if outputs.len() != self.output_lens.len() {
            return Err(Error::WrongLength {
                what: "number of outputs",
                expected: self.output_lens.len(),
                got: outputs.len(),
            });
        }
        for (i, x) in inputs.iter().enumerate() {
            check(x, self.input_lens[i], "input")?;
        }
        for (o, y) in outputs.iter().enumerate() {
            if y.len() != self.output_lens[o] {
                return Err(Error::WrongLength {
                    what: "output",
                    expected: self.output_lens[o],
                    got: y.len(),
                });
            }
        }
        match &mut self.exec {
            Exec::Rows(pool) => pool.run(inputs, outputs),
            Exec::Engine(_) => self.run_with(
                |i, buf| buf.copy_from_slice(inputs[i]),
                |o, buf| outputs[o].copy_from_slice(buf),
            ),
        }
    }

    /// One forward pass of a session with an engine, unchecked: `fill(i, buffer)` writes graph
    /// input `i`, `read(o, values)` takes output `o`. (A chunk of a multi-threaded session runs
    /// its rows this way; the whole batch's inputs were checked.)
    pub(crate) fn run_with(
        &mut self,
        mut fill: impl FnMut(usize, &mut [f32]),
        mut read: impl FnMut(usize, &[f32]),
    ) -> Result<(), Error> {
        let Exec::Engine(engine) = &mut self.exec else {
            return Err(Error::InvalidInput(
                "a chunk session runs on its own engine",
            ));
        };
        for i in 0..self.input_lens.len() {
            fill(i, engine.input_mut(i));
        }
        engine.run()?;
        for o in 0..self.output_lens.len() {
            read(o, engine.output(o));
        }
        Ok(())
    }

    /// Samples with the card's sampler: `noise` (the state at `times[0]`) and `cond` in,
    /// the sample out. A generator runs once. `cond` is empty for an unconditional model.
    /// NaN/Inf in `cond` or `noise` is rejected with `Error::NonFinite` before any work. A
    /// sample that comes out non-finite all the same (the model or its time grid overflowed
    /// f32) is an `Error::NonFinite` whose `what` is `"sample"`; `out` then holds it as it came.
    /// So an `Ok` sample is finite.
    pub fn sample(&mut self, cond: &[f32], noise: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let r = self.roles.ok_or(Error::NoCard)?;
        check(noise, self.state_len, "noise")?;
        check(cond, self.cond_len(), "cond")?;
        if out.len() != self.state_len {
            return Err(Error::WrongLength {
                what: "out",
                expected: self.state_len,
                got: out.len(),
            });
        }
        match &mut self.exec {
            Exec::Rows(pool) => pool.sample(self.batch_rows, cond, noise, out)?,
            Exec::Engine(_) => self.sample_checked(r, cond, noise, out)?,
        }
        check_finite(out, "sample")
    }

    /// `sample` once its checks hold: lengths exact, `cond` and `noise` finite.
    fn sample_checked(
        &mut self,
        r: Roles,
        cond: &[f32],
        noise: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let Exec::Engine(engine) = &mut self.exec else {
            return Err(Error::InvalidInput(
                "a multi-threaded session samples on its chunks",
            ));
        };
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(e) = engine {
            let roles = crate::gpu::GpuRoles {
                generator: r.kind == Kind::Generator,
                state: e.input_offset(r.state),
                time: r.time.map(|t| e.input_offset(t)),
                cond: r.cond.map(|c| e.input_offset(c)),
                output: e.output_offset(r.output).ok_or(Error::InvalidInput(
                    "the sampled output is a constant: nothing to run on the GPU",
                ))?,
            };
            return e.sample(roles, self.method, &self.times, cond, noise, out);
        }
        if let Some(c) = r.cond {
            engine.input_mut(c).copy_from_slice(cond);
        }
        match r.kind {
            Kind::Generator => {
                engine.input_mut(r.state).copy_from_slice(noise);
                engine.run()?;
                out.copy_from_slice(engine.output(r.output));
            }
            Kind::Velocity => {
                self.state.copy_from_slice(noise);
                let mut field = Field { engine, roles: r };
                sampler::integrate(
                    &mut field,
                    self.method,
                    &self.times,
                    &mut self.state,
                    &mut self.scratch,
                )?;
                out.copy_from_slice(&self.state);
            }
        }
        Ok(())
    }
}

fn check(x: &[f32], expected: usize, what: &'static str) -> Result<(), Error> {
    if x.len() != expected {
        return Err(Error::WrongLength {
            what,
            expected,
            got: x.len(),
        });
    }
    check_finite(x, what)
}

/// The batch axis that threads split and `fit_batches` resizes: the state's leading dimension,
/// when it is a symbol the condition shares.
fn batch_symbol(model: &Model, r: Roles) -> Option<String> {
    let lead = |i: usize| model.inputs()[i].shape.first();
    match lead(r.state) {
        Some(CardDim::Sym(s)) if r.cond.is_none_or(|c| lead(c) == lead(r.state)) => Some(s.clone()),
        _ => None,
    }
}

/// `Error::NonFinite` naming `what` and the index of the first NaN or infinity in `x`.
pub(crate) fn check_finite(x: &[f32], what: &'static str) -> Result<(), Error> {
    match first_non_finite(x) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite { what, index }),
    }
}

struct Field<'a> {
    engine: &'a mut Engine,
    roles: Roles,
}

impl VelocityField for Field<'_> {
    fn eval(&mut self, x: &[f32], t: f32) -> Result<(), Error> {
        self.engine.input_mut(self.roles.state).copy_from_slice(x);
        if let Some(ti) = self.roles.time {
            self.engine.input_mut(ti).fill(t);
        }
        self.engine.run()
    }
    fn velocity(&self) -> &[f32] {
        self.engine.output(self.roles.output)
    }
}

/// What the native backend would run for these dims: fused op counts, or why it cannot.
pub fn native_report(
    model: &Model,
    dims: &BTreeMap<String, usize>,
) -> Result<BTreeMap<String, usize>, Error> {
    let g = lower_native(model, dims)?;
    let mut ops = BTreeMap::new();
    for n in &g.nodes {
        let name = match &n.op {
            ir::Op::Linear { act, has_bias, .. } => format!("Linear(bias={has_bias}, act={act:?})"),
            ir::Op::Unary(u) => format!("{u:?}"),
            ir::Op::Binary { kind, .. } => format!("{kind:?}"),
            op => op.name().to_string(),
        };
        *ops.entry(name).or_insert(0) += 1;
    }
    Ok(ops)
}
