//! Teacher training is deterministic for a seed, and stopping after an epoch and resuming
//! gives the same weights as an uninterrupted run.

use std::path::{Path, PathBuf};

use fewstep_distill::data::{Split, fold_windows};
use fewstep_distill::eval::{evaluate, load};
use fewstep_distill::fit::CheckpointMeta;
use fewstep_distill::model::TrajNet;
use fewstep_distill::model_file::write_metrics;
use fewstep_distill::train::{Features, ModeError, TeacherArgs, train_teacher};

fn args(out: &Path) -> TeacherArgs {
    TeacherArgs {
        scene: "eth".into(),
        data: Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eth_ucy"),
        out: Some(out.to_path_buf()),
        epochs: 2,
        batch: 64,
        lr: 1e-3,
        weight_decay: 0.01,
        warmup: 0.05,
        clip: 1.0,
        ema: 0.995,
        seed: 4,
        threads: 1,
        d_model: 16,
        layers: 1,
        heads: 2,
        max_windows: Some(256),
        max_val_windows: Some(32),
        holdout: None,
        val_steps: 2,
        export_steps: 4,
        tied_noise: false,
        scale_aug: 1.0,
        // exercised here so the coupling is covered on real windows, resume included
        minibatch_ot: true,
        // likewise the ADE loss and the mirror augmentation (which draws from the same RNG)
        loss: ModeError::Ade,
        mirror_aug: true,
        // and the time-reversal augmentation (one more draw per item)
        reverse_aug: true,
        // and the relaxed winner-takes-all weighting
        wta_relax: 0.05,
        wta_relax_by_t: true,
        // and the annealed weighting, whose temperature follows the restored step count
        wta_anneal: Some(0.05),
        wta_anneal_until: 0.5,
        input_drop: Some(0.5),
        independent_modes: true,
        features: Default::default(),
        // and the endpoint weight of the per-mode error
        final_weight: 1.0,
        init: None,
        resume: false,
        stop_after: None,
        patience: None,
    }
}

/// `--init` starts from an exported teacher's weights: with a zero learning rate the run
/// exports them unchanged (up to the EMA's rounding); a different network is refused.
#[test]
fn init_starts_from_an_exported_teacher() {
    let (a, b) = (tmp("init-a"), tmp("init-b"));
    let mut first = args(&a);
    first.epochs = 1;
    let src = train_teacher(&first, "test").unwrap();
    let mut tune = args(&b);
    tune.epochs = 1;
    tune.lr = 0.0;
    tune.init = Some(src.clone());
    let tuned = train_teacher(&tune, "test").unwrap();
    let read = |p: &Path| fewstep_distill::import::from_file(p).unwrap();
    let (x, y) = (read(&src), read(&tuned));
    for n in x.names() {
        let (p, q) = (x.param_vec(&n).unwrap(), y.param_vec(&n).unwrap());
        let worst = p
            .iter()
            .zip(&q)
            .map(|(u, v)| (u - v).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{n}: {worst}");
    }
    let mut other = args(&tmp("init-c"));
    other.d_model = 8;
    other.init = Some(src);
    let err = train_teacher(&other, "test").unwrap_err();
    assert!(err.contains("--init"), "{err}");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// Time reversal needs windows whose neighbours it can reverse, which are not recorded: a
/// social (V3) teacher with `--reverse-aug` is refused before any training, and nothing is
/// written.
#[test]
fn reversal_is_refused_for_the_social_layout() {
    let out = tmp("rev-v3");
    let mut a = args(&out);
    a.features = Features::V3Social;
    let err = train_teacher(&a, "test").unwrap_err();
    assert!(err.contains("--reverse-aug"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_anneal_settings_are_refused() {
    for (t0, until) in [
        (0.0, 0.5),
        (-1.0, 0.5),
        (f32::NAN, 0.5),
        (0.3, 0.0),
        (0.3, 1.5),
    ] {
        let out = tmp("anneal-bad");
        let mut a = args(&out);
        a.wta_anneal = Some(t0);
        a.wta_anneal_until = until;
        let err = train_teacher(&a, "test").unwrap_err();
        assert!(err.contains("--wta-anneal"), "{err}");
        assert!(!out.exists());
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fewstep-distill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn weights(dir: &Path, file: &str) -> Vec<Vec<f32>> {
    let meta: CheckpointMeta =
        serde_json::from_str(&std::fs::read_to_string(dir.join("last.json")).unwrap()).unwrap();
    let net = TrajNet::load(meta.config, &dir.join(file)).unwrap();
    net.names()
        .iter()
        .map(|n| net.param_vec(n).unwrap())
        .collect()
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let (a, b) = (tmp("a"), tmp("b"));
    let onnx = train_teacher(&args(&a), "test").unwrap();
    assert!(onnx.ends_with("teacher.onnx") && onnx.exists());
    let model = fewstep::Model::load(&onnx).unwrap();
    let card = model.card().unwrap();
    assert_eq!(card.provenance.data.as_deref(), Some("eth_ucy/eth"));
    assert!(card.metrics.contains_key("val_minADE20_euler2"));

    // through the runtime, in chunks (the last one partial), card grid and overridden grid
    let loaded = load(&onnx).unwrap();
    assert_eq!(loaded.scene.as_deref(), Some("eth"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eth_ucy");
    let ws = fold_windows(&data, "eth", Split::Test, 2).unwrap();
    let ws = &ws[..21];
    for steps in [None, Some(3)] {
        let (ade, fde, _) = evaluate(&loaded, ws, steps, 0, 8).unwrap();
        let (ade1, fde1, _) = evaluate(&loaded, ws, steps, 0, 8).unwrap();
        assert!(ade.is_finite() && fde.is_finite() && ade > 0.0);
        assert_eq!((ade, fde), (ade1, fde1));
    }
    write_metrics(&onnx, &[("test_x".to_string(), 1.5)].into()).unwrap();
    let m = fewstep::Model::load(&onnx).unwrap();
    assert_eq!(m.card().unwrap().metrics["test_x"], 1.5);
    assert!(
        m.card()
            .unwrap()
            .metrics
            .contains_key("val_minADE20_euler2")
    );

    let mut first = args(&b);
    first.stop_after = Some(1);
    train_teacher(&first, "test").unwrap();
    assert!(!b.join("teacher.onnx").exists());
    let mut second = args(&b);
    second.resume = true;
    train_teacher(&second, "test").unwrap();
    for f in [
        "last.safetensors",
        "last.ema.safetensors",
        "last.adam_v.safetensors",
    ] {
        assert_eq!(weights(&a, f), weights(&b, f), "{f}");
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}
