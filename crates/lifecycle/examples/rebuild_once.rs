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
//! ```
//!
//! Each measured run works on a copy: a rebuild writes its states into the
//! store, and the next run would start from different files. Add
//! `--cache-sim=yes --LL=4194304,16,64` to count misses of a 4 MiB last-level
//! cache (what a process can count on when neighbours share the L3).

#[path = "../benches/workload/mod.rs"]
mod workload;

use clientele_core::Store;
use clientele_lifecycle::{Lifecycle, LifecyclePolicy};
use workload::{build_store, EVENTS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: rebuild_once DIR [raw]")?);
    if !dir.exists() {
        let store = build_store(&dir);
        Lifecycle::open(&store, LifecyclePolicy::default())?.rebuild()?;
        // Flushed and compacted, as a store is after a restart.
        store.purge()?;
        println!("built the workload store in {}", dir.display());
        return Ok(());
    }
    let start = std::time::Instant::now();
    if args.next().as_deref() == Some("raw") {
        let n = raw_scan(&dir)?;
        println!("raw scan of {n} events: {:?}", start.elapsed());
        return Ok(());
    }
    let store = Store::open(&dir)?;
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
    let position = lifecycle.rebuild()?;
    if position != EVENTS {
        return Err(format!("rebuilt to position {position}, expected {EVENTS}").into());
    }
    println!("rebuild of {EVENTS} events: {:?}", start.elapsed());
    Ok(())
}

/// The raw baseline: iterates the `events` column family with the store's
/// log read options (no block cache fill, 256 KiB readahead).
#[inline(never)]
fn raw_scan(dir: &std::path::Path) -> Result<u64, rocksdb::Error> {
    let options = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&options, dir)?;
    let db = rocksdb::DB::open_cf_for_read_only(&options, dir, &cfs, false)?;
    let Some(cf) = db.cf_handle("events") else {
        return Ok(0);
    };
    let mut read = rocksdb::ReadOptions::default();
    read.set_readahead_size(256 << 10);
    read.fill_cache(false);
    let mut it = db.raw_iterator_cf_opt(cf, read);
    it.seek_to_first();
    let (mut n, mut bytes) = (0u64, 0usize);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        bytes += k.len() + v.len();
        n += 1;
        it.next();
    }
    it.status()?;
    std::hint::black_box(bytes);
    Ok(n)
}
