//! Local capture: microphone, camera and screen, the device lists, and errors in words a
//! person understands. The tracks themselves are owned by the driver.

use crate::js::{await_promise, get, get_str};
use crate::state::{DeviceKind, DeviceView};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    DisplayMediaStreamConstraints, MediaDevices, MediaStream, MediaStreamConstraints,
    MediaStreamTrack,
};

/// Camera resolution asked for: 640×360 keeps a full mesh of several peers within what a
/// laptop can encode once per peer (see the mesh benchmark).
pub const CAMERA_WIDTH: u32 = 640;
pub const CAMERA_HEIGHT: u32 = 360;

/// Which capture a command or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    Mic,
    Camera,
    Screen,
}

impl Capture {
    fn noun(self) -> &'static str {
        match self {
            Capture::Mic => "microphone",
            Capture::Camera => "camera",
            Capture::Screen => "screen",
        }
    }
}

fn devices() -> Result<MediaDevices, String> {
    web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or_else(|| {
            "This browser cannot capture media (it needs a secure page: https or localhost)"
                .to_owned()
        })
}

/// Turns a getUserMedia / getDisplayMedia rejection into a sentence.
pub fn describe(what: Capture, err: &JsValue) -> String {
    let name = get_str(err, "name").unwrap_or_default();
    let noun = what.noun();
    match (what, name.as_str()) {
        (Capture::Screen, "NotAllowedError" | "AbortError") => {
            "Screen sharing was cancelled".to_owned()
        }
        (_, "NotAllowedError" | "SecurityError") => format!(
            "Permission to use the {noun} was denied. Allow it in the browser's site settings and try again."
        ),
        (_, "NotFoundError" | "OverconstrainedError") => format!("No {noun} was found"),
        (_, "NotReadableError" | "AbortError") => format!(
            "The {noun} is in use by another application, or the system blocked it"
        ),
        _ => {
            let msg = get_str(err, "message").unwrap_or_else(|| "unknown error".into());
            format!("Could not start the {noun}: {msg}")
        }
    }
}

fn constraint(device: Option<&str>, extra: &[(&str, JsValue)]) -> JsValue {
    let obj = js_sys::Object::new();
    if let Some(id) = device {
        let exact = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&exact, &"exact".into(), &id.into());
        let _ = js_sys::Reflect::set(&obj, &"deviceId".into(), &exact);
    }
    for (k, v) in extra {
        let _ = js_sys::Reflect::set(&obj, &(*k).into(), v);
    }
    obj.into()
}

/// Opens the microphone or the camera (optionally a given device) and returns its track.
pub async fn capture(what: Capture, device: Option<String>) -> Result<MediaStreamTrack, String> {
    let md = devices()?;
    let c = MediaStreamConstraints::new();
    match what {
        Capture::Mic => c.set_audio(&constraint(
            device.as_deref(),
            &[
                ("echoCancellation", true.into()),
                ("noiseSuppression", true.into()),
            ],
        )),
        Capture::Camera => c.set_video(&constraint(
            device.as_deref(),
            &[
                ("width", CAMERA_WIDTH.into()),
                ("height", CAMERA_HEIGHT.into()),
            ],
        )),
        Capture::Screen => return Err("use capture_screen".into()),
    }
    let promise = md
        .get_user_media_with_constraints(&c)
        .map_err(|e| describe(what, &e))?;
    let stream: MediaStream = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| describe(what, &e))?
        .unchecked_into();
    stream
        .get_tracks()
        .get(0)
        .dyn_into::<MediaStreamTrack>()
        .map_err(|_| format!("No {} track was delivered", what.noun()))
}

/// Asks the user for a screen, window or tab to share (with its audio when offered).
pub async fn capture_screen() -> Result<MediaStream, String> {
    let md = devices()?;
    let c = DisplayMediaStreamConstraints::new();
    c.set_video(&JsValue::TRUE);
    c.set_audio(&JsValue::TRUE);
    let promise = md
        .get_display_media_with_constraints(&c)
        .map_err(|e| describe(Capture::Screen, &e))?;
    Ok(wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| describe(Capture::Screen, &e))?
        .unchecked_into())
}

/// The capture and output devices (labels are empty until a capture permission is granted).
pub async fn list_devices() -> Vec<DeviceView> {
    let Ok(md) = devices() else {
        return Vec::new();
    };
    let Ok(promise) = md.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(list) = await_promise(promise).await else {
        return Vec::new();
    };
    let list: js_sys::Array = list.unchecked_into();
    let mut out = Vec::new();
    for d in list.iter() {
        let kind = match get_str(&d, "kind").as_deref() {
            Some("audioinput") => DeviceKind::Mic,
            Some("videoinput") => DeviceKind::Camera,
            Some("audiooutput") => DeviceKind::Speaker,
            _ => continue,
        };
        let id = get_str(&d, "deviceId").unwrap_or_default();
        if id.is_empty() {
            continue;
        }
        let label = get_str(&d, "label").filter(|l| !l.is_empty());
        let n = out.iter().filter(|x: &&DeviceView| x.kind == kind).count() + 1;
        out.push(DeviceView {
            kind,
            label: label.unwrap_or_else(|| format!("{} {n}", kind.noun())),
            id,
        });
    }
    out
}

/// Whether media elements here can choose their audio output (`setSinkId`).
pub fn can_pick_speaker() -> bool {
    web_sys::window()
        .map(|w| {
            let proto = get(&w, "HTMLMediaElement");
            let proto = get(&proto, "prototype");
            !get(&proto, "setSinkId").is_undefined()
        })
        .unwrap_or(false)
}
