//! Files in the room: our offers and whom we serve them to, peers' offers and our downloads.
//!
//! An offer is a control message; a download is a request answered with a connection of its
//! own (see [`crate::transfer`]). The engine decides: caps per peer, refusals, view-once
//! rules, where a file is saved (memory or disk), when a transfer has stalled, and what the
//! user sees. The shell owns the file handles, the sinks and the transfer tasks, and reports
//! their progress and end.

use super::{ConnHandle, Event, Output, Room};
use crate::filename::{inline_kind, sanitize_path, InlineKind};
use crate::ids::PeerId;
use crate::mesh::PEER_SILENCE_MS;
use crate::stream::{StreamHeader, StreamPlan, RECORD_SIZE};
use crate::transfer::{
    FileId, Refusal, Resume, Stop, IDLE_TIMEOUT_MS, MAX_INCOMING_PER_PEER, MAX_INLINE_BYTES,
    MAX_MIME_BYTES, MAX_OFFERS_PER_PEER, MAX_OFFER_NAME_BYTES, MAX_OUTGOING_PER_PEER,
    MAX_VIEW_ONCE_BYTES,
};
use crate::vecmap::VecMap;
use crate::wire::{is_bidi_control, PeerMessage};

/// The type given to a download's sink when the file is not shown inline: opaque bytes.
pub const OPAQUE_MIME: &str = "application/octet-stream";

/// A declared type made safe to show (it is shown, never trusted): no control or bidi
/// characters, at most [`MAX_MIME_BYTES`] bytes.
pub fn clean_mime(mime: &str) -> String {
    let mut out = String::new();
    for c in mime
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
    {
        if out.len() + c.len_utf8() > MAX_MIME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cap_bytes(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Where a file card stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// We offer it.
    Sending,
    /// Offered to us; not downloaded (yet).
    Offered,
    Transferring,
    /// Every record opened and the file is saved.
    Verified,
    Failed(String),
    Cancelled,
    /// The sender withdrew it (or left) before we had it.
    Withdrawn,
}

/// A file card changed.
#[derive(Debug, Clone, PartialEq)]
pub enum FileEvent {
    /// A file appears in the log (`owner: None`: ours).
    Offered {
        owner: Option<PeerId>,
        id: FileId,
        /// Sanitized for display and saving.
        name: String,
        size: u64,
        mime: String,
        sender: String,
        view_once: bool,
        inline: InlineKind,
        at_ms: u64,
    },
    Status {
        owner: Option<PeerId>,
        id: FileId,
        state: FileState,
    },
    /// `peer` received our view-once file `id`: it will not be served to them again.
    Opened {
        id: FileId,
        peer: PeerId,
        peer_name: String,
        size: u64,
    },
}

/// How a download is to be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPlan {
    /// Sanitized.
    pub name: String,
    pub size: u64,
    /// The type the sink may declare: a vetted inline type, or [`OPAQUE_MIME`].
    pub mime: String,
    /// Kept in memory (inline media up to [`MAX_INLINE_BYTES`], view-once files) rather than
    /// written to disk.
    pub in_memory: bool,
}

/// A transfer step for the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutput {
    /// Open where download (`peer`, `id`) goes (a save dialog may come up); report with
    /// [`Room::handle_sink_ready`].
    OpenSink {
        peer: PeerId,
        id: FileId,
        plan: DownloadPlan,
    },
    /// Drop download (`peer`, `id`)'s sink: nothing of it is kept.
    AbortSink { peer: PeerId, id: FileId },
    /// Serve our file `id` to `peer`: make the transfer's own connection and its offer
    /// (report it with [`Room::handle_link_sdp`]) and send the file under `header`.
    StartUpload {
        peer: PeerId,
        id: FileId,
        header: StreamHeader,
        /// The receiver holds the start of the file: continue after it if ours starts with
        /// the same bytes (the sender sends a start frame first; see [`crate::transfer::Resume`]).
        resume: Option<Resume>,
    },
    /// The sender's connection for download (`peer`, `id`) arrived: answer it (report with
    /// [`Room::handle_link_sdp`]) and receive `size` bytes into the sink.
    StartDownload {
        peer: PeerId,
        id: FileId,
        size: u64,
        offer_sdp: String,
    },
    /// Apply the receiver's answer to upload (`peer`, `id`)'s connection.
    ApplyLinkAnswer {
        peer: PeerId,
        id: FileId,
        answer_sdp: String,
    },
    /// End a running transfer; its task then reports its end.
    Stop {
        peer: PeerId,
        id: FileId,
        upload: bool,
        why: Stop,
    },
    /// Our offer `id` is gone: drop the file handle.
    Forget { id: FileId },
}

/// Why a file command was not carried out (shown to the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{name} is too large to send as view once (the limit is {} MiB).", MAX_VIEW_ONCE_BYTES >> 20)]
    TooLargeForViewOnce { name: String },
    #[error("At most {MAX_INCOMING_PER_PEER} downloads from one person at a time.")]
    TooManyDownloads,
    #[error("That file is no longer offered.")]
    NotOffered,
    /// Peers keep at most [`MAX_OFFERS_PER_PEER`] offers from one sender: more would be
    /// dropped on their side without a trace.
    #[error("{name} was not offered: at most {MAX_OFFERS_PER_PEER} files can be offered at once. Withdraw some, or send a large folder as one archive.")]
    TooManyOffers { name: String },
}

/// How a download ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEnd {
    Verified,
    Cancelled,
    Withdrawn,
    Failed(String),
}

struct MyOffer {
    /// As the browser gave it (capped): every receiver sanitizes what it is sent, so our own
    /// checks never stand in for theirs.
    name: String,
    size: u64,
    mime: String,
    view_once: bool,
    /// View-once: the peers that already received it.
    served: Vec<PeerId>,
}

struct TheirOffer {
    name: String,
    size: u64,
    mime: String,
    view_once: bool,
    inline: InlineKind,
}

enum Download {
    /// The sink is being opened (a save dialog may be up).
    Preparing,
    /// Asked the sender; waiting for its connection.
    Requested {
        since_ms: u64,
    },
    Running(Running),
}

/// A transfer under way, either way.
struct Running {
    /// When it last moved a record.
    progress_ms: u64,
    /// Told to stop; its end report is still to come.
    stopping: bool,
}

impl Running {
    fn since(now: u64) -> Self {
        Self {
            progress_ms: now,
            stopping: false,
        }
    }
}

type Key = (PeerId, FileId);

#[derive(Default)]
pub(super) struct Files {
    mine: VecMap<FileId, MyOffer>,
    theirs: VecMap<Key, TheirOffer>,
    uploads: VecMap<Key, Running>,
    downloads: VecMap<Key, Download>,
}

impl Files {
    /// When a transfer may have stalled.
    pub(super) fn next_timeout(&self) -> Option<u64> {
        let idle = |t: u64| t.saturating_add(IDLE_TIMEOUT_MS + 1);
        let ups = self
            .uploads
            .values()
            .filter(|u| !u.stopping)
            .map(|u| idle(u.progress_ms));
        let downs = self.downloads.values().filter_map(|d| match d {
            Download::Requested { since_ms } => Some(idle(*since_ms)),
            Download::Running(r) if !r.stopping => Some(idle(r.progress_ms)),
            _ => None,
        });
        ups.chain(downs).min()
    }

    /// Transfers running (for the shell's activity reports and the tests).
    pub(super) fn running(&self) -> usize {
        self.uploads.len() + self.downloads.len()
    }

    /// The running transfer (`peer`, `id`) in one direction.
    fn running_mut(&mut self, key: &Key, upload: bool) -> Option<&mut Running> {
        if upload {
            self.uploads.get_mut(key)
        } else {
            match self.downloads.get_mut(key) {
                Some(Download::Running(r)) => Some(r),
                _ => None,
            }
        }
    }
}

/// The file ids `peer` has in `map`.
fn ids_of<V>(map: &VecMap<Key, V>, peer: &PeerId) -> Vec<FileId> {
    map.keys()
        .filter(|(p, _)| p == peer)
        .map(|(_, id)| *id)
        .collect()
}

fn offer_message(id: &FileId, o: &MyOffer) -> PeerMessage {
    PeerMessage::FileOffer {
        id: *id,
        name: o.name.clone(),
        size: o.size,
        mime: o.mime.clone(),
        view_once: o.view_once,
    }
}

impl Room {
    fn file_event(&mut self, e: FileEvent) {
        self.event(Event::File(e));
    }

    fn file_status(&mut self, owner: Option<&PeerId>, id: FileId, state: FileState) {
        self.file_event(FileEvent::Status {
            owner: owner.cloned(),
            id,
            state,
        });
    }

    fn file_out(&mut self, o: FileOutput) {
        self.push(Output::File(o));
    }

    // ---- our offers ----

    /// Offers a file to everyone in the room (and to whoever joins while it is offered).
    pub fn offer_file(
        &mut self,
        name: &str,
        size: u64,
        mime: &str,
        view_once: bool,
        now: u64,
    ) -> Result<FileId, FileError> {
        let raw_name = cap_bytes(name, MAX_OFFER_NAME_BYTES);
        let shown = sanitize_path(&raw_name);
        if view_once && size > MAX_VIEW_ONCE_BYTES {
            return Err(FileError::TooLargeForViewOnce { name: shown });
        }
        if self.files.mine.len() >= MAX_OFFERS_PER_PEER {
            return Err(FileError::TooManyOffers { name: shown });
        }
        let id = FileId(self.rng.bytes());
        let mime = clean_mime(mime);
        let offer = MyOffer {
            name: raw_name,
            size,
            mime: mime.clone(),
            view_once,
            served: Vec::new(),
        };
        self.broadcast(&offer_message(&id, &offer));
        self.files.mine.insert(id, offer);
        let inline = inline_kind(&shown, &mime);
        self.file_event(FileEvent::Offered {
            owner: None,
            id,
            name: shown,
            size,
            mime,
            sender: self.name.clone(),
            view_once,
            inline,
            at_ms: now,
        });
        Ok(id)
    }

    /// We no longer offer `id`: peers are told, its transfers stop.
    pub fn withdraw_file(&mut self, id: FileId) {
        if self.files.mine.remove(&id).is_none() {
            return;
        }
        self.broadcast(&PeerMessage::FileWithdraw { id });
        let running: Vec<PeerId> = self
            .files
            .uploads
            .iter_mut()
            .filter(|((_, fid), _)| *fid == id)
            .map(|((p, _), u)| {
                u.stopping = true;
                p.clone()
            })
            .collect();
        for peer in running {
            self.file_out(FileOutput::Stop {
                peer,
                id,
                upload: true,
                why: Stop::Withdrawn,
            });
        }
        self.file_out(FileOutput::Forget { id });
        self.file_status(None, id, FileState::Withdrawn);
    }

    /// A newly connected peer sees what we offer.
    pub(super) fn send_offers_to(&mut self, h: ConnHandle) {
        let msgs: Vec<PeerMessage> = self
            .files
            .mine
            .iter()
            .map(|(id, o)| offer_message(id, o))
            .collect();
        for m in msgs {
            self.send_to(h, &m);
        }
    }

    // ---- downloads ----

    /// The user asked for `peer`'s file `id`: the shell opens a sink ([`FileOutput::OpenSink`]).
    pub fn download(&mut self, peer: &PeerId, id: FileId) -> Result<(), FileError> {
        let key = (peer.clone(), id);
        let Some(offer) = self.files.theirs.get(&key) else {
            return Err(FileError::NotOffered);
        };
        if self.files.downloads.contains_key(&key) {
            return Ok(());
        }
        let running = self
            .files
            .downloads
            .keys()
            .filter(|(p, _)| p == peer)
            .count();
        if running >= MAX_INCOMING_PER_PEER {
            return Err(FileError::TooManyDownloads);
        }
        let inline = offer.inline != InlineKind::None;
        let plan = DownloadPlan {
            name: offer.name.clone(),
            size: offer.size,
            // Only a vetted inline type is given to the sink; anything else is opaque bytes.
            mime: if inline {
                offer.mime.clone()
            } else {
                OPAQUE_MIME.to_owned()
            },
            in_memory: offer.view_once || (inline && offer.size <= MAX_INLINE_BYTES),
        };
        self.files.downloads.insert(key, Download::Preparing);
        self.file_status(Some(peer), id, FileState::Transferring);
        self.file_out(FileOutput::OpenSink {
            peer: peer.clone(),
            id,
            plan,
        });
        Ok(())
    }

    /// The sink of download (`peer`, `id`) is open (`Ok(true)`), was dismissed by the user
    /// (`Ok(false)`), or could not be opened.
    pub fn handle_sink_ready(
        &mut self,
        peer: &PeerId,
        id: FileId,
        result: Result<bool, String>,
        now: u64,
    ) {
        self.handle_sink_ready_from(peer, id, result, None, now);
    }

    /// As [`Room::handle_sink_ready`], for a sink that already holds the start of the file
    /// (`resume`): the request asks the sender to continue after it.
    pub fn handle_sink_ready_from(
        &mut self,
        peer: &PeerId,
        id: FileId,
        result: Result<bool, String>,
        resume: Option<Resume>,
        now: u64,
    ) {
        let key = (peer.clone(), id);
        if !matches!(self.files.downloads.get(&key), Some(Download::Preparing)) {
            // Cancelled or withdrawn meanwhile.
            if result == Ok(true) {
                self.file_out(FileOutput::AbortSink {
                    peer: peer.clone(),
                    id,
                });
            }
            return;
        }
        match result {
            Ok(true) => {
                let Some(h) = self.open_conn(peer) else {
                    self.files.downloads.remove(&key);
                    self.file_out(FileOutput::AbortSink {
                        peer: peer.clone(),
                        id,
                    });
                    let why = "The sender is no longer here.".to_owned();
                    return self.file_status(Some(peer), id, FileState::Failed(why));
                };
                self.send_to(h, &PeerMessage::FileRequest { id, resume });
                self.files
                    .downloads
                    .insert(key, Download::Requested { since_ms: now });
            }
            Ok(false) => {
                self.files.downloads.remove(&key);
                self.file_status(Some(peer), id, FileState::Offered);
            }
            Err(e) => {
                self.files.downloads.remove(&key);
                let why = format!("The file could not be saved: {e}");
                self.file_status(Some(peer), id, FileState::Failed(why));
            }
        }
    }

    /// The user cancelled download (`peer`, `id`).
    pub fn cancel_download(&mut self, peer: &PeerId, id: FileId) {
        let key = (peer.clone(), id);
        match self.files.downloads.get_mut(&key) {
            Some(Download::Running(r)) => {
                // Its task reports the end; the entry stays until then.
                r.stopping = true;
                return self.file_out(FileOutput::Stop {
                    peer: peer.clone(),
                    id,
                    upload: false,
                    why: Stop::Cancelled,
                });
            }
            Some(Download::Requested { .. }) => self.file_out(FileOutput::AbortSink {
                peer: peer.clone(),
                id,
            }),
            Some(Download::Preparing) => {}
            None => return,
        }
        self.files.downloads.remove(&key);
        self.file_status(Some(peer), id, FileState::Cancelled);
    }

    /// Download (`peer`, `id`)'s task ended.
    pub fn handle_download_ended(&mut self, peer: &PeerId, id: FileId, end: DownloadEnd) {
        if self.files.downloads.remove(&(peer.clone(), id)).is_none() {
            return;
        }
        let state = match end {
            DownloadEnd::Verified => FileState::Verified,
            DownloadEnd::Cancelled => FileState::Cancelled,
            DownloadEnd::Withdrawn => FileState::Withdrawn,
            DownloadEnd::Failed(why) => FileState::Failed(why),
        };
        self.file_status(Some(peer), id, state);
    }

    // ---- uploads ----

    /// Upload (`peer`, `id`)'s task ended; `verified` when the receiver confirmed the file.
    pub fn handle_upload_ended(&mut self, peer: &PeerId, id: FileId, verified: bool) {
        if self.files.uploads.remove(&(peer.clone(), id)).is_none() {
            return;
        }
        let peer_name = self.peer_name(peer);
        let Some(offer) = self.files.mine.get_mut(&id) else {
            return;
        };
        if offer.view_once && verified {
            offer.served.push(peer.clone());
            let size = offer.size;
            self.file_event(FileEvent::Opened {
                id,
                peer: peer.clone(),
                peer_name,
                size,
            });
        }
    }

    /// The freshest facts about transfer (`peer`, `id`): when it last moved a record, and
    /// when the peer last sent anything on its channel (proof that it is alive even while a
    /// saturated link delays its heartbeats). The shell reports them before a timeout.
    pub fn handle_transfer_activity(
        &mut self,
        peer: &PeerId,
        id: FileId,
        upload: bool,
        progress_ms: u64,
        heard_ms: u64,
    ) {
        if let Some(r) = self.files.running_mut(&(peer.clone(), id), upload) {
            r.progress_ms = r.progress_ms.max(progress_ms);
            self.mesh.on_heard(peer, heard_ms);
        }
    }

    /// Transfers the shell should report activity for.
    pub fn running_transfers(&self) -> Vec<(PeerId, FileId, bool)> {
        let ups = self
            .files
            .uploads
            .keys()
            .map(|(p, id)| (p.clone(), *id, true));
        let downs = self
            .files
            .downloads
            .iter()
            .filter(|(_, d)| matches!(d, Download::Running(_)))
            .map(|((p, id), _)| (p.clone(), *id, false));
        ups.chain(downs).collect()
    }

    /// The transfer's own connection has our offer or answer ready: it goes to the peer.
    pub fn handle_link_sdp(
        &mut self,
        peer: &PeerId,
        id: FileId,
        offer: bool,
        sdp: Result<String, String>,
    ) {
        let key = (peer.clone(), id);
        let live = if offer {
            self.files.uploads.contains_key(&key)
        } else {
            matches!(self.files.downloads.get(&key), Some(Download::Running(_)))
        };
        if !live {
            return; // ended meanwhile
        }
        let h = self.open_conn(peer);
        let why = match (sdp, h) {
            (Ok(sdp), Some(h)) => {
                return self.send_to(h, &PeerMessage::FileLink { id, offer, sdp })
            }
            (Ok(_), None) => Stop::PeerLeft,
            (Err(_), _) => Stop::Unreachable,
        };
        self.stop_transfer(peer, id, offer, why);
    }

    fn stop_transfer(&mut self, peer: &PeerId, id: FileId, upload: bool, why: Stop) {
        if let Some(r) = self.files.running_mut(&(peer.clone(), id), upload) {
            r.stopping = true;
            self.file_out(FileOutput::Stop {
                peer: peer.clone(),
                id,
                upload,
                why,
            });
        }
    }

    // ---- peer messages ----

    pub(super) fn on_file_message(
        &mut self,
        h: ConnHandle,
        peer: &PeerId,
        msg: PeerMessage,
        now: u64,
    ) {
        match msg {
            PeerMessage::FileOffer {
                id,
                name,
                size,
                mime,
                view_once,
            } => self.on_their_offer(h, peer, id, &name, size, &mime, view_once, now),
            PeerMessage::FileWithdraw { id } => {
                let key = (peer.clone(), id);
                if self.files.theirs.remove(&key).is_none() {
                    return;
                }
                match self.files.downloads.get(&key) {
                    Some(Download::Running(_)) => {
                        // Its task reports the end; the entry stays until then.
                        self.stop_transfer(peer, id, false, Stop::Withdrawn);
                    }
                    Some(Download::Requested { .. }) => {
                        self.files.downloads.remove(&key);
                        self.file_out(FileOutput::AbortSink {
                            peer: peer.clone(),
                            id,
                        });
                    }
                    _ => {}
                }
                if !self.files.downloads.contains_key(&key) {
                    self.file_status(Some(peer), id, FileState::Withdrawn);
                }
            }
            PeerMessage::FileRequest { id, resume } => {
                self.on_file_request(h, peer, id, resume, now)
            }
            PeerMessage::FileLink {
                id,
                offer: true,
                sdp,
            } => {
                let key = (peer.clone(), id);
                if !matches!(
                    self.files.downloads.get(&key),
                    Some(Download::Requested { .. })
                ) {
                    return; // not asked for, or already under way
                }
                let Some(size) = self.files.theirs.get(&key).map(|o| o.size) else {
                    self.files.downloads.remove(&key);
                    return self.file_out(FileOutput::AbortSink {
                        peer: peer.clone(),
                        id,
                    });
                };
                self.files
                    .downloads
                    .insert(key, Download::Running(Running::since(now)));
                self.file_out(FileOutput::StartDownload {
                    peer: peer.clone(),
                    id,
                    size,
                    offer_sdp: sdp,
                });
            }
            PeerMessage::FileLink {
                id,
                offer: false,
                sdp,
            } if self.files.uploads.contains_key(&(peer.clone(), id)) => {
                self.file_out(FileOutput::ApplyLinkAnswer {
                    peer: peer.clone(),
                    id,
                    answer_sdp: sdp,
                });
            }
            PeerMessage::FileRefused { id, reason } => {
                let key = (peer.clone(), id);
                if let Some(Download::Requested { .. }) = self.files.downloads.get(&key) {
                    self.files.downloads.remove(&key);
                    self.file_out(FileOutput::AbortSink {
                        peer: peer.clone(),
                        id,
                    });
                    let state = FileState::Failed(reason.describe().into());
                    self.file_status(Some(peer), id, state);
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_their_offer(
        &mut self,
        h: ConnHandle,
        peer: &PeerId,
        id: FileId,
        name: &str,
        size: u64,
        mime: &str,
        view_once: bool,
        now: u64,
    ) {
        // A view-once file is received into memory: one over the limit is refused on arrival
        // rather than buffered, and counts against its sender like any invalid message.
        if view_once && size > MAX_VIEW_ONCE_BYTES {
            return self.bad_frame(h);
        }
        let key = (peer.clone(), id);
        if self.files.theirs.contains_key(&key) {
            return;
        }
        let count = self.files.theirs.keys().filter(|(p, _)| p == peer).count();
        if count >= MAX_OFFERS_PER_PEER {
            // An honest sender cannot get here: it is refused at its own end, and its offers
            // and withdrawals reach us in order. One that does is flooding: dropping it at
            // once spares us (and the chat of everyone else) the rest of its flood.
            return self.ban(
                h,
                &format!("offered more than {MAX_OFFERS_PER_PEER} files at once"),
            );
        }
        let name = sanitize_path(name);
        let mime = clean_mime(mime);
        let inline = inline_kind(&name, &mime);
        let sender = self.peer_name(peer);
        self.file_event(FileEvent::Offered {
            owner: Some(peer.clone()),
            id,
            name: name.clone(),
            size,
            mime: mime.clone(),
            sender,
            view_once,
            inline,
            at_ms: now,
        });
        self.files.theirs.insert(
            key,
            TheirOffer {
                name,
                size,
                mime,
                view_once,
                inline,
            },
        );
    }

    fn on_file_request(
        &mut self,
        h: ConnHandle,
        peer: &PeerId,
        id: FileId,
        resume: Option<Resume>,
        now: u64,
    ) {
        let refusal = match self.files.mine.get(&id) {
            None => Some(Refusal::NotOffered),
            Some(o) if o.view_once && o.served.contains(peer) => Some(Refusal::AlreadyViewed),
            Some(_) => {
                let key = (peer.clone(), id);
                let running = self.files.uploads.keys().filter(|(p, _)| p == peer).count();
                (running >= MAX_OUTGOING_PER_PEER || self.files.uploads.contains_key(&key))
                    .then_some(Refusal::Busy)
            }
        };
        if let Some(reason) = refusal {
            return self.send_to(h, &PeerMessage::FileRefused { id, reason });
        }
        let Some(size) = self.files.mine.get(&id).map(|o| o.size) else {
            return;
        };
        let header = StreamHeader {
            record_size: RECORD_SIZE,
            total_size: size,
            salt: self.rng.bytes(),
            nonce_prefix: self.rng.bytes(),
        };
        if StreamPlan::new(header).is_err() {
            let reason = Refusal::NotOffered;
            return self.send_to(h, &PeerMessage::FileRefused { id, reason });
        }
        self.files
            .uploads
            .insert((peer.clone(), id), Running::since(now));
        // Only a file of known size resumes; a pipe is read once.
        let resume = resume.filter(|_| size != crate::stream::UNKNOWN_SIZE);
        self.file_out(FileOutput::StartUpload {
            peer: peer.clone(),
            id,
            header,
            resume,
        });
    }

    // ---- housekeeping ----

    /// A peer is gone: its offers go, and transfers with it stop.
    pub(super) fn files_peer_gone(&mut self, peer: &PeerId) {
        for id in ids_of(&self.files.uploads, peer) {
            self.stop_transfer(peer, id, true, Stop::PeerLeft);
        }
        let downs: Vec<(FileId, bool)> = self
            .files
            .downloads
            .iter()
            .filter(|((p, _), _)| p == peer)
            .map(|((_, id), d)| (*id, matches!(d, Download::Running(_))))
            .collect();
        for (id, running) in downs {
            if running {
                self.stop_transfer(peer, id, false, Stop::PeerLeft);
                continue;
            }
            if let Some(Download::Requested { .. }) =
                self.files.downloads.remove(&(peer.clone(), id))
            {
                self.file_out(FileOutput::AbortSink {
                    peer: peer.clone(),
                    id,
                });
            }
            let why = "The sender left before the transfer started.".to_owned();
            self.file_status(Some(peer), id, FileState::Failed(why));
        }
        for id in ids_of(&self.files.theirs, peer) {
            self.files.theirs.remove(&(peer.clone(), id));
            if !self.files.downloads.contains_key(&(peer.clone(), id)) {
                self.file_status(Some(peer), id, FileState::Withdrawn);
            }
        }
    }

    /// Stops transfers that made no progress for too long.
    pub(super) fn files_timeout(&mut self, now: u64) {
        let idle = |t: u64| now.saturating_sub(t) > IDLE_TIMEOUT_MS;
        let ups: Vec<Key> = self
            .files
            .uploads
            .iter()
            .filter(|(_, u)| !u.stopping && idle(u.progress_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for (peer, id) in ups {
            self.stop_transfer(&peer, id, true, Stop::Idle);
        }
        let mut stalled = Vec::new();
        let mut unstarted = Vec::new();
        for (k, d) in self.files.downloads.iter() {
            match d {
                Download::Running(r) if !r.stopping && idle(r.progress_ms) => {
                    stalled.push(k.clone())
                }
                Download::Requested { since_ms } if idle(*since_ms) => unstarted.push(k.clone()),
                _ => {}
            }
        }
        for (peer, id) in stalled {
            self.stop_transfer(&peer, id, false, Stop::Idle);
        }
        for (peer, id) in unstarted {
            self.files.downloads.remove(&(peer.clone(), id));
            self.file_out(FileOutput::AbortSink {
                peer: peer.clone(),
                id,
            });
            let why = "The sender did not start the transfer.".to_owned();
            self.file_status(Some(&peer), id, FileState::Failed(why));
        }
    }

    /// Leaving: every transfer stops, every sink is dropped, every offer is forgotten.
    pub(super) fn files_leave(&mut self) {
        let ups: Vec<Key> = self.files.uploads.keys().cloned().collect();
        for (peer, id) in ups {
            self.stop_transfer(&peer, id, true, Stop::PeerLeft);
        }
        let downs: Vec<(Key, bool)> = self
            .files
            .downloads
            .iter()
            .map(|(k, d)| (k.clone(), matches!(d, Download::Requested { .. })))
            .collect();
        for ((peer, id), requested) in downs {
            if requested {
                self.file_out(FileOutput::AbortSink { peer, id });
            } else {
                self.stop_transfer(&peer, id, false, Stop::Cancelled);
            }
        }
        self.files.downloads.clear();
        self.files.uploads.clear();
        let mine: Vec<FileId> = self.files.mine.keys().copied().collect();
        for id in mine {
            self.file_out(FileOutput::Forget { id });
        }
        self.files.mine.clear();
        self.files.theirs.clear();
    }

    /// Files state the engine holds (for tests that check nothing leaks).
    pub fn file_entries(&self) -> usize {
        self.files.mine.len() + self.files.theirs.len() + self.files.running()
    }
}

/// Silence of a transfer's peer that the mesh tolerates is the heartbeat timeout; a transfer
/// stalls only after much longer. Both are checked here so the two never contradict.
const _: () = assert!(IDLE_TIMEOUT_MS > PEER_SILENCE_MS);
