//! A rogue tracker for the drills: a WebTorrent tracker that knows the room name, as if the
//! room's link had leaked to its operator, and uses it (`e2e/tests/mitm.test.mjs`,
//! `e2e/tests/hostile.test.mjs`).
//!
//! - `--mode forward` (the man-in-the-middle drill's variant A): the tracker answers the first
//!   two peers' offers itself, each under the *other* peer's id, sealed with the room key, so
//!   each peer's DTLS connection ends here. It then forwards every control-channel message
//!   between the two connections untouched, the hellos included. The honest peers must refuse.
//! - `--mode pairs` (variant B): a plain tracker that splits the room into pairs by order of
//!   arrival (first and second peer, third and fourth, …). The test puts a native peer of its
//!   own into each pair, named like the honest peer of the other pair: those two sign their
//!   own hellos, so they are accepted, and only comparing the codes can tell.
//! - `--mode hostile`: a working tracker for the honest peers, plus a member of its own,
//!   "Mallory", who answers one offer of each peer, says a valid hello, and answers pings;
//!   on `attack` it sends each peer thousands of file offers and valid chat at 100× the
//!   rate limit (the first peer the offers first, the others the chat first), then
//!   oversized frames and random bytes, for as long as the peer listens
//!   (`ROGUE_OFFERS` sets the number of offers). A second member, "Ghost", answers
//!   one offer of each peer and never says hello.
//!
//! Loopback only, for tests; not part of the product
//! (`cargo build --release -p hush-cli --example rogue_tracker`). Input on stdin: `room NAME`
//! starts a run for that room (the peers of an earlier run are forgotten); `attack` starts
//! Mallory's attack (`attack chat`, `attack offers`, `attack garbage`: one phase of it). Output on stdout, one line each: `listening PORT`, then per run R:
//! `ready R`, `peer R.N` (the Nth peer arrived), `answered R.N` (its offer answered by the
//! tracker), `forwarded R.N>M` (the first frame carried from N to M), `hello R.N` (Mallory
//! said hello to N), `attacked R.N FRAMES` (Mallory's attack on N is over).

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use hush_core::identity::{self, HelloView, Identity, SECRET_LEN};
use hush_core::ids::{encode_id, ID_LEN};
use hush_core::keys::RoomKeys;
use hush_core::tracker::{self, Announce, OfferEntry, ServerMessage};
use hush_core::transfer::{FileId, FILE_ID_LEN};
use hush_core::wire::{self, PeerMessage, MAX_CONTROL_FRAME};
use rtc::ice::mdns::MulticastDnsMode;
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCSessionDescription, SettingEngineBuilder,
};

/// The app's control channel: pre-negotiated on stream 0 by both ends.
const CONTROL_LABEL: &str = "hush-control";
const CONTROL_STREAM_ID: u16 = 0;
/// The longest wait for ICE gathering on loopback before the answer goes out as it is.
const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// Told to clients in announce replies: they re-announce this often (seconds).
const ANNOUNCE_INTERVAL_S: u64 = 120;
/// Forward mode: told instead, so that a waiting peer's latest offer is never older than this.
const FORWARD_INTERVAL_S: u64 = 10;
/// Forward mode answers an offer only this fresh: a browser drops its unanswered offers after
/// 10 s (`mesh::OFFER_TTL_MS`), and answering and connecting take a few seconds on a busy machine.
const FRESH_OFFER: Duration = Duration::from_secs(6);
/// Forward mode: legs neither of which is open after this are dropped and made again from
/// fresh offers.
const LEGS_OPEN_TIMEOUT: Duration = Duration::from_secs(8);
/// Forward mode: once one leg is open, the other must open within this, or both are made
/// again. A browser waits 10 s for the hello from the moment its channel opens
/// (`room::HELLO_TIMEOUT_MS`), and the relay holds the first leg's hello until the second
/// leg's arrives: 4 s leaves 6 s for both hellos to cross, however busy the machine.
const SECOND_LEG_TIMEOUT: Duration = Duration::from_secs(4);

/// Mallory's flood of valid chat: 100× the app's rate limit (10 per second), for this long.
const FLOOD_PER_SEC: u64 = 1_000;
const FLOOD_MS: u64 = 3_000;
/// File offers Mallory makes (the app keeps at most 256 per peer).
const FLOOD_OFFERS: u32 = 5_000;
/// Frames of each kind of garbage Mallory ends with.
const GARBAGE_FRAMES: usize = 40;
/// The attack's phases: `attack` runs them all, `attack chat|offers|garbage` one.
const CHAT: u8 = 1;
const OFFERS: u8 = 2;
const GARBAGE: u8 = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Pairs,
    Hostile,
}

/// What the socket tasks and stdin tell the relay's one state task.
enum Input {
    Open(u64, mpsc::UnboundedSender<String>),
    Text(u64, String),
    Closed(u64),
    Room(String),
    Attack(u8),
    /// Forward mode: run R's legs did not open; make them again.
    Retry(u32),
}

/// A peer of the current run, in order of arrival.
struct Peer {
    id: String,
    conn: u64,
    info_hash: String,
    /// Forward mode: the first offer of the peer's latest announce, and when it came.
    offer: Option<(OfferEntry, Instant)>,
}

struct Relay {
    mode: Mode,
    keys: Option<Arc<RoomKeys>>,
    sockets: HashMap<u64, mpsc::UnboundedSender<String>>,
    /// Sockets of earlier runs: what they say is ignored.
    stale: HashSet<u64>,
    peers: Vec<Peer>,
    /// The current run's number (`room` lines seen).
    run: u32,
    legs_made: bool,
    /// The relay's own connections of this run, closed when the next run starts.
    legs: Vec<Arc<dyn PeerConnection>>,
    leg_tx: mpsc::UnboundedSender<Arc<dyn PeerConnection>>,
    /// Where a run's legs report that they did not open.
    inputs: mpsc::UnboundedSender<Input>,
    /// Hostile mode: the members of our own, and which peers they answered.
    rogues: Vec<Rogue>,
    /// The attack's phases, once asked for ([`CHAT`], [`OFFERS`], [`GARBAGE`]); 0 before.
    attack: watch::Sender<u8>,
}

/// A member of the tracker's own in hostile mode.
struct Rogue {
    id: String,
    identity: Arc<Identity>,
    /// Says hello and attacks on request (Mallory), or never says anything (Ghost).
    speaks: bool,
    answered: HashSet<String>,
}

fn random_id() -> String {
    let mut e = [0u8; ID_LEN];
    let _ = getrandom::fill(&mut e);
    encode_id(&e)
}

fn rogue(speaks: bool) -> Rogue {
    Rogue {
        id: random_id(),
        identity: Arc::new(Identity::generate(|| {
            let mut s = [0u8; SECRET_LEN];
            let _ = getrandom::fill(&mut s);
            s
        })),
        speaks,
        answered: HashSet::new(),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn to_text(msg: &ServerMessage) -> String {
    serde_json::to_string(msg).unwrap_or_default()
}

impl Relay {
    fn send(&self, conn: u64, msg: &ServerMessage) {
        if let Some(tx) = self.sockets.get(&conn) {
            let _ = tx.send(to_text(msg));
        }
    }

    /// Passes one offer of announce `a` on to the socket `conn`, as a tracker does.
    fn pass_offer(&self, conn: u64, a: &Announce, entry: OfferEntry) {
        let msg = ServerMessage {
            action: Some("announce".into()),
            info_hash: Some(a.info_hash.clone()),
            peer_id: Some(a.peer_id.clone()),
            offer_id: Some(entry.offer_id),
            offer: Some(entry.offer),
            ..ServerMessage::default()
        };
        self.send(conn, &msg);
    }

    /// Passes an answer on to the socket `conn` of the peer it is addressed to.
    fn pass_answer(&self, conn: u64, a: Announce) {
        let msg = ServerMessage {
            action: Some("announce".into()),
            info_hash: Some(a.info_hash),
            peer_id: Some(a.peer_id),
            offer_id: a.offer_id,
            answer: a.answer,
            ..ServerMessage::default()
        };
        self.send(conn, &msg);
    }

    fn start_run(&mut self, room: &str) {
        self.stale.extend(self.sockets.keys().copied());
        self.peers.clear();
        self.run += 1;
        self.legs_made = false;
        self.attack.send_replace(0);
        self.rogues = if self.mode == Mode::Hostile {
            vec![rogue(true), rogue(false)]
        } else {
            Vec::new()
        };
        for pc in self.legs.drain(..) {
            tokio::spawn(async move {
                let _ = pc.close().await;
            });
        }
        // Argon2id, as every member does: the relay knows the name.
        let derived = hush_core::room_name::normalize(room)
            .map_err(|e| e.to_string())
            .and_then(|name| RoomKeys::derive(&name).map_err(|e| e.to_string()));
        match derived {
            Ok(k) => self.keys = Some(Arc::new(k)),
            Err(e) => say(&format!("error {e}")),
        }
        say(&format!("ready {}", self.run));
    }

    fn text(&mut self, conn: u64, text: &str) {
        if self.stale.contains(&conn) {
            return;
        }
        let Ok(a) = tracker::parse_announce(text) else {
            return;
        };
        let index = match self.peers.iter().position(|p| p.id == a.peer_id) {
            Some(i) => {
                self.peers[i].conn = conn;
                i
            }
            None => {
                self.peers.push(Peer {
                    id: a.peer_id.clone(),
                    conn,
                    info_hash: a.info_hash.clone(),
                    offer: None,
                });
                say(&format!("peer {}.{}", self.run, self.peers.len() - 1));
                self.peers.len() - 1
            }
        };
        if a.answer.is_none() {
            // Forward mode keeps a lone peer coming back with fresh offers (it counts the
            // other peer before it arrives) until its legs are made.
            let (interval, incomplete) = match self.mode {
                Mode::Forward => (FORWARD_INTERVAL_S, self.peers.len().max(2) as u64),
                _ => (ANNOUNCE_INTERVAL_S, self.peers.len() as u64),
            };
            self.send(
                conn,
                &ServerMessage {
                    action: Some("announce".into()),
                    info_hash: Some(a.info_hash.clone()),
                    interval: Some(interval),
                    complete: Some(0),
                    incomplete: Some(incomplete),
                    ..ServerMessage::default()
                },
            );
        }
        match self.mode {
            Mode::Forward => self.forward_mode(index, a),
            Mode::Pairs => self.pairs_mode(index, a),
            Mode::Hostile => self.hostile_mode(index, a),
        }
    }

    /// Hostile mode: offers go to the other members as a tracker's do, but the last two of
    /// each peer's first announce go to Mallory and Ghost, who answer them themselves.
    fn hostile_mode(&mut self, index: usize, mut a: Announce) {
        if a.answer.is_some() {
            let to = self
                .peers
                .iter()
                .find(|p| Some(&p.id) == a.to_peer_id.as_ref());
            if let Some(conn) = to.map(|p| p.conn) {
                self.pass_answer(conn, a);
            }
            return;
        }
        let mut offers = a.offers.take().unwrap_or_default();
        let Some(keys) = self.keys.clone() else {
            return;
        };
        for r in &mut self.rogues {
            if r.answered.contains(&a.peer_id) {
                continue;
            }
            let Some(entry) = offers.pop() else {
                break;
            };
            r.answered.insert(a.peer_id.clone());
            let p = &self.peers[index];
            let end = End {
                index,
                id: p.id.clone(),
                info_hash: p.info_hash.clone(),
                offer: Some(entry),
                tx: self.sockets.get(&p.conn).cloned(),
            };
            let member = Member {
                run: self.run,
                id: r.id.clone(),
                identity: r.identity.clone(),
                speaks: r.speaks,
            };
            let (keys, legs, attack) = (keys.clone(), self.leg_tx.clone(), self.attack.subscribe());
            tokio::spawn(async move {
                if let Err(e) = member.serve(keys, end, legs, attack).await {
                    say(&format!("error {e}"));
                }
            });
        }
        let others: Vec<u64> = self
            .peers
            .iter()
            .filter(|p| p.id != a.peer_id)
            .map(|p| p.conn)
            .collect();
        for (entry, conn) in offers.into_iter().zip(others) {
            self.pass_offer(conn, &a, entry);
        }
    }

    /// Variant A: keep each of the first two peers' latest offer; once both are in and
    /// fresh, answer both as the other.
    fn forward_mode(&mut self, index: usize, a: Announce) {
        if index > 1 || self.legs_made {
            return;
        }
        if let Some(first) = a.offers.and_then(|o| o.into_iter().next()) {
            self.peers[index].offer = Some((first, Instant::now()));
        }
        let Some(keys) = self.keys.clone() else {
            return;
        };
        let fresh = |p: &Peer| {
            p.offer
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() < FRESH_OFFER)
        };
        if self.peers.len() < 2 || !self.peers[..2].iter().all(fresh) {
            return;
        }
        self.legs_made = true;
        let ends: Vec<End> = self.peers[..2]
            .iter()
            .enumerate()
            .map(|(i, p)| End {
                index: i,
                id: p.id.clone(),
                info_hash: p.info_hash.clone(),
                offer: p.offer.as_ref().map(|(o, _)| o.clone()),
                tx: self.sockets.get(&p.conn).cloned(),
            })
            .collect();
        let (leg_tx, run, inputs) = (self.leg_tx.clone(), self.run, self.inputs.clone());
        tokio::spawn(async move {
            match middle(run, keys, ends, leg_tx).await {
                Ok(true) => {}
                Ok(false) => {
                    say(&format!("retry {run}"));
                    let _ = inputs.send(Input::Retry(run));
                }
                Err(e) => say(&format!("error {e}")),
            }
        });
    }

    /// Run `run`'s legs did not open (an answer that came too late, a connection that
    /// failed): wait for both peers' next offers and answer those.
    fn retry(&mut self, run: u32) {
        if run != self.run {
            return;
        }
        self.legs_made = false;
        for p in &mut self.peers {
            p.offer = None;
        }
    }

    /// Variant B: a tracker whose swarm is cut into pairs.
    fn pairs_mode(&mut self, index: usize, mut a: Announce) {
        let partner = index ^ 1;
        if a.answer.is_some() {
            let to = self
                .peers
                .get(partner)
                .filter(|p| Some(&p.id) == a.to_peer_id.as_ref());
            if let Some(conn) = to.map(|p| p.conn) {
                self.pass_answer(conn, a);
            }
            return;
        }
        let Some(first) = a.offers.take().and_then(|o| o.into_iter().next()) else {
            return;
        };
        if let Some(conn) = self.peers.get(partner).map(|p| p.conn) {
            self.pass_offer(conn, &a, first);
        }
    }
}

/// One honest peer as the relay sees it.
struct End {
    index: usize,
    id: String,
    info_hash: String,
    offer: Option<OfferEntry>,
    tx: Option<mpsc::UnboundedSender<String>>,
}

struct Gathered(mpsc::Sender<()>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.0.try_send(());
        }
    }
}

/// The relay's connection towards one honest peer, answering its offer.
async fn leg(
    offer_sdp: String,
) -> Result<(Arc<dyn PeerConnection>, Arc<dyn DataChannel>, String), String> {
    let (tx, mut gathered) = mpsc::channel(1);
    // Browsers may name their host candidates `….local`: resolve them as the CLI does.
    let engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::QueryOnly)
        .build();
    let pc: Arc<dyn PeerConnection> = Arc::new(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(engine)
            .with_handler(Arc::new(Gathered(tx)))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .map_err(|e| e.to_string())?,
    );
    let init = RTCDataChannelInit {
        negotiated: Some(CONTROL_STREAM_ID),
        ordered: true,
        ..Default::default()
    };
    let dc = pc
        .create_data_channel(CONTROL_LABEL, Some(init))
        .await
        .map_err(|e| e.to_string())?;
    let offer = RTCSessionDescription::offer(offer_sdp).map_err(|e| e.to_string())?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
    pc.set_local_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.recv()).await;
    let sdp = pc
        .local_description()
        .await
        .map(|d| d.sdp)
        .ok_or("no local description")?;
    Ok((pc, dc, sdp))
}

/// Answers each end's offer as the other end and carries the control channel between them.
/// False when the two legs did not both open in time (they are closed then).
async fn middle(
    run: u32,
    keys: Arc<RoomKeys>,
    ends: Vec<End>,
    leg_tx: mpsc::UnboundedSender<Arc<dyn PeerConnection>>,
) -> Result<bool, String> {
    // Both answers at once: each waits for its own ICE gathering, and the offers age.
    let (first, second) = tokio::join!(
        answer_as(run, &keys, &ends[0], &ends[1].id),
        answer_as(run, &keys, &ends[1], &ends[0].id),
    );
    let ((pc_a, a, _, _), (pc_b, b, _, _)) = (first?, second?);
    let _ = leg_tx.send(pc_a.clone());
    let _ = leg_tx.send(pc_b.clone());
    let (a_open_tx, mut a_seen) = watch::channel(false);
    let (b_open_tx, mut b_seen) = watch::channel(false);
    let (a_heard_tx, a_heard) = watch::channel(false);
    let (b_heard_tx, b_heard) = watch::channel(false);
    tokio::spawn(carry(
        Leg::new(a.clone(), a_open_tx, a_heard_tx),
        b.clone(),
        b_heard,
        format!("{run}.0>1"),
    ));
    tokio::spawn(carry(
        Leg::new(b, b_open_tx, b_heard_tx),
        a,
        a_heard,
        format!("{run}.1>0"),
    ));
    let (mut a_first, mut b_first) = (a_seen.clone(), b_seen.clone());
    let either = async {
        tokio::select! {
            seen = a_first.wait_for(|open| *open) => seen.is_ok(),
            seen = b_first.wait_for(|open| *open) => seen.is_ok(),
        }
    };
    let both = async {
        a_seen.wait_for(|open| *open).await.is_ok() && b_seen.wait_for(|open| *open).await.is_ok()
    };
    if tokio::time::timeout(LEGS_OPEN_TIMEOUT, either).await == Ok(true)
        && tokio::time::timeout(SECOND_LEG_TIMEOUT, both).await == Ok(true)
    {
        return Ok(true);
    }
    for pc in [pc_a, pc_b] {
        let _ = pc.close().await;
    }
    Ok(false)
}

/// Answers `me`'s offer as `as_id`, with a connection of our own: (connection, its control
/// channel, the offer's SDP, our answer's SDP).
async fn answer_as(
    run: u32,
    keys: &RoomKeys,
    me: &End,
    as_id: &str,
) -> Result<
    (
        Arc<dyn PeerConnection>,
        Arc<dyn DataChannel>,
        String,
        String,
    ),
    String,
> {
    let entry = me.offer.as_ref().ok_or("no offer")?;
    let opened = tracker::open_offer(
        &keys.sdp,
        &me.info_hash,
        &me.id,
        &entry.offer_id,
        &entry.offer,
    )
    .map_err(|e| format!("offer does not open: {e}"))?;
    let (pc, dc, sdp) = leg(opened.sdp.clone()).await?;
    let answer = tracker::seal_answer(
        &keys.sdp,
        nonce12(),
        &me.info_hash,
        as_id,
        &me.id,
        &entry.offer_id,
        &sdp,
    );
    let msg = ServerMessage {
        action: Some("announce".into()),
        info_hash: Some(me.info_hash.clone()),
        peer_id: Some(as_id.to_owned()),
        offer_id: Some(entry.offer_id.clone()),
        answer: Some(answer),
        ..ServerMessage::default()
    };
    if let Some(tx) = &me.tx {
        let _ = tx.send(to_text(&msg));
    }
    say(&format!("answered {run}.{}", me.index));
    Ok((pc, dc, opened.sdp, sdp))
}

fn nonce12() -> [u8; 12] {
    let mut n = [0u8; 12];
    let _ = getrandom::fill(&mut n);
    n
}

/// A member of the tracker's own, serving one honest peer.
struct Member {
    run: u32,
    id: String,
    identity: Arc<Identity>,
    speaks: bool,
}

impl Member {
    /// Answers the peer's offer; if it speaks, says a valid hello, answers pings and, once
    /// `attack` turns true, attacks.
    async fn serve(
        self,
        keys: Arc<RoomKeys>,
        end: End,
        legs: mpsc::UnboundedSender<Arc<dyn PeerConnection>>,
        mut attack: watch::Receiver<u8>,
    ) -> Result<(), String> {
        let (pc, dc, offer_sdp, answer_sdp) = answer_as(self.run, &keys, &end, &self.id).await?;
        let _ = legs.send(pc);
        if !self.speaks {
            return Ok(());
        }
        let frame = |msg: &PeerMessage| wire::encode(&keys.chat, nonce12(), &self.id, &end.id, msg);
        let send = |bytes: Vec<u8>| {
            let dc = dc.clone();
            async move { dc.send(BytesMut::from(&bytes[..])).await.is_ok() }
        };
        // The channel opens, then a hello that verifies: our key, both nonces and both
        // fingerprints, signed and MACed under the room's auth key.
        loop {
            match dc.poll().await {
                Some(DataChannelEvent::OnOpen) => break,
                Some(_) => {}
                None => return Err("channel closed before it opened".into()),
            }
        }
        let (local_fp, remote_fp) = (
            identity::dtls_fingerprint(&answer_sdp),
            identity::dtls_fingerprint(&offer_sdp),
        );
        let (local_nonce, remote_nonce) = (
            identity::sdp_nonce(&answer_sdp),
            identity::sdp_nonce(&offer_sdp),
        );
        let name = "Mallory".to_owned();
        let view = HelloView {
            id_a: &self.id,
            id_b: &end.id,
            key_a: self.identity.public(),
            nonce_a: &local_nonce,
            nonce_b: &remote_nonce,
            fp_a: &local_fp,
            fp_b: &remote_fp,
            name: &name,
        };
        let (signature, mac) = identity::prove(&self.identity, &keys.auth, &view);
        let proof = PeerMessage::Proof {
            identity: self.identity.public().to_vec(),
            nonce: local_nonce,
            name,
            fp_signer: local_fp.clone(),
            fp_receiver: remote_fp.clone(),
            nonce_receiver: remote_nonce,
            signature: signature.to_vec(),
            mac: mac.to_vec(),
            heard: true,
        };
        send(frame(&proof)).await;
        say(&format!("hello {}.{}", self.run, end.index));
        // Stay a member: answer every ping (the app drops a silent peer within seconds).
        let reader = {
            let (dc, keys, me, peer) = (dc.clone(), keys.clone(), self.id.clone(), end.id.clone());
            tokio::spawn(async move {
                while let Some(ev) = dc.poll().await {
                    let DataChannelEvent::OnMessage(m) = ev else {
                        continue;
                    };
                    if let Ok(PeerMessage::Ping { t }) =
                        wire::decode(&keys.chat, &peer, &me, &m.data)
                    {
                        let pong = wire::encode(
                            &keys.chat,
                            nonce12(),
                            &me,
                            &peer,
                            &PeerMessage::Pong { t },
                        );
                        let _ = dc.send(BytesMut::from(&pong[..])).await;
                    }
                }
            })
        };
        let phases = match attack.wait_for(|p| *p != 0).await {
            Ok(p) => *p,
            Err(_) => {
                reader.abort();
                return Ok(());
            }
        };
        let mut frames = 0u64;
        // The first peer gets the offers first, the others the chat: each flood alone gets
        // its sender dropped, so both are seen.
        let order = if end.index == 0 {
            [OFFERS, CHAT]
        } else {
            [CHAT, OFFERS]
        };
        for phase in order.into_iter().filter(|p| phases & p != 0) {
            match phase {
                // Thousands of file offers.
                OFFERS => {
                    let offers = std::env::var("ROGUE_OFFERS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(FLOOD_OFFERS);
                    for k in 0..offers {
                        let mut fid = [0u8; FILE_ID_LEN];
                        let _ = getrandom::fill(&mut fid);
                        let msg = PeerMessage::FileOffer {
                            id: FileId(fid),
                            name: format!("offer-{k}.bin"),
                            size: 1_000,
                            mime: "application/octet-stream".into(),
                            view_once: false,
                        };
                        frames += u64::from(send(frame(&msg)).await);
                    }
                }
                // Valid chat at 100× the rate limit, in 10 ms batches.
                _ => {
                    let start = tokio::time::Instant::now();
                    let mut id = 0u64;
                    while start.elapsed() < Duration::from_millis(FLOOD_MS) {
                        for _ in 0..FLOOD_PER_SEC / 100 {
                            id += 1;
                            let text = format!("flood {id}");
                            let msg = PeerMessage::Chat {
                                id,
                                sent_at_ms: 0,
                                text,
                            };
                            frames += u64::from(send(frame(&msg)).await);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }
        // Oversized frames, then random bytes.
        let garbage = if phases & GARBAGE != 0 {
            GARBAGE_FRAMES
        } else {
            0
        };
        for _ in 0..garbage {
            frames += u64::from(send(vec![7u8; MAX_CONTROL_FRAME + 1]).await);
        }
        for _ in 0..garbage {
            let mut junk = vec![0u8; 100];
            let _ = getrandom::fill(&mut junk);
            frames += u64::from(send(junk).await);
        }
        say(&format!("attacked {}.{} {frames}", self.run, end.index));
        reader.abort();
        Ok(())
    }
}

/// One end of the relay as [`carry`] reads it: its channel, and where it tells that the
/// channel opened and that the first message came.
struct Leg {
    channel: Arc<dyn DataChannel>,
    opened: watch::Sender<bool>,
    heard: watch::Sender<bool>,
}

impl Leg {
    fn new(
        channel: Arc<dyn DataChannel>,
        opened: watch::Sender<bool>,
        heard: watch::Sender<bool>,
    ) -> Self {
        Self {
            channel,
            opened,
            heard,
        }
    }
}

/// Forwards every message from `from` to `to`, untouched and in order, holding them until the
/// other direction has heard from `to` too. So both hellos cross the relay together, as an
/// attacker would have them (one delivered alone would be refused before its receiver's own
/// hello went out, and a first message lost at a fresh channel is only sent again while its
/// sender has heard nothing).
async fn carry(
    from: Leg,
    to: Arc<dyn DataChannel>,
    mut to_heard: watch::Receiver<bool>,
    what: String,
) {
    let mut first = true;
    while let Some(ev) = from.channel.poll().await {
        match ev {
            DataChannelEvent::OnOpen => {
                let _ = from.opened.send(true);
            }
            DataChannelEvent::OnMessage(m) => {
                let _ = from.heard.send(true);
                if to_heard.wait_for(|heard| *heard).await.is_err() {
                    break;
                }
                if to.send(BytesMut::from(&m.data[..])).await.is_ok() && first {
                    first = false;
                    say(&format!("forwarded {what}"));
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}

async fn socket(conn: u64, stream: TcpStream, inputs: mpsc::UnboundedSender<Input>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let _ = inputs.send(Input::Open(conn, tx));
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if write.send(Message::text(text)).await.is_err() { break },
                None => break,
            },
            msg = read.next() => match msg {
                Some(Ok(Message::Text(t))) => { let _ = inputs.send(Input::Text(conn, t.to_string())); }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = inputs.send(Input::Closed(conn));
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let mode = match flag("--mode").as_deref() {
        Some("forward") => Mode::Forward,
        Some("pairs") => Mode::Pairs,
        Some("hostile") => Mode::Hostile,
        _ => {
            return Err("usage: rogue_tracker --mode forward|pairs|hostile [--listen ADDR]".into())
        }
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    say(&format!("listening {port}"));

    let (inputs, mut rx) = mpsc::unbounded_channel();
    let accept_inputs = inputs.clone();
    tokio::spawn(async move {
        let mut next = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            next += 1;
            tokio::spawn(socket(next, stream, accept_inputs.clone()));
        }
    });
    let stdin_inputs = inputs.clone();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(room) = line.strip_prefix("room ") {
                let _ = stdin_inputs.send(Input::Room(room.to_owned()));
            } else if let Some(what) = line.trim().strip_prefix("attack") {
                let phases = match what.trim() {
                    "chat" => CHAT,
                    "offers" => OFFERS,
                    "garbage" => GARBAGE,
                    _ => CHAT | OFFERS | GARBAGE,
                };
                let _ = stdin_inputs.send(Input::Attack(phases));
            }
        }
        std::process::exit(0);
    });

    let (leg_tx, mut legs) = mpsc::unbounded_channel();
    let mut relay = Relay {
        mode,
        keys: None,
        sockets: HashMap::new(),
        stale: HashSet::new(),
        peers: Vec::new(),
        run: 0,
        legs_made: false,
        legs: Vec::new(),
        leg_tx,
        inputs: inputs.clone(),
        rogues: Vec::new(),
        attack: watch::channel(0).0,
    };
    loop {
        tokio::select! {
            Some(pc) = legs.recv() => relay.legs.push(pc),
            Some(input) = rx.recv() => match input {
                Input::Open(conn, tx) => { relay.sockets.insert(conn, tx); }
                Input::Text(conn, text) => relay.text(conn, &text),
                Input::Closed(conn) => { relay.sockets.remove(&conn); relay.stale.remove(&conn); }
                Input::Room(room) => relay.start_run(&room),
                Input::Attack(phases) => { relay.attack.send_replace(phases); }
                Input::Retry(run) => relay.retry(run),
            },
            else => return Ok(()),
        }
    }
}
