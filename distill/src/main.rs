//! `fewstep-distill`: offline side of fewstep — data, evaluation, and (to come) teacher
//! training and distillation into 1–2 step students.
//!
//! Implemented so far: the ETH-UCY folds over `data/eth_ucy` and `eval`, which reports the
//! constant-velocity baseline per scene. Teacher, reflow, MDT-dist and IMLE training are not
//! implemented yet; `train` says so and exits non-zero.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fewstep::forecast::features::constant_velocity;
use fewstep::forecast::metrics::min_ade_fde;

use fewstep_distill::data::{SCENES, Split, fold_windows};

#[derive(Parser)]
#[command(
    name = "fewstep-distill",
    version,
    about = "Train flow-matching teachers and distil them into few-step students"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Evaluate on the ETH-UCY test scenes: minADE20/minFDE20 per scene and averaged.
    Eval {
        /// The folder holding the 22 ETH-UCY files.
        #[arg(long, default_value = "data/eth_ucy")]
        data: PathBuf,
        /// Comma-separated scenes (default: all five).
        #[arg(long, default_value = "eth,hotel,univ,zara1,zara2")]
        scenes: String,
        /// Keep every agent window instead of applying the Social-GAN filter (≥ 2 agents).
        #[arg(long)]
        no_sgan_filter: bool,
    },
    /// Train a teacher or a student (not implemented yet).
    Train,
}

fn eval(data_dir: &std::path::Path, scenes: &str, sgan: bool) -> Result<(), String> {
    let min_agents = if sgan { 2 } else { 1 };
    println!(
        "| method | steps | {} | AVG |",
        SCENES.map(|s| s.to_uppercase()).join(" | ")
    );
    println!("|---|---|{}---|", "---|".repeat(SCENES.len()));
    let mut cells = Vec::new();
    let mut sums = (0.0f64, 0.0f64, 0usize);
    for scene in SCENES {
        if !scenes.split(',').any(|s| s.trim() == scene) {
            cells.push("–".to_string());
            continue;
        }
        let ws = fold_windows(data_dir, scene, Split::Test, min_agents)?;
        let (mut ade, mut fde) = (0.0f64, 0.0f64);
        for w in &ws {
            let (a, f) = min_ade_fde(&[constant_velocity(&w.obs)], &w.fut);
            ade += a as f64;
            fde += f as f64;
        }
        let n = ws.len().max(1) as f64;
        cells.push(format!("{:.2}/{:.2}", ade / n, fde / n));
        eprintln!("{scene}: {} test windows", ws.len());
        sums = (sums.0 + ade / n, sums.1 + fde / n, sums.2 + 1);
    }
    let k = sums.2.max(1) as f64;
    println!(
        "| constant velocity | 0 | {} | {:.2}/{:.2} |",
        cells.join(" | "),
        sums.0 / k,
        sums.1 / k
    );
    Ok(())
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Eval {
            data,
            scenes,
            no_sgan_filter,
        } => eval(&data, &scenes, !no_sgan_filter),
        Cmd::Train => Err("training is not implemented yet (see the distill issue)".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use fewstep_distill::data::*;
    use std::path::Path;

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eth_ucy")
    }

    /// Train/val window counts of every fold equal the published ones (data/eth_ucy/SOURCE.md of
    /// the shared data, "all / filtered").
    #[test]
    fn fold_window_counts() {
        let expected = [
            ("eth", (30307, 29809), (5422, 5349)),
            ("hotel", (29676, 29152), (5203, 5136)),
            ("univ", (9874, 9231), (2800, 2708)),
            ("zara1", (28577, 28010), (5184, 5118)),
            ("zara2", (26076, 25507), (4262, 4173)),
        ];
        for (scene, train, val) in expected {
            for (split, (all, filtered)) in [(Split::Train, train), (Split::Val, val)] {
                let n_all = fold_windows(&data_dir(), scene, split, 1).unwrap().len();
                let n_f = fold_windows(&data_dir(), scene, split, 2).unwrap().len();
                assert_eq!((n_all, n_f), (all, filtered), "{scene} {split:?}");
            }
        }
    }

    #[test]
    fn arrays_use_the_runtime_features() {
        let ws = fold_windows(&data_dir(), "eth", Split::Test, 2).unwrap();
        let a = arrays(&ws[..10], 5.0);
        assert_eq!((a.n, a.cond.len(), a.future.len()), (10, 320, 240));
        // the last observed position is the origin of every condition
        for i in 0..10 {
            assert_eq!(&a.cond[i * 32 + 14..i * 32 + 16], &[0.0, 0.0]);
        }
    }
}
