//! The room context and feature hooks. The provider owns the reducer and the driver's handle;
//! components read state and get callbacks through `use_room` / `use_chat`, never the driver.

use crate::driver::{self, RoomHandle};
use crate::settings;
use crate::state::{ChatLine, RoomState};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Everything a room's components may use.
#[derive(Clone, PartialEq)]
pub struct RoomContext {
    pub room_name: Rc<str>,
    pub state: UseReducerHandle<RoomState>,
    pub my_name: Rc<str>,
    pub set_my_name: Callback<String>,
    pub send_chat: Callback<String>,
    pub leave: Callback<()>,
}

#[derive(Properties, PartialEq)]
pub struct ProviderProps {
    pub room_name: String,
    pub children: Children,
}

/// Runs one room for as long as it is mounted.
#[function_component(RoomProvider)]
pub fn room_provider(props: &ProviderProps) -> Html {
    let state = use_reducer(RoomState::default);
    let my_name = use_state(settings::display_name);
    let handle = use_state(|| None::<RoomHandle>);
    {
        let (state, handle, my_name) = (state.clone(), handle.clone(), my_name.clone());
        use_effect_with(props.room_name.clone(), move |room_name| {
            let dispatcher = state.dispatcher();
            let h = driver::start(
                room_name.clone(),
                (*my_name).clone(),
                Callback::from(move |a| dispatcher.dispatch(a)),
            );
            handle.set(Some(h.clone()));
            // Closing the tab says goodbye at once, so others see us leave immediately.
            let on_hide = {
                let h = h.clone();
                Closure::<dyn FnMut()>::new(move || h.leave())
            };
            let window = web_sys::window();
            if let Some(w) = &window {
                let _ = w
                    .add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            }
            move || {
                if let Some(w) = &window {
                    let _ = w.remove_event_listener_with_callback(
                        "pagehide",
                        on_hide.as_ref().unchecked_ref(),
                    );
                }
                h.leave();
                drop(on_hide);
            }
        });
    }
    let set_my_name = {
        let (my_name, handle) = (my_name.clone(), handle.clone());
        Callback::from(move |name: String| {
            let clean = hush_core::wire::sanitize_name(&name, "");
            if clean.is_empty() {
                return;
            }
            settings::save_display_name(&clean);
            if let Some(h) = &*handle {
                h.set_name(clean.clone());
            }
            my_name.set(clean);
        })
    };
    let send_chat = {
        let handle = handle.clone();
        Callback::from(move |text: String| {
            if let Some(h) = &*handle {
                h.send_chat(text);
            }
        })
    };
    let leave = Callback::from(|()| crate::route::go(&crate::route::Route::Landing));
    let ctx = RoomContext {
        room_name: props.room_name.as_str().into(),
        state,
        my_name: my_name.as_str().into(),
        set_my_name,
        send_chat,
        leave,
    };
    html! {
        <ContextProvider<RoomContext> context={ctx}>
            { props.children.clone() }
        </ContextProvider<RoomContext>>
    }
}

/// The current room. Panics only if used outside a `RoomProvider`, a programming error that
/// every room page test would catch.
#[hook]
pub fn use_room() -> RoomContext {
    use_context::<RoomContext>().expect("use_room outside RoomProvider")
}

/// Chat messages and the callback that sends one.
#[hook]
pub fn use_chat() -> (Vec<ChatLine>, Callback<String>) {
    let room = use_room();
    (room.state.messages.clone(), room.send_chat)
}
