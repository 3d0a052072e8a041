//! `clientele stats [--as-of T]`: the customer base in numbers — lifecycle
//! stages, loyalty tiers, RFM segments and revenue — as of any time.

use clientele_core::projection::AsOf;
use clientele_lifecycle::Stage;

use crate::analytics::{self, Stats};
use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::CliResult;
use crate::output::{count, group_decimal, thousands, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele stats
  clientele --db /tmp/cdnow stats --as-of 1997-12-31
  clientele stats --as-of 2025-06-30 --json
  clientele stats --as-of 2025-06-30 --known-at 2025-07-01   # what the log held on 1 July

Counts customers with at least one event by --as-of (a date means the end of that day;
default: now) per lifecycle stage (and how many of those in exit still have open matters),
per loyalty tier and per RFM segment (in the store's main currency), and adds up revenue
net of refunds per currency. The projections are brought up to date first.

--known-at R keeps only the events recorded by R (append time; a date means the end of that
day): customers first recorded later are not counted, late-reported events are left out. The RFM
currency stays the store's main one.";

/// Arguments of `clientele stats`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Business time of the figures: events that occurred by then (default: now).
    #[arg(long, value_name = "T")]
    pub as_of: Option<String>,

    /// Only events recorded by R: the figures as the log knew them then
    /// (an audit of what was reported at R).
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,
}

impl Render for Stats {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "{} as of {}{}\n",
            count(self.customers, "customer"),
            self.as_of,
            self.known_at
                .as_ref()
                .map(|k| format!(", as known at {k}"))
                .unwrap_or_default()
        ));
        let share = |n: u64| {
            if self.customers == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.customers as f64
            }
        };
        out.push_str("\nlifecycle stage\n");
        for stage in Stage::ALL {
            let n = self.stages.get(stage.as_str()).copied().unwrap_or(0);
            out.push_str(&format!(
                "  {:<12} {:>9}  {:5.1} %\n",
                stage.as_str(),
                thousands(n),
                share(n)
            ));
        }
        if self.exit_pending > 0 {
            out.push_str(&format!(
                "  ({} in exit still have open matters: exit pending)\n",
                thousands(self.exit_pending)
            ));
        }
        if !self.loyalty_tiers.is_empty() {
            out.push_str("\nloyalty tier\n");
            for (tier, n) in self.tiers_in_order() {
                out.push_str(&format!(
                    "  {tier:<12} {:>9}  {:5.1} %\n",
                    thousands(n),
                    share(n)
                ));
            }
        }
        if !self.rfm_segments.is_empty() {
            out.push_str(&format!(
                "\nRFM segment ({})\n",
                self.rfm_currency.as_deref().unwrap_or("")
            ));
            let mut segments: Vec<_> = self.rfm_segments.iter().collect();
            segments.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (segment, n) in segments {
                out.push_str(&format!("  {segment:<20} {:>9}\n", thousands(*n)));
            }
        }
        if let Some(c) = &self.complaints {
            let rule = c
                .reply_hours
                .map(|h| format!("reply within {h} h"))
                .unwrap_or_else(|| "no reply deadline".into());
            out.push_str(&format!(
                "\ncomplaints ({rule}; `clientele complaints` for the desk)\n  {}: {} open, {} overdue; {} answered in time{}\n",
                count(c.complaints, "complaint"),
                thousands(c.open),
                thousands(c.overdue),
                c.in_time_rate
                    .map(|r| format!("{:.1} %", 100.0 * r))
                    .unwrap_or_else(|| "n/a".into()),
                c.median_hours_to_answer
                    .map(|h| format!(", median {h:.1} h to answer"))
                    .unwrap_or_default()
            ));
        }
        if !self.revenue.is_empty() {
            out.push_str("\nrevenue, net of refunds\n");
            for (currency, amount) in &self.revenue {
                out.push_str(&format!("  {currency} {}\n", group_decimal(amount)));
            }
        }
    }
}

/// Runs `stats`.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let at = AsOf {
        occurred: as_of,
        known_at,
    };
    let stats = analytics::stats(&store, at)?;
    Ok(CommandOutput::new(&stats))
}
