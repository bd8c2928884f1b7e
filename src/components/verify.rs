//! The verification dialog: the codes to compare with a peer, the two answers, and a loud
//! warning with the offer to disconnect when they do not match.

use crate::hooks::use_room;
use crate::state::{RoomAction, VerifyStage, VerifyView};
use yew::prelude::*;

#[function_component(VerifyDialog)]
pub fn verify_dialog() -> Html {
    let room = use_room();
    let Some(v) = room.state.verify.clone() else {
        return html! {};
    };
    let state = room.state.clone();
    let handle = room.handle.clone();
    let answer = |matched: bool| {
        let (state, handle, v) = (state.clone(), handle.clone(), v.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.confirm_sas(v.peer.clone(), matched);
            }
            if let (true, VerifyStage::Codes { emoji, number, .. }) = (matched, &v.stage) {
                state.dispatch(RoomAction::Verify(Some(VerifyView {
                    stage: VerifyStage::Codes {
                        emoji: emoji.clone(),
                        number: number.clone(),
                        answered: true,
                    },
                    ..v.clone()
                })));
            }
        })
    };
    let close = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(RoomAction::Verify(None)))
    };
    let disconnect = {
        let (handle, peer, state) = (handle.clone(), v.peer.clone(), state.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(h) = &handle {
                h.disconnect(peer.clone());
            }
            state.dispatch(RoomAction::Verify(None));
        })
    };
    let title = format!("Verify {}", v.name);
    let body = match &v.stage {
        VerifyStage::Waiting => html! {
            <>
                <p>{ format!("Waiting for {} to answer…", v.name) }</p>
                <button onclick={answer(false)}>{ "Cancel" }</button>
            </>
        },
        VerifyStage::Codes {
            emoji,
            number,
            answered,
        } => html! {
            <>
                <p>{ format!("Check that {} sees the same emoji and number, in the same order: \
                    compare them in person or on a call you trust.", v.name) }</p>
                <div class="sas-emoji" role="group" aria-label="Security emoji">
                    { for emoji.iter().map(|(e, word)| html! {
                        <span class="sas" role="img" aria-label={*word}>
                            <span class="sas-glyph" aria-hidden="true">{ *e }</span>
                            <span class="sas-word" aria-hidden="true">{ *word }</span>
                        </span>
                    }) }
                </div>
                <p class="sas-number" aria-label="Security number">{ number }</p>
                if *answered {
                    <p role="status">{ format!("Waiting for {} to confirm…", v.name) }</p>
                } else {
                    <div class="actions">
                        <button class="primary" onclick={answer(true)}>{ "They match" }</button>
                        <button class="danger" onclick={answer(false)}>{ "They don't match" }</button>
                    </div>
                }
            </>
        },
        VerifyStage::Failed(reason) => html! {
            <>
                <p class="error" role="alert">
                    <strong>{ "Verification failed: " }</strong>{ reason }{ ". " }
                    { format!("Someone may be between you and {}. Do not trust this connection \
                        with anything sensitive.", v.name) }
                </p>
                <div class="actions">
                    <button class="danger" onclick={disconnect}>{ "Disconnect" }</button>
                    <button onclick={close}>{ "Close" }</button>
                </div>
            </>
        },
    };
    html! {
        <div class="modal" role="dialog" aria-modal="true" aria-label={title.clone()}>
            <div class="card verify">
                <h2>{ title }</h2>
                { body }
            </div>
        </div>
    }
}
