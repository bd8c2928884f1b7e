//! A transfer's channel: the receiver's feedback frames, a header from the sender, then record
//! frames of any length in any number, checked by `transfer::Incoming`. Nothing may panic, the
//! bytes counted as done never exceed the declared size, and a transfer that failed stays
//! failed.
#![no_main]

use hush_core::seal::Key;
use hush_core::stream::{StreamHeader, MAX_RECORD_SIZE, MIN_RECORD_SIZE};
use hush_core::transfer::{Feedback, FileId, Incoming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Feedback::decode(data);
    if data.len() < 3 {
        return;
    }
    let size = u64::from(u16::from_le_bytes([data[0], data[1]])) * 1_024;
    let record_size =
        MIN_RECORD_SIZE + u32::from(data[2]) * ((MAX_RECORD_SIZE - MIN_RECORD_SIZE) / 255);
    let header = StreamHeader {
        record_size,
        total_size: size,
        salt: [4; 32],
        nonce_prefix: [5; 7],
    };
    let mut incoming = Incoming::new(FileId([1; 16]), size);
    let root = Key([6; 32]);
    if incoming.header(&root, &header.to_bytes()).is_err() {
        return;
    }
    let mut failed = false;
    for chunk in data[3..].chunks(3) {
        let len = usize::from(chunk[0]) * 256 + usize::from(*chunk.get(1).unwrap_or(&0));
        match incoming.record(len) {
            Ok(r) => {
                assert!(!failed, "a failed transfer took another record");
                if chunk.get(2).is_some_and(|b| b & 1 == 1) {
                    let _ = incoming.auth_failed(r.index);
                    failed = true;
                } else {
                    incoming.opened(r.index);
                }
            }
            Err(_) => failed = true,
        }
        assert!(incoming.bytes_done() <= size);
        let _ = incoming.ack_due();
    }
    let _ = incoming.finish();
});
