//! What the report shows: plain data, filled by [`gather`](fn@super::gather::gather)
//! from the event log and by the analytics crates (lifecycle, loyalty,
//! value, churn) through the public fields, then drawn by
//! [`render`](fn@super::render::render).

use serde::Serialize;

/// Everything on the report page. Every section may be empty: the page then
/// shows "not available yet" for it instead of a chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportData {
    /// The page title.
    pub title: String,
    /// The business time of the report (RFC 3339).
    pub as_of: String,
    /// The recorded time the report was drawn as of (RFC 3339), when not
    /// now: only events recorded by then were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// Headline counts shown under the title, e.g. `("customers", 2357)`.
    pub counts: Vec<(String, u64)>,
    /// Customers per lifecycle stage, in stage order (acquisition first).
    pub stage_funnel: Vec<(String, u64)>,
    /// Per period (e.g. `2024-03`), customers per stage.
    pub stage_flow: Vec<(String, Vec<(String, u64)>)>,
    /// Per acquisition cohort (month of first purchase, `1997-01`): the share
    /// of the cohort that purchased in period k after acquisition (k = 0 is
    /// the acquisition month, always 1); `None` for periods after `as_of`.
    pub cohort_retention: Vec<(String, Vec<Option<f64>>)>,
    /// Customers per cohort, in the order of `cohort_retention`.
    pub cohort_sizes: Vec<(String, u64)>,
    /// Customers per loyalty tier, in tier order.
    pub loyalty_tiers: Vec<(String, u64)>,
    /// Customers per RFM segment.
    pub rfm_segments: Vec<(String, u64)>,
    /// One churn-risk score per active customer (probabilities in 0..=1).
    pub risk_scores: Vec<f64>,
    /// Backtest lift per risk decile (1 = riskiest tenth): churn rate of the
    /// decile over the overall churn rate.
    pub backtest_lift: Vec<(u32, f64)>,
    /// Free-text notes shown at the end (what is missing, caveats).
    pub notes: Vec<String>,
}

impl ReportData {
    /// An empty report with a title and an as-of time.
    pub fn new(title: impl Into<String>, as_of: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            as_of: as_of.into(),
            ..Self::default()
        }
    }
}
