//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz import_jsonl`: see [`clientele_fuzz::import_jsonl`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clientele_fuzz::import_jsonl(data));
