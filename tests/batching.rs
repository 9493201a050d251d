//! Sessions that split their batch across threads (`SessionOptions::threads`) or fit a partial
//! batch to a smaller session (`SessionOptions::fit_batches`) sample what one plain session
//! samples (to f32 rounding, and bit for bit from call to call), whole batches and partial
//! ones, after a sampler change too; bad requests are refused; worker threads end with their
//! session; a call allocates nothing on any thread.

use fewstep::alloc_count::{Counting, thread_allocations};
use fewstep::card::{Method, SamplerSpec};
use fewstep::forecast::{Forecaster, ForecasterOptions};
use fewstep::onnx::write::encode;
use fewstep::rng::Rng;
use fewstep::testing::{self, TOL_F32};
use fewstep::{Backend, Error, Model, Precision, Session, SessionOptions};

#[global_allocator]
static ALLOC: Counting = Counting;

fn session(
    model: &Model,
    backend: Backend,
    precision: Precision,
    n: usize,
    threads: usize,
) -> Session {
    built(model, backend, precision, n, threads, false)
}

fn built(
    model: &Model,
    backend: Backend,
    precision: Precision,
    n: usize,
    threads: usize,
    fit_batches: bool,
) -> Session {
    let mut o = SessionOptions {
        backend,
        precision,
        threads,
        fit_batches,
        ..Default::default()
    };
    o.dims.insert("N".into(), n);
    Session::new(model, o).unwrap()
}

fn inputs_of(s: &Session, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let (mut cond, mut noise) = (vec![0.0; s.cond_len()], vec![0.0; s.state_len()]);
    rng.fill_normal(&mut cond);
    rng.fill_normal(&mut noise);
    (cond, noise)
}

fn sample(s: &mut Session, cond: &[f32], noise: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; noise.len()];
    s.sample(cond, noise, &mut out).unwrap();
    out
}

fn models() -> Vec<(&'static str, Model)> {
    let m = |p| Model::from_bytes(&encode(&p)).unwrap();
    vec![
        ("trajectory", m(testing::trajectory_velocity(5, 32, 2))),
        ("mlp", m(testing::mlp_velocity(1, Default::default(), 3))),
        ("generator", m(testing::mlp_generator(3, 24, 16, 64))),
    ]
}

/// Within f32 rounding: the kernels pick their register tiles by row count, so a row's
/// summation order can depend on the size of the batch it is computed in.
fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    if let Err(e) = testing::compare(got, want, TOL_F32) {
        panic!("{what}: {e}");
    }
}

#[test]
fn threads_sample_what_one_thread_samples() {
    for (name, model) in models() {
        for precision in [Precision::F32, Precision::F16] {
            for n in [1, 2, 5, 17] {
                let mut one = session(&model, Backend::Native, precision, n, 1);
                let (cond, noise) = inputs_of(&one, n as u64);
                let want = sample(&mut one, &cond, &noise);
                for threads in [2, 3, 4] {
                    let mut many = session(&model, Backend::Native, precision, n, threads);
                    assert_eq!(many.info().threads, threads.min(n), "{name} N={n}");
                    // the chunks share the packed weight matrices: one copy, not one per thread
                    let (w1, wt) = (one.info().weight_bytes, many.info().weight_bytes);
                    assert!(
                        2 * wt < 3 * w1,
                        "{name} N={n}: {wt} weight bytes against {w1}"
                    );
                    assert_eq!(
                        (many.state_len(), many.cond_len()),
                        (one.state_len(), one.cond_len())
                    );
                    let what = format!("{name} {precision:?} N={n} threads={threads}");
                    let got = sample(&mut many, &cond, &noise);
                    close(&got, &want, &what);
                    // deterministic: the workers serve call after call, and another session
                    // with as many threads samples the very same bits
                    assert_eq!(sample(&mut many, &cond, &noise), got, "{what}, 2nd call");
                    let mut again = session(&model, Backend::Native, precision, n, threads);
                    assert_eq!(
                        sample(&mut again, &cond, &noise),
                        got,
                        "{what}, 2nd session"
                    );
                    // partial batches: the first rows of the batch, as one thread samples them
                    let (sr, cr) = (one.state_len() / n, one.cond_len() / n);
                    for rows in 1..n {
                        let mut a = vec![0.0; rows * sr];
                        let mut b = vec![0.0; rows * sr];
                        let (c, z) = (&cond[..rows * cr], &noise[..rows * sr]);
                        one.sample_batch(rows, c, z, &mut a).unwrap();
                        many.sample_batch(rows, c, z, &mut b).unwrap();
                        close(&b, &a, &format!("{what}, {rows} rows"));
                    }
                }
            }
        }
    }
}

/// A partial batch on a fitted session runs on the smallest session of the ladder that holds
/// it, alone or on threads; a full batch runs as without the ladder, bit for bit.
#[test]
fn fitted_partial_batches_sample_what_padded_ones_do() {
    for (name, model) in models() {
        for threads in [1, 2] {
            let n = 13;
            let mut plain = session(&model, Backend::Native, Precision::F32, n, 1);
            let mut fit = built(&model, Backend::Native, Precision::F32, n, threads, true);
            let (cond, noise) = inputs_of(&plain, 5);
            let what = format!("{name}, {threads} threads");
            let full = sample(&mut plain, &cond, &noise);
            if threads == 1 {
                assert_eq!(sample(&mut fit, &cond, &noise), full, "{what}: full batch");
                // the ladder (1, 2, 4, 8 rows) shares the packed weights and adds arenas
                let (w1, wf) = (plain.info().weight_bytes, fit.info().weight_bytes);
                assert!(2 * wf < 3 * w1, "{what}: {wf} weight bytes against {w1}");
                assert!(fit.info().arena_bytes > plain.info().arena_bytes);
            }
            let (sr, cr) = (plain.state_len() / n, plain.cond_len() / n);
            for rows in 1..n {
                let (c, z) = (&cond[..rows * cr], &noise[..rows * sr]);
                let (mut a, mut b) = (vec![0.0; rows * sr], vec![0.0; rows * sr]);
                plain.sample_batch(rows, c, z, &mut a).unwrap();
                fit.sample_batch(rows, c, z, &mut b).unwrap();
                close(&b, &a, &format!("{what}, {rows} rows"));
                let mut again = vec![0.0; rows * sr];
                fit.sample_batch(rows, c, z, &mut again).unwrap();
                assert_eq!(again, b, "{what}, {rows} rows, 2nd call");
            }
            if name == "generator" {
                continue; // no sampler to change
            }
            // a new sampler reaches every session of the ladder
            let heun = SamplerSpec::uniform(Method::Heun, 2);
            plain.set_sampler(Method::Heun, &heun.times).unwrap();
            fit.set_sampler(Method::Heun, &heun.times).unwrap();
            for rows in [1, 3, 7] {
                let (c, z) = (&cond[..rows * cr], &noise[..rows * sr]);
                let (mut a, mut b) = (vec![0.0; rows * sr], vec![0.0; rows * sr]);
                plain.sample_batch(rows, c, z, &mut a).unwrap();
                fit.sample_batch(rows, c, z, &mut b).unwrap();
                close(&b, &a, &format!("{what}, Heun, {rows} rows"));
            }
        }
    }
}

#[test]
fn tract_threads_and_a_new_sampler_match_too() {
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    let mut one = session(&model, Backend::Tract, Precision::F32, 6, 1);
    let mut many = session(&model, Backend::Tract, Precision::F32, 6, 3);
    let (cond, noise) = inputs_of(&one, 9);
    let want = sample(&mut one, &cond, &noise);
    close(&sample(&mut many, &cond, &noise), &want, "tract");
    let mut native_one = session(&model, Backend::Native, Precision::F32, 6, 1);
    let mut native_many = session(&model, Backend::Native, Precision::F32, 6, 2);
    let before = sample(&mut native_many, &cond, &noise);
    let heun = SamplerSpec::uniform(Method::Heun, 3);
    for s in [&mut native_one, &mut native_many] {
        s.set_sampler(Method::Heun, &heun.times).unwrap();
    }
    let after = sample(&mut native_many, &cond, &noise);
    assert!(
        testing::compare(&after, &before, TOL_F32).is_err(),
        "the workers took the new sampler"
    );
    close(&after, &sample(&mut native_one, &cond, &noise), "Heun");
    // a refused sampler changes no chunk
    assert!(native_many.set_sampler(Method::Euler, &[0.5, 0.5]).is_err());
    assert_eq!(sample(&mut native_many, &cond, &noise), after);
}

#[test]
fn bad_requests_are_refused_and_errors_come_back_from_the_workers() {
    let mut card_less = testing::mlp_velocity(1, Default::default(), 1);
    card_less.metadata_props.clear();
    let plain = Model::from_bytes(&encode(&card_less)).unwrap();
    let mut o = SessionOptions {
        threads: 2,
        ..Default::default()
    };
    for s in plain.symbols() {
        o.dims.insert(s, 4);
    }
    match Session::new(&plain, o) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("without a card"), "{why}"),
        r => panic!("expected a refusal, got {r:?}"),
    }
    if testing::gpu_available() {
        let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
        let mut o = SessionOptions {
            backend: Backend::Gpu,
            threads: 2,
            ..Default::default()
        };
        o.dims.insert("N".into(), 4);
        match Session::new(&model, o) {
            Err(Error::InvalidArgument(why)) => assert!(why.contains("GPU"), "{why}"),
            r => panic!("expected a refusal, got {r:?}"),
        }
    }
    // a chunk's failure is the call's: a grid whose step overflows, on every chunk
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    let mut s = session(&model, Backend::Native, Precision::F32, 8, 4);
    let (cond, mut noise) = inputs_of(&s, 4);
    let card_grid = s.times().to_vec();
    s.set_times(&[-3e38, 3e38]).unwrap();
    let mut out = vec![0.0; s.state_len()];
    assert!(matches!(
        s.sample(&cond, &noise, &mut out),
        Err(Error::NonFinite { what: "sample", .. })
    ));
    s.set_times(&card_grid).unwrap();
    // a NaN in the last chunk's rows is found before any thread starts, at its index
    let last = noise.len() - 3;
    noise[last] = f32::NAN;
    assert!(matches!(
        s.sample(&cond, &noise, &mut out),
        Err(Error::NonFinite { what: "noise", index }) if index == last
    ));
    noise[last] = 0.5;
    s.sample(&cond, &noise, &mut out).unwrap();
}

fn rows_and_whole(extra: bool) -> Model {
    Model::from_bytes(&encode(&testing::whole_time_velocity(3, extra))).unwrap()
}

/// Random inputs for `s.run`, one per graph input.
fn run_inputs(s: &Session, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    s.input_lens()
        .iter()
        .map(|&n| {
            let mut v = vec![0.0; n];
            rng.fill_normal(&mut v);
            v
        })
        .collect()
}

fn run(s: &mut Session, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&n| vec![0.0; n]).collect();
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
    s.run(&ins, &mut refs).unwrap();
    outs
}

/// A multi-threaded session has no engine for the whole batch: its chunks run a plain forward
/// pass by rows (an input without the batch axis whole), as one thread runs it, without
/// allocating; its arenas are the chunks' only. A model with an output that does not scale with
/// the batch is refused `run` on threads, and still samples there.
#[test]
fn threads_run_a_forward_pass_by_rows_and_hold_no_whole_batch_engine() {
    let mut all = models();
    all.push(("whole time input", rows_and_whole(false)));
    for (name, model) in &all {
        for backend in [Backend::Native, Backend::Tract] {
            let mut one = session(model, backend, Precision::F32, 7, 1);
            let inputs = run_inputs(&one, 5);
            let want = run(&mut one, &inputs);
            for threads in [2, 3] {
                let what = format!("{name}, {backend:?}, {threads} threads");
                let mut many = session(model, backend, Precision::F32, 7, threads);
                let got = run(&mut many, &inputs);
                for (g, w) in got.iter().zip(&want) {
                    close(g, w, &what);
                }
                if backend == Backend::Tract {
                    // tract allocates as it runs, on one thread or many, and has no arena
                    continue;
                }
                // the arenas are exactly the chunks' (7 rows: 4 + 3, or 3 + 2 + 2), with no
                // whole-batch engine's beside them
                let chunks: &[usize] = if threads == 2 { &[4, 3] } else { &[3, 2, 2] };
                let arena = |n| {
                    session(model, backend, Precision::F32, n, 1)
                        .info()
                        .arena_bytes
                };
                let want_arena: usize = chunks.iter().map(|&n| arena(n)).sum();
                assert_eq!(many.info().arena_bytes, want_arena, "{what}");
                let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
                let mut outs: Vec<Vec<f32>> = want.clone();
                let workers = many.worker_allocations();
                for _ in 0..20 {
                    let mut refs: Vec<&mut [f32]> =
                        outs.iter_mut().map(Vec::as_mut_slice).collect();
                    let before = thread_allocations();
                    many.run(&ins, &mut refs).unwrap();
                    assert_eq!(thread_allocations(), before, "{what}: run allocated");
                }
                assert_eq!(many.worker_allocations(), workers, "{what}: worker threads");
            }
        }
    }
    let extra = rows_and_whole(true);
    let mut many = session(&extra, Backend::Native, Precision::F32, 7, 2);
    let inputs = run_inputs(&many, 6);
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<Vec<f32>> = many.output_lens().iter().map(|&n| vec![0.0; n]).collect();
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
    match many.run(&ins, &mut refs) {
        Err(Error::InvalidInput(why)) => assert!(why.contains("one thread"), "{why}"),
        r => panic!("expected a refusal, got {r:?}"),
    }
    let mut one = session(&extra, Backend::Native, Precision::F32, 7, 1);
    let (cond, noise) = inputs_of(&one, 8);
    close(
        &sample(&mut many, &cond, &noise),
        &sample(&mut one, &cond, &noise),
        "the extra output's model samples on threads",
    );
}

/// The workers wake whichever thread called last: a session sent to another thread between
/// calls, and back, samples the same bits there (and does not hang waiting for a wake-up sent
/// to the thread it left: with more threads than cores, as in CI, the calling thread often
/// outlasts its spin and parks).
#[test]
fn a_threaded_session_moved_between_threads_samples_the_same() {
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    let mut s = session(&model, Backend::Native, Precision::F32, 7, 3);
    let (cond, noise) = inputs_of(&s, 12);
    let (sr, cr) = (s.state_len() / 7, s.cond_len() / 7);
    let part = |s: &mut Session| {
        let mut out = vec![0.0; 5 * sr];
        s.sample_batch(5, &cond[..5 * cr], &noise[..5 * sr], &mut out)
            .unwrap();
        out
    };
    let (whole, some) = (sample(&mut s, &cond, &noise), part(&mut s));
    for hop in 0..4 {
        let (t, mut s2) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut s = s;
                    for _ in 0..20 {
                        assert_eq!(sample(&mut s, &cond, &noise), whole);
                    }
                    let t = (sample(&mut s, &cond, &noise), part(&mut s));
                    (t, s)
                })
                .join()
                .unwrap()
        });
        assert_eq!(t, (whole.clone(), some.clone()), "on thread {hop}");
        assert_eq!(sample(&mut s2, &cond, &noise), whole, "back, after {hop}");
        s = s2;
    }
}

/// Many threaded sessions at once, their callers on threads of their own (more threads than
/// cores, so workers and callers are descheduled and park mid-call): each caller's samples,
/// full and partial batches, are bitwise those of the same session run alone.
#[test]
fn threaded_sessions_called_concurrently_sample_as_alone() {
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    let run = |threads: usize, seed: u64| -> Vec<u32> {
        let mut s = session(&model, Backend::Native, Precision::F32, 7, threads);
        let (sr, cr) = (s.state_len() / 7, s.cond_len() / 7);
        let mut bits = Vec::new();
        for call in 0..40u64 {
            let (cond, noise) = inputs_of(&s, seed * 1000 + call);
            let rows = 1 + (call as usize * 3) % 7;
            let mut out = vec![0.0; rows * sr];
            s.sample_batch(rows, &cond[..rows * cr], &noise[..rows * sr], &mut out)
                .unwrap();
            bits.extend(out.iter().map(|v| v.to_bits()));
        }
        bits
    };
    let jobs: Vec<(usize, u64)> = (0..6).map(|i| (2 + i % 2, i as u64)).collect();
    let alone: Vec<Vec<u32>> = jobs.iter().map(|&(t, seed)| run(t, seed)).collect();
    let together: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(t, seed)| scope.spawn(move || run(t, seed)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert!(
            a == b,
            "caller {i} ({} threads) sampled otherwise",
            jobs[i].0
        );
    }
}

/// Threads of this process (Linux: /proc/self/status).
#[cfg(target_os = "linux")]
fn process_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line[8..].trim().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn worker_threads_start_with_the_session_and_end_with_it() {
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    // other tests of this binary start and stop threads too: measure until a quiet moment
    // (they end within seconds) shows exactly 3 started and 0 left
    let mut seen = Vec::new();
    let start = std::time::Instant::now();
    while seen.last() != Some(&(3, 0)) && start.elapsed().as_secs() < 30 {
        let before = process_threads();
        let s = session(&model, Backend::Native, Precision::F32, 8, 4);
        let during = process_threads();
        drop(s);
        let after = process_threads();
        seen.push((
            during as isize - before as isize,
            after as isize - before as isize,
        ));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        seen.contains(&(3, 0)),
        "(started, left) per session: {seen:?}"
    );
}

#[test]
fn a_threaded_call_allocates_nothing_on_any_thread() {
    for ((name, model), fit) in models().into_iter().zip([false, true, true]) {
        let mut s = built(&model, Backend::Native, Precision::F32, 6, 3, fit);
        let (cond, noise) = inputs_of(&s, 2);
        let mut out = vec![0.0; s.state_len()];
        let (sr, cr) = (s.state_len() / 6, s.cond_len() / 6);
        let mut part = vec![0.0; 4 * sr];
        s.sample(&cond, &noise, &mut out).unwrap();
        s.sample_batch(4, &cond[..4 * cr], &noise[..4 * sr], &mut part)
            .unwrap();
        let (here, workers) = (thread_allocations(), s.worker_allocations());
        for _ in 0..200 {
            s.sample(&cond, &noise, &mut out).unwrap();
            s.sample_batch(4, &cond[..4 * cr], &noise[..4 * sr], &mut part)
                .unwrap();
        }
        assert_eq!(thread_allocations() - here, 0, "{name}: calling thread");
        assert_eq!(
            s.worker_allocations() - workers,
            0,
            "{name}: worker threads"
        );
    }
}

#[test]
fn a_forecaster_on_threads_forecasts_what_one_thread_does() {
    let model = Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap();
    let run = |threads| {
        let mut f = Forecaster::new(
            &model,
            ForecasterOptions {
                max_agents: 6,
                backend: Backend::Native,
                seed: 3,
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        let mut out = f.new_output();
        let mut all = Vec::new();
        for frame in 0..12 {
            let obs: Vec<(f64, f32, f32)> = (0..5)
                .map(|a| {
                    (
                        a as f64,
                        0.3 * frame as f32 + a as f32,
                        0.1 * (a * frame) as f32,
                    )
                })
                .collect();
            f.observe(frame as f64, &obs).unwrap();
            let n = f.predict(&mut out).unwrap();
            all.extend((0..n).flat_map(|i| out.futures(i).to_vec()));
        }
        all
    };
    let flat =
        |v: Vec<[[f32; 2]; 12]>| -> Vec<f32> { v.iter().flatten().flatten().copied().collect() };
    let one = flat(run(1));
    assert!(!one.is_empty());
    close(&flat(run(3)), &one, "forecaster");
}
