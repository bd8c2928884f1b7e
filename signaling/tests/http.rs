//! HTTP routes: rtc-config (with and without TURN), config.json, static files with the
//! security headers, config validation, and the binary's startup line and SIGTERM shutdown.

mod common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use hush_signaling::turn::turn_credential;
use hush_signaling::web::inline_script_hashes;
use hush_signaling::Config;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(self), microphone=(self), display-capture=(self)",
    ),
];

fn assert_security_headers(resp: &HttpResponse) {
    for (name, value) in SECURITY_HEADERS {
        let got = resp
            .header(name)
            .unwrap_or_else(|| panic!("missing {name}"));
        assert!(got.starts_with(value), "{name}: {got}");
    }
    let csp = resp.header("content-security-policy").expect("missing CSP");
    for directive in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[tokio::test]
async fn rtc_config_without_turn_lists_stun_only() {
    within(async {
        let helper = Helper::start(Config {
            stun_urls: vec!["stun:stun.example.org:3478".into()],
            ..Config::default()
        })
        .await;
        let resp = http_get(helper.addr, "/api/rtc-config", &[]).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert!(resp
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        assert_security_headers(&resp);
        assert_eq!(
            resp.json(),
            serde_json::json!({"iceServers": [{"urls": ["stun:stun.example.org:3478"]}]})
        );
    })
    .await;
}

#[tokio::test]
async fn rtc_config_with_turn_has_a_valid_rest_credential() {
    within(async {
        let secret = "north-sea-shared-secret";
        let helper = Helper::start(Config {
            stun_urls: vec!["stun:stun.example.org:3478".into()],
            turn_urls: vec![
                "turn:turn.example.org:3478?transport=udp".into(),
                "turns:turn.example.org:5349?transport=tcp".into(),
            ],
            turn_secret: Some(secret.into()),
            relay_only: true,
            ..Config::default()
        })
        .await;
        let resp = http_get(helper.addr, "/api/rtc-config", &[]).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        let body = resp.json();
        assert_eq!(body["iceTransportPolicy"], "relay");
        let servers = body["iceServers"].as_array().unwrap();
        assert_eq!(servers.len(), 2);
        let turn = &servers[1];
        assert_eq!(turn["urls"][0], "turn:turn.example.org:3478?transport=udp");
        assert_eq!(turn["urls"][1], "turns:turn.example.org:5349?transport=tcp");

        let username = turn["username"].as_str().unwrap();
        let (expiry, random) = username.split_once(':').expect("<expiry>:<random>");
        let expiry: u64 = expiry.parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(expiry > now && expiry <= now + 3600, "TTL must be ≤ 1 h");
        assert!(random.len() >= 16, "random part too short: {random}");

        // Independent computation, as coturn does it.
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(username.as_bytes());
        let expected = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(turn["credential"], expected.as_str());

        // And the helper's function against a fixed vector (RFC 2202, test case 2).
        assert_eq!(
            turn_credential(b"Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );

        // Each request gets a fresh username.
        let again = http_get(helper.addr, "/api/rtc-config", &[]).await.json();
        assert_ne!(again["iceServers"][1]["username"], username);
    })
    .await;
}

#[tokio::test]
async fn config_json_points_at_this_helper_and_overrides_dist() {
    within(async {
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("index.html"), "<!doctype html><p>hi</p>").unwrap();
        std::fs::write(
            dist.path().join("config.json"),
            r#"{"trackers":["wss://public.example"],"iceServers":[]}"#,
        )
        .unwrap();
        let helper = Helper::start(Config {
            dist: Some(dist.path().to_owned()),
            ..Config::default()
        })
        .await;

        let resp = http_get(helper.addr, "/config.json", &[("Host", "chat.local:8080")]).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert_security_headers(&resp);
        assert_eq!(
            resp.json(),
            serde_json::json!({
                "trackers": ["ws://chat.local:8080/announce"],
                "iceServers": [],
                "rtcConfigUrl": "/api/rtc-config",
            })
        );

        let resp = http_get(
            helper.addr,
            "/config.json",
            &[("Host", "chat.example.org"), ("X-Forwarded-Proto", "https")],
        )
        .await;
        assert_eq!(
            resp.json()["trackers"][0],
            "wss://chat.example.org/announce"
        );

        // A Host that could smuggle anything into the URL is refused.
        let resp = http_get(helper.addr, "/config.json", &[("Host", "a/b\"c")]).await;
        assert_eq!(resp.status, 400);
    })
    .await;
}

#[tokio::test]
async fn public_wss_flag_forces_wss() {
    within(async {
        let helper = Helper::start(Config {
            public_wss: true,
            ..Config::default()
        })
        .await;
        let resp = http_get(helper.addr, "/config.json", &[("Host", "h.example")]).await;
        assert_eq!(resp.json()["trackers"][0], "wss://h.example/announce");
    })
    .await;
}

#[tokio::test]
async fn static_files_carry_a_csp_with_the_inline_script_hash() {
    within(async {
        let script = "\nimport init, * as bindings from '/hush-0123abcd.js';\n\
                      const wasm = await init({ module_or_path: '/hush-0123abcd_bg.wasm' });\n";
        let index = format!(
            "<!DOCTYPE html><html><head><link rel=\"modulepreload\" href=\"/hush-0123abcd.js\">\
             <script type=\"module\">{script}</script></head><body></body></html>"
        );
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("index.html"), &index).unwrap();
        std::fs::write(dist.path().join("app.js"), "console.log(1)").unwrap();
        let helper = Helper::start(Config {
            dist: Some(dist.path().to_owned()),
            ..Config::default()
        })
        .await;

        let resp = http_get(helper.addr, "/", &[]).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, index);
        assert_security_headers(&resp);
        let csp = resp.header("content-security-policy").unwrap();
        // Independent hash of the exact script text.
        let expected = {
            use sha2::Digest;
            format!(
                "'sha256-{}'",
                BASE64.encode(sha2::Sha256::digest(script.as_bytes()))
            )
        };
        assert_eq!(inline_script_hashes(&index), vec![expected.clone()]);
        assert!(
            csp.contains(&format!("script-src 'self' 'wasm-unsafe-eval' {expected};")),
            "{csp}"
        );

        let js = http_get(helper.addr, "/app.js", &[]).await;
        assert_eq!(js.status, 200);
        assert_eq!(js.body, "console.log(1)");
        assert_security_headers(&js);

        let missing = http_get(helper.addr, "/nope.txt", &[]).await;
        assert_eq!(missing.status, 404);
        assert_security_headers(&missing);
    })
    .await;
}

#[tokio::test]
async fn without_dist_the_root_is_a_404_with_headers() {
    within(async {
        let helper = Helper::start(Config::default()).await;
        let resp = http_get(helper.addr, "/", &[]).await;
        assert_eq!(resp.status, 404);
        assert_security_headers(&resp);
    })
    .await;
}

#[tokio::test]
async fn invalid_config_is_refused_before_serving() {
    within(async {
        let bad = [
            Config {
                turn_secret: Some("s".into()),
                ..Config::default()
            },
            Config {
                turn_urls: vec!["turn:t.example:3478".into()],
                ..Config::default()
            },
            Config {
                stun_urls: vec!["http://not-stun".into()],
                ..Config::default()
            },
            Config {
                dist: Some("/definitely/not/here".into()),
                ..Config::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let err = hush_signaling::run(listener, config, std::future::pending())
                .await
                .expect_err("run must refuse an invalid config");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
        // The Debug form never shows the TURN secret.
        let shown = format!(
            "{:?}",
            Config {
                turn_secret: Some("hunter2".into()),
                ..Config::default()
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    })
    .await;
}

#[tokio::test]
async fn binary_prints_its_address_and_stops_on_sigterm() {
    within(async {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hush-signaling"))
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("HUSH_TURN_SECRET")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(STEP, stdout.read_line(&mut line))
            .await
            .expect("no startup line")
            .unwrap();
        let addr = line
            .strip_prefix("Hush helper listening on http://")
            .unwrap_or_else(|| panic!("unexpected line: {line:?}"))
            .trim_end()
            .parse()
            .expect("an address");

        let resp = http_get(addr, "/config.json", &[]).await;
        assert_eq!(resp.json()["trackers"][0], format!("ws://{addr}/announce"));

        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("did not exit on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        // Exactly one line on stdout.
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "");
    })
    .await;
}

/// Invariant: one client cannot mint relay credentials without bound; past its burst it
/// gets 429 with a Retry-After, and a helper without TURN is not limited at all.
#[tokio::test]
async fn relay_credentials_are_rate_limited_per_client() {
    within(async {
        let helper = Helper::start(Config {
            turn_urls: vec!["turn:turn.example.org:3478".into()],
            turn_secret: Some("s".into()),
            ..Config::default()
        })
        .await;
        for i in 0..hush_signaling::turn::RTC_CONFIG_BURST {
            let resp = http_get(helper.addr, "/api/rtc-config", &[]).await;
            assert_eq!(resp.status, 200, "request {i} is within the burst");
        }
        let resp = http_get(helper.addr, "/api/rtc-config", &[]).await;
        assert_eq!(resp.status, 429);
        assert!(resp.header("retry-after").is_some());
        assert!(
            !resp.body.contains("\"credential\""),
            "no credential is minted"
        );

        let stun_only = Helper::start(Config {
            stun_urls: vec!["stun:stun.example.org:3478".into()],
            ..Config::default()
        })
        .await;
        for _ in 0..hush_signaling::turn::RTC_CONFIG_BURST + 5 {
            let resp = http_get(stun_only.addr, "/api/rtc-config", &[]).await;
            assert_eq!(resp.status, 200, "nothing minted, nothing limited");
        }
    })
    .await;
}

/// Invariant: past the global connection limit the helper accepts nothing new, and accepts
/// again as soon as a connection closes.
#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    within(async {
        let helper = Helper::with_limits(hush_signaling::Limits {
            max_connections: 1,
            ..hush_signaling::Limits::default()
        })
        .await;
        let holder = tokio::net::TcpStream::connect(helper.addr).await.unwrap();
        // Give the helper time to accept the holder before the next one queues behind it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let addr = helper.addr;
        let waiting = tokio::spawn(async move { http_get(addr, "/config.json", &[]).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !waiting.is_finished(),
            "a second connection was served over the limit"
        );
        drop(holder);
        let resp = waiting.await.unwrap();
        assert_eq!(resp.status, 200);
    })
    .await;
}

/// Invariant: the TURN secret comes from a file or the environment, never from a flag that
/// every user could read in the process list.
#[tokio::test]
async fn the_turn_secret_comes_from_a_file_never_a_flag() {
    within(async {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let bin = env!("CARGO_BIN_EXE_hush-signaling");
        let refused = tokio::process::Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--turn-secret", "hunter2"])
            .env_remove("HUSH_TURN_SECRET")
            .output()
            .await
            .unwrap();
        assert!(
            !refused.status.success(),
            "--turn-secret must not be accepted"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("turn-secret");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let with_secret_file = || {
            let mut cmd = tokio::process::Command::new(bin);
            cmd.args(["--listen", "127.0.0.1:0"])
                .args(["--turn-url", "turn:turn.example.org:3478"])
                .arg("--turn-secret-file")
                .arg(&file);
            cmd
        };
        let mut child = with_secret_file()
            .env_remove("HUSH_TURN_SECRET")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("Hush helper listening on http://")
            .unwrap()
            .parse()
            .unwrap();
        let body = http_get(addr, "/api/rtc-config", &[]).await.json();
        let turn = &body["iceServers"][0];
        let username = turn["username"].as_str().unwrap();
        assert_eq!(
            turn["credential"],
            turn_credential(b"from-a-file", username),
            "the file's secret, without its newline"
        );

        // Both at once is a mistake worth stopping for.
        let twice = with_secret_file()
            .env("HUSH_TURN_SECRET", "from-the-environment")
            .output()
            .await
            .unwrap();
        assert!(!twice.status.success());
    })
    .await;
}

/// Invariant: helpers that share the rooms all serve the same tracker list and per-room
/// count, and a count the list cannot satisfy is refused at start.
#[tokio::test]
async fn config_json_lists_the_deployment_when_rooms_are_spread() {
    within(async {
        let trackers = vec![
            "wss://t1.example/announce".to_owned(),
            "wss://t2.example/announce".to_owned(),
            "wss://t3.example/announce".to_owned(),
        ];
        let helper = Helper::start(Config {
            trackers: trackers.clone(),
            trackers_per_room: Some(2),
            ..Config::default()
        })
        .await;
        let body = http_get(helper.addr, "/config.json", &[]).await.json();
        assert_eq!(body["trackers"], serde_json::json!(trackers));
        assert_eq!(body["trackersPerRoom"], 2);
        for bad in [
            Config {
                trackers: trackers.clone(),
                trackers_per_room: Some(4),
                ..Config::default()
            },
            Config {
                trackers: vec!["https://t1.example/announce".into()],
                ..Config::default()
            },
        ] {
            assert!(bad.validate().is_err());
        }
    })
    .await;
}
