//! Population loyalty metrics by period and segment, as the notes ask for:
//! repeat-purchase rate (重复购买率, 000 L486; 复购率, 003 L193 §5.3.2),
//! referral conversion rate (推荐成交率, 000 L478–480), complaint rate
//! (客户投诉率, 003 L186) and renewal rate (续保率, 001 L3).
//!
//! The sources give the metric names and example values (65.3 %, up to 50 %)
//! but no definitions; these are the conventional ones, for a half-open
//! period `[from, to)` and counting only what occurred by `as_of`:
//!
//! | metric | numerator | denominator |
//! |---|---|---|
//! | repeat purchase | customers with ≥ 2 purchases in the period | customers with ≥ 1 purchase in the period |
//! | referral conversion | referrals made in the period whose referred customer purchased at or after the referral (by `as_of`) | referrals made in the period (prospects included: their conversion cannot be seen) |
//! | complaint | customers with ≥ 1 complaint received in the period | customers who transacted (purchase or payment) or complained in the period |
//! | renewal | terms due in the period that were renewed, plus renewal purchases in the period that match no known term | the same, plus terms due in the period that lapsed; pending terms are left out and counted apart |
//!
//! Segments are the latest value of one `profile.segment` attribute (public
//! data; personal fields are never used).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clientele_core::CustomerId;
use serde::{Deserialize, Serialize};

use crate::error::{LoyaltyError, Result};
use crate::policy::LoyaltyPolicy;
use crate::score::renewals;
use crate::state::{LoyaltyState, PurchaseIndex};

/// A half-open period of business time, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First instant included.
    pub from: DateTime<Utc>,
    /// First instant excluded.
    pub to: DateTime<Utc>,
}

impl Period {
    /// The period `[from, to)`; fails if `to` is before `from`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self> {
        if to < from {
            return Err(LoyaltyError::InvalidArgument {
                argument: "period",
                reason: format!("ends ({to}) before it starts ({from})"),
            });
        }
        Ok(Self { from, to })
    }

    /// Whether `t` (µs) is in the period.
    pub fn contains_micros(&self, t: i64) -> bool {
        t >= self.from.timestamp_micros() && t < self.to.timestamp_micros()
    }
}

/// A ratio with its counts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rate {
    /// The numerator.
    pub numerator: u64,
    /// The denominator.
    pub denominator: u64,
    /// `numerator ÷ denominator`, or `None` when the denominator is 0.
    pub rate: Option<f64>,
}

impl Rate {
    fn add(&mut self, numerator: u64, denominator: u64) {
        self.numerator += numerator;
        self.denominator += denominator;
        self.rate = if self.denominator == 0 {
            None
        } else {
            Some(self.numerator as f64 / self.denominator as f64)
        };
    }
}

/// The metrics of one group of customers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricSet {
    /// Customers in the group with any event by `as_of`.
    pub customers: u64,
    /// Repeat-purchase rate.
    pub repeat_purchase: Rate,
    /// Referral conversion rate.
    pub referral_conversion: Rate,
    /// Complaint rate (customers).
    pub complaint: Rate,
    /// Complaints received in the period.
    pub complaints_received: u64,
    /// Renewal rate.
    pub renewal: Rate,
    /// Terms due in the period whose renewal is still open at `as_of`.
    pub renewals_pending: u64,
}

impl MetricSet {
    fn absorb(&mut self, other: &MetricSet) {
        self.customers += other.customers;
        self.repeat_purchase.add(
            other.repeat_purchase.numerator,
            other.repeat_purchase.denominator,
        );
        self.referral_conversion.add(
            other.referral_conversion.numerator,
            other.referral_conversion.denominator,
        );
        self.complaint
            .add(other.complaint.numerator, other.complaint.denominator);
        self.complaints_received += other.complaints_received;
        self.renewal
            .add(other.renewal.numerator, other.renewal.denominator);
        self.renewals_pending += other.renewals_pending;
    }
}

/// The metrics of one segment value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMetrics {
    /// The segment value (`None`: customers without the attribute).
    pub segment: Option<String>,
    /// Its metrics.
    pub metrics: MetricSet,
}

/// Population metrics for a period, overall and by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationMetrics {
    /// Only events that occurred by this time count.
    pub as_of: DateTime<Utc>,
    /// The period.
    pub period: Period,
    /// The segment attribute grouped by, if any.
    pub segment_key: Option<String>,
    /// The whole population.
    pub total: MetricSet,
    /// By segment value (empty without a key), in value order.
    pub segments: Vec<SegmentMetrics>,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// One customer's share of the metrics.
fn tally(
    policy: &LoyaltyPolicy,
    state: &LoyaltyState,
    index: &PurchaseIndex,
    t: i64,
    period: &Period,
) -> MetricSet {
    let mut m = MetricSet {
        customers: 1,
        ..MetricSet::default()
    };
    let in_period = |at: i64| at <= t && period.contains_micros(at);

    let purchases = state.purchases_at(t).filter(|p| in_period(p.at)).count();
    m.repeat_purchase
        .add(u64::from(purchases >= 2), u64::from(purchases >= 1));

    for r in state.referrals.iter().filter(|r| in_period(r.at)) {
        let converted = r
            .customer
            .is_some_and(|id| index.purchased_between(&id, r.at, t));
        m.referral_conversion.add(u64::from(converted), 1);
    }

    let complaints = state
        .complaints
        .values()
        .filter(|c| in_period(c.received_at))
        .count();
    m.complaints_received = count(complaints);
    let transacted = purchases > 0 || state.payments.iter().any(|p| in_period(p.at));
    m.complaint.add(
        u64::from(complaints > 0),
        u64::from(transacted || complaints > 0),
    );

    let r = renewals(policy, state, t);
    let due: Vec<bool> = r
        .decided
        .iter()
        .filter(|(due, _)| period.contains_micros(*due))
        .map(|(_, renewed)| *renewed)
        .collect();
    let unmatched = r.unmatched.iter().filter(|&&at| in_period(at)).count();
    let renewed = due.iter().filter(|r| **r).count() + unmatched;
    m.renewal.add(count(renewed), count(due.len() + unmatched));
    m.renewals_pending = count(
        r.pending
            .iter()
            .filter(|&&due| period.contains_micros(due))
            .count(),
    );
    m
}

/// Repeat-purchase, referral-conversion, complaint and renewal rates of a
/// population for `period`, counting only events by `as_of`, overall and
/// grouped by the segment attribute `segment_key`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use clientele_loyalty::{population_metrics, LoyaltyPolicy, LoyaltyState, Period};
/// let from = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let to = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
/// let metrics = population_metrics(&LoyaltyPolicy::default(), &[], to, Period::new(from, to)?, Some("region"))?;
/// assert_eq!(metrics.total.repeat_purchase.rate, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn population_metrics(
    policy: &LoyaltyPolicy,
    population: &[(CustomerId, LoyaltyState)],
    as_of: DateTime<Utc>,
    period: Period,
    segment_key: Option<&str>,
) -> Result<PopulationMetrics> {
    policy.validate()?;
    let period = Period::new(period.from, period.to)?;
    let index = PurchaseIndex::from_states(population.iter().map(|(c, s)| (c, s)), as_of);
    let mut totals = Totals::new(policy, &index, as_of, period, segment_key);
    for (_, state) in population {
        totals.add(state);
    }
    Ok(totals.finish())
}

/// The metrics of a population summed one state at a time, so a walk over
/// stored states needs to hold only the purchase index and one state.
pub(crate) struct Totals<'a> {
    policy: &'a LoyaltyPolicy,
    index: &'a PurchaseIndex,
    as_of: DateTime<Utc>,
    period: Period,
    segment_key: Option<&'a str>,
    total: MetricSet,
    groups: BTreeMap<Option<String>, MetricSet>,
}

impl<'a> Totals<'a> {
    /// Nothing summed yet; `index` must hold the population's purchases.
    pub(crate) fn new(
        policy: &'a LoyaltyPolicy,
        index: &'a PurchaseIndex,
        as_of: DateTime<Utc>,
        period: Period,
        segment_key: Option<&'a str>,
    ) -> Self {
        Self {
            policy,
            index,
            as_of,
            period,
            segment_key,
            total: MetricSet::default(),
            groups: BTreeMap::new(),
        }
    }

    /// Adds one customer (skipped if not known by the as-of time).
    pub(crate) fn add(&mut self, state: &LoyaltyState) {
        let t = self.as_of.timestamp_micros();
        if !state.known_at(t) {
            return;
        }
        let m = tally(self.policy, state, self.index, t, &self.period);
        self.total.absorb(&m);
        if let Some(key) = self.segment_key {
            self.groups
                .entry(state.segment_value(key).map(str::to_owned))
                .or_default()
                .absorb(&m);
        }
    }

    /// The metrics summed.
    pub(crate) fn finish(self) -> PopulationMetrics {
        PopulationMetrics {
            as_of: self.as_of,
            period: self.period,
            segment_key: self.segment_key.map(str::to_owned),
            total: self.total,
            segments: self
                .groups
                .into_iter()
                .map(|(segment, metrics)| SegmentMetrics { segment, metrics })
                .collect(),
        }
    }
}
