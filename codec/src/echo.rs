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
use crate::session::{Event, Outgoing, Session};

/// What one [`process`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Events decoded.
    pub events: usize,
}

/// Decode the input waiting in `buf` and queue the answers in `buf`, until
/// the input is used up, the output has no room for one more event, or the
/// session stops receiving (a close frame, or a protocol error, which has
/// queued its close frame). Call again after sending or reading more.
pub fn process(session: &mut Session, buf: &mut FrameBuffer) -> Progress {
    let mut progress = Progress::default();
    while session.is_receiving() && buf.has_room_for_event() {
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
        match event {
            Event::Data(piece) => {
                let len = piece.payload.len();
                let frame = if piece.message_start {
                    Outgoing::from(piece.kind)
                } else {
                    Outgoing::Continuation
                };
                let fin = piece.message_end;
                buf.consume(consumed);
                // Nothing is echoed after our own close frame.
                if let Ok(header) = session.data_header(frame, fin, 0, len as u64) {
                    // has_room_for_event guarantees the room.
                    let _ = buf.emit_payload(base + consumed - len, len, header.as_bytes());
                }
            }
            Event::Ping(payload) => {
                let len = payload.len();
                buf.consume(consumed);
                if let Ok(header) = session.control_header(true, len) {
                    let _ = buf.emit_payload(base + consumed - len, len, header.as_bytes());
                }
            }
            Event::Pong(_) => buf.consume(consumed),
            Event::Close(close) => {
                let code = close.code;
                buf.consume(consumed);
                buf.queue_close(session, code, "");
            }
            Event::Failed(failure) => {
                let (code, reason) = (failure.code, failure.reason);
                // The header of a streamed frame whose first piece failed.
                buf.consume(consumed);
                buf.queue_close(session, Some(code), reason);
            }
        }
    }
    progress
}

#[cfg(test)]
#[path = "echo_tests.rs"]
mod tests;
