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

/// Amounts in minor units by key (a currency code, or
/// `category\u{1f}currency`), in key order.
///
/// A sorted vector rather than a `BTreeMap`: a purchase day has one or two
/// keys, and a map's first node alone is some 400 bytes — in a rebuild that
/// holds every customer's state, the maps were most of the memory. It is read
/// and written as a map, so the stored bytes are those a `BTreeMap` gives.
///
/// ```
/// use clientele_value::Amounts;
/// let mut spend = Amounts::default();
/// spend.add("USD", 1_250);
/// spend.add("CNY", 16_500);
/// spend.add("CNY", 3_000);
/// assert_eq!(spend.get("CNY"), Some(19_500));
/// assert_eq!(spend.keys().collect::<Vec<_>>(), ["CNY", "USD"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts(Vec<(String, i64)>);

impl Amounts {
    /// The amount under `key`, if any.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.find(key).ok().map(|i| self.0[i].1)
    }

    /// Adds `amount` under `key` (saturating: a fold cannot fail).
    pub fn add(&mut self, key: &str, amount: i64) {
        match self.find(key) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(amount),
            Err(i) => {
                // Room for one more, not the four a first push takes: most
                // have one or two keys for good.
                self.0.reserve_exact(1);
                self.0.insert(i, (key.to_owned(), amount));
            }
        }
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Keys and amounts, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, a)| (k.as_str(), *a))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

impl Serialize for Amounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, a)| (k, a)))
    }
}

impl<'de> Deserialize<'de> for Amounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Amounts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of amounts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Amounts, A::Error> {
                let mut out: Vec<(String, i64)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
                while let Some((k, a)) = map.next_entry::<String, i64>()? {
                    out.push((k, a));
                }
                // As a `BTreeMap` reads: in key order, the last of a repeated key.
                out.reverse();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out.dedup_by(|later, kept| later.0 == kept.0);
                Ok(Amounts(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// One purchase day of one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    /// Spend that day, minor units, per currency.
    pub spend: Amounts,
    /// Orders that day.
    pub orders: u32,
    /// Margin that day (minor units, per currency), where given.
    pub margin: Amounts,
}

/// The per-customer value state (deterministic: ordered maps and sorted
/// vectors only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueState {
    /// Purchases by day number.
    pub days: BTreeMap<i64, Day>,
    /// Refunds by day number, minor units per currency.
    pub refunds: BTreeMap<i64, Amounts>,
    /// Spend by category (minor units, per currency), keyed `category\u{1f}currency`.
    pub categories: BTreeMap<i64, Amounts>,
}

impl ValueState {
    /// Folds one event.
    pub fn apply(&mut self, event: &RecordedEvent) {
        let day = day_number(event.occurred_at);
        match &event.payload {
            EventPayload::Purchase(p) => {
                let currency = p.currency.to_string();
                let entry = self.days.entry(day).or_default();
                entry.spend.add(&currency, p.amount.units());
                entry.orders = entry.orders.saturating_add(1);
                if let Some(m) = p.margin {
                    entry.margin.add(&currency, m.units());
                }
                let category = p.category.as_deref().unwrap_or("uncategorised");
                self.categories
                    .entry(day)
                    .or_default()
                    .add(&format!("{category}\u{1f}{currency}"), p.amount.units());
            }
            EventPayload::Refund(r) => {
                self.refunds
                    .entry(day)
                    .or_default()
                    .add(&r.currency.to_string(), r.amount.units());
            }
            _ => {}
        }
    }

    /// Purchase history (total spend per day in `currency`) up to `as_of`, for the models.
    pub fn purchase_history(&self, currency: &str, as_of: DateTime<Utc>) -> PurchaseHistory {
        let mut h = PurchaseHistory::new();
        for (day, d) in self.days.range(..=day_number(as_of)) {
            let amount = d.spend.get(currency).unwrap_or(0);
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
        h.refunds += r.get(currency).unwrap_or(0);
    }
    h.net = h.revenue - h.refunds;
    h.average_order_value = if h.orders > 0 {
        h.revenue / i64::from(h.orders)
    } else {
        0
    };
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    for (_, cats) in state.categories.range(..=last_day) {
        for (key, amount) in cats.iter() {
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

#[cfg(test)]
mod encoding_tests {
    use super::*;
    use chrono::TimeZone;
    use clientele_core::event::{Purchase, Refund};
    use clientele_core::privacy::PersonalData;
    use clientele_core::{CustomerId, EventId, EventPayload, Metadata, RecordedEvent};

    fn event(day: u32, payload: EventPayload) -> RecordedEvent {
        let at = Utc.with_ymd_and_hms(2024, 3, day, 10, 0, 0).unwrap();
        RecordedEvent {
            event_id: EventId::derived(format!("{day}").as_bytes()),
            customer_id: CustomerId::from_external("t", "c"),
            version: 1,
            position: 1,
            occurred_at: at,
            recorded_at: at,
            schema_version: 1,
            metadata: Metadata::default(),
            payload,
            personal_data: PersonalData::None,
        }
    }

    /// A state with two currencies, margins, categories and a refund.
    pub(super) fn sample() -> ValueState {
        let mut state = ValueState::default();
        let mut a = Purchase::new("A-1", "165.00".parse().unwrap(), "CNY".parse().unwrap());
        a.margin = Some("40.00".parse().unwrap());
        a.category = Some("books".into());
        let b = Purchase::new("A-2", "12.50".parse().unwrap(), "USD".parse().unwrap());
        let mut c = Purchase::new("A-3", "30.00".parse().unwrap(), "CNY".parse().unwrap());
        c.category = Some("music".into());
        let refund = Refund {
            order_id: "A-1".into(),
            amount: "65.00".parse().unwrap(),
            currency: "CNY".parse().unwrap(),
            reason: None,
        };
        for e in [
            event(1, a.into()),
            event(1, b.into()),
            event(9, c.into()),
            event(12, refund.into()),
        ] {
            state.apply(&e);
        }
        state
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    proptest::proptest! {
        /// `Amounts` is a `BTreeMap` in a vector: the same amounts after the
        /// same additions, and the same bytes, stored and in JSON.
        #[test]
        fn amounts_behave_and_encode_as_a_map(
            adds in proptest::collection::vec(
                (proptest::sample::select(vec!["CNY", "USD", "EUR", "b\u{1f}CNY", ""]), -1_000_000i64..1_000_000),
                0..24,
            ),
        ) {
            let mut amounts = Amounts::default();
            let mut model: BTreeMap<String, i64> = BTreeMap::new();
            for (key, amount) in &adds {
                amounts.add(key, *amount);
                *model.entry((*key).to_owned()).or_default() += amount;
            }
            proptest::prop_assert_eq!(amounts.len(), model.len());
            for (key, amount) in &model {
                proptest::prop_assert_eq!(amounts.get(key), Some(*amount));
            }
            let pairs: Vec<(String, i64)> = amounts.iter().map(|(k, a)| (k.to_owned(), a)).collect();
            proptest::prop_assert_eq!(pairs, model.clone().into_iter().collect::<Vec<_>>());
            let bytes = postcard::to_allocvec(&amounts).unwrap();
            proptest::prop_assert_eq!(&bytes, &postcard::to_allocvec(&model).unwrap());
            proptest::prop_assert_eq!(postcard::from_bytes::<Amounts>(&bytes).unwrap(), amounts.clone());
            let json = serde_json::to_string(&amounts).unwrap();
            proptest::prop_assert_eq!(&json, &serde_json::to_string(&model).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<Amounts>(&json).unwrap(), amounts);
        }
    }

    #[test]
    fn a_key_read_twice_keeps_the_last_amount_as_a_map_does() {
        let json = r#"{"USD": 1, "CNY": 2, "USD": 3}"#;
        let amounts: Amounts = serde_json::from_str(json).unwrap();
        let map: BTreeMap<String, i64> = serde_json::from_str(json).unwrap();
        assert_eq!(
            amounts
                .iter()
                .map(|(k, a)| (k.to_owned(), a))
                .collect::<BTreeMap<_, _>>(),
            map
        );
        assert_eq!(amounts.get("USD"), Some(3));
    }

    #[test]
    fn the_stored_encoding_is_unchanged() {
        let mut out = Vec::new();
        ValueProjection.encode_state(&sample(), &mut out).unwrap();
        // The bytes the `BTreeMap`s wrote before `Amounts` replaced them.
        assert_eq!(
            hex(&out),
            "028eb5020203434e59e8810203555344c413020103434e59c03e9eb5020103434e59f02e010001a4b5020103434e59c865028eb5020209626f6f6b731f434e59e8810211756e63617465676f72697365641f555344c4139eb50201096d757369631f434e59f02e"
        );
        assert_eq!(ValueProjection.decode_state(&out), Some(sample()));
    }
}
