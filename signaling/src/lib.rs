//! The optional Hush helper: a WebTorrent-compatible tracker, short-lived TURN credentials and
//! a static file server for the built app, in one small stateless binary.
//!
//! Hush works without it (browsers rendezvous through public WebTorrent trackers); the helper
//! exists for people who want their own rendezvous point, a TURN relay, or a one-command way
//! to serve `dist/`. It keeps soft state only: live sockets and swarm membership in memory.
//! Nothing touches the disk, and logs carry neither room ids (`info_hash`) nor IP addresses,
//! so a seized helper tells nobody who talked or where.
//!
//! The tracker cannot read what it relays: every SDP is sealed by the clients with a key
//! derived from the room name (see `hush_core::tracker`). It only learns which opaque
//! 20-character ids share a swarm, and for how long.
//!
//! # Layout
//!
//! - `lib` (this file): [`Config`], [`run`] and the router that wires the modules together.
//! - [`tracker`]: `GET /announce`, the WebSocket tracker: swarm registry, one task per socket,
//!   and every limit a hostile client could push against.
//! - [`turn`]: `GET /api/rtc-config`, ICE servers with TURN REST credentials.
//! - [`web`]: `GET /config.json` pointing the app at this helper, static files from `--dist`,
//!   and the security headers (a strict CSP with hashes of the app's inline scripts) on every
//!   response.
//!
//! `main.rs` only parses flags, binds the listener and calls [`run`]; tests call [`run`] on
//! `127.0.0.1:0` directly.

// Nothing a peer, the network or the browser controls may panic: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod conn_limit;
pub mod tracker;
pub mod turn;
pub mod web;

use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use conn_limit::MAX_CONNECTIONS;
pub use tracker::Limits;

/// How long [`run`] waits, after the shutdown signal, for open WebSockets to finish their
/// closing handshake: long enough for a round trip on a slow link, short enough that a
/// restart by a service manager (which typically kills after 10 s) stays clean.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the helper can be told. `Default` is a loopback-only tracker with no STUN, no
/// TURN and no static files.
#[derive(Clone)]
pub struct Config {
    /// Directory of the built app (Trunk's `dist/`) to serve at `/`; `None` serves no files.
    pub dist: Option<PathBuf>,
    /// STUN URLs (`stun:host:port`) handed out by `/api/rtc-config`.
    pub stun_urls: Vec<String>,
    /// TURN URLs (`turn:host:port?transport=udp`, `turns:…`) for the credentialled entry.
    pub turn_urls: Vec<String>,
    /// Shared secret with the TURN server (coturn `static-auth-secret`); never logged.
    pub turn_secret: Option<String>,
    /// Lifetime of a TURN credential; at most [`turn::MAX_TURN_TTL`].
    pub turn_ttl: Duration,
    /// Ask browsers to use relayed candidates only (`iceTransportPolicy: "relay"`), so tests can
    /// prove the TURN path works.
    pub relay_only: bool,
    /// Advertise `wss://` in `/config.json` even without `X-Forwarded-Proto: https` (for a TLS
    /// proxy that does not set that header).
    pub public_wss: bool,
    /// Count connections per IP by the last `X-Forwarded-For` entry instead of the TCP peer.
    /// Only for a helper reachable solely through a reverse proxy that sets that header:
    /// otherwise any client could claim any address and dodge the per-IP limit.
    pub trust_forwarded_for: bool,
    /// The trackers `/config.json` lists when several helpers share the rooms (empty: this
    /// helper, as the page reached it).
    pub trackers: Vec<String>,
    /// Each room uses this many of `trackers`, chosen by rendezvous hashing on its rendezvous
    /// id, so the helpers share the rooms without sharing any state (`None`: every tracker).
    pub trackers_per_room: Option<usize>,
    /// Tracker limits; tests shrink them to exercise every refusal quickly.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dist: None,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl: turn::MAX_TURN_TTL,
            relay_only: false,
            public_wss: false,
            trust_forwarded_for: false,
            trackers: Vec::new(),
            trackers_per_room: None,
            limits: Limits::default(),
        }
    }
}

// Hand-written so the TURN secret can never reach a log line through `{:?}`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dist", &self.dist)
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field(
                "turn_secret",
                &self.turn_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("turn_ttl", &self.turn_ttl)
            .field("relay_only", &self.relay_only)
            .field("public_wss", &self.public_wss)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("trackers", &self.trackers)
            .field("trackers_per_room", &self.trackers_per_room)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A configuration the helper refuses to start with. Each of these would otherwise surface
/// later and far away: a browser throws on a `turn:` URL without credentials, a zero-capacity
/// channel panics, a missing `dist/` serves 404s forever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("a TURN secret needs at least one TURN URL")]
    TurnSecretWithoutUrls,
    #[error("TURN URLs need a TURN secret (browsers reject TURN servers without credentials)")]
    TurnUrlsWithoutSecret,
    #[error("the TURN secret is empty")]
    EmptyTurnSecret,
    #[error("TURN credential lifetime must be between 1 s and {} s", turn::MAX_TURN_TTL.as_secs())]
    BadTurnTtl,
    #[error("not a STUN URL (expected stun: or stuns:): {0}")]
    BadStunUrl(String),
    #[error("not a TURN URL (expected turn: or turns:): {0}")]
    BadTurnUrl(String),
    #[error("limit {0} must be greater than zero")]
    ZeroLimit(&'static str),
    #[error("--dist is not a directory: {0}")]
    DistNotADirectory(PathBuf),
    #[error("not a tracker URL (expected ws:// or wss://): {0}")]
    BadTrackerUrl(String),
    #[error("--trackers-per-room must be between 1 and the number of --tracker URLs")]
    BadTrackersPerRoom,
}

impl Config {
    /// Checks the configuration before anything is bound or served.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.turn_secret, self.turn_urls.is_empty()) {
            (Some(s), _) if s.is_empty() => return Err(ConfigError::EmptyTurnSecret),
            (Some(_), true) => return Err(ConfigError::TurnSecretWithoutUrls),
            (None, false) => return Err(ConfigError::TurnUrlsWithoutSecret),
            _ => {}
        }
        if self.turn_ttl.is_zero() || self.turn_ttl > turn::MAX_TURN_TTL {
            return Err(ConfigError::BadTurnTtl);
        }
        if let Some(bad) = self
            .stun_urls
            .iter()
            .find(|u| !(u.starts_with("stun:") || u.starts_with("stuns:")))
        {
            return Err(ConfigError::BadStunUrl(bad.clone()));
        }
        if let Some(bad) = self
            .turn_urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError::BadTurnUrl(bad.clone()));
        }
        if let Some(bad) = self
            .trackers
            .iter()
            .find(|u| !(u.starts_with("ws://") || u.starts_with("wss://")))
        {
            return Err(ConfigError::BadTrackerUrl(bad.clone()));
        }
        if let Some(k) = self.trackers_per_room {
            if k == 0 || k > self.trackers.len() {
                return Err(ConfigError::BadTrackersPerRoom);
            }
        }
        self.limits.validate()?;
        if let Some(dist) = &self.dist {
            if !dist.is_dir() {
                return Err(ConfigError::DistNotADirectory(dist.clone()));
            }
        }
        Ok(())
    }
}

/// What every handler shares. Cloned per request, so everything in it is an `Arc` or a handle.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Arc<tracker::Registry>,
    /// Tracks WebSocket tasks: axum spawns them outside the HTTP server's own bookkeeping, so
    /// graceful shutdown has to wait for them separately.
    pub(crate) sockets: TaskTracker,
    /// Cancelled when shutdown begins; every socket then closes with 1001.
    pub(crate) stopping: CancellationToken,
    /// Per-client rate of minted TURN credentials.
    pub(crate) rtc_limiter: Arc<turn::RtcConfigLimiter>,
}

/// Serves the helper on `listener` until `shutdown` completes, then closes every WebSocket
/// with 1001 ("going away") and waits up to [`SHUTDOWN_GRACE`] for them.
///
/// Binding is the caller's job so tests (and `main`) can use port 0 and learn the address
/// before the first request. Fails only on an invalid [`Config`] (as
/// [`std::io::ErrorKind::InvalidInput`]), an unreadable `dist/index.html`, or a listener error.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let headers = web::SecurityHeaders::load(config.dist.as_deref())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let state = AppState {
        registry: Arc::new(tracker::Registry::new(config.limits.clone())),
        config: Arc::new(config),
        sockets: TaskTracker::new(),
        stopping: CancellationToken::new(),
        rtc_limiter: Arc::default(),
    };
    let app = router(state.clone(), headers);

    // axum needs a `Send + 'static` signal; the caller's future need not be either, so we
    // poll it here and relay it through the cancellation token.
    let listener = conn_limit::LimitedListener::new(listener, state.config.limits.max_connections)
        .tap_io(conn_limit::Limited::send_at_once);
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(state.stopping.clone().cancelled_owned())
    .into_future();
    tokio::pin!(serve);
    tokio::pin!(shutdown);
    tokio::select! {
        served = &mut serve => served?,
        () = &mut shutdown => {
            state.stopping.cancel();
            serve.await?;
        }
    }

    state.stopping.cancel();
    state.sockets.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, state.sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!("some WebSockets did not close within the shutdown grace period");
    }
    Ok(())
}

/// The routes. Explicit routes win over the static fallback, which is how the generated
/// `/config.json` overrides the one Trunk copied into `dist/`.
fn router(state: AppState, headers: web::SecurityHeaders) -> Router {
    let routes = Router::new()
        .route("/announce", get(tracker::announce))
        .route("/api/rtc-config", get(turn::rtc_config))
        .route("/config.json", get(web::config_json));
    let routes = match &state.config.dist {
        // The app is mostly one wasm file: compressed (brotli or gzip, as the browser
        // accepts) it is under half its size on the wire.
        Some(dist) => routes.fallback_service(tower_http::compression::Compression::new(
            web::static_files(dist),
        )),
        None => routes.fallback(web::no_app),
    };
    routes
        .with_state(state)
        .layer(axum::middleware::map_response_with_state(
            Arc::new(headers),
            web::add_security_headers,
        ))
}
