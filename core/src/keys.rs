//! Room keys: the room name is the only secret a room has.
//!
//! `K_room = Argon2id(room name, fixed salt)` makes every guess at a room name cost tens of
//! milliseconds and ~19 MiB, so a tracker that sees `info_hash` cannot test guesses cheaply.
//! HKDF-SHA256 then splits `K_room` into independent keys, one per purpose, so no key is ever
//! used in two protocols.

use crate::ids::{encode_id, ID_LEN};
use crate::seal::{Key, KEY_LEN};
use hkdf::Hkdf;
use sha2::Sha256;

/// Argon2id memory cost in KiB: the OWASP minimum (19 MiB), ~100 ms in wasm on a slow laptop.
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// Argon2id passes over memory (OWASP minimum with 19 MiB).
pub const ARGON2_T: u32 = 2;
/// Argon2id lanes: one, because wasm in the page runs on a single thread.
pub const ARGON2_P: u32 = 1;
/// Fixed application salt. Rooms are identified only by their name, so the salt cannot be
/// random; a Hush-specific salt still stops precomputed tables made for other applications.
pub const ARGON2_SALT: &[u8] = b"hush/room-key/v1";

/// HKDF `info` labels, one per derived key.
const INFO_RENDEZVOUS: &[u8] = b"hush/v1/rendezvous";
const INFO_SDP: &[u8] = b"hush/v1/sdp";
const INFO_CHAT: &[u8] = b"hush/v1/chat";
const INFO_FILE_ROOT: &[u8] = b"hush/v1/file-root";
const INFO_AUTH: &[u8] = b"hush/v1/auth";

/// Why key derivation failed (only with parameters outside Argon2's accepted range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key derivation failed: {0}")]
pub struct KeyError(String);

/// Everything a peer derives from the room name.
#[derive(Clone)]
pub struct RoomKeys {
    /// Rendezvous id announced to trackers as `info_hash` (20 chars, 100 bits).
    pub info_hash: String,
    /// Seals SDP offers and answers carried by trackers.
    pub sdp: Key,
    /// Seals chat and control frames on the data channels.
    pub chat: Key,
    /// Root from which each file's key is derived.
    pub file_root: Key,
    /// MACs the identity hello.
    pub auth: Key,
}

/// Argon2id of the room name: the slow, memory-hard step.
pub fn room_master_key(room_name: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(KEY_LEN))
        .map_err(|e| KeyError(e.to_string()))?;
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; KEY_LEN];
    a2.hash_password_into(room_name.as_bytes(), ARGON2_SALT, &mut out)
        .map_err(|e| KeyError(e.to_string()))?;
    Ok(out)
}

fn expand(hk: &Hkdf<Sha256>, info: &[u8]) -> [u8; KEY_LEN] {
    let mut okm = [0u8; KEY_LEN];
    // HKDF-SHA256 can expand up to 255 × 32 bytes; 32 always fits.
    let _ = hk.expand(info, &mut okm);
    okm
}

impl RoomKeys {
    /// Derives all room keys from the room name (runs Argon2id: call it once per room).
    pub fn derive(room_name: &str) -> Result<Self, KeyError> {
        Ok(Self::from_master(&room_master_key(room_name)?))
    }

    /// Splits an Argon2id output into the per-purpose keys.
    pub fn from_master(master: &[u8; KEY_LEN]) -> Self {
        let hk = Hkdf::<Sha256>::new(None, master);
        let rv = expand(&hk, INFO_RENDEZVOUS);
        let mut id_bytes = [0u8; ID_LEN];
        id_bytes.copy_from_slice(&rv[..ID_LEN]);
        Self {
            info_hash: encode_id(&id_bytes),
            sdp: Key(expand(&hk, INFO_SDP)),
            chat: Key(expand(&hk, INFO_CHAT)),
            file_root: Key(expand(&hk, INFO_FILE_ROOT)),
            auth: Key(expand(&hk, INFO_AUTH)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_rfc9106_vector() {
        // RFC 9106 §5.3 (Argon2id, m=32 KiB, t=3, p=4, with secret and associated data).
        let mut b = argon2::ParamsBuilder::new();
        b.m_cost(32).t_cost(3).p_cost(4).output_len(32);
        b.data(argon2::AssociatedData::new(&[4u8; 12]).unwrap());
        let params = b.build().unwrap();
        let a2 = argon2::Argon2::new_with_secret(
            &[3u8; 8],
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .unwrap();
        let mut out = [0u8; 32];
        a2.hash_password_into(&[1u8; 32], &[2u8; 16], &mut out)
            .unwrap();
        assert_eq!(
            hex::encode(out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn hkdf_sha256_rfc5869_case1() {
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 42];
        hk.expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn room_keys_are_deterministic_distinct_and_pinned() {
        let a = RoomKeys::derive("correct horse battery staple").unwrap();
        let b = RoomKeys::derive("correct horse battery staple").unwrap();
        let c = RoomKeys::derive("correct horse battery stapler").unwrap();
        assert_eq!(a.info_hash, b.info_hash);
        assert!(a.chat == b.chat && a.sdp == b.sdp);
        assert_ne!(a.info_hash, c.info_hash);
        assert!(a.chat != c.chat);
        // Every purpose gets its own key.
        let all = [&a.sdp, &a.chat, &a.file_root, &a.auth];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert!(all[i] != all[j]);
            }
        }
        // Golden value: a change here breaks interop with every deployed peer.
        assert_eq!(a.info_hash, GOLDEN_INFO_HASH);
    }

    const GOLDEN_INFO_HASH: &str = "v04b1rj6v0r0w52pv90d";
}
