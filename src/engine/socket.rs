//! The thin layer over nginx's connection structure: reads, gathering
//! writes, readiness, timers and flags. Every `unsafe` that touches the
//! connection of an upgraded WebSocket is here.

use core::mem::MaybeUninit;

use ngx::ffi::{
    iovec, ngx_add_timer, ngx_connection_t, ngx_del_timer, ngx_event_t, ngx_handle_read_event,
    ngx_handle_write_event, ngx_int_t, ngx_iovec_t, ngx_log_t, ngx_msec_t, ngx_writev, NGX_AGAIN,
    NGX_OK,
};

/// Most segments one gathering write passes to the kernel.
pub const MAX_IOVECS: usize = 64;

/// Result of one socket operation.
pub enum Io {
    Done(usize),
    WouldBlock,
    Closed,
}

/// An upgraded connection (a copyable handle; the connection outlives every
/// use, which ends when the module closes it).
#[derive(Clone, Copy)]
pub struct Socket {
    pub c: *mut ngx_connection_t,
}

impl Socket {
    pub fn read_ready(self) -> bool {
        // SAFETY: `c` is the live connection the module owns.
        unsafe { (*(*self.c).read).ready() != 0 }
    }

    pub fn write_ready(self) -> bool {
        // SAFETY: as above.
        unsafe { (*(*self.c).write).ready() != 0 }
    }

    pub fn recv(self, buf: &mut [u8]) -> Io {
        // SAFETY: `recv` is set for every nginx connection (plain or TLS);
        // `buf` is a valid writable slice of the given length.
        let n = unsafe { ((*self.c).recv.unwrap_unchecked())(self.c, buf.as_mut_ptr(), buf.len()) };
        match n {
            n if n > 0 => Io::Done(n as usize),
            0 => Io::Closed,
            n if n == NGX_AGAIN as isize => Io::WouldBlock,
            _ => Io::Closed,
        }
    }

    /// Sends `parts` in order, at most [`MAX_IOVECS`] of them. Plain
    /// connections: one `writev`. TLS: one `SSL_write` per part (the frame
    /// buffer joins small frames, so parts are long), stopping at the first
    /// short write. Counts the bytes in the connection's `sent`, which
    /// `$bytes_sent` reports.
    pub fn send<'a>(self, parts: impl Iterator<Item = &'a [u8]>) -> Io {
        let io = if self.is_tls() {
            self.send_each(parts)
        } else {
            self.writev(parts)
        };
        if let Io::Done(n) = io {
            // SAFETY: as above; `sent` is a plain counter.
            unsafe { (*self.c).sent += n as i64 };
        }
        io
    }

    fn writev<'a>(self, parts: impl Iterator<Item = &'a [u8]>) -> Io {
        let mut iov = [const { MaybeUninit::<iovec>::uninit() }; MAX_IOVECS];
        let mut count = 0;
        let mut size = 0;
        for (slot, part) in iov.iter_mut().zip(parts.filter(|p| !p.is_empty())) {
            slot.write(iovec {
                iov_base: part.as_ptr().cast_mut().cast(),
                iov_len: part.len(),
            });
            count += 1;
            size += part.len();
        }
        if count == 0 {
            return Io::Done(0);
        }
        let mut vec = ngx_iovec_t {
            iovs: iov.as_mut_ptr().cast(),
            count: count as _,
            size,
            nalloc: MAX_IOVECS as _,
        };
        // SAFETY: the first `count` iovecs are initialised and point at live
        // slices that the kernel only reads; `ngx_writev` retries EINTR and
        // reports EAGAIN.
        let n = unsafe { ngx_writev(self.c, &mut vec) };
        if n == NGX_AGAIN as isize || (n >= 0 && (n as usize) < size) {
            // Unlike `c->send`, `ngx_writev` leaves `ready` set: clear it, or
            // the write event is never armed and the connection stalls.
            // SAFETY: as above.
            unsafe { (*(*self.c).write).set_ready(0) };
        }
        match n {
            n if n > 0 => Io::Done(n as usize),
            n if n == NGX_AGAIN as isize || n == 0 => Io::WouldBlock,
            _ => Io::Closed,
        }
    }

    fn send_each<'a>(self, parts: impl Iterator<Item = &'a [u8]>) -> Io {
        let mut total = 0;
        for part in parts.take(MAX_IOVECS).filter(|p| !p.is_empty()) {
            // SAFETY: `send` is set for every connection; it only reads `part`.
            let n = unsafe {
                ((*self.c).send.unwrap_unchecked())(self.c, part.as_ptr().cast_mut(), part.len())
            };
            match n {
                n if n > 0 => {
                    total += n as usize;
                    if (n as usize) < part.len() {
                        break;
                    }
                }
                n if n == NGX_AGAIN as isize || n == 0 => break,
                _ if total > 0 => break,
                _ => return Io::Closed,
            }
        }
        if total > 0 {
            Io::Done(total)
        } else {
            Io::WouldBlock
        }
    }

    /// A TLS connection (`listen ... ssl`).
    pub fn is_tls(self) -> bool {
        #[cfg(ngx_feature = "ssl")]
        // SAFETY: as above.
        return unsafe { !(*self.c).ssl.is_null() };
        #[cfg(not(ngx_feature = "ssl"))]
        false
    }

    /// Bytes nginx itself still holds for this connection (the 101 header).
    pub fn nginx_buffered(self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.c).buffered() != 0 }
    }

    pub fn log(self) -> *mut ngx_log_t {
        // SAFETY: as above.
        unsafe { (*self.c).log }
    }

    pub fn read_event(self) -> *mut ngx_event_t {
        // SAFETY: as above.
        unsafe { (*self.c).read }
    }

    pub fn write_event(self) -> *mut ngx_event_t {
        // SAFETY: as above.
        unsafe { (*self.c).write }
    }

    /// Set by nginx (with `close`) when `worker_shutdown_timeout` expires.
    pub fn error(self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.c).error() != 0 }
    }

    /// Set by nginx when a worker shuts down and asks idle connections to
    /// close; taken (cleared) here.
    pub fn take_close_request(self) -> bool {
        // SAFETY: as above.
        unsafe {
            let close = (*self.c).close() != 0;
            (*self.c).set_close(0);
            close
        }
    }

    /// Marks the connection for `ngx_close_idle_connections` on shutdown.
    pub fn set_idle(self, idle: bool) {
        // SAFETY: as above.
        unsafe { (*self.c).set_idle(u32::from(idle)) }
    }

    /// Registers interest in both events with the event module (a no-op when
    /// already registered under edge-triggered epoll).
    pub fn arm(self) -> bool {
        // SAFETY: standard nginx calls on the connection's own events.
        unsafe {
            ngx_handle_read_event((*self.c).read, 0) == NGX_OK as ngx_int_t
                && ngx_handle_write_event((*self.c).write, 0) == NGX_OK as ngx_int_t
        }
    }
}

/// Takes an event's timed-out flag (clearing it).
pub fn take_timedout(ev: *mut ngx_event_t) -> bool {
    // SAFETY: `ev` is one of the connection's two events.
    unsafe {
        let timed_out = (*ev).timedout() != 0;
        (*ev).set_timedout(0);
        timed_out
    }
}

pub fn set_timer(ev: *mut ngx_event_t, ms: ngx_msec_t) {
    // SAFETY: `ev` is one of the connection's events; nginx's timer tree is
    // only used from this (the worker's) thread.
    unsafe { ngx_add_timer(ev, ms) }
}

pub fn clear_timer(ev: *mut ngx_event_t) {
    // SAFETY: as above.
    unsafe {
        if (*ev).timer_set() != 0 {
            ngx_del_timer(ev);
        }
    }
}

pub fn timer_set(ev: *mut ngx_event_t) -> bool {
    // SAFETY: as above.
    unsafe { (*ev).timer_set() != 0 }
}
