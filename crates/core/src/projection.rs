//! Projections: pure folds of each customer's events into a state, kept up to
//! date by a runtime that stores state and checkpoint atomically in the log's
//! own RocksDB.
//!
//! A [`Projection`] is `state + event → state`, nothing else: no clock, no I/O.
//! Each customer's events are folded in **business-time order** — by
//! `(occurred_at, event_id)` — so a late event (one that happened before events
//! already folded) gives the same state as if it had arrived in order: the
//! runtime refolds that customer from the stream. Views that depend on time
//! ("inactive for 90 days") are evaluated by the projection crates from a state
//! *as of* a time passed in.
//!
//! The [`Projector`] runtime:
//! * catches up from its checkpoint, then tails the log ([`Projector::follow`]);
//! * writes the changed states and the checkpoint in one `WriteBatch`, so after
//!   any crash the stored states are exactly those of the checkpoint (a
//!   catch-up that fails is handled as a crash: the next one starts again
//!   from the checkpoint);
//! * rebuilds from zero when the projection's [`Projection::version`] changes,
//!   and refolds any customer whose stored state no longer decodes;
//! * keeps a snapshot every [`SNAPSHOT_EVERY`] events per customer, so a view
//!   as of a past time costs O(events since the nearest snapshot).
//!
//! States are stored with postcard by default: use plain structs, enums and
//! `BTreeMap`s (no `#[serde(tag)]`, `untagged` or `flatten`), which also makes
//! the bytes deterministic. A projection may store its states in an encoding of
//! its own ([`Projection::encode_state`], [`Projection::decode_state`]).
//!
//! ```
//! use clientele_core::projection::{Projection, Projector};
//! use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
//! use chrono::Utc;
//!
//! /// Counts each customer's purchases.
//! struct Purchases;
//! impl Projection for Purchases {
//!     type State = u32;
//!     fn name(&self) -> &str { "purchases" }
//!     fn version(&self) -> u64 { 1 }
//!     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
//!         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let c = CustomerId::new_random();
//! let p = Purchase::new("o-1", "10".parse()?, "EUR".parse()?);
//! store.append(c, ExpectedVersion::Any, vec![NewEvent::new(Utc::now(), p)])?;
//! let mut projector = Projector::open(&store, Purchases)?;
//! projector.catch_up()?;
//! assert_eq!(projector.state(c)?, Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rocksdb::{ReadOptions, WriteBatch, WriteOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::envelope::RecordedEvent;
use crate::error::{Error, Result};
use crate::event::EventPayload;
use crate::ids::{CustomerId, EventId};
use crate::store::Store;
use crate::varint;

/// A snapshot of a customer's state is kept every this many folded events.
pub const SNAPSHOT_EVERY: u64 = 64;

/// Events folded between two commits of state and checkpoint while following.
const CHUNK: usize = 50_000;

/// Catch-up commits once this many customers have changed since the last
/// commit. Every commit rewrites each changed state, and in a log where
/// customers interleave nearly all of them change between two commits, so
/// catch-up (and a rebuild) commits by changed customers, not by events: each
/// state is written about once per this many customers, not once per
/// [`CHUNK`] events.
const DIRTY_LIMIT: usize = 100_000;

/// Catch-up also commits after this many events (bounds the work redone after
/// a crash)…
const MAX_PENDING: u64 = 1_000_000;

/// …or once the snapshots taken since the last commit hold this many bytes.
const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// Events decoded ahead of the fold during catch-up (see `Cache::warm`).
const LOOKAHEAD: usize = 16;

/// Most customer states kept in memory between commits.
const CACHE_LIMIT: usize = 500_000;

/// Most bytes a commit reserves for its batch before writing into it.
const BATCH_RESERVE_MAX: usize = 256 << 20;

/// A pure fold of one customer's events.
pub trait Projection: Send + Sync + 'static {
    /// The per-customer state. Must round-trip through postcard (or through
    /// the projection's own [`Projection::encode_state`]).
    type State: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;

    /// A stable name: keys the stored states and the checkpoint.
    fn name(&self) -> &str;

    /// Changes whenever `apply` or the state's shape changes (e.g. a hash of the
    /// policy): a different version makes the runtime rebuild from zero.
    fn version(&self) -> u64;

    /// Folds one event into the state. Called in business-time order.
    fn apply(&self, state: &mut Self::State, event: &RecordedEvent);

    /// Whether `apply` reads personal data (the sealed fields: names,
    /// identifiers, policy numbers, narratives, notes, prospect references;
    /// `docs/privacy.md`) or the event's `personal_data` status. Default:
    /// true. A projection that returns false is fed events read through
    /// [`Store::public_only`]: their personal fields are empty and never
    /// decrypted, so folding it costs no decryption and leaves nothing in
    /// the access log. Its states must then be the same either way; changing
    /// the answer for a projection whose `apply` reads such fields changes
    /// its states, so change [`Projection::version`] with it.
    fn reads_personal_data(&self) -> bool {
        true
    }

    /// Terms under which the customer is found with [`Projector::lookup`],
    /// [`Projector::lookup_prefix`] and [`Projector::lookup_range`] (e.g.
    /// `plate:京A12345`, `renewal_due:2024-07-01`). The runtime keeps the index
    /// in step with the state. Default: none.
    fn index_terms(&self, _state: &Self::State) -> Vec<String> {
        Vec::new()
    }

    /// Appends the stored form of `state` to `out` (which may already hold
    /// other states: append, never clear). Default: postcard.
    ///
    /// A projection with many or large states may write its own compact
    /// encoding; it must be deterministic (the same state, the same bytes) and
    /// read back to an equal state by [`Projection::decode_state`]. Change
    /// [`Projection::version`] with the format, so that states stored in the
    /// old one are rebuilt.
    ///
    /// # Errors
    /// [`Error::Incompatible`] when the state cannot be encoded.
    fn encode_state(&self, state: &Self::State, out: &mut Vec<u8>) -> Result<()> {
        postcard::serialize_with_flavor(state, Append(out)).map_err(|e| {
            Error::Incompatible(format!(
                "projection {}: state does not encode: {e}",
                self.name()
            ))
        })
    }

    /// Reads a state written by [`Projection::encode_state`]: `None` when the
    /// bytes do not decode, and then the runtime refolds the customer from its
    /// stream. Must not panic, whatever the bytes. Default: postcard.
    fn decode_state(&self, bytes: &[u8]) -> Option<Self::State> {
        postcard::from_bytes(bytes).ok()
    }
}

/// The point of view of a population walk, in both of the log's times: the
/// events that occurred by `occurred` (business time), and, when `known_at`
/// is set, only those recorded by then: "what did we know at R about T".
///
/// A plain time converts into the view of everything recorded so far, so a
/// walk taking `impl Into<AsOf>` is called with a time as before.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use clientele_core::projection::AsOf;
///
/// let t = Utc.with_ymd_and_hms(2025, 6, 30, 0, 0, 0).single().ok_or("time")?;
/// let r = Utc.with_ymd_and_hms(2025, 7, 2, 9, 0, 0).single().ok_or("time")?;
/// assert_eq!(AsOf::from(t), AsOf { occurred: t, known_at: None });
/// assert_eq!(AsOf::known_at(t, r).known_at, Some(r));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsOf {
    /// Business time: events that occurred at or before it.
    pub occurred: DateTime<Utc>,
    /// Recorded time: only events recorded at or before it (None: every
    /// event recorded so far).
    pub known_at: Option<DateTime<Utc>>,
}

impl AsOf {
    /// The world as it was at business time `occurred`, as the log knew it at
    /// recorded time `known_at`.
    pub fn known_at(occurred: DateTime<Utc>, known_at: DateTime<Utc>) -> Self {
        Self {
            occurred,
            known_at: Some(known_at),
        }
    }
}

impl From<DateTime<Utc>> for AsOf {
    fn from(occurred: DateTime<Utc>) -> Self {
        Self {
            occurred,
            known_at: None,
        }
    }
}

/// The order events are folded in: business time, then event id (so any
/// arrival order of the same events gives the same order).
pub fn fold_key(event: &RecordedEvent) -> (DateTime<Utc>, EventId) {
    (event.occurred_at, event.event_id)
}

fn compare(a: &RecordedEvent, b: &RecordedEvent) -> Ordering {
    fold_key(a).cmp(&fold_key(b))
}

/// Folds `events` (any order) from the default state, in business-time order.
pub fn fold<'a, P: Projection>(
    projection: &P,
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> P::State {
    let mut sorted: Vec<&RecordedEvent> = events.into_iter().collect();
    sorted.sort_by(|a, b| compare(a, b));
    let mut state = P::State::default();
    for event in sorted {
        projection.apply(&mut state, event);
    }
    state
}

/// What is stored per customer (and per snapshot). `repr(C)`: the header a
/// fold checks (version, last key) first, the state right after it.
///
/// Stored as the header in postcard, then the state in the projection's
/// encoding ([`encode_entry`]): with the default encoding these are the
/// bytes postcard writes for the whole struct.
#[derive(Debug, Clone)]
#[repr(C)]
struct Entry<S> {
    /// Every event with stream version ≤ this is folded in.
    version: u64,
    /// Fold key of the last event folded: (occurred_at µs, event id).
    last_key: (i64, [u8; 16]),
    /// Folded events (equals `version`, kept for snapshot spacing).
    folded: u64,
    /// Index terms written for this state (so they can be removed when they change).
    terms: Vec<String>,
    state: S,
}

impl<S: Default> Entry<S> {
    /// The entry of a customer with no event folded.
    fn empty() -> Self {
        Entry {
            version: 0,
            last_key: (i64::MIN, [0; 16]),
            folded: 0,
            terms: Vec::new(),
            state: S::default(),
        }
    }
}

/// [`Entry`]'s header, decoded.
#[derive(Deserialize)]
struct Header {
    version: u64,
    last_key: (i64, [u8; 16]),
    folded: u64,
    terms: Vec<String>,
}

/// Appends `entry`'s stored form to `out`: the header, then the state.
fn encode_entry<P: Projection>(
    projection: &P,
    entry: &Entry<P::State>,
    out: &mut Vec<u8>,
) -> Result<()> {
    // The header as postcard writes it (varints, zigzag for the signed
    // time, the id's 16 bytes, length-prefixed strings), by hand: through
    // serde it cost ~650 instructions per state in a rebuild.
    let (micros, id) = &entry.last_key;
    out.reserve(2 * 10 + 10 + 16 + 10);
    varint::push_u64(out, entry.version);
    varint::push_i64(out, *micros);
    out.extend_from_slice(id);
    varint::push_u64(out, entry.folded);
    varint::push_u64(out, entry.terms.len() as u64);
    for term in &entry.terms {
        varint::push_u64(out, term.len() as u64);
        out.extend_from_slice(term.as_bytes());
    }
    projection.encode_state(&entry.state, out)
}

/// Reads an entry written by [`encode_entry`]; `None` if it does not decode.
fn decode_entry<P: Projection>(projection: &P, bytes: &[u8]) -> Option<Entry<P::State>> {
    let (header, rest) = postcard::take_from_bytes::<Header>(bytes).ok()?;
    Some(Entry {
        version: header.version,
        last_key: header.last_key,
        folded: header.folded,
        terms: header.terms,
        state: projection.decode_state(rest)?,
    })
}

fn key_of(event: &RecordedEvent) -> (i64, [u8; 16]) {
    (
        event.occurred_at.timestamp_micros(),
        *event.event_id.as_bytes(),
    )
}

/// A population replay reads the whole log (once per group) instead of each
/// customer's stream when the streams to replay hold at least 1 / this of
/// the log's events.
const SCAN_SHARE: u64 = 16;

/// Most events (counted by stream length) one pass of a population replay
/// holds in memory.
const SCAN_BUDGET: u64 = 1 << 19;

/// Consecutive groups of `needed` (ascending ids) of at most `budget`
/// events each (a longer stream is a group by itself).
fn scan_groups(needed: &[(CustomerId, u64)], budget: u64) -> Vec<Vec<CustomerId>> {
    let mut groups: Vec<Vec<CustomerId>> = Vec::new();
    let mut size = 0u64;
    for &(customer, events) in needed {
        match groups.last_mut() {
            Some(group) if size.saturating_add(events) <= budget => {
                group.push(customer);
                size += events;
            }
            _ => {
                groups.push(vec![customer]);
                size = events;
            }
        }
    }
    groups
}

/// Records (position, bytes) read by a population scan, by customer.
type Records = std::collections::HashMap<CustomerId, Vec<(u64, Vec<u8>)>>;

/// Receives the state as of the k-th time of a replay.
type EmitAt<'e, S, E> = dyn FnMut(usize, &S) -> std::result::Result<(), E> + 'e;

/// A state handed out by a population walk: the stored one when it is not
/// needed again, else a reference.
enum StateAt<'a, S> {
    Ref(&'a S),
    Own(S),
}

impl<S: Clone> StateAt<'_, S> {
    fn as_ref(&self) -> &S {
        match self {
            StateAt::Ref(s) => s,
            StateAt::Own(s) => s,
        }
    }

    fn into_owned(self) -> S {
        match self {
            StateAt::Ref(s) => s.clone(),
            StateAt::Own(s) => s,
        }
    }
}

const TAG_STATE: u8 = 0;
const TAG_SNAPSHOT: u8 = 1;
const TAG_INDEX: u8 = 2;

fn index_prefix(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 40);
    k.extend_from_slice(name.as_bytes());
    k.push(0xff);
    k.push(TAG_INDEX);
    k
}

fn index_key(name: &str, term: &str, customer: &CustomerId) -> Vec<u8> {
    let mut k = index_prefix(name);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(customer.as_bytes());
    k
}

fn state_key(name: &str, customer: &CustomerId) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 18);
    k.extend_from_slice(name.as_bytes());
    k.push(0xff);
    k.push(TAG_STATE);
    k.extend_from_slice(customer.as_bytes());
    k
}

fn snapshot_prefix(name: &str, customer: &CustomerId) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 42);
    k.extend_from_slice(name.as_bytes());
    k.push(0xff);
    k.push(TAG_SNAPSHOT);
    k.extend_from_slice(customer.as_bytes());
    k
}

fn snapshot_key(name: &str, customer: &CustomerId, key: (i64, [u8; 16])) -> Vec<u8> {
    let mut k = snapshot_prefix(name, customer);
    // Flip the sign bit so that signed times sort as unsigned bytes.
    k.extend_from_slice(&((key.0 as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&key.1);
    k
}

fn name_range(name: &str) -> (Vec<u8>, Vec<u8>) {
    let mut from = name.as_bytes().to_vec();
    from.push(0xff);
    let mut to = from.clone();
    to.push(0xff);
    (from, to)
}

fn meta_key(name: &str) -> Vec<u8> {
    format!("projection:{name}").into_bytes()
}

/// An entry held in memory by the runtime. `repr(C)`: the customer (compared
/// on lookup) next to the entry's header, then the state, so that a fold
/// touches a run of adjacent cache lines.
#[repr(C)]
struct Slot<S> {
    customer: CustomerId,
    /// Changed since the last commit (then its index is in `Projector::dirty`).
    dirty: bool,
    entry: Entry<S>,
}

/// The entries held in memory: a dense vector of slots behind an
/// open-addressing index (8 bytes a customer, so it stays in cache): each
/// bucket holds a slot number and 32 bits of the customer's hash, and the
/// key itself is compared in the slot, which is read next anyway.
struct Cache<S> {
    /// Per bucket: hash tag << 32 | (slot number + 1); 0 is empty. The
    /// length is 0 or a power of two.
    index: Vec<u64>,
    /// Keys the hash (random per process, like `HashMap`'s).
    seed: u64,
    slots: Vec<Slot<S>>,
    /// Slots changed since the last commit, once each.
    dirty: Vec<u32>,
}

impl<S> Cache<S> {
    fn new() -> Self {
        use std::hash::BuildHasher;
        Self {
            index: Vec::new(),
            seed: std::collections::hash_map::RandomState::new().hash_one(0x636c_6965_6e74u64),
            slots: Vec::new(),
            dirty: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.dirty.clear();
    }

    fn hash(&self, customer: &CustomerId) -> u64 {
        let b = customer.as_bytes();
        let half = |i: usize| {
            let mut h = [0u8; 8];
            h.copy_from_slice(b.get(i..i + 8).unwrap_or(&[0; 8]));
            u64::from_le_bytes(h)
        };
        // Multiply-xorshift mixing of both halves under the seed.
        let mut h = (half(0) ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 29) ^ half(8)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    }

    /// The slot of `customer`, if cached.
    fn slot(&self, customer: &CustomerId) -> Option<u32> {
        let mask = self.index.len().checked_sub(1)?;
        let hash = self.hash(customer);
        let tag = hash >> 32;
        let mut b = hash as usize & mask;
        loop {
            let bucket = *self.index.get(b)?;
            let slot = (bucket as u32).checked_sub(1)?;
            if bucket >> 32 == tag
                && self
                    .slots
                    .get(slot as usize)
                    .is_some_and(|s| s.customer == *customer)
            {
                return Some(slot);
            }
            b = (b + 1) & mask;
        }
    }

    /// Indexes slot `slot`, the last one (its customer is not indexed yet).
    fn index_slot(&mut self, slot: u32) {
        if self.slots.len() * 2 > self.index.len() {
            // Grow to keep the load at most 1/2, and reindex.
            let size = (self.slots.len() * 2 + 1).next_power_of_two().max(64);
            self.index = vec![0; size];
            for i in 0..slot {
                self.insert_bucket(i);
            }
        }
        self.insert_bucket(slot);
    }

    fn insert_bucket(&mut self, slot: u32) {
        let Some(customer) = self.slots.get(slot as usize).map(|s| s.customer) else {
            return;
        };
        let mask = self.index.len().saturating_sub(1);
        let hash = self.hash(&customer);
        let mut b = hash as usize & mask;
        while let Some(bucket) = self.index.get_mut(b) {
            if *bucket == 0 {
                *bucket = (hash >> 32) << 32 | u64::from(slot + 1);
                return;
            }
            b = (b + 1) & mask;
        }
    }

    /// Looks the customers' entries up and reads their headers: called for
    /// the next few events before they are folded, it has their loads in
    /// flight together (no unsafe prefetch intrinsics needed). Returns the
    /// slots found, in order, for [`Cache::hinted`].
    fn warm<'a>(
        &self,
        customers: impl Iterator<Item = &'a CustomerId>,
    ) -> [Option<u32>; LOOKAHEAD] {
        let mut touched = 0u64;
        let mut found = [None; LOOKAHEAD];
        for (customer, out) in customers.zip(found.iter_mut()) {
            *out = self.slot(customer);
            if let Some(slot) = out.and_then(|i| self.slots.get(i as usize)) {
                touched ^= slot.entry.version ^ slot.entry.folded;
            }
        }
        std::hint::black_box(touched);
        found
    }

    /// The slot of `customer`: `hint` (a slot [`Cache::warm`] found) when it
    /// still holds that customer, else looked up. Slots only move when the
    /// cache is cleared, and the customer is compared, so a stale hint costs
    /// a lookup, never a wrong slot.
    fn hinted(&self, customer: &CustomerId, hint: Option<u32>) -> Option<u32> {
        match hint {
            Some(i)
                if self
                    .slots
                    .get(i as usize)
                    .is_some_and(|s| s.customer == *customer) =>
            {
                Some(i)
            }
            _ => self.slot(customer),
        }
    }

    fn get(&self, customer: &CustomerId) -> Option<&Entry<S>> {
        let i = self.slot(customer)?;
        self.slots.get(i as usize).map(|s| &s.entry)
    }

    /// Marks slot `i` as changed since the last commit.
    fn touch(&mut self, i: u32) {
        if let Some(slot) = self.slots.get_mut(i as usize) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(i);
            }
        }
    }

    /// Caches the stored `entry` of `customer`, who is not cached yet, as
    /// unchanged; returns its slot.
    fn put_clean(&mut self, customer: CustomerId, entry: Entry<S>) -> u32 {
        let i = self.slots.len() as u32;
        self.slots.push(Slot {
            customer,
            dirty: false,
            entry,
        });
        self.index_slot(i);
        i
    }

    /// Caches `entry` for `customer` (replacing any cached one) as changed.
    fn put_dirty(&mut self, customer: CustomerId, entry: Entry<S>) {
        let i = match self.slot(&customer) {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i as usize) {
                    slot.entry = entry;
                }
                i
            }
            None => self.put_clean(customer, entry),
        };
        self.touch(i);
    }
}

/// Keeps one projection up to date in the store's database.
pub struct Projector<P: Projection> {
    store: Store,
    projection: P,
    position: u64,
    /// Entries folded (committed or not), bounded by `CACHE_LIMIT`.
    entries: Cache<P::State>,
    /// Every stored state is in `entries` (from a reset until the cache is
    /// dropped), so a customer missing there has no stored state.
    complete: bool,
    snapshots: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bytes held in `snapshots`.
    snapshot_bytes: usize,
    dropped_snapshots: Vec<(Vec<u8>, Vec<u8>)>,
    pending: u64,
    rebuilt: bool,
    /// Mean stored size of the states of the last commit (sizes the next
    /// commit's batch).
    state_bytes: usize,
    /// When population walks read the log sequentially, and how much of it
    /// at a time: `(SCAN_SHARE, SCAN_BUDGET)` unless a test sets them.
    scan: (u64, u64),
}

impl<P: Projection> Projector<P> {
    /// Sets when population walks read the whole log instead of each stream
    /// (`share`: when the streams to replay hold 1/share of the log or more;
    /// 0 never, `u64::MAX` always) and the events of stream one pass holds.
    /// The answers do not depend on it; tests use it to run both paths.
    #[doc(hidden)]
    pub fn with_population_scan(mut self, share: u64, budget: u64) -> Self {
        self.scan = (share, budget.max(1));
        self
    }

    /// Opens the projection's stored state; rebuilds from zero (lazily, at the
    /// next catch-up) when the stored version differs.
    pub fn open(store: &Store, projection: P) -> Result<Self> {
        let stored = store.load_checkpoint_raw(&meta_key(projection.name()))?;
        let mut projector = Self {
            // Whatever handle it is given: states must not depend on it.
            store: store.with_personal_data(projection.reads_personal_data()),
            projection,
            position: 0,
            entries: Cache::new(),
            complete: false,
            snapshots: Vec::new(),
            snapshot_bytes: 0,
            dropped_snapshots: Vec::new(),
            pending: 0,
            rebuilt: false,
            state_bytes: 256,
            scan: (SCAN_SHARE, SCAN_BUDGET),
        };
        let version = projector.projection.version();
        match stored.as_deref().map(decode_meta) {
            Some(Some((position, stored))) if stored == version => projector.position = position,
            Some(Some((_, stored))) => {
                tracing::info!(
                    projection = projector.projection.name(),
                    stored_version = stored,
                    version,
                    "projection version changed: rebuilding from zero"
                );
                projector.reset()?;
            }
            Some(None) => {
                tracing::warn!(
                    projection = projector.projection.name(),
                    "projection checkpoint does not decode: rebuilding from zero"
                );
                projector.reset()?;
            }
            None => {
                tracing::debug!(
                    projection = projector.projection.name(),
                    "no stored projection: building from zero"
                );
                projector.reset()?;
            }
        }
        Ok(projector)
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The store the projection folds.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The last global position folded in and committed.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whether the last `open` or `rebuild` started from zero.
    pub fn was_rebuilt(&self) -> bool {
        self.rebuilt
    }

    /// Drops every stored state and snapshot and the checkpoint.
    fn reset(&mut self) -> Result<()> {
        if self.store.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let (from, to) = name_range(self.projection.name());
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.store.projections_cf()?, from, to);
        batch.put_cf(
            self.store.checkpoints_cf()?,
            meta_key(self.projection.name()),
            encode_meta(0, self.projection.version()),
        );
        self.store.db().write(batch)?;
        self.position = 0;
        self.entries.clear();
        self.complete = true;
        self.snapshots.clear();
        self.snapshot_bytes = 0;
        self.dropped_snapshots.clear();
        self.pending = 0;
        self.rebuilt = true;
        Ok(())
    }

    /// Rebuilds from zero: drops all state, then folds the whole log.
    pub fn rebuild(&mut self) -> Result<u64> {
        self.reset()?;
        self.catch_up()
    }

    /// Folds every event committed after the checkpoint; returns the new position.
    ///
    /// # Errors
    /// A store error, a record that fails its integrity checks, or a state
    /// that does not encode. A catch-up that fails leaves the projector as a
    /// crash would: what it folded since the last commit is dropped, and the
    /// next catch-up starts again from the stored checkpoint and states (so
    /// [`Projector::state`] shows committed states only). Keeping it would
    /// be wrong on retry: a failed commit has already taken index changes
    /// and snapshots out of memory into its batch.
    pub fn catch_up(&mut self) -> Result<u64> {
        let from = self.position;
        let started = std::time::Instant::now();
        let result = self.fold_to_head();
        match &result {
            Ok(to) if *to > from => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                let (projection, events) = (self.projection.name(), to - from);
                if from == 0 {
                    tracing::info!(projection, events, elapsed_ms, "projection built from zero");
                } else {
                    tracing::debug!(projection, from, to, events, elapsed_ms, "caught up");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(
                    projection = self.projection.name(),
                    from,
                    error = %e,
                    "catch-up failed: what it folded since the last commit is dropped"
                );
                self.discard_uncommitted();
            }
        }
        result
    }

    /// [`Projector::catch_up`]'s work.
    fn fold_to_head(&mut self) -> Result<u64> {
        let store = self.store.clone();
        // A few events decoded ahead into reused events (their strings are
        // reused too): their cached entries are looked up together before
        // any is folded, so the memory loads of those entries overlap
        // instead of each fold waiting for its own.
        let mut ahead: Vec<RecordedEvent> = (0..LOOKAHEAD)
            .map(|_| crate::codec::blank_event())
            .collect();
        // Their `occurred_at` in µs, as the records hold it (the fold key).
        let mut micros = [0i64; LOOKAHEAD];
        let mut buffers = crate::codec::DecodeBuffers::default();
        loop {
            let from = self.position + self.pending + 1;
            let mut reached_end = true;
            let mut events = store.read_range(from, None)?;
            'scan: loop {
                let mut decoded = 0;
                let mut failed = None;
                for (event, at) in ahead.iter_mut().zip(micros.iter_mut()) {
                    match events.next_into(event, &mut buffers) {
                        None => break,
                        Some(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Some(Ok(t)) => {
                            *at = t;
                            decoded += 1;
                        }
                    }
                }
                let batch = ahead.get(..decoded).unwrap_or_default();
                self.prefetch(batch)?;
                let slots = self.entries.warm(batch.iter().map(|e| &e.customer_id));
                for ((event, &at), &hint) in batch.iter().zip(micros.iter()).zip(slots.iter()) {
                    self.fold_event(event, (at, *event.event_id.as_bytes()), hint)?;
                    if self.entries.dirty.len() >= DIRTY_LIMIT
                        || self.pending >= MAX_PENDING
                        || self.snapshot_bytes >= MAX_SNAPSHOT_BYTES
                    {
                        // The events decoded ahead are read again after the commit.
                        reached_end = false;
                        break 'scan;
                    }
                }
                if let Some(e) = failed {
                    return Err(e);
                }
                if decoded < LOOKAHEAD {
                    break;
                }
            }
            self.commit()?;
            if reached_end {
                return Ok(self.position);
            }
        }
    }

    /// Catches up, then tails the log until `stop` resolves, committing after
    /// each burst of events. On error, as [`Projector::catch_up`].
    pub async fn follow(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<u64> {
        let result = self.tail(stop).await;
        if let Err(e) = &result {
            tracing::warn!(
                projection = self.projection.name(),
                position = self.position,
                error = %e,
                "following the log failed: what it folded since the last commit is dropped"
            );
            self.discard_uncommitted();
        }
        result
    }

    /// [`Projector::follow`]'s work.
    async fn tail(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<u64> {
        self.catch_up()?;
        let mut subscription = self.store.subscribe(self.position + 1);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                next = subscription.next() => {
                    match next? {
                        Some(event) => {
                            self.fold_event(&event, key_of(&event), None)?;
                            if self.pending as usize >= CHUNK || subscription.position() >= self.store.head() {
                                self.commit()?;
                            }
                        }
                        None => break,
                    }
                }
            }
        }
        self.commit()?;
        Ok(self.position)
    }

    /// Reads, in one multi-get, the stored entries of the customers of
    /// `events` that are not cached (unless every stored state is cached,
    /// as in a rebuild), so that their events fold on the fast path instead
    /// of each looking its state up alone. First events of a stream are
    /// left out: a new customer has no stored state to read.
    fn prefetch(&mut self, events: &[RecordedEvent]) -> Result<()> {
        if self.complete {
            return Ok(());
        }
        let name = self.projection.name();
        let mut missing: Vec<(Vec<u8>, CustomerId)> = events
            .iter()
            .filter(|e| e.version > 1 && self.entries.slot(&e.customer_id).is_none())
            .map(|e| (state_key(name, &e.customer_id), e.customer_id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let cf = self.store.projections_cf()?;
        let values =
            self.store
                .db()
                .batched_multi_get_cf(cf, missing.iter().map(|(key, _)| key), true);
        for ((_, customer), value) in missing.into_iter().zip(values) {
            // A state that no longer decodes is refolded when its event is
            // folded, as without the prefetch.
            if let Some(entry) = value?.and_then(|bytes| self.entry_of(&customer, &bytes)) {
                self.entries.put_clean(customer, entry);
            }
        }
        Ok(())
    }

    /// A stored entry of `customer`'s, decoded; None (and a warning: the
    /// caller refolds the customer from the log) when it no longer decodes.
    fn entry_of(&self, customer: &CustomerId, bytes: &[u8]) -> Option<Entry<P::State>> {
        let entry = decode_entry(&self.projection, bytes);
        if entry.is_none() {
            tracing::warn!(
                projection = self.projection.name(),
                customer = %customer,
                bytes = bytes.len(),
                "a stored state does not decode: refolding the customer from the log"
            );
        }
        entry
    }

    fn load(&self, customer: &CustomerId) -> Result<Option<Entry<P::State>>> {
        let cf = self.store.projections_cf()?;
        Ok(
            match self
                .store
                .db()
                .get_pinned_cf(cf, state_key(self.projection.name(), customer))?
            {
                // A state that no longer decodes is refolded, never an error.
                Some(bytes) => self.entry_of(customer, &bytes),
                None => None,
            },
        )
    }

    /// Refolds `customer` from the stream, up to stream version `version`.
    fn refold(&self, customer: CustomerId, version: u64) -> Result<Entry<P::State>> {
        let mut events: Vec<RecordedEvent> = Vec::new();
        for event in self.store.stream(customer, 1)? {
            let event = event?;
            if event.version > version {
                break;
            }
            events.push(event);
        }
        events.sort_by(compare);
        let mut entry = Entry {
            version,
            ..Entry::empty()
        };
        for event in &events {
            self.projection.apply(&mut entry.state, event);
            entry.last_key = key_of(event);
            entry.folded += 1;
        }
        Ok(entry)
    }

    /// Folds `event` into an entry that holds every earlier event of its
    /// stream; keeps a snapshot every [`SNAPSHOT_EVERY`] events (and counts
    /// its bytes in `snapshot_bytes`).
    fn fold_next(
        projection: &P,
        snapshots: &mut Vec<(Vec<u8>, Vec<u8>)>,
        snapshot_bytes: &mut usize,
        entry: &mut Entry<P::State>,
        event: &RecordedEvent,
        key: (i64, [u8; 16]),
    ) {
        projection.apply(&mut entry.state, event);
        entry.version = event.version;
        entry.last_key = key;
        entry.folded += 1;
        if entry.folded % SNAPSHOT_EVERY == 0 {
            let mut bytes = Vec::new();
            if encode_entry(projection, entry, &mut bytes).is_ok() {
                let key = snapshot_key(projection.name(), &event.customer_id, key);
                *snapshot_bytes += key.len() + bytes.len();
                snapshots.push((key, bytes));
            }
        }
    }

    /// Drops the pending snapshots of keys in `from..to`.
    fn drop_snapshots(&mut self, from: Vec<u8>, to: Vec<u8>) {
        self.snapshots.retain(|(k, _)| !(*k >= from && *k < to));
        self.snapshot_bytes = self.snapshots.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.dropped_snapshots.push((from, to));
    }

    /// Folds `event`, whose fold key ([`key_of`]) is `key`; `hint` is the
    /// slot [`Cache::warm`] found for its customer, if any.
    fn fold_event(
        &mut self,
        event: &RecordedEvent,
        key: (i64, [u8; 16]),
        hint: Option<u32>,
    ) -> Result<()> {
        debug_assert_eq!(key, key_of(event));
        let customer = event.customer_id;
        if !matches!(event.payload, EventPayload::Erasure(_)) {
            // The common cases, without moving the entry: the next event of a
            // cached stream in business-time order, or the first event of a
            // stream with no state yet (folded in its new slot: no second
            // lookup, no copy of the entry).
            let slot = match self.entries.hinted(&customer, hint) {
                Some(i) => self
                    .entries
                    .slots
                    .get(i as usize)
                    .is_some_and(|s| {
                        s.entry.version + 1 == event.version && key >= s.entry.last_key
                    })
                    .then_some(i),
                None if event.version == 1
                    && (self.complete || self.load(&customer)?.is_none()) =>
                {
                    Some(self.entries.put_clean(customer, Entry::empty()))
                }
                None => None,
            };
            if let Some(i) = slot {
                if let Some(slot) = self.entries.slots.get_mut(i as usize) {
                    Self::fold_next(
                        &self.projection,
                        &mut self.snapshots,
                        &mut self.snapshot_bytes,
                        &mut slot.entry,
                        event,
                        key,
                    );
                }
                self.entries.touch(i);
                self.pending += 1;
                return Ok(());
            }
        }
        self.fold_event_slow(event, key)
    }

    /// Erasures, late events, replays, and entries not in memory.
    fn fold_event_slow(&mut self, event: &RecordedEvent, key: (i64, [u8; 16])) -> Result<()> {
        let customer = event.customer_id;
        let entry = match self.entries.get(&customer) {
            Some(e) => Some(e.clone()),
            None if self.complete => None,
            None => self.load(&customer)?,
        };
        if let EventPayload::Erasure(_) = event.payload {
            // Personal data was erased: snapshots may hold what was derived from
            // it, so drop them all and refold from the (now erased) events.
            let from = snapshot_prefix(self.projection.name(), &customer);
            let mut to = from.clone();
            to.extend_from_slice(&[0xff; 25]);
            self.drop_snapshots(from, to);
            let mut fresh = self.refold(customer, event.version)?;
            fresh.terms = entry.map(|e| e.terms).unwrap_or_default();
            self.entries.put_dirty(customer, fresh);
            self.pending += 1;
            return Ok(());
        }
        let entry = match entry {
            Some(mut e) if e.version + 1 == event.version && key >= e.last_key => {
                Self::fold_next(
                    &self.projection,
                    &mut self.snapshots,
                    &mut self.snapshot_bytes,
                    &mut e,
                    event,
                    key,
                );
                e
            }
            Some(e) if e.version >= event.version => e, // already folded (replay after a crash)
            other => {
                // A late event, a lost or undecodable state: refold this customer.
                // Snapshots after the late event no longer hold.
                if let Some(e) = &other {
                    if key < e.last_key {
                        let mut from = snapshot_key(self.projection.name(), &customer, key);
                        from.push(0);
                        let mut to = snapshot_prefix(self.projection.name(), &customer);
                        to.extend_from_slice(&[0xff; 25]);
                        self.drop_snapshots(from, to);
                    }
                }
                let terms = other.map(|e| e.terms).unwrap_or_default();
                let mut fresh = self.refold(customer, event.version)?;
                fresh.terms = terms;
                fresh
            }
        };
        self.entries.put_dirty(customer, entry);
        self.pending += 1;
        Ok(())
    }

    /// Forgets every change since the last commit, as a crash would: called
    /// when a catch-up or `follow` fails (see [`Projector::catch_up`]).
    fn discard_uncommitted(&mut self) {
        self.entries.clear();
        self.complete = false;
        self.snapshots.clear();
        self.snapshot_bytes = 0;
        self.dropped_snapshots.clear();
        self.pending = 0;
    }

    /// Writes the changed states, snapshots and the checkpoint in one batch.
    fn commit(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let position = self.position + self.pending;
        let cf = self.store.projections_cf()?;
        let name = self.projection.name().to_owned();
        // The changed states in key order (RocksDB inserts ascending keys
        // into its memtable without searching from the top each time): the
        // id as a big-endian integer sorts as its bytes do, without a memcmp
        // call per comparison.
        let Cache { slots, dirty, .. } = &mut self.entries;
        let mut order: Vec<(u128, u32)> = dirty
            .iter()
            .filter_map(|&i| {
                let slot = slots.get(i as usize)?;
                Some((u128::from_be_bytes(*slot.customer.as_bytes()), i))
            })
            .collect();
        order.sort_unstable_by_key(|s| s.0);
        // Each put costs its key, value and a few bytes of framing; values
        // are sized from the previous commit's (each state is encoded
        // straight into the batch, with no buffer of them all first).
        // At most BATCH_RESERVE_MAX up front: a previous commit of a few
        // huge states must not make a commit of many small ones reserve
        // gigabytes (past it, the batch grows as it fills).
        let size = order
            .len()
            .saturating_mul(self.state_bytes + name.len() + 32)
            .saturating_add(self.snapshot_bytes + self.snapshots.len() * 16 + 4096)
            .min(BATCH_RESERVE_MAX);
        let mut batch = WriteBatch::with_capacity_bytes(size);
        for (from, to) in self.dropped_snapshots.drain(..) {
            batch.delete_range_cf(cf, from, to);
        }
        // Index changes: (key, whether it is put; else deleted), in order.
        let mut index: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut key = state_key(&name, &CustomerId::from_uuid(uuid::Uuid::nil()));
        let prefix = key.len().saturating_sub(16);
        let mut value = Vec::with_capacity(self.state_bytes.max(256));
        let mut total = 0usize;
        for &(id, i) in &order {
            let Some(slot) = slots.get_mut(i as usize) else {
                continue;
            };
            let customer = &slot.customer;
            let entry = &mut slot.entry;
            let mut terms = self.projection.index_terms(&entry.state);
            terms.sort();
            terms.dedup();
            if terms != entry.terms {
                for old in &entry.terms {
                    index.push((index_key(&name, old, customer), false));
                }
                for new in &terms {
                    index.push((index_key(&name, new, customer), true));
                }
                entry.terms = terms;
            }
            value.clear();
            encode_entry(&self.projection, entry, &mut value)?;
            total += value.len();
            key.truncate(prefix);
            key.extend_from_slice(&id.to_be_bytes());
            batch.put_cf(cf, &key, &value);
        }
        if !order.is_empty() {
            self.state_bytes = total / order.len();
        }
        for (key, put) in index {
            if put {
                batch.put_cf(cf, key, []);
            } else {
                batch.delete_cf(cf, key);
            }
        }
        for (k, v) in self.snapshots.drain(..) {
            batch.put_cf(cf, k, v);
        }
        self.snapshot_bytes = 0;
        batch.put_cf(
            self.store.checkpoints_cf()?,
            meta_key(&name),
            encode_meta(position, self.projection.version()),
        );
        let mut options = WriteOptions::default();
        options.set_sync(false);
        self.store.db().write_opt(batch, &options)?;
        self.position = position;
        self.pending = 0;
        let Cache { slots, dirty, .. } = &mut self.entries;
        for i in dirty.drain(..) {
            if let Some(slot) = slots.get_mut(i as usize) {
                slot.dirty = false;
            }
        }
        if self.entries.len() > CACHE_LIMIT {
            self.entries.clear();
            self.complete = false;
        }
        Ok(())
    }

    /// The committed state of `customer` (None: no events folded).
    pub fn state(&self, customer: CustomerId) -> Result<Option<P::State>> {
        if let Some(entry) = self.entries.get(&customer) {
            return Ok(Some(entry.state.clone()));
        }
        match self.load(&customer)? {
            Some(e) => Ok(Some(e.state)),
            // Stored but undecodable (or lost): refold instead of failing.
            None if self.position > 0 && self.store.stream_version(customer)? > 0 => {
                self.refold_readonly(customer)
            }
            None => Ok(None),
        }
    }

    /// Every customer's committed state, in customer-id order.
    pub fn states(&self) -> Result<Vec<(CustomerId, P::State)>> {
        let mut out = Vec::new();
        self.for_each_state(|customer, state| {
            out.push((customer, state));
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every customer's committed state, in customer-id order:
    /// the states [`Projector::states`] returns, one at a time. The first
    /// error, the store's or `f`'s own, stops the walk and is returned.
    pub fn for_each_state<E: From<Error>>(
        &self,
        mut f: impl FnMut(CustomerId, P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.stored_entries(|customer, entry| match entry {
            Some(e) => f(customer, e.state),
            None => match self.refold_readonly(customer)? {
                Some(state) => f(customer, state),
                None => Ok(()),
            },
        })
    }

    /// Every customer's state as of business time `as_of`, in customer-id
    /// order: for each customer in the store, what [`Projector::state_as_of`]
    /// gives, but read from the stored states wherever that is the same.
    ///
    /// When the projector is caught up (its checkpoint is the log's head), a
    /// stored state whose last folded event occurred at or before `as_of`
    /// holds exactly the events a view as of `as_of` folds, so it is used as
    /// it is; only customers with events after `as_of` are replayed. A
    /// population-wide view as of "now" then costs one scan of the states
    /// instead of one stream read per customer. Otherwise every customer is
    /// replayed; when the replays need a large share of the log (a past
    /// `as_of`), it is read sequentially once per group of customers rather
    /// than stream by stream.
    ///
    /// ```
    /// # use clientele_core::projection::{Projection, Projector};
    /// # use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// # use chrono::{Duration, Utc};
    /// # struct Purchases;
    /// # impl Projection for Purchases {
    /// #     type State = u32;
    /// #     fn name(&self) -> &str { "purchases" }
    /// #     fn version(&self) -> u64 { 1 }
    /// #     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
    /// #         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
    /// #     }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
    /// let now = Utc::now();
    /// let buy = |days: i64, order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(now - Duration::days(days), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// store.append(a, ExpectedVersion::Any, vec![buy(30, "a-1")?, buy(2, "a-2")?])?;
    /// store.append(b, ExpectedVersion::Any, vec![buy(20, "b-1")?])?;
    /// let mut projector = Projector::open(&store, Purchases)?;
    /// projector.catch_up()?;
    /// let week_ago = projector.states_as_of(now - Duration::days(7))?;
    /// let mut want = vec![(a, 1), (b, 1)];
    /// want.sort();
    /// assert_eq!(week_ago, want);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn states_as_of(&self, as_of: DateTime<Utc>) -> Result<Vec<(CustomerId, P::State)>> {
        let mut out = Vec::new();
        self.for_each_state_as_of(as_of, |customer, state| {
            out.push((customer, state));
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every customer's state as of business time `as_of`, in
    /// customer-id order: the states [`Projector::states_as_of`] returns, one
    /// at a time, so a population-wide aggregate (a count per stage, revenue,
    /// model inputs) holds one state in memory, not the whole population.
    ///
    /// `f` may fail with its own error type, which any error of the store
    /// converts into; the first error stops the walk and is returned.
    ///
    /// ```
    /// # use clientele_core::projection::{Projection, Projector};
    /// # use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// # use chrono::{Duration, Utc};
    /// # struct Purchases;
    /// # impl Projection for Purchases {
    /// #     type State = u32;
    /// #     fn name(&self) -> &str { "purchases" }
    /// #     fn version(&self) -> u64 { 1 }
    /// #     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
    /// #         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
    /// #     }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let now = Utc::now();
    /// let buy = |days: i64, order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(now - Duration::days(days), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// store.append(CustomerId::new_random(), ExpectedVersion::Any, vec![buy(30, "a-1")?, buy(2, "a-2")?])?;
    /// store.append(CustomerId::new_random(), ExpectedVersion::Any, vec![buy(20, "b-1")?])?;
    /// let mut projector = Projector::open(&store, Purchases)?;
    /// projector.catch_up()?;
    /// let (mut customers, mut purchases) = (0, 0);
    /// projector.for_each_state_as_of(now - Duration::days(7), |_, state| {
    ///     customers += 1;
    ///     purchases += state;
    ///     Ok::<_, clientele_core::Error>(())
    /// })?;
    /// assert_eq!((customers, purchases), (2, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_state_as_of<E: From<Error>>(
        &self,
        as_of: DateTime<Utc>,
        mut f: impl FnMut(CustomerId, P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.population_at(&[as_of.timestamp_micros()], |customer, _, state| {
            f(customer, state.into_owned())
        })
    }

    /// Calls `f` with every stored entry in customer-id order (None: it does
    /// not decode).
    fn stored_entries<E: From<Error>>(
        &self,
        mut f: impl FnMut(CustomerId, Option<Entry<P::State>>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        // One warning for the walk, not one per state: a walk reads them all.
        let mut undecodable: Option<(CustomerId, u64)> = None;
        let result = self.stored_bytes(|customer, bytes| {
            let entry = decode_entry(&self.projection, bytes);
            if entry.is_none() {
                undecodable.get_or_insert((customer, 0)).1 += 1;
            }
            f(customer, entry)
        });
        if let Some((first, states)) = undecodable {
            tracing::warn!(
                projection = self.projection.name(),
                states,
                first = %first,
                "stored states do not decode: refolding those customers from the log"
            );
        }
        result
    }

    /// Calls `f` with every stored entry's bytes in customer-id order.
    fn stored_bytes<E: From<Error>>(
        &self,
        mut f: impl FnMut(CustomerId, &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let cf = self.store.projections_cf()?;
        let mut from = self.projection.name().as_bytes().to_vec();
        from.push(0xff);
        from.push(TAG_STATE);
        let mut to = from.clone();
        to.pop();
        to.push(TAG_STATE + 1);
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(from.clone());
        options.set_iterate_upper_bound(to);
        let mut it = self.store.db().raw_iterator_cf_opt(cf, options);
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if let Ok(id) = <[u8; 16]>::try_from(k.get(from.len()..).unwrap_or_default()) {
                let customer = CustomerId::from_uuid(uuid::Uuid::from_bytes(id));
                f(customer, v)?;
            }
            it.next();
        }
        it.status().map_err(Error::from)?;
        Ok(())
    }

    /// The state of `customer`'s events up to the checkpoint, refolded
    /// without storing it; None if none of them is that old.
    fn refold_readonly(&self, customer: CustomerId) -> Result<Option<P::State>> {
        let events: Vec<RecordedEvent> = self
            .store
            .read_stream(customer)?
            .into_iter()
            .filter(|e| e.position <= self.position)
            .collect();
        Ok((!events.is_empty()).then(|| fold(&self.projection, &events)))
    }

    fn scan_index(
        &self,
        from: Vec<u8>,
        to: Vec<u8>,
        exact: Option<usize>,
    ) -> Result<Vec<(String, CustomerId)>> {
        let cf = self.store.projections_cf()?;
        let prefix_len = index_prefix(self.projection.name()).len();
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(from);
        options.set_iterate_upper_bound(to);
        let mut it = self.store.db().raw_iterator_cf_opt(cf, options);
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            if k.len() >= prefix_len + 17 {
                let split = k.len() - 17;
                let term = String::from_utf8_lossy(&k[prefix_len..split]).into_owned();
                if exact.is_none_or(|n| n == split - prefix_len) {
                    if let Ok(id) = <[u8; 16]>::try_from(&k[split + 1..]) {
                        out.push((term, CustomerId::from_uuid(uuid::Uuid::from_bytes(id))));
                    }
                }
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Customers indexed under exactly `term`.
    pub fn lookup(&self, term: &str) -> Result<Vec<CustomerId>> {
        let mut from = index_prefix(self.projection.name());
        from.extend_from_slice(term.as_bytes());
        from.push(0);
        let mut to = from.clone();
        to.pop();
        to.push(1);
        Ok(self
            .scan_index(from, to, Some(term.len()))?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// `(term, customer)` for every term starting with `prefix`, in term order.
    pub fn lookup_prefix(&self, prefix: &str) -> Result<Vec<(String, CustomerId)>> {
        let mut from = index_prefix(self.projection.name());
        from.extend_from_slice(prefix.as_bytes());
        let mut to = from.clone();
        to.push(0xff);
        self.scan_index(from, to, None)
    }

    /// `(term, customer)` for every term in `from..=to` (byte order), e.g. a date range.
    pub fn lookup_range(&self, from: &str, to: &str) -> Result<Vec<(String, CustomerId)>> {
        let mut lower = index_prefix(self.projection.name());
        lower.extend_from_slice(from.as_bytes());
        let mut upper = index_prefix(self.projection.name());
        upper.extend_from_slice(to.as_bytes());
        upper.push(0xff);
        self.scan_index(lower, upper, None)
    }

    /// The state of `customer` as the world was at business time `as_of`:
    /// every event with `occurred_at ≤ as_of`, folded in business-time order.
    /// Starts from the nearest snapshot, so it costs O(events since it).
    pub fn state_as_of(&self, customer: CustomerId, as_of: DateTime<Utc>) -> Result<P::State> {
        self.replay_at(customer, &[as_of.timestamp_micros()], |_, _| {
            Ok::<_, Error>(())
        })
    }

    /// Calls `f(customer, i, state)` for every customer (in customer-id
    /// order) and every `times[i]`, with the customer's state as of
    /// `times[i]`: what [`Projector::state_as_of`] gives, for several times
    /// at once. Each customer's events are read for all the times together
    /// (from the snapshot before the earliest), and a stored state serves
    /// every time at or after its last folded event when the projector is
    /// caught up. A stage distribution at the end of each of twelve months
    /// costs about one population replay, not twelve. Times may come in any
    /// order; for one customer, `f` sees them in ascending order.
    ///
    /// ```
    /// # use clientele_core::projection::{Projection, Projector};
    /// # use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// # use chrono::{Duration, Utc};
    /// # struct Purchases;
    /// # impl Projection for Purchases {
    /// #     type State = u32;
    /// #     fn name(&self) -> &str { "purchases" }
    /// #     fn version(&self) -> u64 { 1 }
    /// #     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
    /// #         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
    /// #     }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let now = Utc::now();
    /// let buy = |days: i64, order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(now - Duration::days(days), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// let customer = CustomerId::new_random();
    /// store.append(customer, ExpectedVersion::Any, vec![buy(30, "a-1")?, buy(20, "a-2")?, buy(2, "a-3")?])?;
    /// let mut projector = Projector::open(&store, Purchases)?;
    /// projector.catch_up()?;
    /// let times = [now - Duration::days(40), now - Duration::days(10), now];
    /// let mut seen = Vec::new();
    /// projector.for_each_state_at(&times, |_, i, state| {
    ///     seen.push((i, *state));
    ///     Ok::<_, clientele_core::Error>(())
    /// })?;
    /// assert_eq!(seen, vec![(0, 0), (1, 2), (2, 3)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_state_at<E: From<Error>>(
        &self,
        times: &[DateTime<Utc>],
        mut f: impl FnMut(CustomerId, usize, &P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let (order, sorted) = time_order(times);
        if sorted.is_empty() {
            return Ok(());
        }
        self.population_at(&sorted, |customer, k, state| {
            f(customer, order[k], state.as_ref())
        })
    }

    /// Every customer's state at each of `sorted` (µs, ascending), in
    /// customer-id order: `emit(customer, k, state as of sorted[k])`. A
    /// stored state serves every time at or after its last folded event
    /// when the projector is caught up; the other customers are replayed.
    ///
    /// When the replays need a large share of the log (every customer with
    /// a later event, as for a past as-of), the log is read once per group
    /// of customers ([`SCAN_BUDGET`] events of stream each) instead of each
    /// stream record by record: reading one customer's events costs a point
    /// lookup each, about ten times a sequential read of the same record.
    fn population_at<E: From<Error>>(
        &self,
        sorted: &[i64],
        mut emit: impl FnMut(CustomerId, usize, StateAt<'_, P::State>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let Some(&last) = sorted.last() else {
            return Ok(());
        };
        let caught_up = self.position >= self.store.head();
        // The times before a stored state's last folded event need a replay.
        let replayed = |last_key: Option<(i64, [u8; 16])>| match last_key {
            Some(key) if caught_up => sorted.partition_point(|&t| t < key.0),
            _ => sorted.len(),
        };
        // Which customers need a replay, and the length of their streams:
        // from the entries' headers (a state that turns out not to decode
        // below is replayed from its stream).
        let mut needed: Vec<(CustomerId, u64)> = Vec::new();
        if caught_up {
            self.stored_bytes(|customer, bytes| {
                let header = postcard::take_from_bytes::<Header>(bytes).ok();
                if replayed(header.as_ref().map(|(h, _)| h.last_key)) > 0 {
                    let events = match header {
                        Some((h, _)) => h.version,
                        None => self.store.stream_version(customer)?,
                    };
                    needed.push((customer, events));
                }
                Ok::<_, Error>(())
            })?;
        } else {
            for customer in self.store.customers()? {
                needed.push((customer, self.store.stream_version(customer)?));
            }
        }
        let needed_events: u64 = needed.iter().map(|(_, n)| n).sum();
        let scan = needed_events.saturating_mul(self.scan.0) >= self.store.head();
        let mut groups = if scan {
            scan_groups(&needed, self.scan.1)
        } else {
            Vec::new()
        }
        .into_iter();
        // Records of the group being replayed, by customer (log order).
        let mut loaded = Records::new();
        let mut loaded_to: Option<CustomerId> = None;
        let mut members: std::collections::HashSet<CustomerId> = std::collections::HashSet::new();
        let mut replay = |customer: CustomerId,
                          times: &[i64],
                          emit: &mut EmitAt<'_, P::State, E>|
         -> std::result::Result<(), E> {
            if !scan {
                return self.replay_at(customer, times, emit).map(drop);
            }
            if loaded_to.is_none_or(|to| customer > to) {
                if let Some(group) = groups.next() {
                    loaded_to = group.last().copied();
                    loaded = self.scan_streams(&group, last, None)?;
                    members = group.into_iter().collect();
                }
            }
            if !members.contains(&customer) {
                // Not counted in when the groups were made (a stored state
                // whose header decodes but whose state does not, or one
                // stored since by another handle): read its stream.
                return self.replay_at(customer, times, emit).map(drop);
            }
            // Events after the latest time are never reached by the fold.
            let events = loaded
                .remove(&customer)
                .unwrap_or_default()
                .into_iter()
                .map(|(position, bytes)| self.store.decode_record(position, &bytes))
                .collect::<Result<Vec<RecordedEvent>>>()?;
            self.fold_at(P::State::default(), events, times, emit)
                .map(drop)
        };
        if !caught_up {
            for (customer, _) in needed.iter().copied() {
                replay(customer, sorted, &mut |k, state| {
                    emit(customer, k, StateAt::Ref(state))
                })?;
            }
            return Ok(());
        }
        self.stored_entries(|customer, entry| {
            let r = replayed(entry.as_ref().map(|e| e.last_key));
            if r > 0 {
                replay(customer, &sorted[..r], &mut |k, state| {
                    emit(customer, k, StateAt::Ref(state))
                })?;
            }
            if let Some(e) = entry {
                if r < sorted.len() {
                    for k in r..sorted.len() - 1 {
                        emit(customer, k, StateAt::Ref(&e.state))?;
                    }
                    emit(customer, sorted.len() - 1, StateAt::Own(e.state))?;
                }
            }
            Ok(())
        })
    }

    /// The records (position, bytes) of the events of `customers` (ascending
    /// ids) that occurred at or before `last` (µs), read in one pass over
    /// the log up to position `to` (None: its end), by customer. Every one
    /// of `customers` with an event in that part of the log has an entry,
    /// empty when none of its events occurred by `last`.
    fn scan_streams(
        &self,
        customers: &[CustomerId],
        last: i64,
        to: Option<u64>,
    ) -> Result<Records> {
        let wanted: std::collections::HashSet<CustomerId> = customers.iter().copied().collect();
        let mut seen: std::collections::HashSet<CustomerId> = std::collections::HashSet::new();
        let mut out = Records::with_capacity(customers.len());
        let mut log = self.store.read_range(1, to)?;
        let mut keep = |c: &CustomerId, at: i64| {
            if !wanted.contains(c) {
                return false;
            }
            seen.insert(*c);
            at <= last
        };
        while let Some(item) = log.next_kept(&mut keep) {
            if let Some((customer, position, bytes)) = item? {
                out.entry(customer).or_default().push((position, bytes));
            }
        }
        for customer in seen {
            out.entry(customer).or_default();
        }
        Ok(out)
    }

    /// Replays `customer` as of each of `times` (µs, ascending), calling
    /// `emit(k, state as of times[k])` in order, and returns the state as of
    /// the latest. Starts from the last snapshot at or before the earliest
    /// time and reads the stream up to the latest (a second time, from the
    /// start, when it meets a late event older than that snapshot).
    fn replay_at<E: From<Error>>(
        &self,
        customer: CustomerId,
        times: &[i64],
        emit: impl FnMut(usize, &P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<P::State, E> {
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(P::State::default());
        };
        let snapshot = self.snapshot_at(customer, first)?;
        let (start_version, snapshot_key, mut state) = match snapshot {
            Some(s) => (s.version + 1, s.last_key, s.state),
            None => (1, (i64::MIN, [0; 16]), P::State::default()),
        };
        let last_time =
            DateTime::<Utc>::from_timestamp_micros(last).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut events = Vec::new();
        let mut late = false;
        for event in self
            .store
            .stream_as_of(customer, start_version, last_time)?
        {
            let event = event?;
            if key_of(&event) < snapshot_key {
                // A late event not folded yet predates the snapshot: replay in full.
                late = true;
                break;
            }
            events.push(event);
        }
        if late {
            events = self.store.read_stream_as_of(customer, last_time)?;
            state = P::State::default();
        }
        self.fold_at(state, events, times, emit)
    }

    /// Folds `events` (any order) into `state` in business-time order,
    /// calling `emit(k, state)` once every event up to `times[k]` (µs,
    /// ascending) is in; returns the state as of the latest time.
    fn fold_at<E>(
        &self,
        mut state: P::State,
        mut events: Vec<RecordedEvent>,
        times: &[i64],
        mut emit: impl FnMut(usize, &P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<P::State, E> {
        events.sort_by(compare);
        let mut next = events.iter().peekable();
        for (k, &t) in times.iter().enumerate() {
            while let Some(event) = next.next_if(|e| e.occurred_at.timestamp_micros() <= t) {
                self.projection.apply(&mut state, event);
            }
            emit(k, &state)?;
        }
        Ok(state)
    }

    /// The last snapshot of `customer` whose fold key is at or before
    /// `bound` (µs).
    fn snapshot_at(&self, customer: CustomerId, bound: i64) -> Result<Option<Entry<P::State>>> {
        let cf = self.store.projections_cf()?;
        let prefix = snapshot_prefix(self.projection.name(), &customer);
        let mut upper = snapshot_key(self.projection.name(), &customer, (bound, [0xff; 16]));
        upper.push(0);
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefix);
        options.set_iterate_upper_bound(upper);
        // The last snapshot in range, found going forwards: a backward seek
        // walks over every entry a range deletion hides (a rebuild's old
        // states, snapshots a late event dropped) until compaction removes
        // them, which made views after a rebuild several times slower.
        let mut it = self.store.db().raw_iterator_cf_opt(cf, options);
        it.seek_to_first();
        let mut last: Option<Vec<u8>> = None;
        while let Some(key) = it.key() {
            match &mut last {
                Some(k) => {
                    k.clear();
                    k.extend_from_slice(key);
                }
                None => last = Some(key.to_vec()),
            }
            it.next();
        }
        it.status()?;
        drop(it);
        Ok(match last {
            Some(key) => self
                .store
                .db()
                .get_pinned_cf(cf, &key)?
                .and_then(|v| self.entry_of(&customer, &v)),
            None => None,
        })
    }

    /// The state of `customer` as the log knew it at recorded time `known_at`,
    /// restricted to what had occurred by `as_of`: "what did we know at R about T".
    pub fn state_known_at(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
    ) -> Result<P::State> {
        let events = self.store.read_stream_known_at(customer, known_at)?;
        Ok(fold(
            &self.projection,
            events.iter().filter(|e| e.occurred_at <= as_of),
        ))
    }

    /// Every customer's state as the log knew it at recorded time `known_at`,
    /// restricted to what had occurred by `as_of`, in customer-id order: the
    /// population of [`Projector::state_known_at`]. A customer none of whose
    /// events had been recorded by `known_at` is left out (the log did not
    /// know it); one known then but with no event by `as_of` has the default
    /// state, as in [`Projector::states_as_of`].
    ///
    /// The events known at `known_at` are a prefix of the log
    /// ([`Store::known_position`]); it is read once per group of customers
    /// (as for a past as-of). When that prefix is the whole log, this is
    /// [`Projector::for_each_state_as_of`], which reads the stored states.
    ///
    /// ```
    /// # use clientele_core::projection::{Projection, Projector};
    /// # use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// # use chrono::{Duration, Utc};
    /// # struct Purchases;
    /// # impl Projection for Purchases {
    /// #     type State = u32;
    /// #     fn name(&self) -> &str { "purchases" }
    /// #     fn version(&self) -> u64 { 1 }
    /// #     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
    /// #         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
    /// #     }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
    /// let now = Utc::now();
    /// let buy = |days: i64, order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(now - Duration::days(days), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// store.append(a, ExpectedVersion::Any, vec![buy(30, "a-1")?])?;
    /// let known_at = store.read_event(1)?.map(|e| e.recorded_at).ok_or("no event")?;
    /// // Recorded later: a late report of an older purchase, and a new customer.
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// store.append(a, ExpectedVersion::Any, vec![buy(40, "a-0")?])?;
    /// store.append(b, ExpectedVersion::Any, vec![buy(20, "b-1")?])?;
    /// let projector = Projector::open(&store, Purchases)?;
    /// assert_eq!(projector.states_known_at(now, known_at)?, vec![(a, 1)]);
    /// let mut now_known = projector.states_as_of(now)?;
    /// now_known.sort();
    /// let mut want = vec![(a, 2), (b, 1)];
    /// want.sort();
    /// assert_eq!(now_known, want);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn states_known_at(
        &self,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
    ) -> Result<Vec<(CustomerId, P::State)>> {
        let mut out = Vec::new();
        self.for_each_state_known_at(as_of, known_at, |customer, state| {
            out.push((customer, state));
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every customer's state as of `at`:
    /// [`Projector::for_each_state_as_of`] or, when `at` says a recorded
    /// time, [`Projector::for_each_state_known_at`].
    pub fn for_each_state_in<E: From<Error>>(
        &self,
        at: impl Into<AsOf>,
        f: impl FnMut(CustomerId, P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let at = at.into();
        match at.known_at {
            Some(known_at) => self.for_each_state_known_at(at.occurred, known_at, f),
            None => self.for_each_state_as_of(at.occurred, f),
        }
    }

    /// The state of `customer` as of `at` ([`Projector::state_as_of`] or
    /// [`Projector::state_known_at`]).
    pub fn state_in(&self, customer: CustomerId, at: impl Into<AsOf>) -> Result<P::State> {
        let at = at.into();
        match at.known_at {
            Some(known_at) => self.state_known_at(customer, at.occurred, known_at),
            None => self.state_as_of(customer, at.occurred),
        }
    }

    /// Calls `f` with every customer's state as the log knew it at recorded
    /// time `known_at`, restricted to what had occurred by `as_of`, in
    /// customer-id order: the states [`Projector::states_known_at`] returns,
    /// one at a time. The first error stops the walk and is returned.
    pub fn for_each_state_known_at<E: From<Error>>(
        &self,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
        mut f: impl FnMut(CustomerId, P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let known = self.store.known_position(known_at)?;
        if known == 0 {
            return Ok(());
        }
        if known >= self.store.head() {
            // Everything recorded so far was known: the stored states serve.
            return self.for_each_state_as_of(as_of, f);
        }
        let last = as_of.timestamp_micros();
        self.known_streams(last, known, |customer, events| {
            let state =
                self.fold_at(P::State::default(), events, &[last], |_, _| Ok::<_, E>(()))?;
            f(customer, state)
        })
    }

    /// [`Projector::for_each_state_at`] as the log knew it at recorded time
    /// `known_at`: `f(customer, i, state)` with every customer the log knew
    /// then, folded from the events recorded by then that occurred by
    /// `times[i]`, each customer's events read once for all the times, in
    /// customer-id order. Customers the log did not know yet are left out.
    ///
    /// A stage flow over twelve month ends, as a report printed at
    /// `known_at` would have drawn it, costs one read of the log as it stood.
    ///
    /// ```
    /// # use clientele_core::projection::{Projection, Projector};
    /// # use clientele_core::{RecordedEvent, EventPayload, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// # use chrono::{Duration, Utc};
    /// # struct Purchases;
    /// # impl Projection for Purchases {
    /// #     type State = u32;
    /// #     fn name(&self) -> &str { "purchases" }
    /// #     fn version(&self) -> u64 { 1 }
    /// #     fn apply(&self, state: &mut u32, event: &RecordedEvent) {
    /// #         if let EventPayload::Purchase(_) = event.payload { *state += 1 }
    /// #     }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let now = Utc::now();
    /// let buy = |days: i64, order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(now - Duration::days(days), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// let (a, b) = (CustomerId::new_random(), CustomerId::new_random());
    /// store.append(a, ExpectedVersion::Any, vec![buy(30, "a-1")?, buy(2, "a-3")?])?;
    /// let known_at = store.read_event(2)?.map(|e| e.recorded_at).ok_or("no event")?;
    /// // Recorded later: a late purchase of 20 days ago, and a new customer.
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// store.append(a, ExpectedVersion::Any, vec![buy(20, "a-2")?])?;
    /// store.append(b, ExpectedVersion::Any, vec![buy(20, "b-1")?])?;
    /// let projector = Projector::open(&store, Purchases)?;
    /// let times = [now - Duration::days(10), now];
    /// let mut seen = Vec::new();
    /// projector.for_each_state_at_known_at(&times, known_at, |customer, i, state| {
    ///     seen.push((customer == a, i, *state));
    ///     Ok::<_, clientele_core::Error>(())
    /// })?;
    /// assert_eq!(seen, vec![(true, 0, 1), (true, 1, 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_state_at_known_at<E: From<Error>>(
        &self,
        times: &[DateTime<Utc>],
        known_at: DateTime<Utc>,
        mut f: impl FnMut(CustomerId, usize, &P::State) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let known = self.store.known_position(known_at)?;
        if known == 0 || times.is_empty() {
            return Ok(());
        }
        if known >= self.store.head() {
            // Everything recorded so far was known: the stored states serve.
            return self.for_each_state_at(times, f);
        }
        let (order, sorted) = time_order(times);
        let last = sorted.last().copied().unwrap_or(i64::MIN);
        self.known_streams(last, known, |customer, events| {
            self.fold_at(P::State::default(), events, &sorted, |k, state| {
                f(customer, order[k], state)
            })
            .map(drop)
        })
    }

    /// Calls `f` with each customer the log knew at global position `known`
    /// and their events recorded by then that occurred by `last` (µs), in
    /// customer-id order, reading the log in groups of streams.
    fn known_streams<E: From<Error>>(
        &self,
        last: i64,
        known: u64,
        mut f: impl FnMut(CustomerId, Vec<RecordedEvent>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        // The streams as they are now: an upper bound of what each held then.
        let mut needed: Vec<(CustomerId, u64)> = Vec::new();
        for customer in self.store.customers()? {
            needed.push((customer, self.store.stream_version(customer)?));
        }
        for group in scan_groups(&needed, self.scan.1) {
            let mut loaded = self.scan_streams(&group, last, Some(known))?;
            for customer in group {
                let Some(records) = loaded.remove(&customer) else {
                    continue; // Not known at `known`.
                };
                let events = records
                    .into_iter()
                    .map(|(position, bytes)| self.store.decode_record(position, &bytes))
                    .collect::<Result<Vec<RecordedEvent>>>()?;
                f(customer, events)?;
            }
        }
        Ok(())
    }
}

/// A postcard flavor appending to a vector (one buffer for a whole commit).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn encode_meta(position: u64, version: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&position.to_be_bytes());
    v[8..].copy_from_slice(&version.to_be_bytes());
    v
}

fn decode_meta(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.len() != 16 {
        return None;
    }
    let a: [u8; 8] = bytes[..8].try_into().ok()?;
    let b: [u8; 8] = bytes[8..].try_into().ok()?;
    Some((u64::from_be_bytes(a), u64::from_be_bytes(b)))
}

/// The indices of `times` in time order (a stable sort: equal times keep
/// their order), and those times in µs: the multi-time walks fold each
/// customer once through the sorted times and report each under its index.
fn time_order(times: &[DateTime<Utc>]) -> (Vec<usize>, Vec<i64>) {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let sorted = order.iter().map(|&i| times[i].timestamp_micros()).collect();
    (order, sorted)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: u32) -> Entry<u32> {
        Entry {
            version: 1,
            last_key: (0, [0; 16]),
            folded: 1,
            terms: Vec::new(),
            state,
        }
    }

    /// The whole entry as postcard wrote it before states could have their own
    /// encoding: the default must give these very bytes, so that states
    /// stored by earlier builds still decode.
    #[derive(Serialize)]
    struct WholeEntry<S> {
        version: u64,
        last_key: (i64, [u8; 16]),
        folded: u64,
        terms: Vec<String>,
        state: S,
    }

    struct Strings;

    impl Projection for Strings {
        type State = (Vec<String>, Option<i64>);
        fn name(&self) -> &str {
            "strings"
        }
        fn version(&self) -> u64 {
            1
        }
        fn apply(&self, state: &mut Self::State, event: &RecordedEvent) {
            state.0.push(event.kind().to_string());
        }
    }

    #[test]
    fn default_encoding_is_the_whole_entry_in_postcard() {
        let state = (vec!["purchase".to_string(), "contact".into()], Some(-7));
        let entry = Entry {
            version: 300,
            last_key: (-1_700_000_000_000_000, [9; 16]),
            folded: 300,
            terms: vec!["plate:A1".into(), "x".into()],
            state: state.clone(),
        };
        let mut bytes = vec![0xee]; // appended to what is there
        encode_entry(&Strings, &entry, &mut bytes).unwrap();
        let whole = postcard::to_allocvec(&WholeEntry {
            version: 300,
            last_key: (-1_700_000_000_000_000, [9; 16]),
            folded: 300,
            terms: vec!["plate:A1".to_string(), "x".into()],
            state: state.clone(),
        })
        .unwrap();
        assert_eq!(bytes[0], 0xee);
        assert_eq!(&bytes[1..], &whole[..]);
        let back = decode_entry(&Strings, &whole).unwrap();
        assert_eq!(
            (
                back.version,
                back.last_key,
                back.folded,
                back.terms,
                back.state
            ),
            (
                entry.version,
                entry.last_key,
                entry.folded,
                entry.terms,
                state
            )
        );
        assert!(decode_entry(&Strings, &whole[..whole.len() - 1]).is_none());
        assert!(decode_entry(&Strings, &whole[..5]).is_none());
    }

    proptest::proptest! {
        /// The hand-written header is postcard's, for any header.
        #[test]
        fn header_bytes_are_postcards(
            version in proptest::prelude::any::<u64>(),
            micros in proptest::prelude::any::<i64>(),
            id in proptest::prelude::any::<[u8; 16]>(),
            folded in proptest::prelude::any::<u64>(),
            terms in proptest::collection::vec(".{0,200}", 0..4),
        ) {
            let state = (vec!["x".to_string()], None);
            let entry = Entry { version, last_key: (micros, id), folded, terms, state };
            let mut bytes = Vec::new();
            encode_entry(&Strings, &entry, &mut bytes).unwrap();
            let whole = postcard::to_allocvec(&WholeEntry {
                version,
                last_key: (micros, id),
                folded,
                terms: entry.terms.clone(),
                state: entry.state.clone(),
            })
            .unwrap();
            proptest::prop_assert_eq!(&bytes, &whole);
            let back = decode_entry(&Strings, &bytes).unwrap();
            proptest::prop_assert_eq!((back.version, back.last_key, back.folded, back.terms), (version, (micros, id), folded, entry.terms));
        }
    }

    #[test]
    fn cache_finds_every_customer() {
        let mut cache: Cache<u32> = Cache::new();
        let customers: Vec<CustomerId> = (0..5_000)
            .map(|i| CustomerId::from_external("t", &i.to_string()))
            .collect();
        for (n, c) in customers.iter().enumerate() {
            assert_eq!(cache.slot(c), None);
            cache.put_dirty(*c, entry(n as u32));
        }
        for (n, c) in customers.iter().enumerate() {
            assert_eq!(cache.get(c).map(|e| e.state), Some(n as u32));
        }
        assert_eq!(cache.slot(&CustomerId::new_random()), None);
        // Replacing keeps the slot and marks it changed once.
        cache.put_dirty(customers[7], entry(99));
        assert_eq!(cache.get(&customers[7]).map(|e| e.state), Some(99));
        assert_eq!((cache.len(), cache.dirty.len()), (5_000, 5_000));
        cache.clear();
        assert_eq!(cache.slot(&customers[0]), None);
        cache.put_dirty(customers[0], entry(1));
        assert_eq!(cache.get(&customers[0]).map(|e| e.state), Some(1));
    }

    #[test]
    fn warm_hints_are_checked_before_use() {
        let mut cache: Cache<u32> = Cache::new();
        let customers: Vec<CustomerId> = (0..40)
            .map(|i| CustomerId::from_external("t", &i.to_string()))
            .collect();
        for (n, c) in customers.iter().take(20).enumerate() {
            cache.put_dirty(*c, entry(n as u32));
        }
        // Found ones in order, None for the uncached; at most LOOKAHEAD.
        let found = cache.warm(customers.iter().skip(15));
        for (k, hint) in found.iter().enumerate() {
            let want = (k + 15 < 20)
                .then(|| cache.slot(&customers[k + 15]))
                .flatten();
            assert_eq!(*hint, want, "customer {}", k + 15);
        }
        assert!(found.iter().skip(5).all(Option::is_none));
        let slot_of = |c: &CustomerId| cache.slot(c);
        let (a, b) = (&customers[3], &customers[9]);
        assert_eq!(cache.hinted(a, slot_of(a)), slot_of(a));
        // A stale hint (another customer's slot, or past the end) and no hint
        // all come to the customer's own slot, or to None if uncached.
        assert_eq!(cache.hinted(a, slot_of(b)), slot_of(a));
        assert_eq!(cache.hinted(a, Some(1_000)), slot_of(a));
        assert_eq!(cache.hinted(a, None), slot_of(a));
        assert_eq!(cache.hinted(&customers[30], slot_of(a)), None);
    }
}
