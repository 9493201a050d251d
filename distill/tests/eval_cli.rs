//! `fewstep-distill eval`'s table and `--write-metrics`: a generator is one row whatever
//! `--steps` asks of the velocity models, and its figures are stored under the `card` tag; the
//! stored figures are the shipped cards' own (same evaluator, same windows, seed 0); a row whose
//! models' cards sample different step counts says each; several noise seeds give the mean and
//! its spread.

use std::path::{Path, PathBuf};
use std::process::Command;

use fewstep::Model;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn eval(args: &[&str]) -> String {
    let out = fewstep::testing::output_ok(
        Command::new(env!("CARGO_BIN_EXE_fewstep-distill"))
            .arg("eval")
            .args(["--data", root().join("data/eth_ucy").to_str().unwrap()])
            .args(args),
    );
    String::from_utf8(out.stdout).unwrap()
}

fn test_metrics(path: &Path) -> Vec<(String, f64)> {
    let m = Model::load(path).unwrap();
    let card = m.card().unwrap();
    card.metrics
        .iter()
        .filter(|(k, _)| k.starts_with("test_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn generators_get_one_row_and_the_card_tag() {
    let dir = std::env::temp_dir().join(format!("fewstep-eval-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (imle, reflow) = (dir.join("imle.onnx"), dir.join("reflow.onnx"));
    std::fs::copy(root().join("models/hotel/imle.onnx"), &imle).unwrap();
    std::fs::copy(root().join("models/hotel/reflow.onnx"), &reflow).unwrap();
    let shipped_imle = test_metrics(&imle);
    let shipped_reflow = test_metrics(&reflow);
    let table = eval(&[
        "--scenes",
        "hotel",
        "--model",
        imle.to_str().unwrap(),
        "--model",
        reflow.to_str().unwrap(),
        "--steps",
        "1",
        "--steps",
        "2",
        "--write-metrics",
    ]);
    let rows = |name: &str| table.lines().filter(|l| l.starts_with(name)).count();
    assert_eq!(
        (rows("| imle.onnx"), rows("| reflow.onnx")),
        (1, 2),
        "{table}"
    );
    // rewriting the shipped figures changes nothing, and the generator gets no Euler tags
    assert_eq!(test_metrics(&imle), shipped_imle);
    assert_eq!(test_metrics(&reflow), shipped_reflow);
    assert!(
        shipped_imle.iter().all(|(k, _)| k.ends_with("_card")),
        "{shipped_imle:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_row_of_cards_with_different_samplers_names_each() {
    let table = eval(&[
        "--scenes",
        "hotel,zara2",
        "--model",
        root().join("models/hotel/teacher.onnx").to_str().unwrap(),
        "--model",
        root().join("models/zara2/teacher.onnx").to_str().unwrap(),
    ]);
    let row = table
        .lines()
        .find(|l| l.starts_with("| teacher.onnx"))
        .unwrap();
    assert!(row.contains("| 2/3 (card) |"), "{row}");
}

/// The AVG cell of `table`'s row starting with `row`: (minADE, minFDE).
fn avg_cell(table: &str, row: &str) -> (f64, f64) {
    let line = table.lines().find(|l| l.starts_with(row)).unwrap();
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    // | method | steps | ETH | HOTEL | UNIV | ZARA1 | ZARA2 | AVG | params | MACs |
    let (a, f) = cells[8].split_once('/').unwrap();
    (a.parse().unwrap(), f.parse().unwrap())
}

#[test]
fn several_noise_seeds_report_their_mean_and_spread() {
    let reflow = root().join("models/hotel/reflow.onnx");
    let run = |seed: &str| {
        eval(&[
            "--scenes",
            "hotel",
            "--seed",
            seed,
            "--model",
            reflow.to_str().unwrap(),
        ])
    };
    let single: Vec<(f64, f64)> = ["0", "1", "2"]
        .iter()
        .map(|k| avg_cell(&run(k), "| reflow.onnx"))
        .collect();
    assert!(
        !run("0").contains("noise seeds"),
        "one seed has no spread table"
    );
    let table = run("0-2");
    // evaluations run side by side (three at once here), each whole on one thread: one at a
    // time prints the same bytes
    let at = |jobs: &str| {
        let model = reflow.to_str().unwrap();
        eval(&[
            "--scenes", "hotel", "--seed", "0-2", "--jobs", jobs, "--model", model,
        ])
    };
    assert_eq!(at("3"), at("1"));
    let (ade, fde) = avg_cell(&table, "| reflow.onnx");
    let mean = |i: usize| single.iter().map(|c| [c.0, c.1][i]).sum::<f64>() / 3.0;
    // the printed cells are rounded to 0.001
    assert!(
        (ade - mean(0)).abs() <= 1.1e-3 && (fde - mean(1)).abs() <= 1.1e-3,
        "{table}"
    );
    let spread = table
        .lines()
        .skip_while(|l| !l.contains("3 noise seeds"))
        .find(|l| l.starts_with("| reflow.onnx"))
        .unwrap_or_else(|| panic!("no spread row: {table}"));
    let cells: Vec<&str> = spread.split('|').map(str::trim).collect();
    let (fde_mean, fde_sd) = cells[5].split_once(" ± ").unwrap();
    let (fde_lo, fde_hi) = cells[6].split_once(" – ").unwrap();
    let num = |s: &str| s.parse::<f64>().unwrap();
    assert!((num(fde_mean) - mean(1)).abs() <= 6e-4, "{spread}");
    let fdes: Vec<f64> = single.iter().map(|c| c.1).collect();
    let lo = fdes.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = fdes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (num(fde_lo) - lo).abs() <= 6e-4 && (num(fde_hi) - hi).abs() <= 6e-4,
        "{spread}"
    );
    // the seeds sample different noise, so the figures differ
    assert!(num(fde_sd) > 0.0 && hi > lo, "{spread} {single:?}");
}

/// A reader that leaves before the table is written (`| head`) ends `eval` quietly, not with
/// a panic; an output that fails otherwise (a full device) is an error that says so.
#[test]
fn a_closed_or_failing_output_is_not_a_panic() {
    let eval = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fewstep-distill"));
        c.arg("eval")
            .args(["--data", root().join("data/eth_ucy").to_str().unwrap()])
            .args([
                "--model",
                root().join("models/hotel/imle.onnx").to_str().unwrap(),
            ]);
        c
    };
    fewstep::testing::quiet_on_closed_stdout(&mut eval());
    fewstep::testing::fails_on_full_stdout(&mut eval());
}
