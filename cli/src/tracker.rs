//! One tracker's WebSocket, as a task: it connects, posts what the tracker says to the shell
//! and sends what the engine asks. The engine decides when to connect, reconnect and close.

use crate::inflight::{Admit, Inflight};
use crate::shell::{Event, Events};
use futures_util::{SinkExt, StreamExt};
use hush_core::room::{MAX_INFLIGHT_TRACKER_MESSAGES, MAX_TRACKER_MESSAGE};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// A tracker that has not completed its handshake in this long is counted as down.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Texts queued for one socket; the engine sends a few per announce.
const SEND_QUEUE: usize = 64;

/// A live socket: dropping it closes the connection.
pub struct TrackerSocket {
    tx: mpsc::Sender<String>,
    task: tokio::task::JoinHandle<()>,
    pub inflight: Inflight,
}

impl Drop for TrackerSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TrackerSocket {
    /// Opens tracker `i` at `url`; `generation` tells its events from an older socket's.
    pub fn connect(i: usize, generation: u64, url: String, events: Events) -> Self {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let inflight = Inflight::new(MAX_INFLIGHT_TRACKER_MESSAGES);
        let task = tokio::spawn(run(i, generation, url, events, rx, inflight.clone()));
        Self { tx, task, inflight }
    }

    /// Queues a text; dropped when the socket is not open or its queue is full (the engine
    /// resends what matters).
    pub fn send(&self, text: String) {
        let _ = self.tx.try_send(text);
    }
}

async fn run(
    i: usize,
    generation: u64,
    url: String,
    events: Events,
    mut rx: mpsc::Receiver<String>,
    inflight: Inflight,
) {
    let post = |e: Event| {
        let _ = events.send(e);
    };
    let mut config = WebSocketConfig::default();
    // A frame past the engine's limit is not read at all.
    config.max_message_size = Some(MAX_TRACKER_MESSAGE + 1);
    config.max_frame_size = Some(MAX_TRACKER_MESSAGE + 1);
    let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true);
    let ws = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => ws,
        // The engine retries with backoff and shows the tracker as down meanwhile.
        Ok(Err(_)) | Err(_) => {
            post(Event::TrackerClosed(i, generation));
            return;
        }
    };
    post(Event::TrackerOpen(i, generation));
    let (mut write, mut read) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => {
                    if write.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            msg = read.next() => match msg {
                Some(Ok(Message::Text(text))) => match inflight.admit() {
                    Admit::Yes => post(Event::TrackerText(i, generation, text.to_string())),
                    Admit::Flooding => post(Event::TrackerFlooded(i, generation)),
                    Admit::No => {}
                },
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_))) => {
                    post(Event::TrackerOversized(i, generation));
                    break;
                }
                Some(Err(_)) => break,
            },
        }
    }
    let _ = write.close().await;
    post(Event::TrackerClosed(i, generation));
}
