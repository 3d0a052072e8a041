//! Errors and exit codes.
//!
//! Inside the crate, each area has its own typed error (`ImportError`,
//! `LineError`…); at the top level everything becomes a [`CliError`], which
//! knows its exit code and a one-line hint. `main` prints it as two lines:
//!
//! ```text
//! error: line 3: field `amount`: not a decimal number: "abc"
//! hint: fix the line and import the file again (lines already imported are not duplicated)
//! ```

use std::fmt;

use clientele_core::{Error as CoreError, IntegrityError};

/// Process exit codes (documented in `docs/guide.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCode {
    /// Everything worked.
    Ok = 0,
    /// Runtime or storage failure (I/O, RocksDB, store locked, no store).
    Runtime = 1,
    /// Wrong arguments or an impossible request (e.g. restoring into a non-empty db).
    Usage = 2,
    /// Bad input data: invalid lines, unknown customer, conflicting events.
    Input = 3,
    /// The log failed integrity verification.
    Integrity = 4,
}

impl ExitCode {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A top-level error: one line of cause, one line of hint, an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Which exit code the process ends with.
    pub kind: ExitCode,
    /// What went wrong (one line).
    pub message: String,
    /// What to do about it (one line).
    pub hint: String,
}

impl CliError {
    /// An error of `kind`.
    pub fn new(kind: ExitCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            kind,
            message: one_line(message.into()),
            hint: one_line(hint.into()),
        }
    }

    /// Exit code 1.
    pub fn runtime(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitCode::Runtime, message, hint)
    }

    /// Exit code 2.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message, hint)
    }

    /// Exit code 3.
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitCode::Input, message, hint)
    }

    /// Exit code 4.
    pub fn integrity(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitCode::Integrity, message, hint)
    }

    /// Wraps a core error, with a hint suited to what was being done.
    pub fn from_core(error: CoreError, doing: &str) -> Self {
        match &error {
            CoreError::Integrity(e) => Self::integrity(
                format!("{doing}: {}", integrity_message(e)),
                "restore the last good backup (`clientele restore`) or re-import the source files into a fresh --db",
            ),
            CoreError::Validation(_)
            | CoreError::WrongExpectedVersion { .. }
            | CoreError::IdempotencyConflict { .. }
            | CoreError::PartiallyAppended { .. } => Self::input(
                format!("{doing}: {error}"),
                "check the input data against docs/events.md",
            ),
            CoreError::Storage(e) if is_lock_error(e.as_ref()) => Self::runtime(
                format!("{doing}: the store is in use by another process ({e})"),
                "wait for the other clientele command to finish, or pass another --db",
            ),
            CoreError::Storage(_) | CoreError::Io(_) => Self::runtime(
                format!("{doing}: {error}"),
                "check that --db points to a readable, writable clientele store and that the disk is not full",
            ),
            CoreError::Incompatible(_) => Self::runtime(
                format!("{doing}: {error}"),
                "--db must point to a directory created by clientele (or to an empty or new directory)",
            ),
            _ => Self::runtime(
                format!("{doing}: {error}"),
                "retry; if it persists, run `clientele verify` and report the error",
            ),
        }
    }
}

fn is_lock_error(message: &str) -> bool {
    message.contains("LOCK")
        || message.contains("lock hold")
        || message.contains("Resource temporarily unavailable")
}

/// The integrity error as one line that always names the position.
pub fn integrity_message(error: &IntegrityError) -> String {
    let text = error.to_string();
    let position = error.position();
    if text.contains(&format!("position {position}")) {
        text
    } else {
        format!("{text} (first bad position {position})")
    }
}

fn one_line(text: String) -> String {
    if text.contains('\n') {
        text.split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}\nhint: {}", self.message, self.hint)
    }
}

impl std::error::Error for CliError {}

/// Result with [`CliError`].
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_two_lines() {
        let e = CliError::input("bad\nthing", "fix it");
        assert_eq!(e.to_string(), "error: bad thing\nhint: fix it");
        assert_eq!(e.kind.code(), 3);
    }

    #[test]
    fn integrity_names_the_position() {
        let e = CliError::from_core(
            CoreError::Integrity(IntegrityError::Checksum { position: 7 }),
            "verify",
        );
        assert_eq!(e.kind, ExitCode::Integrity);
        assert!(e.message.contains("position 7"), "{}", e.message);
    }
}
