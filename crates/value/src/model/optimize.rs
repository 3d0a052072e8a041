//! BFGS with a strong-Wolfe line search (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., algorithms 6.1, 3.5 and 3.6), for small unconstrained problems.
//!
//! Deterministic: no randomness, no threads; the same objective and start give
//! bit-identical iterates. A non-finite objective value is treated as +∞ (the line search
//! backs off), so models may return NaN/∞ outside the region where they can be evaluated.

// Index loops read as the textbook linear algebra they implement.
#![allow(clippy::needless_range_loop)]

/// Result of a minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome<const N: usize> {
    pub x: [f64; N],
    pub gradient_norm: f64,
    pub iterations: u32,
    pub evaluations: u32,
    pub converged: bool,
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_LINE_SEARCH: u32 = 40;
/// Largest first trial step, in the max-norm (log-parameter units).
const MAX_STEP: f64 = 2.0;
/// Largest step the line search may extrapolate to, in the max-norm.
const MAX_EXTRAPOLATION: f64 = 8.0;
/// Below this gradient max-norm a line search that cannot decrease the objective any more
/// is accepted as convergence (the objective is flat to rounding).
const ROUNDING_GTOL: f64 = 1e-6;
/// Predicted decrease (relative to |f|) below which the objective counts as flat.
const FLAT_SLOPE: f64 = 16.0 * f64::EPSILON;

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

fn max_norm<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut h = [[0.0; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    h
}

struct Point<const N: usize> {
    x: [f64; N],
    f: f64,
    g: [f64; N],
}

struct Evaluator<F, const N: usize> {
    f: F,
    count: u32,
}

impl<F, const N: usize> Evaluator<F, N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    fn eval(&mut self, x: [f64; N]) -> Point<N> {
        let mut g = [0.0; N];
        let f = (self.f)(&x, &mut g);
        self.count += 1;
        let ok = f.is_finite() && g.iter().all(|v| v.is_finite());
        Point {
            x,
            f: if ok { f } else { f64::INFINITY },
            g,
        }
    }

    fn at(&mut self, base: &[f64; N], p: &[f64; N], alpha: f64) -> Point<N> {
        let mut x = *base;
        for i in 0..N {
            x[i] += alpha * p[i];
        }
        self.eval(x)
    }
}

/// Minimises `f` (which returns the value and writes the gradient) from `x0`.
pub(crate) fn bfgs<F, const N: usize>(
    f: F,
    x0: [f64; N],
    max_iterations: u32,
    gtol: f64,
) -> Outcome<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut ev = Evaluator { f, count: 0 };
    let mut cur = ev.eval(x0);
    let mut h = identity::<N>();
    let mut fresh = true; // h is the (unscaled) identity
    let mut iterations = 0u32;
    let mut converged = false;

    if !cur.f.is_finite() {
        return Outcome {
            x: cur.x,
            gradient_norm: f64::INFINITY,
            iterations,
            evaluations: ev.count,
            converged,
        };
    }

    while iterations < max_iterations {
        let gnorm = max_norm(&cur.g);
        if gnorm <= gtol {
            converged = true;
            break;
        }
        // Search direction p = −H g; fall back to steepest descent if not a descent
        // direction (H lost positive definiteness to rounding).
        let mut p = [0.0; N];
        for i in 0..N {
            p[i] = -dot(&h[i], &cur.g);
        }
        let mut slope = dot(&p, &cur.g);
        if slope.is_nan() || slope >= 0.0 {
            h = identity();
            fresh = true;
            for i in 0..N {
                p[i] = -cur.g[i];
            }
            slope = dot(&p, &cur.g);
        }
        // The largest decrease still available along p (≈ −slope/2 for a good H) is below
        // the rounding level of f: no further progress is representable.
        if gnorm <= ROUNDING_GTOL && -slope <= FLAT_SLOPE * cur.f.abs().max(1.0) {
            converged = true;
            break;
        }
        let pnorm = max_norm(&p);
        let alpha0 = if pnorm > MAX_STEP {
            MAX_STEP / pnorm
        } else {
            1.0
        };

        match line_search(&mut ev, &cur, &p, slope, alpha0) {
            Some(next) => {
                iterations += 1;
                let mut s = [0.0; N];
                let mut y = [0.0; N];
                for i in 0..N {
                    s[i] = next.x[i] - cur.x[i];
                    y[i] = next.g[i] - cur.g[i];
                }
                let sy = dot(&s, &y);
                if sy > 1e-300 {
                    if fresh {
                        // N&W (6.20): scale the initial inverse Hessian.
                        let scale = sy / dot(&y, &y);
                        for (i, row) in h.iter_mut().enumerate() {
                            row[i] = scale;
                        }
                        fresh = false;
                    }
                    update_inverse_hessian(&mut h, &s, &y, sy);
                }
                cur = next;
            }
            None => {
                if gnorm <= ROUNDING_GTOL {
                    converged = true;
                    break;
                }
                if fresh {
                    break;
                }
                // Restart from steepest descent once before giving up.
                h = identity();
                fresh = true;
            }
        }
    }
    if !converged && max_norm(&cur.g) <= gtol {
        converged = true;
    }
    Outcome {
        gradient_norm: max_norm(&cur.g),
        x: cur.x,
        iterations,
        evaluations: ev.count,
        converged,
    }
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, ρ = 1/(yᵀs).
fn update_inverse_hessian<const N: usize>(
    h: &mut [[f64; N]; N],
    s: &[f64; N],
    y: &[f64; N],
    sy: f64,
) {
    let rho = 1.0 / sy;
    let mut hy = [0.0; N];
    for i in 0..N {
        hy[i] = dot(&h[i], y);
    }
    let yhy = dot(y, &hy);
    let coef = (1.0 + rho * yhy) * rho;
    for i in 0..N {
        for j in 0..N {
            h[i][j] += coef * s[i] * s[j] - rho * (hy[i] * s[j] + s[i] * hy[j]);
        }
    }
    // keep exactly symmetric
    for i in 0..N {
        for j in 0..i {
            let v = 0.5 * (h[i][j] + h[j][i]);
            h[i][j] = v;
            h[j][i] = v;
        }
    }
}

/// Strong-Wolfe line search (N&W algorithm 3.5). Returns the accepted point, or `None`
/// if no point with sufficient decrease was found.
fn line_search<F, const N: usize>(
    ev: &mut Evaluator<F, N>,
    cur: &Point<N>,
    p: &[f64; N],
    slope0: f64,
    alpha0: f64,
) -> Option<Point<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let f0 = cur.f;
    let mut a_prev = 0.0;
    let mut f_prev = f0;
    let mut d_prev = slope0;
    let mut prev: Option<Point<N>> = None;
    let mut a = alpha0;
    // Extrapolation never moves further than MAX_EXTRAPOLATION in the max-norm.
    let a_max = (MAX_EXTRAPOLATION / max_norm(p)).max(alpha0);
    for i in 0..MAX_LINE_SEARCH {
        let pt = ev.at(&cur.x, p, a);
        let d = dot(&pt.g, p);
        if pt.f > f0 + C1 * a * slope0 || (i > 0 && pt.f >= f_prev) {
            return zoom(
                ev,
                cur,
                p,
                slope0,
                (a_prev, f_prev, d_prev, prev),
                (a, pt.f, d),
            );
        }
        if d.abs() <= -C2 * slope0 {
            return Some(pt);
        }
        if d >= 0.0 {
            return zoom(
                ev,
                cur,
                p,
                slope0,
                (a, pt.f, d, Some(pt)),
                (a_prev, f_prev, d_prev),
            );
        }
        a_prev = a;
        f_prev = pt.f;
        d_prev = d;
        prev = Some(pt);
        if a >= a_max {
            break;
        }
        a = (2.0 * a).min(a_max);
    }
    prev
}

type Bracket<const N: usize> = (f64, f64, f64, Option<Point<N>>);

/// N&W algorithm 3.6 with safeguarded cubic interpolation. `lo` satisfies sufficient
/// decrease (or is the start point, `None`), `hi` is the other end.
fn zoom<F, const N: usize>(
    ev: &mut Evaluator<F, N>,
    cur: &Point<N>,
    p: &[f64; N],
    slope0: f64,
    lo: Bracket<N>,
    hi: (f64, f64, f64),
) -> Option<Point<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let f0 = cur.f;
    let (mut a_lo, mut f_lo, mut d_lo, mut p_lo) = lo;
    let (mut a_hi, mut f_hi, mut d_hi) = hi;
    for _ in 0..MAX_LINE_SEARCH {
        let width = (a_hi - a_lo).abs();
        if width <= 1e-14 * a_lo.abs().max(a_hi.abs()) {
            break;
        }
        let a = interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi);
        let pt = ev.at(&cur.x, p, a);
        let d = dot(&pt.g, p);
        if pt.f > f0 + C1 * a * slope0 || pt.f >= f_lo {
            a_hi = a;
            f_hi = pt.f;
            d_hi = d;
        } else {
            if d.abs() <= -C2 * slope0 {
                return Some(pt);
            }
            if d * (a_hi - a_lo) >= 0.0 {
                a_hi = a_lo;
                f_hi = f_lo;
                d_hi = d_lo;
            }
            a_lo = a;
            f_lo = pt.f;
            d_lo = d;
            p_lo = Some(pt);
        }
    }
    // Interval collapsed: accept the best point with sufficient decrease, if any.
    p_lo.filter(|pt| pt.f < f0)
}

/// Minimiser of the cubic through (a, fa, da), (b, fb, db), kept within the middle 80% of
/// the interval; bisection if the cubic is unusable (e.g. an infinite end value).
fn interpolate(a: f64, fa: f64, da: f64, b: f64, fb: f64, db: f64) -> f64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let margin = 0.1 * (hi - lo);
    let mid = 0.5 * (a + b);
    if !(fa.is_finite() && fb.is_finite() && da.is_finite() && db.is_finite()) {
        return if fb.is_finite() {
            mid
        } else {
            a + 0.25 * (b - a)
        };
    }
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let disc = d1 * d1 - da * db;
    if disc < 0.0 {
        return mid;
    }
    let d2 = (b - a).signum() * disc.sqrt();
    let denom = db - da + 2.0 * d2;
    if denom == 0.0 {
        return mid;
    }
    let t = b - (b - a) * (db + d2 - d1) / denom;
    if !t.is_finite() {
        return mid;
    }
    t.clamp(lo + margin, hi - margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let f = |x: &[f64; 2], g: &mut [f64; 2]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let out = bfgs(f, [-1.2, 1.0], 500, 1e-10);
        assert!(out.converged, "{out:?}");
        assert!((out.x[0] - 1.0).abs() < 1e-8 && (out.x[1] - 1.0).abs() < 1e-8);
    }

    #[test]
    fn backs_off_from_non_finite_region() {
        // f = x − ln(x): minimum at x = 1; NaN for x ≤ 0.
        let f = |x: &[f64; 1], g: &mut [f64; 1]| {
            g[0] = 1.0 - 1.0 / x[0];
            x[0] - x[0].ln()
        };
        let out = bfgs(f, [0.01], 200, 1e-12);
        assert!(out.converged, "{out:?}");
        assert!((out.x[0] - 1.0).abs() < 1e-10);
    }
}
