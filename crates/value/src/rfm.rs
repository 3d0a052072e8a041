//! RFM: recency, frequency and monetary value, scored in quintiles over the
//! population as of a time, with the usual segment names.

use serde::{Deserialize, Serialize};

/// One customer's raw RFM inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmInput {
    /// Days since the last purchase or bill.
    pub recency_days: i64,
    /// Days with a purchase or a bill (purchase days are the papers'
    /// transactions).
    pub frequency: u32,
    /// Net spend (minor units).
    pub monetary: i64,
}

/// The usual RFM segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmSegment {
    /// Bought recently, often, and spend the most (R ≥ 4, F ≥ 4, M ≥ 4).
    Champions,
    /// Buy often and still recently (R ≥ 3, F ≥ 4).
    Loyal,
    /// Used to buy often and much, not lately (R ≤ 2, F ≥ 4, M ≥ 4).
    CannotLoseThem,
    /// Bought often, not lately (R ≤ 2, F ≥ 3).
    AtRisk,
    /// Recent, a few purchases (R ≥ 4, F 2–3).
    PotentialLoyalist,
    /// Recent first purchase (R ≥ 4, F = 1).
    New,
    /// Fairly recent, few purchases (R = 3, F ≤ 2).
    Promising,
    /// Average on both (R = 3, F = 3).
    NeedAttention,
    /// Long ago, few purchases (R = 2, F ≤ 2).
    Hibernating,
    /// Longest ago, fewest purchases (R = 1, F ≤ 2).
    Lost,
}

impl RfmSegment {
    /// The segment of quintile scores (each 1–5).
    pub fn of(r: u8, f: u8, m: u8) -> Self {
        match (r, f, m) {
            (4.., 4.., 4..) => Self::Champions,
            (3.., 4.., _) => Self::Loyal,
            (..=2, 4.., 4..) => Self::CannotLoseThem,
            (..=2, 3.., _) => Self::AtRisk,
            (4.., 2..=3, _) => Self::PotentialLoyalist,
            (4.., ..=1, _) => Self::New,
            (3, ..=2, _) => Self::Promising,
            (3, _, _) => Self::NeedAttention,
            (2, _, _) => Self::Hibernating,
            _ => Self::Lost,
        }
    }
}

/// Scores and segment of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmScore {
    /// The inputs.
    pub input: RfmInput,
    /// Recency quintile, 5 = most recent.
    pub r: u8,
    /// Frequency quintile, 5 = most frequent.
    pub f: u8,
    /// Monetary quintile, 5 = highest spend.
    pub m: u8,
    /// Segment.
    pub segment: RfmSegment,
}

/// Quintile (1–5) of each value, ties sharing the lower quintile; `higher_is_better`
/// decides the direction.
fn quintiles(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    if !higher_is_better {
        order.reverse();
    }
    let mut out = vec![1u8; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let q = (1 + (5 * i) / n.max(1)).min(5) as u8;
        for &k in &order[i..=j] {
            out[k] = q;
        }
        i = j + 1;
    }
    out
}

/// RFM scores for a population (same order as `inputs`).
///
/// ```
/// use clientele_value::rfm::{rfm, RfmInput, RfmSegment};
/// let inputs: Vec<RfmInput> = (0..10)
///     .map(|i| RfmInput { recency_days: 10 * i, frequency: (10 - i) as u32, monetary: 1000 * (10 - i) })
///     .collect();
/// let scores = rfm(&inputs);
/// assert_eq!((scores[0].r, scores[0].f, scores[0].m), (5, 5, 5));
/// assert_eq!(scores[0].segment, RfmSegment::Champions);
/// assert_eq!(scores[9].segment, RfmSegment::Lost);
/// ```
pub fn rfm(inputs: &[RfmInput]) -> Vec<RfmScore> {
    let r = quintiles(
        &inputs
            .iter()
            .map(|i| i.recency_days as f64)
            .collect::<Vec<_>>(),
        false,
    );
    let f = quintiles(
        &inputs
            .iter()
            .map(|i| f64::from(i.frequency))
            .collect::<Vec<_>>(),
        true,
    );
    let m = quintiles(
        &inputs.iter().map(|i| i.monetary as f64).collect::<Vec<_>>(),
        true,
    );
    inputs
        .iter()
        .enumerate()
        .map(|(k, input)| RfmScore {
            input: *input,
            r: r[k],
            f: f[k],
            m: m[k],
            segment: RfmSegment::of(r[k], f[k], m[k]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn quintiles_are_in_range_and_monotone(values in proptest::collection::vec(0.0f64..1000.0, 1..200)) {
            let q = quintiles(&values, true);
            for (i, a) in values.iter().enumerate() {
                prop_assert!((1..=5).contains(&q[i]));
                for (j, b) in values.iter().enumerate() {
                    if a < b { prop_assert!(q[i] <= q[j]); }
                    if a == b { prop_assert_eq!(q[i], q[j]); }
                }
            }
        }
    }

    #[test]
    fn segments_cover_the_grid() {
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let _ = RfmSegment::of(r, f, m);
                }
            }
        }
        assert_eq!(RfmSegment::of(1, 5, 5), RfmSegment::CannotLoseThem);
        assert_eq!(RfmSegment::of(5, 1, 1), RfmSegment::New);
    }
}
