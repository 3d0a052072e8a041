//! The warning job: evaluates only the customers that are **due** — whose
//! risk can have changed since the last run, because new events arrived or a
//! time threshold (inactivity, complaint SLA, renewal window) was crossed —
//! raises warnings once per episode, stores them durably, and delivers them
//! to a sink at least once with stable ids.
//!
//! Exactly-once: a run commits the episodes, the due index, the warning
//! history, the delivery outbox and its own progress in atomic writes, one
//! per chunk of [`WarningJob::chunk`] customers (a first run visits
//! everyone: the chunks bound its memory). A crash before a commit leaves
//! nothing of that chunk; the next run finishes the interrupted run — same
//! as-of, same customers, the same warnings with the same ids — before its
//! own. Delivery happens after the commits from the outbox, in batches; a
//! crash mid-delivery redelivers (same ids) at most the batch in flight.
//! Warnings a failed or killed delivery did not hand over wait in the outbox
//! until the next run, or a call to [`WarningJob::deliver`], sends them: a
//! scheduler that restarts after the last run of its schedule should call it.
//!
//! Cost follows the due customers: a customer with nothing new is evaluated
//! from their projected state (no stream replay) — carried, with their
//! episodes, by their due-index entry, so a due customer costs no lookups —
//! and the search for their next due time evaluates each day once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use clientele_core::projection::{AsOf, Projection, Projector};
use clientele_core::{CustomerId, Keyspace, KeyspaceBatch, Store};
use serde::{Deserialize, Serialize};

use crate::record;
use crate::risk::{observation, ModelContext, RiskPolicy};
use crate::state::{day_of, ChurnProjection, ChurnState};
use crate::warning::{Episodes, Warning, WarningPolicy};
use crate::{Error, Result};

/// Where warnings go (a queue, a CRM task list, a file…).
pub trait WarningSink: Send {
    /// Delivers one warning. May be called again with the same warning (same
    /// id) after a crash: consumers deduplicate by `Warning::id`.
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String>;

    /// Makes the warnings delivered so far durable. Called after each batch
    /// of deliveries and before the batch leaves the outbox. Default: nothing
    /// to do (every delivery is complete when `deliver` returns).
    fn flush(&mut self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Delivers into a tokio channel.
#[derive(Debug, Clone)]
pub struct ChannelSink(pub tokio::sync::mpsc::UnboundedSender<Warning>);

impl WarningSink for ChannelSink {
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String> {
        self.0
            .send(warning.clone())
            .map_err(|_| "channel closed".to_owned())
    }
}

/// Calls a function.
pub struct CallbackSink<F: FnMut(&Warning) -> std::result::Result<(), String> + Send>(pub F);

impl<F: FnMut(&Warning) -> std::result::Result<(), String> + Send> WarningSink for CallbackSink<F> {
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String> {
        (self.0)(warning)
    }
}

/// Appends one JSON object per line to a file, fsynced per delivery batch.
#[derive(Debug)]
pub struct JsonlSink {
    file: std::fs::File,
}

impl JsonlSink {
    /// Opens (creating) `path` for appending.
    pub fn open(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self { file })
    }
}

impl JsonlSink {
    /// Appends `value` as one JSON line (for a sink that delivers warnings
    /// with more fields, say, and keeps this one's durability).
    pub fn write_line(&mut self, value: &impl Serialize) -> std::result::Result<(), String> {
        use std::io::Write;
        let mut line = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| e.to_string())
    }
}

impl WarningSink for JsonlSink {
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String> {
        self.write_line(warning)
    }

    fn flush(&mut self) -> std::result::Result<(), String> {
        self.file.sync_data().map_err(|e| e.to_string())
    }
}

/// The job's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobMeta {
    /// Last global position whose customers were evaluated.
    pub position: u64,
    /// As-of of the last committed run.
    pub last_as_of: Option<DateTime<Utc>>,
    /// Warnings raised so far (sequence for the outbox).
    pub sequence: u64,
    /// A run committed in part (it commits every [`WarningJob::chunk`]
    /// customers): the next run finishes it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRun>,
}

/// The progress of a run that has committed some of its customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRun {
    /// The run's as-of.
    pub as_of: DateTime<Utc>,
    /// The last global position it takes new events from.
    pub head: u64,
    /// How many of the customers with new events (in id order) are done;
    /// the due customers done have left the due index.
    pub fresh_done: usize,
    /// What the run has done so far.
    pub report: RunReport,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The as-of evaluated.
    pub as_of: Option<DateTime<Utc>>,
    /// Customers evaluated (new events or due).
    pub visited: usize,
    /// Of which because of new events.
    pub with_new_events: usize,
    /// Of which because a time threshold was due.
    pub due: usize,
    /// Warnings raised.
    pub raised: usize,
    /// Warnings delivered to the sink (including redeliveries).
    pub delivered: usize,
}

/// How far ahead the due index looks for threshold crossings.
const HORIZON_DAYS: i64 = 3 * 365;

/// Customers evaluated per atomic commit: bounds a run's memory (a first run
/// visits everyone) without changing what it decides.
pub const CHUNK: usize = 16_384;

/// Outbox entries delivered per batch (one flush of the sink and one write).
const DELIVERY_BATCH: usize = 1_024;

/// A due-index entry: key and value.
type DueEntry = (Vec<u8>, Vec<u8>);

fn time_key(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The scheduled churn-warning job.
pub struct WarningJob {
    store: Store,
    projector: Projector<ChurnProjection>,
    space: Keyspace,
    /// Risk model weights.
    pub risk: RiskPolicy,
    /// Warning rules.
    pub warnings: WarningPolicy,
    /// Population model and horizon.
    pub model: ModelContext,
    /// Customers evaluated per atomic commit (default [`CHUNK`]).
    pub chunk: usize,
}

impl WarningJob {
    /// Opens the job (and its churn projection) on `store`. If `model` has no
    /// fitted BG/NBD, the one stored by the last [`WarningJob::refit`] is used.
    pub fn open(
        store: &Store,
        risk: RiskPolicy,
        warnings: WarningPolicy,
        mut model: ModelContext,
    ) -> Result<Self> {
        risk.validate()?;
        warnings.validate()?;
        let space = store.keyspace("churn-job")?;
        if model.bg_nbd.is_none() {
            if let Some(bytes) = space.get(b"model")? {
                let p: [f64; 4] = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("model: {e}")))?;
                model.bg_nbd = clientele_value::BgNbd::new(p[0], p[1], p[2], p[3]).ok();
            }
        }
        Ok(Self {
            store: store.clone(),
            projector: Projector::open(store, ChurnProjection)?,
            space,
            risk,
            warnings,
            model,
            chunk: CHUNK,
        })
    }

    /// Fits the population model (BG/NBD) on every customer as of `as_of`,
    /// stores it for later runs, and uses it. A population-wide job: run it
    /// periodically (e.g. monthly), not on every warning run. Changing the
    /// model changes scores; due times computed under the old model are
    /// corrected as customers are next visited.
    pub fn refit(&mut self, as_of: DateTime<Utc>) -> Result<Option<[f64; 4]>> {
        let params = self.fit(as_of)?;
        if let Some(p) = params {
            let mut batch = self.space.batch();
            let bytes = serde_json::to_vec(&p).map_err(|e| Error::Corrupt(e.to_string()))?;
            batch.put(&self.space, b"model", &bytes);
            self.store.write_keyspaces(batch)?;
        }
        Ok(params)
    }

    /// Fits the population model (BG/NBD) on every customer as of `at` (with
    /// a recorded time: the population as the log knew it then) and uses it
    /// in this job, without storing it: later runs keep the model of the
    /// last [`WarningJob::refit`]. For scoring a past or audited moment
    /// without changing the model the warning runs use.
    pub fn fit(&mut self, at: impl Into<AsOf>) -> Result<Option<[f64; 4]>> {
        let at = at.into();
        self.projector.catch_up()?;
        let day = day_of(at.occurred);
        let mut data = Vec::new();
        self.projector.for_each_state_in(at, |_, state| {
            data.extend(observation(&state, day));
            Ok::<_, clientele_core::Error>(())
        })?;
        self.model.bg_nbd = crate::backtest::fit_observations(&data);
        Ok(self.model.bg_nbd.map(|m| [m.r(), m.alpha(), m.a(), m.b()]))
    }

    /// The churn projection (e.g. for backtests and scores).
    pub fn projector(&self) -> &Projector<ChurnProjection> {
        &self.projector
    }

    /// The job's progress.
    pub fn meta(&self) -> Result<JobMeta> {
        match self.space.get(b"meta")? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("meta: {e}")))
            }
            None => Ok(JobMeta::default()),
        }
    }

    /// `customer`'s state as of `as_of`, the stream version behind it, and
    /// whether it is their whole state (nothing folded happened after
    /// `as_of`): then the projection's committed state is that state (no
    /// stream read); otherwise the state is replayed from the nearest snapshot.
    fn state_as_of(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<(ChurnState, u64, bool)> {
        if let Some(state) = self.projector.state(customer)? {
            if state
                .last_seen
                .is_some_and(|t| t <= as_of.timestamp_micros())
            {
                let version = state.version;
                return Ok((state, version, true));
            }
        }
        let state = self.projector.state_as_of(customer, as_of)?;
        Ok((state, self.store.stream_version(customer)?, false))
    }

    fn episodes(&self, customer: &CustomerId) -> Result<Episodes> {
        match self.space.get(&key(&[b"ep/", customer.as_bytes()]))? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("episodes: {e}")))
            }
            None => Ok(Episodes::default()),
        }
    }

    /// The next time `state`'s risk can change without new events: the
    /// earliest threshold crossing (risk level) or breakpoint (SLA expiry,
    /// renewal window) after `as_of`, if any within the look-ahead horizon.
    pub fn next_due(&self, state: &ChurnState, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = self.risk.risk(state, as_of, &self.model);
        self.next_due_from(state, as_of, now)
    }

    /// [`WarningJob::next_due`] given the risk as of `as_of`.
    fn next_due_from(
        &self,
        state: &ChurnState,
        as_of: DateTime<Utc>,
        now: f64,
    ) -> Option<DateTime<Utc>> {
        let mut candidates: Vec<DateTime<Utc>> = Vec::new();
        // Times past chrono's range (a policy with absurd hours or days)
        // are no candidates rather than a panic.
        let plus = |t: DateTime<Utc>, d: Option<Duration>| {
            d.and_then(|d| t.checked_add_signed(d))
                .and_then(|t| t.checked_add_signed(Duration::seconds(1)))
        };
        let sla = Duration::try_hours(self.risk.reply_sla_hours);
        for c in state.complaints.values() {
            let received = DateTime::from_timestamp_micros(c.received_at)?;
            if c.answered_at.is_none() {
                candidates.extend(plus(received, sla));
            } else if let Some(answered) = c.answered_at.and_then(DateTime::from_timestamp_micros) {
                candidates.extend(plus(answered, Duration::try_days(90)));
            }
        }
        if let Some(due) = state.renewal_due {
            let due = DateTime::from_timestamp(i64::from(due) * 86_400, 0)?;
            candidates.extend(
                Duration::try_days(self.risk.renewal_lead_days)
                    .and_then(|lead| due.checked_sub_signed(lead)),
            );
            candidates.extend(due.checked_add_signed(Duration::days(1)));
        }
        // The day a silent customer passes the exit horizon (win-back list).
        if let Some(rule) = &self.warnings.win_back {
            if let Some(day) = win_back_day(rule, state, as_of, self.risk.min_gap_days) {
                candidates.extend(
                    day.checked_mul(86_400)
                        .and_then(|secs| DateTime::from_timestamp(secs, 0)),
                );
            }
        }
        // Risk-level crossings: the score grows with silence; find when it
        // next reaches a level above the current one (binary search, 1 h precision).
        let levels = [
            self.warnings.raise_at,
            self.warnings.medium_at,
            self.warnings.high_at,
        ];
        if let Some(&target) = levels.iter().find(|&&l| l > now) {
            let mut risk_at = RiskByTime::new(self, state, as_of, now);
            let far = as_of
                .checked_add_signed(Duration::days(HORIZON_DAYS))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if risk_at.get(far) >= target {
                let (mut lo, mut hi) = (as_of, far);
                while hi - lo > Duration::hours(1) {
                    let mid = lo + (hi - lo) / 2;
                    if risk_at.get(mid) >= target {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                candidates.push(hi);
            }
        }
        candidates.into_iter().filter(|t| *t > as_of).min()
    }

    /// Evaluates every customer due at `as_of`, commits, then delivers. A run
    /// commits every [`WarningJob::chunk`] customers; if one was interrupted
    /// (a crash, an error) the next run finishes it first, deciding what it
    /// would have decided.
    pub fn run(&mut self, as_of: DateTime<Utc>, sink: &mut dyn WarningSink) -> Result<RunReport> {
        self.projector.catch_up()?;
        let mut meta = self.meta()?;
        if let Some(pending) = meta.pending.as_ref().filter(|p| p.as_of != as_of) {
            let earlier = pending.as_of;
            self.evaluate(&mut meta, earlier)?;
        }
        let mut report = self.evaluate(&mut meta, as_of)?;
        report.delivered = self.deliver(sink)?;
        tracing::info!(
            as_of = %as_of,
            visited = report.visited,
            due = report.due,
            raised = report.raised,
            delivered = report.delivered,
            "warning job ran"
        );
        Ok(report)
    }

    /// Evaluates (or finishes evaluating) the customers due at `as_of` and
    /// commits, in chunks; the last chunk advances the checkpoint.
    fn evaluate(&self, meta: &mut JobMeta, as_of: DateTime<Utc>) -> Result<RunReport> {
        let resumed = meta.pending.take().filter(|p| p.as_of == as_of);
        let head = resumed
            .as_ref()
            .map_or(self.projector.position(), |p| p.head);
        // Customers with new events since the last run.
        let mut fresh = BTreeSet::new();
        for event in self.store.read_range(meta.position + 1, Some(head))? {
            fresh.insert(event?.customer_id);
        }
        // Customers whose due time has come, with their due entries.
        let mut due: BTreeMap<CustomerId, Vec<DueEntry>> = BTreeMap::new();
        let mut stray = Vec::new();
        let upper = key(&[b"due/", &time_key(as_of + Duration::microseconds(1))]);
        // A completed run leaves no due entry at or before its as-of (each due
        // customer's entries are replaced by one after it), so the scan starts
        // past the last one: RocksDB keeps the deleted entries' tombstones
        // until compaction, and walking them would cost every run more.
        let lower = match meta.last_as_of {
            Some(last) => key(&[b"due/", &time_key(last + Duration::microseconds(1))]),
            None => b"due/".to_vec(),
        };
        for (k, v) in self.space.range(&lower, Some(&upper), usize::MAX)? {
            match k
                .len()
                .checked_sub(16)
                .and_then(|at| <[u8; 16]>::try_from(&k[at..]).ok())
            {
                Some(id) => due
                    .entry(CustomerId::from_uuid(uuid::Uuid::from_bytes(id)))
                    .or_default()
                    .push((k, v)),
                None => stray.push(k),
            }
        }
        let mut pending = match resumed {
            Some(p) => p,
            None => PendingRun {
                as_of,
                head,
                fresh_done: 0,
                report: RunReport {
                    as_of: Some(as_of),
                    with_new_events: fresh.len(),
                    due: due.keys().filter(|c| !fresh.contains(c)).count(),
                    ..RunReport::default()
                },
            },
        };
        let mut todo = fresh
            .iter()
            .skip(pending.fresh_done)
            .map(|c| (*c, true))
            .chain(
                due.keys()
                    .filter(|c| !fresh.contains(c))
                    .map(|c| (*c, false)),
            )
            .peekable();
        loop {
            let mut batch = self.space.batch();
            for k in stray.drain(..) {
                batch.delete(&self.space, &k);
            }
            for (customer, is_fresh) in todo.by_ref().take(self.chunk.max(1)) {
                let entries = due.get(&customer).map(Vec::as_slice).unwrap_or_default();
                self.visit(
                    customer,
                    as_of,
                    is_fresh,
                    entries,
                    meta,
                    &mut pending.report,
                    &mut batch,
                )?;
                if is_fresh {
                    pending.fresh_done += 1;
                }
            }
            let last = todo.peek().is_none();
            if last {
                meta.position = pending.head;
                meta.last_as_of = Some(as_of);
                meta.pending = None;
            } else {
                meta.pending = Some(pending.clone());
            }
            let bytes = serde_json::to_vec(&meta).map_err(|e| Error::Corrupt(e.to_string()))?;
            batch.put(&self.space, b"meta", &bytes);
            self.store.write_keyspaces(batch)?;
            if last {
                return Ok(pending.report);
            }
        }
    }

    /// Evaluates one customer into `batch`: warnings, episodes, the due index.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
        is_fresh: bool,
        due: &[DueEntry],
        meta: &mut JobMeta,
        report: &mut RunReport,
        batch: &mut KeyspaceBatch,
    ) -> Result<()> {
        report.visited += 1;
        let projection = self.projector.projection().version();
        // A customer due with nothing new: their due entry carries their
        // episodes and (usually) their whole state.
        let carried = match due {
            [(_, value)] if !is_fresh => {
                record::decode(value).filter(|entry| entry.projection == projection)
            }
            _ => None,
        };
        let (carried_episodes, carried_state) = match carried {
            Some(entry) => (Some(entry.episodes), entry.state),
            None => (None, None),
        };
        let (state, version, whole) = match carried_state
            .filter(|s| s.last_seen.is_some_and(|t| t <= as_of.timestamp_micros()))
        {
            Some(state) => {
                let version = state.version;
                (state, version, true)
            }
            None => self.state_as_of(customer, as_of)?,
        };
        let score = self.risk.score(&state, as_of, &self.model);
        let mut episodes = match carried_episodes {
            Some(episodes) => episodes,
            None => self.episodes(&customer)?,
        };
        let before = episodes.clone();
        for warning in self
            .warnings
            .decide(customer, &score, version, as_of, &mut episodes)
        {
            meta.sequence += 1;
            let bytes = serde_json::to_vec(&warning).map_err(|e| Error::Corrupt(e.to_string()))?;
            let at = time_key(warning.as_of);
            let stored = key(&[b"w/", customer.as_bytes(), &at, warning.id.as_bytes()]);
            batch.put(&self.space, &stored, &bytes);
            batch.put(
                &self.space,
                &key(&[b"wt/", &at, warning.id.as_bytes()]),
                customer.as_bytes(),
            );
            // The outbox entry points to the stored warning.
            batch.put(
                &self.space,
                &key(&[b"outbox/", &meta.sequence.to_be_bytes()]),
                &stored,
            );
            report.raised += 1;
        }
        if episodes != before {
            let bytes = serde_json::to_vec(&episodes).map_err(|e| Error::Corrupt(e.to_string()))?;
            batch.put(&self.space, &key(&[b"ep/", customer.as_bytes()]), &bytes);
        }
        // Replace the customer's due entry: those that fell due, and the one
        // `next/` points to (for a customer due only now, the same entry).
        for (k, _) in due {
            batch.delete(&self.space, k);
        }
        let next_key = key(&[b"next/", customer.as_bytes()]);
        if is_fresh || due.is_empty() {
            if let Some(old) = self.space.get(&next_key)? {
                batch.delete(&self.space, &key(&[b"due/", &old, customer.as_bytes()]));
            }
        }
        match self.next_due_from(&state, as_of, score.risk) {
            Some(t) => {
                let entry = record::encode(projection, &episodes, whole.then_some(&state));
                batch.put(
                    &self.space,
                    &key(&[b"due/", &time_key(t), customer.as_bytes()]),
                    &entry,
                );
                batch.put(&self.space, &next_key, &time_key(t));
            }
            None => batch.delete(&self.space, &next_key),
        }
        Ok(())
    }

    /// Delivers every warning in the outbox, oldest first, in batches: each
    /// batch is delivered, the sink flushed, then the batch leaves the outbox
    /// in one write. A crash redelivers at most the batch in flight.
    pub fn deliver(&self, sink: &mut dyn WarningSink) -> Result<usize> {
        let mut delivered = 0;
        // Where the outbox starts: seeking there skips the deleted entries
        // before it (RocksDB keeps their tombstones until compaction).
        let mut from = match self.space.get(b"delivered")? {
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map_err(|_| Error::Corrupt("delivered".to_owned()))?,
            None => [0; 8],
        };
        loop {
            let entries =
                self.space
                    .range(&key(&[b"outbox/", &from]), Some(b"outbox0"), DELIVERY_BATCH)?;
            let mut done = self.space.batch();
            let mut failed = None;
            for (k, v) in &entries {
                let outcome = self
                    .outbox_warning(v)
                    .and_then(|w| sink.deliver(&w).map_err(Error::Sink));
                if let Err(e) = outcome {
                    failed = Some(e);
                    break;
                }
                done.delete(&self.space, k);
                delivered += 1;
                if let Some(sequence) = k
                    .get(b"outbox/".len()..)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                {
                    from = u64::from_be_bytes(sequence).saturating_add(1).to_be_bytes();
                }
            }
            if !done.is_empty() {
                done.put(&self.space, b"delivered", &from);
                sink.flush().map_err(Error::Sink)?;
                self.store.write_keyspaces(done)?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if entries.len() < DELIVERY_BATCH {
                return Ok(delivered);
            }
        }
    }

    /// The warning an outbox entry stands for: the key of the stored
    /// warning, or (entries written by earlier versions) the warning itself.
    fn outbox_warning(&self, value: &[u8]) -> Result<Warning> {
        let corrupt = |e: &dyn std::fmt::Display| Error::Corrupt(format!("outbox: {e}"));
        if value.starts_with(b"w/") {
            let bytes = self
                .space
                .get(value)?
                .ok_or_else(|| corrupt(&"the warning is not stored"))?;
            serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))
        } else {
            serde_json::from_slice(value).map_err(|e| corrupt(&e))
        }
    }

    /// Stored warnings raised in `[from, to)`, oldest first.
    pub fn warnings(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Warning>> {
        let mut out = Vec::new();
        for (_, customer) in self.space.range(
            &key(&[b"wt/", &time_key(from)]),
            Some(&key(&[b"wt/", &time_key(to)])),
            usize::MAX,
        )? {
            let Ok(id) = <[u8; 16]>::try_from(customer.as_slice()) else {
                continue;
            };
            let customer = CustomerId::from_uuid(uuid::Uuid::from_bytes(id));
            out.extend(
                self.history(customer)?
                    .into_iter()
                    .filter(|w| w.as_of >= from && w.as_of < to),
            );
        }
        out.sort_by_key(|w| (w.as_of, w.id));
        out.dedup_by_key(|w| w.id);
        Ok(out)
    }

    /// Every warning raised for `customer`, oldest first.
    pub fn history(&self, customer: CustomerId) -> Result<Vec<Warning>> {
        self.space
            .scan_prefix(&key(&[b"w/", customer.as_bytes()]), usize::MAX)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("warning: {e}")))
            })
            .collect()
    }

    /// Runs every `every` (as of the clock's now) until `stop` resolves.
    ///
    /// A run that fails (the sink refused a warning, a store error) does not
    /// end the schedule: it is logged (a `tracing` error), kept in
    /// [`ScheduleReport::failed`], and the next tick runs again. That run
    /// finishes the failed one first if it was cut off between chunks, and
    /// the warnings the sink did not take wait in the outbox, so nothing is
    /// lost and nothing is raised twice.
    ///
    /// # Errors
    /// Only if the job itself is lost: the blocking task it ran on panicked.
    pub async fn schedule(
        mut self,
        every: std::time::Duration,
        clock: std::sync::Arc<dyn clientele_core::Clock>,
        mut sink: Box<dyn WarningSink>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<ScheduleReport> {
        let mut ticker = tokio::time::interval(every);
        let mut report = ScheduleReport::default();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {
                    let as_of = clock.now();
                    let (job, s, run) = tokio::task::spawn_blocking(move || {
                        let run = self.run(as_of, sink.as_mut());
                        (self, sink, run)
                    })
                    .await
                    .map_err(|e| Error::Sink(format!("job task failed: {e}")))?;
                    self = job;
                    sink = s;
                    match run {
                        Ok(run) => report.runs.push(run),
                        Err(e) => {
                            tracing::error!(
                                as_of = %as_of,
                                error = %e,
                                "warning job run failed: retrying at the next tick"
                            );
                            report.failed.push((as_of, e));
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}

/// What [`WarningJob::schedule`] did until it was stopped.
#[derive(Debug, Default)]
pub struct ScheduleReport {
    /// The runs that completed, in order.
    pub runs: Vec<RunReport>,
    /// The runs that failed, with their as-of, in order (each was retried
    /// at the next tick).
    pub failed: Vec<(DateTime<Utc>, Error)>,
}

/// A customer's risk over future times with no new events, for the search of
/// the next crossing. When the state holds nothing dated after the start
/// (complaints aside), the risk depends on the day alone: each day is
/// evaluated once.
struct RiskByTime<'a> {
    job: &'a WarningJob,
    state: &'a ChurnState,
    by_day: Option<Vec<(i32, f64)>>,
}

impl<'a> RiskByTime<'a> {
    fn new(job: &'a WarningJob, state: &'a ChurnState, from: DateTime<Utc>, risk: f64) -> Self {
        let t = from.timestamp_micros();
        let by_day = (state.complaints.is_empty()
            && state.ratings.iter().all(|(at, _)| *at <= t)
            && state.intent.is_none_or(|(_, at)| at <= t)
            && state.churned_at.is_none_or(|at| at <= t))
        .then(|| vec![(day_of(from), risk)]);
        Self { job, state, by_day }
    }

    /// The risk at `t` (≥ the start).
    fn get(&mut self, t: DateTime<Utc>) -> f64 {
        let risk = |t| self.job.risk.risk(self.state, t, &self.job.model);
        match &mut self.by_day {
            None => risk(t),
            Some(known) => {
                let day = day_of(t);
                if let Some((_, r)) = known.iter().find(|(d, _)| *d == day) {
                    return *r;
                }
                let r = risk(t);
                known.push((day, r));
                r
            }
        }
    }
}

/// The day (days since 1970-01-01) on which a customer with no purchase
/// after `as_of` passes the win-back horizon, from the same rhythm the churn
/// score reads ([`ChurnState::rhythm_until`]).
fn win_back_day(
    rule: &crate::warning::WinBackRule,
    state: &ChurnState,
    as_of: DateTime<Utc>,
    min_gap: f64,
) -> Option<i64> {
    if state.churned_at.is_some() {
        return None;
    }
    let today = day_of(as_of);
    let rhythm = state.rhythm_until(today, min_gap)?;
    let horizon = rule.horizon_days(rhythm.purchases, Some(rhythm.typical_gap))?;
    if !horizon.is_finite() {
        return None;
    }
    // Saturating: a policy's horizon in days may be any float.
    let since = |day: i32| i64::from(day).saturating_add(horizon.ceil() as i64);
    let mut silent_day = match state.cover_after(rhythm.last) {
        // Cover later than the last purchase: the horizon counts from the
        // day after its last day (as `WinBackRule::silent` reads it).
        Some(_) if !rule.after_lapse_days.is_finite() => return None,
        Some(due) => (i64::from(due) + 1).saturating_add(rule.after_lapse_days.ceil() as i64),
        None => since(rhythm.last),
    };
    // Silent only once the last payment, and the last reactivation (a
    // win-back), are a horizon old too.
    if let Some(paid) = state.last_payment_until(today) {
        silent_day = silent_day.max(since(paid));
    }
    if let Some(back) = state.last_reactivation_until(today) {
        silent_day = silent_day.max(since(back));
    }
    Some(silent_day)
}
