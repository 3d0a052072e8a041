//! One lifecycle rebuild of the bench's workload (200k events over 20k
//! customers), for counts that do not depend on how busy the machine is:
//! instructions and simulated cache misses under callgrind. Wall times on a
//! shared VM vary by ±20 % between runs; these counts do not.
//!
//! ```text
//! cargo build --release -p clientele-lifecycle --example rebuild_once
//! E=target/release/examples/rebuild_once
//! $E /tmp/workload                      # builds the store once (natively)
//! cp -r /tmp/workload /tmp/run && valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*Lifecycle*rebuild*' $E /tmp/run
//! cp -r /tmp/workload /tmp/raw && valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*raw_scan*' $E /tmp/raw raw
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! cp -r /tmp/workload /tmp/ab && $E /tmp/ab ab 15   # raw scan and rebuild in turn
//! ```
//!
//! `returning` appends one event for each of 2,000 customers and times the
//! catch-up of a projector opened afresh (the states are read from disk).
//!
//! `ab N` times N raw scans and N rebuilds in turn in one process and prints
//! the bench's comparison line: to compare two builds, run their binaries
//! in turn and compare the ratios, each measured against the raw scan of
//! the same moment.
//!
//! Each measured run works on a copy: a rebuild writes its states into the
//! store, and the next run would start from different files. Add
//! `--cache-sim=yes --LL=4194304,16,64` to count misses of a 4 MiB last-level
//! cache (what a process can count on when neighbours share the L3).

#[path = "../benches/workload/mod.rs"]
mod workload;

use clientele_core::Store;
use clientele_lifecycle::{Lifecycle, LifecyclePolicy};
use workload::{
    alternate, build_store, log_read_options, open_raw, raw_scan_with, returning_batch, CUSTOMERS,
    EVENTS,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: rebuild_once DIR [raw | ab RUNS | returning]")?,
    );
    if !dir.exists() {
        let store = build_store(&dir);
        Lifecycle::open(&store, LifecyclePolicy::default())?.rebuild()?;
        // Flushed and compacted, as a store is after a restart.
        store.purge()?;
        println!("built the workload store in {}", dir.display());
        return Ok(());
    }
    let mode = args.next();
    if mode.as_deref() == Some("ab") {
        let runs: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(15);
        let raw = open_raw(&dir);
        let store = Store::open(&dir)?;
        let [(raw_wall, raw_cpu), (wall, cpu)] = alternate(
            runs,
            || {
                std::hint::black_box(raw_scan_with(&raw, log_read_options()));
            },
            || {
                store.purge().expect("flush");
                Lifecycle::open(&store, LifecyclePolicy::default()).expect("open")
            },
            |mut lifecycle| {
                std::hint::black_box(lifecycle.rebuild().expect("rebuild"));
            },
        );
        let per_sec = |d: std::time::Duration| EVENTS as f64 / d.as_secs_f64() / 1e6;
        print!(
            "median wall {:.2} vs {:.2} M events/s = {:.3}x",
            per_sec(wall),
            per_sec(raw_wall),
            raw_wall.as_secs_f64() / wall.as_secs_f64()
        );
        if let (Some(raw), Some(rebuild)) = (raw_cpu, cpu) {
            print!(
                "; mean CPU {:.2} vs {:.2} M events/s = {:.3}x",
                per_sec(rebuild),
                per_sec(raw),
                raw.as_secs_f64() / rebuild.as_secs_f64()
            );
        }
        println!();
        return Ok(());
    }
    if mode.as_deref() == Some("returning") {
        // One new event for each of 2,000 customers whose states are on
        // disk, folded by a projector just opened (nothing cached).
        let store = Store::open(&dir)?;
        let round = store.head() / CUSTOMERS + 1;
        let batch = returning_batch(round, 0);
        store.append_batch(batch)?;
        let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
        let start = std::time::Instant::now();
        catch_up_returning(&mut lifecycle)?;
        println!(
            "catch-up of 2,000 returning customers: {:?}",
            start.elapsed()
        );
        return Ok(());
    }
    if mode.as_deref() == Some("raw") {
        let db = open_raw(&dir);
        let start = std::time::Instant::now();
        let n = raw_scan_with(&db, log_read_options());
        println!("raw scan of {n} events: {:?}", start.elapsed());
        return Ok(());
    }
    let start = std::time::Instant::now();
    let store = Store::open(&dir)?;
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
    let opened = start.elapsed();
    let position = lifecycle.rebuild()?;
    if position != EVENTS {
        return Err(format!("rebuilt to position {position}, expected {EVENTS}").into());
    }
    println!(
        "rebuild of {EVENTS} events: {:?} (opening the store and projector took {opened:?} more)",
        start.elapsed() - opened
    );
    Ok(())
}

/// The catch-up of `returning` mode, apart so that callgrind can count it
/// alone (`--toggle-collect='*catch_up_returning*'`).
#[inline(never)]
fn catch_up_returning(lifecycle: &mut Lifecycle) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(lifecycle.catch_up()?)
}
