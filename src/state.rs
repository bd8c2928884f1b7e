//! The room's UI state: plain data, changed only by [`RoomAction`]s through a pure reducer.
//! No JS objects live here; the driver owns those and reports what happened as actions.

use std::rc::Rc;

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
    /// Writing a message (that may be for everyone or for us alone).
    pub typing: bool,
    /// Bumped whenever a media stream of this peer arrives or changes, so tiles re-attach.
    pub streams_gen: u32,
    /// The short fingerprint of its identity key (empty until its hello is checked).
    pub fingerprint: String,
    /// Verified by comparing codes, now or as a remembered device.
    pub verified: bool,
    /// The label of our remembered device this peer is.
    pub device: Option<String>,
}

/// A newcomer waiting at the door of our locked room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequestView {
    pub peer: String,
    pub name: String,
    pub fingerprint: String,
}

/// As a newcomer to a locked room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Waiting,
    Denied,
}

/// A verification on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyView {
    pub peer: String,
    pub name: String,
    pub stage: VerifyStage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyStage {
    /// We asked; the codes come once the peer answers.
    Waiting,
    /// The codes to compare: (emoji, its word) seven times, and the number.
    Codes {
        emoji: Vec<(&'static str, &'static str)>,
        number: String,
        /// We said they match and wait for the peer's answer.
        answered: bool,
    },
    /// It failed: the reason, shown loudly, with the offer to disconnect.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Place in the room's log, set by the reducer: the line's key when rendered.
    pub seq: u64,
    /// Sender's peer id, `None` for our own messages.
    pub from: Option<String>,
    pub name: String,
    pub at_ms: u64,
    pub text: String,
    /// A file offer shown at this place in the log (its details are in `RoomState::files`).
    pub file: Option<FileKey>,
    /// A direct message: the name of the other peer (the sender, or whom we wrote to).
    pub private_with: Option<String>,
    /// The message's id in its sender's sequence (0 for file and announcement lines).
    pub id: u64,
    /// When it vanishes (the room's timer when it was sent, or a revealed view-once message).
    pub expires_at_ms: Option<u64>,
    pub view_once: bool,
    /// Our view-once message: who has seen it.
    pub viewed_by: Vec<String>,
    /// A line the room says (a timer change), not a message.
    pub announce: bool,
}

impl ChatLine {
    /// A message line (`from: None`: ours); the other fields start empty.
    pub fn message(from: Option<String>, name: String, at_ms: u64, text: String) -> Self {
        Self {
            seq: 0,
            from,
            name,
            at_ms,
            text,
            file: None,
            private_with: None,
            id: 0,
            expires_at_ms: None,
            view_once: false,
            viewed_by: Vec::new(),
            announce: false,
        }
    }
}

/// Identifies a file offer: who offers it (`None`: we do) and its id (hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub owner: Option<String>,
    pub id: String,
}

/// How a received file may be shown in the chat (decided by `hush_core::filename`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inline {
    Image,
    Audio,
    Video,
    None,
}

/// Where a file offer stands, from this peer's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// We offer it (see `uploads` for each receiver).
    Sending,
    /// Offered to us; not downloaded (yet).
    Offered,
    Transferring,
    /// Every record opened: the STREAM authentication vouches for every byte.
    Verified,
    Failed(String),
    Cancelled,
    /// The sender withdrew it (or left) before we had it.
    Withdrawn,
    /// A view-once file we opened and closed.
    Viewed,
}

impl FileStatus {
    /// The `data-state` the page shows (and tests read).
    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Sending => "sending",
            FileStatus::Offered => "offered",
            FileStatus::Transferring => "transferring",
            FileStatus::Verified => "verified",
            FileStatus::Failed(_) => "failed",
            FileStatus::Cancelled => "cancelled",
            FileStatus::Withdrawn => "withdrawn",
            FileStatus::Viewed => "viewed",
        }
    }
}

/// Bytes through so far and the current speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub bytes: u64,
    pub bytes_per_sec: Option<f64>,
}

/// One receiver of a file we offer.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadView {
    pub peer_name: String,
    pub state: UploadState,
    pub progress: Progress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    Sending,
    Verified,
    /// A view-once file the receiver has opened.
    Opened,
    Cancelled,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileView {
    /// Sanitized for display and saving.
    pub name: String,
    pub size: u64,
    /// The declared type (display only; never trusted for rendering on its own).
    pub mime: String,
    pub sender: String,
    pub view_once: bool,
    pub inline: Inline,
    pub status: FileStatus,
    pub progress: Option<Progress>,
    /// `blob:` URL of a file received into memory (inline media, view-once files).
    pub url: Option<String>,
    /// Our offers: each receiver, by peer id.
    pub uploads: Vec<(String, UploadView)>,
    /// The sender no longer offers it, after it had ended here (verified, viewed or failed):
    /// the outcome stays on the card, only a new download is no longer possible.
    pub withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerView {
    pub url: String,
    pub status: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomState {
    pub phase: Phase,
    pub peers: Vec<PeerView>,
    /// Shared, so that copying the state for an update (a progress tick) does not copy the log.
    pub messages: Rc<Vec<Rc<ChatLine>>>,
    pub trackers: Vec<TrackerView>,
    pub notices: Vec<String>,
    /// Malformed frames received and dropped, all peers together.
    pub bad_frames: u64,
    /// What we send.
    pub local: MediaFlags,
    /// Bumped whenever our own streams change.
    pub local_gen: u32,
    pub devices: Vec<DeviceView>,
    /// File offers in the log, ours and others'.
    pub files: hush_core::vecmap::VecMap<FileKey, FileView>,
    /// Chosen audio output for every tile (`None`: the system default).
    pub speaker: Option<String>,
    /// The last capture error, in words.
    pub media_error: Option<String>,
    /// Lines ever added to the log (numbers the next one).
    pub lines_added: u64,
    /// The peer (id) the composer writes to privately; `None`: everyone.
    pub private_to: Option<String>,
    /// The room's vanishing-message timer (ms; `None`: off).
    pub timer: Option<u64>,
    /// Our identity's short fingerprint.
    pub my_fingerprint: String,
    /// The verification dialog, when one is open.
    pub verify: Option<VerifyView>,
    /// Newcomers must be let in.
    pub locked: bool,
    /// Newcomers waiting for a decision, oldest first.
    pub join_requests: Vec<JoinRequestView>,
    /// We wait at a locked room's door, or were turned away.
    pub door: Option<Door>,
}

impl Default for RoomState {
    fn default() -> Self {
        Self {
            phase: Phase::Starting,
            peers: Vec::new(),
            messages: Rc::default(),
            trackers: Vec::new(),
            notices: Vec::new(),
            bad_frames: 0,
            local: MediaFlags::default(),
            local_gen: 0,
            devices: Vec::new(),
            files: Default::default(),
            speaker: None,
            media_error: None,
            lines_added: 0,
            private_to: None,
            timer: None,
            my_fingerprint: String::new(),
            verify: None,
            locked: false,
            join_requests: Vec::new(),
            door: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoomAction {
    /// Several actions at once, applied in order: one state copy and one render for all.
    Batch(Vec<RoomAction>),
    Phase(Phase),
    PeerUp {
        id: String,
        name: String,
    },
    PeerName {
        id: String,
        name: String,
    },
    PeerTrust {
        id: String,
        fingerprint: String,
        verified: bool,
        device: Option<String>,
    },
    MyFingerprint(String),
    /// The room was locked or unlocked; `line` says so in the log.
    Locked {
        locked: bool,
        line: String,
        at_ms: u64,
    },
    JoinRequest(JoinRequestView),
    /// The newcomer (by peer id) left before anyone decided.
    JoinWithdrawn(String),
    /// A newcomer (by fingerprint) was let in or not; `line` says so in the log.
    JoinDecided {
        fingerprint: String,
        line: String,
        at_ms: u64,
    },
    Door(Option<Door>),
    /// The verification dialog opens, changes or closes (`None`).
    Verify(Option<VerifyView>),
    /// A verification ended; `Err`: why it failed.
    VerifyEnd {
        id: String,
        result: Result<(), String>,
    },
    PeerPath {
        id: String,
        path: Path,
    },
    PeerDown {
        id: String,
        reason: Option<String>,
    },
    Chat(ChatLine),
    Typing {
        id: String,
        typing: bool,
    },
    /// The composer writes to this peer alone (`None`: to everyone).
    PrivateTo(Option<String>),
    /// A message's time is up: it leaves the log (and memory).
    Vanish {
        from: Option<String>,
        id: u64,
    },
    /// The room's timer changed; `line` announces it in the log.
    Timer {
        ttl_ms: Option<u64>,
        line: String,
        at_ms: u64,
    },
    /// `name` saw our view-once message `id`.
    Viewed {
        id: u64,
        name: String,
    },
    Trackers(Vec<TrackerView>),
    BadFrame,
    Notice(String),
    PeerMedia {
        id: String,
        media: MediaFlags,
    },
    PeerStreams {
        id: String,
    },
    Speaking {
        id: String,
        speaking: bool,
    },
    LocalMedia(MediaFlags),
    Devices(Vec<DeviceView>),
    Speaker(Option<String>),
    MediaError(Option<String>),
    /// A file offer appears in the log (ours or a peer's).
    FileOffered {
        key: FileKey,
        file: FileView,
        at_ms: u64,
    },
    FileStatus {
        key: FileKey,
        status: FileStatus,
    },
    FileProgress {
        key: FileKey,
        progress: Progress,
    },
    /// A file received into memory can be shown (`None`: its URL was revoked).
    FileUrl {
        key: FileKey,
        url: Option<String>,
    },
    /// One receiver of our offer `id`.
    Upload {
        id: String,
        peer: String,
        upload: UploadView,
    },
}

#[cfg(target_arch = "wasm32")]
impl yew::Reducible for RoomState {
    type Action = RoomAction;

    fn reduce(self: Rc<Self>, action: RoomAction) -> Rc<Self> {
        Rc::new(self.apply(action))
    }
}

impl RoomState {
    /// The state after `action`: the pure reducer, tested on the host.
    pub fn apply(&self, action: RoomAction) -> RoomState {
        let mut s = self.clone();
        s.update(action);
        s
    }

    /// Applies `action` in place (a batch applies each of its actions in order).
    fn update(&mut self, action: RoomAction) {
        let s = self;
        match action {
            RoomAction::Batch(actions) => {
                for a in actions {
                    s.update(a);
                }
            }
            RoomAction::Phase(p) => s.phase = p,
            RoomAction::PeerUp { id, name } => {
                if !s.peers.iter().any(|p| p.id == id) {
                    s.peers.push(PeerView {
                        id,
                        name,
                        path: Path::Unknown,
                        media: MediaFlags::default(),
                        speaking: false,
                        typing: false,
                        streams_gen: 0,
                        fingerprint: String::new(),
                        verified: false,
                        device: None,
                    });
                }
            }
            RoomAction::PeerName { id, name } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.name = name;
                }
            }
            RoomAction::PeerTrust {
                id,
                fingerprint,
                verified,
                device,
            } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    if p.verified && !verified {
                        let note = format!("{} is no longer verified", p.name);
                        push_capped(&mut s.notices, note, MAX_NOTICES);
                    }
                    p.fingerprint = fingerprint;
                    p.verified = verified;
                    p.device = device;
                }
            }
            RoomAction::MyFingerprint(fp) => s.my_fingerprint = fp,
            RoomAction::Locked {
                locked,
                line,
                at_ms,
            } => {
                s.locked = locked;
                if !locked {
                    s.join_requests.clear();
                }
                let mut l = ChatLine::message(None, String::new(), at_ms, line);
                l.announce = true;
                push_line(s, l);
            }
            RoomAction::JoinRequest(r) => {
                if !s.join_requests.iter().any(|q| q.peer == r.peer) {
                    s.join_requests.push(r);
                }
            }
            RoomAction::JoinDecided {
                fingerprint,
                line,
                at_ms,
            } => {
                s.join_requests.retain(|q| q.fingerprint != fingerprint);
                let mut l = ChatLine::message(None, String::new(), at_ms, line);
                l.announce = true;
                push_line(s, l);
            }
            RoomAction::Door(d) => s.door = d,
            RoomAction::JoinWithdrawn(peer) => s.join_requests.retain(|q| q.peer != peer),
            RoomAction::Verify(v) => s.verify = v,
            RoomAction::VerifyEnd { id, result } => {
                let open = s.verify.as_ref().is_some_and(|v| v.peer == id);
                match result {
                    Ok(()) if open => s.verify = None,
                    Ok(()) => {}
                    Err(reason) => {
                        let name = s
                            .peers
                            .iter()
                            .find(|p| p.id == id)
                            .map_or_else(|| "A peer".to_owned(), |p| p.name.clone());
                        s.verify = Some(VerifyView {
                            peer: id,
                            name,
                            stage: VerifyStage::Failed(reason),
                        });
                    }
                }
            }
            RoomAction::PeerPath { id, path } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.path = path;
                }
            }
            RoomAction::PeerDown { id, reason } => {
                if s.private_to.as_ref() == Some(&id) {
                    s.private_to = None;
                }
                if s.verify
                    .as_ref()
                    .is_some_and(|v| v.peer == id && !matches!(v.stage, VerifyStage::Failed(_)))
                {
                    s.verify = None;
                }
                if let Some(i) = s.peers.iter().position(|p| p.id == id) {
                    let gone = s.peers.remove(i);
                    let note = match reason {
                        Some(r) => format!("{} was disconnected: {r}", gone.name),
                        None => format!("{} left", gone.name),
                    };
                    push_capped(&mut s.notices, note, MAX_NOTICES);
                }
            }
            RoomAction::Chat(line) => push_line(s, line),
            RoomAction::Typing { id, typing } => {
                if let Some(p) = s.peers.iter_mut().find(|p| p.id == id) {
                    p.typing = typing;
                }
            }
            RoomAction::Vanish { from, id } => {
                let messages = Rc::make_mut(&mut s.messages);
                messages.retain(|m| m.file.is_some() || m.announce || m.id != id || m.from != from);
            }
            RoomAction::Timer {
                ttl_ms,
                line,
                at_ms,
            } => {
                s.timer = ttl_ms;
                let mut l = ChatLine::message(None, String::new(), at_ms, line);
                l.announce = true;
                push_line(s, l);
            }
            RoomAction::Viewed { id, name } => {
                let messages = Rc::make_mut(&mut s.messages);
                if let Some(m) = messages
                    .iter_mut()
                    .find(|m| m.from.is_none() && m.view_once && m.id == id)
                {
                    let m = Rc::make_mut(m);
                    if !m.viewed_by.contains(&name) {
                        m.viewed_by.push(name);
                    }
                }
            }
            RoomAction::PrivateTo(id) => {
                s.private_to = id.filter(|id| s.peers.iter().any(|p| p.id == *id));
            }
            RoomAction::Trackers(t) => s.trackers = t,
            RoomAction::BadFrame => s.bad_frames += 1,
            RoomAction::Notice(n) => {
                push_capped(&mut s.notices, n, MAX_NOTICES);
            }
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
            RoomAction::FileOffered { key, file, at_ms } => {
                let mut line =
                    ChatLine::message(key.owner.clone(), file.sender.clone(), at_ms, String::new());
                line.file = Some(key.clone());
                s.files.insert(key, file);
                push_line(s, line);
            }
            RoomAction::FileStatus { key, status } => {
                if let Some(f) = s.files.get_mut(&key) {
                    if status == FileStatus::Withdrawn
                        && matches!(
                            f.status,
                            FileStatus::Verified | FileStatus::Viewed | FileStatus::Failed(_)
                        )
                    {
                        f.withdrawn = true;
                        return;
                    }
                    if matches!(status, FileStatus::Transferring) {
                        f.progress = Some(Progress {
                            bytes: 0,
                            bytes_per_sec: None,
                        });
                    }
                    f.status = status;
                }
            }
            RoomAction::FileProgress { key, progress } => {
                if let Some(f) = s.files.get_mut(&key) {
                    f.progress = Some(progress);
                }
            }
            RoomAction::FileUrl { key, url } => {
                if let Some(f) = s.files.get_mut(&key) {
                    f.url = url;
                }
            }
            RoomAction::Upload { id, peer, upload } => {
                let key = FileKey { owner: None, id };
                if let Some(f) = s.files.get_mut(&key) {
                    match f.uploads.iter_mut().find(|(p, _)| *p == peer) {
                        Some((_, u)) => *u = upload,
                        None => f.uploads.push((peer, upload)),
                    }
                }
            }
        }
    }
}

/// Appends to the shared chat log (copying the list only if an older state still holds it).
/// A file whose line leaves the log goes with it: looked up by the lines that left, since
/// checking every file against the whole log at each offer made a flood of offers quadratic.
fn push_line(s: &mut RoomState, mut line: ChatLine) {
    line.seq = s.lines_added;
    s.lines_added += 1;
    let messages = Rc::make_mut(&mut s.messages);
    for gone in push_capped(messages, Rc::new(line), MAX_MESSAGES) {
        if let Some(k) = &gone.file {
            s.files.remove(k);
        }
    }
}

/// Appends `item`, keeping the newest `cap`; yields the oldest that no longer fit.
fn push_capped<T>(v: &mut Vec<T>, item: T, cap: usize) -> std::vec::Drain<'_, T> {
    v.push(item);
    let excess = v.len().saturating_sub(cap);
    v.drain(..excess)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> RoomAction {
        RoomAction::Chat(ChatLine::message(
            Some("p".into()),
            "Bob".into(),
            1,
            text.into(),
        ))
    }

    fn file(status: FileStatus) -> FileView {
        FileView {
            name: "a.txt".into(),
            size: 3,
            mime: "text/plain".into(),
            sender: "Bob".into(),
            view_once: false,
            inline: Inline::None,
            status,
            progress: None,
            url: None,
            uploads: Vec::new(),
            withdrawn: false,
        }
    }

    /// Invariant: a batch gives the state its actions give one by one, in order.
    #[test]
    fn a_batch_equals_its_actions_in_order() {
        let actions = || {
            vec![
                chat("one"),
                RoomAction::Notice("n".into()),
                chat("two"),
                RoomAction::Timer {
                    ttl_ms: Some(30_000),
                    line: "Bob set messages to vanish after 30 s".into(),
                    at_ms: 2,
                },
            ]
        };
        let one_by_one = actions()
            .into_iter()
            .fold(RoomState::default(), |s, a| s.apply(a));
        let batched = RoomState::default().apply(RoomAction::Batch(actions()));
        let texts = |s: &RoomState| {
            s.messages
                .iter()
                .map(|m| m.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&batched), texts(&one_by_one));
        assert_eq!(batched.notices, one_by_one.notices);
        assert_eq!(batched.timer, one_by_one.timer);
        assert_eq!(batched.lines_added, one_by_one.lines_added);
    }

    /// Invariant: the log keeps at most MAX_MESSAGES lines, the newest.
    #[test]
    fn the_log_is_capped_and_keeps_the_newest() {
        let mut s = RoomState::default();
        for i in 0..MAX_MESSAGES + 5 {
            s = s.apply(chat(&i.to_string()));
        }
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.messages[0].text, "5");
        assert_eq!(s.messages[0].seq, 5, "lines are numbered as they come");
    }

    /// Invariant: an older state's log is not changed by a newer message (lines are shared,
    /// not copied, and never mutated in place).
    #[test]
    fn states_share_lines_without_changing_each_other() {
        let a = RoomState::default().apply(chat("one"));
        let b = a.apply(chat("two"));
        assert_eq!(a.messages.len(), 1);
        assert_eq!(b.messages.len(), 2);
        assert!(Rc::ptr_eq(&a.messages[0], &b.messages[0]));
    }

    #[test]
    fn peers_come_and_go_with_a_notice() {
        let s = RoomState::default().apply(RoomAction::PeerUp {
            id: "p".into(),
            name: "Bob".into(),
        });
        let s = s.apply(RoomAction::PeerUp {
            id: "p".into(),
            name: "Bob".into(),
        });
        assert_eq!(s.peers.len(), 1, "listed once");
        let s = s.apply(RoomAction::PeerDown {
            id: "p".into(),
            reason: Some("sent malformed data".into()),
        });
        assert!(s.peers.is_empty());
        assert_eq!(s.notices, ["Bob was disconnected: sent malformed data"]);
    }

    /// Invariant: the composer writes privately only to a listed peer, and goes back to
    /// everyone when that peer leaves; a peer that leaves stops showing as typing.
    #[test]
    fn a_private_target_is_a_listed_peer_and_goes_with_it() {
        let up = |id: &str| RoomAction::PeerUp {
            id: id.into(),
            name: id.to_uppercase(),
        };
        let s = RoomState::default().apply(up("p")).apply(up("q"));
        let s = s.apply(RoomAction::PrivateTo(Some("nobody".into())));
        assert_eq!(s.private_to, None, "not a listed peer");
        let s = s.apply(RoomAction::PrivateTo(Some("p".into())));
        assert_eq!(s.private_to.as_deref(), Some("p"));
        let s = s.apply(RoomAction::Typing {
            id: "p".into(),
            typing: true,
        });
        assert!(s.peers[0].typing);
        let s = s.apply(RoomAction::PeerDown {
            id: "q".into(),
            reason: None,
        });
        assert_eq!(s.private_to.as_deref(), Some("p"), "another peer left");
        let s = s.apply(RoomAction::PeerDown {
            id: "p".into(),
            reason: None,
        });
        assert_eq!(s.private_to, None);
        assert!(s.peers.iter().all(|p| !p.typing));
    }

    /// Invariant: a vanishing message leaves the log, and only that one (same id from
    /// another sender, or our own, stays); views of our view-once message are listed once.
    #[test]
    fn vanished_lines_go_and_views_are_listed() {
        let line = |from: Option<&str>, id: u64, once: bool| {
            let mut l = ChatLine::message(from.map(Into::into), "X".into(), 1, format!("{id}"));
            l.id = id;
            l.view_once = once;
            RoomAction::Chat(l)
        };
        let s = RoomState::default()
            .apply(line(Some("p"), 1, false))
            .apply(line(Some("q"), 1, false))
            .apply(line(None, 1, true));
        let s = s.apply(RoomAction::Vanish {
            from: Some("p".into()),
            id: 1,
        });
        let left: Vec<Option<String>> = s.messages.iter().map(|m| m.from.clone()).collect();
        assert_eq!(left, [Some("q".to_owned()), None]);
        let viewed = RoomAction::Viewed {
            id: 1,
            name: "Bob".into(),
        };
        let s = s.apply(viewed.clone()).apply(viewed);
        assert_eq!(s.messages[1].viewed_by, ["Bob"]);
        let s = s.apply(RoomAction::Timer {
            ttl_ms: Some(30_000),
            line: "Bob set messages to vanish after 30 s".into(),
            at_ms: 2,
        });
        assert_eq!(s.timer, Some(30_000));
        assert!(s.messages.last().is_some_and(|m| m.announce));
    }

    /// Invariant: a finished download keeps its outcome when the sender withdraws or leaves.
    #[test]
    fn a_verified_file_keeps_its_outcome_after_a_withdraw() {
        let key = FileKey {
            owner: Some("p".into()),
            id: "00".into(),
        };
        let s = RoomState::default().apply(RoomAction::FileOffered {
            key: key.clone(),
            file: file(FileStatus::Offered),
            at_ms: 1,
        });
        let s = s.apply(RoomAction::FileStatus {
            key: key.clone(),
            status: FileStatus::Verified,
        });
        let s = s.apply(RoomAction::FileStatus {
            key: key.clone(),
            status: FileStatus::Withdrawn,
        });
        let f = s.files.get(&key).expect("still shown");
        assert_eq!(f.status, FileStatus::Verified);
        assert!(f.withdrawn);
        assert_eq!(s.messages.len(), 1, "the offer has its line in the log");
    }

    /// Invariant: a file is kept exactly while its line is in the log: lines capped out of the
    /// log take their files with them, the others keep theirs.
    #[test]
    fn files_leave_with_their_log_lines() {
        let key = |i: usize| FileKey {
            owner: Some("p".into()),
            id: format!("{i:04}"),
        };
        let mut s = RoomState::default();
        for i in 0..10 {
            s = s.apply(RoomAction::FileOffered {
                key: key(i),
                file: file(FileStatus::Offered),
                at_ms: 1,
            });
        }
        for i in 0..MAX_MESSAGES - 5 {
            s = s.apply(chat(&i.to_string()));
        }
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.files.len(), 5);
        for i in 0..10 {
            let in_log = s.messages.iter().any(|m| m.file.as_ref() == Some(&key(i)));
            assert_eq!(s.files.get(&key(i)).is_some(), in_log, "file {i}");
            assert_eq!(in_log, i >= 5, "file {i}");
        }
    }
}
