//! The explainable 0–100 loyalty score.
//!
//! ```text
//! score = Σ_i 100 · w_i · v_i  −  min(complaint penalty, Σ_i 100 · w_i · v_i)
//! ```
//!
//! where `v_i ∈ [0, 1]` is the value of each positive component (repeat
//! purchase, tenure, recency, satisfaction, referrals, renewals) and `w_i` its
//! weight divided by the sum of the weights of the components that apply
//! (renewals apply only when a renewable term was decided or renewed). The
//! components, with their raw values and contributions, sum to the score.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::policy::{GapStatistic, LoyaltyPolicy, MAX_RATING};
use crate::state::{days_between, due_instant, LoyaltyState, MICROS_PER_DAY, MICROS_PER_HOUR};

/// Days in an average Gregorian month (365.2425 / 12), for tenure in months.
const DAYS_PER_MONTH: f64 = 365.2425 / 12.0;

/// The components of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Repeat purchases (raw: purchases counted).
    RepeatPurchase,
    /// Tenure (raw: months since the first transaction).
    Tenure,
    /// Recency relative to rhythm (raw: days since the last transaction).
    Recency,
    /// Satisfaction (raw: mean rating on the 1–5 scale of the ratings used).
    Satisfaction,
    /// Referrals (raw: converted referrals).
    Referrals,
    /// Renewals (raw: terms renewed ÷ terms decided).
    Renewals,
    /// Complaints (raw: penalty points before the cap; contributes ≤ 0).
    Complaints,
}

impl Factor {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RepeatPurchase => "repeat_purchase",
            Self::Tenure => "tenure",
            Self::Recency => "recency",
            Self::Satisfaction => "satisfaction",
            Self::Referrals => "referrals",
            Self::Renewals => "renewals",
            Self::Complaints => "complaints",
        }
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One component of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Which component.
    pub name: Factor,
    /// The raw input (see [`Factor`] for its unit).
    pub value: f64,
    /// The normalised value: in [0, 1] for positive components; for
    /// complaints, minus the points applied ÷ 100.
    pub normalised: f64,
    /// The effective weight (weights re-divided over the components that
    /// apply; 0 when the component does not apply; 1 for complaints).
    pub weight: f64,
    /// Points on the 0–100 scale: `100 × weight × normalised`.
    pub contribution: f64,
    /// How the value was obtained, in words.
    pub detail: String,
}

/// A named tier from the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// The tier's name.
    pub name: String,
    /// Its position from the lowest tier, from 0.
    pub rank: u32,
    /// The lowest score in the tier.
    pub min_score: f64,
}

/// A customer's loyalty score with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoyaltyScore {
    /// The time evaluated.
    pub as_of: DateTime<Utc>,
    /// The score, in [0, 100].
    pub score: f64,
    /// The tier the score falls in.
    pub tier: Tier,
    /// The components, by decreasing contribution; they sum to `score`.
    pub components: Vec<Component>,
}

impl LoyaltyScore {
    /// The component named `name`.
    pub fn component(&self, name: Factor) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl LoyaltyPolicy {
    /// The tier of a score: the last tier whose `min_score` it reaches.
    ///
    /// ```
    /// use clientele_loyalty::LoyaltyPolicy;
    /// let p = LoyaltyPolicy::default();
    /// assert_eq!(p.tier_for(39.99).name, "bronze");
    /// assert_eq!(p.tier_for(40.0).name, "silver");
    /// assert_eq!(p.tier_for(80.0).name, "platinum");
    /// ```
    pub fn tier_for(&self, score: f64) -> Tier {
        let mut found = Tier {
            name: String::new(),
            rank: 0,
            min_score: 0.0,
        };
        for (rank, rule) in self.tiers.iter().enumerate() {
            if rank == 0 || score >= rule.min_score {
                found = Tier {
                    name: rule.name.clone(),
                    rank: u32::try_from(rank).unwrap_or(u32::MAX),
                    min_score: rule.min_score,
                };
            }
        }
        found
    }
}

/// Scores `state` as of `as_of` under `policy` (validated first).
///
/// `converted_referrals` is the number of distinct customers this customer
/// referred who purchased at or after the referral, by `as_of` — a
/// cross-customer fact computed by the caller (see
/// [`PurchaseIndex::converted_referrals`](crate::PurchaseIndex::converted_referrals));
/// it is capped at the number of customers referred. Events after `as_of`
/// are ignored.
pub fn score(
    policy: &LoyaltyPolicy,
    state: &LoyaltyState,
    as_of: DateTime<Utc>,
    converted_referrals: u32,
) -> Result<LoyaltyScore> {
    policy.validate()?;
    Ok(compute(policy, state, as_of, converted_referrals))
}

fn saturate(x: f64, scale: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        0.0
    } else {
        (1.0 - (-x / scale).exp()).clamp(0.0, 1.0)
    }
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

struct Part {
    name: Factor,
    value: f64,
    normalised: f64,
    raw_weight: f64,
    applies: bool,
    detail: String,
}

/// Renewal outcome of one customer by a time (shared with the metrics).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Renewals {
    /// (due instant µs, renewed?) for every decided term.
    pub decided: Vec<(i64, bool)>,
    /// Due instants of terms still pending.
    pub pending: Vec<i64>,
    /// Times of renewal purchases that matched no known term.
    pub unmatched: Vec<i64>,
}

impl Renewals {
    pub(crate) fn renewed(&self) -> usize {
        self.decided.iter().filter(|(_, r)| *r).count() + self.unmatched.len()
    }

    pub(crate) fn decided(&self) -> usize {
        self.decided.len() + self.unmatched.len()
    }
}

pub(crate) fn renewals(policy: &LoyaltyPolicy, state: &LoyaltyState, t: i64) -> Renewals {
    let lead = i64::from(policy.renewal.lead_days).saturating_mul(MICROS_PER_DAY);
    let grace = i64::from(policy.renewal.grace_days).saturating_mul(MICROS_PER_DAY);
    let mut terms: Vec<(i64, i64)> = state
        .purchases_at(t)
        .filter_map(|p| p.valid_until.map(|d| (due_instant(d), p.at)))
        .collect();
    terms.sort_unstable();
    let renewals: Vec<i64> = {
        let mut r: Vec<i64> = state
            .purchases_at(t)
            .filter(|p| p.renewal)
            .map(|p| p.at)
            .collect();
        r.sort_unstable();
        r
    };
    let mut used = vec![false; renewals.len()];
    let mut out = Renewals::default();
    for (due, bought) in terms {
        let from = due.saturating_sub(lead).max(bought.saturating_add(1));
        let to = due.saturating_add(grace);
        let hit = renewals
            .iter()
            .enumerate()
            .find(|(i, &r)| !used[*i] && r >= from && r <= to)
            .map(|(i, _)| i);
        match hit {
            Some(i) => {
                used[i] = true;
                out.decided.push((due, true));
            }
            None if t > to => out.decided.push((due, false)),
            None => out.pending.push(due),
        }
    }
    out.unmatched = renewals
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(r, _)| *r)
        .collect();
    out
}

/// The complaint penalty (points, before the cap) and a description.
pub(crate) fn complaint_penalty(
    policy: &LoyaltyPolicy,
    state: &LoyaltyState,
    t: i64,
) -> (f64, String) {
    let rule = &policy.complaints;
    let quick = i64::from(rule.quick_resolution_hours).saturating_mul(MICROS_PER_HOUR);
    let (mut open, mut recovered, mut unrecovered) = (0u32, 0u32, 0u32);
    let mut penalty = 0.0;
    for c in state.complaints.values().filter(|c| c.received_at <= t) {
        let harm = if c.harms_customer_interest {
            rule.harm_multiplier
        } else {
            1.0
        };
        match c.resolved_at.filter(|&r| r <= t) {
            None => {
                open += 1;
                penalty += rule.open_penalty * harm;
            }
            Some(resolved) => {
                let fast = resolved.saturating_sub(c.received_at) <= quick;
                let good = c.feedback_at.is_some_and(|f| f <= t)
                    && c.feedback_rating
                        .is_some_and(|r| r >= rule.recovery_min_feedback);
                if fast && good {
                    recovered += 1;
                } else {
                    unrecovered += 1;
                    let age = days_between(resolved, t).max(0.0);
                    let decay = 0.5f64.powf(age / rule.unrecovered_half_life_days);
                    penalty += finite_or_zero(rule.unrecovered_penalty * harm * decay);
                }
            }
        }
    }
    let detail = format!(
        "{open} unanswered, {recovered} recovered (quick resolution and feedback ≥ {}), {unrecovered} resolved without recovery",
        rule.recovery_min_feedback
    );
    (finite_or_zero(penalty).max(0.0), detail)
}

/// The score, for a validated policy.
pub(crate) fn compute(
    policy: &LoyaltyPolicy,
    state: &LoyaltyState,
    as_of: DateTime<Utc>,
    converted_referrals: u32,
) -> LoyaltyScore {
    let t = as_of.timestamp_micros();
    let w = &policy.weights;
    let mut parts = Vec::with_capacity(6);

    // Repeat purchase (003 L90; 002 L40): "loyalty is continuing
    // transactions", so with `recency.count_payments` a bill paid counts as
    // a transaction too (a subscriber who bought a plan once and pays every
    // month); a payment that settles an order does not.
    let purchases = state.purchases_at(t).count();
    let bills = if policy.recency.count_payments {
        state.bills_at(t).count()
    } else {
        0
    };
    let transactions = purchases + bills;
    let repeats = transactions.saturating_sub(1) as f64;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    parts.push(Part {
        name: Factor::RepeatPurchase,
        value: transactions as f64,
        normalised: if transactions == 0 {
            0.0
        } else {
            saturate(repeats, policy.repeat_purchase_scale)
        },
        raw_weight: w.repeat_purchase,
        applies: true,
        detail: if bills == 0 {
            format!(
                "{}, {repeats} repeat",
                plural(purchases, "purchase", "purchases")
            )
        } else {
            format!(
                "{} and {}, {repeats} repeat",
                plural(purchases, "purchase", "purchases"),
                plural(bills, "bill", "bills")
            )
        },
    });

    // Tenure (002 L31; 000 L358–360).
    let rule = &policy.recency;
    let transactions = state.transaction_times(t, rule.count_payments);
    let churned = state.churned_at(t, rule.count_payments);
    let months = match transactions.first() {
        Some(&first) => (days_between(first, churned.unwrap_or(t)) / DAYS_PER_MONTH).max(0.0),
        None => 0.0,
    };
    parts.push(Part {
        name: Factor::Tenure,
        value: months,
        normalised: saturate(months, policy.tenure_scale_months),
        raw_weight: w.tenure,
        applies: true,
        detail: match churned {
            Some(_) => format!("{months:.1} months from the first transaction to the churn"),
            None => format!("{months:.1} months since the first transaction"),
        },
    });

    // Recency relative to the customer's rhythm (001 L170, 001 L58).
    let (recency_value, recency, recency_detail) = match transactions.last() {
        None => (0.0, 0.0, "no transaction yet".to_owned()),
        Some(&last) => {
            let since = days_between(last, t).max(0.0);
            let gaps: Vec<f64> = transactions
                .windows(2)
                .map(|p| days_between(p[0], p[1]))
                .collect();
            let window = usize::try_from(rule.rhythm_window).unwrap_or(usize::MAX);
            let recent = &gaps[gaps.len().saturating_sub(window)..];
            let typical = (!recent.is_empty()).then(|| match rule.statistic {
                GapStatistic::Mean => recent.iter().sum::<f64>() / recent.len() as f64,
                GapStatistic::Median => median(recent),
            });
            let rhythm = match typical {
                None => rule.one_time_rhythm_days,
                Some(typical) => typical.max(rule.min_rhythm_days),
            };
            let lateness = since / rhythm;
            let value = if churned.is_some() {
                0.0
            } else if lateness <= 1.0 {
                1.0
            } else {
                finite_or_zero(0.5f64.powf((lateness - 1.0) / rule.half_life_gaps))
            };
            let detail = match churned {
                Some(_) => format!(
                    "churned; last transaction {} ago",
                    counted(since, "day", "days")
                ),
                // Whole days elapsed, as the churn reasons and the activity
                // summary count them.
                None => {
                    let (since, rhythm_text) = (
                        counted(since.floor(), "day", "days"),
                        counted(rhythm, "day", "days"),
                    );
                    match typical {
                        None => format!(
                            "{since} since the only transaction, {lateness:.1}× the rhythm of {rhythm_text} assumed for a one-time buyer"
                        ),
                        Some(typical) if typical < rule.min_rhythm_days => format!(
                            "{since} since the last transaction, {lateness:.1}× the shortest rhythm counted, {rhythm_text}"
                        ),
                        Some(_) => format!(
                            "{since} since the last transaction, {lateness:.1}× the customer's {} gap of {rhythm_text}",
                            match rule.statistic {
                                GapStatistic::Mean => "mean",
                                GapStatistic::Median => "median",
                            }
                        ),
                    }
                }
            };
            (since, value, detail)
        }
    };
    parts.push(Part {
        name: Factor::Recency,
        value: recency_value,
        normalised: recency,
        raw_weight: w.recency,
        applies: true,
        detail: recency_detail,
    });

    // Satisfaction through the curve (001 L39; 002 L39–40; 001 L76).
    let curve = &policy.satisfaction;
    let rated: Vec<f64> = state
        .ratings
        .iter()
        .filter(|r| r.at <= t)
        .filter_map(|r| match (r.rating, r.ratio) {
            (Some(rating), _) => Some(f64::from(rating)),
            (None, Some(ratio)) => Some(curve.rating_from_ratio(ratio)),
            (None, None) => None,
        })
        .collect();
    let last_n = usize::try_from(curve.last_n).unwrap_or(usize::MAX);
    let used = &rated[rated.len().saturating_sub(last_n)..];
    let (sat_value, sat, sat_detail) = if used.is_empty() {
        (
            curve.unrated_rating,
            curve.value(curve.unrated_rating),
            format!("never rated: assumed {}", curve.unrated_rating),
        )
    } else {
        let clamped: Vec<f64> = used.iter().map(|r| r.clamp(1.0, MAX_RATING)).collect();
        let mean_rating = clamped.iter().sum::<f64>() / clamped.len() as f64;
        let mean_value =
            clamped.iter().map(|&r| curve.value(r)).sum::<f64>() / clamped.len() as f64;
        (
            mean_rating,
            mean_value.clamp(0.0, 1.0),
            format!(
                "mean curve value of the latest {} rating(s) (mean rating {mean_rating:.2})",
                clamped.len()
            ),
        )
    };
    parts.push(Part {
        name: Factor::Satisfaction,
        value: sat_value,
        normalised: sat,
        raw_weight: w.satisfaction,
        applies: true,
        detail: sat_detail,
    });

    // Referrals made and converted (000 L290–292, L478).
    let made = state.referrals.iter().filter(|r| r.at <= t).count();
    let to_customers = state.referred_customers(t).len();
    let converted = (converted_referrals as usize).min(to_customers);
    let unconverted = made.saturating_sub(converted);
    let effective = converted as f64 + policy.unconverted_referral_credit * unconverted as f64;
    parts.push(Part {
        name: Factor::Referrals,
        value: converted as f64,
        normalised: saturate(effective, policy.referral_scale),
        raw_weight: w.referrals,
        applies: true,
        detail: format!(
            "{made} referrals made ({to_customers} to customers), {converted} converted"
        ),
    });

    // Renewals (001 L3, L5).
    let r = renewals(policy, state, t);
    let (renewed, decided) = (r.renewed(), r.decided());
    let renewal_rate = if decided == 0 {
        0.0
    } else {
        renewed as f64 / decided as f64
    };
    parts.push(Part {
        name: Factor::Renewals,
        value: renewal_rate,
        normalised: renewal_rate,
        raw_weight: w.renewals,
        applies: decided > 0,
        detail: if decided == 0 {
            format!(
                "no renewable term decided ({} pending): does not apply",
                r.pending.len()
            )
        } else {
            format!(
                "{renewed} of {decided} terms renewed ({} pending)",
                r.pending.len()
            )
        },
    });

    let total_weight: f64 = parts
        .iter()
        .filter(|p| p.applies)
        .map(|p| p.raw_weight)
        .sum();
    let mut components: Vec<Component> = parts
        .into_iter()
        .map(|p| {
            let weight = if p.applies && total_weight > 0.0 {
                p.raw_weight / total_weight
            } else {
                0.0
            };
            let normalised = finite_or_zero(p.normalised).clamp(0.0, 1.0);
            Component {
                name: p.name,
                value: finite_or_zero(p.value),
                normalised,
                weight,
                contribution: 100.0 * weight * normalised,
                detail: p.detail,
            }
        })
        .collect();
    let positive: f64 = components.iter().map(|c| c.contribution).sum();

    // Complaints (000 L348–350, L552–554, L574; 001 L41).
    let (penalty, complaint_detail) = complaint_penalty(policy, state, t);
    let applied = penalty.min(positive).max(0.0);
    components.push(Component {
        name: Factor::Complaints,
        value: penalty,
        normalised: (0.0 - applied) / 100.0,
        weight: 1.0,
        contribution: 0.0 - applied,
        detail: format!("{complaint_detail}: {penalty:.1} points"),
    });

    components.sort_by(|a, b| {
        b.contribution
            .total_cmp(&a.contribution)
            .then(a.name.cmp(&b.name))
    });
    let score = (positive - applied).clamp(0.0, 100.0);
    LoyaltyScore {
        as_of,
        score,
        tier: policy.tier_for(score),
        components,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `x` as a whole number, rounded as `{:.0}` rounds, with its unit,
/// singular when it reads 1 (`1 day`, `0 days`, `12 days`).
fn counted(x: f64, one: &str, many: &str) -> String {
    let n = format!("{x:.0}");
    let unit = if n == "1" { one } else { many };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ComplaintMark, PurchaseMark, RatingMark, ReferralMark};
    use chrono::{Duration, TimeZone};
    use clientele_core::event::ComplaintStep;
    use clientele_core::CustomerId;

    #[test]
    fn counts_read_singular_for_one() {
        assert_eq!(counted(1.0, "day", "days"), "1 day");
        assert_eq!(counted(0.6, "day", "days"), "1 day");
        assert_eq!(counted(0.0, "day", "days"), "0 days");
        assert_eq!(counted(12.4, "day", "days"), "12 days");
        // Rounded as the plain `{:.0}` format did before (half to even).
        assert_eq!(counted(2.5, "day", "days"), format!("{:.0} days", 2.5));
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
    }

    fn us(days: i64) -> i64 {
        (t0() + Duration::days(days)).timestamp_micros()
    }

    fn purchase(day: i64) -> PurchaseMark {
        PurchaseMark {
            at: us(day),
            order: day as u64,
            units: 10_000,
            scale: 2,
            renewal: false,
            valid_until: None,
            cancelled_at: None,
        }
    }

    fn buyer(days: &[i64]) -> LoyaltyState {
        LoyaltyState {
            purchases: days.iter().map(|&d| purchase(d)).collect(),
            first_event_at: days.first().map(|&d| us(d)),
            events: days.len() as u64,
            ..LoyaltyState::default()
        }
    }

    fn at(days: i64) -> DateTime<Utc> {
        t0() + Duration::days(days)
    }

    fn check_sum(s: &LoyaltyScore) {
        let sum: f64 = s.components.iter().map(|c| c.contribution).sum();
        assert!((sum - s.score).abs() < 1e-9, "{sum} vs {}", s.score);
        assert!((0.0..=100.0).contains(&s.score));
    }

    #[test]
    fn repeat_purchase_component() {
        let p = LoyaltyPolicy::default();
        let one = compute(&p, &buyer(&[0]), at(1), 0);
        let four = compute(&p, &buyer(&[0, 1, 2, 3]), at(4), 0);
        let c1 = one.component(Factor::RepeatPurchase).unwrap();
        let c4 = four.component(Factor::RepeatPurchase).unwrap();
        assert_eq!(c1.value, 1.0);
        assert_eq!(c1.normalised, 0.0);
        assert!((c4.normalised - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        check_sum(&one);
        check_sum(&four);
    }

    #[test]
    fn tenure_component() {
        let p = LoyaltyPolicy::default();
        let s = compute(&p, &buyer(&[0]), at(730), 0);
        let c = s.component(Factor::Tenure).unwrap();
        assert!((c.value - 730.0 / DAYS_PER_MONTH).abs() < 1e-9);
        assert!((c.normalised - (1.0 - (-c.value / 24.0).exp())).abs() < 1e-12);
    }

    #[test]
    fn recency_follows_the_customers_rhythm() {
        let p = LoyaltyPolicy::default();
        // A buyer every 60 days is on time 20 days after the last purchase…
        let monthly = buyer(&[0, 60, 120, 180]);
        let on_time = compute(&p, &monthly, at(200), 0);
        assert_eq!(on_time.component(Factor::Recency).unwrap().normalised, 1.0);
        // …two rhythms late is half, three rhythms late a quarter.
        let late = compute(&p, &monthly, at(300), 0);
        assert!((late.component(Factor::Recency).unwrap().normalised - 0.5).abs() < 1e-9);
        let later = compute(&p, &monthly, at(360), 0);
        assert!((later.component(Factor::Recency).unwrap().normalised - 0.25).abs() < 1e-9);
        // A one-time buyer is judged against 90 days.
        let once = compute(&p, &buyer(&[0]), at(180), 0);
        assert!((once.component(Factor::Recency).unwrap().normalised - 0.5).abs() < 1e-9);
        // A burst of purchases is floored at 30 days.
        let burst = compute(&p, &buyer(&[0, 1, 2]), at(62), 0);
        assert!((burst.component(Factor::Recency).unwrap().normalised - 0.5).abs() < 1e-9);
        // The reasons name the statistic and count whole days elapsed.
        let detail = |s: &LoyaltyScore| s.component(Factor::Recency).unwrap().detail.clone();
        assert_eq!(
            detail(&late),
            "120 days since the last transaction, 2.0× the customer's median gap of 60 days"
        );
        let nearly = compute(&p, &monthly, at(200) - Duration::seconds(1), 0);
        assert!(
            detail(&nearly).starts_with("19 days since"),
            "{}",
            detail(&nearly)
        );
        assert_eq!(
            detail(&once),
            "180 days since the only transaction, 2.0× the rhythm of 90 days assumed for a one-time buyer"
        );
        assert_eq!(
            detail(&burst),
            "60 days since the last transaction, 2.0× the shortest rhythm counted, 30 days"
        );
        let mean = LoyaltyPolicy {
            recency: crate::RecencyRule {
                statistic: GapStatistic::Mean,
                ..p.recency.clone()
            },
            ..p.clone()
        };
        assert!(detail(&compute(&mean, &monthly, at(300), 0)).ends_with("mean gap of 60 days"));
        // An explicit churn that stands zeroes recency.
        let mut churned = buyer(&[0, 60]);
        churned.churns.push(us(70));
        let s = compute(&p, &churned, at(80), 0);
        assert_eq!(s.component(Factor::Recency).unwrap().normalised, 0.0);
    }

    #[test]
    fn satisfaction_component_uses_the_curve() {
        let p = LoyaltyPolicy::default();
        let rated = |rating: u8| {
            let mut s = buyer(&[0]);
            s.ratings.push(RatingMark {
                at: us(1),
                rating: Some(rating),
                ratio: None,
            });
            compute(&p, &s, at(2), 0)
        };
        let five = rated(5);
        let four = rated(4);
        let c5 = five.component(Factor::Satisfaction).unwrap();
        let c4 = four.component(Factor::Satisfaction).unwrap();
        assert!((c5.normalised / c4.normalised - 6.0).abs() < 1e-12);
        assert!((c5.contribution / c4.contribution - 6.0).abs() < 1e-9);
        assert!(five.score > four.score);
        // perceived ÷ expected = 1.25 reads as a 5.
        let mut s = buyer(&[0]);
        s.ratings.push(RatingMark {
            at: us(1),
            rating: None,
            ratio: Some(1.25),
        });
        let by_ratio = compute(&p, &s, at(2), 0);
        assert_eq!(
            by_ratio.component(Factor::Satisfaction).unwrap().normalised,
            1.0
        );
        // Never rated: the assumed 4.
        let unrated = compute(&p, &buyer(&[0]), at(2), 0);
        assert_eq!(
            unrated.component(Factor::Satisfaction).unwrap().normalised,
            c4.normalised
        );
    }

    #[test]
    fn referral_component_counts_conversions() {
        let p = LoyaltyPolicy::default();
        let mut s = buyer(&[0]);
        s.referrals.push(ReferralMark {
            at: us(1),
            customer: Some(CustomerId::new_random()),
        });
        s.referrals.push(ReferralMark {
            at: us(2),
            customer: None,
        });
        let none = compute(&p, &s, at(3), 0);
        let one = compute(&p, &s, at(3), 1);
        // Capped at the customers referred: a prospect cannot be seen converting.
        let capped = compute(&p, &s, at(3), 5);
        let v = |s: &LoyaltyScore| s.component(Factor::Referrals).unwrap().normalised;
        assert!((v(&none) - saturate(0.5, 1.0)).abs() < 1e-12);
        assert!((v(&one) - saturate(1.25, 1.0)).abs() < 1e-12);
        assert_eq!(v(&one), v(&capped));
        assert!(one.score > none.score);
    }

    #[test]
    fn renewals_apply_only_with_decided_terms() {
        let p = LoyaltyPolicy::default();
        let shop = compute(&p, &buyer(&[0]), at(1), 0);
        let c = shop.component(Factor::Renewals).unwrap();
        assert_eq!((c.weight, c.contribution), (0.0, 0.0));
        let weights: f64 = shop
            .components
            .iter()
            .filter(|c| c.name != Factor::Complaints)
            .map(|c| c.weight)
            .sum();
        assert!((weights - 1.0).abs() < 1e-12);

        let day = |d: i64| chrono::Datelike::num_days_from_ce(&at(d).date_naive());
        let mut insured = buyer(&[0]);
        insured.purchases[0].valid_until = Some(day(364));
        let mut renewal = purchase(350);
        renewal.renewal = true;
        renewal.valid_until = Some(day(729));
        insured.purchases.push(renewal);
        let s = compute(&p, &insured, at(400), 0);
        let c = s.component(Factor::Renewals).unwrap();
        assert_eq!(c.value, 1.0);
        assert!(c.weight > 0.0);
        // Without the renewal the first term lapses after the 30-day grace.
        let mut lapsed = buyer(&[0]);
        lapsed.purchases[0].valid_until = Some(day(364));
        let pending = compute(&p, &lapsed, at(380), 0);
        assert_eq!(pending.component(Factor::Renewals).unwrap().weight, 0.0);
        let gone = compute(&p, &lapsed, at(400), 0);
        let c = gone.component(Factor::Renewals).unwrap();
        assert_eq!(c.value, 0.0);
        assert!(c.weight > 0.0);
    }

    fn complaint(
        received: i64,
        resolved: Option<i64>,
        feedback: Option<(i64, u8)>,
    ) -> ComplaintMark {
        ComplaintMark {
            received_at: us(0) + received * MICROS_PER_HOUR,
            resolved_at: resolved.map(|h| us(0) + h * MICROS_PER_HOUR),
            feedback_at: feedback.map(|(h, _)| us(0) + h * MICROS_PER_HOUR),
            feedback_rating: feedback.map(|(_, r)| r),
            harms_customer_interest: false,
            last_step: ComplaintStep::Received,
        }
    }

    #[test]
    fn complaints_weigh_down_and_quick_good_recovery_restores() {
        let p = LoyaltyPolicy::default();
        let base = buyer(&[0, 30, 60]);
        let clean = compute(&p, &base, at(61), 0);
        let with = |c: ComplaintMark| {
            let mut s = base.clone();
            s.complaints.insert("c".into(), c);
            compute(&p, &s, at(61), 0)
        };
        let open = with(complaint(1, None, None));
        assert!((clean.score - open.score - 20.0).abs() < 1e-9);
        check_sum(&open);
        let recovered = with(complaint(1, Some(20), Some((30, 5))));
        assert!((recovered.score - clean.score).abs() < 1e-12);
        let slow = with(complaint(1, Some(200), Some((210, 5))));
        assert!(slow.score < clean.score && slow.score > open.score);
        let unhappy = with(complaint(1, Some(20), Some((30, 2))));
        assert!(unhappy.score < clean.score);
        let mut harmful = complaint(1, None, None);
        harmful.harms_customer_interest = true;
        let harmed = with(harmful);
        assert!((clean.score - harmed.score - 30.0).abs() < 1e-9);
        // The penalty never takes the score below 0.
        let mut many = buyer(&[0]);
        for i in 0..20 {
            many.complaints
                .insert(format!("c{i}"), complaint(1, None, None));
        }
        let s = compute(&p, &many, at(1), 0);
        assert_eq!(s.score, 0.0);
        check_sum(&s);
    }

    #[test]
    fn tier_boundaries() {
        let p = LoyaltyPolicy::default();
        for (score, name, rank) in [
            (0.0, "bronze", 0),
            (39.999, "bronze", 0),
            (40.0, "silver", 1),
            (59.999, "silver", 1),
            (60.0, "gold", 2),
            (79.999, "gold", 2),
            (80.0, "platinum", 3),
            (100.0, "platinum", 3),
        ] {
            let tier = p.tier_for(score);
            assert_eq!((tier.name.as_str(), tier.rank), (name, rank), "{score}");
        }
    }

    #[test]
    fn events_after_as_of_are_ignored() {
        let p = LoyaltyPolicy::default();
        let all = buyer(&[0, 30, 400]);
        let early = buyer(&[0, 30]);
        assert_eq!(compute(&p, &all, at(60), 0), compute(&p, &early, at(60), 0));
    }

    #[test]
    fn components_are_sorted_by_contribution() {
        let p = LoyaltyPolicy::default();
        let s = compute(&p, &buyer(&[0, 30, 60, 90]), at(100), 0);
        for pair in s.components.windows(2) {
            assert!(pair[0].contribution >= pair[1].contribution);
        }
        check_sum(&s);
    }
}
