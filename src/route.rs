//! Routes live in the URL fragment: `#/r/<room name>`. The fragment never leaves the browser,
//! so the room name (the room's secret) never reaches any web server or its logs.

/// Where the app is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Landing,
    Room(String),
}

const ROOM_PREFIX: &str = "#/r/";

/// Reads the current route from `location.hash`.
pub fn current() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    parse(&hash)
}

/// Parses a fragment such as `#/r/abandon-ability-…`.
pub fn parse(hash: &str) -> Route {
    let Some(encoded) = hash.strip_prefix(ROOM_PREFIX) else {
        return Route::Landing;
    };
    let name = js_sys::decode_uri_component(encoded)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    match hush_core::room_name::normalize(&name) {
        Ok(n) => Route::Room(n),
        Err(_) => Route::Landing,
    }
}

/// The fragment for a room.
pub fn room_hash(name: &str) -> String {
    format!(
        "{ROOM_PREFIX}{}",
        String::from(js_sys::encode_uri_component(name))
    )
}

/// Navigates (pushes a history entry; `hashchange` re-renders the app).
pub fn go(route: &Route) {
    let hash = match route {
        Route::Landing => "#/".to_owned(),
        Route::Room(name) => room_hash(name),
    };
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&hash);
    }
}

/// The full shareable link of a room.
pub fn room_link(name: &str) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let base = base.split('#').next().unwrap_or_default().to_owned();
    format!("{base}{}", room_hash(name))
}
