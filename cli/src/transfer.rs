//! One file transfer on the native peer, either way: the task that owns the transfer's own
//! connection, reads or writes the file, seals or opens each record with `core::stream`, and
//! keeps to `core::transfer`'s window and acknowledgements, exactly as the browser does.

use crate::rtc::{ChannelEvent, FileLink, Rtc};
use crate::shell::{now_ms, Event, Events};
use futures_util::FutureExt;
use hush_core::ids::PeerId;
use hush_core::seal::Key;
use hush_core::stream::{file_key, open_record, seal_record, StreamHeader, StreamPlan};
use hush_core::transfer::{
    Feedback, FileId, Incoming, Stop, TransferError, Window, READY_RESEND_MS,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use tokio::sync::{oneshot, watch};

/// How long a receiver that confirmed keeps the connection for the sender to close it first
/// (closing first could lose the confirmation on its way).
const LINGER: Duration = Duration::from_secs(2);
/// How long a sender waits for what it sent to be acknowledged before closing.
const DRAIN: Duration = Duration::from_secs(5);
/// Bytes gathered before a write to disk: few system calls, little memory.
const WRITE_BUFFER: usize = 4 * 1024 * 1024;
/// Largest feedback frame (an acknowledgement is a few bytes).
const MAX_FEEDBACK: usize = 16;

/// What we offer.
#[derive(Clone)]
pub enum Source {
    File(PathBuf),
    /// Standard input, size unknown until it ends: it can be read once, so it is served to
    /// the first peer that asks.
    Stdin(Arc<Mutex<Option<tokio::io::Stdin>>>),
}

impl Source {
    pub fn stdin() -> Self {
        Source::Stdin(Arc::new(Mutex::new(Some(tokio::io::stdin()))))
    }
}

type Reader = Box<dyn tokio::io::AsyncRead + Unpin + Send>;

/// Fills `buf` unless the input ends first; how many bytes it holds.
async fn read_full(r: &mut Reader, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// How a transfer ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Verified,
    /// The engine stopped it (cancel, withdraw, peer left, stalled, unreachable).
    Stopped(Stop),
    Failed(String),
    DiskFull(String),
    /// The target appeared while we received and `--overwrite` was not given.
    Exists(PathBuf),
}

/// The shell's handle on a running transfer.
#[derive(Clone)]
pub struct Control {
    stop: Arc<watch::Sender<Option<Stop>>>,
    answer: Arc<Mutex<Option<oneshot::Sender<String>>>>,
    bytes: Arc<AtomicU64>,
    progress_ms: Arc<AtomicU64>,
    heard_ms: Arc<AtomicU64>,
}

/// The task's side of a [`Control`].
pub struct Side {
    stop: watch::Receiver<Option<Stop>>,
    answer: Option<oneshot::Receiver<String>>,
    control: Control,
}

impl Control {
    pub fn new() -> (Control, Side) {
        let (stop_tx, stop) = watch::channel(None);
        let (answer_tx, answer) = oneshot::channel();
        let now = now_ms();
        let control = Control {
            stop: Arc::new(stop_tx),
            answer: Arc::new(Mutex::new(Some(answer_tx))),
            bytes: Arc::new(AtomicU64::new(0)),
            progress_ms: Arc::new(AtomicU64::new(now)),
            heard_ms: Arc::new(AtomicU64::new(now)),
        };
        let side = Side {
            stop,
            answer: Some(answer),
            control: control.clone(),
        };
        (control, side)
    }

    pub fn stop(&self, why: Stop) {
        self.stop.send_replace(Some(why));
    }

    /// The receiver's answer to an upload's connection.
    pub fn answer(&self, sdp: String) {
        if let Some(tx) = self.answer.lock().ok().and_then(|mut a| a.take()) {
            let _ = tx.send(sdp);
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// When it last moved a record, and last heard its peer.
    pub fn activity(&self) -> (u64, u64) {
        (
            self.progress_ms.load(Ordering::Relaxed),
            self.heard_ms.load(Ordering::Relaxed),
        )
    }
}

impl Side {
    fn progressed(&self, bytes: u64) {
        let now = now_ms();
        self.control.bytes.store(bytes, Ordering::Relaxed);
        self.control.progress_ms.store(now, Ordering::Relaxed);
        self.control.heard_ms.store(now, Ordering::Relaxed);
    }

    fn heard(&self) {
        self.control.heard_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Resolves once the engine stops the transfer.
    async fn stopped(&mut self) -> Outcome {
        loop {
            if let Some(s) = *self.stop.borrow() {
                return Outcome::Stopped(s);
            }
            if self.stop.changed().await.is_err() {
                // The shell is gone: the room was left.
                return Outcome::Stopped(Stop::PeerLeft);
            }
        }
    }

    /// `fut`, unless the engine stops the transfer first.
    async fn or_stop<T>(
        &mut self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, Outcome> {
        tokio::select! {
            v = fut => Ok(v),
            o = self.stopped() => Err(o),
        }
    }
}

/// Where a download goes.
pub enum Sink {
    /// Written to `tmp`, then renamed to `target` once every record verified.
    File {
        tmp: PathBuf,
        target: PathBuf,
        overwrite: bool,
        out: BufWriter<tokio::fs::File>,
    },
    Stdout(tokio::io::Stdout),
}

fn save_error(e: std::io::Error) -> Outcome {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        Outcome::DiskFull(format!("Could not save the file: {e}"))
    } else {
        Outcome::Failed(format!("Could not save the file: {e}"))
    }
}

impl Sink {
    /// A sink writing to a fresh temporary file beside `target`.
    pub async fn file(target: PathBuf, overwrite: bool) -> std::io::Result<Sink> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = target.with_file_name(format!(".{name}.hush-partial"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .await?;
        Ok(Sink::File {
            tmp,
            target,
            overwrite,
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File { out, .. } => out.write_all(bytes).await,
            Sink::Stdout(s) => s.write_all(bytes).await,
        }
    }

    /// Everything verified: make the file appear under its name.
    async fn finish(self) -> Result<(), Outcome> {
        match self {
            Sink::Stdout(mut s) => s.flush().await.map_err(save_error),
            Sink::File {
                tmp,
                target,
                overwrite,
                mut out,
            } => {
                out.flush().await.map_err(save_error)?;
                out.get_ref().sync_all().await.map_err(save_error)?;
                drop(out);
                if overwrite {
                    tokio::fs::rename(&tmp, &target).await.map_err(save_error)
                } else {
                    // A hard link fails if the target exists: no window in which another file
                    // could appear and be replaced.
                    let linked = tokio::fs::hard_link(&tmp, &target).await;
                    let _ = tokio::fs::remove_file(&tmp).await;
                    match linked {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            Err(Outcome::Exists(target))
                        }
                        Err(e) => Err(save_error(e)),
                    }
                }
            }
        }
    }

    /// Nothing of the download is kept.
    pub fn abort(self) {
        if let Sink::File { tmp, .. } = self {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn describe(e: &TransferError) -> String {
    if e.is_verification() {
        "The file failed verification: it was altered, cut short, or sent with another room name. Nothing of it was kept.".into()
    } else {
        format!("{e}. Nothing of it was kept.")
    }
}

/// Serves our file to `peer`: makes the transfer's connection, sends the header and every
/// sealed record within the window, and waits for the receiver's confirmation.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    rtc: Arc<Rtc>,
    label: String,
    source: Source,
    header: StreamHeader,
    root: Key,
    id: FileId,
    peer: PeerId,
    mut side: Side,
    events: Events,
) {
    let mut link = None;
    let outcome = match send_all(
        &rtc, &label, &source, header, &root, id, &peer, &mut side, &events, &mut link,
    )
    .await
    {
        Ok(()) => Outcome::Verified,
        Err(o) => o,
    };
    if let Some(l) = link {
        l.close().await;
    }
    let _ = events.send(Event::TransferEnded {
        peer,
        id,
        upload: true,
        outcome,
    });
}

#[allow(clippy::too_many_arguments)]
async fn send_all(
    rtc: &Rtc,
    label: &str,
    source: &Source,
    header: StreamHeader,
    root: &Key,
    id: FileId,
    peer: &PeerId,
    side: &mut Side,
    events: &Events,
    slot: &mut Option<FileLink>,
) -> Result<(), Outcome> {
    let link = rtc.file_link(label).await.map_err(Outcome::Failed)?;
    let link = &*slot.insert(link);
    let sdp = link.sdp.offer().await;
    let _ = events.send(Event::LinkSdp {
        peer: peer.clone(),
        id,
        offer: true,
        sdp: sdp.clone(),
    });
    sdp.map_err(Outcome::Failed)?;
    let answer_rx = side
        .answer
        .take()
        .ok_or_else(|| Outcome::Failed("no answer".into()))?;
    let answer = side
        .or_stop(answer_rx)
        .await?
        .map_err(|_| Outcome::Failed("no answer".into()))?;
    link.sdp
        .apply_answer(answer)
        .await
        .map_err(Outcome::Failed)?;
    loop {
        match side.or_stop(link.next()).await? {
            Some(ChannelEvent::Open) => break,
            Some(_) => {}
            None => return Err(Outcome::Stopped(Stop::Unreachable)),
        }
    }
    // The header goes out once the receiver said it is reading (`Feedback::Ready`).
    let mut window = Window::default();
    let mut confirmed = false;
    let mut ready = false;
    while !ready {
        let ev = side.or_stop(link.next()).await?;
        feedback(ev, &mut window, &mut confirmed, &mut ready, side)?;
    }
    let plan = StreamPlan::new(header).map_err(|e| Outcome::Failed(e.to_string()))?;
    let key = file_key(root, &id.to_hex(), &header.salt);
    let mut input: Reader = match source {
        Source::File(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| Outcome::Failed(format!("Could not read {}: {e}", path.display())))?,
        ),
        Source::Stdin(slot) => Box::new(
            slot.lock()
                .ok()
                .and_then(|mut s| s.take())
                .ok_or_else(|| Outcome::Failed("Standard input was already sent.".into()))?,
        ),
    };
    side.or_stop(link.send(plan.header_bytes()))
        .await?
        .map_err(|_| Outcome::Stopped(Stop::Cancelled))?;
    let mut buf = vec![0u8; header.record_size as usize];
    let mut sent = 0u64;
    let streaming = plan.is_streaming();
    for i in 0..plan.records() {
        while !window.open() {
            let ev = side.or_stop(link.next()).await?;
            feedback(ev, &mut window, &mut confirmed, &mut ready, side)?;
        }
        // Feedback that already arrived, without waiting.
        while let Some(ev) = link.next().now_or_never() {
            feedback(ev, &mut window, &mut confirmed, &mut ready, side)?;
        }
        let read_failed =
            |e: std::io::Error| Outcome::Failed(format!("Could not read the input: {e}"));
        let (len, last) = if streaming {
            // Unknown size: a full record is never the last; the input's end makes a shorter
            // (maybe empty) last record.
            let n = read_full(&mut input, &mut buf).await.map_err(read_failed)?;
            (n, n < buf.len())
        } else {
            let len = plan
                .plaintext_len(i)
                .ok_or_else(|| Outcome::Failed("The file's layout is invalid.".into()))?;
            if read_full(&mut input, &mut buf[..len])
                .await
                .map_err(read_failed)?
                < len
            {
                return Err(Outcome::Failed(
                    "The file changed while it was sent.".into(),
                ));
            }
            (len, i + 1 == plan.records())
        };
        let nonce = plan
            .nonce_at(i, last)
            .ok_or_else(|| Outcome::Failed("The file is too large.".into()))?;
        let chunk = &buf[..len];
        let sealed = seal_record(&key, &nonce, plan.header_bytes(), chunk)
            .map_err(|e| Outcome::Failed(e.to_string()))?;
        side.or_stop(link.send(&sealed))
            .await?
            .map_err(|_| Outcome::Stopped(Stop::Cancelled))?;
        window.on_sent();
        sent += len as u64;
        side.progressed(sent);
        if last {
            break;
        }
    }
    while !confirmed {
        let ev = side.or_stop(link.next()).await?;
        feedback(ev, &mut window, &mut confirmed, &mut ready, side)?;
    }
    link.drain(DRAIN).await;
    Ok(())
}

/// Applies one receiver → sender event; a closed channel before the confirmation is the
/// receiver cancelling.
fn feedback(
    ev: Option<ChannelEvent>,
    window: &mut Window,
    confirmed: &mut bool,
    ready: &mut bool,
    side: &Side,
) -> Result<(), Outcome> {
    let bad = || Outcome::Failed("The receiver sent something malformed.".into());
    match ev {
        None if *confirmed => Ok(()),
        None => Err(Outcome::Stopped(Stop::Cancelled)),
        Some(ChannelEvent::Open) => Ok(()),
        Some(ChannelEvent::Message(m)) => {
            side.heard();
            if m.len() > MAX_FEEDBACK {
                return Err(bad());
            }
            match Feedback::decode(&m).ok_or_else(bad)? {
                Feedback::Ack { records } => window.on_ack(records).map_err(|_| bad()),
                Feedback::Done => {
                    *confirmed = true;
                    Ok(())
                }
                // Repeated until the header arrives: later copies change nothing.
                Feedback::Ready => {
                    *ready = true;
                    Ok(())
                }
            }
        }
    }
}

/// Receives one file: answers the sender's connection, opens every record in order, writes
/// it out, and confirms once the file is saved.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    rtc: Arc<Rtc>,
    label: String,
    offer_sdp: String,
    incoming: Incoming,
    root: Key,
    sink: Sink,
    peer: PeerId,
    id: FileId,
    mut side: Side,
    events: Events,
) {
    let mut sink = Some(sink);
    let mut link = None;
    let mut incoming = incoming;
    let result = receive_all(
        &rtc,
        &label,
        offer_sdp,
        &mut incoming,
        &root,
        &mut sink,
        &peer,
        id,
        &mut side,
        &events,
        &mut link,
    )
    .await;
    let outcome = match result {
        Ok(()) => Outcome::Verified,
        Err(o) => {
            if let Some(s) = sink.take() {
                s.abort();
            }
            o
        }
    };
    if let Some(l) = link {
        if matches!(outcome, Outcome::Verified) {
            let _ = tokio::time::timeout(LINGER, async { while l.next().await.is_some() {} }).await;
        }
        l.close().await;
    }
    let _ = events.send(Event::TransferEnded {
        peer,
        id,
        upload: false,
        outcome,
    });
}

#[allow(clippy::too_many_arguments)]
async fn receive_all(
    rtc: &Rtc,
    label: &str,
    offer_sdp: String,
    incoming: &mut Incoming,
    root: &Key,
    sink: &mut Option<Sink>,
    peer: &PeerId,
    id: FileId,
    side: &mut Side,
    events: &Events,
    slot: &mut Option<FileLink>,
) -> Result<(), Outcome> {
    let link = rtc.file_link(label).await.map_err(Outcome::Failed)?;
    let link = &*slot.insert(link);
    let sdp = link.sdp.answer(offer_sdp).await;
    let _ = events.send(Event::LinkSdp {
        peer: peer.clone(),
        id,
        offer: false,
        sdp: sdp.clone(),
    });
    sdp.map_err(Outcome::Failed)?;
    let mut opened: Option<(StreamPlan, Key)> = None;
    let mut open = false;
    let ready = Feedback::Ready.encode();
    loop {
        // Until the header arrives, say Ready on opening and every READY_RESEND_MS after.
        let ev = if opened.is_none() {
            let wait = tokio::time::timeout(Duration::from_millis(READY_RESEND_MS), link.next());
            match side.or_stop(wait).await? {
                Ok(ev) => ev,
                Err(_) => {
                    if open {
                        let _ = link.send(&ready).await;
                    }
                    continue;
                }
            }
        } else {
            side.or_stop(link.next()).await?
        };
        let frame = match ev {
            Some(ChannelEvent::Message(m)) => m,
            Some(ChannelEvent::Open) => {
                open = true;
                let _ = link.send(&ready).await;
                continue;
            }
            None => {
                return Err(Outcome::Failed(
                    "The transfer was interrupted before the whole file arrived.".into(),
                ))
            }
        };
        side.heard();
        let Some((plan, key)) = &opened else {
            opened = Some(
                incoming
                    .header(root, &frame)
                    .map_err(|e| Outcome::Failed(describe(&e)))?,
            );
            continue;
        };
        let task = incoming
            .record(frame.len())
            .map_err(|e| Outcome::Failed(describe(&e)))?;
        let plain = match open_record(key, &task.nonce, plan.header_bytes(), &frame, task.index) {
            Ok(p) => p,
            Err(_) => return Err(Outcome::Failed(describe(&incoming.auth_failed(task.index)))),
        };
        incoming.opened(task.index);
        let s = sink
            .as_mut()
            .ok_or_else(|| Outcome::Failed("The file could not be saved.".into()))?;
        s.write(&plain).await.map_err(save_error)?;
        if let Some(ack) = incoming.ack_due() {
            let _ = link.send(&ack.encode()).await;
        }
        side.progressed(incoming.bytes_done());
        if task.last {
            incoming
                .finish()
                .map_err(|e| Outcome::Failed(describe(&e)))?;
            let s = sink
                .take()
                .ok_or_else(|| Outcome::Failed("The file could not be saved.".into()))?;
            s.finish().await?;
            let _ = link.send(&Feedback::Done.encode()).await;
            return Ok(());
        }
    }
}
