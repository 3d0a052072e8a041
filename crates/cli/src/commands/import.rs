//! `clientele import FILE [--format jsonl|csv|cdnow] [--strict] [--source NAME] [--map C=F]…`

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::import::{
    self, cdnow::CdnowSource, csv::CsvSource, jsonl::JsonlSource, record::RecordContext,
    EventSource, Format, ImportOptions, ImportSummary,
};
use crate::output::CommandOutput;

const EXAMPLES: &str = "\
Examples:
  clientele import events.jsonl --source crm
  clientele import orders.csv --map client=customer --map date=occurred_at
  clientele --db /tmp/cdnow import ../shared/data/cdnow_sample.txt --format cdnow
  clientele import events.jsonl --strict     # all or nothing

--format may be left out for a file named *.jsonl, *.ndjson or *.json (JSON Lines) or *.csv.

JSON Lines: one event per line with `customer` (a UUID, or an external id of --source),
`occurred_at` (RFC 3339), `kind` and the kind's fields (docs/events.md), optional `event_id`
and `metadata`. Amounts are exact decimals: \"165.00\" or 165.00, never 1.65e2.
CSV: a header row naming the same fields; lists separated by `;`; --map renames a column
(--map notes=- ignores one). CDNOW: master id, sample id, yyyymmdd, CDs, dollars.

Re-importing a file is safe: events without `event_id` get one derived from their content,
and events already stored are counted as \"already present\", not written twice.
Bad lines are reported as `line N: field `x`: reason` and skipped (exit code 3 at the end);
with --strict one bad line rejects the whole file and nothing is written.";

/// Arguments of `clientele import`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The file to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The file's format. Default: from the file's extension (`.jsonl`,
    /// `.ndjson`, `.json`: jsonl; `.csv`: csv); a CDNOW log needs `--format cdnow`.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// One bad line rejects the whole file: nothing is written.
    #[arg(long)]
    pub strict: bool,

    /// The system the file's external customer ids belong to; the same
    /// (source, id) always maps to the same customer. Default: `cdnow` for
    /// --format cdnow, `import` otherwise.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// CSV only: take field FIELD from column COLUMN (repeatable); FIELD `-` ignores the column.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub maps: Vec<String>,
}

/// Runs the import.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let format = match args.format.or_else(|| Format::from_path(&args.file)) {
        Some(format) => format,
        None => {
            return Err(CliError::usage(
                format!(
                    "cannot tell the format of {} from its name",
                    args.file.display()
                ),
                "pass --format jsonl, --format csv or --format cdnow",
            ))
        }
    };
    if !args.maps.is_empty() && format != Format::Csv {
        return Err(CliError::usage(
            "--map applies to --format csv only",
            "drop --map, or import a CSV file",
        ));
    }
    let source = args
        .source
        .clone()
        .unwrap_or_else(|| format.default_source().to_owned());
    if source.trim().is_empty() || source.contains('\0') {
        return Err(CliError::usage(
            "--source must be a non-empty name",
            "e.g. --source crm",
        ));
    }
    let maps = import::csv::parse_maps(&args.maps)?;
    let path = args.file.display().to_string();
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    // Opened once, or twice by a big strict import (check, then write):
    // the bar then says so and starts again.
    let bar_slot: std::cell::OnceCell<indicatif::ProgressBar> = std::cell::OnceCell::new();
    let open = || -> Result<Box<dyn EventSource>, import::ImportError> {
        if let Some(bar) = bar_slot.get() {
            bar.set_message("writing");
            bar.set_position(0);
        }
        let file = File::open(&args.file).map_err(|e| import::ImportError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let reader = BufReader::with_capacity(1 << 20, file);
        let record_ctx = RecordContext::new(source.clone());
        Ok(match format {
            Format::Jsonl => Box::new(JsonlSource::new(reader, record_ctx)),
            Format::Csv => Box::new(CsvSource::new(reader, &maps, record_ctx)?),
            Format::Cdnow => Box::new(CdnowSource::new(reader, &record_ctx)),
        })
    };
    // A file that cannot be read fails before the store is opened (or created).
    let first = open()?;
    let store = ctx.open(OpenMode::Bulk)?;
    let options = ImportOptions {
        source: source.clone(),
        strict: args.strict,
        chunk: import::CHUNK,
        atomic_limit: import::STRICT_ATOMIC_LIMIT,
    };
    let summary = ImportSummary {
        file: path.clone(),
        format: format!("{format:?}").to_lowercase(),
        ..ImportSummary::default()
    };
    let bar = bar_slot.get_or_init(|| {
        ctx.output
            .byte_progress(size, if args.strict { "checking" } else { "importing" })
    });
    let summary = import::run_import_file(&store, first, &open, &options, summary, &|bytes| {
        bar.set_position(bytes)
    })?;
    bar.finish_and_clear();
    if !ctx.output.json {
        for e in summary.errors.iter().take(20) {
            eprintln!("{e}");
        }
        if summary.skipped > 20 {
            eprintln!("… and {} more bad lines", summary.skipped - 20);
        }
    }
    let output = CommandOutput::new(&summary);
    Ok(match outcome_error(&summary) {
        Some(e) => output.with_error(e),
        None => output,
    })
}

/// The exit status of a finished import: 3 when lines were bad.
pub fn outcome_error(summary: &ImportSummary) -> Option<CliError> {
    if summary.skipped == 0 {
        return None;
    }
    let first = summary
        .errors
        .first()
        .map(|e| format!(" (first: {e})"))
        .unwrap_or_default();
    Some(if summary.strict {
        CliError::input(
            format!(
                "{} bad line(s): nothing was written (--strict){first}",
                summary.skipped
            ),
            "fix the lines and import the file again",
        )
    } else {
        CliError::input(
            format!(
                "{} bad line(s) skipped; the other events were imported{first}",
                summary.skipped
            ),
            "fix those lines and import the file again: events already imported are not duplicated",
        )
    })
}
