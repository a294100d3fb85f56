//! Directives and the per-location configuration.
//!
//! Values are parsed with nginx's own time and size parsers, so `5s`, `1m`,
//! `64k` mean what they mean everywhere else in nginx; bad values, bad
//! origins, bad subprotocol names and contradictory settings fail at
//! `nginx -t` with the directive named in the message.

use core::ffi::{c_char, c_void, CStr};
use core::ptr;

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_log_error, ngx_conf_t, ngx_http_compile_complex_value,
    ngx_http_compile_complex_value_t, ngx_http_complex_value_t, ngx_http_module_t, ngx_msec_t,
    ngx_palloc, ngx_parse_offset, ngx_parse_time, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE,
    NGX_CONF_FLAG, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_OK,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::ngx_string;
use ngx_websocket_codec::handshake::{is_token, validate_origin};

/// Time a peer may stay silent before the server pings it, and time it has
/// to answer (see README: `websocket_timeout`).
pub const DEFAULT_TIMEOUT_MS: ngx_msec_t = 60_000;
/// Largest accepted frame payload. Frames are streamed, so this bounds what a
/// peer may send, not what a connection holds in memory.
pub const DEFAULT_MAX_PAYLOAD_LEN: u64 = 1024 * 1024;

/// The endpoint a location serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// `websocket_echo`.
    Echo,
}

/// One entry of `websocket_origins`.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A literal origin (or `*`, or `null`), checked at `nginx -t`.
    Literal(Box<[u8]>),
    /// A value with variables, evaluated per request (for example
    /// `$scheme://$host`); compiled into the configuration pool.
    Complex(*mut ngx_http_complex_value_t),
}

/// Per-location configuration. `None` means "not set at this level".
#[derive(Debug, Default, Clone)]
pub struct LocConf {
    pub endpoint: Option<EndpointKind>,
    pub timeout: Option<ngx_msec_t>,
    pub ping_interval: Option<ngx_msec_t>,
    pub max_payload_len: Option<u64>,
    /// `Some(u64::MAX)` for `off`.
    pub max_message_len: Option<u64>,
    pub protocols: Option<Box<[Box<[u8]>]>>,
    pub require_protocol: Option<bool>,
    pub origins: Option<Box<[Origin]>>,
    pub deflate: DeflateConf,
}

/// The `websocket_deflate*` directives of a level.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeflateConf {
    pub enabled: Option<bool>,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
    pub server_context_takeover: Option<bool>,
    pub client_context_takeover: Option<bool>,
    pub level: Option<u8>,
    pub mem_level: Option<u8>,
    pub min_length: Option<u64>,
}

/// Default compression level: the fastest, as `gzip_comp_level`'s default.
pub const DEFAULT_DEFLATE_LEVEL: u8 = 1;
/// Default zlib memory level of the compressor (docs/deflate.md).
pub const DEFAULT_DEFLATE_MEM_LEVEL: u8 = 8;
/// Default minimum length of a message sent compressed.
pub const DEFAULT_DEFLATE_MIN_LENGTH: u64 = 64;

impl DeflateConf {
    fn merge(&mut self, prev: &DeflateConf) {
        self.enabled = self.enabled.or(prev.enabled);
        self.server_max_window_bits = self.server_max_window_bits.or(prev.server_max_window_bits);
        self.client_max_window_bits = self.client_max_window_bits.or(prev.client_max_window_bits);
        self.server_context_takeover = self
            .server_context_takeover
            .or(prev.server_context_takeover);
        self.client_context_takeover = self
            .client_context_takeover
            .or(prev.client_context_takeover);
        self.level = self.level.or(prev.level);
        self.mem_level = self.mem_level.or(prev.mem_level);
        self.min_length = self.min_length.or(prev.min_length);
    }

    /// `websocket_deflate on`.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }

    /// The server's side of the negotiation.
    pub fn settings(&self) -> ngx_websocket_codec::deflate::Settings {
        ngx_websocket_codec::deflate::Settings {
            server_max_window_bits: self.server_max_window_bits.unwrap_or(15),
            client_max_window_bits: self.client_max_window_bits.unwrap_or(15),
            server_context_takeover: self.server_context_takeover.unwrap_or(false),
            client_context_takeover: self.client_context_takeover.unwrap_or(false),
        }
    }

    pub fn level(&self) -> u8 {
        self.level.unwrap_or(DEFAULT_DEFLATE_LEVEL)
    }

    pub fn mem_level(&self) -> u8 {
        self.mem_level.unwrap_or(DEFAULT_DEFLATE_MEM_LEVEL)
    }

    pub fn min_length(&self) -> usize {
        self.min_length.unwrap_or(DEFAULT_DEFLATE_MIN_LENGTH) as usize
    }
}

impl LocConf {
    pub fn timeout(&self) -> ngx_msec_t {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_MS)
    }

    /// Silence before a keepalive ping: `websocket_timeout` unless set.
    pub fn ping_interval(&self) -> ngx_msec_t {
        self.ping_interval.unwrap_or_else(|| self.timeout())
    }

    pub fn max_payload_len(&self) -> u64 {
        self.max_payload_len.unwrap_or(DEFAULT_MAX_PAYLOAD_LEN)
    }

    pub fn max_message_len(&self) -> u64 {
        self.max_message_len.unwrap_or(u64::MAX)
    }

    pub fn protocols(&self) -> &[Box<[u8]>] {
        self.protocols.as_deref().unwrap_or_default()
    }

    pub fn require_protocol(&self) -> bool {
        self.require_protocol.unwrap_or(false)
    }

    /// The allow-list, if the location has one.
    pub fn origins(&self) -> Option<&[Origin]> {
        self.origins.as_deref()
    }

    /// Inherit what this level does not set.
    fn merge(&mut self, prev: &LocConf) {
        // The endpoint is a handler of this location, not inherited.
        self.timeout = self.timeout.or(prev.timeout);
        self.ping_interval = self.ping_interval.or(prev.ping_interval);
        self.max_payload_len = self.max_payload_len.or(prev.max_payload_len);
        self.max_message_len = self.max_message_len.or(prev.max_message_len);
        if self.protocols.is_none() {
            self.protocols = prev.protocols.clone();
        }
        self.require_protocol = self.require_protocol.or(prev.require_protocol);
        if self.origins.is_none() {
            self.origins = prev.origins.clone();
        }
        self.deflate.merge(&prev.deflate);
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
    preconfiguration: Some(crate::variables::add_variables),
    postconfiguration: None,
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

const fn command(
    name: ngx_str_t,
    type_: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut COMMANDS: [ngx_command_t; 17] = [
    command(
        ngx_string!("websocket_echo"),
        NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
        set_echo,
    ),
    command(
        ngx_string!("websocket_timeout"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_timeout,
    ),
    command(
        ngx_string!("websocket_ping_interval"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_ping_interval,
    ),
    command(
        ngx_string!("websocket_max_payload_len"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_max_payload_len,
    ),
    command(
        ngx_string!("websocket_max_message_len"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_max_message_len,
    ),
    command(
        ngx_string!("websocket_protocols"),
        ANY_LEVEL | NGX_CONF_1MORE,
        set_protocols,
    ),
    command(
        ngx_string!("websocket_require_protocol"),
        ANY_LEVEL | NGX_CONF_FLAG,
        set_require_protocol,
    ),
    command(
        ngx_string!("websocket_origins"),
        ANY_LEVEL | NGX_CONF_1MORE,
        set_origins,
    ),
    command(
        ngx_string!("websocket_deflate"),
        ANY_LEVEL | NGX_CONF_FLAG,
        set_deflate,
    ),
    command(
        ngx_string!("websocket_deflate_server_max_window_bits"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_deflate_server_max_window_bits,
    ),
    command(
        ngx_string!("websocket_deflate_client_max_window_bits"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_deflate_client_max_window_bits,
    ),
    command(
        ngx_string!("websocket_deflate_server_context_takeover"),
        ANY_LEVEL | NGX_CONF_FLAG,
        set_deflate_server_context_takeover,
    ),
    command(
        ngx_string!("websocket_deflate_client_context_takeover"),
        ANY_LEVEL | NGX_CONF_FLAG,
        set_deflate_client_context_takeover,
    ),
    command(
        ngx_string!("websocket_deflate_level"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_deflate_level,
    ),
    command(
        ngx_string!("websocket_deflate_mem_level"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_deflate_mem_level,
    ),
    command(
        ngx_string!("websocket_deflate_min_length"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_deflate_min_length,
    ),
    ngx_command_t::empty(),
];

/// The directive's arguments after its name, and this module's
/// configuration at the current level.
///
/// # Safety
/// `cf` and `conf` must be the pointers nginx passes to a `set` handler of
/// this module's commands (so `conf` is a `LocConf`).
unsafe fn directive_args<'a>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
) -> (&'a mut LocConf, &'a [ngx_str_t]) {
    // SAFETY: guaranteed by the caller; nginx validated the argument count,
    // and `args` holds the directive name first.
    unsafe {
        let args: &[ngx_str_t] = (*(*cf).args).as_slice();
        (&mut *conf.cast::<LocConf>(), &args[1..])
    }
}

/// An error message in nginx's form: `"<directive>" directive <msg> in <file>:<line>`.
fn conf_error(msg: &'static CStr) -> *mut c_char {
    msg.as_ptr().cast_mut()
}

/// Logs `msg` (which names the directive itself) about argument `arg` at
/// `[emerg]` and fails the directive: `<what> "<arg>" in "<directive>"
/// directive: <why> in <file>:<line>`.
///
/// # Safety
/// `cf` must be the configuration being parsed.
unsafe fn conf_fail(cf: *mut ngx_conf_t, what: &CStr, arg: &ngx_str_t, why: &str) -> *mut c_char {
    let mut why_buf = [0u8; 128];
    let n = why.len().min(why_buf.len() - 1);
    why_buf[..n].copy_from_slice(&why.as_bytes()[..n]);
    // SAFETY: `cf` is valid per the contract; `%s` gets NUL-terminated
    // strings and `%V` an `ngx_str_t`, all alive for the call; the
    // directive name is the first argument.
    unsafe {
        let name: &ngx_str_t = &(*(*cf).args).as_slice()[0];
        ngx_conf_log_error(
            NGX_LOG_EMERG as ngx_uint_t,
            cf,
            0,
            c"%s \"%V\" in \"%V\" directive: %s".as_ptr(),
            what.as_ptr(),
            ptr::from_ref(arg),
            ptr::from_ref(name),
            why_buf.as_ptr(),
        );
    }
    NGX_CONF_ERROR
}

extern "C" fn set_echo(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with a valid `cf` and this module's `LocConf`.
    let conf = unsafe { &mut *conf.cast::<LocConf>() };
    if conf.endpoint.is_some() {
        return conf_error(c"is duplicate");
    }
    conf.endpoint = Some(EndpointKind::Echo);

    // SAFETY: `cf` is valid while the directive is parsed; in a location
    // context the core module's location configuration always exists.
    let Some(clcf) = NgxHttpCoreModule::location_conf_mut(unsafe { &*cf }) else {
        return NGX_CONF_ERROR;
    };
    clcf.handler = Some(crate::handler::websocket_handler);
    NGX_CONF_OK
}

/// A positive nginx time value, or the directive's error message.
fn parse_positive_time(value: &ngx_str_t) -> Result<ngx_msec_t, &'static CStr> {
    let mut value = *value;
    // SAFETY: `value` points into the configuration buffer; the parser only reads it.
    let ms = unsafe { ngx_parse_time(&mut value, 0) };
    if ms < 0 {
        return Err(c"has an invalid time value (expected e.g. 30s, 5m, 500ms)");
    }
    if ms == 0 {
        return Err(c"must be greater than zero");
    }
    Ok(ms as ngx_msec_t)
}

/// An nginx size value, or the directive's error message.
fn parse_size(value: &ngx_str_t) -> Result<u64, &'static CStr> {
    let mut value = *value;
    // SAFETY: as above, a read-only parse of the argument.
    let size = unsafe { ngx_parse_offset(&mut value) };
    if size < 0 {
        return Err(c"has an invalid size (expected e.g. 65536, 64k, 16m)");
    }
    Ok(size as u64)
}

/// Stores a one-argument setting parsed by `parse`, refusing duplicates.
fn set_once<T>(
    slot: &mut Option<T>,
    value: &ngx_str_t,
    parse: impl FnOnce(&ngx_str_t) -> Result<T, &'static CStr>,
) -> *mut c_char {
    if slot.is_some() {
        return conf_error(c"is duplicate");
    }
    match parse(value) {
        Ok(v) => {
            *slot = Some(v);
            NGX_CONF_OK
        }
        Err(msg) => conf_error(msg),
    }
}

extern "C" fn set_timeout(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    set_once(&mut conf.timeout, &args[0], parse_positive_time)
}

extern "C" fn set_ping_interval(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    set_once(&mut conf.ping_interval, &args[0], parse_positive_time)
}

extern "C" fn set_max_payload_len(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    set_once(&mut conf.max_payload_len, &args[0], parse_size)
}

extern "C" fn set_max_message_len(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a TAKE1 directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    set_once(&mut conf.max_message_len, &args[0], |v| {
        if v.as_bytes() == b"off" {
            Ok(u64::MAX)
        } else {
            parse_size(v)
        }
    })
}

extern "C" fn set_require_protocol(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a FLAG directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    set_once(&mut conf.require_protocol, &args[0], parse_flag)
}

/// `on` or `off`.
fn parse_flag(value: &ngx_str_t) -> Result<bool, &'static CStr> {
    match value.as_bytes() {
        b"on" => Ok(true),
        b"off" => Ok(false),
        _ => Err(c"must be \"on\" or \"off\""),
    }
}

/// A whole number from `lo` to `hi`.
fn parse_small(value: &ngx_str_t, lo: u8, hi: u8, msg: &'static CStr) -> Result<u8, &'static CStr> {
    let bytes = value.as_bytes();
    let n = match bytes {
        [d @ b'0'..=b'9'] => d - b'0',
        [b'1', d @ b'0'..=b'9'] => 10 + d - b'0',
        _ => return Err(msg),
    };
    if n < lo || n > hi {
        return Err(msg);
    }
    Ok(n)
}

/// The `set` handler of a one-argument `websocket_deflate*` directive:
/// `$field` of the level's [`DeflateConf`], parsed by `$parse`.
macro_rules! deflate_setter {
    ($name:ident, $field:ident, $parse:expr) => {
        extern "C" fn $name(
            cf: *mut ngx_conf_t,
            _cmd: *mut ngx_command_t,
            conf: *mut c_void,
        ) -> *mut c_char {
            // SAFETY: a one-argument directive of this module; see `directive_args`.
            let (conf, args) = unsafe { directive_args(cf, conf) };
            set_once(&mut conf.deflate.$field, &args[0], $parse)
        }
    };
}

const WINDOW_BITS_RANGE: &CStr =
    c"must be a window size from 9 to 15 bits (zlib cannot compress with 8)";
deflate_setter!(set_deflate, enabled, parse_flag);
deflate_setter!(
    set_deflate_server_max_window_bits,
    server_max_window_bits,
    |v| parse_small(v, 9, 15, WINDOW_BITS_RANGE)
);
deflate_setter!(
    set_deflate_client_max_window_bits,
    client_max_window_bits,
    |v| parse_small(v, 9, 15, WINDOW_BITS_RANGE)
);
deflate_setter!(
    set_deflate_server_context_takeover,
    server_context_takeover,
    parse_flag
);
deflate_setter!(
    set_deflate_client_context_takeover,
    client_context_takeover,
    parse_flag
);
deflate_setter!(set_deflate_level, level, |v| parse_small(
    v,
    1,
    9,
    c"must be a compression level from 1 to 9"
));
deflate_setter!(set_deflate_mem_level, mem_level, |v| parse_small(
    v,
    1,
    9,
    c"must be a memory level from 1 to 9"
));
deflate_setter!(set_deflate_min_length, min_length, |v| {
    let n = parse_size(v)?;
    if n > ngx_websocket_codec::deflate::SCRATCH as u64 {
        return Err(c"must be at most 16k");
    }
    Ok(n)
});

extern "C" fn set_protocols(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a 1MORE directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    if conf.protocols.is_some() {
        return conf_error(c"is duplicate");
    }
    let mut list: Vec<Box<[u8]>> = Vec::with_capacity(args.len());
    for arg in args {
        let name = arg.as_bytes();
        if !is_token(name) {
            // SAFETY: `cf` is the configuration being parsed.
            return unsafe {
                conf_fail(
                    cf,
                    c"invalid subprotocol",
                    arg,
                    "a subprotocol is a token (letters, digits and !#$%&'*+-.^_`|~)",
                )
            };
        }
        if list.iter().any(|p| &p[..] == name) {
            // SAFETY: as above.
            return unsafe { conf_fail(cf, c"duplicate subprotocol", arg, "listed twice") };
        }
        list.push(name.into());
    }
    conf.protocols = Some(list.into_boxed_slice());
    NGX_CONF_OK
}

extern "C" fn set_origins(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: a 1MORE directive of this module; see `directive_args`.
    let (conf, args) = unsafe { directive_args(cf, conf) };
    if conf.origins.is_some() {
        return conf_error(c"is duplicate");
    }
    let mut list = Vec::with_capacity(args.len());
    for arg in args {
        let bytes = arg.as_bytes();
        if bytes.contains(&b'$') {
            // SAFETY: `cf` is the configuration being parsed.
            match unsafe { compile_complex(cf, arg) } {
                Some(cv) => list.push(Origin::Complex(cv)),
                None => return NGX_CONF_ERROR,
            }
            continue;
        }
        if let Err(why) = validate_origin(bytes) {
            // SAFETY: as above.
            return unsafe { conf_fail(cf, c"invalid origin", arg, why) };
        }
        list.push(Origin::Literal(bytes.into()));
    }
    conf.origins = Some(list.into_boxed_slice());
    NGX_CONF_OK
}

/// Compiles a value with variables into the configuration pool; nginx logs
/// its own error (unknown variable, bad syntax) on failure.
///
/// # Safety
/// `cf` must be the configuration being parsed; `value` points into it.
unsafe fn compile_complex(
    cf: *mut ngx_conf_t,
    value: &ngx_str_t,
) -> Option<*mut ngx_http_complex_value_t> {
    // SAFETY: per the contract; the structure nginx fills is allocated from
    // the configuration pool, which lives as long as the configuration.
    unsafe {
        let cv = ngx_palloc((*cf).pool, core::mem::size_of::<ngx_http_complex_value_t>())
            .cast::<ngx_http_complex_value_t>();
        if cv.is_null() {
            return None;
        }
        ptr::write_bytes(cv, 0, 1);
        let mut value = *value;
        let mut ccv: ngx_http_compile_complex_value_t = core::mem::zeroed();
        ccv.cf = cf;
        ccv.value = &mut value;
        ccv.complex_value = cv;
        (ngx_http_compile_complex_value(&mut ccv) == NGX_OK as isize).then_some(cv)
    }
}

/// Merges a location's configuration with the level above, then checks
/// settings that only make sense together.
unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes this module's two `LocConf`s of adjacent levels.
    let (prev, conf) = unsafe { (&*prev.cast::<LocConf>(), &mut *conf.cast::<LocConf>()) };
    conf.merge(prev);
    if conf.endpoint.is_some() && conf.require_protocol() && conf.protocols().is_empty() {
        // SAFETY: `cf` is the configuration being merged.
        unsafe {
            ngx_conf_log_error(
                NGX_LOG_EMERG as ngx_uint_t,
                cf,
                0,
                c"\"websocket_require_protocol on\" needs \"websocket_protocols\" in this location or above"
                    .as_ptr(),
            );
        }
        return NGX_CONF_ERROR;
    }
    NGX_CONF_OK
}
