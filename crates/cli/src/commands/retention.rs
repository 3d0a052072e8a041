//! `clientele retention --class CLASS --keep-years N [--as-of T]`: erase one
//! class of personal data older than N full calendar years, for every
//! customer ([`Store::apply_retention`](clientele_core::Store::apply_retention),
//! docs/privacy.md).

use chrono::{DateTime, Utc};
use clientele_core::privacy::DataClass;
use clientele_core::store::RetentionRule;
use clientele_core::{ActorKind, Metadata};
use serde::Serialize;

use crate::commands::forget::update_identifier_index;
use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::import::record::parse_time;
use crate::output::{timestamp, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele retention --class contact_notes --keep-years 3
  clientele retention --class complaint_narrative --keep-years 5 --actor dpo-01
  clientele retention --class prospect --keep-years 1 --as-of 2025-12-31 --json

Data keys cover one calendar year, so data is erased by whole years: --keep-years 3 applied in
2025 erases that class for events dated 2021 and earlier. Erased fields become unreadable for
good, even with the master key; amounts, dates and steps stay. Each customer affected gets one
`erasure` event. Applying the same rule again erases nothing new (0 customers).
Classes: identity (profile fields), contact_notes (contact.note), complaint_narrative
(complaint.cause/resolution), prospect (referral prospect), policy_identifier
(purchase.policy_number).";

/// The classes of personal data (`clientele_core::privacy::DataClass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ClassArg {
    /// Profile fields: names, contact details, ids, plates, birthday.
    Identity,
    /// Free-text contact notes.
    ContactNotes,
    /// Complaint causes and resolutions.
    ComplaintNarrative,
    /// A referral's prospect reference (a third party).
    Prospect,
    /// Policy numbers on purchases.
    PolicyIdentifier,
}

impl From<ClassArg> for DataClass {
    fn from(c: ClassArg) -> Self {
        match c {
            ClassArg::Identity => DataClass::Identity,
            ClassArg::ContactNotes => DataClass::ContactNotes,
            ClassArg::ComplaintNarrative => DataClass::ComplaintNarrative,
            ClassArg::Prospect => DataClass::Prospect,
            ClassArg::PolicyIdentifier => DataClass::PolicyIdentifier,
        }
    }
}

/// Arguments of `clientele retention`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The class of personal data to erase.
    #[arg(long, value_enum, value_name = "CLASS")]
    pub class: ClassArg,

    /// Full calendar years kept before the current one (of --as-of).
    #[arg(long, value_name = "N")]
    pub keep_years: u16,

    /// Apply the rule as of T (RFC 3339 or a date; default: now).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// Who applies the rule (staff number, job name); recorded in the log.
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
}

/// What a retention run did.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionOutput {
    /// The class (snake_case).
    pub class: DataClass,
    /// Years kept.
    pub keep_years: u16,
    /// When the rule was applied.
    pub as_of: String,
    /// Data of this class dated in years strictly before this one was erased.
    pub before_year: i16,
    /// Customers who had data erased (one erasure event each).
    pub customers: u64,
}

impl Render for RetentionOutput {
    fn render(&self, out: &mut String) {
        let class = serde_json::to_value(self.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "retention {class}, keep {}, as of {}: data dated before {} ",
            crate::output::count(self.keep_years, "year"),
            self.as_of,
            self.before_year
        ));
        if self.customers == 0 {
            out.push_str("— nothing to erase\n");
        } else {
            out.push_str(&format!(
                "erased for {} (one erasure event each)\n",
                crate::output::count(self.customers, "customer")
            ));
        }
    }
}

/// Runs the command.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let as_of: DateTime<Utc> = match &args.as_of {
        Some(t) => parse_time(t).map_err(|reason| {
            CliError::usage(
                format!("--as-of: {reason}"),
                "e.g. 2025-12-31 or 2025-12-31T23:59:59Z",
            )
        })?,
        None => DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default(),
    };
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let actor_id = args
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let metadata = Metadata {
        actor: if actor_id.is_some() {
            ActorKind::Staff
        } else {
            ActorKind::System
        },
        actor_id,
        source: Some("cli:retention".into()),
        ..Metadata::default()
    };
    let store = ctx.open(OpenMode::Write)?;
    let class = DataClass::from(args.class);
    let rule = RetentionRule {
        class,
        keep_years: args.keep_years,
    };
    let report = store
        .apply_retention(&rule, as_of, metadata)
        .map_err(|e| CliError::from_core(e, "applying the retention rule"))?;
    if report.customers > 0 {
        // The identifier index derives from identity data: let it fold the
        // erasure events, then purge its old entries.
        update_identifier_index(&store, None)?;
    }
    Ok(CommandOutput::new(&RetentionOutput {
        class,
        keep_years: args.keep_years,
        as_of: timestamp(as_of),
        before_year: report.before_year,
        customers: report.customers as u64,
    }))
}
