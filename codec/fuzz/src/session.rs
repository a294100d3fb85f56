//! `session`: a peer's byte stream fed to a receiving [`Session`] in either
//! role, whole and split at arbitrary points the way a real caller feeds it,
//! checked against [`reference`], a naive model of RFC 6455's receiving
//! rules written from the RFC and the session's documentation.
//!
//! The reference parses the whole stream up front. It yields the events a
//! session must deliver ([`Item`]: data frames with their message's kind,
//! RSV bits and payload, pings and pongs in their place among the data) and
//! a [`Timeline`]: what the session must look like once any prefix of the
//! stream has been offered and it has been called until nothing moves
//! (bytes left unconsumed, `is_idle`, `in_message`, `in_streamed_frame`, or
//! the close frame or the failure, with its code, reason, refused frame
//! length and received close code). The split run is checked against the
//! timeline after every call round, both runs against the items at the end,
//! and the two runs against each other. Piece flags are checked as they
//! come (`message_start` on a message's first piece only, `frame_start` and
//! `frame_end` bracketing each frame, `message_end` on its last piece,
//! `frame_len` constant and equal to what the pieces add up to, payloads
//! lying at the end of the consumed bytes), frames of at most
//! `whole_frame_max` bytes must come as one piece, and `stats()` must agree
//! with what was delivered.
//!
//! Input layout (see [`decode`]):
//! - byte 0: bit 0 client role (expects unmasked frames; else the server
//!   role, which expects masked ones), bits 1-3 `whole_frame_max` choice,
//!   bits 4-6 `max_frame_len` choice, bit 7 frame-script mode;
//! - byte 1: bits 0-2 `max_message_len` choice, bit 3 `message_rsv` = 4
//!   (RSV1, as permessage-deflate) instead of 0, bits 4-5 input buffer
//!   slack, bit 6 move the unconsumed bytes to the buffer's front before
//!   every call (they "may have moved in memory");
//! - byte 2: the number N of op bytes;
//! - N op bytes (read sizes, see [`read_size`]), used cyclically for at
//!   most [`OP_ROUNDS`] reads; then the rest of the stream is read as fast
//!   as the buffer allows;
//! - the rest: the stream itself, or in frame-script mode a compact
//!   description of frames that [`build_stream`] encodes, masked as the
//!   role expects unless a record asks for the opposite.

use ngx_websocket_codec::session::{Config, Event, MessageKind, Role, Session};

const WHOLE_MAX: [usize; 8] = [0, 2, 6, 131, 256, 300, 1024, 16 * 1024];
const MAX_FRAME: [u64; 8] = [u64::MAX, 0, 125, 126, 1000, 65_535, 65_536, 1 << 20];
const MAX_MESSAGE: [u64; 8] = [u64::MAX, 0, 1, 125, 1000, 4096, 65_536, 1 << 20];
const SLACK: [usize; 4] = [0, 1, 64, 4096];
/// Longest control frame the session accepts: a masked header with a
/// (non-minimal) 64-bit length and 125 bytes. The input buffer holds at
/// least this much. (`session::MAX_CONTROL_FRAME` says 131, which a ping
/// with a 64-bit length field exceeds: see the README.)
pub const CONTROL_FRAME_MAX: usize = 14 + 125;
/// Longest payload a frame script generates; longer records claim their
/// length and end the stream.
pub const SCRIPT_LIMIT: usize = 1 << 16;
/// Most op-driven reads of the split run.
pub const OP_ROUNDS: usize = 1024;

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// An op byte's read size: the top two bits choose the scale, the low six
/// the amount (`usize::MAX`: as much as fits).
pub fn read_size(b: u8) -> usize {
    let n = usize::from(b & 0x3F) + 1;
    match b >> 6 {
        0 => n,
        1 => n * 61,
        2 => n * 1021,
        _ => usize::MAX,
    }
}

/// A decoded test case.
#[derive(Debug, Clone)]
pub struct Case {
    pub server: bool,
    pub config: Config,
    /// Input buffer capacity (at least `whole_frame_max` and a control frame).
    pub capacity: usize,
    /// Move unconsumed bytes to the front before every call.
    pub relocate: bool,
    pub reads: Vec<usize>,
    pub stream: Vec<u8>,
}

pub fn decode(data: &[u8]) -> Case {
    let b = |i: usize| data.get(i).copied().unwrap_or(0);
    let (b0, b1) = (b(0), b(1));
    let rest = data.get(3..).unwrap_or_default();
    let nops = usize::from(b(2)).min(rest.len());
    let (ops, body) = rest.split_at(nops);
    let server = b0 & 1 == 0;
    let config = Config {
        max_frame_len: MAX_FRAME[usize::from((b0 >> 4) & 7)],
        max_message_len: MAX_MESSAGE[usize::from(b1 & 7)],
        whole_frame_max: WHOLE_MAX[usize::from((b0 >> 1) & 7)],
        message_rsv: if b1 & 8 != 0 { 4 } else { 0 },
    };
    Case {
        server,
        config,
        capacity: config.whole_frame_max.max(CONTROL_FRAME_MAX) + SLACK[usize::from((b1 >> 4) & 3)],
        relocate: b1 & 0x40 != 0,
        reads: ops.iter().map(|&o| read_size(o)).collect(),
        stream: if b0 & 0x80 != 0 {
            build_stream(body, server)
        } else {
            body.to_vec()
        },
    }
}

// ---------------------------------------------------------------------------
// Frame scripts.

/// Masking key for a script's key byte (never the identity, so payloads are
/// really masked, and varied so mask phases matter).
fn script_key(k: u8) -> [u8; 4] {
    [k, k ^ 0x55, k.wrapping_add(0x3C), !k]
}

/// Encode one frame: `b0` as given, length field of the given kind (0 =
/// minimal, 16 = 16-bit, 64 = 64-bit, possibly non-minimal) claiming
/// `claimed` payload bytes, then `payload` (which may be shorter), masked
/// with `key` if any.
pub fn encode_frame(
    b0: u8,
    claimed: usize,
    payload: &[u8],
    kind: u8,
    key: Option<[u8; 4]>,
) -> Vec<u8> {
    let mbit = if key.is_some() { 0x80 } else { 0 };
    let mut v = Vec::with_capacity(14 + payload.len());
    v.push(b0);
    match kind {
        0 if claimed <= 125 => v.push(mbit | claimed as u8),
        0 | 16 if claimed <= 0xFFFF => {
            v.push(mbit | 126);
            v.extend_from_slice(&(claimed as u16).to_be_bytes());
        }
        _ => {
            v.push(mbit | 127);
            v.extend_from_slice(&(claimed as u64).to_be_bytes());
        }
    }
    match key {
        Some(k) => {
            v.extend_from_slice(&k);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => v.extend_from_slice(payload),
    }
    v
}

/// A whole frame (see [`encode_frame`]).
pub fn client_frame(b0: u8, payload: &[u8], kind: u8, key: Option<[u8; 4]>) -> Vec<u8> {
    encode_frame(b0, payload.len(), payload, kind, key)
}

/// Turn a frame script into a stream. Each record is `b0` (FIN, RSV, opcode
/// as sent), `b1` (bit 7 set: masked the other way than the role expects, a
/// violation; low 7 bits: a payload length 0..=125 whose bytes follow, or
/// 126/127 for a generated payload: a 16-bit or 24-bit big-endian length, a
/// pattern length byte (low 3 bits + 1) and the pattern, repeated; sent with
/// a 16-bit or 64-bit length field), then a key byte. Frames are masked
/// (with a key made from the key byte) if `masked`, the way a client sends
/// them, unless bit 7 says otherwise. A record cut short by the end of the
/// script, or generating more than [`SCRIPT_LIMIT`] bytes, claims its full
/// length, sends what there is, and ends the stream.
pub fn build_stream(mut s: &[u8], masked: bool) -> Vec<u8> {
    fn take<'a>(s: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (a, b) = s.split_at(n.min(s.len()));
        *s = b;
        a
    }
    let mut out = Vec::new();
    while s.len() >= 2 && out.len() < SCRIPT_LIMIT {
        let h = take(&mut s, 2);
        let (b0, b1) = (h[0], h[1]);
        let code = b1 & 0x7F;
        let key_byte = take(&mut s, 1).first().copied().unwrap_or(0x5A);
        let key = (masked != (b1 & 0x80 != 0)).then(|| script_key(key_byte));
        let (payload, kind, want) = match code {
            0..=125 => (
                take(&mut s, usize::from(code)).to_vec(),
                0,
                usize::from(code),
            ),
            _ => {
                let lb = take(&mut s, if code == 126 { 2 } else { 3 });
                let want = lb.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
                let plen = take(&mut s, 1)
                    .first()
                    .map_or(1, |&b| usize::from(b & 7) + 1);
                let pat = take(&mut s, plen);
                let n = want.min(SCRIPT_LIMIT);
                let p = if pat.is_empty() {
                    vec![0x20; n]
                } else {
                    pat.iter().copied().cycle().take(n).collect()
                };
                (p, if code == 126 { 16 } else { 64 }, want)
            }
        };
        out.extend_from_slice(&encode_frame(b0, want, &payload, kind, key));
        if payload.len() < want {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The reference.

/// How the session must fail the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefFailure {
    pub code: u16,
    pub reason: &'static str,
    /// For 1009: the refused frame's payload length; else 0.
    pub frame_len: u64,
    /// For a refused close frame: the code it carried.
    pub received_code: Option<u16>,
}

/// The session's state once a prefix of the stream was offered and it was
/// called until nothing moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting for more bytes; the first `consumed` bytes were consumed.
    Waiting {
        consumed: usize,
        idle: bool,
        in_message: bool,
    },
    /// Inside a streamed frame: everything offered was consumed.
    Streaming,
    /// The peer's close frame arrived (`None`: an empty one).
    Closed {
        code: Option<u16>,
        reason: Vec<u8>,
    },
    Failed(RefFailure),
}

/// States by prefix length: `spans[i].1` holds for prefixes from
/// `spans[i].0` up to the next span's start.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    spans: Vec<(usize, State)>,
}

impl Timeline {
    fn push(&mut self, from: usize, state: State) {
        match self.spans.last_mut() {
            Some(last) if last.0 == from => last.1 = state,
            Some(last) => {
                assert!(last.0 < from, "reference timeline out of order");
                self.spans.push((from, state));
            }
            None => self.spans.push((from, state)),
        }
    }

    /// The state once `fed` bytes were offered.
    pub fn at(&self, fed: usize) -> &State {
        let i = self.spans.partition_point(|s| s.0 <= fed);
        &self.spans[i.max(1) - 1].1
    }
}

/// A data frame as the session must deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefFrame {
    /// Opcode as sent: TEXT, BINARY or CONT.
    pub opcode: u8,
    /// The message's kind (OP_TEXT or OP_BINARY) and RSV bits.
    pub kind: u8,
    pub rsv: u8,
    pub message_start: bool,
    pub fin: bool,
    pub frame_len: u64,
    /// At most `whole_frame_max` bytes with its header: one piece, once
    /// complete.
    pub whole: bool,
    /// Stream offset of the first payload byte.
    pub start: usize,
    /// The payload (unmasked) that arrives: all of it, or what the stream
    /// holds if it ends inside the frame.
    pub payload: Vec<u8>,
    pub complete: bool,
    /// The connection fails inside this streamed frame (invalid UTF-8): at
    /// most this many of its bytes (those in `payload`) come before.
    pub fail_max: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(RefFrame),
    /// A ping or pong with its payload and the stream offset after it.
    Ping(Vec<u8>, usize),
    Pong(Vec<u8>, usize),
}

#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub items: Vec<Item>,
    pub timeline: Timeline,
    /// `stats()` once the whole stream was offered.
    pub frames_in: u64,
    pub messages_in: u64,
}

impl Reference {
    fn fail(&mut self, at: usize, code: u16, reason: &'static str) {
        self.fail_with(at, code, reason, 0, None);
    }

    fn fail_with(
        &mut self,
        at: usize,
        code: u16,
        reason: &'static str,
        frame_len: u64,
        received_code: Option<u16>,
    ) {
        self.timeline.push(
            at,
            State::Failed(RefFailure {
                code,
                reason,
                frame_len,
                received_code,
            }),
        );
    }
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Continue checking text whose valid-so-far part ended with the incomplete
/// code point `tail`: the index in `payload` of the first byte that makes
/// it invalid, or the new incomplete tail.
fn utf8_scan(tail: &[u8], payload: &[u8]) -> Result<Vec<u8>, usize> {
    let mut all = Vec::with_capacity(tail.len() + payload.len());
    all.extend_from_slice(tail);
    all.extend_from_slice(payload);
    if let Some(i) = super::utf8::first_bad_byte(&all) {
        return Err(i - tail.len());
    }
    match core::str::from_utf8(&all) {
        Ok(_) => Ok(Vec::new()),
        Err(e) => Ok(all[e.valid_up_to()..].to_vec()),
    }
}

/// The data message being received.
struct OpenMsg {
    kind: u8,
    rsv: u8,
    announced: u64,
    /// Incomplete code point at the end of checked text.
    tail: Vec<u8>,
}

/// The rules of RFC 6455 for a receiving endpoint, in either role, with the
/// session's documented choices: which limits apply (`max_frame_len` per
/// data frame, `max_message_len` per message, both from the header), which
/// RSV bits an extension may claim (on a data message's first frame only),
/// when something happens (a data frame of at most `whole_frame_max` bytes
/// with its header is delivered once complete, a larger one as its bytes
/// arrive; invalid UTF-8 in text without RSV bits fails as soon as the
/// offending byte is there; a length with its top bit set as soon as the
/// length is there), and the order of the header checks (length, RSV,
/// opcode, masking, control rules, continuation rules, frame limit, message
/// limit).
pub fn reference(config: &Config, server: bool, stream: &[u8]) -> Reference {
    let mut r = Reference::default();
    let mut pos = 0;
    let mut msg: Option<OpenMsg> = None;
    loop {
        let idle0 = msg.is_none();
        r.timeline.push(
            pos,
            State::Waiting {
                consumed: pos,
                idle: idle0,
                in_message: !idle0,
            },
        );
        let rest = &stream[pos..];
        if rest.len() < 2 {
            return r;
        }
        let (b0, b1) = (rest[0], rest[1]);
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if rest.len() < 2 + ext {
            return r;
        }
        let len = match ext {
            0 => u64::from(b1 & 0x7F),
            _ => rest[2..2 + ext]
                .iter()
                .fold(0u64, |a, &b| a << 8 | u64::from(b)),
        };
        if len >> 63 != 0 {
            r.fail(pos + 10, 1002, "frame length top bit set");
            return r;
        }
        let masked = b1 & 0x80 != 0;
        let hl = 2 + ext + if masked { 4 } else { 0 };
        if rest.len() < hl {
            return r;
        }
        let (fin, rsv, opcode) = (b0 & 0x80 != 0, (b0 >> 4) & 7, b0 & 0x0F);
        let control = opcode & 8 != 0;
        let allowed = if matches!(opcode, OP_TEXT | OP_BINARY) {
            config.message_rsv
        } else {
            0
        };
        let header_error = if rsv & !allowed != 0 {
            Some("reserved bits set")
        } else if !matches!(
            opcode,
            OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            Some("unknown opcode")
        } else if server && !masked {
            Some("unmasked frame")
        } else if !server && masked {
            Some("masked frame from a server")
        } else if control && len > 125 {
            Some("control frame too long")
        } else if control && !fin {
            Some("fragmented control frame")
        } else if opcode == OP_CONT && msg.is_none() {
            Some("continuation without a message")
        } else if matches!(opcode, OP_TEXT | OP_BINARY) && msg.is_some() {
            Some("data frame inside a fragmented message")
        } else {
            None
        };
        if let Some(reason) = header_error {
            r.fail(pos + hl, 1002, reason);
            return r;
        }
        let key = masked.then(|| [rest[hl - 4], rest[hl - 3], rest[hl - 2], rest[hl - 1]]);
        let unmask = |p: &[u8]| -> Vec<u8> {
            match key {
                Some(k) => p.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect(),
                None => p.to_vec(),
            }
        };
        if control {
            let total = hl + len as usize;
            if rest.len() < total {
                return r;
            }
            let payload = unmask(&rest[hl..total]);
            r.frames_in += 1;
            let end = pos + total;
            match opcode {
                OP_PING => r.items.push(Item::Ping(payload, end)),
                OP_PONG => r.items.push(Item::Pong(payload, end)),
                _ => {
                    match payload[..] {
                        [] => r.timeline.push(
                            end,
                            State::Closed {
                                code: None,
                                reason: Vec::new(),
                            },
                        ),
                        [_] => r.fail(end, 1002, "close payload of 1 byte"),
                        [a, b, ref reason @ ..] => {
                            let code = u16::from_be_bytes([a, b]);
                            if !valid_close_code(code) {
                                r.fail_with(end, 1002, "invalid close code", 0, Some(code));
                            } else if core::str::from_utf8(reason).is_err() {
                                r.fail_with(
                                    end,
                                    1007,
                                    "invalid UTF-8 in close reason",
                                    0,
                                    Some(code),
                                );
                            } else {
                                r.timeline.push(
                                    end,
                                    State::Closed {
                                        code: Some(code),
                                        reason: reason.to_vec(),
                                    },
                                );
                            }
                        }
                    }
                    return r;
                }
            }
            pos = end;
            continue;
        }
        // Frames of an RSV-marked (extension-transformed) message may exceed
        // the limits by the documented slack.
        let transformed = if opcode == OP_CONT {
            msg.as_ref().is_some_and(|m| m.rsv != 0)
        } else {
            rsv != 0
        };
        let slack = |limit: u64| {
            if transformed {
                limit.saturating_add(limit / 24).saturating_add(64)
            } else {
                limit
            }
        };
        if len > slack(config.max_frame_len) {
            r.fail_with(pos + hl, 1009, "frame too big", len, None);
            return r;
        }
        let before = msg.as_ref().map_or(0, |m| m.announced);
        if before.saturating_add(len) > slack(config.max_message_len) {
            r.fail_with(pos + hl, 1009, "message too big", len, None);
            return r;
        }
        let whole = hl as u64 + len <= config.whole_frame_max as u64;
        let avail = ((rest.len() - hl) as u64).min(len) as usize;
        let complete = avail as u64 == len;
        let message_start = opcode != OP_CONT;
        let (kind, mrsv) = match &msg {
            Some(m) => (m.kind, m.rsv),
            None => (opcode, rsv),
        };
        let checks = kind == OP_TEXT && mrsv == 0;
        let payload = unmask(&rest[hl..hl + avail]);
        let tail: &[u8] = msg.as_ref().map_or(&[][..], |m| m.tail.as_slice());
        // (stream offset at which the failure is known, most bytes of this
        // frame delivered before it)
        let mut bad: Option<(usize, usize)> = None;
        let mut new_tail = Vec::new();
        if checks {
            match utf8_scan(tail, &payload) {
                Err(i) => bad = Some((pos + hl + i + 1, i)),
                Ok(t) if complete && fin && !t.is_empty() => {
                    bad = Some((pos + hl + avail, avail.saturating_sub(1)))
                }
                Ok(t) => new_tail = t,
            }
        }
        let frame = RefFrame {
            opcode,
            kind,
            rsv: mrsv,
            message_start,
            fin,
            frame_len: len,
            whole,
            start: pos + hl,
            payload,
            complete,
            fail_max: None,
        };
        if whole {
            // Checked text waits in the session's early check (not idle).
            r.timeline.push(
                pos + hl,
                State::Waiting {
                    consumed: pos,
                    idle: idle0 && !checks,
                    in_message: !idle0,
                },
            );
            if let Some((at, _)) = bad {
                r.fail(at, 1007, "invalid UTF-8 in text message");
                return r;
            }
            if !complete {
                return r;
            }
        } else {
            r.frames_in += 1;
            r.timeline.push(pos + hl, State::Streaming);
            if let Some((at, max)) = bad {
                let mut frame = frame;
                frame.payload.truncate(max);
                frame.complete = false;
                frame.fail_max = Some(max);
                r.items.push(Item::Frame(frame));
                r.fail(at, 1007, "invalid UTF-8 in text message");
                return r;
            }
            if !complete {
                if avail > 0 {
                    r.items.push(Item::Frame(frame));
                }
                return r;
            }
        }
        if whole {
            r.frames_in += 1;
        }
        r.items.push(Item::Frame(frame));
        match &mut msg {
            Some(m) => {
                m.announced += len;
                m.tail = new_tail;
            }
            None => {
                msg = Some(OpenMsg {
                    kind,
                    rsv: mrsv,
                    announced: len,
                    tail: new_tail,
                })
            }
        }
        if fin {
            msg = None;
            r.messages_in += 1;
        }
        pos += hl + len as usize;
    }
}

// ---------------------------------------------------------------------------
// What a session delivers.

/// A data frame as delivered, from its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsFrame {
    pub kind: u8,
    pub rsv: u8,
    pub message_start: bool,
    pub frame_len: u64,
    pub data: Vec<u8>,
    pub pieces: usize,
    /// The last piece (`frame_end`) came.
    pub complete: bool,
    /// `message_end` of the last piece.
    pub fin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObsItem {
    Frame(ObsFrame),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

/// The end of the receive side: a close frame or a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObsEnd {
    Closed { code: Option<u16>, reason: Vec<u8> },
    Failed(RefFailure),
}

/// Everything a session delivered, with the piece rules checked on the way.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub items: Vec<ObsItem>,
    /// A frame whose last piece has not come.
    frame_open: bool,
    /// Kind and RSV of the message whose last piece has not come.
    msg: Option<(u8, u8)>,
    pub bytes: u64,
    pub messages: u64,
    pub end: Option<ObsEnd>,
}

fn kind_opcode(k: MessageKind) -> u8 {
    match k {
        MessageKind::Text => OP_TEXT,
        MessageKind::Binary => OP_BINARY,
    }
}

impl Observed {
    #[allow(clippy::too_many_arguments)]
    fn piece(
        &mut self,
        payload: &[u8],
        kind: MessageKind,
        rsv: u8,
        message_start: bool,
        frame_start: bool,
        frame_end: bool,
        message_end: bool,
        frame_len: u64,
    ) {
        let kind = kind_opcode(kind);
        assert!(self.end.is_none(), "data after the end");
        assert!(!message_end || frame_end, "message_end without frame_end");
        assert_eq!(
            frame_start, !self.frame_open,
            "frame_start must begin exactly each frame"
        );
        assert_eq!(
            message_start,
            frame_start && self.msg.is_none(),
            "message_start only on a message's first piece"
        );
        match self.msg {
            Some(m) => assert_eq!(m, (kind, rsv), "kind/rsv changed inside a message"),
            None => self.msg = Some((kind, rsv)),
        }
        if frame_start {
            self.items.push(ObsItem::Frame(ObsFrame {
                kind,
                rsv,
                message_start,
                frame_len,
                data: Vec::new(),
                pieces: 0,
                complete: false,
                fin: false,
            }));
        }
        let Some(ObsItem::Frame(f)) = self.items.last_mut() else {
            unreachable!("open frame")
        };
        assert_eq!(f.frame_len, frame_len, "frame_len changed inside a frame");
        assert!(
            !payload.is_empty() || frame_len == 0,
            "empty piece of a non-empty frame"
        );
        f.data.extend_from_slice(payload);
        f.pieces += 1;
        assert!(f.data.len() as u64 <= frame_len, "pieces overrun frame_len");
        self.bytes += payload.len() as u64;
        self.frame_open = !frame_end;
        if frame_end {
            assert_eq!(f.data.len() as u64, frame_len, "frame_end before frame_len");
            f.complete = true;
            f.fin = message_end;
            if message_end {
                self.msg = None;
                self.messages += 1;
            }
        }
    }

    fn control(&mut self, item: ObsItem) {
        assert!(self.end.is_none(), "control frame after the end");
        assert!(!self.frame_open, "control frame inside a data frame");
        self.items.push(item);
    }
}

/// One `next_event` call: checks the step and records its event. Returns the
/// bytes consumed and whether an event came.
fn call(s: &mut Session, obs: &mut Observed, input: &mut [u8]) -> (usize, bool) {
    let base = input.as_ptr() as usize;
    let len = input.len();
    let receiving = s.is_receiving();
    let step = s.next_event(input);
    let consumed = step.consumed;
    assert!(consumed <= len, "consumed {consumed} of {len}");
    let Some(event) = step.event else {
        assert!(receiving || consumed == 0, "consumed after the end");
        return (consumed, false);
    };
    assert!(receiving, "event after the end");
    // Payloads lie right before the end of the consumed bytes (what lets a
    // caller send them in place).
    let at_end = |p: &[u8]| {
        let off = p.as_ptr() as usize - base;
        assert_eq!(
            off + p.len(),
            consumed,
            "payload not at the end of consumed"
        );
    };
    match event {
        Event::Data(p) => {
            at_end(p.payload);
            obs.piece(
                p.payload,
                p.kind,
                p.rsv,
                p.message_start,
                p.frame_start,
                p.frame_end,
                p.message_end,
                p.frame_len,
            );
        }
        Event::Ping(p) => {
            at_end(p);
            obs.control(ObsItem::Ping(p.to_vec()));
        }
        Event::Pong(p) => {
            at_end(p);
            obs.control(ObsItem::Pong(p.to_vec()));
        }
        Event::Close(c) => {
            assert!(c.reason.len() <= 123);
            assert!(c.code.is_some() || c.reason.is_empty());
            let end = ObsEnd::Closed {
                code: c.code,
                reason: c.reason.as_bytes().to_vec(),
            };
            assert!(obs.end.is_none());
            obs.end = Some(end);
            assert_eq!(s.close_received(), Some(c.code.unwrap_or(1005)));
        }
        Event::Failed(f) => {
            assert!(obs.end.is_none());
            obs.end = Some(ObsEnd::Failed(RefFailure {
                code: f.code,
                reason: f.reason,
                frame_len: f.frame_len,
                received_code: f.received_code,
            }));
            assert_eq!(s.failure(), Some(&f));
        }
    }
    assert_eq!(s.is_receiving(), obs.end.is_none());
    (consumed, true)
}

/// Call until nothing moves; returns the bytes consumed.
fn drive(s: &mut Session, obs: &mut Observed, input: &mut [u8]) -> usize {
    let mut at = 0;
    // Each call consumes or yields an event (an event without consuming is
    // a failure, or at most one per frame header).
    let mut guard = 2 * input.len() + 8;
    loop {
        let (c, ev) = call(s, obs, &mut input[at..]);
        at += c;
        if c == 0 && !ev {
            return at;
        }
        guard -= 1;
        assert!(guard > 0, "next_event keeps returning without progress");
    }
}

/// The session's state against the reference's, `fed` bytes offered of
/// which `consumed` were consumed.
fn check_state(s: &Session, obs: &Observed, want: &State, fed: usize, consumed: usize, what: &str) {
    match want {
        State::Waiting {
            consumed: c,
            idle,
            in_message,
        } => {
            assert!(s.is_receiving(), "{what}: stopped at {fed}: {:?}", obs.end);
            assert_eq!(consumed, *c, "{what}: consumed of {fed}");
            assert_eq!(s.is_idle(), *idle, "{what}: is_idle at {fed}");
            assert_eq!(s.in_message(), *in_message, "{what}: in_message at {fed}");
            assert!(!s.in_streamed_frame(), "{what}: in_streamed_frame at {fed}");
        }
        State::Streaming => {
            assert!(s.is_receiving(), "{what}: stopped at {fed}: {:?}", obs.end);
            assert_eq!(consumed, fed, "{what}: streamed bytes left unconsumed");
            assert!(!s.is_idle() && s.in_message() && s.in_streamed_frame());
        }
        State::Closed { code, reason } => {
            assert_eq!(
                obs.end,
                Some(ObsEnd::Closed {
                    code: *code,
                    reason: reason.clone()
                }),
                "{what}: at {fed}"
            );
            assert!(!s.is_receiving() && s.failure().is_none());
            assert_eq!(s.close_received(), Some(code.unwrap_or(1005)));
        }
        State::Failed(f) => {
            assert_eq!(obs.end, Some(ObsEnd::Failed(*f)), "{what}: at {fed}");
            assert!(!s.is_receiving() && s.close_received().is_none());
            assert_eq!(s.failed(), Some(f.code));
        }
    }
    if !s.is_receiving() {
        assert!(s.is_idle() && !s.in_message() && !s.in_streamed_frame());
    }
}

fn role(server: bool) -> Role {
    if server {
        Role::Server
    } else {
        Role::client([0x5C; 32])
    }
}

/// The whole stream in one buffer.
pub fn run_at_once(case: &Case, want: &Reference) -> Observed {
    let mut s = Session::new(role(case.server), case.config);
    let mut obs = Observed::default();
    let mut data = case.stream.clone();
    let consumed = drive(&mut s, &mut obs, &mut data);
    let n = data.len();
    check_state(&s, &obs, want.timeline.at(n), n, consumed, "at once");
    // Nothing more happens.
    assert_eq!(drive(&mut s, &mut obs, &mut data[consumed..]), 0);
    check_stats(&s, &obs, want, "at once");
    obs
}

/// A caller's bounded input buffer: unconsumed bytes stay (or move to the
/// front) and new ones are appended.
struct Feeder<'a> {
    stream: &'a [u8],
    fed: usize,
    buf: Vec<u8>,
    start: usize,
    capacity: usize,
    relocate: bool,
    consumed: usize,
}

impl Feeder<'_> {
    /// Append up to `n` bytes; returns how many.
    fn read(&mut self, n: usize) -> usize {
        let held = self.buf.len() - self.start;
        let n = n
            .min(self.capacity - held)
            .min(self.stream.len() - self.fed);
        if self.relocate || self.buf.len() + n > self.capacity {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(held);
            self.start = 0;
        }
        self.buf
            .extend_from_slice(&self.stream[self.fed..self.fed + n]);
        self.fed += n;
        n
    }

    fn process(&mut self, s: &mut Session, obs: &mut Observed) -> usize {
        if self.relocate && self.start > 0 {
            let held = self.buf.len() - self.start;
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(held);
            self.start = 0;
        }
        let c = drive(s, obs, &mut self.buf[self.start..]);
        self.start += c;
        self.consumed += c;
        c
    }
}

/// The stream read in pieces of the op sizes, then as fast as the buffer
/// allows, checked against the timeline after every round.
pub fn run_split(case: &Case, want: &Reference) -> Observed {
    let mut s = Session::new(role(case.server), case.config);
    let mut obs = Observed::default();
    let mut f = Feeder {
        stream: &case.stream,
        fed: 0,
        buf: Vec::with_capacity(case.capacity),
        start: 0,
        capacity: case.capacity,
        relocate: case.relocate,
        consumed: 0,
    };
    let check = |s: &Session, obs: &Observed, f: &Feeder<'_>| {
        assert_eq!(f.consumed + f.buf.len() - f.start, f.fed);
        check_state(s, obs, want.timeline.at(f.fed), f.fed, f.consumed, "split");
    };
    for &n in case.reads.iter().cycle().take(OP_ROUNDS) {
        if f.fed == case.stream.len() || !s.is_receiving() {
            break;
        }
        f.read(n);
        f.process(&mut s, &mut obs);
        check(&s, &obs, &f);
    }
    while s.is_receiving() && f.fed < case.stream.len() {
        let read = f.read(usize::MAX);
        let consumed = f.process(&mut s, &mut obs);
        check(&s, &obs, &f);
        assert!(
            read > 0 || consumed > 0 || !s.is_receiving(),
            "stall: {} bytes held of {} capacity, {} of {} read, nothing consumed",
            f.buf.len() - f.start,
            f.capacity,
            f.fed,
            case.stream.len()
        );
    }
    // Once all is read (or the session stopped), one more round does nothing.
    let before = obs.items.len();
    assert_eq!(f.process(&mut s, &mut obs), 0);
    assert_eq!(obs.items.len(), before);
    if s.is_receiving() {
        assert_eq!(f.fed, case.stream.len());
    }
    check(&s, &obs, &f);
    check_stats(&s, &obs, want, "split");
    obs
}

fn check_stats(s: &Session, obs: &Observed, want: &Reference, what: &str) {
    let st = s.stats();
    assert_eq!(st.frames_in, want.frames_in, "{what}: stats.frames_in");
    assert_eq!(
        st.messages_in, want.messages_in,
        "{what}: stats.messages_in"
    );
    assert_eq!(st.messages_in, obs.messages, "{what}: stats.messages_in");
    assert_eq!(st.bytes_in, obs.bytes, "{what}: stats.bytes_in");
    assert_eq!(
        (st.frames_out, st.messages_out, st.bytes_out),
        (0, 0, 0),
        "{what}: nothing sent"
    );
}

/// The delivered items against the reference's.
fn compare(want: &Reference, got: &Observed, what: &str) {
    let mut g = got.items.iter();
    for (i, w) in want.items.iter().enumerate() {
        let last = i + 1 == want.items.len();
        match w {
            Item::Frame(wf) if wf.fail_max.is_some() => {
                assert!(last, "reference: failing frame not last");
                let Some(ObsItem::Frame(gf)) = g.next() else {
                    // No piece came before the failure.
                    continue;
                };
                assert_eq!(
                    (gf.kind, gf.rsv, gf.message_start, gf.frame_len),
                    (wf.kind, wf.rsv, wf.message_start, wf.frame_len),
                    "{what}: failing frame #{i}"
                );
                assert!(!gf.complete, "{what}: failing frame completed");
                assert!(
                    wf.payload.starts_with(&gf.data),
                    "{what}: failing frame #{i}: {} bytes delivered, at most {}",
                    gf.data.len(),
                    wf.payload.len()
                );
            }
            Item::Frame(wf) => {
                let Some(ObsItem::Frame(gf)) = g.next() else {
                    panic!(
                        "{what}: frame #{i} missing: want {wf:?}, items {:?}",
                        got.items
                    );
                };
                assert_eq!(
                    (gf.kind, gf.rsv, gf.message_start, gf.frame_len),
                    (wf.kind, wf.rsv, wf.message_start, wf.frame_len),
                    "{what}: frame #{i}"
                );
                assert!(gf.data == wf.payload, "{what}: frame #{i} payload");
                assert_eq!(gf.complete, wf.complete, "{what}: frame #{i} complete");
                if wf.complete {
                    assert_eq!(gf.fin, wf.fin, "{what}: frame #{i} message_end");
                }
                if wf.whole {
                    assert_eq!(gf.pieces, 1, "{what}: whole frame #{i} in pieces");
                }
            }
            Item::Ping(p, _) => {
                assert_eq!(g.next(), Some(&ObsItem::Ping(p.clone())), "{what}: #{i}")
            }
            Item::Pong(p, _) => {
                assert_eq!(g.next(), Some(&ObsItem::Pong(p.clone())), "{what}: #{i}")
            }
        }
    }
    assert_eq!(g.next(), None, "{what}: more items than the reference");
}

/// The two runs agree, modulo how streamed frames were cut into pieces and
/// how much of a failing frame came.
fn compare_runs(a: &Observed, b: &Observed, failing_last: bool) {
    let norm = |o: &Observed| -> Vec<ObsItem> {
        let mut v = o.items.clone();
        if failing_last
            && v.last()
                .is_some_and(|i| matches!(i, ObsItem::Frame(f) if !f.complete))
        {
            v.pop();
        }
        for i in &mut v {
            if let ObsItem::Frame(f) = i {
                f.pieces = 0;
            }
        }
        v
    };
    assert_eq!(norm(a), norm(b), "at once and split differ");
    assert_eq!(a.end, b.end);
    assert_eq!(a.messages, b.messages);
}

pub fn check_case(case: &Case) {
    let want = reference(&case.config, case.server, &case.stream);
    let once = run_at_once(case, &want);
    compare(&want, &once, "at once");
    let split = run_split(case, &want);
    compare(&want, &split, "split");
    let failing = matches!(want.items.last(), Some(Item::Frame(f)) if f.fail_max.is_some());
    compare_runs(&once, &split, failing);
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    check_case(&decode(data));
}
