//! `GET /announce`: a WebTorrent-compatible tracker over WebSocket.
//!
//! Semantics follow the reference `bittorrent-tracker` server, so the app can use this helper
//! and public trackers interchangeably:
//! - an announce adds the socket's `peer_id` to the swarm `info_hash` (a socket may sit in
//!   several swarms, with one `peer_id` per swarm) and is answered with `interval`,
//!   `complete` (members that sent `left: 0`) and `incomplete` (the others);
//! - each offer goes to a distinct, randomly chosen other member; offers beyond the number of
//!   other members (or beyond `numwant`) are dropped;
//! - an answer is routed to the socket of `to_peer_id` in that swarm and gets no reply of its
//!   own; an unknown target is ignored silently, like the reference (the offerer's own
//!   timeout handles it, and a failure reply would only tell a prober who left);
//! - `event: "stopped"` leaves the swarm; closing the socket leaves all of them; an empty
//!   swarm is deleted;
//! - a `peer_id` announced from a second socket is refused while the socket holding it is
//!   live (open, and announced within [`TAKEOVER_AFTER`]): a member who copies another's id
//!   would otherwise take its offers. Once the holder has gone quiet for that long (a client
//!   reconnecting after a network change, whose old socket the helper has not yet seen die),
//!   the newer socket takes the entry over.
//!
//! Every socket is one task: it writes what is queued for it (a bounded queue, [`Outbox`]),
//! then waits for whichever comes first: a frame to read (parse, rate-limit, update the
//! registry, forward), a message queued, its idle deadline or shutdown. Other sockets push
//! into that queue without waiting; a client that stops reading fills it and is disconnected,
//! so one slow consumer can never stall the sockets that forward to it. One task rather than
//! a reader and a writer: a second task, and the lock that splitting the socket between two
//! tasks needs, cost about half a kilobyte per socket.
//!
//! The WebSocket itself is ours: axum's router hands over the upgraded connection, and
//! frames are read and written with [`hush_core::wsframe`]. A WebSocket library keeps a read
//! buffer per socket at the size of the largest frame it has read; here bytes are read into
//! the stack of the poll that finds them and only an undecoded part of a frame is kept, so an
//! idle socket holds no buffer at all (2.3 KiB per socket in all, against 4.4 with the
//! library and 8 for the reference tracker).

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use hush_core::ids::check_id;
use hush_core::tracker::{parse_announce, Announce, ServerMessage, ACTION_ANNOUNCE, MAX_NUMWANT};
use hush_core::vecmap::VecMap;
use hush_core::wsframe::{self, close_code, Message, MessageReader, Opcode, Read, WsError};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rand::seq::SliceRandom;
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Largest WebSocket message (and frame) accepted. An announce carrying the maximum of 10
/// sealed data-channel offers is ~20 KiB; 64 KiB leaves room for media SDPs while keeping a
/// client from parking megabytes in our buffers.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most bytes taken from a socket in one read. They are read into the stack of the poll
/// that finds them and kept only until decoded, so this costs an idle socket nothing; 16 KiB
/// takes a whole announce with offers (~7–20 KiB) in one or two reads.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Most peers in one swarm. A Hush room is a full mesh, which stops being usable well before
/// 64 participants (each peer holds n-1 connections), so more is almost surely abuse.
pub const MAX_PEERS_PER_SWARM: usize = 64;
/// Most swarms one socket may join. One tab is in one room; 16 allows a few rooms per socket
/// (as WebTorrent clients multiplex torrents) without letting a socket map the whole tracker.
pub const MAX_SWARMS_PER_SOCKET: usize = 16;
/// Most concurrent tracker sockets in all. 10,000 is the design point; at about 3.5 KiB each
/// once they have announced offers (and at most a frame's 64 KiB while one is half-read),
/// twice that stays small, and many addresses each under their own limit cannot take more.
pub const MAX_SOCKETS: usize = 20_000;
/// Most concurrent sockets from one IP (IPv6: one /64). Enough for a household or office
/// behind one NAT with several tabs each, too few to exhaust the helper from one machine.
pub const MAX_SOCKETS_PER_IP: usize = 32;
/// A socket that sends no frame for this long is closed. Clients re-announce every
/// [`ANNOUNCE_INTERVAL`], so 120 s is four missed announces: the client is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The `interval` told to clients. 30 s keeps swarm membership fresh (a crashed peer is
/// forgotten quickly) at the cost of one tiny frame per peer every 30 s.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);
/// A `peer_id` whose socket has not announced for this long may be taken over by another
/// socket: a live client re-announces every [`ANNOUNCE_INTERVAL`], so its id is safe, and a
/// client whose old socket died unseen gets its id back within 45 s.
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(45);
/// Sustained frames per second per socket. A joining client sends a handful (announce,
/// answers); 20/s covers a burst of answers to a big room and throttles floods.
pub const RATE_PER_SEC: u32 = 20;
/// Token-bucket burst: a client may send this many frames at once after being quiet, e.g. a
/// join into a full room answering many offers together.
pub const RATE_BURST: u32 = 40;
/// Most bytes of queued frames joined into one write. A burst of offers (a few KiB each)
/// goes out in one system call; the batch is freed as soon as it is written.
pub const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Outgoing messages queued per socket. A healthy client drains in microseconds; 64 absorbs
/// a burst of offers from a whole room arriving at once, and a full queue means the client
/// stopped reading, so it is disconnected rather than buffered without bound.
pub const OUTGOING_QUEUE: usize = 64;
/// How long one write may block before the socket is considered dead: its task must not
/// hold a connection slot forever for a client that keeps its TCP window shut.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read (and thrown away) while waiting for a client's reply to our close frame.
/// An honest client has a frame or two in flight; a flooder closed for its rate would
/// otherwise have the helper read and decode its flood for the whole [`CLOSE_LINGER`].
pub const LINGER_BYTES: usize = 16 * 1024;
/// After we send a close frame, how long we keep reading for the client's reply. Dropping the
/// connection at once could reset it before the client has read why it was closed.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The tracker's limits, each defaulting to the constant of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message or frame, in bytes; larger closes with 1009 ([`MAX_FRAME_BYTES`]).
    pub max_frame_bytes: usize,
    /// Members per swarm; a newcomer beyond it gets a failure reply ([`MAX_PEERS_PER_SWARM`]).
    pub max_peers_per_swarm: usize,
    /// Swarms per socket; one more gets a failure reply ([`MAX_SWARMS_PER_SOCKET`]).
    pub max_swarms_per_socket: usize,
    /// Concurrent sockets per IP (IPv6 /64); one more gets HTTP 429 ([`MAX_SOCKETS_PER_IP`]).
    pub max_sockets_per_ip: usize,
    /// Concurrent sockets in all; one more gets HTTP 503 ([`MAX_SOCKETS`]).
    pub max_sockets: usize,
    /// Concurrent HTTP connections in all, sockets included; past it the helper stops
    /// accepting until one closes ([`crate::MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Silence after which a socket is closed with 1000 ([`IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// `interval` in announce replies, in whole seconds ([`ANNOUNCE_INTERVAL`]).
    pub announce_interval: Duration,
    /// Silence after which another socket may take a member's `peer_id` ([`TAKEOVER_AFTER`]).
    pub takeover_after: Duration,
    /// Sustained frames per second per socket; beyond it, close 1008 ([`RATE_PER_SEC`]).
    pub rate_per_sec: u32,
    /// Frames a quiet socket may send at once ([`RATE_BURST`]).
    pub rate_burst: u32,
    /// Queued outgoing messages per socket; full means disconnect ([`OUTGOING_QUEUE`]).
    pub outgoing_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: MAX_FRAME_BYTES,
            max_peers_per_swarm: MAX_PEERS_PER_SWARM,
            max_swarms_per_socket: MAX_SWARMS_PER_SOCKET,
            max_sockets_per_ip: MAX_SOCKETS_PER_IP,
            max_sockets: MAX_SOCKETS,
            max_connections: crate::MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            announce_interval: ANNOUNCE_INTERVAL,
            takeover_after: TAKEOVER_AFTER,
            rate_per_sec: RATE_PER_SEC,
            rate_burst: RATE_BURST,
            outgoing_queue: OUTGOING_QUEUE,
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        use crate::ConfigError::ZeroLimit;
        let checks = [
            (self.max_frame_bytes == 0, "max_frame_bytes"),
            (self.max_peers_per_swarm == 0, "max_peers_per_swarm"),
            (self.max_swarms_per_socket == 0, "max_swarms_per_socket"),
            (self.max_sockets_per_ip == 0, "max_sockets_per_ip"),
            (self.max_sockets == 0, "max_sockets"),
            (self.max_connections == 0, "max_connections"),
            (self.idle_timeout.is_zero(), "idle_timeout"),
            (self.announce_interval.is_zero(), "announce_interval"),
            (self.rate_per_sec == 0, "rate_per_sec"),
            (self.rate_burst == 0, "rate_burst"),
            (self.outgoing_queue == 0, "outgoing_queue"),
        ];
        match checks.iter().find(|(zero, _)| *zero) {
            Some((_, name)) => Err(ZeroLimit(name)),
            None => Ok(()),
        }
    }
}

/// Why an announce was refused while the socket stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Refusal {
    #[error("peer_id is in use by another connection in this swarm")]
    PeerIdInUse,
    #[error("too many swarms on this connection (at most {0})")]
    TooManySwarms(usize),
    #[error("swarm is full (at most {0} peers)")]
    SwarmFull(usize),
}

/// Identifies one socket for the lifetime of the process (never reused).
type ConnId = u64;

/// The sending side of one socket, shared by its task and every socket that routes to it.
#[derive(Clone)]
struct Outbox {
    conn: ConnId,
    shared: Arc<Outgoing>,
}

/// A socket's outgoing queue: a locked deque and one wake-up. A tokio channel with a
/// cancellation token cost about 2.2 KiB per socket before its first message (its first
/// block of slots is allocated up front), a third of what an idle socket cost; this is one
/// small allocation, and the deque holds memory only while messages wait.
struct Outgoing {
    state: Mutex<OutState>,
    /// Wakes the socket's task: a message was queued, or the queue overflowed.
    wake: Notify,
    capacity: usize,
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Vec<u8>>,
    /// The queue overflowed: the client stopped reading, and the socket must go.
    overflowed: bool,
    /// The socket is closing: it left every swarm, and nothing more is queued.
    closed: bool,
}

/// The client stopped reading: its queue is full.
struct Overflowed;

impl Outbox {
    fn new(conn: ConnId, capacity: usize) -> Self {
        Self {
            conn,
            shared: Arc::new(Outgoing {
                state: Mutex::new(OutState::default()),
                wake: Notify::new(),
                capacity,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, OutState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues without waiting; a full queue ends the socket (slow consumer). Returns whether
    /// the message was queued.
    fn push(&self, msg: Vec<u8>) -> bool {
        let mut s = self.state();
        if s.overflowed || s.closed {
            return false;
        }
        if s.queue.len() >= self.shared.capacity {
            s.overflowed = true;
            drop(s);
            tracing::debug!("disconnecting a socket whose outgoing queue is full");
            self.shared.wake.notify_one();
            return false;
        }
        s.queue.push_back(msg);
        drop(s);
        self.shared.wake.notify_one();
        true
    }

    /// Nothing more will be queued: the socket has left every swarm.
    fn close(&self) {
        self.state().closed = true;
    }

    /// Whether the socket is still there to be written to.
    fn is_live(&self) -> bool {
        let s = self.state();
        !s.overflowed && !s.closed
    }

    fn is_overflowed(&self) -> bool {
        self.state().overflowed
    }

    /// The next frames to write, if any: the first queued one, with those after it
    /// appended while the whole stays within [`WRITE_BATCH_BYTES`], so that a burst (a room's
    /// offers arriving together) costs one write instead of one per frame.
    fn next(&self) -> Result<Option<Vec<u8>>, Overflowed> {
        let mut s = self.state();
        if s.overflowed {
            return Err(Overflowed);
        }
        let Some(mut batch) = s.queue.pop_front() else {
            return Ok(None);
        };
        while let Some(next) = s.queue.front() {
            if batch.len() + next.len() > WRITE_BATCH_BYTES {
                break;
            }
            batch.extend_from_slice(next);
            s.queue.pop_front();
        }
        if s.queue.is_empty() {
            // An idle socket holds no buffer.
            s.queue = VecDeque::new();
        }
        Ok(Some(batch))
    }
}

/// One swarm member.
struct Member {
    outbox: Outbox,
    /// When its socket last announced here: a live member re-announces every `interval`.
    announced: Instant,
    /// Sent `left: 0` or `event: "completed"` (a "seeder"), counted in `complete`.
    complete: bool,
}

#[derive(Default)]
struct Swarm {
    /// Keyed by peer_id.
    peers: HashMap<String, Member>,
}

impl Swarm {
    fn counts(&self) -> (u64, u64) {
        let complete = self.peers.values().filter(|m| m.complete).count();
        (complete as u64, (self.peers.len() - complete) as u64)
    }
}

/// Connections are counted per address; IPv6 per /64, since one host usually owns a whole
/// /64 and could otherwise rotate addresses to dodge the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpKey {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(u32::from(v4)),
                None => IpKey::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Default)]
struct Inner {
    swarms: HashMap<String, Swarm>,
    sockets_per_ip: HashMap<IpKey, usize>,
    /// Sockets open in all.
    sockets: usize,
    next_conn: ConnId,
}

/// Why a new socket was refused before the upgrade.
pub(crate) enum Full {
    /// This address is at [`Limits::max_sockets_per_ip`].
    Address,
    /// The tracker is at [`Limits::max_sockets`].
    Tracker,
}

/// All soft state of the tracker.
///
/// A std `Mutex` around plain maps, as in mini-redis: every critical section is a few map
/// operations and non-blocking `try_send`s with no `.await` inside, so the lock is held for
/// microseconds and an async mutex would only add overhead. Swarms are small (bounded by
/// [`MAX_PEERS_PER_SWARM`]), so sharding the lock is not worth its complexity at this scale.
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    limits: Limits,
}

impl Registry {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            limits,
        }
    }

    /// Never panics on a poisoned lock: no critical section can leave the maps inconsistent
    /// halfway (they hold no `.await` and no fallible step between paired updates).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a connection slot for `ip`, unless that address or the whole tracker is at
    /// its limit.
    fn acquire_ip(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, Full> {
        let key = IpKey::from(ip);
        let mut inner = self.lock();
        if inner.sockets >= self.limits.max_sockets {
            return Err(Full::Tracker);
        }
        let count = inner.sockets_per_ip.entry(key).or_insert(0);
        if *count >= self.limits.max_sockets_per_ip {
            return Err(Full::Address);
        }
        *count += 1;
        inner.sockets += 1;
        Ok(IpSlot {
            registry: Arc::clone(self),
            key,
        })
    }

    fn next_conn(&self) -> ConnId {
        let mut inner = self.lock();
        inner.next_conn += 1;
        inner.next_conn
    }
}

/// One counted connection from an address; dropping it frees the slot. Being a guard, it also
/// frees the slot when an upgrade fails and axum drops our callback without calling it.
struct IpSlot {
    registry: Arc<Registry>,
    key: IpKey,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        inner.sockets = inner.sockets.saturating_sub(1);
        if let Some(count) = inner.sockets_per_ip.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.sockets_per_ip.remove(&self.key);
            }
        }
    }
}

/// The address a connection is counted under.
pub(crate) fn client_ip(
    peer: SocketAddr,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> IpAddr {
    if trust_forwarded_for {
        // The proxy appends the address it saw, so the last entry is the one nobody but the
        // proxy could have written.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
}

/// `GET /announce`: refuses before the upgrade when the request is no WebSocket handshake
/// (400), or when the address (429) or the whole tracker (503) is at its socket limit (cheaper
/// than accepting and closing, and visible to the client as a plain HTTP error).
pub(crate) async fn announce(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let accept = match handshake_accept(req.headers()) {
        Ok(accept) => accept,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        )
            .into_response();
    };
    let ip = client_ip(peer, req.headers(), app.config.trust_forwarded_for);
    let slot = match app.registry.acquire_ip(ip) {
        Ok(slot) => slot,
        Err(Full::Address) => {
            tracing::debug!("refused a socket: per-address limit reached");
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address",
            )
                .into_response();
        }
        Err(Full::Tracker) => {
            tracing::warn!("refused a socket: the tracker is at its socket limit");
            return (StatusCode::SERVICE_UNAVAILABLE, "the tracker is full").into_response();
        }
    };
    let tasks = app.sockets.clone();
    tasks.spawn(async move {
        // The slot moves in before the await: an upgrade that fails still frees it.
        match on_upgrade.await {
            Ok(upgraded) => serve_socket(TokioIo::new(upgraded), app, slot).await,
            Err(err) => tracing::debug!(%err, "a WebSocket upgrade did not complete"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

/// The GUID every WebSocket server appends to the client's key (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The only WebSocket version there is (RFC 6455 §4.1).
const WEBSOCKET_VERSION: &str = "13";
/// Bytes of a client's `Sec-WebSocket-Key` once base64-decoded (RFC 6455 §4.1).
const WEBSOCKET_KEY_BYTES: usize = 16;

/// Checks a client's opening handshake (RFC 6455 §4.2.1) and returns its
/// `Sec-WebSocket-Accept`. No extension or subprotocol is negotiated: tracker clients ask for
/// none, and a compression extension would only add state per socket.
fn handshake_accept(headers: &HeaderMap) -> Result<HeaderValue, &'static str> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err("expected a WebSocket upgrade");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(WEBSOCKET_VERSION.as_bytes())
    {
        return Err("unsupported WebSocket version (expected 13)");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("missing Sec-WebSocket-Key")?;
    let decoded = BASE64_STANDARD
        .decode(key.as_bytes())
        .map_err(|_| "Sec-WebSocket-Key is not base64")?;
    if decoded.len() != WEBSOCKET_KEY_BYTES {
        return Err("Sec-WebSocket-Key is not 16 bytes");
    }
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID.as_bytes());
    HeaderValue::from_str(&BASE64_STANDARD.encode(sha1.finalize()))
        .map_err(|_| "unrepresentable accept key")
}

/// A socket's byte stream and what has been read from it but not yet decoded.
struct Conn<S> {
    io: S,
    /// Bytes received and not yet decoded: part of a frame at most, and empty (no memory at
    /// all) between messages, which is where an idle socket spends its life.
    pending: Vec<u8>,
    reader: MessageReader,
}

impl<S> Conn<S> {
    /// Hands every whole frame received so far to `on` (its message, or `None` for a
    /// fragment), until `on` returns something; drops the bytes taken and, once nothing is
    /// left, the buffer itself.
    fn each_frame<T>(
        &mut self,
        mut on: impl FnMut(Option<Message<'_>>) -> Option<T>,
    ) -> Result<Option<T>, WsError> {
        let mut at = 0;
        let walked = loop {
            match self.reader.read(&mut self.pending[at..]) {
                Err(err) => break Err(err),
                Ok(Read::Incomplete) => break Ok(None),
                Ok(Read::Frame { len, message }) => {
                    at += len;
                    if let Some(done) = on(message) {
                        break Ok(Some(done));
                    }
                }
            }
        };
        self.pending.drain(..at);
        if self.pending.is_empty() {
            // Between messages a socket keeps no buffer.
            self.pending = Vec::new();
        }
        walked
    }
}

/// How a socket's service ended, and so what it still says.
enum End {
    /// The connection is gone (closed, reset, unreadable): nothing more can be said.
    Gone,
    /// We close: send this close frame and wait a little for the client's reply.
    Close(u16, Cow<'static, str>),
    /// The client closed with this code: echo it, as RFC 6455 §5.5.1 asks, and stop.
    Reply(u16),
}

/// Lives as long as one WebSocket.
async fn serve_socket<S>(io: S, app: AppState, slot: IpSlot)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &app.config.limits;
    let outbox = Outbox::new(app.registry.next_conn(), limits.outgoing_queue);
    let now = Instant::now();
    let mut session = Session {
        registry: Arc::clone(&app.registry),
        outbox: outbox.clone(),
        joined: VecMap::default(),
        bucket: TokenBucket::new(limits.rate_per_sec, limits.rate_burst, now),
        last_frame: now,
    };
    let mut conn = Conn {
        io,
        pending: Vec::new(),
        reader: MessageReader::new(limits.max_frame_bytes),
    };
    let end = session.run(&mut conn, &app.stopping).await;
    // Leave before saying goodbye, so no offer is routed to a socket that is closing.
    session.leave_all();
    drop(session);
    outbox.close();
    let _ = timeout(WRITE_TIMEOUT, goodbye(&mut conn, &outbox, end)).await;
    drop(slot);
}

/// Writes what was queued before the socket left its swarms (answers its client may be
/// waiting for), then the close frame, if the connection is still there to take one.
async fn goodbye<S>(conn: &mut Conn<S>, out: &Outbox, end: End)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (code, reason, wait_reply) = match end {
        End::Gone => return,
        End::Close(code, reason) => (code, reason, true),
        End::Reply(code) => (reply_code(code), Cow::Borrowed(""), false),
    };
    while let Ok(Some(frames)) = out.next() {
        if send(&mut conn.io, &frames).await.is_err() {
            return;
        }
    }
    tracing::debug!(code, %reason, "closing a socket");
    // A slow consumer may never make room for it: bounded like the lingering.
    let close = wsframe::encode_close(code, &reason);
    let sent = timeout(CLOSE_LINGER, send(&mut conn.io, &close)).await;
    if matches!(sent, Ok(Ok(()))) && wait_reply {
        let _ = timeout(CLOSE_LINGER, linger(conn)).await;
    }
    let _ = timeout(CLOSE_LINGER, conn.io.shutdown()).await;
}

/// The code to echo to a client's close: its own, unless it is one that must never be sent.
fn reply_code(code: u16) -> u16 {
    match code {
        // 1005 stands for "no code", 1006 and 1015 for failures seen locally (§7.4.1).
        close_code::NO_STATUS | 1006 | 1015 => close_code::NORMAL,
        other => other,
    }
}

/// Reads (and discards) until the client answers our close frame or its stream ends.
async fn linger<S: AsyncRead + Unpin>(conn: &mut Conn<S>) {
    let mut budget = LINGER_BYTES;
    loop {
        let answered = conn.each_frame(|m| matches!(m, Some(Message::Close(_))).then_some(()));
        if !matches!(answered, Ok(None)) {
            return;
        }
        match read_more(&mut conn.io, &mut conn.pending).await {
            Ok(n @ 1..) if n < budget => budget -= n,
            // Closed, failed, or still sending what we will not read: stop listening.
            _ => return,
        }
    }
}

/// Waits until the socket has bytes and appends them to `pending`; returns how many (0: the
/// client closed its side). The bytes are read into a buffer on the stack of the poll that
/// finds them, so an idle socket, which spends its life waiting here, holds no read buffer.
/// Cancel-safe: nothing is taken from the socket by a poll that does not complete.
async fn read_more<S: AsyncRead + Unpin>(io: &mut S, pending: &mut Vec<u8>) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
        pending.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    })
    .await
}

/// Writes one whole frame.
async fn send<S: AsyncWrite + Unpin>(io: &mut S, frame: &[u8]) -> io::Result<()> {
    io.write_all(frame).await?;
    io.flush().await
}

/// Writes one frame, giving up after [`WRITE_TIMEOUT`] or as soon as the queue overflows
/// (a client that keeps its window shut is not waited for while others fill its queue).
/// Returns whether it was written.
async fn write<S: AsyncWrite + Unpin>(io: &mut S, out: &Outbox, frame: &[u8]) -> bool {
    let sent = timeout(WRITE_TIMEOUT, send(io, frame));
    tokio::pin!(sent);
    loop {
        tokio::select! {
            sent = &mut sent => return matches!(sent, Ok(Ok(()))),
            () = out.shared.wake.notified() => {
                // Queued messages wait for the next turn of the loop, which drains the queue
                // before it waits again.
                if out.is_overflowed() {
                    return false;
                }
            }
        }
    }
}

/// Why a slow consumer is disconnected.
fn queue_full() -> End {
    End::Close(
        close_code::POLICY_VIOLATION,
        Cow::Borrowed("outgoing queue full"),
    )
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up, one per frame.
pub(crate) struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self::per_interval(Duration::from_secs(1) / rate.max(1), burst, now)
    }

    /// A bucket that refills one token every `every`, holding at most `burst`.
    pub(crate) fn per_interval(every: Duration, burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            rate: 1.0 / every.as_secs_f64().max(f64::MIN_POSITIVE),
            burst: f64::from(burst),
            last: now,
        }
    }

    /// Whether the bucket would be full by `now` (an entry worth forgetting).
    pub(crate) fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One socket's state in its task, and the swarms it joined.
struct Session {
    registry: Arc<Registry>,
    outbox: Outbox,
    /// info_hash → the peer_id this socket announced there. Kept here rather than in the
    /// registry because only this task reads it; the registry is the authority on who owns a
    /// peer_id (another socket may have taken it over). A list, not a hash map: a socket is
    /// in one swarm or a few, and an empty hash map's first insert allocates room for four.
    joined: VecMap<String, String>,
    bucket: TokenBucket,
    /// When the last whole frame arrived; the socket closes [`Limits::idle_timeout`] after.
    last_frame: Instant,
}

impl Session {
    /// Serves the socket until it must close, and says how it ended.
    async fn run<S>(&mut self, conn: &mut Conn<S>, stopping: &CancellationToken) -> End
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let idle = self.registry.limits.idle_timeout;
        let out = self.outbox.clone();
        loop {
            // Everything queued goes out before the next wait: a wake-up that came while
            // writing is then already served.
            loop {
                match out.next() {
                    Err(Overflowed) => return queue_full(),
                    Ok(None) => break,
                    Ok(Some(frames)) => {
                        if !write(&mut conn.io, &out, &frames).await {
                            return if out.is_overflowed() {
                                queue_full()
                            } else {
                                End::Gone
                            };
                        }
                    }
                }
            }
            let read = tokio::select! {
                () = out.shared.wake.notified() => continue,
                () = stopping.cancelled() => {
                    return End::Close(close_code::GOING_AWAY, Cow::Borrowed("server shutting down"));
                }
                () = sleep_until(self.last_frame + idle) => {
                    return End::Close(close_code::NORMAL, Cow::Borrowed("idle timeout"));
                }
                read = read_more(&mut conn.io, &mut conn.pending) => read,
            };
            if !matches!(read, Ok(1..)) {
                return End::Gone;
            }
            if let Some(end) = self.on_bytes(conn) {
                return end;
            }
        }
    }

    /// Handles every whole frame received so far; returns how the socket ends if one of them
    /// ends it.
    fn on_bytes<S>(&mut self, conn: &mut Conn<S>) -> Option<End> {
        let walked = conn.each_frame(|message| {
            // Every frame counts, pings and fragments included: each costs us a read and a
            // wake-up, and a flood of control frames is as much a flood as one of announces.
            // Likewise any whole frame proves the client alive and resets the idle deadline
            // (bytes that never make a frame do not).
            let now = Instant::now();
            self.last_frame = now;
            if !self.bucket.take(now) {
                return Some(End::Close(
                    close_code::POLICY_VIOLATION,
                    Cow::Borrowed("message rate limit exceeded"),
                ));
            }
            match message {
                None | Some(Message::Pong) => None,
                Some(Message::Text(text)) => {
                    self.on_text(text);
                    None
                }
                Some(Message::Binary) => Some(End::Close(
                    close_code::UNSUPPORTED_DATA,
                    Cow::Borrowed("binary frames are not supported"),
                )),
                Some(Message::Ping(payload)) => {
                    self.outbox
                        .push(wsframe::encode_server_frame(Opcode::Pong, payload));
                    None
                }
                Some(Message::Close(code)) => Some(End::Reply(code)),
            }
        });
        walked.unwrap_or_else(|err| Some(End::Close(err.close_code(), Cow::Owned(err.to_string()))))
    }

    fn reply(&self, msg: &ServerMessage) {
        if let Some(frame) = text_frame(msg) {
            self.outbox.push(frame);
        }
    }

    fn on_text(&mut self, text: &str) {
        let announce = match parse_announce(text) {
            Ok(a) => a,
            Err(err) => {
                let mut failure = ServerMessage::failure(err.to_string());
                // Real WebTorrent clients match replies by action and info_hash and drop the
                // whole socket on a reply without an action; echo both when we can.
                if let Some(info_hash) = lenient_info_hash(text) {
                    failure.action = Some(ACTION_ANNOUNCE.into());
                    failure.info_hash = Some(info_hash);
                }
                self.reply(&failure);
                return;
            }
        };
        match self.apply(&announce) {
            Ok(Some((complete, incomplete))) => self.reply(&ServerMessage {
                action: Some(ACTION_ANNOUNCE.into()),
                info_hash: Some(announce.info_hash),
                interval: Some(self.registry.limits.announce_interval.as_secs()),
                complete: Some(complete),
                incomplete: Some(incomplete),
                ..ServerMessage::default()
            }),
            Ok(None) => {}
            Err(refusal) => {
                let mut failure = ServerMessage::failure(refusal.to_string());
                failure.action = Some(ACTION_ANNOUNCE.into());
                failure.info_hash = Some(announce.info_hash);
                self.reply(&failure);
            }
        }
    }

    /// Applies one valid announce. Returns the swarm counts to reply with, or `None` when the
    /// reference tracker sends no reply (an answer).
    fn apply(&mut self, a: &Announce) -> Result<Option<(u64, u64)>, Refusal> {
        // Serialise before taking the lock, so it is held only for map work.
        let offers: Vec<Vec<u8>> = a
            .offers
            .iter()
            .flatten()
            .filter_map(|o| {
                text_frame(&ServerMessage {
                    offer_id: Some(o.offer_id.clone()),
                    offer: Some(o.offer.clone()),
                    ..relay_base(a)
                })
            })
            .collect();
        let answer = a.answer.as_ref().and_then(|answer| {
            text_frame(&ServerMessage {
                offer_id: a.offer_id.clone(),
                answer: Some(answer.clone()),
                ..relay_base(a)
            })
        });

        let registry = Arc::clone(&self.registry);
        let mut inner = registry.lock();
        if a.event.as_deref() == Some("stopped") {
            // A leaving peer's offers are not forwarded: whoever answered would be answering
            // a peer that just said it is gone.
            self.leave(&mut inner, &a.info_hash);
            let counts = inner.swarms.get(&a.info_hash).map_or((0, 0), Swarm::counts);
            return Ok(Some(counts));
        }
        self.join(&mut inner, a)?;
        let Some(swarm) = inner.swarms.get(&a.info_hash) else {
            return Ok(Some((0, 0)));
        };

        if !offers.is_empty() {
            let mut others: Vec<&Member> = swarm
                .peers
                .values()
                .filter(|m| m.outbox.conn != self.outbox.conn)
                .collect();
            // `numwant` caps the recipients as in the reference tracker (WebTorrent sends
            // numwant = number of offers); we clamp it so a client cannot ask for more.
            let want = a.numwant.unwrap_or(MAX_NUMWANT).min(MAX_NUMWANT) as usize;
            let n = offers.len().min(others.len()).min(want);
            // A partial Fisher–Yates shuffle picks `n` distinct members uniformly: no member gets
            // two offers from one announce (which would make it answer twice), and the order
            // of the map does not bias who is chosen.
            let (chosen, _) = others.partial_shuffle(&mut rand::rng(), n);
            for (member, offer) in chosen.iter().zip(offers) {
                member.outbox.push(offer);
            }
        }

        if let (Some(answer), Some(to)) = (answer, &a.to_peer_id) {
            match swarm.peers.get(to) {
                Some(m) if m.outbox.conn != self.outbox.conn => {
                    m.outbox.push(answer);
                }
                _ => {}
            }
            return Ok(None);
        }
        Ok(Some(swarm.counts()))
    }

    /// Adds (or refreshes) this socket's membership of `a.info_hash` as `a.peer_id`.
    fn join(&mut self, inner: &mut Inner, a: &Announce) -> Result<(), Refusal> {
        let limits = &self.registry.limits;
        let previous = self.joined.get(&a.info_hash).cloned();
        if previous.is_none() && self.joined.len() >= limits.max_swarms_per_socket {
            return Err(Refusal::TooManySwarms(limits.max_swarms_per_socket));
        }
        let now_complete = a.left == Some(0) || a.event.as_deref() == Some("completed");
        let conn = self.outbox.conn;

        let swarm = inner.swarms.get(&a.info_hash);
        let now = Instant::now();
        let held_live = swarm
            .and_then(|s| s.peers.get(&a.peer_id))
            .is_some_and(|m| {
                m.outbox.conn != conn
                    && m.outbox.is_live()
                    && now.saturating_duration_since(m.announced) < limits.takeover_after
            });
        if held_live {
            return Err(Refusal::PeerIdInUse);
        }
        let is_member = swarm.is_some_and(|s| s.peers.contains_key(&a.peer_id));
        if !is_member {
            let size = swarm.map_or(0, |s| s.peers.len());
            // Re-announcing under a new peer_id frees our old entry first.
            let frees_one = previous.as_ref().is_some_and(|old| {
                swarm
                    .and_then(|s| s.peers.get(old))
                    .is_some_and(|m| m.outbox.conn == conn)
            });
            if size - usize::from(frees_one) >= limits.max_peers_per_swarm {
                return Err(Refusal::SwarmFull(limits.max_peers_per_swarm));
            }
        }

        let swarm = inner.swarms.entry(a.info_hash.clone()).or_default();
        if let Some(old) = previous.filter(|old| *old != a.peer_id) {
            if swarm.peers.get(&old).is_some_and(|m| m.outbox.conn == conn) {
                swarm.peers.remove(&old);
            }
        }
        let was_complete = swarm
            .peers
            .get(&a.peer_id)
            .is_some_and(|m| m.outbox.conn == conn && m.complete);
        swarm.peers.insert(
            a.peer_id.clone(),
            Member {
                outbox: self.outbox.clone(),
                announced: now,
                complete: was_complete || now_complete,
            },
        );
        self.joined.insert(a.info_hash.clone(), a.peer_id.clone());
        Ok(())
    }

    /// Removes this socket's entry from one swarm (unless another socket has taken the
    /// peer_id over) and deletes the swarm if that emptied it.
    fn leave(&mut self, inner: &mut Inner, info_hash: &str) {
        let Some(peer_id) = self.joined.remove(info_hash) else {
            return;
        };
        let conn = self.outbox.conn;
        if let Some(swarm) = inner.swarms.get_mut(info_hash) {
            if swarm
                .peers
                .get(&peer_id)
                .is_some_and(|m| m.outbox.conn == conn)
            {
                swarm.peers.remove(&peer_id);
            }
            if swarm.peers.is_empty() {
                inner.swarms.remove(info_hash);
            }
        }
    }

    fn leave_all(&mut self) {
        let registry = Arc::clone(&self.registry);
        let mut inner = registry.lock();
        let swarms: Vec<String> = self.joined.keys().cloned().collect();
        for info_hash in swarms {
            self.leave(&mut inner, &info_hash);
        }
    }
}

/// The fields every relayed offer or answer carries: who it is from, and which swarm.
fn relay_base(a: &Announce) -> ServerMessage {
    ServerMessage {
        action: Some(ACTION_ANNOUNCE.into()),
        info_hash: Some(a.info_hash.clone()),
        peer_id: Some(a.peer_id.clone()),
        ..ServerMessage::default()
    }
}

/// `msg` as one text frame, ready to write.
fn text_frame(msg: &ServerMessage) -> Option<Vec<u8>> {
    serde_json::to_vec(msg)
        .ok()
        .map(|json| wsframe::encode_server_frame(Opcode::Text, &json))
}

/// The frame's `info_hash` if it has a well-formed one, for labelling a failure reply.
fn lenient_info_hash(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let info_hash = value.get("info_hash")?.as_str()?;
    check_id(info_hash).ok()?;
    Some(info_hash.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 3, t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        // Half a second at 2/s refills exactly one token.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(t1));
        assert!(!b.take(t1));
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(t2)));
        assert!(!b.take(t2));
    }

    #[test]
    fn ipv6_is_counted_per_slash_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(IpKey::from(a), IpKey::from(b));
        assert_ne!(IpKey::from(a), IpKey::from(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(IpKey::from(mapped), IpKey::from(v4));
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted_and_takes_the_last_entry() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 203.0.113.5".parse().unwrap());
        assert_eq!(client_ip(peer, &headers, false), peer.ip());
        let last: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(client_ip(peer, &headers, true), last);
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(peer, &headers, true), peer.ip());
    }

    #[test]
    fn zero_limits_are_rejected() {
        let limits = Limits {
            outgoing_queue: 0,
            ..Limits::default()
        };
        assert_eq!(
            limits.validate(),
            Err(crate::ConfigError::ZeroLimit("outgoing_queue"))
        );
        assert_eq!(Limits::default().validate(), Ok(()));
    }
}
