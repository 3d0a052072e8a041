//! Integrity verification: the whole log against its checksums, hash chain,
//! head record and indexes.

use serde::Serialize;

use super::keys::{self, EventIdEntry};
use super::writer::decode_head;
use super::Store;
use crate::codec::{self, RawRecord, GENESIS_HASH, HASH_LEN};
use crate::error::{Error, IntegrityError, Result};

/// What [`Store::verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked (= the last position).
    pub events: u64,
    /// Customers (streams) checked.
    pub streams: u64,
    /// The chain hash of the last record, hex: publish it to pin the log's state.
    pub head_hash: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Checks the whole log: every record's checksum, the hash chain in global
    /// order, no gaps, recorded times that never decrease (the log as known
    /// at a time is a prefix of it: [`Store::known_position`]), the head
    /// record, and that the stream and event-id indexes agree with the
    /// records. Fails naming the first bad position.
    pub fn verify(&self) -> Result<VerifyReport> {
        let result = self.verify_log();
        match &result {
            Ok(report) => tracing::info!(
                events = report.events,
                streams = report.streams,
                "log verified"
            ),
            Err(e) => tracing::error!(error = %e, "log verification failed"),
        }
        result
    }

    /// [`Store::verify`]'s work.
    fn verify_log(&self) -> Result<VerifyReport> {
        let db = self.db();
        let events = self.cf(keys::CF_EVENTS)?;
        let streams = self.cf(keys::CF_STREAMS)?;
        let ids = self.cf(keys::CF_EVENT_IDS)?;
        let mut options = rocksdb::ReadOptions::default();
        options.fill_cache(false);
        options.set_readahead_size(4 << 20);
        let snapshot_head = self.head();
        let mut raw = db.raw_iterator_cf_opt(events, options);
        raw.seek_to_first();
        let mut expected = 1u64;
        let mut previous = GENESIS_HASH;
        let mut previous_recorded = i64::MIN;
        while raw.valid() && expected <= snapshot_head.max(1) {
            let (Some(key), Some(value)) = (raw.key(), raw.value()) else {
                break;
            };
            let position = keys::read_u64(key).unwrap_or(0);
            if position != expected {
                return Err(IntegrityError::Gap {
                    expected,
                    found: Some(position),
                }
                .into());
            }
            let record = RawRecord::parse(position, value)?;
            if codec::chain_hash(&previous, position, record.body) != record.chain_hash {
                return Err(IntegrityError::Chain { position }.into());
            }
            if record.recorded_micros < previous_recorded {
                return Err(IntegrityError::Malformed {
                    position,
                    reason: format!(
                        "recorded_at {} µs is before the previous record's {} µs (recorded times never decrease along the log)",
                        record.recorded_micros, previous_recorded
                    ),
                }
                .into());
            }
            previous_recorded = record.recorded_micros;
            // The public part must decode (upcasting included); sealed parts
            // are covered by the checksum and the chain, and need no key here.
            record.decode(position, &codec::locked)?;
            let index = |reason: String| IntegrityError::Index {
                index: "streams",
                position,
                reason,
            };
            match db.get_pinned_cf(
                streams,
                keys::stream_key(&record.customer_id, record.version),
            )? {
                Some(p)
                    if keys::read_stream_entry(&p).is_some_and(|(at, occurred)| {
                        at == position
                            && occurred.is_none_or(|o| o == record.occurred_micros)
                    }) => {}
                other => {
                    return Err(index(format!(
                        "customer {} version {} maps to {:?} (position, occurred µs), the record occurred at {} µs",
                        record.customer_id,
                        record.version,
                        other.and_then(|p| keys::read_stream_entry(&p)),
                        record.occurred_micros,
                    ))
                    .into())
                }
            }
            if record.version > 1
                && db
                    .get_pinned_cf(
                        streams,
                        keys::stream_key(&record.customer_id, record.version - 1),
                    )?
                    .is_none()
            {
                return Err(index(format!(
                    "version {} of {} missing",
                    record.version - 1,
                    record.customer_id
                ))
                .into());
            }
            match db.get_pinned_cf(ids, keys::event_id_key(&record.event_id))? {
                Some(e) if EventIdEntry::decode(&e).is_some_and(|e| e.position == position) => {}
                _ => {
                    return Err(IntegrityError::Index {
                        index: "event_ids",
                        position,
                        reason: format!("event id {} does not map to this record", record.event_id),
                    }
                    .into())
                }
            }
            previous = record.chain_hash;
            expected += 1;
            raw.next();
        }
        raw.status()?;
        let last = expected - 1;
        if last < snapshot_head {
            return Err(IntegrityError::Gap {
                expected,
                found: None,
            }
            .into());
        }
        let head = db.get(keys::KEY_HEAD)?.and_then(|b| decode_head(&b));
        match head {
            Some(h) if h.position == last && h.hash == previous => {}
            None if last == 0 => {}
            Some(h) if h.position < last => {
                // Records past the head were never acknowledged by a committed head:
                // that cannot happen with atomic batches, so treat it as tampering.
                return Err(IntegrityError::Chain {
                    position: h.position + 1,
                }
                .into());
            }
            _ => {
                return Err(IntegrityError::Chain {
                    position: last.max(1),
                }
                .into())
            }
        }
        self.verify_no_stray_stream_entries(last)?;
        let stream_count = self.customers()?.len() as u64;
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&previous);
        Ok(VerifyReport {
            events: last,
            streams: stream_count,
            head_hash: hex(&hash),
        })
    }

    /// Every record up to `last` has its own `streams` entry (checked by the
    /// walk over the records); this checks there is no other entry pointing
    /// into the log, such as a stray entry claiming a later time, which an
    /// as-of read would trust. Counting suffices; only when the count is off
    /// are the entries read against their records, to name the first stray.
    fn verify_no_stray_stream_entries(&self, last: u64) -> Result<()> {
        let db = self.db();
        let streams = self.cf(keys::CF_STREAMS)?;
        let mut options = rocksdb::ReadOptions::default();
        options.fill_cache(false);
        let malformed = |key: &[u8]| -> Error {
            IntegrityError::Index {
                index: "streams",
                position: 0,
                reason: format!("malformed entry under key {}", hex(key)),
            }
            .into()
        };
        let mut count = 0u64;
        let mut it = db.raw_iterator_cf_opt(streams, options);
        it.seek_to_first();
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            let (position, _) = keys::read_stream_entry(value).ok_or_else(|| malformed(key))?;
            // Entries of appends made while verifying point past `last`.
            if (1..=last).contains(&position) {
                count += 1;
            }
            it.next();
        }
        it.status()?;
        if count == last {
            return Ok(());
        }
        let events = self.cf(keys::CF_EVENTS)?;
        it.seek_to_first();
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            let (position, _) = keys::read_stream_entry(value).ok_or_else(|| malformed(key))?;
            if (1..=last).contains(&position) {
                let own = db
                    .get_pinned_cf(events, keys::position_key(position))?
                    .and_then(|bytes| {
                        RawRecord::parse(position, &bytes)
                            .ok()
                            .map(|r| keys::stream_key(&r.customer_id, r.version))
                    });
                if own.as_ref().map(|k| k.as_slice()) != Some(key) {
                    return Err(IntegrityError::Index {
                        index: "streams",
                        position,
                        reason: format!(
                            "a stray entry under key {} points to this record",
                            hex(key)
                        ),
                    }
                    .into());
                }
            }
            it.next();
        }
        it.status()?;
        Err(IntegrityError::Index {
            index: "streams",
            position: 0,
            reason: format!("{count} entries point into a log of {last} records"),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::writer::{encode_head, Head};
    use crate::{CustomerId, ExpectedVersion, NewEvent};

    /// Sets the recorded time of the record at `position` and re-chains the
    /// log after it (checksums, chain hashes, head): a log whose only fault
    /// is its recorded times.
    fn rewrite_recorded(store: &Store, position: u64, recorded_micros: i64) {
        let db = store.db();
        let events = store.cf(keys::CF_EVENTS).unwrap();
        let mut previous = GENESIS_HASH;
        for p in 1..=store.head() {
            let mut bytes = db.get_cf(events, keys::position_key(p)).unwrap().unwrap();
            let hash_at = bytes.len() - HASH_LEN;
            let crc_at = hash_at - 4;
            if p == position {
                bytes[53..61].copy_from_slice(&recorded_micros.to_be_bytes());
            }
            let crc = crc32fast::hash(&bytes[..crc_at]);
            bytes[crc_at..hash_at].copy_from_slice(&crc.to_be_bytes());
            previous = codec::chain_hash(&previous, p, &bytes[..crc_at]);
            bytes[hash_at..].copy_from_slice(&previous);
            db.put_cf(events, keys::position_key(p), &bytes).unwrap();
        }
        let head = decode_head(&db.get(keys::KEY_HEAD).unwrap().unwrap()).unwrap();
        let head = Head {
            hash: previous,
            ..head
        };
        db.put(keys::KEY_HEAD, encode_head(&head)).unwrap();
    }

    #[test]
    fn a_recorded_time_that_goes_back_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let customer = CustomerId::new_random();
        for i in 0..3 {
            let e = crate::event::Purchase::new(
                format!("A-{i}"),
                "1.00".parse().unwrap(),
                "EUR".parse().unwrap(),
            );
            store
                .append(
                    customer,
                    ExpectedVersion::Any,
                    vec![NewEvent::new(chrono::Utc::now(), e)],
                )
                .unwrap();
        }
        let first = store.read_event(1).unwrap().unwrap().recorded_at;
        // Re-chaining alone leaves a sound log.
        rewrite_recorded(
            &store,
            2,
            store
                .read_event(2)
                .unwrap()
                .unwrap()
                .recorded_at
                .timestamp_micros(),
        );
        assert_eq!(store.verify().unwrap().events, 3);
        rewrite_recorded(&store, 3, first.timestamp_micros() - 1);
        match store.verify() {
            Err(Error::Integrity(IntegrityError::Malformed { position, reason })) => {
                assert_eq!(position, 3);
                assert!(reason.contains("never decrease"), "{reason}");
            }
            other => panic!("expected a malformed record, got {other:?}"),
        }
    }
}
