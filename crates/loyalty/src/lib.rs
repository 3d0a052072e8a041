//! # clientele-loyalty
//!
//! Customer loyalty as a pure projection of the event log. In the sources
//! loyalty is **behavioural persistence** — "satisfaction is an attitude,
//! loyalty is continuing transactions" (002 L40), "the persistence of customer
//! behaviour" (003 L90) — gated by satisfaction through a flat-then-steep curve
//! (5 vs 4 on a 5-point scale → 6× repurchase, 001 L39) and amplified by
//! advocacy (referrals, 000 L290–292).
//!
//! * [`LoyaltyPolicy`]: every weight, scale, window, tier and points rule,
//!   typed, documented and serialisable; its [`LoyaltyPolicy::version`] is a
//!   stable hash, so a policy change rebuilds the projection.
//! * [`LoyaltyProjection`]: the fold into a [`LoyaltyState`] (no clock).
//! * [`score()`]: an explainable 0–100 [`LoyaltyScore`] with its [`Component`]s
//!   (repeat purchase, tenure, recency against the customer's own rhythm,
//!   satisfaction, referrals, renewals, complaints) and a named [`Tier`].
//! * [`PointsPolicy`]: the telecom points ledger (000 L358–366).
//! * [`population_metrics`]: repeat-purchase, referral-conversion, complaint
//!   and renewal rates by period and segment.
//! * [`Loyalty`]: the projection kept in the store, with its queries.
//!
//! Formulas, sources and defaults: `docs/loyalty.md`.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
//! use clientele_loyalty::{Loyalty, LoyaltyPolicy};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let customer = CustomerId::from_external("telecom", "138-0000");
//! let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
//! let bills = (0..12).map(|m| {
//!     let bill = Payment { reference: format!("2024-{:02}", m + 1), amount: "100.00".parse().unwrap(),
//!         currency: "CNY".parse().unwrap(), due_date: None, late: false };
//!     NewEvent::new(t0 + chrono::Months::new(m), bill)
//! }).collect();
//! store.append(customer, ExpectedVersion::Any, bills)?;
//!
//! let mut loyalty = Loyalty::open(&store, LoyaltyPolicy::default())?;
//! loyalty.catch_up()?;
//! let as_of = t0 + chrono::Months::new(12);
//! let points = loyalty.points(customer, as_of)?.expect("known");
//! assert_eq!(points.total, 12 + 120); // 1 per month on the network + 1 per 10 yuan
//! let score = loyalty.score(customer, as_of)?.expect("known");
//! for c in &score.components {
//!     println!("{:>16} {:6.2} ({})", c.name, c.contribution, c.detail);
//! }
//! println!("= {:.1}, tier {}", score.score, score.tier.name);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod metrics;
pub mod points;
pub mod policy;
pub mod projection;
pub mod score;
pub mod service;
pub mod state;

pub use error::{LoyaltyError, Result};
pub use metrics::{population_metrics, MetricSet, Period, PopulationMetrics, Rate, SegmentMetrics};
pub use points::{
    FeeAccrual, FeeSource, PointsBalance, PointsEntry, PointsEntryKind, PointsPolicy,
};
pub use policy::{
    default_tiers, ComplaintRule, GapStatistic, LoyaltyPolicy, RecencyRule, RenewalRule,
    SatisfactionCurve, TierRule, Weights, MAX_RATING, MIN_RATING,
};
pub use projection::{LoyaltyProjection, PROJECTION_NAME};
pub use score::{score, Component, Factor, LoyaltyScore, Tier};
pub use service::Loyalty;
pub use state::{
    ComplaintMark, LoyaltyState, PaymentMark, PurchaseIndex, PurchaseMark, RatingMark, ReferralMark,
};
