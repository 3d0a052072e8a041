//! End-to-end tests of `forget`, `retention` and exporting erased data: the
//! `clientele` binary on temporary stores, and the bytes left on disk.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;

/// A scratch home with one database, `db`.
struct Sandbox {
    home: common::Sandbox,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            home: common::Sandbox::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path(name)
    }

    fn db(&self) -> String {
        self.home.db("db")
    }

    fn command(&self, args: &[&str], key: bool) -> Output {
        self.home.command(args, key)
    }

    /// `--db <db> ARGS --json` with the key; (exit code, document, stderr).
    fn json(&self, args: &[&str]) -> (i32, Value, String) {
        self.json_with(args, true)
    }

    fn json_with(&self, args: &[&str], key: bool) -> (i32, Value, String) {
        let db = self.db();
        let mut all = vec!["--db", db.as_str()];
        all.extend_from_slice(args);
        self.home.json_with(&all, key)
    }

    /// Human output: (exit code, stdout, stderr).
    fn text(&self, args: &[&str]) -> (i32, String, String) {
        let db = self.db();
        let mut all = vec!["--db", db.as_str()];
        all.extend_from_slice(args);
        let out = self.command(&all, true);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn import(&self, name: &str, text: &str) {
        let file = self.path(name);
        std::fs::write(&file, text).expect("write");
        let (code, _, stderr) =
            self.json(&["import", &file.display().to_string(), "--format", "jsonl"]);
        assert_eq!(code, 0, "{stderr}");
    }

    fn verify(&self) -> u64 {
        let (code, doc, stderr) = self.json(&["verify"]);
        assert_eq!(code, 0, "verify failed: {stderr}");
        doc["result"]["events"].as_u64().expect("events")
    }

    fn export(&self, name: &str, key: bool, extra: &[&str]) -> (i32, String, String) {
        let out = self.path(name);
        let db = self.db();
        let out_text = out.display().to_string();
        let mut args = vec!["--db", db.as_str(), "export", "--out", out_text.as_str()];
        args.extend_from_slice(extra);
        let o = self.command(&args, key);
        (
            o.status.code().unwrap_or(-1),
            std::fs::read_to_string(&out).unwrap_or_default(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

/// Every file under `dir`, recursively, as (path, bytes).
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

/// The files under `dir` that contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|(_, bytes)| contains(bytes, needle))
        .map(|(p, _)| p)
        .collect()
}

/// Every live key and value of every column family (decompressed by RocksDB).
fn live_records(db: &Path) -> Vec<Vec<u8>> {
    let options = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&options, db).expect("list column families");
    let raw = rocksdb::DB::open_cf_for_read_only(&options, db, &names, false).expect("open raw");
    let mut out = Vec::new();
    for name in &names {
        let cf = raw.cf_handle(name).expect("column family");
        for item in raw.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item.expect("read");
            out.push(k.to_vec());
            out.push(v.to_vec());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The wrapped data keys of `customer` (values of the `data_keys` column family).
fn wrapped_keys(db: &Path, customer: &str) -> Vec<Vec<u8>> {
    let id = uuid::Uuid::parse_str(customer).expect("customer uuid");
    let options = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&options, db).expect("list column families");
    let raw = rocksdb::DB::open_cf_for_read_only(&options, db, &names, false).expect("open raw");
    let cf = raw.cf_handle("data_keys").expect("data_keys column family");
    raw.iterator_cf(&cf, rocksdb::IteratorMode::Start)
        .map(|item| item.expect("read"))
        .filter(|(k, _)| k.starts_with(id.as_bytes()))
        .map(|(_, v)| v.to_vec())
        .collect()
}

const PEOPLE: &str = r#"{"customer":"cust-forgotten-7731","occurred_at":"2024-05-01T10:00:00Z","kind":"profile","name":"Zhang Forgotten-Wei","phone":"13812347731","licence_plate":"京A77310"}
{"customer":"cust-forgotten-7731","occurred_at":"2024-05-02T10:00:00Z","kind":"purchase","order_id":"A-1","amount":"165.00","currency":"CNY"}
{"customer":"cust-forgotten-7731","occurred_at":"2024-05-03T10:00:00Z","kind":"contact","channel":"phone","direction":"inbound","purpose":"inquiry","note":"wants a call about claim SECRET-NOTE-7731"}
{"customer":"cust-kept-4410","occurred_at":"2024-05-01T11:00:00Z","kind":"profile","name":"Li Kept-Na","phone":"13900004410","licence_plate":"沪B44100"}
{"customer":"cust-kept-4410","occurred_at":"2024-05-04T10:00:00Z","kind":"purchase","order_id":"B-1","amount":"88.00","currency":"CNY"}
"#;

#[test]
fn forget_erases_everywhere_and_is_idempotent() {
    let s = Sandbox::new();
    s.import("people.jsonl", PEOPLE);
    // The lookups build the identifier index (plaintext terms on disk).
    let (code, doc, stderr) = s.json(&["customer", "plate:京A77310"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["profile"]["name"], "Zhang Forgotten-Wei");
    let forgotten = doc["result"]["customer_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, doc, _) = s.json(&["customer", "plate:沪B44100"]);
    assert_eq!(code, 0);
    let kept = doc["result"]["customer_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let events_before = s.verify();

    let secrets: [&[u8]; 5] = [
        "京A77310".as_bytes(),
        b"13812347731",
        b"Zhang Forgotten-Wei",
        b"SECRET-NOTE-7731",
        b"cust-forgotten-7731",
    ];
    let keys = wrapped_keys(&s.path("db"), &forgotten);
    assert!(!keys.is_empty(), "the customer has data keys");
    // Positive controls: the scans find what the store holds before the erasure
    // (live records are read through RocksDB, so compression cannot hide them;
    // wrapped keys are random bytes, stored verbatim in the files).
    let live = live_records(&s.path("db"));
    for term in [
        "plate:京A77310",
        "phone:13812347731",
        "ext:cust-forgotten-7731",
    ] {
        assert!(
            live.iter().any(|r| contains(r, term.as_bytes())),
            "the identifier index should hold {term} before forget"
        );
    }
    for k in &keys {
        assert!(
            !holding(&s.path("db"), k).is_empty(),
            "wrapped key not found on disk before forget"
        );
    }

    let (code, doc, stderr) = s.json(&[
        "forget",
        "plate:京A77310",
        "--reason",
        "erasure request #118",
        "--actor",
        "staff-07",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let r = &doc["result"];
    assert_eq!(r["status"], "forgotten");
    assert_eq!(r["customer_id"], forgotten.as_str());
    assert!(r["identifiers_removed"].as_u64() >= Some(3), "{r}");
    assert!(r["events_erased"].as_u64() >= Some(2), "{r}");
    let position = r["erasure_position"].as_u64().expect("position");
    assert_eq!(position, events_before + 1);

    // (a) The forgotten customer is no longer found by identifier…
    let (code, _, stderr) = s.json(&["customer", "plate:京A77310"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no customer found"), "{stderr}");
    // …and by UUID shows erased personal data with the public facts intact.
    let (code, doc, _) = s.json(&["customer", &forgotten]);
    assert_eq!(code, 0);
    let r = &doc["result"];
    assert_eq!(r["personal_data"], "erased");
    assert!(r["profile"]["name"].is_null());
    assert!(r["profile"]["licence_plate"].is_null());
    assert_eq!(r["purchases"]["by_currency"][0]["purchased"], "165.00");
    // (b) The other customer is intact.
    let (code, doc, _) = s.json(&["customer", "plate:沪B44100"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["customer_id"], kept.as_str());
    assert_eq!(doc["result"]["profile"]["name"], "Li Kept-Na");
    assert_eq!(doc["result"]["personal_data"], "available");
    // (c) The log still verifies.
    assert_eq!(s.verify(), events_before + 1);
    // (d) No file of the store holds the plaintext or the wrapped keys, and
    // no live record (index terms, states, snapshots) holds the plaintext.
    let live = live_records(&s.path("db"));
    for secret in secrets {
        assert!(
            !live.iter().any(|r| contains(r, secret)),
            "{:?} still in a live record",
            String::from_utf8_lossy(secret)
        );
    }
    assert!(
        live.iter()
            .any(|r| contains(r, "plate:沪B44100".as_bytes())),
        "the other customer's index entries must stay"
    );
    for secret in secrets {
        let found = holding(&s.path("db"), secret);
        assert!(
            found.is_empty(),
            "{:?} still on disk in {found:?}",
            String::from_utf8_lossy(secret)
        );
    }
    for k in &keys {
        let found = holding(&s.path("db"), k);
        assert!(found.is_empty(), "wrapped key still on disk in {found:?}");
    }
    assert!(wrapped_keys(&s.path("db"), &forgotten).is_empty());

    // (e) Forgetting again writes nothing and says so.
    let (code, stdout, stderr) = s.text(&["forget", &forgotten, "--reason", "again"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("already forgotten"), "{stdout}");
    assert!(stdout.contains(&format!("position {position}")), "{stdout}");
    let (code, doc, _) = s.json(&["forget", &forgotten, "--reason", "again"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["status"], "already_forgotten");
    assert_eq!(doc["result"]["reason"], "erasure request #118");
    assert_eq!(doc["result"]["actor"], "staff-07");
    assert_eq!(s.verify(), events_before + 1);
    // By identifier, the hint says how to name a forgotten customer.
    let (code, _, stderr) = s.json(&["forget", "plate:京A77310", "--reason", "again"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("only by UUID"), "{stderr}");

    // Export: erased events keep their public fields, marked erased.
    let (code, export, stderr) = s.export("all.jsonl", true, &[]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|l| l["customer"] == forgotten.as_str())
        .collect();
    assert!(mine.iter().any(|l| l["kind"] == "erasure"));
    let purchase = mine
        .iter()
        .find(|l| l["kind"] == "purchase")
        .expect("purchase");
    assert_eq!(purchase["amount"], "165.00");
    let profile = mine
        .iter()
        .find(|l| l["kind"] == "profile")
        .expect("profile");
    assert_eq!(profile["personal_data"], "erased");
    assert!(profile.get("name").is_none());
    let contact = mine
        .iter()
        .find(|l| l["kind"] == "contact")
        .expect("contact");
    assert_eq!(contact["personal_data"], "erased");
    assert_eq!(contact["channel"], "phone");
    for secret in ["Zhang", "13812347731", "SECRET-NOTE"] {
        assert!(!export.contains(secret), "{secret} exported");
    }
    assert!(export.contains("Li Kept-Na"));
}

#[test]
fn export_without_the_key_refuses_unless_allowed() {
    let s = Sandbox::new();
    s.import("people.jsonl", PEOPLE);
    let (code, _, stderr) = s.export("locked.jsonl", false, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--allow-locked"), "{stderr}");
    assert!(!s.path("locked.jsonl").exists());
    let (code, export, stderr) = s.export("locked.jsonl", false, &["--allow-locked"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(export.contains("\"personal_data\":\"locked\""), "{export}");
    assert!(!export.contains("Li Kept-Na"));
    assert!(export.contains("\"amount\":\"88.00\""));
}

#[test]
fn forget_refuses_bad_requests() {
    let s = Sandbox::new();
    s.import("people.jsonl", PEOPLE);
    let (code, _, stderr) = s.json(&["forget", "cust-kept-4410", "--reason", "  "]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    let (code, _, _) = s.json(&["forget", "nobody-here", "--reason", "x"]);
    assert_eq!(code, 3);
    let o = s.command(&["forget", "x"], true);
    assert_eq!(o.status.code(), Some(2), "--reason is required");
    let o = s.command(
        &[
            "--db",
            &s.path("none").display().to_string(),
            "forget",
            "x",
            "--reason",
            "r",
        ],
        true,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!s.path("none").exists());
    assert_eq!(s.verify(), 7, "nothing was written");
}

const NOTES: &str = r#"{"customer":"ret-1","occurred_at":"2019-03-01T10:00:00Z","kind":"contact","channel":"phone","direction":"inbound","purpose":"inquiry","note":"OLD-NOTE-2019"}
{"customer":"ret-1","occurred_at":"2020-07-01T10:00:00Z","kind":"contact","channel":"sms","direction":"outbound","purpose":"care","note":"OLD-NOTE-2020"}
{"customer":"ret-1","occurred_at":"2024-02-01T10:00:00Z","kind":"contact","channel":"phone","direction":"inbound","purpose":"complaint","note":"NEW-NOTE-2024"}
{"customer":"ret-1","occurred_at":"2019-02-01T10:00:00Z","kind":"profile","name":"Wang Retained","licence_plate":"粤C20190"}
{"customer":"ret-2","occurred_at":"2024-03-01T10:00:00Z","kind":"contact","channel":"wechat","direction":"inbound","purpose":"inquiry","note":"RECENT-NOTE-2024"}
"#;

#[test]
fn retention_erases_old_contact_notes_only() {
    let s = Sandbox::new();
    s.import("notes.jsonl", NOTES);
    let before = s.verify();
    let (code, doc, stderr) = s.json(&[
        "retention",
        "--class",
        "contact_notes",
        "--keep-years",
        "3",
        "--as-of",
        "2025-06-30",
        "--actor",
        "dpo-01",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let r = &doc["result"];
    assert_eq!(r["class"], "contact_notes");
    assert_eq!(r["before_year"], 2022);
    assert_eq!(r["customers"], 1);
    assert_eq!(s.verify(), before + 1);

    let (code, export, stderr) = s.export("after.jsonl", true, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!export.contains("OLD-NOTE-2019") && !export.contains("OLD-NOTE-2020"));
    assert!(export.contains("NEW-NOTE-2024") && export.contains("RECENT-NOTE-2024"));
    // The profile (another class) is untouched.
    assert!(export.contains("Wang Retained"));
    let erased: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("line"))
        .filter(|l| l["personal_data"] == "erased")
        .collect();
    assert_eq!(erased.len(), 2, "{export}");
    assert!(erased.iter().all(|l| l["kind"] == "contact"));
    let erasure = export
        .lines()
        .find(|l| l.contains("\"kind\":\"erasure\""))
        .expect("erasure event");
    assert!(erasure.contains("dpo-01"), "{erasure}");
    for secret in ["OLD-NOTE-2019", "OLD-NOTE-2020"] {
        assert!(holding(&s.path("db"), secret.as_bytes()).is_empty());
    }

    // Retention of notes keeps the customer findable by identity (plate, external id).
    for query in ["plate:粤C20190", "ret-1"] {
        let (code, _, stderr) = s.json(&["customer", query]);
        assert_eq!(code, 0, "{query}: {stderr}");
    }

    // Applying the rule again finds nothing more.
    let (code, stdout, _) = s.text(&[
        "retention",
        "--class",
        "contact_notes",
        "--keep-years",
        "3",
        "--as-of",
        "2025-06-30",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing to erase"), "{stdout}");
    assert_eq!(s.verify(), before + 1);

    let o = s.command(
        &[
            "--db",
            &s.db(),
            "retention",
            "--class",
            "notes",
            "--keep-years",
            "3",
        ],
        true,
    );
    assert_eq!(o.status.code(), Some(2));
    let (code, _, stderr) = s.json(&[
        "retention",
        "--class",
        "identity",
        "--keep-years",
        "3",
        "--as-of",
        "last tuesday",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--as-of"), "{stderr}");
}
