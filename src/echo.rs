//! `websocket_echo`: every message goes back to the client as it came.
//!
//! The endpoint is the codec's echo logic (`ngx_websocket_codec::echo`) on
//! the engine's buffer: each echoed payload is sent from where it was
//! received, under a new header. With permessage-deflate a message goes
//! through the connection's deflate pipeline instead (inflated, checked,
//! compressed again). Everything else a WebSocket needs (handshake, pings,
//! timeouts, closing, logging) is the engine's.

use ngx_websocket_codec::deflate::{Pipeline, Pool};
use ngx_websocket_codec::echo::{self, Progress};
use ngx_websocket_codec::{FrameBuffer, Session};

/// Decode what the buffer holds and queue the echoes; with
/// permessage-deflate, through the connection's pipeline and the worker's
/// pool of compression state.
pub fn process(
    session: &mut Session,
    buf: &mut FrameBuffer,
    deflate: Option<(&mut Pipeline, &mut Pool)>,
) -> Progress {
    match deflate {
        None => echo::process(session, buf),
        Some((pipeline, pool)) => echo::process_deflate(session, buf, pipeline, pool),
    }
}
