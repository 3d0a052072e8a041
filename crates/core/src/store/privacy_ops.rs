//! Erasure (forget), retention and master-key rotation: the store side of
//! crypto-shredding. See the `privacy` module and `docs/privacy.md`.

use chrono::{DateTime, Datelike, Utc};
use rocksdb::{BottommostLevelCompaction, CompactOptions, ReadOptions};
use serde::{Deserialize, Serialize};

use super::keys;
use super::writer::{EraseKeys, StreamAppend};
use super::{prepare_event, Durability, Store};
use crate::codec;
use crate::envelope::{AppendOutcome, AppendStatus, ExpectedVersion, Metadata, NewEvent};
use crate::error::{Error, Result, ValidationError};
use crate::event::{Erasure, ErasureScope, EventPayload};
use crate::ids::{CustomerId, EventId};
use crate::privacy::{self, DataClass};

/// Keep one class of personal data for a number of years, then erase it.
///
/// Data keys cover one calendar year of `occurred_at`, so erasure happens by
/// whole years: with `keep_years = 3`, applying the rule in 2025 erases that
/// class for events of 2021 and earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    /// The class of personal data (e.g. contact notes).
    pub class: DataClass,
    /// Full calendar years kept before the current one.
    pub keep_years: u16,
}

/// What applying a retention rule did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Years strictly before this one were erased.
    pub before_year: i16,
    /// Customers who had data erased (one erasure event each).
    pub customers: usize,
}

impl Store {
    fn erasure_event(
        &self,
        scope: ErasureScope,
        reason: &str,
        metadata: Metadata,
    ) -> Result<codec::PreparedEvent> {
        if reason.trim().is_empty() {
            return Err(ValidationError::new("reason", "an erasure needs a reason").into());
        }
        let now = self.inner.options.clock.now();
        let occurred_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let event = NewEvent {
            event_id: EventId::new(),
            occurred_at,
            metadata,
            payload: EventPayload::Erasure(Erasure {
                scope,
                reason: reason.to_owned(),
            }),
        };
        prepare_event(&event).map_err(|e| ValidationError::new("payload", e).into())
    }

    #[cfg(test)]
    pub(crate) fn erasure_event_for_tests(&self, reason: &str) -> codec::PreparedEvent {
        match self.erasure_event(ErasureScope::Customer, reason, Metadata::default()) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// Erases every personal field of `customer`: destroys the customer's data
    /// keys and records an [`Erasure`] event (who — from `metadata` —, when,
    /// why) in the same atomic commit, then purges the key bytes from disk
    /// ([`Store::purge`]). Afterwards every read path returns the customer's
    /// events with their personal fields empty and
    /// [`PersonalData::Erased`](crate::privacy::PersonalData::Erased); amounts,
    /// dates and steps are untouched, and `verify()` still passes.
    ///
    /// Idempotent: forgetting a customer whose last event is already a
    /// customer erasure writes nothing and returns that event's position.
    /// If the process dies after the commit, the purge is finished the next
    /// time the store is opened. Projections holding derived personal data
    /// (identifier indexes) must fold the erasure event, then call
    /// [`Store::purge`] again so their old states are compacted away.
    pub fn forget(
        &self,
        customer: CustomerId,
        reason: &str,
        metadata: Metadata,
    ) -> Result<AppendOutcome> {
        let version = self.stream_version(customer)?;
        if version == 0 {
            return Err(ValidationError::new(
                "customer_id",
                format!("no events for customer {customer}"),
            )
            .into());
        }
        if let Some(last) = self.stream(customer, version)?.next() {
            let last = last?;
            if matches!(
                &last.payload,
                EventPayload::Erasure(Erasure {
                    scope: ErasureScope::Customer,
                    ..
                })
            ) {
                self.purge()?;
                return Ok(AppendOutcome {
                    status: AppendStatus::AlreadyAppended,
                    customer_id: customer,
                    positions: vec![(last.version, last.position)],
                    stream_version: version,
                });
            }
        }
        let mut event = self.erasure_event(ErasureScope::Customer, reason, metadata)?;
        event.fingerprint = codec::fingerprint(&customer, &event);
        let stream = StreamAppend {
            customer,
            expected: ExpectedVersion::Any,
            events: vec![event],
        };
        let mut outcomes = self.submit_request(
            vec![EraseKeys {
                customer,
                only: None,
            }],
            Vec::new(),
            vec![stream],
            Durability::Sync,
        )?;
        self.purge()?;
        outcomes.pop().ok_or(Error::WriterStopped)
    }

    /// Applies a retention rule as of `now`: for every customer holding data
    /// of `rule.class` from before the cut-off year, destroys those keys and
    /// records an erasure event, then purges.
    pub fn apply_retention(
        &self,
        rule: &RetentionRule,
        now: DateTime<Utc>,
        metadata: Metadata,
    ) -> Result<RetentionReport> {
        let before_year =
            i16::try_from(now.year() - i32::from(rule.keep_years)).unwrap_or(i16::MIN);
        let cf = self.cf(keys::CF_DATA_KEYS)?;
        let mut customers: Vec<CustomerId> = Vec::new();
        let mut it = self.db().raw_iterator_cf_opt(cf, ReadOptions::default());
        it.seek_to_first();
        while let Some(k) = it.key() {
            if k.len() == 19
                && k[16] == rule.class.code()
                && keys::data_key_year(k).is_some_and(|y| y < before_year)
            {
                if let Ok(id) = <[u8; 16]>::try_from(&k[..16]) {
                    let c = CustomerId::from_uuid(uuid::Uuid::from_bytes(id));
                    if customers.last() != Some(&c) {
                        customers.push(c);
                    }
                }
            }
            it.next();
        }
        it.status()?;
        drop(it);
        let reason = format!("retention: {:?} kept {} years", rule.class, rule.keep_years);
        for chunk in customers.chunks(500) {
            let mut erase = Vec::with_capacity(chunk.len());
            let mut streams = Vec::with_capacity(chunk.len());
            for &customer in chunk {
                let scope = ErasureScope::Retention {
                    class: rule.class,
                    before_year,
                };
                let mut event = self.erasure_event(scope, &reason, metadata.clone())?;
                event.fingerprint = codec::fingerprint(&customer, &event);
                erase.push(EraseKeys {
                    customer,
                    only: Some((rule.class, before_year)),
                });
                streams.push(StreamAppend {
                    customer,
                    expected: ExpectedVersion::Any,
                    events: vec![event],
                });
            }
            self.submit_request(erase, Vec::new(), streams, Durability::Sync)?;
        }
        if !customers.is_empty() {
            self.purge()?;
        }
        Ok(RetentionReport {
            before_year,
            customers: customers.len(),
        })
    }

    /// Makes destroyed keys physically unrecoverable from this store: flushes
    /// every column family (so write-ahead logs holding them are released),
    /// then compacts the key and projection column families to the bottom
    /// level, where deleted entries are dropped. Clears the pending-purge
    /// marker. Backups taken earlier still hold the keys: see `docs/privacy.md`.
    pub fn purge(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let db = self.db();
        for name in keys::COLUMN_FAMILIES {
            db.flush_cf(self.cf(name)?)?;
        }
        db.flush()?;
        let mut options = CompactOptions::default();
        options.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        options.set_exclusive_manual_compaction(true);
        for name in [keys::CF_DATA_KEYS, keys::CF_PROJECTIONS] {
            db.compact_range_cf_opt(self.cf(name)?, None::<&[u8]>, None::<&[u8]>, &options);
        }
        let mut write = rocksdb::WriteOptions::default();
        write.set_sync(true);
        db.delete_opt(keys::KEY_PURGE_PENDING, &write)?;
        db.flush_wal(true)?;
        Ok(())
    }

    /// Rewraps every data key under the current master key (after adding a new
    /// key to the [`MasterKeys`](crate::privacy::MasterKeys) ring). Returns how
    /// many keys were rewrapped. Old master keys can be retired afterwards.
    pub fn rotate_master_key(&self) -> Result<usize> {
        let master = self
            .inner
            .options
            .master_keys
            .clone()
            .ok_or(Error::NoMasterKey)?;
        let (id, current) = master.current().map_err(Error::Key)?;
        let cf = self.cf(keys::CF_DATA_KEYS)?;
        let mut rewrapped = Vec::new();
        let mut it = self.db().raw_iterator_cf_opt(cf, ReadOptions::default());
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let key_id = v
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if key_id != Some(id) {
                let data = privacy::unwrap_key(master.as_ref(), v, k).map_err(Error::Key)?;
                rewrapped.push((
                    k.to_vec(),
                    v.to_vec(),
                    privacy::wrap(id, &current, &data, k).map_err(Error::Key)?,
                ));
            }
            it.next();
        }
        it.status()?;
        drop(it);
        let count = rewrapped.len();
        self.rewrap(rewrapped)?;
        Ok(count)
    }

    /// Stores rewrapped keys through the writer, which skips keys erased or
    /// replaced since they were read (so rotation never resurrects a key).
    fn rewrap(&self, keys: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>) -> Result<()> {
        for chunk in keys.chunks(1000) {
            let rewrap = chunk
                .iter()
                .filter_map(|(name, old, new)| {
                    Some((
                        <[u8; 19]>::try_from(name.as_slice()).ok()?,
                        old.clone(),
                        new.clone(),
                    ))
                })
                .collect();
            self.submit_request(Vec::new(), rewrap, Vec::new(), Durability::Sync)?;
        }
        self.purge()
    }
}
