//! WebTorrent tracker protocol messages (JSON text frames over WebSocket) and the sealing of
//! the SDP they carry.
//!
//! A client announces `{action:"announce", info_hash, peer_id, numwant, offers:[…]}`; the
//! tracker forwards each offer to one other member of the swarm, who answers with
//! `{…, to_peer_id, offer_id, answer}`; the tracker routes that answer back. `offer` and
//! `answer` stay `{type, sdp}` objects because some trackers reject anything else; the `sdp`
//! string is our sealed blob, so a tracker can read no address and swap no fingerprint.

use crate::ids::{check_id, ID_LEN};
use crate::seal::{open_text, seal_text, Key, SealError, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// The only action Hush uses; trackers also know "scrape", which we neither send nor serve.
pub const ACTION_ANNOUNCE: &str = "announce";
/// Most offers one announce may carry (the WebTorrent client's own ceiling is 10).
pub const MAX_OFFERS_PER_ANNOUNCE: usize = 10;
/// Longest sealed SDP string accepted. A data-channel-only SDP with a handful of candidates is
/// ~1 KiB; media sections and many candidates stay well under 16 KiB.
pub const MAX_SEALED_SDP_LEN: usize = 16 * 1024;
/// Most peers a tracker should return for one announce.
pub const MAX_NUMWANT: u32 = 50;

/// `{type, sdp}`, as the protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdp {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// One offer inside an announce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferEntry {
    pub offer_id: String,
    pub offer: Sdp,
}

/// What a client sends to a tracker. Every field but the ids is optional because real clients
/// send different subsets (a plain announce, an announce with offers, an answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    pub action: String,
    pub info_hash: String,
    pub peer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numwant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<OfferEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Sdp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_peer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
}

/// What a tracker sends to a client: an announce reply, a forwarded offer or answer, or an
/// error. Lenient on purpose: public trackers differ in what they include.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Sdp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Sdp>,
    #[serde(
        rename = "failure reason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_reason: Option<String>,
    #[serde(
        rename = "warning message",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub warning_message: Option<String>,
}

impl ServerMessage {
    /// An error reply in the protocol's own shape.
    pub fn failure(reason: impl Into<String>) -> Self {
        Self {
            failure_reason: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// Why a client frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("invalid JSON")]
    Json,
    #[error("unknown action")]
    UnknownAction,
    #[error("invalid {0}: must be {ID_LEN} characters")]
    BadId(&'static str),
    #[error("too many offers (at most {MAX_OFFERS_PER_ANNOUNCE})")]
    TooManyOffers,
    #[error("sdp too long (at most {MAX_SEALED_SDP_LEN} bytes)")]
    SdpTooLong,
    #[error("an answer needs to_peer_id and offer_id")]
    IncompleteAnswer,
}

/// Parses and validates one client text frame. Size limits on the frame itself are the
/// transport's job; this checks shape, ids and field bounds.
pub fn parse_announce(text: &str) -> Result<Announce, TrackerError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| TrackerError::Json)?;
    match v.get("action").and_then(|a| a.as_str()) {
        Some(ACTION_ANNOUNCE) => {}
        _ => return Err(TrackerError::UnknownAction),
    }
    let a: Announce = serde_json::from_value(v).map_err(|_| TrackerError::Json)?;
    check_id(&a.info_hash).map_err(|_| TrackerError::BadId("info_hash"))?;
    check_id(&a.peer_id).map_err(|_| TrackerError::BadId("peer_id"))?;
    if let Some(offers) = &a.offers {
        if offers.len() > MAX_OFFERS_PER_ANNOUNCE {
            return Err(TrackerError::TooManyOffers);
        }
        for o in offers {
            check_id(&o.offer_id).map_err(|_| TrackerError::BadId("offer_id"))?;
            if o.offer.sdp.len() > MAX_SEALED_SDP_LEN {
                return Err(TrackerError::SdpTooLong);
            }
        }
    }
    if let Some(answer) = &a.answer {
        let (Some(to), Some(oid)) = (&a.to_peer_id, &a.offer_id) else {
            return Err(TrackerError::IncompleteAnswer);
        };
        check_id(to).map_err(|_| TrackerError::BadId("to_peer_id"))?;
        check_id(oid).map_err(|_| TrackerError::BadId("offer_id"))?;
        if answer.sdp.len() > MAX_SEALED_SDP_LEN {
            return Err(TrackerError::SdpTooLong);
        }
    }
    Ok(a)
}

/// Associated data for a sealed offer: binds it to the room, its sender and its offer id, so a
/// tracker cannot replay it under another peer id.
fn offer_aad(info_hash: &str, from: &str, offer_id: &str) -> Vec<u8> {
    format!("hush/v1/offer|{info_hash}|{from}|{offer_id}").into_bytes()
}

/// Associated data for a sealed answer: binds sender, recipient and the offer it answers.
fn answer_aad(info_hash: &str, from: &str, to: &str, offer_id: &str) -> Vec<u8> {
    format!("hush/v1/answer|{info_hash}|{from}|{to}|{offer_id}").into_bytes()
}

/// Longest `failure reason` shown to the user: a tracker's words are shown, never trusted.
pub const MAX_FAILURE_REASON_CHARS: usize = 120;

/// Seals an offer SDP for the tracker. The offer's creation time travels inside the sealed
/// text, so a tracker that replays an old offer cannot pass it off as new (see
/// [`open_offer`]'s caller, which rejects stale ones).
pub fn seal_offer(
    key: &Key,
    nonce: [u8; NONCE_LEN],
    info_hash: &str,
    from: &str,
    offer_id: &str,
    created_ms: u64,
    sdp: &str,
) -> Sdp {
    let text = format!("{created_ms}\n{sdp}");
    Sdp {
        kind: "offer".into(),
        sdp: seal_text(key, nonce, &offer_aad(info_hash, from, offer_id), &text),
    }
}

/// An offer opened under the room key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedOffer {
    /// When the offerer made it, by its own clock.
    pub created_ms: u64,
    pub sdp: String,
}

/// Opens an offer forwarded by the tracker; fails for any other room, a re-addressed offer,
/// or a sealed text without its creation time.
pub fn open_offer(
    key: &Key,
    info_hash: &str,
    from: &str,
    offer_id: &str,
    offer: &Sdp,
) -> Result<OpenedOffer, SealError> {
    let text = open_text(key, &offer_aad(info_hash, from, offer_id), &offer.sdp)?;
    let (created, sdp) = text.split_once('\n').ok_or(SealError::Malformed)?;
    let created_ms = created.parse::<u64>().map_err(|_| SealError::Malformed)?;
    Ok(OpenedOffer {
        created_ms,
        sdp: sdp.to_owned(),
    })
}

/// A tracker's `failure reason` made safe to show: control and bidi characters dropped,
/// whitespace collapsed, cut to [`MAX_FAILURE_REASON_CHARS`].
pub fn sanitize_failure_reason(reason: &str) -> String {
    let words: Vec<String> = reason
        .split(|c: char| c.is_whitespace() || c.is_control())
        .map(|w| {
            w.chars()
                .filter(|c| !crate::wire::is_bidi_control(*c) && !c.is_control())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let cleaned = words.join(" ");
    if cleaned.is_empty() {
        return "no reason given".into();
    }
    let mut out: String = cleaned.chars().take(MAX_FAILURE_REASON_CHARS).collect();
    if cleaned.chars().count() > MAX_FAILURE_REASON_CHARS {
        out.push('…');
    }
    out
}

/// Seals an answer SDP for the tracker.
pub fn seal_answer(
    key: &Key,
    nonce: [u8; NONCE_LEN],
    info_hash: &str,
    from: &str,
    to: &str,
    offer_id: &str,
    sdp: &str,
) -> Sdp {
    Sdp {
        kind: "answer".into(),
        sdp: seal_text(key, nonce, &answer_aad(info_hash, from, to, offer_id), sdp),
    }
}

/// Opens an answer routed to us by the tracker.
pub fn open_answer(
    key: &Key,
    info_hash: &str,
    from: &str,
    to: &str,
    offer_id: &str,
    answer: &Sdp,
) -> Result<String, SealError> {
    open_text(key, &answer_aad(info_hash, from, to, offer_id), &answer.sdp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::KEY_LEN;

    const IH: &str = "aaaaaaaaaaaaaaaaaaaa";
    const A: &str = "peer-a-0000000000000";
    const B: &str = "peer-b-0000000000000";
    const O: &str = "offer-1-000000000000";

    /// Invariant: a tracker's failure reason is shown without control or bidi characters and
    /// never longer than the cap.
    #[test]
    fn failure_reasons_are_cleaned_and_capped() {
        assert_eq!(
            sanitize_failure_reason("  too\n many\u{202E} peers\t"),
            "too many peers"
        );
        assert_eq!(sanitize_failure_reason("\u{0}\u{7}"), "no reason given");
        let long = sanitize_failure_reason(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_FAILURE_REASON_CHARS + 1);
    }

    #[test]
    fn announce_with_offers_parses_and_round_trips() {
        let text = format!(
            r#"{{"action":"announce","info_hash":"{IH}","peer_id":"{A}","numwant":5,"offers":[{{"offer_id":"{O}","offer":{{"type":"offer","sdp":"x"}}}}]}}"#
        );
        let a = parse_announce(&text).unwrap();
        assert_eq!(a.offers.as_ref().unwrap()[0].offer_id, O);
        let again = serde_json::to_string(&a).unwrap();
        assert_eq!(parse_announce(&again).unwrap(), a);
    }

    #[test]
    fn malformed_frames_get_typed_errors() {
        assert_eq!(parse_announce("{nope"), Err(TrackerError::Json));
        assert_eq!(
            parse_announce(r#"{"action":"scrape"}"#),
            Err(TrackerError::UnknownAction)
        );
        assert_eq!(
            parse_announce(&format!(
                r#"{{"action":"announce","info_hash":"short","peer_id":"{A}"}}"#
            )),
            Err(TrackerError::BadId("info_hash"))
        );
        assert_eq!(
            parse_announce(&format!(
                r#"{{"action":"announce","info_hash":"{IH}","peer_id":"{A}","answer":{{"type":"answer","sdp":"x"}}}}"#
            )),
            Err(TrackerError::IncompleteAnswer)
        );
        let offers: Vec<String> = (0..11)
            .map(|_| format!(r#"{{"offer_id":"{O}","offer":{{"type":"offer","sdp":"x"}}}}"#))
            .collect();
        assert_eq!(
            parse_announce(&format!(
                r#"{{"action":"announce","info_hash":"{IH}","peer_id":"{A}","offers":[{}]}}"#,
                offers.join(",")
            )),
            Err(TrackerError::TooManyOffers)
        );
    }

    #[test]
    fn failure_reply_uses_the_protocol_field_name() {
        let s = serde_json::to_string(&ServerMessage::failure("bad")).unwrap();
        assert_eq!(s, r#"{"failure reason":"bad"}"#);
    }

    #[test]
    fn sealed_sdp_opens_only_in_its_context() {
        let k = Key([9; KEY_LEN]);
        let offer = seal_offer(&k, [1; NONCE_LEN], IH, A, O, 42, "v=0");
        assert_eq!(offer.kind, "offer");
        let opened = open_offer(&k, IH, A, O, &offer).unwrap();
        assert_eq!((opened.created_ms, opened.sdp.as_str()), (42, "v=0"));
        // A tracker re-attributing the offer to another peer, or another room's key, fails.
        assert!(open_offer(&k, IH, B, O, &offer).is_err());
        assert!(open_offer(&Key([8; KEY_LEN]), IH, A, O, &offer).is_err());
        let ans = seal_answer(&k, [2; NONCE_LEN], IH, B, A, O, "v=0 answer");
        assert_eq!(open_answer(&k, IH, B, A, O, &ans).unwrap(), "v=0 answer");
        assert!(open_answer(&k, IH, B, B, O, &ans).is_err());
    }
}
