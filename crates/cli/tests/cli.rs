//! End-to-end tests: the `clientele` binary on temporary stores.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::Value;

mod common;

use common::{Sandbox, CDNOW};

/// `verify --json` must pass; the number of events verified.
fn verify_events(s: &Sandbox, db: &str) -> u64 {
    let (code, doc, stderr) = s.json(&["--db", db, "verify"]);
    assert_eq!(code, 0, "verify failed: {stderr}");
    doc["result"]["events"].as_u64().expect("events")
}

/// The store exported as JSON lines.
fn export(s: &Sandbox, db: &str, name: &str) -> String {
    let out = s.path(name);
    let o = s.run(&["--db", db, "export", "--out", &out.display().to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).expect("read export")
}

fn stream_lengths(export: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in export.lines() {
        let v: Value = serde_json::from_str(line).expect("export line");
        *out.entry(v["customer"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    out
}

#[test]
fn help_lists_commands_with_examples() {
    let s = Sandbox::new();
    let o = s.run(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let commands = [
        "import",
        "export",
        "verify",
        "backup",
        "restore",
        "customer",
        "demo",
        "forget",
        "retention",
        "report",
        "churn-scores",
        "warn",
        "warnings",
        "backtest",
        "explain",
        "lookup",
        "renewals",
        "stats",
        "rebuild",
    ];
    for word in commands.iter().chain(&["model", "Examples"]) {
        assert!(text.contains(word), "help lacks {word}: {text}");
    }
    for cmd in commands {
        let o = s.run(&[cmd, "--help"]);
        assert!(o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Examples:"),
            "{cmd}"
        );
    }
}

#[test]
fn usage_and_missing_store_errors_have_hints_and_codes() {
    let s = Sandbox::new();
    let o = s.run(&["import"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("\nhint: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    let (code, doc, _) = s.json(&["--db", &s.db("none"), "verify"]);
    assert_eq!(code, 1);
    assert_eq!(doc["ok"], false);
    assert!(doc["error"]["hint"].as_str().unwrap_or("").contains("demo"));
    assert!(!s.path("none").exists(), "verify must not create a store");
}

#[test]
fn demo_summarises_and_is_idempotent() {
    let s = Sandbox::new();
    let db = s.db("demo");
    let o = s.run(&["--db", &db, "demo", "--customers", "150", "--seed", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Generated 150 customers"), "{text}");
    assert!(text.contains("What to try next"), "{text}");
    assert!(text.contains("complaints:"), "{text}");
    assert!(text.contains("lifecycle stages: acquisition"), "{text}");
    assert!(
        text.contains("Churn-warning job as of 2025-06-30"),
        "{text}"
    );
    let first = verify_events(&s, &db);
    assert!(first > 1000, "only {first} events");

    let (code, doc, stderr) = s.json(&["--db", &db, "demo", "--customers", "150", "--seed", "3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["events_written"], 0);
    assert_eq!(doc["result"]["already_present"].as_u64(), Some(first));
    assert_eq!(doc["result"]["stats"]["customers"], 150);
    assert_eq!(
        verify_events(&s, &db),
        first,
        "second run duplicated events"
    );
    // The projections saw everyone; the churn job warned once per episode.
    let population = &doc["result"]["population"];
    assert_eq!(population["customers"], 150);
    let staged: u64 = population["stages"]
        .as_object()
        .expect("stages")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(staged, 150);
    // The history stops on 2025-06-30 and a view defaults to now: the
    // suggested customer views are taken where the demo left them.
    let commands: Vec<&str> = doc["result"]["try_next"]
        .as_array()
        .expect("try_next")
        .iter()
        .filter_map(|e| e["command"].as_str())
        .collect();
    let views: Vec<&&str> = commands
        .iter()
        .filter(|c| c.contains(" customer ") || c.contains(" explain "))
        .collect();
    assert!(views.len() >= 3, "{commands:?}");
    for view in views {
        assert!(view.contains(" --as-of 20"), "{view}");
    }
    let job = &doc["result"]["churn_job"];
    assert_eq!(job["raised"], 0, "a rerun raises nothing new");
    let stored = job["stored"].as_u64().expect("stored");
    assert!(stored > 0 && stored < 150, "{job}");
    // Customers silent beyond the exit horizon are on the win-back list, not high risk.
    let win_back = job["by_kind"]["win_back"].as_u64().expect("win_back");
    let high_risk = job["by_kind"]["high_risk"].as_u64().expect("high_risk");
    assert!(win_back > 0 && high_risk > 0, "{job}");
    assert!(text.contains(" win back "), "{text}");

    // Another seed on the same store is refused.
    let (code, _, _) = s.json(&["--db", &db, "demo", "--customers", "150", "--seed", "4"]);
    assert_eq!(code, 2);

    // The suggested lookups work: external id and UUID.
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", "D-000001"]);
    assert_eq!(code, 0, "{stderr}");
    let report = &doc["result"];
    assert_eq!(report["profile"]["external_ids"][0], "D-000001");
    assert_eq!(report["personal_data"], "available");
    let id = report["customer_id"].as_str().unwrap().to_owned();
    let (code, doc, _) = s.json(&["--db", &db, "customer", &id, "--as-of", "2023-01-01"]);
    assert_eq!(code, 0);
    assert!(doc["result"]["events_in_view"].as_u64() <= report["events_in_view"].as_u64());
    let (code, _, _) = s.json(&["--db", &db, "customer", "D-999999"]);
    assert_eq!(code, 3);

    // A subscriber: bills paid show in the view, and ten days after one the
    // churn risk says the customer is paying.
    let subscriber = (1..=150).map(|i| format!("D-{i:06}")).find_map(|external| {
        let (_, doc, _) = s.json(&["--db", &db, "customer", &external]);
        let report = doc["result"].clone();
        (report["profile"]["segment"]["segment"] == "telecom"
            && report["purchases"]["payments"].as_u64() > Some(3))
        .then_some((external, report))
    });
    let (external, report) = subscriber.expect("a telecom customer among 150");
    let paid = report["purchases"]["paid"]["CNY"].as_str().unwrap_or("");
    assert!(paid.parse::<f64>().is_ok_and(|p| p > 0.0), "{report}");
    let last = report["purchases"]["last_payment"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("last payment");
    let view_at = (last + chrono::Duration::days(10)).to_rfc3339();
    let o = s.run(&["--db", &db, "customer", &external, "--as-of", &view_at]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("paying (last bill 10 days ago)"), "{text}");
    assert!(text.contains(" CNY paid ("), "{text}");
}

#[test]
fn cdnow_import_aggregates_days_and_is_idempotent() {
    let s = Sandbox::new();
    let db = s.db("cdnow");
    let text = std::fs::read_to_string(CDNOW).expect("cdnow sample");
    let mut customers = HashSet::new();
    let mut days = HashSet::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() == 5 {
            customers.insert(cols[1].to_owned());
            days.insert((cols[1].to_owned(), cols[2].to_owned()));
        }
    }
    assert_eq!(customers.len(), 2357);
    let (code, doc, stderr) = s.json(&["--db", &db, "import", CDNOW, "--format", "cdnow"]);
    assert_eq!(code, 0, "{stderr}");
    let r = &doc["result"];
    assert_eq!(r["customers"], 2357);
    assert_eq!(r["lines_read"], 6919);
    assert_eq!(r["skipped"], 0);
    assert_eq!(r["identifier_profiles"], 2357);
    assert_eq!(r["events_written"].as_u64(), Some(days.len() as u64 + 2357));
    let export = export(&s, &db, "cdnow.jsonl");
    let purchases = export
        .lines()
        .filter(|l| l.contains("\"kind\":\"purchase\""))
        .count();
    assert_eq!(purchases, days.len());
    let verify = verify_events(&s, &db);

    let (code, doc, _) = s.json(&["--db", &db, "import", CDNOW, "--format", "cdnow"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["events_written"], 0);
    assert_eq!(
        doc["result"]["already_present"].as_u64(),
        Some(days.len() as u64)
    );
    assert_eq!(verify_events(&s, &db), verify);

    // Customer 1 (sample id 0001) by external id: 4 purchases on 4 days.
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let usd = &doc["result"]["purchases"]["by_currency"][0];
    assert_eq!(usd["currency"], "USD");
    assert_eq!(usd["purchases"], 4);
    assert_eq!(usd["purchased"], "100.50");

    // Typed as in the file (`0001`): not resolved to `1` behind the user's
    // back, but the error names the id that exists.
    let (code, _, stderr) = s.json(&["--db", &db, "customer", "0001"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("external id \"1\" exists"), "{stderr}");
    assert!(stderr.contains("try `1`"), "{stderr}");
    let (code, _, stderr) = s.json(&["--db", &db, "customer", "external:0001"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("try `1`"), "{stderr}");
    // No such id without the zeros either: the plain error.
    let (code, _, stderr) = s.json(&["--db", &db, "customer", "0009999"]);
    assert_eq!(code, 3);
    assert!(!stderr.contains("exists"), "{stderr}");
}

const GOOD_AND_BAD: &str = r#"{"customer":"c-1","occurred_at":"2024-05-01T10:00:00Z","kind":"purchase","order_id":"A-1","amount":"165.00","currency":"CNY"}
{"customer":"c-1","occurred_at":"2024-05-02T10:00:00Z","kind":"purchase","order_id":"A-2","amount":1e3,"currency":"CNY"}
{"customer":"c-2","occurred_at":"2024-05-03T10:00:00Z","kind":"contact","channel":"sms","direction":"outbound","purpose":"care"}
{"customer":"c-2","occurred_at":"2024-05-04","kind":"churn","reason":"moved","mood":"sad"}
{"customer":"c-2","occurred_at":"2024-05-05","kind":"complaint","complaint_id":"K1","step":"received"}
"#;

#[test]
fn jsonl_bad_lines_are_skipped_or_reject_the_file() {
    let s = Sandbox::new();
    let file = s.write("events.jsonl", GOOD_AND_BAD);
    let strict_db = s.db("strict");
    let (code, doc, stderr) = s.json(&[
        "--db", &strict_db, "import", &file, "--format", "jsonl", "--strict",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(doc["result"]["written"], false);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(verify_events(&s, &strict_db), 0);

    let db = s.db("default");
    let o = s.run(&["--db", &db, "import", &file, "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("line 2: field `amount`"), "{stderr}");
    assert!(stderr.contains("line 4: field `mood`"), "{stderr}");
    // 3 good lines + 2 identifier profiles (c-1, c-2).
    assert_eq!(verify_events(&s, &db), 5);

    // Re-import after fixing: only the fixed lines are new.
    let fixed = GOOD_AND_BAD
        .replace("1e3", "\"1000\"")
        .replace(",\"mood\":\"sad\"", "");
    let file = s.write("fixed.jsonl", &fixed);
    let (code, doc, _) = s.json(&["--db", &db, "import", &file, "--format", "jsonl"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["events_written"], 2);
    assert_eq!(doc["result"]["already_present"], 3);
    assert_eq!(verify_events(&s, &db), 7);
}

#[test]
fn import_format_comes_from_the_file_name_or_must_be_given() {
    let s = Sandbox::new();
    let db = s.db("db");
    let line = GOOD_AND_BAD.lines().next().expect("a line");
    let jsonl = s.write("events.JSONL", &format!("{line}\n"));
    let (code, doc, stderr) = s.json(&["--db", &db, "import", &jsonl]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["format"], "jsonl");
    // The purchase and c-1's identifier profile.
    assert_eq!(doc["result"]["events_written"], 2);
    let csv = s.write(
        "orders.csv",
        "customer,occurred_at,kind,order_id,amount,currency\n\
         c-3,2024-05-01T10:00:00Z,purchase,B-1,10.00,CNY\n",
    );
    let (code, doc, stderr) = s.json(&["--db", &db, "import", &csv]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["format"], "csv");
    assert_eq!(doc["result"]["events_written"], 2);
    assert_eq!(verify_events(&s, &db), 4);

    // A name that says nothing: a usage error that names the file, nothing written.
    let txt = s.write("events.txt", &format!("{line}\n"));
    let o = s.run(&["--db", &db, "import", &txt]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("cannot tell the format of") && stderr.contains("events.txt"),
        "{stderr}"
    );
    assert!(stderr.contains("--format jsonl"), "{stderr}");
    assert_eq!(verify_events(&s, &db), 4);
    // Given, --format wins over the name.
    let (code, doc, stderr) = s.json(&["--db", &db, "import", &txt, "--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["already_present"], 1);
}

#[test]
fn strict_checks_complaint_order_against_the_stream() {
    let s = Sandbox::new();
    let db = s.db("db");
    let first = s.write(
        "a.jsonl",
        r#"{"customer":"c","occurred_at":"2024-05-01","kind":"complaint","complaint_id":"K","step":"received"}
{"customer":"c","occurred_at":"2024-05-02","kind":"complaint","complaint_id":"K","step":"resolved"}
"#,
    );
    let (code, _, stderr) = s.json(&[
        "--db", &db, "import", &first, "--format", "jsonl", "--strict",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let before = verify_events(&s, &db);
    let second = s.write(
        "b.jsonl",
        r#"{"customer":"c","occurred_at":"2024-05-03","kind":"contact","channel":"phone","direction":"inbound","purpose":"inquiry"}
{"customer":"c","occurred_at":"2024-05-04","kind":"complaint","complaint_id":"K","step":"classified"}
"#,
    );
    let (code, _, stderr) = s.json(&[
        "--db", &db, "import", &second, "--format", "jsonl", "--strict",
    ]);
    assert_eq!(code, 3);
    assert!(stderr.contains("line 2: field `step`"), "{stderr}");
    assert_eq!(verify_events(&s, &db), before, "strict wrote something");
    // Default mode writes the good line and names the refused one.
    let (code, doc, stderr) = s.json(&["--db", &db, "import", &second, "--format", "jsonl"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(doc["result"]["events_written"], 1);
}

#[test]
fn csv_import_with_column_map() {
    let s = Sandbox::new();
    let db = s.db("db");
    let file = s.write(
        "orders.csv",
        "client,date,kind,order_id,amount,currency,quantity,policy_numbers,comment\n\
         C-1,2024-05-01T10:00:00Z,purchase,A-1,165.50,CNY,2,,first order\n\
         C-1,2024-05-02,profile,,,,,P-1;P-2,\n\
         C-2,2024-05-03,purchase,B-1,0.1,CNY,,,\n",
    );
    let (code, doc, stderr) = s.json(&[
        "--db",
        &db,
        "import",
        &file,
        "--format",
        "csv",
        "--source",
        "shop",
        "--map",
        "client=customer",
        "--map",
        "date=occurred_at",
        "--map",
        "comment=-",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["events_written"], 5); // 3 rows + 2 identifier profiles
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", "C-1", "--source", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        doc["result"]["purchases"]["by_currency"][0]["purchased"],
        "165.50"
    );
    assert_eq!(
        doc["result"]["profile"]["policy_numbers"],
        serde_json::json!(["P-1", "P-2"])
    );
    let (code, doc, _) = s.json(&["--db", &db, "customer", "policy:P-2"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["profile"]["external_ids"][0], "C-1");
    // Without the map the header is refused.
    let (code, _, stderr) = s.json(&["--db", &db, "import", &file, "--format", "csv"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("column `client`"), "{stderr}");
}

fn tamper(db: &Path, position: u64) {
    let mut options = rocksdb::Options::default();
    options.create_if_missing(false);
    options.set_compression_type(rocksdb::DBCompressionType::None);
    let names = rocksdb::DB::list_cf(&options, db).expect("list column families");
    let raw = rocksdb::DB::open_cf(&options, db, &names).expect("open raw");
    let cf = raw.cf_handle("events").expect("events column family");
    let key = position.to_be_bytes();
    let mut value = raw.get_cf(&cf, key).expect("read").expect("record present");
    let middle = value.len() / 2;
    value[middle] ^= 0x40;
    raw.put_cf(&cf, key, value).expect("write");
    raw.flush_cf(&cf).expect("flush");
}

/// [`GOOD_AND_BAD`] with its bad lines mended (seven events that import
/// cleanly), written to the sandbox; returns its path.
fn mended_file(s: &Sandbox) -> String {
    s.write(
        "e.jsonl",
        &GOOD_AND_BAD
            .replace("1e3", "5")
            .replace(",\"mood\":\"sad\"", ""),
    )
}

/// Overwrites every stored state of `projection` with bytes that do not
/// decode.
fn garble_states(db: &Path, projection: &str) -> usize {
    let options = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&options, db).expect("list column families");
    let raw = rocksdb::DB::open_cf(&options, db, &names).expect("open raw");
    let cf = raw
        .cf_handle("projections")
        .expect("projections column family");
    // A state's key: the projection's name, 0xff, tag 0, the customer id.
    let mut prefix = projection.as_bytes().to_vec();
    prefix.extend_from_slice(&[0xff, 0]);
    let keys: Vec<Box<[u8]>> = raw
        .prefix_iterator_cf(&cf, &prefix)
        .map(|item| item.expect("read").0)
        .take_while(|key| key.starts_with(&prefix))
        .collect();
    for key in &keys {
        raw.put_cf(&cf, key, [0xde, 0xad]).expect("write");
    }
    raw.flush_cf(&cf).expect("flush");
    keys.len()
}

/// The library's diagnostics reach stderr: warnings always, rebuilds with
/// -v, nothing more by default; a stored state that no longer decodes is
/// refolded from the log (same answer) and named in a warning.
#[test]
fn diagnostics_go_to_stderr_by_level() {
    let s = Sandbox::new();
    let db = s.db("db");
    let file = mended_file(&s);
    let o = s.run(&["--db", &db, "import", &file, "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(0));

    let quiet = s.run(&["--db", &db, "stats", "--as-of", "2030-01-01"]);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("INFO"), "{stderr}");
    let before = String::from_utf8_lossy(&quiet.stdout).into_owned();

    let verbose = s.run(&["--db", &db, "-v", "rebuild", "lifecycle"]);
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        stderr.contains("projection built from zero")
            && stderr.contains("projection=\"lifecycle\""),
        "{stderr}"
    );
    assert!(!stderr.contains("DEBUG"), "{stderr}");
    let debug = s.run(&["--db", &db, "-vv", "stats"]);
    assert!(String::from_utf8_lossy(&debug.stderr).contains("DEBUG"));

    let garbled = garble_states(&s.path("db"), "lifecycle");
    assert!(garbled > 0);
    let refolded = s.run(&["--db", &db, "stats", "--as-of", "2030-01-01"]);
    let stderr = String::from_utf8_lossy(&refolded.stderr);
    // One warning for the population walk, with the count.
    assert!(
        stderr.contains("WARN")
            && stderr.contains("stored states do not decode")
            && stderr.contains(&format!("states={garbled}")),
        "{stderr}"
    );
    assert_eq!(stderr.matches("do not decode").count(), 1, "{stderr}");
    assert!(stderr.contains("projection=\"lifecycle\""), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&refolded.stdout), before);

    // $CLIENTELE_LOG overrides the level: debug events without -v.
    let filtered = std::process::Command::new(env!("CARGO_BIN_EXE_clientele"))
        .args(["--db", &db, "stats"])
        .env("HOME", s.home())
        .env("CLIENTELE_MASTER_KEY", common::KEY)
        .env("CLIENTELE_LOG", "clientele_core=debug")
        .output()
        .expect("run clientele");
    let stderr = String::from_utf8_lossy(&filtered.stderr);
    assert!(
        stderr.contains("DEBUG") && stderr.contains("store opened"),
        "{stderr}"
    );
}

#[test]
fn verify_names_the_tampered_position() {
    let s = Sandbox::new();
    let db = s.db("db");
    let file = mended_file(&s);
    let (code, _, stderr) = s.json(&["--db", &db, "import", &file, "--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(verify_events(&s, &db), 7);
    tamper(&s.path("db"), 4);
    let o = s.run(&["--db", &db, "verify"]);
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("position 4"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[test]
fn backup_restore_and_export_round_trips() {
    let s = Sandbox::new();
    let db = s.db("db");
    let o = s.run(&["--db", &db, "demo", "--customers", "60"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let original = export(&s, &db, "original.jsonl");

    let backup = s.db("backup");
    let (code, doc, stderr) = s.json(&["--db", &db, "backup", &backup]);
    assert_eq!(code, 0, "{stderr}");
    let head_hash = doc["result"]["head_hash"].clone();
    let (code, _, _) = s.json(&["--db", &db, "backup", &backup]);
    assert_eq!(code, 2, "backup must not overwrite");

    let restored = s.db("restored");
    let (code, doc, stderr) = s.json(&["--db", &restored, "restore", &backup]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["head_hash"], head_hash);
    assert_eq!(export(&s, &restored, "restored.jsonl"), original);
    let (code, _, _) = s.json(&["--db", &restored, "restore", &backup]);
    assert_eq!(code, 2, "restore must not overwrite");

    // Export → import into a fresh store: same events, same streams.
    let fresh = s.db("fresh");
    let file = s.path("original.jsonl").display().to_string();
    let (code, doc, stderr) = s.json(&["--db", &fresh, "import", &file, "--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["identifier_profiles"], 0);
    assert_eq!(verify_events(&s, &fresh), verify_events(&s, &db));
    let again = export(&s, &fresh, "again.jsonl");
    assert_eq!(stream_lengths(&again), stream_lengths(&original));
    // And importing the export into the original store finds everything present.
    let (code, doc, _) = s.json(&["--db", &db, "import", &file, "--format", "jsonl"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["events_written"], 0);

    // The same events give the same figures: original, restored, re-imported.
    let stats = |db: &str| {
        let (code, doc, stderr) = s.json(&["--db", db, "stats", "--as-of", "2025-06-30"]);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let figures = stats(&db);
    assert_eq!(figures["customers"], 60);
    assert_eq!(stats(&restored), figures);
    assert_eq!(stats(&fresh), figures);
}

#[test]
fn explain_lookup_renewals_stats_and_rebuild() {
    let s = Sandbox::new();
    let db = s.db("db");
    let o = s.run(&["--db", &db, "demo", "--customers", "200", "--seed", "11"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = verify_events(&s, &db);

    // An insured customer with a licence plate, from the export.
    let export = export(&s, &db, "all.jsonl");
    let profile: Value = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["licence_plate"].is_string() && e["external_ids"].is_array())
        .expect("a profile with a plate");
    let uuid = profile["customer"].as_str().unwrap().to_owned();
    let plate = profile["licence_plate"].as_str().unwrap().to_owned();
    let external = profile["external_ids"][0].as_str().unwrap().to_owned();
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", &external]);
    assert_eq!(code, 0, "{stderr}");
    let sections = &doc["result"]["sections"];
    assert!(sections["stage"]["stage"].is_string(), "{sections}");
    let score = sections["loyalty"]["score"]
        .as_f64()
        .expect("loyalty score");
    assert!((0.0..=100.0).contains(&score), "{sections}");
    let risk = sections["value"]["risk"]["risk"].as_f64().expect("risk");
    assert!((0.0..=1.0).contains(&risk), "{sections}");

    // lookup: exact, and by plate suffix.
    let (code, doc, stderr) = s.json(&["--db", &db, "lookup", &plate]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["customers"][0][0], uuid.as_str());
    let typed = format!("plate:{plate}");
    let (code, doc, _) = s.json(&["--db", &db, "lookup", &typed]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["customers"][0][0], uuid.as_str(), "{doc}");
    // Every command finds a customer the way `lookup` does: a plate typed in
    // lower case with a separator, a phone with a country code's punctuation.
    let mut chars = plate.chars();
    let province: String = chars.next().into_iter().collect();
    let rest = chars.as_str().to_lowercase();
    let sloppy = format!("plate:{province}{} {}", &rest[..1], &rest[1..]);
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", &sloppy]);
    assert_eq!(code, 0, "{sloppy}: {stderr}");
    assert_eq!(doc["result"]["customer_id"], uuid.as_str());
    let (code, doc, _) = s.json(&["--db", &db, "lookup", &sloppy]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["customers"][0][0], uuid.as_str(), "{doc}");
    assert_eq!(
        doc["result"]["matches"][0]["external_id"],
        external.as_str()
    );
    assert!(doc["result"]["matches"][0]["stage"].is_string(), "{doc}");
    // The stage is as of --as-of: before the first event there is none.
    let (code, doc, _) = s.json(&["--db", &db, "lookup", &sloppy, "--as-of", "2000-01-01"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["as_of"], "2000-01-01T23:59:59.999999Z");
    assert!(doc["result"]["matches"][0]["stage"].is_null(), "{doc}");
    if let Some(phone) = profile["phone"].as_str() {
        let dashed = format!("phone:{}-{}", &phone[..3], &phone[3..]);
        let (code, doc, stderr) = s.json(&["--db", &db, "customer", &dashed]);
        assert_eq!(code, 0, "{dashed}: {stderr}");
        assert_eq!(doc["result"]["customer_id"], uuid.as_str());
    }
    let typed_external = format!("external:{external}");
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", &typed_external]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["customer_id"], uuid.as_str());
    let suffix: String = plate
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let (code, doc, _) = s.json(&["--db", &db, "lookup", "--plate-suffix", &suffix]);
    assert_eq!(code, 0);
    assert!(doc["result"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c[0] == uuid.as_str()));

    // explain: a timeline that starts from nothing, every change with a cause.
    let (code, doc, stderr) = s.json(&["--db", &db, "explain", &external, "--as-of", "2025-06-30"]);
    assert_eq!(code, 0, "{stderr}");
    let timeline = doc["result"]["timeline"].as_array().expect("timeline");
    assert!(!timeline.is_empty());
    assert!(timeline[0]["from"].is_null());
    for change in timeline {
        assert!(
            change["cause"]["event"].is_object() || change["cause"]["elapsed"].is_object(),
            "{change}"
        );
    }
    assert_eq!(
        timeline.last().unwrap()["to"],
        doc["result"]["view"]["stage"]
    );
    // As known before anything was recorded: nothing.
    let (code, doc, _) = s.json(&[
        "--db",
        &db,
        "explain",
        &external,
        "--as-of",
        "2025-06-30",
        "--known-at",
        "2000-01-01",
    ]);
    assert_eq!(code, 0);
    assert!(doc["result"]["view"].is_null());
    assert_eq!(doc["result"]["timeline"].as_array().map(Vec::len), Some(0));

    // renewals: policies due in a year's window, sorted by date, each in range.
    let year = |extra: &[&'static str]| renewals_args(&db, "2025-01-01", "2025-12-31", extra);
    let (code, doc, stderr) = s.json(&year(&[]));
    assert_eq!(code, 0, "{stderr}");
    let due = doc["result"]["due"].as_array().expect("due");
    assert!(!due.is_empty());
    let dates: Vec<&str> = due
        .iter()
        .filter_map(|d| d["valid_until"].as_str())
        .collect();
    assert_eq!(dates.len(), due.len());
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    assert!(dates
        .iter()
        .all(|d| ("2025-01-01"..="2025-12-31").contains(d)));
    // Each with the customer's external id (the demo's are D-…), and the
    // intent's machine name in JSON, words in the text.
    assert!(
        due.iter().all(|d| d["external_id"]
            .as_str()
            .is_some_and(|e| e.starts_with("D-"))),
        "{due:?}"
    );
    let intents: Vec<&str> = due.iter().filter_map(|d| d["intent"].as_str()).collect();
    assert!(intents.contains(&"not_renewing"), "{intents:?}");
    let out = s.run(&year(&[]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  not renewing\n"), "{text}");
    assert!(!text.contains("not_renewing"), "{text}");
    let first = &due[0];
    let line = format!(
        "{}  {:<16} {}  {}",
        first["valid_until"].as_str().unwrap_or(""),
        first["policy_number"].as_str().unwrap_or(""),
        first["customer"].as_str().unwrap_or(""),
        first["external_id"].as_str().unwrap_or("")
    );
    assert!(
        text.lines().nth(1).is_some_and(|l| l.starts_with(&line)),
        "{line}\n{text}"
    );
    let (code, _, _) = s.json(&renewals_args(&db, "2025-12-31", "2025-01-01", &[]));
    assert_eq!(code, 2);
    // As known after everything was recorded: the same list; before: none.
    let renewals_known = |known: &'static str| {
        let (code, doc, stderr) = s.json(&year(&["--known-at", known]));
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let later = renewals_known("2100-01-01");
    assert!(later["known_at"].is_string(), "{later}");
    assert_eq!(later["due"], doc["result"]["due"]);
    assert_eq!(
        renewals_known("2000-01-01")["due"].as_array().map(Vec::len),
        Some(0)
    );

    // stats, then rebuild everything: identical figures.
    let stats = || {
        let (code, doc, stderr) = s.json(&["--db", &db, "stats", "--as-of", "2025-06-30"]);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let before = stats();
    assert_eq!(before["customers"], 200);
    let (code, doc, stderr) = s.json(&["--db", &db, "rebuild"]);
    assert_eq!(code, 0, "{stderr}");
    let rebuilt = doc["result"]["rebuilt"].as_array().expect("rebuilt");
    assert_eq!(rebuilt.len(), 6);
    assert!(rebuilt
        .iter()
        .all(|r| r["position"].as_u64() == Some(events)));
    assert_eq!(stats(), before);
    let (code, doc, _) = s.json(&["--db", &db, "rebuild", "nonsense"]);
    assert_eq!(code, 2);
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("nonsense"));
}

/// `stats --known-at R` counts what the log held at R: a customer first
/// imported later is left out, and so is a late-reported purchase; at a
/// time after every import it equals plain `stats`.
#[test]
fn stats_as_known_at_a_recorded_time() {
    let s = Sandbox::new();
    let db = s.db("known");
    let first = s.write(
        "first.jsonl",
        r#"{"customer":"k-1","occurred_at":"2024-05-01T10:00:00Z","kind":"purchase","order_id":"K-1","amount":"100.00","currency":"CNY"}
"#,
    );
    let later = s.write(
        "later.jsonl",
        r#"{"customer":"k-1","occurred_at":"2024-04-20T10:00:00Z","kind":"purchase","order_id":"K-0","amount":"40.00","currency":"CNY"}
{"customer":"k-2","occurred_at":"2024-05-03T10:00:00Z","kind":"purchase","order_id":"K-2","amount":"7.00","currency":"CNY"}
"#,
    );
    let (code, _, stderr) = s.json(&["--db", &db, "import", &first]);
    assert_eq!(code, 0, "{stderr}");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let known_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, _, stderr) = s.json(&["--db", &db, "import", &later]);
    assert_eq!(code, 0, "{stderr}");

    let stats = |extra: &[&str]| {
        let mut args = vec!["--db", db.as_str(), "stats", "--as-of", "2024-06-30"];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let then = stats(&["--known-at", &known_at]);
    assert_eq!(then["customers"], 1, "{then}");
    assert_eq!(then["revenue"]["CNY"], "100.00", "{then}");
    assert!(
        then["known_at"].as_str().is_some_and(|k| !k.is_empty()),
        "{then}"
    );
    assert_eq!(
        then["loyalty_tiers"].as_object().map(|t| t
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum::<u64>()),
        Some(1)
    );
    let now = stats(&[]);
    assert_eq!(now["customers"], 2, "{now}");
    assert_eq!(now["revenue"]["CNY"], "147.00", "{now}");
    assert!(now.get("known_at").is_none());
    let mut everything = stats(&["--known-at", "2100-01-01"]);
    if let Some(o) = everything.as_object_mut() {
        o.remove("known_at");
    }
    assert_eq!(everything, now);

    // churn-scores too: one row per customer known then.
    let rows = |extra: &[&str]| {
        let mut args = vec![
            "--db",
            db.as_str(),
            "churn-scores",
            "--as-of",
            "2024-06-30",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let o = s.run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().count() - 1
    };
    assert_eq!(rows(&["--known-at", &known_at]), 1);
    assert_eq!(rows(&[]), 2);

    // model fit reads the same population.
    let fit = |extra: &[&str]| {
        let mut args = vec!["--db", db.as_str(), "model", "fit", "--as-of", "2024-06-30"];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let fit_then = fit(&["--known-at", &known_at]);
    assert_eq!(fit_then["customers"], 1, "{fit_then}");
    assert!(fit_then["known_at"].is_string(), "{fit_then}");
    assert_eq!(fit(&[])["customers"], 2);

    let text = s.run(&[
        "--db",
        &db,
        "stats",
        "--as-of",
        "2024-06-30",
        "--known-at",
        &known_at,
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1 customer as of 2024-06-30T23:59:59"),
        "{text}"
    );
    assert!(text.contains("as known at"), "{text}");

    // The report as it would have been drawn at R.
    let report = |extra: &[&str]| {
        let page = s.path(&format!("report-{}.html", extra.len()));
        let page = page.display().to_string();
        let mut args = vec![
            "--db",
            db.as_str(),
            "report",
            "--as-of",
            "2024-06-30",
            "--out",
            &page,
        ];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        let html = std::fs::read_to_string(&page).unwrap();
        (doc["result"].clone(), html)
    };
    let counted = |doc: &serde_json::Value, name: &str| {
        doc["counts"]
            .as_array()
            .and_then(|c| c.iter().find(|pair| pair[0] == name))
            .map(|pair| pair[1].clone())
    };
    let (then, html) = report(&["--known-at", &known_at]);
    assert_eq!(counted(&then, "customers"), Some(1.into()), "{then}");
    assert_eq!(counted(&then, "purchases"), Some(1.into()), "{then}");
    let funnel: u64 = then["stage_funnel"]
        .as_array()
        .map(|f| f.iter().filter_map(|pair| pair[1].as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(funnel, 1, "{then}");
    assert!(then["known_at"].is_string(), "{then}");
    assert!(html.contains("as known at"), "the page says so");
    let (now, html) = report(&[]);
    assert_eq!(counted(&now, "customers"), Some(2.into()), "{now}");
    assert_eq!(counted(&now, "purchases"), Some(3.into()), "{now}");
    assert!(now.get("known_at").is_none(), "{now}");
    assert!(!html.contains("as known at"));

    // And the backtest as it could have been run at R: k-1's purchase of
    // 20 April was not known then, so nobody had bought by the 25th.
    let backtest = |extra: &[&str]| {
        let mut args = vec![
            "--db",
            db.as_str(),
            "backtest",
            "--horizon",
            "4w",
            "--as-of",
        ];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    let now = backtest(&["2024-04-25"]);
    assert_eq!(now["customers"], 1, "{now}");
    assert_eq!(now["churned"], 0, "{now}");
    assert!(now.get("known_at").is_none(), "{now}");
    // Frozen on 25 April, 4 weeks, known at `known`.
    fn known_args<'a>(db: &'a str, known: &'a str) -> Vec<&'a str> {
        let mut args = vec!["--db", db, "backtest", "--as-of", "2024-04-25"];
        args.extend(["--horizon", "4w", "--known-at", known]);
        args
    }
    let (code, doc, _) = s.json(&known_args(&db, &known_at));
    assert_eq!(code, 2, "{doc}");
    let message = doc["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("no customer known at") && message.contains("2024-04-25"),
        "{doc}"
    );
    // Known at a time before anything was recorded: nothing to backtest,
    // and the hint says which flag to change.
    let (code, doc, _) = s.json(&known_args(&db, "2000-01-01"));
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("later --known-at")),
        "{doc}"
    );
    // Known at a time after both imports: today's backtest.
    let mut later = backtest(&["2024-04-25", "--known-at", "2100-01-01"]);
    assert!(later["known_at"].is_string(), "{later}");
    let mut now = now;
    for doc in [&mut later, &mut now] {
        if let Some(o) = doc.as_object_mut() {
            o.remove("known_at");
            o.remove("warnings"); // which say where the events came from
        }
    }
    assert_eq!(later, now);
    let text = s.run(&known_args(&db, "2100-01-01"));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.starts_with(
            "backtest as of 2024-04-25 over 28 days, as known at 2100-01-01T23:59:59.999999Z: 1 customer"
        )),
        "{text}"
    );
}

/// The renewal list of 2025, as known now.
/// `--db DB renewals --from FROM --to TO`, then `extra`.
fn renewals_args<'a>(db: &'a str, from: &'a str, to: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--db", db, "renewals", "--from", from, "--to", to];
    args.extend_from_slice(extra);
    args
}

/// The demo's telecom subscribers: `model fit` fits the sBG on them (and
/// refuses a Pareto/NBD with no finite maximum), and the customer view of
/// one still paying gives their bills, the chance they renew and the value
/// of the bills to come.
#[test]
fn subscribers_get_a_retention_model_and_a_residual_value() {
    let s = Sandbox::new();
    let db = s.db("db");
    let o = s.run(&["--db", &db, "demo", "--customers", "200", "--seed", "11"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (code, doc, stderr) = s.json(&["--db", &db, "model", "fit", "--as-of", "2025-06-30"]);
    assert_eq!(code, 0, "{stderr}");
    // The demo's dropout rates are one rate for everyone: Pareto/NBD says it
    // has no finite fit rather than reporting estimates out at s, beta ~ 1e7.
    let pareto = doc["result"]["pareto_nbd"]["error"].as_str().unwrap_or("");
    assert!(pareto.contains("no finite maximum"), "{pareto}");
    assert!(doc["result"]["bg_nbd"]["error"].is_null());
    let subs = &doc["result"]["subscribers"];
    let count = subs["subscribers"].as_u64().expect("subscribers");
    assert!(
        count > 0 && subs["lapsed"].as_u64().unwrap() <= count,
        "{subs}"
    );
    assert_eq!(subs["lapse_days"], 90);
    let alpha = subs["sbg"]["alpha"].as_f64().expect("alpha");
    assert!(alpha > 0.0 && subs["sbg"]["beta"].as_f64().unwrap() > 0.0);
    let (first, twelfth) = (
        subs["renewal"][0].as_f64().unwrap(),
        subs["renewal"][1].as_f64().unwrap(),
    );
    assert!(0.0 < first && first <= twelfth && twelfth < 1.0, "{subs}");
    let text = String::from_utf8_lossy(
        &s.run(&["--db", &db, "model", "fit", "--as-of", "2025-06-30"])
            .stdout,
    )
    .into_owned();
    assert!(
        text.contains(" subscribers (") && text.contains("sBG"),
        "{text}"
    );

    // A subscriber: the first customer with a bill, viewed a day after it.
    let export = export(&s, &db, "all.jsonl");
    let bill: Value = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("BILL-"))
        })
        .expect("a bill");
    let customer = bill["customer"].as_str().unwrap().to_owned();
    let day = &bill["occurred_at"].as_str().unwrap()[..10];
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Days::new(1);
    let view = |as_of: &str| {
        let (code, doc, stderr) = s.json(&["--db", &db, "customer", &customer, "--as-of", as_of]);
        assert_eq!(code, 0, "{stderr}");
        doc["result"]["sections"]["value"]["subscription"].clone()
    };
    let paying = view(&next.to_string());
    assert!(
        paying["subscription"]["bills"].as_u64().unwrap() >= 1,
        "{paying}"
    );
    assert_eq!(paying["subscription"]["lapsed"], false);
    let renewal = paying["renewal"].as_f64().expect("renewal");
    assert!(0.0 < renewal && renewal < 1.0, "{paying}");
    assert!(paying["residual_value"].as_f64().unwrap() > 0.0, "{paying}");
    assert_eq!(paying["discount_per_period"], 0.01);
    // Before the first bill, no subscription.
    assert!(view("2020-01-01").is_null());
}
