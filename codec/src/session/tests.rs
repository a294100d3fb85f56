//! Tests for the echo session, driven through a small simulated caller that
//! keeps unconsumed input, bounded buffers, and a test-only frame parser.

use super::*;
use crate::frame::{OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn config(whole_frame_max: usize) -> EchoConfig {
    EchoConfig {
        max_payload_len: 1 << 30,
        whole_frame_max,
    }
}

fn session() -> EchoSession {
    EchoSession::new(config(4096))
}

/// A client frame: first byte `b0` as given, masked with `mask` if any,
/// minimal length encoding.
fn raw_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let mut v = vec![b0];
    let len = payload.len();
    if len <= 125 {
        v.push(mbit | len as u8);
    } else if len <= 0xFFFF {
        v.push(mbit | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(mbit | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            v.extend_from_slice(&k);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => v.extend_from_slice(payload),
    }
    v
}

/// A masked client frame.
fn cframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let b0 = if fin { 0x80 } else { 0 } | opcode;
    raw_frame(b0, payload, Some(KEY))
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

/// Test-only parser for server output: whole, unmasked, minimally encoded
/// frames with no reserved bits.
fn parse_out(mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, hl) = frame::parse_header(bytes)
            .unwrap()
            .expect("whole frame header");
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

/// Reassemble data messages from server frames, checking the fragmentation
/// rules; control frames are returned separately.
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
    assert!(open.is_none(), "unfinished outgoing message");
    (msgs, controls)
}

/// A simulated caller with bounded buffers that always flushes all output.
struct Caller {
    s: EchoSession,
    inbuf: Vec<u8>,
    in_cap: usize,
    out_cap: usize,
    out: Vec<u8>,
    output: Vec<u8>,
}

impl Caller {
    fn new(config: EchoConfig, in_cap: usize, out_cap: usize) -> Self {
        Caller {
            s: EchoSession::new(config),
            inbuf: Vec::new(),
            in_cap,
            out_cap,
            out: vec![0u8; out_cap],
            output: Vec::new(),
        }
    }

    fn pump(&mut self) -> Progress {
        let p = self.s.process(&self.inbuf, &mut self.out);
        assert!(p.consumed <= self.inbuf.len());
        assert!(p.written <= self.out_cap);
        self.output.extend_from_slice(&self.out[..p.written]);
        self.inbuf.drain(..p.consumed);
        p
    }

    /// Feed `data` in reads of at most `piece` bytes, as room allows.
    fn feed(&mut self, data: &[u8], piece: usize) {
        let mut pos = 0;
        loop {
            let take = (self.in_cap - self.inbuf.len())
                .min(piece)
                .min(data.len() - pos);
            self.inbuf.extend_from_slice(&data[pos..pos + take]);
            pos += take;
            let p = self.pump();
            if take == 0 && p == Progress::default() {
                break;
            }
        }
    }

    fn frames(&self) -> Vec<Frame> {
        parse_out(&self.output)
    }
}

fn run(input: &[u8], out_cap: usize) -> (EchoSession, Progress, Vec<Frame>) {
    let mut s = session();
    let mut out = vec![0u8; out_cap];
    let p = s.process(input, &mut out);
    let frames = parse_out(&out[..p.written]);
    (s, p, frames)
}

fn close_code(f: &Frame) -> Option<u16> {
    assert_eq!(f.opcode, OP_CLOSE);
    f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// Expect the session to have failed with `code` and log `reason`, with
/// the last output frame the matching close frame.
fn assert_failed(s: &EchoSession, frames: &[Frame], code: u16, reason: &str) {
    assert!(s.is_closed());
    assert!(!s.has_pending_output());
    let info = s.close_info().unwrap();
    assert_eq!(info.sent_code, Some(code));
    assert!(!info.peer_initiated);
    assert_eq!(info.reason, reason);
    let last = frames.last().expect("a close frame");
    assert_eq!(close_code(last), Some(code));
    assert_eq!(&last.payload[2..], reason.as_bytes());
}

fn text_payload(len: usize) -> Vec<u8> {
    // Multi-byte characters so streamed chunks split code points.
    let pattern = "a\u{e9}\u{20ac}\u{1F600}z".as_bytes();
    let mut v: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
    // Trim an incomplete code point at the end, pad with ASCII.
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
fn echo_single_text_frame() {
    let input = cframe(true, OP_TEXT, b"Hello");
    let mut s = session();
    let mut out = [0u8; 64];
    let p = s.process(&input, &mut out);
    assert_eq!(p.consumed, input.len());
    assert_eq!(
        &out[..p.written],
        &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
    );
    assert!(s.is_idle());
    assert!(!s.is_closed());
}

#[test]
fn echo_single_binary_frame() {
    let payload = binary_payload(300);
    let input = cframe(true, OP_BINARY, &payload);
    let (s, p, frames) = run(&input, 1024);
    assert_eq!(p.consumed, input.len());
    assert_eq!(
        frames,
        vec![Frame {
            fin: true,
            opcode: OP_BINARY,
            payload
        }]
    );
    assert!(s.is_idle());
}

#[test]
fn rfc_masked_hello() {
    let input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut s = session();
    let mut out = [0u8; 16];
    let p = s.process(&input, &mut out);
    assert_eq!(
        p,
        Progress {
            consumed: 11,
            written: 7
        }
    );
    assert_eq!(&out[..7], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn empty_frames_echoed_empty() {
    let mut input = cframe(true, OP_TEXT, b"");
    input.extend(cframe(false, OP_BINARY, b""));
    input.extend(cframe(true, OP_CONTINUATION, b""));
    let (_, p, frames) = run(&input, 64);
    assert_eq!(p.consumed, input.len());
    assert_eq!(
        frames,
        vec![
            Frame {
                fin: true,
                opcode: OP_TEXT,
                payload: vec![]
            },
            Frame {
                fin: false,
                opcode: OP_BINARY,
                payload: vec![]
            },
            Frame {
                fin: true,
                opcode: OP_CONTINUATION,
                payload: vec![]
            },
        ]
    );
}

#[test]
fn hundred_frames_in_one_input() {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100 {
        let payload = format!("message {i}").into_bytes();
        let op = if i % 2 == 0 { OP_TEXT } else { OP_BINARY };
        input.extend(cframe(true, op, &payload));
        expected.push((op, payload));
    }
    let (s, p, frames) = run(&input, 1 << 16);
    assert_eq!(p.consumed, input.len());
    assert_eq!(frames.len(), 100);
    assert_eq!(messages(&frames).0, expected);
    assert!(s.is_idle());
}

#[test]
fn out_full_stops_at_frame_boundary() {
    let mut input = Vec::new();
    for _ in 0..10 {
        input.extend(cframe(true, OP_TEXT, b"0123456789"));
    }
    // Room for three 12-byte echoes.
    let (_, p, frames) = run(&input, 40);
    assert_eq!(frames.len(), 3);
    assert_eq!(p.written, 36);
    assert_eq!(p.consumed, 3 * 16);
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
fn one_byte_at_a_time() {
    let (input, expected) = conversation();
    for (whole, out_cap) in [(1 << 20, 1 << 20), (4096, 4096), (256, 600)] {
        let mut c = Caller::new(config(whole), whole, out_cap);
        c.feed(&input, 1);
        assert!(c.inbuf.is_empty());
        let frames = c.frames();
        let (msgs, controls) = messages(&frames);
        assert_eq!(msgs, expected, "whole {whole}");
        assert_eq!(
            controls,
            vec![Frame {
                fin: true,
                opcode: OP_PONG,
                payload: b"p1".to_vec()
            }]
        );
        assert!(c.s.is_idle());
        if whole == 1 << 20 {
            // Everything fit whole: exact framing is preserved.
            assert_eq!(frames.len(), 9);
        }
    }
}

#[test]
fn whole_frames_wait_until_complete() {
    let input = cframe(true, OP_TEXT, b"Hello");
    let mut s = session();
    let mut out = [0u8; 64];
    for i in 0..input.len() {
        assert_eq!(s.process(&input[..i], &mut out), Progress::default());
    }
    assert_eq!(s.process(&input, &mut out).consumed, input.len());
}

#[test]
fn sizes_whole_and_streamed() {
    let sizes = [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20];
    // (whole_frame_max, out_cap, read size)
    let setups = [
        (4096, 4096, 1 << 20),
        (4096, 600, 1000),
        (256, 522, 7777),
        (4096, 4096, 333),
        (1 << 21, 1 << 21, 1 << 21),
    ];
    for &len in &sizes {
        for &(whole, out_cap, piece) in &setups {
            for op in [OP_TEXT, OP_BINARY] {
                let payload = if op == OP_TEXT {
                    text_payload(len)
                } else {
                    binary_payload(len)
                };
                let mut c = Caller::new(config(whole), whole, out_cap);
                c.feed(&cframe(true, op, &payload), piece);
                assert!(c.inbuf.is_empty());
                let frames = c.frames();
                let (msgs, controls) = messages(&frames);
                assert!(controls.is_empty());
                assert_eq!(msgs.len(), 1, "len {len} setup {whole}/{out_cap}/{piece}");
                assert_eq!(msgs[0].0, op);
                assert!(
                    msgs[0].1 == payload,
                    "len {len} setup {whole}/{out_cap}/{piece}"
                );
                if len + 14 <= whole {
                    assert_eq!(frames.len(), 1, "small frames are echoed whole");
                }
                for f in &frames {
                    assert!(
                        frame::server_header_len(f.payload.len() as u64) + f.payload.len()
                            <= out_cap
                    );
                }
                assert!(c.s.is_idle());
            }
        }
    }
}

#[test]
fn streamed_small_input_still_progresses() {
    let payload = binary_payload(3000);
    let input = cframe(true, OP_BINARY, &payload);
    let mut c = Caller::new(config(256), 256, 1024);
    c.feed(&input, 1);
    let frames = c.frames();
    assert!(frames.len() > 2000, "1-byte reads give 1-byte fragments");
    assert_eq!(messages(&frames).0, vec![(OP_BINARY, payload)]);
}

#[test]
fn streaming_waits_for_output_room() {
    let payload = binary_payload(5000);
    let input = cframe(true, OP_BINARY, &payload);
    let mut s = EchoSession::new(config(256));
    let mut small = [0u8; 300];
    // Header consumed, but 300 bytes of room is below the 512-byte minimum.
    let p = s.process(&input, &mut small);
    assert_eq!(
        p,
        Progress {
            consumed: 8,
            written: 0
        }
    );
    assert!(!s.is_idle());
    let mut out = vec![0u8; 1000];
    let p = s.process(&input[8..], &mut out);
    assert_eq!(p.written, 1000);
    assert_eq!(p.consumed, 996);
    let f = parse_out(&out);
    assert_eq!(f.len(), 1);
    assert!(!f[0].fin);
    assert_eq!(f[0].opcode, OP_BINARY);
    // Room for fewer than 512 bytes but the frame's tail is shorter: fine.
    let mut c = Caller::new(config(256), 8192, 600);
    c.inbuf.extend_from_slice(&input[8 + 996..]);
    c.s = s;
    c.feed(&[], 1);
    let mut all = out.clone();
    all.extend_from_slice(&c.output);
    assert_eq!(messages(&parse_out(&all)).0, vec![(OP_BINARY, payload)]);
}

#[test]
fn streamed_then_whole_continuation() {
    let mut input = cframe(false, OP_TEXT, &text_payload(3000));
    input.extend(cframe(true, OP_CONTINUATION, "\u{1F600}".as_bytes()));
    let mut c = Caller::new(config(1024), 1024, 1024);
    c.feed(&input, 500);
    let frames = c.frames();
    assert_eq!(frames[0].opcode, OP_TEXT);
    assert!(frames[1..].iter().all(|f| f.opcode == OP_CONTINUATION));
    let last = frames.last().unwrap();
    assert!(last.fin);
    assert_eq!(last.payload, "\u{1F600}".as_bytes());
    let expected = [text_payload(3000), "\u{1F600}".as_bytes().to_vec()].concat();
    assert_eq!(messages(&frames).0, vec![(OP_TEXT, expected)]);
}

#[test]
fn fragmented_invalid_utf8_whole() {
    let mut input = cframe(false, OP_TEXT, b"ab\xE2\x82");
    input.extend(cframe(true, OP_CONTINUATION, b"\x28cd"));
    let (s, _, frames) = run(&input, 1024);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0],
        Frame {
            fin: false,
            opcode: OP_TEXT,
            payload: b"ab\xE2\x82".to_vec()
        }
    );
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");
}

#[test]
fn text_ending_mid_code_point() {
    let mut input = cframe(false, OP_TEXT, b"ab\xE2\x82");
    input.extend(cframe(true, OP_CONTINUATION, b""));
    let (s, _, frames) = run(&input, 1024);
    assert_eq!(frames.len(), 2);
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");

    let input = cframe(true, OP_TEXT, b"ab\xF0\x9F\x98");
    let (s, _, frames) = run(&input, 1024);
    assert_eq!(frames.len(), 1);
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");
}

#[test]
fn streamed_invalid_utf8_never_emitted() {
    let mut payload = text_payload(10_000);
    payload[6000] = 0xFF;
    let mut input = cframe(false, OP_TEXT, &payload[..2000]);
    input.extend(cframe(true, OP_CONTINUATION, &payload[2000..]));
    for piece in [1, 100, 999, 1 << 20] {
        let mut c = Caller::new(config(1024), 1024, 1024);
        c.feed(&input, piece);
        let frames = c.frames();
        let (data, close): (Vec<&Frame>, Vec<&Frame>) =
            frames.iter().partition(|f| f.opcode != OP_CLOSE);
        let echoed: Vec<u8> = data.iter().flat_map(|f| f.payload.clone()).collect();
        assert!(echoed.len() <= 6000, "piece {piece}");
        assert_eq!(echoed[..], payload[..echoed.len()]);
        assert!(data.iter().all(|f| !f.fin));
        assert_eq!(close.len(), 1);
        assert_failed(&c.s, &frames, 1007, "invalid UTF-8 in text message");
    }
}

#[test]
fn ping_between_fragments() {
    let mut input = cframe(false, OP_TEXT, b"Hel");
    input.extend(cframe(true, OP_PING, b"x"));
    input.extend(cframe(true, OP_CONTINUATION, b"lo"));
    let (s, p, frames) = run(&input, 1024);
    assert_eq!(p.consumed, input.len());
    let expect = |fin, opcode, payload: &[u8]| Frame {
        fin,
        opcode,
        payload: payload.to_vec(),
    };
    assert_eq!(
        frames,
        vec![
            expect(false, OP_TEXT, b"Hel"),
            expect(true, OP_PONG, b"x"),
            expect(true, OP_CONTINUATION, b"lo"),
        ]
    );
    assert!(s.is_idle());
}

#[test]
fn ping_in_the_middle_of_a_streamed_message() {
    let mut input = cframe(false, OP_BINARY, &binary_payload(2000));
    input.extend(cframe(true, OP_PING, &[7; 125]));
    input.extend(cframe(true, OP_CONTINUATION, &binary_payload(2000)));
    let mut c = Caller::new(config(512), 512, 4096);
    c.feed(&input, 700);
    let (msgs, controls) = messages(&c.frames());
    assert_eq!(
        msgs,
        vec![(
            OP_BINARY,
            [binary_payload(2000), binary_payload(2000)].concat()
        )]
    );
    assert_eq!(controls.len(), 1);
    assert_eq!(controls[0].opcode, OP_PONG);
    assert_eq!(controls[0].payload, vec![7; 125]);
}

#[test]
fn unsolicited_pong_ignored() {
    let mut input = cframe(true, OP_PONG, b"whatever");
    input.extend(cframe(true, OP_TEXT, b"hi"));
    let (_, p, frames) = run(&input, 64);
    assert_eq!(p.consumed, input.len());
    assert_eq!(
        frames,
        vec![Frame {
            fin: true,
            opcode: OP_TEXT,
            payload: b"hi".to_vec()
        }]
    );
}

#[test]
fn out_too_small_for_pong() {
    let input = cframe(true, OP_PING, b"abcdef");
    let mut s = session();
    let mut out = [0u8; 7];
    assert_eq!(s.process(&input, &mut out), Progress::default());
    let mut out = [0u8; 8];
    let p = s.process(&input, &mut out);
    assert_eq!(
        p,
        Progress {
            consumed: input.len(),
            written: 8
        }
    );
    assert_eq!(&out, b"\x8a\x06abcdef");
}

#[test]
fn out_too_small_for_whole_frame() {
    let input = cframe(true, OP_BINARY, &[1; 200]);
    let mut s = session();
    let mut out = vec![0u8; 203];
    assert_eq!(s.process(&input, &mut out), Progress::default());
    assert!(s.is_idle());
    let mut out = vec![0u8; 204];
    assert_eq!(s.process(&input, &mut out).written, 204);
}

/// Each header rule with the close code and log reason it must produce.
#[test]
fn header_rules() {
    let unmasked = raw_frame(0x81, b"hi", None);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (raw_frame(0xC1, b"hi", Some(KEY)), 1002, "reserved bits set"),
        (raw_frame(0x91, b"hi", Some(KEY)), 1002, "reserved bits set"),
        (raw_frame(0xA1, b"hi", Some(KEY)), 1002, "reserved bits set"),
        // rsv wins over an unknown opcode and a missing mask.
        (raw_frame(0xF3, b"hi", None), 1002, "reserved bits set"),
        (unmasked, 1002, "unmasked frame"),
        (raw_frame(0x83, b"", None), 1002, "unknown opcode"),
        (
            cframe(true, OP_PING, &[0; 126]),
            1002,
            "control frame too long",
        ),
        (
            cframe(false, OP_PING, &[0; 126]),
            1002,
            "control frame too long",
        ),
        (
            cframe(false, OP_PING, b"x"),
            1002,
            "fragmented control frame",
        ),
        (
            cframe(false, OP_CLOSE, b""),
            1002,
            "fragmented control frame",
        ),
        (
            cframe(true, OP_CONTINUATION, b"x"),
            1002,
            "continuation without a message",
        ),
        (
            cframe(false, OP_CONTINUATION, b"x"),
            1002,
            "continuation without a message",
        ),
        (
            [cframe(false, OP_TEXT, b"a"), cframe(true, OP_TEXT, b"b")].concat(),
            1002,
            "data frame inside a fragmented message",
        ),
        (
            [
                cframe(false, OP_BINARY, b"a"),
                cframe(true, OP_BINARY, b"b"),
            ]
            .concat(),
            1002,
            "data frame inside a fragmented message",
        ),
        (
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            1002,
            "frame length top bit set",
        ),
    ];
    for (input, code, reason) in cases {
        let (s, _, frames) = run(&input, 1024);
        assert_failed(&s, &frames, code, reason);
    }
    for op in (3..=7).chain(0xB..=0xF) {
        let (s, _, frames) = run(&cframe(true, op, b""), 1024);
        assert_failed(&s, &frames, 1002, "unknown opcode");
    }
}

#[test]
fn header_rules_fail_before_payload_arrives() {
    // Only the header of an oversized / invalid frame is needed to fail.
    let input = cframe(true, OP_CONTINUATION, &[0; 1000]);
    let (s, _, frames) = run(&input[..8], 1024);
    assert_failed(&s, &frames, 1002, "continuation without a message");
}

#[test]
fn frame_too_big() {
    let mut s = EchoSession::new(EchoConfig {
        max_payload_len: 1000,
        whole_frame_max: 4096,
    });
    let mut out = [0u8; 256];
    let ok = cframe(true, OP_BINARY, &[0; 1000]);
    assert_eq!(s.process(&ok, &mut [0u8; 2048]).consumed, ok.len());
    assert_eq!(s.refused_len(), 0);
    let big = cframe(true, OP_BINARY, &[0; 1001]);
    let p = s.process(&big[..8], &mut out);
    assert_failed(&s, &parse_out(&out[..p.written]), 1009, "frame too big");
    assert_eq!(s.refused_len(), 1001);
    // Control frames are bounded by the protocol, not by max_payload_len.
    let mut s = EchoSession::new(EchoConfig {
        max_payload_len: 0,
        whole_frame_max: 4096,
    });
    let p = s.process(&cframe(true, OP_PING, b"abc"), &mut out);
    assert_eq!(p.written, 5);
    let p = s.process(&cframe(false, OP_TEXT, &[0; 10]), &mut out);
    assert_failed(&s, &parse_out(&out[..p.written]), 1009, "frame too big");
    assert_eq!(s.refused_len(), 10);
}

#[test]
fn huge_frame_too_big() {
    let mut s = EchoSession::new(config(4096));
    let mut input = vec![0x82, 0xFF];
    input.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    input.extend_from_slice(&KEY);
    let mut out = [0u8; 64];
    let p = s.process(&input, &mut out);
    assert_failed(&s, &parse_out(&out[..p.written]), 1009, "frame too big");
    assert_eq!(s.refused_len(), u64::MAX >> 1);
}

#[test]
fn close_empty() {
    let mut input = cframe(true, OP_CLOSE, b"");
    let close_len = input.len();
    input.extend(cframe(true, OP_TEXT, b"after close"));
    let (s, p, frames) = run(&input, 64);
    assert_eq!(
        p.consumed, close_len,
        "input after the close is not consumed"
    );
    assert_eq!(
        frames,
        vec![Frame {
            fin: true,
            opcode: OP_CLOSE,
            payload: vec![]
        }]
    );
    assert!(s.is_closed());
    assert_eq!(
        s.close_info(),
        Some(CloseInfo {
            sent_code: None,
            received_code: None,
            peer_initiated: true,
            reason: "client closed"
        })
    );
}

#[test]
fn close_with_reason() {
    let input = close_frame(1000, "bye \u{1F600}".as_bytes());
    let (s, p, frames) = run(&input, 64);
    assert_eq!(p.consumed, input.len());
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].payload, vec![0x03, 0xE8], "code only, no reason");
    assert_eq!(
        s.close_info(),
        Some(CloseInfo {
            sent_code: Some(1000),
            received_code: Some(1000),
            peer_initiated: true,
            reason: "client closed"
        })
    );
}

#[test]
fn close_codes() {
    let valid = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ];
    let invalid = [
        0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ];
    for code in valid {
        let (s, _, frames) = run(&close_frame(code, b""), 64);
        assert_eq!(frames.len(), 1);
        assert_eq!(close_code(&frames[0]), Some(code));
        assert_eq!(frames[0].payload.len(), 2);
        let info = s.close_info().unwrap();
        assert!(info.peer_initiated);
        assert_eq!(
            (info.sent_code, info.received_code),
            (Some(code), Some(code))
        );
    }
    for code in invalid {
        let (s, _, frames) = run(&close_frame(code, b""), 64);
        assert_eq!(frames.len(), 1);
        assert_failed(&s, &frames, 1002, "invalid close code");
        assert_eq!(s.close_info().unwrap().received_code, Some(code));
    }
}

#[test]
fn close_payload_of_one_byte() {
    let (s, _, frames) = run(&cframe(true, OP_CLOSE, b"\x03"), 64);
    assert_failed(&s, &frames, 1002, "close payload of 1 byte");
}

#[test]
fn close_reason_invalid_utf8() {
    let (s, _, frames) = run(&close_frame(1000, b"ok\xCE\xBA\xFF"), 64);
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in close reason");
    // A close whose reason ends mid-code-point is invalid too.
    let (s, _, frames) = run(&close_frame(1000, b"ok\xCE"), 64);
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in close reason");
    // Maximal valid reason.
    let reason = [b'r'; 123];
    let (s, _, frames) = run(&close_frame(4000, &reason), 256);
    assert!(s.close_info().unwrap().peer_initiated);
    assert_eq!(frames[0].payload, 4000u16.to_be_bytes());
}

#[test]
fn close_while_message_open() {
    let mut input = cframe(false, OP_TEXT, b"abc");
    input.extend(close_frame(1001, b""));
    let (s, p, frames) = run(&input, 64);
    assert_eq!(p.consumed, input.len());
    assert_eq!(frames.len(), 2);
    assert_eq!(close_code(&frames[1]), Some(1001));
    assert!(s.is_closed());
}

#[test]
fn pending_close_written_later() {
    let input = raw_frame(0x81, b"hi", None);
    let mut s = session();
    let mut tiny = [0u8; 3];
    let p = s.process(&input, &mut tiny);
    assert_eq!(p.written, 0);
    assert!(s.is_closed());
    assert!(s.has_pending_output());
    assert_eq!(s.close_info().unwrap().reason, "unmasked frame");
    // Still no room.
    assert_eq!(s.process(&input, &mut tiny), Progress::default());
    let mut out = [0u8; 64];
    let p = s.process(&input, &mut out);
    assert_eq!(p.consumed, 0);
    let frames = parse_out(&out[..p.written]);
    assert_failed(&s, &frames, 1002, "unmasked frame");
    assert!(!s.has_pending_output());
    assert_eq!(s.process(&input, &mut out), Progress::default());
}

#[test]
fn pending_peer_close_reply() {
    let input = close_frame(1000, b"bye");
    let mut s = session();
    let p = s.process(&input, &mut [0u8; 2]);
    assert_eq!(
        p,
        Progress {
            consumed: input.len(),
            written: 0
        }
    );
    assert!(s.is_closed() && s.has_pending_output());
    let mut out = [0u8; 4];
    let p = s.process(&[], &mut out);
    assert_eq!(
        p,
        Progress {
            consumed: 0,
            written: 4
        }
    );
    assert_eq!(out, [0x88, 0x02, 0x03, 0xE8]);
}

#[test]
fn process_after_close_consumes_nothing() {
    let mut s = session();
    let mut out = [0u8; 64];
    s.process(&cframe(true, OP_CLOSE, b""), &mut out);
    assert!(s.is_closed());
    let more = cframe(true, OP_TEXT, b"x");
    assert_eq!(s.process(&more, &mut out), Progress::default());
    assert_eq!(s.write_ping(b"x", &mut out), 0);
    assert_eq!(s.close(1001, "bye", "timeout", &mut out), 0);
    assert_eq!(s.close_info().unwrap().reason, "client closed");
}

#[test]
fn write_ping_behaviour() {
    let mut s = session();
    let mut out = [0u8; 200];
    assert_eq!(s.write_ping(b"ka", &mut out), 4);
    assert_eq!(&out[..4], b"\x89\x02ka");
    assert_eq!(s.write_ping(b"", &mut out), 2);
    assert_eq!(&out[..2], b"\x89\x00");
    assert_eq!(s.write_ping(b"abc", &mut out[..4]), 0);
    assert_eq!(s.write_ping(&[1; 200], &mut out), 127);
    assert_eq!(parse_out(&out[..127])[0].payload, vec![1; 125]);
    assert!(s.is_idle() && !s.is_closed());
    // The client's pong is ignored.
    let p = s.process(&cframe(true, OP_PONG, b"ka"), &mut out);
    assert_eq!(p.written, 0);
}

#[test]
fn server_close_behaviour() {
    let mut s = session();
    let mut out = [0u8; 200];
    let n = s.close(1001, "going away", "timeout", &mut out);
    assert_eq!(n, 14);
    let frames = parse_out(&out[..n]);
    assert_eq!(close_code(&frames[0]), Some(1001));
    assert_eq!(&frames[0].payload[2..], b"going away");
    assert!(s.is_closed() && !s.has_pending_output());
    assert_eq!(
        s.close_info(),
        Some(CloseInfo {
            sent_code: Some(1001),
            received_code: None,
            peer_initiated: false,
            reason: "timeout"
        })
    );
    assert_eq!(s.close(1000, "", "again", &mut out), 0);
    assert_eq!(s.close_info().unwrap().reason, "timeout");
    assert_eq!(
        s.process(&cframe(true, OP_TEXT, b"x"), &mut out),
        Progress::default()
    );
}

#[test]
fn server_close_truncates_reason() {
    let mut s = session();
    let mut out = [0u8; 200];
    // 40 three-byte characters: 120 bytes fit, the 41st would not.
    let reason = "\u{20ac}".repeat(42);
    let n = s.close(1001, &reason, "server shutting down", &mut out);
    let f = &parse_out(&out[..n])[0];
    assert_eq!(f.payload.len(), 2 + 123);
    assert!(std::str::from_utf8(&f.payload[2..]).is_ok());

    let mut s = session();
    let n = s.close(
        1001,
        &"\u{20ac}".repeat(60),
        "server shutting down",
        &mut out,
    );
    let f = &parse_out(&out[..n])[0];
    assert_eq!(f.payload.len(), 2 + 123);
    assert!(f.payload.len() <= 125);
}

#[test]
fn server_close_pending() {
    let mut s = session();
    assert_eq!(
        s.close(1001, "shutdown", "server shutting down", &mut [0u8; 5]),
        0
    );
    assert!(s.is_closed() && s.has_pending_output());
    let mut out = [0u8; 64];
    let p = s.process(&cframe(true, OP_TEXT, b"x"), &mut out);
    assert_eq!(
        p,
        Progress {
            consumed: 0,
            written: 12
        }
    );
    assert_eq!(&out[..12], b"\x88\x0a\x03\xe9shutdown");
    assert!(!s.has_pending_output());
}

#[test]
fn server_close_mid_stream() {
    let mut s = EchoSession::new(config(256));
    let input = cframe(true, OP_BINARY, &binary_payload(5000));
    let mut out = vec![0u8; 1024];
    let p = s.process(&input[..2000], &mut out);
    assert!(p.written > 0);
    assert!(!s.is_idle());
    let n = s.close(1001, "", "timeout", &mut out);
    assert_eq!(n, 4);
    assert_eq!(
        s.process(&input[p.consumed..], &mut out),
        Progress::default()
    );
}

#[test]
fn is_idle_transitions() {
    let mut s = EchoSession::new(config(512));
    let mut out = vec![0u8; 4096];
    assert!(s.is_idle());
    s.process(&cframe(false, OP_TEXT, b"a"), &mut out);
    assert!(!s.is_idle());
    s.process(&cframe(true, OP_PING, b""), &mut out);
    assert!(!s.is_idle());
    s.process(&cframe(false, OP_CONTINUATION, b"b"), &mut out);
    assert!(!s.is_idle());
    s.process(&cframe(true, OP_CONTINUATION, b"c"), &mut out);
    assert!(s.is_idle());
    // A streamed frame: not idle from its header until its last byte.
    let big = cframe(true, OP_BINARY, &binary_payload(1000));
    let p = s.process(&big[..4], &mut out);
    assert_eq!(p.consumed, 0);
    assert!(s.is_idle());
    let p = s.process(&big[..8], &mut out);
    assert_eq!(p.consumed, 8);
    assert!(!s.is_idle());
    let p = s.process(&big[8..900], &mut out);
    assert_eq!(p.consumed, 892);
    assert!(!s.is_idle());
    let p = s.process(&big[900..], &mut out);
    assert_eq!(p.consumed, big.len() - 900);
    assert!(s.is_idle());
}

/// Deterministic pseudo-random generator for the robustness tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..2000 {
        let len = rng.below(300) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if round % 2 == 0 && !data.is_empty() {
            // Bias toward plausible headers: masked, small lengths.
            data[0] &= 0x8F;
            if data.len() > 1 {
                data[1] = 0x80 | (data[1] & 0x7F);
            }
        }
        let whole = 256 + rng.below(300) as usize;
        let out_cap = rng.below(700) as usize;
        let mut c = Caller::new(config(whole), whole, out_cap.max(1));
        c.feed(&data, 1 + rng.below(50) as usize);
        let mut out = vec![0u8; rng.below(200) as usize];
        c.s.write_ping(&data, &mut out);
        c.s.close(1001, "x", "timeout", &mut out);
        parse_out(&c.output);
    }
}

#[test]
fn random_valid_conversations() {
    let mut rng = Rng(12345);
    for _ in 0..200 {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        let mut pings = Vec::new();
        for _ in 0..rng.below(6) + 1 {
            let op = if rng.below(2) == 0 {
                OP_TEXT
            } else {
                OP_BINARY
            };
            let parts = rng.below(3) + 1;
            let mut whole_msg = Vec::new();
            for i in 0..parts {
                let len = [0, 5, 125, 126, 600, 3000, 70_000][rng.below(7) as usize];
                let payload = if op == OP_TEXT {
                    text_payload(len)
                } else {
                    binary_payload(len)
                };
                let fop = if i == 0 { op } else { OP_CONTINUATION };
                input.extend(cframe(i + 1 == parts, fop, &payload));
                whole_msg.extend_from_slice(&payload);
                if rng.below(3) == 0 {
                    let ping = vec![rng.next() as u8; rng.below(126) as usize];
                    input.extend(cframe(true, OP_PING, &ping));
                    pings.push(ping);
                }
            }
            expected.push((op, whole_msg));
        }
        let whole = [256, 1024, 4096, 1 << 20][rng.below(4) as usize];
        let out_cap = whole.max(600) + rng.below(2000) as usize;
        let piece = [1, 7, 100, 4096, 1 << 20][rng.below(5) as usize];
        let mut c = Caller::new(config(whole), whole, out_cap);
        c.feed(&input, piece);
        assert!(c.inbuf.is_empty());
        let (msgs, controls) = messages(&c.frames());
        assert!(msgs == expected);
        let pongs: Vec<Vec<u8>> = controls
            .into_iter()
            .map(|f| {
                assert_eq!(f.opcode, OP_PONG);
                f.payload
            })
            .collect();
        assert_eq!(pongs, pings);
        assert!(c.s.is_idle() && !c.s.is_closed());
    }
}

/// Autobahn 6.4.3's payload: valid text, then a sequence that is invalid
/// from its second byte (U+110000 and up), then more text.
const AUTOBAHN_6_4: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";

/// Header length of `cframe` output for payloads up to 125 bytes.
const SMALL_HL: usize = 6;

#[test]
fn invalid_text_fails_before_the_frame_is_complete() {
    let input = cframe(true, OP_TEXT, AUTOBAHN_6_4);
    let mut s = session();
    let mut out = [0u8; 256];
    // Header and the valid first 11 payload bytes: nothing to do yet.
    assert_eq!(
        s.process(&input[..SMALL_HL + 11], &mut out),
        Progress::default()
    );
    assert!(!s.is_closed());
    // The 4 invalid bytes arrive; the rest of the frame is still missing.
    let p = s.process(&input[..SMALL_HL + 15], &mut out);
    assert_eq!(p.consumed, 0);
    let frames = parse_out(&out[..p.written]);
    assert_eq!(frames.len(), 1, "only the close, nothing of the frame");
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");
    assert_eq!(s.process(&input, &mut out), Progress::default());
}

#[test]
fn invalid_text_split_over_three_calls_fails_at_the_bad_byte() {
    // Autobahn 6.4.4: the invalid sequence arrives a byte at a time.
    let input = cframe(true, OP_TEXT, AUTOBAHN_6_4);
    let mut s = session();
    let mut out = [0u8; 256];
    assert_eq!(
        s.process(&input[..SMALL_HL + 11], &mut out),
        Progress::default()
    );
    // F4: a valid start of a 4-byte sequence.
    assert_eq!(
        s.process(&input[..SMALL_HL + 12], &mut out),
        Progress::default()
    );
    assert!(!s.is_closed());
    // 90: F4 90 is above U+10FFFF.
    let p = s.process(&input[..SMALL_HL + 13], &mut out);
    assert_eq!(p.consumed, 0);
    assert_failed(
        &s,
        &parse_out(&out[..p.written]),
        1007,
        "invalid UTF-8 in text message",
    );
}

#[test]
fn invalid_text_fails_in_the_read_that_brings_the_bad_byte() {
    // Over several 256-byte check chunks and key phases.
    let mut payload = text_payload(1500);
    let bad = 1001;
    payload[bad] = 0xFF;
    let input = cframe(true, OP_TEXT, &payload);
    let hl = input.len() - payload.len();
    for piece in [1, 3, 7, 255, 256, 257, 1000] {
        let mut s = session();
        let mut out = vec![0u8; 4096];
        let mut have = 0;
        loop {
            have = (have + piece).min(input.len());
            let p = s.process(&input[..have], &mut out);
            assert_eq!(p.consumed, 0, "piece {piece}");
            if have <= hl + bad {
                assert_eq!(p, Progress::default(), "piece {piece} have {have}");
                continue;
            }
            let frames = parse_out(&out[..p.written]);
            assert_eq!(frames.len(), 1, "piece {piece}");
            assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");
            break;
        }
    }
}

#[test]
fn valid_text_one_byte_at_a_time_is_echoed_once_whole() {
    for len in [0, 5, 125, 600, 3000] {
        for fin in [true, false] {
            let payload = text_payload(len);
            let input = cframe(fin, OP_TEXT, &payload);
            let mut s = session();
            let mut out = vec![0u8; 4096];
            for i in 0..input.len() {
                assert_eq!(
                    s.process(&input[..i], &mut out),
                    Progress::default(),
                    "len {len} byte {i}"
                );
                assert!(!s.is_closed());
            }
            let p = s.process(&input, &mut out);
            assert_eq!(p.consumed, input.len());
            assert_eq!(
                parse_out(&out[..p.written]),
                vec![Frame {
                    fin,
                    opcode: OP_TEXT,
                    payload
                }]
            );
            assert_eq!(s.is_idle(), fin);
        }
    }
}

#[test]
fn valid_text_in_uneven_reads_matches_one_read() {
    // Reads that split code points and restart the check at odd offsets.
    let payload = text_payload(2000);
    let mut input = cframe(true, OP_TEXT, &payload);
    input.extend(cframe(true, OP_TEXT, "\u{1F600}".as_bytes()));
    for piece in [2, 5, 13, 255, 257, 1023] {
        let mut c = Caller::new(config(4096), 4096, 4096);
        c.feed(&input, piece);
        assert!(c.inbuf.is_empty());
        let frames = c.frames();
        assert_eq!(frames.len(), 2, "piece {piece}");
        assert_eq!(frames[0].payload, payload);
        assert_eq!(frames[1].payload, "\u{1F600}".as_bytes());
        assert!(frames.iter().all(|f| f.fin && f.opcode == OP_TEXT));
        assert!(c.s.is_idle() && !c.s.is_closed());
    }
}

#[test]
fn text_ending_mid_code_point_fails_only_when_complete() {
    let input = cframe(true, OP_TEXT, b"ab\xF0\x9F\x98");
    let mut s = session();
    let mut out = [0u8; 256];
    for i in 0..input.len() {
        assert_eq!(s.process(&input[..i], &mut out), Progress::default());
    }
    let p = s.process(&input, &mut out);
    assert_failed(
        &s,
        &parse_out(&out[..p.written]),
        1007,
        "invalid UTF-8 in text message",
    );
}

#[test]
fn incomplete_continuation_becomes_invalid() {
    // The first fragment ends inside U+20AC; the second completes it, then
    // goes on with valid text until an invalid byte.
    let first = cframe(false, OP_TEXT, b"ab\xE2\x82");
    let mut second_payload = b"\xACcdef".to_vec();
    second_payload.extend_from_slice(&[b'x'; 50]);
    second_payload.push(0xC0);
    second_payload.extend_from_slice(&[b'y'; 50]);
    let second = cframe(true, OP_CONTINUATION, &second_payload);
    let bad_end = first.len() + SMALL_HL + 56;
    let input = [first.clone(), second].concat();

    let mut s = session();
    let mut out = [0u8; 256];
    // The first fragment is echoed, the second is still incomplete.
    let p = s.process(&input[..bad_end - 1], &mut out);
    assert_eq!(p.consumed, first.len());
    assert_eq!(
        parse_out(&out[..p.written]),
        vec![Frame {
            fin: false,
            opcode: OP_TEXT,
            payload: b"ab\xE2\x82".to_vec()
        }]
    );
    let rest = &input[first.len()..];
    let n = bad_end - 1 - first.len();
    // Re-offered with no new bytes: still fine.
    assert_eq!(s.process(&rest[..n], &mut out), Progress::default());
    // The invalid byte arrives, 50 payload bytes before the frame's end.
    let p = s.process(&rest[..n + 1], &mut out);
    assert_eq!(p.consumed, 0);
    let frames = parse_out(&out[..p.written]);
    assert_eq!(frames.len(), 1);
    assert_failed(&s, &frames, 1007, "invalid UTF-8 in text message");

    // The carried code point of the first fragment is checked early too:
    // a continuation that does not complete it fails on its first byte.
    let second = cframe(true, OP_CONTINUATION, b"\x28 and more text");
    let mut s = session();
    let p = s.process(&first, &mut out);
    assert_eq!(p.consumed, first.len());
    assert_eq!(
        s.process(&second[..SMALL_HL], &mut out),
        Progress::default()
    );
    let p = s.process(&second[..SMALL_HL + 1], &mut out);
    assert_failed(
        &s,
        &parse_out(&out[..p.written]),
        1007,
        "invalid UTF-8 in text message",
    );
}

#[test]
fn valid_continuation_one_byte_at_a_time() {
    let mut input = cframe(false, OP_TEXT, b"ab\xE2\x82");
    input.extend(cframe(true, OP_PING, b"p"));
    input.extend(cframe(true, OP_CONTINUATION, b"\xAC \xF0\x9F\x98\x80 ok"));
    let mut c = Caller::new(config(256), 256, 600);
    c.feed(&input, 1);
    let frames = c.frames();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].opcode, OP_PONG);
    assert_eq!(
        frames[2],
        Frame {
            fin: true,
            opcode: OP_CONTINUATION,
            payload: b"\xAC \xF0\x9F\x98\x80 ok".to_vec()
        }
    );
    assert!(c.s.is_idle() && !c.s.is_closed());
}

#[test]
fn binary_frames_are_not_checked_early() {
    let payload = vec![0xFF; 300];
    let mut input = cframe(true, OP_BINARY, &payload);
    input.extend(cframe(false, OP_BINARY, &[0xC0; 10]));
    input.extend(cframe(true, OP_CONTINUATION, &[0xF5; 200]));
    let mut c = Caller::new(config(4096), 4096, 4096);
    c.feed(&input, 1);
    let frames = c.frames();
    assert_eq!(frames.len(), 3, "echoed whole, same framing");
    assert_eq!(
        messages(&frames).0,
        vec![
            (OP_BINARY, payload),
            (OP_BINARY, [vec![0xC0; 10], vec![0xF5; 200]].concat())
        ]
    );
    assert!(c.s.is_idle() && !c.s.is_closed());
}

#[test]
fn complete_invalid_text_fails_without_room_for_its_echo() {
    let mut payload = vec![b'a'; 100];
    payload[10] = 0xFF;
    let input = cframe(true, OP_TEXT, &payload);
    let mut s = session();
    // No room for the 102-byte echo, but room for the close frame.
    let mut out = [0u8; 40];
    let p = s.process(&input, &mut out);
    assert_eq!(p.consumed, 0);
    assert_failed(
        &s,
        &parse_out(&out[..p.written]),
        1007,
        "invalid UTF-8 in text message",
    );
}

#[test]
fn early_check_state_does_not_outlive_its_frame() {
    // The same header (same key, length) twice: the second frame's check
    // starts from scratch, not from where the first one's stopped.
    let a = cframe(true, OP_TEXT, b"0123456789");
    let b = cframe(true, OP_TEXT, b"01234\xFF6789");
    let mut s = session();
    let mut out = [0u8; 256];
    assert_eq!(s.process(&a[..SMALL_HL + 8], &mut out), Progress::default());
    let input = [a.clone(), b[..SMALL_HL + 4].to_vec()].concat();
    let p = s.process(&input, &mut out);
    assert_eq!(p.consumed, a.len());
    assert!(!s.is_closed());
    let p = s.process(&b, &mut out);
    assert_failed(
        &s,
        &parse_out(&out[..p.written]),
        1007,
        "invalid UTF-8 in text message",
    );

    // A server close while a text frame waits ends it all.
    let mut s = session();
    assert_eq!(s.process(&a[..SMALL_HL + 3], &mut out), Progress::default());
    assert_eq!(s.close(1001, "", "timeout", &mut out), 4);
    assert_eq!(s.process(&b, &mut out), Progress::default());
}

#[test]
fn inconsistent_input_never_panics() {
    // A caller that breaks the contract (offers other bytes than it was
    // left with) gets arbitrary echoes or closes, never a panic.
    let mut rng = Rng(0xDEAD_BEEF);
    for _ in 0..500 {
        let mut s = EchoSession::new(config(256 + rng.below(300) as usize));
        let mut out = vec![0u8; 600];
        for _ in 0..20 {
            let len = rng.below(200) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let op = [OP_TEXT, OP_CONTINUATION, OP_BINARY][rng.below(3) as usize];
            let f = cframe(rng.below(2) == 0, op, &payload);
            let cut = rng.below(f.len() as u64 + 1) as usize;
            s.process(&f[..cut], &mut out);
        }
    }
}
