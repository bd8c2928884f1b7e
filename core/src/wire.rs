//! The peer-to-peer protocol on the control data channel: one typed, versioned message enum,
//! binary-encoded (postcard) and sealed with the room's chat key on top of DTLS.
//!
//! Frame on the wire: `seal(chat_key, aad = "hush/v1/ctl|from|to", version ‖ postcard(msg))`.
//! The size limit is checked on the raw frame before anything is opened or decoded, so a
//! hostile peer cannot make us allocate or work on more than [`MAX_CONTROL_FRAME`] bytes per
//! message. Field limits (name, text) are checked after decoding, before the app sees them.
//!
//! Compatibility: new variants are appended to [`PeerMessage`] (postcard encodes the variant
//! index); an older peer reports them as [`WireError::Decode`] and counts them, which is why a
//! handful of unknown frames never disconnects a peer on its own.

use crate::seal::{open, seal, Key, SealError, NONCE_LEN};
use crate::transfer::{FileId, Refusal, MAX_MIME_BYTES, MAX_OFFER_NAME_BYTES};
use serde::{Deserialize, Serialize};

/// Protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest sealed frame accepted on the control channel: chat needs a few KiB; 64 KiB is the
/// largest message every browser's SCTP stack delivers without fragmentation trouble.
pub const MAX_CONTROL_FRAME: usize = 64 * 1024;
/// Longest chat message, in bytes of UTF-8 (a long paragraph; files go through transfers).
pub const MAX_CHAT_BYTES: usize = 16 * 1024;
/// Longest display name, in characters (fits a peer list row).
pub const MAX_NAME_CHARS: usize = 40;
/// Longest session description accepted: a few media sections with candidates fit in 16 KiB;
/// twice that leaves room for many codecs.
pub const MAX_SDP_BYTES: usize = 32 * 1024;
/// Longest ICE candidate line (they are ~100–200 bytes).
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Most stream labels in one message: one camera and one screen stream, with room to spare.
pub const MAX_STREAMS: usize = 4;
/// Longest stream id (browsers use 36-character UUIDs).
pub const MAX_STREAM_ID_BYTES: usize = 64;
/// Malformed frames tolerated from one peer before it is disconnected: a few are forgiven
/// (a newer peer's unknown message kinds), a stream of them is an attack or a broken peer.
pub const MAX_BAD_FRAMES: u32 = 8;

/// Every message peers exchange on the control channel. Append only: variant order is the
/// wire format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// First message on a new connection: who I am.
    Hello { name: String },
    /// My display name changed.
    SetName { name: String },
    /// A chat message. `id` increases by one per message from this sender's session, which
    /// gives receivers per-sender order and duplicate detection.
    Chat {
        id: u64,
        sent_at_ms: u64,
        text: String,
    },
    /// Heartbeat; the receiver answers with [`PeerMessage::Pong`] carrying the same value.
    Ping { t: u64 },
    /// Heartbeat reply (also gives a round-trip time).
    Pong { t: u64 },
    /// I am leaving the room now (tab closing or "Leave room").
    Bye,
    /// Media renegotiation on the existing connection ("perfect negotiation"): a session
    /// description, offer or answer.
    Description { offer: bool, sdp: String },
    /// A trickled ICE candidate for a renegotiation.
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_m_line_index: Option<u16>,
    },
    /// What each of my media streams is, sent before its tracks so the receiver lays it out.
    Streams { streams: Vec<StreamLabel> },
    /// My microphone, camera and screen-share state.
    MediaState {
        mic: bool,
        camera: bool,
        screen: bool,
    },
    /// I offer a file to the room. `name` and `mime` are the sender's word: receivers sanitize
    /// them ([`crate::filename`]) before showing or saving anything.
    FileOffer {
        id: FileId,
        name: String,
        size: u64,
        mime: String,
        view_once: bool,
    },
    /// I no longer offer this file; transfers of it stop.
    FileWithdraw { id: FileId },
    /// Please send me this file (on a channel of its own, see [`crate::transfer`]); `resume`:
    /// I already hold its start.
    FileRequest {
        id: FileId,
        resume: Option<crate::transfer::Resume>,
    },
    /// I will not send you this file.
    FileRefused { id: FileId, reason: Refusal },
    /// One transfer's own connection: the sender's offer (`offer`) or the receiver's answer,
    /// with gathered candidates. A file never shares a connection with chat, whose messages
    /// would otherwise wait behind the file's packets in one SCTP association.
    FileLink {
        id: FileId,
        offer: bool,
        sdp: String,
    },
    /// I am typing a message (`on`), or stopped without sending one.
    Typing { on: bool },
    /// A chat message with more to it than [`PeerMessage::Chat`] (ids from the same
    /// sequence): to the receiver alone (`direct`), vanishing `ttl_ms` after it arrives (the
    /// room's timer when it was sent), or to be shown once (`view_once`).
    Message {
        id: u64,
        sent_at_ms: u64,
        text: String,
        direct: bool,
        ttl_ms: Option<u64>,
        view_once: bool,
    },
    /// The room's vanishing-message timer (`None`: off) and the version of that setting: one
    /// more than the last version its sender knew (a Lamport clock). The highest version wins
    /// everywhere, ties going to the greater peer id.
    Timer { ttl_ms: Option<u64>, version: u64 },
    /// I have seen your view-once message `id`.
    Viewed { id: u64 },
    /// Unused: a hello in two steps, before [`PeerMessage::Proof`] carried everything.
    /// Ignored on receipt; kept so later variants keep their place.
    Greeting {
        identity: Vec<u8>,
        nonce: [u8; HELLO_NONCE_LEN],
    },
    /// The hello (see [`crate::identity`]): my identity key (SEC1 compressed) and my nonce
    /// for this connection, my name, the DTLS fingerprints I see (my end, then yours), your
    /// nonce, my signature and room-key MAC over the transcript, and whether I have verified
    /// you already (`heard`: then you need not answer).
    Proof {
        identity: Vec<u8>,
        nonce: [u8; HELLO_NONCE_LEN],
        name: String,
        fp_signer: String,
        fp_receiver: String,
        nonce_receiver: [u8; HELLO_NONCE_LEN],
        signature: Vec<u8>,
        mac: Vec<u8>,
        heard: bool,
    },
    /// Verification, step 1 (starter): the commitment to my SAS contribution.
    SasCommit { commitment: [u8; 32] },
    /// Verification, step 2 (responder): my SAS contribution.
    SasNonce { r: [u8; HELLO_NONCE_LEN] },
    /// Verification, step 3 (starter): my contribution, which must match the commitment.
    SasReveal { r: [u8; HELLO_NONCE_LEN] },
    /// Verification's end from my side: the codes matched for me, or they did not (or I
    /// cancelled).
    SasDone { matched: bool },
    /// The room is locked (`members`: the identity keys admitted as the sender knows them) or
    /// unlocked; a last-writer-wins register on `version`, as [`PeerMessage::Timer`].
    Lock {
        locked: bool,
        version: u64,
        members: Vec<Vec<u8>>,
    },
    /// To a newcomer: the room is locked and you wait until a member lets you in.
    Knock,
    /// A member's decision on a newcomer's identity key, signed by that member
    /// ([`crate::identity::sign_admission`]); sent to every member and to the newcomer.
    Decision {
        key: Vec<u8>,
        admit: bool,
        signature: Vec<u8>,
    },
}

/// Most identity keys one [`PeerMessage::Lock`] carries (a room far larger than a mesh).
pub const MAX_LOCK_MEMBERS: usize = 256;

/// Length of handshake and SAS nonces.
pub const HELLO_NONCE_LEN: usize = crate::identity::NONCE_LEN;

/// What a media stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StreamKind {
    /// Microphone and camera.
    Camera,
    /// A shared screen, window or tab (with its audio when the browser offers it).
    Screen,
}

/// Labels one media stream by its id (the `msid` the receiver sees in `ontrack`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLabel {
    pub id: String,
    pub kind: StreamKind,
}

/// Why an incoming frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes exceeds the {MAX_CONTROL_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("frame did not open: {0}")]
    Seal(#[from] SealError),
    #[error("unsupported protocol version {0}")]
    Version(u8),
    #[error("frame did not decode")]
    Decode,
    #[error("chat message longer than {MAX_CHAT_BYTES} bytes")]
    TextTooLong,
    #[error("display name longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("a media field exceeds its limit")]
    MediaTooLarge,
    #[error("a file offer's name or type exceeds its limit")]
    FileFieldTooLong,
    #[error("an identity field has the wrong length")]
    Identity,
}

fn aad(from: &str, to: &str) -> Vec<u8> {
    format!("hush/v1/ctl|{from}|{to}").into_bytes()
}

/// Encodes and seals a message from `from` to `to`.
pub fn encode(
    key: &Key,
    nonce: [u8; NONCE_LEN],
    from: &str,
    to: &str,
    msg: &PeerMessage,
) -> Vec<u8> {
    let mut plain = vec![PROTOCOL_VERSION];
    // postcard serialisation into a Vec only fails for types serde cannot express; ours are
    // plain structs and strings.
    plain.extend(postcard::to_allocvec(msg).unwrap_or_default());
    seal(key, nonce, &aad(from, to), &plain)
}

/// Opens, decodes and validates a frame that `from` sent to `to`.
pub fn decode(key: &Key, from: &str, to: &str, frame: &[u8]) -> Result<PeerMessage, WireError> {
    if frame.len() > MAX_CONTROL_FRAME {
        return Err(WireError::TooLarge(frame.len()));
    }
    let plain = open(key, &aad(from, to), frame)?;
    let (&version, body) = plain.split_first().ok_or(WireError::Decode)?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::Version(version));
    }
    let msg: PeerMessage = postcard::from_bytes(body).map_err(|_| WireError::Decode)?;
    validate(&msg)?;
    Ok(msg)
}

fn validate(msg: &PeerMessage) -> Result<(), WireError> {
    match msg {
        PeerMessage::Hello { name } | PeerMessage::SetName { name } => {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(WireError::NameTooLong);
            }
        }
        PeerMessage::Chat { text, .. } | PeerMessage::Message { text, .. } => {
            if text.len() > MAX_CHAT_BYTES {
                return Err(WireError::TextTooLong);
            }
        }
        PeerMessage::Description { sdp, .. } | PeerMessage::FileLink { sdp, .. } => {
            if sdp.len() > MAX_SDP_BYTES {
                return Err(WireError::MediaTooLarge);
            }
        }
        PeerMessage::Candidate {
            candidate, sdp_mid, ..
        } => {
            let mid_len = sdp_mid.as_ref().map_or(0, String::len);
            if candidate.len() > MAX_CANDIDATE_BYTES || mid_len > MAX_STREAM_ID_BYTES {
                return Err(WireError::MediaTooLarge);
            }
        }
        PeerMessage::Streams { streams } => {
            if streams.len() > MAX_STREAMS
                || streams.iter().any(|s| s.id.len() > MAX_STREAM_ID_BYTES)
            {
                return Err(WireError::MediaTooLarge);
            }
        }
        PeerMessage::FileOffer { name, mime, .. } => {
            if name.len() > MAX_OFFER_NAME_BYTES || mime.len() > MAX_MIME_BYTES {
                return Err(WireError::FileFieldTooLong);
            }
        }
        PeerMessage::Greeting { identity, .. } => {
            if identity.len() != crate::identity::PUBLIC_LEN {
                return Err(WireError::Identity);
            }
        }
        PeerMessage::Proof {
            identity,
            name,
            fp_signer,
            fp_receiver,
            signature,
            mac,
            ..
        } => {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(WireError::NameTooLong);
            }
            if identity.len() != crate::identity::PUBLIC_LEN
                || fp_signer.len() > crate::identity::MAX_FINGERPRINT_BYTES
                || fp_receiver.len() > crate::identity::MAX_FINGERPRINT_BYTES
                || signature.len() != crate::identity::SIGNATURE_LEN
                || mac.len() != crate::identity::MAC_LEN
            {
                return Err(WireError::Identity);
            }
        }
        PeerMessage::Lock { members, .. } => {
            if members.len() > MAX_LOCK_MEMBERS
                || members
                    .iter()
                    .any(|k| k.len() != crate::identity::PUBLIC_LEN)
            {
                return Err(WireError::Identity);
            }
        }
        PeerMessage::Decision { key, signature, .. } => {
            if key.len() != crate::identity::PUBLIC_LEN
                || signature.len() != crate::identity::SIGNATURE_LEN
            {
                return Err(WireError::Identity);
            }
        }
        PeerMessage::Ping { .. }
        | PeerMessage::Knock
        | PeerMessage::SasCommit { .. }
        | PeerMessage::SasNonce { .. }
        | PeerMessage::SasReveal { .. }
        | PeerMessage::SasDone { .. }
        | PeerMessage::Pong { .. }
        | PeerMessage::Bye
        | PeerMessage::Typing { .. }
        | PeerMessage::Timer { .. }
        | PeerMessage::Viewed { .. }
        | PeerMessage::MediaState { .. }
        | PeerMessage::FileWithdraw { .. }
        | PeerMessage::FileRequest { .. }
        | PeerMessage::FileRefused { .. } => {}
    }
    Ok(())
}

/// Makes a peer-supplied display name safe to show: no control characters, no bidi overrides
/// or isolates (which could make a name render as someone else's), trimmed, length-capped.
/// An empty result becomes `fallback`.
pub fn sanitize_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && !is_invisible(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Chat text shown to the user: bidi overrides removed (they could disguise what a message or
/// link says); line breaks and tabs kept; other control characters dropped.
pub fn sanitize_text(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c) && (!c.is_control() || *c == '\n' || *c == '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::KEY_LEN;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbb";

    fn key() -> Key {
        Key([5; KEY_LEN])
    }

    #[test]
    fn file_offer_fields_are_capped() {
        let long = PeerMessage::FileOffer {
            id: FileId([0; 16]),
            name: "x".repeat(MAX_OFFER_NAME_BYTES + 1),
            size: 1,
            mime: String::new(),
            view_once: false,
        };
        let f = encode(&key(), [1; NONCE_LEN], A, B, &long);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::FileFieldTooLong));
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            PeerMessage::Hello { name: "Ada".into() },
            PeerMessage::SetName { name: "Bo".into() },
            PeerMessage::Chat {
                id: 7,
                sent_at_ms: 1_700_000_000_000,
                text: "hi 👋".into(),
            },
            PeerMessage::Ping { t: 1 },
            PeerMessage::Pong { t: 1 },
            PeerMessage::Bye,
            PeerMessage::Typing { on: true },
            PeerMessage::Message {
                id: 8,
                sent_at_ms: 1_700_000_000_001,
                text: "only you".into(),
                direct: true,
                ttl_ms: Some(30_000),
                view_once: true,
            },
            PeerMessage::Timer {
                ttl_ms: Some(60_000),
                version: 3,
            },
            PeerMessage::Viewed { id: 8 },
            PeerMessage::Description {
                offer: true,
                sdp: "v=0".into(),
            },
            PeerMessage::Candidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
            PeerMessage::Streams {
                streams: vec![StreamLabel {
                    id: "s".into(),
                    kind: StreamKind::Screen,
                }],
            },
            PeerMessage::MediaState {
                mic: true,
                camera: false,
                screen: true,
            },
            PeerMessage::FileOffer {
                id: FileId([3; 16]),
                name: "a.png".into(),
                size: 1 << 33,
                mime: "image/png".into(),
                view_once: true,
            },
            PeerMessage::FileWithdraw {
                id: FileId([3; 16]),
            },
            PeerMessage::FileRequest {
                id: FileId([3; 16]),
                resume: Some(crate::transfer::Resume {
                    records: 7,
                    digest: [9; 32],
                }),
            },
            PeerMessage::FileRefused {
                id: FileId([3; 16]),
                reason: Refusal::AlreadyViewed,
            },
            PeerMessage::FileLink {
                id: FileId([3; 16]),
                offer: true,
                sdp: "v=0".into(),
            },
        ];
        for m in msgs {
            let f = encode(&key(), [1; NONCE_LEN], A, B, &m);
            assert_eq!(decode(&key(), A, B, &f).unwrap(), m);
        }
    }

    #[test]
    fn golden_bytes_of_the_plaintext_encoding() {
        // The wire format is the variant index and fields in postcard: pin it.
        let m = PeerMessage::Chat {
            id: 1,
            sent_at_ms: 2,
            text: "hi".into(),
        };
        assert_eq!(
            postcard::to_allocvec(&m).unwrap(),
            vec![2, 1, 2, 2, b'h', b'i']
        );
        assert_eq!(postcard::to_allocvec(&PeerMessage::Bye).unwrap(), vec![5]);
        let state = PeerMessage::MediaState {
            mic: true,
            camera: false,
            screen: true,
        };
        assert_eq!(postcard::to_allocvec(&state).unwrap(), vec![9, 1, 0, 1]);
    }

    #[test]
    fn wrong_direction_wrong_key_and_garbage_are_rejected() {
        let f = encode(&key(), [1; NONCE_LEN], A, B, &PeerMessage::Bye);
        // Reflected back to its sender: the direction is part of the AAD.
        assert!(matches!(decode(&key(), B, A, &f), Err(WireError::Seal(_))));
        assert!(matches!(
            decode(&Key([6; KEY_LEN]), A, B, &f),
            Err(WireError::Seal(_))
        ));
        assert!(matches!(
            decode(&key(), A, B, b"garbage"),
            Err(WireError::Seal(_))
        ));
    }

    #[test]
    fn size_limit_is_checked_before_opening() {
        let big = vec![0u8; MAX_CONTROL_FRAME + 1];
        assert_eq!(
            decode(&key(), A, B, &big),
            Err(WireError::TooLarge(MAX_CONTROL_FRAME + 1))
        );
    }

    #[test]
    fn field_limits_and_unknown_variants() {
        let long = PeerMessage::Chat {
            id: 1,
            sent_at_ms: 0,
            text: "x".repeat(MAX_CHAT_BYTES + 1),
        };
        let f = encode(&key(), [1; NONCE_LEN], A, B, &long);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::TextTooLong));
        let name = PeerMessage::SetName {
            name: "n".repeat(MAX_NAME_CHARS + 1),
        };
        let f = encode(&key(), [1; NONCE_LEN], A, B, &name);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::NameTooLong));
        // A variant index from a future version, and a future protocol version.
        let f = seal(&key(), [1; NONCE_LEN], &aad(A, B), &[PROTOCOL_VERSION, 200]);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::Decode));
        let f = seal(&key(), [1; NONCE_LEN], &aad(A, B), &[9, 5]);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::Version(9)));
        let f = seal(&key(), [1; NONCE_LEN], &aad(A, B), &[]);
        assert_eq!(decode(&key(), A, B, &f), Err(WireError::Decode));
    }

    #[test]
    fn media_fields_are_bounded() {
        let too_long = [
            PeerMessage::Description {
                offer: true,
                sdp: "x".repeat(MAX_SDP_BYTES + 1),
            },
            PeerMessage::Candidate {
                candidate: "c".repeat(MAX_CANDIDATE_BYTES + 1),
                sdp_mid: None,
                sdp_m_line_index: None,
            },
            PeerMessage::Streams {
                streams: vec![
                    StreamLabel {
                        id: "a".into(),
                        kind: StreamKind::Camera
                    };
                    MAX_STREAMS + 1
                ],
            },
            PeerMessage::FileLink {
                id: FileId([3; 16]),
                offer: false,
                sdp: "x".repeat(MAX_SDP_BYTES + 1),
            },
        ];
        for m in too_long {
            let f = encode(&key(), [1; NONCE_LEN], A, B, &m);
            assert_eq!(decode(&key(), A, B, &f), Err(WireError::MediaTooLarge));
        }
    }

    #[test]
    fn names_and_text_are_sanitized() {
        assert_eq!(
            sanitize_name("  Eve\u{202E}gnp.exe ", "Guest"),
            "Evegnp.exe"
        );
        assert_eq!(sanitize_name("\u{0007}\u{200B}", "Guest"), "Guest");
        assert_eq!(
            sanitize_name(&"x".repeat(99), "G").chars().count(),
            MAX_NAME_CHARS
        );
        assert_eq!(sanitize_text("a\u{2066}b\nc\u{0}"), "ab\nc");
    }
}
