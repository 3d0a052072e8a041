//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::privacy::MasterKeyRing;
use clientele_core::{CustomerId, EventId, ExpectedVersion, NewEvent, Store, StoreOptions};
use clientele_lifecycle::{Lifecycle, LifecyclePolicy};

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

pub fn contact(channel: Channel, direction: Direction, purpose: Purpose) -> Contact {
    Contact::new(channel, direction, purpose)
}

pub fn complaint(id: &str, step: ComplaintStep) -> Complaint {
    Complaint::new(id, step)
}

pub fn referral(prospect: &str) -> Referral {
    Referral {
        referred: Referred::Prospect(prospect.to_owned()),
        channel: Some(Channel::Social),
    }
}

/// Store options with a throwaway master key (profiles and policy numbers are
/// personal data, sealed under it).
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

    /// Appends events (each with its time) to `customer`; returns their ids.
    pub fn append(
        &self,
        customer: CustomerId,
        events: Vec<(DateTime<Utc>, EventPayload)>,
    ) -> Vec<EventId> {
        let events: Vec<NewEvent> = events
            .into_iter()
            .map(|(t, p)| NewEvent::new(t, p))
            .collect();
        let ids = events.iter().map(|e| e.event_id).collect();
        self.store
            .append(customer, ExpectedVersion::Any, events)
            .unwrap();
        ids
    }

    /// Appends one event; returns its id.
    pub fn one(
        &self,
        customer: CustomerId,
        t: DateTime<Utc>,
        payload: impl Into<EventPayload>,
    ) -> EventId {
        self.append(customer, vec![(t, payload.into())])[0]
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle_with(LifecyclePolicy::default())
    }

    pub fn lifecycle_with(&self, policy: LifecyclePolicy) -> Lifecycle {
        let mut l = Lifecycle::open(&self.store, policy).unwrap();
        l.catch_up().unwrap();
        l
    }
}
