//! Deterministic simulation of whole rooms: 2 to 8 engines, in-memory trackers (honest and
//! hostile), in-memory connections, one seeded scheduler and simulated time.
//!
//! Every seed builds a room, lets it meet, chats, makes peers leave or crash, and checks:
//! - every pair of live peers ends with exactly one open connection, the same one on both
//!   sides, within [`MEET_BOUND_MS`];
//! - every chat message sent once the room has met reaches every peer present exactly once,
//!   and no peer ever sees a message twice or out of its sender's order;
//! - a peer that leaves (or crashes) is gone from every other engine within
//!   [`GONE_BOUND_MS`];
//! - an engine's state does not grow after peers leave: connections, peers and file offers
//!   shrink back to what the peers still present need;
//! - a hostile tracker (drops, duplicates, replays, reorders, delays, or swallows everything
//!   and never answers) cannot stop peers that share an honest tracker from meeting.
//!
//! `SIM_SEEDS=n` runs more seeds; `SIM_SEED=s` replays one (a failure prints its seed).

mod world;

use world::{Malice, Scenario, World};

/// Seeds in the default `cargo test`.
const DEFAULT_SEEDS: u64 = 1_000;
/// Simulated time within which a room of up to eight meets, every tracker honest. A room
/// meets in a few seconds; the bound leaves room for one follow-up backoff step and for
/// pairs that first glare or lose an offer to an already-connected member.
const MEET_BOUND_MS: u64 = 20_000;
/// The same with a hostile tracker beside the honest one: its dropped answers cost a resend
/// and its replays cost a replaced pending answer.
const MEET_BOUND_HOSTILE_MS: u64 = 30_000;
/// A peer that left is gone everywhere within this: its goodbye, or its channel closing, or
/// four missed heartbeats, plus delivery delays.
const GONE_BOUND_MS: u64 = hush_core::mesh::PEER_SILENCE_MS + 2_000;

fn scenario(seed: u64) -> Scenario {
    let mut r = world::Rng::new(seed ^ 0x5eed_5eed);
    let peers = 2 + (seed % 7) as usize;
    let trackers = match seed % 5 {
        0 | 1 => vec![None],
        2 => vec![None, None],
        3 => vec![None, Some(Malice::all())],
        _ => vec![Some(Malice::random(&mut r)), None, None],
    };
    Scenario {
        seed,
        peers,
        trackers,
    }
}

fn run_seed(seed: u64) -> Result<world::Stats, String> {
    let sc = scenario(seed);
    let hostile = sc.trackers.iter().any(Option::is_some);
    let bound = if hostile {
        MEET_BOUND_HOSTILE_MS
    } else {
        MEET_BOUND_MS
    };
    let mut w = World::new(sc);
    w.join_all(2_000);
    let met = w.run_until(bound, |w| w.all_met())?;
    if !met {
        return Err(format!(
            "room did not meet within {bound} ms: {}",
            w.describe_pairs()
        ));
    }
    let met_at = w.now();
    // Chat once the room has met: every message must reach every peer exactly once.
    w.chat_burst(3_000, 20);
    w.offer_files(3_000, 50);
    w.run_for(4_000)?;
    w.check_chat_delivered()?;
    w.check_timer_agreed()?;
    // Some peers leave or crash; the rest notice and shrink back.
    let gone = w.depart_some();
    w.run_for(GONE_BOUND_MS)?;
    w.check_gone(&gone)?;
    w.check_all_met()?;
    // Unanswered offers expire (10 s) and follow-ups back off: let the room settle.
    w.run_for(30_000)?;
    w.check_no_growth(hostile)?;
    w.check_chat_order()?;
    w.check_vanished()?;
    Ok(world::Stats {
        peers: w.peer_count(),
        met_ms: met_at,
    })
}

#[test]
fn rooms_meet_chat_and_shrink_under_every_seed() {
    let (first, count) = match std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => (s, 1),
        None => {
            let n = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_SEEDS);
            (0, n)
        }
    };
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut largest = 0;
    let mut slowest = 0;
    for seed in first..first + count {
        let result = std::panic::catch_unwind(|| run_seed(seed));
        match result {
            Ok(Ok(stats)) => {
                largest = largest.max(stats.peers);
                slowest = slowest.max(stats.met_ms);
            }
            Ok(Err(e)) => failures.push(format!("seed {seed}: {e}")),
            Err(_) => failures.push(format!("seed {seed}: panicked")),
        }
    }
    eprintln!(
        "simulation: {count} seeds in {:.1} s, largest room {largest}, slowest meeting {slowest} ms (simulated)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed (replay one with SIM_SEED=<seed> cargo test -p hush-core --test sim):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
