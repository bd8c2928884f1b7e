//! The native shell around the room engine: it owns the tracker sockets, the peer connections
//! and the transfer tasks, hands every event to `hush_core::room::Room` and carries out what
//! the engine decides. It decides nothing itself; the command being run (send, receive, chat)
//! decides only what the user asked: which files to offer, where to save, what to print.

use crate::config::Settings;
use crate::rtc::{Link, Rtc};
use crate::tracker::TrackerSocket;
use crate::transfer::{self, Control, Outcome, Sink, Source};
use hush_core::drbg::SEED_LEN;
use hush_core::ids::PeerId;
use hush_core::keys::RoomKeys;
use hush_core::room::{self, ConnHandle, DownloadEnd, DownloadPlan, FileOutput, Output, Room};
use hush_core::seal::Key;
use hush_core::transfer::{channel_label, FileId, Incoming, Stop};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What the shell's tasks report.
pub enum Event {
    TrackerOpen(usize, u64),
    TrackerClosed(usize, u64),
    TrackerText(usize, u64, String),
    TrackerFlooded(usize, u64),
    TrackerOversized(usize, u64),
    /// A connection the engine asked for exists (or could not be made).
    LinkMade(ConnHandle, Result<Arc<Link>, String>),
    LocalOffer(ConnHandle, Result<String, String>),
    LocalAnswer(ConnHandle, Result<String, String>),
    AnswerFailed(ConnHandle),
    ChannelOpen(ConnHandle),
    /// The certificate a connection's transport holds for its peer: (algorithm, fingerprint).
    RemoteCertificate(ConnHandle, String, String),
    ChannelClosed(ConnHandle),
    Frame(ConnHandle, Vec<u8>),
    OversizedFrame(ConnHandle),
    Flooded(ConnHandle),
    LinkSdp {
        peer: PeerId,
        id: FileId,
        offer: bool,
        sdp: Result<String, String>,
    },
    TransferEnded {
        peer: PeerId,
        id: FileId,
        upload: bool,
        outcome: Outcome,
    },
}

pub type Events = mpsc::UnboundedSender<Event>;

/// What the command running the room hears about.
pub enum Happening {
    Room(room::Event),
    /// The engine wants download (`peer`, `id`) saved: answer with [`Shell::sink_ready`].
    OpenSink {
        peer: PeerId,
        id: FileId,
        plan: DownloadPlan,
    },
    UploadEnded {
        peer: PeerId,
        id: FileId,
        verified: bool,
    },
    DownloadEnded {
        peer: PeerId,
        id: FileId,
        outcome: Outcome,
    },
}

/// Milliseconds since the Unix epoch: offers carry their creation time, which peers compare
/// with their own clocks.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

enum Slot {
    /// Being made; `closed` when the engine already let it go.
    Pending {
        closed: bool,
    },
    Ready(Arc<Link>),
}

type Key2 = (PeerId, FileId);

pub struct Shell {
    room: Room,
    rtc: Arc<Rtc>,
    urls: Vec<String>,
    events_tx: Events,
    events: mpsc::UnboundedReceiver<Event>,
    trackers: Vec<Option<TrackerSocket>>,
    generations: Vec<u64>,
    links: HashMap<ConnHandle, Slot>,
    file_root: Option<Key>,
    mine: HashMap<FileId, Source>,
    sinks: HashMap<Key2, Sink>,
    uploads: HashMap<Key2, Control>,
    downloads: HashMap<Key2, Control>,
    happenings: Vec<Happening>,
    left: bool,
}

impl Shell {
    /// Joins `room_name` (already normalized) as `name`. Sockets and the first offers start
    /// at once; Argon2 runs on a blocking thread meanwhile.
    pub async fn join(
        settings: &Settings,
        room_name: &str,
        name: &str,
        identity: Option<hush_core::identity::Identity>,
    ) -> Result<Self, String> {
        let mut seed = [0u8; SEED_LEN];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
        let now = now_ms();
        let mut room = match settings.trackers_per_room {
            Some(k) => Room::spread(&settings.trackers, k, name, seed, now),
            None => Room::new(settings.trackers.len(), name, seed, now),
        };
        if let Some(me) = identity {
            room.set_identity(me);
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let n = settings.trackers.len();
        let mut shell = Self {
            room,
            rtc: Arc::new(Rtc::new(settings)),
            urls: settings.trackers.clone(),
            events_tx,
            events,
            trackers: (0..n).map(|_| None).collect(),
            generations: vec![0; n],
            links: HashMap::new(),
            file_root: None,
            mine: HashMap::new(),
            sinks: HashMap::new(),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            happenings: Vec::new(),
            left: false,
        };
        shell.drain();
        let owned = hush_core::room_name::normalize(room_name).map_err(|e| e.to_string())?;
        let keys = tokio::task::spawn_blocking(move || RoomKeys::derive(&owned))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        shell.file_root = Some(keys.file_root.clone());
        shell.room.set_keys(keys, now_ms());
        shell.drain();
        // The announce is on its way: make our identity while the network answers.
        shell.room.prepare_identity();
        Ok(shell)
    }

    pub fn room(&mut self) -> &mut Room {
        &mut self.room
    }

    /// Runs the room until something happens for the command, and returns it (in order).
    pub async fn next(&mut self) -> Vec<Happening> {
        loop {
            if !self.happenings.is_empty() {
                return std::mem::take(&mut self.happenings);
            }
            let wake = self.room.poll_timeout();
            let sleep = async {
                match wake {
                    Some(at) => {
                        let ms = at.saturating_sub(now_ms());
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => return Vec::new(),
                },
                () = sleep => {
                    self.report_activity();
                    self.room.handle_timeout(now_ms());
                }
            }
            self.drain();
        }
    }

    /// A command acted on the engine directly (chat, offer, download): carry out its outputs.
    pub fn flush(&mut self) {
        self.drain();
    }

    /// Offers `source` to the room under `name` (a relative path for a folder's files).
    pub fn offer(&mut self, name: &str, size: u64, source: Source) -> Result<FileId, String> {
        let id = self
            .room
            .offer_file(name, size, "application/octet-stream", false, now_ms())
            .map_err(|e| e.to_string())?;
        self.mine.insert(id, source);
        self.drain();
        Ok(id)
    }

    /// The answer to [`Happening::OpenSink`]: where the download goes, `Ok(None)` to decline.
    pub fn sink_ready(&mut self, peer: PeerId, id: FileId, sink: Result<Option<Sink>, String>) {
        let resume = sink
            .as_ref()
            .ok()
            .and_then(|s| s.as_ref())
            .and_then(Sink::resume);
        let result = match sink {
            Ok(Some(s)) => {
                self.sinks.insert((peer.clone(), id), s);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        self.room
            .handle_sink_ready_from(&peer, id, result, resume, now_ms());
        self.drain();
    }

    /// Bytes moved so far by each running transfer: (peer, id, upload, bytes).
    pub fn progress(&self) -> Vec<(PeerId, FileId, bool, u64)> {
        let ups = self
            .uploads
            .iter()
            .map(|((p, i), c)| (p.clone(), *i, true, c.bytes()));
        let downs = self
            .downloads
            .iter()
            .map(|((p, i), c)| (p.clone(), *i, false, c.bytes()));
        ups.chain(downs).collect()
    }

    /// Leaves: peers are told, transfers stop, sockets close.
    pub async fn leave(&mut self) {
        if self.left {
            return;
        }
        self.left = true;
        for c in self.uploads.values().chain(self.downloads.values()) {
            c.stop(Stop::PeerLeft);
        }
        for (_, s) in self.sinks.drain() {
            s.abort().await;
        }
        self.room.leave();
        self.drain();
        // Give the goodbyes a moment to leave before the connections close.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for (_, slot) in self.links.drain() {
            if let Slot::Ready(l) = slot {
                l.sdp.close().await;
            }
        }
        self.trackers.clear();
    }

    fn handle(&mut self, ev: Event) {
        let now = now_ms();
        let current = |s: &Self, i: usize, g: u64| s.generations.get(i) == Some(&g);
        match ev {
            Event::TrackerOpen(i, g) if current(self, i, g) => {
                self.room.handle_tracker_open(i, now)
            }
            Event::TrackerClosed(i, g) if current(self, i, g) => {
                self.trackers[i] = None;
                self.room.handle_tracker_closed(i, now);
            }
            Event::TrackerText(i, g, text) if current(self, i, g) => {
                if let Some(Some(t)) = self.trackers.get(i) {
                    t.inflight.handled();
                }
                self.room.handle_tracker_text(i, &text, now);
            }
            Event::TrackerFlooded(i, g) if current(self, i, g) => {
                self.room.handle_tracker_flooded(i, now)
            }
            Event::TrackerOversized(i, g) if current(self, i, g) => {
                self.room.handle_tracker_oversized(i, now)
            }
            Event::TrackerOpen(..)
            | Event::TrackerClosed(..)
            | Event::TrackerText(..)
            | Event::TrackerFlooded(..)
            | Event::TrackerOversized(..) => {}
            Event::LinkMade(h, link) => match (self.links.get(&h), link) {
                (Some(Slot::Pending { closed: false }), Ok(l)) => {
                    self.links.insert(h, Slot::Ready(l));
                }
                (Some(Slot::Pending { closed: false }), Err(e)) => {
                    self.links.remove(&h);
                    eprintln!("hush: cannot make a connection: {e}");
                    self.room.handle_channel_closed(h);
                }
                (_, Ok(l)) => {
                    self.links.remove(&h);
                    l.close();
                }
                (_, Err(_)) => {
                    self.links.remove(&h);
                }
            },
            Event::LocalOffer(h, sdp) => self.room.handle_local_offer(h, sdp, now),
            Event::LocalAnswer(h, sdp) => self.room.handle_local_answer(h, sdp, now),
            Event::AnswerFailed(h) => self.room.handle_answer_failed(h),
            Event::ChannelOpen(h) => {
                self.room.handle_channel_open(h, now);
                // A second opinion on the peer's certificate, for the engine to compare with
                // the one its SDP named (and its hello signed).
                if let Some(Slot::Ready(l)) = self.links.get(&h) {
                    let (l, tx) = (l.clone(), self.events_tx.clone());
                    tokio::spawn(async move {
                        if let Some((alg, fp)) = l.sdp.remote_certificate().await {
                            let _ = tx.send(Event::RemoteCertificate(h, alg, fp));
                        }
                    });
                }
            }
            Event::RemoteCertificate(h, alg, fp) => {
                self.room.handle_transport_certificate(h, &alg, &fp);
            }
            Event::ChannelClosed(h) => self.room.handle_channel_closed(h),
            Event::Frame(h, bytes) => {
                if let Some(Slot::Ready(l)) = self.links.get(&h) {
                    l.inflight.handled();
                }
                self.room.handle_frame(h, &bytes, now);
            }
            Event::OversizedFrame(h) => self.room.handle_oversized_frame(h),
            Event::Flooded(h) => self.room.handle_flooded(h),
            Event::LinkSdp {
                peer,
                id,
                offer,
                sdp,
            } => self.room.handle_link_sdp(&peer, id, offer, sdp),
            Event::TransferEnded {
                peer,
                id,
                upload,
                outcome,
            } => {
                let key = (peer.clone(), id);
                if upload {
                    self.uploads.remove(&key);
                    let verified = matches!(outcome, Outcome::Verified);
                    self.room.handle_upload_ended(&peer, id, verified);
                    self.happenings
                        .push(Happening::UploadEnded { peer, id, verified });
                } else {
                    self.downloads.remove(&key);
                    let end = match &outcome {
                        Outcome::Verified => DownloadEnd::Verified,
                        Outcome::Stopped(Stop::Cancelled) => DownloadEnd::Cancelled,
                        Outcome::Stopped(Stop::Withdrawn) => DownloadEnd::Withdrawn,
                        Outcome::Stopped(s) => DownloadEnd::Failed(s.describe().to_owned()),
                        Outcome::Failed(why) | Outcome::Corrupt(why) | Outcome::DiskFull(why) => {
                            DownloadEnd::Failed(why.clone())
                        }
                        Outcome::Exists(p) => {
                            DownloadEnd::Failed(format!("{} exists", p.display()))
                        }
                    };
                    self.room.handle_download_ended(&peer, id, end);
                    self.happenings
                        .push(Happening::DownloadEnded { peer, id, outcome });
                }
            }
        }
    }

    /// Before the engine's timeouts: when each transfer last moved and last heard its peer.
    fn report_activity(&mut self) {
        for (peer, id, upload) in self.room.running_transfers() {
            let key = (peer.clone(), id);
            let c = if upload {
                self.uploads.get(&key)
            } else {
                self.downloads.get(&key)
            };
            if let Some(c) = c {
                let (progress, heard) = c.activity();
                self.room
                    .handle_transfer_activity(&peer, id, upload, progress, heard);
            }
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.room.poll_output() {
            self.execute(o);
        }
    }

    fn execute(&mut self, o: Output) {
        match o {
            Output::ConnectTracker(i) => {
                let Some(url) = self.urls.get(i).cloned() else {
                    return;
                };
                self.generations[i] += 1;
                self.trackers[i] = Some(TrackerSocket::connect(
                    i,
                    self.generations[i],
                    url,
                    self.events_tx.clone(),
                ));
            }
            Output::CloseTracker(i) => {
                if let Some(slot) = self.trackers.get_mut(i) {
                    *slot = None;
                    self.generations[i] += 1;
                }
            }
            Output::TrackerSend { tracker, text } => {
                if let Some(Some(t)) = self.trackers.get(tracker) {
                    t.send(text);
                }
            }
            Output::CreateOffer(h) => self.make_link(h, None),
            Output::CreateAnswer { conn, offer_sdp } => self.make_link(conn, Some(offer_sdp)),
            Output::ApplyAnswer { conn, answer_sdp } => {
                if let Some(Slot::Ready(l)) = self.links.get(&conn) {
                    let (l, tx) = (l.clone(), self.events_tx.clone());
                    tokio::spawn(async move {
                        if l.sdp.apply_answer(answer_sdp).await.is_err() {
                            let _ = tx.send(Event::AnswerFailed(conn));
                        }
                    });
                }
            }
            Output::Send { conn, frame } => {
                if let Some(Slot::Ready(l)) = self.links.get(&conn) {
                    l.send(frame);
                }
            }
            Output::Close(h) => match self.links.remove(&h) {
                Some(Slot::Ready(l)) => l.close(),
                Some(Slot::Pending { .. }) => {
                    self.links.insert(h, Slot::Pending { closed: true });
                }
                None => {}
            },
            // No media on the native peer: no audio levels to read.
            Output::PollLevels(_) => {}
            Output::Event(e) => self.happenings.push(Happening::Room(e)),
            Output::File(f) => self.file_step(f),
        }
    }

    /// Makes connection `h` in the background, then its offer (or its answer to `offer_sdp`).
    fn make_link(&mut self, h: ConnHandle, offer_sdp: Option<String>) {
        self.links.insert(h, Slot::Pending { closed: false });
        let (rtc, tx) = (self.rtc.clone(), self.events_tx.clone());
        tokio::spawn(async move {
            let link = match rtc.link(h, tx.clone()).await {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    let _ = tx.send(Event::LinkMade(h, Err(e.clone())));
                    let ev = match offer_sdp {
                        None => Event::LocalOffer(h, Err(e)),
                        Some(_) => Event::LocalAnswer(h, Err(e)),
                    };
                    let _ = tx.send(ev);
                    return;
                }
            };
            let _ = tx.send(Event::LinkMade(h, Ok(link.clone())));
            let ev = match offer_sdp {
                None => Event::LocalOffer(h, link.sdp.offer().await),
                Some(sdp) => Event::LocalAnswer(h, link.sdp.answer(sdp).await),
            };
            let _ = tx.send(ev);
        });
    }

    fn file_step(&mut self, step: FileOutput) {
        match step {
            FileOutput::OpenSink { peer, id, plan } => {
                self.happenings.push(Happening::OpenSink { peer, id, plan })
            }
            FileOutput::AbortSink { peer, id } => {
                if let Some(s) = self.sinks.remove(&(peer, id)) {
                    tokio::spawn(s.abort());
                }
            }
            FileOutput::StartUpload {
                peer,
                id,
                header,
                resume,
            } => {
                let (Some(source), Some(root)) = (self.mine.get(&id), self.file_root.clone())
                else {
                    self.room.handle_upload_ended(&peer, id, false);
                    return;
                };
                let (control, side) = Control::new();
                self.uploads.insert((peer.clone(), id), control);
                tokio::spawn(transfer::upload(
                    self.rtc.clone(),
                    channel_label(&id),
                    source.clone(),
                    header,
                    resume,
                    root,
                    id,
                    peer,
                    side,
                    self.events_tx.clone(),
                ));
            }
            FileOutput::StartDownload {
                peer,
                id,
                size,
                offer_sdp,
            } => {
                let key = (peer.clone(), id);
                let (Some(sink), Some(root)) = (self.sinks.remove(&key), self.file_root.clone())
                else {
                    self.room.handle_download_ended(
                        &peer,
                        id,
                        DownloadEnd::Failed("The file could not be saved.".into()),
                    );
                    return;
                };
                let (control, side) = Control::new();
                self.downloads.insert(key, control);
                tokio::spawn(transfer::download(
                    self.rtc.clone(),
                    channel_label(&id),
                    offer_sdp,
                    Incoming::new(id, size),
                    root,
                    sink,
                    peer,
                    id,
                    side,
                    self.events_tx.clone(),
                ));
            }
            FileOutput::ApplyLinkAnswer {
                peer,
                id,
                answer_sdp,
            } => {
                if let Some(c) = self.uploads.get(&(peer, id)) {
                    c.answer(answer_sdp);
                }
            }
            FileOutput::Stop {
                peer,
                id,
                upload,
                why,
            } => {
                let key = (peer, id);
                let c = if upload {
                    self.uploads.get(&key)
                } else {
                    self.downloads.get(&key)
                };
                if let Some(c) = c {
                    c.stop(why);
                }
            }
            FileOutput::Forget { id } => {
                self.mine.remove(&id);
            }
        }
    }
}
