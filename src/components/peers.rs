//! The sidebar: your name, the peers, the trackers and recent notices.

use super::alerts;
use crate::hooks::{use_chat, use_room};
use crate::settings::{self, Alert};
use crate::state::{Path, RoomAction};
use yew::prelude::*;

#[function_component(Sidebar)]
pub fn sidebar() -> Html {
    html! {
        <aside class="sidebar">
            <NameField />
            <KeepIdentity />
            <ShareTyping />
            <AlertSetting alert={Alert::Sound} label="Sound for new messages" />
            <AlertSetting alert={Alert::Notification} label="Desktop notifications" />
            <PeerList />
            <Notices />
            <Trackers />
        </aside>
    }
}

/// "Your name": edited as a local draft (so re-renders from room events never undo typing),
/// applied when it loses focus or on Enter.
#[function_component(NameField)]
fn name_field() -> Html {
    let room = use_room();
    let draft = use_state(|| room.my_name.to_string());
    let on_input = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            draft.set(input.value());
        })
    };
    let commit = {
        let (set, draft) = (room.set_my_name.clone(), draft.clone());
        move || set.emit((*draft).clone())
    };
    let on_change = {
        let commit = commit.clone();
        Callback::from(move |_: Event| commit())
    };
    let on_key = Callback::from(move |e: KeyboardEvent| {
        if e.key() == "Enter" {
            commit();
        }
    });
    html! {
        <div class="field">
            <label for="my-name">{ "Your name" }</label>
            <input id="my-name" type="text" maxlength="40" autocomplete="nickname"
                value={(*draft).clone()} oninput={on_input} onchange={on_change} onkeydown={on_key} />
            if !room.state.my_fingerprint.is_empty() {
                <p class="hint">{ "Your fingerprint: " }<span class="fingerprint" aria-label="Your fingerprint">{ &room.state.my_fingerprint }</span></p>
            }
        </div>
    }
}

/// "Keep this device's identity": off unless turned on. On, this browser keeps the identity
/// key and the keys of the devices verified from it, so they know each other in any room.
#[function_component(KeepIdentity)]
fn keep_identity() -> Html {
    let room = use_room();
    let on = use_state(|| settings::kept_identity().is_some());
    let on_change = {
        let (on, handle) = (on.clone(), room.handle.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            on.set(input.checked());
            if let Some(h) = &handle {
                h.keep_identity(input.checked());
            }
        })
    };
    html! {
        <>
            <label class="check">
                <input type="checkbox" checked={*on} onchange={on_change} />
                { " Keep this device's identity" }
            </label>
            <p class="hint">
                { if *on {
                    "Kept in this browser's storage: your identity key and the keys of devices you \
                     verify (readable by anyone who can use this browser profile). Devices verified \
                     once are recognised in any room. Untick to forget them all."
                } else {
                    "Off: a fresh identity every time you join; nothing about it is stored."
                } }
            </p>
        </>
    }
}

/// "Show others when I'm typing": on unless turned off, remembered on this device.
#[function_component(ShareTyping)]
fn share_typing() -> Html {
    let chat = use_chat();
    let on = use_state(crate::settings::share_typing);
    let on_change = {
        let on = on.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            on.set(input.checked());
            chat.share_typing.emit(input.checked());
        })
    };
    html! {
        <label class="check">
            <input type="checkbox" checked={*on} onchange={on_change} />
            { " Show others when I'm typing" }
        </label>
    }
}

#[derive(Properties, PartialEq)]
struct AlertProps {
    alert: Alert,
    label: &'static str,
}

/// One alert for messages that arrive while the page is hidden: off until turned on; turning
/// notifications on asks the browser's permission then, and only then.
#[function_component(AlertSetting)]
fn alert_setting(props: &AlertProps) -> Html {
    let alert = props.alert;
    let on = use_state(|| settings::alert_on(alert));
    let refused = use_state(|| false);
    let on_change = {
        let (on, refused) = (on.clone(), refused.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let want = input.checked();
            refused.set(false);
            if want && alert == Alert::Notification && !alerts::notifications_granted() {
                let (on, refused) = (on.clone(), refused.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let granted = alerts::ask_notifications().await;
                    settings::save_alert(alert, granted);
                    on.set(granted);
                    refused.set(!granted);
                });
                return;
            }
            settings::save_alert(alert, want);
            on.set(want);
        })
    };
    html! {
        <>
            <label class="check">
                <input type="checkbox" checked={*on} onchange={on_change} />
                { " " }{ props.label }
            </label>
            if *refused {
                <p class="hint" role="alert">{ "Notifications are blocked in this browser's settings for this site." }</p>
            }
        </>
    }
}

#[function_component(PeerList)]
fn peer_list() -> Html {
    let room = use_room();
    let peers = &room.state.peers;
    let private_to = |id: String| {
        let state = room.state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(RoomAction::PrivateTo(Some(id.clone()))))
    };
    let forget = |id: String| {
        let handle = room.handle.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.forget_device(id.clone());
            }
        })
    };
    let verify = |id: String| {
        let handle = room.handle.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.verify(id.clone());
            }
        })
    };
    html! {
        <section class="peers">
            <h2>{ format!("Peers ({})", peers.len()) }</h2>
            <ul aria-label="Peers">
                { for peers.iter().map(|p| {
                    let (label, class) = match p.path {
                        Path::Direct => ("direct", "path direct"),
                        Path::Relayed => ("relayed", "path relayed"),
                        Path::Unknown => ("checking…", "path"),
                    };
                    html! {
                        <li key={p.id.clone()} class={classes!(p.speaking.then_some("speaking"))}>
                            <span class="peer-name">{ &p.name }</span>
                            <span class="fingerprint" title="Identity key fingerprint">{ &p.fingerprint }</span>
                            if p.verified {
                                <span class="badge verified" title="Verified by comparing codes">{ "verified" }</span>
                            }
                            if let Some(d) = &p.device {
                                <span class="device">{ format!("your device “{d}”") }</span>
                                <button type="button" class="link" onclick={forget(p.id.clone())}>{ "Forget this device" }</button>
                            }
                            <span class="peer-media">
                                <span class={classes!("flag", p.media.mic.then_some("on"))}>{ if p.media.mic { "mic on" } else { "mic off" } }</span>
                                <span class={classes!("flag", p.media.camera.then_some("on"))}>{ if p.media.camera { "camera on" } else { "camera off" } }</span>
                            </span>
                            <span class={class}>{ label }</span>
                            <button type="button" class="link" onclick={private_to(p.id.clone())}>{ "Message privately" }</button>
                            if !p.verified && !p.fingerprint.is_empty() {
                                <button type="button" class="link" onclick={verify(p.id.clone())}>{ "Verify" }</button>
                            }
                        </li>
                    }
                }) }
            </ul>
            if peers.is_empty() {
                <p class="hint">{ "Waiting for others. Share the link: anyone with it can join." }</p>
            }
        </section>
    }
}

#[function_component(Notices)]
fn notices() -> Html {
    let room = use_room();
    let s = &room.state;
    if s.notices.is_empty() && s.bad_frames == 0 {
        return html! {};
    }
    html! {
        <section class="notices" aria-label="Notices">
            { for s.notices.iter().map(|n| html! { <p>{ n }</p> }) }
            if s.bad_frames > 0 {
                <p>{ format!("{} malformed message(s) dropped", s.bad_frames) }</p>
            }
        </section>
    }
}

#[function_component(Trackers)]
fn trackers() -> Html {
    let room = use_room();
    html! {
        <section class="trackers">
            <h2>{ "Trackers" }</h2>
            <ul aria-label="Trackers">
                { for room.state.trackers.iter().map(|t| html! {
                    <li class={if t.ok { "ok" } else { "down" }}>
                        <span class="url">{ &t.url }</span>
                        <span class="status">{ &t.status }</span>
                    </li>
                }) }
            </ul>
        </section>
    }
}
