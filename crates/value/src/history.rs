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
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::try_days(day)?)
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

/// One payment, kept until a view decides whether it is revenue of its own
/// (a bill) or the settlement of a purchase already counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PaymentEntry {
    /// The payment's reference, as [`reference_key`] hashes it.
    pub reference: u64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Amount paid, minor units.
    pub amount: i64,
}

/// The key a purchase's order id and a payment's reference are matched by: a
/// 64-bit FNV-1a hash of the text, the same on every platform and in every
/// build, so that a state keeps no order ids yet knows which payments settle
/// which purchases.
///
/// ```
/// use clientele_value::history::reference_key;
/// assert_eq!(reference_key("A-1"), reference_key("A-1"));
/// assert_ne!(reference_key("A-1"), reference_key("A-2"));
/// ```
pub fn reference_key(reference: &str) -> u64 {
    reference.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
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
    /// Each order bought: its [`reference_key`] and the first day it was
    /// bought, sorted by key.
    pub orders: Vec<(u64, i64)>,
    /// Payments by day number, each day's sorted (so that the same payments
    /// give the same state whatever order they were folded in).
    pub payments: BTreeMap<i64, Vec<PaymentEntry>>,
    /// Days of explicit churn events, ascending: a subscriber who churned
    /// after their last bill has lapsed at once (see [`subscription`]).
    pub churns: Vec<i64>,
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
                let key = reference_key(&p.order_id);
                match self.orders.binary_search_by_key(&key, |(k, _)| *k) {
                    Ok(i) => self.orders[i].1 = self.orders[i].1.min(day),
                    Err(i) => {
                        self.orders.reserve_exact(1);
                        self.orders.insert(i, (key, day));
                    }
                }
            }
            EventPayload::Payment(p) => {
                let entry = PaymentEntry {
                    reference: reference_key(&p.reference),
                    currency: p.currency.to_string(),
                    amount: p.amount.units(),
                };
                let payments = self.payments.entry(day).or_default();
                let at = payments.partition_point(|e| *e <= entry);
                payments.reserve_exact(1);
                payments.insert(at, entry);
            }
            EventPayload::Refund(r) => {
                self.refunds
                    .entry(day)
                    .or_default()
                    .add(&r.currency.to_string(), r.amount.units());
            }
            EventPayload::Churn(_) => {
                let at = self.churns.partition_point(|d| *d <= day);
                self.churns.insert(at, day);
            }
            _ => {}
        }
    }

    /// The first day the order with this [`reference_key`] was bought.
    pub fn order_day(&self, key: u64) -> Option<i64> {
        self.orders
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|i| self.orders[i].1)
    }

    /// Whether a payment is a bill as of day `day`: revenue of its own,
    /// because no order it references was bought by then. A payment that
    /// references an order bought by then settles that order, whose amount
    /// the purchase already counts.
    pub fn is_bill(&self, payment: &PaymentEntry, day: i64) -> bool {
        self.order_day(payment.reference).is_none_or(|d| d > day)
    }

    /// The bills paid on or before day `day`, as of that day (see
    /// [`ValueState::is_bill`]), with their day, in day order.
    pub fn bills_until(&self, day: i64) -> impl Iterator<Item = (i64, &PaymentEntry)> {
        self.payments
            .range(..=day)
            .flat_map(|(d, payments)| payments.iter().map(move |p| (*d, p)))
            .filter(move |(_, p)| self.is_bill(p, day))
    }

    /// Gross spend per currency by day `day` (purchases and bills, before
    /// refunds), in minor units, in currency order.
    pub fn gross_until(&self, day: i64) -> BTreeMap<&str, i128> {
        let mut out: BTreeMap<&str, i128> = BTreeMap::new();
        for d in self.days.range(..=day).map(|(_, d)| d) {
            for (currency, amount) in d.spend.iter() {
                *out.entry(currency).or_default() += i128::from(amount);
            }
        }
        for (_, p) in self.bills_until(day) {
            *out.entry(p.currency.as_str()).or_default() += i128::from(p.amount);
        }
        out
    }

    /// The currency this customer spent most in by `as_of` (purchases and
    /// bills; None: neither yet). Of equal totals, the last in currency
    /// order.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clientele_core::projection::fold;
    /// use clientele_core::{event::Purchase, CustomerId, NewEvent, Store, ExpectedVersion};
    /// use clientele_value::ValueProjection;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let customer = CustomerId::new_random();
    /// let t = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
    /// store.append(customer, ExpectedVersion::Any, vec![
    ///     NewEvent::new(t(1), Purchase::new("A-1", "10.00".parse()?, "USD".parse()?)),
    ///     NewEvent::new(t(5), Purchase::new("A-2", "500.00".parse()?, "CNY".parse()?)),
    /// ])?;
    /// let state = fold(&ValueProjection, &store.read_stream(customer)?);
    /// assert_eq!(state.main_currency(t(2)), Some("USD"));
    /// assert_eq!(state.main_currency(t(6)), Some("CNY"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn main_currency(&self, as_of: DateTime<Utc>) -> Option<&str> {
        self.gross_until(day_number(as_of))
            .into_iter()
            .max_by_key(|(_, amount)| *amount)
            .map(|(currency, _)| currency)
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

    /// 2: payments are kept, and the orders bought, so that bills count as
    /// revenue. 3: churn days, for subscriptions.
    fn version(&self) -> u64 {
        3
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

/// Days without a bill after which a subscriber has lapsed, by default: the
/// lifecycle's `bill_lapse_decline_days` (three monthly bills unpaid).
pub const DEFAULT_LAPSE_DAYS: u32 = 90;

/// A customer's bills in one currency as of a time: the contractual side of
/// their value (see [`ValueState::is_bill`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Bills paid by then.
    pub bills: u32,
    /// Their sum (minor units).
    pub billed: i64,
    /// The first bill's day.
    pub first_bill: NaiveDate,
    /// The last bill's day.
    pub last_bill: NaiveDate,
    /// Whether the subscriber has stopped paying: the last bill is the lapse
    /// (days) or more before as-of, or an explicit churn came on or after
    /// its day.
    pub lapsed: bool,
}

impl Subscription {
    /// The mean bill (minor units, rounded down).
    pub fn mean_bill(&self) -> i64 {
        self.billed / i64::from(self.bills.max(1))
    }
}

/// The bills of `state` in `currency` as of `as_of`, and whether they
/// stopped: `lapse_days` or more before it, or with an explicit churn on or
/// after the last bill's day (None: no bill by then).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use clientele_core::event::Payment;
/// use clientele_core::{projection::fold, Currency, CustomerId, ExpectedVersion, NewEvent, Store};
/// use clientele_value::{history::subscription, ValueProjection};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let c = CustomerId::new_random();
/// let bill = |month: u32| {
///     let at = Utc.with_ymd_and_hms(2024, month, 5, 9, 0, 0).unwrap();
///     let payment = Payment {
///         reference: format!("BILL-2024{month:02}"),
///         amount: "58.00".parse().unwrap(),
///         currency: Currency::CNY,
///         due_date: None,
///         late: false,
///     };
///     NewEvent::new(at, payment)
/// };
/// store.append(c, ExpectedVersion::Any, (1..=6).map(bill).collect())?;
/// let state = fold(&ValueProjection, store.read_stream(c)?.iter());
///
/// let june = Utc.with_ymd_and_hms(2024, 6, 30, 0, 0, 0).unwrap();
/// let s = subscription(&state, "CNY", june, 90).expect("bills by then");
/// assert_eq!((s.bills, s.billed, s.mean_bill(), s.lapsed), (6, 34_800, 5_800, false));
/// let december = Utc.with_ymd_and_hms(2024, 12, 31, 0, 0, 0).unwrap();
/// assert!(subscription(&state, "CNY", december, 90).unwrap().lapsed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn subscription(
    state: &ValueState,
    currency: &str,
    as_of: DateTime<Utc>,
    lapse_days: u32,
) -> Option<Subscription> {
    let today = day_number(as_of);
    let mut bills = 0u32;
    let mut billed = 0i64;
    let mut first = None;
    let mut last = None;
    for (day, p) in state
        .bills_until(today)
        .filter(|(_, p)| p.currency == currency)
    {
        bills = bills.saturating_add(1);
        billed = billed.saturating_add(p.amount);
        first.get_or_insert(day);
        last = Some(day);
    }
    let (first, last) = (first?, last?);
    Some(Subscription {
        bills,
        billed,
        first_bill: date_of(first)?,
        last_bill: date_of(last)?,
        lapsed: today.saturating_sub(last) >= i64::from(lapse_days)
            || state.churns.iter().any(|d| (last..=today).contains(d)),
    })
}

/// Historic value of one customer in one currency, as of a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoricValue {
    /// The currency (amounts are in its minor units).
    pub currency: String,
    /// Gross revenue: purchases, and bills (`billed`).
    pub revenue: i64,
    /// Bills: payments that settle no purchase known by then (a monthly
    /// bill, an invoice for a service with no order). Part of `revenue`.
    pub billed: i64,
    /// How many bills.
    pub bills: u32,
    /// The last day with a bill.
    pub last_bill: Option<NaiveDate>,
    /// Days with a purchase or a bill: the frequency of RFM.
    pub active_days: u32,
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
    /// Average order value: purchase revenue ÷ orders (minor units, rounded
    /// down; bills are not orders).
    pub average_order_value: i64,
    /// First purchase day.
    pub first_purchase: Option<NaiveDate>,
    /// Last purchase day.
    pub last_purchase: Option<NaiveDate>,
    /// Share of revenue by category (0–1), largest first.
    pub category_share: Vec<(String, f64)>,
    /// Revenue (purchases and bills) per calendar year.
    pub by_year: BTreeMap<i32, i64>,
    /// Revenue (purchases and bills) from 1 January to `as_of`'s day of year, this year and last year
    /// (year-on-year same period).
    pub year_to_date: (i64, i64),
}

/// Historic value of `state` in `currency` as of `as_of`.
pub fn historic_value(state: &ValueState, currency: &str, as_of: DateTime<Utc>) -> HistoricValue {
    let last_day = day_number(as_of);
    let mut h = HistoricValue {
        currency: currency.to_owned(),
        revenue: 0,
        billed: 0,
        bills: 0,
        last_bill: None,
        active_days: 0,
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
    let purchased = h.revenue;
    h.active_days = h.transactions;
    let mut previous_day = None;
    for (day, p) in state
        .bills_until(last_day)
        .filter(|(_, p)| p.currency == currency)
    {
        h.billed = h.billed.saturating_add(p.amount);
        h.bills = h.bills.saturating_add(1);
        // A day with a bill and no purchase is one more active day.
        let bought_that_day = state
            .days
            .get(&day)
            .is_some_and(|d| d.spend.get(currency).is_some());
        if previous_day.replace(day) != Some(day) && !bought_that_day {
            h.active_days = h.active_days.saturating_add(1);
        }
        if let Some(date) = date_of(day) {
            h.last_bill = Some(date);
            let year = h.by_year.entry(date.year()).or_default();
            *year = year.saturating_add(p.amount);
            if date.ordinal() <= today.ordinal() {
                if date.year() == today.year() {
                    h.year_to_date.0 = h.year_to_date.0.saturating_add(p.amount);
                } else if date.year() == today.year() - 1 {
                    h.year_to_date.1 = h.year_to_date.1.saturating_add(p.amount);
                }
            }
        }
    }
    h.revenue = purchased.saturating_add(h.billed);
    for (_, r) in state.refunds.range(..=last_day) {
        h.refunds += r.get(currency).unwrap_or(0);
    }
    h.net = h.revenue - h.refunds;
    h.average_order_value = if h.orders > 0 {
        purchased / i64::from(h.orders)
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

    /// What version 1 stored for [`sample`]: the bytes the `BTreeMap`s wrote
    /// before `Amounts` replaced them.
    const VERSION_1: &str = "028eb5020203434e59e8810203555344c413020103434e59c03e9eb5020103434e59f02e010001a4b5020103434e59c865028eb5020209626f6f6b731f434e59e8810211756e63617465676f72697365641f555344c4139eb50201096d757369631f434e59f02e";

    /// What version 2 appended for [`sample`]: its three orders and no payments.
    const VERSION_2_TAIL: &str =
        "03c0baa9859ac380b8fa019eb502f3bda9859ae380b8fa018eb502a6c1a9859a8381b8fa018eb50200";

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_stored_encoding_is_fixed() {
        let mut out = Vec::new();
        ValueProjection.encode_state(&sample(), &mut out).unwrap();
        // Version 2 appended the orders and the payments to version 1's
        // bytes; version 3 the churn days (none here).
        assert_eq!(hex(&out), format!("{VERSION_1}{VERSION_2_TAIL}00"));
        assert_eq!(ValueProjection.decode_state(&out), Some(sample()));
        // Older states do not decode as version 3: they are rebuilt, not misread.
        for old in [VERSION_1.to_owned(), format!("{VERSION_1}{VERSION_2_TAIL}")] {
            assert_eq!(ValueProjection.decode_state(&unhex(&old)), None);
        }
    }
}

#[cfg(test)]
mod bill_tests {
    use super::*;
    use chrono::TimeZone;
    use clientele_core::event::{Payment, Purchase};
    use clientele_core::privacy::PersonalData;
    use clientele_core::{Currency, CustomerId, EventId, EventPayload, Metadata, RecordedEvent};
    use proptest::prelude::*;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::days(day)
    }

    fn event(day: i64, n: u64, payload: EventPayload) -> RecordedEvent {
        RecordedEvent {
            event_id: EventId::derived(&n.to_be_bytes()),
            customer_id: CustomerId::from_external("t", "c"),
            version: n + 1,
            position: n + 1,
            occurred_at: at(day),
            recorded_at: at(day),
            schema_version: 1,
            metadata: Metadata::default(),
            payload,
            personal_data: PersonalData::None,
        }
    }

    fn purchase(order: &str, cents: i64, currency: Currency) -> EventPayload {
        Purchase::new(order, rust_decimal(cents), currency).into()
    }

    fn payment(reference: &str, cents: i64, currency: Currency) -> EventPayload {
        Payment {
            reference: reference.into(),
            amount: rust_decimal(cents),
            currency,
            due_date: None,
            late: false,
        }
        .into()
    }

    fn rust_decimal(cents: i64) -> clientele_core::Decimal {
        format!("{}.{:02}", cents / 100, cents % 100)
            .parse()
            .unwrap()
    }

    fn fold(events: &[RecordedEvent]) -> ValueState {
        let mut state = ValueState::default();
        for e in events {
            state.apply(e);
        }
        state
    }

    /// A subscriber: one SIM plan, then a bill a month. The plan's own
    /// payment settles it; the bills are revenue.
    #[test]
    fn bills_count_as_revenue_and_settlements_do_not() {
        let mut events = vec![
            event(0, 0, purchase("SIM-1", 10_000, Currency::CNY)),
            event(1, 1, payment("SIM-1", 10_000, Currency::CNY)),
        ];
        for month in 1..=3 {
            let n = events.len() as u64;
            let reference = format!("BILL-{month}");
            events.push(event(
                30 * month,
                n,
                payment(&reference, 5_800, Currency::CNY),
            ));
        }
        let state = fold(&events);
        let h = historic_value(&state, "CNY", at(200));
        assert_eq!((h.revenue, h.billed, h.bills), (27_400, 17_400, 3));
        assert_eq!((h.orders, h.transactions, h.active_days), (1, 1, 4));
        assert_eq!(h.average_order_value, 10_000, "bills are not orders");
        assert_eq!(h.last_bill, Some(at(90).date_naive()));
        assert_eq!(h.last_purchase, Some(at(0).date_naive()));
        assert_eq!(h.by_year.values().sum::<i64>(), h.revenue);
        // As of day 45: one bill so far.
        let then = historic_value(&state, "CNY", at(45));
        assert_eq!((then.revenue, then.bills), (15_800, 1));
        // Another currency sees none of it.
        assert_eq!(historic_value(&state, "USD", at(200)).revenue, 0);
    }

    /// Paid before the order is bought: the money is revenue until the
    /// purchase is known, then the purchase counts it, once.
    #[test]
    fn a_prepayment_is_revenue_until_its_order_is_bought() {
        let events = [
            event(0, 0, payment("O-7", 4_200, Currency::CNY)),
            event(10, 1, purchase("O-7", 4_200, Currency::CNY)),
        ];
        let state = fold(&events);
        let before = historic_value(&state, "CNY", at(5));
        assert_eq!(
            (before.revenue, before.billed, before.orders),
            (4_200, 4_200, 0)
        );
        let after = historic_value(&state, "CNY", at(20));
        assert_eq!((after.revenue, after.billed, after.orders), (4_200, 0, 1));
        // Folded the other way round, the same state.
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(fold(&reversed), state);
    }

    /// A subscriber who churns lapses at once, not `lapse_days` after the
    /// last bill; one who churned and then paid again has not lapsed.
    #[test]
    fn an_explicit_churn_after_the_last_bill_lapses_the_subscription() {
        let churn = |reason: &str| -> EventPayload {
            clientele_core::event::Churn {
                reason: reason.into(),
                voluntary: true,
            }
            .into()
        };
        let mut events: Vec<RecordedEvent> = (0..6)
            .map(|m| {
                event(
                    30 * m,
                    m as u64,
                    payment(&format!("B-{m}"), 5_800, Currency::CNY),
                )
            })
            .collect();
        events.push(event(160, 6, churn("moved abroad")));
        let state = fold(&events);
        let lapsed = |day: i64| subscription(&state, "CNY", at(day), 90).unwrap().lapsed;
        assert!(!lapsed(159), "paying until the churn");
        assert!(lapsed(160), "the churn, 10 days after the last bill");
        // A churn before a later bill: they came back and paid.
        events.push(event(180, 7, payment("B-6", 5_800, Currency::CNY)));
        let state = fold(&events);
        assert!(!subscription(&state, "CNY", at(200), 90).unwrap().lapsed);
    }

    fn refund(order: &str, cents: i64, currency: Currency) -> EventPayload {
        clientele_core::event::Refund {
            order_id: order.into(),
            amount: rust_decimal(cents),
            currency,
            reason: None,
        }
        .into()
    }

    /// The day number of [`at`]`(0)`: 2024-01-01 is 19,723 days after 1970-01-01.
    const BASE: i64 = 19_723;

    #[test]
    fn the_base_day_is_what_day_number_gives() {
        assert_eq!(day_number(at(0)), BASE);
        assert_eq!(day_number(at(10)), BASE + 10);
    }

    #[test]
    fn order_day_is_the_first_day_an_order_was_bought() {
        let state = fold(&[
            event(5, 0, purchase("O-1", 100, Currency::CNY)),
            event(3, 1, purchase("O-1", 100, Currency::CNY)), // the same order again, earlier
            event(7, 2, purchase("O-2", 100, Currency::CNY)),
        ]);
        assert_eq!(state.order_day(reference_key("O-1")), Some(BASE + 3));
        assert_eq!(state.order_day(reference_key("O-2")), Some(BASE + 7));
        assert_eq!(state.order_day(reference_key("O-3")), None);
        // Payments do not make orders.
        let paid = fold(&[event(1, 0, payment("O-9", 100, Currency::CNY))]);
        assert_eq!(paid.order_day(reference_key("O-9")), None);
    }

    #[test]
    fn a_payment_is_a_bill_until_its_order_s_day() {
        let state = fold(&[
            event(0, 0, payment("O-7", 4_200, Currency::CNY)),
            event(10, 1, purchase("O-7", 4_200, Currency::CNY)),
            event(2, 2, payment("BILL-1", 5_800, Currency::CNY)),
        ]);
        let prepayment = &state.payments[&BASE][0];
        assert_eq!(prepayment.reference, reference_key("O-7"));
        assert!(
            state.is_bill(prepayment, BASE + 9),
            "the order is not bought yet"
        );
        assert!(
            !state.is_bill(prepayment, BASE + 10),
            "bought that day: it settles it"
        );
        assert!(!state.is_bill(prepayment, BASE + 11));
        // A reference no order carries is a bill whenever asked.
        let bill = &state.payments[&(BASE + 2)][0];
        for day in [BASE - 1, BASE + 2, BASE + 10, i64::MAX] {
            assert!(state.is_bill(bill, day), "{day}");
        }
    }

    #[test]
    fn bills_until_lists_the_bills_by_then_judged_as_of_then() {
        let state = fold(&[
            event(0, 0, payment("O-7", 4_200, Currency::CNY)), // paid before ordering
            event(2, 1, payment("BILL-1", 5_800, Currency::CNY)),
            event(10, 2, purchase("O-7", 4_200, Currency::CNY)),
            event(12, 3, payment("BILL-2", 99, Currency::USD)),
            event(12, 4, payment("O-7", 1, Currency::CNY)), // settles O-7 too
        ]);
        let bills = |day: i64| -> Vec<(i64, i64)> {
            state
                .bills_until(day)
                .map(|(d, p)| (d - BASE, p.amount))
                .collect()
        };
        assert_eq!(bills(BASE - 1), Vec::<(i64, i64)>::new());
        assert_eq!(bills(BASE), [(0, 4_200)]);
        assert_eq!(bills(BASE + 5), [(0, 4_200), (2, 5_800)]);
        // As of day 10 the day-0 payment settles the order bought that day.
        assert_eq!(bills(BASE + 10), [(2, 5_800)]);
        // Payments after the day are left out; the day itself is in.
        assert_eq!(bills(BASE + 11), [(2, 5_800)]);
        assert_eq!(bills(BASE + 12), [(2, 5_800), (12, 99)]);
    }

    #[test]
    fn gross_until_adds_purchases_and_bills_per_currency() {
        let state = fold(&[
            event(1, 0, purchase("A-1", 16_500, Currency::CNY)),
            event(1, 1, purchase("A-2", 1_250, Currency::USD)),
            event(2, 2, payment("A-1", 16_500, Currency::CNY)), // settles A-1: not counted again
            event(4, 3, payment("BILL-1", 5_800, Currency::CNY)), // a bill
            event(9, 4, purchase("A-3", 3_000, Currency::CNY)),
            event(12, 5, refund("A-1", 6_500, Currency::CNY)), // refunds are ignored
            event(20, 6, purchase("A-4", 100, Currency::CNY)),
            event(20, 7, payment("BILL-2", 99, Currency::USD)),
        ]);
        let gross = |day: i64| -> Vec<(String, i128)> {
            state
                .gross_until(day)
                .into_iter()
                .map(|(c, a)| (c.to_owned(), a))
                .collect()
        };
        let pair = |c: &str, a: i128| (c.to_owned(), a);
        assert!(gross(BASE).is_empty());
        assert_eq!(gross(BASE + 1), [pair("CNY", 16_500), pair("USD", 1_250)]);
        // + the bill on day 4; the settlement on day 2 adds nothing.
        assert_eq!(gross(BASE + 4), [pair("CNY", 22_300), pair("USD", 1_250)]);
        // 16,500 + 5,800 + 3,000 = 25,300; the refund on day 12 changes nothing.
        assert_eq!(gross(BASE + 12), [pair("CNY", 25_300), pair("USD", 1_250)]);
        assert_eq!(gross(BASE + 19), [pair("CNY", 25_300), pair("USD", 1_250)]);
        assert_eq!(gross(BASE + 20), [pair("CNY", 25_400), pair("USD", 1_349)]);
    }

    #[test]
    fn a_prepayment_is_counted_once_in_gross() {
        let state = fold(&[
            event(0, 0, payment("O-9", 4_200, Currency::CNY)),
            event(10, 1, purchase("O-9", 4_200, Currency::CNY)),
        ]);
        // As a bill until the order is bought, then as the purchase: never both.
        assert_eq!(state.gross_until(BASE + 5).get("CNY"), Some(&4_200));
        assert_eq!(state.gross_until(BASE + 10).get("CNY"), Some(&4_200));
        assert_eq!(state.gross_until(BASE + 30).get("CNY"), Some(&4_200));
    }

    #[test]
    fn gross_does_not_overflow_i64() {
        // Two purchases of i64::MAX minor units each on different days: the
        // per-day totals fit, their sum needs the i128.
        let mut state = ValueState::default();
        for d in [0, 1] {
            state
                .days
                .entry(BASE + d)
                .or_default()
                .spend
                .add("CNY", i64::MAX);
        }
        assert_eq!(
            state.gross_until(BASE + 1).get("CNY"),
            Some(&(2 * i128::from(i64::MAX)))
        );
    }

    #[derive(Debug, Clone)]
    enum Act {
        Buy {
            order: u8,
            cents: i64,
            usd: bool,
        },
        Pay {
            reference: u8,
            cents: i64,
            usd: bool,
        },
    }

    fn act() -> impl Strategy<Value = (i64, Act)> {
        (
            0i64..60,
            prop_oneof![
                (0u8..6, 1i64..100_000, any::<bool>()).prop_map(|(order, cents, usd)| Act::Buy {
                    order,
                    cents,
                    usd
                }),
                (0u8..12, 1i64..100_000, any::<bool>()).prop_map(|(reference, cents, usd)| {
                    Act::Pay {
                        reference,
                        cents,
                        usd,
                    }
                }),
            ],
        )
    }

    proptest! {
        /// Revenue is the purchases plus the payments whose reference no
        /// order bought by then carries, in every currency and at every
        /// as-of; and the state does not depend on the order the events
        /// were folded in.
        #[test]
        fn revenue_is_purchases_plus_bills(
            acts in proptest::collection::vec(act(), 0..30),
            as_of in 0i64..70,
            seed in any::<u64>(),
        ) {
            let currency = |usd: bool| if usd { Currency::USD } else { Currency::CNY };
            let events: Vec<RecordedEvent> = acts
                .iter()
                .enumerate()
                .map(|(n, (day, a))| match a {
                    Act::Buy { order, cents, usd } => {
                        event(*day, n as u64, purchase(&format!("O-{order}"), *cents, currency(*usd)))
                    }
                    Act::Pay { reference, cents, usd } => {
                        event(*day, n as u64, payment(&format!("O-{reference}"), *cents, currency(*usd)))
                    }
                })
                .collect();
            let state = fold(&events);
            let mut shuffled = events.clone();
            let mut rng = seed | 1;
            for i in (1..shuffled.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                shuffled.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(&fold(&shuffled), &state);
            for usd in [false, true] {
                let code = currency(usd).to_string();
                let bought = |order: u8| {
                    acts.iter().any(|(d, a)| {
                        matches!(a, Act::Buy { order: o, .. } if *o == order) && *d <= as_of
                    })
                };
                let mut purchases = 0;
                let mut billed = 0;
                for (_, a) in acts.iter().filter(|(d, _)| *d <= as_of) {
                    match a {
                        Act::Buy { cents, usd: u, .. } if *u == usd => purchases += cents,
                        Act::Pay { reference, cents, usd: u } if *u == usd && !bought(*reference) => {
                            billed += cents
                        }
                        _ => {}
                    }
                }
                let h = historic_value(&state, &code, at(as_of));
                prop_assert_eq!(h.billed, billed);
                prop_assert_eq!(h.revenue, purchases + billed);
                prop_assert_eq!(h.by_year.values().sum::<i64>(), h.revenue);
                prop_assert!(h.active_days >= h.transactions);
            }
        }
    }
}
