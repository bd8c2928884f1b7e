//! The identity hello and verification as a peer controls them: a proof with arbitrary keys,
//! nonces, fingerprints, signature and MAC; SDPs to read fingerprints from; admission
//! decisions with arbitrary signatures. Nothing may panic; nothing forged verifies; an honest
//! proof made from the same bytes always does.
#![no_main]

use hush_core::identity::{self, HelloView, Identity, ProofIn, SasView, NONCE_LEN};
use hush_core::seal::Key;
use libfuzzer_sys::fuzz_target;

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out[..bytes.len().min(N)].copy_from_slice(&bytes[..bytes.len().min(N)]);
    out
}

fuzz_target!(|data: &[u8]| {
    let mut d = data;
    let auth = Key(arr(take(&mut d, 32)));
    let secret: [u8; 32] = arr(take(&mut d, 32));
    let nonce_a: [u8; NONCE_LEN] = arr(take(&mut d, NONCE_LEN));
    let nonce_b: [u8; NONCE_LEN] = arr(take(&mut d, NONCE_LEN));
    let key_bytes = take(&mut d, 33);
    let signature = take(&mut d, 64);
    let mac = take(&mut d, 32);
    let rest = String::from_utf8_lossy(d);
    let fp_a = identity::dtls_fingerprint(&rest);
    let fp_b = rest.chars().take(40).collect::<String>();

    // A key from the wire: valid or refused, never a panic.
    let Some(key) = identity::valid_public(key_bytes) else {
        let _ = identity::valid_public(&[]);
        return;
    };
    let view = HelloView {
        id_a: "aaaaaaaaaaaaaaaaaaaa",
        id_b: "bbbbbbbbbbbbbbbbbbbb",
        key_a: &key,
        nonce_a: &nonce_a,
        nonce_b: &nonce_b,
        fp_a: &fp_a,
        fp_b: &fp_b,
        name: "x",
    };
    let got = ProofIn {
        fp_signer: &fp_a,
        fp_receiver: &fp_b,
        nonce_signer: &nonce_a,
        nonce_receiver: &nonce_b,
        signature,
        mac,
    };
    // Forged bytes verify only with negligible probability.
    let _ = identity::check_proof(&auth, &view, &got);
    let _ = identity::check_admission(&key, "room", &key, true, signature);

    // An honest proof from a key made of these bytes always verifies.
    if let Some(me) = Identity::from_secret(&secret) {
        let honest = HelloView { key_a: me.public(), ..view };
        let (sig, tag) = identity::prove(&me, &auth, &honest);
        let ok = ProofIn { signature: &sig, mac: &tag, ..got };
        assert_eq!(identity::check_proof(&auth, &honest, &ok), Ok(()));
        let s = identity::sas(&SasView {
            id_s: "a",
            id_r: "b",
            key_s: me.public(),
            key_r: &key,
            fp_s: &fp_a,
            fp_r: &fp_b,
            r_s: &nonce_a,
            r_r: &nonce_b,
        });
        assert!(s.number < 1_000_000 && s.emoji.iter().all(|e| *e < 64));
    }
});
