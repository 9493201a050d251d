//! The Python binding (python/fewstep.py: the C API through ctypes) against the fewstep CLI,
//! run by tests/python/test_binding.py with the reference venv's Python (numpy), on the shared
//! library of this same build.

mod common;
use common::{c_libraries, root};

#[test]
fn python_binding_matches_the_cli() {
    let Some(python) = fewstep::testing::reference_python("the Python binding test") else {
        return;
    };
    let libs = c_libraries();
    let tmp = std::env::temp_dir().join(format!("fewstep-python-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = fewstep::testing::output_ok(
        std::process::Command::new(python)
            .arg(root().join("tests/python/test_binding.py"))
            .arg(env!("CARGO_BIN_EXE_fewstep"))
            .arg(root())
            .arg(&tmp)
            .env("FEWSTEP_LIB", libs.join("libfewstep.so"))
            .env("PYTHONPATH", root().join("python")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
    std::fs::remove_dir_all(&tmp).ok();
}
