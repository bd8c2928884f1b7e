//! Where the native peer finds its trackers, ICE servers and the app's URL.
//!
//! In order, the first that says something wins: the command-line flags (`--tracker`, `--ice`,
//! `--app`), the config file (`--config`, else `$XDG_CONFIG_HOME/hush/config.json` or
//! `~/.config/hush/config.json`), the `config.json` of the app the room link points to (a
//! helper on a LAN names itself as the tracker and hands out TURN credentials), and last the
//! app's own defaults (`public/config.json`, built in).

use crate::error::CliError;
use crate::http;
use serde::Deserialize;
use std::path::PathBuf;

/// The app's built-in configuration: the same trackers and STUN servers the browser uses.
const DEFAULT_CONFIG: &str = include_str!("../../public/config.json");
/// Most trackers used at once (as in the browser).
pub const MAX_TRACKERS: usize = 8;

/// One ICE server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// What a room is joined with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub trackers: Vec<String>,
    pub trackers_per_room: Option<usize>,
    pub ice: Vec<IceServer>,
    /// Relay only (the deployment's `iceTransportPolicy`).
    pub relay_only: bool,
    /// The app's URL, for room links.
    pub app: Option<String>,
}

/// The parts of a `config.json` (the app's, a helper's, or the user's file) that matter here.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    trackers: Vec<String>,
    #[serde(default)]
    ice_servers: Vec<IceEntry>,
    #[serde(default)]
    rtc_config_url: Option<String>,
    #[serde(default)]
    trackers_per_room: Option<usize>,
    #[serde(default)]
    ice_transport_policy: Option<String>,
    /// The user's file only: the app's URL.
    #[serde(default)]
    app: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IceEntry {
    urls: Urls,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Urls {
    One(String),
    Many(Vec<String>),
}

impl From<IceEntry> for IceServer {
    fn from(e: IceEntry) -> Self {
        IceServer {
            urls: match e.urls {
                Urls::One(u) => vec![u],
                Urls::Many(v) => v,
            },
            username: e.username,
            credential: e.credential,
        }
    }
}

/// What the command line said.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub trackers: Vec<String>,
    pub ice: Vec<String>,
    pub app: Option<String>,
    pub config: Option<PathBuf>,
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hush").join("config.json"))
}

fn parse(text: &str, what: &str) -> Result<ConfigFile, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::Config(format!("{what} is not valid: {e}")))
}

/// `url` resolved against the app's URL when it is a path (`/api/rtc-config`).
fn resolve(app: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_owned();
    }
    let origin_end = app
        .find("://")
        .and_then(|s| app[s + 3..].find('/').map(|i| s + 3 + i))
        .unwrap_or(app.len());
    let origin = &app[..origin_end];
    if let Some(path) = url.strip_prefix('/') {
        format!("{origin}/{path}")
    } else {
        match app.rfind('/').filter(|&i| i >= origin_end) {
            Some(i) => format!("{}{url}", &app[..=i]),
            None => format!("{app}/{url}"),
        }
    }
}

/// The settings for a room reached through `link_app` (the app URL of a room link, if one was
/// given).
pub async fn load(flags: &Flags, link_app: Option<&str>) -> Result<Settings, CliError> {
    let file = match flags.config.clone().or_else(default_config_path) {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text, &path.display().to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && flags.config.is_none() => {
                ConfigFile::default()
            }
            Err(e) => return Err(CliError::io(format!("reading {}", path.display()), e)),
        },
        None => ConfigFile::default(),
    };
    let app = flags
        .app
        .clone()
        .or_else(|| link_app.map(str::to_owned))
        .or(file.app.clone());
    let mut settings = Settings {
        trackers: flags.trackers.clone(),
        trackers_per_room: None,
        ice: flags
            .ice
            .iter()
            .map(|u| IceServer {
                urls: vec![u.clone()],
                username: None,
                credential: None,
            })
            .collect(),
        relay_only: false,
        app: app.clone(),
    };
    if settings.trackers.is_empty() && !file.trackers.is_empty() {
        settings.trackers = file.trackers.clone();
        settings.trackers_per_room = file.trackers_per_room;
    }
    if settings.ice.is_empty() {
        settings.ice = file.ice_servers.into_iter().map(IceServer::from).collect();
    }
    // The app's own config.json: a helper names itself as the tracker and mints TURN
    // credentials. Only asked when something is still missing.
    let need_trackers = settings.trackers.is_empty();
    if let Some(app) = app
        .as_deref()
        .filter(|_| need_trackers || settings.ice.is_empty())
    {
        let url = resolve(app, "config.json");
        match http::get(&url).await {
            Ok(text) => {
                let remote = parse(&text, &url)?;
                if need_trackers {
                    settings.trackers = remote.trackers;
                    settings.trackers_per_room = remote.trackers_per_room;
                }
                if settings.ice.is_empty() {
                    settings.ice = remote
                        .ice_servers
                        .into_iter()
                        .map(IceServer::from)
                        .collect();
                    if let Some(rtc) = remote.rtc_config_url {
                        let rtc = resolve(app, &rtc);
                        match http::get(&rtc)
                            .await
                            .and_then(|t| parse(&t, &rtc).map_err(|e| e.to_string()))
                        {
                            Ok(r) => {
                                settings.ice =
                                    r.ice_servers.into_iter().map(IceServer::from).collect();
                                settings.relay_only =
                                    r.ice_transport_policy.as_deref() == Some("relay");
                            }
                            Err(e) => eprintln!(
                                "hush: relay servers unavailable ({e}); direct connections only"
                            ),
                        }
                    }
                }
            }
            // The link's app may be a static host without config.json: fall back to defaults.
            Err(e) if need_trackers => {
                eprintln!("hush: {url}: {e}; using the built-in trackers");
            }
            Err(_) => {}
        }
    }
    if settings.trackers.is_empty() {
        let builtin = parse(DEFAULT_CONFIG, "the built-in config")?;
        settings.trackers = builtin.trackers;
        if settings.ice.is_empty() {
            settings.ice = builtin
                .ice_servers
                .into_iter()
                .map(IceServer::from)
                .collect();
        }
    }
    settings
        .trackers
        .retain(|t| t.starts_with("ws://") || t.starts_with("wss://"));
    settings.trackers.truncate(MAX_TRACKERS);
    if settings.trackers.is_empty() {
        return Err(CliError::Config(
            "no tracker configured (give --tracker ws://… or wss://…)".into(),
        ));
    }
    settings.trackers_per_room = settings
        .trackers_per_room
        .filter(|&k| k > 0 && k < settings.trackers.len());
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_app() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/", "config.json"),
            "http://127.0.0.1:8080/config.json"
        );
        assert_eq!(
            resolve("http://h:1/app/index.html", "/api/rtc-config"),
            "http://h:1/api/rtc-config"
        );
        assert_eq!(
            resolve("http://h:1", "config.json"),
            "http://h:1/config.json"
        );
        assert_eq!(resolve("http://h/app/", "x.json"), "http://h/app/x.json");
        assert_eq!(resolve("http://h/", "https://o/x"), "https://o/x");
    }

    #[test]
    fn the_built_in_config_parses() {
        let c = parse(DEFAULT_CONFIG, "built-in").expect("valid");
        assert!(!c.trackers.is_empty());
    }
}
