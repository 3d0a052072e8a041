//! Crash safety of the lifecycle projection: a child process catches up (or
//! rebuilds) on a log of ~50k events, then appends and commits small batches,
//! and is killed with SIGKILL at random moments; new events, some of them
//! late, arrive between rounds and from the children.
//! Afterwards the catch-up is finished, and every customer's stored state must
//! equal a rebuild from zero in a fresh projector, byte for byte.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::projection::fold;
use clientele_core::{
    CustomerId, Decimal, Durability, EventId, ExpectedVersion, NewEvent, Store, StoreOptions,
};
use clientele_lifecycle::{Lifecycle, LifecyclePolicy, LifecycleProjection};

const CHILD_ENV: &str = "CLIENTELE_LIFECYCLE_CRASH_DIR";
const KEY_ENV: &str = "CLIENTELE_LIFECYCLE_CRASH_KEY";
const ROUND_ENV: &str = "CLIENTELE_LIFECYCLE_CRASH_ROUND";
const CUSTOMERS: u64 = 2_000;
const INITIAL_EVENTS: u64 = 48_000;
const ROUNDS: u64 = 10;
const EVENTS_PER_ROUND: u64 = 300;

/// A fixed master key shared by parent and child (the test's throwaway key).
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn options() -> StoreOptions {
    let hex = std::env::var(KEY_ENV).unwrap_or_else(|_| KEY_HEX.to_owned());
    let ring = clientele_core::privacy::MasterKeyRing::from_hex(1, &hex).unwrap();
    StoreOptions {
        durability: Durability::Buffered,
        master_keys: Some(std::sync::Arc::new(ring)),
        ..StoreOptions::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap()
}

fn customer(i: u64) -> CustomerId {
    CustomerId::from_external("crash", &(i % CUSTOMERS).to_string())
}

/// A varied event for `seed`; complaints only ever use the `received` step so
/// that any append order is valid (each seed opens its own complaint).
fn event(seed: u64, minutes: i64) -> NewEvent {
    let when = t0() + chrono::Duration::minutes(minutes);
    let amount = Decimal::new((seed % 40_000) as i64 + 100, 2).unwrap();
    let cny = "CNY".parse().unwrap();
    let payload: EventPayload = match seed % 16 {
        0..=6 => Purchase::new(format!("o-{}", seed % 97), amount, cny).into(),
        7 | 8 => Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
        9 => Complaint::new(format!("k-{seed}"), ComplaintStep::Received).into(),
        10 => Churn {
            reason: "price".into(),
            voluntary: true,
        }
        .into(),
        11 => Reactivation {
            campaign: None,
            channel: None,
        }
        .into(),
        12 => Cancellation {
            order_id: format!("o-{}", seed % 97),
            reason: None,
        }
        .into(),
        13 => Refund {
            order_id: format!("o-{}", seed % 97),
            amount,
            currency: cny,
            reason: None,
        }
        .into(),
        // Profiles are sealed personal data; decrypting them is slow in
        // unoptimised builds, so only a few seeds carry one.
        14 if seed % 1_000 == 14 => Profile {
            licence_plate: Some(format!("京A{:05}", seed % 100_000)),
            ..Profile::default()
        }
        .into(),
        14 => Contact::new(Channel::Web, Direction::Inbound, Purpose::Inquiry).into(),
        _ => Referral {
            referred: Referred::Customer(customer(seed + 1)),
            channel: None,
        }
        .into(),
    };
    NewEvent::new(when, payload).with_id(EventId::derived(&seed.to_be_bytes()))
}

/// Appends seeds `from..to` in batches over all customers. `late` puts them
/// earlier in business time than most events already stored.
fn append(store: &Store, from: u64, to: u64, late: bool) {
    let mut batch = Vec::new();
    for seed in from..to {
        let minutes = if late {
            (seed * 37 % 500_000) as i64
        } else if seed < CHILD_SEEDS {
            (seed * 11) as i64
        } else {
            (600_000 + seed % 1_000_000) as i64
        };
        batch.push((
            customer(seed),
            ExpectedVersion::Any,
            vec![event(seed, minutes)],
        ));
        if batch.len() == 500 {
            store.append_batch(std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        store.append_batch(batch).unwrap();
    }
}

/// The child: catches up (or, in some rounds, rebuilds from zero), then keeps
/// appending small batches — some of them late — and catching up, reporting
/// each commit. Runs until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let store = Store::open_with(&dir, options()).expect("open");
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
    let report = |what: &str, position: u64| {
        let out = std::io::stdout();
        let mut out = out.lock();
        writeln!(out, "{what} {position}").ok();
        out.flush().ok();
    };
    let position = if round % 4 == 3 {
        lifecycle.rebuild().expect("rebuild")
    } else {
        lifecycle.catch_up().expect("catch up")
    };
    report("ready", position);
    for i in 0u64.. {
        let from = CHILD_SEEDS + round * 1_000_000 + i * 40;
        append(&store, from, from + 40, i % 3 == 0);
        let position = lifecycle.catch_up().expect("catch up");
        report("commit", position);
    }
}

/// Seeds of events appended by children start here (parents use lower ones).
const CHILD_SEEDS: u64 = 10_000_000;

#[test]
fn sigkill_during_catch_up_leaves_states_equal_to_a_rebuild() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), options()).unwrap();
        append(&store, 0, INITIAL_EVENTS, false);
        store.sync().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_seed = INITIAL_EVENTS;
    let mut commits = 0usize;
    let mut readies = 0usize;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .env(KEY_ENV, KEY_HEX)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if round % 2 == 0 {
            // Let the first (long) catch-up finish, then kill during the
            // stream of small appends and commits.
            // The harness may print "test crash_child ... " on the same line
            // before the child's first report, hence `contains`.
            let ready = rx.iter().any(|l| l.contains("ready "));
            assert!(ready, "round {round}: the child did not catch up");
            std::thread::sleep(Duration::from_millis(rng % 700));
        } else {
            // Anywhere: during the catch-up or rebuild, or later.
            std::thread::sleep(Duration::from_millis(50 + rng % 3_000));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            if line.contains("commit ") {
                commits += 1;
            } else if line.contains("ready ") {
                readies += 1;
            }
        }
        // New events between crashes, every other round late ones.
        let store = Store::open_with(dir.path(), options()).unwrap();
        append(
            &store,
            next_seed,
            next_seed + EVENTS_PER_ROUND,
            round % 2 == 1,
        );
        next_seed += EVENTS_PER_ROUND;
        store.sync().unwrap();
        // The projection reopens after every crash.
        let lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
        assert!(lifecycle.position() <= store.head(), "round {round}");
    }
    assert!(
        commits > ROUNDS as usize,
        "the children should have committed often ({commits} commits)"
    );

    // Finish the catch-up after the last crash.
    let store = Store::open_with(dir.path(), options()).unwrap();
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
    let position = lifecycle.catch_up().unwrap();
    assert_eq!(position, store.head());
    assert!(position >= INITIAL_EVENTS + ROUNDS * EVENTS_PER_ROUND);

    // A rebuild from zero in a fresh projector, on a copy of the store.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy_path = copy_dir.path().join("copy");
    store.backup(&copy_path).unwrap();
    let copy = Store::open_with(&copy_path, options()).unwrap();
    let mut fresh = Lifecycle::open(&copy, LifecyclePolicy::default()).unwrap();
    fresh.rebuild().unwrap();

    let projection = LifecycleProjection::new(LifecyclePolicy::default()).unwrap();
    let stored = lifecycle.projector().states().unwrap();
    let rebuilt = fresh.projector().states().unwrap();
    assert_eq!(stored.len() as u64, CUSTOMERS);
    assert_eq!(rebuilt.len(), stored.len());
    for ((c, state), (c2, again)) in stored.iter().zip(&rebuilt) {
        assert_eq!(c, c2);
        let bytes = postcard::to_allocvec(state).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(again).unwrap(), "customer {c}");
        let events = store.read_stream(*c).unwrap();
        let folded = fold(&projection, events.iter());
        assert_eq!(
            bytes,
            postcard::to_allocvec(&folded).unwrap(),
            "customer {c}"
        );
    }
    // The index agrees too.
    assert_eq!(
        lifecycle.projector().lookup_prefix("").unwrap(),
        fresh.projector().lookup_prefix("").unwrap()
    );
    eprintln!("{ROUNDS} crashes; children caught up {readies} times and committed {commits} times");
}
