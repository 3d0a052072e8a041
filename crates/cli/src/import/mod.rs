//! Importing files into the log: JSON Lines, CSV and the CDNOW purchase log.
//!
//! Each format is an [`EventSource`] yielding validated events with their line
//! numbers, or [`LineError`]s. [`run_import`] writes them:
//!
//! * **Default mode** — bad lines are reported and skipped; the good ones are
//!   appended with [`Durability::Buffered`](clientele_core::Durability) in
//!   chunks of [`CHUNK`] events (one atomic `append_batch` each) and synced at
//!   the end. When the store refuses a chunk (a check it makes against the
//!   stored streams, such as the complaint step order), the chunk is retried
//!   one customer at a time, dropping exactly the refused events.
//! * **Strict mode** — every line is parsed and validated first, and the
//!   complaint step order is checked against the stored streams; one bad line
//!   rejects the file and nothing is written. The file is then written as one
//!   atomic `append_batch` if it has at most [`STRICT_ATOMIC_LIMIT`] new
//!   events; a bigger file is written in chunks, so a storage failure (disk
//!   full, crash) part-way could leave a prefix — re-running the import is
//!   idempotent and completes it. With [`run_import_file`], a file of more
//!   than [`STRICT_ATOMIC_LIMIT`] events is not held in memory: it is checked
//!   as it is read ([`Store::stored_as`] for ids stored with other content),
//!   then read again and written.
//!
//! Events without an `event_id` get one derived from their content, so
//! importing a file twice stores it once ("already present" in the summary).
//! A customer first seen through an external id also gets a `profile` event
//! with `external_ids: [id]` (deterministic id), so the `customer` command can
//! find them by that id. It is written only with one of the customer's
//! events: if the store refuses them all, no customer is created.

pub mod cdnow;
pub mod csv;
pub mod fields;
pub mod jsonl;
pub mod record;

use std::collections::{HashMap, HashSet};
use std::fmt;

use clientele_core::event::{Complaint, ComplaintStep, Profile};
use clientele_core::{
    CustomerId, Error as CoreError, EventId, EventPayload, ExpectedVersion, Metadata, NewEvent,
    Store, StoredAs,
};
use serde::Serialize;

use crate::error::CliError;
use crate::output::{thousands, Render};

/// Events per `append_batch` in default mode.
pub const CHUNK: usize = 2_000;

/// Largest number of new events strict mode writes as one atomic batch.
pub const STRICT_ATOMIC_LIMIT: usize = 200_000;

/// Line errors kept in the summary (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON Lines: one event per line (docs/events.md).
    Jsonl,
    /// CSV with a header row; `--map column=field` renames columns.
    Csv,
    /// The CDNOW purchase log (whitespace-separated columns).
    Cdnow,
}

impl Format {
    /// The format a file's name implies: `.jsonl`, `.ndjson` or `.json` is
    /// JSON Lines, `.csv` is CSV (letter case ignored). None otherwise: a
    /// CDNOW log is plain text, so it is always named with `--format cdnow`.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The default `--source` for this format.
    pub fn default_source(self) -> &'static str {
        match self {
            Format::Cdnow => "cdnow",
            Format::Jsonl | Format::Csv => "import",
        }
    }
}

/// A problem with one line (or record) of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// The field concerned, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl LineError {
    /// An error about `field` on `line`.
    pub fn field(line: u64, field: &str, reason: impl Into<String>) -> Self {
        Self {
            line,
            field: Some(field.to_owned()),
            reason: reason.into(),
        }
    }

    /// An error about the whole line.
    pub fn general(line: u64, reason: impl Into<String>) -> Self {
        Self {
            line,
            field: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{field}`: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl std::error::Error for LineError {}

/// `text` without a leading UTF-8 byte order mark (for the first line of a file).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The error for a line that is not UTF-8 (the JSON Lines and CDNOW readers
/// skip it and read on, as CSV does).
pub fn not_utf8(line: u64, e: &std::str::Utf8Error) -> LineError {
    LineError::general(
        line,
        format!(
            "not UTF-8 text (invalid byte at byte {} of the line); save the file as UTF-8",
            e.valid_up_to() + 1
        ),
    )
}

/// One event read from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    /// The line it came from (the first, for aggregated CDNOW days).
    pub line: u64,
    /// Whose stream.
    pub customer: CustomerId,
    /// The external id the customer was given as, if not a UUID.
    pub external_id: Option<String>,
    /// The validated event.
    pub event: NewEvent,
}

/// What reading an input can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// One bad line: reported, and skipped in default mode.
    Line(LineError),
    /// The input cannot be read any further.
    Io(String),
}

/// Fatal import errors (the import stops).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The CSV header is unusable.
    #[error("{0}")]
    Header(String),
    /// A `--map` argument is wrong.
    #[error("{0}")]
    Map(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] CoreError),
}

impl From<ImportError> for CliError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Read { .. } => {
                CliError::runtime(e.to_string(), "check the path and that the file is readable")
            }
            ImportError::Header(m) => CliError::input(
                m,
                "the header row must name event fields (docs/events.md); see `clientele import --help`",
            ),
            ImportError::Map(m) => {
                CliError::usage(m, "write --map COLUMN=FIELD, e.g. --map client=customer")
            }
            ImportError::Store(e) => CliError::from_core(e, "import"),
        }
    }
}

/// A reader of events.
pub trait EventSource {
    /// The next event or error; `None` at the end.
    fn next_event(&mut self) -> Option<Result<ParsedEvent, ReadError>>;
    /// Lines read so far.
    fn lines_read(&self) -> u64;
    /// Bytes read so far (for progress).
    fn bytes_read(&self) -> u64;
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The system external ids belong to.
    pub source: String,
    /// One bad line rejects the whole file.
    pub strict: bool,
    /// Events per batch in default mode.
    pub chunk: usize,
    /// Strict mode: most new events written as one atomic batch, and most
    /// events [`run_import_file`] holds before it checks them as it reads
    /// (normally [`STRICT_ATOMIC_LIMIT`]).
    pub atomic_limit: usize,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// The file.
    pub file: String,
    /// Its format.
    pub format: String,
    /// `--source`.
    pub source: String,
    /// `--strict`.
    pub strict: bool,
    /// Lines read (including blank and bad ones).
    pub lines_read: u64,
    /// Events read from the file (after aggregation for CDNOW).
    pub events_read: u64,
    /// Events appended now (including identifier profiles).
    pub events_written: u64,
    /// Events already in the log (an earlier import of the same data).
    pub already_present: u64,
    /// Identifier `profile` events appended for new external-id customers.
    pub identifier_profiles: u64,
    /// Bad lines (or records) skipped.
    pub skipped: u64,
    /// Distinct customers in the file.
    pub customers: u64,
    /// Of those, customers the log did not know before.
    pub new_customers: u64,
    /// Whether anything was written (false after a rejected strict import).
    pub written: bool,
    /// The first bad lines (at most [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<LineError>,
}

impl ImportSummary {
    fn error(&mut self, e: LineError) {
        self.skipped += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }
}

impl Render for ImportSummary {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "imported {} ({}, source `{}`{})",
            self.file,
            self.format,
            self.source,
            if self.strict { ", strict" } else { "" }
        );
        let rows = [
            ("lines read", self.lines_read),
            ("events read", self.events_read),
            ("events written", self.events_written),
            ("  of which identifier profiles", self.identifier_profiles),
            ("already present", self.already_present),
            ("skipped", self.skipped),
            ("customers", self.customers),
            ("  of which new", self.new_customers),
        ];
        for (label, n) in rows {
            let _ = writeln!(out, "  {label:<32} {:>12}", thousands(n));
        }
        if !self.written && (self.strict && self.skipped > 0) {
            let _ = writeln!(out, "  nothing was written (--strict)");
        }
    }
}

/// The identifier profile appended when a customer is first imported from an external id.
pub fn identifier_profile(source: &str, external_id: &str, first: &NewEvent) -> NewEvent {
    let profile = Profile {
        external_ids: vec![external_id.to_owned()],
        ..Profile::default()
    };
    let id = EventId::derived(format!("clientele-identifier\0{source}\0{external_id}").as_bytes());
    NewEvent {
        event_id: id,
        occurred_at: first.occurred_at,
        metadata: Metadata {
            source: Some(format!("import:{source}")),
            ..Metadata::default()
        },
        payload: profile.into(),
    }
}

/// An event on its way to the log, with the line it came from.
#[derive(Debug, Clone)]
struct Pending {
    line: u64,
    customer: CustomerId,
    event: NewEvent,
    identifier: bool,
}

/// The writer side of an import.
struct Importer<'a> {
    store: &'a Store,
    options: &'a ImportOptions,
    summary: ImportSummary,
    /// Every event id read so far → (line, content hash), for duplicates within the file.
    seen_ids: HashMap<EventId, (u64, u64)>,
    customers: HashSet<CustomerId>,
    /// New customers whose identifier profile was not written because the
    /// store refused every event it came with: it goes with their next event.
    orphaned: HashSet<CustomerId>,
    pending: Vec<Pending>,
    /// Strict mode over [`STRICT_ATOMIC_LIMIT`] events with a file that can
    /// be read again: events are checked as they come and dropped.
    checking: Option<StrictCheck>,
}

/// What a strict check keeps of events it no longer holds: the complaint
/// steps of each customer seen with a complaint, stored ones first.
#[derive(Default)]
struct StrictCheck {
    steps: HashMap<CustomerId, HashMap<String, ComplaintStep>>,
}

fn content_hash(event: &NewEvent) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&(&event.occurred_at, &event.metadata, &event.payload))
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store, options: &'a ImportOptions, summary: ImportSummary) -> Self {
        Self {
            store,
            options,
            summary,
            seen_ids: HashMap::new(),
            customers: HashSet::new(),
            orphaned: HashSet::new(),
            pending: Vec::new(),
            checking: None,
        }
    }

    /// Strict check of the queued events against the store, without writing
    /// them (the first pass of a big strict import): what `write_strict`
    /// checks — ids stored with other content, complaint step order after
    /// the stored steps — line by line. The events are dropped.
    fn check_pending(&mut self) -> Result<(), ImportError> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        let events = |p: &Pending| (p.customer, p.event.clone());
        let stored = match self.store.stored_as(pending.iter().map(events).collect()) {
            Ok(stored) => stored.into_iter().map(Ok).collect::<Vec<_>>(),
            // One invalid event: check them one at a time to name each.
            Err(CoreError::Validation(_)) => {
                let mut each = Vec::with_capacity(pending.len());
                for p in &pending {
                    each.push(match self.store.stored_as(vec![events(p)]) {
                        Ok(mut one) => Ok(one.pop().unwrap_or(StoredAs::New)),
                        Err(CoreError::Validation(v)) => Err(v),
                        Err(e) => return Err(e.into()),
                    });
                }
                each
            }
            Err(e) => return Err(e.into()),
        };
        let mut check = self.checking.take().unwrap_or_default();
        for (p, stored) in pending.iter().zip(stored) {
            match stored {
                Err(v) => self
                    .summary
                    .error(LineError::field(p.line, &v.field, v.reason)),
                Ok(StoredAs::Conflict { position }) => {
                    self.summary
                        .error(stored_elsewhere(p.line, p.event.event_id, position))
                }
                Ok(StoredAs::Same { .. }) => {}
                Ok(StoredAs::New) => {
                    let EventPayload::Complaint(c) = &p.event.payload else {
                        continue;
                    };
                    let steps = match check.steps.entry(p.customer) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(stored_steps(self.store, p.customer)?)
                        }
                    };
                    if let Some(error) = follow_complaint(steps, p.line, c) {
                        self.summary.error(error);
                    }
                }
            }
        }
        self.checking = Some(check);
        Ok(())
    }

    /// Takes one parsed event: duplicate check, identifier profile, queue.
    fn accept(&mut self, p: ParsedEvent) -> Result<(), ImportError> {
        self.summary.events_read += 1;
        let hash = content_hash(&p.event);
        if let Some((line, previous)) = self.seen_ids.get(&p.event.event_id) {
            if *previous == hash {
                // The same event twice in one file: stored once.
                self.summary.already_present += 1;
            } else {
                let e = LineError::field(
                    p.line,
                    "event_id",
                    format!(
                        "{} is already used on line {line} for a different event",
                        p.event.event_id
                    ),
                );
                self.summary.error(e);
            }
            return Ok(());
        }
        self.seen_ids.insert(p.event.event_id, (p.line, hash));
        let mut profile_due = false;
        if self.customers.insert(p.customer) {
            self.summary.customers += 1;
            if self.store.stream_version(p.customer)? == 0 {
                self.summary.new_customers += 1;
                profile_due = true;
            }
        } else if self.orphaned.remove(&p.customer) {
            profile_due = true;
        }
        if let (true, Some(external)) = (profile_due, &p.external_id) {
            let profile = identifier_profile(&self.options.source, external, &p.event);
            self.seen_ids
                .insert(profile.event_id, (p.line, content_hash(&profile)));
            self.pending.push(Pending {
                line: p.line,
                customer: p.customer,
                event: profile,
                identifier: true,
            });
        }
        self.pending.push(Pending {
            line: p.line,
            customer: p.customer,
            event: p.event,
            identifier: false,
        });
        Ok(())
    }

    fn tally(&mut self, events: &[Pending], appended: bool) {
        let n = events.len() as u64;
        if appended {
            self.summary.events_written += n;
            self.summary.identifier_profiles +=
                events.iter().filter(|p| p.identifier).count() as u64;
            self.summary.written = true;
        } else {
            self.summary.already_present += n;
        }
    }

    /// Whether the store refused all of `customer`'s events but the
    /// identifier profile queued with them: then the profile is not written
    /// (it would create a customer without events) and waits for their next
    /// event.
    fn only_identifier_left(&mut self, customer: CustomerId, events: &[Pending]) -> bool {
        if !events.is_empty() && events.iter().all(|p| p.identifier) {
            self.orphaned.insert(customer);
            true
        } else {
            false
        }
    }

    /// Appends the queued events (default mode).
    fn flush(&mut self) -> Result<(), ImportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let groups = group_by_customer(pending);
        let batch: Vec<_> = groups
            .iter()
            .map(|(c, events)| {
                (
                    *c,
                    ExpectedVersion::Any,
                    events.iter().map(|p| p.event.clone()).collect(),
                )
            })
            .collect();
        match self.store.append_batch(batch) {
            Ok(outcomes) => {
                for ((_, events), outcome) in groups.iter().zip(outcomes) {
                    self.tally(
                        events,
                        outcome.status == clientele_core::AppendStatus::Appended,
                    );
                }
                Ok(())
            }
            Err(e) if is_data_error(&e) => {
                for (customer, events) in groups {
                    self.append_customer(customer, events)?;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Appends one customer's events, isolating the ones the store refuses.
    fn append_customer(
        &mut self,
        customer: CustomerId,
        mut events: Vec<Pending>,
    ) -> Result<(), ImportError> {
        // Each round drops at least one event, so this ends.
        while !events.is_empty() {
            let batch: Vec<NewEvent> = events.iter().map(|p| p.event.clone()).collect();
            match self.store.append(customer, ExpectedVersion::Any, batch) {
                Ok(outcome) => {
                    self.tally(
                        &events,
                        outcome.status == clientele_core::AppendStatus::Appended,
                    );
                    return Ok(());
                }
                Err(CoreError::Validation(v)) => {
                    let i = v.index.filter(|&i| i < events.len()).unwrap_or(0);
                    let bad = events.remove(i);
                    self.summary
                        .error(LineError::field(bad.line, &v.field, v.reason));
                    if self.only_identifier_left(customer, &events) {
                        return Ok(());
                    }
                }
                Err(CoreError::IdempotencyConflict { event_id, position }) => {
                    let i = events
                        .iter()
                        .position(|p| p.event.event_id == event_id)
                        .unwrap_or(0);
                    let bad = events.remove(i);
                    self.summary
                        .error(stored_elsewhere(bad.line, event_id, position));
                    if self.only_identifier_left(customer, &events) {
                        return Ok(());
                    }
                }
                Err(CoreError::PartiallyAppended { .. }) => {
                    let stored = stored_ids(self.store, customer)?;
                    let (present, new): (Vec<_>, Vec<_>) = events
                        .into_iter()
                        .partition(|p| stored.contains(&p.event.event_id));
                    if present.is_empty() {
                        // Stored under another customer: isolate one by one.
                        for p in new {
                            self.append_customer(customer, vec![p])?;
                        }
                        return Ok(());
                    }
                    self.append_customer(customer, present)?;
                    events = new;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Errors caused by the data (not the storage): retried per customer.
fn is_data_error(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::Validation(_)
            | CoreError::IdempotencyConflict { .. }
            | CoreError::PartiallyAppended { .. }
            | CoreError::WrongExpectedVersion { .. }
    )
}

/// Line `line`'s event id is taken, at `position`, by other content (or
/// another customer's event).
fn stored_elsewhere(line: u64, event_id: EventId, position: u64) -> LineError {
    LineError::field(
        line,
        "event_id",
        format!("{event_id} is already stored at position {position} with different content"),
    )
}

/// Checks the complaint step of the new event on `line` against the steps
/// before it (`steps`: the last step of each of the customer's complaints,
/// the stored ones first), then records it; the error when the store's
/// order rule would refuse it.
fn follow_complaint(
    steps: &mut HashMap<String, ComplaintStep>,
    line: u64,
    complaint: &Complaint,
) -> Option<LineError> {
    let previous = steps.get(&complaint.complaint_id).copied();
    let error = complaint_order(&complaint.complaint_id, previous, complaint.step)
        .map(|reason| LineError::field(line, "step", reason));
    steps.insert(complaint.complaint_id.clone(), complaint.step);
    error
}

/// The last step of each complaint in a customer's stream.
fn stored_steps(
    store: &Store,
    customer: CustomerId,
) -> Result<HashMap<String, ComplaintStep>, CoreError> {
    let mut steps = HashMap::new();
    if store.stream_version(customer)? > 0 {
        for event in store.stream(customer, 1)? {
            if let EventPayload::Complaint(c) = event?.payload {
                steps.insert(c.complaint_id, c.step);
            }
        }
    }
    Ok(steps)
}

/// The event ids in a customer's stream.
fn stored_ids(store: &Store, customer: CustomerId) -> Result<HashSet<EventId>, CoreError> {
    let mut ids = HashSet::new();
    for event in store.stream(customer, 1)? {
        ids.insert(event?.event_id);
    }
    Ok(ids)
}

/// Groups events by customer, customers in order of first appearance,
/// events in input order.
fn group_by_customer(events: Vec<Pending>) -> Vec<(CustomerId, Vec<Pending>)> {
    let mut index: HashMap<CustomerId, usize> = HashMap::new();
    let mut groups: Vec<(CustomerId, Vec<Pending>)> = Vec::new();
    for p in events {
        match index.get(&p.customer) {
            Some(&i) => groups[i].1.push(p),
            None => {
                index.insert(p.customer, groups.len());
                groups.push((p.customer, vec![p]));
            }
        }
    }
    groups
}

/// Imports every event of `source` into `store`. `progress` is called with
/// the bytes read so far.
///
/// A strict import holds the whole source in memory until it is checked;
/// for a file, [`run_import_file`] does not.
pub fn run_import(
    store: &Store,
    source: &mut dyn EventSource,
    options: &ImportOptions,
    summary: ImportSummary,
    progress: &dyn Fn(u64),
) -> Result<ImportSummary, ImportError> {
    import_pass(store, source, None, options, summary, progress)
}

/// Opens an event source from the start.
pub type OpenSource<'a> = dyn Fn() -> Result<Box<dyn EventSource + 'a>, ImportError> + 'a;

/// [`run_import`] for a `source` that `open` can read again from the start
/// (a file). A strict import of more than [`ImportOptions::atomic_limit`] events is
/// then checked in a first pass that keeps only each event's id and the
/// complaint steps (about 50 bytes an event instead of the event), and, if
/// every line passes, read again and written in chunks. If the second pass
/// meets a line the first did not (the file changed in between), it reports
/// it and says so.
pub fn run_import_file<'a>(
    store: &Store,
    mut source: Box<dyn EventSource + 'a>,
    open: &OpenSource<'a>,
    options: &ImportOptions,
    summary: ImportSummary,
    progress: &dyn Fn(u64),
) -> Result<ImportSummary, ImportError> {
    import_pass(
        store,
        source.as_mut(),
        Some(open),
        options,
        summary,
        progress,
    )
}

fn import_pass(
    store: &Store,
    source: &mut dyn EventSource,
    reopen: Option<&OpenSource<'_>>,
    options: &ImportOptions,
    mut summary: ImportSummary,
    progress: &dyn Fn(u64),
) -> Result<ImportSummary, ImportError> {
    summary.source = options.source.clone();
    summary.strict = options.strict;
    let blank = summary.clone();
    let mut importer = Importer::new(store, options, summary);
    let mut io_error = None;
    while let Some(item) = source.next_event() {
        match item {
            Ok(p) => importer.accept(p)?,
            Err(ReadError::Line(e)) => importer.summary.error(e),
            Err(ReadError::Io(e)) => {
                io_error = Some(e);
                break;
            }
        }
        if !options.strict {
            if importer.pending.len() >= options.chunk {
                importer.flush()?;
            }
        } else if reopen.is_some()
            && (importer.pending.len() > options.atomic_limit
                || importer.checking.is_some() && importer.pending.len() >= options.chunk)
        {
            importer.check_pending()?;
        }
        progress(source.bytes_read());
    }
    importer.summary.lines_read = source.lines_read();
    if let Some(e) = io_error {
        if options.strict || importer.summary.events_read == 0 {
            return Err(ImportError::Read {
                path: importer.summary.file.clone(),
                reason: e,
            });
        }
        importer.summary.error(LineError::general(
            source.lines_read(),
            format!("reading stopped: {e}"),
        ));
    }
    match (options.strict, reopen) {
        (true, Some(open)) if importer.checking.is_some() => {
            importer.check_pending()?;
            if importer.summary.skipped > 0 {
                return Ok(importer.summary);
            }
            drop(importer);
            // Every line passed: the second pass writes, as default mode does.
            let mut again = open()?;
            let write = ImportOptions {
                strict: false,
                ..options.clone()
            };
            let mut written = import_pass(store, again.as_mut(), None, &write, blank, progress)?;
            written.strict = true;
            if written.skipped > 0 {
                written.error(LineError::general(
                    written.lines_read,
                    "the file changed between the strict check and the write: the lines above were not written, the others were",
                ));
            }
            return Ok(written);
        }
        (true, _) => write_strict(&mut importer)?,
        (false, _) => importer.flush()?,
    }
    store.sync()?;
    Ok(importer.summary)
}

/// Strict mode: check everything against the stored streams, then write atomically.
fn write_strict(importer: &mut Importer<'_>) -> Result<(), ImportError> {
    if importer.summary.skipped > 0 {
        return Ok(());
    }
    let store = importer.store;
    let pending = std::mem::take(&mut importer.pending);
    let groups = group_by_customer(pending);
    let mut present: Vec<(CustomerId, Vec<Pending>)> = Vec::new();
    let mut new: Vec<(CustomerId, Vec<Pending>)> = Vec::new();
    for (customer, events) in groups {
        let mut stored = HashSet::new();
        let mut steps: HashMap<String, ComplaintStep> = HashMap::new();
        if store.stream_version(customer)? > 0 {
            for event in store.stream(customer, 1)? {
                let event = event?;
                stored.insert(event.event_id);
                if let EventPayload::Complaint(c) = &event.payload {
                    steps.insert(c.complaint_id.clone(), c.step);
                }
            }
        }
        let (here, fresh): (Vec<_>, Vec<_>) = events
            .into_iter()
            .partition(|p| stored.contains(&p.event.event_id));
        for p in &fresh {
            if let EventPayload::Complaint(c) = &p.event.payload {
                if let Some(error) = follow_complaint(&mut steps, p.line, c) {
                    importer.summary.error(error);
                }
            }
        }
        if !here.is_empty() {
            present.push((customer, here));
        }
        if !fresh.is_empty() {
            new.push((customer, fresh));
        }
    }
    if importer.summary.skipped > 0 {
        return Ok(());
    }
    // Already stored events: checked (same content), never written.
    let check = |groups: &[(CustomerId, Vec<Pending>)]| {
        groups
            .iter()
            .map(|(c, events)| {
                (
                    *c,
                    ExpectedVersion::Any,
                    events.iter().map(|p| p.event.clone()).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let lines: Vec<u64> = present
        .iter()
        .flat_map(|(_, e)| e.iter().map(|p| p.line))
        .collect();
    if !present.is_empty() {
        if let Err(e) = store.append_batch(check(&present)) {
            return strict_failure(importer, e, &lines);
        }
        for (_, events) in &present {
            importer.tally(events, false);
        }
    }
    let total: usize = new.iter().map(|(_, e)| e.len()).sum();
    if total > importer.options.atomic_limit {
        // Written in chunks, where an id already stored for another customer
        // would only be refused part-way: look for such ids first.
        let events: Vec<(CustomerId, &Pending)> = new
            .iter()
            .flat_map(|(c, events)| events.iter().map(|p| (*c, p)))
            .collect();
        for batch in events.chunks(importer.options.chunk.max(1)) {
            let pairs = batch.iter().map(|(c, p)| (*c, p.event.clone())).collect();
            let stored = match store.stored_as(pairs) {
                Ok(stored) => stored,
                Err(e) => {
                    let lines: Vec<u64> = batch.iter().map(|(_, p)| p.line).collect();
                    return strict_failure(importer, e, &lines);
                }
            };
            for ((_, p), stored) in batch.iter().zip(stored) {
                if let StoredAs::Conflict { position } | StoredAs::Same { position } = stored {
                    importer
                        .summary
                        .error(stored_elsewhere(p.line, p.event.event_id, position));
                }
            }
        }
        if importer.summary.skipped > 0 {
            return Ok(());
        }
    }
    let mut chunks: Vec<Vec<(CustomerId, Vec<Pending>)>> = Vec::new();
    if total <= importer.options.atomic_limit {
        chunks.push(new);
    } else {
        let mut current = Vec::new();
        let mut size = 0;
        for group in new {
            size += group.1.len();
            current.push(group);
            if size >= importer.options.chunk {
                chunks.push(std::mem::take(&mut current));
                size = 0;
            }
        }
        chunks.push(current);
    }
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        let lines: Vec<u64> = chunk
            .iter()
            .flat_map(|(_, e)| e.iter().map(|p| p.line))
            .collect();
        match store.append_batch(check(&chunk)) {
            Ok(outcomes) => {
                for ((_, events), outcome) in chunk.iter().zip(outcomes) {
                    importer.tally(
                        events,
                        outcome.status == clientele_core::AppendStatus::Appended,
                    );
                }
            }
            Err(e) => return strict_failure(importer, e, &lines),
        }
    }
    Ok(())
}

/// A strict batch the store refused: report it against the line, write nothing more.
fn strict_failure(
    importer: &mut Importer<'_>,
    e: CoreError,
    lines: &[u64],
) -> Result<(), ImportError> {
    let error = match &e {
        CoreError::Validation(v) => {
            let line = v.index.and_then(|i| lines.get(i)).copied().unwrap_or(0);
            LineError::field(line, &v.field, v.reason.clone())
        }
        CoreError::IdempotencyConflict { .. } | CoreError::PartiallyAppended { .. } => {
            LineError::field(
                lines.first().copied().unwrap_or(0),
                "event_id",
                e.to_string(),
            )
        }
        _ => return Err(e.into()),
    };
    importer.summary.error(error);
    Ok(())
}

/// Why `step` cannot follow `previous` in one complaint (the store's rule).
pub fn complaint_order(
    complaint_id: &str,
    previous: Option<ComplaintStep>,
    step: ComplaintStep,
) -> Option<String> {
    match previous {
        None if step != ComplaintStep::Received => Some(format!(
            "complaint {complaint_id:?} must start with `received`"
        )),
        Some(p) if step <= p => Some(format!(
            "complaint {complaint_id:?}: `{}` cannot follow `{}` (order: received → classified → investigated → resolved → feedback_given → archived)",
            step.as_str(),
            p.as_str()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clientele_core::privacy::MasterKeyRing;
    use clientele_core::StoreOptions;

    use super::jsonl::JsonlSource;
    use super::record::RecordContext;
    use super::*;

    fn store(dir: &std::path::Path) -> Store {
        let options = StoreOptions {
            master_keys: Some(Arc::new(MasterKeyRing::generate())),
            ..StoreOptions::default()
        };
        Store::open_with(dir, options).unwrap()
    }

    fn import(store: &Store, text: &str, strict: bool, chunk: usize) -> ImportSummary {
        let mut source = JsonlSource::new(text.as_bytes(), RecordContext::new("test"));
        let options = ImportOptions {
            source: "test".into(),
            strict,
            chunk,
            atomic_limit: STRICT_ATOMIC_LIMIT,
        };
        run_import(
            store,
            &mut source,
            &options,
            ImportSummary::default(),
            &|_| {},
        )
        .unwrap()
    }

    /// A strict import read twice, holding at most `limit` events: the text
    /// of the first read, then of the second.
    fn import_two_pass(store: &Store, first: &str, second: &str, limit: usize) -> ImportSummary {
        let reads = std::cell::Cell::new(0);
        let open = || -> Result<Box<dyn EventSource + '_>, ImportError> {
            reads.set(reads.get() + 1);
            let text = if reads.get() == 1 { first } else { second };
            Ok(Box::new(JsonlSource::new(
                text.as_bytes(),
                RecordContext::new("test"),
            )))
        };
        let options = ImportOptions {
            source: "test".into(),
            strict: true,
            chunk: 2,
            atomic_limit: limit,
        };
        let source = open().unwrap();
        run_import_file(
            store,
            source,
            &open,
            &options,
            ImportSummary::default(),
            &|_| {},
        )
        .unwrap()
    }

    fn purchase_line(customer: &str, order: &str, amount: &str) -> String {
        format!(
            r#"{{"event_id":"01890a5d-ac96-774b-bcce-{:012x}","customer":"{customer}","occurred_at":"2024-03-01","kind":"purchase","order_id":"{order}","amount":"{amount}","currency":"CNY"}}"#,
            order
                .bytes()
                .fold(0u64, |h, b| (h * 131 + u64::from(b)) % (1 << 48))
        )
    }

    fn complaint_line(customer: &str, day: u32, step: &str) -> String {
        format!(
            r#"{{"customer":"{customer}","occurred_at":"2024-03-{day:02}","kind":"complaint","complaint_id":"k-1","step":"{step}"}}"#
        )
    }

    /// Past the atomic limit, strict mode checks as it reads what it would
    /// otherwise check holding every event: an id stored with other content
    /// and the complaint step order after the stored steps. One bad line:
    /// nothing written.
    #[test]
    fn a_two_pass_strict_import_checks_against_the_store_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let stored = format!(
            "{}\n{}\n",
            purchase_line("a", "o-1", "10.00"),
            complaint_line("a", 2, "received")
        );
        assert_eq!(import(&store, &stored, true, CHUNK).events_written, 3);
        let head = store.head();

        // The same id with another amount, deep in a file.
        let mut file = String::new();
        for i in 0..7 {
            file.push_str(&purchase_line(&format!("c-{i}"), &format!("n-{i}"), "1.00"));
            file.push('\n');
        }
        let conflict = format!("{file}{}\n", purchase_line("a", "o-1", "99.00"));
        let summary = import_two_pass(&store, &conflict, &conflict, 2);
        assert_eq!(store.head(), head, "{:?}", summary.errors);
        assert!(!summary.written);
        assert_eq!(summary.skipped, 1, "{:?}", summary.errors);
        assert_eq!(summary.errors[0].line, 8);
        assert!(
            summary.errors[0]
                .to_string()
                .contains("already stored at position 2 with different content"),
            "{}",
            summary.errors[0]
        );

        // `received` again after the stored `received`.
        let order = format!("{file}{}\n", complaint_line("a", 3, "received"));
        let summary = import_two_pass(&store, &order, &order, 2);
        assert_eq!(store.head(), head);
        assert_eq!((summary.skipped, summary.errors[0].line), (1, 8));

        // A good file: written by the second pass; the stored lines count as
        // already present.
        let good = format!("{file}{}\n{stored}", complaint_line("a", 3, "classified"));
        let summary = import_two_pass(&store, &good, &good, 2);
        assert!(summary.strict && summary.written, "{:?}", summary.errors);
        assert_eq!(summary.skipped, 0);
        assert_eq!(summary.already_present, 2);
        // 7 purchases, 7 identifier profiles, 1 complaint step.
        assert_eq!(summary.events_written, 15);
        assert_eq!(store.head(), head + 15);
    }

    /// An event id already stored for another customer is refused by the
    /// store only when its chunk is written: a strict import written in
    /// chunks looks for such ids first, so nothing is written.
    #[test]
    fn a_chunked_strict_import_checks_ids_stored_for_other_customers_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let taken = purchase_line("a", "o-1", "10.00");
        assert_eq!(
            import(&store, &format!("{taken}\n"), true, CHUNK).events_written,
            2
        );
        let head = store.head();
        let mut file: String = (0..6)
            .map(|i| purchase_line(&format!("c-{i}"), &format!("n-{i}"), "1.00") + "\n")
            .collect();
        // The same event id, for customer b.
        file.push_str(&taken.replace("\"customer\":\"a\"", "\"customer\":\"b\""));
        file.push('\n');
        let mut source = JsonlSource::new(file.as_bytes(), RecordContext::new("test"));
        let options = ImportOptions {
            source: "test".into(),
            strict: true,
            chunk: 2,
            atomic_limit: 3,
        };
        let summary = run_import(
            &store,
            &mut source,
            &options,
            ImportSummary::default(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(store.head(), head, "{:?}", summary.errors);
        assert_eq!((summary.skipped, summary.errors[0].line), (1, 7));
        assert!(!summary.written);
    }

    /// A file that changes between the check and the write: the new bad line
    /// is reported, and the summary says the file changed.
    #[test]
    fn a_file_changed_between_the_passes_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let good: String = (0..5)
            .map(|i| purchase_line(&format!("c-{i}"), &format!("o-{i}"), "1.00") + "\n")
            .collect();
        let changed = format!("{good}not json\n");
        let summary = import_two_pass(&store, &good, &changed, 1);
        assert_eq!(summary.skipped, 2, "{:?}", summary.errors);
        assert!(summary.errors[1]
            .to_string()
            .contains("the file changed between the strict check and the write"));
        assert_eq!(summary.events_written, 10);
    }

    const REFUSED: &str = r#"{"customer":"cust-0","occurred_at":"2024-01-01","kind":"complaint","complaint_id":"k-0","step":"resolved"}"#;
    const GOOD: &str = r#"{"customer":"cust-0","occurred_at":"2024-01-02","kind":"purchase","order_id":"o-1","amount":"1.50","currency":"CNY"}"#;

    /// Found by tests/import_properties.rs: when the store refused the only
    /// event of a new external-id customer (a complaint starting at
    /// `resolved`), the default mode still wrote the identifier profile
    /// queued with it, creating a customer with no event of the file.
    #[test]
    fn no_identifier_profile_without_an_accepted_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let summary = import(&store, &format!("{REFUSED}\n"), false, CHUNK);
        assert_eq!(summary.skipped, 1, "{:?}", summary.errors);
        assert_eq!((store.head(), summary.events_written), (0, 0));
        // The customer's next event (here in the next chunk) brings the profile.
        let summary = import(&store, &format!("{REFUSED}\n{GOOD}\n"), false, 1);
        assert_eq!(
            (
                store.head(),
                summary.events_written,
                summary.identifier_profiles
            ),
            (2, 2, 1)
        );
        let customer = CustomerId::from_external("test", "cust-0");
        let first = store.stream(customer, 1).unwrap().next().unwrap().unwrap();
        let EventPayload::Profile(profile) = &first.payload else {
            panic!("{:?}", first.payload)
        };
        assert_eq!(profile.external_ids, vec!["cust-0".to_owned()]);
        // In one chunk, the profile goes with the accepted event.
        let dir = tempfile::tempdir().unwrap();
        let store = super::tests::store(dir.path());
        let summary = import(&store, &format!("{REFUSED}\n{GOOD}\n"), false, CHUNK);
        assert_eq!((store.head(), summary.identifier_profiles), (2, 1));
    }
}
