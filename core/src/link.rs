//! Room links: `<app URL>#/r/<room name>`. The room name rides in the URL fragment, which a
//! browser never sends to a server, so the room's secret never reaches a web server or its
//! logs. The browser app and the native peer read and write the same links.

/// The fragment prefix of a room.
pub const ROOM_PREFIX: &str = "#/r/";

/// The fragment for a room: [`ROOM_PREFIX`] and the name as `encodeURIComponent` writes it.
pub fn room_fragment(name: &str) -> String {
    format!("{ROOM_PREFIX}{}", encode_component(name))
}

/// The full link of a room in the app at `app_url` (anything after a `#` in it is dropped).
pub fn room_link(app_url: &str, name: &str) -> String {
    let base = app_url.split('#').next().unwrap_or_default();
    format!("{base}{}", room_fragment(name))
}

/// The room name in a fragment such as `#/r/abandon-ability-…`, decoded (not yet normalized);
/// `None` when the fragment names no room or is malformed.
pub fn parse_fragment(hash: &str) -> Option<String> {
    decode_component(hash.strip_prefix(ROOM_PREFIX)?)
}

/// A link split into the app's URL (up to the `#`) and the room name it carries; `None` when
/// `link` is not a room link.
pub fn parse_link(link: &str) -> Option<(String, String)> {
    let at = link.find('#')?;
    let name = parse_fragment(&link[at..])?;
    Some((link[..at].to_owned(), name))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_round_trip() {
        for name in [
            "abandon-ability-able",
            "with space/and#hash",
            "ünï 文件 %41",
        ] {
            let link = room_link("http://127.0.0.1:8080/#/", name);
            assert!(link.starts_with("http://127.0.0.1:8080/#/r/"));
            let (app, back) = parse_link(&link).expect("a room link");
            assert_eq!(app, "http://127.0.0.1:8080/");
            assert_eq!(back, name);
        }
        assert_eq!(parse_link("just a name"), None);
        assert_eq!(parse_link("http://x/#/settings"), None);
        assert_eq!(parse_fragment("#/r/%zz"), None);
    }
}
