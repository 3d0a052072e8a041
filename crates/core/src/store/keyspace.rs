//! Keyspaces: small named key/value areas in the store's database for the
//! engine's own bookkeeping (warning history, job checkpoints, due indexes),
//! written atomically with [`KeyspaceBatch`]. Not part of the event log: they
//! are neither hash-chained nor replayed, and should hold derived data only.

use rocksdb::{ReadOptions, WriteBatch, WriteOptions};

use super::keys;
use super::Store;
use crate::error::{Error, Result};

/// A named key/value area. Cheap to create; see [`Store::keyspace`].
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = clientele_core::Store::open(dir.path())?;
/// let jobs = store.keyspace("jobs")?;
/// let mut batch = jobs.batch();
/// batch.put(&jobs, b"last-run", b"2024-06-30");
/// store.write_keyspaces(batch)?;
/// assert_eq!(jobs.get(b"last-run")?.as_deref(), Some(&b"2024-06-30"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Keyspace {
    store: Store,
    prefix: Vec<u8>,
}

/// Writes to one or more keyspaces, applied atomically by [`Store::write_keyspaces`].
#[derive(Default)]
pub struct KeyspaceBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for KeyspaceBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceBatch")
            .field("ops", &self.ops.len())
            .finish()
    }
}

impl KeyspaceBatch {
    /// Sets `key` in `space`.
    pub fn put(&mut self, space: &Keyspace, key: &[u8], value: &[u8]) {
        self.ops.push((space.full_key(key), Some(value.to_vec())));
    }

    /// Removes `key` from `space`.
    pub fn delete(&mut self, space: &Keyspace, key: &[u8]) {
        self.ops.push((space.full_key(key), None));
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl Keyspace {
    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    /// An empty batch (for this or other keyspaces of the same store).
    pub fn batch(&self) -> KeyspaceBatch {
        KeyspaceBatch::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = self.store.cf(keys::CF_CHECKPOINTS)?;
        Ok(self.store.db().get_cf(cf, self.full_key(key))?)
    }

    /// Entries with `from <= key < to` (`to = None`: to the end), in key order,
    /// at most `limit`.
    pub fn range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let cf = self.store.cf(keys::CF_CHECKPOINTS)?;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(self.full_key(from));
        let upper = match to {
            Some(to) => self.full_key(to),
            None => {
                let mut end = self.prefix.clone();
                end.pop();
                end.push(0xff); // prefix ends with 0xfe: the next byte bounds it
                end
            }
        };
        options.set_iterate_upper_bound(upper);
        let mut it = self.store.db().raw_iterator_cf_opt(cf, options);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if out.len() >= limit {
                break;
            }
            out.push((k[self.prefix.len()..].to_vec(), v.to_vec()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Entries whose key starts with `prefix`.
    pub fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut end = prefix.to_vec();
        // The smallest key greater than every key with this prefix.
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                return self.range(prefix, Some(&end), limit);
            }
        }
        self.range(prefix, None, limit)
    }
}

impl Store {
    /// The keyspace `name` (letters, digits, `-`, `_`, `.`, `/`; up to 64 bytes).
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        {
            return Err(Error::Incompatible(format!(
                "invalid keyspace name {name:?}"
            )));
        }
        // Stored beside projection checkpoints, under a prefix no checkpoint uses.
        let mut prefix = b"ks:".to_vec();
        prefix.extend_from_slice(name.as_bytes());
        prefix.push(0xfe);
        Ok(Keyspace {
            store: self.clone(),
            prefix,
        })
    }

    /// Applies a keyspace batch atomically (fsynced).
    pub fn write_keyspaces(&self, batch: KeyspaceBatch) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let cf = self.cf(keys::CF_CHECKPOINTS)?;
        let mut wb = WriteBatch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => wb.put_cf(cf, k, v),
                None => wb.delete_cf(cf, k),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db().write_opt(wb, &options)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspaces_are_isolated_and_ranges_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (store.keyspace("a").unwrap(), store.keyspace("ab").unwrap());
        let mut batch = a.batch();
        for i in 0u8..10 {
            batch.put(&a, &[i], &[i]);
            batch.put(&b, &[i], &[100 + i]);
        }
        batch.put(&a, &[0xff, 0xff], b"top");
        store.write_keyspaces(batch).unwrap();
        assert_eq!(a.range(&[2], Some(&[5]), 100).unwrap().len(), 3);
        assert_eq!(a.range(&[], None, 100).unwrap().len(), 11);
        assert_eq!(b.range(&[], None, 100).unwrap().len(), 10);
        assert_eq!(
            a.scan_prefix(&[0xff], 10).unwrap(),
            vec![(vec![0xff, 0xff], b"top".to_vec())]
        );
        let mut batch = a.batch();
        batch.delete(&a, &[3]);
        store.write_keyspaces(batch).unwrap();
        assert_eq!(a.get(&[3]).unwrap(), None);
        assert_eq!(b.get(&[3]).unwrap(), Some(vec![103]));
        assert!(store.keyspace("bad name").is_err());
    }
}
