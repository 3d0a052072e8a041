//! The complaint desk as of a time: each complaint's status against the reply
//! rule, the work queue, and the desk's figures (reply times, the 24 h rule
//! met or missed, by category and by accountable owner, and how often a
//! churn followed).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clientele_core::event::{Channel, ComplaintStep, Severity};
use clientele_core::projection::AsOf;
use clientele_core::CustomerId;
use serde::Serialize;

use crate::error::Result;
use crate::policy::ComplaintPolicy;
use crate::state::{time, ComplaintBook, ComplaintRecord};

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;
const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Where a complaint stands against the reply rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Not answered, and the deadline has passed.
    Overdue,
    /// Not answered yet; the deadline has not passed (or there is none).
    Waiting,
    /// Answered after the deadline.
    Late,
    /// Answered by the deadline (or answered, when there is none).
    InTime,
}

impl Reply {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overdue => "overdue",
            Self::Waiting => "waiting",
            Self::Late => "late",
            Self::InTime => "in_time",
        }
    }

    /// Whether the complaint has been answered.
    pub fn is_answered(self) -> bool {
        matches!(self, Self::Late | Self::InTime)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One complaint as the desk sees it at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintStatus {
    /// The customer.
    pub customer: CustomerId,
    /// The complaint id.
    pub complaint: String,
    /// The furthest step recorded by the view's time.
    pub step: ComplaintStep,
    /// When it came in (its `received` step, else its first step recorded).
    pub received_at: DateTime<Utc>,
    /// The reply deadline, when the policy sets one.
    pub deadline: Option<DateTime<Utc>>,
    /// When it was answered (reached the policy's answering step or a later one).
    pub answered_at: Option<DateTime<Utc>>,
    /// Hours from receipt to the answer.
    pub hours_to_answer: Option<f64>,
    /// Against the reply rule.
    pub reply: Reply,
    /// Hours past the deadline: until the answer (late), or until the view's
    /// time (overdue).
    pub hours_past_deadline: Option<f64>,
    /// When it was settled (reached the policy's settling step or a later one).
    pub settled_at: Option<DateTime<Utc>>,
    /// Days from receipt to settling.
    pub days_to_settle: Option<f64>,
    /// Type of complaint, as last given.
    pub category: Option<String>,
    /// Severity, as last given.
    pub severity: Option<Severity>,
    /// The accountable person, as last given.
    pub owner: Option<String>,
    /// The channel it came through.
    pub channel: Option<Channel>,
    /// Whether customer interests were harmed.
    pub harms_customer_interest: bool,
    /// The customer's rating of the handling (1–5).
    pub feedback_rating: Option<u8>,
    /// Whether the customer churned explicitly within the policy's churn
    /// window after the complaint came in (by the view's time).
    pub churned_after: bool,
    /// Whether that window has closed by the view's time (only then does a
    /// complaint count in the churn-after rates).
    pub churn_window_closed: bool,
}

impl ComplaintStatus {
    /// The status of `record` (of `customer`, whose book is `book`) as of
    /// `as_of` under `policy`; `None` when it came in after `as_of`.
    ///
    /// The record may hold steps recorded after `as_of`: they are left out
    /// of the times and of the step, but the attributes are the latest
    /// folded. Fold the book as of `as_of` (as [`crate::Complaints`] does)
    /// for attributes as they stood then.
    pub fn of(
        customer: CustomerId,
        record: &ComplaintRecord,
        book: &ComplaintBook,
        policy: &ComplaintPolicy,
        as_of: DateTime<Utc>,
    ) -> Option<Self> {
        let now = as_of.timestamp_micros();
        let received = record.received_at(now)?;
        let step = record.step_at(now)?;
        let deadline = policy.reply_micros().map(|d| received.saturating_add(d));
        let answered = record.answered_at(policy, now);
        let settled = record.settled_at(policy, now);
        let (reply, past) = match (answered, deadline) {
            (Some(a), Some(d)) if a > d => (Reply::Late, Some(a.saturating_sub(d))),
            (Some(_), _) => (Reply::InTime, None),
            (None, Some(d)) if now > d => (Reply::Overdue, Some(now.saturating_sub(d))),
            (None, _) => (Reply::Waiting, None),
        };
        let window_end = received.saturating_add(policy.churn_window_micros());
        Some(Self {
            customer,
            complaint: record.id.clone(),
            step,
            received_at: time(received),
            deadline: deadline.map(time),
            answered_at: answered.map(time),
            hours_to_answer: answered.map(|a| a.saturating_sub(received) as f64 / MICROS_PER_HOUR),
            reply,
            hours_past_deadline: past.map(|p| p as f64 / MICROS_PER_HOUR),
            settled_at: settled.map(time),
            days_to_settle: settled.map(|s| s.saturating_sub(received) as f64 / MICROS_PER_DAY),
            category: record.category.clone(),
            severity: record.severity.clone(),
            owner: record.owner.clone(),
            channel: record.channel.clone(),
            harms_customer_interest: record.harms_customer_interest,
            feedback_rating: record.feedback_rating,
            churned_after: book.churned_between(received, window_end.min(now)),
            churn_window_closed: window_end <= now,
        })
    }

    /// Whether it is still on the desk (not settled).
    pub fn is_open(&self) -> bool {
        self.settled_at.is_none()
    }
}

/// Median and 90th percentile of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// How many.
    pub count: u64,
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The 90th percentile (nearest rank).
    pub p90: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
        let median = if n % 2 == 1 {
            at(n / 2)
        } else {
            (at(n / 2 - 1) + at(n / 2)) / 2.0
        };
        // Nearest rank: the smallest value with at least 90 % at or below it.
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Self {
            count: n as u64,
            median,
            p90: at(rank - 1),
        })
    }
}

/// The figures of a group of complaints (all of them, a category, an owner).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The group's key (`None` for complaints that give none).
    pub key: Option<String>,
    /// Complaints received by the view's time.
    pub complaints: u64,
    /// Not settled yet (`waiting + overdue + answered_open`).
    pub open: u64,
    /// Answered but not settled yet.
    pub answered_open: u64,
    /// Not answered yet, deadline not passed.
    pub waiting: u64,
    /// Not answered, deadline passed.
    pub overdue: u64,
    /// Answered by the deadline.
    pub in_time: u64,
    /// Answered after the deadline.
    pub late: u64,
    /// `in_time ÷ (in_time + late + overdue)`: of the complaints whose
    /// deadline has passed or that were answered, the share answered in time.
    pub in_time_rate: Option<f64>,
    /// Hours from receipt to the answer.
    pub hours_to_answer: Option<Spread>,
    /// Days from receipt to settling.
    pub days_to_settle: Option<Spread>,
    /// Complaints the customer rated.
    pub rated: u64,
    /// Their mean rating (1–5).
    pub mean_rating: Option<f64>,
    /// Complaints that harmed customer interests.
    pub harmed: u64,
    /// Complaints whose churn window has closed.
    pub churn_observed: u64,
    /// Of those, how many the customer's explicit churn followed within the window.
    pub churned_after: u64,
    /// `churned_after ÷ churn_observed`.
    pub churned_after_rate: Option<f64>,
}

impl Figures {
    fn of<'a>(key: Option<String>, statuses: impl Iterator<Item = &'a ComplaintStatus>) -> Self {
        let mut f = Self {
            key,
            complaints: 0,
            open: 0,
            answered_open: 0,
            waiting: 0,
            overdue: 0,
            in_time: 0,
            late: 0,
            in_time_rate: None,
            hours_to_answer: None,
            days_to_settle: None,
            rated: 0,
            mean_rating: None,
            harmed: 0,
            churn_observed: 0,
            churned_after: 0,
            churned_after_rate: None,
        };
        let (mut answer, mut settle, mut ratings) = (Vec::new(), Vec::new(), 0u64);
        for s in statuses {
            f.complaints += 1;
            f.open += u64::from(s.is_open());
            f.answered_open += u64::from(s.is_open() && s.reply.is_answered());
            match s.reply {
                Reply::Overdue => f.overdue += 1,
                Reply::Waiting => f.waiting += 1,
                Reply::Late => f.late += 1,
                Reply::InTime => f.in_time += 1,
            }
            answer.extend(s.hours_to_answer);
            settle.extend(s.days_to_settle);
            if let Some(r) = s.feedback_rating {
                f.rated += 1;
                ratings += u64::from(r);
            }
            f.harmed += u64::from(s.harms_customer_interest);
            if s.churn_window_closed {
                f.churn_observed += 1;
                f.churned_after += u64::from(s.churned_after);
            }
        }
        f.in_time_rate = ratio(f.in_time, f.in_time + f.late + f.overdue);
        f.hours_to_answer = Spread::of(answer);
        f.days_to_settle = Spread::of(settle);
        f.mean_rating = ratio(ratings, f.rated);
        f.churned_after_rate = ratio(f.churned_after, f.churn_observed);
        f
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Complaints by the furthest step they reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepCount {
    /// The step.
    pub step: ComplaintStep,
    /// How many complaints stand there.
    pub complaints: u64,
}

/// The desk as of a time: every complaint's status, and the figures.
///
/// Serialised flat: the figures' fields sit beside `as_of`, `policy` and
/// `complaints`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskReport {
    /// The view's business time.
    pub as_of: DateTime<Utc>,
    /// The view's recorded time: only events the log held then (None: all).
    pub known_at: Option<DateTime<Utc>>,
    /// The policy applied.
    pub policy: ComplaintPolicy,
    /// The figures over every complaint received by the view's time.
    #[serde(flatten)]
    pub figures: DeskFigures,
    /// Every complaint received by the view's time, in the desk's order (see
    /// [`DeskReport::queue`]).
    pub complaints: Vec<ComplaintStatus>,
}

/// The desk's figures as of a time: everything a [`DeskReport`] says but
/// the list of complaints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeskFigures {
    /// Customers with an event by the view's time.
    pub customers: u64,
    /// Of those, customers with a complaint.
    pub complainants: u64,
    /// `complainants ÷ customers`: the complaint rate (客户投诉率, 003 L186).
    pub complaint_rate: Option<f64>,
    /// Customers who churned explicitly by the view's time, among those
    /// without a complaint.
    pub churned_without_complaint: u64,
    /// `churned_without_complaint ÷ (customers − complainants)`: over each
    /// customer's whole history, not over a window.
    pub churn_rate_without_complaint: Option<f64>,
    /// Days those customers were at risk: from their first event to their
    /// first churn, or to the view's time.
    pub days_at_risk_without_complaint: f64,
    /// The background against which the `churned_after` rates read: the
    /// chance that a customer without a complaint churns within the churn
    /// window, at their churn rate per day at risk (a constant rate:
    /// `1 − exp(−churned ÷ days at risk × window days)`).
    pub churn_in_window_without_complaint: Option<f64>,
    /// Every complaint.
    pub all: Figures,
    /// By furthest step, in workflow order (steps no complaint stands at left out).
    pub by_step: Vec<StepCount>,
    /// By category, most complaints first.
    pub by_category: Vec<Figures>,
    /// By accountable owner, most complaints first.
    pub by_owner: Vec<Figures>,
    /// By calendar month of receipt (UTC, keyed `2024-03`), oldest first:
    /// whether the desk improves (持续改进, 003 L53 §6.3.4). Months without
    /// a complaint are left out.
    pub by_month: Vec<Figures>,
}

impl DeskReport {
    /// The work queue: complaints not settled, overdue first (the longest
    /// overdue first), then those waiting for an answer (nearest deadline
    /// first), then the answered ones waiting to be settled (oldest first).
    pub fn queue(&self) -> impl Iterator<Item = &ComplaintStatus> {
        self.complaints.iter().filter(|s| s.is_open())
    }
}

/// Builds a [`DeskReport`] one customer at a time, so that a population walk
/// holds one book in memory (plus the complaints' statuses).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use clientele_complaint::{ComplaintPolicy, Desk, Reply};
/// use clientele_core::CustomerId;
///
/// let as_of = Utc.with_ymd_and_hms(2024, 6, 30, 0, 0, 0).unwrap();
/// let mut desk = Desk::new(ComplaintPolicy::default(), as_of)?;
/// desk.add(CustomerId::new_random(), &Default::default()); // a customer without events
/// let report = desk.finish();
/// assert_eq!((report.figures.customers, report.figures.all.complaints), (0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Desk {
    policy: ComplaintPolicy,
    as_of: DateTime<Utc>,
    known_at: Option<DateTime<Utc>>,
    customers: u64,
    complainants: u64,
    churned_without_complaint: u64,
    micros_at_risk: i128,
    statuses: Vec<ComplaintStatus>,
}

impl Desk {
    /// An empty desk as of `at` (a business time, or one as known at a
    /// recorded time) under `policy` (validated). The books added must be
    /// folded from the events in that view.
    ///
    /// # Errors
    /// [`crate::ComplaintError::InvalidPolicy`].
    pub fn new(policy: ComplaintPolicy, at: impl Into<AsOf>) -> Result<Self> {
        policy.validate()?;
        let at = at.into();
        Ok(Self {
            policy,
            as_of: at.occurred,
            known_at: at.known_at,
            customers: 0,
            complainants: 0,
            churned_without_complaint: 0,
            micros_at_risk: 0,
            statuses: Vec::new(),
        })
    }

    /// Adds one customer's book (folded as of the desk's time, or later).
    pub fn add(&mut self, customer: CustomerId, book: &ComplaintBook) {
        let now = self.as_of.timestamp_micros();
        let Some(first) = book.first_event().filter(|&t| t <= now) else {
            return;
        };
        self.customers += 1;
        let before = self.statuses.len();
        self.statuses.extend(
            book.complaints()
                .iter()
                .filter_map(|r| ComplaintStatus::of(customer, r, book, &self.policy, self.as_of)),
        );
        if self.statuses.len() > before {
            self.complainants += 1;
        } else {
            // At risk until the first churn (a win-back starts another
            // relationship, which this rate leaves out), or until now.
            let churn = book.churns().first().copied().filter(|&t| t <= now);
            self.churned_without_complaint += u64::from(churn.is_some());
            let until = churn.unwrap_or(now).max(first);
            self.micros_at_risk += i128::from(until) - i128::from(first);
        }
    }

    /// The report.
    pub fn finish(mut self) -> DeskReport {
        // The desk's order: overdue (longest first), waiting (nearest
        // deadline first), answered (oldest first); settled ones last.
        self.statuses.sort_by(|a, b| {
            let rank = |s: &ComplaintStatus| {
                let reply = match s.reply {
                    Reply::Overdue => 0,
                    Reply::Waiting => 1,
                    Reply::Late | Reply::InTime => 2,
                };
                (!s.is_open(), reply)
            };
            rank(a)
                .cmp(&rank(b))
                .then(a.deadline.cmp(&b.deadline))
                .then(a.received_at.cmp(&b.received_at))
                .then(a.customer.cmp(&b.customer))
                .then(a.complaint.cmp(&b.complaint))
        });
        let all = Figures::of(None, self.statuses.iter());
        let by_step = ComplaintStep::ALL
            .iter()
            .map(|&step| StepCount {
                step,
                complaints: self.statuses.iter().filter(|s| s.step == step).count() as u64,
            })
            .filter(|c| c.complaints > 0)
            .collect();
        let group = |key: fn(&ComplaintStatus) -> Option<&String>| {
            let mut groups: BTreeMap<Option<&String>, Vec<&ComplaintStatus>> = BTreeMap::new();
            for s in &self.statuses {
                groups.entry(key(s)).or_default().push(s);
            }
            let mut out: Vec<Figures> = groups
                .into_iter()
                .map(|(k, v)| Figures::of(k.cloned(), v.into_iter()))
                .collect();
            out.sort_by(|a, b| b.complaints.cmp(&a.complaints).then(a.key.cmp(&b.key)));
            out
        };
        let by_category = group(|s| s.category.as_ref());
        let by_owner = group(|s| s.owner.as_ref());
        let mut months: BTreeMap<String, Vec<&ComplaintStatus>> = BTreeMap::new();
        for s in &self.statuses {
            months
                .entry(s.received_at.format("%Y-%m").to_string())
                .or_default()
                .push(s);
        }
        let by_month = months
            .into_iter()
            .map(|(month, v)| Figures::of(Some(month), v.into_iter()))
            .collect();
        let others = self.customers - self.complainants;
        let days = self.micros_at_risk as f64 / MICROS_PER_DAY;
        let figures = DeskFigures {
            customers: self.customers,
            complainants: self.complainants,
            complaint_rate: ratio(self.complainants, self.customers),
            churned_without_complaint: self.churned_without_complaint,
            churn_rate_without_complaint: ratio(self.churned_without_complaint, others),
            days_at_risk_without_complaint: days,
            churn_in_window_without_complaint: (days > 0.0).then(|| {
                let per_day = self.churned_without_complaint as f64 / days;
                1.0 - (-per_day * f64::from(self.policy.churn_window_days)).exp()
            }),
            all,
            by_step,
            by_category,
            by_owner,
            by_month,
        };
        DeskReport {
            as_of: self.as_of,
            known_at: self.known_at,
            policy: self.policy,
            figures,
            complaints: self.statuses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The median and the 90th percentile lie within the values, in
        /// order, and do not depend on the order the values come in.
        #[test]
        fn spread_is_ordered_and_order_free(
            mut values in proptest::collection::vec(-1e6f64..1e6, 1..60),
            rotate in 0usize..60,
        ) {
            let s = Spread::of(values.clone()).expect("values");
            let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            proptest::prop_assert!(lo <= s.median && s.median <= s.p90 && s.p90 <= hi, "{:?}", s);
            proptest::prop_assert_eq!(s.count as usize, values.len());
            // At least 90 % of the values lie at or below the p90, and
            // fewer below any smaller value among them.
            let n = values.len();
            let at_or_below = values.iter().filter(|&&v| v <= s.p90).count();
            proptest::prop_assert!(10 * at_or_below >= 9 * n, "{} of {}", at_or_below, n);
            let strictly_below = values.iter().filter(|&&v| v < s.p90).count();
            proptest::prop_assert!(10 * strictly_below < 9 * n, "{} of {}", strictly_below, n);
            let k = rotate % n;
            values.rotate_left(k);
            proptest::prop_assert_eq!(Spread::of(values), Some(s));
        }
    }

    #[test]
    fn spread_uses_the_middle_and_the_nearest_rank() {
        let s = Spread::of(vec![5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.count, s.median, s.p90), (3, 3.0, 5.0));
        let s = Spread::of((1..=10).map(f64::from).collect()).unwrap();
        assert_eq!((s.median, s.p90), (5.5, 9.0));
        let s = Spread::of(vec![2.0]).unwrap();
        assert_eq!((s.median, s.p90), (2.0, 2.0));
        assert!(Spread::of(Vec::new()).is_none());
    }
}
