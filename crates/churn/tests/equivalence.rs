//! The optimised risk and due-time paths decide exactly what the
//! straightforward ones did: `RiskPolicy::score`, `RiskPolicy::risk` and
//! `WarningJob::next_due` against verbatim copies of the original code, bit
//! for bit, on random states.

use chrono::{DateTime, Duration, Utc};
use clientele_churn::risk::observation;
use clientele_churn::state::{day_of, ComplaintTrack};
use clientele_churn::{
    ChurnState, ModelContext, Reason, RiskPolicy, RiskScore, Signals, WarningJob, WarningPolicy,
};
use clientele_core::event::RenewalIntent;
use clientele_core::Store;
use clientele_value::{BgNbd, TransactionModel};
use proptest::prelude::*;

// ---- the original implementation (crates/churn/src/risk.rs before the optimisation) ----
// (The reasons' sentences follow the current wording — singular and plural
// nouns — which is not part of what the optimisation had to preserve.)

fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn days_text(days: f64) -> String {
    let n = format!("{days:.0}");
    let unit = if n == "1" { "day" } else { "days" };
    format!("{n} {unit}")
}

fn reference_signals(
    policy: &RiskPolicy,
    state: &ChurnState,
    as_of: DateTime<Utc>,
    model: &ModelContext,
) -> Signals {
    let as_of_day = day_of(as_of);
    let now = as_of.timestamp_micros();
    let purchases: Vec<(i32, i64)> = state.purchases_until(as_of_day).collect();
    let mut s = Signals {
        transactions: purchases.len() as u32,
        ..Signals::default()
    };
    if let (Some(first), Some(last)) = (purchases.first(), purchases.last()) {
        s.days_since_last_purchase = Some(f64::from(as_of_day - last.0));
        let gap = if purchases.len() > 1 {
            f64::from(last.0 - first.0) / (purchases.len() - 1) as f64
        } else {
            0.0
        };
        s.typical_gap_days = Some(gap.max(policy.min_gap_days));
    }
    if let (Some(bg), Some(obs)) = (&model.bg_nbd, observation(state, as_of_day)) {
        let horizon_weeks = model.horizon_days / 7.0;
        s.p_alive = bg.p_alive(&obs).ok();
        s.expected_purchases = bg.conditional_expected_purchases(&obs, horizon_weeks).ok();
        if let Some(alive) = s.p_alive {
            // Alive customers purchase at rate λ ~ Gamma(r + x, α + T):
            // P(no purchase in h | alive) = ((α + T) / (α + T + h))^(r + x).
            let (r, alpha) = (bg.r(), bg.alpha());
            let x = f64::from(obs.frequency());
            let quiet = ((alpha + obs.t()) / (alpha + obs.t() + horizon_weeks)).powf(r + x);
            s.p_no_purchase = Some((1.0 - alive) + alive * quiet);
        }
    }
    let sla = policy.reply_sla_hours * 3_600_000_000;
    for c in state.complaints.values().filter(|c| c.received_at <= now) {
        let answered = c.answered_at.filter(|&a| a <= now);
        if !c.archived {
            s.open_complaints += 1;
        }
        let late = match answered {
            Some(a) => a - c.received_at > sla && now - a < 90 * 86_400_000_000,
            None => now - c.received_at > sla,
        };
        if late {
            s.sla_breaches += 1;
        }
    }
    let ratings: Vec<f64> = state
        .ratings
        .iter()
        .filter(|(t, _)| *t <= now)
        .map(|(_, v)| *v)
        .collect();
    if let Some((latest, earlier)) = ratings.split_last() {
        if !earlier.is_empty() {
            let mean = earlier.iter().sum::<f64>() / earlier.len() as f64;
            s.satisfaction_drop = Some(mean - latest).filter(|d| *d > 0.0);
        }
    }
    let w = policy.spend_window.max(1);
    if purchases.len() >= 2 * w {
        let avg =
            |xs: &[(i32, i64)]| xs.iter().map(|(_, a)| *a as f64).sum::<f64>() / xs.len() as f64;
        let recent = avg(&purchases[purchases.len() - w..]);
        let earlier = avg(&purchases[purchases.len() - 2 * w..purchases.len() - w]);
        if earlier > 0.0 {
            s.spend_drop = Some(1.0 - recent / earlier).filter(|d| *d > 0.0);
        }
    }
    // Cover later than the last purchase (added with the cover rule).
    if let (Some(due), Some(last)) = (state.renewal_due, purchases.last()) {
        if due > last.0 {
            s.cover_until = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.checked_add_signed(Duration::days(i64::from(due))));
            s.cover_cancelled = state.cover_cancelled;
            if as_of_day > due {
                s.days_since_cover_ended = Some(f64::from(as_of_day - due - 1));
            }
        }
    }
    if let Some(due) = state.renewal_due {
        let days = i64::from(due - as_of_day);
        if (0..=policy.renewal_lead_days).contains(&days) {
            let intent = state.intent.filter(|(_, t)| *t <= now).map(|(i, _)| i);
            s.renewal_due = Some((days, intent));
        }
    }
    // The last payment and the last bill on or before the day (added with
    // the payments rule).
    let paid = |bills_only: bool| {
        state
            .payment_days
            .iter()
            .filter(|(d, bill)| **d <= as_of_day && (**bill || !bills_only))
            .map(|(d, _)| *d)
            .max()
    };
    if let Some(paid) = paid(false) {
        s.days_since_last_payment = Some(f64::from(as_of_day - paid));
    }
    if let Some(billed) = paid(true) {
        let days = f64::from(as_of_day - billed);
        s.days_since_last_bill = Some(days);
        s.paying = days <= policy.paying_within_days;
    }
    // The longest silence since the last purchase (added with the rule that
    // a payment after leaving wins nobody back): the largest difference
    // between consecutive days of [last purchase, later payments…, as-of].
    let last_purchase = state
        .purchase_days
        .keys()
        .copied()
        .filter(|d| *d <= as_of_day)
        .max();
    // A reactivation (a win-back) restarts the count too (added with the
    // rule that reactivations count as on the lifecycle side).
    let reactivated = state
        .reactivated_at
        .map(|t| (t.div_euclid(86_400_000_000)) as i32)
        .filter(|d| *d <= as_of_day);
    if let Some(last) = last_purchase.map(|p| reactivated.map_or(p, |r| r.max(p))) {
        let mut days: Vec<i32> = vec![last];
        days.extend(
            state
                .payment_days
                .keys()
                .copied()
                .filter(|d| *d > last && *d <= as_of_day),
        );
        days.push(as_of_day);
        let longest = days.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        s.longest_silence_days = Some(f64::from(longest));
    }
    s.churned = state.churned_at.is_some_and(|t| t <= now);
    s
}

fn reference_score(
    policy: &RiskPolicy,
    state: &ChurnState,
    as_of: DateTime<Utc>,
    model: &ModelContext,
) -> RiskScore {
    let signals = reference_signals(policy, state, as_of, model);
    let mut reasons = Vec::new();
    let mut push = |signal: &str, contribution: f64, detail: String| {
        if contribution.is_finite() && contribution != 0.0 {
            reasons.push(Reason {
                signal: signal.to_owned(),
                contribution,
                detail,
            });
        }
    };
    // A running cover, or a payment within `paying_within_days` (added with
    // the payments rule).
    let covered = (signals.cover_until.is_some() && signals.days_since_cover_ended.is_none())
        || signals.paying;
    if let Some(p) = signals.p_no_purchase.filter(|_| !covered) {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        let chance = format!(
            "population model: {:.0}% chance of no purchase in the next {:.0} days",
            100.0 * p,
            model.horizon_days
        );
        let detail = if signals.transactions <= 1 {
            format!("{chance} (one purchase so far: taken as active, buying rarely)")
        } else {
            format!(
                "{chance} (P(alive) {:.2})",
                signals.p_alive.unwrap_or(f64::NAN)
            )
        };
        push("model", policy.w_model * (p / (1.0 - p)).ln(), detail);
    }
    if let Some(e) = signals.expected_purchases.filter(|_| !covered) {
        push(
            "expected",
            -policy.w_expected * (e + 0.01).ln(),
            format!(
                "expected to buy {e:.2} times in the next {:.0} days",
                model.horizon_days
            ),
        );
    }
    if covered {
        // While a cover runs, recency does not count.
    } else if let (Some(days), Some(gap)) =
        (signals.days_since_last_purchase, signals.typical_gap_days)
    {
        let ratio = days / gap;
        push(
            "recency",
            policy.w_recency * ratio.ln_1p(),
            if let (Some(until), Some(ended)) =
                (signals.cover_until, signals.days_since_cover_ended)
            {
                let how = match until.succ_opt().filter(|_| signals.cover_cancelled) {
                    Some(day) => format!("cover cancelled on {day}"),
                    None => format!("cover to {until} not renewed"),
                };
                format!(
                    "{how} ({} since it ended); {} since the last purchase",
                    days_text(ended),
                    days_text(days)
                )
            } else if signals.transactions <= 1 {
                format!(
                    "{} since the only purchase, {ratio:.1}× the gap of {} assumed for a one-time buyer",
                    days_text(days),
                    days_text(gap)
                )
            } else if gap <= policy.min_gap_days {
                format!(
                    "{} since the last purchase, {ratio:.1}× the shortest gap counted, {} (the customer usually buys at least that often)",
                    days_text(days),
                    days_text(gap)
                )
            } else {
                format!(
                    "{} since the last purchase, {ratio:.1}× the customer's mean gap of {}",
                    days_text(days),
                    days_text(gap)
                )
            },
        );
    } else {
        push(
            "recency",
            policy.w_recency * 3f64.ln_1p(),
            "has never purchased".to_owned(),
        );
    }
    let repeats = signals.transactions.saturating_sub(1);
    push(
        "frequency",
        policy.w_frequency * f64::from(repeats).ln_1p(),
        count(i64::from(repeats), "repeat purchase", "repeat purchases"),
    );
    push(
        "sla_breach",
        policy.w_sla_breach * f64::from(signals.sla_breaches),
        format!(
            "{} not answered within {} h",
            count(i64::from(signals.sla_breaches), "complaint", "complaints"),
            policy.reply_sla_hours
        ),
    );
    push(
        "open_complaint",
        policy.w_open_complaint * f64::from(signals.open_complaints),
        format!(
            "{} still open",
            count(
                i64::from(signals.open_complaints),
                "complaint",
                "complaints"
            )
        ),
    );
    if let Some(drop) = signals.satisfaction_drop {
        push(
            "satisfaction_drop",
            policy.w_satisfaction_drop * drop,
            format!("satisfaction fell by {drop:.1} points"),
        );
    }
    if let Some(drop) = signals.spend_drop {
        push(
            "spend_drop",
            policy.w_spend_drop * drop,
            format!("recent spend {:.0}% below earlier", 100.0 * drop),
        );
    }
    if let Some((days, intent)) = signals.renewal_due {
        let factor = match intent {
            Some(RenewalIntent::NotRenewing) => 1.0,
            Some(RenewalIntent::Considering) | None => 0.5,
            Some(RenewalIntent::Continue) => 0.0,
        };
        let said = match intent {
            Some(RenewalIntent::NotRenewing) => "said not renewing",
            Some(RenewalIntent::Considering) => "is considering",
            Some(RenewalIntent::Continue) => "intends to continue",
            None => "no intent recorded",
        };
        push(
            "renewal",
            policy.w_renewal * factor,
            format!("renewal due in {}; {said}", count(days, "day", "days")),
        );
    }
    if signals.churned {
        push(
            "churned",
            policy.w_churned,
            "explicit churn recorded, no win-back since".to_owned(),
        );
    }
    let bias = if covered {
        policy.covered_bias
    } else {
        policy.bias
    };
    let logit = bias + reasons.iter().map(|r| r.contribution).sum::<f64>();
    let risk = 1.0 / (1.0 + (-logit).exp());
    reasons.sort_by(|a, b| {
        b.contribution
            .total_cmp(&a.contribution)
            .then_with(|| a.signal.cmp(&b.signal))
    });
    RiskScore {
        risk: if risk.is_finite() { risk } else { 1.0 },
        reasons,
        signals,
    }
}

/// The original `WarningJob::next_due` (a full score per probe of the search).
fn reference_next_due(
    job: &WarningJob,
    state: &ChurnState,
    as_of: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    let sla = Duration::hours(job.risk.reply_sla_hours);
    for c in state.complaints.values() {
        let received = DateTime::from_timestamp_micros(c.received_at)?;
        if c.answered_at.is_none() {
            candidates.push(received + sla + Duration::seconds(1));
        } else if let Some(answered) = c.answered_at.and_then(DateTime::from_timestamp_micros) {
            candidates.push(answered + Duration::days(90) + Duration::seconds(1));
        }
    }
    if let Some(due) = state.renewal_due {
        let due = DateTime::from_timestamp(i64::from(due) * 86_400, 0)?;
        candidates.push(due - Duration::days(job.risk.renewal_lead_days));
        candidates.push(due + Duration::days(1));
    }
    let levels = [
        job.warnings.raise_at,
        job.warnings.medium_at,
        job.warnings.high_at,
    ];
    let risk_at = |t: DateTime<Utc>| reference_score(&job.risk, state, t, &job.model).risk;
    let now = risk_at(as_of);
    if let Some(&target) = levels.iter().find(|&&l| l > now) {
        let far = as_of + Duration::days(3 * 365);
        if risk_at(far) >= target {
            let (mut lo, mut hi) = (as_of, far);
            while hi - lo > Duration::hours(1) {
                let mid = lo + (hi - lo) / 2;
                if risk_at(mid) >= target {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            candidates.push(hi);
        }
    }
    candidates.into_iter().filter(|t| *t > as_of).min()
}

// ---- random states ----

const START: i64 = 19_000; // day number (2022-01-08)

fn micros(day: i64, second: i64) -> i64 {
    (day * 86_400 + second) * 1_000_000
}

prop_compose! {
    fn complaint()(day in 0i64..500, second in 0i64..86_400, answer in proptest::option::of(0i64..200_000), archived: bool, feedback in proptest::option::of(1u8..=5)) -> ComplaintTrack {
        let received_at = micros(START + day, second);
        ComplaintTrack { received_at, answered_at: answer.map(|a| received_at + a * 1_000_000), archived, feedback }
    }
}

prop_compose! {
    fn state()(
        purchases in proptest::collection::btree_map(0i32..500, 1i64..100_000, 0..12),
        complaints in proptest::collection::vec(complaint(), 0..3),
        ratings in proptest::collection::vec((0i64..500, 0i64..86_400, 1u8..=5), 0..6),
        renewal in proptest::option::of(0i32..700),
        intent in proptest::option::of((0u8..3, 0i64..500)),
        churned in proptest::option::of(0i64..500),
        payments in proptest::collection::btree_map(0i32..600, any::<bool>(), 0..4),
        reactivated in proptest::option::of(0i64..600),
    ) -> ChurnState {
        let mut s = ChurnState {
            payment_days: payments.into_iter().map(|(d, bill)| (START as i32 + d, bill)).collect(),
            ..ChurnState::default()
        };
        for (d, a) in purchases {
            s.purchase_days.insert(START as i32 + d, a);
        }
        for (i, c) in complaints.into_iter().enumerate() {
            s.complaints.insert(format!("c{i}"), c);
        }
        let mut ratings: Vec<(i64, f64)> = ratings.into_iter().map(|(d, sec, r)| (micros(START + d, sec), f64::from(r))).collect();
        ratings.sort_by_key(|r| r.0);
        s.ratings = ratings;
        s.renewal_due = renewal.map(|d| START as i32 + d);
        s.intent = intent.map(|(i, d)| {
            let i = [RenewalIntent::Continue, RenewalIntent::NotRenewing, RenewalIntent::Considering][usize::from(i)];
            (i, micros(START + d, 0))
        });
        s.churned_at = churned.map(|d| micros(START + d, 3_600));
        s.reactivated_at = reactivated.map(|d| micros(START + d, 7_200));
        s.first_seen = s.purchase_days.keys().next().map(|d| i64::from(*d) * 86_400_000_000);
        s
    }
}

fn model(fitted: bool, horizon_days: f64) -> ModelContext {
    ModelContext {
        bg_nbd: fitted.then(|| BgNbd::new(0.479, 3.2, 1.6, 8.5).unwrap()),
        horizon_days,
    }
}

fn at(day: i64, second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(START + day, second)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn score_and_risk_match_the_original(s in state(), day in 0i64..900, second in 0i64..86_400, fitted: bool, horizon in prop_oneof![Just(90.0), Just(273.0)]) {
        let policy = RiskPolicy::default();
        let m = model(fitted, horizon);
        let t = at(day, second);
        let new = policy.score(&s, t, &m);
        let old = reference_score(&policy, &s, t, &m);
        prop_assert_eq!(format!("{new:?}"), format!("{old:?}"));
        prop_assert_eq!(policy.risk(&s, t, &m).to_bits(), old.risk.to_bits());
    }
}

#[test]
fn next_due_matches_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // The original code had no win-back list (its due day is tested in
    // tests/job.rs).
    let mut job = WarningJob::open(
        &store,
        RiskPolicy::default(),
        WarningPolicy {
            win_back: None,
            ..WarningPolicy::default()
        },
        model(true, 90.0),
    )
    .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(1024)
    });
    // Due times found, and of those for states with no breakpoints (pure crossings).
    let found = std::cell::Cell::new((0, 0));
    for fitted in [true, false] {
        job.model = model(fitted, 90.0);
        runner
            .run(&(state(), 0i64..900, 0i64..86_400), |(s, day, second)| {
                let t = at(day, second);
                let due = job.next_due(&s, t);
                if due.is_some() {
                    let (n, pure) = found.get();
                    let pure =
                        pure + usize::from(s.complaints.is_empty() && s.renewal_due.is_none());
                    found.set((n + 1, pure));
                }
                prop_assert_eq!(due, reference_next_due(&job, &s, t));
                Ok(())
            })
            .unwrap();
    }
    let (n, pure) = found.get();
    assert!(n > 400 && pure > 60, "{n} due times, {pure} crossings");
}

/// Policies are configuration (built in code or deserialised): absurd
/// numbers — hours or days past chrono's range, infinite or NaN horizons —
/// must give some answer, never a panic, in the score and the due time.
#[test]
fn absurd_policies_do_not_panic() {
    use clientele_churn::warning::WinBackRule;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let job = std::cell::RefCell::new(
        WarningJob::open(
            &store,
            RiskPolicy::default(),
            WarningPolicy::default(),
            model(true, 90.0),
        )
        .unwrap(),
    );
    let float = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-1e300),
        Just(0.0),
        -1e6f64..1e6,
    ];
    let integer = prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0i64),
        -1_000_000i64..1_000_000
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    });
    runner
        .run(
            &(
                state(),
                (integer.clone(), integer),
                (
                    float.clone(),
                    float.clone(),
                    float.clone(),
                    float.clone(),
                    float,
                ),
                0i64..900,
            ),
            |(s, (sla, lead), (floor, cap, lapse, paying, gap), day)| {
                let mut job = job.borrow_mut();
                job.risk = RiskPolicy {
                    reply_sla_hours: sla,
                    renewal_lead_days: lead,
                    paying_within_days: paying,
                    min_gap_days: gap,
                    ..RiskPolicy::default()
                };
                job.warnings = WarningPolicy {
                    win_back: Some(WinBackRule {
                        gap_multiple: gap,
                        floor_days: floor,
                        cap_days: cap,
                        after_lapse_days: lapse,
                    }),
                    ..WarningPolicy::default()
                };
                let t = at(day, 0);
                let score = job.risk.score(&s, t, &job.model);
                prop_assert!(score.risk.is_nan() || (0.0..=1.0).contains(&score.risk));
                let _ = job.next_due(&s, t);
                Ok(())
            },
        )
        .unwrap();
}
