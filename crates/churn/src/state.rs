//! The churn fold: what each customer's events say about the risk of losing
//! them, kept small and deterministic (plain structs and `BTreeMap`s).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::{ComplaintStep, EventPayload, RenewalIntent};
use clientele_core::projection::Projection;
use clientele_core::RecordedEvent;
use serde::{Deserialize, Serialize};

/// Days since 1970-01-01 (UTC) of a time.
pub fn day_of(t: DateTime<Utc>) -> i32 {
    i32::try_from(t.timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

/// Days since 1970-01-01 of a date.
pub fn day_of_date(d: NaiveDate) -> i32 {
    d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN))
        .num_days() as i32
}

/// The date of a day number (days since 1970-01-01); None past chrono's calendar.
pub fn date_of_day(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(i64::from(day)))
}

/// One complaint, as far as churn cares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintTrack {
    /// When it was received (µs since the epoch).
    pub received_at: i64,
    /// When the customer got an answer (`resolved` or later), if yet.
    pub answered_at: Option<i64>,
    /// Whether it was archived (the matter is closed).
    pub archived: bool,
    /// The customer's rating of the handling.
    pub feedback: Option<u8>,
}

/// The per-customer churn state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnState {
    /// First event (µs).
    pub first_seen: Option<i64>,
    /// Spend per purchase day (minor units; same-day purchases are one transaction).
    pub purchase_days: BTreeMap<i32, i64>,
    /// Days with a payment: a customer who pays is in a live relationship,
    /// purchases or not. The value says whether one of the day's payments
    /// was a **bill** (it had a due date: a monthly bill, a premium), as
    /// opposed to an order settled after the purchase.
    #[serde(default)]
    pub payment_days: BTreeMap<i32, bool>,
    /// Complaints by id.
    pub complaints: BTreeMap<String, ComplaintTrack>,
    /// Satisfaction observations on the 1–5 scale (time µs, value), oldest first.
    pub ratings: Vec<(i64, f64)>,
    /// Latest coverage end (day number) of a policy or contract; the day
    /// before its cancellation if the order that bought it was cancelled.
    pub renewal_due: Option<i32>,
    /// The order of the purchase that set `renewal_due`.
    #[serde(default)]
    pub cover_order: Option<String>,
    /// Whether that order was cancelled (a surrendered policy).
    #[serde(default)]
    pub cover_cancelled: bool,
    /// Latest stated renewal intent and when (µs).
    pub intent: Option<(RenewalIntent, i64)>,
    /// Explicit churn (µs), cleared by a later reactivation or purchase.
    pub churned_at: Option<i64>,
    /// Last reactivation (µs).
    pub reactivated_at: Option<i64>,
    /// Latest business time of any event folded (µs): the state holds for
    /// every as-of from then on, until new events arrive.
    pub last_seen: Option<i64>,
    /// Highest stream version folded (the events behind the state are those
    /// up to it).
    pub version: u64,
}

/// How many satisfaction observations are kept.
pub const RATINGS_KEPT: usize = 16;

impl ChurnState {
    /// Folds one event (called in business-time order).
    pub fn apply(&mut self, event: &RecordedEvent) {
        let at = event.occurred_at.timestamp_micros();
        self.first_seen.get_or_insert(at);
        self.last_seen = Some(self.last_seen.map_or(at, |l| l.max(at)));
        self.version = self.version.max(event.version);
        match &event.payload {
            EventPayload::Purchase(p) => {
                *self
                    .purchase_days
                    .entry(day_of(event.occurred_at))
                    .or_default() += p.amount.units();
                if let Some(until) = p.valid_until {
                    let due = day_of_date(until);
                    if self.renewal_due.is_none_or(|d| due > d) {
                        self.renewal_due = Some(due);
                        self.cover_order = Some(p.order_id.clone());
                        self.cover_cancelled = false;
                    }
                }
                self.churned_at = None;
            }
            EventPayload::Contact(c) => {
                if let Some(r) = c.rating {
                    self.rate(at, f64::from(r));
                } else if let Some(s) = c.satisfaction() {
                    // perceived ÷ expected = 1 maps to 4 ("met expectations"); clamp to the scale.
                    self.rate(at, (4.0 * s).clamp(1.0, 5.0));
                }
                if let Some(intent) = c.renewal_intent {
                    self.intent = Some((intent, at));
                }
            }
            EventPayload::Complaint(c) => {
                let track = self.complaints.entry(c.complaint_id.clone()).or_default();
                if c.step == ComplaintStep::Received {
                    track.received_at = at;
                }
                if c.step.is_resolved() && track.answered_at.is_none() {
                    track.answered_at = Some(at);
                }
                if c.step == ComplaintStep::Archived {
                    track.archived = true;
                }
                if c.feedback_rating.is_some() {
                    track.feedback = c.feedback_rating;
                }
            }
            EventPayload::Cancellation(c) => {
                // The cover ends with the cancellation of its order.
                let day = day_of(event.occurred_at);
                if self.cover_order.as_deref() == Some(c.order_id.as_str())
                    && !self.cover_cancelled
                    && self.renewal_due.is_some_and(|due| day <= due)
                {
                    self.renewal_due = Some(day.saturating_sub(1));
                    self.cover_cancelled = true;
                }
            }
            EventPayload::Payment(p) => {
                *self
                    .payment_days
                    .entry(day_of(event.occurred_at))
                    .or_default() |= p.due_date.is_some();
            }
            EventPayload::Churn(_) => self.churned_at = Some(at),
            EventPayload::Reactivation(_) => {
                self.reactivated_at = Some(at);
                self.churned_at = None;
            }
            _ => {}
        }
    }

    fn rate(&mut self, at: i64, value: f64) {
        self.ratings.push((at, value));
        if self.ratings.len() > RATINGS_KEPT {
            self.ratings.remove(0);
        }
    }

    /// Purchase days on or before `day`.
    pub fn purchases_until(&self, day: i32) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.purchase_days.range(..=day).map(|(d, a)| (*d, *a))
    }

    /// The last day of the latest cover when it ends after `last_purchase`
    /// (a day number): a cover the purchase rhythm does not describe (see
    /// `Signals::covered` and the win-back rule).
    pub fn cover_after(&self, last_purchase: i32) -> Option<i32> {
        self.renewal_due.filter(|&due| due > last_purchase)
    }

    /// The purchase rhythm up to `day` (inclusive): the mean gap between
    /// purchase days, first to last, floored at `min_gap` days (the floor
    /// applies to the mean, not to each gap; one purchase has the floor as
    /// its gap); None before any purchase. Both the risk's signals and the
    /// win-back horizon read the rhythm from here.
    pub fn rhythm_until(&self, day: i32, min_gap: f64) -> Option<Rhythm> {
        let mut days = self.purchase_days.range(..=day).map(|(d, _)| *d);
        let first = days.next()?;
        let (purchases, last) = days.fold((1u32, first), |(n, _), d| (n + 1, d));
        let mean = if purchases > 1 {
            (f64::from(last) - f64::from(first)) / f64::from(purchases - 1)
        } else {
            0.0
        };
        Some(Rhythm {
            purchases,
            last,
            typical_gap: mean.max(min_gap),
        })
    }

    /// Whether the customer purchased in `(from, to]` (day numbers).
    pub fn purchased_between(&self, from: i32, to: i32) -> bool {
        // An empty window (`to <= from`): a reversed range would panic.
        from < to && self.purchase_days.range(from + 1..=to).next().is_some()
    }

    /// Whether the customer paid in `(from, to]` (day numbers).
    pub fn paid_between(&self, from: i32, to: i32) -> bool {
        from < to && self.payment_days.range(from + 1..=to).next().is_some()
    }

    /// The day of the last payment on or before `day`.
    pub fn last_payment_until(&self, day: i32) -> Option<i32> {
        self.payment_days.range(..=day).next_back().map(|(d, _)| *d)
    }

    /// The longest silence, in days, from the last purchase or reactivation
    /// on or before `day` to `day`: the longest gap between it, the payments
    /// after it and `day` itself. None before any purchase.
    ///
    /// A customer silent for the exit horizon has left; a payment made after
    /// that settles a debt but does not undo the silence, so the longest gap
    /// decides, not the last one. A reactivation is a win-back (000 L332):
    /// silence counts from it again, as the lifecycle's inactivity does.
    pub fn longest_silence_until(&self, day: i32) -> Option<i32> {
        let bought = self
            .purchase_days
            .range(..=day)
            .next_back()
            .map(|(d, _)| *d)?;
        let last = bought.max(self.last_reactivation_until(day).unwrap_or(bought));
        // In i64: stored days may sit at the ends of i32.
        let mut previous = i64::from(last);
        let mut longest = 0i64;
        // `(last, day]`, empty when they are the same day (a reversed range
        // would panic).
        let after = (last < day).then(|| self.payment_days.range(last + 1..=day));
        for (&paid, _) in after.into_iter().flatten() {
            longest = longest.max(i64::from(paid) - previous);
            previous = i64::from(paid);
        }
        let longest = longest.max(i64::from(day) - previous);
        Some(i32::try_from(longest).unwrap_or(i32::MAX))
    }

    /// The day of the last reactivation (a win-back) on or before `day`.
    pub fn last_reactivation_until(&self, day: i32) -> Option<i32> {
        self.reactivated_at
            .map(|t| t.div_euclid(86_400_000_000))
            .and_then(|d| i32::try_from(d).ok())
            .filter(|d| *d <= day)
    }

    /// The day of the last bill paid (a payment with a due date) on or
    /// before `day`.
    pub fn last_bill_until(&self, day: i32) -> Option<i32> {
        self.payment_days
            .range(..=day)
            .rev()
            .find(|(_, bill)| **bill)
            .map(|(d, _)| *d)
    }
}

/// A customer's purchase rhythm (see [`ChurnState::rhythm_until`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rhythm {
    /// Purchase days so far.
    pub purchases: u32,
    /// The last purchase day (days since 1970-01-01).
    pub last: i32,
    /// The typical gap between purchases in days: the mean gap between the
    /// first and the last purchase day, at least the floor given (the floor
    /// itself for a single purchase).
    pub typical_gap: f64,
}

/// The projection folding [`ChurnState`]; its version changes with the state's shape.
#[derive(Debug, Clone, Default)]
pub struct ChurnProjection;

impl Projection for ChurnProjection {
    type State = ChurnState;

    fn name(&self) -> &str {
        "churn"
    }

    fn version(&self) -> u64 {
        // 4: payment days; 5: which of them had a bill.
        5
    }

    fn apply(&self, state: &mut ChurnState, event: &RecordedEvent) {
        state.apply(event);
    }
    /// Amounts, dates, steps and ratings only: events are read without
    /// decrypting their personal fields.
    fn reads_personal_data(&self) -> bool {
        false
    }
}
