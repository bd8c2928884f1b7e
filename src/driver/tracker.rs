//! One WebSocket connection to one tracker, with reconnect backoff. The driver decides what to
//! announce; this module only keeps the socket, its handlers and its timing.

use super::js::JsError;
use super::Event;
use futures::channel::mpsc::Sender;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

/// First reconnect delay after a tracker connection fails.
pub const RECONNECT_BASE_MS: u64 = 1_000;
/// Longest reconnect delay: a dead tracker is retried twice a minute, not hammered.
pub const RECONNECT_MAX_MS: u64 = 30_000;
/// Re-announce period when the tracker does not say (`interval` missing).
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// Bounds on a tracker-supplied `interval`: often enough to stay in the swarm (trackers drop
/// silent peers after ~2 minutes), rarely enough not to flood a public tracker.
pub const MIN_INTERVAL_MS: u64 = 10_000;
pub const MAX_INTERVAL_MS: u64 = 120_000;
/// Longest tracker message accepted (a forwarded offer carries one sealed SDP).
pub const MAX_TRACKER_MESSAGE: usize = 64 * 1024;

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
    /// The tracker refused us (its `failure reason`).
    Refused(String),
}

type Cb = Closure<dyn FnMut(JsValue)>;

/// A tracker connection slot: survives reconnects, owns the current socket.
pub struct Tracker {
    pub index: usize,
    pub url: String,
    pub status: TrackerStatus,
    ws: Option<(WebSocket, Vec<Cb>)>,
    /// Consecutive failed attempts (drives backoff).
    attempts: u32,
    /// The socket generation; events from an old socket are ignored.
    pub generation: u32,
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
    pub batch: Option<super::OfferBatch>,
}

impl Tracker {
    pub fn new(index: usize, url: String) -> Self {
        Self {
            index,
            url,
            status: TrackerStatus::Connecting,
            ws: None,
            attempts: 0,
            generation: 0,
            interval_ms: DEFAULT_INTERVAL_MS,
            next_announce_ms: 0,
            last_announce_ms: 0,
            follow_ups: 0,
            swarm_size: 0,
            announced: false,
            batch: None,
        }
    }

    /// Opens a new socket. Failure to even construct one (a malformed URL) counts as a failed
    /// attempt, retried with backoff like a refused connection.
    pub fn connect(&mut self, events: &Sender<Event>, now_ms: u64, jitter: u8) {
        self.close();
        self.generation = self.generation.wrapping_add(1);
        self.status = TrackerStatus::Connecting;
        match open_socket(&self.url, self.index, self.generation, events) {
            Ok(ws) => self.ws = Some(ws),
            Err(_) => self.failed(now_ms, jitter),
        }
    }

    pub fn opened(&mut self) {
        self.status = TrackerStatus::Joining;
        self.follow_ups = 0;
        self.attempts = 0;
        self.announced = false;
        self.swarm_size = 0;
    }

    /// The socket closed or errored: schedule a retry with jittered exponential backoff.
    pub fn failed(&mut self, now_ms: u64, jitter: u8) {
        self.close();
        let exp = RECONNECT_BASE_MS.saturating_mul(1 << self.attempts.min(6));
        let base = exp.min(RECONNECT_MAX_MS);
        // ±50 % so a room whose tracker restarts does not reconnect in lockstep.
        let delay = base / 2 + base * u64::from(jitter) / 255;
        self.attempts = self.attempts.saturating_add(1);
        self.status = TrackerStatus::Retrying {
            at_ms: now_ms + delay,
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

    /// Sends one JSON text frame; false when the socket is not open.
    pub fn send(&self, text: &str) -> bool {
        match &self.ws {
            Some((ws, _)) if ws.ready_state() == WebSocket::OPEN => ws.send_with_str(text).is_ok(),
            _ => false,
        }
    }

    pub fn close(&mut self) {
        if let Some((ws, _closures)) = self.ws.take() {
            ws.set_onopen(None);
            ws.set_onclose(None);
            ws.set_onerror(None);
            ws.set_onmessage(None);
            let _ = ws.close();
        }
        self.batch = None;
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_socket(
    url: &str,
    index: usize,
    generation: u32,
    events: &Sender<Event>,
) -> Result<(WebSocket, Vec<Cb>), JsError> {
    let ws = WebSocket::new(url)?;
    let mut closures = Vec::new();
    let tx = events.clone();
    let on_open: Cb = Closure::new(move |_| {
        let _ = tx.clone().try_send(Event::TrackerOpen(index, generation));
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    closures.push(on_open);

    let tx = events.clone();
    let on_close: Cb = Closure::new(move |_| {
        let _ = tx.clone().try_send(Event::TrackerDown(index, generation));
    });
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    closures.push(on_close);

    let tx = events.clone();
    let on_message: Cb = Closure::new(move |ev: JsValue| {
        let Some(text) = ev
            .dyn_ref::<MessageEvent>()
            .and_then(|m| m.data().as_string())
        else {
            return;
        };
        if text.len() <= MAX_TRACKER_MESSAGE {
            let _ = tx
                .clone()
                .try_send(Event::TrackerMessage(index, generation, text));
        }
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    closures.push(on_message);
    Ok((ws, closures))
}
