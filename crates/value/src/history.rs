//! The value fold: each customer's purchases, refunds and margins, and the
//! views computed from it as of a time — historic value, RFM, and the
//! sufficient statistics the probabilistic models need.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use clientele_core::projection::Projection;
use clientele_core::{EventPayload, RecordedEvent};
use serde::{Deserialize, Serialize};

use crate::stats::{CustomerSummary, PurchaseHistory, TimeUnit};

/// Days since 1970-01-01 of a time (UTC).
pub fn day_number(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

fn date_of(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(day))
}

/// One purchase day of one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    /// Spend that day, minor units, per currency.
    pub spend: BTreeMap<String, i64>,
    /// Orders that day.
    pub orders: u32,
    /// Margin that day (minor units, per currency), where given.
    pub margin: BTreeMap<String, i64>,
}

/// The per-customer value state (deterministic: `BTreeMap`s only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueState {
    /// Purchases by day number.
    pub days: BTreeMap<i64, Day>,
    /// Refunds by day number, minor units per currency.
    pub refunds: BTreeMap<i64, BTreeMap<String, i64>>,
    /// Spend by category (minor units, per currency), keyed `category\u{1f}currency`.
    pub categories: BTreeMap<i64, BTreeMap<String, i64>>,
}

impl ValueState {
    /// Folds one event.
    pub fn apply(&mut self, event: &RecordedEvent) {
        let day = day_number(event.occurred_at);
        match &event.payload {
            EventPayload::Purchase(p) => {
                let currency = p.currency.to_string();
                let entry = self.days.entry(day).or_default();
                *entry.spend.entry(currency.clone()).or_default() += p.amount.units();
                entry.orders += 1;
                if let Some(m) = p.margin {
                    *entry.margin.entry(currency.clone()).or_default() += m.units();
                }
                let category = p.category.clone().unwrap_or_else(|| "uncategorised".into());
                *self
                    .categories
                    .entry(day)
                    .or_default()
                    .entry(format!("{category}\u{1f}{currency}"))
                    .or_default() += p.amount.units();
            }
            EventPayload::Refund(r) => {
                *self
                    .refunds
                    .entry(day)
                    .or_default()
                    .entry(r.currency.to_string())
                    .or_default() += r.amount.units();
            }
            _ => {}
        }
    }

    /// Purchase history (total spend per day in `currency`) up to `as_of`, for the models.
    pub fn purchase_history(&self, currency: &str, as_of: DateTime<Utc>) -> PurchaseHistory {
        let mut h = PurchaseHistory::new();
        for (day, d) in self.days.range(..=day_number(as_of)) {
            let amount = d.spend.get(currency).copied().unwrap_or(0);
            if let Some(date) = date_of(*day) {
                let _ = h.record(date, amount);
            }
        }
        h
    }

    /// Model sufficient statistics (frequency, recency, T, mean repeat spend) as of a time.
    pub fn summary(
        &self,
        currency: &str,
        as_of: DateTime<Utc>,
        unit: TimeUnit,
    ) -> Option<CustomerSummary> {
        let date = date_of(day_number(as_of))?;
        self.purchase_history(currency, as_of)
            .as_of(date, unit)
            .ok()
            .flatten()
    }
}

/// The projection folding [`ValueState`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueProjection;

impl Projection for ValueProjection {
    type State = ValueState;

    fn name(&self) -> &str {
        "value"
    }

    fn version(&self) -> u64 {
        1
    }

    fn apply(&self, state: &mut ValueState, event: &RecordedEvent) {
        state.apply(event);
    }
    /// Amounts, dates, steps and ratings only: events are read without
    /// decrypting their personal fields.
    fn reads_personal_data(&self) -> bool {
        false
    }
}

/// Historic value of one customer in one currency, as of a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoricValue {
    /// The currency (amounts are in its minor units).
    pub currency: String,
    /// Gross revenue.
    pub revenue: i64,
    /// Refunded.
    pub refunds: i64,
    /// Revenue − refunds.
    pub net: i64,
    /// Margin where given (None when no purchase carried one).
    pub margin: Option<i64>,
    /// Orders.
    pub orders: u32,
    /// Transactions (purchase days).
    pub transactions: u32,
    /// Average order value (minor units, rounded down).
    pub average_order_value: i64,
    /// First purchase day.
    pub first_purchase: Option<NaiveDate>,
    /// Last purchase day.
    pub last_purchase: Option<NaiveDate>,
    /// Share of revenue by category (0–1), largest first.
    pub category_share: Vec<(String, f64)>,
    /// Revenue per calendar year.
    pub by_year: BTreeMap<i32, i64>,
    /// Revenue from 1 January to `as_of`'s day of year, this year and last year
    /// (year-on-year same period).
    pub year_to_date: (i64, i64),
}

/// Historic value of `state` in `currency` as of `as_of`.
pub fn historic_value(state: &ValueState, currency: &str, as_of: DateTime<Utc>) -> HistoricValue {
    let last_day = day_number(as_of);
    let mut h = HistoricValue {
        currency: currency.to_owned(),
        revenue: 0,
        refunds: 0,
        net: 0,
        margin: None,
        orders: 0,
        transactions: 0,
        average_order_value: 0,
        first_purchase: None,
        last_purchase: None,
        category_share: Vec::new(),
        by_year: BTreeMap::new(),
        year_to_date: (0, 0),
    };
    let today = as_of.date_naive();
    for (day, d) in state.days.range(..=last_day) {
        let Some(spend) = d.spend.get(currency) else {
            continue;
        };
        h.revenue += spend;
        h.orders += d.orders;
        h.transactions += 1;
        if let Some(m) = d.margin.get(currency) {
            *h.margin.get_or_insert(0) += m;
        }
        if let Some(date) = date_of(*day) {
            h.first_purchase.get_or_insert(date);
            h.last_purchase = Some(date);
            *h.by_year.entry(date.year()).or_default() += spend;
            if date.ordinal() <= today.ordinal() {
                if date.year() == today.year() {
                    h.year_to_date.0 += spend;
                } else if date.year() == today.year() - 1 {
                    h.year_to_date.1 += spend;
                }
            }
        }
    }
    for (_, r) in state.refunds.range(..=last_day) {
        h.refunds += r.get(currency).copied().unwrap_or(0);
    }
    h.net = h.revenue - h.refunds;
    h.average_order_value = if h.orders > 0 {
        h.revenue / i64::from(h.orders)
    } else {
        0
    };
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    for (_, cats) in state.categories.range(..=last_day) {
        for (key, amount) in cats {
            if let Some((category, c)) = key.split_once('\u{1f}') {
                if c == currency {
                    *by_category.entry(category.to_owned()).or_default() += amount;
                }
            }
        }
    }
    let total: i64 = by_category.values().sum();
    let mut shares: Vec<(String, f64)> = by_category
        .into_iter()
        .map(|(c, a)| {
            (
                c,
                if total > 0 {
                    a as f64 / total as f64
                } else {
                    0.0
                },
            )
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    h.category_share = shares;
    h
}
