//! The error type of the lifecycle crate.

use thiserror::Error;

/// What can go wrong in the lifecycle projection and its views.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// A policy field is out of range; `field` names it.
    #[error("invalid lifecycle policy: {field} {reason}")]
    InvalidPolicy {
        /// The offending field, e.g. `decline_gap_multiple`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A query argument is unusable (e.g. an empty identifier).
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

/// Result with [`LifecycleError`].
pub type Result<T, E = LifecycleError> = std::result::Result<T, E>;
