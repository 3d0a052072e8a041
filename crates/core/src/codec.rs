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
use crate::event::{EventKind, EventPayload};
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
    /// The customer and business time of a record, read from its header
    /// without checking it (None if it is too short to hold them): for
    /// passing over records a reader does not want. A record that is kept
    /// is then [`RawRecord::parse`]d, which checks it.
    pub(crate) fn peek(bytes: &[u8]) -> Option<(CustomerId, i64)> {
        if bytes.len() < HEADER_LEN + 4 + 4 + CRC_LEN + HASH_LEN {
            return None;
        }
        Some((
            CustomerId::from_uuid(uuid_at(bytes, 21)),
            be_u64(bytes, 45) as i64,
        ))
    }

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
        finite_numbers(&payload).map_err(|e| malformed(format!("{} payload: {e}", self.kind)))?;
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

impl RawRecord<'_> {
    /// [`RawRecord::decode`] into `out`, reusing its allocations: the
    /// payload's strings when `out` (or a spare in `buffers`) holds a payload
    /// of the same kind. The result equals what `decode` returns. On error
    /// `out` is left partly overwritten.
    pub(crate) fn decode_into(
        &self,
        position: u64,
        unseal: &dyn Fn(&RawRecord<'_>, &Sealed<'_>) -> Result<Unsealed, String>,
        out: &mut RecordedEvent,
        buffers: &mut DecodeBuffers,
    ) -> Result<i64, IntegrityError> {
        if self.sealed.is_some() || self.schema_version != schema::CURRENT_SCHEMA_VERSION {
            // Sealed parts and upcasts need the owned path.
            *out = self.decode(position, unseal)?;
            return Ok(out.occurred_at.timestamp_micros());
        }
        let malformed = |reason: String| IntegrityError::Malformed { position, reason };
        // The same checks in the same order as `decode`, so errors are the same.
        if self.metadata.is_empty() {
            if out.metadata != Metadata::default() {
                out.metadata = Metadata::default();
            }
        } else {
            out.metadata = postcard::from_bytes(self.metadata)
                .map_err(|e| malformed(format!("metadata: {e}")))?;
        }
        if out.payload.kind() != self.kind {
            buffers.swap(&mut out.payload, self.kind);
        }
        if !inplace::decode(self.kind, self.payload, &mut out.payload) {
            out.payload = schema::decode_payload(self.kind, self.schema_version, self.payload)
                .map_err(|e| malformed(format!("{} payload: {e}", self.kind)))?;
        }
        finite_numbers(&out.payload)
            .map_err(|e| malformed(format!("{} payload: {e}", self.kind)))?;
        out.occurred_at = buffers
            .time(0, self.occurred_micros)
            .ok_or_else(|| malformed("occurred_at out of range".into()))?;
        out.recorded_at = buffers
            .time(1, self.recorded_micros)
            .ok_or_else(|| malformed("recorded_at out of range".into()))?;
        out.event_id = self.event_id;
        out.customer_id = self.customer_id;
        out.version = self.version;
        out.position = position;
        out.schema_version = self.schema_version;
        out.personal_data = PersonalData::None;
        Ok(self.occurred_micros)
    }
}

impl RawRecord<'_> {
    /// [`RawRecord::decode`] through the in-place decoder: the same result,
    /// cheaper for current-schema records.
    pub(crate) fn decode_fresh(
        &self,
        position: u64,
        unseal: &dyn Fn(&RawRecord<'_>, &Sealed<'_>) -> Result<Unsealed, String>,
    ) -> Result<RecordedEvent, IntegrityError> {
        let mut out = blank_event();
        if let Some(payload) = inplace::empty(self.kind) {
            out.payload = payload;
        }
        self.decode_into(position, unseal, &mut out, &mut DecodeBuffers::default())?;
        Ok(out)
    }
}

/// The payload's floating-point fields are finite, as validation made them
/// when the event was appended: a record that says otherwise is malformed
/// (NaN would also compare unequal to itself and poison every figure).
fn finite_numbers(payload: &EventPayload) -> Result<(), String> {
    if let EventPayload::Contact(c) = payload {
        for (field, value) in [("perceived", c.perceived), ("expected", c.expected)] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(format!("{field} is not a finite number"));
            }
        }
    }
    Ok(())
}

/// Payloads kept between [`RawRecord::decode_into`] calls, one per kind (by
/// kind code), so that a log mixing kinds still reuses each kind's strings.
#[derive(Debug, Default)]
pub(crate) struct DecodeBuffers {
    spares: [Option<EventPayload>; 16],
    /// The last day converted by [`DecodeBuffers::time`] for each of the two
    /// times of a record (occurred, recorded): (days since the epoch, its
    /// date). Events next to each other in the log mostly share them.
    days: [Option<(i64, chrono::NaiveDate)>; 2],
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl DecodeBuffers {
    /// Puts a payload of `kind` into `payload` (a spare, or an empty one) and
    /// keeps the one it held as a spare.
    fn swap(&mut self, payload: &mut EventPayload, kind: EventKind) {
        let spare = self
            .spares
            .get_mut(usize::from(kind.code()))
            .and_then(Option::take);
        let Some(next) = spare.or_else(|| inplace::empty(kind)) else {
            return;
        };
        let previous = std::mem::replace(payload, next);
        let code = usize::from(previous.kind().code());
        if inplace::reusable(previous.kind()) {
            if let Some(slot) = self.spares.get_mut(code) {
                *slot = Some(previous);
            }
        }
    }

    /// [`micros_to_time`], reusing the date of the previous call for the same
    /// `field` (0: occurred, 1: recorded) when the day is the same (the
    /// calendar arithmetic is most of a conversion's cost).
    fn time(&mut self, field: usize, micros: i64) -> Option<DateTime<Utc>> {
        let day = micros.div_euclid(MICROS_PER_DAY);
        let cached = self.days.get_mut(field)?;
        let date = match *cached {
            Some((d, date)) if d == day => date,
            _ => {
                let t = micros_to_time(micros)?;
                *cached = Some((day, t.date_naive()));
                return Some(t);
            }
        };
        let of_day = micros.rem_euclid(MICROS_PER_DAY);
        let secs = u32::try_from(of_day / 1_000_000).ok()?;
        let nanos = u32::try_from(of_day % 1_000_000 * 1_000).ok()?;
        let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)?;
        Some(date.and_time(time).and_utc())
    }
}

/// A recorded event to decode into with [`RawRecord::decode_into`].
pub(crate) fn blank_event() -> RecordedEvent {
    RecordedEvent {
        event_id: EventId::from_uuid(uuid::Uuid::nil()),
        customer_id: CustomerId::from_uuid(uuid::Uuid::nil()),
        version: 0,
        position: 0,
        occurred_at: DateTime::<Utc>::UNIX_EPOCH,
        recorded_at: DateTime::<Utc>::UNIX_EPOCH,
        schema_version: schema::CURRENT_SCHEMA_VERSION,
        metadata: Metadata::default(),
        payload: EventPayload::Cancellation(crate::event::Cancellation {
            order_id: String::new(),
            reason: None,
        }),
        personal_data: PersonalData::None,
    }
}

/// Decoding of current-schema payloads into an existing payload of the same
/// kind, reusing its strings.
///
/// It reads postcard exactly as the serde derive of the payload types does
/// (same field order, same encodings, same parsing of vocabularies, dates,
/// currencies and referred customers), but it only accepts what it can decode
/// with certainty: on anything else (malformed input, an unexpected tag) it
/// gives up and the caller decodes with serde, which also reports the error.
mod inplace {
    use chrono::NaiveDate;

    use crate::event::{
        Cancellation, Channel, Churn, Complaint, ComplaintStep, Contact, Direction, EventKind,
        EventPayload, Payment, Purchase, Purpose, Reactivation, Referral, Referred, Refund,
        RenewalIntent, Severity,
    };
    use crate::ids::CustomerId;
    use crate::money::{Currency, Decimal};

    /// Whether payloads of `kind` are decoded in place (and worth keeping):
    /// the kinds [`empty`] makes a payload for.
    pub(super) fn reusable(kind: EventKind) -> bool {
        !matches!(kind, EventKind::Profile | EventKind::Erasure)
    }

    /// An empty payload of `kind`, for the kinds decoded here.
    pub(super) fn empty(kind: EventKind) -> Option<EventPayload> {
        let decimal = Decimal::new(0, 0)?;
        Some(match kind {
            EventKind::Contact => EventPayload::Contact(Contact::new(
                Channel::Phone,
                Direction::Inbound,
                Purpose::Inquiry,
            )),
            EventKind::Purchase => {
                EventPayload::Purchase(Purchase::new(String::new(), decimal, Currency::CNY))
            }
            EventKind::Refund => EventPayload::Refund(Refund {
                order_id: String::new(),
                amount: decimal,
                currency: Currency::CNY,
                reason: None,
            }),
            EventKind::Cancellation => EventPayload::Cancellation(Cancellation {
                order_id: String::new(),
                reason: None,
            }),
            EventKind::Payment => EventPayload::Payment(Payment {
                reference: String::new(),
                amount: decimal,
                currency: Currency::CNY,
                due_date: None,
                late: false,
            }),
            EventKind::Complaint => {
                EventPayload::Complaint(Complaint::new(String::new(), ComplaintStep::Received))
            }
            EventKind::Referral => EventPayload::Referral(Referral {
                referred: Referred::Prospect(String::new()),
                channel: None,
            }),
            EventKind::Churn => EventPayload::Churn(Churn {
                reason: String::new(),
                voluntary: true,
            }),
            EventKind::Reactivation => EventPayload::Reactivation(Reactivation {
                campaign: None,
                channel: None,
            }),
            EventKind::Profile | EventKind::Erasure => return None,
        })
    }

    /// Decodes `bytes`, a current-schema payload of `kind`, into `out`, which
    /// holds a payload of that kind. False: not decoded (`out` may be partly
    /// overwritten), decode with serde instead.
    pub(super) fn decode(kind: EventKind, bytes: &[u8], out: &mut EventPayload) -> bool {
        let mut r = Reader { bytes };
        let done = match (kind, out) {
            (EventKind::Contact, EventPayload::Contact(c)) => r.contact(c),
            (EventKind::Purchase, EventPayload::Purchase(p)) => r.purchase(p),
            (EventKind::Refund, EventPayload::Refund(p)) => r.refund(p),
            (EventKind::Cancellation, EventPayload::Cancellation(p)) => r.cancellation(p),
            (EventKind::Payment, EventPayload::Payment(p)) => r.payment(p),
            (EventKind::Complaint, EventPayload::Complaint(p)) => r.complaint(p),
            (EventKind::Referral, EventPayload::Referral(p)) => r.referral(p),
            (EventKind::Churn, EventPayload::Churn(p)) => r.churn(p),
            (EventKind::Reactivation, EventPayload::Reactivation(p)) => r.reactivation(p),
            _ => None,
        };
        // Like `postcard::from_bytes`, trailing bytes are ignored.
        done.is_some()
    }

    /// Reads postcard primitives; None on anything postcard would reject (or
    /// that this reader does not handle).
    struct Reader<'a> {
        bytes: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if n > self.bytes.len() {
                return None;
            }
            let (head, rest) = self.bytes.split_at(n);
            self.bytes = rest;
            Some(head)
        }

        fn byte(&mut self) -> Option<u8> {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            Some(b)
        }

        /// An unsigned varint of at most `max` bytes whose last byte is at
        /// most `last_max` (postcard's bounds for the integer's width).
        fn varint(&mut self, max: u32, last_max: u8) -> Option<u64> {
            let mut out = 0u64;
            for i in 0..max {
                let b = self.byte()?;
                out |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    return (i + 1 < max || b <= last_max).then_some(out);
                }
            }
            None
        }

        fn u32(&mut self) -> Option<u32> {
            self.varint(5, 0x0f).and_then(|v| u32::try_from(v).ok())
        }

        fn u64(&mut self) -> Option<u64> {
            self.varint(10, 0x01)
        }

        fn i64(&mut self) -> Option<i64> {
            let n = self.u64()?;
            Some(((n >> 1) as i64) ^ -((n & 1) as i64))
        }

        fn bool(&mut self) -> Option<bool> {
            match self.byte()? {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            }
        }

        /// An option's tag: whether a value follows.
        fn some(&mut self) -> Option<bool> {
            self.bool()
        }

        fn str(&mut self) -> Option<&'a str> {
            let len = usize::try_from(self.u64()?).ok()?;
            std::str::from_utf8(self.take(len)?).ok()
        }

        fn string(&mut self, out: &mut String) -> Option<()> {
            let s = self.str()?;
            out.clear();
            out.push_str(s);
            Some(())
        }

        fn opt_string(&mut self, out: &mut Option<String>) -> Option<()> {
            if self.some()? {
                let s = self.str()?;
                match out {
                    Some(o) => {
                        o.clear();
                        o.push_str(s);
                    }
                    None => *out = Some(s.to_owned()),
                }
            } else {
                *out = None;
            }
            Some(())
        }

        fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
            if self.some()? {
                f(self).map(Some)
            } else {
                Some(None)
            }
        }

        /// A unit enum's variant index.
        fn variant(&mut self) -> Option<u32> {
            self.u32()
        }

        fn decimal(&mut self) -> Option<Decimal> {
            let units = self.i64()?;
            let scale = self.byte()?;
            Decimal::new(units, scale)
        }

        fn currency(&mut self) -> Option<Currency> {
            Currency::from_code(self.take(3)?.try_into().ok()?)
        }

        fn date(&mut self) -> Option<NaiveDate> {
            self.str()?.parse().ok()
        }

        fn channel(&mut self) -> Option<Channel> {
            let Ok(c) = self.str()?.parse();
            Some(c)
        }

        fn purpose(&mut self) -> Option<Purpose> {
            let Ok(p) = self.str()?.parse();
            Some(p)
        }

        fn severity(&mut self) -> Option<Severity> {
            let Ok(s) = self.str()?.parse();
            Some(s)
        }

        fn direction(&mut self) -> Option<Direction> {
            match self.variant()? {
                0 => Some(Direction::Inbound),
                1 => Some(Direction::Outbound),
                _ => None,
            }
        }

        fn renewal_intent(&mut self) -> Option<RenewalIntent> {
            match self.variant()? {
                0 => Some(RenewalIntent::Continue),
                1 => Some(RenewalIntent::NotRenewing),
                2 => Some(RenewalIntent::Considering),
                _ => None,
            }
        }

        fn step(&mut self) -> Option<ComplaintStep> {
            let i = usize::try_from(self.variant()?).ok()?;
            ComplaintStep::ALL.get(i).copied()
        }

        fn f64(&mut self) -> Option<f64> {
            let b: [u8; 8] = self.take(8)?.try_into().ok()?;
            Some(f64::from_le_bytes(b))
        }

        fn contact(&mut self, c: &mut Contact) -> Option<()> {
            c.channel = self.channel()?;
            c.direction = self.direction()?;
            c.purpose = self.purpose()?;
            self.opt_string(&mut c.outcome)?;
            self.opt_string(&mut c.note)?;
            self.opt_string(&mut c.department)?;
            c.rating = self.opt(Self::byte)?;
            c.perceived = self.opt(Self::f64)?;
            c.expected = self.opt(Self::f64)?;
            c.renewal_intent = self.opt(Self::renewal_intent)?;
            Some(())
        }

        fn purchase(&mut self, p: &mut Purchase) -> Option<()> {
            self.string(&mut p.order_id)?;
            p.amount = self.decimal()?;
            p.currency = self.currency()?;
            self.opt_string(&mut p.category)?;
            p.quantity = self.opt(Self::u32)?;
            p.channel = self.opt(Self::channel)?;
            p.margin = self.opt(Self::decimal)?;
            p.renewal = self.bool()?;
            self.opt_string(&mut p.policy_number)?;
            p.coverage_start = self.opt(Self::date)?;
            p.valid_until = self.opt(Self::date)?;
            Some(())
        }

        fn refund(&mut self, p: &mut Refund) -> Option<()> {
            self.string(&mut p.order_id)?;
            p.amount = self.decimal()?;
            p.currency = self.currency()?;
            self.opt_string(&mut p.reason)
        }

        fn cancellation(&mut self, p: &mut Cancellation) -> Option<()> {
            self.string(&mut p.order_id)?;
            self.opt_string(&mut p.reason)
        }

        fn payment(&mut self, p: &mut Payment) -> Option<()> {
            self.string(&mut p.reference)?;
            p.amount = self.decimal()?;
            p.currency = self.currency()?;
            p.due_date = self.opt(Self::date)?;
            p.late = self.bool()?;
            Some(())
        }

        fn complaint(&mut self, p: &mut Complaint) -> Option<()> {
            self.string(&mut p.complaint_id)?;
            p.step = self.step()?;
            self.opt_string(&mut p.category)?;
            self.opt_string(&mut p.cause)?;
            p.severity = self.opt(Self::severity)?;
            p.harms_customer_interest = self.bool()?;
            self.opt_string(&mut p.owner)?;
            self.opt_string(&mut p.resolution)?;
            p.feedback_rating = self.opt(Self::byte)?;
            p.channel = self.opt(Self::channel)?;
            Some(())
        }

        fn referral(&mut self, p: &mut Referral) -> Option<()> {
            let text = self.str()?;
            p.referred = match text.parse::<CustomerId>() {
                Ok(id) => Referred::Customer(id),
                Err(_) => match &mut p.referred {
                    Referred::Prospect(s) => {
                        s.clear();
                        s.push_str(text);
                        Referred::Prospect(std::mem::take(s))
                    }
                    Referred::Customer(_) => Referred::Prospect(text.to_owned()),
                },
            };
            p.channel = self.opt(Self::channel)?;
            Some(())
        }

        fn churn(&mut self, p: &mut Churn) -> Option<()> {
            self.string(&mut p.reason)?;
            p.voluntary = self.bool()?;
            Some(())
        }

        fn reactivation(&mut self, p: &mut Reactivation) -> Option<()> {
            self.opt_string(&mut p.campaign)?;
            p.channel = self.opt(Self::channel)?;
            Some(())
        }
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

/// The record decoder's contract on any stored bytes, for the fuzz target
/// (`crates/fuzz`) and the property test below: parsing and both decoders
/// return (never panic); the in-place decoder returns exactly what the
/// owned decoder returns, error messages included; and bytes whose CRC does
/// not match are refused by `parse`. Panics when the contract is broken.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn check_record(position: u64, record: &[u8]) {
    if let Ok(raw) = RawRecord::parse(position, record) {
        let owned = raw.decode(position, &locked);
        let mut out = blank_event();
        let mut buffers = DecodeBuffers::default();
        let in_place = raw
            .decode_into(position, &locked, &mut out, &mut buffers)
            .map(|micros| {
                assert_eq!(micros, out.occurred_at.timestamp_micros());
                out.clone()
            });
        match (&owned, &in_place) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("decoders disagree: {owned:?} vs {in_place:?}"),
        }
        if let Ok(event) = &owned {
            // What decodes can be exported: its JSON form reads back the same.
            let json = serde_json::to_string(event).map_err(|e| e.to_string());
            let back = json
                .as_deref()
                .map(|j| serde_json::from_str::<RecordedEvent>(j).map_err(|e| e.to_string()));
            assert_eq!(back, Ok(Ok(event.clone())), "JSON: {json:?}");
        }
    }
    let crc_matches = record
        .len()
        .checked_sub(HASH_LEN + CRC_LEN)
        .is_some_and(|split| {
            let stored = u32::from_be_bytes([
                record[split],
                record[split + 1],
                record[split + 2],
                record[split + 3],
            ]);
            crc32fast::hash(&record[..split]) == stored
        });
    if !crc_matches {
        assert!(RawRecord::parse(position, record).is_err());
    }
}

/// `body` made into stored bytes: its CRC, then a chain hash of zeros (the
/// decoders do not read the hash; `verify` does).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn seal_body(body: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(body.len() + CRC_LEN + HASH_LEN);
    record.extend_from_slice(body);
    record.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
    record.extend_from_slice(&[0; HASH_LEN]);
    record
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::*;
    use crate::money::{Currency, Decimal};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9_-]{1,12}",
            ".{0,8}",
            Just("sms".to_owned()),
            Just("Call Centre".to_owned()),
        ]
    }

    fn channel() -> impl Strategy<Value = Channel> {
        text().prop_map(Channel::Other).boxed().prop_union(
            prop_oneof![Just(Channel::Sms), Just(Channel::Web), Just(Channel::Store)].boxed(),
        )
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u8..=18).prop_filter_map("scale", |(u, s)| Decimal::new(u, s))
    }

    fn currency() -> impl Strategy<Value = Currency> {
        "[A-Z]{3}".prop_filter_map("currency", |s| s.parse().ok())
    }

    fn date() -> impl Strategy<Value = chrono::NaiveDate> {
        (-100_000i32..1_000_000)
            .prop_filter_map("date", chrono::NaiveDate::from_num_days_from_ce_opt)
    }

    fn payload() -> impl Strategy<Value = EventPayload> {
        let contact = (
            channel(),
            any::<bool>(),
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<f64>()),
            proptest::option::of(any::<f64>()),
            proptest::option::of(0..3u8),
        )
            .prop_map(
                |(ch, inbound, purpose, outcome, note, department, rating, p, e, intent)| {
                    let Ok(purpose) = purpose.parse::<Purpose>();
                    let mut c = Contact::new(
                        ch,
                        if inbound {
                            Direction::Inbound
                        } else {
                            Direction::Outbound
                        },
                        purpose,
                    );
                    c.outcome = outcome;
                    c.note = note;
                    c.department = department;
                    c.rating = rating;
                    c.perceived = p;
                    c.expected = e;
                    c.renewal_intent = intent.map(|i| match i {
                        0 => RenewalIntent::Continue,
                        1 => RenewalIntent::NotRenewing,
                        _ => RenewalIntent::Considering,
                    });
                    EventPayload::Contact(c)
                },
            );
        let purchase = (
            text(),
            decimal(),
            currency(),
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(channel()),
            proptest::option::of(decimal()),
            any::<bool>(),
            proptest::option::of(text()),
            proptest::option::of(date()),
            proptest::option::of(date()),
        )
            .prop_map(
                |(
                    id,
                    amount,
                    cur,
                    category,
                    quantity,
                    ch,
                    margin,
                    renewal,
                    policy,
                    start,
                    until,
                )| {
                    let mut p = Purchase::new(id, amount, cur);
                    p.category = category;
                    p.quantity = quantity;
                    p.channel = ch;
                    p.margin = margin;
                    p.renewal = renewal;
                    p.policy_number = policy;
                    p.coverage_start = start;
                    p.valid_until = until;
                    EventPayload::Purchase(p)
                },
            );
        let refund = (text(), decimal(), currency(), proptest::option::of(text())).prop_map(
            |(order_id, amount, currency, reason)| {
                EventPayload::Refund(Refund {
                    order_id,
                    amount,
                    currency,
                    reason,
                })
            },
        );
        let cancellation = (text(), proptest::option::of(text())).prop_map(|(order_id, reason)| {
            EventPayload::Cancellation(Cancellation { order_id, reason })
        });
        let payment = (
            text(),
            decimal(),
            currency(),
            proptest::option::of(date()),
            any::<bool>(),
        )
            .prop_map(|(reference, amount, currency, due_date, late)| {
                EventPayload::Payment(Payment {
                    reference,
                    amount,
                    currency,
                    due_date,
                    late,
                })
            });
        let complaint = (
            text(),
            0..6usize,
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            any::<bool>(),
            proptest::option::of(text()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(channel()),
        )
            .prop_map(
                |(id, step, category, cause, severity, harms, owner, rating, ch)| {
                    let mut c = Complaint::new(id, ComplaintStep::ALL[step]);
                    c.category = category;
                    c.cause = cause;
                    c.severity = severity.map(|s| {
                        let Ok(s) = s.parse::<Severity>();
                        s
                    });
                    c.harms_customer_interest = harms;
                    c.owner = owner.clone();
                    c.resolution = owner;
                    c.feedback_rating = rating;
                    c.channel = ch;
                    EventPayload::Complaint(c)
                },
            );
        let referral = (any::<bool>(), text(), proptest::option::of(channel())).prop_map(
            |(customer, prospect, channel)| {
                let referred = if customer {
                    Referred::Customer(CustomerId::from_external("t", &prospect))
                } else {
                    Referred::Prospect(prospect)
                };
                EventPayload::Referral(Referral { referred, channel })
            },
        );
        let churn = (text(), any::<bool>())
            .prop_map(|(reason, voluntary)| EventPayload::Churn(Churn { reason, voluntary }));
        let reactivation = (
            proptest::option::of(text()),
            proptest::option::of(channel()),
        )
            .prop_map(|(campaign, channel)| {
                EventPayload::Reactivation(Reactivation { campaign, channel })
            });
        prop_oneof![
            contact,
            purchase,
            refund,
            cancellation,
            payment,
            complaint,
            referral,
            churn,
            reactivation
        ]
    }

    fn encode(p: &EventPayload) -> Vec<u8> {
        let mut out = Vec::new();
        schema::encode_payload(p, &mut out).unwrap();
        out
    }

    /// Decodes in place into `out` (swapped to `kind` as `decode_into` does).
    fn in_place(
        kind: EventKind,
        bytes: &[u8],
        out: &mut EventPayload,
        buffers: &mut DecodeBuffers,
    ) -> Option<EventPayload> {
        if out.kind() != kind {
            buffers.swap(out, kind);
        }
        inplace::decode(kind, bytes, out).then(|| out.clone())
    }

    fn serde(kind: EventKind, bytes: &[u8]) -> Result<EventPayload, String> {
        schema::decode_payload(kind, schema::CURRENT_SCHEMA_VERSION, bytes)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Valid payloads decode in place exactly as serde decodes them, into
        /// a fresh payload and into one holding an earlier payload.
        #[test]
        fn in_place_equals_serde(payloads in proptest::collection::vec(payload(), 1..8)) {
            let mut out = blank_event().payload;
            let mut buffers = DecodeBuffers::default();
            for p in &payloads {
                let bytes = encode(p);
                let expected = serde(p.kind(), &bytes).unwrap();
                let got = in_place(p.kind(), &bytes, &mut out, &mut buffers);
                prop_assert_eq!(got.as_ref(), Some(&expected));
                // With trailing bytes, as postcard::from_bytes ignores them.
                let mut longer = bytes.clone();
                longer.extend_from_slice(&[0xff, 0, 1]);
                prop_assert_eq!(in_place(p.kind(), &longer, &mut out, &mut buffers), Some(expected));
            }
        }

        /// Whatever the bytes, the in-place decoder only accepts what serde
        /// accepts, with the same result.
        #[test]
        fn in_place_accepts_only_what_serde_accepts(
            p in payload(),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            noise in proptest::collection::vec(any::<u8>(), 0..40),
            kind_code in 1u8..=9,
        ) {
            let mut mutated = encode(&p);
            for (at, byte) in &flips {
                if !mutated.is_empty() {
                    let i = at.index(mutated.len());
                    mutated[i] = *byte;
                }
            }
            let truncated = if mutated.is_empty() { mutated.clone() } else { mutated[..cut.index(mutated.len() + 1).min(mutated.len())].to_vec() };
            let kind = EventKind::from_code(kind_code).unwrap();
            for (k, bytes) in [(p.kind(), &mutated), (p.kind(), &truncated), (kind, &noise), (kind, &mutated)] {
                let mut out = blank_event().payload;
                let mut buffers = DecodeBuffers::default();
                if let Some(got) = in_place(k, bytes, &mut out, &mut buffers) {
                    prop_assert_eq!(Ok(got), serde(k, bytes));
                }
            }
        }
    }

    /// A record with a valid CRC around arbitrary content: the header's
    /// fields, lengths and payload bytes are random (some consistent, some
    /// not), so parsing and decoding get past the checksum.
    fn crc_valid_record() -> BoxedStrategy<Vec<u8>> {
        (
            (
                prop_oneof![3 => Just(FORMAT), 1 => any::<u8>()],
                prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
            ),
            (0u16..4, any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u64>()),
            (any::<i64>(), 0i64..4_000_000_000_000_000),
            (
                prop_oneof![
                    2 => Just(Vec::new()),
                    1 => proptest::collection::vec(any::<u8>(), 0..24)
                ],
                // A valid payload of its kind, or random bytes under a random kind.
                prop_oneof![
                    payload()
                        .prop_map(|p| (p.kind().code(), encode(&p)))
                        .boxed(),
                    (0u8..14, proptest::collection::vec(any::<u8>(), 0..64)).boxed(),
                ]
                .boxed(),
                prop_oneof![
                    3 => Just(Vec::new()),
                    1 => proptest::collection::vec(any::<u8>(), 1..48)
                ],
            ),
            (any::<bool>(), any::<u32>(), any::<[u8; HASH_LEN]>()),
        )
            .prop_map(
                |(
                    (format, flags),
                    (schema, event_id, customer, version),
                    (occurred, recorded),
                    (metadata, (kind, payload), tail),
                    (consistent, bad_len, hash),
                )| {
                    let mut body = vec![format, flags, kind];
                    body.extend_from_slice(&schema.to_be_bytes());
                    body.extend_from_slice(&event_id);
                    body.extend_from_slice(&customer);
                    body.extend_from_slice(&version.to_be_bytes());
                    body.extend_from_slice(&occurred.to_be_bytes());
                    body.extend_from_slice(&recorded.to_be_bytes());
                    let len = |n: usize| if consistent { n as u32 } else { bad_len };
                    body.extend_from_slice(&len(metadata.len()).to_be_bytes());
                    body.extend_from_slice(&metadata);
                    body.extend_from_slice(&len(payload.len()).to_be_bytes());
                    body.extend_from_slice(&payload);
                    body.extend_from_slice(&tail);
                    let crc = crc32fast::hash(&body);
                    body.extend_from_slice(&crc.to_be_bytes());
                    body.extend_from_slice(&hash);
                    body
                },
            )
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Fuzzing in the small: whatever a record holds behind a valid CRC,
        /// parsing and both decoders return (never panic), and the in-place
        /// decoder returns exactly what the owned decoder returns, error
        /// messages included. Arbitrary bytes without a valid CRC are refused
        /// by `parse`.
        #[test]
        fn arbitrary_records_never_panic_and_decoders_agree(
            record in crc_valid_record(),
            noise in proptest::collection::vec(any::<u8>(), 0..160),
            position in 1u64..1_000,
        ) {
            check_record(position, &record);
            check_record(position, &noise);
            check_record(position, &seal_body(&noise));
        }
    }

    proptest! {
        /// The day-cached conversion gives exactly what `micros_to_time`
        /// does, for times near each other (the cache hits) and anywhere.
        #[test]
        fn cached_time_conversion_is_exact(
            start in any::<i64>(),
            steps in proptest::collection::vec(
                prop_oneof![
                    -MICROS_PER_DAY..MICROS_PER_DAY,
                    any::<i64>(),
                    Just(0i64),
                    Just(1i64),
                    Just(-1i64),
                ],
                0..40,
            ),
        ) {
            let mut buffers = DecodeBuffers::default();
            let mut t = start;
            prop_assert_eq!(buffers.time(0, t), micros_to_time(t));
            for (i, step) in steps.into_iter().enumerate() {
                t = t.wrapping_add(step);
                prop_assert_eq!(buffers.time(i % 2, t), micros_to_time(t), "{}", t);
            }
        }
    }

    #[test]
    fn cached_time_conversion_at_the_edges() {
        let mut buffers = DecodeBuffers::default();
        let edges = [
            DateTime::<Utc>::MIN_UTC.timestamp_micros(),
            DateTime::<Utc>::MAX_UTC.timestamp_micros(),
            0,
            -1,
            MICROS_PER_DAY - 1,
            MICROS_PER_DAY,
            i64::MIN,
            i64::MAX,
        ];
        for base in edges {
            for d in [-2, -1, 0, 1, 2, MICROS_PER_DAY / 2] {
                let t = base.saturating_add(d);
                assert_eq!(buffers.time(0, t), micros_to_time(t), "{t}");
                assert_eq!(buffers.time(1, t), micros_to_time(t), "{t}");
            }
        }
    }

    #[test]
    fn decode_into_equals_decode() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let customer = CustomerId::new_random();
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut contact = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
        contact.outcome = Some("delivered".into());
        let purchase = Purchase::new("A-1", "12.50".parse().unwrap(), Currency::CNY);
        let meta = crate::Metadata {
            source: Some("crm".into()),
            ..crate::Metadata::default()
        };
        let events = vec![
            crate::NewEvent::new(at, contact.clone()),
            crate::NewEvent::new(at, purchase.clone()).with_metadata(meta),
            crate::NewEvent::new(
                at,
                Churn {
                    reason: "moved".into(),
                    voluntary: true,
                },
            ),
            crate::NewEvent::new(at, purchase),
            crate::NewEvent::new(at, contact),
        ];
        store
            .append(customer, crate::ExpectedVersion::Any, events)
            .unwrap();
        let expected: Vec<RecordedEvent> = store.read_all(1).unwrap().map(|e| e.unwrap()).collect();
        let mut out = blank_event();
        let mut buffers = DecodeBuffers::default();
        let mut iter = store.read_all(1).unwrap();
        let mut got = Vec::new();
        while let Some(r) = iter.next_into(&mut out, &mut buffers) {
            assert_eq!(r.unwrap(), out.occurred_at.timestamp_micros());
            got.push(out.clone());
        }
        assert_eq!(got, expected);
    }
}
