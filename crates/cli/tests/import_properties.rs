//! Property tests for the importers (`clientele import`): the JSON Lines, CSV
//! and CDNOW [`EventSource`]s driven directly, and [`run_import`] against a
//! scratch store.
//!
//! The invariants, for every format:
//!
//! 1. Arbitrary input — random bytes, random text, and mutations of valid
//!    lines (truncated, columns dropped/duplicated/swapped, quotes, commas,
//!    semicolons, huge, negative and fractional numbers, extreme dates, leap
//!    days, BOM, CRLF, blank and very long lines) — never panics; each line
//!    gives a parsed event or an error on the right line, naming the field
//!    when the fault is in one; every parsed event is one the store accepts.
//! 2. Valid generated lines round-trip: the parsed fields are the generated
//!    ones (amounts as exact decimals; CDNOW days summed exactly). Records
//!    of every kind, built from the importers' field table, parse or name
//!    one of their fields.
//! 3. Line numbers stay right across blank lines, CRLF and the CSV header.
//! 4. `--strict` writes nothing when a line is bad; the default mode writes
//!    exactly the good lines' events, and a second import writes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use clientele_cli::import::cdnow::CdnowSource;
use clientele_cli::import::csv::{parse_maps, CsvSource};
use clientele_cli::import::fields::{self, FieldType};
use clientele_cli::import::jsonl::JsonlSource;
use clientele_cli::import::record::RecordContext;
use clientele_cli::import::{
    run_import, run_import_file, EventSource, ImportError, ImportOptions, ImportSummary,
    ParsedEvent, ReadError, STRICT_ATOMIC_LIMIT,
};
use clientele_core::privacy::MasterKeyRing;
use clientele_core::{Durability, EventPayload, Store, StoreOptions, ValidationPolicy};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

const SOURCE: &str = "prop";

/// The validation clock of the parsers (fixed: generated dates stay valid).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

fn ctx() -> RecordContext {
    RecordContext {
        source: SOURCE.into(),
        now: now(),
        policy: ValidationPolicy::default(),
    }
}

type Item = Result<ParsedEvent, ReadError>;

/// Every item of a source (bounded, in case a source never ends).
fn drain(source: &mut dyn EventSource, bound: usize) -> Result<Vec<Item>, TestCaseError> {
    let mut out = Vec::new();
    while let Some(item) = source.next_event() {
        out.push(item);
        prop_assert!(out.len() <= bound, "more than {bound} items");
    }
    Ok(out)
}

/// The line an item names (None for an I/O error).
fn line_of(item: &Item) -> Option<u64> {
    match item {
        Ok(p) => Some(p.line),
        Err(ReadError::Line(e)) => Some(e.line),
        Err(ReadError::Io(_)) => None,
    }
}

/// A parsed event must be one the store accepts.
fn check_valid(p: &ParsedEvent) -> Result<(), TestCaseError> {
    let mut event = p.event.clone();
    if let Err(e) = ValidationPolicy::default().check(&mut event, now()) {
        return Err(TestCaseError::fail(format!(
            "line {}: parsed, but the store refuses it: field `{}`: {}",
            p.line, e.field, e.reason
        )));
    }
    Ok(())
}

/// `units × 10^-scale` as text.
fn decimal_text(units: u64, scale: u8) -> String {
    let digits = format!("{units:0>width$}", width = usize::from(scale) + 1);
    if scale == 0 {
        digits
    } else {
        let (int, frac) = digits.split_at(digits.len() - usize::from(scale));
        format!("{int}.{frac}")
    }
}

/// `units × 10^-scale` in cents, if exact.
fn cents(units: u64, scale: u8) -> i128 {
    i128::from(units) * 10i128.pow(u32::from(2 - scale))
}

/// Physical lines as `BufRead::read_line` sees them (1-based numbering = index + 1).
fn physical_lines(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        text.split_inclusive('\n').count()
    }
}

/// Random lines of random bytes: ASCII, about half from `alphabet` (the
/// format's syntax), and a few raw high bytes (so some lines are not UTF-8).
fn random_bytes(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 0..12).prop_map(move |lines| {
        let lines: Vec<Vec<u8>> = lines
            .into_iter()
            .map(|line| {
                line.into_iter()
                    .map(|b| match b {
                        0..=0x7f | 0xfc..=0xff => b,
                        _ => alphabet[usize::from(b) % alphabet.len()],
                    })
                    .collect()
            })
            .collect();
        lines.join(&b'\n')
    })
}

// ---------------------------------------------------------------------------
// Generators shared by the formats
// ---------------------------------------------------------------------------

/// Non-blank text without control characters or surrounding whitespace.
fn text() -> impl Strategy<Value = String> {
    "[^\\s\\p{C}]([^\\p{C}]{0,12}[^\\s\\p{C}])?"
}

fn customer() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,4}-?[0-9]{1,5}",
        "[0-9]{1,6}",
        "[A-Z][a-z]{0,5} [0-9]{1,3}",
    ]
}

/// A moment between 1900 and the day before `now()` (leap days included).
fn moment() -> impl Strategy<Value = NaiveDateTime> {
    (0i64..45_000, prop_oneof![Just(0i64), 0i64..86_400]).prop_map(|(day, sec)| {
        NaiveDate::from_ymd_opt(1900, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::days(day)
            + Duration::seconds(sec)
    })
}

/// An amount (units, scale ≤ 2), mostly small, sometimes at the i64 limit.
fn amount() -> impl Strategy<Value = (u64, u8)> {
    prop_oneof![
        4 => (0u64..100_000_000, 0u8..=2),
        1 => (0u64..=1_000, 0u8..=2),
        1 => (0u64..=(i64::MAX as u64) / 100, 0u8..=2),
        1 => ((i64::MAX as u64) / 100..=i64::MAX as u64, Just(2u8)),
    ]
}

/// A valid purchase, the common ground of the JSONL and CSV generators.
#[derive(Debug, Clone)]
struct Buy {
    customer: String,
    at: NaiveDateTime,
    order: String,
    units: u64,
    scale: u8,
    currency: &'static str,
    quantity: Option<u32>,
    category: Option<String>,
    renewal: Option<bool>,
}

fn buy() -> impl Strategy<Value = Buy> {
    (
        customer(),
        moment(),
        text(),
        amount(),
        prop::sample::select(vec!["CNY", "USD", "EUR"]),
        prop::option::of(1u32..=u32::MAX),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(customer, at, order, (units, scale), currency, quantity, category, renewal)| Buy {
                customer,
                at,
                order,
                units,
                scale,
                currency,
                quantity,
                category,
                renewal,
            },
        )
}

/// The parsed event is the generated purchase.
fn check_buy(p: &ParsedEvent, b: &Buy) -> Result<(), TestCaseError> {
    prop_assert_eq!(p.external_id.as_deref(), Some(b.customer.as_str()));
    prop_assert_eq!(p.event.occurred_at, b.at.and_utc());
    let EventPayload::Purchase(purchase) = &p.event.payload else {
        return Err(TestCaseError::fail(format!(
            "line {}: not a purchase: {:?}",
            p.line, p.event.payload
        )));
    };
    prop_assert_eq!(&purchase.order_id, &b.order);
    prop_assert_eq!(purchase.currency.as_str(), b.currency);
    prop_assert_eq!(purchase.amount.scale(), 2);
    prop_assert_eq!(i128::from(purchase.amount.units()), cents(b.units, b.scale));
    prop_assert_eq!(purchase.quantity, b.quantity);
    prop_assert_eq!(&purchase.category, &b.category);
    prop_assert_eq!(purchase.renewal, b.renewal.unwrap_or(false));
    check_valid(p)
}

/// What a generated line must give.
#[derive(Debug, Clone)]
enum Expect {
    /// This purchase.
    Buy(Buy),
    /// An error naming this field (None: the whole line).
    Error(Option<&'static str>),
    /// Some error.
    AnyError,
    /// Anything but a panic or a wrong line number.
    Unknown,
}

fn check_outcome(item: &Item, expect: &Expect) -> Result<(), TestCaseError> {
    match (item, expect) {
        (Err(ReadError::Io(e)), _) => Err(TestCaseError::fail(format!("I/O error: {e}"))),
        (Ok(p), Expect::Buy(b)) => check_buy(p, b),
        (Ok(p), Expect::Unknown) => check_valid(p),
        (Err(ReadError::Line(_)), Expect::Unknown | Expect::AnyError) => Ok(()),
        (Err(ReadError::Line(e)), Expect::Error(field)) => {
            prop_assert_eq!(e.field.as_deref(), *field, "{}", e);
            Ok(())
        }
        (other, expect) => Err(TestCaseError::fail(format!(
            "expected {expect:?}, got {other:?}"
        ))),
    }
}

/// Blank lines every importer skips.
fn blank() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "   ", "\t", " \t "]).prop_map(str::to_owned)
}

fn newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just("\n"), 1 => Just("\r\n")]
}

// ---------------------------------------------------------------------------
// JSON Lines
// ---------------------------------------------------------------------------

/// A JSON object as (key, raw JSON value) pairs, so mutations can break it.
type Fields = Vec<(String, String)>;

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn buy_fields(b: &Buy, quoted_amount: bool, date_only: bool) -> Fields {
    let amount = decimal_text(b.units, b.scale);
    let at = if date_only {
        b.at.format("%Y-%m-%d").to_string()
    } else {
        b.at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    let mut f = vec![
        ("customer".to_owned(), json(&b.customer)),
        ("occurred_at".to_owned(), json(&at)),
        ("kind".to_owned(), json("purchase")),
        ("order_id".to_owned(), json(&b.order)),
        (
            "amount".to_owned(),
            if quoted_amount { json(&amount) } else { amount },
        ),
        ("currency".to_owned(), json(b.currency)),
    ];
    if let Some(q) = b.quantity {
        f.push(("quantity".into(), q.to_string()));
    }
    if let Some(c) = &b.category {
        f.push(("category".into(), json(c)));
    }
    if let Some(r) = b.renewal {
        f.push(("renewal".into(), r.to_string()));
    }
    f
}

fn render_fields(fields: &Fields) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A bad value for a field, and the field the error must name.
fn bad_json_value() -> impl Strategy<Value = (&'static str, String, &'static str)> {
    let long = json(&"x".repeat(5_000));
    prop::sample::select(vec![
        ("amount", "-5".to_owned(), "amount"),
        ("amount", "\"-0.01\"".to_owned(), "amount"),
        ("amount", "1e3".to_owned(), "amount"),
        ("amount", "\"1E3\"".to_owned(), "amount"),
        ("amount", "0.001".to_owned(), "amount"),
        ("amount", "\"12.345\"".to_owned(), "amount"),
        ("amount", "99999999999999999999".to_owned(), "amount"),
        ("amount", "92233720368547758.08".to_owned(), "amount"),
        ("amount", "922337203685477580".to_owned(), "amount"),
        ("amount", "\"abc\"".to_owned(), "amount"),
        ("amount", "\"1,50\"".to_owned(), "amount"),
        ("amount", "\"1;50\"".to_owned(), "amount"),
        ("amount", "true".to_owned(), "amount"),
        ("amount", "[1]".to_owned(), "amount"),
        ("amount", "null".to_owned(), "amount"),
        ("occurred_at", json("0000-01-01"), "occurred_at"),
        ("occurred_at", json("9999-12-31"), "occurred_at"),
        ("occurred_at", json("1899-12-31T23:59:59Z"), "occurred_at"),
        ("occurred_at", json("2023-02-29"), "occurred_at"),
        ("occurred_at", json("1900-02-29T12:00:00Z"), "occurred_at"),
        ("occurred_at", json("2024-02-30T00:00:00Z"), "occurred_at"),
        ("occurred_at", json("2024-06-03"), "occurred_at"),
        (
            "occurred_at",
            json("+275760-01-01T00:00:00Z"),
            "occurred_at",
        ),
        ("occurred_at", json("20240101"), "occurred_at"),
        ("occurred_at", "20240101".to_owned(), "occurred_at"),
        ("quantity", "-1".to_owned(), "quantity"),
        ("quantity", "0".to_owned(), "quantity"),
        ("quantity", "1.5".to_owned(), "quantity"),
        ("quantity", "4294967296".to_owned(), "quantity"),
        ("quantity", "\"2\"".to_owned(), "quantity"),
        ("currency", json("ABCD"), "currency"),
        ("currency", json(""), "currency"),
        ("currency", "1".to_owned(), "currency"),
        ("customer", json(""), "customer"),
        ("customer", json("   "), "customer"),
        (
            "customer",
            json("00000000-0000-0000-0000-000000000000"),
            "customer",
        ),
        ("customer", "true".to_owned(), "customer"),
        ("customer", "{}".to_owned(), "customer"),
        ("order_id", json(""), "order_id"),
        ("order_id", json(" \t "), "order_id"),
        ("order_id", long.clone(), "order_id"),
        ("category", long, "category"),
        ("category", "7".to_owned(), "category"),
        ("renewal", json("yes"), "renewal"),
        ("kind", json("telepathy"), "kind"),
        ("kind", "1".to_owned(), "kind"),
        ("event_id", json("not-a-uuid"), "event_id"),
        (
            "event_id",
            json("00000000-0000-0000-0000-000000000000"),
            "event_id",
        ),
        ("metadata", json("x"), "metadata"),
        ("metadata", r#"{"who":"me"}"#.to_owned(), "metadata.who"),
        ("metadata", r#"{"source":""}"#.to_owned(), "metadata.source"),
        ("metadata", r#"{"source":5}"#.to_owned(), "metadata.source"),
        (
            "metadata",
            r#"{"actor":"nobody"}"#.to_owned(),
            "metadata.actor",
        ),
        ("mood", json("sad"), "mood"),
    ])
}

/// How a valid JSONL line is mutated.
#[derive(Debug, Clone)]
enum JsonMutation {
    None,
    /// Delete a required field.
    Delete(prop::sample::Index),
    /// Give a field a bad value (replacing it, or adding it).
    Bad(&'static str, String, &'static str),
    /// The same key twice with different values.
    Duplicate(prop::sample::Index),
    /// Swap two values.
    Swap(prop::sample::Index, prop::sample::Index),
    /// Cut the line short.
    Truncate(prop::sample::Index),
    /// Insert a character anywhere.
    Insert(prop::sample::Index, char),
    /// Pad with whitespace to a very long line (still valid).
    Pad(prop::sample::Index),
}

fn json_mutation() -> impl Strategy<Value = JsonMutation> {
    prop_oneof![
        6 => Just(JsonMutation::None),
        1 => any::<prop::sample::Index>().prop_map(JsonMutation::Delete),
        3 => bad_json_value().prop_map(|(k, v, f)| JsonMutation::Bad(k, v, f)),
        1 => any::<prop::sample::Index>().prop_map(JsonMutation::Duplicate),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| JsonMutation::Swap(a, b)),
        1 => any::<prop::sample::Index>().prop_map(JsonMutation::Truncate),
        1 => (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![',', ';', '"', '{', '}', ':', ' ', 'x', '0', '\\', '\u{feff}', 'é']),
        )
            .prop_map(|(i, c)| JsonMutation::Insert(i, c)),
        1 => any::<prop::sample::Index>().prop_map(JsonMutation::Pad),
    ]
}

/// One JSONL line: a mutated purchase, rendered, and what it must give.
fn jsonl_line() -> impl Strategy<Value = (String, Expect)> {
    (buy(), any::<bool>(), any::<bool>(), json_mutation()).prop_map(
        |(b, quoted, date_only, mutation)| {
            let mut b = b;
            if date_only {
                b.at = b.at.date().and_hms_opt(0, 0, 0).unwrap();
            }
            let mut fields = buy_fields(&b, quoted, date_only);
            match mutation {
                JsonMutation::None => (render_fields(&fields), Expect::Buy(b)),
                JsonMutation::Delete(i) => {
                    let (key, _) = fields.remove(i.index(6));
                    let field = match key.as_str() {
                        "customer" => "customer",
                        "occurred_at" => "occurred_at",
                        "kind" => "kind",
                        "order_id" => "order_id",
                        "amount" => "amount",
                        _ => "currency",
                    };
                    (render_fields(&fields), Expect::Error(Some(field)))
                }
                JsonMutation::Bad(key, value, field) => {
                    match fields.iter_mut().find(|(k, _)| k == key) {
                        Some(slot) => slot.1 = value,
                        None => fields.push((key.to_owned(), value)),
                    }
                    (render_fields(&fields), Expect::Error(Some(field)))
                }
                JsonMutation::Duplicate(i) => {
                    let (key, value) = fields[i.index(fields.len())].clone();
                    let other = match key.as_str() {
                        "amount" => "\"1.00\"".to_owned(),
                        "quantity" => "7".to_owned(),
                        "renewal" => "false".to_owned(),
                        "currency" => json("JPY"),
                        _ => json("other"),
                    };
                    let field: &'static str = match key.as_str() {
                        "customer" => "customer",
                        "occurred_at" => "occurred_at",
                        "kind" => "kind",
                        "order_id" => "order_id",
                        "amount" => "amount",
                        "currency" => "currency",
                        "quantity" => "quantity",
                        "category" => "category",
                        _ => "renewal",
                    };
                    let other = if other == value {
                        json("another")
                    } else {
                        other
                    };
                    fields.push((key, other));
                    let expect = if value == fields.last().unwrap().1 {
                        Expect::Unknown
                    } else {
                        Expect::Error(Some(field))
                    };
                    (render_fields(&fields), expect)
                }
                JsonMutation::Swap(a, b) => {
                    let (a, b) = (a.index(fields.len()), b.index(fields.len()));
                    let value = fields[a].1.clone();
                    fields[a].1 = fields[b].1.clone();
                    fields[b].1 = value;
                    (render_fields(&fields), Expect::Unknown)
                }
                JsonMutation::Truncate(i) => {
                    let text = render_fields(&fields);
                    let cut: String = text.chars().take(i.index(text.chars().count())).collect();
                    let expect = if cut.trim().is_empty() {
                        // Now a blank line: skipped, no item.
                        return (String::new(), Expect::Unknown);
                    } else {
                        Expect::AnyError
                    };
                    (cut, expect)
                }
                JsonMutation::Pad(i) => {
                    // Between two tokens: after a `,` or `:` outside strings.
                    let text = render_fields(&fields);
                    let cuts: Vec<usize> = {
                        let mut in_string = false;
                        let mut escaped = false;
                        let mut cuts = vec![1];
                        for (at, c) in text.char_indices() {
                            match c {
                                _ if escaped => escaped = false,
                                '\\' if in_string => escaped = true,
                                '"' => in_string = !in_string,
                                ',' | ':' if !in_string => cuts.push(at + 1),
                                _ => {}
                            }
                        }
                        cuts
                    };
                    let at = cuts[i.index(cuts.len())];
                    let padded = format!("{}{}{}", &text[..at], " \t".repeat(16_384), &text[at..]);
                    (padded, Expect::Buy(b))
                }
                JsonMutation::Insert(i, c) => {
                    let text = render_fields(&fields);
                    let at = i.index(text.chars().count() + 1);
                    let mut out: String = text.chars().take(at).collect();
                    out.push(c);
                    out.extend(text.chars().skip(at));
                    (out, Expect::Unknown)
                }
            }
        },
    )
}

/// A JSONL file: lines (some blank), each with its terminator.
fn jsonl_file() -> impl Strategy<Value = Vec<(Option<(String, Expect)>, &'static str)>> {
    prop::collection::vec(
        (
            prop_oneof![
                4 => jsonl_line().prop_map(Some),
                1 => blank().prop_map(|b| Some((b, Expect::Unknown))),
            ],
            newline(),
        ),
        0..12,
    )
}

fn read_jsonl(text: &[u8]) -> Result<(Vec<Item>, u64), TestCaseError> {
    let mut source = JsonlSource::new(text, ctx());
    let items = drain(&mut source, text.len() + 1)?;
    Ok((items, source.lines_read()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes: one item per line that is not blank (or not UTF-8), on that line.
    #[test]
    fn jsonl_random_bytes(bytes in random_bytes(b"{}[]\":,0123456789 \r")) {
        let (items, lines) = read_jsonl(&bytes)?;
        let physical: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        prop_assert_eq!(lines, physical.len() as u64);
        let expected: Vec<Option<u64>> = physical
            .iter()
            .enumerate()
            .filter(|(_, l)| std::str::from_utf8(l).map_or(true, |t| !t.trim().is_empty()))
            .map(|(i, _)| Some(i as u64 + 1))
            .collect();
        let got: Vec<Option<u64>> = items.iter().map(line_of).collect();
        prop_assert_eq!(got, expected);
        for item in &items {
            match item {
                Ok(p) => check_valid(p)?,
                Err(ReadError::Line(e)) => prop_assert!(!e.reason.is_empty()),
                Err(ReadError::Io(e)) => prop_assert!(false, "I/O error {}", e),
            }
        }
    }

    /// Random text lines: one item per non-blank line, on that line.
    #[test]
    fn jsonl_random_text(lines in prop::collection::vec("\\PC{0,80}", 0..10), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let (items, read) = read_jsonl(text.as_bytes())?;
        prop_assert_eq!(read, physical_lines(&text) as u64);
        let expected: Vec<u64> = text
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let got: Vec<Option<u64>> = items.iter().map(line_of).collect();
        prop_assert_eq!(got, expected.into_iter().map(Some).collect::<Vec<_>>());
        for p in items.iter().flatten() {
            check_valid(p)?;
        }
    }

    /// Generated and mutated purchase lines, with blank lines and CRLF:
    /// each gives the generated purchase or an error on its line, naming the field.
    #[test]
    fn jsonl_lines_round_trip_or_name_the_fault(file in jsonl_file(), bom in prop::bool::weighted(0.1)) {
        let mut text = String::new();
        let mut expected: Vec<(u64, Expect)> = Vec::new();
        for (i, (line, end)) in file.iter().enumerate() {
            let (content, expect) = line.clone().unwrap();
            if !content.trim().is_empty() {
                expected.push((i as u64 + 1, expect));
            }
            text.push_str(&content);
            text.push_str(end);
        }
        if bom {
            text.insert(0, '\u{feff}');
        }
        let (items, read) = read_jsonl(text.as_bytes())?;
        prop_assert_eq!(read, physical_lines(&text) as u64);
        let got: Vec<Option<u64>> = items.iter().map(line_of).collect();
        let want: Vec<Option<u64>> = expected.iter().map(|(l, _)| Some(*l)).collect();
        prop_assert_eq!(got, want);
        for (item, (line, expect)) in items.iter().zip(&expected) {
            check_outcome(item, expect).map_err(|e| TestCaseError::fail(format!("line {line}: {e}\n{text}")))?;
        }
    }
}

// ---------------------------------------------------------------------------
// Every kind, from the importers' field table
// ---------------------------------------------------------------------------

/// A value of a field's type: mostly valid, sometimes at or past the edge.
fn value_of(ty: FieldType) -> BoxedStrategy<Value> {
    match ty {
        FieldType::Text => prop_oneof![
            8 => text().prop_map(Value::from),
            1 => Just(Value::from("")),
            1 => Just(Value::from("t".repeat(4_097))),
        ]
        .boxed(),
        FieldType::Word => "[a-z][a-z_ -]{0,10}".prop_map(Value::from).boxed(),
        FieldType::OneOf(words) => prop_oneof![
            8 => prop::sample::select(words.to_vec()).prop_map(Value::from),
            1 => Just(Value::from("bogus")),
        ]
        .boxed(),
        FieldType::Decimal => prop_oneof![
            8 => amount().prop_map(|(u, s)| Value::from(decimal_text(u, s))),
            1 => Just(Value::from("-1.5")),
            1 => Just(Value::from("0.001")),
        ]
        .boxed(),
        FieldType::Currency => prop::sample::select(vec!["CNY", "USD", "EUR", "JPY", "XYZ", "usd"])
            .prop_map(Value::from)
            .boxed(),
        FieldType::Date => prop_oneof![
            8 => moment().prop_map(|m| Value::from(m.format("%Y-%m-%d").to_string())),
            1 => Just(Value::from("1900-02-29")),
            1 => Just(Value::from("1849-12-31")),
        ]
        .boxed(),
        FieldType::Bool => any::<bool>().prop_map(Value::from).boxed(),
        FieldType::Rating => (0u64..=6).prop_map(Value::from).boxed(),
        FieldType::Count => prop_oneof![
            8 => (0u64..=u64::from(u32::MAX)).prop_map(Value::from),
            1 => Just(Value::from(u64::from(u32::MAX) + 1)),
        ]
        .boxed(),
        FieldType::Number => prop_oneof![
            8 => (0.0f64..10.0).prop_map(Value::from),
            1 => Just(Value::from(0.0)),
            1 => Just(Value::from(-1.0)),
        ]
        .boxed(),
        FieldType::List => prop::collection::vec(text().prop_map(Value::from), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        FieldType::Map => prop::collection::btree_map("[a-z]{1,5}", text(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, Value::from(v))).collect()))
            .boxed(),
    }
}

/// A record of any kind: the required fields and some optional ones, typed.
fn any_kind_record() -> impl Strategy<Value = (String, Vec<(String, Value)>)> {
    prop::sample::select(fields::KINDS.to_vec()).prop_flat_map(|(kind, kind_fields)| {
        let values: Vec<_> = kind_fields
            .iter()
            .map(|f| {
                let keep = if f.required {
                    Just(true).boxed()
                } else {
                    any::<bool>().boxed()
                };
                (keep, value_of(f.ty))
                    .prop_map(move |(keep, v)| keep.then(|| (f.name.to_owned(), v)))
            })
            .collect();
        (Just(kind.to_owned()), values, customer(), moment()).prop_map(
            |(kind, values, customer, at)| {
                let mut record = vec![
                    ("customer".to_owned(), Value::from(customer)),
                    (
                        "occurred_at".to_owned(),
                        Value::from(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    ),
                    ("kind".to_owned(), Value::from(kind.clone())),
                ];
                record.extend(values.into_iter().flatten());
                (kind, record)
            },
        )
    })
}

/// A CSV cell for a typed value (lists `;`-separated, maps `k=v;k=v`).
fn csv_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(";"),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    }
}

/// An error must name a field of the record (or an element of one), or a
/// field of its kind (one that goes with a field given: `perceived` for
/// `expected`).
fn names_a_field(item: &Item, kind: &str, record: &[(String, Value)]) -> Result<(), TestCaseError> {
    match item {
        Ok(p) => check_valid(p),
        Err(ReadError::Line(e)) => {
            let field = e.field.clone().unwrap_or_default();
            let of_kind = fields::kind_fields(kind)
                .unwrap_or_default()
                .iter()
                .map(|f| f.name);
            let named = record
                .iter()
                .map(|(n, _)| n.as_str())
                .chain(of_kind)
                .any(|name| {
                    field == name
                        || field.starts_with(&format!("{name}["))
                        || field.starts_with(&format!("{name}."))
                });
            prop_assert!(named, "{} names no field of the record {:?}", e, record);
            Ok(())
        }
        Err(ReadError::Io(e)) => Err(TestCaseError::fail(format!("I/O error {e}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Records of every kind with typed (sometimes edge) values, as a JSON
    /// Lines line and as a CSV row: a valid event, or an error naming one of
    /// the record's fields.
    #[test]
    fn every_kind_parses_or_names_a_field((kind, record) in any_kind_record()) {
        let object: serde_json::Map<String, Value> = record.iter().cloned().collect();
        let line = Value::Object(object).to_string();
        let (items, _) = read_jsonl(line.as_bytes())?;
        prop_assert_eq!(items.len(), 1);
        names_a_field(&items[0], &kind, &record).map_err(|e| TestCaseError::fail(format!("JSONL {line}: {e}")))?;

        let header: Vec<&str> = record.iter().map(|(n, _)| n.as_str()).collect();
        let row: Vec<String> = record.iter().map(|(_, v)| cell(&csv_text(v))).collect();
        let text = format!("{}\n{}\n", header.join(","), row.join(","));
        let (items, _) = read_csv(&text, &[])?.map_err(TestCaseError::fail)?;
        // A row of blank cells but the envelope cannot happen: customer is set.
        prop_assert_eq!(items.len(), 1);
        names_a_field(&items[0], &kind, &record).map_err(|e| TestCaseError::fail(format!("CSV {text}: {e}")))?;
    }
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// One column of a generated CSV file: the event field, the header cell,
/// and the `--map` it needs (if renamed).
#[derive(Debug, Clone)]
struct Column {
    field: &'static str,
    header: String,
    map: Option<String>,
}

const REQUIRED: [&str; 6] = [
    "customer",
    "occurred_at",
    "kind",
    "order_id",
    "amount",
    "currency",
];
const OPTIONAL: [&str; 4] = ["quantity", "category", "renewal", "metadata.source"];

/// Columns: the required ones, some optional and ignored ones, shuffled,
/// some renamed with `--map`.
fn columns() -> impl Strategy<Value = Vec<Column>> {
    (
        prop::sample::subsequence(OPTIONAL.to_vec(), 0..=OPTIONAL.len()),
        0usize..3,
    )
        .prop_flat_map(|(optional, ignored)| {
            let mut fields: Vec<&'static str> = REQUIRED.to_vec();
            fields.extend(optional);
            fields.extend(["-", "position", "recorded_at"].into_iter().take(ignored));
            let n = fields.len();
            (
                Just(fields).prop_shuffle(),
                prop::collection::vec(0u8..4, n),
            )
        })
        .prop_map(|(fields, styles)| {
            fields
                .into_iter()
                .zip(styles)
                .enumerate()
                .map(|(i, (field, style))| match (field, style) {
                    ("-", _) => Column {
                        field: "-",
                        header: format!("notes {i}"),
                        map: Some(format!("notes {i}=-")),
                    },
                    (_, 0) => Column {
                        field,
                        header: format!("col_{i}"),
                        map: Some(format!("col_{i}={field}")),
                    },
                    (_, 1) => Column {
                        field,
                        header: format!(" {field} "),
                        map: None,
                    },
                    _ => Column {
                        field,
                        header: field.to_owned(),
                        map: None,
                    },
                })
                .collect()
        })
}

/// A cell as CSV text (quoted when it must be).
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The cells of a purchase, in column order (unquoted).
fn buy_cells(b: &Buy, columns: &[Column], style: u8) -> Vec<String> {
    columns
        .iter()
        .map(|c| match c.field {
            "customer" => b.customer.clone(),
            "occurred_at" if style == 0 && b.at.time() == chrono::NaiveTime::MIN => {
                b.at.format("%Y-%m-%d").to_string()
            }
            "occurred_at" => b.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "kind" => "purchase".into(),
            "order_id" => b.order.clone(),
            "amount" => decimal_text(b.units, b.scale),
            "currency" => b.currency.into(),
            "quantity" => b.quantity.map(|q| q.to_string()).unwrap_or_default(),
            "category" => b.category.clone().unwrap_or_default(),
            "renewal" => match (b.renewal, style) {
                (Some(true), 0) => "yes".into(),
                (Some(true), 1) => "1".into(),
                (Some(true), _) => "TRUE".into(),
                (Some(false), 0) => "no".into(),
                (Some(false), _) => "false".into(),
                (None, _) => String::new(),
            },
            "metadata.source" => "crm".into(),
            "position" => "17".into(),
            "recorded_at" => "2024-01-01T00:00:00Z".into(),
            _ => "whatever, it is ignored".into(),
        })
        .collect()
}

/// The purchase as CSV gives it back: absent optional columns read as absent.
fn as_read(b: &Buy, columns: &[Column]) -> Buy {
    let has = |f: &str| columns.iter().any(|c| c.field == f);
    let mut b = b.clone();
    if !has("quantity") {
        b.quantity = None;
    }
    if !has("category") {
        b.category = None;
    }
    if !has("renewal") {
        b.renewal = None;
    }
    b
}

fn bad_cell() -> impl Strategy<Value = (&'static str, String)> {
    prop::sample::select(vec![
        ("amount", "-5".to_owned()),
        ("amount", "1e3".to_owned()),
        ("amount", "0.001".to_owned()),
        ("amount", "99999999999999999999".to_owned()),
        ("amount", "92233720368547758.08".to_owned()),
        ("amount", "922337203685477580".to_owned()),
        ("amount", "1;50".to_owned()),
        ("amount", "1,50".to_owned()),
        ("amount", "abc".to_owned()),
        ("amount", String::new()),
        ("occurred_at", "0000-01-01".to_owned()),
        ("occurred_at", "9999-12-31".to_owned()),
        ("occurred_at", "2023-02-29".to_owned()),
        ("occurred_at", "2024-06-03".to_owned()),
        ("occurred_at", "00000101".to_owned()),
        ("occurred_at", String::new()),
        ("quantity", "-1".to_owned()),
        ("quantity", "0".to_owned()),
        ("quantity", "1.5".to_owned()),
        ("quantity", "4294967296".to_owned()),
        ("quantity", "two".to_owned()),
        ("currency", "ABCD".to_owned()),
        ("customer", String::new()),
        (
            "customer",
            "00000000-0000-0000-0000-000000000000".to_owned(),
        ),
        ("order_id", "x".repeat(5_000)),
        ("category", "y".repeat(5_000)),
        ("renewal", "maybe".to_owned()),
        ("kind", "telepathy".to_owned()),
        ("kind", "churn".to_owned()),
        ("metadata.source", "z".repeat(5_000)),
    ])
}

#[derive(Debug, Clone)]
enum CsvMutation {
    None,
    Delete(prop::sample::Index),
    Duplicate(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
    Bad(&'static str, String),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, char),
}

fn csv_mutation() -> impl Strategy<Value = CsvMutation> {
    prop_oneof![
        6 => Just(CsvMutation::None),
        1 => any::<prop::sample::Index>().prop_map(CsvMutation::Delete),
        1 => any::<prop::sample::Index>().prop_map(CsvMutation::Duplicate),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| CsvMutation::Swap(a, b)),
        3 => bad_cell().prop_map(|(f, v)| CsvMutation::Bad(f, v)),
        1 => any::<prop::sample::Index>().prop_map(CsvMutation::Truncate),
        1 => (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![',', ';', '"', ' ', 'x', '0', '\u{feff}', 'é']),
        )
            .prop_map(|(i, c)| CsvMutation::Insert(i, c)),
    ]
}

/// A data row: the text, what it must give, and whether it may run into
/// the next lines (an unbalanced quote).
fn csv_row(b: &Buy, columns: &[Column], style: u8, m: &CsvMutation) -> (String, Expect, bool) {
    let mut cells = buy_cells(b, columns, style);
    let render = |cells: &[String]| cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    match m {
        CsvMutation::None => (render(&cells), Expect::Buy(as_read(b, columns)), false),
        CsvMutation::Delete(i) => {
            cells.remove(i.index(cells.len()));
            (render(&cells), Expect::Error(None), false)
        }
        CsvMutation::Duplicate(i) => {
            let i = i.index(cells.len());
            cells.insert(i, cells[i].clone());
            (render(&cells), Expect::Error(None), false)
        }
        CsvMutation::Swap(a, c) => {
            let n = cells.len();
            cells.swap(a.index(n), c.index(n));
            (render(&cells), Expect::Unknown, false)
        }
        CsvMutation::Bad(field, value) => match columns.iter().position(|c| c.field == *field) {
            Some(i) => {
                cells[i] = value.clone();
                let named = match *field {
                    // A churn row with purchase cells: the first purchase-only cell is named.
                    "kind" if value == "churn" => return (render(&cells), Expect::AnyError, false),
                    f => f,
                };
                (render(&cells), Expect::Error(Some(named)), false)
            }
            None => (render(&cells), Expect::Buy(as_read(b, columns)), false),
        },
        CsvMutation::Truncate(i) => {
            let text = render(&cells);
            let cut: String = text.chars().take(i.index(text.chars().count())).collect();
            // An odd quote may run on; quotes around nothing may be blank.
            let open = cut.matches('"').count() % 2 == 1
                || cut.contains('"')
                    && cut
                        .chars()
                        .all(|c| c == ',' || c == '"' || c.is_whitespace());
            (cut, Expect::Unknown, open)
        }
        CsvMutation::Insert(i, c) => {
            let text = render(&cells);
            let at = i.index(text.chars().count() + 1);
            let mut out: String = text.chars().take(at).collect();
            out.push(*c);
            out.extend(text.chars().skip(at));
            (out, Expect::Unknown, *c == '"' || text.contains('"'))
        }
    }
}

/// A CSV row: generated (and maybe mutated), or a blank line as written.
type CsvRow = Result<(Buy, u8, CsvMutation), &'static str>;

type CsvFile = (Vec<Column>, Vec<(CsvRow, &'static str)>, bool);

fn csv_file() -> impl Strategy<Value = CsvFile> {
    (
        columns(),
        prop::collection::vec(
            (
                prop_oneof![
                    5 => (buy(), 0u8..3, csv_mutation()).prop_map(Ok),
                    1 => prop::sample::select(vec!["", "   ", "\t", ",,", " , ,"]).prop_map(Err),
                ],
                newline(),
            ),
            0..10,
        ),
        prop::bool::weighted(0.1),
    )
}

fn read_csv(
    text: &str,
    maps: &[String],
) -> Result<Result<(Vec<Item>, u64), String>, TestCaseError> {
    let maps = match parse_maps(maps) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut source = match CsvSource::new(text.as_bytes(), &maps, ctx()) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let items = drain(&mut source, text.len() + 1)?;
    Ok(Ok((items, source.lines_read())))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary header cells and --map arguments: an error or a source, never a panic;
    /// rows of random text then give items on increasing lines.
    #[test]
    fn csv_random_headers_and_rows(
        headers in prop::collection::vec(prop_oneof![
            3 => prop::sample::select(vec!["customer", "occurred_at", "kind", "amount", "currency",
                "order_id", "metadata.source", "metadata.nope", "customer_id", "position", "-", ""]).prop_map(str::to_owned),
            1 => "\\PC{0,12}",
        ], 0..8),
        maps in prop::collection::vec("\\PC{0,8}=?\\PC{0,10}", 0..3),
        rows in prop::collection::vec("[^\\n]{0,60}", 0..6),
    ) {
        let mut text = headers.join(",");
        for row in &rows {
            text.push('\n');
            text.push_str(row);
        }
        if let Ok((items, _)) = read_csv(&text, &maps)? {
            let total = physical_lines(&text) as u64;
            let mut last = 1;
            for item in &items {
                if let Some(line) = line_of(item) {
                    prop_assert!(line > last && line <= total, "line {} after {} of {}\n{}", line, last, total, text);
                    last = line;
                }
                if let Ok(p) = item {
                    check_valid(p)?;
                }
            }
        }
    }

    /// Random bytes after a valid header: no panic, lines in range.
    #[test]
    fn csv_random_bytes(bytes in random_bytes(b",,,\"\r 0123456789-.;=")) {
        let mut text = b"customer,occurred_at,kind,amount,currency,order_id\n".to_vec();
        text.extend_from_slice(&bytes);
        let maps = parse_maps(&[]).unwrap();
        let mut source = CsvSource::new(&text[..], &maps, ctx()).unwrap();
        let items = drain(&mut source, text.len() + 1)?;
        let total = text.split_inclusive(|b| *b == b'\n').count() as u64;
        let mut last = 1;
        for item in &items {
            if let Some(line) = line_of(item) {
                prop_assert!(line > last && line <= total, "line {} after {} of {}", line, last, total);
                last = line;
            }
            if let Ok(p) = item {
                check_valid(p)?;
            }
        }
    }

    /// Generated and mutated rows under shuffled, renamed columns, with blank
    /// lines, CRLF and a BOM: each row gives the generated purchase or an
    /// error on its line, naming the field.
    #[test]
    fn csv_rows_round_trip_or_name_the_fault((columns, rows, bom) in csv_file()) {
        let maps: Vec<String> = columns.iter().filter_map(|c| c.map.clone()).collect();
        let header: Vec<String> = columns.iter().map(|c| cell(&c.header)).collect();
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        text.push_str(&header.join(","));
        text.push('\n');
        let mut expected: Vec<(u64, Expect)> = Vec::new();
        let mut spans = false;
        for (i, (row, end)) in rows.iter().enumerate() {
            match row {
                Ok((b, style, m)) => {
                    let (row, expect, open) = csv_row(b, &columns, *style, m);
                    spans |= open;
                    // Only commas and spaces: blank cells, a blank line.
                    if !row.chars().all(|c| c == ',' || c.is_whitespace()) {
                        expected.push((i as u64 + 2, expect));
                    }
                    text.push_str(&row);
                }
                Err(blank) => text.push_str(blank),
            }
            text.push_str(end);
        }
        let (items, _) = read_csv(&text, &maps)?
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let got: Vec<Option<u64>> = items.iter().map(line_of).collect();
        if spans {
            // A stray quote may join lines: only order and range are known.
            let mut last = 1;
            for line in got {
                let line = line.unwrap_or(0);
                prop_assert!(line > last && line <= rows.len() as u64 + 1);
                last = line;
            }
            for p in items.iter().flatten() {
                check_valid(p)?;
            }
            return Ok(());
        }
        let want: Vec<Option<u64>> = expected.iter().map(|(l, _)| Some(*l)).collect();
        prop_assert_eq!(got, want, "{}", text);
        for (item, (line, expect)) in items.iter().zip(&expected) {
            check_outcome(item, expect).map_err(|e| TestCaseError::fail(format!("line {line}: {e}\n{text}")))?;
        }
    }
}

// ---------------------------------------------------------------------------
// CDNOW
// ---------------------------------------------------------------------------

/// Whitespace that makes a very long line.
const LONG_BLANK: &str = match std::str::from_utf8(&[b' '; 65_536]) {
    Ok(s) => s,
    Err(_) => "",
};

/// A valid CDNOW line's content.
#[derive(Debug, Clone)]
struct Cd {
    master: String,
    /// Sample id as written (with leading zeros).
    id: String,
    date: NaiveDate,
    cds: u32,
    units: u64,
    scale: u8,
}

impl Cd {
    fn customer(&self) -> String {
        let t = self.id.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }.to_owned()
    }

    fn columns(&self) -> Vec<String> {
        vec![
            self.master.clone(),
            self.id.clone(),
            self.date.format("%Y%m%d").to_string(),
            self.cds.to_string(),
            decimal_text(self.units, self.scale),
        ]
    }
}

#[derive(Debug, Clone)]
enum CdMutation {
    None,
    /// Drop column i.
    Drop(usize),
    /// Add a column before i.
    Extra(usize),
    Swap(usize, usize),
    /// Column i gets this value; the error names the field (None: the line).
    Bad(usize, &'static str, Option<&'static str>),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, char),
}

fn cd_mutation() -> impl Strategy<Value = CdMutation> {
    prop_oneof![
        8 => Just(CdMutation::None),
        1 => (0usize..5).prop_map(CdMutation::Drop),
        1 => (0usize..6).prop_map(CdMutation::Extra),
        1 => (0usize..5, 0usize..5).prop_map(|(a, b)| CdMutation::Swap(a, b)),
        4 => prop::sample::select(vec![
            (0, "x1", None),
            (1, "abc", Some("customer")),
            (1, "-1", Some("customer")),
            (1, "1a", Some("customer")),
            (1, "１", Some("customer")),
            (2, "00000101", Some("occurred_at")),
            (2, "99991231", Some("occurred_at")),
            (2, "18991231", Some("occurred_at")),
            (2, "20230229", Some("occurred_at")),
            (2, "19000229", Some("occurred_at")),
            (2, "19971301", Some("occurred_at")),
            (2, "1997-01-01", Some("occurred_at")),
            (2, "2024061", Some("occurred_at")),
            (2, "+19970101", Some("occurred_at")),
            (3, "-1", Some("quantity")),
            (3, "1.5", Some("quantity")),
            (3, "4294967296", Some("quantity")),
            (3, "x", Some("quantity")),
            (4, "-1.00", Some("amount")),
            (4, "1.001", Some("amount")),
            (4, "1e3", Some("amount")),
            (4, "99999999999999999999", Some("amount")),
            (4, "92233720368547758.08", Some("amount")),
            (4, "922337203685477580", Some("amount")),
            (4, "92233720368547758.1", Some("amount")),
            (4, "abc", Some("amount")),
            (4, "1,00", Some("amount")),
            (4, "$5", Some("amount")),
        ])
        .prop_map(|(i, v, f)| CdMutation::Bad(i, v, f)),
        1 => any::<prop::sample::Index>().prop_map(CdMutation::Truncate),
        1 => (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![' ', '\t', '0', '9', '.', '-', ',', ';', '"', 'x', '\u{feff}', 'é']),
        )
            .prop_map(|(i, c)| CdMutation::Insert(i, c)),
    ]
}

/// What a CDNOW line is, for the model.
#[derive(Debug, Clone)]
enum CdExpect {
    Blank,
    Good(Cd),
    /// An error on this line; `keeps_day`: the line's (customer, day) stays readable.
    Bad(Option<&'static str>, bool, Cd),
    /// Anything (the model then checks only lines and validity).
    Unknown,
}

fn cd_line(c: &Cd, m: &CdMutation, sep: &str, lead: &str) -> (String, CdExpect) {
    let mut cols = c.columns();
    let join = |cols: &[String]| format!("{lead}{}", cols.join(sep));
    match m {
        CdMutation::None => {
            // A line the store refuses (an amount out of range in cents) is bad.
            if cents(c.units, c.scale) > i128::from(i64::MAX) {
                return (join(&cols), CdExpect::Bad(Some("amount"), true, c.clone()));
            }
            (join(&cols), CdExpect::Good(c.clone()))
        }
        CdMutation::Drop(i) => {
            cols.remove(*i);
            (join(&cols), CdExpect::Bad(None, *i >= 3, c.clone()))
        }
        CdMutation::Extra(i) => {
            cols.insert(*i, "7".into());
            (join(&cols), CdExpect::Bad(None, *i >= 3, c.clone()))
        }
        CdMutation::Swap(..) | CdMutation::Truncate(..) | CdMutation::Insert(..) => {
            let text = join(&cols);
            let text = match m {
                CdMutation::Swap(a, b) => {
                    cols.swap(*a, *b);
                    join(&cols)
                }
                CdMutation::Truncate(i) => {
                    text.chars().take(i.index(text.chars().count())).collect()
                }
                CdMutation::Insert(i, ch) => {
                    let at = i.index(text.chars().count() + 1);
                    let mut out: String = text.chars().take(at).collect();
                    out.push(*ch);
                    out.extend(text.chars().skip(at));
                    out
                }
                _ => unreachable!(),
            };
            if text.trim().is_empty() {
                (text, CdExpect::Blank)
            } else {
                (text, CdExpect::Unknown)
            }
        }
        CdMutation::Bad(i, value, field) => {
            cols[*i] = (*value).to_owned();
            // A bad id or date makes the line's customer-day unreadable (or
            // another day); a bad master id, CD count or amount keeps it.
            let keeps_day = *i == 0 || *i >= 3;
            (join(&cols), CdExpect::Bad(*field, keeps_day, c.clone()))
        }
    }
}

/// Pools of ids and dates, so that lines share customer-days.
fn cd_file() -> impl Strategy<Value = (Vec<(String, CdExpect, &'static str)>, bool)> {
    let ids = prop::collection::vec("0{0,3}[1-9][0-9]{0,3}", 1..4);
    let dates = prop::collection::vec(moment().prop_map(|m| m.date()), 1..4);
    (ids, dates)
        .prop_flat_map(|(ids, dates)| {
            let line = (
                prop::sample::select(ids),
                prop::sample::select(dates),
                "[0-9]{1,5}",
                prop_oneof![4 => 0u32..20, 1 => Just(u32::MAX / 2)],
                amount(),
                cd_mutation(),
                prop::sample::select(vec![" ", "  ", "\t", " \t"]),
                prop_oneof![
                    20 => prop::sample::select(vec!["", " ", "   ", "\t"]),
                    1 => Just(LONG_BLANK),
                ],
            )
                .prop_map(|(id, date, master, cds, (units, scale), m, sep, lead)| {
                    let c = Cd {
                        master,
                        id,
                        date,
                        cds,
                        units,
                        scale,
                    };
                    cd_line(&c, &m, sep, lead)
                });
            prop::collection::vec(
                (
                    prop_oneof![6 => line, 1 => blank().prop_map(|b| (b, CdExpect::Blank))],
                    newline(),
                )
                    .prop_map(|((text, expect), end)| (text, expect, end)),
                0..14,
            )
        })
        .prop_flat_map(|lines| (Just(lines), prop::bool::weighted(0.1)))
}

/// One expected CDNOW item.
#[derive(Debug, Clone, PartialEq)]
enum CdItem {
    /// A purchase: customer, date, CDs, cents.
    Event(String, NaiveDate, u32, i128),
    /// An error naming this field (None: the line or the day).
    Error(Option<String>),
}

fn read_cdnow(text: &[u8]) -> Result<(Vec<Item>, u64), TestCaseError> {
    let mut source = CdnowSource::new(text, &ctx());
    let items = drain(&mut source, 2 * text.len() + 2)?;
    Ok((items, source.lines_read()))
}

fn cd_actual(item: &Item) -> Result<(u64, CdItem), TestCaseError> {
    match item {
        Ok(p) => {
            check_valid(p)?;
            let EventPayload::Purchase(purchase) = &p.event.payload else {
                return Err(TestCaseError::fail("not a purchase"));
            };
            prop_assert_eq!(purchase.currency.as_str(), "USD");
            prop_assert_eq!(purchase.category.as_deref(), Some("cd"));
            let customer = p.external_id.clone().unwrap_or_default();
            let date = p.event.occurred_at.date_naive();
            prop_assert_eq!(
                p.event.occurred_at,
                date.and_hms_opt(0, 0, 0).unwrap().and_utc()
            );
            prop_assert_eq!(
                &purchase.order_id,
                &format!("cdnow-{customer}-{}", date.format("%Y%m%d"))
            );
            let amount = purchase.amount.rescale(2).unwrap();
            Ok((
                p.line,
                CdItem::Event(
                    customer,
                    date,
                    purchase.quantity.unwrap_or(0),
                    i128::from(amount.units()),
                ),
            ))
        }
        Err(ReadError::Line(e)) => Ok((e.line, CdItem::Error(e.field.clone()))),
        Err(ReadError::Io(e)) => Err(TestCaseError::fail(format!("I/O error {e}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes: no panic, lines in range; a line that is not UTF-8 is an error on it.
    #[test]
    fn cdnow_random_bytes(bytes in random_bytes(b"    \t0123456789.-\r")) {
        let (items, lines) = read_cdnow(&bytes)?;
        let physical: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        prop_assert_eq!(lines, physical.len() as u64);
        let mut reported = HashSet::new();
        for item in &items {
            let line = line_of(item);
            prop_assert!(matches!(line, Some(l) if l >= 1 && l <= lines), "{:?}", item);
            reported.insert(line.unwrap_or(0));
            if let Ok(p) = item {
                check_valid(p)?;
            }
        }
        for (i, l) in physical.iter().enumerate() {
            if std::str::from_utf8(l).is_err() {
                prop_assert!(reported.contains(&(i as u64 + 1)), "line {} not reported", i + 1);
            }
        }
    }

    /// Random text: every non-blank line gives an error or joins an event on a line at or before it.
    #[test]
    fn cdnow_random_text(lines in prop::collection::vec(prop_oneof![
        "\\PC{0,60}",
        "[ 0-9.\\-]{0,40}",
    ], 0..10)) {
        let text = lines.join("\n");
        let (items, read) = read_cdnow(text.as_bytes())?;
        prop_assert_eq!(read, physical_lines(&text) as u64);
        let mut last = 0;
        for item in &items {
            let line = line_of(item).unwrap_or(0);
            prop_assert!(line >= last && line >= 1 && line <= read);
            prop_assert!(!lines[line as usize - 1].trim().is_empty());
            last = line;
            if let Ok(p) = item {
                check_valid(p)?;
            }
        }
    }

    /// Generated and mutated lines sharing customer-days, with blank lines,
    /// CRLF and a BOM: the items are exactly the model's — one purchase per
    /// intact customer-day on its first line with the exact sums, an error
    /// naming the field on each bad line, and the day of a bad line dropped.
    #[test]
    fn cdnow_days_match_the_model((lines, bom) in cd_file()) {
        let mut text = String::new();
        for (i, (line, _, end)) in lines.iter().enumerate() {
            if i == 0 && bom {
                text.push('\u{feff}');
            }
            text.push_str(line);
            text.push_str(end);
        }
        let (items, read) = read_cdnow(text.as_bytes())?;
        prop_assert_eq!(read, lines.len() as u64);
        let actual: Vec<(u64, CdItem)> = items.iter().map(cd_actual).collect::<Result<_, _>>()?;
        let uncertain = lines.iter().any(|(_, e, _)| matches!(e, CdExpect::Unknown));
        let context = || format!("{text}\ngot {actual:#?}");
        if uncertain {
            // Lines in range, and each bad line reported on its line with its field.
            for (line, _) in &actual {
                prop_assert!(*line >= 1 && *line <= read);
            }
            for (i, (_, e, _)) in lines.iter().enumerate() {
                if let CdExpect::Bad(field, ..) = e {
                    let want = CdItem::Error(field.map(str::to_owned));
                    prop_assert!(actual.contains(&(i as u64 + 1, want.clone())), "line {}: {:?}\n{}", i + 1, want, context());
                }
            }
            return Ok(());
        }
        // The model.
        #[derive(Default)]
        struct Day { first: u64, cds: u32, cents: i128, broken: bool }
        let mut order: Vec<(String, NaiveDate)> = Vec::new();
        let mut days: HashMap<(String, NaiveDate), Day> = HashMap::new();
        let mut expected: Vec<(u64, CdItem)> = Vec::new();
        let mut broken: HashSet<(String, NaiveDate)> = HashSet::new();
        for (i, (_, e, _)) in lines.iter().enumerate() {
            let line = i as u64 + 1;
            match e {
                CdExpect::Blank | CdExpect::Unknown => {}
                CdExpect::Good(c) => {
                    let key = (c.customer(), c.date);
                    let cents = cents(c.units, c.scale);
                    match days.get_mut(&key) {
                        Some(day) if day.broken => {}
                        Some(day) => {
                            // A day's total out of range (dollars or CDs) is an error on the line that overflows it.
                            match day.cds.checked_add(c.cds) {
                                Some(cds) if day.cents + cents <= i128::from(i64::MAX) => {
                                    day.cds = cds;
                                    day.cents += cents;
                                }
                                Some(_) => {
                                    day.broken = true;
                                    expected.push((line, CdItem::Error(Some("amount".into()))));
                                }
                                None => {
                                    day.broken = true;
                                    expected.push((line, CdItem::Error(Some("quantity".into()))));
                                }
                            }
                        }
                        None => {
                            order.push(key.clone());
                            days.insert(key, Day { first: line, cds: c.cds, cents, broken: false });
                        }
                    }
                }
                CdExpect::Bad(field, keeps_day, c) => {
                    expected.push((line, CdItem::Error(field.map(str::to_owned))));
                    if *keeps_day {
                        broken.insert((c.customer(), c.date));
                    }
                }
            }
        }
        for key in order {
            let day = &days[&key];
            if day.broken || broken.contains(&key) {
                expected.push((day.first, CdItem::Error(None)));
            } else {
                expected.push((day.first, CdItem::Event(key.0.clone(), key.1, day.cds, day.cents)));
            }
        }
        expected.sort_by_key(|(line, item)| (*line, matches!(item, CdItem::Event(..) ) as u8));
        let mut got = actual.clone();
        got.sort_by_key(|(line, item)| (*line, matches!(item, CdItem::Event(..)) as u8));
        prop_assert_eq!(got, expected, "{}", context());
    }
}

// ---------------------------------------------------------------------------
// Writing: strict and default mode against a store
// ---------------------------------------------------------------------------

/// A line for the store test.
#[derive(Debug, Clone)]
enum StoreLine {
    /// A valid purchase of customer `c` (CDNOW: on day `d`).
    Good(usize, usize),
    /// A purchase the parser refuses (negative amount), of customer `c` on day `d`.
    BadValue(usize, usize),
    /// Not an event at all.
    Garbage,
    /// A complaint that starts at `resolved`: parsed, but the store's step
    /// order refuses it (JSONL and CSV).
    BadOrder(usize),
    Blank,
}

fn store_line() -> impl Strategy<Value = StoreLine> {
    prop_oneof![
        6 => (0usize..4, 0usize..3).prop_map(|(c, d)| StoreLine::Good(c, d)),
        1 => (0usize..4, 0usize..3).prop_map(|(c, d)| StoreLine::BadValue(c, d)),
        1 => Just(StoreLine::Garbage),
        1 => (0usize..4).prop_map(StoreLine::BadOrder),
        1 => Just(StoreLine::Blank),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StoreFormat {
    Jsonl,
    Csv,
    Cdnow,
}

fn store_text(lines: &[StoreLine], format: StoreFormat) -> String {
    let mut text = String::new();
    if format == StoreFormat::Csv {
        text.push_str("customer,occurred_at,kind,order_id,amount,currency,complaint_id,step\n");
    }
    for (i, l) in lines.iter().enumerate() {
        let day = i % 28 + 1;
        let line = match (format, l) {
            (StoreFormat::Jsonl, StoreLine::Good(c, _)) => format!(
                r#"{{"customer":"cust-{c}","occurred_at":"2024-01-{day:02}T10:00:00Z","kind":"purchase","order_id":"o-{i}","amount":"{i}.50","currency":"CNY"}}"#
            ),
            (StoreFormat::Jsonl, StoreLine::BadValue(c, _)) => format!(
                r#"{{"customer":"cust-{c}","occurred_at":"2024-01-01","kind":"purchase","order_id":"o-{i}","amount":-{}.5,"currency":"CNY"}}"#,
                i + 1
            ),
            (StoreFormat::Jsonl, StoreLine::Garbage) => format!("{{\"customer\": \"cust-{i}\","),
            (StoreFormat::Jsonl, StoreLine::BadOrder(c)) => format!(
                r#"{{"customer":"cust-{c}","occurred_at":"2024-01-01","kind":"complaint","complaint_id":"k-{i}","step":"resolved"}}"#
            ),
            (StoreFormat::Csv, StoreLine::Good(c, _)) => {
                format!("cust-{c},2024-01-{day:02}T10:00:00Z,purchase,o-{i},{i}.50,CNY,,")
            }
            (StoreFormat::Csv, StoreLine::BadValue(c, _)) => {
                format!("cust-{c},2024-01-01,purchase,o-{i},-{}.5,CNY,,", i + 1)
            }
            (StoreFormat::Csv, StoreLine::Garbage) => format!("cust-{i},oops;"),
            (StoreFormat::Csv, StoreLine::BadOrder(c)) => {
                format!("cust-{c},2024-01-01,complaint,,,,k-{i},resolved")
            }
            (StoreFormat::Cdnow, StoreLine::Good(c, d)) => {
                format!(" {i:05} {c:04} 199701{:02}  1  {i}.50", d + 1)
            }
            (StoreFormat::Cdnow, StoreLine::BadValue(c, d)) => {
                format!(" {i:05} {c:04} 199701{:02}  1  -{i}.50", d + 1)
            }
            (StoreFormat::Cdnow, StoreLine::Garbage | StoreLine::BadOrder(_)) => {
                format!("{i} garbage")
            }
            (_, StoreLine::Blank) => String::new(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// (events the default mode must write, bad lines it must report).
fn store_expectation(lines: &[StoreLine], format: StoreFormat) -> (u64, u64) {
    let bad = lines
        .iter()
        .filter(|l| !matches!(l, StoreLine::Good(..) | StoreLine::Blank))
        .count() as u64;
    if format != StoreFormat::Cdnow {
        // One event per good line, one identifier profile per customer with one.
        let good: Vec<usize> = lines
            .iter()
            .filter_map(|l| match l {
                StoreLine::Good(c, _) => Some(*c),
                _ => None,
            })
            .collect();
        let customers: HashSet<usize> = good.iter().copied().collect();
        return ((good.len() + customers.len()) as u64, bad);
    }
    // CDNOW: one event per customer-day without a bad line (a dropped day is
    // one more error), and one identifier profile per customer with one.
    let mut days: Vec<(usize, usize)> = Vec::new();
    let mut dropped: HashSet<(usize, usize)> = HashSet::new();
    for l in lines {
        match l {
            StoreLine::Good(c, d) if !days.contains(&(*c, *d)) => days.push((*c, *d)),
            StoreLine::BadValue(c, d) => {
                dropped.insert((*c, *d));
            }
            _ => {}
        }
    }
    let kept: Vec<&(usize, usize)> = days.iter().filter(|k| !dropped.contains(k)).collect();
    let customers: HashSet<usize> = kept.iter().map(|(c, _)| *c).collect();
    let dropped_days = days.iter().filter(|k| dropped.contains(k)).count() as u64;
    ((kept.len() + customers.len()) as u64, bad + dropped_days)
}

fn open_text(text: &str, format: StoreFormat) -> Result<Box<dyn EventSource + '_>, ImportError> {
    let ctx = RecordContext::new(SOURCE);
    Ok(match format {
        StoreFormat::Jsonl => Box::new(JsonlSource::new(text.as_bytes(), ctx)),
        StoreFormat::Csv => Box::new(CsvSource::new(text.as_bytes(), &BTreeMap::new(), ctx)?),
        StoreFormat::Cdnow => Box::new(CdnowSource::new(text.as_bytes(), &ctx)),
    })
}

/// A strict import read twice (checked, then written), as a big file is:
/// `atomic_limit` events are held before checking as it reads.
fn import_two_pass(
    store: &Store,
    text: &str,
    format: StoreFormat,
    chunk: usize,
    atomic_limit: usize,
) -> Result<ImportSummary, TestCaseError> {
    let open = || open_text(text, format);
    let options = ImportOptions {
        source: SOURCE.into(),
        strict: true,
        chunk,
        atomic_limit,
    };
    let first = open().map_err(|e| TestCaseError::fail(e.to_string()))?;
    run_import_file(
        store,
        first,
        &open,
        &options,
        ImportSummary::default(),
        &|_| {},
    )
    .map_err(|e| TestCaseError::fail(format!("import failed: {e}")))
}

fn import(
    store: &Store,
    text: &str,
    format: StoreFormat,
    strict: bool,
    chunk: usize,
) -> Result<ImportSummary, TestCaseError> {
    let mut source = open_text(text, format).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let options = ImportOptions {
        source: SOURCE.into(),
        strict,
        chunk,
        atomic_limit: STRICT_ATOMIC_LIMIT,
    };
    run_import(
        store,
        source.as_mut(),
        &options,
        ImportSummary::default(),
        &|_| {},
    )
    .map_err(|e| TestCaseError::fail(format!("import failed: {e}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Strict mode writes nothing when a line is bad; the default mode writes
    /// exactly the good lines' events (and one identifier profile per
    /// customer that has one), and importing again writes nothing new.
    #[test]
    fn strict_writes_nothing_and_default_writes_the_good_lines(
        lines in prop::collection::vec(store_line(), 1..16),
        format in prop::sample::select(vec![StoreFormat::Jsonl, StoreFormat::Csv, StoreFormat::Cdnow]),
        chunk in 1usize..6,
        limit in 0usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Identifier profiles hold personal data (the external id): a key is needed.
        let options = StoreOptions {
            durability: Durability::Buffered,
            master_keys: Some(std::sync::Arc::new(MasterKeyRing::generate())),
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), options).unwrap();
        let text = store_text(&lines, format);
        let (expected, errors) = store_expectation(&lines, format);

        let strict = import(&store, &text, format, true, chunk)?;
        if errors > 0 {
            prop_assert_eq!(store.head(), 0, "strict import of a bad file wrote\n{}", text);
            prop_assert!(!strict.written);
            prop_assert_eq!(strict.events_written, 0);
            prop_assert!(strict.skipped >= 1);
        } else {
            prop_assert_eq!(store.head(), expected);
            prop_assert_eq!(strict.events_written, expected);
        }

        let default = import(&store, &text, format, false, chunk)?;
        prop_assert_eq!(
            store.head(), expected,
            "default import wrote more or less than the good lines\n{}\n{:#?}", text, default
        );
        prop_assert_eq!(default.skipped, errors, "{:#?}", default.errors);
        if errors > 0 {
            prop_assert_eq!(default.events_written, expected);
        }

        let again = import(&store, &text, format, false, chunk)?;
        prop_assert_eq!(again.events_written, 0);
        prop_assert_eq!(store.head(), expected);

        // A strict import checked as it reads and written by a second pass
        // (a file over the atomic limit) writes exactly what the one-pass
        // strict import writes: nothing when a line is bad…
        let dir2 = tempfile::tempdir().unwrap();
        let options2 = StoreOptions {
            durability: Durability::Buffered,
            master_keys: Some(std::sync::Arc::new(MasterKeyRing::generate())),
            ..StoreOptions::default()
        };
        let two = Store::open_with(dir2.path(), options2).unwrap();
        let summary = import_two_pass(&two, &text, format, chunk, limit)?;
        if errors > 0 {
            prop_assert_eq!(two.head(), 0, "two-pass strict import of a bad file wrote\n{}", text);
            prop_assert!(!summary.written);
            prop_assert!(summary.skipped >= 1);
        } else {
            prop_assert_eq!(two.head(), expected);
            prop_assert_eq!(summary.events_written, expected);
            prop_assert!(summary.strict);
            // …the same streams (the global order may interleave customers
            // differently: one pass writes customer by customer).
            let ids = |s: &Store| {
                let mut streams: BTreeMap<_, Vec<_>> = BTreeMap::new();
                for e in s.read_all(1).unwrap() {
                    let e = e.unwrap();
                    streams.entry(e.customer_id).or_default().push(e.event_id);
                }
                streams
            };
            prop_assert_eq!(ids(&two), ids(&store));
        }
        // Against a store holding it all: every event is already present.
        let over = import_two_pass(&store, &text, format, chunk, limit)?;
        prop_assert_eq!(store.head(), expected);
        prop_assert_eq!(over.events_written, 0);
        if errors == 0 {
            prop_assert_eq!(over.skipped, 0, "{:#?}", over.errors);
        }
    }
}
