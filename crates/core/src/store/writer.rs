//! The single writer. Appenders hand encoded events to one thread, which
//! assigns versions and positions, extends the hash chain, and commits
//! everything that queued up meanwhile in one atomic `WriteBatch` with one
//! fsync (group commit). Positions are only ever taken by this thread, and the
//! in-memory counters move only after RocksDB acknowledged the batch, so the
//! global order has no gaps even when a write fails.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use rocksdb::{ReadOptions, WriteBatch, WriteOptions, DB};
use zeroize::Zeroizing;

use super::keys::{self, EventIdEntry};
use super::Clock;
use crate::codec::{self, PreparedEvent, Sealed, HASH_LEN};
use crate::envelope::{AppendOutcome, AppendStatus, ExpectedVersion};
use crate::error::{Error, Result, ValidationError};
use crate::event::ComplaintStep;
use crate::ids::{CustomerId, EventId};
use crate::privacy::{self, DataClass, KeyBytes, MasterKeys};

/// Events for one customer within an append call.
pub(crate) struct StreamAppend {
    pub customer: CustomerId,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
}

/// Data keys to destroy, in the same commit as the streams' events.
pub(crate) struct EraseKeys {
    pub customer: CustomerId,
    /// `None`: every key of the customer; `Some((class, year))`: that class, years before `year`.
    pub only: Option<(DataClass, i16)>,
}

/// A unit of work for the writer.
pub(crate) struct Request {
    /// Keys destroyed before the streams are staged.
    pub erase: Vec<EraseKeys>,
    /// Data keys to rewrap: (name, wrapped value expected now, new wrapped value).
    pub rewrap: Vec<([u8; 19], Vec<u8>, Vec<u8>)>,
    /// Appended atomically: all or nothing.
    pub streams: Vec<StreamAppend>,
    /// fsync before acknowledging.
    pub sync: bool,
    pub reply: SyncSender<Result<Vec<AppendOutcome>>>,
}

/// Where the log ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub position: u64,
    pub hash: [u8; HASH_LEN],
    pub recorded_micros: i64,
}

/// Most stream versions and complaint steps to keep cached before starting over.
const CACHE_LIMIT: usize = 1 << 20;

pub(crate) struct Writer {
    db: Arc<DB>,
    clock: Arc<dyn Clock>,
    master_keys: Option<Arc<dyn MasterKeys>>,
    data_keys: HashMap<[u8; 19], Zeroizing<KeyBytes>>,
    head: Head,
    versions: HashMap<CustomerId, u64>,
    complaints: HashMap<Vec<u8>, u8>,
    committed: tokio::sync::watch::Sender<u64>,
    max_group: usize,
}

/// State staged by the requests of one group, on top of the committed state.
#[derive(Default)]
struct Staged {
    versions: HashMap<CustomerId, u64>,
    complaints: HashMap<Vec<u8>, u8>,
    ids: HashMap<EventId, EventIdEntry>,
    /// Data keys created (Some) or destroyed (None).
    keys: HashMap<[u8; 19], Option<Zeroizing<KeyBytes>>>,
    /// Whether keys were destroyed (the purge marker must be set).
    erased: bool,
}

/// Key/value pairs of one request, kept aside until the request is known to succeed.
#[derive(Default)]
struct Ops {
    arena: Vec<u8>,
    /// (column family index in `keys::COLUMN_FAMILIES`, key range, value range; `None` deletes)
    entries: Vec<(
        usize,
        std::ops::Range<usize>,
        Option<std::ops::Range<usize>>,
    )>,
}

impl Ops {
    fn put(&mut self, cf: usize, key: &[u8], value: &[u8]) {
        let k0 = self.arena.len();
        self.arena.extend_from_slice(key);
        let k1 = self.arena.len();
        self.arena.extend_from_slice(value);
        let v1 = self.arena.len();
        self.entries.push((cf, k0..k1, Some(k1..v1)));
    }

    fn delete(&mut self, cf: usize, key: &[u8]) {
        let k0 = self.arena.len();
        self.arena.extend_from_slice(key);
        self.entries.push((cf, k0..self.arena.len(), None));
    }

    /// Puts a value that `write` appends to the arena.
    fn put_with(&mut self, cf: usize, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        let k0 = self.arena.len();
        self.arena.extend_from_slice(key);
        let k1 = self.arena.len();
        write(&mut self.arena);
        let v1 = self.arena.len();
        self.entries.push((cf, k0..k1, Some(k1..v1)));
    }

    fn truncate(&mut self, mark: (usize, usize)) {
        self.arena.truncate(mark.0);
        self.entries.truncate(mark.1);
    }

    fn mark(&self) -> (usize, usize) {
        (self.arena.len(), self.entries.len())
    }
}

const CF_EVENTS: usize = 0;
const CF_STREAMS: usize = 1;
const CF_EVENT_IDS: usize = 2;
const CF_STREAM_META: usize = 3;
const CF_DATA_KEYS: usize = 6;

impl Writer {
    pub(crate) fn new(
        db: Arc<DB>,
        clock: Arc<dyn Clock>,
        master_keys: Option<Arc<dyn MasterKeys>>,
        head: Head,
        committed: tokio::sync::watch::Sender<u64>,
        max_group: usize,
    ) -> Self {
        Self {
            db,
            clock,
            master_keys,
            data_keys: HashMap::new(),
            head,
            versions: HashMap::new(),
            complaints: HashMap::new(),
            committed,
            max_group: max_group.max(1),
        }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        let mut group = Vec::with_capacity(self.max_group);
        while let Ok(first) = rx.recv() {
            group.push(first);
            while group.len() < self.max_group {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
    }

    fn cf(&self, index: usize) -> Result<&rocksdb::ColumnFamily> {
        let name = keys::COLUMN_FAMILIES[index];
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Incompatible(format!("column family {name} missing")))
    }

    fn commit_group(&mut self, group: &mut Vec<Request>) {
        let mut staged = Staged::default();
        let mut ops = Ops::default();
        let mut head = self.head;
        let now = self
            .clock
            .now()
            .timestamp_micros()
            .max(head.recorded_micros);
        let mut results: Vec<Option<Result<Vec<AppendOutcome>>>> = Vec::with_capacity(group.len());
        let mut sync = false;
        let mut wrote = false;
        for request in group.iter() {
            let mark = ops.mark();
            let mut request_staged = Staged::default();
            let mut request_head = head;
            match self.stage(
                request,
                &staged,
                &mut request_staged,
                &mut request_head,
                now,
                &mut ops,
            ) {
                Ok((outcomes, writes)) => {
                    if writes {
                        wrote = true;
                        sync |= request.sync;
                        head = request_head;
                        staged.versions.extend(request_staged.versions);
                        staged.complaints.extend(request_staged.complaints);
                        staged.ids.extend(request_staged.ids);
                        staged.keys.extend(request_staged.keys);
                        staged.erased |= request_staged.erased;
                    }
                    results.push(Some(Ok(outcomes)));
                }
                Err(e) => {
                    ops.truncate(mark);
                    results.push(Some(Err(e)));
                }
            }
        }
        if wrote {
            if let Err(e) = self.write(&ops, &head, sync, staged.erased) {
                let message = e.to_string();
                for slot in results.iter_mut() {
                    if matches!(slot, Some(Ok(outcomes)) if outcomes.iter().any(|o| o.status == AppendStatus::Appended))
                    {
                        *slot = Some(Err(Error::Io(std::io::Error::other(message.clone()))));
                    }
                }
            } else {
                self.head = head;
                if self.versions.len() > CACHE_LIMIT {
                    self.versions.clear();
                }
                if self.complaints.len() > CACHE_LIMIT {
                    self.complaints.clear();
                }
                self.versions.extend(staged.versions);
                self.complaints.extend(staged.complaints);
                if self.data_keys.len() > CACHE_LIMIT {
                    self.data_keys.clear();
                }
                for (name, key) in staged.keys {
                    match key {
                        Some(key) => self.data_keys.insert(name, key),
                        None => self.data_keys.remove(&name),
                    };
                }
                self.committed.send_replace(head.position);
            }
        }
        for (request, result) in group.drain(..).zip(results) {
            if let Some(result) = result {
                // The appender may have given up waiting; nothing to do then.
                let _ = request.reply.send(result);
            }
        }
    }

    fn write(&self, ops: &Ops, head: &Head, sync: bool, erased: bool) -> Result<()> {
        let mut batch =
            WriteBatch::with_capacity_bytes(ops.arena.len() + ops.entries.len() * 16 + 64);
        let mut handles = Vec::with_capacity(keys::COLUMN_FAMILIES.len());
        for i in 0..keys::COLUMN_FAMILIES.len() {
            handles.push(self.cf(i)?);
        }
        // In key order per column family (stable: a key's puts and deletes
        // keep their order): each memtable insert then starts its skiplist
        // search next to the previous one, where random keys (event ids,
        // customers) would each search from the top.
        let mut order: Vec<_> = ops.entries.iter().collect();
        order.sort_by(|a, b| (a.0, &ops.arena[a.1.clone()]).cmp(&(b.0, &ops.arena[b.1.clone()])));
        for (cf, k, v) in order {
            match v {
                Some(v) => batch.put_cf(handles[*cf], &ops.arena[k.clone()], &ops.arena[v.clone()]),
                None => batch.delete_cf(handles[*cf], &ops.arena[k.clone()]),
            }
        }
        batch.put(keys::KEY_HEAD, encode_head(head));
        if erased {
            batch.put(keys::KEY_PURGE_PENDING, head.position.to_be_bytes());
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    fn stream_version(
        &self,
        staged: &Staged,
        local: &Staged,
        customer: &CustomerId,
    ) -> Result<u64> {
        if let Some(v) = local
            .versions
            .get(customer)
            .or_else(|| staged.versions.get(customer))
        {
            return Ok(*v);
        }
        if let Some(v) = self.versions.get(customer) {
            return Ok(*v);
        }
        let cf = self.cf(CF_STREAM_META)?;
        Ok(
            match self
                .db
                .get_pinned_cf(cf, keys::stream_version_key(customer))?
            {
                Some(bytes) => keys::read_u64(&bytes).unwrap_or(0),
                None => 0,
            },
        )
    }

    fn complaint_step(&self, staged: &Staged, local: &Staged, key: &[u8]) -> Result<Option<u8>> {
        if let Some(step) = local
            .complaints
            .get(key)
            .or_else(|| staged.complaints.get(key))
        {
            return Ok(Some(*step));
        }
        if let Some(step) = self.complaints.get(key) {
            return Ok(Some(*step));
        }
        let cf = self.cf(CF_STREAM_META)?;
        Ok(self
            .db
            .get_pinned_cf(cf, key)?
            .and_then(|b| b.first().copied()))
    }

    /// Looks up previously stored copies of the request's event ids.
    fn find_ids(
        &self,
        staged: &Staged,
        local: &Staged,
        ids: &[EventId],
    ) -> Result<Vec<Option<EventIdEntry>>> {
        let cf = self.cf(CF_EVENT_IDS)?;
        let keys: Vec<[u8; 16]> = ids.iter().map(keys::event_id_key).collect();
        let stored = self.db.batched_multi_get_cf(cf, keys.iter(), false);
        ids.iter()
            .zip(stored)
            .map(|(id, found)| {
                if let Some(e) = local.ids.get(id).or_else(|| staged.ids.get(id)) {
                    return Ok(Some(EventIdEntry {
                        position: e.position,
                        version: e.version,
                        fingerprint: e.fingerprint,
                    }));
                }
                Ok(match found? {
                    Some(bytes) => Some(EventIdEntry::decode(&bytes).ok_or_else(|| {
                        Error::Integrity(crate::error::IntegrityError::Malformed {
                            position: 0,
                            reason: format!("event_ids entry of {id} is malformed"),
                        })
                    })?),
                    None => None,
                })
            })
            .collect()
    }

    /// The data key `name`, creating (and staging) it if there is none.
    fn data_key(
        &self,
        staged: &Staged,
        local: &mut Staged,
        ops: &mut Ops,
        name: [u8; 19],
    ) -> Result<Zeroizing<KeyBytes>> {
        let master = self.master_keys.as_ref().ok_or(Error::NoMasterKey)?;
        match local.keys.get(&name).or_else(|| staged.keys.get(&name)) {
            Some(Some(key)) => return Ok(key.clone()),
            Some(None) => {} // destroyed in this group: make a new one
            None => {
                if let Some(key) = self.data_keys.get(&name) {
                    return Ok(key.clone());
                }
                if let Some(stored) = self.db.get_pinned_cf(self.cf(CF_DATA_KEYS)?, name)? {
                    return privacy::unwrap_key(master.as_ref(), &stored, &name)
                        .map_err(Error::Key);
                }
            }
        }
        let key = privacy::new_data_key();
        let (id, master_key) = master.current().map_err(Error::Key)?;
        let wrapped = privacy::wrap(id, &master_key, &key, &name).map_err(Error::Key)?;
        ops.put(CF_DATA_KEYS, &name, &wrapped);
        local.keys.insert(name, Some(key.clone()));
        Ok(key)
    }

    /// Stages the destruction of data keys.
    fn erase(
        &self,
        staged: &Staged,
        local: &mut Staged,
        ops: &mut Ops,
        erase: &EraseKeys,
    ) -> Result<()> {
        let mut names: HashSet<[u8; 19]> = HashSet::new();
        let mut options = ReadOptions::default();
        let mut lower = erase.customer.as_bytes().to_vec();
        let mut upper = lower.clone();
        upper.push(0xff);
        if let Some((class, _)) = erase.only {
            lower.push(class.code());
            upper = lower.clone();
            upper.push(0xff);
        }
        options.set_iterate_lower_bound(lower);
        options.set_iterate_upper_bound(upper);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_DATA_KEYS)?, options);
        it.seek_to_first();
        while let Some(k) = it.key() {
            if let Ok(name) = <[u8; 19]>::try_from(k) {
                names.insert(name);
            }
            it.next();
        }
        it.status()?;
        for (name, key) in local.keys.iter().chain(staged.keys.iter()) {
            if key.is_some() && name[..16] == erase.customer.as_bytes()[..] {
                names.insert(*name);
            }
        }
        for name in names {
            let selected = match erase.only {
                None => true,
                Some((class, before)) => {
                    name[16] == class.code()
                        && keys::data_key_year(&name).is_some_and(|y| y < before)
                }
            };
            if selected {
                ops.delete(CF_DATA_KEYS, &name);
                local.keys.insert(name, None);
                local.erased = true;
            }
        }
        Ok(())
    }

    /// Decides one request and stages its writes. Returns the outcomes and
    /// whether anything is to be written.
    fn stage(
        &self,
        request: &Request,
        staged: &Staged,
        local: &mut Staged,
        head: &mut Head,
        now: i64,
        ops: &mut Ops,
    ) -> Result<(Vec<AppendOutcome>, bool)> {
        for erase in &request.erase {
            self.erase(staged, local, ops, erase)?;
        }
        let rewrapped = !request.rewrap.is_empty();
        for (name, old, new) in &request.rewrap {
            // Skip keys destroyed or replaced since they were read.
            if staged.keys.contains_key(name) || local.keys.contains_key(name) {
                continue;
            }
            if self
                .db
                .get_pinned_cf(self.cf(CF_DATA_KEYS)?, name)?
                .as_deref()
                == Some(old.as_slice())
            {
                ops.put(CF_DATA_KEYS, name, new);
            }
        }
        // Idempotency first: it wins over every expected-version mode.
        let ids: Vec<EventId> = request
            .streams
            .iter()
            .flat_map(|s| s.events.iter().map(|e| e.event_id))
            .collect();
        let found = self.find_ids(staged, local, &ids)?;
        let events = request.streams.iter().flat_map(|s| s.events.iter());
        let mut first_found = None;
        let mut all_found = true;
        for ((entry, event), id) in found.iter().zip(events).zip(&ids) {
            match entry {
                Some(entry) => {
                    if entry.fingerprint != event.fingerprint {
                        return Err(Error::IdempotencyConflict {
                            event_id: *id,
                            position: entry.position,
                        });
                    }
                    first_found.get_or_insert(*id);
                }
                None => all_found = false,
            }
        }
        if let Some(event_id) = first_found {
            if !all_found {
                return Err(Error::PartiallyAppended { event_id });
            }
            let mut found = found.into_iter();
            let mut outcomes = Vec::with_capacity(request.streams.len());
            for stream in &request.streams {
                let positions: Vec<(u64, u64)> = found
                    .by_ref()
                    .take(stream.events.len())
                    .flatten()
                    .map(|e| (e.version, e.position))
                    .collect();
                outcomes.push(AppendOutcome {
                    status: AppendStatus::AlreadyAppended,
                    customer_id: stream.customer,
                    positions,
                    stream_version: self.stream_version(staged, local, &stream.customer)?,
                });
            }
            return Ok((outcomes, local.erased || rewrapped));
        }

        let mut outcomes = Vec::with_capacity(request.streams.len());
        let mut index = 0usize;
        for stream in &request.streams {
            let customer = stream.customer;
            let actual = self.stream_version(staged, local, &customer)?;
            if !stream.expected.matches(actual) {
                return Err(Error::WrongExpectedVersion {
                    customer,
                    expected: stream.expected,
                    actual,
                });
            }
            let mut version = actual;
            let mut positions = Vec::with_capacity(stream.events.len());
            for event in &stream.events {
                if let Some((complaint_id, step)) = &event.complaint {
                    let key = keys::complaint_key(&customer, complaint_id);
                    let previous = self.complaint_step(staged, local, &key)?;
                    check_complaint_order(complaint_id, previous, *step)
                        .map_err(|e| e.at(index))?;
                    ops.put(CF_STREAM_META, &key, &[*step]);
                    local.complaints.insert(key, *step);
                }
                version += 1;
                let position = head.position + 1;
                let previous_hash = head.hash;
                let sealed_bytes = match &event.personal {
                    Some(p) => {
                        let name = keys::data_key_name(&customer, p.class, p.year);
                        let key = self.data_key(staged, local, ops, name)?;
                        let ad = privacy::associated_data(
                            &event.event_id,
                            &customer,
                            event.kind.code(),
                            event.schema_version,
                            p.class,
                            p.year,
                        );
                        let bytes = privacy::seal(&key, &p.plaintext, &ad).map_err(Error::Key)?;
                        Some((p.class, p.year, bytes))
                    }
                    None => None,
                };
                let sealed = sealed_bytes.as_ref().map(|(class, year, bytes)| Sealed {
                    class: *class,
                    year: *year,
                    bytes,
                });
                let mut hash = [0u8; HASH_LEN];
                ops.put_with(CF_EVENTS, &keys::position_key(position), |out| {
                    hash = codec::encode_record(
                        out,
                        event,
                        sealed.as_ref(),
                        &customer,
                        version,
                        position,
                        now,
                        &previous_hash,
                    );
                });
                ops.put(
                    CF_STREAMS,
                    &keys::stream_key(&customer, version),
                    &keys::stream_entry(position, event.occurred_micros),
                );
                let entry = EventIdEntry {
                    position,
                    version,
                    fingerprint: event.fingerprint,
                };
                ops.put(
                    CF_EVENT_IDS,
                    &keys::event_id_key(&event.event_id),
                    &entry.encode(),
                );
                local.ids.insert(event.event_id, entry);
                *head = Head {
                    position,
                    hash,
                    recorded_micros: now,
                };
                positions.push((version, position));
                index += 1;
            }
            ops.put(
                CF_STREAM_META,
                &keys::stream_version_key(&customer),
                &version.to_be_bytes(),
            );
            local.versions.insert(customer, version);
            outcomes.push(AppendOutcome {
                status: AppendStatus::Appended,
                customer_id: customer,
                positions,
                stream_version: version,
            });
        }
        Ok((outcomes, true))
    }
}

fn check_complaint_order(
    complaint_id: &str,
    previous: Option<u8>,
    step: u8,
) -> Result<(), ValidationError> {
    let name = |s: u8| {
        ComplaintStep::ALL
            .get(usize::from(s))
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| s.to_string())
    };
    match previous {
        None if step != ComplaintStep::Received.index() => Err(ValidationError::new(
            "step",
            format!("complaint {complaint_id:?} must start with `received`, not `{}`", name(step)),
        )),
        Some(prev) if step <= prev => Err(ValidationError::new(
            "step",
            format!(
                "complaint {complaint_id:?}: `{}` cannot follow `{}` (order: received → classified → investigated → resolved → feedback_given → archived)",
                name(step),
                name(prev)
            ),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn encode_head(head: &Head) -> [u8; 48] {
    let mut v = [0u8; 48];
    v[..8].copy_from_slice(&head.position.to_be_bytes());
    v[8..40].copy_from_slice(&head.hash);
    v[40..].copy_from_slice(&head.recorded_micros.to_be_bytes());
    v
}

pub(crate) fn decode_head(bytes: &[u8]) -> Option<Head> {
    if bytes.len() != 48 {
        return None;
    }
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&bytes[8..40]);
    Some(Head {
        position: keys::read_u64(&bytes[..8])?,
        hash,
        recorded_micros: keys::read_u64(&bytes[40..48])? as i64,
    })
}
