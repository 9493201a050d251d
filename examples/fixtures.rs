//! Writes the reference models of `fewstep::testing` to a folder:
//! `cargo run --release --example fixtures -- DIR`.
//! mlp.onnx and transformer.onnx are the benchmark models (random weights, 1-step cards).

use fewstep::onnx::write::save;
use fewstep::testing;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/fixtures".into());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    save(
        &testing::mlp_velocity(1, Default::default(), 1),
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
    Ok(())
}
