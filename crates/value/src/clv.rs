//! Customer lifetime value.
//!
//! Two families:
//!
//! * **Formula CLV** (annuity form): a constant annual net contribution discounted over a
//!   horizon of `years` at `rate_per_year` —
//!   PVIFA(i, T) = (1 − (1 + i)^−T)/i (= T when i = 0); single-customer CLV = annual net
//!   contribution × PVIFA; group CLV = (Q − C) × PVIFA with Q the group's annual revenue
//!   and C its annual cost. Money is in whatever unit the caller uses; T may be fractional.
//! * **Model-based discounted CLV** ([`discounted_clv`]): expected transactions from a
//!   [`TransactionModel`] per month × expected spend per transaction, discounted monthly —
//!   the definition of the `lifetimes` library's `customer_lifetime_value`.

use crate::error::{finite, non_negative, positive, Result, ValueError};
use crate::model::{Observation, TransactionModel};
use crate::stats::TimeUnit;

fn rate(what: &'static str, i: f64) -> Result<f64> {
    let i = finite(what, i)?;
    if i <= -1.0 {
        return Err(ValueError::OutOfDomain {
            what,
            value: i,
            reason: "must be > -1",
        });
    }
    Ok(i)
}

/// Present-value interest factor of an annuity: PVIFA(i, T) = (1 − (1 + i)^−T)/i, and T
/// when i = 0. `rate_per_year` is the annual discount rate (0.1 = 10 %), `years` the
/// horizon in years (≥ 0, may be fractional).
///
/// Evaluated as −expm1(−T ln(1 + i))/i, accurate for rates near 0.
///
/// # Errors
/// [`ValueError::NonFinite`] for NaN/∞, [`ValueError::OutOfDomain`] for `years` < 0 or
/// `rate_per_year` ≤ −1.
///
/// ```
/// use clientele_value::clv::pvifa;
/// assert!((pvifa(0.10, 3.0)? - 2.486_851_990_984_222_5).abs() < 1e-12);
/// assert_eq!(pvifa(0.0, 3.0)?, 3.0);
/// assert!(pvifa(-1.0, 3.0).is_err() && pvifa(0.1, -1.0).is_err());
/// # Ok::<(), clientele_value::ValueError>(())
/// ```
pub fn pvifa(rate_per_year: f64, years: f64) -> Result<f64> {
    let i = rate("rate_per_year", rate_per_year)?;
    let t = non_negative("years", years)?;
    if i == 0.0 {
        return Ok(t);
    }
    Ok(-(-t * i.ln_1p()).exp_m1() / i)
}

/// Single-customer CLV = `annual_net_contribution` × PVIFA(`rate_per_year`, `years`).
///
/// # Errors
/// As [`pvifa`], plus [`ValueError::NonFinite`] for a non-finite contribution.
///
/// ```
/// use clientele_value::clv::customer_clv;
/// assert!((customer_clv(100.0, 0.10, 3.0)? - 248.685_199_098_422_25).abs() < 1e-9);
/// assert_eq!(customer_clv(100.0, 0.0, 3.0)?, 300.0);
/// # Ok::<(), clientele_value::ValueError>(())
/// ```
pub fn customer_clv(annual_net_contribution: f64, rate_per_year: f64, years: f64) -> Result<f64> {
    let m = finite("annual_net_contribution", annual_net_contribution)?;
    Ok(m * pvifa(rate_per_year, years)?)
}

/// Group CLV = (Q − C) × PVIFA(`rate_per_year`, `years`), with Q the group's annual
/// revenue and C its annual cost.
///
/// # Errors
/// As [`customer_clv`].
///
/// ```
/// use clientele_value::clv::group_clv;
/// let v = group_clv(1_100.0, 1_000.0, 0.10, 3.0)?;
/// assert!((v - 248.685_199_098_422_25).abs() < 1e-9);
/// # Ok::<(), clientele_value::ValueError>(())
/// ```
pub fn group_clv(
    annual_revenue: f64,
    annual_cost: f64,
    rate_per_year: f64,
    years: f64,
) -> Result<f64> {
    let q = finite("annual_revenue", annual_revenue)?;
    let c = finite("annual_cost", annual_cost)?;
    customer_clv(q - c, rate_per_year, years)
}

/// The horizon and discounting of [`discounted_clv`]: `months` monthly periods, each
/// `units_per_month` model time units long, discounted at `monthly_discount_rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DcfSchedule {
    months: u32,
    monthly_discount_rate: f64,
    units_per_month: f64,
}

impl DcfSchedule {
    /// A schedule with the `lifetimes` month length for `unit` (30 days or 4.345 weeks).
    ///
    /// # Errors
    /// [`ValueError::NonFinite`] / [`ValueError::OutOfDomain`] for a rate ≤ −1 or NaN.
    pub fn new(months: u32, monthly_discount_rate: f64, unit: TimeUnit) -> Result<Self> {
        Self::with_units_per_month(months, monthly_discount_rate, unit.per_month())
    }

    /// A schedule with an explicit month length in model time units.
    ///
    /// # Errors
    /// As [`DcfSchedule::new`], and for a non-positive month length.
    pub fn with_units_per_month(
        months: u32,
        monthly_discount_rate: f64,
        units_per_month: f64,
    ) -> Result<Self> {
        Ok(Self {
            months,
            monthly_discount_rate: rate("monthly_discount_rate", monthly_discount_rate)?,
            units_per_month: positive("units_per_month", units_per_month)?,
        })
    }

    /// Number of monthly periods.
    pub fn months(&self) -> u32 {
        self.months
    }

    /// Discount rate per month.
    pub fn monthly_discount_rate(&self) -> f64 {
        self.monthly_discount_rate
    }

    /// Month length in model time units.
    pub fn units_per_month(&self) -> f64 {
        self.units_per_month
    }
}

/// Model-based CLV of one customer:
/// Σ_{m=1}^{M} spend · (E\[Y(m·u) | obs\] − E\[Y((m−1)·u) | obs\]) / (1 + d)^m,
/// with u = month length in model time units and d the monthly discount rate — the
/// definition of `lifetimes`' `customer_lifetime_value`. `expected_spend` is the expected
/// value per transaction (e.g. [`GammaGamma::conditional_expected_spend`](crate::GammaGamma::conditional_expected_spend));
/// the result is in its currency unit.
///
/// # Errors
/// [`ValueError::NonFinite`] for a non-finite spend; errors of the model's
/// [`conditional_expected_purchases`](TransactionModel::conditional_expected_purchases).
///
/// ```
/// use clientele_value::clv::{discounted_clv, DcfSchedule};
/// use clientele_value::{BgNbd, GammaGamma, Observation, TimeUnit};
/// let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;        // weeks
/// let gg = GammaGamma::new(6.25, 3.74, 15.44)?;             // dollars
/// let customer = Observation::new(2, 30.43, 38.86)?;
/// let spend = gg.conditional_expected_spend(2, 22.345)?;
/// let schedule = DcfSchedule::new(12, 0.01, TimeUnit::Weeks)?;
/// let clv = discounted_clv(&bg, &customer, spend, &schedule)?;
/// assert!(clv > 0.0 && clv < 12.0 * spend);
/// # Ok::<(), clientele_value::ValueError>(())
/// ```
pub fn discounted_clv<M: TransactionModel + ?Sized>(
    model: &M,
    obs: &Observation,
    expected_spend: f64,
    schedule: &DcfSchedule,
) -> Result<f64> {
    let spend = finite("expected_spend", expected_spend)?;
    let discount = 1.0 + schedule.monthly_discount_rate;
    let mut previous = 0.0;
    let mut total = 0.0;
    for m in 1..=schedule.months {
        let cumulative =
            model.conditional_expected_purchases(obs, f64::from(m) * schedule.units_per_month)?;
        total += spend * (cumulative - previous) / discount.powf(f64::from(m));
        previous = cumulative;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_values() {
        let v = group_clv(100.0, 0.0, 0.10, 3.0).unwrap();
        assert!((v - 248.685_199_098_422_25).abs() < 1e-10, "{v}");
        assert_eq!(group_clv(100.0, 0.0, 0.0, 3.0).unwrap(), 300.0);
        // tiny rate: continuous in i at 0
        let v = pvifa(1e-12, 3.0).unwrap();
        assert!((v - 3.0).abs() < 1e-10);
        // direct sum for integer T
        let direct: f64 = (1..=3).map(|k| 1.1f64.powi(-k)).sum();
        assert!((pvifa(0.1, 3.0).unwrap() - direct).abs() < 1e-14);
    }

    #[test]
    fn invalid_inputs() {
        assert!(pvifa(f64::NAN, 3.0).is_err());
        assert!(pvifa(0.1, f64::NAN).is_err());
        assert!(pvifa(0.1, f64::INFINITY).is_err());
        assert!(pvifa(-1.5, 3.0).is_err());
        assert!(customer_clv(f64::NAN, 0.1, 3.0).is_err());
        assert!(DcfSchedule::new(12, -1.0, TimeUnit::Days).is_err());
        assert!(DcfSchedule::with_units_per_month(12, 0.01, 0.0).is_err());
    }
}
