//! Population metrics on a small, hand-computed population.

mod common;

use chrono::{DateTime, Utc};
use clientele_core::event::*;
use clientele_core::projection::fold;
use clientele_core::{CustomerId, EventPayload};
use clientele_loyalty::{
    population_metrics, LoyaltyPolicy, LoyaltyProjection, LoyaltyState, MetricSet, Period, Rate,
};
use common::*;

fn state(customer: CustomerId, events: Vec<(DateTime<Utc>, EventPayload)>) -> LoyaltyState {
    let projection = LoyaltyProjection::new(LoyaltyPolicy::default()).unwrap();
    let recorded: Vec<_> = events
        .into_iter()
        .enumerate()
        .map(|(i, (t, p))| recorded(customer, i as u64 + 1, t, p))
        .collect();
    fold(&projection, &recorded)
}

fn term(order: &str, valid_until: chrono::NaiveDate, renewal: bool) -> Purchase {
    let mut p = purchase(order, "1000.00");
    p.valid_until = Some(valid_until);
    p.renewal = renewal;
    p
}

fn rate(numerator: u64, denominator: u64) -> Rate {
    Rate {
        numerator,
        denominator,
        rate: (denominator > 0).then(|| numerator as f64 / denominator as f64),
    }
}

#[test]
fn hand_computed_population() {
    let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| CustomerId::from_external("m", n));
    let population = vec![
        // A (north, was south): 2 purchases in the period, refers B (who then
        // buys) and a prospect, one open complaint.
        (
            a,
            state(
                a,
                vec![
                    (at(2023, 5, 1), segment(&[("region", "south")]).into()),
                    (at(2024, 1, 2), segment(&[("region", "north")]).into()),
                    (at(2024, 1, 10), purchase("A1", "50.00").into()),
                    (at(2024, 2, 10), purchase("A2", "50.00").into()),
                    (at(2024, 2, 15), refer(b).into()),
                    (
                        at(2024, 3, 1),
                        Referral {
                            referred: Referred::Prospect("a classmate".into()),
                            channel: None,
                        }
                        .into(),
                    ),
                    (
                        at(2024, 3, 5),
                        complaint("KA", ComplaintStep::Received).into(),
                    ),
                ],
            ),
        ),
        // B (north): one purchase before the period, one in it (after A's
        // referral) holding a term due 2024-06-26, pending at as_of.
        (
            b,
            state(
                b,
                vec![
                    (at(2023, 12, 1), segment(&[("region", "north")]).into()),
                    (at(2023, 12, 1), purchase("B0", "20.00").into()),
                    (at(2024, 3, 1), term("B1", date(2024, 6, 25), false).into()),
                ],
            ),
        ),
        // C (south): a policy due 2024-06-01, renewed on 2024-05-20.
        (
            c,
            state(
                c,
                vec![
                    (at(2023, 6, 1), segment(&[("region", "south")]).into()),
                    (at(2023, 6, 1), term("C0", date(2024, 5, 31), false).into()),
                    (at(2024, 5, 20), term("C1", date(2025, 5, 31), true).into()),
                ],
            ),
        ),
        // D (south): a policy due 2024-03-01 that lapsed, a complaint
        // (resolved), a bill, and a referral of C after C's last purchase.
        (
            d,
            state(
                d,
                vec![
                    (at(2023, 3, 1), segment(&[("region", "south")]).into()),
                    (at(2023, 3, 1), term("D0", date(2024, 2, 29), false).into()),
                    (
                        at(2024, 4, 1),
                        complaint("KD", ComplaintStep::Received).into(),
                    ),
                    (
                        at(2024, 4, 2),
                        complaint("KD", ComplaintStep::Resolved).into(),
                    ),
                    (at(2024, 4, 10), payment("bill", "80.00", false).into()),
                    (at(2024, 6, 10), refer(c).into()),
                ],
            ),
        ),
        // E (no segment): only a contact.
        (
            e,
            state(
                e,
                vec![(
                    at(2024, 2, 1),
                    contact(Channel::Phone, Direction::Inbound, Purpose::Inquiry).into(),
                )],
            ),
        ),
    ];
    let period = Period::new(at(2024, 1, 1), at(2024, 7, 1)).unwrap();
    let as_of = at(2024, 7, 15);
    let m = population_metrics(
        &LoyaltyPolicy::default(),
        &population,
        as_of,
        period,
        Some("region"),
    )
    .unwrap();

    let total = MetricSet {
        customers: 5,
        repeat_purchase: rate(1, 3),
        referral_conversion: rate(1, 3),
        complaint: rate(2, 4),
        complaints_received: 2,
        renewal: rate(1, 2),
        renewals_pending: 1,
    };
    assert_eq!(m.total, total);

    let segments: Vec<(Option<&str>, &MetricSet)> = m
        .segments
        .iter()
        .map(|s| (s.segment.as_deref(), &s.metrics))
        .collect();
    assert_eq!(segments.len(), 3);
    assert_eq!(segments[0].0, None);
    assert_eq!(
        segments[0].1,
        &MetricSet {
            customers: 1,
            ..MetricSet::default()
        }
    );
    assert_eq!(segments[1].0, Some("north"));
    assert_eq!(
        segments[1].1,
        &MetricSet {
            customers: 2,
            repeat_purchase: rate(1, 2),
            referral_conversion: rate(1, 2),
            complaint: rate(1, 2),
            complaints_received: 1,
            renewal: rate(0, 0),
            renewals_pending: 1,
        }
    );
    assert_eq!(segments[2].0, Some("south"));
    assert_eq!(
        segments[2].1,
        &MetricSet {
            customers: 2,
            repeat_purchase: rate(0, 1),
            referral_conversion: rate(0, 1),
            complaint: rate(1, 2),
            complaints_received: 1,
            renewal: rate(1, 2),
            renewals_pending: 0,
        }
    );

    // Without a key: totals only. As of an earlier time: later events ignored.
    let early = population_metrics(
        &LoyaltyPolicy::default(),
        &population,
        at(2024, 2, 12),
        period,
        None,
    )
    .unwrap();
    assert!(early.segments.is_empty());
    assert_eq!(early.total.customers, 5);
    assert_eq!(early.total.repeat_purchase, rate(1, 1)); // only A had bought
    assert_eq!(early.total.referral_conversion, rate(0, 0)); // A refers B on 2024-02-15
    assert_eq!(early.total.complaint, rate(0, 1));
}

#[test]
fn a_period_that_ends_before_it_starts_is_refused() {
    assert!(Period::new(at(2024, 2, 1), at(2024, 1, 1)).is_err());
}
