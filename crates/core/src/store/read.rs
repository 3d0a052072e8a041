//! Read paths: one customer's stream, the global log, single events. Every
//! path decodes through the upcaster chain.

use chrono::{DateTime, Utc};
use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

use super::keys;
use super::Store;
use crate::codec::{DecodeBuffers, RawRecord, Sealed};
use crate::envelope::RecordedEvent;
use crate::error::{Error, IntegrityError, Result};
use crate::ids::{CustomerId, EventId};

/// Iterator over the global log in position order.
pub struct EventIter<'a> {
    store: &'a Store,
    raw: DBRawIteratorWithThreadMode<'a, DB>,
    next: u64,
    end: Option<u64>,
    done: bool,
}

impl Iterator for EventIter<'_> {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(|store, position, value| {
            let raw = RawRecord::parse(position, value)?;
            Ok(raw.decode_fresh(position, &|r, s| store.unseal(r, s, position))?)
        })
    }
}

/// A record a log scan kept: its customer, position and bytes.
pub(crate) type KeptRecord = (CustomerId, u64, Vec<u8>);

impl EventIter<'_> {
    /// One step of the log: `read(store, position, record)` on the next
    /// record, after checking that it is the expected position (no gap).
    /// The iteration ends after the first error.
    fn step<T>(&mut self, read: impl FnOnce(&Store, u64, &[u8]) -> Result<T>) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        if !self.raw.valid() {
            self.done = true;
            return self.raw.status().err().map(|e| Err(e.into()));
        }
        let item = match (self.raw.key(), self.raw.value()) {
            (Some(key), Some(value)) => match keys::read_u64(key).unwrap_or(0) {
                position if position == self.next => read(self.store, position, value),
                position => Err(IntegrityError::Gap {
                    expected: self.next,
                    found: Some(position),
                }
                .into()),
            },
            _ => Err(Error::Integrity(IntegrityError::Malformed {
                position: self.next,
                reason: "iterator entry without key or value".into(),
            })),
        };
        if item.is_err() {
            self.done = true;
        }
        self.next += 1;
        if self.end.is_some_and(|end| self.next > end) {
            self.done = true;
        }
        self.raw.next();
        Some(item)
    }

    /// Like [`Iterator::next`], but decodes the event into `out`, reusing its
    /// allocations (see [`RawRecord::decode_into`]): `Some(Ok(micros))` when
    /// `out` holds the next event, with its `occurred_at` in µs (as the
    /// record holds it: cheaper than converting the time back).
    pub(crate) fn next_into(
        &mut self,
        out: &mut RecordedEvent,
        buffers: &mut DecodeBuffers,
    ) -> Option<Result<i64>> {
        self.step(|store, position, value| {
            let raw = RawRecord::parse(position, value)?;
            Ok(raw.decode_into(position, &|r, s| store.unseal(r, s, position), out, buffers)?)
        })
    }

    /// The next record of the log as its customer, position and bytes, if
    /// `keep(customer, occurred_at µs)` says so (`Ok(None)` for one passed
    /// over, whose header alone is read). A population replay reads the log
    /// once this way instead of each customer's stream record by record, and
    /// holds the records, which are smaller than decoded events, until it
    /// decodes them ([`Store::decode_record`](super::Store) checks them).
    pub(crate) fn next_kept(
        &mut self,
        keep: impl FnOnce(&CustomerId, i64) -> bool,
    ) -> Option<Result<Option<KeptRecord>>> {
        self.step(|_, position, value| match RawRecord::peek(value) {
            Some((customer, at)) => {
                Ok(keep(&customer, at).then(|| (customer, position, value.to_vec())))
            }
            // Too short for a header: what parsing says of it.
            None => Err(RawRecord::parse(position, value).err().map_or_else(
                || {
                    Error::Integrity(IntegrityError::Malformed {
                        position,
                        reason: "record too short".into(),
                    })
                },
                Error::from,
            )),
        })
    }
}

/// Iterator over one customer's stream in version order.
pub struct StreamIter<'a> {
    store: &'a Store,
    raw: DBRawIteratorWithThreadMode<'a, DB>,
    customer: CustomerId,
    next_version: u64,
    /// Only events that occurred at or before this time (µs) are decoded and
    /// yielded. A later event is passed over without reading its record when
    /// the index entry says when it occurred; behind an entry of the first
    /// format (position only) its record is read and checked, not decoded.
    occurred_by: Option<i64>,
    done: bool,
}

impl StreamIter<'_> {
    /// The record the index points to at the current position: None when it
    /// occurred after `occurred_by`.
    fn read_current(&self) -> Result<Option<RecordedEvent>> {
        let index_error = |position: u64, reason: String| -> Error {
            IntegrityError::Index {
                index: "streams",
                position,
                reason,
            }
            .into()
        };
        let Some((position, occurred)) = self.raw.value().and_then(keys::read_stream_entry) else {
            return Err(index_error(
                0,
                format!(
                    "the entry of customer {} version {} is malformed",
                    self.customer, self.next_version
                ),
            ));
        };
        // The index says when the event occurred (entries written before it
        // did are read as before): a later event is passed over unread.
        if let (Some(bound), Some(at)) = (self.occurred_by, occurred) {
            if at > bound {
                return Ok(None);
            }
        }
        let inconsistent = |found: Option<(CustomerId, u64)>| -> Error {
            index_error(
                position,
                format!(
                    "customer {} version {} points to {found:?}",
                    self.customer, self.next_version,
                ),
            )
        };
        let cf = self.store.cf(keys::CF_EVENTS)?;
        let Some(bytes) = self
            .store
            .db()
            .get_pinned_cf(cf, keys::position_key(position))?
        else {
            return Err(inconsistent(None));
        };
        let raw = RawRecord::parse(position, &bytes)?;
        if raw.customer_id != self.customer || raw.version != self.next_version {
            return Err(inconsistent(Some((raw.customer_id, raw.version))));
        }
        if let Some(at) = occurred.filter(|&at| at != raw.occurred_micros) {
            return Err(index_error(
                position,
                format!(
                    "the entry of customer {} version {} says the event occurred at {at} µs, \
                     the record at {} µs",
                    self.customer, self.next_version, raw.occurred_micros
                ),
            ));
        }
        if self
            .occurred_by
            .is_some_and(|bound| raw.occurred_micros > bound)
        {
            return Ok(None);
        }
        let unseal = |r: &RawRecord<'_>, s: &Sealed<'_>| self.store.unseal(r, s, position);
        Ok(Some(raw.decode(position, &unseal)?))
    }
}

impl Iterator for StreamIter<'_> {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if !self.raw.valid() {
                self.done = true;
                return self.raw.status().err().map(|e| Err(e.into()));
            }
            let item = self.read_current();
            self.next_version += 1;
            self.raw.next();
            match item {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Store {
    /// The event at a global position.
    pub fn read_event(&self, position: u64) -> Result<Option<RecordedEvent>> {
        let cf = self.cf(keys::CF_EVENTS)?;
        match self.db().get_pinned_cf(cf, keys::position_key(position))? {
            Some(bytes) => Ok(Some(self.decode_record(position, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The event with id `id`, found through the event-id index; None if no
    /// event with that id was appended. An index entry that does not lead to
    /// a record with that id is an integrity error.
    ///
    /// ```
    /// use clientele_core::{CustomerId, EventId, ExpectedVersion, NewEvent, Store, event::*};
    /// use chrono::Utc;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let id = EventId::derived(b"order A-1");
    /// let purchase = Purchase::new("A-1", "12.50".parse()?, "EUR".parse()?);
    /// let event = NewEvent::new(Utc::now(), purchase).with_id(id);
    /// store.append(CustomerId::new_random(), ExpectedVersion::Any, vec![event])?;
    /// assert_eq!(store.event(id)?.map(|e| e.position), Some(1));
    /// assert!(store.event(EventId::derived(b"never appended"))?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn event(&self, id: EventId) -> Result<Option<RecordedEvent>> {
        let cf = self.cf(keys::CF_EVENT_IDS)?;
        let Some(bytes) = self.db().get_pinned_cf(cf, keys::event_id_key(&id))? else {
            return Ok(None);
        };
        let inconsistent = |position: u64, reason: String| {
            Error::Integrity(IntegrityError::Index {
                index: keys::CF_EVENT_IDS,
                position,
                reason,
            })
        };
        let entry = keys::EventIdEntry::decode(&bytes)
            .ok_or_else(|| inconsistent(0, format!("entry of event {id} does not decode")))?;
        match self.read_event(entry.position)? {
            Some(event) if event.event_id == id => Ok(Some(event)),
            Some(event) => Err(inconsistent(
                entry.position,
                format!("entry of event {id} points to event {}", event.event_id),
            )),
            None => Err(inconsistent(
                entry.position,
                format!("entry of event {id} points to no record"),
            )),
        }
    }

    /// Iterates a customer's stream from `from_version` (1 = the start).
    pub fn stream(&self, customer: CustomerId, from_version: u64) -> Result<StreamIter<'_>> {
        let from_version = from_version.max(1);
        let cf = self.cf(keys::CF_STREAMS)?;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(keys::stream_key(&customer, from_version).to_vec());
        options.set_iterate_upper_bound(keys::stream_key(&customer, u64::MAX).to_vec());
        let mut raw = self.db().raw_iterator_cf_opt(cf, options);
        raw.seek_to_first();
        Ok(StreamIter {
            store: self,
            raw,
            customer,
            next_version: from_version,
            occurred_by: None,
            done: false,
        })
    }

    /// [`Store::stream`] restricted to the events that occurred at or before
    /// `as_of` (business time), still in version order. The streams index
    /// records when each event occurred, so later events are passed over
    /// without reading their records: an as-of view reads (and unseals) only
    /// what it folds. Entries written before the index held that time are
    /// read, checked, and passed over undecoded. The read trusts the index
    /// for the events it passes over; [`Store::verify`] checks every entry
    /// against its record.
    pub fn stream_as_of(
        &self,
        customer: CustomerId,
        from_version: u64,
        as_of: DateTime<Utc>,
    ) -> Result<StreamIter<'_>> {
        let mut stream = self.stream(customer, from_version)?;
        stream.occurred_by = Some(as_of.timestamp_micros());
        Ok(stream)
    }

    /// A customer's whole stream, in version (append) order.
    pub fn read_stream(&self, customer: CustomerId) -> Result<Vec<RecordedEvent>> {
        self.stream(customer, 1)?.collect()
    }

    /// A customer's events that had occurred by `as_of` (business time), in
    /// append order. Late events are included where their `occurred_at` fits.
    pub fn read_stream_as_of(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>> {
        self.stream_as_of(customer, 1, as_of)?.collect()
    }

    /// A customer's events as the log knew them at `known_at` (recorded time).
    pub fn read_stream_known_at(
        &self,
        customer: CustomerId,
        known_at: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>> {
        let mut out = Vec::new();
        for event in self.stream(customer, 1)? {
            let event = event?;
            if event.recorded_at > known_at {
                break; // recorded_at never decreases along a stream
            }
            out.push(event);
        }
        Ok(out)
    }

    /// The log as it stood at recorded time `known_at`: the position of the
    /// last event recorded at or before it (0: none was). `recorded_at`
    /// never decreases along the log, so the events known at `known_at` are
    /// exactly the log up to this position; it is found by a binary search
    /// over the records' headers (about log₂(head) point reads, each record
    /// checked).
    ///
    /// ```
    /// use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
    /// use chrono::{Duration, Utc};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let buy = |order: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     Ok(NewEvent::new(Utc::now(), Purchase::new(order, "10".parse()?, "EUR".parse()?)))
    /// };
    /// let before = Utc::now() - Duration::seconds(1);
    /// store.append(CustomerId::new_random(), ExpectedVersion::Any, vec![buy("A-1")?, buy("A-2")?])?;
    /// let first = store.read_event(2)?.map(|e| e.recorded_at).ok_or("no event")?;
    /// assert_eq!(store.known_position(before)?, 0);
    /// assert_eq!(store.known_position(first)?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn known_position(&self, known_at: DateTime<Utc>) -> Result<u64> {
        let bound = known_at.timestamp_micros();
        // recorded(lo) <= bound (0: before the log), recorded(hi) > bound
        // (head + 1: after it).
        let (mut lo, mut hi) = (0u64, self.head().saturating_add(1));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.recorded_micros(mid)? <= bound {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Whether every event in the log now was recorded at or before
    /// `known_at` (true for an empty log): then the log as it stood at
    /// `known_at` is the whole log. One point read.
    pub fn all_known_at(&self, known_at: DateTime<Utc>) -> Result<bool> {
        let head = self.head();
        Ok(head == 0 || self.recorded_micros(head)? <= known_at.timestamp_micros())
    }

    /// The recorded time (µs) of the record at `position`, checked.
    fn recorded_micros(&self, position: u64) -> Result<i64> {
        let cf = self.cf(keys::CF_EVENTS)?;
        let bytes = self
            .db()
            .get_pinned_cf(cf, keys::position_key(position))?
            .ok_or(Error::Integrity(IntegrityError::Gap {
                expected: position,
                found: None,
            }))?;
        Ok(RawRecord::parse(position, &bytes)?.recorded_micros)
    }

    /// Iterates the global log from `from_position` (1 = the start) to the end.
    pub fn read_all(&self, from_position: u64) -> Result<EventIter<'_>> {
        self.read_range(from_position, None)
    }

    /// Iterates the global log over `from..=to`.
    pub fn read_range(
        &self,
        from_position: u64,
        to_position: Option<u64>,
    ) -> Result<EventIter<'_>> {
        let from = from_position.max(1);
        let cf = self.cf(keys::CF_EVENTS)?;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(keys::position_key(from).to_vec());
        if let Some(to) = to_position {
            options.set_iterate_upper_bound(keys::position_key(to.saturating_add(1)).to_vec());
        }
        // A full scan would evict the blocks that live reads keep in the
        // cache. Read ahead in steps small enough to stay in the CPU's cache
        // until the blocks are checksummed and decoded: with 2 MiB steps a
        // projection rebuild, whose states crowd the cache, missed on about
        // 300k block lines per 200k events (callgrind, 4 MiB last level).
        options.set_readahead_size(256 << 10);
        options.fill_cache(false);
        let mut raw = self.db().raw_iterator_cf_opt(cf, options);
        raw.seek_to_first();
        Ok(EventIter {
            store: self,
            raw,
            next: from,
            end: to_position,
            done: to_position.is_some_and(|to| to < from),
        })
    }

    /// Every customer with at least one event, in id order.
    pub fn customers(&self) -> Result<Vec<CustomerId>> {
        let cf = self.cf(keys::CF_STREAM_META)?;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(vec![0x01]);
        options.set_iterate_upper_bound(vec![0x02]);
        let mut raw = self.db().raw_iterator_cf_opt(cf, options);
        raw.seek_to_first();
        let mut out = Vec::new();
        while raw.valid() {
            if let Some(key) = raw.key() {
                if let Ok(bytes) = <[u8; 16]>::try_from(&key[1..]) {
                    out.push(CustomerId::from_uuid(uuid::Uuid::from_bytes(bytes)));
                }
            }
            raw.next();
        }
        raw.status()?;
        Ok(out)
    }
}
