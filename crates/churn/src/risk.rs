//! The churn-risk score: signals from a customer's state as of a time,
//! combined by a logistic model into a probability-like risk in [0, 1], with
//! every signal's contribution as a ranked reason.

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::RenewalIntent;
use clientele_value::{BgNbd, Observation, TransactionModel};
use serde::{Deserialize, Serialize};

use crate::state::{date_of_day, day_of, ChurnState};

/// Weights and thresholds of the risk model. Defaults: see `docs/churn.md`
/// ("how the defaults were chosen").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RiskPolicy {
    /// Intercept of the logistic model.
    pub bias: f64,
    /// Intercept while a cover bought after the last purchase runs (see
    /// [`Signals::covered`]): the purchase-rhythm terms, fitted on retail
    /// purchases, do not apply then, and a policyholder leaves only by not
    /// renewing. Default `ln(0.2 / 0.8)` ≈ −1.386: one in five.
    pub covered_bias: f64,
    /// Weight of logit P(no purchase in the horizon) under the fitted BG/NBD model.
    pub w_model: f64,
    /// Weight of −ln(0.01 + expected purchases in the horizon) under BG/NBD.
    pub w_expected: f64,
    /// Weight of ln(1 + days since last purchase ÷ the customer's typical gap).
    pub w_recency: f64,
    /// Weight of ln(1 + repeat purchases): frequency (negative: regulars churn less).
    pub w_frequency: f64,
    /// Weight per complaint unanswered past the reply SLA.
    pub w_sla_breach: f64,
    /// Weight per open (unarchived) complaint.
    pub w_open_complaint: f64,
    /// Weight per point of satisfaction drop (earlier mean − latest, on 1–5).
    pub w_satisfaction_drop: f64,
    /// Weight of the spend drop (1 − recent ÷ earlier average spend, when > 0).
    pub w_spend_drop: f64,
    /// Weight when a renewal is due within `renewal_lead_days` with intent
    /// "not renewing" (full) or "considering" (half).
    pub w_renewal: f64,
    /// Weight of an explicit churn event not followed by a win-back.
    pub w_churned: f64,
    /// Floor for the typical inter-purchase gap (days), for one-time and very frequent buyers.
    pub min_gap_days: f64,
    /// Complaint reply SLA in hours (000 L574: answer within 24 h).
    pub reply_sla_hours: i64,
    /// How many days before coverage ends a renewal counts as due.
    pub renewal_lead_days: i64,
    /// Purchases compared for the spend trend (recent vs earlier, each this many).
    pub spend_window: usize,
    /// A customer who paid a **bill** (a payment with a due date: a monthly
    /// bill, a premium) within this many days is **paying**
    /// ([`Signals::paying`]): like a running cover, the purchase-rhythm terms
    /// then do not count and the intercept is `covered_bias` — a subscriber
    /// buys their plan once and then pays. A payment settling an order
    /// (no due date) does not make a customer paying: a shop that records
    /// payments keeps its buyers' rhythm. Default 60: a monthly bill and a
    /// month's grace.
    pub paying_within_days: f64,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        // Behavioural weights fitted by logistic regression on a split of the
        // CDNOW calibration period only (features at 1997-06-30, outcome = no
        // purchase in the following 13 weeks); see docs/churn.md. Service
        // signals (complaints, satisfaction, renewals, explicit churn) have no
        // CDNOW data: their weights are set on principle as log-odds (e.g. an
        // SLA breach ≈ ×2 odds, "not renewing" ≈ ×7 odds).
        Self {
            bias: 1.405,
            covered_bias: -1.386,
            w_model: 0.394,
            w_expected: -0.120,
            w_recency: 0.185,
            w_frequency: -1.106,
            w_sla_breach: 0.7,
            w_open_complaint: 0.3,
            w_satisfaction_drop: 0.4,
            w_spend_drop: 0.5,
            w_renewal: 2.0,
            w_churned: 4.0,
            min_gap_days: 30.0,
            reply_sla_hours: 24,
            renewal_lead_days: 60,
            spend_window: 3,
            paying_within_days: 60.0,
        }
    }
}

impl RiskPolicy {
    /// Checks every field: weights and intercepts finite, the gap floor
    /// positive, the reply SLA 1 h to 10 years, the renewal lead 0 to 10
    /// years, a spend window of at least 1, a paying window ≥ 0.
    /// [`crate::WarningJob::open`] and [`crate::backtest()`] call it.
    ///
    /// ```
    /// use clientele_churn::RiskPolicy;
    /// assert!(RiskPolicy::default().validate().is_ok());
    /// let bad = RiskPolicy { min_gap_days: 0.0, ..RiskPolicy::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("min_gap_days"));
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        let weights = [
            ("bias", self.bias),
            ("covered_bias", self.covered_bias),
            ("w_model", self.w_model),
            ("w_expected", self.w_expected),
            ("w_recency", self.w_recency),
            ("w_frequency", self.w_frequency),
            ("w_sla_breach", self.w_sla_breach),
            ("w_open_complaint", self.w_open_complaint),
            ("w_satisfaction_drop", self.w_satisfaction_drop),
            ("w_spend_drop", self.w_spend_drop),
            ("w_renewal", self.w_renewal),
            ("w_churned", self.w_churned),
        ];
        for (field, w) in weights {
            if !w.is_finite() {
                return crate::invalid(field, "must be a finite number");
            }
        }
        if !(self.min_gap_days.is_finite() && self.min_gap_days > 0.0) {
            return crate::invalid("min_gap_days", "must be a positive number of days");
        }
        if !(1..=87_600).contains(&self.reply_sla_hours) {
            return crate::invalid("reply_sla_hours", "must be 1 to 87,600 hours (10 years)");
        }
        if !(0..=3_650).contains(&self.renewal_lead_days) {
            return crate::invalid("renewal_lead_days", "must be 0 to 3,650 days");
        }
        if self.spend_window == 0 {
            return crate::invalid("spend_window", "must be at least 1");
        }
        if !(self.paying_within_days.is_finite() && self.paying_within_days >= 0.0) {
            return crate::invalid("paying_within_days", "must be a number of days ≥ 0");
        }
        Ok(())
    }
}

/// `n` and the noun in the right number (`1 day`, `2 days`).
fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whole days for people: `1 day`, `249 days` (rounded as `{:.0}` rounds).
fn days_text(days: f64) -> String {
    let n = format!("{days:.0}");
    let unit = if n == "1" { "day" } else { "days" };
    format!("{n} {unit}")
}

/// The fitted population model the risk uses (BG/NBD in weeks), and the horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelContext {
    /// BG/NBD parameters fitted on the population (time unit: weeks).
    pub bg_nbd: Option<BgNbd>,
    /// The horizon the risk speaks about, in days (e.g. 273 for 39 weeks).
    pub horizon_days: f64,
}

impl Default for ModelContext {
    fn default() -> Self {
        Self {
            bg_nbd: None,
            horizon_days: 90.0,
        }
    }
}

/// What the state says as of a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Transactions (purchase days) up to as-of.
    pub transactions: u32,
    /// Days since the last purchase.
    pub days_since_last_purchase: Option<f64>,
    /// The customer's mean gap between purchase days (floored).
    pub typical_gap_days: Option<f64>,
    /// BG/NBD P(alive).
    pub p_alive: Option<f64>,
    /// BG/NBD expected purchases in the horizon.
    pub expected_purchases: Option<f64>,
    /// BG/NBD probability of no purchase in the horizon.
    pub p_no_purchase: Option<f64>,
    /// Complaints unanswered past the reply SLA.
    pub sla_breaches: u32,
    /// Open (unarchived) complaints.
    pub open_complaints: u32,
    /// Earlier mean satisfaction − latest (1–5 scale), when positive.
    pub satisfaction_drop: Option<f64>,
    /// 1 − recent average spend ÷ earlier average, when positive.
    pub spend_drop: Option<f64>,
    /// A renewal due soon with this intent.
    pub renewal_due: Option<(i64, Option<RenewalIntent>)>,
    /// An explicit churn not followed by a win-back.
    pub churned: bool,
    /// The last day of the latest cover bought (a policy's `valid_until`),
    /// when it is later than the last purchase: while it runs the customer
    /// is not lapsing, whatever the purchase rhythm says.
    #[serde(default)]
    pub cover_until: Option<NaiveDate>,
    /// Whole days since that cover ended without a renewal (`0` on the day
    /// after its last day); None while it runs, or without cover.
    #[serde(default)]
    pub days_since_cover_ended: Option<f64>,
    /// Whether that cover ended because its order was cancelled (then
    /// `cover_until` is the day before the cancellation).
    #[serde(default)]
    pub cover_cancelled: bool,
    /// Whole days since the last payment of any kind (the win-back list
    /// counts silence from the latest purchase or payment).
    #[serde(default)]
    pub days_since_last_payment: Option<f64>,
    /// Whole days since the last bill paid (a payment with a due date).
    #[serde(default)]
    pub days_since_last_bill: Option<f64>,
    /// Whole days of the longest silence since the last purchase: the
    /// longest gap between it, the payments after it and as-of (see
    /// [`ChurnState::longest_silence_until`](crate::ChurnState::longest_silence_until)).
    /// The win-back list compares it with its horizon.
    #[serde(default)]
    pub longest_silence_days: Option<f64>,
    /// Whether that bill is within `RiskPolicy::paying_within_days`: the
    /// customer pays, so their silence in purchases is not lapsing.
    #[serde(default)]
    pub paying: bool,
}

impl Signals {
    /// Whether a cover bought after the last purchase still runs, or the
    /// customer is paying ([`Signals::paying`]): the purchase-rhythm terms
    /// (model, expected purchases, recency) then do not count — a
    /// policyholder buys once a term, a subscriber pays every month.
    pub fn covered(&self) -> bool {
        self.cover_runs() || self.paying
    }

    /// Whether a cover bought after the last purchase still runs.
    pub fn cover_runs(&self) -> bool {
        self.cover_until.is_some() && self.days_since_cover_ended.is_none()
    }
}

/// One signal's part in a risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Signal name (`recency`, `model`, `sla_breach`, …).
    pub signal: String,
    /// Its contribution to the log-odds (positive raises risk).
    pub contribution: f64,
    /// A sentence for people.
    pub detail: String,
}

/// A customer's churn risk as of a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskScore {
    /// Risk in [0, 1]; higher = more likely to leave.
    pub risk: f64,
    /// Reasons, the strongest first (those raising risk before those lowering it).
    pub reasons: Vec<Reason>,
    /// The signals behind it.
    pub signals: Signals,
}

/// BG/NBD observation in weeks from purchase days up to `as_of_day`.
pub fn observation(state: &ChurnState, as_of_day: i32) -> Option<Observation> {
    let mut days = state.purchases_until(as_of_day).map(|(d, _)| d);
    let first = days.next()?;
    let (count, last) = days.fold((0u32, first), |(n, _), d| (n + 1, d));
    let week = |d: i32| f64::from(d) / 7.0;
    Observation::new(
        count,
        week(last) - week(first),
        week(as_of_day) - week(first),
    )
    .ok()
}

/// The terms of the logistic model, in the order they are summed: `None`
/// when the signal is absent (zero and non-finite terms are skipped too).
const TERMS: [&str; 10] = [
    "model",
    "expected",
    "recency",
    "frequency",
    "sla_breach",
    "open_complaint",
    "satisfaction_drop",
    "spend_drop",
    "renewal",
    "churned",
];

/// Whether a term counts (as a reason and in the log-odds).
fn counts(contribution: f64) -> bool {
    contribution.is_finite() && contribution != 0.0
}

impl RiskPolicy {
    /// Extracts the signals of `state` as of `as_of`.
    pub fn signals(
        &self,
        state: &ChurnState,
        as_of: DateTime<Utc>,
        model: &ModelContext,
    ) -> Signals {
        let as_of_day = day_of(as_of);
        let now = as_of.timestamp_micros();
        let purchases = || state.purchases_until(as_of_day);
        let rhythm = state.rhythm_until(as_of_day, self.min_gap_days);
        let n = rhythm.map_or(0, |r| r.purchases as usize);
        let mut s = Signals {
            transactions: n as u32,
            days_since_last_purchase: rhythm.map(|r| f64::from(as_of_day) - f64::from(r.last)),
            typical_gap_days: rhythm.map(|r| r.typical_gap),
            ..Signals::default()
        };
        if let (Some(bg), Some(obs)) = (&model.bg_nbd, observation(state, as_of_day)) {
            let horizon_weeks = model.horizon_days / 7.0;
            s.p_alive = bg.p_alive(&obs).ok();
            s.expected_purchases = bg.conditional_expected_purchases(&obs, horizon_weeks).ok();
            if let Some(alive) = s.p_alive {
                // Alive customers purchase at rate λ ~ Gamma(r + x, α + T):
                // P(no purchase in h | alive) = ((α + T) / (α + T + h))^(r + x).
                let (r, alpha) = (bg.r(), bg.alpha());
                let x = f64::from(obs.frequency());
                let quiet = ((alpha + obs.t()) / (alpha + obs.t() + horizon_weeks)).powf(r + x);
                s.p_no_purchase = Some((1.0 - alive) + alive * quiet);
            }
        }
        let sla = self.reply_sla_hours.saturating_mul(3_600_000_000);
        for c in state.complaints.values().filter(|c| c.received_at <= now) {
            let answered = c.answered_at.filter(|&a| a <= now);
            if !c.archived {
                s.open_complaints += 1;
            }
            let late = match answered {
                Some(a) => {
                    a.saturating_sub(c.received_at) > sla
                        && now.saturating_sub(a) < 90 * 86_400_000_000
                }
                None => now.saturating_sub(c.received_at) > sla,
            };
            if late {
                s.sla_breaches += 1;
            }
        }
        let ratings = || {
            state
                .ratings
                .iter()
                .filter(|(t, _)| *t <= now)
                .map(|(_, v)| *v)
        };
        let rated = ratings().count();
        if rated >= 2 {
            let latest = ratings().next_back().unwrap_or(f64::NAN);
            let mean = ratings().take(rated - 1).sum::<f64>() / (rated - 1) as f64;
            s.satisfaction_drop = Some(mean - latest).filter(|d| *d > 0.0);
        }
        let w = self.spend_window.max(1);
        if n >= 2 * w {
            let avg = |skip: usize| {
                purchases()
                    .skip(skip)
                    .take(w)
                    .map(|(_, a)| a as f64)
                    .sum::<f64>()
                    / w as f64
            };
            let recent = avg(n - w);
            let earlier = avg(n - 2 * w);
            if earlier > 0.0 {
                s.spend_drop = Some(1.0 - recent / earlier).filter(|d| *d > 0.0);
            }
        }
        if let Some(due) = rhythm.and_then(|r| state.cover_after(r.last)) {
            s.cover_until = date_of_day(due);
            s.cover_cancelled = state.cover_cancelled;
            s.days_since_cover_ended =
                (as_of_day > due).then(|| f64::from(as_of_day) - f64::from(due) - 1.0);
        }
        if let Some(due) = state.renewal_due {
            let days = i64::from(due) - i64::from(as_of_day);
            if (0..=self.renewal_lead_days).contains(&days) {
                let intent = state.intent.filter(|(_, t)| *t <= now).map(|(i, _)| i);
                s.renewal_due = Some((days, intent));
            }
        }
        if let Some(paid) = state.last_payment_until(as_of_day) {
            s.days_since_last_payment = Some(f64::from(as_of_day) - f64::from(paid));
        }
        s.longest_silence_days = state.longest_silence_until(as_of_day).map(f64::from);
        if let Some(billed) = state.last_bill_until(as_of_day) {
            let days = f64::from(as_of_day) - f64::from(billed);
            s.days_since_last_bill = Some(days);
            s.paying = days <= self.paying_within_days;
        }
        s.churned = state.churned_at.is_some_and(|t| t <= now);
        s
    }

    /// Each term's contribution to the log-odds, in the order of [`TERMS`].
    fn contributions(&self, s: &Signals) -> [Option<f64>; 10] {
        let rhythm = !s.covered();
        let model = s.p_no_purchase.filter(|_| rhythm).map(|p| {
            let p = p.clamp(1e-6, 1.0 - 1e-6);
            self.w_model * (p / (1.0 - p)).ln()
        });
        let expected = s
            .expected_purchases
            .filter(|_| rhythm)
            .map(|e| -self.w_expected * (e + 0.01).ln());
        let recency = match (s.days_since_last_purchase, s.typical_gap_days) {
            _ if !rhythm => None,
            (Some(days), Some(gap)) => Some(self.w_recency * (days / gap).ln_1p()),
            _ => Some(self.w_recency * 3f64.ln_1p()),
        };
        let repeats = s.transactions.saturating_sub(1);
        let renewal = s.renewal_due.map(|(_, intent)| {
            let factor = match intent {
                Some(RenewalIntent::NotRenewing) => 1.0,
                Some(RenewalIntent::Considering) | None => 0.5,
                Some(RenewalIntent::Continue) => 0.0,
            };
            self.w_renewal * factor
        });
        [
            model,
            expected,
            recency,
            Some(self.w_frequency * f64::from(repeats).ln_1p()),
            Some(self.w_sla_breach * f64::from(s.sla_breaches)),
            Some(self.w_open_complaint * f64::from(s.open_complaints)),
            s.satisfaction_drop.map(|d| self.w_satisfaction_drop * d),
            s.spend_drop.map(|d| self.w_spend_drop * d),
            renewal,
            s.churned.then_some(self.w_churned),
        ]
    }

    /// The risk of the summed terms.
    fn risk_of(&self, s: &Signals, contributions: &[Option<f64>; 10]) -> f64 {
        let bias = if s.covered() {
            self.covered_bias
        } else {
            self.bias
        };
        let logit = bias
            + contributions
                .iter()
                .flatten()
                .copied()
                .filter(|c| counts(*c))
                .sum::<f64>();
        let risk = 1.0 / (1.0 + (-logit).exp());
        if risk.is_finite() {
            risk
        } else {
            1.0
        }
    }

    /// The risk of `state` as of `as_of`: [`RiskPolicy::score`]'s `risk`
    /// without the reasons (cheaper, for scans over time).
    pub fn risk(&self, state: &ChurnState, as_of: DateTime<Utc>, model: &ModelContext) -> f64 {
        let signals = self.signals(state, as_of, model);
        self.risk_of(&signals, &self.contributions(&signals))
    }

    /// The risk of `state` as of `as_of`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clientele_churn::{RiskPolicy, ModelContext, ChurnState};
    /// let mut state = ChurnState::default();
    /// state.purchase_days.insert(19_000, 5_000);
    /// let soon = Utc.with_ymd_and_hms(2022, 1, 20, 0, 0, 0).unwrap(); // ~3 weeks later
    /// let late = Utc.with_ymd_and_hms(2023, 1, 20, 0, 0, 0).unwrap();
    /// let policy = RiskPolicy::default();
    /// let a = policy.score(&state, soon, &ModelContext::default());
    /// let b = policy.score(&state, late, &ModelContext::default());
    /// assert!(b.risk > a.risk);
    /// assert_eq!(b.reasons[0].signal, "recency");
    /// ```
    pub fn score(
        &self,
        state: &ChurnState,
        as_of: DateTime<Utc>,
        model: &ModelContext,
    ) -> RiskScore {
        let signals = self.signals(state, as_of, model);
        let contributions = self.contributions(&signals);
        let mut reasons = Vec::new();
        for (i, (signal, contribution)) in TERMS.iter().zip(contributions).enumerate() {
            let Some(contribution) = contribution.filter(|c| counts(*c)) else {
                continue;
            };
            reasons.push(Reason {
                signal: (*signal).to_owned(),
                contribution,
                detail: self.detail(i, &signals, model),
            });
        }
        let risk = self.risk_of(&signals, &contributions);
        reasons.sort_by(|a, b| {
            b.contribution
                .total_cmp(&a.contribution)
                .then_with(|| a.signal.cmp(&b.signal))
        });
        RiskScore {
            risk,
            reasons,
            signals,
        }
    }

    /// The sentence for term `i` of [`TERMS`].
    fn detail(&self, i: usize, s: &Signals, model: &ModelContext) -> String {
        match TERMS[i] {
            "model" => {
                let p = s.p_no_purchase.unwrap_or(f64::NAN).clamp(1e-6, 1.0 - 1e-6);
                let chance = format!(
                    "population model: {:.0}% chance of no purchase in the next {:.0} days",
                    100.0 * p,
                    model.horizon_days
                );
                if s.transactions <= 1 {
                    // BG/NBD lets a customer drop out only right after a
                    // repeat purchase, so P(alive) is 1 until there is one:
                    // say what the chance rests on instead of "P(alive) 1.00".
                    format!("{chance} (one purchase so far: taken as active, buying rarely)")
                } else {
                    format!("{chance} (P(alive) {:.2})", s.p_alive.unwrap_or(f64::NAN))
                }
            }
            "expected" => format!(
                "expected to buy {:.2} times in the next {:.0} days",
                s.expected_purchases.unwrap_or(f64::NAN),
                model.horizon_days
            ),
            "recency" => match (s.days_since_last_purchase, s.typical_gap_days) {
                (Some(days), Some(gap)) => {
                    let (days_text, gap_text, ratio) =
                        (days_text(days), days_text(gap), days / gap);
                    if let (Some(until), Some(ended)) = (s.cover_until, s.days_since_cover_ended) {
                        let how = match until.succ_opt().filter(|_| s.cover_cancelled) {
                            Some(day) => format!("cover cancelled on {day}"),
                            None => format!("cover to {until} not renewed"),
                        };
                        format!(
                            "{how} ({} since it ended); {days_text} since the last purchase",
                            self::days_text(ended)
                        )
                    } else if s.transactions <= 1 {
                        format!(
                            "{days_text} since the only purchase, {ratio:.1}× the gap of {gap_text} assumed for a one-time buyer"
                        )
                    } else if gap <= self.min_gap_days {
                        format!(
                            "{days_text} since the last purchase, {ratio:.1}× the shortest gap counted, {gap_text} (the customer usually buys at least that often)"
                        )
                    } else {
                        format!(
                            "{days_text} since the last purchase, {ratio:.1}× the customer's mean gap of {gap_text}"
                        )
                    }
                }
                _ => "has never purchased".to_owned(),
            },
            "frequency" => count(
                i64::from(s.transactions.saturating_sub(1)),
                "repeat purchase",
                "repeat purchases",
            ),
            "sla_breach" => format!(
                "{} not answered within {} h",
                count(i64::from(s.sla_breaches), "complaint", "complaints"),
                self.reply_sla_hours
            ),
            "open_complaint" => format!(
                "{} still open",
                count(i64::from(s.open_complaints), "complaint", "complaints")
            ),
            "satisfaction_drop" => format!(
                "satisfaction fell by {:.1} points",
                s.satisfaction_drop.unwrap_or(f64::NAN)
            ),
            "spend_drop" => format!(
                "recent spend {:.0}% below earlier",
                100.0 * s.spend_drop.unwrap_or(f64::NAN)
            ),
            "renewal" => {
                let (days, intent) = s.renewal_due.unwrap_or((0, None));
                let said = match intent {
                    Some(RenewalIntent::NotRenewing) => "said not renewing",
                    Some(RenewalIntent::Considering) => "is considering",
                    Some(RenewalIntent::Continue) => "intends to continue",
                    None => "no intent recorded",
                };
                format!("renewal due in {}; {said}", count(days, "day", "days"))
            }
            _ => "explicit churn recorded, no win-back since".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use clientele_value::BgNbd;

    /// A state with purchases on `days` (days since 1970-01-01).
    fn bought_on(days: &[i32]) -> ChurnState {
        let mut state = ChurnState::default();
        for &d in days {
            state.purchase_days.insert(d, 5_000);
        }
        state
    }

    fn detail_of(score: &RiskScore, signal: &str) -> String {
        score
            .reasons
            .iter()
            .find(|r| r.signal == signal)
            .map(|r| r.detail.clone())
            .unwrap_or_default()
    }

    #[test]
    fn recency_says_which_gap_it_measured_against() {
        let policy = RiskPolicy::default();
        let model = ModelContext::default();
        // Day 19_000 is 2022-01-08; as of 2022-12-24 is day 19_350.
        let as_of = Utc.with_ymd_and_hms(2022, 12, 24, 12, 0, 0).unwrap();
        let once = policy.score(&bought_on(&[19_000]), as_of, &model);
        assert_eq!(
            detail_of(&once, "recency"),
            "350 days since the only purchase, 11.7× the gap of 30 days assumed for a one-time buyer"
        );
        let weekly = policy.score(&bought_on(&[19_000, 19_007, 19_014]), as_of, &model);
        assert_eq!(
            detail_of(&weekly, "recency"),
            "336 days since the last purchase, 11.2× the shortest gap counted, 30 days (the customer usually buys at least that often)"
        );
        let bimonthly = policy.score(&bought_on(&[19_000, 19_060, 19_120]), as_of, &model);
        assert_eq!(
            detail_of(&bimonthly, "recency"),
            "230 days since the last purchase, 3.8× the customer's mean gap of 60 days"
        );
    }

    #[test]
    fn the_model_reason_does_not_claim_a_one_time_buyer_is_surely_alive() {
        let policy = RiskPolicy::default();
        let model = ModelContext {
            bg_nbd: BgNbd::new(0.243, 4.414, 0.793, 2.426).ok(),
            horizon_days: 91.0,
        };
        let as_of = Utc.with_ymd_and_hms(2022, 12, 24, 12, 0, 0).unwrap();
        let once = policy.score(&bought_on(&[19_000]), as_of, &model);
        assert_eq!(once.signals.p_alive, Some(1.0));
        let detail = detail_of(&once, "model");
        assert!(
            detail.ends_with("(one purchase so far: taken as active, buying rarely)"),
            "{detail}"
        );
        assert!(!detail.contains("P(alive)"), "{detail}");
        let twice = policy.score(&bought_on(&[19_000, 19_100]), as_of, &model);
        let p_alive = twice.signals.p_alive.unwrap_or(f64::NAN);
        assert!(p_alive < 1.0, "{p_alive}");
        let detail = detail_of(&twice, "model");
        assert!(
            detail.ends_with(&format!("(P(alive) {p_alive:.2})")),
            "{detail}"
        );
    }

    /// A bill paid (with a due date) makes a customer paying; an order
    /// settled after the purchase (no due date) does not: a shop recording
    /// payments keeps its buyers' rhythm.
    #[test]
    fn bills_make_a_customer_paying_order_payments_do_not() {
        let policy = RiskPolicy::default();
        let model = ModelContext::default();
        let as_of = Utc.with_ymd_and_hms(2022, 12, 24, 12, 0, 0).unwrap(); // day 19_350
        let mut settled = bought_on(&[19_000, 19_030, 19_060]);
        settled.payment_days.insert(19_340, false);
        let score = policy.score(&settled, as_of, &model);
        assert!(!score.signals.paying && !score.signals.covered());
        assert_eq!(score.signals.days_since_last_payment, Some(10.0));
        assert_eq!(score.signals.days_since_last_bill, None);
        assert!(score.reasons.iter().any(|r| r.signal == "recency"));
        let mut billed = settled.clone();
        billed.payment_days.insert(19_320, true);
        let score = policy.score(&billed, as_of, &model);
        assert!(score.signals.paying && score.signals.covered());
        assert_eq!(score.signals.days_since_last_bill, Some(30.0));
        assert!(score.reasons.iter().all(|r| r.signal != "recency"));
        // Sixty days is the window.
        let later = Utc.with_ymd_and_hms(2023, 1, 23, 12, 0, 0).unwrap(); // day 19_380
        assert!(policy.score(&billed, later, &model).signals.paying);
        let lapsed = later + chrono::Duration::days(1);
        assert!(!policy.score(&billed, lapsed, &model).signals.paying);
    }

    #[test]
    fn a_running_cover_replaces_the_purchase_rhythm() {
        let policy = RiskPolicy::default();
        let model = ModelContext {
            bg_nbd: BgNbd::new(0.243, 4.414, 0.793, 2.426).ok(),
            horizon_days: 91.0,
        };
        let mut state = bought_on(&[19_000]);
        state.renewal_due = Some(19_364); // the cover's last day, 2023-01-07
        let mid_term = Utc.with_ymd_and_hms(2022, 10, 1, 12, 0, 0).unwrap();
        let covered = policy.score(&state, mid_term, &model);
        assert!(covered.signals.covered());
        assert_eq!(
            covered.signals.cover_until,
            NaiveDate::from_ymd_opt(2023, 1, 7)
        );
        // Facts are kept; the rhythm terms do not count.
        assert!(covered.signals.p_alive.is_some());
        assert!(covered
            .reasons
            .iter()
            .all(|r| !["model", "expected", "recency"].contains(&r.signal.as_str())));
        let prior = 1.0 / (1.0 + (-policy.covered_bias).exp());
        assert!((covered.risk - prior).abs() < 1e-12, "{}", covered.risk);
        let without_cover = policy.score(&bought_on(&[19_000]), mid_term, &model);
        assert!(without_cover.risk > 0.75, "{}", without_cover.risk);
        // The day after its last day: lapsed, and the rhythm is back.
        let lapsed = Utc.with_ymd_and_hms(2023, 1, 8, 9, 0, 0).unwrap();
        let score = policy.score(&state, lapsed, &model);
        assert!(!score.signals.covered());
        assert_eq!(score.signals.days_since_cover_ended, Some(0.0));
        assert!(score.risk > 0.75, "{}", score.risk);
        assert_eq!(
            detail_of(&score, "recency"),
            "cover to 2023-01-07 not renewed (0 days since it ended); 365 days since the last purchase"
        );
        // A cover that ended before the last purchase does not count.
        let mut later = bought_on(&[19_000, 19_400]);
        later.renewal_due = Some(19_364);
        let score = policy.score(&later, lapsed + chrono::Duration::days(60), &model);
        assert_eq!(score.signals.cover_until, None);
        assert!(!score.signals.covered());
    }

    #[test]
    fn a_cancelled_cover_ends_on_the_day_of_the_cancellation() {
        use clientele_core::event::{Cancellation, Purchase};
        use clientele_core::privacy::PersonalData;
        use clientele_core::{CustomerId, EventId, EventPayload, Metadata, RecordedEvent};
        let event = |at: DateTime<Utc>, n: u8, payload: EventPayload| RecordedEvent {
            event_id: EventId::derived(&[n]),
            customer_id: CustomerId::from_external("t", "c"),
            version: u64::from(n),
            position: u64::from(n),
            occurred_at: at,
            recorded_at: at,
            schema_version: 1,
            metadata: Metadata::default(),
            payload,
            personal_data: PersonalData::None,
        };
        let bought = Utc.with_ymd_and_hms(2024, 1, 10, 10, 0, 0).unwrap();
        let cancelled = Utc.with_ymd_and_hms(2024, 6, 14, 10, 0, 0).unwrap();
        let mut policy = Purchase::new("P-1", "4200.00".parse().unwrap(), "CNY".parse().unwrap());
        policy.valid_until = NaiveDate::from_ymd_opt(2025, 1, 9);
        let mut state = ChurnState::default();
        state.apply(&event(bought, 1, policy.into()));
        let cancel = |order: &str| Cancellation {
            order_id: order.into(),
            reason: None,
        };
        // Another order's cancellation leaves the cover alone.
        state.apply(&event(bought, 2, cancel("other").into()));
        assert_eq!(state.renewal_due, Some(day_of_date_for_test(2025, 1, 9)));
        state.apply(&event(cancelled, 3, cancel("P-1").into()));
        assert!(state.cover_cancelled);
        let policy = RiskPolicy::default();
        let model = ModelContext::default();
        let before = policy.score(&state, cancelled - chrono::Duration::days(1), &model);
        assert!(before.signals.covered());
        let after = policy.score(&state, cancelled + chrono::Duration::days(3), &model);
        assert!(!after.signals.covered());
        assert_eq!(after.signals.days_since_cover_ended, Some(3.0));
        assert!(
            detail_of(&after, "recency")
                .starts_with("cover cancelled on 2024-06-14 (3 days since it ended); "),
            "{}",
            detail_of(&after, "recency")
        );
    }

    fn day_of_date_for_test(y: i32, m: u32, d: u32) -> i32 {
        crate::state::day_of_date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }
}
