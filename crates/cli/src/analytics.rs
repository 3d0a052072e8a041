//! The analytics crates (loyalty, value, churn, lifecycle) as the CLI uses
//! them: projections opened and caught up on a writable store, the customer
//! report's sections, the report page's data, and `stats`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use clientele_churn::{ChurnProjection, ModelContext, RiskPolicy};
use clientele_core::projection::Projector;
use clientele_core::{CustomerId, Store};
use clientele_lifecycle::{Lifecycle, LifecyclePolicy, Stage};
use clientele_loyalty::{Loyalty, LoyaltyPolicy};
use clientele_value::{historic_value, TimeUnit, Value};

use crate::commands::customer::{CustomerSection, SectionInput, SectionOutput};
use crate::error::{CliError, CliResult};
use crate::report::ReportData;

fn failed(doing: &str, e: impl std::fmt::Display) -> CliError {
    CliError::runtime(format!("{doing}: {e}"), "run `clientele verify`; `clientele rebuild` rebuilds the projections")
}

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
}

impl Analytics {
    /// Opens and catches up every projection.
    pub fn open(store: &Store) -> CliResult<Self> {
        let mut lifecycle = Lifecycle::open(store, LifecyclePolicy::default()).map_err(|e| failed("lifecycle", e))?;
        lifecycle.catch_up().map_err(|e| failed("lifecycle", e))?;
        let mut loyalty = Loyalty::open(store, LoyaltyPolicy::default()).map_err(|e| failed("loyalty", e))?;
        loyalty.catch_up().map_err(|e| failed("loyalty", e))?;
        let mut value = Value::open(store).map_err(|e| failed("value", e))?;
        value.catch_up().map_err(|e| failed("value", e))?;
        let mut churn = Projector::open(store, ChurnProjection).map_err(|e| failed("churn", e))?;
        churn.catch_up().map_err(|e| failed("churn", e))?;
        Ok(Self { lifecycle, loyalty, value, churn })
    }

    /// Rebuilds every projection (or the one named) from zero.
    pub fn rebuild(store: &Store, which: Option<&str>) -> CliResult<Vec<(String, u64)>> {
        let mut done = Vec::new();
        let all = which.is_none();
        let wants = |name: &str| all || which == Some(name);
        if wants("lifecycle") {
            let mut p = Lifecycle::open(store, LifecyclePolicy::default()).map_err(|e| failed("lifecycle", e))?;
            done.push(("lifecycle".into(), p.rebuild().map_err(|e| failed("lifecycle", e))?));
        }
        if wants("loyalty") {
            let mut p = Loyalty::open(store, LoyaltyPolicy::default()).map_err(|e| failed("loyalty", e))?;
            done.push(("loyalty".into(), p.rebuild().map_err(|e| failed("loyalty", e))?));
        }
        if wants("value") {
            let mut p = Projector::open(store, clientele_value::ValueProjection).map_err(|e| failed("value", e))?;
            done.push(("value".into(), p.rebuild().map_err(|e| failed("value", e))?));
        }
        if wants("churn") {
            let mut p = Projector::open(store, ChurnProjection).map_err(|e| failed("churn", e))?;
            done.push(("churn".into(), p.rebuild().map_err(|e| failed("churn", e))?));
        }
        if wants("identifiers") {
            let mut p = Projector::open(store, crate::identity::Identifiers::default()).map_err(|e| failed("identifiers", e))?;
            done.push(("identifiers".into(), p.rebuild().map_err(|e| failed("identifiers", e))?));
        }
        if done.is_empty() {
            return Err(CliError::usage(
                format!("unknown projection {:?}", which.unwrap_or_default()),
                "one of: lifecycle, loyalty, value, churn, identifiers",
            ));
        }
        Ok(done)
    }

    /// The population model and a churn model context as of `as_of`.
    pub fn churn_model(&self, store: &Store, as_of: DateTime<Utc>, horizon_days: i64) -> CliResult<ModelContext> {
        let mut states = Vec::new();
        for c in store.customers().map_err(|e| failed("listing customers", e))? {
            states.push(self.churn.state_as_of(c, as_of).map_err(|e| failed("churn", e))?);
        }
        Ok(ModelContext { bg_nbd: clientele_churn::backtest::fit_population(&states, as_of), horizon_days: horizon_days as f64 })
    }

    /// Fills the report's stage, loyalty, RFM, risk and lift sections.
    pub fn enrich(&self, store: &Store, as_of: DateTime<Utc>, data: &mut ReportData) -> CliResult<()> {
        let dist = self.lifecycle.stage_distribution(as_of).map_err(|e| failed("stage distribution", e))?;
        data.stage_funnel = Stage::ALL.iter().map(|s| (s.to_string(), dist.count(*s))).collect();
        // Stage flow: the distribution at the end of each of the last 12 months.
        let mut flow = Vec::new();
        for k in (0..12).rev() {
            let t = as_of - Duration::days(30 * k);
            let d = self.lifecycle.stage_distribution(t).map_err(|e| failed("stage distribution", e))?;
            if d.total > 0 {
                flow.push((t.format("%Y-%m").to_string(), Stage::ALL.iter().map(|s| (s.to_string(), d.count(*s))).collect()));
            }
        }
        data.stage_flow = flow;
        data.loyalty_tiers = self.loyalty.tier_counts(as_of).map_err(|e| failed("loyalty tiers", e))?.into_iter().collect();
        if let Some(currency) = self.value.dominant_currency().map_err(|e| failed("value", e))? {
            let mut segments: BTreeMap<String, u64> = BTreeMap::new();
            for (_, s) in self.value.rfm(as_of, &currency).map_err(|e| failed("RFM", e))? {
                *segments.entry(serde_json::to_string(&s.segment).unwrap_or_default().trim_matches('"').to_owned()).or_default() += 1;
            }
            data.rfm_segments = segments.into_iter().collect();
        }
        let model = self.churn_model(store, as_of, 91)?;
        let policy = RiskPolicy::default();
        let mut risks = Vec::new();
        for c in store.customers().map_err(|e| failed("listing customers", e))? {
            let state = self.churn.state_as_of(c, as_of).map_err(|e| failed("churn", e))?;
            if state.first_seen.is_some() && state.churned_at.is_none() {
                risks.push(policy.score(&state, as_of, &model).risk);
            }
        }
        data.risk_scores = risks;
        // Lift of a backtest that ends at the report's time: frozen 13 weeks earlier.
        let frozen_at = as_of - Duration::days(91);
        let report = clientele_churn::backtest(store, &self.churn, &policy, frozen_at, 91).map_err(|e| failed("backtest", e))?;
        if report.customers > 0 && report.churned > 0 && report.churned < report.customers {
            data.backtest_lift = report.lift.iter().map(|d| (d.decile as u32, d.lift)).collect();
            data.notes.push(format!(
                "Backtest: frozen at {}, 13-week horizon, AUC {:.3} over {} customers ({:.0} % churned).",
                frozen_at.format("%Y-%m-%d"),
                report.auc,
                report.customers,
                100.0 * report.churn_rate
            ));
        }
        data.notes.retain(|n| !n.starts_with("Not available") && !n.contains("not available yet"));
        Ok(())
    }
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
        let Ok(mut lifecycle) = Lifecycle::open(input.store, LifecyclePolicy::default()) else { return Ok(None) };
        if lifecycle.catch_up().is_err() {
            return Ok(None);
        }
        let view = match input.known_at {
            Some(r) => lifecycle.view_known_at(input.customer, input.as_of, r),
            None => lifecycle.view(input.customer, input.as_of),
        }
        .map_err(|e| failed("stage", e))?;
        let Some(view) = view else { return Ok(None) };
        let mut lines = vec![format!(
            "{}{} since {}",
            view.stage,
            if view.exit_pending { " (exit pending: matters still open)" } else { "" },
            view.since.format("%Y-%m-%d")
        )];
        if let Some(change) = &view.last_change {
            lines.push(format!("last change: {}", serde_json::to_string(&change.cause).unwrap_or_default()));
        }
        lines.push("history with reasons: `clientele explain <customer>`".into());
        Ok(Some(SectionOutput { data: serde_json::to_value(&view).unwrap_or_default(), lines }))
    }
}

/// `loyalty` in the customer report.
pub struct LoyaltySection;

impl CustomerSection for LoyaltySection {
    fn key(&self) -> &'static str {
        "loyalty"
    }
    fn title(&self) -> &'static str {
        "Loyalty"
    }
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let Ok(mut loyalty) = Loyalty::open(input.store, LoyaltyPolicy::default()) else { return Ok(None) };
        if loyalty.catch_up().is_err() {
            return Ok(None);
        }
        let Some(score) = loyalty.score(input.customer, input.as_of).map_err(|e| failed("loyalty", e))? else { return Ok(None) };
        let mut lines = vec![format!("{:.1} / 100 ({})", score.score, score.tier.name)];
        for c in score.components.iter().take(4) {
            lines.push(format!("{:+.1}  {}", c.contribution, c.detail));
        }
        Ok(Some(SectionOutput { data: serde_json::to_value(&score).unwrap_or_default(), lines }))
    }
}

/// `value` and `risk` in the customer report.
pub struct ValueRiskSection;

impl CustomerSection for ValueRiskSection {
    fn key(&self) -> &'static str {
        "value"
    }
    fn title(&self) -> &'static str {
        "Value and churn risk"
    }
    fn compute(&self, input: &SectionInput<'_>) -> CliResult<Option<SectionOutput>> {
        let Ok(analytics) = Analytics::open(input.store) else { return Ok(None) };
        let state = analytics.value.state_as_of(input.customer, input.as_of).map_err(|e| failed("value", e))?;
        let currency = analytics.value.dominant_currency().map_err(|e| failed("value", e))?.unwrap_or_else(|| "CNY".into());
        let history = historic_value(&state, &currency, input.as_of);
        let model = analytics.churn_model(input.store, input.as_of, 91)?;
        let churn_state = analytics.churn.state_as_of(input.customer, input.as_of).map_err(|e| failed("churn", e))?;
        let risk = RiskPolicy::default().score(&churn_state, input.as_of, &model);
        let summary = state.summary(&currency, input.as_of, TimeUnit::Weeks);
        let minor = 10f64.powi(i32::from(currency.parse::<clientele_core::Currency>().map(|c| c.minor_unit_exponent()).unwrap_or(2)));
        let mut lines = vec![format!(
            "revenue {:.2} {currency} over {} orders (net {:.2}), average order {:.2}",
            history.revenue as f64 / minor,
            history.orders,
            history.net as f64 / minor,
            history.average_order_value as f64 / minor
        )];
        lines.push(format!("churn risk {:.2} over the next 13 weeks", risk.risk));
        for r in risk.reasons.iter().filter(|r| r.contribution > 0.0).take(3) {
            lines.push(format!("  {}", r.detail));
        }
        let data = serde_json::json!({
            "history": history,
            "model_statistics": summary,
            "risk": risk,
        });
        Ok(Some(SectionOutput { data, lines }))
    }
}

/// Population statistics for `stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// As-of.
    pub as_of: String,
    /// Customers per lifecycle stage.
    pub stages: BTreeMap<String, u64>,
    /// Of those in exit, with matters still open.
    pub exit_pending: u64,
    /// Customers per loyalty tier.
    pub loyalty_tiers: BTreeMap<String, u64>,
    /// Customers per RFM segment.
    pub rfm_segments: BTreeMap<String, u64>,
    /// Revenue totals (minor units) per currency, net of refunds.
    pub revenue: BTreeMap<String, i64>,
    /// Customers with an event by as-of.
    pub customers: u64,
}

/// Computes `stats`.
pub fn stats(store: &Store, as_of: DateTime<Utc>) -> CliResult<Stats> {
    let a = Analytics::open(store)?;
    let dist = a.lifecycle.stage_distribution(as_of).map_err(|e| failed("stages", e))?;
    let mut rfm_segments = BTreeMap::new();
    let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
    if let Some(currency) = a.value.dominant_currency().map_err(|e| failed("value", e))? {
        for (_, s) in a.value.rfm(as_of, &currency).map_err(|e| failed("RFM", e))? {
            *rfm_segments.entry(serde_json::to_string(&s.segment).unwrap_or_default().trim_matches('"').to_owned()).or_default() += 1;
        }
    }
    for (customer, _) in a.value.states().map_err(|e| failed("value", e))? {
        let state = a.value.state_as_of(customer, as_of).map_err(|e| failed("value", e))?;
        let currencies: Vec<String> = state.days.values().flat_map(|d| d.spend.keys().cloned()).collect();
        for c in currencies.into_iter().collect::<std::collections::BTreeSet<_>>() {
            *revenue.entry(c.clone()).or_default() += historic_value(&state, &c, as_of).net;
        }
    }
    Ok(Stats {
        as_of: as_of.to_rfc3339(),
        stages: dist.counts.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        exit_pending: dist.exit_pending,
        loyalty_tiers: a.loyalty.tier_counts(as_of).map_err(|e| failed("loyalty", e))?,
        rfm_segments,
        revenue,
        customers: dist.total,
    })
}

