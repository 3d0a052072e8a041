//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::{EventId, NewEvent};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// A realistic event, varied by `seed`.
pub fn event(seed: u64) -> NewEvent {
    let when = t0() + Duration::minutes((seed % 400_000) as i64);
    let payload: EventPayload = match seed % 4 {
        0 => Purchase::new(
            format!("order-{seed}"),
            clientele_core::Decimal::new((seed % 50_000) as i64 + 100, 2).unwrap(),
            "CNY".parse().unwrap(),
        )
        .into(),
        1 => {
            let mut c = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
            c.outcome = Some("delivered".into());
            c.into()
        }
        2 => {
            let mut c = Contact::new(Channel::Phone, Direction::Inbound, Purpose::Survey);
            c.rating = Some((seed % 5) as u8 + 1);
            c.into()
        }
        _ => Referral {
            referred: Referred::Customer(clientele_core::CustomerId::from_external(
                "friend",
                &seed.to_string(),
            )),
            channel: Some(Channel::Social),
        }
        .into(),
    };
    NewEvent::new(when, payload).with_id(EventId::derived(&seed.to_be_bytes()))
}
