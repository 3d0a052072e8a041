//! What the report shows: plain data, filled by [`gather`](fn@super::gather::gather)
//! from the event log and by the analytics crates (lifecycle, loyalty,
//! value, churn, complaint) through the public fields, then drawn by
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
    /// The complaint desk's figures (as `clientele complaints` gives them);
    /// `None` when they were not computed.
    pub complaints: Option<ComplaintDesk>,
    /// Free-text notes shown at the end (what is missing, caveats).
    pub notes: Vec<String>,
}

/// The complaint desk as of the report's time: the figures of all
/// complaints, of each category and of each recent month, and the churn
/// background to read the churned-after rates against (definitions:
/// `docs/complaints.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComplaintDesk {
    /// Every complaint received by the report's time (`name` is empty).
    pub all: ComplaintGroup,
    /// One group per category, most complaints first; complaints without a
    /// category are the group `(no category)`. Empty when there is no
    /// complaint.
    pub by_category: Vec<ComplaintGroup>,
    /// One group per calendar month of receipt (UTC; `name` is the month,
    /// `2024-03`): the last 12 months with complaints, oldest first (months
    /// without a complaint are left out, as `clientele complaints` leaves
    /// them out of its table by month received). Empty when there is no
    /// complaint.
    pub by_month: Vec<ComplaintGroup>,
    /// How long after a complaint a churn counts as following it, in days.
    pub churn_window_days: u32,
    /// The chance that a customer without a complaint churns within the
    /// window, at their churn rate per day at risk (`None`: no customer
    /// without a complaint was at risk).
    pub churn_in_window_without_complaint: Option<f64>,
}

/// The figures of a group of complaints (all of them, one category, or one
/// month of receipt).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComplaintGroup {
    /// The category, as people read it (or the month, `2024-03`).
    pub name: String,
    /// Complaints received.
    pub complaints: u64,
    /// Not settled yet (archived, under the default policy).
    pub open: u64,
    /// Not answered, past the reply deadline (24 h).
    pub overdue: u64,
    /// Answered in time ÷ (in time + late + overdue); `None` when nothing
    /// was answered or overdue yet.
    pub in_time_rate: Option<f64>,
    /// The median hours from receipt to the answer (`None`: none answered).
    pub median_hours_to_answer: Option<f64>,
    /// Complaints whose churn window has closed.
    pub churn_observed: u64,
    /// Of those, how many the customer's churn followed within the window.
    pub churned_after: u64,
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
