//! The error type of the loyalty crate.

use thiserror::Error;

/// What can go wrong when scoring loyalty, computing points or metrics.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoyaltyError {
    /// A policy field is out of range; `field` names it.
    #[error("invalid loyalty policy: {field} {reason}")]
    InvalidPolicy {
        /// The offending field, e.g. `weights.recency`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A query argument is unusable (e.g. a period that ends before it starts).
    #[error("invalid argument {argument}: {reason}")]
    InvalidArgument {
        /// The argument.
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The event log or the projection runtime failed.
    #[error(transparent)]
    Store(#[from] clientele_core::Error),
}

/// Result with [`LoyaltyError`].
pub type Result<T, E = LoyaltyError> = std::result::Result<T, E>;
