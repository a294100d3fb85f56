//! The `$websocket_*` variables, for `log_format` (and anything else that
//! evaluates variables). They describe the WebSocket of the request, so
//! they are meant for the access log line written when it ends; before the
//! upgrade (or in a location without WebSocket) they are not found (`-`).

use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t,
    ngx_pnalloc, ngx_str_t, ngx_uint_t, NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE, NGX_OK,
};
use ngx::ngx_string;

use crate::engine::{conn_of_request, ClosedBy, LogValues};
use ngx_websocket_codec::deflate::offer::MAX_ANSWER_LEN;

/// What a variable reports.
#[derive(Clone, Copy)]
enum Var {
    ClosedBy,
    CloseSent,
    CloseReceived,
    MessagesIn,
    MessagesOut,
    FramesIn,
    FramesOut,
    BytesIn,
    BytesOut,
    Duration,
    Protocol,
    Extensions,
}

const VARIABLES: [(ngx_str_t, Var); 12] = [
    (ngx_string!("websocket_closed_by"), Var::ClosedBy),
    (ngx_string!("websocket_close_sent"), Var::CloseSent),
    (ngx_string!("websocket_close_received"), Var::CloseReceived),
    (ngx_string!("websocket_messages_in"), Var::MessagesIn),
    (ngx_string!("websocket_messages_out"), Var::MessagesOut),
    (ngx_string!("websocket_frames_in"), Var::FramesIn),
    (ngx_string!("websocket_frames_out"), Var::FramesOut),
    (ngx_string!("websocket_bytes_in"), Var::BytesIn),
    (ngx_string!("websocket_bytes_out"), Var::BytesOut),
    (ngx_string!("websocket_duration"), Var::Duration),
    (ngx_string!("websocket_protocol"), Var::Protocol),
    (ngx_string!("websocket_extensions"), Var::Extensions),
];

/// The module's `preconfiguration`: registers the variables.
pub unsafe extern "C" fn add_variables(cf: *mut ngx_conf_t) -> ngx_int_t {
    for (i, (name, _)) in VARIABLES.iter().enumerate() {
        let mut name = *name;
        // SAFETY: `cf` is the configuration being read; nginx copies nothing
        // of `name` but keeps the pointer to its static bytes.
        let v =
            unsafe { ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t) };
        if v.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        // SAFETY: `v` is the variable nginx just created for us.
        unsafe {
            (*v).get_handler = Some(get_variable);
            (*v).data = i;
        }
    }
    NGX_OK as ngx_int_t
}

/// A small stack buffer that numbers are formatted into.
struct Text {
    bytes: [u8; MAX_ANSWER_LEN],
    len: usize,
}

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The text of a variable for a connection's values: formatted into
/// `out`, or borrowed; `None` when there is nothing to report.
fn render<'a>(var: Var, v: &LogValues<'a>, out: &'a mut Text) -> Option<&'a [u8]> {
    use core::fmt::Write as _;
    let n = match var {
        Var::ClosedBy => {
            return Some(match v.closed_by {
                ClosedBy::Client => b"client",
                ClosedBy::Server => b"server",
                ClosedBy::Nobody => b"dropped",
            })
        }
        Var::Protocol => return v.protocol,
        Var::Extensions => {
            let mut answer = [0u8; MAX_ANSWER_LEN];
            let n = v.extensions?.write(&mut answer);
            out.bytes[..n].copy_from_slice(&answer[..n]);
            return Some(&out.bytes[..n]);
        }
        Var::Duration => {
            // Seconds with milliseconds, like $request_time.
            let ms = v.duration_ms;
            write!(out, "{}.{:03}", ms / 1000, ms % 1000).ok()?;
            return Some(&out.bytes[..out.len]);
        }
        Var::CloseSent => u64::from(v.close_sent?),
        Var::CloseReceived => u64::from(v.close_received?),
        Var::MessagesIn => v.stats.messages_in,
        Var::MessagesOut => v.stats.messages_out,
        Var::FramesIn => v.stats.frames_in,
        Var::FramesOut => v.stats.frames_out,
        Var::BytesIn => v.stats.bytes_in,
        Var::BytesOut => v.stats.bytes_out,
    };
    write!(out, "{n}").ok()?;
    Some(&out.bytes[..out.len])
}

unsafe extern "C" fn get_variable(
    r: *mut ngx_http_request_t,
    value: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request and value slot.
    let value = unsafe { &mut *value };
    let Some((_, var)) = VARIABLES.get(data) else {
        value.set_not_found(1);
        return NGX_OK as ngx_int_t;
    };
    // SAFETY: `r` is valid; the context slot holds our state or NULL.
    let Some(ws) = (unsafe { conn_of_request(r) }) else {
        value.set_not_found(1);
        return NGX_OK as ngx_int_t;
    };
    let values = ws.log_values();
    let mut scratch = Text {
        bytes: [0; MAX_ANSWER_LEN],
        len: 0,
    };
    let Some(text) = render(*var, &values, &mut scratch) else {
        value.set_not_found(1);
        return NGX_OK as ngx_int_t;
    };
    // SAFETY: the copy lives in the request pool, as long as the value.
    let data = unsafe { ngx_pnalloc((*r).pool, text.len().max(1)) }.cast::<u8>();
    if data.is_null() {
        return NGX_ERROR as ngx_int_t;
    }
    // SAFETY: `data` has room for `text`.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), data, text.len()) };
    value.set_len(text.len() as u32);
    value.set_valid(1);
    value.set_no_cacheable(1);
    value.set_not_found(0);
    value.data = data;
    NGX_OK as ngx_int_t
}
