//! Hush, the browser app: a Yew single-page app. Every room runs in one driver
//! ([`driver`]) that owns the browser's WebRTC objects; components only render the reducer
//! state ([`state`]) and call hooks ([`hooks`]).
//!
//! # Layout
//! - `app`, `route`: hash routing (`#/r/<room name>`; the fragment never reaches a server).
//! - `pages/`: the landing page and the room page.
//! - `components/`: rendering only (chat, peers, header).
//! - `hooks`: the room context and feature hooks (`use_room`, `use_chat`).
//! - `driver/`: trackers, peer connections, the peer protocol.
//! - `settings`: the only thing stored, the display name.

mod app;
mod components;
mod driver;
mod hooks;
mod pages;
mod route;
mod settings;
mod state;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
