//! Hush core: the protocol, state machines and crypto shared by the browser app, the helper and
//! the native peer.
//!
//! This crate is sans-I/O. It never touches a socket, a clock or a random number generator:
//! callers pass in the current time (milliseconds) and fresh random bytes, and get back values,
//! decisions and commands. That keeps every protocol rule testable with plain `cargo test` and
//! identical on wasm32 and native.
//!
//! # Layout
//! - [`keys`]: room name → Argon2id → HKDF split into the per-purpose room keys.
//! - [`seal`]: AES-256-GCM sealing with explicit associated data (SDP, chat frames).
//! - [`stream`]: file encryption, a STREAM construction of AES-256-GCM records with the header
//!   as associated data: truncation, reordering and tampering fail before any plaintext is out.
//! - [`filename`]: sanitizing peer-supplied file names and deciding which files show inline.
//! - [`room_name`]: generating strong room names and estimating the strength of custom ones.
//! - [`tracker`]: WebTorrent tracker wire messages (JSON over WebSocket) and their limits.
//! - [`wire`]: the typed, versioned peer-to-peer message enum and its framing limits.
//! - [`mesh`]: the per-peer connection state machine: offers, answers, glare and timeouts.
//! - [`negotiation`]: media renegotiation on open connections ("perfect negotiation").
//! - [`transfer`]: file transfers between two peers: channel protocol, flow control, size rules.
//! - [`hex`]: lower-case hex for ids and kept keys.
//! - [`identity`]: P-256 identities, the hello bound to one connection, SAS verification.
//! - [`ids`]: peer and offer ids.
//! - [`room`]: the room engine: every decision of a room, driven by a shell (browser or native).
//! - [`drbg`]: the engine's seeded random generator (nonces, ids, jitter).
//! - [`vecmap`]: a small insertion-ordered map (little code in the browser's wasm).
//! - [`wsframe`]: WebSocket framing, server side (the helper's tracker sockets).

// Nothing a peer, the network or the browser controls may panic: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod drbg;
pub mod filename;
pub mod hex;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod link;
pub mod mesh;
pub mod negotiation;
pub mod room;
pub mod room_name;
pub mod seal;
pub mod stream;
pub mod tracker;
pub mod transfer;
pub mod vecmap;
pub mod wire;
pub mod wsframe;

mod wordlist;
