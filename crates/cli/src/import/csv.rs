//! CSV: a header row, then one event per row. Columns are named like the JSON
//! Lines fields (`customer`, `occurred_at`, `kind`, `amount`, …, and
//! `metadata.source`-style columns for metadata); `--map column=field` renames
//! a column and `--map column=-` ignores it. Empty cells are absent fields.
//! Lists (`policy_numbers`, `external_ids`) are `;`-separated, maps
//! (`segment`) are `key=value;key=value`; other types are coerced from text
//! according to the field (numbers, `true`/`false`, dates). Amounts stay text
//! until the exact decimal parser reads them. Lines end with `\n` or `\r\n`;
//! blank lines (also of only spaces or commas) are skipped, before the
//! header too.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;

use serde_json::{Map, Number, Value};

use super::fields::{self, FieldType};
use super::record::{to_event, RecordContext};
use super::{EventSource, ImportError, LineError, ParsedEvent, ReadError};

/// Where a column goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `customer`, `occurred_at`, `kind`, `event_id`, `customer_id`.
    Envelope(String),
    /// `metadata.<name>`.
    Metadata(String),
    /// A payload field (typed by the row's kind).
    Payload(String),
    /// Ignored (`--map column=-`, or a field the log assigns such as `position`).
    Ignore,
}

/// Parses `--map` arguments (`column=field`) into a rename table.
pub fn parse_maps(maps: &[String]) -> Result<BTreeMap<String, String>, ImportError> {
    let mut out = BTreeMap::new();
    for m in maps {
        let Some((column, field)) = m.split_once('=') else {
            return Err(ImportError::Map(format!(
                "--map {m:?} is not of the form column=field"
            )));
        };
        let (column, field) = (column.trim(), field.trim());
        if column.is_empty() || field.is_empty() {
            return Err(ImportError::Map(format!(
                "--map {m:?}: both the column and the field must be named"
            )));
        }
        if field != "-" && target_of(field).is_none() {
            return Err(ImportError::Map(format!(
                "--map {m:?}: `{field}` is not an event field (see docs/events.md)"
            )));
        }
        if out.insert(column.to_owned(), field.to_owned()).is_some() {
            return Err(ImportError::Map(format!(
                "--map names column `{column}` twice"
            )));
        }
    }
    Ok(out)
}

fn target_of(field: &str) -> Option<Target> {
    if field == "-" || fields::ASSIGNED_BY_LOG.contains(&field) {
        return Some(Target::Ignore);
    }
    if fields::ENVELOPE.contains(&field) && field != "metadata" || field == "customer_id" {
        return Some(Target::Envelope(field.to_owned()));
    }
    if let Some(name) = field.strip_prefix("metadata.") {
        return fields::METADATA
            .contains(&name)
            .then(|| Target::Metadata(name.to_owned()));
    }
    fields::is_any_payload_field(field).then(|| Target::Payload(field.to_owned()))
}

/// Coerces one CSV cell to the JSON value of a field of type `ty`.
pub fn coerce(line: u64, name: &str, ty: FieldType, text: &str) -> Result<Value, LineError> {
    let wrong = || {
        LineError::field(
            line,
            name,
            format!("expected {}, got {text:?}", ty.describe()),
        )
    };
    Ok(match ty {
        FieldType::Text
        | FieldType::Word
        | FieldType::OneOf(_)
        | FieldType::Decimal
        | FieldType::Currency
        | FieldType::Date => Value::String(text.to_owned()),
        FieldType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "no" | "n" | "0" => Value::Bool(false),
            _ => return Err(wrong()),
        },
        FieldType::Rating | FieldType::Count => {
            Value::Number(text.parse::<u64>().map_err(|_| wrong())?.into())
        }
        FieldType::Number => {
            let n: f64 = text.parse().map_err(|_| wrong())?;
            Value::Number(Number::from_f64(n).ok_or_else(wrong)?)
        }
        FieldType::List => Value::Array(
            text.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        FieldType::Map => {
            let mut map = Map::new();
            for pair in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(wrong)?;
                map.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
            }
            Value::Object(map)
        }
    })
}

/// A reader that notes where its newlines are. The csv crate gives a record
/// the position where it started looking for it, before the empty lines it
/// skips: [`Newlines::line_at`] adds those back.
struct Newlines<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Offsets of the newlines read and not yet passed.
    newlines: RefCell<VecDeque<u64>>,
    /// Newlines read in all.
    newline_count: u64,
    /// The last byte read.
    last: Option<u8>,
}

impl<R> Newlines<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            newlines: RefCell::new(VecDeque::new()),
            newline_count: 0,
            last: None,
        }
    }

    /// Lines read so far: the newlines, and a last line without one.
    fn lines(&self) -> u64 {
        self.newline_count + u64::from(self.last.is_some_and(|b| b != b'\n'))
    }

    /// The line of a record the csv crate places at (`byte`, `line`): one
    /// more for each newline right from `byte` on (an empty line it skipped;
    /// a record never starts with a newline). Forgets newlines before `byte`.
    fn line_at(&self, byte: u64, line: u64) -> u64 {
        let Ok(mut newlines) = self.newlines.try_borrow_mut() else {
            return line;
        };
        while newlines.front().is_some_and(|&n| n < byte) {
            newlines.pop_front();
        }
        let skipped = newlines
            .iter()
            .zip(byte..)
            .take_while(|(n, b)| **n == *b)
            .count();
        line.saturating_add(skipped as u64)
    }
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = buf.get(..n).unwrap_or(buf);
        if let Ok(mut newlines) = self.newlines.try_borrow_mut() {
            let offset = self.offset;
            newlines.extend(
                data.iter()
                    .zip(offset..)
                    .filter(|(b, _)| **b == b'\n')
                    .map(|(_, at)| at),
            );
        }
        self.offset = self.offset.saturating_add(data.len() as u64);
        self.newline_count = self
            .newline_count
            .saturating_add(data.iter().filter(|&&b| b == b'\n').count() as u64);
        if let Some(&b) = data.last() {
            self.last = Some(b);
        }
        Ok(n)
    }
}

/// Events from a CSV reader.
pub struct CsvSource<R> {
    reader: csv::Reader<Newlines<R>>,
    targets: Vec<Target>,
    ctx: RecordContext,
    record: csv::StringRecord,
    line: u64,
    bytes: u64,
}

impl<R: Read> CsvSource<R> {
    /// Reads the header and checks every column maps to a field.
    pub fn new(
        reader: R,
        maps: &BTreeMap<String, String>,
        ctx: RecordContext,
    ) -> Result<Self, ImportError> {
        // Records end at `\n` only. The csv crate's default (CRLF) terminator
        // reports a record after a `\r\n` on the line before (rust-csv#395),
        // and takes a bare `\r` as a record end without counting a line. The
        // `\r` of a `\r\n` stays in the last cell, which is trimmed like all
        // cells. Row lengths and blank rows are checked here (`flexible`),
        // so that a blank line is skipped whatever its terminator.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(Newlines::new(reader));
        let mut headers = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut headers) {
                Ok(true) if headers.iter().all(|c| c.trim().is_empty()) => continue,
                Ok(true) => break,
                Ok(false) => {
                    headers.clear();
                    break;
                }
                Err(e) => {
                    return Err(ImportError::Header(format!(
                        "cannot read the header row: {e}"
                    )))
                }
            }
        }
        let header_line = headers
            .position()
            .map_or(1, |p| reader.get_ref().line_at(p.byte(), p.line()));
        let mut targets = Vec::with_capacity(headers.len());
        let mut seen = BTreeMap::new();
        for header in headers.iter() {
            let column = header.trim();
            let field = maps.get(column).map(String::as_str).unwrap_or(column);
            let target = target_of(field).ok_or_else(|| {
                ImportError::Header(format!(
                    "line {header_line}: column `{column}` is not an event field (rename it with --map {column}=FIELD, or ignore it with --map {column}=-)"
                ))
            })?;
            if target != Target::Ignore {
                if let Some(previous) = seen.insert(field.to_owned(), column.to_owned()) {
                    return Err(ImportError::Header(format!(
                        "line {header_line}: columns `{previous}` and `{column}` both give field `{field}`"
                    )));
                }
            }
            targets.push(target);
        }
        for column in maps.keys() {
            if !headers.iter().any(|h| h.trim() == column) {
                return Err(ImportError::Map(format!(
                    "--map names column `{column}`, which the header row does not have"
                )));
            }
        }
        for required in ["customer", "occurred_at", "kind"] {
            let has = seen.contains_key(required)
                || (required == "customer" && seen.contains_key("customer_id"));
            if !has {
                return Err(ImportError::Header(format!(
                    "line {header_line}: no column gives field `{required}` (name a column so, or use --map COLUMN={required})"
                )));
            }
        }
        Ok(Self {
            reader,
            targets,
            ctx,
            record: csv::StringRecord::new(),
            line: header_line,
            bytes: headers.position().map_or(0, |p| p.byte()),
        })
    }

    fn convert(&self, line: u64) -> Result<ParsedEvent, LineError> {
        let cells = || {
            self.targets
                .iter()
                .zip(self.record.iter())
                .map(|(t, c)| (t, c.trim()))
                .filter(|(_, c)| !c.is_empty())
        };
        let kind = cells()
            .find(|(t, _)| matches!(t, Target::Envelope(f) if f == "kind"))
            .map(|(_, c)| c.to_owned());
        let mut record = Map::new();
        let mut metadata = Map::new();
        for (target, cell) in cells() {
            match target {
                Target::Envelope(f) => {
                    record.insert(f.clone(), Value::String(cell.to_owned()));
                }
                Target::Metadata(f) => {
                    metadata.insert(f.clone(), Value::String(cell.to_owned()));
                }
                Target::Payload(f) => {
                    let value = match kind.as_deref().map(|k| (k, fields::kind_fields(k))) {
                        Some((k, Some(_))) => match fields::field(k, f) {
                            Some(field) => coerce(line, f, field.ty, cell)?,
                            None => {
                                return Err(LineError::field(
                                    line,
                                    f,
                                    format!("not a field of kind `{k}` (leave the cell empty)"),
                                ))
                            }
                        },
                        // Unknown or missing kind: the record check reports it.
                        _ => Value::String(cell.to_owned()),
                    };
                    record.insert(f.clone(), value);
                }
                Target::Ignore => {}
            }
        }
        if !metadata.is_empty() {
            record.insert("metadata".into(), Value::Object(metadata));
        }
        to_event(line, record, &self.ctx)
    }
}

impl<R: Read> EventSource for CsvSource<R> {
    fn next_event(&mut self) -> Option<Result<ParsedEvent, ReadError>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    // Every line of the file, trailing blank ones included.
                    self.line = self.line.max(self.reader.get_ref().lines());
                    return None;
                }
                Ok(true) => {
                    let position = self.record.position().cloned();
                    if let Some(p) = position {
                        self.line = self.reader.get_ref().line_at(p.byte(), p.line());
                        self.bytes = p.byte();
                    }
                    if self.record.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    if self.record.len() != self.targets.len() {
                        return Some(Err(ReadError::Line(LineError::general(
                            self.line,
                            format!(
                                "{} cells, the header has {}",
                                self.record.len(),
                                self.targets.len()
                            ),
                        ))));
                    }
                    return Some(self.convert(self.line).map_err(ReadError::Line));
                }
                Err(e) => {
                    let line = match e.position() {
                        Some(p) => self.reader.get_ref().line_at(p.byte(), p.line()),
                        None => self.line + 1,
                    };
                    self.line = line;
                    return Some(Err(match e.kind() {
                        csv::ErrorKind::Io(_) => ReadError::Io(e.to_string()),
                        csv::ErrorKind::Utf8 { err, .. } => ReadError::Line(LineError::general(
                            line,
                            format!(
                                "not UTF-8 text (cell {}); save the file as UTF-8",
                                err.field() + 1
                            ),
                        )),
                        _ => ReadError::Line(LineError::general(line, e.to_string())),
                    }));
                }
            }
        }
    }

    fn lines_read(&self) -> u64 {
        self.line
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clientele_core::EventPayload;

    fn read(text: &str, maps: &[&str]) -> Result<Vec<Result<ParsedEvent, ReadError>>, ImportError> {
        let maps: Vec<String> = maps.iter().map(|s| s.to_string()).collect();
        let maps = parse_maps(&maps)?;
        let mut source = CsvSource::new(text.as_bytes(), &maps, RecordContext::new("csv"))?;
        let mut out = Vec::new();
        while let Some(item) = source.next_event() {
            out.push(item);
        }
        Ok(out)
    }

    fn line_error(item: &Result<ParsedEvent, ReadError>) -> &LineError {
        match item {
            Err(ReadError::Line(e)) => e,
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn maps_columns_and_coerces_types() {
        let text =
            "client,when,kind,order_id,amount,currency,quantity,renewal,policy_numbers,notes\n\
                    C-1,2024-05-01T10:00:00Z,purchase,A-1,165.5,CNY,2,yes,,whatever\n\
                    C-1,2024-05-02,profile,,,,,,P-1; P-2,\n";
        let items = read(text, &["client=customer", "when=occurred_at", "notes=-"]).unwrap();
        assert_eq!(items.len(), 2);
        let Ok(first) = &items[0] else {
            panic!("{:?}", items[0])
        };
        assert_eq!(first.line, 2);
        assert_eq!(first.external_id.as_deref(), Some("C-1"));
        let EventPayload::Purchase(p) = &first.event.payload else {
            panic!()
        };
        assert_eq!(
            (p.amount.units(), p.quantity, p.renewal),
            (16550, Some(2), true)
        );
        let Ok(second) = &items[1] else {
            panic!("{:?}", items[1])
        };
        let EventPayload::Profile(p) = &second.event.payload else {
            panic!()
        };
        assert_eq!(p.policy_numbers, vec!["P-1", "P-2"]);
    }

    /// The summary's "lines read" counts every line of the file, trailing
    /// blank ones and a last line without a newline included.
    #[test]
    fn every_line_is_counted() {
        let count = |text: &str| {
            let mut source =
                CsvSource::new(text.as_bytes(), &BTreeMap::new(), RecordContext::new("csv"))
                    .unwrap();
            while source.next_event().is_some() {}
            source.lines_read()
        };
        let header = "customer,occurred_at,kind,order_id,amount,currency\n";
        let row = "c,2024-05-01,purchase,A,1.00,CNY";
        assert_eq!(count(&format!("{header}{row}\n{row}\n")), 3);
        assert_eq!(count(&format!("{header}{row}\n{row}\n\n\n")), 5);
        assert_eq!(count(&format!("{header}{row}\r\n\r\n{row}")), 4);
        assert_eq!(count(header), 1);
    }

    #[test]
    fn bad_cells_name_line_and_field() {
        let text = "customer,occurred_at,kind,order_id,amount,currency,quantity\n\
                    c,2024-05-01,purchase,A,1e3,CNY,\n\
                    c,2024-05-01,purchase,A,1,CNY,two\n\
                    c,2024-05-01,churn,A,,,\n\
                    c,2024-05-01,purchase,A,0.1\n";
        let items = read(text, &[]).unwrap();
        let e = line_error(&items[0]);
        assert_eq!((e.line, e.field.as_deref()), (2, Some("amount")));
        let e = line_error(&items[1]);
        assert_eq!((e.line, e.field.as_deref()), (3, Some("quantity")));
        let e = line_error(&items[2]);
        assert_eq!((e.line, e.field.as_deref()), (4, Some("order_id")));
        let e = line_error(&items[3]);
        assert_eq!(e.line, 5);
        assert!(e.to_string().contains("cells"), "{e}");
    }

    /// Found by tests/import_properties.rs: with CRLF line ends the csv
    /// crate gave each record after the first the line of the record before
    /// (rust-csv#395), a bare `\r` ended a record without counting a line,
    /// a line of spaces was "1 cells, the header has 6" instead of blank,
    /// and a record after empty lines got the line of the first empty one.
    #[test]
    fn line_numbers_hold_with_crlf_bare_cr_and_blank_lines() {
        let row = "c,2024-05-01,churn,gone";
        let text = format!(
            "\r\ncustomer,occurred_at,kind,reason\r\n{row}\r\n{row}\r\n\r\n   \r\n , ,,\r\n{row}\n\"x\ry\",2024-05-01,churn,gone\r\nc,x\r,churn,gone\r\n"
        );
        let items = read(&text, &[]).unwrap();
        let lines: Vec<(u64, bool)> = items
            .iter()
            .map(|i| match i {
                Ok(p) => (p.line, true),
                Err(ReadError::Line(e)) => (e.line, false),
                Err(ReadError::Io(e)) => panic!("{e}"),
            })
            .collect();
        assert_eq!(
            lines,
            vec![(3, true), (4, true), (8, true), (9, true), (10, false)],
            "{items:?}"
        );
        let Ok(quoted) = &items[3] else { panic!() };
        assert_eq!(quoted.external_id.as_deref(), Some("x\ry"));
        // Empty lines (which the csv crate skips without saying) before the
        // header and between rows.
        let text = format!(
            "\n\ncustomer,occurred_at,kind,reason\n\n{row}\n\n\n{row}\n\nc,2024-05-01,churn\n"
        );
        let items = read(&text, &[]).unwrap();
        let lines: Vec<u64> = items
            .iter()
            .map(|i| match i {
                Ok(p) => p.line,
                Err(ReadError::Line(e)) => e.line,
                Err(ReadError::Io(e)) => panic!("{e}"),
            })
            .collect();
        assert_eq!(lines, vec![5, 8, 10], "{items:?}");
        let e = read("\n\ncustomer,occurred_at,kind,colour\n", &[])
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("line 3:"), "{e}");
    }

    #[test]
    fn header_problems_are_reported() {
        let e = read("customer,occurred_at,kind,colour\n", &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = read("customer,kind\n", &[]).err().unwrap();
        assert!(e.to_string().contains("occurred_at"), "{e}");
        let e = read("customer,occurred_at,kind\n", &["nope=amount"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(parse_maps(&["a".into()]).is_err());
        assert!(parse_maps(&["a=b".into()]).is_err());
        assert!(parse_maps(&["a=amount".into(), "a=currency".into()]).is_err());
    }
}
