//! Signaling through trackers: announces sized to the swarm, offers prepared ahead and
//! batched per tracker, and the sealed offers and answers that introduce peers.

use super::js::{random_bytes, JsError};
use super::rtc;
use super::tracker::{self, TrackerStatus};
use super::{
    no_peer_connections, spawn_offer, warn, Driver, Event, OfferBatch, FOLLOW_UP_MS,
    INITIAL_OFFERS, MAX_FOLLOW_UP_DOUBLINGS, MAX_OFFERS, MAX_PENDING_ANSWERS,
};
use crate::state::{Phase, RoomAction};
use hush_core::ids::PeerId;
use hush_core::mesh::{AnswerDecision, ConnId, OfferDecision};
use hush_core::tracker::{self as trk, Announce, OfferEntry, ServerMessage};

impl Driver {
    // ---- signaling ----

    /// Announces to tracker `i`, with as many fresh offers as the swarm needs: prepared ones
    /// first, new ones for the rest. The announce goes out once all of them have their SDP.
    pub(super) fn announce(&mut self, i: usize, now: u64) {
        let Some(t) = self.trackers.get(i) else {
            return;
        };
        if !t.is_open() || t.batch.is_some() {
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
        let mut handles: Vec<u32> = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker.is_none())
            .map(|r| r.handle)
            .take(wanted)
            .collect();
        while handles.len() < wanted {
            let Some(h) = self.prepare_offer() else {
                break;
            };
            handles.push(h);
        }
        for h in &handles {
            if let Some(r) = self.rtcs.get_mut(h) {
                r.tracker = Some(i);
            }
        }
        self.trackers[i].batch = Some(OfferBatch { handles });
        self.finish_batch(i, now);
    }

    pub(super) fn prepare_offer(&mut self) -> Option<u32> {
        let h = self.new_handle();
        match spawn_offer(h, &self.rtc_config, self.ice_kinds, &self.events) {
            Ok(r) => {
                self.rtcs.insert(h, r);
                Some(h)
            }
            Err(e) => {
                let msg = no_peer_connections(&e);
                self.dispatch.emit(RoomAction::Phase(Phase::Failed(msg)));
                None
            }
        }
    }

    /// Offers tracker `i` should carry for a swarm of `swarm_size`. None when we are connected
    /// (or connecting) to every member. Otherwise one per member, minus our offers there that
    /// may still be answered: trackers hand each offer to a random member, connected or not, so
    /// offering to every member is the only way to be sure the missing ones get one (connected
    /// members ignore theirs). An offer unanswered for FOLLOW_UP_MS no longer counts.
    pub(super) fn offers_needed(&self, i: usize, swarm_size: u64, now: u64) -> usize {
        if self.mesh.offers_wanted(swarm_size, usize::MAX) == 0 {
            return 0;
        }
        let pending = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker == Some(i))
            .filter(|r| r.offered_at_ms.is_none_or(|t| now < t + FOLLOW_UP_MS))
            .count();
        let members = usize::try_from(swarm_size.saturating_sub(1)).unwrap_or(usize::MAX);
        members.min(MAX_OFFERS).saturating_sub(pending)
    }

    pub(super) fn on_offer_ready(&mut self, h: u32, result: Result<String, JsError>, now: u64) {
        let Some(rtc) = self.rtcs.get_mut(&h) else {
            return;
        };
        let tracker = rtc.tracker;
        match result {
            Ok(sdp) => rtc.offer_sdp = Some(sdp),
            Err(e) => {
                warn(&format!("could not create an offer: {e}"));
                self.rtcs.remove(&h);
            }
        }
        if let Some(i) = tracker {
            self.finish_batch(i, now);
        }
    }

    /// Sends tracker `i`'s pending announce once none of its offers is still gathering.
    pub(super) fn finish_batch(&mut self, i: usize, now: u64) {
        let Some(batch) = self.trackers.get(i).and_then(|t| t.batch.as_ref()) else {
            return;
        };
        let gathering = batch
            .handles
            .iter()
            .any(|h| self.rtcs.get(h).is_some_and(|r| r.offer_sdp.is_none()));
        if gathering {
            return;
        }
        let handles = self.trackers[i]
            .batch
            .take()
            .map(|b| b.handles)
            .unwrap_or_default();
        let mut offers = Vec::with_capacity(handles.len());
        for h in handles {
            let Some(r) = self.rtcs.get_mut(&h) else {
                continue;
            };
            r.offered_at_ms = Some(now);
            let (Some(sdp), Ok(nonce)) = (&r.offer_sdp, random_bytes()) else {
                continue;
            };
            let offer = trk::seal_offer(
                &self.keys.sdp,
                nonce,
                &self.keys.info_hash,
                self.me.as_str(),
                &r.offer_id,
                sdp,
            );
            self.mesh.offer_created(&r.offer_id, now);
            offers.push(OfferEntry {
                offer_id: r.offer_id.clone(),
                offer,
            });
        }
        self.send_announce(i, offers, now);
    }

    pub(super) fn send_announce(&mut self, i: usize, offers: Vec<OfferEntry>, now: u64) {
        let t = &mut self.trackers[i];
        let first = !t.announced;
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: self.keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            numwant: Some(offers.len() as u32),
            event: first.then(|| "started".to_owned()),
            uploaded: Some(0),
            downloaded: Some(0),
            left: Some(0),
            // A keep-alive carries no `offers` field at all.
            offers: (!offers.is_empty()).then_some(offers),
            ..Announce::default()
        };
        let incomplete = self.mesh.offers_wanted(t.swarm_size, usize::MAX) > 0;
        if let Ok(text) = serde_json::to_string(&msg) {
            if t.send(&text) {
                t.announced = true;
                t.last_announce_ms = now;
                t.next_announce_ms = now + t.interval_ms;
                t.follow_ups = if incomplete { t.follow_ups + 1 } else { 0 };
            }
        }
    }

    pub(super) fn drop_offers_of(&mut self, i: usize) {
        let stale: Vec<(u32, String)> = self
            .rtcs
            .values()
            .filter(|r| r.conn.is_none() && r.tracker == Some(i))
            .map(|r| (r.handle, r.offer_id.clone()))
            .collect();
        for (h, offer_id) in stale {
            self.mesh.offer_dropped(&offer_id);
            self.rtcs.remove(&h);
        }
    }

    pub(super) fn on_tracker_message(&mut self, i: usize, text: &str, now: u64) {
        let Ok(msg) = serde_json::from_str::<ServerMessage>(text) else {
            return;
        };
        if let Some(reason) = msg.failure_reason {
            self.trackers[i].status = TrackerStatus::Refused(reason);
            self.report_trackers();
            return;
        }
        if msg
            .info_hash
            .as_deref()
            .is_some_and(|h| h != self.keys.info_hash)
        {
            return;
        }
        if let Some(interval) = msg.interval {
            let t = &mut self.trackers[i];
            t.interval_ms =
                (interval * 1000).clamp(tracker::MIN_INTERVAL_MS, tracker::MAX_INTERVAL_MS);
            t.next_announce_ms = now + t.interval_ms;
        }
        if msg.complete.is_some() || msg.incomplete.is_some() {
            self.trackers[i].replied();
            self.report_trackers();
            let size = msg.complete.unwrap_or(0) + msg.incomplete.unwrap_or(0);
            self.trackers[i].swarm_size = size;
            // Members we have no connection with: come back soon with more offers rather than
            // at the next interval, backing off (2, 4, 8… s) while the room stays incomplete.
            if self.mesh.offers_wanted(size, usize::MAX) > 0 {
                let t = &mut self.trackers[i];
                let delay = FOLLOW_UP_MS << t.follow_ups.min(MAX_FOLLOW_UP_DOUBLINGS);
                t.next_announce_ms = t.next_announce_ms.min(t.last_announce_ms + delay);
            }
        }
        let (Some(from), Some(offer_id)) = (msg.peer_id, msg.offer_id) else {
            return;
        };
        let Ok(from) = PeerId::try_from(from) else {
            return;
        };
        if self.banned.contains(&from) {
            return;
        }
        if let Some(offer) = msg.offer {
            self.on_remote_offer(i, from, offer_id, &offer, now);
        } else if let Some(answer) = msg.answer {
            self.on_remote_answer(i, from, offer_id, &answer, now);
        }
    }

    pub(super) fn on_remote_offer(
        &mut self,
        i: usize,
        from: PeerId,
        offer_id: String,
        offer: &trk::Sdp,
        now: u64,
    ) {
        // Anything that does not open under our room key is from another room (or forged).
        let Ok(sdp) = trk::open_offer(
            &self.keys.sdp,
            &self.keys.info_hash,
            from.as_str(),
            &offer_id,
            offer,
        ) else {
            warn("dropped an offer that does not open with this room's key");
            return;
        };
        let answering = self
            .rtcs
            .values()
            .filter(|r| !r.open && r.conn.as_ref().is_some_and(|c| !c.we_offered))
            .count();
        if answering >= MAX_PENDING_ANSWERS {
            return;
        }
        let OfferDecision::Answer { replaces } = self.mesh.on_offer(&from, &offer_id, now) else {
            return;
        };
        if let Some(h) = replaces.and_then(|c| self.handle_of(&c)) {
            self.rtcs.remove(&h);
        }
        let conn = ConnId {
            peer: from,
            offer_id,
            we_offered: false,
        };
        let Some(mut rtc) = self.new_rtc() else {
            self.mesh.on_closed(&conn);
            return;
        };
        rtc.tracker = Some(i);
        rtc.offer_id = conn.offer_id.clone();
        rtc.conn = Some(conn);
        let (h, pc, tx) = (rtc.handle, rtc.pc.clone(), self.events.clone());
        let kinds = self.ice_kinds;
        self.rtcs.insert(h, rtc);
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::make_answer(pc, sdp, kinds).await;
            let _ = tx.clone().try_send(Event::AnswerReady(h, r));
        });
    }

    pub(super) fn on_answer_ready(&mut self, h: u32, result: Result<String, JsError>) {
        let Some(rtc) = self.rtcs.get(&h) else {
            return;
        };
        let (sdp, conn) = match (result, rtc.conn.clone()) {
            (Ok(sdp), Some(conn)) => (sdp, conn),
            (Err(e), _) => {
                warn(&format!("could not answer an offer: {e}"));
                self.close_rtc(h, None);
                return;
            }
            (_, None) => return,
        };
        let nonce = random_bytes().unwrap_or_default();
        let answer = trk::seal_answer(
            &self.keys.sdp,
            nonce,
            &self.keys.info_hash,
            self.me.as_str(),
            conn.peer.as_str(),
            &conn.offer_id,
            &sdp,
        );
        let msg = Announce {
            action: trk::ACTION_ANNOUNCE.into(),
            info_hash: self.keys.info_hash.clone(),
            peer_id: self.me.to_string(),
            to_peer_id: Some(conn.peer.to_string()),
            offer_id: Some(conn.offer_id.clone()),
            answer: Some(answer),
            ..Announce::default()
        };
        let sent = serde_json::to_string(&msg)
            .map(|text| {
                self.trackers
                    .get(rtc.tracker.unwrap_or(usize::MAX))
                    .is_some_and(|t| t.send(&text))
            })
            .unwrap_or(false);
        if !sent {
            self.close_rtc(h, None);
        }
    }

    pub(super) fn on_remote_answer(
        &mut self,
        i: usize,
        from: PeerId,
        offer_id: String,
        answer: &trk::Sdp,
        now: u64,
    ) {
        let Some(h) = self
            .rtcs
            .values()
            .find(|r| r.conn.is_none() && r.tracker == Some(i) && r.offer_id == offer_id)
            .map(|r| r.handle)
        else {
            return;
        };
        let Ok(sdp) = trk::open_answer(
            &self.keys.sdp,
            &self.keys.info_hash,
            from.as_str(),
            self.me.as_str(),
            &offer_id,
            answer,
        ) else {
            return;
        };
        match self.mesh.on_answer(&from, &offer_id, now) {
            AnswerDecision::Reject => {
                self.rtcs.remove(&h);
            }
            AnswerDecision::Accept { replaces } => {
                if let Some(old) = replaces.and_then(|c| self.handle_of(&c)) {
                    self.rtcs.remove(&old);
                }
                let Some(rtc) = self.rtcs.get_mut(&h) else {
                    return;
                };
                rtc.conn = Some(ConnId {
                    peer: from,
                    offer_id,
                    we_offered: true,
                });
                let (pc, tx) = (rtc.pc.clone(), self.events.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let r = rtc::accept_answer(pc, sdp).await;
                    let _ = tx.clone().try_send(Event::RemoteApplied(h, r));
                });
            }
        }
    }
}
