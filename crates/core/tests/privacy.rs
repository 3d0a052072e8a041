//! Crypto-shredding: personal data is sealed, `forget` makes it unrecoverable
//! while analytics and the hash chain stay intact; retention; key rotation;
//! the access log.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::privacy::{DataClass, MasterKeyRing, MemoryAccessLog, PersonalData};
use clientele_core::store::RetentionRule;
use clientele_core::{
    AppendStatus, Currency, CustomerId, Error, ExpectedVersion, Metadata, NewEvent, Store,
    StoreOptions,
};
use rocksdb::{Options, DB};

const PLATE: &str = "京A12345";
const NAME: &str = "Wang Xiaoming";
const RESOLUTION: &str = "apologised to Mr Wang in person";

fn keyed(ring: &MasterKeyRing) -> StoreOptions {
    StoreOptions {
        master_keys: Some(Arc::new(ring.clone())),
        ..Default::default()
    }
}

/// A store under `ring` whose personal-data reads go to the returned log.
fn logged(dir: &Path, ring: &MasterKeyRing) -> (Store, MemoryAccessLog) {
    let log = MemoryAccessLog::default();
    let options = StoreOptions {
        access_log: Some(Arc::new(log.clone())),
        ..keyed(ring)
    };
    (Store::open_with(dir, options).unwrap(), log)
}

fn profile(name: &str, plate: &str) -> Profile {
    Profile {
        name: Some(name.into()),
        licence_plate: Some(plate.into()),
        national_id: Some(format!("ID-{name}")),
        policy_numbers: vec![format!("POL-{plate}")],
        ..Default::default()
    }
}

fn history(store: &Store, c: CustomerId, name: &str, plate: &str) {
    let t = |d: i64| common::t0() + Duration::days(d);
    let mut resolved = Complaint::new("C-1", ComplaintStep::Resolved);
    resolved.resolution = Some(format!("apologised to {name} in person"));
    let mut policy = Purchase::new("P-1", "1200.00".parse().unwrap(), Currency::CNY);
    policy.policy_number = Some(format!("POL-{plate}"));
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![
                NewEvent::new(t(0), profile(name, plate)),
                NewEvent::new(t(1), policy),
                NewEvent::new(t(2), Complaint::new("C-1", ComplaintStep::Received)),
                NewEvent::new(t(3), resolved),
            ],
        )
        .unwrap();
}

/// Every file below `dir`, concatenated per file.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

fn data_keys_of(dir: &Path, c: CustomerId) -> Vec<Vec<u8>> {
    let cfs = DB::list_cf(&Options::default(), dir).unwrap();
    let db = DB::open_cf_for_read_only(&Options::default(), dir, &cfs, false).unwrap();
    let cf = db.cf_handle("data_keys").unwrap();
    db.iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|kv| kv.unwrap())
        .filter(|(k, _)| k[..16] == c.as_bytes()[..])
        .map(|(_, v)| v.to_vec())
        .collect()
}

#[test]
fn personal_data_needs_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.append(
        CustomerId::new_random(),
        ExpectedVersion::Any,
        vec![NewEvent::new(common::t0(), profile(NAME, PLATE))],
    );
    assert!(matches!(err, Err(Error::NoMasterKey)), "{err:?}");
    // Events without personal fields need no key.
    store
        .append(
            CustomerId::new_random(),
            ExpectedVersion::Any,
            vec![common::event(0)],
        )
        .unwrap();
}

#[test]
fn forget_erases_personal_data_and_keeps_analytics() {
    let dir = tempfile::tempdir().unwrap();
    let ring = MasterKeyRing::generate();
    let (a, b) = (
        CustomerId::from_external("t", "a"),
        CustomerId::from_external("t", "b"),
    );
    {
        let store = Store::open_with(dir.path(), keyed(&ring)).unwrap();
        history(&store, a, NAME, PLATE);
        history(&store, b, "Li Lei", "沪B99999");
        let events = store.read_stream(a).unwrap();
        let EventPayload::Profile(p) = &events[0].payload else {
            panic!()
        };
        assert_eq!(p.licence_plate.as_deref(), Some(PLATE));
        assert_eq!(events[0].personal_data, PersonalData::Available);
        store.purge().unwrap(); // flush everything to SST files
    }
    // Plaintext personal data never reaches the disk: it is sealed.
    for secret in [PLATE, NAME, RESOLUTION] {
        assert!(
            files_containing(dir.path(), secret.as_bytes()).is_empty(),
            "{secret} found in plaintext"
        );
    }
    let wrapped = data_keys_of(dir.path(), a);
    assert!(!wrapped.is_empty());
    for key in &wrapped {
        assert!(
            !files_containing(dir.path(), key).is_empty(),
            "the wrapped key should be on disk before forget"
        );
    }
    let before = {
        let store = Store::open_with(dir.path(), keyed(&ring)).unwrap();
        let before: Vec<_> = store.read_stream(a).unwrap();
        let who = Metadata {
            actor_id: Some("dpo@example.com".into()),
            ..Default::default()
        };
        let outcome = store
            .forget(a, "customer request (GDPR art. 17)", who.clone())
            .unwrap();
        assert_eq!(outcome.status, AppendStatus::Appended);
        let again = store.forget(a, "duplicate request", who).unwrap();
        assert_eq!(again.status, AppendStatus::AlreadyAppended);
        assert_eq!(again.positions, outcome.positions);
        before
    };
    // The key bytes are physically gone from every file of the store.
    for key in &wrapped {
        assert_eq!(
            files_containing(dir.path(), key),
            Vec::<String>::new(),
            "wrapped key still on disk"
        );
    }
    let store = Store::open_with(dir.path(), keyed(&ring)).unwrap();
    let after = store.read_stream(a).unwrap();
    assert_eq!(after.len(), before.len() + 1);
    let EventPayload::Erasure(erasure) = &after.last().unwrap().payload else {
        panic!("no erasure event")
    };
    assert_eq!(erasure.scope, ErasureScope::Customer);
    assert_eq!(
        after.last().unwrap().metadata.actor_id.as_deref(),
        Some("dpo@example.com")
    );
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (old.position, old.occurred_at, old.kind()),
            (new.position, new.occurred_at, new.kind())
        );
        assert_eq!(
            new.personal_data,
            if old.personal_data == PersonalData::None {
                PersonalData::None
            } else {
                PersonalData::Erased
            }
        );
        match (&old.payload, &new.payload) {
            (EventPayload::Profile(_), EventPayload::Profile(p)) => {
                assert_eq!(p, &Profile::default())
            }
            (EventPayload::Purchase(o), EventPayload::Purchase(n)) => {
                assert_eq!((o.amount, o.currency), (n.amount, n.currency));
                assert_eq!(n.policy_number, None);
            }
            (EventPayload::Complaint(o), EventPayload::Complaint(n)) => {
                assert_eq!(o.step, n.step);
                assert_eq!(n.resolution, None);
            }
            (o, n) => assert_eq!(o, n),
        }
    }
    // Other customers are untouched; the chain still verifies.
    let EventPayload::Profile(p) = &store.read_stream(b).unwrap()[0].payload else {
        panic!()
    };
    assert_eq!(p.name.as_deref(), Some("Li Lei"));
    assert!(store
        .read_stream(b)
        .unwrap()
        .iter()
        .all(|e| e.personal_data != PersonalData::Erased));
    store.verify().unwrap();
}

#[test]
fn without_the_master_key_fields_are_locked_but_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    let c = CustomerId::new_random();
    {
        let store = Store::open_with(dir.path(), keyed(&MasterKeyRing::generate())).unwrap();
        history(&store, c, NAME, PLATE);
    }
    let store = Store::open_read_only(dir.path()).unwrap();
    let events = store.read_stream(c).unwrap();
    assert_eq!(events[0].personal_data, PersonalData::Locked);
    store.verify().unwrap();
    // A wrong master key cannot read either.
    drop(store);
    let store = Store::open_with(dir.path(), keyed(&MasterKeyRing::generate())).unwrap();
    assert_eq!(
        store.read_stream(c).unwrap()[0].personal_data,
        PersonalData::Locked
    );
}

#[test]
fn retention_erases_old_years_of_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let ring = MasterKeyRing::generate();
    let store = Store::open_with(dir.path(), keyed(&ring)).unwrap();
    let c = CustomerId::new_random();
    let note = |y: i32, text: &str| {
        let mut contact = Contact::new(Channel::Phone, Direction::Inbound, Purpose::Service);
        contact.note = Some(text.into());
        NewEvent::new(Utc.with_ymd_and_hms(y, 3, 1, 0, 0, 0).unwrap(), contact)
    };
    store
        .append(
            c,
            ExpectedVersion::Any,
            vec![
                note(2019, "old note"),
                note(2023, "recent note"),
                NewEvent::new(
                    Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap(),
                    profile(NAME, PLATE),
                ),
            ],
        )
        .unwrap();
    let rule = RetentionRule {
        class: DataClass::ContactNotes,
        keep_years: 3,
    };
    let report = store
        .apply_retention(
            &rule,
            Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
            Metadata::default(),
        )
        .unwrap();
    assert_eq!((report.before_year, report.customers), (2021, 1));
    let events = store.read_stream(c).unwrap();
    let outcome = |i: usize| match &events[i].payload {
        EventPayload::Contact(c) => (c.note.clone(), events[i].personal_data),
        _ => panic!(),
    };
    assert_eq!(outcome(0), (None, PersonalData::Erased));
    assert_eq!(
        outcome(1),
        (Some("recent note".into()), PersonalData::Available)
    );
    // Identity data of 2019 is another class: kept.
    assert_eq!(events[2].personal_data, PersonalData::Available);
    assert!(matches!(
        &events[3].payload,
        EventPayload::Erasure(Erasure {
            scope: ErasureScope::Retention { .. },
            ..
        })
    ));
    // Applying it again finds nothing more to erase.
    assert_eq!(
        store
            .apply_retention(
                &rule,
                Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap(),
                Metadata::default()
            )
            .unwrap()
            .customers,
        0
    );
    store.verify().unwrap();
}

#[test]
fn master_key_rotation_and_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let old = MasterKeyRing::new(1, [1; 32]);
    let c = CustomerId::new_random();
    {
        let store = Store::open_with(dir.path(), keyed(&old)).unwrap();
        history(&store, c, NAME, PLATE);
    }
    {
        let both = old.clone().with_key(2, [2; 32]);
        let store = Store::open_with(dir.path(), keyed(&both)).unwrap();
        assert_eq!(store.rotate_master_key().unwrap(), 3); // identity, policy id, complaint narrative
        assert_eq!(store.rotate_master_key().unwrap(), 0);
    }
    let (store, log) = logged(dir.path(), &MasterKeyRing::new(2, [2; 32]));
    let auditor = store.reader("auditor:zhao");
    let EventPayload::Profile(p) = &auditor.read_stream(c).unwrap()[0].payload else {
        panic!()
    };
    assert_eq!(p.name.as_deref(), Some(NAME));
    let records = log.records();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.reader.as_deref() == Some("auditor:zhao") && r.customer == c));
    assert_eq!(records[0].class, DataClass::Identity);
}

/// A stream read as of a past time unseals only the events it returns: the
/// personal data of later events is neither decrypted nor logged as read.
#[test]
fn as_of_reads_unseal_only_what_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = logged(dir.path(), &MasterKeyRing::new(1, [7; 32]));
    let c = CustomerId::new_random();
    history(&store, c, NAME, PLATE); // sealed parts at days 0, 1 and 3
    let t = |d: i64| common::t0() + Duration::days(d);

    let early = store.read_stream_as_of(c, t(0)).unwrap();
    assert_eq!(early.len(), 1);
    let positions: Vec<u64> = log.records().iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![early[0].position]);

    let upto_two: Vec<clientele_core::RecordedEvent> = store
        .stream_as_of(c, 2, t(2))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        upto_two.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![2, 3]
    );
    // Version 2 (the policy) is sealed; version 3 (a complaint received) is not;
    // version 4 (the resolution, day 3) is sealed but not returned.
    assert_eq!(log.records().len(), 2);
    assert_eq!(log.records()[1].position, upto_two[0].position);
    assert_eq!(
        store.read_stream(c).unwrap().len(),
        4,
        "the full stream is still there"
    );
}

/// Counts events, reading their personal data or not as told.
struct Counting {
    personal: bool,
}

impl clientele_core::projection::Projection for Counting {
    type State = u32;
    fn name(&self) -> &str {
        if self.personal {
            "counting-personal"
        } else {
            "counting-public"
        }
    }
    fn version(&self) -> u64 {
        1
    }
    fn apply(&self, state: &mut u32, _event: &clientele_core::RecordedEvent) {
        *state += 1;
    }
    fn reads_personal_data(&self) -> bool {
        self.personal
    }
}

/// The runtime reads a projection's events with or without their personal
/// data as the projection declares, whichever handle it was opened with.
#[test]
fn projectors_decrypt_only_for_projections_that_read_personal_data() {
    use clientele_core::projection::Projector;
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = logged(dir.path(), &MasterKeyRing::new(1, [9; 32]));
    let c = CustomerId::new_random();
    history(&store, c, NAME, PLATE); // three sealed events of four
    let t = common::t0() + Duration::days(2);

    let mut public = Projector::open(&store, Counting { personal: false }).unwrap();
    public.catch_up().unwrap();
    assert_eq!(public.state(c).unwrap(), Some(4));
    assert_eq!(public.state_as_of(c, t).unwrap(), 3);
    public.rebuild().unwrap();
    assert!(log.records().is_empty(), "{:?}", log.records());

    // Opened with a public-only handle, a projection that reads personal
    // data still gets it.
    let mut personal = Projector::open(&store.public_only(), Counting { personal: true }).unwrap();
    personal.catch_up().unwrap();
    assert_eq!(personal.state(c).unwrap(), Some(4));
    assert_eq!(log.records().len(), 3);
}
