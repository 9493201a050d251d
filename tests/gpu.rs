//! The GPU backend beyond single ops (those are in tests/ops.rs and tests/parity.rs): every
//! shipped model sampled on the GPU (f32 and f16) against native f32, batches of 1024
//! conditions, a generator, no wgpu object created per run, and the no-adapter path.
//!
//! Without an adapter these tests skip with a message; CI sets `FEWSTEP_REQUIRE_GPU=1` (and
//! installs lavapipe), so there a missing adapter fails instead.
#![cfg(feature = "gpu")]

use std::path::{Path, PathBuf};
use std::process::Command;

use fewstep::gpu::GpuF16Path;
use fewstep::onnx::write::encode;
use fewstep::rng::Rng;
use fewstep::testing::{self, TOL_GPU_F32, compare, gpu_available, gpu_configs};
use fewstep::{Backend, GpuF16Mode, Model, Precision, Session, SessionOptions};

fn session(model: &Model, backend: Backend, precision: Precision, n: usize) -> Session {
    testing::session(model, backend, precision, GpuF16Mode::Auto, n)
}

/// Samples `model` with its card's sampler on native f32 and on the GPU with the same noise.
fn check_sample(name: &str, model: &Model, n: usize, steps: Option<usize>) {
    let mut native = session(model, Backend::Native, Precision::F32, n);
    if let Some(s) = steps {
        native.set_uniform_steps(s).unwrap();
    }
    let mut rng = Rng::new(5);
    let mut cond = vec![0.0; native.cond_len()];
    rng.fill_normal(&mut cond);
    let mut noise = vec![0.0; native.state_len()];
    rng.fill_normal(&mut noise);
    let mut want = vec![0.0; native.state_len()];
    native.sample(&cond, &noise, &mut want).unwrap();
    for (precision, mode, tol) in gpu_configs() {
        let mut gpu = testing::session(model, Backend::Gpu, precision, mode, n);
        if let Some(s) = steps {
            gpu.set_uniform_steps(s).unwrap();
        }
        let mut got = vec![0.0; gpu.state_len()];
        gpu.sample(&cond, &noise, &mut got).unwrap();
        let (abs, nmse) = compare(&got, &want, tol).unwrap_or_else(|e| {
            panic!("{name} N={n} gpu {precision:?} {mode:?} vs native f32: {e}")
        });
        eprintln!(
            "{name} N={n} steps={} gpu {precision:?} {mode:?} vs native f32: max-abs/scale {abs:.2e}, NMSE {nmse:.2e}",
            gpu.times().len() - 1
        );
    }
}

fn shipped_models() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut out = Vec::new();
    for scene in std::fs::read_dir(&root).unwrap() {
        let dir = scene.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "onnx") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_shipped_model_samples_on_the_gpu_like_native() {
    if !gpu_available() {
        return;
    }
    let models = shipped_models();
    assert!(models.len() >= 4, "models/ holds {} models", models.len());
    for path in &models {
        let model = Model::load(path).unwrap();
        let name = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        // teachers at 10 steps (their card says 100: same kernels, ten times the launches)
        let steps = name.contains("teacher").then_some(10);
        check_sample(&name, &model, 3, steps);
    }
}

#[test]
fn a_batch_of_1024_conditions_is_one_submit_and_matches_native() {
    if !gpu_available() {
        return;
    }
    let model =
        Model::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx")).unwrap();
    check_sample("eth reflow", &model, 1024, None);
}

#[test]
fn generators_and_every_sampler_method_run_on_the_gpu() {
    if !gpu_available() {
        return;
    }
    let generator = Model::from_bytes(&encode(&testing::mlp_generator(3, 6, 4, 16))).unwrap();
    check_sample("generator", &generator, 5, None);
    let mlp = Model::from_bytes(&encode(&testing::mlp_velocity(1, Default::default(), 3))).unwrap();
    for method in [
        fewstep::card::Method::Euler,
        fewstep::card::Method::Heun,
        fewstep::card::Method::Midpoint,
    ] {
        let mut native = session(&mlp, Backend::Native, Precision::F32, 4);
        let mut gpu = session(&mlp, Backend::Gpu, Precision::F32, 4);
        let times = [0.0, 0.3, 0.7, 1.0];
        native.set_sampler(method, &times).unwrap();
        gpu.set_sampler(method, &times).unwrap();
        let mut rng = Rng::new(9);
        let mut cond = vec![0.0; native.cond_len()];
        rng.fill_normal(&mut cond);
        let mut noise = vec![0.0; native.state_len()];
        rng.fill_normal(&mut noise);
        let (mut a, mut b) = (vec![0.0; noise.len()], vec![0.0; noise.len()]);
        native.sample(&cond, &noise, &mut a).unwrap();
        gpu.sample(&cond, &noise, &mut b).unwrap();
        compare(&b, &a, TOL_GPU_F32).unwrap_or_else(|e| panic!("{method:?}: {e}"));
    }
}

#[test]
fn each_f16_mode_takes_its_path_and_reports_it() {
    if !gpu_available() {
        return;
    }
    let model =
        Model::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx")).unwrap();
    let has = fewstep::gpu::context().unwrap().shader_f16;
    let path = |precision, mode| {
        let s = testing::session(&model, Backend::Gpu, precision, mode, 4);
        let g = s.info().gpu.clone().unwrap();
        (s, g.f16_path)
    };
    assert_eq!(
        path(Precision::F32, GpuF16Mode::ShaderF16).1,
        GpuF16Path::None.describe()
    );
    let (mut packed, p) = path(Precision::F16, GpuF16Mode::PackedWeights);
    assert_eq!(p, GpuF16Path::PackedWeights.describe());
    let auto = if has {
        GpuF16Path::ShaderF16
    } else {
        GpuF16Path::PackedWeights
    };
    assert_eq!(path(Precision::F16, GpuF16Mode::Auto).1, auto.describe());
    let mut o = SessionOptions {
        backend: Backend::Gpu,
        precision: Precision::F16,
        gpu_f16: GpuF16Mode::ShaderF16,
        ..Default::default()
    };
    o.dims.insert("N".into(), 4);
    match Session::new(&model, o) {
        Ok(mut shader) => {
            assert!(has);
            assert_eq!(
                shader.info().gpu.as_ref().unwrap().f16_path,
                GpuF16Path::ShaderF16.describe()
            );
            // f16 activations round differently from f32 ones: the paths really differ
            let cond = vec![0.3; shader.cond_len()];
            let noise: Vec<f32> = (0..shader.state_len()).map(|i| (i as f32).sin()).collect();
            let (mut a, mut b) = (vec![0.0; noise.len()], vec![0.0; noise.len()]);
            shader.sample(&cond, &noise, &mut a).unwrap();
            packed.sample(&cond, &noise, &mut b).unwrap();
            assert!(a.iter().zip(&b).any(|(x, y)| x != y));
        }
        Err(e) => {
            assert!(!has, "{e}");
            assert!(e.to_string().contains("SHADER_F16"), "{e}");
        }
    }
}

#[test]
fn a_run_creates_no_wgpu_object() {
    if !gpu_available() {
        return;
    }
    let model =
        Model::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx")).unwrap();
    for (precision, mode, _) in gpu_configs() {
        runs_create_nothing(&model, precision, mode);
    }
}

fn runs_create_nothing(model: &Model, precision: Precision, mode: GpuF16Mode) {
    let at_start = fewstep::gpu::objects_created();
    let mut s = testing::session(model, Backend::Gpu, precision, mode, 8);
    // the counter sees what a session build creates (buffers, layouts, modules, pipelines...)
    assert!(fewstep::gpu::objects_created() >= at_start + 10);
    let cond = vec![0.1; s.cond_len()];
    let noise = vec![0.2; s.state_len()];
    let mut out = vec![0.0; s.state_len()];
    let ins: Vec<Vec<f32>> = s.input_lens().iter().map(|&l| vec![0.3; l]).collect();
    let refs: Vec<&[f32]> = ins.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
    let mut part = vec![0.0; s.state_len() / 8 * 3];
    // the first sample builds the sampler's launch list (once per time grid)
    s.sample(&cond, &noise, &mut out).unwrap();
    let before = fewstep::gpu::objects_created();
    for _ in 0..20 {
        s.sample(&cond, &noise, &mut out).unwrap();
        let mut o: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        s.run(&refs, &mut o).unwrap();
        s.sample_batch(
            3,
            &cond[..cond.len() / 8 * 3],
            &noise[..part.len()],
            &mut part,
        )
        .unwrap();
    }
    assert_eq!(
        fewstep::gpu::objects_created(),
        before,
        "{precision:?} {mode:?}: runs created wgpu objects"
    );
    assert!(out.iter().chain(&part).all(|v| v.is_finite()));
}

#[test]
fn auto_never_picks_the_gpu_and_bad_input_is_refused_before_the_gpu() {
    let model =
        Model::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx")).unwrap();
    let auto = session(&model, Backend::Auto, Precision::F32, 2);
    assert_eq!(auto.info().backend, Backend::Native);
    if !gpu_available() {
        return;
    }
    let mut s = session(&model, Backend::Gpu, Precision::F32, 2);
    let cond = vec![0.0; s.cond_len()];
    let mut noise = vec![0.0; s.state_len()];
    let mut out = vec![0.0; s.state_len()];
    noise[3] = f32::NAN;
    assert!(matches!(
        s.sample(&cond, &noise, &mut out),
        Err(fewstep::Error::NonFinite { index: 3, .. })
    ));
    assert!(matches!(
        s.sample(&cond, &noise[1..], &mut out),
        Err(fewstep::Error::WrongLength { .. })
    ));
}

/// A machine without a Vulkan driver: the CLI says so and exits non-zero; nothing panics.
#[test]
fn no_adapter_is_a_clear_error() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/eth/reflow.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_fewstep"))
        .args([
            "bench",
            "--backend",
            "gpu",
            "--precision",
            "f32",
            "--iters",
            "3",
        ])
        .arg(&model)
        .env("WGPU_BACKEND", "vulkan")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.contains("backend unavailable") && text.contains("no GPU adapter"),
        "{text}"
    );
}

/// A batch whose activations exceed the adapter's storage binding (here also more memory than
/// the machine has) is refused before anything is allocated, not an aborted allocation.
#[test]
fn a_batch_too_large_for_the_gpu_is_refused_before_allocating() {
    if !gpu_available() {
        return;
    }
    let mlp = Model::from_bytes(&encode(&testing::mlp_velocity(1, Default::default(), 3))).unwrap();
    let mut o = SessionOptions {
        backend: Backend::Gpu,
        ..Default::default()
    };
    o.dims.insert("N".into(), 1 << 26);
    match Session::new(&mlp, o) {
        Err(fewstep::Error::Unsupported(why)) => {
            assert!(why.contains("storage binding limit"), "{why}")
        }
        r => panic!(
            "expected Unsupported, got {:?}",
            r.map(|s| s.info().clone())
        ),
    }
}
