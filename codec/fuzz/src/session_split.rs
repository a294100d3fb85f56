//! `session_split`: a client byte stream fed to `EchoSession` in arbitrary
//! pieces, the way the nginx glue does it (bounded input buffer that keeps
//! unconsumed bytes; bounded output buffer drained in arbitrary amounts;
//! server pings written between calls), checked against
//!
//! - the same stream processed all at once with large buffers, and
//! - [`reference`], a naive RFC 6455 server model that parses the whole
//!   stream up front,
//!
//! at the message level: echoed messages (opcode, content, finished or not),
//! pongs (payload and how much data was echoed before them), the close code
//! and, while still open, how many input bytes are left unconsumed.
//! Fragmentation may differ (frames over `whole_frame_max` are re-fragmented
//! by design), but every output chunk must be whole, valid, unmasked server
//! frames.
//!
//! Input layout (see [`decode`]):
//! - byte 0: bits 0-1 `whole_frame_max` choice, bits 2-4 `max_payload_len`
//!   choice, bits 5-6 output buffer slack, bit 7 frame-script mode;
//! - byte 1: bits 0-1 input buffer slack, bits 2-7 number N of op bytes;
//! - N op bytes (see [`Op`]), used cyclically until the stream is read;
//! - the rest: the client stream itself, or in frame-script mode a compact
//!   description of frames that [`build_stream`] masks and encodes.

use ngx_websocket_codec::{EchoConfig, EchoSession};

const WHOLE_MAX: [usize; 4] = [256, 300, 1024, 16 * 1024];
const MAX_PAYLOAD: [u64; 8] = [u64::MAX, 0, 125, 126, 1000, 65_535, 65_536, 1 << 20];
const OUT_SLACK: [usize; 4] = [64, 0, 1, 1000];
const IN_SLACK: [usize; 4] = [0, 1, 64, 4096];
/// Longest stream a frame script may generate.
const SCRIPT_LIMIT: usize = 1 << 16;

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// One step of the simulated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Read up to this many bytes (bounded by input room), then process.
    Read(usize),
    /// The peer reads this many output bytes (`usize::MAX`: all).
    Drain(usize),
    /// Write a server ping with this payload length between calls.
    Ping(usize),
}

impl Op {
    /// Op byte: top two bits choose the kind, the low six the size.
    pub fn from_byte(b: u8) -> Op {
        let n = usize::from(b & 0x3F);
        match b >> 6 {
            0 => Op::Read(n + 1),
            1 => Op::Read((n + 1) * 61),
            2 if n == 0x3F => Op::Drain(usize::MAX),
            2 => Op::Drain(n * 37),
            _ => Op::Ping(n * 3),
        }
    }
}

/// A decoded test case.
#[derive(Debug, Clone)]
pub struct Case {
    pub config: EchoConfig,
    /// Input buffer capacity (at least `whole_frame_max`).
    pub in_cap: usize,
    /// Output buffer capacity (at least `max(whole_frame_max, 522)`).
    pub out_cap: usize,
    pub ops: Vec<Op>,
    pub stream: Vec<u8>,
}

pub fn decode(data: &[u8]) -> Case {
    let b0 = data.first().copied().unwrap_or(0);
    let b1 = data.get(1).copied().unwrap_or(0);
    let rest = data.get(2..).unwrap_or_default();
    let whole = WHOLE_MAX[usize::from(b0 & 3)];
    let nops = usize::from(b1 >> 2).min(rest.len());
    let (ops, body) = rest.split_at(nops);
    Case {
        config: EchoConfig {
            max_payload_len: MAX_PAYLOAD[usize::from((b0 >> 2) & 7)],
            whole_frame_max: whole,
        },
        in_cap: whole + IN_SLACK[usize::from(b1 & 3)],
        out_cap: whole.max(522) + OUT_SLACK[usize::from((b0 >> 5) & 3)],
        ops: ops.iter().map(|&b| Op::from_byte(b)).collect(),
        stream: if b0 & 0x80 != 0 {
            build_stream(body)
        } else {
            body.to_vec()
        },
    }
}

/// Masking key for a script's key byte (never the identity, so payloads are
/// really masked, and varied so mask phases matter).
fn script_key(k: u8) -> [u8; 4] {
    [k, k ^ 0x55, k.wrapping_add(0x3C), !k]
}

/// Encode one client frame: `b0` as given, length field of the given kind
/// (0 = minimal, 16 = 16-bit, 64 = 64-bit, possibly non-minimal), payload
/// masked with `key` if any.
pub fn client_frame(b0: u8, payload: &[u8], kind: u8, key: Option<[u8; 4]>) -> Vec<u8> {
    let len = payload.len();
    let mbit = if key.is_some() { 0x80 } else { 0 };
    let mut v = vec![b0];
    match kind {
        0 if len <= 125 => v.push(mbit | len as u8),
        0 | 16 if len <= 0xFFFF => {
            v.push(mbit | 126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            v.push(mbit | 127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
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

/// Turn a frame script into a client stream. Each record is `b0` (FIN, RSV,
/// opcode as sent), `b1` (bit 7 set = send unmasked; low 7 bits: a payload
/// length 0..=125 whose bytes follow, or 126/127 for a generated payload:
/// a 16-bit or 24-bit big-endian length, a pattern length byte (1..=8) and
/// the pattern, repeated; sent with a 16-bit or 64-bit length field), then a
/// key byte. A record cut short by the end of the script is sent as is
/// (header claiming more than follows), which ends the stream.
pub fn build_stream(mut s: &[u8]) -> Vec<u8> {
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
        let key = take(&mut s, 1).first().map(|&k| script_key(k));
        let key = if b1 & 0x80 != 0 { None } else { key };
        let (payload, kind, want) = match code {
            0..=125 => {
                let p = take(&mut s, usize::from(code)).to_vec();
                (p, 0, usize::from(code))
            }
            _ => {
                let lb = take(&mut s, if code == 126 { 2 } else { 3 });
                let len = lb.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
                let len = len.min(SCRIPT_LIMIT);
                let plen = take(&mut s, 1)
                    .first()
                    .map_or(1, |&b| usize::from(b & 7) + 1);
                let pat = take(&mut s, plen);
                let p = if pat.is_empty() {
                    vec![0x20; len]
                } else {
                    pat.iter().copied().cycle().take(len).collect()
                };
                (p, if code == 126 { 16 } else { 64 }, len)
            }
        };
        let missing = want - payload.len();
        let mut padded = payload;
        padded.resize(want, 0);
        let mut f = client_frame(b0, &padded, kind, key);
        // A record cut short: claim the full length, send what there is.
        f.truncate(f.len() - missing);
        if missing > 0 {
            out.extend_from_slice(&f);
            break;
        }
        out.extend_from_slice(&f);
    }
    out
}

// ---------------------------------------------------------------------------
// The outcome of a connection at the message level.

/// An echoed data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub opcode: u8,
    pub data: Vec<u8>,
    /// The final fragment was echoed.
    pub complete: bool,
}

/// What a connection produced, as the reference predicts it.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub msgs: Vec<Msg>,
    /// Pong payloads, each with the total data bytes echoed before it.
    pub pongs: Vec<(usize, Vec<u8>)>,
    /// `None` while open; `Some(None)` for an empty close frame.
    pub close: Option<Option<u16>>,
    /// The peer's close code as the session must report it.
    pub received_code: Option<u16>,
    pub peer_initiated: bool,
    /// Payload length of a frame refused with 1009.
    pub refused_len: u64,
    /// Failing on invalid UTF-8 in a streamed frame: the last message may
    /// hold only part of what `msgs` says, between `min` and `max` data
    /// bytes (absent altogether if `min` is 0 and this frame opened it).
    pub partial: Option<Partial>,
    /// While open: input bytes the session leaves unconsumed at the end.
    pub leftover: usize,
    /// While open: no message is under way (`EchoSession::is_idle`).
    pub idle: bool,
    /// The data frames on the wire, in order.
    pub wire: Vec<Wire>,
}

/// How one client data frame comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// At most `whole_frame_max` bytes: as one frame with the client's FIN
    /// bit, opcode and (unmasked) payload.
    Whole {
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
    },
    /// Larger: as non-empty fragments carrying `len` payload bytes in all,
    /// FIN on the last one only if `fin`. Unless `exact`, `len` is only an
    /// upper bound (the connection failed inside this frame).
    Streamed { len: usize, fin: bool, exact: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub min: usize,
    pub max: usize,
    pub may_be_absent: bool,
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Where UTF-8 text stands.
enum Text {
    Valid,
    /// Valid so far, ends inside a code point.
    Incomplete,
    /// Invalid; the index of the first byte that makes it so.
    Invalid(usize),
}

fn text_state(b: &[u8]) -> Text {
    match core::str::from_utf8(b) {
        Ok(_) => Text::Valid,
        Err(e) if e.error_len().is_none() => Text::Incomplete,
        Err(e) => {
            let s = e.valid_up_to();
            let bad = (s..b.len())
                .find(|&i| {
                    core::str::from_utf8(&b[s..=i])
                        .err()
                        .is_some_and(|e| e.error_len().is_some())
                })
                .unwrap_or(s);
            Text::Invalid(bad)
        }
    }
}

/// The naive reference: RFC 6455 server rules applied to the whole stream,
/// plus the design rules (docs/design.md) that decide *when* something
/// happens at the end of the stream: a data frame of at most
/// `whole_frame_max` bytes (header included) is echoed only once complete, a
/// larger one as its bytes arrive; invalid UTF-8 fails the connection as
/// soon as the offending byte is there, complete frame or not; and a 64-bit
/// length with the top bit set is refused as soon as the length is there.
pub fn reference(config: &EchoConfig, stream: &[u8]) -> Expected {
    let mut e = Expected::default();
    let mut pos = 0;
    // Opcode of the open (fragmented) incoming message.
    let mut open: Option<u8> = None;
    // Whether the open message has appeared in the output yet.
    let mut shown = false;
    // Text of the open text message so far.
    let mut text: Vec<u8> = Vec::new();
    let mut echoed = 0usize;
    let fail = |e: &mut Expected, code: u16| {
        e.close = Some(Some(code));
    };
    loop {
        let rest = &stream[pos..];
        e.leftover = rest.len();
        e.idle = open.is_none();
        if rest.len() < 2 {
            return e;
        }
        let (b0, b1) = (rest[0], rest[1]);
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if rest.len() < 2 + ext {
            return e;
        }
        let len = match ext {
            0 => u64::from(b1 & 0x7F),
            _ => rest[2..2 + ext]
                .iter()
                .fold(0u64, |a, &b| a << 8 | u64::from(b)),
        };
        if len >> 63 != 0 {
            fail(&mut e, 1002);
            return e;
        }
        let masked = b1 & 0x80 != 0;
        let hl = 2 + ext + if masked { 4 } else { 0 };
        if rest.len() < hl {
            return e;
        }
        let (fin, rsv, opcode) = (b0 & 0x80 != 0, (b0 >> 4) & 7, b0 & 0x0F);
        if rsv != 0
            || !matches!(
                opcode,
                OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
            )
            || !masked
        {
            fail(&mut e, 1002);
            return e;
        }
        let key = [rest[hl - 4], rest[hl - 3], rest[hl - 2], rest[hl - 1]];
        let unmask =
            |p: &[u8]| -> Vec<u8> { p.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect() };
        if opcode & 8 != 0 {
            if len > 125 || !fin {
                fail(&mut e, 1002);
                return e;
            }
            let total = hl + len as usize;
            if rest.len() < total {
                return e;
            }
            let payload = unmask(&rest[hl..total]);
            match opcode {
                OP_PING => e.pongs.push((echoed, payload)),
                OP_PONG => {}
                _ => {
                    match payload[..] {
                        [] => {
                            e.close = Some(None);
                            e.peer_initiated = true;
                        }
                        [_] => fail(&mut e, 1002),
                        [a, b, ref reason @ ..] => {
                            let code = u16::from_be_bytes([a, b]);
                            e.received_code = Some(code);
                            if !valid_close_code(code) {
                                fail(&mut e, 1002);
                            } else if core::str::from_utf8(reason).is_err() {
                                fail(&mut e, 1007);
                            } else {
                                e.close = Some(Some(code));
                                e.peer_initiated = true;
                            }
                        }
                    }
                    return e;
                }
            }
            pos += total;
            continue;
        }
        match (opcode, open) {
            (OP_CONT, None) | (OP_TEXT | OP_BINARY, Some(_)) => {
                fail(&mut e, 1002);
                return e;
            }
            _ => {}
        }
        if len > config.max_payload_len {
            e.refused_len = len;
            fail(&mut e, 1009);
            return e;
        }
        let whole = hl as u64 + len <= config.whole_frame_max as u64;
        let avail = (rest.len() - hl).min(len as usize);
        let complete = avail as u64 == len;
        let msg_op = open.unwrap_or(opcode);
        if opcode != OP_CONT {
            shown = false;
            text.clear();
        }
        // The frame counts as started (for its message) from here on.
        open = Some(msg_op);
        let payload = unmask(&rest[hl..hl + avail]);
        if msg_op == OP_TEXT {
            let before = text.len();
            text.extend_from_slice(&payload);
            let bad = match text_state(&text) {
                Text::Invalid(i) => Some(i - before),
                Text::Incomplete if fin && complete => Some(avail.saturating_sub(1)),
                _ => None,
            };
            if let Some(max) = bad {
                fail(&mut e, 1007);
                if !whole {
                    // Streamed: the fragments before the one holding the bad
                    // byte may have been echoed.
                    let may_be_absent = !shown;
                    if !shown {
                        e.msgs.push(Msg {
                            opcode: msg_op,
                            data: Vec::new(),
                            complete: false,
                        });
                    }
                    let m = e.msgs.last_mut().expect("message");
                    let min = m.data.len();
                    m.data.extend_from_slice(&payload[..max]);
                    e.wire.push(Wire::Streamed {
                        len: max,
                        fin: false,
                        exact: false,
                    });
                    e.partial = Some(Partial {
                        min,
                        max: min + max,
                        may_be_absent,
                    });
                }
                return e;
            }
        }
        if whole && !complete {
            // Text that is here was checked (above); echoed once complete.
            return e;
        }
        if whole || avail > 0 {
            if !shown {
                e.msgs.push(Msg {
                    opcode: msg_op,
                    data: Vec::new(),
                    complete: false,
                });
                shown = true;
            }
            let m = e.msgs.last_mut().expect("message");
            m.data.extend_from_slice(&payload);
            echoed += avail;
            e.wire.push(if whole {
                Wire::Whole {
                    fin,
                    opcode,
                    payload,
                }
            } else {
                Wire::Streamed {
                    len: avail,
                    fin: fin && complete,
                    exact: true,
                }
            });
        }
        if !complete {
            // A streamed frame cut off by the end of the stream: all of its
            // bytes so far were consumed and echoed.
            e.leftover = 0;
            e.idle = false;
            return e;
        }
        if fin {
            e.msgs.last_mut().expect("message").complete = true;
            open = None;
            text.clear();
        }
        pos += hl + len as usize;
    }
}

// ---------------------------------------------------------------------------
// Server output.

/// A server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

/// Parse server output that must consist of whole, valid server frames:
/// unmasked, no RSV bits, known opcodes, minimal length encoding, control
/// frames final and at most 125 bytes.
pub fn parse_server_frames(mut b: &[u8]) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 2, "partial server frame header: {b:x?}");
        let (b0, b1) = (b[0], b[1]);
        assert_eq!(b1 & 0x80, 0, "server frame masked");
        assert_eq!(b0 & 0x70, 0, "server frame with RSV bits");
        let opcode = b0 & 0x0F;
        assert!(
            matches!(
                opcode,
                OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
            ),
            "server opcode {opcode:#x}"
        );
        let (len, hl) = match b1 {
            126 => {
                assert!(b.len() >= 4, "partial server frame header");
                let l = usize::from(u16::from_be_bytes([b[2], b[3]]));
                assert!(l > 125, "non-minimal 16-bit length {l}");
                (l, 4)
            }
            127 => {
                assert!(b.len() >= 10, "partial server frame header");
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                let l = u64::from_be_bytes(l);
                assert!(l > 0xFFFF && l >> 63 == 0, "bad 64-bit length {l}");
                (usize::try_from(l).expect("length"), 10)
            }
            n => (usize::from(n), 2),
        };
        let fin = b0 & 0x80 != 0;
        if opcode & 8 != 0 {
            assert!(fin && len <= 125, "bad server control frame");
        }
        assert!(b.len() >= hl + len, "partial server frame payload");
        frames.push(Frame {
            fin,
            opcode,
            payload: &b[hl..hl + len],
        });
        b = &b[hl + len..];
    }
    frames
}

/// What the session's output says happened.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub msgs: Vec<Msg>,
    pub pongs: Vec<(usize, Vec<u8>)>,
    pub close: Option<Option<u16>>,
    /// Server pings (from `write_ping`) and their payloads.
    pub pings: Vec<Vec<u8>>,
    /// Data frames: FIN, opcode, payload.
    pub data_frames: Vec<(bool, u8, Vec<u8>)>,
}

/// Reassemble messages from server frames, checking fragmentation, text
/// validity and that nothing follows the close frame.
pub fn observe(frames: &[Frame<'_>]) -> Observed {
    let mut o = Observed::default();
    let mut open = false;
    let mut echoed = 0;
    for f in frames {
        assert!(o.close.is_none(), "frame after close: {f:?}");
        match f.opcode {
            OP_PING => o.pings.push(f.payload.to_vec()),
            OP_PONG => o.pongs.push((echoed, f.payload.to_vec())),
            OP_CLOSE => {
                o.close = Some(match *f.payload {
                    [] => None,
                    [a, b, ref reason @ ..] => {
                        let code = u16::from_be_bytes([a, b]);
                        assert!(valid_close_code(code), "sent close code {code}");
                        assert!(core::str::from_utf8(reason).is_ok(), "close reason");
                        Some(code)
                    }
                    [_] => panic!("1-byte close payload sent"),
                })
            }
            op => {
                match (open, op) {
                    (false, OP_TEXT | OP_BINARY) => o.msgs.push(Msg {
                        opcode: op,
                        data: Vec::new(),
                        complete: false,
                    }),
                    (true, OP_CONT) => {}
                    _ => panic!("bad fragmentation at {f:?}"),
                }
                o.data_frames.push((f.fin, op, f.payload.to_vec()));
                let m = o.msgs.last_mut().expect("message");
                m.data.extend_from_slice(f.payload);
                echoed += f.payload.len();
                open = !f.fin;
                m.complete = f.fin;
            }
        }
    }
    for m in &o.msgs {
        if m.opcode == OP_TEXT {
            match text_state(&m.data) {
                Text::Valid => {}
                Text::Incomplete if !m.complete => {}
                _ => panic!("invalid UTF-8 echoed: {m:?}"),
            }
        }
    }
    o
}

/// Compare what a run produced with the reference.
fn compare(want: &Expected, got: &Observed, s: &EchoSession, leftover: usize, what: &str) {
    assert_eq!(got.close, want.close, "{what}: close");
    assert_eq!(got.pongs, want.pongs, "{what}: pongs");
    let mut wmsgs = &want.msgs[..];
    let mut gmsgs = &got.msgs[..];
    if let Some(p) = want.partial {
        let (wlast, wrest) = wmsgs.split_last().expect("partial message");
        wmsgs = wrest;
        if gmsgs.len() == wmsgs.len() {
            assert!(p.may_be_absent, "{what}: partial message missing");
        } else {
            let (glast, grest) = gmsgs.split_last().expect("message");
            gmsgs = grest;
            assert_eq!(glast.opcode, wlast.opcode, "{what}: partial opcode");
            assert!(!glast.complete, "{what}: partial message finished");
            let n = glast.data.len();
            assert!(
                p.min <= n && n <= p.max && wlast.data.starts_with(&glast.data),
                "{what}: partial message {} bytes, want {}..={} of {:x?}",
                n,
                p.min,
                p.max,
                wlast.data
            );
        }
    }
    assert_eq!(gmsgs, wmsgs, "{what}: messages");
    compare_wire(&want.wire, &got.data_frames, what);

    let info = s.close_info();
    match want.close {
        None => {
            assert!(!s.is_closed() && info.is_none(), "{what}: closed");
            assert_eq!(leftover, want.leftover, "{what}: unconsumed input");
            assert_eq!(s.is_idle(), want.idle, "{what}: is_idle");
        }
        Some(code) => {
            assert!(s.is_closed(), "{what}: not closed");
            assert!(!s.has_pending_output(), "{what}: close still pending");
            let info = info.expect("close_info");
            assert_eq!(info.sent_code, code, "{what}: close_info.sent_code");
            assert_eq!(
                info.peer_initiated, want.peer_initiated,
                "{what}: peer_initiated"
            );
            assert_eq!(
                info.received_code, want.received_code,
                "{what}: received_code"
            );
            if code == Some(1009) {
                assert_eq!(s.refused_len(), want.refused_len, "{what}: refused_len");
            }
        }
    }
}

/// Small frames keep their framing; large ones come back as fragments.
fn compare_wire(want: &[Wire], got: &[(bool, u8, Vec<u8>)], what: &str) {
    let mut got = got.iter();
    for w in want {
        match w {
            Wire::Whole {
                fin,
                opcode,
                payload,
            } => {
                let g = got.next();
                assert_eq!(
                    g.map(|(f, o, p)| (*f, *o, &p[..])),
                    Some((*fin, *opcode, &payload[..])),
                    "{what}: whole frame echoed differently"
                );
            }
            &Wire::Streamed { len, fin, exact } => {
                let mut n = 0;
                while n < len {
                    let Some((f, _, p)) = got.next() else {
                        assert!(!exact, "{what}: streamed frame short: {n} of {len} bytes");
                        break;
                    };
                    n += p.len();
                    assert!(!p.is_empty() && n <= len, "{what}: fragment overruns frame");
                    assert_eq!(*f, fin && n == len, "{what}: fragment FIN");
                }
            }
        }
    }
    assert!(got.next().is_none(), "{what}: extra data frames");
}

// ---------------------------------------------------------------------------
// Running the session.

/// The whole stream at once, with buffers far larger than needed. `process`
/// must do everything it can in one call.
pub fn run_at_once(config: EchoConfig, stream: &[u8]) -> (EchoSession, Vec<u8>, usize) {
    let mut s = EchoSession::new(config);
    let mut out = vec![0u8; 2 * stream.len() + 4096];
    let p = s.process(stream, &mut out);
    assert!(p.consumed <= stream.len() && p.written <= out.len());
    let again = s.process(&stream[p.consumed..], &mut out[p.written..]);
    assert_eq!(
        (again.consumed, again.written),
        (0, 0),
        "process stopped early with room and input left"
    );
    out.truncate(p.written);
    (s, out, stream.len() - p.consumed)
}

/// The simulated nginx glue.
struct Glue {
    s: EchoSession,
    input: Vec<u8>,
    in_cap: usize,
    out: Vec<u8>,
    out_start: usize,
    out_end: usize,
    /// Everything written, in order.
    sent: Vec<u8>,
    calls: usize,
}

impl Glue {
    /// Call `process` on the buffered input with the output's free room;
    /// true if anything moved.
    fn process(&mut self) -> bool {
        self.calls += 1;
        let room = self.out.len() - self.out_end;
        let p = self.s.process(&self.input, &mut self.out[self.out_end..]);
        assert!(p.consumed <= self.input.len(), "consumed more than given");
        assert!(p.written <= room, "wrote more than room");
        let chunk = &self.out[self.out_end..self.out_end + p.written];
        // Each call appends whole frames.
        parse_server_frames(chunk);
        self.sent.extend_from_slice(chunk);
        self.out_end += p.written;
        self.input.drain(..p.consumed);
        if self.s.is_closed() && !self.s.has_pending_output() {
            // Once closed, nothing more is consumed.
            let q = self.s.process(&self.input, &mut self.out[self.out_end..]);
            assert_eq!((q.consumed, q.written), (0, 0), "progress after close");
        }
        p.consumed > 0 || p.written > 0
    }

    fn drain(&mut self, n: usize) {
        self.out_start += n.min(self.out_end - self.out_start);
        if self.out_start == self.out_end {
            self.out_start = 0;
            self.out_end = 0;
        }
    }

    fn read(&mut self, stream: &[u8], pos: &mut usize, n: usize) {
        let n = n
            .min(self.in_cap - self.input.len())
            .min(stream.len() - *pos);
        self.input.extend_from_slice(&stream[*pos..*pos + n]);
        *pos += n;
    }

    fn ping(&mut self, len: usize) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let n = self.s.write_ping(&payload, &mut self.out[self.out_end..]);
        let frames = parse_server_frames(&self.out[self.out_end..self.out_end + n]);
        if n > 0 {
            let want = &payload[..len.min(125)];
            assert!(!self.s.is_closed());
            assert_eq!(frames.len(), 1);
            assert_eq!((frames[0].opcode, frames[0].payload), (OP_PING, want));
        }
        self.sent
            .extend_from_slice(&self.out[self.out_end..self.out_end + n]);
        self.out_end += n;
    }
}

/// Feed the stream the way the nginx glue does, following `ops`, then drain
/// and process until nothing moves.
pub fn run_split(case: &Case) -> (EchoSession, Vec<u8>, usize) {
    assert!(case.in_cap >= case.config.whole_frame_max);
    let mut g = Glue {
        s: EchoSession::new(case.config),
        input: Vec::with_capacity(case.in_cap),
        in_cap: case.in_cap,
        out: vec![0u8; case.out_cap],
        out_start: 0,
        out_end: 0,
        sent: Vec::new(),
        calls: 0,
    };
    let stream = &case.stream[..];
    let mut pos = 0;
    if case.ops.iter().any(|op| matches!(op, Op::Read(_))) {
        // Enough rounds to read everything even one byte at a time.
        let mut rounds = 2 * stream.len() + 16;
        'ops: for op in case.ops.iter().cycle() {
            if pos == stream.len() || g.s.is_closed() || rounds == 0 {
                break 'ops;
            }
            rounds -= 1;
            match *op {
                Op::Read(n) => {
                    g.read(stream, &mut pos, n);
                    g.process();
                }
                Op::Drain(n) => g.drain(n),
                Op::Ping(n) => g.ping(n),
            }
        }
    }
    // The end: the peer reads everything, the rest of the stream arrives as
    // fast as the input buffer allows.
    let limit = 4 * stream.len() + 64;
    loop {
        assert!(g.calls < limit, "no end after {} process calls", g.calls);
        g.drain(usize::MAX);
        if !g.s.is_closed() {
            g.read(stream, &mut pos, usize::MAX);
        }
        let moved = g.process();
        if !moved {
            if g.s.is_closed() || pos == stream.len() {
                break;
            }
            assert!(
                g.input.len() < g.in_cap,
                "stuck: input buffer full ({} bytes), output empty, no progress",
                g.input.len()
            );
        }
    }
    let leftover = g.input.len();
    (g.s, g.sent, leftover)
}

/// Run one case both ways and check both against the reference.
pub fn check_case(case: &Case) {
    let want = reference(&case.config, &case.stream);

    let (s1, out1, left1) = run_at_once(case.config, &case.stream);
    let got1 = observe(&parse_server_frames(&out1));
    assert!(got1.pings.is_empty());
    compare(&want, &got1, &s1, left1, "all at once");

    let (s2, out2, left2) = run_split(case);
    let got2 = observe(&parse_server_frames(&out2));
    compare(&want, &got2, &s2, left2, "split");

    // Both runs closed (or not) the same way, down to the log reason.
    assert_eq!(s1.close_info(), s2.close_info());
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    check_case(&decode(data));
}
