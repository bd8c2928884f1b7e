//! The room page: layout only; behaviour lives in the provider and hooks.

use crate::components::{
    admission::JoinRequestDialog,
    chat::Chat,
    files::FileDrop,
    header::RoomHeader,
    media::{MediaBar, MediaGrid},
    peers::Sidebar,
    verify::VerifyDialog,
    wakelock::WakeLock,
};
use crate::hooks::RoomProvider;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct RoomProps {
    pub name: String,
}

#[function_component(RoomPage)]
pub fn room_page(props: &RoomProps) -> Html {
    // On a narrow screen the sidebar is a drawer.
    let drawer = use_state(|| false);
    let toggle = {
        let drawer = drawer.clone();
        Callback::from(move |()| drawer.set(!*drawer))
    };
    let close = {
        let drawer = drawer.clone();
        Callback::from(move |_: MouseEvent| drawer.set(false))
    };
    html! {
        <RoomProvider room_name={props.name.clone()}>
            <FileDrop>
                <div class={classes!("room", drawer.then_some("drawer-open"))}>
                    <RoomHeader drawer_open={*drawer} on_drawer={toggle} />
                    <WakeLock />
                    <VerifyDialog />
                    <JoinRequestDialog />
                    if *drawer {
                        <div class="drawer-backdrop" onclick={close}></div>
                    }
                    <MediaBar />
                    <div class="room-body">
                        <Sidebar />
                        <div class="stage">
                            <MediaGrid />
                            <Chat />
                        </div>
                    </div>
                </div>
            </FileDrop>
        </RoomProvider>
    }
}
