"""Writes mbg_nbd_mpmath.csv: MBG/NBD E[Y(t) | x, t_x, T] at 40 digits (mpmath).

Batislam, Denizel & Filiztekin (2007) with the Wagner & Hoppe (2008) erratum:
given alive, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x+1) (the customer survived
the first purchase and x repeats), so
  E = (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; z)]
      · P(alive),  z = t/(α+T+t),
  P(alive) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))   (x = 0 included).
Run from this directory: python3 mbg_nbd_mpmath.py
"""

import random

from mpmath import hyp2f1, mp, mpf, nstr

mp.dps = 40
XS = [0, 1, 2, 3, 5, 8, 13, 21, 50, 120]


def p_alive(r, al, a, b, x, tx, T):
    return 1 / (1 + a / (b + x) * ((al + T) / (al + tx)) ** (r + x))


def expected(r, al, a, b, x, tx, T, t):
    r, al, a, b, tx, T, t = map(mpf, (r, al, a, b, tx, T, t))
    z = t / (al + T + t)
    q = ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(r + x, b + x + 1, a + b + x, z)
    return (a + b + x) / (a - 1) * (1 - q) * p_alive(r, al, a, b, x, tx, T)


def draw():
    while True:
        r, al, a, b = (10 ** random.uniform(-2, 2) for _ in range(4))
        if abs(a - 1) >= 0.01:
            break
    x = random.choice(XS)
    T = random.choice([0.0, random.uniform(0, 100)])
    tx = 0.0 if x == 0 else random.uniform(0, 1) * T
    t = random.uniform(0, 1000)
    return r, al, a, b, x, tx, T, t


def main():
    random.seed(20261125)
    with open("mbg_nbd_mpmath.csv", "w") as f:
        f.write("r,alpha,a,b,x,t_x,T,horizon,expected\n")
        for _ in range(300):
            row = draw()
            e = expected(*row)
            f.write(",".join(repr(v) for v in row) + "," + nstr(e, 25) + "\n")


if __name__ == "__main__":
    main()
