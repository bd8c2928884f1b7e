//! Routes live in the URL fragment: `#/r/<room name>`. The fragment never leaves the browser,
//! so the room name (the room's secret) never reaches any web server or its logs.

/// Where the app is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Landing,
    Room(String),
}

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
    let Some(name) = hush_core::link::parse_fragment(hash) else {
        return Route::Landing;
    };
    match hush_core::room_name::normalize(&name) {
        Ok(n) => Route::Room(n),
        Err(_) => Route::Landing,
    }
}

/// The fragment for a room.
pub fn room_hash(name: &str) -> String {
    hush_core::link::room_fragment(name)
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

thread_local! {
    /// The room this page chose to enter (created it, typed its name, or pressed "Join" on
    /// its link). A room reached any other way (a link opened, history) asks first.
    static ENTERED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Marks `name` as entered by the user's own action.
pub fn enter(name: &str) {
    ENTERED.with(|e| *e.borrow_mut() = Some(name.to_owned()));
}

/// Whether the user chose to enter `name` on this page.
pub fn entered(name: &str) -> bool {
    ENTERED.with(|e| e.borrow().as_deref() == Some(name))
}

/// Goes into a room the user chose from this page (no "Join" step).
#[cfg(target_arch = "wasm32")]
pub fn go_in(name: String) {
    enter(&name);
    go(&Route::Room(name));
}

/// The full shareable link of a room.
#[cfg(target_arch = "wasm32")]
pub fn room_link(name: &str) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    hush_core::link::room_link(&base, name)
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
            hush_core::link::parse_fragment(&hash).as_deref(),
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
