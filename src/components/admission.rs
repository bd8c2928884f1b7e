//! A locked room: the lock button, the join request a member answers, and what a newcomer
//! sees while it waits at the door.

use crate::hooks::use_room;
use crate::state::Door;
use yew::prelude::*;

/// "Lock room" / "Unlock room".
#[function_component(LockButton)]
pub fn lock_button() -> Html {
    let room = use_room();
    let locked = room.state.locked;
    let onclick = {
        let handle = room.handle.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.set_locked(!locked);
            }
        })
    };
    html! {
        <button {onclick} aria-pressed={locked.to_string()}
            title="A locked room lets newcomers in only when a member admits them">
            { if locked { "Unlock room" } else { "Lock room" } }
        </button>
    }
}

/// The oldest newcomer waiting for a decision.
#[function_component(JoinRequestDialog)]
pub fn join_request_dialog() -> Html {
    let room = use_room();
    let Some(r) = room.state.join_requests.first().cloned() else {
        return html! {};
    };
    let decide = |admit: bool| {
        let (handle, peer) = (room.handle.clone(), r.peer.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.decide(peer.clone(), admit);
            }
        })
    };
    let more = room.state.join_requests.len() - 1;
    html! {
        <div class="modal" role="dialog" aria-modal="true" aria-label="Join request">
            <div class="card verify">
                <h2>{ "Join request" }</h2>
                <p>
                    <strong>{ &r.name }</strong>{ " (" }
                    <span class="fingerprint">{ &r.fingerprint }</span>
                    { ") wants to join. Everyone in the room is asked; the first answer counts." }
                </p>
                if more > 0 {
                    <p class="hint">{ format!("{more} more waiting") }</p>
                }
                <div class="actions">
                    <button class="primary" onclick={decide(true)}>{ "Admit" }</button>
                    <button class="danger" onclick={decide(false)}>{ "Deny" }</button>
                </div>
            </div>
        </div>
    }
}

/// A newcomer's view of a locked room's door.
#[function_component(DoorBanner)]
pub fn door_banner() -> Html {
    let room = use_room();
    match room.state.door {
        Some(Door::Waiting) => html! {
            <p class="door" role="status">{ "Waiting to be let in: this room is locked, and a member must admit you." }</p>
        },
        Some(Door::Denied) => html! {
            <p class="door error" role="alert">{ "You were not let in: a member of this locked room turned you away." }</p>
        },
        None => html! {},
    }
}
