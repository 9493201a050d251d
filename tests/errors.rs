//! Bad input gets a typed error, never a panic: broken files, unknown ops, wrong lengths,
//! NaN/Inf, cards that disagree with their graph, unbound symbols.

use fewstep::card::{CardDim, Method, Prediction, SamplerSpec};
use fewstep::onnx::write::encode;
use fewstep::onnx::{Dim, GraphBuilder};
use fewstep::rng::Rng;
use fewstep::testing;
use fewstep::{Backend, Error, Model, Precision, Session, SessionOptions};

fn mlp_bytes() -> Vec<u8> {
    encode(&testing::mlp_velocity(
        1,
        testing::MlpShape {
            state: 4,
            cond: 3,
            hidden: 16,
        },
        2,
    ))
}

fn opts(backend: Backend, n: usize) -> SessionOptions {
    let mut o = SessionOptions {
        backend,
        precision: Precision::F32,
        ..Default::default()
    };
    o.dims.insert("N".into(), n);
    o
}

#[test]
fn empty_truncated_and_garbage_files_are_bad_models() {
    assert!(matches!(Model::from_bytes(&[]), Err(Error::BadModel(_))));
    let good = mlp_bytes();
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        let r = Model::from_bytes(&good[..cut]);
        assert!(matches!(r, Err(Error::BadModel(_))), "cut at {cut}: {r:?}");
    }
    let mut rng = Rng::new(9);
    let garbage: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    assert!(matches!(
        Model::from_bytes(&garbage),
        Err(Error::BadModel(_))
    ));
    let r = Model::load("/nonexistent/model.onnx");
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
}

/// Random byte flips in a valid model never panic (each load is an Ok or an Err).
#[test]
fn mutated_models_never_panic() {
    let good = mlp_bytes();
    let mut rng = Rng::new(4);
    for _ in 0..300 {
        let mut b = good.clone();
        for _ in 0..1 + rng.next_u64() % 8 {
            let i = (rng.next_u64() as usize) % b.len();
            b[i] = rng.next_u64() as u8;
        }
        if let Ok(m) = Model::from_bytes(&b)
            && let Ok(mut s) = Session::new(&m, opts(Backend::Auto, 2))
        {
            let mut out = vec![0.0; s.state_len()];
            let _ = s.sample(
                &vec![0.0; s.cond_len()],
                &vec![0.0; s.state_len()],
                &mut out,
            );
        }
    }
}

fn single_op(op: &str) -> Vec<u8> {
    let mut g = GraphBuilder::new("one");
    let x = g.input("x", &[Dim::Fixed(2), Dim::Fixed(3)]);
    let y = g.node(op, &[&x], &[]);
    g.node_named("Identity", &[&y], &[], "y");
    g.output("y", &[]);
    encode(&g.finish(None))
}

#[test]
fn an_op_native_lacks_falls_back_to_tract_and_an_unknown_op_is_an_error() {
    let m = Model::from_bytes(&single_op("Floor")).unwrap();
    match Session::new(&m, opts(Backend::Native, 1)) {
        Err(Error::Unsupported(why)) => assert!(why.contains("Floor"), "{why}"),
        r => panic!("expected Unsupported, got {r:?}"),
    }
    let mut s = Session::new(&m, opts(Backend::Auto, 1)).unwrap();
    assert_eq!(s.info().backend, Backend::Tract);
    assert!(
        s.info()
            .fallback_reason
            .as_deref()
            .unwrap_or("")
            .contains("Floor")
    );
    let mut y = vec![0.0; 6];
    s.run(&[&[0.5, 1.5, -0.5, 2.0, 3.7, -3.2]], &mut [&mut y])
        .unwrap();
    assert_eq!(y, [0.0, 1.0, -1.0, 2.0, 3.0, -4.0]);
    let r = Model::from_bytes(&single_op("NoSuchOpAnywhere"));
    match r {
        Err(Error::BadModel(why)) => assert!(why.contains("NoSuchOpAnywhere"), "{why}"),
        r => panic!("expected BadModel, got {r:?}"),
    }
}

#[test]
fn wrong_lengths_and_non_finite_inputs_are_rejected() {
    let m = Model::from_bytes(&mlp_bytes()).unwrap();
    for backend in [Backend::Native, Backend::Tract] {
        let mut s = Session::new(&m, opts(backend, 2)).unwrap();
        let (c, z) = (vec![0.1; s.cond_len()], vec![0.2; s.state_len()]);
        let mut out = vec![0.0; s.state_len()];
        assert!(matches!(
            s.sample(&c[1..], &z, &mut out),
            Err(Error::WrongLength { what: "cond", .. })
        ));
        assert!(matches!(
            s.sample(&c, &z[1..], &mut out),
            Err(Error::WrongLength { what: "noise", .. })
        ));
        assert!(matches!(
            s.sample(&c, &z, &mut out[1..]),
            Err(Error::WrongLength { what: "out", .. })
        ));
        let mut bad = z.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            s.sample(&c, &bad, &mut out),
            Err(Error::NonFinite {
                what: "noise",
                index: 3
            })
        ));
        let mut bad = c.clone();
        bad[0] = f32::INFINITY;
        assert!(matches!(
            s.sample(&bad, &z, &mut out),
            Err(Error::NonFinite {
                what: "cond",
                index: 0
            })
        ));
        // the session still works after rejected calls
        s.sample(&c, &z, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        let ins: Vec<Vec<f32>> = s.input_lens().iter().map(|&l| vec![0.0; l]).collect();
        let refs: Vec<&[f32]> = ins.iter().map(|v| v.as_slice()).collect();
        let mut y = vec![0.0; s.output_lens()[0]];
        assert!(matches!(
            s.run(&refs[..2], &mut [&mut y]),
            Err(Error::WrongLength { .. })
        ));
        let mut short = vec![0.0; y.len() - 1];
        assert!(matches!(
            s.run(&refs, &mut [&mut short]),
            Err(Error::WrongLength { what: "output", .. })
        ));
    }
}

/// A finite grid whose step overflows f32 makes an infinite sample: that is an error naming the
/// sample, never an `Ok` holding infinities, and the session samples again once the grid is sane.
#[test]
fn a_sample_that_overflows_is_an_error_not_an_infinity() {
    let m = Model::from_bytes(&mlp_bytes()).unwrap();
    let mut backends = vec![Backend::Native, Backend::Tract];
    if testing::gpu_available() {
        backends.push(Backend::Gpu);
    }
    for backend in backends {
        let mut s = Session::new(&m, opts(backend, 2)).unwrap();
        assert_eq!(s.batch_rows(), 2);
        let card_grid = s.times().to_vec();
        let (c, z) = (vec![0.1; s.cond_len()], vec![0.2; s.state_len()]);
        let mut out = vec![0.0; s.state_len()];
        // both times are finite, their difference is not
        s.set_times(&[-3e38, 3e38]).unwrap();
        match s.sample(&c, &z, &mut out) {
            Err(Error::NonFinite {
                what: "sample",
                index,
            }) => {
                assert!(!out[index].is_finite(), "{backend:?}: index {index}");
                assert!(out[..index].iter().all(|v| v.is_finite()));
            }
            r => panic!("{backend:?}: expected a non-finite sample error, got {r:?}"),
        }
        let mut half = vec![0.0; s.state_len() / 2];
        let (c1, z1) = (&c[..c.len() / 2], &z[..z.len() / 2]);
        assert!(
            matches!(
                s.sample_batch(1, c1, z1, &mut half),
                Err(Error::NonFinite { what: "sample", .. })
            ),
            "{backend:?}: a partial batch is checked too"
        );
        s.set_times(&card_grid).unwrap();
        s.sample(&c, &z, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        s.sample_batch(1, c1, z1, &mut half).unwrap();
        assert_eq!(half, out[..half.len()], "{backend:?}");
    }
}

#[test]
fn unbound_symbol_and_missing_card_are_clear_errors() {
    let m = Model::from_bytes(&mlp_bytes()).unwrap();
    match Session::new(&m, SessionOptions::default()) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("N"), "{why}"),
        r => panic!("{r:?}"),
    }
    // a zero batch used to build an engine without inputs, which then panicked (found by the
    // c_abi fuzz target)
    for backend in [Backend::Auto, Backend::Native, Backend::Tract] {
        match Session::new(&m, opts(backend, 0)) {
            Err(Error::InvalidArgument(why)) => assert!(why.contains("N = 0"), "{why}"),
            r => panic!("{backend:?}: {r:?}"),
        }
    }
    let plain = Model::from_bytes(&single_op("Relu")).unwrap();
    let mut s = Session::new(&plain, opts(Backend::Native, 1)).unwrap();
    assert!(matches!(s.sample(&[], &[], &mut []), Err(Error::NoCard)));
    assert!(matches!(
        s.set_sampler(Method::Euler, &[0.0, 1.0]),
        Err(Error::NoCard)
    ));
    // a generator runs once: no sampler to set
    let generator = Model::from_bytes(&encode(&testing::mlp_generator(1, 4, 3, 8))).unwrap();
    let mut g = Session::new(&generator, opts(Backend::Native, 1)).unwrap();
    match g.set_uniform_steps(2) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("generator"), "{why}"),
        r => panic!("expected a refusal, got {r:?}"),
    }
}

/// Rewrites the card of the MLP fixture and expects `BadCard`.
fn with_card(edit: impl Fn(&mut fewstep::Card)) -> Result<Model, Error> {
    let mut proto = testing::mlp_velocity(
        1,
        testing::MlpShape {
            state: 4,
            cond: 3,
            hidden: 16,
        },
        2,
    );
    let mut card = fewstep::Card::from_json(&proto.metadata_props[0].value).unwrap();
    edit(&mut card);
    proto.metadata_props[0].value = serde_json::to_string(&card).unwrap();
    Model::from_bytes(&encode(&proto))
}

#[test]
fn a_card_that_disagrees_with_the_graph_is_a_bad_card() {
    assert!(with_card(|_| {}).is_ok());
    type Edit = Box<dyn Fn(&mut fewstep::Card)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "unknown state input",
            Box::new(|c| c.roles.state = "nope".into()),
        ),
        (
            "state not among card inputs",
            Box::new(|c| c.inputs.retain(|i| i.name != "x")),
        ),
        (
            "wrong fixed shape",
            Box::new(|c| c.inputs[0].shape[1] = CardDim::Fixed(5)),
        ),
        (
            "wrong rank",
            Box::new(|c| c.outputs[0].shape.push(CardDim::Fixed(1))),
        ),
        ("velocity without sampler", Box::new(|c| c.sampler = None)),
        ("velocity without time", Box::new(|c| c.roles.time = None)),
        (
            "decreasing times",
            Box::new(|c| {
                c.sampler = Some(SamplerSpec {
                    method: Method::Euler,
                    times: vec![0.0, 0.5, 0.2],
                })
            }),
        ),
        ("future format", Box::new(|c| c.format_version = 99)),
        (
            "Heun to t = 1 on a data-predicting net",
            Box::new(|c| {
                c.prediction = Some(Prediction::Data);
                c.sampler = Some(SamplerSpec::uniform(Method::Heun, 2));
            }),
        ),
        (
            "output not in graph",
            Box::new(|c| {
                c.roles.output = "w".into();
                c.outputs[0].name = "w".into();
            }),
        ),
    ];
    for (what, edit) in cases {
        match with_card(edit) {
            Err(Error::BadCard(why)) => eprintln!("{what}: {why}"),
            r => panic!("{what}: expected BadCard, got {r:?}"),
        }
    }
    let mut proto = testing::mlp_velocity(1, Default::default(), 2);
    proto.metadata_props[0].value = "{not json".into();
    assert!(matches!(
        Model::from_bytes(&encode(&proto)),
        Err(Error::BadCard(_))
    ));
    // a prediction the card format does not know
    let mut proto = testing::mlp_velocity(1, Default::default(), 2);
    let json = &mut proto.metadata_props[0].value;
    *json = json.replacen('{', r#"{"prediction":"noise","#, 1);
    match Model::from_bytes(&encode(&proto)) {
        Err(Error::BadCard(why)) => assert!(why.contains("noise"), "{why}"),
        r => panic!("unknown prediction: expected BadCard, got {r:?}"),
    }
}

/// A net whose card says it predicts the data must not be evaluated at t = 1, which Heun does
/// at the end of a grid that ends there: the card and the session refuse that sampler, and a
/// refused change leaves the session's sampler as it was. Euler and midpoint, Heun on a grid
/// that stops short of 1, and Heun on nets that predict the velocity or do not say, are fine.
#[test]
fn heun_to_t1_is_refused_for_a_data_predicting_net() {
    let heun_to_1 = SamplerSpec::uniform(Method::Heun, 2);
    for prediction in [None, Some(Prediction::Velocity)] {
        let m = with_card(|c| {
            c.prediction = prediction;
            c.sampler = Some(heun_to_1.clone());
        });
        assert!(m.is_ok(), "{prediction:?}: {m:?}");
    }
    let m = with_card(|c| c.prediction = Some(Prediction::Data)).unwrap();
    let mut s = Session::new(&m, opts(Backend::Native, 1)).unwrap();
    let card_grid = s.times().to_vec();
    match s.set_sampler(Method::Heun, &heun_to_1.times) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("predicts the data"), "{why}"),
        r => panic!("expected a refusal, got {r:?}"),
    }
    assert_eq!((s.method(), s.times()), (Method::Euler, &card_grid[..]));
    for (method, times) in [
        (Method::Euler, vec![0.0, 0.5, 1.0]),
        (Method::Midpoint, vec![0.0, 0.5, 1.0]),
        (Method::Heun, vec![0.0, 0.45, 0.9]),
    ] {
        s.set_sampler(method, &times).unwrap();
        let (cond, noise) = (vec![0.5; s.cond_len()], vec![0.1; s.state_len()]);
        let mut out = vec![0.0; s.state_len()];
        s.sample(&cond, &noise, &mut out).unwrap();
    }
    // Heun is now the method: moving its grid's end to 1 is refused too
    assert!(matches!(
        s.set_times(&[0.0, 0.5, 1.0]),
        Err(Error::InvalidArgument(_))
    ));
    // uniform steps stay on the current interval, [0, 0.9]
    s.set_uniform_steps(4).unwrap();
    assert_eq!(s.times().last(), Some(&0.9));
}

/// `Model` is shared across threads; each thread builds its own `Session`.
#[test]
fn model_is_send_sync_and_session_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Model>();
    send::<Session>();
    let m = Model::from_bytes(&mlp_bytes()).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut s = Session::new(&m, opts(Backend::Native, 1)).unwrap();
                let mut out = vec![0.0; s.state_len()];
                s.sample(
                    &vec![0.5; s.cond_len()],
                    &vec![0.5; s.state_len()],
                    &mut out,
                )
                .unwrap();
                out
            })
        })
        .collect();
    let outs: Vec<Vec<f32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs[0], outs[1]);
}

/// Dimensions come from untrusted files and callers: a batch too large for one input, or whose
/// activations no machine could hold, is an `InvalidArgument` before anything is allocated, on
/// every backend, instead of an allocation failure that aborts the process.
#[test]
fn sizes_that_cannot_be_allocated_are_errors_not_aborts() {
    let m = Model::from_bytes(&mlp_bytes()).unwrap();
    for n in [1usize << 40, 1 << 62, usize::MAX] {
        for backend in [Backend::Native, Backend::Tract, Backend::Auto] {
            match Session::new(&m, opts(backend, n)) {
                Err(Error::InvalidArgument(why)) => {
                    assert!(why.contains("more than 4294967295 elements"), "{why}")
                }
                r => panic!("N = {n} on {backend:?}: expected InvalidArgument, got {r:?}"),
            }
        }
    }
    // each input fits, but one activation has 2^31 x 2^20 elements (8 PB of f32: more than a
    // 48-bit address space holds), made by an Expand of a tiny graph
    let mut g = GraphBuilder::new("expand");
    let x = g.input("x", &[Dim::Sym("N".into()), Dim::Fixed(1)]);
    let shape = g.constant_i64("shape", &[2], &[1, 1 << 20]);
    g.node_named("Expand", &[&x, &shape], &[], "y");
    g.output("y", &[]);
    let m = Model::from_bytes(&encode(&g.finish(None))).unwrap();
    for backend in [Backend::Native, Backend::Tract] {
        match Session::new(&m, opts(backend, 1 << 31)) {
            Err(Error::InvalidArgument(why)) => {
                assert!(why.contains("cannot be allocated"), "{backend:?}: {why}")
            }
            r => panic!("{backend:?}: expected InvalidArgument, got {r:?}"),
        }
    }
    // a shape whose size overflows usize, fixed in the file: refused (native) or an error
    // (tract), never a wrapped, small buffer
    let mut g = GraphBuilder::new("expand-overflow");
    let x = g.input("x", &[Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(1)]);
    let shape = g.constant_i64("shape", &[3], &[1 << 30, 1 << 30, 1 << 30]);
    g.node_named("Expand", &[&x, &shape], &[], "y");
    g.output("y", &[]);
    match Model::from_bytes(&encode(&g.finish(None))) {
        Err(e) => assert!(matches!(e, Error::BadModel(_)), "{e:?}"),
        Ok(huge) => {
            for backend in [Backend::Native, Backend::Tract, Backend::Auto] {
                let r = Session::new(&huge, opts(backend, 1));
                assert!(r.is_err(), "{backend:?} built a session of 2^90 elements");
            }
        }
    }
    // and the same graph at a size that fits runs
    for backend in [Backend::Native, Backend::Tract] {
        let mut s = Session::new(&m, opts(backend, 2)).unwrap();
        let mut y = vec![0.0; 2 << 20];
        s.run(&[&[1.0, 2.0]], &mut [&mut y]).unwrap();
        assert!(y[..1 << 20].iter().all(|&v| v == 1.0) && y[1 << 20..].iter().all(|&v| v == 2.0));
    }
}

/// An attribute that names an absurd axis is refused before tract sees it: tract walked the
/// range it implied for hours (a mutation of a shipped model, kept in fuzz/regressions/).
/// So is a layer norm whose axis is below minus its input's rank (-29 on a rank-3 input), for
/// which tract's rules looped for ever.
#[test]
fn an_absurd_axis_attribute_is_refused_not_a_hang() {
    let regression = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/onnx_model")
            .join(name);
        Model::from_bytes(&std::fs::read(path).unwrap())
    };
    for (file, says) in [
        ("tract-layernorm-huge-axis-hang", "axis = -134217729"),
        (
            "tract-layernorm-axis-below-rank-hang",
            "axis -29 is outside its input's 3 axes",
        ),
    ] {
        match regression(file) {
            Err(Error::BadModel(why)) => assert!(why.contains(says), "{file}: {why}"),
            r => panic!("{file}: expected BadModel, got {:?}", r.map(|_| ())),
        }
    }
}
