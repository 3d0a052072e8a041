//! The complaint desk through the store: the reply rule at its edges,
//! skipped steps, attributes, churn after complaints, and a model of the
//! whole desk checked against any arrival order of the same events.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_complaint::{ComplaintPolicy, ComplaintStatus, Complaints, Reply};
use clientele_core::event::{Churn, Complaint, ComplaintStep, Purchase};
use clientele_core::projection::AsOf;
use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 15, 9, 0, 0).unwrap()
}

fn step(id: &str, step: ComplaintStep) -> Complaint {
    Complaint::new(id, step)
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn open(store: &Store) -> Complaints {
    let mut complaints = Complaints::open(store).unwrap();
    complaints.catch_up().unwrap();
    complaints
}

fn only(statuses: Vec<ComplaintStatus>) -> ComplaintStatus {
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    statuses.into_iter().next().unwrap()
}

#[test]
fn the_reply_rule_at_its_edges() {
    let (_dir, store) = store();
    let policy = ComplaintPolicy::default();
    let day = 24 * 60;
    // Answered exactly 24 h after receipt: in time. One minute later: late.
    let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
    store
        .append(
            a,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(0), step("A", ComplaintStep::Received)),
                NewEvent::new(at(day), step("A", ComplaintStep::Resolved)),
            ],
        )
        .unwrap();
    store
        .append(
            b,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(0), step("B", ComplaintStep::Received)),
                NewEvent::new(at(day + 1), step("B", ComplaintStep::Resolved)),
            ],
        )
        .unwrap();
    let c = open(&store);
    let a_now = only(c.statuses(a, &policy, at(10 * day)).unwrap());
    assert_eq!(a_now.reply, Reply::InTime);
    assert_eq!(a_now.hours_to_answer, Some(24.0));
    assert_eq!(a_now.hours_past_deadline, None);
    let b_now = only(c.statuses(b, &policy, at(10 * day)).unwrap());
    assert_eq!(b_now.reply, Reply::Late);
    assert_eq!(b_now.hours_past_deadline, Some(1.0 / 60.0));
    // Unanswered at the deadline itself: still waiting; a minute past: overdue.
    let b_then = only(c.statuses(b, &policy, at(day)).unwrap());
    assert_eq!(
        (b_then.reply, b_then.step),
        (Reply::Waiting, ComplaintStep::Received)
    );
    assert_eq!(b_then.deadline, Some(at(day)));
    let b_late = only(
        c.statuses(b, &policy, at(day) + Duration::seconds(30))
            .unwrap(),
    );
    assert_eq!(b_late.reply, Reply::Overdue);
    assert_eq!(b_late.hours_past_deadline, Some(30.0 / 3600.0));
    // Before it came in, the complaint is not on the desk.
    assert!(c
        .statuses(b, &policy, at(0) - Duration::seconds(1))
        .unwrap()
        .is_empty());
    // Without a deadline nothing is overdue or late.
    let relaxed = ComplaintPolicy {
        reply_hours: None,
        ..ComplaintPolicy::default()
    };
    assert_eq!(
        only(c.statuses(b, &relaxed, at(10 * day)).unwrap()).reply,
        Reply::InTime
    );
    let n = CustomerId::new_random();
    store
        .append(
            n,
            ExpectedVersion::Any,
            vec![NewEvent::new(at(0), step("N", ComplaintStep::Received))],
        )
        .unwrap();
    let c = open(&store);
    let never = only(c.statuses(n, &relaxed, at(100 * day)).unwrap());
    assert_eq!((never.reply, never.deadline), (Reply::Waiting, None));
    assert_eq!(
        only(c.statuses(n, &policy, at(100 * day)).unwrap()).reply,
        Reply::Overdue
    );
    // A policy that counts the classification as the answer.
    let quick = ComplaintPolicy {
        reply_hours: Some(4),
        answered_step: ComplaintStep::Classified,
        ..ComplaintPolicy::default()
    };
    assert_eq!(
        only(c.statuses(a, &quick, at(10 * day)).unwrap()).reply,
        Reply::Late,
        "resolved after 24 h, never classified: the first step at or after `classified`"
    );
}

#[test]
fn skipped_steps_and_latest_attributes() {
    let (_dir, store) = store();
    let policy = ComplaintPolicy::default();
    let customer = CustomerId::new_random();
    let mut first = step("C", ComplaintStep::Received);
    first.category = Some("billing".into());
    first.owner = Some("陈静".into());
    let mut moved = step("C", ComplaintStep::Investigated);
    moved.owner = Some("刘洋".into());
    moved.harms_customer_interest = true;
    let mut closed = step("C", ComplaintStep::Archived);
    closed.feedback_rating = Some(4);
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(60), first),
                NewEvent::new(at(120), moved),
                // Archived straight after the investigation: answered and
                // settled at once.
                NewEvent::new(at(180), closed),
            ],
        )
        .unwrap();
    let s = only(open(&store).statuses(customer, &policy, at(600)).unwrap());
    assert_eq!(s.received_at, at(60));
    assert_eq!(s.step, ComplaintStep::Archived);
    assert_eq!(s.answered_at, Some(at(180)));
    assert_eq!(s.settled_at, Some(at(180)));
    assert_eq!(s.hours_to_answer, Some(2.0));
    assert_eq!(s.reply, Reply::InTime);
    assert!(!s.is_open());
    assert_eq!(s.category.as_deref(), Some("billing"));
    assert_eq!(s.owner.as_deref(), Some("刘洋"), "the latest owner given");
    assert!(s.harms_customer_interest);
    assert_eq!(s.feedback_rating, Some(4));
}

#[test]
fn churn_after_a_complaint_counts_once_its_window_has_closed() {
    let (_dir, store) = store();
    let policy = ComplaintPolicy {
        churn_window_days: 30,
        ..ComplaintPolicy::default()
    };
    let (left, stayed, quiet) = (
        CustomerId::new_random(),
        CustomerId::new_random(),
        CustomerId::new_random(),
    );
    let churn = || Churn {
        reason: "prices too high".into(),
        voluntary: true,
    };
    let buy = || Purchase::new("O-1", "10".parse().unwrap(), "CNY".parse().unwrap());
    store
        .append(
            left,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(0), step("L", ComplaintStep::Received)),
                NewEvent::new(t0() + Duration::days(20), churn()),
            ],
        )
        .unwrap();
    store
        .append(
            stayed,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(0), step("S", ComplaintStep::Received)),
                // Churned, but after the window.
                NewEvent::new(t0() + Duration::days(45), churn()),
            ],
        )
        .unwrap();
    store
        .append(
            quiet,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(at(0) - Duration::days(1), buy()),
                NewEvent::new(t0() + Duration::days(10), churn()),
            ],
        )
        .unwrap();
    let c = open(&store);
    // Day 25: L churned after its complaint, but the windows are still open.
    let desk = c.desk(policy.clone(), t0() + Duration::days(25)).unwrap();
    assert_eq!(desk.figures.all.churn_observed, 0);
    assert_eq!(desk.figures.all.churned_after_rate, None);
    let l = desk.complaints.iter().find(|s| s.complaint == "L").unwrap();
    assert!(l.churned_after && !l.churn_window_closed);
    // Day 60: both windows closed; one of two complaints was followed by churn.
    let desk = c.desk(policy, t0() + Duration::days(60)).unwrap();
    assert_eq!(
        (
            desk.figures.all.churn_observed,
            desk.figures.all.churned_after
        ),
        (2, 1)
    );
    assert_eq!(desk.figures.all.churned_after_rate, Some(0.5));
    assert_eq!((desk.figures.customers, desk.figures.complainants), (3, 2));
    assert_eq!(desk.figures.complaint_rate, Some(2.0 / 3.0));
    assert_eq!(desk.figures.churned_without_complaint, 1);
    assert_eq!(desk.figures.churn_rate_without_complaint, Some(1.0));
    // The background: one churn over 11 days at risk (from the purchase a
    // day before t0 to the churn on day 10), as a chance within 30 days.
    assert_eq!(desk.figures.days_at_risk_without_complaint, 11.0);
    let expected = 1.0 - (-30.0f64 / 11.0).exp();
    let got = desk.figures.churn_in_window_without_complaint.unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    // Before the churn, the customer is at risk up to the view.
    let early = c
        .desk(ComplaintPolicy::default(), t0() + Duration::days(4))
        .unwrap();
    assert_eq!(early.figures.churned_without_complaint, 0);
    assert_eq!(early.figures.days_at_risk_without_complaint, 5.0);
    assert_eq!(early.figures.churn_in_window_without_complaint, Some(0.0));
}

#[test]
fn figures_by_step_category_and_owner() {
    let (_dir, store) = store();
    let mut events = Vec::new();
    let complaint = |id: &str, s, category: &str, owner: &str| {
        let mut c = step(id, s);
        c.category = Some(category.into());
        c.owner = Some(owner.into());
        c
    };
    // Billing (陈静): answered in 2 h and in 30 h; delivery (刘洋): overdue.
    for (id, hours) in [("B1", 2), ("B2", 30)] {
        events.push(NewEvent::new(
            at(0),
            complaint(id, ComplaintStep::Received, "billing", "陈静"),
        ));
        events.push(NewEvent::new(
            at(hours * 60),
            complaint(id, ComplaintStep::Resolved, "billing", "陈静"),
        ));
    }
    events.push(NewEvent::new(
        at(0),
        complaint("D1", ComplaintStep::Received, "delivery", "刘洋"),
    ));
    store
        .append(CustomerId::new_random(), ExpectedVersion::Any, events)
        .unwrap();
    let desk = open(&store)
        .desk(ComplaintPolicy::default(), at(48 * 60))
        .unwrap();
    assert_eq!(desk.figures.all.complaints, 3);
    assert_eq!(
        (
            desk.figures.all.overdue,
            desk.figures.all.late,
            desk.figures.all.in_time
        ),
        (1, 1, 1)
    );
    assert_eq!(desk.figures.all.in_time_rate, Some(1.0 / 3.0));
    let spread = desk.figures.all.hours_to_answer.unwrap();
    assert_eq!((spread.count, spread.median, spread.p90), (2, 16.0, 30.0));
    let steps: Vec<(ComplaintStep, u64)> = desk
        .figures
        .by_step
        .iter()
        .map(|s| (s.step, s.complaints))
        .collect();
    assert_eq!(
        steps,
        [(ComplaintStep::Received, 1), (ComplaintStep::Resolved, 2)]
    );
    let billing = &desk.figures.by_category[0];
    assert_eq!(billing.key.as_deref(), Some("billing"));
    assert_eq!((billing.complaints, billing.in_time_rate), (2, Some(0.5)));
    let owners: Vec<(Option<&str>, u64, u64)> = desk
        .figures
        .by_owner
        .iter()
        .map(|f| (f.key.as_deref(), f.complaints, f.overdue))
        .collect();
    assert_eq!(owners, [(Some("陈静"), 2, 0), (Some("刘洋"), 1, 1)]);
    // The queue: the overdue one first, then the answered ones, oldest first.
    let queue: Vec<&str> = desk.queue().map(|s| s.complaint.as_str()).collect();
    assert_eq!(queue, ["D1", "B1", "B2"]);
}

#[test]
fn known_at_leaves_out_steps_recorded_later() {
    let (_dir, store) = store();
    let customer = CustomerId::new_random();
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![NewEvent::new(at(0), step("K", ComplaintStep::Received))],
        )
        .unwrap();
    let before = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Entered late: the answer was given within the hour.
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![NewEvent::new(at(60), step("K", ComplaintStep::Resolved))],
        )
        .unwrap();
    let c = open(&store);
    let policy = ComplaintPolicy::default();
    let view = at(3 * 24 * 60);
    let true_now = only(c.statuses(customer, &policy, view).unwrap());
    assert_eq!(true_now.reply, Reply::InTime);
    let known_then = only(
        c.statuses(customer, &policy, AsOf::known_at(view, before))
            .unwrap(),
    );
    assert_eq!(known_then.reply, Reply::Overdue);
    // The desk as known then, from the projection and from the log.
    let then = AsOf::known_at(view, before);
    let desk = c.desk(policy.clone(), then).unwrap();
    assert_eq!((desk.figures.all.overdue, desk.known_at), (1, Some(before)));
    assert_eq!(
        Complaints::desk_from_log(&store, policy, then).unwrap(),
        desk
    );
}

/// One generated event: customer index, minutes after t0, and what.
#[derive(Debug, Clone)]
enum Act {
    Step { id: u8, step: usize },
    Churn,
}

/// Complaints (customer, id, the steps recorded — always `received`, then
/// any of the others — each at any business time) and churns, as events.
fn acts() -> impl Strategy<Value = Vec<(usize, i64, Act)>> {
    let minute = 0i64..(6 * 24 * 60);
    let complaint = (
        0usize..4,
        0u8..3,
        proptest::collection::vec((any::<bool>(), minute.clone()), 6),
    );
    (
        proptest::collection::vec(complaint, 0..8),
        proptest::collection::vec((0usize..4, minute), 0..4),
    )
        .prop_map(|(complaints, churns)| {
            let mut out = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for (c, id, steps) in complaints {
                if !seen.insert((c, id)) {
                    continue;
                }
                for (step, (recorded, minute)) in steps.into_iter().enumerate() {
                    if step == 0 || recorded {
                        out.push((c, minute, Act::Step { id, step }));
                    }
                }
            }
            out.extend(churns.into_iter().map(|(c, m)| (c, m, Act::Churn)));
            out
        })
}

/// Per complaint: furthest step, reply, when answered, whether settled.
type Seen = (ComplaintStep, Reply, Option<DateTime<Utc>>, bool);

/// What the desk should say, computed from the raw events alone.
fn model(
    acts: &[(usize, i64, Act)],
    customers: &[CustomerId],
    as_of: i64,
) -> BTreeMap<(CustomerId, String), Seen> {
    let mut steps: BTreeMap<(usize, u8), Vec<(i64, usize)>> = BTreeMap::new();
    for (c, minute, act) in acts {
        if let Act::Step { id, step } = act {
            if *minute <= as_of {
                steps.entry((*c, *id)).or_default().push((*minute, *step));
            }
        }
    }
    let mut out = BTreeMap::new();
    for ((c, id), events) in steps {
        let received = events
            .iter()
            .filter(|(_, s)| *s == 0)
            .map(|(t, _)| *t)
            .min()
            .or_else(|| events.iter().map(|(t, _)| *t).min())
            .unwrap();
        let furthest = events.iter().map(|(_, s)| *s).max().unwrap();
        let answered = events
            .iter()
            .filter(|(_, s)| *s >= 3)
            .map(|(t, _)| *t)
            .min();
        let settled = events.iter().any(|(_, s)| *s == 5);
        let deadline = received + 24 * 60;
        let reply = match answered {
            Some(a) if a > deadline => Reply::Late,
            Some(_) => Reply::InTime,
            None if as_of > deadline => Reply::Overdue,
            None => Reply::Waiting,
        };
        out.insert(
            (customers[c], format!("C{id}")),
            (
                ComplaintStep::ALL[furthest],
                reply,
                answered.map(at),
                settled,
            ),
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever order the events arrive in (late events included), the desk
    /// as of any time says what a direct reading of the events says.
    #[test]
    fn the_desk_agrees_with_a_model_in_any_arrival_order(
        acts in acts(),
        order in any::<u64>(),
        as_of in 0i64..(7 * 24 * 60),
    ) {
        let (_dir, store) = store();
        let customers: Vec<CustomerId> = (0..4).map(|_| CustomerId::new_random()).collect();
        // Arrival order: a seeded shuffle of the generated events.
        let mut arrival: Vec<usize> = (0..acts.len()).collect();
        let mut seed = order | 1;
        for i in (1..arrival.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            arrival.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        // The store takes a complaint's steps in workflow order only: give
        // each complaint's places in the arrival its steps in that order.
        let mut places: BTreeMap<(usize, u8), Vec<usize>> = BTreeMap::new();
        for (k, &i) in arrival.iter().enumerate() {
            if let (c, _, Act::Step { id, .. }) = &acts[i] {
                places.entry((*c, *id)).or_default().push(k);
            }
        }
        for slots in places.values() {
            let mut events: Vec<usize> = slots.iter().map(|&k| arrival[k]).collect();
            events.sort_by_key(|&i| match acts[i].2 { Act::Step { step, .. } => step, Act::Churn => 0 });
            for (&k, i) in slots.iter().zip(events) {
                arrival[k] = i;
            }
        }
        for &i in &arrival {
            let (c, minute, act) = &acts[i];
            let event = match act {
                Act::Step { id, step: s } => NewEvent::new(at(*minute), step(&format!("C{id}"), ComplaintStep::ALL[*s])),
                Act::Churn => NewEvent::new(at(*minute), Churn { reason: "moved".into(), voluntary: true }),
            };
            store.append(customers[*c], ExpectedVersion::Any, vec![event]).unwrap();
        }
        let complaints = open(&store);
        let desk = complaints.desk(ComplaintPolicy::default(), at(as_of)).unwrap();
        let got: BTreeMap<_, _> = desk
            .complaints
            .iter()
            .map(|s| ((s.customer, s.complaint.clone()), (s.step, s.reply, s.answered_at, !s.is_open())))
            .collect();
        prop_assert_eq!(got, model(&acts, &customers, as_of));
        // Every figure is a count over the statuses.
        let count = |r: Reply| desk.complaints.iter().filter(|s| s.reply == r).count() as u64;
        prop_assert_eq!(desk.figures.all.overdue, count(Reply::Overdue));
        prop_assert_eq!(desk.figures.all.waiting, count(Reply::Waiting));
        prop_assert_eq!(desk.figures.all.late + desk.figures.all.in_time, count(Reply::Late) + count(Reply::InTime));
        prop_assert_eq!(desk.figures.all.open, desk.figures.all.waiting + desk.figures.all.overdue + desk.figures.all.answered_open);
        prop_assert_eq!(desk.figures.by_step.iter().map(|s| s.complaints).sum::<u64>(), desk.figures.all.complaints);
        prop_assert_eq!(desk.figures.by_owner.iter().map(|f| f.complaints).sum::<u64>(), desk.figures.all.complaints);
        prop_assert_eq!(desk.figures.by_month.iter().map(|f| f.complaints).sum::<u64>(), desk.figures.all.complaints);
        prop_assert!(desk.figures.by_month.windows(2).all(|w| w[0].key < w[1].key), "months in order");
        // The queue holds exactly the unsettled ones, overdue before waiting before answered.
        let rank = |r: Reply| match r { Reply::Overdue => 0, Reply::Waiting => 1, _ => 2 };
        let queue: Vec<u8> = desk.queue().map(|s| rank(s.reply)).collect();
        prop_assert!(queue.windows(2).all(|w| w[0] <= w[1]), "{:?}", queue);
        prop_assert_eq!(queue.len() as u64, desk.figures.all.open);
        // A rebuild from zero gives the same desk.
        let mut rebuilt = Complaints::open(&store).unwrap();
        rebuilt.rebuild().unwrap();
        prop_assert_eq!(&rebuilt.desk(ComplaintPolicy::default(), at(as_of)).unwrap(), &desk);
        // So does the desk read straight from the log (for read-only stores).
        prop_assert_eq!(
            &Complaints::desk_from_log(&store, ComplaintPolicy::default(), at(as_of)).unwrap(),
            &desk
        );
        // Same events, same bytes: the state folded in arrival order with
        // late events refolded equals the one rebuilt in business-time order.
        for &c in &customers {
            let bytes = |p: &Complaints| {
                p.projector().state(c).unwrap().map(|s| postcard::to_allocvec(&s).unwrap())
            };
            prop_assert_eq!(bytes(&complaints), bytes(&rebuilt));
        }
    }
}

#[test]
fn figures_by_month_of_receipt() {
    let (_dir, store) = store();
    let jan = Utc.with_ymd_and_hms(2024, 1, 31, 23, 30, 0).unwrap();
    let feb = Utc.with_ymd_and_hms(2024, 2, 1, 0, 30, 0).unwrap();
    let customer = CustomerId::new_random();
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(jan, step("J", ComplaintStep::Received)),
                // Answered in February, still January's complaint.
                NewEvent::new(jan + Duration::hours(2), step("J", ComplaintStep::Resolved)),
                NewEvent::new(feb, step("F1", ComplaintStep::Received)),
                NewEvent::new(feb + Duration::days(3), step("F2", ComplaintStep::Received)),
            ],
        )
        .unwrap();
    let desk = open(&store)
        .desk(ComplaintPolicy::default(), feb + Duration::days(10))
        .unwrap();
    let months: Vec<(Option<&str>, u64, u64, Option<f64>)> = desk
        .figures
        .by_month
        .iter()
        .map(|f| (f.key.as_deref(), f.complaints, f.overdue, f.in_time_rate))
        .collect();
    assert_eq!(
        months,
        [
            (Some("2024-01"), 1, 0, Some(1.0)),
            (Some("2024-02"), 2, 2, Some(0.0))
        ]
    );
}

/// A desk kept live: `follow` folds each complaint step as it is appended,
/// and the committed book shows it without another catch-up.
#[test]
fn follow_keeps_the_book_live() {
    let (_dir, store) = store();
    let customer = CustomerId::new_random();
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![NewEvent::new(at(0), step("L", ComplaintStep::Received))],
        )
        .unwrap();
    let mut complaints = Complaints::open(&store).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let writer = store.clone();
    let position = runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let append = tokio::task::spawn_blocking(move || {
            writer
                .append(
                    customer,
                    ExpectedVersion::Any,
                    vec![NewEvent::new(at(90), step("L", ComplaintStep::Resolved))],
                )
                .unwrap();
            // Stop once the follower has committed it: a reader opened
            // afresh sees the committed book.
            let answered = || {
                Complaints::open(&writer)
                    .ok()
                    .and_then(|c| c.state(customer).ok().flatten())
                    .and_then(|b| b.complaint("L").and_then(|r| r.step_at(i64::MAX)))
                    == Some(ComplaintStep::Resolved)
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !answered() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = stop_tx.send(());
        });
        let position = complaints
            .follow(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        append.await.unwrap();
        (position, complaints)
    });
    let (position, complaints) = position;
    assert_eq!(position, 2);
    let book = complaints.state(customer).unwrap().expect("folded");
    let record = book.complaint("L").expect("the complaint");
    assert_eq!(record.step_at(i64::MAX), Some(ComplaintStep::Resolved));
}
