//! Crash safety: appenders in a child process are killed with SIGKILL at random
//! moments; after each kill the store must hold every acknowledged event, no
//! partial batch, no gap, and pass `verify()`.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use clientele_core::{CustomerId, EventId, ExpectedVersion, NewEvent, Store};

const CHILD_ENV: &str = "CLIENTELE_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "CLIENTELE_CRASH_ROUND";

/// The child: appends batches forever, announcing each batch before and after
/// the append. Does nothing when run as a normal test.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let store = Store::open(&dir).expect("open");
    let customers: Vec<CustomerId> = (0..8)
        .map(|i| CustomerId::from_external("crash", &i.to_string()))
        .collect();
    let out = std::io::stdout();
    for i in 0u64.. {
        let base = (round << 32) | (i << 4);
        let ids: Vec<EventId> = (0..3)
            .map(|k| EventId::derived(&(base + k).to_be_bytes()))
            .collect();
        let events: Vec<NewEvent> = ids
            .iter()
            .enumerate()
            .map(|(k, id)| common::event(base + k as u64).with_id(*id))
            .collect();
        let line: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        {
            let mut o = out.lock();
            writeln!(o, "try {}", line.join(",")).ok();
            o.flush().ok();
        }
        let result = if i % 3 == 0 {
            // A multi-customer atomic batch.
            let (a, b) = (
                customers[(i % 8) as usize],
                customers[((i + 3) % 8) as usize],
            );
            let mut events = events;
            let rest = events.split_off(1);
            store
                .append_batch(vec![
                    (a, ExpectedVersion::Any, events),
                    (b, ExpectedVersion::Any, rest),
                ])
                .map(|_| ())
        } else {
            store
                .append(customers[(i % 8) as usize], ExpectedVersion::Any, events)
                .map(|_| ())
        };
        result.expect("append");
        let mut o = out.lock();
        writeln!(o, "ack {}", line.join(",")).ok();
        o.flush().ok();
    }
}

#[test]
fn sigkill_during_appends_loses_nothing_acknowledged() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: Vec<Vec<EventId>> = Vec::new();
    let mut attempted: Vec<Vec<EventId>> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let rounds = 12;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 400));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parse = |s: &str| {
                s.split(',')
                    .filter_map(|id| id.parse().ok())
                    .collect::<Vec<EventId>>()
            };
            if let Some(ids) = line.strip_prefix("ack ") {
                acknowledged.push(parse(ids));
            } else if let Some(ids) = line.strip_prefix("try ") {
                attempted.push(parse(ids));
            }
        }
        // Reopen after the crash and check everything.
        let store = Store::open(dir.path()).unwrap();
        let report = store.verify().unwrap();
        let mut present = HashSet::new();
        for (i, event) in store.read_all(1).unwrap().enumerate() {
            let event = event.unwrap();
            assert_eq!(event.position, i as u64 + 1, "gap in the global order");
            present.insert(event.event_id);
        }
        assert_eq!(present.len() as u64, report.events);
        for batch in &acknowledged {
            for id in batch {
                assert!(
                    present.contains(id),
                    "round {round}: acknowledged event {id} lost"
                );
            }
        }
        for batch in &attempted {
            let n = batch.iter().filter(|id| present.contains(id)).count();
            assert!(
                n == 0 || n == batch.len(),
                "round {round}: partial batch {batch:?}"
            );
        }
        for customer in store.customers().unwrap() {
            for (i, e) in store.read_stream(customer).unwrap().iter().enumerate() {
                assert_eq!(e.version, i as u64 + 1, "gap in a stream");
            }
        }
    }
    assert!(
        acknowledged.len() > rounds,
        "the children should have acknowledged appends"
    );
}
