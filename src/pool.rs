//! Row-parallel sampling: a session's batch (e.g. the agents of a frame) split across threads.
//!
//! A [`RowPool`] holds one single-threaded [`Session`] per chunk of rows, each built for its
//! chunk's row count. Chunk 0 runs on the calling thread; every other chunk has a worker
//! thread of its own, started at build, which owns its chunk's session and is parked between
//! calls.
//!
//! A sampling call hands each worker its rows through a [`Channel`] of atomics allocated at
//! build, unparks the workers, samples chunk 0, waits for the workers (spinning briefly before
//! it parks) and copies their rows back: no allocation, no thread spawned, and no lock, so a
//! call cannot block on another thread holding a mutex. (Locks are taken only off that path:
//! by [`RowPool::set_sampler`], when a chunk fails, and on the first call from a thread other
//! than the one that called last.) The samples are those of one session over the whole batch
//! to f32 rounding (rows do not interact, as [`Session::sample_batch`] requires too; a row's
//! summation order depends on the kernels' register tiles, which depend on the row count).
//! A plain forward pass ([`RowPool::run`]) is split the same way, so a multi-threaded session
//! needs no engine for the whole batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, Thread, ThreadId};

use crate::card::Method;
use crate::error::Error;
use crate::session::Session;

/// What a worker is asked to do when its channel's `started` changes.
const OP_SAMPLE: usize = 0;
const OP_SET_SAMPLER: usize = 1;
const OP_STOP: usize = 2;
const OP_RUN: usize = 3;

/// One worker's side of the handover. The calling thread writes `op`, `take` and the inputs,
/// then raises `started` (Release); the worker acquires it, does the op, writes the outputs and
/// sets `finished` to the same generation (Release), then unparks the calling thread.
struct Channel {
    op: AtomicUsize,
    /// Rows to sample (0: none).
    take: AtomicUsize,
    /// The rows' conditions, noise and samples, as f32 bits.
    cond: Box<[AtomicU32]>,
    noise: Box<[AtomicU32]>,
    out: Box<[AtomicU32]>,
    started: AtomicU64,
    finished: AtomicU64,
    /// Whether `error` holds the last op's error: the mutex is touched only after a failure.
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    /// The sampler an `OP_SET_SAMPLER` installs.
    sampler: Mutex<Option<(Method, Vec<f32>)>>,
    /// A plain forward pass's (`OP_RUN`) inputs and outputs, as the chunk's session takes
    /// them; empty when [`RowPool::run`] is refused for the model.
    run_in: Vec<Box<[AtomicU32]>>,
    run_out: Vec<Box<[AtomicU32]>>,
    /// The worker thread's allocation count after its last op ([`crate::alloc_count`]).
    allocations: AtomicUsize,
}

/// The thread that the workers unpark when they finish: the last one to call the pool.
/// `epoch` counts its changes, so that a worker reads `thread` (a lock) only after a change.
struct Caller {
    thread: Mutex<Thread>,
    epoch: AtomicU64,
}

impl Caller {
    /// The epoch, then the thread: the thread is at least as new as the epoch returned with
    /// it (the calling thread stores the thread before it raises the epoch), so a worker whose
    /// epoch is current never wakes a thread that left.
    fn get(&self) -> (u64, Thread) {
        let epoch = self.epoch.load(Ordering::Acquire);
        (epoch, relock(&self.thread).clone())
    }
}

/// How long the calling thread spins on the workers before it parks: waking a parked thread
/// costs tens of µs, about what a worker's chunk often lags the calling thread's.
const SPIN: std::time::Duration = std::time::Duration::from_micros(150);

/// How a graph input or output of the whole batch maps onto a chunk's: `Rows(r)`, `r` values
/// per batch row (each chunk takes its rows); `Whole`, the same values for every chunk (an
/// input without the batch axis, e.g. a scalar time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Rows(usize),
    Whole,
}

impl Part {
    /// The values of rows `at .. at + rows` of a tensor of `len` values.
    fn range(self, at: usize, rows: usize, len: usize) -> std::ops::Range<usize> {
        match self {
            Part::Rows(r) => at * r..(at + rows) * r,
            Part::Whole => 0..len,
        }
    }
}

/// Sessions over chunks of a batch, chunk 0 on the calling thread, the others on workers.
pub(crate) struct RowPool {
    local: Box<Session>,
    /// Rows of each chunk, chunk 0 first.
    rows: Vec<usize>,
    /// How [`RowPool::run`] splits the inputs, and each output's values per row; or why it
    /// cannot.
    run_parts: Result<(Vec<Part>, Vec<usize>), &'static str>,
    channels: Vec<Arc<Channel>>,
    handles: Vec<JoinHandle<()>>,
    caller: Arc<Caller>,
    caller_id: ThreadId,
    generation: u64,
    /// Weight and arena bytes of all the chunks' sessions, read at build.
    bytes: (usize, usize),
    state_row: usize,
    cond_row: usize,
}

/// Balanced chunks of `rows` over at most `threads`: the first `rows % chunks` one row longer.
pub(crate) fn chunk_rows(rows: usize, threads: usize) -> Vec<usize> {
    let chunks = threads.clamp(1, rows.max(1));
    (0..chunks).map(|i| share(rows, chunks, i)).collect()
}

/// Chunk `i`'s share of `rows` spread over `chunks`: `rows / chunks`, one more for
/// `i < rows % chunks`.
fn share(rows: usize, chunks: usize, i: usize) -> usize {
    rows / chunks + usize::from(i < rows % chunks)
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a worker catches its panics, so a poisoned mutex still holds a consistent value
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn atomics(n: usize) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

fn store(to: &[AtomicU32], from: &[f32]) {
    for (t, f) in to.iter().zip(from) {
        t.store(f.to_bits(), Ordering::Relaxed);
    }
}

fn load(to: &mut [f32], from: &[AtomicU32]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t = f32::from_bits(f.load(Ordering::Relaxed));
    }
}

/// How each of the whole batch's `lens` (an input's or output's element counts, `batch_rows`
/// rows) maps onto the chunks whose counts are `chunk_lens` (per chunk, per tensor) and rows
/// `rows`; `None` when some tensor neither scales with the rows nor stays whole.
fn parts(
    lens: &[usize],
    batch_rows: usize,
    chunk_lens: &[&[usize]],
    rows: &[usize],
) -> Option<Vec<Part>> {
    (0..lens.len())
        .map(|i| {
            let len = lens[i];
            let each = |want: &dyn Fn(usize) -> usize| {
                chunk_lens.iter().zip(rows).all(|(c, &r)| c[i] == want(r))
            };
            if len.is_multiple_of(batch_rows) && each(&|r| len / batch_rows * r) {
                Some(Part::Rows(len / batch_rows))
            } else if each(&|_| len) {
                Some(Part::Whole)
            } else {
                None
            }
        })
        .collect()
}

impl RowPool {
    /// One chunk per session, each as many rows as its session's batch, in order; the first
    /// runs on the calling thread. Starts one worker thread per session after the first, each
    /// owning its session. `input_lens` and `output_lens` are the whole batch's graph inputs'
    /// and outputs' element counts, for [`RowPool::run`].
    pub(crate) fn new(
        sessions: Vec<Session>,
        input_lens: &[usize],
        output_lens: &[usize],
    ) -> Result<RowPool, Error> {
        let bytes = sessions.iter().fold((0, 0), |(w, a), s| {
            (w + s.info().weight_bytes, a + s.info().arena_bytes)
        });
        let rows: Vec<usize> = sessions.iter().map(Session::batch_rows).collect();
        let batch_rows = rows.iter().sum();
        let ins: Vec<&[usize]> = sessions.iter().map(Session::input_lens).collect();
        let outs: Vec<&[usize]> = sessions.iter().map(Session::output_lens).collect();
        // every output must scale with the rows: one that does not may mix them
        let out_rows = parts(output_lens, batch_rows, &outs, &rows).and_then(|o| {
            o.into_iter()
                .map(|p| match p {
                    Part::Rows(r) => Some(r),
                    Part::Whole => None,
                })
                .collect::<Option<Vec<usize>>>()
        });
        let run_parts = match (parts(input_lens, batch_rows, &ins, &rows), out_rows) {
            (Some(i), Some(o)) => Ok((i, o)),
            _ => Err(
                "a multi-threaded session runs a forward pass by rows, and some input or output \
                 of this model does not scale with the batch: run it on one thread",
            ),
        };
        let can_run = run_parts.is_ok();
        let run_buffers = |lens: &[usize]| -> Vec<Box<[AtomicU32]>> {
            if can_run {
                lens.iter().map(|&n| atomics(n)).collect()
            } else {
                Vec::new()
            }
        };
        let mut sessions = sessions.into_iter();
        let local = Box::new(sessions.next().expect("at least one chunk"));
        let state_row = local.state_len() / local.batch_rows();
        let cond_row = local.cond_len() / local.batch_rows();
        let here = std::thread::current();
        let mut pool = RowPool {
            local,
            rows,
            run_parts,
            channels: Vec::new(),
            handles: Vec::new(),
            caller_id: here.id(),
            caller: Arc::new(Caller {
                thread: Mutex::new(here),
                epoch: AtomicU64::new(0),
            }),
            generation: 0,
            bytes,
            state_row,
            cond_row,
        };
        for (i, session) in sessions.enumerate() {
            let n = session.batch_rows();
            let channel = Arc::new(Channel {
                op: AtomicUsize::new(OP_SAMPLE),
                take: AtomicUsize::new(0),
                cond: atomics(n * cond_row),
                noise: atomics(n * state_row),
                out: atomics(n * state_row),
                started: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                failed: AtomicBool::new(false),
                error: Mutex::new(None),
                sampler: Mutex::new(None),
                run_in: run_buffers(session.input_lens()),
                run_out: run_buffers(session.output_lens()),
                allocations: AtomicUsize::new(0),
            });
            let (worker_channel, worker_caller) = (channel.clone(), pool.caller.clone());
            // on failure the pool drops here, stopping and joining the workers started so far
            let handle = std::thread::Builder::new()
                .name(format!("fewstep-rows-{}", i + 1))
                .spawn(move || {
                    worker(
                        session,
                        &worker_channel,
                        &worker_caller,
                        state_row,
                        cond_row,
                    )
                })
                .map_err(|e| Error::InvalidArgument(format!("cannot start a thread: {e}")))?;
            pool.channels.push(channel);
            pool.handles.push(handle);
        }
        Ok(pool)
    }

    /// Weight and arena bytes of all the chunks' sessions.
    pub(crate) fn bytes(&self) -> (usize, usize) {
        self.bytes
    }

    /// Threads that sample a full batch: the calling one and the workers.
    pub(crate) fn threads(&self) -> usize {
        self.channels.len() + 1
    }

    /// Heap allocations made so far on the worker threads, as counted by
    /// [`crate::alloc_count::Counting`] when it is the global allocator (else 0).
    pub(crate) fn worker_allocations(&self) -> usize {
        let count = |c: &Arc<Channel>| c.allocations.load(Ordering::Acquire);
        self.channels.iter().map(count).sum()
    }

    /// Sets every chunk's sampler; all accept it or the first refusal is returned (the
    /// sessions share a card, so they agree).
    pub(crate) fn set_sampler(&mut self, method: Method, times: &[f32]) -> Result<(), Error> {
        self.local.set_sampler(method, times)?;
        for c in &self.channels {
            *relock(&c.sampler) = Some((method, times.to_vec()));
            c.op.store(OP_SET_SAMPLER, Ordering::Relaxed);
        }
        self.run_workers();
        self.worker_result()
    }

    /// Samples the first `rows` rows (`cond`, `noise` and `out` hold exactly that many,
    /// checked by the caller). The error of the first failing chunk is returned.
    pub(crate) fn sample(
        &mut self,
        rows: usize,
        cond: &[f32],
        noise: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let (sr, cr) = (self.state_row, self.cond_row);
        // a partial batch is spread as evenly as a full one, so no chunk takes more rows than
        // it was built for
        let chunks = self.threads();
        let take = |i: usize| share(rows, chunks, i);
        let take0 = take(0);
        let mut at = take0;
        for (i, c) in self.channels.iter().enumerate() {
            let take = take(i + 1);
            c.take.store(take, Ordering::Relaxed);
            store(&c.cond[..take * cr], &cond[at * cr..(at + take) * cr]);
            store(&c.noise[..take * sr], &noise[at * sr..(at + take) * sr]);
            c.op.store(OP_SAMPLE, Ordering::Relaxed);
            at += take;
        }
        let generation = self.start_workers();
        let local = if take0 == 0 {
            Ok(())
        } else {
            self.local.sample_batch(
                take0,
                &cond[..take0 * cr],
                &noise[..take0 * sr],
                &mut out[..take0 * sr],
            )
        };
        self.wait_workers(generation);
        let workers = self.worker_result();
        local?;
        workers?;
        let mut at = take0;
        for c in &self.channels {
            let take = c.take.load(Ordering::Relaxed);
            load(&mut out[at * sr..(at + take) * sr], &c.out[..take * sr]);
            at += take;
        }
        Ok(())
    }

    /// One forward pass of the whole batch (`Session::run`'s inputs and outputs, checked by
    /// the caller): each chunk runs its rows (and every input without the batch axis whole).
    /// Refused for a model some of whose inputs or outputs do not scale with the batch.
    pub(crate) fn run(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
    ) -> Result<(), Error> {
        // moved out for the call (no allocation), so that the chunks can be driven meanwhile
        let parts = std::mem::replace(&mut self.run_parts, Err(""));
        let result = match &parts {
            Ok((ins, out_rows)) => self.run_split(ins, out_rows, inputs, outputs),
            Err(why) => Err(Error::InvalidInput(why)),
        };
        self.run_parts = parts;
        result
    }

    /// [`RowPool::run`] with the inputs' parts and the outputs' values per row.
    fn run_split(
        &mut self,
        ins: &[Part],
        out_rows: &[usize],
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
    ) -> Result<(), Error> {
        let mut at = self.rows[0];
        for (c, &rows) in self.channels.iter().zip(&self.rows[1..]) {
            for ((buf, x), part) in c.run_in.iter().zip(inputs).zip(ins) {
                store(buf, &x[part.range(at, rows, x.len())]);
            }
            c.op.store(OP_RUN, Ordering::Relaxed);
            at += rows;
        }
        let generation = self.start_workers();
        let rows0 = self.rows[0];
        let local = self.local.run_with(
            |i, buf| buf.copy_from_slice(&inputs[i][ins[i].range(0, rows0, inputs[i].len())]),
            |o, buf| outputs[o][..rows0 * out_rows[o]].copy_from_slice(buf),
        );
        self.wait_workers(generation);
        let workers = self.worker_result();
        local?;
        workers?;
        let mut at = self.rows[0];
        for (c, &rows) in self.channels.iter().zip(&self.rows[1..]) {
            for ((buf, y), &r) in c.run_out.iter().zip(outputs.iter_mut()).zip(out_rows) {
                load(&mut y[at * r..(at + rows) * r], buf);
            }
            at += rows;
        }
        Ok(())
    }

    /// Starts the ops written into the channels and waits for them.
    fn run_workers(&mut self) {
        let generation = self.start_workers();
        self.wait_workers(generation);
    }

    /// Starts the ops written into the channels: registers the calling thread as the one to
    /// wake when it changed since the last call, raises the generation and unparks the workers.
    fn start_workers(&mut self) -> u64 {
        let here = std::thread::current();
        if here.id() != self.caller_id {
            self.caller_id = here.id();
            *relock(&self.caller.thread) = here;
            self.caller.epoch.fetch_add(1, Ordering::Release);
        }
        self.generation += 1;
        for (c, h) in self.channels.iter().zip(&self.handles) {
            c.started.store(self.generation, Ordering::Release);
            h.thread().unpark();
        }
        self.generation
    }

    /// Blocks until every worker has finished `generation`: spins for up to [`SPIN`], then
    /// parks (a worker unparks the calling thread when it finishes).
    fn wait_workers(&self, generation: u64) {
        let done = || {
            let finished = |c: &Arc<Channel>| c.finished.load(Ordering::Acquire) == generation;
            self.channels.iter().all(finished)
        };
        let start = std::time::Instant::now();
        while !done() && start.elapsed() < SPIN {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        while !done() {
            std::thread::park();
        }
    }

    /// The first worker's error of the last op, clearing every worker's.
    fn worker_result(&self) -> Result<(), Error> {
        let mut first = Ok(());
        for c in &self.channels {
            if c.failed.swap(false, Ordering::Acquire) {
                let error = relock(&c.error).take().unwrap_or(Error::WorkerPanic);
                if first.is_ok() {
                    first = Err(error);
                }
            }
        }
        first
    }
}

/// A worker: owns its chunk's session and buffers, does each op its channel starts, and
/// returns on `OP_STOP`.
fn worker(
    mut session: Session,
    channel: &Channel,
    caller: &Caller,
    state_row: usize,
    cond_row: usize,
) {
    let mut cond = vec![0.0; channel.cond.len()];
    let mut noise = vec![0.0; channel.noise.len()];
    let mut out = vec![0.0; channel.out.len()];
    let (mut epoch, mut wake) = caller.get();
    let mut seen = 0;
    loop {
        let generation = loop {
            let g = channel.started.load(Ordering::Acquire);
            if g != seen {
                break g;
            }
            std::thread::park();
        };
        seen = generation;
        let result = match channel.op.load(Ordering::Relaxed) {
            OP_STOP => return,
            OP_SET_SAMPLER => match relock(&channel.sampler).take() {
                Some((method, times)) => session.set_sampler(method, &times),
                None => Ok(()),
            },
            OP_RUN => catch_unwind(AssertUnwindSafe(|| {
                session.run_with(
                    |i, buf| load(buf, &channel.run_in[i]),
                    |o, buf| store(&channel.run_out[o], buf),
                )
            }))
            .unwrap_or(Err(Error::WorkerPanic)),
            _ => {
                let take = channel.take.load(Ordering::Relaxed);
                let (c, n, o) = (take * cond_row, take * state_row, take * state_row);
                load(&mut cond[..c], &channel.cond[..c]);
                load(&mut noise[..n], &channel.noise[..n]);
                let sampled = if take == 0 {
                    Ok(())
                } else {
                    catch_unwind(AssertUnwindSafe(|| {
                        session.sample_batch(take, &cond[..c], &noise[..n], &mut out[..o])
                    }))
                    .unwrap_or(Err(Error::WorkerPanic))
                };
                if sampled.is_ok() {
                    store(&channel.out[..o], &out[..o]);
                }
                sampled
            }
        };
        if let Err(e) = result {
            *relock(&channel.error) = Some(e);
            channel.failed.store(true, Ordering::Relaxed);
        }
        let allocations = crate::alloc_count::thread_allocations();
        channel.allocations.store(allocations, Ordering::Relaxed);
        channel.finished.store(generation, Ordering::Release);
        if caller.epoch.load(Ordering::Acquire) != epoch {
            (epoch, wake) = caller.get();
        }
        wake.unpark();
    }
}

impl Drop for RowPool {
    fn drop(&mut self) {
        for c in &self.channels {
            c.op.store(OP_STOP, Ordering::Relaxed);
        }
        self.start_workers();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_rows;

    #[test]
    fn chunks_are_balanced_and_cover_the_rows() {
        assert_eq!(chunk_rows(64, 2), vec![32, 32]);
        assert_eq!(chunk_rows(5, 2), vec![3, 2]);
        assert_eq!(chunk_rows(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(chunk_rows(3, 8), vec![1, 1, 1]);
        assert_eq!(chunk_rows(7, 1), vec![7]);
        for rows in 1..40 {
            for threads in 1..9 {
                let c = chunk_rows(rows, threads);
                assert_eq!(c.iter().sum::<usize>(), rows);
                assert!(c.len() <= threads && c.iter().all(|&n| n > 0));
                assert!(c.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            }
        }
    }
}
