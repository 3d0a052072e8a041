//! The complaint projection kept in the store, and its queries.

use std::collections::BTreeMap;

use clientele_core::projection::{fold, AsOf, Projector};
use clientele_core::{CustomerId, RecordedEvent, Store};

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

    /// Catches up, then follows the log until `stop` resolves, committing
    /// after each burst of events (as [`Projector::follow`]); returns the
    /// position reached.
    ///
    /// # Errors
    /// A store error.
    pub async fn follow(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<u64> {
        Ok(self.projector.follow(stop).await?)
    }

    /// The committed book of `customer` (None: no event folded yet).
    ///
    /// # Errors
    /// A store error.
    pub fn state(&self, customer: CustomerId) -> Result<Option<ComplaintBook>> {
        Ok(self.projector.state(customer)?)
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

    /// The desk as of `at` read straight from the log, without the stored
    /// projection: for a store opened read-only (another process writes to
    /// it) whose projection was never built there. One pass over the log,
    /// read without decrypting personal data; it holds the complaints and
    /// churns in the view, and one time per customer, in memory. Equal to
    /// [`Complaints::desk`].
    ///
    /// # Errors
    /// An invalid policy, or a store error.
    pub fn desk_from_log(
        store: &Store,
        policy: ComplaintPolicy,
        at: impl Into<AsOf>,
    ) -> Result<DeskReport> {
        let at = at.into();
        let mut desk = Desk::new(policy, at)?;
        // Per customer: the events the fold reads, and the time (µs) of
        // their first event of any kind.
        let mut books: BTreeMap<CustomerId, (Vec<RecordedEvent>, i64)> = BTreeMap::new();
        for event in store.public_only().read_all(1)? {
            let event = event?;
            if event.occurred_at > at.occurred
                || at.known_at.is_some_and(|known| event.recorded_at > known)
            {
                continue;
            }
            let micros = event.occurred_at.timestamp_micros();
            let (read, first) = books
                .entry(event.customer_id)
                .or_insert((Vec::new(), micros));
            *first = (*first).min(micros);
            if ComplaintBook::reads(&event) {
                read.push(event);
            }
        }
        for (customer, (read, first)) in books {
            let mut book: ComplaintBook = fold(&ComplaintProjection, read.iter());
            book.saw_event_at(first);
            desk.add(customer, &book);
        }
        Ok(desk.finish())
    }

    /// The desk as of `at` under `policy`: every complaint's status, the work
    /// queue and the figures. One pass over the population.
    ///
    /// # Errors
    /// An invalid policy, or a store error.
    pub fn desk(&self, policy: ComplaintPolicy, at: impl Into<AsOf>) -> Result<DeskReport> {
        let at = at.into();
        let mut desk = Desk::new(policy, at)?;
        self.projector
            .for_each_state_in(at, |customer, book: ComplaintBook| {
                desk.add(customer, &book);
                Ok::<_, clientele_core::Error>(())
            })?;
        Ok(desk.finish())
    }
}
