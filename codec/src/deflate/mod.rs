//! permessage-deflate (RFC 7692): the negotiation ([`offer`]) and the
//! per-message transform of a connection ([`Pipeline`]), over the raw
//! DEFLATE streams of `ngx-websocket-zlib`.
//!
//! Memory follows the module's rule, state only while a message is in
//! flight: without context takeover a connection borrows a compressor, a
//! decompressor and a scratch buffer from a per-worker [`Pool`] when a
//! message starts and gives them back (reset) when it ends, so an idle
//! connection holds none of them. With context takeover the connection
//! keeps its own streams, sized by the negotiated window, for its lifetime.
//!
//! Inflation is bounded: decompressed bytes come out in scratch-sized
//! pieces and are counted against the frame and message limits as they
//! appear, so a small frame that expands past a limit fails the connection
//! (1009) without its expansion ever being held.

pub mod offer;
mod pipeline;

pub use ngx_websocket_zlib::{self as zlib, DeflateParams, InflateError, InitError};
pub use offer::{negotiate, Agreement, Settings};
pub use pipeline::{Pipeline, StepError};

use ngx_websocket_zlib::{Deflater, Inflater};

/// Bytes of one scratch buffer: decompressed (or copied) message bytes wait
/// here on their way to the compressor or the output. It also bounds
/// [`Params::min_length`]: the send side decides whether to compress once
/// it holds that many bytes of a message (or the whole message).
pub const SCRATCH: usize = 16 * 1024;

/// The RSV bit that marks a compressed message (RSV1).
pub const RSV1: u8 = 4;

/// One direction of an agreement, as this endpoint sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    /// Window bits of the stream (compressor window for sending, the
    /// largest window the peer may use for receiving).
    pub window_bits: u8,
    /// The stream keeps its history across messages.
    pub takeover: bool,
}

/// What a connection's [`Pipeline`] works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Messages this endpoint sends.
    pub send: Direction,
    /// Messages this endpoint receives.
    pub receive: Direction,
    /// Compression level (1 to 9).
    pub level: u8,
    /// zlib memory level of the compressor (1 to 9).
    pub mem_level: u8,
    /// Messages shorter than this go out uncompressed (at most [`SCRATCH`]).
    pub min_length: usize,
    /// Decompressed bytes of one frame above this fail with 1009.
    pub max_frame_len: u64,
    /// Decompressed bytes of one message above this fail with 1009.
    pub max_message_len: u64,
}

impl Params {
    /// The server role's view of `agreement`.
    pub fn server(agreement: &Agreement) -> Params {
        Params {
            send: Direction {
                window_bits: agreement.server_window_bits(),
                takeover: !agreement.server_no_context_takeover,
            },
            receive: Direction {
                window_bits: agreement.client_window_bits(),
                takeover: !agreement.client_no_context_takeover,
            },
            level: 1,
            mem_level: 8,
            min_length: 0,
            max_frame_len: u64::MAX,
            max_message_len: u64::MAX,
        }
    }

    fn deflate_params(&self) -> DeflateParams {
        DeflateParams {
            level: self.level,
            window_bits: self.send.window_bits,
            mem_level: self.mem_level,
        }
    }
}

/// Most streams and scratch buffers of each kind a [`Pool`] keeps.
pub const POOL_MAX: usize = 16;

/// Compressors, decompressors and scratch buffers lent to connections for
/// one message at a time (one pool per worker thread).
#[derive(Debug, Default)]
pub struct Pool {
    deflaters: Vec<Deflater>,
    inflaters: Vec<Inflater>,
    scratch: Vec<Box<[u8]>>,
}

/// Window of pooled decompressors: the largest, so one decodes any peer.
const POOLED_INFLATE_BITS: u8 = 15;

impl Pool {
    /// An empty pool.
    pub fn new() -> Pool {
        Pool::default()
    }

    /// Streams and buffers kept for reuse now: (compressors,
    /// decompressors, scratch buffers).
    pub fn kept(&self) -> (usize, usize, usize) {
        (
            self.deflaters.len(),
            self.inflaters.len(),
            self.scratch.len(),
        )
    }

    fn deflater(&mut self, params: DeflateParams) -> Result<Deflater, InitError> {
        match self.deflaters.iter().position(|d| d.params() == params) {
            Some(i) => Ok(self.deflaters.swap_remove(i)),
            None => Deflater::new(params),
        }
    }

    fn give_deflater(&mut self, mut d: Deflater) {
        if self.deflaters.len() < POOL_MAX {
            d.reset();
            self.deflaters.push(d);
        }
    }

    fn inflater(&mut self) -> Result<Inflater, InitError> {
        match self.inflaters.pop() {
            Some(i) => Ok(i),
            None => Inflater::new(POOLED_INFLATE_BITS),
        }
    }

    fn give_inflater(&mut self, mut i: Inflater) {
        if self.inflaters.len() < POOL_MAX && i.window_bits() == POOLED_INFLATE_BITS {
            i.reset();
            self.inflaters.push(i);
        }
    }

    fn scratch(&mut self) -> Box<[u8]> {
        self.scratch
            .pop()
            .unwrap_or_else(|| vec![0u8; SCRATCH].into_boxed_slice())
    }

    fn give_scratch(&mut self, s: Box<[u8]>) {
        if self.scratch.len() < POOL_MAX {
            self.scratch.push(s);
        }
    }
}

#[cfg(test)]
mod tests;
