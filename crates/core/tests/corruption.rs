//! Tampering with stored records is detected by `verify()`, which names the
//! first bad position.

mod common;

use clientele_core::{CustomerId, Error, ExpectedVersion, IntegrityError, Store};
use rocksdb::{Options, DB};

fn filled_store(dir: &std::path::Path, n: u64) {
    let store = Store::open(dir).unwrap();
    for i in 0..n {
        let customer = CustomerId::from_external("t", &(i % 5).to_string());
        store
            .append(customer, ExpectedVersion::Any, vec![common::event(i)])
            .unwrap();
    }
    assert_eq!(store.verify().unwrap().events, n);
}

fn raw_db(dir: &std::path::Path) -> DB {
    let cfs = DB::list_cf(&Options::default(), dir).unwrap();
    DB::open_cf(&Options::default(), dir, cfs).unwrap()
}

fn verify_error(dir: &std::path::Path) -> IntegrityError {
    match Store::open_read_only(dir).unwrap().verify() {
        Err(Error::Integrity(e)) => e,
        other => panic!("verify should fail, got {other:?}"),
    }
}

#[test]
fn one_altered_byte_is_named() {
    for (position, offset) in [(7u64, 70usize), (1, 3), (20, 40)] {
        let dir = tempfile::tempdir().unwrap();
        filled_store(dir.path(), 20);
        {
            let db = raw_db(dir.path());
            let cf = db.cf_handle("events").unwrap();
            let mut value = db.get_cf(cf, position.to_be_bytes()).unwrap().unwrap();
            let at = offset.min(value.len() - 1);
            value[at] ^= 0x01;
            db.put_cf(cf, position.to_be_bytes(), value).unwrap();
        }
        let error = verify_error(dir.path());
        assert_eq!(error.position(), position, "{error}");
    }
}

#[test]
fn a_record_rewritten_with_a_valid_checksum_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 10);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        let mut value = db.get_cf(cf, 4u64.to_be_bytes()).unwrap().unwrap();
        // Change the occurred_at field and fix up the CRC: only the chain can tell.
        value[52] ^= 0x10;
        let crc_at = value.len() - 36;
        let crc = crc32fast::hash(&value[..crc_at]);
        value[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        db.put_cf(cf, 4u64.to_be_bytes(), value).unwrap();
    }
    assert_eq!(
        verify_error(dir.path()),
        IntegrityError::Chain { position: 4 }
    );
}

#[test]
fn missing_and_reordered_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 10);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        db.delete_cf(cf, 6u64.to_be_bytes()).unwrap();
    }
    assert_eq!(verify_error(dir.path()).position(), 6);

    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 10);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        let a = db.get_cf(cf, 3u64.to_be_bytes()).unwrap().unwrap();
        let b = db.get_cf(cf, 5u64.to_be_bytes()).unwrap().unwrap();
        db.put_cf(cf, 3u64.to_be_bytes(), b).unwrap();
        db.put_cf(cf, 5u64.to_be_bytes(), a).unwrap();
    }
    assert_eq!(verify_error(dir.path()).position(), 3);

    // Truncating the tail is caught by the head record.
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 10);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        db.delete_cf(cf, 10u64.to_be_bytes()).unwrap();
    }
    assert_eq!(verify_error(dir.path()).position(), 10);
}

/// A damaged record stops a projection's catch-up with its position named,
/// and nothing from that catch-up is committed.
#[test]
fn a_damaged_record_stops_catch_up_with_its_position() {
    use clientele_core::projection::{Projection, Projector};
    use clientele_core::RecordedEvent;

    struct Count;
    impl Projection for Count {
        type State = u64;
        fn name(&self) -> &str {
            "count"
        }
        fn version(&self) -> u64 {
            1
        }
        fn apply(&self, state: &mut u64, _: &RecordedEvent) {
            *state += 1;
        }
    }

    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 40);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        let mut value = db.get_cf(cf, 23u64.to_be_bytes()).unwrap().unwrap();
        value[70] ^= 0x01;
        db.put_cf(cf, 23u64.to_be_bytes(), value).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let mut projector = Projector::open(&store, Count).unwrap();
    match projector.catch_up() {
        Err(Error::Integrity(e)) => assert_eq!(e.position(), 23, "{e}"),
        other => panic!("catch-up should fail at position 23, got {other:?}"),
    }
    assert_eq!(projector.position(), 0);
    drop(projector);
    let reopened = Projector::open(&store, Count).unwrap();
    assert_eq!(reopened.position(), 0);
}

/// `Store::event` finds every event by id, and an index entry that leads to
/// another record, to no record, or does not decode is an integrity error
/// naming the index — never a wrong event.
#[test]
fn lookups_by_id_check_the_index_against_the_record() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 12);
    let (id3, id7) = {
        let store = Store::open(dir.path()).unwrap();
        let all: Vec<_> = store.read_all(1).unwrap().map(|e| e.unwrap()).collect();
        for e in &all {
            let found = store.event(e.event_id).unwrap().expect("indexed");
            assert_eq!(&found, e);
        }
        (all[2].event_id, all[6].event_id)
    };
    {
        let db = raw_db(dir.path());
        let ids = db.cf_handle("event_ids").unwrap();
        // Entry of position 3 now points to position 7.
        let mut entry = db.get_cf(ids, id3.as_bytes()).unwrap().unwrap();
        entry[..8].copy_from_slice(&7u64.to_be_bytes());
        db.put_cf(ids, id3.as_bytes(), &entry).unwrap();
        // Entry of position 7 points past the end of the log.
        let mut entry = db.get_cf(ids, id7.as_bytes()).unwrap().unwrap();
        entry[..8].copy_from_slice(&99u64.to_be_bytes());
        db.put_cf(ids, id7.as_bytes(), &entry).unwrap();
        // An entry that does not decode.
        db.put_cf(ids, [0xabu8; 16], [1u8, 2, 3]).unwrap();
    }
    let store = Store::open_read_only(dir.path()).unwrap();
    for (id, position) in [(id3, 7), (id7, 99)] {
        match store.event(id) {
            Err(Error::Integrity(IntegrityError::Index {
                index: "event_ids",
                position: p,
                ..
            })) => assert_eq!(p, position),
            other => panic!("lookup of {id} should fail on the index, got {other:?}"),
        }
    }
    let broken = clientele_core::EventId::from_uuid(uuid::Uuid::from_bytes([0xab; 16]));
    assert!(matches!(
        store.event(broken),
        Err(Error::Integrity(IntegrityError::Index { .. }))
    ));
}

fn versions_as_of(store: &Store, customer: CustomerId, minutes: i64) -> Result<Vec<u64>, Error> {
    let as_of = common::t0() + chrono::Duration::minutes(minutes);
    store
        .stream_as_of(customer, 1, as_of)?
        .map(|e| e.map(|e| e.version))
        .collect()
}

/// Customer "0" of `filled_store`: events at minutes 0, 5, 10, 15 (versions
/// 1–4, positions 1, 6, 11, 16).
fn customer_zero() -> CustomerId {
    CustomerId::from_external("t", "0")
}

#[test]
fn stream_entries_without_the_occurred_time_still_read() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 20);
    let before = Store::open(dir.path())
        .unwrap()
        .read_stream(customer_zero())
        .unwrap();
    {
        // Entries as the first format wrote them: the position alone.
        let db = raw_db(dir.path());
        let cf = db.cf_handle("streams").unwrap();
        let entries: Vec<_> = db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), 20);
        for (key, value) in entries {
            assert_eq!(value.len(), 16);
            db.put_cf(cf, key, &value[..8]).unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.read_stream(customer_zero()).unwrap(), before);
    assert_eq!(
        versions_as_of(&store, customer_zero(), 7).unwrap(),
        vec![1, 2]
    );
    assert_eq!(store.verify().unwrap().events, 20);
}

#[test]
fn a_wrong_occurred_time_in_the_streams_index_is_named() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 20);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("streams").unwrap();
        let mut key = customer_zero().as_bytes().to_vec();
        key.extend_from_slice(&3u64.to_be_bytes());
        let mut value = db.get_cf(cf, &key).unwrap().unwrap();
        assert_eq!(value[..8], 11u64.to_be_bytes());
        // Ten minutes earlier than the record says (minute 0 instead of 10).
        let micros = i64::from_be_bytes(value[8..].try_into().unwrap());
        value[8..].copy_from_slice(&(micros - 600_000_000).to_be_bytes());
        db.put_cf(cf, &key, value).unwrap();
    }
    let error = verify_error(dir.path());
    assert_eq!(error.position(), 11, "{error}");
    assert!(error.to_string().contains("streams"), "{error}");
    // A read that takes the entry at its word reads the record and refuses.
    let store = Store::open_read_only(dir.path()).unwrap();
    match versions_as_of(&store, customer_zero(), 7) {
        Err(Error::Integrity(e)) => assert_eq!(e.position(), 11, "{e}"),
        other => panic!("the mismatch must be refused, got {other:?}"),
    }
}

#[test]
fn as_of_reads_do_not_read_records_of_later_events() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 20);
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("events").unwrap();
        let mut value = db.get_cf(cf, 16u64.to_be_bytes()).unwrap().unwrap();
        value[70] ^= 0x01;
        db.put_cf(cf, 16u64.to_be_bytes(), value).unwrap();
    }
    let store = Store::open_read_only(dir.path()).unwrap();
    // Version 4 (minute 15, position 16) is damaged, and after the bound.
    assert_eq!(
        versions_as_of(&store, customer_zero(), 12).unwrap(),
        vec![1, 2, 3]
    );
    match store.read_stream(customer_zero()) {
        Err(Error::Integrity(e)) => assert_eq!(e.position(), 16, "{e}"),
        other => panic!("reading the whole stream must fail, got {other:?}"),
    }
    assert_eq!(verify_error(dir.path()).position(), 16);
}

#[test]
fn a_stray_stream_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path(), 20);
    {
        // An entry no record owns: customer "0", version 9, pointing at
        // position 6 (customer "0"'s version 2) and claiming a later time.
        let db = raw_db(dir.path());
        let cf = db.cf_handle("streams").unwrap();
        let mut key = customer_zero().as_bytes().to_vec();
        key.extend_from_slice(&9u64.to_be_bytes());
        let mut value = 6u64.to_be_bytes().to_vec();
        value.extend_from_slice(&i64::MAX.to_be_bytes());
        db.put_cf(cf, &key, value).unwrap();
    }
    let error = verify_error(dir.path());
    assert_eq!(error.position(), 6, "{error}");
    assert!(error.to_string().contains("stray entry"), "{error}");
}
