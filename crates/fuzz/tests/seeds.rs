//! Writes the binary seeds (`seeds/record/`, `seeds/stored_state/`) from the
//! JSON Lines seeds, so that the fuzzer starts from real records and states:
//!
//! ```text
//! cargo test -p clientele-fuzz --test seeds -- --ignored
//! ```
//!
//! The events of every `seeds/import_jsonl/*.jsonl` are appended to a new
//! store (personal fields sealed under a test key). Each record's stored
//! bytes, less its CRC and chain hash (the `record` target adds a valid CRC),
//! become a record seed: the first two of each kind, and every sealed one.
//! Each customer's state in every projection, folded from their stream and
//! prefixed with a view time 30 days after their last event, becomes a state
//! seed.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use clientele_cli::import::jsonl::JsonlSource;
use clientele_cli::import::record::RecordContext;
use clientele_cli::import::{EventSource, ReadError};
use clientele_core::privacy::MasterKeyRing;
use clientele_core::projection::{fold, Projection};
use clientele_core::{ExpectedVersion, RecordedEvent, Store, StoreOptions};

/// Length of the CRC and chain hash that end a stored record.
const TRAILER: usize = 4 + 32;

fn write_state<P: Projection>(dir: &Path, projection: &P, n: usize, events: &[RecordedEvent]) {
    let state = fold(projection, events);
    let last = events.iter().map(|e| e.occurred_at).max().expect("events");
    let at = last.timestamp() + 30 * 86_400;
    let mut bytes = at.to_be_bytes().to_vec();
    projection.encode_state(&state, &mut bytes).expect("encode");
    let name = projection
        .name()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    std::fs::write(dir.join(format!("{name}-{n}.bin")), bytes).expect("write seed");
}

#[test]
#[ignore = "writes the committed seeds; run by hand after a format change"]
fn regenerate_binary_seeds() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let db = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        master_keys: Some(Arc::new(MasterKeyRing::new(1, [7; 32]))),
        ..StoreOptions::default()
    };
    {
        let store = Store::open_with(db.path(), options.clone()).expect("store");
        let mut files: Vec<_> = std::fs::read_dir(seeds.join("import_jsonl"))
            .expect("jsonl seeds")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read(&file).expect("read");
            let ctx = RecordContext::new("seed");
            let mut source = JsonlSource::new(Cursor::new(text), ctx);
            while let Some(next) = source.next_event() {
                match next {
                    Ok(parsed) => {
                        store
                            .append(parsed.customer, ExpectedVersion::Any, vec![parsed.event])
                            .expect("append");
                    }
                    Err(ReadError::Line(e)) => panic!("{}: {e}", file.display()),
                    Err(ReadError::Io(e)) => panic!("{}: {e}", file.display()),
                }
            }
        }

        let dir = seeds.join("stored_state");
        for old in std::fs::read_dir(&dir).expect("state seeds") {
            std::fs::remove_file(old.expect("entry").path()).expect("remove");
        }
        let lifecycle =
            clientele_lifecycle::LifecycleProjection::new(Default::default()).expect("lifecycle");
        let loyalty =
            clientele_loyalty::LoyaltyProjection::new(Default::default()).expect("loyalty");
        let mut customers = store.customers().expect("customers");
        customers.sort();
        for (n, customer) in customers.into_iter().enumerate() {
            let events = store.read_stream(customer).expect("stream");
            write_state(&dir, &lifecycle, n, &events);
            write_state(&dir, &loyalty, n, &events);
            write_state(&dir, &clientele_value::ValueProjection, n, &events);
            write_state(&dir, &clientele_churn::ChurnProjection, n, &events);
            write_state(&dir, &clientele_complaint::ComplaintProjection, n, &events);
        }
    }

    let dir = seeds.join("record");
    for old in std::fs::read_dir(&dir).expect("record seeds") {
        std::fs::remove_file(old.expect("entry").path()).expect("remove");
    }
    let raw = rocksdb::DB::open_cf_for_read_only(
        &rocksdb::Options::default(),
        db.path(),
        rocksdb::DB::list_cf(&rocksdb::Options::default(), db.path()).expect("cfs"),
        false,
    )
    .expect("raw");
    let events = raw.cf_handle("events").expect("events cf");
    let mut per_kind: BTreeMap<u8, usize> = BTreeMap::new();
    for item in raw.iterator_cf(&events, rocksdb::IteratorMode::Start) {
        let (key, value) = item.expect("record");
        let position = u64::from_be_bytes(key[..8].try_into().expect("key"));
        let (kind, sealed) = (value[2], value[1] & 1 == 1);
        let seen = per_kind.entry(kind).or_default();
        *seen += 1;
        if *seen <= 2 || sealed {
            let body = &value[..value.len() - TRAILER];
            std::fs::write(dir.join(format!("kind{kind}-{position}.bin")), body).expect("write");
        }
    }
}

/// `seeds/policies/`: each default policy as JSON, after its selector byte
/// and a view time (2025-01-01), as the `policies` target reads them.
#[test]
#[ignore = "writes the committed seeds; run by hand after a policy change"]
fn regenerate_policy_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/policies");
    std::fs::create_dir_all(&dir).expect("dir");
    let at: i64 = 1_735_689_600;
    let policies: [(&str, serde_json::Value); 6] = [
        (
            "lifecycle",
            serde_json::to_value(clientele_lifecycle::LifecyclePolicy::default()).expect("json"),
        ),
        (
            "loyalty",
            serde_json::to_value(clientele_loyalty::LoyaltyPolicy::default()).expect("json"),
        ),
        (
            "points",
            serde_json::to_value(clientele_loyalty::PointsPolicy::default()).expect("json"),
        ),
        (
            "risk",
            serde_json::to_value(clientele_churn::RiskPolicy::default()).expect("json"),
        ),
        (
            "warning",
            serde_json::to_value(clientele_churn::WarningPolicy::default()).expect("json"),
        ),
        (
            "complaint",
            serde_json::to_value(clientele_complaint::ComplaintPolicy::default()).expect("json"),
        ),
    ];
    for (which, (name, json)) in policies.into_iter().enumerate() {
        let mut bytes = vec![which as u8];
        bytes.extend_from_slice(&at.to_be_bytes());
        bytes.extend_from_slice(&serde_json::to_vec_pretty(&json).expect("json"));
        std::fs::write(dir.join(format!("{name}.json")), bytes).expect("write seed");
    }
}
