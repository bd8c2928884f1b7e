//! The landing page: create a room with a strong random name, or join one by name.

use crate::components::strength::StrengthNote;
use crate::js::random_bytes;
use crate::route::{self, Route};
use hush_core::room_name::{self, GENERATE_ENTROPY_LEN};
use yew::prelude::*;

#[function_component(Landing)]
pub fn landing() -> Html {
    let typed = use_state(String::new);
    let error = use_state(|| None::<String>);

    let on_input = {
        let (typed, error) = (typed.clone(), error.clone());
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            typed.set(input.value());
            error.set(None);
        })
    };
    let on_join = {
        let (typed, error) = (typed.clone(), error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match room_name::normalize(&typed) {
                Ok(name) => route::go(&Route::Room(name)),
                Err(err) => error.set(Some(capitalize(&err.to_string()))),
            }
        })
    };
    let on_create = {
        let error = error.clone();
        Callback::from(move |_| match random_bytes::<GENERATE_ENTROPY_LEN>() {
            Ok(e) => route::go(&Route::Room(room_name::generate(&e))),
            Err(err) => error.set(Some(err.to_string())),
        })
    };
    let normalized = room_name::normalize(&typed).ok();

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
                    <button type="submit">{ "Join room" }</button>
                </div>
                if let Some(name) = normalized {
                    <StrengthNote name={name} />
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
