//! Anything a tracker (or a client of the helper) can send: the helper's announce parser and
//! the room engine's handling of a tracker message must never panic, and the engine must stay
//! usable afterwards.
#![no_main]

use hush_core::keys::RoomKeys;
use hush_core::room::{Output, Room};
use hush_core::tracker::parse_announce;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_announce(text);
    let mut room = Room::new(1, "fuzz", [7; 32], 0);
    room.set_keys(RoomKeys::from_master(&[3; 32]), 0);
    room.handle_tracker_open(0, 1);
    room.handle_tracker_text(0, text, 2);
    // The same text again (a duplicate) and time passing must be harmless too.
    room.handle_tracker_text(0, text, 3);
    room.handle_timeout(60_000);
    while let Some(o) = room.poll_output() {
        if let Output::CreateOffer(h) = o {
            room.handle_local_offer(h, Ok("v=0".into()), 60_001);
        }
    }
    assert!(room.poll_timeout().is_some());
});
