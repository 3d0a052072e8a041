//! The fields of each event kind, as the importers know them: their JSON name,
//! their type (to coerce CSV text and to name the field when a value is
//! wrong) and whether they are required. The core's serde definitions stay the
//! final authority: a record is only accepted if it also deserializes there.
//! A test checks that this table and `docs/events.md`'s kinds agree with core.

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text.
    Text,
    /// A word from an open vocabulary (`channel`, `purpose`, `severity`).
    Word,
    /// One of a closed set of snake_case words.
    OneOf(&'static [&'static str]),
    /// An exact decimal (money); never a binary float.
    Decimal,
    /// An ISO 4217 code.
    Currency,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// `true` or `false` (CSV also: `yes`/`no`, `1`/`0`).
    Bool,
    /// A small whole number (ratings 1–5).
    Rating,
    /// A whole number ≥ 0 (quantities).
    Count,
    /// A number (perceived/expected satisfaction scores).
    Number,
    /// A list of texts (CSV: `;`-separated).
    List,
    /// A map of text to text (CSV: `key=value;key=value`).
    Map,
}

impl FieldType {
    /// What a value of this type looks like, for error messages.
    pub fn describe(self) -> String {
        match self {
            FieldType::Text => "a non-empty text".into(),
            FieldType::Word => "a word such as `phone`".into(),
            FieldType::OneOf(words) => format!("one of {}", words.join(", ")),
            FieldType::Decimal => "an exact decimal such as \"165.00\"".into(),
            FieldType::Currency => "an ISO 4217 code such as CNY".into(),
            FieldType::Date => "a date such as 2024-05-01".into(),
            FieldType::Bool => "true or false".into(),
            FieldType::Rating => "a whole number from 1 to 5".into(),
            FieldType::Count => "a whole number".into(),
            FieldType::Number => "a number".into(),
            FieldType::List => "a list of texts (CSV: separated by `;`)".into(),
            FieldType::Map => "a map of texts (CSV: key=value;key=value)".into(),
        }
    }
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON name (snake_case).
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Whether every event of the kind must have it.
    pub required: bool,
}

const fn req(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

use FieldType::*;

const DIRECTIONS: &[&str] = &["inbound", "outbound"];
const INTENTS: &[&str] = &["continue", "not_renewing", "considering"];
const STEPS: &[&str] = &[
    "received",
    "classified",
    "investigated",
    "resolved",
    "feedback_given",
    "archived",
];

const CONTACT: &[Field] = &[
    req("channel", Word),
    req("direction", OneOf(DIRECTIONS)),
    req("purpose", Word),
    opt("outcome", Text),
    opt("department", Text),
    opt("rating", Rating),
    opt("perceived", Number),
    opt("expected", Number),
    opt("renewal_intent", OneOf(INTENTS)),
    opt("note", Text),
];

const PURCHASE: &[Field] = &[
    req("order_id", Text),
    req("amount", Decimal),
    req("currency", Currency),
    opt("category", Text),
    opt("quantity", Count),
    opt("channel", Word),
    opt("margin", Decimal),
    opt("renewal", Bool),
    opt("policy_number", Text),
    opt("coverage_start", Date),
    opt("valid_until", Date),
];

const REFUND: &[Field] = &[
    req("order_id", Text),
    req("amount", Decimal),
    req("currency", Currency),
    opt("reason", Text),
];

const CANCELLATION: &[Field] = &[req("order_id", Text), opt("reason", Text)];

const PAYMENT: &[Field] = &[
    req("reference", Text),
    req("amount", Decimal),
    req("currency", Currency),
    opt("due_date", Date),
    opt("late", Bool),
];

const COMPLAINT: &[Field] = &[
    req("complaint_id", Text),
    req("step", OneOf(STEPS)),
    opt("category", Text),
    opt("cause", Text),
    opt("severity", Word),
    opt("harms_customer_interest", Bool),
    opt("owner", Text),
    opt("resolution", Text),
    opt("feedback_rating", Rating),
    opt("channel", Word),
];

const REFERRAL: &[Field] = &[req("referred", Text), opt("channel", Word)];

const CHURN: &[Field] = &[req("reason", Text), opt("voluntary", Bool)];

const REACTIVATION: &[Field] = &[opt("campaign", Text), opt("channel", Word)];

const PROFILE: &[Field] = &[
    opt("name", Text),
    opt("phone", Text),
    opt("email", Text),
    opt("national_id", Text),
    opt("licence_plate", Text),
    opt("policy_numbers", List),
    opt("external_ids", List),
    opt("birthday", Date),
    opt("segment", Map),
];

/// The kinds an import accepts, with their fields.
pub const KINDS: &[(&str, &[Field])] = &[
    ("contact", CONTACT),
    ("purchase", PURCHASE),
    ("refund", REFUND),
    ("cancellation", CANCELLATION),
    ("payment", PAYMENT),
    ("complaint", COMPLAINT),
    ("referral", REFERRAL),
    ("churn", CHURN),
    ("reactivation", REACTIVATION),
    ("profile", PROFILE),
];

/// The fields of `kind`, if the importers know it.
pub fn kind_fields(kind: &str) -> Option<&'static [Field]> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

/// The field `name` of `kind`.
pub fn field(kind: &str, name: &str) -> Option<Field> {
    kind_fields(kind)?.iter().find(|f| f.name == name).copied()
}

/// Envelope fields read by the importers.
pub const ENVELOPE: &[&str] = &["customer", "occurred_at", "kind", "event_id", "metadata"];

/// Fields an export writes that the log assigns: accepted and ignored on import.
pub const ASSIGNED_BY_LOG: &[&str] = &[
    "recorded_at",
    "version",
    "position",
    "schema_version",
    "personal_data",
];

/// Metadata fields (CSV columns `metadata.actor`, …).
pub const METADATA: &[&str] = &[
    "actor",
    "actor_id",
    "source",
    "correlation_id",
    "causation_id",
];

/// Whether `name` is a field of any kind.
pub fn is_any_payload_field(name: &str) -> bool {
    KINDS
        .iter()
        .any(|(_, fields)| fields.iter().any(|f| f.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clientele_core::EventPayload;

    fn sample(ty: FieldType) -> serde_json::Value {
        match ty {
            Text | Word => "x-1".into(),
            OneOf(words) => words[0].into(),
            Decimal => "1.00".into(),
            Currency => "CNY".into(),
            Date => "2024-05-01".into(),
            Bool => true.into(),
            Rating => 3.into(),
            Count => 2.into(),
            Number => 4.5.into(),
            List => serde_json::json!(["a"]),
            Map => serde_json::json!({"k": "v"}),
        }
    }

    /// Every field core serializes for a kind is in the table (catches fields
    /// added to core later).
    #[test]
    fn table_is_complete() {
        for (kind, fields) in KINDS {
            let mut all = serde_json::Map::new();
            all.insert("kind".into(), (*kind).into());
            for f in *fields {
                all.insert(f.name.into(), sample(f.ty));
            }
            let payload: EventPayload =
                serde_json::from_value(serde_json::Value::Object(all)).unwrap();
            let back = serde_json::to_value(&payload).unwrap();
            for key in back.as_object().unwrap().keys() {
                assert!(
                    key == "kind" || fields.iter().any(|f| f.name == key),
                    "core has {kind}.{key}, the import table does not"
                );
            }
        }
    }

    /// Every field in the table exists in core with a compatible type, and
    /// the required ones are really required.
    #[test]
    fn table_agrees_with_core() {
        for (kind, fields) in KINDS {
            let mut all = serde_json::Map::new();
            all.insert("kind".into(), (*kind).into());
            for f in *fields {
                all.insert(f.name.into(), sample(f.ty));
            }
            let value = serde_json::Value::Object(all.clone());
            serde_json::from_value::<EventPayload>(value)
                .unwrap_or_else(|e| panic!("{kind} with every field: {e}"));
            for f in fields.iter().filter(|f| f.required) {
                let mut partial = all.clone();
                partial.remove(f.name);
                assert!(
                    serde_json::from_value::<EventPayload>(serde_json::Value::Object(partial))
                        .is_err(),
                    "{kind}.{} is not required in core",
                    f.name
                );
            }
        }
    }
}
