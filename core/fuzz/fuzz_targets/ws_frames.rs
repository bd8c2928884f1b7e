//! The helper's WebSocket reader on bytes from a client: it must never panic, must make
//! progress on every frame it takes, and must hand out only messages within the limit.
#![no_main]

use hush_core::wsframe::{encode_server_frame, Message, MessageReader, Opcode, Read};
use libfuzzer_sys::fuzz_target;

/// A small limit, so that fragments reaching it are found quickly.
const MAX_MESSAGE: usize = 512;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    let mut reader = MessageReader::new(MAX_MESSAGE);
    let mut at = 0;
    loop {
        match reader.read(&mut bytes[at..]) {
            Err(_) | Ok(Read::Incomplete) => break,
            Ok(Read::Frame { len, message }) => {
                assert!(len >= 6 && at + len <= data.len(), "a frame takes its bytes");
                if let Some(Message::Text(text)) = message {
                    assert!(text.len() <= MAX_MESSAGE);
                }
                at += len;
            }
        }
    }
    // What the server writes states its payload's length exactly.
    let frame = encode_server_frame(Opcode::Text, data);
    let header = frame.len() - data.len();
    assert!(matches!(header, 2 | 4 | 10));
    assert_eq!(&frame[header..], data);
});
