//! `clientele complaints` (the complaint desk) and the Complaints section of
//! `clientele customer`, end to end on a demo store.

use serde_json::Value;

mod common;

use common::Sandbox;

/// A demo of 500 customers (seed 11): 43 complaints, 7 of them unanswered
/// past the 24 h rule by the end of the history, 6 answered late.
const SIZE: &str = "500";
const SEED: &str = "11";

/// A sandbox with the demo in `db`, and the demo's `--json` result.
fn demo() -> (Sandbox, String, Value) {
    let s = Sandbox::new();
    let db = s.db("db");
    let (code, doc, stderr) = s.json(&["--db", &db, "demo", "--customers", SIZE, "--seed", SEED]);
    assert_eq!(code, 0, "{stderr}");
    (s, db, doc["result"].clone())
}

/// `complaints ARGS --json` on `db`, which must succeed: the result.
fn desk(s: &Sandbox, db: &str, args: &[&str]) -> Value {
    let mut all = vec!["--db", db, "complaints"];
    all.extend_from_slice(args);
    let (code, doc, stderr) = s.json(&all);
    assert_eq!(code, 0, "{all:?}: {stderr}");
    assert_eq!(doc["command"], "complaints");
    doc["result"].clone()
}

/// `complaints ARGS` on `db` as text, which must succeed.
fn desk_text(s: &Sandbox, db: &str, args: &[&str]) -> String {
    let mut all = vec!["--db", db, "complaints"];
    all.extend_from_slice(args);
    let o = s.run(&all);
    assert!(
        o.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn listed(result: &Value) -> &Vec<Value> {
    result["complaints"].as_array().expect("complaints")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The lines of the text list: those that start with a received time.
fn list_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            // `2025-06-30 14:49  …`, not a month's row (`2025-06   …`).
            l.len() > 16
                && l.as_bytes()[4] == b'-'
                && l.as_bytes()[7] == b'-'
                && l.as_bytes()[10] == b' '
                && l.starts_with("20")
        })
        .collect()
}

/// The desk counts what the demo counts on its own from the raw log
/// (`log_stats`, as of the history's last second): complaints; unanswered
/// (not yet resolved) = waiting + overdue; answered after 24 h = late;
/// unanswered past 24 h = overdue.
#[test]
fn the_desk_agrees_with_the_demo_count() {
    let (s, db, demo) = demo();
    let stats = &demo["stats"];
    let (complaints, unanswered, late, overdue) = (
        n(&stats["complaints"]),
        n(&stats["unanswered_complaints"]),
        n(&stats["answered_after_24h"]),
        n(&stats["unanswered_after_24h"]),
    );
    // The demo must give the desk something to do, or this proves little.
    assert!(
        complaints > 20 && unanswered > 1 && late > 1 && overdue > 1,
        "{stats}"
    );

    let r = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "0"]);
    let all = &r["all"];
    assert_eq!(n(&all["complaints"]), complaints, "{all}");
    assert_eq!(n(&all["waiting"]) + n(&all["overdue"]), unanswered, "{all}");
    assert_eq!(n(&all["late"]), late, "{all}");
    assert_eq!(n(&all["overdue"]), overdue, "{all}");
    assert_eq!(n(&r["customers"]), n(&stats["customers"]));
    assert_eq!(r["as_of"], "2025-06-30T23:59:59.999999Z");
    assert_eq!(r["policy"]["reply_hours"], 24);
    // The population summary (`stats`, here the demo's, as of the same
    // time) carries the desk's headline figures.
    let headline = &demo["population"]["complaints"];
    assert_eq!(n(&headline["complaints"]), complaints, "{headline}");
    assert_eq!(headline["open"], all["open"]);
    assert_eq!(headline["overdue"], all["overdue"]);
    assert_eq!(headline["in_time_rate"], all["in_time_rate"]);
    assert_eq!(
        headline["median_hours_to_answer"],
        all["hours_to_answer"]["median"]
    );

    // Every complaint is listed once, with its customer's external id, and
    // the groups add up to the whole.
    let list = listed(&r);
    assert_eq!(list.len() as u64, complaints);
    assert_eq!(n(&r["matched"]) as usize, list.len());
    assert!(
        list.iter().all(|c| c["external_id"]
            .as_str()
            .is_some_and(|e| e.starts_with("D-"))),
        "{list:?}"
    );
    let replies = |reply: &str| list.iter().filter(|c| c["reply"] == reply).count() as u64;
    assert_eq!(replies("overdue"), overdue);
    assert_eq!(replies("late"), late);
    assert_eq!(replies("in_time"), n(&all["in_time"]));
    for key in ["by_category", "by_owner", "by_step", "by_month"] {
        let total: u64 = r[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|g| n(&g["complaints"]))
            .sum();
        assert_eq!(total, complaints, "{key}");
    }
    let rate = all["in_time_rate"].as_f64().expect("in-time rate");
    let expected = n(&all["in_time"]) as f64 / (n(&all["in_time"]) + late + overdue) as f64;
    assert!((rate - expected).abs() < 1e-12, "{rate} {expected}");

    // Without --all: the queue, the complaints not yet archived, first.
    let queue = desk(&s, &db, &["--as-of", "2025-06-30", "--limit", "0"]);
    assert_eq!(n(&queue["matched"]), n(&all["open"]));
    assert!(listed(&queue).iter().all(|c| c["settled_at"].is_null()));
    assert_eq!(
        listed(&queue)[..],
        list[..listed(&queue).len()],
        "the queue heads the full list"
    );
    // The figures are the whole desk's whatever is listed.
    assert_eq!(queue["all"], r["all"]);

    // As known at a time after every import: the same desk; before: empty.
    let later = desk(
        &s,
        &db,
        &[
            "--all",
            "--as-of",
            "2025-06-30",
            "--limit",
            "0",
            "--known-at",
            "2100-01-01",
        ],
    );
    assert_eq!(later["all"], r["all"]);
    assert!(later["known_at"].is_string());
    let before = desk(
        &s,
        &db,
        &["--as-of", "2025-06-30", "--known-at", "2000-01-01"],
    );
    assert_eq!(before["all"]["complaints"], 0);
    assert_eq!(before["customers"], 0);

    // The text says the same, with the policy in words.
    let text = desk_text(&s, &db, &["--as-of", "2025-06-30"]);
    assert!(
        text.starts_with(
            "complaint desk as of 2025-06-30T23:59:59.999999Z: reply within 24 h of receipt; \
             answered at `resolved`, settled at `archived`\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n{complaints} complaints from ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{overdue} overdue, 0 waiting for an answer")),
        "{text}"
    );
    assert!(text.contains("\nby category "), "{text}");
    assert!(text.contains("\nby owner "), "{text}");
    assert!(text.contains("\nby month received "), "{text}");
    assert!(
        text.contains("; customers without a complaint: ")
            && text.contains(" within 180 days (")
            && text.contains("customer-years at risk)"),
        "{text}"
    );

    // Rebuilt from the log, the projection gives the same desk.
    let (code, doc, stderr) = s.json(&["--db", &db, "rebuild", "complaint"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["result"]["rebuilt"][0]["projection"], "complaint");
    let rebuilt = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "0"]);
    assert_eq!(rebuilt, r);
}

/// `--overdue` lists the complaints past the reply rule, the longest
/// overdue first; `--reply-hours` moves the deadline.
#[test]
fn overdue_comes_longest_first_and_the_deadline_can_move() {
    let (s, db, _) = demo();
    let r = desk(
        &s,
        &db,
        &["--overdue", "--as-of", "2025-06-30", "--limit", "0"],
    );
    let list = listed(&r);
    assert_eq!(list.len() as u64, n(&r["all"]["overdue"]));
    assert!(list.len() > 1, "{r}");
    assert!(list.iter().all(|c| c["reply"] == "overdue"), "{list:?}");
    let past: Vec<f64> = list
        .iter()
        .map(|c| c["hours_past_deadline"].as_f64().expect("hours past"))
        .collect();
    assert!(
        past.windows(2).all(|w| w[0] >= w[1]),
        "not longest first: {past:?}"
    );
    // --all changes nothing: an overdue complaint is never settled.
    let with_all = desk(
        &s,
        &db,
        &[
            "--overdue",
            "--all",
            "--as-of",
            "2025-06-30",
            "--limit",
            "0",
        ],
    );
    assert_eq!(listed(&with_all), list);
    let text = desk_text(
        &s,
        &db,
        &["--overdue", "--as-of", "2025-06-30", "--limit", "0"],
    );
    let lines = list_lines(&text);
    assert_eq!(lines.len(), list.len(), "{text}");
    assert!(lines.iter().all(|l| l.contains("  overdue by ")), "{text}");
    assert!(
        text.contains(&format!("overdue: {} complaints\n", list.len())),
        "{text}"
    );

    // A 48 h deadline: fewer late; no deadline: nothing late or overdue.
    let default = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--summary"]);
    let relaxed = desk(
        &s,
        &db,
        &[
            "--all",
            "--as-of",
            "2025-06-30",
            "--summary",
            "--reply-hours",
            "48",
        ],
    );
    assert_eq!(relaxed["policy"]["reply_hours"], 48);
    assert!(
        n(&relaxed["all"]["late"]) < n(&default["all"]["late"]),
        "{relaxed}"
    );
    assert!(listed(&relaxed).is_empty(), "--summary lists nothing");
    let none = desk(
        &s,
        &db,
        &["--all", "--as-of", "2025-06-30", "--reply-hours", "none"],
    );
    assert!(none["policy"]["reply_hours"].is_null());
    assert_eq!(none["all"]["late"], 0);
    assert_eq!(none["all"]["overdue"], 0);
    assert_eq!(none["all"]["waiting"], default["all"]["overdue"]);
    let text = desk_text(&s, &db, &["--as-of", "2025-06-30", "--reply-hours", "none"]);
    assert!(text.contains(": no reply deadline; "), "{text}");
    assert!(text.contains("  waits (no deadline)  "), "{text}");
}

/// `--owner`, `--category` and `--customer` narrow the list (names ignoring
/// case); `--limit` cuts it and says so.
#[test]
fn filters_narrow_the_list_and_limit_cuts_it() {
    let (s, db, _) = demo();
    let all = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--summary"]);
    let busiest = all["by_owner"]
        .as_array()
        .expect("by owner")
        .iter()
        .find(|g| g["key"].is_string())
        .expect("an owner")
        .clone();
    let owner = busiest["key"].as_str().unwrap_or_default();
    let r = desk(
        &s,
        &db,
        &[
            "--all",
            "--as-of",
            "2025-06-30",
            "--limit",
            "0",
            "--owner",
            owner,
        ],
    );
    assert_eq!(n(&r["matched"]), n(&busiest["complaints"]));
    assert!(listed(&r).iter().all(|c| c["owner"] == owner), "{r}");
    assert_eq!(r["filters"]["owner"], owner);
    assert_eq!(r["all"], all["all"], "the figures stay the whole desk's");

    // `--owner -`: the complaints nobody owns (they stalled before anyone
    // classified them).
    let unowned = all["by_owner"]
        .as_array()
        .expect("by owner")
        .iter()
        .find(|g| g["key"].is_null())
        .expect("complaints without an owner")
        .clone();
    let r = desk(
        &s,
        &db,
        &[
            "--all",
            "--as-of",
            "2025-06-30",
            "--limit",
            "0",
            "--owner",
            "-",
        ],
    );
    assert_eq!(n(&r["matched"]), n(&unowned["complaints"]));
    assert!(n(&r["matched"]) > 0, "{r}");
    assert!(listed(&r).iter().all(|c| c["owner"].is_null()), "{r}");

    let group = all["by_category"][0].clone();
    let category = group["key"].as_str().expect("a category");
    let upper = category.to_uppercase();
    for name in [category, upper.as_str()] {
        let r = desk(
            &s,
            &db,
            &[
                "--all",
                "--as-of",
                "2025-06-30",
                "--limit",
                "0",
                "--category",
                name,
            ],
        );
        assert_eq!(n(&r["matched"]), n(&group["complaints"]), "{name}");
        assert!(
            listed(&r).iter().all(|c| c["category"] == category),
            "{name}"
        );
    }
    let r = desk(
        &s,
        &db,
        &[
            "--all",
            "--as-of",
            "2025-06-30",
            "--category",
            "no such thing",
        ],
    );
    assert_eq!(r["matched"], 0);

    // One customer, by external id.
    let first = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "1"]);
    let one = &listed(&first)[0];
    let external = one["external_id"].as_str().expect("external id");
    let r = desk(
        &s,
        &db,
        &["--all", "--as-of", "2025-06-30", "--customer", external],
    );
    assert!(n(&r["matched"]) >= 1);
    assert!(
        listed(&r).iter().all(|c| c["customer"] == one["customer"]),
        "{r}"
    );
    assert_eq!(r["filters"]["customer"], one["customer"]);

    // --limit: cut, and said so; 0 lists everything.
    let total = n(&all["all"]["complaints"]) as usize;
    assert!(total > 3);
    let r = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "3"]);
    assert_eq!(listed(&r).len(), 3);
    assert_eq!(n(&r["matched"]) as usize, total);
    let text = desk_text(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "3"]);
    assert_eq!(list_lines(&text).len(), 3, "{text}");
    assert!(
        text.contains(&format!(
            "every complaint, the queue first: {total} complaints, showing the first 3 (--limit 0 for all)\n"
        )),
        "{text}"
    );
    let text = desk_text(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "0"]);
    assert_eq!(list_lines(&text).len(), total, "{text}");
    assert!(!text.contains("showing the first"), "{text}");
    // The default limit is 20.
    let r = desk(&s, &db, &["--all", "--as-of", "2025-06-30"]);
    assert_eq!(listed(&r).len(), total.min(20));
}

/// Bad values are usage errors (exit code 2) that name the flag.
#[test]
fn bad_values_name_the_flag() {
    let (s, db, _) = demo();
    for (args, flag) in [
        (vec!["--reply-hours", "0"], "--reply-hours"),
        (vec!["--reply-hours", "a day"], "--reply-hours"),
        (vec!["--limit", "x"], "--limit"),
        (vec!["--limit", "-1"], "--limit"),
        (vec!["--as-of", "2025-13-01"], "--as-of"),
        (vec!["--known-at", "soon"], "--known-at"),
        (vec!["--owner", " "], "--owner"),
        (vec!["--category", ""], "--category"),
        (vec!["--overdue=yes"], "--overdue"),
    ] {
        let mut all = vec!["--db", db.as_str(), "complaints"];
        all.extend_from_slice(&args);
        let (code, doc, stderr) = s.json(&all);
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["exit_code"], 2, "{args:?}");
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(flag), "{args:?}: {message}");
        assert!(stderr.contains("hint: "), "{args:?}: {stderr}");
    }
    // An unknown customer is bad input (3); a missing store a runtime error (1).
    let (code, _, _) = s.json(&["--db", &db, "complaints", "--customer", "D-999999"]);
    assert_eq!(code, 3);
    let (code, _, _) = s.json(&["--db", &s.db("none"), "complaints"]);
    assert_eq!(code, 1);
    assert!(!s.path("none").exists());
}

/// The customer view has a Complaints section for a customer with a
/// complaint: step, reply state with hours, category, owner — as of the
/// view's time.
#[test]
fn the_customer_view_shows_the_complaints() {
    let (s, db, _) = demo();
    let r = desk(&s, &db, &["--all", "--as-of", "2025-06-30", "--limit", "0"]);
    // A complaint answered in time, with an owner.
    let c = listed(&r)
        .iter()
        .find(|c| c["reply"] == "in_time" && c["owner"].is_string())
        .expect("a complaint answered in time")
        .clone();
    let external = c["external_id"].as_str().expect("external id");
    let id = c["complaint"].as_str().expect("complaint id");
    let (code, doc, stderr) = s.json(&["--db", &db, "customer", external, "--as-of", "2025-06-30"]);
    assert_eq!(code, 0, "{stderr}");
    let section = &doc["result"]["sections"]["complaints"];
    let mine = section
        .as_array()
        .expect("a complaints section")
        .iter()
        .find(|x| x["complaint"] == id)
        .expect("the complaint");
    for key in [
        "step",
        "reply",
        "hours_to_answer",
        "category",
        "owner",
        "received_at",
    ] {
        assert_eq!(mine[key], c[key], "{key}");
    }
    let o = s.run(&["--db", &db, "customer", external, "--as-of", "2025-06-30"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let hours = c["hours_to_answer"].as_f64().expect("hours");
    // Whole hours from 10 h (or when whole), one decimal below.
    let answered = if hours >= 10.0 || (hours - hours.round()).abs() < 0.05 {
        format!("answered in {hours:.0} h")
    } else {
        format!("answered in {hours:.1} h")
    };
    let line = text
        .lines()
        .skip_while(|l| *l != "Complaints")
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("no Complaints section with {id}: {text}"));
    for part in [
        c["step"].as_str().unwrap_or_default(),
        answered.as_str(),
        c["category"].as_str().unwrap_or_default(),
        &format!("owner {}", c["owner"].as_str().unwrap_or_default()),
    ] {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }

    // An hour after it came in (the demo answers no complaint that fast),
    // the complaint waits for its answer, due 23 hours later.
    let received = chrono::DateTime::parse_from_rfc3339(c["received_at"].as_str().unwrap_or(""))
        .expect("received at");
    let soon = (received + chrono::Duration::hours(1)).to_rfc3339();
    let (code, doc, _) = s.json(&["--db", &db, "customer", external, "--as-of", &soon]);
    assert_eq!(code, 0);
    let early = &doc["result"]["sections"]["complaints"];
    let early = early
        .as_array()
        .and_then(|a| a.iter().find(|x| x["complaint"] == id))
        .expect("the complaint as of an hour in");
    assert_eq!(early["reply"], "waiting", "{early}");
    assert!(early["hours_to_answer"].is_null(), "{early}");
    let o = s.run(&["--db", &db, "customer", external, "--as-of", &soon]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("waits, due in 23 h"), "{text}");
    // Before it came in: no section (a customer without complaints has none).
    let before = (received - chrono::Duration::seconds(1)).to_rfc3339();
    let (code, doc, _) = s.json(&["--db", &db, "customer", external, "--as-of", &before]);
    assert_eq!(code, 0);
    let sections = &doc["result"]["sections"];
    assert!(
        sections["complaints"]
            .as_array()
            .is_none_or(|a| a.iter().all(|x| x["complaint"] != id)),
        "{sections}"
    );
    let o = s.run(&["--db", &db, "customer", "D-000001", "--as-of", "2025-06-30"]);
    let text = String::from_utf8_lossy(&o.stdout);
    let has = listed(&r).iter().any(|c| c["external_id"] == "D-000001");
    assert_eq!(text.contains("\nComplaints\n"), has, "{text}");
}

#[test]
fn help_lists_the_command_with_examples() {
    let s = Sandbox::new();
    let o = s.run(&["--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("complaints"));
    let o = s.run(&["complaints", "--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for word in [
        "Examples:",
        "--overdue",
        "--reply-hours",
        "--known-at",
        "none",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
}
