//! Files in the chat: the "Send files" control, drop and paste, and one card per offer with
//! its progress, verification and inline preview.

use crate::hooks::{use_files, FilesApi};
use crate::state::{FileKey, FileStatus, FileView, Inline, Progress, UploadState, UploadView};
use hush_core::stream::UNKNOWN_SIZE;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// `x / 10` with one decimal, from integers: float formatting would add tens of KB of code to
/// the wasm for three labels.
fn tenths(x10: u64) -> String {
    format!("{}.{}", x10 / 10, x10 % 10)
}

/// Bytes in a human unit (binary prefixes, as file managers show sizes).
pub fn size(bytes: u64) -> String {
    if bytes == UNKNOWN_SIZE {
        // A stream whose size is known only at its end (a pipe from the command line).
        return "size unknown".to_owned();
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scale = 1u64;
    while bytes / scale >= 1024 && unit + 1 < UNITS.len() {
        scale *= 1024;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        // Files are far below 2^60 bytes, so ×10 cannot overflow in practice; saturate anyway.
        let x10 = bytes.saturating_mul(10) / scale;
        format!("{} {}", tenths(x10), UNITS[unit])
    }
}

fn percent(p: &Progress, total: u64) -> u64 {
    // An empty file is all there as soon as it starts.
    (p.bytes.min(total) * 100).checked_div(total).unwrap_or(100)
}

/// "42% · 12.3 MB/s · 8 s left"
fn progress_text(p: &Progress, total: u64) -> String {
    if total == UNKNOWN_SIZE {
        let mut out = format!("{} so far", size(p.bytes));
        if let Some(rate) = p.bytes_per_sec.filter(|r| *r >= 1.0) {
            out.push_str(&format!(" · {} MB/s", tenths((rate / 1e5) as u64)));
        }
        return out;
    }
    let mut out = format!("{}%", percent(p, total));
    if let Some(rate) = p.bytes_per_sec.filter(|r| *r >= 1.0) {
        out.push_str(&format!(" · {} MB/s", tenths((rate / 1e5) as u64)));
        let left = (total.saturating_sub(p.bytes) as f64 / rate).ceil() as u64;
        out.push_str(&match left {
            0..=59 => format!(" · {left} s left"),
            60..=3599 => format!(" · {} min left", left.div_ceil(60)),
            _ => format!(" · {} h left", tenths(left / 360)),
        });
    }
    out
}

/// A progress bar's `max`: the size, or none for a stream of unknown size.
fn bar_max(total: u64) -> Option<AttrValue> {
    (total != UNKNOWN_SIZE).then(|| total.max(1).to_string().into())
}

/// A progress bar's `value`; none (an indeterminate bar) for a stream of unknown size.
fn bar_value(total: u64, bytes: u64) -> Option<AttrValue> {
    (total != UNKNOWN_SIZE).then(|| bytes.to_string().into())
}

/// Files picked, dropped or pasted, as a list.
fn file_list(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

#[derive(Properties, PartialEq)]
pub struct SendFilesProps {
    /// The "View once" choice, shared with the composer: it applies to files and messages.
    pub once: bool,
    pub on_once: Callback<bool>,
}

/// The "Send files" input and the "View once" choice for what is sent next.
#[function_component(SendFiles)]
pub fn send_files(props: &SendFilesProps) -> Html {
    let api = use_files();
    let on_change = {
        let (offer, once) = (api.offer.clone(), props.once);
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let files = file_list(input.files());
            if !files.is_empty() {
                offer.emit((files, once));
            }
            // The same file can be offered again.
            input.set_value("");
        })
    };
    let on_once = {
        let set = props.on_once.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            set.emit(input.checked());
        })
    };
    html! {
        <div class="send-files">
            <label class="button">
                { "Send files" }
                <input type="file" multiple=true class="visually-hidden" onchange={on_change} />
            </label>
            <label class="once">
                <input type="checkbox" checked={props.once} onchange={on_once} />
                { "View once" }
            </label>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct DropProps {
    pub children: Children,
}

/// Dropping files anywhere on the room, or pasting them, offers them (never view-once: that is
/// a deliberate choice made with the checkbox).
#[function_component(FileDrop)]
pub fn file_drop(props: &DropProps) -> Html {
    let api = use_files();
    let over = use_state(|| false);
    let on_drag_over = {
        let over = over.clone();
        Callback::from(move |e: DragEvent| {
            let has_files = e.data_transfer().is_some_and(|d| {
                d.types()
                    .iter()
                    .any(|t| t.as_string().as_deref() == Some("Files"))
            });
            if has_files {
                e.prevent_default();
                over.set(true);
            }
        })
    };
    let on_leave = {
        let over = over.clone();
        Callback::from(move |_: DragEvent| over.set(false))
    };
    let on_drop = {
        let (offer, over) = (api.offer.clone(), over.clone());
        Callback::from(move |e: DragEvent| {
            over.set(false);
            let files = file_list(e.data_transfer().and_then(|d| d.files()));
            if !files.is_empty() {
                e.prevent_default();
                offer.emit((files, false));
            }
        })
    };
    let on_paste = {
        let offer = api.offer.clone();
        Callback::from(move |e: Event| {
            let Some(e) = e.dyn_ref::<web_sys::ClipboardEvent>() else {
                return;
            };
            let files = file_list(e.clipboard_data().and_then(|d| d.files()));
            if !files.is_empty() {
                e.prevent_default();
                offer.emit((files, false));
            }
        })
    };
    let class = if *over { "drop over" } else { "drop" };
    html! {
        <div class={class} ondragover={on_drag_over} ondragleave={on_leave} ondrop={on_drop}
            onpaste={on_paste}>
            { props.children.clone() }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct CardProps {
    pub id: FileKey,
    pub file: FileView,
}

/// One offer in the log.
#[function_component(FileCard)]
pub fn file_card(props: &CardProps) -> Html {
    let api = use_files();
    let f = &props.file;
    let mine = props.id.owner.is_none();
    let type_label = if f.mime.is_empty() {
        "unknown type".to_owned()
    } else {
        f.mime.clone()
    };
    let from = if mine {
        "You".to_owned()
    } else {
        f.sender.clone()
    };
    let act = |cb: &Callback<FileKey>| {
        let (cb, key) = (cb.clone(), props.id.clone());
        Callback::from(move |_: MouseEvent| cb.emit(key.clone()))
    };
    let body = match &f.status {
        FileStatus::Sending => html! {
            <>
                <UploadList uploads={f.uploads.clone()} size={f.size} />
                <button onclick={act(&api.withdraw)}>{ "Withdraw" }</button>
            </>
        },
        FileStatus::Offered => html! {
            <button class="primary" onclick={act(&api.download)}>{ "Download" }</button>
        },
        FileStatus::Transferring => {
            let p = f.progress.unwrap_or(Progress {
                bytes: 0,
                bytes_per_sec: None,
            });
            html! {
                <>
                    <progress aria-label="Transfer progress" max={bar_max(f.size)}
                        value={bar_value(f.size, p.bytes)} />
                    <span class="status">{ progress_text(&p, f.size) }</span>
                    <button onclick={act(&api.cancel)}>{ "Cancel" }</button>
                </>
            }
        }
        FileStatus::Verified => html! {
            <>
                <span class="status ok">{ "✓ Verified" }</span>
                { preview(f, &props.id, &api) }
            </>
        },
        FileStatus::Failed(why) => html! {
            <>
                <span class="status bad" role="alert">{ format!("Failed: {why}") }</span>
                if f.withdrawn {
                    <span class="status">{ "No longer offered" }</span>
                } else {
                    <button onclick={act(&api.download)}>{ "Download" }</button>
                }
            </>
        },
        FileStatus::Cancelled => html! {
            <>
                <span class="status">{ "Cancelled" }</span>
                <button onclick={act(&api.download)}>{ "Download" }</button>
            </>
        },
        FileStatus::Withdrawn => html! { <span class="status">{ "No longer offered" }</span> },
        FileStatus::Viewed => html! { <span class="status">{ "Viewed; it is gone." }</span> },
    };
    html! {
        <article class="file" aria-label={format!("File {}", f.name)} data-state={f.status.as_str()}>
            <div class="file-head">
                <span class="file-name">{ &f.name }</span>
                <span class="file-meta">{ format!("{} · {} · from {}", size(f.size), type_label, from) }</span>
                if f.view_once {
                    <span class="badge">{ "View once" }</span>
                }
            </div>
            <div class="file-body">{ body }</div>
        </article>
    }
}

/// A verified file kept in memory: shown inline when its type allows, else a save link. A
/// view-once file has a "Close" that makes it gone.
fn preview(f: &FileView, key: &FileKey, api: &FilesApi) -> Html {
    let Some(url) = &f.url else {
        return html! { <span class="status">{ "Saved to your device." }</span> };
    };
    let shown = match f.inline {
        Inline::Image => html! { <img class="inline" src={url.clone()} alt={f.name.clone()} /> },
        Inline::Audio => html! { <audio class="inline" controls=true src={url.clone()} /> },
        Inline::Video => html! { <video class="inline" controls=true src={url.clone()} /> },
        Inline::None => html! {},
    };
    let close = {
        let (cb, key) = (api.close.clone(), key.clone());
        Callback::from(move |_: MouseEvent| cb.emit(key.clone()))
    };
    html! {
        <div class="preview">
            { shown }
            if !f.view_once || f.inline == Inline::None {
                <a class="button" href={url.clone()} download={f.name.clone()}>{ "Save" }</a>
            }
            if f.view_once {
                <button onclick={close}>{ "Close" }</button>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct UploadProps {
    uploads: Vec<(String, UploadView)>,
    size: u64,
}

/// Who is receiving our file, and how far along each is.
#[function_component(UploadList)]
fn upload_list(props: &UploadProps) -> Html {
    if props.uploads.is_empty() {
        return html! { <span class="status">{ "Offered to the room" }</span> };
    }
    html! {
        <ul class="transfers" aria-label="Transfers">
            { for props.uploads.iter().map(|(peer, u)| {
                let what = match &u.state {
                    UploadState::Sending => progress_text(&u.progress, props.size),
                    UploadState::Verified => "✓ Verified".to_owned(),
                    UploadState::Opened => "opened".to_owned(),
                    UploadState::Cancelled => "cancelled".to_owned(),
                    UploadState::Failed(why) => format!("failed: {why}"),
                };
                let bar = matches!(u.state, UploadState::Sending).then(|| html! {
                    <progress aria-label={format!("Progress to {}", u.peer_name)}
                        max={bar_max(props.size)}
                        value={bar_value(props.size, u.progress.bytes)} />
                });
                html! {
                    <li key={peer.clone()}>
                        { format!("{}: {what}", u.peer_name) }
                        { for bar }
                    </li>
                }
            }) }
        </ul>
    }
}
