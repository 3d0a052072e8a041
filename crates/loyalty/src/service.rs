//! The loyalty service: the projection kept up to date in the store, and the
//! queries on it (scores, points, population metrics).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clientele_core::projection::{AsOf, Projector};
use clientele_core::{CustomerId, Store};

use crate::error::{LoyaltyError, Result};
use crate::metrics::{Period, PopulationMetrics, Totals};
use crate::points::PointsBalance;
use crate::policy::LoyaltyPolicy;
use crate::projection::LoyaltyProjection;
use crate::score::LoyaltyScore;
use crate::state::{LoyaltyState, PurchaseIndex};

/// The loyalty projection over one store, with its queries.
///
/// [`Loyalty::score`] and [`Loyalty::points`] read one customer as of a time
/// from the log (nearest snapshot plus the stream), so they are always
/// current. [`Loyalty::scores`], [`Loyalty::tier_counts`] and
/// [`Loyalty::metrics`] read the committed states: call [`Loyalty::catch_up`]
/// (or run [`Loyalty::follow`]) first.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
/// use clientele_loyalty::{Loyalty, LoyaltyPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let (alice, bob) = (CustomerId::new_random(), CustomerId::new_random());
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
/// let order = |id: &str| Purchase::new(id, "165.00".parse().unwrap(), "CNY".parse().unwrap());
/// store.append(alice, ExpectedVersion::Any, vec![
///     NewEvent::new(t0, order("A-1")),
///     NewEvent::new(t0 + Duration::days(60), order("A-2")),
///     NewEvent::new(t0 + Duration::days(61), Referral { referred: Referred::Customer(bob), channel: None }),
/// ])?;
/// store.append(bob, ExpectedVersion::Any, vec![NewEvent::new(t0 + Duration::days(70), order("B-1"))])?;
///
/// let mut loyalty = Loyalty::open(&store, LoyaltyPolicy::default())?;
/// loyalty.catch_up()?;
/// let as_of = t0 + Duration::days(80);
/// let alice_score = loyalty.score(alice, as_of)?.expect("known");
/// let referrals = alice_score.component(clientele_loyalty::Factor::Referrals).unwrap();
/// assert_eq!(referrals.value, 1.0); // Bob bought after Alice referred him
/// assert_eq!(loyalty.scores(as_of)?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Loyalty {
    projector: Projector<LoyaltyProjection>,
}

impl Loyalty {
    /// Opens the loyalty projection of `store` under `policy` (validated).
    /// A policy different from the stored one rebuilds at the next catch-up.
    pub fn open(store: &Store, policy: LoyaltyPolicy) -> Result<Self> {
        let projection = LoyaltyProjection::new(policy)?;
        Ok(Self {
            projector: Projector::open(store, projection)?,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &LoyaltyPolicy {
        self.projector.projection().policy()
    }

    /// The projection.
    pub fn projection(&self) -> &LoyaltyProjection {
        self.projector.projection()
    }

    /// The runtime.
    pub fn projector(&self) -> &Projector<LoyaltyProjection> {
        &self.projector
    }

    /// The last global position folded and committed.
    pub fn position(&self) -> u64 {
        self.projector.position()
    }

    /// Folds every event committed since the checkpoint; returns the new position.
    pub fn catch_up(&mut self) -> Result<u64> {
        Ok(self.projector.catch_up()?)
    }

    /// Drops all loyalty states and folds the whole log again.
    pub fn rebuild(&mut self) -> Result<u64> {
        Ok(self.projector.rebuild()?)
    }

    /// Catches up, then follows the log until `stop` resolves.
    pub async fn follow(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<u64> {
        Ok(self.projector.follow(stop).await?)
    }

    /// The committed state of `customer` (None: no events folded).
    pub fn state(&self, customer: CustomerId) -> Result<Option<LoyaltyState>> {
        Ok(self.projector.state(customer)?)
    }

    /// The state of `customer` with every event that occurred by `as_of`
    /// (None: no event by then).
    pub fn state_as_of(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<LoyaltyState>> {
        let state = self.projector.state_as_of(customer, as_of)?;
        Ok(state.known_at(as_of.timestamp_micros()).then_some(state))
    }

    /// How many of the customers `state` referred purchased at or after the
    /// referral, by `at` (each referred customer read as of `at`: with a
    /// recorded time, only purchases the log knew of by then count).
    pub fn converted_referrals(&self, state: &LoyaltyState, at: impl Into<AsOf>) -> Result<u32> {
        let at = at.into();
        let as_of = at.occurred;
        let mut index = PurchaseIndex::new();
        for referred in state.referred_customers(as_of.timestamp_micros()).keys() {
            let theirs = self.projector.state_in(*referred, at)?;
            index.insert(*referred, &theirs, as_of);
        }
        Ok(index.converted_referrals(state, as_of))
    }

    /// The loyalty score of `customer` as of `as_of`, with its components and
    /// tier. None if the customer had no event by then.
    pub fn score(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<LoyaltyScore>> {
        let Some(state) = self.state_as_of(customer, as_of)? else {
            return Ok(None);
        };
        let converted = self.converted_referrals(&state, as_of)?;
        Ok(Some(self.projection().score(&state, as_of, converted)))
    }

    /// Every customer's score as of `at` (from the committed states, or the
    /// log as it stood at `at`'s recorded time), in customer-id order;
    /// referral conversions are computed from the whole population.
    pub fn scores(&self, at: impl Into<AsOf>) -> Result<Vec<(CustomerId, LoyaltyScore)>> {
        let mut out = Vec::new();
        self.for_each_score(at, |customer, score| {
            out.push((customer, score));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every customer's score as of `at` (customers with an
    /// event by then), in customer-id order, holding one state at a time: a
    /// first pass over the population collects the purchase times referral
    /// conversions need, a second scores each state. The committed states
    /// serve any business time; with a recorded time, both passes read the
    /// log as it stood then (`Projector::for_each_state_known_at`).
    pub fn for_each_score(
        &self,
        at: impl Into<AsOf>,
        mut f: impl FnMut(CustomerId, LoyaltyScore) -> Result<()>,
    ) -> Result<()> {
        let at = at.into();
        let as_of = at.occurred;
        let index = self.purchase_index(at)?;
        let t = as_of.timestamp_micros();
        self.for_each_state_seen(at, |customer, state| {
            if !state.known_at(t) {
                return Ok(());
            }
            let converted = index.converted_referrals(&state, as_of);
            f(customer, self.projection().score(&state, as_of, converted))
        })
    }

    /// Every state a population walk as of `at` evaluates: the committed
    /// ones (a loyalty state answers for any business time), or with a
    /// recorded time before the latest record the states of the log as it
    /// stood then.
    fn for_each_state_seen(
        &self,
        at: AsOf,
        f: impl FnMut(CustomerId, LoyaltyState) -> Result<()>,
    ) -> Result<()> {
        match at.known_at {
            Some(r) if !self.projector.store().all_known_at(r)? => {
                self.projector.for_each_state_in(at, f)
            }
            _ => self.projector.for_each_state(f),
        }
    }

    /// The purchases of every state as of `at` (referral conversions need
    /// the whole population): the first pass of the population walks.
    fn purchase_index(&self, at: AsOf) -> Result<PurchaseIndex> {
        let mut index = PurchaseIndex::new();
        self.for_each_state_seen(at, |customer, state| {
            index.insert(customer, &state, at.occurred);
            Ok(())
        })?;
        Ok(index)
    }

    /// How many customers are in each tier as of `at`, by tier name.
    pub fn tier_counts(&self, at: impl Into<AsOf>) -> Result<BTreeMap<String, u64>> {
        let mut counts: BTreeMap<String, u64> = self
            .policy()
            .tiers
            .iter()
            .map(|t| (t.name.clone(), 0))
            .collect();
        self.for_each_score(at, |_, score| {
            *counts.entry(score.tier.name).or_default() += 1;
            Ok(())
        })?;
        Ok(counts)
    }

    /// The points of `customer` as of `as_of`, with the ledger. None if the
    /// customer had no event by then.
    pub fn points(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<PointsBalance>> {
        Ok(self
            .state_as_of(customer, as_of)?
            .map(|state| self.projection().points(&state, as_of)))
    }

    /// Population metrics for `period` as of `as_of`, grouped by the segment
    /// attribute `segment_key` if given (from the committed states).
    pub fn metrics(
        &self,
        as_of: DateTime<Utc>,
        period: Period,
        segment_key: Option<&str>,
    ) -> Result<PopulationMetrics> {
        // Two passes over the committed states, as `for_each_score`: the
        // purchase index first (referral conversions need the whole
        // population), then one state at a time.
        self.policy().validate()?;
        let period = Period::new(period.from, period.to)?;
        let index = self.purchase_index(as_of.into())?;
        let mut totals = Totals::new(self.policy(), &index, as_of, period, segment_key);
        self.projector.for_each_state(|_, state| {
            totals.add(&state);
            Ok::<_, LoyaltyError>(())
        })?;
        Ok(totals.finish())
    }
}
