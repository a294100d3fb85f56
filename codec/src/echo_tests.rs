//! Tests of the echo endpoint, driven the way the nginx glue drives it: a
//! [`FrameBuffer`] filled by reads of arbitrary sizes and drained by sends
//! of arbitrary sizes, with a test-only parser for what comes out.

use super::*;
use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use crate::session::Config;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with first byte `b0`, minimal length.
fn raw(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame::test_frame(b0, payload, Some(KEY))
}

fn cframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(if fin { 0x80 } else { 0 } | opcode, payload)
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    cframe(true, OP_CLOSE, &p)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// Server output: whole, unmasked, minimally encoded frames, no RSV bits.
fn parse_out(mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, hl) = frame::parse_header(bytes).unwrap().expect("whole header");
        assert_eq!(h.mask, None, "server frames are unmasked");
        assert_eq!(h.rsv, 0);
        assert_eq!(
            hl,
            frame::server_header_len(h.payload_len),
            "minimal length"
        );
        let end = hl + h.payload_len as usize;
        assert!(end <= bytes.len(), "whole frame payload");
        frames.push(Frame {
            fin: h.fin,
            opcode: h.opcode,
            payload: bytes[hl..end].to_vec(),
        });
        bytes = &bytes[end..];
    }
    frames
}

/// Data messages (checking the fragmentation rules) and control frames.
fn messages(frames: &[Frame]) -> (Vec<(u8, Vec<u8>)>, Vec<Frame>) {
    let mut msgs = Vec::new();
    let mut controls = Vec::new();
    let mut open: Option<(u8, Vec<u8>)> = None;
    for f in frames {
        if f.opcode & 0x8 != 0 {
            assert!(f.fin);
            controls.push(f.clone());
            continue;
        }
        match (&mut open, f.opcode) {
            (None, OP_TEXT | OP_BINARY) => open = Some((f.opcode, f.payload.clone())),
            (Some((_, data)), OP_CONTINUATION) => data.extend_from_slice(&f.payload),
            _ => panic!("bad fragmentation at {f:?}"),
        }
        if f.fin {
            msgs.push(open.take().unwrap());
        }
    }
    if let Some((op, data)) = open {
        // An unfinished message (the connection failed inside it).
        msgs.push((op | 0x40, data));
    }
    (msgs, controls)
}

fn close_code(f: &Frame) -> Option<u16> {
    assert_eq!(f.opcode, OP_CLOSE);
    f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// A simulated connection: reads of at most `read` bytes, sends of at most
/// `send` bytes per round.
struct Caller {
    s: Session,
    b: FrameBuffer,
    output: Vec<u8>,
    read: usize,
    send: usize,
}

impl Caller {
    fn new(whole: usize, capacity: usize, read: usize, send: usize) -> Caller {
        let b = FrameBuffer::new(capacity);
        let whole = whole.min(b.max_whole_frame());
        Caller {
            s: Session::server(Config {
                max_frame_len: 1 << 30,
                whole_frame_max: whole,
                ..Config::default()
            }),
            b,
            output: Vec::new(),
            read,
            send,
        }
    }

    fn standard() -> Caller {
        Caller::new(1 << 20, 256 * 1024, usize::MAX, usize::MAX)
    }

    fn drain(&mut self) -> usize {
        let mut slices = [&[][..]; crate::buffer::SEGMENTS];
        let n = self.b.output(&mut slices);
        let mut budget = self.send;
        let mut sent = 0;
        for s in &slices[..n] {
            let k = s.len().min(budget);
            self.output.extend_from_slice(&s[..k]);
            budget -= k;
            sent += k;
            if budget == 0 {
                break;
            }
        }
        self.b.sent(sent);
        sent
    }

    /// Feed all of `data`, processing and draining as the glue does, until
    /// nothing moves.
    fn feed(&mut self, data: &[u8]) {
        let mut pos = 0;
        loop {
            let space = self.b.read_space();
            let n = space.len().min(self.read).min(data.len() - pos);
            space[..n].copy_from_slice(&data[pos..pos + n]);
            self.b.commit_read(n);
            pos += n;
            let p = process(&mut self.s, &mut self.b);
            let sent = self.drain();
            if n == 0 && p == Progress::default() && sent == 0 {
                break;
            }
        }
    }

    fn frames(&self) -> Vec<Frame> {
        parse_out(&self.output)
    }
}

fn echo(input: &[u8]) -> (Caller, Vec<Frame>) {
    let mut c = Caller::standard();
    c.feed(input);
    let f = c.frames();
    (c, f)
}

fn text_payload(len: usize) -> Vec<u8> {
    // Multi-byte characters so streamed pieces split code points.
    let pattern = "a\u{e9}\u{20ac}\u{1F600}z".as_bytes();
    let mut v: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
    while std::str::from_utf8(&v).is_err() {
        v.pop();
    }
    v.resize(len, b'.');
    v
}

fn binary_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn rfc_masked_hello() {
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (c, _) = echo(&input);
    assert_eq!(c.output, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert!(c.s.is_idle() && c.b.is_empty());
}

#[test]
fn exact_framing_of_small_frames() {
    let mut input = cframe(true, OP_TEXT, b"");
    input.extend(cframe(false, OP_BINARY, b""));
    input.extend(cframe(true, OP_CONTINUATION, b""));
    let mut expected = vec![
        Frame {
            fin: true,
            opcode: OP_TEXT,
            payload: vec![],
        },
        Frame {
            fin: false,
            opcode: OP_BINARY,
            payload: vec![],
        },
        Frame {
            fin: true,
            opcode: OP_CONTINUATION,
            payload: vec![],
        },
    ];
    for i in 0..100 {
        let payload = format!("message {i}").into_bytes();
        let op = if i % 2 == 0 { OP_TEXT } else { OP_BINARY };
        input.extend(cframe(true, op, &payload));
        expected.push(Frame {
            fin: true,
            opcode: op,
            payload,
        });
    }
    input.extend(cframe(true, OP_BINARY, &binary_payload(20_000)));
    expected.push(Frame {
        fin: true,
        opcode: OP_BINARY,
        payload: binary_payload(20_000),
    });
    let (c, frames) = echo(&input);
    assert_eq!(frames, expected);
    assert!(c.b.is_empty());
}

/// A mixed conversation: fragmented messages, control frames in between.
fn conversation() -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
    let mut input = Vec::new();
    input.extend(cframe(true, OP_TEXT, "h\u{e9}llo".as_bytes()));
    input.extend(cframe(false, OP_TEXT, b"Hel"));
    input.extend(cframe(true, OP_PING, b"p1"));
    input.extend(cframe(false, OP_CONTINUATION, b""));
    input.extend(cframe(true, OP_CONTINUATION, b"lo"));
    input.extend(cframe(true, OP_PONG, b"ignored"));
    input.extend(cframe(true, OP_BINARY, &binary_payload(200)));
    input.extend(cframe(false, OP_BINARY, &binary_payload(70_000)));
    input.extend(cframe(true, OP_CONTINUATION, &binary_payload(10)));
    input.extend(cframe(true, OP_TEXT, &text_payload(5000)));
    let expected = vec![
        (OP_TEXT, "h\u{e9}llo".as_bytes().to_vec()),
        (OP_TEXT, b"Hello".to_vec()),
        (OP_BINARY, binary_payload(200)),
        (
            OP_BINARY,
            [binary_payload(70_000), binary_payload(10)].concat(),
        ),
        (OP_TEXT, text_payload(5000)),
    ];
    (input, expected)
}

#[test]
fn conversation_in_any_reads_and_sends() {
    let (input, expected) = conversation();
    // (whole_frame_max, capacity, read size, send size)
    let setups = [
        (1 << 20, 256 * 1024, usize::MAX, usize::MAX),
        (1 << 20, 256 * 1024, 1, usize::MAX),
        (4096, 8192, 7, 3),
        (256, 2048, 1000, 100),
        (0, 2048, 333, 1),
        (100_000, 256 * 1024, 4096, 4096),
    ];
    for (whole, cap, read, send) in setups {
        let mut c = Caller::new(whole, cap, read, send);
        c.feed(&input);
        let frames = c.frames();
        let (msgs, controls) = messages(&frames);
        assert_eq!(msgs, expected, "{whole}/{cap}/{read}/{send}");
        assert_eq!(
            controls,
            vec![Frame {
                fin: true,
                opcode: OP_PONG,
                payload: b"p1".to_vec()
            }]
        );
        assert!(
            c.s.is_idle() && c.b.is_empty(),
            "{whole}/{cap}/{read}/{send}"
        );
        if whole == 1 << 20 {
            assert_eq!(frames.len(), 9, "everything fit whole: exact framing");
        }
    }
}

#[test]
fn sizes_whole_and_streamed() {
    let sizes = [0usize, 1, 125, 126, 127, 65535, 65536, 200_000, 1 << 20];
    let setups = [
        (256 * 1024, 256 * 1024, usize::MAX, usize::MAX),
        (4096, 4096, 1000, 600),
        (256, 2048, 7777, 100_000),
        (4096, 8192, 333, 5000),
    ];
    for &len in &sizes {
        for &(whole, cap, read, send) in &setups {
            for op in [OP_TEXT, OP_BINARY] {
                let payload = if op == OP_TEXT {
                    text_payload(len)
                } else {
                    binary_payload(len)
                };
                let mut c = Caller::new(whole, cap, read, send);
                c.feed(&cframe(true, op, &payload));
                let frames = c.frames();
                let (msgs, controls) = messages(&frames);
                assert!(controls.is_empty());
                assert_eq!(msgs.len(), 1, "len {len} setup {whole}/{cap}/{read}/{send}");
                assert_eq!(msgs[0].0, op);
                assert!(
                    msgs[0].1 == payload,
                    "len {len} setup {whole}/{cap}/{read}/{send}"
                );
                let whole_max = whole.min(c.b.max_whole_frame());
                if frame::header_len(len as u64, true) + len <= whole_max {
                    assert_eq!(frames.len(), 1, "small frames are echoed whole");
                }
                assert!(c.b.is_empty() && c.s.is_idle());
            }
        }
    }
}

#[test]
fn pings_between_fragments_are_answered_before_the_message_ends() {
    for whole in [1 << 20, 0] {
        let mut c = Caller::new(whole, 64 * 1024, usize::MAX, usize::MAX);
        c.feed(&cframe(false, OP_TEXT, b"abc"));
        c.feed(&cframe(true, OP_PING, b"x"));
        let frames = c.frames();
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(
            frames[1],
            Frame {
                fin: true,
                opcode: OP_PONG,
                payload: b"x".to_vec()
            }
        );
        c.feed(&cframe(true, OP_CONTINUATION, b"def"));
        assert_eq!(messages(&c.frames()).0, vec![(OP_TEXT, b"abcdef".to_vec())]);
    }
    // Inside a streamed frame's message (the ping between two frames).
    let mut c = Caller::new(0, 64 * 1024, 100, usize::MAX);
    let mut input = cframe(false, OP_BINARY, &binary_payload(1000));
    input.extend(cframe(true, OP_PING, b"y"));
    input.extend(cframe(true, OP_CONTINUATION, &binary_payload(10)));
    c.feed(&input);
    let (msgs, controls) = messages(&c.frames());
    assert_eq!(
        msgs,
        vec![(
            OP_BINARY,
            [binary_payload(1000), binary_payload(10)].concat()
        )]
    );
    assert_eq!(controls.len(), 1);
}

/// The session failed: the last frame is the close with `code` and
/// `reason`, nothing follows it, and nothing more is read.
fn assert_failed(c: &Caller, code: u16, reason: &str) {
    let frames = c.frames();
    let last = frames.last().expect("a close frame");
    assert_eq!(close_code(last), Some(code), "{frames:?}");
    assert_eq!(&last.payload[2..], reason.as_bytes());
    assert_eq!(c.s.failed(), Some(code));
    assert_eq!(c.s.close_sent(), Some(code));
    assert!(c.s.is_closed());
}

#[test]
fn protocol_errors_close_with_their_code() {
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (raw(0xC1, b"x"), 1002, "reserved bits set"),
        (raw(0x83, b""), 1002, "unknown opcode"),
        ([0x81u8, 0x01, b'x'].to_vec(), 1002, "unmasked frame"),
        (
            cframe(true, OP_PING, &[0; 126]),
            1002,
            "control frame too long",
        ),
        (
            cframe(false, OP_PING, b""),
            1002,
            "fragmented control frame",
        ),
        (
            cframe(true, OP_CONTINUATION, b""),
            1002,
            "continuation without a message",
        ),
        (
            [cframe(false, OP_TEXT, b"a"), cframe(true, OP_BINARY, b"b")].concat(),
            1002,
            "data frame inside a fragmented message",
        ),
        (
            cframe(true, OP_TEXT, &[0xC3]),
            1007,
            "invalid UTF-8 in text message",
        ),
        (close_frame(1005, b""), 1002, "invalid close code"),
        (
            close_frame(1000, &[0xFF]),
            1007,
            "invalid UTF-8 in close reason",
        ),
        (
            cframe(true, OP_CLOSE, &[3]),
            1002,
            "close payload of 1 byte",
        ),
    ];
    for (input, code, reason) in cases {
        for read in [usize::MAX, 1] {
            let mut c = Caller::new(1 << 20, 64 * 1024, read, usize::MAX);
            // A good frame first, then the bad one, then a frame that must
            // not be echoed.
            c.feed(&cframe(true, OP_TEXT, b"ok"));
            c.feed(&[input.clone(), cframe(true, OP_TEXT, b"never")].concat());
            assert_failed(&c, code, reason);
            assert_eq!(c.frames()[0].payload, b"ok");
            assert!(
                c.frames().iter().all(|f| f.payload != b"never"),
                "{reason}: nothing after the close"
            );
        }
    }
}

#[test]
fn frames_over_the_limit_are_refused_from_the_header() {
    let mut c = Caller::standard();
    c.s = Session::server(Config {
        max_frame_len: 1000,
        whole_frame_max: 4096,
        ..Config::default()
    });
    // Only the header of a 2^40-byte frame.
    let mut h = vec![0x82, 0xFF];
    h.extend_from_slice(&(1u64 << 40).to_be_bytes());
    h.extend_from_slice(&KEY);
    c.feed(&h);
    assert_failed(&c, 1009, "frame too big");
}

#[test]
fn invalid_text_is_never_echoed() {
    // Streamed (whole_frame_max 0): valid pieces may be echoed, but not the
    // piece holding the bad byte, nor anything after.
    let mut text = text_payload(3000);
    text[2500] = 0xFF;
    for read in [1, 100, 4096] {
        let mut c = Caller::new(0, 8192, read, usize::MAX);
        c.feed(&cframe(true, OP_TEXT, &text));
        assert_failed(&c, 1007, "invalid UTF-8 in text message");
        let (msgs, _) = messages(&c.frames());
        if let Some((_, data)) = msgs.first() {
            assert!(
                data.len() <= 2500,
                "read {read}: {} bytes echoed",
                data.len()
            );
            assert_eq!(&data[..], &text[..data.len()]);
        }
    }
    // Whole frames: the frame is never echoed, and the failure comes as soon
    // as the bad byte arrives, before the frame is complete.
    let mut c = Caller::standard();
    let f = cframe(true, OP_TEXT, &text);
    c.feed(&f[..2600]);
    assert_failed(&c, 1007, "invalid UTF-8 in text message");
    assert_eq!(c.frames().len(), 1);
}

#[test]
fn closing_handshake() {
    for (input, answer) in [
        (close_frame(1000, b"bye"), vec![0x88u8, 2, 0x03, 0xE8]),
        (close_frame(4001, b""), vec![0x88, 2, 0x0F, 0xA1]),
        (cframe(true, OP_CLOSE, b""), vec![0x88, 0]),
    ] {
        let (c, _) = echo(&[input, cframe(true, OP_TEXT, b"after")].concat());
        assert_eq!(
            c.output, answer,
            "the close is answered with its code, nothing after"
        );
        assert!(c.s.is_closed());
    }
    // A close in the middle of a fragmented message.
    let (c, frames) = echo(&[cframe(false, OP_TEXT, b"a"), close_frame(1001, b"")].concat());
    assert_eq!(frames.len(), 2);
    assert_eq!(close_code(&frames[1]), Some(1001));
    assert!(c.s.is_closed());
}

#[test]
fn server_initiated_close_and_ping() {
    let mut c = Caller::standard();
    assert!(c.b.queue_ping(&mut c.s, b""));
    c.drain();
    assert_eq!(c.output, [0x89, 0]);
    assert!(c
        .b
        .queue_close(&mut c.s, Some(1001), "server shutting down"));
    assert!(!c.b.queue_close(&mut c.s, Some(1000), ""), "one close only");
    assert!(!c.b.queue_ping(&mut c.s, b""), "no ping after the close");
    c.drain();
    // Data after our close is not echoed; the peer's close completes it.
    c.feed(&[cframe(true, OP_TEXT, b"late"), close_frame(1001, b"")].concat());
    let frames = c.frames();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(close_code(&frames[1]), Some(1001));
    assert_eq!(&frames[1].payload[2..], b"server shutting down");
    assert_eq!(c.s.close_received(), Some(1001));
    assert!(c.s.is_closed());
}

#[test]
fn output_pressure_pauses_and_resumes() {
    // Without compaction each echo is a segment: more frames than segments
    // must wait for a send, and all come out in order.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..500u32 {
        let p = binary_payload(2000 + i as usize);
        input.extend(cframe(true, OP_BINARY, &p));
        expected.push((OP_BINARY, p));
    }
    let mut c = Caller::new(1 << 20, 2 << 20, usize::MAX, 10_000);
    c.b.set_compact_max(0);
    c.feed(&input);
    assert_eq!(messages(&c.frames()).0, expected);
    assert!(c.b.is_empty());
}

#[test]
fn nothing_is_decoded_after_the_close() {
    let mut c = Caller::standard();
    c.feed(&close_frame(1000, b""));
    let before = c.output.len();
    c.b.push_input(&cframe(true, OP_TEXT, b"x"));
    assert_eq!(process(&mut c.s, &mut c.b), Progress::default());
    assert_eq!(c.output.len(), before);
}

/// xorshift64*, for reproducible garbage.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn random_garbage_never_panics_and_always_ends() {
    let mut st = 0x1234_5678_9abc_def1u64;
    for _ in 0..300 {
        let len = (rng(&mut st) % 3000) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng(&mut st) as u8).collect();
        let read = 1 + (rng(&mut st) % 500) as usize;
        let send = 1 + (rng(&mut st) % 500) as usize;
        let whole = [0usize, 256, 4096][(rng(&mut st) % 3) as usize];
        let mut c = Caller::new(whole, 4096, read, send);
        c.feed(&data);
        // Everything sent is well formed.
        c.frames();
    }
}

#[test]
fn random_valid_conversations_echo_every_message() {
    let mut st = 0xfeed_beef_u64;
    for round in 0..100 {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..(1 + rng(&mut st) % 8) {
            let len = match rng(&mut st) % 4 {
                0 => 0,
                1 => (rng(&mut st) % 126) as usize,
                2 => (rng(&mut st) % 5000) as usize,
                _ => (rng(&mut st) % 70_000) as usize,
            };
            let text = rng(&mut st) % 2 == 0;
            let p = if text {
                text_payload(len)
            } else {
                binary_payload(len)
            };
            let parts = 1 + (rng(&mut st) % 3) as usize;
            let step = len.div_ceil(parts).max(1);
            let chunks: Vec<&[u8]> = if len == 0 {
                vec![&p[..]]
            } else {
                p.chunks(step).collect()
            };
            for (i, ch) in chunks.iter().enumerate() {
                let op = if i > 0 {
                    OP_CONTINUATION
                } else if text {
                    OP_TEXT
                } else {
                    OP_BINARY
                };
                input.extend(cframe(i + 1 == chunks.len(), op, ch));
                if rng(&mut st) % 4 == 0 {
                    input.extend(cframe(true, OP_PING, b"k"));
                }
            }
            expected.push((if text { OP_TEXT } else { OP_BINARY }, p));
        }
        let read = 1 + (rng(&mut st) % 20_000) as usize;
        let send = 1 + (rng(&mut st) % 20_000) as usize;
        let whole = [0usize, 4096, 1 << 20][(rng(&mut st) % 3) as usize];
        let cap = [8192usize, 64 * 1024, 256 * 1024][(rng(&mut st) % 3) as usize];
        let mut c = Caller::new(whole, cap, read, send);
        c.feed(&input);
        let (msgs, controls) = messages(&c.frames());
        assert_eq!(msgs, expected, "round {round}");
        assert!(controls
            .iter()
            .all(|f| f.opcode == OP_PONG && f.payload == b"k"));
        assert!(c.b.is_empty() && c.s.is_idle(), "round {round}");
    }
}

#[test]
fn stalled_peer_then_reading_resumes_large_messages() {
    let payload = binary_payload(1 << 20);
    let mut input = Vec::new();
    for _ in 0..8 {
        input.extend(cframe(true, OP_BINARY, &payload));
    }
    let mut c = Caller::new(1 << 20, 256 * 1024, 65536, 0);
    // The peer does not read: the buffer fills, then nothing moves.
    let mut pos = 0;
    loop {
        let space = c.b.read_space();
        let n = space.len().min(c.read).min(input.len() - pos);
        space[..n].copy_from_slice(&input[pos..pos + n]);
        c.b.commit_read(n);
        pos += n;
        let p = process(&mut c.s, &mut c.b);
        if n == 0 && p == Progress::default() {
            break;
        }
    }
    assert!(pos < input.len(), "the stall stops reading");
    c.send = 100_000;
    c.feed(&input[pos..]);
    let (msgs, _) = messages(&c.frames());
    assert_eq!(msgs.len(), 8);
    assert!(msgs.iter().all(|m| m.1 == payload));
}
