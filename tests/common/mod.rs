//! Helpers shared by the tests that use fewstep as a C library (tests/c_abi.rs, tests/python.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding this test's build artefacts (target/<profile>).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Builds the static and shared libraries of this same profile (a no-op when they are
/// current) and returns their folder: `cargo test` links tests against the rlib only, so this
/// makes a C or Python caller test the code under test.
pub fn build_c_libraries() -> PathBuf {
    let profile = profile_dir();
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(root())
        .args(["build", "--lib", "--target-dir"])
        .arg(profile.parent().unwrap());
    if profile.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "building the C libraries failed"
    );
    for lib in ["libfewstep.a", "libfewstep.so"] {
        assert!(
            profile.join(lib).exists(),
            "{} missing after cargo build --lib",
            profile.join(lib).display()
        );
    }
    profile
}
