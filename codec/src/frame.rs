//! WebSocket frame headers (RFC 6455 section 5.2): parsing headers of either
//! role without allocating, and encoding them (unmasked as a server sends
//! them, masked as a client does).

/// Continuation of a fragmented message.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text data frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary data frame.
pub const OP_BINARY: u8 = 0x2;
/// Close control frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping control frame.
pub const OP_PING: u8 = 0x9;
/// Pong control frame.
pub const OP_PONG: u8 = 0xA;

/// Longest frame header: 2 + 8 (64-bit length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;
/// Longest server frame header (servers never mask).
pub const MAX_SERVER_HEADER_LEN: usize = 10;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit number (0..=7).
    pub rsv: u8,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Control frames are the opcodes with the high bit set (0x8..=0xF).
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// A header that cannot be represented at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The 64-bit length has its most significant bit set (RFC 6455 5.2).
    LengthTopBitSet,
}

/// Parse a header at the start of `buf`.
///
/// `Ok(None)` if more bytes are needed, otherwise the header and its length
/// in bytes. Non-minimal length encodings are accepted (the RFC does not
/// require rejecting them). Never allocates.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let (payload_len, mut pos) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => {
            let mut len = [0u8; 8];
            match buf.get(2..10) {
                Some(b) => len.copy_from_slice(b),
                None => return Ok(None),
            }
            let len = u64::from_be_bytes(len);
            if len >> 63 != 0 {
                return Err(HeaderError::LengthTopBitSet);
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        match buf.get(pos..pos + 4) {
            Some(&[a, b, c, d]) => {
                pos += 4;
                Some([a, b, c, d])
            }
            _ => return Ok(None),
        }
    } else {
        None
    };
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0F,
        mask,
        payload_len,
    };
    Ok(Some((header, pos)))
}

/// Length of an unmasked server header for this payload length: 2, 4 or 10.
pub fn server_header_len(payload_len: u64) -> usize {
    match payload_len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// Length of a header for this payload length, with (`masked`) or without
/// a masking key: 2, 4 or 10 bytes, plus 4 for the key.
pub fn header_len(payload_len: u64, masked: bool) -> usize {
    server_header_len(payload_len) + if masked { 4 } else { 0 }
}

/// Write an unmasked server frame header with the minimal length encoding;
/// returns the bytes written (2, 4 or 10).
///
/// Callers guarantee `out` is long enough; if it is not, nothing is written
/// and 0 is returned rather than panicking.
pub fn encode_header(fin: bool, opcode: u8, payload_len: u64, out: &mut [u8]) -> usize {
    encode(fin, 0, opcode, payload_len, None, out)
}

/// Write a frame header: FIN, the RSV bits (`rsv`, 0..=7, RSV1 = 4), the
/// opcode, the minimal length encoding and, if `mask` is given, the MASK bit
/// and key. Returns the bytes written (2 to 14), or 0 (nothing written) if
/// `out` is too short.
pub fn encode(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload_len: u64,
    mask: Option<[u8; 4]>,
    out: &mut [u8],
) -> usize {
    let n = server_header_len(payload_len);
    let total = n + if mask.is_some() { 4 } else { 0 };
    let Some(h) = out.get_mut(..total) else {
        return 0;
    };
    h[0] = if fin { 0x80 } else { 0 } | ((rsv & 7) << 4) | (opcode & 0x0F);
    match n {
        2 => h[1] = payload_len as u8,
        4 => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&payload_len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        h[1] |= 0x80;
        h[n..].copy_from_slice(&key);
    }
    total
}

/// A whole frame for tests: first byte `b0` (FIN, RSV, opcode), minimal
/// length, the payload masked with `mask` if given.
#[cfg(test)]
pub(crate) fn test_frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![0u8; MAX_HEADER_LEN];
    let n = encode(
        b0 & 0x80 != 0,
        (b0 >> 4) & 7,
        b0 & 0x0F,
        payload.len() as u64,
        mask,
        &mut v,
    );
    v.truncate(n);
    match mask {
        Some(k) => v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4])),
        None => v.extend_from_slice(payload),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(buf: &[u8]) -> (FrameHeader, usize) {
        // Every strict prefix must ask for more bytes.
        for i in 0..buf.len() {
            assert_eq!(parse_header(&buf[..i]), Ok(None), "prefix {i}");
        }
        let (h, len) = parse_header(buf).unwrap().unwrap();
        assert_eq!(len, buf.len());
        // Trailing bytes do not change the result.
        let mut longer = buf.to_vec();
        longer.extend_from_slice(&[0xFF; 20]);
        assert_eq!(parse_header(&longer), Ok(Some((h, len))));
        (h, len)
    }

    #[test]
    fn rfc_unmasked_hello() {
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (h, len) = parse_all(&frame[..2]);
        assert_eq!(len, 2);
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OP_TEXT,
                mask: None,
                payload_len: 5
            }
        );
        assert!(!h.is_control());
        let mut out = [0u8; 10];
        assert_eq!(encode_header(true, OP_TEXT, 5, &mut out), 2);
        assert_eq!(out[..2], frame[..2]);
    }

    #[test]
    fn rfc_masked_hello() {
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, len) = parse_all(&frame[..6]);
        assert_eq!(len, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!((h.fin, h.opcode, h.payload_len), (true, OP_TEXT, 5));
        let mut payload = frame[6..].to_vec();
        crate::mask::apply_mask(&mut payload, h.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn rfc_fragmented() {
        let (h, _) = parse_all(&[0x01, 0x03]);
        assert_eq!((h.fin, h.opcode, h.payload_len), (false, OP_TEXT, 3));
        let (h, _) = parse_all(&[0x80, 0x02]);
        assert_eq!((h.fin, h.opcode, h.payload_len), (true, OP_CONTINUATION, 2));
    }

    #[test]
    fn rfc_ping_pong() {
        let (h, _) = parse_all(&[0x89, 0x05]);
        assert_eq!((h.fin, h.opcode, h.payload_len), (true, OP_PING, 5));
        assert!(h.is_control());
        let (h, _) = parse_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!((h.opcode, h.payload_len), (OP_PONG, 5));
        assert!(h.mask.is_some());
    }

    #[test]
    fn rfc_256_and_64k() {
        let (h, len) = parse_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((len, h.opcode, h.payload_len), (4, OP_BINARY, 256));
        let hdr = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
        let (h, len) = parse_all(&hdr);
        assert_eq!((len, h.payload_len), (10, 65536));
        let mut out = [0u8; 10];
        assert_eq!(encode_header(true, OP_BINARY, 256, &mut out), 4);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(encode_header(true, OP_BINARY, 65536, &mut out), 10);
        assert_eq!(out, hdr);
    }

    #[test]
    fn masked_extended_lengths() {
        let (h, len) = parse_all(&[0x82, 0xFE, 0x00, 0x7E, 1, 2, 3, 4]);
        assert_eq!((len, h.payload_len, h.mask), (8, 126, Some([1, 2, 3, 4])));
        let mut hdr = vec![0x02, 0xFF];
        hdr.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        hdr.extend_from_slice(&[9, 8, 7, 6]);
        let (h, len) = parse_all(&hdr);
        assert_eq!((len, h.payload_len, h.fin), (14, u64::MAX >> 1, false));
        assert_eq!(len, MAX_HEADER_LEN);
    }

    #[test]
    fn non_minimal_lengths_accepted() {
        let (h, _) = parse_all(&[0x82, 0x7E, 0x00, 0x05]);
        assert_eq!(h.payload_len, 5);
        let (h, _) = parse_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(h.payload_len, 0);
    }

    #[test]
    fn rsv_and_opcode_bits() {
        let (h, _) = parse_all(&[0x7B, 0x00]);
        assert_eq!((h.fin, h.rsv, h.opcode), (false, 7, 0xB));
        let (h, _) = parse_all(&[0xC2, 0x00]);
        assert_eq!((h.fin, h.rsv, h.opcode), (true, 4, OP_BINARY));
    }

    #[test]
    fn top_bit_error() {
        let hdr = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(parse_header(&hdr), Err(HeaderError::LengthTopBitSet));
        assert_eq!(parse_header(&hdr[..9]), Ok(None));
    }

    #[test]
    fn encode_masked_and_rsv() {
        let mut out = [0u8; MAX_HEADER_LEN];
        for len in [0u64, 5, 125, 126, 65535, 65536] {
            let n = encode(true, 4, OP_TEXT, len, Some([1, 2, 3, 4]), &mut out);
            assert_eq!(n, header_len(len, true));
            let (h, hl) = parse_header(&out[..n]).unwrap().unwrap();
            assert_eq!(hl, n);
            assert_eq!(
                (h.fin, h.rsv, h.opcode, h.mask, h.payload_len),
                (true, 4, OP_TEXT, Some([1, 2, 3, 4]), len)
            );
        }
        // Too short: nothing written.
        let mut short = [0xEEu8; 5];
        assert_eq!(encode(true, 0, OP_PING, 0, Some([9; 4]), &mut short), 0);
        assert_eq!(short, [0xEE; 5]);
    }

    #[test]
    fn encode_lengths() {
        for (len, n) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (u64::MAX >> 1, 10),
        ] {
            let mut out = [0u8; MAX_SERVER_HEADER_LEN];
            assert_eq!(server_header_len(len), n);
            assert_eq!(encode_header(false, OP_PONG, len, &mut out), n);
            let (h, hl) = parse_header(&out[..n]).unwrap().unwrap();
            assert_eq!(hl, n);
            assert_eq!(
                h,
                FrameHeader {
                    fin: false,
                    rsv: 0,
                    opcode: OP_PONG,
                    mask: None,
                    payload_len: len
                }
            );
        }
    }
}
