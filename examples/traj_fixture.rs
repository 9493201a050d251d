//! Writes a random-weight trajectory model (the shapes of fewstep's forecasters) for trying
//! `fewstep eval` and `fewstep forecast`: `cargo run --release --example traj_fixture -- OUT.onnx`.
fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/traj.onnx".into());
    fewstep::onnx::write::save(
        &fewstep::testing::trajectory_velocity(5, 32, 2),
        std::path::Path::new(&out),
    )
}
