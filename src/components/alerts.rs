//! Optional alerts for messages that arrive while the page is hidden: a short tone and a
//! desktop notification that names the sender but never shows the message. Both are off
//! until the user turns them on; the browser's notification permission is asked for only then.
//! Reached through reflection: web-sys would need a feature per interface for a few calls.

use crate::js::{await_promise, get};
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The tone: a short, quiet beep.
const TONE_HZ: f64 = 880.0;
const TONE_SECONDS: f64 = 0.12;
const TONE_GAIN: f64 = 0.05;

fn global(name: &str) -> JsValue {
    web_sys::window().map_or(JsValue::UNDEFINED, |w| get(&w, name))
}

fn call(obj: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, method).dyn_into()?;
    let list = js_sys::Array::new();
    for a in args {
        list.push(a);
    }
    f.apply(obj, &list)
}

/// Plays the tone (nothing when the browser has no Web Audio or refuses it).
pub fn beep() {
    let _ = (|| -> Result<(), JsValue> {
        let ctor: Function = global("AudioContext").dyn_into()?;
        let ctx = Reflect::construct(&ctor, &js_sys::Array::new())?;
        let osc = call(&ctx, "createOscillator", &[])?;
        let gain = call(&ctx, "createGain", &[])?;
        Reflect::set(&get(&osc, "frequency"), &"value".into(), &TONE_HZ.into())?;
        Reflect::set(&get(&gain, "gain"), &"value".into(), &TONE_GAIN.into())?;
        call(&osc, "connect", &[&gain])?;
        call(&gain, "connect", &[&get(&ctx, "destination")])?;
        let now = get(&ctx, "currentTime").as_f64().unwrap_or(0.0);
        call(&osc, "start", &[])?;
        call(&osc, "stop", &[&(now + TONE_SECONDS).into()])?;
        // The context closes once the tone is over.
        let close = wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = call(&ctx, "close", &[]);
        });
        Reflect::set(&osc, &"onended".into(), &close)?;
        Ok(())
    })();
}

/// Whether notifications may be shown now.
pub fn notifications_granted() -> bool {
    get(&global("Notification"), "permission")
        .as_string()
        .as_deref()
        == Some("granted")
}

/// Asks the browser for permission to notify; true when granted.
pub async fn ask_notifications() -> bool {
    let n = global("Notification");
    let Ok(p) = call(&n, "requestPermission", &[]) else {
        return false;
    };
    let Ok(p) = p.dyn_into::<js_sys::Promise>() else {
        return false;
    };
    matches!(
        await_promise(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .as_deref(),
        Some("granted")
    )
}

/// Shows "New message from `name`" (never the message itself: notifications outlive the tab).
pub fn notify(name: &str) {
    let _ = (|| -> Result<(), JsValue> {
        let ctor: Function = global("Notification").dyn_into()?;
        let opts = js_sys::Object::new();
        Reflect::set(
            &opts,
            &"body".into(),
            &format!("New message from {name}").into(),
        )?;
        // One notification per room tab, replaced rather than piled up.
        Reflect::set(&opts, &"tag".into(), &"hush-message".into())?;
        let args = js_sys::Array::of2(&"Hush".into(), &opts);
        Reflect::construct(&ctor, &args)?;
        Ok(())
    })();
}
