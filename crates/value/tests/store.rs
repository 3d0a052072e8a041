//! The value fold over the real event log: CDNOW imported through the public
//! API, summaries equal to the published summary file, fits, RFM, history.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use clientele_core::{CustomerId, Store};
use clientele_value::{historic_value, RfmCurrency, RfmSegment, TimeUnit, Value};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample.txt"
);
const SUMMARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cdnow_sample_summary.csv"
);

#[test]
fn cdnow_through_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    clientele_value::cdnow::load(&store, &std::fs::read_to_string(DATA).unwrap()).unwrap();
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();
    let end = Utc.with_ymd_and_hms(1997, 9, 30, 23, 59, 59).unwrap();

    // Summary statistics equal cdnow_sample_summary.csv (rounded to 2 decimals there).
    let summaries: BTreeMap<CustomerId, _> = value
        .summaries(end, "USD", TimeUnit::Weeks)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries.len(), 2357);
    let text = std::fs::read_to_string(SUMMARY).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let s = &summaries[&CustomerId::from_external("cdnow", f[0])];
        let round = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(
            s.frequency,
            f[1].parse::<u32>().unwrap(),
            "customer {}",
            f[0]
        );
        assert!(
            (round(s.recency) - f[2].parse::<f64>().unwrap()).abs() < 1e-9,
            "customer {}",
            f[0]
        );
        assert!(
            (round(s.t) - f[3].parse::<f64>().unwrap()).abs() < 1e-9,
            "customer {}",
            f[0]
        );
    }

    // The population fits from the fold reproduce the published estimates.
    let fits = value.fit(end, "USD", TimeUnit::Weeks, 100).unwrap();
    let bg = fits.bg_nbd.as_ref().unwrap();
    let p = bg.params.to_array();
    for (got, want) in p.iter().zip([0.243, 4.414, 0.793, 2.426]) {
        assert!((got - want).abs() / want < 5e-3, "{p:?}");
    }
    assert!((bg.log_likelihood + 9582.4).abs() < 0.1);
    assert_eq!(fits.repeat_buyers, 946);
    let gg = fits.gamma_gamma.as_ref().unwrap().params.to_array();
    assert!(
        (gg[0] - 6.25).abs() < 0.01 && (gg[1] - 3.74).abs() < 0.01 && (gg[2] - 15.44).abs() < 0.01,
        "{gg:?}"
    );

    // Customer 1: history and RFM.
    let one = CustomerId::from_external("cdnow", "1");
    let h = value.historic(one, end, "USD").unwrap();
    assert_eq!(h.transactions, 3);
    assert_eq!(h.first_purchase.unwrap().to_string(), "1997-01-01");
    assert_eq!(h.category_share, vec![("cd".to_string(), 1.0)]);
    let rfm = value.rfm(end, "USD").unwrap();
    assert_eq!(rfm.len(), 2357);
    let mut segments: BTreeMap<RfmSegment, usize> = BTreeMap::new();
    for (_, s) in &rfm {
        *segments.entry(s.segment).or_default() += 1;
    }
    assert!(segments.len() >= 5, "{segments:?}");
    // As of an earlier time, later purchases do not count.
    let early = Utc.with_ymd_and_hms(1997, 1, 31, 0, 0, 0).unwrap();
    let state = value.state_as_of(one, early).unwrap();
    assert_eq!(historic_value(&state, "USD", early).transactions, 2);
}

/// Revenue, RFM and summaries as the log knew them at a recorded time leave
/// out what was recorded later (a late-reported purchase, a new customer),
/// and equal the plain as-of figures once everything is known.
#[test]
fn population_value_as_known_at_a_recorded_time() {
    use clientele_core::event::Purchase;
    use clientele_core::projection::AsOf;
    use clientele_core::{ExpectedVersion, NewEvent};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let day = |d: u32| Utc.with_ymd_and_hms(2024, 5, d, 12, 0, 0).unwrap();
    let buy = |d: u32, order: &str, amount: &str| {
        NewEvent::new(
            day(d),
            Purchase::new(order, amount.parse().unwrap(), "EUR".parse().unwrap()),
        )
    };
    let (a, b) = (
        CustomerId::from_external("known", "a"),
        CustomerId::from_external("known", "b"),
    );
    store
        .append(a, ExpectedVersion::Any, vec![buy(1, "A-1", "10.00")])
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let known_at = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    store
        .append(a, ExpectedVersion::Any, vec![buy(2, "A-2", "5.50")])
        .unwrap();
    store
        .append(b, ExpectedVersion::Any, vec![buy(3, "B-1", "7.00")])
        .unwrap();
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();
    let as_of = day(20);

    let then = AsOf::known_at(as_of, known_at);
    assert_eq!(value.revenue(then).unwrap()["EUR"], 1000);
    assert_eq!(value.revenue(as_of).unwrap()["EUR"], 2250);
    assert_eq!(value.rfm(then, "EUR").unwrap().len(), 1);
    let summaries = value.summaries(then, "EUR", TimeUnit::Days).unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].1.frequency, 0, "A-2 was not known yet");
    let fits = value.fit(then, "EUR", TimeUnit::Days, 100).unwrap();
    assert_eq!((fits.customers, fits.known_at), (1, Some(known_at)));
    assert_eq!(
        value
            .fit(as_of, "EUR", TimeUnit::Days, 100)
            .unwrap()
            .customers,
        2
    );

    let everything = AsOf::known_at(as_of, Utc::now());
    assert_eq!(
        value
            .overview(everything, RfmCurrency::Given("EUR"))
            .unwrap(),
        value.overview(as_of, RfmCurrency::Given("EUR")).unwrap()
    );
}

/// The dominant currency is the view's own: a store that sold in USD until
/// June and in CNY after names USD for a view of May, also as known at a
/// recorded time, and scores RFM in it; a view of now names CNY.
#[test]
fn the_dominant_currency_of_a_past_view_is_its_own() {
    use clientele_core::event::Purchase;
    use clientele_core::projection::AsOf;
    use clientele_core::{ExpectedVersion, NewEvent};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let day = |m: u32, d: u32| Utc.with_ymd_and_hms(2024, m, d, 12, 0, 0).unwrap();
    let buy = |at, order: &str, amount: &str, currency: &str| {
        NewEvent::new(
            at,
            Purchase::new(order, amount.parse().unwrap(), currency.parse().unwrap()),
        )
    };
    let (a, b) = (
        CustomerId::from_external("fx", "a"),
        CustomerId::from_external("fx", "b"),
    );
    store
        .append(
            a,
            ExpectedVersion::Any,
            vec![
                buy(day(3, 1), "A-1", "30.00", "USD"),
                buy(day(4, 1), "A-2", "20.00", "USD"),
                buy(day(7, 1), "A-3", "9000.00", "CNY"),
            ],
        )
        .unwrap();
    store
        .append(
            b,
            ExpectedVersion::Any,
            vec![buy(day(5, 1), "B-1", "40.00", "CNY")],
        )
        .unwrap();
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();

    let may = day(5, 20);
    assert_eq!(
        value.dominant_currency(may).unwrap().as_deref(),
        Some("USD")
    );
    let may_as_known_now = AsOf::known_at(may, Utc::now());
    assert_eq!(
        value
            .dominant_currency(may_as_known_now)
            .unwrap()
            .as_deref(),
        Some("USD")
    );
    assert_eq!(
        value.dominant_currency(day(12, 31)).unwrap().as_deref(),
        Some("CNY")
    );
    assert_eq!(value.dominant_currency(day(1, 1)).unwrap(), None);

    let overview = value.overview(may, RfmCurrency::Dominant).unwrap();
    assert_eq!(overview.dominant_currency.as_deref(), Some("USD"));
    assert_eq!(overview.rfm_currency.as_deref(), Some("USD"));
    assert_eq!(overview.rfm, value.rfm(may, "USD").unwrap());
    assert_eq!(overview.rfm.len(), 1, "only customer a had bought in USD");
    let given = value.overview(may, RfmCurrency::Given("CNY")).unwrap();
    assert_eq!(given.rfm, value.rfm(may, "CNY").unwrap());
    assert_eq!(given.dominant_currency.as_deref(), Some("USD"));
    let skipped = value.overview(may, RfmCurrency::Skip).unwrap();
    assert_eq!((skipped.rfm_currency, skipped.rfm.len()), (None, 0));
    assert_eq!(skipped.revenue, overview.revenue);

    // One customer's main currency, by the view's time.
    let state = clientele_core::projection::fold(
        &clientele_value::ValueProjection,
        &store.read_stream(a).unwrap(),
    );
    assert_eq!(state.main_currency(may), Some("USD"));
    assert_eq!(state.main_currency(day(7, 2)), Some("CNY"));
    assert_eq!(state.main_currency(day(2, 1)), None);
}

/// Subscribers through the event log: Fader & Hardie's (2007) "regular"
/// cohort of 1,000 — 631, 468, 382, 326, 289, 262 and 241 still renewing at
/// the start of periods 1 to 7 — as monthly bills, one per period. Read
/// back through `Value::fit_subscriptions`, the sBG fit is the published
/// one, and the subscriptions are what the bills say.
#[test]
fn subscribers_through_the_event_log_fit_the_published_sbg() {
    use clientele_core::event::Payment;
    use clientele_core::{Currency, ExpectedVersion, NewEvent};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let start = Utc.with_ymd_and_hms(2020, 1, 1, 9, 0, 0).unwrap();
    let survivors = [1000u32, 631, 468, 382, 326, 289, 262, 241];
    let mut customer = 0;
    let mut batch = Vec::new();
    for (t, pair) in survivors.windows(2).enumerate() {
        // Churned at the end of period t + 1: paid t + 1 bills.
        batch.push((pair[0] - pair[1], t as u32 + 1));
    }
    // Still renewing after period 7: the eighth bill paid.
    batch.push((241, 8));
    for (count, bills) in batch {
        for _ in 0..count {
            customer += 1;
            let c = CustomerId::from_external("subscribers", &customer.to_string());
            let events: Vec<NewEvent> = (0..bills)
                .map(|k| {
                    let payment = Payment {
                        reference: format!("BILL-{customer}-{k}"),
                        amount: "58.00".parse().unwrap(),
                        currency: Currency::CNY,
                        due_date: None,
                        late: false,
                    };
                    NewEvent::new(start + chrono::Duration::days(30 * i64::from(k)), payment)
                })
                .collect();
            store.append(c, ExpectedVersion::Any, events).unwrap();
        }
    }
    let mut value = Value::open(&store).unwrap();
    value.catch_up().unwrap();
    // Day 225: the eighth bill (day 210) is 15 days old; every churner's last
    // bill (day 180 at the latest) is 45 days old or more. Lapsed after 29.
    let as_of = start + chrono::Duration::days(225);
    let fits = value.fit_subscriptions(as_of, "CNY", 29).unwrap();
    assert_eq!((fits.subscribers, fits.lapsed), (1000, 759));
    assert_eq!(fits.mean_bill, Some(5_800));
    let sbg = fits.sbg.unwrap().params;
    assert!((sbg.alpha() - 0.704).abs() < 0.002, "alpha {}", sbg.alpha());
    assert!((sbg.beta() - 1.182).abs() < 0.002, "beta {}", sbg.beta());

    let subscriptions = value.subscriptions(as_of, "CNY", 29).unwrap();
    let bills: BTreeMap<u32, usize> =
        subscriptions.iter().fold(BTreeMap::new(), |mut m, (_, s)| {
            *m.entry(s.bills).or_default() += 1;
            m
        });
    assert_eq!(bills[&1], 369);
    assert_eq!(bills[&8], 241);
    assert!(subscriptions
        .iter()
        .all(|(_, s)| s.lapsed == (s.bills < 8) && s.billed == 5_800 * i64::from(s.bills)));
    // A day earlier than the last churners' lapse, they count as active.
    let early = value
        .fit_subscriptions(start + chrono::Duration::days(200), "CNY", 29)
        .unwrap();
    assert!(early.lapsed < fits.lapsed);
}
