//! Row-parallel sampling: a session's batch (e.g. the agents of a frame) split across threads.
//!
//! A [`RowPool`] holds one single-threaded [`Session`] per chunk of rows, each built for its
//! chunk's row count. Chunk 0 runs on the calling thread; every other chunk has a worker
//! thread of its own, started at build and parked on a condition variable between calls.
//!
//! A call copies each worker's rows into buffers allocated at build, releases the workers,
//! samples chunk 0, waits for the workers (spinning briefly before it sleeps) and copies their
//! rows back: no allocation, no thread spawned. The samples are those of one session over the whole batch to f32 rounding (rows do
//! not interact, as [`Session::sample_batch`] requires too; a row's summation order depends on
//! the kernels' register tiles, which depend on the row count).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::card::Method;
use crate::error::Error;
use crate::session::Session;

/// What a worker samples: its session and its rows' buffers.
struct Slot {
    session: Session,
    cond: Vec<f32>,
    noise: Vec<f32>,
    out: Vec<f32>,
    /// Rows to sample this call (0: none).
    take: usize,
    result: Result<(), Error>,
    /// The worker thread's allocation count after its last call ([`crate::alloc_count`]).
    allocations: usize,
}

/// How the calling thread releases the workers and waits for them: a call raises
/// `generation` and sets `pending` to the workers' count; each worker samples once per
/// generation and counts itself off; `stop` ends the workers. (A Mutex, two Condvars and an
/// atomic: futexes on Linux, no allocation.)
struct Gate {
    state: Mutex<GateState>,
    start: Condvar,
    done: Condvar,
    /// Workers still sampling this generation, mirrored outside the lock so that the calling
    /// thread can spin on it briefly before it sleeps.
    busy: AtomicUsize,
}

/// How long the calling thread spins on `Gate::busy` before it sleeps: waking a sleeping
/// thread costs tens of µs, about what a worker's chunk often lags the calling thread's.
const SPIN: std::time::Duration = std::time::Duration::from_micros(150);

#[derive(Default)]
struct GateState {
    generation: u64,
    pending: usize,
    stop: bool,
}

impl Gate {
    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a generation for `workers` workers.
    fn release(&self, workers: usize) {
        let mut g = self.state();
        g.generation += 1;
        g.pending = workers;
        self.busy.store(workers, Ordering::Release);
        self.start.notify_all();
    }

    /// Blocks until every worker of the generation has counted itself off: spins for up to
    /// [`SPIN`], then sleeps on the condvar.
    fn wait_done(&self) {
        let start = std::time::Instant::now();
        while self.busy.load(Ordering::Acquire) > 0 && start.elapsed() < SPIN {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        let mut g = self.state();
        while g.pending > 0 {
            g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Blocks until a generation after `seen` starts; `None` once stopped.
    fn wait_start(&self, seen: u64) -> Option<u64> {
        let mut g = self.state();
        while g.generation == seen && !g.stop {
            g = self.start.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        (!g.stop).then_some(g.generation)
    }

    fn count_off(&self) {
        let mut g = self.state();
        g.pending -= 1;
        self.busy.fetch_sub(1, Ordering::Release);
        if g.pending == 0 {
            self.done.notify_one();
        }
    }

    fn stop(&self) {
        self.state().stop = true;
        self.start.notify_all();
    }
}

/// Sessions over chunks of a batch, chunk 0 on the calling thread, the others on workers.
pub(crate) struct RowPool {
    local: Box<Session>,
    slots: Vec<Arc<Mutex<Slot>>>,
    handles: Vec<JoinHandle<()>>,
    gate: Arc<Gate>,
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

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // a worker catches its panics, so a poisoned slot still holds consistent buffers
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

impl RowPool {
    /// One chunk per session, each as many rows as its session's batch, in order; the first
    /// runs on the calling thread. Starts one worker thread per session after the first.
    pub(crate) fn new(sessions: Vec<Session>) -> Result<RowPool, Error> {
        let mut sessions = sessions.into_iter();
        let local = Box::new(sessions.next().expect("at least one chunk"));
        let state_row = local.state_len() / local.batch_rows();
        let cond_row = local.cond_len() / local.batch_rows();
        let gate = Arc::new(Gate {
            state: Mutex::new(GateState::default()),
            start: Condvar::new(),
            done: Condvar::new(),
            busy: AtomicUsize::new(0),
        });
        let mut pool = RowPool {
            local,
            slots: Vec::new(),
            handles: Vec::new(),
            gate: gate.clone(),
            state_row,
            cond_row,
        };
        for (i, session) in sessions.enumerate() {
            let n = session.batch_rows();
            let slot = Arc::new(Mutex::new(Slot {
                session,
                cond: vec![0.0; n * cond_row],
                noise: vec![0.0; n * state_row],
                out: vec![0.0; n * state_row],
                take: 0,
                result: Ok(()),
                allocations: 0,
            }));
            let (worker_slot, worker_gate) = (slot.clone(), gate.clone());
            // on failure the pool drops here, stopping and joining the workers started so far
            let handle = std::thread::Builder::new()
                .name(format!("fewstep-rows-{}", i + 1))
                .spawn(move || worker(&worker_slot, &worker_gate, state_row, cond_row))
                .map_err(|e| Error::InvalidArgument(format!("cannot start a thread: {e}")))?;
            pool.slots.push(slot);
            pool.handles.push(handle);
        }
        Ok(pool)
    }

    /// Weight and arena bytes of all the chunks' sessions.
    pub(crate) fn bytes(&self) -> (usize, usize) {
        let of = |s: &Session| (s.info().weight_bytes, s.info().arena_bytes);
        let (mut w, mut a) = of(&self.local);
        for slot in &self.slots {
            let (sw, sa) = of(&lock(slot).session);
            (w, a) = (w + sw, a + sa);
        }
        (w, a)
    }

    /// Threads that sample a full batch: the calling one and the workers.
    pub(crate) fn threads(&self) -> usize {
        self.slots.len() + 1
    }

    /// Heap allocations made so far on the worker threads, as counted by
    /// [`crate::alloc_count::Counting`] when it is the global allocator (else 0).
    pub(crate) fn worker_allocations(&self) -> usize {
        self.slots.iter().map(|s| lock(s).allocations).sum()
    }

    /// Sets every chunk's sampler; all accept it or the first refusal is returned (the
    /// sessions share a card, so they agree).
    pub(crate) fn set_sampler(&mut self, method: Method, times: &[f32]) -> Result<(), Error> {
        self.local.set_sampler(method, times)?;
        for s in &self.slots {
            lock(s).session.set_sampler(method, times)?;
        }
        Ok(())
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
        for (i, slot) in self.slots.iter().enumerate() {
            let take = take(i + 1);
            let mut s = lock(slot);
            s.take = take;
            s.cond[..take * cr].copy_from_slice(&cond[at * cr..(at + take) * cr]);
            s.noise[..take * sr].copy_from_slice(&noise[at * sr..(at + take) * sr]);
            at += take;
        }
        self.gate.release(self.slots.len());
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
        self.gate.wait_done();
        local?;
        let mut at = take0;
        for slot in &self.slots {
            let mut s = lock(slot);
            let take = s.take;
            std::mem::replace(&mut s.result, Ok(()))?;
            out[at * sr..(at + take) * sr].copy_from_slice(&s.out[..take * sr]);
            at += take;
        }
        Ok(())
    }
}

/// A worker: waits for a generation, samples its slot's rows, counts itself off; returns once
/// the gate stops.
fn worker(slot: &Mutex<Slot>, gate: &Gate, state_row: usize, cond_row: usize) {
    let mut seen = 0;
    while let Some(generation) = gate.wait_start(seen) {
        seen = generation;
        {
            let mut guard = lock(slot);
            let s = &mut *guard;
            let take = s.take;
            s.result = if take == 0 {
                Ok(())
            } else {
                catch_unwind(AssertUnwindSafe(|| {
                    s.session.sample_batch(
                        take,
                        &s.cond[..take * cond_row],
                        &s.noise[..take * state_row],
                        &mut s.out[..take * state_row],
                    )
                }))
                .unwrap_or(Err(Error::WorkerPanic))
            };
            s.allocations = crate::alloc_count::thread_allocations();
        }
        gate.count_off();
    }
}

impl Drop for RowPool {
    fn drop(&mut self) {
        self.gate.stop();
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
