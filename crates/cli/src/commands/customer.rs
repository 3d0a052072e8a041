//! `clientele customer ID|EXTERNAL_ID [--as-of T] [--known-at R]`: one
//! customer's profile, purchase totals and timeline, as of a business time and
//! as known at a recorded time.
//!
//! ## Extension point: report sections
//!
//! The lifecycle, loyalty, value, churn and complaint crates each add a
//! section (stage, loyalty, value, risk, complaints) by implementing
//! [`CustomerSection`] and registering it in [`sections`]. A section gets the
//! customer's events filtered to the view ([`SectionInput`]) and returns a
//! JSON value plus a few lines of text; it appears under its
//! [`CustomerSection::key`] in `--json` output and under its title in the
//! text.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::ComplaintStep;
use clientele_core::{CustomerId, EventPayload, Money, RecordedEvent, Store};
use serde::{Serialize, Serializer};

use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::identity;
use crate::output::{
    count, group_decimal, short_time, thousands, timestamp, CommandOutput, Render,
};

const EXAMPLES: &str = "\
Examples:
  clientele customer D-000042                        # an external id
  clientele customer 5f0c…-…                         # a customer UUID
  clientele customer plate:京A12345                  # phone:, email:, policy:, national_id: too
  clientele customer D-000042 --as-of 2024-12-31     # what was true at the end of 2024
  clientele customer D-000042 --known-at 2025-01-01T00:00:00Z   # what the log knew then
  clientele --db /tmp/cdnow customer 1 --source cdnow

--as-of T keeps the events that occurred at or before T (business time); --known-at R keeps
those recorded at or before R (append time). Both take RFC 3339 times or dates (a date means the end of that day, 23:59:59.999999Z).";

/// Arguments of `clientele customer`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// A customer UUID, an external id, or a typed identifier such as plate:京A12345.
    #[arg(value_name = "ID|EXTERNAL_ID")]
    pub id: String,

    /// Business time of the view: events that occurred at or before T (default: now).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// Recorded time of the view: events the log held at R (default: everything).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,

    /// Treat ID as an external id of system NAME (as given to `import --source`).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// Show at most the last N timeline entries (0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: usize,
}

/// What every section sees.
pub struct SectionInput<'a> {
    /// The customer.
    pub customer: CustomerId,
    /// Their events in the view, in business-time order (`occurred_at`, then event id).
    pub events: &'a [RecordedEvent],
    /// The business time of the view.
    pub as_of: DateTime<Utc>,
    /// The recorded time of the view, if restricted.
    pub known_at: Option<DateTime<Utc>>,
    /// The store, for sections that keep projections.
    pub store: &'a Store,
    /// The projections, caught up — `None` when the store could only be
    /// opened read-only (another process writes to it).
    pub analytics: Option<&'a crate::analytics::Analytics>,
}

impl SectionInput<'_> {
    /// The view's point in both times, for population reads (a model fitted
    /// on the population, referral conversions): as known at the view's
    /// recorded time when it has one.
    pub fn at(&self) -> clientele_core::projection::AsOf {
        clientele_core::projection::AsOf {
            occurred: self.as_of,
            known_at: self.known_at,
        }
    }
}

/// A computed section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionOutput {
    /// Machine-readable data.
    pub data: serde_json::Value,
    /// A few lines for people (no trailing newlines).
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// A section of the customer report (stage, loyalty, value, risk…).
pub trait CustomerSection {
    /// The JSON key (`stage`, `loyalty`, `value`, `risk`).
    fn key(&self) -> &'static str;
    /// The heading in text output.
    fn title(&self) -> &'static str;
    /// Computes the section; `None` when it has nothing to say.
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>>;
}

/// The registered sections, in display order.
pub fn sections() -> Vec<Box<dyn CustomerSection>> {
    use crate::analytics::{LoyaltySection, StageSection, ValueRiskSection};
    use crate::commands::complaints::ComplaintSection;
    vec![
        Box::new(ActivitySection),
        Box::new(StageSection),
        Box::new(LoyaltySection),
        Box::new(ValueRiskSection),
        Box::new(ComplaintSection),
    ]
}

/// Counts by kind, first and last event, unanswered complaints.
pub struct ActivitySection;

impl CustomerSection for ActivitySection {
    fn key(&self) -> &'static str {
        "activity"
    }

    fn title(&self) -> &'static str {
        "Activity"
    }

    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let (Some(first), Some(last)) = (input.events.first(), input.events.last()) else {
            return Ok(None);
        };
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        let mut complaints: BTreeMap<&str, (ComplaintStep, DateTime<Utc>)> = BTreeMap::new();
        for e in input.events {
            *by_kind.entry(e.kind().name()).or_default() += 1;
            if let EventPayload::Complaint(c) = &e.payload {
                let entry = complaints
                    .entry(c.complaint_id.as_str())
                    .or_insert((c.step, e.occurred_at));
                entry.0 = entry.0.max(c.step);
            }
        }
        let unanswered: Vec<&str> = complaints
            .iter()
            .filter(|(_, (step, _))| !step.is_resolved())
            .map(|(id, _)| *id)
            .collect();
        let days = (input.as_of - last.occurred_at).num_days().max(0);
        let mut lines = vec![format!(
            "{} from {} to {}; last event {} before the view",
            count(input.events.len(), "event"),
            first.occurred_at.format("%Y-%m-%d"),
            last.occurred_at.format("%Y-%m-%d"),
            count(days, "day")
        )];
        lines.push(
            by_kind
                .iter()
                .map(|(k, n)| format!("{k} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if !complaints.is_empty() {
            lines.push(format!(
                "complaints: {} ({} unanswered{})",
                thousands(complaints.len()),
                thousands(unanswered.len()),
                if unanswered.is_empty() {
                    String::new()
                } else {
                    format!(": {}", unanswered.join(", "))
                }
            ));
        }
        Ok(Some(SectionOutput {
            data: serde_json::json!({
                "events": input.events.len(),
                "first_event": timestamp(first.occurred_at),
                "last_event": timestamp(last.occurred_at),
                "days_since_last_event": days,
                "by_kind": by_kind,
                "complaints": complaints.len(),
                "unanswered_complaints": unanswered,
            }),
            lines,
        }))
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Global position.
    pub position: u64,
    /// Stream version.
    pub version: u64,
    /// Business time.
    pub occurred_at: String,
    /// Append time.
    pub recorded_at: String,
    /// The kind.
    pub kind: &'static str,
    /// A one-line description.
    pub summary: String,
    /// The event id.
    pub event_id: String,
}

/// Purchases and refunds in one currency.
#[derive(Debug, Clone, Serialize)]
pub struct CurrencyTotals {
    /// ISO 4217.
    pub currency: String,
    /// Number of purchases.
    pub purchases: u64,
    /// Sum of purchase amounts (exact).
    pub purchased: String,
    /// Number of refunds.
    pub refunds: u64,
    /// Sum of refunds (exact).
    pub refunded: String,
    /// Purchased − refunded (exact).
    pub net: String,
    /// Average purchase (rounded to the currency's places).
    pub average_purchase: String,
}

/// Purchase totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurchaseTotals {
    /// Per currency.
    pub by_currency: Vec<CurrencyTotals>,
    /// First purchase.
    pub first_purchase: Option<String>,
    /// Last purchase.
    pub last_purchase: Option<String>,
    /// Distinct purchase days.
    pub purchase_days: u64,
    /// Payments made, and how many late.
    pub payments: u64,
    /// Late payments.
    pub late_payments: u64,
    /// Sum of payments (bills, premiums, instalments) per currency (exact).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub paid: BTreeMap<String, String>,
    /// Last payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_payment: Option<String>,
}

/// The current profile (fields replaced by later profile events; lists merged).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileView {
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// National id.
    pub national_id: Option<String>,
    /// Licence plate.
    pub licence_plate: Option<String>,
    /// Policy numbers ever held.
    pub policy_numbers: Vec<String>,
    /// External ids.
    pub external_ids: Vec<String>,
    /// Birthday.
    pub birthday: Option<NaiveDate>,
    /// Segment attributes.
    pub segment: BTreeMap<String, String>,
}

/// The customer report.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerReport {
    /// The customer id.
    pub customer_id: String,
    /// Business time of the view.
    pub as_of: String,
    /// Recorded time of the view.
    pub known_at: Option<String>,
    /// Events in the view / in the stream.
    pub events_in_view: u64,
    /// All events in the stream.
    pub events_total: u64,
    /// Whether the personal fields could be read: `available`, `locked` (no
    /// or wrong master key), `erased` (forgotten), or `none` (no personal data).
    pub personal_data: &'static str,
    /// Profile.
    pub profile: ProfileView,
    /// Purchases.
    pub purchases: PurchaseTotals,
    /// Sections added by other crates (stage, loyalty, value, risk), by key.
    #[serde(serialize_with = "sections_as_map")]
    pub sections: Vec<(String, String, SectionOutput)>,
    /// Timeline in business-time order.
    pub timeline: Vec<TimelineEntry>,
    /// Timeline entries left out by --limit.
    pub timeline_omitted: u64,
}

fn sections_as_map<S: Serializer>(
    sections: &[(String, String, SectionOutput)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(sections.len()))?;
    for (key, _, output) in sections {
        map.serialize_entry(key, &output.data)?;
    }
    map.end()
}

fn money(m: &Money) -> String {
    m.amount().to_string()
}

/// One-line description of an event.
pub fn describe(payload: &EventPayload) -> String {
    fn opt<T: std::fmt::Display>(label: &str, v: &Option<T>) -> String {
        v.as_ref()
            .map(|v| format!(", {label}{v}"))
            .unwrap_or_default()
    }
    match payload {
        EventPayload::Purchase(p) => format!(
            "{} {} {}{}{}{}{}",
            p.order_id,
            group_decimal(&p.amount.to_string()),
            p.currency,
            opt("", &p.category),
            p.quantity.map(|q| format!(" ×{q}")).unwrap_or_default(),
            if p.renewal { ", renewal" } else { "" },
            match (&p.policy_number, p.valid_until) {
                (Some(n), Some(u)) => format!(", policy {n} valid until {u}"),
                (Some(n), None) => format!(", policy {n}"),
                _ => String::new(),
            }
        ),
        EventPayload::Refund(r) => format!(
            "{} {} {}{}",
            r.order_id,
            group_decimal(&r.amount.to_string()),
            r.currency,
            opt("", &r.reason)
        ),
        EventPayload::Cancellation(c) => format!("{}{}", c.order_id, opt("", &c.reason)),
        EventPayload::Payment(p) => format!(
            "{} {} {}{}{}",
            p.reference,
            group_decimal(&p.amount.to_string()),
            p.currency,
            opt("due ", &p.due_date),
            if p.late { ", LATE" } else { "" }
        ),
        EventPayload::Contact(c) => {
            let mut s = format!("{} {} {}", c.channel, direction(c), c.purpose);
            s.push_str(&opt("", &c.outcome));
            s.push_str(&opt("by ", &c.department));
            s.push_str(&opt("rating ", &c.rating));
            if let Some(sat) = c.satisfaction() {
                let _ = write!(s, ", satisfaction {sat:.2}");
            }
            if let Some(intent) = c.renewal_intent {
                let _ = write!(s, ", renewal intent {}", json_word(&intent));
            }
            s
        }
        EventPayload::Complaint(c) => {
            let mut s = format!("{} {}", c.complaint_id, json_word(&c.step));
            s.push_str(&opt("", &c.category));
            s.push_str(&opt("severity ", &c.severity));
            s.push_str(&opt("owner ", &c.owner));
            s.push_str(&opt("", &c.resolution));
            s.push_str(&opt("feedback ", &c.feedback_rating));
            if c.harms_customer_interest {
                s.push_str(", harms customer interest");
            }
            s
        }
        EventPayload::Referral(r) => format!(
            "referred {}{}",
            json_word(&r.referred),
            opt("via ", &r.channel)
        ),
        EventPayload::Churn(c) => format!(
            "{} ({})",
            c.reason,
            if c.voluntary {
                "voluntary"
            } else {
                "involuntary"
            }
        ),
        EventPayload::Reactivation(r) => format!(
            "win-back{}{}",
            opt("", &r.campaign),
            opt("via ", &r.channel)
        ),
        EventPayload::Profile(p) => {
            let mut fields: Vec<&str> = Vec::new();
            let singles = [
                ("name", p.name.is_some()),
                ("phone", p.phone.is_some()),
                ("email", p.email.is_some()),
                ("national_id", p.national_id.is_some()),
                ("licence_plate", p.licence_plate.is_some()),
                ("policy_numbers", !p.policy_numbers.is_empty()),
                ("external_ids", !p.external_ids.is_empty()),
                ("birthday", p.birthday.is_some()),
                ("segment", !p.segment.is_empty()),
            ];
            for (name, present) in singles {
                if present {
                    fields.push(name);
                }
            }
            let ids = if p.external_ids.is_empty() {
                String::new()
            } else {
                format!(" (external ids {})", p.external_ids.join(", "))
            };
            format!("set {}{ids}", fields.join(", "))
        }
        #[allow(unreachable_patterns)]
        other => other.kind().name().to_owned(),
    }
}

fn direction(c: &clientele_core::event::Contact) -> String {
    json_word(&c.direction)
}

fn json_word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Builds the report from a customer's events (any order).
pub fn build_report(
    store: &Store,
    customer: CustomerId,
    all: Vec<RecordedEvent>,
    as_of: DateTime<Utc>,
    known_at: Option<DateTime<Utc>>,
    limit: usize,
    analytics: Option<&crate::analytics::Analytics>,
) -> CliResult<CustomerReport> {
    let events_total = all.len() as u64;
    let mut events: Vec<RecordedEvent> = all
        .into_iter()
        .filter(|e| e.occurred_at <= as_of && known_at.is_none_or(|k| e.recorded_at <= k))
        .collect();
    events.sort_by_key(clientele_core::projection::fold_key);

    let mut profile = ProfileView::default();
    let mut totals: BTreeMap<String, (u64, Money, u64, Money)> = BTreeMap::new();
    let mut purchase_days = std::collections::BTreeSet::new();
    let mut paid: BTreeMap<String, Money> = BTreeMap::new();
    let mut purchases = PurchaseTotals::default();
    let overflow = || {
        CliError::runtime(
            "purchase total out of range",
            "the amounts are too large to add up",
        )
    };
    for e in &events {
        match &e.payload {
            EventPayload::Profile(p) => {
                let replace = |slot: &mut Option<String>, v: &Option<String>| {
                    if v.is_some() {
                        slot.clone_from(v);
                    }
                };
                replace(&mut profile.name, &p.name);
                replace(&mut profile.phone, &p.phone);
                replace(&mut profile.email, &p.email);
                replace(&mut profile.national_id, &p.national_id);
                replace(&mut profile.licence_plate, &p.licence_plate);
                if p.birthday.is_some() {
                    profile.birthday = p.birthday;
                }
                for n in &p.policy_numbers {
                    if !profile.policy_numbers.contains(n) {
                        profile.policy_numbers.push(n.clone());
                    }
                }
                for n in &p.external_ids {
                    if !profile.external_ids.contains(n) {
                        profile.external_ids.push(n.clone());
                    }
                }
                profile
                    .segment
                    .extend(p.segment.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            EventPayload::Purchase(p) => {
                let m = p.money().map_err(|e| {
                    CliError::runtime(
                        format!("stored amount unreadable: {e}"),
                        "run `clientele verify`",
                    )
                })?;
                let zero = Money::from_minor(0, p.currency);
                let entry = totals
                    .entry(p.currency.to_string())
                    .or_insert((0, zero, 0, zero));
                entry.0 += 1;
                entry.1 = Money::from_minor(
                    entry
                        .1
                        .minor_units()
                        .checked_add(m.minor_units())
                        .ok_or_else(overflow)?,
                    p.currency,
                );
                purchase_days.insert(e.occurred_at.date_naive());
                purchases
                    .first_purchase
                    .get_or_insert_with(|| timestamp(e.occurred_at));
                purchases.last_purchase = Some(timestamp(e.occurred_at));
            }
            EventPayload::Refund(r) => {
                let m = r.money().map_err(|e| {
                    CliError::runtime(
                        format!("stored amount unreadable: {e}"),
                        "run `clientele verify`",
                    )
                })?;
                let zero = Money::from_minor(0, r.currency);
                let entry = totals
                    .entry(r.currency.to_string())
                    .or_insert((0, zero, 0, zero));
                entry.2 += 1;
                entry.3 = Money::from_minor(
                    entry
                        .3
                        .minor_units()
                        .checked_add(m.minor_units())
                        .ok_or_else(overflow)?,
                    r.currency,
                );
            }
            EventPayload::Payment(p) => {
                purchases.payments += 1;
                if p.late {
                    purchases.late_payments += 1;
                }
                let m = p.money().map_err(|e| {
                    CliError::runtime(
                        format!("stored amount unreadable: {e}"),
                        "run `clientele verify`",
                    )
                })?;
                let sum = paid
                    .entry(p.currency.to_string())
                    .or_insert(Money::from_minor(0, p.currency));
                *sum = Money::from_minor(
                    sum.minor_units()
                        .checked_add(m.minor_units())
                        .ok_or_else(overflow)?,
                    p.currency,
                );
                purchases.last_payment = Some(timestamp(e.occurred_at));
            }
            _ => {}
        }
    }
    purchases.purchase_days = purchase_days.len() as u64;
    purchases.paid = paid.iter().map(|(c, m)| (c.clone(), money(m))).collect();
    for (currency, (n, bought, r, refunded)) in totals {
        let net = Money::from_minor(
            bought.minor_units() - refunded.minor_units(),
            bought.currency(),
        );
        let average = if n > 0 {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            let units = bought.minor_units();
            // Round half away from zero.
            Money::from_minor((units + n / 2) / n, bought.currency())
        } else {
            Money::from_minor(0, bought.currency())
        };
        purchases.by_currency.push(CurrencyTotals {
            currency,
            purchases: n,
            purchased: money(&bought),
            refunds: r,
            refunded: money(&refunded),
            net: money(&net),
            average_purchase: money(&average),
        });
    }

    let input = SectionInput {
        customer,
        events: &events,
        as_of,
        known_at,
        store,
        analytics,
    };
    let mut computed = Vec::new();
    for section in sections() {
        if let Some(output) = section.compute(&input)? {
            computed.push((section.key().to_owned(), section.title().to_owned(), output));
        }
    }

    let skip = if limit > 0 && events.len() > limit {
        events.len() - limit
    } else {
        0
    };
    let timeline = events
        .iter()
        .skip(skip)
        .map(|e| TimelineEntry {
            position: e.position,
            version: e.version,
            occurred_at: timestamp(e.occurred_at),
            recorded_at: timestamp(e.recorded_at),
            kind: e.kind().name(),
            summary: describe(&e.payload),
            event_id: e.event_id.to_string(),
        })
        .collect();
    use clientele_core::privacy::PersonalData;
    let has = |state: PersonalData| events.iter().any(|e| e.personal_data == state);
    let personal_data = if has(PersonalData::Erased) {
        "erased"
    } else if has(PersonalData::Locked) {
        "locked"
    } else if has(PersonalData::Available) {
        "available"
    } else {
        "none"
    };
    Ok(CustomerReport {
        personal_data,
        customer_id: customer.to_string(),
        as_of: timestamp(as_of),
        known_at: known_at.map(timestamp),
        events_in_view: events.len() as u64,
        events_total,
        profile,
        purchases,
        sections: computed,
        timeline,
        timeline_omitted: skip as u64,
    })
}

impl Render for CustomerReport {
    fn render(&self, out: &mut String) {
        let p = &self.profile;
        let _ = writeln!(
            out,
            "Customer {}{}",
            self.customer_id,
            p.name
                .as_ref()
                .map(|n| format!("  {n}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  view: as of {}{}; {} of {}",
            self.as_of,
            self.known_at
                .as_ref()
                .map(|k| format!(", known at {k}"))
                .unwrap_or_default(),
            thousands(self.events_in_view),
            count(self.events_total, "event")
        );
        let mut ids = Vec::new();
        if !p.external_ids.is_empty() {
            ids.push(format!("external ids {}", p.external_ids.join(", ")));
        }
        for (label, v) in [
            ("phone", &p.phone),
            ("email", &p.email),
            ("national id", &p.national_id),
            ("plate", &p.licence_plate),
        ] {
            if let Some(v) = v {
                ids.push(format!("{label} {v}"));
            }
        }
        if !p.policy_numbers.is_empty() {
            ids.push(format!("policies {}", p.policy_numbers.join(", ")));
        }
        if let Some(b) = p.birthday {
            ids.push(format!("born {b}"));
        }
        if !ids.is_empty() {
            let _ = writeln!(out, "  {}", ids.join(" · "));
        }
        match self.personal_data {
            "locked" => {
                let _ = writeln!(
                    out,
                    "  personal data locked: no master key (or the wrong one); see --master-key-file"
                );
            }
            "erased" => {
                let _ = writeln!(out, "  personal data erased (forgotten or past retention)");
            }
            _ => {}
        }
        if !p.segment.is_empty() {
            let seg: Vec<String> = p.segment.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "  segment: {}", seg.join(", "));
        }
        let _ = writeln!(out, "\nPurchases");
        if self.purchases.by_currency.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for c in &self.purchases.by_currency {
            let _ = writeln!(
                out,
                "  {}, {} {} (average {}); {}, {} {}; net {} {}",
                count(c.purchases, "purchase"),
                group_decimal(&c.purchased),
                c.currency,
                group_decimal(&c.average_purchase),
                count(c.refunds, "refund"),
                group_decimal(&c.refunded),
                c.currency,
                group_decimal(&c.net),
                c.currency
            );
        }
        if let (Some(first), Some(last)) = (
            &self.purchases.first_purchase,
            &self.purchases.last_purchase,
        ) {
            let _ = writeln!(
                out,
                "  first {first}, last {last}, {}",
                count(self.purchases.purchase_days, "purchase day")
            );
        }
        if self.purchases.payments > 0 {
            let paid: Vec<String> = self
                .purchases
                .paid
                .iter()
                .map(|(currency, amount)| format!("{} {currency}", group_decimal(amount)))
                .collect();
            let _ = writeln!(
                out,
                "  payments: {}, {} paid ({} late){}",
                thousands(self.purchases.payments),
                paid.join(" + "),
                thousands(self.purchases.late_payments),
                self.purchases
                    .last_payment
                    .as_ref()
                    .map(|t| format!(", last {t}"))
                    .unwrap_or_default()
            );
        }
        for (_, title, section) in &self.sections {
            let _ = writeln!(out, "\n{title}");
            for line in &section.lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        let _ = writeln!(out, "\nTimeline (business time)");
        if self.timeline_omitted > 0 {
            let _ = writeln!(
                out,
                "  … {} (raise --limit)",
                count(self.timeline_omitted, "earlier event")
            );
        }
        for t in &self.timeline {
            let when = DateTime::parse_from_rfc3339(&t.occurred_at)
                .map(|d| short_time(d.with_timezone(&Utc)))
                .unwrap_or_else(|_| t.occurred_at.clone());
            let _ = writeln!(out, "  {when:<16}  {:<12}  {}", t.kind, t.summary);
        }
    }
}

/// Runs the command.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    // A plain date means the end of that day, as in every command.
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    // Writable, to keep the identifier index and the projections; read-only
    // (without stage, loyalty, value and risk) when another process writes.
    let (store, writable) = match ctx.open(OpenMode::Write) {
        Ok(store) => (store, true),
        Err(_) => (ctx.open(OpenMode::ReadOnly)?, false),
    };
    let customer = identity::resolve(&store, &args.id, args.source.as_deref())?;
    let events = store
        .read_stream(customer)
        .map_err(|e| CliError::from_core(e, "reading the customer's stream"))?;
    let analytics = if writable {
        Some(crate::analytics::Analytics::open(&store)?)
    } else {
        ctx.output.notice(
            "the store is in use by another process: stage, loyalty, value and risk are left out",
        );
        None
    };
    let report = build_report(
        &store,
        customer,
        events,
        as_of,
        known_at,
        args.limit,
        analytics.as_ref(),
    )?;
    Ok(CommandOutput::new(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::record::parse_time;
    use clientele_core::event::{Payment, Purchase, Refund};
    use clientele_core::{Currency, ExpectedVersion, NewEvent};

    #[test]
    fn totals_are_exact_and_views_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let c = CustomerId::from_external("t", "1");
        let t = |d: u32| parse_time(&format!("2024-05-{d:02}")).unwrap();
        let cny = Currency::CNY;
        let events = vec![
            NewEvent::new(t(1), Purchase::new("A", "0.10".parse().unwrap(), cny)),
            NewEvent::new(t(2), Purchase::new("B", "0.20".parse().unwrap(), cny)),
            NewEvent::new(
                t(3),
                Refund {
                    order_id: "B".into(),
                    amount: "0.05".parse().unwrap(),
                    currency: cny,
                    reason: None,
                },
            ),
            NewEvent::new(t(9), Purchase::new("C", "100".parse().unwrap(), cny)),
        ];
        store.append(c, ExpectedVersion::Any, events).unwrap();
        let all = store.read_stream(c).unwrap();
        let r = build_report(&store, c, all.clone(), t(5), None, 0, None).unwrap();
        let cny = &r.purchases.by_currency[0];
        assert_eq!((cny.purchased.as_str(), cny.net.as_str()), ("0.30", "0.25"));
        assert_eq!(r.events_in_view, 3);
        assert_eq!(r.timeline.len(), 3);
        assert_eq!(r.sections[0].0, "activity");
        let r = build_report(&store, c, all.clone(), t(30), None, 2, None).unwrap();
        assert_eq!((r.timeline.len(), r.timeline_omitted), (2, 2));
        let before = all[0].recorded_at - chrono::Duration::seconds(1);
        let r = build_report(&store, c, all, t(30), Some(before), 0, None).unwrap();
        assert_eq!(r.events_in_view, 0);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["sections"].is_object());
    }

    #[test]
    fn timeline_amounts_are_grouped_and_exact() {
        let cny = Currency::CNY;
        let mut p = Purchase::new("PA-1", "7517.40".parse().unwrap(), cny);
        p.category = Some("motor insurance".into());
        assert_eq!(describe(&p.into()), "PA-1 7,517.40 CNY, motor insurance");
        let refund = Refund {
            order_id: "PA-1".into(),
            amount: "1234567.5".parse().unwrap(),
            currency: cny,
            reason: None,
        };
        assert_eq!(describe(&refund.into()), "PA-1 1,234,567.5 CNY");
        let payment = Payment {
            reference: "BILL-7".into(),
            amount: "58.00".parse().unwrap(),
            currency: cny,
            due_date: None,
            late: true,
        };
        assert_eq!(describe(&payment.into()), "BILL-7 58.00 CNY, LATE");
    }
}
