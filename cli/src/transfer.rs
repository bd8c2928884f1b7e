//! One file transfer on the native peer, either way: the task that owns the transfer's own
//! connection, reads or writes the file, seals or opens each record with `core::stream`, and
//! keeps to `core::transfer`'s window and acknowledgements, exactly as the browser does.

use crate::rtc::{ChannelEvent, FileLink, Rtc};
use crate::shell::{now_ms, Event, Events};
use futures_util::FutureExt;
use hush_core::ids::PeerId;
use hush_core::seal::Key;
use hush_core::stream::{file_key, open_record, seal_record, StreamHeader, StreamPlan};
use hush_core::stream::{RECORD_SIZE, UNKNOWN_SIZE};
use hush_core::transfer::{
    encode_start, Feedback, FileId, Incoming, Resume, Stop, TransferError, Window, READY_RESEND_MS,
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncSeekExt;
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
    /// A record did not verify: nothing of the file is kept.
    Corrupt(String),
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
    /// Written to `tmp`, then renamed to `target` once every record verified. `resume`: the
    /// records `tmp` already held from an interrupted transfer, and their digest.
    File {
        tmp: PathBuf,
        target: PathBuf,
        overwrite: bool,
        out: Box<BufWriter<tokio::fs::File>>,
        resume: Option<Resume>,
    },
    Stdout(tokio::io::Stdout),
}

/// The temporary file a download of `target` is written to (kept when it is interrupted, so
/// the next download of the same file continues from it).
pub fn partial_path(target: &std::path::Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.hush-partial"))
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
    /// A sink for a `size`-byte file: a fresh temporary file, or the one an interrupted
    /// download left, whose whole records it offers to continue after.
    pub async fn file(target: PathBuf, overwrite: bool, size: u64) -> std::io::Result<Sink> {
        let tmp = partial_path(&target);
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&tmp)
            .await?;
        let held = file.metadata().await?.len();
        let records = hush_core::stream::records_for(size, RECORD_SIZE).unwrap_or(0);
        let whole = (held / u64::from(RECORD_SIZE)).min(records.saturating_sub(1));
        let resume = if whole > 0 && size != UNKNOWN_SIZE {
            // Every byte in it was verified before it was written, in order.
            let keep = whole * u64::from(RECORD_SIZE);
            let mut h = Sha256::new();
            let mut buf = vec![0u8; WRITE_BUFFER];
            let mut left = keep;
            while left > 0 {
                let n = (left as usize).min(buf.len());
                file.read_exact(&mut buf[..n]).await?;
                h.update(&buf[..n]);
                left -= n as u64;
            }
            file.set_len(keep).await?;
            Some(Resume {
                records: whole,
                digest: h.finalize().into(),
            })
        } else {
            file.set_len(0).await?;
            None
        };
        let at = resume.map_or(0, |r| r.records * u64::from(RECORD_SIZE));
        file.seek(std::io::SeekFrom::Start(at)).await?;
        Ok(Sink::File {
            tmp,
            target,
            overwrite,
            out: Box::new(BufWriter::with_capacity(WRITE_BUFFER, file)),
            resume,
        })
    }

    /// What this sink already holds, to ask the sender to continue after.
    pub fn resume(&self) -> Option<Resume> {
        match self {
            Sink::File { resume, .. } => *resume,
            Sink::Stdout(_) => None,
        }
    }

    /// The sender starts from the beginning after all: drop what was held.
    async fn restart(&mut self) -> std::io::Result<()> {
        if let Sink::File { out, resume, .. } = self {
            out.flush().await?;
            out.get_mut().set_len(0).await?;
            out.get_mut().seek(std::io::SeekFrom::Start(0)).await?;
            *resume = None;
        }
        Ok(())
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
                ..
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

    /// The download did not complete: what verified so far stays in the temporary file, for
    /// the next download of the same file to continue from (an empty one is removed).
    pub async fn abort(self) {
        if let Sink::File { tmp, mut out, .. } = self {
            let _ = out.flush().await;
            let empty = out
                .get_ref()
                .metadata()
                .await
                .map_or(true, |m| m.len() == 0);
            drop(out);
            if empty {
                let _ = tokio::fs::remove_file(tmp).await;
            }
        }
    }

    /// Nothing of the download is kept (it failed verification, or the user cancelled it).
    pub fn discard(self) {
        if let Sink::File { tmp, .. } = self {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// What failed, as the user reads it; a verification failure discards what was received.
fn refused(e: &TransferError) -> Outcome {
    if e.is_verification() {
        Outcome::Corrupt("The file failed verification: it was altered, cut short, or sent with another room name. Nothing of it was kept.".into())
    } else {
        Outcome::Failed(format!("{e}."))
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
    resume: Option<Resume>,
    root: Key,
    id: FileId,
    peer: PeerId,
    mut side: Side,
    events: Events,
) {
    let mut link = None;
    let outcome = match send_all(
        &rtc, &label, &source, header, resume, &root, id, &peer, &mut side, &events, &mut link,
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
    resume: Option<Resume>,
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
    // Asked to continue after records the receiver holds: only if our file starts with the
    // very same bytes (it may have changed since).
    let first = match (resume, source) {
        (Some(r), Source::File(path)) => resumable(path, header.total_size, r).await,
        _ => 0,
    };
    if resume.is_some() {
        side.or_stop(link.send(&encode_start(first)))
            .await?
            .map_err(|_| Outcome::Stopped(Stop::Cancelled))?;
    }
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
    let streaming = plan.is_streaming();
    let offset = first * u64::from(header.record_size);
    if first > 0 {
        // A resumed file: read from where the receiver is.
        let mut skip = (&mut input).take(offset);
        tokio::io::copy(&mut skip, &mut tokio::io::sink())
            .await
            .map_err(|e| Outcome::Failed(format!("Could not read the file: {e}")))?;
    }
    window = Window::starting_at(first);
    let mut sent = offset;
    for i in first..plan.records() {
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

/// Where a resumed upload of `path` may start: after `r.records` records if the file is still
/// `size` bytes and begins with the bytes the receiver holds, else 0 (from the start).
async fn resumable(path: &std::path::Path, size: u64, r: Resume) -> u64 {
    let whole = r.records.saturating_mul(u64::from(RECORD_SIZE));
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return 0;
    };
    let len = f.metadata().await.map_or(0, |m| m.len());
    if len != size || whole >= size {
        return 0;
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; WRITE_BUFFER];
    let mut left = whole;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        if f.read_exact(&mut buf[..n]).await.is_err() {
            return 0;
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    if <[u8; 32]>::from(h.finalize()) == r.digest {
        r.records
    } else {
        0
    }
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
                match o {
                    Outcome::Corrupt(_) | Outcome::Stopped(Stop::Cancelled) => s.discard(),
                    _ => s.abort().await,
                }
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
    // Asked to resume: the sender's start frame comes before the header.
    let mut awaiting_start = sink.as_ref().and_then(Sink::resume);
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
        if let Some(asked) = awaiting_start.take() {
            let bad = || Outcome::Failed("The sender sent a malformed start.".into());
            let first = hush_core::transfer::decode_start(&frame).ok_or_else(bad)?;
            if first == 0 {
                if let Some(s) = sink.as_mut() {
                    s.restart().await.map_err(save_error)?;
                }
            } else if first != asked.records {
                return Err(bad());
            }
            incoming.resume_at(first).map_err(|e| refused(&e))?;
            continue;
        }
        let Some((plan, key)) = &opened else {
            opened = Some(incoming.header(root, &frame).map_err(|e| refused(&e))?);
            continue;
        };
        let task = incoming.record(frame.len()).map_err(|e| refused(&e))?;
        let plain = match open_record(key, &task.nonce, plan.header_bytes(), &frame, task.index) {
            Ok(p) => p,
            Err(_) => return Err(refused(&incoming.auth_failed(task.index))),
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
            incoming.finish().map_err(|e| refused(&e))?;
            let s = sink
                .take()
                .ok_or_else(|| Outcome::Failed("The file could not be saved.".into()))?;
            s.finish().await?;
            let _ = link.send(&Feedback::Done.encode()).await;
            return Ok(());
        }
    }
}
