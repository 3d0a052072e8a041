//! The value fold over the real event log: CDNOW imported through the public
//! API, summaries equal to the published summary file, fits, RFM, history.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use clientele_core::{CustomerId, Store};
use clientele_value::{historic_value, RfmSegment, TimeUnit, Value};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample.txt"
);
const SUMMARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample_summary.csv"
);

#[test]
fn cdnow_through_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    clientele_value::cdnow::load(&store, &std::fs::read_to_string(DATA).unwrap()).unwrap();
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();
    let end = Utc.with_ymd_and_hms(1997, 9, 30, 23, 59, 59).unwrap();

    // Summary statistics equal cdnow_sample_summary.csv (rounded to 2 decimals there).
    let summaries: BTreeMap<CustomerId, _> = value
        .summaries(end, "USD", TimeUnit::Weeks)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries.len(), 2357);
    let text = std::fs::read_to_string(SUMMARY).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let s = &summaries[&CustomerId::from_external("cdnow", f[0])];
        let round = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(
            s.frequency,
            f[1].parse::<u32>().unwrap(),
            "customer {}",
            f[0]
        );
        assert!(
            (round(s.recency) - f[2].parse::<f64>().unwrap()).abs() < 1e-9,
            "customer {}",
            f[0]
        );
        assert!(
            (round(s.t) - f[3].parse::<f64>().unwrap()).abs() < 1e-9,
            "customer {}",
            f[0]
        );
    }

    // The population fits from the fold reproduce the published estimates.
    let fits = value.fit(end, "USD", TimeUnit::Weeks, 100).unwrap();
    let bg = fits.bg_nbd.as_ref().unwrap();
    let p = bg.params.to_array();
    for (got, want) in p.iter().zip([0.243, 4.414, 0.793, 2.426]) {
        assert!((got - want).abs() / want < 5e-3, "{p:?}");
    }
    assert!((bg.log_likelihood + 9582.4).abs() < 0.1);
    assert_eq!(fits.repeat_buyers, 946);
    let gg = fits.gamma_gamma.as_ref().unwrap().params.to_array();
    assert!(
        (gg[0] - 6.25).abs() < 0.01 && (gg[1] - 3.74).abs() < 0.01 && (gg[2] - 15.44).abs() < 0.01,
        "{gg:?}"
    );

    // Customer 1: history and RFM.
    let one = CustomerId::from_external("cdnow", "1");
    let h = value.historic(one, end, "USD").unwrap();
    assert_eq!(h.transactions, 3);
    assert_eq!(h.first_purchase.unwrap().to_string(), "1997-01-01");
    assert_eq!(h.category_share, vec![("cd".to_string(), 1.0)]);
    let rfm = value.rfm(end, "USD").unwrap();
    assert_eq!(rfm.len(), 2357);
    let mut segments: BTreeMap<RfmSegment, usize> = BTreeMap::new();
    for (_, s) in &rfm {
        *segments.entry(s.segment).or_default() += 1;
    }
    assert!(segments.len() >= 5, "{segments:?}");
    // As of an earlier time, later purchases do not count.
    let early = Utc.with_ymd_and_hms(1997, 1, 31, 0, 0, 0).unwrap();
    let state = value.state_as_of(one, early).unwrap();
    assert_eq!(historic_value(&state, "USD", early).transactions, 2);
}
