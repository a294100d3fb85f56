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

use fuzz_checks::session::{self, encode_frame};
use fuzz_checks::{deflate_echo, deflate_offer, echo, handshake, session_send, utf8};
use ngx_websocket_codec::mask;
use ngx_websocket_codec::session::{Config, Outgoing};
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
fn corpus_session() {
    replay("session", session::check);
}

#[test]
fn corpus_deflate_echo() {
    replay("deflate_echo", deflate_echo::check);
}

#[test]
fn corpus_deflate_offer() {
    replay("deflate_offer", deflate_offer::check);
}

#[test]
fn corpus_session_send() {
    replay("session_send", session_send::check);
}

#[test]
fn corpus_echo() {
    replay("echo", echo::check);
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
        Just(b"chat, superchat".to_vec()),
        Just(b" v2.json ,,".to_vec()),
        Just(b"chat superchat".to_vec()),
        Just(b" , ".to_vec()),
        Just(b"https://example.com".to_vec()),
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
        Just(b"Sec-WebSocket-Protocol".to_vec()),
        Just(b"origin".to_vec()),
        Just(b"Sec-WebSocket-Extensions".to_vec()),
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
        proptest::collection::vec((header_name(), header_value()), 0..12),
    )
}

/// One frame, masked as the role expects (`flip`: the other way, a
/// violation): a likely-valid first byte most of the time (RSV1 on some
/// data frames), a payload that is small, or large and repetitive.
#[derive(Debug, Clone)]
struct FrameSpec {
    b0: u8,
    payload: Vec<u8>,
    kind: u8,
    key: [u8; 4],
    flip: bool,
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    let b0 = prop_oneof![
        6 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80]),
        1 => prop::sample::select(vec![0xC1u8, 0x41, 0xC2, 0xC0]),
        2 => prop::sample::select(vec![0x89u8, 0x8A, 0x88]),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        6 => text_bytes(140),
        1 => (text_bytes(8), 126usize..20_000).prop_map(|(pat, n)| {
            let pat = if pat.is_empty() { vec![b'x'] } else { pat };
            pat.iter().copied().cycle().take(n).collect()
        }),
    ];
    (
        b0,
        payload,
        prop::sample::select(vec![0u8, 0, 0, 16, 64]),
        any::<[u8; 4]>(),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(b0, mut payload, kind, key, flip)| {
            if b0 & 0x0F == 0x8 && payload.len() >= 2 {
                // Mostly valid close codes.
                payload[..2].copy_from_slice(&1000u16.to_be_bytes());
            }
            if b0 & 0x08 != 0 {
                payload.truncate(125);
            }
            FrameSpec {
                b0,
                payload,
                kind,
                key,
                flip,
            }
        })
}

/// The frames as a stream for the role, cut short sometimes.
fn stream_of(frames: &[FrameSpec], server: bool, cut: Option<prop::sample::Index>) -> Vec<u8> {
    let mut stream = Vec::new();
    for f in frames {
        let masked = server != f.flip;
        let key = masked.then_some(f.key);
        stream.extend(encode_frame(f.b0, f.payload.len(), &f.payload, f.kind, key));
    }
    if let Some(cut) = cut {
        stream.truncate(cut.index(stream.len() + 1));
    }
    stream
}

fn session_case() -> impl Strategy<Value = session::Case> {
    let read = prop_oneof![
        4 => 1usize..70,
        2 => 61usize..4000,
        1 => Just(usize::MAX),
    ];
    (
        (
            proptest::bool::weighted(0.6),
            prop::sample::select(vec![0usize, 2, 6, 131, 256, 300, 1024, 16 * 1024]),
            prop::sample::select(vec![u64::MAX, 0, 125, 1000, 65_535, 1 << 20]),
            prop::sample::select(vec![u64::MAX, 0, 125, 1000, 4096, 65_536]),
            proptest::bool::weighted(0.3),
        ),
        prop::sample::select(vec![0usize, 1, 64, 4096]),
        proptest::bool::weighted(0.3),
        proptest::collection::vec(read, 0..10),
        proptest::collection::vec(frame_spec(), 0..8),
        proptest::option::weighted(0.2, any::<prop::sample::Index>()),
    )
        .prop_map(
            |(
                (server, whole, max_frame, max_message, rsv),
                slack,
                relocate,
                reads,
                frames,
                cut,
            )| {
                session::Case {
                    server,
                    config: Config {
                        max_frame_len: max_frame,
                        max_message_len: max_message,
                        whole_frame_max: whole,
                        message_rsv: if rsv { 4 } else { 0 },
                    },
                    capacity: whole.max(session::CONTROL_FRAME_MAX) + slack,
                    relocate,
                    reads,
                    stream: stream_of(&frames, server, cut),
                }
            },
        )
}

fn echo_case() -> impl Strategy<Value = echo::Case> {
    use echo::Op;
    let op = prop_oneof![
        4 => (1usize..70).prop_map(Op::Read),
        2 => (61usize..20_000).prop_map(Op::Read),
        3 => prop_oneof![(0usize..3000).prop_map(Op::Send), Just(Op::Send(usize::MAX))],
        1 => (1usize..20).prop_map(Op::Stall),
        1 => (0usize..127).prop_map(Op::Ping),
        1 => (0usize..8, 0usize..3).prop_map(|(c, r)| Op::Close(c, r)),
        1 => Just(Op::Release),
    ];
    (
        prop::sample::select(vec![2048usize, 4096, 1300, 8192, 64 * 1024, 256 * 1024]),
        prop::sample::select(vec![usize::MAX, 0, 256, 1024]),
        prop::sample::select(vec![1024usize, 0, 16 * 1024, 64]),
        prop::sample::select(vec![1u64 << 30, 0, 125, 1000, 65_535]),
        prop::sample::select(vec![u64::MAX, 0, 1000, 65_536]),
        proptest::collection::vec(op, 0..12),
        proptest::collection::vec(frame_spec(), 0..8),
        proptest::option::weighted(0.2, any::<prop::sample::Index>()),
    )
        .prop_map(
            |(
                capacity,
                whole_frame_max,
                compact_max,
                max_frame_len,
                max_message_len,
                ops,
                frames,
                cut,
            )| {
                echo::Case {
                    capacity,
                    whole_frame_max,
                    compact_max,
                    max_frame_len,
                    max_message_len,
                    ops,
                    stream: stream_of(&frames, true, cut),
                }
            },
        )
}

fn send_case() -> impl Strategy<Value = session_send::Case> {
    use session_send::{Op, Room};
    let frame = prop::sample::select(vec![
        Outgoing::Text,
        Outgoing::Binary,
        Outgoing::Continuation,
    ]);
    let room = prop_oneof![
        6 => Just(Room::Delta(0)),
        2 => (-16i32..16).prop_map(Room::Delta),
        1 => (0usize..300).prop_map(Room::Exactly),
    ];
    let rsv = prop_oneof![4 => Just(0u8), 2 => Just(4u8), 1 => 0u8..16];
    let len = prop_oneof![
        4 => 0u64..300,
        1 => prop::sample::select(vec![125u64, 126, 65_535, 65_536, 1 << 32, (1 << 63) - 1]),
        1 => 0u64..(1 << 63),
    ];
    let code = prop_oneof![
        1 => Just(None),
        4 => prop::sample::select(vec![1000u16, 1001, 1003, 1004, 1005, 1006, 1011, 1012, 2999, 3000, 4999, 5000]).prop_map(Some),
        1 => any::<u16>().prop_map(Some),
    ];
    let op = prop_oneof![
        3 => (frame.clone(), any::<bool>(), rsv.clone(), len)
            .prop_map(|(frame, fin, rsv, len)| Op::DataHeader { frame, fin, rsv, len }),
        4 => (frame, any::<bool>(), rsv, prop_oneof![4 => 0usize..300, 1 => 0usize..70_000], room.clone())
            .prop_map(|(frame, fin, rsv, len, room)| Op::EncodeData { frame, fin, rsv, len, room }),
        1 => (any::<bool>(), 0usize..130).prop_map(|(pong, len)| Op::ControlHeader { pong, len }),
        2 => (any::<bool>(), 0usize..130, room.clone())
            .prop_map(|(pong, len, room)| Op::EncodeControl { pong, len, room }),
        1 => (code, 0usize..140, 0usize..8, room)
            .prop_map(|(code, n, sel, room)| Op::EncodeClose { code, reason: session_send::reason(n, sel), room }),
        1 => proptest::option::of(Just(1000u16)).prop_map(Op::ReceiveClose),
    ];
    (
        any::<bool>(),
        prop::sample::select(vec![0u8, 4, 7, 1]),
        any::<[u8; 32]>(),
        proptest::collection::vec(op, 0..40),
    )
        .prop_map(|(server, message_rsv, seed, ops)| session_send::Case {
            server,
            message_rsv,
            seed,
            ops,
        })
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
    fn session_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        session::check(&data);
    }

    #[test]
    fn echo_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        echo::check(&data);
    }

    #[test]
    fn session_send_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        session_send::check(&data);
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
        // Callers pass equal lengths, which a debug assertion checks; a
        // release build must process only `min(src, dst)` bytes.
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
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn session_agrees_with_reference(case in session_case()) {
        session::check_case(&case);
    }

    #[test]
    fn echo_agrees_with_reference(case in echo_case()) {
        echo::check_case(&case);
    }

    #[test]
    fn session_send_follows_the_rules(case in send_case()) {
        session_send::check_case(&case);
    }
}

// ---------------------------------------------------------------------------
// client_handshake: the client side of the opening handshake.

#[test]
fn corpus_client_handshake() {
    replay("client_handshake", fuzz_checks::client_handshake::check);
}

/// A response header line, mostly ones that matter to the checks.
/// `{accept}` stands for the right `Sec-WebSocket-Accept` value of the key.
fn client_response_line() -> impl Strategy<Value = Vec<u8>> {
    let protocol = prop::sample::select(vec!["chat", "superchat", "Chat", "x", "", "chat, x"]);
    let extensions = prop::sample::select(vec![
        "permessage-deflate",
        "x-foo; a=1, permessage-deflate; client_max_window_bits=9",
        "x-bar",
        ", x-foo",
        "",
    ]);
    prop_oneof![
        4 => Just(b"Upgrade: websocket".to_vec()),
        4 => Just(b"Connection: Upgrade".to_vec()),
        4 => Just(b"Sec-WebSocket-Accept: {accept}".to_vec()),
        1 => Just(b"upgrade: h2c, WebSocket".to_vec()),
        1 => Just(b"CONNECTION:keep-alive,upgrade ".to_vec()),
        1 => Just(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_vec()),
        2 => protocol.prop_map(|p| format!("Sec-WebSocket-Protocol: {p}").into_bytes()),
        2 => extensions.prop_map(|e| format!("sec-websocket-extensions: {e}").into_bytes()),
        1 => Just(b" folded".to_vec()),
        1 => Just(b"Bad Name: x".to_vec()),
        1 => Just(b"X: a\0b".to_vec()),
        1 => Just(b"NoColon".to_vec()),
        1 => Just(b"Server: x\tb \x80".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ]
}

type ClientResponseInput = (
    [u8; 16],
    Vec<&'static [u8]>,
    Option<&'static [u8]>,
    Vec<u8>,
    Vec<(Vec<u8>, bool)>,
    Vec<u8>,
    Vec<usize>,
    usize,
);

fn client_response_input() -> impl Strategy<Value = ClientResponseInput> {
    let status = prop_oneof![
        6 => Just(b"HTTP/1.1 101 Switching Protocols\r\n".to_vec()),
        1 => Just(b"HTTP/1.1 101\r\n".to_vec()),
        1 => Just(b"HTTP/1.2 101 \r\n".to_vec()),
        1 => Just(b"HTTP/1.0 101 Switching Protocols\r\n".to_vec()),
        1 => Just(b"HTTP/1.1 403 Forbidden\r\n".to_vec()),
        1 => Just(b"HTTP/1.1 101 Switching Protocols\n".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
    ];
    (
        prop_oneof![3 => Just(*b"the sample nonce"), 1 => any::<[u8; 16]>()],
        prop::sample::subsequence(vec![&b"chat"[..], b"superchat", b"x"], 0..=3),
        prop::option::of(prop::sample::select(vec![
            &b"permessage-deflate; client_max_window_bits"[..],
            b"x-foo, permessage-deflate",
            b"x-foo",
        ])),
        status,
        // Each line ends in CRLF, or sometimes in a bare LF.
        proptest::collection::vec(
            (client_response_line(), proptest::bool::weighted(0.95)),
            0..8,
        ),
        // The end of the header (or not), then the first frames.
        prop_oneof![
            6 => Just(b"\r\n".to_vec()),
            1 => Just(Vec::new()),
            1 => Just(b"\r\n\x81\x05Hello\r\n\r\n".to_vec()),
        ],
        proptest::collection::vec(0usize..40, 0..6),
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
    )
}

type ClientRequestInput = (
    [u8; 16],
    Vec<u8>,
    Vec<u8>,
    Vec<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

/// Mostly valid request parts, sometimes arbitrary bytes.
fn client_request_input() -> impl Strategy<Value = ClientRequestInput> {
    fn part(valid: Vec<&'static str>, max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => prop::sample::select(valid).prop_map(|s| s.as_bytes().to_vec()),
            1 => proptest::collection::vec(any::<u8>(), 0..max),
        ]
    }
    (
        any::<[u8; 16]>(),
        part(vec!["example.com", "[::1]:8080", "a"], 10),
        part(vec!["/", "/chat?room=1", "/a%20b/\u{e9}"], 10),
        proptest::collection::vec(part(vec!["chat", "superchat", "v2.x"], 6), 0..4),
        prop::option::of(part(
            vec![
                "permessage-deflate; client_max_window_bits",
                "x-foo, x-bar;a=1",
            ],
            10,
        )),
        proptest::collection::vec(
            (
                part(
                    vec![
                        "Cookie",
                        "X-Forwarded-For",
                        "Origin",
                        "Authorization",
                        // The handshake's own, which are refused.
                        "Host",
                        "upgrade",
                        "Connection",
                        "Sec-WebSocket-Key",
                        "sec-websocket-version",
                        "SEC-WEBSOCKET-PROTOCOL",
                        "Sec-WebSocket-Extensions",
                        "CONTENT-LENGTH",
                        "transfer-encoding",
                    ],
                    8,
                ),
                part(
                    vec!["a=b; c=d", "", "192.0.2.1", "x\ty", "a\x7f", "\u{e9}"],
                    10,
                ),
            ),
            0..4,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn client_handshake_agrees_with_reference(
        response in client_response_input(),
        request in client_request_input(),
    ) {
        use fuzz_checks::client_handshake::{self as ch, RequestCase, ResponseCase};

        let (key, protocols, extensions, status, lines, end, pieces, limit) = response;
        let accept = ch::ref_accept(&key);
        let mut bytes = status;
        for (line, crlf) in &lines {
            match line.windows(8).position(|w| w == b"{accept}") {
                Some(i) => {
                    bytes.extend_from_slice(&line[..i]);
                    bytes.extend_from_slice(&accept);
                    bytes.extend_from_slice(&line[i + 8..]);
                }
                None => bytes.extend_from_slice(line),
            }
            bytes.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        bytes.extend_from_slice(&end);
        ch::check_response_case(&ResponseCase {
            limit,
            pieces,
            key,
            protocols,
            extensions,
            response: &bytes,
        });

        let (key, host, path, protocols, extensions, headers) = &request;
        ch::check_request_case(&RequestCase {
            key: *key,
            host,
            path,
            protocols: protocols.iter().map(Vec::as_slice).collect(),
            extensions: extensions.as_deref(),
            headers: headers.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
        });
    }
}

// ---------------------------------------------------------------------------
// Regressions: codec bugs these checks found, each fixed.

/// `echo::process` counts the header of a streamed frame whose first piece
/// fails in `Progress.consumed`, but does not consume it from the buffer.
#[test]
fn known_bug_echo_progress_on_failure() {
    use ngx_websocket_codec::{echo as codec_echo, FrameBuffer, Session};
    // A masked text frame of one byte, 0xFF (key 0), streamed.
    let frame = [0x81u8, 0x81, 0, 0, 0, 0, 0xFF];
    let mut s = Session::server(Config {
        whole_frame_max: 0,
        ..Config::default()
    });
    let mut b = FrameBuffer::new(4096);
    b.push_input(&frame);
    let p = codec_echo::process(&mut s, &mut b);
    assert_eq!(s.failed(), Some(1007));
    assert_eq!(p.consumed, frame.len() - b.input_len(), "{p:?}");
}

/// `MAX_CONTROL_FRAME` (131) is documented as the longest control frame on
/// the wire, but the session accepts non-minimal lengths: a masked ping
/// with a 64-bit length field and 125 bytes is 139 bytes, so a caller with
/// a buffer of `MAX_CONTROL_FRAME` bytes can never receive it.
#[test]
fn known_bug_max_control_frame() {
    use ngx_websocket_codec::session::{Session, MAX_CONTROL_FRAME};
    let ping = encode_frame(0x89, 125, &[b'x'; 125], 64, Some([1, 2, 3, 4]));
    let mut s = Session::server(Config::default());
    let mut buf = ping[..MAX_CONTROL_FRAME.min(ping.len())].to_vec();
    let step = s.next_event(&mut buf);
    assert!(
        step.consumed > 0 || step.event.is_some(),
        "a {}-byte ping does not fit a buffer of MAX_CONTROL_FRAME = {MAX_CONTROL_FRAME} bytes",
        ping.len()
    );
}

/// `data_header` accepts a length of 2^63 or more and writes a header with
/// the length's top bit set, which RFC 6455 5.2 forbids and every receiver
/// (this crate's `frame::parse_header` included) refuses.
#[test]
fn known_bug_data_header_top_bit() {
    use ngx_websocket_codec::{frame, Session};
    let mut s = Session::server(Config::default());
    if let Ok(h) = s.data_header(Outgoing::Binary, true, 0, 1 << 63) {
        assert!(
            frame::parse_header(h.as_bytes()).is_ok(),
            "header {:x?} is not a valid frame header",
            h.as_bytes()
        );
    }
}

/// `stats().bytes_out` adds announced lengths unchecked: three headers of
/// 2^63 - 1 bytes overflow it (a panic under debug assertions, a wrap in
/// release builds).
#[test]
fn known_bug_bytes_out_overflow() {
    use ngx_websocket_codec::Session;
    let r = std::panic::catch_unwind(|| {
        let mut s = Session::server(Config::default());
        let mut last = 0;
        for _ in 0..3 {
            s.data_header(Outgoing::Binary, true, 0, (1 << 63) - 1)
                .unwrap();
            assert!(s.stats().bytes_out >= last, "bytes_out went down");
            last = s.stats().bytes_out;
        }
    });
    assert!(r.is_ok(), "data_header panicked, or bytes_out went down");
}
