//! The streaming forecaster: which agents are forecast, determinism, equivariance of the
//! features pipeline, and bad input.

use fewstep::card::Card;
use fewstep::forecast::features::FeatureVersion;
use fewstep::forecast::{Forecaster, ForecasterOptions, PRED, Point};
use fewstep::onnx::write::encode;
use fewstep::{Backend, Error, Model, testing};

fn model() -> Model {
    Model::from_bytes(&encode(&testing::trajectory_velocity(5, 32, 2))).unwrap()
}

fn forecaster(m: &Model, seed: u64, max_agents: usize) -> Forecaster {
    Forecaster::new(
        m,
        ForecasterOptions {
            max_agents,
            backend: Backend::Native,
            seed,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Agent 1 walks every frame; 2 skips frame 4; 3 appears at frame 2.
fn scene(frame: usize, map: impl Fn(Point) -> Point) -> Vec<(f64, f32, f32)> {
    let f = frame as f32;
    let mut v = vec![(1.0, map([0.4 * f, 0.0]))];
    if frame != 4 {
        v.push((2.0, map([-0.2 * f, 1.0 + 0.1 * f])));
    }
    if frame >= 2 {
        v.push((3.0, map([5.0, 0.3 * f])));
    }
    v.into_iter().map(|(a, p)| (a, p[0], p[1])).collect()
}

fn run(
    m: &Model,
    seed: u64,
    frames: usize,
    map: impl Fn(Point) -> Point + Copy,
) -> Vec<(f64, Vec<[Point; PRED]>)> {
    let mut f = forecaster(m, seed, 4);
    let mut out = f.new_output();
    let mut n = 0;
    for frame in 0..frames {
        f.observe(frame as f64 * 10.0, &scene(frame, map)).unwrap();
        n = f.predict(&mut out).unwrap();
    }
    (0..n)
        .map(|i| (out.agent(i), out.futures(i).to_vec()))
        .collect()
}

#[test]
fn ready_agents_are_those_with_eight_consecutive_frames() {
    let m = model();
    assert!(run(&m, 0, 7, |p| p).is_empty());
    let at = |frames| {
        run(&m, 0, frames, |p| p)
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(8), vec![1.0]); // 3 appeared at frame 2, 2 skipped frame 4
    assert_eq!(at(10), vec![1.0, 3.0]);
    assert_eq!(at(13), vec![1.0, 2.0, 3.0]); // 2 observed again from frame 5 on
    let r = run(&m, 0, 13, |p| p);
    assert_eq!(r[0].1.len(), 20);
}

#[test]
fn same_seed_same_forecasts_and_the_pipeline_is_equivariant() {
    let m = model();
    let a = run(&m, 7, 12, |p| p);
    assert_eq!(a, run(&m, 7, 12, |p| p));
    assert_ne!(a, run(&m, 8, 12, |p| p));
    // rotating and shifting the whole scene rotates and shifts the forecasts (same noise)
    let (s, c) = 0.7f32.sin_cos();
    let rot = move |p: Point| [c * p[0] - s * p[1] + 100.0, s * p[0] + c * p[1] - 40.0];
    let b = run(&m, 7, 12, rot);
    assert_eq!(a.len(), b.len());
    for ((_, fa), (_, fb)) in a.iter().zip(&b) {
        for (ta, tb) in fa.iter().zip(fb) {
            for (pa, pb) in ta.iter().zip(tb) {
                let want = rot(*pa);
                assert!(
                    (want[0] - pb[0]).abs() < 2e-3 && (want[1] - pb[1]).abs() < 2e-3,
                    "{want:?} vs {pb:?}"
                );
            }
        }
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let m = model();
    let mut f = forecaster(&m, 0, 2);
    f.observe(0.0, &[(1.0, 0.0, 0.0)]).unwrap();
    assert!(matches!(
        f.observe(0.0, &[(1.0, 0.0, 0.0)]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        f.observe(1.0, &[(1.0, f32::NAN, 0.0)]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        f.observe(2.0, &[(1.0, 0.0, 0.0), (1.0, 1.0, 1.0)]),
        Err(Error::InvalidInput(_))
    ));
    let three = [(1.0, 0.0, 0.0), (2.0, 1.0, 0.0), (3.0, 2.0, 0.0)];
    assert!(matches!(f.observe(3.0, &three), Err(Error::Capacity(_))));
    let plain =
        Model::from_bytes(&encode(&testing::mlp_velocity(1, Default::default(), 1))).unwrap();
    match Forecaster::new(&plain, ForecasterOptions::default()) {
        Err(Error::InvalidArgument(why)) => {
            assert!(why.contains("not a fewstep trajectory model"), "{why}")
        }
        r => panic!("{:?}", r.map(|_| ())),
    }
}

fn scene_model() -> Model {
    let proto = testing::trajectory_velocity_with(5, 32, 2, FeatureVersion::V2);
    Model::from_bytes(&encode(&proto)).unwrap()
}

/// Largest distance between `map` of `a`'s forecasts and `b`'s.
fn deviation(
    a: &[(f64, Vec<[Point; PRED]>)],
    b: &[(f64, Vec<[Point; PRED]>)],
    map: impl Fn(Point) -> Point,
) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut d = 0f32;
    for ((ia, fa), (ib, fb)) in a.iter().zip(b) {
        assert_eq!(ia, ib);
        for (ta, tb) in fa.iter().zip(fb) {
            for (pa, pb) in ta.iter().zip(tb) {
                let want = map(*pa);
                d = d.max((want[0] - pb[0]).hypot(want[1] - pb[1]));
            }
        }
    }
    d
}

/// A scene-layout (V2) model is fed where its agents are: shifting the whole scene no longer
/// just shifts the forecasts, as it does for a V1 model. It stays deterministic per seed.
#[test]
fn a_scene_model_sees_where_the_agents_are() {
    let shift = |p: Point| [p[0] + 3.0, p[1] - 2.0];
    let v1 = model();
    let a = run(&v1, 7, 12, |p| p);
    assert!(deviation(&a, &run(&v1, 7, 12, shift), shift) < 2e-3);
    let v2 = scene_model();
    let a = run(&v2, 7, 12, |p| p);
    assert_eq!(a, run(&v2, 7, 12, |p| p));
    assert_eq!(a.len(), 2); // agents 1 and 3
    let d = deviation(&a, &run(&v2, 7, 12, shift), shift);
    assert!(
        d > 1e-2,
        "a V2 model ignored the scene position (deviation {d})"
    );
}

/// A card whose feature layout does not match its condition's width is refused.
#[test]
fn a_card_with_the_wrong_condition_width_is_refused() {
    let mut proto = testing::trajectory_velocity(5, 32, 2);
    let mut card = Card::from_json(&proto.metadata_props[0].value).unwrap();
    card.normalization["features"] = serde_json::json!("fewstep-traj-v2-scene");
    proto.metadata_props[0].value = card.to_json();
    let m = Model::from_bytes(&encode(&proto)).unwrap();
    match Forecaster::new(&m, ForecasterOptions::default()) {
        Err(Error::InvalidArgument(why)) => {
            assert!(why.contains("[N, 36]"), "{why}")
        }
        r => panic!("{:?}", r.map(|_| ())),
    }
}
