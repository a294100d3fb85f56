//! The echo server state machine: a sans-IO session that reads client frames
//! from the caller's input buffer and writes the echoed (unmasked) frames,
//! pongs and close frames into the caller's output buffer.
//!
//! Small frames are echoed whole so the client sees its exact framing; large
//! data frames are streamed through as fragments so neither side needs a
//! buffer as big as the frame. The session allocates nothing.

use crate::close::{self, INVALID_PAYLOAD, MESSAGE_TOO_BIG, PROTOCOL_ERROR};
use crate::frame::{
    self, FrameHeader, HeaderError, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use crate::mask::apply_mask_copy;
use crate::utf8::Utf8Validator;

/// Largest control frame payload (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest close reason: the control payload minus the 2-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
/// Largest close frame we can send (unmasked header + payload).
const MAX_CLOSE_FRAME: usize = 2 + MAX_CONTROL_PAYLOAD;
/// Stack buffer for checking the UTF-8 of a text frame that is not complete
/// yet: its payload is unmasked this many bytes at a time.
const PRECHECK_CHUNK: usize = 256;
/// When output room rather than input limits a streamed fragment, wait for
/// room unless at least this much payload fits, so a nearly full output
/// buffer does not turn into a flood of tiny fragments.
const MIN_STREAM_CHUNK: u64 = 512;

/// Limits for an [`EchoSession`].
#[derive(Debug, Clone, Copy)]
pub struct EchoConfig {
    /// Data frames whose payload length exceeds this are refused with 1009.
    pub max_payload_len: u64,
    /// Frames whose whole encoded size (header + payload) is at most this
    /// are echoed only once complete in `input`, as one frame with the same
    /// FIN and opcode. Larger data frames are streamed: each call echoes the
    /// payload available so far as a fragment. The caller's input buffer
    /// must hold this many bytes; must be at least 256 so control frames (at
    /// most 131 bytes) always fit whole. The output buffer must hold at least
    /// `max(whole_frame_max, 522)` bytes: whole frames are echoed in one
    /// piece, and streaming waits for room for a 512-byte fragment rather
    /// than emitting tiny ones.
    pub whole_frame_max: usize,
}

/// How much of the input a [`EchoSession::process`] call consumed and how
/// much output it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes consumed from the start of `input`.
    pub consumed: usize,
    /// Bytes written at the start of `out`.
    pub written: usize,
}

/// Why and how the session closed (for the caller's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseInfo {
    /// Code in the close frame we sent (None for an empty close payload).
    pub sent_code: Option<u16>,
    /// Code from the peer's close frame, if it sent one with a code (also
    /// set when that code or its reason was invalid).
    pub received_code: Option<u16>,
    /// True when the peer sent a valid close frame.
    pub peer_initiated: bool,
    /// Short English text for the log.
    pub reason: &'static str,
}

/// A large data frame whose payload is being streamed through.
#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Payload bytes of the incoming frame not yet echoed.
    remaining: u64,
    mask: [u8; 4],
    /// Key phase of the next payload byte (payload bytes seen so far % 4).
    phase: usize,
    /// FIN bit of the incoming frame.
    fin: bool,
}

/// UTF-8 already checked in a whole-sized text frame that is waiting at the
/// start of the input (not complete yet, or no output room for its echo).
/// Only that frame is ever described: the state is dropped as soon as any
/// input is consumed and when the session closes.
#[derive(Debug, Clone)]
struct Precheck {
    /// Header of the waiting frame, so the state is not applied to another
    /// frame if a caller breaks the contract of re-offering its input.
    header: FrameHeader,
    /// Payload bytes of that frame already fed to `utf8`.
    checked: usize,
    /// The message's validator after those bytes.
    utf8: Utf8Validator,
}

/// Outcome of one step of [`EchoSession::process`]: `Some((consumed,
/// written))` after progress, `None` when it must wait for input or room.
type Step = Option<(usize, usize)>;

/// The per-connection echo state machine. See the crate docs.
#[derive(Debug, Clone)]
pub struct EchoSession {
    config: EchoConfig,
    /// Opcode (TEXT or BINARY) of the incoming message whose final frame has
    /// not been fully processed yet.
    message: Option<u8>,
    /// A fragment of the outgoing echo of `message` has been sent without
    /// FIN, so further fragments must use OP_CONTINUATION.
    out_open: bool,
    /// Shared by all fragments of a text message.
    utf8: Utf8Validator,
    stream: Option<Stream>,
    /// Early UTF-8 check of the whole-sized text frame at the start of the
    /// input, so invalid text fails the connection before the frame is
    /// complete.
    precheck: Option<Precheck>,
    closed: bool,
    /// An encoded close frame still waiting for output room.
    pending: [u8; MAX_CLOSE_FRAME],
    pending_len: usize,
    close_info: Option<CloseInfo>,
    refused_len: u64,
}

/// Most payload bytes that fit in `room` output bytes together with their
/// (length-dependent) server header.
fn max_payload_for_room(room: usize) -> u64 {
    let room = room as u64;
    if room < 2 {
        0
    } else if room - 2 <= 125 {
        room - 2
    } else if room - 4 <= 0xFFFF {
        (room - 4).max(125)
    } else {
        (room - 10).max(0xFFFF)
    }
}

impl EchoSession {
    /// A session at the start of a connection, right after the handshake.
    pub fn new(config: EchoConfig) -> Self {
        Self {
            config,
            message: None,
            out_open: false,
            utf8: Utf8Validator::new(),
            stream: None,
            precheck: None,
            closed: false,
            pending: [0; MAX_CLOSE_FRAME],
            pending_len: 0,
            close_info: None,
            refused_len: 0,
        }
    }

    /// Consume a prefix of `input` and append whole frames to `out`.
    ///
    /// Unconsumed input must be passed again (with more data appended) on
    /// the next call. Stops when input is exhausted, `out` is too full for
    /// the next step, or the session is closed. Never panics.
    pub fn process(&mut self, input: &[u8], out: &mut [u8]) -> Progress {
        let mut p = Progress::default();
        loop {
            if self.pending_len > 0 {
                let w = self.flush_pending(out.get_mut(p.written..).unwrap_or_default());
                if self.pending_len > 0 {
                    break;
                }
                p.written += w;
            }
            if self.closed {
                break;
            }
            let inp = input.get(p.consumed..).unwrap_or_default();
            let o = out.get_mut(p.written..).unwrap_or_default();
            let step = if self.stream.is_some() {
                self.stream_step(inp, o)
            } else {
                self.frame_step(inp, o)
            };
            match step {
                Some((c, w)) => {
                    if c > 0 {
                        // The frame at the start of the input changed.
                        self.precheck = None;
                    }
                    p.consumed += c;
                    p.written += w;
                }
                None => break,
            }
        }
        p
    }

    /// True once a close frame has been written or queued: the caller stops
    /// reading, flushes `out`, then closes the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True when a close frame still waits for room in `out`; the next
    /// [`process`](Self::process) call writes it first.
    pub fn has_pending_output(&self) -> bool {
        self.pending_len > 0
    }

    /// Why and how the session closed, once it has.
    pub fn close_info(&self) -> Option<CloseInfo> {
        self.close_info
    }

    /// True between messages with nothing carried over (no frame being
    /// streamed, no fragmented message open): the caller may free buffers.
    pub fn is_idle(&self) -> bool {
        self.stream.is_none() && self.message.is_none()
    }

    /// Payload length of the frame that caused a 1009, for the log (0
    /// otherwise).
    pub fn refused_len(&self) -> u64 {
        self.refused_len
    }

    /// Write a server ping with `payload` (truncated to 125 bytes) into
    /// `out`; returns the bytes written, 0 if `out` has no room or the
    /// session is closed. Call only between `process` calls, where the
    /// output is always at a frame boundary.
    pub fn write_ping(&mut self, payload: &[u8], out: &mut [u8]) -> usize {
        if self.closed {
            return 0;
        }
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        let n = 2 + payload.len();
        let Some(dst) = out.get_mut(..n) else {
            return 0;
        };
        frame::encode_header(true, OP_PING, payload.len() as u64, dst);
        dst[2..].copy_from_slice(payload);
        n
    }

    /// Server-initiated close (timeout, shutdown): write a close frame with
    /// `code` and `reason` (truncated at a character boundary to 123 bytes)
    /// and mark the session closed. Returns the bytes written; if `out` is
    /// too small the frame stays pending (see
    /// [`has_pending_output`](Self::has_pending_output)). No-op if already
    /// closed.
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
        log_reason: &'static str,
        out: &mut [u8],
    ) -> usize {
        if self.closed {
            return 0;
        }
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let info = CloseInfo {
            sent_code: Some(code),
            received_code: None,
            peer_initiated: false,
            reason: log_reason,
        };
        self.queue_close(Some(code), &reason.as_bytes()[..end], info, out)
    }

    /// Encode a close frame, mark the session closed, and write the frame
    /// now if `out` has room (else leave it pending). Returns bytes written.
    fn queue_close(
        &mut self,
        code: Option<u16>,
        reason: &[u8],
        info: CloseInfo,
        out: &mut [u8],
    ) -> usize {
        self.closed = true;
        self.close_info = Some(info);
        self.precheck = None;
        let mut len = 2;
        if let Some(code) = code {
            let reason = &reason[..reason.len().min(MAX_CLOSE_REASON)];
            self.pending[2..4].copy_from_slice(&code.to_be_bytes());
            self.pending[4..4 + reason.len()].copy_from_slice(reason);
            len += 2 + reason.len();
        }
        self.pending[0] = 0x80 | OP_CLOSE;
        self.pending[1] = (len - 2) as u8;
        self.pending_len = len;
        self.flush_pending(out)
    }

    /// Fail the connection: send a close frame with `code` and the log
    /// reason as its text.
    fn fail(
        &mut self,
        code: u16,
        reason: &'static str,
        received: Option<u16>,
        out: &mut [u8],
    ) -> usize {
        let info = CloseInfo {
            sent_code: Some(code),
            received_code: received,
            peer_initiated: false,
            reason,
        };
        self.queue_close(Some(code), reason.as_bytes(), info, out)
    }

    fn flush_pending(&mut self, out: &mut [u8]) -> usize {
        let n = self.pending_len;
        match out.get_mut(..n) {
            Some(dst) if n > 0 => {
                dst.copy_from_slice(&self.pending[..n]);
                self.pending_len = 0;
                n
            }
            _ => 0,
        }
    }

    /// Start a new incoming message for TEXT/BINARY; continuations keep the
    /// open one.
    fn begin_frame(&mut self, opcode: u8) {
        if opcode != OP_CONTINUATION {
            self.message = Some(opcode);
            self.out_open = false;
            self.utf8.reset();
        }
    }

    /// Unmask `src` into `out` after a server header, check UTF-8 for text
    /// (from byte `checked` on: earlier bytes were already fed to
    /// `self.utf8`), and write the header. `Err` (nothing counted as
    /// written) on invalid UTF-8, including a text message ending
    /// mid-code-point.
    fn emit_fragment(
        &mut self,
        fin: bool,
        mask: [u8; 4],
        phase: usize,
        checked: usize,
        src: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ()> {
        let n = src.len();
        let hl = frame::server_header_len(n as u64);
        // Callers checked room; this only guards against a broken caller.
        let Some(dst) = out.get_mut(hl..hl + n) else {
            return Ok(0);
        };
        apply_mask_copy(src, dst, mask, phase);
        if self.message == Some(OP_TEXT) {
            let rest = dst.get(checked..).unwrap_or_default();
            let valid = self.utf8.feed(rest).is_ok() && (!fin || self.utf8.is_complete());
            if !valid {
                return Err(());
            }
        }
        let opcode = match self.message {
            Some(op) if !self.out_open => op,
            _ => OP_CONTINUATION,
        };
        frame::encode_header(fin, opcode, n as u64, out);
        if fin {
            self.message = None;
            self.out_open = false;
        } else {
            self.out_open = true;
        }
        Ok(hl + n)
    }

    /// Echo the next piece of a streamed data frame.
    fn stream_step(&mut self, inp: &[u8], out: &mut [u8]) -> Step {
        let st = self.stream?;
        let cap = st.remaining.min(inp.len() as u64);
        if st.remaining > 0 && cap == 0 {
            return None;
        }
        let room_max = max_payload_for_room(out.len());
        if room_max < cap.min(MIN_STREAM_CHUNK) {
            return None;
        }
        let n = cap.min(room_max);
        if out.len() < frame::server_header_len(n) + n as usize {
            return None;
        }
        let last = n == st.remaining;
        let fin = last && st.fin;
        let src = inp.get(..n as usize)?;
        match self.emit_fragment(fin, st.mask, st.phase, 0, src, out) {
            Ok(w) => {
                self.stream = if last {
                    None
                } else {
                    Some(Stream {
                        remaining: st.remaining - n,
                        phase: (st.phase + n as usize) % 4,
                        ..st
                    })
                };
                Some((n as usize, w))
            }
            Err(()) => Some((
                0,
                self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message", None, out),
            )),
        }
    }

    /// Parse and act on the next frame header in `inp`.
    fn frame_step(&mut self, inp: &[u8], out: &mut [u8]) -> Step {
        let (h, hl) = match frame::parse_header(inp) {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err(HeaderError::LengthTopBitSet) => {
                return Some((
                    0,
                    self.fail(PROTOCOL_ERROR, "frame length top bit set", None, out),
                ));
            }
        };
        if let Some(reason) = self.header_error(&h) {
            return Some((0, self.fail(PROTOCOL_ERROR, reason, None, out)));
        }
        let Some(mask) = h.mask else {
            // header_error already refused unmasked frames.
            return None;
        };
        if h.is_control() {
            return self.control_frame(h.opcode, mask, hl, h.payload_len as usize, inp, out);
        }
        if h.payload_len > self.config.max_payload_len {
            self.refused_len = h.payload_len;
            return Some((0, self.fail(MESSAGE_TOO_BIG, "frame too big", None, out)));
        }
        // payload_len < 2^63, so this cannot overflow.
        let total = hl as u64 + h.payload_len;
        if total > self.config.whole_frame_max as u64 {
            self.begin_frame(h.opcode);
            self.stream = Some(Stream {
                remaining: h.payload_len,
                mask,
                phase: 0,
                fin: h.fin,
            });
            return Some((hl, 0));
        }
        let total = total as usize;
        let n = h.payload_len as usize;
        let is_text = match h.opcode {
            OP_TEXT => true,
            OP_CONTINUATION => self.message == Some(OP_TEXT),
            _ => false,
        };
        let complete = inp.get(hl..total);
        let room = out.len() >= frame::server_header_len(h.payload_len) + n;
        let src = match complete {
            Some(src) if room => src,
            // Not echoed yet; fail now if the text that is here is invalid.
            _ if is_text => {
                let avail = inp.get(hl..total.min(inp.len())).unwrap_or_default();
                return self.precheck_text(&h, mask, avail, out);
            }
            _ => return None,
        };
        let precheck = self
            .precheck
            .take()
            .filter(|pc| is_text && pc.header == h && pc.checked <= n);
        self.begin_frame(h.opcode);
        // Resume the UTF-8 check where the early check of this frame stopped.
        let checked = match precheck {
            Some(pc) => {
                self.utf8 = pc.utf8;
                pc.checked
            }
            None => 0,
        };
        match self.emit_fragment(h.fin, mask, 0, checked, src, out) {
            Ok(w) => Some((total, w)),
            Err(()) => Some((
                0,
                self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message", None, out),
            )),
        }
    }

    /// Check the UTF-8 of the payload bytes `avail` of a whole-sized text
    /// frame `h` that cannot be echoed yet, resuming after the bytes an
    /// earlier call already checked, and remember how far it got. Fails the
    /// connection with 1007 at the first invalid byte; otherwise waits.
    fn precheck_text(
        &mut self,
        h: &FrameHeader,
        mask: [u8; 4],
        avail: &[u8],
        out: &mut [u8],
    ) -> Step {
        let (mut checked, mut utf8) = match self.precheck.take() {
            Some(pc) if pc.header == *h && pc.checked <= avail.len() => (pc.checked, pc.utf8),
            // A new message starts from scratch; a continuation from the
            // message's state, which only this frame's echo will change.
            _ if h.opcode == OP_TEXT => (0, Utf8Validator::new()),
            _ => (0, self.utf8.clone()),
        };
        let mut buf = [0u8; PRECHECK_CHUNK];
        while let Some(rest) = avail.get(checked..).filter(|r| !r.is_empty()) {
            let src = &rest[..rest.len().min(PRECHECK_CHUNK)];
            let dst = &mut buf[..src.len()];
            apply_mask_copy(src, dst, mask, checked);
            if utf8.feed(dst).is_err() {
                return Some((
                    0,
                    self.fail(INVALID_PAYLOAD, "invalid UTF-8 in text message", None, out),
                ));
            }
            checked += src.len();
        }
        self.precheck = Some(Precheck {
            header: *h,
            checked,
            utf8,
        });
        None
    }

    /// The protocol rules a header can break on its own (besides the
    /// length limit), checked in a fixed order.
    fn header_error(&self, h: &FrameHeader) -> Option<&'static str> {
        if h.rsv != 0 {
            return Some("reserved bits set");
        }
        if !matches!(
            h.opcode,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            return Some("unknown opcode");
        }
        if h.mask.is_none() {
            return Some("unmasked frame");
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
        match (h.opcode, self.message) {
            (OP_CONTINUATION, None) => Some("continuation without a message"),
            (OP_TEXT | OP_BINARY, Some(_)) => Some("data frame inside a fragmented message"),
            _ => None,
        }
    }

    /// Act on a complete control frame (answered in place, even between
    /// fragments of a message).
    fn control_frame(
        &mut self,
        opcode: u8,
        mask: [u8; 4],
        hl: usize,
        len: usize,
        inp: &[u8],
        out: &mut [u8],
    ) -> Step {
        let total = hl + len;
        let src = inp.get(hl..total)?;
        match opcode {
            OP_PING => {
                let dst = out.get_mut(..2 + len)?;
                frame::encode_header(true, OP_PONG, len as u64, dst);
                apply_mask_copy(src, &mut dst[2..], mask, 0);
                Some((total, 2 + len))
            }
            // Unsolicited or answering our ping: nothing to do either way.
            OP_PONG => Some((total, 0)),
            _ => self.close_frame(src, mask, total, out),
        }
    }

    /// Answer the peer's close frame (or fail on an invalid one).
    fn close_frame(&mut self, src: &[u8], mask: [u8; 4], total: usize, out: &mut [u8]) -> Step {
        let mut buf = [0u8; MAX_CONTROL_PAYLOAD];
        let payload = buf.get_mut(..src.len())?;
        apply_mask_copy(src, payload, mask, 0);
        let (code, text) = match payload {
            [] => {
                let info = CloseInfo {
                    sent_code: None,
                    received_code: None,
                    peer_initiated: true,
                    reason: "client closed",
                };
                return Some((total, self.queue_close(None, &[], info, out)));
            }
            [_] => {
                return Some((
                    0,
                    self.fail(PROTOCOL_ERROR, "close payload of 1 byte", None, out),
                ))
            }
            [a, b, text @ ..] => (u16::from_be_bytes([*a, *b]), text),
        };
        if !close::is_valid_received_code(code) {
            return Some((
                0,
                self.fail(PROTOCOL_ERROR, "invalid close code", Some(code), out),
            ));
        }
        if core::str::from_utf8(text).is_err() {
            return Some((
                0,
                self.fail(
                    INVALID_PAYLOAD,
                    "invalid UTF-8 in close reason",
                    Some(code),
                    out,
                ),
            ));
        }
        let info = CloseInfo {
            sent_code: Some(code),
            received_code: Some(code),
            peer_initiated: true,
            reason: "client closed",
        };
        Some((total, self.queue_close(Some(code), &[], info, out)))
    }
}

#[cfg(test)]
mod tests;
