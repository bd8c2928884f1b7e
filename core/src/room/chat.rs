//! Chat: messages to everyone or to one peer, the typing indicator, the rate limit, the
//! room's vanishing-message timer and view-once messages.
//!
//! Our own messages are refused past [`CHAT_BURST`] at once or one per [`CHAT_REFILL_MS`]
//! after that (the composer keeps the draft and says why). A peer is held to the same rate
//! with [`CHAT_BURST_SLACK`] more, since the network can bunch an honest burst: what goes
//! beyond is dropped, and the user is told once per flood. A peer whose excess passes
//! [`MAX_CHAT_DROPPED`] is no honest client (each holds itself to the rate) and is dropped:
//! every frame of a flood still costs its receiver a decryption.
//!
//! The timer is one room-wide setting: the latest change wins everywhere (a Lamport version,
//! ties broken by the setter's id, so no clock needs to agree). A message carries the timer
//! it was sent under, and every peer makes it vanish that long after it arrived. The engine
//! keeps only ids of what is to vanish, never the text.

use super::{ChatError, ConnHandle, Event, Room};
use crate::ids::PeerId;
use crate::wire::{self, PeerMessage};
use std::collections::VecDeque;

/// Messages one may send at once.
pub const CHAT_BURST: u32 = 10;
/// After a burst, one more message is allowed per this long (ten a second: faster than anyone
/// types, slow enough that a flood costs receivers little).
pub const CHAT_REFILL_MS: u64 = 100;
/// Extra burst a peer's messages get over our own limit before they are dropped: a network
/// stall can deliver an honest sender's messages bunched together.
pub const CHAT_BURST_SLACK: u32 = 10;
/// Messages of one peer dropped for its rate before the peer itself is dropped. An honest
/// client never sends past the rate, so only a bunched burst beyond the slack can count here.
pub const MAX_CHAT_DROPPED: u32 = 50;
/// A peer whose messages are dropped for its rate is named at most this often: in a flood, the
/// refill lets one message through now and then, and each gap would otherwise repeat it.
pub const FLOOD_NOTICE_EVERY_MS: u64 = 10_000;
/// While the user keeps typing, "typing" is told again this often (a receiver forgets it
/// after [`TYPING_SHOWN_MS`], so a lost or a last one does not stick).
pub const TYPING_REFRESH_MS: u64 = 3_000;
/// A peer shows as typing this long after its last word that it types.
pub const TYPING_SHOWN_MS: u64 = 5_000;

/// A rate limit as a virtual schedule: each message books the next [`CHAT_REFILL_MS`] slot,
/// and a message is refused when its slot lies more than a burst ahead of now.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Bucket {
    booked_until: u64,
}

impl Bucket {
    fn take(&mut self, now: u64, burst: u32) -> bool {
        let start = self.booked_until.max(now);
        if start - now > u64::from(burst.saturating_sub(1)) * CHAT_REFILL_MS {
            return false;
        }
        self.booked_until = start.saturating_add(CHAT_REFILL_MS);
        true
    }

    fn would_take(&self, now: u64, burst: u32) -> bool {
        let mut probe = *self;
        probe.take(now, burst)
    }
}

/// A peer's chat as this side sees it: its rate, whether it was told it floods, and until
/// when it shows as typing.
#[derive(Debug, Default)]
pub(super) struct PeerChat {
    rate: Bucket,
    /// When the user was last told this peer floods.
    flood_told_at: Option<u64>,
    /// Messages dropped for the rate, over the connection's life.
    dropped: u32,
    typing_until: Option<u64>,
}

/// The vanishing-message timers one may choose (30 s, 1 min, 5 min, 1 h).
pub const TIMER_CHOICES_MS: [u64; 4] = [30_000, 60_000, 300_000, 3_600_000];
/// A revealed view-once message stays on screen this long, then vanishes.
pub const VIEW_ONCE_SHOWN_MS: u64 = 10_000;
/// Messages waiting to vanish, and covered view-once messages, kept track of at most: far
/// more than the rate limit lets into an hour; beyond it the oldest vanishes at once.
pub const MAX_VANISHING: usize = 50_000;
/// Our own view-once messages whose views are still reported.
pub const MAX_OWN_VIEW_ONCE: usize = 1_000;

/// Our side of the chat.
#[derive(Debug)]
pub(super) struct ChatState {
    /// Id of our last message (ids start at 1; every kind of message shares the sequence).
    seq: u64,
    rate: Bucket,
    share_typing: bool,
    /// When we last said we type, and to whom (`None`: everyone).
    typing_sent: Option<(u64, Option<PeerId>)>,
    /// The room's timer and the version of its last change (`None` before any).
    timer: Option<u64>,
    timer_version: Option<(u64, PeerId)>,
    /// When a line vanishes: its sender (`None`: us) and id. Unordered (timers differ).
    vanishing: Vec<(u64, Option<PeerId>, u64)>,
    /// View-once messages shown covered, not revealed yet.
    covered: VecDeque<(PeerId, u64)>,
    /// Our view-once messages, whose viewers are reported to us.
    own_once: VecDeque<u64>,
}

impl Default for ChatState {
    fn default() -> Self {
        Self {
            seq: 0,
            rate: Bucket::default(),
            share_typing: true,
            typing_sent: None,
            timer: None,
            timer_version: None,
            vanishing: Vec::new(),
            covered: VecDeque::new(),
            own_once: VecDeque::new(),
        }
    }
}

/// A timer as people say it: "30 seconds", "1 minute", "5 minutes", "1 hour" (`None`: "off").
pub fn timer_label(ttl_ms: Option<u64>) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match ttl_ms {
        None => "off".to_owned(),
        Some(t) if t >= 3_600_000 && t % 3_600_000 == 0 => plural(t / 3_600_000, "hour"),
        Some(t) if t >= 60_000 && t % 60_000 == 0 => plural(t / 60_000, "minute"),
        Some(t) => plural(t.div_ceil(1_000), "second"),
    }
}

/// The log's line for a timer change by `name` ("You" for us).
pub fn timer_announcement(name: &str, ttl_ms: Option<u64>) -> String {
    match ttl_ms {
        Some(_) => format!(
            "{name} set messages to vanish after {}",
            timer_label(ttl_ms)
        ),
        None => format!("{name} turned vanishing messages off"),
    }
}

/// What the user asked to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compose<'a> {
    /// To this peer alone.
    pub to: Option<&'a PeerId>,
    /// Shown covered; gone a few seconds after the receiver reveals it.
    pub view_once: bool,
}

impl Room {
    /// Sends a chat message to everyone.
    pub fn send_chat(&mut self, text: &str, now: u64) -> Result<(), ChatError> {
        self.send_message(text, Compose::default(), now)
    }

    /// Sends a chat message to `to` alone, on its connection only.
    pub fn send_direct(&mut self, to: &PeerId, text: &str, now: u64) -> Result<(), ChatError> {
        let how = Compose {
            to: Some(to),
            ..Compose::default()
        };
        self.send_message(text, how, now)
    }

    /// Sends a chat message as `how` says, under the room's timer.
    pub fn send_message(
        &mut self,
        text: &str,
        how: Compose<'_>,
        now: u64,
    ) -> Result<(), ChatError> {
        let conn = match how.to {
            Some(to) => Some(
                self.greeted_conn(to)
                    .ok_or_else(|| ChatError::NotHere(self.peer_name(to)))?,
            ),
            None => None,
        };
        let text = self.take_chat(text, now)?;
        let id = self.chat.seq;
        let ttl_ms = self.chat.timer;
        let msg = if conn.is_none() && ttl_ms.is_none() && !how.view_once {
            // The plain message every version of Hush reads.
            PeerMessage::Chat {
                id,
                sent_at_ms: now,
                text: text.clone(),
            }
        } else {
            PeerMessage::Message {
                id,
                sent_at_ms: now,
                text: text.clone(),
                direct: conn.is_some(),
                ttl_ms,
                view_once: how.view_once,
            }
        };
        match conn {
            Some(h) => self.send_to(h, &msg),
            None => self.broadcast(&msg),
        }
        if how.view_once {
            if self.chat.own_once.len() >= MAX_OWN_VIEW_ONCE {
                self.chat.own_once.pop_front();
            }
            self.chat.own_once.push_back(id);
        }
        let expires_at_ms = ttl_ms.map(|t| self.vanish_at(None, id, now.saturating_add(t)));
        self.event(Event::Chat {
            from: None,
            name: self.name.clone(),
            at_ms: now,
            text,
            direct: how.to.cloned(),
            id,
            expires_at_ms,
            view_once: how.view_once,
        });
        Ok(())
    }

    /// Sets the room's vanishing-message timer (one of [`TIMER_CHOICES_MS`], or `None`: off)
    /// for everyone.
    pub fn set_timer(&mut self, ttl_ms: Option<u64>) -> Result<(), ChatError> {
        if ttl_ms.is_some_and(|t| !TIMER_CHOICES_MS.contains(&t)) {
            return Err(ChatError::BadTimer);
        }
        let version = self.chat.timer_version.as_ref().map_or(0, |(v, _)| *v) + 1;
        self.chat.timer_version = Some((version, self.me.clone()));
        self.chat.timer = ttl_ms;
        self.broadcast(&PeerMessage::Timer { ttl_ms, version });
        self.event(Event::Timer {
            by: None,
            name: self.name.clone(),
            ttl_ms,
        });
        Ok(())
    }

    /// The room's vanishing-message timer.
    pub fn timer(&self) -> Option<u64> {
        self.chat.timer
    }

    /// The user reveals the view-once message `id` from `from`: it is shown, the sender is
    /// told, and it vanishes [`VIEW_ONCE_SHOWN_MS`] later. A second reveal does nothing.
    pub fn reveal(&mut self, from: &PeerId, id: u64, now: u64) -> bool {
        let Some(i) = self
            .chat
            .covered
            .iter()
            .position(|(p, m)| p == from && *m == id)
        else {
            return false;
        };
        self.chat.covered.remove(i);
        if let Some(h) = self.greeted_conn(from) {
            self.send_to(h, &PeerMessage::Viewed { id });
        }
        self.vanish_at(
            Some(from.clone()),
            id,
            now.saturating_add(VIEW_ONCE_SHOWN_MS),
        );
        true
    }

    /// Whether a message sent now would go (the composer asks before it clears its draft).
    pub fn can_chat(&self, now: u64) -> bool {
        self.chat.rate.would_take(now, CHAT_BURST)
    }

    /// The user types (to `to` alone, or to everyone): peers are told, at most every
    /// [`TYPING_REFRESH_MS`].
    pub fn typing(&mut self, to: Option<&PeerId>, now: u64) {
        if !self.chat.share_typing {
            return;
        }
        if let Some((at, target)) = &self.chat.typing_sent {
            if target.as_ref() == to && now < at.saturating_add(TYPING_REFRESH_MS) {
                return;
            }
            if target.as_ref() != to {
                self.stop_typing();
            }
        }
        self.chat.typing_sent = Some((now, to.cloned()));
        self.send_typing(to.cloned(), true);
    }

    /// The user cleared the draft without sending: peers stop showing us as typing.
    pub fn stop_typing(&mut self) {
        if let Some((_, to)) = self.chat.typing_sent.take() {
            self.send_typing(to, false);
        }
    }

    /// Whether peers see when we type (on by default).
    pub fn set_share_typing(&mut self, share: bool) {
        if !share {
            self.stop_typing();
        }
        self.chat.share_typing = share;
    }

    fn send_typing(&mut self, to: Option<PeerId>, on: bool) {
        let msg = PeerMessage::Typing { on };
        match to {
            None => self.broadcast(&msg),
            Some(peer) => {
                if let Some(h) = self.greeted_conn(&peer) {
                    self.send_to(h, &msg);
                }
            }
        }
    }

    fn take_chat(&mut self, text: &str, now: u64) -> Result<String, ChatError> {
        let text = super::check_chat(text)?.to_owned();
        if !self.chat.rate.take(now, CHAT_BURST) {
            return Err(ChatError::TooFast);
        }
        self.chat.seq += 1;
        // A sent message ends "typing" at every receiver.
        self.chat.typing_sent = None;
        Ok(text)
    }

    /// Books a line to vanish at `at`; returns `at`.
    fn vanish_at(&mut self, from: Option<PeerId>, id: u64, at: u64) -> u64 {
        if self.chat.vanishing.len() >= MAX_VANISHING {
            if let Some(i) =
                (0..self.chat.vanishing.len()).min_by_key(|&i| self.chat.vanishing[i].0)
            {
                let (_, from, id) = self.chat.vanishing.swap_remove(i);
                self.event(Event::Vanish { from, id });
            }
        }
        self.chat.vanishing.push((at, from, id));
        at
    }

    /// The open connection to `peer` whose hello arrived.
    pub(super) fn greeted_conn(&self, peer: &PeerId) -> Option<ConnHandle> {
        self.conns
            .iter()
            .find(|(_, c)| c.open && c.name.is_some() && c.peer() == Some(peer))
            .map(|(h, _)| *h)
    }

    /// A newly greeted peer learns the room's timer when one is on.
    pub(super) fn greet_chat(&mut self, h: ConnHandle) {
        if let (Some(ttl), Some((version, _))) = (self.chat.timer, &self.chat.timer_version) {
            let msg = PeerMessage::Timer {
                ttl_ms: Some(ttl),
                version: *version,
            };
            self.send_to(h, &msg);
        }
    }

    /// A chat message (plain or not) from the peer on `h`.
    pub(super) fn on_chat(&mut self, h: ConnHandle, peer: PeerId, msg: Incoming, now: u64) {
        if !self.mesh.accept_chat(&peer, msg.id) || !self.within_rate(h, &peer, now) {
            return;
        }
        self.typing_cleared(h, &peer);
        // A peer cannot make a line stay longer than the longest timer.
        let ttl = msg
            .ttl_ms
            .map(|t| t.min(TIMER_CHOICES_MS[TIMER_CHOICES_MS.len() - 1]));
        let expires_at_ms =
            ttl.map(|t| self.vanish_at(Some(peer.clone()), msg.id, now.saturating_add(t)));
        if msg.view_once {
            if self.chat.covered.len() >= MAX_VANISHING {
                if let Some((from, id)) = self.chat.covered.pop_front() {
                    self.event(Event::Vanish {
                        from: Some(from),
                        id,
                    });
                }
            }
            self.chat.covered.push_back((peer.clone(), msg.id));
        }
        let name = self.peer_name(&peer);
        self.event(Event::Chat {
            direct: msg.direct.then(|| peer.clone()),
            from: Some(peer),
            name,
            // A sender's clock may run ahead; never show a message from the future.
            at_ms: msg.sent_at_ms.min(now),
            text: wire::sanitize_text(&msg.text),
            id: msg.id,
            expires_at_ms,
            view_once: msg.view_once,
        });
    }

    /// A peer set the room's timer; the latest version wins.
    pub(super) fn on_timer(&mut self, peer: PeerId, ttl_ms: Option<u64>, version: u64) {
        if ttl_ms.is_some_and(|t| !TIMER_CHOICES_MS.contains(&t)) {
            return;
        }
        let stamp = (version, peer.clone());
        if self
            .chat
            .timer_version
            .as_ref()
            .is_some_and(|v| *v >= stamp)
        {
            return;
        }
        self.chat.timer_version = Some(stamp);
        if self.chat.timer == ttl_ms {
            return;
        }
        self.chat.timer = ttl_ms;
        let name = self.peer_name(&peer);
        self.event(Event::Timer {
            by: Some(peer),
            name,
            ttl_ms,
        });
    }

    /// A peer saw our view-once message `id`.
    pub(super) fn on_viewed(&mut self, peer: PeerId, id: u64) {
        if !self.chat.own_once.contains(&id) {
            return;
        }
        let name = self.peer_name(&peer);
        self.event(Event::Viewed { id, peer, name });
    }

    fn within_rate(&mut self, h: ConnHandle, peer: &PeerId, now: u64) -> bool {
        let Some(c) = self.conns.get_mut(&h) else {
            return false;
        };
        if c.chat.rate.take(now, CHAT_BURST + CHAT_BURST_SLACK) {
            return true;
        }
        c.chat.dropped = c.chat.dropped.saturating_add(1);
        if c.chat.dropped > MAX_CHAT_DROPPED {
            self.ban(h, "sent messages far too fast");
            return false;
        }
        let due = c
            .chat
            .flood_told_at
            .is_none_or(|at| now.saturating_sub(at) >= FLOOD_NOTICE_EVERY_MS);
        if due {
            c.chat.flood_told_at = Some(now);
            let name = self.peer_name(peer);
            self.event(Event::Notice(format!(
                "{name} sends messages too fast: some were dropped"
            )));
        }
        false
    }

    pub(super) fn on_typing(&mut self, h: ConnHandle, peer: PeerId, on: bool, now: u64) {
        if !on {
            return self.typing_cleared(h, &peer);
        }
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let was = c
            .chat
            .typing_until
            .replace(now.saturating_add(TYPING_SHOWN_MS));
        if was.is_none() {
            self.event(Event::Typing { peer, typing: true });
        }
    }

    fn typing_cleared(&mut self, h: ConnHandle, peer: &PeerId) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        if c.chat.typing_until.take().is_some() {
            self.event(Event::Typing {
                peer: peer.clone(),
                typing: false,
            });
        }
    }

    /// When a typing indicator next runs out or a line next vanishes.
    pub(super) fn chat_next_timeout(&self) -> Option<u64> {
        let typing = self.conns.values().filter_map(|c| c.chat.typing_until);
        let vanish = self.chat.vanishing.iter().map(|(at, _, _)| *at);
        typing.chain(vanish).min()
    }

    pub(super) fn chat_timeout(&mut self, now: u64) {
        let expired: Vec<(ConnHandle, PeerId)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.chat.typing_until.is_some_and(|t| now >= t))
            .filter_map(|(h, c)| c.peer().map(|p| (*h, p.clone())))
            .collect();
        for (h, peer) in expired {
            self.typing_cleared(h, &peer);
        }
        let mut i = 0;
        while i < self.chat.vanishing.len() {
            if self.chat.vanishing[i].0 <= now {
                let (_, from, id) = self.chat.vanishing.swap_remove(i);
                self.chat
                    .covered
                    .retain(|(p, m)| Some(p) != from.as_ref() || *m != id);
                self.event(Event::Vanish { from, id });
            } else {
                i += 1;
            }
        }
    }
}

/// A chat message as it arrived, plain or not.
pub(super) struct Incoming {
    pub id: u64,
    pub sent_at_ms: u64,
    pub text: String,
    pub direct: bool,
    pub ttl_ms: Option<u64>,
    pub view_once: bool,
}

impl Incoming {
    /// The chat message a [`PeerMessage::Chat`] or [`PeerMessage::Message`] carries.
    pub(super) fn from_message(msg: PeerMessage) -> Option<Self> {
        match msg {
            // A plain message is one to everyone, with no timer, shown as it is.
            PeerMessage::Chat {
                id,
                sent_at_ms,
                text,
            } => Self::from_message(PeerMessage::Message {
                id,
                sent_at_ms,
                text,
                direct: false,
                ttl_ms: None,
                view_once: false,
            }),
            PeerMessage::Message {
                id,
                sent_at_ms,
                text,
                direct,
                ttl_ms,
                view_once,
            } => Some(Self {
                id,
                sent_at_ms,
                text,
                direct,
                ttl_ms,
                view_once,
            }),
            _ => None,
        }
    }
}

impl PeerChat {
    pub(super) fn is_typing(&self) -> bool {
        self.typing_until.is_some()
    }
}
