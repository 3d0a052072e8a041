"""Writes bg_nbd_hard_mpmath.csv and mbg_nbd_hard_mpmath.csv: BG/NBD and MBG/NBD
E[Y(t) | x, t_x, T] where the connection formula for 2F1 cancels (mpmath, 40 digits).

The region: a < 1, b large and z = t/(alpha+T+t) in (0.85, 0.9995), where the two
terms of 2F1's 1 - z connection formula cancel by up to 1e7 while the direct series
converges slowly. With b' = b (BG/NBD) or b + 1 (MBG/NBD) and C = a + b' + x - 1,
  E = C/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b'+x; C; z)] * P(alive),
  P(alive) = 1/(1 + d * a/(b'+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)),
with d = [x > 0] for the BG/NBD and d = 1 for the MBG/NBD.

Every value is computed twice, with mpmath's hyp2f1 and by summing Euler's transform
(1-z)^A 2F1(A, B; C; z) = (1-z)^(a-1) 2F1(a+b'-1-r, a-1; C; z) term by term at 60
digits (terms of one sign after the first), and the two must agree to 1e-25: mpmath's
hyp2f1 is not trusted alone (with parameters in the thousands it can return wrong
values at any working precision). Rows whose E is below 1e-300 (P(alive)
underflows) are redrawn.
Run from this directory: python3 beta_geo_hard_mpmath.py
"""

import random

from mpmath import hyp2f1, mp, mpf, nstr

XS = [0, 1, 2, 3, 5, 8, 13, 21, 50, 120, 500]
ROWS = 200  # per model


def euler_series(a_prime, m, c, z):
    """2F1(a_prime, m; c; z) summed directly, for 0 < z < 1 and a_prime, c > 0."""
    total, term, k = mpf(1), mpf(1), 0
    while True:
        term *= (a_prime + k) * (m + k) / ((c + k) * (k + 1)) * z
        total += term
        k += 1
        if k > c and abs(term) < mpf(10) ** -45 * abs(total) * (1 - z):
            return total


def expected(model, r, al, a, b, x, tx, T, t, dps, direct):
    with mp.workdps(dps):
        r, al, a, b, tx, T, t = map(mpf, (r, al, a, b, tx, T, t))
        bp = b if model == "bg" else b + 1
        c = a + bp + x - 1
        z = t / (al + T + t)
        if direct:
            q = (1 - z) ** (a - 1) * euler_series(a + bp - 1 - r, a - 1, c, z)
        else:
            q = ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(r + x, bp + x, c, z)
        dead = 0 if (model == "bg" and x == 0) else 1
        odds = dead * a / (bp + x - 1) * ((al + T) / (al + tx)) ** (r + x)
        return +(c / (a - 1) * (1 - q) / (1 + odds))


def draw():
    r, al = (10 ** random.uniform(-2, 2) for _ in range(2))
    a = 10 ** random.uniform(-2, 0)
    b = 10 ** random.uniform(1, 2.3)
    x = random.choice(XS)
    T = random.choice([0.0, random.uniform(0, 100)])
    tx = 0.0 if x == 0 else random.uniform(0, 1) * T
    z = random.uniform(0.85, 0.9995)
    t = z / (1 - z) * (al + T)
    return r, al, a, b, x, tx, T, t


def main():
    random.seed(20261126)
    for model in ["bg", "mbg"]:
        with open(f"{model}_nbd_hard_mpmath.csv", "w") as f:
            f.write("r,alpha,a,b,x,t_x,T,horizon,expected\n")
            written = 0
            while written < ROWS:
                row = draw()
                e = expected(model, *row, dps=40, direct=False)
                if e < mpf(10) ** -300:
                    continue
                check = expected(model, *row, dps=60, direct=True)
                with mp.workdps(60):
                    assert abs(e - check) <= mpf(10) ** -25 * e, (model, row, e, check)
                f.write(",".join(repr(v) for v in row) + "," + nstr(e, 25) + "\n")
                written += 1


if __name__ == "__main__":
    main()
