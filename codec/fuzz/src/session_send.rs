//! `session_send`: a script of send operations on a [`Session`] in either
//! role (`data_header`, `encode_data` with Text, Binary or Continuation
//! frames, FIN and RSV bits; `control_header`; `encode_ping`, `encode_pong`
//! and `encode_close` with arbitrary codes and reasons; output buffers of
//! arbitrary lengths; and the peer's close frame received in between),
//! checked against [`Model`], a small model of the sending rules: a new
//! message cannot start inside another (`MessageOpen`), a continuation
//! needs an open message (`NoMessage`), nothing goes after our close
//! (`Closed`), RSV bits only as `message_rsv` allows and only on a
//! message's first frame (`ReservedBits`), control payloads of at most 125
//! bytes (`ControlTooLong`), only close codes a peer may receive
//! (`InvalidCloseCode`), and a frame must fit the output buffer (`NoRoom`).
//! When several rules are broken any of their errors is accepted; after an
//! error nothing may have changed (state, counters, masking keys, output
//! buffer).
//!
//! Every frame made is parsed back with a reference parser: unmasked in
//! the server role, masked in the client role with the next key of a
//! `KeyStream` seeded like the session's (so keys are consumed by frames
//! only), minimal length encoding, FIN/RSV/opcode as asked, the payload
//! round-trips, a close reason is cut at a character boundary to 123
//! bytes, and nothing is written past the frame. `stats()`, `close_sent()`,
//! `is_idle()` and `is_closed()` must follow the model. In the client role
//! a script of 8 or more frames must not use one masking key for all.
//!
//! `data_header` lengths cover the whole u64 range: 2^63 and more must be
//! refused (`TooLong`, RFC 6455 5.2), and `stats().bytes_out` saturates.
//!
//! Input layout: byte 0 = bit 0 client role, bits 1-2 `message_rsv` choice
//! (0, 4, 7, 1), bits 3-7 vary the client's key seed; then ops until the
//! input ends (at most [`MAX_OPS`]), each an op byte (low 3 bits the kind,
//! see [`decode`]) and its parameter bytes (missing ones read as 0);
//! `encode_data` payloads past [`PAYLOAD_BUDGET`] bytes in all are cut to
//! under 256 bytes.

use ngx_websocket_codec::keys::KeyStream;
use ngx_websocket_codec::session::{Config, Outgoing, Role, SendError, Session};

const RSV: [u8; 4] = [0, 4, 7, 1];
/// Most ops of a script.
pub const MAX_OPS: usize = 512;
/// Most `encode_data` payload bytes of a script (further payloads are cut
/// to under 256 bytes), which keeps executions short.
pub const PAYLOAD_BUDGET: usize = 256 * 1024;
const LENGTHS: [u64; 8] = [125, 126, 127, 65_535, 1 << 63, 1 << 32, (1 << 63) - 1, 0];
const PAYLOADS: [usize; 8] = [125, 126, 65_535, 65_536, 70_000, 0, 1, 124];
const CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 2999, 3000, 4999, 5000, 0, 1009,
];
const CHARS: [char; 4] = ['a', '\u{e9}', '\u{20ac}', '\u{1F600}'];

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// How long the output buffer is, relative to what the frame needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// The frame's length plus this (which may be negative).
    Delta(i32),
    /// This many bytes, whatever the frame needs.
    Exactly(usize),
}

impl Room {
    fn from_byte(o: u8) -> Room {
        if o & 0x80 == 0 {
            Room::Delta(i32::from(o) - 8)
        } else {
            Room::Exactly(usize::from(o & 0x7F) * 7)
        }
    }

    fn len(self, needed: usize) -> usize {
        match self {
            Room::Delta(d) => (needed as i64 + i64::from(d)).max(0) as usize,
            Room::Exactly(n) => n,
        }
    }
}

/// One send operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    DataHeader {
        frame: Outgoing,
        fin: bool,
        rsv: u8,
        len: u64,
    },
    EncodeData {
        frame: Outgoing,
        fin: bool,
        rsv: u8,
        len: usize,
        room: Room,
    },
    ControlHeader {
        pong: bool,
        len: usize,
    },
    EncodeControl {
        pong: bool,
        len: usize,
        room: Room,
    },
    EncodeClose {
        code: Option<u16>,
        reason: String,
        room: Room,
    },
    /// The peer's close frame arrives (`None`: an empty one).
    ReceiveClose(Option<u16>),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub server: bool,
    pub message_rsv: u8,
    pub seed: [u8; 32],
    pub ops: Vec<Op>,
}

/// A reason of at least `len` bytes from multi-byte characters.
pub fn reason(len: usize, sel: usize) -> String {
    let mut s = String::new();
    let mut i = sel;
    while s.len() < len {
        s.push(CHARS[i % 4]);
        i = i.wrapping_mul(5).wrapping_add(3);
    }
    s
}

/// The op bytes not read yet; reading past the end gives zeros.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

fn frame_of(bits: u8) -> Outgoing {
    match bits & 3 {
        0 => Outgoing::Text,
        1 => Outgoing::Binary,
        _ => Outgoing::Continuation,
    }
}

/// Op bytes: kind = low 3 bits, flags = the high 5.
/// - 0 `data_header`: flags bits 0-1 frame (Text, Binary, Continuation),
///   bit 2 FIN, bits 3-4 length form; an RSV byte (low 4 bits); the length:
///   1 byte, 2 bytes, a table choice, or 8 bytes.
/// - 1 and 7 `encode_data` (7: always a continuation): frame and FIN as
///   above, bits 3-4 payload length form (1 byte, 2 bytes, table, 3 x a
///   byte); an RSV byte; the length bytes; a room byte ([`Room`]).
/// - 2 `control_header`: flags bit 0 pong; a length byte.
/// - 3 `encode_ping`, 4 `encode_pong`: a length byte, a room byte.
/// - 5 `encode_close`: flags bit 0 no code, bit 1 a raw 2-byte code (else a
///   table choice byte); a reason length byte; a room byte.
/// - 6 the peer's close frame: flags bit 0 empty, else code 1000.
pub fn decode(data: &[u8]) -> Case {
    let b0 = data.first().copied().unwrap_or(0);
    let mut seed = [0u8; 32];
    for (i, s) in seed.iter_mut().enumerate() {
        *s = (b0 >> 3)
            .wrapping_mul(29)
            .wrapping_add((i as u8).wrapping_mul(13));
    }
    let mut cur = Cursor(data.get(1..).unwrap_or_default());
    let mut ops = Vec::new();
    let mut budget = PAYLOAD_BUDGET;
    while !cur.0.is_empty() && ops.len() < MAX_OPS {
        let mut take = || cur.byte();
        let op = take();
        let (kind, flags) = (op & 7, op >> 3);
        let op = match kind {
            0 => {
                let rsv = take() & 0x0F;
                let len = match (flags >> 3) & 3 {
                    0 => u64::from(take()),
                    1 => u64::from(u16::from_be_bytes([take(), take()])),
                    2 => LENGTHS[usize::from(take() & 7)],
                    _ => {
                        let mut l = [0u8; 8];
                        for x in &mut l {
                            *x = take();
                        }
                        u64::from_be_bytes(l)
                    }
                };
                Op::DataHeader {
                    frame: frame_of(flags),
                    fin: flags & 4 != 0,
                    rsv,
                    len,
                }
            }
            1 | 7 => {
                let rsv = take() & 0x0F;
                let len = match (flags >> 3) & 3 {
                    0 => usize::from(take()),
                    1 => usize::from(u16::from_be_bytes([take(), take()])),
                    2 => PAYLOADS[usize::from(take() & 7)],
                    _ => usize::from(take()) * 3,
                };
                // Past the script's payload budget, payloads shrink.
                let len = if len > budget { len % 256 } else { len };
                budget = budget.saturating_sub(len);
                Op::EncodeData {
                    frame: if kind == 7 {
                        Outgoing::Continuation
                    } else {
                        frame_of(flags)
                    },
                    fin: flags & 4 != 0,
                    rsv,
                    len,
                    room: Room::from_byte(take()),
                }
            }
            2 => Op::ControlHeader {
                pong: flags & 1 != 0,
                len: usize::from(take()),
            },
            3 | 4 => Op::EncodeControl {
                pong: kind == 4,
                len: usize::from(take()),
                room: Room::from_byte(take()),
            },
            5 => {
                let code = if flags & 1 != 0 {
                    None
                } else if flags & 2 != 0 {
                    Some(u16::from_be_bytes([take(), take()]))
                } else {
                    Some(CODES[usize::from(take() & 15)])
                };
                let len = usize::from(take());
                Op::EncodeClose {
                    code,
                    reason: reason(len, usize::from(flags >> 2)),
                    room: Room::from_byte(take()),
                }
            }
            _ => Op::ReceiveClose((flags & 1 == 0).then_some(1000)),
        };
        ops.push(op);
    }
    Case {
        server: b0 & 1 == 0,
        message_rsv: RSV[usize::from((b0 >> 1) & 3)],
        seed,
        ops,
    }
}

// ---------------------------------------------------------------------------
// The model.

/// What the sending side must look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// Opcode (TEXT or BINARY) of the message whose final frame is not out.
    pub outgoing: Option<u8>,
    /// The close frame we sent: `Some(None)` for an empty one.
    pub close_sent: Option<Option<u16>>,
    pub receiving: bool,
    pub frames_out: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Header length for a payload length, minimal encoding, masked or not.
fn header_len(len: u64, masked: bool) -> usize {
    let n = match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    n + if masked { 4 } else { 0 }
}

impl Model {
    /// The errors a data frame may get, and its opcode if none.
    fn data_rules(&self, frame: Outgoing, rsv: u8, rsv_allowed: u8) -> (Vec<SendError>, u8) {
        let mut errs = Vec::new();
        if self.close_sent.is_some() {
            errs.push(SendError::Closed);
        }
        let opcode = match (frame, self.outgoing) {
            (Outgoing::Continuation, None) => {
                errs.push(SendError::NoMessage);
                OP_CONT
            }
            (Outgoing::Continuation, Some(_)) => OP_CONT,
            (_, Some(_)) => {
                errs.push(SendError::MessageOpen);
                OP_TEXT
            }
            (Outgoing::Text, None) => OP_TEXT,
            (Outgoing::Binary, None) => OP_BINARY,
        };
        let allowed = if frame == Outgoing::Continuation {
            0
        } else {
            rsv_allowed
        };
        if rsv & !allowed != 0 {
            errs.push(SendError::ReservedBits);
        }
        (errs, opcode)
    }

    fn data_sent(&mut self, opcode: u8, fin: bool, len: u64) {
        self.frames_out += 1;
        self.bytes_out = self.bytes_out.saturating_add(len);
        if fin {
            self.outgoing = None;
            self.messages_out += 1;
        } else if opcode != OP_CONT {
            self.outgoing = Some(opcode);
        }
    }
}

// ---------------------------------------------------------------------------
// The reference parser.

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    fin: bool,
    rsv: u8,
    opcode: u8,
    key: Option<[u8; 4]>,
    len: u64,
    header_len: usize,
}

/// Parse a header that must be minimally encoded, masked iff `masked`.
fn parse_header(b: &[u8], masked: bool) -> Parsed {
    assert!(b.len() >= 2, "short header {b:x?}");
    let (len, mut at) = match b[1] & 0x7F {
        126 => {
            let l = u64::from(u16::from_be_bytes([b[2], b[3]]));
            assert!(l > 125, "non-minimal 16-bit length {l}");
            (l, 4)
        }
        127 => {
            let mut l = [0u8; 8];
            l.copy_from_slice(&b[2..10]);
            let l = u64::from_be_bytes(l);
            assert!(l > 0xFFFF, "non-minimal 64-bit length {l}");
            assert_eq!(l >> 63, 0, "64-bit length with the top bit set");
            (l, 10)
        }
        n => (u64::from(n), 2),
    };
    assert_eq!(b[1] & 0x80 != 0, masked, "MASK bit");
    let key = masked.then(|| {
        let k = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        k
    });
    Parsed {
        fin: b[0] & 0x80 != 0,
        rsv: (b[0] >> 4) & 7,
        opcode: b[0] & 0x0F,
        key,
        len,
        header_len: at,
    }
}

/// The payload of a whole frame in `b` (of exactly that length), unmasked.
fn parse_frame(b: &[u8], masked: bool) -> (Parsed, Vec<u8>) {
    let h = parse_header(b, masked);
    assert_eq!(
        b.len() as u64,
        h.header_len as u64 + h.len,
        "frame length returned"
    );
    let p = &b[h.header_len..];
    let payload = match h.key {
        Some(k) => p.iter().enumerate().map(|(i, x)| x ^ k[i % 4]).collect(),
        None => p.to_vec(),
    };
    (h, payload)
}

fn payload(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + salt) as u8).collect()
}

/// Check a result against the model's error set: `Ok` exactly when the set
/// is empty, otherwise one of its errors.
fn expect<T: core::fmt::Debug>(r: &Result<T, SendError>, errs: &[SendError], what: &str) {
    match r {
        Ok(v) => assert!(errs.is_empty(), "{what}: Ok({v:?}), want one of {errs:?}"),
        Err(e) => assert!(errs.contains(e), "{what}: {e:?}, want one of {errs:?}"),
    }
}

const SENTINEL: u8 = 0xA5;

struct Runner {
    s: Session,
    m: Model,
    server: bool,
    rsv_allowed: u8,
    keys: KeyStream,
    used_keys: Vec<[u8; 4]>,
    salt: usize,
}

impl Runner {
    /// The frame's key, which must be the next of the key stream.
    fn check_key(&mut self, key: Option<[u8; 4]>) {
        assert_eq!(key.is_some(), !self.server);
        if let Some(k) = key {
            assert_eq!(k, self.keys.mask_key(), "masking key out of sequence");
            self.used_keys.push(k);
        }
    }

    fn check_state(&self, what: &str) {
        let st = self.s.stats();
        assert_eq!(
            (st.frames_out, st.messages_out, st.bytes_out),
            (self.m.frames_out, self.m.messages_out, self.m.bytes_out),
            "{what}: stats"
        );
        assert_eq!(
            self.s.close_sent(),
            self.m.close_sent.map(|c| c.unwrap_or(1005)),
            "{what}: close_sent"
        );
        assert_eq!(
            self.s.is_idle(),
            self.m.outgoing.is_none(),
            "{what}: is_idle"
        );
        assert_eq!(self.s.is_receiving(), self.m.receiving);
        assert_eq!(
            self.s.is_closed(),
            self.m.close_sent.is_some() && !self.m.receiving,
            "{what}: is_closed"
        );
    }

    fn run(&mut self, op: &Op) {
        self.salt += 1;
        let masked = !self.server;
        match *op {
            Op::DataHeader {
                frame,
                fin,
                rsv,
                len,
            } => {
                let (mut errs, opcode) = self.m.data_rules(frame, rsv, self.rsv_allowed);
                if len >> 63 != 0 {
                    errs.push(SendError::TooLong);
                }
                let r = self.s.data_header(frame, fin, rsv, len);
                expect(&r, &errs, "data_header");
                if let Ok(h) = r {
                    let p = parse_header(h.as_bytes(), masked);
                    assert_eq!(p.header_len, h.len(), "header length");
                    assert!(!h.is_empty());
                    assert_eq!(
                        (p.fin, p.rsv, p.opcode, p.len, p.key),
                        (fin, rsv, opcode, len, h.mask()),
                        "data header"
                    );
                    self.check_key(p.key);
                    self.m.data_sent(opcode, fin, len);
                }
            }
            Op::EncodeData {
                frame,
                fin,
                rsv,
                len,
                room,
            } => {
                let data = payload(len, self.salt);
                let needed = header_len(len as u64, masked) + len;
                let mut out = vec![SENTINEL; room.len(needed)];
                let (mut errs, opcode) = self.m.data_rules(frame, rsv, self.rsv_allowed);
                if out.len() < needed {
                    errs.push(SendError::NoRoom);
                }
                let r = self.s.encode_data(&mut out, frame, fin, rsv, &data);
                expect(&r, &errs, "encode_data");
                match r {
                    Ok(n) => {
                        assert_eq!(n, needed, "encode_data length");
                        let (p, got) = parse_frame(&out[..n], masked);
                        assert_eq!((p.fin, p.rsv, p.opcode), (fin, rsv, opcode));
                        assert!(got == data, "encode_data payload");
                        assert!(out[n..].iter().all(|&b| b == SENTINEL), "written past");
                        self.check_key(p.key);
                        self.m.data_sent(opcode, fin, len as u64);
                    }
                    Err(_) => assert!(out.iter().all(|&b| b == SENTINEL), "written on error"),
                }
            }
            Op::ControlHeader { pong, len } => {
                let mut errs = Vec::new();
                if self.m.close_sent.is_some() {
                    errs.push(SendError::Closed);
                }
                if len > 125 {
                    errs.push(SendError::ControlTooLong);
                }
                let r = self.s.control_header(pong, len);
                expect(&r, &errs, "control_header");
                if let Ok(h) = r {
                    let p = parse_header(h.as_bytes(), masked);
                    assert_eq!(p.header_len, h.len());
                    let op = if pong { OP_PONG } else { OP_PING };
                    assert_eq!(
                        (p.fin, p.rsv, p.opcode, p.len, p.key),
                        (true, 0, op, len as u64, h.mask())
                    );
                    self.check_key(p.key);
                    self.m.frames_out += 1;
                }
            }
            Op::EncodeControl { pong, len, room } => {
                let data = payload(len, self.salt);
                let needed = header_len(len as u64, masked) + len;
                let mut out = vec![SENTINEL; room.len(needed)];
                let mut errs = Vec::new();
                if self.m.close_sent.is_some() {
                    errs.push(SendError::Closed);
                }
                if len > 125 {
                    errs.push(SendError::ControlTooLong);
                }
                if out.len() < needed {
                    errs.push(SendError::NoRoom);
                }
                let r = if pong {
                    self.s.encode_pong(&mut out, &data)
                } else {
                    self.s.encode_ping(&mut out, &data)
                };
                expect(&r, &errs, "encode_ping/pong");
                match r {
                    Ok(n) => {
                        assert_eq!(n, needed);
                        let (p, got) = parse_frame(&out[..n], masked);
                        let op = if pong { OP_PONG } else { OP_PING };
                        assert_eq!((p.fin, p.rsv, p.opcode), (true, 0, op));
                        assert_eq!(got, data);
                        assert!(out[n..].iter().all(|&b| b == SENTINEL), "written past");
                        self.check_key(p.key);
                        self.m.frames_out += 1;
                    }
                    Err(_) => assert!(out.iter().all(|&b| b == SENTINEL), "written on error"),
                }
            }
            Op::EncodeClose {
                code,
                ref reason,
                room,
            } => {
                let want_payload = match code {
                    None => Vec::new(),
                    Some(c) => {
                        let mut p = c.to_be_bytes().to_vec();
                        p.extend_from_slice(&super::echo::cut_reason(reason));
                        p
                    }
                };
                let needed = header_len(want_payload.len() as u64, masked) + want_payload.len();
                let mut out = vec![SENTINEL; room.len(needed)];
                let mut errs = Vec::new();
                if self.m.close_sent.is_some() {
                    errs.push(SendError::Closed);
                }
                if code.is_some_and(|c| !valid_close_code(c)) {
                    errs.push(SendError::InvalidCloseCode);
                }
                if out.len() < needed {
                    errs.push(SendError::NoRoom);
                }
                let r = self.s.encode_close(&mut out, code, reason);
                expect(&r, &errs, "encode_close");
                match r {
                    Ok(n) => {
                        assert_eq!(n, needed);
                        let (p, got) = parse_frame(&out[..n], masked);
                        assert_eq!((p.fin, p.rsv, p.opcode), (true, 0, OP_CLOSE));
                        assert_eq!(got, want_payload, "close payload");
                        assert!(got.len() <= 125);
                        assert!(core::str::from_utf8(got.get(2..).unwrap_or_default()).is_ok());
                        assert!(out[n..].iter().all(|&b| b == SENTINEL), "written past");
                        self.check_key(p.key);
                        self.m.frames_out += 1;
                        self.m.close_sent = Some(code);
                    }
                    Err(_) => assert!(out.iter().all(|&b| b == SENTINEL), "written on error"),
                }
            }
            Op::ReceiveClose(code) => {
                let body = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                let mut frame = if self.server {
                    super::session::client_frame(0x88, &body, 0, Some([1, 2, 3, 4]))
                } else {
                    super::session::client_frame(0x88, &body, 0, None)
                };
                let n = frame.len();
                let step = self.s.next_event(&mut frame);
                if self.m.receiving {
                    assert_eq!(step.consumed, n);
                    assert!(step.event.is_some());
                    self.m.receiving = false;
                    assert_eq!(self.s.close_received(), Some(code.unwrap_or(1005)));
                } else {
                    assert_eq!(step.consumed, 0);
                    assert!(step.event.is_none());
                }
            }
        }
        self.check_state("after op");
    }
}

pub fn check_case(case: &Case) {
    let role = if case.server {
        Role::Server
    } else {
        Role::client(case.seed)
    };
    let config = Config {
        message_rsv: case.message_rsv,
        ..Config::default()
    };
    let mut r = Runner {
        s: Session::new(role, config),
        m: Model {
            receiving: true,
            ..Model::default()
        },
        server: case.server,
        rsv_allowed: case.message_rsv,
        keys: KeyStream::from_seed(case.seed),
        used_keys: Vec::new(),
        salt: 0,
    };
    assert_eq!(r.s.is_server(), case.server);
    r.check_state("new");
    for op in &case.ops {
        r.run(op);
    }
    if r.used_keys.len() >= 8 {
        let k = r.used_keys[0];
        assert!(
            r.used_keys.iter().any(|&x| x != k),
            "one masking key for {} frames",
            r.used_keys.len()
        );
    }
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    check_case(&decode(data));
}
