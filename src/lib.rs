//! # clientele
//!
//! An event-sourced customer-lifecycle engine. Every touch with a customer
//! goes into an append-only, hash-chained event log in RocksDB, one stream per
//! customer; projections fold that log into where each customer stands, how
//! loyal and how valuable they are, and who is about to leave — now or as of
//! any past moment.
//!
//! This facade re-exports the member crates, each with one job:
//!
//! * [`core`]: the event model, the RocksDB event log (optimistic concurrency,
//!   idempotent appends, integrity checks, backup, crypto-shredding) and the
//!   projection runtime (catch-up, snapshots, as-of and known-at views).
//! * [`lifecycle`]: the lifecycle stage (acquisition → growth → maturity →
//!   decline → exit) with the cause of every change, identity lookup and
//!   renewal-due lists.
//! * [`loyalty`]: an explainable 0–100 loyalty score, tiers and points.
//! * [`value`]: historic value, RFM, CLV and the probabilistic models
//!   (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma).
//! * [`churn`]: churn risk with ranked reasons, the warning job (once per
//!   episode, exactly once across crashes) and backtests.
//! * [`complaint`]: the complaint desk — each complaint against the 24 h
//!   reply rule, the work queue, reply times by category and owner, churn
//!   after complaints.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clientele::core::{event::*, CustomerId, ExpectedVersion, NewEvent, Store};
//! use clientele::lifecycle::{Lifecycle, LifecyclePolicy, Stage};
//! use clientele::loyalty::{Loyalty, LoyaltyPolicy};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let customer = CustomerId::from_external("webshop", "u-7");
//! let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
//! let events: Vec<NewEvent> = (0..4)
//!     .map(|month| {
//!         let order = Purchase::new(format!("A-{month}"), "120.00".parse().unwrap(), "CNY".parse().unwrap());
//!         NewEvent::new(t0 + Duration::days(30 * month), order)
//!     })
//!     .collect();
//! store.append(customer, ExpectedVersion::NoStream, events)?;
//!
//! let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
//! lifecycle.catch_up()?;
//! let stage = |days| -> Result<Stage, Box<dyn std::error::Error>> {
//!     Ok(lifecycle.view(customer, t0 + Duration::days(days))?.ok_or("unknown")?.stage)
//! };
//! assert_eq!(stage(100)?, Stage::Maturity); // steady monthly buying
//! assert_eq!(stage(200)?, Stage::Decline); // silent for 3× the customer's 30-day rhythm
//! assert_eq!(stage(500)?, Stage::Exit); // silent for a year
//! // Why: every change with its cause (an event, or an elapsed-time rule).
//! for change in lifecycle.explain(customer, t0 + Duration::days(500))? {
//!     println!("{}: {:?} → {} ({})", change.at, change.from, change.to, change.cause);
//! }
//!
//! let mut loyalty = Loyalty::open(&store, LoyaltyPolicy::default())?;
//! loyalty.catch_up()?;
//! let score = loyalty.score(customer, t0 + Duration::days(100))?.expect("known");
//! assert!(score.score > 0.0 && score.score <= 100.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Diagnostics
//!
//! The crates report what an operator should know — a projection rebuilt
//! from zero, a stored state that no longer decodes and is refolded, a
//! failed catch-up, a warning-job run — as [`tracing`](https://docs.rs/tracing)
//! events, which cost a level check until the program installs a subscriber
//! (for example `tracing_subscriber::fmt().init()`). The events and their
//! fields are listed in `docs/architecture.md` ("Diagnostics"); none carries
//! personal data.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use clientele_churn as churn;
pub use clientele_complaint as complaint;
pub use clientele_core as core;
pub use clientele_lifecycle as lifecycle;
pub use clientele_loyalty as loyalty;
pub use clientele_value as value;
