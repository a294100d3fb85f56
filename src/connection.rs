//! The connection after the 101: the codec driven by nginx's non-blocking
//! reads and writes.
//!
//! One [`WsConn`] per upgraded request, owned by the request pool (a pool
//! cleanup drops it). Both socket events land in [`drive`], a loop of
//! flush → read → process until nothing moves, after which the events and
//! timers are re-armed. No call blocks; backpressure is simply "read only
//! while the output buffer has room", so a peer that stops reading stops
//! being read from.
//!
//! Timers: the read event's timer is the idle timer (first expiry: ping;
//! second: close 1001); the write event's timer bounds a send that makes no
//! progress (expiry: drop the connection).

use core::ffi::c_void;
use core::ptr;

use ngx::ffi::{
    ngx_add_timer, ngx_connection_t, ngx_del_timer, ngx_event_t, ngx_exiting,
    ngx_handle_read_event, ngx_handle_write_event, ngx_http_finalize_request,
    ngx_http_output_filter, ngx_http_request_t, ngx_int_t, ngx_msec_t, ngx_pool_cleanup_add,
    ngx_post_event, ngx_posted_events, ngx_tcp_nodelay, NGX_AGAIN, NGX_DONE, NGX_ERROR,
    NGX_HTTP_CLOSE, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule, Request};
use ngx::ngx_log_error;
use ngx_websocket_codec::{close, EchoConfig, EchoSession};

use crate::buffers::{self, INPUT_CAPACITY, OUTPUT_CAPACITY};
use crate::config::LocConf;

/// Output room below which the connection stops reading: enough for a
/// control reply or a useful chunk of streamed payload.
const MIN_OUTPUT_ROOM: usize = 512;

/// How the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Our close frame was sent: half-close and let nginx linger for the
    /// peer's EOF, so unread input cannot turn the close into a reset.
    Graceful,
    /// The peer went away (EOF or socket error).
    PeerGone,
    /// We give up on the peer (send error or a send that made no progress).
    Drop,
}

/// Result of one socket operation.
enum Io {
    Done(usize),
    WouldBlock,
    Closed,
}

/// Thin wrapper over the raw nginx connection: every `unsafe` touching it is here.
#[derive(Clone, Copy)]
struct Socket {
    c: *mut ngx_connection_t,
}

impl Socket {
    fn read_ready(self) -> bool {
        // SAFETY: `c` is the live connection of the request that owns us.
        unsafe { (*(*self.c).read).ready() != 0 }
    }

    fn write_ready(self) -> bool {
        // SAFETY: as above.
        unsafe { (*(*self.c).write).ready() != 0 }
    }

    fn recv(self, buf: &mut [u8]) -> Io {
        // SAFETY: `recv` is set for every nginx connection; `buf` is a valid
        // writable slice of the given length.
        let n = unsafe { ((*self.c).recv.unwrap_unchecked())(self.c, buf.as_mut_ptr(), buf.len()) };
        match n {
            n if n > 0 => Io::Done(n as usize),
            0 => Io::Closed,
            n if n == NGX_AGAIN as isize => Io::WouldBlock,
            _ => Io::Closed,
        }
    }

    fn send(self, buf: &[u8]) -> Io {
        // SAFETY: `send` is set for every nginx connection; it only reads `buf`.
        let n = unsafe {
            ((*self.c).send.unwrap_unchecked())(self.c, buf.as_ptr().cast_mut(), buf.len())
        };
        match n {
            n if n > 0 => Io::Done(n as usize),
            n if n == NGX_AGAIN as isize || n == 0 => Io::WouldBlock,
            _ => Io::Closed,
        }
    }

    /// Bytes nginx itself still holds for this connection (the 101 header).
    fn nginx_buffered(self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.c).buffered() != 0 }
    }

    fn log(self) -> *mut ngx::ffi::ngx_log_t {
        // SAFETY: as above.
        unsafe { (*self.c).log }
    }

    /// Takes the read event's timed-out flag (clearing it).
    fn take_timedout(ev: *mut ngx_event_t) -> bool {
        // SAFETY: `ev` is one of the connection's two events.
        unsafe {
            let timed_out = (*ev).timedout() != 0;
            (*ev).set_timedout(0);
            timed_out
        }
    }

    fn read_event(self) -> *mut ngx_event_t {
        // SAFETY: as above.
        unsafe { (*self.c).read }
    }

    fn write_event(self) -> *mut ngx_event_t {
        // SAFETY: as above.
        unsafe { (*self.c).write }
    }

    /// Set by nginx when a worker shuts down and asks idle connections to close.
    fn take_close_request(self) -> bool {
        // SAFETY: as above.
        unsafe {
            let close = (*self.c).close() != 0;
            (*self.c).set_close(0);
            close
        }
    }

    fn set_timer(ev: *mut ngx_event_t, ms: ngx_msec_t) {
        // SAFETY: `ev` is one of the connection's events; nginx's timer tree
        // is only used from this (the worker's) thread.
        unsafe { ngx_add_timer(ev, ms) }
    }

    fn clear_timer(ev: *mut ngx_event_t) {
        // SAFETY: as above.
        unsafe {
            if (*ev).timer_set() != 0 {
                ngx_del_timer(ev);
            }
        }
    }

    fn timer_set(ev: *mut ngx_event_t) -> bool {
        // SAFETY: as above.
        unsafe { (*ev).timer_set() != 0 }
    }

    /// Registers interest in both events with the event module (a no-op when
    /// already registered under edge-triggered epoll).
    fn arm(self) -> bool {
        // SAFETY: standard nginx calls on the connection's own events.
        unsafe {
            ngx_handle_read_event((*self.c).read, 0) == NGX_OK as ngx_int_t
                && ngx_handle_write_event((*self.c).write, 0) == NGX_OK as ngx_int_t
        }
    }
}

/// State of one upgraded connection.
pub struct WsConn {
    r: *mut ngx_http_request_t,
    socket: Socket,
    session: EchoSession,
    timeout: ngx_msec_t,
    input: Option<Box<[u8]>>,
    input_len: usize,
    output: Option<Box<[u8]>>,
    output_start: usize,
    output_end: usize,
    /// A ping went out for the current idle period.
    ping_sent: bool,
    /// The peer half-closed: flush what we owe, then close.
    peer_eof: bool,
}

/// Takes over the connection of `r` after the 101 was sent.
///
/// # Safety
/// `r` must be a valid main request on an HTTP/1.x connection whose 101
/// header has just been sent; the caller returns our result from its
/// content handler.
pub unsafe fn take_over(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: per the function contract.
    let c = unsafe { (*r).connection };
    let socket = Socket { c };
    let mut ws = Box::new(WsConn {
        r,
        socket,
        session: EchoSession::new(EchoConfig {
            max_payload_len: conf.max_payload_len(),
            whole_frame_max: INPUT_CAPACITY,
        }),
        timeout: conf.timeout(),
        input: None,
        input_len: 0,
        output: None,
        output_start: 0,
        output_end: 0,
        ping_sent: false,
        peer_eof: false,
    });

    // Bytes the client sent right behind the handshake are already in
    // nginx's header buffer: they are the first frames.
    // SAFETY: `header_in` is valid for a request whose header was parsed;
    // `pos..last` are initialised bytes of it.
    unsafe {
        let hb = (*r).header_in;
        if !hb.is_null() && (*hb).pos < (*hb).last {
            let len = (*hb).last.offset_from((*hb).pos) as usize;
            let early = core::slice::from_raw_parts((*hb).pos, len);
            ws.stash_early_input(early);
            (*hb).pos = (*hb).last;
        }
    }

    // SAFETY: the pool outlives the request's use of the state; the cleanup
    // runs when nginx frees the request, after which no handler of ours runs.
    unsafe {
        let cln = ngx_pool_cleanup_add((*r).pool, 0);
        if cln.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        let ws = Box::into_raw(ws);
        (*cln).handler = Some(drop_conn);
        (*cln).data = ws.cast();
        *(*r).ctx.add(crate::module().ctx_index) = ws.cast();

        // Keep the request alive past the content phase; finalized in `finish`.
        let main = (*r).main;
        (*main).set_count((*main).count() + 1);
        (*r).read_event_handler = Some(empty_request_handler);
        (*r).write_event_handler = Some(empty_request_handler);
        // Our own event handlers: nginx's request handler would terminate
        // the request on a shutdown close request before we could send 1001.
        (*(*c).read).handler = Some(on_read_event);
        (*(*c).write).handler = Some(on_write_event);
        // Marks the connection for `ngx_close_idle_connections` on shutdown.
        (*c).set_idle(1);

        // Frames are small and latency matters: honour `tcp_nodelay` (on by
        // default) as nginx's own proxying of upgraded connections does.
        if let Some(clcf) = NgxHttpCoreModule::location_conf(&*Request::from_ngx_http_request(r)) {
            if clcf.tcp_nodelay != 0 && ngx_tcp_nodelay(c) != NGX_OK as ngx_int_t {
                return NGX_ERROR as ngx_int_t;
            }
        }

        // Edge-triggered epoll reports no new event for data that arrived
        // with the handshake, so run the loop once from the posted queue.
        ngx_post_event((*c).read, &raw mut ngx_posted_events);
        Socket::set_timer((*c).read, (*ws).timeout);
    }
    NGX_DONE as ngx_int_t
}

unsafe extern "C" fn drop_conn(data: *mut c_void) {
    // SAFETY: `data` is the `Box<WsConn>` leaked in `take_over`, dropped once.
    drop(unsafe { Box::from_raw(data.cast::<WsConn>()) });
}

unsafe extern "C" fn empty_request_handler(_r: *mut ngx_http_request_t) {}

/// The state of the request behind an event, if it is still ours.
///
/// # Safety
/// `ev` must be an event of a connection taken over by `take_over`.
unsafe fn conn_of<'a>(ev: *mut ngx_event_t) -> Option<&'a mut WsConn> {
    // SAFETY: per the contract `data` is the connection and its `data` the request.
    unsafe {
        let c = (*ev).data.cast::<ngx_connection_t>();
        let r = (*c).data.cast::<ngx_http_request_t>();
        let ws = *(*r).ctx.add(crate::module().ctx_index);
        ws.cast::<WsConn>().as_mut()
    }
}

unsafe extern "C" fn on_read_event(ev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for connections we installed it on.
    let Some(ws) = (unsafe { conn_of(ev) }) else {
        return;
    };
    if ws.socket.take_close_request() {
        ws.server_close(
            close::GOING_AWAY,
            "server shutting down",
            "server shutting down",
        );
    } else if Socket::take_timedout(ev) {
        ws.on_idle_timeout();
    }
    ws.drive();
}

unsafe extern "C" fn on_write_event(ev: *mut ngx_event_t) {
    // SAFETY: as in `on_read_event`.
    let Some(ws) = (unsafe { conn_of(ev) }) else {
        return;
    };
    if Socket::take_timedout(ev) {
        ngx_log_error!(
            NGX_LOG_INFO,
            ws.socket.log(),
            "websocket: send timed out, dropping the connection"
        );
        ws.finish(Finish::Drop);
        return;
    }
    ws.drive();
}

impl WsConn {
    fn stash_early_input(&mut self, bytes: &[u8]) {
        // More than a buffer's worth cannot arrive with the header: nginx's
        // header buffers are smaller. Anything beyond is kept for a later pass.
        let input = self
            .input
            .get_or_insert_with(|| buffers::take(INPUT_CAPACITY));
        let n = bytes.len().min(input.len());
        input[..n].copy_from_slice(&bytes[..n]);
        self.input_len = n;
    }

    fn on_idle_timeout(&mut self) {
        if self.output_start < self.output_end {
            // Waiting on the peer to read, not to write: the write timer decides.
            return;
        }
        if !self.ping_sent {
            self.ping_sent = true;
            let out = self
                .output
                .get_or_insert_with(|| buffers::take(OUTPUT_CAPACITY));
            self.output_end += self.session.write_ping(b"", &mut out[self.output_end..]);
        } else {
            ngx_log_error!(
                NGX_LOG_INFO,
                self.socket.log(),
                "websocket: peer idle, closing"
            );
            self.server_close(close::GOING_AWAY, "idle timeout", "timeout");
        }
    }

    fn server_close(&mut self, code: u16, reason: &str, log_reason: &'static str) {
        let out = self
            .output
            .get_or_insert_with(|| buffers::take(OUTPUT_CAPACITY));
        self.output_end +=
            self.session
                .close(code, reason, log_reason, &mut out[self.output_end..]);
    }

    /// Flush, read and process until nothing moves, then re-arm.
    fn drive(&mut self) {
        let mut received = false;
        let mut sent = false;
        loop {
            let mut progressed = false;

            // 1. Flush: nginx's own pending bytes (the 101) go first.
            if self.socket.nginx_buffered() {
                // SAFETY: `r` is our live request; a NULL chain only flushes.
                let rc = unsafe { ngx_http_output_filter(self.r, ptr::null_mut()) };
                if rc == NGX_ERROR as ngx_int_t {
                    return self.finish(Finish::Drop);
                }
            }
            if !self.socket.nginx_buffered()
                && self.output_start < self.output_end
                && self.socket.write_ready()
            {
                let out = self.output.as_deref().unwrap_or_default();
                match self.socket.send(&out[self.output_start..self.output_end]) {
                    Io::Done(n) => {
                        self.output_start += n;
                        progressed = true;
                        sent = true;
                    }
                    Io::WouldBlock => {}
                    Io::Closed => return self.finish(Finish::PeerGone),
                }
                if self.output_start == self.output_end {
                    self.output_start = 0;
                    self.output_end = 0;
                }
            }

            // 2. Closing: write a pending close frame, then end once flushed.
            if self.session.is_closed() {
                if self.session.has_pending_output() {
                    let out = self
                        .output
                        .get_or_insert_with(|| buffers::take(OUTPUT_CAPACITY));
                    let p = self.session.process(&[], &mut out[self.output_end..]);
                    self.output_end += p.written;
                    progressed |= p.written > 0;
                }
                if !self.session.has_pending_output()
                    && self.output_start == self.output_end
                    && !self.socket.nginx_buffered()
                {
                    self.log_close();
                    return self.finish(Finish::Graceful);
                }
                if progressed {
                    continue;
                }
                break;
            }

            // 3. Read, while there is room for the input and for its echo.
            let out_room = OUTPUT_CAPACITY - self.output_end;
            if !self.peer_eof
                && self.input_len < INPUT_CAPACITY
                && out_room >= MIN_OUTPUT_ROOM
                && self.socket.read_ready()
            {
                let input = self
                    .input
                    .get_or_insert_with(|| buffers::take(INPUT_CAPACITY));
                match self.socket.recv(&mut input[self.input_len..]) {
                    Io::Done(n) => {
                        self.input_len += n;
                        progressed = true;
                        received = true;
                    }
                    Io::WouldBlock => {}
                    Io::Closed => self.peer_eof = true,
                }
            }

            // 4. Process what we have into frames to send.
            if self.input_len > 0 {
                let (Some(input), out) = (
                    self.input.as_mut(),
                    self.output
                        .get_or_insert_with(|| buffers::take(OUTPUT_CAPACITY)),
                ) else {
                    break;
                };
                let p = self
                    .session
                    .process(&input[..self.input_len], &mut out[self.output_end..]);
                self.output_end += p.written;
                if p.consumed > 0 {
                    input.copy_within(p.consumed..self.input_len, 0);
                    self.input_len -= p.consumed;
                }
                progressed |= p.consumed > 0 || p.written > 0;
            }

            if self.peer_eof && self.output_start == self.output_end && !self.session.is_closed() {
                // Half-closed and everything we owed was sent.
                return self.finish(Finish::PeerGone);
            }
            if !progressed {
                break;
            }
        }

        self.release_idle_buffers();
        self.rearm(received, sent);
    }

    /// Gives buffers back while nothing is in flight, so idle connections hold none.
    fn release_idle_buffers(&mut self) {
        if self.input_len == 0 && self.session.is_idle() {
            if let Some(b) = self.input.take() {
                buffers::give_back(b);
            }
        }
        if self.output_start == self.output_end {
            if let Some(b) = self.output.take() {
                buffers::give_back(b);
            }
        }
    }

    fn rearm(&mut self, received: bool, sent: bool) {
        if !self.socket.arm() {
            return self.finish(Finish::Drop);
        }
        let (rev, wev) = (self.socket.read_event(), self.socket.write_event());
        if self.output_start < self.output_end || self.socket.nginx_buffered() {
            // A send must keep making progress within the timeout.
            if sent || !Socket::timer_set(wev) {
                Socket::set_timer(wev, self.timeout);
            }
        } else {
            Socket::clear_timer(wev);
        }
        if received {
            self.ping_sent = false;
        }
        if received || !Socket::timer_set(rev) {
            Socket::set_timer(rev, self.timeout);
        }
        // If reading paused for backpressure while data is waiting, the
        // write event will resume it; if it paused with room (input full of
        // a partial frame that cannot grow), nothing would: not possible, as
        // whole frames up to INPUT_CAPACITY are consumed or streamed.
    }

    fn log_close(&self) {
        if let Some(info) = self.session.close_info() {
            if info
                .sent_code
                .is_some_and(|code| code == close::MESSAGE_TOO_BIG)
            {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    self.socket.log(),
                    "websocket: client sent a frame of {} bytes, over websocket_max_payload_len, closing with 1009",
                    self.session.refused_len()
                );
            } else if !info.peer_initiated {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    self.socket.log(),
                    "websocket: closing with {}: {}",
                    info.sent_code.unwrap_or(0),
                    info.reason
                );
            }
        }
    }

    /// Ends the request. `self` must not be used afterwards: nginx may free it.
    fn finish(&mut self, how: Finish) {
        let r = self.r;
        let c = self.socket.c;
        // SAFETY: `r` and `c` are live until the finalize call below, which
        // may destroy the pool that owns `self` (hence nothing after it).
        unsafe {
            // Our handlers must not run again for this request.
            *(*r).ctx.add(crate::module().ctx_index) = ptr::null_mut();
            (*c).set_idle(0);
            match how {
                Finish::Graceful if ngx_exiting == 0 => {
                    (*r).set_lingering_close(1);
                    ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
                }
                Finish::Graceful | Finish::PeerGone => {
                    ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
                }
                Finish::Drop => ngx_http_finalize_request(r, NGX_HTTP_CLOSE as ngx_int_t),
            }
        }
    }
}
