//! Lifecycle benchmarks.
//!
//! * `rebuild/lifecycle`: a full rebuild (reset, fold, commit states and index)
//!   of 200k events over 20k customers, against `rebuild/raw_scan`: a raw
//!   RocksDB scan of the same store's `events` column family in the same run,
//!   plus the two halves of the rebuild: `rebuild/decode` (the core's
//!   `read_all`: CRC, parse, postcard, upcast) and `rebuild/fold` (the
//!   projection alone over decoded events, in memory), and `rebuild/count`:
//!   the same rebuild with a projection that only counts events (what the
//!   core runtime costs before any lifecycle work). After the group, the
//!   raw scan and the lifecycle rebuild are run 9 times in turn and printed
//!   as events/s with their ratio, by median wall time and by mean CPU time
//!   of the bench thread (Linux), which leaves out the time other processes
//!   held the core on a shared machine.
//!
//!   `rebuild/raw_write_states` writes the 20k stored lifecycle entries (the
//!   same keys and values) in one batch into a raw RocksDB: with the raw scan,
//!   the floor of any rebuild that reads this log and stores these states.
//!   Each timed rebuild is run by a freshly opened projector on flushed
//!   column families (as when a store is opened with a changed projection),
//!   and each raw write goes to a flushed database; opening and flushing are
//!   not timed.
//! * `view/as_of_200_events`: one customer's as-of view over a 200-event
//!   stream; p50/p99 over many random times are printed as well.
//! * `catch_up/new_customers_2000`: an incremental catch-up of the first
//!   events of 2,000 new customers into a store whose 20k states are on disk
//!   (each new customer's state is looked up and missed first).
//! * `catch_up/returning_customers_2000`: a projector just opened (nothing
//!   cached, as after a restart) folds one new event for each of 2,000
//!   customers whose states are on disk (each state is read first).
//!
//! Run: `cargo bench -p clientele-lifecycle --bench lifecycle`. The
//! workload is in `workload/mod.rs` (a directory, so that cargo does not
//! take it for a bench of its own); the `rebuild_once` example runs one rebuild
//! of it under callgrind, for instruction and cache-miss counts that do not
//! depend on the machine's load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clientele_core::projection::{Projection, Projector};
use clientele_core::{
    CustomerId, Durability, EventId, ExpectedVersion, NewEvent, RecordedEvent, Store, StoreOptions,
};
use clientele_lifecycle::{Lifecycle, LifecyclePolicy, LifecycleProjection, LifecycleState};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod workload;

use workload::{
    alternate, build_store, event, log_read_options, open_raw, raw_scan_with, returning_batch, t0,
    CUSTOMERS, EVENTS,
};

/// Flushes every column family to SST files, as a store looks after a restart
/// (otherwise a freshly built store is read from its memtables).
fn flush(path: &std::path::Path) {
    let options = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&options, path).expect("list cf");
    let db = rocksdb::DB::open_cf(&options, path, &cfs).expect("open");
    for name in &cfs {
        let cf = db.cf_handle(name).expect("cf");
        db.flush_cf(cf).expect("flush");
    }
}

/// The raw scan with RocksDB's default read options: blocks come from (and
/// fill) the block cache, so repeated scans of a log that fits skip reading
/// and decompressing blocks.
fn raw_scan(db: &rocksdb::DB) -> u64 {
    raw_scan_with(db, rocksdb::ReadOptions::default())
}

/// The raw scan with the read options the store uses for its log scans
/// (`Store::read_range`): blocks bypass the block cache (a full scan would
/// evict the hot blocks of live reads) and are read ahead 256 KiB at a time.
fn raw_scan_uncached(db: &rocksdb::DB) -> u64 {
    raw_scan_with(db, log_read_options())
}

/// Counts each customer's events: the runtime's own cost in a rebuild.
struct Count;

impl Projection for Count {
    type State = u64;

    fn name(&self) -> &str {
        "bench_count"
    }

    fn version(&self) -> u64 {
        1
    }

    fn apply(&self, state: &mut u64, _: &RecordedEvent) {
        *state += 1;
    }
}

/// Total time of `iters` rebuilds, each by a projector opened after the
/// store's column families are flushed to SST files (both untimed): a rebuild
/// then starts as it does when a store is opened with a changed projection,
/// with the previous states on disk and none in memory, rather than with the
/// memtable and the cache that the previous runs of the same bench filled.
fn timed_rebuilds<T>(
    store: &Store,
    iters: u64,
    mut open: impl FnMut() -> T,
    mut rebuild: impl FnMut(&mut T) -> u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        store.purge().expect("flush");
        let mut projector = open();
        let start = Instant::now();
        assert_eq!(black_box(rebuild(&mut projector)), EVENTS);
        total += start.elapsed();
    }
    total
}

/// Writes `entries` in one batch, as a projection commit does (no sync, in
/// key order): the least any rebuild that stores these states in RocksDB
/// pays for it.
fn raw_write(db: &rocksdb::DB, entries: &[(Vec<u8>, Vec<u8>)]) {
    let size = entries.iter().map(|(k, v)| k.len() + v.len() + 16).sum();
    let mut batch = rocksdb::WriteBatch::with_capacity_bytes(size);
    for (k, v) in entries {
        batch.put(k, v);
    }
    let mut options = rocksdb::WriteOptions::default();
    options.set_sync(false);
    db.write_opt(batch, &options).expect("write");
}

/// Whether criterion's name filter (the first free argument, if any) may
/// select one of `ids`: a group whose benchmarks it leaves out skips its
/// setup and its printed comparisons too (building the rebuild's store alone
/// takes a while). A filter with regex syntax is assumed to match.
fn selected(ids: &[&str]) -> bool {
    // Options of criterion's command line that take a value.
    const WITH_VALUE: &[&str] = &[
        "--color",
        "-c",
        "--save-baseline",
        "-s",
        "--baseline",
        "-b",
        "--baseline-lenient",
        "--load-baseline",
        "--format",
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filter = Some(arg);
            break;
        }
    }
    filter.is_none_or(|f| {
        f.contains(|c: char| ".^$*+?()[]{}|\\".contains(c)) || ids.iter().any(|id| id.contains(&f))
    })
}

fn rebuild(c: &mut Criterion) {
    let ids = [
        "rebuild/raw_scan",
        "rebuild/raw_scan_uncached",
        "rebuild/decode",
        "rebuild/fold",
        "rebuild/raw_write_states",
        "rebuild/count",
        "rebuild/lifecycle",
    ];
    if !selected(&ids) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    drop(build_store(dir.path()));
    flush(dir.path());
    let raw = open_raw(dir.path());
    let store = Store::open(dir.path()).expect("reopen");
    {
        let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
        assert_eq!(lifecycle.rebuild().expect("rebuild"), EVENTS);
    }
    assert_eq!(raw_scan(&raw), EVENTS);
    let decoded: Vec<RecordedEvent> = store
        .read_all(1)
        .expect("read")
        .map(|e| e.expect("event"))
        .collect();
    let projection = LifecycleProjection::new(LifecyclePolicy::default()).expect("projection");

    {
        let mut states: std::collections::HashMap<CustomerId, LifecycleState> =
            std::collections::HashMap::with_capacity(CUSTOMERS as usize);
        for e in &decoded {
            projection.apply(states.entry(e.customer_id).or_default(), e);
        }
        // As the runtime stores them: the projection's own encoding.
        let stored: usize = states
            .values()
            .map(|s| {
                let mut bytes = Vec::new();
                projection
                    .encode_state(s, &mut bytes)
                    .map_or(0, |()| bytes.len())
            })
            .sum();
        let changes: usize = states.values().map(|s| s.changes().len()).sum();
        println!(
            "lifecycle state: {} bytes inline, {:.1} bytes stored and {:.2} stage changes per customer on average",
            std::mem::size_of::<LifecycleState>(),
            stored as f64 / states.len() as f64,
            changes as f64 / states.len() as f64,
        );
    }
    // The stored lifecycle entries (key and value bytes), for the raw write
    // floor below.
    store.purge().expect("flush");
    let entries: Vec<(Vec<u8>, Vec<u8>)> = {
        let db = open_raw(dir.path());
        let cf = db.cf_handle("projections").expect("projections cf");
        let prefix = b"lifecycle\xff\x00";
        db.prefix_iterator_cf(cf, prefix)
            .map(|kv| kv.expect("entry"))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    };
    assert_eq!(entries.len(), CUSTOMERS as usize);
    let sink_dir = tempfile::tempdir().expect("tempdir");
    let sink = rocksdb::DB::open_default(sink_dir.path()).expect("sink");

    let mut group = c.benchmark_group("rebuild");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("raw_scan", |b| b.iter(|| raw_scan(&raw)));
    group.bench_function("raw_scan_uncached", |b| b.iter(|| raw_scan_uncached(&raw)));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for e in store.read_all(1).expect("read") {
                n += black_box(e.expect("event")).version;
            }
            n
        })
    });
    group.bench_function("fold", |b| {
        b.iter(|| {
            // Per customer, in business-time order as the runtime does.
            let mut states: std::collections::HashMap<CustomerId, LifecycleState> =
                std::collections::HashMap::with_capacity(CUSTOMERS as usize);
            for e in &decoded {
                projection.apply(states.entry(e.customer_id).or_default(), e);
            }
            states.len()
        })
    });
    group.bench_function("raw_write_states", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                sink.flush().expect("flush");
                let start = Instant::now();
                raw_write(&sink, &entries);
                total += start.elapsed();
            }
            total
        })
    });
    let open_count = || Projector::open(&store, Count).expect("count");
    let open_lifecycle = || Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
    group.bench_function("count", |b| {
        b.iter_custom(|iters| {
            timed_rebuilds(&store, iters, open_count, |p| p.rebuild().expect("rebuild"))
        })
    });
    group.bench_function("lifecycle", |b| {
        b.iter_custom(|iters| {
            timed_rebuilds(&store, iters, open_lifecycle, |l| {
                l.rebuild().expect("rebuild")
            })
        })
    });
    group.finish();

    let [(raw_wall, raw_cpu), (rebuild_wall, rebuild_cpu)] = alternate(
        9,
        || {
            black_box(raw_scan(&raw));
        },
        || {
            store.purge().expect("flush");
            open_lifecycle()
        },
        |mut lifecycle| {
            black_box(lifecycle.rebuild().expect("rebuild"));
        },
    );
    let line = |what: &str, raw: Duration, rebuild: Duration| {
        let per_sec = |d: Duration| EVENTS as f64 / d.as_secs_f64() / 1e6;
        println!(
            "rebuild/lifecycle vs rebuild/raw_scan, 9 alternated runs, {what}: \
             {:.2} M events/s vs {:.2} M events/s = {:.3}x",
            per_sec(rebuild),
            per_sec(raw),
            raw.as_secs_f64() / rebuild.as_secs_f64()
        );
    };
    line("median wall time", raw_wall, rebuild_wall);
    if let (Some(raw), Some(rebuild)) = (raw_cpu, rebuild_cpu) {
        line("mean CPU time of the bench thread", raw, rebuild);
    }
}

fn view(c: &mut Criterion) {
    if !selected(&["view/as_of_200_events", "view/explain_200_events"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            durability: Durability::Buffered,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let customer = CustomerId::from_external("bench", "one");
    let events: Vec<NewEvent> = (0..200u64)
        .map(|i| {
            let mut e = event(i * CUSTOMERS);
            e.occurred_at = t0() + chrono::Duration::days(i as i64 * 5);
            e
        })
        .collect();
    for chunk in events.chunks(10) {
        store
            .append(customer, ExpectedVersion::Any, chunk.to_vec())
            .expect("append");
    }
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
    lifecycle.catch_up().expect("catch up");
    let span_days = 200 * 5 + 400;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_time = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        t0() + chrono::Duration::minutes((rng % (span_days * 1_440)) as i64)
    };

    // Latency distribution over random as-of times.
    let mut samples: Vec<Duration> = (0..5_000)
        .map(|_| {
            let t = next_time();
            let start = Instant::now();
            black_box(lifecycle.view(customer, t).expect("view"));
            start.elapsed()
        })
        .collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "view/as_of_200_events latency over {} random as-of times: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );

    let mut group = c.benchmark_group("view");
    group.bench_function("as_of_200_events", |b| {
        b.iter(|| lifecycle.view(customer, next_time()).expect("view"))
    });
    group.bench_function("explain_200_events", |b| {
        b.iter(|| lifecycle.explain(customer, next_time()).expect("explain"))
    });
    group.finish();
}

/// Catch-up of the first events of 2,000 new customers into a store whose
/// 20k states are on disk: each new customer's state is looked up (and
/// missed, in the memtable and the SST files) before its first event is
/// folded.
fn new_customers(c: &mut Criterion) {
    if !selected(&[
        "catch_up/new_customers_2000",
        "catch_up/returning_customers_2000",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build_store(dir.path());
    {
        let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
        lifecycle.catch_up().expect("catch up");
    }
    // Flushes every column family and compacts the projections to the
    // bottom level, with the store's own table options.
    store.purge().expect("flush");
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
    lifecycle.catch_up().expect("catch up");
    let mut next = 0u64;
    let mut group = c.benchmark_group("catch_up");
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("new_customers_2000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch: Vec<_> = (0..2_000)
                    .map(|i| {
                        next += 1;
                        let customer = CustomerId::from_external("new", &next.to_string());
                        let event = event((i % 10) * CUSTOMERS + i % 20)
                            .with_id(EventId::derived(&(next | 1 << 40).to_be_bytes()));
                        (customer, ExpectedVersion::Any, vec![event])
                    })
                    .collect();
                store.append_batch(batch).expect("append");
                let start = Instant::now();
                black_box(lifecycle.catch_up().expect("catch up"));
                total += start.elapsed();
            }
            total
        })
    });
    // A projector just opened (after a restart: nothing cached) folds one
    // new event for each of 2,000 customers whose states are on disk.
    let mut round = 10u64;
    group.bench_function("returning_customers_2000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The customers of one tenth of the workload, after all their events.
                let first = (round % 10) * 2_000;
                let batch = returning_batch(round, first);
                round += 1;
                store.append_batch(batch).expect("append");
                let mut fresh =
                    Lifecycle::open(&store, LifecyclePolicy::default()).expect("lifecycle");
                let start = Instant::now();
                black_box(fresh.catch_up().expect("catch up"));
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, rebuild, view, new_customers);
criterion_main!(benches);
