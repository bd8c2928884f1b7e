//! How guessable a room name is, said plainly.

use hush_core::room_name::{strength, Strength};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StrengthProps {
    pub name: String,
}

#[function_component(StrengthNote)]
pub fn strength_note(props: &StrengthProps) -> Html {
    match strength(&props.name) {
        Strength::Strong { bits } => html! {
            <p class="strength strong">{ format!("Strong room name ({bits} bits): it cannot be guessed.") }</p>
        },
        Strength::Random => html! {
            <p class="strength strong">{ "Long random room name: hard to guess." }</p>
        },
        Strength::Weak => html! {
            <p class="strength weak" role="status">
                { "Weak room name: anyone who guesses it can join and read everything. Use “Create room” for an unguessable one." }
            </p>
        },
    }
}
