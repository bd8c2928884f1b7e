//! Where a received file's plaintext goes, as it arrives:
//! - `Memory`: a `Blob` for inline media and view-once files (both size-capped);
//! - `Disk`: the File System Access API (`showSaveFilePicker`), which writes to a temporary
//!   file and replaces the target only on `close()`, so an aborted transfer leaves nothing; a
//!   file from a folder (its name is a relative path) goes into a folder chosen once per page
//!   with `showDirectoryPicker`, its subfolders recreated;
//! - `Download`: a download streamed through our own service worker (`public/sw.js`) where
//!   that API is missing; aborting it makes the browser drop the partial download.
//!
//! Chunks arrive as JS buffers straight from WebCrypto and are handed on without copying
//! (transferred to the service worker).

use crate::js::{await_promise, get, sleep_ms, JsError};
use crate::listener::Listener;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageChannel, MessagePort};

/// Opened records are gathered into writes of about this size. Each write is a round trip to
/// the browser's file or download machinery with a cost per call: one per 64 KiB record took
/// a fifth of the receiving page's time, one per MiB 9%, one per 4 MiB 5%, for one copy of
/// the bytes. A download holds at most two batches (one filling, one being written).
const WRITE_BATCH_BYTES: u32 = 4 * 1024 * 1024;
/// How long the service worker may take to pick up a download before it counts as failed.
const DOWNLOAD_START_MS: u32 = 10_000;
/// The service worker's script and the path it serves downloads under (relative to the page,
/// so the app works from any directory of a static host).
const SERVICE_WORKER: &str = "sw.js";
const DOWNLOAD_PATH: &str = "_hush/dl/";
/// A long download pings the worker this often: browsers stop an idle worker after ~30 s, and
/// messages count as activity.
pub const KEEPALIVE_MS: u64 = 10_000;

/// Where to put a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Memory,
    /// To disk: the File System Access API if present, else a service-worker download.
    Disk,
}

pub struct Sink {
    to: Target,
    batch: Batch,
    /// The write still under way on the disk path: the next one waits for it, so at most one
    /// batch is in the browser's hands while the next one fills.
    writing: Option<js_sys::Promise>,
}

enum Target {
    Memory { parts: js_sys::Array, mime: String },
    Fs { writable: JsValue, handle: JsValue },
    Download(Download),
}

/// Chunks waiting to be written together.
#[derive(Default)]
struct Batch {
    parts: Vec<js_sys::Uint8Array>,
    bytes: u32,
}

impl Batch {
    fn push(&mut self, chunk: js_sys::Uint8Array) {
        self.bytes = self.bytes.saturating_add(chunk.byte_length());
        self.parts.push(chunk);
    }

    fn full(&self) -> bool {
        self.bytes >= WRITE_BATCH_BYTES
    }

    /// The gathered bytes as one buffer (a lone chunk as it is), or `None` when empty.
    fn take(&mut self) -> Option<js_sys::Uint8Array> {
        let parts = std::mem::take(&mut self.parts);
        let bytes = std::mem::take(&mut self.bytes);
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => {
                let all = js_sys::Uint8Array::new_with_length(bytes);
                let mut at = 0;
                for p in parts {
                    all.set(&p, at);
                    at += p.byte_length();
                }
                Some(all)
            }
        }
    }
}

pub struct Download {
    worker: web_sys::ServiceWorker,
    port: MessagePort,
    /// Set once the download ended either way; dropping an unfinished one aborts it.
    ended: bool,
    frame: Option<web_sys::HtmlIFrameElement>,
    cancelled: Rc<Cell<bool>>,
    _on_message: Listener,
}

/// Registers the service worker once, as the app loads (it keeps the shell and is active by
/// the first download). Failures are reported then (a browser without service workers can
/// still save through the other paths).
pub fn register_service_worker() {
    if let Some(sw) = service_workers() {
        let _ = sw.register(SERVICE_WORKER);
    }
}

/// `navigator.serviceWorker`, where the page may have one (not in an opaque-origin frame,
/// nor in some private modes, where the property is missing and calling it would throw).
fn service_workers() -> Option<web_sys::ServiceWorkerContainer> {
    let nav = web_sys::window()?.navigator();
    let sw = get(&nav, "serviceWorker");
    (!sw.is_undefined() && !sw.is_null()).then(|| nav.service_worker())
}

fn has_dir_picker() -> bool {
    web_sys::window().is_some_and(|w| get(&w, "showDirectoryPicker").is_function())
}

thread_local! {
    /// The folder files from a folder are saved into, chosen once per page: the picker's
    /// promise, so downloads that start together share one dialog instead of opening one each.
    static FOLDER: std::cell::RefCell<Option<js_sys::Promise>> = const { std::cell::RefCell::new(None) };
}

fn call1(
    obj: &JsValue,
    method: &str,
    a: &JsValue,
    b: &JsValue,
) -> Result<js_sys::Promise, JsError> {
    let f: js_sys::Function = get(obj, method)
        .dyn_into()
        .map_err(|_| JsError(format!("{method} is not available")))?;
    Ok(f.call2(obj, a, b)?.dyn_into::<js_sys::Promise>()?)
}

fn is_abort(e: &JsError) -> bool {
    e.0.contains("abort") || e.0.contains("Abort")
}

/// A file of a folder (`path` is a sanitized relative path): into the chosen folder, its
/// subfolders created. `Ok(None)` when the user dismissed the folder dialog. A file already
/// there is never replaced.
async fn open_in_folder(path: &str) -> Result<Option<Target>, JsError> {
    let w = web_sys::window().ok_or_else(|| JsError("no window".into()))?;
    let chosen = match FOLDER.with(|f| f.borrow().clone()) {
        Some(p) => p,
        None => {
            let picker: js_sys::Function = get(&w, "showDirectoryPicker").dyn_into()?;
            let opts = js_sys::Object::new();
            js_sys::Reflect::set(&opts, &"mode".into(), &"readwrite".into())?;
            let p: js_sys::Promise = picker.call1(&w, &opts)?.dyn_into()?;
            FOLDER.with(|f| *f.borrow_mut() = Some(p.clone()));
            p
        }
    };
    let folder = match await_promise(chosen).await {
        Ok(d) => d,
        Err(e) => {
            // Dismissed or refused: the next download asks again.
            FOLDER.with(|f| *f.borrow_mut() = None);
            return if is_abort(&e) { Ok(None) } else { Err(e) };
        }
    };
    let (file, dirs) = {
        let parts: Vec<&str> = path.split('/').collect();
        let Some((file, dirs)) = parts.split_last() else {
            return Err(JsError("empty file name".into()));
        };
        (
            file.to_string(),
            dirs.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        )
    };
    let create = js_sys::Object::new();
    js_sys::Reflect::set(&create, &"create".into(), &true.into())?;
    let mut dir = folder;
    for d in &dirs {
        dir = await_promise(call1(&dir, "getDirectoryHandle", &d.into(), &create)?).await?;
    }
    let none = js_sys::Object::new();
    if await_promise(call1(&dir, "getFileHandle", &file.as_str().into(), &none)?)
        .await
        .is_ok()
    {
        return Err(JsError(format!(
            "{path} already exists in the chosen folder"
        )));
    }
    let handle = await_promise(call1(
        &dir,
        "getFileHandle",
        &file.as_str().into(),
        &create,
    )?)
    .await?;
    let writable = await_promise(call0(&handle, "createWritable")?).await?;
    Ok(Some(Target::Fs { writable, handle }))
}

fn has_save_picker() -> bool {
    web_sys::window().is_some_and(|w| get(&w, "showSaveFilePicker").is_function())
}

impl Sink {
    /// Opens a sink; `Ok(None)` when the user dismissed the save dialog.
    pub async fn open(
        kind: SinkKind,
        token: &str,
        name: &str,
        size: u64,
        mime: &str,
    ) -> Result<Option<Sink>, JsError> {
        // A file from a folder is shown with its path; it goes into a chosen folder where the
        // browser can, else it is saved under its own name.
        let path = name;
        let name = hush_core::filename::base_name(name);
        let to = match kind {
            SinkKind::Disk if path.contains('/') && has_dir_picker() => {
                match open_in_folder(path).await? {
                    Some(to) => to,
                    None => return Ok(None),
                }
            }
            SinkKind::Memory => Target::Memory {
                parts: js_sys::Array::new(),
                mime: mime.to_owned(),
            },
            SinkKind::Disk if has_save_picker() => match open_fs(name).await? {
                Some(to) => to,
                None => return Ok(None),
            },
            SinkKind::Disk => Target::Download(open_download(token, name, size).await?),
        };
        Ok(Some(Sink {
            to,
            batch: Batch::default(),
            writing: None,
        }))
    }

    /// Whether the sink is a browser download that the user cancelled in the browser's UI.
    pub fn cancelled_by_browser(&self) -> bool {
        matches!(&self.to, Target::Download(d) if d.cancelled.get())
    }

    /// Takes the next chunk (the sink may keep or transfer it). It is written with the ones
    /// after it once a batch is full; this waits only for the previous batch's write.
    pub async fn write(&mut self, chunk: js_sys::Uint8Array) -> Result<(), JsError> {
        match &self.to {
            // The Blob a memory sink makes joins its parts anyway: batching would only copy them.
            Target::Memory { parts, .. } => {
                parts.push(&chunk);
            }
            Target::Fs { .. } | Target::Download(_) => {
                self.batch.push(chunk);
                if self.batch.full() {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), JsError> {
        if let Some(p) = self.writing.take() {
            await_promise(p).await?;
        }
        let Some(chunk) = self.batch.take() else {
            return Ok(());
        };
        match &mut self.to {
            // Never batched (see `write`).
            Target::Memory { .. } => {}
            Target::Fs { writable, .. } => {
                let f: js_sys::Function = get(writable, "write").dyn_into()?;
                self.writing = Some(f.call1(writable, &chunk)?.dyn_into()?);
            }
            Target::Download(d) => {
                if d.cancelled.get() {
                    return Err(JsError("the download was cancelled in the browser".into()));
                }
                // Transferred, not copied, to the worker.
                d.port
                    .post_message_with_transferable(&chunk, &js_sys::Array::of1(&chunk.buffer()))?;
            }
        }
        Ok(())
    }

    /// Completes the file. For a memory sink, returns a `blob:` URL of it.
    pub async fn finish(mut self) -> Result<Option<String>, JsError> {
        self.flush().await?;
        if let Some(p) = self.writing.take() {
            await_promise(p).await?;
        }
        match self.to {
            Target::Memory { parts, mime } => {
                let opts = web_sys::BlobPropertyBag::new();
                opts.set_type(&mime);
                let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts)?;
                Ok(Some(web_sys::Url::create_object_url_with_blob(&blob)?))
            }
            Target::Fs { writable, .. } => {
                await_promise(call0(&writable, "close")?).await?;
                Ok(None)
            }
            Target::Download(mut d) => {
                d.ended = true;
                d.port.post_message(&"end".into())?;
                d.remove_frame_later();
                Ok(None)
            }
        }
    }

    /// Throws away what was written: nothing partial stays behind.
    pub fn abort(self) {
        match self.to {
            Target::Memory { .. } => {}
            Target::Fs { writable, handle } => {
                // The partial data lives in a temporary file that `abort` discards; the empty
                // file the save dialog created goes too, where the browser can remove it. A
                // write still under way settles first (its outcome no longer matters).
                let writing = self.writing;
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(p) = writing {
                        let _ = await_promise(p).await;
                    }
                    if let Ok(p) = call0(&writable, "abort") {
                        let _ = await_promise(p).await;
                        if let Ok(p) = call0(&handle, "remove") {
                            let _ = await_promise(p).await;
                        }
                    }
                });
            }
            Target::Download(d) => drop(d),
        }
    }

    /// Keeps a service-worker download's worker awake.
    pub fn keepalive(&self) {
        if let Target::Download(d) = &self.to {
            let _ = d.worker.post_message(&"keepalive".into());
        }
    }
}

fn call0(obj: &JsValue, method: &str) -> Result<js_sys::Promise, JsError> {
    let f: js_sys::Function = get(obj, method)
        .dyn_into()
        .map_err(|_| JsError(format!("{method} is not available")))?;
    Ok(f.call0(obj)?.dyn_into::<js_sys::Promise>()?)
}

async fn open_fs(name: &str) -> Result<Option<Target>, JsError> {
    let Some(w) = web_sys::window() else {
        return Err(JsError("no window".into()));
    };
    let picker: js_sys::Function = get(&w, "showSaveFilePicker").dyn_into()?;
    let opts = js_sys::Object::new();
    js_sys::Reflect::set(&opts, &"suggestedName".into(), &name.into())?;
    let handle = match picker.call1(&w, &opts) {
        Ok(p) => match await_promise(p.dyn_into()?).await {
            Ok(h) => h,
            Err(e) if e.0.contains("abort") || e.0.contains("Abort") => return Ok(None),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e.into()),
    };
    let writable = await_promise(call0(&handle, "createWritable")?).await?;
    Ok(Some(Target::Fs { writable, handle }))
}

async fn open_download(token: &str, name: &str, size: u64) -> Result<Download, JsError> {
    let w = web_sys::window().ok_or_else(|| JsError("no window".into()))?;
    let container = service_workers().ok_or_else(|| {
        JsError("this browser cannot save a download here (no service worker)".into())
    })?;
    // Registered at start-up; `ready` resolves once it is active.
    let _ = container.register(SERVICE_WORKER);
    // `ready` never settles where the worker cannot install (e.g. a host that does not serve
    // it): give up after a while instead of waiting for ever.
    let ready = Box::pin(await_promise(container.ready()?));
    let timeout = Box::pin(sleep_ms(DOWNLOAD_START_MS));
    let reg: web_sys::ServiceWorkerRegistration =
        match futures::future::select(ready, timeout).await {
            futures::future::Either::Left((r, _)) => r?.dyn_into()?,
            futures::future::Either::Right(_) => {
                return Err(JsError(
                    "the download helper (service worker) did not start".into(),
                ))
            }
        };
    let active = reg
        .active()
        .ok_or_else(|| JsError("the download helper (service worker) is not running".into()))?;
    let channel = MessageChannel::new()?;
    let port = channel.port1();
    let ready = Rc::new(Cell::new(false));
    let started = Rc::new(Cell::new(false));
    let cancelled = Rc::new(Cell::new(false));
    let on_message = {
        let (ready, started, cancelled) = (ready.clone(), started.clone(), cancelled.clone());
        let target: web_sys::EventTarget = port.clone().into();
        Listener::new(&target, "message", move |e| {
            let data = e
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|m| m.data().as_string());
            match data.as_deref() {
                Some("ready") => ready.set(true),
                Some("started") => started.set(true),
                Some("cancelled") => cancelled.set(true),
                _ => {}
            }
        })
    };
    // A port listened to with addEventListener delivers nothing until started.
    port.start();
    let msg = js_sys::Object::new();
    js_sys::Reflect::set(&msg, &"type".into(), &"hush-download".into())?;
    js_sys::Reflect::set(&msg, &"id".into(), &token.into())?;
    js_sys::Reflect::set(&msg, &"name".into(), &name.into())?;
    js_sys::Reflect::set(&msg, &"size".into(), &(size as f64).into())?;
    active.post_message_with_transferable(&msg, &js_sys::Array::of1(&channel.port2()))?;
    // The frame's request reaches the worker on another path than this message: wait until the
    // worker has the download, or its request could arrive first and find nothing.
    wait_for(
        &ready,
        "the download helper (service worker) did not answer",
    )
    .await?;
    // A hidden frame navigates to the download URL; the worker answers it with the stream.
    let doc = w.document().ok_or_else(|| JsError("no document".into()))?;
    let frame: web_sys::HtmlIFrameElement = doc
        .create_element("iframe")?
        .dyn_into()
        .map_err(|_| JsError("no iframe element".into()))?;
    frame.set_hidden(true);
    frame.set_src(&format!("{DOWNLOAD_PATH}{token}"));
    if let Some(body) = doc.body() {
        body.append_child(&frame)?;
    }
    let d = Download {
        worker: active,
        port,
        ended: false,
        frame: Some(frame),
        cancelled,
        _on_message: on_message,
    };
    wait_for(&started, "the browser did not start the download").await?;
    Ok(d)
}

/// Waits (up to [`DOWNLOAD_START_MS`]) until `flag` is set by the worker's message.
async fn wait_for(flag: &Cell<bool>, what: &str) -> Result<(), JsError> {
    const POLL_MS: u32 = 10;
    let mut waited = 0;
    while !flag.get() {
        if waited >= DOWNLOAD_START_MS {
            return Err(JsError(what.into()));
        }
        sleep_ms(POLL_MS).await;
        waited += POLL_MS;
    }
    Ok(())
}

impl Download {
    /// The frame must outlive the response's start; remove it a little later.
    fn remove_frame_later(&mut self) {
        if let Some(frame) = self.frame.take() {
            wasm_bindgen_futures::spawn_local(async move {
                sleep_ms(DOWNLOAD_START_MS).await;
                frame.remove();
            });
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if !self.ended {
            self.ended = true;
            let _ = self.port.post_message(&"abort".into());
        }
        self.remove_frame_later();
    }
}
