//! The analytics crates (loyalty, value, churn, lifecycle, complaint) as the
//! CLI uses them: projections opened and caught up on a writable store, the
//! customer report's sections, the report page's data, and `stats`.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration};
use clientele_churn::{ChurnProjection, ChurnState, ModelContext, RiskPolicy};
use clientele_complaint::{ComplaintPolicy, Complaints, DeskReport, Figures};
use clientele_core::projection::{fold, AsOf, Projector};
use clientele_core::Store;
use clientele_lifecycle::{Lifecycle, LifecyclePolicy, Stage};
use clientele_loyalty::{Loyalty, LoyaltyPolicy};
use clientele_value::{historic_value, RfmCurrency, TimeUnit, Value};

use crate::commands::customer::{CustomerSection, SectionInput, SectionOutput};
use crate::commands::lifecycle::{
    describe_cause, describe_matter, describe_reason, referenced_events,
};
use crate::error::{CliError, CliResult};
use crate::report::{ComplaintDesk, ComplaintGroup, ReportData};

/// The result of a scoped thread doing `doing` (an error if it panicked).
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, CliResult<T>>, doing: &str) -> CliResult<T> {
    handle
        .join()
        .map_err(|_| failed(doing, "its thread stopped unexpectedly"))?
}

fn failed(doing: &str, e: impl std::fmt::Display) -> CliError {
    CliError::runtime(
        format!("{doing}: {e}"),
        "run `clientele verify`; `clientele rebuild` rebuilds the projections",
    )
}

/// The projections `clientele rebuild` knows, in rebuild order.
pub const PROJECTIONS: [&str; 6] = [
    "lifecycle",
    "loyalty",
    "value",
    "churn",
    "complaint",
    "identifiers",
];

/// Every projection of the engine, caught up on `store` (which must be writable).
pub struct Analytics {
    /// Lifecycle stages.
    pub lifecycle: Lifecycle,
    /// Loyalty scores.
    pub loyalty: Loyalty,
    /// Customer value.
    pub value: Value,
    /// Churn states.
    pub churn: Projector<ChurnProjection>,
    /// The complaint desk.
    pub complaints: Complaints,
}

impl Analytics {
    /// Opens and catches up every projection.
    pub fn open(store: &Store) -> CliResult<Self> {
        let mut lifecycle = Lifecycle::open(store, LifecyclePolicy::default())
            .map_err(|e| failed("lifecycle", e))?;
        lifecycle.catch_up().map_err(|e| failed("lifecycle", e))?;
        let mut loyalty =
            Loyalty::open(store, LoyaltyPolicy::default()).map_err(|e| failed("loyalty", e))?;
        loyalty.catch_up().map_err(|e| failed("loyalty", e))?;
        let mut value = Value::open(store).map_err(|e| failed("value", e))?;
        value.catch_up().map_err(|e| failed("value", e))?;
        let mut churn = Projector::open(store, ChurnProjection).map_err(|e| failed("churn", e))?;
        churn.catch_up().map_err(|e| failed("churn", e))?;
        let mut complaints = Complaints::open(store).map_err(|e| failed("complaints", e))?;
        complaints.catch_up().map_err(|e| failed("complaints", e))?;
        Ok(Self {
            lifecycle,
            loyalty,
            value,
            churn,
            complaints,
        })
    }

    /// Rebuilds every projection (or the one named) from zero: each one's
    /// name, the log position reached and the seconds it took.
    pub fn rebuild(store: &Store, which: Option<&str>) -> CliResult<Vec<(String, u64, f64)>> {
        if let Some(name) = which {
            if !PROJECTIONS.contains(&name) {
                return Err(CliError::usage(
                    format!("unknown projection {name:?}"),
                    format!("one of: {}", PROJECTIONS.join(", ")),
                ));
            }
        }
        let mut done = Vec::new();
        for name in PROJECTIONS {
            if which.is_some_and(|w| w != name) {
                continue;
            }
            let started = std::time::Instant::now();
            let position = match name {
                "lifecycle" => Lifecycle::open(store, LifecyclePolicy::default())
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
                "loyalty" => Loyalty::open(store, LoyaltyPolicy::default())
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
                "value" => Projector::open(store, clientele_value::ValueProjection)
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
                "churn" => Projector::open(store, ChurnProjection)
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
                "complaint" => clientele_complaint::Complaints::open(store)
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
                _ => Projector::open(store, crate::identity::Identifiers::default())
                    .and_then(|mut p| p.rebuild())
                    .map_err(|e| failed(name, e))?,
            };
            done.push((name.to_owned(), position, started.elapsed().as_secs_f64()));
        }
        Ok(done)
    }

    /// The population model and a churn model context as of `at`: fitted on
    /// the population as of its business time, as the log knew it at its
    /// recorded time if it has one.
    pub fn churn_model(&self, at: AsOf, horizon_days: i64) -> CliResult<ModelContext> {
        Ok(ModelContext::fitted(
            &self.churn_states(at)?,
            at.occurred,
            horizon_days,
        ))
    }

    /// Every customer's churn state as of `at`.
    fn churn_states(&self, at: AsOf) -> CliResult<Vec<ChurnState>> {
        let mut out = Vec::new();
        self.churn
            .for_each_state_in(at, |_, state| {
                out.push(state);
                Ok::<_, clientele_core::Error>(())
            })
            .map_err(|e| failed("churn", e))?;
        Ok(out)
    }

    /// Fills the report's stage, loyalty, RFM, risk, lift and complaint
    /// sections as of `at`: its business time and, when it has one, its
    /// recorded time (the report as it would have been drawn then).
    pub fn enrich(&self, at: impl Into<AsOf>, data: &mut ReportData) -> CliResult<()> {
        let at = at.into();
        let as_of = at.occurred;
        // Stage flow: the distribution at the end of each of the last 12
        // months: the last second of the calendar months 11 to 1 before
        // as-of's, then as-of itself for its own, possibly partial, month.
        let mut flow_times = Vec::new();
        for k in (1..12u32).rev() {
            let first_of_next = as_of
                .date_naive()
                .with_day(1)
                .and_then(|d| d.checked_sub_months(chrono::Months::new(k - 1)))
                .and_then(|d| d.and_hms_opt(0, 0, 0));
            if let Some(next) = first_of_next {
                flow_times.push(next.and_utc() - Duration::seconds(1));
            }
        }
        flow_times.push(as_of);
        // The population walks run side by side, each replaying the
        // population for a past view: stages and complaints, loyalty and
        // RFM, and churn (scores and the backtest) on this thread.
        let policy = RiskPolicy::default();
        let frozen_at = as_of - Duration::days(91);
        let (dists, desk, (tiers, segments), (risks, backtest)) = std::thread::scope(|scope| {
            let stages_and_desk = scope.spawn(|| {
                // One pass over the population for the twelve month ends; the
                // last is as-of, which the funnel shows.
                let dists = match at.known_at {
                    Some(known_at) => self
                        .lifecycle
                        .stage_distributions_known_at(&flow_times, known_at),
                    None => self.lifecycle.stage_distributions(&flow_times),
                }
                .map_err(|e| failed("stage distribution", e))?;
                let desk = self
                    .complaints
                    .desk(ComplaintPolicy::default(), at)
                    .map_err(|e| failed("complaints", e))?;
                Ok::<_, CliError>((dists, desk))
            });
            let loyalty_and_rfm = scope.spawn(|| {
                let tiers = self
                    .loyalty
                    .tier_counts(at)
                    .map_err(|e| failed("loyalty tiers", e))?;
                let mut segments: Option<BTreeMap<String, u64>> = None;
                let overview = self
                    .value
                    .overview(at, RfmCurrency::Dominant)
                    .map_err(|e| failed("RFM", e))?;
                if overview.rfm_currency.is_some() {
                    let counts = segments.get_or_insert_with(BTreeMap::new);
                    for (_, s) in &overview.rfm {
                        *counts.entry(json_name(&s.segment)).or_default() += 1;
                    }
                }
                Ok::<_, CliError>((tiers, segments))
            });
            let churn = (|| {
                // The population is read once: for the model, then for the scores.
                let states = self.churn_states(at)?;
                let model = ModelContext::fitted(&states, as_of, RISK_HORIZON_DAYS);
                let risks: Vec<f64> = states
                    .iter()
                    .filter(|s| s.first_seen.is_some() && s.churned_at.is_none())
                    .map(|s| policy.score(s, as_of, &model).risk)
                    .collect();
                drop(states);
                // Lift of a backtest that ends at the report's time: frozen
                // 13 weeks earlier.
                let frozen = AsOf {
                    occurred: frozen_at,
                    known_at: at.known_at,
                };
                let backtest = clientele_churn::backtest(&self.churn, &policy, frozen, 91)
                    .map_err(|e| failed("backtest", e))?;
                Ok::<_, CliError>((risks, backtest))
            })();
            let (dists, desk) = joined(stages_and_desk, "stage distribution")?;
            Ok::<_, CliError>((
                dists,
                desk,
                joined(loyalty_and_rfm, "loyalty tiers")?,
                churn?,
            ))
        })?;
        let dist = dists.last().cloned().unwrap_or_default();
        data.stage_funnel = Stage::ALL
            .iter()
            .map(|s| (s.to_string(), dist.count(*s)))
            .collect();
        let mut flow = Vec::new();
        for (t, d) in flow_times.iter().zip(&dists) {
            if d.total > 0 {
                flow.push((
                    t.format("%Y-%m").to_string(),
                    Stage::ALL
                        .iter()
                        .map(|s| (s.to_string(), d.count(*s)))
                        .collect(),
                ));
            }
        }
        data.stage_flow = flow;
        // Lowest to highest, as the loyalty policy defines them (not alphabetical).
        data.loyalty_tiers = tiers_in_order(self.loyalty.policy(), &tiers);
        if let Some(segments) = segments {
            data.rfm_segments = segments.into_iter().collect();
        }
        data.risk_scores = risks;
        if let Some(auc) = backtest.auc {
            data.backtest_lift = backtest
                .lift
                .iter()
                .map(|d| (d.decile as u32, d.lift))
                .collect();
            data.notes.push(format!(
                "Backtest: frozen at {}, 13-week horizon, AUC {auc:.3} over {} ({:.0} % churned).",
                frozen_at.format("%Y-%m-%d"),
                crate::output::count(backtest.customers, "customer"),
                100.0 * backtest.churn_rate
            ));
        }
        data.complaints = Some(complaint_desk(&desk));
        Ok(())
    }
}

/// Months in the report's complaints by month: the last year of months
/// with complaints, as `clientele complaints` prints them.
const COMPLAINT_MONTHS: usize = 12;

/// The report's complaint sections from the desk: the figures of every
/// complaint, of each category and of each of the last 12 months with
/// complaints, as `clientele complaints` prints them.
pub fn complaint_desk(desk: &DeskReport) -> ComplaintDesk {
    let group = |f: &Figures| ComplaintGroup {
        name: f.key.clone().unwrap_or_else(|| "(no category)".into()),
        complaints: f.complaints,
        open: f.open,
        overdue: f.overdue,
        in_time_rate: f.in_time_rate,
        median_hours_to_answer: f.hours_to_answer.map(|s| s.median),
        churn_observed: f.churn_observed,
        churned_after: f.churned_after,
    };
    ComplaintDesk {
        all: ComplaintGroup {
            name: String::new(),
            ..group(&desk.figures.all)
        },
        by_category: desk.figures.by_category.iter().map(group).collect(),
        by_month: desk
            .figures
            .by_month
            .iter()
            .skip(desk.figures.by_month.len().saturating_sub(COMPLAINT_MONTHS))
            .map(group)
            .collect(),
        churn_window_days: desk.policy.churn_window_days,
        churn_in_window_without_complaint: desk.figures.churn_in_window_without_complaint,
    }
}

fn unavailable() -> Option<SectionOutput> {
    Some(SectionOutput {
        data: serde_json::Value::Null,
        lines: vec![
            "not available: the store is open read-only (another process writes to it)".into(),
        ],
    })
}

/// `stage` in the customer report.
pub struct StageSection;

impl CustomerSection for StageSection {
    fn key(&self) -> &'static str {
        "stage"
    }
    fn title(&self) -> &'static str {
        "Lifecycle stage"
    }
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let Some(analytics) = input.analytics else {
            return Ok(unavailable());
        };
        let lifecycle = &analytics.lifecycle;
        let view = match input.known_at {
            Some(r) => lifecycle.view_known_at(input.customer, input.as_of, r),
            None => lifecycle.view(input.customer, input.as_of),
        }
        .map_err(|e| failed("stage", e))?;
        let Some(view) = view else { return Ok(None) };
        let mut lines = vec![format!(
            "{}{} since {}",
            view.stage,
            if view.exit_pending {
                " (exit pending: matters still open)"
            } else {
                ""
            },
            view.since.format("%Y-%m-%d")
        )];
        for r in &view.reasons {
            lines.push(format!("because: {}", describe_reason(r)));
        }
        for m in &view.open_matters {
            lines.push(format!("open: {}", describe_matter(m)));
        }
        if let Some(change) = &view.last_change {
            let references = referenced_events(input.events, &[change]);
            lines.push(format!(
                "last change: {}",
                describe_cause(&change.cause, &references)
            ));
        }
        lines.push("history with reasons: `clientele explain <customer>`".into());
        Ok(Some(SectionOutput {
            data: to_json(&view)?,
            lines,
        }))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> CliResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| failed("rendering a section", e))
}

/// `loyalty` in the customer report: the customer's events in the view
/// (as of, known at) folded afresh, referral conversions from the population.
pub struct LoyaltySection;

impl CustomerSection for LoyaltySection {
    fn key(&self) -> &'static str {
        "loyalty"
    }
    fn title(&self) -> &'static str {
        "Loyalty"
    }
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let Some(analytics) = input.analytics else {
            return Ok(unavailable());
        };
        if input.events.is_empty() {
            return Ok(None);
        }
        let loyalty = &analytics.loyalty;
        let state = fold(loyalty.projection(), input.events.iter());
        let converted = loyalty
            .converted_referrals(&state, input.at())
            .map_err(|e| failed("loyalty", e))?;
        let score = loyalty.projection().score(&state, input.as_of, converted);
        let mut lines = vec![format!("{:.1} / 100 ({})", score.score, score.tier.name)];
        // The components that move the score most, penalties included.
        let mut components: Vec<_> = score.components.iter().collect();
        components.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        for c in components.iter().filter(|c| c.contribution != 0.0).take(5) {
            lines.push(format!("{:+.1}  {}", c.contribution, c.detail));
        }
        Ok(Some(SectionOutput {
            data: to_json(&score)?,
            lines,
        }))
    }
}

/// `value` and churn `risk` in the customer report: the customer's events in
/// the view folded afresh; the population model fitted as of the view's time.
pub struct ValueRiskSection;

impl ValueRiskSection {
    /// The customer's subscription in `currency` as of the view, with the
    /// sBG's view of it (None: no bill by then). The model is fitted on the
    /// population only for a subscriber still paying.
    fn subscriber(
        &self,
        analytics: &Analytics,
        input: &SectionInput<'_>,
        state: &clientele_value::ValueState,
        currency: &str,
    ) -> CliResult<Option<SubscriberView>> {
        let lapse = clientele_value::DEFAULT_LAPSE_DAYS;
        let Some(subscription) = clientele_value::subscription(state, currency, input.as_of, lapse)
        else {
            return Ok(None);
        };
        let mut view = SubscriberView {
            subscription,
            renewal: None,
            residual_value: None,
            discount_per_period: DISCOUNT_PER_PERIOD,
        };
        if !subscription.lapsed {
            let fits = analytics
                .value
                .fit_subscriptions(input.at(), currency, lapse)
                .map_err(|e| failed("the subscribers' model", e))?;
            if let Ok(fit) = &fits.sbg {
                let bills = subscription.bills;
                view.renewal = fit.params.retention_rate(bills).ok();
                view.residual_value = fit
                    .params
                    .derl(DISCOUNT_PER_PERIOD, bills.saturating_sub(1))
                    .ok()
                    .map(|periods| periods * subscription.mean_bill() as f64);
            }
        }
        Ok(Some(view))
    }
}

impl CustomerSection for ValueRiskSection {
    fn key(&self) -> &'static str {
        "value"
    }
    fn title(&self) -> &'static str {
        "Value and churn risk"
    }
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let Some(analytics) = input.analytics else {
            return Ok(unavailable());
        };
        if input.events.is_empty() {
            return Ok(None);
        }
        let state = fold(&clientele_value::ValueProjection, input.events.iter());
        // The customer's own main currency by the view's time; for one who
        // has not bought yet, the population's then.
        let currency = match state.main_currency(input.as_of) {
            Some(currency) => currency.to_owned(),
            None => analytics
                .value
                .dominant_currency(input.at())
                .map_err(|e| failed("value", e))?
                .unwrap_or_else(|| "CNY".into()),
        };
        let history = historic_value(&state, &currency, input.as_of);
        // Two population reads — the churn model's and, for a paying
        // subscriber, the subscribers' model's — side by side: each replays
        // the population for a past view.
        let (model, subscriber) = std::thread::scope(|scope| {
            let subscriber = scope.spawn(|| self.subscriber(analytics, input, &state, &currency));
            let model = analytics.churn_model(input.at(), RISK_HORIZON_DAYS);
            Ok::<_, CliError>((model?, joined(subscriber, "the subscribers' model")?))
        })?;
        let churn_state = fold(&ChurnProjection, input.events.iter());
        let risk = RiskPolicy::default().score(&churn_state, input.as_of, &model);
        let summary = state.summary(&currency, input.as_of, TimeUnit::Weeks);
        let minor = 10f64.powi(i32::from(
            currency
                .parse::<clientele_core::Currency>()
                .map(|c| c.minor_unit_exponent())
                .unwrap_or(2),
        ));
        let over = if history.bills > 0 {
            format!(
                "{} and {} ({} {currency} billed)",
                crate::output::count(history.orders, "order"),
                crate::output::count(history.bills, "bill"),
                money(history.billed as f64, minor),
            )
        } else {
            crate::output::count(history.orders, "order")
        };
        let mut lines = vec![format!(
            "historic value: {} {currency} net over {over}",
            money(history.net as f64, minor),
        )];
        lines.push(format!(
            "churn risk {:.2} over the next {}",
            risk.risk,
            crate::output::count(RISK_HORIZON_DAYS / 7, "week")
        ));
        if let (true, Some(until)) = (risk.signals.covered(), risk.signals.cover_until) {
            // Say why silence does not count (docs/churn.md, "Cover").
            lines.push(format!(
                "  covered until {until}: time since the last purchase does not count"
            ));
        } else if let (true, Some(days)) = (risk.signals.paying, risk.signals.days_since_last_bill)
        {
            lines.push(format!(
                "  paying (last bill {} ago): time since the last purchase does not count",
                crate::output::count(days as i64, "day")
            ));
        }
        for r in risk.reasons.iter().filter(|r| r.contribution > 0.0).take(3) {
            lines.push(format!("  {}", r.detail));
        }
        if let Some(s) = &subscriber {
            // Beside the historic value, before the risk.
            lines.insert(1, s.line(&currency, minor));
        }
        let data = serde_json::json!({
            "history": to_json(&history)?,
            "model_statistics": to_json(&summary)?,
            "risk": to_json(&risk)?,
            "subscription": to_json(&subscriber)?,
        });
        Ok(Some(SectionOutput { data, lines }))
    }
}

/// An amount in minor units (`minor` of them to the major unit) as the
/// customer view prints it: two decimals, thousands grouped.
fn money(minor_units: f64, minor: f64) -> String {
    crate::output::group_decimal(&format!("{:.2}", minor_units / minor))
}

/// The horizon of the churn risk shown by `customer` and the report (13 weeks).
pub const RISK_HORIZON_DAYS: i64 = 91;

/// The discount rate per billing period of a subscriber's expected residual
/// value (1 % a month is about 12.7 % a year).
pub const DISCOUNT_PER_PERIOD: f64 = 0.01;

/// A subscriber in the customer view: their bills and, from the sBG fitted
/// on every subscriber as of the view, the chance they renew and the
/// discounted value of the bills still to come.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriberView {
    /// The customer's bills.
    pub subscription: clientele_value::Subscription,
    /// The chance to pay the next bill (the sBG retention rate after this
    /// many bills); None if the fit failed or the subscriber lapsed.
    pub renewal: Option<f64>,
    /// Expected residual value: the mean bill × DERL at
    /// [`DISCOUNT_PER_PERIOD`], in minor units; None as for `renewal`.
    pub residual_value: Option<f64>,
    /// The discount rate per period used.
    pub discount_per_period: f64,
}

impl SubscriberView {
    fn line(&self, currency: &str, minor: f64) -> String {
        let s = &self.subscription;
        let mut line = format!(
            "subscriber: {}, mean {} {currency}",
            crate::output::count(s.bills, "bill"),
            money(s.mean_bill() as f64, minor)
        );
        if s.lapsed {
            line.push_str(&format!(", lapsed (the last on {})", s.last_bill));
        } else if let (Some(r), Some(v)) = (self.renewal, self.residual_value) {
            line.push_str(&format!(
                "; renews with {:.1} % chance, expected residual value {} {currency} (sBG, {:.0} % a bill)",
                100.0 * r,
                money(v, minor),
                100.0 * self.discount_per_period
            ));
        }
        line
    }
}

/// Population statistics for `stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// As-of.
    pub as_of: String,
    /// The recorded time the figures are as known at (absent: everything
    /// recorded so far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// Customers per lifecycle stage.
    pub stages: BTreeMap<String, u64>,
    /// Of those in exit, with matters still open.
    pub exit_pending: u64,
    /// Customers per loyalty tier.
    pub loyalty_tiers: BTreeMap<String, u64>,
    /// Customers per RFM segment.
    pub rfm_segments: BTreeMap<String, u64>,
    /// The currency RFM segments are computed in (the store's main one).
    pub rfm_currency: Option<String>,
    /// Revenue per currency, net of refunds: an exact decimal string.
    pub revenue: BTreeMap<String, String>,
    /// Customers with an event by as-of.
    pub customers: u64,
    /// The complaint desk's headline figures under the default policy
    /// (absent: no complaint by as-of); `clientele complaints` has the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaints: Option<ComplaintStats>,
}

/// The complaint desk in `stats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ComplaintStats {
    /// The reply deadline in hours (None: no deadline).
    pub reply_hours: Option<u32>,
    /// Complaints received by as-of.
    pub complaints: u64,
    /// Not settled yet.
    pub open: u64,
    /// Unanswered past the deadline.
    pub overdue: u64,
    /// Answered in time ÷ (in time + late + overdue).
    pub in_time_rate: Option<f64>,
    /// Median hours from receipt to the answer.
    pub median_hours_to_answer: Option<f64>,
}

/// Tier counts in the policy's tier order, lowest first (every tier of the
/// policy, zero if empty; names the policy does not know last).
pub fn tiers_in_order(
    policy: &LoyaltyPolicy,
    counts: &BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut names: Vec<&str> = policy.tiers.iter().map(|t| t.name.as_str()).collect();
    for name in counts.keys() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|n| (n.to_owned(), counts.get(n).copied().unwrap_or(0)))
        .collect()
}

impl Stats {
    /// Loyalty tiers, highest first (as the default policy orders them).
    pub fn tiers_in_order(&self) -> Vec<(String, u64)> {
        let policy = LoyaltyPolicy::default();
        let mut tiers = tiers_in_order(&policy, &self.loyalty_tiers);
        let known = policy.tiers.len().min(tiers.len());
        tiers[..known].reverse();
        tiers
    }
}

/// Computes `stats`: opens and catches up the projections first.
pub fn stats(store: &Store, at: AsOf) -> CliResult<Stats> {
    Analytics::open(store)?.stats(at)
}

impl Analytics {
    /// Population statistics as of `at` (with a recorded time: as the log
    /// knew them then).
    pub fn stats(&self, at: impl Into<AsOf>) -> CliResult<Stats> {
        let a = self;
        let at = at.into();
        let as_of = at.occurred;
        // Four population walks (stages, loyalty tiers, complaints, revenue
        // and RFM),
        // side by side: each replays the population for a past view.
        let (dist, loyalty_tiers, desk, (rfm_currency, overview)) = std::thread::scope(|scope| {
            let stages = scope.spawn(|| {
                match at.known_at {
                    Some(known_at) => a.lifecycle.stage_distribution_known_at(as_of, known_at),
                    None => a.lifecycle.stage_distribution(as_of),
                }
                .map_err(|e| failed("stages", e))
            });
            let tiers = scope.spawn(|| a.loyalty.tier_counts(at).map_err(|e| failed("loyalty", e)));
            let desk = scope.spawn(|| {
                a.complaints
                    .desk(ComplaintPolicy::default(), at)
                    .map_err(|e| failed("complaints", e))
            });
            let value = a
                .value
                .overview(at, RfmCurrency::Dominant)
                .map(|overview| (overview.rfm_currency.clone(), overview))
                .map_err(|e| failed("revenue and RFM", e));
            Ok::<_, CliError>((
                joined(stages, "stages")?,
                joined(tiers, "loyalty")?,
                joined(desk, "complaints")?,
                value?,
            ))
        })?;
        let mut rfm_segments = BTreeMap::new();
        for (_, s) in &overview.rfm {
            *rfm_segments.entry(json_name(&s.segment)).or_default() += 1;
        }
        let revenue = overview
            .revenue
            .into_iter()
            .map(|(currency, minor)| {
                let amount = currency
                    .parse::<clientele_core::Currency>()
                    .map(|c| {
                        clientele_core::Money::from_minor(minor, c)
                            .amount()
                            .to_string()
                    })
                    .unwrap_or_else(|_| minor.to_string());
                (currency, amount)
            })
            .collect();
        Ok(Stats {
            as_of: crate::output::timestamp(as_of),
            known_at: at.known_at.map(crate::output::timestamp),
            stages: dist
                .counts
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            exit_pending: dist.exit_pending,
            loyalty_tiers,
            rfm_segments,
            rfm_currency,
            revenue,
            customers: dist.total,
            complaints: (desk.figures.all.complaints > 0).then(|| ComplaintStats {
                reply_hours: desk.policy.reply_hours,
                complaints: desk.figures.all.complaints,
                open: desk.figures.all.open,
                overdue: desk.figures.all.overdue,
                in_time_rate: desk.figures.all.in_time_rate,
                median_hours_to_answer: desk.figures.all.hours_to_answer.map(|s| s.median),
            }),
        })
    }
}

/// A unit enum's name as in JSON (`champions`, `at_risk`, `high`, …).
pub fn json_name<T: serde::Serialize>(segment: &T) -> String {
    match serde_json::to_value(segment) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_the_policy_not_the_alphabet() {
        let counts: BTreeMap<String, u64> =
            [("bronze", 5), ("gold", 2), ("platinum", 1), ("silver", 3)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        let names =
            |tiers: Vec<(String, u64)>| tiers.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        let lowest_first = tiers_in_order(&LoyaltyPolicy::default(), &counts);
        assert_eq!(
            names(lowest_first),
            ["bronze", "silver", "gold", "platinum"]
        );
        let mut with_unknown = counts.clone();
        with_unknown.insert("diamond".into(), 1);
        let stats = Stats {
            as_of: String::new(),
            known_at: None,
            stages: BTreeMap::new(),
            exit_pending: 0,
            loyalty_tiers: with_unknown,
            rfm_segments: BTreeMap::new(),
            rfm_currency: None,
            revenue: BTreeMap::new(),
            customers: 12,
            complaints: None,
        };
        assert_eq!(
            names(stats.tiers_in_order()),
            ["platinum", "gold", "silver", "bronze", "diamond"]
        );
    }
}
