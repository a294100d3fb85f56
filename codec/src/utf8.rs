//! Incremental UTF-8 validation for text messages that arrive in pieces
//! (fragments, or partial reads of one frame), failing at the first byte
//! that makes the message invalid as RFC 6455 section 8.1 asks.

/// Incremental UTF-8 validator for a text message arriving in pieces.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// Bytes of a code point that is valid so far but not yet complete.
    carry: [u8; 4],
    carry_len: u8,
}

/// The message is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

/// Length of the sequence started by a lead byte that `from_utf8` accepted
/// as the start of a truncated code point.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate the next piece.
    ///
    /// Fails as soon as a byte makes the sequence invalid, even if the code
    /// point is split across pieces; a valid but incomplete code point at the
    /// end is carried over to the next call.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut bytes = bytes;
        if self.carry_len > 0 {
            // Complete the carried code point with the first bytes of this
            // piece, reusing std's checks of the per-position byte ranges
            // (overlongs, surrogates, > U+10FFFF).
            let have = usize::from(self.carry_len);
            let need = sequence_len(self.carry[0]).saturating_sub(have);
            let take = need.min(bytes.len()).min(4 - have);
            let mut tmp = self.carry;
            tmp[have..have + take].copy_from_slice(&bytes[..take]);
            match core::str::from_utf8(&tmp[..have + take]) {
                Ok(_) => {
                    self.carry_len = 0;
                    bytes = &bytes[take..];
                }
                // Still a valid prefix: this piece was too short to finish it.
                Err(e) if e.error_len().is_none() => {
                    self.carry = tmp;
                    self.carry_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(Utf8Error),
            }
        }
        match core::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // `error_len() == None` means everything is valid except a
            // truncated (at most 3-byte) code point at the very end.
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                let n = tail.len().min(3);
                self.carry[..n].copy_from_slice(&tail[..n]);
                self.carry_len = n as u8;
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// True when not in the middle of a code point (the message may end
    /// here).
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forget any carried state, ready for a new message.
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        "hello",
        "h\u{e9}llo \u{20ac} \u{1F600}!",
        "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}",
        "\u{10FFFF}\u{FFFF}\u{800}\u{7FF}\u{80}\u{7F}",
        "\u{1F600}\u{1F601}\u{1F602}",
    ];

    #[test]
    fn every_split_point() {
        for s in SAMPLES {
            let b = s.as_bytes();
            for i in 0..=b.len() {
                for j in i..=b.len() {
                    let mut v = Utf8Validator::new();
                    assert_eq!(v.feed(&b[..i]), Ok(()));
                    assert_eq!(v.feed(&b[i..j]), Ok(()));
                    assert_eq!(v.feed(&b[j..]), Ok(()));
                    assert!(v.is_complete(), "{s:?} {i} {j}");
                }
            }
        }
    }

    #[test]
    fn four_byte_one_at_a_time() {
        let mut v = Utf8Validator::new();
        let b = "\u{1F600}".as_bytes();
        for (i, byte) in b.iter().enumerate() {
            assert_eq!(v.feed(&[*byte]), Ok(()));
            assert_eq!(v.is_complete(), i == b.len() - 1);
        }
        // Empty pieces change nothing.
        assert_eq!(v.feed(&[]), Ok(()));
        assert!(v.is_complete());
    }

    #[test]
    fn incomplete_at_end_and_reset() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ab\xE2\x82"), Ok(()));
        assert!(!v.is_complete());
        assert_eq!(v.feed(&[]), Ok(()));
        assert!(!v.is_complete());
        v.reset();
        assert!(v.is_complete());
        assert_eq!(v.feed(b"\xAC"), Err(Utf8Error));
    }

    /// (sequence, index of the first byte that makes it invalid)
    const INVALID: &[(&[u8], usize)] = &[
        (b"\xC0", 0),
        (b"\xC1\xBF", 0),
        (b"\xF5", 0),
        (b"\xF8\x88\x80\x80\x80", 0),
        (b"\xFF", 0),
        (b"\x80", 0),
        (b"a\xBF", 1),
        (b"\xE0\x80\x80", 1),
        (b"\xE0\x9F\xBF", 1),
        (b"\xED\xA0\x80", 1),
        (b"\xED\xBF\xBF", 1),
        (b"\xF0\x80\x80\x80", 1),
        (b"\xF0\x8F\xBF\xBF", 1),
        (b"\xF4\x90\x80\x80", 1),
        (b"\xE2\x82\x41", 2),
        (b"\xF0\x9F\x98\x41", 3),
        (b"\xC2\xC2", 1),
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            12,
        ),
    ];

    #[test]
    fn fails_fast_one_byte_at_a_time() {
        for &(seq, bad) in INVALID {
            let mut v = Utf8Validator::new();
            for (i, b) in seq.iter().enumerate() {
                let r = v.feed(&[*b]);
                if i < bad {
                    assert_eq!(r, Ok(()), "{seq:x?} byte {i}");
                } else {
                    assert_eq!(r, Err(Utf8Error), "{seq:x?} byte {i}");
                    break;
                }
            }
        }
    }

    #[test]
    fn fails_fast_at_any_split() {
        for &(seq, bad) in INVALID {
            // Everything before the bad byte is accepted, in any split; the
            // piece containing the bad byte is rejected.
            for split in 0..=bad {
                let mut v = Utf8Validator::new();
                assert_eq!(v.feed(&seq[..split]), Ok(()));
                assert_eq!(v.feed(&seq[split..bad]), Ok(()), "{seq:x?} {split}");
                assert_eq!(v.feed(&seq[bad..=bad]), Err(Utf8Error), "{seq:x?} {split}");
            }
            assert_eq!(Utf8Validator::new().feed(seq), Err(Utf8Error));
        }
    }

    #[test]
    fn f4_then_90() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xF4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(Utf8Error));
    }
}
