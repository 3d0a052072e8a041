//! The lifecycle and the churn-warning job speak of the same customers: the
//! day the lifecycle puts a silent customer in exit is the day the warning
//! job puts them on the win-back list. Both count silence from the latest
//! purchase or payment, with the same exit horizon (6 typical gaps, at least
//! 365 days, at most 1,095), so for one-time buyers and steady rhythms — with
//! or without bills paid after the last purchase — they agree to the day. A
//! payment made after that day (an old bill settled) brings the customer back
//! on neither side.
//!
//! The complaint desk, the lifecycle and the churn score speak of the same
//! complaints too: the desk's open complaints are the lifecycle's open
//! matters and the churn score's open complaints, and the desk's overdue and
//! recently late ones are the churn score's reply-rule breaches.

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele::churn::warning::WinBackRule;
use clientele::churn::{ChurnProjection, ModelContext, RiskPolicy};
use clientele::complaint::{ComplaintPolicy, Complaints, Reply};
use clientele::core::projection::fold;
use clientele::core::{event::*, Currency, CustomerId, ExpectedVersion, NewEvent, Store};
use clientele::lifecycle::{Lifecycle, LifecyclePolicy, OpenMatter, Stage};
use proptest::prelude::*;

/// Midnight UTC, `d` days after 2015-01-01 (early enough for the latest day
/// a case reaches to lie in the past): both sides count whole days then.
fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 1, 1, 0, 0, 0).unwrap() + Duration::days(d)
}

fn purchase(n: i64) -> Purchase {
    Purchase::new(format!("O-{n}"), "40.00".parse().unwrap(), Currency::CNY)
}

fn bill(d: i64) -> Payment {
    Payment {
        reference: format!("BILL-{d}"),
        amount: "58.00".parse().unwrap(),
        currency: Currency::CNY,
        due_date: Some(day(d).date_naive()),
        late: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn exit_and_the_win_back_list_fall_on_the_same_day(
        purchases in 1i64..6,
        gap in 30i64..200,
        bills in 0i64..14,
        bill_gap in 20i64..45,
        late in proptest::option::of(1i64..400),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let c = CustomerId::new_random();
        let mut events: Vec<NewEvent> =
            (0..purchases).map(|n| NewEvent::new(day(n * gap), purchase(n))).collect();
        let last_purchase = (purchases - 1) * gap;
        let last_bill = (bills > 0).then(|| last_purchase + bills * bill_gap);
        events.extend((1..=bills).map(|n| {
            let d = last_purchase + n * bill_gap;
            NewEvent::new(day(d), bill(d))
        }));
        // The horizon both sides use: 6 gaps, clamped (one purchase: the floor).
        let horizon = if purchases == 1 { 365 } else { (6 * gap).clamp(365, 1095) };
        let last_activity = last_bill.unwrap_or(last_purchase).max(last_purchase);
        let expected = last_activity + horizon;
        // A payment after the exit day, if any.
        if let Some(late) = late {
            let d = expected + late;
            events.push(NewEvent::new(day(d), bill(d)));
        }
        store.append(c, ExpectedVersion::Any, events).unwrap();

        let lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
        let stream = store.read_stream(c).unwrap();
        let state = fold(&ChurnProjection, stream.iter());
        let (risk, rule, model) = (RiskPolicy::default(), WinBackRule::default(), ModelContext::default());
        let after_late = late.map(|l| [expected + l, expected + l + 1, expected + l + 90]);
        for d in (expected - 3..=expected + 3).chain(after_late.into_iter().flatten()) {
            let exit = lifecycle.view(c, day(d)).unwrap().map(|v| v.stage) == Some(Stage::Exit);
            let silent = rule.silent(&risk.signals(&state, day(d), &model));
            prop_assert_eq!(exit, silent, "day {} (expected exit on day {})", d, expected);
            prop_assert_eq!(exit, d >= expected, "day {}", d);
        }
    }
}

/// A win-back by a reactivation (a campaign the customer answered, no
/// purchase yet) leads out of exit in the lifecycle and off the win-back
/// list; both then count silence from it again, and agree to the day.
#[test]
fn a_reactivation_wins_back_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = CustomerId::new_random();
    let reactivation = Reactivation {
        campaign: Some("we miss you".into()),
        channel: Some(Channel::Sms),
    };
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(day(0), purchase(0)),
                NewEvent::new(day(400), reactivation),
            ],
        )
        .unwrap();
    let lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
    let state = fold(&ChurnProjection, store.read_stream(c).unwrap().iter());
    let (risk, rule, model) = (
        RiskPolicy::default(),
        WinBackRule::default(),
        ModelContext::default(),
    );
    // A one-time buyer: exit 365 days after the purchase, and 365 days after
    // the reactivation again.
    for d in [364, 365, 399, 400, 401, 764, 765, 800] {
        let exit = lifecycle.view(c, day(d)).unwrap().map(|v| v.stage) == Some(Stage::Exit);
        let silent = rule.silent(&risk.signals(&state, day(d), &model));
        assert_eq!(exit, silent, "day {d}");
        assert_eq!(exit, (365..400).contains(&d) || d >= 765, "day {d}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_desk_the_lifecycle_and_the_churn_score_count_the_same_complaints(
        // Per complaint: the hours from one step to the next, for the steps
        // recorded (`received` always; the others when Some).
        complaints in proptest::collection::vec(
            proptest::collection::vec(proptest::option::of(1i64..60), 5),
            0..5,
        ),
        view_hours in 0i64..(200 * 24),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let c = CustomerId::new_random();
        let start = day(0);
        let mut events = vec![NewEvent::new(start, purchase(0))];
        for (n, gaps) in complaints.iter().enumerate() {
            let id = format!("CMP-{n}");
            let mut at = start + Duration::days(10 * n as i64);
            events.push(NewEvent::new(at, Complaint::new(id.clone(), ComplaintStep::Received)));
            for (step, gap) in ComplaintStep::ALL[1..].iter().zip(gaps) {
                if let Some(hours) = gap {
                    at += Duration::hours(*hours);
                    events.push(NewEvent::new(at, Complaint::new(id.clone(), *step)));
                }
            }
        }
        store.append(c, ExpectedVersion::Any, events).unwrap();
        let view = start + Duration::hours(view_hours);

        let mut desk = Complaints::open(&store).unwrap();
        desk.catch_up().unwrap();
        let statuses = desk.statuses(c, &ComplaintPolicy::default(), view).unwrap();
        let open: Vec<(String, ComplaintStep)> = statuses
            .iter()
            .filter(|s| s.is_open())
            .map(|s| (s.complaint.clone(), s.step))
            .collect();

        // The lifecycle's open matters.
        let lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
        let matters: Vec<(String, ComplaintStep)> = lifecycle
            .view(c, view)
            .unwrap()
            .map(|v| v.open_matters)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| match m {
                OpenMatter::Complaint { complaint_id, step, .. } => Some((complaint_id, step)),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&matters, &open);

        // The churn score, folded as of the view as the runtime folds it.
        let seen: Vec<_> = store
            .read_stream(c)
            .unwrap()
            .into_iter()
            .filter(|e| e.occurred_at <= view)
            .collect();
        let state = fold(&ChurnProjection, seen.iter());
        let signals = RiskPolicy::default().signals(&state, view, &ModelContext::default());
        prop_assert_eq!(signals.open_complaints as usize, open.len());
        // Breaches: overdue, or answered late within the last 90 days.
        let recent = view - Duration::days(90);
        let breaches = statuses
            .iter()
            .filter(|s| match s.reply {
                Reply::Overdue => true,
                Reply::Late => s.answered_at.is_some_and(|a| a > recent),
                Reply::Waiting | Reply::InTime => false,
            })
            .count();
        prop_assert_eq!(signals.sla_breaches as usize, breaches);
    }
}
