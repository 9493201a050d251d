//! The streaming forecaster: which agents are forecast, determinism, equivariance of the
//! features pipeline, and bad input.

use fewstep::card::Card;
use std::path::Path;

use fewstep::forecast::features::FeatureVersion;
use fewstep::forecast::{Forecaster, ForecasterOptions, OBS, PRED, Point, scene, windows};
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

/// A forecast that comes out NaN or infinite is an error, never futures: from the sampler (a
/// grid whose step overflows) or from the conversion to world coordinates (a card whose scale
/// overflows them). Either way the output then holds no agents, and the forecaster goes on.
#[test]
fn a_forecast_that_overflows_is_an_error_with_no_agents() {
    let observe_8 = |f: &mut Forecaster| {
        for frame in 0..8 {
            f.observe(frame as f64, &scene(frame, |p| p)).unwrap();
        }
    };
    let m = model();
    let mut f = forecaster(&m, 0, 4);
    let mut out = f.new_output();
    observe_8(&mut f);
    assert_eq!(f.predict(&mut out).unwrap(), 1);
    let card_grid = f.session().times().to_vec();
    f.set_sampler(f.session().method(), &[-3e38, 3e38]).unwrap();
    match f.predict(&mut out) {
        Err(Error::NonFinite { what: "sample", .. }) => {}
        r => panic!("expected a non-finite sample, got {r:?}"),
    }
    assert_eq!(out.len(), 0);
    f.set_sampler(f.session().method(), &card_grid).unwrap();
    assert_eq!(f.predict(&mut out).unwrap(), 1);

    let mut proto = testing::trajectory_velocity(5, 32, 2);
    let mut card = Card::from_json(&proto.metadata_props[0].value).unwrap();
    card.normalization["future_scale"] = serde_json::json!(f32::MAX);
    proto.metadata_props[0].value = card.to_json();
    let huge = Model::from_bytes(&encode(&proto)).unwrap();
    let mut f = forecaster(&huge, 0, 4);
    let mut out = f.new_output();
    observe_8(&mut f);
    match f.predict(&mut out) {
        Err(Error::NonFinite {
            what: "forecast",
            index,
        }) => assert!(index < out.k() * PRED * 2, "{index}"),
        r => panic!("expected a non-finite forecast, got {r:?}"),
    }
    assert_eq!(out.len(), 0);
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

fn model_with(features: FeatureVersion) -> Model {
    Model::from_bytes(&encode(&testing::trajectory_velocity_with(
        5, 32, 2, features,
    )))
    .unwrap()
}

/// Fed a real scene frame by frame, the forecaster builds every agent's condition exactly as
/// the offline windows do (the ones training and `eval` use), neighbours included: who they
/// are, which of them were seen the frame before, their order.
#[test]
fn streaming_conditions_are_the_windows_conditions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/eth_ucy/crowds_zara01.txt");
    let sc = scene::load(&path).unwrap();
    let ws = windows::windows(&sc, 1);
    for features in [FeatureVersion::V1, FeatureVersion::V3] {
        let m = model_with(features);
        let mut f = forecaster(&m, 0, 128);
        let mut out = f.new_output();
        let c = features.cond_len();
        let (mut checked, mut with_neighbours) = (0, 0);
        let mut want = vec![0f32; c];
        let mut obs = Vec::new();
        for (i, r) in sc.frame_ranges().into_iter().enumerate() {
            obs.clear();
            obs.extend(sc.rows[r].iter().map(|row| (row.agent, row.x, row.y)));
            f.observe(sc.frames[i], &obs).unwrap();
            let n = f.predict(&mut out).unwrap();
            let got = f.conditions();
            assert_eq!(got.len(), n * c);
            for w in ws.iter().filter(|w| w.start + OBS - 1 == i) {
                let row = (0..n)
                    .find(|&j| out.agent(j) == w.agent)
                    .unwrap_or_else(|| panic!("agent {} not forecast at frame {i}", w.agent));
                features.write(&w.obs, w.neighbours.iter().copied(), &mut want);
                assert_eq!(&got[row * c..(row + 1) * c], &want[..], "agent {}", w.agent);
                checked += 1;
                with_neighbours += usize::from(!w.neighbours.is_empty());
            }
        }
        assert_eq!(checked, ws.len());
        assert!(
            with_neighbours > ws.len() / 2,
            "{with_neighbours} of {checked}"
        );
    }
}

/// A social-layout (V3) model's forecast of an agent changes when another agent walks next
/// to it, even one not yet ready to be forecast itself; a V1 model's does not.
#[test]
fn a_social_model_sees_the_other_agents() {
    let run = |m: &Model, companion: bool| {
        let mut f = forecaster(m, 3, 4);
        let mut out = f.new_output();
        for frame in 0..10 {
            let t = frame as f32;
            let mut obs = vec![(1.0, 0.4 * t, 0.0)];
            if companion && frame >= 7 {
                obs.push((2.0, 0.4 * t, 0.8));
            }
            f.observe(frame as f64, &obs).unwrap();
            assert_eq!(f.predict(&mut out).unwrap(), usize::from(frame >= 7));
        }
        assert_eq!(out.agent(0), 1.0);
        out.futures(0).to_vec()
    };
    let v1 = model_with(FeatureVersion::V1);
    assert_eq!(run(&v1, false), run(&v1, true));
    let v3 = model_with(FeatureVersion::V3);
    let (alone, beside) = (run(&v3, false), run(&v3, true));
    let d = alone
        .iter()
        .flatten()
        .zip(beside.iter().flatten())
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .fold(0f32, f32::max);
    assert!(d > 1e-3, "a V3 model ignored its neighbour (deviation {d})");
}
