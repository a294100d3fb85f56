//! Directives: `websocket_echo`, `websocket_timeout`, `websocket_max_payload_len`.
//!
//! Values are parsed with nginx's own time and size parsers, so `5s`, `1m`,
//! `64k` mean what they mean everywhere else in nginx; bad values fail at
//! `nginx -t` with the directive named in the message.

use core::ffi::{c_char, c_void, CStr};
use core::ptr;

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_module_t, ngx_msec_t, ngx_parse_offset, ngx_parse_time,
    ngx_str_t, ngx_uint_t, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF,
    NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, Merge, MergeConfigError, NgxHttpCoreModule};
use ngx::ngx_string;

/// Idle time before the server pings a silent peer (and again before it gives up).
pub const DEFAULT_TIMEOUT_MS: ngx_msec_t = 60_000;
/// Largest accepted frame payload. Frames are streamed, so this bounds what a
/// peer may send, not what a connection holds in memory.
pub const DEFAULT_MAX_PAYLOAD_LEN: u64 = 1024 * 1024;

/// Per-location configuration. `None` means "not set at this level".
#[derive(Debug, Default, Clone)]
pub struct LocConf {
    pub echo: bool,
    pub timeout: Option<ngx_msec_t>,
    pub max_payload_len: Option<u64>,
}

impl LocConf {
    pub fn timeout(&self) -> ngx_msec_t {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    pub fn max_payload_len(&self) -> u64 {
        self.max_payload_len.unwrap_or(DEFAULT_MAX_PAYLOAD_LEN)
    }
}

impl Merge for LocConf {
    fn merge(&mut self, prev: &LocConf) -> Result<(), MergeConfigError> {
        // `websocket_echo` is a handler, not an inherited setting.
        self.timeout = self.timeout.or(prev.timeout);
        self.max_payload_len = self.max_payload_len.or(prev.max_payload_len);
        Ok(())
    }
}

pub struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx::ffi::ngx_module_t {
        crate::module()
    }
}

// SAFETY: `LocConf` is the type that `create_loc_conf` allocates for this module.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocConf;
}

pub static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: None,
    postconfiguration: None,
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(Module::merge_loc_conf),
};

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

pub static mut COMMANDS: [ngx_command_t; 4] = [
    ngx_command_t {
        name: ngx_string!("websocket_echo"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(set_echo),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("websocket_timeout"),
        type_: (ANY_LEVEL | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_timeout),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("websocket_max_payload_len"),
        type_: (ANY_LEVEL | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_max_payload_len),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

/// The directive's first argument and this module's configuration at the current level.
///
/// # Safety
/// `cf` and `conf` must be the pointers nginx passes to a `set` handler of
/// this module's commands (so `conf` is a `LocConf`), and the directive must
/// take one argument.
unsafe fn directive_args<'a>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
) -> (&'a mut LocConf, &'a ngx_str_t) {
    // SAFETY: guaranteed by the caller; nginx validated the argument count.
    unsafe {
        let args: &[ngx_str_t] = (*(*cf).args).as_slice();
        (&mut *conf.cast::<LocConf>(), &args[1])
    }
}

/// An error message in nginx's form: `"<directive>" directive <msg> in <file>:<line>`.
fn conf_error(msg: &'static CStr) -> *mut c_char {
    msg.as_ptr().cast_mut()
}

extern "C" fn set_echo(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with a valid `cf` and this module's `LocConf`.
    let conf = unsafe { &mut *conf.cast::<LocConf>() };
    if conf.echo {
        return conf_error(c"is duplicate");
    }
    conf.echo = true;

    // SAFETY: `cf` is valid while the directive is parsed; in a location
    // context the core module's location configuration always exists.
    let Some(clcf) = NgxHttpCoreModule::location_conf_mut(unsafe { &*cf }) else {
        return NGX_CONF_ERROR;
    };
    clcf.handler = Some(crate::handler::websocket_echo_handler);
    NGX_CONF_OK
}

extern "C" fn set_timeout(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, value) = unsafe { directive_args(cf, conf) };
    if conf.timeout.is_some() {
        return conf_error(c"is duplicate");
    }
    let mut value = *value;
    // SAFETY: `value` points into the configuration buffer; the parser only reads it.
    let ms = unsafe { ngx_parse_time(&mut value, 0) };
    if ms < 0 {
        return conf_error(c"has an invalid time value (expected e.g. 30s, 5m, 500ms)");
    }
    if ms == 0 {
        return conf_error(c"must be greater than zero");
    }
    conf.timeout = Some(ms as ngx_msec_t);
    NGX_CONF_OK
}

extern "C" fn set_max_payload_len(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, value) = unsafe { directive_args(cf, conf) };
    if conf.max_payload_len.is_some() {
        return conf_error(c"is duplicate");
    }
    let mut value = *value;
    // SAFETY: as above, a read-only parse of the argument.
    let size = unsafe { ngx_parse_offset(&mut value) };
    if size < 0 {
        return conf_error(c"has an invalid size (expected e.g. 65536, 64k, 16m)");
    }
    conf.max_payload_len = Some(size as u64);
    NGX_CONF_OK
}
