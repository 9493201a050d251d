//! The C ABI fuzz body (see [`crate::fuzz`]): drives every `fewstep_*` function the way a
//! careless C caller might.

use std::ffi::CStr;
use std::ptr;
use std::sync::OnceLock;

use super::*;
use crate::forecast::PRED;

/// The model the C ABI body drives: a small trajectory velocity model with a card.
fn abi_model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let proto = crate::testing::trajectory_velocity(7, 16, 2);
        crate::onnx::write::encode(&proto)
    })
}

/// Reads the fuzz input as a stream of choices; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Usually `hint` (the length the callee wants), else off by one or two, else small.
    fn len(&mut self, hint: usize) -> usize {
        match self.u8() {
            0..=159 => hint,
            b @ 160..=223 => (hint + (b as usize % 5)).saturating_sub(2),
            b => b as usize - 224,
        }
    }
    /// A float that is usually ordinary, sometimes NaN, infinite or extreme.
    fn f32(&mut self) -> f32 {
        match self.u8() % 8 {
            0 => f32::from_bits(self.u32()),
            1 => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX][self.u8() as usize % 4],
            _ => (self.u8() as f32 - 128.0) / 16.0,
        }
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// A backend code: valid ones and out-of-range ones, but never the GPU (3), which this target
/// leaves to the GPU tests (it is slow to build on a software adapter and absent in fuzz builds).
fn backend_code(x: u8) -> u32 {
    [0, 1, 2, 4, 9][x as usize % 5]
}

fn check_status(s: FewstepStatus) -> FewstepStatus {
    assert_ne!(s, FewstepStatus::Panic, "C call panicked: {}", last_error());
    if s != FewstepStatus::Ok {
        assert!(!last_error().is_empty(), "{s:?} without a message");
    }
    s
}

fn last_error() -> String {
    // SAFETY: fewstep_last_error returns a NUL-terminated thread-local string, read before the
    // next fewstep call.
    unsafe { CStr::from_ptr(fewstep_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A batch or agent count (0 to 8) and a thread count (0 to 3) from one byte; a byte below 9
/// asks for one thread, as programs written before threads existed do.
fn size_and_threads(x: u8) -> (usize, usize) {
    (x as usize % 9, [1, 2, 3, 0][x as usize / 9 % 4])
}

/// Whether the same byte turns `FEWSTEP_FLAG_FIT_BATCHES` from its constructor's default (off
/// for a session, on for a forecaster): from 144 up.
fn flips_fit(x: u8) -> bool {
    x >= 144
}

/// Most model loads and session or forecaster builds per program.
const MAX_BUILDS: usize = 4;

/// What a C program reached: successful samples, forecast agents, sampler changes, and samples
/// refused because they came out non-finite (an overflowing grid).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AbiRun {
    pub samples: usize,
    pub forecasts: usize,
    pub sampler_changes: usize,
    pub overflows: usize,
}

/// One sample through the C ABI with buffers drawn from `b`: `fewstep_session_sample` for the
/// whole batch, or with `partial`, `fewstep_session_sample_batch` for a drawn row count in
/// 0..=batch+1 with buffers sized for it. Counts a success (the sample must then be finite) or
/// a sample refused as non-finite in `run`.
fn sample_call(b: &mut Bytes, session: *mut FewstepSession, partial: bool, run: &mut AbiRun) {
    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
    let (sl, cl, rows_max) = unsafe {
        (
            fewstep_session_state_len(session),
            fewstep_session_cond_len(session),
            fewstep_session_batch_rows(session),
        )
    };
    let rows = if partial {
        b.u8() as usize % (rows_max + 2)
    } else {
        rows_max
    };
    let hint = |len: usize| {
        if partial {
            len / rows_max.max(1) * rows
        } else {
            len
        }
    };
    let n = b.len(hint(cl));
    let cond = b.f32s(n);
    let n = b.len(hint(sl));
    let noise = b.f32s(n);
    let mut out = vec![0f32; b.len(hint(sl))];
    let (c, nz, o) = (cond.as_ptr(), noise.as_ptr(), out.as_mut_ptr());
    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
    let s = check_status(unsafe {
        if partial {
            fewstep_session_sample_batch(
                session,
                rows,
                c,
                cond.len(),
                nz,
                noise.len(),
                o,
                out.len(),
            )
        } else {
            fewstep_session_sample(session, c, cond.len(), nz, noise.len(), o, out.len())
        }
    });
    match s {
        FewstepStatus::Ok => {
            assert!(out.iter().all(|v| v.is_finite()), "non-finite sample");
            run.samples += 1;
        }
        FewstepStatus::NonFinite if last_error().starts_with("sample contains") => {
            run.overflows += 1
        }
        _ => {}
    }
}

/// A time grid for `*_set_sampler`: 0 to 5 times in [0, 1], increasing unless the input asks
/// for a defect (a repeated time, a NaN or an infinity) or for a finite grid stretched until
/// its steps overflow f32 (accepted; its samples must then fail as non-finite, never succeed
/// holding infinities).
fn sampler_grid(b: &mut Bytes) -> Vec<f32> {
    let n = b.u8() as usize % 6;
    let mut t: Vec<f32> = (0..n).map(|_| b.u8() as f32 / 255.0).collect();
    t.sort_by(f32::total_cmp);
    if n > 0 {
        match b.u8() % 8 {
            0 => t[n - 1] = f32::NAN,
            1 => t[0] = f32::NEG_INFINITY,
            2 if n > 1 => t[1] = t[0],
            4 => t.iter_mut().for_each(|v| *v = (2.0 * *v - 1.0) * 3e38),
            _ => {}
        }
    }
    t
}

/// The C ABI: the input is a program of calls, with random lengths, NULLs, out-of-range enum
/// codes, non-finite values and truncated model bytes. Buffers always hold the length passed
/// (the ABI's contract on the caller); everything else is fair game. No call may panic, a failed
/// call must leave a message, and a successful predict reports at most `capacity` agents.
pub fn c_abi(data: &[u8]) -> AbiRun {
    let mut run = AbiRun::default();
    let mut b = Bytes(data);
    let mut model: *mut FewstepModel = ptr::null_mut();
    let mut session: *mut FewstepSession = ptr::null_mut();
    let mut forecaster: *mut FewstepForecaster = ptr::null_mut();
    let mut frame = 0.0f64;
    let mut builds = 0;
    for _ in 0..32 {
        if b.0.is_empty() {
            break;
        }
        // Handles are always NULL or live: each is freed at most once and then set to NULL.
        let op = b.u8() % 12;
        // loading a model and building a session dominate the time of a program: a few per
        // program keep the fuzzer fast
        if matches!(op, 0 | 2 | 5) {
            if builds == MAX_BUILDS {
                continue;
            }
            builds += 1;
        }
        match op {
            0 => {
                let bytes = abi_model_bytes();
                let n = match b.u8() {
                    0..=191 => bytes.len(),
                    x => bytes.len() * (x as usize - 192) / 64,
                };
                let mut m = ptr::null_mut();
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = check_status(unsafe {
                    fewstep_model_load_from_memory(bytes.as_ptr(), n, &mut m)
                });
                assert_eq!(s == FewstepStatus::Ok, !m.is_null());
                if !m.is_null() {
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_model_free(model) };
                    model = m;
                }
            }
            1 => {
                let n = b.len(8).min(b.0.len());
                let (head, _) = b.0.split_at(n);
                let mut m = ptr::null_mut();
                let data = if b.u8() % 4 == 0 {
                    ptr::null()
                } else {
                    head.as_ptr()
                };
                let len = if data.is_null() { n } else { head.len() };
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                check_status(unsafe { fewstep_model_load_from_memory(data, len, &mut m) });
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                unsafe { fewstep_model_free(m) };
            }
            2 => {
                let (backend, precision, x) = (backend_code(b.u8()), b.u8() as u32 % 4, b.u8());
                let ((batch, threads), fit) = (size_and_threads(x), flips_fit(x));
                let flags = if fit {
                    FewstepFlag::FitBatches as u32
                } else {
                    0
                };
                let mut s = ptr::null_mut();
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                check_status(unsafe {
                    fewstep_session_new_with(
                        model, backend, precision, batch, threads, flags, &mut s,
                    )
                });
                if !s.is_null() {
                    // the buffer queries, past the last index too (they read no program bytes)
                    // SAFETY: `s` is live.
                    let (ni, no) = unsafe {
                        (
                            fewstep_session_input_count(s),
                            fewstep_session_output_count(s),
                        )
                    };
                    // SAFETY: `s` is live.
                    let past = unsafe {
                        (
                            fewstep_session_input_len(s, ni),
                            fewstep_session_output_len(s, no),
                        )
                    };
                    assert!(ni > 0 && no > 0 && past == (0, 0), "buffer queries");
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_session_free(session) };
                    session = s;
                }
            }
            3 => sample_call(&mut b, session, false, &mut run),
            4 => {
                let n_in = b.u8() as usize % 5;
                let n_out = b.u8() as usize % 3;
                let ins: Vec<Vec<f32>> = (0..n_in)
                    .map(|_| {
                        let n = b.u8() as usize % 40;
                        b.f32s(n)
                    })
                    .collect();
                let mut outs: Vec<Vec<f32>> = (0..n_out)
                    .map(|_| vec![0.0; b.u8() as usize % 40])
                    .collect();
                let in_ptrs: Vec<*const f32> = ins.iter().map(|v| v.as_ptr()).collect();
                let in_lens: Vec<usize> = ins.iter().map(Vec::len).collect();
                let out_ptrs: Vec<*mut f32> = outs.iter_mut().map(|v| v.as_mut_ptr()).collect();
                let out_lens: Vec<usize> = outs.iter().map(Vec::len).collect();
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                check_status(unsafe {
                    fewstep_session_run(
                        session,
                        in_ptrs.as_ptr(),
                        in_lens.as_ptr(),
                        n_in,
                        out_ptrs.as_ptr(),
                        out_lens.as_ptr(),
                        n_out,
                    )
                });
            }
            5 => {
                let x = b.u8();
                let ((agents, threads), pad) = (size_and_threads(x), flips_fit(x));
                let (backend, precision) = (backend_code(b.u8()), b.u8() as u32 % 4);
                let flags = if pad {
                    0
                } else {
                    FewstepFlag::FitBatches as u32
                };
                let mut f = ptr::null_mut();
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                check_status(unsafe {
                    fewstep_forecaster_new_with(
                        model, agents, backend, precision, 1, threads, flags, &mut f,
                    )
                });
                if !f.is_null() {
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_forecaster_free(forecaster) };
                    forecaster = f;
                }
            }
            6 => {
                let n = b.u8() as usize % 6;
                frame += if b.u8() % 8 == 0 { -1.0 } else { 1.0 };
                let ids: Vec<f64> = (0..n).map(|_| (b.u8() % 8) as f64).collect();
                let xs = b.f32s(n);
                let ys = b.f32s(n);
                let null_ids = b.u8() % 16 == 0;
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                check_status(unsafe {
                    fewstep_forecaster_observe(
                        forecaster,
                        frame,
                        if null_ids { ptr::null() } else { ids.as_ptr() },
                        xs.as_ptr(),
                        ys.as_ptr(),
                        n,
                    )
                });
            }
            7 => {
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let k = unsafe { fewstep_forecaster_k(forecaster) };
                let cap = b.u8() as usize % 6;
                let mut ids = vec![0f64; cap];
                let mut fut = vec![0f32; cap * k * PRED * 2];
                let mut count = usize::MAX;
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = check_status(unsafe {
                    fewstep_forecaster_predict(
                        forecaster,
                        ids.as_mut_ptr(),
                        fut.as_mut_ptr(),
                        cap,
                        &mut count,
                    )
                });
                if s == FewstepStatus::Ok {
                    assert!(
                        count <= cap,
                        "predict reported {count} agents into {cap} slots"
                    );
                    assert!(fut.iter().all(|v| v.is_finite()), "non-finite forecast");
                    run.forecasts += count;
                }
            }
            10 => sample_call(&mut b, session, true, &mut run),
            11 => {
                let (method, times) = (b.u8() as u32 % 5, sampler_grid(&mut b));
                let null_times = b.u8() % 16 == 0;
                let t = if null_times {
                    ptr::null()
                } else {
                    times.as_ptr()
                };
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = check_status(unsafe {
                    if b.u8() % 2 == 0 {
                        fewstep_session_set_sampler(session, method, t, times.len())
                    } else {
                        fewstep_forecaster_set_sampler(forecaster, method, t, times.len())
                    }
                });
                run.sampler_changes += usize::from(s == FewstepStatus::Ok);
            }
            8 => match b.u8() % 3 {
                0 => {
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_model_free(model) };
                    model = ptr::null_mut();
                }
                1 => {
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_session_free(session) };
                    session = ptr::null_mut();
                }
                _ => {
                    // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                    unsafe { fewstep_forecaster_free(forecaster) };
                    forecaster = ptr::null_mut();
                }
            },
            _ => {
                // NULL out-pointers are refused without touching anything
                let bytes = abi_model_bytes();
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = unsafe {
                    fewstep_model_load_from_memory(bytes.as_ptr(), bytes.len(), ptr::null_mut())
                };
                assert_eq!(check_status(s), FewstepStatus::NullPointer);
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = unsafe { fewstep_session_new(model, 0, 0, 1, ptr::null_mut()) };
                assert_ne!(check_status(s), FewstepStatus::Ok);
                // SAFETY: handles NULL or live; each buffer holds the length passed with it.
                let s = unsafe {
                    fewstep_forecaster_predict(
                        forecaster,
                        ptr::null_mut(),
                        ptr::null_mut(),
                        0,
                        ptr::null_mut(),
                    )
                };
                assert_ne!(check_status(s), FewstepStatus::Ok);
            }
        }
    }
    // SAFETY: live or NULL, each freed once.
    unsafe {
        fewstep_forecaster_free(forecaster);
        fewstep_session_free(session);
        fewstep_model_free(model);
    }
    run
}
