//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz import_cdnow`: see [`clientele_fuzz::import_cdnow`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::import_cdnow(data));
