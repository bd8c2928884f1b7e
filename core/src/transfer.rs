//! File transfers between two peers: the rules both ends follow, without any I/O.
//!
//! A file is offered to the room on the control channel ([`crate::wire::PeerMessage::FileOffer`]).
//! A peer that wants it sends [`crate::wire::PeerMessage::FileRequest`]; the sender then opens a
//! peer connection of its own for that one transfer (its offer and answer travel sealed over
//! the control channel as [`crate::wire::PeerMessage::FileLink`]), with one channel labelled
//! [`channel_label`], so a large file never queues behind chat in one SCTP association. On
//! that channel:
//!
//! - sender → receiver: the STREAM header ([`crate::stream::HEADER_LEN`] bytes), then each
//!   sealed record as one message;
//! - receiver → sender: [`Feedback`] frames: an acknowledgement every [`ACK_EVERY_RECORDS`]
//!   records written out, and `Done` once the last record opened and the file was saved.
//!
//! The sender keeps at most [`WINDOW_RECORDS`] records unacknowledged, so the receiver's memory
//! is bounded by the window whatever its disk does, on top of the data channel's own
//! back-pressure ([`HIGH_WATER_BYTES`]). The receiver closes the channel to cancel; a channel
//! that closes before `Done` is a failed transfer on both sides.

use std::fmt;

use crate::seal::{Key, NONCE_LEN};
use crate::stream::{file_key, StreamError, StreamHeader, StreamPlan, HEADER_LEN, RECORD_OVERHEAD};

/// Random bytes in a file id (the offer's identity, also the STREAM file id).
pub const FILE_ID_LEN: usize = 16;
/// Prefix of a file channel's label; the hex file id follows.
pub const CHANNEL_PREFIX: &str = "hush-file/";
/// Records in flight (sent, not acknowledged): 128 × 64 KiB = 8 MiB. It counts what still
/// sits in the sender's channel buffer (up to [`HIGH_WATER_BYTES`]), so it must be well above
/// that to keep the link busy; it bounds what a slow disk makes the receiver hold.
pub const WINDOW_RECORDS: u64 = 128;
/// The receiver acknowledges after this many records: often enough that the window never runs
/// dry, rarely enough that feedback is negligible traffic.
pub const ACK_EVERY_RECORDS: u64 = 16;
/// The sender stops queueing while the channel buffers more than this (bytes)… A transfer has
/// a connection of its own, so nothing else waits behind what it buffers; 4 MiB keeps the
/// browser's SCTP stack fed between two wake-ups of the page.
pub const HIGH_WATER_BYTES: u32 = 4 * 1024 * 1024;
/// …and resumes when it has drained below this (`bufferedAmountLowThreshold`).
pub const LOW_WATER_BYTES: u32 = 1024 * 1024;
/// Records the receiver may have handed out to open and not yet settled: a few decryptions
/// run at once (each a round trip to another thread in the browser) while the order in which
/// plaintext is released stays strict.
pub const OPEN_AHEAD_RECORDS: u64 = 8;
/// Records read from the file at once (4 MiB of 64 KiB records). Each read is a `Blob.slice`
/// and an `arrayBuffer()`, a cost per call in the browser: 1 MiB slices took 5% of the sending
/// page's time, 4 MiB ones 1.4%. An upload holds at most two slices (one in use, one read ahead).
pub const READ_SLICE_RECORDS: u64 = 64;
/// Transfers one peer may have running towards us at once (each holds a channel and a sink).
pub const MAX_INCOMING_PER_PEER: usize = 4;
/// Transfers we serve to one peer at once; further requests are refused as busy.
pub const MAX_OUTGOING_PER_PEER: usize = 4;
/// Offers one peer may have standing in our room view (an offer costs a chat row and memory).
/// A sender refuses more at its own end, so a peer that sends more is not following the
/// protocol and is disconnected.
pub const MAX_OFFERS_PER_PEER: usize = 256;
/// How often a receiver repeats [`Feedback::Ready`] until the header arrives.
pub const READY_RESEND_MS: u64 = 250;
/// A transfer with no progress for this long fails (a stalled or silent peer).
pub const IDLE_TIMEOUT_MS: u64 = 30_000;
/// Largest file received into memory to show inline (images, short audio and video).
pub const MAX_INLINE_BYTES: u64 = 32 * 1024 * 1024;
/// Largest "view once" file: it is received into memory and shown once, never saved.
pub const MAX_VIEW_ONCE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest file name accepted in an offer (raw bytes; sanitized afterwards).
pub const MAX_OFFER_NAME_BYTES: usize = 1024;
/// Longest MIME type accepted in an offer.
pub const MAX_MIME_BYTES: usize = 128;

/// A file offer's id: random, chosen by the sender.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FileId(pub [u8; FILE_ID_LEN]);

impl FileId {
    /// Lower-case hex: the STREAM file id and the channel label suffix.
    pub fn to_hex(&self) -> String {
        crate::hex::to_hex(&self.0)
    }

    /// Parses exactly [`FILE_ID_LEN`] bytes of lower-case hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::hex::from_hex(s).map(Self)
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({})", self.to_hex())
    }
}

/// The label of the data channel that carries file `id`.
pub fn channel_label(id: &FileId) -> String {
    format!("{CHANNEL_PREFIX}{}", id.to_hex())
}

/// The file id of a file channel's label, or `None` for any other channel.
pub fn parse_channel_label(label: &str) -> Option<FileId> {
    FileId::from_hex(label.strip_prefix(CHANNEL_PREFIX)?)
}

/// Why a sender will not send a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Refusal {
    /// No such offer, or it was withdrawn.
    NotOffered,
    /// A view-once file this peer already received.
    AlreadyViewed,
    /// Too many transfers to this peer at once; ask again later.
    Busy,
}

impl Refusal {
    /// What the receiver is told.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::NotOffered => "The sender no longer offers this file.",
            Refusal::AlreadyViewed => "This view-once file was already opened.",
            Refusal::Busy => "The sender is busy with other transfers to you. Try again shortly.",
        }
    }
}

/// Why a running transfer was stopped from outside its task (the engine decides; the task
/// cleans up and reports its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Cancelled,
    Withdrawn,
    PeerLeft,
    Idle,
    /// The transfer's own connection could not be set up.
    Unreachable,
}

impl Stop {
    /// What the user is told.
    pub fn describe(self) -> &'static str {
        match self {
            Stop::Cancelled => "cancelled",
            Stop::Withdrawn => "The sender withdrew the file.",
            Stop::PeerLeft => "The other person left, so the transfer was interrupted.",
            Stop::Idle => "Nothing arrived for too long, so the transfer was stopped.",
            Stop::Unreachable => "No connection for the transfer could be made.",
        }
    }
}

/// Where a receiver that already holds the start of a file asks to continue: after `records`
/// whole records, whose plaintext has SHA-256 `digest`. The sender continues only if its own
/// file starts with the same bytes (a file changed since is sent again from the start), and
/// always under a fresh key (the engine draws a new salt for every transfer), so no (key,
/// nonce) pair ever seals two different plaintexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub records: u64,
    pub digest: [u8; 32],
}

/// SHA-256 over the first bytes of a file, fed in pieces: what a [`Resume`] carries, computed
/// by the receiver over what it holds and by the sender over its own file.
#[derive(Default, Clone)]
pub struct PrefixDigest(sha2::Sha256);

impl PrefixDigest {
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        use sha2::Digest;
        self.0.finalize().into()
    }
}

/// Bytes a resume after `records` whole records skips (`None` when a file of `size` bytes
/// cannot resume there: it must still have at least its last record to send).
pub fn resume_offset(records: u64, size: u64) -> Option<u64> {
    let offset = records.checked_mul(u64::from(crate::stream::RECORD_SIZE))?;
    (records > 0 && offset < size && size != crate::stream::UNKNOWN_SIZE).then_some(offset)
}

/// Tag of the sender's start frame ([`encode_start`]).
const START_TAG: u8 = 0x53;
/// Length of the start frame: tag and the first record's index.
pub const START_LEN: usize = 9;

/// Sender → receiver, first on the channel when the request carried a [`Resume`]: the index of
/// the first record that follows the header (0: from the start).
pub fn encode_start(first_record: u64) -> [u8; START_LEN] {
    let mut out = [0u8; START_LEN];
    out[0] = START_TAG;
    out[1..].copy_from_slice(&first_record.to_be_bytes());
    out
}

pub fn decode_start(frame: &[u8]) -> Option<u64> {
    match frame.split_first()? {
        (&START_TAG, rest) => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// Receiver → sender frames on a file channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// The receiver's channel is open and reading. It says so when its channel opens, and
    /// again every [`READY_RESEND_MS`] until the header arrives; the sender sends the header
    /// only once it has heard it. A WebRTC stack can drop a message that arrives in the
    /// instant its association comes up (webrtc-rs does, before it has mapped a pre-negotiated
    /// channel's stream), so neither side speaks first into a channel the other may not have.
    Ready,
    /// This many records have been written out (cumulative).
    Ack { records: u64 },
    /// The last record opened and the file is saved: the transfer succeeded.
    Done,
}

const FEEDBACK_ACK: u8 = 1;
const FEEDBACK_DONE: u8 = 2;
const FEEDBACK_READY: u8 = 3;

impl Feedback {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Feedback::Ack { records } => {
                let mut out = vec![FEEDBACK_ACK];
                out.extend_from_slice(&records.to_be_bytes());
                out
            }
            Feedback::Done => vec![FEEDBACK_DONE],
            Feedback::Ready => vec![FEEDBACK_READY],
        }
    }

    pub fn decode(frame: &[u8]) -> Option<Self> {
        match frame.split_first()? {
            (&FEEDBACK_ACK, rest) => Some(Feedback::Ack {
                records: u64::from_be_bytes(rest.try_into().ok()?),
            }),
            (&FEEDBACK_DONE, []) => Some(Feedback::Done),
            (&FEEDBACK_READY, []) => Some(Feedback::Ready),
            _ => None,
        }
    }
}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the file failed verification: {0}")]
    Verification(#[from] StreamError),
    #[error("the sender announced {announced} bytes but offered {offered}")]
    SizeMismatch { offered: u64, announced: u64 },
    #[error("the sender sent more data than the file holds")]
    TooMuchData,
    #[error("the transfer ended before the whole file arrived")]
    Incomplete,
    #[error("a malformed frame arrived on the file channel")]
    Malformed,
}

impl TransferError {
    /// Whether the failure means the bytes were not authentic (shown as a failed verification).
    pub fn is_verification(&self) -> bool {
        matches!(self, TransferError::Verification(_))
    }
}

/// A record to open: its place, its nonce, and whether it is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordToOpen {
    pub index: u64,
    pub nonce: [u8; NONCE_LEN],
    pub last: bool,
}

/// The receiving end of one transfer: checks the header against the offer, frames records in
/// order, enforces the declared size and says when to acknowledge. The AES-GCM itself is the
/// caller's (WebCrypto in the browser, [`crate::stream::open_record`] elsewhere): it opens each
/// record with [`file_key`], the given nonce and [`StreamPlan::header_bytes`], and reports the
/// results in order with [`Incoming::opened`] or [`Incoming::auth_failed`], with at most
/// [`OPEN_AHEAD_RECORDS`] records handed out and unsettled.
pub struct Incoming {
    id: FileId,
    offered_size: u64,
    plan: Option<StreamPlan>,
    /// Records handed out to open.
    next: u64,
    /// Records opened (authenticated).
    opened: u64,
    /// Plaintext bytes of the records handed out and not yet opened, oldest first.
    unsettled: std::collections::VecDeque<u64>,
    /// Plaintext bytes opened.
    bytes: u64,
    /// A stream of unknown size: the index of its last record, once it arrived.
    last: Option<u64>,
    /// Where a resumed transfer starts (records the receiver already holds).
    start: u64,
    acked: u64,
    failed: bool,
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("id", &self.id)
            .field("offered_size", &self.offered_size)
            .field("opened", &self.opened)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    pub fn new(id: FileId, offered_size: u64) -> Self {
        Self {
            id,
            offered_size,
            plan: None,
            next: 0,
            opened: 0,
            unsettled: std::collections::VecDeque::new(),
            bytes: 0,
            last: None,
            start: 0,
            acked: 0,
            failed: false,
        }
    }

    /// The sender continues after `records` records the receiver already holds (from the
    /// sender's start frame, before the header).
    pub fn resume_at(&mut self, records: u64) -> Result<(), TransferError> {
        if self.plan.is_some() || self.failed {
            self.failed = true;
            return Err(TransferError::Malformed);
        }
        self.start = records;
        Ok(())
    }

    /// Whether the next frame must be the header.
    pub fn expects_header(&self) -> bool {
        self.plan.is_none()
    }

    fn check<T>(&mut self, r: Result<T, TransferError>) -> Result<T, TransferError> {
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// The first frame: the STREAM header, which must announce the offered size. Returns the
    /// plan, and the key to open the records with.
    pub fn header(
        &mut self,
        file_root: &Key,
        frame: &[u8],
    ) -> Result<(StreamPlan, Key), TransferError> {
        let r = self.header_inner(file_root, frame);
        self.check(r)
    }

    fn header_inner(
        &mut self,
        file_root: &Key,
        frame: &[u8],
    ) -> Result<(StreamPlan, Key), TransferError> {
        if self.failed || self.plan.is_some() || frame.len() != HEADER_LEN {
            return Err(TransferError::Malformed);
        }
        let plan = StreamPlan::new(StreamHeader::parse(frame)?)?;
        let announced = plan.header().total_size;
        if announced != self.offered_size {
            return Err(TransferError::SizeMismatch {
                offered: self.offered_size,
                announced,
            });
        }
        let key = file_key(file_root, &self.id.to_hex(), &plan.header().salt);
        if self.start > 0 {
            // Resuming: at least the last record is still to come, and it is not a stream.
            if plan.is_streaming() || self.start >= plan.records() {
                return Err(TransferError::Malformed);
            }
            self.next = self.start;
            self.opened = self.start;
            self.acked = self.start;
            self.bytes = self.start * u64::from(plan.header().record_size);
        }
        self.plan = Some(plan);
        Ok((plan, key))
    }

    /// A record frame of `len` bytes arrived: where it goes, or why it is refused (wrong
    /// length for its place, or more than the file holds).
    pub fn record(&mut self, len: usize) -> Result<RecordToOpen, TransferError> {
        let r = self.record_inner(len);
        self.check(r)
    }

    fn record_inner(&mut self, len: usize) -> Result<RecordToOpen, TransferError> {
        let plan = match (&self.plan, self.failed) {
            (Some(p), false) if self.next - self.opened < OPEN_AHEAD_RECORDS => *p,
            _ => return Err(TransferError::Malformed),
        };
        let index = self.next;
        let Some(expected) = plan.record_len(index) else {
            return Err(TransferError::TooMuchData);
        };
        let last = if plan.is_streaming() {
            // Unknown size: a full record is never the last, a shorter one always is.
            if self.last.is_some() {
                return Err(TransferError::TooMuchData);
            }
            if len > expected || len < RECORD_OVERHEAD {
                return Err(StreamError::WrongLength { expected, got: len }.into());
            }
            len < expected
        } else {
            if len != expected {
                return Err(StreamError::WrongLength { expected, got: len }.into());
            }
            index + 1 == plan.records()
        };
        let nonce = plan
            .nonce_at(index, last)
            .ok_or(TransferError::TooMuchData)?;
        if last {
            self.last = Some(index);
        }
        self.next += 1;
        self.unsettled.push_back((len - RECORD_OVERHEAD) as u64);
        Ok(RecordToOpen { index, nonce, last })
    }

    /// Record `index` opened: its plaintext may be released.
    pub fn opened(&mut self, index: u64) {
        if !self.failed && index == self.opened && index < self.next {
            self.opened += 1;
            self.bytes += self.unsettled.pop_front().unwrap_or(0);
        }
    }

    /// Record `index` did not open: the transfer has failed verification.
    pub fn auth_failed(&mut self, index: u64) -> TransferError {
        self.failed = true;
        TransferError::Verification(StreamError::Auth { record: index })
    }

    /// Records opened so far.
    pub fn records_done(&self) -> u64 {
        self.opened
    }

    /// Plaintext bytes opened so far.
    pub fn bytes_done(&self) -> u64 {
        self.bytes
    }

    /// Whether every record has been opened (for a stream of unknown size: its last).
    pub fn is_complete(&self) -> bool {
        if self.failed {
            return false;
        }
        match self.plan {
            Some(p) if p.is_streaming() => self.last.is_some_and(|l| self.opened == l + 1),
            Some(p) => self.opened == p.records(),
            None => false,
        }
    }

    /// Call after the plaintext of every record has been written out: the acknowledgement to
    /// send, if one is due.
    pub fn ack_due(&mut self) -> Option<Feedback> {
        let done = self.records_done();
        if done >= self.acked + ACK_EVERY_RECORDS {
            self.acked = done;
            Some(Feedback::Ack { records: done })
        } else {
            None
        }
    }

    /// The channel closed or the transfer is being ended: fine only after the last record.
    pub fn finish(&self) -> Result<(), TransferError> {
        if self.is_complete() {
            Ok(())
        } else {
            Err(TransferError::Incomplete)
        }
    }
}

/// The sending end's flow control: how many records may go out before the receiver catches up.
#[derive(Debug, Default, Clone, Copy)]
pub struct Window {
    sent: u64,
    acked: u64,
}

impl Window {
    /// A resumed transfer's window: the first `records` count as sent and acknowledged.
    pub fn starting_at(records: u64) -> Self {
        Self {
            sent: records,
            acked: records,
        }
    }

    /// Whether another record may be sent now.
    pub fn open(&self) -> bool {
        self.sent < self.acked + WINDOW_RECORDS
    }

    pub fn on_sent(&mut self) {
        self.sent += 1;
    }

    /// Applies an acknowledgement; a receiver claiming records it was never sent, or going
    /// backwards, is misbehaving.
    pub fn on_ack(&mut self, records: u64) -> Result<(), TransferError> {
        if records > self.sent || records < self.acked {
            return Err(TransferError::Malformed);
        }
        self.acked = records;
        Ok(())
    }
}

/// Speed and time left, from bytes done at two moments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Bytes per second, smoothed.
    pub bytes_per_sec: f64,
}

impl Rate {
    /// Smoothing of the speed shown (exponential moving average weight of a new sample).
    const ALPHA: f64 = 0.3;

    pub fn update(previous: Option<Rate>, bytes: u64, elapsed_ms: u64) -> Option<Rate> {
        if elapsed_ms == 0 {
            return previous;
        }
        let sample = bytes as f64 * 1000.0 / elapsed_ms as f64;
        Some(Rate {
            bytes_per_sec: match previous {
                Some(p) => p.bytes_per_sec * (1.0 - Self::ALPHA) + sample * Self::ALPHA,
                None => sample,
            },
        })
    }

    /// Whole seconds until `remaining` bytes are through at this speed.
    pub fn seconds_left(&self, remaining: u64) -> Option<u64> {
        (self.bytes_per_sec >= 1.0).then(|| (remaining as f64 / self.bytes_per_sec).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::KEY_LEN;
    use crate::stream::{open_record, StreamSealer, NONCE_PREFIX_LEN, RECORD_SIZE, SALT_LEN};

    fn root() -> Key {
        Key([9; KEY_LEN])
    }

    const ID: FileId = FileId([7; FILE_ID_LEN]);

    fn data(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }

    fn sealed(size: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let data = data(size);
        let mut s = StreamSealer::new(
            &root(),
            &ID.to_hex(),
            size as u64,
            [1; SALT_LEN],
            [2; NONCE_PREFIX_LEN],
        )
        .unwrap();
        let mut records: Vec<Vec<u8>> = data
            .chunks(RECORD_SIZE as usize)
            .map(|c| s.seal_next(c).unwrap())
            .collect();
        if records.is_empty() {
            records.push(s.seal_next(&[]).unwrap());
        }
        (s.header().to_vec(), records)
    }

    /// Drives an `Incoming` as the app does, with the reference cipher.
    fn receive(
        rx: &mut Incoming,
        root: &Key,
        header: &[u8],
        records: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Vec<Feedback>), TransferError> {
        let (plan, key) = rx.header(root, header)?;
        let mut out = Vec::new();
        let mut acks = Vec::new();
        for r in records {
            let task = rx.record(r.len())?;
            match open_record(&key, &task.nonce, plan.header_bytes(), r, task.index) {
                Ok(p) => out.extend(p),
                Err(_) => return Err(rx.auth_failed(task.index)),
            }
            rx.opened(task.index);
            acks.extend(rx.ack_due());
        }
        Ok((out, acks))
    }

    #[test]
    fn ids_and_labels_round_trip() {
        let id = FileId([0xab; FILE_ID_LEN]);
        assert_eq!(parse_channel_label(&channel_label(&id)), Some(id));
        assert_eq!(parse_channel_label("control"), None);
        assert_eq!(parse_channel_label("hush-file/ABAB"), None);
        assert_eq!(
            FileId::from_hex(&"AB".repeat(16)),
            None,
            "upper case is not ours"
        );
        assert_eq!(FileId::from_hex(&"zz".repeat(16)), None);
    }

    #[test]
    fn feedback_round_trips_and_rejects_junk() {
        for f in [
            Feedback::Ack { records: 1 << 40 },
            Feedback::Done,
            Feedback::Ready,
        ] {
            assert_eq!(Feedback::decode(&f.encode()), Some(f));
        }
        assert_eq!(Feedback::decode(&[]), None);
        assert_eq!(Feedback::decode(&[1, 2, 3]), None);
        assert_eq!(Feedback::decode(&[2, 0]), None);
        assert_eq!(Feedback::decode(&[9]), None);
    }

    #[test]
    fn a_whole_file_arrives_with_acks() {
        let size = 20 * RECORD_SIZE as usize + 5;
        let (header, records) = sealed(size);
        let mut rx = Incoming::new(ID, size as u64);
        assert!(rx.expects_header());
        let (out, acks) = receive(&mut rx, &root(), &header, &records).unwrap();
        assert_eq!(out, data(size));
        assert!(rx.is_complete());
        assert_eq!(rx.finish(), Ok(()));
        assert_eq!(acks, vec![Feedback::Ack { records: 16 }]);
        assert_eq!(rx.bytes_done(), size as u64);
    }

    /// A stream of unknown size, sealed as a pipe is: full records, then a shorter last one
    /// (empty when the length is a multiple of the record size).
    fn sealed_stream(size: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        use crate::stream::{seal_record, UNKNOWN_SIZE};
        let header = StreamHeader {
            record_size: RECORD_SIZE,
            total_size: UNKNOWN_SIZE,
            salt: [3; 32],
            nonce_prefix: [4; 7],
        };
        let plan = StreamPlan::new(header).unwrap();
        let key = file_key(&root(), &ID.to_hex(), &header.salt);
        let data = data(size);
        let rs = RECORD_SIZE as usize;
        let mut records = Vec::new();
        let mut chunks: Vec<&[u8]> = data.chunks(rs).collect();
        if chunks.last().is_none_or(|c| c.len() == rs) {
            chunks.push(&[]);
        }
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            let nonce = plan.nonce_at(i as u64, i + 1 == n).unwrap();
            records.push(seal_record(&key, &nonce, plan.header_bytes(), c).unwrap());
        }
        (header.to_bytes().to_vec(), records)
    }

    #[test]
    fn a_stream_of_unknown_size_ends_at_its_short_record() {
        use crate::stream::UNKNOWN_SIZE;
        for size in [0, 5, RECORD_SIZE as usize, 3 * RECORD_SIZE as usize + 9] {
            let (header, records) = sealed_stream(size);
            let mut rx = Incoming::new(ID, UNKNOWN_SIZE);
            let (out, _) = receive(&mut rx, &root(), &header, &records).unwrap();
            assert_eq!(out, data(size), "{size}");
            assert_eq!(rx.finish(), Ok(()), "{size}");
            assert_eq!(rx.bytes_done(), size as u64);
            // Nothing may follow the last record.
            assert_eq!(rx.record(records[0].len()), Err(TransferError::TooMuchData));
        }
        // Cut before its last record: incomplete, never "verified".
        let (header, records) = sealed_stream(2 * RECORD_SIZE as usize + 1);
        let mut rx = Incoming::new(ID, UNKNOWN_SIZE);
        receive(&mut rx, &root(), &header, &records[..2]).unwrap();
        assert_eq!(rx.finish(), Err(TransferError::Incomplete));
        // A full record cut short to pass as the last does not open.
        let mut rx = Incoming::new(ID, UNKNOWN_SIZE);
        let mut cut = records[..1].to_vec();
        cut[0].truncate(100);
        assert!(receive(&mut rx, &root(), &header, &cut).is_err());
    }

    #[test]
    fn an_empty_file_is_one_empty_record() {
        let (header, records) = sealed(0);
        let mut rx = Incoming::new(ID, 0);
        let (out, _) = receive(&mut rx, &root(), &header, &records).unwrap();
        assert!(out.is_empty());
        assert_eq!(rx.finish(), Ok(()));
    }

    #[test]
    fn the_declared_size_is_enforced() {
        let (header, records) = sealed(100);
        // A header announcing another size than the offer.
        let mut rx = Incoming::new(ID, 99);
        assert!(matches!(
            rx.header(&root(), &header),
            Err(TransferError::SizeMismatch {
                offered: 99,
                announced: 100
            })
        ));
        // More frames than the file holds are cut off.
        let mut rx = Incoming::new(ID, 100);
        receive(&mut rx, &root(), &header, &records).unwrap();
        assert_eq!(rx.record(records[0].len()), Err(TransferError::TooMuchData));
        // Fewer is a failed transfer.
        let size = 3 * RECORD_SIZE as usize;
        let (header, records) = sealed(size);
        let mut rx = Incoming::new(ID, size as u64);
        receive(&mut rx, &root(), &header, &records[..1]).unwrap();
        assert_eq!(rx.finish(), Err(TransferError::Incomplete));
        // A record of the wrong length for its place.
        let mut rx = Incoming::new(ID, size as u64);
        rx.header(&root(), &header).unwrap();
        assert!(rx.record(10).unwrap_err().is_verification());
    }

    #[test]
    fn tampering_reordering_and_a_wrong_room_fail_and_stay_failed() {
        let size = 2 * RECORD_SIZE as usize;
        let (header, records) = sealed(size);
        let mut bad = records.clone();
        bad[0][10] ^= 1;
        let mut rx = Incoming::new(ID, size as u64);
        let err = receive(&mut rx, &root(), &header, &bad).unwrap_err();
        assert!(err.is_verification(), "{err:?}");
        // Nothing after a failure is accepted.
        assert!(rx.record(records[0].len()).is_err());
        assert_eq!(rx.records_done(), 0);

        let swapped = vec![records[1].clone(), records[0].clone()];
        let mut rx = Incoming::new(ID, size as u64);
        assert!(receive(&mut rx, &root(), &header, &swapped)
            .unwrap_err()
            .is_verification());

        let mut rx = Incoming::new(ID, size as u64);
        let other_room = Key([1; KEY_LEN]);
        assert!(receive(&mut rx, &other_room, &header, &records)
            .unwrap_err()
            .is_verification());
        // Junk instead of a header.
        let mut rx = Incoming::new(ID, 1);
        assert!(matches!(
            rx.header(&root(), b"hello"),
            Err(TransferError::Malformed)
        ));
        // At most OPEN_AHEAD_RECORDS records are handed out before the oldest is settled.
        let size = (OPEN_AHEAD_RECORDS as usize + 2) * RECORD_SIZE as usize;
        let (header, records) = sealed(size);
        let mut rx = Incoming::new(ID, size as u64);
        rx.header(&root(), &header).unwrap();
        for (i, r) in records.iter().take(OPEN_AHEAD_RECORDS as usize).enumerate() {
            assert_eq!(rx.record(r.len()).unwrap().index, i as u64);
        }
        let next = records[OPEN_AHEAD_RECORDS as usize].len();
        assert_eq!(rx.record(next), Err(TransferError::Malformed));
        // Settling out of order releases nothing.
        let mut rx = Incoming::new(ID, size as u64);
        rx.header(&root(), &header).unwrap();
        for r in records.iter().take(OPEN_AHEAD_RECORDS as usize) {
            rx.record(r.len()).unwrap();
        }
        rx.opened(1);
        assert_eq!(rx.records_done(), 0);
        rx.opened(0);
        assert_eq!(rx.records_done(), 1);
        assert_eq!(rx.record(next).unwrap().index, OPEN_AHEAD_RECORDS);
    }

    #[test]
    fn the_window_bounds_records_in_flight() {
        let mut w = Window::default();
        for _ in 0..WINDOW_RECORDS {
            assert!(w.open());
            w.on_sent();
        }
        assert!(!w.open());
        w.on_ack(16).unwrap();
        assert!(w.open());
        assert_eq!(w.on_ack(4), Err(TransferError::Malformed), "backwards");
        assert_eq!(w.on_ack(1000), Err(TransferError::Malformed), "never sent");
    }

    #[test]
    fn rate_and_time_left() {
        let r = Rate::update(None, 10_000_000, 1000).unwrap();
        assert_eq!(r.bytes_per_sec, 10_000_000.0);
        assert_eq!(r.seconds_left(25_000_000), Some(3));
        let r2 = Rate::update(Some(r), 0, 1000).unwrap();
        assert!(r2.bytes_per_sec < r.bytes_per_sec);
        assert_eq!(Rate { bytes_per_sec: 0.0 }.seconds_left(5), None);
    }
}
