//! Backtests: freeze the world at `as_of` (a bitemporal replay of every
//! customer's events that had occurred by then), score everyone, and compare
//! with what happened in `(as_of, as_of + horizon]`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use clientele_core::projection::{AsOf, Projector};
use clientele_core::CustomerId;
use clientele_value::{BgNbd, FitOptions, Observation};
use serde::{Deserialize, Serialize};

use crate::metrics::{self, AtK, CalibrationBin, Decile};
use crate::risk::{observation, ModelContext, RiskPolicy};
use crate::state::{day_of, ChurnProjection, ChurnState};
use crate::Result;

/// What a backtest found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// The frozen time.
    pub as_of: DateTime<Utc>,
    /// The recorded time the backtest was run as of, if not now: only
    /// events recorded by then were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at: Option<DateTime<Utc>>,
    /// Horizon in days.
    pub horizon_days: i64,
    /// Customers scored (those with events by `as_of`).
    pub customers: usize,
    /// Customers who churned in the horizon.
    pub churned: usize,
    /// churned ÷ customers.
    pub churn_rate: f64,
    /// AUC of the combined risk score; `None` when it is undefined: nobody
    /// churned, or everybody did (e.g. a horizon after the last event).
    pub auc: Option<f64>,
    /// AUC of single signals, for comparison (`recency`, `expected_purchases`, `p_alive`, `model`).
    pub signal_auc: BTreeMap<String, f64>,
    /// Precision and recall at k (100, 500, 10 %, 25 % of customers).
    pub at_k: Vec<AtK>,
    /// Lift by decile of risk.
    pub lift: Vec<Decile>,
    /// Calibration table (10 bins).
    pub calibration: Vec<CalibrationBin>,
    /// BG/NBD fitted on the frozen population (r, α, a, b), if any purchases.
    pub bg_nbd: Option<[f64; 4]>,
    /// The business time of the latest event in the store (of anyone, known
    /// now): outcomes after it are not observed. `None` for an empty store.
    #[serde(default)]
    pub data_end: Option<DateTime<Utc>>,
}

impl BacktestReport {
    /// The end of the outcome window, `as_of + horizon`.
    pub fn horizon_end(&self) -> DateTime<Utc> {
        horizon_end(self.as_of, self.horizon_days)
    }

    /// Whether the data covers the outcome window: the latest event falls on
    /// or after the window's last day. When it does not, customers without
    /// events after [`BacktestReport::data_end`] count as churned although
    /// nothing is known about them, and the figures are biased (or, with the
    /// window wholly after the data, meaningless).
    pub fn outcomes_complete(&self) -> bool {
        self.data_end
            .is_some_and(|end| day_of(end) >= day_of(self.horizon_end()))
    }

    /// Whether any outcome at all can be observed: some event happened after
    /// `as_of`.
    pub fn outcomes_observed(&self) -> bool {
        self.data_end.is_some_and(|end| end > self.as_of)
    }
}

impl ModelContext {
    /// The model fitted on `population` (the states as of `as_of`, see
    /// [`fit_population`]) for a risk over `horizon_days`.
    pub fn fitted(population: &[ChurnState], as_of: DateTime<Utc>, horizon_days: i64) -> Self {
        ModelContext {
            bg_nbd: fit_population(population, as_of),
            horizon_days: horizon_days as f64,
        }
    }
}

/// Fits BG/NBD (weeks) on the frozen states.
pub fn fit_population(states: &[ChurnState], as_of: DateTime<Utc>) -> Option<BgNbd> {
    let day = day_of(as_of);
    let data: Vec<_> = states.iter().filter_map(|s| observation(s, day)).collect();
    fit_observations(&data)
}

/// Fits BG/NBD (weeks) on observations, as [`fit_population`] does.
pub fn fit_observations(data: &[Observation]) -> Option<BgNbd> {
    if data.is_empty() {
        return None;
    }
    // Unpenalised maximum likelihood first (it reproduces the published
    // fits); if that does not converge — very regular synthetic buyers can
    // push a or b to the boundary — a small L2 penalty keeps it finite.
    BgNbd::fit(data, &FitOptions::default())
        .or_else(|_| {
            let options = FitOptions::default()
                .with_penalizer(0.01)
                .with_require_convergence(false);
            BgNbd::fit(data, &options)
        })
        .ok()
        .map(|f| f.params)
}

/// Whether a customer churned in `(as_of, as_of + horizon]`, from `at_end`,
/// their state as of the horizon's end: an explicit churn in the window that
/// still stood at its end, or no purchase and no payment in the window while
/// no cover ran to its end (a subscriber paying their bills has not left). A policyholder whose cover (bought by then, not cancelled)
/// lasts past the window has not left by staying silent: a covered customer
/// leaves by not renewing (docs/churn.md, "Cover").
///
/// A later state (everything known now) gives the same answer when no
/// cover, churn or win-back follows the window.
pub fn churned_in(at_end: &ChurnState, as_of: DateTime<Utc>, horizon_days: i64) -> bool {
    let end = horizon_end(as_of, horizon_days);
    let (from, to) = (day_of(as_of), day_of(end));
    let explicit = at_end
        .churned_at
        .is_some_and(|t| t > as_of.timestamp_micros() && t <= end.timestamp_micros());
    let covered = at_end.renewal_due.is_some_and(|due| due >= to);
    let active = at_end.purchased_between(from, to) || at_end.paid_between(from, to);
    explicit || (!active && !covered)
}

/// `as_of + horizon_days`, or the latest (earliest, for a negative horizon)
/// time there is: a horizon past chrono's range is no panic.
fn horizon_end(as_of: DateTime<Utc>, horizon_days: i64) -> DateTime<Utc> {
    Duration::try_days(horizon_days)
        .and_then(|d| as_of.checked_add_signed(d))
        .unwrap_or(if horizon_days < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

/// Runs a backtest over every customer of the projector's store, frozen at
/// `at`'s business time.
///
/// With a recorded time (`AsOf { occurred, known_at: Some(r) }`) it is the
/// backtest as it could have been run at `r`: the frozen states and the
/// outcomes both come from the events recorded by `r`, and customers first
/// recorded after `r` are left out. A `DateTime` means everything known now.
pub fn backtest(
    projector: &Projector<ChurnProjection>,
    policy: &RiskPolicy,
    at: impl Into<AsOf>,
    horizon_days: i64,
) -> Result<BacktestReport> {
    policy.validate()?;
    let at = at.into();
    let as_of = at.occurred;
    let mut frozen = Vec::new();
    let mut outcomes = Vec::new();
    let mut data_end: Option<i64> = None;
    // Each customer's state at the freeze, at the horizon's end (the
    // outcome) and with everything known (the data's end), from one walk.
    let times = [
        as_of,
        horizon_end(as_of, horizon_days),
        DateTime::<Utc>::MAX_UTC,
    ];
    let mut seen: [Option<ChurnState>; 2] = [None, None];
    let mut each = |_: CustomerId, i: usize, state: &ChurnState| {
        if let Some(slot) = seen.get_mut(i) {
            *slot = Some(state.clone());
            return Ok::<_, clientele_core::Error>(());
        }
        if let Some(last) = state.last_seen {
            data_end = Some(data_end.map_or(last, |end| end.max(last)));
        }
        if let [Some(frozen_state), Some(at_end)] = std::mem::take(&mut seen) {
            if frozen_state.first_seen.is_some() {
                outcomes.push(churned_in(&at_end, as_of, horizon_days));
                frozen.push(frozen_state);
            }
        }
        Ok(())
    };
    match at.known_at {
        None => projector.for_each_state_at(&times, &mut each)?,
        Some(known_at) => projector.for_each_state_at_known_at(&times, known_at, &mut each)?,
    }
    let mut report = evaluate(&frozen, &outcomes, policy, as_of, horizon_days);
    report.known_at = at.known_at;
    report.data_end = data_end.and_then(DateTime::from_timestamp_micros);
    Ok(report)
}

/// Scores frozen states and compares with outcomes (the pure part of
/// [`backtest`]; `known_at` and `data_end` are left `None`). States and
/// outcomes are paired by position; if one slice is longer, its extra
/// entries are left out of every figure.
pub fn evaluate(
    frozen: &[ChurnState],
    outcomes: &[bool],
    policy: &RiskPolicy,
    as_of: DateTime<Utc>,
    horizon_days: i64,
) -> BacktestReport {
    let paired = frozen.len().min(outcomes.len());
    let (frozen, outcomes) = (&frozen[..paired], &outcomes[..paired]);
    let model = ModelContext::fitted(frozen, as_of, horizon_days);
    let mut risk = Vec::with_capacity(frozen.len());
    let mut single: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for state in frozen {
        let score = policy.score(state, as_of, &model);
        let s = &score.signals;
        single
            .entry("recency")
            .or_default()
            .push(s.days_since_last_purchase.unwrap_or(f64::INFINITY));
        single
            .entry("expected_purchases")
            .or_default()
            .push(-s.expected_purchases.unwrap_or(0.0));
        single
            .entry("p_alive")
            .or_default()
            .push(-s.p_alive.unwrap_or(0.0));
        single
            .entry("model")
            .or_default()
            .push(s.p_no_purchase.unwrap_or(1.0));
        risk.push(score.risk);
    }
    let n = frozen.len();
    let churned = outcomes.iter().filter(|&&o| o).count();
    let ks = [100, 500, n / 10, n / 4];
    BacktestReport {
        as_of,
        horizon_days,
        customers: n,
        churned,
        churn_rate: churned as f64 / n.max(1) as f64,
        auc: metrics::auc(&risk, outcomes),
        signal_auc: single
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), metrics::auc(&v, outcomes)?)))
            .collect(),
        at_k: metrics::at_k(&risk, outcomes, &ks),
        lift: metrics::lift_by_decile(&risk, outcomes),
        calibration: metrics::calibration(&risk, outcomes, 10),
        bg_nbd: model.bg_nbd.map(|m| [m.r(), m.alpha(), m.a(), m.b()]),
        known_at: None,
        data_end: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn as_of() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).unwrap()
    }

    /// A customer who bought on `bought` (days after as-of, negative before),
    /// with a cover to `cover` (days after as-of) if any.
    fn state(bought: &[i32], cover: Option<i32>) -> ChurnState {
        let day = day_of(as_of());
        ChurnState {
            first_seen: Some(as_of().timestamp_micros() - 400 * 86_400_000_000),
            purchase_days: bought.iter().map(|d| (day + d, 100)).collect(),
            renewal_due: cover.map(|c| day + c),
            ..ChurnState::default()
        }
    }

    #[test]
    fn silence_is_churn_unless_a_cover_runs_past_the_window() {
        // 91-day window: days 1..=91 after as-of.
        assert!(churned_in(&state(&[-200], None), as_of(), 91));
        assert!(!churned_in(&state(&[-200, 30], None), as_of(), 91));
        assert!(!churned_in(&state(&[91], None), as_of(), 91));
        assert!(
            churned_in(&state(&[0], None), as_of(), 91),
            "as-of day is before"
        );
        // Insured to after the window: silent, not gone.
        assert!(!churned_in(&state(&[-200], Some(165)), as_of(), 91));
        assert!(!churned_in(&state(&[-200], Some(91)), as_of(), 91));
        // The cover ended in the window and was not renewed in it.
        assert!(churned_in(&state(&[-200], Some(60)), as_of(), 91));
        // Renewed in the window.
        assert!(!churned_in(&state(&[-200, 55], Some(420)), as_of(), 91));
    }

    #[test]
    fn an_empty_reversed_or_huge_window_is_no_panic() {
        let mut s = state(&[-200, 0], None);
        s.payment_days.insert(day_of(as_of()), true);
        for horizon in [0, -5] {
            assert!(churned_in(&s, as_of(), horizon), "{horizon}");
        }
        // Past chrono's range: the window runs to the end of time.
        assert!(!churned_in(&state(&[-200, 30], None), as_of(), i64::MAX));
        assert!(churned_in(&state(&[-200], None), as_of(), i64::MIN));
        assert_eq!(horizon_end(as_of(), i64::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn an_explicit_churn_in_the_window_counts_even_when_covered() {
        let t = |days: i64| (as_of() + Duration::days(days)).timestamp_micros();
        let mut s = state(&[-200], Some(165));
        s.churned_at = Some(t(20));
        assert!(churned_in(&s, as_of(), 91));
        s.churned_at = Some(t(-20));
        assert!(
            !churned_in(&s, as_of(), 91),
            "before the window: not this window's churn"
        );
        s.churned_at = Some(t(100));
        assert!(!churned_in(&s, as_of(), 91), "after the window");
    }
}
