//! Point predictions against reference values computed independently with the `lifetimes`
//! Python library (0.11.3, scipy's `hyp2f1`), at the published CDNOW parameters (weeks,
//! dollars). These cover x = 0, t_x = T, T = 0, a tiny horizon, a long horizon (₂F₁
//! argument near 1, the connection-formula path) and a large frequency.

use clientele_value::{
    clv::{discounted_clv, DcfSchedule},
    BgNbd, GammaGamma, MbgNbd, Observation, ParetoNbd, TimeUnit, TransactionModel,
};

/// (x, t_x, T, t, BG E[Y(t)], BG P(alive), MBG E, MBG P(alive), Pareto E, Pareto P(alive))
#[allow(clippy::type_complexity)]
const CASES: &[(u32, f64, f64, f64, f64, f64, f64, f64, f64, f64)] = &[
    (
        0,
        0.0,
        38.86,
        39.0,
        0.19509805201125396,
        1.0,
        0.15401274667514553,
        0.3897350809187629,
        0.10708146821530892,
        0.29528660461689443,
    ),
    (
        2,
        30.43,
        38.86,
        39.0,
        1.226028174767135,
        0.726578570080673,
        1.2629606232673432,
        0.7062022651184873,
        1.4551231932576019,
        0.8691675591530111,
    ),
    (
        1,
        1.71,
        38.86,
        39.0,
        0.20318698707975183,
        0.2121009853773791,
        0.18883654136434078,
        0.17083648431040802,
        0.1710929805537828,
        0.16800232672434479,
    ),
    (
        10,
        38.0,
        38.86,
        39.0,
        6.705874952827481,
        0.9214498221607308,
        6.433763169862098,
        0.9140976755323993,
        6.8416341147023125,
        0.9886406575529902,
    ),
    (
        5,
        38.86,
        38.86,
        10.0,
        1.010648509214306,
        0.8901509904418894,
        1.0070083807867163,
        0.8812791472351765,
        1.0622001937419874,
        1.0,
    ),
    (
        0,
        0.0,
        0.0,
        52.0,
        1.4460505953963958,
        1.0,
        1.4197237577127344,
        0.644311377245509,
        1.4729968033751073,
        1.0,
    ),
    (
        3,
        20.0,
        30.0,
        1000.0,
        13.452461882465254,
        0.6470471312046451,
        11.642062576618619,
        0.6234557823351229,
        17.97646944220364,
        0.7599345130316856,
    ),
    (
        2,
        30.43,
        38.86,
        0.5,
        0.018776841843975874,
        0.726578570080673,
        0.019731606439157088,
        0.7062022651184873,
        0.02237516346495055,
        0.8691675591530111,
    ),
    (
        50,
        30.0,
        38.0,
        39.0,
        0.06293460705983397,
        0.0017798111479719653,
        0.07986156436222215,
        0.0023920716857503063,
        0.29107091074015684,
        0.008649786805964855,
    ),
];

/// (t, BG E[X(t)], MBG E[X(t)], Pareto E[X(t)])
const UNCONDITIONAL: &[(f64, f64, f64, f64)] = &[
    (
        1.0,
        0.05326789117165627,
        0.053084795263698685,
        0.050979843245990884,
    ),
    (
        39.0,
        1.1967231933207985,
        1.1829536655971713,
        1.2130028442810157,
    ),
    (
        78.0,
        1.8605190579427455,
        1.8047575775531313,
        1.9093981293136852,
    ),
    (
        1000.0,
        6.580391613737897,
        5.612255965884699,
        7.4349236321217465,
    ),
];

fn models() -> (BgNbd, MbgNbd, ParetoNbd) {
    (
        BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap(),
        MbgNbd::new(0.525, 6.183, 0.891, 1.614).unwrap(),
        ParetoNbd::new(0.553, 10.578, 0.606, 11.669).unwrap(),
    )
}

#[track_caller]
fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-12),
        "got {got:e}, want {want:e} (rel err {:e})",
        (got - want).abs() / want.abs()
    );
}

#[test]
fn conditional_predictions_match_lifetimes() {
    let (bg, mbg, pareto) = models();
    for &(x, tx, big_t, t, bg_e, bg_p, mbg_e, mbg_p, p_e, p_p) in CASES {
        let o = Observation::new(x, tx, big_t).unwrap();
        close(
            bg.conditional_expected_purchases(&o, t).unwrap(),
            bg_e,
            1e-9,
        );
        close(bg.p_alive(&o).unwrap(), bg_p, 1e-12);
        close(
            mbg.conditional_expected_purchases(&o, t).unwrap(),
            mbg_e,
            1e-9,
        );
        close(mbg.p_alive(&o).unwrap(), mbg_p, 1e-12);
        close(
            pareto.conditional_expected_purchases(&o, t).unwrap(),
            p_e,
            1e-9,
        );
        close(pareto.p_alive(&o).unwrap(), p_p, 1e-9);
    }
}

#[test]
fn unconditional_predictions_match_lifetimes() {
    let (bg, mbg, pareto) = models();
    for &(t, bg_e, mbg_e, p_e) in UNCONDITIONAL {
        close(bg.expected_purchases(t).unwrap(), bg_e, 1e-9);
        close(mbg.expected_purchases(t).unwrap(), mbg_e, 1e-9);
        close(pareto.expected_purchases(t).unwrap(), p_e, 1e-12);
    }
    assert_eq!(bg.expected_purchases(0.0).unwrap(), 0.0);
}

#[test]
fn gamma_gamma_and_clv_match_lifetimes() {
    let (bg, _, _) = models();
    let gg = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
    let spend = gg.conditional_expected_spend(2, 22.345).unwrap();
    close(spend, 24.659612860892388, 1e-13);
    let customer = Observation::new(2, 30.43, 38.86).unwrap();
    for (rate, months, want) in [
        (0.01, 12, 36.2831770033638),
        (0.0, 6, 21.298728778285735),
        (0.05, 36, 45.50940134966228),
    ] {
        let schedule = DcfSchedule::new(months, rate, TimeUnit::Weeks).unwrap();
        close(
            discounted_clv(&bg, &customer, spend, &schedule).unwrap(),
            want,
            1e-9,
        );
    }
}
