//! The lifecycle projection: the [`Projection`] the core runtime keeps up to date.

use chrono::{DateTime, Utc};
use clientele_core::projection::Projection;
use clientele_core::{CustomerId, RecordedEvent};

use crate::error::Result;
use crate::policy::{fnv1a, LifecyclePolicy};
use crate::stage::CustomerStage;
use crate::state::LifecycleState;

/// The projection's name: keys its stored states, index and checkpoint.
pub const PROJECTION_NAME: &str = "lifecycle";

/// Bumped whenever the fold, the state's shape or its stored encoding (see
/// `crate::stored`) changes: together with the policy's version it forms the
/// projection version, so either change rebuilds.
const STATE_FORMAT: &[u8] = b"clientele-lifecycle/state/7";

/// The lifecycle-stage projection: a pure fold of one customer's events under
/// a [`LifecyclePolicy`]. No clock is read: time-driven rules are applied by
/// advancing the state to a time passed in (see [`LifecycleState::view`]).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use clientele_core::{projection::fold, CustomerId, ExpectedVersion, NewEvent, Store, event::*};
/// use clientele_lifecycle::{LifecyclePolicy, LifecycleProjection, Stage};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let customer = CustomerId::new_random();
/// let bought = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
/// let order = Purchase::new("A-1", "165.00".parse()?, "CNY".parse()?);
/// store.append(customer, ExpectedVersion::Any, vec![NewEvent::new(bought, order)])?;
///
/// // A fresh fold of the stream, viewed at two times.
/// let projection = LifecycleProjection::new(LifecyclePolicy::default())?;
/// let state = fold(&projection, store.read_stream(customer)?.iter());
/// let view = projection.view(&state, customer, bought + Duration::days(1)).expect("a view");
/// assert_eq!(view.stage, Stage::Growth);
/// // One-time buyer: 180 days later, with no new events, the customer is in decline.
/// let later = bought + Duration::days(181);
/// assert_eq!(projection.view(&state, customer, later).unwrap().stage, Stage::Decline);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LifecycleProjection {
    policy: LifecyclePolicy,
    version: u64,
}

impl LifecycleProjection {
    /// A projection under `policy`, which is validated first.
    pub fn new(policy: LifecyclePolicy) -> Result<Self> {
        policy.validate()?;
        let mut bytes = STATE_FORMAT.to_vec();
        bytes.extend_from_slice(&policy.version().to_be_bytes());
        Ok(Self {
            version: fnv1a(&bytes),
            policy,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &LifecyclePolicy {
        &self.policy
    }

    /// The view of `state` as of `as_of`: the state advanced to that time.
    /// `state` should hold the events that occurred by `as_of` (as
    /// `Projector::state_as_of` gives); None if it holds none.
    pub fn view(
        &self,
        state: &LifecycleState,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Option<CustomerStage> {
        state.view(&self.policy, customer, as_of)
    }
}

impl Projection for LifecycleProjection {
    type State = LifecycleState;

    fn name(&self) -> &str {
        PROJECTION_NAME
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn apply(&self, state: &mut LifecycleState, event: &RecordedEvent) {
        state.apply(&self.policy, event);
    }

    fn index_terms(&self, state: &LifecycleState) -> Vec<String> {
        state.index_terms()
    }

    /// The crate's own compact encoding (see `crate::stored`), not postcard.
    fn encode_state(
        &self,
        state: &LifecycleState,
        out: &mut Vec<u8>,
    ) -> clientele_core::Result<()> {
        crate::stored::encode(state, out);
        Ok(())
    }

    /// Reads what [`Projection::encode_state`] wrote; `None` for anything else.
    fn decode_state(&self, bytes: &[u8]) -> Option<LifecycleState> {
        crate::stored::decode(bytes)
    }
}
