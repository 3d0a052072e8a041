//! Property tests over wide parameter and data ranges, including x = 0, large x, t_x = T
//! and T = 0.

use clientele_value::{
    model::special::hyp2f1, BgNbd, FitOptions, GammaGamma, MbgNbd, Observation, ParetoNbd,
    SpendObservation, TransactionModel,
};
use proptest::prelude::*;

/// Log-uniform on [10^lo, 10^hi].
fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo..hi).prop_map(|u| 10f64.powf(u))
}

/// (x, fraction of T at which the last purchase happened, T)
fn history() -> impl Strategy<Value = (u32, f64, f64)> {
    let x = prop_oneof![Just(0u32), Just(1u32), Just(500u32), 0u32..60];
    let frac = prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0];
    let t = prop_oneof![Just(0.0), Just(38.86), 0.0f64..=1000.0];
    (x, frac, t)
}

fn obs(x: u32, frac: f64, t: f64) -> Observation {
    Observation::new(x, if x == 0 { 0.0 } else { frac * t }, t).expect("valid by construction")
}

fn bg() -> impl Strategy<Value = BgNbd> {
    (
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
    )
        .prop_map(|(r, al, a, b)| BgNbd::new(r, al, a, b).expect("positive"))
}

fn mbg() -> impl Strategy<Value = MbgNbd> {
    (
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
        log_uniform(-2.0, 2.0),
    )
        .prop_map(|(r, al, a, b)| MbgNbd::new(r, al, a, b).expect("positive"))
}

/// α/β stays within 10³ of each other (see the Pareto/NBD docs on the series budget).
fn pareto() -> impl Strategy<Value = ParetoNbd> {
    (
        log_uniform(-2.0, 2.0),
        log_uniform(-1.0, 2.0),
        log_uniform(-2.0, 2.0),
        log_uniform(-1.0, 2.0),
    )
        .prop_map(|(r, al, s, be)| ParetoNbd::new(r, al, s, be).expect("positive"))
}

/// The properties every transaction model must have at one parameter set and history.
fn check_model<M: TransactionModel>(
    m: &M,
    x: u32,
    frac: f64,
    t: f64,
    horizon: f64,
) -> Result<(), TestCaseError> {
    let o = obs(x, frac, t);
    let ll = m
        .log_likelihood(&o)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    // (a density in t_x, so it may exceed 0)
    prop_assert!(ll.is_finite(), "LL {ll}");

    let p = m
        .p_alive(&o)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert!((0.0..=1.0).contains(&p), "P(alive) {p}");

    let e = m
        .conditional_expected_purchases(&o, horizon)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert!(e.is_finite() && e >= 0.0, "E {e}");
    // non-decreasing in the horizon
    let e2 = m
        .conditional_expected_purchases(&o, horizon * 1.5 + 1.0)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert!(e2 >= e * (1.0 - 1e-9), "E not monotone in t: {e} then {e2}");

    // a more recent last purchase is never less likely to mean "alive"
    if x > 0 && frac < 1.0 {
        let later = obs(x, (frac + 0.25).min(1.0), t);
        let p_later = m
            .p_alive(&later)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(
            p_later >= p - 1e-9,
            "P(alive) fell from {p} to {p_later} for a later t_x"
        );
    }
    let u = m
        .expected_purchases(horizon)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert!(u.is_finite() && u >= 0.0, "E[X(t)] {u}");
    Ok(())
}

/// Found by `bg_nbd_properties`: the connection formula for ₂F₁ lost seven digits to
/// cancellation here, and E fell by 1.3·10⁻⁷ as the horizon grew. Reference values from
/// mpmath (40 digits): E = bracket × P(alive) with ₂F₁ summed exactly.
#[test]
fn bg_nbd_expectation_where_the_connection_formula_cancels() {
    let m = BgNbd::new(
        0.4005861717273172,
        8.6480685765777,
        29.522199511685407,
        47.61574727557005,
    )
    .expect("positive");
    for (horizon, want) in [
        (90.51479996494433, 2.020_031_445_824_480_3),
        (136.77219994741648, 2.020_031_696_573_137_9),
        (20.0, 2.015_580_818_565_939_5),
    ] {
        let got = m
            .conditional_expected_purchases(&obs(11, 0.0, 0.0), horizon)
            .expect("finite");
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "horizon {horizon}: {got} against {want}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn bg_nbd_properties(m in bg(), (x, frac, t) in history(), horizon in prop_oneof![Just(0.0), 0.0f64..1000.0]) {
        check_model(&m, x, frac, t, horizon)?;
        if x == 0 {
            prop_assert_eq!(m.p_alive(&obs(x, frac, t)).unwrap(), 1.0);
        }
    }

    #[test]
    fn mbg_nbd_properties(m in mbg(), (x, frac, t) in history(), horizon in prop_oneof![Just(0.0), 0.0f64..1000.0]) {
        check_model(&m, x, frac, t, horizon)?;
    }

    #[test]
    fn pareto_nbd_properties(m in pareto(), (x, frac, t) in history(), horizon in prop_oneof![Just(0.0), 0.0f64..1000.0]) {
        check_model(&m, x, frac, t, horizon)?;
        if x > 0 && frac == 1.0 {
            // a purchase at T means alive at T
            let p = m.p_alive(&obs(x, frac, t)).unwrap();
            prop_assert!((p - 1.0).abs() < 1e-12, "{}", p);
        }
    }

    #[test]
    fn gamma_gamma_shrinks_towards_the_population_mean(
        p in log_uniform(-1.0, 2.0), q in 1.01f64..50.0, g in log_uniform(-1.0, 3.0),
        x in 1u32..200, z in log_uniform(-2.0, 4.0),
    ) {
        let m = GammaGamma::new(p, q, g).unwrap();
        let pop = m.mean_spend().unwrap();
        let e = m.conditional_expected_spend(x, z).unwrap();
        let (lo, hi) = if z < pop { (z, pop) } else { (pop, z) };
        prop_assert!(e >= lo * (1.0 - 1e-12) && e <= hi * (1.0 + 1e-12), "{} not in [{}, {}]", e, lo, hi);
        let ll = m.log_likelihood(&SpendObservation::new(x, z).unwrap());
        prop_assert!(ll.is_finite());
    }

    /// Euler's and Pfaff's transformations relate values computed on different paths
    /// (series, connection formula, negative argument).
    #[test]
    fn hyp2f1_transformations_agree(a in 0.1f64..5.0, b in 0.1f64..5.0, c in 0.5f64..10.0, z in -5.0f64..0.97) {
        let f = hyp2f1(a, b, c, z).unwrap();
        let symmetric = hyp2f1(b, a, c, z).unwrap();
        let pfaff = (1.0 - z).powf(-b) * hyp2f1(c - a, b, c, z / (z - 1.0)).unwrap();
        let euler = (1.0 - z).powf(c - a - b) * hyp2f1(c - a, c - b, c, z).unwrap();
        for (name, other) in [("symmetry", symmetric), ("pfaff", pfaff), ("euler", euler)] {
            prop_assert!((f - other).abs() <= 1e-9 * f.abs(), "{}: {} vs {}", name, f, other);
        }
    }
}

mod common;

/// The CDNOW calibration summaries (weeks), loaded once.
fn cdnow() -> &'static [Observation] {
    static DATA: std::sync::OnceLock<Vec<Observation>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        common::summaries()
            .values()
            .map(|s| s.observation().expect("valid"))
            .collect()
    })
}

/// A random subset of 60–400 CDNOW customers (real data, so fits are well posed).
fn cdnow_subset() -> impl Strategy<Value = Vec<Observation>> {
    prop::collection::vec(any::<prop::sample::Index>(), 60..400)
        .prop_map(|idx| idx.iter().map(|i| *i.get(cdnow())).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Same input, bit-identical output (Debug prints the shortest round-trip form of
    /// every f64, so equal strings mean equal bits).
    #[test]
    fn fits_are_deterministic(data in cdnow_subset()) {
        let opts = FitOptions::default().with_require_convergence(false);
        let a = format!("{:?}", BgNbd::fit(&data, &opts));
        let b = format!("{:?}", BgNbd::fit(&data, &opts));
        prop_assert_eq!(a, b);
        let a = format!("{:?}", MbgNbd::fit(&data, &opts));
        let b = format!("{:?}", MbgNbd::fit(&data, &opts));
        prop_assert_eq!(a, b);
        let a = format!("{:?}", ParetoNbd::fit(&data, &opts));
        let b = format!("{:?}", ParetoNbd::fit(&data, &opts));
        prop_assert_eq!(a, b);
    }
}

fn small_dataset() -> impl Strategy<Value = Vec<Observation>> {
    prop::collection::vec(history(), 3..40).prop_map(|rows| {
        rows.into_iter()
            .map(|(x, frac, t)| obs(x.min(30), frac, t.max(1.0)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// On arbitrary (not model-generated) small data the BG/NBD fit never panics, its
    /// log-likelihood is finite and it is at least as good as the start. The MLE may be
    /// on the boundary, so convergence is not required.
    #[test]
    fn bg_nbd_fit_is_total(data in small_dataset()) {
        let opts = FitOptions::default().with_require_convergence(false).with_max_iterations(200);
        let fit = BgNbd::fit(&data, &opts).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(fit.log_likelihood.is_finite());
        let start = BgNbd::new(1.0, 1.0, 1.0, 1.0).unwrap().total_log_likelihood(&data).unwrap();
        prop_assert!(fit.log_likelihood >= start - 1e-9);
    }
}
