//! The browser shell around the room engine (`hush_core::room::Room`): one per room, owning
//! every JS object of that room (tracker sockets, peer connections, data channels, media,
//! files, sinks) and deciding nothing.
//!
//! Browser callbacks post [`Event`]s into one bounded queue; the driver handles them one at a
//! time, synchronously: it feeds each to the engine, then carries out what the engine asks
//! ([`Output`]) with web-sys, and reports to the UI as [`RoomAction`]s. Async browser work
//! (SDP, ICE gathering, stats, sinks) runs as small tasks that post their results back. The
//! engine says when it next wants to be woken; one cancellable timer does that, nothing ticks.
//!
//! # Layout
//! - `mod.rs`: events, the handle, start-up, and executing the engine's outputs.
//! - `call`: captures, media renegotiation on open connections, speaking levels.
//! - `files`: the file handles, sinks and transfer tasks the engine's file steps name;
//!   `transfer`: one transfer's task on its own connection; `sink`: where received files go.
//! - `rtc`: one peer connection (a [`rtc::Link`]) and its async steps; `tracker`: one tracker
//!   socket; `media`: getUserMedia/getDisplayMedia
//!   and device lists; `config`: `config.json`.

mod call;
pub mod config;
pub mod crypto;
mod files;
mod inflight;
pub mod media;
mod pace;
mod rtc;
pub mod sink;
mod tracker;
mod transfer;

use crate::js::{now_ms, random_bytes, sleep_ms, JsError};
use crate::settings;
use crate::state::{
    ChatLine, DeviceKind, DeviceView, Door, FileKey, JoinRequestView, MediaFlags, Path, Phase,
    RoomAction, TrackerView, VerifyStage, VerifyView,
};
use futures::channel::mpsc;
use futures::StreamExt;
use hush_core::drbg::SEED_LEN;
use hush_core::identity::Identity;
use hush_core::ids::PeerId;
use hush_core::keys::RoomKeys;
use hush_core::room::{
    self, AdmissionStatus, ConnHandle, Event as RoomEvent, Output, Room, TrackerStatus,
};
use hush_core::transfer::FileId;
use hush_core::vecmap::VecMap;
use hush_core::wire::StreamKind;
use media::Capture;
use rtc::Link;
use std::cell::RefCell;
use std::rc::Rc;
use tracker::TrackerSocket;
use web_sys::{MediaStream, MediaStreamTrack};
use yew::Callback;

/// Capacity of the driver's event queue: room for every source's own budget at once (each
/// peer's [`room::MAX_INFLIGHT_FRAMES`], each tracker's
/// [`room::MAX_INFLIGHT_TRACKER_MESSAGES`]) in a full room, so a source within its budget
/// never finds the queue full because of another.
pub const EVENT_QUEUE: usize = 16_384;
/// Longest a timer is armed for: the engine's next wake-up can be far away (or none), and a
/// long timer is simply re-armed.
const MAX_TIMER_MS: u64 = 60_000;
/// Delay before reading which candidate pair a new connection uses (it settles right after
/// the channel opens).
const PATH_CHECK_DELAY_MS: u32 = 200;
/// Tries at reading the candidate pair before giving up on showing the path.
const PATH_CHECKS: u32 = 5;

/// Something that happened, for the driver to handle.
pub enum Event {
    /// The engine's timer fired.
    Wake,
    /// A chat message posted while the room was still starting (to one peer when set; view
    /// once when true).
    SendChat(String, Option<String>, bool),
    SetTimer(Option<u64>),
    /// The user reveals a view-once message: sender and id.
    Reveal(String, u64),
    /// The user types a message (to one peer when set), or stopped (`on: false`).
    Typing {
        to: Option<String>,
        on: bool,
    },
    ShareTyping(bool),
    SetName(String),
    /// The user starts comparing codes with a peer (by id).
    Verify(String),
    /// The user compared the codes with a peer: they match (`true`) or not.
    ConfirmSas(String, bool),
    /// The user drops a peer whose verification failed.
    Disconnect(String),
    SetLocked(bool),
    /// Keep this device's identity (and remember the devices it verifies), or forget it all.
    KeepIdentity(bool),
    /// Forget the remembered device this peer (by id) is.
    ForgetDevice(String),
    /// The user lets a waiting newcomer in (`true`) or not.
    Decide(String, bool),
    TrackerOpen(usize, u32),
    TrackerDown(usize, u32),
    TrackerMessage(usize, u32, String),
    /// A tracker message longer than the engine reads (not copied into wasm memory).
    TrackerOversized(usize, u32),
    /// A tracker sent more than its budget of unhandled messages.
    TrackerFlooded(usize, u32),
    OfferReady(ConnHandle, Result<String, JsError>),
    AnswerReady(ConnHandle, Result<String, JsError>),
    AnswerFailed(ConnHandle),
    Path(ConnHandle, bool),
    ChannelOpen(ConnHandle),
    /// The certificate a connection's transport holds for its peer: (algorithm, fingerprint).
    RemoteCertificate(ConnHandle, String, String),
    ChannelClosed(ConnHandle),
    Frame(ConnHandle, Vec<u8>),
    /// A frame longer than the protocol allows (not copied into wasm memory).
    OversizedFrame(ConnHandle),
    /// A peer sent more than its budget of unhandled frames.
    Flooded(ConnHandle),
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
    NegotiationNeeded(ConnHandle),
    LocalDescription(ConnHandle, Result<(bool, String), JsError>),
    RemoteDescription(ConnHandle, Result<Option<String>, JsError>),
    LocalCandidate(ConnHandle, String, Option<String>, Option<u16>),
    Track(ConnHandle, MediaStream),
    Level(ConnHandle, Option<f64>),
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
    fn post(&self, ev: Event) {
        let _ = self.tx.clone().try_send(ev);
    }

    /// Sends a chat message (to the peer `to` alone when set) at once, so the composer knows
    /// whether to clear its draft; while the room is still starting it goes once it runs.
    pub fn send_chat(
        &self,
        text: String,
        to: Option<String>,
        view_once: bool,
    ) -> Result<(), room::ChatError> {
        if let Ok(mut slot) = self.driver.try_borrow_mut() {
            if let Some(d) = slot.as_mut() {
                return d.chat(&text, to.as_deref(), view_once);
            }
        }
        self.post(Event::SendChat(text, to, view_once));
        Ok(())
    }

    /// Sets the room's vanishing-message timer for everyone.
    pub fn set_timer(&self, ttl_ms: Option<u64>) {
        self.post(Event::SetTimer(ttl_ms));
    }

    pub fn reveal(&self, from: String, id: u64) {
        self.post(Event::Reveal(from, id));
    }

    pub fn typing(&self, to: Option<String>, on: bool) {
        self.post(Event::Typing { to, on });
    }

    pub fn share_typing(&self, share: bool) {
        self.post(Event::ShareTyping(share));
    }

    pub fn set_name(&self, name: String) {
        self.post(Event::SetName(name));
    }

    pub fn verify(&self, peer: String) {
        self.post(Event::Verify(peer));
    }

    pub fn confirm_sas(&self, peer: String, matched: bool) {
        self.post(Event::ConfirmSas(peer, matched));
    }

    pub fn disconnect(&self, peer: String) {
        self.post(Event::Disconnect(peer));
    }

    pub fn keep_identity(&self, keep: bool) {
        self.post(Event::KeepIdentity(keep));
    }

    pub fn forget_device(&self, peer: String) {
        self.post(Event::ForgetDevice(peer));
    }

    pub fn set_locked(&self, locked: bool) {
        self.post(Event::SetLocked(locked));
    }

    pub fn decide(&self, peer: String, admit: bool) {
        self.post(Event::Decide(peer, admit));
    }

    pub fn toggle(&self, what: Capture) {
        self.post(Event::Toggle(what));
    }

    pub fn select_device(&self, kind: DeviceKind, id: String) {
        self.post(Event::SelectDevice(kind, id));
    }

    pub fn offer_files(&self, files: Vec<web_sys::File>, view_once: bool) {
        self.post(Event::OfferFiles(files, view_once));
    }

    pub fn withdraw(&self, key: FileKey) {
        self.post(Event::Withdraw(key));
    }

    pub fn download(&self, key: FileKey) {
        self.post(Event::Download(key));
    }

    pub fn cancel(&self, key: FileKey) {
        self.post(Event::Cancel(key));
    }

    pub fn close_view(&self, key: FileKey) {
        self.post(Event::CloseView(key));
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
    let dispatch = pace::paced(dispatch);
    let (tx, mut rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let slot: Rc<RefCell<Option<Driver>>> = Rc::new(RefCell::new(None));
    let streams = Rc::new(RefCell::new(StreamRegistry::default()));
    let handle = RoomHandle {
        tx: tx.clone(),
        driver: slot.clone(),
        streams: streams.clone(),
    };
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
        let seed = match random_bytes::<SEED_LEN>() {
            Ok(s) => s,
            Err(e) => return fail(e.to_string()),
        };
        // The engine opens the tracker sockets and prepares the first offers before the room
        // key exists: the WebSocket handshakes and ICE gathering then run during Argon2.
        let mut room = match config.trackers_per_room {
            Some(k) => Room::spread(&config.trackers, k, &my_name, seed, now_ms()),
            None => Room::new(config.trackers.len(), &my_name, seed, now_ms()),
        };
        // A device that keeps its identity uses it, and knows the devices it verified.
        if let Some(me) = settings::kept_identity().and_then(|s| Identity::from_secret(&s)) {
            room.set_identity(me);
        }
        for (key, label) in settings::devices() {
            room.trust_device(key, &label);
        }

        let mut driver = Driver {
            room,
            trackers: config
                .trackers
                .into_iter()
                .map(TrackerSocket::new)
                .collect(),
            links: VecMap::default(),
            rtc_config: config.rtc,
            ice_kinds: config.ice_kinds,
            events: tx.clone(),
            dispatch: dispatch.clone(),
            statuses: Vec::new(),
            trackers_stale: true,
            shown_trackers: Vec::new(),
            local: call::LocalMedia::default(),
            streams,
            files: files::FilesShell::default(),
            timer: None,
            file_root: None,
            failed: false,
        };
        driver.flush();
        if driver.failed {
            return;
        }
        driver.wait_local_offers().await;
        // Whatever form the name arrived in (a link, a paste), the key is derived from NFC.
        let keys = match RoomKeys::derive(&crate::js::nfc(&room_name)) {
            Ok(k) => k,
            Err(e) => return fail(e.to_string()),
        };
        driver.file_root = Some(keys.file_root.clone());
        driver.room.set_keys(keys, now_ms());
        driver.flush();
        // The announce is on its way: make our identity while the network answers.
        driver.room.prepare_identity();
        dispatch.emit(RoomAction::MyFingerprint(driver.room.identity().1));
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

/// What the user reads when the browser refuses to make an `RTCPeerConnection`.
fn no_peer_connections(e: &JsError) -> String {
    format!("This browser cannot open peer connections: {e}")
}

struct Driver {
    room: Room,
    trackers: Vec<TrackerSocket>,
    links: VecMap<ConnHandle, Link>,
    rtc_config: web_sys::RtcConfiguration,
    ice_kinds: rtc::IceKinds,
    events: mpsc::Sender<Event>,
    dispatch: Callback<RoomAction>,
    /// The engine's last word on each tracker, and what the user was last shown. The views
    /// are remade only when the statuses change or time passes (a retry countdown), not for
    /// every frame.
    statuses: Vec<TrackerStatus>,
    trackers_stale: bool,
    shown_trackers: Vec<TrackerView>,
    local: call::LocalMedia,
    streams: Rc<RefCell<StreamRegistry>>,
    files: files::FilesShell,
    /// The armed wake-up: its time and the timer (dropping it cancels it).
    timer: Option<(u64, gloo_timers::callback::Timeout)>,
    /// The file key root, for the transfers' own crypto.
    file_root: Option<hush_core::seal::Key>,
    /// The browser cannot make peer connections: the room has failed.
    failed: bool,
}

impl Driver {
    /// Sends a chat message now (to the peer with id `to` alone when set).
    fn chat(
        &mut self,
        text: &str,
        to: Option<&str>,
        view_once: bool,
    ) -> Result<(), room::ChatError> {
        let now = now_ms();
        let to = match to.map(PeerId::try_from) {
            None => None,
            Some(Ok(peer)) => Some(peer),
            Some(Err(_)) => return Err(room::ChatError::NotHere("That peer".into())),
        };
        let how = room::Compose {
            to: to.as_ref(),
            view_once,
        };
        let sent = self.room.send_message(text, how, now);
        self.flush();
        sent
    }

    fn handle(&mut self, ev: Event) {
        let now = now_ms();
        match ev {
            Event::Wake => {
                self.timer = None;
                self.trackers_stale = true;
                self.report_transfer_activity();
                self.room.handle_timeout(now);
            }
            Event::SendChat(text, to, view_once) => {
                if let Err(e) = self.chat(&text, to.as_deref(), view_once) {
                    if e != room::ChatError::Empty {
                        self.dispatch.emit(RoomAction::Notice(e.to_string()));
                    }
                }
            }
            Event::Typing { to, on: true } => {
                let to = to.and_then(|id| PeerId::try_from(id).ok());
                self.room.typing(to.as_ref(), now);
            }
            Event::Typing { on: false, .. } => self.room.stop_typing(),
            Event::ShareTyping(share) => self.room.set_share_typing(share),
            Event::SetTimer(ttl) => {
                if let Err(e) = self.room.set_timer(ttl) {
                    self.dispatch.emit(RoomAction::Notice(e.to_string()));
                }
            }
            Event::Reveal(from, id) => {
                if let Ok(from) = PeerId::try_from(from) {
                    self.room.reveal(&from, id, now);
                }
            }
            Event::SetName(name) => self.room.set_name(&name),
            Event::Verify(id) => {
                if let Ok(peer) = PeerId::try_from(id.clone()) {
                    let name = self.room.peer_name(&peer);
                    self.dispatch.emit(RoomAction::Verify(Some(VerifyView {
                        peer: id,
                        name,
                        stage: VerifyStage::Waiting,
                    })));
                    self.room.verify(&peer);
                }
            }
            Event::ConfirmSas(id, matched) => {
                if let Ok(peer) = PeerId::try_from(id) {
                    self.room.confirm_sas(&peer, matched);
                }
            }
            Event::Disconnect(id) => {
                if let Ok(peer) = PeerId::try_from(id) {
                    self.room.disconnect(&peer);
                }
            }
            Event::SetLocked(locked) => self.room.set_locked(locked, now),
            Event::KeepIdentity(keep) => {
                let secret = self.room.identity_secret();
                if keep {
                    settings::keep_identity(Some(&secret));
                } else {
                    for (key, _) in settings::devices() {
                        self.room.forget_device(&key);
                    }
                    settings::keep_identity(None);
                }
            }
            Event::ForgetDevice(id) => {
                let key = PeerId::try_from(id)
                    .ok()
                    .and_then(|p| self.room.peer_trust(&p))
                    .map(|t| t.key);
                if let Some(key) = key {
                    settings::forget_device(&key);
                    self.room.forget_device(&key);
                }
            }
            Event::Decide(id, admit) => {
                if let Ok(peer) = PeerId::try_from(id) {
                    self.room.decide(&peer, admit, now);
                }
            }
            Event::TrackerOpen(i, g) => {
                if self.tracker_at(i, g) {
                    self.room.handle_tracker_open(i, now);
                }
            }
            Event::TrackerDown(i, g) => {
                if self.tracker_at(i, g) {
                    self.trackers[i].close();
                    self.room.handle_tracker_closed(i, now);
                }
            }
            Event::TrackerMessage(i, g, text) => {
                if let Some(t) = self.trackers.get(i) {
                    t.handled();
                }
                if self.tracker_at(i, g) {
                    self.room.handle_tracker_text(i, &text, now);
                }
            }
            Event::TrackerOversized(i, g) => {
                if self.tracker_at(i, g) {
                    self.room.handle_tracker_oversized(i, now);
                }
            }
            Event::TrackerFlooded(i, g) => {
                if self.tracker_at(i, g) {
                    warn("a tracker sent more than it may; reconnecting later");
                    self.room.handle_tracker_flooded(i, now);
                }
            }
            Event::OfferReady(h, result) => {
                let sdp = result.map_err(|e| {
                    warn(&format!("could not create an offer: {e}"));
                    e.to_string()
                });
                self.room.handle_local_offer(h, sdp, now);
            }
            Event::AnswerReady(h, result) => {
                let sdp = result.map_err(|e| {
                    warn(&format!("could not answer an offer: {e}"));
                    e.to_string()
                });
                self.room.handle_local_answer(h, sdp, now);
            }
            Event::AnswerFailed(h) => self.room.handle_answer_failed(h),
            Event::Path(h, relayed) => self.on_path(h, relayed),
            Event::ChannelOpen(h) => {
                self.room.handle_channel_open(h, now);
                self.check_certificate(h);
            }
            Event::RemoteCertificate(h, alg, fp) => {
                self.room.handle_transport_certificate(h, &alg, &fp);
            }
            Event::ChannelClosed(h) => self.room.handle_channel_closed(h),
            Event::Frame(h, bytes) => {
                if let Some(l) = self.links.get(&h) {
                    l.handled();
                }
                self.room.handle_frame(h, &bytes, now);
            }
            Event::OversizedFrame(h) => self.room.handle_oversized_frame(h),
            Event::Flooded(h) => self.room.handle_flooded(h),
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
                let msg = hush_core::wire::PeerMessage::Candidate {
                    candidate,
                    sdp_mid,
                    sdp_m_line_index,
                };
                self.room.send_negotiation(h, &msg);
            }
            Event::Track(h, stream) => {
                if let Some(l) = self.links.get_mut(&h) {
                    l.remote.insert(stream.id(), stream);
                }
                self.publish_remote(h);
            }
            Event::Level(h, level) => self.room.handle_level(h, level),
            Event::OfferFiles(files, view_once) => self.offer_files(files, view_once, now),
            Event::Withdraw(key) => {
                if let (None, Some(id)) = (&key.owner, FileId::from_hex(&key.id)) {
                    self.room.withdraw_file(id);
                }
            }
            Event::Download(key) => self.download(&key),
            Event::Cancel(key) => {
                if let Some((peer, id)) = files::parse_key(&key) {
                    self.room.cancel_download(&peer, id);
                }
            }
            Event::CloseView(key) => self.close_view(key),
            Event::SinkReady(peer, id, result) => self.on_sink_ready(peer, id, result, now),
            Event::LinkSdp {
                peer,
                id,
                offer,
                sdp,
            } => {
                let sdp = sdp.map_err(|e| {
                    warn(&format!("cannot make a connection for a file: {e}"));
                    e.to_string()
                });
                self.room.handle_link_sdp(&peer, id, offer, sdp);
            }
            Event::UploadEnded(peer, id, outcome) => self.on_upload_ended(peer, id, outcome),
            Event::DownloadEnded(peer, id, outcome) => self.on_download_ended(peer, id, outcome),
        }
        self.flush();
    }

    fn tracker_at(&self, i: usize, generation: u32) -> bool {
        self.trackers
            .get(i)
            .is_some_and(|t| t.generation == generation)
    }

    /// Carries out everything the engine asked for, then arms the timer for its next wake-up.
    fn flush(&mut self) {
        while let Some(o) = self.room.poll_output() {
            self.execute(o);
        }
        if self.trackers_stale {
            self.trackers_stale = false;
            self.report_trackers();
        }
        let Some(at) = self.room.poll_timeout() else {
            self.timer = None;
            return;
        };
        if self.timer.as_ref().is_some_and(|(t, _)| *t == at) {
            return;
        }
        let delay = at.saturating_sub(now_ms()).min(MAX_TIMER_MS);
        let tx = self.events.clone();
        let timer = gloo_timers::callback::Timeout::new(delay as u32, move || {
            let _ = tx.clone().try_send(Event::Wake);
        });
        self.timer = Some((at, timer));
    }

    fn execute(&mut self, o: Output) {
        match o {
            Output::ConnectTracker(i) => {
                if let Some(t) = self.trackers.get_mut(i) {
                    if t.connect(i, &self.events).is_err() {
                        self.room.handle_tracker_closed(i, now_ms());
                    }
                }
            }
            Output::CloseTracker(i) => {
                if let Some(t) = self.trackers.get_mut(i) {
                    t.close();
                }
            }
            Output::TrackerSend { tracker, text } => {
                if let Some(t) = self.trackers.get(tracker) {
                    t.send(&text);
                }
            }
            Output::CreateOffer(h) => {
                if let Some(link) = self.new_link(h) {
                    let (pc, tx, kinds) = (link.pc.clone(), self.events.clone(), self.ice_kinds);
                    self.links.insert(h, link);
                    wasm_bindgen_futures::spawn_local(async move {
                        let r = rtc::make_offer(pc, kinds).await;
                        let _ = tx.clone().try_send(Event::OfferReady(h, r));
                    });
                }
            }
            Output::CreateAnswer { conn, offer_sdp } => {
                if let Some(link) = self.new_link(conn) {
                    let (pc, tx, kinds) = (link.pc.clone(), self.events.clone(), self.ice_kinds);
                    self.links.insert(conn, link);
                    wasm_bindgen_futures::spawn_local(async move {
                        let r = rtc::make_answer(pc, offer_sdp, kinds).await;
                        let _ = tx.clone().try_send(Event::AnswerReady(conn, r));
                    });
                }
            }
            Output::ApplyAnswer { conn, answer_sdp } => {
                if let Some(link) = self.links.get(&conn) {
                    let (pc, tx) = (link.pc.clone(), self.events.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Err(e) = rtc::accept_answer(pc, answer_sdp).await {
                            warn(&format!("could not apply an answer: {e}"));
                            let _ = tx.clone().try_send(Event::AnswerFailed(conn));
                        }
                    });
                }
            }
            Output::Send { conn, frame } => {
                if let Some(link) = self.links.get(&conn) {
                    link.send(&frame);
                }
            }
            Output::Close(h) => {
                if let Some(link) = self.links.remove(&h) {
                    if let Some(peer) = &link.peer {
                        self.forget_streams(peer);
                    }
                }
            }
            Output::PollLevels(hs) => self.poll_levels(&hs),
            Output::Event(ev) => self.show(ev),
            Output::File(f) => self.file_step(f),
        }
    }

    /// A connection for the engine's handle `h`; a browser that cannot make one fails the room.
    fn new_link(&mut self, h: ConnHandle) -> Option<Link> {
        match Link::new(h, &self.rtc_config, &self.events) {
            Ok(l) => Some(l),
            Err(e) => {
                self.failed = true;
                let msg = no_peer_connections(&e);
                self.dispatch.emit(RoomAction::Phase(Phase::Failed(msg)));
                self.room.handle_channel_closed(h);
                None
            }
        }
    }

    /// Waits (briefly) until every prepared offer has its local description, i.e. until ICE
    /// gathering is running in the browser's network thread and no longer needs this one.
    async fn wait_local_offers(&self) {
        let pcs: Vec<web_sys::RtcPeerConnection> =
            self.links.values().map(|l| l.pc.clone()).collect();
        rtc::until_local_offers(&pcs).await;
    }

    /// Shows an engine event.
    fn show(&mut self, ev: RoomEvent) {
        match ev {
            RoomEvent::Trackers(statuses) => {
                self.statuses = statuses;
                self.trackers_stale = true;
            }
            RoomEvent::PeerUp { peer, name } => {
                let h = self.room.open_conn(&peer);
                self.dispatch.emit(RoomAction::PeerUp {
                    id: peer.to_string(),
                    name,
                });
                if let Some(h) = h {
                    if let Some(l) = self.links.get_mut(&h) {
                        l.listed = true;
                    }
                    self.report_path(h);
                }
            }
            RoomEvent::PeerName { peer, name } => self.dispatch.emit(RoomAction::PeerName {
                id: peer.to_string(),
                name,
            }),
            RoomEvent::PeerDown { peer, reason } => {
                self.forget_streams(&peer);
                self.dispatch.emit(RoomAction::PeerDown {
                    id: peer.to_string(),
                    reason,
                });
            }
            RoomEvent::Opened { peer, conn } => self.on_opened(peer, conn),
            RoomEvent::Chat {
                from,
                name,
                at_ms,
                text,
                direct,
                id,
                expires_at_ms,
                view_once,
            } => {
                let mut line = ChatLine::message(from.map(|p| p.to_string()), name, at_ms, text);
                line.private_with = direct.map(|p| self.room.peer_name(&p));
                line.id = id;
                // The engine's clock and the page's are one (`now_ms`).
                line.expires_at_ms = expires_at_ms;
                line.view_once = view_once;
                self.dispatch.emit(RoomAction::Chat(line));
            }
            RoomEvent::Vanish { from, id } => self.dispatch.emit(RoomAction::Vanish {
                from: from.map(|p| p.to_string()),
                id,
            }),
            RoomEvent::Timer { by, name, ttl_ms } => {
                let who = if by.is_none() { "You" } else { name.as_str() };
                self.dispatch.emit(RoomAction::Timer {
                    ttl_ms,
                    line: room::timer_announcement(who, ttl_ms),
                    at_ms: now_ms(),
                });
            }
            RoomEvent::Viewed { id, name, .. } => {
                self.dispatch.emit(RoomAction::Viewed { id, name })
            }
            RoomEvent::Typing { peer, typing } => self.dispatch.emit(RoomAction::Typing {
                id: peer.to_string(),
                typing,
            }),
            RoomEvent::BadFrame { .. } => self.dispatch.emit(RoomAction::BadFrame),
            RoomEvent::PeerTrust { peer, trust } => self.dispatch.emit(RoomAction::PeerTrust {
                id: peer.to_string(),
                fingerprint: trust.fingerprint,
                verified: trust.verified,
                device: trust.device,
            }),
            RoomEvent::Sas { peer, name, sas } => {
                let number = sas.number;
                self.dispatch.emit(RoomAction::Verify(Some(VerifyView {
                    peer: peer.to_string(),
                    name,
                    stage: VerifyStage::Codes {
                        emoji: sas.emoji_words().collect(),
                        number: format!("{:03} {:03}", number / 1000, number % 1000),
                        answered: false,
                    },
                })));
            }
            RoomEvent::VerifyEnd {
                peer,
                matched,
                reason,
            } => {
                if matched && settings::kept_identity().is_some() {
                    // A device that keeps its identity remembers whom it verified.
                    if let Some(t) = self.room.peer_trust(&peer) {
                        let label = self.room.peer_name(&peer);
                        settings::remember_device(t.key, &label);
                        self.room.trust_device(t.key, &label);
                    }
                }
                self.dispatch.emit(RoomAction::VerifyEnd {
                    id: peer.to_string(),
                    result: if matched { Ok(()) } else { Err(reason) },
                });
            }
            RoomEvent::Lock { by, name, locked } => {
                let who = if by.is_none() { "You" } else { name.as_str() };
                let line = if locked {
                    format!("{who} locked the room: newcomers wait until a member lets them in")
                } else {
                    format!("{who} unlocked the room: anyone with the link can join")
                };
                self.dispatch.emit(RoomAction::Locked {
                    locked,
                    line,
                    at_ms: now_ms(),
                });
            }
            RoomEvent::JoinRequest {
                peer,
                name,
                fingerprint,
            } => self.dispatch.emit(RoomAction::JoinRequest(JoinRequestView {
                peer: peer.to_string(),
                name,
                fingerprint,
            })),
            RoomEvent::JoinDecided {
                name,
                fingerprint,
                admitted,
                by,
                ..
            } => {
                let who = if name.is_empty() {
                    "a newcomer"
                } else {
                    name.as_str()
                };
                let line = if admitted {
                    format!("{by} let {who} ({fingerprint}) in")
                } else {
                    format!("{by} turned {who} ({fingerprint}) away")
                };
                self.dispatch.emit(RoomAction::JoinDecided {
                    fingerprint,
                    line,
                    at_ms: now_ms(),
                });
            }
            RoomEvent::JoinWithdrawn { peer } => {
                self.dispatch
                    .emit(RoomAction::JoinWithdrawn(peer.to_string()));
            }
            RoomEvent::Admission(status) => self.dispatch.emit(RoomAction::Door(match status {
                AdmissionStatus::Waiting => Some(Door::Waiting),
                AdmissionStatus::Admitted => None,
                AdmissionStatus::Denied => Some(Door::Denied),
            })),
            RoomEvent::Refused {
                fingerprint,
                reason,
            } => self.dispatch.emit(RoomAction::Notice(match fingerprint {
                Some(fp) => format!("Refused a peer ({fp}): {reason}"),
                None => format!("Refused a peer: {reason}"),
            })),
            RoomEvent::Notice(n) => self.dispatch.emit(RoomAction::Notice(n)),
            RoomEvent::PeerMedia { peer, media } => self.dispatch.emit(RoomAction::PeerMedia {
                id: peer.to_string(),
                media: MediaFlags {
                    mic: media.mic,
                    camera: media.camera,
                    screen: media.screen,
                },
            }),
            RoomEvent::Speaking { peer, speaking } => self.dispatch.emit(RoomAction::Speaking {
                id: peer.to_string(),
                speaking,
            }),
            RoomEvent::Negotiation { conn, msg, .. } => self.on_negotiation(conn, msg),
            RoomEvent::File(f) => self.show_file(f),
        }
    }

    /// Reads the certificate the transport of `h` holds for its peer, for the engine to check
    /// against the one its SDP named (and its hello signed).
    fn check_certificate(&self, h: ConnHandle) {
        let Some(link) = self.links.get(&h) else {
            return;
        };
        let (pc, tx) = (link.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(Some((alg, fp))) = rtc::remote_certificate(pc).await {
                let _ = tx.clone().try_send(Event::RemoteCertificate(h, alg, fp));
            }
        });
    }

    /// A kept connection opened: media goes on it from now on, and its path is looked up.
    fn on_opened(&mut self, peer: PeerId, h: ConnHandle) {
        let me = self.room.me().clone();
        let tracks = self.local.tracks();
        let Some(link) = self.links.get_mut(&h) else {
            return;
        };
        link.enable_media(&me, &peer, &self.events);
        link.peer = Some(peer);
        // A late joiner gets the tracks already flowing (the engine sent labels and state).
        for (t, s) in &tracks {
            link.add_track(t, s);
        }
        let (pc, tx) = (link.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            for _ in 0..PATH_CHECKS {
                sleep_ms(PATH_CHECK_DELAY_MS).await;
                match rtc::is_relayed(pc.clone()).await {
                    Ok(Some(relayed)) => {
                        let _ = tx.clone().try_send(Event::Path(h, relayed));
                        return;
                    }
                    Ok(None) => continue,
                    Err(_) => return,
                }
            }
        });
    }

    fn on_path(&mut self, h: ConnHandle, relayed: bool) {
        let Some(link) = self.links.get_mut(&h) else {
            return;
        };
        link.relayed = Some(relayed);
        if link.listed {
            self.report_path(h);
        }
    }

    fn report_path(&self, h: ConnHandle) {
        let Some(link) = self.links.get(&h) else {
            return;
        };
        let (Some(peer), Some(relayed)) = (&link.peer, link.relayed) else {
            return;
        };
        self.dispatch.emit(RoomAction::PeerPath {
            id: peer.to_string(),
            path: if relayed { Path::Relayed } else { Path::Direct },
        });
    }

    fn forget_streams(&self, peer: &PeerId) {
        if let Ok(mut reg) = self.streams.try_borrow_mut() {
            reg.remote.retain(|(p, _), _| p != peer.as_str());
        }
    }

    /// The trackers as the user sees them (a retry countdown changes as time passes).
    fn report_trackers(&mut self) {
        let now = now_ms();
        let views: Vec<TrackerView> = self
            .trackers
            .iter()
            .zip(&self.statuses)
            // A tracker this room does not use (rooms spread over trackers) is not shown.
            .filter(|(_, s)| **s != TrackerStatus::Unused)
            .map(|(t, s)| {
                let (status, ok) = match s {
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
                    TrackerStatus::Unused => ("not used by this room".to_owned(), true),
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

    fn leave(&mut self) {
        self.room.leave();
        while let Some(o) = self.room.poll_output() {
            self.execute(o);
        }
        self.files.leave();
        self.timer = None;
        self.links.clear();
        self.trackers.clear();
        self.local.stop_all();
    }
}
