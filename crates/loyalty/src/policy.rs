//! The loyalty policy: every weight, scale, window and threshold of the score,
//! the tiers and the points ledger, as typed, documented, serialisable
//! configuration. `docs/loyalty.md` gives each formula with its source.
//!
//! The sources give the *shape* of loyalty (behavioural persistence gated by
//! satisfaction, 002 L40, 003 L90; a flat-then-steep satisfaction curve, 002
//! L39–40; 5 vs 4 → 6× repurchase, 001 L39) and the telecom points rule
//! (000 L358–366), but **no weights, windows or tier names** (notes 003–004
//! §3.2: "No formulas, weights or time windows are given"). Every such default
//! below is an engineering choice, named with the passage that motivates it.

use serde::{Deserialize, Serialize};

use crate::error::LoyaltyError;
use crate::points::PointsPolicy;
use crate::state::fnv1a;

/// The lowest rating on the satisfaction scale.
pub const MIN_RATING: f64 = 1.0;
/// The highest rating on the satisfaction scale ("满分为5分", 001 L39).
pub const MAX_RATING: f64 = 5.0;

/// The relative weights of the positive components. They need not sum to 1:
/// the score divides by the sum of the weights of the components that apply
/// to the customer (renewals apply only to customers with renewable terms).
///
/// Defaults: behaviour 0.70 (repeat purchase 0.25, recency 0.20, tenure 0.15,
/// renewals 0.10), attitude 0.20 (satisfaction), advocacy 0.10 (referrals).
/// Loyalty "is continuing transaction behaviour" (002 L40) and "the persistence
/// of customer behaviour" (003 L90), so behaviour dominates; satisfaction is
/// the route to loyalty (001 L177) but "does not necessarily lead to it" (002
/// L40); referrals follow loyalty (000 L290–292).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Repeat purchases. Default `0.25`.
    pub repeat_purchase: f64,
    /// Tenure. Default `0.15`.
    pub tenure: f64,
    /// Recency relative to the customer's own rhythm. Default `0.20`.
    pub recency: f64,
    /// Satisfaction through the curve. Default `0.20`.
    pub satisfaction: f64,
    /// Referrals made and converted. Default `0.10`.
    pub referrals: f64,
    /// Renewals: terms renewed ÷ terms decided. Default `0.10`.
    pub renewals: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            repeat_purchase: 0.25,
            tenure: 0.15,
            recency: 0.20,
            satisfaction: 0.20,
            referrals: 0.10,
            renewals: 0.10,
        }
    }
}

/// Which statistic of a customer's gaps between transactions is their rhythm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatistic {
    /// The median gap: robust to one long pause (the default).
    Median,
    /// The arithmetic mean gap.
    Mean,
}

/// The satisfaction curve: rating (1–5) → relative repurchase likelihood in
/// (0, 1], `value(r) = base^(max(r, flat_below) − 5)`.
///
/// * **5 vs 4 → 6×** (001 L39): `value(5) / value(4) = base`, exactly 6 with the
///   default base, whatever `flat_below` (≤ 4).
/// * **Flat, then steep** (002 L39–40: loyalty needs a minimum satisfaction,
///   is unaffected in a range above it, then rises sharply): constant below
///   `flat_below`, exponential above it (`value(4) − value(3)` = 0.14,
///   `value(5) − value(4)` = 0.83).
/// * **perceived ÷ expected** (001 L76; 003 L89–90 C = b/a) is put on the same
///   scale as `rating = clamp(rating_per_ratio × C, 1, 5)`: expectations met
///   (C = 1) is a 4 — "generally satisfied" (003 L88), which 001 L39 calls
///   meaningless for loyalty — and C ≥ 1.25 a 5, "highly satisfied".
///
/// ```
/// use clientele_loyalty::SatisfactionCurve;
/// let curve = SatisfactionCurve::default();
/// assert!((curve.value(5.0) / curve.value(4.0) - 6.0).abs() < 1e-12);
/// assert_eq!(curve.value(1.0), curve.value(3.0)); // flat below 3
/// assert_eq!(curve.rating_from_ratio(1.0), 4.0);
/// assert_eq!(curve.rating_from_ratio(1.25), 5.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionCurve {
    /// The repurchase ratio of one rating point. Default `6.0` (001 L39,
    /// "多6倍"; the literal can also be read as 7×: set `7.0` for that reading).
    pub base: f64,
    /// Ratings below this are all worth the same (the flat section, 002 L39).
    /// In [1, 4]. Default `3.0`: the sources give no number; the scale's
    /// midpoint is the lowest rating that is not a complaint.
    pub flat_below: f64,
    /// Rating per unit of perceived ÷ expected. Default `4.0` (C = 1 → 4,
    /// C = 0.75 → 3, C = 1.25 → 5).
    pub rating_per_ratio: f64,
    /// The rating assumed for a customer never asked. Default `4.0`:
    /// expectations assumed met, no more (no news is not delight).
    pub unrated_rating: f64,
    /// How many of the latest ratings are averaged (their curve values).
    /// Default `5`: recent experience counts, one old bad rating fades.
    pub last_n: u32,
}

impl Default for SatisfactionCurve {
    fn default() -> Self {
        Self {
            base: 6.0,
            flat_below: 3.0,
            rating_per_ratio: 4.0,
            unrated_rating: 4.0,
            last_n: 5,
        }
    }
}

impl SatisfactionCurve {
    /// The curve value of a rating (clamped to 1–5): relative repurchase
    /// likelihood, 1 for a 5.
    pub fn value(&self, rating: f64) -> f64 {
        let r = if rating.is_finite() {
            rating.clamp(MIN_RATING, MAX_RATING)
        } else {
            MIN_RATING
        };
        self.base.powf(r.max(self.flat_below) - MAX_RATING)
    }

    /// perceived ÷ expected on the 1–5 scale.
    pub fn rating_from_ratio(&self, ratio: f64) -> f64 {
        if ratio.is_finite() {
            (self.rating_per_ratio * ratio).clamp(MIN_RATING, MAX_RATING)
        } else {
            MIN_RATING
        }
    }
}

/// Recency relative to the customer's own rhythm.
///
/// `rhythm` = the median (or mean) of the latest `rhythm_window` gaps between
/// transactions, at least `min_rhythm_days`; for a customer with a single
/// transaction, `one_time_rhythm_days`. With `r` = days since the last
/// transaction ÷ rhythm: value = 1 while `r ≤ 1`, then halves every
/// `half_life_gaps` rhythms: `0.5^((r − 1) / half_life_gaps)`. An explicit churn
/// that still stands makes it 0. Purchase cycles differ by product (001 L170;
/// "经常购买、反复购买", 001 L58), so lateness is judged against the customer's
/// own cycle. The window, floor and statistic match the lifecycle policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecencyRule {
    /// Median (default) or mean gap.
    pub statistic: GapStatistic,
    /// How many of the latest gaps form the rhythm. Default `12`.
    pub rhythm_window: u32,
    /// Floor of the rhythm in days: a burst of purchases in one week does not
    /// make the customer late a week later. Default `30`.
    pub min_rhythm_days: f64,
    /// The rhythm assumed for a customer with one transaction. Default `90`
    /// (half the lifecycle's one-time-buyer decline horizon of 180 days).
    pub one_time_rhythm_days: f64,
    /// Rhythms of lateness that halve the value. Default `1.0` (2 rhythms
    /// since the last transaction → 0.5; 3 → 0.25, the lifecycle's decline).
    pub half_life_gaps: f64,
    /// Whether payments count as transactions (a telecom customer's monthly
    /// bill is continuing business, 000 L362). Default `true`.
    pub count_payments: bool,
}

impl Default for RecencyRule {
    fn default() -> Self {
        Self {
            statistic: GapStatistic::Median,
            rhythm_window: 12,
            min_rhythm_days: 30.0,
            one_time_rhythm_days: 90.0,
            half_life_gaps: 1.0,
            count_payments: true,
        }
    }
}

/// When a renewable term counts as renewed.
///
/// A term is a purchase with `valid_until`; it is due at the end of that day.
/// It is **renewed** by the first unused `renewal` purchase made after it and
/// within `[due − lead_days, due + grace_days]`, **lapsed** once `grace_days`
/// have passed without one, and **pending** before that. A renewal purchase
/// that matches no known term (e.g. the expiring policy predates the log)
/// counts as one term renewed. Policy numbers are personal data and may be
/// erased, so matching is by time. The sources name the renewal rate as the
/// goal (001 L3) but no windows: these are engineering defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalRule {
    /// How early a renewal may be bought, in days before the due date.
    /// Default `90` (insurers remind and renew ahead of expiry, 001 L5–6).
    pub lead_days: u32,
    /// How late a renewal still counts, in days after the due date. Default `30`.
    pub grace_days: u32,
}

impl Default for RenewalRule {
    fn default() -> Self {
        Self {
            lead_days: 90,
            grace_days: 30,
        }
    }
}

/// How complaints weigh on the score, in score points.
///
/// * **Open** (received, not yet `resolved`): `open_penalty` each.
/// * **Recovered** (resolved within `quick_resolution_hours` of being received
///   **and** rated ≥ `recovery_min_feedback` by the customer): no penalty — the
///   score is restored (service recovery: a timely remedy helps win the
///   customer back, 000 L348–350; Haier's customers stayed satisfied after
///   repeated repair visits, 001 L41).
/// * **Resolved otherwise**: `unrecovered_penalty`, halving every
///   `unrecovered_half_life_days` after the resolution.
///
/// Each penalty is multiplied by `harm_multiplier` when a step said customer
/// interests were harmed (000 L552–554). The total is capped by the positive
/// part of the score, so the score never goes below 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintRule {
    /// Points per unanswered complaint (no `resolved`-or-later step yet;
    /// "open" in the field's name). Default `20` (one tier's width: an
    /// unanswered complaint costs a tier).
    pub open_penalty: f64,
    /// Points per resolved but not recovered complaint. Default `5`.
    pub unrecovered_penalty: f64,
    /// Multiplier when customer interests were harmed. Default `1.5`.
    pub harm_multiplier: f64,
    /// A resolution within this many hours of receipt is quick. Default `72`:
    /// the sources' SLA is a **reply** within 24 h (000 L574) and an on-site
    /// repair within 24 h (001 L41); resolving (投诉处理, after investigation,
    /// 003 L171 §4.2) gets three times that.
    pub quick_resolution_hours: u32,
    /// The lowest feedback rating (1–5) that restores. Default `4`.
    pub recovery_min_feedback: u8,
    /// Half-life of the unrecovered penalty, in days. Default `180`.
    pub unrecovered_half_life_days: f64,
}

impl Default for ComplaintRule {
    fn default() -> Self {
        Self {
            open_penalty: 20.0,
            unrecovered_penalty: 5.0,
            harm_multiplier: 1.5,
            quick_resolution_hours: 72,
            recovery_min_feedback: 4,
            unrecovered_half_life_days: 180.0,
        }
    }
}

/// A named tier: scores from `min_score` up to the next tier's `min_score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    /// The tier's name.
    pub name: String,
    /// The lowest score in the tier.
    pub min_score: f64,
}

impl TierRule {
    /// A tier rule.
    pub fn new(name: impl Into<String>, min_score: f64) -> Self {
        Self {
            name: name.into(),
            min_score,
        }
    }
}

/// The default tiers: bronze [0, 40), silver [40, 60), gold [60, 80),
/// platinum [80, 100]. **The names and boundaries are not in the sources**
/// (notes 000–002 §0: "Named loyalty tiers (gold, silver and so on)" not
/// found; 003 L53 §7.2.1 names "loyalty tier division" with no content).
pub fn default_tiers() -> Vec<TierRule> {
    vec![
        TierRule::new("bronze", 0.0),
        TierRule::new("silver", 40.0),
        TierRule::new("gold", 60.0),
        TierRule::new("platinum", 80.0),
    ]
}

/// The configurable rules of the loyalty score, the tiers and the points ledger.
///
/// Every field is required in JSON, so a typo cannot silently fall back to a
/// default:
///
/// ```
/// use clientele_loyalty::LoyaltyPolicy;
/// let policy = LoyaltyPolicy::default();
/// let json = serde_json::to_string_pretty(&policy)?;
/// let back: LoyaltyPolicy = serde_json::from_str(&json)?;
/// assert_eq!(back, policy);
/// assert_eq!(back.version(), policy.version());
/// let mut other = policy.clone();
/// other.satisfaction.base = 7.0;
/// assert_ne!(other.version(), policy.version()); // the projection rebuilds
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyPolicy {
    /// Component weights.
    pub weights: Weights,
    /// Repeat purchases: value `1 − e^(−(n − 1)/repeat_purchase_scale)` for n ≥ 1
    /// purchases. Default `3.0` (1 repeat → 0.28, 3 → 0.63, 6 → 0.86). Loyalty
    /// is the tendency to buy repeatedly (003 L90).
    pub repeat_purchase_scale: f64,
    /// Tenure: value `1 − e^(−months/tenure_scale_months)`. Default `24.0`
    /// (1 year → 0.39, 2 → 0.63, 4 → 0.86). "The longer a customer stays loyal,
    /// the more the company earns" (002 L31); time on the network is capital
    /// (000 L406–408).
    pub tenure_scale_months: f64,
    /// Recency relative to the customer's rhythm.
    pub recency: RecencyRule,
    /// The satisfaction curve.
    pub satisfaction: SatisfactionCurve,
    /// Referrals: value `1 − e^(−(converted + credit × unconverted)/referral_scale)`.
    /// Default `1.0` (one converted referral → 0.63, two → 0.86).
    pub referral_scale: f64,
    /// Credit for a referral that has not (or not recognisably) converted, in
    /// [0, 1]. Default `0.25`: a recommendation is advocacy (000 L314, "unpaid
    /// salespeople"), a converted one is proof (推荐成交率, 000 L478).
    pub unconverted_referral_credit: f64,
    /// Renewal matching.
    pub renewal: RenewalRule,
    /// Complaint penalties.
    pub complaints: ComplaintRule,
    /// Named tiers, ascending by `min_score`; the first starts at 0.
    pub tiers: Vec<TierRule>,
    /// The points ledger (telecom rule, 000 L358–366).
    pub points: PointsPolicy,
}

impl Default for LoyaltyPolicy {
    fn default() -> Self {
        Self {
            weights: Weights::default(),
            repeat_purchase_scale: 3.0,
            tenure_scale_months: 24.0,
            recency: RecencyRule::default(),
            satisfaction: SatisfactionCurve::default(),
            referral_scale: 1.0,
            unconverted_referral_credit: 0.25,
            renewal: RenewalRule::default(),
            complaints: ComplaintRule::default(),
            tiers: default_tiers(),
            points: PointsPolicy::default(),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LoyaltyError {
    LoyaltyError::InvalidPolicy {
        field,
        reason: reason.into(),
    }
}

fn non_negative(field: &'static str, value: f64) -> Result<(), LoyaltyError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a finite number ≥ 0, is {value}"),
        ))
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), LoyaltyError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a finite number > 0, is {value}"),
        ))
    }
}

fn within(field: &'static str, value: f64, lo: f64, hi: f64) -> Result<(), LoyaltyError> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be in [{lo}, {hi}], is {value}"),
        ))
    }
}

impl LoyaltyPolicy {
    /// A stable 64-bit hash of the policy (FNV-1a of its JSON). Equal policies
    /// have equal versions across runs and machines.
    pub fn version(&self) -> u64 {
        // Plain numbers, strings and vectors always serialise; should it ever
        // fail, the Debug text still identifies the policy.
        match serde_json::to_vec(self) {
            Ok(json) => fnv1a(&json),
            Err(_) => fnv1a(format!("{self:?}").as_bytes()),
        }
    }

    /// Checks that every field is usable.
    ///
    /// ```
    /// use clientele_loyalty::{LoyaltyPolicy, TierRule};
    /// assert!(LoyaltyPolicy::default().validate().is_ok());
    /// let bad = LoyaltyPolicy {
    ///     tiers: vec![TierRule::new("gold", 50.0)], // must start at 0
    ///     ..LoyaltyPolicy::default()
    /// };
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), LoyaltyError> {
        let w = &self.weights;
        non_negative("weights.repeat_purchase", w.repeat_purchase)?;
        non_negative("weights.tenure", w.tenure)?;
        non_negative("weights.recency", w.recency)?;
        non_negative("weights.satisfaction", w.satisfaction)?;
        non_negative("weights.referrals", w.referrals)?;
        non_negative("weights.renewals", w.renewals)?;
        let always = w.repeat_purchase + w.tenure + w.recency + w.satisfaction + w.referrals;
        if always <= 0.0 {
            return Err(invalid(
                "weights",
                "the weights other than renewals must not all be 0",
            ));
        }
        positive("repeat_purchase_scale", self.repeat_purchase_scale)?;
        positive("tenure_scale_months", self.tenure_scale_months)?;
        let r = &self.recency;
        if r.rhythm_window == 0 {
            return Err(invalid("recency.rhythm_window", "must be ≥ 1"));
        }
        positive("recency.min_rhythm_days", r.min_rhythm_days)?;
        positive("recency.one_time_rhythm_days", r.one_time_rhythm_days)?;
        positive("recency.half_life_gaps", r.half_life_gaps)?;
        let s = &self.satisfaction;
        if !(s.base.is_finite() && s.base > 1.0) {
            return Err(invalid(
                "satisfaction.base",
                format!("must be a finite number > 1, is {}", s.base),
            ));
        }
        within("satisfaction.flat_below", s.flat_below, MIN_RATING, 4.0)?;
        positive("satisfaction.rating_per_ratio", s.rating_per_ratio)?;
        within(
            "satisfaction.unrated_rating",
            s.unrated_rating,
            MIN_RATING,
            MAX_RATING,
        )?;
        if s.last_n == 0 {
            return Err(invalid("satisfaction.last_n", "must be ≥ 1"));
        }
        positive("referral_scale", self.referral_scale)?;
        within(
            "unconverted_referral_credit",
            self.unconverted_referral_credit,
            0.0,
            1.0,
        )?;
        let c = &self.complaints;
        non_negative("complaints.open_penalty", c.open_penalty)?;
        non_negative("complaints.unrecovered_penalty", c.unrecovered_penalty)?;
        non_negative("complaints.harm_multiplier", c.harm_multiplier)?;
        positive(
            "complaints.unrecovered_half_life_days",
            c.unrecovered_half_life_days,
        )?;
        if !(1..=5).contains(&c.recovery_min_feedback) {
            return Err(invalid(
                "complaints.recovery_min_feedback",
                format!("must be in 1–5, is {}", c.recovery_min_feedback),
            ));
        }
        self.validate_tiers()?;
        self.points.validate()
    }

    fn validate_tiers(&self) -> Result<(), LoyaltyError> {
        let Some(first) = self.tiers.first() else {
            return Err(invalid("tiers", "at least one tier is needed"));
        };
        if first.min_score != 0.0 {
            return Err(invalid(
                "tiers",
                format!(
                    "the first tier must start at 0, starts at {}",
                    first.min_score
                ),
            ));
        }
        for pair in self.tiers.windows(2) {
            if !(pair[1].min_score.is_finite() && pair[1].min_score > pair[0].min_score) {
                return Err(invalid(
                    "tiers",
                    format!(
                        "min_score must increase strictly: {} after {}",
                        pair[1].min_score, pair[0].min_score
                    ),
                ));
            }
        }
        if let Some(t) = self.tiers.iter().find(|t| t.min_score > 100.0) {
            return Err(invalid(
                "tiers",
                format!("{} starts above 100 ({})", t.name, t.min_score),
            ));
        }
        if self.tiers.iter().any(|t| t.name.trim().is_empty()) {
            return Err(invalid("tiers", "tier names must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_ratio_is_the_source_ratio_by_construction() {
        let curve = SatisfactionCurve::default();
        assert!((curve.value(5.0) / curve.value(4.0) - 6.0).abs() < 1e-12);
        assert_eq!(curve.value(5.0), 1.0);
        // Flat below the threshold, steep at the top.
        assert_eq!(curve.value(1.0), curve.value(2.5));
        assert!(curve.value(5.0) - curve.value(4.0) > 5.0 * (curve.value(4.0) - curve.value(3.0)));
        // The ratio holds for any base and any flat_below ≤ 4.
        let seven = SatisfactionCurve {
            base: 7.0,
            flat_below: 4.0,
            ..SatisfactionCurve::default()
        };
        assert!((seven.value(5.0) / seven.value(4.0) - 7.0).abs() < 1e-12);
        // Out-of-range and non-finite ratings are clamped.
        assert_eq!(curve.value(9.0), 1.0);
        assert_eq!(curve.value(f64::NAN), curve.value(1.0));
    }

    #[test]
    fn ratio_maps_onto_the_scale() {
        let curve = SatisfactionCurve::default();
        assert_eq!(curve.rating_from_ratio(0.75), 3.0); // 003 oracle: 6/8
        assert_eq!(curve.rating_from_ratio(1.0), 4.0); // 8/8
        assert_eq!(curve.rating_from_ratio(1.2), 4.8); // 6/5
        assert_eq!(curve.rating_from_ratio(3.0), 5.0);
        assert_eq!(curve.rating_from_ratio(0.0), 1.0);
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = LoyaltyPolicy::default();
        p.weights.recency = -1.0;
        match p.validate() {
            Err(LoyaltyError::InvalidPolicy { field, .. }) => assert_eq!(field, "weights.recency"),
            other => panic!("unexpected {other:?}"),
        }
        let p = LoyaltyPolicy {
            tiers: vec![TierRule::new("a", 0.0), TierRule::new("b", 0.0)],
            ..LoyaltyPolicy::default()
        };
        assert!(p.validate().is_err());
        let mut p = LoyaltyPolicy::default();
        p.satisfaction.base = 1.0;
        assert!(p.validate().is_err());
        let p = LoyaltyPolicy {
            weights: Weights {
                repeat_purchase: 0.0,
                tenure: 0.0,
                recency: 0.0,
                satisfaction: 0.0,
                referrals: 0.0,
                renewals: 1.0,
            },
            ..LoyaltyPolicy::default()
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn version_is_stable_and_sensitive() {
        let a = LoyaltyPolicy::default();
        assert_eq!(a.version(), LoyaltyPolicy::default().version());
        let mut b = a.clone();
        b.tiers[1].name = "argent".into();
        assert_ne!(a.version(), b.version());
        let mut c = a.clone();
        c.points.points_per_month_of_tenure = 2;
        assert_ne!(a.version(), c.version());
    }
}
