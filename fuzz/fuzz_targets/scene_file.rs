//! Fuzz target: see `fewstep::fuzz::scene_file` for what it feeds and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fewstep::fuzz::scene_file(data));
