//! The room context and feature hooks. The provider owns the reducer and the driver's handle;
//! components read state and get callbacks through `use_room` / `use_chat`, never the driver.

pub use crate::driver::media::{can_pick_speaker, Capture};
use crate::driver::{self, RoomHandle};
use crate::js::{await_promise, get};
use crate::listener::Listener;
use crate::settings;
use crate::state::{DeviceKind, DeviceView, FileKey, MediaFlags, RoomState};
use hush_core::wire::StreamKind;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Everything a room's components may use.
#[derive(Clone, PartialEq)]
pub struct RoomContext {
    pub room_name: Rc<str>,
    pub state: UseReducerHandle<RoomState>,
    pub my_name: Rc<str>,
    pub set_my_name: Callback<String>,
    pub leave: Callback<()>,
    /// The running room, once started (media streams are read through it, never stored in
    /// state).
    pub handle: Option<RoomHandle>,
}

#[derive(Properties, PartialEq)]
pub struct ProviderProps {
    pub room_name: String,
    pub children: Children,
}

/// Runs one room for as long as it is mounted.
#[function_component(RoomProvider)]
pub fn room_provider(props: &ProviderProps) -> Html {
    let state = use_reducer(RoomState::default);
    let my_name = use_state(settings::display_name);
    let handle = use_state(|| None::<RoomHandle>);
    {
        let (state, handle, my_name) = (state.clone(), handle.clone(), my_name.clone());
        use_effect_with(props.room_name.clone(), move |room_name| {
            let dispatcher = state.dispatcher();
            let h = driver::start(
                room_name.clone(),
                (*my_name).clone(),
                Callback::from(move |a| dispatcher.dispatch(a)),
            );
            handle.set(Some(h.clone()));
            if !settings::share_typing() {
                h.share_typing(false);
            }
            // Closing the tab says goodbye at once, so others see us leave immediately.
            let on_hide = {
                let h = h.clone();
                let window: Option<web_sys::EventTarget> = web_sys::window().map(Into::into);
                window.map(|w| Listener::new(&w, "pagehide", move |_| h.leave()))
            };
            move || {
                drop(on_hide);
                h.leave();
            }
        });
    }
    // Callbacks are made once per running room (their dependency), not on every render, so
    // components that take them as props do not re-render for nothing.
    let set_my_name = {
        let setter = my_name.setter();
        use_callback(
            (*handle).clone(),
            move |name: String, handle: &Option<RoomHandle>| {
                let clean = hush_core::wire::sanitize_name(&name, "");
                if clean.is_empty() {
                    return;
                }
                settings::save_display_name(&clean);
                if let Some(h) = handle {
                    h.set_name(clean.clone());
                }
                setter.set(clean);
            },
        )
    };
    let leave = use_callback((), |(), _| crate::route::go(&crate::route::Route::Landing));
    let ctx = RoomContext {
        room_name: props.room_name.as_str().into(),
        state,
        my_name: my_name.as_str().into(),
        set_my_name,
        leave,
        handle: (*handle).clone(),
    };
    html! {
        <ContextProvider<RoomContext> context={ctx}>
            { props.children.clone() }
        </ContextProvider<RoomContext>>
    }
}

/// The current room. Panics only if used outside a `RoomProvider`, a programming error that
/// every room page test would catch.
#[hook]
#[allow(clippy::expect_used)] // a component outside the provider is a bug, not input
pub fn use_room() -> RoomContext {
    use_context::<RoomContext>().expect("use_room outside RoomProvider")
}

/// What the composer can do.
#[derive(Clone, PartialEq)]
pub struct ChatApi {
    /// Send a message (to one peer, by id, when set; view once when true); the error says
    /// why it was not sent, and the draft stays.
    pub send: Callback<(String, Option<String>, bool), Result<(), String>>,
    /// The user is writing (to one peer when set: `true`), or cleared the draft (`false`).
    pub typing: Callback<(Option<String>, bool)>,
    /// Whether peers see when we type (remembered on this device).
    pub share_typing: Callback<bool>,
    /// Set the room's vanishing-message timer (ms; `None`: off) for everyone.
    pub set_timer: Callback<Option<u64>>,
    /// Reveal a view-once message: its sender's id and the message id.
    pub reveal: Callback<(String, u64)>,
}

#[hook]
pub fn use_chat() -> ChatApi {
    let h = use_room().handle;
    ChatApi {
        send: use_callback(
            h.clone(),
            |(text, to, once): (String, Option<String>, bool), h: &Option<RoomHandle>| match h {
                Some(h) => h.send_chat(text, to, once).map_err(|e| e.to_string()),
                None => Err("Not connected yet".into()),
            },
        ),
        typing: use_callback(
            h.clone(),
            |(to, on): (Option<String>, bool), h: &Option<RoomHandle>| {
                if let Some(h) = h {
                    h.typing(to, on);
                }
            },
        ),
        share_typing: use_callback(h.clone(), |share: bool, h: &Option<RoomHandle>| {
            settings::save_share_typing(share);
            if let Some(h) = h {
                h.share_typing(share);
            }
        }),
        set_timer: use_callback(h.clone(), |ttl: Option<u64>, h: &Option<RoomHandle>| {
            if let Some(h) = h {
                h.set_timer(ttl);
            }
        }),
        reveal: use_callback(h, |(from, id): (String, u64), h: &Option<RoomHandle>| {
            if let Some(h) = h {
                h.reveal(from, id);
            }
        }),
    }
}

/// What can be done with files (the offers themselves are in the room state).
#[derive(Clone, PartialEq)]
pub struct FilesApi {
    /// Offer files to the room (`true`: view once).
    pub offer: Callback<(Vec<web_sys::File>, bool)>,
    pub download: Callback<FileKey>,
    pub cancel: Callback<FileKey>,
    pub withdraw: Callback<FileKey>,
    /// Close a view-once file: it is gone afterwards.
    pub close: Callback<FileKey>,
}

#[hook]
pub fn use_files() -> FilesApi {
    let h = use_room().handle;
    FilesApi {
        offer: use_callback(
            h.clone(),
            |(files, once): (Vec<web_sys::File>, bool), h: &Option<RoomHandle>| {
                if let Some(h) = h {
                    h.offer_files(files, once);
                }
            },
        ),
        download: use_file_command(h.clone(), RoomHandle::download),
        cancel: use_file_command(h.clone(), RoomHandle::cancel),
        withdraw: use_file_command(h.clone(), RoomHandle::withdraw),
        close: use_file_command(h, RoomHandle::close_view),
    }
}

/// A callback, made once per room, that runs one file command.
#[hook]
fn use_file_command(h: Option<RoomHandle>, f: fn(&RoomHandle, FileKey)) -> Callback<FileKey> {
    use_callback(h, move |k: FileKey, h: &Option<RoomHandle>| {
        if let Some(h) = h {
            f(h, k);
        }
    })
}

/// One video tile to show.
#[derive(Debug, Clone, PartialEq)]
pub struct TileSpec {
    /// Stable key: peer id (or "me") and stream kind.
    pub key: String,
    /// Display name ("You" for our own tiles).
    pub name: String,
    /// The peer, `None` for our own tiles.
    pub peer: Option<String>,
    pub kind: StreamKind,
    /// Changes whenever the stream behind the tile may have changed.
    pub gen: u32,
    pub speaking: bool,
    /// Whether there is video to show (a camera tile with the camera off carries only sound).
    pub has_video: bool,
}

/// Media controls and the tiles to show, derived from the room state.
pub struct MediaApi {
    pub local: MediaFlags,
    pub tiles: Vec<TileSpec>,
    pub devices: Vec<DeviceView>,
    pub speaker: Option<String>,
    pub error: Option<String>,
    pub toggle: Callback<Capture>,
    pub select: Callback<(DeviceKind, String)>,
    pub handle: Option<RoomHandle>,
    /// People in the room, us included.
    pub people: usize,
}

#[hook]
pub fn use_media() -> MediaApi {
    let room = use_room();
    let s = &room.state;
    let mut tiles = Vec::new();
    let mut add =
        |key: String, name: &str, peer: Option<String>, kind, gen, speaking, has_video| {
            tiles.push(TileSpec {
                key,
                name: name.to_owned(),
                peer,
                kind,
                gen,
                speaking,
                has_video,
            });
        };
    if s.local.mic || s.local.camera {
        add(
            "me-camera".into(),
            "You",
            None,
            StreamKind::Camera,
            s.local_gen,
            false,
            s.local.camera,
        );
    }
    if s.local.screen {
        add(
            "me-screen".into(),
            "You",
            None,
            StreamKind::Screen,
            s.local_gen,
            false,
            true,
        );
    }
    for p in &s.peers {
        if p.media.mic || p.media.camera {
            let key = format!("{}-camera", p.id);
            add(
                key,
                &p.name,
                Some(p.id.clone()),
                StreamKind::Camera,
                p.streams_gen,
                p.speaking,
                p.media.camera,
            );
        }
        if p.media.screen {
            let key = format!("{}-screen", p.id);
            add(
                key,
                &p.name,
                Some(p.id.clone()),
                StreamKind::Screen,
                p.streams_gen,
                false,
                true,
            );
        }
    }
    let handle = room.handle.clone();
    let toggle = use_callback(handle.clone(), |what: Capture, h: &Option<RoomHandle>| {
        if let Some(h) = h {
            h.toggle(what);
        }
    });
    let select = use_callback(
        handle.clone(),
        |(kind, id): (DeviceKind, String), h: &Option<RoomHandle>| {
            if let Some(h) = h {
                h.select_device(kind, id);
            }
        },
    );
    MediaApi {
        local: s.local,
        tiles,
        devices: s.devices.clone(),
        speaker: s.speaker.clone(),
        error: s.media_error.clone(),
        toggle,
        select,
        handle,
        people: s.peers.len() + 1,
    }
}

/// Keeps a tile's `<video>` playing the right stream: attaches it whenever it may have changed,
/// plays it (muted, with the returned flag set, when the autoplay policy refuses sound), and
/// routes its sound to the chosen speaker. Returns whether sound is blocked.
#[hook]
pub fn use_tile_media(
    video: NodeRef,
    spec: TileSpec,
    speaker: Option<String>,
    handle: Option<RoomHandle>,
) -> UseStateHandle<bool> {
    let blocked = use_state(|| false);
    {
        let (video, blocked) = (video.clone(), blocked.clone());
        let (peer, kind, local) = (spec.peer.clone(), spec.kind, spec.peer.is_none());
        use_effect_with((spec.key.clone(), spec.gen), move |_| {
            if let (Some(el), Some(h)) = (video.cast::<web_sys::HtmlVideoElement>(), handle) {
                let stream = match &peer {
                    Some(p) => h.remote_stream(p, kind),
                    None => h.local_stream(kind),
                };
                // By identity, not id: after a track is removed and added again the browser may
                // hand us a new stream object under the same id.
                let same = match (&stream, el.src_object()) {
                    (Some(a), Some(b)) => js_sys::Object::is(a, &b),
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    el.set_src_object(stream.as_ref());
                }
                // Our own preview is always muted (no echo); a peer's sound may be blocked by
                // the autoplay policy until the user interacts: then play muted and offer a
                // button.
                el.set_muted(local);
                if stream.is_some() {
                    wasm_bindgen_futures::spawn_local(play(el.unchecked_into(), blocked));
                }
            }
        });
    }
    use_effect_with(speaker, move |speaker| {
        if let (Some(el), Some(id)) = (video.cast::<web_sys::HtmlMediaElement>(), speaker) {
            set_sink(&el, id);
        }
    });
    blocked
}

/// Starts playback; when the autoplay policy refuses sound, plays muted and flags it.
async fn play(el: web_sys::HtmlMediaElement, blocked: UseStateHandle<bool>) {
    let Ok(p) = el.play() else {
        return;
    };
    if await_promise(p).await.is_err() && !el.muted() {
        el.set_muted(true);
        if let Ok(p) = el.play() {
            if await_promise(p).await.is_ok() {
                blocked.set(true);
            }
        }
    }
}

/// Routes a media element's sound to the chosen output device, where supported.
fn set_sink(el: &web_sys::HtmlMediaElement, id: &str) {
    if let Ok(f) = get(el, "setSinkId").dyn_into::<js_sys::Function>() {
        let _ = f.call1(el, &JsValue::from_str(id));
    }
}
