//! File encryption: a STREAM construction (online authenticated encryption, as in age and Tink's
//! streaming AEAD; Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and
//! its Nonce-Reuse Misuse-Resistance", 2015) over AES-256-GCM.
//!
//! A file of any size is cut into fixed-size records that are sealed and opened one at a time, so
//! neither side ever holds the whole file, and the receiver releases each record's plaintext only
//! after that record has been authenticated in its place.
//!
//! # Format
//!
//! ```text
//! header (57 bytes, sent once, and the AAD of every record):
//!   magic "HUSHF" (5) ‖ version 0x01 (1) ‖ record_size u32 BE (4) ‖ total_size u64 BE (8)
//!   ‖ salt (32) ‖ nonce_prefix (7)
//! record i (0 ≤ i < n):
//!   AES-256-GCM(file_key, nonce_i, aad = header, plaintext_i) = ciphertext_i ‖ tag_i (16)
//! nonce_i  = nonce_prefix (7) ‖ i as u32 BE (4) ‖ last flag (1: 0x01 for i = n − 1, else 0x00)
//! file_key = HKDF-SHA256(ikm = room file key root, salt = salt, info = "hush/v1/file|" ‖ file_id)
//! ```
//!
//! A stream whose size is known only at its end (a pipe) declares `total_size` =
//! [`UNKNOWN_SIZE`]. Its rule is different: every record but the last carries exactly
//! `record_size` bytes and the last carries fewer (`0..record_size`, so a pipe whose length is a
//! multiple of the record size ends with an empty record). A receiver knows a record is the last
//! from its length alone, and the last flag in its nonce authenticates that: a full record
//! passed off as last, or a last one dropped, fails.
//!
//! Record count: `n = max(1, ⌈total_size / record_size⌉)` ([`records_for`]). Every record but the
//! last carries exactly `record_size` plaintext bytes; the last carries the rest, `1..=record_size`
//! bytes, except for an empty file, which is one empty last record. A file of exactly
//! `k × record_size` bytes is therefore `k` full records, not `k` plus an empty one (the same rule
//! as age): the header already says how many bytes to expect, so an empty trailer would add
//! nothing but a round of crypto.
//!
//! # What is detected, and how
//! - Tampering with a record: its GCM tag fails.
//! - Reordering or duplicating records: the counter in the nonce puts each record in one place.
//! - Truncation: the header declares the total size, so the receiver knows which record is last
//!   and [`StreamOpener::finish`] fails until it has been opened; the last flag in the nonce also
//!   stops a non-last record from passing as last (belt and braces, as in classic STREAM).
//! - Tampering with the header (including the declared size): it is the AAD of every record, so
//!   the first record fails to open. Until then the header is unauthenticated: a receiver may use
//!   [`StreamOpener::total_size`] to plan, but must not trust it before the first record opens.
//! - Another room, another file, a replayed header with new records: the key depends on the room's
//!   file key root, the file id and the salt.
//!
//! Nonces never repeat under one key: the key is per file (fresh random salt) and the counter is
//! per record. The random nonce prefix adds 56 bits of margin in case a caller's salt ever
//! repeats for the same file id (a broken RNG), which would otherwise reuse GCM nonces.

use crate::seal::{Key, KEY_LEN, NONCE_LEN, TAG_LEN};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;

/// Magic bytes that open every file stream header, so a stray blob is rejected at once.
pub const MAGIC: [u8; 5] = *b"HUSHF";
/// Format version byte, so the format can change without ambiguity.
pub const STREAM_VERSION: u8 = 1;
/// Per-file random salt length: 256 bits, so salts never collide across all files ever sent.
pub const SALT_LEN: usize = 32;
/// Random nonce prefix length: what is left of GCM's 96-bit nonce after the 32-bit counter and
/// the one-byte last flag.
pub const NONCE_PREFIX_LEN: usize = NONCE_LEN - 4 - 1;
/// Header length in bytes: magic, version, record size, total size, salt, nonce prefix.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 4 + 8 + SALT_LEN + NONCE_PREFIX_LEN;
/// Plaintext bytes per record when we send: 64 KiB, the smallest size DESIGN allows. It bounds
/// what a receiver buffers before authentication, gives fine-grained progress, and costs only
/// 0.02% in tags; larger records would not make AES-GCM measurably faster.
pub const RECORD_SIZE: u32 = 64 * 1024;
/// Smallest record size a receiver accepts: below it the per-record tag and crypto call start to
/// cost, and no Hush sender uses less.
pub const MIN_RECORD_SIZE: u32 = 64 * 1024;
/// Largest record size a receiver accepts: bounds the memory one record can make us hold before
/// it is authenticated (DESIGN §3 allows records up to 256 KiB).
pub const MAX_RECORD_SIZE: u32 = 256 * 1024;
/// Bytes each record adds to its plaintext: the GCM tag.
pub const RECORD_OVERHEAD: usize = TAG_LEN;
/// Most records one stream can have: the nonce counter is a u32, and it must never wrap.
/// With [`MAX_RECORD_SIZE`] that is 1 PiB per file, with [`RECORD_SIZE`] 256 TiB.
pub const MAX_RECORDS: u64 = u32::MAX as u64 + 1;

/// `total_size` of a stream whose size is known only at its end (see the module docs).
pub const UNKNOWN_SIZE: u64 = u64::MAX;

/// HKDF `info` label for per-file keys; the file id follows it.
const INFO_FILE: &[u8] = b"hush/v1/file|";
/// Nonce's last-record flag values.
const FLAG_NOT_LAST: u8 = 0x00;
const FLAG_LAST: u8 = 0x01;

/// Why a file stream could not be set up, sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("file stream header is malformed (wrong length or magic)")]
    BadHeader,
    #[error("unsupported file stream version {0}")]
    Version(u8),
    #[error("record size {0} is outside {MIN_RECORD_SIZE}..={MAX_RECORD_SIZE}")]
    RecordSize(u32),
    #[error("file of {size} bytes exceeds the {max}-byte limit for its record size")]
    TooLarge { size: u64, max: u64 },
    #[error("record has {got} bytes where {expected} were expected")]
    WrongLength { expected: usize, got: usize },
    #[error(
        "record {record} failed authentication (wrong key or file, reordered, duplicated, \
         truncated or tampered)"
    )]
    Auth { record: u64 },
    #[error("data after the last record")]
    AfterLast,
    #[error("stream ended after {seen} of {expected} records")]
    Truncated { seen: u64, expected: u64 },
    /// AES-GCM refused its input; only possible beyond its 64 GiB message limit, which a record
    /// (at most [`MAX_RECORD_SIZE`]) never reaches.
    #[error("the cipher refused a record")]
    Cipher,
}

/// The largest file a stream with `record_size`-byte records can carry without the counter
/// wrapping.
pub fn max_total_size(record_size: u32) -> u64 {
    MAX_RECORDS.saturating_mul(u64::from(record_size))
}

/// How many records a file of `total_size` bytes takes: `max(1, ⌈total_size / record_size⌉)`
/// (an empty file is one empty record; an exact multiple of the record size has no empty
/// trailer). Fails for a record size outside the accepted range or a file too large for the
/// counter.
pub fn records_for(total_size: u64, record_size: u32) -> Result<u64, StreamError> {
    if !(MIN_RECORD_SIZE..=MAX_RECORD_SIZE).contains(&record_size) {
        return Err(StreamError::RecordSize(record_size));
    }
    if total_size == UNKNOWN_SIZE && (MIN_RECORD_SIZE..=MAX_RECORD_SIZE).contains(&record_size) {
        // The most a stream of unknown size may have: the counter must never wrap.
        return Ok(MAX_RECORDS);
    }
    let max = max_total_size(record_size);
    if total_size > max {
        return Err(StreamError::TooLarge {
            size: total_size,
            max,
        });
    }
    Ok(total_size.div_ceil(u64::from(record_size)).max(1))
}

/// Derives the key of one file from the room's file key root, the file's id and its salt.
/// Exposed so other implementations (the browser's WebCrypto path) can check their derivation.
pub fn file_key(file_root: &Key, file_id: &str, salt: &[u8; SALT_LEN]) -> Key {
    let hk = Hkdf::<Sha256>::new(Some(salt), &file_root.0);
    let mut okm = [0u8; KEY_LEN];
    // HKDF-SHA256 can expand up to 255 × 32 bytes; 32 always fits.
    let _ = hk.expand_multi_info(&[INFO_FILE, file_id.as_bytes()], &mut okm);
    Key(okm)
}

/// The parsed header of a file stream. Its bytes ([`StreamHeader::to_bytes`]) are sent before
/// the first record and are the associated data of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    /// Plaintext bytes per record (all but the last record are exactly this long).
    pub record_size: u32,
    /// Declared plaintext size of the whole file.
    pub total_size: u64,
    /// Per-file random salt for the key derivation.
    pub salt: [u8; SALT_LEN],
    /// Random first bytes of every record's nonce.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl StreamHeader {
    /// The header's wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [&[u8]; 6] = [
            &MAGIC,
            &[STREAM_VERSION],
            &self.record_size.to_be_bytes(),
            &self.total_size.to_be_bytes(),
            &self.salt,
            &self.nonce_prefix,
        ];
        let mut at = 0;
        for field in fields {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        out
    }

    /// Parses and validates header bytes: length, magic, version, record size and whether the
    /// declared size fits the counter. The result is not yet authenticated (see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<Self, StreamError> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().map_err(|_| StreamError::BadHeader)?;
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(StreamError::BadHeader);
        }
        let (&version, rest) = rest.split_first().ok_or(StreamError::BadHeader)?;
        if version != STREAM_VERSION {
            return Err(StreamError::Version(version));
        }
        let (record_size, rest) = take::<4>(rest)?;
        let (total_size, rest) = take::<8>(rest)?;
        let (salt, rest) = take::<SALT_LEN>(rest)?;
        let (nonce_prefix, _) = take::<NONCE_PREFIX_LEN>(rest)?;
        let header = Self {
            record_size: u32::from_be_bytes(record_size),
            total_size: u64::from_be_bytes(total_size),
            salt,
            nonce_prefix,
        };
        header.records()?;
        Ok(header)
    }

    /// How many records the stream has ([`records_for`]).
    pub fn records(&self) -> Result<u64, StreamError> {
        records_for(self.total_size, self.record_size)
    }
}

/// [`StreamSealer`] and [`StreamOpener`] walk streams of known size; a stream of unknown size
/// is driven with [`StreamPlan`] (its end is found from record lengths).
fn known_size(header: &StreamHeader) -> Result<(), StreamError> {
    if header.total_size == UNKNOWN_SIZE {
        return Err(StreamError::TooLarge {
            size: UNKNOWN_SIZE,
            max: max_total_size(header.record_size),
        });
    }
    Ok(())
}

/// Splits a fixed-size array off the front of `bytes`.
fn take<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), StreamError> {
    let (head, rest) = bytes.split_at_checked(N).ok_or(StreamError::BadHeader)?;
    let head = head.try_into().map_err(|_| StreamError::BadHeader)?;
    Ok((head, rest))
}

/// The position and geometry of a stream, shared by the sealing and the opening side.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    record_size: u32,
    total_size: u64,
    records: u64,
    /// Index of the next record to seal or open; equals `records` when done.
    next: u64,
}

impl Cursor {
    fn new(header: &StreamHeader) -> Result<Self, StreamError> {
        Ok(Self {
            record_size: header.record_size,
            total_size: header.total_size,
            records: header.records()?,
            next: 0,
        })
    }

    /// Plaintext bytes of record `index`, or `None` past the last record.
    fn plaintext_len(&self, index: u64) -> Option<usize> {
        if index >= self.records {
            return None;
        }
        let rs = u64::from(self.record_size);
        let len = if self.total_size == UNKNOWN_SIZE || index + 1 < self.records {
            // A stream of unknown size: the most a record may carry.
            rs
        } else {
            // The last record holds what the full ones before it did not.
            self.total_size - (self.records - 1) * rs
        };
        usize::try_from(len).ok()
    }

    /// Nonce of record `index`: prefix ‖ counter ‖ last flag.
    fn nonce(&self, prefix: &[u8; NONCE_PREFIX_LEN], index: u64) -> Option<[u8; NONCE_LEN]> {
        let last = self.total_size != UNKNOWN_SIZE && index + 1 == self.records;
        Self::nonce_with(prefix, index, last)
    }

    fn nonce_with(
        prefix: &[u8; NONCE_PREFIX_LEN],
        index: u64,
        last: bool,
    ) -> Option<[u8; NONCE_LEN]> {
        // `records_for` caps the count at 2^32, so every valid index fits the u32 counter.
        let counter = u32::try_from(index).ok()?;
        let flag = if last { FLAG_LAST } else { FLAG_NOT_LAST };
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&counter.to_be_bytes());
        nonce[NONCE_LEN - 1] = flag;
        Some(nonce)
    }
}

/// Seals one record with the reference AES-256-GCM: for callers that drive a [`StreamPlan`]
/// themselves (the native peer reads records from disk or a pipe as they come).
pub fn seal_record(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, StreamError> {
    Aes256Gcm::new(&key.0.into())
        .encrypt(
            &(*nonce).into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StreamError::Cipher)
}

/// Opens one record with the reference AES-256-GCM: for checking another implementation, and
/// for callers that drive a [`StreamPlan`] themselves.
pub fn open_record(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    record: &[u8],
    index: u64,
) -> Result<Vec<u8>, StreamError> {
    Aes256Gcm::new(&key.0.into())
        .decrypt(&(*nonce).into(), Payload { msg: record, aad })
        .map_err(|_| StreamError::Auth { record: index })
}

/// The layout of one stream: which record carries which bytes under which nonce. For an
/// implementation that does the AES-GCM itself (the browser uses WebCrypto, which runs off the
/// page's thread at hardware speed): seal or open record `i` with [`file_key`], the nonce
/// [`StreamPlan::nonce`] and the associated data [`StreamPlan::header_bytes`], and the bytes are
/// those of [`StreamSealer`] / [`StreamOpener`] (the shared vectors pin both).
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    header: StreamHeader,
    header_bytes: [u8; HEADER_LEN],
    cursor: Cursor,
}

impl StreamPlan {
    pub fn new(header: StreamHeader) -> Result<Self, StreamError> {
        Ok(Self {
            cursor: Cursor::new(&header)?,
            header_bytes: header.to_bytes(),
            header,
        })
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    /// The header's wire bytes: sent first, and the associated data of every record.
    pub fn header_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.header_bytes
    }

    pub fn records(&self) -> u64 {
        self.cursor.records
    }

    /// Plaintext bytes of record `index`, `None` past the last.
    pub fn plaintext_len(&self, index: u64) -> Option<usize> {
        self.cursor.plaintext_len(index)
    }

    /// Sealed bytes of record `index` (plaintext plus tag), `None` past the last.
    pub fn record_len(&self, index: u64) -> Option<usize> {
        Some(self.cursor.plaintext_len(index)? + RECORD_OVERHEAD)
    }

    /// Nonce of record `index`: prefix ‖ counter ‖ last flag. In a stream of unknown size the
    /// flag is "not last"; the last record's nonce is [`StreamPlan::nonce_at`]`(i, true)`.
    pub fn nonce(&self, index: u64) -> Option<[u8; NONCE_LEN]> {
        if index >= self.cursor.records {
            return None;
        }
        self.cursor.nonce(&self.header.nonce_prefix, index)
    }

    /// Whether the size is known only at the end ([`UNKNOWN_SIZE`]).
    pub fn is_streaming(&self) -> bool {
        self.header.total_size == UNKNOWN_SIZE
    }

    /// Nonce of record `index` of a stream of unknown size, `last` or not.
    pub fn nonce_at(&self, index: u64, last: bool) -> Option<[u8; NONCE_LEN]> {
        if index >= self.cursor.records {
            return None;
        }
        Cursor::nonce_with(&self.header.nonce_prefix, index, last)
    }
}

/// Seals a file, record by record, in order. Sans-I/O: the caller reads the file and sends the
/// header and the sealed records.
pub struct StreamSealer {
    cipher: Aes256Gcm,
    header: StreamHeader,
    header_bytes: [u8; HEADER_LEN],
    cursor: Cursor,
}

impl fmt::Debug for StreamSealer {
    // By hand, so the cipher (and its key) never lands in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSealer")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl StreamSealer {
    /// Starts sealing a `total_size`-byte file with [`RECORD_SIZE`] records. `salt` and `prefix`
    /// must be fresh random bytes for every sealing: sealing different contents under the same
    /// file root, file id, salt and prefix would reuse GCM nonces.
    pub fn new(
        file_root: &Key,
        file_id: &str,
        total_size: u64,
        salt: [u8; SALT_LEN],
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<Self, StreamError> {
        Self::with_record_size(file_root, file_id, total_size, RECORD_SIZE, salt, prefix)
    }

    /// [`StreamSealer::new`] with another record size within
    /// [`MIN_RECORD_SIZE`]`..=`[`MAX_RECORD_SIZE`] (receivers accept any of them).
    pub fn with_record_size(
        file_root: &Key,
        file_id: &str,
        total_size: u64,
        record_size: u32,
        salt: [u8; SALT_LEN],
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<Self, StreamError> {
        let header = StreamHeader {
            record_size,
            total_size,
            salt,
            nonce_prefix: prefix,
        };
        known_size(&header)?;
        let cursor = Cursor::new(&header)?;
        let key = file_key(file_root, file_id, &salt);
        Ok(Self {
            cipher: Aes256Gcm::new(&key.0.into()),
            header,
            header_bytes: header.to_bytes(),
            cursor,
        })
    }

    /// The header to send before the first record.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header_bytes
    }

    /// Plaintext bytes per record.
    pub fn record_size(&self) -> u32 {
        self.cursor.record_size
    }

    /// Declared plaintext size of the file.
    pub fn total_size(&self) -> u64 {
        self.cursor.total_size
    }

    /// How many records the stream has.
    pub fn records(&self) -> u64 {
        self.cursor.records
    }

    /// How many plaintext bytes the next [`StreamSealer::seal_next`] call takes, or `None` when
    /// every record has been sealed: the caller reads exactly this much of the file.
    pub fn next_plaintext_len(&self) -> Option<usize> {
        self.cursor.plaintext_len(self.cursor.next)
    }

    /// Ciphertext bytes of record `index` (plaintext plus tag), or `None` past the last record.
    pub fn expected_record_len(&self, index: u64) -> Option<usize> {
        Some(self.cursor.plaintext_len(index)? + RECORD_OVERHEAD)
    }

    /// Whether every record has been sealed.
    pub fn is_done(&self) -> bool {
        self.cursor.next == self.cursor.records
    }

    /// Seals the next record. `plaintext` must be exactly [`StreamSealer::next_plaintext_len`]
    /// bytes: a file that changed size while being read fails here rather than producing a
    /// stream its header misdescribes.
    pub fn seal_next(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
        let index = self.cursor.next;
        let expected = self
            .cursor
            .plaintext_len(index)
            .ok_or(StreamError::AfterLast)?;
        if plaintext.len() != expected {
            return Err(StreamError::WrongLength {
                expected,
                got: plaintext.len(),
            });
        }
        let nonce: Nonce<_> = self
            .cursor
            .nonce(&self.header.nonce_prefix, index)
            .ok_or(StreamError::AfterLast)?
            .into();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &self.header_bytes,
                },
            )
            .map_err(|_| StreamError::Cipher)?;
        self.cursor.next += 1;
        Ok(sealed)
    }
}

/// Opens a file stream, record by record, in order. Sans-I/O: the caller receives the header and
/// the records (framed with [`StreamOpener::expected_record_len`]) and writes out the plaintext.
///
/// A record that fails leaves the opener where it was: nothing is released, the position does
/// not advance, and [`StreamOpener::finish`] keeps failing, so a caller that ignores an error
/// still cannot end up with a file that skips a record. The transfer should be abandoned.
pub struct StreamOpener {
    cipher: Aes256Gcm,
    header: StreamHeader,
    header_bytes: [u8; HEADER_LEN],
    cursor: Cursor,
}

impl fmt::Debug for StreamOpener {
    // By hand, so the cipher (and its key) never lands in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpener")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    /// Parses and checks `header` ([`StreamHeader::parse`]) and derives the file's key. The
    /// header is authenticated only when the first record opens.
    pub fn new(file_root: &Key, file_id: &str, header: &[u8]) -> Result<Self, StreamError> {
        let parsed = StreamHeader::parse(header)?;
        known_size(&parsed)?;
        let cursor = Cursor::new(&parsed)?;
        let key = file_key(file_root, file_id, &parsed.salt);
        Ok(Self {
            cipher: Aes256Gcm::new(&key.0.into()),
            header: parsed,
            header_bytes: parsed.to_bytes(),
            cursor,
        })
    }

    /// Declared plaintext size of the file (unauthenticated until the first record opens).
    pub fn total_size(&self) -> u64 {
        self.cursor.total_size
    }

    /// Plaintext bytes per record.
    pub fn record_size(&self) -> u32 {
        self.cursor.record_size
    }

    /// How many records the stream has.
    pub fn records(&self) -> u64 {
        self.cursor.records
    }

    /// Index of the next record to open (also: how many have been opened).
    pub fn next_index(&self) -> u64 {
        self.cursor.next
    }

    /// Ciphertext bytes of record `index` (plaintext plus tag), or `None` past the last record.
    pub fn expected_record_len(&self, index: u64) -> Option<usize> {
        Some(self.cursor.plaintext_len(index)? + RECORD_OVERHEAD)
    }

    /// Ciphertext bytes of the next record, or `None` when the last one has been opened: how many
    /// bytes to collect before calling [`StreamOpener::open_next`].
    pub fn next_record_len(&self) -> Option<usize> {
        self.expected_record_len(self.cursor.next)
    }

    /// Whether the last record has been opened.
    pub fn is_done(&self) -> bool {
        self.cursor.next == self.cursor.records
    }

    /// Opens the next record and returns its plaintext, only once it has been authenticated as
    /// this record of this stream. Rejects a record of the wrong length for its position and
    /// anything after the last record.
    pub fn open_next(&mut self, record: &[u8]) -> Result<Vec<u8>, StreamError> {
        let index = self.cursor.next;
        let expected = self
            .expected_record_len(index)
            .ok_or(StreamError::AfterLast)?;
        if record.len() != expected {
            return Err(StreamError::WrongLength {
                expected,
                got: record.len(),
            });
        }
        let nonce: Nonce<_> = self
            .cursor
            .nonce(&self.header.nonce_prefix, index)
            .ok_or(StreamError::AfterLast)?
            .into();
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: record,
                    aad: &self.header_bytes,
                },
            )
            .map_err(|_| StreamError::Auth { record: index })?;
        self.cursor.next += 1;
        Ok(plaintext)
    }

    /// Ends the stream: fails unless the last record has been opened (truncation).
    pub fn finish(self) -> Result<(), StreamError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(StreamError::Truncated {
                seen: self.cursor.next,
                expected: self.cursor.records,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Key {
        Key([7; KEY_LEN])
    }

    #[test]
    fn header_layout_is_pinned() {
        // The header is wire format and AAD: its layout must never move silently.
        let h = StreamHeader {
            record_size: 0x0001_0000,
            total_size: 0x0102_0304_0506_0708,
            salt: [0xAA; SALT_LEN],
            nonce_prefix: [0xBB; NONCE_PREFIX_LEN],
        };
        let b = h.to_bytes();
        assert_eq!(HEADER_LEN, 57);
        assert_eq!(&b[..5], b"HUSHF");
        assert_eq!(b[5], 1);
        assert_eq!(&b[6..10], &[0, 1, 0, 0]);
        assert_eq!(&b[10..18], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[18..50], &[0xAA; 32]);
        assert_eq!(&b[50..57], &[0xBB; 7]);
        // Parsing re-validates the size; this one is too large for the counter.
        assert!(matches!(
            StreamHeader::parse(&b),
            Err(StreamError::TooLarge { .. })
        ));
        let small = StreamHeader { total_size: 5, ..h };
        assert_eq!(StreamHeader::parse(&small.to_bytes()), Ok(small));
    }

    #[test]
    fn nonce_layout_and_last_flag() {
        let c = Cursor {
            record_size: RECORD_SIZE,
            total_size: 3 * u64::from(RECORD_SIZE),
            records: 3,
            next: 0,
        };
        let p = [9u8; NONCE_PREFIX_LEN];
        assert_eq!(c.nonce(&p, 0), Some([9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0]));
        assert_eq!(c.nonce(&p, 1), Some([9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 1, 0]));
        assert_eq!(c.nonce(&p, 2), Some([9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 2, 1]));
    }

    #[test]
    fn counter_limit_is_exact() {
        // The largest stream uses counter u32::MAX for its last record and never wraps.
        let max = max_total_size(MAX_RECORD_SIZE);
        assert_eq!(max, 1 << 50); // 1 PiB
        assert_eq!(records_for(max, MAX_RECORD_SIZE), Ok(MAX_RECORDS));
        assert_eq!(
            records_for(max + 1, MAX_RECORD_SIZE),
            Err(StreamError::TooLarge { size: max + 1, max })
        );
        let c = Cursor {
            record_size: MAX_RECORD_SIZE,
            total_size: max,
            records: MAX_RECORDS,
            next: 0,
        };
        let last = c.nonce(&[0; NONCE_PREFIX_LEN], MAX_RECORDS - 1);
        assert_eq!(
            last.map(|n| n[NONCE_PREFIX_LEN..].to_vec()),
            Some(vec![0xFF, 0xFF, 0xFF, 0xFF, FLAG_LAST])
        );
        assert_eq!(c.nonce(&[0; NONCE_PREFIX_LEN], MAX_RECORDS), None);
        assert_eq!(
            c.plaintext_len(MAX_RECORDS - 1),
            Some(MAX_RECORD_SIZE as usize)
        );
        assert!(
            StreamSealer::new(&root(), "f", max_total_size(RECORD_SIZE), [0; 32], [0; 7]).is_ok()
        );
        assert!(matches!(
            StreamSealer::new(
                &root(),
                "f",
                max_total_size(RECORD_SIZE) + 1,
                [0; 32],
                [0; 7]
            ),
            Err(StreamError::TooLarge { .. })
        ));
        // u64::MAX is a stream of unknown size: as many records as the counter allows, and
        // only `StreamPlan` walks it.
        assert_eq!(records_for(UNKNOWN_SIZE, RECORD_SIZE), Ok(MAX_RECORDS));
        assert!(matches!(
            StreamSealer::new(&root(), "f", UNKNOWN_SIZE, [0; 32], [0; 7]),
            Err(StreamError::TooLarge { .. })
        ));
        assert!(matches!(
            records_for(u64::MAX - 1, RECORD_SIZE),
            Err(StreamError::TooLarge { .. })
        ));
    }

    #[test]
    fn record_count_rule() {
        let rs = u64::from(RECORD_SIZE);
        assert_eq!(records_for(0, RECORD_SIZE), Ok(1));
        assert_eq!(records_for(1, RECORD_SIZE), Ok(1));
        assert_eq!(records_for(rs - 1, RECORD_SIZE), Ok(1));
        assert_eq!(records_for(rs, RECORD_SIZE), Ok(1));
        assert_eq!(records_for(rs + 1, RECORD_SIZE), Ok(2));
        assert_eq!(records_for(3 * rs, RECORD_SIZE), Ok(3));
        assert_eq!(records_for(3 * rs + 5, RECORD_SIZE), Ok(4));
        for bad in [0, MIN_RECORD_SIZE - 1, MAX_RECORD_SIZE + 1, u32::MAX] {
            assert_eq!(records_for(10, bad), Err(StreamError::RecordSize(bad)));
        }
    }

    #[test]
    fn sealer_checks_lengths_and_stops_after_last() {
        let mut s = StreamSealer::new(&root(), "f", 10, [1; 32], [2; 7]).unwrap();
        assert_eq!(s.next_plaintext_len(), Some(10));
        assert_eq!(
            s.seal_next(&[0; 9]),
            Err(StreamError::WrongLength {
                expected: 10,
                got: 9
            })
        );
        assert_eq!(s.seal_next(&[0; 10]).map(|r| r.len()), Ok(10 + TAG_LEN));
        assert!(s.is_done());
        assert_eq!(s.next_plaintext_len(), None);
        assert_eq!(s.seal_next(&[]), Err(StreamError::AfterLast));
    }

    #[test]
    fn debug_output_has_no_key_material() {
        let s = StreamSealer::new(&root(), "f", 0, [1; 32], [2; 7]).unwrap();
        let text = format!("{s:?}");
        assert!(text.starts_with("StreamSealer"));
        assert!(!text.contains("cipher"));
    }
}
