//! The per-customer loyalty state: a compact, policy-free record of the
//! loyalty-relevant facts in one customer's events, each with its business
//! time, so that scores, points and metrics can be evaluated **as of** any
//! time without reading the clock.
//!
//! The state is stored by the projection runtime with postcard: it holds only
//! plain structs, `Vec`s and `BTreeMap`s, so equal folds give equal bytes.
//! It holds no personal data: order and complaint ids are public (see
//! `docs/privacy.md`), prospect references are reduced to "a prospect", and of
//! `profile` events only the public `segment` map is kept.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::{ComplaintStep, Referred};
use clientele_core::{CustomerId, EventPayload, RecordedEvent};
use serde::{Deserialize, Serialize};

/// Microseconds in a day.
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub(crate) const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Days between two instants in microseconds (`to − from`), without overflow.
pub(crate) fn days_between(from: i64, to: i64) -> f64 {
    (i128::from(to) - i128::from(from)) as f64 / MICROS_PER_DAY as f64
}

/// A stable 64-bit FNV-1a hash (used for order ids and policy versions).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Days from the common era of a date (compact, ordered).
pub(crate) fn date_days(date: NaiveDate) -> i32 {
    chrono::Datelike::num_days_from_ce(&date)
}

/// The instant (µs) a cover whose last day is `days` (from CE) runs out: the
/// midnight (UTC) after that day.
pub(crate) fn due_instant(days: i32) -> i64 {
    // 0001-01-01 is day 1 from CE; the Unix epoch is day 719_163.
    (i64::from(days) - 719_163 + 1).saturating_mul(MICROS_PER_DAY)
}

/// A time in microseconds as a UTC date-time (clamped to chrono's range).
pub(crate) fn to_datetime(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(if micros < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// One purchase (an order, or a policy bought or renewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseMark {
    /// Business time, µs since the Unix epoch.
    pub at: i64,
    /// FNV-1a hash of the order id (matches cancellations; no text kept).
    pub order: u64,
    /// The amount's mantissa (`units × 10^-scale`, never negative in a valid log).
    pub units: i64,
    /// The amount's number of decimal places.
    pub scale: u8,
    /// `purchase.renewal`: this renews an existing policy or contract.
    pub renewal: bool,
    /// `purchase.valid_until` (days from CE): the renewal due date.
    pub valid_until: Option<i32>,
    /// When the order was cancelled (µs), if it was.
    pub cancelled_at: Option<i64>,
}

impl PurchaseMark {
    /// Whether the purchase counts at `t`: made by then and not cancelled by then.
    pub fn counts_at(&self, t: i64) -> bool {
        self.at <= t && self.cancelled_at.is_none_or(|c| c > t)
    }
}

/// One bill or instalment paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMark {
    /// Business time, µs.
    pub at: i64,
    /// The amount's mantissa.
    pub units: i64,
    /// The amount's number of decimal places.
    pub scale: u8,
    /// `payment.late`: paid after the due date.
    pub late: bool,
    /// FNV-1a hash of `payment.reference`: a payment whose reference is an
    /// order bought settles it, any other is a bill (see
    /// [`LoyaltyState::bills_at`]).
    pub reference: u64,
}

/// One satisfaction measurement from a `contact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingMark {
    /// Business time, µs.
    pub at: i64,
    /// The 1–5 rating, if given (001 L39).
    pub rating: Option<u8>,
    /// perceived ÷ expected, if given (001 L76, 003 L89–90).
    pub ratio: Option<f64>,
}

/// One complaint, from its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintMark {
    /// When it was received (its first step), µs.
    pub received_at: i64,
    /// When it first reached `resolved` or a later step, µs.
    pub resolved_at: Option<i64>,
    /// When the customer last rated the handling, µs.
    pub feedback_at: Option<i64>,
    /// The customer's latest rating of the handling (1–5).
    pub feedback_rating: Option<u8>,
    /// Whether any step said customer interests were harmed (000 L552–554).
    pub harms_customer_interest: bool,
    /// The furthest step reached.
    pub last_step: ComplaintStep,
}

/// One referral made by the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralMark {
    /// Business time, µs.
    pub at: i64,
    /// The referred customer, or `None` for a prospect (whose reference is
    /// personal data and is not kept).
    pub customer: Option<CustomerId>,
}

/// Everything the loyalty views need from one customer's events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LoyaltyState {
    /// Purchases in business-time order.
    pub purchases: Vec<PurchaseMark>,
    /// Payments in business-time order.
    pub payments: Vec<PaymentMark>,
    /// Satisfaction ratings in business-time order.
    pub ratings: Vec<RatingMark>,
    /// Complaints by complaint id.
    pub complaints: BTreeMap<String, ComplaintMark>,
    /// Referrals in business-time order.
    pub referrals: Vec<ReferralMark>,
    /// Explicit churn times (µs).
    pub churns: Vec<i64>,
    /// Win-back times (µs).
    pub reactivations: Vec<i64>,
    /// Cancellations seen before their order (order hash, time µs); applied
    /// when the order arrives.
    pub pending_cancellations: Vec<(u64, i64)>,
    /// The latest `profile.segment` map (public analytics data).
    pub segment: BTreeMap<String, String>,
    /// Events folded.
    pub events: u64,
    /// Business time of the first event folded (µs).
    pub first_event_at: Option<i64>,
}

impl LoyaltyState {
    /// Folds one event (called in business-time order by the runtime).
    pub fn apply(&mut self, event: &RecordedEvent) {
        let at = event.occurred_at.timestamp_micros();
        self.events += 1;
        if self.first_event_at.is_none_or(|f| at < f) {
            self.first_event_at = Some(at);
        }
        match &event.payload {
            EventPayload::Purchase(p) => {
                let order = fnv1a(p.order_id.as_bytes());
                let cancelled_at = self
                    .pending_cancellations
                    .iter()
                    .position(|&(o, _)| o == order)
                    .map(|i| self.pending_cancellations.remove(i).1);
                self.purchases.push(PurchaseMark {
                    at,
                    order,
                    units: p.amount.units(),
                    scale: p.amount.scale(),
                    renewal: p.renewal,
                    valid_until: p.valid_until.map(date_days),
                    cancelled_at,
                });
            }
            EventPayload::Cancellation(c) => {
                let order = fnv1a(c.order_id.as_bytes());
                match self
                    .purchases
                    .iter_mut()
                    .rev()
                    .find(|p| p.order == order && p.cancelled_at.is_none())
                {
                    Some(p) => p.cancelled_at = Some(at),
                    None => self.pending_cancellations.push((order, at)),
                }
            }
            EventPayload::Payment(p) => self.payments.push(PaymentMark {
                at,
                units: p.amount.units(),
                scale: p.amount.scale(),
                late: p.late,
                reference: fnv1a(p.reference.as_bytes()),
            }),
            EventPayload::Contact(c) => {
                let ratio = c.satisfaction().filter(|r| r.is_finite() && *r >= 0.0);
                if c.rating.is_some() || ratio.is_some() {
                    self.ratings.push(RatingMark {
                        at,
                        rating: c.rating,
                        ratio,
                    });
                }
            }
            EventPayload::Complaint(c) => {
                let mark = self
                    .complaints
                    .entry(c.complaint_id.clone())
                    .or_insert(ComplaintMark {
                        received_at: at,
                        resolved_at: None,
                        feedback_at: None,
                        feedback_rating: None,
                        harms_customer_interest: false,
                        last_step: c.step,
                    });
                if c.step.is_resolved() && mark.resolved_at.is_none() {
                    mark.resolved_at = Some(at);
                }
                if let Some(rating) = c.feedback_rating {
                    mark.feedback_at = Some(at);
                    mark.feedback_rating = Some(rating);
                }
                mark.harms_customer_interest |= c.harms_customer_interest;
                mark.last_step = mark.last_step.max(c.step);
            }
            EventPayload::Referral(r) => match r.referred {
                Referred::Customer(id) if id == event.customer_id => {} // self-referral
                Referred::Customer(id) => self.referrals.push(ReferralMark {
                    at,
                    customer: Some(id),
                }),
                Referred::Prospect(_) => self.referrals.push(ReferralMark { at, customer: None }),
            },
            EventPayload::Churn(_) => self.churns.push(at),
            EventPayload::Reactivation(_) => self.reactivations.push(at),
            EventPayload::Profile(p) => {
                // Personal fields may read as erased or locked: only the public
                // segment is used. An empty map means "absent" (unchanged).
                if !p.segment.is_empty() {
                    self.segment = p.segment.clone();
                }
            }
            EventPayload::Refund(_) | EventPayload::Erasure(_) => {}
        }
    }

    /// Purchases that count at `t` (µs), in time order.
    pub fn purchases_at(&self, t: i64) -> impl Iterator<Item = &PurchaseMark> {
        self.purchases.iter().filter(move |p| p.counts_at(t))
    }

    /// Times (µs, ascending) of the purchases that count at `t`.
    pub fn purchase_times(&self, t: i64) -> Vec<i64> {
        let mut times: Vec<i64> = self.purchases_at(t).map(|p| p.at).collect();
        times.sort_unstable();
        times
    }

    /// The bills paid by `t`: payments whose reference is no order bought by
    /// then (a monthly bill; a payment that settles an order is part of that
    /// purchase). The value crate draws the same line.
    pub fn bills_at(&self, t: i64) -> impl Iterator<Item = &PaymentMark> {
        // Sorted once, so that a shop recording a payment per order is not
        // quadratic in its orders.
        let mut bought: Vec<u64> = self
            .purchases
            .iter()
            .filter(|o| o.at <= t)
            .map(|o| o.order)
            .collect();
        bought.sort_unstable();
        self.payments
            .iter()
            .filter(move |p| p.at <= t && bought.binary_search(&p.reference).is_err())
    }

    /// Times (µs, ascending) of the customer's transactions by `t`: counted
    /// purchases and, if `with_payments`, payments.
    pub fn transaction_times(&self, t: i64, with_payments: bool) -> Vec<i64> {
        let mut times = self.purchase_times(t);
        if with_payments {
            times.extend(self.payments.iter().map(|p| p.at).filter(|&a| a <= t));
            times.sort_unstable();
        }
        times
    }

    /// The time of an explicit churn that still stands at `t`: the latest churn
    /// by `t` with no transaction or win-back after it.
    pub fn churned_at(&self, t: i64, with_payments: bool) -> Option<i64> {
        let churn = self.churns.iter().copied().filter(|&c| c <= t).max()?;
        let back = self
            .reactivations
            .iter()
            .copied()
            .filter(|&r| r <= t)
            .chain(self.transaction_times(t, with_payments))
            .max();
        match back {
            Some(b) if b > churn => None,
            _ => Some(churn),
        }
    }

    /// The value of the segment attribute `key` (latest profile).
    pub fn segment_value(&self, key: &str) -> Option<&str> {
        self.segment.get(key).map(String::as_str)
    }

    /// Referred customers by `t`, each with the time of the first referral.
    pub fn referred_customers(&self, t: i64) -> BTreeMap<CustomerId, i64> {
        let mut out = BTreeMap::new();
        for r in self.referrals.iter().filter(|r| r.at <= t) {
            if let Some(id) = r.customer {
                out.entry(id).or_insert(r.at);
            }
        }
        out
    }

    /// Whether the customer had any loyalty-relevant fact by `t`.
    pub fn known_at(&self, t: i64) -> bool {
        self.first_event_at.is_some_and(|f| f <= t)
    }
}

/// The purchase times of a population (µs, ascending), to decide cross-customer
/// referral conversions: a referral converts when the referred customer makes a
/// purchase at or after the referral (`docs/events.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseIndex {
    times: BTreeMap<CustomerId, Vec<i64>>,
}

impl PurchaseIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the purchases of `customer` that count at `as_of`.
    pub fn insert(&mut self, customer: CustomerId, state: &LoyaltyState, as_of: DateTime<Utc>) {
        let times = state.purchase_times(as_of.timestamp_micros());
        if !times.is_empty() {
            self.times.insert(customer, times);
        }
    }

    /// The index of a whole population as of `as_of`.
    pub fn from_states<'a>(
        states: impl IntoIterator<Item = (&'a CustomerId, &'a LoyaltyState)>,
        as_of: DateTime<Utc>,
    ) -> Self {
        let mut index = Self::new();
        for (customer, state) in states {
            index.insert(*customer, state, as_of);
        }
        index
    }

    /// Whether `customer` purchased in `[from, to]` (µs).
    pub fn purchased_between(&self, customer: &CustomerId, from: i64, to: i64) -> bool {
        self.times.get(customer).is_some_and(|times| {
            let i = times.partition_point(|&t| t < from);
            times.get(i).is_some_and(|&t| t <= to)
        })
    }

    /// How many distinct customers referred by `state` (by `as_of`) purchased
    /// at or after their referral and by `as_of`: the `converted_referrals`
    /// argument of [`crate::score()`].
    pub fn converted_referrals(&self, state: &LoyaltyState, as_of: DateTime<Utc>) -> u32 {
        let t = as_of.timestamp_micros();
        let n = state
            .referred_customers(t)
            .into_iter()
            .filter(|(id, at)| self.purchased_between(id, *at, t))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_instant_is_midnight_after_the_last_day() {
        let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(due_instant(date_days(d)), MICROS_PER_DAY);
        let d = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap();
        let expected = chrono::NaiveDate::from_ymd_opt(2025, 2, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(due_instant(date_days(d)), expected);
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn purchase_index_window() {
        let mut index = PurchaseIndex::new();
        let c = CustomerId::new_random();
        index.times.insert(c, vec![10, 20, 30]);
        assert!(index.purchased_between(&c, 15, 25));
        assert!(index.purchased_between(&c, 30, 30));
        assert!(!index.purchased_between(&c, 31, 100));
        assert!(!index.purchased_between(&c, 21, 29));
        assert!(!index.purchased_between(&CustomerId::new_random(), 0, 100));
    }
}
