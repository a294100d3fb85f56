//! One connection's permessage-deflate transform: the message being
//! received is decompressed (or, uncompressed, copied) into a scratch
//! buffer in bounded pieces, checked (limits, UTF-8), and sent on as frames
//! that are compressed (RSV1) unless the message is shorter than the
//! minimum length.
//!
//! Input is taken from the front of a [`FrameBuffer`]'s unconsumed input:
//! the caller hands over a payload piece the [`Session`] delivered and
//! leaves it unconsumed ([`Pipeline::piece`]); the pipeline consumes it as
//! the decompressor takes it. Output frames are written into the buffer's
//! free room ([`FrameBuffer::frame_room`]), the payload first and the header
//! before it once its length is known. Whatever the message sizes, a
//! connection holds one frame buffer, one scratch buffer and the streams.
//!
//! The compressor's output for a message ends with the empty stored block
//! `00 00 ff ff` of its sync flush, which RFC 7692 section 7.2.1 removes: the
//! last four bytes of each piece of output are held back until more output
//! follows or the message ends, so the block is never sent even when it is
//! split between pieces.

use ngx_websocket_zlib::{Deflater, Flush, InflateError, Inflater, InitError, Progress};

use super::{Params, Pool, RSV1};
use crate::buffer::FrameBuffer;
use crate::close::{INTERNAL_ERROR, INVALID_PAYLOAD, MESSAGE_TOO_BIG};
use crate::mask::apply_mask;
use crate::session::{MessageKind, Outgoing, Session};
use crate::utf8::Utf8Validator;

/// What RFC 7692 section 7.2.2 appends to a message before inflating it.
const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// The message failed: fail the connection with this close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepError {
    /// 1007 (corrupt data, invalid UTF-8), 1009 (too big) or 1011 (no memory).
    pub code: u16,
    /// Short English text for the close frame and the log.
    pub reason: &'static str,
}

const CORRUPT: StepError = StepError {
    code: INVALID_PAYLOAD,
    reason: "corrupt compressed data",
};
const NO_MEMORY: StepError = StepError {
    code: INTERNAL_ERROR,
    reason: "out of memory for compression",
};

impl From<InflateError> for StepError {
    fn from(e: InflateError) -> Self {
        match e {
            InflateError::Corrupt => CORRUPT,
            InflateError::OutOfMemory => NO_MEMORY,
        }
    }
}

impl From<InitError> for StepError {
    fn from(_: InitError) -> Self {
        NO_MEMORY
    }
}

/// The receiving half of the message in flight.
#[derive(Debug)]
struct Rx {
    kind: MessageKind,
    compressed: bool,
    /// UTF-8 state of compressed text (the session checks plain text).
    utf8: Option<Utf8Validator>,
    /// Decompressed bytes of the current frame and of the message.
    frame_bytes: u64,
    message_bytes: u64,
    /// Bytes at the front of the buffer's input that belong to the piece
    /// being taken.
    held: usize,
    /// The held piece is the message's last.
    last_piece: bool,
    /// Bytes of [`TRAILER`] the decompressor took.
    trailer: usize,
    /// The last call filled the scratch room: the decompressor may hold
    /// more output.
    pending: bool,
    /// The decompressor was restarted after a final block and has taken
    /// nothing since (a clean point to end a message at).
    fresh_stream: bool,
    /// Every byte of the message is in the scratch buffer (or beyond).
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not known yet whether the message reaches the minimum length.
    Undecided,
    Plain,
    Compress,
    /// The final frame is queued.
    Done,
}

/// The sending half of the message in flight.
#[derive(Debug)]
struct Tx {
    mode: Mode,
    /// A frame of the message was queued.
    started: bool,
    /// Compressed bytes held back (see the module documentation).
    tail: [u8; 4],
    tail_len: usize,
    /// [`Pipeline::park`] asked for a sync flush mid-message, after which
    /// the compressor goes back to the pool.
    flush_now: bool,
}

/// A connection's permessage-deflate state: see the module documentation.
#[derive(Debug)]
pub struct Pipeline {
    params: Params,
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    scratch: Option<Box<[u8]>>,
    /// Bytes waiting in the scratch buffer: `from..to`.
    from: usize,
    to: usize,
    rx: Option<Rx>,
    tx: Option<Tx>,
}

impl Pipeline {
    /// A pipeline with nothing in flight (and no memory beyond itself).
    pub fn new(params: Params) -> Pipeline {
        Pipeline {
            params,
            deflater: None,
            inflater: None,
            scratch: None,
            from: 0,
            to: 0,
            rx: None,
            tx: None,
        }
    }

    /// What it works with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// A message is in flight.
    pub fn is_busy(&self) -> bool {
        self.rx.is_some() || self.tx.is_some()
    }

    /// True if the caller may decode the next event: nothing is in flight,
    /// or the message in flight waits for its next piece.
    pub fn wants_input(&self) -> bool {
        match &self.rx {
            None => self.tx.is_none(),
            Some(rx) => rx.held == 0 && !rx.done && !rx.last_piece,
        }
    }

    /// Streams or buffers held now (always false between messages without
    /// context takeover).
    pub fn holds_memory(&self) -> bool {
        self.deflater.is_some() || self.inflater.is_some() || self.scratch.is_some()
    }

    /// A data message starts; `compressed` if its first frame has RSV1.
    pub fn begin(
        &mut self,
        kind: MessageKind,
        compressed: bool,
        pool: &mut Pool,
    ) -> Result<(), StepError> {
        if compressed && self.inflater.is_none() {
            self.inflater = Some(if self.params.receive.takeover {
                Inflater::new(self.params.receive.window_bits)?
            } else {
                pool.inflater()?
            });
        }
        if self.scratch.is_none() {
            self.scratch = Some(pool.scratch());
        }
        self.from = 0;
        self.to = 0;
        self.rx = Some(Rx {
            kind,
            compressed,
            utf8: (compressed && kind == MessageKind::Text).then(Utf8Validator::new),
            frame_bytes: 0,
            message_bytes: 0,
            held: 0,
            last_piece: false,
            trailer: 0,
            pending: false,
            fresh_stream: false,
            done: false,
        });
        self.tx = Some(Tx {
            mode: Mode::Undecided,
            started: false,
            tail: [0; 4],
            tail_len: 0,
            flush_now: false,
        });
        Ok(())
    }

    /// The session delivered `len` payload bytes of the message, which the
    /// caller left at the front of the buffer's input (unconsumed).
    pub fn piece(&mut self, len: usize, frame_start: bool, message_end: bool) {
        if let Some(rx) = self.rx.as_mut() {
            rx.held = len;
            rx.last_piece = message_end;
            if frame_start {
                rx.frame_bytes = 0;
            }
        }
    }

    /// Move the message along as far as input and output room allow: take
    /// held input, queue frames. True if anything moved. On an error the
    /// caller fails the connection with its code (and calls
    /// [`abort`](Self::abort)).
    pub fn step(
        &mut self,
        session: &mut Session,
        buf: &mut FrameBuffer,
        pool: &mut Pool,
    ) -> Result<bool, StepError> {
        let mut moved = false;
        loop {
            let took = self.fill(buf, pool)?;
            let flushing = self.tx.as_ref().is_some_and(|tx| tx.flush_now);
            let sent = self.drain(session, buf, pool)?;
            if flushing && self.tx.as_ref().is_some_and(|tx| !tx.flush_now) {
                // A parked message's flush is out.
                self.release_parked_scratch(pool);
            }
            let rx_done = self.rx.as_ref().is_some_and(|rx| rx.done);
            if rx_done && self.tx.as_ref().is_some_and(|tx| tx.mode == Mode::Done) {
                self.end_message(pool);
                return Ok(true);
            }
            if !(took || sent) {
                return Ok(moved);
            }
            moved = true;
        }
    }

    /// For a message the peer leaves unfinished (it waits for its next
    /// piece): send what was compressed so far with a sync flush, and give
    /// the compressor and the (empty) scratch buffer back to the pool, so
    /// that the connection keeps only its decompressor until more comes.
    /// For the engine to call when the peer has been silent for a while.
    /// Without room to send the flush, nothing changes (call again later).
    /// With context takeover the compressor stays.
    pub fn park(
        &mut self,
        session: &mut Session,
        buf: &mut FrameBuffer,
        pool: &mut Pool,
    ) -> Result<bool, StepError> {
        let waiting = self
            .rx
            .as_ref()
            .is_some_and(|rx| rx.held == 0 && !rx.done && !rx.last_piece);
        if !waiting {
            return Ok(false);
        }
        let mut moved = false;
        if let Some(tx) = self.tx.as_mut() {
            if tx.mode == Mode::Compress && self.deflater.is_some() && !self.params.send.takeover {
                tx.flush_now = true;
                moved = self.drain(session, buf, pool)?;
            }
        }
        Ok(self.release_parked_scratch(pool) || moved)
    }

    /// Gives the scratch buffer back once a parked message's flush is out
    /// and nothing waits in it (an undecided message keeps its bytes).
    fn release_parked_scratch(&mut self, pool: &mut Pool) -> bool {
        let flushed = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.mode != Mode::Undecided && !tx.flush_now);
        let waiting = self
            .rx
            .as_ref()
            .is_some_and(|rx| rx.held == 0 && !rx.done && !rx.last_piece);
        if !flushed || !waiting || self.from != self.to {
            return false;
        }
        match self.scratch.take() {
            Some(s) => {
                pool.give_scratch(s);
                true
            }
            None => false,
        }
    }

    /// Drop the message in flight and give back what was lent.
    pub fn abort(&mut self, pool: &mut Pool) {
        self.rx = None;
        self.tx = None;
        if let Some(s) = self.scratch.take() {
            pool.give_scratch(s);
        }
        if let Some(d) = self.deflater.take() {
            pool.give_deflater(d);
        }
        if let Some(i) = self.inflater.take() {
            pool.give_inflater(i);
        }
    }

    fn end_message(&mut self, pool: &mut Pool) {
        self.rx = None;
        self.tx = None;
        if let Some(s) = self.scratch.take() {
            pool.give_scratch(s);
        }
    }

    /// Held input into the scratch buffer.
    fn fill(&mut self, buf: &mut FrameBuffer, pool: &mut Pool) -> Result<bool, StepError> {
        let Pipeline {
            params,
            inflater,
            scratch,
            from,
            to,
            rx,
            ..
        } = self;
        let Some(rx) = rx.as_mut() else {
            return Ok(false);
        };
        // Given back while the message waited (see `park`): lent again
        // once there is input for it.
        if scratch.is_none() && !rx.done && (rx.held > 0 || rx.last_piece) {
            *scratch = Some(pool.scratch());
        }
        let Some(scratch) = scratch.as_deref_mut() else {
            return Ok(false);
        };
        let mut moved = false;
        while !rx.done {
            if *from == *to {
                (*from, *to) = (0, 0);
            } else if *to == scratch.len() && *from > 0 {
                scratch.copy_within(*from..*to, 0);
                (*from, *to) = (0, *to - *from);
            }
            let at = *to;
            let free = &mut scratch[at..];
            if free.is_empty() {
                break;
            }
            let (consumed, produced) = if rx.held > 0 {
                let input = &buf.input()[..rx.held];
                if !rx.compressed {
                    let n = input.len().min(free.len());
                    free[..n].copy_from_slice(&input[..n]);
                    (n, n)
                } else {
                    let Some(inflater) = inflater.as_mut() else {
                        return Err(CORRUPT);
                    };
                    let p = inflater.decompress(input, free)?;
                    after_call(rx, inflater, &p)?;
                    (p.consumed, p.produced)
                }
            } else if !rx.last_piece {
                break;
            } else if rx.compressed && (rx.trailer < TRAILER.len() || rx.pending) {
                // The trailer, then what the decompressor still holds (the
                // rest of a match that did not fit the scratch room).
                let Some(inflater) = inflater.as_mut() else {
                    return Err(CORRUPT);
                };
                let p = inflater.decompress(&TRAILER[rx.trailer..], free)?;
                after_call(rx, inflater, &p)?;
                rx.trailer += p.consumed;
                rx.pending = p.output_full;
                if p.consumed == 0 && p.produced == 0 {
                    if rx.trailer < TRAILER.len() {
                        return Err(CORRUPT);
                    }
                    rx.pending = false;
                }
                (0, p.produced)
            } else {
                // A message is whole blocks: one that ends inside a block
                // (the appended tail then read as its data) is corrupt.
                let inside_block = rx.compressed
                    && !rx.fresh_stream
                    && inflater.as_ref().is_some_and(|i| !i.at_block_boundary());
                if inside_block {
                    return Err(CORRUPT);
                }
                if rx.utf8.as_ref().is_some_and(|v| !v.is_complete()) {
                    return Err(invalid_utf8());
                }
                rx.done = true;
                // The decompressor's part in this message is over.
                if !params.receive.takeover {
                    if let Some(i) = inflater.take() {
                        pool.give_inflater(i);
                    }
                }
                moved = true;
                break;
            };
            if rx.held > 0 {
                buf.consume(consumed);
                rx.held -= consumed;
            }
            if rx.compressed {
                account(rx, &scratch[at..at + produced], params)?;
            }
            *to += produced;
            if consumed == 0 && produced == 0 {
                break;
            }
            moved = true;
        }
        Ok(moved)
    }

    /// Scratch bytes out as frames.
    fn drain(
        &mut self,
        session: &mut Session,
        buf: &mut FrameBuffer,
        pool: &mut Pool,
    ) -> Result<bool, StepError> {
        let Pipeline {
            params,
            deflater,
            scratch,
            from,
            to,
            rx,
            tx,
            ..
        } = self;
        let (Some(rx), Some(tx), Some(scratch)) = (rx.as_ref(), tx.as_mut(), scratch.as_deref())
        else {
            return Ok(false);
        };
        let masked = !session.is_server();
        let mut moved = false;
        loop {
            let have = *to - *from;
            if tx.mode == Mode::Undecided {
                tx.mode = if rx.done {
                    if have < params.min_length {
                        Mode::Plain
                    } else {
                        Mode::Compress
                    }
                } else if have >= params.min_length || *to == scratch.len() {
                    Mode::Compress
                } else {
                    break;
                };
                if tx.mode == Mode::Compress && deflater.is_none() {
                    *deflater = Some(if params.send.takeover {
                        Deflater::new(params.deflate_params())?
                    } else {
                        pool.deflater(params.deflate_params())?
                    });
                }
                moved = true;
            }
            if tx.mode == Mode::Done || (have == 0 && !rx.done && !tx.flush_now) {
                break;
            }
            let Some(room) = buf.frame_room(masked) else {
                break;
            };
            let frame = if tx.started {
                Outgoing::Continuation
            } else {
                Outgoing::from(rx.kind)
            };
            let (len, fin, rsv, consumed, produced) = if tx.mode == Mode::Plain {
                let n = have.min(room.len());
                buf.room_mut(&room)[..n].copy_from_slice(&scratch[*from..*from + n]);
                (n, rx.done && n == have, 0, n, n)
            } else {
                if deflater.is_none() {
                    // Given back mid-message by `park`: a fresh compressor
                    // continues the message (it never refers back past the
                    // sync flush that ended the old one's part).
                    *deflater = Some(pool.deflater(params.deflate_params())?);
                }
                let Some(d) = deflater.as_mut() else {
                    return Err(NO_MEMORY);
                };
                let out = buf.room_mut(&room);
                let kept = tx.tail_len;
                out[..kept].copy_from_slice(&tx.tail[..kept]);
                let flush = if rx.done || tx.flush_now {
                    Flush::Sync
                } else {
                    Flush::None
                };
                let p = d.compress(&scratch[*from..*to], &mut out[kept..], flush);
                let total = kept + p.produced;
                let flushed = p.consumed == have && !p.output_full;
                if tx.flush_now && flushed && !rx.done {
                    // Parked: everything so far is out (its tail held back
                    // as usual), and the compressor can go.
                    tx.flush_now = false;
                    if let Some(d) = deflater.take() {
                        pool.give_deflater(d);
                    }
                }
                let complete = rx.done && flushed;
                if complete && total == 0 {
                    // zlib makes nothing of a flush right after a flush (an
                    // empty message under context takeover): send the
                    // empty stored block's first byte, which RFC 7692
                    // section 7.2.3.6 allows for an empty message.
                    out[0] = 0;
                    tx.tail_len = 0;
                    (1, true, if tx.started { 0 } else { RSV1 }, p.consumed, 1)
                } else {
                    // Hold back the last four bytes (the sync flush's empty
                    // block, at the end), or drop them at the message's end.
                    let len = total.saturating_sub(TRAILER.len());
                    debug_assert!(!complete || out[len..total] == TRAILER);
                    tx.tail_len = total - len;
                    tx.tail[..tx.tail_len].copy_from_slice(&out[len..total]);
                    let rsv = if tx.started { 0 } else { RSV1 };
                    (len, complete, rsv, p.consumed, p.produced)
                }
            };
            *from += consumed;
            if len > 0 || fin {
                match session.data_header(frame, fin, rsv, len as u64) {
                    Ok(header) => {
                        if let Some(key) = header.mask() {
                            apply_mask(&mut buf.room_mut(&room)[..len], key, 0);
                        }
                        buf.commit_frame(room, header.as_bytes(), len);
                        tx.started = true;
                    }
                    // Our close frame is out: nothing more of this message.
                    Err(_) => {
                        *from = *to;
                        tx.mode = Mode::Done;
                        if !params.send.takeover {
                            if let Some(d) = deflater.take() {
                                pool.give_deflater(d);
                            }
                        }
                        return Ok(true);
                    }
                }
            }
            if fin {
                tx.mode = Mode::Done;
                tx.tail_len = 0;
                if !params.send.takeover {
                    if let Some(d) = deflater.take() {
                        pool.give_deflater(d);
                    }
                }
                return Ok(true);
            }
            if consumed == 0 && produced == 0 {
                break;
            }
            moved = true;
        }
        Ok(moved)
    }
}

/// After a decompressor call: a final block ended the peer's stream, and
/// more blocks may follow (RFC 7692 section 7.2.1), so start a new stream
/// with the same history.
fn after_call(rx: &mut Rx, inflater: &mut Inflater, p: &Progress) -> Result<(), StepError> {
    if p.stream_end {
        inflater.restart_keeping_window()?;
        rx.fresh_stream = true;
    } else if p.consumed > 0 {
        rx.fresh_stream = false;
    }
    Ok(())
}

fn invalid_utf8() -> StepError {
    StepError {
        code: INVALID_PAYLOAD,
        reason: "invalid UTF-8 in text message",
    }
}

/// Counts decompressed bytes against the limits and checks their UTF-8.
fn account(rx: &mut Rx, bytes: &[u8], params: &Params) -> Result<(), StepError> {
    let n = bytes.len() as u64;
    rx.frame_bytes += n;
    rx.message_bytes += n;
    if rx.frame_bytes > params.max_frame_len {
        return Err(StepError {
            code: MESSAGE_TOO_BIG,
            reason: "frame too big after inflation",
        });
    }
    if rx.message_bytes > params.max_message_len {
        return Err(StepError {
            code: MESSAGE_TOO_BIG,
            reason: "message too big after inflation",
        });
    }
    if let Some(v) = rx.utf8.as_mut() {
        v.feed(bytes).map_err(|_| invalid_utf8())?;
    }
    Ok(())
}
