//! One import record (a JSON object whose amounts are already exact strings)
//! → one validated [`NewEvent`] for one customer, or a [`LineError`] naming
//! the line and the field. Shared by the JSON Lines and CSV importers.

use chrono::{DateTime, NaiveDate, Utc};
use clientele_core::{
    Currency, CustomerId, Decimal, EventId, EventPayload, Metadata, NewEvent, ValidationPolicy,
};
use serde_json::{Map, Value};

use super::fields::{self, FieldType};
use super::{LineError, ParsedEvent};

/// What every record of one import shares.
#[derive(Debug, Clone)]
pub struct RecordContext {
    /// The system external ids belong to (`--source`).
    pub source: String,
    /// "Now" for validation (events may not be dated more than a day after it).
    pub now: DateTime<Utc>,
    /// The validation policy (the store's default).
    pub policy: ValidationPolicy,
}

impl RecordContext {
    /// A context for `source`, validating against the wall clock.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            now: Utc::now(),
            policy: ValidationPolicy::default(),
        }
    }
}

/// Parses a time: RFC 3339 (`2024-05-01T10:00:00Z`, any offset) or a plain
/// date (`2024-05-01`, midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(time) = date.and_hms_opt(0, 0, 0) {
            return Ok(time.and_utc());
        }
    }
    Err(format!(
        "{t:?} is not an RFC 3339 time such as 2024-05-01T10:00:00Z (or a date such as 2024-05-01)"
    ))
}

/// Resolves a `customer` value: a UUID is the customer id; anything else is
/// an external id of `source`, mapped to a stable UUID v5.
pub fn resolve_customer(text: &str, source: &str) -> Result<(CustomerId, Option<String>), String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    match t.parse::<CustomerId>() {
        Ok(id) if id.as_uuid().is_nil() => Err("must not be the nil UUID".into()),
        Ok(id) => Ok((id, None)),
        Err(_) => Ok((CustomerId::from_external(source, t), Some(t.to_owned()))),
    }
}

/// The deterministic id of an imported event without `event_id`: UUID v5 of
/// the source, the customer and the event's normalised content (time,
/// metadata, kind and fields), so importing the same line again — even
/// re-formatted — finds the stored event instead of duplicating it.
pub fn derive_event_id(source: &str, customer: CustomerId, event: &NewEvent) -> EventId {
    let content = serde_json::to_string(&(&event.occurred_at, &event.metadata, &event.payload))
        .unwrap_or_default();
    let mut name = Vec::with_capacity(content.len() + source.len() + 64);
    name.extend_from_slice(b"clientele-import\0");
    name.extend_from_slice(source.as_bytes());
    name.push(0);
    name.extend_from_slice(customer.to_string().as_bytes());
    name.push(0);
    name.extend_from_slice(content.as_bytes());
    EventId::derived(&name)
}

fn err(line: u64, field: &str, reason: impl Into<String>) -> LineError {
    LineError::field(line, field, reason)
}

fn as_text<'a>(line: u64, name: &str, value: &'a Value) -> Result<&'a str, LineError> {
    value.as_str().ok_or_else(|| {
        err(
            line,
            name,
            format!("expected a text, got {}", json_type(value)),
        )
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks a JSON value against the field's type; the message says what was expected.
pub fn check_type(line: u64, name: &str, ty: FieldType, value: &Value) -> Result<(), LineError> {
    let wrong = || {
        err(
            line,
            name,
            format!("expected {}, got {}", ty.describe(), short(value)),
        )
    };
    match ty {
        FieldType::Text | FieldType::Word => {
            as_text(line, name, value)?;
        }
        FieldType::OneOf(words) => {
            let text = as_text(line, name, value)?;
            if !words.contains(&text) {
                return Err(wrong());
            }
        }
        FieldType::Decimal => {
            let text = value.as_str().ok_or_else(wrong)?;
            text.parse::<Decimal>()
                .map_err(|e| err(line, name, e.to_string()))?;
        }
        FieldType::Currency => {
            let text = as_text(line, name, value)?;
            text.parse::<Currency>()
                .map_err(|e| err(line, name, e.to_string()))?;
        }
        FieldType::Date => {
            let text = as_text(line, name, value)?;
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| wrong())?;
        }
        FieldType::Bool => {
            value.as_bool().ok_or_else(wrong)?;
        }
        FieldType::Rating => {
            let n = value.as_u64().ok_or_else(wrong)?;
            if !(1..=5).contains(&n) {
                return Err(wrong());
            }
        }
        FieldType::Count => {
            let n = value.as_u64().ok_or_else(wrong)?;
            u32::try_from(n).map_err(|_| wrong())?;
        }
        FieldType::Number => {
            value.as_f64().ok_or_else(wrong)?;
        }
        FieldType::List => {
            let items = value.as_array().ok_or_else(wrong)?;
            if !items.iter().all(Value::is_string) {
                return Err(wrong());
            }
        }
        FieldType::Map => {
            let entries = value.as_object().ok_or_else(wrong)?;
            if !entries.values().all(Value::is_string) {
                return Err(wrong());
            }
        }
    }
    Ok(())
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The field a serde error message names (`unknown field `x``, `missing
/// field `x``, `duplicate field `x``). Other messages quote the bad *value*
/// in backticks (`invalid type: integer `5``, `unknown variant `nobody``):
/// None for those.
fn serde_field(message: &str) -> Option<String> {
    let rest = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))?;
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

/// Reads the metadata object; an error names the metadata field at fault.
fn metadata_of(line: u64, m: Map<String, Value>) -> Result<Metadata, LineError> {
    serde_json::from_value::<Metadata>(Value::Object(m.clone())).map_err(|e| {
        let message = e.to_string();
        // The field whose value alone is refused, else what serde names.
        let field = m
            .iter()
            .find(|(k, v)| {
                let one = Map::from_iter([((*k).clone(), (*v).clone())]);
                serde_json::from_value::<Metadata>(Value::Object(one)).is_err()
            })
            .map(|(k, _)| k.clone())
            .or_else(|| serde_field(&message));
        match field {
            Some(f) => err(line, &format!("metadata.{f}"), message),
            None => err(line, "metadata", message),
        }
    })
}

/// Turns one record into an event. `record`'s decimal fields must already be
/// exact strings (see [`clientele_core::json::exact_decimals`]).
pub fn to_event(
    line: u64,
    mut record: Map<String, Value>,
    ctx: &RecordContext,
) -> Result<ParsedEvent, LineError> {
    // JSON null means "absent" everywhere.
    record.retain(|_, v| !v.is_null());
    for assigned in fields::ASSIGNED_BY_LOG {
        record.remove(*assigned);
    }
    let customer_value = match (record.remove("customer"), record.remove("customer_id")) {
        (Some(_), Some(_)) => {
            return Err(err(
                line,
                "customer_id",
                "give either `customer` or `customer_id`, not both",
            ))
        }
        (Some(v), None) => v,
        (None, Some(v)) => v,
        (None, None) => return Err(err(line, "customer", "missing (a UUID or an external id)")),
    };
    let customer_text = match &customer_value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(err(
                line,
                "customer",
                format!(
                    "expected a UUID or an external id, got {}",
                    json_type(other)
                ),
            ))
        }
    };
    let (customer, external_id) =
        resolve_customer(&customer_text, &ctx.source).map_err(|r| err(line, "customer", r))?;

    let occurred_at = match record.remove("occurred_at") {
        Some(v) => parse_time(as_text(line, "occurred_at", &v)?)
            .map_err(|r| err(line, "occurred_at", r))?,
        None => return Err(err(line, "occurred_at", "missing (an RFC 3339 time)")),
    };

    let event_id = match record.remove("event_id") {
        Some(v) => {
            let text = as_text(line, "event_id", &v)?;
            let id: EventId = text
                .trim()
                .parse()
                .map_err(|_| err(line, "event_id", format!("{text:?} is not a UUID")))?;
            Some(id)
        }
        None => None,
    };

    let metadata = match record.remove("metadata") {
        Some(Value::Object(mut m)) => {
            m.retain(|_, v| !v.is_null());
            if let Some(unknown) = m.keys().find(|k| !fields::METADATA.contains(&k.as_str())) {
                return Err(err(
                    line,
                    &format!("metadata.{unknown}"),
                    format!(
                        "unknown metadata field (known: {})",
                        fields::METADATA.join(", ")
                    ),
                ));
            }
            metadata_of(line, m)?
        }
        Some(other) => {
            return Err(err(
                line,
                "metadata",
                format!("expected an object, got {}", json_type(&other)),
            ))
        }
        None => Metadata {
            source: Some(format!("import:{}", ctx.source)),
            ..Metadata::default()
        },
    };

    let kind = match record.get("kind") {
        Some(Value::String(k)) => k.clone(),
        Some(other) => {
            return Err(err(
                line,
                "kind",
                format!("expected a kind name, got {}", json_type(other)),
            ))
        }
        None => return Err(err(line, "kind", "missing (e.g. purchase, contact)")),
    };
    if let Some(kind_fields) = fields::kind_fields(&kind) {
        for (name, value) in &record {
            if name == "kind" {
                continue;
            }
            match kind_fields.iter().find(|f| f.name == name) {
                Some(f) => check_type(line, name, f.ty, value)?,
                None => {
                    let known: Vec<&str> = kind_fields.iter().map(|f| f.name).collect();
                    return Err(err(
                        line,
                        name,
                        format!(
                            "unknown field for kind `{kind}` (its fields: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(missing) = kind_fields
            .iter()
            .find(|f| f.required && !record.contains_key(f.name))
        {
            return Err(err(
                line,
                missing.name,
                format!("missing (required for `{kind}`)"),
            ));
        }
    }
    let payload: EventPayload = serde_json::from_value(Value::Object(record)).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("unknown variant") {
            let known: Vec<&str> = fields::KINDS.iter().map(|(k, _)| *k).collect();
            return err(
                line,
                "kind",
                format!("unknown kind `{kind}` (known: {})", known.join(", ")),
            );
        }
        let field = serde_field(&message).unwrap_or_else(|| "kind".into());
        err(line, &field, message)
    })?;

    let mut event = NewEvent {
        event_id: event_id.unwrap_or_else(|| EventId::from_uuid(uuid::Uuid::from_u128(1))),
        occurred_at,
        metadata,
        payload,
    };
    ctx.policy
        .check(&mut event, ctx.now)
        .map_err(|e| err(line, &e.field, e.reason))?;
    if event_id.is_none() {
        event.event_id = derive_event_id(&ctx.source, customer, &event);
    }
    Ok(ParsedEvent {
        line,
        customer,
        external_id,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(
            parse_time("2024-05-01T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("2024-05-01").unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        for bad in [
            "2024-13-01",
            "yesterday",
            "2024-05-01 10:00",
            "",
            "01/05/2024",
        ] {
            assert!(parse_time(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn customers_are_uuids_or_external_ids() {
        let (id, ext) = resolve_customer("17", "cdnow").unwrap();
        assert_eq!(id, CustomerId::from_external("cdnow", "17"));
        assert_eq!(ext.as_deref(), Some("17"));
        let uuid = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        let (id, ext) = resolve_customer(uuid, "x").unwrap();
        assert_eq!(id.to_string(), uuid);
        assert_eq!(ext, None);
        assert!(resolve_customer("00000000-0000-0000-0000-000000000000", "x").is_err());
        assert!(resolve_customer("  ", "x").is_err());
    }

    #[test]
    fn serde_field_names() {
        assert_eq!(
            serde_field("unknown field `ammount`, expected one of `a`").as_deref(),
            Some("ammount")
        );
        assert_eq!(serde_field("no field"), None);
        assert_eq!(
            serde_field("missing field `reason`").as_deref(),
            Some("reason")
        );
    }

    /// Found by tests/import_properties.rs: the first backticked word of a
    /// serde message was taken as the field, but type and variant errors
    /// quote the value: `{"source":5}` was reported as field `metadata.5`,
    /// `{"actor":"nobody"}` as `metadata.nobody`.
    #[test]
    fn metadata_errors_name_the_field_not_the_value() {
        assert_eq!(
            serde_field("invalid type: integer `5`, expected a string"),
            None
        );
        assert_eq!(
            serde_field("unknown variant `nobody`, expected one of `staff`"),
            None
        );
        for (metadata, field) in [
            (r#"{"source":5}"#, "metadata.source"),
            (r#"{"source":"crm","actor":"nobody"}"#, "metadata.actor"),
            (
                r#"{"correlation_id":"not-a-uuid"}"#,
                "metadata.correlation_id",
            ),
        ] {
            let text = format!(
                r#"{{"customer":"c","occurred_at":"2024-02-01","kind":"churn","reason":"x","metadata":{metadata}}}"#
            );
            let record = serde_json::from_str(&text).unwrap();
            let e = to_event(3, record, &RecordContext::new("test")).unwrap_err();
            assert_eq!((e.line, e.field.as_deref()), (3, Some(field)), "{e}");
        }
    }
}
