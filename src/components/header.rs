//! The room's header: its name, sharing, and the leave button.

use crate::components::admission::{DoorBanner, LockButton};
use crate::components::share::ShareButtons;
use crate::components::strength::StrengthNote;
use crate::hooks::use_room;
use crate::settings;
use crate::state::Phase;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct HeaderProps {
    /// Whether the sidebar drawer is open (narrow screens).
    pub drawer_open: bool,
    pub on_drawer: Callback<()>,
}

#[function_component(RoomHeader)]
pub fn room_header(props: &HeaderProps) -> Html {
    let room = use_room();
    let theme = use_state(settings::theme);
    let on_theme = {
        let theme = theme.clone();
        Callback::from(move |e: Event| {
            let el: web_sys::HtmlSelectElement = e.target_unchecked_into();
            let picked = settings::Theme::ALL
                .into_iter()
                .find(|t| t.key() == el.value())
                .unwrap_or(settings::Theme::System);
            settings::set_theme(picked);
            theme.set(picked);
        })
    };
    let on_drawer = {
        let f = props.on_drawer.clone();
        Callback::from(move |_: MouseEvent| f.emit(()))
    };
    let people = room.state.peers.len();
    let on_leave = {
        let leave = room.leave.clone();
        Callback::from(move |_| leave.emit(()))
    };
    let status = match &room.state.phase {
        Phase::Starting => html! { <span class="status">{ "Deriving the room key…" }</span> },
        Phase::Ready => html! {},
        Phase::Failed(why) => html! { <p class="error" role="alert">{ why }</p> },
    };
    html! {
        <header class="room-header">
            <button class="drawer-toggle" aria-expanded={props.drawer_open.to_string()} onclick={on_drawer}>
                { format!("People ({people})") }
            </button>
            <div class="room-title">
                <h1>{ "Hush" }</h1>
                <code class="room-name" title="Room name">{ &*room.room_name }</code>
                { status }
            </div>
            <div class="actions">
                <ShareButtons room_name={room.room_name.clone()} />
                <LockButton />
                <select class="theme" aria-label="Theme" title="Theme" onchange={on_theme}>
                    { for settings::Theme::ALL.into_iter().map(|t| html! {
                        <option value={t.key()} selected={*theme == t}>{ t.label() }</option>
                    }) }
                </select>
                <button class="danger" onclick={on_leave}>{ "Leave room" }</button>
            </div>
            <StrengthNote name={room.room_name.to_string()} />
            <DoorBanner />
        </header>
    }
}
