//! Thin, fallible wrappers over browser APIs used by the driver: time, randomness, promises,
//! timers. JS errors are converted once, here, into [`JsError`], and propagated with `?`.

use std::fmt;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A browser API call failed; carries the browser's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsError(pub String);

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<JsValue> for JsError {
    fn from(v: JsValue) -> Self {
        if let Some(e) = v.dyn_ref::<js_sys::Error>() {
            return JsError(String::from(e.message()));
        }
        JsError(v.as_string().unwrap_or_else(|| format!("{v:?}")))
    }
}

/// Awaits a JS promise, mapping rejection into [`JsError`].
pub async fn await_promise(p: js_sys::Promise) -> Result<JsValue, JsError> {
    JsFuture::from(p).await.map_err(JsError::from)
}

/// Wall-clock milliseconds since the epoch (for message timestamps and protocol timeouts).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Fresh random bytes from the browser's CSPRNG. `getrandom` with the `wasm_js` backend calls
/// `crypto.getRandomValues`; it fails only where no CSPRNG exists, which the app cannot work
/// without, so the caller sees an error instead of weak randomness.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], JsError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| JsError(format!("no secure random source: {e}")))?;
    Ok(b)
}

/// Sleeps without blocking the page.
pub async fn sleep_ms(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Reads a property, `undefined` when absent.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Reads a string property.
pub fn get_str(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

/// `s` in Unicode Normalization Form C, by the browser's own tables (none in the wasm): the
/// same room name typed on two systems, composed or decomposed, derives the same key.
pub fn nfc(s: &str) -> String {
    String::from(js_sys::JsString::from(s).normalize("NFC"))
}
