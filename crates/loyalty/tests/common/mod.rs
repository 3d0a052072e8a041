//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::privacy::MasterKeyRing;
use clientele_core::{
    CustomerId, EventId, EventPayload, ExpectedVersion, NewEvent, RecordedEvent, Store,
    StoreOptions,
};

pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

pub fn purchase(order: &str, amount: &str) -> Purchase {
    Purchase::new(order, amount.parse().unwrap(), "CNY".parse().unwrap())
}

pub fn payment(reference: &str, amount: &str, late: bool) -> Payment {
    Payment {
        reference: reference.to_owned(),
        amount: amount.parse().unwrap(),
        currency: "CNY".parse().unwrap(),
        due_date: None,
        late,
    }
}

pub fn rating(r: u8) -> Contact {
    let mut c = Contact::new(Channel::Web, Direction::Inbound, Purpose::Survey);
    c.rating = Some(r);
    c
}

pub fn contact(channel: Channel, direction: Direction, purpose: Purpose) -> Contact {
    Contact::new(channel, direction, purpose)
}

pub fn complaint(id: &str, step: ComplaintStep) -> Complaint {
    Complaint::new(id, step)
}

pub fn refer(customer: CustomerId) -> Referral {
    Referral {
        referred: Referred::Customer(customer),
        channel: Some(Channel::Social),
    }
}

pub fn segment(pairs: &[(&str, &str)]) -> Profile {
    Profile {
        segment: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Profile::default()
    }
}

/// A recorded event, for folds without a store.
pub fn recorded(
    customer: CustomerId,
    n: u64,
    at: DateTime<Utc>,
    payload: impl Into<EventPayload>,
) -> RecordedEvent {
    RecordedEvent {
        event_id: event_id(n),
        customer_id: customer,
        version: n,
        position: n,
        occurred_at: at,
        recorded_at: at,
        schema_version: 2,
        metadata: Default::default(),
        payload: payload.into(),
        personal_data: Default::default(),
    }
}

/// A deterministic event id (ids sort by `n`).
pub fn event_id(n: u64) -> EventId {
    format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
}

/// Store options with a throwaway master key (profiles are personal data).
pub fn keyed() -> StoreOptions {
    StoreOptions {
        master_keys: Some(std::sync::Arc::new(MasterKeyRing::generate())),
        ..StoreOptions::default()
    }
}

/// A store in a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), keyed()).unwrap();
        Self { dir, store }
    }

    /// Appends events (each with its time) to `customer`.
    pub fn append(&self, customer: CustomerId, events: Vec<(DateTime<Utc>, EventPayload)>) {
        let events: Vec<NewEvent> = events
            .into_iter()
            .map(|(t, p)| NewEvent::new(t, p))
            .collect();
        self.store
            .append(customer, ExpectedVersion::Any, events)
            .unwrap();
    }
}
