//! The simulated world: engines with a model shell each, in-memory trackers and links, and a
//! seeded scheduler over simulated time.

use hush_core::ids::PeerId;
use hush_core::keys::RoomKeys;
use hush_core::room::{
    ConnHandle, Event, Output, Room, INITIAL_OFFERS, MAX_OFFERS, MAX_PENDING_ANSWERS,
};
use hush_core::tracker::{parse_announce, ServerMessage};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// A small, fast, seedable generator (SplitMix64): the scheduler's only randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).max(1))
    }
}

/// What a hostile tracker does to the messages it relays (percentages).
#[derive(Debug, Clone, Copy)]
pub struct Malice {
    pub drop_answers: u64,
    pub drop_offers: u64,
    pub duplicate: u64,
    pub replay: u64,
    /// Extra delay, up to this many ms (reorders too).
    pub delay_ms: u64,
    /// Accepts sockets and swallows everything: no reply, nothing relayed.
    pub silent: bool,
}

impl Malice {
    /// Everything at once: every answer dropped, offers dropped, duplicated and replayed.
    pub fn all() -> Self {
        Self {
            drop_answers: 100,
            drop_offers: 30,
            duplicate: 30,
            replay: 50,
            delay_ms: 3_000,
            silent: false,
        }
    }
    pub fn random(r: &mut Rng) -> Self {
        Self {
            drop_answers: r.below(101),
            drop_offers: r.below(60),
            duplicate: r.below(60),
            replay: r.below(80),
            delay_ms: r.below(5_000),
            silent: r.chance(25),
        }
    }
}

pub struct Scenario {
    pub seed: u64,
    pub peers: usize,
    /// One entry per tracker: `None` honest, `Some` hostile.
    pub trackers: Vec<Option<Malice>>,
}

pub struct Stats {
    pub peers: usize,
    pub met_ms: u64,
}

#[derive(Debug)]
enum Action {
    Join(usize),
    TrackerUp {
        e: usize,
        t: usize,
        gen: u32,
    },
    ToTracker {
        e: usize,
        t: usize,
        gen: u32,
        text: String,
    },
    FromTracker {
        e: usize,
        t: usize,
        gen: u32,
        text: String,
    },
    LocalOffer {
        e: usize,
        h: ConnHandle,
    },
    LocalAnswer {
        e: usize,
        h: ConnHandle,
    },
    Connected {
        e: usize,
        h: ConnHandle,
    },
    ChannelClosed {
        e: usize,
        h: ConnHandle,
    },
    Frame {
        e: usize,
        h: ConnHandle,
        bytes: Vec<u8>,
    },
    Chat(usize),
    /// A peer sets the room's vanishing-message timer (an index into the choices, or off).
    SetTimer(usize, usize),
    OfferFile(usize),
    Replay {
        t: usize,
        e: usize,
        text: String,
    },
}

struct Queued {
    at: u64,
    seq: u64,
    action: Action,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, insertion order).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One simulated peer connection, the shell's object behind a handle.
#[derive(Default)]
struct Pc {
    /// The other end, once offer and answer met.
    remote: Option<(usize, ConnHandle)>,
    /// This side applied the remote answer (offerer) or made its answer (answerer).
    ready: bool,
    open: bool,
    /// When this link delivers its next frame (frames keep their order).
    next_delivery: u64,
}

struct Peer {
    room: Option<Room>,
    id: Option<PeerId>,
    pcs: BTreeMap<ConnHandle, Pc>,
    /// Tracker socket generation per tracker (0: none open).
    gens: Vec<u32>,
    /// Peers listed in this engine's UI (PeerUp minus PeerDown).
    listed: BTreeSet<PeerId>,
    /// Chat seen: sender id → sequence numbers, in arrival order.
    chat_seen: BTreeMap<PeerId, Vec<u64>>,
    sent: u64,
    /// Files this peer offers.
    offered: usize,
    joined: bool,
    gone: bool,
}

struct Tracker {
    malice: Option<Malice>,
    /// peer id → (engine, socket generation)
    swarm: BTreeMap<String, (usize, u32)>,
    /// Offers relayed, for replays.
    seen_offers: Vec<String>,
}

pub struct World {
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Queued>,
    peers: Vec<Peer>,
    trackers: Vec<Tracker>,
    master: [u8; 32],
    /// (sender engine, seq) of messages every present peer must get, with the receivers.
    /// Sender, sequence number, who must get it, and whether it was a direct message.
    must_deliver: Vec<(usize, u64, Vec<usize>, bool)>,
    /// Self-destructing lines: (engine showing it, sender, message id) → when it must vanish.
    vanish_due: BTreeMap<(usize, PeerId, u64), u64>,
    vanished: BTreeSet<(usize, PeerId, u64)>,
}

/// A self-destructing line vanishes at each peer within this long of the time the sender's
/// own copy does (its delivery: a hop, and the queue of its link).
const VANISH_SPREAD_MS: u64 = 1_000;

/// One-way delay of a loopback-ish link or tracker hop.
const HOP_MS: (u64, u64) = (1, 40);
/// Time a shell takes to make an offer or answer (ICE gathering included).
const GATHER_MS: (u64, u64) = (5, 200);
/// Time from both sides having their descriptions to the channel opening (ICE + DTLS).
const CONNECT_MS: (u64, u64) = (10, 300);

impl World {
    pub fn new(sc: Scenario) -> Self {
        let mut rng = Rng::new(sc.seed);
        let mut master = [0u8; 32];
        for b in master.iter_mut() {
            *b = rng.next() as u8;
        }
        let peers = (0..sc.peers)
            .map(|_| Peer {
                room: None,
                id: None,
                pcs: BTreeMap::new(),
                gens: vec![0; sc.trackers.len()],
                listed: BTreeSet::new(),
                chat_seen: BTreeMap::new(),
                sent: 0,
                offered: 0,
                joined: false,
                gone: false,
            })
            .collect();
        let trackers = sc
            .trackers
            .iter()
            .map(|m| Tracker {
                malice: *m,
                swarm: BTreeMap::new(),
                seen_offers: Vec::new(),
            })
            .collect();
        Self {
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            peers,
            trackers,
            master,
            must_deliver: Vec::new(),
            vanish_due: BTreeMap::new(),
            vanished: BTreeSet::new(),
        }
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    fn at(&mut self, delay: u64, action: Action) {
        self.seq += 1;
        self.queue.push(Queued {
            at: self.now + delay,
            seq: self.seq,
            action,
        });
    }

    fn hop(&mut self) -> u64 {
        self.rng.range(HOP_MS.0, HOP_MS.1)
    }

    /// Every peer joins at a random time within `spread_ms`.
    pub fn join_all(&mut self, spread_ms: u64) {
        for e in 0..self.peers.len() {
            let d = self.rng.below(spread_ms);
            self.at(d, Action::Join(e));
        }
    }

    // ---- running ----

    /// Runs until `done` holds (checked after every step) or `limit_ms` of simulated time.
    pub fn run_until(
        &mut self,
        limit_ms: u64,
        done: impl Fn(&World) -> bool,
    ) -> Result<bool, String> {
        let end = self.now + limit_ms;
        loop {
            if done(self) {
                return Ok(true);
            }
            if !self.step(end)? {
                return Ok(done(self));
            }
        }
    }

    pub fn run_for(&mut self, ms: u64) -> Result<(), String> {
        self.run_until(ms, |_| false).map(|_| ())
    }

    /// One event or timeout, if any is due before `end`; false once `end` is reached.
    fn step(&mut self, end: u64) -> Result<bool, String> {
        let next_event = self.queue.peek().map(|q| q.at);
        let next_timer = self
            .peers
            .iter()
            .filter_map(|p| p.room.as_ref().and_then(Room::poll_timeout))
            .min();
        let next = match (next_event, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(end),
        };
        if next >= end {
            self.now = end.max(self.now);
            return Ok(false);
        }
        // The engines' clocks never go back.
        self.now = next.max(self.now);
        if next_timer.is_some_and(|t| t <= self.now) {
            for e in 0..self.peers.len() {
                let due = self.peers[e]
                    .room
                    .as_ref()
                    .and_then(Room::poll_timeout)
                    .is_some_and(|t| t <= self.now);
                if due {
                    let now = self.now;
                    if let Some(r) = self.peers[e].room.as_mut() {
                        r.handle_timeout(now);
                    }
                    self.drain(e)?;
                }
            }
            return Ok(true);
        }
        let Some(q) = self.queue.pop() else {
            return Ok(false);
        };
        self.apply(q.action)?;
        Ok(true)
    }

    fn apply(&mut self, a: Action) -> Result<(), String> {
        let now = self.now;
        match a {
            Action::Join(e) => {
                let mut seed = [0u8; 32];
                for b in seed.iter_mut() {
                    *b = self.rng.next() as u8;
                }
                let mut room = Room::new(self.trackers.len(), &format!("peer {e}"), seed, now);
                room.set_keys(RoomKeys::from_master(&self.master), now);
                self.peers[e].id = Some(room.me().clone());
                self.peers[e].room = Some(room);
                self.peers[e].joined = true;
                self.drain(e)?;
            }
            Action::TrackerUp { e, t, gen } => {
                if self.peers[e].gens[t] == gen && self.live(e) {
                    self.with_room(e, |r, now| r.handle_tracker_open(t, now))?;
                }
            }
            Action::ToTracker { e, t, gen, text } => self.tracker_receive(t, e, gen, &text),
            Action::FromTracker { e, t, gen, text } => {
                if self.peers[e].gens[t] == gen && self.live(e) {
                    self.with_room(e, |r, now| r.handle_tracker_text(t, &text, now))?;
                }
            }
            Action::Replay { t, e, text } => {
                let gen = self.peers[e].gens[t];
                if gen != 0 {
                    let d = self.hop();
                    self.at(d, Action::FromTracker { e, t, gen, text });
                }
            }
            Action::LocalOffer { e, h } => {
                if self.peers[e].pcs.contains_key(&h) {
                    let sdp = format!("pc {e} {}", h.0);
                    self.with_room(e, |r, now| r.handle_local_offer(h, Ok(sdp), now))?;
                }
            }
            Action::LocalAnswer { e, h } => {
                if let Some(pc) = self.peers[e].pcs.get_mut(&h) {
                    pc.ready = true;
                    let sdp = format!("pc {e} {}", h.0);
                    self.with_room(e, |r, now| r.handle_local_answer(h, Ok(sdp), now))?;
                    self.maybe_connect(e, h);
                }
            }
            Action::Connected { e, h } => {
                // A connection whose other end was closed before ICE and DTLS finished never
                // opens (the engine's connect timeout cleans it up).
                let remote = self.peers[e].pcs.get(&h).and_then(|p| p.remote);
                let there = remote.and_then(|(re, rh)| self.peers[re].pcs.get(&rh));
                let paired = there.is_some_and(|p| {
                    p.remote == Some((e, h)) && self.live(remote.map_or(e, |r| r.0))
                });
                let ok = paired && self.peers[e].pcs.get(&h).is_some_and(|p| !p.open);
                if ok && self.live(e) {
                    if let Some(pc) = self.peers[e].pcs.get_mut(&h) {
                        pc.open = true;
                    }
                    self.with_room(e, |r, now| r.handle_channel_open(h, now))?;
                }
            }
            Action::ChannelClosed { e, h } => {
                if self.peers[e].pcs.remove(&h).is_some() && self.live(e) {
                    self.with_room(e, |r, _| r.handle_channel_closed(h))?;
                }
            }
            Action::Frame { e, h, bytes } => {
                let open = self.peers[e].pcs.get(&h).is_some_and(|p| p.open);
                if open && self.live(e) {
                    self.with_room(e, |r, now| r.handle_frame(h, &bytes, now))?;
                }
            }
            Action::OfferFile(e) => {
                if self.live(e) {
                    self.peers[e].offered += 1;
                    let name = format!("notes-{e}.txt");
                    self.with_room(e, |r, now| {
                        r.offer_file(&name, 1_000, "text/plain", false, now)
                            .map(|_| ())
                            .map_err(|err| err.to_string())
                    })??;
                }
            }
            Action::SetTimer(e, choice) => {
                if self.live(e) {
                    let ttl = hush_core::room::TIMER_CHOICES_MS.get(choice).copied();
                    self.with_room(e, |r, _| r.set_timer(ttl).map_err(|err| err.to_string()))??;
                }
            }
            Action::Chat(e) => {
                if self.live(e) {
                    let seq = self.peers[e].sent + 1;
                    let mut receivers: Vec<usize> = (0..self.peers.len())
                        .filter(|&o| o != e && self.live(o))
                        .collect();
                    // Three messages in ten go to one listed peer alone.
                    let to = (self.rng.below(10) < 3)
                        .then(|| {
                            let listed = &self.peers[e].listed;
                            receivers.retain(|&o| {
                                self.peers[o]
                                    .id
                                    .as_ref()
                                    .is_some_and(|id| listed.contains(id))
                            });
                            let pick = self.rng.below(receivers.len().max(1) as u64) as usize;
                            let o = *receivers.get(pick)?;
                            receivers = vec![o];
                            self.peers[o].id.clone()
                        })
                        .flatten();
                    let sent = self.with_room(e, |r, now| match &to {
                        Some(to) => r.send_direct(to, &format!("d{e}-{seq}"), now),
                        None => r.send_chat(&format!("c{e}-{seq}"), now),
                    })?;
                    match sent {
                        Ok(()) => {
                            self.peers[e].sent = seq;
                            self.must_deliver.push((e, seq, receivers, to.is_some()));
                        }
                        // A burst from one peer beyond the rate limit is refused up front,
                        // as the composer would be.
                        Err(hush_core::room::ChatError::TooFast) => {}
                        Err(err) => return Err(err.to_string()),
                    }
                }
            }
        }
        Ok(())
    }

    fn live(&self, e: usize) -> bool {
        self.peers[e].room.is_some() && !self.peers[e].gone
    }

    fn with_room<T>(&mut self, e: usize, f: impl FnOnce(&mut Room, u64) -> T) -> Result<T, String> {
        let now = self.now;
        let room = self.peers[e]
            .room
            .as_mut()
            .ok_or_else(|| format!("peer {e} has no room"))?;
        let out = f(room, now);
        self.drain(e)?;
        Ok(out)
    }

    /// Carries out everything engine `e` asked for: the model shell.
    fn drain(&mut self, e: usize) -> Result<(), String> {
        loop {
            let Some(o) = self.peers[e].room.as_mut().and_then(Room::poll_output) else {
                return Ok(());
            };
            self.execute(e, o)?;
        }
    }

    fn execute(&mut self, e: usize, o: Output) -> Result<(), String> {
        if std::env::var_os("SIM_TRACE").is_some() {
            let shown = format!("{o:?}");
            eprintln!(
                "{:>6} ms  peer {e}: {}",
                self.now,
                &shown[..shown.len().min(160)]
            );
        }
        match o {
            Output::ConnectTracker(t) => {
                let gen = self.peers[e].gens[t] + 1;
                self.peers[e].gens[t] = gen;
                let d = self.hop();
                self.at(d, Action::TrackerUp { e, t, gen });
            }
            Output::CloseTracker(t) => {
                self.peers[e].gens[t] = 0;
                if let Some(id) = &self.peers[e].id {
                    self.trackers[t].swarm.remove(id.as_str());
                }
            }
            Output::TrackerSend { tracker, text } => {
                let gen = self.peers[e].gens[tracker];
                let d = self.hop();
                self.at(
                    d,
                    Action::ToTracker {
                        e,
                        t: tracker,
                        gen,
                        text,
                    },
                );
            }
            Output::CreateOffer(h) => {
                self.peers[e].pcs.insert(h, Pc::default());
                let d = self.rng.range(GATHER_MS.0, GATHER_MS.1);
                self.at(d, Action::LocalOffer { e, h });
            }
            Output::CreateAnswer { conn, offer_sdp } => {
                let remote = parse_sdp(&offer_sdp)?;
                self.peers[e].pcs.insert(
                    conn,
                    Pc {
                        remote: Some(remote),
                        ..Pc::default()
                    },
                );
                let d = self.rng.range(GATHER_MS.0, GATHER_MS.1);
                self.at(d, Action::LocalAnswer { e, h: conn });
            }
            Output::ApplyAnswer { conn, answer_sdp } => {
                let remote = parse_sdp(&answer_sdp)?;
                if let Some(pc) = self.peers[e].pcs.get_mut(&conn) {
                    pc.remote = Some(remote);
                    pc.ready = true;
                }
                self.maybe_connect(e, conn);
            }
            Output::Send { conn, frame } => {
                let Some(pc) = self.peers[e].pcs.get(&conn) else {
                    return Ok(());
                };
                let (Some((re, rh)), true) = (pc.remote, pc.open) else {
                    return Ok(());
                };
                let d = self.hop();
                let pc = self.peers[e].pcs.get_mut(&conn).expect("just read");
                let at = (self.now + d).max(pc.next_delivery);
                pc.next_delivery = at;
                let delay = at - self.now;
                self.at(
                    delay,
                    Action::Frame {
                        e: re,
                        h: rh,
                        bytes: frame,
                    },
                );
            }
            Output::Close(h) => {
                if let Some(pc) = self.peers[e].pcs.remove(&h) {
                    if let (Some((re, rh)), true) = (pc.remote, pc.open) {
                        let d = self.hop();
                        self.at(d, Action::ChannelClosed { e: re, h: rh });
                    }
                }
            }
            Output::PollLevels(_) | Output::File(_) => {}
            Output::Event(ev) => self.on_event(e, ev)?,
        }
        Ok(())
    }

    fn on_event(&mut self, e: usize, ev: Event) -> Result<(), String> {
        let me = self.peers[e].id.clone();
        match &ev {
            Event::Chat {
                from,
                id,
                expires_at_ms: Some(at),
                ..
            } => {
                if let Some(sender) = from.clone().or(me) {
                    self.vanish_due.insert((e, sender, *id), *at);
                }
            }
            Event::Vanish { from, id } => {
                let Some(sender) = from.clone().or(me) else {
                    return Ok(());
                };
                let key = (e, sender, *id);
                match self.vanish_due.get(&key) {
                    Some(due) if self.now >= *due => {}
                    Some(due) => {
                        return Err(format!(
                            "peer {e}: line {key:?} vanished at {} before {due}",
                            self.now
                        ))
                    }
                    None => return Err(format!("peer {e}: line {key:?} vanished, never timed")),
                }
                self.vanished.insert(key);
            }
            _ => {}
        }
        match ev {
            Event::PeerUp { peer, .. } if !self.peers[e].listed.insert(peer.clone()) => {
                return Err(format!("peer {e} listed {peer} twice"));
            }
            Event::PeerDown { peer, .. } => {
                self.peers[e].listed.remove(&peer);
            }
            Event::Chat {
                from: Some(from),
                text,
                ..
            } => {
                let seq: u64 = text
                    .split('-')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("unexpected chat text {text:?}"))?;
                let seen = self.peers[e].chat_seen.entry(from.clone()).or_default();
                if seen.contains(&seq) {
                    return Err(format!("peer {e} got message {text} from {from} twice"));
                }
                seen.push(seq);
            }
            _ => {}
        }
        Ok(())
    }

    /// Opens the link once both ends have their descriptions: the answerer made its answer
    /// and the offerer applied it.
    fn maybe_connect(&mut self, e: usize, h: ConnHandle) {
        let Some((re, rh)) = self.peers[e].pcs.get(&h).and_then(|p| p.remote) else {
            return;
        };
        let here_ready = self.peers[e].pcs.get(&h).is_some_and(|p| p.ready);
        let there = self.peers.get(re).and_then(|p| p.pcs.get(&rh));
        let there_ready = there.is_some_and(|p| p.ready && p.remote == Some((e, h)));
        if here_ready && there_ready {
            // Both channels open together: a browser fires `open` before any message.
            let d = self.rng.range(CONNECT_MS.0, CONNECT_MS.1);
            self.at(d, Action::Connected { e, h });
            self.at(d, Action::Connected { e: re, h: rh });
        }
    }

    // ---- trackers ----

    fn tracker_receive(&mut self, t: usize, e: usize, gen: u32, text: &str) {
        if gen == 0 || self.peers[e].gens[t] != gen {
            return; // the socket is gone
        }
        if self.trackers[t].malice.is_some_and(|m| m.silent) {
            return;
        }
        let Ok(a) = parse_announce(text) else {
            return;
        };
        if a.event.as_deref() == Some("stopped") {
            self.trackers[t].swarm.remove(&a.peer_id);
            return;
        }
        self.trackers[t].swarm.insert(a.peer_id.clone(), (e, gen));
        let malice = self.trackers[t].malice;
        if let (Some(answer), Some(to), Some(offer_id)) = (&a.answer, &a.to_peer_id, &a.offer_id) {
            if malice.is_some_and(|m| self.rng.chance(m.drop_answers)) {
                return;
            }
            if let Some(&(re, rgen)) = self.trackers[t].swarm.get(to) {
                let msg = ServerMessage {
                    action: Some("announce".into()),
                    info_hash: Some(a.info_hash.clone()),
                    peer_id: Some(a.peer_id.clone()),
                    offer_id: Some(offer_id.clone()),
                    answer: Some(answer.clone()),
                    ..ServerMessage::default()
                };
                self.tracker_send(t, re, rgen, &msg);
            }
            return;
        }
        // Reply with the swarm's size, then hand each offer to a different random member.
        let size = self.trackers[t].swarm.len() as u64;
        let reply = ServerMessage {
            action: Some("announce".into()),
            info_hash: Some(a.info_hash.clone()),
            interval: Some(30),
            complete: Some(size),
            incomplete: Some(0),
            ..ServerMessage::default()
        };
        self.tracker_send(t, e, gen, &reply);
        let mut others: Vec<(usize, u32)> = self.trackers[t]
            .swarm
            .iter()
            .filter(|(id, _)| **id != a.peer_id)
            .map(|(_, v)| *v)
            .collect();
        for i in (1..others.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            others.swap(i, j);
        }
        for (offer, (re, rgen)) in a.offers.unwrap_or_default().into_iter().zip(others) {
            let msg = ServerMessage {
                action: Some("announce".into()),
                info_hash: Some(a.info_hash.clone()),
                peer_id: Some(a.peer_id.clone()),
                offer_id: Some(offer.offer_id),
                offer: Some(offer.offer),
                ..ServerMessage::default()
            };
            if malice.is_some_and(|m| self.rng.chance(m.drop_offers)) {
                continue;
            }
            self.tracker_send(t, re, rgen, &msg);
        }
    }

    fn tracker_send(&mut self, t: usize, e: usize, gen: u32, msg: &ServerMessage) {
        let Ok(text) = serde_json::to_string(msg) else {
            return;
        };
        let mut d = self.hop();
        if let Some(m) = self.trackers[t].malice {
            d += self.rng.below(m.delay_ms + 1);
            if self.rng.chance(m.duplicate) {
                let d2 = d + self.rng.below(500);
                self.at(
                    d2,
                    Action::FromTracker {
                        e,
                        t,
                        gen,
                        text: text.clone(),
                    },
                );
            }
            if msg.offer.is_some() {
                // Replay an old offer to a random member, much later.
                if self.rng.chance(m.replay) && !self.trackers[t].seen_offers.is_empty() {
                    let i = self.rng.below(self.trackers[t].seen_offers.len() as u64) as usize;
                    let old = self.trackers[t].seen_offers[i].clone();
                    let later = self.rng.range(1_000, 60_000);
                    let target = self.rng.below(self.peers.len() as u64) as usize;
                    self.at(
                        later,
                        Action::Replay {
                            t,
                            e: target,
                            text: old,
                        },
                    );
                }
                if self.trackers[t].seen_offers.len() < 256 {
                    self.trackers[t].seen_offers.push(text.clone());
                }
            }
        }
        self.at(d, Action::FromTracker { e, t, gen, text });
    }

    // ---- scenario steps ----

    /// `count` chat messages from random live peers over `spread_ms`, and now and then a
    /// change of the room's timer (several at once, some concurrent).
    pub fn chat_burst(&mut self, spread_ms: u64, count: usize) {
        for _ in 0..count {
            let e = self.rng.below(self.peers.len() as u64) as usize;
            let d = self.rng.below(spread_ms);
            self.at(d, Action::Chat(e));
            if self.rng.below(5) == 0 {
                let choice = self.rng.below(5) as usize;
                self.at(d, Action::SetTimer(e, choice));
            }
        }
    }

    /// Every self-destructing line vanished where it was shown once its time came, and at
    /// every peer within [`VANISH_SPREAD_MS`] of its sender's own copy.
    pub fn check_vanished(&self) -> Result<(), String> {
        for (key, due) in &self.vanish_due {
            // A peer that left took its screen with it.
            if *due <= self.now && self.live(key.0) && !self.vanished.contains(key) {
                return Err(format!(
                    "peer {}: line {key:?} due at {due} never vanished",
                    key.0
                ));
            }
            let (_, sender, id) = key;
            let Some(origin) = self
                .peers
                .iter()
                .position(|p| p.id.as_ref() == Some(sender))
            else {
                continue;
            };
            if let Some(own) = self.vanish_due.get(&(origin, sender.clone(), *id)) {
                if due < own || due - own > VANISH_SPREAD_MS {
                    return Err(format!(
                        "line {key:?} vanishes at {due}, its sender's copy at {own}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every live peer has the same room timer.
    pub fn check_timer_agreed(&self) -> Result<(), String> {
        let timers: Vec<(usize, Option<u64>)> = self
            .live_ids()
            .into_iter()
            .filter_map(|(e, _)| self.peers[e].room.as_ref().map(|r| (e, r.timer())))
            .collect();
        if timers.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(format!("peers disagree on the room timer: {timers:?}"));
        }
        Ok(())
    }

    /// Each live peer offers a file with probability `percent`, within `spread_ms`.
    pub fn offer_files(&mut self, spread_ms: u64, percent: u64) {
        for e in 0..self.peers.len() {
            if self.rng.chance(percent) {
                let d = self.rng.below(spread_ms);
                self.at(d, Action::OfferFile(e));
            }
        }
    }

    /// At least two peers stay; one or two of the others leave politely or crash.
    pub fn depart_some(&mut self) -> Vec<PeerId> {
        let n = self.peers.len();
        let leaving = if n > 3 { 1 + self.rng.below(2) } else { 1 } as usize;
        let leaving = leaving.min(n.saturating_sub(2));
        let mut gone = Vec::new();
        for _ in 0..leaving {
            let live: Vec<usize> = (0..n).filter(|&e| self.live(e)).collect();
            let e = live[self.rng.below(live.len() as u64) as usize];
            let Some(id) = self.peers[e].id.clone() else {
                continue;
            };
            gone.push(id.clone());
            match self.rng.below(3) {
                0 => {
                    // "Leave room": goodbyes, then everything closes.
                    if let Some(r) = self.peers[e].room.as_mut() {
                        r.leave();
                    }
                    let _ = self.drain(e);
                }
                1 => {
                    // The tab crashed: its connections close under the peers.
                    let pcs: Vec<ConnHandle> = self.peers[e].pcs.keys().copied().collect();
                    for h in pcs {
                        let _ = self.execute(e, Output::Close(h));
                    }
                }
                _ => {
                    // The machine vanished: nothing closes, heartbeats just stop.
                }
            }
            for t in 0..self.trackers.len() {
                self.trackers[t].swarm.remove(id.as_str());
                self.peers[e].gens[t] = 0;
            }
            self.peers[e].gone = true;
            self.peers[e].room = None;
            self.peers[e].pcs.clear();
        }
        gone
    }

    // ---- checks ----

    fn live_ids(&self) -> Vec<(usize, PeerId)> {
        (0..self.peers.len())
            .filter(|&e| self.live(e))
            .filter_map(|e| self.peers[e].id.clone().map(|id| (e, id)))
            .collect()
    }

    /// Every pair of live peers has exactly one open connection, the same on both sides, and
    /// each lists the other.
    pub fn all_met(&self) -> bool {
        self.pair_problem().is_none()
    }

    pub fn check_all_met(&self) -> Result<(), String> {
        match self.pair_problem() {
            None => Ok(()),
            Some(p) => Err(p),
        }
    }

    fn pair_problem(&self) -> Option<String> {
        let live = self.live_ids();
        if live.len() < self.peers.iter().filter(|p| !p.gone).count() {
            return Some("not everyone joined yet".into());
        }
        for (a, ida) in &live {
            let room = self.peers[*a].room.as_ref()?;
            for (b, idb) in &live {
                if a == b {
                    continue;
                }
                let open: Vec<ConnHandle> = room
                    .open_peers()
                    .filter(|(_, p)| *p == idb)
                    .map(|(h, _)| h)
                    .collect();
                if open.len() != 1 {
                    return Some(format!("{a} has {} open connections to {b}", open.len()));
                }
                let pc = self.peers[*a].pcs.get(&open[0])?;
                let (re, rh) = pc.remote?;
                let back = self.peers[*b].room.as_ref()?.open_conn(ida);
                if re != *b || back != Some(rh) {
                    return Some(format!("{a} and {b} keep different connections"));
                }
                if !self.peers[*a].listed.contains(idb) {
                    return Some(format!("{a} does not list {b} yet"));
                }
            }
        }
        None
    }

    pub fn describe_pairs(&self) -> String {
        self.pair_problem().unwrap_or_else(|| "all met".into())
    }

    pub fn check_chat_delivered(&self) -> Result<(), String> {
        for (from, seq, receivers, direct) in &self.must_deliver {
            let Some(id) = &self.peers[*from].id else {
                continue;
            };
            if *direct {
                let seen_by = |r: usize| {
                    self.peers[r]
                        .chat_seen
                        .get(id)
                        .is_some_and(|v| v.contains(seq))
                };
                if let Some(r) =
                    (0..self.peers.len()).find(|&r| !receivers.contains(&r) && seen_by(r))
                {
                    return Err(format!("peer {r} saw peer {from}'s direct message {seq}"));
                }
            }
            for r in receivers {
                if !self.live(*r) {
                    continue;
                }
                let got = self.peers[*r]
                    .chat_seen
                    .get(id)
                    .is_some_and(|v| v.contains(seq));
                if !got {
                    return Err(format!("peer {r} never got message {seq} from peer {from}"));
                }
            }
        }
        Ok(())
    }

    /// No peer saw a sender's messages out of order.
    pub fn check_chat_order(&self) -> Result<(), String> {
        for (r, p) in self.peers.iter().enumerate() {
            for (from, seqs) in &p.chat_seen {
                if seqs.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("peer {r} saw {from}'s messages as {seqs:?}"));
                }
            }
        }
        Ok(())
    }

    pub fn check_gone(&self, gone: &[PeerId]) -> Result<(), String> {
        for (e, _) in self.live_ids() {
            let room = self.peers[e].room.as_ref().ok_or("no room")?;
            for g in gone {
                if room.open_conn(g).is_some() || self.peers[e].listed.contains(g) {
                    return Err(format!("peer {e} still has departed {g}"));
                }
            }
        }
        Ok(())
    }

    /// Once the room has settled after departures, every engine holds what its live peers
    /// need and no more: one connection per peer, offers it prepared but never used, and (with
    /// a hostile tracker replaying offers) a bounded number of pending answers; the model
    /// shell holds no connection the engine forgot.
    pub fn check_no_growth(&self, hostile: bool) -> Result<(), String> {
        let others = self.live_ids().len() - 1;
        // Offers prepared ahead, and one round of offers an announce made from a swarm size
        // reported before the departures (they expire unanswered).
        let prepared = (INITIAL_OFFERS + MAX_OFFERS) * self.trackers.len();
        let pending = if hostile { MAX_PENDING_ANSWERS } else { 0 };
        for (e, _) in self.live_ids() {
            let r = self.peers[e].room.as_ref().ok_or("no room")?;
            let open = r.open_peers().count();
            if open != others {
                return Err(format!(
                    "peer {e} has {open} open connections, {others} peers are here"
                ));
            }
            if r.known_peers() > others + pending {
                return Err(format!(
                    "peer {e} knows {} peers, {others} are here",
                    r.known_peers()
                ));
            }
            if r.conn_count() > others + prepared + pending {
                return Err(format!(
                    "peer {e} holds {} connections for {others} peers",
                    r.conn_count()
                ));
            }
            if self.peers[e].pcs.len() != r.conn_count() {
                return Err(format!(
                    "peer {e}'s shell holds {} connections, the engine {}",
                    self.peers[e].pcs.len(),
                    r.conn_count()
                ));
            }
            // Its own offers, and the offers of the peers still here: nothing of those who left.
            let expected = self.peers[e].offered
                + self
                    .live_ids()
                    .iter()
                    .filter(|(o, _)| *o != e)
                    .map(|(o, _)| self.peers[*o].offered)
                    .sum::<usize>();
            if r.file_entries() != expected {
                return Err(format!(
                    "peer {e} holds {} file entries, {expected} offers are live",
                    r.file_entries()
                ));
            }
        }
        Ok(())
    }
}

fn parse_sdp(sdp: &str) -> Result<(usize, ConnHandle), String> {
    let mut it = sdp.split(' ');
    match (it.next(), it.next(), it.next()) {
        (Some("pc"), Some(e), Some(h)) => Ok((
            e.parse().map_err(|_| "bad sdp")?,
            ConnHandle(h.parse().map_err(|_| "bad sdp")?),
        )),
        _ => Err(format!("unexpected sdp {sdp:?}")),
    }
}
