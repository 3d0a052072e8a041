//! Choosing the risk model's behavioural weights from data, without looking
//! at the period being predicted: logistic regression on a split of the past
//! (features as of an earlier cut-off, outcome = no purchase between that
//! cut-off and the present).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backtest::churned_in;
use crate::risk::{ModelContext, RiskPolicy, Signals};
use crate::state::ChurnState;

/// The behavioural features of a customer, in the order of [`BEHAVIOURAL`].
pub fn features(s: &Signals) -> [f64; 4] {
    let p = s.p_no_purchase.unwrap_or(1.0).clamp(1e-6, 1.0 - 1e-6);
    let days = s.days_since_last_purchase.unwrap_or(3650.0);
    let gap = s.typical_gap_days.unwrap_or(30.0);
    [
        (p / (1.0 - p)).ln(),
        -(s.expected_purchases.unwrap_or(0.0) + 0.01).ln(),
        (days / gap).ln_1p(),
        f64::from(s.transactions.saturating_sub(1)).ln_1p(),
    ]
}

/// Names of the behavioural features.
pub const BEHAVIOURAL: [&str; 4] = ["model", "expected", "recency", "frequency"];

/// Maximum-likelihood logistic regression (Newton's method, small ridge on
/// the weights, not the intercept). Returns `[intercept, w…]`.
///
/// Rows and labels are paired by position (extra ones of the longer slice
/// are left out); a row with a feature that is not finite is left out; a
/// `ridge` that is negative or not finite counts as 0. The weights are
/// always finite: without a ridge, on separable data, Newton's method stops
/// after its iteration limit at a large finite weight.
pub fn fit_logistic<const N: usize>(x: &[[f64; N]], y: &[bool], ridge: f64) -> Vec<f64> {
    let d = N + 1;
    let ridge = if ridge.is_finite() && ridge > 0.0 {
        ridge
    } else {
        0.0
    };
    let rows: Vec<(&[f64; N], bool)> = x
        .iter()
        .zip(y.iter().copied())
        .filter(|(xi, _)| xi.iter().all(|v| v.is_finite()))
        .collect();
    let mut w = vec![0.0; d];
    for _ in 0..50 {
        let mut grad = vec![0.0; d];
        let mut hess = vec![vec![0.0; d]; d];
        for &(xi, yi) in &rows {
            let row: Vec<f64> = std::iter::once(1.0).chain(xi.iter().copied()).collect();
            let z: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let t = if yi { 1.0 } else { 0.0 };
            for i in 0..d {
                grad[i] += (t - p) * row[i];
                for j in 0..d {
                    hess[i][j] += p * (1.0 - p) * row[i] * row[j];
                }
            }
        }
        for i in 1..d {
            grad[i] -= ridge * w[i];
            hess[i][i] += ridge;
        }
        let Some(step) = solve(hess, grad) else { break };
        let next: Vec<f64> = w.iter().zip(&step).map(|(wi, si)| wi + si).collect();
        if !next.iter().all(|v| v.is_finite()) {
            break;
        }
        w = next;
        let size: f64 = step.iter().map(|s| s.abs()).sum();
        if size < 1e-10 {
            break;
        }
    }
    w
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in rest.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The result of a calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The cut-off features were taken at.
    pub cutoff: DateTime<Utc>,
    /// Days after the cut-off the outcome was observed over.
    pub horizon_days: i64,
    /// Customers used.
    pub customers: usize,
    /// `[intercept, model, expected, recency, frequency]`.
    pub weights: Vec<f64>,
}

/// Fits the behavioural weights split at `cutoff`: features from the states
/// frozen at `cutoff`, outcome = churn in `(cutoff, cutoff + horizon_days]`
/// ([`churned_in`]). `frozen` are the states as of `cutoff` (a bitemporal
/// replay); `full` the same customers' states as of the window's end, in the
/// same order (everything known will do when no cover, churn or win-back
/// follows the window, as in CDNOW).
pub fn calibrate(
    frozen: &[ChurnState],
    full: &[ChurnState],
    cutoff: DateTime<Utc>,
    horizon_days: i64,
) -> Calibration {
    let model = ModelContext::fitted(frozen, cutoff, horizon_days);
    let policy = RiskPolicy::default();
    let x: Vec<[f64; 4]> = frozen
        .iter()
        .map(|s| features(&policy.signals(s, cutoff, &model)))
        .collect();
    let y: Vec<bool> = full
        .iter()
        .map(|s| churned_in(s, cutoff, horizon_days))
        .collect();
    Calibration {
        cutoff,
        horizon_days,
        customers: x.len(),
        weights: fit_logistic(&x, &y, 1e-3),
    }
}

impl RiskPolicy {
    /// This policy with the behavioural weights of a calibration: the bias
    /// and the model, expected, recency and frequency weights; the other
    /// fields are kept.
    ///
    /// # Errors
    /// [`crate::Error::InvalidPolicy`] naming `calibration.weights` when the
    /// calibration does not hold exactly those five weights (e.g. a
    /// hand-edited file), or the field of a weight that is not finite.
    pub fn with_calibration(mut self, c: &Calibration) -> crate::Result<Self> {
        let [bias, model, expected, recency, frequency] = c.weights[..] else {
            return crate::invalid(
                "calibration.weights",
                &format!(
                    "{} weights; a calibration holds 5: intercept, {}",
                    c.weights.len(),
                    BEHAVIOURAL.join(", ")
                ),
            );
        };
        self.bias = bias;
        self.w_model = model;
        self.w_expected = expected;
        self.w_recency = recency;
        self.w_frequency = frequency;
        self.validate()?;
        Ok(self)
    }
}
