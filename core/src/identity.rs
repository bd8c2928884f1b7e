//! Peer identity: a P-256 key pair per peer, a handshake that binds it to one WebRTC
//! connection, and short authentication strings (SAS) people compare to verify each other.
//!
//! # The hello (every connection, automatic)
//! As its connection opens, each side sends a [`Proof`](crate::wire::PeerMessage::Proof): its
//! identity public key, and an ECDSA signature and an HMAC under the room's `auth` key over the
//! [`transcript`]: both peer ids, the signer's identity key, each side's nonce for this
//! connection, the DTLS fingerprints of both ends as the signer's applied SDPs name them, and
//! the signer's display name. A side's nonce is [`sdp_nonce`] of its own SDP, which carries
//! fresh ICE credentials and a fresh certificate for every connection and which the other side
//! applied too: both nonces are known to both sides as the connection opens, so the hello costs
//! no round trip of its own. The receiver rebuilds the transcript from its own view and checks,
//! in order: the fingerprints (a relay that terminates DTLS on each side shows each side a
//! different certificate), the nonces (a proof from another connection), the MAC (the room
//! name), the signature (the identity key). Nothing but the hello is accepted before it holds.
//!
//! # Verification (on demand)
//! As Matrix's `m.sas.v1`, the side that starts commits to its random contribution before
//! seeing the other's: `SasCommit(H(r_a))`, `SasNonce(r_b)`, `SasReveal(r_a)`. The SAS is
//! HKDF of `r_a ‖ r_b` with both identity keys, both fingerprints and both peer ids as `info`,
//! each side using what it saw itself. A relay that signed its own hellos holds different keys
//! and fingerprints on each side, and cannot steer the codes into agreement: it must fix its
//! own contribution to one side before it learns the other side's.

use crate::seal::Key;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// SEC1 compressed P-256 public key length.
pub const PUBLIC_LEN: usize = 33;
/// P-256 secret scalar length.
pub const SECRET_LEN: usize = 32;
/// ECDSA P-256 signature length (r ‖ s).
pub const SIGNATURE_LEN: usize = 64;
/// HMAC-SHA256 tag length.
pub const MAC_LEN: usize = 32;
/// Handshake and SAS nonce length: 128 bits, never repeated in practice.
pub const NONCE_LEN: usize = 16;
/// Longest DTLS fingerprint accepted from an SDP (`sha-512` in hex with colons is 191).
pub const MAX_FINGERPRINT_BYTES: usize = 200;
/// Emoji in a SAS (6 bits each: 42 bits).
pub const SAS_EMOJI: usize = 7;
/// The SAS number has this many decimal digits (about 20 bits more, independent of the emoji).
pub const SAS_DIGITS: u32 = 6;

const HELLO_LABEL: &[u8] = b"hush/v1/hello";
const SDP_NONCE_LABEL: &[u8] = b"hush/v1/sdp-nonce";
const SAS_COMMIT_LABEL: &[u8] = b"hush/v1/sas-commit";
const SAS_LABEL: &[u8] = b"hush/v1/sas";
const ADMISSION_LABEL: &[u8] = b"hush/v1/admission";

/// A public key as it travels and is compared.
pub type PublicKey = [u8; PUBLIC_LEN];

/// Our identity: a P-256 signing key. Not `Debug`, so the secret never lands in a log.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    public: PublicKey,
}

/// Why a peer's hello was refused: shown to the user, so each says what it means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("someone is in the middle: the connection's certificates differ from the peer's")]
    Fingerprint,
    #[error("its hello was replayed from another connection")]
    Replayed,
    #[error("it sent our own hello back")]
    Reflected,
    #[error("wrong room key")]
    RoomKey,
    #[error("bad signature")]
    Signature,
    #[error("its identity key is not a valid P-256 key")]
    BadKey,
    #[error("its identity changed during the connection")]
    Changed,
    #[error("the handshake did not complete")]
    Timeout,
    #[error("not admitted to the locked room")]
    NotAdmitted,
    #[error("the connection's certificate is not the one its peer announced")]
    Certificate,
}

/// Why a verification ended without a match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SasError {
    #[error("the revealed value does not match its commitment")]
    Commitment,
}

impl Identity {
    /// A fresh identity from 32 random bytes (`None` in the 2^-128 case they are not a valid
    /// scalar; the caller draws again).
    pub fn from_secret(secret: &[u8; SECRET_LEN]) -> Option<Self> {
        let key = SigningKey::from_slice(secret).ok()?;
        let public = public_bytes(key.verifying_key());
        Some(Self { key, public })
    }

    /// A fresh identity drawn from `draw` (retried on the negligible invalid scalars).
    pub fn generate(mut draw: impl FnMut() -> [u8; SECRET_LEN]) -> Self {
        loop {
            if let Some(id) = Self::from_secret(&draw()) {
                return id;
            }
        }
    }

    /// The secret scalar, for a device that keeps its identity.
    pub fn secret(&self) -> [u8; SECRET_LEN] {
        let mut out = [0u8; SECRET_LEN];
        out.copy_from_slice(&self.key.to_bytes());
        out
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let sig: Signature = self.key.sign(msg);
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(&sig.to_bytes());
        out
    }
}

fn public_bytes(key: &VerifyingKey) -> PublicKey {
    let point = key.to_sec1_point(true);
    let mut out = [0u8; PUBLIC_LEN];
    if point.as_bytes().len() == PUBLIC_LEN {
        out.copy_from_slice(point.as_bytes());
    }
    out
}

/// The next candidate when 32 bytes are no valid secret scalar.
pub fn rehash(secret: &[u8; SECRET_LEN]) -> [u8; SECRET_LEN] {
    Sha256::digest(secret).into()
}

/// The short fingerprint shown beside a name: 40 bits of SHA-256 of the public key in
/// Crockford base32, as `XXXX-XXXX` (two "Alice"s differ; not a security code — that is the
/// SAS).
pub fn fingerprint(public: &PublicKey) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let h = Sha256::digest(public);
    let mut bits = 0u64;
    for b in &h[..5] {
        bits = (bits << 8) | u64::from(*b);
    }
    let mut out = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        let v = (bits >> (35 - 5 * i)) & 31;
        out.push(char::from(ALPHABET[v as usize]));
    }
    out
}

/// The DTLS fingerprint an SDP names (`a=fingerprint:` at session or media level; the first),
/// normalised to `algorithm HEX`: what the handshake binds. Empty when there is none (such an
/// SDP cannot set up DTLS at all, so nothing connects with it).
pub fn dtls_fingerprint(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|v| {
            let mut it = v.split_whitespace();
            certificate_fingerprint(it.next().unwrap_or(""), it.next().unwrap_or(""))
        })
        .unwrap_or_default()
}

/// A certificate fingerprint as the hello compares it: `algorithm HEX` (what a transport
/// reports, e.g. the browser's `RTCCertificateStats`, in the form SDPs use).
pub fn certificate_fingerprint(algorithm: &str, hex: &str) -> String {
    let mut s = format!(
        "{} {}",
        algorithm.to_ascii_lowercase(),
        hex.to_ascii_uppercase()
    );
    s.truncate(MAX_FINGERPRINT_BYTES);
    s
}

/// A side's hello nonce for one connection: a hash of the SDP it sent (see the module docs).
pub fn sdp_nonce(sdp: &str) -> [u8; NONCE_LEN] {
    let mut h = Sha256::new();
    h.update(SDP_NONCE_LABEL);
    h.update(sdp.as_bytes());
    let d = h.finalize();
    let mut out = [0u8; NONCE_LEN];
    out.copy_from_slice(&d[..NONCE_LEN]);
    out
}

/// One side's view of a connection, from the signer's side: `*_a` is the signer.
pub struct HelloView<'a> {
    pub id_a: &'a str,
    pub id_b: &'a str,
    pub key_a: &'a PublicKey,
    pub nonce_a: &'a [u8; NONCE_LEN],
    pub nonce_b: &'a [u8; NONCE_LEN],
    pub fp_a: &'a str,
    pub fp_b: &'a str,
    pub name: &'a str,
}

/// `parts`, each behind its length (32-bit big-endian): no two lists encode alike.
fn length_prefixed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The signed bytes: every field length-prefixed, so no two views encode alike.
pub fn transcript(v: &HelloView<'_>) -> Vec<u8> {
    length_prefixed(&[
        HELLO_LABEL,
        v.id_a.as_bytes(),
        v.id_b.as_bytes(),
        v.key_a,
        v.nonce_a,
        v.nonce_b,
        v.fp_a.as_bytes(),
        v.fp_b.as_bytes(),
        v.name.as_bytes(),
    ])
}

/// HMAC-SHA256 of `msg` under the room's auth key, ready to finish or verify (`None` never
/// happens: HMAC takes keys of any length).
fn mac(key: &Key, msg: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).ok()?;
    m.update(msg);
    Some(m)
}

/// The proof a signer sends: (signature, MAC).
pub fn prove(
    me: &Identity,
    auth: &Key,
    view: &HelloView<'_>,
) -> ([u8; SIGNATURE_LEN], [u8; MAC_LEN]) {
    let t = transcript(view);
    let tag = mac(auth, &t).map_or([0; MAC_LEN], |m| m.finalize().into_bytes().into());
    (me.sign(&t), tag)
}

/// What a receiver got in a proof.
pub struct ProofIn<'a> {
    /// The fingerprints the signer says it saw: its own end, then ours.
    pub fp_signer: &'a str,
    pub fp_receiver: &'a str,
    /// The signer's nonce, and ours as the signer saw it.
    pub nonce_signer: &'a [u8; NONCE_LEN],
    pub nonce_receiver: &'a [u8; NONCE_LEN],
    pub signature: &'a [u8],
    pub mac: &'a [u8],
}

/// Checks a peer's proof against our own view (`view`, with the peer as signer `a`).
pub fn check_proof(
    auth: &Key,
    view: &HelloView<'_>,
    got: &ProofIn<'_>,
) -> Result<(), HandshakeError> {
    if got.fp_signer != view.fp_a || got.fp_receiver != view.fp_b {
        return Err(HandshakeError::Fingerprint);
    }
    if got.nonce_signer != view.nonce_a || got.nonce_receiver != view.nonce_b {
        return Err(HandshakeError::Replayed);
    }
    let t = transcript(view);
    mac(auth, &t)
        .ok_or(HandshakeError::RoomKey)?
        .verify_slice(got.mac)
        .map_err(|_| HandshakeError::RoomKey)?;
    let key = VerifyingKey::from_sec1_bytes(view.key_a).map_err(|_| HandshakeError::BadKey)?;
    let sig = Signature::from_slice(got.signature).map_err(|_| HandshakeError::Signature)?;
    key.verify(&t, &sig).map_err(|_| HandshakeError::Signature)
}

/// The bytes a member signs to admit or deny a newcomer's key in a locked room.
fn admission_bytes(room: &str, key: &PublicKey, admit: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(ADMISSION_LABEL.len() + room.len() + PUBLIC_LEN + 1);
    out.extend_from_slice(ADMISSION_LABEL);
    out.extend_from_slice(&(room.len() as u32).to_be_bytes());
    out.extend_from_slice(room.as_bytes());
    out.extend_from_slice(key);
    out.push(u8::from(admit));
    out
}

/// A member's signed decision on a newcomer (`room`: the rendezvous id, so a decision made
/// in one room means nothing in another).
pub fn sign_admission(
    me: &Identity,
    room: &str,
    key: &PublicKey,
    admit: bool,
) -> [u8; SIGNATURE_LEN] {
    me.sign(&admission_bytes(room, key, admit))
}

/// Whether `signer` made this decision.
pub fn check_admission(
    signer: &PublicKey,
    room: &str,
    key: &PublicKey,
    admit: bool,
    signature: &[u8],
) -> bool {
    let (Ok(vk), Ok(sig)) = (
        VerifyingKey::from_sec1_bytes(signer),
        Signature::from_slice(signature),
    ) else {
        return false;
    };
    vk.verify(&admission_bytes(room, key, admit), &sig).is_ok()
}

/// Whether `public` is a valid P-256 point in compressed form (a hello's key, a lock's
/// members, a decision's newcomer).
pub fn valid_public(public: &[u8]) -> Option<PublicKey> {
    let key = VerifyingKey::from_sec1_bytes(public).ok()?;
    let out = public_bytes(&key);
    (out[..] == *public).then_some(out)
}

/// The commitment to a SAS contribution.
pub fn sas_commitment(r: &[u8; NONCE_LEN]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SAS_COMMIT_LABEL);
    h.update(r);
    h.finalize().into()
}

/// One side's view of a verification, `*_s` the side that started it.
pub struct SasView<'a> {
    pub id_s: &'a str,
    pub id_r: &'a str,
    pub key_s: &'a PublicKey,
    pub key_r: &'a PublicKey,
    pub fp_s: &'a str,
    pub fp_r: &'a str,
    pub r_s: &'a [u8; NONCE_LEN],
    pub r_r: &'a [u8; NONCE_LEN],
}

/// The codes people compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sas {
    /// Indices into [`SAS_EMOJI_TABLE`].
    pub emoji: [u8; SAS_EMOJI],
    /// A number of [`SAS_DIGITS`] digits.
    pub number: u32,
}

/// The SAS of a verification as one side saw it.
pub fn sas(v: &SasView<'_>) -> Sas {
    let mut ikm = [0u8; 2 * NONCE_LEN];
    ikm[..NONCE_LEN].copy_from_slice(v.r_s);
    ikm[NONCE_LEN..].copy_from_slice(v.r_r);
    let info = length_prefixed(&[
        SAS_LABEL,
        v.id_s.as_bytes(),
        v.id_r.as_bytes(),
        v.key_s,
        v.key_r,
        v.fp_s.as_bytes(),
        v.fp_r.as_bytes(),
    ]);
    let hk = hkdf::Hkdf::<Sha256>::new(None, &ikm);
    let mut okm = [0u8; 10];
    // 10 bytes is far below HKDF-SHA256's output limit.
    let _ = hk.expand(&info, &mut okm);
    let mut bits = 0u64;
    for b in &okm[..6] {
        bits = (bits << 8) | u64::from(*b);
    }
    let mut emoji = [0u8; SAS_EMOJI];
    for (i, e) in emoji.iter_mut().enumerate() {
        *e = ((bits >> (42 - 6 * i)) & 63) as u8;
    }
    let n = u32::from_be_bytes([okm[6], okm[7], okm[8], okm[9]]);
    Sas {
        emoji,
        number: n % 10u32.pow(SAS_DIGITS),
    }
}

impl Sas {
    /// The emoji to show, with their words, in order.
    pub fn emoji_words(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.emoji
            .iter()
            .filter_map(|i| SAS_EMOJI_TABLE.get(usize::from(*i)).copied())
    }
}

/// The 64 SAS emoji and their names, as Matrix's `m.sas.v1` lists them (people who verified
/// in a Matrix client know them).
pub const SAS_EMOJI_TABLE: [(&str, &str); 64] = [
    ("🐶", "Dog"),
    ("🐱", "Cat"),
    ("🦁", "Lion"),
    ("🐎", "Horse"),
    ("🦄", "Unicorn"),
    ("🐷", "Pig"),
    ("🐘", "Elephant"),
    ("🐰", "Rabbit"),
    ("🐼", "Panda"),
    ("🐓", "Rooster"),
    ("🐧", "Penguin"),
    ("🐢", "Turtle"),
    ("🐟", "Fish"),
    ("🐙", "Octopus"),
    ("🦋", "Butterfly"),
    ("🌷", "Flower"),
    ("🌳", "Tree"),
    ("🌵", "Cactus"),
    ("🍄", "Mushroom"),
    ("🌏", "Globe"),
    ("🌙", "Moon"),
    ("☁️", "Cloud"),
    ("🔥", "Fire"),
    ("🍌", "Banana"),
    ("🍎", "Apple"),
    ("🍓", "Strawberry"),
    ("🌽", "Corn"),
    ("🍕", "Pizza"),
    ("🎂", "Cake"),
    ("❤️", "Heart"),
    ("😀", "Smiley"),
    ("🤖", "Robot"),
    ("🎩", "Hat"),
    ("👓", "Glasses"),
    ("🔧", "Spanner"),
    ("🎅", "Santa"),
    ("👍", "Thumbs Up"),
    ("☂️", "Umbrella"),
    ("⌛", "Hourglass"),
    ("⏰", "Clock"),
    ("🎁", "Gift"),
    ("💡", "Light Bulb"),
    ("📕", "Book"),
    ("✏️", "Pencil"),
    ("📎", "Paperclip"),
    ("✂️", "Scissors"),
    ("🔒", "Lock"),
    ("🔑", "Key"),
    ("🔨", "Hammer"),
    ("☎️", "Telephone"),
    ("🏁", "Flag"),
    ("🚂", "Train"),
    ("🚲", "Bicycle"),
    ("✈️", "Aeroplane"),
    ("🚀", "Rocket"),
    ("🏆", "Trophy"),
    ("⚽", "Ball"),
    ("🎸", "Guitar"),
    ("🎺", "Trumpet"),
    ("🔔", "Bell"),
    ("⚓", "Anchor"),
    ("🎧", "Headphones"),
    ("📁", "Folder"),
    ("📌", "Pin"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seed: u8) -> Identity {
        Identity::from_secret(&[seed; SECRET_LEN]).expect("valid scalar")
    }

    struct Side {
        id: Identity,
        peer: &'static str,
        nonce: [u8; NONCE_LEN],
        fp: &'static str,
    }

    fn sides() -> (Side, Side) {
        (
            Side {
                id: id(1),
                peer: "A",
                nonce: [1; NONCE_LEN],
                fp: "sha-256 AA",
            },
            Side {
                id: id(2),
                peer: "B",
                nonce: [2; NONCE_LEN],
                fp: "sha-256 BB",
            },
        )
    }

    fn view<'a>(s: &'a Side, r: &'a Side, fp_s: &'a str, fp_r: &'a str) -> HelloView<'a> {
        HelloView {
            id_a: s.peer,
            id_b: r.peer,
            key_a: s.id.public(),
            nonce_a: &s.nonce,
            nonce_b: &r.nonce,
            fp_a: fp_s,
            fp_b: fp_r,
            name: "Ada",
        }
    }

    fn proof_of<'a>(s: &'a Side, r: &'a Side, sig: &'a [u8], mac: &'a [u8]) -> ProofIn<'a> {
        ProofIn {
            fp_signer: s.fp,
            fp_receiver: r.fp,
            nonce_signer: &s.nonce,
            nonce_receiver: &r.nonce,
            signature: sig,
            mac,
        }
    }

    fn auth() -> Key {
        Key([7; 32])
    }

    #[test]
    fn an_honest_proof_verifies() {
        let (a, b) = sides();
        let (sig, mac) = prove(&a.id, &auth(), &view(&a, &b, a.fp, b.fp));
        assert_eq!(
            check_proof(
                &auth(),
                &view(&a, &b, a.fp, b.fp),
                &proof_of(&a, &b, &sig, &mac)
            ),
            Ok(())
        );
    }

    #[test]
    fn a_relay_in_the_middle_shows_other_fingerprints() {
        let (a, b) = sides();
        // a signed with the relay's certificate as its peer's end; b sees the relay's other
        // certificate as a's end.
        let (sig, mac) = prove(&a.id, &auth(), &view(&a, &b, a.fp, "sha-256 M1"));
        let got = ProofIn {
            fp_receiver: "sha-256 M1",
            ..proof_of(&a, &b, &sig, &mac)
        };
        assert_eq!(
            check_proof(&auth(), &view(&a, &b, "sha-256 M2", b.fp), &got),
            Err(HandshakeError::Fingerprint)
        );
        // Claiming b's view in the clear does not help: the signature covers the real one.
        let lying = ProofIn {
            fp_signer: "sha-256 M2",
            ..proof_of(&a, &b, &sig, &mac)
        };
        assert_eq!(
            check_proof(&auth(), &view(&a, &b, "sha-256 M2", b.fp), &lying),
            Err(HandshakeError::RoomKey)
        );
    }

    #[test]
    fn wrong_mac_bad_signature_and_replay_are_refused() {
        let (a, b) = sides();
        let v = view(&a, &b, a.fp, b.fp);
        let (sig, mac) = prove(&a.id, &auth(), &v);
        assert_eq!(
            check_proof(&Key([8; 32]), &v, &proof_of(&a, &b, &sig, &mac)),
            Err(HandshakeError::RoomKey)
        );
        let mut bad = sig;
        bad[10] ^= 1;
        assert_eq!(
            check_proof(&auth(), &v, &proof_of(&a, &b, &bad, &mac)),
            Err(HandshakeError::Signature)
        );
        // Signed by another key under a's name (a relay knowing the room key).
        let (sig_m, mac_m) = prove(&id(9), &auth(), &v);
        assert_eq!(
            check_proof(&auth(), &v, &proof_of(&a, &b, &sig_m, &mac_m)),
            Err(HandshakeError::Signature)
        );
        // The same proof on a connection where b's nonce is another.
        let b2 = Side {
            nonce: [3; NONCE_LEN],
            ..sides().1
        };
        assert_eq!(
            check_proof(
                &auth(),
                &view(&a, &b2, a.fp, b2.fp),
                &proof_of(&a, &b, &sig, &mac)
            ),
            Err(HandshakeError::Replayed)
        );
    }

    #[test]
    fn sas_agrees_for_equal_views_and_differs_otherwise() {
        let (a, b) = sides();
        let (ra, rb) = ([4; NONCE_LEN], [5; NONCE_LEN]);
        let v = |key_r: &PublicKey, fp_r: &str| {
            sas(&SasView {
                id_s: "A",
                id_r: "B",
                key_s: a.id.public(),
                key_r,
                fp_s: a.fp,
                fp_r,
                r_s: &ra,
                r_r: &rb,
            })
        };
        assert_eq!(v(b.id.public(), b.fp), v(b.id.public(), b.fp));
        assert_ne!(v(b.id.public(), b.fp), v(id(9).public(), b.fp));
        assert_ne!(v(b.id.public(), b.fp), v(b.id.public(), "sha-256 M1"));
        assert_eq!(sas_commitment(&ra), sas_commitment(&ra));
        assert_ne!(sas_commitment(&ra), sas_commitment(&rb));
    }

    /// Vectors: fixed keys and nonces give these codes, so the browser and the native peer
    /// (and any later version) agree bit for bit.
    #[test]
    fn vectors() {
        let a = id(1);
        // The secret [1; 32] is a valid scalar whose compressed public key starts 02 6f f0 3b.
        assert_eq!(a.public()[..4], [0x02, 0x6f, 0xf0, 0x3b]);
        assert_eq!(fingerprint(a.public()), "VFDS-KHJB");
        let s = sas(&SasView {
            id_s: "A",
            id_r: "B",
            key_s: a.public(),
            key_r: id(2).public(),
            fp_s: "sha-256 AA",
            fp_r: "sha-256 BB",
            r_s: &[4; NONCE_LEN],
            r_r: &[5; NONCE_LEN],
        });
        assert_eq!(s.emoji, [41, 61, 26, 63, 60, 8, 19]);
        assert_eq!(s.number, 268_891);
        assert_eq!(
            sas_commitment(&[4; NONCE_LEN])[..4],
            [0x45, 0xfb, 0x90, 0xb8]
        );
        assert_eq!(
            Identity::from_secret(&a.secret()).map(|i| i.public),
            Some(a.public)
        );
        assert!(Identity::from_secret(&[0; SECRET_LEN]).is_none());
        assert!(valid_public(a.public()).is_some());
        // 0x09 is no SEC1 tag.
        assert!(valid_public(&[9; PUBLIC_LEN]).is_none());
        assert_eq!(
            dtls_fingerprint("v=0\r\na=fingerprint:SHA-256 ab:cd\r\n"),
            "sha-256 AB:CD"
        );
        assert_eq!(dtls_fingerprint("v=0"), "");
    }
}
