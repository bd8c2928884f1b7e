//! Chat: messages to everyone or to one peer, the typing indicator, and the rate limit.
//!
//! Our own messages are refused past [`CHAT_BURST`] at once or one per [`CHAT_REFILL_MS`]
//! after that (the composer keeps the draft and says why). A peer is held to the same rate
//! with [`CHAT_BURST_SLACK`] more, since the network can bunch an honest burst: what goes
//! beyond is dropped, and the user is told once per flood.

use super::{ChatError, ConnHandle, Event, Room};
use crate::ids::PeerId;
use crate::wire::{self, PeerMessage};

/// Messages one may send at once.
pub const CHAT_BURST: u32 = 10;
/// After a burst, one more message is allowed per this long (ten a second: faster than anyone
/// types, slow enough that a flood costs receivers little).
pub const CHAT_REFILL_MS: u64 = 100;
/// Extra burst a peer's messages get over our own limit before they are dropped: a network
/// stall can deliver an honest sender's messages bunched together.
pub const CHAT_BURST_SLACK: u32 = 10;
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
    flood_told: bool,
    typing_until: Option<u64>,
}

/// Our side of the chat.
#[derive(Debug)]
pub(super) struct ChatState {
    /// Id of our last message (ids start at 1; direct messages share the sequence).
    seq: u64,
    rate: Bucket,
    share_typing: bool,
    /// When we last said we type, and to whom (`None`: everyone).
    typing_sent: Option<(u64, Option<PeerId>)>,
}

impl Default for ChatState {
    fn default() -> Self {
        Self {
            seq: 0,
            rate: Bucket::default(),
            share_typing: true,
            typing_sent: None,
        }
    }
}

impl Room {
    /// Sends a chat message to everyone.
    pub fn send_chat(&mut self, text: &str, now: u64) -> Result<(), ChatError> {
        let text = self.take_chat(text, now)?;
        let id = self.chat.seq;
        self.broadcast(&PeerMessage::Chat {
            id,
            sent_at_ms: now,
            text: text.clone(),
        });
        self.show_own(text, None, now);
        Ok(())
    }

    /// Sends a chat message to `to` alone, on its connection only.
    pub fn send_direct(&mut self, to: &PeerId, text: &str, now: u64) -> Result<(), ChatError> {
        let h = self
            .greeted_conn(to)
            .ok_or_else(|| ChatError::NotHere(self.peer_name(to)))?;
        let text = self.take_chat(text, now)?;
        let id = self.chat.seq;
        self.send_to(
            h,
            &PeerMessage::Direct {
                id,
                sent_at_ms: now,
                text: text.clone(),
            },
        );
        self.show_own(text, Some(to.clone()), now);
        Ok(())
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

    fn show_own(&mut self, text: String, direct: Option<PeerId>, now: u64) {
        self.event(Event::Chat {
            from: None,
            name: self.name.clone(),
            at_ms: now,
            text,
            direct,
        });
    }

    /// The open connection to `peer` whose hello arrived.
    fn greeted_conn(&self, peer: &PeerId) -> Option<ConnHandle> {
        self.conns
            .iter()
            .find(|(_, c)| c.open && c.name.is_some() && c.peer() == Some(peer))
            .map(|(h, _)| *h)
    }

    /// A chat or direct message from the peer on `h`.
    pub(super) fn on_chat(
        &mut self,
        h: ConnHandle,
        peer: PeerId,
        (id, sent_at_ms, text): (u64, u64, String),
        direct: bool,
        now: u64,
    ) {
        if !self.mesh.accept_chat(&peer, id) || !self.within_rate(h, &peer, now) {
            return;
        }
        self.typing_cleared(h, &peer);
        let name = self.peer_name(&peer);
        self.event(Event::Chat {
            direct: direct.then(|| peer.clone()),
            from: Some(peer),
            name,
            // A sender's clock may run ahead; never show a message from the future.
            at_ms: sent_at_ms.min(now),
            text: wire::sanitize_text(&text),
        });
    }

    fn within_rate(&mut self, h: ConnHandle, peer: &PeerId, now: u64) -> bool {
        let Some(c) = self.conns.get_mut(&h) else {
            return false;
        };
        if c.chat.rate.take(now, CHAT_BURST + CHAT_BURST_SLACK) {
            c.chat.flood_told = false;
            return true;
        }
        if !c.chat.flood_told {
            c.chat.flood_told = true;
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

    /// When a peer's typing indicator next runs out.
    pub(super) fn chat_next_timeout(&self) -> Option<u64> {
        self.conns
            .values()
            .filter_map(|c| c.chat.typing_until)
            .min()
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
    }
}

impl PeerChat {
    pub(super) fn is_typing(&self) -> bool {
        self.typing_until.is_some()
    }
}
