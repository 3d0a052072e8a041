//! Envelopes: what a caller appends ([`NewEvent`]) and what the log returns ([`RecordedEvent`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{EventKind, EventPayload};
use crate::ids::{CustomerId, EventId};

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A member of staff.
    Staff,
    /// An agent or account manager.
    Agent,
    /// An automated system (import, job).
    #[default]
    System,
    /// The customer themself (self-service).
    Customer,
}

/// Context of an event: who, through what, and why (correlation and causation).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Who caused the event.
    #[serde(default)]
    pub actor: ActorKind,
    /// The actor's id (staff number, agent code, job name).
    #[serde(default)]
    pub actor_id: Option<String>,
    /// The system or channel the event came from (e.g. `crm`, `pos`, `import:cdnow`).
    #[serde(default)]
    pub source: Option<String>,
    /// Groups events of one business transaction.
    #[serde(default)]
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    #[serde(default)]
    pub causation_id: Option<Uuid>,
}

/// An event to append. `customer`, `version`, `position` and `recorded_at` are
/// assigned by the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Idempotency key: appending the same id twice stores it once.
    pub event_id: EventId,
    /// When it happened in the business (may be earlier than other events).
    pub occurred_at: DateTime<Utc>,
    /// Context.
    #[serde(default)]
    pub metadata: Metadata,
    /// What happened.
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl NewEvent {
    /// A new event with a fresh UUID v7 id and default metadata.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clientele_core::{NewEvent, event::{Churn, EventKind}};
    /// let e = NewEvent::new(
    ///     Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap(),
    ///     Churn { reason: "moved abroad".into(), voluntary: true },
    /// );
    /// assert_eq!(e.payload.kind(), EventKind::Churn);
    /// ```
    pub fn new(occurred_at: DateTime<Utc>, payload: impl Into<EventPayload>) -> Self {
        Self {
            event_id: EventId::new(),
            occurred_at,
            metadata: Metadata::default(),
            payload: payload.into(),
        }
    }

    /// Sets the event id (e.g. a deterministic one for idempotent retries).
    pub fn with_id(mut self, event_id: EventId) -> Self {
        self.event_id = event_id;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Idempotency key.
    pub event_id: EventId,
    /// The customer whose stream holds it.
    pub customer_id: CustomerId,
    /// Position in the customer's stream: 1, 2, 3… without gaps.
    pub version: u64,
    /// Position in the global log: 1, 2, 3… without gaps.
    pub position: u64,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// When the log stored it (never decreases along the global order).
    pub recorded_at: DateTime<Utc>,
    /// The schema version it was written with (reads upcast it to the current one).
    pub schema_version: u16,
    /// Context.
    pub metadata: Metadata,
    /// What happened (upcast to the current schema).
    #[serde(flatten)]
    pub payload: EventPayload,
    /// Whether the personal fields could be read (`erased` after `forget`).
    #[serde(default)]
    pub personal_data: crate::privacy::PersonalData,
}

impl RecordedEvent {
    /// The kind of event.
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }
}

/// The stream version an append expects (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Append whatever the current version.
    Any,
    /// The customer must have no events yet.
    NoStream,
    /// The stream must be exactly at this version (0 = empty).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether `actual` (0 for an empty stream) satisfies this expectation.
    pub fn matches(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => v == actual,
        }
    }
}

/// Whether an append wrote new events or found them already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppendStatus {
    /// The events were written.
    Appended,
    /// Every event id was already stored with the same content: nothing was written.
    AlreadyAppended,
}

/// How an event stands against the store's idempotency index, before it is
/// appended ([`Store::stored_as`](crate::Store::stored_as)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum StoredAs {
    /// Its id is not stored: appending it writes it.
    New,
    /// Its id is stored, for the same customer with the same content, at
    /// `position`: appending it again writes nothing.
    Same {
        /// Where it is stored.
        position: u64,
    },
    /// Its id is stored at `position` with other content or for another
    /// customer: appending it fails with
    /// [`Error::IdempotencyConflict`](crate::Error::IdempotencyConflict).
    Conflict {
        /// Where the other event is stored.
        position: u64,
    },
}

/// Where appended events landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// Written now, or found already stored.
    pub status: AppendStatus,
    /// The customer.
    pub customer_id: CustomerId,
    /// `(version, position)` of each event, in the order given.
    pub positions: Vec<(u64, u64)>,
    /// The stream's version after the append.
    pub stream_version: u64,
}

impl AppendOutcome {
    /// Global position of the last event of this append.
    pub fn last_position(&self) -> Option<u64> {
        self.positions.last().map(|&(_, p)| p)
    }
}
