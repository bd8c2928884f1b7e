//! The call: our captures (microphone, camera, screen), sending them to every peer, media
//! renegotiation with the perfect-negotiation pattern over the control channel, and the
//! speaking indicator.

use super::media::{self, Capture};
use super::rtc;
use super::{warn, Driver, Event};
use crate::js::JsError;
use crate::listener::Listener;
use crate::state::{DeviceKind, MediaFlags, RoomAction};
use futures::channel::mpsc;
use hush_core::negotiation::OnDescription;
use hush_core::room::{ConnHandle, MediaFlags as CoreFlags};
use hush_core::wire::{PeerMessage, StreamKind, StreamLabel};
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack, RtcSignalingState};

/// Our captures. The camera stream carries the microphone and the camera tracks; the screen
/// stream carries the shared screen (and its audio when offered).
///
/// Copies of `MediaStream` / `MediaStreamTrack` handles are written `Clone::clone(&x)`: web-sys
/// binds the JS `clone()` method on both, which shadows `Clone` in method-call syntax and
/// would make a new stream or track instead of a second handle to the same one.
#[derive(Default)]
pub(super) struct LocalMedia {
    camera_stream: Option<MediaStream>,
    mic: Option<MediaStreamTrack>,
    cam: Option<MediaStreamTrack>,
    screen: Option<MediaStream>,
    /// `onended` of the shared screen's video track.
    screen_ended: Option<Listener>,
    /// `devicechange` on `navigator.mediaDevices`: the device lists follow plugging and
    /// unplugging.
    device_change: Option<Listener>,
    mic_device: Option<String>,
    cam_device: Option<String>,
    /// Captures being opened (a second click on the same one waits for it).
    opening: Vec<Capture>,
}

impl LocalMedia {
    pub(super) fn flags(&self) -> MediaFlags {
        MediaFlags {
            mic: self.mic.is_some(),
            camera: self.cam.is_some(),
            screen: self.screen.is_some(),
        }
    }

    pub(super) fn labels(&self) -> Vec<StreamLabel> {
        let mut v = Vec::new();
        if let Some(s) = &self.camera_stream {
            v.push(StreamLabel {
                id: s.id(),
                kind: StreamKind::Camera,
            });
        }
        if let Some(s) = &self.screen {
            v.push(StreamLabel {
                id: s.id(),
                kind: StreamKind::Screen,
            });
        }
        v
    }

    /// Every live track with the stream it belongs to.
    pub(super) fn tracks(&self) -> Vec<(MediaStreamTrack, MediaStream)> {
        let mut v = Vec::new();
        if let Some(cs) = &self.camera_stream {
            for t in [&self.mic, &self.cam].into_iter().flatten() {
                v.push((Clone::clone(t), Clone::clone(cs)));
            }
        }
        if let Some(ss) = &self.screen {
            for t in ss.get_tracks().iter() {
                if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                    v.push((t, Clone::clone(ss)));
                }
            }
        }
        v
    }

    pub(super) fn stop_all(&mut self) {
        for (t, _) in self.tracks() {
            t.stop();
        }
        self.mic = None;
        self.cam = None;
        self.screen = None;
        self.screen_ended = None;
    }
}

impl LocalMedia {
    /// Follows device changes for as long as the room runs.
    pub(super) fn watch_devices(&mut self, events: &mpsc::Sender<Event>) {
        let Some(md) = web_sys::window().and_then(|w| w.navigator().media_devices().ok()) else {
            return;
        };
        let tx = events.clone();
        let target: web_sys::EventTarget = md.unchecked_into();
        self.device_change = Some(Listener::new(&target, "devicechange", move |_| {
            let _ = tx.clone().try_send(Event::DevicesChanged);
        }));
    }
}

impl Drop for LocalMedia {
    fn drop(&mut self) {
        // The camera light goes off when the room ends, whatever ended it.
        self.stop_all();
    }
}
impl Driver {
    // ---- media ----

    /// Tells every peer what our streams are and what is on, and the UI too.
    pub(super) fn announce_media(&mut self) {
        if let Ok(mut reg) = self.streams.try_borrow_mut() {
            reg.local.clear();
            if let Some(cs) = &self.local.camera_stream {
                reg.local.insert(StreamKind::Camera, Clone::clone(cs));
            }
            if let Some(ss) = &self.local.screen {
                reg.local.insert(StreamKind::Screen, Clone::clone(ss));
            }
        }
        let flags = self.local.flags();
        let core = CoreFlags {
            mic: flags.mic,
            camera: flags.camera,
            screen: flags.screen,
        };
        self.room.set_media(self.local.labels(), core);
        self.dispatch.emit(RoomAction::LocalMedia(flags));
    }

    /// Sends `track` to every open connection.
    pub(super) fn add_track_everywhere(&mut self, track: &MediaStreamTrack, stream: &MediaStream) {
        for link in self.links.values_mut().filter(|l| l.peer.is_some()) {
            link.add_track(track, stream);
        }
    }

    pub(super) fn remove_track_everywhere(&mut self, track_id: &str) {
        for link in self.links.values_mut() {
            link.remove_track(track_id);
        }
    }

    pub(super) fn toggle(&mut self, what: Capture) {
        let live = match what {
            Capture::Mic => self.local.mic.take(),
            Capture::Camera => self.local.cam.take(),
            Capture::Screen => None,
        };
        if let Some(track) = live {
            track.stop();
            if let Some(cs) = &self.local.camera_stream {
                cs.remove_track(&track);
            }
            self.remove_track_everywhere(&track.id());
            self.announce_media();
            return;
        }
        if what == Capture::Screen {
            if let Some(ss) = self.local.screen.take() {
                self.local.screen_ended = None;
                for t in ss.get_tracks().iter() {
                    if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                        t.stop();
                        self.remove_track_everywhere(&t.id());
                    }
                }
                self.announce_media();
                return;
            }
        }
        if self.local.opening.contains(&what) {
            return;
        }
        self.local.opening.push(what);
        self.dispatch.emit(RoomAction::MediaError(None));
        let tx = self.events.clone();
        let device = match what {
            Capture::Mic => self.local.mic_device.clone(),
            Capture::Camera => self.local.cam_device.clone(),
            Capture::Screen => None,
        };
        wasm_bindgen_futures::spawn_local(async move {
            let ev = match what {
                Capture::Screen => Event::ScreenStream(media::capture_screen().await),
                _ => Event::LocalTrack {
                    what,
                    replace: false,
                    result: media::capture(what, device).await,
                },
            };
            let _ = tx.clone().try_send(ev);
        });
    }

    pub(super) fn select_device(&mut self, kind: DeviceKind, id: String) {
        let (what, live) = match kind {
            DeviceKind::Speaker => {
                self.dispatch.emit(RoomAction::Speaker(Some(id)));
                return;
            }
            DeviceKind::Mic => {
                self.local.mic_device = Some(id.clone());
                (Capture::Mic, self.local.mic.is_some())
            }
            DeviceKind::Camera => {
                self.local.cam_device = Some(id.clone());
                (Capture::Camera, self.local.cam.is_some())
            }
        };
        if !live {
            return;
        }
        let tx = self.events.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = media::capture(what, Some(id)).await;
            let _ = tx.clone().try_send(Event::LocalTrack {
                what,
                replace: true,
                result,
            });
        });
    }

    pub(super) fn on_local_track(
        &mut self,
        what: Capture,
        replace: bool,
        result: Result<MediaStreamTrack, String>,
    ) {
        if !replace {
            self.local.opening.retain(|w| *w != what);
        }
        let track = match result {
            Ok(t) => t,
            Err(msg) => {
                self.dispatch.emit(RoomAction::MediaError(Some(msg)));
                return;
            }
        };
        let stream = match &self.local.camera_stream {
            Some(s) => Clone::clone(s),
            None => match MediaStream::new() {
                Ok(s) => {
                    self.local.camera_stream = Some(Clone::clone(&s));
                    s
                }
                Err(_) => return track.stop(),
            },
        };
        let slot = match what {
            Capture::Mic => &mut self.local.mic,
            Capture::Camera => &mut self.local.cam,
            Capture::Screen => return track.stop(),
        };
        match (replace, slot.take()) {
            // A new device for a live capture: swap the track under every sender, no
            // renegotiation.
            (true, Some(old)) => {
                stream.remove_track(&old);
                stream.add_track(&track);
                for link in self.links.values_mut() {
                    link.replace_track(&old.id(), &track);
                }
                old.stop();
                *slot = Some(track);
            }
            // Turned off while the new device was opening: drop it.
            (true, None) => track.stop(),
            (false, previous) => {
                if let Some(p) = previous {
                    p.stop();
                }
                stream.add_track(&track);
                *slot = Some(Clone::clone(&track));
                // Labels first, so receivers know the stream before its tracks arrive.
                self.announce_media();
                self.add_track_everywhere(&track, &stream);
            }
        }
        self.dispatch
            .emit(RoomAction::LocalMedia(self.local.flags()));
        self.refresh_devices();
    }

    pub(super) fn on_screen(&mut self, result: Result<MediaStream, String>) {
        self.local.opening.retain(|w| *w != Capture::Screen);
        let stream = match result {
            Ok(s) => s,
            Err(msg) => {
                self.dispatch.emit(RoomAction::MediaError(Some(msg)));
                return;
            }
        };
        if let Ok(video) = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
        {
            let tx = self.events.clone();
            let target: web_sys::EventTarget = video.unchecked_into();
            self.local.screen_ended = Some(Listener::new(&target, "ended", move |_| {
                let _ = tx.clone().try_send(Event::ScreenEnded);
            }));
        }
        self.local.screen = Some(Clone::clone(&stream));
        self.announce_media();
        for t in stream.get_tracks().iter() {
            if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                self.add_track_everywhere(&t, &stream);
            }
        }
    }

    /// The browser's own "Stop sharing" ended the screen share.
    pub(super) fn on_screen_ended(&mut self) {
        if self.local.screen.is_some() {
            self.toggle(Capture::Screen);
        }
    }

    pub(super) fn refresh_devices(&self) {
        let tx = self.events.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let list = media::list_devices().await;
            let _ = tx.clone().try_send(Event::DeviceList(list));
        });
    }

    pub(super) fn on_negotiation_needed(&mut self, h: ConnHandle) {
        let Some(link) = self.links.get_mut(&h) else {
            return;
        };
        let Some(neg) = link.neg.as_mut() else {
            return;
        };
        if !neg.start_offer() {
            return;
        }
        let (pc, tx) = (link.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::set_local_implicit(pc).await;
            let _ = tx.clone().try_send(Event::LocalDescription(h, r));
        });
    }

    pub(super) fn on_local_description(
        &mut self,
        h: ConnHandle,
        result: Result<(bool, String), JsError>,
    ) {
        let Some(link) = self.links.get_mut(&h) else {
            return;
        };
        // Our description may have been rolled back since it was set: the peer's colliding
        // offer was applied in between (we are polite). Sending it now would hand the peer an
        // offer we no longer stand behind; the browser asks again once stable.
        let current = link.pc.local_description().map(|d| d.sdp());
        let state = link.pc.signaling_state();
        let Some(neg) = link.neg.as_mut() else {
            return;
        };
        neg.offer_done();
        match result {
            Ok((offer, sdp)) => {
                let still_ours = current.as_deref() == Some(sdp.as_str())
                    && (!offer || state == RtcSignalingState::HaveLocalOffer);
                if still_ours {
                    self.room
                        .send_negotiation(h, &PeerMessage::Description { offer, sdp });
                }
            }
            Err(e) => warn(&format!("could not make a renegotiation offer: {e}")),
        }
    }

    /// A media message from the peer on `h` (the engine passes these on).
    pub(super) fn on_negotiation(&mut self, h: ConnHandle, msg: PeerMessage) {
        match msg {
            PeerMessage::Description { offer, sdp } => self.on_description(h, offer, sdp),
            PeerMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => self.on_candidate(h, candidate, sdp_mid, sdp_m_line_index),
            PeerMessage::Streams { streams } => {
                if let Some(link) = self.links.get_mut(&h) {
                    link.set_labels(streams.into_iter().map(|l| (l.id, l.kind)).collect());
                }
                self.publish_remote(h);
            }
            _ => {}
        }
    }

    fn on_description(&mut self, h: ConnHandle, offer: bool, sdp: String) {
        let Some(link) = self.links.get_mut(&h) else {
            return;
        };
        let stable = link.pc.signaling_state() == RtcSignalingState::Stable;
        let Some(neg) = link.neg.as_mut() else {
            return;
        };
        if neg.on_description(offer, stable) == OnDescription::Ignore {
            return;
        }
        let (pc, tx) = (link.pc.clone(), self.events.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let r = rtc::apply_remote(pc, offer, sdp).await;
            let _ = tx.clone().try_send(Event::RemoteDescription(h, r));
        });
    }

    pub(super) fn on_remote_description(
        &mut self,
        h: ConnHandle,
        result: Result<Option<String>, JsError>,
    ) {
        let Some(neg) = self.links.get_mut(&h).and_then(|l| l.neg.as_mut()) else {
            return;
        };
        neg.remote_applied();
        match result {
            Ok(Some(answer)) => self.room.send_negotiation(
                h,
                &PeerMessage::Description {
                    offer: false,
                    sdp: answer,
                },
            ),
            Ok(None) => {}
            Err(e) => warn(&format!("could not apply a renegotiation: {e}")),
        }
    }

    fn on_candidate(
        &mut self,
        h: ConnHandle,
        candidate: String,
        mid: Option<String>,
        index: Option<u16>,
    ) {
        let Some(link) = self.links.get(&h) else {
            return;
        };
        let quiet = link.neg.as_ref().is_some_and(|n| n.ignoring_offer());
        let pc = link.pc.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = rtc::add_candidate(pc, candidate, mid, index).await {
                // Candidates of an offer we ignored in a collision are expected to fail.
                if !quiet {
                    warn(&format!("could not add a candidate: {e}"));
                }
            }
        });
    }

    /// Publishes connection `h`'s labelled streams for the tiles, then tells the UI.
    pub(super) fn publish_remote(&mut self, h: ConnHandle) {
        let Some(link) = self.links.get(&h) else {
            return;
        };
        let Some(peer) = link.peer.as_ref().map(|p| p.to_string()) else {
            return;
        };
        if let Ok(mut reg) = self.streams.try_borrow_mut() {
            for kind in [StreamKind::Camera, StreamKind::Screen] {
                match link.stream_of(kind) {
                    Some(stream) => reg.remote.insert((peer.clone(), kind), stream),
                    None => drop(reg.remote.remove(&(peer.clone(), kind))),
                };
            }
        }
        self.dispatch.emit(RoomAction::PeerStreams { id: peer });
    }

    /// Reads the audio level on each of `hs` (the engine asks while their microphones are on).
    pub(super) fn poll_levels(&self, hs: &[ConnHandle]) {
        for h in hs {
            let Some(link) = self.links.get(h) else {
                continue;
            };
            let (h, pc, tx) = (*h, link.pc.clone(), self.events.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(level) = rtc::audio_level(pc).await {
                    let _ = tx.clone().try_send(Event::Level(h, level));
                }
            });
        }
    }
}
