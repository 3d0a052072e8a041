//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `clientele-value`.
///
/// Every public function that can be reached with bad input returns this type instead of
/// panicking.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A fit or an aggregate was asked for over no data at all.
    #[error("empty input: {what}")]
    EmptyInput {
        /// What was empty.
        what: &'static str,
    },

    /// A numeric input was NaN or infinite.
    #[error("non-finite value for {what}: {value}")]
    NonFinite {
        /// The name of the input.
        what: &'static str,
        /// The offending value.
        value: f64,
    },

    /// A numeric input was finite but outside the domain the function accepts.
    #[error("invalid {what} = {value}: {reason}")]
    OutOfDomain {
        /// The name of the input.
        what: &'static str,
        /// The offending value.
        value: f64,
        /// The rule that was violated.
        reason: &'static str,
    },

    /// Inputs are individually fine but inconsistent with each other
    /// (e.g. recency greater than the observation length).
    #[error("inconsistent input: {0}")]
    Inconsistent(&'static str),

    /// An exact integer (money in minor units, a day count) overflowed.
    #[error("integer overflow in {0}")]
    Overflow(&'static str),

    /// A series (e.g. the Gaussian hypergeometric function) did not converge within its
    /// term budget, or its sum is not representable as a finite `f64`.
    #[error("{function} did not converge (after {terms} terms)")]
    SeriesDivergence {
        /// The function being evaluated.
        function: &'static str,
        /// Terms summed before giving up.
        terms: u64,
    },

    /// No method available evaluates the function to full `f64` accuracy at these arguments
    /// within its cost budget: each either loses too many digits to cancellation (e.g. the
    /// two terms of ₂F₁'s connection formula, ~10⁴⁶ apart from their sum) or would need
    /// more terms than it may sum. Returned instead of a number that may be wrong.
    #[error(
        "{function} cannot be evaluated accurately within its cost budget at {} \
         (estimated relative error of the best method: {relative_error:.1e})",
        display_arguments(.arguments)
    )]
    PrecisionLoss {
        /// The function being evaluated.
        function: &'static str,
        /// Its arguments, as (name, value) pairs.
        arguments: Vec<(&'static str, f64)>,
        /// The smallest relative error any method estimated for its result (infinite when
        /// none produced a finite value within budget).
        relative_error: f64,
    },

    /// The likelihood has no finite maximum: it keeps rising towards a
    /// boundary of the parameter space (e.g. Pareto/NBD on data whose
    /// dropout rates look the same for everyone).
    #[error("{model} has no finite maximum-likelihood fit on this data: {reason}")]
    NoFiniteMaximum {
        /// The model.
        model: &'static str,
        /// Which boundary, and what it means.
        reason: String,
    },

    /// Maximum-likelihood estimation did not reach the convergence criterion.
    #[error(
        "fit did not converge after {iterations} iterations \
         (log-likelihood {log_likelihood}, gradient max-norm {gradient_norm:e})"
    )]
    NotConverged {
        /// Iterations performed.
        iterations: u32,
        /// Log-likelihood at the last accepted point.
        log_likelihood: f64,
        /// Max-norm of the objective's gradient (per observation, in log-parameter space).
        gradient_norm: f64,
    },
}

/// `name = value, …` for [`ValueError::PrecisionLoss`].
fn display_arguments(arguments: &[(&'static str, f64)]) -> String {
    let parts: Vec<String> = arguments
        .iter()
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    parts.join(", ")
}

/// `Result` with [`ValueError`].
pub type Result<T> = std::result::Result<T, ValueError>;

/// Checks that `value` is finite.
pub(crate) fn finite(what: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ValueError::NonFinite { what, value })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(what: &'static str, value: f64) -> Result<f64> {
    let v = finite(what, value)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(ValueError::OutOfDomain {
            what,
            value,
            reason: "must be > 0",
        })
    }
}

/// Checks that `value` is finite and non-negative.
pub(crate) fn non_negative(what: &'static str, value: f64) -> Result<f64> {
    let v = finite(what, value)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(ValueError::OutOfDomain {
            what,
            value,
            reason: "must be >= 0",
        })
    }
}
