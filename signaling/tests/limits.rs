//! Every tracker limit and every kind of malformed input, each followed by proof that another
//! connected client is unaffected.

mod common;

use common::*;
use futures_util::SinkExt;
use hush_signaling::Limits;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

/// A bystander in its own swarm, connected before the misbehaviour starts.
async fn bystander(helper: &Helper) -> Ws {
    let mut ws = helper.connect().await;
    announce_ok(&mut ws, &id("bystander-room"), &id("bystander")).await;
    ws
}

async fn bystander_still_works(ws: &mut Ws) {
    still_works(ws, &id("bystander-room"), &id("bystander")).await;
}

/// A new socket is refused before the upgrade with HTTP `status`.
async fn expect_refusal(url: &str, status: u16) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), status),
        other => panic!("expected HTTP {status}, got {other:?}"),
    }
}

/// Connects once a closed socket's slot is free (it is released asynchronously).
async fn reconnect(url: &str) -> Ws {
    for _ in 0..50 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("slot was not released");
}

#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    within(async {
        let helper = Helper::with_limits(Limits {
            max_frame_bytes: 1024,
            ..Limits::default()
        })
        .await;
        let mut other = bystander(&helper).await;
        let mut ws = helper.connect().await;
        // Just under the limit is fine…
        let mut fits = announce(&id("room"), &id("peer"));
        fits["pad"] = "x".repeat(900).into();
        send(&mut ws, &fits).await;
        assert_eq!(recv(&mut ws).await["action"], "announce");
        // …one frame over it ends the connection with "message too big".
        send_text(&mut ws, &"x".repeat(4096)).await;
        assert_eq!(expect_close(&mut ws).await.0, 1009);
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn message_flood_closes_with_1008() {
    within(async {
        let helper = Helper::with_limits(Limits {
            rate_per_sec: 5,
            rate_burst: 5,
            ..Limits::default()
        })
        .await;
        let mut other = bystander(&helper).await;
        let mut ws = helper.connect().await;
        let frame = announce(&id("room"), &id("peer")).to_string();
        for _ in 0..20 {
            // The server may close mid-flood; later sends failing is expected.
            if ws.send(Message::text(frame.as_str())).await.is_err() {
                break;
            }
        }
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("rate"), "{reason}");
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn rate_limit_allows_a_steady_client() {
    within(async {
        // Regression guard: a client within the rate is never closed by the bucket.
        let helper = Helper::with_limits(Limits {
            rate_per_sec: 20,
            rate_burst: 2,
            ..Limits::default()
        })
        .await;
        let mut ws = helper.connect().await;
        for _ in 0..6 {
            announce_ok(&mut ws, &id("room"), &id("peer")).await;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn too_many_swarms_on_one_socket_gets_a_failure_reply() {
    within(async {
        let helper = Helper::with_limits(Limits {
            max_swarms_per_socket: 2,
            ..Limits::default()
        })
        .await;
        let mut other = bystander(&helper).await;
        let mut ws = helper.connect().await;
        announce_ok(&mut ws, &id("room-1"), &id("peer")).await;
        announce_ok(&mut ws, &id("room-2"), &id("peer")).await;
        send(&mut ws, &announce(&id("room-3"), &id("peer"))).await;
        let r = recv(&mut ws).await;
        let reason = r["failure reason"].as_str().expect("a failure reply");
        assert!(reason.contains("too many swarms"), "{reason}");
        // Labelled so a multiplexing WebTorrent client can attribute it.
        assert_eq!(r["action"], "announce");
        assert_eq!(r["info_hash"], id("room-3").as_str());
        // The socket stays usable in its swarms, and leaving one frees a place.
        announce_ok(&mut ws, &id("room-1"), &id("peer")).await;
        let mut stopped = announce(&id("room-2"), &id("peer"));
        stopped["event"] = "stopped".into();
        send(&mut ws, &stopped).await;
        recv(&mut ws).await;
        announce_ok(&mut ws, &id("room-3"), &id("peer")).await;
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn full_swarm_gets_a_failure_reply() {
    within(async {
        let helper = Helper::with_limits(Limits {
            max_peers_per_swarm: 2,
            ..Limits::default()
        })
        .await;
        let room = id("room-full");
        let (mut a, mut b, mut c) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );
        announce_ok(&mut a, &room, &id("peer-a")).await;
        announce_ok(&mut b, &room, &id("peer-b")).await;
        send(&mut c, &announce(&room, &id("peer-c"))).await;
        let r = recv(&mut c).await;
        let reason = r["failure reason"].as_str().expect("a failure reply");
        assert!(reason.contains("full"), "{reason}");
        // C is not a member, so offers still go to B only and C can use other swarms.
        send(
            &mut a,
            &announce_with_offers(&room, &id("peer-a"), &[&id("o1"), &id("o2")]),
        )
        .await;
        assert_eq!(recv(&mut a).await["incomplete"], 2);
        assert_eq!(recv(&mut b).await["peer_id"], id("peer-a").as_str());
        expect_silence(&mut c).await;
        still_works(&mut c, &id("room-other"), &id("peer-c")).await;
        // Members re-announcing are not refused.
        announce_ok(&mut b, &room, &id("peer-b")).await;
    })
    .await;
}

#[tokio::test]
async fn too_many_sockets_from_one_address_are_refused_with_429() {
    within(async {
        let helper = Helper::with_limits(Limits {
            max_sockets_per_ip: 2,
            ..Limits::default()
        })
        .await;
        let mut first = bystander(&helper).await;
        let second = helper.connect().await;
        let url = format!("ws://{}/announce", helper.addr);
        expect_refusal(&url, 429).await;
        bystander_still_works(&mut first).await;

        // Closing one frees its slot.
        drop(second);
        let mut ws = reconnect(&url).await;
        still_works(&mut ws, &id("room"), &id("peer")).await;
    })
    .await;
}

/// Invariant: the tracker holds at most `max_sockets` sockets in all, whatever their
/// addresses; one more is refused with 503 and a closed one frees its slot.
#[tokio::test]
async fn a_full_tracker_refuses_with_503() {
    within(async {
        let helper = Helper::with_limits(Limits {
            max_sockets: 2,
            ..Limits::default()
        })
        .await;
        let mut first = bystander(&helper).await;
        let second = helper.connect().await;
        let url = format!("ws://{}/announce", helper.addr);
        expect_refusal(&url, 503).await;
        bystander_still_works(&mut first).await;
        drop(second);
        let mut ws = reconnect(&url).await;
        still_works(&mut ws, &id("room"), &id("peer")).await;
    })
    .await;
}

#[tokio::test]
async fn idle_socket_is_closed() {
    within(async {
        let helper = Helper::with_limits(Limits {
            idle_timeout: Duration::from_millis(400),
            ..Limits::default()
        })
        .await;
        let mut other = bystander(&helper).await;
        let mut idle = helper.connect().await;
        announce_ok(&mut idle, &id("room"), &id("peer")).await;
        // The bystander keeps talking more often than the timeout and is never closed.
        let keep_alive = async {
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                bystander_still_works(&mut other).await;
            }
        };
        let (_, (code, reason)) = tokio::join!(keep_alive, expect_close(&mut idle));
        assert_eq!(code, 1000);
        assert!(reason.contains("idle"), "{reason}");
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn slow_consumer_is_disconnected_without_stalling_the_sender() {
    within(async {
        let helper = Helper::with_limits(Limits {
            outgoing_queue: 4,
            rate_per_sec: 100_000,
            rate_burst: 100_000,
            ..Limits::default()
        })
        .await;
        let room = id("room-slow");
        let (mut sender, mut slow) = (helper.connect().await, helper.connect().await);
        announce_ok(&mut slow, &room, &id("slow")).await;
        announce_ok(&mut sender, &room, &id("sender")).await;
        // `slow` never reads again. Offers of ~15 KiB each fill the kernel buffers, then its
        // queue; the tracker must drop it rather than buffer without bound or block.
        let sdp = "s".repeat(15_000);
        let mut left_swarm = false;
        for i in 0..2_000 {
            let mut msg = announce_with_offers(&room, &id("sender"), &[&id(&format!("o{i}"))]);
            msg["offers"][0]["offer"]["sdp"] = sdp.as_str().into();
            send(&mut sender, &msg).await;
            let reply = recv(&mut sender).await;
            if reply["incomplete"] == 1 {
                left_swarm = true;
                break;
            }
        }
        assert!(left_swarm, "the slow consumer was never disconnected");
        still_works(&mut sender, &room, &id("sender")).await;
    })
    .await;
}

#[tokio::test]
async fn malformed_frames_get_failure_replies_and_the_socket_stays_open() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut other = bystander(&helper).await;
        let mut ws = helper.connect().await;
        let cases = [
            ("{not json".to_owned(), "invalid JSON"),
            ("[1,2,3]".to_owned(), "unknown action"),
            (
                format!(r#"{{"action":"scrape","info_hash":"{}"}}"#, id("room")),
                "unknown action",
            ),
            (
                format!(r#"{{"action":"announce","info_hash":"short","peer_id":"{}"}}"#, id("p")),
                "info_hash",
            ),
            (
                format!(
                    r#"{{"action":"announce","info_hash":"{}","peer_id":"{}"}}"#,
                    id("room"),
                    "p".repeat(21)
                ),
                "peer_id",
            ),
            (
                announce_with_offers(&id("room"), &id("p"), &["offer-id-too-short"]).to_string(),
                "offer_id",
            ),
            (
                format!(
                    r#"{{"action":"announce","info_hash":"{}","peer_id":"{}","answer":{{"type":"answer","sdp":"x"}}}}"#,
                    id("room"),
                    id("p")
                ),
                "to_peer_id",
            ),
        ];
        for (frame, expected) in &cases {
            send_text(&mut ws, frame).await;
            let r = recv(&mut ws).await;
            let reason = r["failure reason"]
                .as_str()
                .unwrap_or_else(|| panic!("no failure for {frame}: {r}"));
            assert!(reason.contains(expected), "{frame} → {reason}");
        }
        // Nothing malformed joined anything, and the socket still works.
        let r = announce_ok(&mut ws, &id("room"), &id("p")).await;
        assert_eq!(r["incomplete"], 1);
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn binary_frame_closes_with_1003() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut other = bystander(&helper).await;
        let mut ws = helper.connect().await;
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        assert_eq!(expect_close(&mut ws).await.0, 1003);
        bystander_still_works(&mut other).await;
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    within(async {
        let helper = Helper::start(Default::default()).await;
        let mut other = bystander(&helper).await;
        // A raw client: tungstenite would refuse to send invalid UTF-8 as text.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(helper.addr).await.unwrap();
        let req = format!(
            "GET /announce HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            helper.addr
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = vec![0u8; 1024];
        let n = tcp.read(&mut head).await.unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 101"));
        // FIN + text opcode, masked, 2 bytes of payload 0xff 0xfe (invalid UTF-8), zero mask.
        tcp.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe])
            .await
            .unwrap();
        let mut frame = [0u8; 4];
        tokio::time::timeout(STEP, tcp.read_exact(&mut frame))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1007);
        bystander_still_works(&mut other).await;
    })
    .await;
}
