//! Client side of the WebSocket opening handshake (RFC 6455 section 4.1),
//! for a reverse proxy that opens WebSocket connections to upstream servers:
//! [`ClientRequest`] writes the upgrade request into the caller's buffer and
//! [`parse_response`] checks the server's answer.
//!
//! The response parser keeps no state between calls: the caller passes
//! everything received so far, and gets `Ok(None)` until the header is
//! complete. Rescanning is cheap because the header is bounded by
//! [`MAX_RESPONSE_HEADER`] and usually arrives in one read. A line that can
//! never become valid is refused as soon as its LF arrives, and a non-101
//! status as soon as the status line is complete, so a broken or refusing
//! upstream is not waited on.
//!
//! Both directions are strict. The request refuses, rather than cleans up,
//! anything that would not be sent byte for byte as given: a CR, LF or NUL
//! in a value would let whoever controls it inject headers, and a value
//! with leading or trailing whitespace would lose it to the server's OWS
//! trimming. The response must be well-formed HTTP/1.1 (no obs-fold, no
//! bare LF, token names, no control bytes in values) and must answer
//! exactly what was offered, because a proxy that let through a
//! subprotocol or extension it did not ask for would then relay frames
//! neither end understands.

use crate::handshake::{accept_key, has_token, is_token, trim_ows};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use core::fmt;

/// The longest response header [`parse_response`] waits for: 16 KiB,
/// counted from the status line to the blank line's LF inclusive.
///
/// A real 101 answer is a few hundred bytes. The limit is twice nginx's
/// largest default `proxy_buffer_size`, leaving room for big cookies,
/// while bounding both the buffer the caller must keep and the cost of
/// rescanning it on every read.
pub const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// Request headers the handshake writes itself, or that would change how
/// the request is framed; callers may not add them (compared ASCII
/// case-insensitively).
const RESERVED: [&[u8]; 9] = [
    b"host",
    b"upgrade",
    b"connection",
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-protocol",
    b"sec-websocket-extensions",
    b"content-length",
    b"transfer-encoding",
];

/// A byte allowed inside a field value (RFC 7230 3.2: HTAB, SP, VCHAR,
/// obs-text); excludes NUL, CR, LF, the other controls and DEL.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7E).contains(&b) || b >= 0x80
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A value that the server will read back exactly: field bytes only and
/// no whitespace at either end (it would be taken as OWS). May be empty.
fn is_exact_value(v: &[u8]) -> bool {
    v.iter().all(|&b| is_field_byte(b)) && trim_ows(v).len() == v.len()
}

/// The extension names of a `Sec-WebSocket-Extensions` value: for each
/// comma-separated element, the part before its first `;`, OWS-trimmed.
/// Empty elements yield empty names.
fn extension_names(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|e| trim_ows(e.split(|&b| b == b';').next().unwrap_or_default()))
}

/// The `Sec-WebSocket-Key` header value for a raw 16-byte nonce.
fn encode_key(key: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    // 16 bytes always encode to 22 characters plus "=="; checked only in
    // debug builds, like `accept_key`.
    let written = STANDARD.encode_slice(key, &mut out);
    debug_assert_eq!(written, Ok(24));
    out
}

/// The `Sec-WebSocket-Accept` value a server must answer to a request
/// whose `Sec-WebSocket-Key` carries the base64 of `key`.
pub fn expected_accept(key: &[u8; 16]) -> [u8; 28] {
    accept_key(&encode_key(key))
}

/// An upgrade request to write (RFC 6455 4.1). All byte strings are sent
/// as given after validation; nothing is escaped or trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    /// `Host` header value, e.g. `b"example.com:8080"`: visible ASCII only.
    pub host: &'a [u8],
    /// Request target in origin form, e.g. `b"/chat?room=1"`: starts with
    /// `/`, no controls, spaces, DEL or `#` (a fragment is never sent,
    /// RFC 6455 3). Bytes from 0x80 up are passed through.
    pub path: &'a [u8],
    /// The raw random nonce; the header carries its base64. Take it from a
    /// secure generator such as [`crate::keys::KeyStream::fill`].
    pub key: [u8; 16],
    /// Offered subprotocols in preference order, sent as one
    /// `Sec-WebSocket-Protocol: a, b` header, omitted when empty. Each must
    /// be a token, and unique.
    pub protocols: &'a [&'a [u8]],
    /// A raw `Sec-WebSocket-Extensions` value to offer, e.g.
    /// `b"permessage-deflate; client_max_window_bits"`. Each
    /// comma-separated element must start with a token (its name).
    pub extensions: Option<&'a [u8]>,
    /// Extra headers such as Cookie, Authorization or X-Forwarded-For,
    /// written in order after the handshake's own. Names must be tokens
    /// and not one of the handshake's headers (Host, Upgrade, Connection,
    /// the Sec-WebSocket-* ones, Content-Length, Transfer-Encoding); values
    /// may be empty.
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// Why a [`ClientRequest`] cannot be written. Rules are checked in the
/// order of the variants (and of the items within each list), and the
/// first one that fails is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// `path` is empty.
    EmptyPath,
    /// `path` does not start with `/`.
    PathNotAbsolute,
    /// `path` holds a byte up to 0x20 (controls, space), DEL or `#`.
    PathByte,
    /// `host` is empty.
    EmptyHost,
    /// `host` holds a byte outside visible ASCII (0x21 to 0x7E).
    HostByte,
    /// `protocols[index]` is not a token.
    ProtocolName {
        /// Index in `protocols`.
        index: usize,
    },
    /// `protocols[index]` repeats an earlier entry (RFC 6455 4.1 wants
    /// them unique).
    DuplicateProtocol {
        /// Index in `protocols` of the repeat.
        index: usize,
    },
    /// `extensions` is empty, has a byte not allowed in a header value or
    /// whitespace at either end, or an element whose name is not a token.
    Extensions,
    /// `headers[index]` has a name that is not a token.
    HeaderName {
        /// Index in `headers`.
        index: usize,
    },
    /// `headers[index]` is one of the handshake's own headers.
    ReservedHeader {
        /// Index in `headers`.
        index: usize,
    },
    /// `headers[index]` has a value with CR, LF, NUL or another control
    /// byte, or with whitespace at either end.
    HeaderValue {
        /// Index in `headers`.
        index: usize,
    },
    /// The request would be longer than `usize::MAX` bytes.
    TooLong,
    /// `out` is shorter than the request.
    BufferTooSmall {
        /// Bytes the request needs.
        needed: usize,
    },
}

impl RequestError {
    /// Short English text for the error log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EmptyPath => "empty request path",
            Self::PathNotAbsolute => "request path does not start with \"/\"",
            Self::PathByte => "request path contains a control byte, space, DEL or \"#\"",
            Self::EmptyHost => "empty Host",
            Self::HostByte => "Host contains a byte other than visible ASCII",
            Self::ProtocolName { .. } => "offered subprotocol is not a token",
            Self::DuplicateProtocol { .. } => "subprotocol offered twice",
            Self::Extensions => "malformed Sec-WebSocket-Extensions offer",
            Self::HeaderName { .. } => "extra header name is not a token",
            Self::ReservedHeader { .. } => "extra header is one the handshake sets itself",
            Self::HeaderValue { .. } => {
                "extra header value contains CR, LF, NUL or another control byte, \
                 or starts or ends with whitespace"
            }
            Self::TooLong => "handshake request too long",
            Self::BufferTooSmall { .. } => "buffer too small for the handshake request",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProtocolName { index }
            | Self::DuplicateProtocol { index }
            | Self::HeaderName { index }
            | Self::ReservedHeader { index }
            | Self::HeaderValue { index } => write!(f, "{} (#{index})", self.reason()),
            Self::BufferTooSmall { needed } => write!(f, "{} ({needed} bytes)", self.reason()),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for RequestError {}

impl<'a> ClientRequest<'a> {
    /// Check every rule, in the order of [`RequestError`]'s variants.
    fn validate(&self) -> Result<(), RequestError> {
        match self.path {
            [] => return Err(RequestError::EmptyPath),
            [first, ..] if *first != b'/' => return Err(RequestError::PathNotAbsolute),
            p if p.iter().any(|&b| b <= 0x20 || b == 0x7F || b == b'#') => {
                return Err(RequestError::PathByte)
            }
            _ => {}
        }
        if self.host.is_empty() {
            return Err(RequestError::EmptyHost);
        }
        if !self.host.iter().all(|b| (0x21..=0x7E).contains(b)) {
            return Err(RequestError::HostByte);
        }
        for (index, p) in self.protocols.iter().enumerate() {
            if !is_token(p) {
                return Err(RequestError::ProtocolName { index });
            }
            if self.protocols[..index].contains(p) {
                return Err(RequestError::DuplicateProtocol { index });
            }
        }
        if let Some(e) = self.extensions {
            if e.is_empty() || !is_exact_value(e) || !extension_names(e).all(is_token) {
                return Err(RequestError::Extensions);
            }
        }
        for (index, (name, value)) in self.headers.iter().enumerate() {
            if !is_token(name) {
                return Err(RequestError::HeaderName { index });
            }
            if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                return Err(RequestError::ReservedHeader { index });
            }
            if !is_exact_value(value) {
                return Err(RequestError::HeaderValue { index });
            }
        }
        Ok(())
    }

    /// Pass the request's bytes to `put`, piece by piece.
    fn emit(&self, mut put: impl FnMut(&[u8])) {
        put(b"GET ");
        put(self.path);
        put(b" HTTP/1.1\r\nHost: ");
        put(self.host);
        put(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        put(&encode_key(&self.key));
        put(b"\r\nSec-WebSocket-Version: 13\r\n");
        if let Some((first, rest)) = self.protocols.split_first() {
            put(b"Sec-WebSocket-Protocol: ");
            put(first);
            for p in rest {
                put(b", ");
                put(p);
            }
            put(b"\r\n");
        }
        if let Some(e) = self.extensions {
            put(b"Sec-WebSocket-Extensions: ");
            put(e);
            put(b"\r\n");
        }
        for (name, value) in self.headers {
            put(name);
            put(b": ");
            put(value);
            put(b"\r\n");
        }
        put(b"\r\n");
    }

    /// The exact length [`write`](Self::write) needs, after checking every
    /// rule.
    pub fn encoded_len(&self) -> Result<usize, RequestError> {
        self.validate()?;
        let mut len = Some(0usize);
        self.emit(|b| len = len.and_then(|l| l.checked_add(b.len())));
        len.ok_or(RequestError::TooLong)
    }

    /// Write the request to the front of `out` and return its length:
    /// `GET <path> HTTP/1.1`, then Host, Upgrade, Connection,
    /// Sec-WebSocket-Key, Sec-WebSocket-Version, the offered protocols and
    /// extensions if any, the extra headers, and the blank line. Nothing is
    /// written unless the whole request fits.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RequestError> {
        let needed = self.encoded_len()?;
        if out.len() < needed {
            return Err(RequestError::BufferTooSmall { needed });
        }
        let mut pos = 0usize;
        self.emit(|b| {
            let end = pos.saturating_add(b.len());
            // Always in bounds: `needed` bytes fit and the pieces add up to
            // exactly that.
            if let Some(dst) = out.get_mut(pos..end) {
                dst.copy_from_slice(b);
            }
            pos = end;
        });
        Ok(pos)
    }

    /// What [`parse_response`] needs to check the answer to this request.
    pub fn offer(&self) -> Offer<'a> {
        Offer::new(&self.key, self.protocols, self.extensions)
    }
}

/// What the request offered, for checking the response: computed once per
/// connection so that repeated [`parse_response`] calls do not hash again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// The `Sec-WebSocket-Accept` value the server must send
    /// ([`expected_accept`] of the key).
    pub accept: [u8; 28],
    /// The offered subprotocols; the server may pick one of them, or none.
    pub protocols: &'a [&'a [u8]],
    /// The offered `Sec-WebSocket-Extensions` value, `None` if none was
    /// sent. The extension names are read from it: the token before the
    /// first `;` of each comma-separated element.
    pub extensions: Option<&'a [u8]>,
}

impl<'a> Offer<'a> {
    /// The offer of a request with this key, protocols and extensions.
    pub fn new(
        key: &[u8; 16],
        protocols: &'a [&'a [u8]],
        extensions: Option<&'a [u8]>,
    ) -> Offer<'a> {
        Offer {
            accept: expected_accept(key),
            protocols,
            extensions,
        }
    }

    /// True if `name` is a token and the name of an offered extension
    /// (exact, case-sensitive comparison).
    fn offers_extension(&self, name: &[u8]) -> bool {
        is_token(name)
            && self
                .extensions
                .is_some_and(|offered| extension_names(offered).any(|n| n == name))
    }
}

/// A response that completes the handshake. Borrows from the buffer given
/// to [`parse_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<'b> {
    /// Length of the response header including its final CRLF CRLF. Bytes
    /// after it are already WebSocket frames, the caller's to process.
    pub header_len: usize,
    /// The subprotocol the server chose (one of the offered), OWS-trimmed.
    pub protocol: Option<&'b [u8]>,
    /// The `Sec-WebSocket-Extensions` value the server answered,
    /// OWS-trimmed; every extension it names was offered. Parameters are
    /// the caller's to check.
    pub extensions: Option<&'b [u8]>,
}

/// Why a response does not complete the handshake. Apart from
/// [`Status`](Self::Status), each means the upstream is not a usable
/// WebSocket server for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// No complete header within the limit ([`MAX_RESPONSE_HEADER`]).
    TooLong,
    /// The first line is not `HTTP/d.d ddd`, optionally followed by a space
    /// and a reason phrase of field bytes.
    StatusLine,
    /// A well-formed status line, but not HTTP/1.1 or a later HTTP/1.x;
    /// checked before the status code, so an HTTP/1.0 refusal is this too.
    HttpVersion,
    /// A status other than 101: the server refused the upgrade. Reported as
    /// soon as the status line is complete; the caller may pass the answer
    /// through (401, 403, 404...).
    Status {
        /// The three-digit status code.
        code: u16,
        /// Where the header ends (after the first CRLF CRLF), if that is
        /// already in the buffer and within the limit.
        header_len: Option<usize>,
    },
    /// A line ends in LF without CR.
    BareLf,
    /// A header line starts with a space or tab (obsolete line folding,
    /// RFC 7230 3.2.4).
    ObsFold,
    /// A header line has no colon.
    MissingColon,
    /// A header line starts with its colon.
    EmptyName,
    /// A header name is not a token (this includes space before the colon).
    NameNotToken,
    /// A header value holds NUL, CR or another control byte.
    ValueByte,
    /// No `Upgrade` header carries the token `websocket`.
    Upgrade,
    /// No `Connection` header carries the token `upgrade`.
    Connection,
    /// No `Sec-WebSocket-Accept` header.
    AcceptMissing,
    /// More than one `Sec-WebSocket-Accept` header (RFC 6455 11.3.3).
    AcceptRepeated,
    /// `Sec-WebSocket-Accept` does not match the key.
    AcceptMismatch,
    /// More than one `Sec-WebSocket-Protocol` header (RFC 6455 11.3.4).
    ProtocolRepeated,
    /// A `Sec-WebSocket-Protocol` header although none was offered.
    ProtocolUnrequested,
    /// `Sec-WebSocket-Protocol` is not exactly one of the offered tokens.
    ProtocolNotOffered,
    /// More than one `Sec-WebSocket-Extensions` header (RFC 6455 11.3.2).
    ExtensionsRepeated,
    /// A `Sec-WebSocket-Extensions` header although none was offered.
    ExtensionsUnrequested,
    /// `Sec-WebSocket-Extensions` names an extension that was not offered
    /// (or has an empty element).
    ExtensionNotOffered,
}

impl ResponseError {
    /// Short English text for the error log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLong => "upstream handshake response header too long",
            Self::StatusLine => "malformed status line in upstream handshake response",
            Self::HttpVersion => "upstream handshake response is not HTTP/1.1",
            Self::Status { .. } => "upstream did not answer 101 Switching Protocols",
            Self::BareLf => "bare LF in upstream handshake response",
            Self::ObsFold => "folded header line in upstream handshake response",
            Self::MissingColon => "header line without colon in upstream handshake response",
            Self::EmptyName => "empty header name in upstream handshake response",
            Self::NameNotToken => "invalid header name in upstream handshake response",
            Self::ValueByte => "control byte in a header value of upstream handshake response",
            Self::Upgrade => "upstream response lacks \"Upgrade: websocket\"",
            Self::Connection => "upstream response lacks \"Connection: upgrade\"",
            Self::AcceptMissing => "upstream response lacks Sec-WebSocket-Accept",
            Self::AcceptRepeated => "upstream response repeats Sec-WebSocket-Accept",
            Self::AcceptMismatch => "upstream Sec-WebSocket-Accept does not match the key",
            Self::ProtocolRepeated => "upstream response repeats Sec-WebSocket-Protocol",
            Self::ProtocolUnrequested => "upstream chose a subprotocol although none was offered",
            Self::ProtocolNotOffered => "upstream chose a subprotocol that was not offered",
            Self::ExtensionsRepeated => "upstream response repeats Sec-WebSocket-Extensions",
            Self::ExtensionsUnrequested => {
                "upstream answered extensions although none were offered"
            }
            Self::ExtensionNotOffered => "upstream accepted an extension that was not offered",
        }
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { code, .. } => write!(f, "{} (status {code})", self.reason()),
            _ => f.write_str(self.reason()),
        }
    }
}

impl std::error::Error for ResponseError {}

/// CRLF-terminated lines of a header, front to back.
struct Lines<'b> {
    buf: &'b [u8],
    /// Start of the next line.
    pos: usize,
}

impl<'b> Lines<'b> {
    /// The next complete line without its CRLF; `Ok(None)` if its LF has not
    /// arrived.
    fn next_line(&mut self) -> Result<Option<&'b [u8]>, ResponseError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let Some((b'\r', line)) = rest[..lf].split_last() else {
            return Err(ResponseError::BareLf);
        };
        self.pos += lf + 1;
        Ok(Some(line))
    }
}

/// The status code of a status line (without its CRLF).
fn status_code(line: &[u8]) -> Result<u16, ResponseError> {
    let (version, rest) = line.split_at(line.len().min(8));
    let (code, reason) = rest.split_at(rest.len().min(4));
    let digits = match (version, code) {
        ([b'H', b'T', b'T', b'P', b'/', major, b'.', minor], [b' ', c @ ..])
            if major.is_ascii_digit()
                && minor.is_ascii_digit()
                && c.len() == 3
                && c.iter().all(u8::is_ascii_digit) =>
        {
            (*major, *minor, [c[0], c[1], c[2]])
        }
        _ => return Err(ResponseError::StatusLine),
    };
    match reason {
        [] => {}
        [b' ', phrase @ ..] if phrase.iter().all(|&b| is_field_byte(b)) => {}
        _ => return Err(ResponseError::StatusLine),
    }
    let (major, minor, [a, b, c]) = digits;
    if major != b'1' || minor == b'0' {
        return Err(ResponseError::HttpVersion);
    }
    Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
}

/// A header line split into name and OWS-trimmed value, or the rule it
/// breaks (checked in this order).
fn header_field(line: &[u8]) -> Result<(&[u8], &[u8]), ResponseError> {
    if line.first().is_some_and(|&b| is_ows(b)) {
        return Err(ResponseError::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ResponseError::MissingColon)?;
    let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
    if name.is_empty() {
        return Err(ResponseError::EmptyName);
    }
    if !is_token(name) {
        return Err(ResponseError::NameNotToken);
    }
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(ResponseError::ValueByte);
    }
    Ok((name, value))
}

/// The headers of a 101 response that the checks look at.
#[derive(Default)]
struct Seen<'b> {
    upgrade: bool,
    connection: bool,
    accept: Option<&'b [u8]>,
    accept_repeated: bool,
    protocol: Option<&'b [u8]>,
    protocol_repeated: bool,
    extensions: Option<&'b [u8]>,
    extensions_repeated: bool,
}

/// Record `value` in `slot`, or note that the header is repeated.
fn once<'b>(slot: &mut Option<&'b [u8]>, repeated: &mut bool, value: &'b [u8]) {
    if slot.is_some() {
        *repeated = true;
    } else {
        *slot = Some(value);
    }
}

impl<'b> Seen<'b> {
    fn header(&mut self, name: &[u8], value: &'b [u8]) {
        if name.eq_ignore_ascii_case(b"upgrade") {
            self.upgrade |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            self.connection |= has_token(value, b"upgrade");
        } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
            once(&mut self.accept, &mut self.accept_repeated, value);
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            once(&mut self.protocol, &mut self.protocol_repeated, value);
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            once(&mut self.extensions, &mut self.extensions_repeated, value);
        }
    }

    /// The checks that need the whole header, in the order of
    /// [`ResponseError`]'s variants.
    fn finish(self, offer: &Offer<'_>, header_len: usize) -> Result<Accepted<'b>, ResponseError> {
        use ResponseError as E;
        if !self.upgrade {
            return Err(E::Upgrade);
        }
        if !self.connection {
            return Err(E::Connection);
        }
        match self.accept {
            None => return Err(E::AcceptMissing),
            Some(_) if self.accept_repeated => return Err(E::AcceptRepeated),
            Some(a) if a != offer.accept => return Err(E::AcceptMismatch),
            Some(_) => {}
        }
        if let Some(p) = self.protocol {
            if self.protocol_repeated {
                return Err(E::ProtocolRepeated);
            }
            if offer.protocols.is_empty() {
                return Err(E::ProtocolUnrequested);
            }
            if !is_token(p) || !offer.protocols.contains(&p) {
                return Err(E::ProtocolNotOffered);
            }
        }
        if let Some(e) = self.extensions {
            if self.extensions_repeated {
                return Err(E::ExtensionsRepeated);
            }
            if offer.extensions.is_none() {
                return Err(E::ExtensionsUnrequested);
            }
            if !extension_names(e).all(|n| offer.offers_extension(n)) {
                return Err(E::ExtensionNotOffered);
            }
        }
        Ok(Accepted {
            header_len,
            protocol: self.protocol,
            extensions: self.extensions,
        })
    }
}

/// Check the server's answer to the handshake, given every byte received
/// so far (RFC 6455 4.1, from "If the status code received from the
/// server is not 101").
///
/// `Ok(None)`: the header is not complete yet; call again with more bytes.
/// `Ok(Some(accepted))`: the connection is a WebSocket from
/// `accepted.header_len` on. `Err`: the first rule broken, see
/// [`ResponseError`]; an error never turns into success with more bytes.
/// A header longer than [`MAX_RESPONSE_HEADER`] is refused as soon as that
/// many bytes have arrived. Header names are matched case-insensitively.
/// Never panics.
pub fn parse_response<'b>(
    buf: &'b [u8],
    offer: &Offer<'_>,
) -> Result<Option<Accepted<'b>>, ResponseError> {
    parse_response_limited(buf, offer, MAX_RESPONSE_HEADER)
}

/// [`parse_response`] with a header limit of `max_header_len` bytes
/// instead of [`MAX_RESPONSE_HEADER`]: a header that has not ended within
/// the first `max_header_len` bytes is [`ResponseError::TooLong`] once
/// `buf` holds that many.
pub fn parse_response_limited<'b>(
    buf: &'b [u8],
    offer: &Offer<'_>,
    max_header_len: usize,
) -> Result<Option<Accepted<'b>>, ResponseError> {
    // Only the first `max_header_len` bytes can belong to the header, so
    // only they are scanned.
    let window = buf.get(..max_header_len).unwrap_or(buf);
    let incomplete = || {
        if buf.len() >= max_header_len {
            Err(ResponseError::TooLong)
        } else {
            Ok(None)
        }
    };
    let mut lines = Lines {
        buf: window,
        pos: 0,
    };
    let Some(status_line) = lines.next_line()? else {
        return incomplete();
    };
    let code = status_code(status_line)?;
    if code != 101 {
        // The rest of a refusal is the caller's business; only its end is
        // located, for passing it through.
        let header_len = window
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4);
        return Err(ResponseError::Status { code, header_len });
    }
    let mut seen = Seen::default();
    loop {
        match lines.next_line()? {
            None => return incomplete(),
            Some([]) => break,
            Some(line) => {
                let (name, value) = header_field(line)?;
                seen.header(name, value);
            }
        }
    }
    seen.finish(offer, lines.pos).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{RequestLine, UpgradeRequest};

    /// "the sample nonce", whose base64 is RFC 6455 1.3's sample key.
    const SAMPLE_NONCE: [u8; 16] = *b"the sample nonce";
    const SAMPLE_KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const SAMPLE_ACCEPT: &[u8; 28] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    const NO_PROTOCOLS: &[&[u8]] = &[];
    const CHAT: &[&[u8]] = &[b"chat", b"superchat"];

    fn request() -> ClientRequest<'static> {
        ClientRequest {
            host: b"server.example.com",
            path: b"/chat",
            key: SAMPLE_NONCE,
            protocols: NO_PROTOCOLS,
            extensions: None,
            headers: &[],
        }
    }

    fn written(r: &ClientRequest<'_>) -> Vec<u8> {
        let len = r.encoded_len().unwrap();
        let mut out = vec![0u8; len];
        assert_eq!(r.write(&mut out), Ok(len));
        out
    }

    fn refusal(r: &ClientRequest<'_>) -> RequestError {
        let e = r.encoded_len().unwrap_err();
        let mut out = [0u8; 1024];
        assert_eq!(r.write(&mut out), Err(e));
        assert!(out.iter().all(|&b| b == 0), "nothing written on error");
        e
    }

    // -- requests -------------------------------------------------------

    #[test]
    fn sample_key_and_accept() {
        assert_eq!(encode_key(&SAMPLE_NONCE)[..], *SAMPLE_KEY);
        assert_eq!(&expected_accept(&SAMPLE_NONCE), SAMPLE_ACCEPT);
        assert_eq!(request().offer().accept, *SAMPLE_ACCEPT);
    }

    #[test]
    fn writes_minimal_request() {
        let want: &[u8] = b"GET /chat HTTP/1.1\r\n\
            Host: server.example.com\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            \r\n";
        assert_eq!(written(&request()), want);
    }

    #[test]
    fn writes_full_request() {
        let r = ClientRequest {
            path: b"/chat?room=1&x=%23",
            host: b"[::1]:8080",
            protocols: CHAT,
            extensions: Some(b"permessage-deflate; client_max_window_bits, x-foo"),
            headers: &[
                (b"Cookie", b"a=b; c=d"),
                (b"X-Forwarded-For", b"192.0.2.1"),
                (b"X-Empty", b""),
                (b"X-Odd", b"t\tab \x80\xff"),
            ],
            ..request()
        };
        let want: &[u8] = b"GET /chat?room=1&x=%23 HTTP/1.1\r\n\
            Host: [::1]:8080\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Protocol: chat, superchat\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n\
            Cookie: a=b; c=d\r\n\
            X-Forwarded-For: 192.0.2.1\r\n\
            X-Empty: \r\n\
            X-Odd: t\tab \x80\xff\r\n\
            \r\n";
        assert_eq!(written(&r), want);
    }

    #[test]
    fn buffer_sizes() {
        let r = request();
        let len = r.encoded_len().unwrap();
        let mut small = vec![0u8; len - 1];
        assert_eq!(
            r.write(&mut small),
            Err(RequestError::BufferTooSmall { needed: len })
        );
        assert!(small.iter().all(|&b| b == 0));
        assert_eq!(
            r.write(&mut []),
            Err(RequestError::BufferTooSmall { needed: len })
        );
        let mut big = vec![0xEEu8; len + 10];
        assert_eq!(r.write(&mut big), Ok(len));
        assert_eq!(big[..len], written(&r)[..]);
        assert!(big[len..].iter().all(|&b| b == 0xEE));
    }

    #[test]
    fn refuses_bad_paths() {
        for (path, e) in [
            (&b""[..], RequestError::EmptyPath),
            (b"chat", RequestError::PathNotAbsolute),
            (b"http://x/chat", RequestError::PathNotAbsolute),
            (b"*", RequestError::PathNotAbsolute),
            (b"/a b", RequestError::PathByte),
            (b"/a\tb", RequestError::PathByte),
            (b"/a\r\nX: y", RequestError::PathByte),
            (b"/\0", RequestError::PathByte),
            (b"/\x7f", RequestError::PathByte),
            (b"/\x1f", RequestError::PathByte),
            (b"/chat#frag", RequestError::PathByte),
        ] {
            let r = ClientRequest { path, ..request() };
            assert_eq!(refusal(&r), e, "{path:?}");
        }
        for path in [
            &b"/"[..],
            b"/?",
            b"/a/b?c=d&e=%20",
            b"/\xc3\xbc",
            b"/~!$&'()*+,;=:@",
        ] {
            let r = ClientRequest { path, ..request() };
            assert!(r.encoded_len().is_ok(), "{path:?}");
        }
    }

    #[test]
    fn refuses_bad_hosts() {
        for (host, e) in [
            (&b""[..], RequestError::EmptyHost),
            (b"a\r\nX-Evil: 1", RequestError::HostByte),
            (b"a\nb", RequestError::HostByte),
            (b"a\0", RequestError::HostByte),
            (b"a b", RequestError::HostByte),
            (b" a", RequestError::HostByte),
            (b"a\x7f", RequestError::HostByte),
            (b"\xc3\xbc.example", RequestError::HostByte),
        ] {
            let r = ClientRequest { host, ..request() };
            assert_eq!(refusal(&r), e, "{host:?}");
        }
    }

    #[test]
    fn refuses_bad_protocols() {
        let cases: [(&[&[u8]], RequestError); 6] = [
            (&[b""], RequestError::ProtocolName { index: 0 }),
            (&[b"chat", b"a b"], RequestError::ProtocolName { index: 1 }),
            (&[b"a,b"], RequestError::ProtocolName { index: 0 }),
            (&[b"chat\r\n"], RequestError::ProtocolName { index: 0 }),
            (
                &[b"chat", b"x", b"chat"],
                RequestError::DuplicateProtocol { index: 2 },
            ),
            // A name check comes before the duplicate check of the same item.
            (
                &[b"a", b"a b", b"a"],
                RequestError::ProtocolName { index: 1 },
            ),
        ];
        for (protocols, e) in cases {
            let r = ClientRequest {
                protocols,
                ..request()
            };
            assert_eq!(refusal(&r), e, "{protocols:?}");
        }
        // Exact comparison: different case is a different protocol.
        let r = ClientRequest {
            protocols: &[b"chat", b"Chat"],
            ..request()
        };
        assert!(r.encoded_len().is_ok());
    }

    #[test]
    fn refuses_bad_extensions() {
        for ext in [
            &b""[..],
            b" permessage-deflate",
            b"permessage-deflate ",
            b"permessage-deflate\r\nX: y",
            b"a\0",
            b"a,,b",
            b"a, ",
            b"; x=1",
            b"a b; x",
            b"a\x01",
            // Elements are split at every comma: RFC 6455 9.1 wants a
            // quoted parameter value to unquote to a token, so no comma.
            b"a; x=\"1, 2\"",
        ] {
            let r = ClientRequest {
                extensions: Some(ext),
                ..request()
            };
            assert_eq!(refusal(&r), RequestError::Extensions, "{ext:?}");
        }
        for ext in [
            &b"permessage-deflate"[..],
            b"permessage-deflate;client_max_window_bits",
            b"a; x=\"1\"",
            b"a ;x, b\t; y=2",
        ] {
            let r = ClientRequest {
                extensions: Some(ext),
                ..request()
            };
            assert!(r.encoded_len().is_ok(), "{ext:?}");
        }
    }

    #[test]
    fn refuses_bad_headers() {
        type Headers = &'static [(&'static [u8], &'static [u8])];
        let cases: [(Headers, RequestError); 12] = [
            (&[(b"", b"x")], RequestError::HeaderName { index: 0 }),
            (
                &[(b"X-Ok", b"1"), (b"X Y", b"x")],
                RequestError::HeaderName { index: 1 },
            ),
            (&[(b"X:Y", b"x")], RequestError::HeaderName { index: 0 }),
            (&[(b"X\r\nY", b"x")], RequestError::HeaderName { index: 0 }),
            (
                &[(b"Host", b"evil")],
                RequestError::ReservedHeader { index: 0 },
            ),
            (
                &[(b"cOnNeCtIoN", b"close")],
                RequestError::ReservedHeader { index: 0 },
            ),
            (
                &[(b"X", b"a\r\nInjected: 1")],
                RequestError::HeaderValue { index: 0 },
            ),
            (&[(b"X", b"a\nb")], RequestError::HeaderValue { index: 0 }),
            (&[(b"X", b"a\0")], RequestError::HeaderValue { index: 0 }),
            (&[(b"X", b" a")], RequestError::HeaderValue { index: 0 }),
            (&[(b"X", b"a\t")], RequestError::HeaderValue { index: 0 }),
            (&[(b"X", b"\x7f")], RequestError::HeaderValue { index: 0 }),
        ];
        for (headers, e) in cases {
            let r = ClientRequest {
                headers,
                ..request()
            };
            assert_eq!(refusal(&r), e, "{headers:?}");
        }
        for name in RESERVED {
            let upper = name.to_ascii_uppercase();
            let headers: &[(&[u8], &[u8])] = &[(b"X-Ok", b""), (&upper, b"1")];
            let r = ClientRequest {
                headers,
                ..request()
            };
            assert_eq!(refusal(&r), RequestError::ReservedHeader { index: 1 });
        }
        // Sec-WebSocket-Accept and Origin are not the handshake's own.
        let r = ClientRequest {
            headers: &[
                (b"Origin", b"https://example.com"),
                (b"Sec-WebSocket-Accept", b"x"),
            ],
            ..request()
        };
        assert!(r.encoded_len().is_ok());
    }

    #[test]
    fn first_broken_rule_wins() {
        let r = ClientRequest {
            path: b"x",
            host: b"",
            protocols: &[b""],
            extensions: Some(b""),
            headers: &[(b"Host", b"\r")],
            ..request()
        };
        assert_eq!(refusal(&r), RequestError::PathNotAbsolute);
        let r = ClientRequest { path: b"/", ..r };
        assert_eq!(refusal(&r), RequestError::EmptyHost);
        let r = ClientRequest { host: b"h", ..r };
        assert_eq!(refusal(&r), RequestError::ProtocolName { index: 0 });
        let r = ClientRequest {
            protocols: &[],
            ..r
        };
        assert_eq!(refusal(&r), RequestError::Extensions);
        let r = ClientRequest {
            extensions: None,
            ..r
        };
        assert_eq!(refusal(&r), RequestError::ReservedHeader { index: 0 });
    }

    #[test]
    fn error_texts() {
        let all = [
            RequestError::EmptyPath,
            RequestError::PathNotAbsolute,
            RequestError::PathByte,
            RequestError::EmptyHost,
            RequestError::HostByte,
            RequestError::ProtocolName { index: 0 },
            RequestError::DuplicateProtocol { index: 0 },
            RequestError::Extensions,
            RequestError::HeaderName { index: 0 },
            RequestError::ReservedHeader { index: 0 },
            RequestError::HeaderValue { index: 3 },
            RequestError::TooLong,
            RequestError::BufferTooSmall { needed: 9 },
        ];
        let mut reasons: Vec<_> = all.iter().map(RequestError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        assert!(RequestError::HeaderValue { index: 3 }
            .to_string()
            .ends_with("(#3)"));
        assert!(RequestError::BufferTooSmall { needed: 9 }
            .to_string()
            .ends_with("(9 bytes)"));

        let all = [
            ResponseError::TooLong,
            ResponseError::StatusLine,
            ResponseError::HttpVersion,
            ResponseError::Status {
                code: 404,
                header_len: None,
            },
            ResponseError::BareLf,
            ResponseError::ObsFold,
            ResponseError::MissingColon,
            ResponseError::EmptyName,
            ResponseError::NameNotToken,
            ResponseError::ValueByte,
            ResponseError::Upgrade,
            ResponseError::Connection,
            ResponseError::AcceptMissing,
            ResponseError::AcceptRepeated,
            ResponseError::AcceptMismatch,
            ResponseError::ProtocolRepeated,
            ResponseError::ProtocolUnrequested,
            ResponseError::ProtocolNotOffered,
            ResponseError::ExtensionsRepeated,
            ResponseError::ExtensionsUnrequested,
            ResponseError::ExtensionNotOffered,
        ];
        let mut reasons: Vec<_> = all.iter().map(ResponseError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        assert!(all[3].to_string().ends_with("(status 404)"));
    }

    /// Split a written request into its request line and header fields the
    /// way a server does, and run the server side's checks on it.
    #[test]
    fn request_passes_server_checks() {
        let r = ClientRequest {
            path: b"/chat?room=1",
            protocols: CHAT,
            extensions: Some(b"permessage-deflate; client_max_window_bits"),
            headers: &[
                (b"Cookie", b"id=1"),
                (b"Authorization", b"Basic Zm9vOmJhcg=="),
            ],
            ..request()
        };
        for key in [SAMPLE_NONCE, [0; 16], [0xFF; 16], *b"0123456789abcdef"] {
            let r = ClientRequest { key, ..r };
            let bytes = written(&r);
            // Every LF is part of a CRLF, and the header ends in a blank line.
            assert!(bytes
                .iter()
                .enumerate()
                .all(|(i, &b)| b != b'\n' || (i > 0 && bytes[i - 1] == b'\r')));
            let text = bytes.strip_suffix(b"\r\n\r\n").expect("blank line");
            let mut lines = text
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
            let request_line = lines.next().unwrap();
            let mut parts = request_line.split(|&b| b == b' ');
            let method = parts.next().unwrap();
            assert_eq!(parts.next(), Some(r.path));
            assert_eq!(parts.next(), Some(&b"HTTP/1.1"[..]));
            assert_eq!(parts.next(), None);

            let mut upgrade = UpgradeRequest::new();
            let mut names = Vec::new();
            for line in lines {
                let colon = line.iter().position(|&b| b == b':').unwrap();
                let (name, value) = (&line[..colon], &line[colon + 1..]);
                names.push(name.to_ascii_lowercase());
                upgrade.header(name, value);
            }
            // Each header once.
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len());

            let line = RequestLine {
                method,
                http_version: 1001,
                has_body: false,
                is_subrequest: false,
            };
            assert_eq!(upgrade.check(&line), Ok(expected_accept(&key)));
        }
    }

    // -- responses ------------------------------------------------------

    const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        \r\n";

    fn offer() -> Offer<'static> {
        Offer::new(&SAMPLE_NONCE, NO_PROTOCOLS, None)
    }

    /// A 101 response with the given header lines (each without CRLF).
    fn response(lines: &[&[u8]]) -> Vec<u8> {
        let mut v = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        for l in lines {
            v.extend_from_slice(l);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"\r\n");
        v
    }

    const GOOD: [&[u8]; 3] = [
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ];

    fn with(extra: &[&'static [u8]]) -> Vec<u8> {
        let mut lines = GOOD.to_vec();
        lines.extend_from_slice(extra);
        response(&lines)
    }

    /// The verdict with an `Accepted` reduced to its header length (the
    /// protocol and extension tests look at the rest).
    fn verdict(buf: &[u8], offer: &Offer<'_>) -> Result<Option<usize>, ResponseError> {
        parse_response(buf, offer).map(|a| a.map(|a| a.header_len))
    }

    fn accepted(len: usize) -> Result<Option<usize>, ResponseError> {
        Ok(Some(len))
    }

    #[test]
    fn rfc_sample_response() {
        assert_eq!(
            verdict(RFC_RESPONSE, &offer()),
            accepted(RFC_RESPONSE.len())
        );
        assert_eq!(response(&GOOD), RFC_RESPONSE);
        // The first frames may follow in the same read.
        let mut buf = RFC_RESPONSE.to_vec();
        buf.extend_from_slice(b"\x81\x05Hello\r\n\r\n");
        assert_eq!(verdict(&buf, &offer()), accepted(RFC_RESPONSE.len()));
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let resp = with(&[
            b"Sec-WebSocket-Protocol: chat",
            b"Sec-WebSocket-Extensions: x-foo",
        ]);
        let offer = Offer::new(&SAMPLE_NONCE, CHAT, Some(b"x-foo"));
        for n in 0..resp.len() {
            assert_eq!(parse_response(&resp[..n], &offer), Ok(None), "prefix {n}");
        }
        let a = parse_response(&resp, &offer).unwrap().unwrap();
        assert_eq!(a.header_len, resp.len());
        assert_eq!(a.protocol, Some(&b"chat"[..]));
        assert_eq!(a.extensions, Some(&b"x-foo"[..]));
    }

    #[test]
    fn status_line_forms() {
        for line in [
            &b"HTTP/1.1 101"[..],
            b"HTTP/1.1 101 ",
            b"HTTP/1.1 101 Switching Protocols",
            b"HTTP/1.1 101 whatever\t\x80 text",
            b"HTTP/1.2 101 OK",
            b"HTTP/1.9 101",
        ] {
            let mut buf = line.to_vec();
            buf.extend_from_slice(&RFC_RESPONSE[32..]);
            assert_eq!(verdict(&buf, &offer()), accepted(buf.len()), "{line:?}");
        }
        for (line, e) in [
            (
                &b"HTTP/1.0 101 Switching Protocols"[..],
                ResponseError::HttpVersion,
            ),
            (b"HTTP/2.0 101", ResponseError::HttpVersion),
            (b"HTTP/0.9 101", ResponseError::HttpVersion),
            (b"HTTP/1.0 404 Not Found", ResponseError::HttpVersion),
            (b"HTTP/2 101", ResponseError::StatusLine),
            (b"http/1.1 101", ResponseError::StatusLine),
            (b"HTTP/1.1 1010", ResponseError::StatusLine),
            (b"HTTP/1.1 10", ResponseError::StatusLine),
            (b"HTTP/1.1  101", ResponseError::StatusLine),
            (b"HTTP/1.1 10a", ResponseError::StatusLine),
            (b"HTTP/1.1\t101", ResponseError::StatusLine),
            (b"HTTP/1.11 101", ResponseError::StatusLine),
            (b"HTTP/1.1 101\tSwitching", ResponseError::StatusLine),
            (b"HTTP/1.1 101 Switching\0", ResponseError::StatusLine),
            (b"HTTP/1.1 101 Swi\rtching", ResponseError::StatusLine),
            (b" HTTP/1.1 101", ResponseError::StatusLine),
            (b"", ResponseError::StatusLine),
        ] {
            let mut buf = line.to_vec();
            buf.extend_from_slice(&RFC_RESPONSE[32..]);
            assert_eq!(verdict(&buf, &offer()), Err(e), "{line:?}");
            // Decided as soon as the status line is complete.
            assert_eq!(
                verdict(&buf[..line.len() + 2], &offer()),
                Err(e),
                "{line:?}"
            );
            assert_eq!(verdict(&buf[..line.len() + 1], &offer()), Ok(None));
        }
    }

    #[test]
    fn refusal_status_is_reported_early() {
        let resp: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\nbody";
        let end = resp.len() - 4;
        for n in 0..resp.len() {
            let got = verdict(&resp[..n], &offer());
            let want = if n < 27 {
                Ok(None)
            } else {
                Err(ResponseError::Status {
                    code: 401,
                    header_len: (n >= end).then_some(end),
                })
            };
            assert_eq!(got, want, "prefix {n}");
        }
        // The rest of a refusal is not checked.
        let resp: &[u8] = b"HTTP/1.1 404\r\nbad line\n\0\r\n\r\n";
        assert_eq!(
            verdict(resp, &offer()),
            Err(ResponseError::Status {
                code: 404,
                header_len: Some(resp.len())
            })
        );
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(
            verdict(resp, &offer()),
            Err(ResponseError::Status {
                code: 200,
                header_len: Some(resp.len())
            })
        );
        // A refusal that ends only past the limit has no header_len.
        let mut long = b"HTTP/1.1 403 Forbidden\r\nX: ".to_vec();
        long.resize(100, b'x');
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_response_limited(&long, &offer(), 100),
            Err(ResponseError::Status {
                code: 403,
                header_len: None
            })
        );
        assert_eq!(
            parse_response_limited(&long, &offer(), 104),
            Err(ResponseError::Status {
                code: 403,
                header_len: Some(104)
            })
        );
    }

    #[test]
    fn header_length_limit() {
        // Exactly at the limit is fine; one byte more is too long, and is
        // reported as soon as the limit is reached.
        let mut resp = with(&[b"X-Pad: "]);
        let pad = MAX_RESPONSE_HEADER - resp.len();
        let at = resp.len() - 4;
        resp.splice(at..at, core::iter::repeat(b'p').take(pad));
        assert_eq!(resp.len(), MAX_RESPONSE_HEADER);
        assert_eq!(verdict(&resp, &offer()), accepted(MAX_RESPONSE_HEADER));
        assert_eq!(verdict(&resp[..resp.len() - 1], &offer()), Ok(None));
        resp.insert(at, b'p');
        assert_eq!(verdict(&resp, &offer()), Err(ResponseError::TooLong));
        assert_eq!(
            verdict(&resp[..MAX_RESPONSE_HEADER], &offer()),
            Err(ResponseError::TooLong)
        );
        assert_eq!(
            verdict(&resp[..MAX_RESPONSE_HEADER - 1], &offer()),
            Ok(None)
        );
        // An endless status line, or CR LF split by the limit.
        let endless = vec![b'H'; MAX_RESPONSE_HEADER];
        assert_eq!(verdict(&endless, &offer()), Err(ResponseError::TooLong));
        assert_eq!(
            parse_response_limited(RFC_RESPONSE, &offer(), RFC_RESPONSE.len() - 1),
            Err(ResponseError::TooLong)
        );
        assert_eq!(
            parse_response_limited(b"", &offer(), 0),
            Err(ResponseError::TooLong)
        );
        // A broken line before the limit is reported as such.
        let mut bad = with(&[b"X-Bad\0: 1"]);
        bad.resize(MAX_RESPONSE_HEADER * 2, b'x');
        assert_eq!(verdict(&bad, &offer()), Err(ResponseError::NameNotToken));
    }

    #[test]
    fn line_syntax() {
        for (line, e) in [
            (&b" Upgrade: websocket"[..], ResponseError::ObsFold),
            (b"\tfolded", ResponseError::ObsFold),
            (b"NoColon", ResponseError::MissingColon),
            (b"", ResponseError::MissingColon),
            (b": value", ResponseError::EmptyName),
            (b"Upgrade : websocket", ResponseError::NameNotToken),
            (b"X(y): z", ResponseError::NameNotToken),
            (b"X\0: z", ResponseError::NameNotToken),
            (b"X\r: z", ResponseError::NameNotToken),
            (b"X: a\0b", ResponseError::ValueByte),
            (b"X: a\rb", ResponseError::ValueByte),
            (b"X: \x7f", ResponseError::ValueByte),
            (b"X: \x1b[31m", ResponseError::ValueByte),
        ] {
            if line.is_empty() {
                continue; // An empty line ends the header; see below.
            }
            // Anywhere among the other lines, even before Upgrade.
            let mut lines: Vec<&[u8]> = vec![line];
            lines.extend_from_slice(&GOOD);
            let resp = response(&lines);
            assert_eq!(verdict(&resp, &offer()), Err(e), "{line:?}");
            // Decided when that line's LF arrives.
            let line_end = 34 + line.len() + 2;
            assert_eq!(verdict(&resp[..line_end], &offer()), Err(e), "{line:?}");
            assert_eq!(
                verdict(&resp[..line_end - 1], &offer()),
                Ok(None),
                "{line:?}"
            );
        }
        for v in [
            &b"X: a \t b"[..],
            b"X:",
            b"X:   ",
            b"X: \x80\xff",
            b"X:\tv\t",
        ] {
            assert_eq!(verdict(&with(&[v]), &offer()), accepted(with(&[v]).len()));
        }
    }

    #[test]
    fn bare_lf() {
        let cases: [&[u8]; 5] = [
            b"HTTP/1.1 101\n",
            b"HTTP/1.1 101\r\nUpgrade: websocket\n",
            b"HTTP/1.1 101\r\nUpgrade: websocket\r\n\n",
            b"HTTP/1.1 101\r\n\n",
            b"HTTP/1.1 101\r\nX: a\r\r\n\n",
        ];
        for resp in cases {
            let e = if resp.ends_with(b"\r\r\n\n") {
                ResponseError::ValueByte
            } else {
                ResponseError::BareLf
            };
            assert_eq!(verdict(resp, &offer()), Err(e), "{resp:?}");
        }
    }

    #[test]
    fn upgrade_and_connection_tokens() {
        let [_, connection, accept] = GOOD;
        let [upgrade, _, _] = GOOD;
        for (lines, want) in [
            (vec![connection, accept], Err(ResponseError::Upgrade)),
            (
                vec![&b"Upgrade: websocket2"[..], connection, accept],
                Err(ResponseError::Upgrade),
            ),
            (
                vec![b"Upgrade: h2c", connection, accept],
                Err(ResponseError::Upgrade),
            ),
            (vec![upgrade, accept], Err(ResponseError::Connection)),
            (
                vec![upgrade, b"Connection: keep-alive", accept],
                Err(ResponseError::Connection),
            ),
            (
                vec![upgrade, b"Connection: upgraded", accept],
                Err(ResponseError::Connection),
            ),
            // Case-insensitive token lists, possibly over several lines.
            (
                vec![
                    b"UPGRADE: WebSocket",
                    b"connection: keep-alive, UPGRADE",
                    accept,
                ],
                Ok(()),
            ),
            (
                vec![
                    b"Upgrade: h2c",
                    b"Upgrade: , websocket",
                    b"Connection: x",
                    b"Connection:upgrade",
                    accept,
                ],
                Ok(()),
            ),
        ] {
            let resp = response(&lines);
            let got = verdict(&resp, &offer()).map(|_| ());
            assert_eq!(got, want, "{lines:?}");
        }
    }

    #[test]
    fn accept_checks() {
        let [upgrade, connection, _] = GOOD;
        for (extra, want) in [
            (&[][..], Err(ResponseError::AcceptMissing)),
            (&[GOOD[2], GOOD[2]][..], Err(ResponseError::AcceptRepeated)),
            (
                &[&b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo"[..]][..],
                Err(ResponseError::AcceptMismatch),
            ),
            (
                &[&b"Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO="[..]][..],
                Err(ResponseError::AcceptMismatch),
            ),
            (
                &[&b"Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ=="[..]][..],
                Err(ResponseError::AcceptMismatch),
            ),
            (
                &[&b"Sec-WebSocket-Accept:"[..]][..],
                Err(ResponseError::AcceptMismatch),
            ),
            (
                &[&b"sec-websocket-accept: \t s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \t"[..]][..],
                Ok(()),
            ),
        ] {
            let mut lines = vec![upgrade, connection];
            lines.extend_from_slice(extra);
            let got = verdict(&response(&lines), &offer()).map(|_| ());
            assert_eq!(got, want, "{extra:?}");
        }
        // A different key.
        let other = Offer::new(&[0; 16], NO_PROTOCOLS, None);
        assert_eq!(
            verdict(RFC_RESPONSE, &other),
            Err(ResponseError::AcceptMismatch)
        );
    }

    #[test]
    fn protocol_checks() {
        let chat = Offer::new(&SAMPLE_NONCE, CHAT, None);
        let p = |v: &'static [u8]| -> Vec<u8> { with(&[v]) };
        let case = |resp: &[u8], o: &Offer<'_>| {
            parse_response(resp, o).map(|a| a.map(|a| a.protocol.map(<[u8]>::to_vec)))
        };
        assert_eq!(case(&with(&[]), &chat), Ok(Some(None)));
        assert_eq!(
            case(&p(b"Sec-WebSocket-Protocol: chat"), &chat),
            Ok(Some(Some(b"chat".to_vec())))
        );
        assert_eq!(
            case(&p(b"sec-websocket-protocol:  superchat "), &chat),
            Ok(Some(Some(b"superchat".to_vec())))
        );
        for (v, e) in [
            (
                &b"Sec-WebSocket-Protocol: Chat"[..],
                ResponseError::ProtocolNotOffered,
            ),
            (
                b"Sec-WebSocket-Protocol: other",
                ResponseError::ProtocolNotOffered,
            ),
            (
                b"Sec-WebSocket-Protocol: chat, superchat",
                ResponseError::ProtocolNotOffered,
            ),
            (
                b"Sec-WebSocket-Protocol:",
                ResponseError::ProtocolNotOffered,
            ),
            (
                b"Sec-WebSocket-Protocol: cha",
                ResponseError::ProtocolNotOffered,
            ),
        ] {
            assert_eq!(case(&p(v), &chat), Err(e), "{v:?}");
        }
        let twice = with(&[
            b"Sec-WebSocket-Protocol: chat",
            b"Sec-WebSocket-Protocol: chat",
        ]);
        assert_eq!(case(&twice, &chat), Err(ResponseError::ProtocolRepeated));
        // None offered: any Sec-WebSocket-Protocol, even empty, is refused.
        for v in [
            &b"Sec-WebSocket-Protocol: chat"[..],
            b"Sec-WebSocket-Protocol:",
        ] {
            assert_eq!(
                case(&p(v), &offer()),
                Err(ResponseError::ProtocolUnrequested)
            );
        }
        // A non-token offer entry cannot be chosen.
        let odd: &[&[u8]] = &[b"a b"];
        let o = Offer::new(&SAMPLE_NONCE, odd, None);
        assert_eq!(
            case(&p(b"Sec-WebSocket-Protocol: a b"), &o),
            Err(ResponseError::ProtocolNotOffered)
        );
    }

    #[test]
    fn extension_checks() {
        let pmd = Offer::new(
            &SAMPLE_NONCE,
            NO_PROTOCOLS,
            Some(b"permessage-deflate; client_max_window_bits, x-foo;a=1"),
        );
        let ext = |resp: &[u8], o: &Offer<'_>| {
            parse_response(resp, o).map(|a| a.map(|a| a.extensions.map(<[u8]>::to_vec)))
        };
        let e = |v: &'static [u8]| with(&[v]);
        assert_eq!(ext(&with(&[]), &pmd), Ok(Some(None)));
        for v in [
            &b"Sec-WebSocket-Extensions: permessage-deflate"[..],
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
            b"Sec-WebSocket-Extensions: x-foo, permessage-deflate",
            b"Sec-WebSocket-Extensions: x-foo;b , permessage-deflate\t;c",
            b"SEC-WEBSOCKET-EXTENSIONS:   x-foo  ",
        ] {
            let value = trim_ows(&v[25..]).to_vec();
            assert_eq!(ext(&e(v), &pmd), Ok(Some(Some(value))), "{v:?}");
        }
        for v in [
            &b"Sec-WebSocket-Extensions: permessage-bzip"[..],
            b"Sec-WebSocket-Extensions: Permessage-Deflate",
            b"Sec-WebSocket-Extensions: permessage-deflate, x-bar",
            b"Sec-WebSocket-Extensions: client_max_window_bits",
            b"Sec-WebSocket-Extensions: permessage-deflate,",
            b"Sec-WebSocket-Extensions: , x-foo",
            b"Sec-WebSocket-Extensions:",
            b"Sec-WebSocket-Extensions: ;x-foo",
            b"Sec-WebSocket-Extensions: x foo",
        ] {
            assert_eq!(
                ext(&e(v), &pmd),
                Err(ResponseError::ExtensionNotOffered),
                "{v:?}"
            );
        }
        let twice = with(&[
            b"Sec-WebSocket-Extensions: x-foo",
            b"Sec-WebSocket-Extensions: x-foo",
        ]);
        assert_eq!(ext(&twice, &pmd), Err(ResponseError::ExtensionsRepeated));
        for v in [
            &b"Sec-WebSocket-Extensions: x-foo"[..],
            b"Sec-WebSocket-Extensions:",
        ] {
            assert_eq!(
                ext(&e(v), &offer()),
                Err(ResponseError::ExtensionsUnrequested)
            );
        }
    }

    #[test]
    fn semantic_checks_in_order() {
        // Everything wrong at once: the first check reported is Upgrade,
        // and the syntax error of a later line beats all of them.
        let lines: [&[u8]; 4] = [
            b"Sec-WebSocket-Protocol: x",
            b"Sec-WebSocket-Extensions: y",
            b"Sec-WebSocket-Accept: nope",
            b"Sec-WebSocket-Accept: nope",
        ];
        assert_eq!(
            verdict(&response(&lines), &offer()),
            Err(ResponseError::Upgrade)
        );
        let mut with_bad: Vec<&[u8]> = lines.to_vec();
        with_bad.push(b"Bad Name: 1");
        assert_eq!(
            verdict(&response(&with_bad), &offer()),
            Err(ResponseError::NameNotToken)
        );
        let mut l: Vec<&[u8]> = vec![GOOD[0], GOOD[1]];
        l.extend_from_slice(&lines);
        assert_eq!(
            verdict(&response(&l), &offer()),
            Err(ResponseError::AcceptRepeated)
        );
        l.truncate(4);
        l.push(GOOD[2]);
        assert_eq!(
            verdict(&response(&l), &offer()),
            Err(ResponseError::ProtocolUnrequested)
        );
    }

    #[test]
    fn never_panics_on_noise() {
        // A cheap deterministic sweep; the fuzz target does the real work.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = b"HTP/1. 0\r\n:aUpgrdewbsockt,;\t\0\x80";
        for len in 0..200 {
            for _ in 0..50 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let o = Offer::new(&SAMPLE_NONCE, CHAT, Some(b"a"));
                for limit in [0, 1, 10, len, MAX_RESPONSE_HEADER] {
                    let _ = parse_response_limited(&buf, &o, limit);
                }
            }
        }
    }
}
