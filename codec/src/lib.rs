//! Sans-IO building blocks for RFC 6455 WebSocket endpoints, in the server
//! and the client role: the opening handshake (both sides), frame headers,
//! masking and masking keys, incremental UTF-8 checking, close codes, the
//! [`Session`] state machine that enforces the protocol, permessage-deflate
//! ([`deflate`]),
//! a [`FrameBuffer`] that receives and sends frames in
//! place, and the [`echo`] endpoint built from them.
//!
//! Nothing here performs I/O or knows about nginx; the caller owns every
//! socket and feeds bytes in and out.
//!
//! The crate's README follows, with an example that runs as a doctest.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod buffer;
pub mod client_handshake;
pub mod close;
pub mod deflate;
pub mod echo;
pub mod frame;
pub mod handshake;
pub mod keys;
pub mod mask;
pub mod session;
pub mod utf8;

pub use buffer::FrameBuffer;
pub use session::{Config, Event, Role, Session};
