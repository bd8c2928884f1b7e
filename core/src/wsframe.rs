//! WebSocket framing (RFC 6455 §5), server side, sans-I/O.
//!
//! The helper's tracker reads client frames and writes its own with this module instead of a
//! general WebSocket library, for memory: a library keeps a read buffer per socket that grows
//! to the largest frame it has read and never shrinks, so ten thousand sockets that each
//! relayed one 7 KiB offer held 70 MiB of empty buffers. Here the caller owns the bytes: it
//! keeps only what it has received and not yet decoded (nothing at all between messages),
//! and [`MessageReader`] keeps a buffer only while a fragmented message is being assembled.
//!
//! What a tracker needs and nothing more: no extensions (a reserved bit is a protocol error),
//! client frames must be masked, control frames are at most 125 bytes and never fragmented,
//! and data messages are capped at the caller's limit *before* their payload arrives, so a
//! peer announcing a huge frame is refused without a byte of it being buffered.

use std::ops::Range;

/// Largest payload of a control frame (close, ping, pong), RFC 6455 §5.5.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte mask key.
pub const MAX_HEADER: usize = 14;

const FIN: u8 = 0x80;
const RESERVED: u8 = 0x70;
const OPCODE: u8 = 0x0f;
const MASKED: u8 = 0x80;
const LEN7: u8 = 0x7f;
/// 7-bit length values that announce a 16-bit or a 64-bit extended length.
const LEN16: u8 = 126;
const LEN64: u8 = 127;

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Why a client's bytes cannot be read as WebSocket messages. Each maps to the close code the
/// connection should end with ([`WsError::close_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("a reserved bit is set, but no extension was negotiated")]
    Reserved,
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    #[error("a client frame is not masked")]
    Unmasked,
    #[error("a control frame is fragmented or longer than 125 bytes")]
    BadControl,
    #[error("a continuation frame without a message to continue")]
    StrayContinuation,
    #[error("a new message began before the fragmented one ended")]
    Interleaved,
    #[error("a message of at least {0} bytes is over the limit")]
    TooBig(u64),
    #[error("a text message is not UTF-8")]
    NotUtf8,
}

impl WsError {
    /// The close code (RFC 6455 §7.4.1) for this error: 1009 for size, 1007 for bad text,
    /// 1002 for everything else.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::TooBig(_) => close_code::MESSAGE_TOO_BIG,
            WsError::NotUtf8 => close_code::INVALID_DATA,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Close codes (RFC 6455 §7.4.1).
pub mod close_code {
    /// Nothing went wrong.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutting down).
    pub const GOING_AWAY: u16 = 1001;
    /// Broken framing.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A kind of data the endpoint does not accept (binary, for a text protocol).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Received nothing in the close frame; never sent on the wire.
    pub const NO_STATUS: u16 = 1005;
    /// A text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// A policy was broken (rate limit, not reading).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message over the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

/// One decoded frame: its header, and where its (already unmasked) payload lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: Opcode,
    /// The payload's place in the buffer passed to [`decode_client_frame`].
    pub payload: Range<usize>,
    /// Bytes of the buffer this frame took, header included.
    pub len: usize,
}

/// Decodes the client frame at the start of `buf` and unmasks its payload in place.
///
/// `Ok(None)`: the frame is not complete yet; call again with more bytes. A data frame whose
/// length alone exceeds `max_payload` is refused as soon as its header is read.
pub fn decode_client_frame(buf: &mut [u8], max_payload: usize) -> Result<Option<Frame>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & RESERVED != 0 {
        return Err(WsError::Reserved);
    }
    let opcode = Opcode::from_bits(b0 & OPCODE).ok_or(WsError::UnknownOpcode(b0 & OPCODE))?;
    let fin = b0 & FIN != 0;
    if b1 & MASKED == 0 {
        return Err(WsError::Unmasked);
    }
    let (len, mut at) = match b1 & LEN7 {
        LEN16 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        LEN64 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if opcode.is_control() && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(WsError::BadControl);
    }
    if !opcode.is_control() && len > max_payload as u64 {
        return Err(WsError::TooBig(len));
    }
    // Bounded by `max_payload` or the control limit above, so it fits.
    let len = len as usize;
    let Some(mask) = buf
        .get(at..at + 4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
    else {
        return Ok(None);
    };
    at += 4;
    let end = at + len;
    let Some(payload) = buf.get_mut(at..end) else {
        return Ok(None);
    };
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
    Ok(Some(Frame {
        fin,
        opcode,
        payload: at..end,
        len: end,
    }))
}

/// A server frame (unmasked, unfragmented) carrying `payload`.
pub fn encode_server_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_HEADER);
    out.push(FIN | opcode.bits());
    let len = payload.len();
    if len < usize::from(LEN16) {
        // Fits in the 7-bit length.
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(LEN16);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(LEN64);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and a reason (cut to fit the control frame's 125 bytes, on a
/// character boundary).
pub fn encode_close(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    encode_server_frame(Opcode::Close, &payload)
}

/// A complete message from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Text(&'a str),
    /// A binary message; its bytes are not kept (a tracker speaks text only).
    Binary,
    Ping(&'a [u8]),
    Pong,
    /// The close code the client sent, [`close_code::NO_STATUS`] when it sent none.
    Close(u16),
}

/// What [`MessageReader::read`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// Not a whole frame yet.
    Incomplete,
    /// One frame of `len` bytes was taken; it completed `message` unless it was a fragment.
    Frame {
        len: usize,
        message: Option<Message<'a>>,
    },
}

/// Turns client frames into messages: assembles fragmented data messages (up to the message
/// limit) and checks text for UTF-8. Holds memory only while a fragmented message is open.
#[derive(Debug)]
pub struct MessageReader {
    max_message: usize,
    /// The opcode and bytes so far of a fragmented message.
    open: Option<(Opcode, Vec<u8>)>,
    /// A message assembled from fragments was handed out and must be dropped on the next read.
    handed_out: bool,
}

impl MessageReader {
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            open: None,
            handed_out: false,
        }
    }

    /// Reads the frame at the start of `buf` (unmasking it in place).
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> Result<Read<'a>, WsError> {
        if self.handed_out {
            self.open = None;
            self.handed_out = false;
        }
        // A fragment may only bring the open message up to the limit.
        let room = self.max_message - self.open.as_ref().map_or(0, |(_, b)| b.len());
        let Some(frame) = decode_client_frame(buf, room)? else {
            return Ok(Read::Incomplete);
        };
        let len = frame.len;
        let payload = &buf[frame.payload.clone()];
        let message = match frame.opcode {
            Opcode::Ping => Some(Message::Ping(payload)),
            Opcode::Pong => Some(Message::Pong),
            Opcode::Close => Some(Message::Close(match payload {
                [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                _ => close_code::NO_STATUS,
            })),
            Opcode::Text | Opcode::Binary if self.open.is_some() => {
                return Err(WsError::Interleaved)
            }
            Opcode::Text | Opcode::Binary if !frame.fin => {
                self.open = Some((frame.opcode, payload.to_vec()));
                None
            }
            Opcode::Text => Some(Message::Text(text(payload)?)),
            Opcode::Binary => Some(Message::Binary),
            Opcode::Continuation => {
                let Some((opcode, bytes)) = self.open.as_mut() else {
                    return Err(WsError::StrayContinuation);
                };
                bytes.extend_from_slice(payload);
                if !frame.fin {
                    None
                } else {
                    self.handed_out = true;
                    match opcode {
                        Opcode::Text => Some(Message::Text(text(bytes)?)),
                        _ => Some(Message::Binary),
                    }
                }
            }
        };
        Ok(Read::Frame { len, message })
    }
}

fn text(bytes: &[u8]) -> Result<&str, WsError> {
    std::str::from_utf8(bytes).map_err(|_| WsError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser sends it: masked with `mask`.
    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![b0];
        match payload.len() {
            n if n < 126 => out.push(MASKED | n as u8),
            n if n <= 0xffff => {
                out.push(MASKED | LEN16);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(MASKED | LEN64);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn rfc_example_masked_hello_decodes() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let mut buf = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let frame = decode_client_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(frame.opcode, Opcode::Text);
        assert!(frame.fin);
        assert_eq!(&buf[frame.payload], b"Hello");
        assert_eq!(frame.len, 11);
    }

    #[test]
    fn server_frames_match_the_rfc_lengths() {
        assert_eq!(
            encode_server_frame(Opcode::Text, b"Hello"),
            [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
        let mid = encode_server_frame(Opcode::Text, &[0; 256]);
        assert_eq!(mid[..4], [0x81, 126, 0x01, 0x00]);
        assert_eq!(mid.len(), 4 + 256);
        let big = encode_server_frame(Opcode::Binary, &[0; 65536]);
        assert_eq!(big[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete() {
        for size in [0, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let whole = client_frame(0x81, &payload, MASK);
            for cut in [0, 1, 2, 3, 5, 9, 13, whole.len() - 1] {
                let mut part = whole[..cut.min(whole.len() - 1)].to_vec();
                assert_eq!(
                    decode_client_frame(&mut part, 100_000),
                    Ok(None),
                    "{size}/{cut}"
                );
            }
            let mut buf = whole.clone();
            buf.extend_from_slice(b"next");
            let frame = decode_client_frame(&mut buf, 100_000).unwrap().unwrap();
            assert_eq!(frame.len, whole.len());
            assert_eq!(&buf[frame.payload], &payload[..]);
        }
    }

    #[test]
    fn bad_frames_are_refused_with_their_close_codes() {
        let cases: [(Vec<u8>, WsError); 6] = [
            (client_frame(0x81 | 0x40, b"x", MASK), WsError::Reserved),
            (client_frame(0x83, b"x", MASK), WsError::UnknownOpcode(3)),
            (vec![0x81, 0x01, b'x'], WsError::Unmasked),
            (client_frame(0x09, b"ping", MASK), WsError::BadControl),
            (client_frame(0x89, &[0; 126], MASK), WsError::BadControl),
            (
                client_frame(0x81, &[b'a'; 2000], MASK),
                WsError::TooBig(2000),
            ),
        ];
        for (mut buf, expected) in cases {
            assert_eq!(decode_client_frame(&mut buf, 1000), Err(expected));
        }
        assert_eq!(WsError::TooBig(1).close_code(), 1009);
        assert_eq!(WsError::NotUtf8.close_code(), 1007);
        assert_eq!(WsError::Unmasked.close_code(), 1002);
    }

    #[test]
    fn a_huge_frame_is_refused_from_its_header_alone() {
        // Only the 10 header bytes announcing 2^40 bytes: refused without waiting for more.
        let mut header = vec![0x82, MASKED | LEN64];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(
            decode_client_frame(&mut header, 64 * 1024),
            Err(WsError::TooBig(1 << 40))
        );
    }

    /// Reads every message in `bytes` as a socket would, frame by frame.
    fn read_all(reader: &mut MessageReader, bytes: &mut [u8]) -> Result<Vec<String>, WsError> {
        let mut seen = Vec::new();
        let mut at = 0;
        while let Read::Frame { len, message } = reader.read(&mut bytes[at..])? {
            at += len;
            if let Some(m) = message {
                seen.push(format!("{m:?}"));
            }
        }
        Ok(seen)
    }

    #[test]
    fn fragments_assemble_with_control_frames_between() {
        let mut bytes = client_frame(0x01, b"Hel", MASK);
        bytes.extend(client_frame(0x89, b"p", MASK));
        bytes.extend(client_frame(0x00, "lo ".as_bytes(), MASK));
        bytes.extend(client_frame(0x80, "wörld".as_bytes(), MASK));
        bytes.extend(client_frame(0x81, b"next", MASK));
        bytes.extend(client_frame(0x88, &1000u16.to_be_bytes(), MASK));
        let mut reader = MessageReader::new(100);
        assert_eq!(
            read_all(&mut reader, &mut bytes).unwrap(),
            [
                "Ping([112])",
                "Text(\"Hello wörld\")",
                "Text(\"next\")",
                "Close(1000)"
            ]
        );
        assert!(reader.open.is_none());
    }

    #[test]
    fn fragments_count_toward_the_message_limit() {
        let mut bytes = client_frame(0x01, &[b'a'; 60], MASK);
        bytes.extend(client_frame(0x80, &[b'a'; 60], MASK));
        let mut reader = MessageReader::new(100);
        assert_eq!(read_all(&mut reader, &mut bytes), Err(WsError::TooBig(60)));
    }

    #[test]
    fn broken_message_sequences_are_refused() {
        let mut stray = client_frame(0x80, b"x", MASK);
        assert_eq!(
            read_all(&mut MessageReader::new(100), &mut stray),
            Err(WsError::StrayContinuation)
        );
        let mut interleaved = client_frame(0x01, b"a", MASK);
        interleaved.extend(client_frame(0x81, b"b", MASK));
        assert_eq!(
            read_all(&mut MessageReader::new(100), &mut interleaved),
            Err(WsError::Interleaved)
        );
        // A UTF-8 character split across fragments is fine; broken UTF-8 is not.
        let mut split = client_frame(0x01, &"é".as_bytes()[..1], MASK);
        split.extend(client_frame(0x80, &"é".as_bytes()[1..], MASK));
        assert_eq!(
            read_all(&mut MessageReader::new(100), &mut split).unwrap(),
            ["Text(\"é\")"]
        );
        let mut bad = client_frame(0x81, &[0xff, 0xfe], MASK);
        assert_eq!(
            read_all(&mut MessageReader::new(100), &mut bad),
            Err(WsError::NotUtf8)
        );
    }

    #[test]
    fn close_reasons_are_cut_to_a_control_frame() {
        let frame = encode_close(1008, &"é".repeat(100));
        assert_eq!(frame[0], 0x88);
        let len = usize::from(frame[1]);
        assert!(len <= MAX_CONTROL_PAYLOAD);
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1008);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        let mut empty = client_frame(0x88, &[], MASK);
        let mut reader = MessageReader::new(100);
        assert_eq!(read_all(&mut reader, &mut empty).unwrap(), ["Close(1005)"]);
    }
}
