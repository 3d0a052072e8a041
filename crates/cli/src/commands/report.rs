//! `clientele report --out DIR|FILE.html [--as-of T] [--known-at R] [--title TEXT]`: a
//! static HTML page (`DIR/index.html`, or the file named) with charts of the
//! customer base.

use std::path::PathBuf;

use clientele_core::projection::AsOf;
use clientele_core::{Store, StoreOptions};

use crate::analytics::Analytics;
use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::output::{CommandOutput, Render};
use crate::report::{self, ReportData};

const EXAMPLES: &str = "\
Examples:
  clientele report --out /tmp/report && xdg-open /tmp/report/index.html
  clientele report --out q2-2025.html               # a file named *.html is written as it is
  clientele --db /tmp/cdnow report --out cdnow-report --as-of 1998-06-30
  clientele report --out q2-as-printed.html --as-of 2025-06-30 --known-at 2025-07-01   # late events left out
  clientele report --out site --title \"Customer base, Q2 2025\" --json   # the data as JSON too

The page is one self-contained file: inline CSS and SVG charts, no scripts, nothing loaded from
the network, so it can be mailed or archived as it is. Each chart has a caption and a data table.
Sections that need data this version does not compute yet say \"not available yet\".
The report reads only public fields (amounts, dates, kinds): it never needs the master key.";

/// Arguments of `clientele report`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Where to write the page: a file named `*.html` (or `*.htm`), else a
    /// directory to write `index.html` into. Missing directories are created.
    #[arg(long, value_name = "DIR|FILE.html")]
    pub out: PathBuf,

    /// Business time of the report: events that occurred at or before T (default: now).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// Recorded time: draw the report from the events recorded by R only,
    /// as it would have been drawn then (default: everything recorded so far).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,

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
            d.complaints
                .as_ref()
                .is_some_and(|c| !c.by_category.is_empty()),
            d.complaints
                .as_ref()
                .is_some_and(|c| !c.by_month.is_empty()),
        ];
        let charts = sections.iter().filter(|s| **s).count();
        out.push_str(&format!(
            "wrote {} ({}, {} not available yet), as of {}{}\n",
            self.page.display(),
            crate::output::count(charts, "chart"),
            crate::output::count(sections.len() - charts, "section"),
            d.as_of,
            d.known_at
                .as_deref()
                .map(|k| format!(", as known at {k}"))
                .unwrap_or_default()
        ));
        for (name, n) in &d.counts {
            out.push_str(&format!("  {name}: {}\n", crate::output::thousands(*n)));
        }
    }
}

/// Runs the command.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    // A plain date means the end of that day, as in every command.
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let at = AsOf {
        occurred: as_of,
        known_at,
    };
    let page = page_path(&args.out);
    if page == args.out && args.out.is_dir() {
        return Err(CliError::usage(
            format!(
                "--out {} is a directory, not an HTML file",
                args.out.display()
            ),
            "pass another file name, or a directory name without .html",
        ));
    }
    if page != args.out && args.out.exists() && !args.out.is_dir() {
        return Err(CliError::usage(
            format!("--out {} is a file, not a directory", args.out.display()),
            "pass a directory (the page is written as DIR/index.html) or a file named *.html",
        ));
    }
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    // The report uses public fields only: no master key is needed. Writable
    // when possible, to bring the projections (stages, loyalty, RFM, risk)
    // up to date; read-only, with those sections marked unavailable, when
    // another process holds the store.
    let (store, writable) = match ctx.open(OpenMode::Write) {
        Ok(store) => (store, true),
        Err(_) => (
            Store::open_read_only_with(&ctx.db, StoreOptions::default())
                .map_err(|e| CliError::from_core(e, &format!("opening {}", ctx.db.display())))?,
            false,
        ),
    };
    let mut data =
        report::gather(&store, at).map_err(|e| CliError::from_core(e, "reading the log"))?;
    if writable {
        Analytics::open(&store)?.enrich(at, &mut data)?;
    } else {
        let why = "the store was in use by another process, so the projections behind the stage, loyalty, RFM, risk and lift charts could not be brought up to date: they are left out";
        ctx.output.notice(why);
        data.notes.push(format!("Not available: {why}."));
        // The complaint desk can be read from the log instead, as
        // `clientele complaints` does.
        let desk = crate::commands::complaints::desk_from_log(
            &store,
            clientele_complaint::ComplaintPolicy::default(),
            at,
        )?;
        data.complaints = Some(crate::analytics::complaint_desk(&desk));
    }
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
            "check that --out is writable and that the disk is not full",
        )
    };
    // Written beside the page, then renamed over it: a reader never sees a
    // half-written page.
    let dir = match page.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_error)?;
    let name = page
        .file_name()
        .map_or_else(|| "index.html".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::write(&tmp, html).map_err(write_error)?;
    std::fs::rename(&tmp, &page).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        write_error(e)
    })?;
    Ok(CommandOutput::new(&Written { data, page }))
}

/// The page `--out` names: `out` itself when it is named `*.html` or `*.htm`
/// (letter case ignored), else `out/index.html`.
fn page_path(out: &std::path::Path) -> PathBuf {
    let html = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if html {
        out.to_path_buf()
    } else {
        out.join("index.html")
    }
}
