//! Scenarios from the domain notes, replayed through the store and the projection.

mod common;

use clientele_core::event::*;
use clientele_core::{CustomerId, EventKind};
use clientele_lifecycle::{
    Cause, ElapsedRule, IdentifierKind, LifecyclePolicy, MaturityRule, OpenMatter, Reason, Stage,
};
use common::*;

/// 000 L248–300 (notes §6.5): register → order (165 + 135 yuan) → courier call →
/// receipt → payment about 2 days later → positive review → discount SMS →
/// New-Year and Lantern greetings → return visit with 15 % off → loyal → refers
/// classmates. Expected: mature (loyal) with one referral.
#[test]
fn voit_web_shop_story_ends_mature_with_one_referral() {
    let f = Fixture::new();
    let me = CustomerId::from_external("voit", "student-1");
    let policy = LifecyclePolicy {
        orders_require_payment: true, // the shop records payment separately
        ..LifecyclePolicy::default()
    };
    let registered = at(2024, 9, 1);
    let ordered = at(2024, 9, 2);
    let mut order = purchase("V-1", "300.00");
    order.quantity = Some(2);
    order.channel = Some(Channel::Web);
    let mut courier = contact(Channel::Phone, Direction::Outbound, Purpose::Delivery);
    courier.outcome = Some("answered".into());
    let mut review = contact(Channel::Web, Direction::Inbound, Purpose::Survey);
    review.rating = Some(5);
    let payment = Payment {
        reference: "V-1".into(),
        amount: "300.00".parse().unwrap(),
        currency: "CNY".parse().unwrap(),
        due_date: None,
        late: false,
    };
    let mut repeat = purchase("V-2", "255.00"); // 15 % personal discount
    repeat.channel = Some(Channel::Web);
    let registration = contact(Channel::Web, Direction::Inbound, Purpose::Registration);
    let ids = f.append(
        me,
        vec![
            (registered, registration.into()),
            (ordered, order.into()),
            (at(2024, 9, 7), courier.into()),
            (
                at(2024, 9, 8),
                contact(Channel::Visit, Direction::Outbound, Purpose::Delivery).into(),
            ),
            (at(2024, 9, 10), payment.into()),
            (at(2024, 9, 10) + hours(1), review.into()),
            (
                at(2024, 10, 1),
                contact(Channel::Sms, Direction::Outbound, Purpose::Promotion).into(),
            ),
            (
                at(2025, 1, 1),
                contact(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
            ),
            (
                at(2025, 2, 12),
                contact(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
            ),
            (at(2025, 2, 20), repeat.into()),
            (at(2025, 3, 1), referral("classmate").into()),
            (
                at(2025, 4, 1),
                contact(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
            ),
        ],
    );
    let lifecycle = f.lifecycle_with(policy);

    // Before the first purchase the lifecycle has already started (003 L60).
    let v = lifecycle.view(me, registered + hours(1)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Acquisition);
    assert_eq!(v.reasons, vec![Reason::NoPurchaseYet]);

    // Ordered but not yet paid: growth, with the order open.
    let v = lifecycle.view(me, at(2024, 9, 5)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth);
    assert!(
        matches!(&v.open_matters[..], [OpenMatter::Unpaid { order_id, .. }] if order_id == "V-1")
    );
    let v = lifecycle.view(me, at(2024, 9, 11)).unwrap().unwrap();
    assert!(v.open_matters.is_empty(), "paid: {:?}", v.open_matters);

    // The return purchase alone is not yet steady buying (2 purchases).
    let v = lifecycle.view(me, at(2025, 2, 21)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth);

    // Loyal and recommending: mature with exactly one referral.
    let v = lifecycle.view(me, at(2025, 4, 2)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Maturity);
    assert_eq!(v.referrals, 1);
    assert_eq!(v.purchases, 2);
    assert_eq!(
        v.reasons,
        vec![Reason::ReferralAndRepeat {
            referrals: 1,
            purchases: 2
        }]
    );

    // The audit trail: acquisition (registration) → growth (order) → maturity (referral).
    let timeline = lifecycle.explain(me, at(2025, 4, 2)).unwrap();
    let steps: Vec<(Option<Stage>, Stage)> = timeline.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, Stage::Acquisition),
            (Some(Stage::Acquisition), Stage::Growth),
            (Some(Stage::Growth), Stage::Maturity),
        ]
    );
    match &timeline[1].cause {
        Cause::Event {
            event_id,
            kind,
            summary,
        } => {
            assert_eq!(*event_id, ids[1]);
            assert_eq!(*kind, EventKind::Purchase);
            assert_eq!(summary, "purchase V-1 300.00 CNY");
        }
        other => panic!("unexpected cause {other:?}"),
    }
    assert!(matches!(&timeline[2].cause, Cause::Event { event_id, .. } if *event_id == ids[10]));
    assert_eq!(timeline[2].at, at(2025, 3, 1));
}

/// 000 L322 / 003 L60: the lifecycle ends only when all related matters are
/// settled. An open complaint keeps a churned customer "exit pending".
#[test]
fn open_complaint_blocks_final_exit_until_archived() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2024, 3, 1);
    f.one(c, t, purchase("A-1", "99.00"));
    f.one(c, t + days(10), complaint("K-1", ComplaintStep::Received));
    f.one(
        c,
        t + days(10) + hours(2),
        complaint("K-1", ComplaintStep::Classified),
    );
    f.one(
        c,
        t + days(10) + hours(3),
        complaint("K-1", ComplaintStep::Resolved),
    );
    f.one(
        c,
        t + days(11),
        Churn {
            reason: "moved to a competitor".into(),
            voluntary: true,
        },
    );
    f.one(
        c,
        t + days(12),
        complaint("K-1", ComplaintStep::FeedbackGiven),
    );
    let archived = f.one(c, t + days(20), complaint("K-1", ComplaintStep::Archived));
    let lifecycle = f.lifecycle();

    let v = lifecycle.view(c, t + days(11) + hours(1)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Exit);
    assert!(v.exit_pending, "an open complaint blocks final exit");
    assert!(!v.is_final_exit());
    assert!(matches!(
        &v.open_matters[..],
        [OpenMatter::Complaint { complaint_id, step: ComplaintStep::Resolved, .. }] if complaint_id == "K-1"
    ));
    assert!(matches!(
        &v.reasons[..],
        [Reason::Churned {
            voluntary: true,
            ..
        }]
    ));

    // Feedback given is not yet settled (the default settles at archiving).
    let v = lifecycle.view(c, t + days(13)).unwrap().unwrap();
    assert!(v.exit_pending);

    let v = lifecycle.view(c, t + days(21)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Exit);
    assert!(v.is_final_exit());
    let last = v.last_change.unwrap();
    assert_eq!(
        (last.from, last.to, last.exit_pending),
        (Some(Stage::Exit), Stage::Exit, false)
    );
    assert!(matches!(last.cause, Cause::Event { event_id, .. } if event_id == archived));

    // A policy that settles complaints at feedback makes the exit final earlier.
    let settled_at_feedback = LifecyclePolicy {
        complaint_settled_step: ComplaintStep::FeedbackGiven,
        ..LifecyclePolicy::default()
    };
    let other = f.lifecycle_with(settled_at_feedback);
    assert!(other
        .view(c, t + days(13))
        .unwrap()
        .unwrap()
        .is_final_exit());
}

/// A cancelled, paid order keeps exit pending until it is refunded.
#[test]
fn refund_in_progress_keeps_exit_pending() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2024, 5, 1);
    f.one(c, t, purchase("A-1", "200.00"));
    f.one(
        c,
        t + days(1),
        Cancellation {
            order_id: "A-1".into(),
            reason: None,
        },
    );
    f.one(
        c,
        t + days(2),
        Refund {
            order_id: "A-1".into(),
            amount: "50.00".parse().unwrap(),
            currency: "CNY".parse().unwrap(),
            reason: None,
        },
    );
    f.one(
        c,
        t + days(3),
        Churn {
            reason: "unhappy".into(),
            voluntary: true,
        },
    );
    f.one(
        c,
        t + days(9),
        Refund {
            order_id: "A-1".into(),
            amount: "150.00".parse().unwrap(),
            currency: "CNY".parse().unwrap(),
            reason: None,
        },
    );
    let lifecycle = f.lifecycle();
    let v = lifecycle.view(c, t + days(4)).unwrap().unwrap();
    assert!(v.exit_pending);
    match &v.open_matters[..] {
        [OpenMatter::RefundOutstanding {
            order_id,
            owed,
            refunded,
        }] => {
            assert_eq!(order_id, "A-1");
            assert_eq!(owed.minor_units(), 20_000);
            assert_eq!(refunded.minor_units(), 5_000);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(lifecycle
        .view(c, t + days(10))
        .unwrap()
        .unwrap()
        .is_final_exit());
}

/// A customer with a monthly rhythm stops buying: decline at 3 typical gaps,
/// exit at the exit horizon, with no new events (views at increasing times).
#[test]
fn lapsed_customer_declines_then_exits_as_time_passes() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2024, 1, 1);
    let mut last = None;
    for i in 0..4 {
        last = Some(f.one(c, t + days(30 * i), purchase(&format!("M-{i}"), "80.00")));
    }
    let last = last.unwrap();
    let last_at = t + days(90);
    let lifecycle = f.lifecycle();
    let stage = |d: i64| lifecycle.view(c, last_at + days(d)).unwrap().unwrap().stage;

    // 4 purchases over 90 days: steady repeat buying.
    assert_eq!(stage(1), Stage::Maturity);
    assert_eq!(stage(89), Stage::Maturity);
    // Decline exactly at 3 × 30 days.
    assert_eq!(
        lifecycle
            .view(c, last_at + days(90) - hours(1))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Maturity
    );
    let v = lifecycle.view(c, last_at + days(90)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    assert_eq!(v.since, last_at + days(90));
    assert!(matches!(
        &v.reasons[..],
        [Reason::Inactive { reference, threshold_secs, .. }] if *reference == last && *threshold_secs == 90 * 86_400
    ));
    assert_eq!(stage(200), Stage::Decline);
    // Exit at max(6 × 30 days, the 365-day floor).
    assert_eq!(stage(364), Stage::Decline);
    let v = lifecycle.view(c, last_at + days(365)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Exit);
    assert!(v.is_final_exit());
    assert_eq!(stage(2000), Stage::Exit);

    // Each elapsed-time change names its rule, threshold and reference event,
    // at the exact instant the threshold was crossed.
    let timeline = lifecycle.explain(c, last_at + days(400)).unwrap();
    let n = timeline.len();
    assert_eq!(timeline[n - 2].at, last_at + days(90));
    assert_eq!(
        timeline[n - 2].cause,
        Cause::Elapsed {
            rule: ElapsedRule::InactivityDecline,
            threshold_secs: 90 * 86_400,
            reference: last
        }
    );
    assert_eq!(timeline[n - 1].at, last_at + days(365));
    assert_eq!(
        timeline[n - 1].cause,
        Cause::Elapsed {
            rule: ElapsedRule::InactivityExit,
            threshold_secs: 365 * 86_400,
            reference: last
        }
    );
    // The stored state is unchanged by views (pure): still maturity as folded.
    assert_eq!(
        lifecycle.state(c).unwrap().unwrap().stage(),
        Some(Stage::Maturity)
    );
}

/// A subscriber buys a plan once and pays a bill every month: while they
/// pay they are not inactive, and six bills make them mature; once the
/// bills stop, they decline 90 days after the last bill and exit a year
/// after it. A payment made in exit wins nobody back.
#[test]
fn a_paying_subscriber_is_not_inactive() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2023, 2, 20);
    f.one(c, t, purchase("SIM-1", "100.00"));
    let bill = |month: i64| Payment {
        reference: format!("BILL-{month}"),
        amount: "58.00".parse().unwrap(),
        currency: "CNY".parse().unwrap(),
        due_date: Some((t + days(30 * month)).date_naive()),
        late: false,
    };
    let mut last = None;
    for month in 1..=22 {
        last = Some(f.one(c, t + days(30 * month), bill(month)));
    }
    let last = last.unwrap();
    let last_at = t + days(30 * 22);
    let lifecycle = f.lifecycle();
    let stage = |at| lifecycle.view(c, at).unwrap().unwrap().stage;
    // Paying for 22 months after one purchase: never inactive meanwhile,
    // and mature from the sixth bill (day 180, 150 days after the first).
    for d in [100, 179] {
        assert_eq!(stage(t + days(d)), Stage::Growth, "day {d}");
    }
    let v = lifecycle.view(c, t + days(180)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Maturity);
    assert_eq!(
        v.reasons,
        [Reason::SteadyPaying {
            bills: 6,
            span_days: 150
        }]
    );
    for d in [200, 400, 600] {
        assert_eq!(stage(t + days(d)), Stage::Maturity, "day {d}");
    }
    let stages: Vec<Stage> = lifecycle
        .explain(c, last_at)
        .unwrap()
        .iter()
        .map(|change| change.to)
        .collect();
    assert_eq!(stages, [Stage::Growth, Stage::Maturity]);
    // Without the bill path of maturity, growth throughout.
    let purchases_only = f.lifecycle_with(LifecyclePolicy {
        maturity: MaturityRule {
            min_bills: 0,
            ..MaturityRule::default()
        },
        ..LifecyclePolicy::default()
    });
    assert_eq!(
        purchases_only.view(c, last_at).unwrap().unwrap().stage,
        Stage::Growth
    );
    // The bills stop: decline 90 days after the last one (three monthly
    // bills unpaid), exit on a one-time buyer's horizon from it.
    assert_eq!(stage(last_at + days(89)), Stage::Maturity);
    let v = lifecycle.view(c, last_at + days(90)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    assert!(matches!(
        &v.reasons[..],
        [Reason::Inactive { reference, threshold_secs, .. }]
            if *reference == last && *threshold_secs == 90 * 86_400
    ));
    assert_eq!(stage(last_at + days(364)), Stage::Decline);
    assert_eq!(stage(last_at + days(365)), Stage::Exit);
    // Without the bill rule, the one-time buyer's 180 days apply.
    let rhythm_only = f.lifecycle_with(LifecyclePolicy {
        bill_lapse_decline_days: None,
        ..LifecyclePolicy::default()
    });
    assert_eq!(
        rhythm_only
            .view(c, last_at + days(179))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Maturity
    );
    assert_eq!(
        rhythm_only
            .view(c, last_at + days(180))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Decline
    );
    // In exit, a payment (an old bill settled) is not a win-back.
    f.one(c, last_at + days(400), bill(23));
    let lifecycle = f.lifecycle();
    assert_eq!(
        lifecycle
            .view(c, last_at + days(401))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Exit
    );

    // The policy can ignore payments: then the plan purchase is the last activity.
    let strict = f.lifecycle_with(LifecyclePolicy {
        payments_are_activity: false,
        ..LifecyclePolicy::default()
    });
    assert_eq!(
        strict.view(c, t + days(180)).unwrap().unwrap().stage,
        Stage::Decline
    );
    assert_eq!(
        strict.view(c, t + days(365)).unwrap().unwrap().stage,
        Stage::Exit
    );

    // A win-back starts a new relationship: the old bills no longer count.
    let back = last_at + days(420);
    f.one(c, back, purchase("SIM-2", "100.00"));
    for month in 1..=5 {
        f.one(c, back + days(30 * month), bill(100 + month));
    }
    let lifecycle = f.lifecycle();
    let v = lifecycle.view(c, back + days(170)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth, "{:?}", v.reasons);
    f.one(c, back + days(180), bill(106));
    let lifecycle = f.lifecycle();
    assert_eq!(
        lifecycle.view(c, back + days(181)).unwrap().unwrap().stage,
        Stage::Maturity
    );
}

/// Win-back (000 L332): a reactivation or a new purchase leads out of exit.
#[test]
fn win_back_leads_out_of_exit() {
    let f = Fixture::new();
    let lapsed = CustomerId::new_random();
    let churned = CustomerId::new_random();
    let t = at(2023, 1, 1);
    f.one(lapsed, t, purchase("A-1", "10.00"));
    let back = f.one(
        lapsed,
        t + days(500),
        Reactivation {
            campaign: Some("birthday card".into()),
            channel: Some(Channel::Mail),
        },
    );
    f.one(churned, t, purchase("B-1", "10.00"));
    f.one(churned, t + days(1), purchase("B-2", "10.00"));
    f.one(
        churned,
        t + days(2),
        Churn {
            reason: "price".into(),
            voluntary: true,
        },
    );
    f.one(churned, t + days(40), purchase("B-3", "12.00"));
    let lifecycle = f.lifecycle();

    assert_eq!(
        lifecycle
            .view(lapsed, t + days(499))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Exit
    );
    let v = lifecycle.view(lapsed, t + days(501)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth);
    let change = v.last_change.unwrap();
    assert_eq!((change.from, change.to), (Some(Stage::Exit), Stage::Growth));
    assert!(
        matches!(change.cause, Cause::Event { event_id, kind: EventKind::Reactivation, .. } if event_id == back)
    );
    // The new relationship lapses again on its own clock.
    assert_eq!(
        lifecycle
            .view(lapsed, t + days(500 + 181))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Decline
    );

    assert_eq!(
        lifecycle.view(churned, t + days(3)).unwrap().unwrap().stage,
        Stage::Exit
    );
    let v = lifecycle.view(churned, t + days(41)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth);
    assert_eq!(v.purchases, 1, "a win-back starts a new relationship");
}

/// 000 L574: complaints must get a reply within 24 hours. Unanswered past that,
/// the customer is in decline, until the complaint is answered.
#[test]
fn complaint_unanswered_past_24_hours_declines() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let quick = CustomerId::new_random();
    let t = at(2024, 6, 1);
    f.one(c, t, purchase("A-1", "10.00"));
    let received = f.one(c, t + days(1), complaint("K-9", ComplaintStep::Received));
    let resolved = f.one(
        c,
        t + days(1) + hours(30),
        complaint("K-9", ComplaintStep::Resolved),
    );
    f.one(quick, t, purchase("Q-1", "10.00"));
    f.one(quick, t + days(1), complaint("Q", ComplaintStep::Received));
    f.one(
        quick,
        t + days(1) + hours(23),
        complaint("Q", ComplaintStep::Resolved),
    );
    let lifecycle = f.lifecycle();

    let complained = t + days(1);
    assert_eq!(
        lifecycle
            .view(c, complained + hours(23))
            .unwrap()
            .unwrap()
            .stage,
        Stage::Growth
    );
    let v = lifecycle.view(c, complained + hours(25)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    assert!(matches!(
        &v.reasons[..],
        [Reason::ComplaintUnanswered { complaint_id, step: ComplaintStep::Received, deadline }]
            if complaint_id == "K-9" && *deadline == complained + hours(24)
    ));
    let change = v.last_change.unwrap();
    assert_eq!(change.at, complained + hours(24));
    assert_eq!(
        change.cause,
        Cause::Elapsed {
            rule: ElapsedRule::ComplaintReply,
            threshold_secs: 24 * 3_600,
            reference: received
        }
    );
    // Answered: back to growth, caused by the resolution.
    let v = lifecycle.view(c, complained + hours(31)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Growth);
    assert!(
        matches!(v.last_change.unwrap().cause, Cause::Event { event_id, .. } if event_id == resolved)
    );
    // Still an open matter until archived (not blocking anything while active).
    assert_eq!(v.open_matters.len(), 1);

    // Answered within 24 h: never in decline.
    let timeline = lifecycle.explain(quick, t + days(10)).unwrap();
    assert!(
        timeline.iter().all(|c| c.to != Stage::Decline),
        "{timeline:?}"
    );
}

/// Spending halves over the last purchases → decline, with the averages.
#[test]
fn spend_drop_declines() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2024, 1, 1);
    for (i, amount) in ["100.00", "110.00", "90.00", "40.00", "30.00", "35.00"]
        .iter()
        .enumerate()
    {
        f.one(
            c,
            t + days(7 * i as i64),
            purchase(&format!("S-{i}"), amount),
        );
    }
    let lifecycle = f.lifecycle();
    let v = lifecycle.view(c, t + days(36)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    match &v.reasons[..] {
        [Reason::SpendDrop {
            recent_average,
            earlier_average,
        }] => {
            assert_eq!(recent_average.minor_units(), 3_500);
            assert_eq!(earlier_average.minor_units(), 10_000);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Before the drop it was steady buying.
    assert_eq!(
        lifecycle.view(c, t + days(22)).unwrap().unwrap().stage,
        Stage::Growth
    );
    // Disabled by policy: no decline.
    let off = f.lifecycle_with(LifecyclePolicy {
        spend_drop: None,
        ..LifecyclePolicy::default()
    });
    assert_ne!(
        off.view(c, t + days(36)).unwrap().unwrap().stage,
        Stage::Decline
    );
}

/// Ping An (001 L5–6): a customer is found by whatever identifier they give:
/// plate, plate suffix, policy number, national id, phone, e-mail.
#[test]
fn insurer_finds_customers_by_any_identifier() {
    let f = Fixture::new();
    let wang = CustomerId::from_external("insurer", "wang");
    let li = CustomerId::from_external("insurer", "li");
    let p = Profile {
        name: Some("王先生".into()),
        licence_plate: Some("京A-12345".into()),
        national_id: Some("11010519491231002x".into()),
        phone: Some("+86 138 0013 8000".into()),
        email: Some("Wang@Example.com".into()),
        policy_numbers: vec!["PA-001".into()],
        ..Profile::default()
    };
    f.one(wang, at(2024, 1, 1), p);
    let mut car = purchase("W-1", "4200.00");
    car.policy_number = Some("pa-777".into());
    car.valid_until = Some(date(2025, 1, 31));
    f.one(wang, at(2024, 2, 1), car);
    let q = Profile {
        licence_plate: Some("沪B 99845".into()),
        national_id: Some("310101198001010011".into()),
        ..Profile::default()
    };
    f.one(li, at(2024, 1, 5), q);
    let lifecycle = f.lifecycle();

    assert_eq!(lifecycle.lookup("京A12345").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup("京a 123-45").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup("PA-001").unwrap(), vec![wang]);
    assert_eq!(
        lifecycle.lookup("PA-777").unwrap(),
        vec![wang],
        "policy number from a purchase"
    );
    assert_eq!(lifecycle.lookup("11010519491231002X").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup("8613800138000").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup("wang@example.com").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup("310101198001010011").unwrap(), vec![li]);
    assert_eq!(
        lifecycle.lookup_by(IdentifierKind::Phone, "138").unwrap(),
        vec![]
    );
    assert!(lifecycle.lookup("nobody").unwrap().is_empty());
    assert!(lifecycle.lookup("   ").is_err());

    // "车牌尾数" (001 L6): by the plate's last digit(s).
    let mut both = vec![wang, li];
    both.sort();
    assert_eq!(lifecycle.lookup_plate_suffix("5").unwrap(), both);
    assert_eq!(lifecycle.lookup_plate_suffix("45").unwrap(), both);
    assert_eq!(lifecycle.lookup_plate_suffix("845").unwrap(), vec![li]);
    assert_eq!(lifecycle.lookup_plate_suffix("2345").unwrap(), vec![wang]);

    // A new plate replaces the old one in the index.
    let moved = Profile {
        licence_plate: Some("京C00001".into()),
        ..Profile::default()
    };
    f.one(wang, at(2024, 6, 1), moved);
    let mut lifecycle = lifecycle;
    lifecycle.catch_up().unwrap();
    assert!(lifecycle.lookup("京A12345").unwrap().is_empty());
    assert_eq!(lifecycle.lookup("京C00001").unwrap(), vec![wang]);
    assert_eq!(lifecycle.lookup_plate_suffix("1").unwrap(), vec![wang]);
}

/// Ping An (001 L5): renewal lists for a day or a period, with the intents
/// gathered from contacts (continue / not renewing / considering).
#[test]
fn renewal_due_list_with_intents() {
    let f = Fixture::new();
    let a = CustomerId::from_external("insurer", "a");
    let b = CustomerId::from_external("insurer", "b");
    let c = CustomerId::from_external("insurer", "c");
    let policy = |number: &str, until| {
        let mut p = purchase(&format!("order-{number}"), "3000.00");
        p.policy_number = Some(number.into());
        p.valid_until = Some(until);
        p
    };
    let intent = |i| {
        let mut k = contact(
            Channel::Phone,
            Direction::Outbound,
            Purpose::RenewalReminder,
        );
        k.renewal_intent = Some(i);
        k
    };
    // a: renewed last year; stated an intent before the renewal (stale), then none.
    f.one(a, at(2023, 7, 1), policy("P-A", date(2024, 7, 1)));
    f.one(a, at(2024, 6, 1), intent(RenewalIntent::Considering));
    f.one(a, at(2024, 6, 20), policy("P-A", date(2025, 7, 1)));
    // b: due 2025-07-03, will not renew.
    f.one(b, at(2024, 7, 3), policy("P-B", date(2025, 7, 3)));
    f.one(b, at(2025, 6, 1), intent(RenewalIntent::NotRenewing));
    // c: two policies, one due in the window, the intent applies to both.
    f.one(c, at(2024, 7, 2), policy("P-C1", date(2025, 7, 2)));
    f.one(c, at(2024, 9, 1), policy("P-C2", date(2025, 9, 1)));
    f.one(c, at(2025, 6, 5), intent(RenewalIntent::Continue));
    let lifecycle = f.lifecycle();

    let due = lifecycle
        .renewals_due(date(2025, 7, 1), date(2025, 7, 31))
        .unwrap();
    let got: Vec<(CustomerId, &str, chrono::NaiveDate, Option<RenewalIntent>)> = due
        .iter()
        .map(|r| {
            (
                r.customer,
                r.policy_number.as_str(),
                r.valid_until,
                r.intent,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (a, "P-A", date(2025, 7, 1), None),
            (c, "P-C1", date(2025, 7, 2), Some(RenewalIntent::Continue)),
            (b, "P-B", date(2025, 7, 3), Some(RenewalIntent::NotRenewing)),
        ]
    );
    // "当天": one day.
    let today = lifecycle
        .renewals_due(date(2025, 7, 2), date(2025, 7, 2))
        .unwrap();
    assert_eq!(today.len(), 1);
    assert_eq!(today[0].customer, c);
    // The renewed policy is no longer due at its old date.
    assert!(lifecycle
        .renewals_due(date(2024, 7, 1), date(2024, 7, 1))
        .unwrap()
        .is_empty());
    assert!(lifecycle
        .renewals_due(date(2025, 8, 1), date(2025, 7, 1))
        .unwrap()
        .is_empty());
}

/// The renewal list as the desk printed it at R: a renewal bought and an
/// intent stated after R are not in it; today's list has them.
#[test]
fn renewal_list_as_known_at_a_recorded_time() {
    let f = Fixture::new();
    let a = CustomerId::from_external("insurer", "a");
    let b = CustomerId::from_external("insurer", "b");
    let policy = |number: &str, until| {
        let mut p = purchase(&format!("order-{number}-{until}"), "3000.00");
        p.policy_number = Some(number.into());
        p.valid_until = Some(until);
        p
    };
    f.one(a, at(2024, 7, 2), policy("P-A", date(2025, 7, 1)));
    f.one(b, at(2024, 7, 3), policy("P-B", date(2025, 7, 3)));
    let printed = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Recorded after the list was printed: a renewed early, b said no.
    f.one(a, at(2025, 6, 20), policy("P-A", date(2026, 7, 1)));
    let mut no = contact(
        Channel::Phone,
        Direction::Outbound,
        Purpose::RenewalReminder,
    );
    no.renewal_intent = Some(RenewalIntent::NotRenewing);
    f.one(b, at(2025, 6, 21), no);
    let lifecycle = f.lifecycle();
    let (from, to) = (date(2025, 7, 1), date(2025, 7, 31));
    let listed = |due: Vec<clientele_lifecycle::RenewalDue>| {
        due.into_iter()
            .map(|r| (r.customer, r.policy_number, r.intent))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(lifecycle.renewals_due_known_at(from, to, printed).unwrap()),
        vec![(a, "P-A".to_owned(), None), (b, "P-B".to_owned(), None)]
    );
    assert_eq!(
        listed(lifecycle.renewals_due(from, to).unwrap()),
        vec![(b, "P-B".to_owned(), Some(RenewalIntent::NotRenewing))]
    );
    // Known at a time after everything: today's list.
    let later = chrono::Utc::now() + days(1);
    assert_eq!(
        lifecycle.renewals_due_known_at(from, to, later).unwrap(),
        lifecycle.renewals_due(from, to).unwrap()
    );
    assert!(lifecycle
        .renewals_due_known_at(to, from, printed)
        .unwrap()
        .is_empty());
}

/// "What did we know at R?": a late event changes the view, but not the view
/// as known before it was recorded.
#[test]
fn known_at_ignores_events_recorded_later() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let t = at(2024, 1, 1);
    f.one(c, t, purchase("A-1", "10.00"));
    let before_late = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // A churn that happened in February is recorded only now (a late event).
    f.one(
        c,
        t + days(40),
        Churn {
            reason: "moved".into(),
            voluntary: true,
        },
    );
    let lifecycle = f.lifecycle();
    let as_of = t + days(60);
    assert_eq!(
        lifecycle.view(c, as_of).unwrap().unwrap().stage,
        Stage::Exit
    );
    let then = lifecycle
        .view_known_at(c, as_of, before_late)
        .unwrap()
        .unwrap();
    assert_eq!(then.stage, Stage::Growth);
    assert_eq!(
        lifecycle
            .explain_known_at(c, as_of, before_late)
            .unwrap()
            .len(),
        1
    );

    let now = lifecycle.stage_distribution(as_of).unwrap();
    assert_eq!(now.count(Stage::Exit), 1);
    let known = lifecycle
        .stage_distribution_known_at(as_of, before_late)
        .unwrap();
    assert_eq!(known.count(Stage::Growth), 1);
    assert_eq!(known.count(Stage::Exit), 0);
    // A stage flow as known then: at each time, what the one-time call says.
    let times = [as_of, t + days(20), t - days(1)];
    let flow = lifecycle
        .stage_distributions_known_at(&times, before_late)
        .unwrap();
    for (time, dist) in times.iter().zip(&flow) {
        assert_eq!(
            dist,
            &lifecycle
                .stage_distribution_known_at(*time, before_late)
                .unwrap()
        );
    }
    assert_eq!(flow[0].count(Stage::Growth), 1);
    assert_eq!(flow[2].total, 0);
    assert_eq!(
        lifecycle.stage_distributions(&times).unwrap()[0].count(Stage::Exit),
        1
    );
}

#[test]
fn stage_distribution_counts_the_population() {
    let f = Fixture::new();
    let t = at(2024, 1, 1);
    let prospect = CustomerId::new_random();
    f.one(
        prospect,
        t,
        contact(Channel::Web, Direction::Inbound, Purpose::Inquiry),
    );
    let buyer = CustomerId::new_random();
    f.one(buyer, t, purchase("B", "1.00"));
    let leaver = CustomerId::new_random();
    f.one(leaver, t, purchase("L", "1.00"));
    f.one(leaver, t + days(1), complaint("K", ComplaintStep::Received));
    f.one(
        leaver,
        t + days(1) + hours(1),
        Churn {
            reason: "x".into(),
            voluntary: false,
        },
    );
    let lifecycle = f.lifecycle();
    let d = lifecycle.stage_distribution(t + days(2)).unwrap();
    assert_eq!(d.total, 3);
    assert_eq!(d.count(Stage::Acquisition), 1);
    assert_eq!(d.count(Stage::Growth), 1);
    assert_eq!(d.count(Stage::Exit), 1);
    assert_eq!(d.exit_pending, 1);
    // Before anyone existed.
    assert_eq!(lifecycle.stage_distribution(t - days(1)).unwrap().total, 0);
    // Time passes: the one-time buyer declines.
    let d = lifecycle.stage_distribution(t + days(200)).unwrap();
    assert_eq!(d.count(Stage::Decline), 1);
}

#[test]
fn a_policy_change_rebuilds() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    f.one(c, at(2024, 1, 1), purchase("A", "1.00"));
    let l = f.lifecycle();
    assert!(l.projector().was_rebuilt());
    drop(l);
    let same = f.lifecycle();
    assert!(!same.projector().was_rebuilt(), "same policy: no rebuild");
    drop(same);
    let other = f.lifecycle_with(LifecyclePolicy {
        one_time_decline_after_days: 90,
        ..LifecyclePolicy::default()
    });
    assert!(other.projector().was_rebuilt());
    assert_eq!(
        other.view(c, at(2024, 4, 5)).unwrap().unwrap().stage,
        Stage::Decline
    );
}

#[test]
fn invalid_policy_is_refused_with_the_field() {
    let f = Fixture::new();
    let bad = LifecyclePolicy {
        exit_gap_multiple: -1.0,
        ..LifecyclePolicy::default()
    };
    let err = clientele_lifecycle::Lifecycle::open(&f.store, bad)
        .err()
        .unwrap();
    assert!(err.to_string().contains("exit_gap_multiple"), "{err}");
}

#[test]
fn unknown_customer_has_no_view() {
    let f = Fixture::new();
    let lifecycle = f.lifecycle();
    assert!(lifecycle
        .view(CustomerId::new_random(), at(2024, 1, 1))
        .unwrap()
        .is_none());
    assert!(lifecycle
        .explain(CustomerId::new_random(), at(2024, 1, 1))
        .unwrap()
        .is_empty());
}

/// Forgetting a customer (crypto-shredding) removes their identifiers from the
/// lifecycle state and the lookup index; the stage history stays.
#[test]
fn forgetting_a_customer_removes_identifiers_from_the_index() {
    let f = Fixture::new();
    let c = CustomerId::new_random();
    let p = Profile {
        licence_plate: Some("粤B12345".into()),
        phone: Some("13900000000".into()),
        ..Profile::default()
    };
    f.one(c, at(2024, 1, 1), p);
    let mut car = purchase("W-1", "4200.00");
    car.policy_number = Some("PN-1".into());
    car.valid_until = Some(date(2025, 1, 1));
    f.one(c, at(2024, 1, 2), car);
    let mut lifecycle = f.lifecycle();
    assert_eq!(lifecycle.lookup("粤B12345").unwrap(), vec![c]);
    assert_eq!(lifecycle.lookup("PN-1").unwrap(), vec![c]);

    f.store
        .forget(c, "right to be forgotten", Default::default())
        .unwrap();
    lifecycle.catch_up().unwrap();
    assert!(lifecycle.lookup("粤B12345").unwrap().is_empty());
    assert!(lifecycle.lookup("13900000000").unwrap().is_empty());
    assert!(lifecycle.lookup("PN-1").unwrap().is_empty());
    assert!(lifecycle.lookup_plate_suffix("5").unwrap().is_empty());
    assert!(lifecycle
        .renewals_due(date(2025, 1, 1), date(2025, 1, 1))
        .unwrap()
        .is_empty());
    let state = lifecycle.state(c).unwrap().unwrap();
    assert_eq!(state.identity(), &clientele_lifecycle::Identity::default());
    // The lifecycle itself is not personal data: the stage stays.
    assert_eq!(
        lifecycle
            .view(c, chrono::Utc::now())
            .unwrap()
            .unwrap()
            .stage,
        Stage::Exit
    );
    // A rebuild (reading the erased records) gives the same state.
    lifecycle.rebuild().unwrap();
    assert_eq!(lifecycle.state(c).unwrap().unwrap(), state);
}

/// The insurer (001 L5–6): a policyholder buys once a term. While the cover
/// bought with the last purchase runs they are not inactive, however long the
/// term; a cover that ends without a renewal is the decline, and half a year
/// later the exit (the default `CoverRule`). A renewal keeps them; a later
/// purchase without cover, or a policy with the rule off, brings back the
/// rhythm rules (a one-time buyer declines after 180 days).
#[test]
fn a_policyholder_declines_when_the_cover_lapses_not_mid_term() {
    let f = Fixture::new();
    let wang = CustomerId::from_external("insurer", "wang");
    let bought = at(2024, 1, 10);
    let mut car = purchase("W-1", "4200.00");
    car.policy_number = Some("PA-777".into());
    car.valid_until = Some(date(2025, 1, 9));
    let bought_id = f.one(wang, bought, car);
    let lifecycle = f.lifecycle();
    let stage = |t| lifecycle.view(wang, t).unwrap().unwrap().stage;

    // Mid-term, long past the one-time buyer's 180 days: still growth.
    assert_eq!(stage(bought + days(200)), Stage::Growth);
    // The cover's last day, to its last hour: growth.
    let lapsed = at(2025, 1, 10) - hours(10); // 2025-01-10 00:00 UTC
    assert_eq!(stage(lapsed - hours(1)), Stage::Growth);
    // Not renewed: decline from the first instant after the cover.
    let v = lifecycle.view(wang, lapsed).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    assert_eq!(v.since, lapsed);
    assert_eq!(
        v.reasons,
        vec![Reason::CoverLapsed {
            last_day: date(2025, 1, 9),
            cancelled: false,
            reference: bought_id,
            threshold_secs: 0,
        }]
    );
    // Exit 180 days after the cover ended.
    assert_eq!(stage(lapsed + days(180) - hours(1)), Stage::Decline);
    let v = lifecycle.view(wang, lapsed + days(180)).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Exit);
    assert_eq!(
        v.reasons,
        vec![Reason::CoverLapsedBeyondExitHorizon {
            last_day: date(2025, 1, 9),
            cancelled: false,
            reference: bought_id,
            threshold_secs: 180 * 86_400,
        }]
    );
    // The audit trail names the cover rules, counted from the purchase.
    let timeline = lifecycle.explain(wang, lapsed + days(200)).unwrap();
    let from_purchase = (lapsed - bought).num_seconds();
    let causes: Vec<&Cause> = timeline.iter().map(|c| &c.cause).collect();
    assert_eq!(
        causes[1..],
        [
            &Cause::Elapsed {
                rule: ElapsedRule::CoverLapseDecline,
                threshold_secs: from_purchase,
                reference: bought_id,
            },
            &Cause::Elapsed {
                rule: ElapsedRule::CoverLapseExit,
                threshold_secs: from_purchase + 180 * 86_400,
                reference: bought_id,
            },
        ]
    );

    // Renewed a week before the end: growth until the new cover ends.
    let li = CustomerId::from_external("insurer", "li");
    let mut first = purchase("L-1", "3900.00");
    first.valid_until = Some(date(2025, 1, 9));
    let mut renewal = purchase("L-2", "4100.00");
    renewal.valid_until = Some(date(2026, 1, 9));
    f.append(
        li,
        vec![(bought, first.into()), (at(2025, 1, 2), renewal.into())],
    );
    let lifecycle = f.lifecycle();
    let stage = |t| lifecycle.view(li, t).unwrap().unwrap().stage;
    assert_eq!(stage(lapsed + days(30)), Stage::Growth);
    assert_eq!(stage(at(2026, 1, 9)), Stage::Growth);
    assert_eq!(stage(at(2026, 1, 10)), Stage::Decline);

    // A purchase without cover after the policy: the rhythm rules again
    // (two purchases 200 days apart: decline after 3 × 200 days).
    let zhao = CustomerId::from_external("insurer", "zhao");
    let mut policy = purchase("Z-1", "3900.00");
    policy.valid_until = Some(date(2025, 1, 9));
    let retail = purchase("Z-2", "80.00");
    let retail_at = bought + days(200);
    f.append(
        zhao,
        vec![(bought, policy.into()), (retail_at, retail.into())],
    );
    let lifecycle = f.lifecycle();
    let stage = |t| lifecycle.view(zhao, t).unwrap().unwrap().stage;
    assert_eq!(stage(lapsed + days(30)), Stage::Growth);
    assert_eq!(stage(retail_at + days(600) - hours(1)), Stage::Growth);
    assert_eq!(stage(retail_at + days(600)), Stage::Decline);

    // With the cover rule off, the one-time buyer's 180 days apply.
    let off = f.lifecycle_with(LifecyclePolicy {
        cover: None,
        ..LifecyclePolicy::default()
    });
    assert_eq!(
        off.view(wang, bought + days(180)).unwrap().unwrap().stage,
        Stage::Decline
    );
}

/// A surrendered policy (the order that bought the cover is cancelled): the
/// cover ends at the cancellation, so the customer declines then and exits
/// 180 days later, the audit trail counts from the cancellation, and the
/// policy leaves the renewal-due list. Cancelling another order changes
/// nothing.
#[test]
fn a_cancelled_policy_ends_the_cover_and_leaves_the_renewal_list() {
    let f = Fixture::new();
    let sun = CustomerId::from_external("insurer", "sun");
    let mut car = purchase("S-1", "4200.00");
    car.policy_number = Some("PA-888".into());
    car.valid_until = Some(date(2025, 1, 9));
    f.one(sun, at(2024, 1, 10), car);
    f.one(
        sun,
        at(2024, 3, 1),
        Cancellation {
            order_id: "other".into(),
            reason: None,
        },
    );
    let before = f.lifecycle();
    assert_eq!(
        before
            .renewals_due(date(2025, 1, 1), date(2025, 1, 31))
            .unwrap()
            .len(),
        1
    );
    let surrendered = at(2024, 6, 14);
    let cancel_id = f.one(
        sun,
        surrendered,
        Cancellation {
            order_id: "S-1".into(),
            reason: Some("sold the car".into()),
        },
    );
    let lifecycle = f.lifecycle();
    let stage = |t| lifecycle.view(sun, t).unwrap().unwrap().stage;
    assert_eq!(stage(surrendered - hours(1)), Stage::Growth);
    let v = lifecycle.view(sun, surrendered).unwrap().unwrap();
    assert_eq!(v.stage, Stage::Decline);
    assert_eq!(
        v.reasons,
        vec![Reason::CoverLapsed {
            last_day: date(2024, 6, 14),
            cancelled: true,
            reference: cancel_id,
            threshold_secs: 0,
        }]
    );
    assert_eq!(stage(surrendered + days(180) - hours(1)), Stage::Decline);
    assert_eq!(stage(surrendered + days(180)), Stage::Exit);
    let timeline = lifecycle.explain(sun, surrendered + days(200)).unwrap();
    assert_eq!(
        timeline.last().map(|c| &c.cause),
        Some(&Cause::Elapsed {
            rule: ElapsedRule::CoverLapseExit,
            threshold_secs: 180 * 86_400,
            reference: cancel_id,
        })
    );
    assert!(lifecycle
        .renewals_due(date(2025, 1, 1), date(2025, 1, 31))
        .unwrap()
        .is_empty());
    // Still found by its policy number.
    assert_eq!(lifecycle.lookup("PA-888").unwrap(), vec![sun]);
}
