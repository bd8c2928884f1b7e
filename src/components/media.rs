//! The call: toggles and device pickers, and the grid of video tiles. Streams are attached to
//! `<video>` elements through node refs in effects; they never pass through state.

use crate::hooks::{can_pick_speaker, use_media, use_tile_media, Capture, TileSpec};
use crate::state::DeviceKind;
use hush_core::wire::StreamKind;
use web_sys::{HtmlMediaElement, HtmlSelectElement};
use yew::prelude::*;

/// Largest room (people, us included) in which everyone sending 640×360 video still holds up
/// on a 2-core laptop, from the mesh benchmark (`make bench`): each peer encodes its camera
/// once per other peer and decodes every other camera.
pub const VIDEO_MESH_LIMIT: usize = 4;

#[function_component(MediaBar)]
pub fn media_bar() -> Html {
    let m = use_media();
    let button = |what: Capture, label: &'static str, on: bool| {
        let toggle = m.toggle.clone();
        html! {
            <button class={classes!("toggle", on.then_some("on"))} aria-pressed={on.to_string()}
                onclick={Callback::from(move |_| toggle.emit(what))}>{ label }</button>
        }
    };
    let picker = |kind: DeviceKind| {
        let options: Vec<_> = m.devices.iter().filter(|d| d.kind == kind).collect();
        if options.is_empty() {
            return html! {};
        }
        let select = m.select.clone();
        let on_change = Callback::from(move |e: Event| {
            let el: HtmlSelectElement = e.target_unchecked_into();
            select.emit((kind, el.value()));
        });
        let label = format!("{} device", kind.noun());
        html! {
            <select aria-label={label.clone()} title={label} onchange={on_change}>
                { for options.iter().map(|d| html! {
                    <option value={d.id.clone()} selected={kind == DeviceKind::Speaker && m.speaker.as_deref() == Some(d.id.as_str())}>
                        { &d.label }
                    </option>
                }) }
            </select>
        }
    };
    let sending_video = m.local.camera || m.tiles.iter().any(|t| t.peer.is_some() && t.has_video);
    html! {
        <div class="media-bar" role="toolbar" aria-label="Call">
            { button(Capture::Mic, "Microphone", m.local.mic) }
            { button(Capture::Camera, "Camera", m.local.camera) }
            { button(Capture::Screen, "Share screen", m.local.screen) }
            <span class="pickers">
                { picker(DeviceKind::Mic) }
                { picker(DeviceKind::Camera) }
                if can_pick_speaker() { { picker(DeviceKind::Speaker) } }
            </span>
            if let Some(err) = &m.error {
                <p class="error" role="alert">{ err }</p>
            }
            if sending_video && m.people > VIDEO_MESH_LIMIT {
                <p class="warning" role="status">
                    { format!("Video works best with up to {VIDEO_MESH_LIMIT} people: every camera is sent to everyone. Turn cameras off if the call stutters.") }
                </p>
            }
        </div>
    }
}

#[function_component(MediaGrid)]
pub fn media_grid() -> Html {
    let m = use_media();
    let pinned = use_state(|| None::<String>);
    if m.tiles.is_empty() {
        return html! {};
    }
    html! {
        <section class={classes!("media-grid", pinned.is_some().then_some("has-pinned"))} aria-label="Media">
            { for m.tiles.iter().map(|t| {
                let is_pinned = pinned.as_deref() == Some(t.key.as_str());
                let on_pin = {
                    let (pinned, key) = (pinned.clone(), t.key.clone());
                    Callback::from(move |_| pinned.set(if is_pinned { None } else { Some(key.clone()) }))
                };
                html! { <Tile key={t.key.clone()} spec={t.clone()} pinned={is_pinned} {on_pin} /> }
            }) }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct TileProps {
    spec: TileSpec,
    pinned: bool,
    on_pin: Callback<()>,
}

#[function_component(Tile)]
fn tile(props: &TileProps) -> Html {
    let m = use_media();
    let video = use_node_ref();
    let t = &props.spec;
    let local = t.peer.is_none();
    let blocked = use_tile_media(
        video.clone(),
        t.clone(),
        m.speaker.clone(),
        m.handle.clone(),
    );
    let on_volume = {
        let video = video.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let v = input.value_as_number();
            if let (Some(el), true) = (video.cast::<HtmlMediaElement>(), v.is_finite()) {
                el.set_volume((v / 100.0).clamp(0.0, 1.0));
            }
        })
    };
    let on_fullscreen = {
        let video = video.clone();
        Callback::from(move |_| {
            if let Some(el) = video.cast::<web_sys::Element>() {
                let _ = el.request_fullscreen();
            }
        })
    };
    let on_unmute = {
        let (video, blocked) = (video.clone(), blocked.clone());
        Callback::from(move |_| {
            if let Some(el) = video.cast::<HtmlMediaElement>() {
                el.set_muted(false);
                blocked.set(false);
                let _ = el.play();
            }
        })
    };
    let kind_word = match t.kind {
        StreamKind::Camera => "camera",
        StreamKind::Screen => "screen",
    };
    let label = format!("{} ({kind_word})", t.name);
    let on_pin = props.on_pin.reform(|_| ());
    html! {
        <figure class={classes!("tile", t.speaking.then_some("speaking"), props.pinned.then_some("pinned"),
                (t.kind == StreamKind::Screen).then_some("screen"))}
            role="group" aria-label={label}>
            <video ref={video} autoplay=true playsinline=true class={classes!((!t.has_video).then_some("no-video"))} />
            if !t.has_video {
                <div class="avatar" aria-hidden="true">{ initial(&t.name) }</div>
            }
            <figcaption>
                <span class="tile-name">{ &t.name }</span>
                if t.kind == StreamKind::Screen { <span class="badge">{ "Screen" }</span> }
                if t.speaking { <span class="badge speaking-badge">{ "speaking" }</span> }
            </figcaption>
            <div class="tile-controls">
                if !local {
                    <input type="range" min="0" max="100" value="100"
                        aria-label={format!("Volume for {}", t.name)} oninput={on_volume} />
                }
                if *blocked {
                    <button onclick={on_unmute}>{ "Unmute" }</button>
                }
                <button onclick={on_pin}>{ if props.pinned { "Unpin" } else { "Pin" } }</button>
                <button onclick={on_fullscreen}>{ "Full screen" }</button>
            </div>
        </figure>
    }
}

/// The name's first character; the stylesheet shows it upper-case.
fn initial(name: &str) -> String {
    name.chars().next().map(String::from).unwrap_or_default()
}
