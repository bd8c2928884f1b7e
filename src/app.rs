//! The root component: follows the URL fragment and shows the landing page or a room.

use crate::listener::Listener;
use crate::pages::{landing::Landing, prejoin::PreJoin, room::RoomPage};
use crate::route::{self, Route};
use yew::prelude::*;

/// Whether the page runs inside another page's frame.
fn framed() -> bool {
    web_sys::window().is_some_and(|w| match w.top() {
        Ok(Some(top)) => top != w,
        // A cross-origin parent cannot even be read: framed.
        _ => true,
    })
}

/// Shown instead of the app inside a frame the deployment did not allow.
#[function_component(Framed)]
fn framed_notice() -> Html {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    html! {
        <main class="landing">
            <section class="card" role="alert">
                <h1>{ "Hush runs in its own tab" }</h1>
                <p>{ "This page shows Hush inside another site, which could cover it and trick your clicks. " }
                   <a href={href} target="_blank" rel="noopener noreferrer">{ "Open Hush in a new tab" }</a></p>
            </section>
        </main>
    }
}

#[function_component(App)]
pub fn app() -> Html {
    // Inside a frame the app waits for config.json to allow it (`None`: still asking).
    let allowed = use_state(|| (!framed()).then_some(true));
    {
        let allowed = allowed.clone();
        use_effect_with((), move |()| {
            crate::settings::apply_theme(crate::settings::theme());
            // The worker keeps the app shell for offline starts (and serves downloads).
            crate::driver::sink::register_service_worker();
            if allowed.is_none() {
                wasm_bindgen_futures::spawn_local(async move {
                    allowed.set(Some(crate::driver::config::embedding_allowed().await));
                });
            }
        });
    }
    match *allowed {
        Some(true) => html! { <Routes /> },
        Some(false) => html! { <Framed /> },
        None => html! {},
    }
}

#[function_component(Routes)]
fn routes() -> Html {
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
    // Bumped when "Join" is pressed on a room link, to re-render into the room.
    let joined = use_state(|| 0u32);
    match &*route {
        Route::Landing => html! { <Landing /> },
        // Keyed by name: a different room is a new component with a new driver.
        Route::Room(name) if route::entered(name) => {
            html! { <RoomPage key={name.clone()} name={name.clone()} /> }
        }
        Route::Room(name) => {
            let on_join = {
                let (name, joined) = (name.clone(), joined.clone());
                Callback::from(move |()| {
                    route::enter(&name);
                    joined.set(joined.wrapping_add(1));
                })
            };
            html! { <PreJoin name={name.clone()} {on_join} /> }
        }
    }
}
