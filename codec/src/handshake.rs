//! Server side of the WebSocket opening handshake (RFC 6455 section 4.2):
//! collects the relevant request headers, decides whether the upgrade may
//! proceed, computes `Sec-WebSocket-Accept`, chooses a subprotocol, and
//! matches the `Origin` against an allow-list.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The fixed GUID appended to the client key before hashing (RFC 6455 1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Strip optional whitespace (SP / HTAB) from both ends of a header value.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
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

/// Most `Sec-WebSocket-Protocol` header lines one request may carry (more
/// is refused as malformed), and most `Sec-WebSocket-Extensions` lines kept
/// (offers beyond are ignored, that is declined: an extension offer never
/// refuses a request). Clients send one of each.
pub const MAX_LIST_LINES: usize = 8;

/// True if `b` is an RFC 7230 `tchar` (the characters of a token).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True if `s` is a non-empty RFC 7230 token (what a subprotocol name is).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// The elements of a comma-separated header value, trimmed, empty ones
/// skipped (RFC 7230 section 7).
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Header lines of one list-valued header, kept as borrowed slices.
#[derive(Debug, Default, Clone)]
struct Lines<'a> {
    lines: [&'a [u8]; MAX_LIST_LINES],
    count: usize,
    overflow: bool,
}

impl<'a> Lines<'a> {
    fn push(&mut self, value: &'a [u8]) {
        match self.lines.get_mut(self.count) {
            Some(slot) => {
                *slot = value;
                self.count += 1;
            }
            None => self.overflow = true,
        }
    }

    fn elements(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.lines[..self.count]
            .iter()
            .flat_map(|line| list_elements(line))
    }
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
    protocols: Lines<'a>,
    extensions: Lines<'a>,
    origin: Option<&'a [u8]>,
    origin_repeated: bool,
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
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            self.protocols.push(value);
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            self.extensions.push(value);
        } else if name.eq_ignore_ascii_case(b"origin") {
            if self.origin.is_some() {
                self.origin_repeated = true;
            } else {
                self.origin = Some(value);
            }
        }
    }

    /// The subprotocols the client offered, in its order (valid only after
    /// [`check`](Self::check) accepted the request).
    pub fn offered_protocols(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.protocols.elements()
    }

    /// The first protocol of `supported` (the server's preference order)
    /// that the client offered, compared exactly (RFC 6455 4.2.2: the
    /// answer names one protocol, never the client's whole list).
    pub fn select_protocol<'s>(&self, supported: &[&'s [u8]]) -> Option<&'s [u8]> {
        supported
            .iter()
            .copied()
            .find(|p| self.offered_protocols().any(|o| o == *p))
    }

    /// The elements of the `Sec-WebSocket-Extensions` offers, in order.
    pub fn extension_offers(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.extensions.elements()
    }

    /// The `Origin` header's value (trimmed), if the request had one.
    pub fn origin(&self) -> Option<&'a [u8]> {
        self.origin.map(trim_ows)
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
        let accept = match self.key {
            Some(k) if !self.key_repeated && is_valid_client_key(k) => accept_key(k),
            _ => return refuse(400, "missing or invalid Sec-WebSocket-Key"),
        };
        let protocols_valid = !self.protocols.overflow
            && self.protocols.lines[..self.protocols.count]
                .iter()
                .all(|line| {
                    list_elements(line).next().is_some() && list_elements(line).all(is_token)
                });
        if !protocols_valid {
            return refuse(400, "malformed Sec-WebSocket-Protocol header");
        }
        if self.origin_repeated {
            return refuse(400, "repeated Origin header");
        }
        Ok(accept)
    }
}

/// Whether an allow-list entry admits `origin` (the request's `Origin`
/// value). `*` admits every origin; otherwise the two must be equal,
/// ASCII case-insensitively (browsers serialise origins in lower case,
/// RFC 6454 section 6.1).
pub fn origin_matches(allowed: &[u8], origin: &[u8]) -> bool {
    allowed == b"*" || allowed.eq_ignore_ascii_case(trim_ows(origin))
}

/// Checks an allow-list entry written in a configuration: `*`, `null`, or
/// an origin as browsers send it, `scheme://host[:port]` (no path, no
/// trailing slash, no user info). `Err` says what is wrong.
pub fn validate_origin(entry: &[u8]) -> Result<(), &'static str> {
    if entry == b"*" || entry.eq_ignore_ascii_case(b"null") {
        return Ok(());
    }
    let Some(sep) = entry.windows(3).position(|w| w == b"://") else {
        return Err("must be \"*\", \"null\" or scheme://host[:port]");
    };
    let (scheme, rest) = (&entry[..sep], &entry[sep + 3..]);
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err("has an invalid scheme");
    }
    if rest.contains(&b'/') {
        return Err("must not have a path or a trailing \"/\"");
    }
    if rest.iter().any(|&b| b"@?#".contains(&b)) {
        return Err("must not have user info, a query or a fragment");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix(b"[") {
        let Some(end) = v6.iter().position(|&b| b == b']') else {
            return Err("has an invalid IPv6 address");
        };
        let (addr, after) = (&v6[..end], &v6[end + 1..]);
        if addr.is_empty()
            || !addr
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b".:".contains(&b))
        {
            return Err("has an invalid IPv6 address");
        }
        match after {
            [] => (addr, None),
            [b':', port @ ..] => (addr, Some(port)),
            _ => return Err("has an invalid port"),
        }
    } else {
        match rest.iter().rposition(|&b| b == b':') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        }
    };
    if host.is_empty()
        || !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    {
        return Err("has an invalid host");
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.iter().all(u8::is_ascii_digit)
            && core::str::from_utf8(port)
                .ok()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err("has an invalid port");
        }
    }
    Ok(())
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
    fn subprotocols_offered_and_chosen() {
        let mut r = good_request();
        r.header(b"Sec-WebSocket-Protocol", b"chat, superchat");
        r.header(b"sec-websocket-protocol", b" v2.json ");
        assert!(r.check(&line()).is_ok());
        let offered: Vec<&[u8]> = r.offered_protocols().collect();
        assert_eq!(offered, [&b"chat"[..], b"superchat", b"v2.json"]);
        // The server's order decides, exact comparison.
        assert_eq!(
            r.select_protocol(&[b"v2.json", b"chat"]),
            Some(&b"v2.json"[..])
        );
        assert_eq!(
            r.select_protocol(&[b"CHAT", b"superchat"]),
            Some(&b"superchat"[..])
        );
        assert_eq!(r.select_protocol(&[b"mqtt"]), None);
        assert_eq!(good_request().select_protocol(&[b"chat"]), None);
    }

    #[test]
    fn malformed_subprotocol_header_is_refused() {
        for bad in [
            &b""[..],
            b" , ",
            b"chat superchat",
            b"a;b",
            b"\"chat\"",
            b"ch\x01at",
            b"caf\xc3\xa9",
        ] {
            let mut r = good_request();
            r.header(b"Sec-WebSocket-Protocol", bad);
            let e = r.check(&line()).unwrap_err();
            assert_eq!(
                (e.status, e.reason),
                (400, "malformed Sec-WebSocket-Protocol header"),
                "{bad:?}"
            );
        }
        let mut r = good_request();
        for _ in 0..=MAX_LIST_LINES {
            r.header(b"Sec-WebSocket-Protocol", b"chat");
        }
        assert_eq!(r.check(&line()).unwrap_err().status, 400);
        // Empty elements between tokens are allowed (RFC 7230 7).
        let mut r = good_request();
        r.header(b"Sec-WebSocket-Protocol", b"chat,,superchat,");
        assert!(r.check(&line()).is_ok());
    }

    #[test]
    fn origin_header() {
        let mut r = good_request();
        r.header(b"Origin", b" https://example.com ");
        assert!(r.check(&line()).is_ok());
        assert_eq!(r.origin(), Some(&b"https://example.com"[..]));
        assert_eq!(good_request().origin(), None);
        r.header(b"origin", b"https://evil.example");
        assert_eq!(
            r.check(&line()).unwrap_err().reason,
            "repeated Origin header"
        );
        assert!(origin_matches(
            b"https://Example.com",
            b"https://example.COM"
        ));
        assert!(origin_matches(b"*", b"https://anything"));
        assert!(!origin_matches(
            b"https://example.com",
            b"https://example.com.evil"
        ));
        assert!(!origin_matches(
            b"https://example.com",
            b"http://example.com"
        ));
        assert!(!origin_matches(b"null", b""));
        assert!(origin_matches(b"null", b"null"));
    }

    #[test]
    fn origin_entries_in_configuration() {
        for good in [
            &b"*"[..],
            b"null",
            b"https://example.com",
            b"http://localhost:8080",
            b"https://[::1]:8443",
            b"chrome-extension://abcdef",
            b"https://a-b.example.co.uk",
        ] {
            assert_eq!(validate_origin(good), Ok(()), "{good:?}");
        }
        for (bad, why) in [
            (&b"example.com"[..], "must be"),
            (b"https://example.com/", "trailing"),
            (b"https://example.com/app", "path"),
            (b"https://user@example.com", "user info"),
            (b"https://", "host"),
            (b"https://exa mple.com", "host"),
            (b"https://example.com:0", "port"),
            (b"https://example.com:99999", "port"),
            (b"https://example.com:", "port"),
            (b"1http://x", "scheme"),
            (b"://x", "scheme"),
            (b"https://[zz]", "IPv6"),
        ] {
            let e = validate_origin(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
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
