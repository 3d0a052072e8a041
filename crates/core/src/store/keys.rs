//! Column families and key layout. All integers are big-endian so that
//! RocksDB's byte order is numeric order.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `events` | position (8) | record (see `codec`) |
//! | `streams` | customer (16) ‖ version (8) | position (8) ‖ occurred_at, µs (8; absent from entries written before it was added) |
//! | `event_ids` | event id (16) | position (8) ‖ version (8) ‖ fingerprint (16) |
//! | `stream_meta` | `0x01` ‖ customer (16) | stream version (8) |
//! |  | `0x02` ‖ customer (16) ‖ complaint id | last complaint step (1) |
//! | `checkpoints` | name | position (8), or projection meta: position (8) ‖ version (8) |
//! | `projections` | name ‖ 0xff ‖ 0x00 ‖ customer | folded state entry (postcard) |
//! |  | name ‖ 0xff ‖ 0x01 ‖ customer ‖ time ‖ event id | snapshot entry |
//! | `data_keys` | customer (16) ‖ data class (1) ‖ year (2, sign-flipped BE) | master key id (4) ‖ wrapped data key |
//! | `default` | `clientele/format`, `clientele/head` | format version; last position (8) ‖ chain hash (32) |

use crate::ids::{CustomerId, EventId};

pub(crate) const CF_EVENTS: &str = "events";
pub(crate) const CF_STREAMS: &str = "streams";
pub(crate) const CF_EVENT_IDS: &str = "event_ids";
pub(crate) const CF_STREAM_META: &str = "stream_meta";
pub(crate) const CF_CHECKPOINTS: &str = "checkpoints";
pub(crate) const CF_PROJECTIONS: &str = "projections";
pub(crate) const CF_DATA_KEYS: &str = "data_keys";
/// Every column family the store uses (besides `default`).
pub(crate) const COLUMN_FAMILIES: [&str; 7] = [
    CF_EVENTS,
    CF_STREAMS,
    CF_EVENT_IDS,
    CF_STREAM_META,
    CF_CHECKPOINTS,
    CF_PROJECTIONS,
    CF_DATA_KEYS,
];

pub(crate) const KEY_FORMAT: &[u8] = b"clientele/format";
pub(crate) const KEY_HEAD: &[u8] = b"clientele/head";
/// Present while erased keys may still be physically on disk.
pub(crate) const KEY_PURGE_PENDING: &[u8] = b"clientele/purge-pending";
/// Store format version written in `default`/`clientele/format`.
pub(crate) const STORE_FORMAT: u32 = 1;

const META_VERSION: u8 = 0x01;
const META_COMPLAINT: u8 = 0x02;

pub(crate) fn position_key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub(crate) fn stream_key(customer: &CustomerId, version: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(customer.as_bytes());
    k[16..].copy_from_slice(&version.to_be_bytes());
    k
}

pub(crate) fn event_id_key(id: &EventId) -> [u8; 16] {
    *id.as_bytes()
}

pub(crate) fn stream_version_key(customer: &CustomerId) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = META_VERSION;
    k[1..].copy_from_slice(customer.as_bytes());
    k
}

pub(crate) fn complaint_key(customer: &CustomerId, complaint_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + complaint_id.len());
    k.push(META_COMPLAINT);
    k.extend_from_slice(customer.as_bytes());
    k.extend_from_slice(complaint_id.as_bytes());
    k
}

/// Value of a `streams` entry: where the record is, and when its event
/// occurred, so that an as-of read can pass over later events without
/// reading their records.
pub(crate) fn stream_entry(position: u64, occurred_micros: i64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&position.to_be_bytes());
    v[8..].copy_from_slice(&occurred_micros.to_be_bytes());
    v
}

/// Reads a `streams` entry: (position, occurred_at in µs if recorded). An
/// entry of the first format holds the position alone. Any other length is
/// malformed (None).
pub(crate) fn read_stream_entry(bytes: &[u8]) -> Option<(u64, Option<i64>)> {
    match bytes.len() {
        8 => Some((read_u64(bytes)?, None)),
        16 => Some((read_u64(bytes)?, Some(read_u64(&bytes[8..])? as i64))),
        _ => None,
    }
}

pub(crate) fn read_u64(bytes: &[u8]) -> Option<u64> {
    let a: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(a))
}

/// Value of an `event_ids` entry.
pub(crate) struct EventIdEntry {
    pub position: u64,
    pub version: u64,
    pub fingerprint: [u8; 16],
}

impl EventIdEntry {
    pub(crate) fn encode(&self) -> [u8; 32] {
        let mut v = [0u8; 32];
        v[..8].copy_from_slice(&self.position.to_be_bytes());
        v[8..16].copy_from_slice(&self.version.to_be_bytes());
        v[16..].copy_from_slice(&self.fingerprint);
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&bytes[16..]);
        Some(Self {
            position: read_u64(&bytes[..8])?,
            version: read_u64(&bytes[8..16])?,
            fingerprint,
        })
    }
}

/// Name of a data key: customer ‖ class ‖ year (sign bit flipped so years sort).
pub(crate) fn data_key_name(
    customer: &CustomerId,
    class: crate::privacy::DataClass,
    year: i16,
) -> [u8; 19] {
    let mut k = [0u8; 19];
    k[..16].copy_from_slice(customer.as_bytes());
    k[16] = class.code();
    k[17..].copy_from_slice(&((year as u16) ^ 0x8000).to_be_bytes());
    k
}

/// The year of a data key name.
pub(crate) fn data_key_year(name: &[u8]) -> Option<i16> {
    let b: [u8; 2] = name.get(17..19)?.try_into().ok()?;
    Some((u16::from_be_bytes(b) ^ 0x8000) as i16)
}
