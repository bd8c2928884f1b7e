//! Shared test harness: a helper on 127.0.0.1:0, WebSocket clients, a raw HTTP/1.1 GET, and
//! timeouts around every wait so a broken server fails a test instead of hanging it.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use hush_signaling::{run, Config, Limits};
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest any single wait may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is observed.
pub const QUIET: Duration = Duration::from_millis(300);

/// Runs a whole test body under a deadline.
pub async fn within<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(20), body)
        .await
        .expect("test timed out");
}

pub struct Helper {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Helper {
    pub async fn start(config: Config) -> Helper {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async move {
            let _ = stopped.await;
        }));
        Helper {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn with_limits(limits: Limits) -> Helper {
        Helper::start(Config {
            limits,
            ..Config::default()
        })
        .await
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("run did not return after shutdown")
            .expect("run panicked")
    }

    pub async fn connect(&self) -> Ws {
        let url = format!("ws://{}/announce", self.addr);
        let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        ws
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A 20-character id from a short tag (padded with '-').
pub fn id(tag: &str) -> String {
    let s = format!("{tag:-<20.20}");
    assert_eq!(s.len(), 20);
    s
}

pub fn announce(info_hash: &str, peer_id: &str) -> Value {
    json!({"action": "announce", "info_hash": info_hash, "peer_id": peer_id, "numwant": 10})
}

pub fn announce_with_offers(info_hash: &str, peer_id: &str, offer_ids: &[&str]) -> Value {
    let offers: Vec<Value> = offer_ids
        .iter()
        .map(|o| json!({"offer_id": o, "offer": {"type": "offer", "sdp": format!("sealed-{o}")}}))
        .collect();
    json!({"action": "announce", "info_hash": info_hash, "peer_id": peer_id,
           "numwant": offer_ids.len(), "offers": offers})
}

pub fn answer(info_hash: &str, peer_id: &str, to: &str, offer_id: &str) -> Value {
    json!({"action": "announce", "info_hash": info_hash, "peer_id": peer_id,
           "to_peer_id": to, "offer_id": offer_id,
           "answer": {"type": "answer", "sdp": "sealed-answer"}})
}

pub async fn send(ws: &mut Ws, v: &Value) {
    send_text(ws, &v.to_string()).await;
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    tokio::time::timeout(STEP, ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send failed");
}

/// The next JSON text frame (pings skipped).
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("no message within the timeout")
            .expect("stream ended")
            .expect("read failed");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("not JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Announces and returns the reply, checking it is an announce reply for `info_hash`.
pub async fn announce_ok(ws: &mut Ws, info_hash: &str, peer_id: &str) -> Value {
    send(ws, &announce(info_hash, peer_id)).await;
    let reply = recv(ws).await;
    assert_eq!(reply["action"], "announce", "reply: {reply}");
    assert_eq!(reply["info_hash"], info_hash, "reply: {reply}");
    assert!(reply.get("failure reason").is_none(), "reply: {reply}");
    reply
}

/// Reads until a close frame and returns its code and reason (text frames before it are
/// skipped: replies queued before the close are legitimate).
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    loop {
        let next = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("no close within the timeout");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => panic!("close without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("connection failed before a close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// Asserts that nothing arrives for [`QUIET`].
pub async fn expect_silence(ws: &mut Ws) {
    if let Ok(msg) = tokio::time::timeout(QUIET, ws.next()).await {
        panic!("expected silence, got {msg:?}");
    }
}

/// Proves a client still gets service: it announces into its own swarm and gets a reply.
pub async fn still_works(ws: &mut Ws, info_hash: &str, peer_id: &str) {
    let reply = announce_ok(ws, info_hash, peer_id).await;
    assert!(reply["interval"].as_u64().is_some(), "reply: {reply}");
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection (`Connection: close`), so the tests talk
/// to the server the way any client would without pulling in an HTTP client crate.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> HttpResponse {
    let io = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        if !extra_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            req.push_str(&format!("Host: {addr}\r\n"));
        }
        for (n, v) in extra_headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(STEP, io)
        .await
        .expect("HTTP timed out");
    let text = String::from_utf8(raw).expect("non-UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("bad chunk");
        let size = usize::from_str_radix(size.trim(), 16).expect("bad chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        s = &rest[size + 2..];
    }
}
