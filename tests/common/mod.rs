//! Helpers shared by the tests that use fewstep as a C library (tests/c_abi.rs, tests/python.rs).

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the static and shared libraries of this very test build
/// (target/<profile>/deps).
///
/// `cargo test` compiles the library once, with all its crate types (rlib, staticlib,
/// cdylib), and links the tests against the rlib of that one compilation, so the `.a` and
/// `.so` next to it are the code under test. A separate `cargo build --lib` would not be: it
/// resolves features without the workspace's other members and the dev-dependencies, so it
/// recompiles tract, wgpu and about fifty more crates a second time (minutes in CI).
pub fn c_libraries() -> PathBuf {
    // the test executables live in that same folder
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    for lib in ["libfewstep.a", "libfewstep.so"] {
        assert!(
            deps.join(lib).exists(),
            "{} missing: cargo test builds it with the rlib",
            deps.join(lib).display()
        );
    }
    deps
}
