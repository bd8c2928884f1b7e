//! Tracker semantics against a real helper: replies, offer relay, answer routing, leaving.

mod common;

use common::*;
use hush_signaling::Config;
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test]
async fn announce_reply_has_interval_and_counts() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let room = id("room-counts");
        let (mut a, mut b, mut c) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );

        let r = announce_ok(&mut a, &room, &id("peer-a")).await;
        assert_eq!(r["interval"], 30);
        assert_eq!(
            (r["complete"].as_u64(), r["incomplete"].as_u64()),
            (Some(0), Some(1))
        );

        let r = announce_ok(&mut b, &room, &id("peer-b")).await;
        assert_eq!(
            (r["complete"].as_u64(), r["incomplete"].as_u64()),
            (Some(0), Some(2))
        );

        // `left: 0` marks a seeder, counted in `complete`, as bittorrent-tracker does.
        let mut seeder = announce(&room, &id("peer-c"));
        seeder["left"] = 0.into();
        send(&mut c, &seeder).await;
        let r = recv(&mut c).await;
        assert_eq!(
            (r["complete"].as_u64(), r["incomplete"].as_u64()),
            (Some(1), Some(2))
        );

        // Re-announcing refreshes, it does not count twice.
        let r = announce_ok(&mut a, &room, &id("peer-a")).await;
        assert_eq!(
            (r["complete"].as_u64(), r["incomplete"].as_u64()),
            (Some(1), Some(2))
        );
    })
    .await;
}

#[tokio::test]
async fn each_offer_goes_to_a_distinct_other_member() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        // Repeated, because the recipients are chosen at random.
        for round in 0..3 {
            let room = id(&format!("room-offers-{round}"));
            let (pa, pb, pc) = (id("peer-a"), id("peer-b"), id("peer-c"));
            let (mut a, mut b, mut c) = (
                helper.connect().await,
                helper.connect().await,
                helper.connect().await,
            );
            announce_ok(&mut b, &room, &pb).await;
            announce_ok(&mut c, &room, &pc).await;
            announce_ok(&mut a, &room, &pa).await;

            let (o1, o2) = (id("offer-1"), id("offer-2"));
            send(&mut a, &announce_with_offers(&room, &pa, &[&o1, &o2])).await;
            let reply = recv(&mut a).await;
            assert_eq!(reply["incomplete"], 3);

            let got_b = recv(&mut b).await;
            let got_c = recv(&mut c).await;
            let mut ids = HashSet::new();
            for got in [&got_b, &got_c] {
                assert_eq!(got["action"], "announce");
                assert_eq!(got["info_hash"], room.as_str());
                assert_eq!(got["peer_id"], pa.as_str());
                assert_eq!(got["offer"]["type"], "offer");
                let oid = got["offer_id"].as_str().unwrap().to_owned();
                assert_eq!(got["offer"]["sdp"], format!("sealed-{oid}"));
                ids.insert(oid);
            }
            assert_eq!(
                ids,
                HashSet::from([o1, o2]),
                "each member got a different offer"
            );
            // Exactly one each, and the sender never gets its own offer.
            expect_silence(&mut b).await;
            expect_silence(&mut c).await;
            expect_silence(&mut a).await;
        }
    })
    .await;
}

#[tokio::test]
async fn offers_beyond_the_other_members_are_dropped() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let room = id("room-extra");
        let (mut a, mut b) = (helper.connect().await, helper.connect().await);
        announce_ok(&mut b, &room, &id("peer-b")).await;
        announce_ok(&mut a, &room, &id("peer-a")).await;
        let offers = [id("o1"), id("o2"), id("o3")];
        let refs: Vec<&str> = offers.iter().map(String::as_str).collect();
        send(&mut a, &announce_with_offers(&room, &id("peer-a"), &refs)).await;
        recv(&mut a).await;
        let got = recv(&mut b).await;
        assert!(got["offer"].is_object());
        expect_silence(&mut b).await;
    })
    .await;
}

#[tokio::test]
async fn answer_is_routed_to_to_peer_id_only() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let room = id("room-answer");
        let (pa, pb, pc) = (id("peer-a"), id("peer-b"), id("peer-c"));
        let (mut a, mut b, mut c) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );
        announce_ok(&mut a, &room, &pa).await;
        announce_ok(&mut b, &room, &pb).await;
        announce_ok(&mut c, &room, &pc).await;

        let oid = id("offer-x");
        send(&mut b, &answer(&room, &pb, &pa, &oid)).await;
        let got = recv(&mut a).await;
        assert_eq!(got["action"], "announce");
        assert_eq!(got["info_hash"], room.as_str());
        assert_eq!(got["peer_id"], pb.as_str());
        assert_eq!(got["offer_id"], oid.as_str());
        assert_eq!(
            got["answer"],
            serde_json::json!({"type": "answer", "sdp": "sealed-answer"})
        );
        // No reply to the answerer (as the reference tracker), nothing to bystanders.
        expect_silence(&mut b).await;
        expect_silence(&mut c).await;

        // An answer to an unknown peer is dropped silently; the answerer keeps working.
        send(&mut b, &answer(&room, &pb, &id("nobody"), &oid)).await;
        expect_silence(&mut b).await;
        expect_silence(&mut a).await;
        still_works(&mut b, &room, &pb).await;
    })
    .await;
}

#[tokio::test]
async fn closing_a_socket_leaves_all_its_swarms() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let (x, y) = (id("room-x"), id("room-y"));
        let (mut a, mut b, mut c) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );
        announce_ok(&mut a, &x, &id("peer-a")).await;
        announce_ok(&mut b, &x, &id("peer-b")).await;
        announce_ok(&mut b, &y, &id("peer-b-in-y")).await;
        let r = announce_ok(&mut c, &x, &id("peer-c")).await;
        assert_eq!(r["incomplete"], 3);

        b.close(None).await.unwrap();
        drop(b);
        // The server processes the close asynchronously; poll until the count drops.
        let mut count = 3;
        for _ in 0..50 {
            count = announce_ok(&mut c, &x, &id("peer-c")).await["incomplete"]
                .as_u64()
                .unwrap();
            if count == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(count, 2);

        // Offers now reach only A: two offers, one recipient.
        send(
            &mut c,
            &announce_with_offers(&x, &id("peer-c"), &[&id("o1"), &id("o2")]),
        )
        .await;
        recv(&mut c).await;
        let got = recv(&mut a).await;
        assert_eq!(got["peer_id"], id("peer-c").as_str());
        expect_silence(&mut a).await;

        // Swarm Y was B's alone: it is gone, so a newcomer is its only member.
        let r = announce_ok(&mut a, &y, &id("peer-a-in-y")).await;
        assert_eq!(r["incomplete"], 1);
    })
    .await;
}

#[tokio::test]
async fn stopped_event_leaves_the_swarm() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let room = id("room-stopped");
        let (pa, pb) = (id("peer-a"), id("peer-b"));
        let (mut a, mut b) = (helper.connect().await, helper.connect().await);
        announce_ok(&mut a, &room, &pa).await;
        announce_ok(&mut b, &room, &pb).await;

        let mut stopped = announce(&room, &pb);
        stopped["event"] = "stopped".into();
        send(&mut b, &stopped).await;
        let r = recv(&mut b).await;
        assert_eq!(r["incomplete"], 1, "reply after leaving: {r}");

        let r = announce_ok(&mut a, &room, &pa).await;
        assert_eq!(r["incomplete"], 1);
        send(&mut a, &announce_with_offers(&room, &pa, &[&id("o1")])).await;
        recv(&mut a).await;
        expect_silence(&mut b).await;
    })
    .await;
}

#[tokio::test]
async fn swarms_on_one_socket_are_kept_apart() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let (x, y) = (id("room-x"), id("room-y"));
        let (mut a, mut b, mut c) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );
        // B is in both rooms under different ids; C only in Y.
        announce_ok(&mut b, &x, &id("b-in-x")).await;
        announce_ok(&mut b, &y, &id("b-in-y")).await;
        announce_ok(&mut c, &y, &id("c-in-y")).await;
        announce_ok(&mut a, &x, &id("peer-a")).await;
        send(
            &mut a,
            &announce_with_offers(&x, &id("peer-a"), &[&id("o1"), &id("o2")]),
        )
        .await;
        recv(&mut a).await;
        let got: Value = recv(&mut b).await;
        assert_eq!(got["info_hash"], x.as_str());
        expect_silence(&mut b).await;
        expect_silence(&mut c).await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away_and_run_returns() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let mut a = helper.connect().await;
        announce_ok(&mut a, &id("room"), &id("peer-a")).await;
        let stop = tokio::spawn(helper.stop());
        let (code, _) = expect_close(&mut a).await;
        assert_eq!(code, 1001);
        stop.await.unwrap().expect("run returned an error");
    })
    .await;
}

#[tokio::test]
async fn a_live_peer_id_is_not_taken_over_and_a_quiet_one_is() {
    within(async {
        let helper = Helper::with_limits(hush_signaling::Limits {
            takeover_after: std::time::Duration::from_millis(600),
            ..hush_signaling::Limits::default()
        })
        .await;
        let room = id("room-takeover");
        let (pa, pb) = (id("peer-a"), id("peer-b"));
        let (mut old, mut thief, mut b) = (
            helper.connect().await,
            helper.connect().await,
            helper.connect().await,
        );
        announce_ok(&mut old, &room, &pa).await;
        announce_ok(&mut b, &room, &pb).await;
        // Another socket announcing a live member's id is refused, and what is addressed to
        // that id still reaches its owner.
        send(&mut thief, &announce(&room, &pa)).await;
        let r = recv(&mut thief).await;
        let reason = r["failure reason"].as_str().expect("a failure reply");
        assert!(reason.contains("in use"), "{reason}");
        send(&mut b, &answer(&room, &pb, &pa, &id("offer"))).await;
        assert_eq!(recv(&mut old).await["peer_id"], pb.as_str());
        expect_silence(&mut thief).await;

        // A client reconnecting after a network change reuses its peer_id while the old
        // socket may still look open: once that one has been quiet past the limit, the newest
        // socket takes the entry over and receives what is addressed to it.
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let mut new = helper.connect().await;
        let r = announce_ok(&mut new, &room, &pa).await;
        assert_eq!(r["incomplete"], 2, "same peer_id, same entry");
        send(&mut b, &answer(&room, &pb, &pa, &id("offer"))).await;
        assert_eq!(recv(&mut new).await["peer_id"], pb.as_str());
        expect_silence(&mut old).await;

        // The old socket closing must not remove the entry it no longer owns.
        old.close(None).await.unwrap();
        drop(old);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = announce_ok(&mut b, &room, &pb).await;
        assert_eq!(r["incomplete"], 2);
    })
    .await;
}
