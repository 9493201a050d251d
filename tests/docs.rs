//! Pictures in the docs that are drawn from figures in the repository are current: redrawing
//! them gives the checked-in file byte for byte.

use std::path::Path;

/// docs/speed.svg (in the README) is what benches/speed_chart.py draws from the shipped-models
/// table in docs/BENCHMARKS.md, so the picture never shows other figures than the table.
#[test]
fn the_speed_picture_is_drawn_from_the_benchmark_table() {
    let Some(python) = fewstep::testing::reference_python("the speed picture check") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("fewstep-speed-{}.svg", std::process::id()));
    fewstep::testing::output_ok(
        std::process::Command::new(python)
            .arg(root.join("benches/speed_chart.py"))
            .arg("--table")
            .arg(root.join("docs/BENCHMARKS.md"))
            .arg("--out")
            .arg(&out),
    );
    let drawn = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let checked_in = std::fs::read_to_string(root.join("docs/speed.svg")).unwrap();
    assert!(
        drawn == checked_in,
        "docs/speed.svg is stale: run python3 benches/speed_chart.py"
    );
}
