//! The subcommands. Each module has its arguments (`Args`, with help text and
//! examples) and a `run` function returning a [`CommandOutput`](crate::output::CommandOutput).

pub mod backup;
pub mod churn;
pub mod complaints;
pub mod customer;
pub mod demo;
pub mod export;
pub mod forget;
pub mod import;
pub mod lifecycle;
pub mod model;
pub mod rebuild;
pub mod report;
pub mod retention;
pub mod stats;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clientele_core::privacy::{MasterKeyRing, MasterKeys};
use clientele_core::{Durability, Store, StoreOptions};

use crate::error::{CliError, CliResult};
use crate::output::Output;

/// How a command opens the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only (verify, export): never creates anything, works beside a writer.
    ReadOnly,
    /// Read and write with fsync per append (the default durability); uses
    /// the master key if there is one, never creates one.
    Write,
    /// Bulk writes: buffered appends, the caller syncs at the end (imports);
    /// creates the per-user master key on first use.
    Bulk,
}

/// What every command gets: where the store is and how to print.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store directory.
    pub db: PathBuf,
    /// Whether `db` is the per-user default (not given with --db / CLIENTELE_DB).
    pub db_is_default: bool,
    /// Output settings.
    pub output: Output,
    /// `--master-key-file`.
    pub master_key_file: Option<PathBuf>,
}

/// The environment variable holding the master key (64 hex digits).
pub const MASTER_KEY_ENV: &str = "CLIENTELE_MASTER_KEY";

/// The per-user default master key file: `<config dir>/clientele/master.key`.
pub fn default_key_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "clientele").map(|d| d.config_dir().join("master.key"))
}

fn key_error(what: String) -> CliError {
    CliError::usage(
        what,
        "a master key is 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`",
    )
}

/// Reads a master key file (64 hex digits, surrounding whitespace ignored).
pub fn read_key_file(path: &Path) -> CliResult<MasterKeyRing> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::runtime(
            format!("cannot read the master key file {}: {e}", path.display()),
            "pass --master-key-file with a readable file, or set CLIENTELE_MASTER_KEY",
        )
    })?;
    MasterKeyRing::from_hex(1, text.trim())
        .map_err(|e| key_error(format!("master key file {}: {e}", path.display())))
}

/// Creates a new random master key file readable by its owner only.
fn create_key_file(path: &Path) -> CliResult<MasterKeyRing> {
    let failed = |e: std::io::Error| {
        CliError::runtime(
            format!("cannot create the master key file {}: {e}", path.display()),
            "set CLIENTELE_MASTER_KEY or pass --master-key-file",
        )
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let ring = MasterKeyRing::generate();
    let (_, key) = ring
        .current()
        .map_err(|e| CliError::runtime(format!("cannot generate a master key: {e}"), "retry"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    std::io::Write::write_all(&mut file, format!("{hex}\n").as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(ring)
}

/// The per-user default store: `<data dir>/clientele/db`.
pub fn default_db_dir() -> CliResult<PathBuf> {
    directories::ProjectDirs::from("", "", "clientele")
        .map(|dirs| dirs.data_dir().join("db"))
        .ok_or_else(|| {
            CliError::usage(
                "cannot find a per-user data directory (no home directory)",
                "pass --db DIR or set CLIENTELE_DB",
            )
        })
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false)
}

impl Context {
    /// A context for `db` (or the default store).
    pub fn new(db: Option<PathBuf>, output: Output) -> CliResult<Self> {
        let (db, db_is_default) = match db {
            Some(db) => (db, false),
            None => (default_db_dir()?, true),
        };
        Ok(Self {
            db,
            db_is_default,
            output,
            master_key_file: None,
        })
    }

    /// Sets `--master-key-file`.
    pub fn with_master_key_file(mut self, file: Option<PathBuf>) -> Self {
        self.master_key_file = file;
        self
    }

    /// The master keys: `--master-key-file`, else `CLIENTELE_MASTER_KEY`, else
    /// the per-user key file — created when `create` (commands that write).
    /// `None`: no key (personal fields read as locked).
    pub fn master_keys(&self, create: bool) -> CliResult<Option<Arc<dyn MasterKeys>>> {
        if let Some(file) = &self.master_key_file {
            return Ok(Some(Arc::new(read_key_file(file)?)));
        }
        if let Ok(hex) = std::env::var(MASTER_KEY_ENV) {
            let ring = MasterKeyRing::from_hex(1, &hex)
                .map_err(|e| key_error(format!("{MASTER_KEY_ENV}: {e}")))?;
            return Ok(Some(Arc::new(ring)));
        }
        let Some(file) = default_key_file() else {
            return Ok(None);
        };
        if file.exists() {
            return Ok(Some(Arc::new(read_key_file(&file)?)));
        }
        if !create {
            return Ok(None);
        }
        let ring = create_key_file(&file)?;
        self.output.notice(&format!(
            "created a master key for personal data at {} (keep a copy: without it names, phones and ids cannot be read)",
            file.display()
        ));
        Ok(Some(Arc::new(ring)))
    }

    /// `--db DIR ` to repeat in suggested commands (empty for the default store).
    pub fn db_flag(&self) -> String {
        if self.db_is_default {
            String::new()
        } else {
            format!("--db {} ", shell_quote(&self.db.display().to_string()))
        }
    }

    /// Whether a store exists at `db`.
    pub fn store_exists(&self) -> bool {
        self.db.join("CURRENT").is_file()
    }

    /// Opens the store; commands that write create it (and say where).
    pub fn open(&self, mode: OpenMode) -> CliResult<Store> {
        let exists = self.store_exists();
        if mode == OpenMode::ReadOnly {
            if !exists {
                return Err(self.no_store());
            }
            let options = StoreOptions {
                master_keys: self.master_keys(false)?,
                ..StoreOptions::default()
            };
            return Store::open_read_only_with(&self.db, options)
                .map_err(|e| CliError::from_core(e, &format!("opening {}", self.db.display())));
        }
        if !exists && self.db.exists() && !self.db.is_dir() {
            return Err(CliError::usage(
                format!("--db {} is a file, not a directory", self.db.display()),
                "pass a directory for the store",
            ));
        }
        if !exists && self.db.is_dir() && !is_empty_dir(&self.db) {
            return Err(CliError::usage(
                format!(
                    "{} is not empty and holds no clientele store",
                    self.db.display()
                ),
                "pass --db with a new or empty directory",
            ));
        }
        if !exists {
            std::fs::create_dir_all(&self.db).map_err(|e| {
                CliError::runtime(
                    format!("cannot create {}: {e}", self.db.display()),
                    "check the permissions, or pass another --db",
                )
            })?;
        }
        let options = StoreOptions {
            durability: if mode == OpenMode::Bulk {
                Durability::Buffered
            } else {
                Durability::Sync
            },
            master_keys: self.master_keys(mode == OpenMode::Bulk)?,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&self.db, options)
            .map_err(|e| CliError::from_core(e, &format!("opening {}", self.db.display())))?;
        if !exists {
            self.output
                .notice(&format!("created a new store at {}", self.db.display()));
        }
        Ok(store)
    }

    /// The error for a missing store.
    pub fn no_store(&self) -> CliError {
        CliError::runtime(
            format!("no clientele store at {}", self.db.display()),
            "create one with `clientele demo` or `clientele import FILE --format …`, or pass --db DIR (or set CLIENTELE_DB)",
        )
    }
}

/// Quotes a path for a suggested shell command when needed.
pub fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `--known-at R`: a recorded time, read as [`time_arg`] reads it (a plain
/// date is the end of that day); `None` when the flag is absent
/// (everything recorded so far).
pub fn known_at_arg(text: Option<&str>) -> CliResult<Option<chrono::DateTime<chrono::Utc>>> {
    text.map(|t| time_arg("known-at", Some(t))).transpose()
}

/// Parses a time flag (RFC 3339, or a date = the end of that day); `None` = now.
///
/// A plain date means the whole of that day: its last instant the store can
/// hold, 23:59:59.999999 (times are kept to the microsecond), so an event at
/// 23:59:59.5 counts.
pub fn time_arg(flag: &str, text: Option<&str>) -> CliResult<chrono::DateTime<chrono::Utc>> {
    match text {
        Some(t) => {
            let parsed = crate::import::record::parse_time(t).map_err(|reason| {
                CliError::usage(
                    format!("--{flag}: {reason}"),
                    "e.g. 2025-06-30 or 2025-06-30T12:00:00Z",
                )
            })?;
            Ok(if is_plain_date(t) {
                end_of_day(parsed)
            } else {
                parsed
            })
        }
        None => Ok(
            chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_default(),
        ),
    }
}

/// Whether a time argument is a plain date (`YYYY-MM-DD`).
fn is_plain_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok()
}

/// The last microsecond of the day that starts at `midnight`.
pub fn end_of_day(midnight: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    midnight + chrono::Duration::days(1) - chrono::Duration::microseconds(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("/tmp/db"), "/tmp/db");
        assert_eq!(shell_quote("/tmp/my db"), "'/tmp/my db'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_plain_date_is_the_last_microsecond_of_the_day() {
        let t = time_arg("as-of", Some("1997-12-31")).unwrap();
        assert_eq!(crate::output::timestamp(t), "1997-12-31T23:59:59.999999Z");
        let t = time_arg("as-of", Some("1997-12-31T23:59:59Z")).unwrap();
        assert_eq!(crate::output::timestamp(t), "1997-12-31T23:59:59Z");
        let e = time_arg("as-of", Some("1997-13-01")).unwrap_err();
        assert_eq!(e.kind, crate::ExitCode::Usage);
    }

    #[test]
    fn read_only_open_of_a_missing_store_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(Some(dir.path().join("none")), Output::quiet(false)).unwrap();
        let e = ctx.open(OpenMode::ReadOnly).unwrap_err();
        assert_eq!(e.kind, crate::ExitCode::Runtime);
        assert!(!dir.path().join("none").exists());
    }
}
