//! Finding a customer from what a person types: a customer UUID, an external
//! id (`17`, `D-000042`), or a typed identifier (`phone:13812345678`,
//! `plate:京A12345`, `policy:PA2024000123`, `email:…`, `national_id:…`).
//!
//! Identifiers come from `profile` events. They are indexed by a small
//! projection kept in the store ([`Identifiers`], name `cli.identifiers`),
//! which catches up incrementally on each lookup. Every identifier a customer
//! ever had stays findable (a changed phone number still finds them).

use std::collections::BTreeSet;

use clientele_core::event::ErasureScope;
use clientele_core::projection::{Projection, Projector};
use clientele_core::{CustomerId, EventPayload, RecordedEvent, Store};

use crate::error::{CliError, CliResult};

/// Identifier kinds and their term prefixes, in lookup order.
pub const KINDS: &[(&str, &str)] = &[
    ("external id", "ext"),
    ("licence plate", "plate"),
    ("policy number", "policy"),
    ("phone", "phone"),
    ("e-mail", "email"),
    ("national id", "national_id"),
];

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

/// Normalises an identifier for indexing and lookup (trimmed; e-mail lower-cased).
pub fn term(prefix: &str, value: &str) -> String {
    let value = value.trim();
    if prefix == "email" {
        format!("{prefix}:{}", value.to_lowercase())
    } else {
        format!("{prefix}:{value}")
    }
}

impl Projection for Identifiers {
    type State = BTreeSet<String>;

    fn name(&self) -> &str {
        "cli.identifiers"
    }

    fn version(&self) -> u64 {
        // 2: retention no longer clears the whole index (rebuilds indexes cleared by v1).
        2
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
            for id in &p.external_ids {
                state.insert(term("ext", id));
            }
            for n in &p.policy_numbers {
                state.insert(term("policy", n));
            }
            let singles = [
                ("plate", &p.licence_plate),
                ("phone", &p.phone),
                ("email", &p.email),
                ("national_id", &p.national_id),
            ];
            for (prefix, value) in singles {
                if let Some(v) = value {
                    state.insert(term(prefix, v));
                }
            }
        }
    }

    fn index_terms(&self, state: &Self::State) -> Vec<String> {
        state.iter().cloned().collect()
    }
}

/// The terms to look up for what was typed.
pub fn candidate_terms(query: &str) -> Vec<String> {
    let query = query.trim();
    if let Some((prefix, value)) = query.split_once(':') {
        if KINDS.iter().any(|(_, p)| *p == prefix) {
            return vec![term(prefix, value)];
        }
    }
    KINDS.iter().map(|(_, p)| term(p, query)).collect()
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
    let mut found: Vec<CustomerId> = Vec::new();
    let terms = candidate_terms(query);
    if store.is_read_only() {
        found = scan(store, &terms)?;
    } else {
        let mut projector = Projector::open(store, Identifiers::default())
            .map_err(|e| CliError::from_core(e, "opening the identifier index"))?;
        projector
            .catch_up()
            .map_err(|e| CliError::from_core(e, "updating the identifier index"))?;
        if projector
            .projection()
            .folded_erasure
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            store
                .purge()
                .map_err(|e| CliError::from_core(e, "purging erased identifiers"))?;
        }
        for t in &terms {
            for c in projector
                .lookup(t)
                .map_err(|e| CliError::from_core(e, "looking up the customer"))?
            {
                if !found.contains(&c) {
                    found.push(c);
                }
            }
            // An exact external id wins over other kinds of identifier.
            if !found.is_empty() && t.starts_with("ext:") {
                break;
            }
        }
    }
    match found.as_slice() {
        [] => Err(not_found()),
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
        .and_then(|terms| {
            terms
                .iter()
                .find_map(|t| t.strip_prefix("ext:").map(str::to_owned))
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_untyped_queries() {
        assert_eq!(candidate_terms("plate:京A12345"), vec!["plate:京A12345"]);
        assert_eq!(candidate_terms("email:A@B.cn"), vec!["email:a@b.cn"]);
        let all = candidate_terms("17");
        assert_eq!(all[0], "ext:17");
        assert_eq!(all.len(), KINDS.len());
        // A colon that is not a known prefix is part of the id.
        assert_eq!(candidate_terms("crm:17")[0], "ext:crm:17");
    }
}
