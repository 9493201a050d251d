//! Whole models on native f32 and f16 against tract (and the ops one by one), with the named
//! tolerance classes of `fewstep::testing`.

use fewstep::onnx::write::encode;
use fewstep::rng::Rng;
use fewstep::testing::{self, TOL_F16, TOL_F32, compare, gpu_configs};
use fewstep::{Backend, GpuF16Mode, Model, Precision, Session};

fn session(model: &Model, backend: Backend, precision: Precision, n: usize) -> Session {
    testing::session(model, backend, precision, GpuF16Mode::Auto, n)
}

fn inputs(s: &Session, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    s.input_lens()
        .iter()
        .map(|&l| (0..l).map(|_| rng.normal()).collect())
        .collect()
}

fn forward(s: &mut Session, ins: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let refs: Vec<&[f32]> = ins.iter().map(|v| v.as_slice()).collect();
    let mut outs: Vec<Vec<f32>> = s.output_lens().iter().map(|&l| vec![0.0; l]).collect();
    let mut out_refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
    s.run(&refs, &mut out_refs).unwrap();
    outs
}

fn check_model(name: &str, bytes: &[u8], n: usize) {
    let model = Model::from_bytes(bytes).unwrap();
    let mut tract = session(&model, Backend::Tract, Precision::F32, n);
    let ins = inputs(&tract, 7);
    let want = forward(&mut tract, &ins);
    for (precision, tol) in [(Precision::F32, TOL_F32), (Precision::F16, TOL_F16)] {
        let mut native = session(&model, Backend::Native, precision, n);
        assert_eq!(native.info().backend, Backend::Native);
        let got = forward(&mut native, &ins);
        for (g, w) in got.iter().zip(&want) {
            let r = compare(g, w, tol)
                .unwrap_or_else(|e| panic!("{name} native {precision:?} vs tract: {e}"));
            eprintln!(
                "{name} native {precision:?} vs tract: max-abs/scale {:.2e}, NMSE {:.2e}",
                r.0, r.1
            );
        }
        // and the sampler: same noise, same condition, whole trajectory
        let (mut a, mut b) = (vec![0.0; tract.state_len()], vec![0.0; tract.state_len()]);
        let cond = &ins[2];
        let noise: Vec<f32> = {
            let mut r = Rng::new(3);
            (0..tract.state_len()).map(|_| r.normal()).collect()
        };
        tract.sample(cond, &noise, &mut a).unwrap();
        native.sample(cond, &noise, &mut b).unwrap();
        compare(&b, &a, tol)
            .unwrap_or_else(|e| panic!("{name} sample native {precision:?} vs tract: {e}"));
    }
    let configs = gpu_configs();
    if !configs.is_empty() {
        let mut native = session(&model, Backend::Native, Precision::F32, n);
        let want = forward(&mut native, &ins);
        let noise: Vec<f32> = {
            let mut r = Rng::new(3);
            (0..native.state_len()).map(|_| r.normal()).collect()
        };
        let mut want_sample = vec![0.0; native.state_len()];
        native.sample(&ins[2], &noise, &mut want_sample).unwrap();
        for (precision, mode, tol) in configs {
            let mut gpu = testing::session(&model, Backend::Gpu, precision, mode, n);
            let label = format!("{name} gpu {precision:?} {mode:?}");
            for (g, w) in forward(&mut gpu, &ins).iter().zip(&want) {
                let r = compare(g, w, tol).unwrap_or_else(|e| panic!("{label} vs native: {e}"));
                eprintln!(
                    "{label} vs native f32: max-abs/scale {:.2e}, NMSE {:.2e}",
                    r.0, r.1
                );
            }
            let mut got = vec![0.0; gpu.state_len()];
            gpu.sample(&ins[2], &noise, &mut got).unwrap();
            let r = compare(&got, &want_sample, tol)
                .unwrap_or_else(|e| panic!("{label} sample vs native: {e}"));
            eprintln!(
                "{label} sample vs native f32: max-abs/scale {:.2e}, NMSE {:.2e}",
                r.0, r.1
            );
        }
    }
}

#[test]
fn mlp_velocity_native_matches_tract() {
    for n in [1, 20] {
        check_model(
            "mlp",
            &encode(&testing::mlp_velocity(1, Default::default(), 4)),
            n,
        );
    }
}

#[test]
fn transformer_block_native_matches_tract() {
    for n in [1, 3] {
        check_model(
            "transformer",
            &encode(&testing::transformer_velocity(2, Default::default(), 4)),
            n,
        );
    }
}

#[test]
fn f16_weights_take_half_the_memory() {
    let model =
        Model::from_bytes(&encode(&testing::mlp_velocity(1, Default::default(), 4))).unwrap();
    let a = session(&model, Backend::Native, Precision::F32, 20)
        .info()
        .weight_bytes;
    let b = session(&model, Backend::Native, Precision::F16, 20)
        .info()
        .weight_bytes;
    eprintln!("weights: f32 {a} B, f16 {b} B");
    // matrices halve; biases and norm parameters (under 1% here) stay f32
    assert!(b * 2 <= a + a / 50 && b * 2 >= a, "f32 {a} B vs f16 {b} B");
}
