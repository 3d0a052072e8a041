//! The on-disk record format and the hash chain.
//!
//! A record (value of the `events` column family, key = global position, u64 BE):
//!
//! ```text
//! off  size  field
//!   0     1  format (1)
//!   1     1  flags (bit 0: payload sealed by the privacy layer)
//!   2     1  kind code
//!   3     2  schema version (BE)
//!   5    16  event id
//!  21    16  customer id
//!  37     8  stream version (BE)
//!  45     8  occurred_at, µs since the Unix epoch (BE, signed)
//!  53     8  recorded_at, µs since the Unix epoch (BE, signed)
//!  61     4  metadata length m (BE), then m bytes of postcard
//!   …     4  payload length p (BE), then p bytes of postcard (the public part)
//!   …        if sealed: length s (4, BE), data class (1), key year (2, BE),
//!            then s − 3 bytes: nonce (24) ‖ XChaCha20-Poly1305 ciphertext
//!   …     4  CRC-32 of every byte above
//!   …    32  chain hash = BLAKE3(previous chain hash ‖ position BE ‖ every byte above the CRC)
//! ```
//!
//! The CRC catches bit rot on every read; the chain makes `verify()` detect any
//! altered, removed or reordered record. The chain hashes the stored bytes, so a
//! sealed (encrypted) payload is hashed as ciphertext and erasing its key does
//! not break the chain.

use chrono::{DateTime, Utc};

use zeroize::Zeroizing;

use crate::envelope::{Metadata, RecordedEvent};
use crate::error::IntegrityError;
use crate::event::EventKind;
use crate::ids::{CustomerId, EventId};
use crate::privacy::{self, DataClass, PersonalData, PersonalPart};
use crate::schema;

/// Record format written by this build.
pub(crate) const FORMAT: u8 = 1;
/// Flag: the payload bytes are sealed.
pub(crate) const FLAG_SEALED: u8 = 1;
const HEADER_LEN: usize = 61;
const CRC_LEN: usize = 4;
/// Length of a chain hash.
pub const HASH_LEN: usize = 32;
/// The chain hash "before" position 1.
pub const GENESIS_HASH: [u8; HASH_LEN] = [0; HASH_LEN];

/// An event encoded outside the writer: everything but version, position and recorded_at.
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    pub event_id: EventId,
    pub kind: EventKind,
    pub schema_version: u16,
    pub flags: u8,
    pub occurred_micros: i64,
    pub metadata: Vec<u8>,
    pub payload: Vec<u8>,
    /// Identifies the content (with the customer), to tell an idempotent retry from a reused id.
    pub fingerprint: [u8; 16],
    /// For complaint events: (complaint id, step index), checked by the writer.
    pub complaint: Option<(String, u8)>,
    /// The personal part, in the clear until the writer seals it.
    pub personal: Option<PersonalPlain>,
}

/// A personal part waiting to be sealed.
#[derive(Debug, Clone)]
pub(crate) struct PersonalPlain {
    pub class: DataClass,
    pub year: i16,
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// A sealed personal part: class, key year, nonce ‖ ciphertext.
pub(crate) struct Sealed<'a> {
    pub class: DataClass,
    pub year: i16,
    pub bytes: &'a [u8],
}

/// Content fingerprint of an event for a customer (idempotency index value).
pub(crate) fn fingerprint(customer: &CustomerId, event: &PreparedEvent) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    h.update(customer.as_bytes());
    h.update(&event.occurred_micros.to_be_bytes());
    h.update(&[event.kind.code(), event.flags]);
    h.update(&event.schema_version.to_be_bytes());
    h.update(&(event.metadata.len() as u64).to_be_bytes());
    h.update(&event.metadata);
    h.update(&(event.payload.len() as u64).to_be_bytes());
    h.update(&event.payload);
    if let Some(p) = &event.personal {
        h.update(&[p.class.code()]);
        h.update(&p.year.to_be_bytes());
        h.update(&p.plaintext);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// Appends the encoded record to `out` and returns its chain hash.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    event: &PreparedEvent,
    sealed: Option<&Sealed<'_>>,
    customer: &CustomerId,
    version: u64,
    position: u64,
    recorded_micros: i64,
    previous_hash: &[u8; HASH_LEN],
) -> [u8; HASH_LEN] {
    let start = out.len();
    out.reserve(HEADER_LEN + 8 + event.metadata.len() + event.payload.len() + CRC_LEN + HASH_LEN);
    out.push(FORMAT);
    out.push(if sealed.is_some() {
        event.flags | FLAG_SEALED
    } else {
        event.flags & !FLAG_SEALED
    });
    out.push(event.kind.code());
    out.extend_from_slice(&event.schema_version.to_be_bytes());
    out.extend_from_slice(event.event_id.as_bytes());
    out.extend_from_slice(customer.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&event.occurred_micros.to_be_bytes());
    out.extend_from_slice(&recorded_micros.to_be_bytes());
    out.extend_from_slice(&(event.metadata.len() as u32).to_be_bytes());
    out.extend_from_slice(&event.metadata);
    out.extend_from_slice(&(event.payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&event.payload);
    if let Some(s) = sealed {
        out.extend_from_slice(&((s.bytes.len() + 3) as u32).to_be_bytes());
        out.push(s.class.code());
        out.extend_from_slice(&s.year.to_be_bytes());
        out.extend_from_slice(s.bytes);
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    let hash = chain_hash(previous_hash, position, &out[start..out.len() - CRC_LEN]);
    out.extend_from_slice(&hash);
    hash
}

/// BLAKE3(previous ‖ position ‖ body).
pub(crate) fn chain_hash(previous: &[u8; HASH_LEN], position: u64, body: &[u8]) -> [u8; HASH_LEN] {
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(&position.to_be_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

/// A record split into its parts, checked against its CRC, not yet decoded.
pub(crate) struct RawRecord<'a> {
    pub kind: EventKind,
    pub schema_version: u16,
    pub event_id: EventId,
    pub customer_id: CustomerId,
    pub version: u64,
    pub occurred_micros: i64,
    pub recorded_micros: i64,
    pub metadata: &'a [u8],
    pub payload: &'a [u8],
    pub sealed: Option<Sealed<'a>>,
    /// Everything the CRC and the chain cover.
    pub body: &'a [u8],
    pub chain_hash: [u8; HASH_LEN],
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn uuid_at(b: &[u8], at: usize) -> uuid::Uuid {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    uuid::Uuid::from_bytes(a)
}

impl<'a> RawRecord<'a> {
    /// Splits and CRC-checks the record stored at `position`.
    pub(crate) fn parse(position: u64, bytes: &'a [u8]) -> Result<Self, IntegrityError> {
        let malformed = |reason: &str| IntegrityError::Malformed {
            position,
            reason: reason.to_owned(),
        };
        if bytes.len() < HEADER_LEN + 4 + 4 + CRC_LEN + HASH_LEN {
            return Err(malformed("record too short"));
        }
        let hash_at = bytes.len() - HASH_LEN;
        let crc_at = hash_at - CRC_LEN;
        let body = &bytes[..crc_at];
        let stored_crc = u32::from_be_bytes([
            bytes[crc_at],
            bytes[crc_at + 1],
            bytes[crc_at + 2],
            bytes[crc_at + 3],
        ]);
        if crc32fast::hash(body) != stored_crc {
            return Err(IntegrityError::Checksum { position });
        }
        if body[0] != FORMAT {
            return Err(malformed(&format!("unknown record format {}", body[0])));
        }
        let kind = EventKind::from_code(body[2])
            .ok_or_else(|| malformed(&format!("unknown kind code {}", body[2])))?;
        let meta_len = u32::from_be_bytes([body[61], body[62], body[63], body[64]]) as usize;
        let meta_end = 65usize
            .checked_add(meta_len)
            .filter(|&e| e + 4 <= body.len())
            .ok_or_else(|| malformed("metadata length out of bounds"))?;
        let pl = u32::from_be_bytes([
            body[meta_end],
            body[meta_end + 1],
            body[meta_end + 2],
            body[meta_end + 3],
        ]) as usize;
        let payload_start = meta_end + 4;
        let payload_end = payload_start
            .checked_add(pl)
            .filter(|&e| e <= body.len())
            .ok_or_else(|| malformed("payload length out of bounds"))?;
        let sealed = if body[1] & FLAG_SEALED != 0 {
            let rest = &body[payload_end..];
            if rest.len() < 7 {
                return Err(malformed("sealed part missing"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len + 4 != rest.len() || len < 3 {
                return Err(malformed("sealed part length does not match the record"));
            }
            let class =
                DataClass::from_code(rest[4]).ok_or_else(|| malformed("unknown data class"))?;
            Some(Sealed {
                class,
                year: i16::from_be_bytes([rest[5], rest[6]]),
                bytes: &rest[7..],
            })
        } else {
            if payload_end != body.len() {
                return Err(malformed("payload length does not match the record"));
            }
            None
        };
        let mut chain = [0u8; HASH_LEN];
        chain.copy_from_slice(&bytes[hash_at..]);
        Ok(Self {
            kind,
            schema_version: u16::from_be_bytes([body[3], body[4]]),
            event_id: EventId::from_uuid(uuid_at(body, 5)),
            customer_id: CustomerId::from_uuid(uuid_at(body, 21)),
            version: be_u64(body, 37),
            occurred_micros: be_u64(body, 45) as i64,
            recorded_micros: be_u64(body, 53) as i64,
            metadata: &body[65..meta_end],
            payload: &body[payload_start..payload_end],
            sealed,
            body,
            chain_hash: chain,
        })
    }

    /// Decodes into a [`RecordedEvent`], running the upcaster chain.
    /// Associated data of this record's sealed part.
    pub(crate) fn associated_data(&self, sealed: &Sealed<'_>) -> Vec<u8> {
        privacy::associated_data(
            &self.event_id,
            &self.customer_id,
            self.kind.code(),
            self.schema_version,
            sealed.class,
            sealed.year,
        )
    }

    /// Decodes into a [`RecordedEvent`], running the upcaster chain; `unseal`
    /// opens the sealed personal part, if any.
    pub(crate) fn decode(
        &self,
        position: u64,
        unseal: &dyn Fn(&RawRecord<'_>, &Sealed<'_>) -> Result<Unsealed, String>,
    ) -> Result<RecordedEvent, IntegrityError> {
        let malformed = |reason: String| IntegrityError::Malformed { position, reason };
        let metadata: Metadata = if self.metadata.is_empty() {
            Metadata::default()
        } else {
            postcard::from_bytes(self.metadata).map_err(|e| malformed(format!("metadata: {e}")))?
        };
        let mut payload = schema::decode_payload(self.kind, self.schema_version, self.payload)
            .map_err(|e| malformed(format!("{} payload: {e}", self.kind)))?;
        let personal_data = match &self.sealed {
            None => PersonalData::None,
            Some(sealed) => {
                match unseal(self, sealed).map_err(|e| malformed(format!("sealed part: {e}")))? {
                    Unsealed::Part(part) => {
                        privacy::merge(&mut payload, part);
                        PersonalData::Available
                    }
                    Unsealed::Erased => PersonalData::Erased,
                    Unsealed::Locked => PersonalData::Locked,
                }
            }
        };
        Ok(RecordedEvent {
            event_id: self.event_id,
            customer_id: self.customer_id,
            version: self.version,
            position,
            occurred_at: micros_to_time(self.occurred_micros)
                .ok_or_else(|| malformed("occurred_at out of range".into()))?,
            recorded_at: micros_to_time(self.recorded_micros)
                .ok_or_else(|| malformed("recorded_at out of range".into()))?,
            schema_version: self.schema_version,
            metadata,
            payload,
            personal_data,
        })
    }
}

/// The outcome of opening a sealed part.
pub(crate) enum Unsealed {
    /// Decrypted.
    Part(PersonalPart),
    /// The key is gone.
    Erased,
    /// No master key to unwrap the data key with.
    Locked,
}

/// An unsealer that opens nothing (verification, audits without keys).
pub(crate) fn locked(_: &RawRecord<'_>, _: &Sealed<'_>) -> Result<Unsealed, String> {
    Ok(Unsealed::Locked)
}

/// Microseconds since the epoch to a UTC time.
pub(crate) fn micros_to_time(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

/// Encodes metadata; the default metadata is stored as zero bytes.
pub(crate) fn encode_metadata(metadata: &Metadata) -> Result<Vec<u8>, String> {
    if *metadata == Metadata::default() {
        return Ok(Vec::new());
    }
    postcard::to_allocvec(metadata).map_err(|e| e.to_string())
}
