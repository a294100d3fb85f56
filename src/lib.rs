//! ngx-websocket: WebSocket (RFC 6455) endpoints served inside nginx's event loop.
//!
//! The crate is the nginx glue only; everything protocol-shaped lives in the
//! `ngx-websocket-codec` workspace crate, which knows nothing of nginx.
//!
//! - [`config`]: directives, their parsing and merging, module registration data;
//! - [`handler`]: the content handler that validates the upgrade (origin,
//!   subprotocol) and answers 101;
//! - [`engine`]: the connection after the 101, for every endpoint: the codec
//!   on nginx's non-blocking reads and writes, timers, closing, logging;
//! - [`echo`]: the `websocket_echo` endpoint;
//! - [`variables`]: the `$websocket_*` log variables.
//!
//! `unsafe` is confined to this crate, at the points where nginx structures are
//! read or written; each block carries a `// SAFETY:` line.

mod config;
mod echo;
mod engine;
mod handler;
mod variables;

use ngx::ffi::{ngx_module_t, NGX_HTTP_MODULE};

// The `ngx_modules` table lets nginx's `load_module` find the module in a
// cdylib built by cargo. nginx's own build (`config`) generates it instead.
#[cfg(feature = "export-modules")]
ngx::ngx_modules!(ngx_http_websocket_module);

/// The module object nginx looks up by name.
#[used]
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "export-modules"), no_mangle)]
pub static mut ngx_http_websocket_module: ngx_module_t = ngx_module_t {
    ctx: &raw const config::MODULE_CTX as _,
    commands: &raw mut config::COMMANDS as _,
    type_: NGX_HTTP_MODULE as _,
    ..ngx_module_t::default()
};

/// Shared, read-only reference to the module object.
pub(crate) fn module() -> &'static ngx_module_t {
    // SAFETY: nginx writes the module's indices only while loading the
    // configuration, before any request runs; afterwards it is read-only.
    unsafe { &*core::ptr::addr_of!(ngx_http_websocket_module) }
}
