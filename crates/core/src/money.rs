//! Exact money: decimal amounts and ISO 4217 currencies. Never `f64`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a decimal or currency could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a plain decimal number such as `-12.50`.
    #[error("not a decimal number: {0:?}")]
    NotADecimal(String),
    /// The number does not fit in 64-bit minor units.
    #[error("amount out of range: {0}")]
    Overflow(String),
    /// Not three ASCII letters.
    #[error("not an ISO 4217 currency code: {0:?}")]
    BadCurrency(String),
    /// More decimal places than the currency has minor units.
    #[error("{amount} has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount as given.
        amount: String,
        /// The currency.
        currency: Currency,
        /// The currency's number of decimal places.
        exponent: u8,
    },
}

/// An exact decimal number: `units × 10^-scale`.
///
/// ```
/// use clientele_core::Decimal;
/// let d: Decimal = "-12.50".parse().unwrap();
/// assert_eq!((d.units(), d.scale()), (-1250, 2));
/// assert_eq!(d.to_string(), "-12.50");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    units: i64,
    scale: u8,
}

/// The largest scale a [`Decimal`] may have.
pub const MAX_SCALE: u8 = 18;

impl Decimal {
    /// `units × 10^-scale`; `None` if `scale` exceeds [`MAX_SCALE`].
    pub const fn new(units: i64, scale: u8) -> Option<Self> {
        if scale > MAX_SCALE {
            None
        } else {
            Some(Self { units, scale })
        }
    }

    /// The integer mantissa.
    pub const fn units(&self) -> i64 {
        self.units
    }

    /// The number of decimal places.
    pub const fn scale(&self) -> u8 {
        self.scale
    }

    /// Whether the value is below zero.
    pub const fn is_negative(&self) -> bool {
        self.units < 0
    }

    /// The same value with exactly `scale` decimal places, if that is exact and fits.
    pub fn rescale(&self, scale: u8) -> Option<Self> {
        if scale > MAX_SCALE {
            return None;
        }
        if scale >= self.scale {
            let factor = 10i64.checked_pow(u32::from(scale - self.scale))?;
            Some(Self {
                units: self.units.checked_mul(factor)?,
                scale,
            })
        } else {
            let factor = 10i64.checked_pow(u32::from(self.scale - scale))?;
            if self.units % factor != 0 {
                return None;
            }
            Some(Self {
                units: self.units / factor,
                scale,
            })
        }
    }

    /// An approximate `f64`, for statistics only (never for storage).
    pub fn to_f64(&self) -> f64 {
        self.units as f64 / 10f64.powi(i32::from(self.scale))
    }
}

impl FromStr for Decimal {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || MoneyError::NotADecimal(text.to_owned());
        let s = text.trim();
        let (negative, digits) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let scale = u8::try_from(frac_part.len()).map_err(|_| bad())?;
        if scale > MAX_SCALE {
            return Err(MoneyError::Overflow(text.to_owned()));
        }
        let mut units: i64 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(i64::from(b - b'0')))
                .ok_or_else(|| MoneyError::Overflow(text.to_owned()))?;
        }
        Ok(Self {
            units: if negative { -units } else { units },
            scale,
        })
    }
}

impl Decimal {
    /// Appends the text [`Display`](fmt::Display) gives (`-12.50`) to `out`,
    /// without the formatting machinery: audit summaries and reports write
    /// many amounts.
    ///
    /// ```
    /// use clientele_core::Decimal;
    ///
    /// let mut text = String::from("total ");
    /// "-12.50".parse::<Decimal>()?.push_to(&mut text);
    /// assert_eq!(text, "total -12.50");
    /// # Ok::<(), clientele_core::MoneyError>(())
    /// ```
    pub fn push_to(&self, out: &mut String) {
        let mut buf = [0u8; DIGITS_MAX];
        // The buffer holds any decimal: `digits` cannot fail.
        if let Some(text) = self.digits(&mut buf) {
            out.push_str(text);
        }
    }

    /// The text: the units with the decimal point `scale` digits from the
    /// right (at least one digit before it), written right to left into
    /// `buf`. None only if `buf` were too small.
    fn digits<'b>(&self, buf: &'b mut [u8; DIGITS_MAX]) -> Option<&'b str> {
        let mut at = buf.len();
        let mut put = |byte: u8| -> Option<()> {
            at = at.checked_sub(1)?;
            *buf.get_mut(at)? = byte;
            Some(())
        };
        let scale = usize::from(self.scale);
        let mut rest = self.units.unsigned_abs();
        let mut digits = 0;
        loop {
            if digits == scale && scale > 0 {
                put(b'.')?;
            }
            put(b'0' + (rest % 10) as u8)?;
            rest /= 10;
            digits += 1;
            if rest == 0 && digits > scale {
                break;
            }
        }
        if self.units < 0 {
            put(b'-')?;
        }
        std::str::from_utf8(buf.get(at..)?).ok()
    }
}

/// Longest text of a [`Decimal`]: 20 digits of a u64, the point, the sign,
/// and zeros up to [`MAX_SCALE`].
const DIGITS_MAX: usize = 48;

impl fmt::Display for Decimal {
    /// `-12.50`: see [`Decimal::push_to`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; DIGITS_MAX];
        f.write_str(self.digits(&mut buf).ok_or(fmt::Error)?)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.units, self.scale).serialize(serializer)
        }
    }
}

/// serde_json's private key for numbers under `arbitrary_precision`.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number or a decimal string such as \"12.50\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal { units: v, scale: 0 })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        i64::try_from(v)
            .map(|units| Decimal { units, scale: 0 })
            .map_err(|_| E::custom(MoneyError::Overflow(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Decimal, E> {
        Err(E::custom(
            "binary floating-point amounts are not accepted; write the amount as a decimal string",
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
        // serde_json with `arbitrary_precision` hands numbers over as a one-entry
        // map holding the literal text: parse that text exactly.
        let key: Option<String> = map.next_key()?;
        match key.as_deref() {
            Some(JSON_NUMBER_TOKEN) => {
                let text: String = map.next_value()?;
                text.parse().map_err(de::Error::custom)
            }
            _ => Err(de::Error::custom("expected a decimal number")),
        }
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(DecimalVisitor)
        } else {
            let (units, scale) = <(i64, u8)>::deserialize(deserializer)?;
            Decimal::new(units, scale).ok_or_else(|| de::Error::custom("decimal scale too large"))
        }
    }
}

/// An ISO 4217 currency code (three upper-case ASCII letters).
///
/// ```
/// use clientele_core::Currency;
/// let c: Currency = "cny".parse().unwrap();
/// assert_eq!(c.as_str(), "CNY");
/// assert_eq!(c.minor_unit_exponent(), 2);
/// assert_eq!("JPY".parse::<Currency>().unwrap().minor_unit_exponent(), 0);
/// assert!("C1Y".parse::<Currency>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Chinese yuan.
    pub const CNY: Currency = Currency(*b"CNY");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// From the three letters of a code, as [`FromStr`] reads them (either
    /// case, stored upper-case); None unless they are ASCII letters. For
    /// binary decoders: no UTF-8 check, no allocation.
    ///
    /// ```
    /// use clientele_core::Currency;
    /// assert_eq!(Currency::from_code(*b"cny"), Some(Currency::CNY));
    /// assert_eq!(Currency::from_code(*b"C1Y"), None);
    /// assert_eq!(Currency::CNY.code(), *b"CNY");
    /// ```
    pub fn from_code(code: [u8; 3]) -> Option<Self> {
        code.iter()
            .all(u8::is_ascii_alphabetic)
            .then(|| Self(code.map(|b| b.to_ascii_uppercase())))
    }

    /// The three upper-case letters of the code.
    pub const fn code(&self) -> [u8; 3] {
        self.0
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Number of decimal places of the currency's minor unit (ISO 4217).
    pub fn minor_unit_exponent(&self) -> u8 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <[u8; 3]>::try_from(s.as_bytes())
            .ok()
            .and_then(Self::from_code)
            .ok_or_else(|| MoneyError::BadCurrency(s.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.as_str())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            s.parse().map_err(de::Error::custom)
        } else {
            let bytes = <[u8; 3]>::deserialize(deserializer)?;
            std::str::from_utf8(&bytes)
                .map_err(de::Error::custom)?
                .parse()
                .map_err(de::Error::custom)
        }
    }
}

/// An exact amount of money in a currency's minor units (cents, fen…).
///
/// ```
/// use clientele_core::{Currency, Decimal, Money};
/// let m = Money::from_decimal("165.00".parse().unwrap(), Currency::CNY).unwrap();
/// assert_eq!(m.minor_units(), 16500);
/// assert_eq!(m.to_string(), "165.00 CNY");
/// assert!(Money::from_decimal("1.005".parse().unwrap(), Currency::CNY).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor_units: i64,
    currency: Currency,
}

impl Money {
    /// From minor units (e.g. cents).
    pub const fn from_minor(minor_units: i64, currency: Currency) -> Self {
        Self {
            minor_units,
            currency,
        }
    }

    /// From a decimal amount; fails if it has more places than the currency allows.
    pub fn from_decimal(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.minor_unit_exponent();
        let rescaled = amount.rescale(exponent).ok_or_else(|| {
            if amount.scale() > exponent {
                MoneyError::TooPrecise {
                    amount: amount.to_string(),
                    currency,
                    exponent,
                }
            } else {
                MoneyError::Overflow(amount.to_string())
            }
        })?;
        Ok(Self {
            minor_units: rescaled.units(),
            currency,
        })
    }

    /// The amount in minor units.
    pub const fn minor_units(&self) -> i64 {
        self.minor_units
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount as a decimal with the currency's number of places.
    pub fn amount(&self) -> Decimal {
        Decimal {
            units: self.minor_units,
            scale: self.currency.minor_unit_exponent(),
        }
    }
}

impl Money {
    /// Appends the text [`Display`](fmt::Display) gives (`12.50 CNY`) to
    /// `out`, without the formatting machinery.
    ///
    /// ```
    /// use clientele_core::{Currency, Money};
    ///
    /// let mut text = String::new();
    /// Money::from_minor(1250, Currency::CNY).push_to(&mut text);
    /// assert_eq!(text, "12.50 CNY");
    /// ```
    pub fn push_to(&self, out: &mut String) {
        self.amount().push_to(out);
        out.push(' ');
        out.push_str(self.currency.as_str());
    }
}

impl fmt::Display for Money {
    /// `12.50 CNY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.amount(), f)?;
        f.write_str(" ")?;
        f.write_str(self.currency.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips_text() {
        for s in [
            "0",
            "1",
            "-1",
            "12.50",
            "-0.05",
            "9223372036854775807",
            "0.000000000000000001",
        ] {
            let d: Decimal = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }

    /// The text is the one `format!` with zero padding gave before.
    fn reference_text(units: i64, scale: u8) -> String {
        if scale == 0 {
            return units.to_string();
        }
        let sign = if units < 0 { "-" } else { "" };
        let abs = units.unsigned_abs();
        let factor = 10u64.pow(u32::from(scale));
        format!(
            "{sign}{}.{:0width$}",
            abs / factor,
            abs % factor,
            width = usize::from(scale)
        )
    }

    proptest::proptest! {
        #[test]
        fn decimal_text_matches_reference(units in proptest::prelude::any::<i64>(), scale in 0u8..=MAX_SCALE) {
            if let Some(d) = Decimal::new(units, scale) {
                proptest::prop_assert_eq!(d.to_string(), reference_text(units, scale));
                let mut pushed = String::from("x");
                d.push_to(&mut pushed);
                proptest::prop_assert_eq!(pushed, format!("x{}", reference_text(units, scale)));
                if units != i64::MIN {
                    proptest::prop_assert_eq!(d.to_string().parse::<Decimal>().ok(), Some(d));
                }
            }
        }
    }

    #[test]
    fn decimal_text_at_the_extremes() {
        for units in [i64::MIN, i64::MIN + 1, -1, 0, 1, 9, 10, i64::MAX] {
            for scale in 0..=MAX_SCALE {
                if let Some(d) = Decimal::new(units, scale) {
                    assert_eq!(d.to_string(), reference_text(units, scale));
                    let mut pushed = String::new();
                    d.push_to(&mut pushed);
                    assert_eq!(pushed, reference_text(units, scale));
                }
            }
        }
        let m = Money::from_minor(-5, Currency::CNY);
        assert_eq!(m.to_string(), "-0.05 CNY");
        let mut pushed = String::new();
        m.push_to(&mut pushed);
        assert_eq!(pushed, "-0.05 CNY");
        assert_eq!(format!("[{m:>12}]"), "[-0.05 CNY]");
    }

    #[test]
    fn decimal_rejects_garbage_and_overflow() {
        for s in ["", "-", ".", "1.2.3", "1e5", "abc", "12,5", " - 1"] {
            assert!(s.parse::<Decimal>().is_err(), "{s:?} parsed");
        }
        assert!(matches!(
            "9223372036854775808".parse::<Decimal>(),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn json_strings_are_parsed_exactly_and_floats_refused() {
        let d: Decimal = serde_json::from_str("\"165.35\"").unwrap();
        assert_eq!((d.units(), d.scale()), (16535, 2));
        let d: Decimal = serde_json::from_str("42").unwrap();
        assert_eq!((d.units(), d.scale()), (42, 0));
        let e = serde_json::from_str::<Decimal>("0.1").unwrap_err();
        assert!(e.to_string().contains("decimal string"), "{e}");
    }

    #[test]
    fn money_rescales_to_minor_units() {
        let m = Money::from_decimal("3".parse().unwrap(), "KWD".parse().unwrap()).unwrap();
        assert_eq!(m.minor_units(), 3000);
        assert!(matches!(
            Money::from_decimal("1.5".parse().unwrap(), "JPY".parse().unwrap()),
            Err(MoneyError::TooPrecise { .. })
        ));
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn rescale_up_appends_zeros_exactly() {
        // 1.5 = 15 × 10^-1; three places: 15 × 10^2 = 1500 × 10^-3.
        assert_eq!(dec("1.5").rescale(3), Decimal::new(1500, 3));
        assert_eq!(dec("1.5").rescale(3).unwrap().to_string(), "1.500");
        // Same scale: unchanged.
        assert_eq!(dec("1.50").rescale(2), Some(dec("1.50")));
        // An integer to MAX_SCALE: 7 × 10^18 fits in i64 (max ≈ 9.22 × 10^18).
        assert_eq!(
            dec("7").rescale(MAX_SCALE),
            Decimal::new(7_000_000_000_000_000_000, 18)
        );
        // Zero rescales anywhere.
        assert_eq!(dec("0").rescale(MAX_SCALE), Decimal::new(0, MAX_SCALE));
    }

    #[test]
    fn rescale_down_only_when_exact() {
        // 1.50 = 150 × 10^-2; 150 / 10 = 15 with no remainder: 1.5.
        assert_eq!(dec("1.50").rescale(1), Some(dec("1.5")));
        // 2.000 → 0 places: 2000 % 1000 = 0, 2000 / 1000 = 2.
        assert_eq!(dec("2.000").rescale(0), Decimal::new(2, 0));
        // 1.500 → 0 places: 1500 % 1000 = 500, inexact; but 1.500 → 1 place is 1.5.
        assert_eq!(dec("1.500").rescale(0), None);
        assert_eq!(dec("1.500").rescale(1), Decimal::new(15, 1));
        // 1.55 = 155 × 10^-2; 155 % 10 = 5: dropping a place would round.
        assert_eq!(dec("1.55").rescale(1), None);
        // 0.000000000000000001 (1 × 10^-18) is not a whole number.
        assert_eq!(dec("0.000000000000000001").rescale(0), None);
    }

    #[test]
    fn rescale_keeps_the_sign() {
        // -12.50 = -1250 × 10^-2.
        assert_eq!(dec("-12.50").rescale(1), Decimal::new(-125, 1));
        assert_eq!(dec("-12.50").rescale(4), Decimal::new(-125_000, 4));
        // -1.55: -155 % 10 = -5 ≠ 0, inexact in the negative direction too.
        assert_eq!(dec("-1.55").rescale(1), None);
        assert!(dec("-12.50").rescale(4).unwrap().is_negative());
    }

    #[test]
    fn rescale_refuses_a_scale_above_the_max() {
        assert_eq!(dec("1").rescale(MAX_SCALE + 1), None);
        assert_eq!(dec("1").rescale(u8::MAX), None);
        // Even when the value would not change (scale 18 already, no digits to add).
        let tiny = Decimal::new(1, MAX_SCALE).unwrap();
        assert_eq!(tiny.rescale(MAX_SCALE), Some(tiny));
        assert_eq!(tiny.rescale(MAX_SCALE + 1), None);
    }

    #[test]
    fn rescale_refuses_overflow() {
        // i64::MAX × 10 does not fit.
        assert_eq!(Decimal::new(i64::MAX, 0).unwrap().rescale(1), None);
        assert_eq!(Decimal::new(i64::MIN, 0).unwrap().rescale(1), None);
        // 10 × 10^18 = 10^19 > i64::MAX.
        assert_eq!(dec("10").rescale(MAX_SCALE), None);
        // Scaling down divides, so it cannot overflow; i64::MIN
        // (-9223372036854775808) ends in 8, so dropping a place is inexact.
        assert_eq!(Decimal::new(i64::MIN, 1).unwrap().rescale(0), None);
        // The extremes at their own scale are unchanged.
        assert_eq!(
            Decimal::new(i64::MIN, 0).unwrap().rescale(0),
            Decimal::new(i64::MIN, 0)
        );
    }

    #[test]
    fn rescale_agrees_with_parsing_the_padded_text() {
        // Up-scaling then printing gives the text with zeros appended.
        for (text, scale, want) in [
            ("0.3", 2, "0.30"),
            ("-0.05", 4, "-0.0500"),
            ("165", 2, "165.00"),
            ("12.340", 2, "12.34"),
        ] {
            let got = dec(text).rescale(scale).unwrap();
            assert_eq!(got.to_string(), want, "{text} to {scale}");
            assert_eq!(got, dec(want));
        }
    }

    #[test]
    fn to_f64_is_units_over_ten_to_the_scale() {
        assert_eq!(dec("12.50").to_f64(), 12.5);
        assert_eq!(dec("-0.05").to_f64(), -0.05);
        assert_eq!(dec("0").to_f64(), 0.0);
        assert_eq!(dec("165").to_f64(), 165.0);
        // The scale is honoured, not just the units: 1250 × 10^-2 vs 1250 × 10^-3.
        assert_eq!(Decimal::new(1250, 3).unwrap().to_f64(), 1.25);
        // Approximate at the extremes, as documented: i64::MAX (≈ 9.223e18)
        // at scale 18 is about 9.223372036854776.
        let big = Decimal::new(i64::MAX, MAX_SCALE).unwrap().to_f64();
        assert!((big - 9.223_372_036_854_776).abs() < 1e-12, "{big}");
        // Equal values at different scales give the same f64.
        assert_eq!(dec("1.5").to_f64(), dec("1.500").to_f64());
    }

    proptest::proptest! {
        #[test]
        fn decimal_display_parse_round_trip(units in proptest::prelude::any::<i64>(), scale in 0u8..=18) {
            let d = Decimal::new(units, scale).unwrap();
            let back: Decimal = d.to_string().parse().unwrap();
            proptest::prop_assert_eq!(back, d);
        }
    }
}
