//! The `store_ops` contract: a sequence of appends, batches, retries, reused
//! ids and invalid events, applied to a new store and to a model of the
//! log's documented rules, must give the same answers and the same log.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_core::event::Purchase;
use clientele_core::{
    AppendOutcome, AppendStatus, Currency, CustomerId, Error, EventId, ExpectedVersion, NewEvent,
    Store,
};

/// Customers the operations choose from.
const CUSTOMERS: usize = 3;
/// Operations read from one input at most (each opens nothing: the store
/// is opened once per input).
const MAX_OPS: usize = 48;

/// One event as the model knows it: its id and what it holds (the amount
/// in cents of its purchase, and the hour it occurred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    id: EventId,
    cents: i64,
    hour: i64,
}

/// What one stream of a batch asks for.
#[derive(Debug, Clone)]
struct Part {
    customer: usize,
    expected: ExpectedVersion,
    events: Vec<Sent>,
}

/// The log's rules, kept by hand: streams, the global order, and where each
/// id was stored.
#[derive(Debug, Default)]
struct Model {
    streams: [Vec<EventId>; CUSTOMERS],
    log: Vec<(usize, EventId)>,
    stored: HashMap<EventId, (i64, u64, u64)>,
}

/// What the model says a batch gives.
#[derive(Debug)]
enum Predicted {
    /// Written, or found whole (per stream: status, (version, position)s).
    Ok(Vec<(AppendStatus, Vec<(u64, u64)>)>),
    /// Refused: which errors the rules allow.
    Refused(&'static str),
}

impl Model {
    /// The rules of `Store::append_batch`: an id stored with other content
    /// is a conflict; ids all stored are the original positions; some
    /// stored is a partial retry; otherwise each stream's expected version
    /// is checked in order, a stream seeing the earlier streams of the batch.
    fn predict(&self, parts: &[Part], invalid: bool) -> Predicted {
        if invalid {
            return Predicted::Refused("validation");
        }
        let sent: Vec<&Sent> = parts.iter().flat_map(|p| p.events.iter()).collect();
        let mut seen = std::collections::HashSet::new();
        if sent.iter().any(|s| !seen.insert(s.id)) {
            return Predicted::Refused("validation");
        }
        let mut found = 0;
        for s in &sent {
            if let Some(&(cents, _, _)) = self.stored.get(&s.id) {
                if cents != s.cents {
                    return Predicted::Refused("idempotency conflict");
                }
                found += 1;
            }
        }
        if found == sent.len() {
            return Predicted::Ok(
                parts
                    .iter()
                    .map(|p| {
                        let positions = p
                            .events
                            .iter()
                            .filter_map(|s| self.stored.get(&s.id).map(|&(_, v, pos)| (v, pos)))
                            .collect();
                        (AppendStatus::AlreadyAppended, positions)
                    })
                    .collect(),
            );
        }
        if found > 0 {
            return Predicted::Refused("partially appended");
        }
        let mut versions: [u64; CUSTOMERS] = std::array::from_fn(|c| self.streams[c].len() as u64);
        let mut head = self.log.len() as u64;
        let mut out = Vec::new();
        for p in parts {
            if !p.expected.matches(versions[p.customer]) {
                return Predicted::Refused("wrong expected version");
            }
            let mut positions = Vec::new();
            for _ in &p.events {
                versions[p.customer] += 1;
                head += 1;
                positions.push((versions[p.customer], head));
            }
            out.push((AppendStatus::Appended, positions));
        }
        Predicted::Ok(out)
    }

    fn apply(&mut self, parts: &[Part]) {
        for p in parts {
            for s in &p.events {
                if self.stored.contains_key(&s.id) {
                    continue;
                }
                self.streams[p.customer].push(s.id);
                self.log.push((p.customer, s.id));
                let at = (self.streams[p.customer].len() as u64, self.log.len() as u64);
                self.stored.insert(s.id, (s.cents, at.0, at.1));
            }
        }
    }
}

fn expected(kind: u8, guess: u8) -> ExpectedVersion {
    match kind % 3 {
        0 => ExpectedVersion::Any,
        1 => ExpectedVersion::NoStream,
        _ => ExpectedVersion::Exact(u64::from(guess % 8)),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The event a `Sent` stands for; `invalid` makes its amount finer than a
/// cent, which validation refuses.
fn event(s: &Sent, invalid: bool) -> NewEvent {
    let (units, scale) = if invalid {
        (s.cents * 10 + 1, 3)
    } else {
        (s.cents, 2)
    };
    let amount = clientele_core::Decimal::new(units, scale).unwrap_or_default();
    let order = Purchase::new(format!("o-{}", s.id), amount, Currency::CNY);
    NewEvent::new(t0() + Duration::hours(s.hour), order).with_id(s.id)
}

/// Runs the operations `data` encodes (4 bytes each) against a new store and
/// the model. Panics when they disagree: an outcome, an error kind, a write
/// where the rules refuse (a batch is all or nothing), or, at the end, the
/// global order, a stream, a stream version or `verify`.
pub fn store_ops(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let store = match Store::open(dir.path()) {
        Ok(store) => store,
        Err(e) => panic!("a new store does not open: {e}"),
    };
    let customers: Vec<CustomerId> = (0..CUSTOMERS)
        .map(|c| CustomerId::from_external("fuzz", &c.to_string()))
        .collect();
    let mut model = Model::default();
    let mut batches: Vec<Vec<Part>> = Vec::new();
    let mut next_id = 0u64;
    let mut fresh = |cents: u8| {
        next_id += 1;
        Sent {
            id: EventId::derived(format!("fuzz/{next_id}").as_bytes()),
            cents: 100 + i64::from(cents),
            hour: next_id as i64,
        }
    };
    for (n, op) in data.chunks_exact(4).take(MAX_OPS).enumerate() {
        let [kind, a, b, c] = [op[0], op[1], op[2], op[3]];
        let mut invalid = false;
        let parts: Vec<Part> = match kind % 6 {
            // New events for one customer.
            0 | 1 => vec![Part {
                customer: usize::from(a) % CUSTOMERS,
                expected: expected(c, b),
                events: (0..1 + b % 3).map(|i| fresh(a.wrapping_add(i))).collect(),
            }],
            // A retry of an earlier batch, with any expected versions.
            2 => match batches.len() {
                0 => continue,
                len => {
                    let mut parts = batches[usize::from(a) % len].clone();
                    for p in &mut parts {
                        p.expected = expected(c, b);
                    }
                    parts
                }
            },
            // An id already used, sent again with other content.
            3 => match model.log.len() {
                0 => continue,
                len => {
                    let (customer, id) = model.log[usize::from(a) % len];
                    vec![Part {
                        customer,
                        expected: ExpectedVersion::Any,
                        events: vec![Sent {
                            id,
                            cents: 100_000 + i64::from(b),
                            hour: 0,
                        }],
                    }]
                }
            },
            // Two streams in one batch (possibly the same customer).
            4 => vec![
                Part {
                    customer: usize::from(a) % CUSTOMERS,
                    expected: expected(c, b),
                    events: vec![fresh(a)],
                },
                Part {
                    customer: usize::from(b) % CUSTOMERS,
                    expected: expected(c / 3, a),
                    events: vec![fresh(b), fresh(c)],
                },
            ],
            // A batch whose last event is invalid: nothing may be written.
            _ => {
                invalid = true;
                vec![
                    Part {
                        customer: usize::from(a) % CUSTOMERS,
                        expected: ExpectedVersion::Any,
                        events: vec![fresh(a)],
                    },
                    Part {
                        customer: usize::from(b) % CUSTOMERS,
                        expected: ExpectedVersion::Any,
                        events: vec![fresh(b)],
                    },
                ]
            }
        };
        let predicted = model.predict(&parts, invalid);
        let last = parts.len() - 1;
        let request: Vec<(CustomerId, ExpectedVersion, Vec<NewEvent>)> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let k = p.events.len();
                let events = p
                    .events
                    .iter()
                    .enumerate()
                    .map(|(j, s)| event(s, invalid && i == last && j + 1 == k))
                    .collect();
                (customers[p.customer], p.expected, events)
            })
            .collect();
        let head = store.head();
        let result = store.append_batch(request);
        match (&predicted, &result) {
            (Predicted::Ok(want), Ok(got)) => {
                let got: Vec<(AppendStatus, Vec<(u64, u64)>)> = got
                    .iter()
                    .map(|o: &AppendOutcome| (o.status, o.positions.clone()))
                    .collect();
                assert_eq!(&got, want, "op {n}: {parts:?}");
                model.apply(&parts);
                batches.push(parts);
            }
            (Predicted::Refused(why), Err(e)) => {
                let agrees = match *why {
                    "validation" => matches!(e, Error::Validation(_)),
                    "idempotency conflict" => matches!(e, Error::IdempotencyConflict { .. }),
                    "partially appended" => matches!(e, Error::PartiallyAppended { .. }),
                    _ => matches!(e, Error::WrongExpectedVersion { .. }),
                };
                assert!(agrees, "op {n}: expected {why}, got {e}");
                assert_eq!(store.head(), head, "op {n}: a refused batch wrote");
                if *why == "wrong expected version" {
                    // Its events are new: a later retry may send them again.
                    batches.push(parts);
                }
            }
            _ => panic!("op {n}: the model says {predicted:?}, the store {result:?}"),
        }
        assert_eq!(store.head(), model.log.len() as u64, "op {n}: head");
    }
    check_log(&store, &customers, &model);
}

/// The store's log, streams and stream versions are the model's, and it
/// verifies.
fn check_log(store: &Store, customers: &[CustomerId], model: &Model) {
    let all: Vec<_> = match store.read_all(1) {
        Ok(iter) => iter
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("read_all: {e}")),
        Err(e) => panic!("read_all: {e}"),
    };
    assert_eq!(all.len(), model.log.len(), "log length");
    for (i, (event, (c, id))) in all.iter().zip(&model.log).enumerate() {
        assert_eq!(event.position, i as u64 + 1);
        assert_eq!((event.customer_id, event.event_id), (customers[*c], *id));
    }
    for (c, ids) in model.streams.iter().enumerate() {
        let stream = store
            .read_stream(customers[c])
            .unwrap_or_else(|e| panic!("read_stream: {e}"));
        let got: Vec<EventId> = stream.iter().map(|e| e.event_id).collect();
        assert_eq!(&got, ids, "stream {c}");
        assert!(stream
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1));
        let version = store
            .stream_version(customers[c])
            .unwrap_or_else(|e| panic!("stream_version: {e}"));
        assert_eq!(version, ids.len() as u64, "stream {c} version");
    }
    if let Err(e) = store.verify() {
        panic!("verify: {e}");
    }
}
