//! # clientele
//!
//! An event-sourced customer-lifecycle engine. This facade re-exports the
//! member crates:
//!
//! * [`core`]: the customer event model and the RocksDB event log.
//!
//! ```
//! use clientele::core::{CustomerId, Store};
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! assert_eq!(store.head(), 0);
//! # let _ = CustomerId::new_random();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use clientele_core as core;
