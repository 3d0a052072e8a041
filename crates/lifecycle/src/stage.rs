//! The stages and the audit records: what a view of a customer says, and why.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::event::{ComplaintStep, EventKind, RenewalIntent};
use clientele_core::{CustomerId, EventId, Money};
use serde::{Deserialize, Serialize};

/// Times in the stage types: RFC 3339 strings in human-readable formats
/// (JSON: `"1997-01-18T00:00:00Z"`), integer microseconds since the epoch in
/// binary ones (postcard: the bytes of `chrono::serde::ts_microseconds`,
/// unchanged; the projection itself stores states in its own encoding).
/// Reading JSON accepts both.
pub mod time_format {
    use std::fmt;

    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Serialises `t`: RFC 3339 (UTC, as many fractional digits as needed)
    /// when the format is human-readable, else i64 microseconds.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        } else {
            serializer.serialize_i64(t.timestamp_micros())
        }
    }

    /// Deserialises a time: an RFC 3339 string or integer microseconds in a
    /// human-readable format, i64 microseconds in a binary one.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(TimeVisitor)
        } else {
            deserializer.deserialize_i64(TimeVisitor)
        }
    }

    struct TimeVisitor;

    impl Visitor<'_> for TimeVisitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 time or integer microseconds since 1970-01-01T00:00:00Z")
        }

        fn visit_i64<E: de::Error>(self, micros: i64) -> Result<Self::Value, E> {
            DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| E::custom(format!("time out of range: {micros} µs")))
        }

        fn visit_u64<E: de::Error>(self, micros: u64) -> Result<Self::Value, E> {
            let micros = i64::try_from(micros)
                .map_err(|_| E::custom(format!("time out of range: {micros} µs")))?;
            self.visit_i64(micros)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| E::custom(format!("{text:?} is not an RFC 3339 time: {e}")))
        }
    }
}

/// A stage of the customer lifecycle: the five-stage model of 000 L326–332
/// (客户获取 → 客户提升 → 客户成熟 → 客户衰退 → 客户离网).
///
/// The six-stage model of 003 L60 puts a "potential customer" stage before
/// development; here [`Stage::Acquisition`] covers both (潜在 and 开发): the
/// lifecycle starts with the first contact, profile or registration, before
/// any purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 客户获取: known (contact, profile, registration) but no purchase yet.
    Acquisition,
    /// 客户提升: has purchased; not (yet) steady.
    Growth,
    /// 客户成熟: steady repeat buying, or repeat buying plus word of mouth.
    Maturity,
    /// 客户衰退: a warning signal is active (lapsing rhythm, spend drop,
    /// an unanswered complaint).
    Decline,
    /// 客户离网: the relationship has ended (explicit churn or long
    /// inactivity); final only once all related matters are settled.
    Exit,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 5] = [
        Stage::Acquisition,
        Stage::Growth,
        Stage::Maturity,
        Stage::Decline,
        Stage::Exit,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Acquisition => "acquisition",
            Stage::Growth => "growth",
            Stage::Maturity => "maturity",
            Stage::Decline => "decline",
            Stage::Exit => "exit",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule that fires because time passed without events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElapsedRule {
    /// No purchase (or win-back) for the decline horizon.
    InactivityDecline,
    /// No purchase (or win-back) for the exit horizon.
    InactivityExit,
    /// A complaint was not answered within the reply deadline (000 L574).
    ComplaintReply,
    /// The cover bought with the last purchase (an insurance policy's term, a
    /// subscription) ended without a renewal, and the grace after it passed
    /// (see [`CoverRule`](crate::CoverRule)).
    CoverLapseDecline,
    /// The cover bought with the last purchase ended without a renewal long
    /// enough ago to mean exit.
    CoverLapseExit,
}

impl ElapsedRule {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ElapsedRule::InactivityDecline => "inactivity_decline",
            ElapsedRule::InactivityExit => "inactivity_exit",
            ElapsedRule::ComplaintReply => "complaint_reply",
            ElapsedRule::CoverLapseDecline => "cover_lapse_decline",
            ElapsedRule::CoverLapseExit => "cover_lapse_exit",
        }
    }

    /// Whether this is a cover rule: its deadline comes after a cover's end
    /// ([`CoverRule`](crate::CoverRule)), though its threshold counts from
    /// the purchase that bought the cover.
    ///
    /// ```
    /// use clientele_lifecycle::ElapsedRule;
    /// assert!(ElapsedRule::CoverLapseExit.is_cover_lapse());
    /// assert!(!ElapsedRule::InactivityExit.is_cover_lapse());
    /// ```
    pub fn is_cover_lapse(self) -> bool {
        matches!(
            self,
            ElapsedRule::CoverLapseDecline | ElapsedRule::CoverLapseExit
        )
    }
}

/// Why a stage changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// An event was folded in.
    Event {
        /// The event.
        event_id: EventId,
        /// Its kind.
        kind: EventKind,
        /// A short summary without personal data (e.g. `purchase A-1 165.00 CNY`).
        summary: String,
    },
    /// Time passed: an elapsed-time rule's threshold was crossed.
    Elapsed {
        /// The rule.
        rule: ElapsedRule,
        /// The threshold, in seconds after the reference event (for the cover
        /// rules: the cover's length after the purchase, plus the grace).
        threshold_secs: i64,
        /// The event the time is counted from (the last purchase or win-back,
        /// the purchase that bought the cover, or the complaint's first step).
        reference: EventId,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Event { summary, .. } => f.write_str(summary),
            Cause::Elapsed {
                rule,
                threshold_secs,
                reference,
            } => write!(
                f,
                "{}: {} after event {reference}",
                rule.as_str(),
                Threshold(*threshold_secs)
            ),
        }
    }
}

/// An elapsed-time threshold in words, as the audit texts give it: whole
/// days, else whole hours, else minutes, with thousands grouped. A threshold
/// of two days or more that is not a whole number of days (one set from a
/// customer's own rhythm, say) reads as days and hours (and minutes), not
/// as thousands of hours.
///
/// ```
/// use clientele_lifecycle::Threshold;
///
/// assert_eq!(Threshold(86_400).to_string(), "1 day");
/// assert_eq!(Threshold(1_095 * 86_400).to_string(), "1,095 days");
/// assert_eq!(Threshold(36 * 3_600).to_string(), "36 hours");
/// assert_eq!(Threshold(90 * 60).to_string(), "90 minutes");
/// assert_eq!(Threshold(2_521 * 3_600).to_string(), "105 days 1 hour");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(pub i64);

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY: u64 = 86_400;
        const HOUR: u64 = 3_600;
        // Under a minute shows as 0 minutes, which takes no sign.
        if self.0 <= -60 {
            f.write_str("-")?;
        }
        let secs = self.0.unsigned_abs();
        if secs % DAY == 0 {
            return count(f, secs / DAY, "day");
        }
        if secs < 2 * DAY {
            return if secs % HOUR == 0 {
                count(f, secs / HOUR, "hour")
            } else {
                count(f, secs / 60, "minute")
            };
        }
        count(f, secs / DAY, "day")?;
        let hours = secs % DAY / HOUR;
        let minutes = secs % HOUR / 60;
        if hours > 0 {
            f.write_str(" ")?;
            count(f, hours, "hour")?;
        }
        if minutes > 0 {
            f.write_str(" ")?;
            count(f, minutes, "minute")?;
        }
        Ok(())
    }
}

/// `n unit(s)`, with thousands grouped.
fn count(f: &mut fmt::Formatter<'_>, n: u64, unit: &str) -> fmt::Result {
    let digits = n.to_string();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            f.write_str(",")?;
        }
        write!(f, "{d}")?;
    }
    let plural = if n == 1 { "" } else { "s" };
    write!(f, " {unit}{plural}")
}

/// One entry of the audit timeline: the stage (or exit-pending flag) changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// When: the event's business time, or the exact instant a threshold was crossed.
    #[serde(with = "time_format")]
    pub at: DateTime<Utc>,
    /// The stage before (None: the customer's first event).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// Whether, after the change, the customer is in exit with matters still open.
    pub exit_pending: bool,
    /// Why.
    pub cause: Cause,
}

/// Why a customer is in their stage (the conditions that hold at the view's time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Acquisition: known, no purchase yet.
    NoPurchaseYet,
    /// Growth: has purchased.
    HasPurchased {
        /// Purchases in the current relationship.
        purchases: u32,
    },
    /// Maturity: steady repeat buying.
    SteadyRepeatBuying {
        /// Purchases in the current relationship.
        purchases: u32,
        /// Days between the first and the latest of them.
        span_days: i64,
    },
    /// Maturity: steady paying (a subscriber's bills).
    SteadyPaying {
        /// Bills paid in the current relationship.
        bills: u32,
        /// Days between the first and the latest of them.
        span_days: i64,
    },
    /// Maturity: repeat buying plus word of mouth.
    ReferralAndRepeat {
        /// Referrals in the current relationship.
        referrals: u32,
        /// Purchases in the current relationship.
        purchases: u32,
    },
    /// Decline: no purchase, payment (with `payments_are_activity`) or
    /// win-back for the decline horizon.
    Inactive {
        /// The last purchase, payment or win-back.
        #[serde(with = "time_format")]
        last_activity: DateTime<Utc>,
        /// That event.
        reference: EventId,
        /// The horizon crossed, in seconds.
        threshold_secs: i64,
    },
    /// Decline: the cover bought with the last purchase ended, not renewed
    /// (or was cancelled).
    CoverLapsed {
        /// The cover's last day (the day of the cancellation, if cancelled).
        last_day: NaiveDate,
        /// Whether a cancellation of its order ended it.
        cancelled: bool,
        /// The purchase that bought it, or the cancellation.
        reference: EventId,
        /// The grace crossed after the cover ended, in seconds.
        threshold_secs: i64,
    },
    /// Decline: recent purchases average well below earlier ones.
    SpendDrop {
        /// Average of the recent purchases.
        recent_average: Money,
        /// Average of the purchases before them.
        earlier_average: Money,
    },
    /// Decline: a complaint is still unanswered past its reply deadline.
    ComplaintUnanswered {
        /// The complaint.
        complaint_id: String,
        /// Its step.
        step: ComplaintStep,
        /// The reply deadline that passed.
        #[serde(with = "time_format")]
        deadline: DateTime<Utc>,
    },
    /// Exit: no purchase, payment (with `payments_are_activity`) or win-back
    /// for the exit horizon.
    InactiveBeyondExitHorizon {
        /// The last purchase, payment or win-back.
        #[serde(with = "time_format")]
        last_activity: DateTime<Utc>,
        /// That event.
        reference: EventId,
        /// The horizon crossed, in seconds.
        threshold_secs: i64,
    },
    /// Exit: the cover bought with the last purchase ended, not renewed, for
    /// the exit horizon.
    CoverLapsedBeyondExitHorizon {
        /// The cover's last day (the day of the cancellation, if cancelled).
        last_day: NaiveDate,
        /// Whether a cancellation of its order ended it.
        cancelled: bool,
        /// The purchase that bought it, or the cancellation.
        reference: EventId,
        /// The horizon crossed after the cover ended, in seconds.
        threshold_secs: i64,
    },
    /// Exit: an explicit `churn` event, not followed by a win-back.
    Churned {
        /// The churn event.
        event_id: EventId,
        /// Its reason.
        reason: String,
        /// Whether the customer chose to leave.
        voluntary: bool,
    },
}

/// A matter that keeps an exit from being final (000 L322: "与之相关的事宜完全处理完毕").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenMatter {
    /// A complaint not yet at the policy's settled step.
    Complaint {
        /// The complaint.
        complaint_id: String,
        /// The furthest step reached.
        step: ComplaintStep,
        /// When its first step occurred.
        #[serde(with = "time_format")]
        received_at: DateTime<Utc>,
    },
    /// A cancelled order whose money has not all been refunded (a refund in progress).
    RefundOutstanding {
        /// The order.
        order_id: String,
        /// What is owed back (the amount paid).
        owed: Money,
        /// What has been refunded so far.
        refunded: Money,
    },
    /// An order not fully paid (only with `orders_require_payment`).
    Unpaid {
        /// The order.
        order_id: String,
        /// The order's amount.
        amount: Money,
        /// Paid so far.
        paid: Money,
    },
}

/// A customer's lifecycle stage as of a time: the answer of
/// [`Lifecycle::view`](crate::Lifecycle::view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerStage {
    /// The customer.
    pub customer: CustomerId,
    /// The business time of the view.
    #[serde(with = "time_format")]
    pub as_of: DateTime<Utc>,
    /// The stage.
    pub stage: Stage,
    /// Since when (the last stage change).
    #[serde(with = "time_format")]
    pub since: DateTime<Utc>,
    /// In exit, but with matters still open: not a final exit.
    pub exit_pending: bool,
    /// Open complaints and unsettled orders.
    pub open_matters: Vec<OpenMatter>,
    /// Why the customer is in this stage.
    pub reasons: Vec<Reason>,
    /// Purchases in the current relationship (since the last win-back from exit).
    pub purchases: u32,
    /// Referrals made, over the whole history.
    pub referrals: u32,
    /// The last stage change.
    pub last_change: Option<StageChange>,
}

impl CustomerStage {
    /// Whether the customer has exited and every related matter is settled.
    pub fn is_final_exit(&self) -> bool {
        self.stage == Stage::Exit && !self.exit_pending
    }
}

/// A policy due for renewal: one line of the renewal list (001 L5, L6: "输入日期,
/// 查询出当天需要续保的客户").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalDue {
    /// The customer.
    pub customer: CustomerId,
    /// The policy.
    pub policy_number: String,
    /// Its last day of cover (the latest `valid_until` bought).
    pub valid_until: NaiveDate,
    /// The customer's latest stated renewal intent, if stated after this
    /// policy was last bought (001 L5: continue / not renewing / considering).
    pub intent: Option<RenewalIntent>,
}

/// How many customers are in each stage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StageDistribution {
    /// Customers per stage (every stage present, zero if empty).
    pub counts: std::collections::BTreeMap<Stage, u64>,
    /// Of those in exit, how many have matters still open.
    pub exit_pending: u64,
    /// Customers with at least one event by the view's time.
    pub total: u64,
}

impl StageDistribution {
    /// The number of customers in `stage`.
    pub fn count(&self, stage: Stage) -> u64 {
        self.counts.get(&stage).copied().unwrap_or(0)
    }

    pub(crate) fn empty() -> Self {
        Self {
            counts: Stage::ALL.iter().map(|s| (*s, 0)).collect(),
            exit_pending: 0,
            total: 0,
        }
    }

    pub(crate) fn add(&mut self, view: &CustomerStage) {
        *self.counts.entry(view.stage).or_insert(0) += 1;
        if view.exit_pending {
            self.exit_pending += 1;
        }
        self.total += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The encoding before [`time_format`]: what the projection stored.
    #[derive(Serialize)]
    struct OldStageChange {
        #[serde(with = "chrono::serde::ts_microseconds")]
        at: DateTime<Utc>,
        from: Option<Stage>,
        to: Stage,
        exit_pending: bool,
        cause: Cause,
    }

    #[test]
    fn elapsed_causes_read_as_days_or_hours() {
        let reference = EventId::from_uuid(uuid::Uuid::from_u128(7));
        let cause = |rule, threshold_secs| Cause::Elapsed {
            rule,
            threshold_secs,
            reference,
        };
        assert_eq!(
            cause(ElapsedRule::InactivityDecline, 86_400).to_string(),
            format!("inactivity_decline: 1 day after event {reference}")
        );
        assert_eq!(
            cause(ElapsedRule::InactivityExit, 3 * 86_400).to_string(),
            format!("inactivity_exit: 3 days after event {reference}")
        );
        assert_eq!(
            cause(ElapsedRule::ComplaintReply, 36 * 3_600).to_string(),
            format!("complaint_reply: 36 hours after event {reference}")
        );
    }

    #[test]
    fn thresholds_read_in_the_largest_whole_unit() {
        let text = |secs| Threshold(secs).to_string();
        assert_eq!(text(0), "0 days");
        assert_eq!(text(2 * 86_400), "2 days");
        assert_eq!(text(1_095 * 86_400), "1,095 days");
        assert_eq!(text(1_000_000 * 86_400), "1,000,000 days");
        assert_eq!(text(3_600), "1 hour");
        assert_eq!(text(25 * 3_600), "25 hours");
        assert_eq!(text(60), "1 minute");
        assert_eq!(text(90 * 60), "90 minutes");
        // Seconds are not shown: a threshold is set in whole minutes at least.
        assert_eq!(text(90), "1 minute");
        assert_eq!(text(-86_400), "-1 day");
        // Two days or more, not whole days: days, then hours and minutes.
        assert_eq!(text(2_521 * 3_600), "105 days 1 hour");
        assert_eq!(text(2 * 86_400 + 90 * 60), "2 days 1 hour 30 minutes");
        assert_eq!(text(3 * 86_400 + 5 * 60), "3 days 5 minutes");
        assert_eq!(text(1_500 * 86_400 + 3_600), "1,500 days 1 hour");
        assert_eq!(text(-(2 * 86_400 + 3_600)), "-2 days 1 hour");
        assert_eq!(text(47 * 3_600), "47 hours");
        assert_eq!(text(i64::MIN).chars().next(), Some('-'));
        assert_eq!(text(-30), "0 minutes");
    }

    fn change() -> StageChange {
        StageChange {
            at: Utc.with_ymd_and_hms(1997, 4, 18, 0, 0, 0).unwrap()
                + chrono::Duration::microseconds(1_500),
            from: Some(Stage::Growth),
            to: Stage::Decline,
            exit_pending: false,
            cause: Cause::Elapsed {
                rule: ElapsedRule::InactivityDecline,
                threshold_secs: 90 * 86_400,
                reference: EventId::from_uuid(uuid::Uuid::from_u128(7)),
            },
        }
    }

    #[test]
    fn postcard_bytes_are_unchanged() {
        let c = change();
        let old = OldStageChange {
            at: c.at,
            from: c.from,
            to: c.to,
            exit_pending: c.exit_pending,
            cause: c.cause.clone(),
        };
        let bytes = postcard::to_allocvec(&c).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&old).unwrap());
        let back: StageChange = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn json_times_are_rfc3339_and_both_forms_read() {
        let c = change();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["at"], "1997-04-18T00:00:00.001500Z");
        let back: StageChange = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, c);
        // The old JSON form (integer microseconds) still reads.
        let mut old = json;
        old["at"] = serde_json::json!(c.at.timestamp_micros());
        let back: StageChange = serde_json::from_value(old).unwrap();
        assert_eq!(back, c);
        // Views and reasons too.
        let view = CustomerStage {
            customer: CustomerId::from_uuid(uuid::Uuid::from_u128(9)),
            as_of: Utc.with_ymd_and_hms(1997, 12, 31, 23, 59, 59).unwrap(),
            stage: Stage::Decline,
            since: c.at,
            exit_pending: false,
            open_matters: vec![OpenMatter::Complaint {
                complaint_id: "K-1".into(),
                step: ComplaintStep::Received,
                received_at: Utc.with_ymd_and_hms(1997, 3, 3, 10, 0, 0).unwrap(),
            }],
            reasons: vec![Reason::Inactive {
                last_activity: Utc.with_ymd_and_hms(1997, 1, 18, 0, 0, 0).unwrap(),
                reference: EventId::from_uuid(uuid::Uuid::from_u128(7)),
                threshold_secs: 90 * 86_400,
            }],
            purchases: 2,
            referrals: 0,
            last_change: Some(c),
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["as_of"], "1997-12-31T23:59:59Z");
        assert_eq!(
            json["open_matters"][0]["complaint"]["received_at"],
            "1997-03-03T10:00:00Z"
        );
        assert_eq!(
            json["reasons"][0]["inactive"]["last_activity"],
            "1997-01-18T00:00:00Z"
        );
        let back: CustomerStage = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
        assert_eq!(
            postcard::from_bytes::<CustomerStage>(&postcard::to_allocvec(&view).unwrap()).unwrap(),
            view
        );
    }

    #[test]
    fn bad_json_times_are_errors() {
        let mut json = serde_json::to_value(change()).unwrap();
        json["at"] = serde_json::json!("yesterday");
        assert!(serde_json::from_value::<StageChange>(json).is_err());
    }
}
