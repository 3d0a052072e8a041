//! Probabilistic customer-value models for clientele: pure math, no I/O.
//!
//! * [`stats`]: per-customer sufficient statistics (frequency, recency, T, mean repeat
//!   spend) from raw purchases, with explicit time units;
//! * [`model`]: the BG/NBD, MBG/NBD and Pareto/NBD transaction models and the Gamma-Gamma
//!   spend model — likelihoods, maximum-likelihood fits, P(alive) and expected purchases —
//!   and the shifted-beta-geometric (sBG) retention model of contract customers, with its
//!   discounted expected (residual) lifetimes;
//! * [`clv`]: formula (annuity) CLV and model-based discounted CLV.
//!
//! Validated on the CDNOW sample of Fader, Hardie & Lee (2005) (see `tests/cdnow.rs`).
//!
//! ```
//! use chrono::NaiveDate;
//! use clientele_value::{
//!     clv::{discounted_clv, DcfSchedule},
//!     BgNbd, FitOptions, GammaGamma, PurchaseHistory, TimeUnit, TransactionModel,
//! };
//!
//! let day = |m, d| NaiveDate::from_ymd_opt(1997, m, d).unwrap();
//! let calibration_end = day(9, 30);
//!
//! // Purchases (amounts in cents) → sufficient statistics in weeks.
//! let mut history = PurchaseHistory::new();
//! for (date, cents) in [(day(1, 1), 2933), (day(1, 18), 2973), (day(8, 2), 1496)] {
//!     history.record(date, cents)?;
//! }
//! let summary = history.as_of(calibration_end, TimeUnit::Weeks)?.expect("bought by then");
//! let customer = summary.observation()?;
//!
//! // Published CDNOW estimates (a fit on real data: `BgNbd::fit(&data, &FitOptions::default())`).
//! let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
//! let gg = GammaGamma::new(6.25, 3.74, 15.44)?;
//!
//! let alive = bg.p_alive(&customer)?;
//! let next_39_weeks = bg.conditional_expected_purchases(&customer, 39.0)?;
//! assert!((alive - 0.7266).abs() < 1e-3 && (next_39_weeks - 1.226).abs() < 1e-3);
//!
//! let spend = gg.conditional_expected_spend(summary.frequency, summary.monetary_value(100))?;
//! let clv = discounted_clv(&bg, &customer, spend, &DcfSchedule::new(12, 0.01, TimeUnit::Weeks)?)?;
//! assert!(clv > 0.0);
//! # let _ = FitOptions::default();
//! # Ok::<(), clientele_value::ValueError>(())
//! ```
#![deny(missing_docs)]

pub mod cdnow;
pub mod clv;
pub mod error;
pub mod history;
pub mod model;
pub mod rfm;
pub mod service;
pub mod stats;

pub use error::{Result, ValueError};
pub use history::{
    historic_value, reference_key, subscription, Amounts, Day, HistoricValue, PaymentEntry,
    Subscription, ValueProjection, ValueState, DEFAULT_LAPSE_DAYS,
};
pub use model::{
    BgNbd, ContractObservation, Fit, FitOptions, GammaGamma, MbgNbd, Observation, ParetoNbd, Sbg,
    SpendObservation, TransactionModel,
};
pub use rfm::{rfm, RfmInput, RfmScore, RfmSegment};
pub use service::{ModelFits, RfmCurrency, SubscriptionFits, Value, ValueOverview};
pub use stats::{CustomerSummary, DayNumber, PurchaseHistory, TimeUnit};
