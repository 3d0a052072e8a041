//! # clientele-cli
//!
//! The `clientele` command-line tool, as a library so that every part is
//! unit-testable and `main.rs` stays a few lines.
//!
//! * [`cli`] — the arguments ([`clap`] derive): global `--db` and `--json`, one
//!   variant per subcommand.
//! * [`commands`] — one module per subcommand; each has an `Args` struct and a
//!   `run(&Context, &Args) -> CliResult<CommandOutput>` function.
//! * [`import`] — the JSON Lines, CSV and CDNOW importers and the writer.
//! * [`generate`] — the seeded synthetic customer base behind `clientele demo`
//!   (public, for tests and benchmarks).
//! * [`output`] — human text or one JSON document, progress bars.
//! * [`report`] — the static HTML report (`clientele report`): data, gathering, SVG charts.
//! * [`error`] — [`CliError`]: one line of cause, one line of hint, an exit code.
//!
//! ## Adding a subcommand (lifecycle stages, loyalty, value, churn…)
//!
//! 1. Write `src/commands/<name>.rs` with `pub struct Args` (`#[derive(clap::Args)]`,
//!    doc comments become the help, examples go in `after_help`) and
//!    `pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput>`;
//!    build the output from a report struct that is `Serialize` and
//!    [`output::Render`].
//! 2. Add `pub mod <name>;` to `commands/mod.rs`, a variant to
//!    [`cli::Command`], and its arm in [`cli::Command::name`] and [`run`].
//! 3. For a section of `clientele customer` (stage, loyalty, value, risk),
//!    implement [`commands::customer::CustomerSection`] instead and register it
//!    in [`commands::customer::sections`].
//!
//! Exit codes: see [`error::ExitCode`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod analytics;
pub mod cli;
pub mod commands;
pub mod error;
pub mod generate;
pub mod identity;
pub mod import;
pub mod output;
pub mod report;

use clap::Parser;

pub use cli::{Cli, Command};
pub use error::{CliError, CliResult, ExitCode};
use output::{CommandOutput, Output};

/// Runs a parsed command line.
pub fn run(cli: &Cli, output: Output) -> CliResult<CommandOutput> {
    let ctx = commands::Context::new(cli.db.clone(), output)?
        .with_master_key_file(cli.master_key_file.clone());
    match &cli.command {
        Command::Import(args) => commands::import::run(&ctx, args),
        Command::Export(args) => commands::export::run(&ctx, args),
        Command::Verify(args) => commands::verify::run(&ctx, args),
        Command::Backup(args) => commands::backup::run_backup(&ctx, args),
        Command::Restore(args) => commands::backup::run_restore(&ctx, args),
        Command::Customer(args) => commands::customer::run(&ctx, args),
        Command::Demo(args) => commands::demo::run(&ctx, args),
        Command::Forget(args) => commands::forget::run(&ctx, args),
        Command::Retention(args) => commands::retention::run(&ctx, args),
        Command::Report(args) => commands::report::run(&ctx, args),
        Command::Model { command } => commands::model::run(&ctx, command),
        Command::ChurnScores(args) => commands::churn::scores(&ctx, args),
        Command::Warn(args) => commands::churn::warn(&ctx, args),
        Command::Warnings(args) => commands::churn::warnings(&ctx, args),
        Command::Backtest(args) => commands::churn::run_backtest(&ctx, args),
        Command::Explain(args) => commands::lifecycle::explain(&ctx, args),
        Command::Lookup(args) => commands::lifecycle::lookup(&ctx, args),
        Command::Renewals(args) => commands::lifecycle::renewals(&ctx, args),
        Command::Complaints(args) => commands::complaints::run(&ctx, args),
        Command::Stats(args) => commands::stats::run(&ctx, args),
        Command::Rebuild(args) => commands::rebuild::run(&ctx, args),
    }
}

/// The whole program: parses `args`, runs, prints, and returns the exit code.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let json_requested = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, json_requested),
    };
    diagnostics(cli.verbose);
    let output = Output::detect(cli.json);
    let outcome = run(&cli, output);
    match output.emit(cli.command.name(), outcome) {
        Some(e) => e.kind.code(),
        None => ExitCode::Ok.code(),
    }
}

/// Sends the library's diagnostics (`tracing` events) to stderr, at the
/// level `-v` asks for, or as `$CLIENTELE_LOG` filters them. A process that
/// has a subscriber already (a test calling [`main_with_args`] twice) keeps
/// it.
fn diagnostics(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = match std::env::var("CLIENTELE_LOG") {
        Ok(spec) => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: CLIENTELE_LOG={spec:?} is not a filter ({e}); using {level}");
            EnvFilter::new(level)
        }),
        Err(_) => EnvFilter::new(level),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(output::Diagnostics)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Help and version go to stdout (exit 0); argument errors become the two-line
/// error format (exit 2).
fn usage_error(e: clap::Error, json: bool) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::Usage.code()
        } else {
            ExitCode::Ok.code()
        };
    }
    let rendered = e.render().to_string();
    let mut message_parts = Vec::new();
    let mut tip = None;
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if let Some(t) = line.strip_prefix("tip: ") {
            tip.get_or_insert_with(|| t.to_owned());
        } else if !line.is_empty() {
            message_parts.push(line.trim_start_matches("error: "));
        }
    }
    let message = if message_parts.is_empty() {
        "invalid arguments".to_owned()
    } else {
        message_parts.join(" ")
    };
    let tip = tip
        .map(|t| format!("{t}; see `clientele --help`"))
        .unwrap_or_else(|| {
            "see `clientele --help`, or `clientele <command> --help` for a command".into()
        });
    let error = CliError::usage(message, tip);
    Output::quiet(json).emit("clientele", Err(error.clone()));
    error.kind.code()
}
