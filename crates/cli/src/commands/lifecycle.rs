//! Lifecycle commands: `explain`, `lookup`, `renewals` (crates/lifecycle).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::RenewalIntent;
use clientele_core::{CustomerId, EventId, EventPayload, RecordedEvent, Store};
use clientele_lifecycle::{
    Cause, CustomerStage, IdentifierKind, Lifecycle, LifecyclePolicy, OpenMatter, Reason,
    RenewalDue, StageChange, Threshold,
};
use serde::Serialize;

use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::identity::{external_id, external_ids};
use crate::output::{count, timestamp, CommandOutput, Render};

/// One line for a reason a customer is in their stage.
pub fn describe_reason(reason: &Reason) -> String {
    let days = |secs: i64| count(secs / 86_400, "day");
    match reason {
        Reason::NoPurchaseYet => "known, no purchase yet".into(),
        Reason::HasPurchased { purchases } => count(*purchases, "purchase"),
        Reason::SteadyRepeatBuying {
            purchases,
            span_days,
        } => {
            format!(
                "steady repeat buying: {} over {}",
                count(*purchases, "purchase"),
                count(*span_days, "day")
            )
        }
        Reason::SteadyPaying { bills, span_days } => {
            format!(
                "steady paying: {} over {}",
                count(*bills, "bill"),
                count(*span_days, "day")
            )
        }
        Reason::ReferralAndRepeat {
            referrals,
            purchases,
        } => {
            format!(
                "{} and {}",
                count(*referrals, "referral"),
                count(*purchases, "purchase")
            )
        }
        Reason::Inactive {
            last_activity,
            threshold_secs,
            ..
        } => format!(
            "no purchase, payment or win-back since {} (decline horizon {})",
            last_activity.format("%Y-%m-%d"),
            days(*threshold_secs)
        ),
        Reason::CoverLapsed {
            last_day,
            cancelled,
            threshold_secs,
            ..
        } => format!(
            "{} (decline horizon {} after it)",
            cover_ended(*last_day, *cancelled),
            days(*threshold_secs)
        ),
        Reason::CoverLapsedBeyondExitHorizon {
            last_day,
            cancelled,
            threshold_secs,
            ..
        } => format!(
            "{} (exit horizon {} after it)",
            cover_ended(*last_day, *cancelled),
            days(*threshold_secs)
        ),
        Reason::SpendDrop {
            recent_average,
            earlier_average,
        } => format!(
            "spend dropped: recent purchases average {recent_average}, earlier {earlier_average}"
        ),
        Reason::ComplaintUnanswered {
            complaint_id,
            step,
            deadline,
        } => format!(
            "complaint {complaint_id} still at {} past its reply deadline {}",
            crate::analytics::json_name(step),
            deadline.format("%Y-%m-%d %H:%M")
        ),
        Reason::InactiveBeyondExitHorizon {
            last_activity,
            threshold_secs,
            ..
        } => format!(
            "no purchase, payment or win-back since {} (exit horizon {})",
            last_activity.format("%Y-%m-%d"),
            days(*threshold_secs)
        ),
        Reason::Churned {
            reason, voluntary, ..
        } => format!(
            "churned ({}): {reason}",
            if *voluntary {
                "left by choice"
            } else {
                "ended by the company"
            }
        ),
    }
}

/// How a cover ended: run out unrenewed, or cancelled.
fn cover_ended(last_day: NaiveDate, cancelled: bool) -> String {
    if cancelled {
        format!("cover cancelled on {last_day}")
    } else {
        format!("cover to {last_day} not renewed")
    }
}

/// One line for a matter that keeps an exit from being final.
pub fn describe_matter(matter: &OpenMatter) -> String {
    match matter {
        OpenMatter::Complaint {
            complaint_id,
            step,
            received_at,
        } => format!(
            "complaint {complaint_id} open at {} since {}",
            crate::analytics::json_name(step),
            received_at.format("%Y-%m-%d")
        ),
        OpenMatter::RefundOutstanding {
            order_id,
            owed,
            refunded,
        } => {
            format!("order {order_id}: {refunded} of {owed} refunded")
        }
        OpenMatter::Unpaid {
            order_id,
            amount,
            paid,
        } => {
            format!("order {order_id}: {paid} of {amount} paid")
        }
    }
}

/// Opens the store and the lifecycle projection, caught up.
pub fn open_lifecycle(ctx: &Context) -> CliResult<(Store, Lifecycle)> {
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default()).map_err(|e| {
        CliError::runtime(
            format!("opening the lifecycle projection: {e}"),
            "run `clientele rebuild lifecycle`",
        )
    })?;
    lifecycle.catch_up().map_err(|e| {
        CliError::runtime(
            format!("updating the lifecycle projection: {e}"),
            "run `clientele verify`",
        )
    })?;
    Ok((store, lifecycle))
}

fn lifecycle_error(doing: &str) -> impl Fn(clientele_lifecycle::LifecycleError) -> CliError + '_ {
    move |e| CliError::runtime(format!("{doing}: {e}"), "run `clientele verify`")
}

// ------------------------------------------------------------------ explain

const EXPLAIN_EXAMPLES: &str = "\
Examples:
  clientele explain 17
  clientele explain plate:京A12345 --as-of 2024-12-31
  clientele explain 17 --known-at 2025-01-15T09:00:00Z --json

The audit view: every lifecycle stage change up to --as-of with its cause — the event
that moved the customer (id, kind) or the elapsed-time rule (which threshold, counted
from which event). With --known-at, only what the log had recorded by then.";

/// Arguments of `clientele explain`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXPLAIN_EXAMPLES)]
pub struct ExplainArgs {
    /// Customer UUID, external id, or identifier (`plate:…`, `phone:…`, `policy:…`, …).
    pub id: String,
    /// Business time of the view (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Only events recorded by this time (what was known then).
    #[arg(long)]
    pub known_at: Option<String>,
    /// The import source of an external id.
    #[arg(long)]
    pub source: Option<String>,
}

/// The event an elapsed-time cause counts from.
#[derive(Debug, Clone, Serialize)]
pub struct ReferencedEvent {
    /// Its kind (`purchase`, `complaint`, …).
    pub kind: &'static str,
    /// Its business time.
    pub occurred_at: String,
    /// The same, for the text.
    #[serde(skip)]
    pub at: DateTime<Utc>,
    /// The last day of the cover it bought (a purchase with `valid_until`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
}

/// The stage timeline of a customer.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainOutput {
    /// The customer.
    pub customer: String,
    /// The business time of the view.
    pub as_of: String,
    /// The recorded time of the view (`None`: everything recorded).
    pub known_at: Option<String>,
    /// The current view.
    pub view: Option<CustomerStage>,
    /// Every stage change, oldest first.
    pub timeline: Vec<StageChange>,
    /// The events elapsed-time causes count from, by event id.
    pub references: BTreeMap<String, ReferencedEvent>,
}

impl ReferencedEvent {
    /// What explain shows of `event`.
    fn of(event: &RecordedEvent) -> Self {
        Self {
            kind: event.kind().name(),
            occurred_at: timestamp(event.occurred_at),
            at: event.occurred_at,
            valid_until: match &event.payload {
                EventPayload::Purchase(p) => p.valid_until,
                _ => None,
            },
        }
    }
}

/// A date, with the time of day when it is not midnight.
fn when(t: DateTime<Utc>) -> String {
    if t.timestamp().rem_euclid(86_400) == 0 && t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// One line for the cause of a stage change: the event's summary, or the
/// elapsed-time rule with its threshold and the event it counts from (kind,
/// date and id).
pub fn describe_cause(cause: &Cause, references: &BTreeMap<String, ReferencedEvent>) -> String {
    match cause {
        Cause::Event { summary, .. } => summary.clone(),
        Cause::Elapsed {
            rule,
            threshold_secs,
            reference,
        } => {
            let id = reference.to_string();
            let referenced = references.get(&id);
            let from = match referenced {
                Some(r) => format!("the {} of {} ({id})", r.kind, when(r.at)),
                None => format!("event {id}"),
            };
            // A cover rule's threshold counts from the purchase; say how long
            // after the cover's end instead, which is what the rule is about.
            let ended = referenced
                .filter(|_| rule.is_cover_lapse())
                .and_then(|r| Some((r.at, r.valid_until?)))
                .and_then(|(at, last_day)| {
                    let end = last_day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
                    let grace =
                        (at + chrono::Duration::seconds(*threshold_secs) - end).num_seconds();
                    Some((last_day, grace))
                });
            match ended {
                Some((last_day, grace)) => format!(
                    "{}: {} after the cover to {last_day} ended, bought with {from}",
                    rule.as_str(),
                    Threshold(grace)
                ),
                None => format!(
                    "{}: {} after {from}",
                    rule.as_str(),
                    Threshold(*threshold_secs)
                ),
            }
        }
    }
}

impl Render for ExplainOutput {
    fn render(&self, out: &mut String) {
        match &self.view {
            Some(v) => out.push_str(&format!(
                "customer {}: {}{} since {} ({}, {})\n",
                self.customer,
                v.stage,
                if v.exit_pending {
                    " (exit pending: matters still open)"
                } else {
                    ""
                },
                v.since.format("%Y-%m-%d %H:%M"),
                count(v.purchases, "purchase"),
                count(v.referrals, "referral")
            )),
            None => out.push_str(&format!("customer {}: no events by then\n", self.customer)),
        }
        out.push_str(&format!(
            "  view: as of {}, {}\n",
            self.as_of,
            match &self.known_at {
                Some(r) => format!("known at {r}"),
                None => "everything recorded".to_owned(),
            }
        ));
        if let Some(v) = &self.view {
            for r in &v.reasons {
                out.push_str(&format!("  because: {}\n", describe_reason(r)));
            }
            for m in &v.open_matters {
                out.push_str(&format!("  open: {}\n", describe_matter(m)));
            }
            out.push_str("history:\n");
        }
        for c in &self.timeline {
            let from = c.from.map(|s| s.to_string()).unwrap_or_else(|| "—".into());
            out.push_str(&format!(
                "  {}  {:>11} → {:<11}{}  {}\n",
                c.at.format("%Y-%m-%d %H:%M"),
                from,
                c.to.to_string(),
                if c.exit_pending { " (pending)" } else { "" },
                describe_cause(&c.cause, &self.references)
            ));
        }
    }
}

/// The events among `events` that the elapsed-time causes of `changes` count from.
pub fn referenced_events<'a>(
    events: impl IntoIterator<Item = &'a RecordedEvent>,
    changes: &[&StageChange],
) -> BTreeMap<String, ReferencedEvent> {
    let wanted: std::collections::BTreeSet<EventId> = changes
        .iter()
        .filter_map(|c| match &c.cause {
            Cause::Elapsed { reference, .. } => Some(*reference),
            Cause::Event { .. } => None,
        })
        .collect();
    if wanted.is_empty() {
        return BTreeMap::new();
    }
    events
        .into_iter()
        .filter(|e| wanted.contains(&e.event_id))
        .map(|e| (e.event_id.to_string(), ReferencedEvent::of(e)))
        .collect()
}

/// The events the elapsed-time causes of `timeline` count from, each looked
/// up by its id.
fn references(
    store: &Store,
    timeline: &[StageChange],
) -> CliResult<BTreeMap<String, ReferencedEvent>> {
    let mut out = BTreeMap::new();
    for change in timeline {
        let Cause::Elapsed { reference, .. } = &change.cause else {
            continue;
        };
        let id = reference.to_string();
        if out.contains_key(&id) {
            continue;
        }
        let event = store
            .event(*reference)
            .map_err(|e| CliError::from_core(e, "reading the referenced events"))?;
        if let Some(event) = event {
            out.insert(id, ReferencedEvent::of(&event));
        }
    }
    Ok(out)
}

/// Runs `explain`.
pub fn explain(ctx: &Context, args: &ExplainArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let (store, lifecycle) = open_lifecycle(ctx)?;
    let customer = crate::identity::resolve(&store, &args.id, args.source.as_deref())?;
    let (view, timeline) = match known_at {
        Some(r) => (
            lifecycle
                .view_known_at(customer, as_of, r)
                .map_err(lifecycle_error("the stage view"))?,
            lifecycle
                .explain_known_at(customer, as_of, r)
                .map_err(lifecycle_error("the stage timeline"))?,
        ),
        None => (
            lifecycle
                .view(customer, as_of)
                .map_err(lifecycle_error("the stage view"))?,
            lifecycle
                .explain(customer, as_of)
                .map_err(lifecycle_error("the stage timeline"))?,
        ),
    };
    let references = references(&store, &timeline)?;
    Ok(CommandOutput::new(&ExplainOutput {
        customer: customer.to_string(),
        as_of: timestamp(as_of),
        known_at: known_at.map(timestamp),
        view,
        timeline,
        references,
    }))
}

// ------------------------------------------------------------------ lookup

const LOOKUP_EXAMPLES: &str = "\
Examples:
  clientele lookup 京A12345
  clientele lookup plate:京A12345          # only as a licence plate (also policy:, phone:, …)
  clientele lookup --plate-suffix 345
  clientele lookup PA2024000123 --json
  clientele lookup 13691658713 --as-of 2025-06-30   # the stage as of that day

Finds customers by any identifier carried in their profile events — licence plate,
policy number, national id, phone, e-mail, external id — exactly, or by the end of a
licence plate (the insurer's lookup, 001 L5-6). Each customer found is printed with
their external id, their lifecycle stage as of --as-of (default: now) and the
identifier that matched. When nobody holds the identifier now, the customers who
held it before are shown, marked \"former\" (a sold car's plate, an old phone).

Exit codes: 0 when at least one customer is found; 3 when nobody matches (the
message goes to stderr; with --json, `ok` is false).";

/// Arguments of `clientele lookup`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = LOOKUP_EXAMPLES)]
pub struct LookupArgs {
    /// The identifier (any kind, or one kind with a prefix: plate:, policy:,
    /// national_id:, phone:, email:, external:).
    #[arg(required_unless_present = "plate_suffix")]
    pub identifier: Option<String>,
    /// Find licence plates ending with this.
    #[arg(long, conflicts_with = "identifier")]
    pub plate_suffix: Option<String>,
    /// Business time of the stage shown for each customer (default: now; a
    /// date means the end of that day).
    #[arg(long)]
    pub as_of: Option<String>,
}

/// A customer found, with the identifier that matched.
#[derive(Debug, Clone, Serialize)]
pub struct LookupMatch {
    /// The customer.
    pub customer: String,
    /// Their external id (empty when none).
    pub external_id: String,
    /// Their stage as of the lookup's `as_of` (None: no event by then).
    pub stage: Option<String>,
    /// The kind of identifier that matched (`licence_plate`, `policy_number`, …).
    pub kind: IdentifierKind,
    /// Its value, normalised as the index holds it.
    pub value: String,
    /// The customer held it before but holds another now (nobody holds it
    /// now: a sold car's plate, a changed phone number).
    pub former: bool,
}

/// Customers found.
#[derive(Debug, Clone, Serialize)]
pub struct LookupOutput {
    /// What was looked up.
    pub query: String,
    /// The business time of the stages shown.
    pub as_of: String,
    /// The customers, each with their stage as of `as_of` (customer-id order).
    pub customers: Vec<(String, Option<String>)>,
    /// Every match: customer, stage and the identifier that matched.
    pub matches: Vec<LookupMatch>,
}

/// Words for an identifier kind.
pub fn identifier_label(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::LicencePlate => "licence plate",
        IdentifierKind::PolicyNumber => "policy number",
        IdentifierKind::NationalId => "national id",
        IdentifierKind::Phone => "phone",
        IdentifierKind::Email => "e-mail",
        IdentifierKind::External => "external id",
    }
}

impl Render for LookupOutput {
    fn render(&self, out: &mut String) {
        for m in &self.matches {
            out.push_str(&format!(
                "{}  {:<10}  {:<11}  {}{} {}\n",
                m.customer,
                m.external_id,
                m.stage.as_deref().unwrap_or("-"),
                if m.former { "former " } else { "" },
                identifier_label(m.kind),
                m.value
            ));
        }
    }
}

/// Runs `lookup`. Nobody found is an error (exit code 3), reported after the
/// (empty) result.
pub fn lookup(ctx: &Context, args: &LookupArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let (store, lifecycle) = open_lifecycle(ctx)?;
    let lookup_error = lifecycle_error("the identifier lookup");
    // (customer, kind, normalised value, held formerly), in customer-id
    // then kind order.
    let mut found: Vec<(CustomerId, IdentifierKind, String, bool)> = Vec::new();
    let index = external_ids(&store)?;
    let query = match (&args.identifier, &args.plate_suffix) {
        (_, Some(suffix)) => {
            for c in lifecycle
                .lookup_plate_suffix(suffix)
                .map_err(&lookup_error)?
            {
                let plate = lifecycle
                    .state(c)
                    .map_err(&lookup_error)?
                    .and_then(|s| s.identity().licence_plate().map(str::to_owned))
                    .unwrap_or_default();
                found.push((c, IdentifierKind::LicencePlate, plate, false));
            }
            format!("a licence plate ending in {}", suffix.trim())
        }
        (Some(id), None) => {
            // `plate:…`, `policy:…`, `phone:…` (as `customer` accepts) or a bare value.
            let typed = crate::identity::typed(id);
            let (kinds, value): (Vec<IdentifierKind>, &str) = match typed {
                Some((kind, value)) => (vec![kind], value),
                None => (IdentifierKind::ALL.to_vec(), id.as_str()),
            };
            // The value in each kind's normal form (a kind that leaves
            // nothing of it is not tried).
            let normals: Vec<(IdentifierKind, String)> = kinds
                .iter()
                .filter_map(|kind| Some((*kind, kind.normalise(value)?)))
                .collect();
            if normals.is_empty() {
                return Err(CliError::usage(
                    format!("nothing to look up in {id:?}"),
                    "give an identifier such as a plate, policy number or phone, or --plate-suffix",
                ));
            }
            for (kind, normal) in &normals {
                for c in lifecycle.lookup_by(*kind, normal).map_err(&lookup_error)? {
                    found.push((c, *kind, normal.clone(), false));
                }
            }
            // Nobody holds it now: whoever held it before (a sold car's
            // plate, an old phone number), from the index of every
            // identifier a customer ever had.
            if found.is_empty() {
                crate::identity::purge_if_erased(&store, &index)?;
                for (kind, normal) in &normals {
                    let Some(term) = crate::identity::term(*kind, normal) else {
                        continue;
                    };
                    let holders = index
                        .lookup(&term)
                        .map_err(|e| CliError::from_core(e, "the identifier index"))?;
                    for c in holders {
                        found.push((c, *kind, normal.clone(), true));
                    }
                }
            }
            match typed {
                Some((kind, value)) => format!("the {} {}", identifier_label(kind), value.trim()),
                None => format!("{:?} (as any kind of identifier)", id.trim()),
            }
        }
        (None, None) => {
            return Err(CliError::usage(
                "nothing to look up",
                "give an identifier or --plate-suffix",
            ))
        }
    };
    found.sort();
    found.dedup();
    let mut stages: BTreeMap<CustomerId, Option<String>> = BTreeMap::new();
    for (c, _, _, _) in &found {
        if !stages.contains_key(c) {
            let stage = lifecycle
                .view(*c, as_of)
                .map_err(&lookup_error)?
                .map(|v| v.stage.to_string());
            stages.insert(*c, stage);
        }
    }
    let matches: Vec<LookupMatch> = found
        .into_iter()
        .map(|(c, kind, value, former)| {
            Ok(LookupMatch {
                customer: c.to_string(),
                external_id: external_id(&index, c)?,
                stage: stages.get(&c).cloned().flatten(),
                kind,
                value,
                former,
            })
        })
        .collect::<CliResult<_>>()?;
    let customers = stages
        .into_iter()
        .map(|(c, stage)| (c.to_string(), stage))
        .collect();
    let nobody = matches.is_empty();
    let output = CommandOutput::new(&LookupOutput {
        query: query.clone(),
        as_of: timestamp(as_of),
        customers,
        matches,
    });
    if nobody {
        return Ok(output.with_error(CliError::input(
            format!("no customer found for {query}"),
            "check the identifier (plates and policy numbers ignore case and separators), or try `clientele lookup --plate-suffix` with the plate's last characters",
        )));
    }
    Ok(output)
}

// ------------------------------------------------------------------ renewals

const RENEWALS_EXAMPLES: &str = "\
Examples:
  clientele renewals --from 2025-07-01 --to 2025-07-31
  clientele renewals --from 2025-07-01 --to 2025-07-01 --json
  clientele renewals --from 2025-07-01 --to 2025-07-31 --known-at 2025-06-15   # as printed on 15 June

The renewal-due list (001 L5-6): policies whose cover ends between --from and --to,
with the customer (UUID and external id) and their latest stated intent (continue /
not renewing / considering; JSON: continue, not_renewing, considering).";

/// Arguments of `clientele renewals`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = RENEWALS_EXAMPLES)]
pub struct RenewalsArgs {
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// Last day (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub to: String,
    /// Recorded time: the list as it stood at R, from the events recorded by
    /// then (renewals bought and intents stated later are left out).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,
}

/// The renewal-due list.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalsOutput {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The recorded time the list is as known at, when not now (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// The policies due.
    pub due: Vec<ListedRenewal>,
}

/// A policy due, with its customer's external id.
#[derive(Debug, Clone, Serialize)]
pub struct ListedRenewal {
    /// The policy due.
    #[serde(flatten)]
    pub due: RenewalDue,
    /// The customer's external id (empty when none or erased).
    pub external_id: String,
}

/// A renewal intent for people.
fn intent_words(intent: Option<RenewalIntent>) -> &'static str {
    match intent {
        Some(RenewalIntent::Continue) => "continue",
        Some(RenewalIntent::NotRenewing) => "not renewing",
        Some(RenewalIntent::Considering) => "considering",
        None => "(no intent)",
    }
}

impl Render for RenewalsOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "{} due {} … {}{}\n",
            count(self.due.len(), "policy"),
            self.from,
            self.to,
            self.known_at
                .as_deref()
                .map(|k| format!(", as known at {k}"))
                .unwrap_or_default()
        ));
        let width = self
            .due
            .iter()
            .map(|d| d.external_id.chars().count())
            .max()
            .unwrap_or(0);
        for listed in &self.due {
            let d = &listed.due;
            out.push_str(&format!(
                "{}  {:<16} {}  {:<width$}  {}\n",
                d.valid_until,
                d.policy_number,
                d.customer,
                listed.external_id,
                intent_words(d.intent),
            ));
        }
    }
}

/// Runs `renewals`.
pub fn renewals(ctx: &Context, args: &RenewalsArgs) -> CliResult<CommandOutput> {
    let date = |flag: &str, s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|e| CliError::usage(format!("--{flag}: {s:?}: {e}"), "dates are YYYY-MM-DD"))
    };
    let (from, to) = (date("from", &args.from)?, date("to", &args.to)?);
    if to < from {
        return Err(CliError::usage("--to is before --from", "swap them"));
    }
    let known_at = known_at_arg(args.known_at.as_deref())?;
    let (store, lifecycle) = open_lifecycle(ctx)?;
    let due = match known_at {
        Some(r) => lifecycle.renewals_due_known_at(from, to, r),
        None => lifecycle.renewals_due(from, to),
    }
    .map_err(lifecycle_error("the renewal list"))?;
    let index = external_ids(&store)?;
    let due = due
        .into_iter()
        .map(|due| {
            Ok(ListedRenewal {
                external_id: external_id(&index, due.customer)?,
                due,
            })
        })
        .collect::<CliResult<_>>()?;
    Ok(CommandOutput::new(&RenewalsOutput {
        from,
        to,
        known_at: known_at.map(crate::output::timestamp),
        due,
    }))
}
