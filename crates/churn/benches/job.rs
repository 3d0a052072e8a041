//! The warning job at scale: 1,000,000 customers, a run where 1 % are due.
//!
//! Setup (not timed): 1 M customers with BG/NBD-like purchase histories
//! over 400 days (about 3 M events), the churn
//! projection caught up and a first job run that fills the due index. Each
//! sample then runs the job on a fresh checkpoint copy of that store at an
//! as-of chosen so that 10,000 customers (1 %) are due, and only `run` is
//! timed. Peak memory (VmHWM) is printed. Customers = `CHURN_BENCH_CUSTOMERS`
//! (default 1,000,000).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clientele_churn::{CallbackSink, ModelContext, RiskPolicy, WarningJob, WarningPolicy};
use clientele_core::event::Purchase;
use clientele_core::{Currency, CustomerId, Durability, EventId, ExpectedVersion, NewEvent, Store};
use criterion::{criterion_group, criterion_main, Criterion};

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::days(d)
}

/// A small deterministic generator (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn build(dir: &std::path::Path, customers: u64) -> (Store, DateTime<Utc>) {
    let store = Store::open(dir).unwrap();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(2000);
    let mut rng = SplitMix(42);
    for i in 0..customers {
        // A BG/NBD-like customer: a personal purchase rate, a chance to drop
        // out after each purchase, first purchase somewhere in the first year.
        let rate_per_day = (-rng.unit().max(1e-9).ln()) / (10.0 + 80.0 * rng.unit());
        let dropout = 0.35 * rng.unit();
        let mut d = (rng.unit() * 365.0) as i64;
        let mut days = vec![d];
        loop {
            if rng.unit() < dropout {
                break;
            }
            d += 1 + (-rng.unit().max(1e-9).ln() / rate_per_day) as i64;
            if d >= 400 {
                break;
            }
            days.push(d);
        }
        let events: Vec<NewEvent> = days
            .iter()
            .map(|d| {
                let p = Purchase::new(format!("o{i}-{d}"), "35.00".parse().unwrap(), Currency::CNY);
                NewEvent::new(day(*d), p).with_id(EventId::derived(format!("{i}/{d}").as_bytes()))
            })
            .collect();
        batch.push((
            CustomerId::from_external("bench", &i.to_string()),
            ExpectedVersion::Any,
            events,
        ));
        if batch.len() == 2000 {
            store
                .append_batch_with(std::mem::take(&mut batch), Durability::Buffered)
                .unwrap();
        }
    }
    if !batch.is_empty() {
        store
            .append_batch_with(batch, Durability::Buffered)
            .unwrap();
    }
    store.sync().unwrap();
    eprintln!(
        "appended {} events in {:?}",
        store.head(),
        started.elapsed()
    );
    let started = Instant::now();
    let mut job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        ModelContext::default(),
    )
    .unwrap();
    let model = job.refit(day(400)).unwrap();
    eprintln!(
        "population model {model:?} fitted in {:?}",
        started.elapsed()
    );
    let mut sink = CallbackSink(|_: &clientele_churn::Warning| Ok(()));
    let started = Instant::now();
    let first = job.run(day(400), &mut sink).unwrap();
    eprintln!(
        "first run over everyone: {first:?} in {:?}",
        started.elapsed()
    );
    // The as-of at which 1 % of customers are due.
    let space = store.keyspace("churn-job").unwrap();
    let due = space
        .range(b"due/", Some(b"due0"), (customers / 100) as usize)
        .unwrap();
    let (k, _) = due.last().expect("due entries");
    let t = u64::from_be_bytes(k[4..12].try_into().unwrap()) ^ (1 << 63);
    drop(job);
    (store, DateTime::from_timestamp_micros(t as i64).unwrap())
}

fn job_run(c: &mut Criterion) {
    let customers: u64 = std::env::var("CHURN_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = tempfile::tempdir().unwrap();
    let (base_store, as_of) = build(&base.path().join("db"), customers);
    eprintln!("peak RSS after setup: {:.0} MiB", peak_rss_mib());
    let mut group = c.benchmark_group("warning_job");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(1));
    let mut copy = 0;
    group.bench_function(format!("run_{customers}_customers_1pct_due"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy += 1;
                let target = base.path().join(format!("copy-{copy}"));
                base_store.backup(&target).unwrap();
                let store = Store::open(&target).unwrap();
                let mut job = WarningJob::open(
                    &store,
                    RiskPolicy::default(),
                    WarningPolicy::default(),
                    ModelContext::default(),
                )
                .unwrap();
                let mut sink = CallbackSink(|_: &clientele_churn::Warning| Ok(()));
                let started = Instant::now();
                let report = job.run(as_of, &mut sink).unwrap();
                total += started.elapsed();
                assert_eq!(report.with_new_events, 0);
                assert!(
                    report.visited >= (customers / 100) as usize
                        && report.visited <= (customers / 50) as usize,
                    "{report:?}"
                );
                drop(job);
                drop(store);
                let _ = std::fs::remove_dir_all(&target);
            }
            total
        });
    });
    group.finish();
    eprintln!("peak RSS: {:.0} MiB", peak_rss_mib());
}

criterion_group!(benches, job_run);
criterion_main!(benches);
