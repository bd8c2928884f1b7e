//! Peer ids and offer ids: 20-character strings, as the WebTorrent tracker protocol requires.
//!
//! Ids are printable ASCII so they survive every tracker implementation unchanged (the protocol
//! allows any 20 "binary string" characters, but some trackers mangle non-ASCII code points).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length in characters of `peer_id`, `offer_id` and `info_hash` in the tracker protocol.
pub const ID_LEN: usize = 20;

/// Alphabet for random ids: 32 unambiguous symbols, so each character carries 5 bits.
const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Random bytes a caller supplies to make one id (one byte per character; 5 bits of each used).
pub type IdEntropy = [u8; ID_LEN];

/// Error for a string that is not a well-formed 20-character id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an id must be exactly {ID_LEN} printable ASCII characters")]
pub struct InvalidId;

/// Encodes 20 random bytes as a 20-character id (100 bits of entropy).
pub fn encode_id(entropy: &IdEntropy) -> String {
    entropy
        .iter()
        .map(|b| ID_ALPHABET[(b & 0x1f) as usize] as char)
        .collect()
}

/// Checks that `s` has the tracker protocol's id shape: 20 printable ASCII characters.
pub fn check_id(s: &str) -> Result<(), InvalidId> {
    if s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(InvalidId)
    }
}

/// A peer's id for this session: random, fresh on every page load, never reused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerId(String);

impl PeerId {
    /// Makes a new random peer id from caller-supplied entropy.
    pub fn random(entropy: &IdEntropy) -> Self {
        Self(encode_id(entropy))
    }
    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PeerId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        check_id(&s)?;
        Ok(Self(s))
    }
}

impl TryFrom<&str> for PeerId {
    type Error = InvalidId;
    fn try_from(s: &str) -> Result<Self, InvalidId> {
        Self::try_from(s.to_owned())
    }
}

impl From<PeerId> for String {
    fn from(id: PeerId) -> String {
        id.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twenty_printable_chars() {
        let id = PeerId::random(&[0xff; ID_LEN]);
        assert_eq!(id.as_str().len(), ID_LEN);
        assert!(check_id(id.as_str()).is_ok());
    }

    #[test]
    fn wrong_length_or_control_chars_are_rejected() {
        assert!(PeerId::try_from("short").is_err());
        assert!(PeerId::try_from("a".repeat(21)).is_err());
        assert!(PeerId::try_from("aaaaaaaaaaaaaaaaaaa\n").is_err());
        assert!(PeerId::try_from("ééééééééééééééééééé").is_err());
    }
}
