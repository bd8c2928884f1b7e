//! One tracker slot's state: where its socket stands, reconnect backoff, the announce schedule
//! and what the tracker last told us. The engine decides what to announce; this module keeps
//! the timing rules.

use super::ConnHandle;

/// First reconnect delay after a tracker connection fails.
pub const RECONNECT_BASE_MS: u64 = 1_000;
/// Longest reconnect delay: a dead tracker is retried twice a minute, not hammered, while
/// another tracker serves the room.
pub const RECONNECT_MAX_MS: u64 = 30_000;
/// Longest reconnect delay when no other tracker is open: the room can meet no newcomer until
/// one comes back, so a restarted helper is found within a few seconds of its return (the
/// ±50 % jitter makes it 1.5–4.5 s), however long it was down.
pub const RECONNECT_ALONE_MAX_MS: u64 = 3_000;
/// Re-announce period when the tracker does not say (`interval` missing).
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// Bounds on a tracker-supplied `interval`: often enough to stay in the swarm (trackers drop
/// silent peers after ~2 minutes), rarely enough not to flood a public tracker.
pub const MIN_INTERVAL_MS: u64 = 10_000;
pub const MAX_INTERVAL_MS: u64 = 120_000;
/// Shortest gap between an announce and a follow-up announce triggered by a tracker reply;
/// also how long an unanswered offer counts as possibly still coming (an answer takes one
/// tracker round trip plus ICE gathering, well under this).
pub const FOLLOW_UP_MS: u64 = 2_000;
/// Follow-ups back off by doubling, at most this many times (2 s → 32 s, about the interval).
pub const MAX_FOLLOW_UP_DOUBLINGS: u32 = 4;
/// A tracker that accepted the socket but has not answered our first announce by then is
/// treated as down (dropped, retried with backoff): a reply takes one round trip, and a
/// tracker that swallows announces must not leave the room "joining" for ever.
pub const REPLY_TIMEOUT_MS: u64 = 10_000;

/// Where a tracker connection stands, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerStatus {
    Connecting,
    /// Socket open, waiting for the reply to our first announce.
    Joining,
    /// The tracker answered our announce: we are in the swarm.
    Connected,
    /// Down; retrying at the given time.
    Retrying {
        at_ms: u64,
    },
    /// The tracker refused us (its `failure reason`, cleaned and capped).
    Refused(String),
    /// Rooms are spread over the trackers, and this one is not among this room's.
    Unused,
}

/// A tracker connection slot: survives reconnects.
#[derive(Debug)]
pub(super) struct Slot {
    pub status: TrackerStatus,
    /// Consecutive failed attempts (drives backoff).
    attempts: u32,
    pub interval_ms: u64,
    pub next_announce_ms: u64,
    pub last_announce_ms: u64,
    /// Consecutive announces made while the room was incomplete (drives follow-up backoff).
    pub follow_ups: u32,
    /// Swarm size the tracker last reported (counts us); 0 until the first reply.
    pub swarm_size: u64,
    /// Whether we announced ourselves on the current socket.
    pub announced: bool,
    /// An announce being prepared: its offers are still gathering candidates.
    pub batch: Option<Vec<ConnHandle>>,
    /// Malformed messages on the current socket.
    pub bad_messages: u32,
}

impl Slot {
    pub fn new() -> Self {
        Self {
            status: TrackerStatus::Connecting,
            attempts: 0,
            interval_ms: DEFAULT_INTERVAL_MS,
            next_announce_ms: 0,
            last_announce_ms: 0,
            follow_ups: 0,
            swarm_size: 0,
            announced: false,
            batch: None,
            bad_messages: 0,
        }
    }

    /// A new socket is being opened.
    pub fn connecting(&mut self) {
        self.status = TrackerStatus::Connecting;
        self.batch = None;
    }

    pub fn opened(&mut self) {
        self.status = TrackerStatus::Joining;
        self.bad_messages = 0;
        self.follow_ups = 0;
        self.attempts = 0;
        self.announced = false;
        self.swarm_size = 0;
    }

    /// The socket closed or errored: schedule a retry with jittered exponential backoff,
    /// capped lower when no other tracker is open (`alone`). `jitter` is uniform in 0..=255.
    pub fn failed(&mut self, now_ms: u64, jitter: u8, alone: bool) {
        let exp = RECONNECT_BASE_MS.saturating_mul(1 << self.attempts.min(6));
        let cap = if alone {
            RECONNECT_ALONE_MAX_MS
        } else {
            RECONNECT_MAX_MS
        };
        let base = exp.min(cap);
        // ±50 % so a room whose tracker restarts does not reconnect in lockstep.
        let delay = base / 2 + base * u64::from(jitter) / 255;
        self.attempts = self.attempts.saturating_add(1);
        self.announced = false;
        self.batch = None;
        self.status = TrackerStatus::Retrying {
            at_ms: now_ms.saturating_add(delay),
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            TrackerStatus::Joining | TrackerStatus::Connected
        )
    }

    /// The tracker replied to an announce.
    pub fn replied(&mut self) {
        if self.status == TrackerStatus::Joining {
            self.status = TrackerStatus::Connected;
        }
    }

    /// The tracker's `interval` (seconds, tracker-controlled): saturated, then clamped.
    pub fn set_interval(&mut self, interval_s: u64, now_ms: u64) {
        self.interval_ms = interval_s
            .saturating_mul(1000)
            .clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
        self.next_announce_ms = now_ms.saturating_add(self.interval_ms);
    }

    /// Members we have no connection with: come back soon with more offers rather than at the
    /// next interval, backing off (2, 4, 8… s) while the room stays incomplete.
    pub fn schedule_follow_up(&mut self) {
        let delay = FOLLOW_UP_MS << self.follow_ups.min(MAX_FOLLOW_UP_DOUBLINGS);
        self.next_announce_ms = self
            .next_announce_ms
            .min(self.last_announce_ms.saturating_add(delay));
    }

    /// An announce went out.
    pub fn announced_at(&mut self, now_ms: u64, incomplete: bool) {
        self.announced = true;
        self.last_announce_ms = now_ms;
        self.next_announce_ms = now_ms.saturating_add(self.interval_ms);
        self.follow_ups = if incomplete {
            self.follow_ups.saturating_add(1)
        } else {
            0
        };
    }

    /// Whether the tracker has left our first announce unanswered for too long.
    pub fn silent(&self, now_ms: u64) -> bool {
        self.status == TrackerStatus::Joining
            && self.announced
            && now_ms >= self.last_announce_ms.saturating_add(REPLY_TIMEOUT_MS)
    }

    /// When this slot next needs the engine: a reconnect, a reply overdue, or an announce.
    pub fn wake_at(&self) -> Option<u64> {
        match self.status {
            TrackerStatus::Retrying { at_ms } => Some(at_ms),
            TrackerStatus::Joining if self.announced => {
                let overdue = self.last_announce_ms.saturating_add(REPLY_TIMEOUT_MS);
                Some(match self.batch {
                    None => overdue.min(self.next_announce_ms),
                    Some(_) => overdue,
                })
            }
            TrackerStatus::Connected if self.announced && self.batch.is_none() => {
                Some(self.next_announce_ms)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invariant: tracker-controlled integers never overflow the schedule.
    #[test]
    fn huge_intervals_saturate_and_clamp() {
        let mut s = Slot::new();
        s.set_interval(u64::MAX, u64::MAX - 5);
        assert_eq!(s.interval_ms, MAX_INTERVAL_MS);
        assert_eq!(s.next_announce_ms, u64::MAX);
        s.set_interval(0, 0);
        assert_eq!(s.interval_ms, MIN_INTERVAL_MS);
    }

    #[test]
    fn reconnects_back_off_with_jitter_up_to_the_cap() {
        let mut s = Slot::new();
        let mut last = 0;
        for _ in 0..20 {
            s.failed(0, 255, false);
            let TrackerStatus::Retrying { at_ms } = s.status else {
                panic!("not retrying");
            };
            assert!(at_ms >= last && at_ms <= RECONNECT_MAX_MS * 3 / 2);
            last = at_ms;
        }
        s.failed(0, 0, false);
        assert_eq!(
            s.status,
            TrackerStatus::Retrying {
                at_ms: RECONNECT_MAX_MS / 2
            }
        );
        s.opened();
        s.failed(0, 0, false);
        assert_eq!(
            s.status,
            TrackerStatus::Retrying {
                at_ms: RECONNECT_BASE_MS / 2
            }
        );
    }

    /// Invariant: the room's only tracker, however long it has been down, is retried within
    /// 1.5 × [`RECONNECT_ALONE_MAX_MS`]; once another tracker is open, the long cap applies.
    #[test]
    fn the_last_tracker_is_retried_within_seconds() {
        let mut s = Slot::new();
        for _ in 0..20 {
            s.failed(0, 255, true);
        }
        assert_eq!(
            s.status,
            TrackerStatus::Retrying {
                at_ms: RECONNECT_ALONE_MAX_MS * 3 / 2
            }
        );
        s.failed(0, 255, false);
        assert_eq!(
            s.status,
            TrackerStatus::Retrying {
                at_ms: RECONNECT_MAX_MS * 3 / 2
            }
        );
    }

    #[test]
    fn follow_ups_double_then_stop_doubling() {
        let mut s = Slot::new();
        s.opened();
        let mut gaps = Vec::new();
        for _ in 0..7 {
            s.announced_at(0, true);
            s.schedule_follow_up();
            gaps.push(s.next_announce_ms);
        }
        assert_eq!(gaps, [4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
    }
}
