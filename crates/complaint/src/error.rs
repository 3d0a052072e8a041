//! The error type of the complaint crate.

use thiserror::Error;

/// What can go wrong when taking a complaint view.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ComplaintError {
    /// A policy field is out of range; `field` names it.
    #[error("invalid complaint policy: {field} {reason}")]
    InvalidPolicy {
        /// The offending field, e.g. `reply_hours`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The event log or the projection runtime failed.
    #[error(transparent)]
    Store(#[from] clientele_core::Error),
}

/// Result with [`ComplaintError`].
pub type Result<T, E = ComplaintError> = std::result::Result<T, E>;
