//! Runtime configuration: `config.json` next to the app (trackers, STUN servers, an optional
//! `rtcConfigUrl` for TURN credentials). Read while the user is on the landing or pre-join
//! screen ([`prefetch`]) and taken at room start, or read then; never baked into the build,
//! so the same `dist/` runs on any static host or behind the helper.

use super::rtc::IceKinds;
use crate::js::{await_promise, now_ms, JsError};
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;
use wasm_bindgen::JsCast;
use web_sys::{RtcConfiguration, RtcIceTransportPolicy};

/// Most trackers used at once: every tracker costs a socket and a set of offers.
pub const MAX_TRACKERS: usize = 8;
/// Path of the configuration, relative to the page's base URL.
const CONFIG_PATH: &str = "config.json";
/// A configuration read ahead is used for a room started within this long (its TURN
/// credentials live an hour at least); an older one is read again.
const PREFETCH_FRESH_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    trackers: Vec<String>,
    #[serde(default)]
    ice_servers: Vec<IceServer>,
    #[serde(default)]
    rtc_config_url: Option<String>,
    /// A deployment that spreads rooms over its trackers: how many of them each room uses.
    #[serde(default)]
    trackers_per_room: Option<usize>,
    /// The deployment lets other pages show the app in a frame.
    #[serde(default)]
    allow_embedding: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RtcConfigReply {
    #[serde(default)]
    ice_servers: Vec<IceServer>,
    #[serde(default)]
    ice_transport_policy: Option<String>,
}

/// One `RTCIceServer`, typed rather than kept as a `serde_json::Value`: a `Value` brings its
/// map (a `BTreeMap`) and its printer into the wasm for two lists of URLs.
#[derive(Debug, Deserialize, Serialize)]
struct IceServer {
    urls: Urls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
}

/// An ICE server's `urls`: one URL or a list of them, as `RTCIceServer` takes.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Urls(Vec<String>);

impl<'de> Deserialize<'de> for Urls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = Urls;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a URL or a list of URLs")
            }
            fn visit_str<E: de::Error>(self, url: &str) -> Result<Urls, E> {
                Ok(Urls(vec![url.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Urls, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(Urls(urls))
            }
        }
        d.deserialize_any(OneOrMany)
    }
}

/// What a room needs to start.
#[derive(Clone)]
pub struct AppConfig {
    pub trackers: Vec<String>,
    /// Each room uses this many of `trackers`, chosen from its rendezvous id (`None`: all).
    pub trackers_per_room: Option<usize>,
    pub rtc: RtcConfiguration,
    /// Candidate kinds this ICE configuration can produce.
    pub ice_kinds: IceKinds,
    /// A problem worth telling the user that did not stop the room (e.g. no TURN).
    pub warning: Option<String>,
}

async fn fetch_text(url: &str) -> Result<String, JsError> {
    let window = web_sys::window().ok_or_else(|| JsError("no window".into()))?;
    let resp: web_sys::Response = await_promise(window.fetch_with_str(url))
        .await?
        .dyn_into()
        .map_err(|_| JsError("fetch returned no response".into()))?;
    if !resp.ok() {
        return Err(JsError(format!("{url}: HTTP {}", resp.status())));
    }
    await_promise(resp.text()?)
        .await?
        .as_string()
        .ok_or_else(|| JsError(format!("{url}: not text")))
}

/// Whether `config.json` lets the app run inside another page's frame (off when it cannot be
/// read: a page that frames the app could otherwise overlay it to trick clicks).
pub async fn embedding_allowed() -> bool {
    let Ok(text) = fetch_text(CONFIG_PATH).await else {
        return false;
    };
    serde_json::from_str::<ConfigFile>(&text).is_ok_and(|f| f.allow_embedding)
}

type Pending = Shared<LocalBoxFuture<'static, Result<AppConfig, JsError>>>;

thread_local! {
    /// A configuration being read (or read) ahead of a room, and when that started.
    static AHEAD: RefCell<Option<(u64, Pending)>> = const { RefCell::new(None) };
}

/// Starts reading the configuration for the next room, unless a fresh read is under way: a
/// join then does not wait for two fetches.
pub fn prefetch() {
    let now = now_ms();
    AHEAD.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot
            .as_ref()
            .is_some_and(|(at, _)| now.saturating_sub(*at) < PREFETCH_FRESH_MS)
        {
            return;
        }
        let pending = fetch_config().boxed_local().shared();
        // Polled once here so the fetches start now, not when a room first awaits them.
        wasm_bindgen_futures::spawn_local(pending.clone().map(|_| ()));
        *slot = Some((now, pending));
    });
}

/// The configuration for a room starting now: the one read ahead when it is fresh (each read
/// serves one room, so the next one gets fresh TURN credentials), else read now.
pub async fn load() -> Result<AppConfig, JsError> {
    let now = now_ms();
    let ahead = AHEAD.with(|slot| {
        slot.borrow_mut()
            .take()
            .filter(|(at, _)| now.saturating_sub(*at) < PREFETCH_FRESH_MS)
    });
    match ahead {
        Some((_, pending)) => pending.await,
        None => fetch_config().await,
    }
}

/// Reads `config.json` and, when it names one, the TURN/STUN configuration endpoint.
async fn fetch_config() -> Result<AppConfig, JsError> {
    let text = fetch_text(CONFIG_PATH).await?;
    let file: ConfigFile = serde_json::from_str(&text)
        .map_err(|e| JsError(format!("config.json is not valid: {e}")))?;
    let trackers: Vec<String> = file
        .trackers
        .into_iter()
        .filter(|t| t.starts_with("wss://") || t.starts_with("ws://"))
        .take(MAX_TRACKERS)
        .collect();
    let mut ice = file.ice_servers;
    let mut policy = None;
    let mut warning = None;
    if let Some(url) = file.rtc_config_url {
        match fetch_text(&url).await.and_then(|t| {
            serde_json::from_str::<RtcConfigReply>(&t)
                .map_err(|e| JsError(format!("invalid ICE configuration: {e}")))
        }) {
            Ok(reply) => {
                ice = reply.ice_servers;
                policy = reply.ice_transport_policy;
            }
            Err(e) => {
                warning = Some(format!(
                    "Relay servers unavailable ({e}); direct connections only"
                ))
            }
        }
    }
    let rtc = RtcConfiguration::new();
    let relay_only = policy.as_deref() == Some("relay");
    let ice_kinds = ice_kinds(&ice, relay_only);
    if !ice.is_empty() {
        let json = serde_json::to_string(&ice)
            .map_err(|e| JsError(format!("ICE servers could not be written: {e}")))?;
        rtc.set_ice_servers(&js_sys::JSON::parse(&json)?);
    }
    if relay_only {
        rtc.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
    }
    // Only a real subset spreads anything; 0 or more than there are means "all".
    let trackers_per_room = file
        .trackers_per_room
        .filter(|&k| k > 0 && k < trackers.len());
    Ok(AppConfig {
        trackers,
        trackers_per_room,
        rtc,
        ice_kinds,
        warning,
    })
}

/// Reads which candidate kinds `iceServers` (the RTCIceServer list) can yield.
fn ice_kinds(servers: &[IceServer], relay_only: bool) -> IceKinds {
    let mut kinds = IceKinds {
        relay_only,
        ..IceKinds::default()
    };
    for url in servers.iter().flat_map(|s| &s.urls.0) {
        if url.starts_with("stun:") || url.starts_with("stuns:") {
            kinds.srflx = true;
        } else if url.starts_with("turn:") || url.starts_with("turns:") {
            kinds.relay = true;
        }
    }
    kinds
}
