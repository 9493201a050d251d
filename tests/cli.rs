//! The CLI forms other tools rely on: `info`, `run`, `sample`, `bench`, `forecast`, `eval` and
//! `stream`, through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fewstep::npy;
use fewstep::onnx::write::save;
use fewstep::testing::{self, MlpShape};

/// `fewstep ARGS`, not yet run.
fn fewstep_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fewstep"));
    c.args(args);
    c
}

fn fewstep(args: &[&str]) -> Output {
    fewstep_cmd(args).output().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fewstep-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn model(dir: &Path) -> PathBuf {
    let p = dir.join("m.onnx");
    save(
        &testing::mlp_velocity(
            3,
            MlpShape {
                state: 6,
                cond: 4,
                hidden: 32,
            },
            4,
        ),
        &p,
    )
    .unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn info_reports_card_io_ops_and_backends() {
    let d = tmp("info");
    let m = model(&d);
    let out = fewstep(&["info", s(&m), "--dim", "N=3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["card"]["kind"], "velocity");
    assert_eq!(j["inputs"][0]["name"], "x");
    assert_eq!(j["backends"]["auto"], "native");
    assert_eq!(j["backends"]["native"]["ok"], true);
    assert!(j["parameters"].as_u64().unwrap() > 1000);
    let f16 = j["backends"]["native"]["weight_bytes"]["f16"]
        .as_u64()
        .unwrap();
    let f32 = j["backends"]["native"]["weight_bytes"]["f32"]
        .as_u64()
        .unwrap();
    assert!(f16 < f32);
}

#[test]
fn run_writes_one_npy_per_output_and_sample_is_seeded() {
    let d = tmp("run");
    let m = model(&d);
    npy::write(&d.join("x.npy"), &[3, 6], &[0.1; 18]).unwrap();
    npy::write(&d.join("t.npy"), &[3, 1], &[0.5; 3]).unwrap();
    npy::write(&d.join("c.npy"), &[3, 4], &[0.2; 12]).unwrap();
    let outdir = d.join("out");
    let mut results = vec![];
    for backend in ["native", "tract"] {
        let o = fewstep(&[
            "run",
            s(&m),
            "--input",
            &format!("x={}", s(&d.join("x.npy"))),
            "--input",
            &format!("t={}", s(&d.join("t.npy"))),
            "--input",
            &format!("cond={}", s(&d.join("c.npy"))),
            "--output-dir",
            s(&outdir),
            "--backend",
            backend,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = npy::read(&outdir.join("v.npy")).unwrap();
        assert_eq!(v.shape, vec![3, 6]);
        results.push(v.data);
    }
    testing::compare(&results[0], &results[1], testing::TOL_F32).unwrap();
    // a missing input is a clear error, not a panic
    let o = fewstep(&[
        "run",
        s(&m),
        "--input",
        &format!("x={}", s(&d.join("x.npy"))),
        "--output-dir",
        s(&outdir),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing --input t="));

    let sample = |seed: &str, steps: &str, out: &str| {
        let p = d.join(out);
        let o = fewstep(&[
            "sample",
            s(&m),
            "--cond",
            s(&d.join("c.npy")),
            "--seed",
            seed,
            "--steps",
            steps,
            "--out",
            s(&p),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        npy::read(&p).unwrap()
    };
    let a = sample("1", "4", "s1.npy");
    assert_eq!(a.shape, vec![3, 6]);
    assert_eq!(a, sample("1", "4", "s2.npy"));
    assert_ne!(a, sample("2", "4", "s3.npy"));
    assert_ne!(a, sample("1", "2", "s4.npy"));
}

#[test]
fn bench_reports_latency_allocations_and_weights() {
    let d = tmp("bench");
    let m = model(&d);
    let o = fewstep(&["bench", s(&m), "--iters", "20", "--dim", "N=2", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = j["results"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        assert!(r["median_us"].as_f64().unwrap() > 0.0);
        assert!(r["weight_bytes"].as_u64().unwrap() > 0);
        if r["backend"] == "native" {
            assert_eq!(r["allocations_per_call"].as_f64().unwrap(), 0.0);
        }
    }
}

/// The tables `fewstep bench` and `fewstep eval` print line up under their headings: every
/// column before bench's free-text unit has the header's width (a JSON number printed as it is
/// ignores the width it is given).
#[test]
fn text_tables_line_up_under_their_headings() {
    let d = tmp("tables");
    let width = |l: &str| l.chars().count();
    let o = fewstep(&["bench", s(&model(&d)), "--iters", "3", "--dim", "N=2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.ends_with("  unit"))
        .expect("a header");
    let unit_at = width(lines[header]) - "unit".len();
    let rows = &lines[header + 1..];
    assert_eq!(rows.len(), 4, "{text}");
    for row in rows {
        let c: Vec<char> = row.chars().collect();
        assert!(
            c.len() > unit_at && c[unit_at - 2..unit_at] == [' ', ' '] && c[unit_at - 3] != ' ',
            "a bench row's unit does not start under the heading's:\n{}\n{row}",
            lines[header]
        );
    }

    std::fs::write(d.join("s.txt"), two_walkers(24)).unwrap();
    // a short relative path: the scene column is 40 characters wide, a temporary folder's may not be
    let o = fewstep_cmd(&["eval", "--model", s(&traj_model(&d)), "--scene", "s.txt"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header, the scene, all:\n{text}");
    for l in &lines[1..] {
        assert_eq!(width(l), width(lines[0]), "\n{text}");
    }
}

/// `fewstep eval --seed 3,5` reports each seed's overall figures exactly as `--seed 3` and
/// `--seed 5` do alone, their mean as the figure, and their spread; each scene's row is the
/// mean of its rows at the two seeds.
#[test]
fn eval_over_several_seeds_is_the_mean_of_single_seed_runs() {
    let d = tmp("eval-seeds");
    let m = traj_model(&d);
    let path = d.join("s.txt");
    std::fs::write(&path, two_walkers(30)).unwrap();
    let run =
        |more: &[&str]| fewstep(&[&["eval", "--model", s(&m), "--scene", s(&path)], more].concat());
    let eval = |seeds: &str| -> serde_json::Value {
        let o = run(&["--seed", seeds, "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (a, b, both) = (eval("3"), eval("5"), eval("3,5"));
    assert_eq!(both["seeds"], serde_json::json!([3, 5]));
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let per_seed = both["total"]["per_seed"].as_array().unwrap();
    for (single, seed, got) in [(&a, 3, &per_seed[0]), (&b, 5, &per_seed[1])] {
        assert_eq!(got["seed"], seed);
        for key in ["min_ade", "min_fde"] {
            assert_eq!(f(&got[key]), f(&single["total"][key]), "seed {seed} {key}");
        }
    }
    for key in ["min_ade", "min_fde"] {
        let (x, y) = (f(&a["total"][key]), f(&b["total"][key]));
        assert_ne!(x, y, "{key}: the two seeds should differ");
        let close = |p: f64, q: f64| (p - q).abs() <= 1e-12 * q.abs().max(1.0);
        assert!(close(f(&both["total"][key]), (x + y) / 2.0), "{key} mean");
        let over = &both["total"][format!("{key}_over_seeds")];
        assert!(
            close(f(&over["sd"]), (x - y).abs() / 2f64.sqrt()),
            "{key} sd"
        );
        assert_eq!(f(&over["lowest"]), x.min(y));
        assert_eq!(f(&over["highest"]), x.max(y));
        let row = |v: &serde_json::Value| f(&v["scenes"][0][key]);
        assert!(
            close(row(&both), (row(&a) + row(&b)) / 2.0),
            "{key} scene row"
        );
    }
    // one seed: the spread of one value
    assert_eq!(f(&a["total"]["min_ade_over_seeds"]["sd"]), 0.0);
    // the table says what it averages and how the seeds spread
    let o = run(&["--seed", "3,5"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("means over 2 noise seeds:"), "{text}");
    assert!(
        text.contains("all, over the seeds (mean ± sd, lowest – highest): minADE20 "),
        "{text}"
    );
    // and a bad list is refused before anything runs
    let o = run(&["--seed", "5,5"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("seed 5 is given twice"));
}

fn traj_model(dir: &Path) -> PathBuf {
    let p = dir.join("traj.onnx");
    save(&testing::trajectory_velocity(5, 32, 2), &p).unwrap();
    p
}

#[test]
fn forecast_and_eval_on_a_scene_and_their_errors() {
    let d = tmp("forecast");
    let m = traj_model(&d);
    // two agents walking for 24 frames, CRLF line ends, spaces, float ids
    let mut text = String::new();
    for f in 0..24 {
        text += &format!("{}.0 1.0 {} 0.5\r\n", f * 10, 0.4 * f as f32);
        text += &format!("{} 2   1.0 {}\r\n", f * 10, 0.3 * f as f32);
    }
    let scene = d.join("s.txt");
    std::fs::write(&scene, &text).unwrap();
    let (json, png) = (d.join("f.json"), d.join("f.png"));
    let o = fewstep(&[
        "forecast",
        "--model",
        s(&m),
        "--scene",
        s(&scene),
        "--seed",
        "3",
        "--json",
        s(&json),
        "--png",
        s(&png),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let frames = j["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 24 - 7); // forecasts from the 8th frame on
    assert_eq!(frames[0]["agents"].as_array().unwrap().len(), 2);
    assert_eq!(
        frames[0]["agents"][0]["futures"].as_array().unwrap().len(),
        20
    );
    assert_eq!(
        frames[0]["agents"][0]["observed"].as_array().unwrap().len(),
        8
    );
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    let o = fewstep(&[
        "eval",
        "--model",
        s(&m),
        "--scene",
        s(&scene),
        "--json",
        "--sgan-filter",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["total"]["windows"], 2 * (24 - 19));
    // every window has exactly one best future, and the modes that won are those counted
    let wins: Vec<u64> = j["total"]["wins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert_eq!(wins.len(), 20);
    assert_eq!(wins.iter().sum::<u64>(), 2 * (24 - 19));
    assert_eq!(
        j["total"]["modes_won"],
        wins.iter().filter(|&&w| w > 0).count()
    );

    // a malformed line: the error names line and column, and nothing is written
    std::fs::write(&scene, "0 1 0.0 0.0\n10 1 x 0.0\n").unwrap();
    let j2 = d.join("g.json");
    let o = fewstep(&[
        "forecast",
        "--model",
        s(&m),
        "--scene",
        s(&scene),
        "--json",
        s(&j2),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(":2:6:"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!j2.exists());
    // too short for a window
    std::fs::write(&scene, "0 1 0.0 0.0\n10 1 1.0 0.0\n").unwrap();
    let o = fewstep(&["eval", "--model", s(&m), "--scene", s(&scene)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no complete 20-frame window"));
    // not a trajectory model
    let good = d.join("good.txt");
    std::fs::write(&good, &text).unwrap();
    let o = fewstep(&["eval", "--model", s(&model(&d)), "--scene", s(&good)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a fewstep trajectory model"));
}

/// `fewstep eval` reproduces the test metrics that `fewstep-distill eval --write-metrics` stored
/// in the shipped models' cards (same windows, seed 0, to the cards' four decimals): the teacher
/// at 10 and 100 Euler steps and at its card's own sampler (the step count chosen on val), the
/// default student at 1 and 2; on ETH (one test file) and on UNIV, whose two test files
/// `fewstep eval` samples one by one, as `fewstep-distill eval` does since session 16.
#[test]
fn eval_reproduces_the_metrics_in_the_shipped_cards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let univ = tmp("univ-test");
    for f in ["students001.txt", "students003.txt"] {
        std::fs::copy(root.join("data/eth_ucy").join(f), univ.join(f)).unwrap();
    }
    let eth = root.join("data/eth_ucy/biwi_eth.txt");
    for (file, scene, windows, steps) in [
        ("models/eth/teacher.onnx", &eth, 181, Some("10")),
        ("models/eth/teacher.onnx", &eth, 181, Some("100")),
        ("models/eth/teacher.onnx", &eth, 181, None),
        ("models/eth/reflow.onnx", &eth, 181, Some("1")),
        ("models/eth/reflow.onnx", &eth, 181, Some("2")),
        ("models/univ/teacher.onnx", &univ, 24334, None),
        ("models/univ/reflow.onnx", &univ, 24334, Some("1")),
    ] {
        let model = root.join(file);
        let loaded = fewstep::Model::load(&model).unwrap();
        let card = loaded.card().unwrap().metrics.clone();
        let mut args = vec![
            "eval",
            "--model",
            s(&model),
            "--scene",
            s(scene),
            "--sgan-filter",
            "--seed",
            "0",
            "--json",
        ];
        if let Some(n) = steps {
            args.extend(["--steps", n]);
        }
        // without --steps: the card's uniform sampler
        let sampler_steps = loaded.card().unwrap().sampler.as_ref().unwrap().times.len() - 1;
        let steps = steps.map_or(sampler_steps.to_string(), str::to_string);
        let o = fewstep(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["total"]["windows"], windows);
        for (metric, key) in [
            ("min_ade", "test_minADE20_euler"),
            ("min_fde", "test_minFDE20_euler"),
        ] {
            let got = j["total"][metric].as_f64().unwrap();
            let want = card[&format!("{key}{steps}")];
            // the card holds four decimals
            assert!(
                (got - want).abs() <= 5.1e-5,
                "{file}: {metric} at {steps} steps: {got} vs card {want}"
            );
        }
    }
}

/// `--method` replaces the card's integration method in `eval`, `forecast`, `bench` and
/// `sample`: `eval` at 2 midpoint steps gives what the library's evaluator gives with that
/// sampler, which is not what the card's 2 Euler steps give. Heun on a grid that ends at 1 is
/// refused for the shipped nets (their cards say they predict the data), either flag for a
/// generator, and an unknown method, each with a clear error.
#[test]
fn method_overrides_the_card_and_bad_methods_are_refused() {
    use fewstep::card::Method;
    use fewstep::forecast::eval::{EvalOptions, evaluate};
    use fewstep::forecast::{scene, windows::windows};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let teacher = root.join("models/hotel/teacher.onnx");
    let hotel = root.join("data/eth_ucy/biwi_hotel.txt");
    let eval_json = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            s(&teacher),
            "--scene",
            s(&hotel),
            "--sgan-filter",
            "--json",
        ];
        args.extend(extra);
        let o = fewstep(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let m = |k: &str| j["total"][k].as_f64().unwrap();
        (m("min_ade"), m("min_fde"))
    };
    let midpoint = eval_json(&["--method", "midpoint", "--steps", "2"]);
    let model = fewstep::Model::load(&teacher).unwrap();
    let ws = windows(&scene::load(&hotel).unwrap(), 2);
    let lib = evaluate(
        &model,
        &ws,
        &EvalOptions {
            steps: Some(2),
            method: Some(Method::Midpoint),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        (midpoint.0 - lib.min_ade).abs() < 1e-9 && (midpoint.1 - lib.min_fde).abs() < 1e-9,
        "{midpoint:?} vs {} {}",
        lib.min_ade,
        lib.min_fde
    );
    let euler = eval_json(&[]);
    assert!(
        (euler.0 - midpoint.0).abs() > 1e-4,
        "{euler:?} {midpoint:?}"
    );
    // the card's grid is kept when only --method is given
    assert_eq!(eval_json(&["--method", "midpoint"]), midpoint);

    let d = tmp("method");
    let imle = root.join("models/hotel/imle.onnx");
    let out = d.join("y.npy");
    let cond = d.join("c.npy");
    fewstep::npy::write(&cond, &[1, 32], &[0.1; 32]).unwrap();
    let on_hotel = |cmd: &str, model: &Path, method: &str| {
        [
            cmd,
            "--model",
            s(model),
            "--scene",
            s(&hotel),
            "--method",
            method,
        ]
        .map(String::from)
    };
    let words = |w: &[&str]| w.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    for (args, why) in [
        (
            on_hotel("eval", &teacher, "heun").to_vec(),
            "predicts the data",
        ),
        (
            on_hotel("forecast", &teacher, "heun").to_vec(),
            "predicts the data",
        ),
        (
            words(&["bench", s(&teacher), "--iters", "1", "--method", "heun"]),
            "predicts the data",
        ),
        (
            on_hotel("eval", &imle, "euler").to_vec(),
            "a generator runs once",
        ),
        (
            words(&[
                "sample",
                s(&imle),
                "--cond",
                s(&cond),
                "--out",
                s(&out),
                "--steps",
                "2",
            ]),
            "a generator runs once",
        ),
        (
            on_hotel("eval", &teacher, "rk4").to_vec(),
            "unknown sampler method \"rk4\"",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = fewstep(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(why), "{args:?}: {err}");
    }
    assert!(!out.exists());
}

/// Two agents walking for `frames` frames, 10 frame ids apart.
fn two_walkers(frames: usize) -> String {
    (0..frames)
        .map(|f| {
            format!(
                "{} 1 {} 0.5\n{} 2 1.0 {}\n",
                f * 10,
                0.4 * f as f32,
                f * 10,
                0.3 * f as f32
            )
        })
        .collect()
}

/// Runs `fewstep stream ARGS` with `input` on standard input.
fn stream(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fewstep"))
        .arg("stream")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()).unwrap());
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// Every number in `v`, in order, as f32.
fn f32s(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        serde_json::Value::Array(a) => a.iter().flat_map(f32s).collect(),
        _ => panic!("not a number or array: {v}"),
    }
}

/// `fewstep stream` forecasts what `fewstep forecast` forecasts for the same frames, read from
/// a file instead of a pipe: frame by frame, bit for bit (same seed, same agent capacity).
#[test]
fn stream_forecasts_what_forecast_forecasts_for_a_scene_file() {
    let d = tmp("stream");
    let m = traj_model(&d);
    let text = two_walkers(24);
    let scene = d.join("s.txt");
    std::fs::write(&scene, &text).unwrap();
    let json = d.join("f.json");
    let o = fewstep(&[
        "forecast",
        "--model",
        s(&m),
        "--scene",
        s(&scene),
        "--seed",
        "3",
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let whole = whole["frames"].as_array().unwrap();

    let o = stream(
        &["--model", s(&m), "--seed", "3", "--max-agents", "2"],
        &text,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = json_lines(&o);
    // one line per frame; the first 7 have no agent with 8 observations yet
    assert_eq!(lines.len(), 24);
    for (f, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"].as_f64(), Some((f * 10) as f64));
        let n = l["agents"].as_array().unwrap().len();
        assert_eq!(n, if f < 7 { 0 } else { 2 }, "frame {f}");
        assert!(l["us"].as_f64().is_some_and(|u| u >= 0.0), "{l}");
    }
    let streamed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["agents"] != serde_json::json!([]))
        .collect();
    assert_eq!(streamed.len(), whole.len());
    for (a, b) in streamed.iter().zip(whole) {
        assert_eq!(a["frame"], b["frame"]);
        for (x, y) in a["agents"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["agents"].as_array().unwrap())
        {
            assert_eq!(x["id"], y["id"]);
            // stream writes f32 text, forecast f64 text of the same f32s
            assert_eq!(
                f32s(&x["futures"]),
                f32s(&y["futures"]),
                "frame {}",
                a["frame"]
            );
        }
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("48 lines, 24 frames answered (17 with forecasts, 34 agent forecasts)"),
        "{err}"
    );

    // --input reads the file itself, with the same forecasts
    let o2 = fewstep(&[
        "stream",
        "--model",
        s(&m),
        "--seed",
        "3",
        "--max-agents",
        "2",
        "--input",
        s(&scene),
    ]);
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let without_time = |mut v: Vec<serde_json::Value>| {
        v.iter_mut().for_each(|l| {
            l.as_object_mut().unwrap().remove("us");
        });
        v
    };
    assert_eq!(without_time(json_lines(&o2)), without_time(lines));
}

/// A malformed line is skipped and named; a frame the forecaster refuses (too many agents, a
/// frame id that goes back) gets an error line and changes nothing, so the agents' histories go
/// on; the command fails at the end, after every frame.
#[test]
fn stream_reports_bad_lines_and_refused_frames_and_goes_on() {
    let d = tmp("stream-errors");
    let m = traj_model(&d);
    let mut text = two_walkers(8); // lines 1-16: frames 0..70
    text += "80 1 3.2 0.5\n80 2 x 2.4\n80 2 1.0 2.4\n"; // line 18: bad
    text += "90 1 3.6 0.5\n90 2 1.0 2.7\n90 3 5 5\n"; // three agents, capacity two
    text += "75 1 3.6 0.5\n75 2 1.0 2.7\n"; // back in time
    text += "90 1 3.6 0.5\n90 2 1.0 2.7\n"; // frame 90 again, now valid
    let o = stream(&["--model", s(&m), "--max-agents", "2"], &text);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("stdin:18:6:") && err.contains("line skipped"),
        "{err}"
    );
    assert!(
        err.contains("frame 90: ") && err.contains("max_agents"),
        "{err}"
    );
    assert!(
        err.contains("frame 75: ") && err.contains("increasing"),
        "{err}"
    );
    assert!(err.contains("2 frames refused, 1 lines skipped"), "{err}");
    let lines = json_lines(&o);
    let frames: Vec<f64> = lines.iter().map(|l| l["frame"].as_f64().unwrap()).collect();
    assert_eq!(
        frames,
        [0., 10., 20., 30., 40., 50., 60., 70., 80., 90., 75., 90.]
    );
    assert!(lines[9]["error"].as_str().unwrap().contains("max_agents"));
    assert!(lines[10]["error"].as_str().unwrap().contains("increasing"));
    // frames 70 and 80 forecast both agents, and so does the last frame 90: the refused frames
    // broke no history
    for i in [7, 8, 11] {
        assert_eq!(
            lines[i]["agents"].as_array().unwrap().len(),
            2,
            "{}",
            lines[i]
        );
    }
    // a missing input file is an error before anything is read
    let o = fewstep(&[
        "stream",
        "--model",
        s(&m),
        "--input",
        s(&d.join("none.txt")),
    ]);
    assert!(!o.status.success() && o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("none.txt"));
}

/// A blank line ends a frame at once: a live producer gets each frame's forecast before it
/// sends the next frame. (A watchdog kills the stream after 120 s, so a stream that waits for
/// more input fails this test instead of hanging it.)
#[test]
fn stream_answers_each_frame_before_the_next_arrives() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    let d = tmp("stream-live");
    let m = traj_model(&d);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fewstep"))
        .args(["stream", "--model", s(&m), "--max-agents", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Arc::new(Mutex::new(child));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (child, done) = (child.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..1200 {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.lock().unwrap().kill();
        })
    };
    for f in 0..10 {
        // one frame, then a blank line; its answer must come before the next frame is sent
        write!(
            stdin,
            "{} 7 {} 1.0\n{} 8 2.0 {}\n\n",
            f * 10,
            0.4 * f as f32,
            f * 10,
            0.3 * f as f32
        )
        .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("frame {f}: {line:?}: {e}"));
        assert_eq!(v["frame"].as_f64(), Some((f * 10) as f64));
        assert_eq!(
            v["agents"].as_array().unwrap().len(),
            if f < 7 { 0 } else { 2 }
        );
    }
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "no frame is left after the end of the input");
    let status = child.lock().unwrap().wait().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    assert!(status.success());
}

/// A file that cannot be written is named as such ("cannot write", not "cannot read"); a
/// command whose reader goes away stops cleanly, while one whose output fails is an error.
#[test]
fn write_failures_name_what_could_not_be_written_and_a_closed_stream_stops() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let d = tmp("write-errors");
    let m = model(&d);
    let missing = d.join("no-such-folder");
    let cond = d.join("cond.npy");
    npy::write(&cond, &[4, 4], &[0.5; 16]).unwrap();
    let out = missing.join("s.npy");
    let o = fewstep(&["sample", s(&m), "--cond", s(&cond), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("cannot write {}", out.display())),
        "{err}"
    );
    let a_file = d.join("a-file");
    std::fs::write(&a_file, "not a folder").unwrap();
    let under_file = a_file.join("out");
    let x = d.join("x.npy");
    npy::write(&x, &[4, 6], &[0.1; 24]).unwrap();
    let t = d.join("t.npy");
    npy::write(&t, &[4, 1], &[0.3; 4]).unwrap();
    let o = fewstep(&[
        "run",
        s(&m),
        "--input",
        &format!("x={}", s(&x)),
        "--input",
        &format!("t={}", s(&t)),
        "--input",
        &format!("cond={}", s(&cond)),
        "--output-dir",
        s(&under_file),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("cannot write {}", under_file.display())),
        "{err}"
    );

    // a stream far longer than a pipe holds; the reader takes one answer and leaves
    let tm = traj_model(&d);
    let frames = d.join("frames.txt");
    std::fs::write(&frames, two_walkers(400)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fewstep"))
        .args(["stream", "--model", s(&tm), "--input", s(&frames)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"frame\":0"), "{first}");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("standard output was closed"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("error")), "{err}");

    // the other commands: a reader that has gone before they print ends them quietly (they
    // load the model first, so the pipe is closed by then), not with a panic
    testing::quiet_on_closed_stdout(&mut fewstep_cmd(&["info", s(&tm)]));
    testing::quiet_on_closed_stdout(&mut fewstep_cmd(&[
        "eval",
        "--model",
        s(&tm),
        "--scene",
        s(&frames),
    ]));
    // /dev/full: every write fails with "no space"
    testing::fails_on_full_stdout(&mut fewstep_cmd(&[
        "stream",
        "--model",
        s(&tm),
        "--input",
        s(&frames),
    ]));
    testing::fails_on_full_stdout(&mut fewstep_cmd(&["info", s(&tm)]));
    std::fs::remove_dir_all(&d).ok();
}
