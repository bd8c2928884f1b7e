//! A locked room: members admit or deny newcomers, no server involved.
//!
//! Any member may lock the room. The lock is a last-writer-wins register (a Lamport version,
//! ties to the greater peer id, as the chat timer) that carries the identity keys admitted
//! so far: everyone listed when it was locked, and whoever was let in since. A peer whose
//! hello verifies while the room is locked and whose key is not admitted is not listed: it
//! is told to wait (`Knock`), and every member it reached is asked (`Event::JoinRequest`).
//! The first decision a member sees for a key wins there; the deciding member signs it with
//! its identity key and sends it to every member and to the newcomer. Admitted, the newcomer
//! is listed everywhere at once; denied, every member refuses its connections for the rest of
//! the session.

use super::{ConnHandle, Event, Room};
use crate::identity::{self, fingerprint, HandshakeError, PublicKey};
use crate::ids::PeerId;
use crate::wire::{PeerMessage, MAX_LOCK_MEMBERS};

/// Keys a member remembers as admitted or denied (oldest forgotten first beyond it).
pub const MAX_ADMISSION_KEYS: usize = MAX_LOCK_MEMBERS;

/// Where we stand as a newcomer to a locked room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionStatus {
    /// A member told us the room is locked: we wait to be let in.
    Waiting,
    Admitted,
    Denied,
}

#[derive(Debug, Default)]
pub(super) struct Admission {
    pub locked: bool,
    version: Option<(u64, PeerId)>,
    admitted: Vec<PublicKey>,
    denied: Vec<PublicKey>,
    /// As a newcomer: what we were last told.
    status: Option<AdmissionStatus>,
}

fn push_capped(list: &mut Vec<PublicKey>, key: PublicKey) {
    if list.contains(&key) {
        return;
    }
    if list.len() >= MAX_ADMISSION_KEYS {
        list.remove(0);
    }
    list.push(key);
}

impl Room {
    /// Whether the room is locked.
    pub fn locked(&self) -> bool {
        self.admission.locked
    }

    /// Locks or unlocks the room for everyone. Unlocking lets everyone waiting in.
    pub fn set_locked(&mut self, locked: bool, now: u64) {
        let version = self.admission.version.as_ref().map_or(0, |(v, _)| *v) + 1;
        self.admission.version = Some((version, self.me.clone()));
        self.apply_lock(locked, now);
        let members = self.admission.admitted.iter().map(|k| k.to_vec()).collect();
        self.broadcast(&PeerMessage::Lock {
            locked,
            version,
            members,
        });
        let name = self.name.clone();
        self.event(Event::Lock {
            by: None,
            name,
            locked,
        });
    }

    /// Lets the waiting newcomer `peer` in, or not. The first decision wins.
    pub fn decide(&mut self, peer: &PeerId, admit: bool, now: u64) {
        let Some(key) = self
            .conns
            .values()
            .find(|c| c.knock.is_some() && c.peer() == Some(peer))
            .and_then(|c| c.auth.peer_key)
        else {
            return;
        };
        let me = self.trust.me().clone();
        let Some(keys) = &self.keys else {
            return;
        };
        let signature = identity::sign_admission(&me, &keys.info_hash, &key, admit);
        let msg = PeerMessage::Decision {
            key: key.to_vec(),
            admit,
            signature: signature.to_vec(),
        };
        self.broadcast(&msg);
        let name = self.name.clone();
        self.apply_decision(&key, admit, &msg, &name, now);
    }

    /// The room state a newly listed peer must know.
    pub(super) fn greet_admission(&mut self, h: ConnHandle) {
        if let (true, Some((version, _))) = (self.admission.locked, &self.admission.version) {
            let msg = PeerMessage::Lock {
                locked: true,
                version: *version,
                members: self.admission.admitted.iter().map(|k| k.to_vec()).collect(),
            };
            self.send_to(h, &msg);
        }
    }

    /// The peer on `h` has proven itself as `name`. `true` when it may be listed now;
    /// otherwise it waits at the door (or was refused).
    pub(super) fn admit_or_hold(&mut self, h: ConnHandle, name: &str) -> bool {
        let Some(c) = self.conns.get(&h) else {
            return false;
        };
        let Some(key) = c.auth.peer_key else {
            return false;
        };
        if self.admission.denied.contains(&key) {
            self.refuse(h, HandshakeError::NotAdmitted);
            return false;
        }
        if !self.admission.locked || self.admission.admitted.contains(&key) {
            return true;
        }
        let asked_before = c.knock.is_some();
        if let Some(c) = self.conns.get_mut(&h) {
            c.knock = Some(name.to_owned());
            // At the door: no more hellos, and no hello timeout.
            c.hello = None;
        }
        self.send_to(h, &PeerMessage::Knock);
        if !asked_before {
            if let Some(peer) = self.peer_of(h).cloned() {
                self.event(Event::JoinRequest {
                    peer,
                    name: name.to_owned(),
                    fingerprint: fingerprint(&key),
                });
            }
        }
        false
    }

    pub(super) fn on_lock(
        &mut self,
        peer: PeerId,
        locked: bool,
        version: u64,
        members: &[Vec<u8>],
        now: u64,
    ) {
        for k in members {
            if let Some(k) = identity::valid_public(k) {
                push_capped(&mut self.admission.admitted, k);
            }
        }
        let stamp = (version, peer.clone());
        if self.admission.version.as_ref().is_some_and(|v| *v >= stamp) {
            return;
        }
        self.admission.version = Some(stamp);
        if self.admission.locked == locked {
            return;
        }
        self.apply_lock(locked, now);
        let name = self.peer_name(&peer);
        self.event(Event::Lock {
            by: Some(peer),
            name,
            locked,
        });
    }

    /// Locking admits everyone listed (and us); unlocking lets everyone waiting in.
    fn apply_lock(&mut self, locked: bool, now: u64) {
        self.admission.locked = locked;
        if locked {
            let me = *self.trust.me().public();
            push_capped(&mut self.admission.admitted, me);
            let listed: Vec<PublicKey> = self
                .conns
                .values()
                .filter(|c| c.name.is_some())
                .filter_map(|c| c.auth.peer_key)
                .collect();
            for k in listed {
                push_capped(&mut self.admission.admitted, k);
            }
        } else {
            let waiting: Vec<ConnHandle> = self
                .conns
                .iter()
                .filter(|(_, c)| c.knock.is_some())
                .map(|(h, _)| *h)
                .collect();
            for h in waiting {
                self.let_in(h, now);
            }
        }
    }

    pub(super) fn on_knock(&mut self) {
        if self.admission.status != Some(AdmissionStatus::Waiting) {
            self.admission.status = Some(AdmissionStatus::Waiting);
            self.event(Event::Admission(AdmissionStatus::Waiting));
        }
    }

    pub(super) fn on_decision(&mut self, h: ConnHandle, peer: &PeerId, msg: PeerMessage, now: u64) {
        let PeerMessage::Decision {
            key,
            admit,
            signature,
        } = &msg
        else {
            return;
        };
        let (Some(keys), Some(signer), Some(key)) = (
            &self.keys,
            self.conns.get(&h).and_then(|c| c.auth.peer_key),
            identity::valid_public(key),
        ) else {
            return;
        };
        if !identity::check_admission(&signer, &keys.info_hash, &key, *admit, signature) {
            return self.bad_frame(h);
        }
        if key == *self.trust.me().public() {
            let status = if *admit {
                AdmissionStatus::Admitted
            } else {
                AdmissionStatus::Denied
            };
            if self.admission.status != Some(status) {
                self.admission.status = Some(status);
                self.event(Event::Admission(status));
            }
            return;
        }
        let by = self.peer_name(peer);
        self.apply_decision(&key, *admit, &msg, &by, now);
    }

    /// Applies the first decision seen for `key`; `by_name`: who made it.
    fn apply_decision(
        &mut self,
        key: &PublicKey,
        admit: bool,
        msg: &PeerMessage,
        by_name: &str,
        now: u64,
    ) {
        if self.admission.admitted.contains(key) || self.admission.denied.contains(key) {
            return;
        }
        if admit {
            push_capped(&mut self.admission.admitted, *key);
        } else {
            push_capped(&mut self.admission.denied, *key);
        }
        let waiting: Vec<(ConnHandle, PeerId, String)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.auth.peer_key.as_ref() == Some(key))
            .filter_map(|(h, c)| Some((*h, c.peer()?.clone(), c.knock.clone()?)))
            .collect();
        let mut newcomer = (None, String::new());
        for (h, peer, name) in waiting {
            // The newcomer hears the decision from every member that held it at the door.
            self.send_to(h, msg);
            if admit {
                self.let_in(h, now);
            } else {
                self.refuse(h, HandshakeError::NotAdmitted);
            }
            newcomer = (Some(peer), name);
        }
        self.event(Event::JoinDecided {
            peer: newcomer.0,
            name: newcomer.1,
            fingerprint: fingerprint(key),
            admitted: admit,
            by: by_name.to_owned(),
        });
    }

    /// Lists a newcomer that waited at the door.
    fn let_in(&mut self, h: ConnHandle, now: u64) {
        let Some(name) = self.conns.get_mut(&h).and_then(|c| c.knock.take()) else {
            return;
        };
        self.list_peer(h, name, now);
    }
}
