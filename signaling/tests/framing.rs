//! The tracker's own WebSocket layer, byte by byte from a raw TCP client: the opening
//! handshake, pings, fragments, frames split across writes, protocol errors and the closing
//! handshake.

mod common;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MASK: [u8; 4] = [0xa1, 0x07, 0x5c, 0xe3];

/// A masked client frame; `b0` is FIN, reserved bits and opcode.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Sends `head` (a request line and headers) and returns the response head.
async fn handshake_with(helper: &Helper, head: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(helper.addr).await.unwrap();
    tcp.write_all(format!("{head}Host: {}\r\n\r\n", helper.addr).as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(STEP, tcp.read(&mut byte))
            .await
            .expect("no response head")
            .unwrap();
        assert_eq!(n, 1, "closed during the handshake: {response:?}");
        response.push(byte[0]);
    }
    (tcp, String::from_utf8(response).unwrap())
}

/// The RFC 6455 §1.3 example key; its accept value is given there.
const KEY_HEADERS: &str =
    "GET /announce HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

async fn open(helper: &Helper) -> TcpStream {
    let (tcp, head) = handshake_with(helper, KEY_HEADERS).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// The next server frame: its first byte and its payload (server frames are unmasked).
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    tokio::time::timeout(STEP, tcp.read_exact(&mut head))
        .await
        .expect("no frame")
        .expect("stream ended");
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            tcp.read_exact(&mut ext).await.unwrap();
            usize::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            tcp.read_exact(&mut ext).await.unwrap();
            usize::try_from(u64::from_be_bytes(ext)).unwrap()
        }
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

async fn read_json(tcp: &mut TcpStream) -> Value {
    let (b0, payload) = read_frame(tcp).await;
    assert_eq!(b0, 0x81, "a final text frame");
    serde_json::from_slice(&payload).unwrap()
}

/// Reads until a close frame and returns its code; then the server ends the stream.
async fn expect_close_code(tcp: &mut TcpStream) -> u16 {
    loop {
        let (b0, payload) = read_frame(tcp).await;
        if b0 == 0x88 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

async fn expect_end(tcp: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(STEP, tcp.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?} {rest:?}");
}

#[tokio::test]
async fn the_handshake_answers_the_rfc_example_and_refuses_what_is_not_one() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let (_tcp, head) = handshake_with(&helper, KEY_HEADERS).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        assert!(lower.contains("upgrade: websocket"), "{head}");
        for bad in [
            "GET /announce HTTP/1.1\r\n",
            "GET /announce HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
            "GET /announce HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n",
        ] {
            let (_tcp, head) = handshake_with(&helper, bad).await;
            assert!(head.starts_with("HTTP/1.1 400"), "{bad:?} → {head}");
        }
    })
    .await;
}

#[tokio::test]
async fn pings_are_answered_and_fragments_split_across_writes_make_one_announce() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut tcp = open(&helper).await;
        tcp.write_all(&frame(0x89, b"are you there")).await.unwrap();
        assert_eq!(
            read_frame(&mut tcp).await,
            (0x8a, b"are you there".to_vec())
        );

        // One announce in three fragments with a ping between them, written a byte at a time.
        let text = announce(&id("frag-room"), &id("frag-peer")).to_string();
        let (a, rest) = text.as_bytes().split_at(10);
        let (b, c) = rest.split_at(rest.len() / 2);
        let mut bytes = frame(0x01, a);
        bytes.extend(frame(0x89, b"mid"));
        bytes.extend(frame(0x00, b));
        bytes.extend(frame(0x80, c));
        for byte in bytes {
            tcp.write_all(&[byte]).await.unwrap();
        }
        assert_eq!(read_frame(&mut tcp).await, (0x8a, b"mid".to_vec()));
        let reply = read_json(&mut tcp).await;
        assert_eq!(reply["action"], "announce", "{reply}");
        assert_eq!(reply["info_hash"], id("frag-room"), "{reply}");
        assert_eq!(reply["incomplete"], 1, "{reply}");
    })
    .await;
}

#[tokio::test]
async fn a_client_close_is_echoed_and_the_connection_ends() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut tcp = open(&helper).await;
        tcp.write_all(&frame(0x88, &4000u16.to_be_bytes()))
            .await
            .unwrap();
        assert_eq!(expect_close_code(&mut tcp).await, 4000);
        expect_end(&mut tcp).await;
    })
    .await;
}

#[tokio::test]
async fn broken_framing_closes_with_1002_and_others_carry_on() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut other = helper.connect().await;
        announce_ok(&mut other, &id("calm-room"), &id("calm")).await;
        let broken: [Vec<u8>; 4] = [
            // Unmasked.
            vec![0x81, 0x02, b'{', b'}'],
            // A reserved bit.
            frame(0xc1, b"{}"),
            // A continuation with nothing to continue.
            frame(0x80, b"{}"),
            // A fragmented ping.
            frame(0x09, b"x"),
        ];
        for bytes in broken {
            let mut tcp = open(&helper).await;
            tcp.write_all(&bytes).await.unwrap();
            assert_eq!(expect_close_code(&mut tcp).await, 1002, "{bytes:?}");
        }
        still_works(&mut other, &id("calm-room"), &id("calm")).await;
    })
    .await;
}
