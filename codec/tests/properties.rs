//! The fuzz checks of `codec/fuzz` under plain `cargo test` (stable, no
//! libFuzzer): every file of the committed corpus `codec/fuzz/corpus/<target>`
//! is replayed, then proptest feeds each check generated cases (structured
//! toward valid traffic, which random bytes rarely hit).
//!
//! The checks and their reference models live in `codec/fuzz/src/`, included
//! here with `#[path]` so that both runners share one copy.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_checks;

use fuzz_checks::session_split::{self, client_frame, Case, Op};
use fuzz_checks::{handshake, utf8};
use ngx_websocket_codec::{mask, EchoConfig};
use proptest::prelude::*;
use std::path::PathBuf;

/// The committed corpus of one target (never empty).
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).expect("corpus file");
            (p, data)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in corpus(target) {
        // Printed only if a check panics.
        println!("{}", path.display());
        check(&data);
    }
}

#[test]
fn corpus_session_split() {
    replay("session_split", session_split::check);
}

#[test]
fn corpus_handshake() {
    replay("handshake", handshake::check);
}

#[test]
fn corpus_utf8() {
    replay("utf8", utf8::check);
}

// ---------------------------------------------------------------------------
// Strategies.

/// Bytes that are mostly valid UTF-8 text, sometimes arbitrary.
fn text_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<char>(), 0..max / 4 + 1)
            .prop_map(|cs| cs.into_iter().collect::<String>().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..max),
    ]
}

fn utf8_pieces() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // A text cut into pieces, plus an occasional stray byte.
    (
        text_bytes(64),
        proptest::collection::vec(0usize..8, 0..12),
        proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(mut text, cuts, stray)| {
            if let Some((at, b)) = stray {
                let i = at.index(text.len() + 1);
                text.insert(i, b);
            }
            let cut_sizes: Vec<usize> = cuts;
            let mut pieces = Vec::new();
            let mut rest = &text[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cut_sizes
                    .get(i)
                    .copied()
                    .unwrap_or(rest.len())
                    .min(rest.len());
                pieces.push(rest[..n].to_vec());
                rest = &rest[n..];
                i += 1;
            }
            pieces
        })
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"websocket".to_vec()),
        Just(b" Upgrade ".to_vec()),
        Just(b"keep-alive, upgrade".to_vec()),
        Just(b"13".to_vec()),
        Just(b"dGhlIHNhbXBsZSBub25jZQ==".to_vec()),
        // Random 16 bytes in base64, or a near miss.
        proptest::collection::vec(0u8..64, 22).prop_map(|cs| {
            let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut v: Vec<u8> = cs.iter().map(|&c| b64[usize::from(c)]).collect();
            v.extend_from_slice(b"==");
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..30),
    ]
}

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Upgrade".to_vec()),
        Just(b"CONNECTION".to_vec()),
        Just(b"sec-websocket-key".to_vec()),
        Just(b"Sec-WebSocket-Version".to_vec()),
        Just(b"Host".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

type HandshakeInput = (Vec<u8>, u32, bool, bool, Vec<(Vec<u8>, Vec<u8>)>);

fn handshake_input() -> impl Strategy<Value = HandshakeInput> {
    (
        prop_oneof![4 => Just(b"GET".to_vec()), 1 => proptest::collection::vec(any::<u8>(), 0..5)],
        prop_oneof![4 => Just(1001u32), 1 => Just(1000u32), 1 => Just(2000u32), 1 => any::<u32>()],
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.1),
        proptest::collection::vec((header_name(), header_value()), 0..8),
    )
}

/// One client frame: a likely-valid first byte most of the time, a payload
/// that is small, or large and repetitive; masked most of the time.
fn client_frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    let b0 = prop_oneof![
        6 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80]),
        2 => prop::sample::select(vec![0x89u8, 0x8A, 0x88]),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        6 => text_bytes(140),
        1 => (text_bytes(8), 200usize..20_000).prop_map(|(pat, n)| {
            let pat = if pat.is_empty() { vec![b'x'] } else { pat };
            pat.iter().copied().cycle().take(n).collect()
        }),
    ];
    let key = prop_oneof![9 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)];
    (
        b0,
        payload,
        prop::sample::select(vec![0u8, 0, 0, 16, 64]),
        key,
    )
        .prop_map(|(b0, mut payload, kind, key)| {
            if b0 & 0x0F == 0x8 && payload.len() >= 2 {
                // Mostly valid close codes.
                payload[..2].copy_from_slice(&1000u16.to_be_bytes());
            }
            if b0 & 0x08 != 0 {
                payload.truncate(125);
            }
            client_frame(b0, &payload, kind, key)
        })
}

fn session_case() -> impl Strategy<Value = Case> {
    let op = prop_oneof![
        4 => (1usize..70).prop_map(Op::Read),
        1 => (61usize..4000).prop_map(Op::Read),
        3 => prop_oneof![(0usize..2400).prop_map(Op::Drain), Just(Op::Drain(usize::MAX))],
        1 => (0usize..190).prop_map(Op::Ping),
    ];
    (
        prop::sample::select(vec![256usize, 300, 1024, 16 * 1024]),
        prop::sample::select(vec![u64::MAX, 0, 125, 126, 1000, 65_535]),
        prop::sample::select(vec![0usize, 1, 64, 4096]),
        prop::sample::select(vec![64usize, 0, 1, 1000]),
        proptest::collection::vec(op, 0..10),
        proptest::collection::vec(client_frame_strategy(), 0..8),
        any::<prop::sample::Index>(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(whole, max_payload_len, in_slack, out_slack, ops, frames, cut, truncate)| {
                let mut stream = frames.concat();
                if truncate {
                    stream.truncate(cut.index(stream.len() + 1));
                }
                Case {
                    config: EchoConfig {
                        max_payload_len,
                        whole_frame_max: whole,
                    },
                    in_cap: whole + in_slack,
                    out_cap: whole.max(522) + out_slack,
                    ops,
                    stream,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn utf8_pieces_agree_with_std(pieces in utf8_pieces()) {
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        utf8::check_pieces(&refs);
    }

    #[test]
    fn utf8_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        utf8::check(&data);
    }

    #[test]
    fn handshake_agrees_with_reference(input in handshake_input()) {
        let (method, http_version, has_body, is_subrequest, headers) = &input;
        handshake::check_case(&handshake::Case {
            method,
            http_version: *http_version,
            has_body: *has_body,
            is_subrequest: *is_subrequest,
            headers: headers.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
        });
    }

    #[test]
    fn session_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        session_split::check(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Masking in place and while copying, at any key phase and length
    /// (the wide loops, their remainders, and offsets near usize::MAX),
    /// equals the byte-at-a-time definition of RFC 6455 5.3.
    #[test]
    fn masking_matches_definition(
        buf in proptest::collection::vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        offset in prop_oneof![0usize..64, any::<usize>()],
        dst_extra in 0usize..3,
    ) {
        let want: Vec<u8> = buf
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(offset % 4 + i) % 4])
            .collect();
        let mut inplace = buf.clone();
        mask::apply_mask(&mut inplace, key, offset);
        prop_assert_eq!(&inplace, &want);
        let mut dst = vec![0xA5u8; buf.len() + dst_extra];
        mask::apply_mask_copy(&buf, &mut dst, key, offset);
        prop_assert_eq!(&dst[..buf.len()], &want[..]);
        prop_assert!(dst[buf.len()..].iter().all(|&b| b == 0xA5));
        // In two pieces, the second continuing the key phase.
        let cut = buf.len() / 3;
        let mut pieces = buf.clone();
        mask::apply_mask(&mut pieces[..cut], key, offset);
        mask::apply_mask(&mut pieces[cut..], key, offset.wrapping_add(cut));
        prop_assert_eq!(&pieces, &want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn session_split_agrees_with_reference(case in session_case()) {
        session_split::check_case(&case);
    }
}
