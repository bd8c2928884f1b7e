//! The root component: follows the URL fragment and shows the landing page or a room.

use crate::pages::{landing::Landing, room::RoomPage};
use crate::route::{self, Route};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[function_component(App)]
pub fn app() -> Html {
    let route = use_state(route::current);
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let on_change = Closure::<dyn FnMut()>::new(move || route.set(route::current()));
            let window = web_sys::window();
            if let Some(w) = &window {
                let _ = w.add_event_listener_with_callback(
                    "hashchange",
                    on_change.as_ref().unchecked_ref(),
                );
            }
            move || {
                if let Some(w) = &window {
                    let _ = w.remove_event_listener_with_callback(
                        "hashchange",
                        on_change.as_ref().unchecked_ref(),
                    );
                }
                drop(on_change);
            }
        });
    }
    match &*route {
        Route::Landing => html! { <Landing /> },
        // Keyed by name: a different room is a new component with a new driver.
        Route::Room(name) => html! { <RoomPage key={name.clone()} name={name.clone()} /> },
    }
}
