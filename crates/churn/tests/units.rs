//! Focused tests of public functions the audit found without a direct test
//! (`/work/notes/untested_api.md`, section 1 items 1–5): `backtest::evaluate`,
//! `RiskPolicy::with_calibration`, `calibrate::fit_logistic`,
//! `WarningPolicy::{kinds, severity}` and
//! `ChurnState::{longest_silence_until, rhythm_until}`.

use chrono::{DateTime, TimeZone, Utc};
use clientele_churn::backtest::evaluate;
use clientele_churn::calibrate::{fit_logistic, Calibration};
use clientele_churn::metrics;
use clientele_churn::state::{day_of, Rhythm};
use clientele_churn::{
    ChurnState, ModelContext, RiskPolicy, RiskScore, Severity, Signals, WarningKind, WarningPolicy,
};
use clientele_core::event::RenewalIntent;
use Severity::{High, Low, Medium};
use WarningKind::{Churned, ComplaintSla, HighRisk, RenewalAtRisk, WinBack};

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// A base day number (2022-01-08) so that day numbers look like real ones.
const D0: i32 = 19_000;

/// The largest `f64` below `x` (for `x > 0`), for "just under the threshold".
fn just_below(x: f64) -> f64 {
    f64::from_bits(x.to_bits() - 1)
}

/// A state with a purchase of 100 minor units on each of `purchases`, a
/// payment on each of `payments` (day, was it a bill) and a reactivation at
/// noon of `reactivated`; all days are offsets from [`D0`].
fn state(purchases: &[i32], payments: &[(i32, bool)], reactivated: Option<i32>) -> ChurnState {
    ChurnState {
        purchase_days: purchases.iter().map(|d| (D0 + d, 100)).collect(),
        payment_days: payments.iter().map(|&(d, bill)| (D0 + d, bill)).collect(),
        reactivated_at: reactivated.map(|d| i64::from(D0 + d) * DAY_US + DAY_US / 2),
        ..ChurnState::default()
    }
}

// ---------------------------------------------------------------------------
// 1. backtest::evaluate
// ---------------------------------------------------------------------------

fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).unwrap()
}

/// A frozen customer first seen 400 days before as-of who bought on each of
/// `bought` (days relative to as-of, negative = before).
fn frozen(bought: &[i32]) -> ChurnState {
    let day = day_of(as_of());
    ChurnState {
        first_seen: Some(as_of().timestamp_micros() - 400 * DAY_US),
        purchase_days: bought.iter().map(|d| (day + d, 100)).collect(),
        ..ChurnState::default()
    }
}

/// Three regulars (bought every month up to 5 days ago, did not churn) and
/// three one-time buyers last seen 300 days ago (churned).
fn population() -> (Vec<ChurnState>, Vec<bool>) {
    let regular = frozen(&[-95, -65, -35, -5]);
    let gone = frozen(&[-300]);
    let states = vec![
        regular.clone(),
        gone.clone(),
        regular.clone(),
        gone.clone(),
        regular,
        gone,
    ];
    let outcomes = vec![false, true, false, true, false, true];
    (states, outcomes)
}

#[test]
fn evaluate_counts_customers_and_churn_and_its_auc_is_the_metric_of_the_scores() {
    let (states, outcomes) = population();
    let policy = RiskPolicy::default();
    let report = evaluate(&states, &outcomes, &policy, as_of(), 91);

    assert_eq!(report.as_of, as_of());
    assert_eq!(report.horizon_days, 91);
    assert_eq!(report.customers, 6);
    assert_eq!(report.churned, 3);
    // 3 ÷ 6.
    assert_eq!(report.churn_rate, 0.5);
    // `evaluate` is the pure part of `backtest`: it knows neither.
    assert_eq!(report.known_at, None);
    assert_eq!(report.data_end, None);

    // The AUC is `metrics::auc` of the policy's scores under the model fitted
    // on the frozen population ...
    let model = ModelContext::fitted(&states, as_of(), 91);
    let risks: Vec<f64> = states
        .iter()
        .map(|s| policy.score(s, as_of(), &model).risk)
        .collect();
    assert_eq!(report.auc, metrics::auc(&risks, &outcomes));
    // ... and these two groups are ranked perfectly: every one-time buyer
    // silent for 300 days scores above every monthly regular.
    assert_eq!(report.auc, Some(1.0));

    // One AUC per single signal, under these four names.
    let keys: Vec<&str> = report.signal_auc.keys().map(String::as_str).collect();
    assert_eq!(keys, ["expected_purchases", "model", "p_alive", "recency"]);
    // Recency alone (300 days vs 5) separates the groups perfectly.
    assert_eq!(report.signal_auc["recency"], 1.0);
    for (name, auc) in &report.signal_auc {
        assert!((0.0..=1.0).contains(auc), "{name}: {auc}");
    }

    // k = 100, 500, n/10, n/4, each capped at n = 6: 6, 6, 0, 1.
    let ks: Vec<usize> = report.at_k.iter().map(|a| a.k).collect();
    assert_eq!(ks, [6, 6, 0, 1]);
    // The riskiest customer churned: precision 1, recall 1/3 at k = 1.
    assert_eq!(report.at_k[3].precision, 1.0);
    assert_eq!(report.at_k[3].recall, 1.0 / 3.0);
    assert_eq!(report.lift.len(), 10);
    assert_eq!(report.lift.iter().map(|d| d.customers).sum::<usize>(), 6);
    assert_eq!(report.calibration.len(), 10);
    assert_eq!(
        report
            .calibration
            .iter()
            .map(|b| b.customers)
            .sum::<usize>(),
        6
    );
    assert_eq!(
        report.bg_nbd,
        model.bg_nbd.map(|m| [m.r(), m.alpha(), m.a(), m.b()])
    );
}

#[test]
fn evaluate_with_one_class_only_has_no_auc() {
    let (states, _) = population();
    let nobody = vec![false; states.len()];
    let report = evaluate(&states, &nobody, &RiskPolicy::default(), as_of(), 91);
    assert_eq!((report.customers, report.churned), (6, 0));
    assert_eq!(report.churn_rate, 0.0);
    assert_eq!(report.auc, None);
    // Undefined single-signal AUCs are left out, not reported as NaN.
    assert!(report.signal_auc.is_empty(), "{:?}", report.signal_auc);

    let everybody = vec![true; states.len()];
    let report = evaluate(&states, &everybody, &RiskPolicy::default(), as_of(), 91);
    assert_eq!((report.churned, report.churn_rate), (6, 1.0));
    assert_eq!(report.auc, None);
    assert!(report.signal_auc.is_empty(), "{:?}", report.signal_auc);
}

/// States and outcomes are paired by position: the extra entries of the
/// longer slice count nowhere (two states with six outcomes are two
/// customers, of whom the outcomes say the second churned).
#[test]
fn evaluate_pairs_states_and_outcomes_by_position() {
    let (states, outcomes) = population();
    let policy = RiskPolicy::default();
    let short = evaluate(&states[..2], &outcomes, &policy, as_of(), 91);
    let paired = evaluate(&states[..2], &outcomes[..2], &policy, as_of(), 91);
    assert_eq!((short.customers, short.churned), (2, 1));
    assert_eq!(short.churn_rate, 0.5);
    assert_eq!(short, paired);
    let fewer_outcomes = evaluate(&states, &outcomes[..2], &policy, as_of(), 91);
    assert_eq!((fewer_outcomes.customers, fewer_outcomes.churned), (2, 1));
}

#[test]
fn evaluate_of_nobody_is_an_empty_report_not_a_panic() {
    let report = evaluate(&[], &[], &RiskPolicy::default(), as_of(), 91);
    assert_eq!(report.customers, 0);
    assert_eq!(report.churned, 0);
    // churned ÷ max(customers, 1): 0, not NaN.
    assert_eq!(report.churn_rate, 0.0);
    assert_eq!(report.auc, None);
    assert!(report.signal_auc.is_empty());
    assert_eq!(report.bg_nbd, None, "nothing to fit");
    assert_eq!((report.known_at, report.data_end), (None, None));
    assert!(report
        .at_k
        .iter()
        .all(|a| a.k == 0 && a.precision == 0.0 && a.recall == 0.0));
    assert_eq!(report.lift.len(), 10);
    assert!(report.lift.iter().all(|d| d.customers == 0));
    assert_eq!(report.calibration.len(), 10);
    assert!(report.calibration.iter().all(|b| b.customers == 0));
}

// ---------------------------------------------------------------------------
// 2. RiskPolicy::with_calibration
// ---------------------------------------------------------------------------

fn calibration(weights: Vec<f64>) -> Calibration {
    Calibration {
        cutoff: as_of(),
        horizon_days: 91,
        customers: 100,
        weights,
    }
}

/// A policy whose every field differs from the default, so that a field
/// reset to its default (rather than kept) shows.
fn unusual_policy() -> RiskPolicy {
    RiskPolicy {
        bias: 9.1,
        covered_bias: -2.5,
        w_model: 9.2,
        w_expected: 9.3,
        w_recency: 9.4,
        w_frequency: 9.5,
        w_sla_breach: 1.1,
        w_open_complaint: 1.2,
        w_satisfaction_drop: 1.3,
        w_spend_drop: 1.4,
        w_renewal: 1.5,
        w_churned: 1.6,
        min_gap_days: 14.0,
        reply_sla_hours: 48,
        renewal_lead_days: 30,
        spend_window: 5,
        paying_within_days: 45.0,
    }
}

#[test]
fn a_calibration_sets_the_five_behavioural_weights_and_nothing_else() {
    // `Calibration::weights` is `[intercept, model, expected, recency, frequency]`.
    let c = calibration(vec![0.5, 1.0, -2.0, 3.0, -4.0]);
    let calibrated = unusual_policy().with_calibration(&c).unwrap();
    let expected = RiskPolicy {
        bias: 0.5,
        w_model: 1.0,
        w_expected: -2.0,
        w_recency: 3.0,
        w_frequency: -4.0,
        ..unusual_policy()
    };
    assert_eq!(calibrated, expected);
    // In particular the covered intercept is not the calibrated one.
    assert_eq!(calibrated.covered_bias, -2.5);

    // The default weights as a calibration give back the default policy.
    let d = RiskPolicy::default();
    let c = calibration(vec![
        d.bias,
        d.w_model,
        d.w_expected,
        d.w_recency,
        d.w_frequency,
    ]);
    assert_eq!(unusual_policy().with_calibration(&c).unwrap().bias, d.bias);
    assert_eq!(RiskPolicy::default().with_calibration(&c).unwrap(), d);
}

/// A calibration with another number of weights (e.g. one read from a
/// hand-edited JSON file) is refused naming the field, and so is one with a
/// weight that is not finite (naming that weight's policy field).
#[test]
fn a_calibration_with_another_weight_count_or_a_nan_is_refused() {
    for n in [0, 1, 4, 6] {
        let weights: Vec<f64> = (0..n).map(|i| -(i as f64) - 0.25).collect();
        match unusual_policy().with_calibration(&calibration(weights)) {
            Err(clientele_churn::Error::InvalidPolicy { field, reason }) => {
                assert_eq!(field, "calibration.weights", "{n} weights");
                assert!(reason.starts_with(&format!("{n} weights")), "{reason}");
            }
            other => panic!("{n} weights: {other:?}"),
        }
    }
    let nan = calibration(vec![0.5, 1.0, f64::NAN, 3.0, -4.0]);
    match unusual_policy().with_calibration(&nan) {
        Err(clientele_churn::Error::InvalidPolicy { field, .. }) => {
            assert_eq!(field, "w_expected")
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 3. calibrate::fit_logistic
// ---------------------------------------------------------------------------

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn fit_logistic_finds_the_closed_form_maximum_likelihood() {
    // One binary feature: the unpenalised MLE reproduces each group's
    // log-odds. x = 0: 1 of 4 positive, logit(1/4) = ln(1/3) = −ln 3;
    // x = 1: 3 of 4, logit(3/4) = ln 3; so intercept −ln 3, weight 2 ln 3.
    let x = [[0.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]];
    let y = [true, false, false, false, true, true, true, false];
    let w = fit_logistic(&x, &y, 0.0);
    let ln3 = 3f64.ln();
    assert_eq!(w.len(), 2);
    assert!((w[0] + ln3).abs() < 1e-9, "{w:?}");
    assert!((w[1] - 2.0 * ln3).abs() < 1e-9, "{w:?}");

    // A ridge shrinks the weight towards 0 (not the intercept's sign).
    let shrunk = fit_logistic(&x, &y, 1.0);
    assert!(shrunk[1] > 0.0 && shrunk[1] < 2.0 * ln3, "{shrunk:?}");
}

#[test]
fn fit_logistic_on_separable_data_points_the_right_way_and_stays_finite() {
    let xs = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0];
    let x: Vec<[f64; 1]> = xs.iter().map(|&v| [v]).collect();
    let y: Vec<bool> = xs.iter().map(|&v| v > 0.0).collect();
    let ridge = 1e-3;
    let w = fit_logistic(&x, &y, ridge);
    assert_eq!(w.len(), 2);
    assert!(w.iter().all(|v| v.is_finite()), "{w:?}");
    assert!(w[1] > 0.0, "positives have the larger x: {w:?}");
    // The data are symmetric about 0, so the intercept is 0.
    assert!(w[0].abs() < 1e-9, "{w:?}");
    // At the optimum the ridge balances the gradient, Σ (y − p) x = ridge·w,
    // and |Σ (y − p) x| < Σ |x| = 7, so w < 7 / ridge.
    assert!(w[1] < 7.0 / ridge, "{w:?}");
    let gradient: f64 = x
        .iter()
        .zip(&y)
        .map(|(xi, &yi)| (f64::from(u8::from(yi)) - sigmoid(w[0] + w[1] * xi[0])) * xi[0])
        .sum();
    assert!(
        (gradient - ridge * w[1]).abs() < 1e-9,
        "not converged: {w:?}"
    );
    // Every row is on the right side of 0.5.
    for (xi, &yi) in x.iter().zip(&y) {
        assert_eq!(sigmoid(w[0] + w[1] * xi[0]) > 0.5, yi, "{xi:?}");
    }

    // Flipped labels: the same weight with the other sign.
    let flipped: Vec<bool> = y.iter().map(|b| !b).collect();
    let v = fit_logistic(&x, &flipped, ridge);
    assert!(v[1] < 0.0, "{v:?}");
    assert!((v[1] + w[1]).abs() < 1e-6 * w[1], "{v:?} vs {w:?}");
}

#[test]
fn fit_logistic_with_one_class_only_gives_finite_weights() {
    let x = [[1.0, 0.5], [2.0, -1.0], [-0.5, 3.0], [0.0, 0.0]];
    for label in [true, false] {
        let y = [label; 4];
        let w = fit_logistic(&x, &y, 1e-3);
        assert_eq!(w.len(), 3);
        assert!(w.iter().all(|v| v.is_finite()), "{label}: {w:?}");
        // The intercept (unpenalised) heads towards the only class.
        assert_eq!(w[0] > 0.0, label, "{w:?}");
        for xi in &x {
            let p = sigmoid(w[0] + w[1] * xi[0] + w[2] * xi[1]);
            assert_eq!(p > 0.5, label, "{label}: {w:?} at {xi:?}");
        }
    }
}

/// A negative or NaN ridge counts as none; a row with a feature that is
/// not finite is left out; extra labels are left out.
#[test]
fn fit_logistic_leaves_out_what_it_cannot_use() {
    let x = [[0.0], [0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]];
    let y = [true, false, false, false, true, true, true, false];
    let plain = fit_logistic(&x, &y, 0.0);
    assert_eq!(fit_logistic(&x, &y, -1.0), plain);
    assert_eq!(fit_logistic(&x, &y, f64::NAN), plain);
    assert_eq!(fit_logistic(&x, &y, f64::INFINITY), plain);

    let mut with_bad_rows = x.to_vec();
    with_bad_rows.extend([[f64::NAN], [f64::INFINITY]]);
    let mut labels = y.to_vec();
    labels.extend([true, true]);
    assert_eq!(fit_logistic(&with_bad_rows, &labels, 0.0), plain);

    labels.extend([true; 5]);
    assert_eq!(fit_logistic(&x, &labels, 0.0), plain, "extra labels");
}

#[test]
fn fit_logistic_of_no_rows_is_all_zeros_not_a_panic() {
    // The intercept's Hessian entry is 0 with no rows, so the first Newton
    // step is refused and the starting point, all zeros, is returned.
    assert_eq!(fit_logistic::<4>(&[], &[], 1e-3), vec![0.0; 5]);
    assert_eq!(fit_logistic::<2>(&[], &[], 0.0), vec![0.0; 3]);
}

// ---------------------------------------------------------------------------
// 4. WarningPolicy::kinds and WarningPolicy::severity
// ---------------------------------------------------------------------------

fn score(risk: f64, signals: Signals) -> RiskScore {
    RiskScore {
        risk,
        reasons: Vec::new(),
        signals,
    }
}

/// `kinds` with nothing triggered at `risk` (below `medium_at`): every kind,
/// in declaration order, inactive.
fn quiet(high_risk: Severity) -> Vec<(WarningKind, Severity, bool)> {
    vec![
        (HighRisk, high_risk, false),
        (RenewalAtRisk, Medium, false),
        (ComplaintSla, High, false),
        (Churned, High, false),
        (WinBack, Low, false),
    ]
}

/// `quiet(severity)` with `kind`'s entry replaced by `entry`.
fn with(
    mut kinds: Vec<(WarningKind, Severity, bool)>,
    entry: (WarningKind, Severity, bool),
) -> Vec<(WarningKind, Severity, bool)> {
    let slot = kinds.iter_mut().find(|(k, _, _)| *k == entry.0).unwrap();
    *slot = entry;
    kinds
}

#[test]
fn no_trigger_gives_every_kind_inactive() {
    let policy = WarningPolicy::default();
    assert_eq!(policy.kinds(&score(0.1, Signals::default())), quiet(Low));
    // Open complaints, a spend drop and a satisfaction drop are no warning
    // kind of their own: they act only through the risk.
    let signals = Signals {
        open_complaints: 3,
        spend_drop: Some(0.9),
        satisfaction_drop: Some(2.0),
        ..Signals::default()
    };
    assert_eq!(policy.kinds(&score(0.1, signals)), quiet(Low));
}

#[test]
fn high_risk_is_active_from_raise_at_with_the_risk_severity() {
    let policy = WarningPolicy::default(); // raise 0.75, medium 0.8, high 0.9
    let kinds = |risk| policy.kinds(&score(risk, Signals::default()));
    assert_eq!(kinds(just_below(0.75)), quiet(Low));
    assert_eq!(kinds(0.75), with(quiet(Low), (HighRisk, Low, true)));
    assert_eq!(kinds(0.85), with(quiet(Medium), (HighRisk, Medium, true)));
    assert_eq!(kinds(0.95), with(quiet(High), (HighRisk, High, true)));
}

#[test]
fn a_renewal_at_risk_needs_an_intent_not_to_continue() {
    let policy = WarningPolicy::default();
    let due = |intent| Signals {
        renewal_due: Some((30, intent)),
        ..Signals::default()
    };
    for intent in [RenewalIntent::NotRenewing, RenewalIntent::Considering] {
        assert_eq!(
            policy.kinds(&score(0.1, due(Some(intent)))),
            with(quiet(Low), (RenewalAtRisk, Medium, true)),
            "{intent:?}"
        );
    }
    // Continuing, or no intent recorded: no warning (the latter still adds
    // half the renewal weight to the risk).
    assert_eq!(
        policy.kinds(&score(0.1, due(Some(RenewalIntent::Continue)))),
        quiet(Low)
    );
    assert_eq!(policy.kinds(&score(0.1, due(None))), quiet(Low));
    // High severity from `medium_at` (inclusive) on; the high-risk warning
    // is then active too.
    let not_renewing = || due(Some(RenewalIntent::NotRenewing));
    assert_eq!(
        policy.kinds(&score(just_below(0.8), not_renewing())),
        with(
            with(quiet(Low), (HighRisk, Low, true)),
            (RenewalAtRisk, Medium, true)
        )
    );
    assert_eq!(
        policy.kinds(&score(0.8, not_renewing())),
        with(
            with(quiet(Medium), (HighRisk, Medium, true)),
            (RenewalAtRisk, High, true)
        )
    );
}

#[test]
fn a_complaint_past_its_sla_is_a_high_warning() {
    let policy = WarningPolicy::default();
    let signals = Signals {
        sla_breaches: 1,
        ..Signals::default()
    };
    assert_eq!(
        policy.kinds(&score(0.1, signals)),
        with(quiet(Low), (ComplaintSla, High, true))
    );
}

#[test]
fn an_explicit_churn_is_a_churned_warning_and_no_high_risk_one() {
    let policy = WarningPolicy::default();
    let churned = || Signals {
        churned: true,
        ..Signals::default()
    };
    assert_eq!(
        policy.kinds(&score(0.1, churned())),
        with(quiet(Low), (Churned, High, true))
    );
    // Risk 0.99 would raise high risk, but the customer is gone.
    assert_eq!(
        policy.kinds(&score(0.99, churned())),
        with(quiet(High), (Churned, High, true))
    );
}

#[test]
fn a_customer_silent_past_the_exit_horizon_is_a_low_win_back_warning() {
    let policy = WarningPolicy::default();
    // A one-time buyer: horizon = floor_days = 365.
    let silent_for = |days| Signals {
        transactions: 1,
        days_since_last_purchase: Some(days),
        typical_gap_days: Some(30.0),
        ..Signals::default()
    };
    assert_eq!(
        policy.kinds(&score(0.1, silent_for(365.0))),
        with(quiet(Low), (WinBack, Low, true))
    );
    // Gone: no high-risk warning at risk 0.99 either.
    assert_eq!(
        policy.kinds(&score(0.99, silent_for(365.0))),
        with(quiet(High), (WinBack, Low, true))
    );
    // A day short of the horizon: not yet gone, so high risk.
    assert_eq!(
        policy.kinds(&score(0.99, silent_for(364.0))),
        with(quiet(High), (HighRisk, High, true))
    );
    // Without the win-back rule the silent customer is a high-risk one.
    let off = WarningPolicy {
        win_back: None,
        ..WarningPolicy::default()
    };
    assert_eq!(
        off.kinds(&score(0.99, silent_for(365.0))),
        with(quiet(High), (HighRisk, High, true))
    );
}

#[test]
fn severity_thresholds_are_inclusive() {
    // "Risk at or above which the severity is high/medium."
    let policy = WarningPolicy::default(); // medium 0.8, high 0.9
    assert_eq!(policy.severity(0.0), Low);
    assert_eq!(policy.severity(just_below(0.8)), Low);
    assert_eq!(policy.severity(0.8), Medium);
    assert_eq!(policy.severity(just_below(0.9)), Medium);
    assert_eq!(policy.severity(0.9), High);
    assert_eq!(policy.severity(1.0), High);
    // `medium_at == high_at` (valid): no medium band.
    let two = WarningPolicy {
        medium_at: 0.5,
        high_at: 0.5,
        ..WarningPolicy::default()
    };
    assert!(two.validate().is_ok());
    assert_eq!(two.severity(just_below(0.5)), Low);
    assert_eq!(two.severity(0.5), High);
}

// ---------------------------------------------------------------------------
// 5. ChurnState::longest_silence_until and ChurnState::rhythm_until
// ---------------------------------------------------------------------------

#[test]
fn the_longest_silence_runs_from_the_last_purchase_to_the_day() {
    // Purchases on days 0, 10, 40, as of day 100: the silence is the
    // trailing gap 100 − 40 = 60 (the doc's "to `day`": it counts).
    let s = state(&[0, 10, 40], &[], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(60));
    // Gaps between purchases are no silence: 0, 50, 60 as of day 70 is
    // 70 − 60 = 10, not the 50 days between the first two.
    let s = state(&[0, 50, 60], &[], None);
    assert_eq!(s.longest_silence_until(D0 + 70), Some(10));
    // On the day of the last purchase: 0.
    assert_eq!(s.longest_silence_until(D0 + 60), Some(0));
    // Purchases after the day are ignored: as of day 55 the last is day 50.
    assert_eq!(s.longest_silence_until(D0 + 55), Some(5));
}

#[test]
fn payments_after_the_last_purchase_split_the_silence_and_the_longest_gap_wins() {
    // Purchase 40; payments 50 and 90; day 100: gaps 10, 40, 10 → 40.
    let s = state(&[0, 40], &[(50, false), (90, true)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(40));
    // A late payment does not undo the silence before it: purchase 0,
    // payment 95, day 100: gaps 95 and 5 → 95.
    let s = state(&[0], &[(95, true)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(95));
    // Payments before the last purchase do not count: purchases 0 and 40,
    // payment 20, day 50 → 10.
    let s = state(&[0, 40], &[(20, true)], None);
    assert_eq!(s.longest_silence_until(D0 + 50), Some(10));
    // Payments after the day do not count: purchase 40, payment 110, day
    // 100 → 60; a payment on the day itself leaves a gap of 60 and one of 0.
    let s = state(&[40], &[(110, false)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(60));
    let s = state(&[40], &[(100, false)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(60));
    // A payment in the middle halves it: 40 → 70 → 100, gaps 30 and 30.
    let s = state(&[40], &[(70, false)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), Some(30));
}

#[test]
fn a_reactivation_restarts_the_silence() {
    // Purchase 0, payment 30, reactivation on day 80 (at noon), day 100:
    // silence counts from day 80 → 20; the payment before it is ignored.
    let s = state(&[0], &[(30, false)], Some(80));
    assert_eq!(s.longest_silence_until(D0 + 100), Some(20));
    // A payment after the reactivation splits the silence as usual: 80 → 85 → 100.
    let s = state(&[0], &[(85, false)], Some(80));
    assert_eq!(s.longest_silence_until(D0 + 100), Some(15));
    // A reactivation after the day is not known yet: 100 − 0.
    let s = state(&[0], &[], Some(150));
    assert_eq!(s.longest_silence_until(D0 + 100), Some(100));
    // A reactivation before the last purchase: the purchase is later.
    let s = state(&[0, 60], &[], Some(20));
    assert_eq!(s.longest_silence_until(D0 + 100), Some(40));
}

#[test]
fn no_purchase_by_the_day_is_no_silence() {
    assert_eq!(ChurnState::default().longest_silence_until(D0), None);
    // Payments and a reactivation alone do not start one.
    let s = state(&[], &[(10, true)], Some(5));
    assert_eq!(s.longest_silence_until(D0 + 100), None);
    // Purchases only after the day.
    let s = state(&[120], &[(10, true)], None);
    assert_eq!(s.longest_silence_until(D0 + 100), None);
}

#[test]
fn the_rhythm_is_the_mean_gap_from_first_to_last_purchase_day() {
    // 0, 10, 40: (40 − 0) ÷ 2 gaps = 20.
    let s = state(&[0, 10, 40], &[], None);
    assert_eq!(
        s.rhythm_until(D0 + 100, 5.0),
        Some(Rhythm {
            purchases: 3,
            last: D0 + 40,
            typical_gap: 20.0,
        })
    );
    // The mean of all gaps, not of the recent ones: 0, 100, 110, 120 is
    // 120 ÷ 3 = 40 (the last two gaps are 10).
    let s = state(&[0, 100, 110, 120], &[], None);
    assert_eq!(
        s.rhythm_until(D0 + 200, 1.0).map(|r| r.typical_gap),
        Some(40.0)
    );
}

#[test]
fn the_rhythm_floor_applies_to_the_mean_gap() {
    // 0, 10, 20: mean 10, floored at 30.
    let s = state(&[0, 10, 20], &[], None);
    assert_eq!(
        s.rhythm_until(D0 + 20, 30.0).map(|r| r.typical_gap),
        Some(30.0)
    );
    // 0, 1, 100: the mean (100 ÷ 2 = 50) is floored, not each gap (which
    // would give (30 + 99) ÷ 2 = 64.5), as `Rhythm::typical_gap` documents.
    let s = state(&[0, 1, 100], &[], None);
    assert_eq!(
        s.rhythm_until(D0 + 100, 30.0).map(|r| r.typical_gap),
        Some(50.0)
    );
}

#[test]
fn the_rhythm_reads_purchases_up_to_the_day_inclusive() {
    let s = state(&[0, 10, 40, 200], &[], None);
    // Day 200 is after day 100: left out.
    assert_eq!(
        s.rhythm_until(D0 + 100, 5.0),
        Some(Rhythm {
            purchases: 3,
            last: D0 + 40,
            typical_gap: 20.0,
        })
    );
    // A purchase on the day itself counts.
    assert_eq!(s.rhythm_until(D0 + 40, 5.0).map(|r| r.purchases), Some(3));
    assert_eq!(s.rhythm_until(D0 + 39, 5.0).map(|r| r.purchases), Some(2));
    // Payments are not purchases.
    let paid = state(&[0], &[(20, true), (50, true)], None);
    assert_eq!(
        paid.rhythm_until(D0 + 100, 5.0).map(|r| r.purchases),
        Some(1)
    );
}

#[test]
fn one_purchase_has_the_floor_as_its_rhythm_and_none_has_no_rhythm() {
    // "None before any purchase"; a single purchase is a rhythm whose
    // typical gap is the floor itself.
    let s = state(&[7], &[], None);
    assert_eq!(
        s.rhythm_until(D0 + 100, 30.0),
        Some(Rhythm {
            purchases: 1,
            last: D0 + 7,
            typical_gap: 30.0,
        })
    );
    assert_eq!(s.rhythm_until(D0 + 6, 30.0), None);
    assert_eq!(ChurnState::default().rhythm_until(D0, 30.0), None);
}

/// A stored state is read as it is: complaint times and warning episodes at
/// the ends of the µs range (a corrupt or hostile store) give a score and a
/// decision, not an overflow.
#[test]
fn extreme_stored_times_do_not_overflow() {
    let mut state = ChurnState::default();
    for (id, received_at, answered_at) in [
        ("far-past", i64::MIN + 1, None),
        ("answered-far-later", i64::MIN + 1, Some(i64::MAX - 1)),
        ("answered-long-ago", -1, Some(i64::MIN + 1)),
    ] {
        state.complaints.insert(
            id.to_owned(),
            clientele_churn::state::ComplaintTrack {
                received_at,
                answered_at,
                archived: false,
                feedback: None,
            },
        );
    }
    let score = RiskPolicy::default().score(&state, as_of(), &ModelContext::default());
    assert!((0.0..=1.0).contains(&score.risk), "{}", score.risk);
    // Received at the start of time, unanswered: past the reply rule.
    assert!(score.signals.sla_breaches >= 1);

    let mut episodes = clientele_churn::warning::Episodes::default();
    episodes.raised.push(i64::MIN + 1);
    let customer = clientele_core::CustomerId::from_external("units", "extreme");
    let _ = WarningPolicy::default().decide(customer, &score, 1, as_of(), &mut episodes);
    // A raise at the start of time is outside any cap window.
    assert!(!episodes.raised.contains(&(i64::MIN + 1)));
}
