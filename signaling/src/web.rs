//! Static serving of the built app, the generated `/config.json`, and the security headers
//! every response carries.
//!
//! The Content-Security-Policy is strict (no `'unsafe-inline'`, no `'unsafe-eval'`), which
//! backs up the app's rule of never inserting peer data as HTML. Trunk's `index.html` boots
//! the wasm through an inline `<script type="module">`; rather than loosening the policy, we
//! read `dist/index.html` once at startup and allow exactly those script bodies by their
//! SHA-256 hashes. Rebuilding `dist/` therefore needs a helper restart.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The policy before the script hashes are appended to `script-src`. `'wasm-unsafe-eval'`
/// allows compiling WebAssembly and nothing else; `connect-src ws: wss:` lets the app reach
/// any WebTorrent tracker the user configures; `blob:`/`data:` are for received images and
/// media the app creates locally.
const CSP_SCRIPT_SRC: &str = "script-src 'self' 'wasm-unsafe-eval'";
const CSP_REST: &str = "style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
     connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'none'; \
     frame-ancestors 'none'";
/// Camera, microphone and screen capture for our own pages only; powerful features the app
/// never uses are switched off so an injected script could not use them either.
const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(self), display-capture=(self), \
     geolocation=(), payment=(), usb=(), serial=()";

/// Why the app's `index.html` could not be read for its script hashes.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot read {path}: {source}")]
    ReadIndex {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Content-Security-Policy is not a valid header value")]
    BadHeader,
}

/// The headers added to every response, computed once at startup.
pub(crate) struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// Builds the headers, hashing the inline scripts of `dist/index.html` when there is one.
    /// A `dist/` without `index.html` is allowed (it may hold only other files) and gets the
    /// policy without hashes.
    pub(crate) fn load(dist: Option<&Path>) -> Result<Self, WebError> {
        let hashes = match dist.map(|d| d.join("index.html")) {
            Some(path) if path.is_file() => {
                let html = std::fs::read_to_string(&path)
                    .map_err(|source| WebError::ReadIndex { path, source })?;
                inline_script_hashes(&html)
            }
            _ => Vec::new(),
        };
        let csp = HeaderValue::from_str(&content_security_policy(&hashes))
            .map_err(|_| WebError::BadHeader)?;
        let fixed = |v: &'static str| HeaderValue::from_static(v);
        Ok(Self {
            headers: vec![
                (header::CONTENT_SECURITY_POLICY, csp),
                (header::REFERRER_POLICY, fixed("no-referrer")),
                (header::X_CONTENT_TYPE_OPTIONS, fixed("nosniff")),
                (header::X_FRAME_OPTIONS, fixed("DENY")),
                (
                    HeaderName::from_static("permissions-policy"),
                    fixed(PERMISSIONS_POLICY),
                ),
                (
                    HeaderName::from_static("cross-origin-opener-policy"),
                    fixed("same-origin"),
                ),
            ],
        })
    }
}

/// The full policy with `hashes` (already quoted `'sha256-…'` sources) in `script-src`.
pub fn content_security_policy(hashes: &[String]) -> String {
    let mut script_src = CSP_SCRIPT_SRC.to_owned();
    for h in hashes {
        script_src.push(' ');
        script_src.push_str(h);
    }
    format!("default-src 'self'; {script_src}; {CSP_REST}")
}

/// CSP sources (`'sha256-<base64>'`) for every inline script in `html`, in document order.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    inline_scripts(html)
        .into_iter()
        .map(|body| {
            format!(
                "'sha256-{}'",
                BASE64.encode(Sha256::digest(body.as_bytes()))
            )
        })
        .collect()
}

/// The exact text of each `<script>` element without a `src` attribute. The browser hashes the
/// element's text verbatim (whitespace included), so we slice the source without touching it.
///
/// A deliberately small scanner rather than an HTML parser: the input is our own build
/// output, and a mistake here fails closed (a missing hash blocks a script, never allows one).
pub fn inline_scripts(html: &str) -> Vec<&str> {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(rel) = lower[pos..].find("<script") {
        let name_end = pos + rel + "<script".len();
        // `<scripts>` or `<script-foo>` is another element.
        if !matches!(
            lower.as_bytes().get(name_end),
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>')
        ) {
            pos = name_end;
            continue;
        }
        let Some(tag_end) = tag_end(&lower, name_end) else {
            break;
        };
        let body_start = tag_end + 1;
        let Some(body_len) = lower[body_start..].find("</script") else {
            break;
        };
        let body_end = body_start + body_len;
        if !has_attribute(&lower[name_end..tag_end], "src") {
            found.push(&html[body_start..body_end]);
        }
        pos = body_end;
    }
    found
}

/// Index of the `>` closing the start tag whose attributes begin at `from`, skipping `>`
/// inside quoted attribute values.
fn tag_end(s: &str, from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate().skip(from) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether a start tag's attribute text (lowercased) has an attribute named exactly `name`
/// (so `data-src` does not count as `src`).
fn has_attribute(attrs: &str, name: &str) -> bool {
    let b = attrs.as_bytes();
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_space(b[i]) && !matches!(b[i], b'=' | b'/' | b'>') {
            i += 1;
        }
        if &attrs[start..i] == name {
            return true;
        }
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    i += 1;
                    while i < b.len() && b[i] != q {
                        i += 1;
                    }
                    i += 1;
                }
                _ => {
                    while i < b.len() && !is_space(b[i]) {
                        i += 1;
                    }
                }
            }
        }
        if i == start {
            // Defensive: never loop without progress on odd input.
            i += 1;
        }
    }
    false
}

/// Adds the security headers, replacing any a handler set, so no route can weaken them.
pub(crate) async fn add_security_headers(
    State(headers): State<Arc<SecurityHeaders>>,
    mut response: Response,
) -> Response {
    let target = response.headers_mut();
    for (name, value) in &headers.headers {
        target.insert(name.clone(), value.clone());
    }
    response
}

/// The `dist/` directory, with `index.html` for `/`, and pre-compressed `.br`/`.gz` siblings
/// served when present (Trunk does not make them, but a deploy step may).
pub(crate) fn static_files(dist: &Path) -> ServeDir {
    ServeDir::new(dist)
        .append_index_html_on_directories(true)
        .precompressed_br()
        .precompressed_gzip()
}

/// Fallback when no `--dist` was given.
pub(crate) async fn no_app() -> Response {
    (
        StatusCode::NOT_FOUND,
        "Hush helper: no app is served here (start with --dist DIR)\n",
    )
        .into_response()
}

/// A Host header is echoed into `/config.json`; accept only what a host[:port] or [v6]:port
/// can contain, so a forged header cannot smuggle anything into the app's tracker URL.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `GET /config.json`: points the app at this helper for both the tracker and ICE servers.
/// Overrides the `config.json` in `dist/` (which lists public trackers), and is `no-store`
/// because it depends on the Host the page was loaded through.
pub(crate) async fn config_json(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| valid_host(h))
    else {
        return (StatusCode::BAD_REQUEST, "missing or invalid Host header\n").into_response();
    };
    // A TLS-terminating proxy tells us the page is https, and then only wss:// is allowed.
    let behind_tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let scheme = if app.config.public_wss || behind_tls {
        "wss"
    } else {
        "ws"
    };
    // A deployment of several helpers lists them all (every helper the same list, itself
    // included); a lone helper lists itself as the page reached it.
    let trackers = if app.config.trackers.is_empty() {
        vec![format!("{scheme}://{host}/announce")]
    } else {
        app.config.trackers.clone()
    };
    let mut body = serde_json::json!({
        "trackers": trackers,
        "iceServers": [],
        "rtcConfigUrl": "/api/rtc-config",
    });
    if let Some(k) = app.config.trackers_per_room {
        body["trackersPerRoom"] = k.into();
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_verbatim_and_src_scripts_skipped() {
        let html = r#"<!doctype html><html><head>
<link rel="modulepreload" href="/hush-1.js" crossorigin="anonymous" integrity="sha384-x">
<script src="/external.js"></script>
<script data-src="x" type="module">
import init from '/hush-1.js';
await init({ module_or_path: '/hush-1_bg.wasm' });
</script>
<SCRIPT>alert(1)</SCRIPT>
<script type='text/plain' title="a > b">x</script>
<scripts>not a script</scripts>
</head><body></body></html>"#;
        let bodies = inline_scripts(html);
        assert_eq!(
            bodies,
            vec![
                "\nimport init from '/hush-1.js';\nawait init({ module_or_path: '/hush-1_bg.wasm' });\n",
                "alert(1)",
                "x",
            ]
        );
        let hashes = inline_script_hashes(html);
        // Independently: printf 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            hashes[1],
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }

    #[test]
    fn src_attribute_is_recognised_in_any_position_and_quoting() {
        assert!(has_attribute(" type=module src=/a.js", "src"));
        assert!(has_attribute(" defer src='/a.js'", "src"));
        assert!(has_attribute(" src", "src"));
        assert!(!has_attribute(" data-src=\"/a.js\" type=\"module\"", "src"));
        assert!(!has_attribute(" title=\"src\"", "src"));
    }

    #[test]
    fn unterminated_script_does_not_panic() {
        assert!(inline_scripts("<script>never closed").is_empty());
        assert!(inline_scripts("<script type=\"module").is_empty());
        assert!(inline_scripts("<script").is_empty());
    }

    #[test]
    fn policy_lists_hashes_in_script_src_and_no_unsafe_inline() {
        let csp = content_security_policy(&["'sha256-abc'".into()]);
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-abc';"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn host_validation_rejects_injection() {
        assert!(valid_host("localhost:8080"));
        assert!(valid_host("[::1]:8080"));
        assert!(!valid_host("evil.com/\"x"));
        assert!(!valid_host(""));
    }
}
