//! `hush-signaling`: parses flags, binds, prints the address, and runs the helper until
//! Ctrl-C or SIGTERM. Everything else lives in the library.

// Nothing a peer, the network or the browser controls may panic: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use anyhow::Context as _;
use clap::Parser;
use hush_signaling::{run, Config};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The optional Hush helper: WebTorrent-compatible tracker, TURN credentials, static files.
#[derive(Debug, Parser)]
#[command(name = "hush-signaling", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Built app to serve at / (Trunk's dist/ directory).
    #[arg(long, value_name = "DIR")]
    dist: Option<PathBuf>,
    /// STUN URL to hand out, e.g. stun:stun.example.org:3478 (repeatable).
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// TURN URL to hand out with time-limited credentials (repeatable).
    #[arg(long = "turn-url", value_name = "URL")]
    turn_url: Vec<String>,
    /// File holding the secret shared with the TURN server (coturn static-auth-secret). Or
    /// set HUSH_TURN_SECRET. Never a flag: a process's arguments are visible to every user.
    #[arg(long, value_name = "FILE")]
    turn_secret_file: Option<PathBuf>,
    /// Tell browsers to use relayed (TURN) candidates only.
    #[arg(long)]
    relay_only: bool,
    /// Advertise wss:// in /config.json (behind a TLS proxy that sets no X-Forwarded-Proto).
    #[arg(long)]
    public_wss: bool,
    /// Count connections per IP by the last X-Forwarded-For entry (only behind a proxy).
    #[arg(long)]
    trust_forwarded_for: bool,
    /// A tracker of the deployment, this helper included, listed in /config.json in place of
    /// this helper alone (repeatable; every helper of a deployment gets the same list).
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Each room announces to this many of the --tracker URLs, chosen by rendezvous hashing
    /// on its rendezvous id: N helpers each carry k/N of the rooms, sharing no state.
    #[arg(long, value_name = "K")]
    trackers_per_room: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();

    let args = Args::parse();
    let turn_secret = turn_secret(args.turn_secret_file.as_deref())?;
    let config = Config {
        dist: args.dist,
        stun_urls: args.stun,
        turn_urls: args.turn_url,
        turn_secret,
        relay_only: args.relay_only,
        public_wss: args.public_wss,
        trust_forwarded_for: args.trust_forwarded_for,
        trackers: args.trackers,
        trackers_per_room: args.trackers_per_room,
        ..Config::default()
    };
    config.validate().context("invalid configuration")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("listener has no address")?;
    // Tests and scripts wait for exactly this line, so it goes out whole and flushed.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Hush helper listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);

    run(listener, config, shutdown_signal())
        .await
        .context("helper failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Environment variable that may carry the TURN secret instead of a file.
const TURN_SECRET_ENV: &str = "HUSH_TURN_SECRET";

/// The TURN secret from `--turn-secret-file` or the environment (one of them, not both). A
/// file's trailing newline is not part of the secret.
fn turn_secret(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let from_env = std::env::var(TURN_SECRET_ENV).ok();
    match (file, from_env) {
        (Some(_), Some(_)) => anyhow::bail!(
            "the TURN secret is given twice: use --turn-secret-file or {TURN_SECRET_ENV}, not both"
        ),
        (None, env) => Ok(env),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the TURN secret file {}", path.display()))?;
            warn_if_shared(path);
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
    }
}

/// A secret file others can read is a leaked secret: say so (and carry on).
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "the TURN secret file {} is readable by other users (chmod 600 it)",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Completes on Ctrl-C, or on SIGTERM (what service managers and `docker stop` send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: never complete rather than stop at once.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
