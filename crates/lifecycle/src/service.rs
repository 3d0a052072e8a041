//! The lifecycle service: the projection kept up to date in the store, and the
//! queries on it (views, audit timelines, identity lookup, renewals, population).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::projection::Projector;
use clientele_core::{CustomerId, Store};

use crate::error::{LifecycleError, Result};
use crate::identity::{reversed, IdentifierKind, PLATE_REVERSED, RENEWAL_DUE};
use crate::policy::LifecyclePolicy;
use crate::projection::LifecycleProjection;
use crate::stage::{CustomerStage, RenewalDue, StageChange, StageDistribution};
use crate::state::LifecycleState;

/// The lifecycle projection over one store, with its queries.
///
/// As-of and known-at views read the log directly (nearest snapshot plus the
/// stream), so they are always current. Lookups, renewal lists and
/// [`Lifecycle::stage_distribution`] read the committed states and index: call
/// [`Lifecycle::catch_up`] (or run [`Lifecycle::follow`]) first.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use clientele_core::privacy::MasterKeyRing;
/// use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, StoreOptions, event::*};
/// use clientele_lifecycle::{Lifecycle, LifecyclePolicy, Stage};
///
/// let dir = tempfile::tempdir()?;
/// // Profiles and policy numbers are personal data: sealed under a master key.
/// let keys = Arc::new(MasterKeyRing::generate());
/// let store = Store::open_with(dir.path(), StoreOptions { master_keys: Some(keys), ..Default::default() })?;
/// let customer = CustomerId::from_external("insurer", "c-1");
/// let at = |m, d| Utc.with_ymd_and_hms(2024, m, d, 9, 0, 0).unwrap();
/// let mut profile = Profile::default();
/// profile.licence_plate = Some("京A·12345".into());
/// let mut policy = Purchase::new("P-1", "4200.00".parse()?, "CNY".parse()?);
/// policy.policy_number = Some("PA-2024-001".into());
/// policy.valid_until = chrono::NaiveDate::from_ymd_opt(2025, 1, 31);
/// store.append(customer, ExpectedVersion::Any, vec![
///     NewEvent::new(at(1, 10), profile),
///     NewEvent::new(at(2, 1), policy),
/// ])?;
///
/// let mut lifecycle = Lifecycle::open(&store, LifecyclePolicy::default())?;
/// lifecycle.catch_up()?;
/// assert_eq!(lifecycle.lookup("京a12345")?, vec![customer]);
/// assert_eq!(lifecycle.lookup_plate_suffix("45")?, vec![customer]);
/// let view = lifecycle.view(customer, at(3, 1))?.expect("known");
/// assert_eq!(view.stage, Stage::Growth);
/// let due = lifecycle.renewals_due(
///     chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
///     chrono::NaiveDate::from_ymd_opt(2025, 1, 31).unwrap(),
/// )?;
/// assert_eq!(due[0].policy_number, "PA-2024-001");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lifecycle {
    projector: Projector<LifecycleProjection>,
}

impl Lifecycle {
    /// Opens the lifecycle projection of `store` under `policy` (validated).
    /// A policy different from the stored one rebuilds at the next catch-up.
    pub fn open(store: &Store, policy: LifecyclePolicy) -> Result<Self> {
        let projection = LifecycleProjection::new(policy)?;
        Ok(Self {
            projector: Projector::open(store, projection)?,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &LifecyclePolicy {
        self.projector.projection().policy()
    }

    /// The projection.
    pub fn projection(&self) -> &LifecycleProjection {
        self.projector.projection()
    }

    /// The runtime (for positions and raw index access).
    pub fn projector(&self) -> &Projector<LifecycleProjection> {
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

    /// Drops all lifecycle states and folds the whole log again.
    pub fn rebuild(&mut self) -> Result<u64> {
        Ok(self.projector.rebuild()?)
    }

    /// Catches up, then follows the log until `stop` resolves.
    pub async fn follow(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<u64> {
        Ok(self.projector.follow(stop).await?)
    }

    /// The committed state of `customer` (None: no events folded).
    pub fn state(&self, customer: CustomerId) -> Result<Option<LifecycleState>> {
        Ok(self.projector.state(customer)?)
    }

    /// The customer's stage as the world was at business time `as_of`: every
    /// event that occurred by then, and every elapsed-time rule up to then.
    /// None if the customer had no events by `as_of`.
    pub fn view(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<CustomerStage>> {
        let state = self.projector.state_as_of(customer, as_of)?;
        Ok(self.projection().view(&state, customer, as_of))
    }

    /// The customer's stage at business time `as_of` as the log knew it at
    /// recorded time `known_at` (only events recorded by then): "what did we
    /// know at R about T", for audits.
    pub fn view_known_at(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
    ) -> Result<Option<CustomerStage>> {
        let state = self.projector.state_known_at(customer, as_of, known_at)?;
        Ok(self.projection().view(&state, customer, as_of))
    }

    /// The audit timeline up to `as_of`: every stage change with its cause
    /// (the event, or the elapsed-time rule with its threshold and reference).
    pub fn explain(&self, customer: CustomerId, as_of: DateTime<Utc>) -> Result<Vec<StageChange>> {
        let state = self.projector.state_as_of(customer, as_of)?;
        Ok(state.timeline(self.policy(), as_of))
    }

    /// [`Lifecycle::explain`] restricted to events recorded by `known_at`.
    pub fn explain_known_at(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
    ) -> Result<Vec<StageChange>> {
        let state = self.projector.state_known_at(customer, as_of, known_at)?;
        Ok(state.timeline(self.policy(), as_of))
    }

    /// Customers known by `identifier`, whatever its kind (plate, policy
    /// number, national id, phone, e-mail, external id): each kind's normal
    /// form is looked up exactly (001 L5). In customer-id order.
    pub fn lookup(&self, identifier: &str) -> Result<Vec<CustomerId>> {
        let mut out = BTreeSet::new();
        let mut any = false;
        for kind in IdentifierKind::ALL {
            if let Some(value) = kind.normalise(identifier) {
                any = true;
                out.extend(self.projector.lookup(&kind.term(&value))?);
            }
        }
        if !any {
            return Err(empty("identifier"));
        }
        Ok(out.into_iter().collect())
    }

    /// Customers known by `value` as an identifier of `kind` (exact, normalised).
    pub fn lookup_by(&self, kind: IdentifierKind, value: &str) -> Result<Vec<CustomerId>> {
        let value = kind.normalise(value).ok_or_else(|| empty("value"))?;
        let mut out = self.projector.lookup(&kind.term(&value))?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Customers whose licence plate ends with `suffix` (e.g. the last digit,
    /// for "通过车牌尾数查找出需要验驾驶证的客户", 001 L6). In customer-id order.
    pub fn lookup_plate_suffix(&self, suffix: &str) -> Result<Vec<CustomerId>> {
        let suffix = IdentifierKind::LicencePlate
            .normalise(suffix)
            .ok_or_else(|| empty("suffix"))?;
        let prefix = format!("{PLATE_REVERSED}{}", reversed(&suffix));
        let out: BTreeSet<CustomerId> = self
            .projector
            .lookup_prefix(&prefix)?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        Ok(out.into_iter().collect())
    }

    /// Policies due for renewal with `valid_until` in `from..=to` (001 L5:
    /// "当天或某段时间需要续保的客户名单"), with each customer's renewal intent
    /// if stated after the policy was last bought. Ordered by date, customer,
    /// policy number. Empty if `from > to`.
    pub fn renewals_due(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RenewalDue>> {
        if from > to {
            return Ok(Vec::new());
        }
        let day = |d: NaiveDate| format!("{RENEWAL_DUE}{}", d.format("%Y-%m-%d"));
        let customers: BTreeSet<CustomerId> = self
            .projector
            .lookup_range(&day(from), &day(to))?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let mut out = Vec::new();
        for customer in customers {
            let Some(state) = self.projector.state(customer)? else {
                continue;
            };
            add_renewals(&mut out, customer, &state, from, to);
        }
        sort_renewals(&mut out);
        Ok(out)
    }

    /// [`Lifecycle::renewals_due`] as the desk would have listed them at
    /// recorded time `known_at`: from the events recorded by then (a renewal
    /// bought, or an intent stated, later is not in it), read from the log
    /// as it stood in one walk of the population.
    pub fn renewals_due_known_at(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        known_at: DateTime<Utc>,
    ) -> Result<Vec<RenewalDue>> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // Every business time: what was recorded by then, whenever it occurred.
        self.projector.for_each_state_known_at(
            DateTime::<Utc>::MAX_UTC,
            known_at,
            |customer, state| {
                add_renewals(&mut out, customer, &state, from, to);
                Ok::<_, LifecycleError>(())
            },
        )?;
        sort_renewals(&mut out);
        Ok(out)
    }

    /// How many customers are in each stage at business time `as_of`: each
    /// customer's [`Lifecycle::view`], read from the stored states wherever
    /// they hold no later event (`Projector::for_each_state_as_of`: one
    /// state in memory at a time).
    pub fn stage_distribution(&self, as_of: DateTime<Utc>) -> Result<StageDistribution> {
        let mut dist = StageDistribution::empty();
        self.projector
            .for_each_state_as_of(as_of, |customer, state| {
                if let Some(view) = self.projection().view(&state, customer, as_of) {
                    dist.add(&view);
                }
                Ok::<_, LifecycleError>(())
            })?;
        Ok(dist)
    }

    /// [`Lifecycle::stage_distribution`] at each of `times`, in that order,
    /// reading each customer's events once for all of them
    /// (`Projector::for_each_state_at`): a stage flow over twelve month ends
    /// costs about one pass over the population, not twelve.
    pub fn stage_distributions(&self, times: &[DateTime<Utc>]) -> Result<Vec<StageDistribution>> {
        self.distributions_at(times, None)
    }

    /// [`Lifecycle::stage_distributions`] as the log knew it at recorded time
    /// `known_at`: at each of `times`, over the customers it knew then, from
    /// one read of the log as it stood
    /// (`Projector::for_each_state_at_known_at`). Each distribution equals
    /// [`Lifecycle::stage_distribution_known_at`] at its time.
    pub fn stage_distributions_known_at(
        &self,
        times: &[DateTime<Utc>],
        known_at: DateTime<Utc>,
    ) -> Result<Vec<StageDistribution>> {
        self.distributions_at(times, Some(known_at))
    }

    /// The distributions at `times`, from the committed log or as known at
    /// a recorded time: one walk of the population either way.
    fn distributions_at(
        &self,
        times: &[DateTime<Utc>],
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<StageDistribution>> {
        let mut out: Vec<StageDistribution> =
            times.iter().map(|_| StageDistribution::empty()).collect();
        let mut add = |customer: CustomerId, i: usize, state: &LifecycleState| {
            if let (Some(view), Some(dist)) = (
                self.projection().view(state, customer, times[i]),
                out.get_mut(i),
            ) {
                dist.add(&view);
            }
            Ok::<_, LifecycleError>(())
        };
        match known_at {
            Some(known_at) => self
                .projector
                .for_each_state_at_known_at(times, known_at, &mut add)?,
            None => self.projector.for_each_state_at(times, &mut add)?,
        }
        Ok(out)
    }

    /// [`Lifecycle::stage_distribution`] as the log knew it at recorded time
    /// `known_at`: over the customers it knew then, each as
    /// [`Lifecycle::view_known_at`] sees it, from one read of the log as it
    /// stood (`Projector::for_each_state_known_at`).
    pub fn stage_distribution_known_at(
        &self,
        as_of: DateTime<Utc>,
        known_at: DateTime<Utc>,
    ) -> Result<StageDistribution> {
        let mut dist = StageDistribution::empty();
        self.projector
            .for_each_state_known_at(as_of, known_at, |customer, state| {
                if let Some(view) = self.projection().view(&state, customer, as_of) {
                    dist.add(&view);
                }
                Ok::<_, LifecycleError>(())
            })?;
        Ok(dist)
    }
}

/// Pushes the policies of `state` due in `from..=to`.
fn add_renewals(
    out: &mut Vec<RenewalDue>,
    customer: CustomerId,
    state: &LifecycleState,
    from: NaiveDate,
    to: NaiveDate,
) {
    for (policy_number, valid_until, intent) in state.renewals(from, to) {
        out.push(RenewalDue {
            customer,
            policy_number,
            valid_until,
            intent,
        });
    }
}

/// By date, customer, policy number.
fn sort_renewals(out: &mut [RenewalDue]) {
    out.sort_by(|a, b| {
        (a.valid_until, a.customer, &a.policy_number).cmp(&(
            b.valid_until,
            b.customer,
            &b.policy_number,
        ))
    });
}

fn empty(argument: &'static str) -> LifecycleError {
    LifecycleError::InvalidArgument {
        argument,
        reason: "nothing is left after normalisation".to_owned(),
    }
}
