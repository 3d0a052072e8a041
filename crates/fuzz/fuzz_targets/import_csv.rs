//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz import_csv`: see [`clientele_fuzz::import_csv`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::import_csv(data));
