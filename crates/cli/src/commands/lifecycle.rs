//! Lifecycle commands: `explain`, `lookup`, `renewals` (crates/lifecycle).

use chrono::NaiveDate;
use clientele_core::Store;
use clientele_lifecycle::{
    CustomerStage, IdentifierKind, Lifecycle, LifecyclePolicy, OpenMatter, Reason, RenewalDue,
    StageChange,
};
use serde::Serialize;

use crate::commands::{time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::output::{CommandOutput, Render};

/// One line for a reason a customer is in their stage.
pub fn describe_reason(reason: &Reason) -> String {
    let days = |secs: i64| secs / 86_400;
    match reason {
        Reason::NoPurchaseYet => "known, no purchase yet".into(),
        Reason::HasPurchased { purchases } => format!("{purchases} purchase(s)"),
        Reason::SteadyRepeatBuying {
            purchases,
            span_days,
        } => {
            format!("steady repeat buying: {purchases} purchases over {span_days} days")
        }
        Reason::ReferralAndRepeat {
            referrals,
            purchases,
        } => {
            format!("{referrals} referral(s) and {purchases} purchases")
        }
        Reason::Inactive {
            last_activity,
            threshold_secs,
            ..
        } => format!(
            "no purchase or win-back since {} (decline horizon {} days)",
            last_activity.format("%Y-%m-%d"),
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
            "no purchase or win-back since {} (exit horizon {} days)",
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

/// The stage timeline of a customer.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainOutput {
    /// The customer.
    pub customer: String,
    /// The current view.
    pub view: Option<CustomerStage>,
    /// Every stage change, oldest first.
    pub timeline: Vec<StageChange>,
}

impl Render for ExplainOutput {
    fn render(&self, out: &mut String) {
        match &self.view {
            Some(v) => out.push_str(&format!(
                "customer {}: {}{} since {} ({} purchases, {} referrals)\n",
                self.customer,
                v.stage,
                if v.exit_pending {
                    " (exit pending: matters still open)"
                } else {
                    ""
                },
                v.since.format("%Y-%m-%d %H:%M"),
                v.purchases,
                v.referrals
            )),
            None => out.push_str(&format!("customer {}: no events by then\n", self.customer)),
        }
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
                c.cause
            ));
        }
    }
}

/// Runs `explain`.
pub fn explain(ctx: &Context, args: &ExplainArgs) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = args
        .known_at
        .as_deref()
        .map(|t| time_arg("known-at", Some(t)))
        .transpose()?;
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
    Ok(CommandOutput::new(&ExplainOutput {
        customer: customer.to_string(),
        view,
        timeline,
    }))
}

// ------------------------------------------------------------------ lookup

const LOOKUP_EXAMPLES: &str = "\
Examples:
  clientele lookup 京A12345
  clientele lookup --plate-suffix 345
  clientele lookup PA2024000123 --json

Finds customers by any identifier carried in their profile events — licence plate,
policy number, national id, phone, e-mail, external id — exactly, or by the end of a
licence plate (the insurer's lookup, 001 L5-6).";

/// Arguments of `clientele lookup`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = LOOKUP_EXAMPLES)]
pub struct LookupArgs {
    /// The identifier (any kind).
    #[arg(required_unless_present = "plate_suffix")]
    pub identifier: Option<String>,
    /// Find licence plates ending with this.
    #[arg(long, conflicts_with = "identifier")]
    pub plate_suffix: Option<String>,
}

/// Customers found.
#[derive(Debug, Clone, Serialize)]
pub struct LookupOutput {
    /// What was looked up.
    pub query: String,
    /// The customers, each with their current stage.
    pub customers: Vec<(String, Option<String>)>,
}

impl Render for LookupOutput {
    fn render(&self, out: &mut String) {
        if self.customers.is_empty() {
            out.push_str(&format!("no customer found for {}\n", self.query));
        }
        for (c, stage) in &self.customers {
            out.push_str(&format!("{c}  {}\n", stage.as_deref().unwrap_or("")));
        }
    }
}

/// Runs `lookup`.
pub fn lookup(ctx: &Context, args: &LookupArgs) -> CliResult<CommandOutput> {
    let (_store, lifecycle) = open_lifecycle(ctx)?;
    let (query, found) = match (&args.identifier, &args.plate_suffix) {
        (_, Some(suffix)) => (
            format!("plate suffix {suffix}"),
            lifecycle.lookup_plate_suffix(suffix),
        ),
        (Some(id), None) => {
            // `plate:…`, `policy:…`, `phone:…` (as `customer` accepts) or a bare value.
            let kinds = [
                ("plate:", IdentifierKind::LicencePlate),
                ("policy:", IdentifierKind::PolicyNumber),
                ("national_id:", IdentifierKind::NationalId),
                ("id:", IdentifierKind::NationalId),
                ("phone:", IdentifierKind::Phone),
                ("email:", IdentifierKind::Email),
                ("external:", IdentifierKind::External),
                ("ext:", IdentifierKind::External),
            ];
            let typed = kinds
                .iter()
                .find_map(|(prefix, kind)| id.strip_prefix(prefix).map(|v| (*kind, v)));
            let found = match typed {
                Some((kind, value)) => lifecycle.lookup_by(kind, value),
                None => lifecycle.lookup(id),
            };
            (id.clone(), found)
        }
        (None, None) => {
            return Err(CliError::usage(
                "nothing to look up",
                "give an identifier or --plate-suffix",
            ))
        }
    };
    let found = found.map_err(lifecycle_error("the identifier lookup"))?;
    let now = time_arg("as-of", None)?;
    let customers = found
        .into_iter()
        .map(|c| {
            let stage = lifecycle
                .view(c, now)
                .ok()
                .flatten()
                .map(|v| v.stage.to_string());
            (c.to_string(), stage)
        })
        .collect();
    Ok(CommandOutput::new(&LookupOutput { query, customers }))
}

// ------------------------------------------------------------------ renewals

const RENEWALS_EXAMPLES: &str = "\
Examples:
  clientele renewals --from 2025-07-01 --to 2025-07-31
  clientele renewals --from 2025-07-01 --to 2025-07-01 --json

The renewal-due list (001 L5-6): policies whose cover ends between --from and --to,
with the customer's latest stated intent (continue / not renewing / considering).";

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
}

/// The renewal-due list.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalsOutput {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The policies due.
    pub due: Vec<RenewalDue>,
}

impl Render for RenewalsOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "{} policies due {} … {}\n",
            self.due.len(),
            self.from,
            self.to
        ));
        for d in &self.due {
            let intent = d
                .intent
                .map(|i| serde_json::to_string(&i).unwrap_or_default())
                .unwrap_or_else(|| "(no intent)".into());
            out.push_str(&format!(
                "{}  {:<16} {}  {}\n",
                d.valid_until,
                d.policy_number,
                d.customer,
                intent.trim_matches('"')
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
    let (_store, lifecycle) = open_lifecycle(ctx)?;
    let due = lifecycle
        .renewals_due(from, to)
        .map_err(lifecycle_error("the renewal list"))?;
    Ok(CommandOutput::new(&RenewalsOutput { from, to, due }))
}
