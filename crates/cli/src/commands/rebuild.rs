//! `clientele rebuild [PROJECTION]`: rebuild projections from the event log.

use serde::Serialize;

use crate::analytics::{Analytics, PROJECTIONS};
use crate::commands::{Context, OpenMode};
use crate::error::CliResult;
use crate::output::{thousands, CommandOutput, Render};

const EXAMPLES: &str = "\
Examples:
  clientele rebuild              # every projection
  clientele rebuild lifecycle    # only the lifecycle stages
  clientele rebuild churn --json

Projections (lifecycle, loyalty, value, churn, complaint, identifiers) are read models folded
from the log; they update themselves on every command that reads them and rebuild themselves
when their version or policy changes. Rebuilding by hand is never needed for correctness: use it
after restoring an old backup of the projection state, or to measure. The log itself is never
modified.";

/// Arguments of `clientele rebuild`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The projection to rebuild (default: all).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(PROJECTIONS))]
    pub projection: Option<String>,
}

/// Rebuilt projections.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildOutput {
    /// Each projection rebuilt and the log position it reached.
    pub rebuilt: Vec<Rebuilt>,
}

/// One rebuilt projection.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    /// Its name.
    pub projection: String,
    /// The log position it has folded up to.
    pub position: u64,
    /// Seconds taken.
    pub seconds: f64,
}

impl Render for RebuildOutput {
    fn render(&self, out: &mut String) {
        for r in &self.rebuilt {
            out.push_str(&format!(
                "rebuilt {:<12} up to event {} in {:.2} s\n",
                r.projection,
                thousands(r.position),
                r.seconds
            ));
        }
    }
}

/// Runs `rebuild`.
pub fn run(ctx: &Context, args: &Args) -> CliResult<CommandOutput> {
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let rebuilt = Analytics::rebuild(&store, args.projection.as_deref())?
        .into_iter()
        .map(|(projection, position, seconds)| Rebuilt {
            projection,
            position,
            seconds,
        })
        .collect();
    Ok(CommandOutput::new(&RebuildOutput { rebuilt }))
}
