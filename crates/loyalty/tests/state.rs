//! The state queries `LoyaltyState::churned_at` and `LoyaltyState::bills_at`,
//! and `PointsPolicy::balance` against the projection's own ledger.

mod common;

use chrono::{DateTime, Utc};
use clientele_core::event::*;
use clientele_core::{CustomerId, EventPayload};
use clientele_loyalty::{
    FeeAccrual, FeeSource, LoyaltyError, LoyaltyPolicy, LoyaltyProjection, LoyaltyState,
    PointsPolicy,
};
use common::*;

/// Day `n` after 2024-03-01 10:00 UTC.
fn day(n: i64) -> DateTime<Utc> {
    at(2024, 3, 1) + days(n)
}

/// µs of day `n`.
fn us(n: i64) -> i64 {
    day(n).timestamp_micros()
}

/// The state folded from `(day, payload)` pairs, in the order given.
fn fold(events: Vec<(i64, EventPayload)>) -> LoyaltyState {
    let customer = CustomerId::from_external("loyalty-test", "1");
    let mut state = LoyaltyState::default();
    for (n, (d, payload)) in events.into_iter().enumerate() {
        state.apply(&recorded(customer, n as u64 + 1, day(d), payload));
    }
    state
}

fn churn() -> EventPayload {
    Churn {
        reason: "moved".into(),
        voluntary: true,
    }
    .into()
}

fn win_back() -> EventPayload {
    Reactivation {
        campaign: Some("come back".into()),
        channel: None,
    }
    .into()
}

fn cancel(order: &str) -> EventPayload {
    Cancellation {
        order_id: order.into(),
        reason: None,
    }
    .into()
}

#[test]
fn a_churn_with_nothing_after_it_stands() {
    let state = fold(vec![(0, purchase("A-1", "10.00").into()), (10, churn())]);
    for with_payments in [false, true] {
        assert_eq!(state.churned_at(us(20), with_payments), Some(us(10)));
        // From the churn's own instant (churns at or before t count)…
        assert_eq!(state.churned_at(us(10), with_payments), Some(us(10)));
        // …but not a µs before it.
        assert_eq!(state.churned_at(us(10) - 1, with_payments), None);
    }
    // No churn at all.
    let loyal = fold(vec![(0, purchase("A-1", "10.00").into())]);
    assert_eq!(loyal.churned_at(us(20), true), None);
}

#[test]
fn a_later_purchase_or_win_back_ends_the_churn() {
    let bought = fold(vec![(10, churn()), (15, purchase("A-1", "10.00").into())]);
    for with_payments in [false, true] {
        assert_eq!(bought.churned_at(us(20), with_payments), None);
        // The purchase after `t` is not seen yet.
        assert_eq!(bought.churned_at(us(14), with_payments), Some(us(10)));
        assert_eq!(bought.churned_at(us(15), with_payments), None);
    }
    let won_back = fold(vec![(10, churn()), (15, win_back())]);
    for with_payments in [false, true] {
        assert_eq!(won_back.churned_at(us(20), with_payments), None);
        assert_eq!(won_back.churned_at(us(14), with_payments), Some(us(10)));
    }
    // A purchase at the churn's very instant is not "after" it.
    let same_time = fold(vec![(10, purchase("A-1", "10.00").into()), (10, churn())]);
    assert_eq!(same_time.churned_at(us(20), false), Some(us(10)));
}

#[test]
fn a_later_payment_ends_the_churn_only_with_payments() {
    let state = fold(vec![
        (0, purchase("A-1", "10.00").into()),
        (10, churn()),
        (15, payment("BILL-3", "58.00", false).into()),
    ]);
    assert_eq!(state.churned_at(us(20), false), Some(us(10)));
    assert_eq!(state.churned_at(us(20), true), None);
    // Before the payment, both say churned.
    assert_eq!(state.churned_at(us(14), true), Some(us(10)));
}

#[test]
fn a_purchase_cancelled_by_t_is_no_return() {
    // Transactions are the purchases that count at `t`: made and not yet cancelled.
    let state = fold(vec![
        (10, churn()),
        (15, purchase("A-1", "10.00").into()),
        (17, cancel("A-1")),
    ]);
    assert_eq!(
        state.churned_at(us(16), false),
        None,
        "bought, not yet cancelled"
    );
    assert_eq!(
        state.churned_at(us(20), false),
        Some(us(10)),
        "cancelled by then"
    );
}

#[test]
fn churns_after_t_are_ignored_and_the_latest_one_by_t_counts() {
    let state = fold(vec![
        (0, purchase("A-1", "10.00").into()),
        (10, churn()),
        (15, purchase("A-2", "10.00").into()),
        (30, churn()),
    ]);
    // At day 20 the second churn has not happened: the first was ended by A-2.
    assert_eq!(state.churned_at(us(20), false), None);
    assert_eq!(state.churned_at(us(30), false), Some(us(30)));
    // A churn only after t: not churned.
    let later = fold(vec![(0, purchase("A-1", "10.00").into()), (30, churn())]);
    assert_eq!(later.churned_at(us(29), false), None);
    // Two churns with no return between: the latest is reported.
    let twice = fold(vec![(10, churn()), (25, churn())]);
    assert_eq!(twice.churned_at(us(40), false), Some(us(25)));
    assert_eq!(twice.churned_at(us(20), false), Some(us(10)));
}

/// The amounts (in fen) of the bills at `t`, in time order.
fn bills(state: &LoyaltyState, t: i64) -> Vec<i64> {
    state.bills_at(t).map(|p| p.units).collect()
}

#[test]
fn a_payment_for_an_order_bought_by_t_is_no_bill() {
    let state = fold(vec![
        (0, purchase("A-1", "300.00").into()),
        (2, payment("A-1", "300.00", false).into()), // settles A-1
        (5, payment("BILL-3", "58.00", false).into()), // no such order: a bill
    ]);
    assert_eq!(bills(&state, us(10)), [5_800]);
    // Before the bill was paid, none.
    assert_eq!(bills(&state, us(4)), Vec::<i64>::new());
}

#[test]
fn a_payment_for_an_order_bought_after_t_is_a_bill_until_then() {
    // Paid on day 2, ordered on day 8 (a prepayment).
    let state = fold(vec![
        (2, payment("A-2", "42.00", false).into()),
        (8, purchase("A-2", "42.00").into()),
    ]);
    assert_eq!(bills(&state, us(7)), [4_200]);
    assert_eq!(bills(&state, us(8) - 1), [4_200]);
    // From the order's instant on, it settles the order.
    assert_eq!(bills(&state, us(8)), Vec::<i64>::new());
    assert_eq!(bills(&state, us(30)), Vec::<i64>::new());
}

#[test]
fn payments_after_t_are_excluded_and_order_is_kept() {
    let state = fold(vec![
        (1, payment("BILL-1", "10.00", false).into()),
        (5, payment("BILL-2", "20.00", true).into()),
        (9, payment("BILL-3", "30.00", false).into()),
    ]);
    assert_eq!(bills(&state, us(0)), Vec::<i64>::new());
    assert_eq!(bills(&state, us(1)), [1_000]);
    assert_eq!(bills(&state, us(6)), [1_000, 2_000]);
    assert_eq!(bills(&state, us(9)), [1_000, 2_000, 3_000]);
    // Late bills are still bills.
    assert!(state.bills_at(us(9)).any(|p| p.late));
}

#[test]
fn a_payment_for_a_cancelled_order_still_settles_it() {
    // "whose reference is no order bought by then": a cancelled order was bought.
    let state = fold(vec![
        (0, purchase("A-1", "30.00").into()),
        (1, cancel("A-1")),
        (2, payment("A-1", "30.00", false).into()),
    ]);
    assert_eq!(bills(&state, us(10)), Vec::<i64>::new());
}

/// A telecom customer: monthly bills from 2024-01-01, one paid late, a churn
/// and a win-back, and a shop purchase.
fn subscriber() -> LoyaltyState {
    let customer = CustomerId::from_external("loyalty-test", "telecom");
    let mut events: Vec<(DateTime<Utc>, EventPayload)> = Vec::new();
    for m in 1..=10 {
        let late = m == 6;
        events.push((
            at(2024, m, 1),
            payment(&format!("2024-{m:02}"), "95.00", late).into(),
        ));
    }
    events.push((at(2024, 3, 20), purchase("SHOP-1", "250.00").into()));
    events.push((
        at(2024, 8, 15),
        Churn {
            reason: "price".into(),
            voluntary: true,
        }
        .into(),
    ));
    events.push((at(2024, 9, 1) + hours(1), win_back()));
    let mut state = LoyaltyState::default();
    for (n, (t, payload)) in events.into_iter().enumerate() {
        state.apply(&recorded(customer, n as u64 + 1, t, payload));
    }
    state
}

#[test]
fn an_invalid_points_policy_is_an_error_not_a_ledger() {
    let broken = PointsPolicy {
        currency_units_per_point: 0,
        ..PointsPolicy::default()
    };
    match broken.balance(&subscriber(), at(2025, 1, 1)) {
        Err(LoyaltyError::InvalidPolicy { field, .. }) => {
            assert_eq!(field, "points.currency_units_per_point");
        }
        other => panic!("{other:?}"),
    }
    // Also for a customer with no events at all.
    assert!(broken
        .balance(&LoyaltyState::default(), at(2025, 1, 1))
        .is_err());
}

#[test]
fn balance_by_hand() {
    // Three 100-yuan bills on Jan 1, Feb 1, Mar 1 (10:00). As of Apr 1 10:00:
    // anniversaries Feb 1, Mar 1, Apr 1 → 3 months; at 2 points a month = 6;
    // fees floor(100 / 25) = 4 a bill → 12; total 18.
    let customer = CustomerId::from_external("loyalty-test", "3");
    let mut state = LoyaltyState::default();
    for m in 1..=3u32 {
        let bill = payment(&format!("2024-{m:02}"), "100.00", false);
        state.apply(&recorded(customer, u64::from(m), at(2024, m, 1), bill));
    }
    let policy = PointsPolicy {
        points_per_month_of_tenure: 2,
        currency_units_per_point: 25,
        ..PointsPolicy::default()
    };
    let b = policy.balance(&state, at(2024, 4, 1)).unwrap();
    assert_eq!(
        (b.tenure_months, b.tenure_points, b.fee_points, b.total),
        (3, 6, 12, 18)
    );
    assert_eq!(b.as_of, at(2024, 4, 1));
    // A second before the Apr 1 anniversary: 2 months.
    let b = policy
        .balance(&state, at(2024, 4, 1) - chrono::Duration::seconds(1))
        .unwrap();
    assert_eq!((b.tenure_points, b.total), (4, 16));
}

#[test]
fn a_valid_policy_balances_as_the_projection_does() {
    let state = subscriber();
    let policies = [
        PointsPolicy::default(),
        PointsPolicy {
            points_per_month_of_tenure: 3,
            currency_units_per_point: 7,
            cap: Some(5),
            reset_on_late_payment: true,
            reset_clears_tenure_points: false,
            fee_source: FeeSource::Both,
            fee_accrual: FeeAccrual::LatestBill,
        },
        PointsPolicy {
            reset_on_late_payment: false,
            fee_source: FeeSource::Purchases,
            ..PointsPolicy::default()
        },
    ];
    let times = [
        at(2023, 12, 31), // before any event: an empty ledger
        at(2024, 3, 20),
        at(2024, 6, 1),
        at(2024, 8, 20),
        at(2025, 1, 1),
    ];
    let mut totals = Vec::new();
    for points in policies {
        let projection = LoyaltyProjection::new(LoyaltyPolicy {
            points: points.clone(),
            ..LoyaltyPolicy::default()
        })
        .unwrap();
        for as_of in times {
            let direct = points.balance(&state, as_of).unwrap();
            assert_eq!(
                direct,
                projection.points(&state, as_of),
                "{points:?} {as_of}"
            );
            totals.push(direct.total);
        }
    }
    // The comparison is not vacuous: the policies give different balances.
    assert_eq!(totals[0], 0);
    assert!(totals.iter().any(|&t| t > 0));
    assert_ne!(totals[4], totals[9]);
}
