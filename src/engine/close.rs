//! The end of a connection: finalizing an attached request, or, for a
//! connection that left its request, TLS shutdown and lingering close done
//! the way nginx's `ngx_http_set_lingering_close` does them, without a
//! request: half-close, then discard input until the peer's EOF or
//! nginx's `lingering_time`/`lingering_timeout`, so that unread input
//! cannot turn the close into a reset.

use ngx::ffi::{
    ngx_connection_t, ngx_current_msec, ngx_event_t, ngx_exiting, ngx_handle_read_event,
    ngx_http_close_connection, ngx_http_finalize_request, ngx_http_request_t,
    ngx_http_run_posted_requests, ngx_int_t, ngx_msec_int_t, ngx_msec_t, NGX_DONE, NGX_HTTP_CLOSE,
    NGX_HTTP_LINGERING_BUFFER_SIZE, NGX_OK, SHUT_WR,
};

use super::socket::{clear_timer, set_timer, Io, Socket};
use super::{Finish, Phase, WsConn, EXITING_LINGER_MS};

/// Tell the peer we are done writing (FIN after our close frame).
pub(super) fn half_close(socket: Socket) {
    // SAFETY: `fd` is the connection's open socket; shutting down its write
    // side only affects this connection.
    unsafe {
        ngx::ffi::shutdown((*socket.c).fd, SHUT_WR as i32);
    }
}

/// Ends a connection that still has its request, through nginx.
pub(super) fn finish_attached(r: *mut ngx_http_request_t, c: *mut ngx_connection_t, how: Finish) {
    // SAFETY: `r` and `c` are live until the finalize call, which may
    // destroy the pool that owns the module's state (the caller touches
    // nothing of it afterwards). `c` stays valid memory (nginx's connection
    // array), and `ngx_http_run_posted_requests` returns at once once it is
    // destroyed. The request's module context still points at the state
    // while nginx logs the request, so the `$websocket_*` variables work;
    // nginx installs its own event handlers (lingering close) or closes the
    // connection, and ours do nothing once `finished` is set.
    unsafe {
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

/// Ends a detached connection: TLS shutdown and lingering after a clean
/// close, a plain close otherwise. Nothing of `ws` is used once the
/// connection is closed (its pool's cleanup drops it).
pub(super) fn finish_detached(ws: &mut WsConn, how: Finish) {
    let c = ws.socket.c;
    if how != Finish::Graceful || !ws.linger.enabled {
        #[cfg(ngx_feature = "ssl")]
        if how == Finish::Drop && ws.socket.is_tls() {
            // No close_notify to a peer we give up on.
            // SAFETY: `c` is our live connection.
            unsafe { (*c).set_error(1) };
        }
        // SAFETY: `c` is our live, detached connection.
        return unsafe { ngx_http_close_connection(c) };
    }
    if ws.phase != Phase::CloseWait {
        // SAFETY: a plain read of nginx's cached time and flag.
        unsafe {
            if ngx_exiting != 0 {
                ws.linger.time = ws.linger.time.min(EXITING_LINGER_MS);
                ws.linger.timeout = ws.linger.timeout.min(EXITING_LINGER_MS);
            }
            ws.linger.deadline = ngx_current_msec.wrapping_add(ws.linger.time);
        }
    }
    if ws.socket.is_tls() {
        return tls_shutdown(c);
    }
    start_lingering(ws);
}

/// Sends TLS's close_notify, keeping the TLS state for nginx's final
/// close, then lingers.
fn tls_shutdown(c: *mut ngx_connection_t) {
    #[cfg(ngx_feature = "ssl")]
    // SAFETY: `c` is a live TLS connection; with `shutdown_without_free`
    // nginx keeps its SSL object and switches `recv` to plain reads, as its
    // own lingering close does; on NGX_AGAIN it calls `handler` when done.
    unsafe {
        (*(*c).ssl).set_shutdown_without_free(1);
        match ngx::ffi::ngx_ssl_shutdown(c) {
            rc if rc == ngx::ffi::NGX_AGAIN as ngx_int_t => {
                (*(*c).ssl).handler = Some(after_tls_shutdown);
            }
            rc if rc == ngx::ffi::NGX_ERROR as ngx_int_t => ngx_http_close_connection(c),
            _ => after_tls_shutdown(c),
        }
    }
    #[cfg(not(ngx_feature = "ssl"))]
    // SAFETY: `c` is our live connection.
    unsafe {
        ngx_http_close_connection(c)
    }
}

#[cfg(ngx_feature = "ssl")]
unsafe extern "C" fn after_tls_shutdown(c: *mut ngx_connection_t) {
    // SAFETY: called for our detached connection, whose `data` is still
    // the module's state.
    unsafe {
        match (*c).data.cast::<WsConn>().as_mut() {
            Some(ws) => start_lingering(ws),
            None => ngx_http_close_connection(c),
        }
    }
}

/// Half-close and discard input until the peer's EOF or the limits.
fn start_lingering(ws: &mut WsConn) {
    let c = ws.socket.c;
    half_close(ws.socket);
    // SAFETY: `c` is our live connection; on failure it is closed and `ws`
    // (dropped with its pool) is not touched again.
    unsafe {
        let (rev, wev) = ((*c).read, (*c).write);
        clear_timer(wev);
        (*rev).handler = Some(on_linger_read);
        (*wev).handler = Some(on_linger_write);
        if ngx_handle_read_event(rev, 0) != NGX_OK as ngx_int_t {
            return ngx_http_close_connection(c);
        }
        let left = ws.linger.deadline.wrapping_sub(ngx_current_msec) as ngx_msec_int_t;
        if left <= 0 {
            return ngx_http_close_connection(c);
        }
        set_timer(rev, (left as ngx_msec_t).min(ws.linger.timeout));
        if (*rev).ready() != 0 {
            on_linger_read(rev);
        }
    }
}

/// Read handler while lingering: discard input until the peer's EOF or the
/// lingering limits, then close. nginx's `ngx_http_lingering_close_handler`,
/// without a request.
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
        set_timer(ev, (left as ngx_msec_t).min(ws.linger.timeout));
    }
}

unsafe extern "C" fn on_linger_write(_ev: *mut ngx_event_t) {}
