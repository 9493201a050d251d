//! The C ABI. `include/fewstep.h` is generated from this file by cbindgen (`tests/c_abi.rs`
//! fails when the checked-in header is stale; `FEWSTEP_BLESS=1` rewrites it).
//!
//! Conventions: opaque handles created by `*_new`/`*_load*` and released by the matching
//! `*_free` (which accepts NULL); caller-owned buffers with explicit lengths; every function
//! returns a `FewstepStatus`, and on failure `fewstep_last_error()` gives a message (thread-local,
//! valid until the next fewstep call on the same thread). Null pointers, wrong lengths and
//! panics become status codes: nothing unwinds across the boundary.
//!
//! Threads: a model may be shared, and sessions and forecasters built from it, on any number
//! of threads at once (`Model` is `Send + Sync`). A session or forecaster may move between
//! threads (`Send`) but must not be used by two at the same time (it is not `Sync`): a C
//! caller guards a shared one with a lock.

pub mod fuzz;

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::card::Method;
use crate::error::Error;
use crate::forecast::{Forecaster, ForecasterOptions, Forecasts, PRED};
use crate::model::Model;
use crate::session::{Backend, Precision, Session, SessionOptions};

/// Result of every fewstep C call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewstepStatus {
    Ok = 0,
    NullPointer = 1,
    InvalidArgument = 2,
    WrongLength = 3,
    NonFinite = 4,
    BadModel = 5,
    BadCard = 6,
    Unsupported = 7,
    Io = 8,
    NoCard = 9,
    Capacity = 10,
    Panic = 11,
    Other = 12,
}

/// Which engine runs the model.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewstepBackend {
    Auto = 0,
    Native = 1,
    Tract = 2,
    Gpu = 3,
}

/// Weight storage precision.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewstepPrecision {
    F32 = 0,
    F16 = 1,
}

/// Integration method of a velocity model's sampler (`fewstep_session_set_sampler`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewstepMethod {
    Euler = 0,
    Heun = 1,
    Midpoint = 2,
}

/// Bits of the `flags` of `fewstep_session_new_with` and `fewstep_forecaster_new_with`; any
/// other bit is `FEWSTEP_STATUS_INVALID_ARGUMENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FewstepFlag {
    /// A partial batch (`fewstep_session_sample_batch`, a frame with fewer agents than
    /// `max_agents`) costs about its own rows: sessions for 1, 2, 4, … rows are built beside
    /// the full batch, sharing its weights, and a partial batch runs on the smallest that holds
    /// it instead of being padded. Costs build time and an activation arena per size; the
    /// samples change only to f32 rounding. Off for `fewstep_session_new*`, on for
    /// `fewstep_forecaster_new*`.
    FitBatches = 1,
}

/// A loaded model (opaque).
pub struct FewstepModel(Model);
/// A session: a model bound to a batch size, backend and precision (opaque).
pub struct FewstepSession(Session);
/// A streaming trajectory forecaster (opaque).
pub struct FewstepForecaster {
    f: Forecaster,
    out: Forecasts,
    obs: Vec<(f64, f32, f32)>,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn status_of(e: &Error) -> FewstepStatus {
    match e {
        Error::Io { .. } | Error::Write { .. } => FewstepStatus::Io,
        Error::BadModel(_) => FewstepStatus::BadModel,
        Error::BadCard(_) => FewstepStatus::BadCard,
        Error::Unsupported(_) | Error::BackendUnavailable(_) => FewstepStatus::Unsupported,
        Error::InvalidArgument(_) | Error::InvalidInput(_) | Error::BadScene(_) => {
            FewstepStatus::InvalidArgument
        }
        Error::WrongLength { .. } => FewstepStatus::WrongLength,
        Error::NonFinite { .. } => FewstepStatus::NonFinite,
        Error::NoCard => FewstepStatus::NoCard,
        Error::Capacity(_) => FewstepStatus::Capacity,
        Error::TractRun | Error::GpuRun => FewstepStatus::Other,
        Error::WorkerPanic => FewstepStatus::Panic,
    }
}

/// Runs `f`, turning errors and panics into a status (and the last-error message).
fn guard(f: impl FnOnce() -> Result<(), (FewstepStatus, String)>) -> FewstepStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FewstepStatus::Ok,
        Ok(Err((s, msg))) => {
            set_error(&msg);
            s
        }
        Err(_) => {
            set_error("internal panic (a bug in fewstep); the handle may be unusable");
            FewstepStatus::Panic
        }
    }
}

fn fail(e: Error) -> (FewstepStatus, String) {
    (status_of(&e), e.to_string())
}

fn null(what: &str) -> (FewstepStatus, String) {
    (FewstepStatus::NullPointer, format!("{what} is NULL"))
}

/// A `FewstepBackend` code from C. Enum parameters travel as `uint32_t`: a C caller can pass
/// any integer, and an out-of-range value in a Rust enum would be undefined behaviour.
fn backend_of(code: u32) -> Result<Backend, (FewstepStatus, String)> {
    match code {
        c if c == FewstepBackend::Auto as u32 => Ok(Backend::Auto),
        c if c == FewstepBackend::Native as u32 => Ok(Backend::Native),
        c if c == FewstepBackend::Tract as u32 => Ok(Backend::Tract),
        c if c == FewstepBackend::Gpu as u32 => Ok(Backend::Gpu),
        c => Err((
            FewstepStatus::InvalidArgument,
            format!("backend {c} is not a FewstepBackend (0 auto, 1 native, 2 tract, 3 gpu)"),
        )),
    }
}

/// A `FewstepPrecision` code from C (see [`backend_of`]).
fn precision_of(code: u32) -> Result<Precision, (FewstepStatus, String)> {
    match code {
        c if c == FewstepPrecision::F32 as u32 => Ok(Precision::F32),
        c if c == FewstepPrecision::F16 as u32 => Ok(Precision::F16),
        c => Err((
            FewstepStatus::InvalidArgument,
            format!("precision {c} is not a FewstepPrecision (0 f32, 1 f16)"),
        )),
    }
}

/// Whether `flags` asks for `FEWSTEP_FLAG_FIT_BATCHES`; any unknown bit is refused.
fn fit_batches_of(flags: u32) -> Result<bool, (FewstepStatus, String)> {
    let known = FewstepFlag::FitBatches as u32;
    if flags & !known != 0 {
        return Err((
            FewstepStatus::InvalidArgument,
            format!(
                "flags 0x{flags:x}: bits 0x{:x} are not FewstepFlag values (1 fit batches)",
                flags & !known
            ),
        ));
    }
    Ok(flags & known != 0)
}

/// A `FewstepMethod` code from C (see [`backend_of`]).
fn method_of(code: u32) -> Result<Method, (FewstepStatus, String)> {
    match code {
        c if c == FewstepMethod::Euler as u32 => Ok(Method::Euler),
        c if c == FewstepMethod::Heun as u32 => Ok(Method::Heun),
        c if c == FewstepMethod::Midpoint as u32 => Ok(Method::Midpoint),
        c => Err((
            FewstepStatus::InvalidArgument,
            format!("method {c} is not a FewstepMethod (0 euler, 1 heun, 2 midpoint)"),
        )),
    }
}

/// A slice from a C pointer and length; NULL is allowed only for length 0.
///
/// # Safety
/// `ptr` must point to `len` readable values (or be NULL with `len == 0`).
unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], (FewstepStatus, String)> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    too_long::<T>(len, what)?;
    // SAFETY: non-null, and the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A length no buffer can have (more than `isize::MAX` bytes): refused before a slice is made
/// of it, since making one would be undefined behaviour whatever the pointer.
fn too_long<T>(len: usize, what: &str) -> Result<(), (FewstepStatus, String)> {
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err((
            FewstepStatus::WrongLength,
            format!("{what}: {len} elements is longer than any buffer"),
        ));
    }
    Ok(())
}

/// # Safety
/// `ptr` must point to `len` writable values (or be NULL with `len == 0`).
unsafe fn slice_mut<'a, T>(
    ptr: *mut T,
    len: usize,
    what: &str,
) -> Result<&'a mut [T], (FewstepStatus, String)> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    too_long::<T>(len, what)?;
    // SAFETY: non-null, and the caller promises `len` writable elements not aliased elsewhere.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The library version, a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn fewstep_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last failed call on this thread ("" if none). Valid until the next
/// fewstep call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn fewstep_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Loads a model from a file path (UTF-8). On success `*out` holds a new handle.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_model_load(
    path: *const c_char,
    out: *mut *mut FewstepModel,
) -> FewstepStatus {
    guard(|| {
        if path.is_null() {
            return Err(null("path"));
        }
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: non-null and NUL-terminated per the contract.
        let p = unsafe { CStr::from_ptr(path) }.to_str().map_err(|_| {
            (
                FewstepStatus::InvalidArgument,
                "path is not UTF-8".to_string(),
            )
        })?;
        let m = Model::load(p).map_err(fail)?;
        // SAFETY: `out` is non-null and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(FewstepModel(m))) };
        Ok(())
    })
}

/// Loads a model from `len` bytes of ONNX in memory (copied; the buffer may be freed after).
///
/// # Safety
/// `data` must point to `len` readable bytes; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_model_load_from_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut FewstepModel,
) -> FewstepStatus {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: per the contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        let m = Model::from_bytes(bytes).map_err(fail)?;
        // SAFETY: `out` is non-null and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(FewstepModel(m))) };
        Ok(())
    })
}

/// Releases a model (NULL is ignored). Sessions and forecasters made from it stay valid.
///
/// # Safety
/// `m` must be NULL or a handle from `fewstep_model_load*` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_model_free(m: *mut FewstepModel) {
    if !m.is_null() {
        // SAFETY: created by Box::into_raw in this module and not freed before.
        drop(unsafe { Box::from_raw(m) });
    }
}

/// Creates a session for `batch` rows (binds the model's batch symbol, e.g. `N`). `backend` is a
/// `FewstepBackend` and `precision` a `FewstepPrecision` value; any other value is
/// `FEWSTEP_STATUS_INVALID_ARGUMENT`. Samples on the calling thread
/// (`fewstep_session_new_threads` with 1).
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_new(
    m: *const FewstepModel,
    backend: u32,
    precision: u32,
    batch: usize,
    out: *mut *mut FewstepSession,
) -> FewstepStatus {
    // SAFETY: the same contract.
    unsafe { fewstep_session_new_threads(m, backend, precision, batch, 1, out) }
}

/// `fewstep_session_new` whose sampler calls split their `batch` rows over `threads` CPU
/// threads (0 or 1: the calling thread only): chunk 0 on the calling thread, the others on
/// worker threads started here and ended by `fewstep_session_free`. Samples equal one thread's
/// to f32 rounding; no call allocates. Refused (`FEWSTEP_STATUS_INVALID_ARGUMENT`) for the GPU
/// backend and for a model whose state and condition share no batch axis.
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_new_threads(
    m: *const FewstepModel,
    backend: u32,
    precision: u32,
    batch: usize,
    threads: usize,
    out: *mut *mut FewstepSession,
) -> FewstepStatus {
    // SAFETY: the same contract.
    unsafe { fewstep_session_new_with(m, backend, precision, batch, threads, 0, out) }
}

/// `fewstep_session_new_threads` with `flags`, a bitwise or of `FewstepFlag` values (0: none;
/// `FEWSTEP_FLAG_FIT_BATCHES`: partial batches cost their own rows). An unknown bit is
/// `FEWSTEP_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_new_with(
    m: *const FewstepModel,
    backend: u32,
    precision: u32,
    batch: usize,
    threads: usize,
    flags: u32,
    out: *mut *mut FewstepSession,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let m = unsafe { m.as_ref() }.ok_or_else(|| null("model"))?;
        if out.is_null() {
            return Err(null("out"));
        }
        let mut o = SessionOptions {
            backend: backend_of(backend)?,
            precision: precision_of(precision)?,
            threads,
            fit_batches: fit_batches_of(flags)?,
            ..Default::default()
        };
        for s in m.0.symbols() {
            o.dims.insert(s, batch);
        }
        let s = Session::new(&m.0, o).map_err(fail)?;
        // SAFETY: `out` is non-null and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(FewstepSession(s))) };
        Ok(())
    })
}

/// Writes the bytes the session holds: its weights (as packed for its backend; a matrix that
/// its thread chunks and batch sizes share is counted once) and its activation arenas (one per
/// thread chunk and per batch size).
///
/// # Safety
/// `s` must be NULL or a live session handle; each of `weight_bytes` and `arena_bytes` must be
/// NULL (not written) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_memory(
    s: *const FewstepSession,
    weight_bytes: *mut usize,
    arena_bytes: *mut usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle or NULL per the contract.
        let s = unsafe { s.as_ref() }.ok_or_else(|| null("session"))?;
        // SAFETY: NULL or writable per the contract.
        unsafe { write_memory(&s.0, weight_bytes, arena_bytes) };
        Ok(())
    })
}

/// Writes `s`'s weight and arena bytes through whichever pointer is not NULL.
///
/// # Safety
/// Each pointer must be NULL or writable.
unsafe fn write_memory(s: &Session, weight_bytes: *mut usize, arena_bytes: *mut usize) {
    let info = s.info();
    // SAFETY: NULL or writable per the contract.
    if let Some(w) = unsafe { weight_bytes.as_mut() } {
        *w = info.weight_bytes;
    }
    // SAFETY: NULL or writable per the contract.
    if let Some(a) = unsafe { arena_bytes.as_mut() } {
        *a = info.arena_bytes;
    }
}

/// Number of floats in the sampler state (noise and sample); 0 for a NULL handle.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_state_len(s: *const FewstepSession) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.state_len())
}

/// Number of floats in the condition; 0 for a NULL handle or an unconditional model.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_cond_len(s: *const FewstepSession) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.cond_len())
}

type SampleArgs<'a> = (&'a mut FewstepSession, &'a [f32], &'a [f32], &'a mut [f32]);

/// The session and buffers of a sample call, NULLs rejected.
///
/// # Safety
/// `s` must be NULL or a live session; each buffer must hold its stated length.
unsafe fn sample_args<'a>(
    s: *mut FewstepSession,
    cond: *const f32,
    cond_len: usize,
    noise: *const f32,
    noise_len: usize,
    out: *mut f32,
    out_len: usize,
) -> Result<SampleArgs<'a>, (FewstepStatus, String)> {
    // SAFETY: a live handle per the contract.
    let s = unsafe { s.as_mut() }.ok_or_else(|| null("session"))?;
    // SAFETY: lengths per the contract.
    unsafe {
        Ok((
            s,
            slice(cond, cond_len, "cond")?,
            slice(noise, noise_len, "noise")?,
            slice_mut(out, out_len, "out")?,
        ))
    }
}

/// Samples with the model card's sampler: `out = sample(cond, noise)`. Allocation-free on the
/// native backend. NaN/Inf inputs are rejected (`FEWSTEP_STATUS_NON_FINITE`), and so is a
/// sample that comes out non-finite (the model or its time grid overflowed f32): an
/// `FEWSTEP_STATUS_OK` sample is finite.
///
/// # Safety
/// `s` must be NULL or a live session; each buffer must hold its stated length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_sample(
    s: *mut FewstepSession,
    cond: *const f32,
    cond_len: usize,
    noise: *const f32,
    noise_len: usize,
    out: *mut f32,
    out_len: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (s, c, n, o) =
            unsafe { sample_args(s, cond, cond_len, noise, noise_len, out, out_len)? };
        s.0.sample(c, n, o).map_err(fail)
    })
}

/// Rows of the session's batch (the `batch` it was built with, for a per-agent model); 0 for
/// a NULL handle.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_batch_rows(s: *const FewstepSession) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.batch_rows())
}

/// Number of graph inputs `fewstep_session_run` takes, in the graph's order (the order
/// `fewstep info` lists them in); 0 for a NULL handle.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_input_count(s: *const FewstepSession) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.input_lens().len())
}

/// Number of floats of graph input `i` at the session's dimensions; 0 for a NULL handle or an
/// `i` past the last input.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_input_len(s: *const FewstepSession, i: usize) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.input_lens().get(i).copied().unwrap_or(0))
}

/// Number of graph outputs `fewstep_session_run` writes, in the graph's order; 0 for a NULL
/// handle.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_output_count(s: *const FewstepSession) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.output_lens().len())
}

/// Number of floats of graph output `i` at the session's dimensions; 0 for a NULL handle or
/// an `i` past the last output.
///
/// # Safety
/// `s` must be NULL or a live session handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_output_len(s: *const FewstepSession, i: usize) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { s.as_ref() }.map_or(0, |s| s.0.output_lens().get(i).copied().unwrap_or(0))
}

/// Samples the first `rows` conditions of the batch (1 ≤ `rows` ≤
/// `fewstep_session_batch_rows`): `cond` and `noise` hold `rows` rows, `out` receives `rows`
/// rows; the remaining rows are computed on zeros and discarded (on the GPU, still one
/// submit). Allocation-free on the native backend. Non-finite inputs and samples are
/// refused as `fewstep_session_sample` refuses them.
///
/// # Safety
/// `s` must be NULL or a live session; each buffer must hold its stated length.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fewstep_session_sample_batch(
    s: *mut FewstepSession,
    rows: usize,
    cond: *const f32,
    cond_len: usize,
    noise: *const f32,
    noise_len: usize,
    out: *mut f32,
    out_len: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let (s, c, n, o) =
            unsafe { sample_args(s, cond, cond_len, noise, noise_len, out, out_len)? };
        s.0.sample_batch(rows, c, n, o).map_err(fail)
    })
}

/// One forward pass: `n_inputs` inputs and `n_outputs` outputs in graph order, each with its
/// length (`fewstep_session_input_len` and `fewstep_session_output_len` give the lengths).
///
/// # Safety
/// `s` must be NULL or a live session; the pointer arrays must hold `n_inputs` / `n_outputs`
/// entries, each buffer its stated length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_run(
    s: *mut FewstepSession,
    inputs: *const *const f32,
    input_lens: *const usize,
    n_inputs: usize,
    outputs: *const *mut f32,
    output_lens: *const usize,
    n_outputs: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let s = unsafe { s.as_mut() }.ok_or_else(|| null("session"))?;
        const MAX: usize = 16;
        if n_inputs > MAX || n_outputs > MAX {
            return Err((
                FewstepStatus::InvalidArgument,
                format!("at most {MAX} inputs and outputs"),
            ));
        }
        // SAFETY: array lengths per the contract.
        let (ip, il, op, ol) = unsafe {
            (
                slice(inputs, n_inputs, "inputs")?,
                slice(input_lens, n_inputs, "input_lens")?,
                slice(outputs, n_outputs, "outputs")?,
                slice(output_lens, n_outputs, "output_lens")?,
            )
        };
        let mut ins: [&[f32]; MAX] = [&[]; MAX];
        for i in 0..n_inputs {
            // SAFETY: each input holds its stated length per the contract.
            ins[i] = unsafe { slice(ip[i], il[i], "an input")? };
        }
        let mut outs: [&mut [f32]; MAX] = Default::default();
        for i in 0..n_outputs {
            // SAFETY: each output holds its stated length and does not alias another buffer.
            outs[i] = unsafe { slice_mut(op[i], ol[i], "an output")? };
        }
        s.0.run(&ins[..n_inputs], &mut outs[..n_outputs])
            .map_err(fail)
    })
}

/// Replaces the session's sampler (the card's, at first): `method` (a `FewstepMethod` value)
/// over the time grid `times[0..n_times]`, at least two finite, strictly increasing times, the
/// first the noise end and the last the data end (e.g. `{0, 0.5, 1}` for two uniform steps).
/// Refused with `FEWSTEP_STATUS_INVALID_ARGUMENT`, the sampler left as it was, for a bad grid or
/// method code, for a generator, and for Heun on a grid that ends at 1 with a net whose card
/// says it predicts the data (Heun would evaluate it at t = 1, where it divides by 0.001); a
/// model without a card gives `FEWSTEP_STATUS_NO_CARD`. Allocates: call it between samples.
///
/// # Safety
/// `s` must be NULL or a live session; `times` must hold `n_times` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_set_sampler(
    s: *mut FewstepSession,
    method: u32,
    times: *const f32,
    n_times: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let s = unsafe { s.as_mut() }.ok_or_else(|| null("session"))?;
        // SAFETY: `n_times` values per the contract.
        let times = unsafe { slice(times, n_times, "times")? };
        s.0.set_sampler(method_of(method)?, times).map_err(fail)
    })
}

/// Releases a session (NULL is ignored).
///
/// # Safety
/// `s` must be NULL or a session handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_session_free(s: *mut FewstepSession) {
    if !s.is_null() {
        // SAFETY: created by Box::into_raw in this module and not freed before.
        drop(unsafe { Box::from_raw(s) });
    }
}

/// Creates a streaming forecaster for at most `max_agents` agents in view, seeded. `backend` and
/// `precision` are `FewstepBackend` and `FewstepPrecision` values, as in `fewstep_session_new`.
/// Forecasts on the calling thread (`fewstep_forecaster_new_threads` with 1).
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_new(
    m: *const FewstepModel,
    max_agents: usize,
    backend: u32,
    precision: u32,
    seed: u64,
    out: *mut *mut FewstepForecaster,
) -> FewstepStatus {
    // SAFETY: the same contract.
    unsafe { fewstep_forecaster_new_threads(m, max_agents, backend, precision, seed, 1, out) }
}

/// `fewstep_forecaster_new` whose frames' agents are split over `threads` CPU threads, as
/// `fewstep_session_new_threads` splits a batch (0 or 1: the calling thread only).
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_new_threads(
    m: *const FewstepModel,
    max_agents: usize,
    backend: u32,
    precision: u32,
    seed: u64,
    threads: usize,
    out: *mut *mut FewstepForecaster,
) -> FewstepStatus {
    let flags = FewstepFlag::FitBatches as u32;
    // SAFETY: the same contract.
    unsafe {
        fewstep_forecaster_new_with(m, max_agents, backend, precision, seed, threads, flags, out)
    }
}

/// `fewstep_forecaster_new_threads` with `flags`, a bitwise or of `FewstepFlag` values: the
/// other constructors pass `FEWSTEP_FLAG_FIT_BATCHES` (a frame costs its ready agents); 0 pads
/// every frame to `max_agents`. An unknown bit is `FEWSTEP_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `m` must be NULL or a live model handle; `out` must be NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fewstep_forecaster_new_with(
    m: *const FewstepModel,
    max_agents: usize,
    backend: u32,
    precision: u32,
    seed: u64,
    threads: usize,
    flags: u32,
    out: *mut *mut FewstepForecaster,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let m = unsafe { m.as_ref() }.ok_or_else(|| null("model"))?;
        if out.is_null() {
            return Err(null("out"));
        }
        let opts = ForecasterOptions {
            max_agents,
            backend: backend_of(backend)?,
            precision: precision_of(precision)?,
            seed,
            threads,
            fit_batches: fit_batches_of(flags)?,
        };
        let f = Forecaster::new(&m.0, opts).map_err(fail)?;
        let out_buf = f.new_output();
        let h = FewstepForecaster {
            f,
            out: out_buf,
            obs: Vec::with_capacity(max_agents),
        };
        // SAFETY: `out` is non-null and writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(h)) };
        Ok(())
    })
}

/// Writes the bytes the forecaster's session holds, as `fewstep_session_memory` does.
///
/// # Safety
/// `f` must be NULL or a live forecaster; each of `weight_bytes` and `arena_bytes` must be
/// NULL (not written) or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_memory(
    f: *const FewstepForecaster,
    weight_bytes: *mut usize,
    arena_bytes: *mut usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle or NULL per the contract.
        let f = unsafe { f.as_ref() }.ok_or_else(|| null("forecaster"))?;
        // SAFETY: NULL or writable per the contract.
        unsafe { write_memory(f.f.session(), weight_bytes, arena_bytes) };
        Ok(())
    })
}

/// Replaces the forecaster's sampler, as `fewstep_session_set_sampler` does for a session
/// (same arguments, checks and refusals).
///
/// # Safety
/// `f` must be NULL or a live forecaster; `times` must hold `n_times` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_set_sampler(
    f: *mut FewstepForecaster,
    method: u32,
    times: *const f32,
    n_times: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let f = unsafe { f.as_mut() }.ok_or_else(|| null("forecaster"))?;
        // SAFETY: `n_times` values per the contract.
        let times = unsafe { slice(times, n_times, "times")? };
        f.f.set_sampler(method_of(method)?, times).map_err(fail)
    })
}

/// Futures per agent (K); 0 for a NULL handle.
///
/// # Safety
/// `f` must be NULL or a live forecaster handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_k(f: *const FewstepForecaster) -> usize {
    // SAFETY: a live handle or NULL per the contract.
    unsafe { f.as_ref() }.map_or(0, |f| f.out.k())
}

/// Records one frame: `n` agents with ids `agents[i]` at (`xs[i]`, `ys[i]`). Allocation-free.
///
/// # Safety
/// `f` must be NULL or a live forecaster; each array must hold `n` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_observe(
    f: *mut FewstepForecaster,
    frame: f64,
    agents: *const f64,
    xs: *const f32,
    ys: *const f32,
    n: usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let h = unsafe { f.as_mut() }.ok_or_else(|| null("forecaster"))?;
        if n > h.obs.capacity() {
            return Err((
                FewstepStatus::Capacity,
                format!(
                    "{n} agents in one frame; max_agents is {}",
                    h.obs.capacity()
                ),
            ));
        }
        // SAFETY: lengths per the contract.
        let (a, x, y) = unsafe {
            (
                slice(agents, n, "agents")?,
                slice(xs, n, "xs")?,
                slice(ys, n, "ys")?,
            )
        };
        h.obs.clear();
        h.obs.extend((0..n).map(|i| (a[i], x[i], y[i])));
        h.f.observe(frame, &h.obs).map_err(fail)
    })
}

/// Forecasts every ready agent of the latest frame. Writes up to `capacity` agents: ids to
/// `out_agents[i]` and futures to `out_futures[((i * K) + k) * 24 + 2 * step + {0: x, 1: y}]`
/// (`out_futures` holds `capacity * K * 24` floats); the count to `*out_count`. A forecast that
/// comes out non-finite is `FEWSTEP_STATUS_NON_FINITE`. On any failure nothing is written.
///
/// # Safety
/// `f` must be NULL or a live forecaster; buffers must hold the stated sizes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_predict(
    f: *mut FewstepForecaster,
    out_agents: *mut f64,
    out_futures: *mut f32,
    capacity: usize,
    out_count: *mut usize,
) -> FewstepStatus {
    guard(|| {
        // SAFETY: a live handle per the contract.
        let h = unsafe { f.as_mut() }.ok_or_else(|| null("forecaster"))?;
        if out_count.is_null() {
            return Err(null("out_count"));
        }
        let k = h.out.k();
        let floats = capacity.checked_mul(k * 2 * PRED).ok_or_else(|| {
            (
                FewstepStatus::InvalidArgument,
                "capacity is too large".to_string(),
            )
        })?;
        // SAFETY: sizes per the contract.
        let (ids, fut) = unsafe {
            (
                slice_mut(out_agents, capacity, "out_agents")?,
                slice_mut(out_futures, floats, "out_futures")?,
            )
        };
        let n = h.f.predict(&mut h.out).map_err(fail)?;
        if n > capacity {
            return Err((
                FewstepStatus::Capacity,
                format!("{n} agents forecast but capacity is {capacity}"),
            ));
        }
        for (i, id) in ids.iter_mut().enumerate().take(n) {
            *id = h.out.agent(i);
            for (m, path) in h.out.futures(i).iter().enumerate() {
                for (j, p) in path.iter().enumerate() {
                    let at = ((i * k + m) * PRED + j) * 2;
                    fut[at] = p[0];
                    fut[at + 1] = p[1];
                }
            }
        }
        // SAFETY: non-null and writable per the contract.
        unsafe { *out_count = n };
        Ok(())
    })
}

/// Releases a forecaster (NULL is ignored).
///
/// # Safety
/// `f` must be NULL or a forecaster handle not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fewstep_forecaster_free(f: *mut FewstepForecaster) {
    if !f.is_null() {
        // SAFETY: created by Box::into_raw in this module and not freed before.
        drop(unsafe { Box::from_raw(f) });
    }
}
