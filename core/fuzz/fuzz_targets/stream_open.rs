//! A received file: a STREAM header and records from a peer. Opening must never panic and
//! never release plaintext from bytes that were not sealed under the key.
#![no_main]

use hush_core::seal::Key;
use hush_core::stream::{StreamHeader, StreamOpener, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = StreamHeader::parse(data);
    let root = Key([9; 32]);
    let (header, rest) = data.split_at(data.len().min(HEADER_LEN));
    let Ok(mut opener) = StreamOpener::new(&root, "fuzz", header) else {
        return;
    };
    for chunk in rest.chunks(97) {
        if opener.is_done() {
            break;
        }
        // A forger without the key can produce no record that opens.
        assert!(opener.open_next(chunk).is_err());
    }
});
