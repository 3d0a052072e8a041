//! Quick start: append a real customer's history to a clientele log and read it back.
//!
//! The story is the Voit (沃特) web-shop account from the case book (000 L248–300):
//! registration → order → courier call → payment → greetings → repeat purchase
//! with a personal discount → referral of classmates.
//!
//! Run with `cargo xtask demo` (or `cargo run --example quickstart [DB_DIR]`).

use std::error::Error;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use clientele::core::event::*;
use clientele::core::privacy::MasterKeyRing;
use clientele::core::{
    ActorKind, AppendStatus, Currency, CustomerId, ExpectedVersion, Metadata, NewEvent, Store,
    StoreOptions,
};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid date")
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("clientele-quickstart-{}", std::process::id())),
    };
    run(&dir)?;
    println!("store kept at {}", dir.display());
    Ok(())
}

/// `cargo test` runs the example too (`test = true` in Cargo.toml), in a
/// temporary directory, so its assertions are checked.
#[test]
fn the_example_runs() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    run(dir.path())
}

fn run(dir: &std::path::Path) -> Result<(), Box<dyn Error>> {
    // Personal data (the profile) is sealed under a per-customer key, wrapped
    // by a master key that the application supplies. A throwaway one here;
    // a real application loads its own (see docs/privacy.md).
    let options = StoreOptions {
        master_keys: Some(Arc::new(MasterKeyRing::generate())),
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir, options)?;
    let customer = CustomerId::from_external("voit-webshop", "student-0001");
    let cny: Currency = "CNY".parse()?;
    let shop = Metadata {
        actor: ActorKind::Staff,
        actor_id: Some("shop-owner".into()),
        source: Some("webshop".into()),
        ..Metadata::default()
    };

    let mut registration = Contact::new(Channel::Web, Direction::Inbound, Purpose::Registration);
    registration.outcome = Some("account_created".into());
    let mut first_order = Purchase::new("VOIT-1", "300.00".parse()?, cny);
    first_order.category = Some("basketball_shoes".into());
    first_order.quantity = Some(2);
    first_order.channel = Some(Channel::Web);
    let mut courier = Contact::new(Channel::Phone, Direction::Outbound, Purpose::Delivery);
    courier.outcome = Some("delivered_day_5".into());
    let payment = Payment {
        reference: "VOIT-1".into(),
        amount: "300.00".parse()?,
        currency: cny,
        due_date: None,
        late: false,
    };
    let mut review = Contact::new(Channel::Web, Direction::Inbound, Purpose::Survey);
    review.rating = Some(5);
    let mut sale_sms = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Promotion);
    sale_sms.outcome = Some("national_day_sale".into());
    let new_year = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
    let lantern = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
    let mut repeat = Purchase::new("VOIT-2", "127.50".parse()?, cny); // 15 % personal discount on 150
    repeat.category = Some("basketball_shoes".into());
    repeat.channel = Some(Channel::Web);
    let referral = Referral {
        referred: Referred::Prospect("classmate:li-wei".into()),
        channel: Some(Channel::Social),
    };

    let history = vec![
        NewEvent::new(
            at(2008, 9, 20, 21),
            Profile {
                name: Some("Student A".into()),
                external_ids: vec!["student-0001".into()],
                ..Profile::default()
            },
        ),
        NewEvent::new(at(2008, 9, 20, 21), registration),
        NewEvent::new(at(2008, 9, 20, 22), first_order),
        NewEvent::new(at(2008, 9, 25, 10), courier).with_metadata(shop.clone()),
        NewEvent::new(at(2008, 9, 27, 20), payment),
        NewEvent::new(at(2008, 9, 27, 20), review),
        NewEvent::new(at(2008, 10, 1, 9), sale_sms).with_metadata(shop.clone()),
        NewEvent::new(at(2009, 1, 26, 7), new_year).with_metadata(shop.clone()),
        NewEvent::new(at(2009, 2, 9, 8), lantern).with_metadata(shop),
        NewEvent::new(at(2009, 3, 15, 19), repeat),
        NewEvent::new(at(2009, 3, 20, 12), referral),
    ];
    // Retrying the same append is safe: the event ids make it idempotent.
    let events = history.len();
    let outcome = store.append(customer, ExpectedVersion::Any, history.clone())?;
    let again = store.append(customer, ExpectedVersion::Any, history)?;
    assert_eq!(outcome.positions.len(), events);
    assert_eq!(outcome.status, AppendStatus::Appended);
    assert_eq!(again.status, AppendStatus::AlreadyAppended);
    assert_eq!(again.positions, outcome.positions);
    println!(
        "appended {} events for {customer} ({:?}; retry → {:?})",
        outcome.positions.len(),
        outcome.status,
        again.status
    );

    println!("\n{:<4} {:<17} {:<14} details", "ver", "occurred", "kind");
    for event in store.read_stream(customer)? {
        let details = match &event.payload {
            EventPayload::Purchase(p) => {
                format!("order {} {} {}", p.order_id, p.amount, p.currency)
            }
            EventPayload::Payment(p) => format!("paid {} {}", p.amount, p.currency),
            EventPayload::Contact(c) => format!(
                "{} {:?} {}{}",
                c.channel,
                c.direction,
                c.purpose,
                c.rating
                    .map(|r| format!(" rating {r}/5"))
                    .unwrap_or_default()
            ),
            EventPayload::Referral(r) => format!(
                "referred {}",
                match &r.referred {
                    Referred::Customer(c) => c.to_string(),
                    Referred::Prospect(p) => p.clone(),
                }
            ),
            EventPayload::Profile(p) => format!("profile {}", p.name.as_deref().unwrap_or("")),
            other => other.kind().to_string(),
        };
        println!(
            "{:<4} {:<17} {:<14} {details}",
            event.version,
            event.occurred_at.format("%Y-%m-%d %H:%M"),
            event.kind()
        );
    }
    let report = store.verify()?;
    println!(
        "\nverify: {} events, {} customers, head hash {}…",
        report.events,
        report.streams,
        &report.head_hash[..16]
    );
    assert_eq!((report.events, report.streams), (events as u64, 1));
    Ok(())
}
