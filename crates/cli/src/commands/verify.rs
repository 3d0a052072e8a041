//! `clientele verify`: [`Store::verify`](clientele_core::Store::verify) over the whole log.

use serde::Serialize;

use crate::commands::{Context, OpenMode};
use crate::error::{integrity_message, CliError, CliResult};
use crate::output::{count, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele verify
  clientele --db /backups/clientele-2025-06-30 verify --json

Checks every record's CRC-32, the BLAKE3 hash chain in global order, that no position is
missing, the head record, and the stream and event-id indexes. Prints the number of events
and streams and the head hash: publish the head hash to detect any later rewriting.
Exit code 4 names the first bad position when the log does not check out.";

/// Arguments of `clientele verify`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {}

/// A verified log.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutput {
    /// The store.
    pub db: String,
    /// Events checked.
    pub events: u64,
    /// Customer streams.
    pub streams: u64,
    /// Chain hash of the last record (hex).
    pub head_hash: String,
}

impl Render for VerifyOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "ok: {} in {} verified ({})\nhead hash: {}\n",
            count(self.events, "event"),
            count(self.streams, "customer stream"),
            self.db,
            self.head_hash
        ));
    }
}

/// Runs verification.
pub fn run(ctx: &Context, _args: &Args) -> CliResult<CommandOutput> {
    let store = ctx.open(OpenMode::ReadOnly)?;
    let report = store.verify().map_err(|e| match e {
        clientele_core::Error::Integrity(i) => CliError::integrity(
            format!("verification failed: {}", integrity_message(&i)),
            format!(
                "the log was altered or damaged at position {}; restore the last good backup (`clientele restore`)",
                i.position()
            ),
        ),
        other => CliError::from_core(other, "verify"),
    })?;
    Ok(CommandOutput::new(&VerifyOutput {
        db: ctx.db.display().to_string(),
        events: report.events,
        streams: report.streams,
        head_hash: report.head_hash,
    }))
}
