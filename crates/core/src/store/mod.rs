//! The event log: an append-only, hash-chained, durable store in RocksDB.

mod keys;
mod keyspace;
mod read;
mod subscribe;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, Options, DB,
};

use crate::codec::{self, PersonalPlain, PreparedEvent, RawRecord, Sealed, Unsealed, GENESIS_HASH};
use crate::envelope::{AppendOutcome, ExpectedVersion, NewEvent, RecordedEvent, StoredAs};
use crate::error::{Error, Result, ValidationError};
use crate::event::EventPayload;
use crate::ids::CustomerId;
use crate::privacy::{self, AccessLog, AccessRecord, MasterKeys};
use crate::schema::{self, CURRENT_SCHEMA_VERSION};
use crate::validate::ValidationPolicy;

pub use keyspace::{Keyspace, KeyspaceBatch};
pub use read::{EventIter, StreamIter};
pub use subscribe::Subscription;
pub use verify::VerifyReport;
use writer::{EraseKeys, Head, Request, StreamAppend, Writer};

mod privacy_ops;
pub use privacy_ops::RetentionRule;

/// A source of "now" for `recorded_at` and validation. Never read inside folds.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests, demos and replays.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = now;
        }
    }

    /// Moves the time forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// After the write-ahead log is fsynced: survives power loss. The default.
    /// Concurrent appenders share fsyncs (group commit).
    #[default]
    Sync,
    /// After the write reached the write-ahead log in the OS page cache:
    /// survives a process crash, not a power loss or kernel crash. For bulk
    /// imports; call [`Store::sync`] at the end to make everything durable.
    Buffered,
}

/// How to open a [`Store`].
#[derive(Clone)]
pub struct StoreOptions {
    /// Default durability of appends.
    pub durability: Durability,
    /// Validation limits.
    pub validation: ValidationPolicy,
    /// Time source for `recorded_at` and validation.
    pub clock: Arc<dyn Clock>,
    /// Most append calls committed in one group (one WriteBatch, one fsync).
    pub max_group_commit: usize,
    /// Create the store if the directory holds none.
    pub create_if_missing: bool,
    /// Master keys protecting personal data. Without them, appending personal
    /// data fails with [`Error::NoMasterKey`] and sealed fields read as
    /// [`PersonalData::Locked`](crate::privacy::PersonalData::Locked).
    pub master_keys: Option<Arc<dyn MasterKeys>>,
    /// Receives a record of every decryption of personal data (optional).
    pub access_log: Option<Arc<dyn AccessLog>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            validation: ValidationPolicy::default(),
            clock: Arc::new(SystemClock),
            max_group_commit: 256,
            create_if_missing: true,
            master_keys: None,
            access_log: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("durability", &self.durability)
            .field("validation", &self.validation)
            .field("max_group_commit", &self.max_group_commit)
            .field("create_if_missing", &self.create_if_missing)
            .field("master_keys", &self.master_keys.is_some())
            .field("access_log", &self.access_log.is_some())
            .finish_non_exhaustive()
    }
}

struct WriterHandle {
    tx: Mutex<Option<mpsc::SyncSender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    db: Arc<DB>,
    path: PathBuf,
    writer: Option<WriterHandle>,
    committed: tokio::sync::watch::Receiver<u64>,
    options: StoreOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(w) = &self.writer {
            if let Ok(mut tx) = w.tx.lock() {
                tx.take();
            }
            if let Ok(mut thread) = w.thread.lock() {
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// The event log. Cheap to clone; all clones share one database and one writer.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let alice = CustomerId::new_random();
/// let when = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
/// let order = Purchase::new("A-1001", "300.00".parse()?, "CNY".parse()?);
/// let outcome = store.append(alice, ExpectedVersion::NoStream, vec![NewEvent::new(when, order)])?;
/// assert_eq!(outcome.positions, vec![(1, 1)]);
/// let events = store.read_stream(alice)?;
/// assert_eq!(events[0].kind(), EventKind::Purchase);
/// store.verify()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Who reads through this handle (for the access log).
    reader: Option<Arc<str>>,
    /// Reads through this handle never decrypt personal data.
    public_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("read_only", &self.inner.writer.is_none())
            .finish_non_exhaustive()
    }
}

fn db_options(create: bool) -> Options {
    let mut o = Options::default();
    o.create_if_missing(create);
    o.create_missing_column_families(create);
    // Replay the WAL up to the first damaged record and stop there: the store
    // comes back as a consistent prefix of what was written. Synced appends
    // are always in that prefix; an unsynced tail may be cut, never holed.
    o.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    o.set_paranoid_checks(true);
    o.increase_parallelism(2);
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_bottommost_compression_type(DBCompressionType::Zstd);
    o
}

/// Share of a memtable's write buffer given to its Bloom filter (see
/// [`cf_options`]).
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;

fn cf_options(name: &str) -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    if name == keys::CF_PROJECTIONS {
        // States are read by point lookups, each decompressing a whole block
        // (a catch-up after a restart reads one per customer): LZ4 down to
        // the bottom level, which decompresses several times faster than
        // Zstd.
        o.set_bottommost_compression_type(DBCompressionType::Lz4);
    } else {
        o.set_bottommost_compression_type(DBCompressionType::Zstd);
    }
    let mut table = BlockBasedOptions::default();
    if name == keys::CF_EVENT_IDS || name == keys::CF_STREAM_META || name == keys::CF_PROJECTIONS {
        // Point lookups on every append, and on every new customer's first
        // event in a projection's catch-up: a Bloom filter makes misses cheap.
        table.set_bloom_filter(10.0, false);
        o.set_memtable_whole_key_filtering(true);
        // The memtable's filter takes this share of the 64 MiB write buffer
        // and is zeroed whenever a memtable is created (at every open and
        // after every flush). At 0.02 it is 10.7 Mbit: 12 bits a key even
        // when a memtable is full of the smallest entries (event ids, ~75
        // bytes each in the memtable), about 1 % false positives, each
        // costing one skiplist search. 0.05 zeroed 10 MiB per open for the
        // three column families: ~6 ms of page faults on a 2-core VM.
        o.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
    }
    o.set_block_based_table_factory(&table);
    o
}

fn descriptors() -> Vec<ColumnFamilyDescriptor> {
    keys::COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name)))
        .collect()
}

impl Store {
    /// Opens (creating if needed) the store in `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens the store in `path`.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db =
            DB::open_cf_descriptors(&db_options(options.create_if_missing), &path, descriptors())?;
        check_or_write_format(&db, true)?;
        let head = read_head(&db)?;
        let db = Arc::new(db);
        let (committed_tx, committed_rx) = tokio::sync::watch::channel(head.position);
        let writer = Writer::new(
            db.clone(),
            options.clock.clone(),
            options.master_keys.clone(),
            head,
            committed_tx,
            options.max_group_commit,
        );
        let (tx, rx) = mpsc::sync_channel::<Request>(1024);
        let thread = std::thread::Builder::new()
            .name("clientele-writer".into())
            .spawn(move || writer.run(rx))?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                path,
                writer: Some(WriterHandle {
                    tx: Mutex::new(Some(tx)),
                    thread: Mutex::new(Some(thread)),
                }),
                committed: committed_rx,
                options,
            }),
            reader: None,
            public_only: false,
        };
        // An erasure whose physical purge was interrupted (crash) is finished now.
        if store.inner.db.get(keys::KEY_PURGE_PENDING)?.is_some() {
            tracing::info!(path = %store.inner.path.display(), "finishing an interrupted purge of erased data");
            store.purge()?;
        }
        tracing::debug!(
            path = %store.inner.path.display(),
            head = store.head(),
            "store opened"
        );
        Ok(store)
    }

    /// Opens an existing store read-only (e.g. a backup, or a live store from an
    /// audit tool). Appends fail with [`Error::ReadOnly`]. Personal fields read
    /// as locked.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_read_only_with(path, StoreOptions::default())
    }

    /// [`Store::open_read_only`] with options (master keys, access log, clock).
    pub fn open_read_only_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut names: Vec<&str> = vec![rocksdb::DEFAULT_COLUMN_FAMILY_NAME];
        names.extend(keys::COLUMN_FAMILIES);
        let db = DB::open_cf_for_read_only(&db_options(false), &path, names, false)?;
        check_or_write_format(&db, false)?;
        let head = read_head(&db)?;
        let (_tx, committed_rx) = tokio::sync::watch::channel(head.position);
        Ok(Self {
            inner: Arc::new(Inner {
                db: Arc::new(db),
                path,
                writer: None,
                committed: committed_rx,
                options,
            }),
            reader: None,
            public_only: false,
        })
    }

    /// A handle that reads as `reader` (a user, service or job name): the
    /// access log records it for every decryption of personal data.
    pub fn reader(&self, reader: &str) -> Store {
        Store {
            inner: self.inner.clone(),
            reader: Some(Arc::from(reader)),
            public_only: self.public_only,
        }
    }

    /// A handle whose reads never decrypt personal data: sealed fields read
    /// empty, with `personal_data: locked`, as in a store without master
    /// keys, and nothing is written to the access log. Appends and every
    /// other operation are unchanged. The projection runtime reads through
    /// such a handle for a projection that does not read personal data
    /// ([`Projection::reads_personal_data`](crate::projection::Projection::reads_personal_data)),
    /// and through a full one for a projection that does, whichever handle
    /// it is opened with: a projection's states never depend on that.
    ///
    /// ```
    /// use clientele_core::privacy::{MasterKeyRing, PersonalData};
    /// use clientele_core::{event::Profile, CustomerId, ExpectedVersion, NewEvent, Store, StoreOptions};
    /// use chrono::Utc;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let options = StoreOptions {
    ///     master_keys: Some(std::sync::Arc::new(MasterKeyRing::new(1, [7; 32]))),
    ///     ..StoreOptions::default()
    /// };
    /// let store = Store::open_with(dir.path(), options)?;
    /// let customer = CustomerId::new_random();
    /// let mut profile = Profile::default();
    /// profile.name = Some("Zhou Yan".into());
    /// store.append(customer, ExpectedVersion::Any, vec![NewEvent::new(Utc::now(), profile)])?;
    /// assert_eq!(store.read_stream(customer)?[0].personal_data, PersonalData::Available);
    /// let public = store.public_only();
    /// assert_eq!(public.read_stream(customer)?[0].personal_data, PersonalData::Locked);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn public_only(&self) -> Store {
        self.with_personal_data(false)
    }

    /// This handle, reading personal data or not (see [`Store::public_only`]).
    pub(crate) fn with_personal_data(&self, readable: bool) -> Store {
        Store {
            inner: self.inner.clone(),
            reader: self.reader.clone(),
            public_only: !readable,
        }
    }

    /// Opens the sealed personal part of a record (read paths).
    pub(crate) fn unseal(
        &self,
        raw: &RawRecord<'_>,
        sealed: &Sealed<'_>,
        position: u64,
    ) -> std::result::Result<Unsealed, String> {
        let Some(master) = &self.inner.options.master_keys else {
            return Ok(Unsealed::Locked);
        };
        if self.public_only {
            return Ok(Unsealed::Locked);
        }
        let cf = self.cf(keys::CF_DATA_KEYS).map_err(|e| e.to_string())?;
        let name = keys::data_key_name(&raw.customer_id, sealed.class, sealed.year);
        let Some(stored) = self
            .inner
            .db
            .get_pinned_cf(cf, name)
            .map_err(|e| e.to_string())?
        else {
            return Ok(Unsealed::Erased);
        };
        let Ok(key) = privacy::unwrap_key(master.as_ref(), &stored, &name) else {
            return Ok(Unsealed::Locked);
        };
        let plain = privacy::open(&key, sealed.bytes, &raw.associated_data(sealed))?;
        let part = postcard::from_bytes(&plain).map_err(|e| format!("personal part: {e}"))?;
        if let Some(log) = &self.inner.options.access_log {
            log.record(AccessRecord {
                at: self.inner.options.clock.now(),
                reader: self.reader.as_deref().map(str::to_owned),
                customer: raw.customer_id,
                position,
                class: sealed.class,
            });
        }
        Ok(Unsealed::Part(part))
    }

    /// Decodes a stored record, opening its personal part if keys allow.
    pub(crate) fn decode_record(&self, position: u64, bytes: &[u8]) -> Result<RecordedEvent> {
        let raw = RawRecord::parse(position, bytes)?;
        // The in-place decoder the log scans use: the same event as
        // `RawRecord::decode` (a property test in codec says so), fewer
        // allocations.
        Ok(raw.decode_fresh(position, &|r, s| self.unseal(r, s, position))?)
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether appends are refused.
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.is_none()
    }

    /// The last committed global position (0 for an empty log).
    pub fn head(&self) -> u64 {
        *self.inner.committed.borrow()
    }

    pub(crate) fn db(&self) -> &DB {
        &self.inner.db
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.inner
            .db
            .cf_handle(name)
            .ok_or_else(|| Error::Incompatible(format!("column family {name} missing")))
    }

    /// Validates and encodes events for `customer` (in the caller's thread, so
    /// appenders encode in parallel and the writer only sequences).
    fn prepare(
        &self,
        customer: CustomerId,
        events: Vec<NewEvent>,
        first_index: usize,
    ) -> Result<Vec<PreparedEvent>> {
        if customer.as_uuid().is_nil() {
            let error = ValidationError::new("customer_id", "must not be the nil UUID");
            // Named at the customer's first event, as other errors are named.
            let error = if events.is_empty() {
                error
            } else {
                error.at(first_index)
            };
            return Err(error.into());
        }
        let now = self.inner.options.clock.now();
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        let mut prepared = Vec::with_capacity(events.len());
        for (i, mut event) in events.into_iter().enumerate() {
            let index = first_index + i;
            self.inner
                .options
                .validation
                .check(&mut event, now)
                .map_err(|e| e.at(index))?;
            if !seen.insert(event.event_id) {
                return Err(ValidationError::new(
                    "event_id",
                    format!("{} appears twice in one append", event.event_id),
                )
                .at(index)
                .into());
            }
            let mut event = prepare_event(&event)
                .map_err(|reason| ValidationError::new("payload", reason).at(index))?;
            if event.personal.is_some() && self.inner.options.master_keys.is_none() {
                return Err(Error::NoMasterKey);
            }
            event.fingerprint = codec::fingerprint(&customer, &event);
            prepared.push(event);
        }
        Ok(prepared)
    }

    /// Appends events to one customer's stream, atomically, with the store's
    /// default durability.
    ///
    /// * `expected`: [`ExpectedVersion::Any`], [`ExpectedVersion::NoStream`] or
    ///   [`ExpectedVersion::Exact`]; a mismatch is [`Error::WrongExpectedVersion`]
    ///   carrying the actual version, and nothing is written.
    /// * Idempotent: if every event id is already stored with the same content,
    ///   the outcome is [`AppendStatus::AlreadyAppended`](crate::AppendStatus)
    ///   with the original positions, whatever `expected` says.
    /// * Any invalid event rejects the whole call ([`Error::Validation`] names it).
    pub fn append(
        &self,
        customer: CustomerId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        self.append_with(customer, expected, events, self.inner.options.durability)
    }

    /// [`Store::append`] with an explicit durability.
    pub fn append_with(
        &self,
        customer: CustomerId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        durability: Durability,
    ) -> Result<AppendOutcome> {
        let mut outcomes =
            self.append_batch_with(vec![(customer, expected, events)], durability)?;
        outcomes.pop().ok_or(Error::WriterStopped)
    }

    /// Appends to several customers' streams in one atomic commit: all or nothing.
    pub fn append_batch(
        &self,
        streams: Vec<(CustomerId, ExpectedVersion, Vec<NewEvent>)>,
    ) -> Result<Vec<AppendOutcome>> {
        self.append_batch_with(streams, self.inner.options.durability)
    }

    /// [`Store::append_batch`] with an explicit durability.
    pub fn append_batch_with(
        &self,
        streams: Vec<(CustomerId, ExpectedVersion, Vec<NewEvent>)>,
        durability: Durability,
    ) -> Result<Vec<AppendOutcome>> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let mut prepared = Vec::with_capacity(streams.len());
        let mut index = 0;
        let mut all_ids = std::collections::HashSet::new();
        for (customer, expected, events) in streams {
            let n = events.len();
            let events = self.prepare(customer, events, index)?;
            for (i, e) in events.iter().enumerate() {
                if !all_ids.insert(e.event_id) {
                    return Err(ValidationError::new(
                        "event_id",
                        format!("{} appears twice in one append", e.event_id),
                    )
                    .at(index + i)
                    .into());
                }
            }
            index += n;
            prepared.push(StreamAppend {
                customer,
                expected,
                events,
            });
        }
        self.submit(prepared, durability)
    }

    /// What appending each `(customer, event)` would do with the event's id,
    /// without writing anything: [`StoredAs::New`], [`StoredAs::Same`] (an
    /// idempotent repeat) or [`StoredAs::Conflict`] (the id is taken by other
    /// content). Each event is validated as an append validates it; an
    /// invalid one is [`Error::Validation`] naming its index in `events`.
    /// Each is judged against the log alone: what an append checks against
    /// the stream (the order of a complaint's steps) or within its batch (an
    /// id given twice) is not checked here — an id given twice in `events`
    /// is judged twice, where one append of both would be refused.
    ///
    /// It lets a caller check a stream of events too big to hold in memory
    /// before writing any of it (the CLI's `import --strict`). Appends that
    /// commit after this call are not accounted for.
    ///
    /// ```
    /// use clientele_core::{CustomerId, EventId, ExpectedVersion, NewEvent, Store, StoredAs};
    /// use clientele_core::event::Purchase;
    /// use chrono::Utc;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let customer = CustomerId::new_random();
    /// let id = EventId::derived(b"order A-1");
    /// let purchase = |amount: &str| -> Result<NewEvent, Box<dyn std::error::Error>> {
    ///     let p = Purchase::new("A-1", amount.parse()?, "EUR".parse()?);
    ///     Ok(NewEvent::new("2025-03-01T10:00:00Z".parse()?, p).with_id(id))
    /// };
    /// store.append(customer, ExpectedVersion::Any, vec![purchase("12.50")?])?;
    ///
    /// let checked = store.stored_as(vec![
    ///     (customer, purchase("12.50")?),                         // the same again
    ///     (customer, purchase("99.00")?),                         // same id, other content
    ///     (CustomerId::new_random(), purchase("12.50")?),         // same id, other customer
    ///     (customer, NewEvent::new(Utc::now(), Purchase::new("A-2", "5.00".parse()?, "EUR".parse()?))),
    /// ])?;
    /// assert_eq!(checked[0], StoredAs::Same { position: 1 });
    /// assert_eq!(checked[1], StoredAs::Conflict { position: 1 });
    /// assert_eq!(checked[2], StoredAs::Conflict { position: 1 });
    /// assert_eq!(checked[3], StoredAs::New);
    /// assert_eq!(store.head(), 1); // nothing written
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stored_as(&self, events: Vec<(CustomerId, NewEvent)>) -> Result<Vec<StoredAs>> {
        let mut fingerprints = Vec::with_capacity(events.len());
        for (index, (customer, event)) in events.into_iter().enumerate() {
            let id = event.event_id;
            let prepared = self.prepare(customer, vec![event], index)?;
            let fingerprint = prepared.first().map(|e| e.fingerprint).unwrap_or_default();
            fingerprints.push((id, fingerprint));
        }
        let cf = self.cf(keys::CF_EVENT_IDS)?;
        let ids: Vec<[u8; 16]> = fingerprints
            .iter()
            .map(|(id, _)| keys::event_id_key(id))
            .collect();
        let found = self.db().batched_multi_get_cf(cf, ids.iter(), false);
        fingerprints
            .iter()
            .zip(found)
            .map(|((id, fingerprint), found)| {
                let Some(bytes) = found? else {
                    return Ok(StoredAs::New);
                };
                let entry = keys::EventIdEntry::decode(&bytes).ok_or_else(|| {
                    Error::Integrity(crate::error::IntegrityError::Index {
                        index: keys::CF_EVENT_IDS,
                        position: 0,
                        reason: format!("entry of event {id} does not decode"),
                    })
                })?;
                Ok(if entry.fingerprint == *fingerprint {
                    StoredAs::Same {
                        position: entry.position,
                    }
                } else {
                    StoredAs::Conflict {
                        position: entry.position,
                    }
                })
            })
            .collect()
    }

    /// Hands prepared streams to the writer and waits for the outcome.
    fn submit(
        &self,
        prepared: Vec<StreamAppend>,
        durability: Durability,
    ) -> Result<Vec<AppendOutcome>> {
        self.submit_request(Vec::new(), Vec::new(), prepared, durability)
    }

    fn submit_request(
        &self,
        erase: Vec<EraseKeys>,
        rewrap: Vec<([u8; 19], Vec<u8>, Vec<u8>)>,
        prepared: Vec<StreamAppend>,
        durability: Durability,
    ) -> Result<Vec<AppendOutcome>> {
        let writer = self.inner.writer.as_ref().ok_or(Error::ReadOnly)?;
        let (reply, response) = mpsc::sync_channel(1);
        let request = Request {
            erase,
            rewrap,
            streams: prepared,
            sync: durability == Durability::Sync,
            reply,
        };
        {
            let tx = writer.tx.lock().map_err(|_| Error::WriterStopped)?;
            let tx = tx.as_ref().ok_or(Error::WriterStopped)?.clone();
            tx.send(request).map_err(|_| Error::WriterStopped)?;
        }
        response.recv().map_err(|_| Error::WriterStopped)?
    }

    /// Makes every acknowledged append durable (fsyncs the write-ahead log):
    /// the end of a [`Durability::Buffered`] import.
    pub fn sync(&self) -> Result<()> {
        if self.is_read_only() {
            return Ok(());
        }
        self.inner.db.flush_wal(true)?;
        Ok(())
    }

    /// A customer's current stream version (0 = no events).
    pub fn stream_version(&self, customer: CustomerId) -> Result<u64> {
        let cf = self.cf(keys::CF_STREAM_META)?;
        Ok(
            match self
                .inner
                .db
                .get_pinned_cf(cf, keys::stream_version_key(&customer))?
            {
                Some(bytes) => keys::read_u64(&bytes).unwrap_or(0),
                None => 0,
            },
        )
    }

    /// Saves a named checkpoint (e.g. a consumer's last processed position).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Incompatible`] for a name the store
    /// keeps for itself: starting with `projection:` (the projections'
    /// checkpoints) or `ks:` (keyspaces), which saving would overwrite.
    pub fn save_checkpoint(&self, name: &str, position: u64) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        checkpoint_name(name)?;
        let cf = self.cf(keys::CF_CHECKPOINTS)?;
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(true);
        self.inner
            .db
            .put_cf_opt(cf, name.as_bytes(), position.to_be_bytes(), &options)?;
        Ok(())
    }

    pub(crate) fn projections_cf(&self) -> Result<&rocksdb::ColumnFamily> {
        self.cf(keys::CF_PROJECTIONS)
    }

    pub(crate) fn checkpoints_cf(&self) -> Result<&rocksdb::ColumnFamily> {
        self.cf(keys::CF_CHECKPOINTS)
    }

    pub(crate) fn load_checkpoint_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(keys::CF_CHECKPOINTS)?;
        Ok(self.inner.db.get_cf(cf, key)?)
    }

    /// Loads a named checkpoint (None: never saved).
    ///
    /// # Errors
    /// [`Error::Incompatible`] for a name [`Store::save_checkpoint`] refuses.
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<u64>> {
        checkpoint_name(name)?;
        let cf = self.cf(keys::CF_CHECKPOINTS)?;
        Ok(self
            .inner
            .db
            .get_pinned_cf(cf, name.as_bytes())?
            .and_then(|b| keys::read_u64(&b)))
    }

    /// Writes a consistent copy of the store into `dir` (which must not exist),
    /// using RocksDB checkpoints: hard links where possible, so it is fast and
    /// small. The copy opens with [`Store::open`] or [`Store::open_read_only`].
    pub fn backup(&self, dir: impl AsRef<Path>) -> Result<()> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.inner.db)?;
        checkpoint.create_checkpoint(dir.as_ref())?;
        tracing::info!(
            dir = %dir.as_ref().display(),
            head = self.head(),
            "backup written"
        );
        Ok(())
    }

    /// Restores a backup made by [`Store::backup`] into `target` (which must not
    /// exist or be empty), verifies it, and opens it.
    pub fn restore(backup: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<Self> {
        let (backup, target) = (backup.as_ref(), target.as_ref());
        {
            let check = Store::open_read_only(backup)?;
            check.verify()?;
        }
        if target.exists() && std::fs::read_dir(target)?.next().is_some() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} is not empty", target.display()),
            )));
        }
        std::fs::create_dir_all(target)?;
        for entry in std::fs::read_dir(backup)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), target.join(entry.file_name()))?;
            }
        }
        let store = Store::open_with(
            target,
            StoreOptions {
                create_if_missing: false,
                ..StoreOptions::default()
            },
        )?;
        store.verify()?;
        Ok(store)
    }
}

/// Refuses the checkpoint names under which the store keeps its own
/// entries in the checkpoints column family.
fn checkpoint_name(name: &str) -> Result<()> {
    const RESERVED: [&str; 2] = ["projection:", "ks:"];
    match RESERVED.iter().find(|prefix| name.starts_with(*prefix)) {
        Some(prefix) => Err(Error::Incompatible(format!(
            "checkpoint name {name:?}: names starting with {prefix:?} are the store's own"
        ))),
        None => Ok(()),
    }
}

/// Validated event → encoded public payload, personal part and metadata.
pub(crate) fn prepare_event(event: &NewEvent) -> Result<PreparedEvent, String> {
    let mut public = event.payload.clone();
    let personal = match privacy::split(&mut public) {
        Some(part) => Some(PersonalPlain {
            class: part.class(),
            year: privacy::key_year(event.occurred_at),
            plaintext: zeroize::Zeroizing::new(
                postcard::to_allocvec(&part).map_err(|e| e.to_string())?,
            ),
        }),
        None => None,
    };
    let mut payload = Vec::with_capacity(64);
    schema::encode_payload(&public, &mut payload)?;
    let complaint = match &event.payload {
        EventPayload::Complaint(c) => Some((c.complaint_id.clone(), c.step.index())),
        _ => None,
    };
    Ok(PreparedEvent {
        event_id: event.event_id,
        kind: event.payload.kind(),
        schema_version: CURRENT_SCHEMA_VERSION,
        flags: 0,
        occurred_micros: event.occurred_at.timestamp_micros(),
        metadata: codec::encode_metadata(&event.metadata)?,
        payload,
        fingerprint: [0; 16],
        complaint,
        personal,
    })
}

fn check_or_write_format(db: &DB, writable: bool) -> Result<()> {
    match db.get(keys::KEY_FORMAT)? {
        Some(bytes) => {
            let format = bytes
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if format != Some(keys::STORE_FORMAT) {
                return Err(Error::Incompatible(format!(
                    "store format {format:?}, this build reads {}",
                    keys::STORE_FORMAT
                )));
            }
            Ok(())
        }
        None => {
            let has_events = {
                let cf = db
                    .cf_handle(keys::CF_EVENTS)
                    .ok_or_else(|| Error::Incompatible("no events column family".into()))?;
                let mut it = db.raw_iterator_cf(cf);
                it.seek_to_first();
                it.valid()
            };
            if has_events {
                return Err(Error::Incompatible(
                    "events present but no format marker".into(),
                ));
            }
            if writable {
                let mut o = rocksdb::WriteOptions::default();
                o.set_sync(true);
                db.put_opt(keys::KEY_FORMAT, keys::STORE_FORMAT.to_be_bytes(), &o)?;
            }
            Ok(())
        }
    }
}

fn read_head(db: &DB) -> Result<Head> {
    match db.get(keys::KEY_HEAD)? {
        Some(bytes) => writer::decode_head(&bytes).ok_or_else(|| {
            Error::Integrity(crate::error::IntegrityError::Malformed {
                position: 0,
                reason: "head record malformed".into(),
            })
        }),
        None => Ok(Head {
            position: 0,
            hash: GENESIS_HASH,
            recorded_micros: i64::MIN,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, Contact, Direction, EventKind, Purpose, RenewalIntent};
    use crate::schema::ContactV1;
    use chrono::TimeZone;

    /// Writes a record exactly as schema v1 did.
    fn append_v1_contact(store: &Store, customer: CustomerId, satisfaction: u8) -> u64 {
        let old = ContactV1 {
            channel: Channel::Phone,
            direction: Direction::Outbound,
            purpose: Purpose::RenewalReminder,
            outcome: Some("reached".into()),
            satisfaction: Some(satisfaction),
            renewal_intent: Some(RenewalIntent::NotRenewing),
        };
        let mut event = PreparedEvent {
            event_id: crate::EventId::new(),
            kind: EventKind::Contact,
            schema_version: 1,
            flags: 0,
            occurred_micros: Utc
                .with_ymd_and_hms(2019, 5, 1, 8, 0, 0)
                .unwrap()
                .timestamp_micros(),
            metadata: Vec::new(),
            payload: postcard::to_allocvec(&old).unwrap(),
            fingerprint: [0; 16],
            complaint: None,
            personal: None,
        };
        event.fingerprint = codec::fingerprint(&customer, &event);
        let stream = StreamAppend {
            customer,
            expected: ExpectedVersion::Any,
            events: vec![event],
        };
        let outcome = store.submit(vec![stream], Durability::Sync).unwrap();
        assert_eq!(outcome[0].status, crate::AppendStatus::Appended);
        outcome[0].positions[0].1
    }

    fn assert_upcast(event: &crate::RecordedEvent) {
        assert_eq!(event.schema_version, 1);
        let EventPayload::Contact(Contact {
            rating,
            outcome,
            renewal_intent,
            perceived,
            ..
        }) = &event.payload
        else {
            panic!("not a contact: {event:?}")
        };
        assert_eq!(*rating, Some(4));
        assert_eq!(outcome.as_deref(), Some("reached"));
        assert_eq!(*renewal_intent, Some(RenewalIntent::NotRenewing));
        assert_eq!(*perceived, None);
    }

    #[test]
    fn v1_records_are_upcast_on_every_read_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let customer = CustomerId::new_random();
        let position = append_v1_contact(&store, customer, 4);
        assert_upcast(&store.read_stream(customer).unwrap()[0]);
        assert_upcast(&store.read_all(1).unwrap().next().unwrap().unwrap());
        assert_upcast(&store.read_event(position).unwrap().unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut subscription = store.subscribe(1);
        let event = runtime.block_on(subscription.next()).unwrap().unwrap();
        assert_upcast(&event);
        assert_eq!(store.verify().unwrap().events, 1);
        drop(subscription);
        drop(store);
        // And after reopening read-only (a backup, an audit).
        let store = Store::open_read_only(dir.path()).unwrap();
        assert_upcast(&store.read_stream(customer).unwrap()[0]);
    }

    /// The erasure commit happened but the process died before the purge: the
    /// next open finishes it, so the key bytes are gone from disk.
    #[test]
    fn an_interrupted_forget_is_purged_at_the_next_open() {
        use crate::event::Profile;
        let dir = tempfile::tempdir().unwrap();
        let ring = crate::privacy::MasterKeyRing::generate();
        let options = || StoreOptions {
            master_keys: Some(Arc::new(ring.clone())),
            ..StoreOptions::default()
        };
        let customer = CustomerId::new_random();
        let wrapped = {
            let store = Store::open_with(dir.path(), options()).unwrap();
            let profile = Profile {
                name: Some("Zhao Lei".into()),
                ..Profile::default()
            };
            store
                .append(
                    customer,
                    ExpectedVersion::Any,
                    vec![NewEvent::new(Utc::now(), profile)],
                )
                .unwrap();
            store.purge().unwrap();
            let cf = store.cf(keys::CF_DATA_KEYS).unwrap();
            let mut it = store.db().raw_iterator_cf(cf);
            it.seek_to_first();
            let wrapped = it.value().unwrap().to_vec();
            drop(it);
            // The commit of `forget`, without its purge (as if killed right after).
            let mut event = store.erasure_event_for_tests("request");
            event.fingerprint = codec::fingerprint(&customer, &event);
            let stream = StreamAppend {
                customer,
                expected: ExpectedVersion::Any,
                events: vec![event],
            };
            store
                .submit_request(
                    vec![EraseKeys {
                        customer,
                        only: None,
                    }],
                    Vec::new(),
                    vec![stream],
                    Durability::Sync,
                )
                .unwrap();
            assert!(store.db().get(keys::KEY_PURGE_PENDING).unwrap().is_some());
            wrapped
        };
        let on_disk = |needle: &[u8]| {
            std::fs::read_dir(dir.path()).unwrap().any(|e| {
                let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
                bytes.windows(needle.len()).any(|w| w == needle)
            })
        };
        assert!(
            on_disk(&wrapped),
            "before the purge the key is still on disk"
        );
        let store = Store::open_with(dir.path(), options()).unwrap();
        assert!(store.db().get(keys::KEY_PURGE_PENDING).unwrap().is_none());
        drop(store);
        assert!(
            !on_disk(&wrapped),
            "the purge at open removed the key bytes"
        );
    }
}
