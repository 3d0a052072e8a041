//! `clientele forget CUSTOMER --reason TEXT [--actor ID]`: erase every
//! personal field of one customer (crypto-shredding, docs/privacy.md).
//!
//! [`Store::forget`] destroys the customer's data keys and records an
//! `erasure` event in one commit; this command then lets the CLI's identifier
//! index ([`identity::Identifiers`]) fold that event — dropping the customer's
//! plates, phones and ids — and purges the store so the old index entries and
//! key bytes are compacted off the disk.

use clientele_core::privacy::PersonalData;
use clientele_core::projection::Projector;
use clientele_core::{ActorKind, AppendStatus, CustomerId, Metadata, Store};
use serde::Serialize;

use crate::commands::{Context, OpenMode};
use crate::error::{CliError, CliResult, ExitCode};
use crate::identity::{self, Identifiers};
use crate::output::{CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele forget D-000042 --reason \"GDPR art. 17 request #2025-118\" --actor staff-07
  clientele forget plate:京A12345 --reason \"customer asked by phone\"
  clientele forget 5f0c…-… --reason \"duplicate record\" --json

The customer is named like in `clientele customer`: a UUID, an external id, or phone:, plate:,
policy:, email:, national_id:. Every personal field of the customer (names, phones, ids, plates,
notes, complaint narratives, policy numbers) becomes unreadable for good, even with the master
key; amounts, dates, kinds and steps stay, so analytics and `verify` are unaffected. An `erasure`
event records who (--actor), when and why (--reason). Forgetting again changes nothing and exits 0.
After an erasure the customer is found only by UUID (or `--source NAME ID`): keep the UUID it
prints. Backups taken before the erasure still hold the keys (docs/privacy.md).";

/// Arguments of `clientele forget`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The customer: a UUID, an external id, or a typed identifier such as plate:京A12345.
    #[arg(value_name = "CUSTOMER")]
    pub customer: String,

    /// Why the data is erased (the request, the legal basis); recorded in the log.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// Who asked for the erasure (staff number, ticket owner); recorded in the log.
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,

    /// Treat CUSTOMER as an external id of system NAME (as given to `import --source`).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
}

/// What `forget` did.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetReport {
    /// The customer UUID.
    pub customer_id: String,
    /// `forgotten` (erased now) or `already_forgotten` (nothing written).
    pub status: &'static str,
    /// Global position of the erasure event.
    pub erasure_position: u64,
    /// The customer's events (all kept; their personal fields now read as erased).
    pub events: u64,
    /// Events whose personal fields were readable before and are erased now.
    pub events_erased: u64,
    /// Identifier index entries (plates, phones, ids…) dropped.
    pub identifiers_removed: u64,
    /// The recorded reason.
    pub reason: String,
    /// The recorded actor id.
    pub actor: Option<String>,
}

impl Render for ForgetReport {
    fn render(&self, out: &mut String) {
        if self.status == "already_forgotten" {
            out.push_str(&format!(
                "customer {} was already forgotten (erasure event at position {}); nothing written\n",
                self.customer_id, self.erasure_position
            ));
            return;
        }
        out.push_str(&format!(
            "forgot customer {}: erasure event at position {}\n",
            self.customer_id, self.erasure_position
        ));
        out.push_str(&format!(
            "  personal fields erased in {} of {}; {} removed from the index\n",
            crate::output::thousands(self.events_erased),
            crate::output::count(self.events, "event"),
            crate::output::count(self.identifiers_removed, "identifier")
        ));
        out.push_str(&format!("  reason: {}\n", self.reason));
        if let Some(actor) = &self.actor {
            out.push_str(&format!("  actor: {actor}\n"));
        }
        out.push_str(
            "  the customer is now found by UUID only; backups taken before now still hold the keys (docs/privacy.md)\n",
        );
    }
}

/// Lets the identifier index and every projection fold new erasure events
/// (the lifecycle projection keeps plates, policy numbers and ids for lookup),
/// then purges so their old entries leave the disk. Returns the terms
/// `customer` had before.
pub fn update_identifier_index(store: &Store, customer: Option<CustomerId>) -> CliResult<u64> {
    // Caught up (and refolded where erased) before the purge below.
    drop(crate::analytics::Analytics::open(store)?);
    let mut projector = Projector::open(store, Identifiers::default())
        .map_err(|e| CliError::from_core(e, "opening the identifier index"))?;
    let before = match customer {
        Some(c) => projector
            .state(c)
            .map_err(|e| CliError::from_core(e, "reading the identifier index"))?
            .map(|s| s.len() as u64)
            .unwrap_or(0),
        None => 0,
    };
    projector
        .catch_up()
        .map_err(|e| CliError::from_core(e, "updating the identifier index"))?;
    let after = match customer {
        Some(c) => projector
            .state(c)
            .map_err(|e| CliError::from_core(e, "reading the identifier index"))?
            .map(|s| s.len() as u64)
            .unwrap_or(0),
        None => 0,
    };
    identity::purge_if_erased(store, &projector)?;
    Ok(before.saturating_sub(after))
}

/// Runs the command.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(CliError::usage(
            "--reason must say why the data is erased",
            "e.g. --reason \"GDPR art. 17 request #2025-118\"",
        ));
    }
    let actor = args
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let customer = identity::resolve(&store, &args.customer, args.source.as_deref()).map_err(
        |e| {
            if e.kind == ExitCode::Input && e.message.starts_with("no customer found") {
                CliError::input(
                    e.message,
                    "give a customer UUID, an external id, or phone:…, plate:…; a customer already forgotten is found only by UUID or --source NAME ID",
                )
            } else {
                e
            }
        },
    )?;
    let read = |e| CliError::from_core(e, "reading the customer's stream");
    let before = store.read_stream(customer).map_err(read)?;
    let readable = before
        .iter()
        .filter(|e| e.personal_data == PersonalData::Available)
        .count() as u64;
    let metadata = Metadata {
        actor: ActorKind::Staff,
        actor_id: actor.clone(),
        source: Some("cli:forget".into()),
        ..Metadata::default()
    };
    let outcome = store
        .forget(customer, reason, metadata)
        .map_err(|e| CliError::from_core(e, "forgetting the customer"))?;
    let erasure_position = outcome.last_position().unwrap_or_default();
    let identifiers_removed = update_identifier_index(&store, Some(customer))?;
    let after = store.read_stream(customer).map_err(read)?;
    let still_readable = after
        .iter()
        .filter(|e| e.personal_data == PersonalData::Available)
        .count() as u64;
    let already = outcome.status == AppendStatus::AlreadyAppended;
    let (recorded_reason, recorded_actor) = if already {
        after
            .iter()
            .find(|e| e.position == erasure_position)
            .map(|e| {
                let r = match &e.payload {
                    clientele_core::EventPayload::Erasure(x) => x.reason.clone(),
                    _ => String::new(),
                };
                (r, e.metadata.actor_id.clone())
            })
            .unwrap_or_default()
    } else {
        (reason.to_owned(), actor)
    };
    Ok(CommandOutput::new(&ForgetReport {
        customer_id: customer.to_string(),
        status: if already {
            "already_forgotten"
        } else {
            "forgotten"
        },
        erasure_position,
        events: after.len() as u64,
        events_erased: readable.saturating_sub(still_readable),
        identifiers_removed,
        reason: recorded_reason,
        actor: recorded_actor,
    }))
}
