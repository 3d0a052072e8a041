//! BG/NBD, MBG/NBD and Pareto/NBD conditional expectations against mpmath.
//!
//! BG/NBD: 300 parameter sets drawn
//! log-uniformly over 10^±2 for r, α, a, b (as the property tests draw them),
//! frequencies 0–120, ages 0–100 and horizons up to 1000, computed with
//! mpmath's ₂F₁ at 40 digits (`tests/data/bg_nbd_mpmath.csv`; generator in
//! the file's header comment below).
//!
//! ```text
//! random.seed(20261123); r, α, a, b = 10**U(-2, 2) (|a − 1| ≥ 0.01);
//! x ∈ {0,1,2,3,5,8,13,21,50,120}; T ∈ {0, U(0,100)}; t_x = U(0,1)·T (0 if x = 0);
//! horizon = U(0, 1000); E = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x)
//!   ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive)
//! ```

use clientele_value::{BgNbd, MbgNbd, Observation, ParetoNbd, TransactionModel, ValueError};

/// Checks every row of `table` (a header, then four parameters, x, t_x, T,
/// the horizon and mpmath's expectation) against the model `build` makes of
/// the four parameters: within 1e-9 relative, and every row evaluates.
fn check_table<M: TransactionModel>(
    table: &str,
    build: impl Fn(f64, f64, f64, f64) -> Result<M, ValueError>,
) {
    let mut worst = (0.0f64, String::new());
    let mut failures = Vec::new();
    for (n, line) in table.lines().skip(1).enumerate() {
        let f: Vec<f64> = line
            .split(',')
            .map(|v| v.parse().expect("number"))
            .collect();
        let [p1, p2, p3, p4, x, t_x, big_t, horizon, want] = f[..] else {
            panic!("line {}: 9 fields expected", n + 2);
        };
        let m = build(p1, p2, p3, p4).expect("positive");
        let obs = Observation::new(x as u32, t_x, big_t).expect("valid");
        let got = m
            .conditional_expected_purchases(&obs, horizon)
            .unwrap_or(f64::NAN);
        let rel = ((got - want) / want.abs().max(1e-300)).abs();
        if rel.is_nan() || rel > 1e-9 {
            failures.push(format!("line {}: {line}: got {got}, rel {rel:.1e}", n + 2));
        }
        if rel > worst.0 || rel.is_nan() {
            worst = (rel, line.to_owned());
        }
    }
    println!("worst relative error {:.2e} at {}", worst.0, worst.1);
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        table.lines().count() - 1,
        failures.join("\n")
    );
}

#[test]
fn bg_nbd_conditional_expectation_matches_mpmath() {
    check_table(include_str!("data/bg_nbd_mpmath.csv"), BgNbd::new);
}

/// Pareto/NBD likewise (`tests/data/pareto_nbd_mpmath.csv`, mpmath at 60
/// digits): random.seed(20261124); r, α, s, β = 10**U(-2, 2) (|s − 1| ≥ 0.01);
/// x as above; T = U(0.1, 100); horizon = U(0.01, 1000); P(alive) from the
/// closed form with ₂F₁ (α ≥ β and α < β), E = (r+x)(β+T)/((α+T)(s−1)) ·
/// [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive).
#[test]
fn pareto_nbd_conditional_expectation_matches_mpmath() {
    check_table(include_str!("data/pareto_nbd_mpmath.csv"), ParetoNbd::new);
}

/// MBG/NBD likewise (`tests/data/mbg_nbd_mpmath.csv`, mpmath at 40 digits,
/// written by `tests/data/mbg_nbd_mpmath.py`): random.seed(20261125), then
/// parameters, x, T, t_x and horizon drawn as for the BG/NBD table;
/// E = (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x;
/// t/(α+T+t))] · P(alive), P(alive) = 1/(1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)),
/// x = 0 included (Batislam et al. 2007; Wagner & Hoppe 2008).
#[test]
fn mbg_nbd_conditional_expectation_matches_mpmath() {
    check_table(include_str!("data/mbg_nbd_mpmath.csv"), MbgNbd::new);
}

/// The region where ₂F₁'s connection formula cancels (`tests/data/bg_nbd_hard_mpmath.csv`
/// and `mbg_nbd_hard_mpmath.csv`, 200 rows each, written by
/// `tests/data/beta_geo_hard_mpmath.py`, mpmath at 40 digits checked against a direct
/// 60-digit sum): random.seed(20261126); r, α = 10^U(−2, 2), a = 10^U(−2, 0),
/// b = 10^U(1, 2.3), x ∈ {0,1,2,3,5,8,13,21,50,120,500}, T ∈ {0, U(0,100)},
/// t_x = U(0,1)·T, z = t/(α+T+t) = U(0.85, 0.9995); rows with E < 10⁻³⁰⁰ redrawn.
#[test]
fn bg_nbd_conditional_expectation_matches_mpmath_where_2f1_cancels() {
    check_table(include_str!("data/bg_nbd_hard_mpmath.csv"), BgNbd::new);
}

/// MBG/NBD over the same region (see above).
#[test]
fn mbg_nbd_conditional_expectation_matches_mpmath_where_2f1_cancels() {
    check_table(include_str!("data/mbg_nbd_hard_mpmath.csv"), MbgNbd::new);
}

/// b in the thousands to tens of thousands with z = t/(α+T+t) at or beyond 0.999, where
/// ₂F₁'s connection formula cancels by up to 10⁴⁶ and more (`tests/data/bg_nbd_huge_b_mpmath.csv`
/// and `mbg_nbd_huge_b_mpmath.csv`, 100 rows each, written by
/// `tests/data/beta_geo_huge_b_mpmath.py`: the connection formula at raised precision
/// checked against a quadrature (a < 1) or mpmath's hyp2f1 (a ≥ 1)): random.seed(20261127);
/// r = 10^U(−3, 3), a = 10^U(−3, 2.5), b = 10^U(3, 5), x ∈ {0,1,2,13,120,500},
/// T ∈ {0, U(0,1000)}, t_x = U(0,1)·T, α = 10^U(−2, 2), z ∈ {0.999, 0.999 + 10⁻¹²,
/// U(0.999, 0.9996), 1 − 10^U(−8, −3.4)}; rows with E < 10⁻³⁰⁰ redrawn.
#[test]
fn bg_nbd_conditional_expectation_matches_mpmath_with_huge_b() {
    check_table(include_str!("data/bg_nbd_huge_b_mpmath.csv"), BgNbd::new);
}

/// MBG/NBD over the same region (see above).
#[test]
fn mbg_nbd_conditional_expectation_matches_mpmath_with_huge_b() {
    check_table(include_str!("data/mbg_nbd_huge_b_mpmath.csv"), MbgNbd::new);
}
