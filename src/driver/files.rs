//! Files, the shell's side: the `File` handles we offer, the sinks downloads go to, and the
//! transfer tasks. The engine decides every step (`hush_core::room::FileOutput`); this module
//! carries it out with the browser and reports what happened back.

use super::rtc;
use super::sink::{Sink, SinkKind};
use super::transfer::{self, Control, FileChannel, Outcome, Reporter};
use super::{warn, Driver, Event};
use crate::js::{now_ms, random_bytes, JsError};
use crate::state::{FileKey, FileStatus, FileView, Inline, RoomAction, UploadState, UploadView};
use hush_core::filename::InlineKind;
use hush_core::ids::PeerId;
use hush_core::room::{DownloadEnd, FileError, FileEvent, FileOutput, FileState};
use hush_core::stream::{file_key, StreamPlan};
use hush_core::transfer::{channel_label, FileId, Incoming, Stop};
use hush_core::vecmap::VecMap;

type Key = (PeerId, FileId);

#[derive(Default)]
pub(super) struct FilesShell {
    /// The files we offer, by id.
    mine: VecMap<FileId, web_sys::File>,
    /// Open sinks of downloads asked for and not started yet.
    sinks: VecMap<Key, Sink>,
    uploads: VecMap<Key, Control>,
    downloads: VecMap<Key, Control>,
    /// `blob:` URLs we created, revoked when closed or on leaving.
    urls: VecMap<FileKey, String>,
}

impl FilesShell {
    /// Leaving: every transfer stops and every in-memory file is released.
    pub(super) fn leave(&mut self) {
        for c in self.uploads.values().chain(self.downloads.values()) {
            c.stop(Stop::PeerLeft);
        }
        for (_, sink) in self.sinks.drain() {
            sink.abort();
        }
        for (_, url) in self.urls.drain() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
        self.mine.clear();
    }
}

fn file_key_of(owner: Option<&PeerId>, id: &FileId) -> FileKey {
    FileKey {
        owner: owner.map(|p| p.to_string()),
        id: id.to_hex(),
    }
}

pub(super) fn parse_key(key: &FileKey) -> Option<(PeerId, FileId)> {
    let peer = PeerId::try_from(key.owner.as_deref()?).ok()?;
    Some((peer, FileId::from_hex(&key.id)?))
}

fn to_inline(k: InlineKind) -> Inline {
    match k {
        InlineKind::Image => Inline::Image,
        InlineKind::Audio => Inline::Audio,
        InlineKind::Video => Inline::Video,
        InlineKind::None => Inline::None,
    }
}

fn to_status(s: FileState) -> FileStatus {
    match s {
        FileState::Sending => FileStatus::Sending,
        FileState::Offered => FileStatus::Offered,
        FileState::Transferring => FileStatus::Transferring,
        FileState::Verified => FileStatus::Verified,
        FileState::Failed(w) => FileStatus::Failed(w),
        FileState::Cancelled => FileStatus::Cancelled,
        FileState::Withdrawn => FileStatus::Withdrawn,
    }
}

impl Driver {
    // ---- user commands ----

    /// Offers files to everyone in the room (and to whoever joins while they are offered).
    pub(super) fn offer_files(&mut self, files: Vec<web_sys::File>, view_once: bool, now: u64) {
        let mut files = files.into_iter();
        while let Some(file) = files.next() {
            let size = file.size() as u64;
            match self
                .room
                .offer_file(&file.name(), size, &file.type_(), view_once, now)
            {
                Ok(id) => {
                    self.files.mine.insert(id, file);
                }
                // The rest would be refused alike: one notice for all of them.
                Err(e @ FileError::TooManyOffers { .. }) => {
                    let rest = files.len();
                    let more = match rest {
                        0 => String::new(),
                        n => format!(" Nor were the {n} files after it."),
                    };
                    self.dispatch.emit(RoomAction::Notice(format!("{e}{more}")));
                    break;
                }
                Err(e) => self.dispatch.emit(RoomAction::Notice(e.to_string())),
            }
        }
    }

    pub(super) fn download(&mut self, key: &FileKey) {
        let Some((peer, id)) = parse_key(key) else {
            return;
        };
        if let Err(e) = self.room.download(&peer, id) {
            self.dispatch.emit(RoomAction::Notice(e.to_string()));
        }
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
        self.dispatch.emit(RoomAction::FileStatus {
            key,
            status: FileStatus::Viewed,
        });
    }

    pub(super) fn on_sink_ready(
        &mut self,
        peer: PeerId,
        id: FileId,
        result: Result<Option<Sink>, String>,
        now: u64,
    ) {
        let result = match result {
            Ok(Some(sink)) => {
                self.files.sinks.insert((peer.clone(), id), sink);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        self.room.handle_sink_ready(&peer, id, result, now);
    }

    pub(super) fn on_upload_ended(&mut self, peer: PeerId, id: FileId, outcome: Outcome) {
        self.files.uploads.remove(&(peer.clone(), id));
        let verified = matches!(outcome, Outcome::Verified(_));
        self.room.handle_upload_ended(&peer, id, verified);
    }

    pub(super) fn on_download_ended(&mut self, peer: PeerId, id: FileId, outcome: Outcome) {
        self.files.downloads.remove(&(peer.clone(), id));
        let end = match outcome {
            Outcome::Verified(url) => {
                if let Some(url) = url {
                    let key = file_key_of(Some(&peer), &id);
                    self.files.urls.insert(key.clone(), url.clone());
                    self.dispatch.emit(RoomAction::FileUrl {
                        key,
                        url: Some(url),
                    });
                }
                DownloadEnd::Verified
            }
            Outcome::Cancelled => DownloadEnd::Cancelled,
            Outcome::Withdrawn => DownloadEnd::Withdrawn,
            Outcome::Failed(why) => DownloadEnd::Failed(why),
        };
        self.room.handle_download_ended(&peer, id, end);
    }

    /// Before the engine's timeouts run: when each transfer last moved and last heard its
    /// peer (a saturated link can delay the peer's heartbeats behind the file).
    pub(super) fn report_transfer_activity(&mut self) {
        for (peer, id, upload) in self.room.running_transfers() {
            let key = (peer.clone(), id);
            let control = if upload {
                self.files.uploads.get(&key)
            } else {
                self.files.downloads.get(&key)
            };
            if let Some(c) = control {
                let (progress, heard) = (c.last_progress_ms.get(), c.heard_ms.get());
                self.room
                    .handle_transfer_activity(&peer, id, upload, progress, heard);
            }
        }
    }

    // ---- the engine's steps ----

    pub(super) fn file_step(&mut self, step: FileOutput) {
        match step {
            FileOutput::OpenSink { peer, id, plan } => {
                let kind = if plan.in_memory {
                    SinkKind::Memory
                } else {
                    SinkKind::Disk
                };
                let token = match random_bytes::<16>() {
                    Ok(b) => b.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    Err(e) => {
                        let r = Err(e.to_string());
                        return self.room.handle_sink_ready(&peer, id, r, now_ms());
                    }
                };
                let mut tx = self.events.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let result = Sink::open(kind, &token, &plan.name, plan.size, &plan.mime)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.try_send(Event::SinkReady(peer, id, result));
                });
            }
            FileOutput::AbortSink { peer, id } => {
                if let Some(sink) = self.files.sinks.remove(&(peer, id)) {
                    sink.abort();
                }
            }
            FileOutput::StartUpload {
                peer,
                id,
                header,
                resume,
            } => self.start_upload(peer, id, header, resume),
            FileOutput::StartDownload {
                peer,
                id,
                size,
                offer_sdp,
            } => self.start_download(peer, id, size, offer_sdp),
            FileOutput::ApplyLinkAnswer {
                peer,
                id,
                answer_sdp,
            } => {
                let Some(control) = self.files.uploads.get(&(peer, id)).cloned() else {
                    return;
                };
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = rtc::accept_answer(control.pc.clone(), answer_sdp).await {
                        warn(&format!("a file connection failed: {e}"));
                        control.stop(Stop::Unreachable);
                    }
                });
            }
            FileOutput::Stop {
                peer,
                id,
                upload,
                why,
            } => {
                let key = (peer, id);
                let control = if upload {
                    self.files.uploads.get(&key)
                } else {
                    self.files.downloads.get(&key)
                };
                if let Some(c) = control {
                    c.stop(why);
                }
            }
            FileOutput::Forget { id } => {
                self.files.mine.remove(&id);
            }
        }
    }

    /// `resume`: the receiver holds the start of the file (it expects a start frame).
    fn start_upload(
        &mut self,
        peer: PeerId,
        id: FileId,
        header: hush_core::stream::StreamHeader,
        resume: Option<hush_core::transfer::Resume>,
    ) {
        let (Some(file), Some(root)) = (self.files.mine.get(&id).cloned(), &self.file_root) else {
            return self.room.handle_upload_ended(&peer, id, false);
        };
        let Ok(plan) = StreamPlan::new(header) else {
            return self.room.handle_upload_ended(&peer, id, false);
        };
        let record_key = file_key(root, &id.to_hex(), &header.salt);
        let (pc, dc) = match rtc::file_link(&self.rtc_config, &channel_label(&id)) {
            Ok(link) => link,
            Err(e) => {
                warn(&format!("cannot make a connection for a file: {e}"));
                return self.room.handle_upload_ended(&peer, id, false);
            }
        };
        let ch = FileChannel::wrap(pc.clone(), dc);
        let control = ch.control();
        self.post_link_sdp(&peer, id, true, rtc::make_offer(pc, self.ice_kinds));
        let report = Reporter::new(
            file_key_of(None, &id),
            peer.clone(),
            id,
            self.room.peer_name(&peer),
            header.total_size,
            self.dispatch.clone(),
            self.events.clone(),
            control.clone(),
        );
        self.files.uploads.insert((peer, id), control);
        wasm_bindgen_futures::spawn_local(transfer::upload(
            ch, file, plan, record_key, resume, report,
        ));
    }

    fn start_download(&mut self, peer: PeerId, id: FileId, size: u64, offer_sdp: String) {
        let key = (peer.clone(), id);
        let fail = |d: &mut Driver, why: String| {
            d.room
                .handle_download_ended(&peer, id, DownloadEnd::Failed(why));
        };
        let (Some(sink), Some(root)) = (self.files.sinks.remove(&key), self.file_root.clone())
        else {
            return fail(self, "The file could not be saved.".into());
        };
        let (pc, dc) = match rtc::file_link(&self.rtc_config, &channel_label(&id)) {
            Ok(link) => link,
            Err(e) => {
                sink.abort();
                return fail(
                    self,
                    format!("No connection for the transfer could be made: {e}"),
                );
            }
        };
        let ch = FileChannel::wrap(pc.clone(), dc);
        let control = ch.control();
        let report = Reporter::new(
            file_key_of(Some(&peer), &id),
            peer.clone(),
            id,
            self.room.peer_name(&peer),
            size,
            self.dispatch.clone(),
            self.events.clone(),
            control.clone(),
        );
        self.files.downloads.insert(key, control);
        let incoming = Incoming::new(id, size);
        wasm_bindgen_futures::spawn_local(transfer::download(ch, incoming, root, sink, report));
        self.post_link_sdp(
            &peer,
            id,
            false,
            rtc::make_answer(pc, offer_sdp, self.ice_kinds),
        );
    }

    /// Once `sdp` (our offer or answer for a transfer's connection) is ready, hands it to the
    /// engine.
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

    // ---- what the user sees ----

    pub(super) fn show_file(&mut self, ev: FileEvent) {
        match ev {
            FileEvent::Offered {
                owner,
                id,
                name,
                size,
                mime,
                sender,
                view_once,
                inline,
                at_ms,
            } => {
                let status = if owner.is_none() {
                    FileStatus::Sending
                } else {
                    FileStatus::Offered
                };
                self.dispatch.emit(RoomAction::FileOffered {
                    key: file_key_of(owner.as_ref(), &id),
                    file: FileView {
                        name,
                        size,
                        mime,
                        sender,
                        view_once,
                        inline: to_inline(inline),
                        status,
                        progress: None,
                        url: None,
                        uploads: Vec::new(),
                        withdrawn: false,
                    },
                    at_ms,
                });
            }
            FileEvent::Status { owner, id, state } => {
                self.dispatch.emit(RoomAction::FileStatus {
                    key: file_key_of(owner.as_ref(), &id),
                    status: to_status(state),
                });
            }
            FileEvent::Opened {
                id,
                peer,
                peer_name,
                size,
            } => {
                self.dispatch.emit(RoomAction::Upload {
                    id: id.to_hex(),
                    peer: peer.to_string(),
                    upload: UploadView {
                        peer_name,
                        state: UploadState::Opened,
                        progress: crate::state::Progress {
                            bytes: size,
                            bytes_per_sec: None,
                        },
                    },
                });
            }
        }
    }
}
