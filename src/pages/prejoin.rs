//! The screen a room link opens on: the room's short label, "Your name" and "Join". Nothing
//! connects before "Join": a link alone never tells a room (or its trackers) this browser's
//! address.

use crate::route::{self, Route};
use crate::settings;
use hush_core::room_name::short_label;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PreJoinProps {
    pub name: String,
    /// The person pressed "Join".
    pub on_join: Callback<()>,
}

#[function_component(PreJoin)]
pub fn pre_join(props: &PreJoinProps) -> Html {
    let my_name = use_state(settings::display_name);
    // The app's own configuration (from the origin that served this page, not the room or
    // its trackers) is read while the user decides, so "Join" does not wait for it.
    use_effect_with((), |()| crate::driver::config::prefetch());
    let on_input = {
        let my_name = my_name.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            my_name.set(input.value());
        })
    };
    let on_submit = {
        let (my_name, on_join) = (my_name.clone(), props.on_join.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let clean = hush_core::wire::sanitize_name(&my_name, "");
            if !clean.is_empty() {
                settings::save_display_name(&clean);
            }
            on_join.emit(());
        })
    };
    let on_back = Callback::from(|_: MouseEvent| route::go(&Route::Landing));
    html! {
        <main class="landing">
            <header class="brand">
                <h1>{ "Hush" }</h1>
                <p class="tagline">{ "You were invited to a private room." }</p>
            </header>
            <form class="card join" onsubmit={on_submit} aria-label="Join this room">
                <p>{ "Room " }<code class="room-name">{ short_label(&props.name) }</code></p>
                <label for="prejoin-name">{ "Your name" }</label>
                <input id="prejoin-name" type="text" maxlength="40" autocomplete="nickname"
                    value={(*my_name).clone()} oninput={on_input} />
                <div class="row">
                    <button type="submit" class="primary big">{ "Join" }</button>
                    <button type="button" onclick={on_back}>{ "Not now" }</button>
                </div>
                <p class="hint">{ "Nothing connects until you press Join: then the people in the room see your name and connect to this browser directly." }</p>
            </form>
        </main>
    }
}
