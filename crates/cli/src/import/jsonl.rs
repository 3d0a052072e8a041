//! JSON Lines: one event per line, fields as in `docs/events.md` plus the
//! envelope (`customer`, `occurred_at`, optional `event_id` and `metadata`).
//! Amounts are read exactly (as [`clientele_core::json::exact_decimals`]
//! does), never through `f64`, in one pass over the line. A key given twice
//! in one object is an error (JSON parsers differ on which value wins).
//! Blank lines are skipped; a line that is not UTF-8 is a bad line
//! (reported, and skipped in default mode).
//! A byte order mark at the start of the file is skipped.

use std::fmt;
use std::io::BufRead;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::record::{to_event, RecordContext};
use super::{not_utf8, strip_bom, EventSource, LineError, ParsedEvent, ReadError};

/// Parses one JSON Lines line (1-based `line` for errors).
pub fn parse_line(line: u64, text: &str, ctx: &RecordContext) -> Result<ParsedEvent, LineError> {
    let Record {
        members,
        duplicate,
        decimal_error,
    } = serde_json::from_str(text).map_err(|e| {
        LineError::general(
            line,
            format!("not a JSON object: {}", strip_position(&e.to_string())),
        )
    })?;
    // A key given twice at any depth is named by its path.
    if let Some(path) = duplicate {
        return Err(LineError::field(
            line,
            &path,
            "given twice (each field once per line)",
        ));
    }
    if let Some((field, reason)) = decimal_error {
        return Err(LineError::field(line, &field, reason));
    }
    to_event(line, members, ctx)
}

/// A JSON Lines record read in one pass: the top-level object's members,
/// with the numbers of the decimal fields (`amount`, `margin`) kept as
/// strings of their exact literal text (never through `f64`; as
/// [`clientele_core::json::exact_decimals`] does), the first key given twice
/// at any depth, and the first decimal field that is refused.
struct Record {
    members: Map<String, Value>,
    duplicate: Option<String>,
    decimal_error: Option<(String, String)>,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record {
            members: Map::new(),
            duplicate: None,
            decimal_error: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let (value, inner) = if clientele_core::json::DECIMAL_FIELDS.contains(&key.as_str()) {
                let raw: Box<RawValue> = map.next_value()?;
                match clientele_core::json::decimal_literal(raw.get()) {
                    Ok(Some(digits)) => (Value::String(digits.to_owned()), None),
                    Ok(None) => {
                        let Checked(value, inner) =
                            serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
                        (value, inner)
                    }
                    Err(reason) => {
                        if record.decimal_error.is_none() {
                            record.decimal_error = Some((key.clone(), reason));
                        }
                        (Value::String(raw.get().to_owned()), None)
                    }
                }
            } else {
                let Checked(value, inner) = map.next_value()?;
                (value, inner)
            };
            add_member(
                &mut record.members,
                &mut record.duplicate,
                key,
                value,
                inner,
            );
        }
        Ok(record)
    }
}

/// Adds `key: value` to an object's members, keeping the first duplicate
/// found in `found`: `key` if it was given before (the first value stays),
/// else `key.path` for one inside `value` (`inner`).
fn add_member(
    members: &mut Map<String, Value>,
    found: &mut Option<String>,
    key: String,
    value: Value,
    inner: Option<String>,
) {
    if members.contains_key(&key) {
        found.get_or_insert(key);
    } else {
        if found.is_none() {
            *found = inner.map(|path| format!("{key}.{path}"));
        }
        members.insert(key, value);
    }
}

/// Any JSON value, as `serde_json::Value` reads it, and the path of the first
/// key given twice in one of its objects.
struct Checked(Value, Option<String>);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Checked, E> {
        Ok(Checked(Value::Bool(v), None))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Checked, E> {
        Ok(Checked(Value::Number(v.into()), None))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Checked, E> {
        Ok(Checked(Value::Number(v.into()), None))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Checked, E> {
        Ok(Checked(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
            None,
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Checked, E> {
        Ok(Checked(Value::String(v.to_owned()), None))
    }

    fn visit_string<E>(self, v: String) -> Result<Checked, E> {
        Ok(Checked(Value::String(v), None))
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked(Value::Null, None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        let mut items = Vec::new();
        let mut found = None;
        while let Some(Checked(item, inner)) = seq.next_element()? {
            found = found.or(inner);
            items.push(item);
        }
        Ok(Checked(Value::Array(items), found))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut members = Map::new();
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            let Checked(value, inner) = map.next_value()?;
            add_member(&mut members, &mut found, key, value, inner);
        }
        Ok(Checked(Value::Object(members), found))
    }
}

/// serde_json appends " at line 1 column 17": the line is ours, the column is noise.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Events from a JSON Lines reader.
pub struct JsonlSource<R> {
    reader: R,
    ctx: RecordContext,
    line: u64,
    bytes: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> JsonlSource<R> {
    /// Reads `reader` line by line.
    pub fn new(reader: R, ctx: RecordContext) -> Self {
        Self {
            reader,
            ctx,
            line: 0,
            bytes: 0,
            buffer: Vec::new(),
        }
    }
}

impl<R: BufRead> EventSource for JsonlSource<R> {
    fn next_event(&mut self) -> Option<Result<ParsedEvent, ReadError>> {
        loop {
            self.buffer.clear();
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(n) => {
                    self.line += 1;
                    self.bytes += n as u64;
                }
                Err(e) => return Some(Err(ReadError::Io(e.to_string()))),
            }
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) if self.line == 1 => strip_bom(text).trim(),
                Ok(text) => text.trim(),
                Err(e) => return Some(Err(ReadError::Line(not_utf8(self.line, &e)))),
            };
            if text.is_empty() {
                continue;
            }
            return Some(parse_line(self.line, text, &self.ctx).map_err(ReadError::Line));
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

    fn ctx() -> RecordContext {
        RecordContext::new("test")
    }

    fn purchase(amount: &str) -> String {
        format!(
            r#"{{"customer":"c-1","occurred_at":"2024-05-01T10:00:00Z","kind":"purchase","order_id":"A-1","amount":{amount},"currency":"CNY"}}"#
        )
    }

    fn error(text: &str) -> LineError {
        parse_line(7, text, &ctx()).unwrap_err()
    }

    #[test]
    fn amounts_are_exact() {
        for (amount, units) in [
            ("0.1", 10),
            ("\"0.1\"", 10),
            ("165", 16500),
            ("\"165.35\"", 16535),
        ] {
            let p = parse_line(1, &purchase(amount), &ctx()).unwrap();
            let EventPayload::Purchase(p) = p.event.payload else {
                panic!("not a purchase")
            };
            assert_eq!(p.amount.units(), units, "{amount}");
            assert_eq!(p.amount.scale(), 2);
        }
    }

    #[test]
    fn exponents_floats_and_too_many_places_are_refused() {
        for amount in ["1e3", "1E3", "\"1e3\"", "0.001", "\"abc\"", "-5", "true"] {
            let e = error(&purchase(amount));
            assert_eq!(e.line, 7);
            assert_eq!(e.field.as_deref(), Some("amount"), "{amount}: {e}");
        }
    }

    #[test]
    fn bad_dates_and_missing_fields_name_the_field() {
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-30T00:00:00Z","kind":"churn","reason":"x"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("occurred_at"));
        let e = error(r#"{"customer":"c","occurred_at":"2024-02-01","kind":"churn"}"#);
        assert_eq!(e.field.as_deref(), Some("reason"));
        assert!(e.to_string().contains("missing"), "{e}");
        let e = error(r#"{"occurred_at":"2024-02-01","kind":"churn","reason":"x"}"#);
        assert_eq!(e.field.as_deref(), Some("customer"));
        let e = error(r#"{"customer":"c","kind":"churn","reason":"x"}"#);
        assert_eq!(e.field.as_deref(), Some("occurred_at"));
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"purchase","order_id":"o","amount":"1","currency":"CNY","valid_until":"2024-13-01"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("valid_until"));
        let e = error(r#"{"customer":"c","occurred_at":"2999-01-01","kind":"churn","reason":"x"}"#);
        assert_eq!(e.field.as_deref(), Some("occurred_at"));
        assert!(e.to_string().contains("future"), "{e}");
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        let e = error(r#"{"customer":"c","occurred_at":"2024-02-01","kind":"telepathy"}"#);
        assert_eq!(e.field.as_deref(), Some("kind"));
        assert!(e.to_string().contains("unknown kind"), "{e}");
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"churn","reason":"x","mood":"sad"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("mood"));
        assert_eq!(
            e.to_string(),
            "line 7: field `mood`: unknown field for kind `churn` (its fields: reason, voluntary)"
        );
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"churn","reason":"x","metadata":{"who":"me"}}"#,
        );
        assert_eq!(e.field.as_deref(), Some("metadata.who"));
        let e = error("[1, 2]");
        assert_eq!(e.field, None);
        let e = error("{\"customer\": ");
        assert!(
            e.to_string().starts_with("line 7: not a JSON object"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_ranges_name_the_field() {
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"contact","channel":"sms","direction":"sideways","purpose":"care"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("direction"));
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"contact","channel":"sms","direction":"inbound","purpose":"care","rating":6}"#,
        );
        assert_eq!(e.field.as_deref(), Some("rating"));
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"profile","email":"nobody"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("email"));
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"profile","policy_numbers":"P-1"}"#,
        );
        assert_eq!(e.field.as_deref(), Some("policy_numbers"));
    }

    #[test]
    fn derived_ids_are_stable_and_given_ids_kept() {
        let a = parse_line(1, &purchase("\"165\""), &ctx()).unwrap();
        let b = parse_line(9, &purchase("165.00"), &ctx()).unwrap();
        assert_eq!(a.event.event_id, b.event.event_id, "same content, same id");
        let c = parse_line(1, &purchase("\"166\""), &ctx()).unwrap();
        assert_ne!(a.event.event_id, c.event.event_id);
        let other_source = parse_line(1, &purchase("165"), &RecordContext::new("crm")).unwrap();
        assert_ne!(a.event.event_id, other_source.event.event_id);
        assert_ne!(a.customer, other_source.customer);
        let given = r#"{"event_id":"01890a5d-ac96-774b-bcce-b302099a8057","customer":"c","occurred_at":"2024-02-01","kind":"churn","reason":"x","recorded_at":"2024-02-02T00:00:00Z","position":4}"#;
        let p = parse_line(1, given, &ctx()).unwrap();
        assert_eq!(
            p.event.event_id.to_string(),
            "01890a5d-ac96-774b-bcce-b302099a8057"
        );
    }

    #[test]
    fn source_reads_lines_and_skips_blanks() {
        let text = format!("{}\n\n   \n{}\nnot json\n", purchase("1"), purchase("2"));
        let mut source = JsonlSource::new(text.as_bytes(), ctx());
        let mut lines = Vec::new();
        while let Some(item) = source.next_event() {
            lines.push(match item {
                Ok(p) => p.line,
                Err(ReadError::Line(e)) => e.line + 1000,
                Err(ReadError::Io(e)) => panic!("{e}"),
            });
        }
        assert_eq!(lines, vec![1, 4, 1005]);
        assert_eq!(source.lines_read(), 5);
    }

    /// Found by tests/import_properties.rs: a key given twice kept its last
    /// value silently (`"order_id":"A-1", …, "order_id":"other"` imported
    /// order `other`; `"amount":"500", …, "amount":"5"` imported 5).
    #[test]
    fn a_field_given_twice_is_refused() {
        let line = r#"{"customer":"a0","occurred_at":"1900-01-01T00:00:00Z","kind":"purchase","order_id":"A-1","amount":0,"currency":"CNY","order_id":"other"}"#;
        let e = error(line);
        assert_eq!((e.line, e.field.as_deref()), (7, Some("order_id")), "{e}");
        assert!(e.reason.contains("twice"), "{e}");
        let e = error(&purchase("1").replace('}', r#","amount":"1"}"#));
        assert_eq!(e.field.as_deref(), Some("amount"), "{e}");
        let e = error(
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"churn","reason":"x","metadata":{"source":"a","source":"b"}}"#,
        );
        assert_eq!(e.field.as_deref(), Some("metadata.source"), "{e}");
        // The same key in different objects is fine.
        let p = parse_line(
            1,
            r#"{"customer":"c","occurred_at":"2024-02-01","kind":"profile","segment":{"reason":"a"},"metadata":{"source":"b"}}"#,
            &ctx(),
        );
        assert!(p.is_ok(), "{p:?}");
    }

    /// Found by tests/import_properties.rs: a UTF-8 byte order mark (as some
    /// Windows editors write) made line 1 "not a JSON object".
    #[test]
    fn a_byte_order_mark_is_skipped() {
        let text = format!("\u{feff}{}\n\u{feff}{}\n", purchase("1"), purchase("2"));
        let mut source = JsonlSource::new(text.as_bytes(), ctx());
        assert!(matches!(source.next_event(), Some(Ok(p)) if p.line == 1));
        // Only at the start of the file.
        assert!(matches!(source.next_event(), Some(Err(ReadError::Line(e))) if e.line == 2));
    }

    /// Found by tests/import_properties.rs: a line that is not UTF-8 was an
    /// I/O error, which stops the import (and fails it when nothing was read
    /// yet), although it is one bad line like any other; CSV skips such rows.
    #[test]
    fn a_line_that_is_not_utf8_is_one_bad_line() {
        let mut text = b"\x80\n".to_vec();
        text.extend_from_slice(purchase("1").as_bytes());
        let mut source = JsonlSource::new(&text[..], ctx());
        let Some(Err(ReadError::Line(e))) = source.next_event() else {
            panic!("not a line error")
        };
        assert_eq!((e.line, e.field.as_deref()), (1, None));
        assert!(e.reason.contains("not UTF-8"), "{e}");
        let Some(Ok(p)) = source.next_event() else {
            panic!("line 2 not read")
        };
        assert_eq!(p.line, 2);
        assert!(source.next_event().is_none());
        assert_eq!(source.bytes_read(), text.len() as u64);
    }
}
