//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an
//! alternative to the Pareto/NBD model", *Marketing Science* 24(2):275–284).
//!
//! While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after
//! each purchase she becomes inactive with probability p ~ Beta(a, b).

use super::data::{Compressed, Group};
use super::special::{digamma, ln_gamma};
use super::{
    beta_geo_bracket, finish, fit_driver, horizon, inv_one_plus_exp, log_add_exp, positive_params,
    Fit, FitOptions, Observation, TransactionModel,
};
use crate::error::{Result, ValueError};

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
        Self::fit_from(
            data,
            &Self {
                r: 1.0,
                alpha: 1.0,
                a: 1.0,
                b: 1.0,
            },
            options,
        )
    }

    /// Maximum-likelihood fit from a given start.
    ///
    /// # Errors
    /// As [`BgNbd::fit`].
    pub fn fit_from(data: &[Observation], start: &Self, options: &FitOptions) -> Result<Fit<Self>> {
        if data.is_empty() {
            return Err(ValueError::EmptyInput {
                what: "BG/NBD fit data",
            });
        }
        let compressed = Compressed::new(data);
        let out = fit_driver(
            start.to_array(),
            compressed.total_weight,
            options,
            |th, g| ll_grad(th, &compressed, Some(g)),
        )?;
        let th = out.x.map(f64::exp);
        let params = Self::new(th[0], th[1], th[2], th[3]);
        let params = params.map_err(|_| ValueError::NotConverged {
            iterations: out.iterations,
            log_likelihood: f64::NAN,
            gradient_norm: out.gradient_norm,
        })?;
        let ll = ll_grad(&th, &compressed, None);
        finish(&out, options, data.len(), ll, params)
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
        let group = Group {
            x: obs.frequency(),
            w: 1.0,
            rows: vec![super::data::Row {
                tx: obs.recency(),
                t: obs.t(),
                w: 1.0,
            }],
        };
        let data = Compressed {
            groups: vec![group],
            total_weight: 1.0,
        };
        Ok(ll_grad(&self.to_array(), &data, None))
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
        let c4 = ln_a - (b + x - 1.0).ln();
        let (mut s_lse, mut s_dr, mut s_dal, mut s_w4) = (0.0, 0.0, 0.0, 0.0);
        for row in &grp.rows {
            let l_t = (alpha + row.t).ln();
            let l_tx = (alpha + row.tx).ln();
            let a3 = -rx * l_t;
            let a4 = c4 - rx * l_tx;
            let (lse, w3, w4) = log_add_exp(a3, a4);
            s_lse += row.w * lse;
            if want_grad {
                s_dr += row.w * (w3 * l_t + w4 * l_tx);
                s_dal += row.w * (w3 / (alpha + row.t) + w4 / (alpha + row.tx));
                s_w4 += row.w * w4;
            }
        }
        ll += s_lse;
        if want_grad {
            g[0] -= s_dr;
            g[1] -= rx * s_dal;
            g[2] += s_w4 / a;
            g[3] -= s_w4 / (b + x - 1.0);
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

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let data = [
            Observation::new(0, 0.0, 30.0).unwrap(),
            Observation::new(1, 2.0, 31.0).unwrap(),
            Observation::new(4, 20.5, 35.0).unwrap(),
            Observation::new(12, 33.0, 33.0).unwrap(),
        ];
        let c = Compressed::new(&data);
        let th = [0.4, 3.0, 0.7, 2.1];
        let mut g = [0.0; 4];
        ll_grad(&th, &c, Some(&mut g));
        for i in 0..4 {
            let h = 1e-6 * th[i];
            let (mut p, mut m) = (th, th);
            p[i] += h;
            m[i] -= h;
            let num = (ll_grad(&p, &c, None) - ll_grad(&m, &c, None)) / (2.0 * h);
            assert!(
                (num - g[i]).abs() < 1e-6 * (1.0 + num.abs()),
                "{i}: {num} vs {}",
                g[i]
            );
        }
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
