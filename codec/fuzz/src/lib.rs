//! Checks behind the fuzz targets of `ngx-websocket-codec`.
//!
//! Each module exposes `check(data: &[u8])`, which decodes the fuzzer's bytes
//! into a test case, runs the codec on it and panics on any disagreement
//! with a small independent reference model. The fuzz targets in
//! `fuzz_targets/` are one-line wrappers; `codec/tests/properties.rs`
//! includes this file with `#[path]` to replay the committed corpus and run
//! property tests under plain `cargo test`, so modules refer to each other
//! with `super::`, never `crate::`.

#[path = "client_handshake.rs"]
pub mod client_handshake;
#[path = "deflate_echo.rs"]
pub mod deflate_echo;
#[path = "deflate_offer.rs"]
pub mod deflate_offer;
#[path = "echo.rs"]
pub mod echo;
#[path = "handshake.rs"]
pub mod handshake;
#[path = "session.rs"]
pub mod session;
#[path = "session_send.rs"]
pub mod session_send;
#[path = "utf8.rs"]
pub mod utf8;
