//! End-to-end scenarios through the store and the loyalty service.

mod common;

use clientele_core::event::*;
use clientele_core::{CustomerId, Metadata};
use clientele_loyalty::{
    population_metrics, Factor, Loyalty, LoyaltyPolicy, Period, PointsEntryKind, PROJECTION_NAME,
};
use common::*;

/// The Voit web-shop story (000 L248–300): order, delivery, payment and a
/// positive review, holiday messages, a repeat purchase with a personal
/// discount, then a recommendation to a classmate who buys.
fn voit_story(f: &Fixture, voit: CustomerId, classmate: CustomerId) {
    let t0 = at(2023, 9, 1);
    let mut order = purchase("V-1", "300.00"); // 165 + 135 yuan
    order.quantity = Some(2);
    order.category = Some("shoes".into());
    let mut delivery = contact(Channel::Phone, Direction::Outbound, Purpose::Delivery);
    delivery.outcome = Some("answered".into());
    f.append(
        voit,
        vec![
            (
                t0,
                contact(Channel::Web, Direction::Inbound, Purpose::Registration).into(),
            ),
            (t0, segment(&[("channel", "web")]).into()),
            (t0 + hours(1), order.into()),
            (t0 + days(5), delivery.into()),
            (t0 + days(7), payment("V-1", "300.00", false).into()),
            (t0 + days(7) + hours(1), rating(5).into()),
            (
                at(2023, 10, 1),
                contact(Channel::Sms, Direction::Outbound, Purpose::Promotion).into(),
            ),
            (
                at(2024, 1, 1),
                contact(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
            ),
            (
                at(2024, 2, 24),
                contact(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
            ),
            (at(2024, 3, 10), purchase("V-2", "255.00").into()), // 8.5折
            (at(2024, 3, 20), refer(classmate).into()),
        ],
    );
    f.append(
        classmate,
        vec![(at(2024, 3, 25), purchase("C-1", "165.00").into())],
    );
}

#[test]
fn voit_story_scores_higher_than_a_one_time_buyer_with_an_open_complaint() {
    let f = Fixture::new();
    let (voit, classmate, once) = (
        CustomerId::from_external("voit", "student"),
        CustomerId::from_external("voit", "classmate"),
        CustomerId::from_external("voit", "once"),
    );
    voit_story(&f, voit, classmate);
    f.append(
        once,
        vec![
            (at(2023, 9, 1), purchase("O-1", "300.00").into()),
            (
                at(2023, 9, 20),
                complaint("K-1", ComplaintStep::Received).into(),
            ),
            (
                at(2023, 9, 21),
                complaint("K-1", ComplaintStep::Classified).into(),
            ),
        ],
    );
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let as_of = at(2024, 4, 1);
    let loyal = loyalty.score(voit, as_of).unwrap().unwrap();
    let other = loyalty.score(once, as_of).unwrap().unwrap();
    for s in [&loyal, &other] {
        for c in &s.components {
            println!("{:>16} {:7.2}  {}", c.name, c.contribution, c.detail);
        }
        println!("= {:.2} ({})\n", s.score, s.tier.name);
    }
    assert!(loyal.score > other.score + 20.0);
    assert_eq!(loyal.component(Factor::Referrals).unwrap().value, 1.0);
    assert_eq!(
        loyal.component(Factor::Satisfaction).unwrap().normalised,
        1.0
    );
    assert_eq!(loyal.component(Factor::RepeatPurchase).unwrap().value, 2.0);
    assert_eq!(
        loyal.component(Factor::Complaints).unwrap().contribution,
        0.0
    );
    let penalty = other.component(Factor::Complaints).unwrap();
    assert!(penalty.contribution < 0.0);
    assert!(loyal.tier.rank > other.tier.rank);
    // The batch view agrees with the one-customer view.
    let all = loyalty.scores(as_of).unwrap();
    assert_eq!(all.len(), 3);
    let batch = all.iter().find(|(c, _)| *c == voit).unwrap();
    assert_eq!(batch.1, loyal);
    // Before the classmate bought, the referral had not converted.
    let before = loyalty.score(voit, at(2024, 3, 22)).unwrap().unwrap();
    assert_eq!(before.component(Factor::Referrals).unwrap().value, 0.0);
    // Unknown before the first event.
    assert!(loyalty.score(voit, at(2023, 1, 1)).unwrap().is_none());
}

#[test]
fn telecom_points_worked_example_through_the_store() {
    let f = Fixture::new();
    let subscriber = CustomerId::from_external("telecom", "13800000000");
    let bills = (1..=12)
        .map(|m| {
            let late = m == 12;
            (
                at(2024, m, 1),
                payment(&format!("2024-{m:02}"), "100.00", late).into(),
            )
        })
        .collect();
    f.append(subscriber, bills);
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    // Before December's late bill: 10 months (Feb 1 … Nov 1) and 11 bills.
    let nov = loyalty
        .points(subscriber, at(2024, 11, 15))
        .unwrap()
        .unwrap();
    assert_eq!(
        (nov.tenure_points, nov.fee_points, nov.total),
        (10, 110, 120)
    );
    // The late bill zeroes them ("如果客户未按时交纳话费,则积分为零").
    let dec = loyalty
        .points(subscriber, at(2024, 12, 15))
        .unwrap()
        .unwrap();
    assert_eq!(dec.total, 0);
    assert_eq!(dec.resets, 1);
    assert_eq!(dec.entries.last().unwrap().kind, PointsEntryKind::Reset);
    // A policy that does not reset: 12 months on the network + 12 × 10 = 132.
    let mut lenient = LoyaltyPolicy::default();
    lenient.points.reset_on_late_payment = false;
    let mut loyalty = Loyalty::open(&f.store, lenient).unwrap();
    loyalty.catch_up().unwrap();
    assert!(loyalty.projector().was_rebuilt());
    let year = loyalty.points(subscriber, at(2025, 1, 1)).unwrap().unwrap();
    assert_eq!(
        (year.tenure_points, year.fee_points, year.total),
        (12, 120, 132)
    );
}

#[test]
fn quick_well_rated_resolution_restores_the_score() {
    let f = Fixture::new();
    let ids: Vec<CustomerId> = (0..4).map(|_| CustomerId::new_random()).collect();
    let t0 = at(2024, 1, 1);
    for (i, id) in ids.iter().enumerate() {
        let mut events: Vec<(_, EventPayload)> = vec![
            (t0, purchase(&format!("P{i}-1"), "100.00").into()),
            (t0 + days(30), purchase(&format!("P{i}-2"), "100.00").into()),
        ];
        let k = format!("K{i}");
        let received = t0 + days(35);
        match i {
            0 => {} // no complaint
            1 => events.push((received, complaint(&k, ComplaintStep::Received).into())),
            2 => {
                // Resolved within 24 h, rated 5: service recovery.
                let mut feedback = complaint(&k, ComplaintStep::FeedbackGiven);
                feedback.feedback_rating = Some(5);
                events.push((received, complaint(&k, ComplaintStep::Received).into()));
                events.push((
                    received + hours(20),
                    complaint(&k, ComplaintStep::Resolved).into(),
                ));
                events.push((received + hours(30), feedback.into()));
            }
            _ => {
                // Resolved after 10 days, rated 2.
                let mut feedback = complaint(&k, ComplaintStep::FeedbackGiven);
                feedback.feedback_rating = Some(2);
                events.push((received, complaint(&k, ComplaintStep::Received).into()));
                events.push((
                    received + days(10),
                    complaint(&k, ComplaintStep::Resolved).into(),
                ));
                events.push((received + days(11), feedback.into()));
            }
        }
        f.append(*id, events);
    }
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let as_of = t0 + days(50);
    let s: Vec<f64> = ids
        .iter()
        .map(|id| loyalty.score(*id, as_of).unwrap().unwrap().score)
        .collect();
    assert_eq!(s[2], s[0], "recovered complaint restores");
    assert!(
        s[1] < s[3] && s[3] < s[0],
        "open < slow/unhappy < none: {s:?}"
    );
}

#[test]
fn erasure_leaves_scores_and_points_unchanged() {
    let f = Fixture::new();
    let (voit, classmate) = (CustomerId::new_random(), CustomerId::new_random());
    voit_story(&f, voit, classmate);
    let named = Profile {
        name: Some("Zhang San".into()),
        phone: Some("13800000000".into()),
        ..Profile::default()
    };
    f.append(voit, vec![(at(2023, 9, 2), named.into())]);
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let as_of = at(2024, 4, 1);
    let before = (
        loyalty.score(voit, as_of).unwrap(),
        loyalty.points(voit, as_of).unwrap(),
        loyalty.state(voit).unwrap().unwrap().segment,
    );
    f.store
        .forget(voit, "right to be forgotten", Metadata::default())
        .unwrap();
    loyalty.catch_up().unwrap();
    let after = (
        loyalty.score(voit, as_of).unwrap(),
        loyalty.points(voit, as_of).unwrap(),
        loyalty.state(voit).unwrap().unwrap().segment,
    );
    assert_eq!(before, after);
    assert_eq!(after.2.get("channel").map(String::as_str), Some("web"));
}

#[test]
fn late_events_give_the_same_state_as_events_in_order() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let customer = CustomerId::new_random();
    let events: Vec<(_, EventPayload)> = vec![
        (at(2024, 1, 1), purchase("A", "10.00").into()),
        (at(2024, 2, 1), rating(4).into()),
        (at(2024, 3, 1), purchase("B", "20.00").into()),
        (
            at(2024, 3, 2),
            Cancellation {
                order_id: "B".into(),
                reason: None,
            }
            .into(),
        ),
        (at(2024, 4, 1), payment("bill", "30.00", true).into()),
    ];
    let ids: Vec<_> = (0..events.len()).map(|i| event_id(i as u64 + 1)).collect();
    let append = |f: &Fixture, order: &[usize]| {
        let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
        for &i in order {
            let (t, p) = events[i].clone();
            f.store
                .append(
                    customer,
                    clientele_core::ExpectedVersion::Any,
                    vec![clientele_core::NewEvent::new(t, p).with_id(ids[i])],
                )
                .unwrap();
            loyalty.catch_up().unwrap(); // fold each arrival, late ones included
        }
        loyalty
    };
    let in_order = append(&a, &[0, 1, 2, 3, 4]);
    let shuffled = append(&b, &[4, 3, 1, 2, 0]);
    let sa = in_order.state(customer).unwrap().unwrap();
    let sb = shuffled.state(customer).unwrap().unwrap();
    assert_eq!(
        postcard::to_allocvec(&sa).unwrap(),
        postcard::to_allocvec(&sb).unwrap()
    );
    let as_of = at(2024, 5, 1);
    assert_eq!(
        in_order.score(customer, as_of).unwrap(),
        shuffled.score(customer, as_of).unwrap()
    );
    // The cancelled order does not count; the bill (its reference is no
    // order) does: one purchase and one bill.
    let score = in_order.score(customer, as_of).unwrap().unwrap();
    let repeat = score.component(Factor::RepeatPurchase).unwrap();
    assert_eq!(repeat.value, 2.0);
    assert_eq!(repeat.detail, "1 purchase and 1 bill, 1 repeat");
}

#[test]
fn metrics_and_tiers_through_the_service() {
    let f = Fixture::new();
    let (voit, classmate) = (CustomerId::new_random(), CustomerId::new_random());
    voit_story(&f, voit, classmate);
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let as_of = at(2024, 4, 1);
    let period = Period::new(at(2023, 9, 1), at(2024, 4, 1)).unwrap();
    let m = loyalty.metrics(as_of, period, Some("channel")).unwrap();
    assert_eq!(m.total.customers, 2);
    assert_eq!(m.total.repeat_purchase.rate, Some(0.5)); // voit 2, classmate 1
    assert_eq!(m.total.referral_conversion.rate, Some(1.0));
    assert_eq!(m.segments.len(), 2); // "web" and no segment
                                     // The service walks the stored states twice instead of holding them all:
                                     // the same figures as the function over every state.
    let states = loyalty.projector().states().unwrap();
    assert_eq!(
        m,
        population_metrics(loyalty.policy(), &states, as_of, period, Some("channel")).unwrap()
    );
    let tiers = loyalty.tier_counts(as_of).unwrap();
    assert_eq!(tiers.values().sum::<u64>(), 2);
    assert_eq!(PROJECTION_NAME, "loyalty");
}

#[test]
fn population_scores_as_known_at_a_recorded_time_leave_out_what_came_later() {
    let f = Fixture::new();
    let (voit, friend) = (
        CustomerId::from_external("known", "voit"),
        CustomerId::from_external("known", "friend"),
    );
    let t0 = at(2024, 3, 1);
    f.append(
        voit,
        vec![
            (t0, purchase("K-1", "120.00").into()),
            (t0 + days(1), refer(friend).into()),
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let known_at = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Recorded after `known_at`, though they occurred before the as-of time:
    // the friend's first purchase (converting the referral) and a late rating.
    f.append(
        friend,
        vec![(t0 + days(3), purchase("F-1", "80.00").into())],
    );
    f.append(voit, vec![(t0 + days(2), rating(5).into())]);
    let mut loyalty = Loyalty::open(&f.store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let as_of = at(2024, 4, 1);
    let at_r = clientele_core::projection::AsOf::known_at(as_of, known_at);

    let then = loyalty.scores(at_r).unwrap();
    assert_eq!(then.len(), 1, "the friend was not known yet");
    let (customer, score) = &then[0];
    assert_eq!(*customer, voit);
    assert_eq!(score.component(Factor::Referrals).unwrap().value, 0.0);
    let state = loyalty.state(voit).unwrap().unwrap();
    assert_eq!(loyalty.converted_referrals(&state, at_r).unwrap(), 0);
    assert_eq!(loyalty.converted_referrals(&state, as_of).unwrap(), 1);

    let now = loyalty.scores(as_of).unwrap();
    assert_eq!(now.len(), 2);
    let voit_now = &now.iter().find(|(c, _)| *c == voit).unwrap().1;
    assert_eq!(voit_now.component(Factor::Referrals).unwrap().value, 1.0);
    assert!(voit_now.score > score.score);
    // Known at a time after every record: the same as the plain as-of view.
    let everything = clientele_core::projection::AsOf::known_at(as_of, chrono::Utc::now());
    assert_eq!(loyalty.scores(everything).unwrap(), now);
    let tiers = loyalty.tier_counts(at_r).unwrap();
    assert_eq!(tiers.values().sum::<u64>(), 1);
}

/// Loyalty is continuing transactions (002 L40): a subscriber who bought a
/// plan once and paid eleven monthly bills has eleven repeats, as a buyer of
/// twelve orders would; a shop's payment that settles an order is part of
/// that purchase, not a second transaction; and without
/// `recency.count_payments` bills count for nothing here either.
#[test]
fn bills_are_repeat_transactions_and_settlements_are_not() {
    let f = Fixture::new();
    let subscriber = CustomerId::from_external("telecom", "13900000000");
    let shopper = CustomerId::from_external("shop", "s-1");
    let mut events = vec![(at(2024, 1, 1), purchase("SIM-1", "100.00").into())];
    events.extend((2..=12).map(|m| {
        (
            at(2024, m, 1),
            payment(&format!("BILL-2024{m:02}"), "58.00", false).into(),
        )
    }));
    f.append(subscriber, events);
    f.append(
        shopper,
        vec![
            (at(2024, 1, 1), purchase("O-1", "80.00").into()),
            (at(2024, 1, 2), payment("O-1", "80.00", false).into()),
        ],
    );
    let as_of = at(2024, 12, 15);
    let repeat = |policy: LoyaltyPolicy, c: CustomerId| {
        let mut loyalty = Loyalty::open(&f.store, policy).unwrap();
        loyalty.catch_up().unwrap();
        let score = loyalty.score(c, as_of).unwrap().unwrap();
        let part = score.component(Factor::RepeatPurchase).unwrap().clone();
        (part.value, part.detail)
    };
    assert_eq!(
        repeat(LoyaltyPolicy::default(), subscriber),
        (12.0, "1 purchase and 11 bills, 11 repeat".to_owned())
    );
    assert_eq!(
        repeat(LoyaltyPolicy::default(), shopper),
        (1.0, "1 purchase, 0 repeat".to_owned())
    );
    let mut purchases_only = LoyaltyPolicy::default();
    purchases_only.recency.count_payments = false;
    assert_eq!(repeat(purchases_only, subscriber).0, 1.0);
}
