//! The Python binding (python/fewstep.py: the C API through ctypes) against the fewstep CLI,
//! run by tests/python/test_binding.py with the reference venv's Python (numpy), on the shared
//! library of this same build: once from the source file, once installed from the wheel
//! scripts/python-wheel.py makes.

mod common;
use common::{c_libraries, root};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewstep-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs tests/python/test_binding.py with `python` on the binding `python_path` holds; `lib`
/// names the shared library for it (`FEWSTEP_LIB`), or none to let the binding find its own.
fn binding_suite(python: &Path, python_path: &Path, lib: Option<&Path>, tmp: &Path) {
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/python/test_binding.py"))
        .arg(env!("CARGO_BIN_EXE_fewstep"))
        .arg(root())
        .arg(tmp)
        .env("PYTHONPATH", python_path)
        .env_remove("FEWSTEP_LIB");
    if let Some(lib) = lib {
        cmd.env("FEWSTEP_LIB", lib);
    }
    let out = fewstep::testing::output_ok(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
}

#[test]
fn python_binding_matches_the_cli() {
    let Some(python) = fewstep::testing::reference_python("the Python binding test") else {
        return;
    };
    let libs = c_libraries();
    let tmp = scratch("python");
    binding_suite(
        &python,
        &root().join("python"),
        Some(&libs.join("libfewstep.so")),
        &tmp,
    );
    std::fs::remove_dir_all(&tmp).ok();
}

/// The wheel installs with pip (offline, no dependencies fetched: the venv has numpy) and its
/// package loads the library bundled next to it, with no `FEWSTEP_LIB` to point the way.
#[test]
fn the_wheel_installs_and_loads_its_own_library() {
    let Some(python) = fewstep::testing::reference_python("the Python wheel test") else {
        return;
    };
    let libs = c_libraries();
    let tmp = scratch("wheel");
    let made = fewstep::testing::output_ok(
        Command::new(&python)
            .arg(root().join("scripts/python-wheel.py"))
            .arg(tmp.join("dist"))
            .arg("--lib")
            .arg(libs.join("libfewstep.so")),
    );
    let wheel = PathBuf::from(String::from_utf8(made.stdout).unwrap().trim());
    let name = wheel.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(&format!("fewstep-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );
    let site = tmp.join("site");
    fewstep::testing::output_ok(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-index"])
            .args(["--disable-pip-version-check", "--target"])
            .arg(&site)
            .arg(&wheel),
    );
    let found = fewstep::testing::output_ok(
        Command::new(&python)
            .args(["-c", "import fewstep; print(fewstep.library_path())"])
            .env("PYTHONPATH", &site)
            .env_remove("FEWSTEP_LIB")
            .current_dir(&tmp),
    );
    let found = PathBuf::from(String::from_utf8(found.stdout).unwrap().trim());
    assert_eq!(found, site.join("fewstep/libfewstep.so"));
    binding_suite(&python, &site, None, &tmp);
    std::fs::remove_dir_all(&tmp).ok();
}
