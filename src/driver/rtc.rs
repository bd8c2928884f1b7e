//! One `RTCPeerConnection` with its control data channel, and the async steps of negotiating
//! it. The driver owns every [`Rtc`]; dropping one detaches its handlers and closes it, so no
//! JS callback outlives the connection it belongs to.

use super::js::{await_promise, get, get_str, sleep_ms, JsError};
use super::Event;
use crate::state::MediaFlags;
use crate::vecmap::VecMap;
use futures::channel::mpsc::Sender;
use hush_core::ids::PeerId;
use hush_core::mesh::ConnId;
use hush_core::negotiation::Negotiation;
use hush_core::wire::StreamKind;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelType, RtcIceGatheringState, RtcPeerConnection,
    RtcPeerConnectionState, RtcRtpSender, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

/// A transfer's connection carries one pre-negotiated channel, on this SCTP stream.
const FILE_STREAM_ID: u16 = 0;
/// Label of the control channel (chat and control messages).
const CONTROL_LABEL: &str = "hush-control";
/// The control channel is pre-negotiated on SCTP stream 0 by both sides: it exists the moment
/// the connection does, with no extra round trip and no `ondatachannel` race.
const CONTROL_STREAM_ID: u16 = 0;
/// How long to wait for ICE gathering before sending what we have. Tracker signaling is not
/// trickled, so the SDP must carry candidates; host candidates arrive in milliseconds, a STUN
/// server that does not answer must not hold the join up.
pub const ICE_GATHER_TIMEOUT_MS: u32 = 1_500;
/// Frames queued from one peer and not yet handled by the driver. A peer that gets this far
/// ahead is flooding: its connection is cut rather than letting memory grow.
pub const MAX_INFLIGHT_FRAMES: u32 = 512;

type Cb = Closure<dyn FnMut(JsValue)>;

/// A peer connection and the handlers that feed its events to the driver.
pub struct Rtc {
    /// Driver-local handle named in every event from this connection.
    pub handle: u32,
    pub pc: RtcPeerConnection,
    pub dc: RtcDataChannel,
    /// The negotiation this connection carries; `None` while our offer is unanswered.
    pub conn: Option<ConnId>,
    /// Which tracker carries this negotiation (answers go back the same way); `None` for an
    /// offer prepared ahead and not yet given to a tracker.
    pub tracker: Option<usize>,
    pub offer_id: String,
    /// Our offer's SDP once gathered, waiting to be sealed into an announce.
    pub offer_sdp: Option<String>,
    /// When our offer went out to a tracker.
    pub offered_at_ms: Option<u64>,
    /// Frames posted to the driver and not yet handled (see [`MAX_INFLIGHT_FRAMES`]).
    pub inflight: Rc<Cell<u32>>,
    /// Set by the message handler when the peer floods; the driver then drops it.
    pub flooded: Rc<Cell<bool>>,
    pub open: bool,
    /// Display name from the peer's hello; the peer is listed once it is known.
    pub name: Option<String>,
    /// Whether the selected candidate pair is relayed, once known.
    pub relayed: Option<bool>,
    pub bad_frames: u32,
    /// Media renegotiation state; set when the control channel opens.
    pub neg: Option<Negotiation>,
    /// Our tracks on this connection: (track id, its sender).
    pub senders: Vec<(String, RtcRtpSender)>,
    /// The peer's media streams by id, and what each carries (from its `Streams` message).
    pub remote: VecMap<String, MediaStream>,
    pub labels: VecMap<String, StreamKind>,
    /// The peer's microphone/camera/screen state and whether it is speaking.
    pub media: MediaFlags,
    pub speaking: bool,
    closures: Vec<Cb>,
}

impl Rtc {
    /// Creates a connection and its control channel, wiring every event to `events`.
    pub fn new(
        handle: u32,
        config: &RtcConfiguration,
        events: &Sender<Event>,
    ) -> Result<Self, JsError> {
        let pc = RtcPeerConnection::new_with_configuration(config)?;
        let dc = negotiated_channel(&pc, CONTROL_LABEL, CONTROL_STREAM_ID);
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);
        let inflight = Rc::new(Cell::new(0u32));
        let flooded = Rc::new(Cell::new(false));
        let mut closures = Vec::new();

        let tx = events.clone();
        let on_open: Cb = Closure::new(move |_| post(&tx, Event::ChannelOpen(handle)));
        dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        closures.push(on_open);

        let tx = events.clone();
        let on_close: Cb = Closure::new(move |_| post(&tx, Event::ChannelClosed(handle)));
        dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        closures.push(on_close);

        let mut tx = events.clone();
        let (inf, fl) = (inflight.clone(), flooded.clone());
        let on_message: Cb = Closure::new(move |ev: JsValue| {
            if fl.get() {
                return;
            }
            let Some(ev) = ev.dyn_ref::<MessageEvent>() else {
                return;
            };
            // Text frames are not part of the protocol: hand them on as bytes so the driver
            // counts them as malformed like any other garbage.
            let data = ev.data();
            let bytes = if let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() {
                js_sys::Uint8Array::new(buf).to_vec()
            } else {
                data.as_string().unwrap_or_default().into_bytes()
            };
            if inf.get() >= MAX_INFLIGHT_FRAMES || tx.try_send(Event::Frame(handle, bytes)).is_err()
            {
                fl.set(true);
                return;
            }
            inf.set(inf.get() + 1);
        });
        dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        closures.push(on_message);

        let tx = events.clone();
        let pc2 = pc.clone();
        let on_state: Cb = Closure::new(move |_| {
            if matches!(
                pc2.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                post(&tx, Event::ChannelClosed(handle));
            }
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        closures.push(on_state);

        Ok(Self {
            handle,
            pc,
            dc,
            conn: None,
            tracker: None,
            offer_id: String::new(),
            offer_sdp: None,
            offered_at_ms: None,
            inflight,
            flooded,
            open: false,
            name: None,
            relayed: None,
            bad_frames: 0,
            neg: None,
            senders: Vec::new(),
            remote: VecMap::default(),
            labels: VecMap::default(),
            media: MediaFlags::default(),
            speaking: false,
            closures,
        })
    }

    /// Starts media negotiation on this (open) connection: renegotiations, trickled candidates
    /// and incoming tracks are posted to the driver from now on.
    pub fn enable_media(&mut self, me: &PeerId, events: &Sender<Event>) {
        let Some(conn) = &self.conn else {
            return;
        };
        self.neg = Some(Negotiation::new(me, &conn.peer));
        let h = self.handle;
        let tx = events.clone();
        let on_needed: Cb = Closure::new(move |_| post(&tx, Event::NegotiationNeeded(h)));
        self.pc
            .set_onnegotiationneeded(Some(on_needed.as_ref().unchecked_ref()));
        self.closures.push(on_needed);

        let tx = events.clone();
        let on_candidate: Cb = Closure::new(move |ev: JsValue| {
            let c = get(&ev, "candidate");
            let Some(candidate) = get_str(&c, "candidate").filter(|c| !c.is_empty()) else {
                return;
            };
            let mid = get_str(&c, "sdpMid");
            let index = get(&c, "sdpMLineIndex").as_f64().map(|i| i as u16);
            post(&tx, Event::LocalCandidate(h, candidate, mid, index));
        });
        self.pc
            .set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        self.closures.push(on_candidate);

        let tx = events.clone();
        let on_track: Cb = Closure::new(move |ev: JsValue| {
            let Some(ev) = ev.dyn_ref::<RtcTrackEvent>() else {
                return;
            };
            if let Ok(stream) = ev.streams().get(0).dyn_into::<MediaStream>() {
                post(&tx, Event::Track(h, stream));
            }
        });
        self.pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        self.closures.push(on_track);
    }

    /// Sends `track` (part of `stream`) to this peer.
    pub fn add_track(&mut self, track: &MediaStreamTrack, stream: &MediaStream) {
        let sender = self.pc.add_track(track, stream, &js_sys::Array::new());
        self.senders.push((track.id(), sender));
    }

    /// Stops sending `track_id` to this peer.
    pub fn remove_track(&mut self, track_id: &str) {
        self.senders.retain(|(id, sender)| {
            if id == track_id {
                self.pc.remove_track(sender);
                false
            } else {
                true
            }
        });
    }

    /// Swaps the track behind a sender (a new device) without renegotiating.
    pub fn replace_track(&mut self, old_id: &str, new: &MediaStreamTrack) {
        for (id, sender) in &mut self.senders {
            if id == old_id {
                let _ = sender.replace_track(Some(new));
                *id = new.id();
            }
        }
    }

    /// The peer's stream of the given kind, once both its label and its tracks arrived.
    pub fn stream_of(&self, kind: StreamKind) -> Option<MediaStream> {
        self.labels
            .iter()
            .find(|(_, k)| **k == kind)
            .and_then(|(id, _)| self.remote.get(id).cloned())
    }

    /// Sends one frame on the control channel; false when the channel is not open.
    pub fn send(&self, frame: &[u8]) -> bool {
        self.dc.send_with_u8_array(frame).is_ok()
    }
}

impl Drop for Rtc {
    fn drop(&mut self) {
        self.dc.set_onopen(None);
        self.dc.set_onclose(None);
        self.dc.set_onmessage(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_onnegotiationneeded(None);
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_ondatachannel(None);
        self.dc.close();
        self.pc.close();
        self.closures.clear();
    }
}

/// A connection of its own for one file transfer, with its one channel (pre-negotiated on both
/// sides, so it exists before the connection does and needs no `ondatachannel`). Its offer and
/// answer travel sealed over the control channel, as [`hush_core::wire::PeerMessage::FileLink`].
pub fn file_link(
    config: &RtcConfiguration,
    label: &str,
) -> Result<(RtcPeerConnection, RtcDataChannel), JsError> {
    let pc = RtcPeerConnection::new_with_configuration(config)?;
    let dc = negotiated_channel(&pc, label, FILE_STREAM_ID);
    Ok((pc, dc))
}

/// An ordered, reliable channel that both sides create themselves on SCTP stream `id`.
fn negotiated_channel(pc: &RtcPeerConnection, label: &str, id: u16) -> RtcDataChannel {
    let init = RtcDataChannelInit::new();
    init.set_negotiated(true);
    init.set_id(id);
    init.set_ordered(true);
    pc.create_data_channel_with_data_channel_dict(label, &init)
}

/// Posts an event; a full queue drops lifecycle events only when the driver is hopelessly
/// behind, and the heartbeat timeout then cleans up.
fn post(tx: &Sender<Event>, ev: Event) {
    let _ = tx.clone().try_send(ev);
}

/// Which candidate kinds a connection can gather, from the ICE configuration: gathering can
/// stop as soon as one of each has arrived instead of waiting for the slowest kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct IceKinds {
    /// STUN servers are configured: expect a server-reflexive candidate.
    pub srflx: bool,
    /// TURN servers are configured: expect a relay candidate.
    pub relay: bool,
    /// Relay-only policy: host and server-reflexive candidates are never gathered.
    pub relay_only: bool,
}

/// After the last UDP candidate, how long gathering must stay quiet before the SDP is sent.
/// Candidates of one kind arrive within a millisecond or two of each other; the TCP host
/// candidates Chromium gathers ~130 ms later are useless when UDP works, and waiting for
/// "complete" for them would double the time to connect.
const GATHER_QUIET_MS: f64 = 10.0;

#[derive(Default)]
struct Gathered {
    host: bool,
    srflx: bool,
    relay: bool,
    last_udp_ms: f64,
}

/// Waits until the candidates that matter are gathered: gathering completes, or one candidate
/// of each expected kind arrived and UDP has been quiet for [`GATHER_QUIET_MS`], or
/// [`ICE_GATHER_TIMEOUT_MS`] passes.
async fn gathered(pc: &RtcPeerConnection, kinds: IceKinds) {
    const POLL_MS: u32 = 5;
    let seen = Rc::new(std::cell::RefCell::new(Gathered::default()));
    let on_candidate: Cb = {
        let seen = seen.clone();
        Closure::new(move |ev: JsValue| {
            let cand = get(&get(&ev, "candidate"), "candidate")
                .as_string()
                .unwrap_or_default();
            // candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type>
            let fields: Vec<&str> = cand.split_whitespace().collect();
            if fields.get(2).map(|p| p.eq_ignore_ascii_case("udp")) != Some(true) {
                return;
            }
            let mut s = seen.borrow_mut();
            match fields.get(7).copied() {
                Some("host") => s.host = true,
                Some("srflx") | Some("prflx") => s.srflx = true,
                Some("relay") => s.relay = true,
                _ => {}
            }
            s.last_udp_ms = js_sys::Date::now();
        })
    };
    pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
    let mut waited = 0;
    loop {
        if pc.ice_gathering_state() == RtcIceGatheringState::Complete
            || waited >= ICE_GATHER_TIMEOUT_MS
        {
            break;
        }
        {
            let s = seen.borrow();
            let have_all = if kinds.relay_only {
                s.relay
            } else {
                s.host && (!kinds.srflx || s.srflx) && (!kinds.relay || s.relay)
            };
            if have_all && js_sys::Date::now() - s.last_udp_ms >= GATHER_QUIET_MS {
                break;
            }
        }
        sleep_ms(POLL_MS).await;
        waited += POLL_MS;
    }
    pc.set_onicecandidate(None);
}

fn local_sdp(pc: &RtcPeerConnection) -> Result<String, JsError> {
    pc.local_description()
        .map(|d| d.sdp())
        .ok_or_else(|| JsError("no local description".into()))
}

/// Creates an offer and returns its SDP with gathered candidates.
pub async fn make_offer(pc: RtcPeerConnection, kinds: IceKinds) -> Result<String, JsError> {
    let offer = await_promise(pc.create_offer()).await?;
    await_promise(pc.set_local_description(offer.unchecked_ref())).await?;
    gathered(&pc, kinds).await;
    local_sdp(&pc)
}

/// Applies a remote offer and returns our answer SDP with gathered candidates.
pub async fn make_answer(
    pc: RtcPeerConnection,
    offer_sdp: String,
    kinds: IceKinds,
) -> Result<String, JsError> {
    let desc = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
    desc.set_sdp(&offer_sdp);
    await_promise(pc.set_remote_description(&desc)).await?;
    let answer = await_promise(pc.create_answer()).await?;
    await_promise(pc.set_local_description(answer.unchecked_ref())).await?;
    gathered(&pc, kinds).await;
    local_sdp(&pc)
}

/// Applies the remote answer to our offer.
pub async fn accept_answer(pc: RtcPeerConnection, answer_sdp: String) -> Result<(), JsError> {
    let desc = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
    desc.set_sdp(&answer_sdp);
    await_promise(pc.set_remote_description(&desc)).await?;
    Ok(())
}

/// Whether the selected candidate pair goes through a TURN relay (`Some(true)`), directly
/// (`Some(false)`), or is not known yet (`None`).
pub async fn is_relayed(pc: RtcPeerConnection) -> Result<Option<bool>, JsError> {
    let report = await_promise(pc.get_stats()).await?;
    let map: &js_sys::Map = report.unchecked_ref();
    let mut stats = Vec::new();
    map.for_each(&mut |v, _k| stats.push(v));
    let by_id = |id: &str| {
        stats
            .iter()
            .find(|s| get_str(s, "id").as_deref() == Some(id))
    };
    // The transport names the selected pair; older engines mark the pair itself.
    let pair = stats
        .iter()
        .find(|s| get_str(s, "type").as_deref() == Some("transport"))
        .and_then(|t| get_str(t, "selectedCandidatePairId"))
        .and_then(|id| by_id(&id).cloned())
        .or_else(|| {
            stats
                .iter()
                .find(|s| {
                    get_str(s, "type").as_deref() == Some("candidate-pair")
                        && get(s, "selected").as_bool() == Some(true)
                })
                .cloned()
        });
    let Some(pair) = pair else {
        return Ok(None);
    };
    let Some(local) = get_str(&pair, "localCandidateId").and_then(|id| by_id(&id).cloned()) else {
        return Ok(None);
    };
    let Some(remote) = get_str(&pair, "remoteCandidateId").and_then(|id| by_id(&id).cloned())
    else {
        return Ok(None);
    };
    let relay = |c: &JsValue| get_str(c, "candidateType").as_deref() == Some("relay");
    Ok(Some(relay(&local) || relay(&remote)))
}

/// Perfect negotiation, our side: `setLocalDescription()` without arguments makes the offer
/// or answer the signaling state calls for. Returns (is it an offer, its SDP).
pub async fn set_local_implicit(pc: RtcPeerConnection) -> Result<(bool, String), JsError> {
    let f: js_sys::Function = get(&pc, "setLocalDescription")
        .dyn_into()
        .map_err(|_| JsError("setLocalDescription missing".into()))?;
    let promise: js_sys::Promise = f
        .call0(&pc)?
        .dyn_into()
        .map_err(|_| JsError("no promise".into()))?;
    await_promise(promise).await?;
    let desc = pc
        .local_description()
        .ok_or_else(|| JsError("no local description".into()))?;
    Ok((desc.type_() == RtcSdpType::Offer, desc.sdp()))
}

/// Perfect negotiation, their side: applies their description; for an offer, answers it and
/// returns the answer's SDP.
pub async fn apply_remote(
    pc: RtcPeerConnection,
    offer: bool,
    sdp: String,
) -> Result<Option<String>, JsError> {
    let desc = RtcSessionDescriptionInit::new(if offer {
        RtcSdpType::Offer
    } else {
        RtcSdpType::Answer
    });
    desc.set_sdp(&sdp);
    await_promise(pc.set_remote_description(&desc)).await?;
    if !offer {
        return Ok(None);
    }
    let (_, answer) = set_local_implicit(pc).await?;
    Ok(Some(answer))
}

/// Adds a trickled candidate from the peer.
pub async fn add_candidate(
    pc: RtcPeerConnection,
    candidate: String,
    mid: Option<String>,
    index: Option<u16>,
) -> Result<(), JsError> {
    let init = web_sys::RtcIceCandidateInit::new(&candidate);
    init.set_sdp_mid(mid.as_deref());
    init.set_sdp_m_line_index(index);
    await_promise(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await?;
    Ok(())
}

/// The peer's current microphone level (0–1) from the inbound audio stats, if it sends audio.
pub async fn audio_level(pc: RtcPeerConnection) -> Result<Option<f64>, JsError> {
    let report = await_promise(pc.get_stats()).await?;
    let map: &js_sys::Map = report.unchecked_ref();
    let mut level: Option<f64> = None;
    map.for_each(&mut |v, _k| {
        if get_str(&v, "type").as_deref() == Some("inbound-rtp")
            && get_str(&v, "kind").as_deref() == Some("audio")
        {
            if let Some(l) = get(&v, "audioLevel").as_f64() {
                level = Some(level.map_or(l, |x: f64| x.max(l)));
            }
        }
    });
    Ok(level)
}
