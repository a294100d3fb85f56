//! The connection after the 101: the codec driven by nginx's non-blocking
//! reads and writes.
//!
//! One [`WsConn`] per upgraded connection. Both socket events land in
//! [`WsConn::drive`], a loop of flush → read → process until nothing moves,
//! after which the events and timers are re-armed. No call blocks;
//! backpressure is simply "read only while the output buffer has room", so a
//! peer that stops reading stops being read from.
//!
//! Memory: once the 101 has left, the connection is detached from its HTTP
//! request, the way nginx's own keepalive detaches an idle connection: the
//! request is logged and freed (its pool is most of what an HTTP request
//! costs), the client header buffers are freed, and the [`WsConn`] moves to
//! the connection's pool (a cleanup there drops it when nginx closes the
//! connection). What an idle WebSocket then holds is nginx's connection
//! structure, its small pool and the [`WsConn`]; I/O buffers are lent only
//! while bytes are in flight ([`crate::buffers`]). TLS connections stay
//! attached: their close needs nginx's SSL shutdown and lingering close,
//! which work on the request.
//!
//! Timers: the read event's timer is the idle timer (first expiry: ping;
//! second: close 1001); the write event's timer bounds a send that makes no
//! progress (expiry: drop the connection).

use core::ffi::c_void;
use core::ptr;

use ngx::ffi::{
    ngx_add_timer, ngx_connection_t, ngx_current_msec, ngx_del_timer, ngx_event_t, ngx_exiting,
    ngx_handle_read_event, ngx_handle_write_event, ngx_http_close_connection,
    ngx_http_connection_t, ngx_http_finalize_request, ngx_http_free_request,
    ngx_http_output_filter, ngx_http_request_t, ngx_http_run_posted_requests, ngx_int_t,
    ngx_msec_int_t, ngx_msec_t, ngx_pfree, ngx_pool_cleanup_add, ngx_pool_cleanup_t,
    ngx_post_event, ngx_posted_events, ngx_tcp_nodelay, ngx_uint_t, NGX_AGAIN, NGX_DONE, NGX_ERROR,
    NGX_HTTP_CLOSE, NGX_HTTP_LINGERING_BUFFER_SIZE, NGX_HTTP_LINGERING_OFF, NGX_LOG_INFO, NGX_OK,
    SHUT_WR,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule, Request};
use ngx::ngx_log_error;
use ngx_websocket_codec::{close, EchoConfig, EchoSession};

use crate::buffers::{self, INPUT_CAPACITY, OUTPUT_CAPACITY};
use crate::config::LocConf;

/// Output room below which the connection stops reading: enough for a
/// control reply or a useful chunk of streamed payload.
const MIN_OUTPUT_ROOM: usize = 512;

/// Longest linger after a close frame while the worker shuts down.
const EXITING_LINGER_MS: ngx_msec_t = 1000;

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

    /// A TLS connection (`listen ... ssl`).
    fn is_tls(self) -> bool {
        #[cfg(ngx_feature = "ssl")]
        // SAFETY: as above.
        return unsafe { !(*self.c).ssl.is_null() };
        #[cfg(not(ngx_feature = "ssl"))]
        false
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

    /// Set by nginx (with `close`) when `worker_shutdown_timeout` expires.
    fn error(self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.c).error() != 0 }
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

/// nginx's lingering close settings of the location, kept for after the
/// request is gone.
#[derive(Debug, Clone, Copy)]
struct Linger {
    enabled: bool,
    /// `lingering_time`: the longest the whole linger may take.
    time: ngx_msec_t,
    /// `lingering_timeout`: the longest wait for more input.
    timeout: ngx_msec_t,
    /// When the linger must end (`ngx_current_msec` based), once started.
    deadline: ngx_msec_t,
}

/// State of one upgraded connection.
pub struct WsConn {
    /// The upgrade request until the connection is detached from it (once
    /// the 101 has been flushed); null afterwards.
    r: *mut ngx_http_request_t,
    /// Our cleanup on the request's pool, disarmed when detaching.
    request_cleanup: *mut ngx_pool_cleanup_t,
    /// The request may be freed once the 101 is out (see [`detaches`]).
    detachable: bool,
    socket: Socket,
    session: EchoSession,
    timeout: ngx_msec_t,
    linger: Linger,
    /// Unconsumed input is `input[input_start..input_len]`; it moves to
    /// the front only when the tail has little room left, not after every
    /// pass (most passes consume everything, and bulk traffic would
    /// otherwise move a partial frame after every read).
    input: Option<Box<[u8]>>,
    input_start: usize,
    input_len: usize,
    output: Option<Box<[u8]>>,
    output_start: usize,
    output_end: usize,
    /// A ping went out for the current idle period.
    ping_sent: bool,
    /// The peer half-closed: flush what we owe, then close.
    peer_eof: bool,
    /// Frames that came with the handshake beyond what the input buffer
    /// holds; consumed before anything is read from the socket.
    early: Vec<u8>,
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
    // SAFETY: as above; the core module's location configuration always exists.
    let clcf = unsafe { NgxHttpCoreModule::location_conf(&*Request::from_ngx_http_request(r)) };
    let Some(clcf) = clcf else {
        return NGX_ERROR as ngx_int_t;
    };
    // SAFETY: `r` is valid per the function contract.
    let detachable = unsafe { detaches(r) };
    let mut ws = Box::new(WsConn {
        r,
        request_cleanup: ptr::null_mut(),
        detachable,
        socket,
        session: EchoSession::new(EchoConfig {
            max_payload_len: conf.max_payload_len(),
            whole_frame_max: INPUT_CAPACITY,
        }),
        timeout: conf.timeout(),
        linger: Linger {
            enabled: clcf.lingering_close != NGX_HTTP_LINGERING_OFF as ngx_uint_t,
            time: clcf.lingering_time,
            timeout: clcf.lingering_timeout,
            deadline: 0,
        },
        input: None,
        input_start: 0,
        input_len: 0,
        output: None,
        output_start: 0,
        output_end: 0,
        ping_sent: false,
        peer_eof: false,
        early: Vec::new(),
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

    // Frames are small and latency matters: honour `tcp_nodelay` (on by
    // default) as nginx's own proxying of upgraded connections does.
    // SAFETY: `c` is the request's live connection.
    if clcf.tcp_nodelay != 0 && unsafe { ngx_tcp_nodelay(c) } != NGX_OK as ngx_int_t {
        return NGX_ERROR as ngx_int_t;
    }

    // SAFETY: the pool outlives the request's use of the state; the cleanup
    // runs when nginx frees the request, after which no handler of ours runs
    // (or it is disarmed first, when the state moves to the connection).
    unsafe {
        let cln = ngx_pool_cleanup_add((*r).pool, 0);
        if cln.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        let ws = Box::into_raw(ws);
        (*cln).handler = Some(drop_conn);
        (*cln).data = ws.cast();
        (*ws).request_cleanup = cln;
        *(*r).ctx.add(crate::module().ctx_index) = ws.cast();

        // Keep the request alive past the content phase; it is freed when
        // the connection detaches from it, or finalized in `finish`.
        let main = (*r).main;
        (*main).set_count((*main).count() + 1);
        (*r).read_event_handler = Some(empty_request_handler);
        (*r).write_event_handler = Some(empty_request_handler);
        // Our own event handlers: nginx's request handler would terminate
        // the request on a shutdown close request before we could send 1001.
        (*(*c).read).handler = Some(on_read_event::<false>);
        (*(*c).write).handler = Some(on_write_event::<false>);
        // Marks the connection for `ngx_close_idle_connections` on shutdown.
        (*c).set_idle(1);

        // Edge-triggered epoll reports no new event for data that arrived
        // with the handshake, so run the loop once from the posted queue.
        ngx_post_event((*c).read, &raw mut ngx_posted_events);
        Socket::set_timer((*c).read, (*ws).timeout);
    }
    NGX_DONE as ngx_int_t
}

/// Whether the connection can leave its request once the 101 is out. Not
/// for TLS (closing needs nginx's SSL shutdown and lingering close, which
/// work on the request), and not when another module tied something to the
/// request's end with a cleanup: `limit_conn`, for one, counts the
/// connection until its request is freed, so freeing it at the 101 would
/// stop the limit from holding. Such connections keep their request, and
/// cost its memory (about 9 KB more per idle connection).
///
/// # Safety
/// `r` must be a valid request, before our own cleanup is registered.
unsafe fn detaches(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: per the function contract; the pool and its cleanup list
    // belong to the live request.
    unsafe {
        let c = Socket { c: (*r).connection };
        !c.is_tls() && (*r).cleanup.is_null() && (*(*r).pool).cleanup.is_null()
    }
}

unsafe extern "C" fn drop_conn(data: *mut c_void) {
    // SAFETY: `data` is the `Box<WsConn>` leaked in `take_over`, dropped once
    // (by the request pool's cleanup, or after detaching by the connection
    // pool's, never both: the first is disarmed before the second exists).
    drop(unsafe { Box::from_raw(data.cast::<WsConn>()) });
}

unsafe extern "C" fn empty_request_handler(_r: *mut ngx_http_request_t) {}

/// The state behind an event, if the connection is still ours. Before
/// detaching (`DETACHED` false) it hangs off the request's module context;
/// afterwards the connection's `data` points at it.
///
/// # Safety
/// `ev` must be an event of a connection taken over by `take_over`, whose
/// handlers are the `DETACHED` variants.
unsafe fn conn_of<'a, const DETACHED: bool>(ev: *mut ngx_event_t) -> Option<&'a mut WsConn> {
    // SAFETY: per the contract `data` is the connection and its `data` the
    // request (attached) or our state (detached).
    unsafe {
        let c = (*ev).data.cast::<ngx_connection_t>();
        if DETACHED {
            return (*c).data.cast::<WsConn>().as_mut();
        }
        let r = (*c).data.cast::<ngx_http_request_t>();
        let ws = *(*r).ctx.add(crate::module().ctx_index);
        ws.cast::<WsConn>().as_mut()
    }
}

unsafe extern "C" fn on_read_event<const DETACHED: bool>(ev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for connections we installed it on.
    let Some(ws) = (unsafe { conn_of::<DETACHED>(ev) }) else {
        return;
    };
    if ws.socket.take_close_request() {
        if ws.socket.error() {
            // `worker_shutdown_timeout` expired: nginx closes what is left
            // now; a close frame that could not be sent so far never will.
            return ws.finish(Finish::Drop);
        }
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

unsafe extern "C" fn on_write_event<const DETACHED: bool>(ev: *mut ngx_event_t) {
    // SAFETY: as in `on_read_event`.
    let Some(ws) = (unsafe { conn_of::<DETACHED>(ev) }) else {
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

/// Read handler while lingering after our close frame (detached only):
/// discard input until the peer's EOF or the lingering limits, then close.
/// nginx's `ngx_http_lingering_close_handler`, without a request.
unsafe extern "C" fn on_linger_read(ev: *mut ngx_event_t) {
    // SAFETY: installed by `start_lingering` on a detached connection, whose
    // `data` is our state until the connection is closed below.
    unsafe {
        let c = (*ev).data.cast::<ngx_connection_t>();
        let Some(ws) = (*c).data.cast::<WsConn>().as_mut() else {
            return;
        };
        if (*ev).timedout() != 0 || (*c).close() != 0 {
            return ngx_http_close_connection(c);
        }
        let left = ws.linger.deadline.wrapping_sub(ngx_current_msec) as ngx_msec_int_t;
        if left <= 0 {
            return ngx_http_close_connection(c);
        }
        let mut discard = [0u8; NGX_HTTP_LINGERING_BUFFER_SIZE as usize];
        loop {
            match ws.socket.recv(&mut discard) {
                Io::Done(_) => {}
                Io::WouldBlock => break,
                Io::Closed => return ngx_http_close_connection(c),
            }
            if (*ev).ready() == 0 {
                break;
            }
        }
        if ngx_handle_read_event(ev, 0) != NGX_OK as ngx_int_t {
            return ngx_http_close_connection(c);
        }
        ngx_add_timer(ev, (left as ngx_msec_t).min(ws.linger.timeout));
    }
}

unsafe extern "C" fn on_linger_write(_ev: *mut ngx_event_t) {}

impl WsConn {
    fn stash_early_input(&mut self, bytes: &[u8]) {
        // nginx's header buffers can hold more than the input buffer
        // (`client_header_buffer_size 64k`): what does not fit waits in
        // `early` (the header buffers are freed when the connection detaches).
        let input = buffers::lend(&mut self.input, INPUT_CAPACITY);
        let n = bytes.len().min(input.len());
        input[..n].copy_from_slice(&bytes[..n]);
        self.input_len = n;
        self.early = bytes[n..].to_vec();
    }

    /// Room for more input at the tail of the input buffer, after moving
    /// the unconsumed bytes to the front if the tail is short of a quarter
    /// of the buffer. A whole-sized frame at the start always fits then.
    fn input_room(&mut self) -> usize {
        let room = INPUT_CAPACITY - self.input_len;
        if self.input_start > 0 && room < INPUT_CAPACITY / 4 {
            if let Some(input) = self.input.as_mut() {
                input.copy_within(self.input_start..self.input_len, 0);
            }
            self.input_len -= self.input_start;
            self.input_start = 0;
        }
        INPUT_CAPACITY - self.input_len
    }

    /// Moves early bytes into the input buffer; true if any moved.
    fn refill_from_early(&mut self) -> bool {
        self.input_room();
        let input = buffers::lend(&mut self.input, INPUT_CAPACITY);
        let n = self.early.len().min(input.len() - self.input_len);
        input[self.input_len..self.input_len + n].copy_from_slice(&self.early[..n]);
        self.input_len += n;
        self.early.drain(..n);
        if self.early.is_empty() {
            self.early = Vec::new();
        }
        n > 0
    }

    fn on_idle_timeout(&mut self) {
        if self.output_start < self.output_end {
            // Waiting on the peer to read, not to write: the write timer decides.
            return;
        }
        if !self.ping_sent {
            self.ping_sent = true;
            let out = buffers::lend(&mut self.output, OUTPUT_CAPACITY);
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
        let out = buffers::lend(&mut self.output, OUTPUT_CAPACITY);
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

            // 1. Flush: nginx's own pending bytes (the 101) go first; once
            // they are out, the request is no longer needed.
            if !self.r.is_null() {
                if self.socket.nginx_buffered() {
                    // SAFETY: `r` is our live request; a NULL chain only flushes.
                    let rc = unsafe { ngx_http_output_filter(self.r, ptr::null_mut()) };
                    if rc == NGX_ERROR as ngx_int_t {
                        return self.finish(Finish::Drop);
                    }
                }
                if self.detachable && !self.socket.nginx_buffered() && !self.detach() {
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
                    let out = buffers::lend(&mut self.output, OUTPUT_CAPACITY);
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
            if !self.early.is_empty() {
                if out_room >= MIN_OUTPUT_ROOM && self.input_room() > 0 {
                    progressed |= self.refill_from_early();
                    received = true;
                }
            } else if !self.peer_eof
                && out_room >= MIN_OUTPUT_ROOM
                && self.socket.read_ready()
                && self.input_room() > 0
            {
                let input = buffers::lend(&mut self.input, INPUT_CAPACITY);
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
            if self.input_start < self.input_len {
                let (Some(input), out) = (
                    self.input.as_mut(),
                    buffers::lend(&mut self.output, OUTPUT_CAPACITY),
                ) else {
                    break;
                };
                let p = self.session.process(
                    &input[self.input_start..self.input_len],
                    &mut out[self.output_end..],
                );
                self.output_end += p.written;
                self.input_start += p.consumed;
                if self.input_start == self.input_len {
                    self.input_start = 0;
                    self.input_len = 0;
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
            buffers::release(&mut self.input);
        }
        if self.output_start == self.output_end {
            buffers::release(&mut self.output);
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

    /// Frees the HTTP request once the 101 is out, as nginx's keepalive
    /// does for an idle connection: the access log line is written now
    /// (status 101), the request pool and the client header buffers are
    /// freed, and this state moves to the connection (its `data`, and a
    /// cleanup on its pool). Returns false if that cleanup cannot be
    /// allocated (the request is then still attached).
    fn detach(&mut self) -> bool {
        let (r, c) = (self.r, self.socket.c);
        let this: *mut WsConn = self;
        // SAFETY: `r` is our live request and `c` its connection; nothing of
        // nginx's still runs on the request (its content phase ended with
        // NGX_DONE and we hold the only reference count). After
        // `ngx_http_free_request` only `c`, its pool and `hc` (allocated
        // from that pool) are touched.
        unsafe {
            let cln = ngx_pool_cleanup_add((*c).pool, 0);
            if cln.is_null() {
                return false;
            }
            (*self.request_cleanup).handler = None;
            self.request_cleanup = ptr::null_mut();
            (*cln).handler = Some(drop_conn);
            (*cln).data = this.cast();

            let hc = (*r).http_connection;
            *(*r).ctx.add(crate::module().ctx_index) = ptr::null_mut();
            ngx_http_free_request(r, 0);
            self.r = ptr::null_mut();
            // As after nginx's keepalive: the connection lives on.
            (*c).set_destroyed(0);

            (*c).data = this.cast();
            (*(*c).read).handler = Some(on_read_event::<true>);
            (*(*c).write).handler = Some(on_write_event::<true>);
            (*(*c).log).action = ptr::null_mut();
            free_header_buffers(c, hc);
        }
        true
    }

    /// Ends the connection. `self` must not be used afterwards: nginx may free it.
    fn finish(&mut self, how: Finish) {
        if self.r.is_null() {
            return self.finish_detached(how);
        }
        let r = self.r;
        let c = self.socket.c;
        // SAFETY: `r` and `c` are live until the finalize call below, which
        // may destroy the pool that owns `self` (hence nothing of `self`
        // after it). `c` stays valid memory (nginx's connection array), and
        // `ngx_http_run_posted_requests` returns at once once it is destroyed.
        unsafe {
            // Our handlers must not run again for this request.
            *(*r).ctx.add(crate::module().ctx_index) = ptr::null_mut();
            (*c).set_idle(0);
            match how {
                Finish::Graceful => {
                    // Also while the worker exits: closing right after the
                    // close frame would reset the peer's answering close.
                    (*r).set_lingering_close(1);
                    ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
                }
                Finish::PeerGone => ngx_http_finalize_request(r, NGX_DONE as ngx_int_t),
                Finish::Drop => ngx_http_finalize_request(r, NGX_HTTP_CLOSE as ngx_int_t),
            }
            // Terminating a request only posts it; nginx's own event handler
            // would run the posted requests, ours replaced it.
            ngx_http_run_posted_requests(c);
        }
    }

    fn finish_detached(&mut self, how: Finish) {
        let c = self.socket.c;
        // SAFETY: closing the connection destroys its pool, whose cleanup
        // drops `self`: nothing touches `self` after it.
        unsafe {
            (*c).set_idle(0);
            if how == Finish::Graceful && self.linger.enabled {
                return self.start_lingering();
            }
            ngx_http_close_connection(c);
        }
    }

    /// After our close frame: half-close and discard input until the peer's
    /// EOF (or nginx's lingering limits), so unread input cannot turn the
    /// close into a reset. nginx's `ngx_http_set_lingering_close` for a
    /// connection without a request (TLS connections never get here).
    fn start_lingering(&mut self) {
        self.input_start = 0;
        self.input_len = 0;
        self.output_start = 0;
        self.output_end = 0;
        buffers::release(&mut self.input);
        buffers::release(&mut self.output);
        let c = self.socket.c;
        // SAFETY: `c` is our live connection; on failure it is closed and
        // `self` (dropped with its pool) is not touched again.
        unsafe {
            let (rev, wev) = ((*c).read, (*c).write);
            Socket::clear_timer(wev);
            (*rev).handler = Some(on_linger_read);
            (*wev).handler = Some(on_linger_write);
            if ngx_handle_read_event(rev, 0) != NGX_OK as ngx_int_t
                || ngx::ffi::shutdown((*c).fd, SHUT_WR as i32) == -1
            {
                return ngx_http_close_connection(c);
            }
            if ngx_exiting != 0 {
                // A shutting-down worker waits for this timer: give a peer
                // time to answer the close, not nginx's full lingering limits.
                self.linger.time = self.linger.time.min(EXITING_LINGER_MS);
                self.linger.timeout = self.linger.timeout.min(EXITING_LINGER_MS);
            }
            self.linger.deadline = ngx_current_msec.wrapping_add(self.linger.time);
            Socket::set_timer(rev, self.linger.timeout);
            if (*rev).ready() != 0 {
                on_linger_read(rev);
            }
        }
    }
}

/// Frees the client header buffers of a connection whose request is gone,
/// as `ngx_http_set_keepalive` does: they were allocated outside the
/// connection pool's small blocks, so `ngx_pfree` can release them.
///
/// # Safety
/// `c` must be a live HTTP connection with no request, `hc` its
/// `ngx_http_connection_t`.
unsafe fn free_header_buffers(c: *mut ngx_connection_t, hc: *mut ngx_http_connection_t) {
    // SAFETY: per the function contract; every pointer freed was allocated
    // from `c->pool` by nginx's request reading code and is not used again.
    unsafe {
        let b = (*c).buffer;
        if !b.is_null() && ngx_pfree((*c).pool, (*b).start.cast()) == NGX_OK as ngx_int_t {
            (*b).pos = ptr::null_mut();
        }
        if hc.is_null() {
            return;
        }
        for list in [(*hc).free, (*hc).busy] {
            let mut cl = list;
            while !cl.is_null() {
                ngx_pfree((*c).pool, (*(*cl).buf).start.cast());
                cl = (*cl).next;
            }
        }
        (*hc).free = ptr::null_mut();
        (*hc).busy = ptr::null_mut();
        (*hc).nbusy = 0;
    }
}
