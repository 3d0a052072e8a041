//! Validation at the boundary: every event is checked, and normalised, before
//! it is encoded. A failing event names the field.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::envelope::NewEvent;
use crate::error::ValidationError;
use crate::event::{Complaint, Contact, EventPayload, Profile, Referred};
use crate::money::{Currency, Decimal};

/// Limits applied when validating events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// How far in the future (relative to the append time) `occurred_at` may be.
    /// Clocks disagree a little; a purchase dated next year is a mistake.
    pub max_future_skew: Duration,
    /// The earliest acceptable `occurred_at`.
    pub earliest: DateTime<Utc>,
    /// Longest accepted text field, in bytes.
    pub max_text_len: usize,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            max_future_skew: Duration::days(1),
            earliest: Utc
                .with_ymd_and_hms(1900, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            max_text_len: 4096,
        }
    }
}

type Check = Result<(), ValidationError>;

fn err(field: &str, reason: impl Into<String>) -> ValidationError {
    ValidationError::new(field, reason)
}

impl ValidationPolicy {
    /// Checks `event` as appended at `now`, and normalises it: amounts are
    /// rescaled to their currency's minor unit and `occurred_at` is truncated to
    /// microseconds (the stored precision).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clientele_core::{NewEvent, ValidationPolicy, event::Purchase};
    /// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let mut e = NewEvent::new(now, Purchase::new("o-1", "-5".parse().unwrap(), "CNY".parse().unwrap()));
    /// let error = ValidationPolicy::default().check(&mut e, now).unwrap_err();
    /// assert_eq!(error.field, "amount");
    /// ```
    pub fn check(&self, event: &mut NewEvent, now: DateTime<Utc>) -> Check {
        if event.event_id.as_uuid().is_nil() {
            return Err(err("event_id", "must not be the nil UUID"));
        }
        let micros = event.occurred_at.timestamp_micros();
        event.occurred_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| err("occurred_at", "out of range"))?;
        if event.occurred_at > now + self.max_future_skew {
            return Err(err(
                "occurred_at",
                format!(
                    "{} is in the future (now {}, tolerance {} s)",
                    event.occurred_at.to_rfc3339(),
                    now.to_rfc3339(),
                    self.max_future_skew.num_seconds()
                ),
            ));
        }
        if event.occurred_at < self.earliest {
            return Err(err(
                "occurred_at",
                format!(
                    "{} is before {}",
                    event.occurred_at.to_rfc3339(),
                    self.earliest.to_rfc3339()
                ),
            ));
        }
        self.text_opt("metadata.actor_id", event.metadata.actor_id.as_deref())?;
        self.text_opt("metadata.source", event.metadata.source.as_deref())?;
        match &mut event.payload {
            EventPayload::Contact(c) => self.contact(c),
            EventPayload::Purchase(p) => {
                self.text("order_id", &p.order_id)?;
                p.amount = amount("amount", p.amount, p.currency)?;
                if let Some(margin) = p.margin {
                    p.margin = Some(money_scale("margin", margin, p.currency)?);
                }
                self.text_opt("category", p.category.as_deref())?;
                self.text_opt("policy_number", p.policy_number.as_deref())?;
                if p.quantity == Some(0) {
                    return Err(err("quantity", "must be at least 1 when given"));
                }
                if let (Some(start), Some(end)) = (p.coverage_start, p.valid_until) {
                    if end < start {
                        return Err(err(
                            "valid_until",
                            format!("{end} is before coverage_start {start}"),
                        ));
                    }
                }
                Ok(())
            }
            EventPayload::Refund(r) => {
                self.text("order_id", &r.order_id)?;
                r.amount = amount("amount", r.amount, r.currency)?;
                self.text_opt("reason", r.reason.as_deref())
            }
            EventPayload::Cancellation(c) => {
                self.text("order_id", &c.order_id)?;
                self.text_opt("reason", c.reason.as_deref())
            }
            EventPayload::Payment(p) => {
                self.text("reference", &p.reference)?;
                p.amount = amount("amount", p.amount, p.currency)?;
                Ok(())
            }
            EventPayload::Complaint(c) => self.complaint(c),
            EventPayload::Referral(r) => match &r.referred {
                Referred::Customer(id) if id.as_uuid().is_nil() => {
                    Err(err("referred", "must not be the nil UUID"))
                }
                Referred::Customer(_) => Ok(()),
                Referred::Prospect(text) => self.text("referred", text),
            },
            EventPayload::Churn(c) => self.text("reason", &c.reason),
            EventPayload::Reactivation(r) => self.text_opt("campaign", r.campaign.as_deref()),
            EventPayload::Profile(p) => self.profile(p),
            EventPayload::Erasure(_) => Err(err(
                "kind",
                "erasure events are recorded by Store::forget and retention, not appended directly",
            )),
        }
    }

    fn text(&self, field: &str, value: &str) -> Check {
        if value.trim().is_empty() {
            return Err(err(field, "must not be empty"));
        }
        if value.len() > self.max_text_len {
            return Err(err(
                field,
                format!("longer than {} bytes", self.max_text_len),
            ));
        }
        Ok(())
    }

    fn text_opt(&self, field: &str, value: Option<&str>) -> Check {
        value.map_or(Ok(()), |v| self.text(field, v))
    }

    fn contact(&self, c: &Contact) -> Check {
        if let Some(rating) = c.rating {
            if !(1..=5).contains(&rating) {
                return Err(err("rating", format!("{rating} is not on the 1–5 scale")));
            }
        }
        for (field, value) in [("perceived", c.perceived), ("expected", c.expected)] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(err(
                        field,
                        format!("{v} is not a finite non-negative number"),
                    ));
                }
            }
        }
        if c.expected == Some(0.0) {
            return Err(err(
                "expected",
                "must be above 0 (satisfaction = perceived ÷ expected)",
            ));
        }
        if c.perceived.is_some() != c.expected.is_some() {
            let missing = if c.perceived.is_some() {
                "expected"
            } else {
                "perceived"
            };
            return Err(err(missing, "perceived and expected go together"));
        }
        self.text_opt("outcome", c.outcome.as_deref())?;
        self.text_opt("department", c.department.as_deref())
    }

    fn complaint(&self, c: &Complaint) -> Check {
        self.text("complaint_id", &c.complaint_id)?;
        if let Some(rating) = c.feedback_rating {
            if !(1..=5).contains(&rating) {
                return Err(err(
                    "feedback_rating",
                    format!("{rating} is not on the 1–5 scale"),
                ));
            }
        }
        self.text_opt("category", c.category.as_deref())?;
        self.text_opt("cause", c.cause.as_deref())?;
        self.text_opt("owner", c.owner.as_deref())?;
        self.text_opt("resolution", c.resolution.as_deref())
    }

    fn profile(&self, p: &Profile) -> Check {
        self.text_opt("name", p.name.as_deref())?;
        self.text_opt("phone", p.phone.as_deref())?;
        if let Some(email) = p.email.as_deref() {
            self.text("email", email)?;
            if !email.contains('@') {
                return Err(err("email", format!("{email:?} is not an e-mail address")));
            }
        }
        self.text_opt("national_id", p.national_id.as_deref())?;
        self.text_opt("licence_plate", p.licence_plate.as_deref())?;
        for (i, n) in p.policy_numbers.iter().enumerate() {
            self.text(&format!("policy_numbers[{i}]"), n)?;
        }
        for (i, n) in p.external_ids.iter().enumerate() {
            self.text(&format!("external_ids[{i}]"), n)?;
        }
        if let Some(birthday) = p.birthday {
            if birthday < NaiveDate::from_ymd_opt(1850, 1, 1).unwrap_or(NaiveDate::MIN) {
                return Err(err("birthday", format!("{birthday} is implausible")));
            }
        }
        for (k, v) in &p.segment {
            self.text("segment", k)?;
            self.text(&format!("segment.{k}"), v)?;
        }
        Ok(())
    }
}

fn money_scale(
    field: &str,
    value: Decimal,
    currency: Currency,
) -> Result<Decimal, ValidationError> {
    let exponent = currency.minor_unit_exponent();
    value.rescale(exponent).ok_or_else(|| {
        if value.scale() > exponent {
            err(
                field,
                format!("{value} has more than {exponent} decimal places for {currency}"),
            )
        } else {
            err(field, format!("{value} is out of range"))
        }
    })
}

fn amount(field: &str, value: Decimal, currency: Currency) -> Result<Decimal, ValidationError> {
    if value.is_negative() {
        return Err(err(
            field,
            format!("{value} is negative; use a refund event for money returned"),
        ));
    }
    money_scale(field, value, currency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, Direction, Purchase, Purpose};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
    }

    fn field_of(mut e: NewEvent) -> String {
        ValidationPolicy::default()
            .check(&mut e, now())
            .unwrap_err()
            .field
    }

    #[test]
    fn names_the_failing_field() {
        let cny: Currency = "CNY".parse().unwrap();
        let p = Purchase::new("o", "1.001".parse().unwrap(), cny);
        assert_eq!(field_of(NewEvent::new(now(), p)), "amount");
        let p = Purchase::new(" ", "1".parse().unwrap(), cny);
        assert_eq!(field_of(NewEvent::new(now(), p)), "order_id");
        let p = Purchase::new("o", "1".parse().unwrap(), cny);
        assert_eq!(
            field_of(NewEvent::new(now() + Duration::days(400), p)),
            "occurred_at"
        );
        let mut c = Contact::new(Channel::Phone, Direction::Inbound, Purpose::Survey);
        c.rating = Some(6);
        assert_eq!(field_of(NewEvent::new(now(), c.clone())), "rating");
        c.rating = None;
        c.perceived = Some(f64::NAN);
        c.expected = Some(1.0);
        assert_eq!(field_of(NewEvent::new(now(), c)), "perceived");
    }

    #[test]
    fn normalises_amounts_and_time() {
        let cny: Currency = "CNY".parse().unwrap();
        let mut e = NewEvent::new(
            now() + Duration::nanoseconds(1_500),
            Purchase::new("o", "165".parse().unwrap(), cny),
        );
        ValidationPolicy::default().check(&mut e, now()).unwrap();
        let EventPayload::Purchase(p) = &e.payload else {
            panic!()
        };
        assert_eq!((p.amount.units(), p.amount.scale()), (16500, 2));
        assert_eq!(e.occurred_at, now() + Duration::microseconds(1));
    }
}
