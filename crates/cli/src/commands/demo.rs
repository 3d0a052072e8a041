//! `clientele demo [--customers N] [--seed S]`: fills an empty store with the
//! synthetic customer base of [`crate::generate`], then prints what is in the
//! log and what to try next.
//!
//! Idempotent: the seed and size are kept in the store's checkpoints, event
//! ids are deterministic, and a second run appends nothing (it completes an
//! interrupted first run). A store holding other data is left alone.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};
use clientele_core::event::Referred;
use clientele_core::{CustomerId, EventPayload, Money, Store};
use serde::Serialize;

use clientele_churn::{
    CallbackSink, ModelContext, RiskPolicy, Severity, Warning, WarningJob, WarningKind,
    WarningPolicy,
};
use clientele_lifecycle::Stage;

use crate::analytics::{json_name, Analytics, Stats, RISK_HORIZON_DAYS};
use crate::commands::churn::{listed, ListedWarning};
use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::generate::{self, DemoConfig, DemoCustomer, Segment};
use crate::import::{self, EventSource, ImportOptions, ImportSummary, ParsedEvent, ReadError};
use crate::output::{count, group_decimal, thousands, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele demo                            # 3,000 customers in the default store
  clientele --db /tmp/demo demo --customers 500 --seed 7
  clientele demo --json                     # the summary as JSON

The history runs from 2023-01-01 to 2025-06-30 (fixed, so the data is the same on every run
and machine for one seed). Running demo again appends nothing. A store that holds other
data (or a demo with another seed or size) is refused: pass another --db.";

const SEED_KEY: &str = "cli.demo.seed";
const SIZE_KEY: &str = "cli.demo.customers";

/// Arguments of `clientele demo`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Number of customers to generate.
    #[arg(long, value_name = "N", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(1..=200_000))]
    pub customers: u64,

    /// Seed of the generator: the same seed gives the same customers.
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
}

/// Feeds generated customers to the importer.
struct DemoSource {
    events: std::vec::IntoIter<ParsedEvent>,
    read: u64,
}

impl DemoSource {
    fn new(customers: Vec<DemoCustomer>) -> Self {
        let events: Vec<ParsedEvent> = customers
            .into_iter()
            .flat_map(|c| {
                let (id, line) = (c.id, c.index as u64 + 1);
                c.events.into_iter().map(move |event| ParsedEvent {
                    line,
                    customer: id,
                    external_id: None,
                    event,
                })
            })
            .collect();
        Self {
            events: events.into_iter(),
            read: 0,
        }
    }
}

impl EventSource for DemoSource {
    fn next_event(&mut self) -> Option<Result<ParsedEvent, ReadError>> {
        let next = self.events.next()?;
        self.read += 1;
        Some(Ok(next))
    }

    fn lines_read(&self) -> u64 {
        self.read
    }

    fn bytes_read(&self) -> u64 {
        self.read
    }
}

/// What is in the log: the demo's summary (works on any store).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogStats {
    /// Customer streams.
    pub customers: u64,
    /// Events.
    pub events: u64,
    /// Events per kind.
    pub events_by_kind: BTreeMap<String, u64>,
    /// Purchases per currency: (count, amount).
    pub revenue: BTreeMap<String, String>,
    /// Refunds per currency.
    pub refunded: BTreeMap<String, String>,
    /// Payments.
    pub payments: u64,
    /// Late payments.
    pub late_payments: u64,
    /// Complaints (distinct complaint ids per customer).
    pub complaints: u64,
    /// Complaints not yet answered (no `resolved`-or-later step).
    pub unanswered_complaints: u64,
    /// Complaints resolved more than 24 h after they were received (000 L574).
    pub answered_after_24h: u64,
    /// Unanswered complaints received more than 24 h before the end of the history.
    pub unanswered_after_24h: u64,
    /// Referrals naming a customer.
    pub referrals: u64,
    /// Of those, referred customers who purchased afterwards.
    pub converted_referrals: u64,
    /// Referrals of prospects.
    pub prospect_referrals: u64,
    /// Churn events.
    pub churned: u64,
    /// Reactivations (win-backs).
    pub reactivated: u64,
}

/// When a complaint was received and first resolved.
type ComplaintTimes = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Scans the whole log; `as_of` is "now" for the 24 h rule on open complaints.
pub fn log_stats(store: &Store, as_of: DateTime<Utc>) -> CliResult<LogStats> {
    let read = |e| CliError::from_core(e, "reading the log");
    let mut stats = LogStats {
        customers: store.customers().map_err(read)?.len() as u64,
        ..LogStats::default()
    };
    let mut revenue: BTreeMap<String, Money> = BTreeMap::new();
    let mut refunded: BTreeMap<String, Money> = BTreeMap::new();
    let mut complaints: HashMap<(CustomerId, String), ComplaintTimes> = HashMap::new();
    let mut purchases: HashMap<CustomerId, Vec<DateTime<Utc>>> = HashMap::new();
    let mut referrals: Vec<(CustomerId, DateTime<Utc>)> = Vec::new();
    let add = |map: &mut BTreeMap<String, Money>, m: Money| {
        let entry = map
            .entry(m.currency().to_string())
            .or_insert(Money::from_minor(0, m.currency()));
        *entry = Money::from_minor(
            entry.minor_units().saturating_add(m.minor_units()),
            m.currency(),
        );
    };
    for event in store.read_all(1).map_err(read)? {
        let event = event.map_err(read)?;
        stats.events += 1;
        *stats
            .events_by_kind
            .entry(event.kind().name().to_owned())
            .or_default() += 1;
        match &event.payload {
            EventPayload::Purchase(p) => {
                if let Ok(m) = p.money() {
                    add(&mut revenue, m);
                }
                purchases
                    .entry(event.customer_id)
                    .or_default()
                    .push(event.occurred_at);
            }
            EventPayload::Refund(r) => {
                if let Ok(m) = r.money() {
                    add(&mut refunded, m);
                }
            }
            EventPayload::Payment(p) => {
                stats.payments += 1;
                stats.late_payments += u64::from(p.late);
            }
            EventPayload::Complaint(c) => {
                let entry = complaints
                    .entry((event.customer_id, c.complaint_id.clone()))
                    .or_default();
                if c.step == clientele_core::event::ComplaintStep::Received {
                    entry.0 = Some(event.occurred_at);
                }
                if c.step.is_resolved() {
                    entry.1 = Some(
                        entry
                            .1
                            .map_or(event.occurred_at, |t| t.min(event.occurred_at)),
                    );
                }
            }
            EventPayload::Referral(r) => match r.referred {
                Referred::Customer(c) => referrals.push((c, event.occurred_at)),
                Referred::Prospect(_) => stats.prospect_referrals += 1,
            },
            EventPayload::Churn(_) => stats.churned += 1,
            EventPayload::Reactivation(_) => stats.reactivated += 1,
            _ => {}
        }
    }
    stats.revenue = revenue
        .into_iter()
        .map(|(c, m)| (c, m.amount().to_string()))
        .collect();
    stats.refunded = refunded
        .into_iter()
        .map(|(c, m)| (c, m.amount().to_string()))
        .collect();
    stats.complaints = complaints.len() as u64;
    for (received, resolved) in complaints.values() {
        match (received, resolved) {
            (Some(r), Some(s)) if *s - *r > Duration::hours(24) => stats.answered_after_24h += 1,
            (Some(r), None) => {
                stats.unanswered_complaints += 1;
                if as_of - *r > Duration::hours(24) {
                    stats.unanswered_after_24h += 1;
                }
            }
            (None, None) => stats.unanswered_complaints += 1,
            _ => {}
        }
    }
    stats.referrals = referrals.len() as u64;
    stats.converted_referrals = referrals
        .iter()
        .filter(|(c, t)| {
            purchases
                .get(c)
                .is_some_and(|times| times.iter().any(|p| p >= t))
        })
        .count() as u64;
    Ok(stats)
}

/// The demo's report.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The store.
    pub db: String,
    /// Seed used.
    pub seed: u64,
    /// Customers generated.
    pub customers_generated: u64,
    /// Events appended by this run.
    pub events_written: u64,
    /// Events found already stored (a previous run).
    pub already_present: u64,
    /// What is in the log now.
    pub stats: LogStats,
    /// The projections' view of the customer base at the end of the history.
    pub population: Stats,
    /// The churn-warning job run at the end of the history.
    pub churn_job: DemoChurnJob,
    /// Example commands to try next.
    pub try_next: Vec<Example>,
}

/// What the demo's churn-warning job did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoChurnJob {
    /// The job's as-of time.
    pub as_of: String,
    /// Customers the job evaluated in this run.
    pub visited: usize,
    /// Warnings raised by this run (0 on a rerun: once per episode).
    pub raised: usize,
    /// Warnings stored in all.
    pub stored: usize,
    /// Stored warnings per severity.
    pub by_severity: BTreeMap<String, usize>,
    /// Stored warnings per kind (`high_risk`, `win_back`, …).
    pub by_kind: BTreeMap<String, usize>,
    /// The three customers with the highest risk among stored `high_risk`
    /// warnings (those still worth a retention call; all kinds when none),
    /// with their external ids.
    pub highest: Vec<ListedWarning>,
}

impl Render for DemoReport {
    fn render(&self, out: &mut String) {
        let s = &self.stats;
        if self.events_written > 0 {
            let _ = writeln!(
                out,
                "Generated {} customers (seed {}): {} events written to {}",
                thousands(self.customers_generated),
                self.seed,
                thousands(self.events_written),
                self.db
            );
        } else {
            let _ = writeln!(
                out,
                "The demo data is already in {} (seed {}, {} customers): nothing to add",
                self.db,
                self.seed,
                thousands(self.customers_generated)
            );
        }
        let _ = writeln!(
            out,
            "\nThe log: {} events in {} customer streams, 2023-01-01 … 2025-06-30",
            thousands(s.events),
            thousands(s.customers)
        );
        let kinds: Vec<String> = s
            .events_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {}", thousands(*n)))
            .collect();
        let _ = writeln!(out, "  events by kind: {}", kinds.join(", "));
        for (currency, amount) in &s.revenue {
            let refunds = s.refunded.get(currency).map(String::as_str).unwrap_or("0");
            let _ = writeln!(
                out,
                "  purchases: {} {currency} (refunded {})",
                group_decimal(amount),
                group_decimal(refunds)
            );
        }
        let _ = writeln!(
            out,
            "  payments: {} ({} late)",
            thousands(s.payments),
            thousands(s.late_payments)
        );
        let _ = writeln!(
            out,
            "  complaints: {} — {} unanswered, {} answered after the 24 h rule, {} unanswered past 24 h",
            thousands(s.complaints),
            thousands(s.unanswered_complaints),
            thousands(s.answered_after_24h),
            thousands(s.unanswered_after_24h)
        );
        let _ = writeln!(
            out,
            "  referrals: {} of customers ({} converted: the referred customer purchased), {} of prospects",
            thousands(s.referrals),
            thousands(s.converted_referrals),
            thousands(s.prospect_referrals)
        );
        let _ = writeln!(
            out,
            "  churned: {} explicitly; won back: {}",
            thousands(s.churned),
            thousands(s.reactivated)
        );
        let p = &self.population;
        let stages: Vec<String> = Stage::ALL
            .iter()
            .map(|st| {
                let n = p.stages.get(st.as_str()).copied().unwrap_or(0);
                format!("{st} {}", thousands(n))
            })
            .collect();
        let _ = writeln!(out, "\nAs of {} (the projections):", p.as_of);
        let _ = writeln!(out, "  lifecycle stages: {}", stages.join(", "));
        if p.exit_pending > 0 {
            let _ = writeln!(
                out,
                "    of those in exit, {} still {} open matters (exit pending)",
                thousands(p.exit_pending),
                if p.exit_pending == 1 { "has" } else { "have" }
            );
        }
        let tiers: Vec<String> = p
            .tiers_in_order()
            .iter()
            .map(|(t, n)| format!("{t} {}", thousands(*n)))
            .collect();
        let _ = writeln!(out, "  loyalty tiers: {}", tiers.join(", "));
        let mut segments: Vec<_> = p.rfm_segments.iter().collect();
        segments.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let segments: Vec<String> = segments
            .iter()
            .take(4)
            .map(|(s, n)| format!("{s} {}", thousands(**n)))
            .collect();
        let _ = writeln!(out, "  largest RFM segments: {}", segments.join(", "));
        let j = &self.churn_job;
        // Most severe first (the JSON map is keyed by the machine names).
        let severity: Vec<String> = [Severity::High, Severity::Medium, Severity::Low]
            .iter()
            .filter_map(|s| {
                let n = j.by_severity.get(s.as_str())?;
                Some(format!("{s} {}", thousands(*n)))
            })
            .collect();
        let kinds: Vec<String> = [
            WarningKind::HighRisk,
            WarningKind::RenewalAtRisk,
            WarningKind::ComplaintSla,
            WarningKind::Churned,
            WarningKind::WinBack,
        ]
        .iter()
        .filter_map(|k| {
            let n = j.by_kind.get(k.as_str())?;
            Some(format!("{k} {}", thousands(*n)))
        })
        .collect();
        let _ = writeln!(
            out,
            "\nChurn-warning job as of {}: {} evaluated, {} raised ({} stored: {}; {})",
            j.as_of,
            count(j.visited, "customer"),
            count(j.raised, "warning"),
            thousands(j.stored),
            kinds.join(", "),
            severity.join(", ")
        );
        for listed in &j.highest {
            let w = &listed.warning;
            let _ = writeln!(
                out,
                "  risk {:.2} {} — {}",
                w.risk,
                listed.who(),
                w.reasons.first().map(|r| r.detail.as_str()).unwrap_or("")
            );
        }
        let _ = writeln!(
            out,
            "\nWhat to try next (a view is as of now unless given --as-of; the history stops on {}):",
            generate::end().format("%Y-%m-%d")
        );
        for example in &self.try_next {
            let _ = writeln!(out, "  # {}\n  {}", example.what, example.command);
        }
    }
}

fn has(c: &DemoCustomer, f: impl Fn(&EventPayload) -> bool) -> bool {
    c.events.iter().any(|e| f(&e.payload))
}

/// An example command to try.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// What it shows.
    pub what: String,
    /// The command line.
    pub command: String,
}

/// Example commands using real customers of the generated data.
fn examples(ctx: &Context, customers: &[DemoCustomer]) -> Vec<Example> {
    example_pairs(ctx, customers)
        .into_iter()
        .map(|(command, what)| Example { what, command })
        .collect()
}

fn example_pairs(ctx: &Context, customers: &[DemoCustomer]) -> Vec<(String, String)> {
    let db = ctx.db_flag();
    // A view defaults to now, long after the history stops: the customer
    // views are taken where the demo left them, as the summary above is.
    let end = format!("--as-of {}", generate::end().format("%Y-%m-%d"));
    let mut out = Vec::new();
    let insured = customers.iter().find(|c| {
        c.segment == Segment::Insurance
            && has(c, |p| matches!(p, EventPayload::Complaint(_)))
            && has(c, |p| matches!(p, EventPayload::Purchase(p) if p.renewal))
    });
    let insured = insured.or_else(|| customers.iter().find(|c| c.segment == Segment::Insurance));
    if let Some(c) = insured {
        out.push((
            format!("clientele {db}customer {} {end}", c.external_id),
            format!("{} — insurance: policies, renewals, a complaint", c.name),
        ));
        out.push((
            format!("clientele {db}customer {} --as-of 2024-06-30", c.id),
            "the same customer, as of mid-2024".to_owned(),
        ));
        let plate = c.events.iter().find_map(|e| match &e.payload {
            EventPayload::Profile(p) => p.licence_plate.clone(),
            _ => None,
        });
        out.push((
            format!("clientele {db}explain {} {end}", c.external_id),
            "the stage history with the cause of every change (the audit view)".to_owned(),
        ));
        if let Some(plate) = plate {
            out.push((
                format!("clientele {db}customer plate:{plate} {end}"),
                "found by licence plate".to_owned(),
            ));
            let suffix: String = plate
                .chars()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            out.push((
                format!("clientele {db}lookup --plate-suffix {suffix}"),
                "every customer whose plate ends like that".to_owned(),
            ));
        }
    }
    out.push((
        format!("clientele {db}renewals --from 2025-07-01 --to 2025-07-31"),
        "insurance policies due for renewal in July 2025, with intents".to_owned(),
    ));
    out.push((
        format!("clientele {db}complaints {end}"),
        "the complaint desk: the queue under the 24 h reply rule, reply times by category and owner"
            .to_owned(),
    ));
    out.push((
        format!("clientele {db}stats --as-of 2024-06-30"),
        "stages, loyalty tiers, RFM segments a year earlier".to_owned(),
    ));
    out.push((
        format!("clientele {db}warnings --from 2025-06-01"),
        "the churn warnings just raised, with reasons".to_owned(),
    ));
    out.push((
        format!("clientele {db}warnings --severity high --sort risk --limit 10"),
        "the ten riskiest of the urgent ones".to_owned(),
    ));
    out.push((
        format!("clientele {db}report --out /tmp/clientele-report --as-of 2025-06-30"),
        "an HTML page of charts (stage funnel, cohorts, loyalty, RFM, risk, lift, complaints)"
            .to_owned(),
    ));
    if let Some(c) = customers
        .iter()
        .find(|c| has(c, |p| matches!(p, EventPayload::Reactivation(_))))
    {
        out.push((
            format!("clientele {db}customer {} {end}", c.external_id),
            format!("{} — churned, then won back", c.name),
        ));
    }
    let fixed = [
        (
            format!("clientele {db}verify"),
            "checksums, hash chain, indexes",
        ),
        (
            format!("clientele {db}export --out demo.jsonl"),
            "the log as JSON Lines",
        ),
        (
            format!("clientele {db}backup /tmp/clientele-backup"),
            "a verified copy",
        ),
        (
            "clientele --db /tmp/cdnow import ../shared/data/cdnow_sample.txt --format cdnow"
                .to_owned(),
            "real purchase data (run from the repository root)",
        ),
    ];
    out.extend(fixed.into_iter().map(|(c, m)| (c, m.to_owned())));
    out
}

/// Runs the demo.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let config = DemoConfig {
        customers: usize::try_from(args.customers).unwrap_or(usize::MAX),
        seed: args.seed,
    };
    let store = ctx.open(OpenMode::Bulk)?;
    let checkpoint = |key: &str| {
        store
            .load_checkpoint(key)
            .map_err(|e| CliError::from_core(e, "reading the demo marker"))
    };
    let (seed, size) = (checkpoint(SEED_KEY)?, checkpoint(SIZE_KEY)?);
    let head = store.head();
    match (seed, size) {
        (Some(seed), Some(size)) if head > 0 && (seed, size) != (args.seed, args.customers) => {
            return Err(CliError::usage(
                format!(
                    "{} holds the demo with seed {seed} and {size} customers",
                    ctx.db.display()
                ),
                format!(
                    "run `clientele {}demo --seed {seed} --customers {size}`, or pass another --db for a different demo",
                    ctx.db_flag()
                ),
            ));
        }
        (None, _) | (_, None) if head > 0 => {
            return Err(CliError::usage(
                format!(
                    "{} already holds {} events that are not demo data",
                    ctx.db.display(),
                    thousands(head)
                ),
                "pass --db with a new directory for the demo, e.g. --db /tmp/clientele-demo",
            ));
        }
        _ => {}
    }
    let save = |key: &str, value: u64| {
        store
            .save_checkpoint(key, value)
            .map_err(|e| CliError::from_core(e, "writing the demo marker"))
    };
    save(SEED_KEY, args.seed)?;
    save(SIZE_KEY, args.customers)?;

    let customers = generate::generate(&config);
    let try_next = examples(ctx, &customers);
    let total: u64 = customers.iter().map(|c| c.events.len() as u64).sum();
    let mut source = DemoSource::new(customers);
    let options = ImportOptions {
        source: generate::DEMO_SOURCE.to_owned(),
        strict: false,
        chunk: import::CHUNK,
        atomic_limit: import::STRICT_ATOMIC_LIMIT,
    };
    let bar = ctx.output.progress(total, "writing");
    let summary = import::run_import(
        &store,
        &mut source,
        &options,
        ImportSummary {
            file: "demo".into(),
            format: "demo".into(),
            ..ImportSummary::default()
        },
        &|n| bar.set_position(n),
    )?;
    bar.finish_and_clear();
    if let Some(e) = summary.errors.first() {
        return Err(CliError::runtime(
            format!("the generator produced an event the store refused: {e}"),
            "report this as a bug, with the seed and --customers",
        ));
    }
    store
        .sync()
        .map_err(|e| CliError::from_core(e, "syncing the demo data"))?;
    let stats = log_stats(&store, generate::end())?;
    let as_of = generate::end();
    let population = Analytics::open(&store)?.stats(as_of)?;
    let churn_job = run_churn_job(&store, as_of)?;
    Ok(CommandOutput::new(&DemoReport {
        db: ctx.db.display().to_string(),
        seed: args.seed,
        customers_generated: args.customers,
        events_written: summary.events_written,
        already_present: summary.already_present,
        stats,
        population,
        churn_job,
        try_next,
    }))
}

/// Fits the population model and runs the warning job as of `as_of`.
fn run_churn_job(store: &Store, as_of: DateTime<Utc>) -> CliResult<DemoChurnJob> {
    let failed = |e: clientele_churn::Error| {
        CliError::runtime(
            format!("the churn-warning job: {e}"),
            "run `clientele verify`; if it passes, retry",
        )
    };
    let model = ModelContext {
        bg_nbd: None,
        horizon_days: RISK_HORIZON_DAYS as f64,
    };
    let mut job = WarningJob::open(
        store,
        RiskPolicy::default(),
        WarningPolicy::default(),
        model,
    )
    .map_err(failed)?;
    job.refit(as_of).map_err(failed)?;
    // The warnings are stored by the job; the demo only counts them.
    let mut sink = CallbackSink(|_: &Warning| Ok(()));
    let run = job.run(as_of, &mut sink).map_err(failed)?;
    let stored = job
        .warnings(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .map_err(failed)?;
    let mut by_severity = BTreeMap::new();
    let mut by_kind = BTreeMap::new();
    for w in &stored {
        *by_severity.entry(json_name(&w.severity)).or_default() += 1;
        *by_kind.entry(w.kind.as_str().to_owned()).or_default() += 1;
    }
    let mut highest: Vec<Warning> = stored
        .iter()
        .filter(|w| w.kind == WarningKind::HighRisk)
        .cloned()
        .collect();
    if highest.is_empty() {
        highest = stored.clone();
    }
    highest.sort_by(|a, b| b.risk.total_cmp(&a.risk).then(a.id.cmp(&b.id)));
    let mut seen = std::collections::BTreeSet::new();
    highest.retain(|w| seen.insert(w.customer_id));
    highest.truncate(3);
    let highest = listed(store, highest)?;
    Ok(DemoChurnJob {
        as_of: crate::output::timestamp(as_of),
        visited: run.visited,
        raised: run.raised,
        stored: stored.len(),
        by_severity,
        by_kind,
        highest,
    })
}
