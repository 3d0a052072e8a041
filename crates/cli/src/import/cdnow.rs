//! The CDNOW purchase log (Fader, Hardie & Lee 2005): whitespace-separated
//! `master_id sample_id yyyymmdd cds dollars` per line.
//!
//! * The customer's external id is the **sample id** (second column) without
//!   leading zeros (`0001` → `1`, as in `cdnow_sample_summary.csv`).
//! * All purchases of one customer on one day are **one transaction** (the
//!   papers' convention): dollars summed exactly as decimals, CDs summed as
//!   the quantity. Currency USD, category `cd`, `occurred_at` the day at
//!   00:00 UTC, `order_id` `cdnow-<id>-<yyyymmdd>`, and an event id derived
//!   from (source, id, day): re-importing finds the stored events.
//! * Each line is checked as the store will check its purchase (the date
//!   `yyyymmdd`, eight digits, from 1900 to tomorrow; the amount within range
//!   in cents), so a value the store would refuse is an error on its line.
//! * A bad line drops its whole (customer, day) transaction — a partial sum
//!   would be a different event on the next, corrected import.
//!
//! A byte order mark at the start of the file is skipped. The file is small
//! (the full CDNOW log is 69,659 lines), so it is read whole and aggregated
//! in memory.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::NaiveDate;
use clientele_core::event::Purchase;
use clientele_core::{Currency, CustomerId, Decimal, EventId, Metadata, NewEvent};

use super::record::RecordContext;
use super::{not_utf8, strip_bom, EventSource, LineError, ParsedEvent, ReadError};

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnowLine {
    /// The sample id without leading zeros.
    pub customer: String,
    /// The day.
    pub date: NaiveDate,
    /// Number of CDs.
    pub cds: u32,
    /// Dollars, exact.
    pub dollars: Decimal,
}

/// Parses one line (1-based `line` for errors); `None` for a blank line.
pub fn parse_line(line: u64, text: &str) -> Result<Option<CdnowLine>, LineError> {
    let cols: Vec<&str> = text.split_whitespace().collect();
    if cols.is_empty() {
        return Ok(None);
    }
    if cols.len() != 5 {
        return Err(LineError::general(
            line,
            format!(
                "{} columns, expected 5 (master id, sample id, yyyymmdd, CDs, dollars)",
                cols.len()
            ),
        ));
    }
    if !cols[0].bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::general(
            line,
            format!(
                "master id {:?} is not a number (columns: master id, sample id, yyyymmdd, CDs, dollars)",
                cols[0]
            ),
        ));
    }
    let id = cols[1];
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::field(
            line,
            "customer",
            format!("sample id {id:?} is not a number"),
        ));
    }
    let trimmed = id.trim_start_matches('0');
    let customer = if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
    let date = parse_date(cols[2]).ok_or_else(|| {
        LineError::field(
            line,
            "occurred_at",
            format!("{:?} is not a date yyyymmdd", cols[2]),
        )
    })?;
    let cds: u32 = cols[3].parse().map_err(|_| {
        LineError::field(
            line,
            "quantity",
            format!("{:?} is not a whole number of CDs", cols[3]),
        )
    })?;
    let dollars: Decimal = cols[4]
        .parse()
        .map_err(|e| LineError::field(line, "amount", format!("{e}")))?;
    if dollars.is_negative() {
        return Err(LineError::field(
            line,
            "amount",
            format!("{dollars} is negative"),
        ));
    }
    if dollars.scale() > 2 {
        return Err(LineError::field(
            line,
            "amount",
            format!("{dollars} has more than 2 decimal places for USD"),
        ));
    }
    Ok(Some(CdnowLine {
        customer,
        date,
        cds,
        dollars,
    }))
}

/// A `yyyymmdd` date: exactly eight ASCII digits (chrono alone also takes
/// `2024061` or `+19970101`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y%m%d").ok()
}

/// Checks a line's purchase as the store will (dates from 1900 to now, the
/// amount in cents within range), so the error names the line and field.
fn validate(line: u64, l: &CdnowLine, ctx: &RecordContext) -> Result<(), LineError> {
    let mut event = purchase_event(&ctx.source, &l.customer, l.date, l.cds, l.dollars);
    ctx.policy
        .check(&mut event, ctx.now)
        .map_err(|e| LineError::field(line, &e.field, e.reason))
}

/// Exact sum of two decimals of scale ≤ 2.
fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    let (a, b) = (a.rescale(2)?, b.rescale(2)?);
    Decimal::new(a.units().checked_add(b.units())?, 2)
}

/// One (customer, day) transaction being summed.
#[derive(Debug)]
struct Day {
    first_line: u64,
    lines: u64,
    cds: u32,
    dollars: Decimal,
    broken: bool,
}

/// The purchase event of one customer-day.
pub fn purchase_event(
    source: &str,
    customer: &str,
    date: NaiveDate,
    cds: u32,
    dollars: Decimal,
) -> NewEvent {
    let day = date.format("%Y%m%d").to_string();
    let mut purchase = Purchase::new(format!("cdnow-{customer}-{day}"), dollars, Currency::USD);
    purchase.category = Some("cd".into());
    purchase.quantity = (cds > 0).then_some(cds);
    let occurred_at = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default();
    let id = EventId::derived(format!("clientele-cdnow\0{source}\0{customer}\0{day}").as_bytes());
    NewEvent {
        event_id: id,
        occurred_at,
        metadata: Metadata {
            source: Some(format!("import:{source}")),
            ..Metadata::default()
        },
        payload: purchase.into(),
    }
}

/// Events from a CDNOW file, one per customer-day, in order of first appearance.
pub struct CdnowSource {
    items: std::vec::IntoIter<Result<ParsedEvent, ReadError>>,
    lines: u64,
    bytes: u64,
}

impl CdnowSource {
    /// Reads and aggregates the whole file.
    pub fn new<R: BufRead>(mut reader: R, ctx: &RecordContext) -> Self {
        let mut order: Vec<(String, NaiveDate)> = Vec::new();
        let mut days: HashMap<(String, NaiveDate), Day> = HashMap::new();
        let mut errors: Vec<(u64, Result<ParsedEvent, ReadError>)> = Vec::new();
        let mut broken: Vec<(String, NaiveDate)> = Vec::new();
        let mut raw = Vec::new();
        let mut line = 0u64;
        let mut bytes = 0u64;
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) => break,
                Ok(n) => {
                    line += 1;
                    bytes += n as u64;
                }
                Err(e) => {
                    errors.push((
                        line + 1,
                        Err(ReadError::Io(format!("line {}: {e}", line + 1))),
                    ));
                    break;
                }
            }
            let buffer = match std::str::from_utf8(&raw) {
                Ok(text) if line == 1 => strip_bom(text),
                Ok(text) => text,
                Err(e) => {
                    errors.push((line, Err(ReadError::Line(not_utf8(line, &e)))));
                    continue;
                }
            };
            let parsed = parse_line(line, buffer)
                .and_then(|l| l.map(|l| validate(line, &l, ctx).map(|()| l)).transpose());
            match parsed {
                Ok(None) => {}
                Ok(Some(l)) => {
                    let key = (l.customer.clone(), l.date);
                    match days.get_mut(&key) {
                        Some(day) => {
                            day.lines += 1;
                            if day.broken {
                                // Dropped anyway: its totals no longer matter.
                                continue;
                            }
                            let total =
                                match (day.cds.checked_add(l.cds), add(day.dollars, l.dollars)) {
                                    (Some(cds), Some(dollars)) => Ok((cds, dollars)),
                                    (None, _) => Err(LineError::field(
                                        line,
                                        "quantity",
                                        "the day's total number of CDs is out of range",
                                    )),
                                    (_, None) => Err(LineError::field(
                                        line,
                                        "amount",
                                        "the day's total is out of range",
                                    )),
                                };
                            match total {
                                Ok((cds, dollars)) => {
                                    day.cds = cds;
                                    day.dollars = dollars;
                                }
                                Err(e) => {
                                    day.broken = true;
                                    errors.push((line, Err(ReadError::Line(e))));
                                }
                            }
                        }
                        None => {
                            order.push(key.clone());
                            days.insert(
                                key,
                                Day {
                                    first_line: line,
                                    lines: 1,
                                    cds: l.cds,
                                    dollars: l.dollars,
                                    broken: false,
                                },
                            );
                        }
                    }
                }
                Err(e) => {
                    if let Some(key) = key_of_bad_line(buffer) {
                        broken.push(key);
                    }
                    errors.push((line, Err(ReadError::Line(e))));
                }
            }
        }
        // A bad line breaks its customer-day when its id and date are readable.
        for key in broken {
            if let Some(day) = days.get_mut(&key) {
                day.broken = true;
            }
        }
        let mut items: Vec<(u64, Result<ParsedEvent, ReadError>)> = errors;
        for key in order {
            let Some(day) = days.remove(&key) else {
                continue;
            };
            let (customer, date) = key;
            if day.broken {
                items.push((
                    day.first_line,
                    Err(ReadError::Line(LineError::general(
                        day.first_line,
                        format!(
                            "customer {customer} on {date}: transaction of {} line(s) skipped because one of its lines is bad",
                            day.lines
                        ),
                    ))),
                ));
                continue;
            }
            let mut event = purchase_event(&ctx.source, &customer, date, day.cds, day.dollars);
            // The day's total is checked (and normalised, as the store will
            // store it) too: each line passing does not make the sum pass.
            let item = match ctx.policy.check(&mut event, ctx.now) {
                Ok(()) => Ok(ParsedEvent {
                    line: day.first_line,
                    customer: CustomerId::from_external(&ctx.source, &customer),
                    external_id: Some(customer),
                    event,
                }),
                Err(e) => Err(ReadError::Line(LineError::field(
                    day.first_line,
                    &e.field,
                    format!(
                        "customer {customer} on {date}, the day's total of {} line(s): {}",
                        day.lines, e.reason
                    ),
                ))),
            };
            items.push((day.first_line, item));
        }
        items.sort_by_key(|(line, _)| *line);
        Self {
            items: items
                .into_iter()
                .map(|(_, item)| item)
                .collect::<Vec<_>>()
                .into_iter(),
            lines: line,
            bytes,
        }
    }
}

/// The (customer, day) a bad line belongs to, when its id and date parse.
fn key_of_bad_line(text: &str) -> Option<(String, NaiveDate)> {
    let cols: Vec<&str> = text.split_whitespace().collect();
    let id = cols.get(1)?;
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = id.trim_start_matches('0');
    let customer = if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
    let date = parse_date(cols.get(2)?)?;
    Some((customer, date))
}

impl EventSource for CdnowSource {
    fn next_event(&mut self) -> Option<Result<ParsedEvent, ReadError>> {
        self.items.next()
    }

    fn lines_read(&self) -> u64 {
        self.lines
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clientele_core::EventPayload;

    fn collect(text: &str) -> Vec<Result<ParsedEvent, ReadError>> {
        let mut source = CdnowSource::new(text.as_bytes(), &RecordContext::new("cdnow"));
        let mut out = Vec::new();
        while let Some(item) = source.next_event() {
            out.push(item);
        }
        out
    }

    #[test]
    fn parses_columns_and_strips_leading_zeros() {
        let l = parse_line(1, " 00004 0001 19970101  2   29.33\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(l.customer, "1");
        assert_eq!(l.date, NaiveDate::from_ymd_opt(1997, 1, 1).unwrap());
        assert_eq!((l.cds, l.dollars.units(), l.dollars.scale()), (2, 2933, 2));
        assert_eq!(parse_line(2, "   \r\n").unwrap(), None);
    }

    #[test]
    fn bad_lines_name_the_field() {
        let cases = [
            ("1 1 19971301 1 2.00", "occurred_at"),
            ("1 1 19970101 x 2.00", "quantity"),
            ("1 1 19970101 1 2e3", "amount"),
            ("1 1 19970101 1 -2.00", "amount"),
            ("1 1 19970101 1 2.001", "amount"),
            ("1 a 19970101 1 2.00", "customer"),
        ];
        for (text, field) in cases {
            let e = parse_line(5, text).unwrap_err();
            assert_eq!((e.line, e.field.as_deref()), (5, Some(field)), "{text}");
        }
        assert!(parse_line(5, "1 1 19970101 1").unwrap_err().field.is_none());
    }

    /// Found by tests/import_properties.rs: the master id column was never
    /// looked at, so ` x1  003  20051009  0  0` (a garbled or shifted line)
    /// was imported as customer 3.
    #[test]
    fn the_master_id_must_be_a_number() {
        let e = parse_line(4, " x1  003  20051009  0  0").unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (4, None));
        assert!(e.reason.contains("master id"), "{e}");
        // The line's customer-day goes with it.
        let items = collect("1 3 20051009 1 1.00\nx1 3 20051009 1 1.00\n");
        assert!(items.iter().all(Result::is_err), "{items:?}");
    }

    #[test]
    fn same_day_purchases_are_one_exact_transaction() {
        let items = collect(
            " 1 0007 19970101 1 0.10\n 1 0007 19970101 2 0.20\n 1 0007 19970102 1 5.00\n 2 0008 19970101 1 1\n",
        );
        assert_eq!(items.len(), 3);
        let Ok(first) = &items[0] else { panic!() };
        assert_eq!(first.external_id.as_deref(), Some("7"));
        let EventPayload::Purchase(p) = &first.event.payload else {
            panic!()
        };
        assert_eq!((p.amount.units(), p.amount.scale()), (30, 2));
        assert_eq!(p.quantity, Some(3));
        assert_eq!(p.order_id, "cdnow-7-19970101");
        assert_eq!(p.currency, Currency::USD);
        let again = collect(" 1 0007 19970101 1 0.10\n 1 0007 19970101 2 0.20\n");
        let Ok(same) = &again[0] else { panic!() };
        assert_eq!(same.event.event_id, first.event.event_id);
    }

    /// Found by the fuzz crate's `import_cdnow` contract: a whole-dollar
    /// day (`1`) was yielded as 1 with scale 0, while the store keeps it as
    /// 1.00 (validation normalises to the currency's cents). The importer
    /// now yields the event as the store will hold it.
    #[test]
    fn a_days_total_is_yielded_as_the_store_keeps_it() {
        let items = collect("1 0009 19970802 1 1\n1 0009 19970803 2 10.5\n");
        let amounts: Vec<(i64, u8)> = items
            .iter()
            .map(|item| match item {
                Ok(ParsedEvent { event, .. }) => match &event.payload {
                    EventPayload::Purchase(p) => (p.amount.units(), p.amount.scale()),
                    other => panic!("{other:?}"),
                },
                Err(e) => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(amounts, [(100, 2), (1050, 2)]);
    }

    /// Found by tests/import_properties.rs: chrono took a 7-digit date
    /// (`0004118` → 0004-11-08) and dates or amounts the store refuses were
    /// parsed, so the refusal came late (at append) or not per line.
    #[test]
    fn dates_are_eight_digits_and_lines_are_checked_as_the_store_will() {
        for text in [
            "1 1 2024061 1 2.00",
            "1 1 +1997010 1 2.00",
            "1 1 19970101x 1 2",
        ] {
            let e = parse_line(3, text).unwrap_err();
            assert_eq!(
                (e.line, e.field.as_deref()),
                (3, Some("occurred_at")),
                "{text}"
            );
        }
        let cases = [
            ("0 1 0004118 0 0\n", "occurred_at"),
            ("1 1 00000101 1 1.00\n", "occurred_at"),
            ("1 1 18991231 1 1.00\n", "occurred_at"),
            ("1 1 99991231 1 1.00\n", "occurred_at"),
            ("1 1 19970101 1 922337203685477580\n", "amount"),
        ];
        for (text, field) in cases {
            let items = collect(&format!("\n{text}"));
            assert_eq!(items.len(), 1, "{text}: {items:?}");
            let Err(ReadError::Line(e)) = &items[0] else {
                panic!("{text}: {items:?}")
            };
            assert_eq!(
                (e.line, e.field.as_deref()),
                (2, Some(field)),
                "{text}: {e}"
            );
        }
        // The line's customer-day is dropped with it.
        let items = collect("1 1 19970101 1 1.00\n1 1 19970101 1 922337203685477580\n");
        assert!(items.iter().all(Result::is_err), "{items:?}");
    }

    /// Found by tests/import_properties.rs: a day's CDs were summed with
    /// saturating_add, so 2147483647 + 5 + 2147483647 CDs became a purchase
    /// of 4294967295 CDs, silently.
    #[test]
    fn a_days_totals_out_of_range_are_errors() {
        let items = collect(
            " 59  51  19870326  2147483647  5.40\n1 51 19870326 5 1.00\n93 51 19870326 2147483647 1.10\n",
        );
        let errors: Vec<(u64, Option<&str>)> = items
            .iter()
            .map(|i| match i {
                Err(ReadError::Line(e)) => (e.line, e.field.as_deref()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(errors, vec![(1, None), (3, Some("quantity"))]);
        // Dollars likewise, reported once for the day.
        let items = collect(
            "1 7 19970101 1 92233720368547758.00\n1 7 19970101 1 1.00\n1 7 19970101 1 1.00\n",
        );
        let errors: Vec<(u64, Option<&str>)> = items
            .iter()
            .filter_map(|i| match i {
                Err(ReadError::Line(e)) => Some((e.line, e.field.as_deref())),
                _ => None,
            })
            .collect();
        assert_eq!(errors, vec![(1, None), (2, Some("amount"))], "{items:?}");
        assert_eq!(items.len(), 2);
    }

    /// Found by tests/import_properties.rs: a UTF-8 byte order mark made
    /// line 1 a sixth column (` 1 0001 …`) or part of the master id.
    #[test]
    fn a_byte_order_mark_is_skipped() {
        for text in [
            "\u{feff} 1 0001 19970101 1 1.00\n",
            "\u{feff}1 0001 19970101 1 1.00\n",
        ] {
            let items = collect(text);
            assert!(
                matches!(&items[..], [Ok(p)] if p.line == 1),
                "{text:?}: {items:?}"
            );
        }
    }

    /// Found by tests/import_properties.rs: a line that is not UTF-8 ended
    /// the read with an I/O error (dropping every later line) although it is
    /// one bad line like any other.
    #[test]
    fn a_line_that_is_not_utf8_is_one_bad_line() {
        let text = b"1 1 19970101 1 1.00\n\x80 1 19970102 1 1.00\n2 2 19970101 1 1.00\n";
        let mut source = CdnowSource::new(&text[..], &RecordContext::new("cdnow"));
        let mut items = Vec::new();
        while let Some(item) = source.next_event() {
            items.push(item);
        }
        assert_eq!(items.len(), 3, "{items:?}");
        let Err(ReadError::Line(e)) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!((e.line, e.field.as_deref()), (2, None));
        assert!(matches!(&items[2], Ok(p) if p.line == 3), "{items:?}");
        assert_eq!(source.lines_read(), 3);
    }

    #[test]
    fn a_bad_line_drops_its_whole_day() {
        let items =
            collect(" 1 0007 19970101 1 0.10\n 1 0007 19970101 x 0.20\n 1 0007 19970102 1 1.00\n");
        let errors = items.iter().filter(|i| i.is_err()).count();
        let oks = items.iter().filter(|i| i.is_ok()).count();
        assert_eq!((errors, oks), (2, 1));
    }
}
