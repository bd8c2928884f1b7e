//! Shared test vectors for the file stream format (`tests/vectors/stream.json`).
//!
//! Any other implementation (the browser's WebCrypto path) must reproduce these bytes exactly.
//! This test regenerates the vectors from the reference implementation and compares them with
//! the committed file, so the file cannot drift from the code. After an intended format change,
//! rewrite it with `HUSH_WRITE_VECTORS=1 cargo test -p hush-core --test stream_vectors`.

use hush_core::seal::{Key, KEY_LEN};
use hush_core::stream::{
    file_key, open_record, StreamHeader, StreamPlan, StreamSealer, MAX_RECORD_SIZE,
    NONCE_PREFIX_LEN, RECORD_SIZE, SALT_LEN,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/stream.json");
/// Records up to this many ciphertext bytes are given in full; longer ones by their SHA-256.
const FULL_HEX_MAX: usize = 1024;

/// One vector: everything an implementation needs as input.
struct Case {
    name: &'static str,
    file_id: &'static str,
    total_size: u64,
    record_size: u32,
}

const CASES: &[Case] = &[
    Case {
        name: "empty file: one empty last record",
        file_id: "t-empty",
        total_size: 0,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "one byte",
        file_id: "t-one",
        total_size: 1,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "short file",
        file_id: "t-short",
        total_size: 100,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "record size minus one",
        file_id: "t-rs-1",
        total_size: RECORD_SIZE as u64 - 1,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "exactly one record: one full last record, no empty trailer",
        file_id: "t-rs",
        total_size: RECORD_SIZE as u64,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "record size plus one",
        file_id: "t-rs+1",
        total_size: RECORD_SIZE as u64 + 1,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "three records plus five bytes",
        file_id: "t-3rs+5",
        total_size: 3 * RECORD_SIZE as u64 + 5,
        record_size: RECORD_SIZE,
    },
    Case {
        name: "largest record size a receiver accepts",
        file_id: "t-256k",
        total_size: 300_000,
        record_size: MAX_RECORD_SIZE,
    },
    Case {
        name: "non-ASCII file id (UTF-8 in the HKDF info)",
        file_id: "überweisung/🙂",
        total_size: 33,
        record_size: RECORD_SIZE,
    },
];

/// Fixed but distinct bytes per case, so no two cases share a key, salt or prefix.
fn fill<const N: usize>(case: usize, base: u8) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = base
            .wrapping_add(i as u8)
            .wrapping_add((case as u8).wrapping_mul(29));
    }
    out
}

/// Plaintext byte at file offset `i`.
fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

fn generate() -> Value {
    let cases: Vec<Value> = CASES
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let root = Key(fill::<KEY_LEN>(n, 0x00));
            let salt = fill::<SALT_LEN>(n, 0x40);
            let prefix = fill::<NONCE_PREFIX_LEN>(n, 0xA0);
            let mut s = StreamSealer::with_record_size(
                &root,
                c.file_id,
                c.total_size,
                c.record_size,
                salt,
                prefix,
            )
            .unwrap();
            let records_n = s.records();
            let mut offset = 0u64;
            let mut records = Vec::new();
            while let Some(len) = s.next_plaintext_len() {
                let index = records.len() as u64;
                let plain: Vec<u8> = (offset..offset + len as u64).map(pattern_byte).collect();
                offset += len as u64;
                let sealed = s.seal_next(&plain).unwrap();
                let last = index + 1 == records_n;
                let mut nonce = prefix.to_vec();
                nonce.extend_from_slice(&(index as u32).to_be_bytes());
                nonce.push(u8::from(last));
                let mut rec = json!({
                    "index": index,
                    "last": last,
                    "nonce": hex::encode(&nonce),
                    "plaintext_len": len,
                    "len": sealed.len(),
                    "sha256": hex::encode(Sha256::digest(&sealed)),
                });
                if sealed.len() <= FULL_HEX_MAX {
                    rec["hex"] = json!(hex::encode(&sealed));
                }
                records.push(rec);
            }
            json!({
                "name": c.name,
                "file_root": hex::encode(root.0),
                "file_id": c.file_id,
                "total_size": c.total_size,
                "record_size": c.record_size,
                "salt": hex::encode(salt),
                "nonce_prefix": hex::encode(prefix),
                "file_key": hex::encode(file_key(&root, c.file_id, &salt).0),
                "header": hex::encode(s.header()),
                "records": records,
            })
        })
        .collect();
    json!({
        "format": "hush file stream v1 (core/src/stream.rs)",
        "plaintext": "byte i of the file (counting from 0 across records) is i mod 251",
        "file_key": "HKDF-SHA256(ikm = file_root, salt = salt, info = \"hush/v1/file|\" ‖ UTF-8(file_id)), 32 bytes",
        "header": "\"HUSHF\" ‖ 0x01 ‖ record_size u32 BE ‖ total_size u64 BE ‖ salt (32) ‖ nonce_prefix (7)",
        "nonce": "nonce_prefix (7) ‖ index u32 BE ‖ 0x01 if last else 0x00",
        "record": "AES-256-GCM(file_key, nonce, aad = header bytes, plaintext) = ciphertext ‖ tag (16); `hex` given when len <= 1024, `sha256` always",
        "cases": cases,
    })
}

#[test]
fn committed_vectors_match_the_reference_implementation() {
    // Protects interop: the browser is tested against this file, so it must equal what the
    // reference implementation produces today.
    let fresh = generate();
    if std::env::var("HUSH_WRITE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&fresh).unwrap() + "\n";
        std::fs::write(VECTORS, text).unwrap();
    }
    let committed = std::fs::read_to_string(VECTORS)
        .unwrap_or_else(|e| panic!("{VECTORS}: {e}; write it with HUSH_WRITE_VECTORS=1"));
    let committed: Value = serde_json::from_str(&committed).unwrap();
    for (i, (want, got)) in committed["cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fresh["cases"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(want, got, "vector case {i} drifted");
    }
    assert_eq!(committed, fresh, "vector file drifted");
}

#[test]
fn vector_records_open_back_to_the_pattern() {
    // The vectors are not only self-consistent: each one opens to the documented plaintext.
    let vectors = generate();
    for c in vectors["cases"].as_array().unwrap() {
        let mut root = [0u8; KEY_LEN];
        root.copy_from_slice(&hex::decode(c["file_root"].as_str().unwrap()).unwrap());
        let header = hex::decode(c["header"].as_str().unwrap()).unwrap();
        let file_id = c["file_id"].as_str().unwrap();
        let mut o = hush_core::stream::StreamOpener::new(&Key(root), file_id, &header).unwrap();
        let mut offset = 0u64;
        for r in c["records"].as_array().unwrap() {
            let Some(h) = r["hex"].as_str() else { continue };
            // Full-hex records are the small ones; open them only when all before were full too.
            if o.next_index() != r["index"].as_u64().unwrap() {
                break;
            }
            let plain = o.open_next(&hex::decode(h).unwrap()).unwrap();
            let want: Vec<u8> = (offset..offset + plain.len() as u64)
                .map(pattern_byte)
                .collect();
            assert_eq!(plain, want);
            offset += plain.len() as u64;
        }
    }
}

#[test]
fn the_stream_plan_gives_every_vector_nonce_and_length() {
    // Implementations that bring their own AES-GCM (the browser's WebCrypto) take the layout
    // from `StreamPlan`: it must agree with the reference sealer on every record.
    let vectors = generate();
    for c in vectors["cases"].as_array().unwrap() {
        let header = hex::decode(c["header"].as_str().unwrap()).unwrap();
        let plan = StreamPlan::new(StreamHeader::parse(&header).unwrap()).unwrap();
        assert_eq!(plan.header_bytes().to_vec(), header);
        let records = c["records"].as_array().unwrap();
        assert_eq!(plan.records(), records.len() as u64);
        for r in records {
            let i = r["index"].as_u64().unwrap();
            assert_eq!(
                hex::encode(plan.nonce(i).unwrap()),
                r["nonce"].as_str().unwrap()
            );
            assert_eq!(
                plan.record_len(i).unwrap() as u64,
                r["len"].as_u64().unwrap()
            );
            let Some(h) = r["hex"].as_str() else { continue };
            let mut root = [0u8; KEY_LEN];
            root.copy_from_slice(&hex::decode(c["file_root"].as_str().unwrap()).unwrap());
            let key = file_key(
                &Key(root),
                c["file_id"].as_str().unwrap(),
                &plan.header().salt,
            );
            let nonce = plan.nonce(i).unwrap();
            assert!(open_record(&key, &nonce, &header, &hex::decode(h).unwrap(), i).is_ok());
        }
        assert_eq!(
            plan.nonce(plan.records()),
            None,
            "no nonce past the last record"
        );
    }
}
