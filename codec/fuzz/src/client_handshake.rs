//! `client_handshake`: the client side of the opening handshake, in two
//! modes chosen by bit 0 of byte 0.
//!
//! Response mode (bit 0 clear): a response byte stream and an offer go to
//! `parse_response`. The verdict must equal that of a naive reference that
//! cuts the whole header into lines up front and applies RFC 6455 4.1 and
//! the module's documented rules, including the prefix length at which the
//! verdict becomes known: fed the stream in arbitrary pieces (each call
//! gets everything so far), the codec must answer `Ok(None)` until then
//! and the final verdict from then on (a refusal's `header_len` appears
//! once the header's end has arrived).
//!
//! Request mode (bit 0 set): a `ClientRequest` built from the bytes must
//! either be refused by `encoded_len` and `write` with the error a
//! reference validity check names, or be written so that a naive re-parse
//! gives back exactly the inputs, the server side (`UpgradeRequest`)
//! accepts it with the accept value of the key (or, with a repeated
//! `Origin` among the extra headers, refuses it as repeated), and the matching 101
//! answer passes `parse_response` with the request's `offer()`.
//!
//! Input layout, response mode: byte 0 = flags (bits 1..=2 header limit:
//! `MAX_RESPONSE_HEADER`, 40, 120 or 400; bit 3 extensions offered; bits
//! 4..=7 the number N of piece sizes); N piece sizes (used cyclically, 0
//! allowed; none feeds the whole stream at once); 16 bytes of key; one
//! byte L and L bytes of offer text, split at `\n`: with bit 3 the first
//! line is the offered `Sec-WebSocket-Extensions` value, and the remaining
//! lines (if any) are the offered subprotocols. The rest is the response.
//!
//! Input layout, request mode: byte 0 = flags (bit 1 extensions present,
//! bits 2..=4 the number P of subprotocols); 16 bytes of key; the rest is
//! split at 0xFF into host, path, the extensions value (with bit 1), P
//! subprotocols, and then headers, each split at its first 0xFE into name
//! and value (no 0xFE: the whole field is the name, the value is empty).
//! Missing fields are empty. Short inputs are zero-padded.

use ngx_websocket_codec::client_handshake::{
    expected_accept, parse_response, parse_response_limited, Accepted, ClientRequest, Offer,
    RequestError, ResponseError, MAX_RESPONSE_HEADER,
};
use ngx_websocket_codec::handshake::{RequestLine, UpgradeRequest, GUID};
use sha1::{Digest, Sha1};

const LIMITS: [usize; 4] = [MAX_RESPONSE_HEADER, 40, 120, 400];
/// At most this many calls per split feed; the prefixes around the
/// decision point are checked separately.
const MAX_CALLS: usize = 256;

/// A decoded response-mode case.
#[derive(Debug, Clone)]
pub struct ResponseCase<'a> {
    /// Index into `LIMITS`; 0 uses `parse_response` itself.
    pub limit: usize,
    pub pieces: Vec<usize>,
    pub key: [u8; 16],
    pub protocols: Vec<&'a [u8]>,
    pub extensions: Option<&'a [u8]>,
    pub response: &'a [u8],
}

/// A decoded request-mode case.
#[derive(Debug, Clone)]
pub struct RequestCase<'a> {
    pub key: [u8; 16],
    pub host: &'a [u8],
    pub path: &'a [u8],
    pub protocols: Vec<&'a [u8]>,
    pub extensions: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

/// Either mode.
#[derive(Debug, Clone)]
pub enum Case<'a> {
    Response(ResponseCase<'a>),
    Request(RequestCase<'a>),
}

/// Take `n` bytes from the front (fewer if short).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

fn take_key(data: &mut &[u8]) -> [u8; 16] {
    let mut key = [0u8; 16];
    let k = take(data, 16);
    key[..k.len()].copy_from_slice(k);
    key
}

pub fn decode(data: &[u8]) -> Case<'_> {
    let mut rest = data;
    let flags = take(&mut rest, 1).first().copied().unwrap_or(0);
    if flags & 1 == 0 {
        let n = usize::from(flags >> 4);
        let pieces = take(&mut rest, n).iter().map(|&b| usize::from(b)).collect();
        let key = take_key(&mut rest);
        let l = take(&mut rest, 1).first().copied().unwrap_or(0);
        let text = take(&mut rest, usize::from(l));
        let mut lines = text.split(|&b| b == b'\n');
        let extensions = if flags & 8 != 0 { lines.next() } else { None };
        let protocols = if text.is_empty() {
            Vec::new()
        } else {
            lines.collect()
        };
        Case::Response(ResponseCase {
            limit: usize::from((flags >> 1) & 3),
            pieces,
            key,
            protocols,
            extensions,
            response: rest,
        })
    } else {
        let key = take_key(&mut rest);
        let mut fields = rest.split(|&b| b == 0xFF);
        let mut field = || fields.next().unwrap_or_default();
        let host = field();
        let path = field();
        let extensions = (flags & 2 != 0).then(&mut field);
        let protocols = (0..(flags >> 2) & 7).map(|_| field()).collect();
        let headers = fields
            .map(|f| match f.iter().position(|&b| b == 0xFE) {
                Some(i) => (&f[..i], &f[i + 1..]),
                None => (f, &f[f.len()..]),
            })
            .collect();
        Case::Request(RequestCase {
            key,
            host,
            path,
            protocols,
            extensions,
            headers,
        })
    }
}

// ---------------------------------------------------------------------------
// Reference helpers, written from the RFCs rather than from the codec.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Padded standard base64, one 6-bit group at a time.
pub fn ref_base64(bytes: &[u8]) -> Vec<u8> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for &b in bytes {
        bits = (bits << 8) | u32::from(b);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(B64[((bits >> nbits) & 63) as usize]);
        }
    }
    if nbits > 0 {
        out.push(B64[((bits << (6 - nbits)) & 63) as usize]);
    }
    while out.len() % 4 != 0 {
        out.push(b'=');
    }
    out
}

/// base64(SHA-1(base64(key) ++ GUID)).
pub fn ref_accept(key: &[u8; 16]) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(ref_base64(key));
    h.update(GUID);
    ref_base64(&h.finalize())
}

/// CTL of RFC 5234 (controls and DEL) other than HTAB: what may not appear
/// in a field value or reason phrase.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7F
}

/// RFC 7230 3.2.6: visible ASCII except the delimiters.
fn ref_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| (0x21..0x7F).contains(&b) && !b"\"(),/:;<=>?@[\\]{}".contains(&b))
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

/// The names of a `Sec-WebSocket-Extensions` value, one per element.
fn ref_extension_names(v: &[u8]) -> Vec<&[u8]> {
    v.split(|&b| b == b',')
        .map(|e| trim(e.split(|&b| b == b';').next().unwrap_or_default()))
        .collect()
}

// ---------------------------------------------------------------------------
// Response mode.

/// The reference verdict on a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefVerdict {
    /// Never decided: the header has not ended and is under the limit.
    Incomplete,
    Accepted {
        header_len: usize,
        protocol: Option<Vec<u8>>,
        extensions: Option<Vec<u8>>,
    },
    /// For `Status`, `header_len` is where the first CRLF CRLF within the
    /// limit ends, if anywhere.
    Error(ResponseError),
}

/// The verdict on the whole stream, and the length of the shortest prefix
/// that decides it (`None` for `Incomplete`).
pub fn reference(c: &ResponseCase<'_>) -> (RefVerdict, Option<usize>) {
    let limit = LIMITS[c.limit];
    let data = c.response;
    let window = &data[..data.len().min(limit)];
    // Every complete line of the window: (its bytes with a possible CR,
    // the offset just past its LF).
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in window.iter().enumerate() {
        if b == b'\n' {
            lines.push((&window[start..i], i + 1));
            start = i + 1;
        }
    }
    let err = |e, at| (RefVerdict::Error(e), Some(at));

    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    let mut header_len = None;
    for (n, &(raw, end)) in lines.iter().enumerate() {
        let Some(line) = raw.strip_suffix(b"\r") else {
            return err(ResponseError::BareLf, end);
        };
        if n == 0 {
            let shape = line.len() >= 12
                && line.starts_with(b"HTTP/")
                && line[5].is_ascii_digit()
                && line[6] == b'.'
                && line[7].is_ascii_digit()
                && line[8] == b' '
                && line[9..12].iter().all(u8::is_ascii_digit)
                && (line.len() == 12
                    || (line[12] == b' ' && !line[13..].iter().any(|&b| is_ctl(b))));
            if !shape {
                return err(ResponseError::StatusLine, end);
            }
            if line[5] != b'1' || line[7] == b'0' {
                return err(ResponseError::HttpVersion, end);
            }
            let code: u16 = std::str::from_utf8(&line[9..12]).unwrap().parse().unwrap();
            if code != 101 {
                let header_len = (0..window.len().saturating_sub(3))
                    .find(|&i| &window[i..i + 4] == b"\r\n\r\n")
                    .map(|i| i + 4);
                return err(ResponseError::Status { code, header_len }, end);
            }
            continue;
        }
        if line.is_empty() {
            header_len = Some(end);
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return err(ResponseError::ObsFold, end);
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return err(ResponseError::MissingColon, end);
        };
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        if name.is_empty() {
            return err(ResponseError::EmptyName, end);
        }
        if !ref_token(name) {
            return err(ResponseError::NameNotToken, end);
        }
        if value.iter().any(|&b| is_ctl(b)) {
            return err(ResponseError::ValueByte, end);
        }
        headers.push((name, value));
    }
    let Some(header_len) = header_len else {
        return if data.len() >= limit {
            err(ResponseError::TooLong, limit)
        } else {
            (RefVerdict::Incomplete, None)
        };
    };
    let values = |name: &str| -> Vec<&[u8]> {
        headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase() == name.as_bytes())
            .map(|&(_, v)| v)
            .collect()
    };
    let lists = |name: &str, token: &str| {
        values(name).iter().any(|v| {
            v.split(|&b| b == b',')
                .any(|e| trim(e).to_ascii_lowercase() == token.as_bytes())
        })
    };
    let end = header_len;
    if !lists("upgrade", "websocket") {
        return err(ResponseError::Upgrade, end);
    }
    if !lists("connection", "upgrade") {
        return err(ResponseError::Connection, end);
    }
    match values("sec-websocket-accept")[..] {
        [] => return err(ResponseError::AcceptMissing, end),
        [a] if a == ref_accept(&c.key) => {}
        [_] => return err(ResponseError::AcceptMismatch, end),
        _ => return err(ResponseError::AcceptRepeated, end),
    }
    let protocol = match values("sec-websocket-protocol")[..] {
        [] => None,
        [_] if c.protocols.is_empty() => return err(ResponseError::ProtocolUnrequested, end),
        [p] if ref_token(p) && c.protocols.contains(&p) => Some(p.to_vec()),
        [_] => return err(ResponseError::ProtocolNotOffered, end),
        _ => return err(ResponseError::ProtocolRepeated, end),
    };
    let extensions = match (&values("sec-websocket-extensions")[..], c.extensions) {
        (&[], _) => None,
        (&[_, _, ..], _) => return err(ResponseError::ExtensionsRepeated, end),
        (&[_], None) => return err(ResponseError::ExtensionsUnrequested, end),
        (&[e], Some(offered)) => {
            let offered = ref_extension_names(offered);
            if !ref_extension_names(e)
                .iter()
                .all(|n| ref_token(n) && offered.contains(n))
            {
                return err(ResponseError::ExtensionNotOffered, end);
            }
            Some(e.to_vec())
        }
    };
    (
        RefVerdict::Accepted {
            header_len,
            protocol,
            extensions,
        },
        Some(header_len),
    )
}

/// What the codec must answer for the first `p` bytes.
fn expected_at(want: &RefVerdict, decided: Option<usize>, p: usize) -> RefVerdict {
    match decided {
        Some(d) if p >= d => match want {
            // The end of a refusal shows once it has arrived.
            RefVerdict::Error(ResponseError::Status { code, header_len }) => {
                RefVerdict::Error(ResponseError::Status {
                    code: *code,
                    header_len: header_len.filter(|&h| h <= p),
                })
            }
            w => w.clone(),
        },
        _ => RefVerdict::Incomplete,
    }
}

fn owned(got: Result<Option<Accepted<'_>>, ResponseError>) -> RefVerdict {
    match got {
        Ok(None) => RefVerdict::Incomplete,
        Ok(Some(a)) => RefVerdict::Accepted {
            header_len: a.header_len,
            protocol: a.protocol.map(<[u8]>::to_vec),
            extensions: a.extensions.map(<[u8]>::to_vec),
        },
        Err(e) => RefVerdict::Error(e),
    }
}

pub fn check_response_case(c: &ResponseCase<'_>) {
    let offer = Offer::new(&c.key, &c.protocols, c.extensions);
    assert_eq!(offer.accept[..], ref_accept(&c.key)[..]);
    let limit = LIMITS[c.limit];
    let run = |p: usize| {
        let buf = &c.response[..p];
        let got = if c.limit == 0 {
            parse_response(buf, &offer)
        } else {
            parse_response_limited(buf, &offer, limit)
        };
        if let Ok(Some(a)) = &got {
            assert!(a.header_len <= limit.min(p));
            assert!(buf[..a.header_len].ends_with(b"\r\n\r\n"));
        }
        if let Err(e) = &got {
            assert!(!e.reason().is_empty());
        }
        owned(got)
    };
    let (want, decided) = reference(c);
    let len = c.response.len();
    let check_at = |p: usize| {
        assert_eq!(
            run(p),
            expected_at(&want, decided, p),
            "prefix {p} of {len}, decided at {decided:?}: {c:?}"
        );
    };

    check_at(len);
    // Around the decision point, and the empty buffer.
    check_at(0);
    if let Some(d) = decided {
        for p in [d.saturating_sub(1), d, d + 1] {
            if p <= len {
                check_at(p);
            }
        }
    }
    // As a caller reading in pieces would see it.
    if c.pieces.iter().any(|&s| s > 0) {
        let mut p = 0;
        for (calls, &size) in c.pieces.iter().cycle().enumerate() {
            if p == len || calls == MAX_CALLS {
                break;
            }
            p = (p + size).min(len);
            check_at(p);
        }
    }
}

// ---------------------------------------------------------------------------
// Request mode.

const RESERVED: [&str; 9] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-length",
    "transfer-encoding",
];

/// A value a server reads back as given: no CTL, no SP/HTAB at the ends.
fn ref_exact_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| is_ctl(b)) && trim(v) == v
}

/// The validity rules of `ClientRequest`, in its documented order.
pub fn ref_request_error(c: &RequestCase<'_>) -> Option<RequestError> {
    use RequestError as E;
    if c.path.is_empty() {
        return Some(E::EmptyPath);
    }
    if c.path[0] != b'/' {
        return Some(E::PathNotAbsolute);
    }
    if c.path.iter().any(|&b| b <= b' ' || b == 0x7F || b == b'#') {
        return Some(E::PathByte);
    }
    if c.host.is_empty() {
        return Some(E::EmptyHost);
    }
    if c.host.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Some(E::HostByte);
    }
    for (index, p) in c.protocols.iter().enumerate() {
        if !ref_token(p) {
            return Some(E::ProtocolName { index });
        }
        if c.protocols[..index].iter().any(|q| q == p) {
            return Some(E::DuplicateProtocol { index });
        }
    }
    if let Some(e) = c.extensions {
        let names_ok = ref_extension_names(e).iter().all(|n| ref_token(n));
        if e.is_empty() || !ref_exact_value(e) || !names_ok {
            return Some(E::Extensions);
        }
    }
    for (index, (name, value)) in c.headers.iter().enumerate() {
        if !ref_token(name) {
            return Some(E::HeaderName { index });
        }
        if RESERVED
            .iter()
            .any(|r| name.to_ascii_lowercase() == r.as_bytes())
        {
            return Some(E::ReservedHeader { index });
        }
        if !ref_exact_value(value) {
            return Some(E::HeaderValue { index });
        }
    }
    None
}

/// Header fields as (name, value).
type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Split a written request into its target and header fields; panics if it
/// is not `GET <target> HTTP/1.1`, CRLF-separated `name: value` lines and
/// a blank line.
fn reparse(req: &[u8]) -> (&[u8], Fields<'_>) {
    let head = req.strip_suffix(b"\r\n\r\n").expect("ends in a blank line");
    let mut lines = Vec::new();
    let mut rest = head;
    loop {
        match (0..rest.len().saturating_sub(1)).find(|&i| &rest[i..i + 2] == b"\r\n") {
            Some(i) => {
                lines.push(&rest[..i]);
                rest = &rest[i + 2..];
            }
            None => {
                lines.push(rest);
                break;
            }
        }
    }
    for l in &lines {
        assert!(!l.contains(&b'\r') && !l.contains(&b'\n'), "{l:x?}");
    }
    let target = lines[0]
        .strip_prefix(b"GET ")
        .and_then(|l| l.strip_suffix(b" HTTP/1.1"))
        .expect("request line");
    let fields = lines[1..]
        .iter()
        .map(|l| {
            let colon = l.iter().position(|&b| b == b':').expect("colon");
            let value = l[colon + 1..].strip_prefix(b" ").expect("one space");
            (&l[..colon], value)
        })
        .collect();
    (target, fields)
}

pub fn check_request_case(c: &RequestCase<'_>) {
    let req = ClientRequest {
        host: c.host,
        path: c.path,
        key: c.key,
        protocols: &c.protocols,
        extensions: c.extensions,
        headers: &c.headers,
    };
    let mut out = vec![0u8; 4096 + c.host.len() + c.path.len()];
    let want = ref_request_error(c);
    if let Some(e) = want {
        assert_eq!(req.encoded_len(), Err(e), "{c:?}");
        assert_eq!(req.write(&mut out), Err(e), "{c:?}");
        assert!(out.iter().all(|&b| b == 0), "wrote on error");
        assert!(!e.reason().is_empty());
        return;
    }
    let len = match req.encoded_len() {
        Ok(len) => len,
        Err(e) => panic!("{c:?}: codec refuses with {e:?}, reference accepts"),
    };
    // Too small: refused, nothing written. Big enough: the tail untouched.
    let mut small = vec![0u8; len - 1];
    assert_eq!(
        req.write(&mut small),
        Err(RequestError::BufferTooSmall { needed: len })
    );
    assert!(small.iter().all(|&b| b == 0));
    let mut out = vec![0xA5u8; len + 3];
    assert_eq!(req.write(&mut out), Ok(len));
    assert!(out[len..].iter().all(|&b| b == 0xA5));
    let bytes = &out[..len];

    // The re-parse gives back exactly the inputs.
    let (target, fields) = reparse(bytes);
    assert_eq!(target, c.path);
    let key64 = ref_base64(&c.key);
    let joined = c.protocols.join(&b", "[..]);
    let mut want: Fields<'_> = vec![
        (b"Host", c.host),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", &key64),
        (b"Sec-WebSocket-Version", b"13"),
    ];
    if !c.protocols.is_empty() {
        want.push((b"Sec-WebSocket-Protocol", &joined));
    }
    if let Some(e) = c.extensions {
        want.push((b"Sec-WebSocket-Extensions", e));
    }
    want.extend_from_slice(&c.headers);
    assert_eq!(fields, want, "{c:?}");
    if let Some((_, p)) = fields.iter().find(|(n, _)| *n == b"Sec-WebSocket-Protocol") {
        let back: Vec<&[u8]> = p.split(|&b| b == b',').map(trim).collect();
        assert_eq!(back, c.protocols);
    }

    // The server side accepts it.
    let mut upgrade = UpgradeRequest::new();
    for (name, value) in &fields {
        upgrade.header(name, value);
    }
    let line = RequestLine {
        method: b"GET",
        http_version: 1001,
        has_body: false,
        is_subrequest: false,
    };
    let accept = ref_accept(&c.key);
    let origins = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"origin"))
        .count();
    if origins > 1 {
        // The server refuses a repeated Origin (after the key): a request
        // the client may write, but not one a server accepts.
        let e = upgrade.check(&line).unwrap_err();
        assert_eq!((e.status, e.reason), (400, "repeated Origin header"));
        return;
    }
    assert_eq!(upgrade.check(&line).map(|a| a.to_vec()), Ok(accept.clone()));
    assert_eq!(expected_accept(&c.key)[..], accept[..]);

    // And the matching answer completes the handshake.
    let offer = req.offer();
    let protocol = c.protocols.last().copied();
    let extension = c.extensions.map(|e| ref_extension_names(e)[0]);
    let mut resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: "
        .to_vec();
    resp.extend_from_slice(&accept);
    resp.extend_from_slice(b"\r\n");
    for (name, value) in [
        (&b"Sec-WebSocket-Protocol: "[..], protocol),
        (b"Sec-WebSocket-Extensions: ", extension),
    ] {
        if let Some(v) = value {
            resp.extend_from_slice(name);
            resp.extend_from_slice(v);
            resp.extend_from_slice(b"\r\n");
        }
    }
    resp.extend_from_slice(b"\r\n");
    let got = parse_response(&resp, &offer);
    assert_eq!(
        got,
        Ok(Some(Accepted {
            header_len: resp.len(),
            protocol,
            extensions: extension,
        })),
        "{c:?}"
    );
}

pub fn check_case(c: &Case<'_>) {
    match c {
        Case::Response(r) => check_response_case(r),
        Case::Request(r) => check_request_case(r),
    }
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    check_case(&decode(data));
}
