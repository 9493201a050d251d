//! `fewstep-distill eval`'s table and `--write-metrics`: a generator is one row whatever
//! `--steps` asks of the velocity models, and its figures are stored under the `card` tag; the
//! stored figures are the shipped cards' own (same evaluator, same windows, seed 0); a row whose
//! models' cards sample different step counts says each.

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
