//! Sharing a room: "Copy link", the system share sheet where the browser has one, and a QR
//! code of the link for a phone across the table.

use crate::js::get;
use crate::route;
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

/// Quiet zone around the code, in modules (the QR standard asks for four).
const QUIET_MODULES: usize = 4;

/// Puts `text` on the clipboard. Uses `navigator.clipboard` through reflection because
/// web-sys gates the Clipboard API behind an unstable flag.
pub fn copy_to_clipboard(text: &str) -> bool {
    let Some(nav) = web_sys::window().map(|w| w.navigator()) else {
        return false;
    };
    let clip = get(&nav, "clipboard");
    let Ok(write) = get(&clip, "writeText").dyn_into::<js_sys::Function>() else {
        return false;
    };
    write.call1(&clip, &JsValue::from_str(text)).is_ok()
}

/// `navigator.share`, where the browser has a share sheet.
fn share_function() -> Option<(web_sys::Navigator, js_sys::Function)> {
    let nav = web_sys::window()?.navigator();
    let f = get(&nav, "share").dyn_into::<js_sys::Function>().ok()?;
    Some((nav, f))
}

/// The SVG path of a QR code's dark modules, one unit per module, offset by the quiet zone.
fn qr_path(text: &str) -> Option<(usize, String)> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + QUIET_MODULES, i / width + QUIET_MODULES);
            d.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Some((width + 2 * QUIET_MODULES, d))
}

#[derive(Properties, PartialEq)]
pub struct ShareProps {
    pub room_name: std::rc::Rc<str>,
}

#[function_component(ShareButtons)]
pub fn share_buttons(props: &ShareProps) -> Html {
    let copied = use_state(|| false);
    let qr_open = use_state(|| false);
    let link = route::room_link(&props.room_name);
    let on_copy = {
        let (copied, link) = (copied.clone(), link.clone());
        Callback::from(move |_| copied.set(copy_to_clipboard(&link)))
    };
    let share = share_function().map(|(nav, f)| {
        let link = link.clone();
        Callback::from(move |_: MouseEvent| {
            let data = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&data, &"title".into(), &"Hush room".into());
            let _ = js_sys::Reflect::set(&data, &"url".into(), &link.as_str().into());
            // The promise rejects when the user closes the sheet: nothing to do then.
            if let Ok(p) = f.call1(&nav, &data) {
                if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                    wasm_bindgen_futures::spawn_local(async move {
                        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                    });
                }
            }
        })
    });
    let toggle_qr = {
        let qr_open = qr_open.clone();
        Callback::from(move |_: MouseEvent| qr_open.set(!*qr_open))
    };
    html! {
        <>
            <button onclick={on_copy}>{ "Copy link" }</button>
            if let Some(on_share) = share {
                <button onclick={on_share}>{ "Share" }</button>
            }
            <button onclick={toggle_qr.clone()}>{ "QR code" }</button>
            if *copied { <span class="copied" role="status">{ "Link copied" }</span> }
            if *qr_open {
                <QrDialog {link} on_close={toggle_qr} />
            }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct QrProps {
    link: String,
    on_close: Callback<MouseEvent>,
}

#[function_component(QrDialog)]
fn qr_dialog(props: &QrProps) -> Html {
    let drawn = use_memo(props.link.clone(), |link| qr_path(link));
    html! {
        <div class="modal" role="dialog" aria-modal="true" aria-label="Room link QR code">
            <div class="card qr">
                if let Some((size, d)) = &*drawn {
                    <svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="QR code of the room link"
                        viewBox={format!("0 0 {size} {size}")}
                        shape-rendering="crispEdges">
                        <rect width={size.to_string()} height={size.to_string()} fill="#fff" />
                        <path d={d.clone()} fill="#000" />
                    </svg>
                } else {
                    <p class="error">{ "This link is too long for a QR code." }</p>
                }
                <p class="hint">{ "Scan it with a phone's camera to open the room there. Anyone who sees it can join." }</p>
                <button class="primary" onclick={props.on_close.clone()}>{ "Close" }</button>
            </div>
        </div>
    }
}
