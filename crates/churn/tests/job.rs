//! The warning job: cost follows the due customers, warnings are raised once
//! per episode, stored and delivered with stable ids, across restarts and
//! SIGKILLs.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_churn::{
    CallbackSink, JsonlSink, ModelContext, RiskPolicy, Warning, WarningJob, WarningKind,
    WarningPolicy,
};
use clientele_core::event::{Payment, Purchase, Refund};
use clientele_core::{
    Currency, CustomerId, Durability, EventId, ExpectedVersion, NewEvent, Store, StoreOptions,
};

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(d)
}

/// `n` customers buying every `gap` days (10–60) from day 0 until day `stop`
/// (some stop early: they will lapse).
fn population(store: &Store, n: u64) {
    let mut batch = Vec::new();
    for i in 0..n {
        let gap = 10 + (i * 7) % 51;
        let stop = if i % 3 == 0 { 60 + (i % 40) } else { 200 };
        let customer = CustomerId::from_external("job", &i.to_string());
        let events: Vec<NewEvent> = (0..)
            .map(|k| k * gap as i64)
            .take_while(|d| *d <= stop as i64)
            .map(|d| {
                let p = Purchase::new(
                    format!("o-{i}-{d}"),
                    "20.00".parse().unwrap(),
                    Currency::CNY,
                );
                NewEvent::new(day(d), p).with_id(EventId::derived(format!("{i}/{d}").as_bytes()))
            })
            .collect();
        batch.push((customer, ExpectedVersion::Any, events));
    }
    for chunk in batch.chunks(200) {
        store
            .append_batch_with(chunk.to_vec(), Durability::Buffered)
            .unwrap();
    }
    store.sync().unwrap();
}

fn job(store: &Store) -> WarningJob {
    WarningJob::open(
        store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        ModelContext::default(),
    )
    .unwrap()
}

/// Warnings delivered so far.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<Warning>>>;

fn collect() -> (
    CallbackSink<impl FnMut(&Warning) -> Result<(), String> + Send>,
    Seen,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    (
        CallbackSink(move |w: &Warning| {
            s.lock().unwrap().push(w.clone());
            Ok(())
        }),
        seen,
    )
}

/// A purchase of 50.00 CNY on day `d`, order `o{d}`.
fn buy(d: i64) -> NewEvent {
    NewEvent::new(
        day(d),
        Purchase::new(format!("o{d}"), "50.00".parse().unwrap(), Currency::CNY),
    )
}

/// Ten purchases by `c`, every 14 days from day 0 to day 126.
fn regular_buyer(store: &Store, c: CustomerId) {
    store
        .append(
            c,
            ExpectedVersion::Any,
            (0..10).map(|k| buy(k * 14)).collect(),
        )
        .unwrap();
}

/// The warnings of `kind` delivered for customer `c`.
fn warned(seen: &Seen, c: CustomerId, kind: WarningKind) -> Vec<Warning> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|w| w.kind == kind && w.customer_id == c)
        .cloned()
        .collect()
}

#[test]
fn cost_follows_due_customers_and_warnings_are_once_per_episode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    population(&store, 300);
    let mut job = job(&store);
    job.refit(day(210)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    let first = job.run(day(210), &mut sink).unwrap();
    assert_eq!(
        first.visited, 300,
        "the first run sees every customer with new events"
    );
    assert!(first.raised > 0);
    assert_eq!(seen.lock().unwrap().len(), first.raised);
    // Nothing new, nothing due: nothing visited.
    let again = job.run(day(210), &mut sink).unwrap();
    assert_eq!((again.visited, again.raised), (0, 0));
    // Some time later only the customers whose thresholds fell due are visited.
    let later = job.run(day(240), &mut sink).unwrap();
    assert!(
        later.visited > 0 && later.visited < 300,
        "visited {}",
        later.visited
    );
    assert_eq!(later.with_new_events, 0);
    assert_eq!(later.visited, later.due);
    // Once per episode: no customer has two warnings of one kind in one episode at one severity.
    let history = job.warnings(day(0), day(400)).unwrap();
    let mut keys = BTreeSet::new();
    for w in &history {
        assert!(
            keys.insert((w.customer_id, w.kind, w.episode_start, w.severity)),
            "duplicate {w:?}"
        );
    }
    // Restart: a fresh job on the same store raises nothing for the same as-of.
    drop(job);
    let mut job = self::job(&store);
    assert_eq!(job.run(day(240), &mut sink).unwrap().raised, 0);
    assert_eq!(job.warnings(day(0), day(400)).unwrap(), history);
}

#[test]
fn a_recovered_customer_is_warned_again_in_a_new_episode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = CustomerId::new_random();
    regular_buyer(&store, c);
    population(&store, 100); // a population to fit the model on
    let mut job = job(&store);
    job.refit(day(400)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    job.run(day(400), &mut sink).unwrap();
    let mine = |seen: &Seen| warned(seen, c, WarningKind::HighRisk);
    let high = mine(&seen);
    assert_eq!(high.len(), 1, "lapsed for months: one high-risk warning");
    assert!(high[0].reasons.iter().any(|r| r.signal == "recency"));
    job.run(day(430), &mut sink).unwrap();
    // Still in the same episode: only an escalation to a higher severity may be raised.
    let episode = mine(&seen);
    assert!(episode
        .iter()
        .all(|w| w.episode_start == high[0].episode_start));
    assert!(
        episode.windows(2).all(|p| p[1].severity > p[0].severity),
        "{episode:#?}"
    );
    let first_episode = episode.len();
    // Back to buying: recovered; then lapsing again: a new episode, a new id.
    store
        .append(
            c,
            ExpectedVersion::Any,
            (0..12).map(|k| buy(431 + k * 7)).collect(),
        )
        .unwrap();
    job.run(day(520), &mut sink).unwrap();
    // Lapsing again, within the exit horizon (365 days without a purchase
    // after the last one, on day 508: beyond it is the win-back list).
    job.run(day(870), &mut sink).unwrap();
    let high = mine(&seen);
    assert!(
        high.len() > first_episode,
        "lapsing again opens a new episode: {high:#?}"
    );
    let new = &high[first_episode];
    assert!(new.episode_start > high[0].episode_start);
    assert!(high[..first_episode].iter().all(|w| w.id != new.id));
    // A refund does not change risk here but is a new event: visited, nothing raised.
    let refund = Refund {
        order_id: "o0".into(),
        amount: "1.00".parse().unwrap(),
        currency: Currency::CNY,
        reason: None,
    };
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![NewEvent::new(day(871), refund)],
        )
        .unwrap();
    let report = job.run(day(872), &mut sink).unwrap();
    assert_eq!((report.with_new_events, report.raised), (1, 0));
}

/// Everything the job keeps (warnings, episodes, due index, checkpoint…).
fn kept(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .keyspace("churn-job")
        .unwrap()
        .range(b"", None, usize::MAX)
        .unwrap()
}

#[test]
fn a_run_broken_off_between_chunks_is_finished_as_if_whole() {
    let runs = [day(210), day(240)];
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = {
        let store = Store::open(reference_dir.path()).unwrap();
        population(&store, 300);
        let mut job = job(&store);
        job.refit(runs[0]).unwrap();
        let (mut sink, _) = collect();
        for t in runs {
            job.run(t, &mut sink).unwrap();
        }
        kept(&store)
    };
    // Broken off in the fourth chunk (a record that does not decode), then
    // finished by rerunning the same as-of, or by the next run.
    for resume_with in runs {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        population(&store, 300);
        let mut job = job(&store);
        job.chunk = 50;
        job.refit(runs[0]).unwrap();
        let space = store.keyspace("churn-job").unwrap();
        let victim = store.customers().unwrap()[175];
        let record = [&b"ep/"[..], victim.as_bytes()].concat();
        let mut batch = space.batch();
        batch.put(&space, &record, b"not json");
        store.write_keyspaces(batch).unwrap();
        let (mut sink, seen) = collect();
        assert!(job.run(runs[0], &mut sink).is_err());
        let meta = job.meta().unwrap();
        let pending = meta.pending.expect("a run in progress");
        assert_eq!((pending.as_of, pending.fresh_done), (runs[0], 150));
        assert_eq!((meta.last_as_of, meta.position), (None, 0));
        let mut batch = space.batch();
        batch.delete(&space, &record);
        store.write_keyspaces(batch).unwrap();
        let report = job.run(resume_with, &mut sink).unwrap();
        if resume_with == runs[0] {
            assert_eq!((report.visited, report.with_new_events), (300, 300));
            job.run(runs[1], &mut sink).unwrap();
        }
        assert_eq!(kept(&store), reference, "resumed with {resume_with}");
        let delivered: BTreeSet<_> = seen.lock().unwrap().iter().map(|w| w.id).collect();
        assert_eq!(
            delivered,
            job.warnings(day(0), day(1000))
                .unwrap()
                .iter()
                .map(|w| w.id)
                .collect()
        );
    }
}

/// A sink that fails mid-run: the run's decisions are committed, and the
/// warnings not yet delivered wait in the outbox for `deliver` (or the next
/// run), which delivers each of them once.
#[test]
fn warnings_a_failed_sink_did_not_take_wait_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    population(&store, 300);
    let mut job = job(&store);
    job.refit(day(210)).unwrap();
    let mut taken = Vec::new();
    let mut failing = CallbackSink(|w: &Warning| {
        if taken.len() == 2 {
            return Err("the mail server is down".to_owned());
        }
        taken.push(w.id);
        Ok(())
    });
    let err = job.run(day(210), &mut failing).unwrap_err();
    assert!(err.to_string().contains("the mail server is down"), "{err}");
    assert_eq!(job.meta().unwrap().last_as_of, Some(day(210)));
    let stored: BTreeSet<_> = job
        .warnings(day(0), day(1000))
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert!(stored.len() > 2, "{} warnings", stored.len());
    let (mut sink, seen) = collect();
    assert_eq!(job.deliver(&mut sink).unwrap(), stored.len() - 2);
    assert_eq!(job.deliver(&mut sink).unwrap(), 0);
    let mut delivered: Vec<_> = seen.lock().unwrap().iter().map(|w| w.id).collect();
    delivered.extend(taken);
    delivered.sort();
    assert_eq!(delivered, stored.into_iter().collect::<Vec<_>>());
    // A rerun of the same as-of raises nothing new and delivers nothing twice.
    let report = job.run(day(210), &mut sink).unwrap();
    assert_eq!((report.raised, report.delivered), (0, 0));
}

/// Due entries carry the customer's episodes and state; runs that must look
/// them up instead (entries written without them) decide the same.
#[test]
fn due_entries_decide_what_lookups_decide() {
    let runs: Vec<_> = (0..30).map(|k| day(150 + 10 * k)).collect();
    let mut kept_by = Vec::new();
    for carried in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        population(&store, 400);
        let mut job = job(&store);
        job.refit(runs[0]).unwrap();
        let space = store.keyspace("churn-job").unwrap();
        let (mut sink, _) = collect();
        let mut due = 0;
        for &t in &runs {
            if !carried {
                let mut batch = space.batch();
                for (k, _) in space.scan_prefix(b"due/", usize::MAX).unwrap() {
                    batch.put(&space, &k, b"");
                }
                store.write_keyspaces(batch).unwrap();
            }
            due += job.run(t, &mut sink).unwrap().due;
        }
        assert!(due > 300, "{due} due visits");
        // Everything but the due entries' values (blanked in one of the two).
        let mut all = kept(&store);
        for (k, v) in &mut all {
            if k.starts_with(b"due/") {
                v.clear();
            }
        }
        kept_by.push(all);
    }
    assert!(
        kept_by[0] == kept_by[1],
        "carried and looked-up inputs decide differently"
    );
}

/// The customers the keyspace holds due entries for at or before `t`.
fn due_by(store: &Store, t: DateTime<Utc>) -> BTreeSet<CustomerId> {
    let space = store.keyspace("churn-job").unwrap();
    let bound = ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes();
    space
        .scan_prefix(b"due/", usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|(k, _)| {
            let at = <[u8; 8]>::try_from(k.get(4..12)?).ok()?;
            let id = <[u8; 16]>::try_from(k.get(12..28)?).ok()?;
            (at <= bound).then(|| CustomerId::from_uuid(uuid::Uuid::from_bytes(id)))
        })
        .collect()
}

/// Runs forwards and backwards in time: each run visits exactly the
/// customers whose due entries the keyspace holds at or before its as-of, and
/// leaves none there (the scan may start past the last run's as-of).
#[test]
fn every_due_entry_is_found_whatever_order_the_runs_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    population(&store, 300);
    let mut job = job(&store);
    job.refit(day(150)).unwrap();
    let (mut sink, _) = collect();
    job.run(day(150), &mut sink).unwrap();
    let mut visited = 0;
    for d in [200, 240, 180, 230, 300, 170, 250, 420] {
        let t = day(d);
        let due = due_by(&store, t);
        let report = job.run(t, &mut sink).unwrap();
        assert_eq!(report.with_new_events, 0);
        assert_eq!(report.due, due.len(), "run at day {d}");
        assert_eq!(report.visited, due.len(), "run at day {d}");
        assert!(due_by(&store, t).is_empty(), "due entries left at day {d}");
        visited += report.visited;
    }
    assert!(visited > 100, "{visited} visits");
}

const CHILD: &str = "CLIENTELE_CHURN_CHILD";
/// The child's chunk size, if not the default.
const CHILD_CHUNK: &str = "CLIENTELE_CHURN_CHILD_CHUNK";
const RUNS: [i64; 6] = [120, 150, 180, 210, 240, 270];

fn runs_after(last: Option<DateTime<Utc>>) -> Vec<DateTime<Utc>> {
    RUNS.iter()
        .map(|d| day(*d))
        .filter(|t| last.is_none_or(|l| *t > l))
        .collect()
}

/// The child: runs the scheduled as-ofs it has not done yet, delivering to a JSONL file.
#[test]
fn churn_child() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let store = Store::open_with(format!("{dir}/db"), StoreOptions::default()).unwrap();
    let mut job = job(&store);
    if let Ok(chunk) = std::env::var(CHILD_CHUNK) {
        job.chunk = chunk.parse().unwrap();
    }
    let mut sink = JsonlSink::open(format!("{dir}/warnings.jsonl")).unwrap();
    loop {
        let pending = runs_after(job.meta().unwrap().last_as_of);
        let Some(next) = pending.first() else { break };
        job.run(*next, &mut sink).unwrap();
    }
    // A kill after the last run's commits but before its delivery leaves
    // warnings in the outbox and no run to do: a restarted scheduler
    // delivers them.
    job.deliver(&mut sink).unwrap();
}

#[test]
fn sigkill_during_runs_neither_loses_nor_duplicates_warnings() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    // Reference: the same runs without crashes.
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = {
        let store = Store::open(reference_dir.path()).unwrap();
        population(&store, 1500);
        let mut job = job(&store);
        job.refit(day(RUNS[0])).unwrap();
        let (mut sink, _) = collect();
        for t in runs_after(None) {
            job.run(t, &mut sink).unwrap();
        }
        job.warnings(day(0), day(1000)).unwrap()
    };
    assert!(!reference.is_empty());
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path().join("db")).unwrap();
        population(&store, 1500);
        job(&store).refit(day(RUNS[0])).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..10 {
        let mut child = Command::new(&exe)
            .args(["churn_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_millis(100 + rng % 900));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // Finish whatever is left, then compare with the reference.
    let status = Command::new(&exe)
        .args(["churn_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let store = Store::open(dir.path().join("db")).unwrap();
    let stored = job(&store).warnings(day(0), day(1000)).unwrap();
    assert_eq!(
        stored, reference,
        "crash-interrupted runs must decide exactly what clean runs decide"
    );
    // At-least-once delivery with stable ids: every warning delivered, duplicates only as redeliveries.
    let delivered: Vec<Warning> = std::fs::read_to_string(dir.path().join("warnings.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut by_id: BTreeMap<uuid::Uuid, usize> = BTreeMap::new();
    for w in &delivered {
        *by_id.entry(w.id).or_default() += 1;
    }
    for w in &stored {
        assert!(
            by_id.contains_key(&w.id),
            "warning {} never delivered",
            w.id
        );
    }
    assert_eq!(by_id.len(), stored.len());
}

/// The same with commits every 64 customers: kills land between a run's
/// chunks, and the next run must finish the run it broke off.
#[test]
fn sigkill_between_chunks_neither_loses_nor_duplicates_warnings() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = {
        let store = Store::open(reference_dir.path()).unwrap();
        population(&store, 1500);
        let mut job = job(&store);
        job.refit(day(RUNS[0])).unwrap();
        let (mut sink, _) = collect();
        for t in runs_after(None) {
            job.run(t, &mut sink).unwrap();
        }
        kept(&store)
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path().join("db")).unwrap();
        population(&store, 1500);
        job(&store).refit(day(RUNS[0])).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let child = || {
        let mut command = Command::new(&exe);
        command
            .args(["churn_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, dir.path())
            .env(CHILD_CHUNK, "64")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..10 {
        let mut running = child().spawn().unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_millis(100 + rng % 900));
        running.kill().unwrap();
        running.wait().unwrap();
    }
    assert!(child().status().unwrap().success());
    let store = Store::open(dir.path().join("db")).unwrap();
    // Byte for byte what clean runs keep (the outbox is empty in both).
    assert_eq!(kept(&store), reference);
    let stored = job(&store).warnings(day(0), day(1000)).unwrap();
    let delivered: BTreeSet<uuid::Uuid> =
        std::fs::read_to_string(dir.path().join("warnings.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Warning>(l).ok())
            .map(|w| w.id)
            .collect();
    assert_eq!(delivered, stored.iter().map(|w| w.id).collect());
}

#[test]
fn customers_silent_beyond_the_exit_horizon_go_to_the_win_back_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = CustomerId::new_random();
    // Every 14 days until day 126: a typical gap of 30 days (the floor), so
    // the exit horizon is max(365, 6 × 30) = 365 days: day 491.
    regular_buyer(&store, c);
    population(&store, 100);
    let mine = |seen: &Seen, kind: WarningKind| warned(seen, c, kind);

    // Default policy: high risk first, then — without new events, reached as
    // due at the horizon — the win-back list, once.
    let mut job = job(&store);
    job.refit(day(400)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    job.run(day(400), &mut sink).unwrap();
    assert_eq!(mine(&seen, WarningKind::HighRisk).len(), 1);
    assert!(mine(&seen, WarningKind::WinBack).is_empty());
    // Due at the horizon at the latest (a risk level may be crossed before).
    let state = job.projector().state_as_of(c, day(400)).unwrap();
    assert!(job.next_due(&state, day(400)) <= Some(day(491)));
    job.run(day(490), &mut sink).unwrap();
    assert!(
        mine(&seen, WarningKind::WinBack).is_empty(),
        "day 490: 364 days"
    );
    let report = job.run(day(491), &mut sink).unwrap();
    assert!(report.due >= 1);
    let win_back = mine(&seen, WarningKind::WinBack);
    assert_eq!(win_back.len(), 1, "{win_back:#?}");
    assert_eq!(win_back[0].as_of, day(491));
    assert_eq!(win_back[0].severity, clientele_churn::Severity::Low);
    job.run(day(600), &mut sink).unwrap();
    assert_eq!(
        mine(&seen, WarningKind::WinBack).len(),
        1,
        "once per episode"
    );
    assert!(
        mine(&seen, WarningKind::HighRisk)
            .iter()
            .all(|w| w.as_of < day(491)),
        "no high risk beyond the horizon"
    );
    let stored: Vec<Warning> = job
        .history(c)
        .unwrap()
        .into_iter()
        .filter(|w| w.kind == WarningKind::WinBack)
        .collect();
    assert_eq!(stored, win_back);
    assert_eq!(
        serde_json::to_value(&win_back[0]).unwrap()["kind"],
        "win_back"
    );

    // Off: the same customer first seen at day 600 is high risk.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = Store::open(dir2.path()).unwrap();
    regular_buyer(&store2, c);
    population(&store2, 100);
    let mut off = WarningJob::open(
        &store2,
        RiskPolicy::default(),
        WarningPolicy {
            win_back: None,
            ..WarningPolicy::default()
        },
        ModelContext::default(),
    )
    .unwrap();
    off.refit(day(600)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    off.run(day(600), &mut sink).unwrap();
    assert_eq!(mine(&seen, WarningKind::HighRisk).len(), 1);
    assert!(mine(&seen, WarningKind::WinBack).is_empty());
}

/// An insurer's policyholder (001 L5–6) is not lapsing while their cover
/// runs: no warning mid-term however long since the purchase; when the cover
/// ends unrenewed, a high-risk warning at once (the job is due the day after
/// its last day), and the win-back list 180 days later, as the lifecycle's
/// cover rule has it.
#[test]
fn a_policyholder_is_warned_when_the_cover_lapses_not_mid_term() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = CustomerId::new_random();
    let mut policy = Purchase::new("P-1", "4200.00".parse().unwrap(), Currency::CNY);
    policy.valid_until = Some(day(364).date_naive()); // a year: days 0–364
    store
        .append(c, ExpectedVersion::Any, vec![NewEvent::new(day(0), policy)])
        .unwrap();
    population(&store, 100);
    let mine = |seen: &Seen, kind: WarningKind| warned(seen, c, kind);

    let mut job = job(&store);
    job.refit(day(200)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    for d in [200, 300, 364] {
        job.run(day(d), &mut sink).unwrap();
    }
    assert!(
        seen.lock().unwrap().iter().all(|w| w.customer_id != c),
        "mid-term: {:#?}",
        mine(&seen, WarningKind::HighRisk)
    );
    let state = job.projector().state_as_of(c, day(364)).unwrap();
    assert_eq!(job.next_due(&state, day(364)), Some(day(365)));
    job.run(day(365), &mut sink).unwrap();
    let high = mine(&seen, WarningKind::HighRisk);
    assert_eq!(high.len(), 1, "{high:#?}");
    assert_eq!(high[0].as_of, day(365));
    assert!(
        high[0].reasons.iter().any(|r| r
            .detail
            .starts_with("cover to 2024-12-30 not renewed (0 days since it ended)")),
        "{:#?}",
        high[0].reasons
    );
    // Silent for 180 days after the cover: the win-back list.
    job.run(day(544), &mut sink).unwrap();
    assert!(mine(&seen, WarningKind::WinBack).is_empty(), "179 days");
    job.run(day(545), &mut sink).unwrap();
    let win_back = mine(&seen, WarningKind::WinBack);
    assert_eq!(win_back.len(), 1, "{win_back:#?}");
    assert_eq!(win_back[0].as_of, day(545));
}

/// A subscriber (the mobile operator's customer) buys a plan once and pays
/// a bill every month: while the bills are paid they are neither high risk
/// nor on the win-back list, however long since the purchase. When the bills
/// stop, the rhythm counts again 60 days after the last one (high risk), and
/// the win-back list follows a year after it, as the lifecycle's exit.
#[test]
fn a_paying_subscriber_is_not_warned_until_the_bills_stop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = CustomerId::new_random();
    let mut events = vec![NewEvent::new(
        day(0),
        Purchase::new("SIM-1", "100.00".parse().unwrap(), Currency::CNY),
    )];
    for month in 1..=20 {
        let bill = Payment {
            reference: format!("BILL-{month}"),
            amount: "58.00".parse().unwrap(),
            currency: Currency::CNY,
            due_date: Some(day(30 * month).date_naive()),
            late: false,
        };
        events.push(NewEvent::new(day(30 * month), bill));
    }
    store.append(c, ExpectedVersion::Any, events).unwrap();
    population(&store, 100);
    let mine = |seen: &Seen, kind: WarningKind| warned(seen, c, kind);

    let mut job = job(&store);
    job.refit(day(300)).unwrap().expect("a model");
    let (mut sink, seen) = collect();
    for d in [300, 450, 600] {
        job.run(day(d), &mut sink).unwrap();
    }
    assert!(
        seen.lock().unwrap().iter().all(|w| w.customer_id != c),
        "while paying: {:#?}",
        mine(&seen, WarningKind::HighRisk)
    );
    let state = job.projector().state_as_of(c, day(600)).unwrap();
    let score = job.risk.score(&state, day(600), &job.model);
    assert!(score.signals.paying && score.signals.covered());
    assert_eq!(score.signals.days_since_last_payment, Some(0.0));
    // The last bill is paid on day 600; 60 days later the rhythm is back.
    let lapsed = job.risk.score(&state, day(661), &job.model);
    assert!(!lapsed.signals.paying);
    assert!(lapsed.risk > 0.75, "{}", lapsed.risk);
    // The job is due then (to the hour of its search), and warns.
    let due = job
        .next_due(&state, day(600))
        .expect("due when the bills stop");
    assert!(
        due >= day(661) && due <= day(661) + Duration::hours(1),
        "{due}"
    );
    job.run(due, &mut sink).unwrap();
    assert_eq!(mine(&seen, WarningKind::HighRisk).len(), 1);
    // A year after the last payment (one purchase: the 365-day floor).
    let state = job.projector().state_as_of(c, day(700)).unwrap();
    assert!(job.next_due(&state, day(700)) <= Some(day(965)));
    job.run(day(964), &mut sink).unwrap();
    assert!(mine(&seen, WarningKind::WinBack).is_empty(), "364 days");
    job.run(day(965), &mut sink).unwrap();
    let win_back = mine(&seen, WarningKind::WinBack);
    assert_eq!(win_back.len(), 1, "{win_back:#?}");
    assert_eq!(win_back[0].as_of, day(965));
}

/// `fit` uses a model in this job only; `refit` stores the same model for
/// later runs. The population walk gives the model of per-customer reads.
#[test]
fn fit_uses_a_model_and_only_refit_stores_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    population(&store, 120);
    let mut scoring = job(&store);
    let fitted = scoring.fit(day(300)).unwrap().expect("a model");
    assert!(scoring.model.bg_nbd.is_some());
    assert!(job(&store).model.bg_nbd.is_none(), "fit stores nothing");
    // The same population read customer by customer, as of the same day.
    let states: Vec<_> = store
        .customers()
        .unwrap()
        .into_iter()
        .map(|c| scoring.projector().state_as_of(c, day(300)).unwrap())
        .collect();
    let direct = clientele_churn::backtest::fit_population(&states, day(300)).unwrap();
    assert_eq!(fitted, [direct.r(), direct.alpha(), direct.a(), direct.b()]);

    let mut warning = job(&store);
    assert_eq!(warning.refit(day(300)).unwrap(), Some(fitted));
    let stored = job(&store).model.bg_nbd.expect("refit stores the model");
    assert_eq!([stored.r(), stored.alpha(), stored.a(), stored.b()], fitted);
    // Fitting another moment leaves the stored model alone.
    scoring.fit(day(120)).unwrap().expect("a model");
    let still = job(&store).model.bg_nbd.expect("stored model");
    assert_eq!([still.r(), still.alpha(), still.a(), still.b()], fitted);
}

/// A policy out of range is refused when the job opens (and by a backtest),
/// naming the field, instead of warning on nonsense.
#[test]
fn an_invalid_policy_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let open = |risk: RiskPolicy, warnings: WarningPolicy| {
        WarningJob::open(&store, risk, warnings, ModelContext::default())
            .err()
            .map(|e| e.to_string())
    };
    let win_back = WarningPolicy {
        win_back: Some(clientele_churn::warning::WinBackRule {
            cap_days: 10.0,
            ..Default::default()
        }),
        ..WarningPolicy::default()
    };
    let message = open(RiskPolicy::default(), win_back).expect("refused");
    assert!(message.contains("win_back.cap_days"), "{message}");
    let nan = RiskPolicy {
        w_recency: f64::NAN,
        ..RiskPolicy::default()
    };
    let message = open(nan.clone(), WarningPolicy::default()).expect("refused");
    assert!(message.contains("w_recency"), "{message}");
    assert!(open(RiskPolicy::default(), WarningPolicy::default()).is_none());
    let projector =
        clientele_core::projection::Projector::open(&store, clientele_churn::ChurnProjection)
            .unwrap();
    let refused = clientele_churn::backtest(&projector, &nan, day(10), 91);
    assert!(matches!(
        refused,
        Err(clientele_churn::Error::InvalidPolicy {
            field: "w_recency",
            ..
        })
    ));
}

/// Fails its first delivery ("the mail server is down"), then takes every
/// warning; stops the schedule once a batch went through.
struct FlakySink {
    calls: usize,
    taken: std::sync::Arc<std::sync::Mutex<Vec<uuid::Uuid>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl clientele_churn::WarningSink for FlakySink {
    fn deliver(&mut self, warning: &Warning) -> Result<(), String> {
        self.calls += 1;
        if self.calls == 1 {
            return Err("the mail server is down".to_owned());
        }
        self.taken.lock().unwrap().push(warning.id);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if !self.taken.lock().unwrap().is_empty() {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }
        Ok(())
    }
}

/// A scheduled job outlives a failed run: the failure is reported, the next
/// tick delivers what the sink refused, and every stored warning is
/// delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_survives_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    population(&store, 300);
    let mut scheduled = job(&store);
    scheduled.refit(day(210)).unwrap();
    let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let sink = FlakySink {
        calls: 0,
        taken: taken.clone(),
        stop: Some(stop_tx),
    };
    let clock = std::sync::Arc::new(clientele_core::ManualClock::new(day(210)));
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        scheduled.schedule(
            std::time::Duration::from_millis(10),
            clock,
            Box::new(sink),
            async {
                let _ = stop_rx.await;
            },
        ),
    )
    .await
    .expect("the schedule stops once a batch is delivered")
    .unwrap();
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let (as_of, error) = &report.failed[0];
    assert_eq!(*as_of, day(210));
    assert!(
        error.to_string().contains("the mail server is down"),
        "{error}"
    );
    assert!(!report.runs.is_empty());
    assert_eq!(report.runs[0].raised, 0, "the failed run had raised them");

    // What the stop left in the outbox goes to another sink; each once.
    let after = job(&store);
    let (mut sink, seen) = collect();
    after.deliver(&mut sink).unwrap();
    let mut delivered = taken.lock().unwrap().clone();
    delivered.extend(seen.lock().unwrap().iter().map(|w| w.id));
    delivered.sort();
    let stored: Vec<uuid::Uuid> = after
        .warnings(day(0), day(1000))
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(stored.len() > 2, "{} warnings", stored.len());
    assert_eq!(delivered, stored);
}
