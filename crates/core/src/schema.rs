//! Schema versions of stored payloads, and the upcaster chain that brings old
//! records up to the current version on every read path.
//!
//! Every record stores the schema version its payload was written with. Reading
//! a record of version *n* < [`CURRENT_SCHEMA_VERSION`] runs the steps
//! *n → n+1 → … → current*, each of which only knows two adjacent versions, then
//! decodes the result with today's types. Records are never rewritten: the log is
//! append-only and hash-chained.
//!
//! History:
//! - **v1**: `contact` had a single `satisfaction: Option<u8>` (1–5 rating).
//! - **v2**: `contact` renamed it `rating` and added `department`, `perceived`
//!   and `expected` (satisfaction = perceived ÷ expected, 003 L89–90).

use serde::{Deserialize, Serialize};

use crate::event::{
    Cancellation, Channel, Churn, Complaint, Contact, Direction, Erasure, EventKind, EventPayload,
    Payment, Profile, Purchase, Purpose, Reactivation, Referral, Refund, RenewalIntent,
};

/// The schema version new events are written with.
pub const CURRENT_SCHEMA_VERSION: u16 = 2;

/// The oldest schema version the upcaster chain can read.
pub const OLDEST_SCHEMA_VERSION: u16 = 1;

/// One step of the chain: rewrites a payload of version `from()` into `from() + 1`.
pub trait Upcaster: Send + Sync {
    /// The version this step reads.
    fn from(&self) -> u16;
    /// Rewrites `payload` of `kind`; kinds the step does not change are returned as they are.
    fn upcast(&self, kind: EventKind, payload: &[u8]) -> Result<Vec<u8>, String>;
}

/// v1 → v2: `contact.satisfaction` becomes `contact.rating`; new optional fields start empty.
struct V1ToV2;

/// The `contact` payload as schema v1 wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContactV1 {
    pub channel: Channel,
    pub direction: Direction,
    pub purpose: Purpose,
    pub outcome: Option<String>,
    pub satisfaction: Option<u8>,
    pub renewal_intent: Option<RenewalIntent>,
}

impl Upcaster for V1ToV2 {
    fn from(&self) -> u16 {
        1
    }

    fn upcast(&self, kind: EventKind, payload: &[u8]) -> Result<Vec<u8>, String> {
        if kind != EventKind::Contact {
            return Ok(payload.to_vec());
        }
        let old: ContactV1 =
            postcard::from_bytes(payload).map_err(|e| format!("v1 contact: {e}"))?;
        let new = Contact {
            channel: old.channel,
            direction: old.direction,
            purpose: old.purpose,
            outcome: old.outcome,
            note: None,
            department: None,
            rating: old.satisfaction,
            perceived: None,
            expected: None,
            renewal_intent: old.renewal_intent,
        };
        postcard::to_allocvec(&new).map_err(|e| e.to_string())
    }
}

static CHAIN: [&dyn Upcaster; 1] = [&V1ToV2];

/// Encodes a payload with the current schema (the on-disk form; JSON is for the wire).
pub(crate) fn encode_payload(payload: &EventPayload, out: &mut Vec<u8>) -> Result<(), String> {
    let result = match payload {
        EventPayload::Contact(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Purchase(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Refund(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Cancellation(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Payment(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Complaint(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Referral(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Churn(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Reactivation(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Profile(v) => postcard::to_extend(v, std::mem::take(out)),
        EventPayload::Erasure(v) => postcard::to_extend(v, std::mem::take(out)),
    };
    *out = result.map_err(|e| e.to_string())?;
    Ok(())
}

fn decode_current(kind: EventKind, bytes: &[u8]) -> Result<EventPayload, String> {
    fn de<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
        postcard::from_bytes(bytes).map_err(|e| e.to_string())
    }
    Ok(match kind {
        EventKind::Contact => EventPayload::Contact(de::<Contact>(bytes)?),
        EventKind::Purchase => EventPayload::Purchase(de::<Purchase>(bytes)?),
        EventKind::Refund => EventPayload::Refund(de::<Refund>(bytes)?),
        EventKind::Cancellation => EventPayload::Cancellation(de::<Cancellation>(bytes)?),
        EventKind::Payment => EventPayload::Payment(de::<Payment>(bytes)?),
        EventKind::Complaint => EventPayload::Complaint(de::<Complaint>(bytes)?),
        EventKind::Referral => EventPayload::Referral(de::<Referral>(bytes)?),
        EventKind::Churn => EventPayload::Churn(de::<Churn>(bytes)?),
        EventKind::Reactivation => EventPayload::Reactivation(de::<Reactivation>(bytes)?),
        EventKind::Profile => EventPayload::Profile(de::<Profile>(bytes)?),
        EventKind::Erasure => EventPayload::Erasure(de::<Erasure>(bytes)?),
    })
}

/// Decodes a stored payload of any supported version into today's types.
pub(crate) fn decode_payload(
    kind: EventKind,
    version: u16,
    bytes: &[u8],
) -> Result<EventPayload, String> {
    if version == CURRENT_SCHEMA_VERSION {
        return decode_current(kind, bytes);
    }
    if !(OLDEST_SCHEMA_VERSION..CURRENT_SCHEMA_VERSION).contains(&version) {
        return Err(format!(
            "schema version {version} is not supported (this build reads {OLDEST_SCHEMA_VERSION}..={CURRENT_SCHEMA_VERSION})"
        ));
    }
    let mut current = bytes.to_vec();
    for step in CHAIN.iter().filter(|s| s.from() >= version) {
        current = step.upcast(kind, &current)?;
    }
    decode_current(kind, &current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_covers_every_old_version() {
        for (i, step) in CHAIN.iter().enumerate() {
            assert_eq!(step.from(), OLDEST_SCHEMA_VERSION + i as u16);
        }
        assert_eq!(
            OLDEST_SCHEMA_VERSION + CHAIN.len() as u16,
            CURRENT_SCHEMA_VERSION
        );
    }

    #[test]
    fn v1_contact_upcasts_rating() {
        let old = ContactV1 {
            channel: Channel::Phone,
            direction: Direction::Outbound,
            purpose: Purpose::Survey,
            outcome: Some("answered".into()),
            satisfaction: Some(4),
            renewal_intent: Some(RenewalIntent::Considering),
        };
        let bytes = postcard::to_allocvec(&old).unwrap();
        let EventPayload::Contact(c) = decode_payload(EventKind::Contact, 1, &bytes).unwrap()
        else {
            panic!("not a contact")
        };
        assert_eq!(c.rating, Some(4));
        assert_eq!(c.outcome.as_deref(), Some("answered"));
        assert_eq!(c.renewal_intent, Some(RenewalIntent::Considering));
        assert_eq!(c.perceived, None);
        // v1 bytes are not a valid v2 contact: the chain is what makes them readable.
        assert_ne!(
            decode_current(EventKind::Contact, &bytes).ok(),
            Some(EventPayload::Contact(c))
        );
        assert!(decode_payload(EventKind::Contact, 0, &bytes).is_err());
        assert!(decode_payload(EventKind::Contact, 3, &bytes).is_err());
    }
}
