//! `clientele complaints`: the complaint desk (crates/complaint) — the work
//! queue under the 24 h reply rule, reply times by category and by owner,
//! and how often churn follows a complaint; and the Complaints section of
//! the customer view.

use chrono::{DateTime, Utc};
use clientele_complaint::{
    ComplaintBook, ComplaintError, ComplaintPolicy, ComplaintProjection, ComplaintStatus,
    Complaints, DeskFigures, DeskReport, Figures, Reply,
};
use clientele_core::projection::{fold, AsOf};
use clientele_core::{CustomerId, Store};
use serde::Serialize;

use crate::commands::customer::{CustomerSection, SectionInput, SectionOutput};
use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::identity;
use crate::output::{columns, count, thousands, timestamp, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele complaints --as-of 2025-06-30                  # the queue and the figures
  clientele complaints --as-of 2025-06-30 --overdue        # past the reply rule, longest first
  clientele complaints --as-of 2025-06-30 --owner 陈静 --all --limit 0
  clientele complaints --as-of 2025-06-30 --category \"product quality\"
  clientele complaints --customer D-000042 --all           # one customer's complaints
  clientele complaints --as-of 2025-06-30 --reply-hours 48 --summary
  clientele complaints --as-of 2025-06-30 --known-at 2025-07-01 --json

A complaint moves through received → classified → investigated → resolved → feedback_given →
archived (003 L171). It must be answered — reach `resolved` or a later step — within 24 hours of
being received (000 L574; --reply-hours H changes the deadline, --reply-hours none drops it), and
stays on the desk until it is archived. Reply states: overdue (unanswered past the deadline),
waits (unanswered, the deadline ahead), late (answered after the deadline), in time.

The list is the queue — complaints not yet archived — overdue first (the longest overdue first),
then those waiting for an answer (the nearest deadline first), then those answered and waiting to
be archived (the oldest first); --all adds the archived ones after it. --overdue, --owner,
--category and --customer narrow the list (names match ignoring case; `--owner -` lists the
complaints nobody owns yet); the figures above it are
always the whole desk's, with a line per category and per owner. A churn after a complaint is an
explicit churn within 180 days of receipt, counted over complaints whose 180 days have passed;
beside it, the share of customers without a complaint who churned.

--known-at R takes the desk as the log knew it at R (append time): steps recorded later are left
out. The complaint projection is brought up to date first; when another process writes to the
store, the desk is read from the log instead (slower, same figures).";

/// Arguments of `clientele complaints`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Business time of the desk: complaints and steps by then (default: now;
    /// a date means the end of that day).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// Recorded time: the desk as the log knew it at R (steps recorded later
    /// are left out).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,

    /// List archived complaints too (default: only the queue, those not yet archived).
    #[arg(long)]
    pub all: bool,

    /// List only complaints unanswered past their reply deadline.
    #[arg(long)]
    pub overdue: bool,

    /// List only complaints of this accountable owner (`-`: those without one).
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,

    /// List only complaints of this category (`-`: those without one).
    #[arg(long, value_name = "NAME")]
    pub category: Option<String>,

    /// List only this customer's complaints (UUID, external id, or plate:…, phone:…).
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,

    /// List at most N complaints (0: all).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        allow_negative_numbers = true
    )]
    pub limit: usize,

    /// The reply deadline in hours after receipt (default 24), or `none` for no deadline.
    #[arg(long, value_name = "H")]
    pub reply_hours: Option<String>,

    /// Print the figures only, without the list.
    #[arg(long)]
    pub summary: bool,
}

/// `--reply-hours`: whole hours of at least 1, or `none`.
fn reply_hours(text: Option<&str>) -> CliResult<Option<u32>> {
    let default = ComplaintPolicy::default().reply_hours;
    let Some(text) = text.map(str::trim) else {
        return Ok(default);
    };
    let hint = "give whole hours of at least 1 (e.g. --reply-hours 48), or --reply-hours none for no deadline";
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(0) => Err(CliError::usage(
            "--reply-hours 0: every complaint would be overdue as it arrives",
            hint,
        )),
        Ok(hours) => Ok(Some(hours)),
        Err(_) => Err(CliError::usage(
            format!("--reply-hours: {text:?} is not a number of hours"),
            hint,
        )),
    }
}

/// A name filter (`--owner`, `--category`): trimmed, not empty.
fn name_filter(flag: &str, text: Option<&str>) -> CliResult<Option<String>> {
    match text.map(str::trim) {
        None => Ok(None),
        Some("") => Err(CliError::usage(
            format!("--{flag} is empty"),
            format!("give a name, as the figures by {flag} show it"),
        )),
        Some(name) => Ok(Some(name.to_owned())),
    }
}

/// What `--owner -` and `--category -` stand for: none given (the list
/// shows `-` there).
const NONE_GIVEN: &str = "-";

/// Whether a complaint's `value` is the `wanted` name, ignoring case; `-`
/// wants a complaint that gives none.
fn same_name(value: Option<&str>, wanted: &str) -> bool {
    if wanted == NONE_GIVEN {
        return value.is_none_or(|v| v.trim().is_empty());
    }
    value.is_some_and(|v| v.trim().to_lowercase() == wanted.to_lowercase())
}

/// A complaint as listed, with its customer's external id.
#[derive(Debug, Clone, Serialize)]
pub struct ListedComplaint {
    /// The complaint as the desk sees it.
    #[serde(flatten)]
    pub status: ComplaintStatus,
    /// The customer's external id (empty when none or erased).
    pub external_id: String,
}

/// What narrowed the list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListFilters {
    /// `--all`: archived complaints too.
    pub all: bool,
    /// `--overdue`.
    pub overdue: bool,
    /// `--owner`.
    pub owner: Option<String>,
    /// `--category`.
    pub category: Option<String>,
    /// `--customer`, resolved to its UUID.
    pub customer: Option<CustomerId>,
}

/// The desk: the [`DeskReport`] with the complaints listed after the filters.
#[derive(Debug, Clone, Serialize)]
pub struct ComplaintsOutput {
    /// The view's business time.
    pub as_of: DateTime<Utc>,
    /// The recorded time the desk is as known at (absent: everything recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// The policy applied.
    pub policy: ComplaintPolicy,
    /// The desk's figures (serialised beside the other fields).
    #[serde(flatten)]
    pub figures: DeskFigures,
    /// What narrowed the list.
    pub filters: ListFilters,
    /// Complaints that passed the filters, before `--limit`.
    pub matched: usize,
    /// `--limit` (0: all).
    pub limit: usize,
    /// `--summary`: the figures only (`complaints` is empty).
    pub summary: bool,
    /// The complaints listed, in the desk's order.
    pub complaints: Vec<ListedComplaint>,
}

// ------------------------------------------------------------------ words

/// Hours for people: `5.2 h`, `3 h`, `36 h`, `1,204 h`.
pub fn hours(h: f64) -> String {
    if !h.is_finite() {
        return "n/a".to_owned();
    }
    if h.abs() >= 1000.0 {
        format!("{} h", thousands(h.round() as i64))
    } else if h.abs() >= 10.0 || (h - h.round()).abs() < 0.05 {
        format!("{h:.0} h")
    } else {
        format!("{h:.1} h")
    }
}

/// The reply rule for people: `reply within 24 h of receipt; answered at
/// `resolved`, settled at `archived``.
pub fn policy_words(policy: &ComplaintPolicy) -> String {
    let deadline = match policy.reply_hours {
        Some(h) => format!("reply within {} of receipt", hours(f64::from(h))),
        None => "no reply deadline".to_owned(),
    };
    format!(
        "{deadline}; answered at `{}`, settled at `{}`",
        policy.answered_step, policy.settled_step
    )
}

/// Where a complaint stands against the reply rule, with hours, as of `as_of`:
/// `overdue by 36 h`, `waits, due in 3 h`, `answered in 30 h, 6 h late`,
/// `answered in 5.2 h`.
pub fn reply_words(status: &ComplaintStatus, as_of: DateTime<Utc>) -> String {
    let h = |x: Option<f64>| hours(x.unwrap_or(f64::NAN));
    match status.reply {
        Reply::Overdue => {
            let past = status.hours_past_deadline.unwrap_or(f64::NAN);
            if past >= 48.0 {
                format!(
                    "overdue by {} ({})",
                    hours(past),
                    count((past / 24.0).floor() as i64, "day")
                )
            } else {
                format!("overdue by {}", hours(past))
            }
        }
        Reply::Waiting => match status.deadline {
            Some(d) => format!(
                "waits, due in {}",
                hours((d - as_of).num_microseconds().unwrap_or(0) as f64 / 3.6e9)
            ),
            None => "waits (no deadline)".to_owned(),
        },
        Reply::Late => format!(
            "answered in {}, {} late",
            h(status.hours_to_answer),
            h(status.hours_past_deadline)
        ),
        Reply::InTime => format!("answered in {}", h(status.hours_to_answer)),
    }
}

/// A share for people: `72.5 %`, or `n/a`.
fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => format!("{:.1} %", 100.0 * r),
        _ => "n/a".to_owned(),
    }
}

/// `text` padded with spaces to `width` terminal columns.
fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(columns(text))))
}

/// A group's name for people: `(no owner)` for complaints that give none.
fn group_name(key: Option<&str>, noun: &str) -> String {
    key.map_or_else(|| format!("(no {noun})"), str::to_owned)
}

/// The churn-after rate with its base: `12.5 % (5 of 40)`, or `n/a (0 of 0)`.
fn churned_after(f: &Figures) -> String {
    format!(
        "{} ({} of {})",
        percent(f.churned_after_rate),
        thousands(f.churned_after),
        thousands(f.churn_observed)
    )
}

/// Months in the text's table by month of receipt (`--json` has them all).
const MONTHS_SHOWN: usize = 12;

/// A table of figures by `noun` (category, owner, month).
fn figures_table(out: &mut String, noun: &str, groups: &[Figures]) {
    if groups.is_empty() {
        return;
    }
    let title = format!("by {noun}");
    let width = groups
        .iter()
        .map(|f| columns(&group_name(f.key.as_deref(), noun)))
        .chain([columns(&title)])
        .max()
        .unwrap_or(0);
    out.push_str(&format!(
        "\n{}  complaints  overdue  in time  median h  churned after\n",
        pad(&title, width)
    ));
    for f in groups {
        out.push_str(&format!(
            "{}  {:>10}  {:>7}  {:>7}  {:>8}  {}\n",
            pad(&group_name(f.key.as_deref(), noun), width),
            thousands(f.complaints),
            thousands(f.overdue),
            percent(f.in_time_rate),
            f.hours_to_answer
                .map(|s| format!("{:.1}", s.median))
                .unwrap_or_else(|| "-".into()),
            churned_after(f)
        ));
    }
}

impl ComplaintsOutput {
    /// What the list holds, for its heading: `the queue (not yet archived)`
    /// and the filters.
    fn list_words(&self) -> String {
        let f = &self.filters;
        let mut words = vec![if f.all {
            "every complaint, the queue first".to_owned()
        } else {
            format!("the queue (not yet {})", self.policy.settled_step)
        }];
        if f.overdue {
            words.push("overdue".into());
        }
        if let Some(owner) = &f.owner {
            words.push(format!("owner {owner}"));
        }
        if let Some(category) = &f.category {
            words.push(format!("category {category}"));
        }
        if let Some(customer) = f.customer {
            words.push(format!("customer {customer}"));
        }
        words.join(", ")
    }
}

impl Render for ComplaintsOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "complaint desk as of {}{}: {}\n",
            timestamp(self.as_of),
            self.known_at
                .as_deref()
                .map(|k| format!(", as known at {k}"))
                .unwrap_or_default(),
            policy_words(&self.policy)
        ));
        let a = &self.figures.all;
        if a.complaints == 0 {
            out.push_str(&format!(
                "\nno complaint by then ({})\n",
                count(self.figures.customers, "customer")
            ));
        } else {
            out.push_str(&format!(
                "\n{} from {}: complaint rate {} of {}\n",
                count(a.complaints, "complaint"),
                count(self.figures.complainants, "customer"),
                percent(self.figures.complaint_rate),
                count(self.figures.customers, "customer")
            ));
        }
        // Over the same window as the complaints' rate: the chance of a
        // churn within it at the customers' own churn rate per day at risk.
        let background = format!(
            "customers without a complaint: {} within {} ({} of {} churned, over {} customer-years at risk)",
            percent(self.figures.churn_in_window_without_complaint),
            count(self.policy.churn_window_days, "day"),
            thousands(self.figures.churned_without_complaint),
            thousands(self.figures.customers.saturating_sub(self.figures.complainants)),
            thousands((self.figures.days_at_risk_without_complaint / 365.25).round() as u64)
        );
        if a.complaints > 0 {
            out.push_str(&format!(
                "  open (not yet {}): {} — {} overdue, {} waiting for an answer, {} answered and waiting to be {}\n",
                self.policy.settled_step,
                thousands(a.open),
                thousands(a.overdue),
                thousands(a.waiting),
                thousands(a.answered_open),
                self.policy.settled_step
            ));
            out.push_str(&format!(
                "  answered: {} in time, {} late; {} in time of those answered or overdue\n",
                thousands(a.in_time),
                thousands(a.late),
                percent(a.in_time_rate)
            ));
            let mut times = Vec::new();
            if let Some(s) = a.hours_to_answer {
                times.push(format!(
                    "hours to answer: median {:.1}, p90 {:.1}",
                    s.median, s.p90
                ));
            }
            if let Some(s) = a.days_to_settle {
                times.push(format!("days to settle: median {:.1}", s.median));
            }
            if !times.is_empty() {
                out.push_str(&format!("  {}\n", times.join("; ")));
            }
            if let Some(mean) = a.mean_rating {
                out.push_str(&format!(
                    "  mean rating {mean:.2} of 5 ({} rated); {} harmed customer interests\n",
                    thousands(a.rated),
                    thousands(a.harmed)
                ));
            }
            let steps: Vec<String> = self
                .figures
                .by_step
                .iter()
                .map(|s| format!("{} {}", s.step, thousands(s.complaints)))
                .collect();
            out.push_str(&format!("  by furthest step: {}\n", steps.join(", ")));
            figures_table(out, "category", &self.figures.by_category);
            figures_table(out, "owner", &self.figures.by_owner);
            // The last year of months with complaints: is the desk improving?
            let recent = self.figures.by_month.len().saturating_sub(MONTHS_SHOWN);
            figures_table(
                out,
                "month received",
                self.figures.by_month.get(recent..).unwrap_or_default(),
            );
            out.push_str(&format!(
                "\nchurn: {} of complaints were followed by a churn within {} ({} of {} whose {} have passed); {background}\n",
                percent(a.churned_after_rate),
                count(self.policy.churn_window_days, "day"),
                thousands(a.churned_after),
                thousands(a.churn_observed),
                count(self.policy.churn_window_days, "day"),
            ));
        } else {
            out.push_str(&format!("\nchurn: {background}\n"));
        }
        if self.summary {
            return;
        }
        out.push_str(&format!(
            "\n{}: {}",
            self.list_words(),
            count(self.matched, "complaint")
        ));
        if self.complaints.len() < self.matched {
            out.push_str(&format!(
                ", showing the first {} (--limit 0 for all)",
                thousands(self.complaints.len())
            ));
        }
        out.push('\n');
        let width = |f: &dyn Fn(&ListedComplaint) -> usize| {
            self.complaints.iter().map(f).max().unwrap_or(0)
        };
        let ext = width(&|c| columns(&c.external_id));
        let id = width(&|c| columns(&c.status.complaint));
        let step = width(&|c| c.status.step.as_str().len());
        let reply: Vec<String> = self
            .complaints
            .iter()
            .map(|c| reply_words(&c.status, self.as_of))
            .collect();
        let reply_width = reply.iter().map(|r| columns(r)).max().unwrap_or(0);
        let category = width(&|c| columns(c.status.category.as_deref().unwrap_or("-")));
        for (listed, reply) in self.complaints.iter().zip(&reply) {
            let s = &listed.status;
            let line = format!(
                "{}  {}  {}  {}  {}  {}  {}  {}",
                s.received_at.format("%Y-%m-%d %H:%M"),
                s.customer,
                pad(&listed.external_id, ext),
                pad(&s.complaint, id),
                pad(s.step.as_str(), step),
                pad(reply, reply_width),
                pad(s.category.as_deref().unwrap_or("-"), category),
                s.owner.as_deref().unwrap_or("-")
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

// ------------------------------------------------------------------ the desk

fn complaint_error(doing: &str) -> impl Fn(ComplaintError) -> CliError + '_ {
    move |e| match e {
        ComplaintError::InvalidPolicy { field, reason } => CliError::usage(
            format!("{doing}: the complaint policy's {field} {reason}"),
            "check --reply-hours",
        ),
        ComplaintError::Store(e) => CliError::from_core(e, doing),
        other => CliError::runtime(
            format!("{doing}: {other}"),
            "run `clientele verify`; `clientele rebuild complaint` rebuilds the projection",
        ),
    }
}

/// The desk as of `at` from the complaint projection kept in the store,
/// caught up first.
fn desk_from_projection(store: &Store, policy: ComplaintPolicy, at: AsOf) -> CliResult<DeskReport> {
    let mut complaints =
        Complaints::open(store).map_err(complaint_error("the complaint projection"))?;
    complaints
        .catch_up()
        .map_err(complaint_error("updating the complaint projection"))?;
    complaints
        .desk(policy, at)
        .map_err(complaint_error("the complaint desk"))
}

/// The desk as of `at` read straight from the log, for a store opened
/// read-only (another process writes to it: the projection cannot be kept).
pub fn desk_from_log(store: &Store, policy: ComplaintPolicy, at: AsOf) -> CliResult<DeskReport> {
    Complaints::desk_from_log(store, policy, at).map_err(complaint_error("the complaint desk"))
}

/// Runs `complaints`.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let policy = ComplaintPolicy {
        reply_hours: reply_hours(args.reply_hours.as_deref())?,
        ..ComplaintPolicy::default()
    };
    let owner = name_filter("owner", args.owner.as_deref())?;
    let category = name_filter("category", args.category.as_deref())?;
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    // Writable, to keep the projection; read-only (the desk read from the
    // log) when another process writes.
    let (store, writable) = match ctx.open(OpenMode::Write) {
        Ok(store) => (store, true),
        Err(_) => (ctx.open(OpenMode::ReadOnly)?, false),
    };
    let customer = args
        .customer
        .as_deref()
        .map(|query| identity::resolve(&store, query, None))
        .transpose()?;
    let at = AsOf {
        occurred: as_of,
        known_at,
    };
    let report = if writable {
        desk_from_projection(&store, policy, at)?
    } else {
        ctx.output.notice(
            "the store is in use by another process: the desk is read from the log (slower)",
        );
        desk_from_log(&store, policy, at)?
    };
    let DeskReport {
        as_of,
        known_at: _,
        policy,
        figures,
        complaints,
    } = report;
    let chosen: Vec<ComplaintStatus> = complaints
        .into_iter()
        .filter(|s| args.all || s.is_open())
        .filter(|s| !args.overdue || s.reply == Reply::Overdue)
        .filter(|s| {
            owner
                .as_deref()
                .is_none_or(|o| same_name(s.owner.as_deref(), o))
        })
        .filter(|s| {
            category
                .as_deref()
                .is_none_or(|c| same_name(s.category.as_deref(), c))
        })
        .filter(|s| customer.is_none_or(|c| s.customer == c))
        .collect();
    let matched = chosen.len();
    let shown = if args.summary {
        0
    } else if args.limit == 0 {
        matched
    } else {
        args.limit.min(matched)
    };
    let chosen: Vec<ComplaintStatus> = chosen.into_iter().take(shown).collect();
    let ids = identity::external_ids_of(&store, &chosen.iter().map(|s| s.customer).collect())?;
    let listed = chosen
        .into_iter()
        .map(|status| ListedComplaint {
            external_id: ids.get(&status.customer).cloned().unwrap_or_default(),
            status,
        })
        .collect();
    Ok(CommandOutput::new(&ComplaintsOutput {
        as_of,
        known_at: known_at.map(timestamp),
        policy,
        figures,
        filters: ListFilters {
            all: args.all,
            overdue: args.overdue,
            owner,
            category,
            customer,
        },
        matched,
        limit: args.limit,
        summary: args.summary,
        complaints: listed,
    }))
}

// ------------------------------------------------------------------ customer view

/// `complaints` in the customer report: each complaint's step and reply
/// state under the default policy, folded from the customer's events in the
/// view (so it follows --as-of and --known-at, and needs no projection).
pub struct ComplaintSection;

impl CustomerSection for ComplaintSection {
    fn key(&self) -> &'static str {
        "complaints"
    }

    fn title(&self) -> &'static str {
        "Complaints"
    }

    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let book: ComplaintBook = fold(&ComplaintProjection, input.events.iter());
        let policy = ComplaintPolicy::default();
        let statuses: Vec<ComplaintStatus> = book
            .complaints()
            .iter()
            .filter_map(|r| ComplaintStatus::of(input.customer, r, &book, &policy, input.as_of))
            .collect();
        if statuses.is_empty() {
            return Ok(None);
        }
        let lines = statuses
            .iter()
            .map(|s| {
                let mut line = format!(
                    "{} received {}: {}, {}; {}; {}",
                    s.complaint,
                    s.received_at.format("%Y-%m-%d %H:%M"),
                    s.step,
                    reply_words(s, input.as_of),
                    s.category.as_deref().unwrap_or("no category"),
                    s.owner
                        .as_deref()
                        .map_or_else(|| "no owner".to_owned(), |o| format!("owner {o}"))
                );
                if let Some(rating) = s.feedback_rating {
                    line.push_str(&format!("; rated {rating} of 5"));
                }
                if s.churned_after {
                    line.push_str(&format!(
                        "; churned within {} after it",
                        count(policy.churn_window_days, "day")
                    ));
                }
                line
            })
            .collect();
        let data = serde_json::to_value(&statuses).map_err(|e| {
            CliError::runtime(
                format!("rendering the complaints section: {e}"),
                "retry; if it persists, report the error",
            )
        })?;
        Ok(Some(SectionOutput { data, lines }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use clientele_core::event::{Churn, Complaint, ComplaintStep, Purchase};
    use clientele_core::{Currency, ExpectedVersion, NewEvent};

    fn step(id: &str, step: ComplaintStep, owner: &str, category: &str) -> Complaint {
        let mut c = Complaint::new(id, step);
        c.owner = Some(owner.into());
        c.category = Some(category.into());
        c
    }

    #[test]
    fn hours_and_reply_words() {
        assert_eq!(hours(5.23), "5.2 h");
        assert_eq!(hours(3.0), "3 h");
        assert_eq!(hours(36.4), "36 h");
        assert_eq!(hours(1204.0), "1,204 h");
        assert_eq!(
            policy_words(&ComplaintPolicy::default()),
            "reply within 24 h of receipt; answered at `resolved`, settled at `archived`"
        );
        let none = ComplaintPolicy {
            reply_hours: None,
            ..ComplaintPolicy::default()
        };
        assert!(policy_words(&none).starts_with("no reply deadline;"));
        assert_eq!(columns("陈静"), 4);
        assert_eq!(pad("陈静", 6), "陈静  ");
    }

    #[test]
    fn reply_hours_take_none_and_refuse_zero() {
        assert_eq!(reply_hours(None).unwrap(), Some(24));
        assert_eq!(reply_hours(Some("48")).unwrap(), Some(48));
        assert_eq!(reply_hours(Some("none")).unwrap(), None);
        let e = reply_hours(Some("0")).unwrap_err();
        assert_eq!(e.kind, crate::ExitCode::Usage);
        assert!(e.message.contains("--reply-hours"), "{}", e.message);
        let e = reply_hours(Some("a day")).unwrap_err();
        assert!(e.message.contains("--reply-hours"), "{}", e.message);
    }

    /// The desk read from the log equals the projection's, as of a time and
    /// as known at a recorded time.
    #[test]
    fn the_log_and_the_projection_give_the_same_desk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 3, 15, 9, 0, 0).unwrap();
        let (li, wang, zhao) = (
            CustomerId::from_external("t", "li"),
            CustomerId::from_external("t", "wang"),
            CustomerId::from_external("t", "zhao"),
        );
        let buy = Purchase::new("A-1", "10".parse().unwrap(), Currency::CNY);
        store
            .append(
                li,
                ExpectedVersion::Any,
                vec![
                    NewEvent::new(t0 - Duration::days(30), buy.clone()),
                    NewEvent::new(t0, step("C-1", ComplaintStep::Received, "zhang", "billing")),
                    NewEvent::new(
                        t0 + Duration::hours(30),
                        step("C-1", ComplaintStep::Resolved, "zhang", "billing"),
                    ),
                ],
            )
            .unwrap();
        store
            .append(
                wang,
                ExpectedVersion::Any,
                vec![
                    NewEvent::new(t0, step("C-2", ComplaintStep::Received, "zhao", "delivery")),
                    NewEvent::new(
                        t0 + Duration::days(20),
                        Churn {
                            reason: "moved".into(),
                            voluntary: true,
                        },
                    ),
                ],
            )
            .unwrap();
        // Recorded later: left out as known at the time Wang was recorded.
        std::thread::sleep(std::time::Duration::from_millis(5));
        store
            .append(
                zhao,
                ExpectedVersion::Any,
                vec![NewEvent::new(t0 - Duration::days(5), buy)],
            )
            .unwrap();
        let recorded = store.read_stream(wang).unwrap()[1].recorded_at;
        let policy = ComplaintPolicy::default();
        let known = AsOf::known_at(t0 + Duration::days(400), recorded);
        for at in [
            AsOf::from(t0 + Duration::hours(10)),
            AsOf::from(t0 + Duration::days(400)),
            known,
        ] {
            let from_log = desk_from_log(&store, policy.clone(), at).unwrap();
            let from_projection = desk_from_projection(&store, policy.clone(), at).unwrap();
            assert_eq!(from_log, from_projection, "{at:?}");
        }
        let late =
            desk_from_log(&store, policy.clone(), AsOf::from(t0 + Duration::days(400))).unwrap();
        assert_eq!((late.figures.customers, late.figures.complainants), (3, 2));
        let replies: Vec<Reply> = late.complaints.iter().map(|s| s.reply).collect();
        assert_eq!(replies, [Reply::Overdue, Reply::Late]);
        // Wang churned 20 days after the complaint; Zhao, without one, did not.
        assert_eq!(
            (
                late.figures.all.churned_after,
                late.figures.all.churn_observed
            ),
            (1, 2)
        );
        assert_eq!(late.figures.churned_without_complaint, 0);
        let then = desk_from_log(&store, policy, known).unwrap();
        assert_eq!((then.figures.customers, then.figures.complainants), (2, 2));
        let early = desk_from_log(
            &store,
            ComplaintPolicy::default(),
            AsOf::from(t0 + Duration::hours(10)),
        )
        .unwrap();
        assert_eq!(early.figures.all.waiting, 2);
    }
}
