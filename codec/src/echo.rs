//! The echo endpoint's protocol logic: every data message goes back to the
//! peer as it came, pings are answered, a close is answered with the same
//! code, and a protocol error fails the connection with its close code.
//!
//! It is also the smallest complete example of the crate's pieces working
//! together: a [`Session`] decodes events from a [`FrameBuffer`], and each
//! echoed payload is sent from where it was received, under a new header.
//!
//! Framing: a frame the session delivers whole (at most
//! [`Config::whole_frame_max`](crate::session::Config) bytes) comes back as
//! one frame with the same FIN bit and opcode, so the peer sees its own
//! framing; a larger frame comes back as fragments of the same message,
//! one per piece that arrived, so neither side needs a buffer as big as the
//! frame. The content of every message is preserved.

use crate::buffer::FrameBuffer;
use crate::deflate::{Pipeline, Pool, StepError, RSV1};
use crate::session::{Event, Outgoing, Session};

/// What one [`process`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Events decoded, and steps of a compressed message's transform.
    pub events: usize,
}

/// Decode the input waiting in `buf` and queue the answers in `buf`, until
/// the input is used up, the output has no room for one more event, or the
/// session stops receiving (a close frame, or a protocol error, which has
/// queued its close frame). Call again after sending or reading more.
pub fn process(session: &mut Session, buf: &mut FrameBuffer) -> Progress {
    run(session, buf, None)
}

/// [`process`] for a connection with permessage-deflate negotiated: data
/// messages go through `pipeline` (decompressed, checked, and sent back
/// compressed when at least [`Params::min_length`](crate::deflate::Params)
/// bytes long), except a short uncompressed one-frame message, which is
/// echoed in place as [`process`] does. Also call it when nothing new was
/// read but `pipeline` is busy: it continues once output room is free.
pub fn process_deflate(
    session: &mut Session,
    buf: &mut FrameBuffer,
    pipeline: &mut Pipeline,
    pool: &mut Pool,
) -> Progress {
    run(session, buf, Some((pipeline, pool)))
}

fn run(
    session: &mut Session,
    buf: &mut FrameBuffer,
    mut deflate: Option<(&mut Pipeline, &mut Pool)>,
) -> Progress {
    let mut progress = Progress::default();
    loop {
        if let Some((pipeline, pool)) = deflate.as_mut() {
            if pipeline.is_busy() {
                match pipeline.step(session, buf, pool) {
                    Ok(moved) => progress.events += usize::from(moved),
                    Err(e) => {
                        fail(session, buf, pipeline, pool, e);
                        progress.events += 1;
                        break;
                    }
                }
                if !pipeline.wants_input() {
                    break;
                }
            }
        }
        if !session.is_receiving() || !buf.has_room_for_event() {
            break;
        }
        let base = buf.input_offset();
        let step = session.next_event(buf.input());
        let consumed = step.consumed;
        let Some(event) = step.event else {
            buf.consume(consumed);
            progress.consumed += consumed;
            if consumed == 0 {
                break;
            }
            continue;
        };
        progress.events += 1;
        progress.consumed += consumed;
        match (event, deflate.as_mut()) {
            (Event::Data(piece), Some((pipeline, pool)))
                if !(piece.message_start
                    && piece.message_end
                    && piece.rsv == 0
                    && piece.payload.len() < pipeline.params().min_length
                    && !pipeline.is_busy()) =>
            {
                let len = piece.payload.len();
                let (kind, compressed) = (piece.kind, piece.rsv & RSV1 != 0);
                let (start, frame_start, end) =
                    (piece.message_start, piece.frame_start, piece.message_end);
                // The payload stays in the input until the pipeline takes it.
                buf.consume(consumed - len);
                if start {
                    if let Err(e) = pipeline.begin(kind, compressed, pool) {
                        fail(session, buf, pipeline, pool, e);
                        break;
                    }
                }
                pipeline.piece(len, frame_start, end);
            }
            (event, _) => {
                let reply = Reply::of(event);
                answer(session, buf, base, consumed, reply);
            }
        }
    }
    progress
}

/// A message of the peer's failed in the pipeline.
fn fail(
    session: &mut Session,
    buf: &mut FrameBuffer,
    pipeline: &mut Pipeline,
    pool: &mut Pool,
    e: StepError,
) {
    pipeline.abort(pool);
    session.fail_received(e.code, e.reason);
    buf.queue_close(session, Some(e.code), e.reason);
}

/// What an event asks for, without the borrow of the input.
enum Reply {
    /// Echo `len` payload bytes (the end of what was consumed).
    Echo {
        frame: Outgoing,
        fin: bool,
        len: usize,
    },
    Pong(usize),
    Nothing,
    Close(Option<u16>),
    Fail(u16, &'static str),
}

impl Reply {
    fn of(event: Event<'_>) -> Reply {
        match event {
            Event::Data(piece) => Reply::Echo {
                frame: if piece.message_start {
                    Outgoing::from(piece.kind)
                } else {
                    Outgoing::Continuation
                },
                fin: piece.message_end,
                len: piece.payload.len(),
            },
            Event::Ping(payload) => Reply::Pong(payload.len()),
            Event::Pong(_) => Reply::Nothing,
            Event::Close(close) => Reply::Close(close.code),
            Event::Failed(failure) => Reply::Fail(failure.code, failure.reason),
        }
    }
}

/// Consume the event's `consumed` bytes (from `base`) and queue its answer.
fn answer(
    session: &mut Session,
    buf: &mut FrameBuffer,
    base: usize,
    consumed: usize,
    reply: Reply,
) {
    buf.consume(consumed);
    let end = base + consumed;
    match reply {
        Reply::Echo { frame, fin, len } => {
            // Nothing is echoed after our own close frame.
            if let Ok(header) = session.data_header(frame, fin, 0, len as u64) {
                // has_room_for_event guarantees the room.
                let _ = buf.emit_payload(end - len, len, header.as_bytes());
            }
        }
        Reply::Pong(len) => {
            if let Ok(header) = session.control_header(true, len) {
                let _ = buf.emit_payload(end - len, len, header.as_bytes());
            }
        }
        Reply::Nothing => {}
        Reply::Close(code) => {
            buf.queue_close(session, code, "");
        }
        // The header of a streamed frame whose first piece failed, too.
        Reply::Fail(code, reason) => {
            buf.queue_close(session, Some(code), reason);
        }
    }
}

#[cfg(test)]
#[path = "echo_tests.rs"]
mod tests;
