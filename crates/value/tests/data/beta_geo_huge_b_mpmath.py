"""Writes bg_nbd_huge_b_mpmath.csv and mbg_nbd_huge_b_mpmath.csv: BG/NBD and MBG/NBD
E[Y(t) | x, t_x, T] with b in the thousands to tens of thousands and z = t/(alpha+T+t)
at or beyond 0.999, where the two terms of 2F1's 1 - z connection formula grow to
~e^(2 A'(1-z)) (up to 10^46 and more) while their sum stays O(1), and the direct series
needs ~10^5 terms.

With b' = b (BG/NBD) or b + 1 (MBG/NBD), A = r + x, A' = a + b' - 1 - r, m = a - 1,
C = a + b' + x - 1, y = 1 - z = (alpha+T)/(alpha+T+t):
  E = C/m * [1 - Q] * P(alive),   Q = y^m 2F1(A', m; C; z)   (Euler's transformation),
  P(alive) = 1/(1 + d * a/(b'+x-1) * ((alpha+T)/(alpha+t_x))^A),
d = [x > 0] for the BG/NBD and d = 1 for the MBG/NBD.

mpmath's hyp2f1 alone is not trusted here (with parameters in the thousands it returned
negative and infinite values at z = 0.9). Every value is computed twice:
  * Q by the connection formula (A&S 15.3.6) written out, with d = A - m,
      2F1(A', m; C; z) = G(C)G(d)/(G(A)G(C-m)) 2F1(A', m; 1-d; y)
                       + y^d G(C)G(-d)/(G(A')G(m)) 2F1(A, C-m; 1+d; y),
    at 40 digits plus the ~0.87 (A' + A) y digits the cancellation costs, repeated with
    40 more digits until two results agree to 1e-30;
  * for a < 1 by quadrature of an integral with a positive integrand (see
    by_quadrature), for a >= 1 by mpmath's hyp2f1 at the raised precision;
and the two must agree to 1e-25, or the row is drawn again (the count is printed).
Rows whose E is below 1e-300 (P(alive) underflows) are drawn again too.
Run from this directory: python3 beta_geo_huge_b_mpmath.py   (a few minutes)
"""

import random

from mpmath import exp, expm1, fabs, gamma, hyp2f1, log1p, loggamma, mp, mpf, nstr, quad, rgamma

XS = [0, 1, 2, 13, 120, 500]
ROWS = 100  # per model


def series_near_zero(a, b, c, y, tol):
    """2F1(a, b; c; y) for y <= 1e-3 (the connection formula's series): past the sign
    changes (k > -a, -b, -c) the term ratio falls towards y once it is below 1/2, so the
    sum stops when a term is below `tol` there."""
    total, term, k = mpf(1), mpf(1), 0
    k0 = 1 + max(0, -a, -b, -c)
    while True:
        ratio = (a + k) * (b + k) / ((c + k) * (k + 1)) * y
        term *= ratio
        total += term
        k += 1
        if k > k0 and fabs(ratio) < 0.5 and fabs(term) < tol * fabs(total):
            return total


def parts(model, r, al, a, b, x, tx, T, t):
    r, al, a, b, tx, T, t = map(mpf, (r, al, a, b, tx, T, t))
    bp = b if model == "bg" else b + 1
    big_a, m = r + x, a - 1
    c = a + bp + x - 1
    y = (al + T) / (al + T + t)
    dead = 0 if (model == "bg" and x == 0) else 1
    p_alive = 1 / (1 + dead * a / (bp + x - 1) * ((al + T) / (al + tx)) ** big_a)
    return big_a, c - big_a, m, c, y, p_alive


def by_connection(model, row, dps):
    with mp.workdps(dps):
        big_a, ap, m, c, y, p_alive = parts(model, *row)
        d = big_a - m
        tol = mpf(10) ** (5 - dps)
        f1 = series_near_zero(ap, m, 1 - d, y, tol)
        f2 = series_near_zero(big_a, c - m, 1 + d, y, tol)
        first = gamma(c) * gamma(d) * rgamma(big_a) * rgamma(c - m) * f1
        second = y**d * gamma(c) * gamma(-d) * rgamma(ap) * rgamma(m) * f2
        return +(c / m * (1 - y**m * (first + second)) * p_alive)


def cancellation_digits(model, row):
    r, al, a, b, x, tx, T, t = row
    bp = b if model == "bg" else b + 1
    y = (al + T) / (al + T + t)
    return int(0.87 * (abs(a + bp - 1 - r) + r + x) * y)


def connection_converged(model, row):
    dps = 40 + cancellation_digits(model, row)
    previous = by_connection(model, row, dps)
    while True:
        dps += 40
        value = by_connection(model, row, dps)
        with mp.workdps(dps):
            if fabs(value - previous) <= mpf(10) ** -30 * fabs(value):
                return value
        previous = value


def by_quadrature(model, row):
    """E from an integral with a positive integrand (30 digits), for a < 1: expanding
    (B)_k/(C)_k (B = b' + x = C - m) as a beta integral and summing over the
    negative-binomial distribution of the purchases gives, for every a > 0,
      (1 - Q)/m = G(C)/(G(B)G(a)) int_0^1 s^(a-2) (1-s)^(B-1) [1 - (y/(y + z s))^A] ds,
    whose integrand ~ s^(a-1) A z/y at 0; v = s^a makes it smooth there. Breakpoints on a
    doubling grid from 1e-8 min(y, 1/B) to 1 resolve the scales y and 1/B."""
    with mp.workdps(30):
        big_a, ap, m, c, y, p_alive = parts(model, *row)
        a, big_b, z = m + 1, c - m, 1 - y
        scale = exp(loggamma(c) - loggamma(big_b) - loggamma(a))

        def h_over_s(s):  # (1-s)^(B-1) [1 - (y/(y + z s))^A] / s
            return exp((big_b - 1) * log1p(-s)) * -expm1(-big_a * log1p(z * s / y)) / s

        points = []
        s = min(y, 1 / big_b) * mpf(10) ** -8
        while s < 1:
            points.append(s)
            s *= 2
        v_points = [mpf(0)] + [p**a for p in points] + [mpf(1)]
        integral = quad(lambda v: h_over_s(v ** (1 / a)), v_points) / a
        return +(c * scale * integral * p_alive)


def independent(model, row):
    """The quadrature for a < 1; else mpmath's own hyp2f1 (its connection formula, with
    its own cancellation control) at the raised precision."""
    if row[2] < 1:
        return by_quadrature(model, row)
    with mp.workdps(40 + cancellation_digits(model, row)):
        big_a, ap, m, c, y, p_alive = parts(model, *row)
        q = y**big_a * hyp2f1(big_a, c - m, c, 1 - y)
        return +(c / m * (1 - q) * p_alive)


def draw():
    r = 10 ** random.uniform(-3, 3)
    a = 10 ** random.uniform(-3, 2.5)
    b = 10 ** random.uniform(3, 5)
    x = random.choice(XS)
    T = random.choice([0.0, random.uniform(0, 1000)])
    tx = 0.0 if x == 0 else random.uniform(0, 1) * T
    al = 10 ** random.uniform(-2, 2)
    z = random.choice(
        [0.999, 0.999 + 1e-12, random.uniform(0.999, 0.9996), 1 - 10 ** random.uniform(-8, -3.4)]
    )
    t = z / (1 - z) * (al + T)
    return r, al, a, b, x, tx, T, t


def main():
    random.seed(20261127)
    for model in ["bg", "mbg"]:
        redrawn = 0
        with open(f"{model}_nbd_huge_b_mpmath.csv", "w") as f:
            f.write("r,alpha,a,b,x,t_x,T,horizon,expected\n")
            written = 0
            while written < ROWS:
                row = draw()
                e = connection_converged(model, row)
                if e < mpf(10) ** -300:
                    redrawn += 1
                    continue
                check = independent(model, row)
                with mp.workdps(60):
                    if not fabs(e - check) <= mpf(10) ** -25 * fabs(e):
                        redrawn += 1
                        continue
                f.write(",".join(repr(v) for v in row) + "," + nstr(e, 25) + "\n")
                written += 1
        print(model, "redrawn", redrawn)


if __name__ == "__main__":
    main()
