//! The chat: the message log, who is typing, and the composer.

use super::alerts;
use super::files::{FileCard, SendFiles};
use super::markdown::Markdown;
use crate::hooks::{use_chat, use_room};
use crate::js::now_ms;
use crate::listener::Listener;
use crate::settings::{self, Alert};
use crate::state::{ChatLine, FileKey, FileStatus, FileView, RoomAction, MAX_MESSAGES};
use hush_core::room::{check_chat, timer_label, ChatError, TIMER_CHOICES_MS, VIEW_ONCE_SHOWN_MS};
use hush_core::wire::MAX_CHAT_BYTES;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

#[function_component(Chat)]
pub fn chat() -> Html {
    // "View once" applies to what is sent next, messages and files alike.
    let once = use_state(|| false);
    let on_once = {
        let once = once.clone();
        Callback::from(move |on: bool| once.set(on))
    };
    html! {
        <section class="chat">
            <MessageLog />
            <UnreadTitle />
            <TypingStatus />
            <Composer once={*once} />
            <SendFiles once={*once} {on_once} />
        </section>
    }
}

fn clock(ms: u64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// How close to the bottom (px) the log counts as "at the bottom".
const BOTTOM_SLACK_PX: i32 = 48;
/// Lines in the page while the log follows the newest: enough to fill a tall screen (a line is
/// at least 2.5rem). Every new line costs a layout of the lines in the page, and the log keeps
/// up to [`MAX_MESSAGES`]: with all of them in the page, each message took milliseconds more
/// to show as the log grew.
const LOG_WINDOW: usize = 50;
/// Earlier lines brought into the page at a time, as the reader scrolls up to them.
const LOG_PAGE: usize = 100;
/// How close to the top (px) scrolling brings earlier lines in.
const TOP_SLACK_PX: i32 = 200;

/// The first line (its `seq`) the page shows: the newest [`LOG_WINDOW`] while the reader
/// follows the log (`from: None`), or from a line the reader scrolled back to, kept in place
/// while new lines come in below.
fn first_shown(messages: &[Rc<ChatLine>], from: Option<u64>) -> usize {
    match from {
        None => messages.len().saturating_sub(LOG_WINDOW),
        Some(seq) => messages.partition_point(|m| m.seq < seq),
    }
}

/// Where the page's lines start once the reader is away from the bottom: in place, or
/// [`LOG_PAGE`] lines earlier when `earlier`.
fn reading_from(messages: &[Rc<ChatLine>], from: Option<u64>, earlier: bool) -> Option<u64> {
    let first = first_shown(messages, from);
    let first = if earlier {
        first.saturating_sub(LOG_PAGE)
    } else {
        first
    };
    messages.get(first).map(|m| m.seq).or(from)
}

/// Scrolls the log to its newest line; returns where that left it.
fn follow(el: &web_sys::Element) -> i32 {
    el.set_scroll_top(el.scroll_height());
    el.scroll_top()
}

/// The log's own scrolling, shared by its render, its scroll handler and the next frame.
struct Scroll {
    /// Whether the reader is at the bottom: only then does the log follow new lines;
    /// otherwise they wait behind a "New messages" button.
    at_bottom: bool,
    /// Where the log was last scrolled to. The reader leaves the bottom only by scrolling up:
    /// lines coming in below (a burst of them before the log follows at the next frame) or
    /// going away above leave the reader following. While following, the browser's scroll
    /// anchoring is off (class `following`): with it, lines going away above moved the view up.
    last_top: i32,
    /// A follow waits for the next frame: `Some(true)` when one of our own messages asked
    /// for it (those are followed even when reading back).
    pending: Option<bool>,
}

/// Follows the log at the next frame: its height is known only after a layout, and reading it
/// at every render forced one layout per render (a burst of messages renders many times a
/// frame); at the frame the browser lays the page out anyway. A reader who scrolled up in
/// between stays where they are, unless one of our own messages asked.
fn follow_soon(list: NodeRef, scroll: Rc<RefCell<Scroll>>, mine: bool) {
    {
        let mut s = scroll.borrow_mut();
        let was = s.pending;
        s.pending = Some(mine || was == Some(true));
        if was.is_some() {
            return;
        }
    }
    let run = move || {
        let mut s = scroll.borrow_mut();
        let mine = s.pending.take() == Some(true);
        if mine || s.at_bottom {
            if let Some(el) = list.cast::<web_sys::Element>() {
                s.last_top = follow(&el);
            }
        }
    };
    let run: js_sys::Function = wasm_bindgen::closure::Closure::once_into_js(run).unchecked_into();
    let asked = web_sys::window().map(|w| w.request_animation_frame(&run));
    if !matches!(asked, Some(Ok(_))) {
        // No frames to wait for: follow now rather than never.
        let _ = run.call0(&JsValue::NULL);
    }
}

#[function_component(MessageLog)]
fn message_log() -> Html {
    let room = use_room();
    let chat = use_chat();
    let messages = room.state.messages.clone();
    let files = &room.state.files;
    let list = use_node_ref();
    let scroll = use_mut_ref(|| Scroll {
        at_bottom: true,
        last_top: 0,
        pending: None,
    });
    let unseen = use_state(|| false);
    let from = use_state(|| None::<u64>);
    let first = first_shown(&messages, *from);
    // Files being sent or received, or done with, stay in the page wherever they are in the
    // log: their cards hold the progress, the outcome and the way to open or cancel.
    // (Listed once per render: a log of thousands of lines would otherwise look each of its
    // file lines up among every file shown.)
    let busy: Vec<&FileKey> = files
        .iter()
        .filter(|(_, f)| !matches!(f.status, FileStatus::Offered | FileStatus::Withdrawn))
        .map(|(k, _)| k)
        .collect();
    let kept = |m: &ChatLine| m.file.as_ref().is_some_and(|k| busy.contains(&k));
    let hidden = messages[..first].iter().filter(|m| !kept(m)).count();
    // The log keeps the newest MAX_MESSAGES lines; say so once older ones went.
    let dropped = first == 0 && room.state.lines_added > messages.len() as u64;
    {
        let (list, scroll, unseen) = (list.clone(), scroll.clone(), unseen.clone());
        let mine = messages.last().is_some_and(|m| m.from.is_none());
        use_effect_with(room.state.lines_added, move |_| {
            let at_bottom = scroll.borrow().at_bottom;
            if at_bottom || mine {
                follow_soon(list, scroll, mine);
            } else {
                unseen.set(true);
            }
        });
    }
    // Brings LOG_PAGE earlier lines into the page (the browser keeps the lines in view where
    // they are).
    let show_earlier = {
        let (messages, from) = (messages.clone(), from.clone());
        Callback::from(move |_: MouseEvent| from.set(reading_from(&messages, *from, true)))
    };
    let on_scroll = {
        let (list, scroll, unseen) = (list.clone(), scroll.clone(), unseen.clone());
        let (messages, from) = (messages.clone(), from.clone());
        Callback::from(move |_: Event| {
            let Some(el) = list.cast::<web_sys::Element>() else {
                return;
            };
            let top = el.scroll_top();
            let bottom = {
                let mut s = scroll.borrow_mut();
                let up = top < std::mem::replace(&mut s.last_top, top);
                s.at_bottom = (s.at_bottom && !up)
                    || el.scroll_height() - top - el.client_height() <= BOTTOM_SLACK_PX;
                s.at_bottom
            };
            if bottom && *unseen {
                unseen.set(false);
            }
            // At the bottom the page follows the newest lines alone; reading back, its lines
            // stay while new ones come in below, and earlier ones come in near the top.
            let want = if bottom {
                None
            } else {
                reading_from(&messages, *from, top <= TOP_SLACK_PX)
            };
            if *from != want {
                from.set(want);
            }
        })
    };
    let to_bottom = {
        let (list, unseen) = (list.clone(), unseen.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                scroll.borrow_mut().last_top = follow(&el);
            }
            unseen.set(false);
        })
    };
    html! {
        <div class="log-wrap">
            <ol class={classes!("messages", from.is_none().then_some("following"))} role="log" aria-label="Messages" aria-live="polite" ref={list} onscroll={on_scroll}>
                if dropped {
                    <li class="dropped">{ format!("Earlier messages were removed: only the last {MAX_MESSAGES} are kept") }</li>
                }
                if hidden > 0 {
                    <li class="earlier">
                        <button type="button" onclick={show_earlier}>{ format!("Show earlier messages ({hidden})") }</button>
                    </li>
                }
                // A fragment of its own: the lines are a fully keyed list only without the
                // unkeyed siblings around them, and an unkeyed list is matched from its end,
                // so appending one line would rebuild every line before it.
                <>{ for messages.iter().enumerate().filter(|(i, m)| *i >= first || kept(m)).map(|(_, m)| {
                    let file = m.file.as_ref().and_then(|k| files.get(k)).cloned();
                    html! { <MessageLine key={m.seq} line={m.clone()} {file} reveal={chat.reveal.clone()} /> }
                }) }</>
                if messages.is_empty() {
                    <li class="empty">{ "No messages yet. They exist only in the browsers of the people here." }</li>
                }
            </ol>
            if *unseen {
                <button type="button" class="new-messages primary" onclick={to_bottom}>{ "New messages" }</button>
            }
        </div>
    }
}

/// The tab's title counts messages from others that arrived while the page was hidden.
#[function_component(UnreadTitle)]
fn unread_title() -> Html {
    let room = use_room();
    let unread = use_mut_ref(|| 0u64);
    let seen_lines = use_mut_ref(|| room.state.lines_added);
    {
        let (unread, seen_lines) = (unread.clone(), seen_lines.clone());
        let messages = room.state.messages.clone();
        use_effect_with(room.state.lines_added, move |&added| {
            let from = *seen_lines.borrow();
            *seen_lines.borrow_mut() = added;
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                if doc.hidden() {
                    let new = messages
                        .iter()
                        .filter(|m| m.seq >= from && m.from.is_some())
                        .count() as u64;
                    if new > 0 {
                        *unread.borrow_mut() += new;
                        doc.set_title(&format!("({}) {TITLE}", unread.borrow()));
                        alert(&messages, from);
                    }
                }
            }
        });
    }
    use_effect_with((), move |()| {
        let doc = web_sys::window().and_then(|w| w.document());
        let listener = doc.map(|d| {
            let target: web_sys::EventTarget = d.clone().into();
            Listener::new(&target, "visibilitychange", move |_| {
                if !d.hidden() {
                    *unread.borrow_mut() = 0;
                    d.set_title(TITLE);
                }
            })
        });
        move || {
            drop(listener);
            if let Some(d) = web_sys::window().and_then(|w| w.document()) {
                d.set_title(TITLE);
            }
        }
    });
    html! {}
}

/// Sounds and notifications for messages from others at or after line `from`, as set.
fn alert(messages: &[Rc<ChatLine>], from: u64) {
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| m.seq >= from && m.from.is_some() && !m.announce)
    else {
        return;
    };
    if settings::alert_on(Alert::Sound) {
        alerts::beep();
    }
    if settings::alert_on(Alert::Notification) && alerts::notifications_granted() {
        alerts::notify(&last.name);
    }
}

/// The page's own title.
const TITLE: &str = "Hush";

#[derive(Properties, PartialEq)]
struct LineProps {
    line: Rc<ChatLine>,
    /// The file card this line shows, if it is a file offer.
    file: Option<FileView>,
    /// Reveals a view-once message (sender id, message id).
    reveal: Callback<(String, u64)>,
}

/// One line of the log. Keyed by its place in the log, with props compared by value: a new
/// message renders only itself, not the lines before it.
#[function_component(MessageLine)]
fn message_line(props: &LineProps) -> Html {
    let m = &props.line;
    // When a revealed view-once message vanishes (the engine removes it then).
    let revealed = use_state(|| None::<u64>);
    let mine = m.from.is_none();
    if m.announce {
        return html! {
            <li class="announce"><time>{ clock(m.at_ms) }</time>{ " " }{ &m.text }</li>
        };
    }
    let class = classes!(
        "msg",
        mine.then_some("mine"),
        m.private_with.is_some().then_some("private")
    );
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
    let private = m.private_with.as_ref().map(|with| {
        if mine {
            format!("privately to {with}")
        } else {
            "privately".to_owned()
        }
    });
    let covered = m.view_once && !mine && revealed.is_none();
    let on_reveal = {
        let (reveal, revealed, from, id) =
            (props.reveal.clone(), revealed.clone(), m.from.clone(), m.id);
        Callback::from(move |_: MouseEvent| {
            if let Some(from) = &from {
                reveal.emit((from.clone(), id));
                revealed.set(Some(now_ms().saturating_add(VIEW_ONCE_SHOWN_MS)));
            }
        })
    };
    let vanishes = m.expires_at_ms.or(*revealed);
    html! {
        <li class={class}>
            <span class="who">{ &m.name }</span>{ " " }
            if let Some(p) = private {
                <span class="private-tag">{ p }</span>{ " " }
            }
            if m.view_once {
                <span class="private-tag">{ "view once" }</span>{ " " }
            }
            <time>{ clock(m.at_ms) }</time>
            if let Some(until) = vanishes.filter(|_| !covered) {
                { " " }<Countdown {until} />
            }
            if covered {
                <p class="text covered">
                    { "A view-once message: it vanishes a few seconds after you open it. " }
                    <button type="button" onclick={on_reveal}>{ "Reveal" }</button>
                </p>
            } else {
                <div class="text"><Markdown text={m.text.clone()} /></div>
            }
            if mine && m.view_once {
                <p class="viewed">{
                    if m.viewed_by.is_empty() { "not viewed yet".to_owned() }
                    else { format!("viewed by {}", m.viewed_by.join(", ")) }
                }</p>
            }
        </li>
    }
}

#[derive(Properties, PartialEq)]
struct CountdownProps {
    /// When the line vanishes (page clock, ms).
    until: u64,
}

/// "vanishes in 0:42", updated every second.
#[function_component(Countdown)]
fn countdown(props: &CountdownProps) -> Html {
    let tick = use_state(|| 0u32);
    {
        let tick = tick.clone();
        use_effect_with((), move |()| {
            let t =
                gloo_timers::callback::Interval::new(1_000, move || tick.set(tick.wrapping_add(1)));
            move || drop(t)
        });
    }
    let left = props.until.saturating_sub(now_ms()).div_ceil(1_000);
    html! {
        <span class="vanish" title="This message vanishes from every screen">
            { format!("vanishes in {}:{:02}", left / 60, left % 60) }
        </span>
    }
}

/// The room's vanishing-message timer: anyone may change it, for everyone.
#[function_component(TimerSelect)]
fn timer_select() -> Html {
    let room = use_room();
    let chat = use_chat();
    let current = room.state.timer;
    let on_change = Callback::from(move |e: Event| {
        let el: web_sys::HtmlSelectElement = e.target_unchecked_into();
        chat.set_timer.emit(el.value().parse::<u64>().ok());
    });
    html! {
        <label class="timer">
            { "Self-destruct " }
            <select aria-label="Self-destruct" onchange={on_change}>
                <option value="off" selected={current.is_none()}>{ "Off" }</option>
                { for TIMER_CHOICES_MS.iter().map(|t| html! {
                    <option value={t.to_string()} selected={current == Some(*t)}>{ timer_label(Some(*t)) }</option>
                }) }
            </select>
        </label>
    }
}

/// "Bob is typing…" under the log (kept in place, empty, when nobody types).
#[function_component(TypingStatus)]
fn typing_status() -> Html {
    let room = use_room();
    let names: Vec<&str> = room
        .state
        .peers
        .iter()
        .filter(|p| p.typing)
        .map(|p| p.name.as_str())
        .collect();
    let text = match names.as_slice() {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        [a, b, c] => format!("{a}, {b} and {c} are typing…"),
        _ => "Several people are typing…".to_owned(),
    };
    html! { <p class="typing" role="status" aria-label="Typing">{ text }</p> }
}

#[derive(Properties, PartialEq)]
struct ComposerProps {
    /// Send as a view-once message (the "View once" checkbox beside the composer).
    once: bool,
}

/// Bytes left shown once a draft comes this close to the limit.
const COUNTER_FROM_BYTES: usize = MAX_CHAT_BYTES - 1024;

#[function_component(Composer)]
fn composer(props: &ComposerProps) -> Html {
    let room = use_room();
    let chat = use_chat();
    let to = room.state.private_to.clone();
    let to_name = to
        .as_ref()
        .and_then(|id| room.state.peers.iter().find(|p| p.id == *id))
        .map(|p| p.name.clone());
    let draft = use_state(String::new);
    // Why the draft was not sent (it stays in the box to be shortened or sent again).
    let refused = use_state(|| None::<String>);
    let submit = {
        let (draft, refused, send, to, once) = (
            draft.clone(),
            refused.clone(),
            chat.send.clone(),
            to.clone(),
            props.once,
        );
        move || match check_chat(&draft) {
            Ok(_) => match send.emit(((*draft).clone(), to.clone(), once)) {
                Ok(()) => {
                    draft.set(String::new());
                    refused.set(None);
                }
                Err(why) => refused.set(Some(why)),
            },
            Err(ChatError::Empty) => {}
            Err(e) => refused.set(Some(e.to_string())),
        }
    };
    let on_input = {
        let (draft, refused, typing, to) = (
            draft.clone(),
            refused.clone(),
            chat.typing.clone(),
            to.clone(),
        );
        Callback::from(move |e: InputEvent| {
            let el: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            let text = el.value();
            // The engine tells peers at most every few seconds, whatever the key rate.
            typing.emit((to.clone(), !text.trim().is_empty()));
            draft.set(text);
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
    let to_everyone = {
        let state = room.state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(RoomAction::PrivateTo(None)))
    };
    let placeholder = match &to_name {
        Some(n) => format!("Write to {n} privately…"),
        None => "Write a message…".to_owned(),
    };
    html! {
        <form class="composer" onsubmit={on_submit}>
            if let Some(name) = &to_name {
                <p class="private-to">
                    { "Private to " }<strong>{ name }</strong>{ " " }
                    <button type="button" class="link" onclick={to_everyone}>{ "Write to everyone" }</button>
                </p>
            }
            <textarea aria-label="Message" rows="1" placeholder={placeholder}
                value={(*draft).clone()} oninput={on_input} onkeydown={on_key} />
            <button type="submit" class="primary">{ "Send" }</button>
            <div class="composer-options">
                if draft.len() >= COUNTER_FROM_BYTES {
                    <span class={classes!("counter", (draft.len() > MAX_CHAT_BYTES).then_some("over"))}
                        role="status">
                        { format!("{} bytes left", MAX_CHAT_BYTES as i64 - draft.len() as i64) }
                    </span>
                }
                <TimerSelect />
            </div>
            if let Some(why) = &*refused {
                <p class="composer-error" role="alert">{ why }</p>
            }
        </form>
    }
}
