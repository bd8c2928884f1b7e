//! The room's UI state: plain data, changed only by [`RoomAction`]s through a pure reducer.
//! No JS objects live here; the driver owns those and reports what happened as actions.

use std::rc::Rc;
use yew::Reducible;

/// Messages kept on screen. Older ones scroll away for good: nothing is stored, and a flooding
/// peer cannot grow the page's memory without bound.
pub const MAX_MESSAGES: usize = 2_000;
/// Notices kept (joins, departures, dropped peers, tracker trouble).
pub const MAX_NOTICES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Deriving keys and loading the configuration.
    Starting,
    /// Announced to trackers; peers may come and go.
    Ready,
    /// Cannot run (no trackers configured, no WebRTC, …), with the reason.
    Failed(String),
}

/// How a peer's connection travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Unknown,
    Direct,
    Relayed,
}

/// Which devices a media toggle or picker is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Mic,
    Camera,
    Speaker,
}

impl DeviceKind {
    pub fn noun(self) -> &'static str {
        match self {
            DeviceKind::Mic => "Microphone",
            DeviceKind::Camera => "Camera",
            DeviceKind::Speaker => "Speaker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub kind: DeviceKind,
    pub id: String,
    pub label: String,
}

/// What a participant (us or a peer) sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaFlags {
    pub mic: bool,
    pub camera: bool,
    pub screen: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    pub id: String,
    pub name: String,
    pub path: Path,
    pub media: MediaFlags,
    pub speaking: bool,
    /// Bumped whenever a media stream of this peer arrives or changes, so tiles re-attach.
    pub streams_gen: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Sender's peer id, `None` for our own messages.
    pub from: Option<String>,
    pub name: String,
    pub at_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerView {
    pub url: String,
    pub status: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    pub phase: Phase,
    pub peers: Vec<PeerView>,
    pub messages: Vec<ChatLine>,
    pub trackers: Vec<TrackerView>,
    pub notices: Vec<String>,
    /// Malformed frames received and dropped, all peers together.
    pub bad_frames: u64,
    /// What we send.
    pub local: MediaFlags,
    /// Bumped whenever our own streams change.
    pub local_gen: u32,
    pub devices: Vec<DeviceView>,
    /// Chosen audio output for every tile (`None`: the system default).
    pub speaker: Option<String>,
    /// The last capture error, in words.
    pub media_error: Option<String>,
}

impl Default for RoomState {
    fn default() -> Self {
        Self {
            phase: Phase::Starting,
            peers: Vec::new(),
            messages: Vec::new(),
            trackers: Vec::new(),
            notices: Vec::new(),
            bad_frames: 0,
            local: MediaFlags::default(),
            local_gen: 0,
            devices: Vec::new(),
            speaker: None,
            media_error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAction {
    Phase(Phase),
    PeerUp { id: String, name: String },
    PeerName { id: String, name: String },
    PeerPath { id: String, path: Path },
    PeerDown { id: String, reason: Option<String> },
    Chat(ChatLine),
    Trackers(Vec<TrackerView>),
    BadFrame,
    Notice(String),
    PeerMedia { id: String, media: MediaFlags },
    PeerStreams { id: String },
    Speaking { id: String, speaking: bool },
    LocalMedia(MediaFlags),
    Devices(Vec<DeviceView>),
    Speaker(Option<String>),
    MediaError(Option<String>),
}

impl Reducible for RoomState {
    type Action = RoomAction;

    fn reduce(self: Rc<Self>, action: RoomAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            RoomAction::Phase(p) => s.phase = p,
            RoomAction::PeerUp { id, name } => {
                if !s.peers.iter().any(|p| p.id == id) {
                    s.peers.push(PeerView {
                        id,
                        name,
                        path: Path::Unknown,
                        media: MediaFlags::default(),
                        speaking: false,
                        streams_gen: 0,
                    });
                }
            }
            RoomAction::PeerName { id, name } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.name = name;
                }
            }
            RoomAction::PeerPath { id, path } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.path = path;
                }
            }
            RoomAction::PeerDown { id, reason } => {
                if let Some(i) = s.peers.iter().position(|p| p.id == id) {
                    let gone = s.peers.remove(i);
                    let note = match reason {
                        Some(r) => format!("{} was disconnected: {r}", gone.name),
                        None => format!("{} left", gone.name),
                    };
                    push_capped(&mut s.notices, note, MAX_NOTICES);
                }
            }
            RoomAction::Chat(line) => push_capped(&mut s.messages, line, MAX_MESSAGES),
            RoomAction::Trackers(t) => s.trackers = t,
            RoomAction::BadFrame => s.bad_frames += 1,
            RoomAction::Notice(n) => push_capped(&mut s.notices, n, MAX_NOTICES),
            RoomAction::PeerMedia { id, media } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.media = media;
                    if !media.mic {
                        p.speaking = false;
                    }
                }
            }
            RoomAction::PeerStreams { id } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.streams_gen = p.streams_gen.wrapping_add(1);
                }
            }
            RoomAction::Speaking { id, speaking } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.speaking = speaking;
                }
            }
            RoomAction::LocalMedia(m) => {
                s.local = m;
                s.local_gen = s.local_gen.wrapping_add(1);
            }
            RoomAction::Devices(d) => s.devices = d,
            RoomAction::Speaker(id) => s.speaker = id,
            RoomAction::MediaError(e) => s.media_error = e,
        }
        Rc::new(s)
    }
}

fn push_capped<T>(v: &mut Vec<T>, item: T, cap: usize) {
    v.push(item);
    if v.len() > cap {
        let excess = v.len() - cap;
        v.drain(..excess);
    }
}
