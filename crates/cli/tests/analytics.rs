//! End to end: import CDNOW → model fit → backtest → churn scores → warnings.

use serde_json::Value;

mod common;

use common::{CDNOW, KEY};

/// `clientele --db DB --json ARGS`, its home next to the database.
fn run(db: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let db_arg = db.display().to_string();
    let mut all = vec!["--db", db_arg.as_str(), "--json"];
    all.extend_from_slice(args);
    let home = db.parent().unwrap_or(db);
    let (code, doc, _) = common::parse_json(args, &common::clientele(home, &all, Some(KEY)));
    (code, doc)
}

#[test]
fn cdnow_import_model_fit_backtest_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (code, _) = run(&db, &["import", CDNOW, "--format", "cdnow"]);
    assert_eq!(code, 0);

    let (code, fit) = run(&db, &["model", "fit", "--as-of", "1997-09-30"]);
    assert_eq!(code, 0, "{fit}");
    let r = &fit["result"];
    assert_eq!(r["customers"], 2357);
    let close = |v: &Value, want: f64, tol: f64| (v.as_f64().unwrap() - want).abs() < tol;
    assert!(
        close(&r["bg_nbd"]["r"], 0.243, 0.001) && close(&r["bg_nbd"]["alpha"], 4.414, 0.005),
        "{r}"
    );
    assert!(
        close(&r["bg_nbd"]["a"], 0.793, 0.001) && close(&r["bg_nbd"]["b"], 2.426, 0.002),
        "{r}"
    );
    assert!(close(&r["bg_nbd"]["log_likelihood"], -9582.4, 0.1), "{r}");
    // CDNOW has no bills: no subscribers' model.
    assert!(r.get("subscribers").is_none(), "{r}");
    assert!(
        close(&r["pareto_nbd"]["s"], 0.606, 0.001) && close(&r["pareto_nbd"]["beta"], 11.669, 0.01),
        "{r}"
    );
    assert!(close(&r["mbg_nbd"]["b"], 1.614, 0.002), "{r}");
    assert!(
        close(&r["gamma_gamma"]["p"], 6.25, 0.01) && close(&r["gamma_gamma"]["gamma"], 15.44, 0.01),
        "{r}"
    );

    let (code, bt) = run(
        &db,
        &["backtest", "--as-of", "1997-09-30", "--horizon", "39w"],
    );
    assert_eq!(code, 0, "{bt}");
    let b = &bt["result"];
    assert_eq!(b["customers"], 2357);
    assert!(b["auc"].as_f64().unwrap() > 0.78, "{b}");
    assert_eq!(b["lift"].as_array().unwrap().len(), 10);

    let db_arg = db.display().to_string();
    let scores = common::clientele(
        dir.path(),
        &[
            "--db",
            &db_arg,
            "churn-scores",
            "--as-of",
            "1997-09-30",
            "--format",
            "csv",
        ],
        Some(KEY),
    );
    assert!(scores.status.success());
    let text = String::from_utf8(scores.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("customer_id,external_id,risk_score"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2357);
    assert!(rows.iter().all(|r| {
        let risk: f64 = r.split(',').nth(2).unwrap().parse().unwrap();
        (0.0..=1.0).contains(&risk)
    }));

    // The warning job: a first run raises, a second for the same time raises nothing.
    let (code, first) = run(&db, &["warn", "--as-of", "1997-09-30"]);
    assert_eq!(code, 0, "{first}");
    let raised = first["result"]["run"]["raised"].as_u64().unwrap();
    assert!(raised > 0);
    let (_, again) = run(&db, &["warn", "--as-of", "1997-09-30"]);
    assert_eq!(again["result"]["run"]["raised"], 0);
    assert_eq!(again["result"]["run"]["visited"], 0);
    let (_, listed) = run(&db, &["warnings"]);
    assert_eq!(
        listed["result"]["warnings"].as_array().unwrap().len() as u64,
        raised
    );
}
