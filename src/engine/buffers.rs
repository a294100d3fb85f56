//! Per-connection I/O buffers, lent from a small per-worker free list.
//!
//! A connection holds buffers only while bytes are in flight: once its input
//! and output are empty between messages it gives them back. Recycling them
//! through a free list keeps that from becoming a `malloc`/`free` pair per
//! message on a busy connection. nginx workers are single-threaded, so the
//! list is thread-local and needs no locking.

use std::cell::RefCell;

/// Bytes read from the peer that the codec has not consumed yet. Data frames
/// up to this size (header included) are echoed whole; larger ones stream.
///
/// 128 KiB: one `recv` and one `send` carry many frames (eight 16 KiB ones),
/// so bulk traffic pays few system calls per message. scripts/bench measured
/// the server's CPU per 16 KiB message at 16, 64, 128 and 256 KiB buffers
/// and found it fall by about 22%, 10% and 5% at each step
/// (bench/results.md); 128 KiB is where doubling stopped paying for the
/// memory. Buffers are held only while bytes are in flight: an idle
/// connection holds none.
pub const INPUT_CAPACITY: usize = 128 * 1024;
/// Frames waiting to be sent. Sized so one whole-frame echo of a full input
/// buffer always fits.
pub const OUTPUT_CAPACITY: usize = INPUT_CAPACITY + 64;
/// Most buffers kept for reuse per worker (about 4 MiB at most).
const FREE_LIST_MAX: usize = 32;

thread_local! {
    static FREE_LIST: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of at least `capacity` bytes, reused when one is free.
fn take(capacity: usize) -> Box<[u8]> {
    let reused = FREE_LIST.with(|list| {
        let mut list = list.borrow_mut();
        let index = list.iter().position(|b| b.len() == capacity)?;
        Some(list.swap_remove(index))
    });
    reused.unwrap_or_else(|| vec![0u8; capacity].into_boxed_slice())
}

/// Returns a buffer to the free list (or frees it when the list is full).
fn give_back(buffer: Box<[u8]>) {
    FREE_LIST.with(|list| {
        let mut list = list.borrow_mut();
        if list.len() < FREE_LIST_MAX {
            list.push(buffer);
        }
    });
}

/// The buffer in `slot`, lending one of `capacity` bytes into it first if
/// the slot is empty.
pub fn lend(slot: &mut Option<Box<[u8]>>, capacity: usize) -> &mut [u8] {
    slot.get_or_insert_with(|| take(capacity))
}

/// Gives the buffer in `slot` back, if there is one.
pub fn release(slot: &mut Option<Box<[u8]>>) {
    if let Some(buffer) = slot.take() {
        give_back(buffer);
    }
}
