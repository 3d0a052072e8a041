//! Identifiers a customer is found by (001 L5: "有的客户只提供车牌号、有的客户只提供
//! 保单号、还有的客户只提供身份证…都能够检索到与客户相关的全部信息"), their
//! normal forms, and the index terms built from them.

use serde::{Deserialize, Serialize};

/// The kinds of identifier a customer can be looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// Vehicle licence plate: upper-case, without spaces, dashes or dots.
    LicencePlate,
    /// Insurance policy number: upper-case, without spaces.
    PolicyNumber,
    /// National id card number: upper-case, without spaces.
    NationalId,
    /// Phone number: digits only.
    Phone,
    /// E-mail address: lower-case, trimmed.
    Email,
    /// An id in another system: trimmed, case kept.
    External,
}

impl IdentifierKind {
    /// Every kind.
    pub const ALL: [IdentifierKind; 6] = [
        IdentifierKind::LicencePlate,
        IdentifierKind::PolicyNumber,
        IdentifierKind::NationalId,
        IdentifierKind::Phone,
        IdentifierKind::Email,
        IdentifierKind::External,
    ];

    /// The prefix of this kind's index terms.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            IdentifierKind::LicencePlate => "plate:",
            IdentifierKind::PolicyNumber => "policy:",
            IdentifierKind::NationalId => "national_id:",
            IdentifierKind::Phone => "phone:",
            IdentifierKind::Email => "email:",
            IdentifierKind::External => "external:",
        }
    }

    /// The normal form of `value` for this kind; None if nothing is left.
    ///
    /// Full-width forms, which a Chinese input method types in its
    /// full-width mode (`１３８`, `Ａ`, `＠`), read as their ASCII letters,
    /// digits and signs for every kind but `External` (another system's id,
    /// kept as given, trimmed).
    ///
    /// ```
    /// use clientele_lifecycle::IdentifierKind;
    /// assert_eq!(IdentifierKind::LicencePlate.normalise(" 京a-123·45 ").as_deref(), Some("京A12345"));
    /// assert_eq!(IdentifierKind::LicencePlate.normalise("京Ａ－１２３４５").as_deref(), Some("京A12345"));
    /// assert_eq!(IdentifierKind::Phone.normalise("+86 138-0013-8000").as_deref(), Some("8613800138000"));
    /// assert_eq!(IdentifierKind::Phone.normalise("１３８ ００１３ ８０００").as_deref(), Some("13800138000"));
    /// assert_eq!(IdentifierKind::Email.normalise(" Li.Lei@Example.COM").as_deref(), Some("li.lei@example.com"));
    /// assert_eq!(IdentifierKind::Phone.normalise("n/a"), None);
    /// ```
    pub fn normalise(self, value: &str) -> Option<String> {
        let chars = || value.chars().map(half_width);
        let out: String = match self {
            IdentifierKind::LicencePlate => chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '·' | '・' | '.' | '•' | '_'))
                .flat_map(char::to_uppercase)
                .collect(),
            IdentifierKind::PolicyNumber | IdentifierKind::NationalId => chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect(),
            IdentifierKind::Phone => chars().filter(char::is_ascii_digit).collect(),
            IdentifierKind::Email => chars().collect::<String>().trim().to_lowercase(),
            IdentifierKind::External => value.trim().to_owned(),
        };
        // The index separates a term from the customer id with a 0 byte.
        (!out.is_empty() && !out.contains('\0')).then_some(out)
    }

    /// The index term for an already normalised value.
    pub(crate) fn term(self, normalised: &str) -> String {
        let prefix = self.prefix();
        let mut t = String::with_capacity(prefix.len() + normalised.len());
        t.push_str(prefix);
        t.push_str(normalised);
        t
    }
}

/// The ASCII character a full-width form stands for (`Ａ` → `A`, `１` →
/// `1`, `＠` → `@`, the ideographic space → a space); any other character
/// as it is.
fn half_width(c: char) -> char {
    match u32::from(c) {
        0x3000 => ' ',
        code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Prefix of the reversed-plate terms used for suffix search ("车牌尾数", 001 L6).
pub(crate) const PLATE_REVERSED: &str = "plate_rev:";

/// Prefix of the renewal terms: `renewal_due:YYYY-MM-DD`.
pub(crate) const RENEWAL_DUE: &str = "renewal_due:";

/// `s` with its characters in reverse order.
pub(crate) fn reversed(s: &str) -> String {
    s.chars().rev().collect()
}

/// One identifier value with the calendar year (UTC) of the event that set it:
/// retention erases personal data per year (see `docs/privacy.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tagged {
    pub(crate) value: String,
    pub(crate) year: i32,
}

/// The identifiers of a customer, normalised: the latest profile values
/// (fields present replace earlier ones). Policy numbers seen on purchases are
/// kept with the policies, not here. Erasure events remove them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub(crate) licence_plate: Option<Tagged>,
    pub(crate) national_id: Option<Tagged>,
    pub(crate) phone: Option<Tagged>,
    pub(crate) email: Option<Tagged>,
    pub(crate) policy_numbers: Option<(Vec<String>, i32)>,
    pub(crate) external_ids: Option<(Vec<String>, i32)>,
}

impl Identity {
    /// No identifiers.
    pub(crate) const EMPTY: Identity = Identity {
        licence_plate: None,
        national_id: None,
        phone: None,
        email: None,
        policy_numbers: None,
        external_ids: None,
    };

    /// Licence plate (normalised).
    pub fn licence_plate(&self) -> Option<&str> {
        self.licence_plate.as_ref().map(|t| t.value.as_str())
    }

    /// National id (normalised).
    pub fn national_id(&self) -> Option<&str> {
        self.national_id.as_ref().map(|t| t.value.as_str())
    }

    /// Phone, digits only.
    pub fn phone(&self) -> Option<&str> {
        self.phone.as_ref().map(|t| t.value.as_str())
    }

    /// E-mail, lower-case.
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref().map(|t| t.value.as_str())
    }

    /// Policy numbers from the latest profile that listed any.
    pub fn policy_numbers(&self) -> &[String] {
        self.policy_numbers
            .as_ref()
            .map_or(&[], |(v, _)| v.as_slice())
    }

    /// External ids from the latest profile that listed any.
    pub fn external_ids(&self) -> &[String] {
        self.external_ids
            .as_ref()
            .map_or(&[], |(v, _)| v.as_slice())
    }

    /// Applies a profile event of calendar year `year`: fields present replace
    /// earlier values.
    pub(crate) fn update(&mut self, profile: &clientele_core::event::Profile, year: i32) {
        let set = |slot: &mut Option<Tagged>, kind: IdentifierKind, value: &Option<String>| {
            if let Some(v) = value {
                *slot = kind.normalise(v).map(|value| Tagged { value, year });
            }
        };
        set(
            &mut self.licence_plate,
            IdentifierKind::LicencePlate,
            &profile.licence_plate,
        );
        set(
            &mut self.national_id,
            IdentifierKind::NationalId,
            &profile.national_id,
        );
        set(&mut self.phone, IdentifierKind::Phone, &profile.phone);
        set(&mut self.email, IdentifierKind::Email, &profile.email);
        let list = |kind: IdentifierKind, values: &[String]| -> Option<(Vec<String>, i32)> {
            let mut out: Vec<String> = values.iter().filter_map(|v| kind.normalise(v)).collect();
            out.sort();
            out.dedup();
            Some((out, year))
        };
        if !profile.policy_numbers.is_empty() {
            self.policy_numbers = list(IdentifierKind::PolicyNumber, &profile.policy_numbers);
        }
        if !profile.external_ids.is_empty() {
            self.external_ids = list(IdentifierKind::External, &profile.external_ids);
        }
    }

    /// Forgets every identifier set by events of years before `before_year`
    /// (all of them with `i32::MAX`).
    pub(crate) fn erase_before(&mut self, before_year: i32) {
        for slot in [
            &mut self.licence_plate,
            &mut self.national_id,
            &mut self.phone,
            &mut self.email,
        ] {
            if slot.as_ref().is_some_and(|t| t.year < before_year) {
                *slot = None;
            }
        }
        for slot in [&mut self.policy_numbers, &mut self.external_ids] {
            if slot.as_ref().is_some_and(|(_, year)| *year < before_year) {
                *slot = None;
            }
        }
    }

    /// Appends this identity's index terms to `terms`.
    pub(crate) fn terms(&self, terms: &mut Vec<String>) {
        if let Some(plate) = self.licence_plate() {
            terms.push(IdentifierKind::LicencePlate.term(plate));
            let mut rev = String::from(PLATE_REVERSED);
            rev.push_str(&reversed(plate));
            terms.push(rev);
        }
        let single = [
            (IdentifierKind::NationalId, self.national_id()),
            (IdentifierKind::Phone, self.phone()),
            (IdentifierKind::Email, self.email()),
        ];
        for (kind, value) in single {
            if let Some(v) = value {
                terms.push(kind.term(v));
            }
        }
        for p in self.policy_numbers() {
            terms.push(IdentifierKind::PolicyNumber.term(p));
        }
        for e in self.external_ids() {
            terms.push(IdentifierKind::External.term(e));
        }
    }
}
