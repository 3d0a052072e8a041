//! Probabilistic customer-base models ("buy 'til you die") and the Gamma-Gamma spend model.
//!
//! * [`BgNbd`]: beta-geometric/NBD (Fader, Hardie & Lee 2005, *Counting your customers the
//!   easy way*);
//! * [`MbgNbd`]: modified BG/NBD (Batislam, Denizel & Filiztekin 2007; Hoppe & Wagner 2007);
//! * [`ParetoNbd`]: Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood as in
//!   Fader & Hardie 2005, *A note on deriving the Pareto/NBD model and related expressions*);
//! * [`GammaGamma`]: spend per transaction (Fader, Hardie & Lee 2005, *RFM and CLV*);
//! * [`Sbg`]: shifted-beta-geometric retention of contract customers, renewing or leaving
//!   once a period (Fader & Hardie 2007, *How to project customer retention*; DERL from
//!   Fader & Hardie 2010), on its own input, [`ContractObservation`].
//!
//! The transaction models share one input, [`Observation`] — frequency x (repeat
//! transactions), recency t_x and observation length T, both in one time unit of the
//! caller's choosing (see [`crate::stats`]) — and one interface, [`TransactionModel`].
//! All parameters are rates and shapes in that same time unit: a model fitted on weeks
//! predicts purchases per week.
//!
//! Fitting is maximum likelihood over the log-parameters (so every parameter stays
//! positive) by BFGS with analytic gradients, on data aggregated over identical rows; see
//! [`FitOptions`] and [`Fit`].

mod bg_nbd;
mod data;
mod gamma_gamma;
mod mbg_nbd;
mod optimize;
mod pareto_nbd;
mod sbg;
pub mod special;

pub use bg_nbd::BgNbd;
pub use gamma_gamma::{GammaGamma, SpendObservation};
pub use mbg_nbd::MbgNbd;
pub use pareto_nbd::ParetoNbd;
pub use sbg::{ContractObservation, Sbg};

use serde::{Deserialize, Serialize};

use crate::error::{finite, non_negative, Result, ValueError};

/// One customer's sufficient statistics for the transaction models.
///
/// * `frequency` x: number of *repeat* transactions in (0, T] (the first purchase is not
///   counted);
/// * `recency` t_x: time from the first to the last purchase (0 when x = 0);
/// * `t` T: time from the first purchase to the end of the observation window.
///
/// Times are in the caller's unit (days, weeks, …), the same for all observations a
/// model is fitted on or applied to. Invariants, checked by [`Observation::new`] (and on
/// deserialisation): both times finite, 0 ≤ t_x ≤ T, and t_x = 0 when x = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ObservationRepr")]
pub struct Observation {
    frequency: u32,
    recency: f64,
    t: f64,
}

#[derive(Deserialize)]
struct ObservationRepr {
    frequency: u32,
    recency: f64,
    t: f64,
}

impl TryFrom<ObservationRepr> for Observation {
    type Error = ValueError;
    fn try_from(r: ObservationRepr) -> Result<Self> {
        Observation::new(r.frequency, r.recency, r.t)
    }
}

impl Observation {
    /// Validates and builds an observation.
    ///
    /// # Errors
    /// [`ValueError::NonFinite`] / [`ValueError::OutOfDomain`] for a non-finite or negative
    /// time; [`ValueError::Inconsistent`] if recency > T or if recency > 0 with
    /// frequency 0.
    ///
    /// ```
    /// use clientele_value::Observation;
    /// let customer_1 = Observation::new(2, 30.43, 38.86)?;
    /// assert_eq!(customer_1.frequency(), 2);
    /// assert!(Observation::new(0, 1.0, 5.0).is_err());
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn new(frequency: u32, recency: f64, t: f64) -> Result<Self> {
        let recency = non_negative("recency", recency)?;
        let t = non_negative("T", t)?;
        if recency > t {
            return Err(ValueError::Inconsistent("recency is greater than T"));
        }
        if frequency == 0 && recency != 0.0 {
            return Err(ValueError::Inconsistent(
                "recency must be 0 when frequency is 0",
            ));
        }
        // `+ 0.0` turns −0.0 into +0.0, so equal observations compare and sort equal.
        Ok(Self {
            frequency,
            recency: recency + 0.0,
            t: t + 0.0,
        })
    }

    /// x: number of repeat transactions.
    pub fn frequency(&self) -> u32 {
        self.frequency
    }

    /// t_x: time of the last transaction, measured from the first.
    pub fn recency(&self) -> f64 {
        self.recency
    }

    /// T: length of the observation window, measured from the first transaction.
    pub fn t(&self) -> f64 {
        self.t
    }
}

/// The interface shared by the BG/NBD, MBG/NBD and Pareto/NBD models.
///
/// Times (`t`, and the fields of [`Observation`]) are in the unit the parameters were
/// estimated in.
pub trait TransactionModel {
    /// Log-likelihood of one customer's (x, t_x, T), including all constants (so that the
    /// sum over CDNOW at the published BG/NBD estimates is −9582.4).
    ///
    /// # Errors
    /// Only when a series inside the likelihood fails to converge (Pareto/NBD in extreme
    /// parameter regions).
    fn log_likelihood(&self, obs: &Observation) -> Result<f64>;

    /// Sum of [`log_likelihood`](Self::log_likelihood) over `data`.
    ///
    /// # Errors
    /// As [`log_likelihood`](Self::log_likelihood).
    fn total_log_likelihood(&self, data: &[Observation]) -> Result<f64> {
        let mut sum = 0.0;
        for o in data {
            sum += self.log_likelihood(o)?;
        }
        Ok(sum)
    }

    /// P(customer still active at T | x, t_x, T), in [0, 1].
    ///
    /// # Errors
    /// Only when a series fails to converge (Pareto/NBD).
    fn p_alive(&self, obs: &Observation) -> Result<f64>;

    /// E\[X(t)\]: expected number of transactions in (0, t] for a customer just acquired at
    /// time 0 (repeat transactions, the acquisition itself not counted).
    ///
    /// # Errors
    /// [`ValueError::NonFinite`] / [`ValueError::OutOfDomain`] for a non-finite or negative
    /// `t`; [`ValueError::SeriesDivergence`] if ₂F₁ fails; [`ValueError::PrecisionLoss`]
    /// (BG/NBD, MBG/NBD) where no method reaches full accuracy within its cost budget
    /// (b ≳ 10⁶ with t ≳ 10⁵(α + T)), instead of a possibly wrong number.
    fn expected_purchases(&self, t: f64) -> Result<f64>;

    /// E\[Y(t) | x, t_x, T\]: expected number of transactions in (T, T + t] for a customer
    /// with history `obs`.
    ///
    /// # Errors
    /// As [`expected_purchases`](Self::expected_purchases).
    fn conditional_expected_purchases(&self, obs: &Observation, t: f64) -> Result<f64>;
}

/// Options for maximum-likelihood fitting.
///
/// The objective minimised is −LL(θ)/N + penalizer · Σ θᵢ² (N = number of observations),
/// the convention of the `lifetimes` library, over log θ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FitOptions {
    /// L2 penalty on the (natural) parameters; 0 (the default) is plain MLE.
    pub penalizer: f64,
    /// Maximum BFGS iterations (default 1000).
    pub max_iterations: u32,
    /// Convergence when the max-norm of the objective's gradient in log-parameter space
    /// falls below this (default 1e-9; the objective is per observation).
    pub gradient_tolerance: f64,
    /// When true (the default) a fit that does not converge is an error
    /// ([`ValueError::NotConverged`]); when false it is returned with
    /// [`Fit::converged`] = false.
    pub require_convergence: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer: 0.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-9,
            require_convergence: true,
        }
    }
}

impl FitOptions {
    /// Sets the L2 penalizer.
    pub fn with_penalizer(mut self, penalizer: f64) -> Self {
        self.penalizer = penalizer;
        self
    }

    /// Sets the iteration limit.
    pub fn with_max_iterations(mut self, max_iterations: u32) -> Self {
        self.max_iterations = max_iterations;
        self
    }

    /// Sets the gradient tolerance.
    pub fn with_gradient_tolerance(mut self, tolerance: f64) -> Self {
        self.gradient_tolerance = tolerance;
        self
    }

    /// Sets whether non-convergence is an error.
    pub fn with_require_convergence(mut self, require: bool) -> Self {
        self.require_convergence = require;
        self
    }

    fn validate(&self) -> Result<()> {
        non_negative("penalizer", self.penalizer)?;
        let tol = finite("gradient_tolerance", self.gradient_tolerance)?;
        if tol <= 0.0 {
            return Err(ValueError::OutOfDomain {
                what: "gradient_tolerance",
                value: tol,
                reason: "must be > 0",
            });
        }
        Ok(())
    }
}

/// The result of a maximum-likelihood fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit<P> {
    /// The estimates.
    pub params: P,
    /// Total (unpenalised) log-likelihood at the estimates, including all constants.
    pub log_likelihood: f64,
    /// BFGS iterations performed.
    pub iterations: u32,
    /// Objective (value + gradient) evaluations.
    pub evaluations: u32,
    /// Whether the gradient criterion was met.
    pub converged: bool,
    /// Max-norm of the objective's gradient at the estimates (per observation, log space).
    pub gradient_norm: f64,
    /// Number of observations fitted.
    pub observations: usize,
}

/// Maximum-likelihood fit of an N-parameter model on `observations` data points, the
/// steps every model's `fit_from` shares: [`ValueError::EmptyInput`] (naming `what`) for
/// no data, the optimiser from `start` on `fit_ll` (the total log-likelihood and its
/// gradient in the natural parameters, as in [`fit_driver`]), the estimates built by
/// `build` (a failure, such as a parameter that overflowed, is
/// [`ValueError::NotConverged`]), their log-likelihood by `final_ll`, and [`finish`].
pub(crate) fn fit_ml<const N: usize, P>(
    what: &'static str,
    observations: usize,
    start: [f64; N],
    options: &FitOptions,
    fit_ll: impl FnMut(&[f64; N], &mut [f64; N]) -> f64,
    final_ll: impl FnOnce(&[f64; N]) -> f64,
    build: impl FnOnce([f64; N]) -> Result<P>,
) -> Result<Fit<P>> {
    if observations == 0 {
        return Err(ValueError::EmptyInput { what });
    }
    let out = fit_driver(start, observations as f64, options, fit_ll)?;
    let th = out.x.map(f64::exp);
    let params = build(th).map_err(|_| ValueError::NotConverged {
        iterations: out.iterations,
        log_likelihood: f64::NAN,
        gradient_norm: out.gradient_norm,
    })?;
    let ll = final_ll(&th);
    finish(&out, options, observations, ll, params)
}

/// Runs the optimiser for a model whose `ll_grad` returns the total log-likelihood of the
/// compressed data and its gradient with respect to the natural parameters.
fn fit_driver<const N: usize, F>(
    theta0: [f64; N],
    weight: f64,
    options: &FitOptions,
    mut ll_grad: F,
) -> Result<optimize::Outcome<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    options.validate()?;
    let lambda = options.penalizer;
    let mut u0 = [0.0; N];
    for (u, t) in u0.iter_mut().zip(theta0.iter()) {
        *u = t.ln();
    }
    let objective = |u: &[f64; N], g: &mut [f64; N]| -> f64 {
        let mut theta = [0.0; N];
        for (t, ui) in theta.iter_mut().zip(u.iter()) {
            *t = ui.exp();
        }
        let mut dll = [0.0; N];
        let ll = ll_grad(&theta, &mut dll);
        let mut f = -ll / weight;
        for i in 0..N {
            f += lambda * theta[i] * theta[i];
            g[i] = theta[i] * (-dll[i] / weight + 2.0 * lambda * theta[i]);
        }
        f
    };
    let out = optimize::bfgs(
        objective,
        u0,
        options.max_iterations,
        options.gradient_tolerance,
    );
    Ok(out)
}

/// Turns an optimiser outcome into a [`Fit`] or a [`ValueError::NotConverged`].
fn finish<const N: usize, P>(
    out: &optimize::Outcome<N>,
    options: &FitOptions,
    observations: usize,
    log_likelihood: f64,
    params: P,
) -> Result<Fit<P>> {
    if !(out.converged && log_likelihood.is_finite()) && options.require_convergence {
        return Err(ValueError::NotConverged {
            iterations: out.iterations,
            log_likelihood,
            gradient_norm: out.gradient_norm,
        });
    }
    Ok(Fit {
        params,
        log_likelihood,
        iterations: out.iterations,
        evaluations: out.evaluations,
        converged: out.converged && log_likelihood.is_finite(),
        gradient_norm: out.gradient_norm,
        observations,
    })
}

/// Validates a prediction horizon.
pub(crate) fn horizon(t: f64) -> Result<f64> {
    non_negative("t (horizon)", t)
}

/// Validated positive model parameter.
pub(crate) fn param(name: &'static str, v: f64) -> Result<f64> {
    crate::error::positive(name, v)
}

/// log(e^a + e^b) with the weights e^a/(e^a+e^b), e^b/(e^a+e^b).
#[inline]
pub(crate) fn log_add_exp(a: f64, b: f64) -> (f64, f64, f64) {
    if a >= b {
        let e = (b - a).exp();
        let inv = 1.0 / (1.0 + e);
        (a + e.ln_1p(), inv, e * inv)
    } else {
        let e = (a - b).exp();
        let inv = 1.0 / (1.0 + e);
        (b + e.ln_1p(), e * inv, inv)
    }
}

/// The dropout part of the BG/NBD and MBG/NBD log-likelihoods over one frequency group's
/// `rows`: returns Σ w · ln(e^{A₃} + e^{A₄}) with A₃ = −(r+x) ln(α+T) and
/// A₄ = ln a − ln b_x − (r+x) ln(α+t_x), where `rx` = r + x and `b_x` = b + x − 1 (BG/NBD)
/// or b + x (MBG/NBD); with `want_grad`, also its gradient with respect to (r, α, a, b)
/// (zeros without).
#[inline]
pub(crate) fn beta_geo_rows(
    rows: &[data::Row],
    alpha: f64,
    a: f64,
    ln_a: f64,
    rx: f64,
    b_x: f64,
    want_grad: bool,
) -> (f64, [f64; 4]) {
    let c4 = ln_a - b_x.ln();
    let (mut s_lse, mut s_dr, mut s_dal, mut s_w4) = (0.0, 0.0, 0.0, 0.0);
    for row in rows {
        let l_t = (alpha + row.t).ln();
        let l_tx = (alpha + row.tx).ln();
        let (lse, w3, w4) = log_add_exp(-rx * l_t, c4 - rx * l_tx);
        s_lse += row.w * lse;
        if want_grad {
            s_dr += row.w * (w3 * l_t + w4 * l_tx);
            s_dal += row.w * (w3 / (alpha + row.t) + w4 / (alpha + row.tx));
            s_w4 += row.w * w4;
        }
    }
    let grad = if want_grad {
        [-s_dr, -(rx * s_dal), s_w4 / a, -(s_w4 / b_x)]
    } else {
        [0.0; 4]
    };
    (s_lse, grad)
}

/// 1/(1 + e^l), stable for any l.
#[inline]
pub(crate) fn inv_one_plus_exp(l: f64) -> f64 {
    if l > 0.0 {
        let e = (-l).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + l.exp())
    }
}

/// Largest relative error a method of [`beta_geo_bracket`] may estimate for its result
/// before the next method is tried (or [`ValueError::PrecisionLoss`] returned).
const BRACKET_TOLERANCE: f64 = 1e-10;

/// Term budget of the negative-binomial form, checked against its predicted length before
/// it starts (≲ 15 ms at its ~3 ns a term; b = 10⁷ at 1 − z = 1.2·10⁻⁵ took 12 ms).
const NEGBIN_BUDGET: f64 = 5e6;

/// Up to this predicted length (~0.1 ms) the negative-binomial form comes before the
/// connection formula where both apply.
const NEGBIN_SHORT: f64 = 3e4;

/// The ways [`beta_geo_bracket`] can evaluate the bracket for z < 1, |a − 1| not tiny.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// The S series (positive terms for A' > 0), ~max(C, ln 10⁻¹⁶/ln z) terms.
    Series,
    /// ₂F₁ by `hyp2f1_scaled_estimate` (the 1 − z connection formula beyond z = 0.9):
    /// short, but its terms can cancel.
    Connection,
    /// The negative-binomial form: positive terms, ~(A + 40)/(1 − z) of them.
    NegBin,
}

/// The BG/NBD-family prediction bracket
/// (C/(a−1))·[1 − (1−z)^A ₂F₁(A, B; C; z)] with A = r + x, B = b′ + x, C = a + B − 1,
/// z = t/(α + T + t); b′ = b for the BG/NBD, b + 1 for the MBG/NBD.
///
/// Evaluated through Euler's transformation, (1−z)^A ₂F₁(A, B; C; z) =
/// (1−z)^(a−1) ₂F₁(a + b′ − 1 − r, a − 1; C; z), with the factor 1/(a − 1) divided out of
/// the series analytically, so that the result is accurate for small t (no 1 − (1 − ε)
/// cancellation), at a = 1 (no 0/0) and for large x (no overflow of (1−z)^(−A)).
///
/// Every method estimates its own rounding error; a result whose estimate exceeds
/// [`BRACKET_TOLERANCE`] is not returned: the next method is tried, and when none is
/// accurate within its budget the error is [`ValueError::PrecisionLoss`] naming the inputs.
pub(crate) fn beta_geo_bracket(
    r: f64,
    alpha: f64,
    a: f64,
    b_prime: f64,
    x: f64,
    big_t: f64,
    t: f64,
) -> Result<f64> {
    if t == 0.0 {
        return Ok(0.0);
    }
    let c = a + b_prime + x - 1.0;
    let m = a - 1.0;
    let a_prime = a + b_prime - 1.0 - r;
    let ln1mz = -(t / (alpha + big_t)).ln_1p(); // ln(1 − z) = ln((α+T)/(α+T+t))
    let z = t / (alpha + big_t + t);
    let unit = special::Unit {
        z,
        y: (alpha + big_t) / (alpha + big_t + t),
        ln_y: ln1mz,
    };
    let value = if m.abs() <= 1e-3 && z > 0.999 {
        // 1/(a − 1) is ill-conditioned through ₂F₁ and the series is too long: the bracket
        // is analytic in a, so interpolate (quintic) through a − 1 = ±0.002, ±0.003, ±0.004.
        let nodes = [-4e-3, -3e-3, -2e-3, 2e-3, 3e-3, 4e-3];
        let mut v = 0.0;
        for (i, &xi) in nodes.iter().enumerate() {
            let mut weight = 1.0;
            for (j, &xj) in nodes.iter().enumerate() {
                if i != j {
                    weight *= (m - xj) / (xi - xj);
                }
            }
            v += weight * beta_geo_bracket(r, alpha, 1.0 + xi, b_prime, x, big_t, t)?;
        }
        v
    } else {
        // Beyond z = 0.9 the S series needs up to ~ln(10⁻¹⁶)/ln z terms (4·10⁴ at
        // z = 0.999), so the connection formula takes over, except where that formula
        // cancels: for A'(1−z) ≳ 1 (and a ≤ 2) its two terms grow up to ~e^(2A'(1−z))
        // while Q stays O(1) (a = 0.815, b′ = 93.8, x = 13, z = 0.9035, A'(1−z) = 9: terms
        // ±1.1·10⁷ for Q = 1.15, E off by 4·10⁻⁶ relative), and 1 − Q cancels further when
        // Q ≈ 1. Hence the series first up to z = 0.999 whenever A'(1−z) ≥ 1 and its
        // terms peak early: they are positive (A' ≥ 0 here) and their ratio
        // (A'+k)(m+k)/((C+k)(k+1))·z < (m+k)z/(k+1) is below 1 once k > (mz − 1)/(1 − z),
        // at once for a ≤ 2; that peak is required to come by k = 10³. The sum then needs
        // at most ~max(C, 10³ + 4·10⁴) terms and is below z(1 − z)^(−m−1) < 10¹¹⁴.
        // Whatever comes first, its error estimate decides: beyond z = 0.999 with b′ in the
        // tens of thousands the connection formula's terms reach 10⁴⁶ and more (it returned
        // 0 for 1459), and there the negative-binomial form takes over.
        let series_over_connection =
            z <= 0.999 && a_prime * (1.0 - z) >= 1.0 && m * z - 1.0 <= 1e3 * (1.0 - z);
        let big_a = r + x;
        let methods: &[Method] = if (z <= 0.999 && a_prime < 0.0) || (z <= 0.9 && a_prime > 1e3) {
            // The S series alternates (A' < 0) or grows huge: the negative-binomial form,
            // a weighted mean of positive terms, unless it is long (x = 500, r = 860,
            // z = 0.999: 1.4·10⁶ terms, 8 ms) and the connection formula, tried first
            // then, is accurate (it was there, in 4 µs).
            if negbin_terms(big_a, unit) > NEGBIN_SHORT {
                &[Method::Connection, Method::NegBin]
            } else {
                &[Method::NegBin, Method::Connection]
            }
        } else if z <= 0.9 || m.abs() <= 1e-3 || series_over_connection {
            &[Method::Series, Method::Connection, Method::NegBin]
        } else {
            &[Method::Connection, Method::NegBin]
        };
        let inputs = BracketInputs {
            a_prime,
            m,
            c,
            big_a,
            big_b: b_prime + x,
            ln1mz,
            unit,
        };
        let mut best = f64::INFINITY; // smallest estimated relative error so far
        let mut accept = |estimate: Option<special::Estimate>| -> Option<f64> {
            let e = estimate?;
            // the bracket is positive: a negative result is a cancellation's residue
            if e.value >= 0.0 && e.within(BRACKET_TOLERANCE) {
                return Some(e.value);
            }
            best = best.min(e.error / e.value.abs());
            None
        };
        // the first method outside the loop over the others, so that nothing of theirs is
        // computed ahead on the common path
        let accurate = accept(estimate_bracket(methods[0], &inputs)).or_else(|| {
            methods[1..]
                .iter()
                .find_map(|&k| accept(estimate_bracket(k, &inputs)))
        });
        match accurate {
            Some(v) => v,
            None => {
                return Err(ValueError::PrecisionLoss {
                    function: "BG/NBD-family conditional expectation bracket",
                    arguments: vec![
                        ("r", r),
                        ("alpha", alpha),
                        ("a", a),
                        ("b'", b_prime),
                        ("x", x),
                        ("T", big_t),
                        ("t", t),
                    ],
                    relative_error: best,
                })
            }
        }
    };
    if value.is_finite() {
        Ok(value.max(0.0))
    } else {
        Err(ValueError::SeriesDivergence {
            function: "BG/NBD conditional expectation",
            terms: 0,
        })
    }
}

/// What [`estimate_bracket`] needs: A' = a + b′ − 1 − r, m = a − 1, C, A = r + x,
/// B = b′ + x, ln(1 − z) and z.
struct BracketInputs {
    a_prime: f64,
    m: f64,
    c: f64,
    big_a: f64,
    big_b: f64,
    ln1mz: f64,
    unit: special::Unit,
}

/// The bracket by `method` with its error estimate; `None` when the method fails or its
/// predicted length is over budget.
#[inline(always)]
fn estimate_bracket(method: Method, p: &BracketInputs) -> Option<special::Estimate> {
    let BracketInputs {
        a_prime,
        m,
        c,
        big_a,
        big_b,
        ln1mz,
        unit,
    } = *p;
    match method {
        Method::Series => {
            let s = if a_prime < 0.0 {
                bracket_series::<true>(a_prime, m, c, unit.z)
            } else {
                bracket_series::<false>(a_prime, m, c, unit.z)
            }
            .ok()?;
            let u = m * ln1mz;
            let em1 = u.exp_m1();
            // (1 − (1−z)^m)/m
            let head = if m == 0.0 { -ln1mz } else { -em1 / m };
            // (1 − z)^(a−1): from expm1 where that is good to a few ulp (|u| ≤ ½, the usual
            // horizons), which saves an exp on the common path
            let pow = if u.abs() <= 0.5 { 1.0 + em1 } else { u.exp() };
            let tail = pow * s.sum;
            let rounding = special::ULP * (3.0 + u.abs());
            Some(special::Estimate {
                value: c * (head - tail),
                error: c.abs() * ((head.abs() + tail.abs()) * rounding + pow * s.error()),
            })
        }
        Method::Connection => {
            // Q = (1 − z)^(a−1) ₂F₁(A', a − 1; C; z) = (1 − z)^A ₂F₁(A, B; C; z) > 0 (1 − Q
            // has the sign of a − 1), with c − a = A, c − b = B and d = A − m passed exact:
            // C − A' in floating point is off by ~ulp(C), 10⁻⁹ of A for b′ = 10⁴, A = 0.003.
            // Below A'(1−z) ≈ 1 the formula was within 1.3·10⁻¹⁰ of mpmath in 8·10³ draws
            // with b′ up to 200; its estimate now covers any b′.
            let params = special::Params {
                a: a_prime,
                b: m,
                c,
                c_a: big_a,
                c_b: big_b,
                d: big_a - m,
            };
            let q = special::hyp2f1_scaled_estimate(params, unit, m).ok()?;
            Some(special::Estimate {
                value: c * (1.0 - q.value) / m,
                error: (c / m).abs() * (q.error + special::ULP * q.value.abs().max(1.0)),
            })
        }
        Method::NegBin => {
            if negbin_terms(big_a, unit) > NEGBIN_BUDGET {
                return None;
            }
            let s = bracket_negbin(big_a, c, m, unit.z).ok()?;
            Some(special::Estimate {
                value: c * s.sum,
                error: c.abs() * s.error(),
            })
        }
    }
}

/// Predicted length of [`bracket_negbin`]: NB(A, z) has mean Az/(1 − z) and standard
/// deviation √(Az)/(1 − z), and past its mode the weights fall by about z a term, so the
/// sum stops ~(ln 10¹⁷ − ln(1 − z))/(1 − z) terms after the bulk.
fn negbin_terms(big_a: f64, u: special::Unit) -> f64 {
    let az = big_a * u.z;
    (az + 10.0 * az.sqrt() + 40.0 - u.ln_y) / u.y
}

/// (1 − Q)/m with Q = (1 − z)^A ₂F₁(A, C − m; C; z), for A > 0, m < C, 0 < z < 1.
///
/// Expanding (C − m)_k/(C)_k = Π_{j<k} (1 − m/(C+j)) gives
/// (1 − Q)/m = Σ_k NB(k; A, z) ω_k, with NB the negative-binomial probabilities
/// (1 − z)^A (A)_k z^k / k! and ω_k = [1 − Π_{j<k}(1 − m/(C+j))]/m ≥ 0, computed by the
/// recurrence ω_{k+1} = ω_k (1 − m/(C + k)) + 1/(C + k) (exact at m = 0; both terms
/// positive, and no division on the recurrence's critical path). Every term is
/// non-negative, so there is no cancellation whatever the sign of a + b′ − 1 − r; the
/// unnormalised weights are rescaled to avoid overflow and divided by their sum. The
/// result's `abs` is the sum itself (its terms are positive).
fn bracket_negbin(big_a: f64, c: f64, m: f64, z: f64) -> Result<special::SeriesSum> {
    let mut w = 1.0f64; // ∝ NB(k; A, z)
    let mut omega = 0.0f64;
    // blocks of up to 64 terms are summed plainly, then added to the compensated sums
    let (mut block_w, mut block_wo) = (0.0f64, 0.0f64);
    let mut sum_w = special::NeumaierSum::new(1.0);
    let mut sum_wo = special::NeumaierSum::new(0.0);
    let mut k = 0u64;
    while k < special::MAX_TERMS {
        let kf = k as f64;
        let g = 1.0 / (c + kf);
        omega = omega * (1.0 - m * g) + g;
        let ratio = (big_a + kf) * z / (kf + 1.0);
        w *= ratio;
        k += 1;
        block_w += w;
        block_wo += w * omega;
        if w > 1e250 || k % 64 == 0 {
            sum_w.add(block_w);
            sum_wo.add(block_wo);
            (block_w, block_wo) = (0.0, 0.0);
            if w > 1e250 {
                let scale = 1e-250;
                w *= scale;
                sum_w = special::NeumaierSum::new(sum_w.value() * scale);
                sum_wo = special::NeumaierSum::new(sum_wo.value() * scale);
            }
            // the weights fall by at least ρ = max(ratio, z) a term from here on
            let rho = ratio.max(z);
            if ratio < 1.0 && w * rho <= 1e-17 * sum_w.value() * (1.0 - rho) {
                let sum = sum_wo.value() / sum_w.value();
                return Ok(special::SeriesSum {
                    sum,
                    abs: sum,
                    terms: k,
                });
            }
        }
    }
    Err(ValueError::SeriesDivergence {
        function: "BG/NBD conditional expectation (negative-binomial form)",
        terms: k,
    })
}

/// Σ_{k≥1} (A')_k (m+1)_{k−1} z^k / ((C)_k k!) for 0 < z < 1, with Σ |terms|. The terms
/// have one sign unless A' < 0 (m + 1 = a > 0), so |terms| are only added up when
/// `MIXED_SIGNS`; otherwise Σ |terms| = |sum|.
#[inline(never)]
fn bracket_series<const MIXED_SIGNS: bool>(
    a_prime: f64,
    m: f64,
    c: f64,
    z: f64,
) -> Result<special::SeriesSum> {
    let kmin = a_prime.abs().max(m.abs()).max(c.abs()).min(1e6);
    special::ratio_series::<MIXED_SIGNS>(
        "BG/NBD conditional expectation series",
        a_prime * z / c,
        1,
        kmin,
        z,
        special::MAX_TERMS,
        |kf| (a_prime + kf) * (m + kf) / ((c + kf) * (kf + 1.0)) * z,
    )
}

/// Defines a validated, positive-parameter model struct.
macro_rules! positive_params {
    (
        $(#[$meta:meta])*
        $name:ident, $repr:ident = $repr_str:literal, $n:literal {
            $( $(#[$fmeta:meta])* $field:ident : $label:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = $repr_str)]
        pub struct $name { $( $field: f64 ),+ }

        #[derive(serde::Deserialize)]
        struct $repr { $( $field: f64 ),+ }

        impl TryFrom<$repr> for $name {
            type Error = crate::error::ValueError;
            fn try_from(r: $repr) -> crate::error::Result<Self> {
                Self::new($( r.$field ),+)
            }
        }

        impl $name {
            /// Builds the parameter set; every parameter must be finite and > 0.
            ///
            /// # Errors
            /// [`ValueError::NonFinite`](crate::ValueError::NonFinite) or
            /// [`ValueError::OutOfDomain`](crate::ValueError::OutOfDomain).
            pub fn new($( $field: f64 ),+) -> crate::error::Result<Self> {
                Ok(Self { $( $field: crate::model::param($label, $field)? ),+ })
            }

            $(
                $(#[$fmeta])*
                pub fn $field(&self) -> f64 { self.$field }
            )+

            /// The parameters as an array, in declaration order.
            pub fn to_array(&self) -> [f64; $n] {
                [$( self.$field ),+]
            }

            /// Every parameter 1: the start of [`fit`](Self::fit).
            pub(crate) const ONES: Self = Self { $( $field: 1.0 ),+ };

            /// [`new`](Self::new) from an array in declaration order.
            pub(crate) fn from_array(th: [f64; $n]) -> crate::error::Result<Self> {
                let [$( $field ),+] = th;
                Self::new($( $field ),+)
            }
        }
    };
}
pub(crate) use positive_params;

/// Asserts that the gradient `ll_grad` returns at `th` (with `Some`) matches central
/// differences of its value (with `None`), with steps `rel_step`·θᵢ, to within
/// `tol`·(1 + |difference quotient|) in each component.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_gradient_matches_finite_differences<const N: usize>(
    th: [f64; N],
    rel_step: f64,
    tol: f64,
    ll_grad: impl Fn(&[f64; N], Option<&mut [f64; N]>) -> f64,
) {
    let mut g = [0.0; N];
    ll_grad(&th, Some(&mut g));
    for (i, &gi) in g.iter().enumerate() {
        let h = rel_step * th[i];
        let (mut p, mut m) = (th, th);
        p[i] += h;
        m[i] -= h;
        let num = (ll_grad(&p, None) - ll_grad(&m, None)) / (2.0 * h);
        assert!(
            (num - gi).abs() < tol * (1.0 + num.abs()),
            "{th:?} {i}: {num} vs {gi}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E\[X(t)\] of the BG/NBD by quadrature over p ~ Beta(a, b):
    /// ∫ (1/p)(1 − (α/(α+pt))^r) Beta(p; a, b) dp, on u = ln p with Simpson's rule.
    fn bg_expected_by_quadrature(r: f64, alpha: f64, a: f64, b: f64, t: f64) -> f64 {
        let ln_b = special::ln_beta(a, b);
        let f = |u: f64| {
            let p: f64 = u.exp();
            let g = -(r * (-(p * t / (alpha + p * t))).ln_1p()).exp_m1(); // 1 − (α/(α+pt))^r
            g / p * ((a - 1.0) * p.ln() + (b - 1.0) * (-p).ln_1p() - ln_b).exp() * p
        };
        let (lo, hi, n) = (-40.0f64, 0.0f64, 400_000);
        let h = (hi - lo) / n as f64;
        let mut s = f(lo) + f(hi - 1e-15);
        for i in 1..n {
            s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(lo + i as f64 * h);
        }
        s * h / 3.0
    }

    #[test]
    fn bracket_matches_quadrature_on_all_paths() {
        // (a, t): series path (z ≤ 0.9), ₂F₁ path (z > 0.9), a ≈ 1 series path, and the
        // a ≈ 1 interpolation path (z > 0.999).
        // r = 30 makes a + b − 1 − r < 0: the negative-binomial form.
        for &(r, a, t) in &[
            (0.5, 0.8, 5.0),
            (0.5, 1.7, 200.0),
            (0.5, 1.0005, 200.0),
            (0.5, 1.0, 5000.0),
            (0.5, 0.9993, 20000.0),
            (30.0, 0.8, 5.0),
            (30.0, 1.0, 50.0),
            (30.0, 3.5, 100.0),
        ] {
            let (alpha, b) = (1.5, 2.5);
            let got = beta_geo_bracket(r, alpha, a, b, 0.0, 0.0, t).unwrap();
            let want = bg_expected_by_quadrature(r, alpha, a, b, t);
            assert!(
                (got - want).abs() < 1e-8 * want,
                "r={r} a={a} t={t}: {got} vs {want}"
            );
        }
    }

    /// a < 1, b ≈ 60–95, 0.9 < z < 0.92: the connection formula behind `scaled` cancelled
    /// (terms up to ±10⁷ for Q ≈ 1.15) and hyp2f1's fallback to the direct series did not apply
    /// (a − 1 < 0), so E was off by up to 4·10⁻⁶; the S series is now summed there. References
    /// from mpmath (₂F₁ at 40 and 80 digits, identical); the fix gives ≤ 2·10⁻¹⁵ here.
    #[test]
    fn conditional_expectation_where_the_connection_formula_cancels_for_a_below_one() {
        // (r, α, a, b, x, t_x, T, t, BG/NBD E, MBG/NBD E)
        let cases = [
            (
                0.2323572828349126,
                0.01197447692147436,
                0.4188326808798022,
                94.35873718307484,
                13,
                87.9761643559348,
                93.20157394827147,
                925.1078651926739,
                107.473_601_669_195_09,
                107.622_960_566_422_95,
            ),
            (
                0.05017768360810627,
                0.06281985295433995,
                0.815161322499406,
                92.84790188309029,
                13,
                0.0,
                0.0,
                0.5879592138614732,
                85.617_417_167_739_28,
                85.827_353_029_893_73,
            ),
            (
                0.08243259023845816,
                74.19481698867236,
                0.6757653403630005,
                58.62992145975318,
                2,
                0.0,
                0.0,
                766.3302042011708,
                18.474_802_436_420_617,
                18.512_931_313_543_476,
            ),
        ];
        for (r, alpha, a, b, x, t_x, big_t, t, want_bg, want_mbg) in cases {
            let obs = Observation::new(x, t_x, big_t).unwrap();
            let bg = BgNbd::new(r, alpha, a, b).unwrap();
            let mbg = MbgNbd::new(r, alpha, a, b).unwrap();
            for (model, got, want) in [
                (
                    "BG/NBD",
                    bg.conditional_expected_purchases(&obs, t),
                    want_bg,
                ),
                (
                    "MBG/NBD",
                    mbg.conditional_expected_purchases(&obs, t),
                    want_mbg,
                ),
            ] {
                let got = got.unwrap();
                assert!(
                    (got - want).abs() <= 1e-13 * want,
                    "{model} r={r} a={a} b={b} t={t}: {got} vs {want}"
                );
            }
        }
    }

    /// b′ in the tens of thousands with z at or just beyond 0.999, where the S series no
    /// longer applies and the connection formula's two terms reach ~e^(2A'(1−z)) (10⁴⁶ and
    /// more): it returned 0 for 1459, 33 051, 39 479 and 17 183, 4.4·10¹¹⁵ for 1.6·10⁻¹⁹,
    /// and was off by 9.8·10⁻⁵ and 5.6·10⁻⁹ in two more cases. Its error estimate now hands
    /// these to the negative-binomial form (or keeps the formula where it is accurate). Also
    /// x = 5000 at z = 0.999 (the negative-binomial form gave up after 5·10⁶ terms, 50 ms,
    /// with a typed error; the connection formula is accurate there) and x = 500, r = 860
    /// (8 ms by the negative-binomial form, now µs). References: mpmath, the connection
    /// formula at raised precision and the direct Euler series at 60 digits, agreeing to
    /// 10⁻⁵³ and better.
    #[test]
    fn conditional_expectation_with_b_in_the_tens_of_thousands_beyond_z_0999() {
        // (MBG/NBD?, r, α, a, b, x, t_x, T, t, E)
        let cases = [
            (
                false,
                164.675_228_935_090_93,
                0.002_359_918_666_746_712,
                206.594_144_675_248_34,
                89_767.305_172_015_68,
                120,
                484.106_222_542_602_7,
                588.214_037_736_935_8,
                587_628.181_257_946_4,
                1.578_849_701_702_867_5e-19,
            ),
            (
                true,
                0.005_000_739_769_534_455,
                0.005_580_576_960_773_653,
                181.538_039_634_080_52,
                28_397.269_109_258_785,
                0,
                0.0,
                0.0,
                5.574_996_378_232_421,
                1.555_428_624_944_593_2,
            ),
            (
                true,
                0.461_125_070_232_505_1,
                2.505_263_864_816_271_7,
                0.021_356_705_010_077_04,
                52_956.194_241_375_14,
                1,
                83.978_114_132_044_41,
                146.849_983_657_111_66,
                149_205.892_274_405_87,
                1_458.954_437_627_211,
            ),
            (
                true,
                0.001_361_822_215_477_889_2,
                366.061_677_975_720_33,
                11.249_433_462_189_68,
                4_698.885_180_562_802,
                13,
                0.0,
                0.0,
                365_695.616_297_744_3,
                459.715_267_034_398_55,
            ),
            (
                true,
                0.107_207_758_511_917,
                0.021_062_250_254_784_594,
                2.197_460_054_833_937,
                99_482.041_031_679_36,
                13,
                0.0,
                0.0,
                118.062_437_803_534_75,
                39_478.839_384_136_65,
            ),
            (
                false,
                16.306_515_805_501_018,
                0.001_767_165_421_800_216_5,
                0.060_513_583_577_139_13,
                83_608.758_419_444_26,
                1,
                0.0,
                0.0,
                1.765_398_256_378_414_7,
                17_183.093_109_066_172,
            ),
            (
                true,
                31.113_671_867_825_154,
                2.611_159_096_159_860_3,
                0.002_376_764_929_853_640_7,
                34_879.348_004_077_35,
                2,
                671.055_524_570_775_6,
                688.346_072_855_527_2,
                690_266.274_719_734_7,
                33_050.881_683_318_75,
            ),
            (
                false,
                0.078_909_388_428_259_97,
                0.704_456_273_000_597_1,
                0.019_803_498_936_923_177,
                0.282_387_629_026_126_74,
                5000,
                0.0,
                0.0,
                703.751_816_023_155_2,
                4_443_773.557_492_62,
            ),
            (
                false,
                860.001_412_414_137_7,
                3.531_698_116_154_941,
                50.280_393_522_775_26,
                0.004_872_261_605_398_628,
                500,
                0.0,
                0.0,
                3_528.166_418_038_782_5,
                10.125_829_697_991_088,
            ),
        ];
        for (mbg, r, alpha, a, b, x, t_x, big_t, t, want) in cases {
            let obs = Observation::new(x, t_x, big_t).unwrap();
            let got = if mbg {
                MbgNbd::new(r, alpha, a, b)
                    .unwrap()
                    .conditional_expected_purchases(&obs, t)
            } else {
                BgNbd::new(r, alpha, a, b)
                    .unwrap()
                    .conditional_expected_purchases(&obs, t)
            }
            .unwrap();
            assert!(
                (got - want).abs() <= BRACKET_TOLERANCE * want,
                "MBG/NBD {mbg} r={r} a={a} b={b} x={x} t={t}: {got} vs {want}"
            );
        }
    }

    /// Where no method is accurate within its budget, a typed error naming the inputs rather
    /// than a number: b = 10⁷, 1 − z = 10⁻⁵ (the connection formula's terms ~e^200 apart
    /// from their sum; the negative-binomial form would need ~6·10⁶ terms).
    #[test]
    fn conditional_expectation_out_of_reach_is_a_precision_loss_error() {
        let obs = Observation::new(0, 0.0, 0.0).unwrap();
        for (model, got) in [
            (
                "BG/NBD",
                BgNbd::new(0.5, 1.0, 0.5, 1e7)
                    .unwrap()
                    .conditional_expected_purchases(&obs, 99_999.0),
            ),
            (
                "MBG/NBD",
                MbgNbd::new(0.5, 1.0, 0.5, 1e7)
                    .unwrap()
                    .conditional_expected_purchases(&obs, 99_999.0),
            ),
        ] {
            let err = got.unwrap_err();
            match &err {
                ValueError::PrecisionLoss {
                    arguments,
                    relative_error,
                    ..
                } => {
                    assert!(arguments.iter().any(|&(name, v)| name == "b'" && v >= 1e7));
                    assert!(arguments.contains(&("t", 99_999.0)));
                    assert!(*relative_error > BRACKET_TOLERANCE, "{model}: {err}");
                }
                other => panic!("{model}: {other}"),
            }
            assert!(err.to_string().contains("t = 99999"), "{err}");
        }
        // one step nearer (1 − z = 10⁻⁴) the negative-binomial form is within budget
        let near = BgNbd::new(0.5, 1.0, 0.5, 1e7)
            .unwrap()
            .conditional_expected_purchases(&obs, 9_999.0)
            .unwrap();
        assert!(near > 0.0 && near.is_finite());
    }
}
