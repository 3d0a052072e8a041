//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz policies`: see [`clientele_fuzz::policies`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::policies(data));
