//! What a room name's key stretching costs: Argon2id at Hush's parameters and at heavier
//! ones, timed natively on this machine (one core, as a page has). The page pays one
//! derivation per join; a guesser pays one per guess, so every doubling here doubles both.
//! `cargo run --release -p hush-core --example argon2_cost` (ARGON2_RUNS, default 5).

use hush_core::keys::{ARGON2_M_KIB, ARGON2_P, ARGON2_SALT, ARGON2_T};
use std::time::Instant;

fn median_ms(m_kib: u32, t: u32, runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|i| {
            let params = argon2::Params::new(m_kib, t, ARGON2_P, Some(32)).expect("valid params");
            let a2 =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = [0u8; 32];
            let name = format!("some room name {i}");
            let start = Instant::now();
            a2.hash_password_into(name.as_bytes(), ARGON2_SALT, &mut out)
                .expect("derivation");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn main() {
    let runs = std::env::var("ARGON2_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rows: Vec<(u32, u32, f64)> = [
        (19, 1),
        (19, 2),
        (19, 3),
        (38, 2),
        (64, 2),
        (64, 3),
        (128, 2),
    ]
    .into_iter()
    .map(|(m, t)| (m, t, median_ms(m * 1024, t, runs)))
    .collect();
    let hush = |m: u32, t: u32| m * 1024 == ARGON2_M_KIB && t == ARGON2_T;
    let base = rows
        .iter()
        .find(|(m, t, _)| hush(*m, *t))
        .map_or(1.0, |r| r.2);
    println!("Argon2id, p = {ARGON2_P}, median of {runs}, native, one core:");
    println!("{:>9} {:>3} {:>8} {:>8}", "memory", "t", "ms", "× Hush");
    for (m, t, ms) in rows {
        let mark = if hush(m, t) { "  ← Hush" } else { "" };
        println!("{m:>5} MiB {t:>3} {ms:>8.1} {:>7.2}×{mark}", ms / base);
    }
}
