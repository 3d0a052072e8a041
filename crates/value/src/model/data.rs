//! Aggregation of observations into distinct weighted rows, grouped by frequency.

use super::Observation;

/// One distinct (x, t_x, T) with its multiplicity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub tx: f64,
    pub t: f64,
    pub w: f64,
}

/// Rows sharing one frequency x (terms that depend only on x and the parameters are
/// computed once per group).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub x: u32,
    pub w: f64,
    pub rows: Vec<Row>,
}

/// Observations aggregated into groups of distinct rows; deterministic order
/// (x ascending, then t_x, then T).
#[derive(Debug, Clone)]
pub(crate) struct Compressed {
    pub groups: Vec<Group>,
}

impl Compressed {
    pub(crate) fn new(data: &[Observation]) -> Self {
        let mut sorted: Vec<(u32, f64, f64)> = data
            .iter()
            .map(|o| (o.frequency(), o.recency(), o.t()))
            .collect();
        sorted.sort_by(|p, q| {
            p.0.cmp(&q.0)
                .then(p.1.total_cmp(&q.1))
                .then(p.2.total_cmp(&q.2))
        });
        let mut groups: Vec<Group> = Vec::new();
        for (x, tx, t) in sorted {
            let same_group = groups.last().is_some_and(|g| g.x == x);
            if !same_group {
                groups.push(Group {
                    x,
                    w: 0.0,
                    rows: Vec::new(),
                });
            }
            if let Some(g) = groups.last_mut() {
                g.w += 1.0;
                match g.rows.last_mut() {
                    Some(r) if r.tx == tx && r.t == t => r.w += 1.0,
                    _ => g.rows.push(Row { tx, t, w: 1.0 }),
                }
            }
        }
        Self { groups }
    }

    /// One observation (as [`Compressed::new`] of it, without the sorting).
    pub(crate) fn single(obs: &Observation) -> Self {
        Self {
            groups: vec![Group {
                x: obs.frequency(),
                w: 1.0,
                rows: vec![Row {
                    tx: obs.recency(),
                    t: obs.t(),
                    w: 1.0,
                }],
            }],
        }
    }
}
