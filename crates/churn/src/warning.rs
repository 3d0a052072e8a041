//! Warning rules and episodes: which risks become warnings, how severe, and
//! the rule that a customer is warned once per episode.

use chrono::{DateTime, Utc};
use clientele_core::CustomerId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::risk::{Reason, RiskScore, Signals};

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// High overall churn risk (the decline stage's early warning, 000 L330).
    HighRisk,
    /// A renewal is due and the customer is not renewing or undecided (001 L5).
    RenewalAtRisk,
    /// A complaint went unanswered past the reply SLA (000 L574).
    ComplaintSla,
    /// The customer left explicitly: win-back is the goal (000 L332).
    Churned,
    /// The customer has been silent beyond the lifecycle's exit horizon: gone
    /// by the lifecycle's definition, so a win-back list rather than a
    /// retention alarm (with [`WarningPolicy::win_back`]).
    WinBack,
}

impl WarningKind {
    /// The stable machine name, as in JSON (`high_risk`, `renewal_at_risk`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::HighRisk => "high_risk",
            WarningKind::RenewalAtRisk => "renewal_at_risk",
            WarningKind::ComplaintSla => "complaint_sla",
            WarningKind::Churned => "churned",
            WarningKind::WinBack => "win_back",
        }
    }

    /// Words for people (`high risk`, `renewal at risk`, …).
    pub fn label(self) -> &'static str {
        match self {
            WarningKind::HighRisk => "high risk",
            WarningKind::RenewalAtRisk => "renewal at risk",
            WarningKind::ComplaintSla => "complaint past SLA",
            WarningKind::Churned => "churned",
            WarningKind::WinBack => "win back",
        }
    }
}

/// Words for people; JSON keeps the machine names of [`WarningKind::as_str`].
impl std::fmt::Display for WarningKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.label())
    }
}

/// How urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Watch.
    Low,
    /// Act this week.
    Medium,
    /// Act now.
    High,
}

impl Severity {
    /// The stable machine name, as in JSON (`low`, `medium`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Words for people (the same as the machine names: `low`, `medium`, `high`).
impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// When risks become warnings. Defaults in `docs/churn.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WarningPolicy {
    /// Risk at or above which a customer is warned (`high_risk`).
    pub raise_at: f64,
    /// Risk below which an episode ends (hysteresis, so a customer hovering
    /// around the threshold is not warned again and again).
    pub recover_below: f64,
    /// Risk at or above which the severity is high.
    pub high_at: f64,
    /// Risk at or above which the severity is medium.
    pub medium_at: f64,
    /// Whether a warning in an open episode is raised again when its
    /// severity rises (escalation).
    pub escalate: bool,
    /// Contact-frequency control (001 L112): at most this many warnings per
    /// customer within `cap_window_days`, all kinds together.
    pub max_warnings_per_window: u32,
    /// The window of the cap, in days.
    pub cap_window_days: i64,
    /// Customers silent beyond the exit horizon get a `win_back` warning
    /// instead of `high_risk` (their risk is near 1 and says nothing new);
    /// `None` warns them as `high_risk` like everyone else.
    pub win_back: Option<WinBackRule>,
}

/// When a silent customer belongs on the win-back list: no purchase and no
/// payment (as the lifecycle's `payments_are_activity`) for the lifecycle's
/// exit horizon — `gap_multiple` × the customer's typical gap,
/// clamped to [`floor_days`, `cap_days`] (a one-time buyer: `floor_days`).
/// The defaults are the lifecycle policy's (`exit_gap_multiple`,
/// `exit_floor_days`, `exit_cap_days`); the typical gap is the churn score's
/// (the mean gap between purchase days, floored at `RiskPolicy::min_gap_days`)
/// where the lifecycle takes the median of the last gaps, so the two agree
/// exactly for one-time buyers and steady rhythms and closely otherwise.
///
/// [`floor_days`]: WinBackRule::floor_days
/// [`cap_days`]: WinBackRule::cap_days
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WinBackRule {
    /// The horizon in typical gaps. Default 6.
    pub gap_multiple: f64,
    /// The shortest horizon, in days; a one-time buyer's. Default 365.
    pub floor_days: f64,
    /// The longest horizon, in days. Default 1095.
    pub cap_days: f64,
    /// For a customer whose cover (a policy's `valid_until`, later than the
    /// last purchase) ended without a renewal: the horizon in days after the
    /// cover ended, instead of the rhythm's; while the cover runs the
    /// customer is not silent. Default 180, the lifecycle's
    /// `cover.exit_after_lapse_days`.
    pub after_lapse_days: f64,
}

impl Default for WinBackRule {
    fn default() -> Self {
        Self {
            gap_multiple: 6.0,
            floor_days: 365.0,
            cap_days: 1095.0,
            after_lapse_days: 180.0,
        }
    }
}

impl WinBackRule {
    /// The exit horizon in days for a customer with `transactions` purchase
    /// days and the typical gap `typical_gap_days`; `None` before any purchase.
    pub fn horizon_days(&self, transactions: u32, typical_gap_days: Option<f64>) -> Option<f64> {
        match (transactions, typical_gap_days) {
            (0, _) => None,
            (1, _) | (_, None) => Some(self.floor_days),
            (_, Some(gap)) => Some(
                (self.gap_multiple * gap)
                    .min(self.cap_days)
                    .max(self.floor_days),
            ),
        }
    }

    /// Whether the signals show a customer silent beyond the horizon (an
    /// explicit churn is the `churned` warning's, not this one's).
    pub fn silent(&self, s: &Signals) -> bool {
        if s.churned {
            return false;
        }
        let horizon = self.horizon_days(s.transactions, s.typical_gap_days);
        // A silence of the horizon since the last purchase: the customer has
        // left, and a payment after it (an old bill settled) wins nobody back,
        // as a payment in exit does not in the lifecycle.
        let broken = horizon.is_some_and(|h| s.longest_silence_days.is_some_and(|l| l >= h));
        if s.cover_runs() || (s.paying && !broken) {
            return false;
        }
        // A payment within the horizon, with no such silence before it, is
        // activity (as in the lifecycle).
        if let (Some(h), Some(paid)) = (horizon, s.days_since_last_payment) {
            if paid < h && !broken {
                return false;
            }
        }
        if let Some(days) = s.days_since_cover_ended {
            return days >= self.after_lapse_days;
        }
        match (
            horizon,
            s.longest_silence_days.or(s.days_since_last_purchase),
        ) {
            (Some(h), Some(days)) => days >= h,
            _ => false,
        }
    }
}

impl WarningPolicy {
    /// Checks every field: the risk levels in [0, 1] with `recover_below` ≤
    /// `raise_at` and `medium_at` ≤ `high_at`, at least one warning per cap
    /// window of 0 to 3,650 days, and the win-back rule's horizons
    /// (positive, finite, `cap_days` ≥ `floor_days`).
    /// [`crate::WarningJob::open`] calls it.
    ///
    /// ```
    /// use clientele_churn::WarningPolicy;
    /// assert!(WarningPolicy::default().validate().is_ok());
    /// let bad = WarningPolicy { recover_below: 0.9, ..WarningPolicy::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("recover_below"));
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        for (field, level) in [
            ("raise_at", self.raise_at),
            ("recover_below", self.recover_below),
            ("high_at", self.high_at),
            ("medium_at", self.medium_at),
        ] {
            if !(0.0..=1.0).contains(&level) {
                return crate::invalid(field, "must be a risk in [0, 1]");
            }
        }
        if self.recover_below > self.raise_at {
            return crate::invalid("recover_below", "must not exceed raise_at");
        }
        if self.medium_at > self.high_at {
            return crate::invalid("medium_at", "must not exceed high_at");
        }
        if self.max_warnings_per_window == 0 {
            return crate::invalid("max_warnings_per_window", "must be at least 1");
        }
        if !(0..=3_650).contains(&self.cap_window_days) {
            return crate::invalid("cap_window_days", "must be 0 to 3,650 days");
        }
        if let Some(rule) = &self.win_back {
            let days = |x: f64| x.is_finite() && x > 0.0;
            if !days(rule.gap_multiple) {
                return crate::invalid("win_back.gap_multiple", "must be a positive number");
            }
            if !days(rule.floor_days) {
                return crate::invalid("win_back.floor_days", "must be a positive number of days");
            }
            if !(rule.cap_days.is_finite() && rule.cap_days >= rule.floor_days) {
                return crate::invalid("win_back.cap_days", "must be at least floor_days");
            }
            if !(rule.after_lapse_days.is_finite() && rule.after_lapse_days >= 0.0) {
                return crate::invalid("win_back.after_lapse_days", "must be a number of days ≥ 0");
            }
        }
        Ok(())
    }
}

impl Default for WarningPolicy {
    fn default() -> Self {
        Self {
            raise_at: 0.75,
            recover_below: 0.6,
            high_at: 0.9,
            medium_at: 0.8,
            escalate: true,
            max_warnings_per_window: 2,
            cap_window_days: 30,
            win_back: Some(WinBackRule::default()),
        }
    }
}

/// A warning: who, what, how bad, why, and the events behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable id (UUID v5 of customer, kind, episode start and severity):
    /// redelivery of the same warning carries the same id, so consumers can
    /// deduplicate.
    pub id: Uuid,
    /// The customer.
    pub customer_id: CustomerId,
    /// What it is about.
    pub kind: WarningKind,
    /// How urgent.
    pub severity: Severity,
    /// The risk at raising time.
    pub risk: f64,
    /// The as-of time of the job run that raised it.
    pub as_of: DateTime<Utc>,
    /// When the episode began (as-of of the first run that saw it).
    pub episode_start: DateTime<Utc>,
    /// Reasons, strongest first.
    pub reasons: Vec<Reason>,
    /// The customer's stream version the evaluation saw (the events behind it
    /// are versions ≤ this).
    pub stream_version: u64,
}

/// Per-customer episode bookkeeping, stored by the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Episodes {
    /// Open episodes: kind → (start µs, highest severity warned).
    pub open: Vec<(WarningKind, i64, Severity)>,
    /// Times (µs) warnings were raised, for the contact-frequency cap.
    pub raised: Vec<i64>,
}

/// Whether the customer is gone — an explicit churn not followed by a
/// win-back, or silent beyond the exit horizon (with the win-back rule on):
/// such a customer's risk is near 1 and says nothing new, so they get the
/// `churned` or `win_back` warning and no `high_risk` one, which would only
/// repeat it (and use up the contact cap another warning may need).
fn gone(policy: &WarningPolicy, s: &Signals) -> bool {
    s.churned || policy.win_back.as_ref().is_some_and(|rule| rule.silent(s))
}

impl WarningPolicy {
    /// Severity of a risk.
    pub fn severity(&self, risk: f64) -> Severity {
        if risk >= self.high_at {
            Severity::High
        } else if risk >= self.medium_at {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// The kinds a score calls for, with severities.
    pub fn kinds(&self, score: &RiskScore) -> Vec<(WarningKind, Severity, bool)> {
        // (kind, severity, still active?) for every kind; active ones may raise.
        let s = &score.signals;
        let renewal = matches!(
            s.renewal_due,
            Some((
                _,
                Some(
                    clientele_core::event::RenewalIntent::NotRenewing
                        | clientele_core::event::RenewalIntent::Considering
                )
            ))
        );
        let silent = self.win_back.as_ref().is_some_and(|rule| rule.silent(s));
        vec![
            (
                WarningKind::HighRisk,
                self.severity(score.risk),
                score.risk >= self.raise_at && !gone(self, s),
            ),
            (
                WarningKind::RenewalAtRisk,
                if renewal && score.risk >= self.medium_at {
                    Severity::High
                } else {
                    Severity::Medium
                },
                renewal,
            ),
            (
                WarningKind::ComplaintSla,
                Severity::High,
                s.sla_breaches > 0,
            ),
            (WarningKind::Churned, Severity::High, s.churned),
            (WarningKind::WinBack, Severity::Low, silent),
        ]
    }

    /// Decides which warnings to raise for `score` given the customer's
    /// episodes, updating them. Pure: same inputs, same outputs.
    pub fn decide(
        &self,
        customer: CustomerId,
        score: &RiskScore,
        stream_version: u64,
        as_of: DateTime<Utc>,
        episodes: &mut Episodes,
    ) -> Vec<Warning> {
        let now = as_of.timestamp_micros();
        let window = self.cap_window_days * 86_400_000_000;
        episodes.raised.retain(|t| now.saturating_sub(*t) < window);
        let mut out = Vec::new();
        for (kind, severity, active) in self.kinds(score) {
            let open = episodes.open.iter().position(|(k, _, _)| *k == kind);
            // An episode ends when the condition is gone (with hysteresis for the risk level).
            // A customer moved to the win-back list leaves the high-risk episode.
            // A customer who is gone (churned, or on the win-back list) leaves it too.
            let recovered = match kind {
                WarningKind::HighRisk => {
                    score.risk < self.recover_below || gone(self, &score.signals)
                }
                _ => !active,
            };
            match open {
                Some(i) if recovered => {
                    episodes.open.remove(i);
                }
                Some(i) => {
                    let (_, start, warned) = episodes.open[i];
                    if self.escalate && active && severity > warned && self.under_cap(episodes) {
                        episodes.open[i].2 = severity;
                        episodes.raised.push(now);
                        out.push(self.warning(
                            customer,
                            kind,
                            severity,
                            score,
                            stream_version,
                            as_of,
                            start,
                        ));
                    }
                }
                None if active && self.under_cap(episodes) => {
                    episodes.open.push((kind, now, severity));
                    episodes.raised.push(now);
                    out.push(self.warning(
                        customer,
                        kind,
                        severity,
                        score,
                        stream_version,
                        as_of,
                        now,
                    ));
                }
                None => {}
            }
        }
        episodes.open.sort();
        out
    }

    fn under_cap(&self, episodes: &Episodes) -> bool {
        (episodes.raised.len() as u32) < self.max_warnings_per_window
    }

    #[allow(clippy::too_many_arguments)]
    fn warning(
        &self,
        customer: CustomerId,
        kind: WarningKind,
        severity: Severity,
        score: &RiskScore,
        stream_version: u64,
        as_of: DateTime<Utc>,
        start: i64,
    ) -> Warning {
        let name = format!("{customer}/{kind:?}/{start}/{severity:?}");
        Warning {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()),
            customer_id: customer,
            kind,
            severity,
            risk: score.risk,
            as_of,
            episode_start: DateTime::from_timestamp_micros(start).unwrap_or(as_of),
            reasons: score
                .reasons
                .iter()
                .filter(|r| r.contribution > 0.0)
                .cloned()
                .collect(),
            stream_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_severities_have_words_and_stable_machine_names() {
        for (kind, words) in [
            (WarningKind::HighRisk, "high risk"),
            (WarningKind::RenewalAtRisk, "renewal at risk"),
            (WarningKind::ComplaintSla, "complaint past SLA"),
            (WarningKind::Churned, "churned"),
            (WarningKind::WinBack, "win back"),
        ] {
            assert_eq!(kind.to_string(), words);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        for severity in [Severity::Low, Severity::Medium, Severity::High] {
            assert_eq!(
                serde_json::to_value(severity).unwrap(),
                serde_json::json!(severity.to_string())
            );
        }
        assert_eq!(format!("{:<8}|", WarningKind::Churned), "churned |");
    }

    #[test]
    fn the_win_back_horizon_follows_the_lifecycle_exit_rule() {
        let rule = WinBackRule::default();
        assert_eq!(rule.horizon_days(0, None), None);
        assert_eq!(rule.horizon_days(1, Some(30.0)), Some(365.0));
        assert_eq!(rule.horizon_days(5, Some(30.0)), Some(365.0));
        assert_eq!(rule.horizon_days(5, Some(132.0)), Some(792.0));
        assert_eq!(rule.horizon_days(5, Some(400.0)), Some(1095.0));
        let signals = |days: f64, churned: bool| Signals {
            transactions: 4,
            days_since_last_purchase: Some(days),
            typical_gap_days: Some(132.0),
            churned,
            ..Signals::default()
        };
        assert!(!rule.silent(&signals(791.0, false)));
        assert!(rule.silent(&signals(792.0, false)));
        assert!(
            !rule.silent(&signals(900.0, true)),
            "explicit churn: `churned`"
        );
        // A one-time buyer (horizon 365) who paid a bill 10 days ago: silent
        // only if a year's silence came before that payment.
        let paid = |longest: f64| Signals {
            transactions: 1,
            days_since_last_purchase: Some(500.0),
            typical_gap_days: Some(30.0),
            days_since_last_payment: Some(10.0),
            days_since_last_bill: Some(10.0),
            paying: true,
            longest_silence_days: Some(longest),
            ..Signals::default()
        };
        assert!(
            !rule.silent(&paid(364.0)),
            "paying, never silent for a year"
        );
        assert!(rule.silent(&paid(365.0)), "an old bill paid after leaving");
    }

    #[test]
    fn a_churned_customer_is_warned_as_churned_not_also_as_high_risk() {
        use chrono::TimeZone;
        let policy = WarningPolicy::default();
        let customer = CustomerId::from_external("test", "c-1");
        let score = |risk: f64, churned: bool, sla_breaches: u32| RiskScore {
            risk,
            reasons: Vec::new(),
            signals: Signals {
                transactions: 6,
                days_since_last_purchase: Some(40.0),
                typical_gap_days: Some(30.0),
                churned,
                sla_breaches,
                ..Signals::default()
            },
        };
        let day = |d: u32| Utc.with_ymd_and_hms(2025, 6, d, 12, 0, 0).unwrap();
        let kinds = |warnings: Vec<Warning>| -> Vec<WarningKind> {
            warnings.into_iter().map(|w| w.kind).collect()
        };
        // High risk while still a customer: a high-risk warning.
        let mut episodes = Episodes::default();
        let raised = policy.decide(customer, &score(0.8, false, 0), 3, day(1), &mut episodes);
        assert_eq!(kinds(raised), [WarningKind::HighRisk]);
        // Then an explicit churn, and a complaint past its SLA: both are
        // raised, the high-risk episode ends, and the risk's rise to 0.99 is
        // no escalation of it. (The contact cap, 2 warnings in 30 days, is
        // reset so that it does not decide here: an escalation would have
        // taken one of its two places.)
        episodes.raised.clear();
        let raised = policy.decide(customer, &score(0.99, true, 1), 5, day(2), &mut episodes);
        assert_eq!(
            kinds(raised),
            [WarningKind::ComplaintSla, WarningKind::Churned]
        );
        assert!(episodes
            .open
            .iter()
            .all(|(kind, _, _)| *kind != WarningKind::HighRisk));
        // A churned customer seen for the first time: churned only.
        let mut fresh = Episodes::default();
        let raised = policy.decide(customer, &score(0.99, true, 0), 5, day(2), &mut fresh);
        assert_eq!(kinds(raised), [WarningKind::Churned]);
        // Won back (no churn any more) and still at risk: high risk again.
        let raised = policy.decide(customer, &score(0.95, false, 0), 7, day(20), &mut fresh);
        assert_eq!(kinds(raised), [WarningKind::HighRisk]);
    }
}
