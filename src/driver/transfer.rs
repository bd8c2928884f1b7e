//! One file transfer on a connection of its own: the sending and the receiving task.
//!
//! Each task owns its channel and its callbacks and runs until the transfer ends; the driver
//! keeps a [`Control`] to stop it (cancel, withdraw, peer gone, idle) and hears the outcome as
//! an event. The rules (header check, record order, declared size, flow-control window,
//! acknowledgements) are `hush_core::transfer`'s; this module moves bytes between the file,
//! the crypto (WebCrypto, `crypto`), the channel and the sink, as JS buffers that never pass
//! through wasm memory.

use super::crypto::{finished, RecordCipher};
use super::sink::{Sink, KEEPALIVE_MS};
use super::Event;
use crate::js::{await_promise, now_ms, sleep_ms, JsError};
use crate::listener::Listener;
use crate::state::{FileKey, Progress, RoomAction, UploadState, UploadView};
use futures::channel::mpsc;
use futures::StreamExt;
use hush_core::ids::PeerId;
use hush_core::seal::Key;
use hush_core::stream::{StreamPlan, HEADER_LEN};
use hush_core::transfer::{
    encode_start, resume_offset, Feedback, FileId, Incoming, PrefixDigest, Rate, RecordToOpen,
    Resume, Stop, TransferError, Window, HIGH_WATER_BYTES, LOW_WATER_BYTES, OPEN_AHEAD_RECORDS,
    READY_RESEND_MS, READ_SLICE_RECORDS, WINDOW_RECORDS,
};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{
    EventTarget, MessageEvent, RtcDataChannel, RtcDataChannelState, RtcDataChannelType,
    RtcPeerConnection, RtcPeerConnectionState,
};
use yew::Callback;

/// Progress reaches the UI at most this often (a progress bar at 4 Hz reads smoothly).
const PROGRESS_MS: u64 = 250;
/// Frames the receiving side queues before it treats the sender as ignoring flow control: the
/// window plus the header, with slack for acknowledgements still on their way.
const MAX_QUEUED_FRAMES: usize = 2 * WINDOW_RECORDS as usize + 8;

/// How long a receiver keeps a finished transfer's connection for the sender to close it.
const LINGER_MS: u32 = 5_000;
/// Records opened at once (core's limit), and sealed at once, as many. One at a time left each
/// side waiting on a round trip to WebCrypto's thread per 64 KiB; a few in flight keep that
/// thread and the page busy together, while holding at most this many records in memory.
const OPEN_AHEAD: usize = OPEN_AHEAD_RECORDS as usize;
const SEAL_AHEAD: usize = OPEN_AHEAD;

enum ChannelEvent {
    Open,
    Message(js_sys::ArrayBuffer),
    /// `bufferedamountlow`: room to queue more.
    Low,
    Closed,
    /// The peer sent more frames than flow control allows.
    Overflow,
}

/// A transfer's data channel, on the transfer's own connection, whose events arrive, in order,
/// through an async queue. Handlers are set the moment the channel is wrapped, so no early
/// message is lost; dropping it closes the channel and the connection.
pub struct FileChannel {
    pc: RtcPeerConnection,
    dc: RtcDataChannel,
    rx: mpsc::UnboundedReceiver<ChannelEvent>,
    tx: mpsc::UnboundedSender<ChannelEvent>,
    queued: Rc<Cell<usize>>,
    /// When the last frame from the peer arrived (set in the browser's callback itself).
    heard_ms: Rc<Cell<u64>>,
    _listeners: Vec<Listener>,
}

impl FileChannel {
    pub fn wrap(pc: RtcPeerConnection, dc: RtcDataChannel) -> Self {
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);
        dc.set_buffered_amount_low_threshold(LOW_WATER_BYTES);
        let (tx, rx) = mpsc::unbounded();
        let queued = Rc::new(Cell::new(0usize));
        let dct: EventTarget = dc.clone().unchecked_into();
        let pct: EventTarget = pc.clone().unchecked_into();
        let on = |event: &'static str, f: fn() -> ChannelEvent| {
            let tx = tx.clone();
            Listener::new(&dct, event, move |_| {
                let _ = tx.unbounded_send(f());
            })
        };
        let mut listeners = vec![
            on("open", || ChannelEvent::Open),
            on("bufferedamountlow", || ChannelEvent::Low),
            on("close", || ChannelEvent::Closed),
            on("error", || ChannelEvent::Closed),
        ];
        // A connection that fails (the peer vanished, the network changed) ends the transfer
        // at once instead of at the idle timeout.
        let (ftx, fpc) = (tx.clone(), pc.clone());
        listeners.push(Listener::new(&pct, "connectionstatechange", move |_| {
            if matches!(
                fpc.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                let _ = ftx.unbounded_send(ChannelEvent::Closed);
            }
        }));
        let heard_ms = Rc::new(Cell::new(now_ms()));
        let (mtx, q, heard) = (tx.clone(), queued.clone(), heard_ms.clone());
        listeners.push(Listener::new(&dct, "message", move |ev| {
            heard.set(now_ms());
            if q.get() > MAX_QUEUED_FRAMES {
                return;
            }
            let Some(buf) = ev
                .dyn_ref::<MessageEvent>()
                .and_then(|e| e.data().dyn_into::<js_sys::ArrayBuffer>().ok())
            else {
                // Text is not part of the protocol: an empty frame is malformed everywhere.
                let _ = mtx.unbounded_send(ChannelEvent::Message(js_sys::ArrayBuffer::new(0)));
                return;
            };
            q.set(q.get() + 1);
            let ev = if q.get() > MAX_QUEUED_FRAMES {
                ChannelEvent::Overflow
            } else {
                ChannelEvent::Message(buf)
            };
            let _ = mtx.unbounded_send(ev);
        }));
        if dc.ready_state() == RtcDataChannelState::Open {
            let _ = tx.unbounded_send(ChannelEvent::Open);
        }
        Self {
            pc,
            dc,
            rx,
            tx,
            queued,
            heard_ms,
            _listeners: listeners,
        }
    }

    async fn next(&mut self) -> ChannelEvent {
        let ev = self.rx.next().await.unwrap_or(ChannelEvent::Closed);
        self.took(ev)
    }

    /// The next event if one is already queued.
    fn try_next(&mut self) -> Option<ChannelEvent> {
        match self.rx.try_recv() {
            Ok(ev) => Some(self.took(ev)),
            Err(mpsc::TryRecvError::Closed) => Some(ChannelEvent::Closed),
            Err(mpsc::TryRecvError::Empty) => None,
        }
    }

    fn took(&self, ev: ChannelEvent) -> ChannelEvent {
        if matches!(ev, ChannelEvent::Message(_)) {
            self.queued.set(self.queued.get().saturating_sub(1));
        }
        ev
    }

    fn send(&self, bytes: &[u8]) -> Result<(), JsError> {
        Ok(self.dc.send_with_u8_array(bytes)?)
    }

    fn send_buffer(&self, buf: &js_sys::ArrayBuffer) -> Result<(), JsError> {
        Ok(self.dc.send_with_array_buffer(buf)?)
    }

    /// What the driver keeps to stop this transfer.
    pub fn control(&self) -> Control {
        Control {
            pc: self.pc.clone(),
            dc: self.dc.clone(),
            wake: self.tx.clone(),
            stop: Rc::new(Cell::new(None)),
            last_progress_ms: Rc::new(Cell::new(now_ms())),
            heard_ms: self.heard_ms.clone(),
        }
    }
}

impl Drop for FileChannel {
    fn drop(&mut self) {
        self.dc.close();
        self.pc.close();
    }
}

/// The driver's handle on a running transfer.
#[derive(Clone)]
pub struct Control {
    /// The transfer's connection, for applying the peer's answer.
    pub pc: RtcPeerConnection,
    dc: RtcDataChannel,
    wake: mpsc::UnboundedSender<ChannelEvent>,
    stop: Rc<Cell<Option<Stop>>>,
    pub last_progress_ms: Rc<Cell<u64>>,
    /// When the peer last sent anything on this transfer's channel: proof that it is alive
    /// even while a saturated link delays its heartbeats.
    pub heard_ms: Rc<Cell<u64>>,
}

impl Control {
    /// Ends the transfer: the task wakes, sees why, and cleans up.
    pub fn stop(&self, why: Stop) {
        if self.stop.get().is_none() {
            self.stop.set(Some(why));
        }
        let _ = self.wake.unbounded_send(ChannelEvent::Closed);
        self.dc.close();
    }
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver confirmed (sender) / every record opened and the file is saved (receiver,
    /// with the `blob:` URL of a file kept in memory).
    Verified(Option<String>),
    Cancelled,
    Withdrawn,
    Failed(String),
}

impl Outcome {
    fn stopped(stop: Option<Stop>, otherwise: &str) -> Self {
        match stop {
            Some(Stop::Cancelled) => Outcome::Cancelled,
            Some(Stop::Withdrawn) => Outcome::Withdrawn,
            Some(s) => Outcome::Failed(s.describe().into()),
            None => Outcome::Failed(otherwise.into()),
        }
    }
}

/// Reports a transfer's progress to the UI and its end to the driver.
pub struct Reporter {
    pub key: FileKey,
    pub peer: PeerId,
    pub id: FileId,
    pub peer_name: String,
    pub total: u64,
    pub dispatch: Callback<RoomAction>,
    pub events: mpsc::Sender<Event>,
    pub control: Control,
    last_ms: u64,
    last_bytes: u64,
    rate: Option<Rate>,
}

impl Reporter {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: FileKey,
        peer: PeerId,
        id: FileId,
        peer_name: String,
        total: u64,
        dispatch: Callback<RoomAction>,
        events: mpsc::Sender<Event>,
        control: Control,
    ) -> Self {
        Self {
            key,
            peer,
            id,
            peer_name,
            total,
            dispatch,
            events,
            control,
            last_ms: now_ms(),
            last_bytes: 0,
            rate: None,
        }
    }

    /// Records progress; tells the UI when it is time (or `force`).
    fn progress(&mut self, bytes: u64, force: bool) -> Option<Progress> {
        let now = now_ms();
        self.control.last_progress_ms.set(now);
        if !force && now.saturating_sub(self.last_ms) < PROGRESS_MS {
            return None;
        }
        self.rate = Rate::update(
            self.rate,
            bytes.saturating_sub(self.last_bytes),
            now - self.last_ms,
        );
        self.last_ms = now;
        self.last_bytes = bytes;
        Some(Progress {
            bytes,
            bytes_per_sec: self.rate.map(|r| r.bytes_per_sec),
        })
    }

    /// Records a download's progress and shows it when due.
    fn download_progress(&mut self, bytes: u64, force: bool) {
        if let Some(progress) = self.progress(bytes, force) {
            self.dispatch.emit(RoomAction::FileProgress {
                key: self.key.clone(),
                progress,
            });
        }
    }

    fn upload_view(&self, state: UploadState, bytes: u64) -> RoomAction {
        RoomAction::Upload {
            id: self.key.id.clone(),
            peer: self.peer.to_string(),
            upload: UploadView {
                peer_name: self.peer_name.clone(),
                state,
                progress: Progress {
                    bytes,
                    bytes_per_sec: self.rate.map(|r| r.bytes_per_sec),
                },
            },
        }
    }

    fn end(self, outcome: Outcome, upload: bool) {
        let ev = if upload {
            Event::UploadEnded(self.peer, self.id, outcome)
        } else {
            Event::DownloadEnded(self.peer, self.id, outcome)
        };
        let mut tx = self.events;
        let _ = tx.try_send(ev);
    }
}

/// Sends `file` sealed record by record, reading it a slice at a time, within the window and
/// the channel's buffer limits; ends when the receiver confirms.
pub async fn upload(
    mut ch: FileChannel,
    file: web_sys::File,
    plan: StreamPlan,
    key: Key,
    resume: Option<Resume>,
    mut report: Reporter,
) {
    let outcome = send_all(&mut ch, &file, &plan, &key, resume, &mut report).await;
    let outcome = match outcome {
        Ok(()) => Outcome::Verified(None),
        Err(fail) => fail,
    };
    let bytes = report.last_bytes;
    let state = match &outcome {
        Outcome::Verified(_) => UploadState::Verified,
        Outcome::Cancelled => UploadState::Cancelled,
        Outcome::Withdrawn => UploadState::Cancelled,
        Outcome::Failed(why) => UploadState::Failed(why.clone()),
    };
    report.dispatch.emit(report.upload_view(state, bytes));
    drop(ch);
    report.end(outcome, true);
}

async fn send_all(
    ch: &mut FileChannel,
    file: &web_sys::File,
    plan: &StreamPlan,
    key: &Key,
    resume: Option<Resume>,
    report: &mut Reporter,
) -> Result<(), Outcome> {
    let stop = report.control.stop.clone();
    let closed = |what: &str| Outcome::stopped(stop.get(), what);
    // The receiver closes the channel to cancel.
    let receiver_closed = || match stop.get() {
        None => Outcome::Cancelled,
        s => Outcome::stopped(s, ""),
    };
    let failed = |what: &str, e: JsError| Outcome::Failed(format!("{what}: {e}"));
    let cipher = RecordCipher::new(key, plan.header_bytes())
        .await
        .map_err(|e| failed("Encryption is not available", e))?;
    loop {
        match ch.next().await {
            ChannelEvent::Open => break,
            ChannelEvent::Closed => return Err(closed("The file channel did not open.")),
            _ => {}
        }
    }
    // The header goes out once the receiver said it is reading (`Feedback::Ready`).
    let mut window = Window::default();
    let mut confirmed = false;
    let mut ready = false;
    while !ready {
        if !hear_receiver(ch, &mut window, &mut confirmed, &mut ready).await? {
            return Err(closed("The file channel closed before the transfer began."));
        }
    }
    // A send that fails because the channel is closing is the receiver cancelling.
    let send_failed = |ch: &FileChannel, e: JsError| {
        if ch.dc.ready_state() == RtcDataChannelState::Open {
            failed("Sending failed", e)
        } else {
            receiver_closed()
        }
    };
    let total = plan.header().total_size;
    let slice_len = READ_SLICE_RECORDS * u64::from(plan.header().record_size);
    // Asked to continue after records the receiver holds: only if this file still starts with
    // the very same bytes (else from the start, and the receiver drops what it held).
    let mut first = 0;
    if let Some(r) = resume {
        if let Some(skip) = resume_offset(r.records, total) {
            let mut digest = PrefixDigest::default();
            let mut hashing = Reader::new(file, skip, slice_len);
            let mut left = skip;
            while left > 0 {
                let n = left.min(slice_len) as u32;
                match hashing.take(n).await {
                    Ok(Some(bytes)) => digest.update(&bytes.to_vec()),
                    _ => break,
                }
                left -= u64::from(n);
            }
            if left == 0 && digest.finish() == r.digest {
                first = r.records;
            }
        }
        ch.send(&encode_start(first))
            .map_err(|e| send_failed(ch, e))?;
    }
    ch.send(plan.header_bytes())
        .map_err(|e| send_failed(ch, e))?;
    report
        .dispatch
        .emit(report.upload_view(UploadState::Sending, 0));
    let skip = first * u64::from(plan.header().record_size);
    let mut reader = Reader::new(file, total, slice_len);
    reader.requested = skip;
    window = Window::starting_at(first);
    // Records being sealed, oldest first, with their plaintext length.
    let mut sealing: VecDeque<(js_sys::Promise, u64)> = VecDeque::new();
    let mut next = first;
    let mut offset = skip;
    loop {
        // Keep SEAL_AHEAD records sealing while earlier ones wait for room on the channel.
        while sealing.len() < SEAL_AHEAD {
            let Some(len) = plan.plaintext_len(next) else {
                break;
            };
            let changed = || Outcome::Failed("The file changed while it was sent.".into());
            let nonce = plan.nonce(next).ok_or_else(changed)?;
            let plain = reader
                .take(len as u32)
                .await
                .map_err(|e| failed("Could not read the file", e))?
                .ok_or_else(changed)?;
            let p = cipher
                .start_seal(&nonce, &plain)
                .map_err(|e| failed("Encryption failed", e))?;
            sealing.push_back((p, len as u64));
            next += 1;
        }
        let Some((p, len)) = sealing.pop_front() else {
            break;
        };
        while !window.open() || ch.dc.buffered_amount() > HIGH_WATER_BYTES {
            if !hear_receiver(ch, &mut window, &mut confirmed, &mut ready).await? {
                return Err(receiver_closed());
            }
        }
        if stop.get().is_some() {
            return Err(closed(""));
        }
        let sealed = finished(p)
            .await
            .map_err(|e| failed("Encryption failed", e))?;
        ch.send_buffer(&sealed).map_err(|e| send_failed(ch, e))?;
        window.on_sent();
        offset += len;
        if let Some(p) = report.progress(offset, false) {
            report
                .dispatch
                .emit(report.upload_view(UploadState::Sending, p.bytes));
        }
    }
    report.progress(total, true);
    while !confirmed {
        if !hear_receiver(ch, &mut window, &mut confirmed, &mut ready).await? {
            return Err(closed(
                "The receiver closed the transfer before confirming it.",
            ));
        }
    }
    Ok(())
}

/// Waits for the next event on the sender's channel and applies the receiver's feedback;
/// `Ok(false)` when the channel closed.
async fn hear_receiver(
    ch: &mut FileChannel,
    window: &mut Window,
    confirmed: &mut bool,
    ready: &mut bool,
) -> Result<bool, Outcome> {
    match ch.next().await {
        ChannelEvent::Message(m) => feedback(&m, window, confirmed, ready)?,
        ChannelEvent::Closed => return Ok(false),
        ChannelEvent::Overflow => {
            return Err(Outcome::Failed("The receiver sent too much.".into()))
        }
        ChannelEvent::Open | ChannelEvent::Low => {}
    }
    Ok(true)
}

/// Applies one receiver → sender frame.
fn feedback(
    frame: &js_sys::ArrayBuffer,
    window: &mut Window,
    confirmed: &mut bool,
    ready: &mut bool,
) -> Result<(), Outcome> {
    let bad = || Outcome::Failed("The receiver sent something malformed.".into());
    // Feedback frames are a few bytes; anything large is not one.
    if frame.byte_length() > 16 {
        return Err(bad());
    }
    let bytes = js_sys::Uint8Array::new(frame).to_vec();
    match Feedback::decode(&bytes).ok_or_else(bad)? {
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

/// Reads a file front to back in slices, the next slice already being read while records are
/// taken from the current one.
struct Reader<'a> {
    file: &'a web_sys::File,
    total: u64,
    slice_len: u64,
    /// Where the next slice to request starts.
    requested: u64,
    current: js_sys::Uint8Array,
    at: u32,
    ahead: Option<js_sys::Promise>,
}

impl<'a> Reader<'a> {
    fn new(file: &'a web_sys::File, total: u64, slice_len: u64) -> Self {
        Self {
            file,
            total,
            slice_len,
            requested: 0,
            current: js_sys::Uint8Array::new_with_length(0),
            at: 0,
            ahead: None,
        }
    }

    /// Starts reading the next slice, if any is left.
    fn request(&mut self) -> Result<(), JsError> {
        if self.ahead.is_none() && self.requested < self.total {
            let end = (self.requested + self.slice_len).min(self.total);
            let blob = self
                .file
                .slice_with_f64_and_f64(self.requested as f64, end as f64)?;
            self.ahead = Some(blob.array_buffer());
            self.requested = end;
        }
        Ok(())
    }

    /// The next `len` bytes; `None` if the file ended early (it changed since it was offered).
    /// Records never straddle slices: a slice is a whole number of records.
    async fn take(&mut self, len: u32) -> Result<Option<js_sys::Uint8Array>, JsError> {
        if self.at >= self.current.byte_length() && len > 0 {
            self.request()?;
            let Some(p) = self.ahead.take() else {
                return Ok(None);
            };
            self.current = js_sys::Uint8Array::new(&await_promise(p).await?);
            self.at = 0;
            self.request()?;
        }
        let end = self.at.saturating_add(len);
        if end > self.current.byte_length() {
            return Ok(None);
        }
        let out = self.current.subarray(self.at, end);
        self.at = end;
        Ok(Some(out))
    }
}

/// Receives, verifies and writes out one file; confirms to the sender once it is saved.
pub async fn download(
    mut ch: FileChannel,
    mut incoming: Incoming,
    file_root: Key,
    sink: Sink,
    mut report: Reporter,
) {
    let mut sink = Some(sink);
    let result = receive_all(&mut ch, &mut incoming, &file_root, &mut sink, &mut report).await;
    let (outcome, confirmed) = match result {
        Ok(url) => (Outcome::Verified(url), true),
        Err(fail) => {
            if let Some(s) = sink.take() {
                s.abort();
            }
            (fail, false)
        }
    };
    report.end(outcome, false);
    if confirmed {
        linger(&mut ch).await;
    }
}

/// Waits, at most [`LINGER_MS`], for the sender to close the connection after our
/// confirmation: closing it first could lose the confirmation still on its way.
async fn linger(ch: &mut FileChannel) {
    let closed = Box::pin(async { while !matches!(ch.next().await, ChannelEvent::Closed) {} });
    futures::future::select(closed, Box::pin(sleep_ms(LINGER_MS))).await;
}

async fn receive_all(
    ch: &mut FileChannel,
    incoming: &mut Incoming,
    file_root: &Key,
    sink: &mut Option<Sink>,
    report: &mut Reporter,
) -> Result<Option<String>, Outcome> {
    let stop = report.control.stop.clone();
    let mut keepalive_ms = now_ms();
    let mut cipher: Option<RecordCipher> = None;
    // Records whose decryption has started, oldest first.
    let mut opening: VecDeque<(RecordToOpen, js_sys::Promise)> = VecDeque::new();
    let save_failed = |e: JsError| Outcome::Failed(format!("Could not save the file: {e}"));
    loop {
        // Start opening every record that has arrived, up to OPEN_AHEAD at once; wait for the
        // channel only when nothing is being opened.
        if opening.len() < OPEN_AHEAD {
            let event = if cipher.is_none() {
                // Until the header arrives, say Ready when the channel opens and every
                // READY_RESEND_MS after.
                let next = Box::pin(ch.next());
                let wait = Box::pin(sleep_ms(READY_RESEND_MS as u32));
                let heard = match futures::future::select(next, wait).await {
                    futures::future::Either::Left((ev, _)) => Some(ev),
                    futures::future::Either::Right(_) => None,
                };
                if heard.is_none() && ch.dc.ready_state() == RtcDataChannelState::Open {
                    let _ = ch.send(&Feedback::Ready.encode());
                }
                heard
            } else if opening.is_empty() {
                Some(ch.next().await)
            } else {
                ch.try_next()
            };
            if let Some(event) = event {
                let frame = match event {
                    ChannelEvent::Message(m) => m,
                    ChannelEvent::Closed => {
                        return Err(Outcome::stopped(
                            stop.get(),
                            "The transfer was interrupted before the whole file arrived.",
                        ))
                    }
                    ChannelEvent::Overflow => {
                        return Err(Outcome::Failed(
                            "The sender ignored flow control; the transfer was cut off.".into(),
                        ))
                    }
                    ChannelEvent::Open => {
                        let _ = ch.send(&Feedback::Ready.encode());
                        continue;
                    }
                    ChannelEvent::Low => continue,
                };
                if stop.get().is_some() {
                    return Err(Outcome::stopped(stop.get(), ""));
                }
                match cipher.as_ref() {
                    None => cipher = Some(start(incoming, file_root, &frame).await?),
                    Some(c) => {
                        let task = incoming
                            .record(frame.byte_length() as usize)
                            .map_err(|e| Outcome::Failed(describe(&e)))?;
                        let p = c.start_open(&task.nonce, &frame).map_err(|e| {
                            Outcome::Failed(format!("Decryption is not available: {e}"))
                        })?;
                        opening.push_back((task, p));
                    }
                }
                continue;
            }
        }
        let Some((task, p)) = opening.pop_front() else {
            continue;
        };
        let plain = match finished(p).await {
            Ok(p) => p,
            Err(_) => return Err(Outcome::Failed(describe(&incoming.auth_failed(task.index)))),
        };
        if stop.get().is_some() {
            return Err(Outcome::stopped(stop.get(), ""));
        }
        incoming.opened(task.index);
        let Some(s) = sink.as_mut() else {
            return Err(Outcome::Failed("The file could not be saved.".into()));
        };
        if s.cancelled_by_browser() {
            return Err(Outcome::Cancelled);
        }
        s.write(js_sys::Uint8Array::new(&plain))
            .await
            .map_err(save_failed)?;
        if let Some(ack) = incoming.ack_due() {
            let _ = ch.send(&ack.encode());
        }
        report.download_progress(incoming.bytes_done(), false);
        let now = now_ms();
        if now.saturating_sub(keepalive_ms) >= KEEPALIVE_MS {
            keepalive_ms = now;
            s.keepalive();
        }
        if task.last {
            incoming
                .finish()
                .map_err(|e| Outcome::Failed(describe(&e)))?;
            let Some(s) = sink.take() else {
                return Err(Outcome::Failed("The file could not be saved.".into()));
            };
            let url = s.finish().await.map_err(save_failed)?;
            let _ = ch.send(&Feedback::Done.encode());
            report.download_progress(report.total, true);
            return Ok(url);
        }
    }
}

/// Checks the stream header (the first frame) and prepares the file's key.
async fn start(
    incoming: &mut Incoming,
    file_root: &Key,
    frame: &js_sys::ArrayBuffer,
) -> Result<RecordCipher, Outcome> {
    let head = js_sys::Uint8Array::new(frame);
    // Only a header-sized frame is copied in; anything else fails the length check.
    let bytes = if head.byte_length() as usize == HEADER_LEN {
        head.to_vec()
    } else {
        Vec::new()
    };
    let (plan, key) = incoming
        .header(file_root, &bytes)
        .map_err(|e| Outcome::Failed(describe(&e)))?;
    RecordCipher::new(&key, plan.header_bytes())
        .await
        .map_err(|e| Outcome::Failed(format!("Decryption is not available: {e}")))
}

/// What the user reads about a failed transfer.
fn describe(e: &TransferError) -> String {
    if e.is_verification() {
        "The file failed verification: it was altered, cut short, or sent with another room name. Nothing of it was kept.".into()
    } else {
        format!("{e}. Nothing of it was kept.")
    }
}
