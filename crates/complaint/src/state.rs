//! The fold: each customer's complaints, step by step, and their explicit
//! churns. Facts only: the desk's rules ([`ComplaintPolicy`]) are applied
//! when a view is taken, so changing them needs no rebuild.

use chrono::{DateTime, Utc};
use clientele_core::event::{Channel, ComplaintStep, Severity};
use clientele_core::projection::Projection;
use clientele_core::{EventPayload, RecordedEvent};
use serde::{Deserialize, Serialize};

use crate::policy::ComplaintPolicy;

/// The stored name of the projection.
pub const PROJECTION_NAME: &str = "complaint";

/// Number of steps in the workflow.
const STEPS: usize = ComplaintStep::ALL.len();

/// One complaint as the log tells it: when each step was first recorded and
/// the latest of its attributes. The narratives (`cause`, `resolution`) are
/// personal data and are not kept here (`docs/privacy.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintRecord {
    /// The complaint id.
    pub id: String,
    /// Business time (µs) at which each step was first recorded, indexed by
    /// [`ComplaintStep::index`]; `None` for a step never recorded (a desk
    /// may skip steps).
    pub reached: [Option<i64>; STEPS],
    /// Type of complaint, as last given.
    pub category: Option<String>,
    /// Severity, as last given.
    pub severity: Option<Severity>,
    /// The accountable person (000 L572), as last given.
    pub owner: Option<String>,
    /// The channel it came through, as last given.
    pub channel: Option<Channel>,
    /// Whether any step said customer interests were harmed (000 L552–554).
    pub harms_customer_interest: bool,
    /// The customer's rating of the handling (1–5), as last given.
    pub feedback_rating: Option<u8>,
    /// Events recorded for it.
    pub events: u32,
}

impl ComplaintRecord {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            reached: [None; STEPS],
            category: None,
            severity: None,
            owner: None,
            channel: None,
            harms_customer_interest: false,
            feedback_rating: None,
            events: 0,
        }
    }

    /// When the complaint came in, as of `as_of` (µs): its `received` step,
    /// or the first step recorded when `received` was not; `None` when no
    /// step was recorded by then. The reply deadline runs from it.
    pub fn received_at(&self, as_of: i64) -> Option<i64> {
        let known = |t: &&Option<i64>| t.is_some_and(|t| t <= as_of);
        self.reached
            .first()
            .filter(known)
            .copied()
            .flatten()
            .or_else(|| self.reached.iter().filter(known).flatten().min().copied())
    }

    /// When `step` or a later one was first recorded, at or before `as_of`
    /// (µs).
    pub fn reached_at(&self, step: ComplaintStep, as_of: i64) -> Option<i64> {
        self.reached
            .iter()
            .skip(usize::from(step.index()))
            .flatten()
            .filter(|&&t| t <= as_of)
            .min()
            .copied()
    }

    /// The furthest step recorded at or before `as_of` (µs).
    pub fn step_at(&self, as_of: i64) -> Option<ComplaintStep> {
        ComplaintStep::ALL
            .iter()
            .zip(self.reached.iter())
            .filter(|(_, t)| t.is_some_and(|t| t <= as_of))
            .map(|(s, _)| *s)
            .next_back()
    }

    /// When it was answered under `policy`, at or before `as_of` (µs).
    pub fn answered_at(&self, policy: &ComplaintPolicy, as_of: i64) -> Option<i64> {
        self.reached_at(policy.answered_step, as_of)
    }

    /// When it was settled under `policy`, at or before `as_of` (µs).
    pub fn settled_at(&self, policy: &ComplaintPolicy, as_of: i64) -> Option<i64> {
        self.reached_at(policy.settled_step, as_of)
    }

    fn apply(&mut self, step: ComplaintStep, at: i64, c: &clientele_core::event::Complaint) {
        let slot = &mut self.reached[usize::from(step.index()).min(STEPS - 1)];
        *slot = Some(slot.map_or(at, |t| t.min(at)));
        if c.category.is_some() {
            self.category.clone_from(&c.category);
        }
        if c.severity.is_some() {
            self.severity.clone_from(&c.severity);
        }
        if c.owner.is_some() {
            self.owner.clone_from(&c.owner);
        }
        if c.channel.is_some() {
            self.channel.clone_from(&c.channel);
        }
        if c.feedback_rating.is_some() {
            self.feedback_rating = c.feedback_rating;
        }
        self.harms_customer_interest |= c.harms_customer_interest;
        self.events = self.events.saturating_add(1);
    }
}

/// A customer's complaints, in complaint-id order, and the business times of
/// their explicit churns (for the figures that relate complaints to churn).
/// The crate docs show one folded from a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintBook {
    first_event: Option<i64>,
    complaints: Vec<ComplaintRecord>,
    churns: Vec<i64>,
}

impl ComplaintBook {
    /// Business time (µs) of the customer's first event of any kind: a
    /// customer is counted in the figures as of a time from then on.
    pub fn first_event(&self) -> Option<i64> {
        self.first_event
    }

    /// The complaints, in id order.
    pub fn complaints(&self) -> &[ComplaintRecord] {
        &self.complaints
    }

    /// One complaint by id.
    pub fn complaint(&self, id: &str) -> Option<&ComplaintRecord> {
        self.complaints
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.complaints.get(i))
    }

    /// Business times (µs) of the customer's explicit churns, ascending.
    pub fn churns(&self) -> &[i64] {
        &self.churns
    }

    /// Whether the customer churned explicitly in `(after, until]` (µs).
    pub fn churned_between(&self, after: i64, until: i64) -> bool {
        let i = self.churns.partition_point(|&t| t <= after);
        self.churns.get(i).is_some_and(|&t| t <= until)
    }

    /// Notes an event of the customer at `at` (µs) that [`ComplaintBook::reads`]
    /// leaves out: all a book keeps of it is the time of the first one.
    pub(crate) fn saw_event_at(&mut self, at: i64) {
        self.first_event = Some(self.first_event.map_or(at, |t| t.min(at)));
    }

    /// Whether folding `event` does more than note the customer's first
    /// event: complaints and churns. A book folded from these, with the
    /// time of the customer's first event noted, equals one folded from all
    /// their events.
    pub fn reads(event: &RecordedEvent) -> bool {
        matches!(
            event.payload,
            EventPayload::Complaint(_) | EventPayload::Churn(_)
        )
    }

    /// Folds one event (business-time order).
    pub fn apply(&mut self, event: &RecordedEvent) {
        let at = event.occurred_at.timestamp_micros();
        self.saw_event_at(at);
        match &event.payload {
            EventPayload::Complaint(c) => {
                let i = match self
                    .complaints
                    .binary_search_by(|r| r.id.as_str().cmp(&c.complaint_id))
                {
                    Ok(i) => i,
                    Err(i) => {
                        self.complaints
                            .insert(i, ComplaintRecord::new(&c.complaint_id));
                        i
                    }
                };
                if let Some(record) = self.complaints.get_mut(i) {
                    record.apply(c.step, at, c);
                }
            }
            EventPayload::Churn(_) => {
                let i = self.churns.partition_point(|&t| t <= at);
                self.churns.insert(i, at);
            }
            _ => {}
        }
    }
}

/// The projection: [`ComplaintBook`] per customer. It reads no personal data
/// (the narratives stay sealed), and no policy: its version changes only with
/// the shape of the state.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComplaintProjection;

impl Projection for ComplaintProjection {
    type State = ComplaintBook;

    fn name(&self) -> &str {
        PROJECTION_NAME
    }

    fn version(&self) -> u64 {
        1
    }

    fn apply(&self, state: &mut ComplaintBook, event: &RecordedEvent) {
        state.apply(event);
    }

    fn reads_personal_data(&self) -> bool {
        false
    }
}

/// A time in µs as a UTC time (clamped to chrono's range).
pub(crate) fn time(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(if micros < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clientele_core::event::Complaint;
    use clientele_core::{CustomerId, EventId, Metadata};

    fn event(minute: i64, step: ComplaintStep) -> RecordedEvent {
        let at =
            DateTime::<Utc>::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap_or_default();
        RecordedEvent {
            event_id: EventId::derived(&minute.to_be_bytes()),
            customer_id: CustomerId::from_external("t", "1"),
            version: 1,
            position: 1,
            occurred_at: at,
            recorded_at: at,
            schema_version: 1,
            metadata: Metadata::default(),
            payload: Complaint::new("C", step).into(),
            personal_data: Default::default(),
        }
    }

    proptest::proptest! {
        /// A stored state is read back exactly, and any bytes at all decode
        /// to a state or to None (the runtime then refolds), never a panic.
        #[test]
        fn stored_states_round_trip_and_garbage_never_panics(
            steps in proptest::collection::vec((0i64..500, 0usize..6, 0u8..4), 0..30),
            churns in proptest::collection::vec(0i64..500, 0..3),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut book = ComplaintBook::default();
            let mut events: Vec<RecordedEvent> = steps
                .iter()
                .map(|&(minute, step, id)| {
                    let mut e = event(minute, ComplaintStep::ALL[step]);
                    if let EventPayload::Complaint(c) = &mut e.payload {
                        c.complaint_id = format!("C{id}");
                        c.owner = (id % 2 == 0).then(|| "陈静".to_owned());
                        c.feedback_rating = Some(id + 1);
                    }
                    e
                })
                .collect();
            events.extend(churns.iter().map(|&minute| {
                let mut e = event(minute, ComplaintStep::Received);
                e.payload = clientele_core::event::Churn { reason: "moved".into(), voluntary: true }.into();
                e
            }));
            events.sort_by_key(clientele_core::projection::fold_key);
            for e in &events {
                book.apply(e);
            }
            let projection = ComplaintProjection;
            let mut bytes = Vec::new();
            projection.encode_state(&book, &mut bytes).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(projection.decode_state(&bytes), Some(book));
            let _ = projection.decode_state(&garbage);
            for cut in 0..bytes.len() {
                let _ = projection.decode_state(&bytes[..cut]);
            }
        }
    }

    /// µs of `minute` in [`event`]'s time scale.
    fn micros(minute: i64) -> i64 {
        (1_700_000_000 + minute * 60) * 1_000_000
    }

    fn with_payload(minute: i64, payload: EventPayload) -> RecordedEvent {
        let mut e = event(minute, ComplaintStep::Received);
        e.payload = payload;
        e
    }

    fn churn(minute: i64) -> RecordedEvent {
        with_payload(
            minute,
            clientele_core::event::Churn {
                reason: "moved".into(),
                voluntary: true,
            }
            .into(),
        )
    }

    #[test]
    fn churned_between_is_open_after_and_closed_until() {
        let mut book = ComplaintBook::default();
        assert!(!book.churned_between(i64::MIN, i64::MAX), "no churn yet");
        // Folded out of order: kept ascending.
        book.apply(&churn(20));
        book.apply(&churn(10));
        assert_eq!(book.churns(), [micros(10), micros(20)]);
        let (ten, twenty) = (micros(10), micros(20));
        // `after` is excluded: a churn exactly at `after` is not in (after, until].
        assert!(!book.churned_between(ten, twenty - 1));
        assert!(!book.churned_between(twenty, i64::MAX));
        // `until` is included.
        assert!(book.churned_between(ten - 1, ten));
        assert!(book.churned_between(ten, twenty));
        assert!(book.churned_between(twenty - 1, twenty));
        // Before, between and after the churns: none.
        assert!(!book.churned_between(i64::MIN, ten - 1));
        assert!(!book.churned_between(ten, ten + 1));
        // An empty or reversed window holds nothing.
        assert!(!book.churned_between(ten, ten));
        assert!(!book.churned_between(twenty, ten));
        // A window around both.
        assert!(book.churned_between(i64::MIN, i64::MAX));
    }

    /// Every kind of event, with whether a book reads it (a `match` without
    /// a wildcard: a new kind must be placed here).
    fn every_kind() -> Vec<(EventPayload, bool)> {
        use clientele_core::event::*;
        let payloads: Vec<EventPayload> = vec![
            Contact::new(Channel::Phone, Direction::Inbound, Purpose::Care).into(),
            Purchase::new("A-1", "1.00".parse().unwrap(), "CNY".parse().unwrap()).into(),
            Refund {
                order_id: "A-1".into(),
                amount: "1.00".parse().unwrap(),
                currency: "CNY".parse().unwrap(),
                reason: None,
            }
            .into(),
            Cancellation {
                order_id: "A-1".into(),
                reason: None,
            }
            .into(),
            Payment {
                reference: "BILL-1".into(),
                amount: "58.00".parse().unwrap(),
                currency: "CNY".parse().unwrap(),
                due_date: None,
                late: true,
            }
            .into(),
            Complaint::new("K-1", ComplaintStep::Received).into(),
            Referral {
                referred: Referred::Prospect("a friend".into()),
                channel: None,
            }
            .into(),
            Churn {
                reason: "price".into(),
                voluntary: false,
            }
            .into(),
            Reactivation {
                campaign: None,
                channel: None,
            }
            .into(),
            Profile::default().into(),
            EventPayload::Erasure(Erasure {
                scope: ErasureScope::Customer,
                reason: "request".into(),
            }),
        ];
        payloads
            .into_iter()
            .map(|p| {
                let read = match &p {
                    EventPayload::Complaint(_) | EventPayload::Churn(_) => true,
                    EventPayload::Contact(_)
                    | EventPayload::Purchase(_)
                    | EventPayload::Refund(_)
                    | EventPayload::Cancellation(_)
                    | EventPayload::Payment(_)
                    | EventPayload::Referral(_)
                    | EventPayload::Reactivation(_)
                    | EventPayload::Profile(_)
                    | EventPayload::Erasure(_) => false,
                };
                (p, read)
            })
            .collect()
    }

    #[test]
    fn reads_complaints_and_churns_only() {
        let kinds = every_kind();
        assert_eq!(kinds.len(), 11, "one of each kind");
        for (payload, read) in kinds {
            let kind = payload.kind();
            assert_eq!(
                ComplaintBook::reads(&with_payload(0, payload)),
                read,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_book_of_the_read_events_and_the_first_time_equals_the_full_fold() {
        // The documented contract of `reads`: fold what it reads, note the
        // first event's time of the rest, and the book is the same.
        let mut events: Vec<RecordedEvent> = every_kind()
            .into_iter()
            .enumerate()
            .map(|(i, (p, _))| with_payload(100 + i as i64, p))
            .collect();
        // The earliest event is one the book does not read.
        events.push(with_payload(
            1,
            clientele_core::event::Reactivation {
                campaign: None,
                channel: None,
            }
            .into(),
        ));
        events.push(event(200, ComplaintStep::Resolved));
        events.push(churn(300));
        events.sort_by_key(clientele_core::projection::fold_key);
        let mut full = ComplaintBook::default();
        let mut sparse = ComplaintBook::default();
        for e in &events {
            full.apply(e);
            if ComplaintBook::reads(e) {
                sparse.apply(e);
            } else {
                sparse.saw_event_at(e.occurred_at.timestamp_micros());
            }
        }
        assert_eq!(sparse, full);
        assert_eq!(full.first_event(), Some(micros(1)));
        assert_eq!(full.churns(), [micros(107), micros(300)]);
        assert_eq!(full.complaints().len(), 2, "K-1 and C");
    }

    #[test]
    fn without_a_received_step_the_clock_runs_from_the_first_step() {
        // Books may be folded from logs the store's own checks did not guard
        // (an export of another system): no `received` step at all.
        let mut book = ComplaintBook::default();
        book.apply(&event(30, ComplaintStep::Resolved));
        book.apply(&event(10, ComplaintStep::Classified));
        let record = book.complaint("C").expect("folded");
        let micros = |m: i64| (1_700_000_000 + m * 60) * 1_000_000;
        assert_eq!(record.received_at(i64::MAX), Some(micros(10)));
        assert_eq!(record.received_at(micros(9)), None);
        assert_eq!(record.step_at(micros(20)), Some(ComplaintStep::Classified));
        assert_eq!(record.step_at(i64::MAX), Some(ComplaintStep::Resolved));
        let policy = ComplaintPolicy::default();
        assert_eq!(record.answered_at(&policy, i64::MAX), Some(micros(30)));
        assert_eq!(record.settled_at(&policy, i64::MAX), None);
        // A step recorded twice keeps its first time, whatever the order.
        book.apply(&event(5, ComplaintStep::Resolved));
        let record = book.complaint("C").expect("folded");
        assert_eq!(record.answered_at(&policy, i64::MAX), Some(micros(5)));
        assert_eq!(record.events, 3);
        assert_eq!(book.first_event(), Some(micros(5)));
    }
}
