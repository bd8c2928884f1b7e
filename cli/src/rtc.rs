//! Everything that touches the `webrtc` crate: peer connections, their pre-negotiated data
//! channels, SDP with every candidate in it (no trickle, as the browser app), sending and
//! receiving. The rest of the native peer sees `Link` (a room connection with its control
//! channel) and `FileLink` (a transfer's own connection and channel).

use crate::config::Settings;
use crate::inflight::{Admit, Inflight};
use crate::shell::{Event, Events};
use bytes::BytesMut;
use hush_core::room::{ConnHandle, MAX_INFLIGHT_FRAMES};
use hush_core::wire::MAX_CONTROL_FRAME;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::peer_connection::{RTCStatsReportEntry, StatsSelector};

/// The room's control channel: pre-negotiated on SCTP stream 0 by both sides, as in the app.
const CONTROL_LABEL: &str = "hush-control";
const CONTROL_STREAM_ID: u16 = 0;
/// A transfer's connection carries one pre-negotiated channel, on this stream (as in the app).
const FILE_STREAM_ID: u16 = 0;
/// Longest wait for ICE gathering before the SDP goes out with what it has: host candidates
/// come at once, and an unreachable STUN server would otherwise hold an offer ~8 s.
const GATHER_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Largest message we accept and advertise (`a=max-message-size`): Chromium's own limit. A
/// file record (64 KiB + tag) is over the crate's 64 KiB default.
pub const MAX_MESSAGE_SIZE: u32 = 256 * 1024;
/// Frames queued for one control channel's writer.
const CONTROL_QUEUE: usize = 1024;

/// How connections are made: ICE servers and where to listen.
pub struct Rtc {
    ice: Vec<RTCIceServer>,
    relay_only: bool,
    /// mDNS resolves the `.local` host candidates browsers send; off if its socket cannot be
    /// had (a sandbox without multicast).
    mdns: AtomicBool,
}

impl Rtc {
    pub fn new(settings: &Settings) -> Self {
        let ice = settings
            .ice
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            // The crate refuses a TURN server without credentials; a STUN one needs none.
            .filter(|s| !s.urls.iter().any(|u| u.starts_with("turn")) || !s.username.is_empty())
            .collect();
        Self {
            ice,
            relay_only: settings.relay_only,
            mdns: AtomicBool::new(true),
        }
    }

    async fn connection(
        &self,
        handler: Arc<dyn PeerConnectionEventHandler>,
        send_limit: Option<usize>,
    ) -> Result<Arc<dyn PeerConnection>, String> {
        loop {
            let mdns = self.mdns.load(Ordering::Relaxed);
            let mut config = RTCConfigurationBuilder::new().with_ice_servers(self.ice.clone());
            if self.relay_only {
                config = config.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
            }
            let engine = SettingEngineBuilder::new()
                .with_multicast_dns_mode(if mdns {
                    MulticastDnsMode::QueryOnly
                } else {
                    MulticastDnsMode::Disabled
                })
                .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(MAX_MESSAGE_SIZE))
                .build();
            let mut b = PeerConnectionBuilder::new()
                .with_configuration(config.build())
                .with_setting_engine(engine)
                .with_handler(handler.clone())
                // Every interface (the wildcard skips loopback) and loopback (two peers on one
                // machine, or a loopback-only test network).
                .with_udp_addrs(vec!["0.0.0.0:0".to_owned(), "127.0.0.1:0".to_owned()]);
            if let Some(limit) = send_limit {
                b = b.with_data_channel_send_buffer_limit(limit);
            }
            match b.build().await {
                Ok(pc) => return Ok(Arc::new(pc)),
                Err(e) if mdns => {
                    eprintln!("hush: mDNS unavailable ({e}); browsers' .local candidates will not resolve");
                    self.mdns.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// A room connection with its control channel; its events go to the shell as `h`'s.
    pub async fn link(&self, h: ConnHandle, events: Events) -> Result<Link, String> {
        let (gathered_tx, gathered) = mpsc::channel(1);
        let handler = Arc::new(Handler {
            gathered: gathered_tx,
            failed: Some((h, events.clone())),
        });
        let pc = self.connection(handler, None).await?;
        let dc = negotiated_channel(&pc, CONTROL_LABEL, CONTROL_STREAM_ID).await?;
        let inflight = Inflight::new(MAX_INFLIGHT_FRAMES);
        let reader = tokio::spawn(read_control(h, dc.clone(), events, inflight.clone()));
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        let writer = tokio::spawn(write_control(dc.clone(), rx));
        Ok(Link {
            sdp: Sdp {
                pc,
                gathered: Mutex::new(gathered),
            },
            tx,
            inflight,
            tasks: vec![reader, writer],
        })
    }

    /// A transfer's own connection with its one channel, labelled `label`.
    pub async fn file_link(&self, label: &str) -> Result<FileLink, String> {
        let (gathered_tx, gathered) = mpsc::channel(1);
        let handler = Arc::new(Handler {
            gathered: gathered_tx,
            failed: None,
        });
        let limit = hush_core::transfer::HIGH_WATER_BYTES as usize;
        let pc = self.connection(handler, Some(limit)).await?;
        let dc = negotiated_channel(&pc, label, FILE_STREAM_ID).await?;
        Ok(FileLink {
            sdp: Arc::new(Sdp {
                pc,
                gathered: Mutex::new(gathered),
            }),
            dc,
        })
    }
}

async fn negotiated_channel(
    pc: &Arc<dyn PeerConnection>,
    label: &str,
    id: u16,
) -> Result<Arc<dyn DataChannel>, String> {
    let init = RTCDataChannelInit {
        negotiated: Some(id),
        ordered: true,
        ..Default::default()
    };
    pc.create_data_channel(label, Some(init))
        .await
        .map_err(|e| e.to_string())
}

struct Handler {
    gathered: mpsc::Sender<()>,
    /// A room connection tells the shell when it fails (its channel may never say so).
    failed: Option<(ConnHandle, Events)>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        if let Some((h, events)) = &self.failed {
            if matches!(
                s,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
            ) {
                let _ = events.send(Event::ChannelClosed(*h));
            }
        }
    }
}

/// A connection's SDP steps.
pub struct Sdp {
    pc: Arc<dyn PeerConnection>,
    gathered: Mutex<mpsc::Receiver<()>>,
}

impl Sdp {
    /// The certificate the DTLS transport holds for the peer, as the connection's stats
    /// report it: (algorithm, fingerprint).
    pub async fn remote_certificate(&self) -> Option<(String, String)> {
        let report = self
            .pc
            .get_stats(std::time::Instant::now(), StatsSelector::None)
            .await;
        let id = report.transport()?.remote_certificate_id.clone();
        match report.get(&id)? {
            RTCStatsReportEntry::Certificate(c) => {
                Some((c.fingerprint_algorithm.clone(), c.fingerprint.clone()))
            }
            _ => None,
        }
    }

    async fn local_sdp(&self) -> Result<String, String> {
        let mut g = self.gathered.lock().await;
        let _ = tokio::time::timeout(GATHER_TIMEOUT, g.recv()).await;
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| "no local description".to_owned())
    }

    /// Our offer, with every candidate gathered.
    pub async fn offer(&self) -> Result<String, String> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        self.local_sdp().await
    }

    /// Our answer to `offer_sdp`, with every candidate gathered.
    pub async fn answer(&self, offer_sdp: String) -> Result<String, String> {
        let offer = RTCSessionDescription::offer(offer_sdp).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        self.local_sdp().await
    }

    pub async fn apply_answer(&self, answer_sdp: String) -> Result<(), String> {
        let answer = RTCSessionDescription::answer(answer_sdp).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }
}

/// A room connection: its SDP steps and its control channel.
pub struct Link {
    pub sdp: Sdp,
    tx: mpsc::Sender<Vec<u8>>,
    pub inflight: Inflight,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Link {
    /// Queues a sealed frame; frames go out in order. A full queue means the peer stopped
    /// reading: the frame is dropped (the engine's heartbeats find out).
    pub fn send(&self, frame: Vec<u8>) {
        let _ = self.tx.try_send(frame);
    }

    /// Closes the connection (in the background) and stops its tasks.
    pub fn close(self: Arc<Self>) {
        tokio::spawn(async move {
            self.sdp.close().await;
            for t in &self.tasks {
                t.abort();
            }
        });
    }
}

async fn read_control(h: ConnHandle, dc: Arc<dyn DataChannel>, events: Events, inflight: Inflight) {
    let post = |e: Event| {
        let _ = events.send(e);
    };
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen => post(Event::ChannelOpen(h)),
            DataChannelEvent::OnMessage(m) => {
                if m.data.len() > MAX_CONTROL_FRAME {
                    post(Event::OversizedFrame(h));
                    continue;
                }
                match inflight.admit() {
                    Admit::Yes => post(Event::Frame(h, m.data.to_vec())),
                    Admit::Flooding => post(Event::Flooded(h)),
                    Admit::No => {}
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    post(Event::ChannelClosed(h));
}

async fn write_control(dc: Arc<dyn DataChannel>, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if dc.send(BytesMut::from(&frame[..])).await.is_err() {
            // Not open yet or closed: the engine only sends on open channels, and a closed
            // one is reported by its reader.
            continue;
        }
    }
}

/// A transfer's connection and its channel; the transfer task polls and sends on it itself.
pub struct FileLink {
    pub sdp: Arc<Sdp>,
    pub dc: Arc<dyn DataChannel>,
}

impl FileLink {
    /// Sends one message, waiting while the channel buffers more than its limit.
    pub async fn send(&self, bytes: &[u8]) -> Result<(), String> {
        self.dc
            .send(BytesMut::from(bytes))
            .await
            .map_err(|e| e.to_string())
    }

    /// The next event, `None` once the connection closed.
    pub async fn next(&self) -> Option<ChannelEvent> {
        loop {
            match self.dc.poll().await? {
                DataChannelEvent::OnOpen => return Some(ChannelEvent::Open),
                DataChannelEvent::OnMessage(m) => return Some(ChannelEvent::Message(m.data)),
                DataChannelEvent::OnClose => return None,
                _ => {}
            }
        }
    }

    /// Waits until everything sent has been acknowledged (so closing loses nothing), at most
    /// `limit`.
    pub async fn drain(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while self.dc.outstanding_bytes().await.unwrap_or(0) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    pub async fn close(&self) {
        self.sdp.close().await;
    }
}

/// What a transfer's channel says.
pub enum ChannelEvent {
    Open,
    Message(BytesMut),
}
