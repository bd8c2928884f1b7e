//! One WebSocket to one tracker. The engine decides when to connect, what to announce and how
//! to back off; this module keeps the socket, its listeners and its generation (events of an
//! old socket are ignored), and guards the event queue: a message too long to read is not
//! copied into wasm memory, and a tracker past its budget of unhandled messages is reported
//! as flooding instead of crowding out peers.

use super::inflight::{Admit, Inflight};
use super::Event;
use crate::js::JsError;
use crate::listener::Listener;
use futures::channel::mpsc::Sender;
use hush_core::room::{MAX_INFLIGHT_TRACKER_MESSAGES, MAX_TRACKER_MESSAGE};
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

/// A tracker connection slot: survives reconnects, owns the current socket.
pub struct TrackerSocket {
    pub url: String,
    ws: Option<(WebSocket, Vec<Listener>)>,
    /// The socket generation; events from an old socket are ignored.
    pub generation: u32,
    /// Messages posted and not handled yet, within the engine's budget.
    inflight: Inflight,
}

impl TrackerSocket {
    pub fn new(url: String) -> Self {
        Self {
            url,
            ws: None,
            generation: 0,
            inflight: Inflight::new(MAX_INFLIGHT_TRACKER_MESSAGES),
        }
    }

    /// Opens a new socket in place of any previous one; fails for a malformed URL.
    pub fn connect(&mut self, index: usize, events: &Sender<Event>) -> Result<(), JsError> {
        self.close();
        self.generation = self.generation.wrapping_add(1);
        self.inflight = Inflight::new(MAX_INFLIGHT_TRACKER_MESSAGES);
        let ws = WebSocket::new(&self.url)?;
        let (gen, target) = (self.generation, ws.clone().unchecked_into());
        let post = |make: fn(usize, u32) -> Event| {
            let mut tx = events.clone();
            move |_: web_sys::Event| {
                let _ = tx.try_send(make(index, gen));
            }
        };
        let mut listeners = vec![
            Listener::new(&target, "open", post(Event::TrackerOpen)),
            Listener::new(&target, "close", post(Event::TrackerDown)),
            Listener::new(&target, "error", post(Event::TrackerDown)),
        ];
        let (mut tx, inflight) = (events.clone(), self.inflight.clone());
        listeners.push(Listener::new(&target, "message", move |ev| {
            let Some(data) = ev.dyn_ref::<MessageEvent>().map(|m| m.data()) else {
                return;
            };
            // Length in UTF-16 units, read before the text is copied out of JS: never more
            // than its UTF-8 length, so anything over the limit here is over it in bytes too.
            let Some(js) = data.dyn_ref::<js_sys::JsString>() else {
                return;
            };
            if js.length() as usize > MAX_TRACKER_MESSAGE {
                let _ = tx.try_send(Event::TrackerOversized(index, gen));
                return;
            }
            match inflight.admit() {
                Admit::Yes => {}
                Admit::Flooding => {
                    let _ = tx.try_send(Event::TrackerFlooded(index, gen));
                    return;
                }
                Admit::No => return,
            }
            let text = String::from(js);
            if tx.try_send(Event::TrackerMessage(index, gen, text)).is_ok() {
                inflight.posted();
            }
        }));
        self.ws = Some((ws, listeners));
        Ok(())
    }

    /// One of this socket's messages was handled.
    pub fn handled(&self) {
        self.inflight.handled();
    }

    /// Sends one JSON text frame; dropped when the socket is not open.
    pub fn send(&self, text: &str) {
        if let Some((ws, _)) = &self.ws {
            if ws.ready_state() == WebSocket::OPEN {
                let _ = ws.send_with_str(text);
            }
        }
    }

    /// Closes the socket; its events still queued are ignored from now on (an error and a
    /// close arrive for one failure, and only the first counts).
    pub fn close(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if let Some((ws, listeners)) = self.ws.take() {
            drop(listeners);
            let _ = ws.close();
        }
    }
}

impl Drop for TrackerSocket {
    fn drop(&mut self) {
        self.close();
    }
}
