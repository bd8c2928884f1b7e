//! Files in the room: our offers and whom we serve them to, peers' offers and our downloads.
//!
//! An offer is a control message; a download is a request answered with a connection and data
//! channel of its own (see `hush_core::transfer`), run by a task in `transfer`. This module decides: caps per
//! peer, where a file is saved (`sink`), view-once rules, and what the UI shows.

use super::js::{now_ms, random_bytes, JsError};
use super::rtc;
use super::sink::{Sink, SinkKind};
use super::transfer::{self, Control, FileChannel, Outcome, Reporter, Stop};
use super::{warn, Driver, Event};
use crate::state::{FileKey, FileStatus, FileView, Inline, RoomAction, UploadState, UploadView};
use crate::vecmap::VecMap;
use hush_core::filename::{inline_kind, sanitize_file_name, InlineKind};
use hush_core::ids::PeerId;
use hush_core::stream::{file_key, StreamHeader, StreamPlan, RECORD_SIZE};
use hush_core::transfer::{
    channel_label, FileId, Incoming, Refusal, IDLE_TIMEOUT_MS, MAX_INCOMING_PER_PEER,
    MAX_INLINE_BYTES, MAX_OFFERS_PER_PEER, MAX_OFFER_NAME_BYTES, MAX_OUTGOING_PER_PEER,
    MAX_VIEW_ONCE_BYTES,
};
use hush_core::wire::{is_bidi_control, PeerMessage};

/// A file we offer.
pub(super) struct MyOffer {
    file: web_sys::File,
    name: String,
    size: u64,
    mime: String,
    view_once: bool,
    /// View-once: the peers that already received it.
    /// (`name` is the name as offered, unsanitized; the UI shows the sanitized one.)
    served: Vec<PeerId>,
}

/// A peer's offer as we show it.
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
    /// Asked the sender; waiting for its channel.
    Requested {
        sink: Sink,
        since_ms: u64,
    },
    Running(Control),
}

#[derive(Default)]
pub(super) struct Files {
    mine: VecMap<FileId, MyOffer>,
    theirs: VecMap<(PeerId, FileId), TheirOffer>,
    uploads: VecMap<(PeerId, FileId), Control>,
    downloads: VecMap<(PeerId, FileId), Download>,
    /// `blob:` URLs we created, revoked when closed or on leaving.
    urls: VecMap<FileKey, String>,
}

fn mine_key(id: &FileId) -> FileKey {
    FileKey {
        owner: None,
        id: id.to_hex(),
    }
}

fn their_key(peer: &PeerId, id: &FileId) -> FileKey {
    FileKey {
        owner: Some(peer.to_string()),
        id: id.to_hex(),
    }
}

fn to_inline(k: InlineKind) -> Inline {
    match k {
        InlineKind::Image => Inline::Image,
        InlineKind::Audio => Inline::Audio,
        InlineKind::Video => Inline::Video,
        InlineKind::None => Inline::None,
    }
}

/// A declared type made safe to show (it is shown, never trusted).
fn clean_mime(mime: &str) -> String {
    mime.chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(64)
        .collect()
}

impl Driver {
    /// Offers files to everyone in the room (and to whoever joins while they are offered).
    pub(super) fn offer_files(&mut self, files: Vec<web_sys::File>, view_once: bool) {
        for file in files {
            let Ok(bytes) = random_bytes() else { return };
            let id = FileId(bytes);
            // The name goes out as the browser gave it (capped): every receiver sanitizes what
            // it is sent, so a peer's own checks never stand in for ours.
            let raw_name = cap_bytes(&file.name(), MAX_OFFER_NAME_BYTES);
            let name = sanitize_file_name(&raw_name);
            let size = file.size() as u64;
            let mime = clean_mime(&file.type_());
            if view_once && size > MAX_VIEW_ONCE_BYTES {
                self.dispatch.emit(RoomAction::Notice(format!(
                    "{name} is too large to send as view once (the limit is {} MiB).",
                    MAX_VIEW_ONCE_BYTES >> 20
                )));
                continue;
            }
            let offer = MyOffer {
                file,
                name: raw_name,
                size,
                mime: mime.clone(),
                view_once,
                served: Vec::new(),
            };
            self.broadcast(&offer_message(&id, &offer));
            self.files.mine.insert(id, offer);
            let inline = to_inline(inline_kind(&name, &mime));
            self.dispatch.emit(RoomAction::FileOffered {
                key: mine_key(&id),
                file: FileView {
                    name,
                    size,
                    mime,
                    sender: self.name.clone(),
                    view_once,
                    inline,
                    status: FileStatus::Sending,
                    progress: None,
                    url: None,
                    uploads: Vec::new(),
                    withdrawn: false,
                },
                at_ms: now_ms(),
            });
        }
    }

    /// A newly connected peer sees what we offer.
    pub(super) fn send_offers_to(&mut self, h: u32) {
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

    pub(super) fn withdraw(&mut self, id: FileId) {
        if self.files.mine.remove(&id).is_none() {
            return;
        }
        self.broadcast(&PeerMessage::FileWithdraw { id });
        for ((_, fid), c) in self.files.uploads.iter() {
            if *fid == id {
                c.stop(Stop::Withdrawn);
            }
        }
        self.dispatch.emit(RoomAction::FileStatus {
            key: mine_key(&id),
            status: FileStatus::Withdrawn,
        });
    }

    pub(super) fn on_file_message(&mut self, h: u32, peer: &PeerId, msg: PeerMessage) {
        match msg {
            PeerMessage::FileOffer {
                id,
                name,
                size,
                mime,
                view_once,
            } => {
                let key = (peer.clone(), id);
                if self.files.theirs.contains_key(&key) {
                    return;
                }
                let count = self.files.theirs.keys().filter(|(p, _)| p == peer).count();
                if count >= MAX_OFFERS_PER_PEER {
                    return;
                }
                let name = sanitize_file_name(&name);
                let mime = clean_mime(&mime);
                let inline = inline_kind(&name, &mime);
                let sender = self.peer_name(peer);
                self.dispatch.emit(RoomAction::FileOffered {
                    key: their_key(peer, &id),
                    file: FileView {
                        name: name.clone(),
                        size,
                        mime: mime.clone(),
                        sender,
                        view_once,
                        inline: to_inline(inline),
                        status: FileStatus::Offered,
                        progress: None,
                        url: None,
                        uploads: Vec::new(),
                        withdrawn: false,
                    },
                    at_ms: now_ms(),
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
            PeerMessage::FileWithdraw { id } => {
                let key = (peer.clone(), id);
                if self.files.theirs.remove(&key).is_none() {
                    return;
                }
                if let Some(Download::Running(c)) = self.files.downloads.get(&key) {
                    // Its task reports the end; the entry stays until then.
                    c.stop(Stop::Withdrawn);
                } else if let Some(Download::Requested { sink, .. }) =
                    self.files.downloads.remove(&key)
                {
                    sink.abort();
                }
                if !self.files.downloads.contains_key(&(peer.clone(), id)) {
                    self.set_status(&their_key(peer, &id), FileStatus::Withdrawn);
                }
            }
            PeerMessage::FileRequest { id } => self.on_file_request(h, peer, id),
            PeerMessage::FileLink {
                id,
                offer: true,
                sdp,
            } => self.on_link_offer(peer, id, sdp),
            PeerMessage::FileLink {
                id,
                offer: false,
                sdp,
            } => self.on_link_answer(peer, id, sdp),
            PeerMessage::FileRefused { id, reason } => {
                let key = (peer.clone(), id);
                if let Some(Download::Requested { sink, .. }) = self.files.downloads.remove(&key) {
                    sink.abort();
                    let status = FileStatus::Failed(reason.describe().into());
                    self.set_status(&their_key(peer, &id), status);
                }
            }
            _ => {}
        }
    }

    fn peer_name(&self, peer: &PeerId) -> String {
        self.rtcs
            .values()
            .find(|r| r.conn.as_ref().is_some_and(|c| &c.peer == peer))
            .and_then(|r| r.name.clone())
            .unwrap_or_else(|| "Guest".into())
    }

    fn set_status(&self, key: &FileKey, status: FileStatus) {
        self.dispatch.emit(RoomAction::FileStatus {
            key: key.clone(),
            status,
        });
    }

    fn on_file_request(&mut self, h: u32, peer: &PeerId, id: FileId) {
        let refuse = |d: &mut Driver, reason: Refusal| {
            d.send_to(h, &PeerMessage::FileRefused { id, reason });
        };
        let Some(offer) = self.files.mine.get(&id) else {
            return refuse(self, Refusal::NotOffered);
        };
        if offer.view_once && offer.served.contains(peer) {
            return refuse(self, Refusal::AlreadyViewed);
        }
        let key = (peer.clone(), id);
        let running = self.files.uploads.keys().filter(|(p, _)| p == peer).count();
        if running >= MAX_OUTGOING_PER_PEER || self.files.uploads.contains_key(&key) {
            return refuse(self, Refusal::Busy);
        }
        let (Ok(salt), Ok(nonce_prefix)) = (random_bytes(), random_bytes()) else {
            return;
        };
        let header = StreamHeader {
            record_size: RECORD_SIZE,
            total_size: offer.size,
            salt,
            nonce_prefix,
        };
        let plan = match StreamPlan::new(header) {
            Ok(p) => p,
            Err(e) => {
                warn(&format!("cannot send a file: {e}"));
                return refuse(self, Refusal::NotOffered);
            }
        };
        let record_key = file_key(&self.keys.file_root, &id.to_hex(), &salt);
        let file = offer.file.clone();
        let total = offer.size;
        let (pc, dc) = match rtc::file_link(&self.rtc_config, &channel_label(&id)) {
            Ok(link) => link,
            Err(e) => {
                warn(&format!("cannot make a connection for a file: {e}"));
                return refuse(self, Refusal::Busy);
            }
        };
        let ch = FileChannel::wrap(pc.clone(), dc);
        let control = ch.control();
        self.post_link_sdp(peer, id, true, rtc::make_offer(pc, self.ice_kinds));
        let report = Reporter::new(
            mine_key(&id),
            peer.clone(),
            id,
            self.peer_name(peer),
            total,
            self.dispatch.clone(),
            self.events.clone(),
            control.clone(),
        );
        self.files.uploads.insert(key, control);
        wasm_bindgen_futures::spawn_local(transfer::upload(ch, file, plan, record_key, report));
    }

    pub(super) fn on_upload_ended(&mut self, peer: PeerId, id: FileId, outcome: Outcome) {
        self.files.uploads.remove(&(peer.clone(), id));
        let peer_name = self.peer_name(&peer);
        let Some(offer) = self.files.mine.get_mut(&id) else {
            return;
        };
        if offer.view_once && matches!(outcome, Outcome::Verified(_)) {
            offer.served.push(peer.clone());
            let upload = UploadView {
                peer_name,
                state: UploadState::Opened,
                progress: crate::state::Progress {
                    bytes: offer.size,
                    bytes_per_sec: None,
                },
            };
            self.dispatch.emit(RoomAction::Upload {
                id: id.to_hex(),
                peer: peer.to_string(),
                upload,
            });
        }
    }

    /// The user asked for a peer's file.
    pub(super) fn download(&mut self, key: FileKey) {
        let Some((peer, id)) = parse_key(&key) else {
            return;
        };
        let Some(offer) = self.files.theirs.get(&(peer.clone(), id)) else {
            return;
        };
        if self.files.downloads.contains_key(&(peer.clone(), id)) {
            return;
        }
        let running = self
            .files
            .downloads
            .keys()
            .filter(|(p, _)| *p == peer)
            .count();
        if running >= MAX_INCOMING_PER_PEER {
            self.dispatch.emit(RoomAction::Notice(format!(
                "At most {MAX_INCOMING_PER_PEER} downloads from one person at a time."
            )));
            return;
        }
        let in_memory =
            offer.view_once || (offer.inline != InlineKind::None && offer.size <= MAX_INLINE_BYTES);
        let kind = if in_memory {
            SinkKind::Memory
        } else {
            SinkKind::Disk
        };
        // Only a vetted inline type is given to the Blob; anything else is opaque bytes.
        let mime = if offer.inline != InlineKind::None {
            offer.mime.clone()
        } else {
            "application/octet-stream".to_owned()
        };
        let (name, size) = (offer.name.clone(), offer.size);
        let Ok(token_bytes) = random_bytes::<16>() else {
            return;
        };
        let token: String = token_bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.files
            .downloads
            .insert((peer.clone(), id), Download::Preparing);
        self.set_status(&key, FileStatus::Transferring);
        let mut tx = self.events.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = Sink::open(kind, &token, &name, size, &mime)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.try_send(Event::SinkReady(peer, id, result));
        });
    }

    pub(super) fn on_sink_ready(
        &mut self,
        peer: PeerId,
        id: FileId,
        result: Result<Option<Sink>, String>,
    ) {
        let key = (peer.clone(), id);
        if !matches!(self.files.downloads.get(&key), Some(Download::Preparing)) {
            // Cancelled or withdrawn meanwhile.
            if let Ok(Some(sink)) = result {
                sink.abort();
            }
            return;
        }
        let fkey = their_key(&peer, &id);
        match result {
            Ok(Some(sink)) => {
                let Some(h) = self.open_handle(&peer) else {
                    sink.abort();
                    self.files.downloads.remove(&key);
                    self.set_status(
                        &fkey,
                        FileStatus::Failed("The sender is no longer here.".into()),
                    );
                    return;
                };
                self.send_to(h, &PeerMessage::FileRequest { id });
                self.files.downloads.insert(
                    key,
                    Download::Requested {
                        sink,
                        since_ms: now_ms(),
                    },
                );
            }
            Ok(None) => {
                self.files.downloads.remove(&key);
                self.set_status(&fkey, FileStatus::Offered);
            }
            Err(e) => {
                self.files.downloads.remove(&key);
                self.set_status(
                    &fkey,
                    FileStatus::Failed(format!("The file could not be saved: {e}")),
                );
            }
        }
    }

    /// The sender's offer of a transfer's own connection: the file we asked for arrives on it.
    fn on_link_offer(&mut self, peer: &PeerId, id: FileId, sdp: String) {
        let key = (peer.clone(), id);
        if !matches!(
            self.files.downloads.get(&key),
            Some(Download::Requested { .. })
        ) {
            return; // not asked for, or already under way
        }
        let Some(Download::Requested { sink, .. }) = self.files.downloads.remove(&key) else {
            return;
        };
        let Some(offer) = self.files.theirs.get(&key) else {
            sink.abort();
            return;
        };
        let fkey = their_key(peer, &id);
        let (pc, dc) = match rtc::file_link(&self.rtc_config, &channel_label(&id)) {
            Ok(link) => link,
            Err(e) => {
                sink.abort();
                let why = format!("No connection for the transfer could be made: {e}");
                self.set_status(&fkey, FileStatus::Failed(why));
                return;
            }
        };
        let ch = FileChannel::wrap(pc.clone(), dc);
        let incoming = Incoming::new(id, offer.size);
        let control = ch.control();
        let report = Reporter::new(
            fkey,
            peer.clone(),
            id,
            self.peer_name(peer),
            offer.size,
            self.dispatch.clone(),
            self.events.clone(),
            control.clone(),
        );
        self.files.downloads.insert(key, Download::Running(control));
        let root = self.keys.file_root.clone();
        wasm_bindgen_futures::spawn_local(transfer::download(ch, incoming, root, sink, report));
        self.post_link_sdp(peer, id, false, rtc::make_answer(pc, sdp, self.ice_kinds));
    }

    /// Once `sdp` (our offer or answer for a transfer's connection) is ready, hands it to
    /// [`Driver::on_link_sdp`].
    fn post_link_sdp(
        &self,
        peer: &PeerId,
        id: FileId,
        offer: bool,
        sdp: impl std::future::Future<Output = Result<String, JsError>> + 'static,
    ) {
        let (mut tx, peer) = (self.events.clone(), peer.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let sdp = sdp.await;
            let _ = tx.try_send(Event::LinkSdp {
                peer,
                id,
                offer,
                sdp,
            });
        });
    }

    /// The receiver's answer for a transfer we serve.
    fn on_link_answer(&mut self, peer: &PeerId, id: FileId, sdp: String) {
        let Some(control) = self.files.uploads.get(&(peer.clone(), id)) else {
            return;
        };
        let (pc, control) = (control.pc.clone(), control.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = rtc::accept_answer(pc, sdp).await {
                warn(&format!("a file connection failed: {e}"));
                control.stop(Stop::Unreachable);
            }
        });
    }

    /// Our side of a transfer's connection is ready to go to the peer.
    pub(super) fn on_link_sdp(
        &mut self,
        peer: PeerId,
        id: FileId,
        offer: bool,
        sdp: Result<String, JsError>,
    ) {
        let key = (peer.clone(), id);
        let control = if offer {
            self.files.uploads.get(&key).cloned()
        } else {
            match self.files.downloads.get(&key) {
                Some(Download::Running(c)) => Some(c.clone()),
                _ => None,
            }
        };
        let Some(control) = control else {
            return; // ended meanwhile
        };
        let h = self.open_handle(&peer);
        match (sdp, h) {
            (Ok(sdp), Some(h)) => self.send_to(h, &PeerMessage::FileLink { id, offer, sdp }),
            (Ok(_), None) => control.stop(Stop::PeerLeft),
            (Err(e), _) => {
                warn(&format!("cannot make a connection for a file: {e}"));
                control.stop(Stop::Unreachable);
            }
        }
    }

    /// The handle of the open connection to `peer`, if any.
    fn open_handle(&self, peer: &PeerId) -> Option<u32> {
        self.rtcs
            .values()
            .find(|r| r.open && r.conn.as_ref().is_some_and(|c| &c.peer == peer))
            .map(|r| r.handle)
    }

    pub(super) fn on_download_ended(&mut self, peer: PeerId, id: FileId, outcome: Outcome) {
        self.files.downloads.remove(&(peer.clone(), id));
        let key = their_key(&peer, &id);
        let status = match outcome {
            Outcome::Verified(url) => {
                if let Some(url) = url {
                    self.files.urls.insert(key.clone(), url.clone());
                    self.dispatch.emit(RoomAction::FileUrl {
                        key: key.clone(),
                        url: Some(url),
                    });
                }
                FileStatus::Verified
            }
            Outcome::Cancelled => FileStatus::Cancelled,
            Outcome::Withdrawn => FileStatus::Withdrawn,
            Outcome::Failed(why) => FileStatus::Failed(why),
        };
        self.set_status(&key, status);
    }

    /// The user cancelled a download.
    pub(super) fn cancel(&mut self, key: FileKey) {
        let Some((peer, id)) = parse_key(&key) else {
            return;
        };
        let slot = (peer, id);
        if let Some(Download::Running(c)) = self.files.downloads.get(&slot) {
            // Its task reports the end; the entry stays until then.
            c.stop(Stop::Cancelled);
            return;
        }
        match self.files.downloads.remove(&slot) {
            Some(Download::Requested { sink, .. }) => sink.abort(),
            Some(Download::Preparing) => {}
            Some(Download::Running(_)) | None => return,
        }
        self.set_status(&key, FileStatus::Cancelled);
    }

    /// A view-once file was looked at and closed: it is gone from this page.
    pub(super) fn close_view(&mut self, key: FileKey) {
        if let Some(url) = self.files.urls.remove(&key) {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
        self.dispatch.emit(RoomAction::FileUrl {
            key: key.clone(),
            url: None,
        });
        self.set_status(&key, FileStatus::Viewed);
    }

    /// A peer is gone: its offers go, and transfers with it stop.
    pub(super) fn files_peer_gone(&mut self, peer: &PeerId) {
        for ((p, _), c) in self
            .files
            .uploads
            .iter()
            .chain(self.files.downloads.iter().filter_map(|(k, d)| match d {
                Download::Running(c) => Some((k, c)),
                _ => None,
            }))
        {
            if p == peer {
                c.stop(Stop::PeerLeft);
            }
        }
        let waiting: Vec<(PeerId, FileId)> = self
            .files
            .downloads
            .iter()
            .filter(|((p, _), d)| p == peer && !matches!(d, Download::Running(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in waiting {
            if let Some(Download::Requested { sink, .. }) = self.files.downloads.remove(&k) {
                sink.abort();
            }
            self.set_status(
                &their_key(&k.0, &k.1),
                FileStatus::Failed("The sender left before the transfer started.".into()),
            );
        }
        let offers: Vec<FileId> = self
            .files
            .theirs
            .keys()
            .filter(|(p, _)| p == peer)
            .map(|(_, id)| *id)
            .collect();
        for id in offers {
            self.files.theirs.remove(&(peer.clone(), id));
            if !self.files.downloads.contains_key(&(peer.clone(), id)) {
                self.set_status(&their_key(peer, &id), FileStatus::Withdrawn);
            }
        }
    }

    /// Stops transfers that made no progress for too long; a peer that keeps sending on a
    /// transfer's channel counts as heard (its heartbeats can queue behind the file).
    pub(super) fn files_tick(&mut self, now: u64) {
        let heard: Vec<(PeerId, u64)> = self
            .files
            .uploads
            .iter()
            .map(|((p, _), c)| (p.clone(), c.heard_ms.get()))
            .chain(
                self.files
                    .downloads
                    .iter()
                    .filter_map(|((p, _), d)| match d {
                        Download::Running(c) => Some((p.clone(), c.heard_ms.get())),
                        _ => None,
                    }),
            )
            .collect();
        for (peer, at) in heard {
            self.mesh.on_heard(&peer, at);
        }
        let idle = |c: &Control| now.saturating_sub(c.last_progress_ms.get()) > IDLE_TIMEOUT_MS;
        for c in self.files.uploads.values() {
            if idle(c) {
                c.stop(Stop::Idle);
            }
        }
        let mut expired = Vec::new();
        for (k, d) in self.files.downloads.iter() {
            match d {
                Download::Running(c) if idle(c) => c.stop(Stop::Idle),
                Download::Requested { since_ms, .. }
                    if now.saturating_sub(*since_ms) > IDLE_TIMEOUT_MS =>
                {
                    expired.push(k.clone());
                }
                _ => {}
            }
        }
        for k in expired {
            if let Some(Download::Requested { sink, .. }) = self.files.downloads.remove(&k) {
                sink.abort();
            }
            self.set_status(
                &their_key(&k.0, &k.1),
                FileStatus::Failed("The sender did not start the transfer.".into()),
            );
        }
    }

    /// Leaving: every transfer stops and every in-memory file is released.
    pub(super) fn files_leave(&mut self) {
        for c in self.files.uploads.values() {
            c.stop(Stop::PeerLeft);
        }
        for (_, d) in self.files.downloads.drain() {
            match d {
                Download::Running(c) => c.stop(Stop::Cancelled),
                Download::Requested { sink, .. } => sink.abort(),
                Download::Preparing => {}
            }
        }
        for (_, url) in self.files.urls.drain() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
        self.files.mine.clear();
    }
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

/// `s` cut to at most `max` bytes on a character boundary.
fn cap_bytes(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn parse_key(key: &FileKey) -> Option<(PeerId, FileId)> {
    let peer = PeerId::try_from(key.owner.as_deref()?).ok()?;
    Some((peer, FileId::from_hex(&key.id)?))
}
