//! Loading the CDNOW purchase log (Fader, Hardie & Lee 2005) into a store
//! through the public API, for tests, examples and benchmarks.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use clientele_core::event::{Channel, Purchase};
use clientele_core::{
    Currency, CustomerId, Decimal, Durability, EventId, ExpectedVersion, NewEvent, Store,
};

/// Parses `cdnow_sample.txt` (master id, sample id, yyyymmdd, CDs, dollars)
/// into one transaction per (customer, day) — same-day purchases combined —
/// and appends them as `purchase` events (USD, exact amounts) to `store`.
/// Customers are `CustomerId::from_external("cdnow", sample_id)` (without
/// the file's leading zeros).
/// Returns the number of transactions written.
pub fn load(store: &Store, text: &str) -> Result<usize, String> {
    let mut days: BTreeMap<(String, NaiveDate), (Decimal, u32)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [_, id, date, cds, dollars] = fields[..] else {
            return Err(format!(
                "line {}: expected 5 fields, found {}",
                i + 1,
                fields.len()
            ));
        };
        let date = NaiveDate::parse_from_str(date, "%Y%m%d")
            .map_err(|e| format!("line {}: date: {e}", i + 1))?;
        let cds: u32 = cds
            .parse()
            .map_err(|e| format!("line {}: CDs: {e}", i + 1))?;
        let amount: Decimal = dollars
            .parse()
            .map_err(|e| format!("line {}: dollars: {e}", i + 1))?;
        let amount = amount
            .rescale(2)
            .ok_or_else(|| format!("line {}: dollars: not a cent amount", i + 1))?;
        // The file pads ids ("0001"); the summary file and people write "1".
        let id = match id.trim_start_matches('0') {
            "" => "0",
            trimmed => trimmed,
        };
        let entry = days
            .entry((id.to_owned(), date))
            .or_insert((Decimal::default(), 0));
        let sum = entry.0.rescale(2).map(|d| d.units()).unwrap_or(0) + amount.units();
        entry.0 = Decimal::new(sum, 2).ok_or("amount overflow")?;
        entry.1 += cds;
    }
    let mut streams: BTreeMap<CustomerId, Vec<NewEvent>> = BTreeMap::new();
    for ((id, date), (amount, cds)) in &days {
        let mut p = Purchase::new(format!("cdnow-{id}-{date}"), *amount, Currency::USD);
        p.quantity = (*cds > 0).then_some(*cds);
        p.category = Some("cd".into());
        p.channel = Some(Channel::Web);
        let at = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).ok_or("bad date")?);
        let event =
            NewEvent::new(at, p).with_id(EventId::derived(format!("cdnow/{id}/{date}").as_bytes()));
        streams
            .entry(CustomerId::from_external("cdnow", id))
            .or_default()
            .push(event);
    }
    let batch: Vec<_> = streams
        .into_iter()
        .map(|(c, e)| (c, ExpectedVersion::Any, e))
        .collect();
    for chunk in batch.chunks(500) {
        store
            .append_batch_with(chunk.to_vec(), Durability::Buffered)
            .map_err(|e| e.to_string())?;
    }
    store.sync().map_err(|e| e.to_string())?;
    Ok(days.len())
}
