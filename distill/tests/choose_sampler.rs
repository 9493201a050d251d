//! `fewstep-distill choose-sampler` picks a shipped teacher's sampler on its fold's val split
//! exactly as the separate `eval --split val` runs of session 14 did (runs/s14/nsweep.sh and
//! nchoose.py, outside the repo), stores it only with `--write`, and refuses what it cannot
//! choose for, leaving the file as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use fewstep::Model;
use fewstep::card::{Method, SamplerSpec};
use fewstep_distill::model::NetKind;

mod common;
use common::write_exported;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewstep-choose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn choose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fewstep-distill"))
        .arg("choose-sampler")
        .args(["--data", root().join("data/eth_ucy").to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// Session 14 chose 2 Euler steps for the HOTEL teacher from {1, 2, 3, 4, 5, 10, 20}
/// (whole val, noise seeds 0 and 1, lowest minADE + minFDE). Any subset holding 2 must choose
/// 2 again; the card changes only with `--write`.
#[test]
fn reproduces_session_14s_choice_for_the_hotel_teacher() {
    let path = scratch("hotel-teacher.onnx");
    std::fs::copy(root().join("models/hotel/teacher.onnx"), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let p = path.to_str().unwrap();

    let out = choose(&["--model", p, "--euler", "1,2,3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("| 2 Euler **chosen** | 2 |"), "{table}");
    // candidates are scored side by side, each on one thread: one at a time scores the same
    for jobs in ["1", "3"] {
        let again = choose(&["--model", p, "--euler", "1,2,3", "--jobs", jobs]);
        assert_eq!(
            String::from_utf8_lossy(&again.stdout),
            table,
            "--jobs {jobs}"
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "no --write, no change"
    );

    // the shipped card samples 2 steps already: start from another grid to see the write
    fewstep_distill::model_file::set_sampler(&path, SamplerSpec::uniform(Method::Midpoint, 7))
        .unwrap();
    let out = choose(&["--model", p, "--euler", "1,2,3", "--write"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card = Model::load(&path).unwrap().card().unwrap().clone();
    assert_eq!(card.sampler, Some(SamplerSpec::uniform(Method::Euler, 2)));
}

fn refused(args: &[&str], file: &Path, why: &str) {
    let bytes = std::fs::read(file).unwrap();
    let out = choose(args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(why), "{err}");
    assert_eq!(std::fs::read(file).unwrap(), bytes);
}

#[test]
fn what_it_cannot_choose_for_is_refused_and_left_alone() {
    let imle = scratch("imle.onnx");
    std::fs::copy(root().join("models/hotel/imle.onnx"), &imle).unwrap();
    let i = imle.to_str().unwrap();
    refused(&["--model", i, "--write"], &imle, "no sampler to choose");

    let teacher = scratch("teacher-for-refusals.onnx");
    std::fs::copy(root().join("models/hotel/teacher.onnx"), &teacher).unwrap();
    let t = teacher.to_str().unwrap();
    refused(
        &["--model", t, "--euler", "2,0", "--write"],
        &teacher,
        "0 steps",
    );
    refused(
        &["--model", t, "--euler", "--write"],
        &teacher,
        "no candidate",
    );
    refused(
        &["--model", t, "--seeds", "--write"],
        &teacher,
        "noise seed",
    );
    // its card says it predicts the data: Heun would evaluate it at t = 1
    refused(
        &["--model", t, "--heun", "2", "--write"],
        &teacher,
        "predicts the data",
    );

    // a velocity model whose card names no fold has no val split
    let unnamed = scratch("no-fold.onnx");
    write_exported(NetKind::Velocity, &unnamed);
    let u = unnamed.to_str().unwrap();
    refused(&["--model", u, "--write"], &unnamed, "names no fold");
}

/// `set-sampler` takes a step count or an explicit grid, and refuses a zero step count or a
/// grid that is not strictly increasing, leaving the file as it was.
#[test]
fn set_sampler_takes_a_step_count_or_a_grid() {
    let path = scratch("set-sampler.onnx");
    std::fs::copy(root().join("models/hotel/teacher.onnx"), &path).unwrap();
    let p = path.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fewstep-distill"))
            .args(["set-sampler", "--model", p])
            .args(args)
            .output()
            .unwrap()
    };
    let sampler = || Model::load(&path).unwrap().card().unwrap().sampler.clone();

    assert!(run(&["--times", "0,0.1,1"]).status.success());
    let grid = SamplerSpec {
        method: Method::Euler,
        times: vec![0.0, 0.1, 1.0],
    };
    assert_eq!(sampler(), Some(grid));
    assert!(
        run(&["--steps", "3", "--method", "midpoint"])
            .status
            .success()
    );
    assert_eq!(sampler(), Some(SamplerSpec::uniform(Method::Midpoint, 3)));

    let bytes = std::fs::read(&path).unwrap();
    for (args, why) in [
        (&["--steps", "0"][..], "at least one step"),
        (&["--times", "0,0.6,0.6,1"][..], "strictly increasing"),
        (&["--times", "0"][..], "at least two entries"),
        (
            &["--steps", "2", "--times", "0,1"][..],
            "cannot be used with",
        ),
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{args:?}");
    }
}
