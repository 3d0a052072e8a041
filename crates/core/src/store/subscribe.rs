//! Tailing subscriptions: catch up from a position, then wake on new commits.

use std::collections::VecDeque;

use super::Store;
use crate::envelope::RecordedEvent;
use crate::error::Result;

/// How many events a subscription reads from disk at a time.
const CHUNK: usize = 512;

/// A tailing reader of the global log (tokio). Created by [`Store::subscribe`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use chrono::Utc;
/// use clientele_core::{CustomerId, ExpectedVersion, NewEvent, Store, event::*};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let mut subscription = store.subscribe(1);
/// let writer = store.clone();
/// std::thread::spawn(move || {
///     let c = Contact::new(Channel::Sms, Direction::Outbound, Purpose::Care);
///     writer.append(CustomerId::new_random(), ExpectedVersion::Any, vec![NewEvent::new(Utc::now(), c)])
/// });
/// let event = subscription.next().await?.expect("an event");
/// assert_eq!(event.position, 1);
/// assert_eq!(subscription.position(), 1); // save this as the checkpoint
/// # Ok(()) }
/// ```
pub struct Subscription {
    store: Store,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
    committed: tokio::sync::watch::Receiver<u64>,
}

impl Subscription {
    /// The next event, waiting for one to be committed if need be. `None` when
    /// the store can produce no more (read-only, or the writer stopped).
    pub async fn next(&mut self) -> Result<Option<RecordedEvent>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(Some(event));
            }
            if self.fill()? {
                continue;
            }
            // Nothing on disk past `next`: wait for the writer to commit more.
            let head = *self.committed.borrow_and_update();
            if head >= self.next {
                continue;
            }
            if self.committed.changed().await.is_err() {
                // Writer gone: drain what is left, then end.
                return Ok(if self.fill()? {
                    self.buffer.pop_front()
                } else {
                    None
                });
            }
        }
    }

    /// Reads the next chunk from disk; whether anything was read.
    fn fill(&mut self) -> Result<bool> {
        for event in self.store.read_all(self.next)?.take(CHUNK) {
            let event = event?;
            self.next = event.position + 1;
            self.buffer.push_back(event);
        }
        Ok(!self.buffer.is_empty())
    }

    /// The position of the last event returned (0 before the first): the
    /// checkpoint from which to resume with [`Store::subscribe`]`(position + 1)`.
    pub fn position(&self) -> u64 {
        (self.next - 1).saturating_sub(self.buffer.len() as u64)
    }
}

impl Store {
    /// A subscription delivering every event from `from_position` (1 = the
    /// start) on, then new ones as they are committed.
    pub fn subscribe(&self, from_position: u64) -> Subscription {
        Subscription {
            store: self.clone(),
            next: from_position.max(1),
            buffer: VecDeque::new(),
            committed: self.inner.committed.clone(),
        }
    }
}
