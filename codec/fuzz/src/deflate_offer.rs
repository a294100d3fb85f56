//! `deflate_offer`: the permessage-deflate negotiation
//! (`deflate::negotiate`) on arbitrary `Sec-WebSocket-Extensions` values,
//! against a reference written from RFC 7692 section 7.1 in another shape
//! (a character scanner instead of splitting), plus what any answer must
//! satisfy: it parses back as an offer, names only parameters in use, never
//! raises a window the client limited, names `client_max_window_bits` only
//! when offered, and never more than the settings allow.
//!
//! Input layout: byte 0: bits 0-2 server window (9 + n, capped at 15),
//! bits 3-5 client window, bit 6 server takeover, bit 7 client takeover;
//! the rest: the header value (split into list elements at commas as the
//! handshake does).

use ngx_websocket_codec::deflate::negotiate;
use ngx_websocket_codec::deflate::offer::{parse_offer, Agreement, Settings};
use ngx_websocket_codec::handshake::list_elements;

pub fn decode(data: &[u8]) -> (Settings, &[u8]) {
    let b0 = data.first().copied().unwrap_or(0);
    let settings = Settings {
        server_max_window_bits: (9 + (b0 & 7)).min(15),
        client_max_window_bits: (9 + ((b0 >> 3) & 7)).min(15),
        server_context_takeover: b0 & 0x40 != 0,
        client_context_takeover: b0 & 0x80 != 0,
    };
    (settings, data.get(1..).unwrap_or_default())
}

/// One parameter as the reference scanner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: Vec<u8>,
    value: Option<Vec<u8>>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Scans `name *( OWS ";" OWS param )` by hand; `None` if malformed.
fn scan(element: &[u8]) -> Option<(Vec<u8>, Vec<Param>)> {
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < element.len() && (element[*i] == b' ' || element[*i] == b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> Vec<u8> {
        let start = *i;
        while *i < element.len() && is_tchar(element[*i]) {
            *i += 1;
        }
        element[start..*i].to_vec()
    };
    ws(&mut i);
    let name = token(&mut i);
    ws(&mut i);
    let mut params = Vec::new();
    while i < element.len() {
        if element[i] != b';' {
            return None;
        }
        i += 1;
        ws(&mut i);
        let pname = token(&mut i);
        if pname.is_empty() {
            return None;
        }
        ws(&mut i);
        let mut value = None;
        if i < element.len() && element[i] == b'=' {
            i += 1;
            ws(&mut i);
            let v = if i < element.len() && element[i] == b'"' {
                let close = element[i + 1..].iter().position(|&b| b == b'"')?;
                let v = element[i + 1..i + 1 + close].to_vec();
                i += close + 2;
                v
            } else {
                token(&mut i)
            };
            ws(&mut i);
            value = Some(v);
        }
        params.push(Param { name: pname, value });
    }
    Some((name, params))
}

fn bits(v: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(v).ok()?;
    if s.starts_with('0') || s.starts_with('+') {
        return None;
    }
    let n: u8 = s.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// The reference answer to one element: `None` = not permessage-deflate,
/// `Some(None)` = declined.
fn reference_one(element: &[u8], s: &Settings) -> Option<Option<Agreement>> {
    let name_end = element
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(element.len());
    let name = String::from_utf8_lossy(&element[..name_end]);
    if !name
        .trim_matches([' ', '\t'])
        .eq_ignore_ascii_case("permessage-deflate")
    {
        return None;
    }
    let Some((_, params)) = scan(element) else {
        return Some(None);
    };
    let (mut snct, mut cnct, mut smwb, mut cmwb) = (false, false, None, None);
    let mut seen = Vec::new();
    for p in &params {
        let lname = p.name.to_ascii_lowercase();
        if seen.contains(&lname) {
            return Some(None);
        }
        seen.push(lname.clone());
        match (lname.as_slice(), &p.value) {
            (b"server_no_context_takeover", None) => snct = true,
            (b"client_no_context_takeover", None) => cnct = true,
            (b"server_max_window_bits", Some(v)) => match bits(v) {
                Some(n) => smwb = Some(n),
                None => return Some(None),
            },
            (b"client_max_window_bits", None) => cmwb = Some(None),
            (b"client_max_window_bits", Some(v)) => match bits(v) {
                Some(n) => cmwb = Some(Some(n)),
                None => return Some(None),
            },
            _ => return Some(None),
        }
    }
    if smwb == Some(8) {
        return Some(None);
    }
    let server = match smwb {
        Some(v) => Some(v.min(s.server_max_window_bits)),
        None => (s.server_max_window_bits < 15).then_some(s.server_max_window_bits),
    };
    let client = match cmwb {
        None => None,
        Some(Some(v)) => Some(v.min(s.client_max_window_bits)),
        Some(None) => (s.client_max_window_bits < 15).then_some(s.client_max_window_bits),
    };
    Some(Some(Agreement {
        server_no_context_takeover: snct || !s.server_context_takeover,
        client_no_context_takeover: cnct || !s.client_context_takeover,
        server_max_window_bits: server,
        client_max_window_bits: client,
    }))
}

pub fn check(data: &[u8]) {
    let (settings, value) = decode(data);
    let got = negotiate(list_elements(value), &settings);
    let want = list_elements(value).find_map(|e| reference_one(e, &settings).flatten());
    assert_eq!(got, want, "value {:?}", String::from_utf8_lossy(value));
    let Some(a) = got else {
        return;
    };
    // The answer reads back as an offer with the same parameters.
    let text = a.to_header_value();
    let back = parse_offer(text.as_bytes())
        .expect("names permessage-deflate")
        .expect("a valid offer");
    assert_eq!(
        back.server_no_context_takeover,
        a.server_no_context_takeover
    );
    assert_eq!(
        back.client_no_context_takeover,
        a.client_no_context_takeover
    );
    assert_eq!(back.server_max_window_bits, a.server_max_window_bits);
    assert_eq!(
        back.client_max_window_bits,
        a.client_max_window_bits.map(Some)
    );
    assert!(a.server_window_bits() <= settings.server_max_window_bits.max(9));
    assert!(a.server_window_bits() >= 9, "zlib cannot do 8");
    if !settings.server_context_takeover {
        assert!(a.server_no_context_takeover);
    }
    if !settings.client_context_takeover {
        assert!(a.client_no_context_takeover);
    }
}
