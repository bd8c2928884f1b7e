//! The engine's rules one at a time, on two engines wired by hand. The whole-room properties
//! are in `core/tests/sim`.

use super::*;
use crate::tracker::{Announce, ServerMessage};
use crate::transfer::{Refusal, MAX_OFFERS_PER_PEER, MAX_VIEW_ONCE_BYTES};

const IH_MASTER: [u8; 32] = [9; 32];

fn keys() -> RoomKeys {
    RoomKeys::from_master(&IH_MASTER)
}

fn drain(r: &mut Room) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

fn room(seed: u8) -> Room {
    let mut r = Room::new(1, &format!("peer {seed}"), [seed; SEED_LEN], 0);
    r.set_keys(keys(), 0);
    r
}

/// Every offer a room created gets its SDP; returns the announce it then sends.
fn announce_of(r: &mut Room, now: u64) -> Announce {
    r.handle_tracker_open(0, now);
    let mut text = None;
    for _ in 0..3 {
        for o in drain(r) {
            match o {
                Output::CreateOffer(h) => r.handle_local_offer(h, Ok(format!("sdp{}", h.0)), now),
                Output::TrackerSend { text: t, .. } => text = Some(t),
                _ => {}
            }
        }
    }
    serde_json::from_str(&text.expect("an announce")).expect("json")
}

fn forward_offer(a: &Announce, i: usize) -> String {
    let o = &a.offers.as_ref().expect("offers")[i];
    serde_json::to_string(&ServerMessage {
        info_hash: Some(a.info_hash.clone()),
        peer_id: Some(a.peer_id.clone()),
        offer_id: Some(o.offer_id.clone()),
        offer: Some(o.offer.clone()),
        ..ServerMessage::default()
    })
    .expect("json")
}

/// A and B connected: (a, b, a's handle for b, b's handle for a).
fn pair() -> (Room, Room, ConnHandle, ConnHandle) {
    let (mut a, mut b, ha, hb) = open_pair();
    // Both hellos go out as the connection opens; each side lists the other as the peer's
    // arrives (a third delivery carries anything the first two set off).
    deliver(&mut a, ha, &mut b, hb, 60);
    deliver(&mut b, hb, &mut a, ha, 60);
    deliver(&mut a, ha, &mut b, hb, 60);
    (a, b, ha, hb)
}

/// Two engines whose connection just opened on both sides, nothing delivered yet.
fn open_pair() -> (Room, Room, ConnHandle, ConnHandle) {
    open_pair_of(1, 2)
}

fn open_pair_of(seed_a: u8, seed_b: u8) -> (Room, Room, ConnHandle, ConnHandle) {
    let (mut a, mut b) = (room(seed_a), room(seed_b));
    let ann = announce_of(&mut a, 10);
    drain(&mut b);
    b.handle_tracker_open(0, 10);
    drain(&mut b);
    b.handle_tracker_text(0, &forward_offer(&ann, 0), 20);
    let hb = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::CreateAnswer { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("b answers");
    b.handle_local_answer(hb, Ok("answer".into()), 30);
    let answer = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::TrackerSend { text, .. } => Some(text),
            _ => None,
        })
        .expect("answer sent");
    let ans: Announce = serde_json::from_str(&answer).expect("json");
    let routed = serde_json::to_string(&ServerMessage {
        info_hash: Some(ans.info_hash),
        peer_id: Some(ans.peer_id),
        offer_id: ans.offer_id,
        answer: ans.answer,
        ..ServerMessage::default()
    })
    .expect("json");
    a.handle_tracker_text(0, &routed, 40);
    let ha = drain(&mut a)
        .into_iter()
        .find_map(|o| match o {
            Output::ApplyAnswer { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("a applies the answer");
    a.handle_channel_open(ha, 50);
    b.handle_channel_open(hb, 50);
    (a, b, ha, hb)
}

/// Invariant: a hello lost as the connection comes up is made up for (the peer's hello is
/// answered with ours), nothing but the hello is sent before the peer has proven itself, and
/// two peers that know each other stop sending hellos (no echo loop).
#[test]
fn a_lost_hello_is_repeated_until_both_sides_know_each_other() {
    let (mut a, mut b, ha, hb) = open_pair();
    // a's hello is lost; before the peer speaks, a sent nothing else.
    let lost: Vec<Output> = drain(&mut a);
    assert_eq!(
        lost.iter()
            .filter(|o| matches!(o, Output::Send { .. }))
            .count(),
        1,
        "only the hello: {lost:?}"
    );
    // b's hello reaches a: a lists b and answers with its own.
    deliver(&mut b, hb, &mut a, ha, 60);
    let mut at_a = Vec::new();
    let mut to_b = Vec::new();
    for o in drain(&mut a) {
        match o {
            Output::Send { frame, .. } => to_b.push(frame),
            other => at_a.push(other),
        }
    }
    assert!(events(&at_a)
        .iter()
        .any(|e| matches!(e, Event::PeerUp { .. })));
    // a's answer reaches b: b lists a.
    for f in &to_b {
        b.handle_frame(hb, f, 70);
    }
    let at_b = drain(&mut b);
    assert!(
        events(&at_b)
            .iter()
            .any(|e| matches!(e, Event::PeerUp { .. })),
        "{at_b:?}"
    );
    // Both know each other: no echo, and no more hellos on a timer.
    let (x, y) = settle(&mut a, ha, &mut b, hb, 80);
    let _ = (x, y);
    assert!(drain(&mut a).is_empty() && drain(&mut b).is_empty());
    for r in [&a, &b] {
        assert_eq!(
            r.poll_timeout().map(|t| t > 50 + 2 * HELLO_RESEND_MS),
            Some(true)
        );
    }
    // And a peer whose proofs never come is refused, with the reason, after the timeout.
    let (mut c, _d, hc, _hd) = open_pair();
    drain(&mut c);
    let mut t = 50;
    let mut refused = Vec::new();
    while t < 50 + HELLO_TIMEOUT_MS + HELLO_RESEND_MS {
        t += HELLO_RESEND_MS;
        c.handle_timeout(t);
        refused.extend(drain(&mut c));
    }
    assert!(refused
        .iter()
        .any(|o| matches!(o, Output::Close(h) if *h == hc)));
    assert!(events(&refused).iter().any(|e| matches!(e,
        Event::Refused { reason, .. } if reason == "the handshake did not complete")));
}

/// Invariant: a rename made after our proof went out but before the peer's arrived still
/// reaches the peer, whichever comes next: ours repeated (it carries the new name) or the
/// peer's proof (listing the peer tells it the new name).
#[test]
fn a_rename_before_the_peer_speaks_reaches_it() {
    fn renamed(got: &[Output]) -> bool {
        events(got)
            .iter()
            .any(|e| matches!(e, Event::PeerName { name, .. } if name == "Mallory"))
    }
    for ours_repeated_first in [true, false] {
        let (mut a, mut b, ha, hb) = open_pair();
        // b's hello is held back; a's reaches b, which lists a under its first name (and its
        // answer is held back too).
        let held = drain(&mut b);
        deliver(&mut a, ha, &mut b, hb, 60);
        let up = drain(&mut b);
        assert!(
            events(&up)
                .iter()
                .any(|e| matches!(e, Event::PeerUp { name, .. } if name == "peer 1")),
            "{up:?}"
        );
        // a renames before it has heard b: broadcasts skip peers that have not spoken.
        a.set_name("Mallory");
        let mut got = Vec::new();
        if ours_repeated_first {
            a.handle_timeout(50 + HELLO_RESEND_MS);
            deliver(&mut a, ha, &mut b, hb, 60 + HELLO_RESEND_MS);
            got.extend(drain(&mut b));
        } else {
            // b's hellos were only late: they reach a now, and a greets b.
            for o in held.iter().chain(&up) {
                if let Output::Send { conn, frame } = o {
                    if *conn == hb {
                        a.handle_frame(ha, frame, 70);
                    }
                }
            }
            deliver(&mut a, ha, &mut b, hb, 80);
            got.extend(drain(&mut b));
        }
        assert!(renamed(&got), "b learns the new name: {got:?}");
    }
}

/// Hands every frame `from` sends on `fh` to `to` on `th`; returns the other outputs.
fn deliver(
    from: &mut Room,
    fh: ConnHandle,
    to: &mut Room,
    th: ConnHandle,
    now: u64,
) -> Vec<Output> {
    let mut rest = Vec::new();
    for o in drain(from) {
        match o {
            Output::Send { conn, frame } if conn == fh => to.handle_frame(th, &frame, now),
            other => rest.push(other),
        }
    }
    rest
}

fn events(outs: &[Output]) -> Vec<&Event> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn two_engines_meet_and_chat() {
    let (mut a, mut b, ha, hb) = pair();
    a.send_chat("  hello  ", 100).expect("sent");
    let outs = deliver(&mut a, ha, &mut b, hb, 101);
    assert!(events(&outs)
        .iter()
        .any(|e| matches!(e, Event::Chat { from: None, text, .. } if text == "hello")));
    let got = drain(&mut b);
    assert!(events(&got)
        .iter()
        .any(|e| matches!(e, Event::Chat { from: Some(_), text, name, .. } if text == "hello" && name == "peer 1")));
}

/// Invariant: a message over the limit is refused before anything is sent, with a reason the
/// composer shows while it keeps the draft.
#[test]
fn an_overlong_chat_message_is_refused_up_front() {
    let long = "x".repeat(MAX_CHAT_BYTES + 1);
    assert_eq!(check_chat(&long), Err(ChatError::TooLong));
    assert_eq!(check_chat("   "), Err(ChatError::Empty));
    assert_eq!(check_chat(" ok "), Ok("ok"));
    let (mut a, _b, _ha, _hb) = pair();
    drain(&mut a);
    assert_eq!(a.send_chat(&long, 100), Err(ChatError::TooLong));
    assert!(drain(&mut a).is_empty(), "nothing sent or shown");
    assert!(ChatError::TooLong.to_string().contains("16 KiB"));
}

/// Invariant: MAX_BAD_FRAMES malformed frames are tolerated; the next one bans the peer.
#[test]
fn malformed_frames_are_counted_then_the_peer_is_banned() {
    let (_a, mut b, _ha, hb) = pair();
    drain(&mut b);
    for i in 0..MAX_BAD_FRAMES {
        b.handle_frame(hb, b"garbage", 100 + u64::from(i));
        let outs = drain(&mut b);
        assert!(
            !outs.iter().any(|o| matches!(o, Output::Close(_))),
            "closed after {i}"
        );
    }
    b.handle_oversized_frame(hb);
    let outs = drain(&mut b);
    assert!(outs.contains(&Output::Close(hb)));
    assert!(events(&outs).iter().any(|e| matches!(e,
        Event::PeerDown { reason: Some(r), .. } if r == "sent malformed data")));
}

/// Invariant: a tracker replaying an old offer gets no answer.
#[test]
fn stale_offers_are_not_answered() {
    let mut a = room(1);
    let ann = announce_of(&mut a, 1_000);
    let mut b = room(2);
    b.handle_tracker_open(0, 1_000);
    drain(&mut b);
    b.handle_tracker_text(0, &forward_offer(&ann, 0), 1_000 + MAX_OFFER_AGE_MS + 1);
    assert!(!drain(&mut b)
        .iter()
        .any(|o| matches!(o, Output::CreateAnswer { .. })));
    b.handle_tracker_text(0, &forward_offer(&ann, 1), 1_000 + MAX_OFFER_AGE_MS);
    assert!(drain(&mut b)
        .iter()
        .any(|o| matches!(o, Output::CreateAnswer { .. })));
}

/// Invariant: a pending answer that went nowhere gives way to a newer offer from the same
/// peer, and an answer with no open connection after a while goes out through the others.
#[test]
fn a_stuck_pending_answer_is_resent_then_replaced() {
    let mut a = Room::new(2, "a", [1; SEED_LEN], 0);
    a.set_keys(keys(), 0);
    let first = announce_of(&mut a, 0);
    let mut b = Room::new(2, "b", [2; SEED_LEN], 0);
    b.set_keys(keys(), 0);
    b.handle_tracker_open(0, 0);
    b.handle_tracker_open(1, 0);
    drain(&mut b);
    b.handle_tracker_text(0, &forward_offer(&first, 0), 10);
    let h = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::CreateAnswer { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("answered");
    b.handle_local_answer(h, Ok("ans".into()), 20);
    let sent: Vec<usize> = drain(&mut b)
        .into_iter()
        .filter_map(|o| match o {
            Output::TrackerSend { tracker, text } if text.contains("answer") => Some(tracker),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [0]);
    assert!(b.poll_timeout().is_some_and(|t| t <= 20 + ANSWER_RESEND_MS));
    b.handle_timeout(20 + ANSWER_RESEND_MS);
    let resent: Vec<usize> = drain(&mut b)
        .into_iter()
        .filter_map(|o| match o {
            Output::TrackerSend { tracker, text } if text.contains("answer") => Some(tracker),
            _ => None,
        })
        .collect();
    assert_eq!(resent, [1], "the answer goes out through the other tracker");
    // An offer only a little newer does not replace it (the first may still connect)...
    let soon = REPLACE_PENDING_AFTER_MS + 100;
    let mut next = Room::new(1, "a", [1; SEED_LEN], soon);
    next.set_keys(keys(), soon);
    let follow_up = announce_of(&mut next, soon);
    b.handle_tracker_text(0, &forward_offer(&follow_up, 0), soon + 10);
    assert!(
        !drain(&mut b).contains(&Output::Close(h)),
        "a recent pending answer stays"
    );
    // ...one made after a has given the first up does.
    let later = crate::mesh::OFFER_TTL_MS + 1_000;
    a.handle_timeout(later);
    drain(&mut a);
    let mut again = Room::new(1, "a", [1; SEED_LEN], later);
    again.set_keys(keys(), later);
    let newer = announce_of(&mut again, later);
    b.handle_tracker_text(0, &forward_offer(&newer, 0), later + 10);
    let outs = drain(&mut b);
    assert!(
        outs.contains(&Output::Close(h)),
        "the stuck answer is dropped"
    );
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::CreateAnswer { .. })));
}

/// Invariant: tracker-controlled numbers saturate; its failure reason is shown cleaned.
#[test]
fn tracker_numbers_saturate_and_reasons_are_cleaned() {
    let mut a = room(1);
    a.handle_tracker_open(0, 0);
    drain(&mut a);
    let ih = keys().info_hash;
    let reply = format!(
        r#"{{"action":"announce","info_hash":"{ih}","interval":{},"complete":{},"incomplete":{}}}"#,
        u64::MAX,
        u64::MAX,
        u64::MAX
    );
    a.handle_tracker_text(0, &reply, 5);
    assert!(a.poll_timeout().is_some());
    let refused = "{\"failure reason\":\"go away\\u202e\\nnow\"}";
    a.handle_tracker_text(0, refused, 6);
    let outs = drain(&mut a);
    assert!(events(&outs).iter().any(|e| matches!(e,
        Event::Trackers(v) if v[0] == TrackerStatus::Refused("go away now".into()))));
}

/// Invariant: a view-once offer over the view-once limit is refused on arrival, never shown
/// or buffered, and counts against its sender.
#[test]
fn oversized_view_once_offers_are_refused_on_arrival() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    a.broadcast(&PeerMessage::FileOffer {
        id: crate::transfer::FileId([1; 16]),
        name: "big.bin".into(),
        size: MAX_VIEW_ONCE_BYTES + 1,
        mime: String::new(),
        view_once: true,
    });
    deliver(&mut a, ha, &mut b, hb, 100);
    let outs = drain(&mut b);
    assert!(!events(&outs)
        .iter()
        .any(|e| matches!(e, Event::File(FileEvent::Offered { .. }))));
    assert!(events(&outs)
        .iter()
        .any(|e| matches!(e, Event::BadFrame { .. })));
}

/// Invariant: a peer's file path is shown and saved only in its sanitized form: relative,
/// no parent steps, no device names, and the download's plan carries the same safe path.
#[test]
fn hostile_offer_paths_are_sanitized_before_anyone_sees_them() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    let hostile = [
        ("../../../etc/cron.d/evil", "etc/cron.d/evil"),
        ("/abs/olute.sh", "abs/olute.sh"),
        ("C:\\Windows\\win.ini", "Windows/win.ini"),
        ("dir/CON/nul.txt", "dir/_CON/_nul.txt"),
        ("a/\u{202e}gpj.exe", "a/gpj.exe"),
    ];
    for (i, (name, _)) in hostile.iter().enumerate() {
        a.broadcast(&PeerMessage::FileOffer {
            id: crate::transfer::FileId([i as u8 + 1; 16]),
            name: (*name).into(),
            size: 10,
            mime: String::new(),
            view_once: false,
        });
    }
    deliver(&mut a, ha, &mut b, hb, 100);
    let shown: Vec<String> = drain(&mut b)
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(Event::File(FileEvent::Offered { name, .. })) => Some(name),
            _ => None,
        })
        .collect();
    let want: Vec<String> = hostile.iter().map(|(_, w)| (*w).to_owned()).collect();
    assert_eq!(shown, want);
    let peer = a.me().clone();
    b.download(&peer, crate::transfer::FileId([1; 16]))
        .expect("offered");
    let plan = drain(&mut b).into_iter().find_map(|o| match o {
        Output::File(FileOutput::OpenSink { plan, .. }) => Some(plan),
        _ => None,
    });
    assert_eq!(plan.map(|p| p.name).as_deref(), Some("etc/cron.d/evil"));
}

/// Invariant: offers past what a receiver keeps from one sender are refused at the sender; an
/// honest sender that withdraws and offers again stays within the cap at every receiver; a
/// sender that ignores the cap is disconnected at its first offer over it, with the reason,
/// and its offers go with it.
#[test]
fn offers_past_the_per_peer_cap_are_refused_and_their_sender_dropped() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    let mut ids = Vec::new();
    for i in 0..MAX_OFFERS_PER_PEER {
        ids.push(
            a.offer_file(&format!("f{i}"), 1, "", false, 100)
                .expect("within the cap"),
        );
    }
    let err = a
        .offer_file("one-too-many", 1, "", false, 100)
        .expect_err("over the cap");
    assert!(err.to_string().contains("one-too-many was not offered"));
    // Withdraw-and-offer churn, as someone replacing a folder's files one by one.
    for (i, id) in ids.drain(..).take(64).enumerate() {
        a.withdraw_file(id);
        a.offer_file(&format!("again{i}"), 1, "", false, 100)
            .expect("room again after a withdrawal");
    }
    deliver(&mut a, ha, &mut b, hb, 101);
    let outs = drain(&mut b);
    assert!(!events(&outs)
        .iter()
        .any(|e| matches!(e, Event::PeerDown { .. })));
    // A sender that ignores the cap (as a hostile one would).
    for i in 0..3u8 {
        a.broadcast(&PeerMessage::FileOffer {
            id: crate::transfer::FileId([0xF0 | i; 16]),
            name: format!("extra{i}"),
            size: 1,
            mime: String::new(),
            view_once: false,
        });
    }
    deliver(&mut a, ha, &mut b, hb, 102);
    let outs = drain(&mut b);
    assert!(!events(&outs)
        .iter()
        .any(|e| matches!(e, Event::File(FileEvent::Offered { .. }))));
    assert!(events(&outs).iter().any(|e| matches!(e,
        Event::PeerDown { reason: Some(r), .. } if r == "offered more than 256 files at once")));
    let withdrawn = events(&outs)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::File(FileEvent::Status {
                    state: FileState::Withdrawn,
                    ..
                })
            )
        })
        .count();
    assert_eq!(withdrawn, MAX_OFFERS_PER_PEER);
}

/// Invariant: a view-once file is served once per peer; a second request is refused.
#[test]
fn view_once_files_are_served_once_and_refusals_reach_the_receiver() {
    let (mut a, mut b, ha, hb) = pair();
    let id = a
        .offer_file("photo.png", 1_000, "image/png", true, 100)
        .expect("offered");
    deliver(&mut a, ha, &mut b, hb, 101);
    drain(&mut b);
    let peer_a = a.me().clone();
    let peer_b = b.me().clone();
    b.download(&peer_a, id).expect("download starts");
    let outs = drain(&mut b);
    let plan = outs
        .iter()
        .find_map(|o| match o {
            Output::File(FileOutput::OpenSink { plan, .. }) => Some(plan.clone()),
            _ => None,
        })
        .expect("a sink is opened");
    assert!(plan.in_memory && plan.mime == "image/png");
    b.handle_sink_ready(&peer_a, id, Ok(true), 110);
    deliver(&mut b, hb, &mut a, ha, 111);
    let outs = drain(&mut a);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::File(FileOutput::StartUpload { .. }))));
    a.handle_upload_ended(&peer_b, id, true);
    let outs = drain(&mut a);
    assert!(events(&outs)
        .iter()
        .any(|e| matches!(e, Event::File(FileEvent::Opened { .. }))));
    // b asks again (a second download of the same card).
    b.handle_download_ended(&peer_a, id, DownloadEnd::Failed("x".into()));
    drain(&mut b);
    b.download(&peer_a, id).expect("asks again");
    drain(&mut b);
    b.handle_sink_ready(&peer_a, id, Ok(true), 200);
    deliver(&mut b, hb, &mut a, ha, 201);
    deliver(&mut a, ha, &mut b, hb, 202);
    let outs = drain(&mut b);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::File(FileOutput::AbortSink { .. }))));
    assert!(events(&outs).iter().any(|e| matches!(e,
        Event::File(FileEvent::Status { state: FileState::Failed(w), .. })
            if w == Refusal::AlreadyViewed.describe())));
}

/// Invariant: a view-once file over the limit cannot be offered; the user is told why.
#[test]
fn offering_too_large_a_view_once_file_says_why() {
    let mut a = room(1);
    let err = a
        .offer_file("movie.mp4", MAX_VIEW_ONCE_BYTES + 1, "video/mp4", true, 0)
        .expect_err("refused");
    assert!(err.to_string().contains("too large to send as view once"));
}

/// Invariant: the engine's nonces never repeat, even across many frames.
#[test]
fn frames_never_reuse_a_nonce() {
    let (mut a, _b, _ha, _hb) = pair();
    drain(&mut a);
    for i in 0..200 {
        a.send_chat("x", 100 + i * CHAT_REFILL_MS).expect("sent");
    }
    let mut nonces: Vec<Vec<u8>> = drain(&mut a)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { frame, .. } => Some(frame[1..13].to_vec()),
            _ => None,
        })
        .collect();
    let n = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), n);
    assert!(n >= 200);
}

#[test]
fn mime_types_are_cleaned() {
    assert_eq!(files::clean_mime("text/plain\u{202e}\n"), "text/plain");
    assert_eq!(files::clean_mime(&"é".repeat(200)).len(), 128);
}

/// Invariant: a tracker that floods or sends garbage loses its socket (retried later); the
/// peers it introduced keep their connections.
#[test]
fn a_misbehaving_tracker_is_dropped_without_blaming_peers() {
    let (mut a, _b, ha, _hb) = pair();
    drain(&mut a);
    for i in 0..MAX_BAD_TRACKER_MESSAGES {
        a.handle_tracker_text(0, "not json", 100 + u64::from(i));
        assert!(!drain(&mut a).contains(&Output::CloseTracker(0)));
    }
    a.handle_tracker_oversized(0, 200);
    let outs = drain(&mut a);
    assert!(outs.contains(&Output::CloseTracker(0)));
    // Only the offers that tracker carried go; the peer's connection stays.
    assert!(!outs.contains(&Output::Close(ha)));
    assert_eq!(a.open_peers().count(), 1, "the peer stays");
    let retry = outs.iter().any(|o| {
        matches!(o, Output::Event(Event::Trackers(v)) if matches!(v[0], TrackerStatus::Retrying { .. }))
    });
    assert!(retry, "the tracker is retried later");
    a.handle_tracker_flooded(0, 300);
    assert!(!drain(&mut a).contains(&Output::Close(ha)));
    assert_eq!(a.open_peers().count(), 1);
}

/// Invariant: a tracker that accepts the socket and never answers is dropped and retried
/// after REPLY_TIMEOUT_MS, and the room says so instead of "joining" for ever.
#[test]
fn a_tracker_that_never_answers_is_retried() {
    let mut a = room(1);
    announce_of(&mut a, 0);
    let at = a.poll_timeout().expect("a wake-up is due");
    assert!(at <= REPLY_TIMEOUT_MS);
    let mut now = at;
    let mut outs = Vec::new();
    while now <= REPLY_TIMEOUT_MS {
        a.handle_timeout(now);
        outs.extend(drain(&mut a));
        now = a.poll_timeout().expect("a wake-up is due").max(now + 1);
    }
    assert!(outs.contains(&Output::CloseTracker(0)));
    assert!(outs.iter().any(|o| matches!(o,
        Output::Event(Event::Trackers(v)) if matches!(v[0], TrackerStatus::Retrying { .. }))));
}

/// Invariant: every member of a room picks the same trackers, and over many rooms the load
/// divides evenly (k / N each).
#[test]
fn rooms_spread_evenly_over_trackers_and_members_agree() {
    let ids: Vec<String> = (0..4)
        .map(|i| format!("wss://tracker{i}.example/announce"))
        .collect();
    let mut per_tracker = [0u32; 4];
    for r in 0..2_000 {
        let ih = format!("{r:020}");
        let chosen = choose_trackers(&ih, &ids, 2);
        assert_eq!(chosen.len(), 2);
        assert_eq!(chosen, choose_trackers(&ih, &ids, 2), "deterministic");
        for i in chosen {
            per_tracker[i] += 1;
        }
    }
    for n in per_tracker {
        assert!((900..=1_100).contains(&n), "{per_tracker:?}");
    }
    assert_eq!(choose_trackers("x", &ids, 9), [0, 1, 2, 3]);

    let new_member = |seed: u8| {
        let mut r = Room::spread(&ids, 2, "m", [seed; SEED_LEN], 0);
        let before = drain(&mut r);
        assert!(
            !before
                .iter()
                .any(|o| matches!(o, Output::ConnectTracker(_))),
            "no socket before the key says which"
        );
        r.set_keys(keys(), 1);
        let connects: Vec<usize> = drain(&mut r)
            .into_iter()
            .filter_map(|o| match o {
                Output::ConnectTracker(i) => Some(i),
                _ => None,
            })
            .collect();
        connects
    };
    let a = new_member(1);
    assert_eq!(a.len(), 2);
    assert_eq!(
        a,
        new_member(2),
        "two members of one room pick the same trackers"
    );
    assert_eq!(a, choose_trackers(&keys().info_hash, &ids, 2));
}

fn chats(outs: &[Output]) -> Vec<(Option<PeerId>, String, Option<PeerId>)> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            Event::Chat {
                from, text, direct, ..
            } => Some((from.clone(), text.clone(), direct.clone())),
            _ => None,
        })
        .collect()
}

fn typing_events(outs: &[Output]) -> Vec<bool> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            Event::Typing { typing, .. } => Some(*typing),
            _ => None,
        })
        .collect()
}

/// Invariant: past a burst of CHAT_BURST, our messages are refused (nothing sent, nothing
/// shown, the composer keeps the draft) until the rate allows one again.
#[test]
fn our_messages_past_the_rate_are_refused_and_nothing_is_sent() {
    let (mut a, _b, _ha, _hb) = pair();
    drain(&mut a);
    for i in 0..CHAT_BURST {
        assert!(a.can_chat(100));
        a.send_chat(&format!("m{i}"), 100)
            .expect("within the burst");
    }
    drain(&mut a);
    assert!(!a.can_chat(100));
    assert_eq!(a.send_chat("one more", 100), Err(ChatError::TooFast));
    assert!(drain(&mut a).is_empty(), "nothing sent or shown");
    assert!(a.can_chat(100 + CHAT_REFILL_MS));
    a.send_chat("later", 100 + CHAT_REFILL_MS)
        .expect("the rate allows one");
    assert_eq!(
        a.send_chat("again", 100 + CHAT_REFILL_MS),
        Err(ChatError::TooFast)
    );
}

/// Invariant: a peer's messages past its rate (a burst plus slack) are dropped, the user is
/// told once per flood, and the peer stays (only its excess is lost).
#[test]
fn a_flooding_peers_excess_is_dropped_and_told_once() {
    let (a, mut b, ha, hb) = pair();
    drain(&mut b);
    let k = keys();
    let (aid, bid) = (a.me().clone(), b.me().clone());
    let frame = |id: u64, n: u8| {
        let msg = PeerMessage::Chat {
            id,
            sent_at_ms: 100,
            text: format!("flood {id}"),
        };
        wire::encode(&k.chat, [n; 12], aid.as_str(), bid.as_str(), &msg)
    };
    let total = u64::from(CHAT_BURST + CHAT_BURST_SLACK) + 20;
    for id in 1..=total {
        b.handle_frame(hb, &frame(id, id as u8), 100);
    }
    let outs = drain(&mut b);
    assert_eq!(
        chats(&outs).len(),
        (CHAT_BURST + CHAT_BURST_SLACK) as usize,
        "the excess is dropped"
    );
    let told = events(&outs)
        .iter()
        .filter(|e| matches!(e, Event::Notice(n) if n.contains("too fast")))
        .count();
    assert_eq!(told, 1, "told once per flood");
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Close(_))),
        "the peer stays"
    );
    // The flood goes on: the refill lets a few through, the rest is dropped, and the user
    // is not told again for each gap.
    let later = 100 + 3 * CHAT_REFILL_MS;
    for id in total + 1..=total + 6 {
        b.handle_frame(hb, &frame(id, 100 + id as u8), later);
    }
    let outs = drain(&mut b);
    assert_eq!(chats(&outs).len(), 3, "the refill lets three through");
    let too_fast = |outs: &[Output]| {
        events(outs)
            .iter()
            .filter(|e| matches!(e, Event::Notice(n) if n.contains("too fast")))
            .count()
    };
    assert_eq!(too_fast(&outs), 0, "not told again within one flood");
    // Once the rate allows again, its messages are shown.
    let calm = 100 + FLOOD_NOTICE_EVERY_MS;
    b.handle_frame(hb, &frame(total + 7, 200), calm);
    assert_eq!(chats(&drain(&mut b)).len(), 1);
    // A flood long after is told again.
    for id in total + 8..=total + 40 {
        b.handle_frame(hb, &frame(id, 150 + (id - total) as u8), calm + 1);
    }
    assert_eq!(too_fast(&drain(&mut b)), 1, "a new flood is told");
    drop((a, ha));
}

/// Invariant: a peer flooding far past the rate (a modified client: honest ones hold
/// themselves to it) is dropped with the reason once MAX_CHAT_DROPPED of its messages were,
/// and what it sends after that is not read; a sender at the rate never is.
#[test]
fn a_peer_flooding_far_past_the_rate_is_dropped() {
    let (a, mut b, ha, hb) = pair();
    drain(&mut b);
    let k = keys();
    let (aid, bid) = (a.me().clone(), b.me().clone());
    let frame = |id: u64| {
        let msg = PeerMessage::Chat {
            id,
            sent_at_ms: 100,
            text: format!("flood {id}"),
        };
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&id.to_le_bytes());
        wire::encode(&k.chat, n, aid.as_str(), bid.as_str(), &msg)
    };
    // At the rate, for a long while: never dropped.
    let mut id = 0;
    for t in 0..200u64 {
        id += 1;
        b.handle_frame(hb, &frame(id), 100 + t * CHAT_REFILL_MS);
    }
    assert!(!drain(&mut b).iter().any(|o| matches!(o, Output::Close(_))));
    // 100× the rate: dropped once MAX_CHAT_DROPPED messages were.
    let now = 100 + 200 * CHAT_REFILL_MS;
    let total = u64::from(CHAT_BURST + CHAT_BURST_SLACK + MAX_CHAT_DROPPED) + 100;
    for _ in 0..total {
        id += 1;
        b.handle_frame(hb, &frame(id), now);
    }
    let outs = drain(&mut b);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Close(h) if *h == hb)));
    assert!(events(&outs).iter().any(|e| matches!(e,
        Event::PeerDown { reason: Some(r), .. } if r.contains("too fast"))));
    assert!(chats(&outs).len() <= (CHAT_BURST + CHAT_BURST_SLACK) as usize);
    drop((a, ha));
}

/// Invariant: a direct message goes out on its peer's connection alone and is shown as
/// private on both sides; a third peer never sees it.
#[test]
fn a_direct_message_goes_only_to_its_peer() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    drain(&mut a);
    let bid = b.me().clone();
    a.send_direct(&bid, "just you", 100).expect("sent");
    let outs = drain(&mut a);
    let sends: Vec<ConnHandle> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(sends, vec![ha], "one frame, on b's connection");
    assert_eq!(
        chats(&outs),
        vec![(None, "just you".to_owned(), Some(bid.clone()))]
    );
    for o in outs {
        if let Output::Send { frame, .. } = o {
            b.handle_frame(hb, &frame, 101);
        }
    }
    let aid = a.me().clone();
    assert_eq!(
        chats(&drain(&mut b)),
        vec![(Some(aid.clone()), "just you".to_owned(), Some(aid))]
    );
    let stranger = PeerId::random(&[7; crate::ids::ID_LEN]);
    assert!(matches!(
        a.send_direct(&stranger, "hi", 102),
        Err(ChatError::NotHere(_))
    ));
}

/// Invariant: typing is told at most every TYPING_REFRESH_MS, shown until the peer sends,
/// stops or goes quiet for TYPING_SHOWN_MS, and never told while sharing is off.
#[test]
fn typing_is_shown_refreshed_and_cleared() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    drain(&mut a);
    a.typing(None, 100);
    a.typing(None, 200);
    deliver(&mut a, ha, &mut b, hb, 200);
    assert_eq!(
        typing_events(&drain(&mut b)),
        vec![true],
        "one start, debounced"
    );
    // A message clears it at the receiver.
    a.send_chat("done", 300).expect("sent");
    deliver(&mut a, ha, &mut b, hb, 300);
    assert_eq!(typing_events(&drain(&mut b)), vec![false]);
    // Typing again, then the draft is cleared.
    a.typing(None, 400);
    deliver(&mut a, ha, &mut b, hb, 400);
    assert_eq!(typing_events(&drain(&mut b)), vec![true]);
    a.stop_typing();
    deliver(&mut a, ha, &mut b, hb, 500);
    assert_eq!(typing_events(&drain(&mut b)), vec![false]);
    // A last "typing" with nothing after runs out.
    a.typing(None, 600);
    deliver(&mut a, ha, &mut b, hb, 600);
    drain(&mut b);
    let until = b.poll_timeout().expect("a wake-up");
    assert!(until <= 600 + TYPING_SHOWN_MS);
    b.handle_timeout(600 + TYPING_SHOWN_MS);
    assert_eq!(typing_events(&drain(&mut b)), vec![false]);
    // Sharing off: nothing is told.
    a.set_share_typing(false);
    drain(&mut a);
    a.typing(None, 10_000);
    assert!(drain(&mut a).is_empty());
}

fn vanished(outs: &[Output]) -> Vec<(Option<PeerId>, u64)> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            Event::Vanish { from, id } => Some((from.clone(), *id)),
            _ => None,
        })
        .collect()
}

/// Invariant: a message sent while the room's timer is on carries it; sender and receiver
/// show when it vanishes and both remove it then; a message sent after the timer is off
/// stays. A late joiner learns the timer when it is greeted.
#[test]
fn the_room_timer_makes_messages_vanish_everywhere() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut b);
    drain(&mut a);
    assert_eq!(a.set_timer(Some(12_345)), Err(ChatError::BadTimer));
    a.set_timer(Some(30_000)).expect("a choice");
    let outs = deliver(&mut a, ha, &mut b, hb, 100);
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        Event::Timer {
            by: None,
            ttl_ms: Some(30_000),
            ..
        }
    )));
    let got = drain(&mut b);
    assert!(events(&got).iter().any(|e| matches!(
        e,
        Event::Timer {
            by: Some(_),
            ttl_ms: Some(30_000),
            ..
        }
    )));
    assert_eq!(b.timer(), Some(30_000));

    a.send_chat("soon gone", 1_000).expect("sent");
    let outs = deliver(&mut a, ha, &mut b, hb, 1_010);
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        Event::Chat {
            from: None,
            expires_at_ms: Some(31_000),
            ..
        }
    )));
    let got = drain(&mut b);
    let id = events(&got)
        .iter()
        .find_map(|e| match e {
            Event::Chat {
                expires_at_ms: Some(31_010),
                id,
                ..
            } => Some(*id),
            _ => None,
        })
        .expect("b shows when it vanishes, counted from its arrival");
    // The timer goes off: the next message stays.
    b.set_timer(None).expect("off");
    deliver(&mut b, hb, &mut a, ha, 2_000);
    assert_eq!(a.timer(), None);
    a.send_chat("stays", 2_100).expect("sent");
    deliver(&mut a, ha, &mut b, hb, 2_100);
    drain(&mut b);
    assert!(a.poll_timeout().is_some_and(|t| t <= 31_000));
    a.handle_timeout(31_000);
    assert_eq!(vanished(&drain(&mut a)), vec![(None, id)]);
    b.handle_timeout(31_010);
    assert_eq!(vanished(&drain(&mut b)), vec![(Some(a.me().clone()), id)]);
    b.handle_timeout(100_000);
    assert!(
        vanished(&drain(&mut b)).is_empty(),
        "the later message stays"
    );
}

/// Invariant: concurrent timer changes end the same on both sides (highest version, then
/// greater peer id), whatever order they arrive in.
#[test]
fn concurrent_timer_changes_agree() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut a);
    drain(&mut b);
    a.set_timer(Some(60_000)).expect("set");
    b.set_timer(Some(300_000)).expect("set");
    deliver(&mut a, ha, &mut b, hb, 100);
    deliver(&mut b, hb, &mut a, ha, 100);
    assert_eq!(a.timer(), b.timer(), "both sides agree");
    let winner = if a.me() > b.me() { 60_000 } else { 300_000 };
    assert_eq!(a.timer(), Some(winner));
}

/// Invariant: a view-once message is covered until revealed, revealed once, gone
/// VIEW_ONCE_SHOWN_MS later, and its sender learns who viewed it.
#[test]
fn a_view_once_message_is_revealed_once_then_vanishes_and_the_sender_is_told() {
    let (mut a, mut b, ha, hb) = pair();
    drain(&mut a);
    drain(&mut b);
    let how = Compose {
        view_once: true,
        ..Compose::default()
    };
    a.send_message("look once", how, 100).expect("sent");
    deliver(&mut a, ha, &mut b, hb, 110);
    let got = drain(&mut b);
    let id = events(&got)
        .iter()
        .find_map(|e| match e {
            Event::Chat {
                view_once: true,
                expires_at_ms: None,
                id,
                ..
            } => Some(*id),
            _ => None,
        })
        .expect("shown as view-once, no timer yet");
    let aid = a.me().clone();
    assert!(!b.reveal(&aid, id + 1, 200), "no such message");
    assert!(b.reveal(&aid, id, 200));
    assert!(!b.reveal(&aid, id, 201), "revealed once");
    deliver(&mut b, hb, &mut a, ha, 210);
    let told = drain(&mut a);
    assert!(events(&told)
        .iter()
        .any(|e| matches!(e, Event::Viewed { id: v, name, .. } if *v == id && name == "peer 2")));
    b.handle_timeout(200 + VIEW_ONCE_SHOWN_MS - 1);
    assert!(vanished(&drain(&mut b)).is_empty());
    b.handle_timeout(200 + VIEW_ONCE_SHOWN_MS);
    assert_eq!(vanished(&drain(&mut b)), vec![(Some(aid), id)]);
    // A "viewed" for a message that was not view-once is ignored.
    b.send_chat("plain", 300).expect("sent");
    deliver(&mut b, hb, &mut a, ha, 300);
    drain(&mut a);
}

#[test]
fn timers_read_as_people_say_them() {
    let labels: Vec<String> = TIMER_CHOICES_MS
        .iter()
        .map(|t| timer_label(Some(*t)))
        .collect();
    assert_eq!(labels, ["30 seconds", "1 minute", "5 minutes", "1 hour"]);
    assert_eq!(
        timer_announcement("Bob", Some(60_000)),
        "Bob set messages to vanish after 1 minute"
    );
    assert_eq!(
        timer_announcement("You", None),
        "You turned vanishing messages off"
    );
}

/// Invariant: when the peer heard our hello but its own was lost, what it says meanwhile is
/// held, then shown under its name once its hello repeats: never under a made-up one.
#[test]
fn messages_before_the_peers_hello_wait_for_it() {
    let (mut a, mut b, ha, hb) = open_pair();
    drain(&mut b); // b's hello is lost
    deliver(&mut a, ha, &mut b, hb, 60); // a's reaches b: b lists a, answers, may speak
    b.send_chat("early words", 70).expect("sent");
    // b's answering hello is lost too; its chat arrives.
    let sends: Vec<Vec<u8>> = drain(&mut b)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { conn, frame } if conn == hb => Some(frame),
            _ => None,
        })
        .collect();
    for frame in &sends[1..] {
        a.handle_frame(ha, frame, 70);
    }
    let seen = drain(&mut a);
    assert!(chats(&seen).is_empty(), "held until the hello: {seen:?}");
    // a repeats its hello; b answers with its own; a lists b, then shows the message.
    a.handle_timeout(50 + HELLO_RESEND_MS);
    deliver(&mut a, ha, &mut b, hb, 50 + HELLO_RESEND_MS);
    deliver(&mut b, hb, &mut a, ha, 50 + HELLO_RESEND_MS);
    let got = drain(&mut a);
    let evs = events(&got);
    let up = evs
        .iter()
        .position(|e| matches!(e, Event::PeerUp { .. }))
        .expect("b listed");
    let chat = evs
        .iter()
        .position(|e| matches!(e, Event::Chat { name, text, .. } if name == "peer 2" && text == "early words"))
        .expect("the held message, under b's name");
    assert!(up < chat, "listed first, then its message");
}

/// Delivers frames both ways until neither side sends more; returns what else each side
/// output (a's, b's).
fn settle(
    a: &mut Room,
    ha: ConnHandle,
    b: &mut Room,
    hb: ConnHandle,
    now: u64,
) -> (Vec<Output>, Vec<Output>) {
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        at_a.extend(deliver(a, ha, b, hb, now));
        at_b.extend(deliver(b, hb, a, ha, now));
    }
    (at_a, at_b)
}

fn sas_of(outs: &[Output]) -> Option<([u8; crate::identity::SAS_EMOJI], u32)> {
    events(outs).into_iter().find_map(|e| match e {
        Event::Sas { sas, .. } => Some((sas.emoji, sas.number)),
        _ => None,
    })
}

fn trust_of(outs: &[Output]) -> Vec<PeerTrust> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            Event::PeerTrust { trust, .. } => Some(trust.clone()),
            _ => None,
        })
        .collect()
}

/// Invariant: both sides of an honest verification see the same codes; "They match" on both
/// marks each verified at the other; a peer's fingerprint is its key's.
#[test]
fn honest_peers_see_equal_codes_and_a_match_verifies_both() {
    let (mut a, mut b, ha, hb) = pair();
    let (pa, pb) = (a.me().clone(), b.me().clone());
    let tb = b.peer_trust(&pa).expect("a listed at b");
    assert_eq!(tb.fingerprint, a.identity().1);
    assert!(!tb.verified);
    a.verify(&pb);
    deliver(&mut a, ha, &mut b, hb, 100); // commitment
    let b1 = deliver(&mut b, hb, &mut a, ha, 110); // b's contribution
    let a_out = deliver(&mut a, ha, &mut b, hb, 120); // a's reveal
    let b_out = drain(&mut b);
    let (sa, sb) = (sas_of(&a_out), sas_of(&b_out));
    assert!(sas_of(&b1).is_none(), "b shows nothing before the reveal");
    assert!(sa.is_some() && sa == sb, "{sa:?} {sb:?}");
    a.confirm_sas(&pb, true);
    b.confirm_sas(&pa, true);
    let (a_out, b_out) = settle(&mut a, ha, &mut b, hb, 130);
    for (outs, who) in [(&a_out, &pb), (&b_out, &pa)] {
        assert!(events(outs).iter().any(|e| matches!(e,
            Event::VerifyEnd { matched: true, peer, .. } if peer == who)));
        assert!(trust_of(outs).iter().any(|t| t.verified), "{outs:?}");
    }
    assert!(a.peer_trust(&pb).is_some_and(|t| t.verified));
    assert!(b.peer_trust(&pa).is_some_and(|t| t.verified));
}

/// Invariant: "They don't match" on either side warns both, and nobody is verified.
#[test]
fn a_mismatch_warns_both_sides() {
    let (mut a, mut b, ha, hb) = pair();
    let (pa, pb) = (a.me().clone(), b.me().clone());
    b.verify(&pa);
    deliver(&mut b, hb, &mut a, ha, 100);
    deliver(&mut a, ha, &mut b, hb, 110);
    deliver(&mut b, hb, &mut a, ha, 120);
    a.confirm_sas(&pb, true);
    b.confirm_sas(&pa, false);
    let (at_a, at_b) = settle(&mut a, ha, &mut b, hb, 130);
    assert!(events(&at_a).iter().any(|e| matches!(e,
        Event::VerifyEnd { matched: false, reason, .. } if reason.contains("do not match"))));
    assert!(events(&at_b)
        .iter()
        .any(|e| matches!(e, Event::VerifyEnd { matched: false, .. })));
    assert!(!a.peer_trust(&pb).is_some_and(|t| t.verified));
    assert!(!b.peer_trust(&pa).is_some_and(|t| t.verified));
}

/// Invariant: a reveal that does not open its commitment ends the verification as failed.
#[test]
fn a_late_reveal_that_does_not_match_its_commitment_fails() {
    let (mut a, mut b, ha, hb) = pair();
    let (pa, pb) = (a.me().clone(), b.me().clone());
    a.verify(&pb);
    deliver(&mut a, ha, &mut b, hb, 100);
    drain(&mut b);
    let forged = wire::encode(
        &keys().chat,
        [3; 12],
        pa.as_str(),
        pb.as_str(),
        &PeerMessage::SasReveal { r: [0xEE; 16] },
    );
    b.handle_frame(hb, &forged, 110);
    let got = drain(&mut b);
    assert!(sas_of(&got).is_none());
    assert!(events(&got).iter().any(|e| matches!(e,
        Event::VerifyEnd { matched: false, reason, .. } if reason.contains("commitment"))));
}

/// Invariant: a verified peer that comes back with a new key is not verified, and the user is
/// told; a remembered device is verified from its first hello.
#[test]
fn a_new_key_loses_the_badge_and_remembered_devices_are_recognised() {
    let (mut a, mut b, ha, hb) = pair();
    let (pa, pb) = (a.me().clone(), b.me().clone());
    a.verify(&pb);
    deliver(&mut a, ha, &mut b, hb, 100);
    deliver(&mut b, hb, &mut a, ha, 110);
    deliver(&mut a, ha, &mut b, hb, 120);
    a.confirm_sas(&pb, true);
    b.confirm_sas(&pa, true);
    settle(&mut a, ha, &mut b, hb, 130);
    assert!(a.peer_trust(&pb).is_some_and(|t| t.verified));
    let b_key = b.identity().0;
    // "peer 2" comes back (here: a's twin engine, which remembers the verification) with
    // another key under the same name.
    let (mut a3, mut b3, ha3, hb3) = open_pair_of(1, 2);
    a3.trust.verified.push_back((b_key, "peer 2".into()));
    b3.set_identity(crate::identity::Identity::from_secret(&[77; 32]).expect("key"));
    // set_identity after the greeting went out changes nothing already sent: redo the hello.
    drain(&mut b3);
    b3.send_hello(hb3, false);
    let (at_a, _) = settle(&mut a3, ha3, &mut b3, hb3, 60);
    assert!(
        events(&at_a).iter().any(|e| matches!(e,
        Event::Notice(n) if n.contains("new identity key"))),
        "{at_a:?}"
    );
    assert!(trust_of(&at_a).iter().all(|t| !t.verified));
    // A remembered device: verified at once, with its label.
    let (mut a4, mut b4, ha4, hb4) = open_pair_of(1, 2);
    let b4_key = b4.identity().0;
    a4.trust_device(b4_key, "Your laptop");
    let (at_a, _) = settle(&mut a4, ha4, &mut b4, hb4, 60);
    assert!(trust_of(&at_a)
        .iter()
        .any(|t| t.verified && t.device.as_deref() == Some("Your laptop")));
}

/// What the drill found over its runs.
#[derive(Default, Debug)]
struct Drill {
    runs: u32,
    detected: u32,
}

/// The man-in-the-middle drill, variant A: a relay that knows the room name answers both
/// peers' offers itself, so each side's DTLS peer is the relay, and forwards every frame,
/// hellos included, untouched. Both sides must refuse, saying why.
#[test]
fn mitm_drill_forwarded_hellos_are_refused_on_both_sides() {
    let mut drill = Drill::default();
    for run in 0..20u8 {
        let (mut a, mut b, ha, hb) = open_pair_of(2 * run + 10, 2 * run + 11);
        // Each side's applied SDPs name the relay's certificate as the other end.
        if let Some(c) = a.conns.get_mut(&ha) {
            c.auth.local_fp = format!("sha-256 A{run}");
            c.auth.remote_fp = format!("sha-256 M1{run}");
        }
        if let Some(c) = b.conns.get_mut(&hb) {
            c.auth.local_fp = format!("sha-256 B{run}");
            c.auth.remote_fp = format!("sha-256 M2{run}");
        }
        // The hellos go out as the connections open: with the relay's certificates.
        drain(&mut a);
        drain(&mut b);
        a.send_hello(ha, false);
        b.send_hello(hb, false);
        let mut seen = Vec::new();
        for t in [60, 70, 80, 90] {
            seen.extend(
                deliver(&mut a, ha, &mut b, hb, t)
                    .into_iter()
                    .map(|o| (0, o)),
            );
            seen.extend(
                deliver(&mut b, hb, &mut a, ha, t)
                    .into_iter()
                    .map(|o| (1, o)),
            );
        }
        seen.extend(drain(&mut a).into_iter().map(|o| (0, o)));
        seen.extend(drain(&mut b).into_iter().map(|o| (1, o)));
        let refused = |side| {
            seen.iter().any(|(s, o)| {
                *s == side
                    && matches!(o, Output::Event(Event::Refused { reason, .. })
                        if reason.contains("in the middle"))
            })
        };
        let listed = seen
            .iter()
            .any(|(_, o)| matches!(o, Output::Event(Event::PeerUp { .. })));
        drill.runs += 1;
        if refused(0) && refused(1) && !listed {
            drill.detected += 1;
        }
    }
    println!("MITM drill, variant A (hellos forwarded): {drill:?}");
    assert_eq!(drill.detected, drill.runs);
}

/// Variant B: the relay signs its own hellos (it runs an engine towards each side under the
/// other side's name) and relays the verification messages between them. Both sides list
/// "the other", but the codes they are shown differ.
#[test]
fn mitm_drill_own_hellos_give_different_codes() {
    fn relay(
        from: &mut Room,
        fh: ConnHandle,
        ids: (&PeerId, &PeerId),
        to: &mut Room,
        th: ConnHandle,
        now: u64,
    ) {
        for o in drain(from) {
            if let Output::Send { conn, frame } = o {
                if conn != fh {
                    continue;
                }
                let (from_id, relay_id) = (from.me().clone(), ids.0.clone());
                let Ok(msg) =
                    wire::decode(&keys().chat, from_id.as_str(), relay_id.as_str(), &frame)
                else {
                    continue;
                };
                let out = wire::encode(
                    &keys().chat,
                    [4; 12],
                    ids.1.as_str(),
                    to.me().as_str(),
                    &msg,
                );
                to.handle_frame(th, &out, now);
            }
        }
    }
    let mut drill = Drill::default();
    for run in 0..20u8 {
        // a ⇄ relay engine "ma" (named like b), relay engine "mb" (named like a) ⇄ b.
        let (mut a, mut ma, ha, hma) = open_pair_of(4 * run + 100, 4 * run + 101);
        let (mut mb, mut b, hmb, hb) = open_pair_of(4 * run + 102, 4 * run + 103);
        for (r, h, local, remote) in [
            (&mut a, ha, "A", "M1"),
            (&mut ma, hma, "M1", "A"),
            (&mut mb, hmb, "M2", "B"),
            (&mut b, hb, "B", "M2"),
        ] {
            if let Some(c) = r.conns.get_mut(&h) {
                c.auth.local_fp = format!("sha-256 {local}{run}");
                c.auth.remote_fp = format!("sha-256 {remote}{run}");
            }
            drain(r);
            r.send_hello(h, false);
        }
        for t in [60, 70, 80] {
            deliver(&mut a, ha, &mut ma, hma, t);
            deliver(&mut ma, hma, &mut a, ha, t);
            deliver(&mut mb, hmb, &mut b, hb, t);
            deliver(&mut b, hb, &mut mb, hmb, t);
        }
        assert!(a.peer_trust(ma.me()).is_some() && b.peer_trust(mb.me()).is_some());
        let (ida, idma, idmb, idb) = (
            a.me().clone(),
            ma.me().clone(),
            mb.me().clone(),
            b.me().clone(),
        );
        a.verify(&idma);
        relay(&mut a, ha, (&idma, &idmb), &mut b, hb, 100); // commitment
        relay(&mut b, hb, (&idmb, &idma), &mut a, ha, 110); // b's contribution
        let a_sas = sas_of(&drain_keep_sends(&mut a));
        relay(&mut a, ha, (&idma, &idmb), &mut b, hb, 120); // reveal
        let b_sas = sas_of(&drain(&mut b));
        let _ = (ida, idb);
        drill.runs += 1;
        if a_sas.is_some() && b_sas.is_some() && a_sas != b_sas {
            drill.detected += 1;
        }
    }
    println!("MITM drill, variant B (own hellos): {drill:?}");
    assert_eq!(drill.detected, drill.runs);
}

/// Takes the events out of `r`'s outputs and puts its frames back (for a relay to carry).
fn drain_keep_sends(r: &mut Room) -> Vec<Output> {
    let all = drain(r);
    let (sends, rest): (Vec<Output>, Vec<Output>) = all
        .into_iter()
        .partition(|o| matches!(o, Output::Send { .. }));
    for o in sends {
        r.push(o);
    }
    rest
}

fn admission_events(outs: &[Output]) -> Vec<&Event> {
    events(outs)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Lock { .. }
                    | Event::JoinRequest { .. }
                    | Event::JoinDecided { .. }
                    | Event::Admission(_)
            )
        })
        .collect()
}

/// Invariant: in a locked room a newcomer is listed by no member until one admits it; the
/// decision reaches every member and the newcomer; a denied newcomer is refused and gets no
/// chat; unlocking lets waiting newcomers in.
#[test]
fn a_locked_room_admits_or_denies_newcomers() {
    // a and b are members; a locks; b learns it.
    let (mut a, mut b, ha, hb) = pair();
    a.set_locked(true, 100);
    let (at_a, at_b) = settle(&mut a, ha, &mut b, hb, 100);
    assert!(admission_events(&at_a).iter().any(|e| matches!(
        e,
        Event::Lock {
            by: None,
            locked: true,
            ..
        }
    )));
    assert!(admission_events(&at_b).iter().any(|e| matches!(
        e,
        Event::Lock {
            by: Some(_),
            locked: true,
            ..
        }
    )));
    assert!(b.locked());

    // c knocks at a (the mesh would connect it to b as well; one member is enough here).
    let (mut a2, mut c, ha2, hc) = open_pair_of(1, 3);
    // a2 stands for a: same identity and lock state, a connection of its own to c.
    a2.set_identity(a.trust.me().clone());
    a2.set_locked(true, 150);
    drain(&mut a2);
    a2.send_hello(ha2, false);
    let (at_a2, at_c) = settle(&mut a2, ha2, &mut c, hc, 200);
    assert!(
        !events(&at_a2)
            .iter()
            .any(|e| matches!(e, Event::PeerUp { .. })),
        "c is not listed"
    );
    let c_id = c.me().clone();
    assert!(events(&at_a2)
        .iter()
        .any(|e| matches!(e, Event::JoinRequest { peer, .. } if *peer == c_id)));
    assert!(events(&at_c)
        .iter()
        .any(|e| matches!(e, Event::Admission(AdmissionStatus::Waiting))));
    // Chat from a does not reach c while it waits.
    a2.send_chat("members only", 210).expect("sent");
    let (_, at_c) = settle(&mut a2, ha2, &mut c, hc, 210);
    assert!(chats(&at_c).is_empty(), "{at_c:?}");

    // a admits: c is listed at a, and c hears it was let in.
    a2.decide(&c_id, true, 300);
    let (at_a2, at_c) = settle(&mut a2, ha2, &mut c, hc, 300);
    assert!(events(&at_a2)
        .iter()
        .any(|e| matches!(e, Event::PeerUp { peer, .. } if *peer == c_id)));
    assert!(events(&at_a2)
        .iter()
        .any(|e| matches!(e, Event::JoinDecided { admitted: true, .. })));
    assert!(events(&at_c)
        .iter()
        .any(|e| matches!(e, Event::Admission(AdmissionStatus::Admitted))));
    assert!(
        c.locked(),
        "the admitted newcomer learns the room is locked"
    );

    // Another newcomer is denied: refused, told, and never listed.
    let (mut a3, mut d, ha3, hd) = open_pair_of(1, 4);
    a3.set_identity(a.trust.me().clone());
    a3.set_locked(true, 350);
    drain(&mut a3);
    a3.send_hello(ha3, false);
    settle(&mut a3, ha3, &mut d, hd, 400);
    let d_id = d.me().clone();
    a3.decide(&d_id, false, 410);
    let (at_a3, at_d) = settle(&mut a3, ha3, &mut d, hd, 410);
    assert!(at_a3
        .iter()
        .any(|o| matches!(o, Output::Close(h) if *h == ha3)));
    assert!(events(&at_a3).iter().any(|e| matches!(e,
        Event::Refused { reason, .. } if reason.contains("not admitted"))));
    assert!(!events(&at_a3)
        .iter()
        .any(|e| matches!(e, Event::PeerUp { .. })));
    assert!(events(&at_d)
        .iter()
        .any(|e| matches!(e, Event::Admission(AdmissionStatus::Denied))));

    // A decision signed by someone else than its sender is not believed.
    let forged = PeerMessage::Decision {
        key: c.identity().0.to_vec(),
        admit: false,
        signature: vec![1; 64],
    };
    let frame = wire::encode(
        &keys().chat,
        [5; 12],
        a.me().as_str(),
        b.me().as_str(),
        &forged,
    );
    b.handle_frame(hb, &frame, 500);
    assert!(events(&drain(&mut b))
        .iter()
        .any(|e| matches!(e, Event::BadFrame { .. })));

    // A newcomer that leaves while it waits withdraws its request.
    let (mut a4, mut f, ha4, hf) = open_pair_of(1, 6);
    a4.set_locked(true, 450);
    drain(&mut a4);
    a4.send_hello(ha4, false);
    settle(&mut a4, ha4, &mut f, hf, 460);
    a4.handle_channel_closed(ha4);
    let f_id = f.me().clone();
    assert!(events(&drain(&mut a4))
        .iter()
        .any(|e| matches!(e, Event::JoinWithdrawn { peer } if *peer == f_id)));

    // Unlocking lets a waiting newcomer in.
    let (mut a5, mut e5, ha5, he5) = open_pair_of(1, 5);
    a5.set_locked(true, 550);
    drain(&mut a5);
    a5.send_hello(ha5, false);
    settle(&mut a5, ha5, &mut e5, he5, 600);
    a5.set_locked(false, 610);
    let (at_a5, _) = settle(&mut a5, ha5, &mut e5, he5, 610);
    assert!(events(&at_a5)
        .iter()
        .any(|e| matches!(e, Event::PeerUp { .. })));
}

/// Invariant: our own hello sent back to us (re-sealed by someone holding the room key) is
/// refused as reflected, and a hello from another connection as replayed.
#[test]
fn reflected_and_replayed_hellos_are_refused() {
    let (mut a, mut b, ha, hb) = open_pair();
    let (pa, pb) = (a.me().clone(), b.me().clone());
    let own = drain(&mut a)
        .into_iter()
        .find_map(|o| match o {
            Output::Send { frame, .. } => {
                wire::decode(&keys().chat, pa.as_str(), pb.as_str(), &frame).ok()
            }
            _ => None,
        })
        .expect("a's hello");
    let back = wire::encode(&keys().chat, [6; 12], pb.as_str(), pa.as_str(), &own);
    a.handle_frame(ha, &back, 60);
    let got = drain(&mut a);
    assert!(
        events(&got).iter().any(|e| matches!(e,
        Event::Refused { reason, .. } if reason.contains("our own hello"))),
        "{got:?}"
    );

    // b's hello from this connection, shown to a on another connection between the same
    // two peer ids (the relay knows the room key and re-seals it): its nonces are another
    // connection's.
    let hello_b = drain(&mut b)
        .into_iter()
        .find_map(|o| match o {
            Output::Send { frame, .. } => {
                wire::decode(&keys().chat, pb.as_str(), pa.as_str(), &frame).ok()
            }
            _ => None,
        })
        .expect("b's hello");
    let (mut a2, b2, ha2, _) = open_pair();
    drain(&mut a2);
    if let Some(c) = a2.conns.get_mut(&ha2) {
        c.auth.remote_nonce = [0x42; 16];
    }
    let replayed = wire::encode(
        &keys().chat,
        [7; 12],
        b2.me().as_str(),
        a2.me().as_str(),
        &hello_b,
    );
    a2.handle_frame(ha2, &replayed, 60);
    let got = drain(&mut a2);
    assert!(
        events(&got).iter().any(|e| matches!(e,
        Event::Refused { reason, .. } if reason.contains("replayed"))),
        "{got:?}"
    );
    let _ = hb;
}

/// Invariant: a transport whose certificate is not the one the SDP named ends the
/// connection, listed or not; the one named changes nothing.
#[test]
fn a_transport_certificate_other_than_the_negotiated_one_ends_the_connection() {
    let (mut a, mut b, ha, hb) = open_pair();
    for (r, h) in [(&mut a, ha), (&mut b, hb)] {
        if let Some(c) = r.conns.get_mut(&h) {
            c.auth.remote_fp = "sha-256 AB:CD".into();
            c.auth.local_fp = "sha-256 EF:01".into();
        }
    }
    // (Both sides see the same two certificates from opposite ends.)
    if let Some(c) = b.conns.get_mut(&hb) {
        c.auth.remote_fp = "sha-256 EF:01".into();
        c.auth.local_fp = "sha-256 AB:CD".into();
    }
    drain(&mut a);
    drain(&mut b);
    a.send_hello(ha, false);
    b.send_hello(hb, false);
    settle(&mut a, ha, &mut b, hb, 60);
    a.handle_transport_certificate(ha, "SHA-256", "ab:cd");
    assert!(
        drain(&mut a).is_empty(),
        "the negotiated certificate changes nothing"
    );
    a.handle_transport_certificate(ha, "sha-256", "99:99");
    let got = drain(&mut a);
    assert!(got
        .iter()
        .any(|o| matches!(o, Output::Close(h) if *h == ha)));
    assert!(
        events(&got).iter().any(|e| matches!(e,
        Event::PeerDown { reason: Some(r), .. } if r.contains("certificate"))),
        "{got:?}"
    );
}
