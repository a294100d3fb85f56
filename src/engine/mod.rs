//! The connection engine: one upgraded connection after its 101, driven by
//! nginx's non-blocking reads and writes, for any endpoint.
//!
//! One [`WsConn`] per WebSocket. Both socket events land in
//! [`WsConn::drive`], a loop of send → read → process until nothing moves,
//! after which events and timers are re-armed. Nothing blocks; backpressure
//! is the frame buffer filling up: output is sent from the buffer the input
//! was read into (see the codec's `buffer` module), so a peer that stops
//! reading stops being read from once the buffer is full.
//!
//! What the engine does for every endpoint: socket I/O through a buffer lent
//! only while bytes are in flight ([`buffers`]); leaving the HTTP request
//! behind once the 101 is out ([`request`]); keepalive pings and the idle
//! timeout; the send timeout; `1001` to every connection when the worker
//! reloads or quits; the closing handshake, lingering close and TLS
//! shutdown ([`close`]); the end-of-connection log. An endpoint only turns
//! decoded events into frames to send ([`crate::echo`]).
//!
//! Timers: the read event's timer is the keepalive timer (after
//! `websocket_ping_interval` of silence: ping; after a further
//! `websocket_timeout` with nothing received: close 1001), then the close
//! wait once our close frame is out; the write event's timer bounds a send
//! that makes no progress (expiry: drop the connection).

mod buffers;
mod close;
mod request;
mod socket;

use core::ffi::c_void;
use core::ptr;

use ngx::ffi::{
    ngx_current_msec, ngx_event_t, ngx_exiting, ngx_http_output_filter, ngx_http_request_t,
    ngx_int_t, ngx_msec_t, ngx_pool_cleanup_add, ngx_pool_cleanup_t, ngx_post_event,
    ngx_posted_events, ngx_tcp_nodelay, ngx_uint_t, NGX_DONE, NGX_ERROR, NGX_HTTP_LINGERING_OFF,
    NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule, Request};
use ngx::ngx_log_error;
use ngx_websocket_codec::deflate::{self, Agreement, Pipeline};
use ngx_websocket_codec::{close as codes, FrameBuffer, Session};

use crate::config::{EndpointKind, LocConf};
use request::RequestRecord;
use socket::{clear_timer, set_timer, take_timedout, timer_set, Io, Socket};

/// Who sent the first close frame (`$websocket_closed_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// No close frame yet (or ever: the connection was dropped).
    Nobody,
    Client,
    Server,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Frames flow both ways.
    Open,
    /// Our close frame is out; waiting for the peer's (still decoding).
    CloseWait,
}

/// nginx's lingering close settings of the location, kept for after the
/// request is gone.
#[derive(Debug, Clone, Copy)]
struct Linger {
    enabled: bool,
    /// `lingering_time`: the longest the whole close may take.
    time: ngx_msec_t,
    /// `lingering_timeout`: the longest wait for more input.
    timeout: ngx_msec_t,
    /// When the close must be over (`ngx_current_msec` based), once started.
    deadline: ngx_msec_t,
}

/// Longest linger after a close frame while the worker shuts down.
const EXITING_LINGER_MS: ngx_msec_t = 1000;

/// How the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// The closing handshake is done (or our close frame is out and the wait
    /// for the peer's is over): half-close and linger for the peer's EOF, so
    /// unread input cannot turn the close into a reset.
    Graceful,
    /// The peer went away (EOF or socket error).
    PeerGone,
    /// We give up on the peer (send error or a send that made no progress).
    Drop,
}

/// State of one upgraded connection.
pub struct WsConn {
    /// The upgrade request until the connection leaves it (once the 101 has
    /// been flushed); null afterwards.
    r: *mut ngx_http_request_t,
    /// Our cleanup on the request's pool, disarmed when detaching.
    request_cleanup: *mut ngx_pool_cleanup_t,
    /// The request may be freed once the 101 is out (see [`detaches`]).
    detachable: bool,
    socket: Socket,
    /// The location's configuration (lives as long as the configuration).
    conf: *const LocConf,
    endpoint: EndpointKind,
    session: Session,
    /// Index of the negotiated subprotocol in the location's list.
    protocol: Option<u8>,
    /// The permessage-deflate answer, if negotiated.
    agreement: Option<Agreement>,
    buf: Option<Box<FrameBuffer>>,
    /// permessage-deflate's transform while a message is in flight (or for
    /// good with context takeover); its streams are borrowed from the
    /// worker's pool per message otherwise.
    deflate: Option<Box<Pipeline>>,
    /// Frames that came with the handshake beyond what the buffer holds;
    /// consumed before anything is read from the socket.
    early: Vec<u8>,
    phase: Phase,
    closed_by: ClosedBy,
    /// A close we must send once the buffer has room (code, reason).
    close_wanted: Option<(u16, &'static str)>,
    /// A ping went out for the current silence.
    ping_sent: bool,
    /// The peer half-closed: flush what we owe, then close.
    peer_eof: bool,
    linger: Linger,
    /// Wall-clock milliseconds at the 101 (`$websocket_duration`).
    started: u64,
    /// For the end-of-connection log once the request is gone.
    record: Option<Box<RequestRecord>>,
    /// `finish` ran: an attached connection's state lives on until nginx
    /// frees the request (its log line reads it), but no handler may act.
    finished: bool,
}

/// Values the `$websocket_*` variables read.
pub struct LogValues<'a> {
    pub closed_by: ClosedBy,
    pub close_sent: Option<u16>,
    pub close_received: Option<u16>,
    pub stats: &'a ngx_websocket_codec::session::Stats,
    pub duration_ms: u64,
    pub protocol: Option<&'a [u8]>,
    pub extensions: Option<Agreement>,
}

impl WsConn {
    fn conf(&self) -> &LocConf {
        // SAFETY: the configuration outlives every connection it serves.
        unsafe { &*self.conf }
    }

    /// What the log variables report.
    pub fn log_values(&self) -> LogValues<'_> {
        LogValues {
            closed_by: self.closed_by,
            close_sent: self.session.close_sent(),
            close_received: self.session.close_received(),
            stats: self.session.stats(),
            duration_ms: wall_clock_ms().saturating_sub(self.started),
            protocol: self
                .protocol
                .and_then(|i| self.conf().protocols().get(usize::from(i)))
                .map(|p| &p[..]),
            extensions: self.agreement,
        }
    }
}

/// nginx's cached wall-clock time in milliseconds: the clock `$request_time`
/// uses, so that `$websocket_duration` never exceeds it.
fn wall_clock_ms() -> u64 {
    let t = ngx::ffi::ngx_timeofday();
    (t.sec as u64) * 1000 + t.msec as u64
}

/// The state of the WebSocket served by `r`, if any (for the variables).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn conn_of_request<'a>(r: *mut ngx_http_request_t) -> Option<&'a WsConn> {
    // SAFETY: our context slot holds a `WsConn` or NULL.
    unsafe {
        let ctx = (*r).ctx;
        if ctx.is_null() {
            return None;
        }
        (*ctx.add(crate::module().ctx_index))
            .cast::<WsConn>()
            .as_ref()
    }
}

/// The protocol limits of a location, for a server-role session reading
/// from a lent buffer; RSV1 is allowed when permessage-deflate is on.
fn session_config(conf: &LocConf, deflate: bool) -> ngx_websocket_codec::Config {
    ngx_websocket_codec::Config {
        max_frame_len: conf.max_payload_len(),
        max_message_len: conf.max_message_len(),
        whole_frame_max: buffers::WHOLE_FRAME_MAX,
        message_rsv: if deflate { deflate::RSV1 } else { 0 },
    }
}

/// The transform of a connection with permessage-deflate: the location's
/// compression settings, and its limits applied to inflated bytes.
fn deflate_params(conf: &LocConf, agreement: &Agreement) -> deflate::Params {
    deflate::Params {
        level: conf.deflate.level(),
        mem_level: conf.deflate.mem_level(),
        min_length: conf.deflate.min_length(),
        max_frame_len: conf.max_payload_len(),
        max_message_len: conf.max_message_len(),
        ..deflate::Params::server(agreement)
    }
}

/// Takes over the connection of `r` after the 101 was sent.
///
/// # Safety
/// `r` must be a valid main request on an HTTP/1.x connection whose 101
/// header has just been sent; `conf` its location's configuration; the
/// caller returns our result from its content handler.
pub unsafe fn take_over(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    endpoint: EndpointKind,
    protocol: Option<u8>,
    agreement: Option<Agreement>,
) -> ngx_int_t {
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
    let session = Session::server(session_config(conf, agreement.is_some()));
    let mut ws = Box::new(WsConn {
        r,
        request_cleanup: ptr::null_mut(),
        detachable,
        socket,
        conf,
        endpoint,
        session,
        protocol,
        agreement,
        buf: None,
        deflate: None,
        early: Vec::new(),
        phase: Phase::Open,
        closed_by: ClosedBy::Nobody,
        close_wanted: None,
        ping_sent: false,
        peer_eof: false,
        linger: Linger {
            enabled: clcf.lingering_close != NGX_HTTP_LINGERING_OFF as ngx_uint_t,
            time: clcf.lingering_time,
            timeout: clcf.lingering_timeout,
            deadline: 0,
        },
        started: wall_clock_ms(),
        record: None,
        finished: false,
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
        // the connection leaves it, or finalized in `finish`.
        let main = (*r).main;
        (*main).set_count((*main).count() + 1);
        (*r).read_event_handler = Some(empty_request_handler);
        (*r).write_event_handler = Some(empty_request_handler);
        // Our own event handlers: nginx's request handler would terminate
        // the request on a shutdown close request before we could send 1001.
        (*(*c).read).handler = Some(on_read_event::<false>);
        (*(*c).write).handler = Some(on_write_event::<false>);
        socket.set_idle(true);

        // Edge-triggered epoll reports no new event for data that arrived
        // with the handshake, so run the loop once from the posted queue.
        ngx_post_event((*c).read, &raw mut ngx_posted_events);
        set_timer((*c).read, (*ws).conf().ping_interval());
    }
    NGX_DONE as ngx_int_t
}

/// Whether the connection can leave its request once the 101 is out: not
/// when another module tied something to the request's end with a cleanup.
/// `limit_conn`, for one, counts the connection until its request is freed,
/// so freeing it at the 101 would stop the limit from holding. Such
/// connections keep their request, and cost its memory (about 9 KB more per
/// idle connection).
///
/// # Safety
/// `r` must be a valid request, before our own cleanup is registered.
unsafe fn detaches(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: per the function contract; the pool and its cleanup list
    // belong to the live request.
    unsafe { (*r).cleanup.is_null() && (*(*r).pool).cleanup.is_null() }
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
        let c = (*ev).data.cast::<ngx::ffi::ngx_connection_t>();
        if DETACHED {
            return (*c).data.cast::<WsConn>().as_mut();
        }
        let r = (*c).data.cast::<ngx_http_request_t>();
        let ws = *(*r).ctx.add(crate::module().ctx_index);
        ws.cast::<WsConn>().as_mut().filter(|ws| !ws.finished)
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
        ws.server_close(codes::GOING_AWAY, "server shutting down");
    } else if take_timedout(ev) {
        if ws.phase == Phase::CloseWait {
            // The peer did not answer our close in time.
            return ws.finish(Finish::Drop);
        }
        ws.on_idle_timeout();
    }
    ws.drive();
}

unsafe extern "C" fn on_write_event<const DETACHED: bool>(ev: *mut ngx_event_t) {
    // SAFETY: as in `on_read_event`.
    let Some(ws) = (unsafe { conn_of::<DETACHED>(ev) }) else {
        return;
    };
    if take_timedout(ev) {
        ngx_log_error!(
            NGX_LOG_INFO,
            ws.socket.log(),
            "websocket: send timed out, dropping the connection"
        );
        return ws.finish(Finish::Drop);
    }
    ws.drive();
}

impl WsConn {
    fn stash_early_input(&mut self, bytes: &[u8]) {
        // nginx's header buffers can hold more than the frame buffer
        // (`large_client_header_buffers`): what does not fit waits in
        // `early` (the header buffers are freed when the connection leaves
        // its request).
        let n = self.lend().push_input(bytes);
        self.early = bytes[n..].to_vec();
    }

    /// The connection's buffer, lent if it has none.
    fn lend(&mut self) -> &mut FrameBuffer {
        let tls = self.socket.is_tls();
        let fresh = self.buf.is_none();
        let buf = buffers::lend(&mut self.buf);
        if fresh {
            // Over TLS every segment is a record and a system call: join
            // frames up to a record's size.
            buf.set_compact_max(if tls {
                16 * 1024
            } else {
                ngx_websocket_codec::buffer::DEFAULT_COMPACT_MAX
            });
        }
        buf
    }

    /// Gives a message's compression state back to the worker's pool.
    fn release_deflate(&mut self) {
        if let Some(pipeline) = self.deflate.as_deref_mut() {
            buffers::with_deflate_pool(|pool| pipeline.abort(pool));
        }
    }

    /// Moves early bytes into the buffer; true if any moved.
    fn refill_from_early(&mut self) -> bool {
        let early = core::mem::take(&mut self.early);
        let n = self.lend().push_input(&early);
        if n < early.len() {
            self.early = early[n..].to_vec();
        }
        n > 0
    }

    fn on_idle_timeout(&mut self) {
        if self.buf.as_ref().is_some_and(|b| b.has_output()) {
            // Waiting on the peer to read, not to write: the write timer decides.
            return;
        }
        if let Some(pipeline) = self.deflate.as_deref_mut() {
            // A compressed message the peer left unfinished keeps only its
            // decompressor while the peer is quiet.
            let (session, buf) = (&mut self.session, buffers::lend(&mut self.buf));
            if buffers::with_deflate_pool(|pool| pipeline.park(session, buf, pool)).is_err() {
                self.server_close(codes::INTERNAL_ERROR, "compression failed");
            }
        }
        if !self.ping_sent {
            self.ping_sent = true;
            let (session, buf) = (&mut self.session, buffers::lend(&mut self.buf));
            buf.queue_ping(session, b"");
        } else {
            ngx_log_error!(
                NGX_LOG_INFO,
                self.socket.log(),
                "websocket: peer idle, closing"
            );
            self.server_close(codes::GOING_AWAY, "idle timeout");
        }
    }

    /// Send our close frame now, or as soon as the buffer has room.
    fn server_close(&mut self, code: u16, reason: &'static str) {
        if self.session.close_sent().is_none() {
            self.close_wanted = Some((code, reason));
        }
    }

    /// Queue a close we owe, when there is room for it.
    fn queue_wanted_close(&mut self) -> bool {
        let Some((code, reason)) = self.close_wanted else {
            return false;
        };
        let queued = {
            let session = &mut self.session;
            let buf = buffers::lend(&mut self.buf);
            buf.queue_close(session, Some(code), reason)
        };
        if queued || self.session.close_sent().is_some() {
            self.close_wanted = None;
            if queued {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    self.socket.log(),
                    "websocket: closing with {}: {}",
                    code,
                    reason
                );
            }
        }
        queued
    }

    /// Who closed first, from the session's state.
    fn note_closer(&mut self) {
        if self.closed_by != ClosedBy::Nobody {
            return;
        }
        self.closed_by = match (self.session.close_sent(), self.session.close_received()) {
            (None, None) => return,
            (Some(_), None) => ClosedBy::Server,
            // Both at once: ours answered theirs (a close of ours sent
            // earlier was noted then).
            (_, Some(_)) => ClosedBy::Client,
        };
    }

    fn has_output(&self) -> bool {
        self.buf.as_ref().is_some_and(|b| b.has_output())
    }

    /// Send what the buffer holds; false if the peer is gone.
    fn flush(&mut self) -> Result<bool, ()> {
        let socket = self.socket;
        let Some(buf) = self.buf.as_deref_mut() else {
            return Ok(false);
        };
        if !buf.has_output() || socket.nginx_buffered() || !socket.write_ready() {
            return Ok(false);
        }
        match socket.send(buf.segments()) {
            Io::Done(sent) => {
                buf.sent(sent);
                Ok(sent > 0)
            }
            Io::WouldBlock => Ok(false),
            Io::Closed => Err(()),
        }
    }

    /// Flush, read and process until nothing moves, then re-arm.
    fn drive(&mut self) {
        let mut received = false;
        let mut sent = false;
        loop {
            let mut progressed = false;

            // 1. nginx's own pending bytes (the 101) go first; once they are
            // out, the request is no longer needed.
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

            // 2. Send.
            match self.flush() {
                Ok(true) => {
                    progressed = true;
                    sent = true;
                }
                Ok(false) => {}
                Err(()) => return self.finish(Finish::PeerGone),
            }
            if self.close_wanted.is_some() && self.queue_wanted_close() {
                progressed = true;
            }
            self.note_closer();

            // 3. Closing: once our close frame is out, wait for the peer's,
            // then end.
            if self.session.close_sent().is_some()
                && !self.has_output()
                && !self.socket.nginx_buffered()
            {
                if self.session.is_closed() || self.peer_eof || !self.linger.enabled {
                    self.log_failure();
                    return self.finish(Finish::Graceful);
                }
                if self.phase == Phase::Open {
                    self.start_close_wait();
                }
            }

            // 4. Read, while the session decodes and the buffer has room.
            if self.session.is_receiving() && !self.peer_eof {
                if !self.early.is_empty() {
                    if self.lend().has_room_for_event() {
                        progressed |= self.refill_from_early();
                        received = true;
                    }
                } else if self.socket.read_ready() {
                    let socket = self.socket;
                    let space = self.lend().read_space();
                    if !space.is_empty() {
                        match socket.recv(space) {
                            Io::Done(n) => {
                                self.lend().commit_read(n);
                                progressed = true;
                                received = true;
                            }
                            Io::WouldBlock => {}
                            Io::Closed => self.peer_eof = true,
                        }
                    }
                }
            }

            // 5. Process what we have into frames to send (a compressed
            // message may also be waiting for output room).
            let busy = self.deflate.is_some();
            if busy || self.buf.as_ref().is_some_and(|b| b.input_len() > 0) {
                if let (Some(agreement), None) = (self.agreement, &self.deflate) {
                    // Made when bytes arrive, dropped again between
                    // messages unless it keeps streams (context takeover):
                    // an idle connection holds only the agreement.
                    let params = deflate_params(self.conf(), &agreement);
                    self.deflate = Some(Box::new(Pipeline::new(params)));
                }
                let (session, buf) = (&mut self.session, buffers::lend(&mut self.buf));
                let p = match (self.endpoint, self.deflate.as_deref_mut()) {
                    (EndpointKind::Echo, None) => crate::echo::process(session, buf, None),
                    (EndpointKind::Echo, Some(pipeline)) => buffers::with_deflate_pool(|pool| {
                        crate::echo::process(session, buf, Some((pipeline, pool)))
                    }),
                };
                if self
                    .deflate
                    .as_ref()
                    .is_some_and(|d| !d.is_busy() && !d.holds_memory())
                {
                    self.deflate = None;
                }
                progressed |= p.consumed > 0 || p.events > 0;
            }

            if self.peer_eof && !self.has_output() {
                // Half-closed and everything we owed was sent.
                self.note_closer();
                let how = if self.session.close_sent().is_some() {
                    Finish::Graceful
                } else {
                    Finish::PeerGone
                };
                self.log_failure();
                return self.finish(how);
            }
            if !progressed {
                break;
            }
        }

        if self.buf.as_ref().is_some_and(|b| b.is_empty()) {
            buffers::release(&mut self.buf);
        }
        self.rearm(received, sent);
    }

    fn rearm(&mut self, received: bool, sent: bool) {
        if !self.socket.arm() {
            return self.finish(Finish::Drop);
        }
        let (rev, wev) = (self.socket.read_event(), self.socket.write_event());
        if self.has_output() || self.socket.nginx_buffered() {
            // A send must keep making progress within the timeout.
            if sent || !timer_set(wev) {
                set_timer(wev, self.conf().timeout());
            }
        } else {
            clear_timer(wev);
        }
        if self.phase == Phase::CloseWait {
            if received || !timer_set(rev) {
                self.set_close_wait_timer();
            }
            return;
        }
        if received {
            self.ping_sent = false;
        }
        if received || !timer_set(rev) {
            let ms = if self.ping_sent {
                self.conf().timeout()
            } else {
                self.conf().ping_interval()
            };
            set_timer(rev, ms);
        }
    }

    /// Our close frame is out and the peer's has not come: keep decoding
    /// (to complete the closing handshake) within nginx's lingering limits,
    /// and tell a plain-TCP peer we are done writing.
    fn start_close_wait(&mut self) {
        self.phase = Phase::CloseWait;
        // SAFETY: a plain read of nginx's flag.
        if unsafe { ngx_exiting } != 0 {
            // A shutting-down worker waits for this: give a peer time to
            // answer the close, not nginx's full lingering limits.
            self.linger.time = self.linger.time.min(EXITING_LINGER_MS);
            self.linger.timeout = self.linger.timeout.min(EXITING_LINGER_MS);
        }
        // SAFETY: as above.
        self.linger.deadline = unsafe { ngx_current_msec }.wrapping_add(self.linger.time);
        if !self.socket.is_tls() {
            close::half_close(self.socket);
        }
        self.set_close_wait_timer();
    }

    fn set_close_wait_timer(&mut self) {
        // SAFETY: as above.
        let now = unsafe { ngx_current_msec };
        let left = self.linger.deadline.wrapping_sub(now) as ngx::ffi::ngx_msec_int_t;
        let ms = if left <= 0 {
            1
        } else {
            (left as ngx_msec_t).min(self.linger.timeout)
        };
        set_timer(self.socket.read_event(), ms);
    }

    /// Logs a protocol error of the peer (at `info`: the client's fault).
    fn log_failure(&self) {
        let Some(f) = self.session.failure() else {
            return;
        };
        let log = self.socket.log();
        match f.reason {
            "frame too big after inflation" => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "websocket: client sent a compressed frame that inflates past websocket_max_payload_len ({} bytes), closing with 1009",
                    self.conf().max_payload_len()
                );
            }
            "message too big after inflation" => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "websocket: client sent a compressed message that inflates past websocket_max_message_len ({} bytes), closing with 1009",
                    self.conf().max_message_len()
                );
            }
            "frame too big" => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "websocket: client sent a frame of {} bytes, over websocket_max_payload_len, closing with 1009",
                    f.frame_len
                );
            }
            "message too big" => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "websocket: client sent a message of more than {} bytes (websocket_max_message_len), closing with 1009",
                    self.conf().max_message_len()
                );
            }
            reason => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "websocket: closing with {}: {}",
                    f.code,
                    reason
                );
            }
        }
    }

    /// Frees the HTTP request once the 101 is out, as nginx's keepalive
    /// does for an idle connection, keeping a [`RequestRecord`] for the
    /// access log line written when the WebSocket ends. This state moves to
    /// the connection (its `data`, and a cleanup on its pool). Returns false
    /// if that cleanup cannot be allocated (the request is then still
    /// attached).
    fn detach(&mut self) -> bool {
        let (r, c) = (self.r, self.socket.c);
        let this: *mut WsConn = self;
        // SAFETY: `r` is our live request and `c` its connection; nothing of
        // nginx's still runs on the request (its content phase ended with
        // NGX_DONE and we hold the only reference count).
        unsafe {
            let cln = ngx_pool_cleanup_add((*c).pool, 0);
            if cln.is_null() {
                return false;
            }
            self.record = Some(RequestRecord::capture(r));
            (*self.request_cleanup).handler = None;
            self.request_cleanup = ptr::null_mut();
            (*cln).handler = Some(drop_conn);
            (*cln).data = this.cast();

            *(*r).ctx.add(crate::module().ctx_index) = ptr::null_mut();
            request::free_request(r);
            self.r = ptr::null_mut();

            (*c).data = this.cast();
            (*(*c).read).handler = Some(on_read_event::<true>);
            (*(*c).write).handler = Some(on_write_event::<true>);
        }
        true
    }

    /// Ends the connection. `self` must not be used afterwards: nginx may free it.
    fn finish(&mut self, how: Finish) {
        self.note_closer();
        self.socket.set_idle(false);
        self.finished = true;
        if self.r.is_null() {
            return self.finish_detached(how);
        }
        close::finish_attached(self.r, self.socket.c, how);
    }

    fn finish_detached(&mut self, how: Finish) {
        // The access log line, while the connection (and its TLS state) is
        // still whole.
        if let Some(record) = self.record.take() {
            let this: *mut WsConn = self;
            // SAFETY: a detached connection and its record; `this` is the
            // module's state for the variables.
            unsafe { record.log(self.socket.c, this.cast()) };
        }
        buffers::release(&mut self.buf);
        self.release_deflate();
        self.early = Vec::new();
        close::finish_detached(self, how);
    }
}
