//! The one HTTP request the native peer makes: GET a small JSON document (an app's
//! `config.json`, a helper's `/api/rtc-config`) over plain HTTP, as on a LAN helper. A full
//! HTTP client would cost more to build than everything else here; `https://` apps are
//! configured with flags or the config file instead.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest response read: a config is a few hundred bytes.
const MAX_RESPONSE: usize = 64 * 1024;
/// A LAN helper answers in milliseconds; a dead address should not hold a command long.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The body of `url` when it answers 200.
pub async fn get(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are fetched (give --tracker for others)".to_owned())?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err("response too large".to_owned());
            }
        }
        Ok::<_, String>(buf)
    };
    let buf = tokio::time::timeout(TIMEOUT, fetch)
        .await
        .map_err(|_| "no answer".to_owned())??;
    let text = String::from_utf8(buf).map_err(|_| "response is not text".to_owned())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "malformed response".to_owned())?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP {status}"));
    }
    Ok(body.to_owned())
}
