//! Behaviour of the log's public API: idempotency, validation, concurrency
//! errors, reads by time, subscriptions, backup and restore.

mod common;

use chrono::Duration;
use clientele_core::event::*;
use clientele_core::{
    AppendStatus, CustomerId, Durability, Error, EventId, ExpectedVersion, ManualClock, NewEvent,
    Store, StoreOptions,
};

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir).unwrap()
}

#[test]
fn same_id_different_payload_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c = CustomerId::new_random();
    let e = common::event(1);
    store
        .append(c, ExpectedVersion::NoStream, vec![e.clone()])
        .unwrap();
    let mut changed = common::event(2);
    changed.event_id = e.event_id;
    match store.append(c, ExpectedVersion::Any, vec![changed]) {
        Err(Error::IdempotencyConflict { event_id, position }) => {
            assert_eq!((event_id, position), (e.event_id, 1));
        }
        other => panic!("{other:?}"),
    }
    // The same id for another customer is also a different event.
    assert!(matches!(
        store.append(
            CustomerId::new_random(),
            ExpectedVersion::Any,
            vec![e.clone()]
        ),
        Err(Error::IdempotencyConflict { .. })
    ));
    assert_eq!(store.head(), 1);
}

#[test]
fn retry_is_idempotent_under_every_expected_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c = CustomerId::new_random();
    let batch = vec![common::event(1), common::event(2)];
    let first = store
        .append(c, ExpectedVersion::NoStream, batch.clone())
        .unwrap();
    store
        .append(c, ExpectedVersion::Exact(2), vec![common::event(3)])
        .unwrap();
    for expected in [
        ExpectedVersion::Any,
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(2),
    ] {
        let again = store.append(c, expected, batch.clone()).unwrap();
        assert_eq!(again.status, AppendStatus::AlreadyAppended);
        assert_eq!(again.positions, first.positions);
        assert_eq!(again.stream_version, 3);
    }
    // A retry mixing stored and new ids is refused: the batch was atomic.
    let mixed = vec![common::event(1), common::event(9)];
    assert!(matches!(
        store.append(c, ExpectedVersion::Any, mixed),
        Err(Error::PartiallyAppended { .. })
    ));
    assert_eq!(store.head(), 3);
}

#[test]
fn an_invalid_event_rejects_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = CustomerId::new_random();
    let b = CustomerId::new_random();
    let mut bad = Contact::new(Channel::Phone, Direction::Inbound, Purpose::Survey);
    bad.rating = Some(9);
    let result = store.append_batch(vec![
        (
            a,
            ExpectedVersion::Any,
            vec![common::event(1), common::event(2)],
        ),
        (
            b,
            ExpectedVersion::Any,
            vec![common::event(3), NewEvent::new(common::t0(), bad)],
        ),
    ]);
    match result {
        Err(Error::Validation(e)) => {
            assert_eq!(e.field, "rating");
            assert_eq!(e.index, Some(3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.head(), 0);
    // A conflict on one stream of a batch also writes nothing.
    let result = store.append_batch(vec![
        (a, ExpectedVersion::Any, vec![common::event(1)]),
        (b, ExpectedVersion::Exact(5), vec![common::event(3)]),
    ]);
    assert!(matches!(
        result,
        Err(Error::WrongExpectedVersion { actual: 0, .. })
    ));
    assert_eq!(store.head(), 0);
    assert!(store.read_stream(a).unwrap().is_empty());
}

#[test]
fn complaint_steps_must_follow_the_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c = CustomerId::new_random();
    let step = |s: ComplaintStep, m: i64| {
        NewEvent::new(common::t0() + Duration::hours(m), Complaint::new("C-1", s))
    };
    let err = store
        .append(
            c,
            ExpectedVersion::Any,
            vec![step(ComplaintStep::Resolved, 0)],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.field == "step"),
        "{err}"
    );
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![
                step(ComplaintStep::Received, 0),
                step(ComplaintStep::Classified, 1),
            ],
        )
        .unwrap();
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![step(ComplaintStep::Resolved, 5)],
        )
        .unwrap();
    let err = store
        .append(
            c,
            ExpectedVersion::Any,
            vec![step(ComplaintStep::Investigated, 6)],
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot follow"), "{err}");
    // Out of order inside one batch is caught too.
    let err = store
        .append(
            c,
            ExpectedVersion::Any,
            vec![
                step(ComplaintStep::Archived, 7),
                step(ComplaintStep::FeedbackGiven, 8),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.index == Some(1)),
        "{err}"
    );
    // Steps are named as in JSON.
    assert!(
        err.to_string()
            .contains("`feedback_given` cannot follow `archived`"),
        "{err}"
    );
    assert_eq!(store.stream_version(c).unwrap(), 3);
}

#[test]
fn reads_by_business_and_recorded_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(common::t0() + Duration::days(30));
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            clock: std::sync::Arc::new(clock.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let c = CustomerId::new_random();
    let at = |d: i64| common::t0() + Duration::days(d);
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![NewEvent::new(
                at(1),
                Churn {
                    reason: "price".into(),
                    voluntary: true,
                },
            )],
        )
        .unwrap();
    clock.advance(Duration::days(1));
    // A late event: it happened before the first, but was recorded after.
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![NewEvent::new(
                at(0),
                Reactivation {
                    campaign: None,
                    channel: None,
                },
            )],
        )
        .unwrap();
    let as_of = store.read_stream_as_of(c, at(0)).unwrap();
    assert_eq!(as_of.len(), 1);
    assert_eq!(as_of[0].kind(), EventKind::Reactivation);
    let known = store.read_stream_known_at(c, at(30)).unwrap();
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].kind(), EventKind::Churn);
    let all = store.read_stream(c).unwrap();
    assert!(all[1].recorded_at > all[0].recorded_at);
    // Absurd future dates are refused.
    let err = store.append(
        c,
        ExpectedVersion::Any,
        vec![NewEvent::new(
            at(400),
            Churn {
                reason: "x".into(),
                voluntary: true,
            },
        )],
    );
    assert!(matches!(err, Err(Error::Validation(v)) if v.field == "occurred_at"));
}

#[test]
fn subscription_catches_up_then_tails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c = CustomerId::new_random();
    for i in 0..5 {
        store
            .append(c, ExpectedVersion::Any, vec![common::event(i)])
            .unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sub = store.subscribe(3);
        for expected in 3..=5 {
            assert_eq!(sub.next().await.unwrap().unwrap().position, expected);
        }
        assert_eq!(sub.position(), 5);
        let writer = store.clone();
        let task = tokio::task::spawn_blocking(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            writer
                .append(
                    c,
                    ExpectedVersion::Any,
                    vec![common::event(10), common::event(11)],
                )
                .unwrap();
        });
        assert_eq!(sub.next().await.unwrap().unwrap().position, 6);
        assert_eq!(sub.next().await.unwrap().unwrap().position, 7);
        task.await.unwrap();
    });
}

#[test]
fn buffered_bulk_mode_and_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            durability: Durability::Buffered,
            ..Default::default()
        },
    )
    .unwrap();
    let streams: Vec<_> = (0..100)
        .map(|i| {
            (
                CustomerId::from_external("bulk", &i.to_string()),
                ExpectedVersion::NoStream,
                vec![common::event(i)],
            )
        })
        .collect();
    store.append_batch(streams).unwrap();
    store.sync().unwrap();
    assert_eq!(store.verify().unwrap().events, 100);
    assert_eq!(store.customers().unwrap().len(), 100);
}

#[test]
fn backup_restore_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("live"));
    let c = CustomerId::new_random();
    for i in 0..20 {
        store
            .append(c, ExpectedVersion::Any, vec![common::event(i)])
            .unwrap();
    }
    store.backup(dir.path().join("backup")).unwrap();
    store
        .append(c, ExpectedVersion::Any, vec![common::event(99)])
        .unwrap();
    assert_eq!(store.verify().unwrap().events, 21);
    let backup = Store::open_read_only(dir.path().join("backup")).unwrap();
    let backup_report = backup.verify().unwrap();
    assert_eq!(backup_report.events, 20);
    assert!(matches!(
        backup.append(c, ExpectedVersion::Any, vec![common::event(100)]),
        Err(Error::ReadOnly)
    ));
    drop(backup);
    let restored = Store::restore(dir.path().join("backup"), dir.path().join("restored")).unwrap();
    assert_eq!(restored.read_stream(c).unwrap().len(), 20);
    // The restored log is the backed-up log, to the last hash.
    assert_eq!(restored.verify().unwrap(), backup_report);
    restored
        .append(c, ExpectedVersion::Exact(20), vec![common::event(99)])
        .unwrap();
    assert!(Store::restore(dir.path().join("backup"), dir.path().join("restored")).is_err());
}

#[test]
fn event_ids_are_v7_and_customer_ids_stable() {
    let e = NewEvent::new(
        common::t0(),
        Churn {
            reason: "x".into(),
            voluntary: false,
        },
    );
    assert_eq!(e.event_id.as_uuid().get_version_num(), 7);
    assert_eq!(
        CustomerId::from_external("cdnow", "1"),
        CustomerId::from_external("cdnow", "1")
    );
    assert_ne!(EventId::derived(b"a"), EventId::derived(b"b"));
}
