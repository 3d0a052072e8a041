//! Errors.

use crate::envelope::ExpectedVersion;
use crate::ids::{CustomerId, EventId};

/// An event failed validation; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}field `{field}`: {reason}", match .index { Some(i) => format!("event #{i}: "), None => String::new() })]
pub struct ValidationError {
    /// Index of the event in the append call (0-based), if known.
    pub index: Option<usize>,
    /// The offending field, as a path such as `amount` or `metadata.actor_id`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ValidationError {
    /// A validation error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            index: None,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, located at event `index` of a batch.
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

/// A stored record that does not decode or does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// A record's checksum does not match its bytes.
    #[error("record at position {position}: checksum mismatch")]
    Checksum {
        /// Global position of the record.
        position: u64,
    },
    /// The hash chain breaks at this record (altered, reordered, or a predecessor missing).
    #[error("record at position {position}: hash chain broken")]
    Chain {
        /// Global position of the first record whose chain hash is wrong.
        position: u64,
    },
    /// A position is missing from the global order.
    #[error("position {expected} missing (next record found: {found:?})")]
    Gap {
        /// The position that should be there.
        expected: u64,
        /// The position found instead (None: the log ends early).
        found: Option<u64>,
    },
    /// A record could not be decoded.
    #[error("record at position {position}: {reason}")]
    Malformed {
        /// Global position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An index entry disagrees with the record it points to.
    #[error("index `{index}` inconsistent at position {position}: {reason}")]
    Index {
        /// Which index.
        index: &'static str,
        /// Position of the record concerned.
        position: u64,
        /// What disagrees.
        reason: String,
    },
}

impl IntegrityError {
    /// The first bad global position this error names.
    pub fn position(&self) -> u64 {
        match self {
            Self::Checksum { position }
            | Self::Chain { position }
            | Self::Malformed { position, .. }
            | Self::Index { position, .. } => *position,
            Self::Gap { expected, .. } => *expected,
        }
    }
}

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event is invalid; nothing was written.
    #[error("invalid event: {0}")]
    Validation(#[from] ValidationError),
    /// Optimistic concurrency: the stream is not at the expected version.
    #[error("customer {customer}: expected version {expected:?}, stream is at {actual}")]
    WrongExpectedVersion {
        /// The customer.
        customer: CustomerId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (0 = no events).
        actual: u64,
    },
    /// An event id is already stored with different content (or for another customer).
    #[error("event {event_id} is already stored at position {position} with different content")]
    IdempotencyConflict {
        /// The id reused.
        event_id: EventId,
        /// Where the original is.
        position: u64,
    },
    /// Some, but not all, events of one append are already stored: a retry must
    /// resend exactly the original batch.
    #[error("event {event_id} is already stored but other events of the same append are not")]
    PartiallyAppended {
        /// The first already stored id.
        event_id: EventId,
    },
    /// A stored record is corrupt or the log fails verification.
    #[error("integrity: {0}")]
    Integrity(#[from] IntegrityError),
    /// RocksDB failed.
    #[error("storage: {0}")]
    Storage(#[from] rocksdb::Error),
    /// A file-system operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store was opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// The writer thread is gone (the store is closing or it crashed).
    #[error("the writer has stopped")]
    WriterStopped,
    /// Personal data was given but the store has no master key to protect it.
    #[error("personal data needs a master key: configure StoreOptions::master_keys")]
    NoMasterKey,
    /// A key could not be created, wrapped or unwrapped.
    #[error("key management: {0}")]
    Key(String),
    /// The directory holds something that is not a clientele store of a supported format.
    #[error("incompatible store: {0}")]
    Incompatible(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
