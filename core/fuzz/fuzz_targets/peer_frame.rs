//! A peer's control frames: the bytes after decryption (a peer holding the room key can seal
//! anything), decoded and validated, then handled by an engine on an open connection.
//! Nothing may panic; a decoded message always re-encodes.
#![no_main]

use hush_core::keys::RoomKeys;
use hush_core::seal::{seal, Key};
use hush_core::wire;
use libfuzzer_sys::fuzz_target;

const FROM: &str = "aaaaaaaaaaaaaaaaaaaa";
const TO: &str = "bbbbbbbbbbbbbbbbbbbb";

fuzz_target!(|data: &[u8]| {
    let keys = RoomKeys::from_master(&[5; 32]);
    let key: &Key = &keys.chat;
    // Raw bytes on the channel (mostly fail to open)...
    let _ = wire::decode(key, FROM, TO, data);
    // ...and the same bytes as a sealed plaintext, which reaches the decoder itself.
    let frame = seal(
        key,
        [1; 12],
        format!("hush/v1/ctl|{FROM}|{TO}").as_bytes(),
        data,
    );
    if let Ok(msg) = wire::decode(key, FROM, TO, &frame) {
        let again = wire::encode(key, [2; 12], FROM, TO, &msg);
        assert_eq!(wire::decode(key, FROM, TO, &again).ok(), Some(msg));
    }
});
