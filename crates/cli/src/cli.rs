//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;

const ABOUT: &str = "clientele: an event-sourced customer-lifecycle engine";

const LONG_ABOUT: &str = "clientele keeps every touch with a customer — contacts, purchases, \
payments, complaints, referrals, churn and win-backs — in an append-only, hash-chained event \
log (RocksDB), one stream per customer, and answers what was true about a customer at any \
moment.";

const EXAMPLES: &str = "\
Examples:
  clientele demo                                   # a synthetic customer base to explore
  clientele customer D-000042                      # profile, stage, loyalty, value, risk, timeline
  clientele explain D-000042 --as-of 2024-12-31    # stage history with the cause of each change
  clientele lookup --plate-suffix 784RP            # find customers by plate, policy, id, phone…
  clientele renewals --from 2025-07-01 --to 2025-07-31
  clientele complaints --as-of 2025-06-30 --overdue   # the complaint desk: past the 24 h rule
  clientele stats --as-of 2025-06-30               # stages, loyalty tiers, RFM, revenue
  clientele --db /tmp/cdnow import ../shared/data/cdnow_sample.txt --format cdnow
  clientele --db /tmp/cdnow model fit              # BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma
  clientele --db /tmp/cdnow backtest --as-of 1997-09-30 --horizon 39w
  clientele warn --as-of 2025-06-30                # raise churn warnings (once per episode)
  clientele report --out /tmp/report               # static HTML page with charts
  clientele verify                                 # check checksums, hash chain, indexes
  clientele backup /backups/clientele-2025-06-30
  clientele forget D-000042 --reason \"erasure request #118\"   # crypto-shred one customer

Exit codes: 0 ok, 1 runtime/storage error, 2 usage error, 3 invalid input, 4 integrity failure.
The store is --db DIR, or $CLIENTELE_DB, or the per-user data directory
(on Linux $XDG_DATA_HOME/clientele/db, usually ~/.local/share/clientele/db).
Personal data (names, phones, identifiers…) is sealed with a master key: --master-key-file,
or $CLIENTELE_MASTER_KEY (64 hex digits), or ~/.config/clientele/master.key (created on
first use). Keep a copy of that key: without it the personal fields cannot be read.";

/// The `clientele` command line.
#[derive(Debug, Parser)]
#[command(
    name = "clientele",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// The store directory (created when needed by commands that write).
    /// Default: the per-user data directory, e.g. ~/.local/share/clientele/db.
    #[arg(long, global = true, env = "CLIENTELE_DB", value_name = "DIR")]
    pub db: Option<PathBuf>,

    /// File holding the master key (64 hex digits) that protects personal
    /// data. Default: $CLIENTELE_MASTER_KEY, else a key file in the per-user
    /// config directory, created on first use (never inside the store).
    #[arg(long, global = true, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Print exactly one JSON document on stdout (no progress bars):
    /// {"ok": …, "command": …, "result": …, "error": …}.
    #[arg(long, global = true)]
    pub json: bool,

    /// Diagnostics on stderr: warnings by default (e.g. a stored state that
    /// no longer decodes); -v adds projection rebuilds, verifications and
    /// warning-job runs, -vv every catch-up, -vvv everything.
    /// $CLIENTELE_LOG (e.g. `clientele_core=debug`) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import events from a JSON Lines, CSV or CDNOW file.
    Import(commands::import::Args),
    /// Write the whole log, in global order, as JSON Lines (re-importable).
    Export(commands::export::Args),
    /// Check the whole log: checksums, hash chain, gaps and indexes.
    Verify(commands::verify::Args),
    /// Write a consistent copy of the store into a new directory.
    Backup(commands::backup::BackupArgs),
    /// Restore a backup into --db (which must be empty or absent).
    Restore(commands::backup::RestoreArgs),
    /// Show one customer: profile, purchase totals and timeline, as of any time.
    Customer(commands::customer::Args),
    /// Fill an empty store with a realistic synthetic customer base and tour it.
    Demo(commands::demo::Args),
    /// Erase every personal field of one customer (right to be forgotten).
    Forget(commands::forget::Args),
    /// Erase one class of personal data older than N years, for every customer.
    Retention(commands::retention::Args),
    /// Write a static HTML report with charts (cohorts, stages, loyalty, risk, complaints).
    Report(commands::report::Args),
    /// Fit the probabilistic value models (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma).
    Model {
        /// The model task.
        #[command(subcommand)]
        command: commands::model::ModelCommand,
    },
    /// Churn-risk score of every customer as of a time (CSV or JSON Lines).
    ChurnScores(commands::churn::ScoresArgs),
    /// Run the churn-warning job as of a time (once per episode, stored, delivered).
    Warn(commands::churn::WarnArgs),
    /// List stored churn warnings: who, when, why.
    Warnings(commands::churn::WarningsArgs),
    /// Backtest the churn score: freeze the world, score, compare with what happened.
    Backtest(commands::churn::BacktestArgs),
    /// A customer's lifecycle-stage history with the cause of every change (audit view).
    Explain(commands::lifecycle::ExplainArgs),
    /// Find customers by licence plate, policy number, national id, phone, e-mail or external id.
    Lookup(commands::lifecycle::LookupArgs),
    /// Policies whose cover ends in a period, with each customer's renewal intent.
    Renewals(commands::lifecycle::RenewalsArgs),
    /// The complaint desk: the queue under the 24 h reply rule, reply times by category and owner.
    Complaints(commands::complaints::Args),
    /// Population statistics as of a time: stages, loyalty tiers, RFM segments, revenue.
    Stats(commands::stats::Args),
    /// Rebuild the projections (or one of them) from the event log.
    Rebuild(commands::rebuild::Args),
}

impl Command {
    /// The subcommand's name (the `command` field of `--json` output).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Import(_) => "import",
            Command::Export(_) => "export",
            Command::Verify(_) => "verify",
            Command::Backup(_) => "backup",
            Command::Restore(_) => "restore",
            Command::Customer(_) => "customer",
            Command::Demo(_) => "demo",
            Command::Forget(_) => "forget",
            Command::Retention(_) => "retention",
            Command::Report(_) => "report",
            Command::Model { .. } => "model",
            Command::ChurnScores(_) => "churn-scores",
            Command::Warn(_) => "warn",
            Command::Warnings(_) => "warnings",
            Command::Backtest(_) => "backtest",
            Command::Explain(_) => "explain",
            Command::Lookup(_) => "lookup",
            Command::Renewals(_) => "renewals",
            Command::Complaints(_) => "complaints",
            Command::Stats(_) => "stats",
            Command::Rebuild(_) => "rebuild",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_global_flags_anywhere() {
        let cli = Cli::try_parse_from(["clientele", "verify", "--db", "/tmp/x", "--json"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.db, Some(PathBuf::from("/tmp/x")));
        assert_eq!(cli.command.name(), "verify");
    }
}
