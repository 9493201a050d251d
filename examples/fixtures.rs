//! Writes the reference models of `fewstep::testing`.
//!
//! `cargo run --release --example fixtures -- bench DIR`: mlp.onnx, transformer.onnx and
//! generator.onnx, the benchmark models (random weights, 1-step cards).
//! `cargo run --release --example fixtures -- toy DIR`: toy-velocity.onnx (8 Euler steps) and
//! toy-cond.npy, the bundled model of the README's first command.

use std::path::Path;

use fewstep::onnx::write::save;
use fewstep::rng::Rng;
use fewstep::testing::{self, MlpShape};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, dir) = match args.as_slice() {
        [w, d] => (w.as_str(), Path::new(d)),
        _ => return Err("usage: fixtures bench|toy DIR".into()),
    };
    std::fs::create_dir_all(dir)?;
    match what {
        "bench" => {
            save(
                &testing::mlp_velocity(1, MlpShape::default(), 1),
                &dir.join("mlp.onnx"),
            )?;
            save(
                &testing::transformer_velocity(2, Default::default(), 1),
                &dir.join("transformer.onnx"),
            )?;
            save(
                &testing::mlp_generator(3, 24, 16, 128),
                &dir.join("generator.onnx"),
            )?;
            eprintln!(
                "wrote mlp.onnx, transformer.onnx, generator.onnx to {}",
                dir.display()
            );
        }
        "toy" => {
            let shape = MlpShape {
                state: 24,
                cond: 16,
                hidden: 64,
            };
            save(
                &testing::mlp_velocity(7, shape, 8),
                &dir.join("toy-velocity.onnx"),
            )?;
            let mut cond = vec![0.0; 4 * shape.cond];
            Rng::new(8).fill_normal(&mut cond);
            fewstep::npy::write(&dir.join("toy-cond.npy"), &[4, shape.cond], &cond)?;
            eprintln!(
                "wrote toy-velocity.onnx and toy-cond.npy to {}",
                dir.display()
            );
        }
        _ => return Err(format!("unknown set {what:?}: bench or toy").into()),
    }
    Ok(())
}
