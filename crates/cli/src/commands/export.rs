//! `clientele export --format jsonl [--out FILE]`: the whole log in global
//! order, one event per line, with the import's field names — so the output
//! imports again (`clientele import FILE --format jsonl`) into the same events.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clientele_core::privacy::PersonalData;
use clientele_core::{Metadata, RecordedEvent};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::output::{count, timestamp, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele export --out events.jsonl
  clientele export | head -3
  clientele --db /tmp/cdnow export --out cdnow.jsonl && clientele --db /tmp/copy import cdnow.jsonl --format jsonl

Each line holds the envelope (position, version, event_id, customer, occurred_at, recorded_at,
schema_version, metadata), then `kind` and the kind's fields; amounts are decimal strings.
Importing an export writes the same events (same ids, customers, times and data); the log
assigns new positions and recorded_at times, which the import ignores.
Events of a forgotten customer (or past retention) are exported with their public fields and
\"personal_data\": \"erased\". Without the master key the personal fields are locked: the
export refuses, unless --allow-locked writes them with \"personal_data\": \"locked\".";

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines.
    Jsonl,
}

/// Arguments of `clientele export`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,

    /// Write to FILE (replaced atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Export events whose personal fields cannot be read (no master key)
    /// with their public fields only, marked "personal_data": "locked".
    #[arg(long)]
    pub allow_locked: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Events written.
    pub events: u64,
    /// Where (`-` for stdout).
    pub out: String,
}

impl Render for ExportReport {
    fn render(&self, out: &mut String) {
        if self.out != "-" {
            out.push_str(&format!(
                "exported {} to {}\n",
                count(self.events, "event"),
                self.out
            ));
        }
    }
}

/// One line of the export.
#[derive(Serialize)]
struct Line<'a> {
    position: u64,
    version: u64,
    event_id: String,
    customer: String,
    occurred_at: String,
    recorded_at: String,
    schema_version: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    /// `erased` or `locked` when the personal fields are missing for good or for now.
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_data: Option<&'static str>,
    kind: &'a str,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// The export line of one event (no trailing newline).
pub fn export_line(event: &RecordedEvent) -> Result<String, serde_json::Error> {
    let mut fields = match serde_json::to_value(&event.payload)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    fields.remove("kind");
    fields.retain(|_, v| !v.is_null());
    let metadata = if event.metadata == Metadata::default() {
        None
    } else {
        let mut m = match serde_json::to_value(&event.metadata)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.retain(|_, v| !v.is_null());
        Some(Value::Object(m))
    };
    let kind = event.kind().name();
    let personal_data = match event.personal_data {
        PersonalData::Erased => Some("erased"),
        PersonalData::Locked => Some("locked"),
        PersonalData::None | PersonalData::Available => None,
    };
    serde_json::to_string(&Line {
        position: event.position,
        version: event.version,
        event_id: event.event_id.to_string(),
        customer: event.customer_id.to_string(),
        occurred_at: timestamp(event.occurred_at),
        recorded_at: timestamp(event.recorded_at),
        schema_version: event.schema_version,
        metadata,
        personal_data,
        kind,
        fields,
    })
}

/// Runs the export.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    if ctx.output.json && args.out.is_none() {
        return Err(CliError::usage(
            "--json needs --out FILE for export (stdout carries the events)",
            "add --out events.jsonl, or drop --json",
        ));
    }
    let store = ctx.open(OpenMode::ReadOnly)?;
    let head = store.head();
    let bar = ctx.output.progress(head, "exporting");
    let write_error = |e: std::io::Error| {
        CliError::runtime(
            format!("cannot write the export: {e}"),
            "check the output path and free disk space",
        )
    };
    let (mut writer, tmp): (Box<dyn Write>, Option<PathBuf>) = match &args.out {
        Some(path) => {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".partial");
            let tmp = PathBuf::from(tmp);
            let file = std::fs::File::create(&tmp).map_err(write_error)?;
            (Box::new(BufWriter::with_capacity(1 << 20, file)), Some(tmp))
        }
        None => (
            Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
            None,
        ),
    };
    let mut events = 0u64;
    let result = (|| -> CliResult<()> {
        for event in store
            .read_range(1, Some(head))
            .map_err(|e| CliError::from_core(e, "export"))?
        {
            let event = event.map_err(|e| CliError::from_core(e, "export"))?;
            if event.personal_data == PersonalData::Locked && !args.allow_locked {
                return Err(CliError::runtime(
                    format!(
                        "the event at position {} holds personal data that cannot be read without the master key",
                        event.position
                    ),
                    "set CLIENTELE_MASTER_KEY or pass --master-key-file with the store's key, or add --allow-locked to export the public fields only",
                ));
            }
            let line = export_line(&event).map_err(|e| {
                CliError::runtime(
                    format!("cannot encode event at position {}: {e}", event.position),
                    "report this as a bug",
                )
            })?;
            match writeln!(writer, "{line}") {
                Ok(()) => {}
                // `clientele export | head`: the reader left; stop quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && tmp.is_none() => {
                    return Ok(())
                }
                Err(e) => return Err(write_error(e)),
            }
            events += 1;
            if events % 4096 == 0 {
                bar.set_position(events);
            }
        }
        match writer.flush() {
            Err(e) if !(e.kind() == std::io::ErrorKind::BrokenPipe && tmp.is_none()) => {
                Err(write_error(e))
            }
            _ => Ok(()),
        }
    })();
    drop(writer);
    bar.finish_and_clear();
    if let Err(e) = result {
        if let Some(tmp) = &tmp {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    if let (Some(tmp), Some(out)) = (&tmp, &args.out) {
        std::fs::rename(tmp, out).map_err(write_error)?;
    }
    let report = ExportReport {
        events,
        out: args
            .out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into()),
    };
    Ok(CommandOutput::new(&report))
}
