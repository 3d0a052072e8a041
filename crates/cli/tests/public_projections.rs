//! The value, loyalty, churn and complaint projections declare that they do not read
//! personal data, so the runtime feeds them events whose sealed fields were
//! never decrypted. This checks the declaration on the demo's customer base,
//! which carries personal data of every class (identities, policy numbers,
//! complaint narratives, contact notes, prospect references): each state
//! folded from fully decrypted events is byte-for-byte the state folded from
//! the public parts alone.

use std::sync::Arc;

use clientele_core::privacy::{MasterKeyRing, PersonalData};
use clientele_core::projection::{fold, Projection};
use clientele_core::{Store, StoreOptions};

mod common;

/// (customers whose state differs when folded from the public parts alone,
/// events whose personal data was decrypted for the full fold)
fn differences<P: Projection>(projection: &P, store: &Store) -> (usize, usize) {
    let public = store.public_only();
    let (mut differing, mut sealed_events) = (0, 0);
    for customer in store.customers().unwrap() {
        let full = store.read_stream(customer).unwrap();
        let bare = public.read_stream(customer).unwrap();
        sealed_events += full
            .iter()
            .filter(|e| e.personal_data == PersonalData::Available)
            .count();
        assert!(bare
            .iter()
            .all(|e| e.personal_data != PersonalData::Available));
        let mut a = Vec::new();
        let mut b = Vec::new();
        projection
            .encode_state(&fold(projection, &full), &mut a)
            .unwrap();
        projection
            .encode_state(&fold(projection, &bare), &mut b)
            .unwrap();
        differing += usize::from(a != b);
    }
    (differing, sealed_events)
}

#[test]
fn projections_that_skip_personal_data_fold_the_same_states() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db_arg = db.display().to_string();
    let out = common::clientele(
        dir.path(),
        &["--db", &db_arg, "demo", "--customers", "300"],
        Some(common::KEY),
    );
    assert!(out.status.success(), "{out:?}");
    let options = StoreOptions {
        master_keys: Some(Arc::new(MasterKeyRing::from_hex(1, common::KEY).unwrap())),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&db, options).unwrap();

    let value = clientele_value::ValueProjection;
    assert!(!value.reads_personal_data());
    let (differing, sealed) = differences(&value, &store);
    assert!(
        sealed > 300,
        "the demo must carry personal data ({sealed} sealed events)"
    );
    assert_eq!(differing, 0, "value");

    let loyalty =
        clientele_loyalty::LoyaltyProjection::new(clientele_loyalty::LoyaltyPolicy::default())
            .unwrap();
    assert!(!loyalty.reads_personal_data());
    assert_eq!(differences(&loyalty, &store).0, 0, "loyalty");

    let churn = clientele_churn::ChurnProjection;
    assert!(!churn.reads_personal_data());
    assert_eq!(differences(&churn, &store).0, 0, "churn");

    // The complaint desk folds steps, categories and owners, never the
    // narratives (cause, resolution), which the demo's complaints carry.
    let complaint = clientele_complaint::ComplaintProjection;
    assert!(!complaint.reads_personal_data());
    assert_eq!(differences(&complaint, &store).0, 0, "complaint");

    // The lifecycle projection keeps identifiers for lookups: it reads them,
    // and its states show it (which also shows this comparison can tell).
    let lifecycle = clientele_lifecycle::LifecycleProjection::new(
        clientele_lifecycle::LifecyclePolicy::default(),
    )
    .unwrap();
    assert!(lifecycle.reads_personal_data());
    assert!(differences(&lifecycle, &store).0 > 0, "lifecycle");
}
