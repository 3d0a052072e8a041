//! # clientele-churn
//!
//! The decline stage's purpose is "set up an early-warning mechanism for
//! high-risk customers and extend the lifecycle" (000 L330). This crate
//! scores churn risk with ranked reasons, raises warnings once per episode
//! from scheduled, incremental, exactly-once jobs, and backtests the score.
//!
//! * [`state`]: the churn fold over each customer's events;
//! * [`risk`]: signals and the logistic risk score;
//! * [`metrics`] and [`backtest`](mod@backtest): AUC, precision/recall at k, lift, calibration;
//! * [`warning`] and [`job`]: warning rules, episodes, the due index, sinks.
#![deny(missing_docs)]

pub mod backtest;
pub mod calibrate;
pub mod job;
pub mod metrics;
mod record;
pub mod risk;
pub mod state;
pub mod warning;

pub use backtest::{backtest, BacktestReport};
pub use job::{
    CallbackSink, ChannelSink, JsonlSink, RunReport, ScheduleReport, WarningJob, WarningSink,
};
pub use risk::{ModelContext, Reason, RiskPolicy, RiskScore, Signals};
pub use state::{ChurnProjection, ChurnState};
pub use warning::{Severity, Warning, WarningKind, WarningPolicy};

/// Errors of the churn crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] clientele_core::Error),
    /// A warning sink failed.
    #[error("warning sink: {0}")]
    Sink(String),
    /// Stored job data does not decode.
    #[error("corrupt job data: {0}")]
    Corrupt(String),
    /// A policy field is out of its range.
    #[error("invalid policy: {field}: {reason}")]
    InvalidPolicy {
        /// The field, e.g. `win_back.cap_days`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// `Err(InvalidPolicy)` for `field` with `reason`.
pub(crate) fn invalid<T>(field: &'static str, reason: &str) -> Result<T> {
    Err(Error::InvalidPolicy {
        field,
        reason: reason.to_owned(),
    })
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
