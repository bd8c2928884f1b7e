//! The room page: layout only; behaviour lives in the provider and hooks.

use crate::components::{
    chat::Chat,
    files::FileDrop,
    header::RoomHeader,
    media::{MediaBar, MediaGrid},
    peers::Sidebar,
};
use crate::hooks::RoomProvider;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct RoomProps {
    pub name: String,
}

#[function_component(RoomPage)]
pub fn room_page(props: &RoomProps) -> Html {
    html! {
        <RoomProvider room_name={props.name.clone()}>
            <FileDrop>
                <div class="room">
                    <RoomHeader />
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
