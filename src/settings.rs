//! Settings kept across visits, in `localStorage`: the display name, whether others see when
//! we type, the colour theme and the message alerts; and, only when the user asks to keep this
//! device's identity, its identity key and the keys of the devices it verified. Never a room
//! name, a message or a file.

use hush_core::hex::{from_hex, to_hex};

const NAME_KEY: &str = "hush.displayName";
const SHARE_TYPING_KEY: &str = "hush.shareTyping";
const THEME_KEY: &str = "hush.theme";
const SOUND_KEY: &str = "hush.sound";
const NOTIFY_KEY: &str = "hush.notify";
const IDENTITY_KEY: &str = "hush.identity";
const DEVICES_KEY: &str = "hush.devices";
/// Remembered devices kept (the engine takes as many).
const MAX_DEVICES: usize = hush_core::room::MAX_DEVICES;

/// An alert for messages that arrive while the page is hidden (off unless turned on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    Sound,
    Notification,
}

impl Alert {
    fn key(self) -> &'static str {
        match self {
            Alert::Sound => SOUND_KEY,
            Alert::Notification => NOTIFY_KEY,
        }
    }
}

pub fn alert_on(alert: Alert) -> bool {
    storage()
        .and_then(|s| s.get_item(alert.key()).ok().flatten())
        .is_some_and(|v| v == "on")
}

pub fn save_alert(alert: Alert, on: bool) {
    if let Some(s) = storage() {
        let _ = s.set_item(alert.key(), if on { "on" } else { "off" });
    }
}

/// The colour theme: the system's, or one the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    /// Its name in storage, in `data-theme` and as the select's value.
    pub fn key(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Theme::System => "System theme",
            Theme::Light => "Light",
            Theme::Dark => "Dark",
        }
    }
}

/// The saved theme (the system's unless the user picked one).
pub fn theme() -> Theme {
    match storage()
        .and_then(|s| s.get_item(THEME_KEY).ok().flatten())
        .as_deref()
    {
        Some("light") => Theme::Light,
        Some("dark") => Theme::Dark,
        _ => Theme::System,
    }
}

/// Remembers `theme` and applies it to the page (`data-theme` on the root element).
pub fn set_theme(theme: Theme) {
    if let Some(s) = storage() {
        let _ = s.set_item(THEME_KEY, theme.key());
    }
    apply_theme(theme);
}

pub fn apply_theme(theme: Theme) {
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element());
    if let Some(root) = root {
        let _ = root.set_attribute("data-theme", theme.key());
    }
}

const ADJECTIVES: [&str; 16] = [
    "Amber", "Brave", "Calm", "Clever", "Gentle", "Happy", "Jolly", "Kind", "Lucky", "Merry",
    "Nimble", "Quiet", "Swift", "Sunny", "Witty", "Bold",
];
const ANIMALS: [&str; 16] = [
    "Otter", "Falcon", "Panda", "Fox", "Heron", "Koala", "Lynx", "Moose", "Owl", "Puffin", "Robin",
    "Seal", "Tiger", "Wren", "Yak", "Zebra",
];

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The saved display name, or a fresh friendly one.
pub fn display_name() -> String {
    if let Some(n) = storage().and_then(|s| s.get_item(NAME_KEY).ok().flatten()) {
        let n = hush_core::wire::sanitize_name(&n, "");
        if !n.is_empty() {
            return n;
        }
    }
    let r = crate::js::random_bytes::<2>().unwrap_or([0, 0]);
    format!(
        "{} {}",
        ADJECTIVES[usize::from(r[0]) % ADJECTIVES.len()],
        ANIMALS[usize::from(r[1]) % ANIMALS.len()]
    )
}

/// Remembers the display name for next time (best effort: private modes may refuse).
pub fn save_display_name(name: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(NAME_KEY, name);
    }
}

/// Whether peers see when we type (on unless turned off).
pub fn share_typing() -> bool {
    storage()
        .and_then(|s| s.get_item(SHARE_TYPING_KEY).ok().flatten())
        .is_none_or(|v| v != "off")
}

pub fn save_share_typing(share: bool) {
    if let Some(s) = storage() {
        let _ = s.set_item(SHARE_TYPING_KEY, if share { "on" } else { "off" });
    }
}

/// This device's kept identity secret, when the user chose to keep it.
pub fn kept_identity() -> Option<[u8; hush_core::identity::SECRET_LEN]> {
    from_hex(storage()?.get_item(IDENTITY_KEY).ok()??.trim())
}

/// Keeps this identity on this device (`None`: forgets it, and every remembered device).
pub fn keep_identity(secret: Option<&[u8; hush_core::identity::SECRET_LEN]>) {
    let Some(s) = storage() else {
        return;
    };
    match secret {
        Some(k) => {
            let _ = s.set_item(IDENTITY_KEY, &to_hex(k));
        }
        None => {
            let _ = s.remove_item(IDENTITY_KEY);
            let _ = s.remove_item(DEVICES_KEY);
        }
    }
}

/// Devices verified from this one, while it keeps its identity: (key, label).
pub fn devices() -> Vec<(hush_core::identity::PublicKey, String)> {
    let Some(text) = storage().and_then(|s| s.get_item(DEVICES_KEY).ok().flatten()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (key, label) = l.split_once(' ')?;
            Some((
                from_hex(key)?,
                hush_core::wire::sanitize_name(label, "Your device"),
            ))
        })
        .take(MAX_DEVICES)
        .collect()
}

fn save_devices(list: &[(hush_core::identity::PublicKey, String)]) {
    if let Some(s) = storage() {
        let text: Vec<String> = list
            .iter()
            .map(|(k, l)| format!("{} {}", to_hex(k), l.replace('\n', " ")))
            .collect();
        let _ = s.set_item(DEVICES_KEY, &text.join("\n"));
    }
}

/// Remembers a verified device (only while this device keeps its identity).
pub fn remember_device(key: hush_core::identity::PublicKey, label: &str) {
    if kept_identity().is_none() {
        return;
    }
    let mut list = devices();
    list.retain(|(k, _)| *k != key);
    if list.len() >= MAX_DEVICES {
        list.remove(0);
    }
    list.push((key, label.to_owned()));
    save_devices(&list);
}

pub fn forget_device(key: &hush_core::identity::PublicKey) {
    let mut list = devices();
    list.retain(|(k, _)| k != key);
    save_devices(&list);
}
