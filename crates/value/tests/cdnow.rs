//! Validation on the CDNOW sample against the published estimates
//! (Fader, Hardie & Lee 2005 and the `lifetimes` library).

mod common;

use clientele_value::{
    BgNbd, FitOptions, GammaGamma, MbgNbd, Observation, ParetoNbd, SpendObservation, TimeUnit,
    TransactionModel,
};

/// Observations from the raw transaction log (exact day/7 times).
fn raw_observations() -> Vec<Observation> {
    common::summaries()
        .values()
        .map(|s| s.observation().expect("valid"))
        .collect()
}

/// Observations from the published CSV (times rounded to 2 decimals), as used by the
/// papers' spreadsheets and by `lifetimes`.
fn csv_observations() -> Vec<Observation> {
    common::published_summary()
        .into_iter()
        .map(|(_, x, tx, t)| Observation::new(x, tx, t).expect("valid"))
        .collect()
}

fn spend_observations() -> Vec<SpendObservation> {
    common::summaries()
        .values()
        .filter_map(|s| s.spend_observation(100).expect("valid"))
        .collect()
}

/// `got` agrees with `want` to `digits` significant digits.
fn sig(got: f64, want: f64, digits: i32) -> bool {
    let scale = 10f64.powi(want.abs().log10().floor() as i32 - digits + 1);
    (got / scale).round() == (want / scale).round()
}

#[track_caller]
fn assert_params(got: [f64; 4], want: [f64; 4], digits: i32) {
    for (g, w) in got.iter().zip(want.iter()) {
        assert!(sig(*g, *w, digits), "got {got:?}, want {want:?}");
    }
}

#[test]
fn summary_statistics_reproduce_published_csv() {
    let ours = common::summaries();
    let published = common::published_summary();
    assert_eq!(published.len(), 2357);
    assert_eq!(ours.len(), 2357);
    for (id, x, tx, t) in published {
        let s = ours.get(&id).expect("customer present");
        assert_eq!(s.unit, TimeUnit::Weeks);
        assert_eq!(s.frequency, x, "customer {id}");
        // Convention: whole days between dates / 7; the CSV prints two decimals.
        let round2 = |v: f64| (v * 100.0).round() / 100.0;
        assert!(
            (round2(s.recency) - tx).abs() < 1e-9,
            "customer {id}: {} vs {tx}",
            s.recency
        );
        assert!(
            (round2(s.t) - t).abs() < 1e-9,
            "customer {id}: {} vs {t}",
            s.t
        );
        // and the unrounded values are exact multiples of 1/7 week
        let days = (s.last_purchase.0 - s.first_purchase.0) as f64;
        assert!((s.recency * 7.0 - days).abs() < 1e-12);
        assert!((s.recency - tx).abs() <= 0.005 + 1e-12 && (s.t - t).abs() <= 0.005 + 1e-12);
    }
    let repeat_buyers = ours.values().filter(|s| s.frequency > 0).count();
    assert_eq!(repeat_buyers, 946);
}

#[test]
fn bg_nbd_fit_matches_published() {
    for data in [csv_observations(), raw_observations()] {
        let fit = BgNbd::fit(&data, &FitOptions::default()).expect("fit");
        eprintln!("BG/NBD {fit:?}");
        assert!(fit.converged);
        assert_params(fit.params.to_array(), [0.243, 4.414, 0.793, 2.426], 3);
        let total = fit.params.total_log_likelihood(&data).expect("ll");
        assert!((total - fit.log_likelihood).abs() < 1e-6);
    }
    let data = csv_observations();
    let fit = BgNbd::fit(&data, &FitOptions::default()).expect("fit");
    assert!(
        (fit.log_likelihood - -9582.4).abs() < 0.1,
        "{}",
        fit.log_likelihood
    );
}

#[test]
fn pareto_nbd_fit_matches_published() {
    for data in [csv_observations(), raw_observations()] {
        let fit = ParetoNbd::fit(&data, &FitOptions::default()).expect("fit");
        eprintln!("Pareto/NBD {fit:?}");
        assert!(fit.converged);
        assert_params(fit.params.to_array(), [0.553, 10.578, 0.606, 11.669], 3);
    }
    let fit = ParetoNbd::fit(&csv_observations(), &FitOptions::default()).expect("fit");
    assert!(
        (fit.log_likelihood - -9595.0).abs() < 0.1,
        "{}",
        fit.log_likelihood
    );
}

#[test]
fn mbg_nbd_fit_matches_published() {
    for data in [csv_observations(), raw_observations()] {
        let fit = MbgNbd::fit(&data, &FitOptions::default()).expect("fit");
        eprintln!("MBG/NBD {fit:?}");
        assert!(fit.converged);
        assert_params(fit.params.to_array(), [0.525, 6.183, 0.891, 1.614], 3);
    }
}

#[test]
fn gamma_gamma_fit_matches_published() {
    let data = spend_observations();
    assert_eq!(data.len(), 946);
    let fit = GammaGamma::fit(&data, &FitOptions::default()).expect("fit");
    eprintln!("Gamma-Gamma {fit:?}");
    assert!(fit.converged);
    let [p, q, g] = fit.params.to_array();
    assert!(
        sig(p, 6.25, 3) && sig(q, 3.74, 3) && sig(g, 15.44, 4),
        "{p} {q} {g}"
    );
}

#[test]
fn customer_1_predictions() {
    let c = Observation::new(2, 30.43, 38.86).unwrap();
    // At the maximum-likelihood estimates (unrounded): the published 1.2259 and 0.7266.
    let fit = BgNbd::fit(&csv_observations(), &FitOptions::default()).expect("fit");
    let e = fit.params.conditional_expected_purchases(&c, 39.0).unwrap();
    let p = fit.params.p_alive(&c).unwrap();
    assert!((e - 1.2259).abs() < 5e-5, "{e}");
    assert!((p - 0.7266).abs() < 5e-5, "{p}");
    // At the published, rounded parameters (as `lifetimes` evaluates them: 1.226028…).
    let m = BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let e = m.conditional_expected_purchases(&c, 39.0).unwrap();
    let p = m.p_alive(&c).unwrap();
    assert!((e - 1.226_028_174_767_135).abs() < 1e-9, "{e}");
    assert!((p - 0.726_578_570_080_673).abs() < 1e-12, "{p}");
}

#[test]
fn mle_is_at_least_as_good_as_the_reference_estimates() {
    // lifetimes 0.11.3's Pareto/NBD estimates on the CSV (scipy BFGS).
    let data = csv_observations();
    let reference = ParetoNbd::new(0.5532656955, 10.5774522277, 0.6062445631, 11.6689298525)
        .unwrap()
        .total_log_likelihood(&data)
        .unwrap();
    let ours = ParetoNbd::fit(&data, &FitOptions::default()).expect("fit");
    assert!(
        ours.log_likelihood >= reference - 1e-9,
        "{} < {reference}",
        ours.log_likelihood
    );
}

#[test]
fn gamma_gamma_log_likelihood() {
    let data = spend_observations();
    let fit = GammaGamma::fit(&data, &FitOptions::default()).expect("fit");
    // lifetimes: −4055.9177 on the same (unrounded) mean repeat spends.
    assert!(
        (fit.log_likelihood - -4055.9177).abs() < 1e-3,
        "{}",
        fit.log_likelihood
    );
    // Customer 1's mean repeat spend: (29.73 + 14.96)/2 dollars.
    let s = common::summaries();
    assert_eq!(s[&1].monetary_value(100), 22.345);
    assert_eq!(s[&1].repeat_value_minor, 4469);
}

#[test]
fn penalizer_shrinks_parameters() {
    let data = csv_observations();
    let plain = BgNbd::fit(&data, &FitOptions::default()).expect("fit");
    let pen = BgNbd::fit(&data, &FitOptions::default().with_penalizer(0.1)).expect("fit");
    let norm = |p: [f64; 4]| p.iter().map(|v| v * v).sum::<f64>();
    assert!(norm(pen.params.to_array()) < norm(plain.params.to_array()));
    assert!(pen.log_likelihood < plain.log_likelihood);
}

#[test]
fn typed_errors() {
    use clientele_value::ValueError;
    let opts = FitOptions::default();
    assert!(matches!(
        BgNbd::fit(&[], &opts),
        Err(ValueError::EmptyInput { .. })
    ));
    assert!(matches!(
        ParetoNbd::fit(&[], &opts),
        Err(ValueError::EmptyInput { .. })
    ));
    assert!(matches!(
        GammaGamma::fit(&[], &opts),
        Err(ValueError::EmptyInput { .. })
    ));
    let data = csv_observations();
    let bad = FitOptions::default().with_penalizer(f64::NAN);
    assert!(matches!(
        BgNbd::fit(&data, &bad),
        Err(ValueError::NonFinite { .. })
    ));
    // one iteration cannot converge
    let short = FitOptions::default().with_max_iterations(1);
    assert!(matches!(
        BgNbd::fit(&data, &short),
        Err(ValueError::NotConverged { .. })
    ));
    let lenient = short.with_require_convergence(false);
    let fit = BgNbd::fit(&data, &lenient).expect("returned anyway");
    assert!(!fit.converged && fit.iterations == 1);
    assert!(BgNbd::new(0.0, 1.0, 1.0, 1.0).is_err());
    assert!(BgNbd::new(f64::NAN, 1.0, 1.0, 1.0).is_err());
    assert!(Observation::new(2, 5.0, 4.0).is_err());
    let m = BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let c = Observation::new(2, 30.43, 38.86).unwrap();
    assert!(m.conditional_expected_purchases(&c, -1.0).is_err());
    assert!(m.conditional_expected_purchases(&c, f64::NAN).is_err());
}
