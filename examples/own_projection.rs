//! Your own read model: a projection kept up to date by clientele's runtime.
//!
//! A projection is a pure fold, `state + event → state`. The runtime
//! ([`Projector`]) folds each customer's events in business-time order, stores
//! the states beside the log (state and checkpoint in one write, so a crash
//! never folds an event twice), catches up after a restart, refolds a customer
//! when a late event arrives, and answers "as of" a past time from snapshots.
//!
//! This one keeps, per customer, how much was spent through each payment
//! reference and how many complaints were received; it stores its state in a
//! compact encoding of its own (optional: postcard is the default), and shows
//! a population-wide view at two past times in one pass.
//!
//! Run: `cargo run --example own_projection`

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use clientele::core::projection::{Projection, Projector};
use clientele::core::{
    event::*, CustomerId, EventPayload, ExpectedVersion, NewEvent, RecordedEvent, Store,
};
use serde::{Deserialize, Serialize};

/// Per customer: minor units paid per currency, and complaints received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Ledger {
    paid: BTreeMap<String, i64>,
    complaints: u32,
}

struct Payments;

impl Projection for Payments {
    type State = Ledger;

    fn name(&self) -> &str {
        "example-payments"
    }

    /// Change it whenever `apply` or the state's shape changes: the runtime
    /// then rebuilds from zero.
    fn version(&self) -> u64 {
        1
    }

    fn apply(&self, state: &mut Ledger, event: &RecordedEvent) {
        match &event.payload {
            EventPayload::Payment(p) => {
                if let Ok(money) = p.money() {
                    *state
                        .paid
                        .entry(money.currency().as_str().to_owned())
                        .or_default() += money.minor_units();
                }
            }
            EventPayload::Complaint(c) if c.step == ComplaintStep::Received => {
                state.complaints += 1;
            }
            _ => {}
        }
    }

    /// Optional: this fold reads amounts and steps, never personal fields
    /// (names, identifiers, narratives), so the runtime can feed it events
    /// without decrypting them. The default is `true`.
    fn reads_personal_data(&self) -> bool {
        false
    }

    /// Optional: a hand-written encoding (deterministic, read back exactly
    /// by `decode_state`). Here: the complaint count, then per currency its
    /// three letters and the amount, little-endian.
    fn encode_state(&self, state: &Ledger, out: &mut Vec<u8>) -> clientele::core::Result<()> {
        out.extend_from_slice(&state.complaints.to_le_bytes());
        for (currency, minor) in &state.paid {
            out.extend_from_slice(currency.as_bytes());
            out.extend_from_slice(&minor.to_le_bytes());
        }
        Ok(())
    }

    /// Anything that does not decode is `None`: the runtime then refolds the
    /// customer from the log instead of failing.
    fn decode_state(&self, bytes: &[u8]) -> Option<Ledger> {
        let (count, mut rest) = bytes.split_first_chunk::<4>()?;
        let mut ledger = Ledger {
            complaints: u32::from_le_bytes(*count),
            ..Ledger::default()
        };
        while !rest.is_empty() {
            let (currency, tail) = rest.split_first_chunk::<3>()?;
            let (minor, tail) = tail.split_first_chunk::<8>()?;
            let currency = std::str::from_utf8(currency).ok()?.to_owned();
            ledger.paid.insert(currency, i64::from_le_bytes(*minor));
            rest = tail;
        }
        Some(ledger)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

/// `cargo test` runs the example too (`test = true` in Cargo.toml), so its
/// assertions are checked.
#[test]
fn the_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let customer = CustomerId::from_external("shop", "c-7");
    let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    let pay = |reference: &str, amount: &str, currency: &str, days: i64| {
        let payment = Payment {
            reference: reference.to_owned(),
            amount: amount.parse()?,
            currency: currency.parse()?,
            due_date: None,
            late: false,
        };
        Ok::<_, Box<dyn std::error::Error>>(NewEvent::new(t0 + Duration::days(days), payment))
    };
    store.append(
        customer,
        ExpectedVersion::NoStream,
        vec![
            pay("A-1", "120.00", "CNY", 0)?,
            pay("A-2", "80.50", "CNY", 10)?,
            pay("B-1", "15.00", "USD", 20)?,
        ],
    )?;

    let mut projector = Projector::open(&store, Payments)?;
    projector.catch_up()?;
    let now = projector.state(customer)?.unwrap_or_default();
    println!("now:        {now:?}");
    assert_eq!(now.paid.get("CNY"), Some(&20_050));

    // A complaint, and a payment that happened on day 5 but is recorded only
    // now: folded in business-time order, as if it had arrived in time.
    store.append(
        customer,
        ExpectedVersion::Any,
        vec![
            NewEvent::new(
                t0 + Duration::days(25),
                Complaint::new("K-1", ComplaintStep::Received),
            ),
            pay("A-0", "9.50", "CNY", 5)?,
        ],
    )?;
    projector.catch_up()?;

    // After a restart the stored states are read back (through decode_state).
    let reopened = Projector::open(&store, Payments)?;
    let after = reopened.state(customer)?.unwrap_or_default();
    println!("after:      {after:?}");
    assert_eq!(
        (after.paid.get("CNY"), after.complaints),
        (Some(&21_000), 1)
    );

    // The world as it was on day 7: the late payment counts, later ones not.
    let day7 = reopened.state_as_of(customer, t0 + Duration::days(7))?;
    println!("as of day 7: {day7:?}");
    assert_eq!(day7.paid.get("CNY"), Some(&12_950));
    assert_eq!(day7.paid.get("USD"), None);

    // Population views walk every customer's state one at a time (nothing
    // else is held in memory): here, what was paid in CNY by everyone as of
    // day 7 and as of day 30, in one pass.
    let other = CustomerId::from_external("shop", "c-8");
    store.append(
        other,
        ExpectedVersion::NoStream,
        vec![pay("C-1", "40.00", "CNY", 15)?],
    )?;
    let mut projector = reopened;
    projector.catch_up()?;
    let times = [t0 + Duration::days(7), t0 + Duration::days(30)];
    let mut cny = [0i64; 2];
    projector.for_each_state_at(&times, |_customer, i, ledger| {
        cny[i] += ledger.paid.get("CNY").copied().unwrap_or(0);
        Ok::<_, clientele::core::Error>(())
    })?;
    println!("CNY paid by everyone, as of day 7 and day 30: {cny:?}");
    assert_eq!(cny, [12_950, 25_000]);
    Ok(())
}
