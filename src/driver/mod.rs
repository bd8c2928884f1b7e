//! The room driver: one task per room that owns every JS object of that room (tracker
//! sockets, peer connections, data channels and their callbacks) and runs the protocol.
//!
//! Browser callbacks post [`Event`]s into one bounded queue; the driver handles them one at a
//! time, synchronously, and starts async work (SDP, ICE gathering, stats) as small tasks that
//! post their results back as events. Protocol decisions come from `hush_core` (`Mesh` for
//! connection choice, `wire` for frames, `tracker` for signaling); the driver acts on them and
//! reports to the UI as [`RoomAction`]s.
//!
//! # Layout
//! - `mod.rs`: events, the handle, start-up, housekeeping and the peer protocol on open
//!   connections.
//! - `signaling`: announces, offers and answers through trackers.
//! - `call`: captures, media renegotiation, speaking levels.
//! - `files`: file offers, downloads and what we serve; `transfer`: one transfer's task on its
//!   own data channel; `sink`: where received files go (memory, disk, a streamed download).
//! - `rtc`: one `RTCPeerConnection` and its async steps; `tracker`: one tracker socket;
//!   `media`: getUserMedia/getDisplayMedia and device lists; `config`: `config.json`;
//!   `js`: browser helpers.

mod call;
pub mod config;
pub mod crypto;
mod files;
pub mod js;
pub mod media;
mod rtc;
mod signaling;
pub mod sink;
mod tracker;
mod transfer;

use crate::state::{
    ChatLine, DeviceKind, DeviceView, FileKey, MediaFlags, Path, Phase, RoomAction, TrackerView,
};
use crate::vecmap::VecMap;
use futures::channel::mpsc;
use futures::StreamExt;
use hush_core::ids::{encode_id, PeerId};
use hush_core::keys::RoomKeys;
use hush_core::mesh::{ConnId, Mesh, Timeout, PING_INTERVAL_MS};
use hush_core::tracker::{self as trk, Announce};
use hush_core::transfer::FileId;
use hush_core::wire::StreamKind;
use hush_core::wire::{self, PeerMessage, MAX_BAD_FRAMES, MAX_CHAT_BYTES};
use js::{now_ms, random_bytes, sleep_ms, JsError};
use media::Capture;
use rtc::Rtc;
use std::cell::RefCell;
use std::rc::Rc;
use tracker::{Tracker, TrackerStatus};
use web_sys::{MediaStream, MediaStreamTrack};
use yew::Callback;

/// Capacity of the driver's event queue. Callbacks never block: when the queue is full an event
/// is dropped (and a peer whose frames overflow it is disconnected as flooding). Large enough
/// for a burst of chat from every peer of a full room.
pub const EVENT_QUEUE: usize = 4_096;
/// Housekeeping period: heartbeats, timeouts, reconnects, re-announces.
pub const TICK_MS: u32 = 250;
/// Offers in the first announce on a socket, before the tracker has told us the swarm size:
/// enough to reach everyone in a room of six at once (larger rooms get follow-up announces).
pub const INITIAL_OFFERS: usize = 5;
/// Most offers in one announce (the protocol's ceiling is 10; each offer is a live
/// `RTCPeerConnection` while it waits).
pub const MAX_OFFERS: usize = 8;
/// Most offers from others we negotiate at once: a tracker (or peers behind it) cannot make us
/// open connections without bound.
pub const MAX_PENDING_ANSWERS: usize = 16;
/// Audio level (0–1, as in WebRTC stats) from which a peer counts as speaking: above the
/// noise floor of a quiet room with noise suppression on.
const SPEAKING_LEVEL: f64 = 0.02;
/// Audio levels are read every this many ticks (2 × 250 ms: a speaking indicator that follows
/// speech without polling stats constantly).
const LEVEL_EVERY_TICKS: u32 = 2;
/// Shortest gap between an announce and a follow-up announce triggered by a tracker reply;
/// also how long an unanswered offer counts as possibly still coming (an answer takes one
/// tracker round trip plus ICE gathering, well under this).
const FOLLOW_UP_MS: u64 = 2_000;
/// Follow-ups back off by doubling, at most this many times (2 s → 32 s, about the interval).
const MAX_FOLLOW_UP_DOUBLINGS: u32 = 4;
/// Delay before reading which candidate pair a new connection uses (it settles right after
/// the channel opens).
const PATH_CHECK_DELAY_MS: u32 = 200;

/// Something that happened, for the driver to handle.
pub enum Event {
    Tick,
    SendChat(String),
    SetName(String),
    TrackerOpen(usize, u32),
    TrackerDown(usize, u32),
    TrackerMessage(usize, u32, String),
    OfferReady(u32, Result<String, JsError>),
    AnswerReady(u32, Result<String, JsError>),
    RemoteApplied(u32, Result<(), JsError>),
    Path(u32, Option<bool>),
    ChannelOpen(u32),
    ChannelClosed(u32),
    Frame(u32, Vec<u8>),
    /// The user toggled a capture.
    Toggle(Capture),
    /// The user picked a device.
    SelectDevice(DeviceKind, String),
    /// A capture finished opening (`replace`: it swaps a live track for another device).
    LocalTrack {
        what: Capture,
        replace: bool,
        result: Result<MediaStreamTrack, String>,
    },
    ScreenStream(Result<MediaStream, String>),
    /// The browser ended the screen share (its own "Stop sharing" button).
    ScreenEnded,
    DeviceList(Vec<DeviceView>),
    /// Devices were plugged in or removed.
    DevicesChanged,
    NegotiationNeeded(u32),
    LocalDescription(u32, Result<(bool, String), JsError>),
    RemoteDescription(u32, Result<Option<String>, JsError>),
    LocalCandidate(u32, String, Option<String>, Option<u16>),
    Track(u32, MediaStream),
    Level(u32, Option<f64>),
    /// The user offers files (`view_once` for all of them).
    OfferFiles(Vec<web_sys::File>, bool),
    Withdraw(FileKey),
    Download(FileKey),
    Cancel(FileKey),
    CloseView(FileKey),
    /// A download's sink is open (`None`: the user dismissed the save dialog).
    SinkReady(PeerId, FileId, Result<Option<sink::Sink>, String>),
    /// A transfer's own connection has its offer (we send) or answer (we receive) ready.
    LinkSdp {
        peer: PeerId,
        id: FileId,
        offer: bool,
        sdp: Result<String, JsError>,
    },
    UploadEnded(PeerId, FileId, transfer::Outcome),
    DownloadEnded(PeerId, FileId, transfer::Outcome),
}

/// Media streams the UI may attach, by owner and kind: shared with the UI so tiles can read
/// them at any time without touching the driver (the driver updates it before it reports a
/// change, and holds no borrow while the UI renders).
#[derive(Default)]
pub struct StreamRegistry {
    remote: VecMap<(String, StreamKind), MediaStream>,
    local: VecMap<StreamKind, MediaStream>,
}

/// Offers being prepared for one announce.
pub struct OfferBatch {
    handles: Vec<u32>,
}

/// The UI's handle on a running room. Cloneable; `leave` ends the room at once.
#[derive(Clone)]
pub struct RoomHandle {
    tx: mpsc::Sender<Event>,
    driver: Rc<RefCell<Option<Driver>>>,
    streams: Rc<RefCell<StreamRegistry>>,
}

impl PartialEq for RoomHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.driver, &other.driver)
    }
}

impl RoomHandle {
    pub fn send_chat(&self, text: String) {
        let _ = self.tx.clone().try_send(Event::SendChat(text));
    }

    pub fn set_name(&self, name: String) {
        let _ = self.tx.clone().try_send(Event::SetName(name));
    }

    pub fn toggle(&self, what: Capture) {
        let _ = self.tx.clone().try_send(Event::Toggle(what));
    }

    pub fn select_device(&self, kind: DeviceKind, id: String) {
        let _ = self.tx.clone().try_send(Event::SelectDevice(kind, id));
    }

    pub fn offer_files(&self, files: Vec<web_sys::File>, view_once: bool) {
        let _ = self
            .tx
            .clone()
            .try_send(Event::OfferFiles(files, view_once));
    }

    pub fn withdraw(&self, key: FileKey) {
        let _ = self.tx.clone().try_send(Event::Withdraw(key));
    }

    pub fn download(&self, key: FileKey) {
        let _ = self.tx.clone().try_send(Event::Download(key));
    }

    pub fn cancel(&self, key: FileKey) {
        let _ = self.tx.clone().try_send(Event::Cancel(key));
    }

    pub fn close_view(&self, key: FileKey) {
        let _ = self.tx.clone().try_send(Event::CloseView(key));
    }

    /// A peer's stream of the given kind (for a tile to attach), if it arrived.
    pub fn remote_stream(&self, peer: &str, kind: StreamKind) -> Option<MediaStream> {
        let reg = self.streams.try_borrow().ok()?;
        reg.remote.get(&(peer.to_owned(), kind)).cloned()
    }

    /// Our own stream of the given kind (for the preview tile).
    pub fn local_stream(&self, kind: StreamKind) -> Option<MediaStream> {
        let reg = self.streams.try_borrow().ok()?;
        reg.local.get(&kind).cloned()
    }

    /// Says goodbye to every peer and the trackers, then drops every connection. Synchronous,
    /// so it also works from `pagehide`.
    pub fn leave(&self) {
        if let Ok(mut slot) = self.driver.try_borrow_mut() {
            if let Some(mut d) = slot.take() {
                d.leave();
            }
        }
        self.tx.clone().close_channel();
    }
}

/// Starts the room `room_name`; progress and peers are reported through `dispatch`.
pub fn start(room_name: String, my_name: String, dispatch: Callback<RoomAction>) -> RoomHandle {
    let (tx, mut rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let slot: Rc<RefCell<Option<Driver>>> = Rc::new(RefCell::new(None));
    let streams = Rc::new(RefCell::new(StreamRegistry::default()));
    let handle = RoomHandle {
        tx: tx.clone(),
        driver: slot.clone(),
        streams: streams.clone(),
    };
    // Ready before the first download that needs it.
    sink::register_service_worker();
    wasm_bindgen_futures::spawn_local(async move {
        // Let the page paint "Starting" before the room's setup holds the thread.
        sleep_ms(0).await;
        let fail = |msg: String| dispatch.emit(RoomAction::Phase(Phase::Failed(msg)));
        let config = match config::load().await {
            Ok(c) => c,
            Err(e) => return fail(format!("Could not load the configuration: {e}")),
        };
        if config.trackers.is_empty() {
            return fail("No trackers are configured (config.json lists none)".into());
        }
        if let Some(w) = &config.warning {
            dispatch.emit(RoomAction::Notice(w.clone()));
        }
        // Open the tracker sockets and prepare the first offers before deriving the room key:
        // the WebSocket handshakes and ICE gathering then run during Argon2's ~100 ms.
        let now = now_ms();
        let mut trackers: Vec<Tracker> = config
            .trackers
            .into_iter()
            .enumerate()
            .map(|(i, url)| Tracker::new(i, url))
            .collect();
        for t in &mut trackers {
            t.connect(&tx, now, jitter());
        }
        let mut rtcs = VecMap::default();
        let mut next_handle = 0;
        for _ in 0..INITIAL_OFFERS * trackers.len() {
            next_handle += 1;
            match spawn_offer(next_handle, &config.rtc, config.ice_kinds, &tx) {
                Ok(r) => {
                    rtcs.insert(next_handle, r);
                }
                Err(e) => return fail(no_peer_connections(&e)),
            }
        }
        wait_local_offers(&rtcs).await;
        let keys = match RoomKeys::derive(&room_name) {
            Ok(k) => k,
            Err(e) => return fail(e.to_string()),
        };
        let me = match random_bytes() {
            Ok(b) => PeerId::random(&b),
            Err(e) => return fail(e.to_string()),
        };
        let mut driver = Driver {
            mesh: Mesh::new(me.clone()),
            me,
            keys,
            name: my_name,
            trackers,
            rtcs,
            next_handle,
            rtc_config: config.rtc,
            ice_kinds: config.ice_kinds,
            chat_seq: 0,
            events: tx.clone(),
            dispatch: dispatch.clone(),
            last_ping_ms: 0,
            shown_trackers: Vec::new(),
            banned: Vec::new(),
            local: call::LocalMedia::default(),
            ticks: 0,
            streams,
            files: files::Files::default(),
        };
        driver.report_trackers();
        driver.local.watch_devices(&tx);
        dispatch.emit(RoomAction::Phase(Phase::Ready));
        {
            let Ok(mut s) = slot.try_borrow_mut() else {
                return;
            };
            if tx.is_closed() {
                return; // left while starting
            }
            *s = Some(driver);
        }
        let ticker = tx.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let mut ticker = ticker;
            while !ticker.is_closed() {
                sleep_ms(TICK_MS).await;
                let _ = ticker.try_send(Event::Tick);
            }
        });
        while let Some(ev) = rx.next().await {
            let Ok(mut s) = slot.try_borrow_mut() else {
                continue;
            };
            match s.as_mut() {
                Some(d) => d.handle(ev),
                None => break,
            }
        }
    });
    handle
}

/// Logs a problem to the browser console (for whoever debugs a room; never message content).
fn warn(msg: &str) {
    web_sys::console::warn_1(&msg.into());
}

/// Creates a connection and starts making its offer; the SDP arrives as [`Event::OfferReady`].
fn spawn_offer(
    h: u32,
    config: &web_sys::RtcConfiguration,
    kinds: rtc::IceKinds,
    events: &mpsc::Sender<Event>,
) -> Result<Rtc, JsError> {
    let mut rtc = Rtc::new(h, config, events)?;
    rtc.offer_id = encode_id(&random_bytes()?);
    let (pc, tx) = (rtc.pc.clone(), events.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let r = rtc::make_offer(pc, kinds).await;
        let _ = tx.clone().try_send(Event::OfferReady(h, r));
    });
    Ok(rtc)
}

/// What the user reads when the browser refuses to make an `RTCPeerConnection`.
fn no_peer_connections(e: &JsError) -> String {
    format!("This browser cannot open peer connections: {e}")
}

/// Waits (briefly) until every prepared offer has its local description, i.e. until ICE
/// gathering is running in the browser's network thread and no longer needs this one.
async fn wait_local_offers(rtcs: &VecMap<u32, Rtc>) {
    const POLL_MS: u32 = 2;
    const MAX_WAIT_MS: u32 = 100;
    let mut waited = 0;
    while waited < MAX_WAIT_MS
        && rtcs
            .values()
            .any(|r| r.pc.signaling_state() != web_sys::RtcSignalingState::HaveLocalOffer)
    {
        sleep_ms(POLL_MS).await;
        waited += POLL_MS;
    }
}

fn jitter() -> u8 {
    random_bytes::<1>().map(|b| b[0]).unwrap_or(128)
}

struct Driver {
    keys: RoomKeys,
    me: PeerId,
    name: String,
    mesh: Mesh,
    trackers: Vec<Tracker>,
    rtcs: VecMap<u32, Rtc>,
    next_handle: u32,
    rtc_config: web_sys::RtcConfiguration,
    ice_kinds: rtc::IceKinds,
    /// Id of our last chat message (ids start at 1).
    chat_seq: u64,
    events: mpsc::Sender<Event>,
    dispatch: Callback<RoomAction>,
    last_ping_ms: u64,
    shown_trackers: Vec<TrackerView>,
    /// Peers dropped for misbehaving (malformed frames, flooding): never reconnected in this
    /// session, or they would be back with their next re-announce.
    banned: Vec<PeerId>,
    local: call::LocalMedia,
    ticks: u32,
    streams: Rc<RefCell<StreamRegistry>>,
    files: files::Files,
}

impl Driver {
    fn handle(&mut self, ev: Event) {
        let now = now_ms();
        match ev {
            Event::Tick => self.tick(now),
            Event::SendChat(text) => self.send_chat(text, now),
            Event::SetName(name) => {
                self.name = wire::sanitize_name(&name, &self.name);
                let msg = PeerMessage::SetName {
                    name: self.name.clone(),
                };
                self.broadcast(&msg);
            }
            Event::TrackerOpen(i, g) => {
                if let Some(t) = self.tracker_at(i, g) {
                    t.opened();
                    self.announce(i, now);
                }
                self.report_trackers();
            }
            Event::TrackerDown(i, g) => {
                if let Some(t) = self.tracker_at(i, g) {
                    t.failed(now, jitter());
                    self.drop_offers_of(i);
                }
                self.report_trackers();
            }
            Event::TrackerMessage(i, g, text) => {
                if self.tracker_at(i, g).is_some() {
                    self.on_tracker_message(i, &text, now);
                }
            }
            Event::OfferReady(h, result) => self.on_offer_ready(h, result, now),
            Event::AnswerReady(h, result) => self.on_answer_ready(h, result),
            Event::RemoteApplied(h, result) => {
                if let Err(e) = result {
                    warn(&format!("could not apply an answer: {e}"));
                    self.close_rtc(h, None);
                }
            }
            Event::Path(h, relayed) => self.on_path(h, relayed),
            Event::ChannelOpen(h) => self.on_channel_open(h, now),
            Event::ChannelClosed(h) => self.close_rtc(h, None),
            Event::Frame(h, bytes) => self.on_frame(h, &bytes, now),
            Event::Toggle(what) => self.toggle(what),
            Event::SelectDevice(kind, id) => self.select_device(kind, id),
            Event::LocalTrack {
                what,
                replace,
                result,
            } => self.on_local_track(what, replace, result),
            Event::ScreenStream(result) => self.on_screen(result),
            Event::ScreenEnded => self.on_screen_ended(),
            Event::DeviceList(list) => self.dispatch.emit(RoomAction::Devices(list)),
            Event::DevicesChanged => self.refresh_devices(),
            Event::NegotiationNeeded(h) => self.on_negotiation_needed(h),
            Event::LocalDescription(h, result) => self.on_local_description(h, result),
            Event::RemoteDescription(h, result) => self.on_remote_description(h, result),
            Event::LocalCandidate(h, candidate, sdp_mid, sdp_m_line_index) => {
                let msg = PeerMessage::Candidate {
                    candidate,
                    sdp_mid,
                    sdp_m_line_index,
                };
                self.send_to(h, &msg);
            }
            Event::Track(h, stream) => {
                if let Some(rtc) = self.rtcs.get_mut(&h) {
                    rtc.remote.insert(stream.id(), stream);
                }
                self.publish_remote(h);
            }
            Event::Level(h, level) => self.on_level(h, level),
            Event::OfferFiles(files, view_once) => self.offer_files(files, view_once),
            Event::Withdraw(key) => {
                if let (None, Some(id)) = (&key.owner, FileId::from_hex(&key.id)) {
                    self.withdraw(id);
                }
            }
            Event::Download(key) => self.download(key),
            Event::Cancel(key) => self.cancel(key),
            Event::CloseView(key) => self.close_view(key),
            Event::SinkReady(peer, id, result) => self.on_sink_ready(peer, id, result),
            Event::LinkSdp {
                peer,
                id,
                offer,
                sdp,
            } => self.on_link_sdp(peer, id, offer, sdp),
            Event::UploadEnded(peer, id, outcome) => self.on_upload_ended(peer, id, outcome),
            Event::DownloadEnded(peer, id, outcome) => self.on_download_ended(peer, id, outcome),
        }
    }

    fn tracker_at(&mut self, i: usize, generation: u32) -> Option<&mut Tracker> {
        self.trackers
            .get_mut(i)
            .filter(|t| t.generation == generation)
    }

    fn new_handle(&mut self) -> u32 {
        self.next_handle = self.next_handle.wrapping_add(1);
        self.next_handle
    }

    fn new_rtc(&mut self) -> Option<Rtc> {
        let h = self.new_handle();
        match Rtc::new(h, &self.rtc_config, &self.events) {
            Ok(r) => Some(r),
            Err(e) => {
                let msg = no_peer_connections(&e);
                self.dispatch.emit(RoomAction::Phase(Phase::Failed(msg)));
                None
            }
        }
    }

    // ---- housekeeping ----

    fn tick(&mut self, now: u64) {
        for t in self.mesh.tick(now) {
            match t {
                Timeout::Close { conn, was_open } => {
                    let reason = was_open.then(|| "stopped responding".to_owned());
                    if let Some(h) = self.handle_of(&conn) {
                        self.close_rtc(h, reason);
                    }
                }
                Timeout::OfferExpired { offer_id } => {
                    let stale: Vec<u32> = self
                        .rtcs
                        .values()
                        .filter(|r| r.conn.is_none() && r.offer_id == offer_id)
                        .map(|r| r.handle)
                        .collect();
                    for h in stale {
                        self.rtcs.remove(&h);
                    }
                }
            }
        }
        let flooded: Vec<u32> = self
            .rtcs
            .values()
            .filter(|r| r.flooded.get())
            .map(|r| r.handle)
            .collect();
        for h in flooded {
            self.close_rtc(
                h,
                Some("sent messages faster than they could be handled".into()),
            );
        }
        for i in 0..self.trackers.len() {
            let t = &mut self.trackers[i];
            match t.status {
                TrackerStatus::Retrying { at_ms } if now >= at_ms => {
                    t.connect(&self.events, now, jitter());
                }
                TrackerStatus::Joining | TrackerStatus::Connected
                    if t.announced && now >= t.next_announce_ms =>
                {
                    self.announce(i, now);
                }
                _ => {}
            }
        }
        self.files_tick(now);
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(LEVEL_EVERY_TICKS) {
            self.poll_levels();
        }
        if now.saturating_sub(self.last_ping_ms) >= PING_INTERVAL_MS {
            self.last_ping_ms = now;
            self.broadcast(&PeerMessage::Ping { t: now });
        }
        self.report_trackers();
    }

    fn report_trackers(&mut self) {
        let now = now_ms();
        let views: Vec<TrackerView> = self
            .trackers
            .iter()
            .map(|t| {
                let (status, ok) = match &t.status {
                    TrackerStatus::Connecting => ("connecting".to_owned(), false),
                    TrackerStatus::Joining => ("joining".to_owned(), false),
                    TrackerStatus::Connected => ("connected".to_owned(), true),
                    TrackerStatus::Retrying { at_ms } => (
                        format!(
                            "unreachable, retrying in {} s",
                            at_ms.saturating_sub(now).div_ceil(1000)
                        ),
                        false,
                    ),
                    TrackerStatus::Refused(r) => (format!("refused: {r}"), false),
                };
                TrackerView {
                    url: t.url.clone(),
                    status,
                    ok,
                }
            })
            .collect();
        if views != self.shown_trackers {
            self.shown_trackers = views.clone();
            self.dispatch.emit(RoomAction::Trackers(views));
        }
    }

    // ---- peers ----

    fn handle_of(&self, conn: &ConnId) -> Option<u32> {
        self.rtcs
            .values()
            .find(|r| r.conn.as_ref() == Some(conn))
            .map(|r| r.handle)
    }

    /// Closes and forgets a connection; tells the UI if it was a listed peer.
    fn close_rtc(&mut self, h: u32, reason: Option<String>) {
        let Some(rtc) = self.rtcs.remove(&h) else {
            return;
        };
        match &rtc.conn {
            Some(conn) => {
                if let Ok(mut reg) = self.streams.try_borrow_mut() {
                    reg.remote.retain(|(p, _), _| p != conn.peer.as_str());
                }
                let left = self.mesh.on_closed(conn);
                if left || reason.is_some() {
                    // Transfers on this connection end with its channels anyway; the peer's
                    // offers and our transfers with it go only when the peer itself is gone.
                    self.files_peer_gone(&conn.peer);
                }
                if (left || reason.is_some()) && rtc.name.is_some() {
                    self.dispatch.emit(RoomAction::PeerDown {
                        id: conn.peer.to_string(),
                        reason,
                    });
                }
            }
            None => self.mesh.offer_dropped(&rtc.offer_id),
        }
    }

    /// Drops a misbehaving peer and refuses it for the rest of the session.
    fn ban(&mut self, h: u32, reason: &str) {
        if let Some(peer) = self.rtcs.get(&h).and_then(|r| r.conn.as_ref()) {
            self.banned.push(peer.peer.clone());
        }
        self.close_rtc(h, Some(reason.to_owned()));
    }

    fn on_channel_open(&mut self, h: u32, now: u64) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let keep = rtc.conn.as_ref().is_some_and(|c| self.mesh.on_open(c, now));
        if !keep {
            self.rtcs.remove(&h);
            return;
        }
        rtc.open = true;
        rtc.enable_media(&self.me, &self.events);
        let hello = PeerMessage::Hello {
            name: self.name.clone(),
        };
        self.send_to(h, &hello);
        self.send_offers_to(h);
        // A late joiner gets the media already flowing: labels, state, then the tracks.
        let flags = self.local.flags();
        if flags != MediaFlags::default() {
            let streams = self.local.labels();
            self.send_to(h, &PeerMessage::Streams { streams });
            let state = PeerMessage::MediaState {
                mic: flags.mic,
                camera: flags.camera,
                screen: flags.screen,
            };
            self.send_to(h, &state);
            let tracks = self.local.tracks();
            if let Some(rtc) = self.rtcs.get_mut(&h) {
                for (t, s) in &tracks {
                    rtc.add_track(t, s);
                }
            }
        }
        if let Some(rtc) = self.rtcs.get(&h) {
            let (pc, tx) = (rtc.pc.clone(), self.events.clone());
            wasm_bindgen_futures::spawn_local(async move {
                for _ in 0..5 {
                    sleep_ms(PATH_CHECK_DELAY_MS).await;
                    match rtc::is_relayed(pc.clone()).await {
                        Ok(Some(relayed)) => {
                            let _ = tx.clone().try_send(Event::Path(h, Some(relayed)));
                            return;
                        }
                        Ok(None) => continue,
                        Err(_) => return,
                    }
                }
            });
        }
    }

    fn on_path(&mut self, h: u32, relayed: Option<bool>) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        rtc.relayed = relayed;
        if rtc.name.is_some() {
            self.report_path(h);
        }
    }

    fn report_path(&self, h: u32) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let (Some(conn), Some(relayed)) = (&rtc.conn, rtc.relayed) else {
            return;
        };
        self.dispatch.emit(RoomAction::PeerPath {
            id: conn.peer.to_string(),
            path: if relayed { Path::Relayed } else { Path::Direct },
        });
    }

    fn on_frame(&mut self, h: u32, bytes: &[u8], now: u64) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        rtc.inflight.set(rtc.inflight.get().saturating_sub(1));
        let Some(conn) = rtc.conn.clone().filter(|_| rtc.open) else {
            return;
        };
        let msg = match wire::decode(&self.keys.chat, conn.peer.as_str(), self.me.as_str(), bytes) {
            Ok(m) => m,
            Err(_) => {
                rtc.bad_frames += 1;
                let too_many = rtc.bad_frames >= MAX_BAD_FRAMES;
                self.dispatch.emit(RoomAction::BadFrame);
                if too_many {
                    self.ban(h, "sent malformed data");
                }
                return;
            }
        };
        self.mesh.on_heard(&conn.peer, now);
        let id = conn.peer.to_string();
        match msg {
            PeerMessage::Hello { name } | PeerMessage::SetName { name } => {
                let name = wire::sanitize_name(&name, "Guest");
                let first = rtc.name.is_none();
                rtc.name = Some(name.clone());
                if first {
                    self.dispatch.emit(RoomAction::PeerUp { id, name });
                    self.report_path(h);
                } else {
                    self.dispatch.emit(RoomAction::PeerName { id, name });
                }
            }
            PeerMessage::Chat {
                id: seq,
                sent_at_ms,
                text,
            } => {
                if !self.mesh.accept_chat(&conn.peer, seq) {
                    return;
                }
                let name = rtc.name.clone().unwrap_or_else(|| "Guest".into());
                self.dispatch.emit(RoomAction::Chat(ChatLine {
                    from: Some(id),
                    name,
                    // A sender's clock may run ahead; never show a message from the future.
                    at_ms: sent_at_ms.min(now),
                    text: wire::sanitize_text(&text),
                    file: None,
                }));
            }
            PeerMessage::Ping { t } => self.send_to(h, &PeerMessage::Pong { t }),
            PeerMessage::Pong { .. } => {}
            PeerMessage::Bye => self.close_rtc(h, None),
            PeerMessage::Description { offer, sdp } => self.on_description(h, offer, sdp),
            PeerMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => self.on_candidate(h, candidate, sdp_mid, sdp_m_line_index),
            PeerMessage::Streams { streams } => {
                rtc.labels = streams.into_iter().map(|l| (l.id, l.kind)).collect();
                self.publish_remote(h);
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
                rtc.media = media;
                if !mic {
                    rtc.speaking = false;
                }
                self.dispatch.emit(RoomAction::PeerMedia { id, media });
            }
            msg @ (PeerMessage::FileOffer { .. }
            | PeerMessage::FileWithdraw { .. }
            | PeerMessage::FileRequest { .. }
            | PeerMessage::FileRefused { .. }
            | PeerMessage::FileLink { .. }) => self.on_file_message(h, &conn.peer, msg),
        }
    }

    fn send_to(&mut self, h: u32, msg: &PeerMessage) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let Some(conn) = &rtc.conn else {
            return;
        };
        let Ok(nonce) = random_bytes() else {
            return;
        };
        let frame = wire::encode(
            &self.keys.chat,
            nonce,
            self.me.as_str(),
            conn.peer.as_str(),
            msg,
        );
        rtc.send(&frame);
    }

    fn broadcast(&mut self, msg: &PeerMessage) {
        let open: Vec<u32> = self
            .rtcs
            .values()
            .filter(|r| r.open)
            .map(|r| r.handle)
            .collect();
        for h in open {
            self.send_to(h, msg);
        }
    }

    fn send_chat(&mut self, text: String, now: u64) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        if text.len() > MAX_CHAT_BYTES {
            let note = format!(
                "Message not sent: longer than {} KiB",
                MAX_CHAT_BYTES / 1024
            );
            self.dispatch.emit(RoomAction::Notice(note));
            return;
        }
        self.chat_seq += 1;
        self.broadcast(&PeerMessage::Chat {
            id: self.chat_seq,
            sent_at_ms: now,
            text: text.clone(),
        });
        self.dispatch.emit(RoomAction::Chat(ChatLine {
            from: None,
            name: self.name.clone(),
            at_ms: now,
            text,
            file: None,
        }));
    }

    fn leave(&mut self) {
        self.files_leave();
        self.broadcast(&PeerMessage::Bye);
        for i in 0..self.trackers.len() {
            if self.trackers[i].announced {
                let msg = Announce {
                    action: trk::ACTION_ANNOUNCE.into(),
                    info_hash: self.keys.info_hash.clone(),
                    peer_id: self.me.to_string(),
                    event: Some("stopped".into()),
                    ..Announce::default()
                };
                if let Ok(text) = serde_json::to_string(&msg) {
                    self.trackers[i].send(&text);
                }
            }
        }
        self.rtcs.clear();
        self.trackers.clear();
        self.local.stop_all();
    }
}
