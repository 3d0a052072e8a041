//! # clientele-complaint
//!
//! The complaint desk, as a pure projection of the event log. A complaint
//! moves through receive → classify → investigate → resolve → give feedback
//! → archive (003 L171 §4.2), must be answered within 24 hours (000 L574;
//! Haier's 24 h on-site repair, 001 L41), has an accountable owner (000
//! L572), and is a clue to why customers leave: "use customer complaints to
//! analyse the causes of churn" (003 L221).
//!
//! * [`ComplaintProjection`]: the fold into a [`ComplaintBook`] per customer
//!   — each complaint's step times and latest attributes, and the customer's
//!   explicit churns. Facts only, no clock, no policy, no personal data.
//! * [`ComplaintPolicy`]: the reply deadline, the answering and settling
//!   steps, the churn window; applied when a view is taken.
//! * [`ComplaintStatus`]: one complaint as of a time — step, deadline,
//!   [`Reply`] (overdue, waiting, late, in time), hours to answer.
//! * [`Desk`] / [`DeskReport`]: the work queue and the figures (reply times,
//!   the share answered in time, by category, owner and month of receipt,
//!   complaint rate, churn after complaints), built in one pass over the
//!   population.
//! * [`Complaints`]: the projection kept in the store (caught up, followed
//!   live, or read straight from the log), with its queries.
//!
//! Rules and defaults: `docs/complaints.md`.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use clientele_complaint::{ComplaintPolicy, Complaints, Reply};
//! use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let (li, wang) = (CustomerId::new_random(), CustomerId::new_random());
//! let t0 = Utc.with_ymd_and_hms(2024, 3, 15, 9, 0, 0).unwrap();
//! let step = |id: &str, step, owner: &str| {
//!     let mut c = Complaint::new(id, step);
//!     c.category = Some("claims handling".into());
//!     c.owner = Some(owner.into());
//!     c
//! };
//! store.append(li, ExpectedVersion::Any, vec![
//!     NewEvent::new(t0, step("C-1", ComplaintStep::Received, "zhang")),
//!     NewEvent::new(t0 + Duration::hours(5), step("C-1", ComplaintStep::Resolved, "zhang")),
//! ])?;
//! store.append(wang, ExpectedVersion::Any, vec![
//!     NewEvent::new(t0, step("C-2", ComplaintStep::Received, "zhao")),
//! ])?;
//!
//! let mut complaints = Complaints::open(&store)?;
//! complaints.catch_up()?;
//! let desk = complaints.desk(ComplaintPolicy::default(), t0 + Duration::hours(30))?;
//! // Wang's complaint is 6 hours past the 24 h rule and heads the queue;
//! // Li's was answered in 5 hours and waits to be archived.
//! let queue: Vec<_> = desk.queue().map(|s| (s.complaint.as_str(), s.reply)).collect();
//! assert_eq!(queue, [("C-2", Reply::Overdue), ("C-1", Reply::InTime)]);
//! assert_eq!(desk.figures.all.in_time_rate, Some(0.5));
//! assert_eq!(desk.figures.by_owner.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod desk;
pub mod error;
pub mod policy;
pub mod service;
pub mod state;

pub use desk::{ComplaintStatus, Desk, DeskFigures, DeskReport, Figures, Reply, Spread, StepCount};
pub use error::{ComplaintError, Result};
pub use policy::ComplaintPolicy;
pub use service::Complaints;
pub use state::{ComplaintBook, ComplaintProjection, ComplaintRecord, PROJECTION_NAME};
