//! The trackers each room uses in a deployment that spreads rooms (`--trackers-per-room K`),
//! by the engine's own rule ([`hush_core::room::choose_trackers`]), for the load generator of
//! `e2e/bench/spread.mjs`: so the benchmark places rooms exactly as the app would.
//!
//! Usage: `tracker_choice K URL...`; reads one rendezvous id per line on standard input and
//! prints, per line, the indices (into the URLs) of the K trackers that room uses.

use std::io::{BufRead, Write};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let k: usize = args
        .next()
        .and_then(|k| k.parse().ok())
        .ok_or("usage: tracker_choice K URL...")?;
    let urls: Vec<String> = args.collect();
    if urls.is_empty() {
        return Err("usage: tracker_choice K URL...".into());
    }
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let id = line.map_err(|e| e.to_string())?;
        let chosen = hush_core::room::choose_trackers(id.trim(), &urls, k);
        let text: Vec<String> = chosen.iter().map(usize::to_string).collect();
        writeln!(out, "{}", text.join(" ")).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
