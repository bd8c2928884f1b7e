//! The room driver: one task per room that owns every JS object of that room (tracker
//! sockets, peer connections, data channels and their callbacks) and runs the protocol.
//!
//! Browser callbacks post [`Event`]s into one bounded queue; the driver handles them one at a
//! time, synchronously, and starts async work (SDP, ICE gathering, stats) as small tasks that
//! post their results back as events. Protocol decisions come from `hush_core` (`Mesh` for
//! connection choice, `wire` for frames, `tracker` for signaling); the driver acts on them and
//! reports to the UI as [`RoomAction`]s.

pub mod config;
pub mod js;
pub mod media;
mod rtc;
mod tracker;

use crate::state::{
    ChatLine, DeviceKind, DeviceView, MediaFlags, Path, Phase, RoomAction, TrackerView,
};
use futures::channel::mpsc;
use futures::StreamExt;
use hush_core::ids::{encode_id, PeerId};
use hush_core::keys::RoomKeys;
use hush_core::mesh::{AnswerDecision, ConnId, Mesh, OfferDecision, Timeout, PING_INTERVAL_MS};
use hush_core::negotiation::OnDescription;
use hush_core::tracker::{self as trk, Announce, OfferEntry, ServerMessage};
use hush_core::wire::{self, PeerMessage, MAX_BAD_FRAMES, MAX_CHAT_BYTES};
use hush_core::wire::{StreamKind, StreamLabel};
use js::{now_ms, random_bytes, sleep_ms, JsError};
use media::Capture;
use rtc::Rtc;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use tracker::{Tracker, TrackerStatus};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack, RtcSignalingState};
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
}

/// Media streams the UI may attach, by owner and kind: shared with the UI so tiles can read
/// them at any time without touching the driver (the driver updates it before it reports a
/// change, and holds no borrow while the UI renders).
#[derive(Default)]
pub struct StreamRegistry {
    remote: BTreeMap<(String, StreamKind), MediaStream>,
    local: BTreeMap<StreamKind, MediaStream>,
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
        let mut rtcs = BTreeMap::new();
        let mut next_handle = 0;
        for _ in 0..INITIAL_OFFERS * trackers.len() {
            next_handle += 1;
            match spawn_offer(next_handle, &config.rtc, config.ice_kinds, &tx) {
                Ok(r) => {
                    rtcs.insert(next_handle, r);
                }
                Err(e) => return fail(format!("This browser cannot open peer connections: {e}")),
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
            banned: BTreeSet::new(),
            local: LocalMedia::default(),
            ticks: 0,
            streams,
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

/// Waits (briefly) until every prepared offer has its local description, i.e. until ICE
/// gathering is running in the browser's network thread and no longer needs this one.
async fn wait_local_offers(rtcs: &BTreeMap<u32, Rtc>) {
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
    rtcs: BTreeMap<u32, Rtc>,
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
    banned: BTreeSet<PeerId>,
    local: LocalMedia,
    ticks: u32,
    streams: Rc<RefCell<StreamRegistry>>,
}

/// Our captures. The camera stream carries the microphone and the camera tracks; the screen
/// stream carries the shared screen (and its audio when offered).
///
/// Copies of `MediaStream` / `MediaStreamTrack` handles are written `Clone::clone(&x)`: web-sys
/// binds the JS `clone()` method on both, which shadows `Clone` in method-call syntax and
/// would make a new stream or track instead of a second handle to the same one.
#[derive(Default)]
struct LocalMedia {
    camera_stream: Option<MediaStream>,
    mic: Option<MediaStreamTrack>,
    cam: Option<MediaStreamTrack>,
    screen: Option<MediaStream>,
    /// `onended` of the shared screen's video track.
    screen_ended: Option<Closure<dyn FnMut(JsValue)>>,
    /// `devicechange` on `navigator.mediaDevices`: the device lists follow plugging and
    /// unplugging.
    device_change: Option<Closure<dyn FnMut(JsValue)>>,
    mic_device: Option<String>,
    cam_device: Option<String>,
    /// Captures being opened (a second click on the same one waits for it).
    opening: Vec<Capture>,
}

impl LocalMedia {
    fn flags(&self) -> MediaFlags {
        MediaFlags {
            mic: self.mic.is_some(),
            camera: self.cam.is_some(),
            screen: self.screen.is_some(),
        }
    }

    fn labels(&self) -> Vec<StreamLabel> {
        let mut v = Vec::new();
        if let Some(s) = &self.camera_stream {
            v.push(StreamLabel {
                id: s.id(),
                kind: StreamKind::Camera,
            });
        }
        if let Some(s) = &self.screen {
            v.push(StreamLabel {
                id: s.id(),
                kind: StreamKind::Screen,
            });
        }
        v
    }

    /// Every live track with the stream it belongs to.
    fn tracks(&self) -> Vec<(MediaStreamTrack, MediaStream)> {
        let mut v = Vec::new();
        if let Some(cs) = &self.camera_stream {
            for t in [&self.mic, &self.cam].into_iter().flatten() {
                v.push((Clone::clone(t), Clone::clone(cs)));
            }
        }
        if let Some(ss) = &self.screen {
            for t in ss.get_tracks().iter() {
                if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                    v.push((t, Clone::clone(ss)));
                }
            }
        }
        v
    }

    fn stop_all(&mut self) {
        for (t, _) in self.tracks() {
            t.stop();
        }
        self.mic = None;
        self.cam = None;
        self.screen = None;
        self.screen_ended = None;
    }
}

impl LocalMedia {
    /// Follows device changes for as long as the room runs.
    fn watch_devices(&mut self, events: &mpsc::Sender<Event>) {
        let Some(md) = web_sys::window().and_then(|w| w.navigator().media_devices().ok()) else {
            return;
        };
        let tx = events.clone();
        let on_change: Closure<dyn FnMut(JsValue)> = Closure::new(move |_| {
            let _ = tx.clone().try_send(Event::DevicesChanged);
        });
        md.set_ondevicechange(Some(on_change.as_ref().unchecked_ref()));
        self.device_change = Some(on_change);
    }
}

impl Drop for LocalMedia {
    fn drop(&mut self) {
        // The camera light goes off when the room ends, whatever ended it.
        self.stop_all();
        if self.device_change.take().is_some() {
            if let Some(md) = web_sys::window().and_then(|w| w.navigator().media_devices().ok()) {
                md.set_ondevicechange(None);
            }
        }
    }
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
            Event::ScreenEnded => {
                if self.local.screen.is_some() {
                    self.toggle(Capture::Screen);
                }
            }
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
                let msg = format!("This browser cannot open peer connections: {e}");
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

    // ---- signaling ----

    /// Announces to tracker `i`, with as many fresh offers as the swarm needs: prepared ones
    /// first, new ones for the rest. The announce goes out once all of them have their SDP.
    fn announce(&mut self, i: usize, now: u64) {
        let Some(t) = self.trackers.get(i) else {
            return;
        };
        if !t.is_open() || t.batch.is_some() {
            return;
        }
        let wanted = if t.announced {
            self.offers_needed(i, t.swarm_size, now)
        } else {
            INITIAL_OFFERS
        };
        if wanted == 0 {
            self.send_announce(i, Vec::new(), now);
            return;
        }
        let mut handles: Vec<u32> = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker.is_none())
            .map(|r| r.handle)
            .take(wanted)
            .collect();
        while handles.len() < wanted {
            let Some(h) = self.prepare_offer() else {
                break;
            };
            handles.push(h);
        }
        for h in &handles {
            if let Some(r) = self.rtcs.get_mut(h) {
                r.tracker = Some(i);
            }
        }
        self.trackers[i].batch = Some(OfferBatch { handles });
        self.finish_batch(i, now);
    }

    fn prepare_offer(&mut self) -> Option<u32> {
        let h = self.new_handle();
        match spawn_offer(h, &self.rtc_config, self.ice_kinds, &self.events) {
            Ok(r) => {
                self.rtcs.insert(h, r);
                Some(h)
            }
            Err(e) => {
                let msg = format!("This browser cannot open peer connections: {e}");
                self.dispatch.emit(RoomAction::Phase(Phase::Failed(msg)));
                None
            }
        }
    }

    /// Offers tracker `i` should carry for a swarm of `swarm_size`. None when we are connected
    /// (or connecting) to every member. Otherwise one per member, minus our offers there that
    /// may still be answered: trackers hand each offer to a random member, connected or not, so
    /// offering to every member is the only way to be sure the missing ones get one (connected
    /// members ignore theirs). An offer unanswered for FOLLOW_UP_MS no longer counts.
    fn offers_needed(&self, i: usize, swarm_size: u64, now: u64) -> usize {
        if self.mesh.offers_wanted(swarm_size, usize::MAX) == 0 {
            return 0;
        }
        let pending = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker == Some(i))
            .filter(|r| r.offered_at_ms.is_none_or(|t| now < t + FOLLOW_UP_MS))
            .count();
        let members = usize::try_from(swarm_size.saturating_sub(1)).unwrap_or(usize::MAX);
        members.min(MAX_OFFERS).saturating_sub(pending)
    }

    fn on_offer_ready(&mut self, h: u32, result: Result<String, JsError>, now: u64) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let tracker = rtc.tracker;
        match result {
            Ok(sdp) => rtc.offer_sdp = Some(sdp),
            Err(e) => {
                warn(&format!("could not create an offer: {e}"));
                self.rtcs.remove(&h);
            }
        }
        if let Some(i) = tracker {
            self.finish_batch(i, now);
        }
    }

    /// Sends tracker `i`'s pending announce once none of its offers is still gathering.
    fn finish_batch(&mut self, i: usize, now: u64) {
        let Some(batch) = self.trackers.get(i).and_then(|t| t.batch.as_ref()) else {
            return;
        };
        let gathering = batch
            .handles
            .iter()
            .any(|h| self.rtcs.get(h).is_some_and(|r| r.offer_sdp.is_none()));
        if gathering {
            return;
        }
        let handles = self.trackers[i]
            .batch
            .take()
            .map(|b| b.handles)
            .unwrap_or_default();
        let mut offers = Vec::with_capacity(handles.len());
        for h in handles {
            let Some(r) = self.rtcs.get_mut(&h) else {
                continue;
            };
            r.offered_at_ms = Some(now);
            let (Some(sdp), Ok(nonce)) = (&r.offer_sdp, random_bytes()) else {
                continue;
            };
            let offer = trk::seal_offer(
                &self.keys.sdp,
                nonce,
                &self.keys.info_hash,
                self.me.as_str(),
                &r.offer_id,
                sdp,
            );
            self.mesh.offer_created(&r.offer_id, now);
            offers.push(OfferEntry {
                offer_id: r.offer_id.clone(),
                offer,
            });
        }
        self.send_announce(i, offers, now);
    }

    fn send_announce(&mut self, i: usize, offers: Vec<OfferEntry>, now: u64) {
        let t = &mut self.trackers[i];
        let first = !t.announced;
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: self.keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            numwant: Some(offers.len() as u32),
            event: first.then(|| "started".to_owned()),
            uploaded: Some(0),
            downloaded: Some(0),
            left: Some(0),
            // A keep-alive carries no `offers` field at all.
            offers: (!offers.is_empty()).then_some(offers),
            ..Announce::default()
        };
        let incomplete = self.mesh.offers_wanted(t.swarm_size, usize::MAX) > 0;
        if let Ok(text) = serde_json::to_string(&msg) {
            if t.send(&text) {
                t.announced = true;
                t.last_announce_ms = now;
                t.next_announce_ms = now + t.interval_ms;
                t.follow_ups = if incomplete { t.follow_ups + 1 } else { 0 };
            }
        }
    }

    fn drop_offers_of(&mut self, i: usize) {
        let stale: Vec<(u32, String)> = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker == Some(i))
            .map(|r| (r.handle, r.offer_id.clone()))
            .collect();
        for (h, offer_id) in stale {
            self.mesh.offer_dropped(&offer_id);
            self.rtcs.remove(&h);
        }
    }

    fn on_tracker_message(&mut self, i: usize, text: &str, now: u64) {
        let Ok(msg) = serde_json::from_str::<ServerMessage>(text) else {
            return;
        };
        if let Some(reason) = msg.failure_reason {
            self.trackers[i].status = TrackerStatus::Refused(reason);
            self.report_trackers();
            return;
        }
        if msg
            .info_hash
            .as_deref()
            .is_some_and(|h| h != self.keys.info_hash)
        {
            return;
        }
        if let Some(interval) = msg.interval {
            let t = &mut self.trackers[i];
            t.interval_ms =
                (interval * 1000).clamp(tracker::MIN_INTERVAL_MS, tracker::MAX_INTERVAL_MS);
            t.next_announce_ms = now + t.interval_ms;
        }
        if msg.complete.is_some() || msg.incomplete.is_some() {
            self.trackers[i].replied();
            self.report_trackers();
            let size = msg.complete.unwrap_or(0) + msg.incomplete.unwrap_or(0);
            self.trackers[i].swarm_size = size;
            // Members we have no connection with: come back soon with more offers rather than
            // at the next interval, backing off (2, 4, 8… s) while the room stays incomplete.
            if self.mesh.offers_wanted(size, usize::MAX) > 0 {
                let t = &mut self.trackers[i];
                let delay = FOLLOW_UP_MS << t.follow_ups.min(MAX_FOLLOW_UP_DOUBLINGS);
                t.next_announce_ms = t.next_announce_ms.min(t.last_announce_ms + delay);
            }
        }
        let (Some(from), Some(offer_id)) = (msg.peer_id, msg.offer_id) else {
            return;
        };
        let Ok(from) = PeerId::try_from(from) else {
            return;
        };
        if self.banned.contains(&from) {
            return;
        }
        if let Some(offer) = msg.offer {
            self.on_remote_offer(i, from, offer_id, &offer, now);
        } else if let Some(answer) = msg.answer {
            self.on_remote_answer(i, from, offer_id, &answer, now);
        }
    }

    fn on_remote_offer(
        &mut self,
        i: usize,
        from: PeerId,
        offer_id: String,
        offer: &trk::Sdp,
        now: u64,
    ) {
        // Anything that does not open under our room key is from another room (or forged).
        let Ok(sdp) = trk::open_offer(
            &self.keys.sdp,
            &self.keys.info_hash,
            from.as_str(),
            &offer_id,
            offer,
        ) else {
            warn("dropped an offer that does not open with this room's key");
            return;
        };
        let answering = self
            .rtcs
            .values()
            .filter(|r| !r.open && r.conn.as_ref().is_some_and(|c| !c.we_offered))
            .count();
        if answering >= MAX_PENDING_ANSWERS {
            return;
        }
        let OfferDecision::Answer { replaces } = self.mesh.on_offer(&from, &offer_id, now) else {
            return;
        };
        if let Some(h) = replaces.and_then(|c| self.handle_of(&c)) {
            self.rtcs.remove(&h);
        }
        let conn = ConnId {
            peer: from,
            offer_id,
            we_offered: false,
        };
        let Some(mut rtc) = self.new_rtc() else {
            self.mesh.on_closed(&conn);
            return;
        };
        rtc.tracker = Some(i);
        rtc.offer_id = conn.offer_id.clone();
        rtc.conn = Some(conn);
        let (h, pc, tx) = (rtc.handle, rtc.pc.clone(), self.events.clone());
        let kinds = self.ice_kinds;
        self.rtcs.insert(h, rtc);
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::make_answer(pc, sdp, kinds).await;
            let _ = tx.clone().try_send(Event::AnswerReady(h, r));
        });
    }

    fn on_answer_ready(&mut self, h: u32, result: Result<String, JsError>) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let (sdp, conn) = match (result, rtc.conn.clone()) {
            (Ok(sdp), Some(conn)) => (sdp, conn),
            (Err(e), _) => {
                warn(&format!("could not answer an offer: {e}"));
                self.close_rtc(h, None);
                return;
            }
            (_, None) => return,
        };
        let nonce = random_bytes().unwrap_or_default();
        let answer = trk::seal_answer(
            &self.keys.sdp,
            nonce,
            &self.keys.info_hash,
            self.me.as_str(),
            conn.peer.as_str(),
            &conn.offer_id,
            &sdp,
        );
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: self.keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            to_peer_id: Some(conn.peer.to_string()),
            offer_id: Some(conn.offer_id.clone()),
            answer: Some(answer),
            ..Announce::default()
        };
        let sent = serde_json::to_string(&msg)
            .map(|text| {
                self.trackers
                    .get(rtc.tracker.unwrap_or(usize::MAX))
                    .is_some_and(|t| t.send(&text))
            })
            .unwrap_or(false);
        if !sent {
            self.close_rtc(h, None);
        }
    }

    fn on_remote_answer(
        &mut self,
        i: usize,
        from: PeerId,
        offer_id: String,
        answer: &trk::Sdp,
        now: u64,
    ) {
        let Some(h) = self
            .rtcs
            .values()
            .find(|r| r.conn.is_none() && r.tracker == Some(i) && r.offer_id == offer_id)
            .map(|r| r.handle)
        else {
            return;
        };
        let Ok(sdp) = trk::open_answer(
            &self.keys.sdp,
            &self.keys.info_hash,
            from.as_str(),
            self.me.as_str(),
            &offer_id,
            answer,
        ) else {
            return;
        };
        match self.mesh.on_answer(&from, &offer_id, now) {
            AnswerDecision::Reject => {
                self.rtcs.remove(&h);
            }
            AnswerDecision::Accept { replaces } => {
                if let Some(old) = replaces.and_then(|c| self.handle_of(&c)) {
                    self.rtcs.remove(&old);
                }
                let Some(rtc) = self.rtcs.get_mut(&h) else {
                    return;
                };
                rtc.conn = Some(ConnId {
                    peer: from,
                    offer_id,
                    we_offered: true,
                });
                let (pc, tx) = (rtc.pc.clone(), self.events.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let r = rtc::accept_answer(pc, sdp).await;
                    let _ = tx.clone().try_send(Event::RemoteApplied(h, r));
                });
            }
        }
    }

    // ---- media ----

    /// Tells every peer what our streams are and what is on, and the UI too.
    fn announce_media(&mut self) {
        if let Ok(mut reg) = self.streams.try_borrow_mut() {
            reg.local.clear();
            if let Some(cs) = &self.local.camera_stream {
                reg.local.insert(StreamKind::Camera, Clone::clone(cs));
            }
            if let Some(ss) = &self.local.screen {
                reg.local.insert(StreamKind::Screen, Clone::clone(ss));
            }
        }
        let flags = self.local.flags();
        self.broadcast(&PeerMessage::Streams {
            streams: self.local.labels(),
        });
        self.broadcast(&PeerMessage::MediaState {
            mic: flags.mic,
            camera: flags.camera,
            screen: flags.screen,
        });
        self.dispatch.emit(RoomAction::LocalMedia(flags));
    }

    /// Sends `track` to every open connection.
    fn add_track_everywhere(&mut self, track: &MediaStreamTrack, stream: &MediaStream) {
        for rtc in self.rtcs.values_mut().filter(|r| r.open) {
            rtc.add_track(track, stream);
        }
    }

    fn remove_track_everywhere(&mut self, track_id: &str) {
        for rtc in self.rtcs.values_mut() {
            rtc.remove_track(track_id);
        }
    }

    fn toggle(&mut self, what: Capture) {
        let live = match what {
            Capture::Mic => self.local.mic.take(),
            Capture::Camera => self.local.cam.take(),
            Capture::Screen => None,
        };
        if let Some(track) = live {
            track.stop();
            if let Some(cs) = &self.local.camera_stream {
                cs.remove_track(&track);
            }
            self.remove_track_everywhere(&track.id());
            self.announce_media();
            return;
        }
        if what == Capture::Screen {
            if let Some(ss) = self.local.screen.take() {
                self.local.screen_ended = None;
                for t in ss.get_tracks().iter() {
                    if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                        t.stop();
                        self.remove_track_everywhere(&t.id());
                    }
                }
                self.announce_media();
                return;
            }
        }
        if self.local.opening.contains(&what) {
            return;
        }
        self.local.opening.push(what);
        self.dispatch.emit(RoomAction::MediaError(None));
        let tx = self.events.clone();
        let device = match what {
            Capture::Mic => self.local.mic_device.clone(),
            Capture::Camera => self.local.cam_device.clone(),
            Capture::Screen => None,
        };
        wasm_bindgen_futures::spawn_local(async move {
            let ev = match what {
                Capture::Screen => Event::ScreenStream(media::capture_screen().await),
                _ => Event::LocalTrack {
                    what,
                    replace: false,
                    result: media::capture(what, device).await,
                },
            };
            let _ = tx.clone().try_send(ev);
        });
    }

    fn select_device(&mut self, kind: DeviceKind, id: String) {
        let (what, live) = match kind {
            DeviceKind::Speaker => {
                self.dispatch.emit(RoomAction::Speaker(Some(id)));
                return;
            }
            DeviceKind::Mic => {
                self.local.mic_device = Some(id.clone());
                (Capture::Mic, self.local.mic.is_some())
            }
            DeviceKind::Camera => {
                self.local.cam_device = Some(id.clone());
                (Capture::Camera, self.local.cam.is_some())
            }
        };
        if !live {
            return;
        }
        let tx = self.events.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = media::capture(what, Some(id)).await;
            let _ = tx.clone().try_send(Event::LocalTrack {
                what,
                replace: true,
                result,
            });
        });
    }

    fn on_local_track(
        &mut self,
        what: Capture,
        replace: bool,
        result: Result<MediaStreamTrack, String>,
    ) {
        if !replace {
            self.local.opening.retain(|w| *w != what);
        }
        let track = match result {
            Ok(t) => t,
            Err(msg) => {
                self.dispatch.emit(RoomAction::MediaError(Some(msg)));
                return;
            }
        };
        let stream = match &self.local.camera_stream {
            Some(s) => Clone::clone(s),
            None => match MediaStream::new() {
                Ok(s) => {
                    self.local.camera_stream = Some(Clone::clone(&s));
                    s
                }
                Err(_) => return track.stop(),
            },
        };
        let slot = match what {
            Capture::Mic => &mut self.local.mic,
            Capture::Camera => &mut self.local.cam,
            Capture::Screen => return track.stop(),
        };
        match (replace, slot.take()) {
            // A new device for a live capture: swap the track under every sender, no
            // renegotiation.
            (true, Some(old)) => {
                stream.remove_track(&old);
                stream.add_track(&track);
                for rtc in self.rtcs.values_mut() {
                    rtc.replace_track(&old.id(), &track);
                }
                old.stop();
                *slot = Some(track);
            }
            // Turned off while the new device was opening: drop it.
            (true, None) => track.stop(),
            (false, previous) => {
                if let Some(p) = previous {
                    p.stop();
                }
                stream.add_track(&track);
                *slot = Some(Clone::clone(&track));
                // Labels first, so receivers know the stream before its tracks arrive.
                self.announce_media();
                self.add_track_everywhere(&track, &stream);
            }
        }
        self.dispatch
            .emit(RoomAction::LocalMedia(self.local.flags()));
        self.refresh_devices();
    }

    fn on_screen(&mut self, result: Result<MediaStream, String>) {
        self.local.opening.retain(|w| *w != Capture::Screen);
        let stream = match result {
            Ok(s) => s,
            Err(msg) => {
                self.dispatch.emit(RoomAction::MediaError(Some(msg)));
                return;
            }
        };
        let tx = self.events.clone();
        let ended: Closure<dyn FnMut(JsValue)> = Closure::new(move |_| {
            let _ = tx.clone().try_send(Event::ScreenEnded);
        });
        if let Ok(video) = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
        {
            video.set_onended(Some(ended.as_ref().unchecked_ref()));
        }
        self.local.screen_ended = Some(ended);
        self.local.screen = Some(Clone::clone(&stream));
        self.announce_media();
        for t in stream.get_tracks().iter() {
            if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                self.add_track_everywhere(&t, &stream);
            }
        }
    }

    fn refresh_devices(&self) {
        let tx = self.events.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let list = media::list_devices().await;
            let _ = tx.clone().try_send(Event::DeviceList(list));
        });
    }

    fn on_negotiation_needed(&mut self, h: u32) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let Some(neg) = rtc.neg.as_mut() else {
            return;
        };
        if !neg.start_offer() {
            return;
        }
        let (pc, tx) = (rtc.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::set_local_implicit(pc).await;
            let _ = tx.clone().try_send(Event::LocalDescription(h, r));
        });
    }

    fn on_local_description(&mut self, h: u32, result: Result<(bool, String), JsError>) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        // Our description may have been rolled back since it was set: the peer's colliding
        // offer was applied in between (we are polite). Sending it now would hand the peer an
        // offer we no longer stand behind; the browser asks again once stable.
        let current = rtc.pc.local_description().map(|d| d.sdp());
        let state = rtc.pc.signaling_state();
        let Some(neg) = rtc.neg.as_mut() else {
            return;
        };
        neg.offer_done();
        match result {
            Ok((offer, sdp)) => {
                let still_ours = current.as_deref() == Some(sdp.as_str())
                    && (!offer || state == RtcSignalingState::HaveLocalOffer);
                if still_ours {
                    self.send_to(h, &PeerMessage::Description { offer, sdp });
                }
            }
            Err(e) => warn(&format!("could not make a renegotiation offer: {e}")),
        }
    }

    fn on_description(&mut self, h: u32, offer: bool, sdp: String) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let stable = rtc.pc.signaling_state() == RtcSignalingState::Stable;
        let Some(neg) = rtc.neg.as_mut() else {
            return;
        };
        if neg.on_description(offer, stable) == OnDescription::Ignore {
            return;
        }
        let (pc, tx) = (rtc.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::apply_remote(pc, offer, sdp).await;
            let _ = tx.clone().try_send(Event::RemoteDescription(h, r));
        });
    }

    fn on_remote_description(&mut self, h: u32, result: Result<Option<String>, JsError>) {
        let Some(neg) = self.rtcs.get_mut(&h).and_then(|r| r.neg.as_mut()) else {
            return;
        };
        neg.remote_applied();
        match result {
            Ok(Some(answer)) => self.send_to(
                h,
                &PeerMessage::Description {
                    offer: false,
                    sdp: answer,
                },
            ),
            Ok(None) => {}
            Err(e) => warn(&format!("could not apply a renegotiation: {e}")),
        }
    }

    fn on_candidate(&mut self, h: u32, candidate: String, mid: Option<String>, index: Option<u16>) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let quiet = rtc.neg.as_ref().is_some_and(|n| n.ignoring_offer());
        let pc = rtc.pc.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = rtc::add_candidate(pc, candidate, mid, index).await {
                // Candidates of an offer we ignored in a collision are expected to fail.
                if !quiet {
                    warn(&format!("could not add a candidate: {e}"));
                }
            }
        });
    }

    /// Publishes connection `h`'s labelled streams for the tiles, then tells the UI.
    fn publish_remote(&mut self, h: u32) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let Some(peer) = rtc.conn.as_ref().map(|c| c.peer.to_string()) else {
            return;
        };
        if let Ok(mut reg) = self.streams.try_borrow_mut() {
            for kind in [StreamKind::Camera, StreamKind::Screen] {
                match rtc.stream_of(kind) {
                    Some(stream) => reg.remote.insert((peer.clone(), kind), stream),
                    None => reg.remote.remove(&(peer.clone(), kind)),
                };
            }
        }
        self.dispatch.emit(RoomAction::PeerStreams { id: peer });
    }

    /// Polls the audio level of every peer whose microphone is on.
    fn poll_levels(&self) {
        for rtc in self.rtcs.values().filter(|r| r.open && r.media.mic) {
            let (h, pc, tx) = (rtc.handle, rtc.pc.clone(), self.events.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(level) = rtc::audio_level(pc).await {
                    let _ = tx.clone().try_send(Event::Level(h, level));
                }
            });
        }
    }

    fn on_level(&mut self, h: u32, level: Option<f64>) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let speaking = level.is_some_and(|l| l >= SPEAKING_LEVEL) && rtc.media.mic;
        if speaking == rtc.speaking {
            return;
        }
        rtc.speaking = speaking;
        if let Some(c) = &rtc.conn {
            self.dispatch.emit(RoomAction::Speaking {
                id: c.peer.to_string(),
                speaking,
            });
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
            self.banned.insert(peer.peer.clone());
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
        }));
    }

    fn leave(&mut self) {
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
