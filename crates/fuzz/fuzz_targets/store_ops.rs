//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz store_ops`: see [`clientele_fuzz::store_ops`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::store_ops(data));
