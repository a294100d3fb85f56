//! Tests of every receive and send rule of the session, in both roles,
//! through a small caller that keeps unconsumed input the way a real one
//! does (appending each new chunk after it).

use super::*;
use crate::frame::{OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Who sends the frames a test feeds in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Peer {
    /// A client: masked frames, decoded by a server session.
    Client,
    /// A server: unmasked frames, decoded by a client session.
    Server,
}

const PEERS: [Peer; 2] = [Peer::Client, Peer::Server];

fn session_for(peer: Peer, config: Config) -> Session {
    match peer {
        Peer::Client => Session::server(config),
        Peer::Server => Session::new(Role::client([7; 32]), config),
    }
}

/// A frame as `peer` sends it: first byte `b0`, minimal length.
fn raw(peer: Peer, b0: u8, payload: &[u8]) -> Vec<u8> {
    frame::test_frame(b0, payload, (peer == Peer::Client).then_some(KEY))
}

fn fr(peer: Peer, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(peer, if fin { 0x80 } else { 0 } | opcode, payload)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// An owned record of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data {
        kind: MessageKind,
        rsv: u8,
        /// (message_start, frame_start, frame_end, message_end)
        flags: (bool, bool, bool, bool),
        frame_len: u64,
        payload: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Failed(u16, &'static str),
}

fn record(e: Event<'_>) -> Ev {
    match e {
        Event::Data(p) => Ev::Data {
            kind: p.kind,
            rsv: p.rsv,
            flags: (p.message_start, p.frame_start, p.frame_end, p.message_end),
            frame_len: p.frame_len,
            payload: p.payload.to_vec(),
        },
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c.code, c.reason.to_string()),
        Event::Failed(f) => Ev::Failed(f.code, f.reason),
    }
}

/// Feed `stream` in chunks of `chunk` bytes (0: all at once), keeping
/// unconsumed bytes; returns the events and the bytes left unconsumed.
fn feed(s: &mut Session, stream: &[u8], chunk: usize) -> (Vec<Ev>, usize) {
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let chunk = if chunk == 0 {
        stream.len().max(1)
    } else {
        chunk
    };
    for piece in stream.chunks(chunk) {
        pending.extend_from_slice(piece);
        loop {
            let step = s.next_event(&mut pending);
            let consumed = step.consumed;
            let got = step.event.map(record);
            assert!(consumed <= pending.len());
            pending.drain(..consumed);
            match got {
                Some(e) => events.push(e),
                None if consumed == 0 => break,
                None => {}
            }
        }
    }
    (events, pending.len())
}

fn events(peer: Peer, config: Config, stream: &[u8]) -> Vec<Ev> {
    feed(&mut session_for(peer, config), stream, 0).0
}

fn whole() -> Config {
    Config {
        whole_frame_max: 4096,
        ..Config::default()
    }
}

fn failed_with(evs: &[Ev]) -> Option<u16> {
    match evs.last() {
        Some(Ev::Failed(code, _)) => Some(*code),
        _ => None,
    }
}

/// Data payloads of a message, joined.
fn joined(evs: &[Ev]) -> Vec<u8> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Data { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn whole_frames_are_delivered_whole_in_both_roles() {
    for peer in PEERS {
        let mut stream = fr(peer, true, OP_TEXT, b"hello");
        stream.extend(fr(peer, true, OP_BINARY, &[0, 1, 2]));
        stream.extend(fr(peer, true, OP_BINARY, b""));
        let evs = events(peer, whole(), &stream);
        assert_eq!(
            evs,
            vec![
                Ev::Data {
                    kind: MessageKind::Text,
                    rsv: 0,
                    flags: (true, true, true, true),
                    frame_len: 5,
                    payload: b"hello".to_vec()
                },
                Ev::Data {
                    kind: MessageKind::Binary,
                    rsv: 0,
                    flags: (true, true, true, true),
                    frame_len: 3,
                    payload: vec![0, 1, 2]
                },
                Ev::Data {
                    kind: MessageKind::Binary,
                    rsv: 0,
                    flags: (true, true, true, true),
                    frame_len: 0,
                    payload: vec![]
                },
            ],
            "{peer:?}"
        );
    }
}

#[test]
fn whole_frames_wait_until_complete() {
    for peer in PEERS {
        let f = fr(peer, true, OP_BINARY, &[9u8; 300]);
        let mut s = session_for(peer, whole());
        let (evs, left) = feed(&mut s, &f[..f.len() - 1], 0);
        assert!(evs.is_empty());
        assert_eq!(
            left,
            f.len() - 1,
            "nothing consumed before the frame is complete"
        );
        assert!(s.is_idle());
        let (evs, left) = feed(&mut s, &f, 7);
        assert_eq!(joined(&evs), vec![9u8; 300]);
        assert_eq!((evs.len(), left), (1, 0));
    }
}

#[test]
fn streamed_frames_arrive_in_pieces_with_the_key_phase_kept() {
    for peer in PEERS {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let f = fr(peer, true, OP_BINARY, &payload);
        for chunk in [1, 3, 5, 64, 999, 2000] {
            let mut s = session_for(peer, Config::default());
            let (evs, left) = feed(&mut s, &f, chunk);
            assert_eq!(left, 0);
            assert_eq!(joined(&evs), payload, "{peer:?} chunk {chunk}");
            let n = evs.len();
            for (i, e) in evs.iter().enumerate() {
                let Ev::Data {
                    flags, frame_len, ..
                } = e
                else {
                    panic!("{e:?}")
                };
                assert_eq!(*frame_len, 1000);
                assert_eq!(
                    *flags,
                    (i == 0, i == 0, i + 1 == n, i + 1 == n),
                    "piece {i}"
                );
            }
            assert!(s.is_idle());
        }
    }
}

#[test]
fn fragments_and_control_frames_between_them() {
    for peer in PEERS {
        for config in [whole(), Config::default()] {
            let mut stream = fr(peer, false, OP_TEXT, b"Hel");
            stream.extend(fr(peer, true, OP_PING, b"p"));
            stream.extend(fr(peer, false, OP_CONTINUATION, b""));
            stream.extend(fr(peer, true, OP_PONG, b"q"));
            stream.extend(fr(peer, true, OP_CONTINUATION, b"lo"));
            let evs = events(peer, config, &stream);
            assert_eq!(joined(&evs), b"Hello");
            assert!(evs.contains(&Ev::Ping(b"p".to_vec())));
            assert!(evs.contains(&Ev::Pong(b"q".to_vec())));
            let data: Vec<_> = evs
                .iter()
                .filter_map(|e| match e {
                    Ev::Data { flags, kind, .. } => Some((*flags, *kind)),
                    _ => None,
                })
                .collect();
            assert_eq!(data.first().map(|d| d.0 .0), Some(true));
            assert_eq!(data.last().map(|d| d.0 .3), Some(true));
            assert!(data.iter().all(|d| d.1 == MessageKind::Text));
            // The ping comes after the first fragment and before the last.
            let ping = evs.iter().position(|e| matches!(e, Ev::Ping(_)));
            assert_eq!(ping, Some(1));
        }
    }
}

#[test]
fn reserved_bits_need_an_extension() {
    for peer in PEERS {
        for rsv in 1..8u8 {
            let f = raw(peer, 0x81 | (rsv << 4), b"x");
            assert_eq!(failed_with(&events(peer, whole(), &f)), Some(1002));
        }
        // RSV1 claimed by an extension: allowed on a message's first frame,
        // reported, and the (transformed) text is not UTF-8 checked here.
        let ext = Config {
            message_rsv: 4,
            ..whole()
        };
        let mut stream = raw(peer, 0x41, &[0xFF, 0xFE]);
        stream.extend(fr(peer, true, OP_CONTINUATION, &[0xC0]));
        let evs = events(peer, ext, &stream);
        assert!(matches!(evs[0], Ev::Data { rsv: 4, .. }), "{evs:?}");
        assert!(matches!(evs[1], Ev::Data { rsv: 4, .. }), "{evs:?}");
        // Not on continuations, control frames, or other bits.
        for bad in [
            [fr(peer, false, OP_TEXT, b"a"), raw(peer, 0xC0, b"b")].concat(),
            raw(peer, 0xC9, b""),
            raw(peer, 0xA1, b"a"),
        ] {
            assert_eq!(
                failed_with(&events(peer, ext, &bad)),
                Some(1002),
                "{bad:x?}"
            );
        }
    }
}

#[test]
fn unknown_opcodes_fail() {
    for peer in PEERS {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let f = raw(peer, 0x80 | op, b"");
            let evs = events(peer, whole(), &f);
            assert_eq!(evs, vec![Ev::Failed(1002, "unknown opcode")], "{op:#x}");
        }
    }
}

#[test]
fn masking_must_match_the_role() {
    // A client's frame (masked) to a client session, a server's (unmasked)
    // to a server session.
    let masked = fr(Peer::Client, true, OP_TEXT, b"hi");
    let unmasked = fr(Peer::Server, true, OP_TEXT, b"hi");
    assert_eq!(
        events(Peer::Server, whole(), &masked),
        vec![Ev::Failed(1002, "masked frame from a server")]
    );
    assert_eq!(
        events(Peer::Client, whole(), &unmasked),
        vec![Ev::Failed(1002, "unmasked frame")]
    );
}

#[test]
fn control_frame_rules() {
    for peer in PEERS {
        let long = fr(peer, true, OP_PING, &[0u8; 126]);
        assert_eq!(
            events(peer, whole(), &long),
            vec![Ev::Failed(1002, "control frame too long")]
        );
        let frag = fr(peer, false, OP_PONG, b"");
        assert_eq!(
            events(peer, whole(), &frag),
            vec![Ev::Failed(1002, "fragmented control frame")]
        );
        // 125 bytes is fine, and control frames are whole even when
        // streaming everything else.
        let max = fr(peer, true, OP_PING, &[1u8; 125]);
        assert_eq!(
            feed(&mut session_for(peer, Config::default()), &max, 1).0,
            vec![Ev::Ping(vec![1u8; 125])]
        );
    }
}

#[test]
fn continuation_rules() {
    for peer in PEERS {
        let cont = fr(peer, true, OP_CONTINUATION, b"x");
        assert_eq!(
            events(peer, whole(), &cont),
            vec![Ev::Failed(1002, "continuation without a message")]
        );
        let mut inside = fr(peer, false, OP_BINARY, b"a");
        inside.extend(fr(peer, true, OP_TEXT, b"b"));
        assert_eq!(
            failed_with(&events(peer, Config::default(), &inside)),
            Some(1002)
        );
    }
}

#[test]
fn length_with_the_top_bit_fails_from_the_length_alone() {
    for peer in PEERS {
        let mut f = vec![0x82, 127 | if peer == Peer::Client { 0x80 } else { 0 }];
        f.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(
            events(peer, whole(), &f),
            vec![Ev::Failed(1002, "frame length top bit set")]
        );
    }
}

#[test]
fn frame_and_message_limits() {
    for peer in PEERS {
        let limits = Config {
            max_frame_len: 100,
            max_message_len: 250,
            whole_frame_max: 4096,
            message_rsv: 0,
        };
        // At the frame limit: fine; over: 1009 from the header alone.
        assert_eq!(
            joined(&events(peer, limits, &fr(peer, true, OP_BINARY, &[0; 100]))).len(),
            100
        );
        let mut s = session_for(peer, limits);
        let over = fr(peer, true, OP_BINARY, &[0; 101]);
        let hl = frame::header_len(101, peer == Peer::Client);
        let mut head = over[..hl].to_vec();
        let step = s.next_event(&mut head);
        match step.event {
            Some(Event::Failed(f)) => {
                assert_eq!(
                    (f.code, f.reason, f.frame_len),
                    (1009, "frame too big", 101)
                )
            }
            other => panic!("{other:?}"),
        }
        // Message limit across fragments: 100 + 100 + 50 fine, + 1 over.
        let mut ok = fr(peer, false, OP_TEXT, &[b'a'; 100]);
        ok.extend(fr(peer, false, OP_CONTINUATION, &[b'b'; 100]));
        ok.extend(fr(peer, true, OP_CONTINUATION, &[b'c'; 50]));
        assert_eq!(joined(&events(peer, limits, &ok)).len(), 250);
        let mut bad = fr(peer, false, OP_TEXT, &[b'a'; 100]);
        bad.extend(fr(peer, false, OP_CONTINUATION, &[b'b'; 100]));
        bad.extend(fr(peer, true, OP_CONTINUATION, &[b'c'; 51]));
        let evs = events(peer, limits, &bad);
        assert_eq!(evs.last(), Some(&Ev::Failed(1009, "message too big")));
        assert_eq!(
            joined(&evs).len(),
            200,
            "the first two frames were delivered"
        );
        // The limit counts messages separately.
        let mut two = fr(peer, true, OP_BINARY, &[0; 100]);
        for _ in 0..5 {
            two.extend(fr(peer, true, OP_BINARY, &[0; 100]));
        }
        assert_eq!(failed_with(&events(peer, limits, &two)), None);
    }
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte() {
    for peer in PEERS {
        for config in [whole(), Config::default()] {
            // Valid text split inside a code point across fragments.
            let euro = "\u{20ac}".as_bytes();
            let mut ok = fr(peer, false, OP_TEXT, &euro[..1]);
            ok.extend(fr(peer, true, OP_CONTINUATION, &euro[1..]));
            assert_eq!(joined(&events(peer, config, &ok)), euro);
            // A message that ends inside a code point.
            let cut = fr(peer, true, OP_TEXT, &euro[..2]);
            assert_eq!(
                events(peer, config, &cut),
                vec![Ev::Failed(1007, "invalid UTF-8 in text message")]
            );
            // Invalid in the middle of a long frame, before it is complete:
            // the session fails without waiting for the rest.
            let mut text = vec![b'a'; 1000];
            text[10] = 0xFF;
            let f = fr(peer, true, OP_TEXT, &text);
            let (evs, _) = feed(&mut session_for(peer, config), &f[..40], 0);
            assert_eq!(failed_with(&evs), Some(1007), "{peer:?} {config:?}");
            assert!(joined(&evs).is_empty(), "no invalid text is delivered");
            // Binary is not checked.
            let bin = fr(peer, true, OP_BINARY, &[0xFF; 10]);
            assert_eq!(failed_with(&events(peer, config, &bin)), None);
        }
    }
}

#[test]
fn early_check_resumes_where_it_stopped() {
    for peer in PEERS {
        let text: Vec<u8> = "κόσμε".repeat(50).into_bytes();
        let f = fr(peer, true, OP_TEXT, &text);
        for chunk in [1, 2, 3, 7, 100] {
            let (evs, left) = feed(&mut session_for(peer, whole()), &f, chunk);
            assert_eq!((evs.len(), left), (1, 0), "{peer:?} chunk {chunk}");
            assert_eq!(joined(&evs), text);
        }
    }
}

#[test]
fn close_frames() {
    for peer in PEERS {
        // Empty close: code 1005 for reporting.
        let mut s = session_for(peer, whole());
        let (evs, _) = feed(&mut s, &fr(peer, true, OP_CLOSE, b""), 0);
        assert_eq!(evs, vec![Ev::Close(None, String::new())]);
        assert_eq!(s.close_received(), Some(1005));
        assert!(!s.is_receiving());
        // Nothing is decoded after a close.
        let (evs, left) = feed(&mut s, &fr(peer, true, OP_TEXT, b"x"), 0);
        assert!(evs.is_empty());
        assert!(left > 0);

        let good = fr(
            peer,
            true,
            OP_CLOSE,
            &close_payload(4001, "bye ✓".as_bytes()),
        );
        assert_eq!(
            events(peer, whole(), &good),
            vec![Ev::Close(Some(4001), "bye ✓".to_string())]
        );
        assert_eq!(
            events(peer, whole(), &fr(peer, true, OP_CLOSE, &[3])),
            vec![Ev::Failed(1002, "close payload of 1 byte")]
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535] {
            let mut s = session_for(peer, whole());
            let f = fr(peer, true, OP_CLOSE, &close_payload(code, b""));
            let mut input = f.clone();
            match s.next_event(&mut input).event {
                Some(Event::Failed(x)) => {
                    assert_eq!((x.code, x.received_code), (1002, Some(code)))
                }
                other => panic!("{code}: {other:?}"),
            }
            assert_eq!(s.failed(), Some(1002));
        }
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            let f = fr(peer, true, OP_CLOSE, &close_payload(code, b""));
            assert_eq!(
                events(peer, whole(), &f),
                vec![Ev::Close(Some(code), String::new())]
            );
        }
        let bad_reason = fr(peer, true, OP_CLOSE, &close_payload(1000, &[0xC0, 0x80]));
        assert_eq!(
            events(peer, whole(), &bad_reason),
            vec![Ev::Failed(1007, "invalid UTF-8 in close reason")]
        );
    }
}

#[test]
fn every_split_point_gives_the_same_messages() {
    for peer in PEERS {
        let mut stream = fr(peer, false, OP_TEXT, "héllo ".as_bytes());
        stream.extend(fr(peer, true, OP_PING, b"ping"));
        stream.extend(fr(peer, true, OP_CONTINUATION, "wörld".as_bytes()));
        stream.extend(fr(peer, true, OP_BINARY, &[5u8; 300]));
        stream.extend(fr(peer, true, OP_CLOSE, &close_payload(1000, b"")));
        for config in [whole(), Config::default()] {
            let reference = events(peer, config, &stream);
            for split in 0..stream.len() {
                let mut s = session_for(peer, config);
                let mut pending = stream[..split].to_vec();
                let mut evs = Vec::new();
                for part in [&[][..], &stream[split..]] {
                    pending.extend_from_slice(part);
                    loop {
                        let step = s.next_event(&mut pending);
                        let c = step.consumed;
                        let e = step.event.map(record);
                        pending.drain(..c);
                        match e {
                            Some(e) => evs.push(e),
                            None if c == 0 => break,
                            None => {}
                        }
                    }
                }
                assert_eq!(joined(&evs), joined(&reference), "split {split}");
                let controls = |v: &[Ev]| -> Vec<Ev> {
                    v.iter()
                        .filter(|e| !matches!(e, Ev::Data { .. }))
                        .cloned()
                        .collect()
                };
                assert_eq!(controls(&evs), controls(&reference), "split {split}");
            }
        }
    }
}

#[test]
fn stats_count_both_directions() {
    let mut s = Session::server(whole());
    let mut stream = fr(Peer::Client, false, OP_TEXT, b"ab");
    stream.extend(fr(Peer::Client, true, OP_PING, b""));
    stream.extend(fr(Peer::Client, true, OP_CONTINUATION, b"c"));
    stream.extend(fr(Peer::Client, true, OP_BINARY, b"defg"));
    feed(&mut s, &stream, 0);
    let mut out = [0u8; 64];
    s.encode_data(&mut out, Outgoing::Text, true, 0, b"xyz")
        .unwrap();
    s.encode_pong(&mut out, b"").unwrap();
    assert_eq!(
        *s.stats(),
        Stats {
            frames_in: 4,
            messages_in: 2,
            bytes_in: 7,
            frames_out: 2,
            messages_out: 1,
            bytes_out: 3,
        }
    );
}

// --- Sending -------------------------------------------------------------

fn parse_one(bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
    let (h, hl) = frame::parse_header(bytes).unwrap().unwrap();
    let mut payload = bytes[hl..hl + h.payload_len as usize].to_vec();
    if let Some(k) = h.mask {
        apply_mask(&mut payload, k, 0);
    }
    assert_eq!(bytes.len(), hl + payload.len(), "one whole frame");
    (h, payload)
}

#[test]
fn server_sends_unmasked_and_client_masks_with_fresh_keys() {
    let mut server = Session::server(whole());
    let mut out = [0u8; 64];
    let n = server
        .encode_data(&mut out, Outgoing::Text, true, 0, b"hi")
        .unwrap();
    let (h, p) = parse_one(&out[..n]);
    assert_eq!(
        (h.mask, h.opcode, h.fin, p),
        (None, OP_TEXT, true, b"hi".to_vec())
    );

    let mut client = Session::new(Role::client([1; 32]), whole());
    let mut keys = Vec::new();
    for _ in 0..20 {
        let n = client
            .encode_data(&mut out, Outgoing::Binary, true, 0, b"data")
            .unwrap();
        let (h, p) = parse_one(&out[..n]);
        assert_eq!(p, b"data");
        keys.push(h.mask.expect("client frames are masked"));
    }
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 15, "keys vary: {keys:?}");
    let n = client.encode_ping(&mut out, b"p").unwrap();
    assert!(parse_one(&out[..n]).0.mask.is_some());
}

#[test]
fn outgoing_message_rules() {
    let mut s = Session::server(whole());
    assert_eq!(
        s.data_header(Outgoing::Continuation, true, 0, 1),
        Err(SendError::NoMessage)
    );
    s.data_header(Outgoing::Text, false, 0, 1).unwrap();
    assert!(!s.is_idle());
    assert_eq!(
        s.data_header(Outgoing::Binary, true, 0, 1),
        Err(SendError::MessageOpen)
    );
    // Control frames may go between fragments.
    s.control_header(false, 0).unwrap();
    let h = s.data_header(Outgoing::Continuation, true, 0, 1).unwrap();
    assert_eq!(h.as_bytes(), &[0x80, 1]);
    assert!(s.is_idle());
    assert_eq!(
        s.data_header(Outgoing::Binary, true, 4, 1),
        Err(SendError::ReservedBits)
    );
    assert_eq!(s.control_header(true, 126), Err(SendError::ControlTooLong));
    let mut ext = Session::server(Config {
        message_rsv: 4,
        ..whole()
    });
    assert_eq!(
        ext.data_header(Outgoing::Binary, false, 4, 1)
            .unwrap()
            .as_bytes(),
        &[0x42, 1]
    );
    assert_eq!(
        ext.data_header(Outgoing::Continuation, true, 4, 1),
        Err(SendError::ReservedBits)
    );
}

#[test]
fn close_sending_rules() {
    let mut s = Session::server(whole());
    let mut small = [0u8; 3];
    assert_eq!(
        s.encode_close(&mut small, Some(1000), ""),
        Err(SendError::NoRoom)
    );
    assert_eq!(s.close_sent(), None, "nothing changed");
    let mut out = [0u8; 200];
    assert_eq!(
        s.encode_close(&mut out, Some(1005), ""),
        Err(SendError::InvalidCloseCode)
    );
    // The reason is cut to 123 bytes at a character boundary.
    let reason = "é".repeat(70);
    let n = s.encode_close(&mut out, Some(1001), &reason).unwrap();
    let (h, p) = parse_one(&out[..n]);
    assert_eq!(h.opcode, OP_CLOSE);
    assert_eq!(&p[..2], &1001u16.to_be_bytes());
    assert_eq!(p.len(), 2 + 122);
    assert!(core::str::from_utf8(&p[2..]).is_ok());
    assert_eq!(s.close_sent(), Some(1001));
    assert_eq!(s.encode_close(&mut out, None, ""), Err(SendError::Closed));
    assert_eq!(s.encode_ping(&mut out, b""), Err(SendError::Closed));
    assert_eq!(
        s.data_header(Outgoing::Text, true, 0, 0),
        Err(SendError::Closed)
    );
    assert!(!s.is_closed(), "still waiting for the peer's close");
    feed(&mut s, &fr(Peer::Client, true, OP_CLOSE, b""), 0);
    assert!(s.is_closed());
    // An empty close reports 1005.
    let mut e = Session::server(whole());
    let n = e.encode_close(&mut out, None, "ignored").unwrap();
    assert_eq!(&out[..n], &[0x88, 0]);
    assert_eq!(e.close_sent(), Some(1005));
}

#[test]
fn no_room_changes_nothing() {
    let mut s = Session::server(whole());
    let mut out = [0u8; 4];
    assert_eq!(
        s.encode_data(&mut out, Outgoing::Text, false, 0, b"abc"),
        Err(SendError::NoRoom)
    );
    assert!(s.is_idle());
    assert_eq!(s.stats().frames_out, 0);
    assert_eq!(s.encode_pong(&mut out, b"abc"), Err(SendError::NoRoom));
}
