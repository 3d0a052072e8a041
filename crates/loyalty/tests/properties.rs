//! Property tests: bounds, explanation, monotonicity and determinism.

mod common;

use chrono::{DateTime, Duration, Utc};
use clientele_core::event::*;
use clientele_core::projection::fold;
use clientele_core::{CustomerId, EventPayload, RecordedEvent};
use clientele_loyalty::{LoyaltyPolicy, LoyaltyProjection, LoyaltyScore, LoyaltyState, Weights};
use common::*;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    at(2020, 1, 1)
}

fn customer() -> CustomerId {
    CustomerId::from_external("prop", "me")
}

fn others() -> [CustomerId; 3] {
    [
        CustomerId::from_external("prop", "a"),
        CustomerId::from_external("prop", "b"),
        CustomerId::from_external("prop", "c"),
    ]
}

/// One generated event: its time in hours from t0 and its payload.
#[derive(Debug, Clone)]
struct Spec {
    hour: u32,
    payload: EventPayload,
}

fn payload() -> impl Strategy<Value = EventPayload> {
    let step = prop::sample::select(ComplaintStep::ALL.to_vec());
    prop_oneof![
        (
            0u8..6,
            any::<bool>(),
            prop::option::of(0u16..800),
            0i64..100_000
        )
            .prop_map(|(order, renewal, valid, cents)| {
                let mut p = purchase(&format!("O{order}"), "0");
                p.amount = clientele_core::Decimal::new(cents, 2).unwrap();
                p.renewal = renewal;
                p.valid_until = valid.map(|d| (t0() + Duration::days(i64::from(d))).date_naive());
                p.into()
            }),
        (0u8..6).prop_map(|order| Cancellation {
            order_id: format!("O{order}"),
            reason: None
        }
        .into()),
        (any::<bool>(), 0i64..50_000).prop_map(|(late, cents)| {
            let mut p = payment("bill", "0", late);
            p.amount = clientele_core::Decimal::new(cents, 2).unwrap();
            p.into()
        }),
        (1u8..=5).prop_map(|r| rating(r).into()),
        (0.0f64..10.0, 0.1f64..10.0).prop_map(|(p, e)| {
            let mut c = contact(Channel::Web, Direction::Inbound, Purpose::Survey);
            c.perceived = Some(p);
            c.expected = Some(e);
            c.into()
        }),
        (0u8..3, step, prop::option::of(1u8..=5), any::<bool>()).prop_map(
            |(id, step, feedback, harms)| {
                let mut c = complaint(&format!("K{id}"), step);
                c.feedback_rating = feedback;
                c.harms_customer_interest = harms;
                c.into()
            }
        ),
        (0usize..4).prop_map(|i| match others().get(i) {
            Some(c) => refer(*c).into(),
            None => Referral {
                referred: Referred::Prospect("a classmate".into()),
                channel: None
            }
            .into(),
        }),
        Just(EventPayload::Churn(Churn {
            reason: "moved".into(),
            voluntary: true
        })),
        Just(EventPayload::Reactivation(Reactivation {
            campaign: None,
            channel: None
        })),
        (0u8..3)
            .prop_map(|v| segment(&[("region", ["north", "south", "east"][v as usize])]).into()),
    ]
}

fn specs(max: usize) -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (0u32..(24 * 900), payload()).prop_map(|(hour, payload)| Spec { hour, payload }),
        0..max,
    )
}

fn record(specs: &[Spec]) -> Vec<RecordedEvent> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            recorded(
                customer(),
                i as u64 + 1,
                t0() + Duration::hours(i64::from(s.hour)),
                s.payload.clone(),
            )
        })
        .collect()
}

fn weights() -> impl Strategy<Value = Weights> {
    (
        0.0f64..1.0,
        0.0f64..1.0,
        0.0f64..1.0,
        0.0f64..1.0,
        0.0f64..1.0,
        0.0f64..1.0,
    )
        .prop_map(|(a, b, c, d, e, f)| Weights {
            repeat_purchase: a + 0.01,
            tenure: b,
            recency: c,
            satisfaction: d,
            referrals: e,
            renewals: f,
        })
}

fn projection(weights: Weights) -> LoyaltyProjection {
    LoyaltyProjection::new(LoyaltyPolicy {
        weights,
        ..LoyaltyPolicy::default()
    })
    .unwrap()
}

fn check_explained(s: &LoyaltyScore, policy: &LoyaltyPolicy) -> Result<(), TestCaseError> {
    prop_assert!(s.score.is_finite());
    prop_assert!((0.0..=100.0).contains(&s.score), "score {}", s.score);
    let sum: f64 = s.components.iter().map(|c| c.contribution).sum();
    prop_assert!(
        (sum - s.score).abs() < 1e-9,
        "sum {} score {}",
        sum,
        s.score
    );
    for pair in s.components.windows(2) {
        prop_assert!(pair[0].contribution >= pair[1].contribution);
    }
    for c in &s.components {
        prop_assert!(c.value.is_finite() && c.normalised.is_finite() && c.weight.is_finite());
        prop_assert!((c.contribution - 100.0 * c.weight * c.normalised).abs() < 1e-9);
    }
    prop_assert_eq!(s.components.len(), 7);
    prop_assert_eq!(&s.tier, &policy.tier_for(s.score));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn score_is_bounded_finite_and_explained(
        specs in specs(40),
        weights in weights(),
        as_of_hours in 0u32..(24 * 1200),
        converted in 0u32..5,
    ) {
        let projection = projection(weights);
        let state = fold(&projection, &record(&specs));
        let as_of = t0() + Duration::hours(i64::from(as_of_hours));
        let s = projection.score(&state, as_of, converted);
        check_explained(&s, projection.policy())?;
        let free = clientele_loyalty::score(projection.policy(), &state, as_of, converted).unwrap();
        prop_assert_eq!(s, free);
    }

    #[test]
    fn an_extra_converted_referral_never_lowers_the_score(
        specs in specs(40),
        weights in weights(),
        as_of_hours in 0u32..(24 * 1200),
        converted in 0u32..5,
    ) {
        let projection = projection(weights);
        let state = fold(&projection, &record(&specs));
        let as_of = t0() + Duration::hours(i64::from(as_of_hours));
        let a = projection.score(&state, as_of, converted).score;
        let b = projection.score(&state, as_of, converted + 1).score;
        prop_assert!(b >= a, "{} then {}", a, b);
    }

    #[test]
    fn a_more_recent_last_purchase_never_lowers_the_score(
        purchase_days in prop::collection::vec(0u32..600, 2..8),
        others in specs(30),
        weights in weights(),
        wait in 0u32..400,
        shift in 0.0f64..=1.0,
    ) {
        // Plain purchases only (no renewal terms or cancellations); payments
        // are left out of the other events so the purchase is the last
        // transaction that moves.
        let others: Vec<Spec> = others
            .into_iter()
            .filter(|s| !matches!(
                s.payload,
                EventPayload::Purchase(_) | EventPayload::Cancellation(_) | EventPayload::Payment(_)
            ))
            .collect();
        let mut days = purchase_days;
        days.sort_unstable();
        let last = *days.last().unwrap();
        let as_of_day = last + wait;
        let moved = last + (f64::from(wait) * shift) as u32;
        let build = |last_day: u32| {
            let mut specs = others.clone();
            for (i, d) in days.iter().enumerate() {
                let day = if i + 1 == days.len() { last_day } else { *d };
                specs.push(Spec {
                    hour: day * 24,
                    payload: purchase(&format!("P{i}"), "10.00").into(),
                });
            }
            specs
        };
        let projection = projection(weights);
        let as_of = t0() + Duration::days(i64::from(as_of_day)) + Duration::hours(1);
        let earlier = projection.score(&fold(&projection, &record(&build(last))), as_of, 0);
        let later = projection.score(&fold(&projection, &record(&build(moved))), as_of, 0);
        prop_assert!(later.score >= earlier.score - 1e-9, "{} then {}", earlier.score, later.score);
    }

    #[test]
    fn a_higher_rating_never_lowers_the_score(
        specs in specs(30),
        rating_value in 1u8..5,
        rating_hour in 0u32..(24 * 900),
        as_of_hours in 0u32..(24 * 1200),
    ) {
        let projection = projection(Weights::default());
        let with = |r: u8| {
            let mut s = specs.clone();
            s.push(Spec { hour: rating_hour, payload: rating(r).into() });
            fold(&projection, &record(&s))
        };
        let as_of = t0() + Duration::hours(i64::from(as_of_hours));
        let low = projection.score(&with(rating_value), as_of, 0).score;
        let high = projection.score(&with(rating_value + 1), as_of, 0).score;
        prop_assert!(high >= low, "{} then {}", low, high);
    }

    #[test]
    fn any_arrival_order_gives_identical_state_bytes_and_score(
        (specs, shuffled) in specs(40).prop_flat_map(|s| {
            let events = record(&s);
            (Just(events.clone()), Just(events).prop_shuffle())
        }),
        as_of_hours in 0u32..(24 * 1200),
    ) {
        let projection = projection(Weights::default());
        let a: LoyaltyState = fold(&projection, &specs);
        let b: LoyaltyState = fold(&projection, &shuffled);
        prop_assert_eq!(postcard::to_allocvec(&a).unwrap(), postcard::to_allocvec(&b).unwrap());
        let as_of = t0() + Duration::hours(i64::from(as_of_hours));
        prop_assert_eq!(projection.score(&a, as_of, 1), projection.score(&b, as_of, 1));
        prop_assert_eq!(projection.points(&a, as_of), projection.points(&b, as_of));
    }

    #[test]
    fn scoring_is_deterministic_and_survives_storage(
        specs in specs(40),
        as_of_hours in 0u32..(24 * 1200),
    ) {
        let projection = projection(Weights::default());
        let state = fold(&projection, &record(&specs));
        let bytes = postcard::to_allocvec(&state).unwrap();
        let back: LoyaltyState = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &state);
        let as_of = t0() + Duration::hours(i64::from(as_of_hours));
        let once = projection.score(&state, as_of, 2);
        prop_assert_eq!(&once, &projection.score(&back, as_of, 2));
        prop_assert_eq!(&once, &projection.score(&state, as_of, 2));
        let again = LoyaltyProjection::new(LoyaltyPolicy::default()).unwrap();
        prop_assert_eq!(again.policy().version(), projection.policy().version());
        // Points never exceed what tenure and fees could earn.
        let points = projection.points(&state, as_of);
        prop_assert_eq!(points.total, points.tenure_points + points.fee_points);
    }
}

/// Events from the store (any arrival order, late events refolded by the
/// runtime) give the same state bytes as a fold of the events in order.
mod through_the_store {
    use super::*;
    use clientele_core::projection::Projector;
    use clientele_core::{ExpectedVersion, NewEvent};

    fn store_payload() -> impl Strategy<Value = EventPayload> {
        // No complaints (the store checks their step order at append) and no
        // profiles (personal data): the rest of the vocabulary.
        payload().prop_filter("store-friendly", |p| {
            !matches!(p, EventPayload::Complaint(_) | EventPayload::Profile(_))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn projector_state_matches_the_fold(
            (events, order) in prop::collection::vec((0u32..(24 * 900), store_payload()), 1..15)
                .prop_flat_map(|e| {
                    let n = e.len();
                    (Just(e), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
                }),
        ) {
            let f = Fixture::new();
            let projection = projection(Weights::default());
            let mut projector = Projector::open(&f.store, projection.clone()).unwrap();
            let ids: Vec<_> = (0..events.len()).map(|i| event_id(i as u64 + 1)).collect();
            for &i in &order {
                let (hour, payload) = events[i].clone();
                let e = NewEvent::new(t0() + Duration::hours(i64::from(hour)), payload).with_id(ids[i]);
                f.store.append(customer(), ExpectedVersion::Any, vec![e]).unwrap();
                if i % 2 == 0 {
                    projector.catch_up().unwrap();
                }
            }
            projector.catch_up().unwrap();
            let stored = projector.state(customer()).unwrap().unwrap();
            let read = f.store.read_stream(customer()).unwrap();
            let folded = fold(&projection, &read);
            prop_assert_eq!(postcard::to_allocvec(&stored).unwrap(), postcard::to_allocvec(&folded).unwrap());
        }
    }
}
