//! The rebuild workload shared by the lifecycle bench and the
//! `rebuild_once` example: 200k events over 20k customers, a realistic mix
//! without personal data (so no master key is needed), and the raw RocksDB
//! scan both measure it against, timed in turn by [`alternate`].

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::{
    CustomerId, Decimal, Durability, EventId, ExpectedVersion, ManualClock, NewEvent, Store,
    StoreOptions,
};

pub const EVENTS: u64 = 200_000;
pub const CUSTOMERS: u64 = 20_000;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap()
}

/// Event number `seed` of the workload.
pub fn event(seed: u64) -> NewEvent {
    // Customer `seed % CUSTOMERS`'s events come every 15,000 minutes (plus
    // up to 997), in business-time order.
    let minutes = (seed / CUSTOMERS) as i64 * 15_000 + (seed % 997) as i64;
    let when = t0() + chrono::Duration::minutes(minutes);
    let amount = Decimal::new((seed % 30_000) as i64 + 500, 2).unwrap();
    let cny = "CNY".parse().unwrap();
    let order = format!("o-{}", seed / CUSTOMERS);
    let payload: EventPayload = match seed % 20 {
        0..=8 => Purchase::new(order, amount, cny).into(),
        9..=13 => Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
        14 => Complaint::new(format!("k-{seed}"), ComplaintStep::Received).into(),
        15 => Payment {
            reference: order,
            amount,
            currency: cny,
            due_date: None,
            late: false,
        }
        .into(),
        16 => Refund {
            order_id: order,
            amount,
            currency: cny,
            reason: None,
        }
        .into(),
        17 => Referral {
            referred: Referred::Customer(CustomerId::from_external(
                "bench",
                &(seed + 1).to_string(),
            )),
            channel: None,
        }
        .into(),
        18 => Reactivation {
            campaign: None,
            channel: None,
        }
        .into(),
        _ => Contact::new(Channel::Web, Direction::Inbound, Purpose::Inquiry).into(),
    };
    NewEvent::new(when, payload).with_id(EventId::derived(&seed.to_be_bytes()))
}

/// The time the workload's store shows to appends (recorded_at, and the
/// validation's "not in the future" check): fixed and late enough for every
/// returning round a bench can append (each is 15,000 minutes after the
/// last), whatever the date the bench runs on.
pub fn store_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap()
}

pub fn build_store(dir: &std::path::Path) -> Store {
    let store = Store::open_with(
        dir,
        StoreOptions {
            durability: Durability::Buffered,
            clock: std::sync::Arc::new(ManualClock::new(store_now())),
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let customers: Vec<CustomerId> = (0..CUSTOMERS)
        .map(|i| CustomerId::from_external("bench", &i.to_string()))
        .collect();
    let mut batch = Vec::new();
    for seed in 0..EVENTS {
        let c = customers[(seed % CUSTOMERS) as usize];
        batch.push((c, ExpectedVersion::Any, vec![event(seed)]));
        if batch.len() == 2_000 {
            store
                .append_batch(std::mem::take(&mut batch))
                .expect("append");
        }
    }
    if !batch.is_empty() {
        store.append_batch(batch).expect("append");
    }
    store.sync().expect("sync");
    store
}

/// Round `round`'s event (a time after all of the workload's) for each of
/// the 2,000 customers from number `first`: returning customers.
pub fn returning_batch(
    round: u64,
    first: u64,
) -> Vec<(CustomerId, ExpectedVersion, Vec<NewEvent>)> {
    (first..first + 2_000)
        .map(|c| {
            let customer = CustomerId::from_external("bench", &c.to_string());
            (
                customer,
                ExpectedVersion::Any,
                vec![event(round * CUSTOMERS + c)],
            )
        })
        .collect()
}

/// Opens the store's database read-only with RocksDB's default options, for
/// the raw baseline.
pub fn open_raw(path: &std::path::Path) -> rocksdb::DB {
    let options = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&options, path).expect("list cf");
    rocksdb::DB::open_cf_for_read_only(&options, path, &cfs, false).expect("open ro")
}

/// The read options the store uses for its log scans (`Store::read_range`):
/// blocks bypass the block cache and are read ahead 256 KiB at a time.
pub fn log_read_options() -> rocksdb::ReadOptions {
    let mut options = rocksdb::ReadOptions::default();
    options.set_readahead_size(256 << 10);
    options.fill_cache(false);
    options
}

/// Iterates the `events` column family with `options`, touching each key and
/// value: the raw baseline. Returns the number of events. Never inlined, so
/// that callgrind can count it alone (`--toggle-collect='*raw_scan*'`).
#[inline(never)]
pub fn raw_scan_with(db: &rocksdb::DB, options: rocksdb::ReadOptions) -> u64 {
    let cf = db.cf_handle("events").expect("events cf");
    let mut it = db.raw_iterator_cf_opt(cf, options);
    it.seek_to_first();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        bytes += k.len() + v.len() + usize::from(v.get(v.len() / 2).copied().unwrap_or(0));
        n += 1;
        it.next();
    }
    it.status().expect("scan");
    std::hint::black_box(bytes);
    n
}

/// CPU time this thread has used, from `/proc/thread-self/stat` (Linux, in
/// 10 ms ticks; None elsewhere). On a shared machine it leaves out the time
/// other processes held the core.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Wall and CPU time of `runs` calls of `a` and of `b`, called in turn (so a
/// load that comes and goes weighs on both alike): the median wall time and
/// the mean CPU time of each. `b` is given what `setup_b` (untimed) returns.
pub fn alternate<T>(
    runs: u32,
    mut a: impl FnMut(),
    mut setup_b: impl FnMut() -> T,
    mut b: impl FnMut(T),
) -> [(Duration, Option<Duration>); 2] {
    let mut walls = [Vec::new(), Vec::new()];
    let mut cpus = [Some(Duration::ZERO), Some(Duration::ZERO)];
    let mut time = |i: usize, f: &mut dyn FnMut()| {
        let (start, cpu) = (Instant::now(), cpu_time());
        f();
        walls[i].push(start.elapsed());
        cpus[i] = cpus[i]
            .zip(cpu_time().zip(cpu))
            .map(|(sum, (after, before))| sum + after.saturating_sub(before));
    };
    for _ in 0..runs {
        time(0, &mut a);
        let mut input = Some(setup_b());
        time(1, &mut || {
            if let Some(input) = input.take() {
                b(input)
            }
        });
    }
    [0, 1].map(|i| {
        walls[i].sort();
        (walls[i][walls[i].len() / 2], cpus[i].map(|c| c / runs))
    })
}
