//! One RAII type for every browser event handler the driver sets: a [`Listener`] adds itself
//! with `addEventListener` and removes itself when dropped, so a handler never outlives the
//! object that owns it and no `Drop` has to list handlers by hand.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

/// A handler for `event` on `target`, removed on drop.
pub struct Listener {
    target: EventTarget,
    event: &'static str,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    pub fn new(
        target: &EventTarget,
        event: &'static str,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Self {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        // Adding a listener fails only for a detached target; then nothing is ever delivered
        // and removing it later is harmless.
        let _ = target.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
        Self {
            target: target.clone(),
            event,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}
