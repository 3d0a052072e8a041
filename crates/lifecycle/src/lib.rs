//! # clientele-lifecycle
//!
//! The customer-lifecycle stage of every customer, as a pure projection of the
//! event log: **acquisition → growth → maturity → decline → exit** (000
//! L324–332), with win-back out of exit, and an exit that is final only once
//! every related matter is settled (000 L322, 003 L60).
//!
//! * [`LifecyclePolicy`]: every transition rule, typed and configurable, with
//!   defaults that follow each customer's own purchase rhythm.
//! * [`LifecycleProjection`]: the fold (no clock; elapsed-time rules are
//!   applied when the state is advanced to a time passed in).
//! * [`Lifecycle`]: the projection kept in the store, with as-of and known-at
//!   views, the audit timeline ([`Lifecycle::explain`]), identity lookup by
//!   plate, plate suffix, policy number, national id, phone, e-mail or external
//!   id (001 L5–6), renewal-due lists with intents, and stage distributions.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
//! use clientele_lifecycle::{Lifecycle, LifecyclePolicy, Stage};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let customer = CustomerId::from_external("webshop", "u-42");
//! let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
//! let registration = Contact::new(Channel::Web, Direction::Inbound, Purpose::Registration);
//! let order = Purchase::new("A-1", "300.00".parse()?, "CNY".parse()?);
//! store.append(customer, ExpectedVersion::Any, vec![
//!     NewEvent::new(t0, registration),
//!     NewEvent::new(t0 + Duration::days(1), order),
//! ])?;
//!
//! let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
//! lifecycle.catch_up()?;
//! let stage = |days| lifecycle.view(customer, t0 + Duration::days(days)).map(|v| v.map(|v| v.stage));
//! assert_eq!(stage(0)?, Some(Stage::Acquisition));
//! assert_eq!(stage(2)?, Some(Stage::Growth));
//! assert_eq!(stage(200)?, Some(Stage::Decline)); // one-time buyer, 180 days
//! assert_eq!(stage(400)?, Some(Stage::Exit)); // 365 days
//! // Why? The timeline names each rule, its threshold and the reference event.
//! for change in lifecycle.explain(customer, t0 + Duration::days(400))? {
//!     println!("{} {:?} → {} ({})", change.at, change.from, change.to, change.cause);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod identity;
pub mod policy;
pub mod projection;
pub mod service;
pub mod stage;
pub mod state;
mod stored;

pub use error::{LifecycleError, Result};
pub use identity::{IdentifierKind, Identity};
pub use policy::{CoverRule, GapStatistic, LifecyclePolicy, MaturityRule, SpendDropRule};
pub use projection::{LifecycleProjection, PROJECTION_NAME};
pub use service::Lifecycle;
pub use stage::{
    Cause, CustomerStage, ElapsedRule, OpenMatter, Reason, RenewalDue, Stage, StageChange,
    StageDistribution, Threshold,
};
pub use state::LifecycleState;
