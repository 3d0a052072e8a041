//! The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007,
//! "How to project customer retention", *Journal of Interactive Marketing* 21(1):76–90),
//! with the discounted expected residual lifetime of Fader & Hardie (2010), "Customer-base
//! valuation in a contractual setting: the perils of ignoring heterogeneity", *Marketing
//! Science* 29(1):85–93.
//!
//! Time is discrete: a customer signs up at time 0 and, at the end of each period (a month,
//! a year: whatever the contract's term is), renews with probability 1 − θ or leaves for
//! good with probability θ, where her θ is fixed and θ ~ Beta(α, β) across customers. The
//! lifetime T (the period at whose end she leaves) has
//!
//! * P(T = t) = B(α + 1, β + t − 1) / B(α, β), t = 1, 2, …;
//! * S(t) = P(T > t) = B(α, β + t) / B(α, β), S(0) = 1;
//! * retention rate r_t = S(t)/S(t − 1) = (β + t − 1)/(α + β + t − 1), which increases with
//!   t although no customer's own θ changes: the customers most likely to leave leave first.

use serde::{Deserialize, Serialize};

use super::special;
use super::{fit_ml, positive_params, Fit, FitOptions};
use crate::error::{non_negative, Result, ValueError};

/// One contract customer's history: observed for `periods` ≥ 1 periods since signing up,
/// and either `churned` at the end of the last of them (T = periods) or still a customer
/// after it (T > periods).
///
/// A customer who left at the end of period 3 is `new(3, true)`; one who has renewed three
/// times and is in her fourth period is `new(3, false)` (three periods completed). Invariant,
/// checked by [`ContractObservation::new`] (and on deserialisation): periods ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "ContractObservationRepr")]
pub struct ContractObservation {
    periods: u32,
    churned: bool,
}

#[derive(Deserialize)]
struct ContractObservationRepr {
    periods: u32,
    churned: bool,
}

impl TryFrom<ContractObservationRepr> for ContractObservation {
    type Error = ValueError;
    fn try_from(r: ContractObservationRepr) -> Result<Self> {
        ContractObservation::new(r.periods, r.churned)
    }
}

impl ContractObservation {
    /// Validates and builds an observation.
    ///
    /// # Errors
    /// [`ValueError::OutOfDomain`] for `periods` = 0 (a customer seen for no period carries
    /// no information, and a churn "at the end of period 0" is not possible).
    ///
    /// ```
    /// use clientele_value::ContractObservation;
    /// let left_after_two = ContractObservation::new(2, true)?;
    /// assert!(left_after_two.churned() && left_after_two.periods() == 2);
    /// assert!(ContractObservation::new(0, false).is_err());
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn new(periods: u32, churned: bool) -> Result<Self> {
        if periods == 0 {
            return Err(ValueError::OutOfDomain {
                what: "periods",
                value: 0.0,
                reason: "must be >= 1 (a customer is observed for at least one period)",
            });
        }
        Ok(Self { periods, churned })
    }

    /// Periods observed since sign-up (≥ 1).
    pub fn periods(&self) -> u32 {
        self.periods
    }

    /// Whether the customer left at the end of the last observed period.
    pub fn churned(&self) -> bool {
        self.churned
    }

    /// A cohort's histories from its survivor counts, aggregated: `survivors[0]` customers
    /// signed up at time 0 and `survivors[t]` of them were still customers after t periods.
    /// Returns, with their counts, the `survivors[t−1] − survivors[t]` customers who left at
    /// the end of period t (t = 1, …, n) and the `survivors[n]` still active after the last
    /// period n; outcomes with no customer are left out. This is the input of
    /// [`Sbg::fit_counts`].
    ///
    /// # Errors
    /// [`ValueError::EmptyInput`] for fewer than two counts (no period observed) or an
    /// empty cohort (`survivors[0]` = 0); [`ValueError::Inconsistent`] if a count is greater
    /// than the one before it; [`ValueError::Overflow`] for more than 2³² − 1 periods.
    ///
    /// ```
    /// use clientele_value::ContractObservation;
    /// let rows = ContractObservation::from_survivors(&[1000, 631, 468])?;
    /// let churned_1 = ContractObservation::new(1, true)?;
    /// let churned_2 = ContractObservation::new(2, true)?;
    /// let active_2 = ContractObservation::new(2, false)?;
    /// assert_eq!(rows, vec![(churned_1, 369), (churned_2, 163), (active_2, 468)]);
    /// assert!(ContractObservation::from_survivors(&[1000, 631, 700]).is_err());
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn from_survivors(survivors: &[u64]) -> Result<Vec<(Self, u64)>> {
        let (&cohort, later) = match survivors.split_first() {
            Some((first, later)) if !later.is_empty() => (first, later),
            _ => {
                return Err(ValueError::EmptyInput {
                    what: "survivor counts (the cohort size and at least one later count)",
                })
            }
        };
        if cohort == 0 {
            return Err(ValueError::EmptyInput {
                what: "cohort (no customers at the start)",
            });
        }
        let mut rows = Vec::with_capacity(later.len() + 1);
        let mut before = cohort;
        let mut periods = 0u32;
        for &now in later {
            periods = periods
                .checked_add(1)
                .ok_or(ValueError::Overflow("number of periods in survivor counts"))?;
            let left = before.checked_sub(now).ok_or(ValueError::Inconsistent(
                "survivor counts must not increase from one period to the next \
                 (a cohort only loses customers)",
            ))?;
            if left > 0 {
                rows.push((Self::new(periods, true)?, left));
            }
            before = now;
        }
        if before > 0 {
            rows.push((Self::new(periods, false)?, before));
        }
        Ok(rows)
    }
}

positive_params! {
    /// Shifted-beta-geometric parameters: the per-period churn probability θ ~ Beta(α, β)
    /// across customers (mean churn α/(α + β)). Unit-free: the period is the contract's.
    ///
    /// ```
    /// use clientele_value::Sbg;
    /// // Fader & Hardie (2007), the "high end" segment, years.
    /// let m = Sbg::new(0.668, 3.806)?;
    /// assert!((m.survival(1) - 0.8507).abs() < 1e-4);        // β/(α+β)
    /// assert!((m.retention_rate(2)? - 4.806 / 5.474).abs() < 1e-12);
    /// assert!(m.retention_rate(5)? > m.retention_rate(2)?);  // rises with tenure
    /// assert!((m.expected_survivors(1000, 7) - 488.9).abs() < 0.1); // observed: 491
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    Sbg, SbgRepr = "SbgRepr", 2 {
        /// α: first shape of the churn-probability beta.
        alpha: "alpha",
        /// β: second shape of the churn-probability beta.
        beta: "beta",
    }
}

impl Sbg {
    /// Maximum-likelihood fit over per-customer histories, from the start α = β = 1.
    ///
    /// # Errors
    /// [`ValueError::EmptyInput`] for no data, invalid [`FitOptions`], and
    /// [`ValueError::NotConverged`] if the optimiser fails (unless
    /// `options.require_convergence` is false).
    ///
    /// Data without heterogeneity to speak of has its maximum on the boundary of the
    /// parameter space: every customer still active (α → 0), every one gone after the first
    /// period (β → 0), or a constant churn rate (α, β → ∞ at a fixed ratio). The fit then
    /// stops, converged, at extreme estimates where the gradient has fallen below tolerance.
    /// One period of data identifies only the mean churn α/(α + β).
    ///
    /// ```
    /// use clientele_value::{ContractObservation, FitOptions, Sbg};
    /// let data: Vec<ContractObservation> = [(1, true), (1, true), (2, true), (3, false), (3, false)]
    ///     .into_iter()
    ///     .map(|(periods, churned)| ContractObservation::new(periods, churned))
    ///     .collect::<Result<_, _>>()?;
    /// let fit = Sbg::fit(&data, &FitOptions::default())?;
    /// assert!(fit.converged && fit.observations == 5);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn fit(data: &[ContractObservation], options: &FitOptions) -> Result<Fit<Self>> {
        Self::fit_from(data, &Self::ONES, options)
    }

    /// Maximum-likelihood fit over per-customer histories from a given start.
    ///
    /// # Errors
    /// As [`Sbg::fit`].
    pub fn fit_from(
        data: &[ContractObservation],
        start: &Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>> {
        let rows = Rows::new(data.iter().map(|&o| (o, 1)));
        Self::fit_rows(&rows, data.len(), start, options)
    }

    /// Maximum-likelihood fit over histories with their counts (such as those of
    /// [`ContractObservation::from_survivors`]), from the start α = β = 1.
    /// [`Fit::observations`] is the number of customers, the sum of the counts.
    ///
    /// # Errors
    /// As [`Sbg::fit`] ([`ValueError::EmptyInput`] when the counts add up to 0), and
    /// [`ValueError::Overflow`] if they add up to more than `usize::MAX`.
    ///
    /// ```
    /// use clientele_value::{ContractObservation, FitOptions, Sbg};
    /// // Fader & Hardie (2007), "regular" segment: 1000 customers, survivors in years 1–7.
    /// let cohort = ContractObservation::from_survivors(&[1000, 631, 468, 382, 326, 289, 262, 241])?;
    /// let fit = Sbg::fit_counts(&cohort, &FitOptions::default())?;
    /// // published: α = 0.704, β = 1.182
    /// assert!((fit.params.alpha() - 0.704).abs() < 1e-3 && (fit.params.beta() - 1.182).abs() < 1e-3);
    /// assert_eq!(fit.observations, 1000);
    /// // Year 12 (not fitted) had 173 survivors.
    /// assert!((fit.params.expected_survivors(1000, 12) - 173.0).abs() < 5.0);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn fit_counts(
        data: &[(ContractObservation, u64)],
        options: &FitOptions,
    ) -> Result<Fit<Self>> {
        Self::fit_counts_from(data, &Self::ONES, options)
    }

    /// Maximum-likelihood fit over histories with their counts, from a given start.
    ///
    /// # Errors
    /// As [`Sbg::fit_counts`].
    pub fn fit_counts_from(
        data: &[(ContractObservation, u64)],
        start: &Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>> {
        let mut total = 0u64;
        for &(_, n) in data {
            total = total
                .checked_add(n)
                .ok_or(ValueError::Overflow("sBG fit data: total count"))?;
        }
        let customers = usize::try_from(total)
            .map_err(|_| ValueError::Overflow("sBG fit data: total count"))?;
        let rows = Rows::new(data.iter().copied());
        Self::fit_rows(&rows, customers, start, options)
    }

    fn fit_rows(
        rows: &Rows,
        customers: usize,
        start: &Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>> {
        fit_ml(
            "sBG fit data",
            customers,
            start.to_array(),
            options,
            |th, g| ll_grad(th, rows, Some(g)),
            |th| ll_grad(th, rows, None),
            Self::from_array,
        )
    }

    /// Log-likelihood of one history: ln P(T = t) for a customer who left at the end of
    /// period t, ln S(t) for one still active after t periods.
    pub fn log_likelihood(&self, obs: &ContractObservation) -> f64 {
        ll_grad(&self.to_array(), &Rows::new([(*obs, 1)]), None)
    }

    /// Sum of [`log_likelihood`](Self::log_likelihood) over `data`.
    pub fn total_log_likelihood(&self, data: &[ContractObservation]) -> f64 {
        ll_grad(
            &self.to_array(),
            &Rows::new(data.iter().map(|&o| (o, 1))),
            None,
        )
    }

    /// S(t) = B(α, β + t)/B(α, β): the probability that a customer who signed up at time 0
    /// is still one after t periods (has renewed t times); S(0) = 1.
    pub fn survival(&self, t: u32) -> f64 {
        ln_survival(self.alpha, self.beta, t, false).0.exp()
    }

    /// P(T = t) = B(α + 1, β + t − 1)/B(α, β) = S(t − 1) − S(t): the probability that a new
    /// customer leaves at the end of period t (0 for t = 0).
    pub fn churn_probability(&self, t: u32) -> f64 {
        if t == 0 {
            return 0.0;
        }
        let k = t - 1;
        let (ln_s, _) = ln_survival(self.alpha, self.beta, k, false);
        (self.alpha.ln() - (self.alpha + self.beta + f64::from(k)).ln() + ln_s).exp()
    }

    /// r_t = S(t)/S(t − 1) = (β + t − 1)/(α + β + t − 1): the share of the customers still
    /// there at the start of period t who renew at its end.
    ///
    /// # Errors
    /// [`ValueError::OutOfDomain`] for t = 0 (the first renewal is at the end of period 1).
    pub fn retention_rate(&self, t: u32) -> Result<f64> {
        if t == 0 {
            return Err(ValueError::OutOfDomain {
                what: "t (period)",
                value: 0.0,
                reason: "retention rates start at period 1",
            });
        }
        let b = self.beta + f64::from(t - 1);
        Ok(b / (self.alpha + b))
    }

    /// Expected survivors after t periods of a cohort of `cohort` customers signed up at
    /// time 0: `cohort` · S(t).
    pub fn expected_survivors(&self, cohort: u64, t: u32) -> f64 {
        // u64 → f64 rounds above 2⁵³, far beyond any cohort
        cohort as f64 * self.survival(t)
    }

    /// DEL(d): the discounted expected lifetime, in payments, of a customer just signed up,
    /// who pays 1 at sign-up (time 0, undiscounted) and 1 at each renewal (time t, if still a
    /// customer, discounted by (1 + d)^−t):
    ///
    /// DEL(d) = Σ_{t≥0} S(t)/(1 + d)^t = ₂F₁(1, β; α + β; 1/(1 + d)).
    ///
    /// Multiply by the payment for a lifetime value. `discount` is the rate per period; for
    /// d = 0 this is E\[T\] = (α + β − 1)/(α − 1), infinite for α ≤ 1. DEL(d) =
    /// 1 + DERL(d, 0)/(1 + d).
    ///
    /// # Errors
    /// [`ValueError::NonFinite`]/[`ValueError::OutOfDomain`] for a non-finite or negative
    /// `discount`, and for d = 0 with α ≤ 1 (an infinite expected lifetime);
    /// [`ValueError::PrecisionLoss`] where neither ₂F₁ nor the summed series reaches full
    /// accuracy within its cost budget (discount rates below ~10⁻⁶ a period, with α near 1
    /// or β + n very large), rather than a number that may be wrong.
    ///
    /// ```
    /// use clientele_value::Sbg;
    /// let m = Sbg::new(0.704, 1.182)?;
    /// let d: f64 = 0.10;
    /// let direct: f64 = (0..2000).map(|t| m.survival(t) / (1.0 + d).powi(t as i32)).sum();
    /// assert!((m.del(d)? - direct).abs() < 1e-9 * direct);
    /// assert!((m.del(d)? - (1.0 + m.derl(d, 0)? / (1.0 + d))).abs() < 1e-12);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn del(&self, discount: f64) -> Result<f64> {
        let d = non_negative("discount", discount)?;
        discounted_lifetime(self.alpha, self.beta, d)
            .map_err(|e| self.precision_loss(e, "sBG DEL", None, d))
    }

    /// DERL(d, n − 1): the discounted expected residual lifetime, in payments, of a customer
    /// who has made `renewals` = n − 1 renewals (she signed up at time 0 and is in period n),
    /// valued at the end of period n, just before her n-th renewal decision (Fader & Hardie
    /// 2010, eq. 6). She pays 1 at that renewal (undiscounted) if she renews, and 1 at each
    /// later one, discounted by (1 + d)^−k for the renewal k periods later; the payment that
    /// started period n is not counted:
    ///
    /// DERL(d, n − 1) = Σ_{k≥0} S(n + k)/S(n − 1) · (1 + d)^−k
    ///               = (β + n − 1)/(α + β + n − 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d)).
    ///
    /// It grows with `renewals`: the longer a customer has stayed, the lower her θ is likely
    /// to be. Multiply by the payment for her residual value.
    ///
    /// # Errors
    /// As [`Sbg::del`]; d = 0 with α ≤ 1 is an infinite residual lifetime.
    ///
    /// ```
    /// use clientele_value::Sbg;
    /// let m = Sbg::new(0.668, 3.806)?;
    /// let (d, renewals): (f64, u32) = (0.10, 4);
    /// let n = renewals + 1;
    /// let direct: f64 = (0..2000)
    ///     .map(|k| m.survival(n + k) / m.survival(n - 1) / (1.0 + d).powi(k as i32))
    ///     .sum();
    /// assert!((m.derl(d, renewals)? - direct).abs() < 1e-9 * direct);
    /// assert!(m.derl(d, renewals)? > m.derl(d, 0)?);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn derl(&self, discount: f64, renewals: u32) -> Result<f64> {
        let d = non_negative("discount", discount)?;
        let done = f64::from(renewals); // n − 1
        let b = self.beta + done;
        let lead = b / (self.alpha + b);
        let series = discounted_lifetime(self.alpha, b + 1.0, d)
            .map_err(|e| self.precision_loss(e, "sBG DERL", Some(renewals), d))?;
        Ok(lead * series)
    }

    /// Names the model's inputs in a [`ValueError::PrecisionLoss`] of
    /// [`discounted_lifetime`]; other errors pass through.
    fn precision_loss(
        &self,
        e: ValueError,
        function: &'static str,
        renewals: Option<u32>,
        discount: f64,
    ) -> ValueError {
        match e {
            ValueError::PrecisionLoss { relative_error, .. } => {
                let mut arguments = vec![("alpha", self.alpha), ("beta", self.beta)];
                if let Some(r) = renewals {
                    arguments.push(("renewals", f64::from(r)));
                }
                arguments.push(("discount", discount));
                ValueError::PrecisionLoss {
                    function,
                    arguments,
                    relative_error,
                }
            }
            other => other,
        }
    }
}

/// Largest relative error [`discounted_lifetime`] accepts from ₂F₁ before it sums the
/// series instead (tighter than the 10⁻⁸ of the public `hyp2f1`).
const DISCOUNT_TOLERANCE: f64 = 1e-10;

/// Largest relative error accepted from ₂F₁ when the summed series is out of reach (the
/// public `hyp2f1`'s own tolerance): chiefly α within ~10⁻³ of 1 with d ≲ 10⁻⁵, where ₂F₁
/// interpolates across the degenerate connection formula (c − a − b = α − 1 near 0); its
/// values there were within 3·10⁻¹¹ of mpmath.
const LAST_RESORT_TOLERANCE: f64 = 1e-8;

/// Term budget of the summed series (~20 ms when used up; enough for d ≳ 10⁻⁵).
const DISCOUNT_TERMS: u64 = 5_000_000;

/// The arguments of ₂F₁(1, b; α + b; 1/(1 + d)) for the crate's evaluator,
/// with 1 − z = d/(1 + d) exact.
fn lifetime_hyp2f1_args(alpha: f64, b: f64, d: f64) -> (special::Params, special::Unit) {
    let c = alpha + b;
    let unit = special::Unit {
        z: 1.0 / (1.0 + d),
        y: d / (1.0 + d),
        ln_y: d.ln() - d.ln_1p(),
    };
    let params = special::Params {
        a: 1.0,
        b,
        c,
        c_a: c - 1.0,
        c_b: alpha,
        d: alpha - 1.0,
    };
    (params, unit)
}

/// F(d) = ₂F₁(1, b; α + b; z) = Σ_{k≥0} z^k (b)_k/(α + b)_k with z = 1/(1 + d), for
/// α, b > 0 and d ≥ 0.
///
/// For d > 0, ₂F₁ by the crate's evaluator (series, or the 1 − z connection formula near
/// z = 1) with 1 − z = d/(1 + d) passed exact rather than taken from a rounded z (which
/// costs ~10⁻¹⁶/d relative); if that fails or estimates an error above
/// [`DISCOUNT_TOLERANCE`], the series itself: positive terms whose ratio
/// z(b + k)/(α + b + k) rises to z, so the tail after a term t_k is below t_k·z/(1 − z) =
/// t_k/d, summed (compensated) until that bound is under 10⁻¹⁶ of the sum, within
/// [`DISCOUNT_TERMS`] terms (~37/d are needed). For d = 0, Gauss's sum (α + b − 1)/(α − 1)
/// when α > 1.
fn discounted_lifetime(alpha: f64, b: f64, d: f64) -> Result<f64> {
    let c = alpha + b;
    if d == 0.0 {
        if alpha > 1.0 {
            return Ok((c - 1.0) / (alpha - 1.0));
        }
        return Err(ValueError::OutOfDomain {
            what: "discount",
            value: d,
            reason: "the expected lifetime is infinite without discounting when alpha <= 1",
        });
    }
    let (params, unit) = lifetime_hyp2f1_args(alpha, b, d);
    let mut best = f64::INFINITY;
    let mut fair = None; // a ₂F₁ value within LAST_RESORT_TOLERANCE
    if let Ok(e) = special::hyp2f1_scaled_estimate(params, unit, 0.0) {
        // the series is ≥ its first term, 1: anything else is a cancellation's residue
        if e.value >= 1.0 {
            if e.within(DISCOUNT_TOLERANCE) {
                return Ok(e.value);
            }
            if e.within(LAST_RESORT_TOLERANCE) {
                fair = Some(e.value);
            }
        }
        best = e.error / e.value.abs();
    }
    // (α + b + k)(1 + d) as (α + b + k) + d(α + b + k): no rounded 1 + d in every ratio
    let series = special::ratio_series::<false>(
        "sBG discounted lifetime series",
        1.0,
        0,
        0.0,
        unit.z,
        DISCOUNT_TERMS,
        |kf| (b + kf) / ((c + kf) + d * (c + kf)),
    );
    if let Ok(s) = series {
        if s.sum.is_finite() && s.error() <= DISCOUNT_TOLERANCE * s.sum {
            return Ok(s.sum);
        }
        best = best.min(s.error() / s.sum);
    }
    fair.ok_or(ValueError::PrecisionLoss {
        function: "sBG discounted lifetime",
        arguments: vec![("alpha", alpha), ("b", b), ("discount", d)],
        relative_error: best,
    })
}

/// Histories aggregated into distinct weighted rows, in a deterministic order.
///
/// A row needs ln S(k) at k = t (still active after t periods) or k = t − 1 (left at the
/// end of period t, P(T = t) = α/(α + β + t − 1) · S(t − 1)); rows are sorted by k so that
/// rows sharing k share its ln S(k).
#[derive(Debug, Clone)]
struct Rows {
    rows: Vec<Row>,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    k: u32,
    churned: bool,
    w: f64,
}

impl Rows {
    fn new(data: impl IntoIterator<Item = (ContractObservation, u64)>) -> Self {
        let mut keyed: Vec<(u32, bool, u64)> = data
            .into_iter()
            .filter(|&(_, n)| n > 0)
            .map(|(o, n)| {
                // periods ≥ 1 by construction, so k = periods − 1 does not wrap
                let k = if o.churned {
                    o.periods.saturating_sub(1)
                } else {
                    o.periods
                };
                (k, o.churned, n)
            })
            .collect();
        keyed.sort_unstable_by_key(|&(k, churned, _)| (k, churned));
        let mut rows: Vec<Row> = Vec::with_capacity(keyed.len());
        for (k, churned, n) in keyed {
            match rows.last_mut() {
                Some(r) if r.k == k && r.churned == churned => r.w += n as f64,
                _ => rows.push(Row {
                    k,
                    churned,
                    w: n as f64,
                }),
            }
        }
        Self { rows }
    }
}

/// Up to this many periods ln S(k) and its gradient are summed term by term (exact to a few
/// ulp even when α ≪ β); beyond, they are differences of log-gamma and digamma values.
const DIRECT_TERMS: u32 = 64;

/// ln S(k) = Σ_{i<k} ln((β + i)/(α + β + i)) and, with `want_grad`, its gradient
/// (−Σ 1/(α + β + i), Σ α/((β + i)(α + β + i))) with respect to (α, β).
fn ln_survival(alpha: f64, beta: f64, k: u32, want_grad: bool) -> (f64, [f64; 2]) {
    let ab = alpha + beta;
    if k <= DIRECT_TERMS {
        let (mut ln_s, mut da, mut db) = (0.0, 0.0, 0.0);
        for i in 0..k {
            let fi = f64::from(i);
            let (x, y) = (beta + fi, ab + fi);
            ln_s -= (alpha / x).ln_1p();
            if want_grad {
                da -= 1.0 / y;
                db += alpha / (x * y);
            }
        }
        return (ln_s, [da, db]);
    }
    let kf = f64::from(k);
    // ln S(k) = [ln Γ(α+β) − ln Γ(β)] − [ln Γ(α+β+k) − ln Γ(β+k)], and
    // ∂/∂β = [ψ(α+β) − ψ(β)] − [ψ(α+β+k) − ψ(β+k)]: differences taken whole, not from
    // separate log-gamma and digamma values ~ln β apart from them
    let ln_s = ln_gamma_shift(beta, alpha) - ln_gamma_shift(beta + kf, alpha);
    let grad = if want_grad {
        [
            -digamma_shift(ab, kf),
            digamma_shift(beta, alpha) - digamma_shift(beta + kf, alpha),
        ]
    } else {
        [0.0; 2]
    };
    (ln_s, grad)
}

/// Below this argument [`ln_gamma_shift`] and [`digamma_shift`] recur upwards to it before
/// using the asymptotic series.
const ASYMPTOTIC_FROM: f64 = 10.0;

/// Steps that take x ≥ [`ASYMPTOTIC_FROM`] (none for x already there).
fn steps_up(x: f64) -> u32 {
    if x >= ASYMPTOTIC_FROM {
        0
    } else {
        // x > 0, so at most 10 steps
        (ASYMPTOTIC_FROM - x).ceil() as u32
    }
}

/// ln Γ(x + a) − ln Γ(x) for x, a > 0, computed as a difference rather than from two
/// log-gammas (which would leave an absolute error of ~10⁻¹⁶ x ln x, all of a small
/// result): for x ≥ 10 by Stirling's series differenced analytically,
/// (x − ½) ln(1 + a/x) + a (ln(x + a) − 1) + s(x + a) − s(x), whose parts are of the size of
/// the result; below, by the recurrence ln Γ(y + 1) = ln Γ(y) + ln y up to x + m ≥ 10:
/// the value at x + m less Σ_{i<m} ln(1 + a/(x + i)).
fn ln_gamma_shift(x: f64, a: f64) -> f64 {
    let m = steps_up(x);
    let mut below = 0.0;
    for i in 0..m {
        below += (a / (x + f64::from(i))).ln_1p();
    }
    let x = x + f64::from(m);
    let p = x + a;
    (x - 0.5) * (a / x).ln_1p() + a * (p.ln() - 1.0) + special::stirling_tail(p)
        - special::stirling_tail(x)
        - below
}

/// ψ(x + a) − ψ(x) for x, a > 0, as a difference: for x ≥ 10 from the asymptotic series
/// ψ(y) = ln y − 1/(2y) − u(y), differenced analytically,
/// ln(1 + a/x) + a/(2x(x + a)) − (u(x + a) − u(x)); below, by ψ(y + 1) = ψ(y) + 1/y up to
/// x + m ≥ 10: the value at x + m plus Σ_{i<m} a/((x + i)(x + a + i)).
fn digamma_shift(x: f64, a: f64) -> f64 {
    let m = steps_up(x);
    let mut below = 0.0;
    for i in 0..m {
        let xi = x + f64::from(i);
        below += a / (xi * (xi + a));
    }
    let x = x + f64::from(m);
    let p = x + a;
    (a / x).ln_1p() + a / (2.0 * x * p) - (digamma_tail(p) - digamma_tail(x)) + below
}

/// u(y) = Σ_{k=1..7} B₂ₖ/(2k y²ᵏ), the asymptotic series of ln y − 1/(2y) − ψ(y), for
/// y ≥ 10 (the next term is below 5·10⁻¹⁷).
fn digamma_tail(y: f64) -> f64 {
    let inv2 = 1.0 / (y * y);
    inv2 * (1.0 / 12.0
        - inv2
            * (1.0 / 120.0
                - inv2
                    * (1.0 / 252.0
                        - inv2
                            * (1.0 / 240.0
                                - inv2
                                    * (1.0 / 132.0
                                        - inv2 * (691.0 / 32760.0 - inv2 * (1.0 / 12.0)))))))
}

/// Total log-likelihood of the rows at θ = (α, β); with `grad`, also its gradient with
/// respect to θ.
///
/// ln L = Σ w · [δ_churned (ln α − ln(α + β + k)) + ln S(k)] with k as in [`Rows`]; the
/// gradient of ln S is [`ln_survival`]'s, and the churn term adds
/// (1/α − 1/(α + β + k), −1/(α + β + k)).
fn ll_grad(th: &[f64; 2], data: &Rows, grad: Option<&mut [f64; 2]>) -> f64 {
    let [alpha, beta] = *th;
    let want_grad = grad.is_some();
    let ln_alpha = alpha.ln();
    let mut ll = 0.0;
    let mut g = [0.0; 2];
    let mut cached: Option<(u32, f64, [f64; 2])> = None;
    for row in &data.rows {
        let (ln_s, ds) = match cached {
            Some((k, ln_s, ds)) if k == row.k => (ln_s, ds),
            _ => {
                let (ln_s, ds) = ln_survival(alpha, beta, row.k, want_grad);
                cached = Some((row.k, ln_s, ds));
                (ln_s, ds)
            }
        };
        ll += row.w * ln_s;
        if want_grad {
            g[0] += row.w * ds[0];
            g[1] += row.w * ds[1];
        }
        if row.churned {
            let y = alpha + beta + f64::from(row.k);
            ll += row.w * (ln_alpha - y.ln());
            if want_grad {
                g[0] += row.w * (1.0 / alpha - 1.0 / y);
                g[1] -= row.w / y;
            }
        }
    }
    if let Some(out) = grad {
        *out = g;
    }
    ll
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assert_gradient_matches_finite_differences;
    use proptest::prelude::*;

    fn rows(data: &[(u32, bool, u64)]) -> Rows {
        Rows::new(
            data.iter()
                .map(|&(t, c, n)| (ContractObservation::new(t, c).unwrap(), n)),
        )
    }

    #[test]
    fn analytic_gradient_matches_finite_differences_short_and_long_histories() {
        // k on both sides of DIRECT_TERMS
        let r = rows(&[
            (1, true, 3),
            (2, true, 1),
            (5, false, 2),
            (64, true, 1),
            (65, true, 2),
            (66, false, 1),
            (400, false, 5),
            (1000, true, 1),
        ]);
        for th in [[0.668, 3.806], [0.05, 40.0], [7.0, 0.3], [1.0, 1.0]] {
            assert_gradient_matches_finite_differences(th, 1e-6, 1e-6, |th, g| ll_grad(th, &r, g));
        }
    }

    #[test]
    fn ln_survival_paths_agree_at_the_switch() {
        // the summed path at k = 64 stepped once more against the log-gamma path at 65
        for (a, b) in [(0.668, 3.806), (0.01, 1e5), (30.0, 0.2), (2.0, 1e7)] {
            let (s64, g64) = ln_survival(a, b, DIRECT_TERMS, true);
            let (x, y) = (b + 64.0, a + b + 64.0);
            let want = s64 - (a / x).ln_1p();
            let want_g = [g64[0] - 1.0 / y, g64[1] + a / (x * y)];
            let (s65, g65) = ln_survival(a, b, DIRECT_TERMS + 1, true);
            // ln S to 10⁻¹³ absolute is S to 10⁻¹³ relative; differences of functions of
            // β and β + k cancel to ~10⁻¹⁶ β/k of the (tiny) result when β ≫ k, which S
            // and the fit (gradient × β in log space) do not feel
            assert!(
                (s65 - want).abs() <= 1e-13 * want.abs().max(1.0),
                "{a} {b}: {s65} vs {want}"
            );
            for i in 0..2 {
                assert!(
                    (g65[i] - want_g[i]).abs() <= 1e-9 * want_g[i].abs(),
                    "{a} {b} {i}: {} vs {}",
                    g65[i],
                    want_g[i]
                );
            }
        }
    }

    /// ln Γ(x+a) − ln Γ(x) and ψ(x+a) − ψ(x) against mpmath at 40 digits, on both sides of
    /// the switch to the asymptotic series (for x = 250, a = 0.01 two separate log-gammas
    /// are already off by 3·10⁻¹³; for x = 10⁹ they would keep no digit).
    #[test]
    fn shifts_match_mpmath() {
        for (x, a, ln_gamma_diff, digamma_diff) in [
            (0.01, 0.3, -3.5381071010129164, 97.17717112591963),
            (0.5, 7.0, 6.961999293834033, 3.91026751026751),
            (3.3, 0.02, 0.020766985657960358, 0.0070453944787605),
            (9.99, 2.0, 4.698570361075992, 0.19109191083713375),
            (10.0, 0.5, 1.1387977393222941, 0.051248445230965264),
            (12.3, 4.0, 10.485475663270332, 0.29177832998719505),
            (250.0, 0.01, 0.0551947962431665, 4.0079303481386404e-5),
            (1e4, 33.0, 303.99397516796125, 0.0032947314121938654),
            (1e9, 1e-6, 2.072326583644641e-5, 1.0000000004999994e-15),
        ] {
            let got = ln_gamma_shift(x, a);
            assert!(
                (got - ln_gamma_diff).abs() <= 4e-16 * ln_gamma_diff.abs().max(1.0),
                "ln Γ {x} {a}: {got} vs {ln_gamma_diff}"
            );
            let got = digamma_shift(x, a);
            assert!(
                (got - digamma_diff).abs() <= 1e-14 * digamma_diff.abs(),
                "ψ {x} {a}: {got} vs {digamma_diff}"
            );
        }
    }

    /// For an integer shift n the differences are finite sums, exact to a few ulp at any x
    /// (where separate log-gammas and digammas of x ~ 10⁸ are not).
    #[test]
    fn integer_shifts_are_the_finite_sums() {
        for x in [0.003, 0.7, 9.5, 11.0, 1234.5, 1e8] {
            for n in [1u32, 2, 7, 40] {
                let (mut ln_sum, mut inv_sum) = (0.0, 0.0);
                for i in 0..n {
                    ln_sum += (x + f64::from(i)).ln();
                    inv_sum += 1.0 / (x + f64::from(i));
                }
                let nf = f64::from(n);
                let got = ln_gamma_shift(x, nf);
                assert!(
                    (got - ln_sum).abs() <= 1e-14 * ln_sum.abs().max(1.0),
                    "ln Γ {x} {n}: {got} vs {ln_sum}"
                );
                let got = digamma_shift(x, nf);
                assert!(
                    (got - inv_sum).abs() <= 1e-13 * inv_sum,
                    "ψ {x} {n}: {got} vs {inv_sum}"
                );
            }
        }
    }

    /// Near z = 1 with parameters in the thousands the connection formula's two terms
    /// cancel and its estimate is refused: the summed series answers, and agrees with the
    /// discounted survival probabilities added up directly.
    #[test]
    fn discounted_lifetime_falls_back_to_the_series_where_hyp2f1_is_refused() {
        let (alpha, beta, renewals, d) = (0.9995, 20_000.0, 30_000u32, 1e-3);
        let b = beta + f64::from(renewals) + 1.0;
        let (params, unit) = lifetime_hyp2f1_args(alpha, b, d);
        let refused = match special::hyp2f1_scaled_estimate(params, unit, 0.0) {
            Ok(e) => !(e.value >= 1.0 && e.within(DISCOUNT_TOLERANCE)),
            Err(_) => true,
        };
        assert!(
            refused,
            "the ₂F₁ path was accepted: the test no longer covers the fallback"
        );
        let m = Sbg::new(alpha, beta).unwrap();
        let got = m.derl(d, renewals).unwrap();
        let (mut sum, mut p, mut k) = (0.0, 1.0, 0u32);
        let n = renewals + 1;
        let ln_s_before = ln_survival(alpha, beta, n - 1, false).0;
        while p > 1e-18 * sum || k < 10 {
            let ln_s = ln_survival(alpha, beta, n + k, false).0;
            p = (ln_s - ln_s_before - f64::from(k) * d.ln_1p()).exp();
            sum += p;
            k += 1;
        }
        assert!((got - sum).abs() <= 1e-9 * sum, "{got} vs {sum}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The analytic gradient against central differences, over wide parameter ranges
        /// and random cohorts.
        #[test]
        fn gradient_matches_finite_differences(
            lna in -2.0f64..2.5,
            lnb in -2.0f64..3.0,
            data in proptest::collection::vec((1u32..200, any::<bool>(), 1u64..50), 1..12),
        ) {
            let r = rows(&data);
            assert_gradient_matches_finite_differences(
                [10f64.powf(lna), 10f64.powf(lnb)],
                1e-6,
                1e-5,
                |th, g| ll_grad(th, &r, g),
            );
        }
    }
}
