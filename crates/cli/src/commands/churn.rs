//! Churn commands: `churn-scores`, `warn`, `warnings` and `backtest`
//! (crates/churn).

use std::io::Write;

use chrono::{DateTime, Utc};
use clientele_churn::{
    backtest, BacktestReport, JsonlSink, ModelContext, RiskPolicy, RunReport, Severity, Warning,
    WarningJob, WarningKind, WarningPolicy, WarningSink,
};
use clientele_core::projection::{AsOf, Projector};
use clientele_core::Store;
use serde::Serialize;

use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::identity::{external_id, external_ids, Identifiers};
use crate::import::record::parse_time;
use crate::output::{count, thousands, timestamp, CommandOutput, Render};

/// Parses a horizon: `39w`, `273d`, `6m` (30-day months) or plain days.
pub fn parse_horizon(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'd'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a horizon like 39w, 273d or 6m"))?;
    let days = match unit {
        'd' => n,
        'w' => n * 7,
        'm' => n * 30,
        'y' => n * 365,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use d, w, m or y"
            ))
        }
    };
    if days <= 0 {
        return Err("the horizon must be positive".into());
    }
    Ok(days)
}

fn time(flag: &str, text: Option<&str>) -> CliResult<DateTime<Utc>> {
    match text {
        Some(t) => parse_time(t).map_err(|reason| {
            CliError::usage(
                format!("--{flag}: {reason}"),
                "e.g. 1997-09-30 or 1997-09-30T23:59:59Z",
            )
        }),
        None => Ok(DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()),
    }
}

fn open_job(ctx: &Context, horizon_days: i64) -> CliResult<(Store, WarningJob)> {
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let model = ModelContext {
        bg_nbd: None,
        horizon_days: horizon_days as f64,
    };
    let job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        model,
    )
    .map_err(|e| {
        CliError::runtime(
            format!("opening the churn job: {e}"),
            "run `clientele verify`",
        )
    })?;
    Ok((store, job))
}

fn churn_error(doing: &str) -> impl Fn(clientele_churn::Error) -> CliError + '_ {
    move |e| {
        CliError::runtime(
            format!("{doing}: {e}"),
            "run `clientele verify`; if it passes, retry",
        )
    }
}

// ---------------------------------------------------------------- churn-scores

const SCORES_EXAMPLES: &str = "\
Examples:
  clientele churn-scores --as-of 1997-09-30 --format csv > scores.csv
  clientele churn-scores --as-of 2025-06-30 --horizon 13w --format jsonl
  clientele churn-scores --as-of 2025-06-30 --known-at 2025-07-01 --format csv

One row per customer with events by the as-of time, riskiest first (equal risks in
customer-id order). CSV columns: customer_id,external_id,risk_score, then
days_since_last_purchase (whole days, or one decimal when fractional), transactions,
p_alive, expected_purchases, top_reason. Risk is in [0, 1], higher = more likely to
leave within the horizon (default 13 weeks). The population model (BG/NBD) is fitted
on everyone as of the same time, for this run only (the model `warn` uses is not changed).
--known-at R scores the customers the log knew at R from the events recorded by then.";

/// Arguments of `clientele churn-scores`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = SCORES_EXAMPLES)]
pub struct ScoresArgs {
    /// Score as of this time (RFC 3339 or a date = end of that day; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Only events recorded by R: the scores the log's data at R gave
    /// (customers first recorded later are left out).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,
    /// What "churn" is measured over: 39w, 273d, 6m.
    #[arg(long, default_value = "13w")]
    pub horizon: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ScoreFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Output formats of `churn-scores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScoreFormat {
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// One customer's score.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    /// Customer UUID.
    pub customer_id: String,
    /// External id (empty when none or erased).
    pub external_id: String,
    /// Risk in [0, 1].
    pub risk_score: f64,
    /// Days since the last purchase.
    pub days_since_last_purchase: Option<f64>,
    /// Purchase days so far.
    pub transactions: u32,
    /// BG/NBD P(alive).
    pub p_alive: Option<f64>,
    /// BG/NBD expected purchases in the horizon.
    pub expected_purchases: Option<f64>,
    /// The strongest reason raising risk.
    pub top_reason: String,
}

/// Summary of `churn-scores` (the rows go to stdout or `--out`).
#[derive(Debug, Clone, Serialize)]
pub struct ScoresOutput {
    /// As-of.
    pub as_of: String,
    /// The recorded time the scores are as known at (absent: everything
    /// recorded so far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// Horizon in days.
    pub horizon_days: i64,
    /// Customers scored.
    pub customers: usize,
    /// Where the rows went.
    pub out: Option<String>,
    /// The rows (JSON output only, when no --out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<ScoreRow>,
}

impl Render for ScoresOutput {
    fn render(&self, out: &mut String) {
        if let Some(path) = &self.out {
            out.push_str(&format!(
                "scored {} customers as of {}{} → {path}\n",
                thousands(self.customers as u64),
                self.as_of,
                self.known_at
                    .as_ref()
                    .map(|k| format!(", as known at {k}"))
                    .unwrap_or_default()
            ));
        }
    }
}

/// Days for the CSV: whole days as integers (`249`), others with one decimal (`12.5`).
pub fn days(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// The error of a walk over stored states: the store's, or the command's own.
enum WalkError {
    Store(clientele_core::Error),
    Cli(CliError),
}

impl From<clientele_core::Error> for WalkError {
    fn from(e: clientele_core::Error) -> Self {
        WalkError::Store(e)
    }
}

/// Scores every customer as of a time.
pub fn scores(ctx: &Context, args: &ScoresArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let at = AsOf {
        occurred: as_of,
        known_at,
    };
    let horizon = parse_horizon(&args.horizon)
        .map_err(|e| CliError::usage(format!("--horizon: {e}"), "e.g. --horizon 39w"))?;
    let (store, mut job) = open_job(ctx, horizon)?;
    // Fitted for this moment only: the model `warn` runs with is left alone.
    job.fit(at)
        .map_err(churn_error("fitting the population model"))?;
    let index = external_ids(&store)?;
    // One state at a time: only the rows are held (they must be sorted).
    let mut rows = Vec::new();
    job.projector()
        .for_each_state_in(at, |customer, state| {
            if state.first_seen.is_none() {
                return Ok::<_, WalkError>(());
            }
            let score = job.risk.score(&state, as_of, &job.model);
            rows.push(ScoreRow {
                customer_id: customer.to_string(),
                external_id: external_id(&index, customer).map_err(WalkError::Cli)?,
                risk_score: score.risk,
                days_since_last_purchase: score.signals.days_since_last_purchase,
                transactions: score.signals.transactions,
                p_alive: score.signals.p_alive,
                expected_purchases: score.signals.expected_purchases,
                top_reason: score
                    .reasons
                    .first()
                    .map(|r| r.signal.clone())
                    .unwrap_or_default(),
            });
            Ok(())
        })
        .map_err(|e| match e {
            WalkError::Store(e) => CliError::from_core(e, "churn state"),
            WalkError::Cli(e) => e,
        })?;
    // A call list: riskiest first; risks equal as printed (6 decimals) in
    // customer-id order, so the file reads sorted and never depends on how
    // the store lists customers.
    let printed = |risk: f64| (risk * 1e6).round() as i64;
    rows.sort_by(|a, b| {
        printed(b.risk_score)
            .cmp(&printed(a.risk_score))
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let mut text = Vec::new();
    match args.format {
        ScoreFormat::Csv => {
            text.extend_from_slice(b"customer_id,external_id,risk_score,days_since_last_purchase,transactions,p_alive,expected_purchases,top_reason\n");
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
            for r in &rows {
                let ext = if r.external_id.contains([',', '"', '\n']) {
                    format!("\"{}\"", r.external_id.replace('"', "\"\""))
                } else {
                    r.external_id.clone()
                };
                text.extend_from_slice(
                    format!(
                        "{},{},{:.6},{},{},{},{},{}\n",
                        r.customer_id,
                        ext,
                        r.risk_score,
                        r.days_since_last_purchase.map(days).unwrap_or_default(),
                        r.transactions,
                        opt(r.p_alive),
                        opt(r.expected_purchases),
                        r.top_reason
                    )
                    .as_bytes(),
                );
            }
        }
        ScoreFormat::Jsonl => {
            for r in &rows {
                text.extend_from_slice(&serde_json::to_vec(r).unwrap_or_default());
                text.push(b'\n');
            }
        }
    }
    let customers = rows.len();
    let as_of_text = timestamp(as_of);
    let known_at_text = known_at.map(timestamp);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                CliError::runtime(
                    format!("cannot write {}: {e}", path.display()),
                    "check the directory exists and is writable",
                )
            })?;
            Ok(CommandOutput::new(&ScoresOutput {
                as_of: as_of_text,
                known_at: known_at_text.clone(),
                horizon_days: horizon,
                customers,
                out: Some(path.display().to_string()),
                rows: Vec::new(),
            }))
        }
        None if ctx.output.json => Ok(CommandOutput::new(&ScoresOutput {
            as_of: as_of_text,
            known_at: known_at_text,
            horizon_days: horizon,
            customers,
            out: None,
            rows,
        })),
        None => {
            let mut output = CommandOutput::new(&ScoresOutput {
                as_of: as_of_text,
                known_at: known_at_text.clone(),
                horizon_days: horizon,
                customers,
                out: None,
                rows: Vec::new(),
            });
            output.text = String::from_utf8_lossy(&text).into_owned();
            Ok(output)
        }
    }
}

// ---------------------------------------------------------------- warn

const WARN_EXAMPLES: &str = "\
Examples:
  clientele warn --as-of 2025-06-30
  clientele warn --as-of 2025-06-30 --sink warnings.jsonl --refit

Runs the churn-warning job as of a time: evaluates only customers with new events
or whose risk can have changed since the last run (an inactivity threshold crossed,
a complaint past its 24 h reply SLA, a renewal coming due), raises each warning once
per episode, stores it, and delivers it (stdout, or appended to --sink as JSON Lines).
Re-running for the same time raises nothing new. --refit refits the population model.";

/// Arguments of `clientele warn`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = WARN_EXAMPLES)]
pub struct WarnArgs {
    /// Run as of this time (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Append delivered warnings to this JSON Lines file.
    #[arg(long)]
    pub sink: Option<std::path::PathBuf>,
    /// Refit the population model (BG/NBD) before the run.
    #[arg(long)]
    pub refit: bool,
}

/// What `warn` did.
#[derive(Debug, Clone, Serialize)]
pub struct WarnOutput {
    /// The job's report.
    pub run: RunReport,
    /// Warnings delivered to stdout (when no --sink).
    pub warnings: Vec<ListedWarning>,
}

impl Render for WarnOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "visited {} ({} with new events, {} due): {} raised, {} delivered\n",
            count(self.run.visited, "customer"),
            thousands(self.run.with_new_events),
            thousands(self.run.due),
            count(self.run.raised, "warning"),
            thousands(self.run.delivered)
        ));
        for listed in &self.warnings {
            let w = &listed.warning;
            out.push_str(&format!(
                "  {:<6} {:<18} {} risk {:.2}: {}\n",
                w.severity,
                w.kind,
                listed.who(),
                w.risk,
                w.reasons.first().map(|r| r.detail.as_str()).unwrap_or("")
            ));
        }
    }
}

/// `--sink`: each warning as a JSON line, as `warnings --json` lists it
/// (with the customer's external id), made durable per delivery batch.
struct NamedSink {
    file: JsonlSink,
    index: Projector<Identifiers>,
}

impl WarningSink for NamedSink {
    fn deliver(&mut self, warning: &Warning) -> Result<(), String> {
        let listed = ListedWarning::new(&self.index, warning.clone()).map_err(|e| e.to_string())?;
        self.file.write_line(&listed)
    }

    fn flush(&mut self) -> Result<(), String> {
        self.file.flush()
    }
}

/// Runs the warning job.
pub fn warn(ctx: &Context, args: &WarnArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let (store, mut job) = open_job(ctx, 91)?;
    if args.refit || job.model.bg_nbd.is_none() {
        job.refit(as_of)
            .map_err(churn_error("fitting the population model"))?;
    }
    let mut collected = Vec::new();
    let run = match &args.sink {
        Some(path) => {
            let file = JsonlSink::open(path).map_err(|e| {
                CliError::runtime(
                    format!("cannot open {}: {e}", path.display()),
                    "check the directory exists",
                )
            })?;
            let mut sink = NamedSink {
                file,
                index: external_ids(&store)?,
            };
            job.run(as_of, &mut sink)
                .map_err(churn_error("the warning job"))?
        }
        None => {
            let mut sink = clientele_churn::CallbackSink(|w: &Warning| {
                collected.push(w.clone());
                Ok(())
            });
            job.run(as_of, &mut sink)
                .map_err(churn_error("the warning job"))?
        }
    };
    let _ = std::io::stdout().flush();
    let warnings = listed(&store, collected)?;
    Ok(CommandOutput::new(&WarnOutput { run, warnings }))
}

// ---------------------------------------------------------------- warnings

const WARNINGS_EXAMPLES: &str = "\
Examples:
  clientele warnings
  clientele warnings --from 2025-06-01 --to 2025-07-01 --json
  clientele warnings --severity high --sort risk --limit 20
  clientele warnings --kind complaint-sla --kind renewal-at-risk
  clientele warnings --customer plate:京A12345

Lists stored warnings: when, how severe, what about, who (UUID and external id), the risk
and the two strongest reasons. Oldest first; --sort risk puts the riskiest first (equal
risks oldest first). --severity keeps that severity and higher; --kind may be repeated.";

/// Arguments of `clientele warnings`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = WARNINGS_EXAMPLES)]
pub struct WarningsArgs {
    /// Raised at or after this time.
    #[arg(long)]
    pub from: Option<String>,
    /// Raised before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Only this customer (UUID, external id or identifier).
    #[arg(long)]
    pub customer: Option<String>,
    /// Only warnings of this kind (may be repeated).
    #[arg(long, value_enum)]
    pub kind: Vec<KindArg>,
    /// Only warnings of this severity or higher.
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
    /// The order of the list.
    #[arg(long, value_enum, default_value = "time")]
    pub sort: WarningOrder,
    /// At most this many warnings (after filtering and sorting).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `--kind` values: the warning kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// High overall churn risk.
    HighRisk,
    /// A renewal due, the customer not renewing or undecided.
    RenewalAtRisk,
    /// A complaint unanswered past the reply SLA.
    ComplaintSla,
    /// An explicit churn, no win-back since.
    Churned,
    /// Silent beyond the lifecycle's exit horizon.
    WinBack,
}

impl From<KindArg> for WarningKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::HighRisk => WarningKind::HighRisk,
            KindArg::RenewalAtRisk => WarningKind::RenewalAtRisk,
            KindArg::ComplaintSla => WarningKind::ComplaintSla,
            KindArg::Churned => WarningKind::Churned,
            KindArg::WinBack => WarningKind::WinBack,
        }
    }
}

/// `--severity` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeverityArg {
    /// Low, medium and high.
    Low,
    /// Medium and high.
    Medium,
    /// High only.
    High,
}

impl From<SeverityArg> for Severity {
    fn from(severity: SeverityArg) -> Self {
        match severity {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
        }
    }
}

/// `--sort` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WarningOrder {
    /// Oldest first.
    Time,
    /// Riskiest first.
    Risk,
}

/// A stored warning and whom it is about, for people.
#[derive(Debug, Clone, Serialize)]
pub struct ListedWarning {
    /// The warning as stored.
    #[serde(flatten)]
    pub warning: Warning,
    /// The customer's external id (empty when none or erased).
    pub external_id: String,
}

impl ListedWarning {
    /// `warning` with its customer's external id from `index`.
    fn new(index: &Projector<Identifiers>, warning: Warning) -> CliResult<Self> {
        Ok(Self {
            external_id: external_id(index, warning.customer_id)?,
            warning,
        })
    }

    /// The customer for people: the UUID, and the external id in brackets.
    pub(crate) fn who(&self) -> String {
        if self.external_id.is_empty() {
            self.warning.customer_id.to_string()
        } else {
            format!("{} ({})", self.warning.customer_id, self.external_id)
        }
    }
}

/// `warnings` with their customers' external ids.
pub(crate) fn listed(store: &Store, warnings: Vec<Warning>) -> CliResult<Vec<ListedWarning>> {
    if warnings.is_empty() {
        return Ok(Vec::new());
    }
    let index = external_ids(store)?;
    warnings
        .into_iter()
        .map(|warning| ListedWarning::new(&index, warning))
        .collect()
}

/// Stored warnings.
#[derive(Debug, Clone, Serialize)]
pub struct WarningsOutput {
    /// Warnings that matched the filters, before `--limit`.
    pub matched: usize,
    /// The warnings, in the order asked for.
    pub warnings: Vec<ListedWarning>,
}

impl Render for WarningsOutput {
    fn render(&self, out: &mut String) {
        if self.warnings.len() == self.matched {
            out.push_str(&format!("{}\n", count(self.matched, "warning")));
        } else {
            out.push_str(&format!(
                "{} (showing {})\n",
                count(self.matched, "warning"),
                thousands(self.warnings.len() as u64)
            ));
        }
        for listed in &self.warnings {
            let w = &listed.warning;
            out.push_str(&format!(
                "{}  {:<6} {:<18} {}  risk {:.2}  {}\n",
                w.as_of.format("%Y-%m-%d %H:%M"),
                w.severity,
                w.kind,
                listed.who(),
                w.risk,
                w.reasons
                    .iter()
                    .take(2)
                    .map(|r| r.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
}

/// Lists stored warnings.
pub fn warnings(ctx: &Context, args: &WarningsArgs) -> CliResult<CommandOutput> {
    let from = match &args.from {
        Some(t) => time("from", Some(t))?,
        None => DateTime::<Utc>::MIN_UTC,
    };
    let to = match &args.to {
        Some(t) => time("to", Some(t))?,
        None => DateTime::<Utc>::MAX_UTC,
    };
    let (store, job) = open_job(ctx, 91)?;
    let list = match &args.customer {
        Some(query) => {
            let customer = crate::identity::resolve(&store, query, None)?;
            job.history(customer)
                .map_err(churn_error("reading warnings"))?
        }
        None => job
            .warnings(from, to)
            .map_err(churn_error("reading warnings"))?,
    };
    let kinds: Vec<WarningKind> = args.kind.iter().map(|&k| k.into()).collect();
    let least = args.severity.map(Severity::from);
    let mut chosen: Vec<Warning> = list
        .into_iter()
        .filter(|w| w.as_of >= from && w.as_of < to)
        .filter(|w| kinds.is_empty() || kinds.contains(&w.kind))
        .filter(|w| least.is_none_or(|least| w.severity >= least))
        .collect();
    if args.sort == WarningOrder::Risk {
        // Stable: equal risks stay oldest first.
        chosen.sort_by(|a, b| b.risk.total_cmp(&a.risk));
    }
    let matched = chosen.len();
    chosen.truncate(args.limit.unwrap_or(usize::MAX));
    let warnings = listed(&store, chosen)?;
    Ok(CommandOutput::new(&WarningsOutput { matched, warnings }))
}

// ---------------------------------------------------------------- backtest

const BACKTEST_EXAMPLES: &str = "\
Examples:
  clientele backtest --as-of 1997-09-30 --horizon 39w
  clientele backtest --as-of 2025-03-31 --horizon 13w --json
  clientele backtest --as-of 2025-03-31 --horizon 13w --known-at 2025-07-01   # as run on 1 July

Freezes the world at --as-of (each customer's events that had occurred by then),
fits the population model on it, scores everyone, and compares with what happened
in the horizon after: churned = no purchase in it while no cover (a policy or
contract) runs to its end, or an explicit churn event in it.
Prints AUC (and single signals' AUC), precision and recall at k, lift by decile and
a calibration table. --known-at R runs it on the events recorded by R only: the
backtest as it could have been run then (late events and later imports left out).";

/// Arguments of `clientele backtest`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = BACKTEST_EXAMPLES)]
pub struct BacktestArgs {
    /// The frozen time (a date = the end of that day).
    #[arg(long)]
    pub as_of: String,
    /// The outcome window after it: 39w, 273d, 6m.
    #[arg(long, default_value = "39w")]
    pub horizon: String,
    /// Recorded time: only the events recorded by R, frozen states and
    /// outcomes alike (default: everything recorded so far).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,
}

/// A backtest and what to know about it.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestOutput {
    /// The backtest.
    #[serde(flatten)]
    pub report: BacktestReport,
    /// Caveats for people (e.g. an outcome window that runs past the data).
    pub warnings: Vec<String>,
}

/// A metric that may be undefined: `n/a` rather than `NaN`.
fn metric(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "n/a".to_owned(),
    }
}

/// The latest --as-of whose outcome window the data covers.
fn latest_complete_as_of(report: &BacktestReport) -> Option<chrono::NaiveDate> {
    let end = report.data_end?.date_naive();
    end.checked_sub_days(chrono::Days::new(u64::try_from(report.horizon_days).ok()?))
}

impl Render for BacktestOutput {
    fn render(&self, out: &mut String) {
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        let r = &self.report;
        out.push_str(&format!(
            "backtest as of {} over {}{}: {}, {} churned ({:.1} %)\n",
            r.as_of.format("%Y-%m-%d"),
            count(r.horizon_days, "day"),
            r.known_at
                .map(|k| format!(", as known at {}", crate::output::timestamp(k)))
                .unwrap_or_default(),
            count(r.customers, "customer"),
            thousands(r.churned),
            100.0 * r.churn_rate
        ));
        out.push_str(&format!("AUC {}  (single signals:", metric(r.auc)));
        for (name, auc) in &r.signal_auc {
            out.push_str(&format!(" {name} {}", metric(Some(*auc))));
        }
        out.push_str(")\n");
        if r.auc.is_none() {
            out.push_str("  (AUC n/a: it needs customers who churned and customers who did not)\n");
        }
        for k in &r.at_k {
            out.push_str(&format!(
                "precision@{} {:.3}  recall {:.3}\n",
                k.k, k.precision, k.recall
            ));
        }
        out.push_str("decile  customers  churned  rate   lift\n");
        for d in &r.lift {
            out.push_str(&format!(
                "{:>6}  {:>9}  {:>7}  {:.3}  {:.2}\n",
                d.decile,
                thousands(d.customers),
                thousands(d.positives),
                d.rate,
                d.lift
            ));
        }
        out.push_str("predicted  customers  mean predicted  observed\n");
        for b in r.calibration.iter().filter(|b| b.customers > 0) {
            out.push_str(&format!(
                "{:.1}–{:.1}    {:>9}  {:>14.3}  {:.3}\n",
                b.from,
                b.to,
                thousands(b.customers),
                b.predicted,
                b.observed
            ));
        }
    }
}

/// Runs a backtest. An outcome window wholly after the last event is an
/// error (there is nothing to compare with); one that runs past it is a
/// warning (customers count as churned for lack of data).
pub fn run_backtest(ctx: &Context, args: &BacktestArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", Some(&args.as_of))?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let horizon = parse_horizon(&args.horizon)
        .map_err(|e| CliError::usage(format!("--horizon: {e}"), "e.g. --horizon 39w"))?;
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let mut projector = Projector::open(&store, clientele_churn::ChurnProjection)
        .map_err(|e| CliError::from_core(e, "the churn projection"))?;
    projector
        .catch_up()
        .map_err(|e| CliError::from_core(e, "the churn projection"))?;
    let at = AsOf {
        occurred: as_of,
        known_at,
    };
    let report = backtest(&projector, &RiskPolicy::default(), at, horizon)
        .map_err(churn_error("the backtest"))?;
    // Where the events came from: the store, or the log as it stood at R.
    let held = match known_at {
        Some(r) => format!("known at {}", crate::output::timestamp(r)),
        None => "in the store".to_owned(),
    };
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    let last = report.data_end.map(day);
    let suggestion = match latest_complete_as_of(&report) {
        Some(d) => format!(
            "for a {horizon}-day horizon use --as-of {d} or earlier, or a shorter --horizon"
        ),
        None => "use an earlier --as-of or a shorter --horizon".to_owned(),
    };
    let mut warnings = Vec::new();
    if report.customers == 0 && report.data_end.is_some() {
        return Err(CliError::usage(
            format!(
                "no customer {held} had an event by --as-of {}: there is nobody to score",
                day(as_of)
            ),
            format!(
                "use a later --as-of (the last event {held} is of {})",
                last.as_deref().unwrap_or("-")
            ),
        ));
    }
    if !report.outcomes_observed() {
        let message = match &last {
            Some(last) => format!(
                "--horizon {} after --as-of {} ({} … {}) lies after the last event {held} ({last}): there are no outcomes to compare with",
                args.horizon.trim(),
                day(as_of),
                day(as_of + chrono::Duration::days(1)),
                day(report.horizon_end())
            ),
            None if known_at.is_some() => {
                return Err(CliError::usage(
                    format!("no events were {held}: there is nothing to backtest"),
                    "use a later --known-at (nothing had been recorded by then)",
                ));
            }
            None => {
                return Err(CliError::usage(
                    "the store holds no events: there is nothing to backtest",
                    "import events first (clientele import FILE), or try `clientele demo`",
                ));
            }
        };
        return Err(CliError::usage(message, suggestion));
    }
    if !report.outcomes_complete() {
        warnings.push(format!(
            "the horizon runs to {}, past the last event {held} ({}): customers with no purchase after {} count as churned, so churn is overstated; {suggestion}",
            day(report.horizon_end()),
            last.as_deref().unwrap_or("none"),
            last.as_deref().unwrap_or("then")
        ));
    }
    Ok(CommandOutput::new(&BacktestOutput { report, warnings }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizons() {
        assert_eq!(parse_horizon("39w"), Ok(273));
        assert_eq!(parse_horizon("273d"), Ok(273));
        assert_eq!(parse_horizon("90"), Ok(90));
        assert_eq!(parse_horizon("6m"), Ok(180));
        assert!(parse_horizon("0w").is_err());
        assert!(parse_horizon("3x").is_err());
        assert!(parse_horizon("w").is_err());
    }

    #[test]
    fn days_are_whole_or_one_decimal() {
        assert_eq!(days(249.0), "249");
        assert_eq!(days(0.0), "0");
        assert_eq!(days(12.5), "12.5");
        assert_eq!(days(12.26), "12.3");
    }

    #[test]
    fn undefined_metrics_print_as_n_a() {
        assert_eq!(metric(None), "n/a");
        assert_eq!(metric(Some(f64::NAN)), "n/a");
        assert_eq!(metric(Some(0.78294)), "0.7829");
    }
}
