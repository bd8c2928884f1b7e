//! One `RTCPeerConnection` with its control data channel (a [`Link`]), and the async steps of
//! negotiating it. The driver owns every link; dropping one removes its listeners and closes
//! it, so no JS callback outlives the connection it belongs to. A link holds JS objects and
//! the media bookkeeping that goes with them; who the peer is and what it may do is the
//! engine's.

use super::inflight::{Admit, Inflight};
use super::Event;
use crate::js::{await_promise, get, get_str, JsError};
use crate::listener::Listener;
use futures::channel::mpsc::{self, Sender};
use futures::StreamExt;
use hush_core::ids::PeerId;
use hush_core::negotiation::Negotiation;
use hush_core::room::{ConnHandle, MAX_INFLIGHT_FRAMES};
use hush_core::vecmap::VecMap;
use hush_core::wire::{StreamKind, MAX_CONTROL_FRAME};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    EventTarget, MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelType, RtcIceGatheringState, RtcPeerConnection,
    RtcPeerConnectionState, RtcRtpSender, RtcSdpType, RtcSessionDescriptionInit, RtcSignalingState,
    RtcTrackEvent,
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
/// How long start-up waits for the first offers' local descriptions before deriving the room
/// key (which holds the page's thread for ~100 ms).
const LOCAL_OFFERS_WAIT_MS: u32 = 100;

/// A peer connection, its control channel and the listeners that feed their events to the
/// driver.
pub struct Link {
    /// The engine's handle, named in every event from this connection.
    handle: ConnHandle,
    pub pc: RtcPeerConnection,
    pub dc: RtcDataChannel,
    /// The peer, once the engine kept this connection open.
    pub peer: Option<PeerId>,
    /// Frames posted to the driver and not yet handled, within the engine's budget.
    inflight: Inflight,
    /// Whether the peer is listed in the UI (its path is shown from then on).
    pub listed: bool,
    /// Whether the selected candidate pair is relayed, once known.
    pub relayed: Option<bool>,
    /// Media renegotiation state; set when the connection opens.
    pub neg: Option<Negotiation>,
    /// Our tracks on this connection: (track id, its sender).
    pub senders: Vec<(String, RtcRtpSender)>,
    /// The peer's media streams by id, and what each carries (from its `Streams` message).
    pub remote: VecMap<String, MediaStream>,
    pub labels: VecMap<String, StreamKind>,
    listeners: Vec<Listener>,
}

impl Link {
    /// Creates a connection and its control channel, wiring every event to `events`.
    pub fn new(
        h: ConnHandle,
        config: &RtcConfiguration,
        events: &Sender<Event>,
    ) -> Result<Self, JsError> {
        let pc = RtcPeerConnection::new_with_configuration(config)?;
        let dc = negotiated_channel(&pc, CONTROL_LABEL, CONTROL_STREAM_ID);
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);
        let inflight = Inflight::new(MAX_INFLIGHT_FRAMES);
        let dct: EventTarget = dc.clone().unchecked_into();
        let pct: EventTarget = pc.clone().unchecked_into();
        let post = |ev: fn(ConnHandle) -> Event| {
            let mut tx = events.clone();
            move |_: web_sys::Event| {
                let _ = tx.try_send(ev(h));
            }
        };
        let mut listeners = vec![
            Listener::new(&dct, "open", post(Event::ChannelOpen)),
            Listener::new(&dct, "close", post(Event::ChannelClosed)),
        ];
        let (mut tx, inf) = (events.clone(), inflight.clone());
        listeners.push(Listener::new(&dct, "message", move |ev| {
            let Some(ev) = ev.dyn_ref::<MessageEvent>() else {
                return;
            };
            match inf.admit() {
                Admit::Yes => {}
                Admit::Flooding => {
                    let _ = tx.try_send(Event::Flooded(h));
                    return;
                }
                Admit::No => return,
            }
            // The length is checked before anything is copied into wasm memory. Text frames
            // are not part of the protocol: they go on as bytes and count as malformed.
            let data = ev.data();
            let bytes = if let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() {
                if buf.byte_length() as usize > MAX_CONTROL_FRAME {
                    let _ = tx.try_send(Event::OversizedFrame(h));
                    return;
                }
                js_sys::Uint8Array::new(buf).to_vec()
            } else if let Some(text) = data.dyn_ref::<js_sys::JsString>() {
                if text.length() as usize > MAX_CONTROL_FRAME {
                    let _ = tx.try_send(Event::OversizedFrame(h));
                    return;
                }
                String::from(text).into_bytes()
            } else {
                Vec::new()
            };
            if tx.try_send(Event::Frame(h, bytes)).is_ok() {
                inf.posted();
            }
        }));
        let (mut tx, pc2) = (events.clone(), pc.clone());
        listeners.push(Listener::new(&pct, "connectionstatechange", move |_| {
            if matches!(
                pc2.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                let _ = tx.try_send(Event::ChannelClosed(h));
            }
        }));
        Ok(Self {
            handle: h,
            pc,
            dc,
            peer: None,
            inflight,
            listed: false,
            relayed: None,
            neg: None,
            senders: Vec::new(),
            remote: VecMap::default(),
            labels: VecMap::default(),
            listeners,
        })
    }

    /// One of this link's frames was handled.
    pub fn handled(&self) {
        self.inflight.handled();
    }

    /// Starts media negotiation on this (open) connection: renegotiations, trickled candidates
    /// and incoming tracks are posted to the driver from now on.
    pub fn enable_media(&mut self, me: &PeerId, peer: &PeerId, events: &Sender<Event>) {
        self.neg = Some(Negotiation::new(me, peer));
        let h = self.handle;
        let target: EventTarget = self.pc.clone().unchecked_into();
        let mut tx = events.clone();
        self.listeners
            .push(Listener::new(&target, "negotiationneeded", move |_| {
                let _ = tx.try_send(Event::NegotiationNeeded(h));
            }));
        let mut tx = events.clone();
        self.listeners
            .push(Listener::new(&target, "icecandidate", move |ev| {
                let c = get(&ev, "candidate");
                let Some(candidate) = get_str(&c, "candidate").filter(|c| !c.is_empty()) else {
                    return;
                };
                let mid = get_str(&c, "sdpMid");
                let index = get(&c, "sdpMLineIndex").as_f64().map(|i| i as u16);
                let _ = tx.try_send(Event::LocalCandidate(h, candidate, mid, index));
            }));
        let mut tx = events.clone();
        self.listeners
            .push(Listener::new(&target, "track", move |ev| {
                let Some(ev) = ev.dyn_ref::<RtcTrackEvent>() else {
                    return;
                };
                if let Ok(stream) = ev.streams().get(0).dyn_into::<MediaStream>() {
                    let _ = tx.try_send(Event::Track(h, stream));
                }
            }));
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

    /// The peer's streams are now `labels`: streams it no longer sends are forgotten, so a
    /// connection renegotiated many times holds only what is live.
    pub fn set_labels(&mut self, labels: VecMap<String, StreamKind>) {
        self.remote.retain(|id, _| labels.contains_key(id));
        self.labels = labels;
    }

    /// The peer's stream of the given kind, once both its label and its tracks arrived.
    pub fn stream_of(&self, kind: StreamKind) -> Option<MediaStream> {
        self.labels
            .iter()
            .find(|(_, k)| **k == kind)
            .and_then(|(id, _)| self.remote.get(id).cloned())
    }

    /// Sends one frame on the control channel (dropped if the channel is not open).
    pub fn send(&self, frame: &[u8]) {
        let _ = self.dc.send_with_u8_array(frame);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.listeners.clear();
        self.dc.close();
        self.pc.close();
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
/// [`ICE_GATHER_TIMEOUT_MS`] passes. Driven by the connection's own events and two timers.
async fn gathered(pc: &RtcPeerConnection, kinds: IceKinds) {
    let (tx, mut rx) = mpsc::unbounded::<()>();
    let seen = Rc::new(RefCell::new(Gathered::default()));
    let target: EventTarget = pc.clone().unchecked_into();
    let wake = |tx: &mpsc::UnboundedSender<()>| {
        let tx = tx.clone();
        move || {
            let _ = tx.unbounded_send(());
        }
    };
    let _candidates = {
        let (seen, wake) = (seen.clone(), wake(&tx));
        Listener::new(&target, "icecandidate", move |ev| {
            let cand = get(&get(&ev, "candidate"), "candidate")
                .as_string()
                .unwrap_or_default();
            // candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type>
            let fields: Vec<&str> = cand.split_whitespace().collect();
            if fields.get(2).map(|p| p.eq_ignore_ascii_case("udp")) == Some(true) {
                let mut s = seen.borrow_mut();
                match fields.get(7).copied() {
                    Some("host") => s.host = true,
                    Some("srflx") | Some("prflx") => s.srflx = true,
                    Some("relay") => s.relay = true,
                    _ => {}
                }
                s.last_udp_ms = js_sys::Date::now();
            }
            wake();
        })
    };
    let _state = {
        let wake = wake(&tx);
        Listener::new(&target, "icegatheringstatechange", move |_| wake())
    };
    let _deadline = gloo_timers::callback::Timeout::new(ICE_GATHER_TIMEOUT_MS, wake(&tx));
    let started = js_sys::Date::now();
    let mut _quiet = None;
    loop {
        if pc.ice_gathering_state() == RtcIceGatheringState::Complete
            || js_sys::Date::now() - started >= f64::from(ICE_GATHER_TIMEOUT_MS)
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
            if have_all {
                let quiet_for = js_sys::Date::now() - s.last_udp_ms;
                if quiet_for >= GATHER_QUIET_MS {
                    break;
                }
                let left = (GATHER_QUIET_MS - quiet_for).ceil() as u32;
                _quiet = Some(gloo_timers::callback::Timeout::new(left, wake(&tx)));
            }
        }
        if rx.next().await.is_none() {
            break;
        }
    }
}

/// Waits (at most [`LOCAL_OFFERS_WAIT_MS`]) until every one of `pcs` has its local offer set,
/// i.e. until ICE gathering runs in the browser's network thread and no longer needs this one.
pub async fn until_local_offers(pcs: &[RtcPeerConnection]) {
    let (tx, mut rx) = mpsc::unbounded::<()>();
    let _listeners: Vec<Listener> = pcs
        .iter()
        .map(|pc| {
            let tx = tx.clone();
            let target: EventTarget = pc.clone().unchecked_into();
            Listener::new(&target, "signalingstatechange", move |_| {
                let _ = tx.unbounded_send(());
            })
        })
        .collect();
    let _deadline = {
        let tx = tx.clone();
        gloo_timers::callback::Timeout::new(LOCAL_OFFERS_WAIT_MS, move || {
            let _ = tx.unbounded_send(());
        })
    };
    let started = js_sys::Date::now();
    while pcs
        .iter()
        .any(|pc| pc.signaling_state() != RtcSignalingState::HaveLocalOffer)
        && js_sys::Date::now() - started < f64::from(LOCAL_OFFERS_WAIT_MS)
    {
        if rx.next().await.is_none() {
            break;
        }
    }
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

/// The certificate the transport holds for the peer, as its stats report it: (algorithm,
/// fingerprint), once DTLS is up.
pub async fn remote_certificate(
    pc: RtcPeerConnection,
) -> Result<Option<(String, String)>, JsError> {
    let report = await_promise(pc.get_stats()).await?;
    let map: &js_sys::Map = report.unchecked_ref();
    let mut stats = Vec::new();
    map.for_each(&mut |v, _k| stats.push(v));
    let Some(id) = stats
        .iter()
        .find(|s| get_str(s, "type").as_deref() == Some("transport"))
        .and_then(|t| get_str(t, "remoteCertificateId"))
    else {
        return Ok(None);
    };
    let Some(cert) = stats
        .iter()
        .find(|s| get_str(s, "id").as_deref() == Some(id.as_str()))
    else {
        return Ok(None);
    };
    Ok(get_str(cert, "fingerprintAlgorithm").zip(get_str(cert, "fingerprint")))
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
