//! The root component: follows the URL fragment and shows the landing page or a room.

use crate::listener::Listener;
use crate::pages::{landing::Landing, room::RoomPage};
use crate::route::{self, Route};
use yew::prelude::*;

#[function_component(App)]
pub fn app() -> Html {
    let route = use_state(route::current);
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let window: Option<web_sys::EventTarget> = web_sys::window().map(Into::into);
            let listener = window
                .map(|w| Listener::new(&w, "hashchange", move |_| route.set(route::current())));
            move || drop(listener)
        });
    }
    match &*route {
        Route::Landing => html! { <Landing /> },
        // Keyed by name: a different room is a new component with a new driver.
        Route::Room(name) => html! { <RoomPage key={name.clone()} name={name.clone()} /> },
    }
}
