//! Entry points for the fuzz targets in `crates/fuzz` (feature `fuzzing`).
//! Not a stable API: each function checks a contract of crate-private code
//! on arbitrary input and panics when it is broken.

/// The record decoder on arbitrary bytes: first as stored bytes (almost
/// always refused by the CRC), then as a record body given a valid CRC, so
/// that the fuzzer reaches the parser and both payload decoders. See the
/// contract on `codec::check_record`.
pub fn record(data: &[u8]) {
    let position = 1 + data.len() as u64;
    crate::codec::check_record(position, data);
    crate::codec::check_record(position, &crate::codec::seal_body(data));
}
