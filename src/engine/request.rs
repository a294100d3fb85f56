//! Leaving the HTTP request behind after the 101, and bringing back enough
//! of it when the WebSocket ends to write its access log line.
//!
//! An upgraded connection needs nothing of its request, whose pool, header
//! buffers and structure would be most of what an idle WebSocket costs. So
//! once the 101 is out the request is freed the way nginx's keepalive frees
//! one (without logging it), after copying into a [`RequestRecord`] what the
//! common log variables read: the request line and its parts, the URI, the
//! arguments, the host, the location's configuration, the start time, and
//! a few request headers ([`KEPT_HEADERS`]). When the connection ends, a
//! short-lived request is built from the record and freed at once, which
//! runs nginx's log phase: one access log line per WebSocket, written at
//! its end, with `$request_time` its lifetime, `$status` 101, `$bytes_sent`
//! everything sent on the connection and the `$websocket_*` variables.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;

use ngx::ffi::{
    ngx_connection_t, ngx_create_pool, ngx_http_connection_t, ngx_http_core_main_conf_t,
    ngx_http_core_module, ngx_http_core_srv_conf_t, ngx_http_free_request, ngx_http_max_module,
    ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t, ngx_list_init, ngx_list_push,
    ngx_msec_t, ngx_pcalloc, ngx_pfree, ngx_pnalloc, ngx_str_t, ngx_table_elt_t, ngx_uint_t,
    time_t, NGX_HTTP_MODULE, NGX_OK,
};

/// Request headers kept for the end-of-connection log line, with the
/// `headers_in` field each one also fills (so `$http_host`,
/// `$http_user_agent`, `$http_referer`, `$http_x_forwarded_for` work like in
/// a normal request). Other headers (cookies, tokens) are not kept: memory
/// per idle connection grows with what is kept.
pub const KEPT_HEADERS: [&str; 6] = [
    "Host",
    "User-Agent",
    "Referer",
    "Origin",
    "X-Forwarded-For",
    "X-Real-IP",
];

/// A string of the record: a range of `RequestRecord::strings` (strings
/// are cut to 64 KiB, more than nginx's header buffers hold by default).
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    at: u16,
    len: u16,
}

/// Strings of the record, in this order.
const REQUEST_LINE: usize = 0;
const METHOD_NAME: usize = 1;
const UNPARSED_URI: usize = 2;
const HTTP_PROTOCOL: usize = 3;
const URI: usize = 4;
const ARGS: usize = 5;
const EXTEN: usize = 6;
const SERVER: usize = 7;
const HEADERS: usize = 8;
const SPANS: usize = HEADERS + KEPT_HEADERS.len();

/// What the access log needs of a freed request. See the module docs.
pub struct RequestRecord {
    strings: Box<[u8]>,
    spans: [Span; SPANS],
    /// Bit `i` set: `KEPT_HEADERS[i]` was in the request.
    headers_present: u8,
    main_conf: *mut *mut c_void,
    srv_conf: *mut *mut c_void,
    loc_conf: *mut *mut c_void,
    http_connection: *mut ngx_http_connection_t,
    start_sec: time_t,
    start_msec: ngx_msec_t,
    request_length: i64,
    header_size: usize,
    method: ngx_uint_t,
    http_version: ngx_uint_t,
}

/// Bytes of `s` (empty for a NULL string).
///
/// # Safety
/// `s` must describe valid memory (or have `len == 0`).
unsafe fn bytes_of<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.len == 0 || s.data.is_null() {
        return &[];
    }
    // SAFETY: per the contract.
    unsafe { core::slice::from_raw_parts(s.data, s.len) }
}

impl RequestRecord {
    /// Copies what the log needs out of `r`.
    ///
    /// # Safety
    /// `r` must be a valid request whose header was parsed and whose 101
    /// was sent.
    pub unsafe fn capture(r: *mut ngx_http_request_t) -> Box<RequestRecord> {
        // SAFETY: per the contract every string below points into the
        // request's buffers or pool, alive for this call.
        unsafe {
            let rr = &*r;
            let line = bytes_of(&rr.request_line);
            let mut values: [&[u8]; SPANS] = [&[]; SPANS];
            values[REQUEST_LINE] = line;
            values[METHOD_NAME] = bytes_of(&rr.method_name);
            values[UNPARSED_URI] = bytes_of(&rr.unparsed_uri);
            values[HTTP_PROTOCOL] = bytes_of(&rr.http_protocol);
            values[URI] = bytes_of(&rr.uri);
            values[ARGS] = bytes_of(&rr.args);
            values[EXTEN] = bytes_of(&rr.exten);
            values[SERVER] = bytes_of(&rr.headers_in.server);
            let mut present = 0u8;
            let request = ngx::http::Request::from_ngx_http_request(r);
            for (name, value) in request.headers_in_iterator() {
                let name = name.as_bytes();
                if let Some(i) = KEPT_HEADERS
                    .iter()
                    .position(|k| k.as_bytes().eq_ignore_ascii_case(name))
                {
                    // The first of repeated headers, like nginx's own fields.
                    if present & (1 << i) == 0 {
                        present |= 1 << i;
                        values[HEADERS + i] = value.as_bytes();
                    }
                }
            }
            for v in values.iter_mut() {
                *v = &v[..v.len().min(usize::from(u16::MAX))];
            }
            let line = values[REQUEST_LINE];
            let mut strings = Vec::with_capacity(values.iter().map(|v| v.len()).sum());
            let mut spans = [Span::default(); SPANS];
            for (i, v) in values.iter().enumerate() {
                if strings.len() + v.len() > usize::from(u16::MAX) {
                    // Past 64 KiB in all: the rest is not kept.
                    break;
                }
                // Parts of the request line are kept as ranges of its copy.
                let inside = i != REQUEST_LINE
                    && !v.is_empty()
                    && line.as_ptr_range().contains(&v.as_ptr())
                    && v.as_ptr_range().end <= line.as_ptr_range().end;
                spans[i] = if inside {
                    Span {
                        at: v.as_ptr().offset_from(line.as_ptr()) as u16,
                        len: v.len() as u16,
                    }
                } else {
                    let at = strings.len() as u16;
                    strings.extend_from_slice(v);
                    Span {
                        at,
                        len: v.len() as u16,
                    }
                };
            }
            Box::new(RequestRecord {
                strings: strings.into_boxed_slice(),
                spans,
                headers_present: present,
                main_conf: rr.main_conf,
                srv_conf: rr.srv_conf,
                loc_conf: rr.loc_conf,
                http_connection: rr.http_connection,
                start_sec: rr.start_sec,
                start_msec: rr.start_msec,
                request_length: rr.request_length,
                header_size: rr.header_size,
                method: rr.method,
                http_version: rr.http_version,
            })
        }
    }

    /// A string of the record as an `ngx_str_t` (pointing into the record,
    /// which outlives the log request).
    fn str(&self, i: usize) -> ngx_str_t {
        let s = self.spans[i];
        let (at, len) = (usize::from(s.at), usize::from(s.len));
        match self.strings.get(at..at + len) {
            Some(b) if !b.is_empty() => ngx_str_t {
                len: b.len(),
                data: b.as_ptr().cast_mut(),
            },
            _ => ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            },
        }
    }

    /// Writes the access log line of the WebSocket on `c`: builds a request
    /// from the record and frees it at once (which runs the log phase).
    /// `ctx` becomes this module's request context, for the `$websocket_*`
    /// variables. Does nothing if memory runs out.
    ///
    /// # Safety
    /// `c` must be the live, detached connection the record was captured
    /// from; `ctx` the module's state for it.
    pub unsafe fn log(&self, c: *mut ngx_connection_t, ctx: *mut c_void) {
        // SAFETY: per the contract; the configuration pointers were valid
        // for the request and live as long as the cycle; everything else is
        // allocated from the new pool, which `ngx_http_free_request`
        // destroys.
        unsafe {
            let core = ngx_http_core_module.ctx_index;
            let cscf = (*self.srv_conf.add(core)).cast::<ngx_http_core_srv_conf_t>();
            let cmcf = (*self.main_conf.add(core)).cast::<ngx_http_core_main_conf_t>();
            let pool = ngx_create_pool((*cscf).request_pool_size, (*c).log);
            if pool.is_null() {
                return;
            }
            let r = ngx_pcalloc(pool, size_of::<ngx_http_request_t>()).cast::<ngx_http_request_t>();
            let modules = ngx_http_max_module;
            let ctxs = ngx_pcalloc(pool, size_of::<*mut c_void>() * modules).cast::<*mut c_void>();
            let nvars = (*cmcf).variables.nelts;
            let vars = ngx_pcalloc(pool, size_of::<ngx_http_variable_value_t>() * nvars.max(1))
                .cast::<ngx_http_variable_value_t>();
            if r.is_null()
                || ctxs.is_null()
                || vars.is_null()
                || ngx_list_init(
                    &mut (*r).headers_out.headers,
                    pool,
                    1,
                    size_of::<ngx_table_elt_t>(),
                ) != NGX_OK as ngx_int_t
                || ngx_list_init(
                    &mut (*r).headers_in.headers,
                    pool,
                    8,
                    size_of::<ngx_table_elt_t>(),
                ) != NGX_OK as ngx_int_t
            {
                ngx::ffi::ngx_destroy_pool(pool);
                return;
            }
            let rr = &mut *r;
            rr.pool = pool;
            rr.signature = NGX_HTTP_MODULE;
            rr.connection = c;
            rr.http_connection = self.http_connection;
            rr.main_conf = self.main_conf;
            rr.srv_conf = self.srv_conf;
            rr.loc_conf = self.loc_conf;
            rr.main = r;
            rr.set_count(1);
            rr.ctx = ctxs;
            *ctxs.add(crate::module().ctx_index) = ctx;
            rr.variables = vars;
            rr.start_sec = self.start_sec;
            rr.start_msec = self.start_msec;
            rr.method = self.method;
            rr.http_version = self.http_version;
            rr.request_length = self.request_length;
            rr.header_size = self.header_size;
            rr.headers_out.status = 101;
            rr.headers_out.content_length_n = -1;
            rr.headers_out.last_modified_time = -1;
            rr.headers_in.content_length_n = -1;
            rr.headers_in.keep_alive_n = -1;
            rr.request_line = self.str(REQUEST_LINE);
            rr.method_name = self.str(METHOD_NAME);
            rr.unparsed_uri = self.str(UNPARSED_URI);
            rr.http_protocol = self.str(HTTP_PROTOCOL);
            rr.uri = self.str(URI);
            rr.args = self.str(ARGS);
            rr.exten = self.str(EXTEN);
            rr.headers_in.server = self.str(SERVER);
            for (i, name) in KEPT_HEADERS.iter().enumerate() {
                if self.headers_present & (1 << i) != 0 {
                    self.push_header(r, i, name);
                }
            }
            ngx_http_free_request(r, 0);
            // As after nginx's keepalive: the connection lives on.
            (*c).set_destroyed(0);
        }
    }

    /// Adds kept header `i` to the log request's `headers_in`.
    ///
    /// # Safety
    /// `r` is the log request being built.
    unsafe fn push_header(&self, r: *mut ngx_http_request_t, i: usize, name: &'static str) {
        // SAFETY: per the contract; the element is fully written before use
        // and its strings outlive the request.
        unsafe {
            let h = ngx_list_push(&mut (*r).headers_in.headers).cast::<ngx_table_elt_t>();
            let lowcase = ngx_pnalloc((*r).pool, name.len()).cast::<u8>();
            if h.is_null() || lowcase.is_null() {
                return;
            }
            for (j, b) in name.bytes().enumerate() {
                *lowcase.add(j) = b.to_ascii_lowercase();
            }
            ptr::write(
                h,
                ngx_table_elt_t {
                    hash: 1,
                    key: ngx_str_t {
                        len: name.len(),
                        data: name.as_ptr().cast_mut(),
                    },
                    value: self.str(HEADERS + i),
                    lowcase_key: lowcase,
                    #[cfg(ngx_1_23)]
                    next: ptr::null_mut(),
                },
            );
            let hin = &mut (*r).headers_in;
            match name {
                "Host" => hin.host = h,
                "User-Agent" => hin.user_agent = h,
                "Referer" => hin.referer = h,
                "X-Real-IP" => hin.x_real_ip = h,
                "X-Forwarded-For" => set_x_forwarded_for(r, h),
                _ => {}
            }
        }
    }
}

/// `headers_in.x_forwarded_for`: a chain of elements from nginx 1.23, an
/// array of element pointers before.
///
/// # Safety
/// `r` is the log request being built, `h` one of its header elements.
unsafe fn set_x_forwarded_for(r: *mut ngx_http_request_t, h: *mut ngx_table_elt_t) {
    #[cfg(ngx_1_23)]
    // SAFETY: per the contract.
    unsafe {
        (*r).headers_in.x_forwarded_for = h;
    }
    #[cfg(not(ngx_1_23))]
    // SAFETY: per the contract; the array's one slot is allocated from the
    // request pool.
    unsafe {
        let slot = ngx_pnalloc((*r).pool, size_of::<*mut ngx_table_elt_t>())
            .cast::<*mut ngx_table_elt_t>();
        if slot.is_null() {
            return;
        }
        *slot = h;
        let a = &mut (*r).headers_in.x_forwarded_for;
        a.elts = slot.cast();
        a.nelts = 1;
        a.size = size_of::<*mut ngx_table_elt_t>();
        a.nalloc = 1;
        a.pool = (*r).pool;
    }
}

/// Frees `r` without logging it, keeping its connection (as nginx's
/// keepalive does), then the client header buffers.
///
/// # Safety
/// `r` must be the connection's only request, which nothing of nginx's uses
/// any more (its content phase ended with `NGX_DONE`, we hold its only
/// reference count), and whose 101 has been flushed.
pub unsafe fn free_request(r: *mut ngx_http_request_t) {
    // SAFETY: per the contract. After `ngx_http_free_request` only `c`, its
    // pool and `hc` (allocated from that pool) are touched.
    unsafe {
        let c = (*r).connection;
        let hc = (*r).http_connection;
        // The line is written when the WebSocket ends, from the record.
        (*r).set_logged(1);
        ngx_http_free_request(r, 0);
        (*c).set_destroyed(0);
        (*(*c).log).action = ptr::null_mut();
        free_header_buffers(c, hc);
        #[cfg(ngx_feature = "ssl")]
        if !(*c).ssl.is_null() {
            // nginx's 16 KiB TLS send buffer, allocated when the 101 went
            // out; nginx's keepalive gives it back the same way.
            ngx::ffi::ngx_ssl_free_buffer(c);
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
