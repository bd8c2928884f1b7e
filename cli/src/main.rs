//! `hush`: the native Hush peer. It joins the same rooms as the browser app, through the same
//! trackers, with the same keys, wire format and file format, and browsers see it as an
//! ordinary peer. Commands: `room new`, `send`, `receive`, `chat` (README, "The command line").

// Nothing a peer, the network or the terminal controls may panic: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod error;
mod glob;
mod http;
mod inflight;
mod keep;
mod report;
mod rtc;
mod shell;
mod tracker;
mod transfer;

use clap::{Args, Parser, Subcommand};
use error::{code, CliError};
use hush_core::identity;
use hush_core::ids::PeerId;
use hush_core::room::{AdmissionStatus, Event as RoomEvent, FileEvent, TrackerStatus};
use hush_core::stream::UNKNOWN_SIZE;
use hush_core::transfer::{FileId, MAX_OFFERS_PER_PEER};
use report::{Mode, Report};
use serde_json::json;
use shell::{Happening, Shell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use transfer::{Outcome, Sink, Source};

/// How often progress bars are redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// `receive` ends once nothing is left to download and no new offer came for this long
/// (a sender's offers arrive together, right after it says hello).
const RECEIVE_SETTLE: Duration = Duration::from_millis(1_500);
/// How long `receive` waits for an offer unless `--wait` says otherwise.
const DEFAULT_RECEIVE_WAIT_S: u64 = 60;

#[derive(Parser)]
#[command(
    name = "hush",
    version,
    about = "Move files, folders and pipes between your own devices, and chat, over Hush rooms (peer to peer, end-to-end encrypted)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// Tracker to meet peers through (ws:// or wss://); repeat for several.
    #[arg(long = "tracker", global = true, value_name = "URL")]
    trackers: Vec<String>,
    /// ICE (STUN) server; repeat for several.
    #[arg(long = "ice", global = true, value_name = "URL")]
    ice: Vec<String>,
    /// The app's URL, for room links (and its config.json, when it is a Hush helper).
    #[arg(long, global = true, value_name = "URL")]
    app: Option<String>,
    /// Config file (JSON: trackers, iceServers, app); default ~/.config/hush/config.json.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The name peers see (default "hush on <hostname>").
    #[arg(long, global = true)]
    name: Option<String>,
    /// One JSON object per event, for scripts.
    #[arg(long, global = true, conflicts_with = "quiet")]
    json: bool,
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Keep this device's identity (a 0600 file in the config directory) and remember the
    /// devices verified with it, so they recognise each other in any room.
    #[arg(long, global = true)]
    keep_identity: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Rooms.
    Room {
        #[command(subcommand)]
        what: RoomCommand,
    },
    /// Offer files and folders (or standard input, `-`) to a room and serve them.
    Send {
        /// Room name or link.
        room: String,
        /// Files and folders to offer.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Exit once the files have been downloaded: a peer has them all, no transfer is
        /// running, and every peer that downloaded anything has all of them.
        #[arg(long)]
        once: bool,
        /// Give up if nobody joins within this many seconds.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
        /// The name standard input (`-`) is offered under.
        #[arg(long, value_name = "NAME", default_value = "stdin")]
        stdin_name: String,
    },
    /// Download what a room offers.
    Receive {
        /// Room name or link.
        room: String,
        /// Where to save (created if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Only files whose name (or path, if the pattern has a /) matches; * and ? wildcards.
        #[arg(long, value_name = "GLOB")]
        only: Vec<String>,
        /// Write the first offered file to standard output.
        #[arg(long)]
        stdout: bool,
        /// Replace existing files.
        #[arg(long)]
        overwrite: bool,
        /// Give up if nothing is offered within this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_RECEIVE_WAIT_S)]
        wait: u64,
    },
    /// Chat in a room: lines from standard input, the room's lines on standard output.
    Chat {
        /// Room name or link.
        room: String,
    },
    /// This device's kept identity.
    Identity {
        #[command(subcommand)]
        what: IdentityCommand,
    },
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Print the kept identity's fingerprint (making it if there is none).
    Show,
    /// Forget the kept identity and every remembered device.
    Forget,
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Make a fresh room name, its link and a QR code of the link.
    New,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::USAGE
            } else {
                code::OK
            });
        }
    };
    let mode = if cli.global.json {
        Mode::Json
    } else if cli.global.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    let stdout_is_data = matches!(cli.command, Command::Receive { stdout: true, .. });
    let mut report = Report::new(mode, stdout_is_data);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hush: {e}");
            return ExitCode::from(code::FAILED);
        }
    };
    match runtime.block_on(run(cli, &mut report)) {
        Ok(()) => ExitCode::from(code::OK),
        Err(e) => {
            report.error(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli, report: &mut Report) -> Result<(), CliError> {
    let g = cli.global;
    match cli.command {
        Command::Room {
            what: RoomCommand::New,
        } => room_new(&g, report).await,
        Command::Identity { what } => identity_command(&what, report),
        Command::Send {
            room,
            paths,
            once,
            wait,
            stdin_name,
        } => send(&g, report, &room, &paths, once, wait, &stdin_name).await,
        Command::Receive {
            room,
            dir,
            only,
            stdout,
            overwrite,
            wait,
        } => {
            let opts = ReceiveOptions {
                dir,
                only,
                stdout,
                overwrite,
                wait,
            };
            receive(&g, report, &room, opts).await
        }
        Command::Chat { room } => chat(&g, report, &room).await,
    }
}

fn flags(g: &Global) -> config::Flags {
    config::Flags {
        trackers: g.trackers.clone(),
        ice: g.ice.clone(),
        app: g.app.clone(),
        config: g.config.clone(),
    }
}

fn display_name(g: &Global) -> String {
    if let Some(n) = &g.name {
        return n.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("hush on {h}"),
        None => "hush".to_owned(),
    }
}

async fn room_new(g: &Global, report: &Report) -> Result<(), CliError> {
    let mut entropy = [0u8; hush_core::room_name::GENERATE_ENTROPY_LEN];
    getrandom::fill(&mut entropy).map_err(|e| CliError::Config(format!("no randomness: {e}")))?;
    let name = hush_core::room_name::generate(&entropy);
    // Only the flags and the config file: making a name needs no network.
    let app = match &g.app {
        Some(a) => Some(a.clone()),
        None => {
            let mut f = flags(g);
            f.trackers = vec!["ws://unused".into()];
            config::load(&f, None).await.ok().and_then(|s| s.app)
        }
    };
    let link = app.as_deref().map(|a| hush_core::link::room_link(a, &name));
    match report_mode(report) {
        Mode::Json => report.say("room", json!({"name": name, "link": link}), String::new),
        _ => {
            println!("{name}");
            match &link {
                Some(l) => {
                    println!("{l}");
                    if let Ok(code) = qrcode::QrCode::new(l.as_bytes()) {
                        let art = code
                            .render::<qrcode::render::unicode::Dense1x2>()
                            .quiet_zone(true)
                            .build();
                        println!("{art}");
                    }
                }
                None => eprintln!("hush: give --app URL (or \"app\" in the config file) for a link and its QR code"),
            }
        }
    }
    Ok(())
}

fn report_mode(r: &Report) -> Mode {
    r.mode()
}

/// The room name (normalized) and the app URL of a room link, if `arg` is one.
fn room_arg(arg: &str) -> Result<(String, Option<String>), CliError> {
    let (name, app) = match hush_core::link::parse_link(arg) {
        Some((app, name)) => (name, Some(app)),
        None => (arg.to_owned(), None),
    };
    let name = hush_core::room_name::normalize(&name)
        .map_err(|e| CliError::Usage(format!("room name: {e}")))?;
    Ok((name, app))
}

fn identity_command(what: &IdentityCommand, report: &Report) -> Result<(), CliError> {
    let dir = keep::dir().ok_or_else(|| CliError::Config("no config directory ($HOME)".into()))?;
    match what {
        IdentityCommand::Show => {
            let id = keep::load_or_create(&dir)?;
            let fp = identity::fingerprint(id.public());
            report.say("identity", json!({"fingerprint": fp}), || {
                format!("hush: this device's identity: {fp}")
            });
        }
        IdentityCommand::Forget => {
            let any = keep::forget(&dir).map_err(|e| CliError::Config(e.to_string()))?;
            report.say("identity_forgotten", json!({"existed": any}), || {
                if any {
                    "hush: forgot this device's identity and the devices it knew".into()
                } else {
                    "hush: no identity was kept".into()
                }
            });
        }
    }
    Ok(())
}

async fn join(g: &Global, report: &Report, room: &str) -> Result<Shell, CliError> {
    let (name, app) = room_arg(room)?;
    if matches!(
        hush_core::room_name::strength(&name),
        hush_core::room_name::Strength::Weak
    ) {
        report.say("weak_name", json!({}), || {
            "hush: warning: this room name is easy to guess; anyone who guesses it can join".into()
        });
    }
    let settings = config::load(&flags(g), app.as_deref()).await?;
    let me = display_name(g);
    let kept = match (g.keep_identity, keep::dir()) {
        (true, Some(dir)) => Some((keep::load_or_create(&dir)?, keep::devices(&dir))),
        (true, None) => return Err(CliError::Config("no config directory ($HOME)".into())),
        (false, _) => None,
    };
    let mut shell = Shell::join(&settings, &name, &me, kept.as_ref().map(|k| k.0.clone()))
        .await
        .map_err(CliError::Config)?;
    for (key, label) in kept.map(|k| k.1).unwrap_or_default() {
        shell.room().trust_device(key, &label);
    }
    report.say(
        "joined",
        json!({"trackers": settings.trackers, "name": me}),
        || {
            format!(
                "hush: in the room as \"{me}\", via {}",
                settings.trackers.join(", ")
            )
        },
    );
    Ok(shell)
}

/// Follows the trackers' statuses: none ever reached and every one down is an error.
#[derive(Default)]
struct TrackerWatch {
    reached: bool,
    last: Vec<TrackerStatus>,
}

impl TrackerWatch {
    fn update(&mut self, statuses: &[TrackerStatus]) -> Result<(), CliError> {
        self.last = statuses.to_vec();
        if statuses
            .iter()
            .any(|s| matches!(s, TrackerStatus::Joining | TrackerStatus::Connected))
        {
            self.reached = true;
        }
        let used: Vec<_> = statuses
            .iter()
            .filter(|s| !matches!(s, TrackerStatus::Unused))
            .collect();
        let all_down = !used.is_empty()
            && used.iter().all(|s| {
                matches!(
                    s,
                    TrackerStatus::Retrying { .. } | TrackerStatus::Refused(_)
                )
            });
        if !self.reached && all_down {
            let why = used
                .iter()
                .find_map(|s| match s {
                    TrackerStatus::Refused(r) => Some(format!("refused: {r}")),
                    _ => None,
                })
                .unwrap_or_else(|| "connection failed".into());
            return Err(CliError::NoTracker(why));
        }
        Ok(())
    }
}

/// Peer names as the room knows them.
#[derive(Default)]
struct Peers {
    names: HashMap<PeerId, String>,
    /// Where verified devices are remembered (`--keep-identity`).
    keep: Option<PathBuf>,
    /// The peer whose verification codes are on screen (answered by `/match` or `/nomatch`).
    comparing: Option<PeerId>,
    /// Newcomers waiting at the door of our locked room (answered by `/admit` or `/deny`).
    knocking: HashMap<PeerId, String>,
}

impl Peers {
    fn for_room(g: &Global) -> Self {
        Self {
            keep: if g.keep_identity { keep::dir() } else { None },
            ..Self::default()
        }
    }

    fn name(&self, p: &PeerId) -> String {
        self.names
            .get(p)
            .cloned()
            .unwrap_or_else(|| "a peer".into())
    }

    /// Common room events for every command: peers coming and going, notices.
    fn follow(&mut self, e: &RoomEvent, report: &Report) {
        match e {
            RoomEvent::PeerUp { peer, name } => {
                self.names.insert(peer.clone(), name.clone());
                report.say(
                    "peer_joined",
                    json!({"peer": peer.to_string(), "name": name}),
                    || format!("hush: {name} joined"),
                );
            }
            RoomEvent::PeerName { peer, name } => {
                self.names.insert(peer.clone(), name.clone());
            }
            RoomEvent::PeerDown { peer, reason } => {
                let name = self.name(peer);
                self.names.remove(peer);
                report.say(
                    "peer_left",
                    json!({"peer": peer.to_string(), "name": name, "reason": reason}),
                    || match reason {
                        Some(r) => format!("hush: {name} was dropped: {r}"),
                        None => format!("hush: {name} left"),
                    },
                );
            }
            RoomEvent::Notice(text) => {
                report.say("notice", json!({"text": text}), || format!("hush: {text}"))
            }
            RoomEvent::PeerTrust { peer, trust } => {
                let name = self.name(peer);
                if let (Some(dir), true, None) = (&self.keep, trust.verified, &trust.device) {
                    if let Err(e) = keep::remember(dir, &trust.key, &name) {
                        report.error(&format!("could not remember {name}'s device: {e}"));
                    }
                }
                let fp = &trust.fingerprint;
                report.say(
                    "peer_identity",
                    json!({"peer": peer.to_string(), "name": name, "fingerprint": fp,
                           "verified": trust.verified, "device": trust.device}),
                    || match (&trust.device, trust.verified) {
                        (Some(d), _) => format!("hush: {name} ({fp}) is your device \"{d}\""),
                        (None, true) => format!("hush: {name} ({fp}) is verified"),
                        (None, false) => format!("hush: {name}'s key: {fp} (not verified)"),
                    },
                );
            }
            RoomEvent::Sas { peer, name, sas } => {
                self.comparing = Some(peer.clone());
                let number = sas.number;
                let words: Vec<String> =
                    sas.emoji_words().map(|(e, w)| format!("{e} {w}")).collect();
                report.say(
                    "sas",
                    json!({"peer": peer.to_string(), "name": name, "emoji": words, "number": number}),
                    || {
                        format!(
                            "hush: verify {name}: do they see these?\n  {}\n  {number:06}\n\
                             hush: type /match if every one is the same, /nomatch if not",
                            words.join("  ")
                        )
                    },
                );
            }
            RoomEvent::VerifyEnd {
                peer,
                matched,
                reason,
            } => {
                let name = self.name(peer);
                if self.comparing.as_ref() == Some(peer) {
                    self.comparing = None;
                }
                report.say(
                    "verify_end",
                    json!({"peer": peer.to_string(), "name": name, "matched": matched, "reason": reason}),
                    || {
                        if *matched {
                            format!("hush: {name} is verified")
                        } else {
                            format!(
                                "hush: WARNING: verifying {name} failed ({reason}): someone may be \
                                 in the middle; do not trust this connection"
                            )
                        }
                    },
                );
            }
            RoomEvent::Lock { name, locked, .. } => {
                report.say("lock", json!({"name": name, "locked": locked}), || {
                    if *locked {
                        format!("hush: {name} locked the room")
                    } else {
                        format!("hush: {name} unlocked the room")
                    }
                })
            }
            RoomEvent::JoinRequest {
                peer,
                name,
                fingerprint,
            } => {
                self.knocking.insert(peer.clone(), name.clone());
                report.say(
                    "join_request",
                    json!({"peer": peer.to_string(), "name": name, "fingerprint": fingerprint}),
                    || {
                        format!(
                            "hush: {name} ({fingerprint}) wants to join: /admit {name} or /deny {name}"
                        )
                    },
                );
            }
            RoomEvent::JoinDecided {
                peer,
                name,
                fingerprint,
                admitted,
                by,
            } => {
                if let Some(p) = peer {
                    self.knocking.remove(p);
                }
                report.say(
                    "join_decided",
                    json!({"name": name, "fingerprint": fingerprint, "admitted": admitted, "by": by}),
                    || {
                        let (verb, tail) = if *admitted { ("let", " in") } else { ("turned", " away") };
                        format!("hush: {by} {verb} {name} ({fingerprint}){tail}")
                    },
                );
            }
            RoomEvent::JoinWithdrawn { peer } => {
                if let Some(name) = self.knocking.remove(peer) {
                    report.say("join_withdrawn", json!({"name": name}), || {
                        format!("hush: {name} stopped waiting to join")
                    });
                }
            }
            RoomEvent::Admission(status) => report.say(
                "admission",
                json!({"status": format!("{status:?}").to_lowercase()}),
                || match status {
                    AdmissionStatus::Waiting => {
                        "hush: the room is locked: waiting to be let in".into()
                    }
                    AdmissionStatus::Admitted => "hush: let in".into(),
                    AdmissionStatus::Denied => "hush: not let in: a member turned us away".into(),
                },
            ),
            RoomEvent::Refused {
                fingerprint,
                reason,
            } => report.say(
                "peer_refused",
                json!({"fingerprint": fingerprint, "reason": reason}),
                || match fingerprint {
                    Some(fp) => format!("hush: refused a peer ({fp}): {reason}"),
                    None => format!("hush: refused a peer: {reason}"),
                },
            ),
            RoomEvent::Timer { name, ttl_ms, .. } => {
                report.say("timer", json!({"name": name, "ttl_ms": ttl_ms}), || {
                    format!(
                        "hush: {}",
                        hush_core::room::timer_announcement(name, *ttl_ms)
                    )
                })
            }
            _ => {}
        }
    }
}

fn transfer_key(peer: &PeerId, id: &FileId, upload: bool) -> String {
    format!(
        "{}{peer}/{}",
        if upload { "up/" } else { "down/" },
        id.to_hex()
    )
}

/// Updates the bars of running transfers, starting one for each new transfer.
fn show_progress(
    shell: &Shell,
    report: &mut Report,
    bars: &mut HashSet<String>,
    label: impl Fn(&PeerId, &FileId, bool) -> (String, Option<u64>),
) {
    for (peer, id, upload, bytes) in shell.progress() {
        let key = transfer_key(&peer, &id, upload);
        if bars.insert(key.clone()) {
            let (text, total) = label(&peer, &id, upload);
            report.start(key.clone(), &text, total);
        }
        report.progress(&key, bytes);
    }
}

/// Everything under `paths`, as (relative name, path, size).
fn collect(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf, u64)>, CliError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| CliError::io(p.display().to_string(), e))?;
        let base = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "files".into());
        if meta.is_dir() {
            walk(p, &base, &mut out)?;
        } else {
            out.push((base, p.clone(), meta.len()));
        }
    }
    Ok(out)
}

/// A `send` of more files than a receiver keeps from one sender (the engine refuses the rest):
/// refused whole before joining rather than arriving incomplete.
fn too_many_files() -> CliError {
    CliError::Usage(format!(
        "more than {MAX_OFFERS_PER_PEER} files to send: peers take at most {MAX_OFFERS_PER_PEER} offers from one \
         sender. Send a folder this large as one archive: tar c DIR | hush send ROOM -"
    ))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf, u64)>) -> Result<(), CliError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CliError::io(dir.display().to_string(), e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        // Symbolic links are not followed: a link out of the tree must not send what it
        // points to.
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&path, &name, out)?;
        } else if ft.is_file() {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((name, path, len));
            if out.len() > MAX_OFFERS_PER_PEER {
                return Err(too_many_files());
            }
        }
    }
    Ok(())
}

async fn send(
    g: &Global,
    report: &mut Report,
    room: &str,
    paths: &[PathBuf],
    once: bool,
    wait: Option<u64>,
    stdin_name: &str,
) -> Result<(), CliError> {
    let stdin_count = paths.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin_count > 1 {
        return Err(CliError::Usage(
            "standard input (-) can be sent once".into(),
        ));
    }
    let rest: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    let files = collect(&rest)?;
    if files.len() + stdin_count > MAX_OFFERS_PER_PEER {
        return Err(too_many_files());
    }
    let mut shell = join(g, report, room).await?;
    let mut offered: HashMap<FileId, (String, u64)> = HashMap::new();
    let mut sources: Vec<(String, u64, Source)> = files
        .into_iter()
        .map(|(name, path, size)| (name, size, Source::File(path)))
        .collect();
    if stdin_count == 1 {
        sources.push((stdin_name.to_owned(), UNKNOWN_SIZE, Source::stdin()));
    }
    // Standard input can be read once: its first complete download ends the command.
    let mut stdin_id = None;
    for (name, size, source) in sources {
        let is_stdin = matches!(source, Source::Stdin(_));
        let id = shell.offer(&name, size, source).map_err(CliError::Usage)?;
        if is_stdin {
            stdin_id = Some(id);
        }
        let shown = known(size);
        report.say(
            "offered",
            json!({"id": id.to_hex(), "name": name, "size": shown}),
            || match shown {
                Some(size) => format!("hush: offering {name} ({size} bytes)"),
                None => format!("hush: offering {name} (standard input)"),
            },
        );
        offered.insert(id, (name, size));
    }
    let started = Instant::now();
    let mut trackers = TrackerWatch::default();
    let mut peers = Peers::for_room(g);
    // For --once: what each peer present has received.
    let mut done: HashMap<PeerId, HashSet<FileId>> = HashMap::new();
    let mut bars = HashSet::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            hs = shell.next() => {
                for h in hs {
                    match h {
                        Happening::Room(RoomEvent::Trackers(s)) => trackers.update(&s)?,
                        Happening::Room(e) => {
                            if let RoomEvent::PeerDown { peer, .. } = &e {
                                done.remove(peer);
                            }
                            if let RoomEvent::PeerUp { peer, .. } = &e {
                                done.entry(peer.clone()).or_default();
                            }
                            peers.follow(&e, report);
                        }
                        Happening::UploadEnded { peer, id, verified } => {
                            report.end(&transfer_key(&peer, &id, true));
                            bars.remove(&transfer_key(&peer, &id, true));
                            let name = offered.get(&id).map(|o| o.0.clone()).unwrap_or_default();
                            let who = peers.name(&peer);
                            report.say("sent", json!({"id": id.to_hex(), "name": name, "peer": peer.to_string(), "verified": verified}), || {
                                if verified { format!("hush: {who} received {name}") } else { format!("hush: sending {name} to {who} did not complete") }
                            });
                            if verified {
                                done.entry(peer).or_default().insert(id);
                                if stdin_id == Some(id) {
                                    shell.leave().await;
                                    return Ok(());
                                }
                            }
                        }
                        Happening::OpenSink { peer, id, .. } => shell.sink_ready(peer, id, Ok(None)),
                        Happening::DownloadEnded { .. } => {}
                    }
                }
                // --once: someone has every file, nothing is running, and every peer that
                // downloaded anything has all of it (a peer that only chats holds nothing up).
                let complete = |got: &HashSet<FileId>| offered.keys().all(|id| got.contains(id));
                if once
                    && done.values().any(complete)
                    && shell.progress().is_empty()
                    && done.values().all(|got| got.is_empty() || complete(got))
                {
                    shell.leave().await;
                    return Ok(());
                }
            }
            _ = tick.tick() => {
                show_progress(&shell, report, &mut bars, |peer, id, _| {
                    let (name, size) = offered.get(id).cloned().unwrap_or_default();
                    (format!("{name} → {}", peers.name(peer)), known(size))
                });
                if let Some(w) = wait {
                    if peers.names.is_empty() && started.elapsed() > Duration::from_secs(w) {
                        shell.leave().await;
                        return Err(CliError::Nobody("joined", w));
                    }
                }
            }
            _ = &mut ctrl_c => {
                let busy = !shell.progress().is_empty();
                shell.leave().await;
                return if busy { Err(CliError::Interrupted) } else { Ok(()) };
            }
        }
    }
}

struct ReceiveOptions {
    dir: PathBuf,
    only: Vec<String>,
    stdout: bool,
    overwrite: bool,
    wait: u64,
}

async fn open_sink(opts: &ReceiveOptions, name: &str, size: u64) -> Result<Sink, CliError> {
    if opts.stdout {
        return Ok(Sink::Stdout(tokio::io::stdout()));
    }
    // `name` is the engine's sanitized relative path: no `..`, nothing absolute.
    let target = name.split('/').fold(opts.dir.clone(), |p, c| p.join(c));
    if !opts.overwrite && target.exists() {
        return Err(CliError::Exists(target));
    }
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| CliError::io(format!("creating {}", parent.display()), e))?;
    }
    Sink::file(target.clone(), opts.overwrite, size)
        .await
        .map_err(|e| CliError::io(format!("writing {}", target.display()), e))
}

async fn receive(
    g: &Global,
    report: &mut Report,
    room: &str,
    opts: ReceiveOptions,
) -> Result<(), CliError> {
    let mut shell = join(g, report, room).await?;
    let started = Instant::now();
    let mut trackers = TrackerWatch::default();
    let mut peers = Peers::for_room(g);
    // Downloads asked for and not ended, with their name and size.
    let mut pending: HashMap<(PeerId, FileId), (String, u64)> = HashMap::new();
    // Wanted and not asked for yet: a peer serves a few downloads at once.
    let mut queue: VecDeque<Wanted> = VecDeque::new();
    let mut received = 0usize;
    let mut first_error: Option<CliError> = None;
    let mut last_activity = Instant::now();
    let mut bars = HashSet::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            hs = shell.next() => {
                last_activity = Instant::now();
                for h in hs {
                    match h {
                        Happening::Room(RoomEvent::Trackers(s)) => trackers.update(&s)?,
                        Happening::Room(RoomEvent::File(FileEvent::Offered { owner: Some(peer), id, name, size, view_once, .. })) => {
                            let wanted = opts.only.is_empty() || opts.only.iter().any(|p| glob::matches(p, &name));
                            let taken = opts.stdout && (received > 0 || !pending.is_empty());
                            if view_once {
                                report.say("skipped", json!({"name": name, "why": "view once"}), || format!("hush: skipping {name}: view-once files are for the app"));
                            } else if wanted && !taken {
                                queue.push_back((peer, id, name, size));
                                start_queued(&mut shell, &mut queue, &mut pending, report);
                            }
                        }
                        Happening::Room(e) => peers.follow(&e, report),
                        Happening::OpenSink { peer, id, plan } => {
                            match open_sink(&opts, &plan.name, plan.size).await {
                                Ok(sink) => {
                                    let from = sink.resume().map(|r| r.records * u64::from(hush_core::stream::RECORD_SIZE));
                                    report.say(
                                        "receiving",
                                        json!({"id": id.to_hex(), "name": plan.name, "size": known(plan.size), "from": peers.name(&peer), "resume_from": from}),
                                        || match from {
                                            Some(b) => format!("hush: receiving {} from {}, continuing after {b} bytes", plan.name, peers.name(&peer)),
                                            None => format!("hush: receiving {} from {}", plan.name, peers.name(&peer)),
                                        },
                                    );
                                    shell.sink_ready(peer, id, Ok(Some(sink)));
                                }
                                Err(e) => {
                                    shell.sink_ready(peer.clone(), id, Err(e.to_string()));
                                    pending.remove(&(peer, id));
                                    keep_error(&mut first_error, e, report);
                                }
                            }
                        }
                        Happening::DownloadEnded { peer, id, outcome } => {
                            let key = transfer_key(&peer, &id, false);
                            report.end(&key);
                            bars.remove(&key);
                            let (name, size) = pending.remove(&(peer.clone(), id)).unwrap_or_default();
                            match outcome {
                                Outcome::Verified => {
                                    received += 1;
                                    report.say("received", json!({"id": id.to_hex(), "name": name, "size": known(size)}), || format!("hush: received {name}, verified"));
                                }
                                other => {
                                    let e = match other {
                                        Outcome::Exists(p) => CliError::Exists(p),
                                        Outcome::DiskFull(w) => CliError::DiskFull(w),
                                        Outcome::Stopped(s) => CliError::Transfer(format!("{name}: {}", s.describe())),
                                        Outcome::Failed(w) | Outcome::Corrupt(w) => CliError::Transfer(format!("{name}: {w}")),
                                        Outcome::Verified => unreachable!("handled above"),
                                    };
                                    keep_error(&mut first_error, e, report);
                                }
                            }
                            start_queued(&mut shell, &mut queue, &mut pending, report);
                        }
                        Happening::UploadEnded { .. } => {}
                    }
                }
            }
            _ = tick.tick() => {
                show_progress(&shell, report, &mut bars, |_, id, _| {
                    let (name, size) = pending.iter().find(|((_, i), _)| i == id).map(|(_, v)| v.clone()).unwrap_or_default();
                    (name, known(size))
                });
                let settled = pending.is_empty() && queue.is_empty() && last_activity.elapsed() > RECEIVE_SETTLE;
                if settled && (received > 0 || first_error.is_some()) {
                    shell.leave().await;
                    return match first_error { Some(e) => Err(e), None => Ok(()) };
                }
                if received == 0 && pending.is_empty() && queue.is_empty() && first_error.is_none() && started.elapsed() > Duration::from_secs(opts.wait) {
                    shell.leave().await;
                    let what = if peers.names.is_empty() { "joined" } else { "offered a file" };
                    return Err(CliError::Nobody(what, opts.wait));
                }
            }
            _ = &mut ctrl_c => {
                shell.leave().await;
                return Err(CliError::Interrupted);
            }
        }
    }
}

/// A size, unless it is unknown (a pipe's).
fn known(size: u64) -> Option<u64> {
    (size != UNKNOWN_SIZE).then_some(size)
}

/// A download wanted: who offers it, its id, name and size.
type Wanted = (PeerId, FileId, String, u64);

/// Asks for queued downloads while their sender has room for them
/// (`MAX_INCOMING_PER_PEER` at once).
fn start_queued(
    shell: &mut Shell,
    queue: &mut VecDeque<Wanted>,
    pending: &mut HashMap<(PeerId, FileId), (String, u64)>,
    report: &Report,
) {
    let mut waiting = VecDeque::new();
    while let Some((peer, id, name, size)) = queue.pop_front() {
        let running = pending.keys().filter(|(p, _)| *p == peer).count();
        if running >= hush_core::transfer::MAX_INCOMING_PER_PEER {
            waiting.push_back((peer, id, name, size));
            continue;
        }
        match shell.room().download(&peer, id) {
            Ok(()) => {
                pending.insert((peer, id), (name, size));
            }
            Err(e) => report.error(&format!("{name}: {e}")),
        }
    }
    *queue = waiting;
    shell.flush();
}

/// The first failure decides the exit code (and is printed as the command ends); later ones
/// are printed as they happen.
fn keep_error(first: &mut Option<CliError>, e: CliError, report: &Report) {
    if first.is_some() {
        report.error(&e.to_string());
    } else {
        *first = Some(e);
    }
}

/// Sends one line of `hush chat`; gives it back when the rate limit holds it.
fn send_line(shell: &mut Shell, report: &Report, text: String) -> Option<String> {
    use hush_core::room::ChatError;
    let sent = shell.room().send_chat(&text, shell::now_ms());
    shell.flush();
    match sent {
        Ok(()) | Err(ChatError::Empty) => None,
        Err(ChatError::TooFast) => Some(text),
        Err(e) => {
            report.error(&e.to_string());
            None
        }
    }
}

/// `/verify NAME` starts comparing codes with a peer; `/match` and `/nomatch` answer them.
fn verify_command(shell: &mut Shell, peers: &Peers, report: &mut Report, line: &str) {
    let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "/verify" => {
            let arg = arg.trim();
            let found = peers.names.iter().find(|(_, n)| n.as_str() == arg);
            match found {
                Some((peer, _)) => {
                    let peer = peer.clone();
                    shell.room().verify(&peer);
                    shell.flush();
                }
                None => report.error(&format!("no peer named {arg:?} is here")),
            }
        }
        "/lock" | "/unlock" => {
            shell.room().set_locked(cmd == "/lock", shell::now_ms());
            shell.flush();
        }
        "/admit" | "/deny" => {
            let arg = arg.trim();
            let found = peers.knocking.iter().find(|(_, n)| n.as_str() == arg);
            match found {
                Some((peer, _)) => {
                    let peer = peer.clone();
                    shell.room().decide(&peer, cmd == "/admit", shell::now_ms());
                    shell.flush();
                }
                None => report.error(&format!("nobody named {arg:?} is waiting to join")),
            }
        }
        "/match" | "/nomatch" => match &peers.comparing {
            Some(peer) => {
                let peer = peer.clone();
                shell.room().confirm_sas(&peer, cmd == "/match");
                shell.flush();
            }
            None => report.error("no verification is waiting for an answer"),
        },
        _ => report.error(
            "commands: /verify NAME, /match, /nomatch, /lock, /unlock, /admit NAME, /deny NAME \
             (a line starting with // sends it as text)",
        ),
    }
}

async fn chat(g: &Global, report: &mut Report, room: &str) -> Result<(), CliError> {
    let mut shell = join(g, report, room).await?;
    let mut trackers = TrackerWatch::default();
    let mut peers = Peers::for_room(g);
    let (tx, mut lines) = tokio::sync::mpsc::channel::<Option<String>>(64);
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if tx.send(Some(line)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(None).await;
    });
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // A line the rate limit held back: piped input is paced, not dropped, and no more is read
    // until it has gone.
    let mut held: Option<String> = None;
    let pace = Duration::from_millis(hush_core::room::CHAT_REFILL_MS);
    loop {
        tokio::select! {
            () = tokio::time::sleep(pace), if held.is_some() => {
                if let Some(text) = held.take() {
                    held = send_line(&mut shell, report, text);
                }
            }
            hs = shell.next() => {
                for h in hs {
                    match h {
                        Happening::Room(RoomEvent::Trackers(s)) => trackers.update(&s)?,
                        Happening::Room(RoomEvent::Chat { from, name, text, direct, view_once, .. }) => {
                            // A terminal keeps what it printed: a view-once message is not.
                            let text = if view_once && from.is_some() {
                                "(a view-once message: open the room in a browser to see it)".to_owned()
                            } else {
                                text
                            };
                            report.chat(&name, &text, from.is_none(), direct.is_some());
                        }
                        Happening::Room(e) => peers.follow(&e, report),
                        Happening::OpenSink { peer, id, .. } => shell.sink_ready(peer, id, Ok(None)),
                        _ => {}
                    }
                }
            }
            line = lines.recv(), if held.is_none() => match line {
                Some(Some(text)) if text.starts_with('/') && !text.starts_with("//") => {
                    verify_command(&mut shell, &peers, report, &text);
                }
                Some(Some(text)) => {
                    let text = match text.strip_prefix('/') {
                        Some(rest) => rest.to_owned(),
                        None => text,
                    };
                    held = send_line(&mut shell, report, text);
                }
                // End of input: goodbye.
                Some(None) | None => {
                    shell.leave().await;
                    return Ok(());
                }
            },
            _ = &mut ctrl_c => {
                shell.leave().await;
                return Ok(());
            }
        }
    }
}
