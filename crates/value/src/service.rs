//! The value service: the [`ValueProjection`] kept up to date in the store,
//! and the population jobs over it — model fits, RFM, historic value.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clientele_core::projection::{AsOf, Projector};
use clientele_core::{CustomerId, Store};
use serde::{Deserialize, Serialize};

use crate::history::{
    day_number, historic_value, subscription, HistoricValue, Subscription, ValueProjection,
    ValueState,
};
use crate::model::{
    BgNbd, ContractObservation, Fit, FitOptions, GammaGamma, MbgNbd, ParetoNbd, Sbg,
};
use crate::rfm::{rfm, RfmInput, RfmScore};
use crate::stats::{CustomerSummary, TimeUnit};

/// Errors of the value service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] clientele_core::Error),
    /// A model computation failed.
    #[error(transparent)]
    Model(#[from] crate::ValueError),
}

/// Every model fitted on one population as of one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFits {
    /// The calibration end.
    pub as_of: DateTime<Utc>,
    /// The recorded time the population was read as known at (None: every
    /// event recorded so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at: Option<DateTime<Utc>>,
    /// Time unit of recency and T.
    pub unit: TimeUnit,
    /// Currency of the spend model.
    pub currency: String,
    /// Customers with a purchase by `as_of`.
    pub customers: usize,
    /// Of which repeat buyers (Gamma-Gamma input).
    pub repeat_buyers: usize,
    /// BG/NBD (Fader, Hardie & Lee 2005), or why it failed.
    pub bg_nbd: Result<Fit<BgNbd>, String>,
    /// MBG/NBD (Batislam et al. 2007).
    pub mbg_nbd: Result<Fit<MbgNbd>, String>,
    /// Pareto/NBD (Schmittlein et al. 1987).
    pub pareto_nbd: Result<Fit<ParetoNbd>, String>,
    /// Gamma-Gamma spend (Fader, Hardie & Lee 2005b), in major currency units.
    pub gamma_gamma: Result<Fit<GammaGamma>, String>,
}

/// The subscribers' contractual model as of one time ([`Value::fit_subscriptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionFits {
    /// The calibration end.
    pub as_of: DateTime<Utc>,
    /// The recorded time the population was read as known at (None: every
    /// event recorded so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_at: Option<DateTime<Utc>>,
    /// Currency of the bills.
    pub currency: String,
    /// Days without a bill after which a subscriber has lapsed.
    pub lapse_days: u32,
    /// Customers with a bill by `as_of`.
    pub subscribers: usize,
    /// Of which lapsed (churned, for the model).
    pub lapsed: usize,
    /// The mean bill over every bill of every subscriber (minor units;
    /// None without subscribers).
    pub mean_bill: Option<i64>,
    /// sBG (Fader & Hardie 2007) with one period per bill, or why it
    /// failed. A bill pays for a period: a lapsed subscriber with `n` bills
    /// churned at the end of period `n`; an active one is in period `n`,
    /// having renewed `n − 1` times (with one bill, nothing is known yet).
    pub sbg: Result<Fit<Sbg>, String>,
}

/// The value projection and its population jobs.
pub struct Value {
    projector: Projector<ValueProjection>,
}

impl Value {
    /// Opens the projection on `store`.
    pub fn open(store: &Store) -> Result<Self, ServiceError> {
        Ok(Self {
            projector: Projector::open(store, ValueProjection)?,
        })
    }

    /// Folds new events.
    pub fn catch_up(&mut self) -> Result<u64, ServiceError> {
        Ok(self.projector.catch_up()?)
    }

    /// The projector (states as of any time).
    pub fn projector(&self) -> &Projector<ValueProjection> {
        &self.projector
    }

    /// A customer's state as of `as_of`.
    pub fn state_as_of(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
    ) -> Result<ValueState, ServiceError> {
        Ok(self.projector.state_as_of(customer, as_of)?)
    }

    /// A customer's historic value in `currency` as of `as_of`.
    pub fn historic(
        &self,
        customer: CustomerId,
        as_of: DateTime<Utc>,
        currency: &str,
    ) -> Result<HistoricValue, ServiceError> {
        Ok(historic_value(
            &self.state_as_of(customer, as_of)?,
            currency,
            as_of,
        ))
    }

    /// Every customer's state (committed, i.e. everything folded).
    pub fn states(&self) -> Result<Vec<(CustomerId, ValueState)>, ServiceError> {
        Ok(self.projector.states()?)
    }

    /// Every customer's value state as of `at` (a business time, or
    /// [`AsOf::known_at`] for the log as it stood at a recorded time), in
    /// customer-id order (see `Projector::for_each_state_in`).
    pub fn states_as_of(
        &self,
        at: impl Into<AsOf>,
    ) -> Result<Vec<(CustomerId, ValueState)>, ServiceError> {
        let mut out = Vec::new();
        self.for_each_state_as_of(at, |customer, state| {
            out.push((customer, state));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every customer's value state as of `at`, one at a
    /// time, in customer-id order (see `Projector::for_each_state_in`).
    pub fn for_each_state_as_of(
        &self,
        at: impl Into<AsOf>,
        f: impl FnMut(CustomerId, ValueState) -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        self.projector.for_each_state_in(at, f)
    }

    /// The currency with the most gross revenue (purchases and bills, before
    /// refunds) over the population as of `at` (None: no purchase and no
    /// bill by then). A past view names the currency of its own time, not
    /// today's. Of equal totals, the last in currency order.
    pub fn dominant_currency(&self, at: impl Into<AsOf>) -> Result<Option<String>, ServiceError> {
        let at = at.into();
        let today = day_number(at.occurred);
        let mut totals: BTreeMap<String, i128> = BTreeMap::new();
        self.for_each_state_as_of(at, |_, state| {
            add_gross(&mut totals, &state, today);
            Ok(())
        })?;
        Ok(dominant(&totals))
    }

    /// Net revenue (revenue − refunds) of the whole population as of `as_of`,
    /// in minor units, per currency: the sum of every customer's
    /// [`historic_value`] net in each currency they bought in.
    pub fn revenue(&self, at: impl Into<AsOf>) -> Result<BTreeMap<String, i64>, ServiceError> {
        Ok(self.overview(at, RfmCurrency::Skip)?.revenue)
    }

    /// [`Value::revenue`], the dominant currency ([`Value::dominant_currency`])
    /// and, as `rfm` asks, [`Value::rfm`] in a currency, from one pass over
    /// the population's states.
    pub fn overview(
        &self,
        at: impl Into<AsOf>,
        rfm_in: RfmCurrency<'_>,
    ) -> Result<ValueOverview, ServiceError> {
        let at = at.into();
        let as_of = at.occurred;
        let today = day_number(as_of);
        let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
        let mut gross: BTreeMap<String, i128> = BTreeMap::new();
        // With `Dominant`, every currency's inputs until the pass names it.
        let mut inputs: BTreeMap<String, (Vec<CustomerId>, Vec<RfmInput>)> = BTreeMap::new();
        self.for_each_state_as_of(at, |customer, state| {
            let currencies = currencies(&state, today);
            for currency in &currencies {
                let total = revenue.entry((*currency).to_owned()).or_default();
                *total = total
                    .checked_add(historic_value(&state, currency, as_of).net)
                    .ok_or(crate::ValueError::Overflow("population revenue"))?;
            }
            add_gross(&mut gross, &state, today);
            let scored: Vec<&str> = match rfm_in {
                RfmCurrency::Skip => Vec::new(),
                RfmCurrency::Given(currency) => vec![currency],
                RfmCurrency::Dominant => currencies.into_iter().collect(),
            };
            for currency in scored {
                let h = historic_value(&state, currency, as_of);
                if let Some(input) = rfm_input(&h, today, as_of) {
                    let (customers, rows) = inputs.entry(currency.to_owned()).or_default();
                    customers.push(customer);
                    rows.push(input);
                }
            }
            Ok(())
        })?;
        let dominant_currency = dominant(&gross);
        let rfm_currency = match rfm_in {
            RfmCurrency::Skip => None,
            RfmCurrency::Given(currency) => Some(currency.to_owned()),
            RfmCurrency::Dominant => dominant_currency.clone(),
        };
        let rfm_scores = match rfm_currency.as_ref().and_then(|c| inputs.remove(c)) {
            Some((customers, rows)) => customers.into_iter().zip(rfm(&rows)).collect(),
            None => Vec::new(),
        };
        Ok(ValueOverview {
            revenue,
            dominant_currency,
            rfm_currency,
            rfm: rfm_scores,
        })
    }

    /// Model statistics of every customer with a purchase by `at`.
    pub fn summaries(
        &self,
        at: impl Into<AsOf>,
        currency: &str,
        unit: TimeUnit,
    ) -> Result<Vec<(CustomerId, CustomerSummary)>, ServiceError> {
        let at = at.into();
        let as_of = at.occurred;
        let mut out = Vec::new();
        self.for_each_state_as_of(at, |customer, state| {
            if let Some(s) = state.summary(currency, as_of, unit) {
                out.push((customer, s));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Fits BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma on the population as
    /// of `at` (a population job over the per-customer statistics): the
    /// calibration end, and with a recorded time the population as the log
    /// knew it then.
    pub fn fit(
        &self,
        at: impl Into<AsOf>,
        currency: &str,
        unit: TimeUnit,
        minor_per_major: u32,
    ) -> Result<ModelFits, ServiceError> {
        let at = at.into();
        let summaries = self.summaries(at, currency, unit)?;
        let mut observations = Vec::with_capacity(summaries.len());
        let mut spends = Vec::new();
        for (_, s) in &summaries {
            observations.push(s.observation()?);
            if let Some(spend) = s.spend_observation(minor_per_major)? {
                spends.push(spend);
            }
        }
        let options = FitOptions::default();
        let text = |e: crate::ValueError| e.to_string();
        Ok(ModelFits {
            as_of: at.occurred,
            known_at: at.known_at,
            unit,
            currency: currency.to_owned(),
            customers: observations.len(),
            repeat_buyers: spends.len(),
            bg_nbd: BgNbd::fit(&observations, &options).map_err(text),
            mbg_nbd: MbgNbd::fit(&observations, &options).map_err(text),
            pareto_nbd: ParetoNbd::fit(&observations, &options).map_err(text),
            gamma_gamma: GammaGamma::fit(&spends, &options).map_err(text),
        })
    }

    /// Every customer with a bill in `currency` by `at`, with their
    /// [`Subscription`] (lapsed: no bill for `lapse_days`), in customer-id
    /// order.
    pub fn subscriptions(
        &self,
        at: impl Into<AsOf>,
        currency: &str,
        lapse_days: u32,
    ) -> Result<Vec<(CustomerId, Subscription)>, ServiceError> {
        let at = at.into();
        let as_of = at.occurred;
        let mut out = Vec::new();
        self.for_each_state_as_of(at, |customer, state| {
            if let Some(s) = subscription(&state, currency, as_of, lapse_days) {
                out.push((customer, s));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Fits the shifted-beta-geometric retention model on the subscribers
    /// of `currency` as of `at` (see [`SubscriptionFits`]): one period per
    /// bill, churned = lapsed for `lapse_days`. For stores whose subscribers
    /// are billed on one rhythm (monthly bills: periods are months).
    pub fn fit_subscriptions(
        &self,
        at: impl Into<AsOf>,
        currency: &str,
        lapse_days: u32,
    ) -> Result<SubscriptionFits, ServiceError> {
        let at = at.into();
        let subscriptions = self.subscriptions(at, currency, lapse_days)?;
        let mut data = Vec::with_capacity(subscriptions.len());
        let (mut bills, mut billed) = (0i64, 0i64);
        for (_, s) in &subscriptions {
            let periods = if s.lapsed { s.bills } else { s.bills - 1 };
            if periods > 0 {
                data.push(ContractObservation::new(periods, s.lapsed)?);
            }
            bills = bills.saturating_add(i64::from(s.bills));
            billed = billed.saturating_add(s.billed);
        }
        Ok(SubscriptionFits {
            as_of: at.occurred,
            known_at: at.known_at,
            currency: currency.to_owned(),
            lapse_days,
            subscribers: subscriptions.len(),
            lapsed: subscriptions.iter().filter(|(_, s)| s.lapsed).count(),
            mean_bill: (bills > 0).then(|| billed / bills),
            sbg: Sbg::fit(&data, &FitOptions::default()).map_err(|e| e.to_string()),
        })
    }

    /// RFM scores of every customer with a purchase by `at`, in `currency`.
    pub fn rfm(
        &self,
        at: impl Into<AsOf>,
        currency: &str,
    ) -> Result<Vec<(CustomerId, RfmScore)>, ServiceError> {
        let at = at.into();
        let as_of = at.occurred;
        let today = day_number(as_of);
        let mut customers = Vec::new();
        let mut inputs = Vec::new();
        self.for_each_state_as_of(at, |customer, state| {
            if let Some(input) = rfm_input(&historic_value(&state, currency, as_of), today, as_of) {
                customers.push(customer);
                inputs.push(input);
            }
            Ok(())
        })?;
        Ok(customers.into_iter().zip(rfm(&inputs)).collect())
    }
}

/// Population value as of a time ([`Value::overview`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueOverview {
    /// Net revenue per currency, in minor units ([`Value::revenue`]).
    pub revenue: BTreeMap<String, i64>,
    /// The currency with the most gross revenue as of the view
    /// ([`Value::dominant_currency`]).
    pub dominant_currency: Option<String>,
    /// The currency the RFM scores are in (None: none were asked for, or
    /// `Dominant` and nothing was bought).
    pub rfm_currency: Option<String>,
    /// RFM scores in `rfm_currency`, in customer-id order.
    pub rfm: Vec<(CustomerId, RfmScore)>,
}

/// Which currency [`Value::overview`] scores RFM in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RfmCurrency<'a> {
    /// No RFM scores.
    Skip,
    /// This currency.
    Given(&'a str),
    /// The view's dominant currency, found in the same pass.
    Dominant,
}

/// Adds `state`'s gross spend by day `today` to `totals`.
fn add_gross(totals: &mut BTreeMap<String, i128>, state: &ValueState, today: i64) {
    for (currency, amount) in state.gross_until(today) {
        match totals.get_mut(currency) {
            Some(total) => *total += amount,
            None => {
                totals.insert(currency.to_owned(), amount);
            }
        }
    }
}

/// The currency with the largest total (of equal ones, the last).
fn dominant(totals: &BTreeMap<String, i128>) -> Option<String> {
    totals
        .iter()
        .max_by_key(|(_, amount)| **amount)
        .map(|(currency, _)| currency.clone())
}

/// The currencies of a customer's purchases and bills by day `today`.
fn currencies(state: &ValueState, today: i64) -> std::collections::BTreeSet<&str> {
    state
        .days
        .range(..=today)
        .flat_map(|(_, d)| d.spend.keys())
        .chain(state.bills_until(today).map(|(_, p)| p.currency.as_str()))
        .collect()
}

/// The RFM input of one customer's historic value (None: no purchase and no
/// bill). Recency counts from the last purchase or bill.
fn rfm_input(h: &HistoricValue, today: i64, as_of: DateTime<Utc>) -> Option<RfmInput> {
    let last = h.last_purchase.max(h.last_bill)?;
    let last_day = day_number(
        last.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(as_of),
    );
    Some(RfmInput {
        recency_days: today - last_day,
        frequency: h.active_days,
        monetary: h.net,
    })
}
