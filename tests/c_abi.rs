//! The C ABI: include/fewstep.h is what cbindgen generates from src/ffi/mod.rs (set
//! `FEWSTEP_BLESS=1` to rewrite it), and a C99 program, built from an install made by
//! scripts/install-c.sh through its pkg-config files (static and shared), exercises every
//! function, misuse included.

use std::process::Command;

mod common;
use common::{c_libraries, root};

fn generated_header() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn header_is_current() {
    let path = root().join("include/fewstep.h");
    let fresh = generated_header();
    if std::env::var_os("FEWSTEP_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "include/fewstep.h is stale: run FEWSTEP_BLESS=1 cargo test --release --test c_abi"
    );
}

#[test]
fn c_program_exercises_every_function() {
    let libs = c_libraries();
    let dir = std::env::temp_dir().join(format!("fewstep-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("traj.onnx");
    fewstep::onnx::write::save(&fewstep::testing::trajectory_velocity(5, 32, 2), &model).unwrap();
    // install it the way users do (scripts/install-c.sh), then build the C test against each
    // pkg-config file: fewstep-static (the staticlib) and fewstep (the shared library)
    let prefix = dir.join("prefix");
    let install = Command::new("bash")
        .arg(root().join("scripts/install-c.sh"))
        .arg(&prefix)
        .arg("--lib-dir")
        .arg(&libs)
        .status()
        .unwrap();
    assert!(install.success(), "scripts/install-c.sh failed");
    let pc_path = prefix.join("lib/pkgconfig");
    for (package, extra) in [
        ("fewstep-static", vec![]),
        (
            "fewstep",
            // abi_test.c itself calls libm
            vec![
                format!("-Wl,-rpath,{}", prefix.join("lib").display()),
                "-lm".to_string(),
            ],
        ),
    ] {
        let flags = Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", &pc_path)
            .args(["--cflags", "--libs", package])
            .output()
            .expect("pkg-config is needed (apt install pkg-config)");
        assert!(flags.status.success(), "pkg-config {package} failed");
        let flags = String::from_utf8(flags.stdout).unwrap();
        let exe = dir.join(format!("abi_test-{package}"));
        let cc = Command::new("cc")
            .args([
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-O1",
            ])
            .arg(root().join("tests/c/abi_test.c"))
            .args(flags.split_whitespace())
            .args(&extra)
            .arg("-o")
            .arg(&exe)
            .status()
            .unwrap();
        assert!(
            cc.success(),
            "compiling tests/c/abi_test.c with {package} failed"
        );
        let out = Command::new(&exe)
            .arg(&model)
            .arg(root().join("models/eth/reflow.onnx"))
            .arg(root().join("models/eth/imle.onnx"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{package}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "C ABI test ({package}) failed: {stdout}"
        );
        assert!(stdout.contains(" passed, 0 failed"));
        if package == "fewstep-static" {
            cpp_smoke(&dir, &flags);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The header from C++17 (`-pedantic -Werror`), linked with the static library's pkg-config
/// `flags`: tests/c/cpp_smoke.cpp forecasts two walkers with the default student.
fn cpp_smoke(dir: &std::path::Path, flags: &str) {
    let exe = dir.join("cpp_smoke");
    let cxx = Command::new("c++")
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
        ])
        .arg(root().join("tests/c/cpp_smoke.cpp"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .status();
    let Ok(cxx) = cxx else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must compile the C++ smoke test: no c++ (apt install g++)"
        );
        eprintln!("skipping the C++ smoke test: no c++ compiler");
        return;
    };
    assert!(cxx.success(), "compiling tests/c/cpp_smoke.cpp failed");
    let out = Command::new(&exe)
        .arg(root().join("models/eth/reflow.onnx"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("c++: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "C++ smoke test failed: {stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
