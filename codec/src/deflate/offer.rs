//! The permessage-deflate negotiation (RFC 7692 section 7.1), server side:
//! parse the client's offers, pick the first one this server can honour,
//! and write the answer naming exactly the parameters in use.
//!
//! An offer the server cannot honour is declined by leaving it out of the
//! answer (the connection goes on without it): an extension offer never
//! refuses the upgrade.

use crate::handshake::is_token;

/// The server's side of the negotiation: what the operator allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Largest window the server compresses with (9 to 15 bits).
    pub server_max_window_bits: u8,
    /// Largest window the server asks the client to compress with (9 to
    /// 15); it can only ask a client that offered `client_max_window_bits`.
    pub client_max_window_bits: u8,
    /// The server may keep its compression history across messages
    /// (unless the client offers `server_no_context_takeover`).
    pub server_context_takeover: bool,
    /// The client may keep its compression history across messages; when
    /// false the answer carries `client_no_context_takeover`.
    pub client_context_takeover: bool,
}

impl Default for Settings {
    /// 15-bit windows, no context takeover in either direction.
    fn default() -> Self {
        Settings {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_context_takeover: false,
            client_context_takeover: false,
        }
    }
}

/// One parsed `permessage-deflate` offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offer {
    /// `server_no_context_takeover` was offered.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover` was offered.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` (`Some(None)` without a value).
    pub client_max_window_bits: Option<Option<u8>>,
}

/// Why an offer is declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// Not a well-formed extension element.
    Malformed,
    /// A parameter RFC 7692 does not define.
    UnknownParameter,
    /// A parameter given twice.
    RepeatedParameter,
    /// A value missing, superfluous or out of range.
    BadValue,
    /// `server_max_window_bits=8`: zlib cannot compress with an 8-bit
    /// window, and a larger one would break the client's limit.
    WindowTooSmall,
}

/// The parameters in use on a connection, as the answer names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (answered when
    /// offered or below 15); `None`: 15.
    pub server_max_window_bits: Option<u8>,
    /// The client compresses with at most this window (answered only when
    /// offered); `None`: 15.
    pub client_max_window_bits: Option<u8>,
}

/// The extension's name.
pub const NAME: &str = "permessage-deflate";

/// Longest answer [`Agreement::write`] produces.
pub const MAX_ANSWER_LEN: usize = 128;

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &[];
    };
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .unwrap_or(start);
    &s[start..=end]
}

/// A window size value: exactly `8` to `15`, as a token or quoted string.
fn window_bits(value: &[u8]) -> Result<u8, Decline> {
    let v = match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    };
    let n = match v {
        [d @ b'8'..=b'9'] => d - b'0',
        [b'1', d @ b'0'..=b'5'] => 10 + d - b'0',
        _ => return Err(Decline::BadValue),
    };
    Ok(n)
}

/// Parse one element of `Sec-WebSocket-Extensions` (`name; param; ...`).
/// `None` if it names another extension.
pub fn parse_offer(element: &[u8]) -> Option<Result<Offer, Decline>> {
    let mut parts = element.split(|&b| b == b';');
    let name = trim(parts.next().unwrap_or_default());
    if !name.eq_ignore_ascii_case(NAME.as_bytes()) {
        return None;
    }
    let mut offer = Offer::default();
    let mut seen = [false; 4];
    for part in parts {
        let (key, value) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => (trim(&part[..eq]), Some(trim(&part[eq + 1..]))),
            None => (trim(part), None),
        };
        if !is_token(key) {
            return Some(Err(Decline::Malformed));
        }
        let index = match key.to_ascii_lowercase().as_slice() {
            b"server_no_context_takeover" => 0,
            b"client_no_context_takeover" => 1,
            b"server_max_window_bits" => 2,
            b"client_max_window_bits" => 3,
            _ => return Some(Err(Decline::UnknownParameter)),
        };
        if core::mem::replace(&mut seen[index], true) {
            return Some(Err(Decline::RepeatedParameter));
        }
        let result = match (index, value) {
            (0 | 1, Some(_)) | (2, None) => Err(Decline::BadValue),
            (0, None) => {
                offer.server_no_context_takeover = true;
                Ok(())
            }
            (1, None) => {
                offer.client_no_context_takeover = true;
                Ok(())
            }
            (2, Some(v)) => window_bits(v).map(|n| offer.server_max_window_bits = Some(n)),
            (_, None) => {
                offer.client_max_window_bits = Some(None);
                Ok(())
            }
            (_, Some(v)) => window_bits(v).map(|n| offer.client_max_window_bits = Some(Some(n))),
        };
        if let Err(e) = result {
            return Some(Err(e));
        }
    }
    Some(Ok(offer))
}

impl Offer {
    /// The answer to this offer under `settings`, or why it is declined.
    pub fn accept(&self, settings: &Settings) -> Result<Agreement, Decline> {
        let server_max_window_bits = match self.server_max_window_bits {
            Some(8) if settings.server_max_window_bits > 8 => return Err(Decline::WindowTooSmall),
            Some(v) => Some(v.min(settings.server_max_window_bits)),
            None if settings.server_max_window_bits < 15 => Some(settings.server_max_window_bits),
            None => None,
        };
        let client_max_window_bits = match self.client_max_window_bits {
            None => None,
            Some(Some(v)) => Some(v.min(settings.client_max_window_bits)),
            Some(None) if settings.client_max_window_bits < 15 => {
                Some(settings.client_max_window_bits)
            }
            Some(None) => None,
        };
        Ok(Agreement {
            server_no_context_takeover: self.server_no_context_takeover
                || !settings.server_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover
                || !settings.client_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }
}

/// The answer to the first acceptable offer among `elements` (the
/// elements of every `Sec-WebSocket-Extensions` line, in order), if any.
pub fn negotiate<'a>(
    elements: impl IntoIterator<Item = &'a [u8]>,
    settings: &Settings,
) -> Option<Agreement> {
    elements
        .into_iter()
        .filter_map(parse_offer)
        .find_map(|offer| offer.ok()?.accept(settings).ok())
}

impl Agreement {
    /// Window the server compresses with.
    pub fn server_window_bits(&self) -> u8 {
        self.server_max_window_bits.unwrap_or(15)
    }

    /// Window the client compresses with (at most).
    pub fn client_window_bits(&self) -> u8 {
        self.client_max_window_bits.unwrap_or(15)
    }

    /// Write the `Sec-WebSocket-Extensions` value into `out`; returns its
    /// length.
    pub fn write(&self, out: &mut [u8; MAX_ANSWER_LEN]) -> usize {
        let mut n = 0;
        let mut put = |s: &[u8]| {
            out[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        };
        put(NAME.as_bytes());
        if self.server_no_context_takeover {
            put(b"; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            put(b"; client_no_context_takeover");
        }
        let mut digits = [0u8; 2];
        for (name, bits) in [
            (
                &b"; server_max_window_bits="[..],
                self.server_max_window_bits,
            ),
            (
                &b"; client_max_window_bits="[..],
                self.client_max_window_bits,
            ),
        ] {
            if let Some(bits) = bits {
                put(name);
                put(if bits >= 10 {
                    digits = [b'1', b'0' + bits - 10];
                    &digits[..]
                } else {
                    digits[0] = b'0' + bits;
                    &digits[..1]
                });
            }
        }
        n
    }

    /// The answer as a string (for logs and tests).
    pub fn to_header_value(&self) -> String {
        let mut out = [0u8; MAX_ANSWER_LEN];
        let n = self.write(&mut out);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offers: &[&str], settings: &Settings) -> Option<String> {
        negotiate(offers.iter().map(|s| s.as_bytes()), settings).map(|a| a.to_header_value())
    }

    #[test]
    fn browsers_and_defaults() {
        let d = Settings::default();
        let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits"], &d).as_deref(),
            Some(both)
        );
        assert_eq!(answer(&["permessage-deflate"], &d).as_deref(), Some(both));
        let takeover = Settings {
            server_context_takeover: true,
            client_context_takeover: true,
            ..d
        };
        assert_eq!(
            answer(&["permessage-deflate"], &takeover).as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(answer(&["x-webkit-deflate-frame"], &d), None);
    }

    #[test]
    fn window_bits_answers() {
        let s = Settings {
            server_max_window_bits: 12,
            client_max_window_bits: 10,
            server_context_takeover: true,
            client_context_takeover: true,
        };
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits"], &s).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10")
        );
        // Not offered: never answered.
        assert_eq!(
            answer(&["permessage-deflate"], &s).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
        assert_eq!(
            answer(
                &["permessage-deflate; server_max_window_bits=9; client_max_window_bits=\"15\""],
                &s
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10")
        );
        let d = Settings {
            server_context_takeover: true,
            client_context_takeover: true,
            ..Settings::default()
        };
        assert_eq!(
            answer(
                &["permessage-deflate; server_max_window_bits=15; client_max_window_bits=8"],
                &d
            )
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=15; client_max_window_bits=8")
        );
    }

    #[test]
    fn declined_offers_fall_through_to_the_next() {
        let d = Settings::default();
        for bad in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
            "permessage-deflate; =3",
            "permessage-deflate; server_max_window_bits=\"1 0\"",
        ] {
            assert_eq!(answer(&[bad], &d), None, "{bad}");
            assert_eq!(
                answer(&[bad, "permessage-deflate; server_max_window_bits=10"], &d).as_deref(),
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_and_parameters_are_case_insensitive() {
        let d = Settings::default();
        assert_eq!(
            answer(&["PerMessage-Deflate ; Server_Max_Window_Bits = 11 "], &d).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11")
        );
    }
}
