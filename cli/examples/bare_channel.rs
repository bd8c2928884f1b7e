//! The floor for `hush`'s goodput: a bare webrtc-rs data channel between two peer connections
//! on 127.0.0.1, with the settings the native peer uses (256 KiB message size, 4 MiB send
//! buffer limit, one pre-negotiated ordered channel) and no crypto of ours, no disk, no engine:
//! 64 KiB messages, as many as `BARE_MIB` (default 256) MiB, then the MB/s and the CPU cores
//! the process kept busy. `make bench` runs it beside the CLI transfer (e2e/bench/cli.mjs).
//! Knobs for finding what bounds it: `BARE_PAIRS` (that many pairs at once, sharing the
//! bytes), `BARE_MESSAGE_KIB`, `BARE_RWND_KIB` (the SCTP receive window), `BARE_MTU`,
//! `BARE_ADDRS` (the UDP addresses bound, comma-separated), `BARE_ACKS` (small messages
//! back every 16, read between sends, as a file transfer's acknowledgements) and
//! `BARE_PROCESSES=2` (the receiver in a child process, as between two `hush`).

use bytes::BytesMut;
use futures_util::FutureExt;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCSessionDescription, SettingEngineBuilder,
};

/// Bytes per message unless `BARE_MESSAGE_KIB` says otherwise (64 KiB: the records' size).
const MESSAGE: usize = 64 * 1024;

struct Gathered(mpsc::Sender<()>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.0.try_send(());
        }
    }
}

async fn peer() -> Result<Peer, String> {
    let (tx, rx) = mpsc::channel(1);
    let mut engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(256 * 1024));
    if let Some(kib) = std::env::var("BARE_RWND_KIB")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        engine = engine.with_sctp_max_receive_buffer_size(kib * 1024);
    }
    if let Some(mtu) = std::env::var("BARE_MTU")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        engine = engine.with_sctp_mtu(mtu);
    }
    let engine = engine.build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(engine)
        .with_handler(Arc::new(Gathered(tx)))
        .with_udp_addrs(
            std::env::var("BARE_ADDRS")
                .unwrap_or_else(|_| "127.0.0.1:0".to_owned())
                .split(',')
                .map(str::to_owned)
                .collect(),
        )
        .with_data_channel_send_buffer_limit(4 * 1024 * 1024)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let init = RTCDataChannelInit {
        negotiated: Some(0),
        ordered: true,
        ..Default::default()
    };
    let dc = pc
        .create_data_channel("bare", Some(init))
        .await
        .map_err(|e| e.to_string())?;
    Ok((pc, dc, rx))
}

async fn local(
    pc: &Arc<dyn PeerConnection>,
    rx: &mut mpsc::Receiver<()>,
) -> Result<String, String> {
    let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| "no description".to_owned())
}

type Peer = (
    Arc<dyn PeerConnection>,
    Arc<dyn DataChannel>,
    mpsc::Receiver<()>,
);

/// The offer of `p`, once gathered.
async fn make_offer(p: &mut Peer) -> Result<String, String> {
    let offer = p.0.create_offer(None).await.map_err(|e| e.to_string())?;
    p.0.set_local_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    local(&p.0, &mut p.2).await
}

/// Applies `offer` to `p` and returns its answer, once gathered.
async fn make_answer(p: &mut Peer, offer: String) -> Result<String, String> {
    p.0.set_remote_description(RTCSessionDescription::offer(offer).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let answer = p.0.create_answer(None).await.map_err(|e| e.to_string())?;
    p.0.set_local_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    local(&p.0, &mut p.2).await
}

/// Applies `answer` to the offerer `p` and waits for its channel to open.
async fn connect(p: &Peer, answer: String) -> Result<(), String> {
    p.0.set_remote_description(RTCSessionDescription::answer(answer).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(ev) = p.1.poll().await {
        if matches!(ev, DataChannelEvent::OnOpen) {
            return Ok(());
        }
    }
    Err("the channel closed before it opened".into())
}

/// Whether the receiver acknowledges (`BARE_ACKS`): it answers every 16 messages with a small
/// one, and the sender takes what came back between sends, as a file transfer does.
fn acks() -> bool {
    std::env::var("BARE_ACKS").is_ok()
}

/// Sends `total` bytes in `message`-sized messages.
async fn send_all(dc: &Arc<dyn DataChannel>, total: usize, message: usize) -> Result<(), String> {
    let acks = acks();
    let chunk = vec![7u8; message];
    let mut sent = 0;
    while sent < total {
        if acks {
            while dc.poll().now_or_never().flatten().is_some() {}
        }
        dc.send(BytesMut::from(&chunk[..]))
            .await
            .map_err(|e| e.to_string())?;
        sent += message;
    }
    Ok(())
}

/// Receives until `total` bytes have arrived or the channel closes; returns the bytes.
async fn receive_all(dc: Arc<dyn DataChannel>, total: usize) -> usize {
    let acks = acks();
    let mut got = 0usize;
    let mut count = 0u64;
    while got < total {
        match dc.poll().await {
            Some(DataChannelEvent::OnMessage(m)) => {
                got += m.data.len();
                count += 1;
                if acks && count.is_multiple_of(16) {
                    let _ = dc.send(BytesMut::from(&count.to_be_bytes()[..])).await;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    got
}

/// Moves `total` bytes over one freshly negotiated pair of peer connections; returns the
/// seconds from the first message sent to the last one received.
async fn one_pair(total: usize, message: usize) -> Result<f64, String> {
    let mut a = peer().await?;
    let mut b = peer().await?;
    let offer = make_offer(&mut a).await?;
    let answer = make_answer(&mut b, offer).await?;
    connect(&a, answer).await?;
    let receiver = tokio::spawn(receive_all(b.1.clone(), total));
    let started = Instant::now();
    send_all(&a.1, total, message).await?;
    let got = receiver.await.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let _ = a.0.close().await;
    let _ = b.0.close().await;
    if got < total {
        return Err(format!("the channel closed after {got} of {total} bytes"));
    }
    Ok(secs)
}

/// SDP on one line (for a pipe), and back.
fn one_line(sdp: &str) -> String {
    sdp.replace("\r\n", "|").replace('\n', "|")
}
fn from_line(line: &str) -> String {
    line.trim_end().replace('|', "\r\n")
}

/// `BARE_PROCESSES=2`, receiving side: a child of the sender, reading the offer from standard
/// input and writing the answer, then "done" once `total` bytes have arrived.
async fn child(total: usize) -> Result<(), String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut b = peer().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let offer = lines
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no offer")?;
    let answer = make_answer(&mut b, from_line(&offer)).await?;
    let mut out = tokio::io::stdout();
    let got = async {
        out.write_all(format!("{}\n", one_line(&answer)).as_bytes())
            .await?;
        out.flush().await?;
        let got = receive_all(b.1.clone(), total).await;
        out.write_all(format!("done {got}\n").as_bytes()).await?;
        out.flush().await
    };
    got.await.map_err(|e| e.to_string())?;
    // Stay until the sender closes our input, so nothing unacknowledged is cut off.
    while let Ok(Some(_)) = lines.next_line().await {}
    let _ = b.0.close().await;
    Ok(())
}

/// `BARE_PROCESSES=2`, sending side: the receiver is a child process, as two `hush`
/// processes are; returns the seconds from the first message sent to the child's "done".
async fn two_processes(total: usize, message: usize) -> Result<f64, String> {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut kid = tokio::process::Command::new(exe)
        .env("BARE_CHILD", "1")
        .env("BARE_TOTAL", total.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut to_kid = kid.stdin.take().ok_or("no stdin")?;
    let mut from_kid = BufReader::new(kid.stdout.take().ok_or("no stdout")?).lines();
    let mut a = peer().await?;
    let offer = make_offer(&mut a).await?;
    to_kid
        .write_all(format!("{}\n", one_line(&offer)).as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let answer = from_kid
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no answer")?;
    connect(&a, from_line(&answer)).await?;
    let started = Instant::now();
    send_all(&a.1, total, message).await?;
    let done = from_kid
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the receiver ended early")?;
    let secs = started.elapsed().as_secs_f64();
    drop(to_kid);
    let _ = kid.wait().await;
    let _ = a.0.close().await;
    if done != format!("done {total}") {
        return Err(format!("the receiver said {done:?}"));
    }
    Ok(secs)
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15 (utime, stime) in clock ticks of 1/100 s on Linux.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if std::env::var("BARE_CHILD").is_ok() {
        return child(number("BARE_TOTAL", 0)).await;
    }
    let total = number("BARE_MIB", 256) * 1024 * 1024;
    // Several associations side by side (`BARE_PAIRS`), each moving its share: whether the
    // floor is one association's or the machine's.
    let pairs = number("BARE_PAIRS", 1).max(1);
    let message = (number("BARE_MESSAGE_KIB", MESSAGE / 1024) * 1024).clamp(1024, 256 * 1024);
    let share = (total / pairs / message).max(1) * message;
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    if std::env::var("BARE_PROCESSES").as_deref() == Ok("2") {
        let secs = two_processes(share, message).await?;
        println!(
            "{{\"bench\":\"bare-webrtc-rs\",\"processes\":2,\"message\":{message},\"bytes\":{share},\"mbps\":{:.2}}}",
            share as f64 / 1e6 / secs
        );
        return Ok(());
    }
    let runs: Vec<_> = (0..pairs)
        .map(|_| tokio::spawn(one_pair(share, message)))
        .collect();
    for run in runs {
        run.await.map_err(|e| e.to_string())??;
    }
    let wall = started.elapsed().as_secs_f64();
    let cores = (cpu_seconds() - cpu0) / wall;
    println!(
        "{{\"bench\":\"bare-webrtc-rs\",\"pairs\":{pairs},\"message\":{message},\"bytes\":{},\"mbps\":{:.2},\"cores\":{cores:.2}}}",
        share * pairs,
        (share * pairs) as f64 / 1e6 / wall
    );
    Ok(())
}
