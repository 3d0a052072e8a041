//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an
//! alternative to the Pareto/NBD model", *Marketing Science* 24(2):275–284).
//!
//! While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after
//! each purchase she becomes inactive with probability p ~ Beta(a, b).

use super::data::Compressed;
use super::special::{digamma, ln_gamma};
use super::{
    beta_geo_bracket, beta_geo_rows, fit_ml, horizon, inv_one_plus_exp, positive_params, Fit,
    FitOptions, Observation, TransactionModel,
};
use crate::error::Result;
#[cfg(doc)]
use crate::error::ValueError;

positive_params! {
    /// BG/NBD parameters: purchase-rate heterogeneity Gamma(r, α) (α in the time unit of
    /// the data) and dropout-probability heterogeneity Beta(a, b).
    ///
    /// ```
    /// use clientele_value::{BgNbd, Observation, TransactionModel};
    /// // Fader, Hardie & Lee (2005), CDNOW, time in weeks.
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let customer_1 = Observation::new(2, 30.43, 38.86)?;
    /// assert!((m.p_alive(&customer_1)? - 0.7266).abs() < 5e-4);
    /// let next_39_weeks = m.conditional_expected_purchases(&customer_1, 39.0)?;
    /// assert!((next_39_weeks - 1.226).abs() < 1e-3);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    BgNbd, BgNbdRepr = "BgNbdRepr", 4 {
        /// r: shape of the purchase-rate gamma.
        r: "r",
        /// α: scale of the purchase-rate gamma (time units).
        alpha: "alpha",
        /// a: first shape of the dropout-probability beta.
        a: "a",
        /// b: second shape of the dropout-probability beta.
        b: "b",
    }
}

impl BgNbd {
    /// Maximum-likelihood fit from the default start (all parameters 1).
    ///
    /// # Errors
    /// [`ValueError::EmptyInput`] for no data, invalid [`FitOptions`], and
    /// [`ValueError::NotConverged`] if the optimiser fails (unless
    /// `options.require_convergence` is false).
    ///
    /// ```
    /// use clientele_value::{BgNbd, FitOptions, Observation};
    /// // The CDNOW calibration summary (ID, frequency, recency, T in weeks).
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/cdnow_sample_summary.csv");
    /// let csv = std::fs::read_to_string(path).expect("data file");
    /// let data: Vec<Observation> = csv
    ///     .lines()
    ///     .skip(1)
    ///     .map(|line| {
    ///         let f: Vec<&str> = line.split(',').collect();
    ///         Observation::new(f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap())
    ///     })
    ///     .collect::<Result<_, _>>()?;
    /// let fit = BgNbd::fit(&data, &FitOptions::default())?;
    /// assert!(fit.converged);
    /// assert!((fit.params.r() - 0.243).abs() < 5e-4 && (fit.params.b() - 2.426).abs() < 5e-4);
    /// assert!((fit.log_likelihood - -9582.4).abs() < 0.05);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    pub fn fit(data: &[Observation], options: &FitOptions) -> Result<Fit<Self>> {
        Self::fit_from(data, &Self::ONES, options)
    }

    /// Maximum-likelihood fit from a given start.
    ///
    /// # Errors
    /// As [`BgNbd::fit`].
    pub fn fit_from(data: &[Observation], start: &Self, options: &FitOptions) -> Result<Fit<Self>> {
        let compressed = Compressed::new(data);
        fit_ml(
            "BG/NBD fit data",
            data.len(),
            start.to_array(),
            options,
            |th, g| ll_grad(th, &compressed, Some(g)),
            |th| ll_grad(th, &compressed, None),
            Self::from_array,
        )
    }

    /// Log of the odds (1 − P(alive))/P(alive) = a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) for x > 0.
    fn log_dead_odds(&self, obs: &Observation) -> Option<f64> {
        let x = obs.frequency();
        if x == 0 {
            return None;
        }
        let x = f64::from(x);
        Some(
            self.a.ln() - (self.b + x - 1.0).ln()
                + (self.r + x) * ((self.alpha + obs.t()).ln() - (self.alpha + obs.recency()).ln()),
        )
    }
}

impl TransactionModel for BgNbd {
    fn log_likelihood(&self, obs: &Observation) -> Result<f64> {
        Ok(ll_grad(&self.to_array(), &Compressed::single(obs), None))
    }

    fn p_alive(&self, obs: &Observation) -> Result<f64> {
        Ok(match self.log_dead_odds(obs) {
            None => 1.0,
            Some(l) => inv_one_plus_exp(l),
        })
    }

    fn expected_purchases(&self, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        beta_geo_bracket(self.r, self.alpha, self.a, self.b, 0.0, 0.0, t)
    }

    fn conditional_expected_purchases(&self, obs: &Observation, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        let x = f64::from(obs.frequency());
        let bracket = beta_geo_bracket(self.r, self.alpha, self.a, self.b, x, obs.t(), t)?;
        Ok(bracket * self.p_alive(obs)?)
    }
}

/// Total log-likelihood of the compressed data at θ = (r, α, a, b); with `grad`, also its
/// gradient with respect to θ.
///
/// ln L = A₁ + A₂ + ln(e^{A₃} + δ_{x>0} e^{A₄}) with
/// A₁ = ln Γ(r+x) − ln Γ(r) + r ln α, A₂ = ln Γ(a+b) + ln Γ(b+x) − ln Γ(b) − ln Γ(a+b+x),
/// A₃ = −(r+x) ln(α+T), A₄ = ln a − ln(b+x−1) − (r+x) ln(α+t_x).
pub(crate) fn ll_grad(th: &[f64; 4], data: &Compressed, grad: Option<&mut [f64; 4]>) -> f64 {
    let [r, alpha, a, b] = *th;
    let want_grad = grad.is_some();
    let ln_alpha = alpha.ln();
    let ln_a = a.ln();
    let (lg_r, lg_ab, lg_b) = (ln_gamma(r), ln_gamma(a + b), ln_gamma(b));
    let (psi_r, psi_ab, psi_b) = if want_grad {
        (digamma(r), digamma(a + b), digamma(b))
    } else {
        (0.0, 0.0, 0.0)
    };
    let mut ll = 0.0;
    let mut g = [0.0; 4];
    for grp in &data.groups {
        let x = f64::from(grp.x);
        let rx = r + x;
        // Group constants.
        let (a1, a2) = if grp.x == 0 {
            (r * ln_alpha, 0.0)
        } else {
            (
                ln_gamma(rx) - lg_r + r * ln_alpha,
                lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x),
            )
        };
        ll += grp.w * (a1 + a2);
        if want_grad {
            if grp.x == 0 {
                g[0] += grp.w * ln_alpha;
            } else {
                let psi_abx = digamma(a + b + x);
                g[0] += grp.w * (digamma(rx) - psi_r + ln_alpha);
                g[2] += grp.w * (psi_ab - psi_abx);
                g[3] += grp.w * (psi_ab + digamma(b + x) - psi_b - psi_abx);
            }
            g[1] += grp.w * r / alpha;
        }
        if grp.x == 0 {
            // t_x = 0 and no second term: ln L = A₁ − r ln(α+T).
            for row in &grp.rows {
                let l = (alpha + row.t).ln();
                ll -= row.w * rx * l;
                if want_grad {
                    g[0] -= row.w * l;
                    g[1] -= row.w * rx / (alpha + row.t);
                }
            }
            continue;
        }
        let (lse, d) = beta_geo_rows(&grp.rows, alpha, a, ln_a, rx, b + x - 1.0, want_grad);
        ll += lse;
        if want_grad {
            for (gi, di) in g.iter_mut().zip(d) {
                *gi += di;
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

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let data = [
            Observation::new(0, 0.0, 30.0).unwrap(),
            Observation::new(1, 2.0, 31.0).unwrap(),
            Observation::new(4, 20.5, 35.0).unwrap(),
            Observation::new(12, 33.0, 33.0).unwrap(),
        ];
        let c = Compressed::new(&data);
        assert_gradient_matches_finite_differences([0.4, 3.0, 0.7, 2.1], 1e-6, 1e-6, |th, g| {
            ll_grad(th, &c, g)
        });
    }

    #[test]
    fn likelihood_sums_to_one_over_outcomes_x0() {
        // For T fixed and t_x = 0 the x = 0 likelihood is P(X(T) = 0) = (α/(α+T))^r.
        let m = BgNbd::new(0.5, 2.0, 0.8, 2.5).unwrap();
        let ll = m
            .log_likelihood(&Observation::new(0, 0.0, 3.0).unwrap())
            .unwrap();
        assert!((ll - 0.5 * (2.0f64 / 5.0).ln()).abs() < 1e-14);
    }
}
