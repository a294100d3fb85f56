//! The content handler of WebSocket locations: validates the upgrade
//! request, checks its `Origin` against `websocket_origins`, chooses a
//! subprotocol from `websocket_protocols`, answers `101 Switching
//! Protocols` (with the permessage-deflate answer when the location
//! compresses and the client offered it), and hands the connection to [`crate::engine`] with the
//! location's endpoint.
//!
//! Refusals return the HTTP status to nginx, so `error_page` and the access
//! log treat them like any other error; the reason goes to the error log at
//! `info` level (the client's mistake, not the server's).

use core::ptr;

use ngx::ffi::{
    ngx_http_complex_value, ngx_http_request_t, ngx_int_t, ngx_list_push, ngx_pnalloc, ngx_str_t,
    ngx_table_elt_t, ngx_uint_t, NGX_ERROR, NGX_HTTP_BAD_REQUEST, NGX_HTTP_FLUSH,
    NGX_HTTP_FORBIDDEN, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LAST, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, Request};
use ngx::ngx_log_error;
use ngx_websocket_codec::deflate::offer::MAX_ANSWER_LEN;
use ngx_websocket_codec::deflate::{negotiate, Agreement};
use ngx_websocket_codec::handshake::{origin_matches, RequestLine, UpgradeRequest};

use crate::config::{Module, Origin};
use crate::engine;

const HTTP_UPGRADE_REQUIRED: ngx_uint_t = 426;

/// Longest part of a refused `Origin` that goes to the error log.
const LOGGED_ORIGIN_MAX: usize = 256;

/// Content handler of every WebSocket location (`websocket_echo`).
pub extern "C" fn websocket_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with a valid request.
    let request = unsafe { Request::from_ngx_http_request(r) };
    // SAFETY: as above; only plain fields of the request are read.
    let (line, is_main) = unsafe {
        let rr = &*r;
        let has_body = rr.headers_in.content_length_n > 0
            || !rr.headers_in.transfer_encoding.is_null()
            || rr.headers_in.chunked() != 0;
        (
            RequestLine {
                method: rr.method_name.as_bytes(),
                http_version: rr.http_version as u32,
                has_body,
                is_subrequest: rr.main != r,
            },
            rr.main == r,
        )
    };

    let mut upgrade = UpgradeRequest::new();
    for (name, value) in request.headers_in_iterator() {
        upgrade.header(name.as_bytes(), value.as_bytes());
    }

    let accept = match upgrade.check(&line) {
        Ok(accept) => accept,
        Err(refusal) => {
            ngx_log_error!(
                NGX_LOG_INFO,
                request.log(),
                "websocket: upgrade refused with {}: {}",
                refusal.status,
                refusal.reason
            );
            if ngx_uint_t::from(refusal.status) == HTTP_UPGRADE_REQUIRED && is_main {
                // SAFETY: `r` is a valid main request whose header is not sent yet.
                return unsafe { send_upgrade_required(r) };
            }
            return refusal.status as ngx_int_t;
        }
    };

    let Some(conf) = <Module as HttpModuleLocationConf>::location_conf(request) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let Some(endpoint) = conf.endpoint else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };

    // Cross-Site WebSocket Hijacking: a browser page of another site must
    // not open this endpoint with the user's cookies. Only browsers send
    // Origin, so a request without one is not refused.
    if let (Some(list), Some(origin)) = (conf.origins(), upgrade.origin()) {
        // SAFETY: `r` is a valid request; complex values are evaluated in its pool.
        match unsafe { origin_allowed(r, list, origin) } {
            Ok(true) => {}
            Ok(false) => {
                let shown = &origin[..origin.len().min(LOGGED_ORIGIN_MAX)];
                ngx_log_error!(
                    NGX_LOG_INFO,
                    request.log(),
                    "websocket: upgrade refused with 403: origin \"{}\" is not in websocket_origins",
                    shown.escape_ascii()
                );
                return NGX_HTTP_FORBIDDEN as ngx_int_t;
            }
            Err(()) => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        }
    }

    let protocols = conf.protocols();
    let chosen = protocols
        .iter()
        .position(|p| upgrade.offered_protocols().any(|o| o == &p[..]));
    if chosen.is_none() && conf.require_protocol() {
        ngx_log_error!(
            NGX_LOG_INFO,
            request.log(),
            "websocket: upgrade refused with 400: no subprotocol of websocket_protocols offered"
        );
        return NGX_HTTP_BAD_REQUEST as ngx_int_t;
    }
    let protocol = chosen.map(|i| &protocols[i][..]);

    // permessage-deflate: the first offer this location can honour; the
    // others are declined by not answering them.
    let deflate = conf
        .deflate
        .enabled()
        .then(|| negotiate(upgrade.extension_offers(), &conf.deflate.settings()))
        .flatten();

    // SAFETY: a valid main request (subrequests were refused above) whose
    // header has not been sent.
    let rc = unsafe { send_switching_protocols(r, &accept, protocol, deflate.as_ref()) };
    if rc == NGX_ERROR as ngx_int_t {
        return NGX_ERROR as ngx_int_t;
    }
    // SAFETY: the 101 is on its way; the connection is now ours.
    unsafe { engine::take_over(r, conf, endpoint, chosen.map(|i| i as u8), deflate) }
}

/// Whether `origin` is allowed by the location's `websocket_origins`.
///
/// # Safety
/// `r` must be a valid request.
unsafe fn origin_allowed(
    r: *mut ngx_http_request_t,
    list: &[Origin],
    origin: &[u8],
) -> Result<bool, ()> {
    for entry in list {
        let allowed = match entry {
            Origin::Literal(value) => origin_matches(value, origin),
            Origin::Complex(cv) => {
                let mut value = ngx_str_t {
                    len: 0,
                    data: ptr::null_mut(),
                };
                // SAFETY: `cv` was compiled into the configuration; the
                // value is allocated from the request pool.
                if unsafe { ngx_http_complex_value(r, *cv, &mut value) } != NGX_OK as ngx_int_t {
                    return Err(());
                }
                // An empty value (say, an unset variable) admits nothing.
                value.len > 0 && origin_matches(value.as_bytes(), origin)
            }
        };
        if allowed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Answers 426 with `Sec-WebSocket-Version: 13` itself: returning the status
/// to nginx would drop both the header and the reason phrase (nginx has no
/// built-in page or reason phrase for 426).
///
/// # Safety
/// `r` must be a valid main request whose header has not been sent.
unsafe fn send_upgrade_required(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: per the function contract.
    unsafe {
        (*r).headers_out.status = HTTP_UPGRADE_REQUIRED;
        (*r).headers_out.status_line = static_str(b"426 Upgrade Required");
        (*r).headers_out.content_length_n = 0;
        (*r).set_header_only(1);
        if push_header(r, b"Sec-WebSocket-Version", static_str(b"13")).is_err() {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        let rc = ngx::ffi::ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > 0 {
            return rc;
        }
        ngx::ffi::ngx_http_send_special(r, NGX_HTTP_LAST as ngx_uint_t)
    }
}

/// Sends `101 Switching Protocols` with the accept key and flushes it.
/// nginx's header filter adds `Connection: upgrade` itself for a 101.
///
/// # Safety
/// `r` must be a valid main request whose header has not been sent.
unsafe fn send_switching_protocols(
    r: *mut ngx_http_request_t,
    accept: &[u8; 28],
    protocol: Option<&[u8]>,
    deflate: Option<&Agreement>,
) -> ngx_int_t {
    // SAFETY: per the function contract; the values are copied into the
    // request pool so they outlive this call.
    unsafe {
        let Some(accept) = pool_str(r, accept) else {
            return NGX_ERROR as ngx_int_t;
        };
        let extensions = match deflate {
            Some(agreement) => {
                let mut text = [0u8; MAX_ANSWER_LEN];
                let n = agreement.write(&mut text);
                let Some(value) = pool_str(r, &text[..n]) else {
                    return NGX_ERROR as ngx_int_t;
                };
                Some(value)
            }
            None => None,
        };

        (*r).headers_out.status = 101;
        (*r).headers_out.status_line = static_str(b"101 Switching Protocols");
        (*r).headers_out.content_length_n = -1;
        (*r).set_keepalive(0);
        if push_header(r, b"Upgrade", static_str(b"websocket")).is_err()
            || push_header(r, b"Sec-WebSocket-Accept", accept).is_err()
        {
            return NGX_ERROR as ngx_int_t;
        }
        if let Some(protocol) = protocol {
            // The name lives in the configuration, which outlives the request.
            let value = ngx_str_t {
                len: protocol.len(),
                data: protocol.as_ptr().cast_mut(),
            };
            if push_header(r, b"Sec-WebSocket-Protocol", value).is_err() {
                return NGX_ERROR as ngx_int_t;
            }
        }
        if let Some(value) = extensions {
            if push_header(r, b"Sec-WebSocket-Extensions", value).is_err() {
                return NGX_ERROR as ngx_int_t;
            }
        }

        let rc = ngx::ffi::ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > 0 {
            return NGX_ERROR as ngx_int_t;
        }
        // A 101 has no body, so nothing else would push the header out of
        // the write filter's buffer.
        ngx::ffi::ngx_http_send_special(r, NGX_HTTP_FLUSH as ngx_uint_t)
    }
}

/// A copy of `bytes` in the request's pool.
///
/// # Safety
/// `r` must be a valid request.
unsafe fn pool_str(r: *mut ngx_http_request_t, bytes: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: per the function contract; the copy fits the allocation.
    unsafe {
        let data = ngx_pnalloc((*r).pool, bytes.len()).cast::<u8>();
        if data.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        Some(ngx_str_t {
            len: bytes.len(),
            data,
        })
    }
}

fn static_str(bytes: &'static [u8]) -> ngx_str_t {
    ngx_str_t {
        len: bytes.len(),
        data: bytes.as_ptr().cast_mut(),
    }
}

/// Appends a response header, initialising every field of the element
/// (including `next` on nginx >= 1.23, which filters may follow).
///
/// # Safety
/// `r` must be a valid request; `key` must be `'static`, `value` must live
/// as long as the request.
unsafe fn push_header(
    r: *mut ngx_http_request_t,
    key: &'static [u8],
    value: ngx_str_t,
) -> Result<(), ()> {
    // SAFETY: per the function contract; `ngx_list_push` returns an
    // uninitialised element of the right size (or NULL), which is fully
    // written before use.
    unsafe {
        let h = ngx_list_push(&mut (*r).headers_out.headers).cast::<ngx_table_elt_t>();
        if h.is_null() {
            return Err(());
        }
        ptr::write(
            h,
            ngx_table_elt_t {
                hash: 1,
                key: static_str(key),
                value,
                lowcase_key: ptr::null_mut(),
                #[cfg(ngx_1_23)]
                next: ptr::null_mut(),
            },
        );
        Ok(())
    }
}
