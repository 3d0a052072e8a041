//! `IdentifierKind::normalise`: the normal form of each kind of identifier,
//! what normalises to nothing, and that normalising is idempotent.

use clientele_lifecycle::IdentifierKind;
use proptest::prelude::*;

use IdentifierKind::{Email, External, LicencePlate, NationalId, Phone, PolicyNumber};

/// (kind, input, normal form): each rule as documented on the kind.
const TABLE: &[(IdentifierKind, &str, Option<&str>)] = &[
    // Plates: upper-case, without whitespace, '-', '·', '.', '•' or '_'.
    (LicencePlate, " 京a-123·45 ", Some("京A12345")),
    (LicencePlate, "粤b.d1234", Some("粤BD1234")),
    (LicencePlate, "沪A_12•345", Some("沪A12345")),
    (LicencePlate, "京A\u{3000}12345", Some("京A12345")), // ideographic space
    (LicencePlate, "京A/12345", Some("京A/12345")),       // other punctuation is kept
    (LicencePlate, " -·._• ", None),
    // Policy numbers and national ids: upper-case, whitespace removed, the rest kept.
    (PolicyNumber, "pdaa 2024 0001", Some("PDAA20240001")),
    (PolicyNumber, "pdaa-2024-0001\n", Some("PDAA-2024-0001")),
    (
        NationalId,
        " 110105 19491231 002x ",
        Some("11010519491231002X"),
    ),
    (NationalId, "\t\n", None),
    // Phones: ASCII digits only.
    (Phone, "+86 138-0013-8000", Some("8613800138000")),
    (Phone, "(010) 6552.9988 ext 12", Some("0106552998812")),
    (Phone, "n/a", None),
    // Full-width forms (a Chinese input method's full-width mode) read as ASCII.
    (Phone, "１３８００１３８０００", Some("13800138000")),
    (
        Phone,
        "＋８６\u{3000}１３８－００１３－８０００",
        Some("8613800138000"),
    ),
    (LicencePlate, "京Ａ－１２３４５", Some("京A12345")),
    (LicencePlate, "苏ａ・７８４ｒｐ", Some("苏A784RP")),
    (
        PolicyNumber,
        "ｐｄａａ２０２４０００１",
        Some("PDAA20240001"),
    ),
    (
        NationalId,
        "１１０１０５１９４９１２３１００２ｘ",
        Some("11010519491231002X"),
    ),
    (
        Email,
        "Ｌｉ．Ｌｅｉ＠Ｅｘａｍｐｌｅ．ＣＯＭ",
        Some("li.lei@example.com"),
    ),
    // Another system's id is kept as given.
    (External, "ＣＲＭ－４２", Some("ＣＲＭ－４２")),
    // E-mail: trimmed and lower-cased; inner spaces are kept.
    (Email, " Li.Lei@Example.COM", Some("li.lei@example.com")),
    (Email, "\tX@Y.CN\n", Some("x@y.cn")),
    (Email, "a b@x.com", Some("a b@x.com")),
    (Email, "   ", None),
    // External ids: trimmed, case and inner characters kept.
    (External, "  CRM-42 ", Some("CRM-42")),
    (External, "crm 42", Some("crm 42")),
    (External, "\u{3000}", None),
];

#[test]
fn each_kind_has_its_normal_form() {
    for &(kind, input, want) in TABLE {
        assert_eq!(kind.normalise(input).as_deref(), want, "{kind:?} {input:?}");
    }
}

#[test]
fn empty_input_normalises_to_nothing_for_every_kind() {
    for kind in IdentifierKind::ALL {
        assert_eq!(kind.normalise(""), None, "{kind:?}");
        assert_eq!(kind.normalise(" \t\r\n"), None, "{kind:?}");
    }
}

#[test]
fn a_nul_byte_is_refused_where_it_would_be_kept() {
    // Index terms separate the value from the customer id with a 0 byte.
    for kind in [LicencePlate, PolicyNumber, NationalId, Email, External] {
        assert_eq!(kind.normalise("A\0B"), None, "{kind:?}");
    }
    // A phone keeps digits only: the NUL is dropped like any other non-digit.
    assert_eq!(Phone.normalise("1\u{0}2").as_deref(), Some("12"));
}

#[test]
fn normal_forms_are_fixed_points() {
    for &(kind, input, _) in TABLE {
        if let Some(once) = kind.normalise(input) {
            assert_eq!(
                kind.normalise(&once).as_deref(),
                Some(once.as_str()),
                "{kind:?} {input:?}"
            );
        }
    }
}

proptest! {
    /// Normalising twice gives what normalising once gives, for any text and
    /// kind; and a normal form is never empty and holds no NUL.
    #[test]
    fn normalising_is_idempotent(
        kind in proptest::sample::select(IdentifierKind::ALL.to_vec()),
        value in prop_oneof![
            any::<String>(),
            "[ \t\u{3000}a-zA-Z0-9+()@._•·京沪粤-]{0,24}",
        ],
    ) {
        if let Some(once) = kind.normalise(&value) {
            prop_assert!(!once.is_empty());
            prop_assert!(!once.contains('\0'));
            prop_assert_eq!(kind.normalise(&once), Some(once.clone()));
        }
    }
}
