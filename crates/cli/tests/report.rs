//! `clientele report`: the page is written, self-contained, and — when
//! Debian's `chromium` is installed — renders in headless Chromium with drawn
//! charts and a non-trivial screenshot. Without `/usr/bin/chromium` the
//! browser checks print a skip message (CI installs chromium: see `.ci/run`).
//!
//! Set `CLIENTELE_REPORT_ARTIFACTS=DIR` to keep the pages and screenshots.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clientele_cli::report::{render, ComplaintDesk, ComplaintGroup, ReportData};
use serde_json::Value;

mod common;

use common::{Sandbox, CDNOW, KEY};

const CHROMIUM: &str = "/usr/bin/chromium";

fn clientele(home: &Path, args: &[&str]) -> Output {
    common::clientele(home, args, Some(KEY))
}

/// Runs headless Chromium on `page` with `extra` arguments; gives up after 120 s.
fn chromium(page: &Path, extra: &[String]) -> Option<Output> {
    if !Path::new(CHROMIUM).exists() {
        println!(
            "SKIPPED: {CHROMIUM} not found; install Debian's `chromium` to run the browser checks"
        );
        return None;
    }
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read stdout on a thread so a large DOM cannot fill the pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("chromium did not finish within 120 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let mut output = child.wait_with_output().expect("chromium output");
    output.stdout = reader.join().unwrap_or_default();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output)
}

/// The rendered DOM, or `None` when Chromium is not installed.
fn dump_dom(page: &Path) -> Option<String> {
    chromium(page, &["--dump-dom".to_owned()])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Takes a 1280×3000 screenshot; checks it is a real PNG of that size with content.
fn screenshot(page: &Path, png: &Path) {
    let extra = [
        format!("--screenshot={}", png.display()),
        "--window-size=1280,3000".to_owned(),
    ];
    if chromium(page, &extra).is_none() {
        return;
    }
    let bytes = std::fs::read(png).expect("screenshot written");
    assert!(
        bytes.len() > 30_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!((width, height), (1280, 3000));
}

/// The markup of `<figure id="{id}-figure">…</figure>`.
fn figure<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<figure id=\"{id}-figure\""))
        .unwrap_or_else(|| panic!("no figure {id}"));
    let end = dom[start..]
        .find("</figure>")
        .map(|e| start + e)
        .unwrap_or(dom.len());
    &dom[start..end]
}

/// Asserts the figure holds an SVG with at least `rects` rectangles and some text.
fn assert_drawn(dom: &str, id: &str, rects: usize) {
    let f = figure(dom, id);
    assert_eq!(f.matches("<svg").count(), 1, "{id}: one svg");
    let n = f.matches("<rect").count();
    assert!(n >= rects, "{id}: only {n} <rect> (want {rects})");
    assert!(f.matches("<text").count() >= 3, "{id}: no labels");
    assert!(f.contains("<figcaption"), "{id}: no caption");
}

/// The widths of the bars of the horizontal bar chart `id` (drawn in the
/// palette's first colour), top to bottom.
fn bar_widths(dom: &str, id: &str) -> Vec<f64> {
    figure(dom, id)
        .split("<rect")
        .skip(1)
        .filter(|r| r.contains("fill=\"#0072B2\""))
        .map(|r| {
            let w = r.split("width=\"").nth(1).expect("a width");
            w[..w.find('"').expect("quoted")].parse().expect("a number")
        })
        .collect()
}

/// The markup of `<section id="{id}">…</section>`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..]
        .find("</section>")
        .map(|e| start + e)
        .unwrap_or(html.len());
    &html[start..end]
}

/// The heights of the bars of the vertical bar chart `id` (every rectangle
/// but the white background), left to right.
fn bar_heights(dom: &str, id: &str) -> Vec<f64> {
    figure(dom, id)
        .split("<rect")
        .skip(1)
        .filter(|r| !r.contains("fill=\"#FFFFFF\""))
        .map(|r| {
            let h = r.split("height=\"").nth(1).expect("a height");
            h[..h.find('"').expect("quoted")].parse().expect("a number")
        })
        .collect()
}

/// Asserts `heights` are in the proportions of `counts`, to a pixel or so.
fn assert_proportional(heights: &[f64], counts: &[u64]) {
    assert_eq!(heights.len(), counts.len(), "{heights:?} {counts:?}");
    let (top, most) = heights
        .iter()
        .zip(counts)
        .max_by_key(|(_, n)| **n)
        .map(|(h, n)| (*h, *n as f64))
        .expect("a bar");
    for (h, n) in heights.iter().zip(counts) {
        let expected = top * *n as f64 / most;
        assert!((h - expected).abs() <= 1.5, "{heights:?} not as {counts:?}");
    }
}

fn keep(name: &str, from: &Path) {
    if let Ok(dir) = std::env::var("CLIENTELE_REPORT_ARTIFACTS") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(from, dir.join(name));
    }
}

#[test]
fn cdnow_report_renders_in_headless_chromium() {
    let home = tempfile::tempdir().expect("tempdir");
    let db = home.path().join("db").display().to_string();
    let o = clientele(
        home.path(),
        &["--db", &db, "import", CDNOW, "--format", "cdnow"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = home.path().join("site");
    let o = clientele(
        home.path(),
        &[
            "--db",
            &db,
            "report",
            "--out",
            &out.display().to_string(),
            "--as-of",
            "1998-06-30",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["command"], "report");
    let data = &doc["result"];
    // A date means the end of that day, to the microsecond.
    assert_eq!(data["as_of"], "1998-06-30T23:59:59.999999Z");
    // The CDNOW sample: 2,357 customers acquired in Jan–Mar 1997.
    let sizes = data["cohort_sizes"].as_array().expect("cohort sizes");
    assert_eq!(sizes.len(), 3);
    assert_eq!(sizes[0], serde_json::json!(["1997-01", 781]));
    let total: u64 = sizes.iter().filter_map(|s| s[1].as_u64()).sum();
    assert_eq!(total, 2357);
    let first = data["cohort_retention"][0][1].as_array().expect("row");
    assert_eq!(first.len(), 18, "Jan 1997 … Jun 1998");
    assert_eq!(first[0], 1.0);
    assert!(first[1].as_f64().is_some_and(|s| s > 0.0 && s < 0.5));
    // The projections' sections: every customer has a stage, a tier, a
    // segment and (unless churned) a risk; the backtest lift has 10 deciles.
    let sum = |key: &str| -> u64 {
        data[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}"))
            .iter()
            .filter_map(|p| p[1].as_u64())
            .sum()
    };
    assert_eq!(sum("stage_funnel"), 2357);
    assert_eq!(sum("loyalty_tiers"), 2357);
    // Tiers in the loyalty policy's order, lowest first (not alphabetical).
    let tiers: Vec<&str> = data["loyalty_tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .filter_map(|t| t[0].as_str())
        .collect();
    assert_eq!(tiers, ["bronze", "silver", "gold", "platinum"]);
    assert_eq!(sum("rfm_segments"), 2357);
    let risks = data["risk_scores"].as_array().expect("risk scores");
    assert_eq!(risks.len(), 2357);
    assert!(risks
        .iter()
        .all(|r| r.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r))));
    assert_eq!(data["backtest_lift"].as_array().map(Vec::len), Some(10));
    let top_lift = data["backtest_lift"][0][1].as_f64().expect("lift");
    assert!(
        top_lift > 1.0,
        "the riskiest decile churns more: {top_lift}"
    );
    // Stage flow: the ends of the 12 calendar months up to as-of.
    let months: Vec<&str> = data["stage_flow"]
        .as_array()
        .expect("flow")
        .iter()
        .filter_map(|m| m[0].as_str())
        .collect();
    assert_eq!(months.first(), Some(&"1997-07"));
    assert_eq!(months.last(), Some(&"1998-06"));
    assert_eq!(months.len(), 12);
    // CDNOW records purchases only: the complaint desk was read, and is empty.
    let complaints = &data["complaints"];
    assert_eq!(complaints["all"]["complaints"], 0, "{complaints}");
    assert_eq!(complaints["by_category"].as_array().map(Vec::len), Some(0));
    assert_eq!(complaints["by_month"].as_array().map(Vec::len), Some(0));
    assert_eq!(complaints["churn_window_days"], 180);

    let page = out.join("index.html");
    let html = std::fs::read_to_string(&page).expect("index.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("src=") && !html.contains("<link"),
        "nothing external"
    );
    // Only the complaint sections have nothing to draw, and say why.
    assert_eq!(html.matches("Not available yet").count(), 2);
    assert!(
        html.contains("<section id=\"complaints\"><h2>Complaints by category</h2><p class=\"na\">Not available yet: no complaint recorded by then.</p></section>\n<section id=\"complaints-by-month\"><h2>Complaints by month</h2><p class=\"na\">Not available yet: no complaint recorded by then.</p></section>"),
        "the complaint sections, one after the other, say there is none"
    );
    keep("cdnow.html", &page);

    let Some(dom) = dump_dom(&page) else { return };
    assert!(dom.contains("Customer lifecycle report"));
    assert!(dom.contains("1998-06-30"));
    assert_eq!(
        dom.matches("<figure").count(),
        7,
        "every chart but the complaints' two has data"
    );
    assert_drawn(&dom, "stage-funnel", 5);
    assert_drawn(&dom, "loyalty-tiers", 3);
    assert_drawn(&dom, "rfm-segments", 5);
    assert_drawn(&dom, "churn-risk", 10);
    assert_drawn(&dom, "backtest-lift", 10);
    // 3 cohorts × 18 months of cells, plus the colour scale.
    assert_drawn(&dom, "cohort-retention", 3 * 18);
    // Every cohort's acquisition month is printed in its cell (plus the scale).
    assert!(figure(&dom, "cohort-retention").matches("100%").count() >= 4);
    assert!(dom.contains("<table"), "data tables");
    let png = home.path().join("cdnow.png");
    screenshot(&page, &png);
    keep("cdnow.png", &png);
}

/// `full_report`'s complaints per month received (2024-08 had none).
const MONTHS: [(&str, u64); 12] = [
    ("2024-06", 14),
    ("2024-07", 19),
    ("2024-09", 11),
    ("2024-10", 16),
    ("2024-11", 9),
    ("2024-12", 23),
    ("2025-01", 17),
    ("2025-02", 15),
    ("2025-03", 20),
    ("2025-04", 12),
    ("2025-05", 18),
    ("2025-06", 8),
];

/// A report with every section filled, as the analytics crates will fill it.
fn full_report() -> ReportData {
    let mut d = ReportData::new("Every chart", "2025-06-30T23:59:59Z");
    d.counts = vec![("customers".into(), 3000), ("events".into(), 80_061)];
    let stages = ["acquisition", "growth", "maturity", "decline", "churned"];
    d.stage_funnel = stages
        .iter()
        .zip([3000u64, 2210, 1480, 640, 410])
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    d.stage_flow = (0..12u64)
        .map(|m| {
            (
                format!("2024-{:02}", m + 1),
                stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.to_string(), 40 + m * (i as u64 + 1) * 6))
                    .collect(),
            )
        })
        .collect();
    d.cohort_retention = (0..8)
        .map(|c| {
            let row = (0..10)
                .map(|k| (c + k < 10).then(|| if k == 0 { 1.0 } else { 0.45 / k as f64 }))
                .collect();
            (format!("2024-{:02}", c + 1), row)
        })
        .collect();
    d.cohort_sizes = (0..8)
        .map(|c| (format!("2024-{:02}", c + 1), 100 + c))
        .collect();
    d.loyalty_tiers = vec![
        ("bronze".into(), 1500),
        ("silver".into(), 900),
        ("gold".into(), 420),
        ("platinum".into(), 180),
    ];
    d.rfm_segments = [
        ("champions", 310),
        ("loyal", 520),
        ("potential loyalists", 400),
        ("new", 260),
        ("at risk", 380),
        ("can't lose them", 90),
        ("hibernating", 700),
        ("lost", 340),
    ]
    .iter()
    .map(|(s, n)| (s.to_string(), *n))
    .collect();
    d.risk_scores = (0..2000)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
        .map(|x: f64| x * x)
        .collect();
    d.backtest_lift = (1..=10)
        .map(|i| (i, 3.2 / f64::from(i).powf(0.8)))
        .collect();
    let group =
        |name: &str, complaints: u64, overdue: u64, in_time: f64, churned: u64| ComplaintGroup {
            name: name.into(),
            complaints,
            open: overdue + 1,
            overdue,
            in_time_rate: Some(in_time),
            median_hours_to_answer: Some(18.9),
            churn_observed: complaints - overdue - 1,
            churned_after: churned,
        };
    d.complaints = Some(ComplaintDesk {
        all: group("", 182, 22, 0.637, 13),
        by_category: vec![
            group("product quality", 98, 15, 0.592, 6),
            group("billing", 45, 3, 0.711, 6),
            group("claims handling", 36, 3, 0.667, 1),
            // Category names are user data.
            group("<script>alert(\"x\")</script>", 3, 1, 0.5, 0),
        ],
        // The last 12 months with complaints (2024-08 had none).
        by_month: MONTHS
            .iter()
            .map(|&(month, n)| group(month, n, n / 8, 0.5 + n as f64 / 100.0, n / 10))
            .collect(),
        churn_window_days: 180,
        churn_in_window_without_complaint: Some(0.0642),
    });
    d.notes = vec!["Synthetic data for the rendering test.".into()];
    d
}

#[test]
fn every_chart_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("index.html");
    let html = render(&full_report());
    std::fs::write(&page, &html).expect("write page");
    assert_eq!(html.matches("<figure").count(), 9);
    assert!(!html.contains("Not available yet"));
    // The complaint section: a bar per category, labelled with its rates;
    // the whole desk and the background in the caption; a row per category.
    assert_eq!(bar_widths(&html, "complaints").len(), 4);
    assert!(
        html.contains("98 (59% in time, 7% churned after)"),
        "bar label"
    );
    let caption = figure(&html, "complaints");
    assert!(
        caption.contains("182 complaints (23 open, 22 overdue); 63.7% in time of those answered or overdue; hours to answer: median 18.9."),
        "{caption}"
    );
    assert!(
        caption.contains("customers without a complaint: 6.4% within 180 days"),
        "{caption}"
    );
    assert!(html.contains(
        "<tr><th scope=\"row\">billing</th><td>45</td><td>3</td><td>71.1%</td><td>18.9</td><td>14.6% (6 of 41)</td></tr>"
    ));
    assert!(html.contains("<th scope=\"row\">(all categories)</th><td>182</td>"));
    // The category named like a script is text: in the chart and the table.
    assert!(!html.contains("<script"), "a category name made markup");
    assert_eq!(
        html.matches("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
            .count(),
        2,
        "escaped in the chart's label and the table"
    );
    // By month: right after the section by category; a bar per month, as
    // tall as its complaints, oldest first; a row per month.
    let (by_category, by_month) = (
        html.find("<section id=\"complaints\">")
            .expect("by category"),
        html.find("<section id=\"complaints-by-month\"><h2>Complaints by month</h2>")
            .expect("by month"),
    );
    assert_eq!(html[by_category..by_month].matches("</section>").count(), 1);
    let counts: Vec<u64> = MONTHS.iter().map(|(_, n)| *n).collect();
    assert_proportional(&bar_heights(&html, "complaints-by-month"), &counts);
    let caption = figure(&html, "complaints-by-month");
    assert!(
        caption.contains(
            "Complaints received per month (the last 12 months with complaints, oldest first;"
        ),
        "{caption}"
    );
    let months = section(&html, "complaints-by-month");
    // 2024-12: 23 complaints, 2 overdue, 73.0% in time, 2 of 20 churned after.
    assert!(
        months.contains("<tr><th scope=\"row\">2024-12</th><td>23</td><td>2</td><td>73.0%</td><td>18.9</td><td>10.0% (2 of 20)</td></tr>"),
        "a row per month: {months}"
    );
    let rows: Vec<&str> = months
        .split("<th scope=\"row\">")
        .skip(1)
        .filter_map(|r| r.split('<').next())
        .collect();
    let expected: Vec<&str> = MONTHS.iter().map(|(m, _)| *m).collect();
    assert_eq!(rows, expected, "a row per month, oldest first");
    // Funnel shares are of all 7,740 customers: growth 2,210 is 29 %.
    assert!(
        html.contains("2,210 (29%)"),
        "growth's share of all customers"
    );
    assert!(html.contains("share of customers"));
    keep("full.html", &page);

    let Some(dom) = dump_dom(&page) else { return };
    assert_drawn(&dom, "stage-funnel", 5);
    assert_drawn(&dom, "stage-flow", 12 * 5);
    assert_drawn(&dom, "cohort-retention", 8 * 10);
    assert_drawn(&dom, "loyalty-tiers", 4);
    assert_drawn(&dom, "rfm-segments", 8);
    assert_drawn(&dom, "churn-risk", 10);
    assert_drawn(&dom, "backtest-lift", 10);
    assert_drawn(&dom, "complaints", 4);
    assert_drawn(&dom, "complaints-by-month", 12);
    assert_proportional(&bar_heights(&dom, "complaints-by-month"), &counts);
    // One bar per category, as long as its complaints (98 : 45 : 36 : 3).
    let widths = bar_widths(&dom, "complaints");
    assert_eq!(widths.len(), 4, "{widths:?}");
    for (w, n) in widths.iter().zip([98.0, 45.0, 36.0, 3.0]) {
        let expected = widths[0] * n / 98.0;
        assert!((w - expected).abs() <= 1.5, "{widths:?}");
    }
    assert!(!dom.contains("<script"), "a category name made markup");
    // The lift chart's reference line at 1.
    assert!(figure(&dom, "backtest-lift").contains("<polyline"));
    assert!(dom.contains("can&#39;t lose them") || dom.contains("can't lose them"));
    let png = dir.path().join("full.png");
    screenshot(&page, &png);
    keep("full.png", &png);
}

#[test]
fn report_errors_have_hints() {
    let home = tempfile::tempdir().expect("tempdir");
    let none = home.path().join("none").display().to_string();
    let o = clientele(home.path(), &["--db", &none, "report", "--out", "x"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hint: "), "{err}");
    let file = home.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let o = clientele(
        home.path(),
        &[
            "--db",
            &none,
            "report",
            "--out",
            &file.display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = clientele(
        home.path(),
        &["--db", &none, "report", "--out", "x", "--as-of", "soon"],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn out_may_name_the_html_file_itself() {
    let home = tempfile::tempdir().expect("tempdir");
    let db = home.path().join("db").display().to_string();
    let events = home.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"customer\":\"c-1\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"kind\":\"purchase\",\"order_id\":\"A-1\",\"amount\":\"165.00\",\"currency\":\"CNY\"}\n",
    )
    .expect("write");
    let o = clientele(
        home.path(),
        &["--db", &db, "import", &events.display().to_string()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A name ending in .html (any case) is the page; missing directories are made.
    let page = home.path().join("reports").join("Q2.HTML");
    let o = clientele(
        home.path(),
        &["--db", &db, "report", "--out", &page.display().to_string()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(page.is_file(), "{} is not a file", page.display());
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Q2.HTML"), "{stdout}");
    // Only the page is left beside it (no partial file).
    let names: Vec<String> = std::fs::read_dir(home.path().join("reports"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["Q2.HTML".to_string()]);
    // Any other name is a directory that gets index.html.
    let site = home.path().join("site");
    let o = clientele(
        home.path(),
        &["--db", &db, "report", "--out", &site.display().to_string()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(site.join("index.html").is_file());
    // An existing directory named *.html is refused, as a usage error.
    let odd = home.path().join("odd.html");
    std::fs::create_dir(&odd).expect("mkdir");
    let o = clientele(
        home.path(),
        &["--db", &db, "report", "--out", &odd.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
}

/// The complaint section of a demo store's report: the desk's figures per
/// category, as `clientele complaints` gives them; as known at a recorded
/// time; escaped; and read from the log when another process holds the store.
#[test]
fn demo_report_has_the_complaint_desk() {
    let s = Sandbox::new();
    let db = s.db("db");
    let (code, _, stderr) = s.json(&["--db", &db, "demo", "--customers", "500", "--seed", "11"]);
    assert_eq!(code, 0, "{stderr}");
    // A complaint recorded after R, in a category named like markup.
    let known_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    let late = s.write(
        "late.jsonl",
        concat!(
            "{\"customer\":\"late-1\",\"occurred_at\":\"2025-06-01T09:00:00Z\",\"kind\":\"complaint\",\"complaint_id\":\"K-1\",\"step\":\"received\",\"category\":\"<script>alert(1)</script>\"}\n",
            "{\"customer\":\"late-1\",\"occurred_at\":\"2025-06-01T15:00:00Z\",\"kind\":\"complaint\",\"complaint_id\":\"K-1\",\"step\":\"resolved\"}\n",
        ),
    );
    let o = s.run(&["--db", &db, "import", &late]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let report = |name: &str, extra: &[&str]| -> (Value, String) {
        let page = s.path(name).display().to_string();
        let mut args = vec![
            "--db",
            &db,
            "report",
            "--as-of",
            "2025-06-30",
            "--out",
            &page,
        ];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        let html = std::fs::read_to_string(&page).expect("page");
        (doc["result"]["complaints"].clone(), html)
    };
    let desk = |extra: &[&str]| -> Value {
        let mut args = vec![
            "--db",
            &db,
            "complaints",
            "--as-of",
            "2025-06-30",
            "--summary",
        ];
        args.extend_from_slice(extra);
        let (code, doc, stderr) = s.json(&args);
        assert_eq!(code, 0, "{stderr}");
        doc["result"].clone()
    };
    // The report's figures are the desk's, group by group.
    let agree = |section: &Value, desk: &Value| {
        let same = |ours: &Value, theirs: &Value| {
            for key in ["complaints", "open", "overdue", "in_time_rate"] {
                assert_eq!(ours[key], theirs[key], "{key}: {ours} {theirs}");
            }
            assert_eq!(ours["churned_after"], theirs["churned_after"]);
            assert_eq!(ours["churn_observed"], theirs["churn_observed"]);
            assert_eq!(
                ours["median_hours_to_answer"],
                theirs["hours_to_answer"]["median"]
            );
        };
        same(&section["all"], &desk["all"]);
        let ours = section["by_category"].as_array().expect("by category");
        let theirs = desk["by_category"].as_array().expect("by category");
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o["name"], t["key"]);
            same(o, t);
        }
        // By month: the desk's last 12 months with complaints, oldest first.
        let ours = section["by_month"].as_array().expect("by month");
        let theirs = desk["by_month"].as_array().expect("by month");
        let recent = theirs
            .get(theirs.len().saturating_sub(12)..)
            .unwrap_or_default();
        assert_eq!(ours.len(), recent.len());
        for (o, t) in ours.iter().zip(recent) {
            assert_eq!(o["name"], t["key"]);
            same(o, t);
        }
        assert_eq!(
            section["churn_in_window_without_complaint"],
            desk["churn_in_window_without_complaint"]
        );
        assert_eq!(
            section["churn_window_days"],
            desk["policy"]["churn_window_days"]
        );
    };
    let names = |section: &Value| -> Vec<String> {
        section["by_category"]
            .as_array()
            .expect("by category")
            .iter()
            .map(|g| g["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let months = |section: &Value| -> Vec<(String, u64)> {
        section["by_month"]
            .as_array()
            .expect("by month")
            .iter()
            .map(|g| {
                let name = g["name"].as_str().expect("name").to_owned();
                (name, g["complaints"].as_u64().expect("complaints"))
            })
            .collect()
    };

    // As known at R: the demo's three categories, most complaints first.
    let (then, html) = report("then.html", &["--known-at", &known_at]);
    agree(&then, &desk(&["--known-at", &known_at]));
    assert_eq!(
        names(&then),
        ["product quality", "claims handling", "billing"]
    );
    assert_eq!(then["all"]["complaints"], 43, "the demo's complaints");
    assert_eq!(bar_widths(&html, "complaints").len(), 3);
    // The demo's complaints came in over 21 months (with gaps): the last 12
    // of them, 2024-03 … 2025-05, are drawn.
    let shown = months(&then);
    assert_eq!(shown.len(), 12, "{shown:?}");
    assert_eq!(shown[0].0, "2024-03");
    assert_eq!(shown[11].0, "2025-05");
    assert!(shown.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");
    let counts: Vec<u64> = shown.iter().map(|(_, n)| *n).collect();
    assert_proportional(&bar_heights(&html, "complaints-by-month"), &counts);
    assert!(!html.contains("&lt;script&gt;"), "the late one is left out");

    // Everything recorded: a fourth category, its name escaped.
    let (now, html) = report("now.html", &[]);
    agree(&now, &desk(&[]));
    assert_eq!(names(&now).len(), 4, "{now}");
    assert_eq!(names(&now)[3], "<script>alert(1)</script>");
    assert_eq!(now["all"]["complaints"], 44);
    assert!(!html.contains("<script"), "a category name made markup");
    assert!(html.contains("<th scope=\"row\">&lt;script&gt;alert(1)&lt;/script&gt;</th>"));
    // The late complaint opens 2025-06: the window moves on a month.
    let shown = months(&now);
    assert_eq!(shown.len(), 12, "{shown:?}");
    assert_eq!(shown[0].0, "2024-04");
    assert_eq!(shown[11], ("2025-06".to_owned(), 1));
    let by_month = section(&html, "complaints-by-month");
    assert!(
        by_month.contains("<tr><th scope=\"row\">2025-06</th><td>1</td><td>0</td><td>100.0%</td><td>6.0</td><td>n/a (0 of 0)</td></tr>"),
        "{by_month}"
    );
    assert!(!by_month.contains("2024-03"), "{by_month}");
    keep("demo.html", &s.path("now.html"));
    if let Some(dom) = dump_dom(&s.path("now.html")) {
        assert_drawn(&dom, "complaints", 4);
        let widths = bar_widths(&dom, "complaints");
        assert_eq!(widths.len(), 4, "one bar per category: {widths:?}");
        assert!(widths.windows(2).all(|w| w[0] >= w[1]), "{widths:?}");
        assert_drawn(&dom, "complaints-by-month", 12);
        let counts: Vec<u64> = months(&now).iter().map(|(_, n)| *n).collect();
        assert_proportional(&bar_heights(&dom, "complaints-by-month"), &counts);
        assert!(!dom.contains("<script"));
    }

    // Another process holds the store: the projections are left out, the
    // desk is read from the log.
    let held = clientele_core::Store::open(s.path("db")).expect("hold the store");
    let (read_only, html) = report("read-only.html", &[]);
    drop(held);
    assert_eq!(read_only, now);
    assert!(html.contains("in use by another process"));
    assert_eq!(bar_widths(&html, "complaints").len(), 4);
    assert_eq!(bar_heights(&html, "complaints-by-month").len(), 12);
}
