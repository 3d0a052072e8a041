//! Properties of the lifecycle projection: arrival order does not matter,
//! as-of views equal truncated replays, known-at views equal replays of what
//! was recorded, everything is deterministic, and stored states read back.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use clientele_core::event::*;
use clientele_core::privacy::{DataClass, PersonalData};
use clientele_core::projection::{fold, Projection};
use clientele_core::{
    CustomerId, Decimal, Durability, EventId, ExpectedVersion, ManualClock, NewEvent,
    RecordedEvent, Store, StoreOptions,
};
use clientele_lifecycle::{Lifecycle, LifecyclePolicy, LifecycleProjection, LifecycleState};
use proptest::prelude::*;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()
}

/// One generated event: (kind selector, minutes after `base`, auxiliary number).
type Spec = (u8, i64, u32);

/// Turns specs into events with deterministic ids. Complaint steps are given
/// per complaint in list order (received, classified, …), so the list order is
/// a valid append order.
fn events(specs: &[Spec], customer_seed: u64) -> Vec<NewEvent> {
    let mut steps_used = [0usize; 3];
    let mut out = Vec::new();
    for (i, &(kind, minutes, aux)) in specs.iter().enumerate() {
        let when = base() + Duration::minutes(minutes);
        let order = format!("O-{}", aux % 7);
        let amount = Decimal::new(i64::from(aux % 50_000) + 100, 2).unwrap();
        let cny = "CNY".parse().unwrap();
        let payload: EventPayload = match kind % 12 {
            0..=3 => Purchase::new(order, amount, cny).into(),
            4 => {
                let mut c = Contact::new(Channel::Phone, Direction::Outbound, Purpose::Care);
                c.renewal_intent = match aux % 4 {
                    0 => Some(RenewalIntent::Continue),
                    1 => Some(RenewalIntent::NotRenewing),
                    _ => None,
                };
                c.into()
            }
            5 | 6 => {
                let id = (aux % 3) as usize;
                let step = steps_used[id];
                if step >= ComplaintStep::ALL.len() {
                    Contact::new(Channel::Web, Direction::Inbound, Purpose::Inquiry).into()
                } else {
                    steps_used[id] += 1;
                    Complaint::new(format!("K-{id}"), ComplaintStep::ALL[step]).into()
                }
            }
            7 => Churn {
                reason: "price".into(),
                voluntary: aux % 2 == 0,
            }
            .into(),
            8 => Reactivation {
                campaign: None,
                channel: None,
            }
            .into(),
            9 => Referral {
                referred: Referred::Prospect(format!("friend-{aux}")),
                channel: None,
            }
            .into(),
            10 => match aux % 3 {
                0 => Cancellation {
                    order_id: order,
                    reason: None,
                }
                .into(),
                1 => Refund {
                    order_id: order,
                    amount,
                    currency: cny,
                    reason: None,
                }
                .into(),
                _ => Payment {
                    reference: order,
                    amount,
                    currency: cny,
                    due_date: None,
                    late: false,
                }
                .into(),
            },
            _ => {
                let p = Profile {
                    licence_plate: Some(format!("京A{:05}", aux % 100_000)),
                    ..Profile::default()
                };
                let mut purchase = Purchase::new(order, amount, cny);
                purchase.policy_number = Some(format!("P-{}", aux % 3));
                purchase.valid_until = Some(when.date_naive() + Duration::days(365));
                if aux % 2 == 0 {
                    p.into()
                } else {
                    purchase.into()
                }
            }
        };
        let id =
            EventId::derived(&[customer_seed.to_be_bytes(), (i as u64).to_be_bytes()].concat());
        out.push(NewEvent::new(when, payload).with_id(id));
    }
    out
}

/// A permutation of `events` that keeps each complaint's steps in order (the
/// store checks complaint steps move forward in append order).
fn arrival_order(events: &[NewEvent], shuffle: &[usize]) -> Vec<NewEvent> {
    let n = events.len();
    let mut perm: Vec<usize> = (0..n).collect();
    for (i, s) in shuffle.iter().enumerate().take(n) {
        let j = i + s % (n - i);
        perm.swap(i, j);
    }
    let complaint_of = |e: &NewEvent| match &e.payload {
        EventPayload::Complaint(c) => Some(c.complaint_id.clone()),
        _ => None,
    };
    let mut ids: Vec<String> = events.iter().filter_map(complaint_of).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let slots: Vec<usize> = (0..n)
            .filter(|&j| complaint_of(&events[perm[j]]).as_deref() == Some(id.as_str()))
            .collect();
        let canonical: Vec<usize> = (0..n)
            .filter(|&i| complaint_of(&events[i]).as_deref() == Some(id.as_str()))
            .collect();
        for (slot, index) in slots.into_iter().zip(canonical) {
            perm[slot] = index;
        }
    }
    perm.into_iter().map(|i| events[i].clone()).collect()
}

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Buffered,
        ..common::keyed()
    }
}

/// Appends one event at a time, catching up every `every` appends.
fn replay(
    store: &Store,
    lifecycle: &mut Lifecycle,
    customer: CustomerId,
    events: &[NewEvent],
    every: usize,
) {
    for (i, e) in events.iter().enumerate() {
        store
            .append(customer, ExpectedVersion::Any, vec![e.clone()])
            .unwrap();
        if i % every == 0 {
            lifecycle.catch_up().unwrap();
        }
    }
    lifecycle.catch_up().unwrap();
}

fn bytes(state: &LifecycleState) -> Vec<u8> {
    postcard::to_allocvec(state).unwrap()
}

fn projection() -> LifecycleProjection {
    LifecycleProjection::new(LifecyclePolicy::default()).unwrap()
}

fn spec() -> impl Strategy<Value = Spec> {
    (0u8..12, 0i64..2_000_000, any::<u32>())
}

/// Events `events` does not make (each spec: kind selector, minutes after
/// `base`, auxiliary number): profiles with every identifier, erasures (which
/// only the store records, so these are folded without one) and purchases
/// in another currency, with or without a policy's end date.
fn extra_events(specs: &[Spec], customer_seed: u64) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for (i, &(kind, minutes, aux)) in specs.iter().enumerate() {
        let when = base() + Duration::minutes(minutes);
        let year = 2020 + (aux % 6) as i16;
        let payload: EventPayload = match kind % 5 {
            0 => Profile {
                licence_plate: Some(format!("沪B-{}", aux % 1_000)),
                national_id: Some(format!("1101{aux}x")),
                phone: Some(if aux % 3 == 0 {
                    "n/a".into()
                } else {
                    format!("+86 {aux}")
                }),
                email: Some(format!("U{}@Example.com", aux % 9)),
                policy_numbers: vec![format!("p-{}", aux % 4), format!("P-{}", aux % 5)],
                external_ids: if aux % 2 == 0 {
                    vec![format!(" crm-{aux} ")]
                } else {
                    vec![" ".into()]
                },
                ..Profile::default()
            }
            .into(),
            1 => EventPayload::Erasure(Erasure {
                scope: ErasureScope::Customer,
                reason: "request".into(),
            }),
            2 | 3 => EventPayload::Erasure(Erasure {
                scope: ErasureScope::Retention {
                    class: if kind % 5 == 2 {
                        DataClass::Identity
                    } else {
                        DataClass::PolicyIdentifier
                    },
                    before_year: year,
                },
                reason: "retention".into(),
            }),
            _ => {
                let amount = Decimal::new(i64::from(aux % 9_000) + 1, 2).unwrap();
                let mut p = Purchase::new(format!("O-{}", aux % 7), amount, "USD".parse().unwrap());
                p.policy_number = Some(format!("P-{}", aux % 3));
                p.valid_until = (aux % 2 == 0)
                    .then(|| when.date_naive() + Duration::days(i64::from(aux % 400)));
                p.into()
            }
        };
        let id =
            EventId::derived(&[customer_seed.to_be_bytes(), (i as u64).to_be_bytes()].concat());
        out.push(NewEvent::new(when, payload).with_id(id));
    }
    out
}

/// `events` as the store would give them back (versions in list order).
fn recorded(customer: CustomerId, events: Vec<NewEvent>) -> Vec<RecordedEvent> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| RecordedEvent {
            event_id: e.event_id,
            customer_id: customer,
            version: i as u64 + 1,
            position: i as u64 + 1,
            occurred_at: e.occurred_at,
            recorded_at: e.occurred_at,
            schema_version: 2,
            metadata: e.metadata,
            payload: e.payload,
            personal_data: PersonalData::Available,
        })
        .collect()
}

/// The projection's stored form of `state`.
fn stored(p: &LifecycleProjection, state: &LifecycleState) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode_state(state, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any arrival order of the same events gives identical state bytes and views.
    #[test]
    fn arrival_order_does_not_matter(
        specs in proptest::collection::vec(spec(), 1..60),
        shuffle in proptest::collection::vec(any::<usize>(), 60),
        every in 1usize..8,
        probes in proptest::collection::vec(0i64..2_200_000, 4),
    ) {
        let customer = CustomerId::from_external("prop", "order");
        let canonical = events(&specs, 1);
        let shuffled = arrival_order(&canonical, &shuffle);
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (sa, sb) = (Store::open_with(da.path(), options()).unwrap(), Store::open_with(db.path(), options()).unwrap());
        let mut la = Lifecycle::open(&sa, LifecyclePolicy::default()).unwrap();
        let mut lb = Lifecycle::open(&sb, LifecyclePolicy::default()).unwrap();
        replay(&sa, &mut la, customer, &canonical, every);
        replay(&sb, &mut lb, customer, &shuffled, 1);
        let a = la.state(customer).unwrap().unwrap();
        let b = lb.state(customer).unwrap().unwrap();
        prop_assert_eq!(bytes(&a), bytes(&b));
        let fresh = fold(&projection(), sa.read_stream(customer).unwrap().iter());
        prop_assert_eq!(bytes(&a), bytes(&fresh));
        for m in probes {
            let t = base() + Duration::minutes(m);
            prop_assert_eq!(la.view(customer, t).unwrap(), lb.view(customer, t).unwrap());
            prop_assert_eq!(la.explain(customer, t).unwrap(), lb.explain(customer, t).unwrap());
        }
        prop_assert_eq!(la.projector().lookup_prefix("").unwrap(), lb.projector().lookup_prefix("").unwrap());
    }

    /// `view(as_of T)` equals a fresh fold of the events that occurred by T,
    /// advanced to T (also across snapshots: streams longer than 64 events).
    #[test]
    fn as_of_view_equals_truncated_replay(
        specs in proptest::collection::vec(spec(), 1..160),
        probes in proptest::collection::vec(0i64..2_200_000, 6),
    ) {
        let customer = CustomerId::from_external("prop", "as-of");
        let list = events(&specs, 2);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options()).unwrap();
        let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
        replay(&store, &mut lifecycle, customer, &list, 16);
        let recorded = store.read_stream(customer).unwrap();
        let p = projection();
        for m in probes {
            let t = base() + Duration::minutes(m);
            let truncated: Vec<&RecordedEvent> = recorded.iter().filter(|e| e.occurred_at <= t).collect();
            let expected = p.view(&fold(&p, truncated), customer, t);
            prop_assert_eq!(lifecycle.view(customer, t).unwrap(), expected);
        }
    }

    /// `view_known_at(T, R)` equals a fold of the events recorded by R (and
    /// occurred by T).
    #[test]
    fn known_at_view_equals_replay_of_recorded(
        specs in proptest::collection::vec(spec(), 1..80),
        chunks in proptest::collection::vec(1usize..10, 1..20),
        probes in proptest::collection::vec((0i64..2_200_000, 0i64..30), 6),
    ) {
        let customer = CustomerId::from_external("prop", "known-at");
        let list = events(&specs, 3);
        let dir = tempfile::tempdir().unwrap();
        let recorded_base = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(recorded_base);
        let store = Store::open_with(dir.path(), StoreOptions { clock: Arc::new(clock.clone()), ..options() }).unwrap();
        let mut rest = &list[..];
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            store.append(customer, ExpectedVersion::Any, rest[..n].to_vec()).unwrap();
            rest = &rest[n..];
            clock.advance(Duration::hours(1));
        }
        let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).unwrap();
        lifecycle.catch_up().unwrap();
        let recorded = store.read_stream(customer).unwrap();
        let p = projection();
        for (m, h) in probes {
            let t = base() + Duration::minutes(m);
            let r = recorded_base + Duration::hours(h) + Duration::minutes(30);
            let known: Vec<&RecordedEvent> = recorded
                .iter()
                .filter(|e| e.recorded_at <= r && e.occurred_at <= t)
                .collect();
            let expected = p.view(&fold(&p, known), customer, t);
            prop_assert_eq!(lifecycle.view_known_at(customer, t, r).unwrap(), expected);
        }
    }

    /// Folding is deterministic, states round-trip through postcard, and
    /// advancing is compositional (advance to t1, then t2 = advance to t2).
    #[test]
    fn fold_is_deterministic_and_advancing_composes(
        specs in proptest::collection::vec(spec(), 1..80),
        t1 in 0i64..3_000_000,
        extra in 0i64..2_000_000,
    ) {
        let customer = CustomerId::from_external("prop", "determinism");
        let list = events(&specs, 4);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), options()).unwrap();
        store.append(customer, ExpectedVersion::Any, list).unwrap();
        let recorded = store.read_stream(customer).unwrap();
        let p = projection();
        let once = fold(&p, recorded.iter());
        let twice = fold(&p, recorded.iter().rev());
        prop_assert_eq!(bytes(&once), bytes(&twice));
        let back: LifecycleState = postcard::from_bytes(&bytes(&once)).unwrap();
        prop_assert_eq!(&back, &once);
        let policy = LifecyclePolicy::default();
        let (a, b) = (base() + Duration::minutes(t1), base() + Duration::minutes(t1 + extra));
        let stepwise = once.advanced_to(&policy, a).advanced_to(&policy, b);
        let direct = once.advanced_to(&policy, b);
        prop_assert_eq!(bytes(&stepwise), bytes(&direct));
        let json = serde_json::to_string(&policy).unwrap();
        let again: LifecyclePolicy = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(again.version(), policy.version());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Stored states read back equal (also under postcard's bytes), re-encode
    /// to the same bytes, and no truncation of them reads: states folded from
    /// every kind of event (complaints, orders, profiles, erasures, policies
    /// and renewal intents, churn and win-back), after some events and after
    /// elapsed-time changes.
    #[test]
    fn stored_states_read_back(
        specs in proptest::collection::vec(spec(), 1..100),
        extras in proptest::collection::vec((0u8..5, 0i64..2_000_000, any::<u32>()), 0..16),
        probe in 0i64..3_000_000,
    ) {
        let customer = CustomerId::from_external("prop", "stored");
        let p = projection();
        let policy = LifecyclePolicy::default();
        let mut list = events(&specs, 5);
        list.extend(extra_events(&extras, 6));
        let all = recorded(customer, list);
        let mut states = vec![LifecycleState::default()];
        for n in (1..=all.len()).step_by(7).chain([all.len()]) {
            states.push(fold(&p, all[..n].iter()));
        }
        if let Some(last) = states.last() {
            states.push(last.advanced_to(&policy, base() + Duration::minutes(probe)));
        }
        for state in &states {
            let bytes = stored(&p, state);
            let back = p.decode_state(&bytes);
            prop_assert_eq!(back.as_ref(), Some(state));
            let back = back.unwrap();
            prop_assert_eq!(postcard::to_allocvec(&back).unwrap(), postcard::to_allocvec(state).unwrap());
            prop_assert_eq!(stored(&p, &back), bytes.clone());
            for n in 0..bytes.len() {
                prop_assert!(p.decode_state(&bytes[..n]).is_none());
            }
        }
    }
}
