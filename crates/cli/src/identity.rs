//! Finding a customer from what a person types: a customer UUID, an external
//! id (`17`, `D-000042`), or a typed identifier (`phone:13812345678`,
//! `plate:京A12345`, `policy:PA2024000123`, `email:…`, `national_id:…`).
//!
//! Identifiers come from `profile` events. They are indexed by a small
//! projection kept in the store ([`Identifiers`], name `cli.identifiers`),
//! which catches up incrementally on each lookup. Every identifier a customer
//! ever had stays findable (a changed phone number still finds them).

use std::collections::{BTreeMap, BTreeSet};

use clientele_core::event::ErasureScope;
use clientele_core::projection::{Projection, Projector};
use clientele_core::{CustomerId, EventPayload, RecordedEvent, Store};
use clientele_lifecycle::IdentifierKind;

use crate::error::{CliError, CliResult};

/// Identifier kinds and their term prefixes, in lookup order (an external
/// id first: it wins over the other kinds).
pub const KINDS: &[(IdentifierKind, &str)] = &[
    (IdentifierKind::External, "ext"),
    (IdentifierKind::LicencePlate, "plate"),
    (IdentifierKind::PolicyNumber, "policy"),
    (IdentifierKind::Phone, "phone"),
    (IdentifierKind::Email, "email"),
    (IdentifierKind::NationalId, "national_id"),
];

/// What a person may type before an identifier to name its kind, as
/// `customer`, `lookup` and every command taking a customer accept it.
pub const TYPED_PREFIXES: &[(&str, IdentifierKind)] = &[
    ("plate:", IdentifierKind::LicencePlate),
    ("policy:", IdentifierKind::PolicyNumber),
    ("national_id:", IdentifierKind::NationalId),
    ("id:", IdentifierKind::NationalId),
    ("phone:", IdentifierKind::Phone),
    ("email:", IdentifierKind::Email),
    ("external:", IdentifierKind::External),
    ("ext:", IdentifierKind::External),
];

/// The kind `query` names with a prefix, and the value after it.
pub fn typed(query: &str) -> Option<(IdentifierKind, &str)> {
    TYPED_PREFIXES
        .iter()
        .find_map(|(prefix, kind)| query.strip_prefix(prefix).map(|v| (*kind, v)))
}

/// The identifiers projection: every identifier term of each customer.
///
/// It holds derived personal data, so an `erasure` event (forget or
/// retention) clears the customer's terms; [`resolve`] then purges the store
/// so the old index entries are compacted away (docs/privacy.md).
#[derive(Debug, Default)]
pub struct Identifiers {
    /// Set when an erasure was folded (the caller should purge).
    pub folded_erasure: std::sync::atomic::AtomicBool,
}

/// The index term of `value` as an identifier of `kind`, in the normal form
/// the lifecycle index uses (plates upper-case without separators, phones
/// digits only, e-mail lower-case…: [`IdentifierKind::normalise`]); None
/// if nothing is left of it.
pub fn term(kind: IdentifierKind, value: &str) -> Option<String> {
    let prefix = KINDS.iter().find(|(k, _)| *k == kind).map(|(_, p)| *p)?;
    kind.normalise(value).map(|v| format!("{prefix}:{v}"))
}

impl Projection for Identifiers {
    type State = BTreeSet<String>;

    fn name(&self) -> &str {
        "cli.identifiers"
    }

    fn version(&self) -> u64 {
        // 2: retention no longer clears the whole index (rebuilds indexes cleared by v1).
        // 3: terms in the lifecycle index's normal forms (`苏a-784rp` finds `苏A784RP`).
        // 4: full-width forms read as ASCII (`１３８…` finds `138…`).
        4
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) {
        if let EventPayload::Erasure(erasure) = &event.payload {
            // The runtime refolds the customer from the (now erased) events on
            // any erasure; a customer-wide erasure also drops every term here,
            // while retention of one class only loses what that class held.
            if erasure.scope == ErasureScope::Customer {
                state.clear();
            }
            self.folded_erasure
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        if let EventPayload::Profile(p) = &event.payload {
            let many = [
                (IdentifierKind::External, &p.external_ids),
                (IdentifierKind::PolicyNumber, &p.policy_numbers),
            ];
            let singles = [
                (IdentifierKind::LicencePlate, &p.licence_plate),
                (IdentifierKind::Phone, &p.phone),
                (IdentifierKind::Email, &p.email),
                (IdentifierKind::NationalId, &p.national_id),
            ];
            let values = many
                .into_iter()
                .flat_map(|(kind, values)| values.iter().map(move |v| (kind, v)))
                .chain(
                    singles
                        .into_iter()
                        .filter_map(|(kind, value)| value.as_ref().map(|v| (kind, v))),
                );
            state.extend(values.filter_map(|(kind, v)| term(kind, v)));
        }
    }

    fn index_terms(&self, state: &Self::State) -> Vec<String> {
        state.iter().cloned().collect()
    }
}

/// The terms to look up for what was typed.
pub fn candidate_terms(query: &str) -> Vec<String> {
    let query = query.trim();
    if let Some((kind, value)) = typed(query) {
        return term(kind, value).into_iter().collect();
    }
    KINDS.iter().filter_map(|(k, _)| term(*k, query)).collect()
}

/// Finds the customer `query` names. `source`: map an external id of that
/// system directly (no index needed).
pub fn resolve(store: &Store, query: &str, source: Option<&str>) -> CliResult<CustomerId> {
    let query = query.trim();
    let not_found = || {
        CliError::input(
            format!("no customer found for {query:?}"),
            "give a customer UUID, an external id (e.g. D-000042 or 17), or phone:…, plate:…, policy:…, email:…, national_id:…",
        )
    };
    let exists = |c: CustomerId| -> CliResult<bool> {
        store
            .stream_version(c)
            .map(|v| v > 0)
            .map_err(|e| CliError::from_core(e, "looking up the customer"))
    };
    if let Ok(id) = query.parse::<CustomerId>() {
        return if exists(id)? {
            Ok(id)
        } else {
            Err(not_found())
        };
    }
    if let Some(source) = source {
        let id = CustomerId::from_external(source, query);
        return if exists(id)? {
            Ok(id)
        } else {
            Err(not_found())
        };
    }
    let found = find(store, &candidate_terms(query))?;
    match found.as_slice() {
        [] => Err(near_miss(store, query)?.unwrap_or_else(not_found)),
        [one] => Ok(*one),
        many => Err(CliError::input(
            format!(
                "{query:?} matches {} customers: {}",
                many.len(),
                many.iter()
                    .take(5)
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "give the customer UUID, or --source NAME for an external id",
        )),
    }
}

/// The customers carrying any of `terms` (an exact external id wins over
/// other kinds of identifier).
fn find(store: &Store, terms: &[String]) -> CliResult<Vec<CustomerId>> {
    if store.is_read_only() {
        return scan(store, terms);
    }
    let mut found: Vec<CustomerId> = Vec::new();
    let mut projector = Projector::open(store, Identifiers::default())
        .map_err(|e| CliError::from_core(e, "opening the identifier index"))?;
    projector
        .catch_up()
        .map_err(|e| CliError::from_core(e, "updating the identifier index"))?;
    purge_if_erased(store, &projector)?;
    for t in terms {
        for c in projector
            .lookup(t)
            .map_err(|e| CliError::from_core(e, "looking up the customer"))?
        {
            if !found.contains(&c) {
                found.push(c);
            }
        }
        if !found.is_empty() && t.starts_with("ext:") {
            break;
        }
    }
    Ok(found)
}

/// Purges the store when `projector` folded an erasure, so the erased
/// identifiers' old index entries are compacted away (docs/privacy.md).
pub fn purge_if_erased(store: &Store, projector: &Projector<Identifiers>) -> CliResult<()> {
    if projector
        .projection()
        .folded_erasure
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        store
            .purge()
            .map_err(|e| CliError::from_core(e, "purging erased identifiers"))?;
    }
    Ok(())
}

/// When nothing carries `query` but a number without its leading zeros is
/// an external id (`0004` typed, `4` stored, as a CDNOW import keeps the
/// sample id), the error that says so. Never resolved silently: `0004` and
/// `4` may be different customers of another system.
fn near_miss(store: &Store, query: &str) -> CliResult<Option<CliError>> {
    let value = match typed(query) {
        Some((IdentifierKind::External, value)) => value.trim(),
        Some(_) => return Ok(None),
        None => query,
    };
    let trimmed = value.trim_start_matches('0');
    if trimmed.len() == value.len()
        || trimmed.is_empty()
        || !trimmed.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(None);
    }
    let found = find(
        store,
        &term(IdentifierKind::External, trimmed)
            .into_iter()
            .collect::<Vec<_>>(),
    )?;
    Ok((!found.is_empty()).then(|| {
        CliError::input(
            format!("no customer found for {query:?}; external id \"{trimmed}\" exists"),
            format!(
                "external ids are matched exactly; a CDNOW import stores the sample id without its leading zeros: try `{trimmed}`"
            ),
        )
    }))
}

/// Lookup without the index (read-only stores): scans every profile event.
fn scan(store: &Store, terms: &[String]) -> CliResult<Vec<CustomerId>> {
    let mut found = Vec::new();
    let read = |e| CliError::from_core(e, "scanning for the customer");
    for event in store.read_all(1).map_err(read)? {
        let event = event.map_err(read)?;
        if event.kind() != clientele_core::EventKind::Profile || found.contains(&event.customer_id)
        {
            continue;
        }
        let mut state = BTreeSet::new();
        Identifiers::default().apply(&mut state, &event);
        if terms.iter().any(|t| state.contains(t)) {
            found.push(event.customer_id);
        }
    }
    Ok(found)
}

/// The identifier index, caught up (for external ids in lists).
pub fn external_ids(store: &Store) -> CliResult<Projector<Identifiers>> {
    let mut p = Projector::open(store, Identifiers::default())
        .map_err(|e| CliError::from_core(e, "the identifier index"))?;
    p.catch_up()
        .map_err(|e| CliError::from_core(e, "the identifier index"))?;
    Ok(p)
}

/// The external id of `customer` (empty when none or erased).
pub fn external_id(index: &Projector<Identifiers>, customer: CustomerId) -> CliResult<String> {
    let terms = index
        .state(customer)
        .map_err(|e| CliError::from_core(e, "the identifier index"))?;
    Ok(terms
        .map(|terms| external_id_in(&terms))
        .unwrap_or_default())
}

/// The external id among a customer's identifier terms (empty when none).
fn external_id_in(terms: &BTreeSet<String>) -> String {
    terms
        .iter()
        .find_map(|t| t.strip_prefix("ext:").map(str::to_owned))
        .unwrap_or_default()
}

/// The external ids of `customers` (empty when none or erased): from the
/// identifier index, or — on a store opened read-only, where the index
/// cannot be kept — from their streams.
pub fn external_ids_of(
    store: &Store,
    customers: &BTreeSet<CustomerId>,
) -> CliResult<BTreeMap<CustomerId, String>> {
    let mut out = BTreeMap::new();
    if customers.is_empty() {
        return Ok(out);
    }
    if !store.is_read_only() {
        let index = external_ids(store)?;
        for &c in customers {
            out.insert(c, external_id(&index, c)?);
        }
        return Ok(out);
    }
    for &c in customers {
        let events = store
            .read_stream(c)
            .map_err(|e| CliError::from_core(e, "reading the customer's stream"))?;
        let terms = clientele_core::projection::fold(&Identifiers::default(), events.iter());
        out.insert(c, external_id_in(&terms));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_untyped_queries() {
        assert_eq!(candidate_terms("plate:京A12345"), vec!["plate:京A12345"]);
        // The lifecycle index's normal forms: case and separators of a plate,
        // punctuation of a phone, case of an e-mail do not matter.
        assert_eq!(candidate_terms("plate:苏a-784 rp"), vec!["plate:苏A784RP"]);
        assert_eq!(
            candidate_terms("phone:+86 138-0013-8000"),
            vec!["phone:8613800138000"]
        );
        assert_eq!(candidate_terms("email:A@B.cn"), vec!["email:a@b.cn"]);
        assert_eq!(candidate_terms("external:D-000042"), vec!["ext:D-000042"]);
        assert_eq!(candidate_terms("ext:D-000042"), vec!["ext:D-000042"]);
        assert_eq!(
            candidate_terms("id:440106196302077891"),
            vec!["national_id:440106196302077891"]
        );
        let all = candidate_terms("17");
        assert_eq!(all[0], "ext:17");
        assert_eq!(all.len(), KINDS.len());
        // A colon that is not a known prefix is part of the id.
        assert_eq!(candidate_terms("crm:17")[0], "ext:crm:17");
        // Nothing left after normalising: no term of that kind.
        assert_eq!(candidate_terms("phone:n/a"), Vec::<String>::new());
        assert!(!candidate_terms("n/a").contains(&"phone:".to_owned()));
    }
}
