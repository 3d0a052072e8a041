//! Per-customer sufficient statistics for the transaction and spend models.
//!
//! [`PurchaseHistory`] is a pure accumulator: feed it purchases (a day and an exact amount
//! in minor currency units, e.g. cents) in any order, then ask for the summary as of a
//! calibration end with [`PurchaseHistory::as_of`].
//!
//! # Conventions
//!
//! These are the conventions of Fader, Hardie & Lee (2005) and of the `lifetimes` library
//! (`summary_data_from_transaction_data` with daily periods), checked against
//! `cdnow_sample_summary.csv` for all 2,357 CDNOW customers:
//!
//! * all purchases by a customer on the same calendar day are **one transaction**, its
//!   value the sum of their amounts;
//! * purchases after the calibration end `as_of` are ignored; purchases **on** that day
//!   count;
//! * `frequency` x = number of distinct purchase days − 1 (repeat transactions);
//! * `recency` t_x = (last purchase day − first purchase day) in whole days, divided by
//!   the unit length (1 for [`TimeUnit::Days`], 7 for [`TimeUnit::Weeks`]);
//! * `t` T = (`as_of` − first purchase day) in whole days, divided by the unit length (so
//!   a customer acquired on the calibration end day has T = 0);
//! * monetary value = mean value of the *repeat* transactions (the first transaction is
//!   excluded, as the Gamma-Gamma model requires), 0 when x = 0.
//!
//! The published CSV rounds recency and T to two decimals (e.g. customer 1: 213/7 =
//! 30.428… is printed 30.43); this module returns the exact quotients.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ValueError};
use crate::model::{Observation, SpendObservation};

/// Days since 1970-01-01 (negative before). Any `chrono::NaiveDate` converts into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DayNumber(pub i64);

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

impl From<NaiveDate> for DayNumber {
    fn from(d: NaiveDate) -> Self {
        DayNumber(i64::from(d.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE)
    }
}

impl From<i64> for DayNumber {
    fn from(d: i64) -> Self {
        DayNumber(d)
    }
}

/// The time unit in which recency and T are expressed (and hence the unit of the rate
/// parameters of any model fitted on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeUnit {
    /// One calendar day.
    Days,
    /// Seven calendar days.
    Weeks,
}

impl TimeUnit {
    /// Length of the unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// A whole number of days expressed in this unit.
    pub fn from_days(self, days: i64) -> f64 {
        days as f64 / self.days()
    }

    /// Model time units per month as used by the `lifetimes` library's
    /// `customer_lifetime_value` (30 days; 4.345 weeks).
    pub fn per_month(self) -> f64 {
        match self {
            TimeUnit::Days => 30.0,
            TimeUnit::Weeks => 4.345,
        }
    }
}

/// One customer's purchases, aggregated per day: an order-independent accumulator.
///
/// ```
/// use chrono::NaiveDate;
/// use clientele_value::{PurchaseHistory, TimeUnit};
///
/// let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
/// let mut h = PurchaseHistory::new();
/// // CDNOW customer 1 (amounts in cents), fed out of order.
/// h.record(d(1997, 8, 2), 1496)?;
/// h.record(d(1997, 1, 1), 2933)?;
/// h.record(d(1997, 12, 12), 2648)?; // after the calibration end: ignored
/// h.record(d(1997, 1, 18), 2973)?;
/// let s = h.as_of(d(1997, 9, 30), TimeUnit::Weeks)?.expect("has purchases");
/// assert_eq!(s.frequency, 2);
/// assert_eq!(s.recency, 213.0 / 7.0);
/// assert_eq!(s.t, 272.0 / 7.0);
/// assert_eq!(s.monetary_value_minor(), 2234.5); // (2973 + 1496) / 2
/// assert_eq!(s.monetary_value(100), 22.345);
/// # Ok::<(), clientele_value::ValueError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseHistory {
    /// day → total amount (minor units) of that day's purchases
    days: BTreeMap<i64, i64>,
}

/// The summary of one customer's history as of a calibration end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// x: repeat transactions (distinct purchase days after the first, up to `as_of`).
    pub frequency: u32,
    /// t_x: first → last purchase, in `unit`.
    pub recency: f64,
    /// T: first purchase → `as_of`, in `unit`.
    pub t: f64,
    /// The unit of `recency` and `t`.
    pub unit: TimeUnit,
    /// Day of the first purchase.
    pub first_purchase: DayNumber,
    /// Day of the last purchase on or before `as_of`.
    pub last_purchase: DayNumber,
    /// Value of the first transaction (minor units).
    pub first_value_minor: i64,
    /// Total value of the repeat transactions (minor units, exact).
    pub repeat_value_minor: i64,
}

impl CustomerSummary {
    /// Mean value of the repeat transactions in minor units (0 when frequency is 0).
    pub fn monetary_value_minor(&self) -> f64 {
        if self.frequency == 0 {
            0.0
        } else {
            self.repeat_value_minor as f64 / f64::from(self.frequency)
        }
    }

    /// Mean value of the repeat transactions in major units, given the number of minor
    /// units per major unit (100 for cents → dollars); 0 when frequency is 0.
    pub fn monetary_value(&self, minor_per_major: u32) -> f64 {
        if self.frequency == 0 {
            0.0
        } else {
            self.repeat_value_minor as f64
                / (f64::from(self.frequency) * f64::from(minor_per_major))
        }
    }

    /// The (x, t_x, T) triple for the transaction models.
    ///
    /// # Errors
    /// None in practice (a summary is consistent by construction); kept fallible because
    /// the fields are public.
    pub fn observation(&self) -> Result<Observation> {
        Observation::new(self.frequency, self.recency, self.t)
    }

    /// The Gamma-Gamma input (x, mean repeat value in major units), or `None` for a
    /// customer without repeat transactions.
    ///
    /// # Errors
    /// [`ValueError::OutOfDomain`] if the mean repeat value is not positive.
    pub fn spend_observation(&self, minor_per_major: u32) -> Result<Option<SpendObservation>> {
        if self.frequency == 0 {
            return Ok(None);
        }
        SpendObservation::new(self.frequency, self.monetary_value(minor_per_major)).map(Some)
    }
}

impl PurchaseHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a purchase of `amount_minor` (minor currency units; may be 0 or negative,
    /// e.g. a refund, which is netted into that day's transaction) on `day`.
    ///
    /// # Errors
    /// [`ValueError::Overflow`] if the day's total would overflow `i64`; the history is
    /// then unchanged.
    pub fn record(&mut self, day: impl Into<DayNumber>, amount_minor: i64) -> Result<()> {
        let day = day.into().0;
        let slot = self.days.entry(day).or_insert(0);
        *slot = slot
            .checked_add(amount_minor)
            .ok_or(ValueError::Overflow("daily purchase total"))?;
        Ok(())
    }

    /// Adds all of `other`'s purchases to this history (e.g. when two
    /// customer records turn out to be one person).
    ///
    /// # Errors
    /// [`ValueError::Overflow`] as [`record`](Self::record); the history is
    /// then unchanged.
    pub fn merge(&mut self, other: &PurchaseHistory) -> Result<()> {
        let sums = other
            .days
            .iter()
            .map(|(&day, &amount)| {
                let have = self.days.get(&day).copied().unwrap_or(0);
                have.checked_add(amount)
                    .map(|sum| (day, sum))
                    .ok_or(ValueError::Overflow("daily purchase total"))
            })
            .collect::<Result<Vec<_>>>()?;
        self.days.extend(sums);
        Ok(())
    }

    /// Number of distinct purchase days recorded (at any time).
    pub fn transaction_days(&self) -> usize {
        self.days.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The summary over purchases on or before `as_of`, with times in `unit`; `None` if
    /// the customer had not purchased by then.
    ///
    /// # Errors
    /// [`ValueError::Overflow`] if the total repeat value overflows `i64` or the number of
    /// transaction days exceeds `u32`.
    pub fn as_of(
        &self,
        as_of: impl Into<DayNumber>,
        unit: TimeUnit,
    ) -> Result<Option<CustomerSummary>> {
        let end = as_of.into().0;
        let mut iter = self.days.range(..=end);
        let Some((&first, &first_value)) = iter.next() else {
            return Ok(None);
        };
        let mut last = first;
        let mut count: u64 = 0;
        let mut repeat_value: i64 = 0;
        for (&day, &amount) in iter {
            last = day;
            count += 1;
            repeat_value = repeat_value
                .checked_add(amount)
                .ok_or(ValueError::Overflow("repeat transaction total"))?;
        }
        let frequency = u32::try_from(count).map_err(|_| ValueError::Overflow("frequency"))?;
        let recency_days = last
            .checked_sub(first)
            .ok_or(ValueError::Overflow("recency"))?;
        let t_days = end.checked_sub(first).ok_or(ValueError::Overflow("T"))?;
        Ok(Some(CustomerSummary {
            frequency,
            recency: unit.from_days(recency_days),
            t: unit.from_days(t_days),
            unit,
            first_purchase: DayNumber(first),
            last_purchase: DayNumber(last),
            first_value_minor: first_value,
            repeat_value_minor: repeat_value,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_number_epoch() {
        let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_eq!(DayNumber::from(d), DayNumber(0));
        let d = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
        let f = NaiveDate::from_ymd_opt(1997, 1, 1).unwrap();
        assert_eq!(DayNumber::from(d).0 - DayNumber::from(f).0, 272);
    }

    #[test]
    fn same_day_purchases_are_one_transaction() {
        let mut h = PurchaseHistory::new();
        h.record(10, 100).unwrap();
        h.record(10, 250).unwrap();
        h.record(3, 50).unwrap();
        let s = h.as_of(20, TimeUnit::Days).unwrap().unwrap();
        assert_eq!(s.frequency, 1);
        assert_eq!(s.repeat_value_minor, 350);
        assert_eq!(s.first_value_minor, 50);
        assert_eq!((s.recency, s.t), (7.0, 17.0));
    }

    #[test]
    fn nothing_before_as_of() {
        let mut h = PurchaseHistory::new();
        h.record(10, 100).unwrap();
        assert_eq!(h.as_of(9, TimeUnit::Days).unwrap(), None);
        let s = h.as_of(10, TimeUnit::Weeks).unwrap().unwrap();
        assert_eq!((s.frequency, s.recency, s.t), (0, 0.0, 0.0));
        assert_eq!(s.monetary_value_minor(), 0.0);
        assert_eq!(s.spend_observation(100).unwrap(), None);
    }

    #[test]
    fn transaction_days_counts_distinct_days_at_any_time() {
        let mut h = PurchaseHistory::new();
        assert_eq!(h.transaction_days(), 0);
        assert!(h.is_empty());
        h.record(10, 100).unwrap();
        h.record(10, 50).unwrap(); // same day: one transaction day
        assert_eq!(h.transaction_days(), 1);
        h.record(3, 0).unwrap(); // a zero-amount day is still a day
        h.record(-5, -20).unwrap(); // before 1970, netted refund
        h.record(10_000, 1).unwrap(); // far after any as-of
        assert_eq!(h.transaction_days(), 4);
        assert!(!h.is_empty());
        // Unlike `as_of`, it does not stop at a calibration end: as of day 10
        // there are 3 days, so frequency = 3 − 1 = 2.
        assert_eq!(h.as_of(10, TimeUnit::Days).unwrap().unwrap().frequency, 2);
    }

    #[test]
    fn merge_adds_the_other_history_day_by_day() {
        let mut a = PurchaseHistory::new();
        a.record(1, 100).unwrap();
        a.record(5, 200).unwrap();
        let mut b = PurchaseHistory::new();
        b.record(5, 50).unwrap();
        b.record(9, 10).unwrap();
        let mut merged = a.clone();
        merged.merge(&b).unwrap();
        // Day 5 is one transaction of 200 + 50.
        assert_eq!(
            merged
                .days
                .iter()
                .map(|(d, a)| (*d, *a))
                .collect::<Vec<_>>(),
            [(1, 100), (5, 250), (9, 10)]
        );
        assert_eq!(merged.transaction_days(), 3);
        // As of day 9: x = 2 repeat days, first = 100, repeat = 250 + 10,
        // t_x = 9 − 1 = 8 = T.
        let s = merged.as_of(9, TimeUnit::Days).unwrap().unwrap();
        assert_eq!(
            (s.frequency, s.first_value_minor, s.repeat_value_minor),
            (2, 100, 260)
        );
        assert_eq!((s.recency, s.t), (8.0, 8.0));
        // The same as recording every purchase into one history, either way round.
        let mut together = PurchaseHistory::new();
        for (day, amount) in [(9, 10), (5, 50), (5, 200), (1, 100)] {
            together.record(day, amount).unwrap();
        }
        assert_eq!(merged, together);
        let mut other_way = b.clone();
        other_way.merge(&a).unwrap();
        assert_eq!(other_way, together);
        // The other history is left as it was.
        assert_eq!(b.transaction_days(), 2);
    }

    #[test]
    fn merging_an_empty_history_changes_nothing() {
        let mut a = PurchaseHistory::new();
        a.record(1, 100).unwrap();
        let before = a.clone();
        a.merge(&PurchaseHistory::new()).unwrap();
        assert_eq!(a, before);
        let mut empty = PurchaseHistory::new();
        empty.merge(&before).unwrap();
        assert_eq!(empty, before);
    }

    #[test]
    fn merge_overflow_is_an_error_and_leaves_the_history_unchanged() {
        let mut a = PurchaseHistory::new();
        a.record(1, i64::MAX).unwrap();
        a.record(5, 2).unwrap();
        let before = a.clone();
        let mut b = PurchaseHistory::new();
        b.record(0, 7).unwrap();
        b.record(1, 1).unwrap();
        b.record(2, 3).unwrap();
        assert!(matches!(a.merge(&b), Err(ValueError::Overflow(_))));
        // Neither the day that overflowed nor the days before or after it
        // are merged.
        assert_eq!(a, before);
    }

    #[test]
    fn overflow_is_an_error_and_leaves_state() {
        let mut h = PurchaseHistory::new();
        h.record(1, i64::MAX).unwrap();
        assert!(h.record(1, 1).is_err());
        assert_eq!(h.days.get(&1), Some(&i64::MAX));
        h.record(2, i64::MAX).unwrap();
        h.record(3, 1).unwrap();
        assert!(h.as_of(3, TimeUnit::Days).is_err());
    }
}
