//! # clientele-fuzz
//!
//! Contracts that must hold on *any* input, one function per fuzz target.
//! Each function panics when its contract is broken, which is what a fuzzer
//! reports as a finding:
//!
//! | target | input | contract |
//! |---|---|---|
//! | [`record`] | a stored log record | parsing and both payload decoders return, agree, and what decodes survives a JSON round trip |
//! | [`stored_state`] | a stored projection state | every projection's decoder returns; what decodes re-encodes stably and every view of it returns sane figures |
//! | [`import_jsonl`], [`import_csv`], [`import_cdnow`] | an import file | the importer ends; each error names a line it read; each event it yields passes the store's validation unchanged |
//! | [`store_ops`] | appends, batches, retries, reused ids, invalid events | the store answers as a model of the log's rules does, a refused batch writes nothing, and the log, streams and versions end as the model's and verify |
//! | [`policies`] | a policy as JSON (a library user's configuration file) | it is refused, or once validated every fold and view under it returns, with figures in range |
//!
//! A panic inside clientele on such input breaks the library's first rule
//! (bad input gets an error, never a crash), so every target runs the code
//! a user's bytes reach.
//!
//! ## Running
//!
//! ```text
//! cargo install cargo-fuzz
//! cargo +nightly fuzz run --fuzz-dir crates/fuzz record -- -max_total_time=600
//! ```
//!
//! `cargo fuzz list --fuzz-dir crates/fuzz` names the targets. The fuzzer
//! grows its corpus in `crates/fuzz/corpus/<target>/` (not committed: the
//! seeds below are the committed starting points), and writes a crashing
//! input to `crates/fuzz/artifacts/<target>/`; replay one with
//! `cargo +nightly fuzz run --fuzz-dir crates/fuzz <target> <file>`, then keep
//! it as a seed once fixed.
//!
//! On stable, `cargo test -p clientele-fuzz` runs every contract on the
//! committed seeds in `crates/fuzz/seeds/<target>/` and on random and mutated
//! input (proptest), as part of the workspace's tests.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Cursor;

use chrono::{DateTime, TimeZone, Utc};
use clientele_cli::import::cdnow::CdnowSource;
use clientele_cli::import::csv::CsvSource;
use clientele_cli::import::jsonl::JsonlSource;
use clientele_cli::import::record::RecordContext;
use clientele_cli::import::{EventSource, ReadError};
use clientele_core::projection::Projection;
use clientele_core::{CustomerId, ValidationPolicy};

mod store;
pub use store::store_ops;

/// The record decoder: see `clientele_core`'s `codec::check_record`. The
/// bytes are tried as they are (nearly always refused by the CRC) and as a
/// record body under a valid CRC, which reaches the parser and both payload
/// decoders.
pub fn record(data: &[u8]) {
    clientele_core::fuzzing::record(data);
}

/// Stored projection states, as a projection's column family holds them (a
/// state that no longer decodes is refolded from the log, so `None` is a
/// fine answer; a panic or a state that cannot be viewed is not).
///
/// The first 8 bytes choose the view's time (see [`view_time`]); the rest
/// are given to every projection's `decode_state`. A state that decodes must
/// encode, decode again, and encode to the same bytes; then its views as of
/// that time must return, with figures in their ranges.
pub fn stored_state(data: &[u8]) {
    let (at, bytes) = view_time(data);
    let customer = CustomerId::from_external("fuzz", "1");

    let policy = clientele_lifecycle::LifecyclePolicy::default();
    if let Ok(lifecycle) = clientele_lifecycle::LifecycleProjection::new(policy.clone()) {
        if let Some(state) = round_trip(&lifecycle, bytes) {
            let _ = state.view(&policy, customer, at);
            let _ = state.open_matters(&policy);
        }
    }

    if let Ok(loyalty) =
        clientele_loyalty::LoyaltyProjection::new(clientele_loyalty::LoyaltyPolicy::default())
    {
        if let Some(state) = round_trip(&loyalty, bytes) {
            let score = loyalty.score(&state, at, 0);
            assert!(
                (0.0..=100.0).contains(&score.score),
                "loyalty score {}",
                score.score
            );
            let _ = loyalty.points(&state, at);
        }
    }

    if let Some(state) = round_trip(&clientele_value::ValueProjection, bytes) {
        let currencies: Vec<String> = state
            .days
            .values()
            .flat_map(|d| d.spend.keys().map(str::to_owned))
            .chain(["CNY".to_owned()])
            .collect();
        for currency in &currencies {
            let _ = clientele_value::historic_value(&state, currency, at);
            let _ = state.purchase_history(currency, at);
        }
        let _ = state.main_currency(at);
    }

    if let Some(state) = round_trip(&clientele_churn::ChurnProjection, bytes) {
        let score = clientele_churn::RiskPolicy::default().score(
            &state,
            at,
            &clientele_churn::ModelContext::default(),
        );
        assert!(
            (0.0..=1.0).contains(&score.risk),
            "churn risk {}",
            score.risk
        );
    }

    if let Some(book) = round_trip(&clientele_complaint::ComplaintProjection, bytes) {
        if let Ok(mut desk) =
            clientele_complaint::Desk::new(clientele_complaint::ComplaintPolicy::default(), at)
        {
            desk.add(customer, &book);
            let report = desk.finish();
            assert!(report.complaints.len() <= book.complaints().len());
            assert_eq!(
                report.figures.all.complaints,
                report.complaints.len() as u64
            );
        }
    }
}

/// Policies as a library user loads them (JSON, e.g. from a configuration
/// file). The first byte picks the policy — lifecycle, loyalty, points,
/// risk, warning, complaint (mod 6) — the next 8 the view time (see
/// [`view_time`]), and the rest is its JSON. A policy that deserialises must
/// either be refused by its `validate` (or its projection's constructor),
/// or fold and view two real customers' histories (a demo export: a
/// complaint, a refund, payments; a churn and a win-back) at that time and
/// a year on without a panic, with scores and risks in their ranges.
pub fn policies(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (at, json) = view_time(rest);
    let times = [at, at + chrono::Duration::days(365)];
    match which % 6 {
        0 => {
            let Ok(policy) = serde_json::from_slice::<clientele_lifecycle::LifecyclePolicy>(json)
            else {
                return;
            };
            let Ok(projection) = clientele_lifecycle::LifecycleProjection::new(policy.clone())
            else {
                return;
            };
            for (customer, events) in histories() {
                let state = clientele_core::projection::fold(&projection, events);
                for t in times {
                    let _ = state.view(&policy, *customer, t);
                }
                let _ = state.open_matters(&policy);
            }
        }
        1 => {
            let Ok(policy) = serde_json::from_slice::<clientele_loyalty::LoyaltyPolicy>(json)
            else {
                return;
            };
            let Ok(projection) = clientele_loyalty::LoyaltyProjection::new(policy) else {
                return;
            };
            for (_, events) in histories() {
                let state = clientele_core::projection::fold(&projection, events);
                for t in times {
                    let score = projection.score(&state, t, 1);
                    assert!(
                        (0.0..=100.0).contains(&score.score),
                        "score {}",
                        score.score
                    );
                    let _ = projection.points(&state, t);
                }
            }
        }
        2 => {
            let Ok(policy) = serde_json::from_slice::<clientele_loyalty::PointsPolicy>(json) else {
                return;
            };
            if policy.validate().is_err() {
                return;
            }
            let loyalty = clientele_loyalty::LoyaltyProjection::new(
                clientele_loyalty::LoyaltyPolicy::default(),
            );
            let Ok(loyalty) = loyalty else {
                return;
            };
            for (_, events) in histories() {
                let state = clientele_core::projection::fold(&loyalty, events);
                for t in times {
                    if let Err(e) = policy.balance(&state, t) {
                        panic!("a validated points policy fails: {e}");
                    }
                }
            }
        }
        3 | 4 => {
            let (risk, warning) = if which % 6 == 3 {
                let Ok(risk) = serde_json::from_slice::<clientele_churn::RiskPolicy>(json) else {
                    return;
                };
                (risk, clientele_churn::WarningPolicy::default())
            } else {
                let Ok(warning) = serde_json::from_slice::<clientele_churn::WarningPolicy>(json)
                else {
                    return;
                };
                (clientele_churn::RiskPolicy::default(), warning)
            };
            if risk.validate().is_err() || warning.validate().is_err() {
                return;
            }
            for (customer, events) in histories() {
                let state =
                    clientele_core::projection::fold(&clientele_churn::ChurnProjection, events);
                let mut episodes = clientele_churn::warning::Episodes::default();
                for t in times {
                    let score = risk.score(&state, t, &clientele_churn::ModelContext::default());
                    assert!((0.0..=1.0).contains(&score.risk), "risk {}", score.risk);
                    let _ = warning.decide(*customer, &score, 1, t, &mut episodes);
                }
            }
        }
        _ => {
            let Ok(policy) = serde_json::from_slice::<clientele_complaint::ComplaintPolicy>(json)
            else {
                return;
            };
            for t in times {
                let Ok(mut desk) = clientele_complaint::Desk::new(policy.clone(), t) else {
                    return;
                };
                for (customer, events) in histories() {
                    let book = clientele_core::projection::fold(
                        &clientele_complaint::ComplaintProjection,
                        events,
                    );
                    desk.add(*customer, &book);
                }
                let report = desk.finish();
                assert_eq!(
                    report.figures.all.complaints,
                    report.complaints.len() as u64
                );
            }
        }
    }
}

/// Two customers' histories from the committed JSON Lines seeds, as the
/// log would hold them (positions and versions in order, recorded when
/// they occurred), parsed once.
fn histories() -> &'static [(CustomerId, Vec<clientele_core::RecordedEvent>)] {
    static HISTORIES: std::sync::OnceLock<Vec<(CustomerId, Vec<clientele_core::RecordedEvent>)>> =
        std::sync::OnceLock::new();
    HISTORIES.get_or_init(|| {
        let files: [&[u8]; 2] = [
            include_bytes!("../seeds/import_jsonl/customer_with_complaint.jsonl"),
            include_bytes!("../seeds/import_jsonl/churn_and_win_back.jsonl"),
        ];
        let mut position = 0;
        let mut out: Vec<(CustomerId, Vec<clientele_core::RecordedEvent>)> = Vec::new();
        // The demo's history runs to mid-2025: validated as of a later "now".
        let ctx = RecordContext {
            now: fixed_now() + chrono::Duration::days(3650),
            ..context()
        };
        for file in files {
            let mut source = JsonlSource::new(Cursor::new(file), ctx.clone());
            while let Some(Ok(parsed)) = source.next_event() {
                position += 1;
                let events = match out.iter_mut().find(|(c, _)| *c == parsed.customer) {
                    Some((_, events)) => events,
                    None => {
                        out.push((parsed.customer, Vec::new()));
                        match out.last_mut() {
                            Some((_, events)) => events,
                            None => continue,
                        }
                    }
                };
                let event = parsed.event;
                events.push(clientele_core::RecordedEvent {
                    event_id: event.event_id,
                    customer_id: parsed.customer,
                    version: events.len() as u64 + 1,
                    position,
                    occurred_at: event.occurred_at,
                    recorded_at: event.occurred_at,
                    schema_version: clientele_core::schema::CURRENT_SCHEMA_VERSION,
                    metadata: event.metadata,
                    payload: event.payload,
                    personal_data: clientele_core::privacy::PersonalData::Available,
                });
            }
        }
        out
    })
}

/// The view time encoded in the first 8 bytes of `data` (big-endian seconds,
/// folded into 1970–2169 so that every input is a time a user could ask
/// for), and the rest; without 8 bytes, 2025-01-01 and all of `data`.
pub fn view_time(data: &[u8]) -> (DateTime<Utc>, &[u8]) {
    const SPAN_SECONDS: i64 = 200 * 365 * 86_400;
    match data.split_first_chunk::<8>() {
        Some((head, rest)) => {
            let seconds = i64::from_be_bytes(*head).rem_euclid(SPAN_SECONDS);
            let at = Utc.timestamp_opt(seconds, 0).single().unwrap_or_default();
            (at, rest)
        }
        None => (fixed_now(), data),
    }
}

/// `bytes` decoded by `projection`; if they decode, the state's encoding
/// must be stable: encode, decode, encode gives the same bytes.
fn round_trip<P: Projection>(projection: &P, bytes: &[u8]) -> Option<P::State> {
    let state = projection.decode_state(bytes)?;
    let once = encoded(projection, &state);
    let again = projection
        .decode_state(&once)
        .unwrap_or_else(|| panic!("{}: an encoded state does not decode", projection.name()));
    assert_eq!(
        encoded(projection, &again),
        once,
        "{}: the encoding is not stable",
        projection.name()
    );
    Some(state)
}

fn encoded<P: Projection>(projection: &P, state: &P::State) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = projection.encode_state(state, &mut out) {
        panic!(
            "{}: a decoded state does not encode: {e}",
            projection.name()
        );
    }
    out
}

/// A fixed "now" for validation (2025-01-01), so that a finding replays the
/// same way on any day.
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn context() -> RecordContext {
    RecordContext {
        source: "fuzz".to_owned(),
        now: fixed_now(),
        policy: ValidationPolicy::default(),
    }
}

/// The JSON Lines importer on arbitrary bytes, read to its end. It must end
/// (one result per line at most, plus aggregated CDNOW days); every error
/// must name a line it has read, with a reason; every event must come from
/// a line it has read and pass the store's validation as it is (the importer
/// validated it and normalised it as the store will store it).
pub fn import_jsonl(data: &[u8]) {
    drain(JsonlSource::new(Cursor::new(data), context()), data);
}

/// The CSV importer on arbitrary bytes (the first row is the header; no
/// `--map`): the header is refused with a message, or the rows are read
/// under [`import_jsonl`]'s contract.
pub fn import_csv(data: &[u8]) {
    match CsvSource::new(Cursor::new(data), &BTreeMap::new(), context()) {
        Ok(source) => drain(source, data),
        Err(e) => assert!(!e.to_string().is_empty(), "an empty header error"),
    }
}

/// The CDNOW importer on arbitrary bytes, under [`import_jsonl`]'s contract.
pub fn import_cdnow(data: &[u8]) {
    drain(CdnowSource::new(Cursor::new(data), &context()), data);
}

/// Reads `source` to its end and checks [`import_jsonl`]'s contract.
fn drain(mut source: impl EventSource, data: &[u8]) {
    let ctx = context();
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut results = 0u64;
    while let Some(next) = source.next_event() {
        results += 1;
        assert!(results <= 2 * lines, "{results} results from {lines} lines");
        let read = source.lines_read();
        assert!(read <= lines, "{read} lines read of {lines}");
        assert!(source.bytes_read() <= data.len() as u64, "bytes read");
        match next {
            Ok(parsed) => {
                assert!(
                    (1..=read).contains(&parsed.line),
                    "event from line {} after {read} lines",
                    parsed.line
                );
                let mut again = parsed.event.clone();
                if let Err(e) = ctx.policy.check(&mut again, ctx.now) {
                    panic!(
                        "line {}: an imported event fails validation: {e}",
                        parsed.line
                    );
                }
                assert_eq!(
                    again, parsed.event,
                    "line {}: normalised twice",
                    parsed.line
                );
            }
            Err(ReadError::Line(e)) => {
                assert!(
                    (1..=read).contains(&e.line),
                    "error on line {} after {read} lines: {e}",
                    e.line
                );
                assert!(
                    !e.reason.trim().is_empty(),
                    "an error without a reason: {e}"
                );
            }
            Err(ReadError::Io(reason)) => {
                assert!(!reason.is_empty(), "an I/O error without a reason");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every committed seed of `target` (files in `seeds/<target>/`).
    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("seeds")
            .join(target);
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.expect("dir entry").path();
                let bytes = std::fs::read(&path).expect("seed");
                (path.display().to_string(), bytes)
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seeds in {}", dir.display());
        out
    }

    /// Runs `check` on every seed of `target`, naming the seed that fails.
    fn replay(target: &str, check: fn(&[u8])) {
        for (name, bytes) in seeds(target) {
            if std::panic::catch_unwind(|| check(&bytes)).is_err() {
                panic!("seed {name} breaks the contract");
            }
        }
    }

    #[test]
    fn seeds_hold() {
        replay("record", record);
        replay("stored_state", stored_state);
        replay("import_jsonl", import_jsonl);
        replay("import_csv", import_csv);
        replay("import_cdnow", import_cdnow);
        replay("policies", policies);
        replay("store_ops", store_ops);
    }

    /// The policy seeds are the default policies (so that the fuzzer starts
    /// from valid ones), and the fixed histories are both there.
    #[test]
    fn policy_seeds_are_the_defaults_and_histories_load() {
        assert_eq!(histories().len(), 2);
        assert!(histories().iter().all(|(_, events)| events.len() > 10));
        let seeds = seeds("policies");
        assert_eq!(seeds.len(), 6);
        for (name, bytes) in &seeds {
            let json = &bytes[9..];
            let valid = match bytes[0] % 6 {
                0 => serde_json::from_slice::<clientele_lifecycle::LifecyclePolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
                1 => serde_json::from_slice::<clientele_loyalty::LoyaltyPolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
                2 => serde_json::from_slice::<clientele_loyalty::PointsPolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
                3 => serde_json::from_slice::<clientele_churn::RiskPolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
                4 => serde_json::from_slice::<clientele_churn::WarningPolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
                _ => serde_json::from_slice::<clientele_complaint::ComplaintPolicy>(json)
                    .is_ok_and(|p| p == Default::default()),
            };
            assert!(valid, "{name}");
        }
    }

    /// A seed with some of its bytes replaced, cut or repeated.
    fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
        let seeds: Vec<Vec<u8>> = seeds(target).into_iter().map(|(_, b)| b).collect();
        (
            proptest::sample::select(seeds),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..8),
        )
            .prop_map(|(mut bytes, edits)| {
                for (at, byte, how) in edits {
                    if bytes.is_empty() {
                        bytes.push(byte);
                        continue;
                    }
                    let i = at.index(bytes.len());
                    match how {
                        0 => bytes[i] = byte,
                        1 => bytes.truncate(i),
                        2 => bytes.insert(i, byte),
                        _ => {
                            let tail = bytes[i..].to_vec();
                            bytes.extend_from_slice(&tail);
                        }
                    }
                }
                bytes
            })
    }

    /// JSON pointers to the numbers and nulls (unset options) in `value`.
    fn number_slots(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Number(_) | serde_json::Value::Null => out.push(at),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    number_slots(item, format!("{at}/{i}"), out);
                }
            }
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    number_slots(field, format!("{at}/{key}"), out);
                }
            }
            _ => {}
        }
    }

    /// A number as JSON: an integer when it is one (so that integer fields
    /// take it), else a float (NaN and infinities become null).
    fn json_number(v: f64) -> serde_json::Value {
        if v.fract() == 0.0 && v.abs() < 9.2e18 {
            serde_json::Value::from(v as i64)
        } else if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
            serde_json::Value::from(v as u64)
        } else {
            serde_json::Value::from(v)
        }
    }

    /// A default policy (a `policies` seed) with a few of its numbers, or
    /// unset options, replaced by extreme or odd values: what a hand-edited
    /// configuration file may hold.
    fn odd_policy() -> impl Strategy<Value = Vec<u8>> {
        let seeds: Vec<Vec<u8>> = seeds("policies").into_iter().map(|(_, b)| b).collect();
        let odd = prop_oneof![
            Just(0.0),
            Just(-1.0),
            Just(1.0),
            Just(0.5),
            Just(1e-300),
            Just(1e308),
            Just(-1e308),
            Just(9.0e18),
            Just(1.8e19),
            Just(f64::from(u32::MAX)),
            any::<i32>().prop_map(f64::from),
            (0.0..1e6f64),
        ];
        (
            proptest::sample::select(seeds),
            proptest::collection::vec((any::<prop::sample::Index>(), odd), 1..4),
        )
            .prop_map(|(seed, edits)| {
                let (head, json) = seed.split_at(9);
                let mut value: serde_json::Value = serde_json::from_slice(json).expect("seed JSON");
                let mut slots = Vec::new();
                number_slots(&value, String::new(), &mut slots);
                for (at, v) in edits {
                    if slots.is_empty() {
                        break;
                    }
                    if let Some(slot) = value.pointer_mut(&slots[at.index(slots.len())]) {
                        *slot = json_number(v);
                    }
                }
                let mut bytes = head.to_vec();
                bytes.extend(serde_json::to_vec(&value).expect("JSON"));
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn records(bytes in mutated("record")) {
            record(&bytes);
        }

        #[test]
        fn stored_states(bytes in mutated("stored_state")) {
            stored_state(&bytes);
        }

        #[test]
        fn jsonl_imports(bytes in mutated("import_jsonl")) {
            import_jsonl(&bytes);
        }

        #[test]
        fn csv_imports(bytes in mutated("import_csv")) {
            import_csv(&bytes);
        }

        #[test]
        fn cdnow_imports(bytes in mutated("import_cdnow")) {
            import_cdnow(&bytes);
        }

        #[test]
        fn policy_files(bytes in mutated("policies")) {
            policies(&bytes);
        }

        #[test]
        fn policies_with_odd_numbers(bytes in odd_policy()) {
            policies(&bytes);
        }

        #[test]
        fn store_operations(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            store_ops(&bytes);
        }

        #[test]
        fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            record(&bytes);
            stored_state(&bytes);
            import_jsonl(&bytes);
            import_csv(&bytes);
            import_cdnow(&bytes);
        }
    }

    #[test]
    fn view_time_covers_the_range() {
        assert_eq!(view_time(&[]).0, fixed_now());
        let (at, rest) = view_time(&[0, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!((at.timestamp(), rest), (0, &[9u8][..]));
        let (at, _) = view_time(&[0xff; 8]);
        assert!(at.timestamp() >= 0 && at.timestamp() < 200 * 365 * 86_400);
    }
}
