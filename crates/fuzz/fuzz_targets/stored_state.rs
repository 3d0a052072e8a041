//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz stored_state`: see [`clientele_fuzz::stored_state`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::stored_state(data));
