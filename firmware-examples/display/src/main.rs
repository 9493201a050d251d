//! The `fewstep-display` CLI (see the library docs):
//!
//! ```sh
//! cargo run --release -p fewstep-display -- --out /tmp/display-out
//! ```

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fewstep_display::app;

/// Stream a scene through a fewstep trajectory model and draw each frame's forecasts on a
/// 320×240 RGB565 framebuffer; write every N-th frame as PNG plus a contact sheet.
#[derive(Debug, Parser)]
#[command(name = "fewstep-display", version)]
struct Cli {
    /// Trajectory model (ONNX with a fewstep card) [default: models/eth/reflow.onnx]
    #[arg(long, value_name = "MODEL.onnx")]
    model: Option<PathBuf>,
    /// Scene file of `frame agent x y` rows [default: data/eth_ucy/biwi_eth.txt]
    #[arg(long, value_name = "FILE")]
    scene: Option<PathBuf>,
    /// Output directory for frame-NNNNN.png and contact-sheet.png
    #[arg(long, value_name = "DIR", default_value = "display-out")]
    out: PathBuf,
    /// Stream the first M frames of the scene
    #[arg(long, value_name = "M", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    frames: u32,
    /// Write every N-th frame as PNG
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    every: u32,
    /// Seed of the sampler noise
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Uniform sampler steps instead of the model's own time grid
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    steps: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = app::Options {
        model: cli
            .model
            .unwrap_or_else(|| app::from_repo_root("models/eth/reflow.onnx")),
        scene: cli
            .scene
            .unwrap_or_else(|| app::from_repo_root("data/eth_ucy/biwi_eth.txt")),
        out: cli.out,
        frames: cli.frames as usize,
        every: cli.every as usize,
        seed: cli.seed,
        steps: cli.steps.map(|s| s as usize),
    };
    match app::run(&opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
