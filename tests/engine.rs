//! The engine used the three ways it is meant for, through the `clientele`
//! facade, on the CDNOW sample (2,357 customers, 1997–1998):
//!
//! 1. embedded as a library: load events, read every projection;
//! 2. audit replay: what was true at business time T, and what the log knew
//!    at recorded time R, when a late event arrives;
//! 3. a churn-warning job: warnings once per episode, nothing new on a rerun.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clientele::churn::{
    CallbackSink, ModelContext, RiskPolicy, Warning, WarningJob, WarningPolicy,
};
use clientele::core::{event::*, CustomerId, ExpectedVersion, NewEvent, Store};
use clientele::lifecycle::{Lifecycle, LifecyclePolicy, Stage};
use clientele::loyalty::{Loyalty, LoyaltyPolicy};
use clientele::value::Value;

const CDNOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/cdnow_sample.txt"
);

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 23, 59, 59).unwrap()
}

fn cdnow_store(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).expect("open");
    let text = std::fs::read_to_string(CDNOW).expect("the CDNOW sample");
    let transactions = clientele::value::cdnow::load(&store, &text).expect("load");
    assert_eq!(
        transactions, 6_696,
        "same-day purchases are one transaction"
    );
    store
}

#[test]
fn embedded_audit_and_warning_job_on_cdnow() {
    let dir = tempfile::tempdir().unwrap();
    let store = cdnow_store(dir.path());
    let customers = store.customers().unwrap();
    assert_eq!(customers.len(), 2_357);

    // 1. Every projection over the whole log.
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
    assert_eq!(lifecycle.catch_up().unwrap(), store.head());
    let end = day(1998, 6, 30);
    let stages = lifecycle.stage_distribution(end).unwrap();
    assert_eq!(stages.total, 2_357);
    // Everyone bought in Q1 1997: by mid-1998 nobody is still being acquired,
    // and most of those one-time buyers have left.
    assert_eq!(stages.count(Stage::Acquisition), 0);
    assert!(stages.count(Stage::Exit) > stages.total / 2, "{stages:?}");
    let mut loyalty = Loyalty::open(&store, LoyaltyPolicy::default()).unwrap();
    loyalty.catch_up().unwrap();
    let tiers: u64 = loyalty.tier_counts(end).unwrap().values().sum();
    assert_eq!(tiers, 2_357);
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();
    assert_eq!(
        value.dominant_currency(end).unwrap().as_deref(),
        Some("USD")
    );

    // 2. Audit: customer 1 bought on 1997-01-01, 01-18, 08-02 and 12-12. A
    // purchase of 1997-05-10 is recorded late (now). What was true on
    // 1997-06-30 changes; what the log knew before the correction does not.
    let customer = CustomerId::from_external("cdnow", "1");
    let june = day(1997, 6, 30);
    let before = lifecycle.view(customer, june).unwrap().expect("known");
    assert_eq!(
        before.stage,
        Stage::Decline,
        "silent since January: {before:?}"
    );
    let recorded_before = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let late = Purchase::new("late-1", "12.00".parse().unwrap(), "USD".parse().unwrap());
    let may = NaiveDate::from_ymd_opt(1997, 5, 10).unwrap();
    let when = Utc.from_utc_datetime(&may.and_hms_opt(12, 0, 0).unwrap());
    store
        .append(
            customer,
            ExpectedVersion::Any,
            vec![NewEvent::new(when, late)],
        )
        .unwrap();
    lifecycle.catch_up().unwrap();
    let after = lifecycle.view(customer, june).unwrap().expect("known");
    assert_ne!(
        after.stage,
        Stage::Decline,
        "the May purchase revives: {after:?}"
    );
    let known = lifecycle
        .view_known_at(customer, june, recorded_before)
        .unwrap()
        .expect("known");
    assert_eq!(known, before, "what the log knew then is unchanged");
    // The audit timeline names the late purchase as the cause of the change.
    let timeline = lifecycle.explain(customer, june).unwrap();
    assert!(
        timeline
            .iter()
            .any(|c| c.at == when && c.cause.to_string().contains("late-1")),
        "{timeline:?}"
    );

    // 3. The warning job as of 1997-09-30 with a 13-week horizon.
    let as_of = day(1997, 9, 30);
    let model = ModelContext {
        bg_nbd: None,
        horizon_days: 91.0,
    };
    let mut job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        model,
    )
    .unwrap();
    job.refit(as_of).unwrap();
    let mut delivered: Vec<Warning> = Vec::new();
    let run = job
        .run(
            as_of,
            &mut CallbackSink(|w: &Warning| {
                delivered.push(w.clone());
                Ok(())
            }),
        )
        .unwrap();
    assert!(run.raised > 0 && run.raised < 2_357, "{run:?}");
    assert_eq!(delivered.len(), run.raised);
    let mut ids: Vec<_> = delivered.iter().map(|w| w.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        delivered.len(),
        "one warning per customer and episode"
    );
    for w in &delivered {
        assert!((0.0..=1.0).contains(&w.risk));
        assert!(!w.reasons.is_empty(), "every warning says why");
    }
    // A rerun at the same time raises nothing new and visits nobody.
    let mut nothing = CallbackSink(|_: &Warning| Ok(()));
    let rerun = job.run(as_of, &mut nothing).unwrap();
    assert_eq!((rerun.raised, rerun.visited), (0, 0), "{rerun:?}");
    let stored = job
        .warnings(as_of - Duration::days(1), as_of + Duration::days(1))
        .unwrap();
    assert_eq!(stored.len(), run.raised);
}
