//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, "Counting your customers:
//! who are they and what will they do next?", *Management Science* 33(1):1–24), with the
//! likelihood in the form of Fader & Hardie (2005), "A note on deriving the Pareto/NBD
//! model and related expressions".
//!
//! While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); her
//! lifetime is exponential with rate μ ~ Gamma(s, β).
//!
//! # The likelihood
//!
//! L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A₀ ], where for α ≥ β
//!
//! A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x) − (same at T)
//!
//! and for α < β the roles swap: ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+t_x)) / (β+t_x)^(r+s+x)
//! − (same at T). A₀/(r+s+x) = ∫ from t_x to T of (α+τ)^−(r+x) (β+τ)^−(s+1) dτ.
//!
//! Each ₂F₁ is evaluated after Euler's transformation, which turns it into a series of
//! positive terms with ratio below z (no cancellation, a rigorous tail bound):
//!
//! * α ≥ β: (α+y)^−(r+s+x) ₂F₁(…) = (α+y)^−(r+x) (β+y)^−s · ₂F₁(1, r+x; r+s+x+1; z);
//! * α < β: (β+y)^−(r+s+x) ₂F₁(…) = (α+y)^−(r+x) (β+y)^−s · (α+y)/(β+y) · ₂F₁(1, s+1; r+s+x+1; z).
//!
//! Writing H_y for the last factor, ln L = ln C + ln[(α+T)^−(r+x)(β+T)^−s (1 − k H_T) +
//! (α+t_x)^−(r+x)(β+t_x)^−s k H_{t_x}] with k = s/(r+s+x), evaluated in log space. The same
//! series, differentiated term by term, gives the analytic gradient used by the fit.
//!
//! The series converge geometrically with ratio z = |α−β|/(max(α,β)+y) < 1, in about
//! 40/(1 − z) terms; when z is within ~10⁻⁵ of 1 (β ≪ α or α ≪ β, with t_x ≈ 0) they need
//! more than the 5·10⁶-term budget and evaluation reports
//! [`ValueError::SeriesDivergence`]. While fitting, the budget is 10⁵ terms and parameter
//! values beyond it count as infeasible.

use super::data::Compressed;
use super::special::{digamma, expm1_over, ln_gamma, NeumaierSum, MAX_TERMS};
use super::{fit_ml, horizon, positive_params, Fit, FitOptions, Observation, TransactionModel};
use crate::error::{Result, ValueError};

positive_params! {
    /// Pareto/NBD parameters: purchase-rate heterogeneity Gamma(r, α) and dropout-rate
    /// heterogeneity Gamma(s, β), with α and β in the time unit of the data.
    ///
    /// ```
    /// use clientele_value::{Observation, ParetoNbd, TransactionModel};
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let c = Observation::new(2, 30.43, 38.86)?;
    /// let p = m.p_alive(&c)?;
    /// let e = m.conditional_expected_purchases(&c, 39.0)?;
    /// assert!(p > 0.0 && p < 1.0 && e > 0.0);
    /// # Ok::<(), clientele_value::ValueError>(())
    /// ```
    ParetoNbd, ParetoNbdRepr = "ParetoNbdRepr", 4 {
        /// r: shape of the purchase-rate gamma.
        r: "r",
        /// α: scale of the purchase-rate gamma (time units).
        alpha: "alpha",
        /// s: shape of the dropout-rate gamma.
        s: "s",
        /// β: scale of the dropout-rate gamma (time units).
        beta: "beta",
    }
}

impl ParetoNbd {
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
    /// As [`ParetoNbd::fit`].
    pub fn fit_from(data: &[Observation], start: &Self, options: &FitOptions) -> Result<Fit<Self>> {
        let compressed = Compressed::new(data);
        let mut last_s = start.s;
        let mut best = f64::NEG_INFINITY;
        let mut rising = None;
        let fit = fit_ml(
            "Pareto/NBD fit data",
            data.len(),
            start.to_array(),
            options,
            |th, g| {
                if rising.is_some() {
                    // Already out past the limit and still climbing: stop the
                    // search (every evaluation out there is long).
                    return f64::NAN;
                }
                last_s = th[2];
                let ll = ll_grad(th, &compressed, Some(g), FIT_TERMS).unwrap_or(f64::NAN);
                if ll.is_finite() {
                    if th[2] > DROPOUT_SHAPE_LIMIT && ll > best {
                        rising = Some(th[2]);
                        return f64::NAN;
                    }
                    best = best.max(ll);
                }
                ll
            },
            |th| ll_grad(th, &compressed, None, MAX_TERMS).unwrap_or(f64::NAN),
            Self::from_array,
        );
        // Ended (converged or not) out where the dropout rates are one rate
        // for everyone: the maximum is at the boundary, not at these values.
        let s = match (&fit, rising) {
            (_, Some(s)) => s,
            (Ok(f), None) => f.params.s,
            (Err(ValueError::NotConverged { .. }), None) => last_s,
            (Err(_), None) => 0.0,
        };
        if s > DROPOUT_SHAPE_LIMIT {
            return Err(ValueError::NoFiniteMaximum {
                model: "Pareto/NBD",
                reason: format!(
                    "the likelihood rises towards s, beta -> infinity, one dropout rate for \
                     everyone (the fit ended at s = {s:.3e}); BG/NBD or MBG/NBD describe such data"
                ),
            });
        }
        fit
    }

    /// (E, D) with P(alive) = E/D and ln L = ln C + ln P_{t_x} + ln D; E = P_T/P_{t_x}.
    fn odds_parts(&self, obs: &Observation) -> Result<(f64, f64)> {
        let x = f64::from(obs.frequency());
        let th = self.to_array();
        let [r, al, s, be] = th;
        let k = s / (r + s + x);
        let h_t = h_term(&th, x, obs.t(), false, MAX_TERMS)?;
        let h_tx = h_term(&th, x, obs.recency(), false, MAX_TERMS)?;
        let l_t = -(r + x) * (al + obs.t()).ln() - s * (be + obs.t()).ln();
        let l_tx = -(r + x) * (al + obs.recency()).ln() - s * (be + obs.recency()).ln();
        let e = (l_t - l_tx).exp();
        Ok((e, e * (1.0 - k * h_t.h) + k * h_tx.h))
    }
}

impl TransactionModel for ParetoNbd {
    fn log_likelihood(&self, obs: &Observation) -> Result<f64> {
        ll_grad(&self.to_array(), &Compressed::single(obs), None, MAX_TERMS)
    }

    fn p_alive(&self, obs: &Observation) -> Result<f64> {
        let (e, d) = self.odds_parts(obs)?;
        Ok((e / d).clamp(0.0, 1.0))
    }

    /// E\[X(t)\] = rβ/(α(s−1)) · [1 − (β/(β+t))^(s−1)] (limit rβ/α · ln(1 + t/β) at s = 1).
    fn expected_purchases(&self, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        let l = -(t / self.beta).ln_1p();
        Ok(self.r * self.beta / self.alpha * -expm1_over(self.s - 1.0, l))
    }

    /// E\[Y(t) | x, t_x, T\] = (r+x)(β+T)/((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive).
    fn conditional_expected_purchases(&self, obs: &Observation, t: f64) -> Result<f64> {
        let t = horizon(t)?;
        let x = f64::from(obs.frequency());
        let bt = self.beta + obs.t();
        let l = -(t / bt).ln_1p();
        let rate = (self.r + x) * bt / (self.alpha + obs.t());
        Ok(rate * -expm1_over(self.s - 1.0, l) * self.p_alive(obs)?)
    }
}

/// The largest dropout shape s a fit may end at. The dropout rate μ ~ Gamma(s, β) has
/// coefficient of variation 1/√s: at s = 100, 10 %, one rate for everyone in all but name.
/// Data like that pull s and β towards infinity together (no finite maximum): the 3,000-
/// customer demo "converged" at s ≈ 2·10⁷, β ≈ 4·10⁹. A fit that ends beyond this, or
/// whose search finds the likelihood still rising past it (then it stops at once: out
/// there every evaluation needs up to [`FIT_TERMS`] series terms a row), is reported as
/// [`ValueError::NoFiniteMaximum`] rather than as estimates.
const DROPOUT_SHAPE_LIMIT: f64 = 100.0;

/// Series budget while fitting: parameter regions needing more terms (series ratio
/// z > ~0.9997, i.e. α/β or β/α beyond ~3·10³ at t_x = 0) are treated as infeasible
/// (+∞ objective), which keeps every objective evaluation fast.
const FIT_TERMS: u64 = 100_000;

/// H_y and its partial derivatives with respect to (r, α, s, β).
#[derive(Debug, Clone, Copy, Default)]
struct HVal {
    h: f64,
    d: [f64; 4],
}

/// Sums F = ₂F₁(1, b; c; z) = Σ q_n zⁿ (q₀ = 1, q_{n+1} = q_n (b+n)/(c+n)) for 0 ≤ z < 1,
/// with F′(z), Σ q_n zⁿ Σ_{j<n} 1/(b+j) and Σ q_n zⁿ Σ_{j<n} 1/(c+j) (the derivatives of F
/// with respect to b and −c). Since b < c, the term ratio is below z and the tails are
/// bounded geometrically.
fn series_1bc(
    b: f64,
    c: f64,
    z: f64,
    want_grad: bool,
    budget: u64,
) -> Result<(f64, f64, f64, f64)> {
    let mut f_acc = NeumaierSum::new(1.0);
    let mut fp = 0.0;
    let (mut sb, mut sc) = (0.0, 0.0);
    let mut q = b / c; // q_n z^(n−1), n = 1
    let (mut acc_b, mut acc_c) = (1.0 / b, 1.0 / c);
    let geo = z / (1.0 - z);
    let mut n = 1u64;
    while n < budget {
        let nf = n as f64;
        let term = q * z;
        f_acc.add(term);
        let f = f_acc.value();
        if want_grad {
            fp += nf * q;
            sb += term * acc_b;
            sc += term * acc_c;
        }
        let tail_f = term * geo;
        let done_f = tail_f <= 1e-17 * f;
        let done_g = !want_grad || q * (nf * geo + geo / (1.0 - z)) <= 1e-16 * fp;
        if done_f && done_g {
            return Ok((f, fp, sb, sc));
        }
        q *= z * (b + nf) / (c + nf);
        if want_grad {
            acc_b += 1.0 / (b + nf);
            acc_c += 1.0 / (c + nf);
        }
        n += 1;
    }
    Err(ValueError::SeriesDivergence {
        function: "Pareto/NBD likelihood series",
        terms: n,
    })
}

/// F = ₂F₁(1, b; c; z) (0 < b < c, 0 ≤ z < 1) and its partial derivatives, as
/// `[F, ∂F/∂b, ∂F/∂c, ∂F/∂z]`.
///
/// For z ≤ 0.9 the Gauss series (fast). Beyond, the series needs ~40/(1 − z) terms, so
/// Gauss's continued fraction is used instead,
///
/// ₂F₁(b, 1; c; z) = 1/(1 − k₁z/(1 − k₂z/(1 − …))),
/// k_{2n+1} = (b+n)(c−1+n)/((c−1+2n)(c+2n)), k_{2n} = n(c−1−b+n)/((c−2+2n)(c−1+2n)),
///
/// whose coefficients are all positive here and which needs only O((1 − z)^−½) terms
/// (about 260 at 1 − z = 10⁻⁴). It is evaluated by the modified Lentz algorithm in
/// forward-mode dual numbers, which gives the three partial derivatives exactly.
fn f1bc(b: f64, c: f64, z: f64, want_grad: bool, budget: u64) -> Result<[f64; 4]> {
    if z <= 0.9 {
        let (f, fp, sb, sc) = series_1bc(b, c, z, want_grad, budget)?;
        return Ok([f, sb, -sc, fp]);
    }
    let b = Dual3::var(b, 0);
    let cm1 = Dual3::var(c, 1) - 1.0;
    let z = Dual3::var(z, 2);
    let tiny = 1e-300;
    let mut f = Dual3::constant(1.0);
    let mut cc = f;
    let mut dd = Dual3::constant(0.0);
    let mut n = 1u64;
    while n < budget {
        let m = (n / 2) as f64;
        let k = if n % 2 == 1 {
            (b + m) * (cm1 + m) / ((cm1 + 2.0 * m) * (cm1 + (2.0 * m + 1.0)))
        } else {
            (cm1 - b + m) * m / ((cm1 + (2.0 * m - 1.0)) * (cm1 + 2.0 * m))
        };
        let an = -(k * z);
        dd = an * dd + 1.0;
        if dd.v == 0.0 {
            dd.v = tiny;
        }
        dd = dd.recip();
        cc = an / cc + 1.0;
        if cc.v == 0.0 {
            cc.v = tiny;
        }
        let delta = cc * dd;
        let next = f * delta;
        let settled = (delta.v - 1.0).abs() <= 1e-16
            && (!want_grad
                || (0..3).all(|i| (next.d[i] - f.d[i]).abs() <= 1e-15 * next.d[i].abs()));
        f = next;
        if settled {
            let g = f.recip();
            if !g.v.is_finite() || g.d.iter().any(|v| !v.is_finite()) {
                break;
            }
            return Ok([g.v, g.d[0], g.d[1], g.d[2]]);
        }
        n += 1;
    }
    Err(ValueError::SeriesDivergence {
        function: "Pareto/NBD likelihood (continued fraction)",
        terms: n,
    })
}

/// A value with its partial derivatives with respect to three variables.
#[derive(Debug, Clone, Copy)]
struct Dual3 {
    v: f64,
    d: [f64; 3],
}

impl Dual3 {
    fn constant(v: f64) -> Self {
        Self { v, d: [0.0; 3] }
    }
    fn var(v: f64, i: usize) -> Self {
        let mut d = [0.0; 3];
        d[i] = 1.0;
        Self { v, d }
    }
    fn recip(self) -> Self {
        let inv = 1.0 / self.v;
        let s = -inv * inv;
        Self {
            v: inv,
            d: self.d.map(|x| x * s),
        }
    }
}

impl std::ops::Add for Dual3 {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            v: self.v + o.v,
            d: [self.d[0] + o.d[0], self.d[1] + o.d[1], self.d[2] + o.d[2]],
        }
    }
}

impl std::ops::Add<f64> for Dual3 {
    type Output = Self;
    fn add(self, o: f64) -> Self {
        Self {
            v: self.v + o,
            d: self.d,
        }
    }
}

impl std::ops::Sub<f64> for Dual3 {
    type Output = Self;
    fn sub(self, o: f64) -> Self {
        Self {
            v: self.v - o,
            d: self.d,
        }
    }
}

impl std::ops::Sub for Dual3 {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            v: self.v - o.v,
            d: [self.d[0] - o.d[0], self.d[1] - o.d[1], self.d[2] - o.d[2]],
        }
    }
}

impl std::ops::Neg for Dual3 {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            v: -self.v,
            d: self.d.map(|x| -x),
        }
    }
}

impl std::ops::Mul for Dual3 {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self {
            v: self.v * o.v,
            d: [
                self.d[0] * o.v + self.v * o.d[0],
                self.d[1] * o.v + self.v * o.d[1],
                self.d[2] * o.v + self.v * o.d[2],
            ],
        }
    }
}

impl std::ops::Mul<f64> for Dual3 {
    type Output = Self;
    fn mul(self, o: f64) -> Self {
        Self {
            v: self.v * o,
            d: self.d.map(|x| x * o),
        }
    }
}

impl std::ops::Div for Dual3 {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.v;
        let v = self.v * inv;
        Self {
            v,
            d: [
                (self.d[0] - v * o.d[0]) * inv,
                (self.d[1] - v * o.d[1]) * inv,
                (self.d[2] - v * o.d[2]) * inv,
            ],
        }
    }
}

/// H_y: the factor multiplying (α+y)^−(r+x) (β+y)^−s in the A₀ term (see module docs).
fn h_term(th: &[f64; 4], x: f64, y: f64, want_grad: bool, budget: u64) -> Result<HVal> {
    let [r, al, s, be] = *th;
    let c = r + s + x + 1.0;
    if al >= be {
        let ay = al + y;
        let z = (al - be) / ay;
        let [f, fb, fc, fz] = f1bc(r + x, c, z, want_grad, budget)?;
        Ok(HVal {
            h: f,
            d: [fb + fc, fz * (be + y) / (ay * ay), fc, -fz / ay],
        })
    } else {
        let by = be + y;
        let ay = al + y;
        let z = (be - al) / by;
        let rho = ay / by; // = 1 − z
        let [g, gb, gc, gz] = f1bc(s + 1.0, c, z, want_grad, budget)?;
        Ok(HVal {
            h: rho * g,
            d: [
                rho * gc,
                (g - rho * gz) / by,
                rho * (gb + gc),
                -rho * g / by + rho * gz * ay / (by * by),
            ],
        })
    }
}

/// Total log-likelihood at θ = (r, α, s, β), optionally with its gradient.
pub(crate) fn ll_grad(
    th: &[f64; 4],
    data: &Compressed,
    grad: Option<&mut [f64; 4]>,
    budget: u64,
) -> Result<f64> {
    let [r, al, s, be] = *th;
    let want_grad = grad.is_some();
    let (ln_al, ln_be) = (al.ln(), be.ln());
    let lg_r = ln_gamma(r);
    let psi_r = if want_grad { digamma(r) } else { 0.0 };
    let mut ll = 0.0;
    let mut g = [0.0; 4];
    for grp in &data.groups {
        let x = f64::from(grp.x);
        let rx = r + x;
        let rsx = r + s + x;
        let k = s / rsx;
        let dk = [-k / rsx, 0.0, rx / (rsx * rsx), 0.0];
        let ln_c = if grp.x == 0 { 0.0 } else { ln_gamma(rx) - lg_r } + r * ln_al + s * ln_be;
        ll += grp.w * ln_c;
        if want_grad {
            let d_r = if grp.x == 0 { 0.0 } else { digamma(rx) - psi_r };
            g[0] += grp.w * (d_r + ln_al);
            g[1] += grp.w * r / al;
            g[2] += grp.w * ln_be;
            g[3] += grp.w * s / be;
        }
        let mut cached_tx: Option<(f64, HVal)> = None;
        for row in &grp.rows {
            let h_tx = match cached_tx {
                Some((tx, h)) if tx == row.tx => h,
                _ => {
                    let h = h_term(th, x, row.tx, want_grad, budget)?;
                    cached_tx = Some((row.tx, h));
                    h
                }
            };
            let h_t = if row.t == row.tx {
                h_tx
            } else {
                h_term(th, x, row.t, want_grad, budget)?
            };
            let (lat, lbt) = ((al + row.t).ln(), (be + row.t).ln());
            let (latx, lbtx) = ((al + row.tx).ln(), (be + row.tx).ln());
            let l_t = -rx * lat - s * lbt;
            let l_tx = -rx * latx - s * lbtx;
            let e = (l_t - l_tx).exp();
            let one_m = 1.0 - k * h_t.h;
            let d = e * one_m + k * h_tx.h;
            ll += row.w * (l_tx + d.ln());
            if want_grad {
                let dl_t = [-lat, -rx / (al + row.t), -lbt, -s / (be + row.t)];
                let dl_tx = [-latx, -rx / (al + row.tx), -lbtx, -s / (be + row.tx)];
                for i in 0..4 {
                    let dd = e * ((dl_t[i] - dl_tx[i]) * one_m - dk[i] * h_t.h - k * h_t.d[i])
                        + dk[i] * h_tx.h
                        + k * h_tx.d[i];
                    g[i] += row.w * (dl_tx[i] + dd / d);
                }
            }
        }
    }
    if let Some(out) = grad {
        *out = g;
    }
    Ok(ll)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assert_gradient_matches_finite_differences;

    fn data() -> Vec<Observation> {
        vec![
            Observation::new(0, 0.0, 30.0).unwrap(),
            Observation::new(1, 2.0, 31.0).unwrap(),
            Observation::new(4, 20.5, 35.0).unwrap(),
            Observation::new(12, 33.0, 33.0).unwrap(),
        ]
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let c = Compressed::new(&data());
        for th in [
            [0.4, 3.0, 0.7, 2.1],
            [0.6, 10.0, 0.6, 11.7],
            [2.0, 1.0, 1.5, 40.0],
        ] {
            assert_gradient_matches_finite_differences(th, 1e-6, 1e-6, |th, g| {
                ll_grad(th, &c, g, MAX_TERMS).unwrap()
            });
        }
    }

    #[test]
    fn continued_fraction_matches_series() {
        // F and its derivatives from the continued fraction (z > 0.9) against the direct
        // series (exact, only slow, here); values checked against mpmath to 1e-12.
        for &(b, c, z, want) in &[
            (
                5314.0,
                5315.159,
                1.0 - 0.5 / 5314.0,
                4_443.035_644_052_617_6,
            ),
            (5314.0, 5315.159, 1.0 - 2.0 / 5314.0, 1_834.694_169_625_482),
            (5314.0, 5317.7, 1.0 - 5.0 / 5314.0, 638.673_020_208_679),
            (1.5, 3.2, 0.95, f64::NAN),
            (1.4, 3.4005, 0.97, f64::NAN),
            (1.2, 1.7, 0.993, f64::NAN),
            (2.0, 4.0, 0.9999, f64::NAN),
            (500.0, 510.0, 0.91, f64::NAN),
        ] {
            let fast = f1bc(b, c, z, true, MAX_TERMS).unwrap();
            let (f, fp, sb, sc) = series_1bc(b, c, z, true, MAX_TERMS).unwrap();
            let slow = [f, sb, -sc, fp];
            for k in 0..4 {
                assert!(
                    (fast[k] - slow[k]).abs() <= 1e-10 * slow[k].abs(),
                    "b={b} c={c} z={z} k={k}: {} vs {}",
                    fast[k],
                    slow[k]
                );
            }
            if want.is_finite() {
                assert!(
                    (fast[0] - want).abs() <= 1e-12 * want,
                    "{} vs {want}",
                    fast[0]
                );
            }
        }
    }

    #[test]
    fn gradient_near_one_matches_finite_differences() {
        // β ≫ α: the series ratio is within 4·10⁻⁴ of 1 at t_x = 0.
        let c = Compressed::new(&data());
        for th in [
            [0.42, 10.7, 507.0, 27330.0],
            [1.0, 10.0, 2.0, 30000.0],
            [0.5, 20000.0, 0.7, 3.0],
        ] {
            assert_gradient_matches_finite_differences(th, 1e-6, 1e-6, |th, g| {
                ll_grad(th, &c, g, MAX_TERMS).unwrap()
            });
        }
    }

    /// Likelihood against direct numerical integration of
    /// L = C[(α+T)^−(r+x)(β+T)^−s + s ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ].
    #[test]
    fn likelihood_matches_quadrature() {
        for th in [
            [0.4, 3.0, 0.7, 2.1],
            [0.6, 10.0, 0.6, 11.7],
            [2.0, 1.0, 1.5, 40.0],
        ] {
            let m = ParetoNbd::new(th[0], th[1], th[2], th[3]).unwrap();
            for o in data() {
                let (r, al, s, be) = (th[0], th[1], th[2], th[3]);
                let x = f64::from(o.frequency());
                let f = |tau: f64| (al + tau).powf(-(r + x)) * (be + tau).powf(-(s + 1.0));
                // composite Simpson, fine grid
                let n = 20_000;
                let (a, b) = (o.recency(), o.t());
                let h = (b - a) / n as f64;
                let mut integral = f(a) + f(b);
                for i in 1..n {
                    let w = if i % 2 == 1 { 4.0 } else { 2.0 };
                    integral += w * f(a + i as f64 * h);
                }
                integral *= h / 3.0;
                let c = ln_gamma(r + x) - ln_gamma(r) + r * al.ln() + s * be.ln();
                let want = c + ((al + b).powf(-(r + x)) * (be + b).powf(-s) + s * integral).ln();
                let got = m.log_likelihood(&o).unwrap();
                assert!((got - want).abs() < 1e-9, "{th:?} {o:?}: {got} vs {want}");
            }
        }
    }
}
