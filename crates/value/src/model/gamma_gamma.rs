//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
//! using iso-value curves for customer base analysis", *Journal of Marketing Research*
//! 42(4):415–430; Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").
//!
//! A customer's transaction values are i.i.d. Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; the model is fitted on repeat buyers' (x, z̄): the number of repeat
//! transactions and their mean value. Spend is assumed independent of the transaction
//! process. γ is in the currency unit of z̄ (p and q are unit-free).

use serde::{Deserialize, Serialize};

use super::special::{digamma, ln_gamma};
use super::{fit_ml, positive_params, Fit, FitOptions};
use crate::error::{positive, Result, ValueError};

/// A repeat buyer's spend summary: x ≥ 1 repeat transactions with mean value z̄ > 0.
///
/// z̄ is in whatever currency unit the caller chooses (the estimate of γ is in that unit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpendRepr")]
pub struct SpendObservation {
    frequency: u32,
    monetary_value: f64,
}

#[derive(Deserialize)]
struct SpendRepr {
    frequency: u32,
    monetary_value: f64,
}

impl TryFrom<SpendRepr> for SpendObservation {
    type Error = ValueError;
    fn try_from(r: SpendRepr) -> Result<Self> {
        SpendObservation::new(r.frequency, r.monetary_value)
    }
}

impl SpendObservation {
    /// Validates and builds a spend observation.
    ///
    /// # Errors
    /// [`ValueError::OutOfDomain`] if `frequency` is 0 (not a repeat buyer) or the mean
    /// value is not > 0; [`ValueError::NonFinite`] for a non-finite value.
    pub fn new(frequency: u32, monetary_value: f64) -> Result<Self> {
        if frequency == 0 {
            return Err(ValueError::OutOfDomain {
                what: "frequency",
                value: 0.0,
                reason: "the Gamma-Gamma model is fitted on repeat buyers (frequency >= 1)",
            });
        }
        Ok(Self {
            frequency,
            monetary_value: positive("monetary_value", monetary_value)?,
        })
    }

    /// x: number of repeat transactions.
    pub fn frequency(&self) -> u32 {
        self.frequency
    }

    /// z̄: mean value of the repeat transactions.
    pub fn monetary_value(&self) -> f64 {
        self.monetary_value
    }
}

positive_params! {
    /// Gamma-Gamma parameters p, q, γ (γ in the currency unit of the data).
    ///
    /// ```
    /// use clientele_value::GammaGamma;
    /// // Fader, Hardie & Lee (2005), CDNOW, dollars.
    /// let m = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// assert!((m.mean_spend()? - 35.22).abs() < 0.01);       // pγ/(q−1)
    /// let s = m.conditional_expected_spend(2, 22.345)?;      // customer 1
    /// assert!(s > 22.345 && s < 35.22);                      // shrunk towards the mean
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    GammaGamma, GammaGammaRepr = "GammaGammaRepr", 3 {
        /// p: shape of the per-transaction gamma.
        p: "p",
        /// q: shape of the gamma heterogeneity in the per-transaction scale ν.
        q: "q",
        /// γ: scale of the gamma heterogeneity (currency units).
        gamma: "gamma",
    }
}

impl GammaGamma {
    /// Maximum-likelihood fit over repeat buyers, from the start p = q = γ = 1.
    ///
    /// # Errors
    /// [`ValueError::EmptyInput`] for no data, invalid [`FitOptions`], and
    /// [`ValueError::NotConverged`] if the optimiser fails (unless
    /// `options.require_convergence` is false).
    pub fn fit(data: &[SpendObservation], options: &FitOptions) -> Result<Fit<Self>> {
        Self::fit_from(data, &Self::ONES, options)
    }

    /// Maximum-likelihood fit from a given start.
    ///
    /// # Errors
    /// As [`GammaGamma::fit`].
    pub fn fit_from(
        data: &[SpendObservation],
        start: &Self,
        options: &FitOptions,
    ) -> Result<Fit<Self>> {
        let mut rows: Vec<(u32, f64, f64)> = Vec::with_capacity(data.len());
        let mut sorted: Vec<(u32, f64)> = data
            .iter()
            .map(|d| (d.frequency, d.monetary_value))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        for (x, m) in sorted {
            match rows.last_mut() {
                Some(last) if last.0 == x && last.1 == m => last.2 += 1.0,
                _ => rows.push((x, m, 1.0)),
            }
        }
        fit_ml(
            "Gamma-Gamma fit data",
            data.len(),
            start.to_array(),
            options,
            |th, g| ll_grad(th, &rows, Some(g)),
            |th| ll_grad(th, &rows, None),
            Self::from_array,
        )
    }

    /// Log-density of one customer's mean repeat spend z̄ given x:
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x − (px+q) ln(γ + x z̄).
    pub fn log_likelihood(&self, obs: &SpendObservation) -> f64 {
        ll_grad(
            &self.to_array(),
            &[(obs.frequency, obs.monetary_value, 1.0)],
            None,
        )
    }

    /// Sum of [`log_likelihood`](Self::log_likelihood) over `data`.
    pub fn total_log_likelihood(&self, data: &[SpendObservation]) -> f64 {
        data.iter().map(|o| self.log_likelihood(o)).sum()
    }

    /// Population mean spend per transaction, E\[Z\] = pγ/(q − 1).
    ///
    /// # Errors
    /// [`ValueError::OutOfDomain`] if q ≤ 1 (the mean is infinite).
    pub fn mean_spend(&self) -> Result<f64> {
        if self.q <= 1.0 {
            return Err(ValueError::OutOfDomain {
                what: "q",
                value: self.q,
                reason: "the population mean spend is infinite for q <= 1",
            });
        }
        Ok(self.p * self.gamma / (self.q - 1.0))
    }

    /// E\[Z | x, z̄\] = p(γ + x z̄)/(px + q − 1): a weighted average of the population mean
    /// pγ/(q−1) and the customer's own mean z̄, with weight px/(px+q−1) on z̄. For
    /// `frequency` 0 this is the population mean (z̄ is ignored).
    ///
    /// # Errors
    /// [`ValueError::NonFinite`]/[`ValueError::OutOfDomain`] for a non-finite or negative
    /// z̄ (when x > 0); [`ValueError::OutOfDomain`] if px + q ≤ 1 (no finite mean).
    pub fn conditional_expected_spend(&self, frequency: u32, monetary_value: f64) -> Result<f64> {
        if frequency == 0 {
            return self.mean_spend();
        }
        let m = crate::error::non_negative("monetary_value", monetary_value)?;
        let px = self.p * f64::from(frequency);
        let den = px + self.q - 1.0;
        if den <= 0.0 {
            return Err(ValueError::OutOfDomain {
                what: "q",
                value: self.q,
                reason: "conditional mean spend is infinite when p*x + q <= 1",
            });
        }
        Ok(self.p * (self.gamma + f64::from(frequency) * m) / den)
    }
}

/// Total log-likelihood over weighted rows (x, z̄, w) at θ = (p, q, γ), optionally with
/// its gradient.
fn ll_grad(th: &[f64; 3], rows: &[(u32, f64, f64)], grad: Option<&mut [f64; 3]>) -> f64 {
    let [p, q, gamma] = *th;
    let want_grad = grad.is_some();
    let lg_q = ln_gamma(q);
    let ln_gamma_scale = gamma.ln();
    let psi_q = if want_grad { digamma(q) } else { 0.0 };
    let mut ll = 0.0;
    let mut g = [0.0; 3];
    for &(x, m, w) in rows {
        let x = f64::from(x);
        let px = p * x;
        let (ln_m, ln_x) = (m.ln(), x.ln());
        let ln_den = (gamma + x * m).ln();
        ll += w
            * (ln_gamma(px + q) - ln_gamma(px) - lg_q
                + q * ln_gamma_scale
                + (px - 1.0) * ln_m
                + px * ln_x
                - (px + q) * ln_den);
        if want_grad {
            let psi_pxq = digamma(px + q);
            g[0] += w * x * (psi_pxq - digamma(px) + ln_m + ln_x - ln_den);
            g[1] += w * (psi_pxq - psi_q + ln_gamma_scale - ln_den);
            g[2] += w * (q / gamma - (px + q) / (gamma + x * m));
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

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let rows = [(1u32, 10.0, 1.0), (2, 22.3, 2.0), (7, 55.0, 1.0)];
        assert_gradient_matches_finite_differences([5.0, 3.0, 14.0], 1e-6, 1e-6, |th, g| {
            ll_grad(th, &rows, g)
        });
    }

    #[test]
    fn x1_density_integrates_to_one() {
        // For x = 1, z̄ is one transaction value: a proper density on (0, ∞).
        let m = GammaGamma::new(2.5, 3.0, 10.0).unwrap();
        let (n, hi) = (200_000, 2000.0);
        let h = hi / n as f64;
        let total: f64 = (1..n)
            .map(|i| {
                let z = i as f64 * h;
                m.log_likelihood(&SpendObservation::new(1, z).unwrap())
                    .exp()
            })
            .sum::<f64>()
            * h;
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }
}
