//! `clientele backup DIR` and `clientele restore BACKUP_DIR`.

use std::path::{Path, PathBuf};

use clientele_core::Store;
use serde::Serialize;

use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::output::{count, CommandOutput, Render};

const BACKUP_EXAMPLES: &str = "\
Examples:
  clientele backup /backups/clientele-2025-06-30
  clientele --db /tmp/cdnow backup /tmp/cdnow-backup

DIR must not exist (or be an empty directory). The backup is a RocksDB checkpoint: consistent,
made while the store stays usable, and hard-linked where the file system allows (fast, small).
It is verified after it is written; keep the printed head hash with it.";

const RESTORE_EXAMPLES: &str = "\
Examples:
  clientele --db /srv/clientele/db restore /backups/clientele-2025-06-30
  clientele --db /tmp/restored restore /tmp/cdnow-backup && clientele --db /tmp/restored verify

The backup is verified before it is copied, and the restored store after. --db (or the default
store) must be empty or absent: restore never overwrites a store.";

/// Arguments of `clientele backup`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = BACKUP_EXAMPLES)]
pub struct BackupArgs {
    /// Where to write the backup (a new directory).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Arguments of `clientele restore`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = RESTORE_EXAMPLES)]
pub struct RestoreArgs {
    /// A directory written by `clientele backup`.
    #[arg(value_name = "BACKUP_DIR")]
    pub backup: PathBuf,
}

/// A backup or restore done.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// `backup` or `restore`.
    pub action: &'static str,
    /// The store copied from.
    pub from: String,
    /// The directory written.
    pub to: String,
    /// Events in the copy (verified).
    pub events: u64,
    /// Customer streams in the copy.
    pub streams: u64,
    /// The copy's head hash.
    pub head_hash: String,
}

impl Render for CopyReport {
    fn render(&self, out: &mut String) {
        let verb = if self.action == "backup" {
            "backed up"
        } else {
            "restored"
        };
        out.push_str(&format!(
            "{verb} {} in {} from {} to {} (verified)\nhead hash: {}\n",
            count(self.events, "event"),
            count(self.streams, "customer stream"),
            self.from,
            self.to,
            self.head_hash
        ));
    }
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut e| e.next().is_none())
        .unwrap_or(false)
}

/// Runs `backup`.
pub fn run_backup(ctx: &Context, args: &BackupArgs) -> CliResult<CommandOutput> {
    let target = &args.dir;
    if target.exists() {
        if target.is_dir() && is_empty_dir(target) {
            std::fs::remove_dir(target).map_err(|e| {
                CliError::runtime(
                    format!("cannot use {}: {e}", target.display()),
                    "pass a new directory",
                )
            })?;
        } else {
            return Err(CliError::usage(
                format!("{} already exists and is not empty", target.display()),
                "back up into a new directory, e.g. one named after today's date",
            ));
        }
    }
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    store
        .backup(target)
        .map_err(|e| CliError::from_core(e, "backup"))?;
    drop(store);
    let copy = Store::open_read_only(target).map_err(|e| CliError::from_core(e, "backup"))?;
    let report = copy
        .verify()
        .map_err(|e| CliError::from_core(e, "verifying the backup"))?;
    Ok(CommandOutput::new(&CopyReport {
        action: "backup",
        from: ctx.db.display().to_string(),
        to: target.display().to_string(),
        events: report.events,
        streams: report.streams,
        head_hash: report.head_hash,
    }))
}

/// Runs `restore`.
pub fn run_restore(ctx: &Context, args: &RestoreArgs) -> CliResult<CommandOutput> {
    let backup = &args.backup;
    if !backup.join("CURRENT").is_file() {
        return Err(CliError::usage(
            format!("{} is not a clientele backup", backup.display()),
            "pass a directory written by `clientele backup`",
        ));
    }
    if ctx.db.exists() && !(ctx.db.is_dir() && is_empty_dir(&ctx.db)) {
        return Err(CliError::usage(
            format!(
                "{} is not empty: restore never overwrites a store",
                ctx.db.display()
            ),
            "pass --db with a new or empty directory (or move the current store away first)",
        ));
    }
    let store = Store::restore(backup, &ctx.db).map_err(|e| CliError::from_core(e, "restore"))?;
    let report = store
        .verify()
        .map_err(|e| CliError::from_core(e, "verifying the restored store"))?;
    Ok(CommandOutput::new(&CopyReport {
        action: "restore",
        from: backup.display().to_string(),
        to: ctx.db.display().to_string(),
        events: report.events,
        streams: report.streams,
        head_hash: report.head_hash,
    }))
}
