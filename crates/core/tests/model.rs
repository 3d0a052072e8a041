//! The store checked against a simple in-memory model (proptest).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use clientele_core::{AppendStatus, CustomerId, Error, EventId, ExpectedVersion, NewEvent, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append `n` new events to customer `c`.
    Append {
        c: usize,
        expected: u8,
        guess: u64,
        n: usize,
    },
    /// Resend the events of an earlier op (a retry).
    Retry { of: usize, expected: u8, guess: u64 },
}

fn expected_of(kind: u8, guess: u64) -> ExpectedVersion {
    match kind % 3 {
        0 => ExpectedVersion::Any,
        1 => ExpectedVersion::NoStream,
        _ => ExpectedVersion::Exact(guess),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, 0..3u8, 0..6u64, 1..4usize).prop_map(|(c, expected, guess, n)| Op::Append { c, expected, guess, n }),
        1 => (0..64usize, 0..3u8, 0..6u64).prop_map(|(of, expected, guess)| Op::Retry { of, expected, guess }),
    ]
}

#[derive(Default)]
struct Model {
    streams: HashMap<CustomerId, Vec<EventId>>,
    log: Vec<(CustomerId, EventId)>,
    stored: HashMap<EventId, (u64, u64)>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let customers: Vec<CustomerId> = (0..4).map(|_| CustomerId::new_random()).collect();
        let mut model = Model::default();
        // Each op's (customer, events), so retries can resend them.
        let mut sent: Vec<(CustomerId, Vec<NewEvent>)> = Vec::new();
        let mut seed = 0u64;
        for op in ops {
            let (customer, events, expected) = match op {
                Op::Append { c, expected, guess, n } => {
                    let events: Vec<NewEvent> = (0..n).map(|_| { seed += 1; common::event(seed) }).collect();
                    (customers[c], events, expected_of(expected, guess))
                }
                Op::Retry { of, expected, guess } => {
                    if sent.is_empty() { continue; }
                    let (c, e) = sent[of % sent.len()].clone();
                    (c, e, expected_of(expected, guess))
                }
            };
            sent.push((customer, events.clone()));
            let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
            let result = store.append(customer, expected, events);
            let current = model.streams.get(&customer).map_or(0, |s| s.len() as u64);
            let already: Vec<bool> = ids.iter().map(|id| model.stored.contains_key(id)).collect();
            if already.iter().all(|&a| a) {
                // A retry: the original positions, whatever `expected` says, nothing written.
                let outcome = result.unwrap();
                prop_assert_eq!(outcome.status, AppendStatus::AlreadyAppended);
                let original: Vec<(u64, u64)> = ids.iter().map(|id| model.stored[id]).collect();
                prop_assert_eq!(outcome.positions, original);
            } else if !expected.matches(current) {
                match result {
                    Err(Error::WrongExpectedVersion { actual, .. }) => prop_assert_eq!(actual, current),
                    other => prop_assert!(false, "expected a conflict, got {:?}", other),
                }
            } else {
                let outcome = result.unwrap();
                prop_assert_eq!(outcome.status, AppendStatus::Appended);
                let stream = model.streams.entry(customer).or_default();
                let mut expected_positions = Vec::new();
                for id in &ids {
                    stream.push(*id);
                    model.log.push((customer, *id));
                    let at = (stream.len() as u64, model.log.len() as u64);
                    model.stored.insert(*id, at);
                    expected_positions.push(at);
                }
                prop_assert_eq!(outcome.positions, expected_positions);
            }
        }
        // Read-back equals the model: global order and every stream.
        let all: Vec<_> = store.read_all(1).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(all.len(), model.log.len());
        for (i, (event, (customer, id))) in all.iter().zip(&model.log).enumerate() {
            prop_assert_eq!(event.position, i as u64 + 1);
            prop_assert_eq!(event.customer_id, *customer);
            prop_assert_eq!(event.event_id, *id);
        }
        for (customer, ids) in &model.streams {
            let stream = store.read_stream(*customer).unwrap();
            let got: Vec<EventId> = stream.iter().map(|e| e.event_id).collect();
            prop_assert_eq!(&got, ids);
            for (i, e) in stream.iter().enumerate() {
                prop_assert_eq!(e.version, i as u64 + 1);
            }
            prop_assert_eq!(store.stream_version(*customer).unwrap(), ids.len() as u64);
        }
        store.verify().unwrap();
    }

    #[test]
    fn read_back_equals_appended(seeds in proptest::collection::vec(0u64..1_000_000, 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let customer = CustomerId::new_random();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        let events: Vec<NewEvent> = unique.iter().map(|s| common::event(*s)).collect();
        store.append(customer, ExpectedVersion::NoStream, events.clone()).unwrap();
        let back = store.read_stream(customer).unwrap();
        prop_assert_eq!(back.len(), events.len());
        for (b, e) in back.iter().zip(&events) {
            prop_assert_eq!(b.event_id, e.event_id);
            prop_assert_eq!(b.occurred_at, e.occurred_at);
            prop_assert_eq!(&b.payload, &e.payload);
            prop_assert_eq!(&b.metadata, &e.metadata);
        }
    }
}

/// Several threads append to shared customers with optimistic concurrency and
/// retries; afterwards, the committed appends replayed in position order must
/// satisfy the model, every failure must have been a genuine conflict, and the
/// log must be gapless.
#[test]
fn concurrent_appenders_match_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let customers: Arc<Vec<CustomerId>> =
        Arc::new((0..3).map(|_| CustomerId::new_random()).collect());
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let customers = customers.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut log = Vec::new();
                let mut belief: HashMap<CustomerId, u64> = HashMap::new();
                for i in 0..60u64 {
                    let customer = customers[((i * 7 + t as u64) % 3) as usize];
                    let seed = 1_000_000 * (t as u64 + 1) + i;
                    let events = vec![common::event(seed), common::event(seed + 500_000)];
                    let expected = ExpectedVersion::Exact(*belief.get(&customer).unwrap_or(&0));
                    let result = store.append(customer, expected, events.clone());
                    match &result {
                        Ok(o) => {
                            belief.insert(customer, o.stream_version);
                        }
                        Err(Error::WrongExpectedVersion { actual, .. }) => {
                            belief.insert(customer, *actual);
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                    // Every other time, retry the same events: must be idempotent.
                    if i % 2 == 0 {
                        if let Ok(first) = &result {
                            let again = store
                                .append(customer, ExpectedVersion::Any, events.clone())
                                .unwrap();
                            assert_eq!(again.status, AppendStatus::AlreadyAppended);
                            assert_eq!(again.positions, first.positions);
                        }
                    }
                    log.push((
                        customer,
                        expected,
                        result.map_err(|e| match e {
                            Error::WrongExpectedVersion { actual, .. } => actual,
                            _ => u64::MAX,
                        }),
                    ));
                }
                log
            })
        })
        .collect();
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for h in handles {
        for (customer, expected, result) in h.join().unwrap() {
            match result {
                Ok(outcome) => successes.push((customer, expected, outcome)),
                Err(actual) => failures.push((customer, expected, actual)),
            }
        }
    }
    successes.sort_by_key(|(_, _, o)| o.positions[0].1);
    let mut versions: HashMap<CustomerId, u64> = HashMap::new();
    let mut position = 0;
    for (customer, expected, outcome) in &successes {
        let v = versions.entry(*customer).or_default();
        assert!(
            expected.matches(*v),
            "commit with {expected:?} at version {v}"
        );
        for &(version, pos) in &outcome.positions {
            *v += 1;
            position += 1;
            assert_eq!((version, pos), (*v, position));
        }
    }
    for (customer, expected, actual) in &failures {
        assert!(
            !expected.matches(*actual),
            "conflict reported but {expected:?} matches {actual}"
        );
        assert!(*actual <= versions[customer]);
    }
    assert!(
        !successes.is_empty() && !failures.is_empty(),
        "the test should exercise both paths"
    );
    assert_eq!(store.head(), position);
    assert_eq!(store.verify().unwrap().events, position);
}
