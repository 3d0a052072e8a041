//! The per-customer state and the fold: facts gathered from events, the stage
//! they imply, and the timeline of stage changes.
//!
//! The stage is a function of the facts and of the time: [`LifecycleState`]
//! keeps the facts (rhythm, activity, complaints, orders, churn) and the last
//! assessed stage. Time-driven rules ("no purchase for 3 typical gaps") have
//! deadlines that depend only on the facts, so between two events the set of
//! deadlines is fixed. *Advancing* the state to a time `t` re-assesses it at
//! every deadline in `(assessed_at, t]`, in order, recording each change at the
//! exact instant its threshold was crossed. Folding an event at `t` first
//! advances to `t` (deadlines at `t` fire before the event), then applies the
//! event and re-assesses. A view as of `T` is the state folded from the events
//! up to `T`, advanced to `T`. Advancing never reads a clock and is
//! compositional: advancing to `t1` then to `t2 ≥ t1` equals advancing to `t2`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::{ComplaintStep, EventPayload, RenewalIntent};
use clientele_core::{Currency, CustomerId, EventId, Money, RecordedEvent};
use serde::{Deserialize, Serialize};

use crate::identity::{Identity, RENEWAL_DUE};
use crate::policy::{GapStatistic, LifecyclePolicy, DAY_SECS};
use crate::stage::{Cause, CustomerStage, ElapsedRule, OpenMatter, Reason, Stage, StageChange};

const MICROS: i64 = 1_000_000;

/// Most elements a rolling window (purchase gaps, amounts) is given room for
/// at its first push; a larger configured window grows as usual.
const RESERVE_MAX: usize = 64;

/// Stage changes a timeline first has room for.
const FIRST_CHANGES: usize = 2;

/// Business time in µs since the epoch.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// µs since the epoch as a time, clamped to chrono's range.
pub(crate) fn to_time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(if us < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The calendar year (UTC) of a time: the unit of retention erasure.
fn year_of(t: DateTime<Utc>) -> i32 {
    chrono::Datelike::year(&t)
}

/// `at + secs`, in µs, saturating.
fn after(at: i64, secs: i64) -> i64 {
    at.saturating_add(secs.saturating_mul(MICROS))
}

/// When cover whose last day is `last_day` ends: the start (UTC) of the day
/// after, in µs (None past chrono's calendar).
fn cover_end(last_day: NaiveDate) -> Option<i64> {
    Some(
        last_day
            .succ_opt()?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp_micros(),
    )
}

/// One complaint, as far as the lifecycle cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ComplaintTrack {
    /// Business time of its first step folded (µs).
    pub(crate) received_at: i64,
    /// That event.
    pub(crate) received_event: EventId,
    /// The furthest step reached.
    pub(crate) step: ComplaintStep,
}

/// Money movements of one order (minor units of the order's currency).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OrderTally {
    /// The currency of the first movement seen.
    pub(crate) currency: Option<Currency>,
    /// Whether a purchase was recorded for it.
    pub(crate) purchased: bool,
    /// Purchased amount.
    pub(crate) amount: i64,
    /// Paid (payments referencing the order).
    pub(crate) paid: i64,
    /// Refunded.
    pub(crate) refunded: i64,
    /// Whether it was cancelled.
    pub(crate) cancelled: bool,
    /// A movement in another currency was seen: amounts are not comparable,
    /// so the order is treated as settled rather than blocking forever.
    pub(crate) mixed_currency: bool,
}

impl OrderTally {
    fn add(&mut self, money: Money, field: fn(&mut Self) -> &mut i64) {
        match self.currency {
            None => self.currency = Some(money.currency()),
            Some(c) if c != money.currency() => {
                self.mixed_currency = true;
                return;
            }
            Some(_) => {}
        }
        let slot = field(self);
        *slot = slot.saturating_add(money.minor_units());
    }

    /// Whether the order is unsettled (see [`OrderTally::matter`]); allocation-free.
    fn is_open(&self, require_payment: bool) -> bool {
        if self.mixed_currency || self.currency.is_none() {
            return false;
        }
        if self.cancelled {
            let owed = if require_payment {
                self.paid
            } else if self.purchased {
                self.amount
            } else {
                0
            };
            owed > self.refunded
        } else {
            require_payment && self.purchased && self.paid < self.amount
        }
    }

    fn matter(&self, order_id: &str, require_payment: bool) -> Option<OpenMatter> {
        if self.mixed_currency {
            return None;
        }
        let currency = self.currency?;
        let money = |minor| Money::from_minor(minor, currency);
        if self.cancelled {
            let owed = if require_payment {
                self.paid
            } else if self.purchased {
                self.amount
            } else {
                0
            };
            (owed > self.refunded).then(|| OpenMatter::RefundOutstanding {
                order_id: order_id.to_owned(),
                owed: money(owed),
                refunded: money(self.refunded),
            })
        } else if require_payment && self.purchased && self.paid < self.amount {
            Some(OpenMatter::Unpaid {
                order_id: order_id.to_owned(),
                amount: money(self.amount),
                paid: money(self.paid),
            })
        } else {
            None
        }
    }
}

/// The orders of a customer by id, with their tallies.
///
/// In memory the ids are packed into one string, and a compact index holds
/// each order's id hash and where its id ends: finding an order scans the
/// index (8 orders to a cache line) and compares an id only when its hash
/// matches; a new order allocates nothing of its own. Serialised as a map in
/// id order: the same bytes as the `BTreeMap<String, OrderTally>` it stands
/// for. Equality ignores the order in which the orders were first seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct Orders {
    /// Every id, concatenated in first-seen order.
    pub(crate) ids: String,
    /// Per order, in first-seen order: ([`id_hash`] of its id, where its id
    /// ends in `ids`; it starts where the previous one ends).
    pub(crate) index: Vec<(u32, u32)>,
    /// The tallies, in the same order.
    pub(crate) tallies: Vec<OrderTally>,
}

/// FNV-1a (32 bits): only narrows the ids to compare.
pub(crate) fn id_hash(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl Orders {
    pub(crate) fn len(&self) -> usize {
        self.tallies.len()
    }

    fn id(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            Some(prev) => self.index.get(prev).map_or(0, |e| e.1 as usize),
            None => 0,
        };
        let end = self.index.get(i).map_or(start, |e| e.1 as usize);
        self.ids.get(start..end).unwrap_or_default()
    }

    /// Searched from the newest: payments and refunds mostly name a recent order.
    fn position(&self, id: &str) -> Option<usize> {
        let hash = id_hash(id);
        self.index
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, e)| e.0 == hash)
            .map(|(i, _)| i)
            .find(|&i| self.id(i) == id)
    }

    /// The tally of order `id`, created empty if new. None only if the ids
    /// of this customer's orders would pass 4 GiB.
    pub(crate) fn tally_mut(&mut self, id: &str) -> Option<&mut OrderTally> {
        let i = match self.position(id) {
            Some(i) => i,
            None => self.push(id)?,
        };
        self.tallies.get_mut(i)
    }

    /// Adds order `id` (not there yet) with an empty tally; returns its place.
    pub(crate) fn push(&mut self, id: &str) -> Option<usize> {
        let end = u32::try_from(self.ids.len().checked_add(id.len())?).ok()?;
        if self.ids.capacity() == 0 {
            // Room for a few orders' ids at once.
            self.ids.reserve(32);
        }
        self.ids.push_str(id);
        self.index.push((id_hash(id), end));
        self.tallies.push(OrderTally::default());
        Some(self.len() - 1)
    }

    /// (id, tally) in id order.
    pub(crate) fn sorted(&self) -> Vec<(&str, &OrderTally)> {
        let mut out: Vec<(&str, &OrderTally)> = self
            .tallies
            .iter()
            .enumerate()
            .map(|(i, t)| (self.id(i), t))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }
}

impl PartialEq for Orders {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.sorted() == other.sorted()
    }
}

impl Eq for Orders {}

impl Serialize for Orders {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.sorted())
    }
}

/// Reads the map `Orders` serialises to straight into an `Orders`, without
/// an intermediate map or a string per id: ids come in ascending order, so
/// each is appended without a search (a key out of order, as a hand-made
/// map might have, is looked up; the last tally of a repeated id wins, as
/// in a `BTreeMap`).
impl<'de> Deserialize<'de> for Orders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;

        impl<'de> serde::de::Visitor<'de> for MapVisitor {
            type Value = Orders;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of order ids to tallies")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Orders, A::Error> {
                let mut orders = Orders::default();
                let mut ascending = true;
                while let Some(place) = map.next_key_seed(OrderId {
                    orders: &mut orders,
                    ascending: &mut ascending,
                })? {
                    let tally: OrderTally = map.next_value()?;
                    if let Some(slot) = place.and_then(|i| orders.tallies.get_mut(i)) {
                        *slot = tally;
                    }
                }
                Ok(orders)
            }
        }

        deserializer.deserialize_map(MapVisitor)
    }
}

/// An order id read as a map key: finds or adds its order, giving its place
/// (None only past 4 GiB of ids, whose tally is then dropped).
struct OrderId<'a> {
    orders: &'a mut Orders,
    /// Every id so far came after the one before it.
    ascending: &'a mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for OrderId<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for OrderId<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an order id")
    }

    fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<Self::Value, E> {
        let orders = self.orders;
        let last = orders.len().checked_sub(1).map(|i| orders.id(i));
        *self.ascending &= last.is_none_or(|last| last < id);
        if *self.ascending {
            Ok(orders.push(id))
        } else {
            Ok(orders.position(id).or_else(|| orders.push(id)))
        }
    }
}

/// Complaints by id, in id order: a sorted vector (a customer has few), with
/// the bytes of the `BTreeMap<String, ComplaintTrack>` it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Complaints(pub(crate) Vec<(String, ComplaintTrack)>);

impl Complaints {
    fn get_mut(&mut self, id: &str) -> Option<&mut ComplaintTrack> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(id)).ok()?;
        self.0.get_mut(i).map(|(_, c)| c)
    }

    fn insert(&mut self, id: &str, track: ComplaintTrack) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(id)) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = track;
                }
            }
            Err(i) => self.0.insert(i, (id.to_owned(), track)),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &ComplaintTrack)> {
        self.0.iter().map(|(k, c)| (k, c))
    }
}

impl Serialize for Complaints {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Complaints {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, ComplaintTrack>::deserialize(deserializer)?;
        Ok(Complaints(map.into_iter().collect()))
    }
}

/// A customer's identifiers, boxed and absent while there are none (most
/// states never hold any). Serialised as the [`Identity`] itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentitySlot(pub(crate) Option<Box<Identity>>);

/// What an absent [`IdentitySlot`] stands for.
static NO_IDENTITY: Identity = Identity::EMPTY;

impl IdentitySlot {
    pub(crate) fn get(&self) -> &Identity {
        self.0.as_deref().unwrap_or(&NO_IDENTITY)
    }

    fn get_mut(&mut self) -> &mut Identity {
        self.0.get_or_insert_with(Box::default)
    }

    fn erase_before(&mut self, before_year: i32) {
        if let Some(identity) = &mut self.0 {
            identity.erase_before(before_year);
        }
    }
}

impl PartialEq for IdentitySlot {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for IdentitySlot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdentitySlot {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let identity = Identity::deserialize(deserializer)?;
        Ok(IdentitySlot(
            (identity != NO_IDENTITY).then(|| Box::new(identity)),
        ))
    }
}

/// A policy held: its latest cover (insurer renewals, 001 L5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyTerm {
    /// Latest `valid_until`, as days from the common era (None: not given,
    /// or the purchase that set it was cancelled: nothing to renew).
    pub(crate) valid_until: Option<i32>,
    /// Business time (µs) of the purchase that set it.
    pub(crate) bought_at: i64,
    /// The latest calendar year a purchase named this policy (retention).
    pub(crate) seen_year: i32,
    /// The order of the purchase that set it.
    pub(crate) order_id: String,
}

/// The cover bought with the last purchase (see [`crate::CoverRule`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cover {
    /// When it ends (µs): the start of the day after its `valid_until`, or
    /// the cancellation that ended it early.
    pub(crate) end: i64,
    /// The event its rules count from: the purchase, or that cancellation.
    pub(crate) reference: EventId,
    /// That event's business time (µs).
    pub(crate) since: i64,
    /// The order that bought it.
    pub(crate) order_id: String,
    /// Whether a cancellation of that order ended it.
    pub(crate) cancelled: bool,
}

/// The bills paid in the current relationship (see
/// [`crate::MaturityRule::min_bills`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Billing {
    /// How many.
    pub(crate) bills: u32,
    /// The first one's business time (µs).
    pub(crate) first_at: i64,
    /// The latest one's business time (µs).
    pub(crate) last_at: i64,
}

/// The latest stated renewal intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IntentMark {
    pub(crate) intent: RenewalIntent,
    pub(crate) at: i64,
}

/// An explicit churn not followed by a win-back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChurnMark {
    pub(crate) event: EventId,
    pub(crate) reason: String,
    pub(crate) voluntary: bool,
}

/// Spending fell (evaluated at each purchase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpendDropMark {
    pub(crate) recent_average: Money,
    pub(crate) earlier_average: Money,
}

/// The current relationship: reset by a win-back from exit.
///
/// `repr(C)` with the fields read on every event first (see
/// [`LifecycleState`]); the short histories, read on purchases only, last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub(crate) struct Relationship {
    pub(crate) purchases: u32,
    pub(crate) referrals: u32,
    /// Consecutive purchases in `spend_currency`.
    pub(crate) spend_count: u32,
    /// Whether `activity` is a bill paid (a payment with a due date):
    /// `bill_lapse_decline_days` then applies.
    pub(crate) activity_is_bill: bool,
    pub(crate) first_purchase_at: Option<i64>,
    pub(crate) last_purchase_at: Option<i64>,
    /// The typical gap in seconds (None: fewer than two purchases).
    pub(crate) typical_gap: Option<i64>,
    /// The last purchase, payment (see `payments_are_activity`) or
    /// reactivation: inactivity is counted from here.
    pub(crate) activity: Option<(i64, EventId)>,
    /// The cover bought with the last purchase (None: it bought none).
    /// Boxed: rare, and the relationship is read on every event.
    pub(crate) cover: Option<Box<Cover>>,
    /// Boxed: rare, and the relationship is read on every event.
    pub(crate) spend_drop: Option<Box<SpendDropMark>>,
    /// The bills paid. Boxed: only subscribers and policyholders pay bills.
    pub(crate) billing: Option<Box<Billing>>,
    /// The currency of `spend`.
    pub(crate) spend_currency: Option<Currency>,
    /// The most recent inter-purchase gaps, in seconds (≤ `rhythm_window`).
    pub(crate) gaps: Vec<i64>,
    /// The latest purchase amounts in one currency (minor units).
    pub(crate) spend: Vec<i64>,
}

/// The lifecycle state of one customer: what the projection stores.
///
/// Stored in the projection's own compact encoding (the crate's `stored`
/// module); the serde derives remain for other uses and stay deterministic
/// (plain structs, vectors and maps in key order). Obtain views with
/// [`LifecycleState::view`]; the fields are private to the crate so that the
/// facts and the recorded stage cannot drift apart.
///
/// `repr(C)`, with what every folded event reads (stage, times, counters,
/// the relationship's activity and rhythm) in the first three cache lines
/// and the parts read by some events only (orders, complaints, identity,
/// policies) after them: a rebuild visits 20k states in turn, so the fold
/// waits on memory, and the fewer lines an event touches the less it waits.
/// The declaration order is also the stored order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub struct LifecycleState {
    pub(crate) stage: Option<Stage>,
    pub(crate) exit_pending: bool,
    pub(crate) ever_purchased: bool,
    pub(crate) referrals: u32,
    pub(crate) open_complaints: u32,
    pub(crate) open_orders: u32,
    /// µs of the last stage change.
    pub(crate) since: i64,
    /// µs of the last assessment (an event's time or a deadline).
    pub(crate) assessed_at: i64,
    /// µs of the last event folded.
    pub(crate) last_event_at: Option<i64>,
    /// Boxed (as are other rarely set parts) to keep the state small: it is
    /// read on every event.
    pub(crate) churn: Option<Box<ChurnMark>>,
    pub(crate) relationship: Relationship,
    pub(crate) changes: Vec<StageChange>,
    pub(crate) orders: Orders,
    pub(crate) complaints: Complaints,
    pub(crate) identity: IdentitySlot,
    pub(crate) policies: BTreeMap<String, PolicyTerm>,
    pub(crate) renewal_intent: Option<IntentMark>,
}

/// What an elapsed-time deadline is.
struct Deadline {
    at: i64,
    rule: ElapsedRule,
    threshold_secs: i64,
    reference: EventId,
}

impl LifecycleState {
    /// The stage after the last folded event or deadline (None: no event yet).
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    /// The business time of the last event folded.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.last_event_at.map(to_time)
    }

    /// The audit timeline so far: every stage change with its cause.
    pub fn changes(&self) -> &[StageChange] {
        &self.changes
    }

    /// The customer's current identifiers (normalised).
    pub fn identity(&self) -> &Identity {
        self.identity.get()
    }

    /// Policies held with their latest `valid_until`.
    pub fn policies(&self) -> impl Iterator<Item = (&str, Option<NaiveDate>)> {
        self.policies
            .iter()
            .map(|(k, p)| (k.as_str(), p.valid_until.and_then(date_from_days)))
    }

    /// The latest renewal intent stated in a contact, with its time.
    pub fn renewal_intent(&self) -> Option<(RenewalIntent, DateTime<Utc>)> {
        self.renewal_intent
            .as_ref()
            .map(|m| (m.intent, to_time(m.at)))
    }

    /// Folds one event (called in business-time order by the runtime).
    pub(crate) fn apply(&mut self, policy: &LifecyclePolicy, event: &RecordedEvent) {
        let t = micros(event.occurred_at);
        self.advance(policy, t);
        let wins_back = self.stage == Some(Stage::Exit)
            && matches!(
                event.payload,
                EventPayload::Purchase(_) | EventPayload::Reactivation(_)
            );
        if wins_back {
            // Win-back (000 L332): a new relationship starts from growth.
            self.churn = None;
            self.relationship = Relationship::default();
        }
        match &event.payload {
            EventPayload::Purchase(p) => {
                self.on_purchase(policy, t, event.event_id, p);
            }
            EventPayload::Reactivation(_) => {
                self.relationship.activity = Some((t, event.event_id));
                self.relationship.activity_is_bill = false;
            }
            EventPayload::Referral(_) => {
                self.referrals = self.referrals.saturating_add(1);
                self.relationship.referrals = self.relationship.referrals.saturating_add(1);
            }
            EventPayload::Churn(c) => {
                self.churn = Some(Box::new(ChurnMark {
                    event: event.event_id,
                    reason: c.reason.clone(),
                    voluntary: c.voluntary,
                }));
            }
            EventPayload::Complaint(c) => self.on_complaint(policy, t, event.event_id, c),
            EventPayload::Refund(r) => {
                if let Ok(money) = r.money() {
                    self.update_order(policy, &r.order_id, |o| o.add(money, |o| &mut o.refunded));
                }
            }
            EventPayload::Cancellation(c) => {
                self.update_order(policy, &c.order_id, |o| o.cancelled = true);
                self.on_cancelled_cover(t, event.event_id, &c.order_id);
            }
            EventPayload::Payment(p) => {
                if policy.orders_require_payment {
                    if let Ok(money) = p.money() {
                        self.update_order(policy, &p.reference, |o| o.add(money, |o| &mut o.paid));
                    }
                }
                // A paying customer is active (a subscriber's bills); in
                // exit a payment settles what is owed but wins nobody back.
                if policy.payments_are_activity
                    && self.ever_purchased
                    && self.stage != Some(Stage::Exit)
                {
                    let r = &mut self.relationship;
                    r.activity = Some((t, event.event_id));
                    r.activity_is_bill = p.due_date.is_some();
                    if r.activity_is_bill {
                        match &mut r.billing {
                            Some(b) => {
                                b.bills = b.bills.saturating_add(1);
                                b.first_at = b.first_at.min(t);
                                b.last_at = b.last_at.max(t);
                            }
                            None => {
                                r.billing = Some(Box::new(Billing {
                                    bills: 1,
                                    first_at: t,
                                    last_at: t,
                                }))
                            }
                        }
                    }
                }
            }
            EventPayload::Contact(c) => {
                if let Some(intent) = c.renewal_intent {
                    self.renewal_intent = Some(IntentMark { intent, at: t });
                }
            }
            EventPayload::Profile(p) => self
                .identity
                .get_mut()
                .update(p, year_of(event.occurred_at)),
            EventPayload::Erasure(e) => self.on_erasure(e),
        }
        self.last_event_at = Some(t);
        self.assessed_at = t;
        self.reassess(policy, t, || Cause::Event {
            event_id: event.event_id,
            kind: event.kind(),
            summary: summary(&event.payload),
        });
    }

    fn on_purchase(
        &mut self,
        policy: &LifecyclePolicy,
        t: i64,
        id: EventId,
        p: &clientele_core::event::Purchase,
    ) {
        self.ever_purchased = true;
        let r = &mut self.relationship;
        if let Some(last) = r.last_purchase_at {
            let window = policy.rhythm_window.max(1) as usize;
            if r.gaps.capacity() == 0 {
                // The window fills up: allocate it once, not by doubling.
                r.gaps
                    .reserve_exact(window.saturating_add(1).min(RESERVE_MAX));
            }
            r.gaps.push(t.saturating_sub(last) / MICROS);
            if r.gaps.len() > window {
                let excess = r.gaps.len() - window;
                r.gaps.drain(..excess);
            }
            r.typical_gap = typical(&r.gaps, policy.typical_gap);
        }
        r.purchases = r.purchases.saturating_add(1);
        r.first_purchase_at.get_or_insert(t);
        r.last_purchase_at = Some(t);
        r.activity = Some((t, id));
        r.activity_is_bill = false;
        r.cover = p.valid_until.and_then(cover_end).map(|end| {
            Box::new(Cover {
                end,
                reference: id,
                since: t,
                order_id: p.order_id.clone(),
                cancelled: false,
            })
        });
        let money = p.money().ok();
        if let Some(m) = money {
            if r.spend_currency != Some(m.currency()) {
                r.spend.clear();
                r.spend_count = 0;
                r.spend_currency = Some(m.currency());
            }
            r.spend_count = r.spend_count.saturating_add(1);
            r.spend_drop = None;
            // The amounts are kept only for the spend-drop rule (without it
            // they would pile up unused).
            if let Some(rule) = &policy.spend_drop {
                let keep = (rule.recent_purchases as usize)
                    .saturating_add(rule.earlier_purchases as usize);
                if r.spend.capacity() == 0 {
                    r.spend
                        .reserve_exact(keep.saturating_add(1).min(RESERVE_MAX));
                }
                r.spend.push(m.minor_units());
                if r.spend.len() > keep {
                    let excess = r.spend.len() - keep;
                    r.spend.drain(..excess);
                }
                let recent_n = rule.recent_purchases as usize;
                if r.spend_count >= rule.min_purchases && recent_n > 0 && r.spend.len() > recent_n {
                    let split = r.spend.len() - recent_n;
                    let avg = |xs: &[i64]| {
                        xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len().max(1) as f64
                    };
                    let recent = avg(&r.spend[split..]);
                    let earlier = avg(&r.spend[..split]);
                    if recent < rule.ratio * earlier {
                        r.spend_drop = Some(Box::new(SpendDropMark {
                            recent_average: Money::from_minor(recent.round() as i64, m.currency()),
                            earlier_average: Money::from_minor(
                                earlier.round() as i64,
                                m.currency(),
                            ),
                        }));
                    }
                }
            }
            self.update_order(policy, &p.order_id, |o| {
                o.purchased = true;
                o.add(m, |o| &mut o.amount);
            });
        } else {
            self.update_order(policy, &p.order_id, |o| o.purchased = true);
        }
        if let Some(number) = p
            .policy_number
            .as_deref()
            .and_then(|n| crate::IdentifierKind::PolicyNumber.normalise(n))
        {
            let days = p
                .valid_until
                .map(|d| chrono::Datelike::num_days_from_ce(&d));
            let year = year_of(to_time(t));
            let term = self.policies.entry(number).or_insert(PolicyTerm {
                valid_until: None,
                bought_at: t,
                seen_year: year,
                order_id: String::new(),
            });
            term.seen_year = term.seen_year.max(year);
            if days.is_some() && days >= term.valid_until {
                term.valid_until = days;
                term.bought_at = t;
                term.order_id.clone_from(&p.order_id);
            }
        }
    }

    /// An order was cancelled: if it bought the current cover, the cover ends
    /// now (a surrendered policy); a policy whose term it set has nothing
    /// left to renew.
    fn on_cancelled_cover(&mut self, t: i64, id: EventId, order_id: &str) {
        if let Some(cover) = self.relationship.cover.as_deref_mut() {
            if cover.order_id == order_id && !cover.cancelled && t < cover.end {
                cover.end = t;
                cover.reference = id;
                cover.since = t;
                cover.cancelled = true;
            }
        }
        for term in self.policies.values_mut() {
            if term.order_id == order_id {
                term.valid_until = None;
            }
        }
    }

    /// Personal data was erased: drop the identifiers derived from it, so the
    /// index forgets them too (crypto-shredding, see `docs/privacy.md`).
    fn on_erasure(&mut self, erasure: &clientele_core::event::Erasure) {
        use clientele_core::event::ErasureScope;
        use clientele_core::privacy::DataClass;
        match &erasure.scope {
            ErasureScope::Customer => {
                self.identity = IdentitySlot::default();
                self.policies.clear();
            }
            ErasureScope::Retention { class, before_year } => {
                let before = i32::from(*before_year);
                match class {
                    DataClass::Identity => self.identity.erase_before(before),
                    DataClass::PolicyIdentifier => {
                        self.policies.retain(|_, p| p.seen_year >= before)
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_complaint(
        &mut self,
        policy: &LifecyclePolicy,
        t: i64,
        id: EventId,
        c: &clientele_core::event::Complaint,
    ) {
        let settled = policy.complaint_settled_step;
        let (was_open, is_open) = match self.complaints.get_mut(&c.complaint_id) {
            Some(track) => {
                let was_open = track.step < settled;
                track.step = track.step.max(c.step);
                (was_open, track.step < settled)
            }
            None => {
                self.complaints.insert(
                    &c.complaint_id,
                    ComplaintTrack {
                        received_at: t,
                        received_event: id,
                        step: c.step,
                    },
                );
                (false, c.step < settled)
            }
        };
        match (was_open, is_open) {
            (false, true) => self.open_complaints = self.open_complaints.saturating_add(1),
            (true, false) => self.open_complaints = self.open_complaints.saturating_sub(1),
            _ => {}
        }
    }

    fn update_order(
        &mut self,
        policy: &LifecyclePolicy,
        order_id: &str,
        change: impl FnOnce(&mut OrderTally),
    ) {
        let require = policy.orders_require_payment;
        let Some(tally) = self.orders.tally_mut(order_id) else {
            return;
        };
        let was_open = tally.is_open(require);
        change(tally);
        let is_open = tally.is_open(require);
        match (was_open, is_open) {
            (false, true) => self.open_orders = self.open_orders.saturating_add(1),
            (true, false) => self.open_orders = self.open_orders.saturating_sub(1),
            _ => {}
        }
    }

    /// Whether a matter keeps exit from being final.
    fn has_open_matters(&self) -> bool {
        self.open_complaints > 0 || self.open_orders > 0
    }

    /// Re-assesses at `t`; records a change (with `cause`) if stage or
    /// exit-pending differ from the recorded ones.
    fn reassess(&mut self, policy: &LifecyclePolicy, t: i64, cause: impl FnOnce() -> Cause) {
        let stage = self.assess(policy, t);
        let exit_pending = stage == Stage::Exit && self.has_open_matters();
        if self.stage != Some(stage) || self.exit_pending != exit_pending {
            if self.changes.capacity() == 0 {
                // Most customers change stage once or twice (acquisition or
                // growth, then maturity): room for two, not the four a
                // first push would take.
                self.changes.reserve_exact(FIRST_CHANGES);
            }
            self.changes.push(StageChange {
                at: to_time(t),
                from: self.stage,
                to: stage,
                exit_pending,
                cause: cause(),
            });
            self.stage = Some(stage);
            self.exit_pending = exit_pending;
            self.since = t;
        }
    }

    /// The deadline of a cover rule, when it replaces the rhythm rules: the
    /// cover bought with the last purchase ends after the last activity.
    /// `pick` chooses the decline or the exit grace.
    fn cover_deadline(
        &self,
        policy: &LifecyclePolicy,
        activity_at: i64,
        rule: ElapsedRule,
        pick: fn((i64, i64)) -> i64,
    ) -> Option<Deadline> {
        // The customer's cover first: most have none, and this runs for
        // every event folded.
        let cover = self.relationship.cover.as_deref()?;
        if cover.end <= activity_at {
            return None;
        }
        let at = after(cover.end, pick(policy.cover_lapse_secs()?));
        // As in every elapsed cause, the threshold counts from the reference
        // event: the purchase that bought the cover, or the cancellation.
        Some(Deadline {
            at,
            rule,
            threshold_secs: at.saturating_sub(cover.since) / MICROS,
            reference: cover.reference,
        })
    }

    /// The reason a crossed inactivity or cover deadline `d` gives (`exit`:
    /// the exit horizon's); `activity_at` is the last purchase or win-back.
    fn elapsed_reason(&self, d: &Deadline, activity_at: i64, exit: bool) -> Reason {
        let lapse = self
            .relationship
            .cover
            .as_deref()
            .filter(|_| d.rule.is_cover_lapse())
            .and_then(|c| {
                let day = to_time(c.end).date_naive();
                // A cancelled cover's last day is the day it was cancelled.
                let last_day = if c.cancelled { day } else { day.pred_opt()? };
                Some((last_day, c.end, c.cancelled))
            });
        match lapse {
            // The threshold after the cover's end, not after the purchase.
            Some((last_day, end, cancelled)) => {
                let threshold_secs = d.at.saturating_sub(end) / MICROS;
                let reference = d.reference;
                if exit {
                    Reason::CoverLapsedBeyondExitHorizon {
                        last_day,
                        cancelled,
                        reference,
                        threshold_secs,
                    }
                } else {
                    Reason::CoverLapsed {
                        last_day,
                        cancelled,
                        reference,
                        threshold_secs,
                    }
                }
            }
            None => {
                let (last_activity, reference, threshold_secs) =
                    (to_time(activity_at), d.reference, d.threshold_secs);
                if exit {
                    Reason::InactiveBeyondExitHorizon {
                        last_activity,
                        reference,
                        threshold_secs,
                    }
                } else {
                    Reason::Inactive {
                        last_activity,
                        reference,
                        threshold_secs,
                    }
                }
            }
        }
    }

    fn decline_deadline(&self, policy: &LifecyclePolicy) -> Option<Deadline> {
        if !self.ever_purchased {
            return None;
        }
        let (at, reference) = self.relationship.activity?;
        if let Some(d) = self.cover_deadline(policy, at, ElapsedRule::CoverLapseDecline, |g| g.0) {
            return Some(d);
        }
        let secs = if self.relationship.activity_is_bill {
            policy.bill_decline_after_secs(self.relationship.typical_gap)
        } else {
            policy.decline_after_secs(self.relationship.typical_gap)
        };
        Some(Deadline {
            at: after(at, secs),
            rule: ElapsedRule::InactivityDecline,
            threshold_secs: secs,
            reference,
        })
    }

    fn exit_deadline(&self, policy: &LifecyclePolicy) -> Option<Deadline> {
        if !self.ever_purchased || self.churn.is_some() {
            return None;
        }
        let (at, reference) = self.relationship.activity?;
        if let Some(d) = self.cover_deadline(policy, at, ElapsedRule::CoverLapseExit, |g| g.1) {
            return Some(d);
        }
        let secs = policy.exit_after_secs(self.relationship.typical_gap);
        Some(Deadline {
            at: after(at, secs),
            rule: ElapsedRule::InactivityExit,
            threshold_secs: secs,
            reference,
        })
    }

    /// Reply deadlines of complaints still unanswered, in complaint-id order.
    fn complaint_deadlines<'a>(
        &'a self,
        policy: &LifecyclePolicy,
    ) -> impl Iterator<Item = (&'a str, &'a ComplaintTrack, Deadline)> + 'a {
        let secs = policy.complaint_reply_secs();
        self.complaints
            .iter()
            .filter(move |(_, c)| secs.is_some() && !c.step.is_resolved())
            .map(move |(id, c)| {
                let secs = secs.unwrap_or(0);
                (
                    id.as_str(),
                    c,
                    Deadline {
                        at: after(c.received_at, secs),
                        rule: ElapsedRule::ComplaintReply,
                        threshold_secs: secs,
                        reference: c.received_event,
                    },
                )
            })
    }

    /// The earliest deadline after `after`, with the rule that explains it
    /// (exit before decline before complaints when several fall together).
    fn next_deadline(&self, policy: &LifecyclePolicy, after: i64) -> Option<Deadline> {
        let mut best: Option<Deadline> = None;
        let mut consider = |d: Deadline| {
            if d.at > after && best.as_ref().is_none_or(|b| d.at < b.at) {
                best = Some(d);
            }
        };
        if let Some(d) = self.exit_deadline(policy) {
            consider(d);
        }
        if let Some(d) = self.decline_deadline(policy) {
            consider(d);
        }
        // An unanswered complaint is open (the settled step is `resolved` or later).
        if self.open_complaints > 0 {
            for (_, _, d) in self.complaint_deadlines(policy) {
                consider(d);
            }
        }
        best
    }

    /// Applies every elapsed-time rule whose threshold falls in
    /// `(assessed_at, t]`, in time order.
    fn advance(&mut self, policy: &LifecyclePolicy, t: i64) {
        if self.stage.is_none() {
            return;
        }
        while let Some(d) = self.next_deadline(policy, self.assessed_at) {
            if d.at > t {
                break;
            }
            self.assessed_at = d.at;
            self.reassess(policy, d.at, || Cause::Elapsed {
                rule: d.rule,
                threshold_secs: d.threshold_secs,
                reference: d.reference,
            });
        }
    }

    /// This state advanced to `as_of` (the state itself is unchanged).
    pub fn advanced_to(&self, policy: &LifecyclePolicy, as_of: DateTime<Utc>) -> LifecycleState {
        let mut s = self.clone();
        s.advance(policy, micros(as_of));
        s
    }

    fn mature(&self, policy: &LifecyclePolicy) -> Option<Reason> {
        let r = &self.relationship;
        let m = &policy.maturity;
        let span_days = match (r.first_purchase_at, r.last_purchase_at) {
            (Some(a), Some(b)) => b.saturating_sub(a) / MICROS / DAY_SECS,
            _ => 0,
        };
        if r.purchases >= m.min_purchases && span_days >= i64::from(m.min_span_days) {
            return Some(Reason::SteadyRepeatBuying {
                purchases: r.purchases,
                span_days,
            });
        }
        if let Some(b) = r.billing.as_deref().filter(|_| m.min_bills > 0) {
            let span_days = b.last_at.saturating_sub(b.first_at) / MICROS / DAY_SECS;
            if b.bills >= m.min_bills && span_days >= i64::from(m.min_span_days) {
                return Some(Reason::SteadyPaying {
                    bills: b.bills,
                    span_days,
                });
            }
        }
        if m.referral_min_purchases > 0
            && r.referrals >= 1
            && r.purchases >= m.referral_min_purchases
        {
            return Some(Reason::ReferralAndRepeat {
                referrals: r.referrals,
                purchases: r.purchases,
            });
        }
        None
    }

    /// The stage the facts imply at `t` (no allocation on the hot path).
    fn assess(&self, policy: &LifecyclePolicy, t: i64) -> Stage {
        if self.churn.is_some() {
            return Stage::Exit;
        }
        if self.exit_deadline(policy).is_some_and(|d| t >= d.at) {
            return Stage::Exit;
        }
        let declining = self.decline_deadline(policy).is_some_and(|d| t >= d.at)
            || self.relationship.spend_drop.is_some()
            || (self.open_complaints > 0
                && self.complaint_deadlines(policy).any(|(_, _, d)| t >= d.at));
        if declining {
            Stage::Decline
        } else if !self.ever_purchased {
            Stage::Acquisition
        } else if self.mature(policy).is_some() {
            Stage::Maturity
        } else {
            Stage::Growth
        }
    }

    /// The reasons for the stage the facts imply at `t`.
    fn reasons(&self, policy: &LifecyclePolicy, t: i64) -> Vec<Reason> {
        let mut out = Vec::new();
        if let Some(c) = &self.churn {
            out.push(Reason::Churned {
                event_id: c.event,
                reason: c.reason.clone(),
                voluntary: c.voluntary,
            });
        }
        if let (Some(d), Some((at, _))) = (self.exit_deadline(policy), self.relationship.activity) {
            if t >= d.at {
                out.push(self.elapsed_reason(&d, at, true));
            }
        }
        if !out.is_empty() {
            return out;
        }
        if let (Some(d), Some((at, _))) =
            (self.decline_deadline(policy), self.relationship.activity)
        {
            if t >= d.at {
                out.push(self.elapsed_reason(&d, at, false));
            }
        }
        if let Some(s) = &self.relationship.spend_drop {
            out.push(Reason::SpendDrop {
                recent_average: s.recent_average,
                earlier_average: s.earlier_average,
            });
        }
        for (id, c, d) in self.complaint_deadlines(policy) {
            if t >= d.at {
                out.push(Reason::ComplaintUnanswered {
                    complaint_id: id.to_owned(),
                    step: c.step,
                    deadline: to_time(d.at),
                });
            }
        }
        if !out.is_empty() {
            return out;
        }
        if !self.ever_purchased {
            out.push(Reason::NoPurchaseYet);
        } else if let Some(m) = self.mature(policy) {
            out.push(m);
        } else {
            out.push(Reason::HasPurchased {
                purchases: self.relationship.purchases,
            });
        }
        out
    }

    /// Open complaints and unsettled orders, in id order.
    pub fn open_matters(&self, policy: &LifecyclePolicy) -> Vec<OpenMatter> {
        let mut out = Vec::new();
        if self.open_complaints > 0 {
            for (id, c) in self.complaints.iter() {
                if c.step < policy.complaint_settled_step {
                    out.push(OpenMatter::Complaint {
                        complaint_id: id.clone(),
                        step: c.step,
                        received_at: to_time(c.received_at),
                    });
                }
            }
        }
        if self.open_orders > 0 {
            for (id, o) in self.orders.sorted() {
                if let Some(m) = o.matter(id, policy.orders_require_payment) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The view of this state as of `as_of` (advancing it to that time); None
    /// if no event is folded in.
    pub fn view(
        &self,
        policy: &LifecyclePolicy,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Option<CustomerStage> {
        let s = self.advanced_to(policy, as_of);
        let stage = s.stage?;
        let t = micros(as_of).max(s.assessed_at);
        Some(CustomerStage {
            customer,
            as_of,
            stage,
            since: to_time(s.since),
            exit_pending: s.exit_pending,
            open_matters: s.open_matters(policy),
            reasons: s.reasons(policy, t),
            purchases: s.relationship.purchases,
            referrals: s.referrals,
            last_change: s.changes.last().cloned(),
        })
    }

    /// Consumes the state advanced to `as_of` into its timeline.
    pub(crate) fn timeline(
        &self,
        policy: &LifecyclePolicy,
        as_of: DateTime<Utc>,
    ) -> Vec<StageChange> {
        self.advanced_to(policy, as_of).changes
    }

    /// Index terms: identifiers and `renewal_due:YYYY-MM-DD` per policy.
    pub(crate) fn index_terms(&self) -> Vec<String> {
        let mut terms = Vec::new();
        self.identity.get().terms(&mut terms);
        for (number, p) in &self.policies {
            terms.push(crate::IdentifierKind::PolicyNumber.term(number));
            if let Some(date) = p.valid_until.and_then(date_from_days) {
                terms.push(format!("{RENEWAL_DUE}{}", date.format("%Y-%m-%d")));
            }
        }
        terms
    }

    /// Policies whose latest `valid_until` is in `from..=to`, with the intent
    /// stated after each was bought.
    pub(crate) fn renewals(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(String, NaiveDate, Option<RenewalIntent>)> {
        self.policies
            .iter()
            .filter_map(|(number, p)| {
                let date = p.valid_until.and_then(date_from_days)?;
                if date < from || date > to {
                    return None;
                }
                let intent = self
                    .renewal_intent
                    .as_ref()
                    .filter(|m| m.at >= p.bought_at)
                    .map(|m| m.intent);
                Some((number.clone(), date, intent))
            })
            .collect()
    }
}

fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days)
}

/// The typical gap of `gaps` (seconds), or None if there are none.
fn typical(gaps: &[i64], statistic: GapStatistic) -> Option<i64> {
    if gaps.is_empty() {
        return None;
    }
    match statistic {
        GapStatistic::Mean => {
            let sum: i128 = gaps.iter().map(|&g| i128::from(g)).sum();
            i64::try_from(sum / gaps.len() as i128).ok()
        }
        GapStatistic::Median => {
            // Small windows are sorted on the stack (no allocation per purchase).
            let mut stack = [0i64; 32];
            let mut heap = Vec::new();
            let sorted: &mut [i64] = if gaps.len() <= stack.len() {
                let slot = &mut stack[..gaps.len()];
                slot.copy_from_slice(gaps);
                slot
            } else {
                heap.extend_from_slice(gaps);
                &mut heap
            };
            sorted.sort_unstable();
            let n = sorted.len();
            if n % 2 == 1 {
                Some(sorted[n / 2])
            } else {
                let (a, b) = (i128::from(sorted[n / 2 - 1]), i128::from(sorted[n / 2]));
                i64::try_from((a + b) / 2).ok()
            }
        }
    }
}

/// A short summary of an event for the audit trail. Never personal data:
/// profile fields and referred prospects are not quoted. Written into one
/// string sized up front (a stage change is recorded with one).
fn summary(payload: &EventPayload) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(48);
    let money = |s: &mut String, amount: clientele_core::Decimal, currency: Currency| {
        match Money::from_decimal(amount, currency) {
            Ok(m) => m.push_to(s),
            Err(_) => {
                amount.push_to(s);
                s.push(' ');
                s.push_str(currency.as_str());
            }
        }
    };
    // Writing into a String cannot fail.
    let _ = match payload {
        EventPayload::Contact(c) => write!(
            s,
            "contact {} {} {}",
            c.channel,
            match c.direction {
                clientele_core::event::Direction::Inbound => "inbound",
                clientele_core::event::Direction::Outbound => "outbound",
            },
            c.purpose
        ),
        EventPayload::Purchase(p) => {
            s.push_str("purchase ");
            s.push_str(&p.order_id);
            s.push(' ');
            money(&mut s, p.amount, p.currency);
            Ok(())
        }
        EventPayload::Refund(r) => {
            s.push_str("refund ");
            s.push_str(&r.order_id);
            s.push(' ');
            money(&mut s, r.amount, r.currency);
            Ok(())
        }
        EventPayload::Cancellation(c) => {
            s.push_str("cancellation ");
            s.push_str(&c.order_id);
            Ok(())
        }
        EventPayload::Payment(p) => {
            s.push_str("payment ");
            s.push_str(&p.reference);
            s.push(' ');
            money(&mut s, p.amount, p.currency);
            Ok(())
        }
        EventPayload::Complaint(c) => {
            s.push_str("complaint ");
            s.push_str(&c.complaint_id);
            s.push(' ');
            s.push_str(c.step.as_str());
            Ok(())
        }
        EventPayload::Referral(_) => write!(s, "referral"),
        EventPayload::Churn(c) => write!(s, "churn: {}", c.reason),
        EventPayload::Reactivation(r) => match &r.campaign {
            Some(campaign) => write!(s, "reactivation ({campaign})"),
            None => write!(s, "reactivation"),
        },
        EventPayload::Profile(_) => write!(s, "profile updated"),
        EventPayload::Erasure(_) => write!(s, "personal data erased"),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mean() {
        assert_eq!(typical(&[], GapStatistic::Median), None);
        assert_eq!(typical(&[5, 1, 3], GapStatistic::Median), Some(3));
        assert_eq!(typical(&[4, 1, 3, 10], GapStatistic::Median), Some(3));
        assert_eq!(typical(&[4, 1, 3, 10], GapStatistic::Mean), Some(4));
    }

    /// `Orders`, `Complaints` and `IdentitySlot` keep the bytes of the types
    /// they stand for.
    #[test]
    fn compact_parts_serialise_as_before() {
        let mut orders = Orders::default();
        let mut map = BTreeMap::new();
        for (i, id) in ["o-9", "A-1", "", "o-10", "订单-3", "o-1"]
            .iter()
            .enumerate()
        {
            let tally = OrderTally {
                currency: Some(Currency::CNY),
                purchased: i % 2 == 0,
                amount: i as i64 * 100,
                paid: 0,
                refunded: i as i64,
                cancelled: i == 3,
                mixed_currency: false,
            };
            if let Some(t) = orders.tally_mut(id) {
                *t = tally.clone();
            }
            map.insert((*id).to_owned(), tally);
        }
        assert_eq!(orders.tally_mut("o-9").map(|t| t.amount), Some(0));
        assert_eq!(orders.len(), map.len());
        let bytes = postcard::to_allocvec(&orders).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&map).unwrap());
        let back: Orders = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, orders);
        assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);

        let mut complaints = Complaints::default();
        let mut map = BTreeMap::new();
        for (i, id) in ["k-9", "k-10", "", "投诉-1", "k-1", "k-9"]
            .iter()
            .enumerate()
        {
            let track = ComplaintTrack {
                received_at: i as i64 * 1_000,
                received_event: EventId::derived(&[i as u8]),
                step: ComplaintStep::Received,
            };
            complaints.insert(id, track.clone());
            map.insert((*id).to_owned(), track);
        }
        if let Some(track) = complaints.get_mut("k-10") {
            track.step = ComplaintStep::Resolved;
        }
        if let Some(track) = map.get_mut("k-10") {
            track.step = ComplaintStep::Resolved;
        }
        assert_eq!(complaints.0.len(), map.len());
        assert!(complaints.get_mut("k-2").is_none());
        let bytes = postcard::to_allocvec(&complaints).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&map).unwrap());
        assert_eq!(
            postcard::from_bytes::<Complaints>(&bytes).unwrap(),
            complaints
        );

        let none = postcard::to_allocvec(&IdentitySlot::default()).unwrap();
        assert_eq!(none, postcard::to_allocvec(&Identity::default()).unwrap());
        let back: IdentitySlot = postcard::from_bytes(&none).unwrap();
        assert!(back.0.is_none());
        let mut some = IdentitySlot::default();
        some.get_mut().update(
            &clientele_core::event::Profile {
                phone: Some("+86 138".into()),
                ..Default::default()
            },
            2024,
        );
        let bytes = postcard::to_allocvec(&some).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(some.get()).unwrap());
        assert_eq!(postcard::from_bytes::<IdentitySlot>(&bytes).unwrap(), some);
    }

    /// A list of (id, tally) pairs written as a map, in any order and with
    /// repeats (as only a hand-made map has them).
    struct PairsAsMap(Vec<(String, OrderTally)>);

    impl Serialize for PairsAsMap {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }

    proptest::proptest! {
        /// `Orders` reads any map of order ids as the `BTreeMap` it stands
        /// for does (ascending ids are appended, others looked up; the last
        /// tally of a repeated id wins), and writes it back in id order.
        #[test]
        fn orders_read_any_map_as_a_btree_map_does(
            pairs in proptest::collection::vec(("[ab]{0,3}", 0i64..1_000), 0..12),
            sorted in proptest::bool::ANY,
        ) {
            let mut pairs: Vec<(String, OrderTally)> = pairs
                .into_iter()
                .map(|(id, amount)| (id, OrderTally { amount, ..OrderTally::default() }))
                .collect();
            if sorted {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let bytes = postcard::to_allocvec(&PairsAsMap(pairs)).unwrap();
            let map: BTreeMap<String, OrderTally> = postcard::from_bytes(&bytes).unwrap();
            let orders: Orders = postcard::from_bytes(&bytes).unwrap();
            proptest::prop_assert_eq!(orders.len(), map.len());
            proptest::prop_assert_eq!(
                postcard::to_allocvec(&orders).unwrap(),
                postcard::to_allocvec(&map).unwrap()
            );
        }
    }

    /// The audit summaries read as they always have.
    #[test]
    fn summaries_read_as_before() {
        use clientele_core::event::*;
        let cny = Currency::CNY;
        let amount = |s: &str| s.parse::<clientele_core::Decimal>().unwrap();
        let cases: Vec<(EventPayload, &str)> = vec![
            (
                Purchase::new("A-1", amount("165"), cny).into(),
                "purchase A-1 165.00 CNY",
            ),
            (
                Refund {
                    order_id: "A-1".into(),
                    amount: amount("-0.5"),
                    currency: cny,
                    reason: None,
                }
                .into(),
                "refund A-1 -0.50 CNY",
            ),
            (
                Payment {
                    reference: "A-1".into(),
                    amount: amount("12.345"),
                    currency: cny,
                    due_date: None,
                    late: false,
                }
                .into(),
                "payment A-1 12.345 CNY",
            ),
            (
                Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care).into(),
                "contact sms outbound care",
            ),
            (
                Complaint::new("k-1", ComplaintStep::FeedbackGiven).into(),
                "complaint k-1 feedback_given",
            ),
            (
                Cancellation {
                    order_id: "A-2".into(),
                    reason: None,
                }
                .into(),
                "cancellation A-2",
            ),
            (
                Churn {
                    reason: "moved".into(),
                    voluntary: true,
                }
                .into(),
                "churn: moved",
            ),
            (
                Reactivation {
                    campaign: Some("spring".into()),
                    channel: None,
                }
                .into(),
                "reactivation (spring)",
            ),
        ];
        for (payload, text) in cases {
            assert_eq!(summary(&payload), text);
        }
    }

    /// Rolling windows stay within their policy: the gaps within
    /// `rhythm_window`, the amounts within the spend-drop rule's two
    /// averages, and no amounts at all when that rule is off.
    #[test]
    fn rolling_windows_are_bounded() {
        use clientele_core::event::Purchase;
        use clientele_core::{privacy::PersonalData, Metadata};
        let fold = |policy: &LifecyclePolicy, n: u8| {
            let mut state = LifecycleState::default();
            let t0 = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(19_000);
            for i in 0..n {
                let event = RecordedEvent {
                    event_id: EventId::derived(&[i]),
                    customer_id: CustomerId::from_external("t", "1"),
                    version: u64::from(i) + 1,
                    position: u64::from(i) + 1,
                    occurred_at: t0 + chrono::Duration::days(7 * i64::from(i)),
                    recorded_at: t0,
                    schema_version: 1,
                    metadata: Metadata::default(),
                    payload: Purchase::new(format!("o-{i}"), "10".parse().unwrap(), Currency::EUR)
                        .into(),
                    personal_data: PersonalData::None,
                };
                state.apply(policy, &event);
            }
            state
        };
        let policy = LifecyclePolicy::default();
        let state = fold(&policy, 40);
        assert_eq!(state.relationship.gaps.len(), policy.rhythm_window as usize);
        assert_eq!(state.relationship.spend.len(), 6);
        assert_eq!(state.relationship.spend_count, 40);
        let off = LifecyclePolicy {
            spend_drop: None,
            ..LifecyclePolicy::default()
        };
        let state = fold(&off, 40);
        assert!(state.relationship.spend.is_empty());
        assert_eq!(state.relationship.spend_count, 40);
        assert_eq!(state.relationship.purchases, 40);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        assert_eq!(to_time(i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(to_time(i64::MIN), DateTime::<Utc>::MIN_UTC);
        assert_eq!(after(i64::MAX - 1, 10), i64::MAX);
    }
}
