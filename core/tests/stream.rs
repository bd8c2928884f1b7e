//! File stream (STREAM over AES-256-GCM): round trips at every size edge, and every kind of
//! mutation (truncation, reordering, duplication, misplaced records, header and ciphertext
//! tampering, wrong keys) rejected before the affected record's plaintext is released.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hush_core::seal::{Key, KEY_LEN, TAG_LEN};
use hush_core::stream::{
    file_key, records_for, StreamError, StreamHeader, StreamOpener, StreamSealer, HEADER_LEN,
    MAX_RECORD_SIZE, MIN_RECORD_SIZE, NONCE_PREFIX_LEN, RECORD_SIZE, SALT_LEN,
};

const RS: usize = RECORD_SIZE as usize;
const FILE_ID: &str = "transfer-42";
const SALT: [u8; SALT_LEN] = [0x5A; SALT_LEN];
const PREFIX: [u8; NONCE_PREFIX_LEN] = [0xC3; NONCE_PREFIX_LEN];

fn root() -> Key {
    Key([0x11; KEY_LEN])
}

/// The test file: byte i is i mod 251 (a prime, so records never repeat each other).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A sealed stream: the header and its records.
struct Sealed {
    header: [u8; HEADER_LEN],
    records: Vec<Vec<u8>>,
}

fn seal_with(root: &Key, id: &str, data: &[u8], record_size: u32) -> Sealed {
    let mut s =
        StreamSealer::with_record_size(root, id, data.len() as u64, record_size, SALT, PREFIX)
            .unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(n) = s.next_plaintext_len() {
        records.push(s.seal_next(&data[at..at + n]).unwrap());
        at += n;
    }
    assert_eq!(at, data.len());
    assert!(s.is_done());
    assert_eq!(records.len() as u64, s.records());
    Sealed {
        header: s.header(),
        records,
    }
}

fn seal(data: &[u8]) -> Sealed {
    seal_with(&root(), FILE_ID, data, RECORD_SIZE)
}

fn opener(header: &[u8]) -> StreamOpener {
    StreamOpener::new(&root(), FILE_ID, header).unwrap()
}

/// Feeds `records` to a fresh opener; returns what each call gave and the opener.
fn feed(header: &[u8], records: &[&[u8]]) -> (Vec<Result<Vec<u8>, StreamError>>, StreamOpener) {
    let mut o = opener(header);
    let results = records.iter().map(|r| o.open_next(r)).collect();
    (results, o)
}

fn open_all(s: &Sealed) -> Vec<u8> {
    let mut o = opener(&s.header);
    let mut out = Vec::new();
    for r in &s.records {
        out.extend(o.open_next(r).unwrap());
    }
    o.finish().unwrap();
    out
}

#[test]
fn round_trips_at_every_size_edge() {
    let cases = [
        (0, 1),
        (1, 1),
        (RS - 1, 1),
        (RS, 1),
        (RS + 1, 2),
        (2 * RS, 2),
        (3 * RS + 5, 4),
    ];
    for (size, records) in cases {
        let data = pattern(size);
        let s = seal(&data);
        assert_eq!(s.records.len(), records, "size {size}");
        // All records but the last are full; the last holds the rest (empty only for size 0).
        for (i, r) in s.records.iter().enumerate() {
            let plain = if i + 1 < records {
                RS
            } else {
                size - (records - 1) * RS
            };
            assert_eq!(r.len(), plain + TAG_LEN, "size {size} record {i}");
        }
        let o = opener(&s.header);
        assert_eq!(o.total_size(), size as u64);
        assert_eq!(o.record_size(), RECORD_SIZE);
        assert_eq!(o.records(), records as u64);
        assert_eq!(records_for(size as u64, RECORD_SIZE), Ok(records as u64));
        assert_eq!(open_all(&s), data, "size {size}");
    }
}

#[test]
fn receiver_accepts_every_record_size_in_range() {
    for rs in [MIN_RECORD_SIZE, 100_003, 200_000, MAX_RECORD_SIZE] {
        let data = pattern(2 * rs as usize + 17);
        let s = seal_with(&root(), FILE_ID, &data, rs);
        assert_eq!(s.records.len(), 3);
        assert_eq!(opener(&s.header).record_size(), rs);
        assert_eq!(open_all(&s), data, "record size {rs}");
    }
    for rs in [MIN_RECORD_SIZE - 1, MAX_RECORD_SIZE + 1] {
        assert_eq!(
            StreamSealer::with_record_size(&root(), FILE_ID, 1, rs, SALT, PREFIX).unwrap_err(),
            StreamError::RecordSize(rs)
        );
    }
}

#[test]
fn byte_stream_frames_into_records() {
    // A receiver that gets arbitrary chunks (data channel messages) rebuilds the records with
    // `next_record_len` alone.
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let wire: Vec<u8> = s.records.concat();
    let mut o = opener(&s.header);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for chunk in wire.chunks(16 * 1024 + 3) {
        buf.extend_from_slice(chunk);
        while let Some(n) = o.next_record_len() {
            if buf.len() < n {
                break;
            }
            let record: Vec<u8> = buf.drain(..n).collect();
            out.extend(o.open_next(&record).unwrap());
        }
    }
    assert!(buf.is_empty());
    assert_eq!(o.next_record_len(), None);
    o.finish().unwrap();
    assert_eq!(out, data);
}

#[test]
fn matches_an_independent_implementation_of_the_spec() {
    // Rebuild every record straight from the format description with plain AES-GCM: this pins
    // the nonce layout (prefix ‖ counter BE ‖ last flag) and the header-as-AAD rule.
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let key = file_key(&root(), FILE_ID, &SALT);
    let cipher = Aes256Gcm::new(&key.0.into());
    let n = s.records.len();
    for (i, chunk) in data.chunks(RS).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&PREFIX);
        nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        nonce[11] = u8::from(i + 1 == n);
        let nonce: Nonce<_> = nonce.into();
        let expect = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: chunk,
                    aad: &s.header,
                },
            )
            .unwrap();
        assert_eq!(s.records[i], expect, "record {i}");
    }
}

#[test]
fn truncation_at_every_record_boundary_is_detected() {
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let n = s.records.len() as u64;
    for k in 0..s.records.len() {
        let prefix: Vec<&[u8]> = s.records[..k].iter().map(Vec::as_slice).collect();
        let (results, o) = feed(&s.header, &prefix);
        assert!(results.iter().all(Result::is_ok));
        assert!(!o.is_done());
        assert_eq!(
            o.finish(),
            Err(StreamError::Truncated {
                seen: k as u64,
                expected: n
            })
        );
    }
}

#[test]
fn a_short_last_record_is_rejected() {
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let last = &s.records[3];
    let mut o = opener(&s.header);
    for r in &s.records[..3] {
        o.open_next(r).unwrap();
    }
    // Cut anywhere, even to a record-looking length, it never opens.
    for cut in [0, 1, 5, last.len() - 1] {
        assert_eq!(
            o.open_next(&last[..cut]),
            Err(StreamError::WrongLength {
                expected: 5 + TAG_LEN,
                got: cut
            })
        );
    }
    // And a record padded out is rejected the same way.
    let mut long = last.clone();
    long.push(0);
    assert!(matches!(
        o.open_next(&long),
        Err(StreamError::WrongLength { .. })
    ));
    assert!(o.finish().is_err());
}

#[test]
fn truncating_and_rewriting_the_declared_size_fails_at_the_first_record() {
    // An attacker drops the tail and shrinks the header to match: every record is bound to the
    // original header, so record 0 no longer opens.
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    for new_size in [
        0,
        5,
        RS as u64,
        3 * RS as u64,
        3 * RS as u64 + 4,
        3 * RS as u64 + 6,
    ] {
        let mut h = StreamHeader::parse(&s.header).unwrap();
        h.total_size = new_size;
        let mut o = opener(&h.to_bytes());
        let first = &s.records[0];
        let got = o.open_next(first);
        assert!(
            matches!(
                got,
                Err(StreamError::Auth { record: 0 } | StreamError::WrongLength { .. })
            ),
            "size {new_size}: {got:?}"
        );
    }
}

#[test]
fn reordered_records_are_rejected() {
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let r = &s.records;
    let (results, _) = feed(&s.header, &[&r[1], &r[0]]);
    assert_eq!(results[0], Err(StreamError::Auth { record: 0 }));
    let (results, o) = feed(&s.header, &[&r[0], &r[2], &r[1], &r[3]]);
    assert_eq!(results[0], Ok(data[..RS].to_vec()));
    assert_eq!(results[1], Err(StreamError::Auth { record: 1 }));
    // The failure did not move the position: the right record still opens, then it goes on.
    assert_eq!(results[2], Ok(data[RS..2 * RS].to_vec()));
    // The short last record at position 2 is refused on its length alone.
    assert_eq!(
        results[3],
        Err(StreamError::WrongLength {
            expected: RS + TAG_LEN,
            got: 5 + TAG_LEN
        })
    );
    assert!(o.finish().is_err());
}

#[test]
fn duplicated_records_are_rejected() {
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    let r = &s.records;
    let (results, _) = feed(&s.header, &[&r[0], &r[0]]);
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(StreamError::Auth { record: 1 }));
    // Replaying the whole stream after it ended is "after last", not a second file.
    let mut all: Vec<&[u8]> = r.iter().map(Vec::as_slice).collect();
    all.push(&r[3]);
    let (results, o) = feed(&s.header, &all);
    assert!(results[..4].iter().all(Result::is_ok));
    assert_eq!(results[4], Err(StreamError::AfterLast));
    assert!(o.is_done());
    o.finish().unwrap();
}

#[test]
fn every_record_opens_only_at_its_own_position() {
    // Stands in for "flipping the last flag": the flag and counter are in the nonce, so a record
    // moved to any other position (including the last one) fails.
    let data = pattern(3 * RS + RS); // four full records: lengths alone cannot tell them apart
    let s = seal(&data);
    for pos in 0..s.records.len() {
        for (i, rec) in s.records.iter().enumerate() {
            let mut o = opener(&s.header);
            for r in &s.records[..pos] {
                o.open_next(r).unwrap();
            }
            let got = o.open_next(rec);
            if i == pos {
                assert!(got.is_ok());
            } else {
                assert_eq!(
                    got,
                    Err(StreamError::Auth { record: pos as u64 }),
                    "{i}@{pos}"
                );
            }
        }
    }
}

#[test]
fn the_last_flag_is_authenticated() {
    // Even someone holding the file key cannot make a record pass with the wrong flag: seal
    // each record of a 2-record stream with its flag inverted and feed it in its place.
    let data = pattern(RS + 1);
    let s = seal(&data);
    let key = file_key(&root(), FILE_ID, &SALT);
    let cipher = Aes256Gcm::new(&key.0.into());
    for (i, chunk) in data.chunks(RS).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&PREFIX);
        nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        nonce[11] = u8::from(i == 0); // inverted: record 0 claims last, record 1 does not
        let nonce: Nonce<_> = nonce.into();
        let forged = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: chunk,
                    aad: &s.header,
                },
            )
            .unwrap();
        let mut o = opener(&s.header);
        for r in &s.records[..i] {
            o.open_next(r).unwrap();
        }
        assert_eq!(
            o.open_next(&forged),
            Err(StreamError::Auth { record: i as u64 })
        );
    }
}

#[test]
fn every_header_byte_flip_is_rejected() {
    let data = pattern(RS + 7);
    let s = seal(&data);
    for i in 0..HEADER_LEN {
        for bit in [0x01u8, 0x80] {
            let mut h = s.header;
            h[i] ^= bit;
            match StreamOpener::new(&root(), FILE_ID, &h) {
                Err(_) => {}
                Ok(mut o) => {
                    let got = o.open_next(&s.records[0]);
                    assert!(
                        matches!(
                            got,
                            Err(StreamError::Auth { record: 0 } | StreamError::WrongLength { .. })
                        ),
                        "byte {i} bit {bit:#x}: {got:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn malformed_headers_are_rejected_with_a_reason() {
    let s = seal(&pattern(10));
    let h = s.header;
    let err = |bytes: &[u8]| StreamOpener::new(&root(), FILE_ID, bytes).unwrap_err();
    assert_eq!(err(&[]), StreamError::BadHeader);
    assert_eq!(err(&h[..HEADER_LEN - 1]), StreamError::BadHeader);
    assert_eq!(err(&[&h[..], &[0]].concat()), StreamError::BadHeader);
    let mut m = h;
    m[0] = b'X';
    assert_eq!(err(&m), StreamError::BadHeader);
    let mut v = h;
    v[5] = 2;
    assert_eq!(err(&v), StreamError::Version(2));
    let mut r = h;
    r[6..10].copy_from_slice(&(MAX_RECORD_SIZE + 1).to_be_bytes());
    assert_eq!(err(&r), StreamError::RecordSize(MAX_RECORD_SIZE + 1));
    let mut z = h;
    z[10..18].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(err(&z), StreamError::TooLarge { .. }));
}

#[test]
fn a_flipped_ciphertext_or_tag_bit_is_rejected_at_its_record() {
    let data = pattern(3 * RS + 5);
    let s = seal(&data);
    for (i, rec) in s.records.iter().enumerate() {
        for at in [0, rec.len() / 2, rec.len() - TAG_LEN, rec.len() - 1] {
            let mut bad = rec.clone();
            bad[at] ^= 0x04;
            let mut o = opener(&s.header);
            for (j, r) in s.records[..i].iter().enumerate() {
                assert_eq!(o.open_next(r).unwrap(), data[j * RS..(j + 1) * RS]);
            }
            assert_eq!(
                o.open_next(&bad),
                Err(StreamError::Auth { record: i as u64 }),
                "record {i} byte {at}"
            );
        }
    }
}

#[test]
fn another_room_or_another_file_id_does_not_open() {
    let s = seal(&pattern(100));
    let mut other_room = StreamOpener::new(&Key([0x12; KEY_LEN]), FILE_ID, &s.header).unwrap();
    assert_eq!(
        other_room.open_next(&s.records[0]),
        Err(StreamError::Auth { record: 0 })
    );
    let mut other_file = StreamOpener::new(&root(), "transfer-43", &s.header).unwrap();
    assert_eq!(
        other_file.open_next(&s.records[0]),
        Err(StreamError::Auth { record: 0 })
    );
}

#[test]
fn keys_depend_on_root_file_id_and_salt() {
    let base = file_key(&root(), FILE_ID, &SALT).0;
    assert_eq!(base, file_key(&root(), FILE_ID, &SALT).0);
    assert_ne!(base, file_key(&Key([0x12; KEY_LEN]), FILE_ID, &SALT).0);
    assert_ne!(base, file_key(&root(), "transfer-43", &SALT).0);
    assert_ne!(base, file_key(&root(), FILE_ID, &[0x5B; SALT_LEN]).0);
    assert_ne!(base, root().0);
}

#[test]
fn wrong_lengths_and_data_after_the_last_record() {
    let s = seal(&pattern(RS + 1));
    let mut o = opener(&s.header);
    assert_eq!(o.expected_record_len(0), Some(RS + TAG_LEN));
    assert_eq!(o.expected_record_len(1), Some(1 + TAG_LEN));
    assert_eq!(o.expected_record_len(2), None);
    assert_eq!(
        o.open_next(&s.records[1]),
        Err(StreamError::WrongLength {
            expected: RS + TAG_LEN,
            got: 1 + TAG_LEN
        })
    );
    o.open_next(&s.records[0]).unwrap();
    o.open_next(&s.records[1]).unwrap();
    assert_eq!(o.open_next(&[]), Err(StreamError::AfterLast));
    assert_eq!(o.open_next(&s.records[1]), Err(StreamError::AfterLast));
    o.finish().unwrap();
}

/// SplitMix64: a tiny deterministic PRNG, so the property test needs no dependency and every
/// failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
}

#[test]
fn property_round_trip_and_single_bit_flip_over_many_sizes() {
    let mut rng = Rng(0x4855_5348);
    for case in 0..32 {
        let rs = if case % 3 == 0 {
            RECORD_SIZE
        } else {
            (MIN_RECORD_SIZE as u64 + rng.below(u64::from(MAX_RECORD_SIZE - MIN_RECORD_SIZE) + 1))
                as u32
        };
        // Sizes cluster around record boundaries, where off-by-one bugs live.
        let k = rng.below(4);
        let size = match rng.below(3) {
            0 => (k * u64::from(rs)).saturating_sub(rng.below(3)),
            1 => k * u64::from(rs) + rng.below(3),
            _ => rng.below(3 * u64::from(rs)),
        } as usize;
        let file_root = Key(rng.bytes());
        let id = format!("t{case}");
        let (salt, prefix) = (rng.bytes(), rng.bytes());
        let seed = rng.next() as usize;
        let data: Vec<u8> = (0..size)
            .map(|i| (i.wrapping_mul(7) ^ seed) as u8)
            .collect();

        let mut s =
            StreamSealer::with_record_size(&file_root, &id, size as u64, rs, salt, prefix).unwrap();
        let header = s.header();
        let mut records = Vec::new();
        let mut at = 0;
        while let Some(n) = s.next_plaintext_len() {
            records.push(s.seal_next(&data[at..at + n]).unwrap());
            at += n;
        }
        assert_eq!(records.len() as u64, records_for(size as u64, rs).unwrap());

        let mut o = StreamOpener::new(&file_root, &id, &header).unwrap();
        let mut out = Vec::new();
        for r in &records {
            out.extend(o.open_next(r).unwrap());
        }
        o.finish().unwrap();
        assert_eq!(out, data, "case {case}: size {size}, record size {rs}");

        // One random bit flipped in one random record: everything before it opens, it does not.
        let victim = rng.below(records.len() as u64) as usize;
        let mut bad = records[victim].clone();
        let bit = rng.below(bad.len() as u64 * 8) as usize;
        bad[bit / 8] ^= 1 << (bit % 8);
        let mut o = StreamOpener::new(&file_root, &id, &header).unwrap();
        for r in &records[..victim] {
            o.open_next(r).unwrap();
        }
        assert_eq!(
            o.open_next(&bad),
            Err(StreamError::Auth {
                record: victim as u64
            }),
            "case {case}"
        );
    }
}
