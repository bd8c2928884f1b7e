//! The chat: the message log and the composer.

use super::files::{FileCard, SendFiles};
use crate::hooks::{use_chat, use_room};
use crate::state::{ChatLine, FileView};
use hush_core::room::{check_chat, ChatError};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use yew::prelude::*;

#[function_component(Chat)]
pub fn chat() -> Html {
    html! {
        <section class="chat">
            <MessageLog />
            <Composer />
            <SendFiles />
        </section>
    }
}

fn clock(ms: u64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

#[function_component(MessageLog)]
fn message_log() -> Html {
    let (messages, _) = use_chat();
    let room = use_room();
    let files = &room.state.files;
    let list = use_node_ref();
    {
        // Follow new messages to the bottom.
        let list = list.clone();
        use_effect_with(messages.len(), move |_| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
    html! {
        <ol class="messages" role="log" aria-label="Messages" aria-live="polite" ref={list}>
            { for messages.iter().map(|m| {
                let file = m.file.as_ref().and_then(|k| files.get(k)).cloned();
                html! { <MessageLine key={m.seq} line={m.clone()} {file} /> }
            }) }
            if messages.is_empty() {
                <li class="empty">{ "No messages yet. They exist only in the browsers of the people here." }</li>
            }
        </ol>
    }
}

#[derive(Properties, PartialEq)]
struct LineProps {
    line: Rc<ChatLine>,
    /// The file card this line shows, if it is a file offer.
    file: Option<FileView>,
}

/// One line of the log. Keyed by its place in the log, with props compared by value: a new
/// message renders only itself, not the lines before it.
#[function_component(MessageLine)]
fn message_line(props: &LineProps) -> Html {
    let m = &props.line;
    let class = if m.from.is_none() { "msg mine" } else { "msg" };
    if let Some(key) = &m.file {
        let Some(file) = &props.file else {
            return html! {};
        };
        return html! {
            <li class={classes!(class, "file-line")}>
                <span class="who">{ &m.name }</span>{ " " }
                <time>{ clock(m.at_ms) }</time>
                <FileCard id={key.clone()} file={file.clone()} />
            </li>
        };
    }
    html! {
        <li class={class}>
            <span class="who">{ &m.name }</span>{ " " }
            <time>{ clock(m.at_ms) }</time>
            <p class="text">{ &m.text }</p>
        </li>
    }
}

#[function_component(Composer)]
fn composer() -> Html {
    let (_, send) = use_chat();
    let draft = use_state(String::new);
    // Why the draft was not sent (it stays in the box to be shortened).
    let refused = use_state(|| None::<String>);
    let submit = {
        let (draft, send, refused) = (draft.clone(), send.clone(), refused.clone());
        move || match check_chat(&draft) {
            Ok(_) => {
                send.emit((*draft).clone());
                draft.set(String::new());
                refused.set(None);
            }
            Err(ChatError::Empty) => {}
            Err(e) => refused.set(Some(e.to_string())),
        }
    };
    let on_input = {
        let (draft, refused) = (draft.clone(), refused.clone());
        Callback::from(move |e: InputEvent| {
            let el: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            draft.set(el.value());
            if refused.is_some() {
                refused.set(None);
            }
        })
    };
    let on_key = {
        let submit = submit.clone();
        Callback::from(move |e: KeyboardEvent| {
            // Enter sends; Shift+Enter makes a new line; never while an IME is composing.
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                submit();
            }
        })
    };
    let on_submit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        submit();
    });
    html! {
        <form class="composer" onsubmit={on_submit}>
            <textarea aria-label="Message" rows="1" placeholder="Write a message…"
                value={(*draft).clone()} oninput={on_input} onkeydown={on_key} />
            <button type="submit" class="primary">{ "Send" }</button>
            if let Some(why) = &*refused {
                <p class="composer-error" role="alert">{ why }</p>
            }
        </form>
    }
}
