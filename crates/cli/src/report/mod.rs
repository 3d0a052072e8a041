//! The static HTML report behind `clientele report`.
//!
//! * [`data`] — [`ReportData`]: what the page shows, plain public fields.
//! * [`gather`](mod@gather) — fills what the core event log alone gives
//!   (counts, purchase-cohort retention).
//! * [`render`](mod@render) — draws the page: inline CSS, SVG charts from
//!   [`plotters`], a data table under each chart, no scripts.
//!
//! The analytics crates add their sections between the two steps:
//!
//! ```no_run
//! # fn demo(store: &clientele_core::Store) -> clientele_core::Result<()> {
//! let mut data = clientele_cli::report::gather(store, chrono::Utc::now())?;
//! data.stage_funnel = vec![("acquisition".into(), 120), ("growth".into(), 80)];
//! let html = clientele_cli::report::render(&data);
//! # let _ = html; Ok(()) }
//! ```

pub mod data;
pub mod gather;
pub mod render;

pub use data::{ComplaintDesk, ComplaintGroup, ReportData};
pub use gather::gather;
pub use render::render;
