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
    fn decimal_literal_returns_a_number_s_digits_unchanged() {
        // The literal text is handed back as is: trailing zeros, and so the
        // scale, survive (12.340 has scale 3, not 2).
        for raw in ["12.340", "0", "-0.5", "165.35", "0.30", "007", "-12"] {
            assert_eq!(decimal_literal(raw), Ok(Some(raw)), "{raw}");
        }
        let d: crate::Decimal = decimal_literal("12.340").unwrap().unwrap().parse().unwrap();
        assert_eq!((d.units(), d.scale()), (12_340, 3));
    }

    #[test]
    fn decimal_literal_refuses_exponent_notation() {
        for raw in ["1e3", "1E3", "-2.5e-1", "12.5E+2", "0e0"] {
            let reason = decimal_literal(raw).unwrap_err();
            assert!(reason.contains("exponent notation"), "{raw}: {reason}");
            assert!(reason.contains(raw), "the reason names the text: {reason}");
        }
    }

    #[test]
    fn decimal_literal_leaves_other_values_to_the_field_type() {
        // Not a number: `None`, whatever is inside (a string holding an
        // exponent is judged later, by the decimal parser).
        for raw in [
            r#""12.50""#,
            r#""1e3""#,
            "null",
            "true",
            "false",
            "[1]",
            r#"{"a":1}"#,
            "NaN",
            "Infinity",
        ] {
            assert_eq!(decimal_literal(raw), Ok(None), "{raw}");
        }
    }

    #[test]
    fn decimal_literal_does_not_judge_the_range() {
        // Range is the decimal parser's business: decimal_literal passes
        // the digits through, and deserializing the event then fails.
        let huge = "99999999999999999999"; // > i64::MAX (≈ 9.22 × 10^18)
        assert_eq!(decimal_literal(huge), Ok(Some(huge)));
        let too_fine = "0.0000000000000000001"; // 19 places > MAX_SCALE (18)
        assert_eq!(decimal_literal(too_fine), Ok(Some(too_fine)));
        for amount in [huge, too_fine] {
            let text = format!(
                r#"{{"kind":"purchase","order_id":"A","amount":{amount},"currency":"CNY"}}"#
            );
            let e = from_str::<crate::EventPayload>(&text).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{amount}: {e}");
        }
    }

    #[test]
    fn decimal_fields_through_from_str() {
        let purchase = |amount: &str| {
            from_str::<crate::EventPayload>(&format!(
                r#"{{"kind":"purchase","order_id":"A","amount":{amount},"currency":"CNY"}}"#
            ))
        };
        let crate::EventPayload::Purchase(p) = purchase("12.340").unwrap() else {
            panic!("a purchase")
        };
        assert_eq!((p.amount.units(), p.amount.scale()), (12_340, 3));
        // A JSON string is read the same way.
        let crate::EventPayload::Purchase(p) = purchase(r#""12.340""#).unwrap() else {
            panic!("a purchase")
        };
        assert_eq!((p.amount.units(), p.amount.scale()), (12_340, 3));
        let e = purchase("1.2e1").unwrap_err();
        assert!(
            e.to_string().contains("field `amount`: exponent notation"),
            "{e}"
        );
        // NaN is not JSON at all; a string holding an exponent is not a decimal.
        assert!(purchase("NaN").is_err());
        assert!(purchase(r#""1e3""#).is_err());
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
