//! Backtest outcomes of policyholders and subscribers: a cover that runs past
//! the window is not churn, one that ends in it without a renewal in it is,
//! even when the customer renews later; a bill paid in the window is activity.

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_churn::{backtest, ChurnProjection, RiskPolicy};
use clientele_core::event::{Payment, Purchase};
use clientele_core::projection::Projector;
use clientele_core::{Currency, CustomerId, ExpectedVersion, NewEvent, Store};

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap() + Duration::days(d)
}

/// A yearly policy bought on day `d`, covering the following year.
fn policy(number: &str, d: i64) -> NewEvent {
    let mut p = Purchase::new(
        format!("{number}-{d}"),
        "900.00".parse().unwrap(),
        Currency::CNY,
    );
    let start = day(d).date_naive();
    p.coverage_start = Some(start);
    p.valid_until = Some(start + Duration::days(364));
    NewEvent::new(day(d), p)
}

fn buy(order: &str, d: i64) -> NewEvent {
    NewEvent::new(
        day(d),
        Purchase::new(order, "20.00".parse().unwrap(), Currency::CNY),
    )
}

#[test]
fn covered_customers_are_not_counted_as_churned_for_their_silence() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let append = |name: &str, events: Vec<NewEvent>| {
        store
            .append(
                CustomerId::from_external("bt", name),
                ExpectedVersion::Any,
                events,
            )
            .unwrap();
    };
    // Frozen on day 200, 91-day window: days 201..=291.
    append("covered", vec![policy("P1", 100)]); // cover to day 464
    append("lapsed", vec![policy("P2", -100)]); // cover to day 264, never renewed
    append("late-renewal", vec![policy("P3", -100), policy("P3", 330)]); // renewed after the window
    append("renewed", vec![policy("P4", -100), policy("P4", 260)]); // renewed in it
    append("shopper", vec![buy("s-1", 150), buy("s-2", 180)]); // silent, no cover
    append("regular", vec![buy("r-1", 150), buy("r-2", 250)]);
    // A subscriber pays bills; one stops before the window.
    let bills = |name: &str, last: i64| {
        let mut events = vec![buy(&format!("{name}-sim"), -100)];
        events.extend(
            (1..)
                .map(|m| m * 30 - 100)
                .take_while(|d| *d <= last)
                .map(|d| {
                    NewEvent::new(
                        day(d),
                        Payment {
                            reference: format!("{name}-{d}"),
                            amount: "58.00".parse().unwrap(),
                            currency: Currency::CNY,
                            due_date: Some(day(d).date_naive()),
                            late: false,
                        },
                    )
                }),
        );
        events
    };
    append("subscriber", bills("sub", 290));
    append("stopped", bills("stop", 190));
    let mut projector = Projector::open(&store, ChurnProjection).unwrap();
    projector.catch_up().unwrap();
    let report = backtest(&projector, &RiskPolicy::default(), day(200), 91).unwrap();
    assert_eq!(report.customers, 8);
    // lapsed, late-renewal (its cover ended in the window), shopper and stopped.
    assert_eq!(report.churned, 4, "{report:?}");
}
