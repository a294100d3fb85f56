//! `deflate_echo`: client messages, compressed or not, whole or in
//! fragments, sometimes with corrupted compressed bytes, through
//! `echo::process_deflate` and one `FrameBuffer`, with reads and sends of
//! arbitrary sizes, under both context-takeover settings and several
//! windows, minimum lengths and message limits.
//!
//! Reference: each message is inflated in one call by its own inflater
//! (persistent under client context takeover) with the output capped at
//! the limit, and checked for UTF-8; the first message that is corrupt, too
//! big or invalid text must end the connection with 1007 or 1009 (1007 for
//! bad text), and every message before it must come back equal. The
//! server's output must be valid for a strict client session (RSV1 only on
//! first frames), compressed exactly when the message reaches the minimum
//! length, and inflate (per message, or across messages under server
//! takeover) with the negotiated server window.
//!
//! Input layout: byte 0: bit 0 client takeover, bit 1 server takeover,
//! bits 2-3 server window (9, 10, 12, 15), bits 4-5 minimum length
//! (0, 1, 64, 300), bits 6-7 message limit; byte 1: bits 0-3 read size,
//! bits 4-7 send size; then messages: a control byte (bit 0 binary, bit 1
//! compressed, bits 2-4 fragment size, bits 5-7 corruption), a length byte
//! (times a scale, smaller when reads or sends are tiny), and content
//! bytes taken from the rest.

use ngx_websocket_codec::buffer::FrameBuffer;
use ngx_websocket_codec::deflate::zlib::{Deflater, Flush, Inflater};
use ngx_websocket_codec::deflate::{Agreement, DeflateParams, Params, Pipeline, Pool, RSV1};
use ngx_websocket_codec::echo::process_deflate;
use ngx_websocket_codec::session::{
    transformed_bound, Config, Event, MessageKind, Outgoing, Role, Session,
};

const WINDOW: [u8; 4] = [9, 10, 12, 15];
const MIN_LENGTH: [usize; 4] = [0, 1, 64, 300];
const LIMIT: [u64; 4] = [u64::MAX, 100, 5000, 70_000];
const SIZES: [usize; 16] = [
    1,
    2,
    7,
    64,
    333,
    1000,
    4096,
    10_000,
    65_536,
    1 << 20,
    3,
    50,
    700,
    16_384,
    100_000,
    1 << 20,
];
const FRAGMENT: [usize; 8] = [usize::MAX, 1, 10, 100, 1000, 16_000, 5, usize::MAX];
const CAPACITY: usize = 128 * 1024;

#[derive(Debug, Clone)]
pub struct Message {
    pub binary: bool,
    pub compressed: bool,
    pub fragment: usize,
    /// 0: none; else flip a byte at (n * 37) % len, or truncate.
    pub corrupt: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub client_takeover: bool,
    pub server_takeover: bool,
    pub window: u8,
    pub min_length: usize,
    pub limit: u64,
    pub read: usize,
    pub send: usize,
    pub messages: Vec<Message>,
}

pub fn decode(data: &[u8]) -> Case {
    let b = |i: usize| data.get(i).copied().unwrap_or(0);
    let (b0, b1) = (b(0), b(1));
    let (read, send) = (SIZES[usize::from(b1 & 15)], SIZES[usize::from(b1 >> 4)]);
    // Byte-sized reads or sends of megabytes would take the fuzzer seconds
    // per input: keep messages small then.
    let scales: [usize; 4] = if read.min(send) < 64 {
        [1, 13, 101, 301]
    } else {
        [1, 13, 301, 4001]
    };
    let mut messages = Vec::new();
    let mut rest = data.get(2..).unwrap_or_default();
    while rest.len() >= 2 && messages.len() < 12 {
        let (ctl, len) = (rest[0], usize::from(rest[1]));
        rest = &rest[2..];
        let scale = scales[len >> 6];
        let n = (len & 63) * scale;
        // Content: the fuzzer's bytes, repeated (so that long messages
        // compress, as real ones do).
        let seed = &rest[..rest.len().min(64)];
        let data: Vec<u8> = if seed.is_empty() {
            vec![b'a'; n]
        } else {
            seed.iter().copied().cycle().take(n).collect()
        };
        rest = &rest[seed.len().min(8)..];
        messages.push(Message {
            binary: ctl & 1 != 0,
            compressed: ctl & 2 != 0,
            fragment: FRAGMENT[usize::from((ctl >> 2) & 7)],
            corrupt: ctl >> 5,
            data,
        });
    }
    Case {
        client_takeover: b0 & 1 != 0,
        server_takeover: b0 & 2 != 0,
        window: WINDOW[usize::from((b0 >> 2) & 3)],
        min_length: MIN_LENGTH[usize::from((b0 >> 4) & 3)],
        limit: LIMIT[usize::from(b0 >> 6)],
        read,
        send,
        messages,
    }
}

/// What the server must make of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Echo(Vec<u8>),
    /// Corrupt or too big: 1007 or 1009.
    Fails,
    /// Text that is not UTF-8: 1007.
    BadText,
}

fn raw_deflate(d: &mut Deflater, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let mut at = 0;
    loop {
        let p = d.compress(&data[at..], &mut chunk, Flush::Sync);
        at += p.consumed;
        out.extend_from_slice(&chunk[..p.produced]);
        if at == data.len() && !p.output_full {
            break;
        }
    }
    if out.is_empty() {
        // zlib makes nothing of an empty flush right after a flush: an
        // empty message is then the single byte RFC 7692 7.2.3.6 allows.
        return vec![0];
    }
    out.truncate(out.len() - 4);
    out
}

/// Inflate `payload` (+ trailer) with the output capped: in one call, or
/// one per stream when a final block ends one and more follows (a new stream
/// with the same history, RFC 7692 section 7.2.1). `None`: corrupt, over
/// the cap, or not ending between blocks.
fn reference_inflate(i: &mut Inflater, payload: &[u8], cap: u64) -> Option<Vec<u8>> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let room = cap.saturating_add(1).min(1 << 26) as usize;
    let mut out = vec![0u8; room];
    let (mut at, mut produced, mut fresh) = (0, 0, false);
    loop {
        let p = i.decompress(&input[at..], &mut out[produced..]).ok()?;
        at += p.consumed;
        produced += p.produced;
        if produced as u64 > cap {
            return None;
        }
        if p.stream_end {
            i.restart_keeping_window().ok()?;
            fresh = true;
            if at == input.len() {
                break;
            }
            continue;
        }
        fresh = fresh && p.consumed == 0;
        if at < input.len() {
            // Output room left but input not taken: cannot happen for valid data.
            return None;
        }
        break;
    }
    if !fresh && !i.at_block_boundary() {
        // The message ended inside a block.
        return None;
    }
    out.truncate(produced);
    Some(out)
}

pub fn check(data: &[u8]) {
    check_case(&decode(data));
}

pub fn check_case(c: &Case) {
    let agreement = Agreement {
        server_no_context_takeover: !c.server_takeover,
        client_no_context_takeover: !c.client_takeover,
        server_max_window_bits: Some(c.window),
        client_max_window_bits: None,
    };
    let params = Params {
        min_length: c.min_length,
        max_frame_len: u64::MAX,
        max_message_len: c.limit,
        level: 1,
        mem_level: 4,
        ..Params::server(&agreement)
    };
    let config = Config {
        max_frame_len: u64::MAX >> 1,
        max_message_len: c.limit,
        whole_frame_max: CAPACITY - 2048,
        message_rsv: RSV1,
    };
    // The client's stream and the reference verdicts.
    let mut client = Session::new(Role::client([3; 32]), config);
    let mut deflater = Deflater::new(DeflateParams {
        level: 6,
        window_bits: 15,
        mem_level: 8,
    })
    .expect("deflater");
    let mut ref_inflater = Inflater::new(15).expect("inflater");
    let mut stream = Vec::new();
    let mut verdicts = Vec::new();
    for m in &c.messages {
        let mut payload = if m.compressed {
            if !c.client_takeover {
                deflater.reset();
            }
            raw_deflate(&mut deflater, &m.data)
        } else {
            m.data.clone()
        };
        if m.compressed && m.corrupt != 0 && !payload.is_empty() {
            let n = usize::from(m.corrupt);
            if n == 7 {
                payload.truncate(payload.len() / 2);
            } else {
                let at = (n * 37) % payload.len();
                payload[at] ^= 1 << n;
            }
        }
        // The wire limit of a compressed message has the session's slack
        // for incompressible data; what it inflates to has the exact limit.
        let wire_limit = if m.compressed {
            transformed_bound(c.limit)
        } else {
            c.limit
        };
        let verdict = if payload.len() as u64 > wire_limit {
            Verdict::Fails
        } else if m.compressed {
            if !c.client_takeover {
                ref_inflater.reset();
            }
            match reference_inflate(&mut ref_inflater, &payload, c.limit) {
                None => Verdict::Fails,
                Some(d) if !m.binary && std::str::from_utf8(&d).is_err() => Verdict::BadText,
                Some(d) => Verdict::Echo(d),
            }
        } else if !m.binary && std::str::from_utf8(&payload).is_err() {
            Verdict::BadText
        } else {
            Verdict::Echo(payload.clone())
        };
        let ends = !matches!(verdict, Verdict::Echo(_));
        verdicts.push(verdict);
        let kind = if m.binary {
            Outgoing::Binary
        } else {
            Outgoing::Text
        };
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[][..]]
        } else {
            payload.chunks(m.fragment.min(payload.len())).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let frame = if i == 0 { kind } else { Outgoing::Continuation };
            let rsv = if i == 0 && m.compressed { RSV1 } else { 0 };
            let mut out = vec![0u8; chunk.len() + 16];
            let n = client
                .encode_data(&mut out, frame, i + 1 == chunks.len(), rsv, chunk)
                .expect("client frame");
            stream.extend_from_slice(&out[..n]);
        }
        if ends {
            break;
        }
    }

    // The server.
    let mut server = Session::server(config);
    let mut buf = FrameBuffer::new(CAPACITY);
    let mut pipe = Pipeline::new(params);
    let mut pool = Pool::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut idle_rounds = 0;
    let mut parked = 0;
    while idle_rounds < 3 {
        let mut moved = false;
        if at < stream.len() && server.is_receiving() {
            let space = buf.read_space();
            let n = space.len().min(c.read).min(stream.len() - at);
            space[..n].copy_from_slice(&stream[at..at + n]);
            buf.commit_read(n);
            at += n;
            moved |= n > 0;
        }
        let p = process_deflate(&mut server, &mut buf, &mut pipe, &mut pool);
        moved |= p.consumed > 0 || p.events > 0;
        let mut sent = 0;
        for seg in buf.segments() {
            let n = seg.len().min(c.send - sent);
            out.extend_from_slice(&seg[..n]);
            sent += n;
            if sent == c.send {
                break;
            }
        }
        buf.sent(sent);
        moved |= sent > 0;
        idle_rounds = if moved { 0 } else { idle_rounds + 1 };
        if idle_rounds == 1 {
            // Nothing moves: what the engine does when the peer goes quiet.
            if let Err(e) = pipe.park(&mut server, &mut buf, &mut pool) {
                panic!("park failed: {e:?}");
            }
            idle_rounds = 0;
            parked += 1;
            if parked > 3 {
                idle_rounds = 3;
            }
        }
    }
    assert!(!buf.has_output(), "output left unsent");

    // What the client receives.
    let mut reader = Session::new(
        Role::client([4; 32]),
        Config {
            whole_frame_max: 0,
            max_frame_len: u64::MAX >> 1,
            max_message_len: u64::MAX,
            message_rsv: RSV1,
        },
    );
    let mut inflater = Inflater::new(c.window).expect("client inflater");
    let mut got: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    let mut close = None;
    let mut pos = 0;
    loop {
        let step = reader.next_event(&mut out[pos..]);
        pos += step.consumed;
        let Some(event) = step.event else {
            if step.consumed == 0 {
                break;
            }
            continue;
        };
        match event {
            Event::Data(piece) => {
                if piece.message_start {
                    current = Some((piece.rsv & RSV1 != 0, Vec::new()));
                }
                let m = current.as_mut().expect("message open");
                m.1.extend_from_slice(piece.payload);
                if piece.message_end {
                    let (compressed, raw) = current.take().expect("message");
                    let data = if compressed {
                        if !c.server_takeover {
                            inflater.reset();
                        }
                        reference_inflate(&mut inflater, &raw, u64::MAX >> 1)
                            .expect("server's compressed message inflates with its window")
                    } else {
                        raw
                    };
                    assert_eq!(
                        piece.kind == MessageKind::Binary,
                        c.messages[got.len()].binary
                    );
                    got.push((compressed, data));
                }
            }
            Event::Close(cf) => close = cf.code,
            Event::Failed(f) => panic!("the server sent an invalid frame: {f:?}"),
            _ => {}
        }
    }
    assert_eq!(pos, out.len(), "whole frames only");

    // Against the verdicts.
    for (i, v) in verdicts.iter().enumerate() {
        match v {
            Verdict::Echo(want) => {
                let (compressed, data) = got
                    .get(i)
                    .unwrap_or_else(|| panic!("message {i} not echoed"));
                if data != want {
                    let at = data.iter().zip(want).position(|(a, b)| a != b);
                    panic!(
                        "message {i}: echoed {} bytes, sent {}, first difference at {at:?}",
                        data.len(),
                        want.len()
                    );
                }
                assert_eq!(
                    *compressed,
                    want.len() >= c.min_length,
                    "message {i} compression"
                );
            }
            Verdict::Fails => {
                assert_eq!(
                    got.len(),
                    i,
                    "nothing of the failed message {i} is echoed whole"
                );
                assert!(
                    matches!(close, Some(1007 | 1009)),
                    "close {close:?} for message {i}"
                );
                return;
            }
            Verdict::BadText => {
                assert_eq!(got.len(), i);
                assert_eq!(close, Some(1007), "bad text in message {i}");
                return;
            }
        }
    }
    assert_eq!(got.len(), verdicts.len());
    assert_eq!(close, None);
    if !c.server_takeover && !c.client_takeover {
        assert!(!pipe.holds_memory(), "no state between messages");
    }
}
