//! The complaint desk's rules: when a complaint counts as answered and as
//! settled, the reply deadline, and the window in which a churn counts as
//! following a complaint.

use clientele_core::event::ComplaintStep;
use serde::{Deserialize, Serialize};

use crate::error::{ComplaintError, Result};

/// The rules the desk applies to each complaint. They are applied when a
/// view is taken, never folded into the stored state: changing them needs no
/// rebuild.
///
/// ```
/// use clientele_complaint::ComplaintPolicy;
/// use clientele_core::event::ComplaintStep;
///
/// let policy = ComplaintPolicy::default();
/// assert_eq!(policy.reply_hours, Some(24)); // 000 L574
/// assert_eq!(policy.answered_step, ComplaintStep::Resolved);
/// assert_eq!(policy.settled_step, ComplaintStep::Archived);
///
/// // A desk that counts the classification as the first answer, within 4 hours:
/// let quick = ComplaintPolicy {
///     reply_hours: Some(4),
///     answered_step: ComplaintStep::Classified,
///     ..ComplaintPolicy::default()
/// };
/// assert!(quick.validate().is_ok());
/// let wrong = ComplaintPolicy { answered_step: ComplaintStep::Received, ..quick };
/// assert!(wrong.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplaintPolicy {
    /// A complaint must be answered (reach [`ComplaintPolicy::answered_step`]
    /// or a later step) within this many hours of being received. `None`
    /// turns the rule off. Default 24: Vanke replies to every complaint on
    /// its forum within 24 hours (000 L574); Haier repairs on site within 24
    /// hours of the call (001 L41).
    pub reply_hours: Option<u32>,
    /// The step that answers the customer. Default `resolved`, as in the
    /// lifecycle's reply rule (`docs/lifecycle.md`).
    pub answered_step: ComplaintStep,
    /// The step that closes the matter. Default `archived` (投诉归档, 003
    /// L171 §4.2.6), as the lifecycle's `complaint_settled_step`: until then
    /// the complaint stays on the desk.
    pub settled_step: ComplaintStep,
    /// An explicit churn within this many days after a complaint was received
    /// counts as following it, in the figures that use complaints to analyse
    /// the causes of churn (003 L221). Default 180.
    pub churn_window_days: u32,
}

impl Default for ComplaintPolicy {
    fn default() -> Self {
        Self {
            reply_hours: Some(24),
            answered_step: ComplaintStep::Resolved,
            settled_step: ComplaintStep::Archived,
            churn_window_days: 180,
        }
    }
}

impl ComplaintPolicy {
    /// Checks that every field is usable.
    ///
    /// # Errors
    /// [`ComplaintError::InvalidPolicy`] naming the field: a reply deadline
    /// of 0 hours, an answer at `received` (every complaint would be answered
    /// as it arrives), a settling step before the answering one, or a churn
    /// window of 0 days.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| {
            Err(ComplaintError::InvalidPolicy {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.reply_hours == Some(0) {
            return bad("reply_hours", "must be at least 1 (or null: no deadline)");
        }
        if self.answered_step == ComplaintStep::Received {
            return bad(
                "answered_step",
                "must come after `received` (a complaint is not answered by arriving)",
            );
        }
        if self.settled_step < self.answered_step {
            return bad(
                "settled_step",
                "must not come before answered_step (a matter is settled after it is answered)",
            );
        }
        if self.churn_window_days == 0 {
            return bad("churn_window_days", "must be at least 1");
        }
        Ok(())
    }

    /// The reply deadline in µs, if the rule is on.
    pub(crate) fn reply_micros(&self) -> Option<i64> {
        self.reply_hours
            .map(|h| i64::from(h).saturating_mul(3_600_000_000))
    }

    /// The churn window in µs.
    pub(crate) fn churn_window_micros(&self) -> i64 {
        i64::from(self.churn_window_days).saturating_mul(86_400_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_field_is_named() {
        let ok = ComplaintPolicy::default();
        assert!(ok.validate().is_ok());
        let field = |p: ComplaintPolicy| match p.validate() {
            Err(ComplaintError::InvalidPolicy { field, .. }) => field,
            other => panic!("expected an invalid policy, got {other:?}"),
        };
        assert_eq!(
            field(ComplaintPolicy {
                reply_hours: Some(0),
                ..ok.clone()
            }),
            "reply_hours"
        );
        assert_eq!(
            field(ComplaintPolicy {
                answered_step: ComplaintStep::Received,
                ..ok.clone()
            }),
            "answered_step"
        );
        assert_eq!(
            field(ComplaintPolicy {
                answered_step: ComplaintStep::FeedbackGiven,
                settled_step: ComplaintStep::Resolved,
                ..ok.clone()
            }),
            "settled_step"
        );
        assert_eq!(
            field(ComplaintPolicy {
                churn_window_days: 0,
                ..ok.clone()
            }),
            "churn_window_days"
        );
        assert!(ComplaintPolicy {
            reply_hours: None,
            ..ok
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn reads_json_with_defaults_and_refuses_unknown_fields() {
        let p: ComplaintPolicy = serde_json::from_str(r#"{"reply_hours": 48}"#).unwrap();
        assert_eq!(p.reply_hours, Some(48));
        assert_eq!(p.settled_step, ComplaintStep::Archived);
        let p: ComplaintPolicy = serde_json::from_str(r#"{"reply_hours": null}"#).unwrap();
        assert_eq!(p.reply_hours, None);
        assert!(serde_json::from_str::<ComplaintPolicy>(r#"{"reply_hour": 48}"#).is_err());
    }
}
