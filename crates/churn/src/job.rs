//! The warning job: evaluates only the customers that are **due** — whose
//! risk can have changed since the last run, because new events arrived or a
//! time threshold (inactivity, complaint SLA, renewal window) was crossed —
//! raises warnings once per episode, stores them durably, and delivers them
//! to a sink at least once with stable ids.
//!
//! Exactly-once: a run computes everything, then commits episodes, the due
//! index, the warning history, the delivery outbox and its own checkpoint in
//! one atomic write. A crash before the commit leaves nothing; the rerun for
//! the same as-of decides the same warnings with the same ids. Delivery
//! happens after the commit from the outbox; a crash mid-delivery redelivers
//! (same ids) on the next run.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use clientele_core::projection::Projector;
use clientele_core::{CustomerId, Keyspace, Store};
use serde::{Deserialize, Serialize};

use crate::risk::{ModelContext, RiskPolicy};
use crate::state::{ChurnProjection, ChurnState};
use crate::warning::{Episodes, Warning, WarningPolicy};
use crate::{Error, Result};

/// Where warnings go (a queue, a CRM task list, a file…).
pub trait WarningSink: Send {
    /// Delivers one warning. May be called again with the same warning (same
    /// id) after a crash: consumers deduplicate by `Warning::id`.
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String>;
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

impl WarningSink for JsonlSink {
    fn deliver(&mut self, warning: &Warning) -> std::result::Result<(), String> {
        use std::io::Write;
        let mut line = serde_json::to_vec(warning).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| e.to_string())?;
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
        })
    }

    /// Fits the population model (BG/NBD) on every customer as of `as_of`,
    /// stores it for later runs, and uses it. A population-wide job: run it
    /// periodically (e.g. monthly), not on every warning run. Changing the
    /// model changes scores; due times computed under the old model are
    /// corrected as customers are next visited.
    pub fn refit(&mut self, as_of: DateTime<Utc>) -> Result<Option<[f64; 4]>> {
        self.projector.catch_up()?;
        let mut states = Vec::new();
        for customer in self.store.customers()? {
            states.push(self.projector.state_as_of(customer, as_of)?);
        }
        self.model.bg_nbd = crate::backtest::fit_population(&states, as_of);
        let params = self.model.bg_nbd.map(|m| [m.r(), m.alpha(), m.a(), m.b()]);
        if let Some(p) = params {
            let mut batch = self.space.batch();
            let bytes = serde_json::to_vec(&p).map_err(|e| Error::Corrupt(e.to_string()))?;
            batch.put(&self.space, b"model", &bytes);
            self.store.write_keyspaces(batch)?;
        }
        Ok(params)
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
        let mut candidates: Vec<DateTime<Utc>> = Vec::new();
        let sla = Duration::hours(self.risk.reply_sla_hours);
        for c in state.complaints.values() {
            let received = DateTime::from_timestamp_micros(c.received_at)?;
            if c.answered_at.is_none() {
                candidates.push(received + sla + Duration::seconds(1));
            } else if let Some(answered) = c.answered_at.and_then(DateTime::from_timestamp_micros) {
                candidates.push(answered + Duration::days(90) + Duration::seconds(1));
            }
        }
        if let Some(due) = state.renewal_due {
            let due = DateTime::from_timestamp(i64::from(due) * 86_400, 0)?;
            candidates.push(due - Duration::days(self.risk.renewal_lead_days));
            candidates.push(due + Duration::days(1));
        }
        // Risk-level crossings: the score grows with silence; find when it
        // next reaches a level above the current one (binary search, 1 h precision).
        let levels = [
            self.warnings.raise_at,
            self.warnings.medium_at,
            self.warnings.high_at,
        ];
        let risk_at = |t: DateTime<Utc>| self.risk.score(state, t, &self.model).risk;
        let now = risk_at(as_of);
        if let Some(&target) = levels.iter().find(|&&l| l > now) {
            let far = as_of + Duration::days(HORIZON_DAYS);
            if risk_at(far) >= target {
                let (mut lo, mut hi) = (as_of, far);
                while hi - lo > Duration::hours(1) {
                    let mid = lo + (hi - lo) / 2;
                    if risk_at(mid) >= target {
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

    /// Evaluates every customer due at `as_of`, commits, then delivers.
    pub fn run(&mut self, as_of: DateTime<Utc>, sink: &mut dyn WarningSink) -> Result<RunReport> {
        self.projector.catch_up()?;
        let mut meta = self.meta()?;
        let head = self.store.head();
        // Customers with new events since the last run.
        let mut fresh = BTreeSet::new();
        for event in self.store.read_range(meta.position + 1, Some(head))? {
            fresh.insert(event?.customer_id);
        }
        // Customers whose due time has come.
        let mut due_keys = Vec::new();
        let mut due = BTreeSet::new();
        let upper = key(&[b"due/", &time_key(as_of + Duration::microseconds(1))]);
        for (k, _) in self.space.range(b"due/", Some(&upper), usize::MAX)? {
            if let Ok(id) = <[u8; 16]>::try_from(&k[k.len() - 16..]) {
                let customer = CustomerId::from_uuid(uuid::Uuid::from_bytes(id));
                if !fresh.contains(&customer) {
                    due.insert(customer);
                }
            }
            due_keys.push(k);
        }
        let mut report = RunReport {
            as_of: Some(as_of),
            with_new_events: fresh.len(),
            due: due.len(),
            ..RunReport::default()
        };
        let mut batch = self.space.batch();
        for k in &due_keys {
            batch.delete(&self.space, k);
        }
        for customer in fresh.iter().chain(due.iter()) {
            report.visited += 1;
            let state = self.projector.state_as_of(*customer, as_of)?;
            let version = self.store.stream_version(*customer)?;
            let score = self.risk.score(&state, as_of, &self.model);
            let mut episodes = self.episodes(customer)?;
            let before = episodes.clone();
            for warning in self
                .warnings
                .decide(*customer, &score, version, as_of, &mut episodes)
            {
                meta.sequence += 1;
                let bytes =
                    serde_json::to_vec(&warning).map_err(|e| Error::Corrupt(e.to_string()))?;
                let at = time_key(warning.as_of);
                batch.put(
                    &self.space,
                    &key(&[b"w/", customer.as_bytes(), &at, warning.id.as_bytes()]),
                    &bytes,
                );
                batch.put(
                    &self.space,
                    &key(&[b"wt/", &at, warning.id.as_bytes()]),
                    customer.as_bytes(),
                );
                batch.put(
                    &self.space,
                    &key(&[b"outbox/", &meta.sequence.to_be_bytes()]),
                    &bytes,
                );
                report.raised += 1;
            }
            if episodes != before {
                let bytes =
                    serde_json::to_vec(&episodes).map_err(|e| Error::Corrupt(e.to_string()))?;
                batch.put(&self.space, &key(&[b"ep/", customer.as_bytes()]), &bytes);
            }
            // Replace the customer's due entry.
            let next_key = key(&[b"next/", customer.as_bytes()]);
            if let Some(old) = self.space.get(&next_key)? {
                batch.delete(&self.space, &key(&[b"due/", &old, customer.as_bytes()]));
            }
            match self.next_due(&state, as_of) {
                Some(t) => {
                    batch.put(
                        &self.space,
                        &key(&[b"due/", &time_key(t), customer.as_bytes()]),
                        b"",
                    );
                    batch.put(&self.space, &next_key, &time_key(t));
                }
                None => batch.delete(&self.space, &next_key),
            }
        }
        meta.position = head;
        meta.last_as_of = Some(as_of);
        let bytes = serde_json::to_vec(&meta).map_err(|e| Error::Corrupt(e.to_string()))?;
        batch.put(&self.space, b"meta", &bytes);
        self.store.write_keyspaces(batch)?;
        report.delivered = self.deliver(sink)?;
        Ok(report)
    }

    /// Delivers every warning in the outbox, removing each once delivered.
    pub fn deliver(&self, sink: &mut dyn WarningSink) -> Result<usize> {
        let mut delivered = 0;
        for (k, v) in self.space.scan_prefix(b"outbox/", usize::MAX)? {
            let warning: Warning =
                serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("outbox: {e}")))?;
            sink.deliver(&warning).map_err(Error::Sink)?;
            let mut batch = self.space.batch();
            batch.delete(&self.space, &k);
            self.store.write_keyspaces(batch)?;
            delivered += 1;
        }
        Ok(delivered)
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
    pub async fn schedule(
        mut self,
        every: std::time::Duration,
        clock: std::sync::Arc<dyn clientele_core::Clock>,
        mut sink: Box<dyn WarningSink>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<RunReport>> {
        let mut ticker = tokio::time::interval(every);
        let mut reports = Vec::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {
                    let as_of = clock.now();
                    let (job, s, report) = tokio::task::spawn_blocking(move || {
                        let report = self.run(as_of, sink.as_mut());
                        (self, sink, report)
                    })
                    .await
                    .map_err(|e| Error::Sink(format!("job task failed: {e}")))?;
                    self = job;
                    sink = s;
                    reports.push(report?);
                }
            }
        }
        Ok(reports)
    }
}
