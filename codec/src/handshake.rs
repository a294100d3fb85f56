//! Server side of the WebSocket opening handshake (RFC 6455 section 4.2):
//! collects the relevant request headers, decides whether the upgrade may
//! proceed, and computes `Sec-WebSocket-Accept`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The fixed GUID appended to the client key before hashing (RFC 6455 1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Strip optional whitespace (SP / HTAB) from both ends of a header value.
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// base64(SHA-1(key ++ GUID)): the `Sec-WebSocket-Accept` value for a
/// `Sec-WebSocket-Key`. Surrounding spaces/tabs of the key are ignored.
pub fn accept_key(client_key: &[u8]) -> [u8; 28] {
    let mut hasher = Sha1::new();
    hasher.update(trim_ows(client_key));
    hasher.update(GUID);
    let digest = hasher.finalize();
    let mut out = [0u8; 28];
    // A 20-byte digest always encodes to exactly 28 padded characters, so
    // this cannot fail; the result is checked only in debug builds.
    let written = STANDARD.encode_slice(digest, &mut out);
    debug_assert_eq!(written, Ok(28));
    out
}

/// True if the value (after trimming OWS) is canonical base64 (standard
/// alphabet, with padding) decoding to exactly 16 bytes.
pub fn is_valid_client_key(key: &[u8]) -> bool {
    let key = trim_ows(key);
    // 16 bytes encode to 22 characters plus "==". Checking the length first
    // keeps the decode buffer small and fixed.
    if key.len() != 24 {
        return false;
    }
    let mut buf = [0u8; 18];
    // STANDARD requires canonical padding and zero trailing bits, so only
    // the one true encoding of 16 bytes is accepted.
    matches!(STANDARD.decode_slice(key, &mut buf), Ok(16))
}

/// True if the comma-separated header value contains `token` (ASCII
/// case-insensitive; OWS around elements and empty elements are ignored).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .any(|e| !e.is_empty() && e.eq_ignore_ascii_case(token))
}

/// What the caller knows about the request apart from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// Request method, e.g. `b"GET"`.
    pub method: &'a [u8],
    /// nginx encoding: 1000 = HTTP/1.0, 1001 = HTTP/1.1, 2000 = HTTP/2,
    /// 9 = HTTP/0.9.
    pub http_version: u32,
    /// Content-Length > 0 or Transfer-Encoding present.
    pub has_body: bool,
    /// The request is an nginx subrequest.
    pub is_subrequest: bool,
}

/// A refused upgrade: the HTTP status to answer and a log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status to answer.
    pub status: u16,
    /// Short English text for the error log.
    pub reason: &'static str,
}

/// Collects the request headers that matter for the upgrade, then decides.
#[derive(Debug, Default, Clone)]
pub struct UpgradeRequest<'a> {
    upgrade_websocket: bool,
    connection_upgrade: bool,
    key: Option<&'a [u8]>,
    key_repeated: bool,
    version: Option<&'a [u8]>,
    version_repeated: bool,
}

impl<'a> UpgradeRequest<'a> {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one request header (name matched ASCII case-insensitively).
    ///
    /// Upgrade and Connection are token lists that may legitimately be split
    /// over several header lines, so any instance carrying the token counts.
    /// Sec-WebSocket-Key and Sec-WebSocket-Version must appear exactly once;
    /// a repeat makes them invalid (RFC 6455 4.2.1 / 11.3).
    pub fn header(&mut self, name: &[u8], value: &'a [u8]) {
        if name.eq_ignore_ascii_case(b"upgrade") {
            self.upgrade_websocket |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            self.connection_upgrade |= has_token(value, b"upgrade");
        } else if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            if self.key.is_some() {
                self.key_repeated = true;
            } else {
                self.key = Some(value);
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-version") {
            if self.version.is_some() {
                self.version_repeated = true;
            } else {
                self.version = Some(value);
            }
        }
    }

    /// Decide. `Ok` holds the `Sec-WebSocket-Accept` value; the first failed
    /// check determines the refusal.
    pub fn check(&self, line: &RequestLine<'_>) -> Result<[u8; 28], Refusal> {
        fn refuse(status: u16, reason: &'static str) -> Result<[u8; 28], Refusal> {
            Err(Refusal { status, reason })
        }

        if line.is_subrequest {
            return refuse(500, "websocket cannot serve a subrequest");
        }
        if line.method != b"GET" {
            return refuse(405, "WebSocket handshake must use GET");
        }
        // HTTP/1.1 or a later HTTP/1.x; 1.0, 0.9 and HTTP/2+ cannot upgrade.
        if !(1001..2000).contains(&line.http_version) {
            return refuse(400, "WebSocket requires HTTP/1.1");
        }
        if line.has_body {
            return refuse(400, "WebSocket handshake request has a body");
        }
        if !self.upgrade_websocket {
            return refuse(400, "missing \"Upgrade: websocket\" header");
        }
        if !self.connection_upgrade {
            return refuse(400, "missing \"Connection: upgrade\" header");
        }
        match self.version {
            Some(v) if !self.version_repeated && trim_ows(v) == b"13" => {}
            _ => return refuse(426, "missing or unsupported Sec-WebSocket-Version"),
        }
        match self.key {
            Some(k) if !self.key_repeated && is_valid_client_key(k) => Ok(accept_key(k)),
            _ => refuse(400, "missing or invalid Sec-WebSocket-Key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const SAMPLE_ACCEPT: &[u8; 28] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn line() -> RequestLine<'static> {
        RequestLine {
            method: b"GET",
            http_version: 1001,
            has_body: false,
            is_subrequest: false,
        }
    }

    fn good_request() -> UpgradeRequest<'static> {
        let mut r = UpgradeRequest::new();
        r.header(b"Host", b"example.com");
        r.header(b"Upgrade", b"websocket");
        r.header(b"Connection", b"Upgrade");
        r.header(b"Sec-WebSocket-Key", SAMPLE_KEY);
        r.header(b"Sec-WebSocket-Version", b"13");
        r
    }

    fn status(r: &UpgradeRequest<'_>, l: &RequestLine<'_>) -> u16 {
        match r.check(l) {
            Ok(_) => 101,
            Err(e) => e.status,
        }
    }

    #[test]
    fn rfc_sample_accept() {
        assert_eq!(&accept_key(SAMPLE_KEY), SAMPLE_ACCEPT);
        assert_eq!(
            &accept_key(b" \tdGhlIHNhbXBsZSBub25jZQ== \t"),
            SAMPLE_ACCEPT
        );
    }

    #[test]
    fn client_key_validity() {
        assert!(is_valid_client_key(SAMPLE_KEY));
        assert!(is_valid_client_key(b"  dGhlIHNhbXBsZSBub25jZQ==\t"));
        assert!(is_valid_client_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        // Non-zero trailing bits: not the canonical encoding.
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        // Missing padding, wrong length, bad alphabet, 17 / 18 bytes.
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25j-Q=="));
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25jZQA="));
        assert!(!is_valid_client_key(b"dGhlIHNhbXBsZSBub25jZQAA"));
        assert!(!is_valid_client_key(b"dGhlIHNhbX BsZSBub25jZQ=="));
        assert!(!is_valid_client_key(b""));
        assert!(!is_valid_client_key(b"  "));
    }

    #[test]
    fn token_parsing() {
        assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(has_token(b"UPGRADE", b"upgrade"));
        assert!(has_token(b"\tupgrade\t", b"upgrade"));
        assert!(has_token(b",, ,upgrade,", b"upgrade"));
        assert!(has_token(b"a,  upgrade  ,b", b"upgrade"));
        assert!(!has_token(b"upgrade2", b"upgrade"));
        assert!(!has_token(b"up grade", b"upgrade"));
        assert!(!has_token(b"keep-alive", b"upgrade"));
        assert!(!has_token(b"", b"upgrade"));
        assert!(!has_token(b", ,", b"upgrade"));
        assert!(!has_token(b", ,", b""));
    }

    #[test]
    fn accepts_good_request() {
        assert_eq!(good_request().check(&line()), Ok(*SAMPLE_ACCEPT));
        // A later HTTP/1.x minor is fine too.
        let l = RequestLine {
            http_version: 1002,
            ..line()
        };
        assert_eq!(good_request().check(&l), Ok(*SAMPLE_ACCEPT));
    }

    #[test]
    fn header_names_case_insensitive() {
        let mut r = UpgradeRequest::new();
        r.header(b"UPGRADE", b"WebSocket");
        r.header(b"connection", b"keep-alive, upgrade");
        r.header(b"sec-websocket-key", SAMPLE_KEY);
        r.header(b"SEC-WEBSOCKET-VERSION", b" 13 ");
        assert_eq!(r.check(&line()), Ok(*SAMPLE_ACCEPT));
    }

    #[test]
    fn token_headers_may_repeat() {
        let mut r = UpgradeRequest::new();
        r.header(b"Upgrade", b"h2c");
        r.header(b"Upgrade", b"websocket");
        r.header(b"Connection", b"keep-alive");
        r.header(b"Connection", b"Upgrade");
        r.header(b"Sec-WebSocket-Key", SAMPLE_KEY);
        r.header(b"Sec-WebSocket-Version", b"13");
        assert!(r.check(&line()).is_ok());
    }

    #[test]
    fn refusal_subrequest() {
        let l = RequestLine {
            is_subrequest: true,
            method: b"POST",
            ..line()
        };
        let e = good_request().check(&l).unwrap_err();
        assert_eq!(e.status, 500);
        assert_eq!(e.reason, "websocket cannot serve a subrequest");
    }

    #[test]
    fn refusal_method() {
        for m in [&b"POST"[..], b"get", b"HEAD", b""] {
            let l = RequestLine {
                method: m,
                ..line()
            };
            assert_eq!(status(&good_request(), &l), 405);
        }
    }

    #[test]
    fn refusal_http_version() {
        for v in [9, 1000, 2000, 3000] {
            let l = RequestLine {
                http_version: v,
                has_body: true,
                ..line()
            };
            let e = good_request().check(&l).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.reason, "WebSocket requires HTTP/1.1");
        }
    }

    #[test]
    fn refusal_body() {
        let l = RequestLine {
            has_body: true,
            ..line()
        };
        assert_eq!(status(&good_request(), &l), 400);
    }

    #[test]
    fn refusal_upgrade_header() {
        let mut r = UpgradeRequest::new();
        r.header(b"Upgrade", b"websocket2");
        r.header(b"Connection", b"Upgrade");
        r.header(b"Sec-WebSocket-Key", SAMPLE_KEY);
        r.header(b"Sec-WebSocket-Version", b"13");
        let e = r.check(&line()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.reason.contains("Upgrade"));
    }

    #[test]
    fn refusal_connection_header() {
        let mut r = UpgradeRequest::new();
        r.header(b"Upgrade", b"websocket");
        r.header(b"Connection", b"keep-alive");
        r.header(b"Sec-WebSocket-Key", SAMPLE_KEY);
        r.header(b"Sec-WebSocket-Version", b"13");
        let e = r.check(&line()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.reason.contains("Connection"));
    }

    #[test]
    fn refusal_version() {
        let cases: [&[&[u8]]; 5] = [&[], &[b"8"], &[b"13, 8"], &[b"13", b"13"], &[b""]];
        for versions in cases {
            let mut r = UpgradeRequest::new();
            r.header(b"Upgrade", b"websocket");
            r.header(b"Connection", b"Upgrade");
            // Invalid key too: the version check must win.
            r.header(b"Sec-WebSocket-Key", b"nope");
            for v in versions {
                r.header(b"Sec-WebSocket-Version", v);
            }
            assert_eq!(status(&r, &line()), 426, "{versions:?}");
        }
    }

    #[test]
    fn refusal_key() {
        let cases: [&[&[u8]]; 3] = [&[], &[b"abc"], &[SAMPLE_KEY, SAMPLE_KEY]];
        for keys in cases {
            let mut r = UpgradeRequest::new();
            r.header(b"Upgrade", b"websocket");
            r.header(b"Connection", b"Upgrade");
            r.header(b"Sec-WebSocket-Version", b"13");
            for k in keys {
                r.header(b"Sec-WebSocket-Key", k);
            }
            let e = r.check(&line()).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.reason, "missing or invalid Sec-WebSocket-Key");
        }
    }
}
