//! Audit replay: what was true at a business time, what the log knew at a
//! recorded time, and why a customer's stage changed.
//!
//! A customer buys monthly, falls silent, and a purchase made in the silence
//! is only recorded later (a back-office correction). The example prints the
//! stage timeline before and after the correction, and the view "as known" at
//! the moment before it.
//!
//! Run: `cargo run --example audit`

use chrono::{Duration, TimeZone, Utc};
use clientele::core::{event::*, CustomerId, ExpectedVersion, NewEvent, Store};
use clientele::lifecycle::{Lifecycle, LifecyclePolicy, Stage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

/// `cargo test` runs the example too (`test = true` in Cargo.toml), so the
/// story it tells is checked.
#[test]
fn the_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let customer = CustomerId::from_external("webshop", "u-1001");
    let t0 = Utc.with_ymd_and_hms(2024, 1, 5, 10, 0, 0).unwrap();
    let order = |n: i64| {
        let purchase = Purchase::new(
            format!("A-{n}"),
            "89.00".parse().unwrap(),
            "CNY".parse().unwrap(),
        );
        NewEvent::new(t0 + Duration::days(30 * n), purchase)
    };
    let registration = Contact::new(Channel::Web, Direction::Inbound, Purpose::Registration);
    let mut events = vec![NewEvent::new(t0 - Duration::hours(1), registration)];
    events.extend((0..4).map(order));
    store.append(customer, ExpectedVersion::NoStream, events)?;

    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
    lifecycle.catch_up()?;
    let audit_time = t0 + Duration::days(200);
    print_timeline("As first recorded", &lifecycle, customer, audit_time)?;

    // The correction: an order of day 150 arrives late.
    let before_correction = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(2));
    store.append(customer, ExpectedVersion::Any, vec![order(5)])?;
    lifecycle.catch_up()?;
    print_timeline("After the late order", &lifecycle, customer, audit_time)?;

    let known = lifecycle.view_known_at(customer, audit_time, before_correction)?;
    let now = lifecycle.view(customer, audit_time)?;
    let (Some(known), Some(now)) = (known, now) else {
        return Err("the customer has no view".into());
    };
    println!(
        "On {}: the log knew {} (before the correction); true with it: {}",
        audit_time.date_naive(),
        known.stage,
        now.stage
    );
    // Silent for 90 days after the fourth monthly order: decline, as the log
    // knew it; the order of day 150, recorded late, keeps the customer mature.
    assert_eq!((known.stage, now.stage), (Stage::Decline, Stage::Maturity));
    Ok(())
}

fn print_timeline(
    title: &str,
    lifecycle: &Lifecycle,
    customer: CustomerId,
    as_of: chrono::DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("{title}:");
    for change in lifecycle.explain(customer, as_of)? {
        let from = change
            .from
            .map(|s| s.to_string())
            .unwrap_or_else(|| "—".into());
        println!(
            "  {}  {from:>11} → {:<11} {}",
            change.at.date_naive(),
            change.to.to_string(),
            change.cause
        );
    }
    Ok(())
}
