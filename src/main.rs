//! Hush, the browser app: a Yew single-page app. Every room runs in one driver
//! ([`driver`]) that owns the browser's WebRTC objects; components only render the reducer
//! state ([`state`]) and call hooks ([`hooks`]).
//!
//! # Layout
//! - `app`, `route`: hash routing (`#/r/<room name>`; the fragment never reaches a server).
//! - `pages/`: the landing page, the pre-join screen a room link opens on, the room page.
//! - `components/`: rendering only (chat, peers, header).
//! - `markdown`: the chat's safe markdown subset, parsed into a tree the chat renders.
//! - `hooks`: the room context and feature hooks (`use_room`, `use_chat`).
//! - `driver/`: the shell around `hush_core::room`: trackers, peer connections, media, files.
//! - `settings`: the only things stored: the display name, whether typing is shown, the theme.
//! - `js`: thin, fallible wrappers over browser APIs (time, randomness, promises);
//!   `listener`: every event handler, removed when dropped.

// Nothing a peer, the network or the browser controls may panic: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod listener;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod markdown;
#[cfg(target_arch = "wasm32")]
mod pages;
// The pure parts (routes, the reducer) build on the host too, where plain `cargo test` runs
// their tests; nothing on the host calls them.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod route;
#[cfg(target_arch = "wasm32")]
mod settings;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod state;

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

/// On the host there is nothing to run: the app is built for the browser by Trunk.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("Hush runs in the browser: `make run` builds it and serves it.");
}
