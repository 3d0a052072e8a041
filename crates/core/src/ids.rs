//! Identifiers: customers and events.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for deriving customer ids from external identifiers (UUID v5).
///
/// Stable forever: changing it would re-key every imported customer.
pub const EXTERNAL_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c69_656e_7465_6c65_8000_0000_0000_0001);

/// The identity of one customer; one event stream per customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(Uuid);

impl CustomerId {
    /// Wraps a UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// A fresh random customer id (UUID v4).
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The stable id of a customer known by an external system's id (UUID v5 of
    /// `system` and `external_id`). The same pair always gives the same id.
    ///
    /// ```
    /// use clientele_core::CustomerId;
    /// let a = CustomerId::from_external("cdnow", "17");
    /// assert_eq!(a, CustomerId::from_external("cdnow", "17"));
    /// assert_ne!(a, CustomerId::from_external("cdnow", "18"));
    /// ```
    pub fn from_external(system: &str, external_id: &str) -> Self {
        let mut name = Vec::with_capacity(system.len() + external_id.len() + 1);
        name.extend_from_slice(system.as_bytes());
        name.push(0);
        name.extend_from_slice(external_id.as_bytes());
        Self(Uuid::new_v5(&EXTERNAL_ID_NAMESPACE, &name))
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The 16 big-endian bytes used in storage keys.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CustomerId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The identity of one event, and its idempotency key. New ids are UUID v7
/// (time-ordered), but any UUID is accepted, so callers can derive ids
/// deterministically (e.g. UUID v5 of an import line) to make retries idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh UUID v7 event id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps a UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// A deterministic id derived from a name (UUID v5), for idempotent imports.
    pub fn derived(name: &[u8]) -> Self {
        Self(Uuid::new_v5(&EXTERNAL_ID_NAMESPACE, name))
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The 16 bytes used in storage keys.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}
