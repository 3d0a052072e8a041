//! # clientele-core
//!
//! The foundation of clientele, an event-sourced customer-lifecycle engine:
//! the customer **event model** and an append-only, durable, verifiable
//! **event log** in RocksDB.
//!
//! * One stream per customer, versions 1, 2, 3… without gaps; one global order,
//!   positions 1, 2, 3… without gaps.
//! * Optimistic concurrency ([`ExpectedVersion`]) and guaranteed idempotency
//!   (the [`EventId`] is the key: a retry returns the original positions).
//! * Every record is checksummed and hash-chained; [`Store::verify`] names the
//!   first bad position.
//! * Durable by default (fsync before acknowledging), with group commit across
//!   concurrent appenders, and a buffered mode for bulk imports.
//! * Old records are upcast to the current schema on every read path.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let customer = CustomerId::from_external("webshop", "u-42");
//! let t = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
//! let mut greeting = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
//! greeting.outcome = Some("delivered".into());
//! store.append(customer, ExpectedVersion::NoStream, vec![
//!     NewEvent::new(t(1), Purchase::new("A-1", "165.00".parse()?, "CNY".parse()?)),
//!     NewEvent::new(t(10), greeting),
//! ])?;
//! let history = store.read_stream(customer)?;
//! assert_eq!(history.len(), 2);
//! assert_eq!(history[1].version, 2);
//! // Optimistic concurrency: the stream is at version 2, not 0.
//! let late = NewEvent::new(t(11), Churn { reason: "moved".into(), voluntary: true });
//! assert!(store.append(customer, ExpectedVersion::Exact(0), vec![late]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub(crate) mod codec;
pub mod envelope;
pub mod error;
pub mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod json;
pub mod money;
pub mod privacy;
pub mod projection;
pub mod schema;
pub mod store;
pub mod validate;
pub mod varint;

pub use envelope::{
    ActorKind, AppendOutcome, AppendStatus, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    StoredAs,
};
pub use error::{Error, IntegrityError, Result, ValidationError};
pub use event::{EventKind, EventPayload};
pub use ids::{CustomerId, EventId};
pub use money::{Currency, Decimal, Money, MoneyError};
pub use store::{
    Clock, Durability, Keyspace, KeyspaceBatch, ManualClock, Store, StoreOptions, Subscription,
    SystemClock, VerifyReport,
};
pub use validate::ValidationPolicy;
