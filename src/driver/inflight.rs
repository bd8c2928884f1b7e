//! One source's budget of messages posted to the driver and not yet handled (a peer's
//! connection, a tracker's socket). The budgets themselves are the engine's
//! (`hush_core::room::MAX_INFLIGHT_FRAMES`, `MAX_INFLIGHT_TRACKER_MESSAGES`); the count lives
//! here because only the shell sees its own queue.

use std::cell::Cell;
use std::rc::Rc;

/// What a browser callback may do with one more message from its source.
pub enum Admit {
    /// Post it (then call [`Inflight::posted`]).
    Yes,
    /// The source just went over its budget: report it, once.
    Flooding,
    /// Already reported: drop it.
    No,
}

/// Shared between a source's callback (which posts) and the driver (which handles).
#[derive(Clone)]
pub struct Inflight {
    count: Rc<Cell<u32>>,
    budget: u32,
}

impl Inflight {
    pub fn new(budget: u32) -> Self {
        Self {
            count: Rc::new(Cell::new(0)),
            budget,
        }
    }

    pub fn admit(&self) -> Admit {
        let n = self.count.get();
        if n < self.budget {
            Admit::Yes
        } else if n == self.budget {
            // Past the budget for good: nothing more is posted, and flooding is said once.
            self.count.set(n + 1);
            Admit::Flooding
        } else {
            Admit::No
        }
    }

    /// A message was posted.
    pub fn posted(&self) {
        self.count.set(self.count.get().saturating_add(1));
    }

    /// A message was handled.
    pub fn handled(&self) {
        self.count.set(self.count.get().saturating_sub(1));
    }
}
