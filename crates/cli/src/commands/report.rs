//! `clientele report --out DIR [--as-of T] [--title TEXT]`: a static HTML
//! page (`DIR/index.html`) with charts of the customer base.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clientele_core::{Store, StoreOptions};

use crate::commands::Context;
use crate::error::{CliError, CliResult};
use crate::import::record::parse_time;
use crate::output::{CommandOutput, Render};
use crate::report::{self, ReportData};

const EXAMPLES: &str = "\
Examples:
  clientele report --out /tmp/report && xdg-open /tmp/report/index.html
  clientele --db /tmp/cdnow report --out cdnow-report --as-of 1998-06-30
  clientele report --out site --title \"Customer base, Q2 2025\" --json   # the data as JSON too

The page is one self-contained file: inline CSS and SVG charts, no scripts, nothing loaded from
the network, so it can be mailed or archived as it is. Each chart has a caption and a data table.
Sections that need data this version does not compute yet say \"not available yet\".
The report reads only public fields (amounts, dates, kinds): it never needs the master key.";

/// Arguments of `clientele report`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Directory to write `index.html` into (created when needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Business time of the report: events that occurred at or before T (default: now).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// The page title.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

/// The command's result: the data (the `--json` result) and where the page is.
struct Written {
    data: ReportData,
    page: PathBuf,
}

impl serde::Serialize for Written {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.data.serialize(s)
    }
}

impl Render for Written {
    fn render(&self, out: &mut String) {
        let d = &self.data;
        let sections = [
            !d.stage_funnel.is_empty(),
            !d.stage_flow.is_empty(),
            !d.cohort_retention.is_empty(),
            !d.loyalty_tiers.is_empty(),
            !d.rfm_segments.is_empty(),
            !d.risk_scores.is_empty(),
            !d.backtest_lift.is_empty(),
        ];
        let charts = sections.iter().filter(|s| **s).count();
        out.push_str(&format!(
            "wrote {} ({} charts, {} sections not available yet), as of {}\n",
            self.page.display(),
            charts,
            sections.len() - charts,
            d.as_of
        ));
        for (name, n) in &d.counts {
            out.push_str(&format!("  {name}: {}\n", crate::output::thousands(*n)));
        }
    }
}

/// Runs the command.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let as_of: DateTime<Utc> = match &args.as_of {
        Some(t) => parse_time(t).map_err(|reason| {
            CliError::usage(
                format!("--as-of: {reason}"),
                "e.g. 2025-06-30 or 2025-06-30T23:59:59Z",
            )
        })?,
        None => DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default(),
    };
    if args.out.exists() && !args.out.is_dir() {
        return Err(CliError::usage(
            format!("--out {} is a file, not a directory", args.out.display()),
            "pass a directory: the page is written as DIR/index.html",
        ));
    }
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    // Read only and without master keys: the report uses public fields only.
    let store = Store::open_read_only_with(&ctx.db, StoreOptions::default())
        .map_err(|e| CliError::from_core(e, &format!("opening {}", ctx.db.display())))?;
    let mut data =
        report::gather(&store, as_of).map_err(|e| CliError::from_core(e, "reading the log"))?;
    if let Some(title) = args
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        data.title = title.to_owned();
    }
    let html = report::render(&data);
    let write_error = |e: std::io::Error| {
        CliError::runtime(
            format!("cannot write the report into {}: {e}", args.out.display()),
            "check that --out is a writable directory and that the disk is not full",
        )
    };
    std::fs::create_dir_all(&args.out).map_err(write_error)?;
    let page = args.out.join("index.html");
    let tmp = args.out.join(".index.html.partial");
    std::fs::write(&tmp, html).map_err(write_error)?;
    std::fs::rename(&tmp, &page).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(e)
    })?;
    Ok(CommandOutput::new(&Written { data, page }))
}
