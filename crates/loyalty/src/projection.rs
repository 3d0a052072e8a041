//! The loyalty projection: the [`Projection`] the core runtime keeps up to date.

use chrono::{DateTime, Utc};
use clientele_core::projection::Projection;
use clientele_core::RecordedEvent;

use crate::error::Result;
use crate::points::{ledger, PointsBalance};
use crate::policy::LoyaltyPolicy;
use crate::score::{compute, LoyaltyScore};
use crate::state::{fnv1a, LoyaltyState};

/// The projection's name: keys its stored states and checkpoint.
pub const PROJECTION_NAME: &str = "loyalty";

/// Bumped whenever the fold or the state's shape changes: together with the
/// policy's version it forms the projection version, so either change rebuilds.
const STATE_FORMAT: &[u8] = b"clientele-loyalty/state/2";

/// The loyalty projection: a pure fold of one customer's events into a
/// [`LoyaltyState`]; scores and points are evaluated from the state as of a
/// time passed in (no clock is read).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use clientele_core::{projection::fold, CustomerId, EventId, RecordedEvent, event::*};
/// use clientele_loyalty::{Factor, LoyaltyPolicy, LoyaltyProjection};
///
/// let projection = LoyaltyProjection::new(LoyaltyPolicy::default())?;
/// let customer = CustomerId::new_random();
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
/// let event = |days: i64, payload: EventPayload| RecordedEvent {
///     event_id: EventId::new(), customer_id: customer, version: 1, position: 1,
///     occurred_at: t0 + Duration::days(days), recorded_at: t0 + Duration::days(days),
///     schema_version: 2, metadata: Default::default(), personal_data: Default::default(), payload,
/// };
/// let mut review = Contact::new(Channel::Web, Direction::Inbound, Purpose::Survey);
/// review.rating = Some(5);
/// let events = [
///     event(0, Purchase::new("A-1", "300.00".parse()?, "CNY".parse()?).into()),
///     event(7, review.into()),
///     event(90, Purchase::new("A-2", "150.00".parse()?, "CNY".parse()?).into()),
/// ];
/// let state = fold(&projection, &events);
/// let score = projection.score(&state, t0 + Duration::days(100), 0);
/// assert!((0.0..=100.0).contains(&score.score));
/// let sum: f64 = score.components.iter().map(|c| c.contribution).sum();
/// assert!((sum - score.score).abs() < 1e-9);
/// assert_eq!(score.component(Factor::Satisfaction).unwrap().normalised, 1.0);
/// println!("{} ({})", score.score, score.tier.name);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoyaltyProjection {
    policy: LoyaltyPolicy,
    version: u64,
}

impl LoyaltyProjection {
    /// A projection under `policy`, which is validated first.
    pub fn new(policy: LoyaltyPolicy) -> Result<Self> {
        policy.validate()?;
        let mut bytes = STATE_FORMAT.to_vec();
        bytes.extend_from_slice(&policy.version().to_be_bytes());
        Ok(Self {
            version: fnv1a(&bytes),
            policy,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &LoyaltyPolicy {
        &self.policy
    }

    /// The score of `state` as of `as_of`, with `converted_referrals` computed
    /// from the population (see [`crate::score()`]).
    pub fn score(
        &self,
        state: &LoyaltyState,
        as_of: DateTime<Utc>,
        converted_referrals: u32,
    ) -> LoyaltyScore {
        compute(&self.policy, state, as_of, converted_referrals)
    }

    /// The points of `state` as of `as_of` under the policy's points rules.
    pub fn points(&self, state: &LoyaltyState, as_of: DateTime<Utc>) -> PointsBalance {
        ledger(&self.policy.points, state, as_of)
    }
}

impl Projection for LoyaltyProjection {
    type State = LoyaltyState;

    fn name(&self) -> &str {
        PROJECTION_NAME
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn apply(&self, state: &mut LoyaltyState, event: &RecordedEvent) {
        state.apply(event);
    }
    /// Amounts, dates, steps and ratings only: events are read without
    /// decrypting their personal fields.
    fn reads_personal_data(&self) -> bool {
        false
    }
}
