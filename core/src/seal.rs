//! AES-256-GCM sealing with a random nonce and explicit associated data.
//!
//! Sealed format: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The associated data is
//! never sent; both sides rebuild it from context (who sent what to whom), so a relay that
//! re-addresses a sealed blob makes it fail to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// AES-256 key length in bytes.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length in bytes; random per message (2^-32 collision bound after 2^32 messages
/// per key is far beyond a chat session's volume).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;
/// Format version byte, so the envelope can change without ambiguity.
pub const SEAL_VERSION: u8 = 1;
/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// A 256-bit symmetric key. Not `Debug`, so it never lands in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; KEY_LEN]);

/// Why a sealed message did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed message is too short")]
    TooShort,
    #[error("unknown sealed format version {0}")]
    Version(u8),
    #[error("sealed message failed authentication (wrong key, wrong context or tampered)")]
    Auth,
    #[error("sealed text is not valid base64url")]
    Base64,
    #[error("sealed text opened but is not in the expected shape")]
    Malformed,
}

/// Seals `plaintext` under `key`, binding `aad`. `nonce` must be fresh random bytes.
pub fn seal(key: &Key, nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&key.0.into());
    let nonce_arr: Nonce<_> = nonce.into();
    // Encryption fails only for inputs beyond 2^36 bytes, which no caller can produce: every
    // sealed message is bounded by a frame limit far below that.
    let ct = cipher
        .encrypt(
            &nonce_arr,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a message made by [`seal`] with the same key and associated data.
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(SealError::TooShort);
    }
    if sealed[0] != SEAL_VERSION {
        return Err(SealError::Version(sealed[0]));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let nonce_arr: Nonce<_> = nonce.into();
    let cipher = Aes256Gcm::new(&key.0.into());
    cipher
        .decrypt(
            &nonce_arr,
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| SealError::Auth)
}

/// [`seal`], then base64url (no padding), for text fields such as the tracker's `sdp`.
pub fn seal_text(key: &Key, nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &str) -> String {
    URL_SAFE_NO_PAD.encode(seal(key, nonce, aad, plaintext.as_bytes()))
}

/// Opens a [`seal_text`] string back to its text.
pub fn open_text(key: &Key, aad: &[u8], sealed: &str) -> Result<String, SealError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SealError::Base64)?;
    let plain = open(key, aad, &bytes)?;
    // The sender sealed a `&str`; invalid UTF-8 here means a forged message that passed AEAD,
    // which cannot happen without the key, so treating it as an auth failure is accurate.
    String::from_utf8(plain).map_err(|_| SealError::Auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key([b; KEY_LEN])
    }

    #[test]
    fn aes_256_gcm_known_answer() {
        // NIST GCM test vector (gcmEncryptExtIV256.rsp, Count = 0 with 128-bit PT and AAD):
        // McGrew & Viega test case 16 (AES-256, 60-byte PT, 20-byte AAD).
        let k = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .unwrap();
        let iv = hex::decode("cafebabefacedbaddecaf888").unwrap();
        let pt = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let mut kk = [0u8; KEY_LEN];
        kk.copy_from_slice(&k);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&iv);
        let sealed = seal(&Key(kk), n, &aad, &pt);
        let expect_ct = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
        let expect_tag = "76fc6ece0f4e1768cddf8853bb2d551b";
        assert_eq!(
            hex::encode(&sealed[1 + NONCE_LEN..]),
            format!("{expect_ct}{expect_tag}")
        );
        assert_eq!(open(&Key(kk), &aad, &sealed).unwrap(), pt);
    }

    #[test]
    fn round_trip_text() {
        let s = seal_text(&key(1), [7; NONCE_LEN], b"ctx", "v=0 sdp");
        assert_eq!(open_text(&key(1), b"ctx", &s).unwrap(), "v=0 sdp");
    }

    #[test]
    fn tampering_wrong_key_and_wrong_context_are_rejected() {
        let sealed = seal(&key(1), [3; NONCE_LEN], b"a->b", b"hello");
        assert_eq!(open(&key(2), b"a->b", &sealed), Err(SealError::Auth));
        assert_eq!(open(&key(1), b"b->a", &sealed), Err(SealError::Auth));
        for i in 1..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(open(&key(1), b"a->b", &t), Err(SealError::Auth), "byte {i}");
        }
        let mut v = sealed.clone();
        v[0] = 9;
        assert_eq!(open(&key(1), b"a->b", &v), Err(SealError::Version(9)));
        assert_eq!(
            open(&key(1), b"a->b", &sealed[..10]),
            Err(SealError::TooShort)
        );
        assert_eq!(
            open_text(&key(1), b"", "not base64!"),
            Err(SealError::Base64)
        );
    }
}
