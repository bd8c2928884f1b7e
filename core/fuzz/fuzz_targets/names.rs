//! Names from peers: file names, display names, chat text, room names. Whatever comes in,
//! what comes out is safe to show and (for file names) to use as a file name.
#![no_main]

use hush_core::filename::{sanitize_file_name, MAX_FILE_NAME_BYTES};
use hush_core::room_name::{normalize, strength};
use hush_core::wire::{is_bidi_control, sanitize_name, sanitize_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let file = sanitize_file_name(&s);
    assert!(!file.is_empty() && file.len() <= MAX_FILE_NAME_BYTES);
    assert!(!file.contains(['/', '\\', '\0']));
    assert!(!file.chars().any(|c| c.is_control() || is_bidi_control(c)));
    assert!(file != "." && file != "..");
    let name = sanitize_name(&s, "Guest");
    assert!(!name.is_empty() && !name.chars().any(|c| c.is_control() || is_bidi_control(c)));
    let text = sanitize_text(&s);
    assert!(!text.chars().any(is_bidi_control));
    if let Ok(n) = normalize(&s) {
        assert_eq!(
            normalize(&n).as_deref(),
            Ok(n.as_str()),
            "normalizing twice changes nothing"
        );
    }
    let _ = strength(&s);
});
