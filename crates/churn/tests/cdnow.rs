//! The backtest on the real CDNOW data: as of 1997-09-30, 39-week horizon.

use chrono::{TimeZone, Utc};
use clientele_churn::{backtest, ChurnProjection, RiskPolicy};
use clientele_core::projection::Projector;
use clientele_core::Store;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample.txt"
);

fn store_with_cdnow() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let text = std::fs::read_to_string(DATA).unwrap();
    let n = clientele_value::cdnow::load(&store, &text).unwrap();
    assert!(n > 6000 && n < 6919, "{n} transactions");
    (dir, store)
}

#[test]
fn backtest_on_cdnow_beats_the_best_single_signal() {
    let (_dir, store) = store_with_cdnow();
    let mut projector = Projector::open(&store, ChurnProjection).unwrap();
    projector.catch_up().unwrap();
    let as_of = Utc.with_ymd_and_hms(1997, 9, 30, 23, 59, 59).unwrap();
    let report = backtest(&projector, &RiskPolicy::default(), as_of, 39 * 7).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.customers, 2357);
    assert!(
        (report.churn_rate - 0.71).abs() < 0.01,
        "churn rate {}",
        report.churn_rate
    );
    let bg = report.bg_nbd.unwrap();
    assert!(
        (bg[0] - 0.243).abs() < 0.001 && (bg[3] - 2.426).abs() < 0.005,
        "{bg:?}"
    );
    assert!(
        report.signal_auc["p_alive"] < 0.5,
        "P(alive) alone is a poor signal here"
    );
    let auc = report.auc.expect("both classes present");
    assert!(auc > 0.78, "combined AUC {auc}");
    assert!(auc > report.signal_auc["expected_purchases"]);
    // CDNOW ends on 1998-06-30: the 39 weeks after 1997-09-30 are covered.
    assert_eq!(
        report.data_end,
        Some(Utc.with_ymd_and_hms(1998, 6, 30, 0, 0, 0).unwrap())
    );
    assert!(report.outcomes_complete() && report.outcomes_observed());
    // Deterministic for a fixed as-of.
    let again = backtest(&projector, &RiskPolicy::default(), as_of, 39 * 7).unwrap();
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

#[test]
fn backtest_beyond_the_data_says_so_instead_of_nan() {
    let (_dir, store) = store_with_cdnow();
    let mut projector = Projector::open(&store, ChurnProjection).unwrap();
    projector.catch_up().unwrap();
    // Partly beyond: the window ends after the last event (1998-06-30).
    let as_of = Utc.with_ymd_and_hms(1998, 3, 31, 23, 59, 59).unwrap();
    let report = backtest(&projector, &RiskPolicy::default(), as_of, 39 * 7).unwrap();
    assert!(!report.outcomes_complete());
    assert!(report.outcomes_observed());
    assert!(report.auc.is_some());
    // Wholly beyond: everybody "churned", the AUC is undefined (not NaN).
    let as_of = Utc.with_ymd_and_hms(1998, 6, 30, 23, 59, 59).unwrap();
    let report = backtest(&projector, &RiskPolicy::default(), as_of, 39 * 7).unwrap();
    assert!(!report.outcomes_observed());
    assert_eq!(report.churned, report.customers);
    assert_eq!(report.auc, None);
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["auc"].is_null(), "{json}");
}

/// How the default weights were chosen: logistic regression on a split of the
/// calibration period only (features at 1997-06-30, outcome in the 13 weeks to
/// 1997-09-30). Prints the fitted weights and the split's in-sample AUC.
#[test]
fn calibration_split_reproduces_the_default_weights() {
    use clientele_churn::calibrate::{calibrate, features};
    let (_dir, store) = store_with_cdnow();
    let mut projector = Projector::open(&store, ChurnProjection).unwrap();
    projector.catch_up().unwrap();
    let cutoff = Utc.with_ymd_and_hms(1997, 6, 30, 23, 59, 59).unwrap();
    let end = Utc.with_ymd_and_hms(1997, 9, 30, 23, 59, 59).unwrap();
    let mut frozen = Vec::new();
    let mut known = Vec::new();
    for c in store.customers().unwrap() {
        let s = projector.state_as_of(c, cutoff).unwrap();
        if s.first_seen.is_none() {
            continue;
        }
        frozen.push(s);
        known.push(projector.state_as_of(c, end).unwrap()); // nothing after the calibration period
    }
    let cal = calibrate(&frozen, &known, cutoff, 91);
    println!("calibration: {}", serde_json::to_string(&cal).unwrap());
    let d = RiskPolicy::default();
    let defaults = [d.bias, d.w_model, d.w_expected, d.w_recency, d.w_frequency];
    for (fitted, default) in cal.weights.iter().zip(defaults) {
        assert!(
            (fitted - default).abs() < 1e-3,
            "fitted {fitted} vs default {default}"
        );
    }
    // The split's features are finite for everyone.
    assert!(frozen.iter().all(|s| {
        let m = clientele_churn::ModelContext::default();
        features(&d.signals(s, cutoff, &m))
            .iter()
            .all(|f| f.is_finite())
    }));
}

/// A backtest known at R is the backtest run at R: events recorded later —
/// a late purchase in the outcome window, a customer imported afterwards —
/// change today's backtest but not the one as known at R.
#[test]
fn backtest_known_at_is_the_backtest_run_then() {
    use clientele_core::projection::AsOf;
    use clientele_core::{event::Purchase, CustomerId, ExpectedVersion, NewEvent};
    let (_dir, store) = store_with_cdnow();
    let mut projector = Projector::open(&store, ChurnProjection).unwrap();
    projector.catch_up().unwrap();
    let as_of = Utc.with_ymd_and_hms(1997, 9, 30, 23, 59, 59).unwrap();
    let policy = RiskPolicy::default();
    let then = backtest(&projector, &policy, as_of, 39 * 7).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let known_at = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));

    // Recorded after R: a purchase in the window by one who had "churned",
    // and a new customer who bought before the freeze.
    let buy = |y, m, d, order: &str| {
        NewEvent::new(
            Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap(),
            Purchase::new(order, "12.00".parse().unwrap(), "USD".parse().unwrap()),
        )
    };
    let mut churned = None;
    for c in store.customers().unwrap() {
        let full = projector.state(c).unwrap().unwrap_or_default();
        if full.first_seen.is_some() && clientele_churn::backtest::churned_in(&full, as_of, 39 * 7)
        {
            churned = Some(c);
            break;
        }
    }
    let churned = churned.expect("CDNOW has churners");
    store
        .append(
            churned,
            ExpectedVersion::Any,
            vec![buy(1998, 1, 15, "late-1")],
        )
        .unwrap();
    store
        .append(
            CustomerId::new_random(),
            ExpectedVersion::Any,
            vec![buy(1997, 5, 1, "new-1"), buy(1997, 8, 1, "new-2")],
        )
        .unwrap();
    projector.catch_up().unwrap();

    let now = backtest(&projector, &policy, as_of, 39 * 7).unwrap();
    // One churner fewer (the late purchase), one new churner (no purchase
    // in the window).
    assert_eq!(now.customers, then.customers + 1);
    assert_eq!(now.churned, then.churned);
    assert_ne!(now.auc, then.auc);
    let at = AsOf {
        occurred: as_of,
        known_at: Some(known_at),
    };
    let mut known = backtest(&projector, &policy, at, 39 * 7).unwrap();
    assert_eq!(known.known_at, Some(known_at));
    known.known_at = None;
    assert_eq!(
        serde_json::to_string(&known).unwrap(),
        serde_json::to_string(&then).unwrap()
    );
    // Known at a time after every append: today's backtest.
    let later = AsOf {
        occurred: as_of,
        known_at: Some(Utc::now() + chrono::Duration::days(1)),
    };
    let mut everything = backtest(&projector, &policy, later, 39 * 7).unwrap();
    everything.known_at = None;
    assert_eq!(
        serde_json::to_string(&everything).unwrap(),
        serde_json::to_string(&now).unwrap()
    );
}
