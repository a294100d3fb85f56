//! Close status codes (RFC 6455 section 7.4) and the check applied to codes
//! received from a peer.

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// Endpoint going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// Protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Data of a type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Message data inconsistent with its type (e.g. invalid UTF-8 in text).
pub const INVALID_PAYLOAD: u16 = 1007;
/// Generic policy violation.
pub const POLICY_VIOLATION: u16 = 1008;
/// Message too big to process.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Unexpected condition on the server.
pub const INTERNAL_ERROR: u16 = 1011;

/// Codes a peer may send in a close frame: 1000-1003, 1007-1011, 3000-4999.
///
/// 1004 is reserved, 1005/1006 are for local reporting only and must never
/// be on the wire, 1012-2999 are unassigned protocol codes, and anything
/// outside 1000-4999 is not a close code at all.
pub fn is_valid_received_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_received_code(code), "{code}");
        }
    }

    #[test]
    fn invalid_codes() {
        for code in [
            0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_received_code(code), "{code}");
        }
    }

    #[test]
    fn constants_are_valid_to_receive() {
        for code in [
            NORMAL,
            GOING_AWAY,
            PROTOCOL_ERROR,
            UNSUPPORTED_DATA,
            INVALID_PAYLOAD,
            POLICY_VIOLATION,
            MESSAGE_TOO_BIG,
            INTERNAL_ERROR,
        ] {
            assert!(is_valid_received_code(code));
        }
    }
}
