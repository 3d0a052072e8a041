//! Fitting benchmarks on the CDNOW sample (2,357 customers, time in weeks).

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use clientele_value::{
    BgNbd, FitOptions, GammaGamma, MbgNbd, Observation, ParetoNbd, SpendObservation,
};

#[path = "../tests/common/mod.rs"]
mod common;

fn data() -> (Vec<Observation>, Vec<SpendObservation>) {
    let summaries = common::summaries();
    let obs = summaries
        .values()
        .map(|s| s.observation().expect("valid"))
        .collect();
    let spend = summaries
        .values()
        .filter_map(|s| s.spend_observation(100).expect("valid"))
        .collect();
    (obs, spend)
}

fn bench(c: &mut Criterion) {
    let (obs, spend) = data();
    let opts = FitOptions::default();
    c.bench_function("bg_nbd_fit_cdnow", |b| {
        b.iter(|| BgNbd::fit(black_box(&obs), &opts).expect("fit"))
    });
    c.bench_function("mbg_nbd_fit_cdnow", |b| {
        b.iter(|| MbgNbd::fit(black_box(&obs), &opts).expect("fit"))
    });
    c.bench_function("pareto_nbd_fit_cdnow", |b| {
        b.iter(|| ParetoNbd::fit(black_box(&obs), &opts).expect("fit"))
    });
    c.bench_function("gamma_gamma_fit_cdnow", |b| {
        b.iter(|| GammaGamma::fit(black_box(&spend), &opts).expect("fit"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
