//! Keeps the screen awake while a call or a transfer runs (the Screen Wake Lock API, where the
//! browser has it): a phone that dims and locks mid-transfer would pause it.

use crate::hooks::use_room;
use crate::js::{await_promise, get};
use crate::listener::Listener;
use crate::state::{FileStatus, UploadState};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

/// Asks for a screen wake lock; the sentinel lands in `slot` (when still wanted).
fn request(slot: Rc<RefCell<Option<JsValue>>>, wanted: Rc<RefCell<bool>>) {
    let Some(nav) = web_sys::window().map(|w| w.navigator()) else {
        return;
    };
    let lock = get(&nav, "wakeLock");
    let Ok(f) = get(&lock, "request").dyn_into::<js_sys::Function>() else {
        return; // no wake lock in this browser
    };
    let Ok(p) = f.call1(&lock, &"screen".into()) else {
        return;
    };
    let Ok(p) = p.dyn_into::<js_sys::Promise>() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        // Refused (page hidden, battery saver): the screen may dim, nothing else changes.
        if let Ok(sentinel) = await_promise(p).await {
            if *wanted.borrow() {
                release(slot.replace(Some(sentinel)));
            } else {
                release(Some(sentinel));
            }
        }
    });
}

fn release(sentinel: Option<JsValue>) {
    if let Some(s) = sentinel {
        if let Ok(f) = get(&s, "release").dyn_into::<js_sys::Function>() {
            let _ = f.call0(&s);
        }
    }
}

#[function_component(WakeLock)]
pub fn wake_lock() -> Html {
    let room = use_room();
    let s = &room.state;
    let busy = s.local.mic
        || s.local.camera
        || s.local.screen
        || s.files.values().any(|f| {
            f.status == FileStatus::Transferring
                || f.uploads
                    .iter()
                    .any(|(_, u)| u.state == UploadState::Sending)
        });
    let slot = use_mut_ref(|| None::<JsValue>);
    let wanted = use_mut_ref(|| false);
    {
        let (slot, wanted) = (slot.clone(), wanted.clone());
        use_effect_with(busy, move |&busy| {
            *wanted.borrow_mut() = busy;
            if busy {
                request(slot.clone(), wanted.clone());
            } else {
                release(slot.borrow_mut().take());
            }
            // The browser drops the lock when the page is hidden: take it again on return.
            let doc: Option<web_sys::EventTarget> =
                web_sys::window().and_then(|w| w.document()).map(Into::into);
            let again = doc.map(|d| {
                let (slot, wanted) = (slot.clone(), wanted.clone());
                Listener::new(&d, "visibilitychange", move |_| {
                    let visible = web_sys::window()
                        .and_then(|w| w.document())
                        .is_some_and(|d| !d.hidden());
                    if visible && *wanted.borrow() {
                        request(slot.clone(), wanted.clone());
                    }
                })
            });
            move || {
                drop(again);
                *wanted.borrow_mut() = false;
                release(slot.borrow_mut().take());
            }
        });
    }
    html! {}
}
