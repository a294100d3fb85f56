//! Sans-IO building blocks for an RFC 6455 WebSocket server: the opening
//! handshake decision, frame headers, masking, incremental UTF-8 checking,
//! close codes, and the echo session state machine that ties them together.
//!
//! Nothing here performs I/O or knows about nginx; the caller owns every
//! buffer and feeds bytes in and out.

#![forbid(unsafe_code)]

pub mod close;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod session;
pub mod utf8;

pub use session::{CloseInfo, EchoConfig, EchoSession, Progress};
