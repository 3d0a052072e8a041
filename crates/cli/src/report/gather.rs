//! Filling [`ReportData`] from the core event log alone: headline counts and
//! purchase-cohort retention. Sections that need the analytics crates
//! (stages, loyalty, RFM, churn risk, lift, complaints) are left empty; their
//! owners fill the public fields before [`render`](fn@super::render::render).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use clientele_core::projection::AsOf;
use clientele_core::{CustomerId, EventPayload, Store};

use super::data::ReportData;
use crate::output::timestamp;

/// Default page title.
pub const DEFAULT_TITLE: &str = "Customer lifecycle report";

/// Months since year 0: `year * 12 + month0`.
fn month_index(t: DateTime<Utc>) -> i64 {
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

/// `1997-01` for a month index.
pub fn month_label(index: i64) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Cohort retention from each customer's purchase months: cohort = month of
/// first purchase; period k = the k-th month after it; share = customers of
/// the cohort who purchased in that month / cohort size; `None` after
/// `last_month`. Returns (rows, sizes), cohorts in time order.
#[allow(clippy::type_complexity)]
pub fn cohort_table(
    purchase_months: &HashMap<CustomerId, BTreeSet<i64>>,
    last_month: i64,
) -> (Vec<(String, Vec<Option<f64>>)>, Vec<(String, u64)>) {
    // cohort month -> (size, active count per period)
    let mut cohorts: BTreeMap<i64, (u64, BTreeMap<i64, u64>)> = BTreeMap::new();
    for months in purchase_months.values() {
        let Some(&first) = months.first() else {
            continue;
        };
        let entry = cohorts.entry(first).or_default();
        entry.0 += 1;
        for &m in months {
            *entry.1.entry(m - first).or_default() += 1;
        }
    }
    let Some(&first_cohort) = cohorts.keys().next() else {
        return (Vec::new(), Vec::new());
    };
    let periods = usize::try_from(last_month - first_cohort + 1).unwrap_or(0);
    let mut rows = Vec::with_capacity(cohorts.len());
    let mut sizes = Vec::with_capacity(cohorts.len());
    for (month, (size, active)) in cohorts {
        let label = month_label(month);
        let row = (0..periods)
            .map(|k| {
                let k = k as i64;
                if month + k > last_month || size == 0 {
                    None
                } else {
                    Some(active.get(&k).copied().unwrap_or(0) as f64 / size as f64)
                }
            })
            .collect();
        rows.push((label.clone(), row));
        sizes.push((label, size));
    }
    (rows, sizes)
}

/// Reads the log once and fills what the core log alone can give: counts
/// and cohort retention, for events that occurred at or before `at`'s
/// business time and, when `at` has a recorded time, were recorded by then
/// (the log as it stood). Stage, loyalty, RFM, risk, lift and complaint
/// sections stay empty.
pub fn gather(store: &Store, at: impl Into<AsOf>) -> clientele_core::Result<ReportData> {
    let at = at.into();
    let as_of = at.occurred;
    let mut data = ReportData::new(DEFAULT_TITLE, timestamp(as_of));
    let to = match at.known_at {
        Some(known_at) => {
            data.known_at = Some(timestamp(known_at));
            Some(store.known_position(known_at)?)
        }
        None => None,
    };
    let mut customers: HashSet<CustomerId> = HashSet::new();
    let mut purchase_months: HashMap<CustomerId, BTreeSet<i64>> = HashMap::new();
    let mut events = 0u64;
    let mut purchases = 0u64;
    let mut erased: HashSet<CustomerId> = HashSet::new();
    for event in store.read_range(1, to)? {
        let event = event?;
        if event.occurred_at > as_of {
            continue;
        }
        events += 1;
        customers.insert(event.customer_id);
        match &event.payload {
            EventPayload::Purchase(_) => {
                purchases += 1;
                purchase_months
                    .entry(event.customer_id)
                    .or_default()
                    .insert(month_index(event.occurred_at));
            }
            EventPayload::Erasure(_) => {
                erased.insert(event.customer_id);
            }
            _ => {}
        }
    }
    let (rows, sizes) = cohort_table(&purchase_months, month_index(as_of));
    data.counts = vec![
        ("customers".into(), customers.len() as u64),
        ("events".into(), events),
        ("purchases".into(), purchases),
        ("purchasing customers".into(), purchase_months.len() as u64),
        ("acquisition cohorts".into(), rows.len() as u64),
    ];
    if !erased.is_empty() {
        data.counts
            .push(("customers with erased data".into(), erased.len() as u64));
    }
    data.cohort_retention = rows;
    data.cohort_sizes = sizes;
    if data.cohort_retention.is_empty() {
        data.notes
            .push("Cohort retention needs purchases: none occurred up to the as-of time.".into());
    } else {
        data.notes.push(format!(
            "Cohort retention: a cohort is the month of a customer's first purchase; period k is the k-th calendar month after it (0 = the acquisition month); the share is the cohort's customers who purchased in that month. The as-of month ({}) may be partial.",
            month_label(month_index(as_of))
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohorts_by_first_purchase_month() {
        let base = 1997 * 12; // 1997-01
        let mut m = HashMap::new();
        let c = |n: &str| CustomerId::from_external("t", n);
        m.insert(c("a"), BTreeSet::from([base, base + 1, base + 3]));
        m.insert(c("b"), BTreeSet::from([base, base + 3]));
        m.insert(c("c"), BTreeSet::from([base + 1, base + 2]));
        let (rows, sizes) = cohort_table(&m, base + 3);
        assert_eq!(sizes, vec![("1997-01".into(), 2), ("1997-02".into(), 1)]);
        assert_eq!(rows[0].1, vec![Some(1.0), Some(0.5), Some(0.0), Some(1.0)]);
        assert_eq!(rows[1].1, vec![Some(1.0), Some(1.0), Some(0.0), None]);
        assert_eq!(month_label(base + 11), "1997-12");
    }
}
