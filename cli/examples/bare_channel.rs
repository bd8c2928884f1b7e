//! The floor for `hush`'s goodput: a bare webrtc-rs data channel between two peer connections
//! on 127.0.0.1, with the settings the native peer uses (256 KiB message size, 4 MiB send
//! buffer limit, one pre-negotiated ordered channel) and no crypto of ours, no disk, no engine:
//! 64 KiB messages, as many as `BARE_MIB` (default 256) MiB, then the MB/s. `make bench` runs it
//! beside the CLI transfer (e2e/bench/cli.mjs).

use bytes::BytesMut;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCSessionDescription, SettingEngineBuilder,
};

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

async fn peer() -> Result<
    (
        Arc<dyn PeerConnection>,
        Arc<dyn DataChannel>,
        mpsc::Receiver<()>,
    ),
    String,
> {
    let (tx, rx) = mpsc::channel(1);
    let engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(256 * 1024))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(engine)
        .with_handler(Arc::new(Gathered(tx)))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
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

#[tokio::main]
async fn main() -> Result<(), String> {
    let total: usize = std::env::var("BARE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
        * 1024
        * 1024;
    let (a, adc, mut ag) = peer().await?;
    let (b, bdc, mut bg) = peer().await?;
    let offer = a.create_offer(None).await.map_err(|e| e.to_string())?;
    a.set_local_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    let offer = local(&a, &mut ag).await?;
    b.set_remote_description(RTCSessionDescription::offer(offer).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let answer = b.create_answer(None).await.map_err(|e| e.to_string())?;
    b.set_local_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = local(&b, &mut bg).await?;
    a.set_remote_description(RTCSessionDescription::answer(answer).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(ev) = adc.poll().await {
        if matches!(ev, DataChannelEvent::OnOpen) {
            break;
        }
    }
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut started = None;
        while got < total {
            match bdc.poll().await {
                Some(DataChannelEvent::OnMessage(m)) => {
                    started.get_or_insert_with(Instant::now);
                    got += m.data.len();
                }
                Some(_) => {}
                None => break,
            }
        }
        (got, started.map(|s| s.elapsed()))
    });
    let chunk = vec![7u8; MESSAGE];
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        adc.send(BytesMut::from(&chunk[..]))
            .await
            .map_err(|e| e.to_string())?;
        sent += MESSAGE;
    }
    let (got, _) = receiver.await.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"bench\":\"bare-webrtc-rs\",\"bytes\":{got},\"mbps\":{:.2}}}",
        got as f64 / 1e6 / secs
    );
    let _ = a.close().await;
    let _ = b.close().await;
    Ok(())
}
