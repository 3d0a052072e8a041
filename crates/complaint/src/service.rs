//! The complaint projection kept in the store, and its queries.

use clientele_core::projection::{AsOf, Projector};
use clientele_core::{CustomerId, Store};

use crate::desk::{ComplaintStatus, Desk, DeskReport};
use crate::error::Result;
use crate::policy::ComplaintPolicy;
use crate::state::{ComplaintBook, ComplaintProjection};

/// The complaint projection over one store, with its queries.
///
/// [`Complaints::book`] and [`Complaints::statuses`] read one customer as of
/// a time from the log (nearest snapshot plus the stream), so they are
/// always current. [`Complaints::desk`] walks the population's committed
/// states: call [`Complaints::catch_up`] first.
pub struct Complaints {
    projector: Projector<ComplaintProjection>,
}

impl Complaints {
    /// Opens the complaint projection of `store`.
    ///
    /// # Errors
    /// A store error.
    pub fn open(store: &Store) -> Result<Self> {
        Ok(Self {
            projector: Projector::open(store, ComplaintProjection)?,
        })
    }

    /// The runtime.
    pub fn projector(&self) -> &Projector<ComplaintProjection> {
        &self.projector
    }

    /// Folds every event committed since the last catch-up; returns the
    /// position reached.
    ///
    /// # Errors
    /// A store error.
    pub fn catch_up(&mut self) -> Result<u64> {
        Ok(self.projector.catch_up()?)
    }

    /// Rebuilds from zero; returns the position reached.
    ///
    /// # Errors
    /// A store error.
    pub fn rebuild(&mut self) -> Result<u64> {
        Ok(self.projector.rebuild()?)
    }

    /// `customer`'s complaints as of `at` (a business time, or a business
    /// time as the log knew it at a recorded time).
    ///
    /// # Errors
    /// A store error.
    pub fn book(&self, customer: CustomerId, at: impl Into<AsOf>) -> Result<ComplaintBook> {
        Ok(self.projector.state_in(customer, at)?)
    }

    /// The status of each of `customer`'s complaints as of `at` under
    /// `policy`, in complaint-id order.
    ///
    /// # Errors
    /// An invalid policy, or a store error.
    pub fn statuses(
        &self,
        customer: CustomerId,
        policy: &ComplaintPolicy,
        at: impl Into<AsOf>,
    ) -> Result<Vec<ComplaintStatus>> {
        policy.validate()?;
        let at = at.into();
        let book = self.book(customer, at)?;
        Ok(book
            .complaints()
            .iter()
            .filter_map(|r| ComplaintStatus::of(customer, r, &book, policy, at.occurred))
            .collect())
    }

    /// The desk as of `at` under `policy`: every complaint's status, the work
    /// queue and the figures. One pass over the population.
    ///
    /// # Errors
    /// An invalid policy, or a store error.
    pub fn desk(&self, policy: ComplaintPolicy, at: impl Into<AsOf>) -> Result<DeskReport> {
        let at = at.into();
        let mut desk = Desk::new(policy, at.occurred)?;
        self.projector
            .for_each_state_in(at, |customer, book: ComplaintBook| {
                desk.add(customer, &book);
                Ok::<_, clientele_core::Error>(())
            })?;
        Ok(desk.finish())
    }
}
