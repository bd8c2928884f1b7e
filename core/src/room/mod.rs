//! The room engine: every decision of one room, sans-I/O.
//!
//! One [`Room`] per joined room. The shell (the browser driver, the native peer, the
//! simulation tests) feeds it what happened — a tracker socket opened, closed or spoke, a
//! connection's SDP is ready, its channel opened or closed, a frame arrived, the user did
//! something, the time passed — through `handle_*` methods and user commands, then drains
//! [`Output`]s with [`Room::poll_output`] and carries them out: send this text to tracker *i*,
//! create an offer connection, answer this offer, apply this answer, send this frame, close
//! this connection, start or stop a transfer, show this event. [`Room::poll_timeout`] says when
//! the engine next wants [`Room::handle_timeout`]; nothing ticks.
//!
//! The engine owns no socket, clock or entropy source: the shell passes `now_ms` in every
//! call and seeds the engine's [`Drbg`] once. It never panics on anything a peer, a tracker or
//! the shell sends.
//!
//! # Layout
//! - `mod.rs`: the engine value, its inputs and outputs, peers, bans, heartbeats.
//! - `chat`: messages to all or to one, typing, the chat rate limit.
//! - `signaling`: tracker messages, announces sized to the swarm, offers and answers.
//! - `trackers`: one tracker slot's status, backoff and schedule.
//! - `files`: file offers, requests, refusals, caps, view-once, transfer bookkeeping.

mod admission;
mod chat;
mod files;
mod signaling;
mod trackers;
mod trust;

pub use admission::{AdmissionStatus, MAX_ADMISSION_KEYS};
pub use chat::{
    timer_announcement, timer_label, Compose, CHAT_BURST, CHAT_BURST_SLACK, CHAT_REFILL_MS,
    FLOOD_NOTICE_EVERY_MS, MAX_CHAT_DROPPED, MAX_OWN_VIEW_ONCE, MAX_VANISHING, TIMER_CHOICES_MS,
    TYPING_REFRESH_MS, TYPING_SHOWN_MS, VIEW_ONCE_SHOWN_MS,
};
pub use files::{DownloadEnd, DownloadPlan, FileError, FileEvent, FileOutput, FileState};
pub use signaling::{MAX_BAD_TRACKER_MESSAGES, MAX_TRACKER_MESSAGE};
pub use trackers::{
    TrackerStatus, DEFAULT_INTERVAL_MS, FOLLOW_UP_MS, MAX_FOLLOW_UP_DOUBLINGS, MAX_INTERVAL_MS,
    MIN_INTERVAL_MS, RECONNECT_ALONE_MAX_MS, RECONNECT_BASE_MS, RECONNECT_MAX_MS, REPLY_TIMEOUT_MS,
};
pub use trust::{PeerTrust, MAX_DEVICES, MAX_REFUSALS_SHOWN, MAX_VERIFIED};

use crate::drbg::{Drbg, SEED_LEN};
use crate::identity::{HandshakeError, SECRET_LEN};
use crate::ids::PeerId;
use crate::keys::RoomKeys;
use crate::mesh::{self, Mesh, Timeout, PING_INTERVAL_MS};
use crate::vecmap::VecMap;
use crate::wire::{self, PeerMessage, StreamLabel, MAX_BAD_FRAMES, MAX_CHAT_BYTES};
use std::collections::VecDeque;

/// Offers in the first announce on a socket, before the tracker has told us the swarm size:
/// enough to reach everyone in a room of six at once (larger rooms get follow-up announces).
pub const INITIAL_OFFERS: usize = 5;
/// Most offers in one announce (the protocol's ceiling is 10; each offer is a live peer
/// connection while it waits).
pub const MAX_OFFERS: usize = 8;
/// Most offers from others we negotiate at once: a tracker (or peers behind it) cannot make us
/// open connections without bound.
pub const MAX_PENDING_ANSWERS: usize = 16;
/// An offer whose sealed creation time is older than this is a replay (or from a clock far
/// behind ours): an honest offer is answered within seconds of being made, and a minute leaves
/// room for clocks that disagree.
pub const MAX_OFFER_AGE_MS: u64 = 60_000;
/// An answer that has not led to an open connection this long after it was sent may have been
/// dropped by its tracker: it is sent again through every other open tracker.
pub const ANSWER_RESEND_MS: u64 = 2_000;
/// A pending answer this old gives way to a newer offer from the same peer when the offer it
/// answers is one the peer has given up (a replayed stale offer must not hold the pair for the
/// whole connect timeout).
pub const REPLACE_PENDING_AFTER_MS: u64 = 3_000;
/// Audio level (0–1, as in WebRTC stats) from which a peer counts as speaking: above the
/// noise floor of a quiet room with noise suppression on.
pub const SPEAKING_LEVEL: f64 = 0.02;
/// How often the shell is asked for audio levels while a peer's microphone is on: a speaking
/// indicator that follows speech without polling stats constantly.
pub const LEVEL_POLL_MS: u64 = 500;
/// While a tracker waits to reconnect, the engine wakes this often so the countdown shown
/// to the user stays true.
pub const STATUS_REFRESH_MS: u64 = 1_000;
/// Our hello is repeated this often on a new connection until the peer's arrives. A WebRTC
/// stack can drop a message that arrives in the instant its association comes up (webrtc-rs
/// does, before it has mapped a pre-negotiated channel's stream), so nothing else is sent on a
/// connection until the peer has spoken: then its side is certainly reading.
pub const HELLO_RESEND_MS: u64 = 250;
/// A connection whose peer has not said hello this long after it opened is closed.
pub const HELLO_TIMEOUT_MS: u64 = 10_000;
/// Frames from one peer a shell may hold posted and not yet handled. A peer that gets this
/// far ahead is flooding: the shell says so ([`Room::handle_flooded`]) and the peer is banned
/// rather than letting memory grow.
pub const MAX_INFLIGHT_FRAMES: u32 = 512;
/// Messages from one tracker a shell may hold posted and not yet handled. An honest tracker
/// sends a reply and a few forwarded offers per announce; hundreds queued is a flood, and the
/// tracker's socket is dropped ([`Room::handle_tracker_flooded`]).
pub const MAX_INFLIGHT_TRACKER_MESSAGES: u32 = 256;
/// Messages kept from a peer whose hello has not arrived yet (its first hello can be lost
/// while ours got through, and then it already speaks): handled once the hello repeats, within
/// a few hundred milliseconds. Beyond this many the oldest are dropped.
pub const MAX_EARLY_MESSAGES: usize = 64;
/// Peers banned in one session: each ban cost its peer a full connection, and the oldest is
/// forgotten first.
pub const MAX_BANNED: usize = 256;
/// Outputs waiting for the shell. The shell drains them after every call; only a shell that
/// does not would reach this, and then the oldest outputs are dropped first.
pub const MAX_PENDING_OUTPUTS: usize = 65_536;

/// One peer connection as the engine knows it; the shell maps it to its own object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnHandle(pub u32);

/// Microphone, camera and screen-share state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaFlags {
    pub mic: bool,
    pub camera: bool,
    pub screen: bool,
}

/// Why a chat message was not sent (the draft stays with the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("Message is empty")]
    Empty,
    #[error("Message not sent: longer than {} KiB", MAX_CHAT_BYTES / 1024)]
    TooLong,
    #[error("Sending too fast: wait a moment")]
    TooFast,
    #[error("{0} is no longer here")]
    NotHere(String),
    #[error("That timer is not one of the choices")]
    BadTimer,
}

/// The message that would be sent for `text`, or why none would: the composer asks before it
/// clears its draft.
pub fn check_chat(text: &str) -> Result<&str, ChatError> {
    let text = text.trim();
    if text.is_empty() {
        Err(ChatError::Empty)
    } else if text.len() > MAX_CHAT_BYTES {
        Err(ChatError::TooLong)
    } else {
        Ok(text)
    }
}

/// What the shell must do or show.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open (or reopen) tracker `i`'s socket, dropping any previous one.
    ConnectTracker(usize),
    /// Close tracker `i`'s socket for good (leaving).
    CloseTracker(usize),
    /// Send this text frame on tracker `i`'s socket (dropped if it is not open).
    TrackerSend { tracker: usize, text: String },
    /// Create a connection (with its control channel) and make an offer; report it with
    /// [`Room::handle_local_offer`].
    CreateOffer(ConnHandle),
    /// Create a connection, apply this remote offer and make an answer; report it with
    /// [`Room::handle_local_answer`].
    CreateAnswer { conn: ConnHandle, offer_sdp: String },
    /// Apply the remote answer to our offer; report failure with
    /// [`Room::handle_answer_failed`].
    ApplyAnswer {
        conn: ConnHandle,
        answer_sdp: String,
    },
    /// Send this sealed frame on the connection's control channel.
    Send { conn: ConnHandle, frame: Vec<u8> },
    /// Close and forget the connection.
    Close(ConnHandle),
    /// Read the audio level of these connections and report it with [`Room::handle_level`].
    PollLevels(Vec<ConnHandle>),
    /// Something for the user interface.
    Event(Event),
    /// A file transfer step (see [`FileOutput`]).
    File(FileOutput),
}

/// What the user sees change.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Every tracker's status, in configuration order (sent when any changes).
    Trackers(Vec<TrackerStatus>),
    /// A peer said hello: it is in the room.
    PeerUp {
        peer: PeerId,
        name: String,
    },
    PeerName {
        peer: PeerId,
        name: String,
    },
    /// A listed peer left; `reason` when it was dropped rather than leaving.
    PeerDown {
        peer: PeerId,
        reason: Option<String>,
    },
    /// A connection is open and kept: media may flow on it from now on (the shell adds our
    /// tracks and starts renegotiation there).
    Opened {
        peer: PeerId,
        conn: ConnHandle,
    },
    /// A chat line (`from: None` for our own), `id` in its sender's sequence. `direct`: a
    /// private message between us and this peer; `expires_at_ms`: when it vanishes (a
    /// [`Event::Vanish`] follows then); `view_once`: shown covered until revealed
    /// ([`Room::reveal`]).
    Chat {
        from: Option<PeerId>,
        name: String,
        at_ms: u64,
        text: String,
        direct: Option<PeerId>,
        id: u64,
        expires_at_ms: Option<u64>,
        view_once: bool,
    },
    /// A line's time is up: remove it from screen and memory.
    Vanish {
        from: Option<PeerId>,
        id: u64,
    },
    /// The room's vanishing-message timer changed (`by: None`: we changed it).
    Timer {
        by: Option<PeerId>,
        name: String,
        ttl_ms: Option<u64>,
    },
    /// A peer saw our view-once message `id`.
    Viewed {
        id: u64,
        peer: PeerId,
        name: String,
    },
    /// A peer started or stopped typing.
    Typing {
        peer: PeerId,
        typing: bool,
    },
    /// A malformed or oversized frame from `peer` was dropped.
    BadFrame {
        peer: PeerId,
    },
    Notice(String),
    PeerMedia {
        peer: PeerId,
        media: MediaFlags,
    },
    Speaking {
        peer: PeerId,
        speaking: bool,
    },
    /// A media renegotiation message for the shell's media code: `Description`, `Candidate`
    /// or `Streams`.
    Negotiation {
        peer: PeerId,
        conn: ConnHandle,
        msg: PeerMessage,
    },
    /// A file card changed (see [`FileEvent`]).
    File(FileEvent),
    /// How a listed peer stands (after [`Event::PeerUp`], and whenever it changes).
    PeerTrust {
        peer: PeerId,
        trust: PeerTrust,
    },
    /// The codes to compare with `peer` ([`Room::verify`] started it, here or there); answer
    /// with [`Room::confirm_sas`].
    Sas {
        peer: PeerId,
        name: String,
        sas: crate::identity::Sas,
    },
    /// A verification ended: `matched` (the peer is verified, a [`Event::PeerTrust`] follows)
    /// or not, and why not.
    VerifyEnd {
        peer: PeerId,
        matched: bool,
        reason: String,
    },
    /// A connection was refused during its hello (the peer was never listed): its key's
    /// fingerprint when it sent one, and why.
    Refused {
        fingerprint: Option<String>,
        reason: String,
    },
    /// The room was locked or unlocked (`by: None`: by us).
    Lock {
        by: Option<PeerId>,
        name: String,
        locked: bool,
    },
    /// A newcomer waits at the door of the locked room: answer with [`Room::decide`].
    JoinRequest {
        peer: PeerId,
        name: String,
        fingerprint: String,
    },
    /// A newcomer was let in or not, by the member named `by` (the first decision wins).
    JoinDecided {
        peer: Option<PeerId>,
        name: String,
        fingerprint: String,
        admitted: bool,
        by: String,
    },
    /// As a newcomer to a locked room: waiting, let in, or not.
    Admission(AdmissionStatus),
    /// A newcomer that waited at the door left before anyone decided.
    JoinWithdrawn {
        peer: PeerId,
    },
}

/// What a connection is for, as far as signaling goes.
#[derive(Debug)]
enum Role {
    /// Our offer. `tracker`: the announce carrying it (`None` while prepared ahead);
    /// `sent_ms`: when that announce went out.
    Offer {
        sdp: Option<String>,
        tracker: Option<usize>,
        sent_ms: Option<u64>,
    },
    /// Answering a peer's offer that came through `tracker`. `answer`: the tracker message
    /// carrying our sealed answer once made, kept so it can be sent again elsewhere.
    Answering {
        tracker: usize,
        created_ms: u64,
        answer: Option<String>,
        answered_ms: Option<u64>,
        resent: bool,
    },
    /// Our offer, answered by the peer in `mesh`.
    Answered,
}

#[derive(Debug)]
struct Conn {
    role: Role,
    offer_id: String,
    /// The negotiation this connection carries; `None` while our offer is unanswered.
    mesh: Option<mesh::ConnId>,
    open: bool,
    /// When our hello goes out again (until the peer's arrives), and when the connection
    /// opened.
    hello: Option<(u64, u64)>,
    /// From the peer's hello; the peer is listed once it is known.
    name: Option<String>,
    /// The name our last hello on this connection carried: a rename before the peer has
    /// spoken is only told in the hello, so greeting tells a newer one.
    hello_name: String,
    bad_frames: u32,
    media: MediaFlags,
    speaking: bool,
    chat: chat::PeerChat,
    /// Messages that came before the peer's hello (see [`MAX_EARLY_MESSAGES`]).
    early: Vec<PeerMessage>,
    auth: trust::ConnAuth,
    /// Proven, but waiting at the door of our locked room, under this name.
    knock: Option<String>,
}

impl Conn {
    fn new(role: Role, offer_id: String) -> Self {
        Self {
            role,
            offer_id,
            mesh: None,
            open: false,
            hello: None,
            name: None,
            hello_name: String::new(),
            bad_frames: 0,
            media: MediaFlags::default(),
            speaking: false,
            chat: chat::PeerChat::default(),
            early: Vec::new(),
            auth: trust::ConnAuth::default(),
            knock: None,
        }
    }

    fn peer(&self) -> Option<&PeerId> {
        self.mesh.as_ref().map(|c| &c.peer)
    }
}

/// The whole room, for one local peer.
pub struct Room {
    me: PeerId,
    keys: Option<RoomKeys>,
    rng: Drbg,
    name: String,
    mesh: Mesh,
    trackers: Vec<trackers::Slot>,
    shown_trackers: Vec<TrackerStatus>,
    conns: VecMap<ConnHandle, Conn>,
    next_conn: u32,
    chat: chat::ChatState,
    next_ping_ms: u64,
    next_levels_ms: u64,
    next_status_ms: u64,
    /// Peers dropped for misbehaving: never reconnected in this session, or they would be
    /// back with their next re-announce. Oldest first.
    banned: VecDeque<PeerId>,
    media: (Vec<StreamLabel>, MediaFlags),
    files: files::Files,
    trust: trust::Trust,
    admission: admission::Admission,
    out: VecDeque<Output>,
    left: bool,
    /// Set when rooms are spread over the trackers: which of them this room may use.
    choice: Option<Choice>,
}

/// The trackers of a deployment that spreads rooms, and how many each room uses.
struct Choice {
    ids: Vec<String>,
    per_room: usize,
}

/// The `k` trackers (indices into `ids`) a room with rendezvous id `info_hash` uses: highest
/// random weight hashing, each tracker scored by SHA-256 of the rendezvous id and its own id.
/// Every member computes the same set; adding or removing a tracker moves only the rooms that
/// had it among their best, and over many rooms each tracker gets `k / N` of them.
pub fn choose_trackers(info_hash: &str, ids: &[String], k: usize) -> Vec<usize> {
    use sha2::{Digest, Sha256};
    let scores: Vec<[u8; 32]> = ids
        .iter()
        .map(|id| {
            let mut h = Sha256::new();
            h.update(b"hush/v1/tracker-choice|");
            h.update(info_hash.as_bytes());
            h.update(b"|");
            h.update(id.as_bytes());
            h.finalize().into()
        })
        .collect();
    // The k highest scores by repeated selection: N is a handful, and a sort would cost the
    // browser's wasm far more code than this loop.
    let mut chosen = vec![false; ids.len()];
    for _ in 0..k.min(ids.len()) {
        let best = (0..ids.len())
            .filter(|&i| !chosen[i])
            .max_by(|&a, &b| scores[a].cmp(&scores[b]));
        if let Some(i) = best {
            chosen[i] = true;
        }
    }
    (0..ids.len()).filter(|&i| chosen[i]).collect()
}

impl Room {
    /// A room with `trackers` tracker slots and our display name. Opens every tracker and
    /// prepares the first offers at once, so sockets and ICE gathering run while the shell
    /// derives the room keys ([`Room::set_keys`]).
    pub fn new(trackers: usize, name: &str, seed: [u8; SEED_LEN], now_ms: u64) -> Self {
        let mut room = Self::build(trackers, None, name, seed, now_ms);
        for i in 0..trackers {
            room.push(Output::ConnectTracker(i));
        }
        room
    }

    /// A room of a deployment that spreads rooms over several trackers: of the trackers named
    /// by `ids` (their URLs, the same list for every member), the room uses only the
    /// `per_room` that rendezvous hashing on its rendezvous id picks ([`choose_trackers`]), so
    /// every member of a room picks the same ones and each tracker carries `per_room / N` of
    /// the rooms. The choice needs the room key, so sockets open once [`Room::set_keys`] runs
    /// (a join pays for Argon2 before its first handshake, ~0.1 s).
    pub fn spread(
        ids: &[String],
        per_room: usize,
        name: &str,
        seed: [u8; SEED_LEN],
        now_ms: u64,
    ) -> Self {
        let choice = Choice {
            ids: ids.to_vec(),
            per_room: per_room.clamp(1, ids.len().max(1)),
        };
        Self::build(ids.len(), Some(choice), name, seed, now_ms)
    }

    fn build(
        trackers: usize,
        choice: Option<Choice>,
        name: &str,
        seed: [u8; SEED_LEN],
        now_ms: u64,
    ) -> Self {
        let mut rng = Drbg::new(seed);
        let me = PeerId::random(&rng.bytes());
        let identity_secret = rng.bytes::<SECRET_LEN>();
        let mut room = Self {
            mesh: Mesh::new(me.clone()),
            me,
            keys: None,
            rng,
            name: wire::sanitize_name(name, "Guest"),
            trackers: (0..trackers).map(|_| trackers::Slot::new()).collect(),
            shown_trackers: Vec::new(),
            conns: VecMap::default(),
            next_conn: 0,
            chat: chat::ChatState::default(),
            next_ping_ms: now_ms.saturating_add(PING_INTERVAL_MS),
            next_levels_ms: now_ms,
            next_status_ms: now_ms,
            banned: VecDeque::new(),
            media: (Vec::new(), MediaFlags::default()),
            files: files::Files::default(),
            trust: trust::Trust::new(identity_secret),
            admission: admission::Admission::default(),
            out: VecDeque::new(),
            left: false,
            choice,
        };
        let used = room.choice.as_ref().map_or(trackers, |c| c.per_room);
        for _ in 0..INITIAL_OFFERS.saturating_mul(used) {
            room.prepare_offer();
        }
        room.report_trackers();
        room
    }

    /// The room keys are derived: announcing can start.
    pub fn set_keys(&mut self, keys: RoomKeys, now_ms: u64) {
        if let Some(c) = &self.choice {
            let chosen = choose_trackers(&keys.info_hash, &c.ids, c.per_room);
            for i in 0..self.trackers.len() {
                if chosen.contains(&i) {
                    self.push(Output::ConnectTracker(i));
                } else {
                    self.trackers[i].status = TrackerStatus::Unused;
                }
            }
            self.report_trackers();
        }
        self.keys = Some(keys);
        for i in 0..self.trackers.len() {
            self.announce(i, now_ms);
        }
    }

    pub fn me(&self) -> &PeerId {
        &self.me
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next thing for the shell to do, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the engine next wants [`Room::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.left {
            return None;
        }
        let mut at = self.mesh.next_timeout();
        let mut min = |t: Option<u64>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a: u64| a.min(t)));
            }
        };
        min(Some(self.next_ping_ms));
        for t in &self.trackers {
            min(t.wake_at());
            if matches!(t.status, TrackerStatus::Retrying { .. }) {
                min(Some(self.next_status_ms));
            }
        }
        if self.conns.values().any(|c| c.open && c.media.mic) {
            min(Some(self.next_levels_ms));
        }
        for c in self.conns.values() {
            if let Role::Answering {
                answered_ms: Some(t),
                resent: false,
                ..
            } = c.role
            {
                if !c.open {
                    min(Some(t.saturating_add(ANSWER_RESEND_MS)));
                }
            }
        }
        for c in self.conns.values() {
            if let (true, Some((t, _))) = (c.open, c.hello) {
                min(Some(t));
            }
        }
        min(self.files.next_timeout());
        min(self.chat_next_timeout());
        at
    }

    /// Time passed: heartbeats, timeouts, reconnects, re-announces, resends.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.left {
            return;
        }
        for t in self.mesh.tick(now) {
            match t {
                Timeout::Close { conn, was_open } => {
                    let reason = was_open.then(|| "stopped responding".to_owned());
                    let Some(h) = self.handle_of(&conn) else {
                        continue;
                    };
                    if self
                        .conns
                        .get(&h)
                        .is_some_and(|c| c.open && c.name.is_none())
                    {
                        self.refuse(h, HandshakeError::Timeout);
                    } else {
                        self.close_conn(h, reason);
                    }
                }
                Timeout::OfferExpired { offer_id } => {
                    let stale: Vec<ConnHandle> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| c.mesh.is_none() && c.offer_id == offer_id)
                        .map(|(h, _)| *h)
                        .collect();
                    for h in stale {
                        self.close_conn(h, None);
                    }
                }
            }
        }
        self.resend_answers(now);
        self.resend_hellos(now);
        for i in 0..self.trackers.len() {
            if self.trackers[i].silent(now) {
                // Accepted our socket, never answered: down, as far as this room goes.
                self.drop_tracker(i, now);
                continue;
            }
            let t = &mut self.trackers[i];
            match t.status {
                TrackerStatus::Retrying { at_ms } if now >= at_ms => {
                    t.connecting();
                    self.push(Output::ConnectTracker(i));
                }
                TrackerStatus::Joining | TrackerStatus::Connected
                    if t.announced && now >= t.next_announce_ms =>
                {
                    self.announce(i, now);
                }
                _ => {}
            }
        }
        if now >= self.next_status_ms {
            self.next_status_ms = now.saturating_add(STATUS_REFRESH_MS);
        }
        self.files_timeout(now);
        self.chat_timeout(now);
        if now >= self.next_levels_ms {
            self.next_levels_ms = now.saturating_add(LEVEL_POLL_MS);
            let mics: Vec<ConnHandle> = self
                .conns
                .iter()
                .filter(|(_, c)| c.open && c.media.mic)
                .map(|(h, _)| *h)
                .collect();
            if !mics.is_empty() {
                self.push(Output::PollLevels(mics));
            }
        }
        if now >= self.next_ping_ms {
            self.next_ping_ms = now.saturating_add(PING_INTERVAL_MS);
            self.broadcast(&PeerMessage::Ping { t: now });
        }
        self.report_trackers();
    }

    // ---- user commands ----

    pub fn set_name(&mut self, name: &str) {
        self.name = wire::sanitize_name(name, &self.name);
        let msg = PeerMessage::SetName {
            name: self.name.clone(),
        };
        self.broadcast(&msg);
    }

    /// Our media changed: labels first (so receivers lay tracks out right), then the state.
    pub fn set_media(&mut self, labels: Vec<StreamLabel>, flags: MediaFlags) {
        self.media = (labels, flags);
        self.broadcast(&PeerMessage::Streams {
            streams: self.media.0.clone(),
        });
        self.broadcast(&media_state(flags));
    }

    /// Sends a media renegotiation message (`Description` or `Candidate`) on `conn`.
    pub fn send_negotiation(&mut self, conn: ConnHandle, msg: &PeerMessage) {
        if matches!(
            msg,
            PeerMessage::Description { .. } | PeerMessage::Candidate { .. }
        ) {
            self.send_to(conn, msg);
        }
    }

    /// Leaves: goodbye to every peer and tracker, then every connection and socket closes.
    pub fn leave(&mut self) {
        if self.left {
            return;
        }
        self.files_leave();
        self.broadcast(&PeerMessage::Bye);
        self.leave_trackers();
        let all: Vec<ConnHandle> = self.conns.keys().copied().collect();
        for h in all {
            self.conns.remove(&h);
            self.push(Output::Close(h));
        }
        for i in 0..self.trackers.len() {
            self.push(Output::CloseTracker(i));
        }
        self.left = true;
    }

    // ---- connection events ----

    /// `conn`'s control channel opened.
    pub fn handle_channel_open(&mut self, h: ConnHandle, now: u64) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let keep = c.mesh.as_ref().is_some_and(|m| self.mesh.on_open(m, now));
        if !keep {
            self.conns.remove(&h);
            self.push(Output::Close(h));
            return;
        }
        c.open = true;
        if c.peer().is_none() {
            return;
        }
        // Only our hello until the peer speaks (see HELLO_RESEND_MS).
        c.hello = Some((now.saturating_add(HELLO_RESEND_MS), now));
        self.send_hello(h, false);
    }

    /// The peer's first hello: its side is reading, so everything else may follow.
    fn greet(&mut self, h: ConnHandle, peer: PeerId) {
        if self
            .conns
            .get(&h)
            .is_some_and(|c| c.hello_name != self.name)
        {
            let name = self.name.clone();
            self.send_to(h, &PeerMessage::SetName { name });
        }
        self.send_offers_to(h);
        self.greet_chat(h);
        self.greet_admission(h);
        // A late joiner gets the media already flowing: labels and state, then (from the
        // shell, on `Opened`) the tracks.
        if self.media.1 != MediaFlags::default() {
            let streams = self.media.0.clone();
            self.send_to(h, &PeerMessage::Streams { streams });
            self.send_to(h, &media_state(self.media.1));
        }
        self.event(Event::Opened { peer, conn: h });
    }

    /// Repeats our hello where the peer's has not arrived; gives up on a silent one.
    fn resend_hellos(&mut self, now: u64) {
        let due: Vec<(ConnHandle, bool)> = self
            .conns
            .iter()
            .filter_map(|(h, c)| match c.hello {
                Some((at, opened)) if c.open && now >= at => {
                    Some((*h, now.saturating_sub(opened) >= HELLO_TIMEOUT_MS))
                }
                _ => None,
            })
            .collect();
        for (h, expired) in due {
            if expired {
                self.refuse(h, HandshakeError::Timeout);
                continue;
            }
            if let Some(c) = self.conns.get_mut(&h) {
                if let Some((at, _)) = &mut c.hello {
                    *at = now.saturating_add(HELLO_RESEND_MS);
                }
            }
            self.send_hello(h, false);
        }
    }

    /// `conn` closed (channel closed, ICE failed) or the shell could not set it up.
    pub fn handle_channel_closed(&mut self, h: ConnHandle) {
        self.close_conn(h, None);
    }

    /// A frame arrived on `conn`'s control channel.
    pub fn handle_frame(&mut self, h: ConnHandle, bytes: &[u8], now: u64) {
        let Some(keys) = &self.keys else {
            return;
        };
        let Some(c) = self.conns.get(&h) else {
            return;
        };
        let Some(peer) = c.peer().filter(|_| c.open).cloned() else {
            return;
        };
        match wire::decode(&keys.chat, peer.as_str(), self.me.as_str(), bytes) {
            Ok(msg) => {
                self.mesh.on_heard(&peer, now);
                self.on_message(h, peer, msg, now);
            }
            Err(_) => self.bad_frame(h),
        }
    }

    /// A frame on `conn` was too large to even read (the shell checked its length before
    /// copying it): it counts as malformed.
    pub fn handle_oversized_frame(&mut self, h: ConnHandle) {
        self.bad_frame(h);
    }

    /// The peer on `conn` sent frames faster than the shell could hand them over.
    pub fn handle_flooded(&mut self, h: ConnHandle) {
        self.ban(h, "sent messages faster than they could be handled");
    }

    /// The audio level on `conn` (`None`: no audio arrives).
    pub fn handle_level(&mut self, h: ConnHandle, level: Option<f64>) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let speaking = level.is_some_and(|l| l >= SPEAKING_LEVEL) && c.media.mic;
        if speaking == c.speaking {
            return;
        }
        c.speaking = speaking;
        if let Some(peer) = c.peer().cloned() {
            self.event(Event::Speaking { peer, speaking });
        }
    }

    /// The peer of an open connection (for the shell's media bookkeeping).
    pub fn peer_of(&self, h: ConnHandle) -> Option<&PeerId> {
        self.conns.get(&h).and_then(|c| c.peer())
    }

    /// The open connection to `peer`, if any.
    pub fn open_conn(&self, peer: &PeerId) -> Option<ConnHandle> {
        self.conns
            .iter()
            .find(|(_, c)| c.open && c.peer() == Some(peer))
            .map(|(h, _)| *h)
    }

    /// Open connections and their peers.
    pub fn open_peers(&self) -> impl Iterator<Item = (ConnHandle, &PeerId)> {
        self.conns
            .iter()
            .filter(|(_, c)| c.open)
            .filter_map(|(h, c)| c.peer().map(|p| (*h, p)))
    }

    /// A peer's display name, once it said hello.
    pub fn peer_name(&self, peer: &PeerId) -> String {
        self.conns
            .values()
            .find(|c| c.peer() == Some(peer))
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| "Guest".into())
    }

    /// Peers the engine has a connection with, open or pending.
    pub fn known_peers(&self) -> usize {
        self.mesh.len()
    }

    /// Connections the engine keeps (any state): for tests that check nothing leaks.
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    // ---- internals ----

    fn push(&mut self, o: Output) {
        if self.out.len() >= MAX_PENDING_OUTPUTS {
            // Only a shell that never drains gets here; keep the newest decisions.
            self.out.pop_front();
        }
        self.out.push_back(o);
    }

    fn event(&mut self, e: Event) {
        self.push(Output::Event(e));
    }

    fn new_handle(&mut self) -> ConnHandle {
        self.next_conn = self.next_conn.wrapping_add(1);
        ConnHandle(self.next_conn)
    }

    fn handle_of(&self, m: &mesh::ConnId) -> Option<ConnHandle> {
        self.conns
            .iter()
            .find(|(_, c)| c.mesh.as_ref() == Some(m))
            .map(|(h, _)| *h)
    }

    fn report_trackers(&mut self) {
        let views: Vec<TrackerStatus> = self.trackers.iter().map(|t| t.status.clone()).collect();
        if views != self.shown_trackers {
            self.shown_trackers = views.clone();
            self.event(Event::Trackers(views));
        }
    }

    /// Closes and forgets a connection; tells the UI if it was a listed peer.
    fn close_conn(&mut self, h: ConnHandle, reason: Option<String>) {
        let Some(c) = self.conns.remove(&h) else {
            return;
        };
        self.push(Output::Close(h));
        if let (Some(_), Some(m)) = (&c.knock, &c.mesh) {
            self.event(Event::JoinWithdrawn {
                peer: m.peer.clone(),
            });
        }
        match &c.mesh {
            Some(m) => {
                if c.chat.is_typing() {
                    self.event(Event::Typing {
                        peer: m.peer.clone(),
                        typing: false,
                    });
                }
                let left = self.mesh.on_closed(m);
                if left || reason.is_some() {
                    // Transfers on this connection end with its channels anyway; the peer's
                    // offers and our transfers with it go only when the peer itself is gone.
                    self.files_peer_gone(&m.peer);
                }
                if (left || reason.is_some()) && c.name.is_some() {
                    self.event(Event::PeerDown {
                        peer: m.peer.clone(),
                        reason,
                    });
                }
            }
            None => self.mesh.offer_dropped(&c.offer_id),
        }
    }

    /// Drops a misbehaving peer and refuses it for the rest of the session.
    fn ban(&mut self, h: ConnHandle, reason: &str) {
        if let Some(peer) = self.conns.get(&h).and_then(|c| c.peer()).cloned() {
            if self.banned.len() >= MAX_BANNED {
                self.banned.pop_front();
            }
            self.banned.push_back(peer);
        }
        self.close_conn(h, Some(reason.to_owned()));
    }

    fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer)
    }

    /// Counts a malformed frame; more than [`MAX_BAD_FRAMES`] and the peer is banned.
    fn bad_frame(&mut self, h: ConnHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Some(peer) = c.peer().filter(|_| c.open).cloned() else {
            return;
        };
        c.bad_frames = c.bad_frames.saturating_add(1);
        let too_many = c.bad_frames > MAX_BAD_FRAMES;
        self.event(Event::BadFrame { peer });
        if too_many {
            self.ban(h, "sent malformed data");
        }
    }

    fn on_message(&mut self, h: ConnHandle, peer: PeerId, msg: PeerMessage, now: u64) {
        let early = !matches!(
            msg,
            PeerMessage::Hello { .. }
                | PeerMessage::Greeting { .. }
                | PeerMessage::Proof { .. }
                | PeerMessage::Ping { .. }
                | PeerMessage::Pong { .. }
                | PeerMessage::Bye
        );
        if let Some(c) = self.conns.get_mut(&h).filter(|c| early && c.name.is_none()) {
            // The peer heard our hello before we heard its: keep what it says until its hello
            // repeats, so nothing is shown under a name it has not given yet.
            if c.early.len() >= MAX_EARLY_MESSAGES {
                c.early.remove(0);
            }
            c.early.push(msg);
            return;
        }
        match msg {
            // The name-only hello of the first protocol proves nothing: such a peer is never
            // listed, and its connection times out with the reason.
            PeerMessage::Hello { .. } => {}
            PeerMessage::Greeting { .. } => {}
            proof @ PeerMessage::Proof { .. } => {
                let Some(name) = self.check_peer_proof(h, &proof) else {
                    return;
                };
                let name = wire::sanitize_name(&name, "Guest");
                let Some(c) = self.conns.get_mut(&h) else {
                    return;
                };
                if let Some(known) = &c.name {
                    // A repeated proof: the peer has not heard ours, and may have been renamed
                    // since its first one.
                    if *known != name {
                        c.name = Some(name.clone());
                        self.event(Event::PeerName {
                            peer: peer.clone(),
                            name,
                        });
                    }
                    return;
                }
                if self.admit_or_hold(h, &name) {
                    self.list_peer(h, name, now);
                }
            }
            msg @ (PeerMessage::SasCommit { .. }
            | PeerMessage::SasNonce { .. }
            | PeerMessage::SasReveal { .. }
            | PeerMessage::SasDone { .. }) => self.on_sas(h, &peer, msg),
            PeerMessage::Lock {
                locked,
                version,
                members,
            } => self.on_lock(peer, locked, version, &members, now),
            PeerMessage::Knock => self.on_knock(),
            msg @ PeerMessage::Decision { .. } => self.on_decision(h, &peer, msg, now),
            PeerMessage::SetName { name } => {
                let name = wire::sanitize_name(&name, "Guest");
                let Some(c) = self.conns.get_mut(&h) else {
                    return;
                };
                if c.name.is_none() {
                    return;
                }
                c.name = Some(name.clone());
                self.event(Event::PeerName { peer, name });
            }
            msg @ (PeerMessage::Chat { .. } | PeerMessage::Message { .. }) => {
                if let Some(msg) = chat::Incoming::from_message(msg) {
                    self.on_chat(h, peer, msg, now);
                }
            }
            PeerMessage::Timer { ttl_ms, version } => self.on_timer(peer, ttl_ms, version),
            PeerMessage::Viewed { id } => self.on_viewed(peer, id),
            PeerMessage::Typing { on } => self.on_typing(h, peer, on, now),
            PeerMessage::Ping { t } => self.send_to(h, &PeerMessage::Pong { t }),
            PeerMessage::Pong { .. } => {}
            PeerMessage::Bye => self.close_conn(h, None),
            msg @ (PeerMessage::Description { .. }
            | PeerMessage::Candidate { .. }
            | PeerMessage::Streams { .. }) => {
                self.event(Event::Negotiation { peer, conn: h, msg });
            }
            PeerMessage::MediaState {
                mic,
                camera,
                screen,
            } => {
                let media = MediaFlags {
                    mic,
                    camera,
                    screen,
                };
                let Some(c) = self.conns.get_mut(&h) else {
                    return;
                };
                c.media = media;
                if !mic {
                    c.speaking = false;
                }
                self.event(Event::PeerMedia { peer, media });
            }
            msg @ (PeerMessage::FileOffer { .. }
            | PeerMessage::FileWithdraw { .. }
            | PeerMessage::FileRequest { .. }
            | PeerMessage::FileRefused { .. }
            | PeerMessage::FileLink { .. }) => self.on_file_message(h, &peer, msg, now),
        }
    }

    /// Lists the peer on `h` under `name` (its hello verified, and it may be in the room):
    /// the shell is told, the peer greeted, and what it said meanwhile handled.
    fn list_peer(&mut self, h: ConnHandle, name: String, now: u64) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Some(peer) = c.peer().cloned() else {
            return;
        };
        c.name = Some(name.clone());
        c.hello = None;
        self.event(Event::PeerUp {
            peer: peer.clone(),
            name: name.clone(),
        });
        self.announce_trust(h, &peer, &name);
        self.greet(h, peer.clone());
        let held = self
            .conns
            .get_mut(&h)
            .map(|c| std::mem::take(&mut c.early))
            .unwrap_or_default();
        for msg in held {
            self.on_message(h, peer.clone(), msg, now);
        }
    }

    fn send_to(&mut self, h: ConnHandle, msg: &PeerMessage) {
        let Some(keys) = &self.keys else {
            return;
        };
        let Some(peer) = self.conns.get(&h).filter(|c| c.open).and_then(|c| c.peer()) else {
            return;
        };
        let nonce = self.rng.bytes();
        let frame = wire::encode(&keys.chat, nonce, self.me.as_str(), peer.as_str(), msg);
        self.push(Output::Send { conn: h, frame });
    }

    /// To every open connection whose peer said hello (heartbeats to every open one).
    fn broadcast(&mut self, msg: &PeerMessage) {
        let ping = matches!(msg, PeerMessage::Ping { .. });
        let open: Vec<ConnHandle> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open && (ping || c.name.is_some()))
            .map(|(h, _)| *h)
            .collect();
        for h in open {
            self.send_to(h, msg);
        }
    }
}

fn media_state(f: MediaFlags) -> PeerMessage {
    PeerMessage::MediaState {
        mic: f.mic,
        camera: f.camera,
        screen: f.screen,
    }
}

#[cfg(test)]
mod tests;
