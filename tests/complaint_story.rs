//! One complaint across the engine, from the domain notes: the 24 h reply
//! rule (000 L574) seen by the complaint desk, the lifecycle (decline is the
//! early-warning stage, 000 L330) and the churn-warning job; and "a
//! relationship ends only when all related matters are settled" (000 L322):
//! a customer who leaves with a complaint still open is in exit, but not a
//! final exit, until the complaint is archived.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele::churn::{
    CallbackSink, ModelContext, RiskPolicy, Warning, WarningJob, WarningKind, WarningPolicy,
};
use clientele::complaint::{ComplaintPolicy, Complaints, Reply};
use clientele::core::{event::*, Currency, CustomerId, ExpectedVersion, NewEvent, Store};
use clientele::lifecycle::{Lifecycle, LifecyclePolicy, Stage};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 15, 9, 0, 0).unwrap()
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + Duration::hours(h)
}

fn complaint(step: ComplaintStep) -> Complaint {
    let mut c = Complaint::new("CMP-1", step);
    c.category = Some("delivery".into());
    c.owner = Some("陈静".into());
    c
}

#[test]
fn a_complaint_across_the_desk_the_lifecycle_and_the_warning_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let customer = CustomerId::from_external("shop", "C-7");
    let order = |id: &str| Purchase::new(id, "120.00".parse().unwrap(), Currency::CNY);
    let history = vec![
        NewEvent::new(t0() - Duration::days(60), order("A-1")),
        NewEvent::new(t0() - Duration::days(30), order("A-2")),
        NewEvent::new(t0(), complaint(ComplaintStep::Received)),
    ];
    store
        .append(customer, ExpectedVersion::Any, history)
        .unwrap();

    let mut desk = Complaints::open(&store).unwrap();
    desk.catch_up().unwrap();
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
    lifecycle.catch_up().unwrap();
    let policy = ComplaintPolicy::default();
    let reply =
        |desk: &Complaints, h: i64| desk.statuses(customer, &policy, hours(h)).unwrap()[0].reply;
    let stage = |lifecycle: &Lifecycle, t: DateTime<Utc>| {
        lifecycle.view(customer, t).unwrap().expect("known")
    };

    // Within the 24 h the complaint waits and the customer is still growing;
    // past them the desk has it overdue and the lifecycle moves the
    // customer to decline, the early-warning stage.
    assert_eq!(reply(&desk, 23), Reply::Waiting);
    assert_eq!(stage(&lifecycle, hours(23)).stage, Stage::Growth);
    assert_eq!(reply(&desk, 30), Reply::Overdue);
    assert_eq!(stage(&lifecycle, hours(30)).stage, Stage::Decline);

    // The warning job run then raises the reply-rule warning, once.
    let raised: Arc<Mutex<Vec<Warning>>> = Arc::default();
    let seen = raised.clone();
    let mut sink = CallbackSink(move |w: &Warning| {
        seen.lock().map_err(|e| e.to_string())?.push(w.clone());
        Ok(())
    });
    let mut job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        ModelContext::default(),
    )
    .unwrap();
    job.run(hours(30), &mut sink).unwrap();
    job.run(hours(31), &mut sink).unwrap();
    let kinds: Vec<WarningKind> = raised.lock().unwrap().iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == WarningKind::ComplaintSla)
            .count(),
        1,
        "{kinds:?}"
    );

    // Resolved 40 h after it came in: late, and the customer is back in growth.
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![NewEvent::new(hours(40), complaint(ComplaintStep::Resolved))],
        )
        .unwrap();
    desk.catch_up().unwrap();
    lifecycle.catch_up().unwrap();
    let answered = &desk.statuses(customer, &policy, hours(41)).unwrap()[0];
    assert_eq!(answered.reply, Reply::Late);
    assert_eq!(answered.hours_past_deadline, Some(16.0));
    assert_eq!(stage(&lifecycle, hours(41)).stage, Stage::Growth);

    // The customer leaves before the complaint is archived: exit, but
    // pending — a matter is still open. Archiving it makes the exit final.
    let left = t0() + Duration::days(20);
    let archived = t0() + Duration::days(30);
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(
                    left,
                    Churn {
                        reason: "late delivery".into(),
                        voluntary: true,
                    },
                ),
                NewEvent::new(archived, complaint(ComplaintStep::Archived)),
            ],
        )
        .unwrap();
    desk.catch_up().unwrap();
    lifecycle.catch_up().unwrap();
    let before = stage(&lifecycle, archived - Duration::hours(1));
    assert_eq!(before.stage, Stage::Exit);
    assert!(before.exit_pending && !before.is_final_exit());
    assert!(stage(&lifecycle, archived).is_final_exit());

    // Half a year on, the desk counts this complaint among those a churn
    // followed within its window.
    let later = t0() + Duration::days(200);
    let report = desk.desk(policy.clone(), later).unwrap();
    let delivery = &report.figures.by_category[0];
    assert_eq!(delivery.key.as_deref(), Some("delivery"));
    assert_eq!((delivery.churned_after, delivery.churn_observed), (1, 1));
    assert_eq!(report.figures.all.late, 1);
    assert_eq!(report.figures.all.open, 0);
}
