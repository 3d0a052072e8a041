//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz record`: see [`clientele_fuzz::record`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::record(data));
