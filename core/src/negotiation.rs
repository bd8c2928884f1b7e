//! Media renegotiation on an open connection, with the "perfect negotiation" pattern
//! (W3C WebRTC 1.0, §10.7): either side may start a renegotiation at any moment (turning a
//! camera on), and when both do at once, the *polite* side yields to the other's offer (the
//! browser rolls its own back) while the *impolite* side ignores the colliding offer.
//!
//! Roles are fixed per pair and agreed without a message: the peer with the larger id is
//! polite. Descriptions travel over the sealed control channel, so no tracker is involved.
//!
//! This module keeps the flags and makes the decisions; the driver performs the browser calls
//! and reports back.

use crate::ids::PeerId;

/// The perfect-negotiation state of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    polite: bool,
    making_offer: bool,
    ignore_offer: bool,
    setting_remote_answer: bool,
}

/// What to do with a description from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDescription {
    /// Apply it (for an offer, then answer it). A polite side applying an offer during its own
    /// offer relies on the browser's implicit rollback.
    Apply,
    /// Drop it: we are impolite and it collided with our own offer, which wins.
    Ignore,
}

impl Negotiation {
    pub fn new(me: &PeerId, peer: &PeerId) -> Self {
        Self {
            polite: me > peer,
            making_offer: false,
            ignore_offer: false,
            setting_remote_answer: false,
        }
    }

    pub fn is_polite(&self) -> bool {
        self.polite
    }

    /// `negotiationneeded` fired: we start making an offer. False when one is already being
    /// made (the browser fires again once the current one settles if still needed).
    pub fn start_offer(&mut self) -> bool {
        if self.making_offer {
            return false;
        }
        self.making_offer = true;
        true
    }

    /// Our offer was set locally and sent (or failed): no longer making one.
    pub fn offer_done(&mut self) {
        self.making_offer = false;
    }

    /// A description arrived. `signaling_stable` is whether our connection's signaling state
    /// is "stable" right now.
    pub fn on_description(&mut self, offer: bool, signaling_stable: bool) -> OnDescription {
        let ready_for_offer =
            !self.making_offer && (signaling_stable || self.setting_remote_answer);
        let collision = offer && !ready_for_offer;
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            return OnDescription::Ignore;
        }
        self.setting_remote_answer = !offer;
        OnDescription::Apply
    }

    /// The remote description was applied (or failed).
    pub fn remote_applied(&mut self) {
        self.setting_remote_answer = false;
    }

    /// Whether failures to add the peer's candidates are expected (they belong to an offer we
    /// ignored) and so not worth reporting.
    pub fn ignoring_offer(&self) -> bool {
        self.ignore_offer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(c: char) -> PeerId {
        PeerId::try_from(c.to_string().repeat(20)).unwrap()
    }

    #[test]
    fn the_larger_id_is_polite_and_both_agree() {
        let (a, b) = (pid('a'), pid('b'));
        assert!(!Negotiation::new(&a, &b).is_polite());
        assert!(Negotiation::new(&b, &a).is_polite());
    }

    /// Invariant: when both sides offer at once, exactly one offer is applied: the impolite
    /// side's.
    #[test]
    fn glare_the_impolite_offer_wins() {
        let (a, b) = (pid('a'), pid('b'));
        let mut impolite = Negotiation::new(&a, &b);
        let mut polite = Negotiation::new(&b, &a);
        assert!(impolite.start_offer() && polite.start_offer());
        // Each receives the other's offer while its own is outstanding (not stable).
        assert_eq!(impolite.on_description(true, false), OnDescription::Ignore);
        assert!(impolite.ignoring_offer());
        assert_eq!(polite.on_description(true, false), OnDescription::Apply);
        assert!(!polite.ignoring_offer());
    }

    #[test]
    fn offers_in_stable_state_and_answers_are_applied() {
        let (a, b) = (pid('a'), pid('b'));
        let mut n = Negotiation::new(&a, &b);
        assert_eq!(n.on_description(true, true), OnDescription::Apply);
        n.remote_applied();
        assert!(n.start_offer());
        assert!(!n.start_offer(), "one offer at a time");
        n.offer_done();
        assert!(n.start_offer());
        // The answer to our offer arrives while we are in have-local-offer.
        assert_eq!(n.on_description(false, false), OnDescription::Apply);
    }

    #[test]
    fn an_offer_right_after_we_apply_an_answer_is_not_a_collision() {
        let (a, b) = (pid('a'), pid('b'));
        let mut n = Negotiation::new(&a, &b);
        n.start_offer();
        n.offer_done();
        assert_eq!(n.on_description(false, false), OnDescription::Apply);
        // Still applying the answer (state not yet stable) when their new offer lands.
        assert_eq!(n.on_description(true, false), OnDescription::Apply);
    }
}
