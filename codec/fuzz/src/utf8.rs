//! `utf8`: arbitrary bytes fed to `Utf8Validator` in arbitrary pieces must
//! give the verdict of `std::str::from_utf8` on the whole, and fail exactly
//! at the piece holding the first byte that makes the text invalid.
//!
//! Input layout: byte 0 = number N of piece sizes (low 4 bits); the next N
//! bytes are piece sizes (0 allowed), used cyclically; the rest is the text.
//! N = 0 feeds the text as one piece.

use ngx_websocket_codec::utf8::Utf8Validator;

/// Index of the first byte at which `bytes` stops being a prefix of valid
/// UTF-8 (the byte a fail-fast validator must reject), or `None` if every
/// prefix is valid or merely ends inside a code point.
pub fn first_bad_byte(bytes: &[u8]) -> Option<usize> {
    let e = core::str::from_utf8(bytes).err()?;
    e.error_len()?;
    // `valid_up_to` is where the bad sequence starts; the byte that makes it
    // bad is within the next four.
    let start = e.valid_up_to();
    (start..bytes.len()).find(|&i| {
        core::str::from_utf8(&bytes[start..=i])
            .err()
            .is_some_and(|e| e.error_len().is_some())
    })
}

/// Split `data` into the piece sizes and the text.
pub fn decode(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&b0, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = usize::from(b0 & 0x0F).min(rest.len());
    let sizes = rest[..n].iter().map(|&b| usize::from(b)).collect();
    (sizes, &rest[n..])
}

/// Cut `text` into pieces of the given sizes (cyclically; the last piece
/// takes the remainder). No sizes means one piece.
pub fn pieces<'a>(sizes: &[usize], text: &'a [u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() || sizes.iter().all(|&s| s == 0) {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut rest = text;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// Feed `pieces` and check every result against `from_utf8`.
pub fn check_pieces(pieces: &[&[u8]]) {
    let text: Vec<u8> = pieces.concat();
    let bad = first_bad_byte(&text);
    let mut v = Utf8Validator::new();
    let mut start = 0;
    for piece in pieces {
        let end = start + piece.len();
        let r = v.feed(piece);
        match bad {
            Some(b) if b < end => {
                // The piece holding the bad byte fails (and no earlier one did).
                assert!(
                    r.is_err(),
                    "piece {start}..{end} holds bad byte {b}: {text:x?}"
                );
                break;
            }
            _ => {
                assert!(
                    r.is_ok(),
                    "piece {start}..{end} rejected, no bad byte: {text:x?}"
                );
                // Complete exactly when the prefix ends on a code point boundary.
                let complete = core::str::from_utf8(&text[..end]).is_ok();
                assert_eq!(v.is_complete(), complete, "after {end} bytes: {text:x?}");
            }
        }
        start = end;
    }
    if bad.is_none() {
        assert_eq!(v.is_complete(), core::str::from_utf8(&text).is_ok());
    }
    // reset() forgets everything, whatever state the validator was left in.
    v.reset();
    assert!(v.is_complete());
    let whole = v.feed(&text);
    assert_eq!(whole.is_err(), bad.is_some(), "{text:x?}");
    if whole.is_ok() {
        assert_eq!(v.is_complete(), core::str::from_utf8(&text).is_ok());
    }
}

/// The fuzz entry point.
pub fn check(data: &[u8]) {
    let (sizes, text) = decode(data);
    check_pieces(&pieces(&sizes, text));
}
