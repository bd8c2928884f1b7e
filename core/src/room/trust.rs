//! Identity in the room: the hello that proves each peer's key on its own connection, SAS
//! verification, devices remembered by the shell, and why a peer was refused
//! (see [`crate::identity`] for the cryptography).

use super::{ConnHandle, Event, Room};
use crate::identity::{
    self, fingerprint, HandshakeError, HelloView, Identity, ProofIn, PublicKey, SasError, SasView,
    NONCE_LEN,
};
use crate::ids::PeerId;
use crate::wire::{self, PeerMessage};
use std::collections::VecDeque;

/// Refusals remembered so a peer refused again for the same reason (the mesh retries every
/// few seconds) is told once.
pub const MAX_REFUSALS_SHOWN: usize = 64;
/// Keys verified this session (remembered by name to notice a verified peer coming back with
/// another key).
pub const MAX_VERIFIED: usize = 256;
/// Remembered devices a shell may hand the engine.
pub const MAX_DEVICES: usize = 256;

/// The hello and verification state of one connection.
#[derive(Debug, Default)]
pub(super) struct ConnAuth {
    /// Each side's nonce for this connection: a hash of its own SDP (fresh ICE credentials
    /// and certificate), which both sides hold once the offer and answer are applied.
    pub local_nonce: [u8; NONCE_LEN],
    pub remote_nonce: [u8; NONCE_LEN],
    /// DTLS fingerprints from the applied SDPs: our end, the peer's end.
    pub local_fp: String,
    pub remote_fp: String,
    /// From the peer's verified proof.
    pub peer_key: Option<PublicKey>,
    pub sas: Option<SasStep>,
}

/// Where a verification stands on one connection.
#[derive(Debug, Clone)]
pub(super) enum SasStep {
    /// We started and committed to `r`.
    Committed { r: [u8; NONCE_LEN] },
    /// The peer started with `commitment`; we sent `r`.
    Answered {
        commitment: [u8; 32],
        r: [u8; NONCE_LEN],
    },
    /// The codes are on both screens; each side's answer once given.
    Shown {
        mine: Option<bool>,
        theirs: Option<bool>,
    },
}

/// How a peer stands, for its entry in the peer list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTrust {
    /// The short fingerprint shown beside its name.
    pub fingerprint: String,
    /// Its identity key (what a shell remembers for a device).
    pub key: PublicKey,
    /// Verified by comparing codes, in this session or as a remembered device.
    pub verified: bool,
    /// The label of the remembered device this key belongs to.
    pub device: Option<String>,
}

/// The room's identity state.
pub(super) struct Trust {
    /// Made on first use ([`Room::prepare_identity`]): a scalar multiplication in the
    /// browser's wasm costs milliseconds, which a join should spend while it waits on the
    /// network, not before its first packet.
    me: Option<Identity>,
    /// Drawn with the room's seed for the identity made on first use.
    secret: [u8; identity::SECRET_LEN],
    /// Keys verified this session, with the name the peer had then.
    pub(super) verified: VecDeque<(PublicKey, String)>,
    /// Devices the shell remembers: key and label.
    devices: Vec<(PublicKey, String)>,
    refusals: VecDeque<(PeerId, HandshakeError)>,
}

impl Trust {
    pub fn new(secret: [u8; identity::SECRET_LEN]) -> Self {
        Self {
            me: None,
            secret,
            verified: VecDeque::new(),
            devices: Vec::new(),
            refusals: VecDeque::new(),
        }
    }

    /// Our identity, made now if it was not yet.
    pub fn me(&mut self) -> &Identity {
        let secret = self.secret;
        self.me.get_or_insert_with(|| {
            // A secret that is no valid scalar (chance 2^-128) is hashed again.
            let mut next = secret;
            Identity::generate(|| {
                let out = next;
                next = identity::rehash(&next);
                out
            })
        })
    }

    fn device(&self, key: &PublicKey) -> Option<&str> {
        self.devices
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| l.as_str())
    }

    fn is_verified(&self, key: &PublicKey) -> bool {
        self.device(key).is_some() || self.verified.iter().any(|(k, _)| k == key)
    }

    fn trust_of(&self, key: &PublicKey) -> PeerTrust {
        PeerTrust {
            fingerprint: fingerprint(key),
            key: *key,
            verified: self.is_verified(key),
            device: self.device(key).map(str::to_owned),
        }
    }
}

impl Room {
    /// Uses a kept identity instead of this session's fresh one. Call before any connection
    /// opens (right after creating the room).
    pub fn set_identity(&mut self, me: Identity) {
        self.trust.me = Some(me);
    }

    /// Makes this session's identity now (a shell calls it once it has sent its first
    /// announce, so the work overlaps the network); otherwise it is made on first use.
    pub fn prepare_identity(&mut self) {
        self.trust.me();
    }

    /// Our identity's secret, for a device that keeps it.
    pub fn identity_secret(&mut self) -> [u8; identity::SECRET_LEN] {
        self.trust.me().secret()
    }

    /// Our identity's public key and short fingerprint.
    pub fn identity(&mut self) -> (PublicKey, String) {
        let key = *self.trust.me().public();
        (key, fingerprint(&key))
    }

    /// A device remembered by the shell: a peer with this key is verified from the start,
    /// shown with `label`.
    pub fn trust_device(&mut self, key: PublicKey, label: &str) {
        let label = wire::sanitize_name(label, "Your device");
        self.trust.devices.retain(|(k, _)| *k != key);
        if self.trust.devices.len() < MAX_DEVICES {
            self.trust.devices.push((key, label));
        }
        self.refresh_trust(|k| *k == key);
    }

    /// The shell forgot a device: its peers are no longer verified unless compared here.
    pub fn forget_device(&mut self, key: &PublicKey) {
        self.trust.devices.retain(|(k, _)| k != key);
        self.refresh_trust(|k| k == key);
    }

    /// Drops a listed peer for the rest of the session (after a verification failed, the user
    /// chose to disconnect it).
    pub fn disconnect(&mut self, peer: &PeerId) {
        if let Some(h) = self.greeted_conn(peer) {
            self.ban(h, "disconnected: its verification failed");
        }
    }

    /// The certificate the transport of `h` actually holds for the peer (`algorithm`, `hex`,
    /// as its stats report it). A stack that checks it against the SDP (all do) makes this a
    /// second opinion; one that differs ends the connection.
    pub fn handle_transport_certificate(&mut self, h: ConnHandle, algorithm: &str, hex: &str) {
        let Some(c) = self.conns.get(&h) else {
            return;
        };
        let seen = identity::certificate_fingerprint(algorithm, hex);
        if c.auth.remote_fp.is_empty() || seen == c.auth.remote_fp {
            return;
        }
        if c.name.is_some() {
            self.ban(h, &HandshakeError::Certificate.to_string());
        } else {
            self.refuse(h, HandshakeError::Certificate);
        }
    }

    /// How a listed peer stands.
    pub fn peer_trust(&self, peer: &PeerId) -> Option<PeerTrust> {
        let c = self.conns.get(&self.greeted_conn(peer)?)?;
        c.auth.peer_key.as_ref().map(|k| self.trust.trust_of(k))
    }

    /// Starts verifying `peer`: both sides get [`Event::Sas`] once the codes are ready.
    pub fn verify(&mut self, peer: &PeerId) {
        let Some(h) = self.greeted_conn(peer) else {
            return;
        };
        let r: [u8; NONCE_LEN] = self.rng.bytes();
        if let Some(c) = self.conns.get_mut(&h) {
            c.auth.sas = Some(SasStep::Committed { r });
        }
        let commitment = identity::sas_commitment(&r);
        self.send_to(h, &PeerMessage::SasCommit { commitment });
    }

    /// The user compared the codes with `peer`: `matched` for "They match".
    pub fn confirm_sas(&mut self, peer: &PeerId, matched: bool) {
        let Some(h) = self.greeted_conn(peer) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&h) {
            match &mut c.auth.sas {
                Some(SasStep::Shown { mine, .. }) if mine.is_none() => *mine = Some(matched),
                // Cancelled before the codes were shown: the peer stops too.
                Some(_) if !matched => c.auth.sas = None,
                _ => return,
            }
        }
        self.send_to(h, &PeerMessage::SasDone { matched });
        self.settle_sas(h);
    }

    /// Tells the shell the trust of every listed peer whose key `which` selects.
    fn refresh_trust(&mut self, which: impl Fn(&PublicKey) -> bool) {
        let changed: Vec<(PeerId, PeerTrust)> = self
            .conns
            .values()
            .filter(|c| c.name.is_some())
            .filter_map(|c| {
                let key = c.auth.peer_key.as_ref().filter(|k| which(k))?;
                Some((c.peer()?.clone(), self.trust.trust_of(key)))
            })
            .collect();
        for (peer, trust) in changed {
            self.event(Event::PeerTrust { peer, trust });
        }
    }

    // ---- the hello ----

    /// Our proof, alone on the connection until the peer's has verified. `heard`: we have
    /// verified the peer (so it need not answer).
    pub(super) fn send_hello(&mut self, h: ConnHandle, heard: bool) {
        let me = self.trust.me().clone();
        let Some(keys) = &self.keys else {
            return;
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Some(peer) = c.mesh.as_ref().map(|m| &m.peer) else {
            return;
        };
        c.hello_name.clone_from(&self.name);
        let view = HelloView {
            id_a: self.me.as_str(),
            id_b: peer.as_str(),
            key_a: me.public(),
            nonce_a: &c.auth.local_nonce,
            nonce_b: &c.auth.remote_nonce,
            fp_a: &c.auth.local_fp,
            fp_b: &c.auth.remote_fp,
            name: &self.name,
        };
        let (signature, mac) = identity::prove(&me, &keys.auth, &view);
        let proof = PeerMessage::Proof {
            identity: me.public().to_vec(),
            nonce: c.auth.local_nonce,
            name: self.name.clone(),
            fp_signer: c.auth.local_fp.clone(),
            fp_receiver: c.auth.remote_fp.clone(),
            nonce_receiver: c.auth.remote_nonce,
            signature: signature.to_vec(),
            mac: mac.to_vec(),
            heard,
        };
        self.send_to(h, &proof);
    }

    /// The peer's proof: `Some(name)` once it verifies (the peer may be listed), `None` when
    /// the connection was refused. A proof from a peer that has not verified us yet is
    /// answered with ours; ours then says we heard it, so two peers never answer each other
    /// forever.
    pub(super) fn check_peer_proof(
        &mut self,
        h: ConnHandle,
        proof: &PeerMessage,
    ) -> Option<String> {
        let PeerMessage::Proof {
            identity,
            nonce,
            name,
            fp_signer,
            fp_receiver,
            nonce_receiver,
            signature,
            mac,
            heard,
        } = proof
        else {
            return None;
        };
        let Some(key) = identity::valid_public(identity) else {
            self.refuse(h, HandshakeError::BadKey);
            return None;
        };
        if key == *self.trust.me().public() {
            self.refuse(h, HandshakeError::Reflected);
            return None;
        }
        let keys = self.keys.as_ref()?;
        let c = self.conns.get(&h)?;
        let peer = c.mesh.as_ref().map(|m| &m.peer)?;
        if c.auth.peer_key.is_some_and(|k| k != key) {
            self.refuse(h, HandshakeError::Changed);
            return None;
        }
        let view = HelloView {
            id_a: peer.as_str(),
            id_b: self.me.as_str(),
            key_a: &key,
            nonce_a: &c.auth.remote_nonce,
            nonce_b: &c.auth.local_nonce,
            fp_a: &c.auth.remote_fp,
            fp_b: &c.auth.local_fp,
            name,
        };
        // The signer's nonce is its SDP's, which we applied: another connection's differs.
        let got = ProofIn {
            fp_signer,
            fp_receiver,
            nonce_signer: nonce,
            nonce_receiver,
            signature,
            mac,
        };
        if let Err(e) = identity::check_proof(&keys.auth, &view, &got) {
            self.refuse(h, e);
            return None;
        }
        if let Some(c) = self.conns.get_mut(&h) {
            c.auth.peer_key = Some(key);
        }
        if !heard {
            self.send_hello(h, true);
        }
        Some(name.clone())
    }

    /// The peer on `h` is listed: tell its trust, and notice a verified name with a new key.
    pub(super) fn announce_trust(&mut self, h: ConnHandle, peer: &PeerId, name: &str) {
        let Some(key) = self.conns.get(&h).and_then(|c| c.auth.peer_key) else {
            return;
        };
        let trust = self.trust.trust_of(&key);
        if !trust.verified
            && self
                .trust
                .verified
                .iter()
                .any(|(k, n)| n == name && *k != key)
        {
            self.event(Event::Notice(format!(
                "{name} has a new identity key ({}): not verified",
                trust.fingerprint
            )));
        }
        self.event(Event::PeerTrust {
            peer: peer.clone(),
            trust,
        });
    }

    /// Closes a connection whose hello failed, saying why (once per peer and reason).
    pub(super) fn refuse(&mut self, h: ConnHandle, why: HandshakeError) {
        let Some(c) = self.conns.get(&h) else {
            return;
        };
        let peer = c.peer().cloned();
        let fingerprint = c.auth.peer_key.as_ref().map(fingerprint);
        self.close_conn(h, None);
        let Some(peer) = peer else {
            return;
        };
        if self
            .trust
            .refusals
            .iter()
            .any(|(p, e)| *p == peer && *e == why)
        {
            return;
        }
        if self.trust.refusals.len() >= MAX_REFUSALS_SHOWN {
            self.trust.refusals.pop_front();
        }
        self.trust.refusals.push_back((peer, why.clone()));
        self.event(Event::Refused {
            fingerprint,
            reason: why.to_string(),
        });
    }

    // ---- verification ----

    pub(super) fn on_sas(&mut self, h: ConnHandle, peer: &PeerId, msg: PeerMessage) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        match (msg, c.auth.sas.clone()) {
            (PeerMessage::SasCommit { commitment }, step) => {
                // Both started at once: the greater peer id stays the starter.
                if matches!(step, Some(SasStep::Committed { .. }))
                    && self.me.as_str() > peer.as_str()
                {
                    return;
                }
                let r: [u8; NONCE_LEN] = self.rng.bytes();
                if let Some(c) = self.conns.get_mut(&h) {
                    c.auth.sas = Some(SasStep::Answered { commitment, r });
                }
                self.send_to(h, &PeerMessage::SasNonce { r });
            }
            (PeerMessage::SasNonce { r: theirs }, Some(SasStep::Committed { r })) => {
                self.send_to(h, &PeerMessage::SasReveal { r });
                self.show_sas(h, peer, true, &r, &theirs);
            }
            (PeerMessage::SasReveal { r: theirs }, Some(SasStep::Answered { commitment, r })) => {
                if identity::sas_commitment(&theirs) != commitment {
                    c.auth.sas = None;
                    self.send_to(h, &PeerMessage::SasDone { matched: false });
                    return self.sas_failed(peer, &SasError::Commitment.to_string());
                }
                self.show_sas(h, peer, false, &theirs, &r);
            }
            (PeerMessage::SasDone { matched }, Some(SasStep::Shown { mine, .. })) => {
                c.auth.sas = Some(SasStep::Shown {
                    mine,
                    theirs: Some(matched),
                });
                self.settle_sas(h);
            }
            (PeerMessage::SasDone { matched: false }, Some(_)) => {
                c.auth.sas = None;
                self.sas_failed(peer, "they cancelled");
            }
            // Anything else is out of order: a stale step after a cancel, ignored.
            _ => {}
        }
    }

    /// Both contributions are in: the codes as this side sees them.
    fn show_sas(
        &mut self,
        h: ConnHandle,
        peer: &PeerId,
        started: bool,
        r_s: &[u8; NONCE_LEN],
        r_r: &[u8; NONCE_LEN],
    ) {
        let me = *self.trust.me().public();
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Some(peer_key) = c.auth.peer_key else {
            return;
        };
        let (mine, theirs) = (
            (self.me.as_str(), &me, &c.auth.local_fp),
            (peer.as_str(), &peer_key, &c.auth.remote_fp),
        );
        let (s, r) = if started {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        let sas = identity::sas(&SasView {
            id_s: s.0,
            id_r: r.0,
            key_s: s.1,
            key_r: r.1,
            fp_s: s.2,
            fp_r: r.2,
            r_s,
            r_r,
        });
        c.auth.sas = Some(SasStep::Shown {
            mine: None,
            theirs: None,
        });
        let name = c.name.clone().unwrap_or_default();
        self.event(Event::Sas {
            peer: peer.clone(),
            name,
            sas,
        });
    }

    /// After either answer: verified when both said they match, a loud warning when either
    /// said they do not.
    fn settle_sas(&mut self, h: ConnHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let Some(SasStep::Shown { mine, theirs }) = c.auth.sas else {
            return;
        };
        let (Some(peer), Some(key)) = (c.peer().cloned(), c.auth.peer_key) else {
            return;
        };
        let name = c.name.clone().unwrap_or_default();
        match (mine, theirs) {
            (Some(false), _) => {
                c.auth.sas = None;
                self.sas_failed(&peer, "you said the codes do not match");
            }
            (_, Some(false)) => {
                c.auth.sas = None;
                self.sas_failed(&peer, &format!("{name} says the codes do not match"));
            }
            (Some(true), Some(true)) => {
                c.auth.sas = None;
                if self.trust.verified.len() >= MAX_VERIFIED {
                    self.trust.verified.pop_front();
                }
                self.trust.verified.push_back((key, name));
                self.event(Event::VerifyEnd {
                    peer: peer.clone(),
                    matched: true,
                    reason: String::new(),
                });
                self.refresh_trust(|k| *k == key);
            }
            _ => {}
        }
    }

    fn sas_failed(&mut self, peer: &PeerId, reason: &str) {
        self.event(Event::VerifyEnd {
            peer: peer.clone(),
            matched: false,
            reason: reason.to_owned(),
        });
    }
}
