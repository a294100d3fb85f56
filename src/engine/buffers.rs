//! Per-connection frame buffers, lent from a small per-worker free list,
//! and the per-worker pool of compression state.
//!
//! A connection holds a buffer only while bytes are in flight: once its input
//! and output are empty between messages it gives it back. Recycling buffers
//! through a free list keeps that from becoming a `malloc`/`free` pair (and a
//! zeroed 128 KiB page run) per message on a busy connection. nginx workers
//! are single-threaded, so the list is thread-local and needs no locking.

use std::cell::RefCell;

use ngx_websocket_codec::deflate::Pool;
use ngx_websocket_codec::FrameBuffer;

/// Bytes of one connection's buffer: input is read into it and echoed
/// frames are sent from it, in place (see the codec's `buffer` module).
///
/// 128 KiB, one buffer where earlier versions had two of 128 KiB (input and
/// output): half the memory per busy connection, and one `recv` and one
/// `send` still carry many frames (seven 16 KiB ones). A 256 KiB buffer
/// halves the system calls again but costs more CPU per message on a core
/// with 512 KiB of L2 cache (the unmasking pass then walks more than the
/// cache keeps next to the kernel's own copies): 16 KiB echoes took 5.2 µs
/// of worker CPU with 128 KiB, 6.4 µs with 256 KiB and 6.0 µs with 64 KiB
/// (docs/design.md). Frames up to this size less about 1 KiB (header
/// included) are echoed whole; larger ones stream through. An idle
/// connection holds none.
pub const CAPACITY: usize = 128 * 1024;
/// Frames of at most this many bytes (header included) are delivered, and
/// echoed, whole: what the buffer's input area holds.
pub const WHOLE_FRAME_MAX: usize =
    CAPACITY - ngx_websocket_codec::buffer::SIDE - ngx_websocket_codec::buffer::HEADROOM;
/// Most buffers kept for reuse per worker (8 MiB at most): enough for 64
/// busy connections to take turns without `malloc` and a zeroed page run.
const FREE_LIST_MAX: usize = 64;

thread_local! {
    // Boxed: connections hold `Option<Box<FrameBuffer>>` (one pointer while
    // idle), and buffers move between them and the list without copying.
    #[allow(clippy::vec_box)]
    static FREE_LIST: RefCell<Vec<Box<FrameBuffer>>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    // Compressors, decompressors and scratch buffers lent per message to
    // connections without context takeover (see the codec's `deflate`).
    static DEFLATE_POOL: RefCell<Pool> = RefCell::new(Pool::new());
}

/// Runs `f` with the worker's compression pool.
pub fn with_deflate_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    DEFLATE_POOL.with(|pool| f(&mut pool.borrow_mut()))
}

/// A cleared buffer, reused when one is free.
fn take() -> Box<FrameBuffer> {
    FREE_LIST
        .with(|list| list.borrow_mut().pop())
        .unwrap_or_else(|| Box::new(FrameBuffer::new(CAPACITY)))
}

/// The buffer in `slot`, lending one into it first if the slot is empty.
pub fn lend(slot: &mut Option<Box<FrameBuffer>>) -> &mut FrameBuffer {
    slot.get_or_insert_with(take)
}

/// Gives the buffer in `slot` back (cleared), if there is one.
pub fn release(slot: &mut Option<Box<FrameBuffer>>) {
    if let Some(mut buffer) = slot.take() {
        buffer.clear();
        FREE_LIST.with(|list| {
            let mut list = list.borrow_mut();
            if list.len() < FREE_LIST_MAX {
                list.push(buffer);
            }
        });
    }
}
