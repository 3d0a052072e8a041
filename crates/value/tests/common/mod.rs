//! CDNOW data loading shared by the integration tests and the benches.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::NaiveDate;
use clientele_value::{CustomerSummary, PurchaseHistory, TimeUnit};

pub const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample.txt"
);
pub const SUMMARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample_summary.csv"
);

/// End of the 39-week calibration period.
pub fn calibration_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(1997, 9, 30).expect("valid date")
}

/// Parses a dollar amount such as "29.33" into cents, exactly.
pub fn cents(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut frac = frac.to_string();
    assert!(frac.len() <= 2, "more than two decimals: {s}");
    while frac.len() < 2 {
        frac.push('0');
    }
    let w: i64 = whole.parse().expect("dollars");
    let f: i64 = frac.parse().expect("cents");
    w * 100 + f
}

/// Per sample-customer purchase histories from `cdnow_sample.txt`.
pub fn histories() -> BTreeMap<u32, PurchaseHistory> {
    let text = std::fs::read_to_string(SAMPLE).expect("read cdnow_sample.txt");
    let mut out: BTreeMap<u32, PurchaseHistory> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{line}");
        let id: u32 = f[1].parse().expect("sample id");
        let date = NaiveDate::parse_from_str(f[2], "%Y%m%d").expect("date");
        out.entry(id)
            .or_default()
            .record(date, cents(f[4]))
            .expect("no overflow");
    }
    out
}

/// Calibration-period summaries in weeks, by sample id.
pub fn summaries() -> BTreeMap<u32, CustomerSummary> {
    histories()
        .into_iter()
        .map(|(id, h)| {
            let s = h
                .as_of(calibration_end(), TimeUnit::Weeks)
                .expect("no overflow")
                .expect("every customer bought in the first quarter");
            (id, s)
        })
        .collect()
}

/// Rows of `cdnow_sample_summary.csv`: (ID, frequency, recency, T).
pub fn published_summary() -> Vec<(u32, u32, f64, f64)> {
    let text = std::fs::read_to_string(SUMMARY).expect("read cdnow_sample_summary.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next().map(str::trim), Some("ID,frequency,recency,T"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            (
                f[0].parse().expect("ID"),
                f[1].parse().expect("frequency"),
                f[2].parse().expect("recency"),
                f[3].parse().expect("T"),
            )
        })
        .collect()
}
