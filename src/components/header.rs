//! The room's header: its name, the copy-link and leave buttons.

use crate::components::strength::StrengthNote;
use crate::hooks::use_room;
use crate::route;
use crate::state::Phase;
use wasm_bindgen::JsValue;
use yew::prelude::*;

/// Puts `text` on the clipboard. Uses `navigator.clipboard` through reflection because
/// web-sys gates the Clipboard API behind an unstable flag.
fn copy_to_clipboard(text: &str) -> bool {
    let Some(nav) = web_sys::window().map(|w| w.navigator()) else {
        return false;
    };
    let clip = crate::js::get(&nav, "clipboard");
    let write = crate::js::get(&clip, "writeText");
    let Ok(f) = write.dyn_into::<js_sys::Function>() else {
        return false;
    };
    f.call1(&clip, &JsValue::from_str(text)).is_ok()
}

use wasm_bindgen::JsCast;

#[function_component(RoomHeader)]
pub fn room_header() -> Html {
    let room = use_room();
    let copied = use_state(|| false);
    let on_copy = {
        let (copied, name) = (copied.clone(), room.room_name.clone());
        Callback::from(move |_| copied.set(copy_to_clipboard(&route::room_link(&name))))
    };
    let on_leave = {
        let leave = room.leave.clone();
        Callback::from(move |_| leave.emit(()))
    };
    let status = match &room.state.phase {
        Phase::Starting => html! { <span class="status">{ "Deriving the room key…" }</span> },
        Phase::Ready => html! {},
        Phase::Failed(why) => html! { <p class="error" role="alert">{ why }</p> },
    };
    html! {
        <header class="room-header">
            <div class="room-title">
                <h1>{ "Hush" }</h1>
                <code class="room-name" title="Room name">{ &*room.room_name }</code>
                { status }
            </div>
            <div class="actions">
                <button onclick={on_copy}>{ "Copy link" }</button>
                if *copied { <span class="copied" role="status">{ "Link copied" }</span> }
                <button class="danger" onclick={on_leave}>{ "Leave room" }</button>
            </div>
            <StrengthNote name={room.room_name.to_string()} />
        </header>
    }
}
