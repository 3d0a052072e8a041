//! The MBG/NBD model (Batislam, Denizel & Filiztekin 2007, "Empirical validation and
//! comparison of models for customer base analysis", *IJRM* 24(3):201–209; Hoppe & Wagner
//! 2007, "Customer base analysis: the case for a central variant of the Betageometric/NBD
//! model", *Marketing Journal of Research and Management* 3(2):75–90).
//!
//! As the BG/NBD, but a customer may also drop out right after the first purchase, so a
//! customer with no repeat purchase is not assumed alive.

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
    /// MBG/NBD parameters: purchase-rate heterogeneity Gamma(r, α) (α in the time unit of
    /// the data) and dropout-probability heterogeneity Beta(a, b).
    ///
    /// ```
    /// use clientele_value::{MbgNbd, Observation, TransactionModel};
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let never_returned = Observation::new(0, 0.0, 38.86)?;
    /// let p = m.p_alive(&never_returned)?;
    /// assert!(p > 0.0 && p < 1.0); // unlike the BG/NBD, where it is 1
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    MbgNbd, MbgNbdRepr = "MbgNbdRepr", 4 {
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

impl MbgNbd {
    /// Maximum-likelihood fit from the default start (all parameters 1).
    ///
    /// # Errors
    /// [`ValueError::EmptyInput`] for no data, invalid [`FitOptions`], and
    /// [`ValueError::NotConverged`] if the optimiser fails (unless
    /// `options.require_convergence` is false).
    pub fn fit(data: &[Observation], options: &FitOptions) -> Result<Fit<Self>> {
        Self::fit_from(data, &Self::ONES, options)
    }

    /// Maximum-likelihood fit from a given start.
    ///
    /// # Errors
    /// As [`MbgNbd::fit`].
    pub fn fit_from(data: &[Observation], start: &Self, options: &FitOptions) -> Result<Fit<Self>> {
        let compressed = Compressed::new(data);
        fit_ml(
            "MBG/NBD fit data",
            data.len(),
            start.to_array(),
            options,
            |th, g| ll_grad(th, &compressed, Some(g)),
            |th| ll_grad(th, &compressed, None),
            Self::from_array,
        )
    }

    /// ln[(1 − P(alive))/P(alive)] = ln a − ln(b+x) + (r+x)(ln(α+T) − ln(α+t_x)).
    fn log_dead_odds(&self, obs: &Observation) -> f64 {
        let x = f64::from(obs.frequency());
        self.a.ln() - (self.b + x).ln()
            + (self.r + x) * ((self.alpha + obs.t()).ln() - (self.alpha + obs.recency()).ln())
    }
}

impl TransactionModel for MbgNbd {
    fn log_likelihood(&self, obs: &Observation) -> Result<f64> {
        Ok(ll_grad(&self.to_array(), &Compressed::single(obs), None))
    }

    fn p_alive(&self, obs: &Observation) -> Result<f64> {
        Ok(inv_one_plus_exp(self.log_dead_odds(obs)))
    }

    /// E\[X(t)\] = b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))]: the BG/NBD form
    /// with b + 1, times b/(a+b), the probability of surviving the first purchase.
    fn expected_purchases(&self, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        let bracket = beta_geo_bracket(self.r, self.alpha, self.a, self.b + 1.0, 0.0, 0.0, t)?;
        Ok(self.b / (self.a + self.b) * bracket)
    }

    fn conditional_expected_purchases(&self, obs: &Observation, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        let x = f64::from(obs.frequency());
        let bracket = beta_geo_bracket(self.r, self.alpha, self.a, self.b + 1.0, x, obs.t(), t)?;
        Ok(bracket * self.p_alive(obs)?)
    }
}

/// Total log-likelihood at θ = (r, α, a, b), optionally with its gradient.
///
/// ln L = A₁ + A₂ + ln(e^{A₃} + e^{A₄}) with A₁ = ln Γ(r+x) − ln Γ(r) + r ln α,
/// A₂ = ln Γ(a+b) + ln Γ(b+x+1) − ln Γ(b) − ln Γ(a+b+x+1), A₃ = −(r+x) ln(α+T),
/// A₄ = ln a − ln(b+x) − (r+x) ln(α+t_x).
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
        let a1 = if grp.x == 0 {
            r * ln_alpha
        } else {
            ln_gamma(rx) - lg_r + r * ln_alpha
        };
        let a2 = lg_ab + ln_gamma(b + x + 1.0) - lg_b - ln_gamma(a + b + x + 1.0);
        ll += grp.w * (a1 + a2);
        if want_grad {
            let psi_abx = digamma(a + b + x + 1.0);
            let d_r1 = if grp.x == 0 { 0.0 } else { digamma(rx) - psi_r };
            g[0] += grp.w * (d_r1 + ln_alpha);
            g[1] += grp.w * r / alpha;
            g[2] += grp.w * (psi_ab - psi_abx);
            g[3] += grp.w * (psi_ab + digamma(b + x + 1.0) - psi_b - psi_abx);
        }
        let (lse, d) = beta_geo_rows(&grp.rows, alpha, a, ln_a, rx, b + x, want_grad);
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
    fn x0_likelihood_closed_form() {
        // x = 0: L = b/(a+b) (α/(α+T))^r + a/(a+b)
        let (r, al, a, b, t) = (0.5, 2.0, 0.8, 2.5, 3.0);
        let m = MbgNbd::new(r, al, a, b).unwrap();
        let want = (b / (a + b) * (al / (al + t)).powf(r) + a / (a + b)).ln();
        let got = m
            .log_likelihood(&Observation::new(0, 0.0, t).unwrap())
            .unwrap();
        assert!((got - want).abs() < 1e-14);
    }
}
