//! One source's budget of messages posted to the shell and not yet handled (a peer's control
//! channel, a tracker's socket). The budgets are the engine's (`MAX_INFLIGHT_FRAMES`,
//! `MAX_INFLIGHT_TRACKER_MESSAGES`), shared with the browser shell; the count lives here
//! because only the shell sees its own queue.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// What a source's reader may do with one more message.
pub enum Admit {
    /// Post it (the count already includes it).
    Yes,
    /// The source just went over its budget: report it, once.
    Flooding,
    /// Already reported: drop it.
    No,
}

#[derive(Clone)]
pub struct Inflight {
    count: Arc<AtomicU32>,
    budget: u32,
}

impl Inflight {
    pub fn new(budget: u32) -> Self {
        Self {
            count: Arc::new(AtomicU32::new(0)),
            budget,
        }
    }

    /// Counts one more message from the source, or says it is flooding.
    pub fn admit(&self) -> Admit {
        let n = self.count.fetch_add(1, Ordering::AcqRel);
        if n < self.budget {
            Admit::Yes
        } else if n == self.budget {
            Admit::Flooding
        } else {
            // Stay past the budget without ever wrapping.
            self.count
                .store(self.budget.saturating_add(1), Ordering::Release);
            Admit::No
        }
    }

    /// The shell handled one message.
    pub fn handled(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                // Once over budget the source is dropped; its count no longer matters.
                (n <= self.budget).then(|| n.saturating_sub(1))
            });
    }
}
