//! `GET /api/rtc-config`: the ICE servers browsers should use, with short-lived TURN
//! credentials.
//!
//! TURN REST scheme (draft-uberti-behave-turn-rest, what coturn's `use-auth-secret` checks):
//! the username is `<expiry unix time>:<random>` and the password is
//! `base64(HMAC-SHA1(shared secret, username))`. The TURN server recomputes the HMAC and
//! rejects expired usernames, so the helper and coturn share only a secret and no user
//! database, and a credential copied out of a browser is useless within the hour.
//!
//! Served same-origin only (no CORS): credentials for our relay are for our app's pages.

use crate::tracker::{client_ip, IpKey, TokenBucket};
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hush_core::ids::{encode_id, IdEntropy};
use rand::Rng;
use serde::Serialize;
use sha1::Sha1;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Longest TURN credential lifetime. Long enough for a page that joins a room and then sits
/// through a long call's allocation refreshes for a while; short enough that a leaked
/// credential is worth little.
pub const MAX_TURN_TTL: Duration = Duration::from_secs(3600);

/// Credentials one client (an address; IPv6: a /64) may fetch at once: every tab of an office
/// behind one NAT joining a room together.
pub const RTC_CONFIG_BURST: u32 = 20;
/// Then one more every this long: a page fetches once per room it opens.
pub const RTC_CONFIG_EVERY: Duration = Duration::from_secs(3);
/// Clients the limiter remembers. Past it, clients whose bucket has refilled are forgotten
/// (the same as never seen); if all are busy, all are forgotten: memory stays bounded, and
/// an attacker with that many addresses gains little.
pub const MAX_RTC_CONFIG_CLIENTS: usize = 65_536;

/// Per-client rate limit on minting TURN credentials.
#[derive(Default)]
pub(crate) struct RtcConfigLimiter {
    clients: Mutex<HashMap<IpKey, TokenBucket>>,
}

impl RtcConfigLimiter {
    /// Takes one credential for `key`; false when it is over its rate. The lock is held for
    /// one map operation (and, rarely, one sweep).
    fn allow(&self, key: IpKey, now: Instant) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= MAX_RTC_CONFIG_CLIENTS && !clients.contains_key(&key) {
            clients.retain(|_, b| !b.is_full_at(now));
            if clients.len() >= MAX_RTC_CONFIG_CLIENTS {
                clients.clear();
            }
        }
        clients
            .entry(key)
            .or_insert_with(|| TokenBucket::per_interval(RTC_CONFIG_EVERY, RTC_CONFIG_BURST, now))
            .take(now)
    }
}

/// `RTCConfiguration` as the browser wants it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RtcConfig {
    ice_servers: Vec<IceServer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ice_transport_policy: Option<&'static str>,
}

/// `RTCIceServer`.
#[derive(Debug, Serialize)]
struct IceServer {
    urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
}

/// The TURN REST username: `<expiry unix secs>:<random>`. The random part makes every
/// credential distinct, so the relay's logs cannot link two sessions by username.
pub fn turn_username(expiry_unix_secs: u64, random: &str) -> String {
    format!("{expiry_unix_secs}:{random}")
}

/// The TURN REST password for `username`: `base64(HMAC-SHA1(secret, username))`.
pub fn turn_credential(secret: &[u8], username: &str) -> String {
    // HMAC accepts keys of any length, so this constructor cannot fail; the fallback keeps
    // the no-panic rule without an `expect`.
    match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A fresh credential pair valid for `ttl` from now.
fn issue(secret: &str, ttl: Duration) -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let expiry = (now + ttl.min(MAX_TURN_TTL)).as_secs();
    let mut entropy: IdEntropy = Default::default();
    rand::rng().fill(&mut entropy[..]);
    let username = turn_username(expiry, &encode_id(&entropy));
    let credential = turn_credential(secret.as_bytes(), &username);
    (username, credential)
}

/// `GET /api/rtc-config`. `no-store`, because every response carries a fresh credential that
/// no cache should hand to someone else. A client over its rate gets 429 (the app then goes
/// on without a relay, and says so).
pub(crate) async fn rtc_config(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let config = &app.config;
    let mints = config.turn_secret.is_some() && !config.turn_urls.is_empty();
    if mints {
        let ip = client_ip(peer, &headers, config.trust_forwarded_for);
        if !app.rtc_limiter.allow(IpKey::from(ip), Instant::now()) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, RTC_CONFIG_EVERY.as_secs().to_string())],
                "too many requests for relay credentials",
            )
                .into_response();
        }
    }
    let mut ice_servers = Vec::new();
    if !config.stun_urls.is_empty() {
        ice_servers.push(IceServer {
            urls: config.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    // Validation guarantees URLs and secret come together; checking both keeps a browser from
    // ever seeing a TURN entry it would throw on.
    if let (Some(secret), false) = (&config.turn_secret, config.turn_urls.is_empty()) {
        let (username, credential) = issue(secret, config.turn_ttl);
        ice_servers.push(IceServer {
            urls: config.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    let body = RtcConfig {
        ice_servers,
        ice_transport_policy: config.relay_only.then_some("relay"),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_rfc_2202_hmac_sha1_vector() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?")
        // = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
        let expected = BASE64.encode([
            0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
            0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79,
        ]);
        assert_eq!(
            turn_credential(b"Jefe", "what do ya want for nothing?"),
            expected
        );
        assert_eq!(expected, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }

    #[test]
    fn issued_usernames_expire_within_the_ttl_and_differ() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (u1, c1) = issue("s3cret", Duration::from_secs(600));
        let (u2, _) = issue("s3cret", Duration::from_secs(600));
        assert_ne!(u1, u2);
        let (expiry, random) = u1.split_once(':').unwrap();
        let expiry: u64 = expiry.parse().unwrap();
        assert!(expiry >= now + 599 && expiry <= now + 601);
        assert_eq!(random.len(), 20);
        assert_eq!(c1, turn_credential(b"s3cret", &u1));
        // A TTL above the cap is clamped to it.
        let (u3, _) = issue("s3cret", Duration::from_secs(99_999));
        let expiry3: u64 = u3.split_once(':').unwrap().0.parse().unwrap();
        assert!(expiry3 <= now + MAX_TURN_TTL.as_secs() + 1);
    }
}
