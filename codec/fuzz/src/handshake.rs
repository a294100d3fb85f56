//! `handshake`: arbitrary request lines and headers into `UpgradeRequest`:
//! never panics, and the decision (accept value or refusal status) equals
//! that of an independent reference written from RFC 6455 section 4.2.1 and
//! the README's table. Also checks `accept_key`, `is_valid_client_key` and
//! `has_token` on every header value. The reference also covers the
//! `Sec-WebSocket-Protocol` and `Origin` rules checked after the key (a
//! malformed protocol line, or more than 8 of them, and a repeated
//! `Origin` refuse with 400 and their own reasons); when the request is
//! accepted, `offered_protocols`, `select_protocol`, `extension_offers` and
//! `origin` must give back what the headers said.
//!
//! Input layout: byte 0 = flags (bit 0 subrequest, bit 1 body, bits 2..=4
//! HTTP version choice; choice 7 takes a u32 from the next 4 bytes). The rest
//! is split at `\n`: the first line is the method, each further line a
//! header, split at its first `:` (no colon: the whole line is the name and
//! the value is empty). Nothing is trimmed; the codec must trim values.

use ngx_websocket_codec::handshake::{
    accept_key, has_token, is_valid_client_key, RequestLine, UpgradeRequest, GUID,
};
use sha1::{Digest, Sha1};

const VERSIONS: [u32; 7] = [1001, 1000, 1002, 9, 2000, 1999, 3000];
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A decoded test case.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    pub method: &'a [u8],
    pub http_version: u32,
    pub has_body: bool,
    pub is_subrequest: bool,
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

pub fn decode(data: &[u8]) -> Case<'_> {
    let (flags, mut rest) = match data.split_first() {
        Some((&f, r)) => (f, r),
        None => (0, data),
    };
    let choice = usize::from((flags >> 2) & 7);
    let http_version = match VERSIONS.get(choice) {
        Some(&v) => v,
        None => {
            let mut v = [0u8; 4];
            let n = rest.len().min(4);
            v[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            u32::from_le_bytes(v)
        }
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let method = lines.next().unwrap_or_default();
    let headers = lines
        .map(|l| match l.iter().position(|&b| b == b':') {
            Some(i) => (&l[..i], &l[i + 1..]),
            None => (l, &l[l.len()..]),
        })
        .collect();
    Case {
        method,
        http_version,
        has_body: flags & 2 != 0,
        is_subrequest: flags & 1 != 0,
        headers,
    }
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let Some((&(b' ' | b'\t'), r)) = v.split_first() {
        v = r;
    }
    while let Some((&(b' ' | b'\t'), r)) = v.split_last() {
        v = r;
    }
    v
}

/// Comma-separated list contains `token`, ASCII case-insensitively.
fn ref_has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|e| !token.is_empty() && trim(e).eq_ignore_ascii_case(token))
}

/// The one canonical base64 encoding of 16 bytes: 22 alphabet characters,
/// the last with its 4 low bits zero, then "==".
fn ref_valid_key(key: &[u8]) -> bool {
    let k = trim(key);
    let idx = |c: u8| B64.iter().position(|&a| a == c);
    k.len() == 24
        && k[22..] == *b"=="
        && k[..22].iter().all(|&c| idx(c).is_some())
        && idx(k[21]).is_some_and(|i| i & 0x0F == 0)
}

fn ref_base64(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn ref_accept(key: &[u8]) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(trim(key));
    h.update(GUID);
    ref_base64(&h.finalize())
}

/// The elements of a comma-separated list value: trimmed, empty ones
/// skipped (RFC 7230 section 7).
fn ref_elements(value: &[u8]) -> Vec<&[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// An RFC 7230 token: one or more `tchar`s.
fn ref_is_token(s: &[u8]) -> bool {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_digit() || b.is_ascii_alphabetic() || TCHAR.contains(&b))
}

/// Most `Sec-WebSocket-Protocol` lines a request may have.
const PROTOCOL_LINES: usize = 8;
/// The server's subprotocols, in its order of preference.
const SUPPORTED: [&[u8]; 3] = [b"chat", b"v2.json", b"superchat"];

/// The reference refusal reasons that are checked word for word (the other
/// refusals are checked by status).
const MALFORMED_PROTOCOL: &str = "malformed Sec-WebSocket-Protocol header";
const REPEATED_ORIGIN: &str = "repeated Origin header";

/// The reference decision: Ok(accept value) or Err(status, and for the
/// subprotocol and origin rules the reason).
pub fn reference(c: &Case<'_>) -> Result<Vec<u8>, (u16, Option<&'static str>)> {
    let accept = reference_status(c).map_err(|s| (s, None))?;
    // Checked after the key.
    if !protocols_valid(c) {
        return Err((400, Some(MALFORMED_PROTOCOL)));
    }
    if origins(c) > 1 {
        return Err((400, Some(REPEATED_ORIGIN)));
    }
    Ok(accept)
}

fn named<'a>(c: &Case<'a>, name: &[u8]) -> Vec<&'a [u8]> {
    c.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
        .collect()
}

/// Every `Sec-WebSocket-Protocol` line a non-empty list of tokens, and at
/// most [`PROTOCOL_LINES`] of them.
fn protocols_valid(c: &Case<'_>) -> bool {
    let lines = named(c, b"sec-websocket-protocol");
    lines.len() <= PROTOCOL_LINES
        && lines.iter().all(|l| {
            let e = ref_elements(l);
            !e.is_empty() && e.iter().all(|t| ref_is_token(t))
        })
}

fn origins(c: &Case<'_>) -> usize {
    named(c, b"origin").len()
}

/// The rules checked before the subprotocol and origin rules.
fn reference_status(c: &Case<'_>) -> Result<Vec<u8>, u16> {
    let named = |name: &[u8]| named(c, name);
    if c.is_subrequest {
        return Err(500);
    }
    if c.method != b"GET" {
        return Err(405);
    }
    if !(1001..2000).contains(&c.http_version) || c.has_body {
        return Err(400);
    }
    if !named(b"upgrade")
        .iter()
        .any(|v| ref_has_token(v, b"websocket"))
    {
        return Err(400);
    }
    if !named(b"connection")
        .iter()
        .any(|v| ref_has_token(v, b"upgrade"))
    {
        return Err(400);
    }
    match named(b"sec-websocket-version")[..] {
        [v] if trim(v) == b"13" => {}
        _ => return Err(426),
    }
    match named(b"sec-websocket-key")[..] {
        [k] if ref_valid_key(k) => Ok(ref_accept(k)),
        _ => Err(400),
    }
}

/// Run the codec on a case and compare with the reference.
pub fn check_case(c: &Case<'_>) {
    let mut req = UpgradeRequest::new();
    for &(name, value) in &c.headers {
        req.header(name, value);
    }
    let line = RequestLine {
        method: c.method,
        http_version: c.http_version,
        has_body: c.has_body,
        is_subrequest: c.is_subrequest,
    };
    let got = req.check(&line);
    match (&got, reference(c)) {
        (Ok(accept), Ok(want)) => {
            assert_eq!(accept[..], want[..], "{c:?}");
            assert_eq!(line.method, b"GET");
            assert!((1001..2000).contains(&line.http_version));
            // What the accepted request offered.
            let offered: Vec<&[u8]> = named(c, b"sec-websocket-protocol")
                .iter()
                .flat_map(|l| ref_elements(l))
                .collect();
            assert_eq!(req.offered_protocols().collect::<Vec<_>>(), offered);
            let chosen = SUPPORTED.iter().copied().find(|p| offered.contains(p));
            assert_eq!(req.select_protocol(&SUPPORTED), chosen, "{c:?}");
            // (Over 8 extension lines are neither refused nor all kept:
            // not checked, see the README.)
            let lines = named(c, b"sec-websocket-extensions");
            if lines.len() <= PROTOCOL_LINES {
                let extensions: Vec<&[u8]> = lines.iter().flat_map(|l| ref_elements(l)).collect();
                assert_eq!(req.extension_offers().collect::<Vec<_>>(), extensions);
            }
            assert_eq!(req.origin(), named(c, b"origin").first().map(|o| trim(o)));
        }
        (Err(refusal), Err((status, reason))) => {
            assert_eq!(refusal.status, status, "{c:?}: {refusal:?}");
            assert!(!refusal.reason.is_empty());
            if let Some(reason) = reason {
                assert_eq!(refusal.reason, reason, "{c:?}");
            }
        }
        (got, want) => panic!("{c:?}: codec {got:?}, reference {want:?}"),
    }
    // A second check of the same collector gives the same answer.
    assert_eq!(req.check(&line), got);

    for &(_, value) in &c.headers {
        let a = accept_key(value);
        assert_eq!(a[..], ref_accept(value)[..], "accept_key({value:x?})");
        assert!(a[..27].iter().all(|c| B64.contains(c)) && a[27] == b'=');
        assert_eq!(
            is_valid_client_key(value),
            ref_valid_key(value),
            "{value:x?}"
        );
        for token in [&b"upgrade"[..], b"websocket", b""] {
            assert_eq!(
                has_token(value, token),
                ref_has_token(value, token),
                "has_token({value:x?}, {token:x?})"
            );
        }
    }
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    check_case(&decode(data));
}
