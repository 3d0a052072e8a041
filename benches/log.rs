//! Event-log benchmarks, each beside a raw-RocksDB baseline measured in the
//! same run on the same bytes:
//!
//! * `durable_append/{store,raw}/{1,4,16}`: one-event appends, fsync on every
//!   commit, from 1, 4 and 16 threads. Raw: each thread writes the same
//!   key/value pairs (record, stream index, id index, stream version, head) as
//!   one synced `WriteBatch`.
//! * `durable_batch/{store,raw}`: 100 events per synced commit.
//! * `durable_batch/bulk_{store,raw}_buffered_1000`: 1,000 events per commit,
//!   no fsync.
//! * `scan/{store,raw}`: the whole log; store decodes every event, raw only
//!   touches the bytes with a plain iterator.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clientele::core::event::*;
use clientele::core::{
    Currency, CustomerId, Durability, EventId, ExpectedVersion, NewEvent, Store, StoreOptions,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rocksdb::{Options, WriteBatch, WriteOptions, DB};

fn event(seed: u64) -> NewEvent {
    let when = chrono::DateTime::from_timestamp(1_700_000_000 + (seed % 1_000_000) as i64 * 60, 0)
        .unwrap_or_default();
    let payload: EventPayload = if seed % 2 == 0 {
        let mut p = Purchase::new(
            format!("order-{seed}"),
            clientele::core::Decimal::new(12_345 + seed as i64 % 1000, 2).unwrap(),
            Currency::CNY,
        );
        p.category = Some("shoes".into());
        p.into()
    } else {
        let mut c = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
        c.outcome = Some("delivered".into());
        c.into()
    };
    NewEvent::new(when, payload).with_id(EventId::derived(&seed.to_be_bytes()))
}

/// One put: (column family index, key, value).
type Put = (usize, Vec<u8>, Vec<u8>);

/// Every key/value the store wrote for its events, grouped by commit the way
/// the store groups them, taken from a store filled with `n` one-event appends.
struct RawCommits {
    cfs: Vec<String>,
    /// Per event: (cf index, key, value) for every put of that event's commit.
    commits: Vec<Vec<Put>>,
}

fn capture(n: u64) -> RawCommits {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(
            dir.path(),
            StoreOptions {
                durability: Durability::Buffered,
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..n {
            let c = CustomerId::from_external("bench", &(i % 1000).to_string());
            store
                .append(c, ExpectedVersion::Any, vec![event(i)])
                .unwrap();
        }
    }
    let cfs = DB::list_cf(&Options::default(), dir.path()).unwrap();
    let db = DB::open_cf(&Options::default(), dir.path(), &cfs).unwrap();
    let idx = |name: &str| cfs.iter().position(|c| c == name).unwrap();
    let get = |cf: &str, key: &[u8]| db.get_cf(db.cf_handle(cf).unwrap(), key).unwrap().unwrap();
    let head = db.get(b"clientele/head").unwrap().unwrap();
    let mut commits = Vec::new();
    for position in 1..=n {
        let record = get("events", &position.to_be_bytes());
        let (event_id, customer) = (record[5..21].to_vec(), record[21..37].to_vec());
        let mut stream_key = customer.clone();
        stream_key.extend_from_slice(&record[37..45]);
        let mut meta_key = vec![1u8];
        meta_key.extend_from_slice(&customer);
        commits.push(vec![
            (
                idx("events"),
                position.to_be_bytes().to_vec(),
                record.clone(),
            ),
            (
                idx("streams"),
                stream_key.clone(),
                get("streams", &stream_key),
            ),
            (
                idx("event_ids"),
                event_id.clone(),
                get("event_ids", &event_id),
            ),
            (idx("stream_meta"), meta_key, record[37..45].to_vec()),
            (idx("default"), b"clientele/head".to_vec(), head.clone()),
        ]);
    }
    RawCommits { cfs, commits }
}

fn raw_db(dir: &std::path::Path, cfs: &[String]) -> DB {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.increase_parallelism(2);
    DB::open_cf(&o, dir, cfs).unwrap()
}

fn raw_write(db: &DB, cfs: &[String], puts: &[&Put], sync: bool) {
    let mut batch = WriteBatch::default();
    for (cf, k, v) in puts {
        batch.put_cf(db.cf_handle(&cfs[*cf]).unwrap(), k, v);
    }
    let mut o = WriteOptions::default();
    o.set_sync(sync);
    db.write_opt(batch, &o).unwrap();
}

/// Runs `per_thread` operations on each of `threads` threads; returns wall time.
fn parallel(
    threads: usize,
    per_thread: u64,
    op: impl Fn(usize, u64) + Send + Sync + 'static,
) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (op, barrier) = (op.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    op(t, i);
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn durable_append(c: &mut Criterion) {
    let raw = Arc::new(capture(4096));
    let mut group = c.benchmark_group("durable_append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    for threads in [1usize, 4, 16] {
        let per_thread = (64 / threads as u64).max(8);
        group.throughput(Throughput::Elements(per_thread * threads as u64));
        group.bench_function(BenchmarkId::new("store", threads), |b| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let mut round = 0u64;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let (store, r) = (store.clone(), round);
                    total += parallel(threads, per_thread, move |t, i| {
                        let seed = (r << 32) | ((t as u64) << 20) | i;
                        let customer =
                            CustomerId::from_external("bench", &(seed % 997).to_string());
                        store
                            .append(customer, ExpectedVersion::Any, vec![event(seed)])
                            .unwrap();
                    });
                }
                total
            });
        });
        group.bench_function(BenchmarkId::new("raw", threads), |b| {
            let dir = tempfile::tempdir().unwrap();
            let db = Arc::new(raw_db(dir.path(), &raw.cfs));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (db, raw) = (db.clone(), raw.clone());
                    total += parallel(threads, per_thread, move |t, i| {
                        let commit = &raw.commits
                            [((t as u64 * per_thread + i) as usize) % raw.commits.len()];
                        raw_write(&db, &raw.cfs, &commit.iter().collect::<Vec<_>>(), true);
                    });
                }
                total
            });
        });
    }
    group.finish();
}

fn batched(c: &mut Criterion) {
    let raw = capture(4000);
    let mut group = c.benchmark_group("durable_batch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(100));
    group.bench_function("store", |b| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut seed = 0u64;
        b.iter(|| {
            let customer = CustomerId::from_external("bench", &(seed % 97).to_string());
            let events: Vec<NewEvent> = (0..100)
                .map(|_| {
                    seed += 1;
                    event(seed)
                })
                .collect();
            store
                .append(customer, ExpectedVersion::Any, events)
                .unwrap();
        });
    });
    group.bench_function("raw", |b| {
        let dir = tempfile::tempdir().unwrap();
        let db = raw_db(dir.path(), &raw.cfs);
        let mut at = 0usize;
        b.iter(|| {
            let puts: Vec<_> = raw.commits[at % 40 * 100..at % 40 * 100 + 100]
                .iter()
                .flatten()
                .collect();
            raw_write(&db, &raw.cfs, &puts, true);
            at += 1;
        });
    });
    group.bench_function("bulk_store_buffered_1000", |b| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(
            dir.path(),
            StoreOptions {
                durability: Durability::Buffered,
                ..Default::default()
            },
        )
        .unwrap();
        let mut seed = 1u64 << 40;
        b.iter(|| {
            let streams: Vec<_> = (0..1000)
                .map(|_| {
                    seed += 1;
                    (
                        CustomerId::from_external("bulk", &(seed % 10_007).to_string()),
                        ExpectedVersion::Any,
                        vec![event(seed)],
                    )
                })
                .collect();
            store.append_batch(streams).unwrap();
        });
    });
    group.bench_function("bulk_raw_buffered_1000", |b| {
        let dir = tempfile::tempdir().unwrap();
        let db = raw_db(dir.path(), &raw.cfs);
        let mut at = 0usize;
        b.iter(|| {
            let start = at % 3 * 1000;
            let puts: Vec<_> = raw.commits[start..start + 1000].iter().flatten().collect();
            raw_write(&db, &raw.cfs, &puts, false);
            at += 1;
        });
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let n = 200_000u64;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            durability: Durability::Buffered,
            ..Default::default()
        },
    )
    .unwrap();
    for chunk in 0..n / 1000 {
        let streams: Vec<_> = (0..1000)
            .map(|i| {
                let seed = chunk * 1000 + i;
                (
                    CustomerId::from_external("scan", &(seed % 20_000).to_string()),
                    ExpectedVersion::Any,
                    vec![event(seed)],
                )
            })
            .collect();
        store.append_batch(streams).unwrap();
    }
    drop(store);
    let mut group = c.benchmark_group("scan");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(n));
    {
        let store = Store::open_read_only(dir.path()).unwrap();
        group.bench_function("store_decode", |b| {
            b.iter(|| {
                let mut total = 0i64;
                for e in store.read_all(1).unwrap() {
                    let e = e.unwrap();
                    if let EventPayload::Purchase(p) = &e.payload {
                        total += p.amount.units();
                    }
                }
                black_box(total)
            });
        });
    }
    {
        let cfs = DB::list_cf(&Options::default(), dir.path()).unwrap();
        let db = DB::open_cf_for_read_only(&Options::default(), dir.path(), &cfs, false).unwrap();
        group.bench_function("raw_iterate", |b| {
            b.iter(|| {
                let mut o = rocksdb::ReadOptions::default();
                o.set_readahead_size(2 << 20);
                o.fill_cache(false);
                let mut it = db.raw_iterator_cf_opt(db.cf_handle("events").unwrap(), o);
                it.seek_to_first();
                let mut bytes = 0usize;
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    bytes += k.len() + v.len();
                    it.next();
                }
                black_box(bytes)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, durable_append, batched, scan);
criterion_main!(benches);
