//! The mesh state machine: which connection to keep with each peer.
//!
//! Trackers forward offers to random swarm members, so offers are not addressed: the offerer
//! learns who took an offer only when the answer comes back. Two peers can therefore end up
//! negotiating twice at once (each took the other's offer: "glare"). The rule that resolves it,
//! applied by both sides to the same facts and so reaching the same result:
//!
//! > Between two pending connections with the same peer, keep the one whose **offerer has the
//! > smaller peer id**.
//!
//! A connection that is already open is never replaced by a new negotiation; a new offer from
//! a connected peer (its periodic re-announce) is ignored. Pending connections that do not open
//! within [`CONNECT_TIMEOUT_MS`] are dropped, so a lost answer never blocks a pair for good.
//! A connected peer silent for [`PEER_SILENCE_MS`] is dropped (heartbeats make silence mean
//! the peer is gone).
//!
//! This module decides; the driver acts (creates, answers and closes `RTCPeerConnection`s).

use crate::ids::PeerId;
use crate::vecmap::VecMap;

/// A pending connection that has not opened its control channel by then is abandoned. Loopback
/// connects in tens of milliseconds; a relayed connection across continents in a few seconds.
pub const CONNECT_TIMEOUT_MS: u64 = 15_000;
/// An offer nobody answered is discarded after this long. Trackers forward offers at once and
/// an answer needs one round trip plus ICE gathering (capped at 1.5 s); an offer still
/// unanswered after 10 s went to a member that ignored it (already connected to us).
pub const OFFER_TTL_MS: u64 = 10_000;
/// Heartbeat period on the control channel.
pub const PING_INTERVAL_MS: u64 = 1_000;
/// A connected peer with no frame for this long is gone: four missed heartbeats, which keeps a
/// closed tab's disappearance under five seconds even when its goodbye never arrived.
pub const PEER_SILENCE_MS: u64 = 4_000;

/// One negotiation with one peer, named by who offered and the offer's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub peer: PeerId,
    pub offer_id: String,
    /// True when we made the offer.
    pub we_offered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Connecting { since_ms: u64 },
    Open { last_heard_ms: u64 },
}

#[derive(Debug, Clone)]
struct Entry {
    conn: ConnId,
    phase: Phase,
    last_chat_id: Option<u64>,
}

/// What to do with an incoming offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferDecision {
    /// Answer it; first close `replaces` if set (a pending connection that lost the glare).
    Answer { replaces: Option<ConnId> },
    /// Drop it: connected already, a duplicate, or the pending connection wins.
    Ignore,
}

/// What to do with an incoming answer to one of our offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerDecision {
    /// Apply it; first close `replaces` if set.
    Accept { replaces: Option<ConnId> },
    /// Drop it and close our offer's connection (`ours`): unknown offer, already connected, or
    /// the other pending connection wins.
    Reject,
}

/// Housekeeping the driver must carry out, produced by [`Mesh::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timeout {
    /// Close this connection (never opened, or peer silent); `was_open` says whether the peer
    /// had been shown as connected.
    Close { conn: ConnId, was_open: bool },
    /// Our unanswered offer expired: close its connection.
    OfferExpired { offer_id: String },
}

/// The whole room's connection bookkeeping for one local peer.
#[derive(Debug, Clone)]
pub struct Mesh {
    me: PeerId,
    peers: VecMap<PeerId, Entry>,
    /// Our offers sent to a tracker and not answered yet: offer id → creation time.
    offers: VecMap<String, u64>,
}

impl Mesh {
    pub fn new(me: PeerId) -> Self {
        Self {
            me,
            peers: VecMap::default(),
            offers: VecMap::default(),
        }
    }

    /// Records an offer we are about to announce.
    pub fn offer_created(&mut self, offer_id: &str, now_ms: u64) {
        self.offers.insert(offer_id.to_owned(), now_ms);
    }

    /// Forgets an offer (the driver closed it for its own reasons, e.g. the tracker went away).
    pub fn offer_dropped(&mut self, offer_id: &str) {
        self.offers.remove(offer_id);
    }

    /// The glare rule: of two negotiations with `peer`, the one we offered wins iff our id is
    /// the smaller.
    fn ours_wins(&self, peer: &PeerId) -> bool {
        self.me < *peer
    }

    /// An offer from `from` arrived through a tracker.
    pub fn on_offer(&mut self, from: &PeerId, offer_id: &str, now_ms: u64) -> OfferDecision {
        if *from == self.me {
            return OfferDecision::Ignore;
        }
        let new_conn = ConnId {
            peer: from.clone(),
            offer_id: offer_id.to_owned(),
            we_offered: false,
        };
        let replaces = match self.peers.get(from) {
            None => None,
            Some(e) => match (&e.phase, e.conn.we_offered) {
                (Phase::Open { .. }, _) => return OfferDecision::Ignore,
                // Already answering an offer of theirs (a duplicate via a second tracker, or a
                // re-announce): finish that one.
                (Phase::Connecting { .. }, false) => return OfferDecision::Ignore,
                // They took our offer and we theirs: the smaller id's offer wins.
                (Phase::Connecting { .. }, true) => {
                    if self.ours_wins(from) {
                        return OfferDecision::Ignore;
                    }
                    Some(e.conn.clone())
                }
            },
        };
        self.peers.insert(
            from.clone(),
            Entry {
                conn: new_conn,
                phase: Phase::Connecting { since_ms: now_ms },
                last_chat_id: None,
            },
        );
        OfferDecision::Answer { replaces }
    }

    /// An answer from `from` to our offer `offer_id` arrived.
    pub fn on_answer(&mut self, from: &PeerId, offer_id: &str, now_ms: u64) -> AnswerDecision {
        // Each offer can be answered once; a second answer (another peer, or a replay) is void.
        if self.offers.remove(offer_id).is_none() || *from == self.me {
            return AnswerDecision::Reject;
        }
        let replaces = match self.peers.get(from) {
            None => None,
            Some(e) => match (&e.phase, e.conn.we_offered) {
                (Phase::Open { .. }, _) => return AnswerDecision::Reject,
                // Two of our offers reached the same peer (two trackers): keep the first.
                (Phase::Connecting { .. }, true) => return AnswerDecision::Reject,
                (Phase::Connecting { .. }, false) => {
                    if !self.ours_wins(from) {
                        return AnswerDecision::Reject;
                    }
                    Some(e.conn.clone())
                }
            },
        };
        self.peers.insert(
            from.clone(),
            Entry {
                conn: ConnId {
                    peer: from.clone(),
                    offer_id: offer_id.to_owned(),
                    we_offered: true,
                },
                phase: Phase::Connecting { since_ms: now_ms },
                last_chat_id: None,
            },
        );
        AnswerDecision::Accept { replaces }
    }

    /// The control channel of `conn` opened. Returns false when `conn` is not the connection
    /// we keep for that peer (the driver closes it).
    pub fn on_open(&mut self, conn: &ConnId, now_ms: u64) -> bool {
        match self.peers.get_mut(&conn.peer) {
            Some(e) if e.conn == *conn => {
                e.phase = Phase::Open {
                    last_heard_ms: now_ms,
                };
                true
            }
            _ => false,
        }
    }

    /// A frame arrived from `peer` (keeps it alive).
    pub fn on_heard(&mut self, peer: &PeerId, now_ms: u64) {
        if let Some(Entry {
            phase: Phase::Open { last_heard_ms },
            ..
        }) = self.peers.get_mut(peer)
        {
            // Evidence may be reported late (a file channel's last frame): never go backwards.
            *last_heard_ms = (*last_heard_ms).max(now_ms);
        }
    }

    /// Accepts chat message `id` from `peer` once: false for a duplicate or a replay of an
    /// older id (ids grow by one per message within a sender's session).
    pub fn accept_chat(&mut self, peer: &PeerId, id: u64) -> bool {
        match self.peers.get_mut(peer) {
            Some(e) if matches!(e.phase, Phase::Open { .. }) => {
                if e.last_chat_id.is_some_and(|last| id <= last) {
                    return false;
                }
                e.last_chat_id = Some(id);
                true
            }
            _ => false,
        }
    }

    /// `conn` closed (channel closed, ICE failed, peer said goodbye). Returns true when this
    /// was the kept connection of an open peer, i.e. the peer left the room.
    pub fn on_closed(&mut self, conn: &ConnId) -> bool {
        match self.peers.get(&conn.peer) {
            Some(e) if e.conn == *conn => {
                let was_open = matches!(e.phase, Phase::Open { .. });
                self.peers.remove(&conn.peer);
                was_open
            }
            _ => false,
        }
    }

    /// Expires stale offers, connections that never opened and silent peers.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Timeout> {
        let mut out = Vec::new();
        self.offers.retain(|id, created| {
            let keep = now_ms.saturating_sub(*created) < OFFER_TTL_MS;
            if !keep {
                out.push(Timeout::OfferExpired {
                    offer_id: id.clone(),
                });
            }
            keep
        });
        self.peers.retain(|_, e| {
            let (expired, was_open) = match e.phase {
                Phase::Connecting { since_ms } => {
                    (now_ms.saturating_sub(since_ms) >= CONNECT_TIMEOUT_MS, false)
                }
                Phase::Open { last_heard_ms } => (
                    now_ms.saturating_sub(last_heard_ms) >= PEER_SILENCE_MS,
                    true,
                ),
            };
            if expired {
                out.push(Timeout::Close {
                    conn: e.conn.clone(),
                    was_open,
                });
            }
            !expired
        });
        out
    }

    /// The connection kept for `peer`, open or pending.
    pub fn conn_of(&self, peer: &PeerId) -> Option<&ConnId> {
        self.peers.get(peer).map(|e| &e.conn)
    }

    /// How many fresh offers the next announce should carry, given the swarm size a tracker
    /// reported (which counts us): one per member we are not connected or connecting to,
    /// capped at `max`. Zero means a keep-alive announce without offers.
    pub fn offers_wanted(&self, swarm_size: u64, max: usize) -> usize {
        let others = swarm_size.saturating_sub(1) as usize;
        others.saturating_sub(self.peers.len()).min(max)
    }

    /// When [`Mesh::tick`] next has something to expire.
    pub fn next_timeout(&self) -> Option<u64> {
        let offers = self
            .offers
            .values()
            .map(|created| created.saturating_add(OFFER_TTL_MS));
        let peers = self.peers.values().map(|e| match e.phase {
            Phase::Connecting { since_ms } => since_ms.saturating_add(CONNECT_TIMEOUT_MS),
            Phase::Open { last_heard_ms } => last_heard_ms.saturating_add(PEER_SILENCE_MS),
        });
        offers.chain(peers).min()
    }

    /// Since when we have been connecting to `peer` by answering its offer, if we are.
    pub fn connecting_since(&self, peer: &PeerId) -> Option<u64> {
        match self.peers.get(peer) {
            Some(Entry {
                phase: Phase::Connecting { since_ms },
                conn,
                ..
            }) if !conn.we_offered => Some(*since_ms),
            _ => None,
        }
    }

    /// Peers with a connection, open or pending (the engine checks it shrinks when they go).
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(c: char) -> PeerId {
        PeerId::try_from(c.to_string().repeat(20)).unwrap()
    }

    /// Plays one side of a pair: returns the connection each side keeps.
    #[test]
    fn first_contact_offer_answer_open() {
        let (a, b) = (pid('a'), pid('b'));
        let mut ma = Mesh::new(a.clone());
        let mut mb = Mesh::new(b.clone());
        ma.offer_created("oa", 0);
        assert_eq!(
            mb.on_offer(&a, "oa", 10),
            OfferDecision::Answer { replaces: None }
        );
        assert_eq!(
            ma.on_answer(&b, "oa", 20),
            AnswerDecision::Accept { replaces: None }
        );
        let ca = ma.conn_of(&b).unwrap().clone();
        let cb = mb.conn_of(&a).unwrap().clone();
        assert_eq!(ca.offer_id, cb.offer_id);
        assert!(ca.we_offered && !cb.we_offered);
        assert!(ma.on_open(&ca, 30) && mb.on_open(&cb, 30));
        assert_eq!(ma.len(), 1);
        assert!(ma.accept_chat(&b, 1), "open: chat is accepted");
        // A re-announced offer from a connected peer is ignored.
        assert_eq!(mb.on_offer(&a, "oa2", 40), OfferDecision::Ignore);
    }

    /// Invariant: in every interleaving of a glare, both sides keep the same connection, the
    /// one offered by the smaller peer id.
    #[test]
    fn glare_resolves_to_the_smaller_ids_offer_in_every_order() {
        let (a, b) = (pid('a'), pid('b')); // a < b
                                           // Events: A's offer reaches B (b_gets_offer), B's offer reaches A (a_gets_offer),
                                           // B's answer to "oa" reaches A (a_gets_answer), A's answer to "ob" reaches B.
        let events = [
            "a_gets_offer",
            "b_gets_offer",
            "a_gets_answer",
            "b_gets_answer",
        ];
        let mut orders = Vec::new();
        permute(&mut events.to_vec(), 0, &mut orders);
        // An answer can only arrive after its offer did.
        let possible = |o: &Vec<&str>| {
            let at = |e: &str| o.iter().position(|x| *x == e);
            at("b_gets_offer") < at("a_gets_answer") && at("a_gets_offer") < at("b_gets_answer")
        };
        for order in orders.into_iter().filter(possible) {
            let mut ma = Mesh::new(a.clone());
            let mut mb = Mesh::new(b.clone());
            ma.offer_created("oa", 0);
            mb.offer_created("ob", 0);
            let mut b_answered_oa = false;
            let mut a_answered_ob = false;
            for ev in &order {
                match *ev {
                    "a_gets_offer" => {
                        a_answered_ob =
                            matches!(ma.on_offer(&b, "ob", 1), OfferDecision::Answer { .. });
                    }
                    "b_gets_offer" => {
                        b_answered_oa =
                            matches!(mb.on_offer(&a, "oa", 1), OfferDecision::Answer { .. });
                    }
                    "a_gets_answer" if b_answered_oa => {
                        ma.on_answer(&b, "oa", 2);
                    }
                    "b_gets_answer" if a_answered_ob => {
                        mb.on_answer(&a, "ob", 2);
                    }
                    _ => {}
                }
            }
            let ka = ma.conn_of(&b).map(|c| c.offer_id.clone());
            let kb = mb.conn_of(&a).map(|c| c.offer_id.clone());
            assert_eq!(ka, kb, "order {order:?}");
            assert_eq!(ka.as_deref(), Some("oa"), "order {order:?}");
        }
    }

    fn permute<'a>(v: &mut Vec<&'a str>, k: usize, out: &mut Vec<Vec<&'a str>>) {
        if k == v.len() {
            out.push(v.clone());
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, out);
            v.swap(k, i);
        }
    }

    #[test]
    fn glare_replacement_names_the_losing_connection() {
        let (a, b) = (pid('a'), pid('b'));
        // B has accepted A's answer to "ob" (B offered), then A's offer "oa" arrives: A is
        // smaller, so A's offer wins and B's own pending connection is replaced.
        let mut mb = Mesh::new(b.clone());
        mb.offer_created("ob", 0);
        assert!(matches!(
            mb.on_answer(&a, "ob", 1),
            AnswerDecision::Accept { .. }
        ));
        let lost = mb.conn_of(&a).unwrap().clone();
        assert_eq!(
            mb.on_offer(&a, "oa", 2),
            OfferDecision::Answer {
                replaces: Some(lost)
            }
        );
    }

    #[test]
    fn answers_are_single_use_and_self_offers_ignored() {
        let (a, b, c) = (pid('a'), pid('b'), pid('c'));
        let mut ma = Mesh::new(a.clone());
        ma.offer_created("o1", 0);
        assert!(matches!(
            ma.on_answer(&b, "o1", 1),
            AnswerDecision::Accept { .. }
        ));
        assert_eq!(ma.on_answer(&c, "o1", 1), AnswerDecision::Reject);
        assert_eq!(ma.on_answer(&c, "never-made", 1), AnswerDecision::Reject);
        assert_eq!(ma.on_offer(&a, "x", 1), OfferDecision::Ignore);
        // Duplicate of the same offer via a second tracker.
        assert!(matches!(
            ma.on_offer(&c, "oc", 1),
            OfferDecision::Answer { .. }
        ));
        assert_eq!(ma.on_offer(&c, "oc", 1), OfferDecision::Ignore);
    }

    #[test]
    fn timeouts_expire_offers_pending_connections_and_silent_peers() {
        let (a, b, c) = (pid('a'), pid('b'), pid('c'));
        let mut m = Mesh::new(a.clone());
        m.offer_created("o1", 0);
        m.on_offer(&b, "ob", 0);
        m.on_offer(&c, "oc", 0);
        let cc = m.conn_of(&c).unwrap().clone();
        assert!(m.on_open(&cc, 100));
        assert!(m.tick(1_000).is_empty());
        // c goes silent; the offer expires; b never opens.
        let t = m.tick(100 + PEER_SILENCE_MS);
        assert_eq!(
            t,
            vec![Timeout::Close {
                conn: cc.clone(),
                was_open: true
            }]
        );
        let t = m.tick(OFFER_TTL_MS);
        assert_eq!(
            t,
            vec![Timeout::OfferExpired {
                offer_id: "o1".into()
            }]
        );
        let t = m.tick(CONNECT_TIMEOUT_MS);
        assert!(matches!(
            &t[0],
            Timeout::Close {
                was_open: false,
                ..
            }
        ));
        // After expiry, b can connect afresh.
        assert!(matches!(
            m.on_offer(&b, "ob2", CONNECT_TIMEOUT_MS),
            OfferDecision::Answer { .. }
        ));
    }

    #[test]
    fn heartbeats_keep_a_peer_and_close_reports_departure() {
        let (a, b) = (pid('a'), pid('b'));
        let mut m = Mesh::new(a.clone());
        m.on_offer(&b, "ob", 0);
        let cb = m.conn_of(&b).unwrap().clone();
        m.on_open(&cb, 0);
        for t in (0..10_000).step_by(1_000) {
            m.on_heard(&b, t);
            assert!(m.tick(t).is_empty());
        }
        // A stale connection closing does not remove the peer; the kept one does.
        let stale = ConnId {
            offer_id: "old".into(),
            ..cb.clone()
        };
        assert!(!m.on_closed(&stale));
        assert!(m.on_closed(&cb));
        assert!(m.is_empty());
    }

    #[test]
    fn chat_ids_are_accepted_once_in_order() {
        let (a, b) = (pid('a'), pid('b'));
        let mut m = Mesh::new(a.clone());
        m.on_offer(&b, "ob", 0);
        let cb = m.conn_of(&b).unwrap().clone();
        assert!(!m.accept_chat(&b, 0), "not before the channel opens");
        m.on_open(&cb, 0);
        assert!(m.accept_chat(&b, 0));
        assert!(m.accept_chat(&b, 1));
        assert!(!m.accept_chat(&b, 1));
        assert!(!m.accept_chat(&b, 0));
    }

    #[test]
    fn offers_wanted_follows_the_swarm_size() {
        let (a, b) = (pid('a'), pid('b'));
        let mut m = Mesh::new(a.clone());
        assert_eq!(m.offers_wanted(1, 5), 0);
        assert_eq!(m.offers_wanted(4, 5), 3);
        assert_eq!(m.offers_wanted(40, 5), 5);
        m.on_offer(&b, "ob", 0);
        assert_eq!(m.offers_wanted(2, 5), 0);
    }
}
