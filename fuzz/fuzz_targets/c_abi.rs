//! Fuzz target: see `fewstep::fuzz::c_abi` for what it feeds and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: fewstep::fuzz::tolerate_caught_dependency_panics(),
    |data: &[u8]| {
        fewstep::fuzz::c_abi(data);
    }
);
