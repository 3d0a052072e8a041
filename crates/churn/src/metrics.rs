//! Ranking and calibration metrics for backtests: AUC, precision and recall
//! at k, lift by decile, calibration table. Pure functions over
//! `(score, outcome)` pairs; higher score = predicted more likely positive.

use serde::{Deserialize, Serialize};

/// Area under the ROC curve (Mann–Whitney U, ties counted half).
/// `None` when either class is absent.
///
/// ```
/// use clientele_churn::metrics::auc;
/// assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]), Some(1.0));
/// assert_eq!(auc(&[0.5, 0.5], &[true, false]), Some(0.5));
/// ```
pub fn auc(scores: &[f64], outcomes: &[bool]) -> Option<f64> {
    let n = scores.len().min(outcomes.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if outcomes[k] {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let pos = outcomes[..n].iter().filter(|&&o| o).count() as f64;
    let neg = n as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    Some((rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Precision and recall among the `k` highest scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    /// How many were taken.
    pub k: usize,
    /// Share of positives among them.
    pub precision: f64,
    /// Share of all positives they cover.
    pub recall: f64,
}

fn ranked(scores: &[f64], outcomes: &[bool]) -> Vec<bool> {
    let n = scores.len().min(outcomes.len());
    let mut order: Vec<usize> = (0..n).collect();
    // Highest first; ties in input order (stable) so results are deterministic.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.into_iter().map(|i| outcomes[i]).collect()
}

/// Precision and recall at each `k`.
pub fn at_k(scores: &[f64], outcomes: &[bool], ks: &[usize]) -> Vec<AtK> {
    let ranked = ranked(scores, outcomes);
    let total = ranked.iter().filter(|&&o| o).count().max(1) as f64;
    ks.iter()
        .map(|&k| {
            let k = k.min(ranked.len());
            let hits = ranked[..k].iter().filter(|&&o| o).count() as f64;
            AtK {
                k,
                precision: if k == 0 { 0.0 } else { hits / k as f64 },
                recall: hits / total,
            }
        })
        .collect()
}

/// One decile of a lift table (decile 1 = the highest scores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// 1..=10.
    pub decile: usize,
    /// Customers in it.
    pub customers: usize,
    /// Positives in it.
    pub positives: usize,
    /// positives ÷ customers.
    pub rate: f64,
    /// rate ÷ the overall rate.
    pub lift: f64,
}

/// Lift by decile of score.
pub fn lift_by_decile(scores: &[f64], outcomes: &[bool]) -> Vec<Decile> {
    let ranked = ranked(scores, outcomes);
    let n = ranked.len();
    let base = ranked.iter().filter(|&&o| o).count() as f64 / n.max(1) as f64;
    (0..10)
        .map(|d| {
            let (from, to) = (d * n / 10, (d + 1) * n / 10);
            let positives = ranked[from..to].iter().filter(|&&o| o).count();
            let customers = to - from;
            let rate = if customers == 0 {
                0.0
            } else {
                positives as f64 / customers as f64
            };
            Decile {
                decile: d + 1,
                customers,
                positives,
                rate,
                lift: if base > 0.0 { rate / base } else { 0.0 },
            }
        })
        .collect()
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower bound of predicted risk (inclusive).
    pub from: f64,
    /// Upper bound (exclusive; the last bin includes 1).
    pub to: f64,
    /// Customers in it.
    pub customers: usize,
    /// Mean predicted risk.
    pub predicted: f64,
    /// Observed positive rate.
    pub observed: f64,
}

/// Calibration in `bins` equal-width bins of predicted risk over [0, 1].
pub fn calibration(scores: &[f64], outcomes: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut acc = vec![(0usize, 0.0f64, 0usize); bins];
    for (&s, &o) in scores.iter().zip(outcomes) {
        let b = ((s.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += s;
        acc[b].2 += usize::from(o);
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, (n, sum, pos))| CalibrationBin {
            from: i as f64 / bins as f64,
            to: (i + 1) as f64 / bins as f64,
            customers: n,
            predicted: if n == 0 { 0.0 } else { sum / n as f64 },
            observed: if n == 0 { 0.0 } else { pos as f64 / n as f64 },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn auc_matches_pairwise_definition() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4];
        let outcomes = [false, true, false, true, false];
        // Pairs (pos, neg): (0.4,0.1)=1 (0.4,0.35)=1 (0.4,0.4)=0.5 (0.8,·)=3 → 5.5 / 6
        assert!((auc(&scores, &outcomes).unwrap() - 5.5 / 6.0).abs() < 1e-12);
        assert_eq!(auc(&[0.3], &[true]), None);
    }

    #[test]
    fn at_k_and_lift() {
        let scores = [0.9, 0.8, 0.7, 0.1];
        let outcomes = [true, false, true, false];
        let r = at_k(&scores, &outcomes, &[1, 2, 10]);
        assert_eq!((r[0].precision, r[0].recall), (1.0, 0.5));
        assert_eq!((r[1].precision, r[1].recall), (0.5, 0.5));
        assert_eq!(r[2].k, 4);
        let lift = lift_by_decile(
            &(0..100).map(|i| i as f64).collect::<Vec<_>>(),
            &(0..100).map(|i| i >= 90).collect::<Vec<_>>(),
        );
        assert_eq!(lift[0].positives, 10);
        assert!((lift[0].lift - 10.0).abs() < 1e-12);
        assert_eq!(lift.iter().map(|d| d.customers).sum::<usize>(), 100);
    }

    proptest! {
        #[test]
        fn auc_is_a_probability_and_flips(pairs in proptest::collection::vec((0.0f64..1.0, any::<bool>()), 2..200)) {
            let (s, o): (Vec<f64>, Vec<bool>) = pairs.into_iter().unzip();
            if let Some(a) = auc(&s, &o) {
                prop_assert!((0.0..=1.0).contains(&a));
                let neg: Vec<f64> = s.iter().map(|x| -x).collect();
                prop_assert!((auc(&neg, &o).unwrap() - (1.0 - a)).abs() < 1e-9);
            }
            let cal = calibration(&s, &o, 10);
            prop_assert_eq!(cal.iter().map(|b| b.customers).sum::<usize>(), s.len());
        }
    }
}
