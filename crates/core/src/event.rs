//! The event kinds a customer's stream holds, with the attributes the domain
//! notes give them. JSON uses a `kind` tag in snake_case; see `docs/events.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::CustomerId;
use crate::money::{Currency, Decimal, Money, MoneyError};

/// Defines a closed vocabulary that is written as snake_case text, with an
/// `Other` escape for values a company uses that the engine does not know.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value outside the built-in vocabulary (kept verbatim, lower-cased).
            Other(String),
        }

        impl $name {
            /// The snake_case text of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Stored values are already canonical: match them without allocating.
                match s {
                    $($text => return Ok(Self::$variant),)+
                    _ => {}
                }
                let lower = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                Ok(match lower.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(lower),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                let Ok(value) = text.parse();
                Ok(value)
            }
        }
    };
}

vocabulary! {
    /// How a contact or purchase reached the customer (000 L58–60; 003/004 R3).
    Channel {
        /// Telephone.
        Phone => "phone",
        /// Text message.
        Sms => "sms",
        /// E-mail.
        Email => "email",
        /// Website or web shop.
        Web => "web",
        /// Social media, forums, messaging apps.
        Social => "social",
        /// A visit (site visit, home visit, follow-up visit).
        Visit => "visit",
        /// Post, cards, letters.
        Mail => "mail",
        /// A physical store or point of sale.
        Store => "store",
        /// A call centre (e.g. 95511).
        CallCentre => "call_centre",
        /// An event, ceremony or club get-together.
        Event => "event",
        /// An agent or account manager in person.
        Agent => "agent",
        /// Fax.
        Fax => "fax",
    }
}

vocabulary! {
    /// Why a contact happened.
    Purpose {
        /// The customer asked something.
        Inquiry => "inquiry",
        /// Care or greeting without selling (holiday SMS, birthday card).
        Care => "care",
        /// A promotion or offer.
        Promotion => "promotion",
        /// A survey or satisfaction follow-up.
        Survey => "survey",
        /// A reminder that a policy or contract is due for renewal.
        RenewalReminder => "renewal_reminder",
        /// An attempt to win back a lapsed customer.
        WinBack => "win_back",
        /// Service, support, after-sales.
        Service => "service",
        /// A follow-up visit or call (回访).
        FollowUp => "follow_up",
        /// Registration or account opening.
        Registration => "registration",
        /// Delivery of an order.
        Delivery => "delivery",
    }
}

vocabulary! {
    /// How serious a complaint is (the sources give none; "harms customer interest" is separate).
    Severity {
        /// Minor inconvenience.
        Low => "low",
        /// Normal.
        Medium => "medium",
        /// Serious.
        High => "high",
        /// Safety, legal or large financial impact.
        Critical => "critical",
    }
}

/// Whether the customer or the company started a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The customer contacted the company.
    Inbound,
    /// The company contacted the customer.
    Outbound,
}

/// A customer's stated intention about renewing (001 L5–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenewalIntent {
    /// Will renew.
    Continue,
    /// Will not renew.
    NotRenewing,
    /// Undecided.
    Considering,
}

impl RenewalIntent {
    /// Every intent, in code order.
    pub const ALL: [RenewalIntent; 3] = [Self::Continue, Self::NotRenewing, Self::Considering];

    /// A stable one-byte code for binary encodings (0, 1, 2 in declaration order).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The intent with this code.
    ///
    /// ```
    /// use clientele_core::event::RenewalIntent;
    /// assert_eq!(RenewalIntent::from_code(RenewalIntent::Considering.code()), Some(RenewalIntent::Considering));
    /// assert_eq!(RenewalIntent::from_code(3), None);
    /// ```
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// The steps of one complaint, in their required order (003 L171 §4.2):
/// receive → classify → investigate → resolve → give feedback → archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStep {
    /// 投诉接收: the complaint came in.
    Received,
    /// 投诉分类: it was classified.
    Classified,
    /// 投诉调查与核实: it was investigated and verified.
    Investigated,
    /// 投诉处理: it was resolved.
    Resolved,
    /// 投诉反馈: the customer was told the outcome.
    FeedbackGiven,
    /// 投诉归档: it was archived; the matter is closed.
    Archived,
}

impl ComplaintStep {
    /// Every step in order.
    pub const ALL: [ComplaintStep; 6] = [
        Self::Received,
        Self::Classified,
        Self::Investigated,
        Self::Resolved,
        Self::FeedbackGiven,
        Self::Archived,
    ];

    /// Position in the workflow, from 0.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// Whether the customer has had an answer (resolved or later): the 24 h
    /// reply rule (000 L574) is met by reaching this step.
    pub fn is_resolved(self) -> bool {
        self >= Self::Resolved
    }

    /// The snake_case name, as in JSON (`feedback_given`).
    ///
    /// ```
    /// use clientele_core::event::ComplaintStep;
    /// assert_eq!(ComplaintStep::FeedbackGiven.as_str(), "feedback_given");
    /// assert_eq!(ComplaintStep::Received.to_string(), "received");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Classified => "classified",
            Self::Investigated => "investigated",
            Self::Resolved => "resolved",
            Self::FeedbackGiven => "feedback_given",
            Self::Archived => "archived",
        }
    }
}

impl fmt::Display for ComplaintStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who was referred: an existing customer or a prospect known by a reference.
///
/// Written as text: a UUID means a customer id; anything else is a prospect reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Referred {
    /// A customer of ours (conversion is recognisable when they purchase).
    Customer(CustomerId),
    /// A prospect not (yet) a customer: a name, phone, or external reference.
    Prospect(String),
}

impl Serialize for Referred {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Referred::Customer(id) => serializer.collect_str(id),
            Referred::Prospect(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Referred {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match text.parse::<CustomerId>() {
            Ok(id) => Referred::Customer(id),
            Err(_) => Referred::Prospect(text.into_owned()),
        })
    }
}

/// A touch between company and customer: call, message, visit, survey…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The channel.
    pub channel: Channel,
    /// Who started it.
    pub direction: Direction,
    /// Why.
    pub purpose: Purpose,
    /// What came of it (a short code such as `answered`, `no_answer`, `redirected`).
    #[serde(default)]
    pub outcome: Option<String>,
    /// Free-text notes about the conversation. Personal data: sealed, and
    /// subject to retention (class `contact_notes`).
    #[serde(default)]
    pub note: Option<String>,
    /// The department that made or took the contact (001 L112).
    #[serde(default)]
    pub department: Option<String>,
    /// Satisfaction rating on the 5-point scale (1–5), if asked (001 L39).
    #[serde(default)]
    pub rating: Option<u8>,
    /// Perceived experience, for satisfaction = perceived ÷ expected (003 L89–90).
    #[serde(default)]
    pub perceived: Option<f64>,
    /// Expectation, for satisfaction = perceived ÷ expected.
    #[serde(default)]
    pub expected: Option<f64>,
    /// Stated renewal intention, if the contact asked (001 L5–6).
    #[serde(default)]
    pub renewal_intent: Option<RenewalIntent>,
}

impl Contact {
    /// Satisfaction C = perceived ÷ expected, when both are given and expected > 0.
    ///
    /// ```
    /// use clientele_core::event::{Contact, Channel, Direction, Purpose};
    /// let mut c = Contact::new(Channel::Phone, Direction::Outbound, Purpose::Survey);
    /// c.perceived = Some(6.0);
    /// c.expected = Some(8.0);
    /// assert_eq!(c.satisfaction(), Some(0.75));
    /// ```
    pub fn satisfaction(&self) -> Option<f64> {
        match (self.perceived, self.expected) {
            (Some(p), Some(e)) if e > 0.0 => Some(p / e),
            _ => None,
        }
    }

    /// A contact with only the required fields.
    pub fn new(channel: Channel, direction: Direction, purpose: Purpose) -> Self {
        Self {
            channel,
            direction,
            purpose,
            outcome: None,
            note: None,
            department: None,
            rating: None,
            perceived: None,
            expected: None,
            renewal_intent: None,
        }
    }
}

/// A purchase, order or policy (renewal) bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    /// The order id in the selling system.
    pub order_id: String,
    /// The amount paid, exact; stored with the currency's number of decimal places.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Product category.
    #[serde(default)]
    pub category: Option<String>,
    /// Number of items.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Where it was bought.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Contribution margin, if the seller knows it (same currency).
    #[serde(default)]
    pub margin: Option<Decimal>,
    /// Whether this renews an existing policy or contract.
    #[serde(default)]
    pub renewal: bool,
    /// Policy number, for insurance.
    #[serde(default)]
    pub policy_number: Option<String>,
    /// First day of cover, for insurance.
    #[serde(default)]
    pub coverage_start: Option<NaiveDate>,
    /// Last day of cover or validity (the renewal due date).
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
}

impl Purchase {
    /// A purchase with only the required fields.
    pub fn new(order_id: impl Into<String>, amount: Decimal, currency: Currency) -> Self {
        Self {
            order_id: order_id.into(),
            amount,
            currency,
            category: None,
            quantity: None,
            channel: None,
            margin: None,
            renewal: false,
            policy_number: None,
            coverage_start: None,
            valid_until: None,
        }
    }

    /// The amount as money.
    pub fn money(&self) -> Result<Money, MoneyError> {
        Money::from_decimal(self.amount, self.currency)
    }
}

/// Money returned to the customer for an order (return, exchange, refund).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    /// The order refunded.
    pub order_id: String,
    /// Amount returned, exact, not negative.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Why, if given ("no questions asked" refunds have none, 000 L128).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Refund {
    /// The amount as money.
    pub fn money(&self) -> Result<Money, MoneyError> {
        Money::from_decimal(self.amount, self.currency)
    }
}

/// An order cancelled before it was fulfilled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cancellation {
    /// The order cancelled.
    pub order_id: String,
    /// Why, if known.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A bill or instalment paid (the telecom case resets points on late payment, 000 L366).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The bill, invoice or order paid.
    pub reference: String,
    /// Amount paid, exact, not negative.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// When it was due.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// Whether it was paid after the due date.
    #[serde(default)]
    pub late: bool,
}

impl Payment {
    /// The amount as money.
    pub fn money(&self) -> Result<Money, MoneyError> {
        Money::from_decimal(self.amount, self.currency)
    }
}

/// One step of a complaint; all steps of one complaint share `complaint_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complaint {
    /// The complaint this step belongs to.
    pub complaint_id: String,
    /// The step reached.
    pub step: ComplaintStep,
    /// Type of complaint (service quality, facilities, management, …).
    #[serde(default)]
    pub category: Option<String>,
    /// Root cause found.
    #[serde(default)]
    pub cause: Option<String>,
    /// Severity, if graded.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Whether customer interests were harmed (000 L552–554).
    #[serde(default)]
    pub harms_customer_interest: bool,
    /// The accountable person (000 L572).
    #[serde(default)]
    pub owner: Option<String>,
    /// What was done.
    #[serde(default)]
    pub resolution: Option<String>,
    /// The customer's rating of the handling (1–5), usually at `feedback_given`.
    #[serde(default)]
    pub feedback_rating: Option<u8>,
    /// The channel the complaint came through.
    #[serde(default)]
    pub channel: Option<Channel>,
}

impl Complaint {
    /// A complaint step with only the required fields.
    pub fn new(complaint_id: impl Into<String>, step: ComplaintStep) -> Self {
        Self {
            complaint_id: complaint_id.into(),
            step,
            category: None,
            cause: None,
            severity: None,
            harms_customer_interest: false,
            owner: None,
            resolution: None,
            feedback_rating: None,
            channel: None,
        }
    }
}

/// The customer recommended someone (word of mouth, 000 L292, L480).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// Who was referred.
    pub referred: Referred,
    /// How.
    #[serde(default)]
    pub channel: Option<Channel>,
}

/// The relationship ended, explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// Why.
    pub reason: String,
    /// Whether the customer chose to leave (true) or was let go (false: non-payment, death…).
    #[serde(default = "default_true")]
    pub voluntary: bool,
}

fn default_true() -> bool {
    true
}

/// A lapsed or churned customer came back (win-back, 000 L332).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reactivation {
    /// The campaign or action that won the customer back.
    #[serde(default)]
    pub campaign: Option<String>,
    /// Through which channel.
    #[serde(default)]
    pub channel: Option<Channel>,
}

/// Personal data and identifiers. **The only kind that holds personal data.**
/// Each field present replaces the previous value; absent fields are unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// National id card number.
    #[serde(default)]
    pub national_id: Option<String>,
    /// Vehicle licence plate (insurer lookup, 001 L5).
    #[serde(default)]
    pub licence_plate: Option<String>,
    /// Policy numbers held.
    #[serde(default)]
    pub policy_numbers: Vec<String>,
    /// Ids of this customer in other systems (e.g. the CDNOW customer number).
    #[serde(default)]
    pub external_ids: Vec<String>,
    /// Date of birth (birthday cards, 000 L458).
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
    /// Segment attributes: region, branch, customer type…
    #[serde(default)]
    pub segment: BTreeMap<String, String>,
}

/// What an erasure covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureScope {
    /// Every personal field of the customer (the right to be forgotten).
    Customer,
    /// One class of personal data for calendar years before `before_year` (retention).
    Retention {
        /// The class of data.
        class: crate::privacy::DataClass,
        /// Years strictly before this one were erased.
        before_year: i16,
    },
}

/// Personal data was destroyed by erasing its keys. Recorded by
/// [`Store::forget`](crate::Store::forget) and retention; not appendable directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    /// What was erased.
    pub scope: ErasureScope,
    /// Why (the request, the legal basis, the retention rule).
    pub reason: String,
}

/// What happened: one of the event kinds. JSON: `{"kind": "purchase", …fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    /// A contact.
    Contact(Contact),
    /// A purchase.
    Purchase(Purchase),
    /// A refund or return.
    Refund(Refund),
    /// An order cancellation.
    Cancellation(Cancellation),
    /// A payment.
    Payment(Payment),
    /// A complaint step.
    Complaint(Complaint),
    /// A referral.
    Referral(Referral),
    /// An explicit churn.
    Churn(Churn),
    /// A win-back.
    Reactivation(Reactivation),
    /// Personal data and identifiers.
    Profile(Profile),
    /// Personal data erased (crypto-shredding).
    Erasure(Erasure),
}

/// The kind of an event, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum EventKind {
    /// [`Contact`].
    Contact = 1,
    /// [`Purchase`].
    Purchase = 2,
    /// [`Refund`].
    Refund = 3,
    /// [`Cancellation`].
    Cancellation = 4,
    /// [`Payment`].
    Payment = 5,
    /// [`Complaint`].
    Complaint = 6,
    /// [`Referral`].
    Referral = 7,
    /// [`Churn`].
    Churn = 8,
    /// [`Reactivation`].
    Reactivation = 9,
    /// [`Profile`].
    Profile = 10,
    /// [`Erasure`].
    Erasure = 11,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 11] = [
        Self::Contact,
        Self::Purchase,
        Self::Refund,
        Self::Cancellation,
        Self::Payment,
        Self::Complaint,
        Self::Referral,
        Self::Churn,
        Self::Reactivation,
        Self::Profile,
        Self::Erasure,
    ];

    /// The stable one-byte code used on disk.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Purchase => "purchase",
            Self::Refund => "refund",
            Self::Cancellation => "cancellation",
            Self::Payment => "payment",
            Self::Complaint => "complaint",
            Self::Referral => "referral",
            Self::Churn => "churn",
            Self::Reactivation => "reactivation",
            Self::Profile => "profile",
            Self::Erasure => "erasure",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl EventPayload {
    /// The kind of this payload.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Contact(_) => EventKind::Contact,
            Self::Purchase(_) => EventKind::Purchase,
            Self::Refund(_) => EventKind::Refund,
            Self::Cancellation(_) => EventKind::Cancellation,
            Self::Payment(_) => EventKind::Payment,
            Self::Complaint(_) => EventKind::Complaint,
            Self::Referral(_) => EventKind::Referral,
            Self::Churn(_) => EventKind::Churn,
            Self::Reactivation(_) => EventKind::Reactivation,
            Self::Profile(_) => EventKind::Profile,
            Self::Erasure(_) => EventKind::Erasure,
        }
    }
}

macro_rules! payload_from {
    ($($variant:ident),+) => {
        $(impl From<$variant> for EventPayload {
            fn from(value: $variant) -> Self {
                EventPayload::$variant(value)
            }
        })+
    };
}
payload_from!(
    Contact,
    Purchase,
    Refund,
    Cancellation,
    Payment,
    Complaint,
    Referral,
    Churn,
    Reactivation,
    Profile
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_kind_tag_and_exact_amounts() {
        let json = r#"{"kind":"purchase","order_id":"A-1","amount":165.00,"currency":"CNY","category":"shoes"}"#;
        let p: EventPayload = crate::json::from_str(json).unwrap();
        let EventPayload::Purchase(p) = p else {
            panic!("not a purchase")
        };
        assert_eq!(p.amount.units(), 16500);
        assert_eq!(p.category.as_deref(), Some("shoes"));
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let typo = r#"{"kind":"purchase","order_id":"A-1","ammount":"1","currency":"CNY"}"#;
        assert!(crate::json::from_str::<EventPayload>(typo).is_err());
        let kind = r#"{"kind":"telepathy"}"#;
        assert!(crate::json::from_str::<EventPayload>(kind).is_err());
    }

    #[test]
    fn vocabularies_accept_unknown_values() {
        assert_eq!(
            "Call Centre".parse::<Channel>().unwrap(),
            Channel::CallCentre
        );
        assert_eq!(
            "wechat".parse::<Channel>().unwrap(),
            Channel::Other("wechat".to_owned())
        );
    }

    #[test]
    fn kind_codes_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(EventKind::from_code(0), None);
        for (i, intent) in RenewalIntent::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(intent.code()), i);
            assert_eq!(RenewalIntent::from_code(intent.code()), Some(intent));
        }
        assert_eq!(RenewalIntent::from_code(3), None);
    }
}
