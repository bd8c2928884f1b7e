//! File records sealed and opened with WebCrypto's AES-256-GCM.
//!
//! The STREAM layout (key, nonces, associated data) comes from `hush_core::stream`; only the
//! AES-GCM runs here. WebCrypto works on the browser's own threads with hardware AES, so bulk
//! crypto neither holds the page's thread (chat stays responsive during a transfer) nor copies
//! file bytes through wasm memory: records go from the file slice to the data channel, and from
//! the channel to the sink, as JS buffers. The output is byte for byte that of the `core`
//! reference; the shared vectors check it in the browser (`hush_seal_record` below).

use crate::js::{await_promise, JsError};
use hush_core::seal::{Key, NONCE_LEN};
use hush_core::stream::{file_key, StreamHeader, StreamPlan};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

/// GCM tag length in bits (the format's 16-byte tag).
const TAG_BITS: u8 = 128;

/// One file's AES-256-GCM key inside WebCrypto (not extractable), with the header as AAD.
pub struct RecordCipher {
    subtle: SubtleCrypto,
    key: CryptoKey,
    aad: Uint8Array,
}

fn subtle() -> Result<SubtleCrypto, JsError> {
    let w = web_sys::window().ok_or_else(|| JsError("no window".into()))?;
    Ok(w.crypto()?.subtle())
}

impl RecordCipher {
    /// Imports `key` for a stream with header bytes `header`.
    pub async fn new(key: &Key, header: &[u8]) -> Result<Self, JsError> {
        let subtle = subtle()?;
        let raw = Uint8Array::from(&key.0[..]);
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let p = subtle.import_key_with_str("raw", &raw, "AES-GCM", false, &usages)?;
        let key: CryptoKey = await_promise(p).await?.dyn_into()?;
        Ok(Self {
            subtle,
            key,
            aad: Uint8Array::from(header),
        })
    }

    fn params(&self, nonce: &[u8; NONCE_LEN]) -> AesGcmParams {
        let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
        params.set_additional_data_u8_array(&self.aad);
        params.set_tag_length(TAG_BITS);
        params
    }

    /// Starts sealing one record; the promise gives ciphertext ‖ tag. Several may run at once
    /// (WebCrypto works them off the page's thread); each resolves on its own.
    pub fn start_seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &Object,
    ) -> Result<js_sys::Promise, JsError> {
        Ok(self.subtle.encrypt_with_object_and_buffer_source(
            &self.params(nonce),
            &self.key,
            plaintext,
        )?)
    }

    /// Starts opening one record; the promise rejects unless it is authentic in this place of
    /// this stream.
    pub fn start_open(
        &self,
        nonce: &[u8; NONCE_LEN],
        record: &Object,
    ) -> Result<js_sys::Promise, JsError> {
        Ok(self.subtle.decrypt_with_object_and_buffer_source(
            &self.params(nonce),
            &self.key,
            record,
        )?)
    }
}

/// The buffer a started seal or open resolves to.
pub async fn finished(p: js_sys::Promise) -> Result<js_sys::ArrayBuffer, JsError> {
    Ok(await_promise(p).await?.dyn_into()?)
}

/// Seals record `index` of the stream described by `header`, for `file_id` under `file_root`,
/// through the same path transfers use. For checking the browser against the shared vectors
/// (`core/tests/vectors/stream.json`); it holds no secret of any room.
#[wasm_bindgen]
pub async fn hush_seal_record(
    file_root: Vec<u8>,
    file_id: String,
    header: Vec<u8>,
    index: u32,
    plaintext: Vec<u8>,
) -> Result<Uint8Array, JsValue> {
    vector_record(
        &file_root,
        &file_id,
        &header,
        index,
        &plaintext,
        Direction::Seal,
    )
    .await
}

/// Opens record `index` (see [`hush_seal_record`]); rejects what does not authenticate.
#[wasm_bindgen]
pub async fn hush_open_record(
    file_root: Vec<u8>,
    file_id: String,
    header: Vec<u8>,
    index: u32,
    record: Vec<u8>,
) -> Result<Uint8Array, JsValue> {
    vector_record(
        &file_root,
        &file_id,
        &header,
        index,
        &record,
        Direction::Open,
    )
    .await
}

enum Direction {
    Seal,
    Open,
}

async fn vector_record(
    file_root: &[u8],
    file_id: &str,
    header: &[u8],
    index: u32,
    input: &[u8],
    direction: Direction,
) -> Result<Uint8Array, JsValue> {
    let (cipher, plan) = vector_cipher(file_root, file_id, header).await?;
    let nonce = plan
        .nonce(u64::from(index))
        .ok_or_else(|| JsValue::from_str("no such record"))?;
    let input = Uint8Array::from(input);
    let started = match direction {
        Direction::Seal => cipher.start_seal(&nonce, &input),
        Direction::Open => cipher.start_open(&nonce, &input),
    };
    let to_js = |e: JsError| JsValue::from_str(&e.0);
    let output = finished(started.map_err(to_js)?).await.map_err(to_js)?;
    Ok(Uint8Array::new(&output))
}

async fn vector_cipher(
    file_root: &[u8],
    file_id: &str,
    header: &[u8],
) -> Result<(RecordCipher, StreamPlan), JsValue> {
    let root: [u8; 32] = file_root
        .try_into()
        .map_err(|_| JsValue::from_str("file root must be 32 bytes"))?;
    let parsed = StreamHeader::parse(header).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let plan = StreamPlan::new(parsed).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let key = file_key(&Key(root), file_id, &parsed.salt);
    let cipher = RecordCipher::new(&key, plan.header_bytes())
        .await
        .map_err(|e| JsValue::from_str(&e.0))?;
    Ok((cipher, plan))
}
