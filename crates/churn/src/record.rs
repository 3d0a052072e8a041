//! The value of a due-index entry: what the customer's next evaluation needs,
//! so that a customer who falls due is evaluated from the entry alone,
//! without looking up their episodes and state.
//!
//! A customer is due (rather than visited for new events) only when nothing
//! happened to them since their last visit, so the state that visit used —
//! when it was the customer's whole state — is still their state. The entry
//! records the projection version it was folded under; under another version
//! (the fold changed) the state is looked up again.
//!
//! A small fixed binary layout (little-endian), exact for floats; anything
//! that does not decode is ignored and the job falls back to lookups.

use std::collections::BTreeMap;

use clientele_core::event::RenewalIntent;

use crate::state::{ChurnState, ComplaintTrack};
use crate::warning::{Episodes, Severity, WarningKind};

/// Layout version (first byte). 3: payment days after purchase days; 4:
/// each with its bill flag.
const FORMAT: u8 = 4;

/// A decoded due entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DueEntry {
    /// The projection version the state was folded under.
    pub projection: u64,
    /// The customer's episodes.
    pub episodes: Episodes,
    /// The customer's whole state at the visit, if the visit used it.
    pub state: Option<ChurnState>,
}

/// Encodes a due entry.
pub(crate) fn encode(projection: u64, episodes: &Episodes, state: Option<&ChurnState>) -> Vec<u8> {
    let mut w = Vec::with_capacity(128);
    w.push(FORMAT);
    w.extend_from_slice(&projection.to_le_bytes());
    let Episodes { open, raised } = episodes;
    put_len(&mut w, open.len());
    for (kind, start, severity) in open {
        w.push(kind_code(*kind));
        put_i64(&mut w, *start);
        w.push(severity_code(*severity));
    }
    put_len(&mut w, raised.len());
    for t in raised {
        put_i64(&mut w, *t);
    }
    match state {
        None => w.push(0),
        Some(state) => {
            w.push(1);
            put_state(&mut w, state);
        }
    }
    w
}

fn put_state(w: &mut Vec<u8>, state: &ChurnState) {
    let ChurnState {
        first_seen,
        purchase_days,
        payment_days,
        complaints,
        ratings,
        renewal_due,
        cover_order,
        cover_cancelled,
        intent,
        churned_at,
        reactivated_at,
        last_seen,
        version,
    } = state;
    put_opt_i64(w, *first_seen);
    put_len(w, purchase_days.len());
    for (day, amount) in purchase_days {
        w.extend_from_slice(&day.to_le_bytes());
        put_i64(w, *amount);
    }
    put_len(w, payment_days.len());
    for (day, bill) in payment_days {
        w.extend_from_slice(&day.to_le_bytes());
        w.push(u8::from(*bill));
    }
    put_len(w, complaints.len());
    for (id, c) in complaints {
        let ComplaintTrack {
            received_at,
            answered_at,
            archived,
            feedback,
        } = c;
        put_len(w, id.len());
        w.extend_from_slice(id.as_bytes());
        put_i64(w, *received_at);
        put_opt_i64(w, *answered_at);
        w.push(u8::from(*archived));
        match feedback {
            None => w.push(0),
            Some(f) => w.extend_from_slice(&[1, *f]),
        }
    }
    put_len(w, ratings.len());
    for (t, v) in ratings {
        put_i64(w, *t);
        w.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    match renewal_due {
        None => w.push(0),
        Some(d) => {
            w.push(1);
            w.extend_from_slice(&d.to_le_bytes());
        }
    }
    match cover_order {
        None => w.push(0),
        Some(order) => {
            w.push(1);
            put_len(w, order.len());
            w.extend_from_slice(order.as_bytes());
        }
    }
    w.push(u8::from(*cover_cancelled));
    match intent {
        None => w.push(0),
        Some((i, t)) => {
            w.push(1);
            w.push(i.code());
            put_i64(w, *t);
        }
    }
    put_opt_i64(w, *churned_at);
    put_opt_i64(w, *reactivated_at);
    put_opt_i64(w, *last_seen);
    w.extend_from_slice(&version.to_le_bytes());
}

/// Decodes a due entry; `None` if it is empty (written before entries had
/// values) or does not decode.
pub(crate) fn decode(bytes: &[u8]) -> Option<DueEntry> {
    let mut r = Reader(bytes);
    if r.u8()? != FORMAT {
        return None;
    }
    let projection = r.u64()?;
    let mut episodes = Episodes::default();
    for _ in 0..r.len()? {
        let kind = kind_of(r.u8()?)?;
        let start = r.i64()?;
        let severity = severity_of(r.u8()?)?;
        episodes.open.push((kind, start, severity));
    }
    for _ in 0..r.len()? {
        episodes.raised.push(r.i64()?);
    }
    let state = match r.u8()? {
        0 => None,
        1 => Some(read_state(&mut r)?),
        _ => return None,
    };
    r.0.is_empty().then_some(DueEntry {
        projection,
        episodes,
        state,
    })
}

fn read_state(r: &mut Reader<'_>) -> Option<ChurnState> {
    let first_seen = r.opt_i64()?;
    let mut purchase_days = BTreeMap::new();
    for _ in 0..r.len()? {
        let day = r.i32()?;
        purchase_days.insert(day, r.i64()?);
    }
    let mut payment_days = BTreeMap::new();
    for _ in 0..r.len()? {
        let day = r.i32()?;
        let bill = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        payment_days.insert(day, bill);
    }
    let mut complaints = BTreeMap::new();
    for _ in 0..r.len()? {
        let n = r.len()?;
        let id = String::from_utf8(r.take(n)?.to_vec()).ok()?;
        let received_at = r.i64()?;
        let answered_at = r.opt_i64()?;
        let archived = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let feedback = match r.u8()? {
            0 => None,
            1 => Some(r.u8()?),
            _ => return None,
        };
        complaints.insert(
            id,
            ComplaintTrack {
                received_at,
                answered_at,
                archived,
                feedback,
            },
        );
    }
    let mut ratings = Vec::new();
    for _ in 0..r.len()? {
        let t = r.i64()?;
        ratings.push((t, f64::from_bits(r.u64()?)));
    }
    let renewal_due = match r.u8()? {
        0 => None,
        1 => Some(r.i32()?),
        _ => return None,
    };
    let cover_order = match r.u8()? {
        0 => None,
        1 => {
            let n = r.len()?;
            Some(String::from_utf8(r.take(n)?.to_vec()).ok()?)
        }
        _ => return None,
    };
    let cover_cancelled = match r.u8()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let intent = match r.u8()? {
        0 => None,
        1 => {
            let i = RenewalIntent::from_code(r.u8()?)?;
            Some((i, r.i64()?))
        }
        _ => return None,
    };
    Some(ChurnState {
        first_seen,
        purchase_days,
        payment_days,
        complaints,
        ratings,
        renewal_due,
        cover_order,
        cover_cancelled,
        intent,
        churned_at: r.opt_i64()?,
        reactivated_at: r.opt_i64()?,
        last_seen: r.opt_i64()?,
        version: r.u64()?,
    })
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    w.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_i64(w: &mut Vec<u8>, v: i64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_opt_i64(w: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => w.push(0),
        Some(v) => {
            w.push(1);
            put_i64(w, v);
        }
    }
}

fn kind_code(kind: WarningKind) -> u8 {
    match kind {
        WarningKind::HighRisk => 0,
        WarningKind::RenewalAtRisk => 1,
        WarningKind::ComplaintSla => 2,
        WarningKind::Churned => 3,
        WarningKind::WinBack => 4,
    }
}

fn kind_of(code: u8) -> Option<WarningKind> {
    Some(match code {
        0 => WarningKind::HighRisk,
        1 => WarningKind::RenewalAtRisk,
        2 => WarningKind::ComplaintSla,
        3 => WarningKind::Churned,
        4 => WarningKind::WinBack,
        _ => return None,
    })
}

fn severity_code(severity: Severity) -> u8 {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
    }
}

fn severity_of(code: u8) -> Option<Severity> {
    Some(match code {
        0 => Severity::Low,
        1 => Severity::Medium,
        2 => Severity::High,
        _ => return None,
    })
}

/// Reads the layout front to back; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.array()?))
    }

    /// A count, bounded by the bytes left (each item takes at least one).
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(u32::from_le_bytes(self.array()?)).ok()?;
        (n <= self.0.len()).then_some(n)
    }

    fn opt_i64(&mut self) -> Option<Option<i64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.i64()?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state() -> impl Strategy<Value = ChurnState> {
        (
            proptest::option::of(any::<i64>()),
            (
                proptest::collection::btree_map(any::<i32>(), any::<i64>(), 0..8),
                proptest::collection::btree_map(any::<i32>(), any::<bool>(), 0..8),
            ),
            proptest::collection::btree_map(
                "[a-z0-9é-]{0,12}",
                (
                    any::<i64>(),
                    proptest::option::of(any::<i64>()),
                    any::<bool>(),
                    proptest::option::of(any::<u8>()),
                ),
                0..3,
            ),
            proptest::collection::vec((any::<i64>(), any::<f64>()), 0..5),
            (
                proptest::option::of(any::<i32>()),
                proptest::option::of("[a-z0-9-]{0,8}"),
                any::<bool>(),
            ),
            proptest::option::of((0u8..3, any::<i64>())),
            (
                proptest::option::of(any::<i64>()),
                proptest::option::of(any::<i64>()),
                proptest::option::of(any::<i64>()),
                any::<u64>(),
            ),
        )
            .prop_map(
                |(first_seen, days, complaints, ratings, cover, intent, rest)| {
                    let (renewal_due, cover_order, cover_cancelled) = cover;
                    let (purchase_days, payment_days) = days;
                    ChurnState {
                        first_seen,
                        purchase_days,
                        payment_days,
                        complaints: complaints
                            .into_iter()
                            .map(|(id, (received_at, answered_at, archived, feedback))| {
                                (
                                    id,
                                    ComplaintTrack {
                                        received_at,
                                        answered_at,
                                        archived,
                                        feedback,
                                    },
                                )
                            })
                            .collect(),
                        ratings,
                        renewal_due,
                        cover_order,
                        cover_cancelled,
                        intent: intent.and_then(|(i, t)| Some((RenewalIntent::from_code(i)?, t))),
                        churned_at: rest.0,
                        reactivated_at: rest.1,
                        last_seen: rest.2,
                        version: rest.3,
                    }
                },
            )
    }

    fn episodes() -> impl Strategy<Value = Episodes> {
        (
            proptest::collection::vec((0u8..4, any::<i64>(), 0u8..3), 0..4),
            proptest::collection::vec(any::<i64>(), 0..4),
        )
            .prop_map(|(open, raised)| Episodes {
                open: open
                    .into_iter()
                    .filter_map(|(k, t, s)| Some((kind_of(k)?, t, severity_of(s)?)))
                    .collect(),
                raised,
            })
    }

    proptest! {
        #[test]
        fn round_trips_bit_for_bit(projection: u64, e in episodes(), s in proptest::option::of(state())) {
            let bytes = encode(projection, &e, s.as_ref());
            let back = decode(&bytes).expect("decodes");
            prop_assert_eq!(back.projection, projection);
            prop_assert_eq!(&back.episodes, &e);
            // Compare floats by bits (NaN included).
            prop_assert_eq!(format!("{:?}", back.state.as_ref().map(|s| (s, s.ratings.iter().map(|r| r.1.to_bits()).collect::<Vec<_>>()))),
                format!("{:?}", s.as_ref().map(|s| (s, s.ratings.iter().map(|r| r.1.to_bits()).collect::<Vec<_>>()))));
        }

        #[test]
        fn truncated_or_extended_entries_do_not_decode(e in episodes(), s in state(), cut in any::<prop::sample::Index>()) {
            let bytes = encode(2, &e, Some(&s));
            let n = cut.index(bytes.len());
            prop_assert_eq!(decode(&bytes[..n]), None);
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert_eq!(decode(&longer), None);
        }
    }

    #[test]
    fn empty_and_foreign_values_do_not_decode() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"{\"open\":[]}"), None);
    }
}
