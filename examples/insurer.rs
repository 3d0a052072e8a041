//! The insurer's desk (Ping An's vehicle-insurance CRM, 001 L5–6): find a
//! customer by licence plate, list the policies due for renewal with each
//! customer's stated intent, follow each policyholder's lifecycle stage, and
//! warn about the renewals at risk — but not about customers who are simply
//! in the middle of their term.
//!
//! Three motor-insurance customers each buy a one-year policy in early 2024:
//! 王 renews before the end, 李 says on the reminder call that she will not
//! renew, 赵 never answers.
//!
//! Run: `cargo run --example insurer`

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clientele::churn::{
    CallbackSink, ModelContext, RiskPolicy, Warning, WarningJob, WarningKind, WarningPolicy,
};
use clientele::core::privacy::MasterKeyRing;
use clientele::core::{event::*, CustomerId, ExpectedVersion, NewEvent, Store, StoreOptions};
use clientele::lifecycle::{Lifecycle, LifecyclePolicy, Reason, Stage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

/// `cargo test` runs the example too (`test = true` in Cargo.toml), so the
/// story it tells is checked.
#[test]
fn the_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A profile with a name and a plate, and a one-year motor policy bought
/// at `bought`, covering until `until`.
fn new_policyholder(
    name: &str,
    plate: &str,
    policy: &str,
    bought: DateTime<Utc>,
    until: NaiveDate,
) -> Vec<NewEvent> {
    let profile = Profile {
        name: Some(name.into()),
        licence_plate: Some(plate.into()),
        ..Profile::default()
    };
    let mut purchase = Purchase::new(
        format!("{policy}-1"),
        "4200.00".parse().unwrap(),
        "CNY".parse().unwrap(),
    );
    purchase.policy_number = Some(policy.into());
    purchase.valid_until = Some(until);
    vec![
        NewEvent::new(bought, profile),
        NewEvent::new(bought, purchase),
    ]
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Names, plates and policy numbers are personal data: sealed under a
    // master key (here a throwaway one; see docs/privacy.md).
    let dir = tempfile::tempdir()?;
    let options = StoreOptions {
        master_keys: Some(Arc::new(MasterKeyRing::generate())),
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options)?;
    let wang = CustomerId::from_external("insurer", "W-001");
    let li = CustomerId::from_external("insurer", "L-002");
    let zhao = CustomerId::from_external("insurer", "Z-003");

    let mut w = new_policyholder(
        "王先生",
        "京A12345",
        "PA-1001",
        day(2024, 1, 10),
        date(2025, 1, 9),
    );
    let mut renewal = Purchase::new("PA-1001-2", "4350.00".parse()?, "CNY".parse()?);
    renewal.policy_number = Some("PA-1001".into());
    renewal.valid_until = Some(date(2026, 1, 9));
    w.push(NewEvent::new(day(2025, 1, 2), renewal));
    store.append(wang, ExpectedVersion::NoStream, w)?;

    let mut l = new_policyholder(
        "李女士",
        "沪B99845",
        "PA-1002",
        day(2024, 2, 1),
        date(2025, 1, 31),
    );
    let mut call = Contact::new(
        Channel::Phone,
        Direction::Outbound,
        Purpose::RenewalReminder,
    );
    call.renewal_intent = Some(RenewalIntent::NotRenewing);
    l.push(NewEvent::new(day(2024, 12, 20), call));
    store.append(li, ExpectedVersion::NoStream, l)?;

    let z = new_policyholder(
        "赵先生",
        "京A77345",
        "PA-1003",
        day(2024, 3, 1),
        date(2025, 2, 28),
    );
    store.append(zhao, ExpectedVersion::NoStream, z)?;

    let who = |c: CustomerId| match c {
        c if c == wang => "王",
        c if c == li => "李",
        _ => "赵",
    };
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
    lifecycle.catch_up()?;

    // 车牌尾数: who has a plate ending in 345?
    let mut plates = lifecycle.lookup_plate_suffix("345")?;
    plates.sort();
    let names: Vec<&str> = plates.iter().map(|&c| who(c)).collect();
    println!("plates ending in 345: {}", names.join(", "));
    let mut want = vec![wang, zhao];
    want.sort();
    assert_eq!(plates, want);

    // The renewal-due list for the first quarter of 2025, with intents.
    println!("\nrenewals due 2025-01-01 … 2025-03-31:");
    let due = lifecycle.renewals_due(date(2025, 1, 1), date(2025, 3, 31))?;
    for d in &due {
        let intent = match d.intent {
            Some(RenewalIntent::Continue) => "continue",
            Some(RenewalIntent::NotRenewing) => "not renewing",
            Some(RenewalIntent::Considering) => "considering",
            None => "(no intent)",
        };
        println!(
            "  {}  {:<8} {}  {intent}",
            d.valid_until,
            d.policy_number,
            who(d.customer)
        );
    }
    // 王's renewal moved his cover to 2026: only 李 and 赵 are due.
    assert_eq!(due.len(), 2);
    assert_eq!(
        (due[0].customer, due[0].intent),
        (li, Some(RenewalIntent::NotRenewing))
    );
    assert_eq!((due[1].customer, due[1].intent), (zhao, None));

    // Stages: mid-term nobody is lapsing (a one-time buyer without cover
    // would be in decline after 180 days); a cover that ends unrenewed is
    // the decline, and half a year later the exit.
    let stage = |customer, t| -> Result<Stage, Box<dyn std::error::Error>> {
        Ok(lifecycle.view(customer, t)?.ok_or("unknown")?.stage)
    };
    println!();
    for (when, stages) in [
        (
            day(2024, 10, 1),
            [Stage::Growth, Stage::Growth, Stage::Growth],
        ),
        (
            day(2025, 3, 15),
            [Stage::Growth, Stage::Decline, Stage::Decline],
        ),
        (
            day(2025, 8, 15),
            [Stage::Growth, Stage::Exit, Stage::Decline],
        ),
    ] {
        let seen = [stage(wang, when)?, stage(li, when)?, stage(zhao, when)?];
        println!(
            "{}: 王 {}, 李 {}, 赵 {}",
            when.date_naive(),
            seen[0],
            seen[1],
            seen[2]
        );
        assert_eq!(seen, stages);
    }
    let why = lifecycle.view(li, day(2025, 3, 15))?.ok_or("unknown")?;
    println!("李 on 2025-03-15: {:?}", why.reasons[0]);
    assert!(matches!(
        why.reasons[..],
        [Reason::CoverLapsed { last_day, .. }] if last_day == date(2025, 1, 31)
    ));

    // The churn-warning job, run monthly: no "high risk" for anyone in the
    // middle of a term; 李's renewal at risk once the reminder call said so;
    // high risk once her cover has lapsed.
    let mut job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        ModelContext::default(),
    )?;
    let raised: Arc<Mutex<Vec<Warning>>> = Arc::default();
    let seen = raised.clone();
    let mut sink = CallbackSink(move |w: &Warning| {
        seen.lock().map_err(|e| e.to_string())?.push(w.clone());
        Ok(())
    });
    println!("\nwarnings:");
    for month in [6, 9, 12] {
        job.run(day(2024, month, 28), &mut sink)?;
    }
    job.run(day(2025, 2, 3), &mut sink)?;
    let raised = raised.lock().map_err(|e| e.to_string())?.clone();
    for w in &raised {
        let why = w.reasons.first().map_or("", |r| r.detail.as_str());
        println!(
            "  {}  {:<16} {}  {why}",
            w.as_of.date_naive(),
            w.kind,
            who(w.customer_id)
        );
    }
    let kinds: Vec<(CustomerId, WarningKind, NaiveDate)> = raised
        .iter()
        .map(|w| (w.customer_id, w.kind, w.as_of.date_naive()))
        .collect();
    assert_eq!(
        kinds,
        [
            (li, WarningKind::RenewalAtRisk, date(2024, 12, 28)),
            (li, WarningKind::HighRisk, date(2025, 2, 3)),
        ]
    );
    Ok(())
}
