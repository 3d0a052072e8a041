//! The lifecycle policy: every rule that moves a customer between stages, as
//! typed, documented, serialisable configuration.
//!
//! The sources give stage names and order but **no** numeric transition rules
//! (notes 000–002 §2.2, 003–004 §2.2, §9.1): every default below is an
//! engineering choice, named with the passage that motivates it, and every one
//! can be changed. A changed policy has a different [`LifecyclePolicy::version`],
//! which makes the projection runtime rebuild all states from the log.

use clientele_core::event::ComplaintStep;
use serde::{Deserialize, Serialize};

use crate::error::LifecycleError;

/// Seconds in a day.
pub(crate) const DAY_SECS: i64 = 86_400;
/// Seconds in an hour.
pub(crate) const HOUR_SECS: i64 = 3_600;

/// Which statistic of a customer's inter-purchase gaps is their "rhythm".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatistic {
    /// The median gap: robust to one long pause (the default).
    Median,
    /// The arithmetic mean gap.
    Mean,
}

/// Decline when spending falls: the average of the most recent purchases is
/// below `ratio` × the average of the purchases just before them.
///
/// Source: "复购率 … 会员活跃度" as decline cues (003 L193 §5.3, notes 003–004
/// §2.3); "不活跃客户和低端客户" as an at-risk segment (001 L101). The numbers
/// are engineering defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendDropRule {
    /// How many of the latest purchases form the "recent" average. Default `3`.
    pub recent_purchases: u32,
    /// How many purchases before those form the "earlier" average. Default `3`.
    pub earlier_purchases: u32,
    /// The rule applies only once the customer has made at least this many
    /// purchases (in the current relationship, same currency). Default `6`.
    pub min_purchases: u32,
    /// Decline when recent average < `ratio` × earlier average; in (0, 1].
    /// Default `0.5` (spend halved).
    pub ratio: f64,
}

impl Default for SpendDropRule {
    fn default() -> Self {
        Self {
            recent_purchases: 3,
            earlier_purchases: 3,
            min_purchases: 6,
            ratio: 0.5,
        }
    }
}

/// How cover bought with a purchase — its `valid_until`: an insurance
/// policy's term, a subscription — bears on inactivity.
///
/// A policyholder buys once a term, not on a purchase rhythm: what is due is
/// the renewal, and the insurer works from the list of covers ending (001
/// L5–6). So while the cover bought with the **last** purchase runs, the
/// customer is not inactive, however long the term; once it has ended
/// without a renewal, the customer declines `decline_after_lapse_days`
/// after its last day and exits `exit_after_lapse_days` after it. These
/// replace the rhythm rules (`decline_gap_multiple`,
/// `one_time_decline_after_days`, `exit_gap_multiple` and the exit floor and
/// cap) for as long as the last purchase's cover ends after that purchase;
/// a purchase without cover, or a win-back, brings the rhythm rules back.
/// The numbers are engineering defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverRule {
    /// Decline this many days after the cover's last day, when it was not
    /// renewed. Default `0`: a lapse is itself the early warning.
    pub decline_after_lapse_days: u32,
    /// Exit this many days after the cover's last day, when it was not
    /// renewed; more than `decline_after_lapse_days`. Default `180`.
    pub exit_after_lapse_days: u32,
}

impl Default for CoverRule {
    fn default() -> Self {
        Self {
            decline_after_lapse_days: 0,
            exit_after_lapse_days: 180,
        }
    }
}

/// When a buying customer counts as mature ("使客户使用新产品,培养客户的忠诚度",
/// 000 L330; "让正式客户成为忠实客户", 001 L5).
///
/// Mature = steady repeat buying: at least `min_purchases` purchases spread
/// over at least `min_span_days` between the first and the latest purchase;
/// **or** steady paying: at least `min_bills` bills paid over at least
/// `min_span_days` (a subscriber who bought a plan once and pays every month);
/// **or** word of mouth plus repeat buying: at least one referral and at least
/// `referral_min_purchases` purchases (the Voit customer became loyal and then
/// recommended the shop, 000 L290–292). Counted within the current relationship
/// (a win-back from exit starts again from growth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaturityRule {
    /// Purchases needed for steady repeat buying. Default `3`.
    pub min_purchases: u32,
    /// Days between the first and the latest purchase (or bill) needed for
    /// steady repeat buying (or paying). Default `60`.
    pub min_span_days: u32,
    /// Bills paid (payments with a due date, made after a first purchase and
    /// counted while `payments_are_activity` is on) needed for steady
    /// paying. Default `6`: half a year of monthly bills. `0` disables the
    /// bill path.
    pub min_bills: u32,
    /// Purchases needed, together with at least one referral, for maturity.
    /// Default `2` (a repeat purchase). `0` disables the referral path.
    pub referral_min_purchases: u32,
}

impl Default for MaturityRule {
    fn default() -> Self {
        Self {
            min_purchases: 3,
            min_span_days: 60,
            min_bills: 6,
            referral_min_purchases: 2,
        }
    }
}

/// The configurable rules of the lifecycle projection.
///
/// All durations are whole days or hours, multiples are plain numbers. JSON
/// (every field is required, so a typo cannot silently fall back to a default;
/// the optional rules too — `null` turns one off, a missing one is an error,
/// hence their `deserialize_with`):
///
/// ```
/// use clientele_lifecycle::LifecyclePolicy;
/// let policy = LifecyclePolicy::default();
/// let json = serde_json::to_string_pretty(&policy)?;
/// let back: LifecyclePolicy = serde_json::from_str(&json)?;
/// assert_eq!(back, policy);
/// assert_eq!(back.version(), policy.version());
/// // A different policy is a different projection version (the runtime rebuilds).
/// let strict = LifecyclePolicy { decline_gap_multiple: 2.0, ..policy.clone() };
/// assert_ne!(strict.version(), policy.version());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// The statistic of the customer's inter-purchase gaps used as their rhythm.
    /// Default [`GapStatistic::Median`]. Purchase cycles differ by product
    /// ("购买周期比较长", 001 L170), so thresholds follow each customer's own gap.
    pub typical_gap: GapStatistic,
    /// How many of the most recent gaps the rhythm is computed over. Default `12`.
    pub rhythm_window: u32,
    /// Floor of the typical gap, in days: a burst of purchases on one day does
    /// not make the customer "lapsed" a few days later. Default `30`.
    pub min_gap_days: u32,
    /// Decline when the time since the last purchase (or win-back) reaches this
    /// many typical gaps. Default `3.0`. Inactivity as a decline cue: 001 L30,
    /// 001 L101 ("不活跃客户").
    pub decline_gap_multiple: f64,
    /// For a customer with a single purchase (no rhythm yet): decline this many
    /// days after it. Default `180`.
    pub one_time_decline_after_days: u32,
    /// Exit when the time since the last purchase (or win-back) reaches this
    /// many typical gaps (clamped to the floor and cap below). Default `6.0`.
    pub exit_gap_multiple: f64,
    /// Shortest inactivity that means exit, in days; also the exit horizon of a
    /// one-time buyer. Default `365`.
    pub exit_floor_days: u32,
    /// Longest inactivity before exit, in days, whatever the rhythm. Default
    /// `1095` (3 years: the Oriental Hotel wrote to a guest absent for three
    /// years, 001 L30).
    pub exit_cap_days: u32,
    /// Decline when spending drops; `null` disables. Default: see [`SpendDropRule`].
    #[serde(deserialize_with = "Option::deserialize")]
    pub spend_drop: Option<SpendDropRule>,
    /// A complaint must be answered (reach `resolved` or later) within this many
    /// hours of being received; while it stays unanswered past the deadline the
    /// customer is in decline. `null` disables. Default `24` (Vanke's complaint
    /// forum, 000 L574; Haier's 24 h repair promise, 001 L41).
    #[serde(deserialize_with = "Option::deserialize")]
    pub complaint_reply_hours: Option<u32>,
    /// The complaint step at which a complaint is settled for exit purposes.
    /// Default [`ComplaintStep::Archived`]: the lifecycle ends only when "all
    /// related matters are completely dealt with" (000 L322, 003 L60), and
    /// `feedback_given` still leaves the file open (archiving is the last step,
    /// 003 L171 §4.2.6).
    pub complaint_settled_step: ComplaintStep,
    /// Whether a purchase is an unsettled order until `payment`s referencing its
    /// `order_id` cover its amount (for shops that record payment separately, as
    /// in the Voit story, 000 L276). Default `false`: a purchase records money
    /// paid (see `docs/events.md`).
    pub orders_require_payment: bool,
    /// Whether a `payment` (a monthly bill, a premium, an instalment) keeps
    /// the relationship active: the inactivity rules then count from the
    /// latest purchase, payment or win-back. Default `true`: a subscriber
    /// who bought a plan once and pays every month is not inactive (the
    /// telecom customer, 000 L330). A payment made in exit is not a win-back.
    pub payments_are_activity: bool,
    /// When the last activity is a **bill** paid (a payment with a due
    /// date: a monthly bill, a premium), decline this many days after it,
    /// or earlier if the purchase rhythm says so: a subscriber billed every
    /// month who has paid nothing for three months is lapsing, where a
    /// one-time buyer's threshold would wait 180 days. `null` leaves the
    /// purchase rhythm's thresholds alone. Needs `payments_are_activity`.
    /// Default `90` (three monthly bills).
    #[serde(deserialize_with = "Option::deserialize")]
    pub bill_lapse_decline_days: Option<u32>,
    /// When a buying customer is mature. Default: see [`MaturityRule`].
    pub maturity: MaturityRule,
    /// How cover bought with the last purchase replaces the inactivity rules;
    /// `null` ignores cover. Default: see [`CoverRule`].
    #[serde(deserialize_with = "Option::deserialize")]
    pub cover: Option<CoverRule>,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            typical_gap: GapStatistic::Median,
            rhythm_window: 12,
            min_gap_days: 30,
            decline_gap_multiple: 3.0,
            one_time_decline_after_days: 180,
            exit_gap_multiple: 6.0,
            exit_floor_days: 365,
            exit_cap_days: 1095,
            spend_drop: Some(SpendDropRule::default()),
            complaint_reply_hours: Some(24),
            complaint_settled_step: ComplaintStep::Archived,
            orders_require_payment: false,
            payments_are_activity: true,
            bill_lapse_decline_days: Some(90),
            maturity: MaturityRule::default(),
            cover: Some(CoverRule::default()),
        }
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for versions.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl LifecyclePolicy {
    /// A stable 64-bit hash of the policy (FNV-1a of its JSON). Equal policies
    /// have equal versions across runs and machines.
    pub fn version(&self) -> u64 {
        // Serialising plain numbers, strings and options cannot fail; should it
        // ever, the Debug text still identifies the policy.
        match serde_json::to_vec(self) {
            Ok(json) => fnv1a(&json),
            Err(_) => fnv1a(format!("{self:?}").as_bytes()),
        }
    }

    /// Checks that every field is usable.
    ///
    /// ```
    /// use clientele_lifecycle::LifecyclePolicy;
    /// assert!(LifecyclePolicy::default().validate().is_ok());
    /// let bad = LifecyclePolicy { exit_cap_days: 10, ..LifecyclePolicy::default() };
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), LifecycleError> {
        let bad = |field: &'static str, reason: &str| {
            Err(LifecycleError::InvalidPolicy {
                field,
                reason: reason.to_owned(),
            })
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.rhythm_window == 0 {
            return bad("rhythm_window", "must be at least 1");
        }
        if self.min_gap_days == 0 {
            return bad("min_gap_days", "must be at least 1");
        }
        if !positive(self.decline_gap_multiple) || self.decline_gap_multiple > 1000.0 {
            return bad("decline_gap_multiple", "must be a number in (0, 1000]");
        }
        if !positive(self.exit_gap_multiple) || self.exit_gap_multiple > 1000.0 {
            return bad("exit_gap_multiple", "must be a number in (0, 1000]");
        }
        if self.one_time_decline_after_days == 0 {
            return bad("one_time_decline_after_days", "must be at least 1");
        }
        if self.exit_floor_days == 0 {
            return bad("exit_floor_days", "must be at least 1");
        }
        if self.exit_cap_days < self.exit_floor_days {
            return bad("exit_cap_days", "must be at least exit_floor_days");
        }
        if self.bill_lapse_decline_days == Some(0) {
            return bad("bill_lapse_decline_days", "must be at least 1 (or null)");
        }
        if self.complaint_reply_hours == Some(0) {
            return bad("complaint_reply_hours", "must be at least 1 (or null)");
        }
        if self.complaint_settled_step < ComplaintStep::Resolved {
            return bad(
                "complaint_settled_step",
                "must be resolved, feedback_given or archived",
            );
        }
        if let Some(rule) = &self.cover {
            if rule.exit_after_lapse_days <= rule.decline_after_lapse_days {
                return bad(
                    "cover.exit_after_lapse_days",
                    "must be more than cover.decline_after_lapse_days",
                );
            }
        }
        if let Some(rule) = &self.spend_drop {
            if rule.recent_purchases == 0 || rule.earlier_purchases == 0 {
                return bad(
                    "spend_drop",
                    "recent_purchases and earlier_purchases must be at least 1",
                );
            }
            if rule.min_purchases < rule.recent_purchases.saturating_add(1) {
                return bad(
                    "spend_drop.min_purchases",
                    "must exceed recent_purchases (an earlier average is needed)",
                );
            }
            if !(rule.ratio.is_finite() && rule.ratio > 0.0 && rule.ratio <= 1.0) {
                return bad("spend_drop.ratio", "must be in (0, 1]");
            }
        }
        if self.maturity.min_purchases == 0 {
            return bad("maturity.min_purchases", "must be at least 1");
        }
        Ok(())
    }

    /// The floor of the typical gap, in seconds.
    pub(crate) fn min_gap_secs(&self) -> i64 {
        i64::from(self.min_gap_days) * DAY_SECS
    }

    /// Seconds of inactivity after which the customer declines, given their
    /// typical gap (None: fewer than two purchases).
    pub(crate) fn decline_after_secs(&self, typical_gap: Option<i64>) -> i64 {
        match typical_gap {
            Some(gap) => scale(gap.max(self.min_gap_secs()), self.decline_gap_multiple),
            None => i64::from(self.one_time_decline_after_days) * DAY_SECS,
        }
    }

    /// Seconds of inactivity after which the customer declines when the
    /// last activity is a bill paid: the rhythm's, or the bill rule's if
    /// shorter.
    pub(crate) fn bill_decline_after_secs(&self, typical_gap: Option<i64>) -> i64 {
        let rhythm = self.decline_after_secs(typical_gap);
        match self.bill_lapse_decline_days {
            Some(days) => rhythm.min(i64::from(days) * DAY_SECS),
            None => rhythm,
        }
    }

    /// Seconds of inactivity after which the customer exits.
    pub(crate) fn exit_after_secs(&self, typical_gap: Option<i64>) -> i64 {
        let floor = i64::from(self.exit_floor_days) * DAY_SECS;
        let cap = i64::from(self.exit_cap_days) * DAY_SECS;
        match typical_gap {
            Some(gap) => {
                scale(gap.max(self.min_gap_secs()), self.exit_gap_multiple).clamp(floor, cap)
            }
            None => floor,
        }
    }

    /// The cover rule's decline and exit graces in seconds after a cover's
    /// end, if the rule is on.
    pub(crate) fn cover_lapse_secs(&self) -> Option<(i64, i64)> {
        self.cover.as_ref().map(|c| {
            (
                i64::from(c.decline_after_lapse_days) * DAY_SECS,
                i64::from(c.exit_after_lapse_days) * DAY_SECS,
            )
        })
    }

    /// The complaint reply deadline in seconds, if the rule is on.
    pub(crate) fn complaint_reply_secs(&self) -> Option<i64> {
        self.complaint_reply_hours.map(|h| i64::from(h) * HOUR_SECS)
    }
}

/// `secs × multiple`, rounded, saturating (validated multiples are finite and > 0).
///
/// Rounds half away from zero like `f64::round`, without its library call
/// (this runs several times per folded event): for `1 < x < 2^63` the
/// truncation and the fraction are exact.
fn scale(secs: i64, multiple: f64) -> i64 {
    let x = secs as f64 * multiple;
    if x.is_nan() || x <= 1.0 {
        1
    } else if x >= i64::MAX as f64 {
        i64::MAX
    } else {
        let whole = x as i64;
        if x - whole as f64 >= 0.5 {
            whole.saturating_add(1)
        } else {
            whole
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scale` rounds exactly as `f64::round` did, halves and extremes included.
    #[test]
    fn scale_rounds_like_f64_round() {
        let reference = |secs: i64, multiple: f64| {
            let x = (secs as f64 * multiple).round();
            if x >= i64::MAX as f64 {
                i64::MAX
            } else if x <= 1.0 {
                1
            } else {
                x as i64
            }
        };
        let multiples = [
            0.1,
            0.5,
            1.0,
            1.5,
            2.5,
            3.0,
            2.0 / 3.0,
            7.25,
            1e-9,
            1e12,
            1e300,
        ];
        let mut secs = vec![i64::MIN, -7, 0, 1, 2, 3, 5, 86_400, i64::MAX / 3, i64::MAX];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            secs.push((x >> (x % 50)) as i64);
        }
        for &s in &secs {
            for &m in &multiples {
                assert_eq!(scale(s, m), reference(s, m), "{s} × {m}");
            }
        }
    }

    #[test]
    fn version_is_stable_and_sensitive() {
        let p = LifecyclePolicy::default();
        assert_eq!(p.version(), LifecyclePolicy::default().version());
        let q = LifecyclePolicy {
            orders_require_payment: true,
            ..LifecyclePolicy::default()
        };
        assert_ne!(p.version(), q.version());
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn horizons_follow_the_rhythm_with_floor_and_cap() {
        let p = LifecyclePolicy::default();
        let d = DAY_SECS;
        // Weekly buyer: the 30-day floor applies → decline after 90 days.
        assert_eq!(p.decline_after_secs(Some(7 * d)), 90 * d);
        assert_eq!(p.exit_after_secs(Some(7 * d)), 365 * d);
        // Quarterly buyer.
        assert_eq!(p.decline_after_secs(Some(90 * d)), 270 * d);
        assert_eq!(p.exit_after_secs(Some(90 * d)), 540 * d);
        // Yearly buyer: exit capped at three years.
        assert_eq!(p.exit_after_secs(Some(365 * d)), 1095 * d);
        // One-time buyer.
        assert_eq!(p.decline_after_secs(None), 180 * d);
        assert_eq!(p.exit_after_secs(None), 365 * d);
    }

    #[test]
    fn validation_names_the_field() {
        let p = LifecyclePolicy {
            decline_gap_multiple: f64::NAN,
            ..LifecyclePolicy::default()
        };
        match p.validate() {
            Err(LifecycleError::InvalidPolicy { field, .. }) => {
                assert_eq!(field, "decline_gap_multiple")
            }
            other => panic!("unexpected {other:?}"),
        }
        let p = LifecyclePolicy {
            cover: Some(CoverRule {
                decline_after_lapse_days: 30,
                exit_after_lapse_days: 30,
            }),
            ..LifecyclePolicy::default()
        };
        match p.validate() {
            Err(LifecycleError::InvalidPolicy { field, .. }) => {
                assert_eq!(field, "cover.exit_after_lapse_days")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_cover_rule_is_required_in_json_and_may_be_null() {
        let mut json = serde_json::to_value(LifecyclePolicy::default()).unwrap();
        assert_eq!(
            json["cover"],
            serde_json::json!({"decline_after_lapse_days": 0, "exit_after_lapse_days": 180})
        );
        json["cover"] = serde_json::Value::Null;
        let off: LifecyclePolicy = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(off.cover, None);
        assert_ne!(off.version(), LifecyclePolicy::default().version());
        json.as_object_mut().unwrap().remove("cover");
        let err = serde_json::from_value::<LifecyclePolicy>(json).unwrap_err();
        assert!(err.to_string().contains("cover"), "{err}");
    }
}
