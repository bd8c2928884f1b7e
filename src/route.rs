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
#[cfg(target_arch = "wasm32")]
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
    let Some(name) = decode_component(encoded) else {
        return Route::Landing;
    };
    match hush_core::room_name::normalize(&name) {
        Ok(n) => Route::Room(n),
        Err(_) => Route::Landing,
    }
}

/// The fragment for a room.
pub fn room_hash(name: &str) -> String {
    format!("{ROOM_PREFIX}{}", encode_component(name))
}

/// `encodeURIComponent`: every byte but ASCII letters, digits and `-_.!~*'()` as `%XX`.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `decodeURIComponent`: `None` for a malformed escape or bytes that are not UTF-8.
fn decode_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Navigates (pushes a history entry; `hashchange` re-renders the app).
#[cfg(target_arch = "wasm32")]
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
#[cfg(target_arch = "wasm32")]
pub fn room_link(name: &str) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let base = base.split('#').next().unwrap_or_default().to_owned();
    format!("{base}{}", room_hash(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invariant: a room link survives the round trip through the fragment, whatever the name.
    #[test]
    fn room_fragments_round_trip() {
        let custom = "Café night & friends";
        let hash = room_hash(custom);
        assert_eq!(hash, "#/r/Caf%C3%A9%20night%20%26%20friends");
        assert_eq!(
            decode_component(&hash[ROOM_PREFIX.len()..]).as_deref(),
            Some(custom)
        );
        assert_eq!(parse("#/r/%E0%A4%A"), Route::Landing, "a malformed escape");
        assert_eq!(parse("#/r/%FF%FE"), Route::Landing, "not UTF-8");
        assert_eq!(parse("#/"), Route::Landing);
        let Route::Room(name) = parse(&room_hash("Some Secret Room 42")) else {
            panic!("a custom name is a room");
        };
        assert_eq!(parse(&room_hash(&name)), Route::Room(name));
    }
}
