//! What people read: the text of the commands on the CDNOW sample and on
//! small hand-made stores — thousands separators, plurals, human words for
//! warning kinds, undefined metrics, the order of lists, exit codes.

use std::process::Output;

use serde_json::Value;

mod common;

use common::CDNOW;

/// A scratch home with one database, `db`, that every command uses.
struct Sandbox {
    home: common::Sandbox,
    db: String,
}

impl Sandbox {
    fn new() -> Self {
        let home = common::Sandbox::new();
        let db = home.db("db");
        Self { home, db }
    }

    fn raw(&self, args: &[&str]) -> Output {
        let mut all = vec!["--db", self.db.as_str()];
        all.extend_from_slice(args);
        self.home.run(&all)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn text(&self, args: &[&str]) -> String {
        let o = self.raw(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs with `--json`: (exit code, document, stderr).
    fn json(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["--db", self.db.as_str()];
        all.extend_from_slice(args);
        self.home.json(&all)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.home.path(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        self.home.write(name, text)
    }
}

fn cdnow() -> Sandbox {
    let s = Sandbox::new();
    s.text(&["import", CDNOW, "--format", "cdnow"]);
    s
}

/// `n` with commas between thousands, as the CLI prints counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn assert_no_debug_names(text: &str) {
    for debug in [
        "HighRisk",
        "RenewalAtRisk",
        "ComplaintSla",
        "High ",
        "Medium ",
        "Low ",
    ] {
        assert!(!text.contains(debug), "Debug name {debug:?} in:\n{text}");
    }
}

#[test]
fn cdnow_texts_group_thousands_and_use_words() {
    let s = cdnow();

    // stats: counts and revenue grouped.
    let stats = s.text(&["stats", "--as-of", "1997-12-31"]);
    assert!(
        stats.starts_with("2,357 customers as of 1997-12-31T23:59:59.999999Z\n"),
        "{stats}"
    );
    assert!(stats.contains("  USD 201,224.82\n"), "{stats}");
    assert!(stats.contains("1,738"), "{stats}");

    // model fit: grouped counts.
    let fit = s.text(&["model", "fit", "--as-of", "1997-09-30"]);
    assert!(
        fit.starts_with(
            "2,357 customers (946 repeat buyers), calibration end 1997-09-30T23:59:59.999999Z"
        ),
        "{fit}"
    );

    // backtest inside the data: no warning, numbers.
    let bt = s.text(&["backtest", "--as-of", "1997-09-30", "--horizon", "39w"]);
    assert!(
        bt.starts_with("backtest as of 1997-09-30 over 273 days: 2,357 customers, 1,673 churned"),
        "{bt}"
    );
    assert!(bt.contains("AUC 0.78"), "{bt}");
    assert!(!bt.contains("warning") && !bt.contains("NaN"), "{bt}");
    assert!(bt.contains("1,412"), "calibration counts grouped: {bt}");

    // churn-scores: riskiest first, ties by customer id, whole days.
    let csv = s.text(&["churn-scores", "--as-of", "1997-09-30", "--format", "csv"]);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2357);
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ra, rb): (f64, f64) = (a[2].parse().unwrap(), b[2].parse().unwrap());
        assert!(ra > rb || (ra == rb && a[0] < b[0]), "{a:?} before {b:?}");
    }
    for row in &rows {
        let days = row[3];
        assert!(
            !days.contains('.') || days.split('.').nth(1).map(str::len) == Some(1),
            "{row:?}"
        );
        assert!(days.parse::<f64>().is_ok(), "{row:?}");
    }
    assert!(
        rows.iter().any(|r| r[3] == "249"),
        "whole days print as integers"
    );
    // JSON Lines in the same order; JSON keeps plain numbers.
    let jsonl = s.text(&["churn-scores", "--as-of", "1997-09-30", "--format", "jsonl"]);
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["customer_id"], rows[0][0]);
    assert!(first["days_since_last_purchase"].is_f64());

    // warn: words for kinds and severities, grouped counts; JSON keeps machine names.
    let warn = s.text(&["warn", "--as-of", "1997-09-30"]);
    assert!(
        warn.starts_with("visited 2,357 customers (2,357 with new events, 0 due): 1,"),
        "{warn}"
    );
    assert!(warn.contains("  high   high risk "), "{warn}");
    assert_no_debug_names(&warn);
    let listed = s.text(&["warnings"]);
    assert!(
        listed.lines().next().unwrap().ends_with(" warnings"),
        "{listed}"
    );
    assert!(listed.lines().next().unwrap().contains(','), "{listed}");
    assert!(listed.contains("  high   high risk "), "{listed}");
    assert_no_debug_names(&listed);
    let one = s.text(&["warnings", "--customer", "578"]);
    assert!(one.starts_with("1 warning\n"), "{one}");
    assert!(one.contains("249 days since the only purchase"), "{one}");
    assert!(
        one.contains(" 0007b1da-970f-55a7-9727-cbd072ed25ac (578)  "),
        "the external id is shown: {one}"
    );
    // Filters, order and limit.
    let (_, all, _) = s.json(&["warnings"]);
    let all = all["result"]["warnings"].as_array().unwrap().clone();
    let (_, top, _) = s.json(&["warnings", "--sort", "risk", "--limit", "5"]);
    assert_eq!(top["result"]["matched"], all.len());
    let top = top["result"]["warnings"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let best = all
        .iter()
        .map(|w| w["risk"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(top[0]["risk"].as_f64(), Some(best));
    assert!(top
        .windows(2)
        .all(|w| w[0]["risk"].as_f64() >= w[1]["risk"].as_f64()));
    let (_, high, _) = s.json(&["warnings", "--severity", "medium", "--kind", "high-risk"]);
    let high = high["result"]["warnings"].as_array().unwrap();
    let want = all
        .iter()
        .filter(|w| w["kind"] == "high_risk" && w["severity"] != "low")
        .count();
    assert!(want > 0 && high.len() == want, "{} vs {want}", high.len());
    let limited = s.text(&["warnings", "--limit", "2"]);
    assert!(
        limited.starts_with(&format!("{} warnings (showing 2)\n", thousands(all.len()))),
        "{limited}"
    );
    assert_eq!(limited.lines().count(), 3, "{limited}");
    let (code, doc, _) = s.json(&["warnings", "--customer", "578"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["warnings"][0]["kind"], "high_risk");
    assert_eq!(doc["result"]["warnings"][0]["severity"], "high");
}

#[test]
fn backtest_beyond_the_data_names_the_horizon_and_the_last_event() {
    let s = cdnow();
    // Wholly after the data (CDNOW ends on 1998-06-30): an error, not NaN.
    let o = s.raw(&["backtest", "--as-of", "1998-06-30", "--horizon", "39w"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--horizon 39w"), "{stderr}");
    assert!(stderr.contains("1998-07-01 … 1999-03-30"), "{stderr}");
    assert!(
        stderr.contains("last event in the store (1998-06-30)"),
        "{stderr}"
    );
    assert!(stderr.contains("--as-of 1997-09-30 or earlier"), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).is_empty());

    // Partly after: a warning line, then the figures.
    let bt = s.text(&["backtest", "--as-of", "1998-03-31", "--horizon", "39w"]);
    let first = bt.lines().next().unwrap();
    assert!(
        first.starts_with("warning: the horizon runs to 1998-12-29"),
        "{bt}"
    );
    assert!(
        first.contains("last event in the store (1998-06-30)"),
        "{bt}"
    );
    assert!(!bt.contains("NaN"), "{bt}");
    let (code, doc, _) = s.json(&["backtest", "--as-of", "1998-03-31", "--horizon", "39w"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["warnings"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["result"]["data_end"], "1998-06-30T00:00:00Z");
    assert!(doc["result"]["auc"].is_f64());
}

#[test]
fn explain_states_the_view_and_names_referenced_events() {
    let s = cdnow();
    let text = s.text(&["explain", "1", "--as-of", "1997-12-31"]);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("customer e93d4501-4772-5879-80b7-4c572960e8ae: maturity since 1997-08-02 00:00 (4 purchases, 0 referrals)")
    );
    assert_eq!(
        lines.next(),
        Some("  view: as of 1997-12-31T23:59:59.999999Z, everything recorded")
    );
    assert!(
        text.contains("inactivity_decline: 90 days after the purchase of 1997-01-18 (5760d2d4-0eda-56db-b4f9-e4eff3d95e30)"),
        "{text}"
    );
    assert!(
        text.contains("steady repeat buying: 4 purchases over 345 days"),
        "{text}"
    );

    // A late complaint: a 1-day reply threshold, counted from the complaint.
    let late = s.write(
        "late.jsonl",
        r#"{"customer":"1","occurred_at":"1997-03-03T10:00:00Z","kind":"complaint","complaint_id":"K-1","step":"received","category":"delivery"}
{"customer":"1","occurred_at":"1997-03-05T16:00:00Z","kind":"complaint","complaint_id":"K-1","step":"resolved"}
"#,
    );
    s.text(&["import", &late, "--format", "jsonl", "--source", "cdnow"]);
    let text = s.text(&[
        "explain",
        "1",
        "--as-of",
        "1997-06-30",
        "--known-at",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(
        text.contains("  view: as of 1997-06-30T23:59:59.999999Z, known at 2100-01-01T00:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains("complaint_reply: 1 day after the complaint of 1997-03-03 10:00 ("),
        "{text}"
    );
    assert!(!text.contains("1 days"), "{text}");
    let (code, doc, _) = s.json(&["explain", "1", "--as-of", "1997-06-30"]);
    assert_eq!(code, 0);
    let result = &doc["result"];
    assert_eq!(result["as_of"], "1997-06-30T23:59:59.999999Z");
    assert!(result["known_at"].is_null());
    // Lifecycle times in JSON are RFC 3339 now.
    assert_eq!(result["timeline"][0]["at"], "1997-01-01T00:00:00Z");
    assert_eq!(result["view"]["since"], "1997-04-18T00:00:00Z");
    let references = result["references"].as_object().expect("references");
    assert!(references
        .values()
        .any(|r| r["kind"] == "complaint" && r["occurred_at"] == "1997-03-03T10:00:00Z"));

    // The customer view uses the same words for the last change.
    let view = s.text(&["customer", "1", "--as-of", "1997-06-30"]);
    assert!(
        view.contains("last change: inactivity_decline: 90 days after the purchase of 1997-01-18"),
        "{view}"
    );
    assert!(view.contains("  2 purchases, "), "{view}");
    assert!(view.contains("0 refunds"), "{view}");
}

#[test]
fn explain_says_when_a_cover_ended_unrenewed() {
    let s = Sandbox::new();
    let file = s.write(
        "policy.jsonl",
        r#"{"customer":"p-1","occurred_at":"2024-01-10T09:30:00Z","kind":"purchase","order_id":"PA-1","amount":"4200.00","currency":"CNY","policy_number":"PA-777","valid_until":"2025-01-09"}
"#,
    );
    s.text(&["import", &file, "--format", "jsonl", "--source", "insurer"]);
    // The warning job: nothing mid-term; high risk once the cover has
    // lapsed, delivered to the sink with the external id.
    let sink = s.path("warnings.jsonl").display().to_string();
    let mid = s.text(&["warn", "--as-of", "2024-12-31", "--sink", &sink]);
    assert!(mid.contains(": 0 warnings raised, 0 delivered"), "{mid}");
    let lapsed = s.text(&["warn", "--as-of", "2025-01-20", "--sink", &sink]);
    assert!(
        lapsed.contains(": 1 warning raised, 1 delivered"),
        "{lapsed}"
    );
    let lines = std::fs::read_to_string(&sink).expect("sink");
    let delivered: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(delivered.len(), 1, "{lines}");
    assert_eq!(delivered[0]["kind"], "high_risk");
    assert_eq!(delivered[0]["external_id"], "p-1");
    assert!(delivered[0]["id"].is_string());
    let args = |as_of: &'static str| ["explain", "p-1", "--source", "insurer", "--as-of", as_of];
    // Mid-term: growth, whatever the one-time buyer's 180 days would say.
    let text = s.text(&args("2024-12-31"));
    assert!(text.contains(": growth since 2024-01-10 09:30"), "{text}");
    // Not renewed: decline at the cover's end, exit 180 days later.
    let text = s.text(&args("2025-12-31"));
    assert!(
        text.contains("because: cover to 2025-01-09 not renewed (exit horizon 180 days after it)"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("  2025-01-10 00:00 ")
            && l.contains("growth → decline")
            && l.contains("cover_lapse_decline: 0 days after the cover to 2025-01-09 ended, bought with the purchase of 2024-01-10 09:30 (")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("  2025-07-09 00:00 ")
            && l.contains("decline → exit")
            && l.contains("cover_lapse_exit: 180 days after the cover to 2025-01-09 ended, bought with the purchase of 2024-01-10 09:30 (")),
        "{text}"
    );
    // The customer view says why silence does not count mid-term.
    let covered = "covered until 2025-01-09: time since the last purchase does not count";
    let view = s.text(&[
        "customer",
        "p-1",
        "--source",
        "insurer",
        "--as-of",
        "2024-12-31",
    ]);
    assert!(view.contains(covered), "{view}");
    let view = s.text(&[
        "customer",
        "p-1",
        "--source",
        "insurer",
        "--as-of",
        "2025-12-31",
    ]);
    assert!(!view.contains("covered until"), "{view}");
    let (code, doc, _) = s.json(&[
        "explain",
        "p-1",
        "--source",
        "insurer",
        "--as-of",
        "2025-12-31",
    ]);
    assert_eq!(code, 0);
    let result = &doc["result"];
    assert_eq!(
        result["view"]["reasons"][0]["cover_lapsed_beyond_exit_horizon"]["last_day"],
        "2025-01-09"
    );
    assert!(result["references"]
        .as_object()
        .expect("references")
        .values()
        .all(|r| r["valid_until"] == "2025-01-09"));
}

#[test]
fn a_plain_date_includes_the_last_second_of_the_day() {
    let s = Sandbox::new();
    let file = s.write(
        "events.jsonl",
        r#"{"customer":"c-1","occurred_at":"2024-05-01T10:00:00Z","kind":"purchase","order_id":"A-1","amount":"10.00","currency":"CNY"}
{"customer":"c-1","occurred_at":"2024-05-01T23:59:59.5Z","kind":"purchase","order_id":"A-2","amount":"20.00","currency":"CNY"}
{"customer":"c-1","occurred_at":"2024-05-02T00:00:00Z","kind":"purchase","order_id":"A-3","amount":"30.00","currency":"CNY"}
"#,
    );
    s.text(&["import", &file, "--format", "jsonl", "--source", "shop"]);
    let in_view = |as_of: &str| -> (u64, String) {
        let (code, doc, stderr) =
            s.json(&["customer", "c-1", "--source", "shop", "--as-of", as_of]);
        assert_eq!(code, 0, "{stderr}");
        (
            doc["result"]["events_in_view"].as_u64().expect("events"),
            doc["result"]["purchases"]["by_currency"][0]["purchased"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let (whole_day, spent) = in_view("2024-05-01");
    assert_eq!(spent, "30.00", "the purchase at 23:59:59.5 counts");
    let (to_the_second, spent) = in_view("2024-05-01T23:59:59Z");
    assert_eq!(spent, "10.00");
    assert_eq!(whole_day, to_the_second + 1);
    let (next_day, _) = in_view("2024-05-02");
    assert_eq!(next_day, whole_day + 1);
    let text = s.text(&[
        "customer",
        "c-1",
        "--source",
        "shop",
        "--as-of",
        "2024-05-01",
    ]);
    assert!(text.contains("as of 2024-05-01T23:59:59.999999Z"), "{text}");
    assert!(text.contains("2 purchases, 30.00 CNY"), "{text}");
    let text = s.text(&[
        "customer",
        "c-1",
        "--source",
        "shop",
        "--as-of",
        "2024-05-01T12:00:00Z",
    ]);
    assert!(
        text.contains("  1 purchase, 10.00 CNY (average 10.00); 0 refunds"),
        "{text}"
    );
    assert!(text.contains("1 purchase day"), "{text}");
}

#[test]
fn lookup_names_the_match_and_fails_when_nobody_matches() {
    let s = Sandbox::new();
    let file = s.write(
        "people.jsonl",
        r#"{"customer":"P-1","occurred_at":"2024-05-01T10:00:00Z","kind":"profile","licence_plate":"苏A 784rp","policy_numbers":["PA2023993"]}
{"customer":"P-2","occurred_at":"2024-05-01T10:00:00Z","kind":"profile","licence_plate":"京B12355"}
"#,
    );
    s.text(&["import", &file, "--format", "jsonl", "--source", "crm"]);

    let hit = s.text(&["lookup", "苏a784RP"]);
    let lines: Vec<&str> = hit.lines().collect();
    assert_eq!(lines.len(), 1, "{hit}");
    assert!(lines[0].ends_with("licence plate 苏A784RP"), "{hit}");
    let hit = s.text(&["lookup", "pa2023993"]);
    assert!(hit.trim_end().ends_with("policy number PA2023993"), "{hit}");
    let hit = s.text(&["lookup", "--plate-suffix", "55"]);
    assert!(hit.trim_end().ends_with("licence plate 京B12355"), "{hit}");
    let (code, doc, _) = s.json(&["lookup", "plate:京B12355"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["matches"][0]["kind"], "licence_plate");
    assert_eq!(doc["result"]["matches"][0]["value"], "京B12355");
    assert_eq!(doc["result"]["customers"].as_array().map(Vec::len), Some(1));

    // A miss: exit code 3, the reason on stderr, nothing on stdout.
    let o = s.raw(&["lookup", "苏A000XX"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(o.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with("error: no customer found for \"苏A000XX\""),
        "{stderr}"
    );
    assert!(stderr.contains("\nhint: "), "{stderr}");
    let o = s.raw(&["lookup", "--plate-suffix", "999"]);
    assert_eq!(o.status.code(), Some(3));
    let (code, doc, _) = s.json(&["lookup", "phone:13800000000"]);
    assert_eq!(code, 3);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 3);
    assert_eq!(doc["result"]["matches"].as_array().map(Vec::len), Some(0));
    // The help documents the exit code.
    let help = s.text(&["lookup", "--help"]);
    assert!(help.contains("3 when nobody matches"), "{help}");

    // P-1 sells the car (a new plate), and the old plate goes to P-3: the
    // plate finds its holder now, and nobody else. P-2's old phone, held by
    // nobody now, finds P-2 as its former holder.
    let later = s.write(
        "later.jsonl",
        r#"{"customer":"P-1","occurred_at":"2025-02-01T10:00:00Z","kind":"profile","licence_plate":"苏A 99999"}
{"customer":"P-2","occurred_at":"2025-01-01T10:00:00Z","kind":"profile","phone":"138-0000-1111"}
{"customer":"P-2","occurred_at":"2025-02-01T10:00:00Z","kind":"profile","phone":"139-0000-2222"}
{"customer":"P-3","occurred_at":"2025-03-01T10:00:00Z","kind":"profile","licence_plate":"苏A784RP"}
"#,
    );
    s.text(&["import", &later, "--format", "jsonl", "--source", "crm"]);
    let (code, doc, _) = s.json(&["lookup", "苏A784RP"]);
    assert_eq!(code, 0);
    let matches = doc["result"]["matches"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(matches.len(), 1, "{doc}");
    assert_eq!(matches[0]["external_id"], "P-3");
    assert_eq!(matches[0]["former"], false);
    let (code, doc, _) = s.json(&["lookup", "13800001111"]);
    assert_eq!(code, 0, "{doc}");
    let matches = doc["result"]["matches"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(matches.len(), 1, "{doc}");
    assert_eq!(matches[0]["external_id"], "P-2");
    assert_eq!(matches[0]["kind"], "phone");
    assert_eq!(matches[0]["former"], true);
    let text = s.text(&["lookup", "phone:13800001111"]);
    assert!(
        text.trim_end().ends_with("former phone 13800001111"),
        "{text}"
    );
    // The current number is current.
    let text = s.text(&["lookup", "13900002222"]);
    assert!(text.trim_end().ends_with(" phone 13900002222"), "{text}");
    assert!(!text.contains("former"), "{text}");
}

#[test]
fn report_summary_counts_charts_in_words() {
    let s = cdnow();
    let out = s.path("site");
    let text = s.text(&[
        "report",
        "--out",
        &out.display().to_string(),
        "--as-of",
        "1998-06-30",
    ]);
    // CDNOW has no complaint: the two complaint sections (by category, by
    // month) have nothing to draw.
    assert!(
        text.contains(
            "(7 charts, 2 sections not available yet), as of 1998-06-30T23:59:59.999999Z"
        ),
        "{text}"
    );
    assert!(text.contains("  customers: 2,357"), "{text}");
}
