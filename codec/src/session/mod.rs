//! The WebSocket session: one sans-IO state machine per connection, for the
//! server role (expects masked frames, sends unmasked ones) and the client
//! role (the reverse), enforcing every rule of RFC 6455 in one place.
//!
//! Receiving is a pull loop: [`Session::next_event`] looks at the caller's
//! unconsumed input, consumes a prefix of it and returns at most one
//! [`Event`]. Payload is unmasked *in place* and handed out as a borrowed
//! slice of the caller's buffer ([`DataPiece`]), so nothing is copied and no
//! whole message is ever buffered: a message arrives as pieces flagged with
//! where they sit in their frame and message. Bytes the session did not
//! consume must be offered again, unchanged and with more appended, on the
//! next call (they may have moved in memory).
//!
//! Sending is encoding: [`Session::data_header`] checks the outgoing
//! message's state (a new message cannot start inside another, a
//! continuation needs an open message, nothing after a close) and returns
//! the header to put before the payload; the `encode_*` methods write whole
//! frames. In the client role headers carry a masking key from the
//! session's [`KeyStream`].
//!
//! Extensions: RSV bits are refused with 1002 unless the configuration says
//! a negotiated extension claims them ([`Config::message_rsv`], the shape
//! permessage-deflate has: bits on the first frame of a data message only).
//! Messages carrying such bits reach the application with
//! [`DataPiece::rsv`] set and are not UTF-8 checked here: their payload is
//! transformed, and the extension checks what it produces.

use crate::close::{self, INVALID_PAYLOAD, MESSAGE_TOO_BIG, PROTOCOL_ERROR};
use crate::frame::{self, FrameHeader, HeaderError, OP_BINARY, OP_CLOSE, OP_CONTINUATION};
use crate::frame::{OP_PING, OP_PONG, OP_TEXT};
use crate::keys::KeyStream;
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

mod send;

pub use send::{OutHeader, Outgoing, SendError};

/// Largest control frame payload (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest control frame on the wire: the longest header (a masked one
/// with a non-minimal 64-bit length, which RFC 6455 does not forbid) and
/// 125 bytes.
pub const MAX_CONTROL_FRAME: usize = frame::MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;
/// Close code reported for a close frame without a code (RFC 6455 7.1.5).
pub const NO_STATUS: u16 = 1005;

/// The wire-size limit for frames and messages an extension transformed,
/// given the limit on what they carry: `limit` plus 1/24 of it plus 64
/// bytes, above what DEFLATE adds to incompressible data. zlib adds a
/// 5-byte stored-block header per block of pending literals, which is 128
/// bytes at its smallest memory level: 3.9% (zlib's own `deflateBound` for
/// such settings allows 3.96% plus 7 bytes); Python `websockets`' defaults
/// add 0.24%.
pub fn transformed_bound(limit: u64) -> u64 {
    limit.saturating_add(limit / 24).saturating_add(64)
}

/// Which end of the connection this session is.
#[derive(Debug)]
pub enum Role {
    /// Receives masked frames, sends unmasked ones.
    Server,
    /// Receives unmasked frames, sends masked ones with keys from this
    /// stream (boxed: a server session does not pay for it).
    Client(Box<KeyStream>),
}

impl Role {
    /// A client role whose masking keys come from a stream seeded with
    /// `seed` (32 bytes from the operating system's random source, or from
    /// another [`KeyStream`]).
    pub fn client(seed: [u8; 32]) -> Role {
        Role::Client(Box::new(KeyStream::from_seed(seed)))
    }

    /// True for [`Role::Server`].
    pub fn is_server(&self) -> bool {
        matches!(self, Role::Server)
    }
}

/// Limits and delivery options of a [`Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Data frames with a longer payload fail the connection with 1009
    /// (frames of RSV-marked messages: above [`transformed_bound`] of it;
    /// the extension checks what they carry).
    pub max_frame_len: u64,
    /// Messages whose frames add up to more payload fail the connection
    /// with 1009, as soon as the header of the frame that crosses the limit
    /// arrives (RSV-marked messages: [`transformed_bound`] of it).
    /// `u64::MAX`: no limit.
    pub max_message_len: u64,
    /// Data frames whose whole encoding (header and payload) is at most this
    /// many bytes are delivered as one piece once complete in the input, so
    /// the application sees small frames whole. Larger frames are delivered
    /// in pieces as their bytes arrive. The caller's input buffer must be
    /// able to hold this many bytes (and at least [`MAX_CONTROL_FRAME`],
    /// since control frames are always delivered whole). `0`: always stream.
    pub whole_frame_max: usize,
    /// RSV bits (RSV1 = 4, RSV2 = 2, RSV3 = 1) that a negotiated extension
    /// allows on the first frame of a data message. Any other RSV bit, and
    /// any RSV bit on a control or continuation frame, fails the connection
    /// with 1002.
    pub message_rsv: u8,
}

impl Default for Config {
    /// 1 MiB frames, no message limit, everything streamed, no extension.
    fn default() -> Self {
        Config {
            max_frame_len: 1 << 20,
            max_message_len: u64::MAX,
            whole_frame_max: 0,
            message_rsv: 0,
        }
    }
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// UTF-8 text (checked as it arrives, unless an extension transforms it).
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    /// The opcode of the message's first frame.
    pub fn opcode(self) -> u8 {
        match self {
            MessageKind::Text => OP_TEXT,
            MessageKind::Binary => OP_BINARY,
        }
    }
}

/// One piece of a data message: the payload bytes of one frame that are
/// available now (all of it for a frame delivered whole).
#[derive(Debug)]
pub struct DataPiece<'a> {
    /// The payload, unmasked, in the caller's input buffer.
    pub payload: &'a mut [u8],
    /// The message's type.
    pub kind: MessageKind,
    /// RSV bits of the message's first frame (0 unless an extension set them).
    pub rsv: u8,
    /// The first piece of the message.
    pub message_start: bool,
    /// The first piece of its frame.
    pub frame_start: bool,
    /// The last piece of its frame.
    pub frame_end: bool,
    /// The last piece of the message (`frame_end` of its final frame).
    pub message_end: bool,
    /// Payload length of the whole frame this piece belongs to.
    pub frame_len: u64,
}

/// A valid close frame from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code, `None` for an empty close frame.
    pub code: Option<u16>,
    /// The reason (valid UTF-8, at most 123 bytes).
    pub reason: &'a str,
}

/// The peer broke the protocol: the connection must be failed with a close
/// frame carrying `code` (and, usefully, `reason` as its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// 1002 (protocol error), 1007 (invalid UTF-8) or 1009 (too big).
    pub code: u16,
    /// Short English text for the close frame and the log.
    pub reason: &'static str,
    /// For 1009: the payload length of the frame that was refused.
    pub frame_len: u64,
    /// For a refused close frame: the code it carried, if any.
    pub received_code: Option<u16>,
}

/// What [`Session::next_event`] found.
#[derive(Debug)]
pub enum Event<'a> {
    /// Payload of a text or binary message.
    Data(DataPiece<'a>),
    /// A ping with its payload (unmasked, at most 125 bytes). RFC 6455 asks
    /// for a pong with the same payload.
    Ping(&'a mut [u8]),
    /// A pong (unsolicited, or answering a ping).
    Pong(&'a mut [u8]),
    /// The peer's close frame. Nothing more is decoded afterwards.
    Close(CloseFrame<'a>),
    /// The peer broke the protocol. Nothing more is decoded afterwards.
    Failed(Failure),
}

/// The result of one [`Session::next_event`] call.
#[derive(Debug)]
pub struct Step<'a> {
    /// Bytes consumed from the start of the input.
    pub consumed: usize,
    /// The event, if one was decoded. `None` with `consumed == 0` means the
    /// session needs more input (or has stopped decoding); `None` with
    /// `consumed > 0` means progress without an event (the header of a
    /// streamed frame whose payload has not arrived): call again when more
    /// input is there.
    pub event: Option<Event<'a>>,
}

/// Counters of what went through the session, for logs and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Frames received (data and control).
    pub frames_in: u64,
    /// Data messages received completely.
    pub messages_in: u64,
    /// Data payload bytes delivered to the application.
    pub bytes_in: u64,
    /// Frames encoded for sending (data and control).
    pub frames_out: u64,
    /// Data messages whose final frame was encoded.
    pub messages_out: u64,
    /// Data payload bytes announced in encoded data frame headers.
    pub bytes_out: u64,
}

/// A data frame being delivered in pieces.
#[derive(Debug, Clone, Copy)]
struct Streamed {
    /// Payload bytes not delivered yet.
    remaining: u64,
    /// Payload length of the frame.
    len: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes delivered so far, modulo 4 (the key phase).
    phase: u8,
    fin: bool,
    /// No piece of the frame was delivered yet.
    first: bool,
}

/// The data message being received.
#[derive(Debug, Clone)]
struct Incoming {
    kind: MessageKind,
    rsv: u8,
    /// Payload announced by the frame headers accepted so far.
    announced: u64,
    /// No piece of the message was delivered yet.
    first: bool,
    /// UTF-8 state of a text message that is checked here.
    utf8: Option<Utf8Validator>,
}

/// The early check of a whole-sized text frame that is not complete yet:
/// its first `checked` payload bytes are already unmasked (in the caller's
/// buffer) and valid.
#[derive(Debug, Clone)]
struct Partial {
    header: FrameHeader,
    checked: usize,
    utf8: Utf8Validator,
}

/// Where the receive side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiving {
    /// Decoding frames.
    Open,
    /// The peer's close frame was received.
    CloseReceived(Option<u16>),
    /// The peer broke the protocol.
    Failed(Failure),
}

/// One WebSocket connection's protocol state, for either role. See the
/// module documentation.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Config,
    receiving: Receiving,
    stream: Option<Streamed>,
    incoming: Option<Incoming>,
    partial: Option<Partial>,
    /// Kind of the outgoing message whose final frame is not encoded yet.
    outgoing: Option<MessageKind>,
    /// The close frame we sent: `Some(None)` for an empty one.
    close_sent: Option<Option<u16>>,
    stats: Stats,
}

impl Session {
    /// A session right after the opening handshake.
    pub fn new(role: Role, config: Config) -> Session {
        Session {
            role,
            config,
            receiving: Receiving::Open,
            stream: None,
            incoming: None,
            partial: None,
            outgoing: None,
            close_sent: None,
            stats: Stats::default(),
        }
    }

    /// A server-role session.
    pub fn server(config: Config) -> Session {
        Session::new(Role::Server, config)
    }

    /// The configuration the session was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True in the server role.
    pub fn is_server(&self) -> bool {
        self.role.is_server()
    }

    /// What went through so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// True while frames are still decoded: no close frame received and no
    /// protocol error.
    pub fn is_receiving(&self) -> bool {
        self.receiving == Receiving::Open
    }

    /// The peer's close code once its close frame arrived: [`NO_STATUS`]
    /// (1005) for an empty close frame.
    pub fn close_received(&self) -> Option<u16> {
        match self.receiving {
            Receiving::CloseReceived(code) => Some(code.unwrap_or(NO_STATUS)),
            _ => None,
        }
    }

    /// The close code the session failed the connection with, if the peer
    /// broke the protocol.
    pub fn failed(&self) -> Option<u16> {
        self.failure().map(|f| f.code)
    }

    /// How the peer broke the protocol, if it did.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.receiving {
            Receiving::Failed(failure) => Some(failure),
            _ => None,
        }
    }

    /// The code of the close frame encoded for sending, once one was:
    /// [`NO_STATUS`] (1005) for an empty one.
    pub fn close_sent(&self) -> Option<u16> {
        self.close_sent.map(|code| code.unwrap_or(NO_STATUS))
    }

    /// True when both close frames went their way (or the receive side
    /// failed and our close was encoded): the connection is done.
    pub fn is_closed(&self) -> bool {
        self.close_sent.is_some() && !self.is_receiving()
    }

    /// True between messages in both directions with no frame part-way:
    /// a caller may give its buffers back. (An outgoing message cut short by
    /// a close stays open, so this stays false after such a close.)
    pub fn is_idle(&self) -> bool {
        self.stream.is_none()
            && self.incoming.is_none()
            && self.partial.is_none()
            && self.outgoing.is_none()
    }

    /// True when an incoming data message has started and not ended.
    pub fn in_message(&self) -> bool {
        self.incoming.is_some()
    }

    /// True while a data frame is being delivered in pieces: the next input
    /// bytes are its payload, not a frame header.
    pub fn in_streamed_frame(&self) -> bool {
        self.stream.is_some()
    }

    /// Decode the next event from `input`, the bytes not consumed so far.
    /// See [`Step`] for what the result means. Never panics; unconsumed
    /// bytes must be offered again (they may be partly unmasked already).
    pub fn next_event<'a>(&mut self, input: &'a mut [u8]) -> Step<'a> {
        if self.receiving != Receiving::Open {
            return Step::wait();
        }
        match self.stream {
            Some(st) => self.streamed_piece(st, input),
            None => self.frame(input),
        }
    }

    /// Fail the connection for a fault the application found in what the
    /// session delivered (an extension's transformed payload: corrupt
    /// compressed data, invalid UTF-8 or a size limit after inflation).
    /// Nothing more is decoded; [`failure`](Self::failure) reports it. The
    /// caller sends the close frame with `code`. No effect once the
    /// session stopped receiving.
    pub fn fail_received(&mut self, code: u16, reason: &'static str) {
        if self.receiving == Receiving::Open {
            self.fail(code, reason);
        }
    }

    fn fail(&mut self, code: u16, reason: &'static str) -> Step<'static> {
        self.fail_with(Failure {
            code,
            reason,
            frame_len: 0,
            received_code: None,
        })
    }

    fn fail_with(&mut self, failure: Failure) -> Step<'static> {
        self.receiving = Receiving::Failed(failure);
        self.stream = None;
        self.partial = None;
        self.incoming = None;
        Step {
            consumed: 0,
            event: Some(Event::Failed(failure)),
        }
    }

    /// The rules a header breaks on its own, checked in a fixed order.
    fn header_error(&self, h: &FrameHeader) -> Option<&'static str> {
        let data_start = matches!(h.opcode, OP_TEXT | OP_BINARY);
        let allowed = if data_start {
            self.config.message_rsv
        } else {
            0
        };
        if h.rsv & !allowed != 0 {
            return Some("reserved bits set");
        }
        if !matches!(
            h.opcode,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            return Some("unknown opcode");
        }
        match (self.role.is_server(), h.mask.is_some()) {
            (true, false) => return Some("unmasked frame"),
            (false, true) => return Some("masked frame from a server"),
            _ => {}
        }
        if h.is_control() {
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Some("control frame too long");
            }
            if !h.fin {
                return Some("fragmented control frame");
            }
            return None;
        }
        match (h.opcode, &self.incoming) {
            (OP_CONTINUATION, None) => Some("continuation without a message"),
            (OP_TEXT | OP_BINARY, Some(_)) => Some("data frame inside a fragmented message"),
            _ => None,
        }
    }

    /// Parse and act on the frame header at the start of `input`.
    fn frame<'a>(&mut self, input: &'a mut [u8]) -> Step<'a> {
        let (h, hl) = match frame::parse_header(input) {
            Ok(Some(x)) => x,
            Ok(None) => return Step::wait(),
            Err(HeaderError::LengthTopBitSet) => {
                return self.fail(PROTOCOL_ERROR, "frame length top bit set")
            }
        };
        if let Some(reason) = self.header_error(&h) {
            return self.fail(PROTOCOL_ERROR, reason);
        }
        if h.is_control() {
            return self.control_frame(&h, hl, input);
        }
        // A message an extension transformed (RSV bits on its first frame)
        // may be a little longer on the wire than what it carries
        // (incompressible data grows under permessage-deflate): its frames
        // get the slack of `transformed_bound`, and the extension checks the
        // limits on what it produces.
        let transformed = match (h.opcode, &self.incoming) {
            (OP_CONTINUATION, Some(m)) => m.rsv != 0,
            _ => h.rsv != 0,
        };
        let bound = |limit: u64| {
            if transformed {
                transformed_bound(limit)
            } else {
                limit
            }
        };
        if h.payload_len > bound(self.config.max_frame_len) {
            return self.fail_with(Failure {
                code: MESSAGE_TOO_BIG,
                reason: "frame too big",
                frame_len: h.payload_len,
                received_code: None,
            });
        }
        let before = self.incoming.as_ref().map_or(0, |m| m.announced);
        if before.saturating_add(h.payload_len) > bound(self.config.max_message_len) {
            return self.fail_with(Failure {
                code: MESSAGE_TOO_BIG,
                reason: "message too big",
                frame_len: h.payload_len,
                received_code: None,
            });
        }
        // payload_len < 2^63, so this cannot overflow.
        let total = hl as u64 + h.payload_len;
        if total > self.config.whole_frame_max as u64 {
            self.begin_frame(&h);
            let st = Streamed {
                remaining: h.payload_len,
                len: h.payload_len,
                mask: h.mask,
                phase: 0,
                fin: h.fin,
                first: true,
            };
            self.stream = Some(st);
            // The first piece in the same call, if any payload is here.
            let mut step = match input.get_mut(hl..) {
                Some(rest) => self.streamed_piece(st, rest),
                None => Step::wait(),
            };
            step.consumed += hl;
            return step;
        }
        self.whole_frame(&h, hl, total as usize, input)
    }

    /// Start a frame whose header is accepted: a TEXT or BINARY frame opens
    /// the message, a continuation extends it.
    fn begin_frame(&mut self, h: &FrameHeader) {
        self.stats.frames_in += 1;
        if h.opcode != OP_CONTINUATION {
            let kind = if h.opcode == OP_TEXT {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            self.incoming = Some(Incoming {
                kind,
                rsv: h.rsv,
                announced: 0,
                first: true,
                utf8: (kind == MessageKind::Text && h.rsv == 0).then(Utf8Validator::new),
            });
        }
        if let Some(m) = self.incoming.as_mut() {
            m.announced += h.payload_len;
        }
    }

    /// Whether a frame's payload is UTF-8 checked here: text (of the new
    /// message, or of the open one for a continuation) that no extension
    /// transforms.
    fn checks_utf8(&self, h: &FrameHeader) -> bool {
        match h.opcode {
            OP_TEXT => h.rsv == 0,
            _ => self.incoming.as_ref().is_some_and(|m| m.utf8.is_some()),
        }
    }

    /// A data frame that is delivered whole: wait until it is complete,
    /// checking the UTF-8 of text as it arrives so that invalid text fails
    /// the connection at once.
    fn whole_frame<'a>(
        &mut self,
        h: &FrameHeader,
        hl: usize,
        total: usize,
        input: &'a mut [u8],
    ) -> Step<'a> {
        // The common case first: a one-frame message that is all here.
        if h.fin && h.opcode != OP_CONTINUATION && self.partial.is_none() && input.len() >= total {
            return self.whole_message(h, hl, total, input);
        }
        let checks = self.checks_utf8(h);
        let n = total - hl;
        // Bytes the early check already unmasked and validated.
        let (checked, utf8) = match self.partial.take() {
            Some(p) if p.header == *h && p.checked <= n => (p.checked, Some(p.utf8)),
            _ => (0, None),
        };
        let mut utf8 = match utf8 {
            Some(v) => v,
            None if !checks => Utf8Validator::new(),
            None if h.opcode == OP_TEXT => Utf8Validator::new(),
            None => self
                .incoming
                .as_ref()
                .and_then(|m| m.utf8.clone())
                .unwrap_or_default(),
        };
        let avail = input.len().min(total);
        let Some(payload) = input.get_mut(hl..avail) else {
            return Step::wait();
        };
        if avail < total && !checks {
            return Step::wait();
        }
        if let (Some(mask), Some(fresh)) = (h.mask, payload.get_mut(checked..)) {
            apply_mask(fresh, mask, checked);
        }
        if checks {
            let fresh = payload.get(checked..).unwrap_or_default();
            let complete = avail == total;
            if utf8.feed(fresh).is_err() || (complete && h.fin && !utf8.is_complete()) {
                return self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message");
            }
            if !complete {
                self.partial = Some(Partial {
                    header: *h,
                    checked: payload.len(),
                    utf8,
                });
                return Step::wait();
            }
        }
        self.begin_frame(h);
        let Some(m) = self.incoming.as_mut() else {
            return Step::wait();
        };
        if checks {
            m.utf8 = Some(utf8);
        }
        let piece = DataPiece {
            kind: m.kind,
            rsv: m.rsv,
            message_start: m.first,
            frame_start: true,
            frame_end: true,
            message_end: h.fin,
            frame_len: h.payload_len,
            payload: &mut input[hl..total],
        };
        m.first = false;
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(h.payload_len);
        if h.fin {
            self.incoming = None;
            self.stats.messages_in += 1;
        }
        Step {
            consumed: total,
            event: Some(Event::Data(piece)),
        }
    }

    /// A complete one-frame message (FIN, TEXT or BINARY) delivered whole:
    /// no message state is needed before or after it.
    fn whole_message<'a>(
        &mut self,
        h: &FrameHeader,
        hl: usize,
        total: usize,
        input: &'a mut [u8],
    ) -> Step<'a> {
        let payload = &mut input[hl..total];
        if let Some(mask) = h.mask {
            apply_mask(payload, mask, 0);
        }
        let kind = if h.opcode == OP_TEXT {
            if h.rsv == 0 && core::str::from_utf8(payload).is_err() {
                return self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message");
            }
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        self.stats.frames_in += 1;
        self.stats.messages_in += 1;
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(h.payload_len);
        Step {
            consumed: total,
            event: Some(Event::Data(DataPiece {
                payload,
                kind,
                rsv: h.rsv,
                message_start: true,
                frame_start: true,
                frame_end: true,
                message_end: true,
                frame_len: h.payload_len,
            })),
        }
    }

    /// Deliver the next piece of a streamed frame.
    fn streamed_piece<'a>(&mut self, st: Streamed, input: &'a mut [u8]) -> Step<'a> {
        let n = st.remaining.min(input.len() as u64) as usize;
        if n == 0 && st.remaining > 0 {
            return Step::wait();
        }
        let Some(m) = self.incoming.as_mut() else {
            // A streamed frame always belongs to a message.
            self.stream = None;
            return Step::wait();
        };
        let payload = &mut input[..n];
        if let Some(mask) = st.mask {
            apply_mask(payload, mask, usize::from(st.phase));
        }
        let last = n as u64 == st.remaining;
        let message_end = last && st.fin;
        if let Some(v) = m.utf8.as_mut() {
            if v.feed(payload).is_err() || (message_end && !v.is_complete()) {
                return self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message");
            }
        }
        let piece = DataPiece {
            kind: m.kind,
            rsv: m.rsv,
            message_start: m.first,
            frame_start: st.first,
            frame_end: last,
            message_end,
            frame_len: st.len,
            payload,
        };
        m.first = false;
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(n as u64);
        self.stream = if last {
            None
        } else {
            Some(Streamed {
                remaining: st.remaining - n as u64,
                phase: ((usize::from(st.phase) + n) % 4) as u8,
                first: false,
                ..st
            })
        };
        if message_end {
            self.incoming = None;
            self.stats.messages_in += 1;
        }
        Step {
            consumed: n,
            event: Some(Event::Data(piece)),
        }
    }

    /// A complete control frame (control frames are always delivered whole,
    /// also between the fragments of a message).
    fn control_frame<'a>(&mut self, h: &FrameHeader, hl: usize, input: &'a mut [u8]) -> Step<'a> {
        let total = hl + h.payload_len as usize;
        let Some(payload) = input.get_mut(hl..total) else {
            return Step::wait();
        };
        if let Some(mask) = h.mask {
            apply_mask(payload, mask, 0);
        }
        self.stats.frames_in += 1;
        let event = match h.opcode {
            OP_PING => Event::Ping(payload),
            OP_PONG => Event::Pong(payload),
            _ => return self.close_frame(payload, total),
        };
        Step {
            consumed: total,
            event: Some(event),
        }
    }

    /// The peer's close frame: valid, or a protocol error.
    fn close_frame<'a>(&mut self, payload: &'a [u8], total: usize) -> Step<'a> {
        let (code, reason) = match payload {
            [] => (None, ""),
            [_] => return self.fail(PROTOCOL_ERROR, "close payload of 1 byte"),
            [a, b, text @ ..] => {
                let code = u16::from_be_bytes([*a, *b]);
                if !close::is_valid_received_code(code) {
                    return self.fail_with(Failure {
                        code: PROTOCOL_ERROR,
                        reason: "invalid close code",
                        frame_len: 0,
                        received_code: Some(code),
                    });
                }
                match core::str::from_utf8(text) {
                    Ok(reason) => (Some(code), reason),
                    Err(_) => {
                        return self.fail_with(Failure {
                            code: INVALID_PAYLOAD,
                            reason: "invalid UTF-8 in close reason",
                            frame_len: 0,
                            received_code: Some(code),
                        })
                    }
                }
            }
        };
        self.receiving = Receiving::CloseReceived(code);
        self.stream = None;
        self.partial = None;
        self.incoming = None;
        Step {
            consumed: total,
            event: Some(Event::Close(CloseFrame { code, reason })),
        }
    }
}

impl Step<'_> {
    fn wait() -> Step<'static> {
        Step {
            consumed: 0,
            event: None,
        }
    }
}

#[cfg(test)]
mod tests;
