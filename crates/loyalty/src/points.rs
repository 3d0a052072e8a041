//! The points ledger of the telecom case (000 L358–366), with configurable
//! earn rules:
//!
//! > 按照电信客户的入网时间及在网时间计算网龄,根据网龄累计积分,如1个月的计1分,
//! > 同时按照客户每月的通信费积分,如每10元计1分,上不封顶 … 如果客户未按时交纳话费,
//! > 则积分为零。
//!
//! "Compute tenure from the join date and accrue points for it, e.g. 1 point
//! per month; also points for the monthly fee, e.g. 1 point per 10 yuan, no
//! cap … if the bill is not paid on time, the points become zero."
//!
//! Readings of what the source leaves open (each configurable):
//!
//! * **Fee points accumulate** across bills ([`FeeAccrual::Accumulate`]):
//!   "累计积分" accrues points, and the club rewards cumulative spend (000
//!   L372–374). [`FeeAccrual::LatestBill`] gives the other reading (only the
//!   latest bill's points count).
//! * **Rounding**: each bill earns `floor(amount ÷ currency_units_per_point)`
//!   points (1 point per *full* 10 yuan): 95 yuan → 9, 1,000 yuan → 100.
//! * **The reset clears all points**, tenure points included ("积分为零": *the*
//!   points). Tenure itself (网龄, a fact) is not reset: after a reset, each
//!   further monthly anniversary of the join date earns its point again. The
//!   reset is not permanent: accrual resumes at once. The late bill itself
//!   earns no fee points.
//! * **Tenure** starts at the customer's first transaction (purchase or
//!   payment); a tenure point is earned at each monthly anniversary of that
//!   date while the customer is on the network (an explicit `churn` stops
//!   accrual until a win-back or a new transaction).
//! * The mapping from points to next month's discount is not given by the
//!   source; the ledger returns the balance and leaves that to the caller.
//!   The log has no redemption event, so the ledger only earns and resets.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{LoyaltyError, Result};
use crate::state::{to_datetime, LoyaltyState};

/// Which transactions earn fee points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeSource {
    /// `payment` events: the telecom case pays a monthly bill (the default).
    Payments,
    /// `purchase` events (a shop: Watsons earns 1 point per 10 yuan spent, 004 L21).
    Purchases,
    /// Both.
    Both,
}

/// Whether fee points accumulate across bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeAccrual {
    /// Every bill's points are added to the balance (the default).
    Accumulate,
    /// Only the latest bill's points count ("按照客户每月的通信费积分" read as
    /// recomputed each month).
    LatestBill,
}

/// The earn rules of the points ledger. Defaults: the telecom example.
///
/// ```
/// use clientele_loyalty::PointsPolicy;
/// let telecom = PointsPolicy::default();
/// assert_eq!(telecom.points_per_month_of_tenure, 1); // "如1个月的计1分"
/// assert_eq!(telecom.currency_units_per_point, 10); // "如每10元计1分"
/// assert_eq!(telecom.cap, None); // "上不封顶"
/// assert!(telecom.reset_on_late_payment); // "则积分为零"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsPolicy {
    /// Points per month of tenure. Default `1` (000 L360).
    pub points_per_month_of_tenure: u32,
    /// Currency units (yuan) per fee point, ≥ 1. Default `10` (000 L362).
    pub currency_units_per_point: u32,
    /// The most fee points one bill (or purchase) earns; `None` = no cap.
    /// Default `None` ("上不封顶", 000 L362).
    pub cap: Option<u64>,
    /// Whether a late payment zeroes the points. Default `true` (000 L366).
    pub reset_on_late_payment: bool,
    /// Whether the reset also clears the tenure points. Default `true`
    /// ("积分为零" — *the* points, all of them).
    pub reset_clears_tenure_points: bool,
    /// Which transactions earn fee points. Default [`FeeSource::Payments`].
    pub fee_source: FeeSource,
    /// Whether fee points accumulate. Default [`FeeAccrual::Accumulate`].
    pub fee_accrual: FeeAccrual,
}

impl Default for PointsPolicy {
    fn default() -> Self {
        Self {
            points_per_month_of_tenure: 1,
            currency_units_per_point: 10,
            cap: None,
            reset_on_late_payment: true,
            reset_clears_tenure_points: true,
            fee_source: FeeSource::Payments,
            fee_accrual: FeeAccrual::Accumulate,
        }
    }
}

/// What a ledger line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointsEntryKind {
    /// Monthly tenure anniversaries reached (`months` of them).
    Tenure,
    /// A bill (or purchase) earned fee points.
    Fee,
    /// A late payment zeroed the points.
    Reset,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsEntry {
    /// When (for tenure: the last anniversary of the run).
    pub at: DateTime<Utc>,
    /// What.
    pub kind: PointsEntryKind,
    /// Tenure months credited by this line (0 for fee and reset lines).
    pub months: u32,
    /// The change to the balance (negative for a reset).
    pub points: i64,
    /// The balance after the line.
    pub balance: u64,
}

/// A customer's points as of a time, with the ledger that explains them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsBalance {
    /// The time evaluated.
    pub as_of: DateTime<Utc>,
    /// Total points: `tenure_points + fee_points`.
    pub total: u64,
    /// Points from tenure (since the last reset, if resets clear them).
    pub tenure_points: u64,
    /// Points from fees (since the last reset).
    pub fee_points: u64,
    /// Monthly anniversaries reached on the network (网龄 in months).
    pub tenure_months: u32,
    /// The last reset, if any.
    pub last_reset: Option<DateTime<Utc>>,
    /// How many resets.
    pub resets: u32,
    /// The ledger, in time order.
    pub entries: Vec<PointsEntry>,
}

impl PointsPolicy {
    /// Checks that every field is usable.
    pub fn validate(&self) -> Result<()> {
        if self.currency_units_per_point == 0 {
            return Err(LoyaltyError::InvalidPolicy {
                field: "points.currency_units_per_point",
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(())
    }

    /// Fee points of one amount `units × 10^-scale`: floor(amount ÷ units per
    /// point), capped.
    ///
    /// ```
    /// use clientele_loyalty::PointsPolicy;
    /// let p = PointsPolicy::default();
    /// assert_eq!(p.fee_points(9500, 2), 9); // 95.00 yuan
    /// assert_eq!(p.fee_points(100000, 2), 100); // 1,000 yuan, no cap
    /// ```
    pub fn fee_points(&self, units: i64, scale: u8) -> u64 {
        let per_point = i128::from(self.currency_units_per_point.max(1));
        let divisor = 10i128
            .checked_pow(u32::from(scale))
            .and_then(|p| p.checked_mul(per_point));
        let points = match divisor {
            Some(d) if units > 0 => i128::from(units) / d,
            _ => 0,
        };
        let points = u64::try_from(points).unwrap_or(0);
        match self.cap {
            Some(cap) => points.min(cap),
            None => points,
        }
    }

    /// The points of `state` as of `as_of` (events after it are ignored).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clientele_core::{projection::fold, CustomerId, EventId, RecordedEvent, event::Payment};
    /// use clientele_loyalty::{LoyaltyPolicy, LoyaltyProjection, PointsPolicy};
    ///
    /// let customer = CustomerId::new_random();
    /// let bill = |month: u32| RecordedEvent {
    ///     event_id: EventId::new(), customer_id: customer, version: u64::from(month), position: u64::from(month),
    ///     occurred_at: Utc.with_ymd_and_hms(2024, month, 1, 9, 0, 0).unwrap(),
    ///     recorded_at: Utc.with_ymd_and_hms(2024, month, 1, 9, 0, 0).unwrap(),
    ///     schema_version: 2, metadata: Default::default(), personal_data: Default::default(),
    ///     payload: Payment { reference: format!("bill-{month}"), amount: "100.00".parse().unwrap(),
    ///         currency: "CNY".parse().unwrap(), due_date: None, late: false }.into(),
    /// };
    /// let bills: Vec<_> = (1..=12).map(bill).collect();
    /// let state = fold(&LoyaltyProjection::new(LoyaltyPolicy::default())?, &bills);
    /// // 12 months on the network, 100 yuan a month: 12 × 1 + 12 × 10 = 132.
    /// let as_of = Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap();
    /// let balance = PointsPolicy::default().balance(&state, as_of)?;
    /// assert_eq!((balance.tenure_points, balance.fee_points, balance.total), (12, 120, 132));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn balance(&self, state: &LoyaltyState, as_of: DateTime<Utc>) -> Result<PointsBalance> {
        self.validate()?;
        Ok(ledger(self, state, as_of))
    }
}

/// Markers on the ledger's timeline; at equal times they apply in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Marker {
    /// The customer is back on the network (a transaction or a win-back).
    Restart,
    /// A bill earning fee points.
    Fee(u64),
    /// A late payment.
    Reset,
    /// The customer left.
    Churn,
}

/// Complete calendar months from `start` to `t` (0 if `t` is before `start`).
fn months_between(start: DateTime<Utc>, t: DateTime<Utc>) -> u32 {
    use chrono::Datelike;
    if t <= start {
        return 0;
    }
    let guess = (i64::from(t.year()) - i64::from(start.year())) * 12 + i64::from(t.month())
        - i64::from(start.month());
    let mut n = u32::try_from(guess.max(0)).unwrap_or(u32::MAX);
    while n > 0 {
        match start.checked_add_months(Months::new(n)) {
            Some(anniversary) if anniversary <= t => return n,
            _ => n -= 1,
        }
    }
    0
}

fn add_months(start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    start.checked_add_months(Months::new(n)).unwrap_or(start)
}

/// The ledger (the policy is assumed valid; a zero divisor earns nothing).
pub(crate) fn ledger(
    policy: &PointsPolicy,
    state: &LoyaltyState,
    as_of: DateTime<Utc>,
) -> PointsBalance {
    let t = as_of.timestamp_micros();
    let mut balance = PointsBalance {
        as_of,
        total: 0,
        tenure_points: 0,
        fee_points: 0,
        tenure_months: 0,
        last_reset: None,
        resets: 0,
        entries: Vec::new(),
    };
    let transactions = state.transaction_times(t, true);
    let Some(&start_us) = transactions.first() else {
        return balance;
    };
    let start = to_datetime(start_us);

    let mut markers: Vec<(i64, Marker)> = Vec::new();
    markers.extend(transactions.iter().map(|&at| (at, Marker::Restart)));
    markers.extend(
        state
            .reactivations
            .iter()
            .filter(|&&at| at <= t)
            .map(|&at| (at, Marker::Restart)),
    );
    markers.extend(
        state
            .churns
            .iter()
            .filter(|&&at| at <= t)
            .map(|&at| (at, Marker::Churn)),
    );
    if matches!(policy.fee_source, FeeSource::Purchases | FeeSource::Both) {
        markers.extend(
            state
                .purchases_at(t)
                .map(|p| (p.at, Marker::Fee(policy.fee_points(p.units, p.scale)))),
        );
    }
    for p in state.payments.iter().filter(|p| p.at <= t) {
        if p.late && policy.reset_on_late_payment {
            markers.push((p.at, Marker::Reset));
        } else if matches!(policy.fee_source, FeeSource::Payments | FeeSource::Both) {
            markers.push((p.at, Marker::Fee(policy.fee_points(p.units, p.scale))));
        }
    }
    markers.sort_unstable();

    let per_month = u64::from(policy.points_per_month_of_tenure);
    let mut active = true;
    let mut cursor = start;
    let accrue = |balance: &mut PointsBalance, from: DateTime<Utc>, to: DateTime<Utc>| {
        let before = months_between(start, from);
        let after = months_between(start, to);
        let n = after.saturating_sub(before);
        if n > 0 {
            let points = per_month.saturating_mul(u64::from(n));
            balance.tenure_months = balance.tenure_months.saturating_add(n);
            balance.tenure_points = balance.tenure_points.saturating_add(points);
            balance.total = balance.tenure_points.saturating_add(balance.fee_points);
            balance.entries.push(PointsEntry {
                at: add_months(start, after),
                kind: PointsEntryKind::Tenure,
                months: n,
                points: i64::try_from(points).unwrap_or(i64::MAX),
                balance: balance.total,
            });
        }
    };
    for (at_us, marker) in markers {
        let at = to_datetime(at_us);
        if active {
            accrue(&mut balance, cursor, at);
        }
        if at > cursor {
            cursor = at;
        }
        match marker {
            Marker::Restart => active = true,
            Marker::Churn => active = false,
            Marker::Fee(points) => {
                let before = balance.fee_points;
                balance.fee_points = match policy.fee_accrual {
                    FeeAccrual::Accumulate => before.saturating_add(points),
                    FeeAccrual::LatestBill => points,
                };
                balance.total = balance.tenure_points.saturating_add(balance.fee_points);
                let delta = i128::from(balance.fee_points) - i128::from(before);
                balance.entries.push(PointsEntry {
                    at,
                    kind: PointsEntryKind::Fee,
                    months: 0,
                    points: i64::try_from(delta).unwrap_or(i64::MAX),
                    balance: balance.total,
                });
            }
            Marker::Reset => {
                let before = balance.total;
                balance.fee_points = 0;
                if policy.reset_clears_tenure_points {
                    balance.tenure_points = 0;
                }
                balance.total = balance.tenure_points.saturating_add(balance.fee_points);
                balance.resets = balance.resets.saturating_add(1);
                balance.last_reset = Some(at);
                let delta = i128::from(balance.total) - i128::from(before);
                balance.entries.push(PointsEntry {
                    at,
                    kind: PointsEntryKind::Reset,
                    months: 0,
                    points: i64::try_from(delta).unwrap_or(i64::MIN),
                    balance: balance.total,
                });
            }
        }
    }
    if active {
        accrue(&mut balance, cursor, as_of);
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{fnv1a, PaymentMark};
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    fn bill(y: i32, m: u32, yuan: i64, late: bool) -> PaymentMark {
        PaymentMark {
            at: at(y, m, 1).timestamp_micros(),
            units: yuan * 100,
            scale: 2,
            late,
            reference: fnv1a(format!("{y}-{m}").as_bytes()),
        }
    }

    fn telecom(bills: Vec<PaymentMark>) -> LoyaltyState {
        LoyaltyState {
            payments: bills,
            ..LoyaltyState::default()
        }
    }

    #[test]
    fn worked_example_twelve_months_of_100_yuan() {
        let state = telecom((1..=12).map(|m| bill(2024, m, 100, false)).collect());
        let b = ledger(&PointsPolicy::default(), &state, at(2025, 1, 1));
        assert_eq!(b.tenure_months, 12);
        assert_eq!(b.tenure_points, 12);
        assert_eq!(b.fee_points, 120);
        assert_eq!(b.total, 132);
        assert_eq!(b.resets, 0);
        // Just before the 12th anniversary: 11 tenure points.
        let b = ledger(&PointsPolicy::default(), &state, at(2024, 12, 31));
        assert_eq!((b.tenure_points, b.fee_points), (11, 120));
        // The ledger lines add up to the balance.
        let sum: i64 = b.entries.iter().map(|e| e.points).sum();
        assert_eq!(sum, b.total as i64);
    }

    #[test]
    fn late_payment_zeroes_the_points_then_accrual_resumes() {
        let mut bills: Vec<_> = (1..=12).map(|m| bill(2024, m, 100, false)).collect();
        bills[11].late = true; // December's bill is paid late.
        let state = telecom(bills);
        let policy = PointsPolicy::default();
        let b = ledger(&policy, &state, at(2024, 12, 1));
        assert_eq!(b.total, 0);
        assert_eq!(b.resets, 1);
        assert_eq!(b.last_reset, Some(at(2024, 12, 1)));
        // The 12th anniversary (2025-01-01) earns a point again; the late bill earns none.
        let b = ledger(&policy, &state, at(2025, 1, 1));
        assert_eq!((b.tenure_points, b.fee_points, b.total), (1, 0, 1));
        assert_eq!(b.tenure_months, 12);
        // Without the reset rule the late bill earns like any other.
        let lenient = PointsPolicy {
            reset_on_late_payment: false,
            ..PointsPolicy::default()
        };
        assert_eq!(ledger(&lenient, &state, at(2025, 1, 1)).total, 132);
        // Resetting only the fee points keeps the tenure points.
        let keep_tenure = PointsPolicy {
            reset_clears_tenure_points: false,
            ..PointsPolicy::default()
        };
        let b = ledger(&keep_tenure, &state, at(2025, 1, 1));
        assert_eq!((b.tenure_points, b.fee_points), (12, 0));
    }

    #[test]
    fn fee_rounding_cap_and_accrual_modes() {
        let p = PointsPolicy::default();
        assert_eq!(p.fee_points(9500, 2), 9);
        assert_eq!(p.fee_points(100_000, 2), 100);
        assert_eq!(p.fee_points(999, 2), 0);
        assert_eq!(p.fee_points(-1000, 2), 0);
        assert_eq!(p.fee_points(i64::MAX, 18), 0);
        let capped = PointsPolicy {
            cap: Some(50),
            ..PointsPolicy::default()
        };
        assert_eq!(capped.fee_points(100_000, 2), 50);
        let state = telecom(vec![bill(2024, 1, 100, false), bill(2024, 2, 300, false)]);
        let latest = PointsPolicy {
            fee_accrual: FeeAccrual::LatestBill,
            ..PointsPolicy::default()
        };
        assert_eq!(ledger(&latest, &state, at(2024, 2, 15)).fee_points, 30);
        assert_eq!(ledger(&p, &state, at(2024, 2, 15)).fee_points, 40);
    }

    #[test]
    fn churn_stops_tenure_accrual_until_win_back() {
        let mut state = telecom(vec![bill(2024, 1, 0, false)]);
        state.churns.push(at(2024, 3, 15).timestamp_micros());
        state.reactivations.push(at(2024, 6, 15).timestamp_micros());
        // Anniversaries Feb 1 and Mar 1 (active), Apr–Jun 1 (gone), Jul 1–Sep 1 (back).
        let b = ledger(&PointsPolicy::default(), &state, at(2024, 9, 1));
        assert_eq!(b.tenure_months, 5);
    }

    #[test]
    fn months_between_handles_month_ends() {
        assert_eq!(months_between(at(2024, 1, 31), at(2024, 2, 29)), 1);
        assert_eq!(months_between(at(2024, 1, 31), at(2024, 2, 28)), 0);
        assert_eq!(months_between(at(2024, 1, 1), at(2023, 1, 1)), 0);
        assert_eq!(months_between(at(2024, 1, 1), at(2034, 1, 1)), 120);
    }

    #[test]
    fn purchases_can_earn_instead() {
        use crate::state::PurchaseMark;
        let state = LoyaltyState {
            purchases: vec![PurchaseMark {
                at: at(2024, 1, 1).timestamp_micros(),
                order: 1,
                units: 30_000,
                scale: 2,
                renewal: false,
                valid_until: None,
                cancelled_at: None,
            }],
            ..LoyaltyState::default()
        };
        let shop = PointsPolicy {
            fee_source: FeeSource::Purchases,
            ..PointsPolicy::default()
        };
        assert_eq!(ledger(&shop, &state, at(2024, 1, 2)).fee_points, 30);
        assert_eq!(
            ledger(&PointsPolicy::default(), &state, at(2024, 1, 2)).fee_points,
            0
        );
    }
}
