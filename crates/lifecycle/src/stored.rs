//! The stored form of a [`LifecycleState`]: a compact, deterministic binary
//! encoding written by hand, which the projection runtime keeps per customer
//! and per snapshot (see `LifecycleProjection::encode_state`). A rebuild
//! writes every state once, and postcard through serde cost ~7,400
//! instructions per state; this writes bytes directly.
//!
//! # Format (version 1)
//!
//! Integers are LEB128 varints (`uv`: unsigned; `iv`: zigzag-signed),
//! canonical (no overlong forms). A *time* `t` is written as its delta `d`
//! from a reference (wrapping `i64` arithmetic) in a self-delimiting form
//! that favours whole seconds: a first byte `c s x5..x0` (c: more bytes
//! follow, s: the value is µs rather than whole seconds) holds the low 6
//! bits of the zigzag value `z` (`d / 1e6` when `d` is whole seconds, else
//! `d`), and `uv(z >> 6)` follows when `c` is set. Strings are `uv(len)` and
//! UTF-8 bytes; event ids their 16 bytes; currencies their 3 upper-case
//! ASCII letters. The base time is `assessed_at`; the other times of the
//! state are written relative to it, except the stage changes', each
//! relative to the change before it (the first to the base).
//!
//! | part              | bytes                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | format tag        | `1`                                                          |
//! | stage             | 0 none, 1 + stage code (acquisition 0 … exit 4)              |
//! | flags             | exit_pending, ever_purchased, last_event_at, churn, renewal_intent, identity, billing (bits 0–6) |
//! | counters          | `uv` referrals, open_complaints, open_orders                 |
//! | times             | assessed_at (from 0), since, last_event_at? (from the base)  |
//! | churn?            | event id, reason, voluntary (0/1)                            |
//! | relationship      | flags (first, last, typical_gap, activity, spend_drop, spend_currency, cover, activity is a bill); `uv` purchases, referrals, spend_count; first?, last? (times); `iv` typical_gap?; activity? (time, id); cover? (end time, reference id, since time, order id, cancelled 0/1); spend_drop? (`iv` minor + currency, twice); spend_currency?; gaps and spend (`uv` count, `iv` each) |
//! | billing?          | `uv` bills; first, last (times)                              |
//! | changes           | `uv` count; each: byte `elapsed exit_pending to(3) from(3)` (from: 0 none, 1 + code), time; event: kind code, id, summary; elapsed: rule (0–4), `iv` threshold_secs, reference id |
//! | orders            | `uv` count; each, ids strictly ascending: id, flags (currency, purchased, cancelled, mixed_currency, same currency), currency? (only where not the same as the last one written, at first the spend currency), `iv` amount, paid, refunded |
//! | complaints        | `uv` count; each, ids strictly ascending: id, received_at (time), event id, step index |
//! | identity?         | flags (plate, national_id, phone, email, policy_numbers, external_ids; not 0); each value and its `iv` year; each list as `uv` count, values, `iv` year |
//! | policies          | `uv` count; each, numbers strictly ascending: number, `uv` valid_until (0 none, 1 + zigzag days), bought_at (time), `iv` seen_year, order id |
//! | renewal intent?   | intent (continue 0, not renewing 1, considering 2), at (time) |
//!
//! Decoding accepts exactly the bytes the encoder writes (anything else,
//! including trailing bytes, is `None`), so whatever decodes re-encodes to the
//! same bytes. Times of stage changes are kept to the microsecond (the fold
//! makes no finer ones; postcard kept no more either).
//!
//! The vectors the next folded event may push to (gaps, amounts, orders) are
//! read with room for one more, so that a catch-up does not reallocate them
//! right away.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clientele_core::event::{ComplaintStep, EventKind, RenewalIntent};
use clientele_core::varint::{self, unzigzag, zigzag};
use clientele_core::{Currency, EventId, Money};

use crate::identity::{Identity, Tagged};
use crate::stage::{Cause, ElapsedRule, Stage, StageChange};
use crate::state::{
    id_hash, Billing, ChurnMark, ComplaintTrack, Complaints, Cover, IdentitySlot, IntentMark,
    LifecycleState, OrderTally, Orders, PolicyTerm, Relationship, SpendDropMark,
};

/// The first byte of every stored state.
const FORMAT: u8 = 1;

/// µs per second.
const MICROS: i64 = 1_000_000;

// Top-level flags.
const EXIT_PENDING: u8 = 1;
const EVER_PURCHASED: u8 = 1 << 1;
const LAST_EVENT_AT: u8 = 1 << 2;
const CHURN: u8 = 1 << 3;
const RENEWAL_INTENT: u8 = 1 << 4;
const IDENTITY: u8 = 1 << 5;
/// The relationship's bills (bit 6 came with state format 6; earlier
/// states never set it).
const BILLING: u8 = 1 << 6;
const TOP_FLAGS: u8 = (1 << 7) - 1;

// Relationship flags.
const FIRST_PURCHASE: u8 = 1;
const LAST_PURCHASE: u8 = 1 << 1;
const TYPICAL_GAP: u8 = 1 << 2;
const ACTIVITY: u8 = 1 << 3;
const SPEND_DROP: u8 = 1 << 4;
const SPEND_CURRENCY: u8 = 1 << 5;
const COVER: u8 = 1 << 6;
const ACTIVITY_IS_BILL: u8 = 1 << 7;
const RELATIONSHIP_FLAGS: u8 = u8::MAX;

// Stage-change byte: from in bits 0–2, to in bits 3–5.
const CHANGE_EXIT_PENDING: u8 = 1 << 6;
const CHANGE_ELAPSED: u8 = 1 << 7;

// Order flags.
const ORDER_CURRENCY: u8 = 1;
const ORDER_PURCHASED: u8 = 1 << 1;
const ORDER_CANCELLED: u8 = 1 << 2;
const ORDER_MIXED: u8 = 1 << 3;
/// The order's currency is the last one written (or the spend currency).
const ORDER_SAME_CURRENCY: u8 = 1 << 4;
const ORDER_FLAGS: u8 = (1 << 5) - 1;

// Identity flags.
const PLATE: u8 = 1;
const NATIONAL_ID: u8 = 1 << 1;
const PHONE: u8 = 1 << 2;
const EMAIL: u8 = 1 << 3;
const POLICY_NUMBERS: u8 = 1 << 4;
const EXTERNAL_IDS: u8 = 1 << 5;
const IDENTITY_FLAGS: u8 = (1 << 6) - 1;

// Fewest bytes of one element of each list: bounds a count read by the bytes left.
const MIN_CHANGE: usize = 20;
const MIN_ORDER: usize = 5;
const MIN_COMPLAINT: usize = 19;
const MIN_POLICY: usize = 5;

/// The stage's code: its place in the lifecycle.
fn stage_code(stage: Stage) -> u8 {
    match stage {
        Stage::Acquisition => 0,
        Stage::Growth => 1,
        Stage::Maturity => 2,
        Stage::Decline => 3,
        Stage::Exit => 4,
    }
}

/// The stage with code `code`.
fn stage_of(code: u8) -> Option<Stage> {
    Some(match code {
        0 => Stage::Acquisition,
        1 => Stage::Growth,
        2 => Stage::Maturity,
        3 => Stage::Decline,
        4 => Stage::Exit,
        _ => return None,
    })
}

/// An optional stage as a byte: 0 none, else 1 + its code.
fn opt_stage_code(stage: Option<Stage>) -> u8 {
    stage.map_or(0, |s| stage_code(s) + 1)
}

/// The optional stage of a byte written by [`opt_stage_code`].
fn opt_stage_of(code: u8) -> Option<Option<Stage>> {
    match code.checked_sub(1) {
        None => Some(None),
        Some(c) => stage_of(c).map(Some),
    }
}

fn rule_code(rule: ElapsedRule) -> u8 {
    match rule {
        ElapsedRule::InactivityDecline => 0,
        ElapsedRule::InactivityExit => 1,
        ElapsedRule::ComplaintReply => 2,
        ElapsedRule::CoverLapseDecline => 3,
        ElapsedRule::CoverLapseExit => 4,
    }
}

fn rule_of(code: u8) -> Option<ElapsedRule> {
    Some(match code {
        0 => ElapsedRule::InactivityDecline,
        1 => ElapsedRule::InactivityExit,
        2 => ElapsedRule::ComplaintReply,
        3 => ElapsedRule::CoverLapseDecline,
        4 => ElapsedRule::CoverLapseExit,
        _ => return None,
    })
}

/// `bit` if `set`, else 0.
fn bit(set: bool, bit: u8) -> u8 {
    u8::from(set) * bit
}

#[inline]
fn put_uv(out: &mut Vec<u8>, v: u64) {
    varint::push_u64(out, v);
}

#[inline]
fn put_iv(out: &mut Vec<u8>, v: i64) {
    varint::push_i64(out, v);
}

#[inline]
fn put_len(out: &mut Vec<u8>, n: usize) {
    put_uv(out, n as u64);
}

/// A time as its delta `d` from a reference (see the module docs).
#[inline(always)]
fn put_time(out: &mut Vec<u8>, d: i64) {
    let (z, micros) = if d % MICROS == 0 {
        (zigzag(d / MICROS), 0)
    } else {
        (zigzag(d), 0x40)
    };
    let first = (z & 0x3f) as u8 | micros;
    let rest = z >> 6;
    if rest == 0 {
        out.push(first);
    } else {
        out.push(first | 0x80);
        put_uv(out, rest);
    }
}

#[inline]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[inline]
fn put_id(out: &mut Vec<u8>, id: &EventId) {
    out.extend_from_slice(id.as_bytes());
}

/// The three letters of `currency` (the common ones without a UTF-8 check).
#[inline]
fn put_currency(out: &mut Vec<u8>, currency: Currency) {
    out.extend_from_slice(&currency.code());
}

#[inline]
fn put_money(out: &mut Vec<u8>, money: Money) {
    put_iv(out, money.minor_units());
    put_currency(out, money.currency());
}

/// Appends the stored form of `state` to `out` (see the module docs).
pub(crate) fn encode(state: &LifecycleState, out: &mut Vec<u8>) {
    out.push(FORMAT);
    out.push(opt_stage_code(state.stage));
    let identity = state.identity.get();
    let has_identity = *identity != Identity::EMPTY;
    let flags = bit(state.exit_pending, EXIT_PENDING)
        | bit(state.ever_purchased, EVER_PURCHASED)
        | bit(state.last_event_at.is_some(), LAST_EVENT_AT)
        | bit(state.churn.is_some(), CHURN)
        | bit(state.renewal_intent.is_some(), RENEWAL_INTENT)
        | bit(has_identity, IDENTITY)
        | bit(state.relationship.billing.is_some(), BILLING);
    out.push(flags);
    put_uv(out, u64::from(state.referrals));
    put_uv(out, u64::from(state.open_complaints));
    put_uv(out, u64::from(state.open_orders));
    let base = state.assessed_at;
    put_time(out, base);
    put_time(out, state.since.wrapping_sub(base));
    if let Some(t) = state.last_event_at {
        put_time(out, t.wrapping_sub(base));
    }
    if let Some(churn) = &state.churn {
        put_id(out, &churn.event);
        put_str(out, &churn.reason);
        out.push(u8::from(churn.voluntary));
    }
    put_relationship(out, &state.relationship, base);
    if let Some(b) = &state.relationship.billing {
        put_uv(out, u64::from(b.bills));
        put_time(out, b.first_at.wrapping_sub(base));
        put_time(out, b.last_at.wrapping_sub(base));
    }
    put_changes(out, &state.changes, base);
    put_orders(out, &state.orders, state.relationship.spend_currency);
    put_len(out, state.complaints.0.len());
    for (id, c) in &state.complaints.0 {
        put_str(out, id);
        put_time(out, c.received_at.wrapping_sub(base));
        put_id(out, &c.received_event);
        out.push(c.step.index());
    }
    if has_identity {
        put_identity(out, identity);
    }
    put_len(out, state.policies.len());
    for (number, p) in &state.policies {
        put_str(out, number);
        put_uv(out, p.valid_until.map_or(0, |d| zigzag(i64::from(d)) + 1));
        put_time(out, p.bought_at.wrapping_sub(base));
        put_iv(out, i64::from(p.seen_year));
        put_str(out, &p.order_id);
    }
    if let Some(m) = &state.renewal_intent {
        out.push(m.intent.code());
        put_time(out, m.at.wrapping_sub(base));
    }
}

fn put_relationship(out: &mut Vec<u8>, r: &Relationship, base: i64) {
    let flags = bit(r.first_purchase_at.is_some(), FIRST_PURCHASE)
        | bit(r.last_purchase_at.is_some(), LAST_PURCHASE)
        | bit(r.typical_gap.is_some(), TYPICAL_GAP)
        | bit(r.activity.is_some(), ACTIVITY)
        | bit(r.spend_drop.is_some(), SPEND_DROP)
        | bit(r.spend_currency.is_some(), SPEND_CURRENCY)
        | bit(r.cover.is_some(), COVER)
        | bit(r.activity_is_bill, ACTIVITY_IS_BILL);
    out.push(flags);
    put_uv(out, u64::from(r.purchases));
    put_uv(out, u64::from(r.referrals));
    put_uv(out, u64::from(r.spend_count));
    if let Some(t) = r.first_purchase_at {
        put_time(out, t.wrapping_sub(base));
    }
    if let Some(t) = r.last_purchase_at {
        put_time(out, t.wrapping_sub(base));
    }
    if let Some(gap) = r.typical_gap {
        put_iv(out, gap);
    }
    if let Some((t, id)) = &r.activity {
        put_time(out, t.wrapping_sub(base));
        put_id(out, id);
    }
    if let Some(c) = &r.cover {
        put_time(out, c.end.wrapping_sub(base));
        put_id(out, &c.reference);
        put_time(out, c.since.wrapping_sub(base));
        put_str(out, &c.order_id);
        out.push(u8::from(c.cancelled));
    }
    if let Some(drop) = &r.spend_drop {
        put_money(out, drop.recent_average);
        put_money(out, drop.earlier_average);
    }
    if let Some(c) = r.spend_currency {
        put_currency(out, c);
    }
    for list in [&r.gaps, &r.spend] {
        put_len(out, list.len());
        for &v in list {
            put_iv(out, v);
        }
    }
}

fn put_changes(out: &mut Vec<u8>, changes: &[StageChange], base: i64) {
    put_len(out, changes.len());
    let mut previous = base;
    for c in changes {
        let mut head = opt_stage_code(c.from) | (stage_code(c.to) << 3);
        if c.exit_pending {
            head |= CHANGE_EXIT_PENDING;
        }
        if matches!(c.cause, Cause::Elapsed { .. }) {
            head |= CHANGE_ELAPSED;
        }
        out.push(head);
        let at = c.at.timestamp_micros();
        put_time(out, at.wrapping_sub(previous));
        previous = at;
        match &c.cause {
            Cause::Event {
                event_id,
                kind,
                summary,
            } => {
                out.push(kind.code());
                put_id(out, event_id);
                put_str(out, summary);
            }
            Cause::Elapsed {
                rule,
                threshold_secs,
                reference,
            } => {
                out.push(rule_code(*rule));
                put_iv(out, *threshold_secs);
                put_id(out, reference);
            }
        }
    }
}

/// Orders in id order: as they are when first seen in ascending order (the
/// common case: written in one pass), else sorted. A currency is written
/// only where it differs from the last one written or implied (at first the
/// spend currency).
fn put_orders(out: &mut Vec<u8>, orders: &Orders, spend_currency: Option<Currency>) {
    put_len(out, orders.len());
    let start = out.len();
    let mut last = spend_currency;
    let ids = orders.ids.as_bytes();
    let mut previous: Option<&[u8]> = None;
    let mut id_start = 0;
    for (&(_, end), tally) in orders.index.iter().zip(&orders.tallies) {
        let end = end as usize;
        let id = ids.get(id_start..end).unwrap_or_default();
        id_start = end;
        if previous.is_some_and(|p| p >= id) {
            // Not first seen in id order: start again, sorted.
            out.truncate(start);
            let mut last = spend_currency;
            for (id, tally) in orders.sorted() {
                put_order(out, id.as_bytes(), tally, &mut last);
            }
            return;
        }
        previous = Some(id);
        put_order(out, id, tally, &mut last);
    }
}

/// One order; `last` is the currency the next one may repeat.
fn put_order(out: &mut Vec<u8>, id: &[u8], tally: &OrderTally, last: &mut Option<Currency>) {
    put_len(out, id.len());
    out.extend_from_slice(id);
    let same = tally.currency.is_some() && tally.currency == *last;
    let flags = bit(tally.currency.is_some(), ORDER_CURRENCY)
        | bit(tally.purchased, ORDER_PURCHASED)
        | bit(tally.cancelled, ORDER_CANCELLED)
        | bit(tally.mixed_currency, ORDER_MIXED)
        | bit(same, ORDER_SAME_CURRENCY);
    out.push(flags);
    if let (Some(c), false) = (tally.currency, same) {
        put_currency(out, c);
        *last = Some(c);
    }
    put_iv(out, tally.amount);
    put_iv(out, tally.paid);
    put_iv(out, tally.refunded);
}

fn put_identity(out: &mut Vec<u8>, identity: &Identity) {
    let flags = bit(identity.licence_plate.is_some(), PLATE)
        | bit(identity.national_id.is_some(), NATIONAL_ID)
        | bit(identity.phone.is_some(), PHONE)
        | bit(identity.email.is_some(), EMAIL)
        | bit(identity.policy_numbers.is_some(), POLICY_NUMBERS)
        | bit(identity.external_ids.is_some(), EXTERNAL_IDS);
    out.push(flags);
    for tagged in [
        &identity.licence_plate,
        &identity.national_id,
        &identity.phone,
        &identity.email,
    ]
    .into_iter()
    .flatten()
    {
        put_str(out, &tagged.value);
        put_iv(out, i64::from(tagged.year));
    }
    for (list, year) in [&identity.policy_numbers, &identity.external_ids]
        .into_iter()
        .flatten()
    {
        put_len(out, list.len());
        for value in list {
            put_str(out, value);
        }
        put_iv(out, i64::from(*year));
    }
}

/// Reads the parts of a stored state; every read is `None` past the end.
struct Reader<'a> {
    /// What is left to read.
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(taken)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A byte holding only bits of `mask`.
    #[inline]
    fn flags(&mut self, mask: u8) -> Option<u8> {
        self.u8().filter(|f| f & !mask == 0)
    }

    #[inline]
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// A canonical LEB128 `u64`.
    #[inline]
    fn uv(&mut self) -> Option<u64> {
        varint::read_u64(&mut self.bytes)
    }

    #[inline]
    fn iv(&mut self) -> Option<i64> {
        self.uv().map(unzigzag)
    }

    #[inline]
    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uv()?).ok()
    }

    #[inline]
    fn i32(&mut self) -> Option<i32> {
        i32::try_from(self.iv()?).ok()
    }

    /// A count of elements of at least `min_size` bytes each: no more than
    /// the bytes left can hold.
    #[inline]
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = usize::try_from(self.uv()?).ok()?;
        (n <= self.bytes.len() / min_size).then_some(n)
    }

    /// A time written by [`put_time`], relative to `reference`.
    #[inline]
    fn time(&mut self, reference: i64) -> Option<i64> {
        let first = self.u8()?;
        let mut z = u64::from(first & 0x3f);
        if first & 0x80 != 0 {
            let rest = self.uv()?;
            if rest == 0 || rest > u64::MAX >> 6 {
                return None;
            }
            z |= rest << 6;
        }
        let v = unzigzag(z);
        let d = if first & 0x40 == 0 {
            v.checked_mul(MICROS)?
        } else if v % MICROS == 0 {
            return None;
        } else {
            v
        };
        Some(reference.wrapping_add(d))
    }

    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.uv()?).ok()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    /// A key of a sorted list (order ids, complaint ids, policy numbers):
    /// a string strictly after `previous`, which becomes it.
    #[inline]
    fn key_after(&mut self, previous: &mut Option<&'a str>) -> Option<&'a str> {
        let key = self.str()?;
        if previous.is_some_and(|p| p >= key) {
            return None;
        }
        *previous = Some(key);
        Some(key)
    }

    #[inline]
    fn string(&mut self) -> Option<String> {
        self.str().map(str::to_owned)
    }

    #[inline]
    fn id(&mut self) -> Option<EventId> {
        Some(EventId::from_uuid(uuid::Uuid::from_bytes(self.array()?)))
    }

    #[inline]
    fn currency(&mut self) -> Option<Currency> {
        let code: [u8; 3] = self.array()?;
        // Upper case only: what the encoder writes.
        if !code.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        Currency::from_code(code)
    }

    #[inline]
    fn money(&mut self) -> Option<Money> {
        let minor = self.iv()?;
        Some(Money::from_minor(minor, self.currency()?))
    }
}

/// Reads a state written by [`encode`]; `None` for anything else (another
/// format tag, truncated or trailing bytes, an invalid tag, flag, count or
/// string, ids out of order). Never panics.
pub(crate) fn decode(bytes: &[u8]) -> Option<LifecycleState> {
    let mut r = Reader { bytes };
    if r.u8()? != FORMAT {
        return None;
    }
    let stage = opt_stage_of(r.u8()?)?;
    let flags = r.flags(TOP_FLAGS)?;
    let referrals = r.u32()?;
    let open_complaints = r.u32()?;
    let open_orders = r.u32()?;
    let base = r.time(0)?;
    let since = r.time(base)?;
    let last_event_at = match flags & LAST_EVENT_AT {
        0 => None,
        _ => Some(r.time(base)?),
    };
    let churn = match flags & CHURN {
        0 => None,
        _ => Some(Box::new(ChurnMark {
            event: r.id()?,
            reason: r.string()?,
            voluntary: r.bool()?,
        })),
    };
    let mut relationship = read_relationship(&mut r, base)?;
    if flags & BILLING != 0 {
        relationship.billing = Some(Box::new(Billing {
            bills: r.u32()?,
            first_at: r.time(base)?,
            last_at: r.time(base)?,
        }));
    }
    let changes = read_changes(&mut r, base)?;
    let orders = read_orders(&mut r, relationship.spend_currency)?;
    let complaints = read_complaints(&mut r, base)?;
    let identity = match flags & IDENTITY {
        0 => IdentitySlot(None),
        _ => IdentitySlot(Some(Box::new(read_identity(&mut r)?))),
    };
    let n = r.count(MIN_POLICY)?;
    let mut policies = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for _ in 0..n {
        let number = r.key_after(&mut previous)?;
        let valid_until = match r.uv()?.checked_sub(1) {
            None => None,
            Some(z) => Some(i32::try_from(unzigzag(z)).ok()?),
        };
        let term = PolicyTerm {
            valid_until,
            bought_at: r.time(base)?,
            seen_year: r.i32()?,
            order_id: r.string()?,
        };
        policies.insert(number.to_owned(), term);
    }
    let renewal_intent = match flags & RENEWAL_INTENT {
        0 => None,
        _ => Some(IntentMark {
            intent: RenewalIntent::from_code(r.u8()?)?,
            at: r.time(base)?,
        }),
    };
    if !r.bytes.is_empty() {
        return None;
    }
    Some(LifecycleState {
        stage,
        exit_pending: flags & EXIT_PENDING != 0,
        ever_purchased: flags & EVER_PURCHASED != 0,
        referrals,
        open_complaints,
        open_orders,
        since,
        assessed_at: base,
        last_event_at,
        churn,
        relationship,
        changes,
        orders,
        complaints,
        identity,
        policies,
        renewal_intent,
    })
}

fn read_relationship(r: &mut Reader<'_>, base: i64) -> Option<Relationship> {
    let flags = r.flags(RELATIONSHIP_FLAGS)?;
    let purchases = r.u32()?;
    let referrals = r.u32()?;
    let spend_count = r.u32()?;
    let first_purchase_at = match flags & FIRST_PURCHASE {
        0 => None,
        _ => Some(r.time(base)?),
    };
    let last_purchase_at = match flags & LAST_PURCHASE {
        0 => None,
        _ => Some(r.time(base)?),
    };
    let typical_gap = match flags & TYPICAL_GAP {
        0 => None,
        _ => Some(r.iv()?),
    };
    let activity = match flags & ACTIVITY {
        0 => None,
        _ => Some((r.time(base)?, r.id()?)),
    };
    let cover = match flags & COVER {
        0 => None,
        _ => Some(Box::new(Cover {
            end: r.time(base)?,
            reference: r.id()?,
            since: r.time(base)?,
            order_id: r.string()?,
            cancelled: match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            },
        })),
    };
    let spend_drop = match flags & SPEND_DROP {
        0 => None,
        _ => Some(Box::new(SpendDropMark {
            recent_average: r.money()?,
            earlier_average: r.money()?,
        })),
    };
    let spend_currency = match flags & SPEND_CURRENCY {
        0 => None,
        _ => Some(r.currency()?),
    };
    let gaps = read_ivs(r)?;
    let spend = read_ivs(r)?;
    Some(Relationship {
        purchases,
        referrals,
        spend_count,
        activity_is_bill: flags & ACTIVITY_IS_BILL != 0,
        first_purchase_at,
        last_purchase_at,
        typical_gap,
        activity,
        cover,
        spend_drop,
        billing: None,
        spend_currency,
        gaps,
        spend,
    })
}

/// Room for one more: the next event folded may push one (a gap, an amount).
fn read_ivs(r: &mut Reader<'_>) -> Option<Vec<i64>> {
    let n = r.count(1)?;
    let mut out = Vec::with_capacity(n + 1);
    for _ in 0..n {
        out.push(r.iv()?);
    }
    Some(out)
}

fn read_changes(r: &mut Reader<'_>, base: i64) -> Option<Vec<StageChange>> {
    let n = r.count(MIN_CHANGE)?;
    let mut changes = Vec::with_capacity(n);
    let mut previous = base;
    for _ in 0..n {
        let head = r.u8()?;
        let from = opt_stage_of(head & 0x07)?;
        let to = stage_of((head >> 3) & 0x07)?;
        let at = r.time(previous)?;
        previous = at;
        let cause = if head & CHANGE_ELAPSED == 0 {
            Cause::Event {
                kind: EventKind::from_code(r.u8()?)?,
                event_id: r.id()?,
                summary: r.string()?,
            }
        } else {
            Cause::Elapsed {
                rule: rule_of(r.u8()?)?,
                threshold_secs: r.iv()?,
                reference: r.id()?,
            }
        };
        changes.push(StageChange {
            at: DateTime::<Utc>::from_timestamp_micros(at)?,
            from,
            to,
            exit_pending: head & CHANGE_EXIT_PENDING != 0,
            cause,
        });
    }
    Some(changes)
}

fn read_orders(r: &mut Reader<'_>, spend_currency: Option<Currency>) -> Option<Orders> {
    let n = r.count(MIN_ORDER)?;
    let mut last = spend_currency;
    // Room for one more order: the next event folded may add one.
    let mut orders = Orders {
        ids: String::new(),
        index: Vec::with_capacity(n + 1),
        tallies: Vec::with_capacity(n + 1),
    };
    let mut previous: Option<&str> = None;
    for _ in 0..n {
        let id = r.key_after(&mut previous)?;
        let flags = r.flags(ORDER_FLAGS)?;
        let currency = match flags & (ORDER_CURRENCY | ORDER_SAME_CURRENCY) {
            0 => None,
            ORDER_CURRENCY => {
                // Written only where it differs from the last one.
                let c = r.currency().filter(|&c| Some(c) != last)?;
                last = Some(c);
                Some(c)
            }
            _ if flags & ORDER_CURRENCY != 0 => Some(last?),
            _ => return None,
        };
        let tally = OrderTally {
            currency,
            purchased: flags & ORDER_PURCHASED != 0,
            amount: r.iv()?,
            paid: r.iv()?,
            refunded: r.iv()?,
            cancelled: flags & ORDER_CANCELLED != 0,
            mixed_currency: flags & ORDER_MIXED != 0,
        };
        // As `Orders::push` would add it (none is there: the ids ascend).
        if orders.ids.capacity() == 0 {
            orders.ids.reserve(32);
        }
        orders.ids.push_str(id);
        let end = u32::try_from(orders.ids.len()).ok()?;
        orders.index.push((id_hash(id), end));
        orders.tallies.push(tally);
    }
    Some(orders)
}

fn read_complaints(r: &mut Reader<'_>, base: i64) -> Option<Complaints> {
    let n = r.count(MIN_COMPLAINT)?;
    let mut complaints = Vec::with_capacity(n);
    let mut previous: Option<&str> = None;
    for _ in 0..n {
        let id = r.key_after(&mut previous)?;
        let track = ComplaintTrack {
            received_at: r.time(base)?,
            received_event: r.id()?,
            step: *ComplaintStep::ALL.get(usize::from(r.u8()?))?,
        };
        complaints.push((id.to_owned(), track));
    }
    Some(Complaints(complaints))
}

fn read_identity(r: &mut Reader<'_>) -> Option<Identity> {
    let flags = r.flags(IDENTITY_FLAGS).filter(|&f| f != 0)?;
    let mut tagged = |bit: u8| -> Option<Option<Tagged>> {
        if flags & bit == 0 {
            return Some(None);
        }
        Some(Some(Tagged {
            value: r.string()?,
            year: r.i32()?,
        }))
    };
    let licence_plate = tagged(PLATE)?;
    let national_id = tagged(NATIONAL_ID)?;
    let phone = tagged(PHONE)?;
    let email = tagged(EMAIL)?;
    let mut list = |bit: u8| -> Option<Option<(Vec<String>, i32)>> {
        if flags & bit == 0 {
            return Some(None);
        }
        let n = r.count(1)?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(r.string()?);
        }
        Some(Some((values, r.i32()?)))
    };
    let policy_numbers = list(POLICY_NUMBERS)?;
    let external_ids = list(EXTERNAL_IDS)?;
    Some(Identity {
        licence_plate,
        national_id,
        phone,
        email,
        policy_numbers,
        external_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Most bytes of a time: a first byte and a `u64` varint.
    const TIME_MAX: usize = 1 + 10;

    const CNY: Currency = Currency::CNY;

    fn id(n: u128) -> EventId {
        EventId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn encoded(state: &LifecycleState) -> Vec<u8> {
        let mut out = Vec::new();
        encode(state, &mut out);
        out
    }

    /// 2020-09-13T12:26:40Z, in µs.
    const T: i64 = 1_600_000_000 * MICROS;

    /// A small state with a part of every kind; orders first seen out of id order.
    fn sample() -> LifecycleState {
        let mut orders = Orders::default();
        for (id, amount) in [("o-2", 300), ("o-10", -5)] {
            if let Some(i) = orders.push(id) {
                orders.tallies[i] = OrderTally {
                    currency: Some(CNY),
                    purchased: true,
                    amount,
                    ..OrderTally::default()
                };
            }
        }
        LifecycleState {
            stage: Some(Stage::Growth),
            exit_pending: false,
            ever_purchased: true,
            referrals: 1,
            open_complaints: 0,
            open_orders: 2,
            since: T - 60 * MICROS,
            assessed_at: T,
            last_event_at: Some(T - 1),
            churn: None,
            relationship: Relationship {
                purchases: 2,
                activity: Some((T, id(7))),
                gaps: vec![-1],
                ..Relationship::default()
            },
            changes: vec![StageChange {
                at: DateTime::from_timestamp_micros(T - 60 * MICROS).unwrap(),
                from: None,
                to: Stage::Growth,
                exit_pending: false,
                cause: Cause::Event {
                    event_id: id(7),
                    kind: EventKind::Purchase,
                    summary: "p".into(),
                },
            }],
            orders,
            complaints: Complaints::default(),
            identity: IdentitySlot::default(),
            policies: BTreeMap::new(),
            renewal_intent: Some(IntentMark {
                intent: RenewalIntent::NotRenewing,
                at: T,
            }),
        }
    }

    /// The exact bytes: a change of format must show here (and bump
    /// `STATE_FORMAT`).
    #[test]
    fn exact_bytes() {
        assert_eq!(
            encoded(&LifecycleState::default()),
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // Format 1, growth, flags.
        let mut expected = vec![1, 2, EVER_PURCHASED | LAST_EVENT_AT | RENEWAL_INTENT];
        // Referrals, open complaints, open orders.
        expected.extend_from_slice(&[1, 0, 2]);
        // assessed_at: 1.6e9 s, zigzag 3.2e9 = 0xBEBC_2000: low 6 bits 0,
        // then 0x2FA_F080 as a varint.
        expected.extend_from_slice(&[0x80, 0x80, 0xE1, 0xEB, 0x17]);
        // since: -60 s (zigzag 119); last event: -1 µs (zigzag 1).
        expected.extend_from_slice(&[0x80 | 0x37, 0x01, 0x40 | 1]);
        // Relationship: flags, purchases, referrals, spend count; activity at the base.
        expected.extend_from_slice(&[ACTIVITY, 2, 0, 0, 0]);
        expected.extend_from_slice(id(7).as_bytes());
        // Gaps [-1], spend [].
        expected.extend_from_slice(&[1, 1, 0]);
        // One change: none → growth (1 << 3), -60 s, a purchase.
        expected.extend_from_slice(&[1, 8, 0x80 | 0x37, 0x01, 2]);
        expected.extend_from_slice(id(7).as_bytes());
        expected.extend_from_slice(&[1, b'p']);
        // Orders in id order, "o-10" before "o-2": id, flags (currency,
        // purchased), currency, amount (zigzag), paid, refunded.
        expected.extend_from_slice(&[2, 4, b'o', b'-', b'1', b'0', 3, b'C', b'N', b'Y', 9, 0, 0]);
        // The second repeats the currency of the first.
        expected.extend_from_slice(&[
            3,
            b'o',
            b'-',
            b'2',
            3 | ORDER_SAME_CURRENCY,
            0xD8,
            0x04,
            0,
            0,
        ]);
        // No complaints, no policies; not renewing, at the base.
        expected.extend_from_slice(&[0, 0, 1, 0]);
        let bytes = encoded(&sample());
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes), Some(sample()));
    }

    /// Long parts and long states.
    #[test]
    fn long_parts_round_trip() {
        let mut s = sample();
        s.churn = Some(Box::new(ChurnMark {
            event: id(1),
            reason: "r".repeat(1_000),
            voluntary: true,
        }));
        for i in 0..200u32 {
            s.changes.push(StageChange {
                at: DateTime::from_timestamp_micros(T + i64::from(i)).unwrap(),
                from: Some(Stage::Growth),
                to: Stage::Decline,
                exit_pending: i % 2 == 0,
                cause: Cause::Event {
                    event_id: id(u128::from(i)),
                    kind: EventKind::Complaint,
                    summary: "x".repeat(i as usize * 3),
                },
            });
            if let Some(t) = s.orders.tally_mut(&format!("o-{i:03}")) {
                t.amount = i64::from(i);
            }
        }
        let bytes = encoded(&s);
        assert!(bytes.len() > 10_000);
        assert_eq!(decode(&bytes), Some(s));
    }

    #[test]
    fn encode_appends() {
        let mut out = vec![9, 9];
        encode(&sample(), &mut out);
        assert_eq!(out[..2], [9, 9]);
        assert_eq!(out[2..], encoded(&sample()));
    }

    #[test]
    fn malformed_bytes_are_none() {
        let good = encoded(&sample());
        assert!(decode(&[]).is_none());
        // Another format tag.
        let mut other = good.clone();
        other[0] = 2;
        assert!(decode(&other).is_none());
        // Trailing bytes.
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).is_none());
        // An unknown flag.
        let mut flags = good.clone();
        flags[2] |= 0x80;
        assert!(decode(&flags).is_none());
        // An overlong varint (referrals 1 as 0x81 0x00).
        let mut overlong = good.clone();
        overlong.splice(3..4, [0x81, 0x00]);
        assert!(decode(&overlong).is_none());
        // A µs time that is whole seconds (since: -60 s written as µs).
        let default = encoded(&LifecycleState::default());
        let mut micros = default.clone();
        micros.splice(7..8, [0x40]);
        assert_eq!(decode(&micros), None);
        // A huge count with few bytes behind it.
        let mut count = default.clone();
        count.splice(14..15, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&count).is_none());
        // Orders out of id order.
        let mut swapped = sample();
        let mut orders = Orders::default();
        for id in ["b", "a"] {
            orders.push(id);
        }
        swapped.orders = orders;
        let bytes = encoded(&swapped);
        let at = bytes.windows(2).position(|w| w == [1, b'a']).unwrap();
        let mut unsorted = bytes.clone();
        unsorted[at + 1] = b'b';
        let b_at = bytes.windows(2).position(|w| w == [1, b'b']).unwrap();
        unsorted[b_at + 1] = b'a';
        assert!(decode(&unsorted).is_none());
        assert!(decode(&bytes).is_some());
        // Invalid UTF-8 in a summary.
        let mut utf8 = good.clone();
        let p = utf8.iter().position(|&b| b == b'p').unwrap();
        utf8[p] = 0xff;
        assert!(decode(&utf8).is_none());
    }

    fn time() -> impl Strategy<Value = i64> {
        prop_oneof![
            (-2_000_000_000i64..4_000_000_000).prop_map(|s| s * MICROS),
            -4_000_000_000_000_000i64..4_000_000_000_000_000,
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
        ]
    }

    /// A time a `DateTime<Utc>` can hold.
    fn datetime() -> impl Strategy<Value = DateTime<Utc>> {
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp_micros(),
            DateTime::<Utc>::MAX_UTC.timestamp_micros(),
        );
        prop_oneof![
            (1_500_000_000i64..1_700_000_000).prop_map(|s| s * MICROS),
            1_500_000_000_000_000i64..1_700_000_000_000_000,
            min..=max,
            Just(min),
            Just(max),
        ]
        .prop_map(|us| DateTime::from_timestamp_micros(us).unwrap_or_default())
    }

    fn event_id() -> impl Strategy<Value = EventId> {
        any::<u128>().prop_map(id)
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9-]{0,6}", "\\PC{0,10}"]
    }

    fn currency() -> impl Strategy<Value = Currency> {
        prop_oneof![
            Just(CNY),
            Just(Currency::USD),
            "[A-Z]{3}".prop_map(|c| c.parse().unwrap_or(CNY)),
        ]
    }

    fn stage() -> impl Strategy<Value = Stage> {
        proptest::sample::select(Stage::ALL.to_vec())
    }

    fn money() -> impl Strategy<Value = Money> {
        (any::<i64>(), currency()).prop_map(|(m, c)| Money::from_minor(m, c))
    }

    fn change() -> impl Strategy<Value = StageChange> {
        let cause = prop_oneof![
            (
                event_id(),
                proptest::sample::select(EventKind::ALL.to_vec()),
                text()
            )
                .prop_map(|(event_id, kind, summary)| Cause::Event {
                    event_id,
                    kind,
                    summary
                }),
            (
                proptest::sample::select(vec![
                    ElapsedRule::InactivityDecline,
                    ElapsedRule::InactivityExit,
                    ElapsedRule::ComplaintReply,
                    ElapsedRule::CoverLapseDecline,
                    ElapsedRule::CoverLapseExit,
                ]),
                any::<i64>(),
                event_id()
            )
                .prop_map(|(rule, threshold_secs, reference)| Cause::Elapsed {
                    rule,
                    threshold_secs,
                    reference
                }),
        ];
        (
            datetime(),
            proptest::option::of(stage()),
            stage(),
            any::<bool>(),
            cause,
        )
            .prop_map(|(at, from, to, exit_pending, cause)| StageChange {
                at,
                from,
                to,
                exit_pending,
                cause,
            })
    }

    fn relationship() -> impl Strategy<Value = Relationship> {
        (
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()),
            (
                proptest::option::of(time()),
                proptest::option::of(time()),
                proptest::option::of(any::<i64>()),
                proptest::option::of((time(), event_id())),
                proptest::option::of((time(), event_id(), time(), text(), any::<bool>())),
            ),
            (
                proptest::option::of((money(), money())),
                proptest::option::of((any::<u32>(), time(), time())),
            ),
            proptest::option::of(currency()),
            proptest::collection::vec(any::<i64>(), 0..6),
            proptest::collection::vec(any::<i64>(), 0..6),
        )
            .prop_map(
                |(
                    (purchases, referrals, spend_count, activity_is_bill),
                    (first_purchase_at, last_purchase_at, typical_gap, activity, cover),
                    (drop, billing),
                    spend_currency,
                    gaps,
                    spend,
                )| Relationship {
                    purchases,
                    referrals,
                    spend_count,
                    activity_is_bill,
                    first_purchase_at,
                    last_purchase_at,
                    typical_gap,
                    activity,
                    cover: cover.map(|(end, reference, since, order_id, cancelled)| {
                        Box::new(Cover {
                            end,
                            reference,
                            since,
                            order_id,
                            cancelled,
                        })
                    }),
                    spend_drop: drop.map(|(recent_average, earlier_average)| {
                        Box::new(SpendDropMark {
                            recent_average,
                            earlier_average,
                        })
                    }),
                    billing: billing.map(|(bills, first_at, last_at)| {
                        Box::new(Billing {
                            bills,
                            first_at,
                            last_at,
                        })
                    }),
                    spend_currency,
                    gaps,
                    spend,
                },
            )
    }

    fn orders() -> impl Strategy<Value = Orders> {
        let tally = (
            proptest::option::of(currency()),
            any::<[bool; 3]>(),
            any::<[i64; 3]>(),
        )
            .prop_map(
                |(currency, [purchased, cancelled, mixed_currency], [amount, paid, refunded])| {
                    OrderTally {
                        currency,
                        purchased,
                        amount,
                        paid,
                        refunded,
                        cancelled,
                        mixed_currency,
                    }
                },
            );
        proptest::collection::vec((text(), tally), 0..8).prop_map(|list| {
            let mut orders = Orders::default();
            for (id, tally) in list {
                if let Some(t) = orders.tally_mut(&id) {
                    *t = tally;
                }
            }
            orders
        })
    }

    fn identity() -> impl Strategy<Value = Identity> {
        let tagged = || {
            proptest::option::of(
                (text(), any::<i32>()).prop_map(|(value, year)| Tagged { value, year }),
            )
        };
        let list = || proptest::option::of((proptest::collection::vec(text(), 0..4), any::<i32>()));
        (tagged(), tagged(), tagged(), tagged(), list(), list()).prop_map(
            |(licence_plate, national_id, phone, email, policy_numbers, external_ids)| Identity {
                licence_plate,
                national_id,
                phone,
                email,
                policy_numbers,
                external_ids,
            },
        )
    }

    /// Any state, consistent or not: every field and every option.
    fn state() -> impl Strategy<Value = LifecycleState> {
        let complaint = (
            time(),
            event_id(),
            proptest::sample::select(ComplaintStep::ALL.to_vec()),
        )
            .prop_map(|(received_at, received_event, step)| ComplaintTrack {
                received_at,
                received_event,
                step,
            });
        let policy = (
            proptest::option::of(any::<i32>()),
            time(),
            any::<i32>(),
            text(),
        )
            .prop_map(|(valid_until, bought_at, seen_year, order_id)| PolicyTerm {
                valid_until,
                bought_at,
                seen_year,
                order_id,
            });
        let intent = proptest::sample::select(vec![
            RenewalIntent::Continue,
            RenewalIntent::NotRenewing,
            RenewalIntent::Considering,
        ]);
        (
            (
                proptest::option::of(stage()),
                any::<[bool; 2]>(),
                any::<[u32; 3]>(),
                time(),
                time(),
                proptest::option::of(time()),
            ),
            proptest::option::of((event_id(), text(), any::<bool>())),
            relationship(),
            proptest::collection::vec(change(), 0..6),
            orders(),
            proptest::collection::btree_map(text(), complaint, 0..4),
            (
                prop_oneof![
                    Just(None),
                    Just(Some(Identity::EMPTY)),
                    identity().prop_map(Some)
                ],
                proptest::collection::btree_map(text(), policy, 0..4),
                proptest::option::of((intent, time())),
            ),
        )
            .prop_map(
                |(
                    (stage, [exit_pending, ever_purchased], counters, since, assessed_at, last),
                    churn,
                    relationship,
                    changes,
                    orders,
                    complaints,
                    (identity, policies, intent),
                )| LifecycleState {
                    stage,
                    exit_pending,
                    ever_purchased,
                    referrals: counters[0],
                    open_complaints: counters[1],
                    open_orders: counters[2],
                    since,
                    assessed_at,
                    last_event_at: last,
                    churn: churn.map(|(event, reason, voluntary)| {
                        Box::new(ChurnMark {
                            event,
                            reason,
                            voluntary,
                        })
                    }),
                    relationship,
                    changes,
                    orders,
                    complaints: Complaints(complaints.into_iter().collect()),
                    identity: IdentitySlot(identity.map(Box::new)),
                    policies,
                    renewal_intent: intent.map(|(intent, at)| IntentMark { intent, at }),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Every state reads back equal, and its bytes are the bytes of what
        /// was read (also with a buffer already holding other bytes).
        #[test]
        fn states_round_trip(s in state()) {
            let bytes = encoded(&s);
            let back = decode(&bytes);
            prop_assert_eq!(back.as_ref(), Some(&s));
            prop_assert_eq!(back.map(|b| encoded(&b)), Some(bytes.clone()));
            // The orders read are laid out as `Orders::push` lays them out in
            // id order (equality alone ignores the index of hashes).
            let mut pushed = Orders::default();
            for (id, tally) in s.orders.sorted() {
                if let Some(i) = pushed.push(id) {
                    pushed.tallies[i] = tally.clone();
                }
            }
            let read = decode(&bytes).unwrap_or_default().orders;
            prop_assert_eq!(&read.ids, &pushed.ids);
            prop_assert_eq!(&read.index, &pushed.index);
            prop_assert_eq!(&read.tallies, &pushed.tallies);
            let mut out = vec![7u8; 3];
            encode(&s, &mut out);
            prop_assert_eq!(&out[3..], &bytes[..]);
        }

        /// Arbitrary bytes never panic; what decodes re-encodes to the same bytes.
        #[test]
        fn arbitrary_bytes_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..200),
            tagged in any::<bool>(),
        ) {
            let mut bytes = if tagged { vec![FORMAT] } else { Vec::new() };
            bytes.extend_from_slice(&tail);
            if let Some(read) = decode(&bytes) {
                prop_assert_eq!(encoded(&read), bytes);
            }
        }
    }

    proptest! {
        // Each case decodes every truncation and ~5 corruptions per byte.
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Truncations are `None`; single-byte corruptions never panic, and
        /// whatever they decode to re-encodes to exactly those bytes.
        #[test]
        fn truncated_and_corrupted_bytes_never_panic(s in state(), xor in 1u8..=255) {
            let bytes = encoded(&s);
            for n in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..n]), None);
            }
            for i in 0..bytes.len() {
                for mask in [xor, 0x01, 0x40, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[i] ^= mask;
                    if let Some(read) = decode(&bad) {
                        prop_assert_eq!(encoded(&read), bad);
                    }
                }
            }
        }
    }

    /// Every time delta reads back, in both forms, near the edges too.
    #[test]
    fn times_round_trip() {
        let mut samples = vec![0, 1, -1, MICROS, -MICROS, i64::MAX, i64::MIN, i64::MAX - 1];
        for shift in 0..63 {
            let v = 1i64 << shift;
            samples.extend([
                v,
                -v,
                v - 1,
                v.saturating_mul(MICROS),
                (v / MICROS) * MICROS,
            ]);
        }
        for base in [0, T, i64::MAX, i64::MIN] {
            for &d in &samples {
                let mut out = Vec::new();
                put_time(&mut out, d);
                assert!(out.len() <= TIME_MAX);
                let mut r = Reader { bytes: &out };
                assert_eq!(r.time(base), Some(base.wrapping_add(d)), "{d}");
                assert!(r.bytes.is_empty());
            }
        }
    }
}
