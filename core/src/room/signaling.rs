//! Signaling through trackers: announces sized to the swarm, offers prepared ahead and batched
//! per tracker, and the sealed offers and answers that introduce peers.

use super::trackers::TrackerStatus;
use super::{
    Conn, ConnHandle, Output, Role, Room, ANSWER_RESEND_MS, FOLLOW_UP_MS, INITIAL_OFFERS,
    MAX_OFFERS, MAX_OFFER_AGE_MS, MAX_PENDING_ANSWERS, REPLACE_PENDING_AFTER_MS,
};
use crate::identity;
use crate::ids::{check_id, encode_id, PeerId};
use crate::mesh::{AnswerDecision, OfferDecision, OFFER_TTL_MS};
use crate::tracker::{self as trk, Announce, OfferEntry, ServerMessage};

/// Longest tracker message read, in bytes (a forwarded offer carries one sealed SDP of at
/// most [`trk::MAX_SEALED_SDP_LEN`]). The shell checks the length before copying a message
/// out of the socket; the engine checks again.
pub const MAX_TRACKER_MESSAGE: usize = 64 * 1024;
/// Malformed or oversized messages tolerated from one tracker socket: a few are a buggy
/// tracker, a stream of them is an attack, and the socket is dropped and retried later.
pub const MAX_BAD_TRACKER_MESSAGES: u32 = 8;

impl Room {
    // ---- tracker sockets ----

    /// Tracker `i`'s socket opened.
    pub fn handle_tracker_open(&mut self, i: usize, now: u64) {
        let Some(t) = self.trackers.get_mut(i) else {
            return;
        };
        t.opened();
        self.announce(i, now);
        self.report_trackers();
    }

    /// Tracker `i`'s socket closed or failed to open.
    pub fn handle_tracker_closed(&mut self, i: usize, now: u64) {
        let jitter = self.rng.bytes::<1>()[0];
        let alone = !self
            .trackers
            .iter()
            .enumerate()
            .any(|(j, t)| j != i && t.is_open());
        let Some(t) = self.trackers.get_mut(i) else {
            return;
        };
        t.failed(now, jitter, alone);
        self.drop_offers_of(i);
        self.report_trackers();
    }

    /// Tracker `i` sent more than its budget of unhandled messages
    /// ([`super::MAX_INFLIGHT_TRACKER_MESSAGES`]).
    pub fn handle_tracker_flooded(&mut self, i: usize, now: u64) {
        self.drop_tracker(i, now);
    }

    /// Gives up on tracker `i` (it floods, sends garbage, or never answers): its socket is
    /// closed and retried later like a failed one. Peers are not blamed for it.
    pub(super) fn drop_tracker(&mut self, i: usize, now: u64) {
        self.handle_tracker_closed(i, now);
        if self.trackers.get(i).is_some() {
            self.push(Output::CloseTracker(i));
        }
    }

    /// Tracker `i` sent a message too long to read (the shell did not copy it). Counted as
    /// malformed.
    pub fn handle_tracker_oversized(&mut self, i: usize, now: u64) {
        self.bad_tracker_message(i, now);
    }

    /// Tracker `i` sent something that is not a tracker message: more than
    /// [`MAX_BAD_TRACKER_MESSAGES`] on one socket and it is dropped and retried later.
    fn bad_tracker_message(&mut self, i: usize, now: u64) {
        let Some(t) = self.trackers.get_mut(i) else {
            return;
        };
        t.bad_messages = t.bad_messages.saturating_add(1);
        if t.bad_messages > MAX_BAD_TRACKER_MESSAGES {
            self.drop_tracker(i, now);
        }
    }

    /// A text frame from tracker `i`.
    pub fn handle_tracker_text(&mut self, i: usize, text: &str, now: u64) {
        if i >= self.trackers.len() || self.left {
            return;
        }
        if text.len() > MAX_TRACKER_MESSAGE {
            return self.bad_tracker_message(i, now);
        }
        let Some(keys) = &self.keys else {
            return;
        };
        let Ok(msg) = serde_json::from_str::<ServerMessage>(text) else {
            return self.bad_tracker_message(i, now);
        };
        if let Some(reason) = msg.failure_reason {
            self.trackers[i].status = TrackerStatus::Refused(trk::sanitize_failure_reason(&reason));
            self.report_trackers();
            return;
        }
        if msg
            .info_hash
            .as_deref()
            .is_some_and(|h| h != keys.info_hash)
        {
            return;
        }
        if let Some(interval) = msg.interval {
            self.trackers[i].set_interval(interval, now);
        }
        if msg.complete.is_some() || msg.incomplete.is_some() {
            let size = msg
                .complete
                .unwrap_or(0)
                .saturating_add(msg.incomplete.unwrap_or(0));
            let incomplete = self.mesh.offers_wanted(size, usize::MAX) > 0;
            let t = &mut self.trackers[i];
            t.replied();
            t.swarm_size = size;
            if incomplete {
                t.schedule_follow_up();
            }
            self.report_trackers();
        }
        let (Some(from), Some(offer_id)) = (msg.peer_id, msg.offer_id) else {
            return;
        };
        let Ok(from) = PeerId::try_from(from) else {
            return;
        };
        if check_id(&offer_id).is_err() || self.is_banned(&from) || from == self.me {
            return;
        }
        if let Some(offer) = msg.offer {
            self.on_remote_offer(i, from, offer_id, &offer, now);
        } else if let Some(answer) = msg.answer {
            self.on_remote_answer(from, offer_id, &answer, now);
        }
    }

    // ---- our offers ----

    /// Announces to tracker `i`, with as many fresh offers as the swarm needs: prepared ones
    /// first, new ones for the rest. The announce goes out once all of them have their SDP.
    pub(super) fn announce(&mut self, i: usize, now: u64) {
        let Some(t) = self.trackers.get(i) else {
            return;
        };
        if !t.is_open() || t.batch.is_some() || self.keys.is_none() {
            return;
        }
        let wanted = if t.announced {
            self.offers_needed(i, t.swarm_size, now)
        } else {
            INITIAL_OFFERS
        };
        if wanted == 0 {
            self.send_announce(i, Vec::new(), now);
            return;
        }
        let mut handles: Vec<ConnHandle> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.role, Role::Offer { tracker: None, .. }))
            .map(|(h, _)| *h)
            .take(wanted)
            .collect();
        while handles.len() < wanted {
            handles.push(self.prepare_offer());
        }
        for h in &handles {
            if let Some(Conn {
                role: Role::Offer { tracker, .. },
                ..
            }) = self.conns.get_mut(h)
            {
                *tracker = Some(i);
            }
        }
        self.trackers[i].batch = Some(handles);
        self.finish_batch(i, now);
    }

    /// A new offer connection, prepared ahead of the announce that will carry it.
    pub(super) fn prepare_offer(&mut self) -> ConnHandle {
        let h = self.new_handle();
        let offer_id = encode_id(&self.rng.bytes());
        let role = Role::Offer {
            sdp: None,
            tracker: None,
            sent_ms: None,
        };
        self.conns.insert(h, Conn::new(role, offer_id));
        self.push(Output::CreateOffer(h));
        h
    }

    /// Offers tracker `i` should carry for a swarm of `swarm_size`. None when we are connected
    /// (or connecting) to every member. Otherwise one per member, minus our offers there that
    /// may still be answered: trackers hand each offer to a random member, connected or not, so
    /// offering to every member is the only way to be sure the missing ones get one (connected
    /// members ignore theirs). An offer unanswered for FOLLOW_UP_MS no longer counts.
    fn offers_needed(&self, i: usize, swarm_size: u64, now: u64) -> usize {
        if self.mesh.offers_wanted(swarm_size, usize::MAX) == 0 {
            return 0;
        }
        let pending = self
            .conns
            .values()
            .filter(|c| match c.role {
                Role::Offer {
                    tracker: Some(t),
                    sent_ms,
                    ..
                } => t == i && sent_ms.is_none_or(|s| now < s.saturating_add(FOLLOW_UP_MS)),
                _ => false,
            })
            .count();
        let members = usize::try_from(swarm_size.saturating_sub(1)).unwrap_or(usize::MAX);
        members.min(MAX_OFFERS).saturating_sub(pending)
    }

    /// The shell made our offer's SDP for `h` (or failed to).
    pub fn handle_local_offer(&mut self, h: ConnHandle, sdp: Result<String, String>, now: u64) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Role::Offer {
            sdp: slot, tracker, ..
        } = &mut c.role
        else {
            return;
        };
        let tracker = *tracker;
        match sdp {
            Ok(s) => {
                c.auth.local_fp = identity::dtls_fingerprint(&s);
                c.auth.local_nonce = identity::sdp_nonce(&s);
                *slot = Some(s);
            }
            Err(_) => {
                self.conns.remove(&h);
                self.push(Output::Close(h));
            }
        }
        if let Some(i) = tracker {
            self.finish_batch(i, now);
        }
    }

    /// Sends tracker `i`'s pending announce once none of its offers is still gathering.
    fn finish_batch(&mut self, i: usize, now: u64) {
        let Some(batch) = self.trackers.get(i).and_then(|t| t.batch.as_ref()) else {
            return;
        };
        let gathering = batch.iter().any(|h| {
            self.conns
                .get(h)
                .is_some_and(|c| matches!(c.role, Role::Offer { sdp: None, .. }))
        });
        if gathering {
            return;
        }
        let Some(keys) = &self.keys else {
            return;
        };
        let handles = self.trackers[i].batch.take().unwrap_or_default();
        let mut offers = Vec::with_capacity(handles.len());
        for h in handles {
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            let Role::Offer {
                sdp: Some(sdp),
                sent_ms,
                ..
            } = &mut c.role
            else {
                continue;
            };
            *sent_ms = Some(now);
            let offer = trk::seal_offer(
                &keys.sdp,
                self.rng.bytes(),
                &keys.info_hash,
                self.me.as_str(),
                &c.offer_id,
                now,
                sdp,
            );
            self.mesh.offer_created(&c.offer_id, now);
            offers.push(OfferEntry {
                offer_id: c.offer_id.clone(),
                offer,
            });
        }
        self.send_announce(i, offers, now);
    }

    fn send_announce(&mut self, i: usize, offers: Vec<OfferEntry>, now: u64) {
        let Some(keys) = &self.keys else {
            return;
        };
        let t = &self.trackers[i];
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            numwant: Some(u32::try_from(offers.len()).unwrap_or(u32::MAX)),
            event: (!t.announced).then(|| "started".to_owned()),
            uploaded: Some(0),
            downloaded: Some(0),
            left: Some(0),
            // A keep-alive carries no `offers` field at all.
            offers: (!offers.is_empty()).then_some(offers),
            ..Announce::default()
        };
        let incomplete = self.mesh.offers_wanted(t.swarm_size, usize::MAX) > 0;
        if let Ok(text) = serde_json::to_string(&msg) {
            self.push(Output::TrackerSend { tracker: i, text });
            self.trackers[i].announced_at(now, incomplete);
        }
    }

    /// Tracker `i` went away: the offers it carried can no longer be answered.
    fn drop_offers_of(&mut self, i: usize) {
        let stale: Vec<ConnHandle> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.role, Role::Offer { tracker: Some(t), .. } if t == i))
            .map(|(h, _)| *h)
            .collect();
        for h in stale {
            self.close_conn(h, None);
        }
    }

    // ---- their offers ----

    fn on_remote_offer(
        &mut self,
        i: usize,
        from: PeerId,
        offer_id: String,
        offer: &trk::Sdp,
        now: u64,
    ) {
        let Some(keys) = &self.keys else {
            return;
        };
        // Anything that does not open under our room key is from another room (or forged).
        let Ok(opened) =
            trk::open_offer(&keys.sdp, &keys.info_hash, from.as_str(), &offer_id, offer)
        else {
            return;
        };
        // A replay: the offer is older than any honest one still waiting for an answer.
        if now.saturating_sub(opened.created_ms) > MAX_OFFER_AGE_MS {
            return;
        }
        // A pending answer to this peer that has gone nowhere gives way to an offer made long
        // enough after the one it answers that the offerer has given that one up (it drops an
        // unanswered offer after OFFER_TTL_MS): a replayed stale offer, not a slow connection
        // to an offer still awaited, is what gets replaced. Both times are the offerer's clock.
        if let Some((h, since, created)) = self.pending_answer_to(&from) {
            let waited = now.saturating_sub(since) >= REPLACE_PENDING_AFTER_MS;
            if waited && opened.created_ms > created.saturating_add(OFFER_TTL_MS) {
                self.close_conn(h, None);
            }
        }
        let answering = self
            .conns
            .values()
            .filter(|c| !c.open && matches!(c.role, Role::Answering { .. }))
            .count();
        if answering >= MAX_PENDING_ANSWERS {
            return;
        }
        let OfferDecision::Answer { replaces } = self.mesh.on_offer(&from, &offer_id, now) else {
            return;
        };
        if let Some(old) = replaces.and_then(|c| self.handle_of(&c)) {
            self.conns.remove(&old);
            self.push(Output::Close(old));
        }
        let h = self.new_handle();
        let mut conn = Conn::new(
            Role::Answering {
                tracker: i,
                created_ms: opened.created_ms,
                answer: None,
                answered_ms: None,
                resent: false,
            },
            offer_id.clone(),
        );
        conn.mesh = self.mesh.conn_of(&from).cloned();
        conn.auth.remote_fp = identity::dtls_fingerprint(&opened.sdp);
        conn.auth.remote_nonce = identity::sdp_nonce(&opened.sdp);
        self.conns.insert(h, conn);
        self.push(Output::CreateAnswer {
            conn: h,
            offer_sdp: opened.sdp,
        });
    }

    /// Our answer connection to `peer` that has not opened: (handle, since, offer's time).
    fn pending_answer_to(&self, peer: &PeerId) -> Option<(ConnHandle, u64, u64)> {
        let since = self.mesh.connecting_since(peer)?;
        self.conns.iter().find_map(|(h, c)| match c.role {
            Role::Answering { created_ms, .. } if !c.open && c.peer() == Some(peer) => {
                Some((*h, since, created_ms))
            }
            _ => None,
        })
    }

    /// The shell made our answer's SDP for `h` (or failed to).
    pub fn handle_local_answer(&mut self, h: ConnHandle, sdp: Result<String, String>, now: u64) {
        let Some(keys) = &self.keys else {
            return;
        };
        let sdp = match sdp {
            Ok(s) => s,
            Err(_) => return self.close_conn(h, None),
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        c.auth.local_fp = identity::dtls_fingerprint(&sdp);
        c.auth.local_nonce = identity::sdp_nonce(&sdp);
        let (Role::Answering { tracker, .. }, Some(m)) = (&c.role, &c.mesh) else {
            return;
        };
        let tracker = *tracker;
        let sealed = trk::seal_answer(
            &keys.sdp,
            self.rng.bytes(),
            &keys.info_hash,
            self.me.as_str(),
            m.peer.as_str(),
            &m.offer_id,
            &sdp,
        );
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            to_peer_id: Some(m.peer.to_string()),
            offer_id: Some(m.offer_id.clone()),
            answer: Some(sealed),
            ..Announce::default()
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return self.close_conn(h, None);
        };
        let via_origin = self.trackers.get(tracker).is_some_and(|t| t.is_open());
        if via_origin {
            self.push(Output::TrackerSend {
                tracker,
                text: text.clone(),
            });
        }
        if let Some(Conn {
            role:
                Role::Answering {
                    answer,
                    answered_ms,
                    ..
                },
            ..
        }) = self.conns.get_mut(&h)
        {
            *answer = Some(text);
            *answered_ms = Some(now);
        }
        if !via_origin {
            // The tracker that brought the offer is gone: the others may reach the peer.
            self.resend_answer(h);
        }
    }

    /// Sends answers that have not led anywhere again, through every other open tracker:
    /// trackers route an answer by the recipient's peer id, so any tracker the offerer is
    /// announced on can deliver it, and the offerer takes the first copy.
    pub(super) fn resend_answers(&mut self, now: u64) {
        let due: Vec<ConnHandle> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.open
                    && matches!(c.role, Role::Answering { answered_ms: Some(t), resent: false, .. }
                        if now >= t.saturating_add(ANSWER_RESEND_MS))
            })
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            self.resend_answer(h);
        }
    }

    fn resend_answer(&mut self, h: ConnHandle) {
        let Some(Conn {
            role:
                Role::Answering {
                    tracker,
                    answer: Some(text),
                    resent,
                    ..
                },
            ..
        }) = self.conns.get_mut(&h)
        else {
            return;
        };
        *resent = true;
        let (origin, text) = (*tracker, text.clone());
        let others: Vec<usize> = (0..self.trackers.len())
            .filter(|&j| j != origin && self.trackers[j].is_open())
            .collect();
        for j in others {
            self.push(Output::TrackerSend {
                tracker: j,
                text: text.clone(),
            });
        }
    }

    // ---- answers to our offers ----

    fn on_remote_answer(&mut self, from: PeerId, offer_id: String, answer: &trk::Sdp, now: u64) {
        let Some(keys) = &self.keys else {
            return;
        };
        let Some(h) = self
            .conns
            .iter()
            .find(|(_, c)| {
                c.offer_id == offer_id
                    && matches!(
                        c.role,
                        Role::Offer {
                            sent_ms: Some(_),
                            ..
                        }
                    )
            })
            .map(|(h, _)| *h)
        else {
            return;
        };
        let Ok(sdp) = trk::open_answer(
            &keys.sdp,
            &keys.info_hash,
            from.as_str(),
            self.me.as_str(),
            &offer_id,
            answer,
        ) else {
            return;
        };
        match self.mesh.on_answer(&from, &offer_id, now) {
            AnswerDecision::Reject => {
                // The offer was taken by this peer and is of no further use.
                self.conns.remove(&h);
                self.push(Output::Close(h));
            }
            AnswerDecision::Accept { replaces } => {
                if let Some(old) = replaces.and_then(|c| self.handle_of(&c)) {
                    self.conns.remove(&old);
                    self.push(Output::Close(old));
                }
                let mesh = self.mesh.conn_of(&from).cloned();
                if let Some(c) = self.conns.get_mut(&h) {
                    c.role = Role::Answered;
                    c.mesh = mesh;
                    c.auth.remote_fp = identity::dtls_fingerprint(&sdp);
                    c.auth.remote_nonce = identity::sdp_nonce(&sdp);
                }
                self.push(Output::ApplyAnswer {
                    conn: h,
                    answer_sdp: sdp,
                });
            }
        }
    }

    /// The shell could not apply the answer on `h`.
    pub fn handle_answer_failed(&mut self, h: ConnHandle) {
        self.close_conn(h, None);
    }

    /// Leaving: a `stopped` announce to every tracker we announced on.
    pub(super) fn leave_trackers(&mut self) {
        let Some(keys) = &self.keys else {
            return;
        };
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            event: Some("stopped".into()),
            ..Announce::default()
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return;
        };
        let announced: Vec<usize> = (0..self.trackers.len())
            .filter(|&i| self.trackers[i].announced && self.trackers[i].is_open())
            .collect();
        for tracker in announced {
            self.push(Output::TrackerSend {
                tracker,
                text: text.clone(),
            });
        }
    }
}
