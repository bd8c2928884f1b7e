//! The landing page: create a room with a strong random name, or join one by name.

use crate::components::strength::StrengthNote;
use crate::js::random_bytes;
use crate::route;
use hush_core::room_name::{self, Strength, GENERATE_ENTROPY_LEN};
use yew::prelude::*;

#[function_component(Landing)]
pub fn landing() -> Html {
    let typed = use_state(String::new);
    let error = use_state(|| None::<String>);
    // A weak custom name the user was warned about; joining it takes a second press.
    let confirming = use_state(|| None::<String>);
    // The configuration is read while the user decides, so a join does not wait for it.
    use_effect_with((), |()| crate::driver::config::prefetch());

    let on_input = {
        let (typed, error, confirming) = (typed.clone(), error.clone(), confirming.clone());
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            typed.set(input.value());
            error.set(None);
            confirming.set(None);
        })
    };
    let on_join = {
        let (typed, error, confirming) = (typed.clone(), error.clone(), confirming.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match room_name::normalize(&crate::js::nfc(&typed)) {
                Ok(name) => {
                    let weak = room_name::strength(&name) == Strength::Weak;
                    if weak && confirming.as_deref() != Some(name.as_str()) {
                        confirming.set(Some(name));
                    } else {
                        route::go_in(name);
                    }
                }
                Err(err) => error.set(Some(capitalize(&err.to_string()))),
            }
        })
    };
    let on_create = {
        let error = error.clone();
        Callback::from(move |_| match random_bytes::<GENERATE_ENTROPY_LEN>() {
            Ok(e) => route::go_in(room_name::generate(&e)),
            Err(err) => error.set(Some(err.to_string())),
        })
    };
    let normalized = room_name::normalize(&crate::js::nfc(&typed)).ok();

    html! {
        <main class="landing">
            <header class="brand">
                <h1>{ "Hush" }</h1>
                <p class="tagline">
                    { "Private, ephemeral group chat. Browser to browser, nothing stored: close the tab and it is gone." }
                </p>
            </header>
            <section class="card">
                <button class="primary big" onclick={on_create}>{ "Create room" }</button>
                <p class="hint">{ "Makes a room with an unguessable name. Share the link with the people you want in it." }</p>
            </section>
            <form class="card join" onsubmit={on_join}>
                <label for="room-name">{ "Room name" }</label>
                <div class="row">
                    <input id="room-name" type="text" autocomplete="off" spellcheck="false"
                        placeholder="e.g. twelve words from an invitation"
                        value={(*typed).clone()} oninput={on_input} />
                    <button type="submit">{ if confirming.is_some() { "Join anyway" } else { "Join room" } }</button>
                </div>
                if let Some(name) = normalized {
                    <StrengthNote name={name} />
                }
                if confirming.is_some() {
                    <p class="warning" role="alert">
                        { "This name is weak. The room key is made from the name alone: anyone who guesses it can join and read everything, and a tracker, which sees every room's rendezvous id, can test guesses against it at its leisure. Press “Join anyway” to use it, or “Create room” for an unguessable name." }
                    </p>
                }
                if let Some(err) = &*error {
                    <p class="error" role="alert">{ err }</p>
                }
            </form>
            <footer class="fineprint">
                { "The room name is the key: anyone who has it can join. Messages travel encrypted, peer to peer, and are never stored." }
            </footer>
        </main>
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // Our own messages are ASCII; ASCII case tables are all it takes.
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
