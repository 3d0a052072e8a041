//! JSON with exact decimals.
//!
//! `serde_json` turns a JSON number such as `165.35` into an `f64` before any
//! type sees it, and money must never pass through binary floating point. This
//! module reads the top-level object with its values left as raw text, turns
//! the numbers of the decimal fields (`amount`, `margin`) into strings — the
//! literal digits, unchanged — and only then deserializes.
//!
//! ```
//! use clientele_core::{json, EventPayload};
//! let p: EventPayload = json::from_str(r#"{"kind":"purchase","order_id":"A","amount":0.30,"currency":"CNY"}"#)?;
//! let EventPayload::Purchase(p) = p else { unreachable!() };
//! assert_eq!((p.amount.units(), p.amount.scale()), (30, 2)); // exactly 0.30
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeSet;

use serde::de::{DeserializeOwned, Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Fields holding exact decimals.
pub const DECIMAL_FIELDS: [&str; 2] = ["amount", "margin"];

/// The members of a JSON object in their order, values left as raw text; a
/// key given twice is an error (a plain map would keep the last silently).
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut seen = BTreeSet::new();
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(A::Error::custom(format!("duplicate field `{key}`")));
                    }
                    members.push((key, map.next_value::<Box<RawValue>>()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Rewrites a JSON object so that numbers in [`DECIMAL_FIELDS`] become strings
/// holding their exact literal text. Other values are kept byte for byte. A
/// key given twice in the object is an error; inside nested values, structs
/// refuse a repeated field when deserialized, but maps (e.g. a profile's
/// `segment`) keep the last value.
pub fn exact_decimals(text: &str) -> Result<String, serde_json::Error> {
    let Members(fields) = serde_json::from_str(text)?;
    let mut out = String::with_capacity(text.len() + 8);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key)?);
        out.push(':');
        let raw = value.get();
        let literal = if DECIMAL_FIELDS.contains(&key.as_str()) {
            decimal_literal(raw)
                .map_err(|reason| serde_json::Error::custom(format!("field `{key}`: {reason}")))?
        } else {
            None
        };
        match literal {
            Some(digits) => {
                out.push('"');
                out.push_str(digits);
                out.push('"');
            }
            None => out.push_str(raw),
        }
    }
    out.push('}');
    Ok(out)
}

/// The raw JSON text of a decimal field's value, read exactly: its literal
/// digits if it is a number (`Some`), `None` for any other value (left to
/// the field's type to judge). Exponent notation is refused.
pub fn decimal_literal(raw: &str) -> Result<Option<&str>, String> {
    if !raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Ok(None);
    }
    if raw.contains(['e', 'E']) {
        return Err(format!(
            "exponent notation is not accepted for amounts ({raw})"
        ));
    }
    Ok(Some(raw))
}

/// Deserializes `T` from a JSON object, reading decimal fields exactly.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(&exact_decimals(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_decimal_fields_keep_their_digits() {
        let out =
            exact_decimals(r#"{"amount": 12.340, "quantity": 2, "margin": -0.5, "name": "x"}"#)
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["amount"], "12.340");
        assert_eq!(v["margin"], "-0.5");
        assert_eq!(v["quantity"], 2);
        assert!(exact_decimals(r#"{"amount": 1e3}"#).is_err());
        assert!(exact_decimals("[1,2]").is_err());
    }

    #[test]
    fn a_key_given_twice_is_an_error() {
        let text =
            r#"{"kind":"purchase","order_id":"A","amount":"1.00","currency":"CNY","order_id":"B"}"#;
        let e = from_str::<crate::EventPayload>(text).unwrap_err();
        assert!(e.to_string().contains("duplicate field `order_id`"), "{e}");
        let e = exact_decimals(r#"{"amount":1,"amount":2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field `amount`"), "{e}");
        // Members keep their order; each once.
        assert_eq!(
            exact_decimals(r#"{"b":1,"a":2.50}"#).unwrap(),
            r#"{"b":1,"a":2.50}"#
        );
        assert_eq!(
            exact_decimals(r#"{"b":1,"amount":2.50}"#).unwrap(),
            r#"{"b":1,"amount":"2.50"}"#
        );
    }
}
