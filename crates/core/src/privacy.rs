//! Personal data: which fields are personal, how they are sealed, and the
//! keys that make erasure possible in an append-only log (crypto-shredding).
//!
//! Each record keeps its **public part** (everything analytics need: kinds,
//! times, amounts, steps, categories) in the clear and its **personal part**
//! sealed with XChaCha20-Poly1305 under a **data key** of that customer, for
//! one [`DataClass`] and one calendar year of `occurred_at`. The record's
//! identity (event id, customer, kind, schema version, class, year) is the
//! associated data, so a sealed part cannot be moved to another record.
//!
//! Data keys live in their own column family, wrapped (encrypted) by a
//! **master key** that the embedding application supplies through
//! [`MasterKeys`] and that is never stored in the database. Destroying a data
//! key makes the sealed parts it protected unreadable for good: `forget`
//! destroys all of a customer's keys; retention destroys the keys of one class
//! for years past a cut-off. The hash chain covers the ciphertext, so
//! `verify()` passes before and after.
//!
//! Personal fields (see `docs/privacy.md`): every `profile` field except
//! `segment`; `purchase.policy_number`; a `referral`'s prospect reference; a
//! `complaint`'s `cause` and `resolution` (narratives); a `contact`'s `note`.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::event::{EventPayload, Profile, Referred};
use crate::ids::{CustomerId, EventId};

/// A 256-bit key.
pub type KeyBytes = [u8; 32];

/// Supplies master keys. Implement it over a KMS, an HSM, a file, or an
/// environment variable; the store never persists master keys.
pub trait MasterKeys: Send + Sync + 'static {
    /// The key new data keys are wrapped with, and its id.
    fn current(&self) -> Result<(u32, Zeroizing<KeyBytes>), String>;
    /// The key with this id (older keys stay available until rotation is done).
    fn get(&self, id: u32) -> Result<Option<Zeroizing<KeyBytes>>, String>;
}

/// A fixed set of master keys; the highest id is current.
///
/// ```
/// use clientele_core::privacy::{MasterKeyRing, MasterKeys};
/// let ring = MasterKeyRing::new(1, [7u8; 32]).with_key(2, [9u8; 32]);
/// assert_eq!(ring.current().unwrap().0, 2);
/// assert!(ring.get(1).unwrap().is_some());
/// ```
#[derive(Clone)]
pub struct MasterKeyRing {
    keys: Vec<(u32, Zeroizing<KeyBytes>)>,
}

impl MasterKeyRing {
    /// A ring with one key.
    pub fn new(id: u32, key: KeyBytes) -> Self {
        Self {
            keys: vec![(id, Zeroizing::new(key))],
        }
    }

    /// A ring with one freshly generated key (for tests and throwaway stores).
    pub fn generate() -> Self {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        Self::new(1, bytes)
    }

    /// Parses a key from 64 hex digits (e.g. `CLIENTELE_MASTER_KEY`).
    pub fn from_hex(id: u32, hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(format!(
                "a master key is 64 hex digits, got {} characters",
                hex.len()
            ));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("not hex at position {}", 2 * i))?;
        }
        Ok(Self::new(id, key))
    }

    /// Adds a key (rotation: add the new key, then `Store::rotate_master_key`).
    pub fn with_key(mut self, id: u32, key: KeyBytes) -> Self {
        self.keys.retain(|(i, _)| *i != id);
        self.keys.push((id, Zeroizing::new(key)));
        self.keys.sort_by_key(|(i, _)| *i);
        self
    }
}

impl fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(i, _)| *i).collect();
        f.debug_struct("MasterKeyRing")
            .field("key_ids", &ids)
            .finish()
    }
}

impl MasterKeys for MasterKeyRing {
    fn current(&self) -> Result<(u32, Zeroizing<KeyBytes>), String> {
        self.keys
            .last()
            .map(|(i, k)| (*i, k.clone()))
            .ok_or_else(|| "no master key".to_owned())
    }

    fn get(&self, id: u32) -> Result<Option<Zeroizing<KeyBytes>>, String> {
        Ok(self
            .keys
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, k)| k.clone()))
    }
}

/// Groups of personal fields with their own keys (and retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum DataClass {
    /// `profile` fields: names, contact details, ids, plates, birthday.
    Identity = 1,
    /// `contact.note` free text.
    ContactNotes = 2,
    /// `complaint.cause` and `complaint.resolution` narratives.
    ComplaintNarrative = 3,
    /// A `referral`'s prospect reference (a third party's name or phone).
    Prospect = 4,
    /// `purchase.policy_number`.
    PolicyIdentifier = 5,
}

impl DataClass {
    /// Every class.
    pub const ALL: [DataClass; 5] = [
        Self::Identity,
        Self::ContactNotes,
        Self::ComplaintNarrative,
        Self::Prospect,
        Self::PolicyIdentifier,
    ];

    /// The on-disk code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The class with this code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }
}

/// Whether an event's personal fields could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    /// The event has no personal fields.
    #[default]
    None,
    /// The personal fields were decrypted and are present.
    Available,
    /// The key was destroyed (forget or retention): the personal fields are
    /// empty and will never be readable again.
    Erased,
    /// The store has no master key (or not the right one): the fields are empty.
    Locked,
}

/// The personal part of a payload, sealed separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum PersonalPart {
    Profile(Profile),
    ContactNote(String),
    Complaint {
        cause: Option<String>,
        resolution: Option<String>,
    },
    Prospect(String),
    PolicyNumber(String),
}

impl PersonalPart {
    pub(crate) fn class(&self) -> DataClass {
        match self {
            Self::Profile(_) => DataClass::Identity,
            Self::ContactNote(_) => DataClass::ContactNotes,
            Self::Complaint { .. } => DataClass::ComplaintNarrative,
            Self::Prospect(_) => DataClass::Prospect,
            Self::PolicyNumber(_) => DataClass::PolicyIdentifier,
        }
    }
}

/// Moves the personal fields out of `payload`, leaving the public part.
pub(crate) fn split(payload: &mut EventPayload) -> Option<PersonalPart> {
    match payload {
        EventPayload::Profile(p) => {
            let segment = std::mem::take(&mut p.segment);
            let personal = std::mem::replace(
                p,
                Profile {
                    segment,
                    ..Profile::default()
                },
            );
            (personal != Profile::default()).then_some(PersonalPart::Profile(personal))
        }
        EventPayload::Contact(c) => c.note.take().map(PersonalPart::ContactNote),
        EventPayload::Complaint(c) => {
            let (cause, resolution) = (c.cause.take(), c.resolution.take());
            (cause.is_some() || resolution.is_some())
                .then_some(PersonalPart::Complaint { cause, resolution })
        }
        EventPayload::Referral(r) => match &mut r.referred {
            Referred::Prospect(text) => {
                let text = std::mem::take(text);
                Some(PersonalPart::Prospect(text))
            }
            Referred::Customer(_) => None,
        },
        EventPayload::Purchase(p) => p.policy_number.take().map(PersonalPart::PolicyNumber),
        _ => None,
    }
}

/// Puts the personal fields back into the public part.
pub(crate) fn merge(payload: &mut EventPayload, part: PersonalPart) {
    match (payload, part) {
        (EventPayload::Profile(p), PersonalPart::Profile(personal)) => {
            let segment = std::mem::take(&mut p.segment);
            *p = Profile {
                segment,
                ..personal
            };
        }
        (EventPayload::Contact(c), PersonalPart::ContactNote(o)) => c.note = Some(o),
        (EventPayload::Complaint(c), PersonalPart::Complaint { cause, resolution }) => {
            c.cause = cause;
            c.resolution = resolution;
        }
        (EventPayload::Referral(r), PersonalPart::Prospect(p)) => {
            r.referred = Referred::Prospect(p)
        }
        (EventPayload::Purchase(p), PersonalPart::PolicyNumber(n)) => p.policy_number = Some(n),
        _ => {}
    }
}

/// The calendar year a data key covers.
pub(crate) fn key_year(occurred_at: DateTime<Utc>) -> i16 {
    i16::try_from(occurred_at.year()).unwrap_or(i16::MAX)
}

/// Associated data binding a sealed part to its record.
pub(crate) fn associated_data(
    event_id: &EventId,
    customer: &CustomerId,
    kind: u8,
    schema: u16,
    class: DataClass,
    year: i16,
) -> Vec<u8> {
    let mut ad = Vec::with_capacity(40);
    ad.extend_from_slice(b"clientele/sealed/v1");
    ad.extend_from_slice(event_id.as_bytes());
    ad.extend_from_slice(customer.as_bytes());
    ad.push(kind);
    ad.extend_from_slice(&schema.to_be_bytes());
    ad.push(class.code());
    ad.extend_from_slice(&year.to_be_bytes());
    ad
}

/// A fresh random data key.
pub(crate) fn new_data_key() -> Zeroizing<KeyBytes> {
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&key);
    bytes
}

/// nonce (24) ‖ ciphertext+tag.
pub(crate) fn seal(key: &KeyBytes, plaintext: &[u8], ad: &[u8]) -> Result<Vec<u8>, String> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = Vec::with_capacity(24 + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens `nonce ‖ ciphertext` sealed by [`seal`].
pub(crate) fn open(key: &KeyBytes, sealed: &[u8], ad: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    if sealed.len() < 24 + 16 {
        return Err("sealed data too short".into());
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XNonce::from_slice(&sealed[..24]);
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed[24..],
                aad: ad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| "authentication failed (wrong key or tampered data)".to_owned())
}

/// Wraps a data key under a master key: master id (4) ‖ nonce ‖ ciphertext.
pub(crate) fn wrap(
    master_id: u32,
    master: &KeyBytes,
    data_key: &KeyBytes,
    key_name: &[u8],
) -> Result<Vec<u8>, String> {
    let mut out = master_id.to_be_bytes().to_vec();
    out.extend_from_slice(&seal(master, data_key, key_name)?);
    Ok(out)
}

/// Unwraps a data key stored under `key_name`.
pub(crate) fn unwrap_key(
    keys: &dyn MasterKeys,
    stored: &[u8],
    key_name: &[u8],
) -> Result<Zeroizing<KeyBytes>, String> {
    let id = u32::from_be_bytes(
        stored
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("wrapped key too short")?,
    );
    let master = keys
        .get(id)?
        .ok_or_else(|| format!("master key {id} is not available"))?;
    let plain = open(&master, &stored[4..], key_name)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err("unwrapped key has the wrong length".into());
    }
    key.copy_from_slice(&plain);
    Ok(key)
}

/// Who read which personal data, when (see [`AccessLog`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// When (the store's clock).
    pub at: DateTime<Utc>,
    /// The reader identity given to [`crate::Store::reader`] (`None`: anonymous).
    pub reader: Option<String>,
    /// Whose data.
    pub customer: CustomerId,
    /// The event read.
    pub position: u64,
    /// The class of personal data decrypted.
    pub class: DataClass,
}

/// Receives a record for every decryption of personal data through the
/// library's read paths. Optional; when none is configured the cost is one
/// branch per sealed record.
pub trait AccessLog: Send + Sync + 'static {
    /// Records one access. Must not block for long: it runs on the read path.
    fn record(&self, access: AccessRecord);
}

/// An in-memory access log (for tests, or to drain into your own sink).
#[derive(Debug, Default, Clone)]
pub struct MemoryAccessLog(Arc<std::sync::Mutex<Vec<AccessRecord>>>);

impl MemoryAccessLog {
    /// Everything recorded so far.
    pub fn records(&self) -> Vec<AccessRecord> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl AccessLog for MemoryAccessLog {
    fn record(&self, access: AccessRecord) {
        if let Ok(mut v) = self.0.lock() {
            v.push(access);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Complaint, ComplaintStep, Referral};

    #[test]
    fn split_and_merge_round_trip() {
        let mut profile = Profile {
            name: Some("Li Wei".into()),
            licence_plate: Some("京A12345".into()),
            ..Default::default()
        };
        profile.segment.insert("region".into(), "north".into());
        let mut c = Complaint::new("C1", ComplaintStep::Resolved);
        c.resolution = Some("refunded Mr Li".into());
        let referral = Referral {
            referred: Referred::Prospect("Zhang San 138…".into()),
            channel: None,
        };
        let cases = [
            (EventPayload::Profile(profile), "京A12345"),
            (EventPayload::Complaint(c), "Mr Li"),
            (EventPayload::Referral(referral), "Zhang San"),
        ];
        for (original, secret) in cases {
            let mut public = original.clone();
            let part = split(&mut public).expect("personal part");
            let text = format!("{public:?}");
            assert!(!text.contains(secret), "{text}");
            merge(&mut public, part);
            assert_eq!(public, original);
        }
        // The segment is analytics, not personal: it stays public.
        let mut p = EventPayload::Profile(Profile {
            segment: [("region".to_string(), "north".to_string())].into(),
            ..Default::default()
        });
        assert!(split(&mut p).is_none());
    }

    #[test]
    fn sealed_data_is_bound_to_its_record() {
        let key = new_data_key();
        let sealed = seal(&key, b"Li Wei", b"ad-1").unwrap();
        assert_eq!(&open(&key, &sealed, b"ad-1").unwrap()[..], b"Li Wei");
        assert!(open(&key, &sealed, b"ad-2").is_err());
        assert!(open(&new_data_key(), &sealed, b"ad-1").is_err());
    }

    #[test]
    fn keys_wrap_and_unwrap_with_rotation() {
        let ring = MasterKeyRing::new(1, [1; 32]);
        let data = new_data_key();
        let wrapped = wrap(1, &ring.current().unwrap().1, &data, b"name").unwrap();
        let rotated = ring.clone().with_key(2, [2; 32]);
        assert_eq!(*unwrap_key(&rotated, &wrapped, b"name").unwrap(), *data);
        assert!(unwrap_key(&MasterKeyRing::new(2, [2; 32]), &wrapped, b"name").is_err());
        assert!(MasterKeyRing::from_hex(1, &"ab".repeat(32)).is_ok());
        assert!(MasterKeyRing::from_hex(1, "abc").is_err());
    }
}
