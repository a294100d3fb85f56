//! Unpredictable masking keys and `Sec-WebSocket-Key` nonces (RFC 6455
//! sections 5.3, 4.1 and 10.3) from ChaCha8, a stream cipher used as a
//! CSPRNG: the ChaCha block function of RFC 8439 section 2.3 with 8 rounds,
//! a 256-bit key, a 64-bit block counter and a zero nonce (the original
//! ChaCha layout: counter in words 12 and 13, nonce in words 14 and 15).
//!
//! A client masks every frame with a fresh key, so the generator sits on the
//! per-frame path: one 64-byte block is kept buffered and a mask key is a
//! 4-byte copy out of it, with a block computed once every 16 keys (about
//! 35 ns of scalar arithmetic on a current x86-64 core, so under 4 ns per
//! key amortised). Eight rounds rather than twenty because no published
//! attack gets past 7 rounds and the output is public anyway (masking keys
//! travel in clear in every frame header): what RFC 6455 10.3 asks is only
//! that someone who sees them cannot predict the next one.
//!
//! The codec does no I/O: the caller seeds each stream once from the
//! operating system (getrandom(2) or `/dev/urandom`).

use core::fmt;

/// Bytes per ChaCha block.
const BLOCK_LEN: usize = 64;

/// Rounds of the block function used by [`KeyStream`].
const ROUNDS: usize = 8;

/// "expand 32-byte k" as four little-endian words (RFC 8439 2.3).
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// One ChaCha quarter round (RFC 8439 2.1) on four words of the state.
#[inline(always)]
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha block function with `R` rounds (`R` even; RFC 8439 2.3 uses
/// 20): `tail` is words 12 to 15 of the input state (counter and nonce, in
/// whichever layout the caller uses). Returns the 16 output words, which
/// serialise little-endian to the 64-byte key stream block.
///
/// The round count is a const parameter so that the loop is unrolled for
/// the one count the stream uses, while the tests can still run the
/// 20-round version against the RFC's vector.
#[inline(always)]
fn block<const R: usize>(key: &[u32; 8], tail: [u32; 4]) -> [u32; 16] {
    let input = [
        SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3], key[0], key[1], key[2], key[3], key[4], key[5],
        key[6], key[7], tail[0], tail[1], tail[2], tail[3],
    ];
    let mut s = input;
    for _ in 0..R / 2 {
        // Column round, then diagonal round.
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    // Adding the input back is what makes the block function one-way.
    for (w, i) in s.iter_mut().zip(input) {
        *w = w.wrapping_add(i);
    }
    s
}

/// Little-endian serialisation of a block (RFC 8439 2.3).
fn serialise(words: [u32; 16]) -> [u8; BLOCK_LEN] {
    let mut out = [0u8; BLOCK_LEN];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        for (d, s) in chunk.iter_mut().zip(w.to_le_bytes()) {
            *d = s;
        }
    }
    out
}

/// A ChaCha8 key stream: a cryptographically secure generator of masking
/// keys and handshake nonces, seeded once by the caller.
///
/// The state is 112 bytes on 64-bit targets: the 32-byte key, the 8-byte
/// block counter, one buffered 64-byte block and the read position in it.
/// Nothing is allocated and no method can panic.
///
/// Deliberately not `Clone`: two copies of one stream hand out the same
/// keys, which is exactly the predictability RFC 6455 10.3 forbids. To get
/// an independent stream, seed a new one from this one's [`fill`] output.
///
/// The key is not erased after use (no "fast key erasure"): the outputs are
/// sent in clear, so backtracking resistance buys nothing for masking keys.
/// A caller who derives secrets from [`fill`] and fears memory disclosure
/// should seed a dedicated stream and drop it afterwards.
///
/// The 64-bit counter wraps (and the stream would repeat) after 2^70 bytes,
/// which at one block per nanosecond takes over five centuries.
///
/// [`fill`]: KeyStream::fill
pub struct KeyStream {
    key: [u32; 8],
    counter: u64,
    buf: [u8; BLOCK_LEN],
    /// Index of the next unused byte of `buf`; `BLOCK_LEN` when empty.
    pos: usize,
}

impl KeyStream {
    /// A stream keyed with `seed`, which must come from a secure source
    /// (the operating system's generator). Cheap: the first block is
    /// computed on first use.
    pub fn from_seed(seed: [u8; 32]) -> KeyStream {
        let mut key = [0u32; 8];
        for (k, c) in key.iter_mut().zip(seed.chunks_exact(4)) {
            let mut w = [0u8; 4];
            for (d, s) in w.iter_mut().zip(c) {
                *d = *s;
            }
            *k = u32::from_le_bytes(w);
        }
        KeyStream {
            key,
            counter: 0,
            buf: [0; BLOCK_LEN],
            pos: BLOCK_LEN,
        }
    }

    /// The next block of the stream, advancing the counter.
    fn next_block(&mut self) -> [u8; BLOCK_LEN] {
        let c = self.counter;
        self.counter = c.wrapping_add(1);
        serialise(block::<ROUNDS>(
            &self.key,
            [c as u32, (c >> 32) as u32, 0, 0],
        ))
    }

    /// Copy buffered bytes to the front of `out`; returns the rest of `out`.
    fn take_buffered<'o>(&mut self, out: &'o mut [u8]) -> &'o mut [u8] {
        let avail = self.buf.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(out.len());
        let (head, rest) = out.split_at_mut(n);
        head.copy_from_slice(&avail[..n]);
        self.pos += n;
        rest
    }

    /// A fresh masking key for one frame (RFC 6455 5.3).
    #[inline]
    pub fn mask_key(&mut self) -> [u8; 4] {
        // The usual case: four bytes left in the buffered block.
        if let Some(k) = self
            .buf
            .get(self.pos..self.pos.wrapping_add(4))
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        {
            self.pos += 4;
            return k;
        }
        let mut k = [0u8; 4];
        self.fill(&mut k);
        k
    }

    /// Fill `out` with the next bytes of the stream: 16 of them for a
    /// `Sec-WebSocket-Key` nonce, 32 to seed another stream. Any length
    /// works, and the stream is the same however it is cut into calls.
    pub fn fill(&mut self, out: &mut [u8]) {
        let rest = self.take_buffered(out);
        if rest.is_empty() {
            return;
        }
        // The buffer is now empty. Whole blocks go straight to the output.
        let mut blocks = rest.chunks_exact_mut(BLOCK_LEN);
        for chunk in &mut blocks {
            for (d, s) in chunk.iter_mut().zip(self.next_block()) {
                *d = s;
            }
        }
        let tail = blocks.into_remainder();
        if !tail.is_empty() {
            self.buf = self.next_block();
            self.pos = 0;
            self.take_buffered(tail);
        }
    }
}

impl fmt::Debug for KeyStream {
    /// Shows no key, counter or buffered bytes: any of them would let a
    /// reader of the logs predict the next keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 2.3.2: key 00 01 .. 1f, counter 1, nonce
    /// 00:00:00:09:00:00:00:4a:00:00:00:00 (IETF layout: words 12 to 15).
    const RFC_KEY: [u32; 8] = [
        0x0302_0100,
        0x0706_0504,
        0x0b0a_0908,
        0x0f0e_0d0c,
        0x1312_1110,
        0x1716_1514,
        0x1b1a_1918,
        0x1f1e_1d1c,
    ];
    const RFC_TAIL: [u32; 4] = [0x0000_0001, 0x0900_0000, 0x4a00_0000, 0x0000_0000];
    const RFC_OUT: [u32; 16] = [
        0xe4e7_f110,
        0x1559_3bd1,
        0x1fdd_0f50,
        0xc471_20a3,
        0xc7f4_d1c7,
        0x0368_c033,
        0x9aaa_2204,
        0x4e6c_d4c3,
        0x4664_82d2,
        0x09aa_9f07,
        0x05d7_c214,
        0xa202_8bd9,
        0xd19c_12b5,
        0xb94e_16de,
        0xe883_d0cb,
        0x4e3c_50a2,
    ];
    /// The serialised form of `RFC_OUT`, as printed in RFC 8439 2.3.2.
    const RFC_SERIALISED: &str = "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
                                  d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
    /// ChaCha8, all-zero key and 64-bit nonce, blocks 0 and 1
    /// (draft-strombergson-chacha-test-vectors-00, TC1, 8 rounds).
    const CHACHA8_ZERO: &str = "3e00ef2f895f40d67f5bb8e81f09a5a12c840ec3ce9a7f3b181be188ef711a1e\
                                984ce172b9216f419f445367456d5619314a42a3da86b001387bfdb80e0cfe42\
                                d2aefa0deaa5c151bf0adb6c01f2a5adc0fd581259f9a2aadcf20f8fd566a26b\
                                5032ec38bbc5da98ee0c6f568b872a65a08abf251deb21bb4b56e5d8821e68aa";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn stream(seed: [u8; 32], len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        KeyStream::from_seed(seed).fill(&mut v);
        v
    }

    fn seed(n: u8) -> [u8; 32] {
        core::array::from_fn(|i| n.wrapping_mul(31).wrapping_add(i as u8))
    }

    #[test]
    fn rfc8439_block_function() {
        let out = block::<20>(&RFC_KEY, RFC_TAIL);
        assert_eq!(out, RFC_OUT);
        assert_eq!(serialise(out)[..], hex(RFC_SERIALISED)[..]);
    }

    #[test]
    fn eight_rounds_differ_from_twenty() {
        let b8 = block::<8>(&RFC_KEY, RFC_TAIL);
        assert_ne!(b8, RFC_OUT);
        // Not merely one word: every word of the output changes.
        assert!(b8.iter().zip(RFC_OUT).all(|(a, b)| *a != b));
        assert_ne!(block::<8>(&[0; 8], [0; 4]), block::<20>(&[0; 8], [0; 4]));
    }

    #[test]
    fn chacha8_published_vector() {
        // Pins the round count and the stream layout (counter from 0 in
        // words 12 and 13, zero nonce, little-endian key words).
        assert_eq!(stream([0; 32], 128), hex(CHACHA8_ZERO));
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(stream(seed(1), 300), stream(seed(1), 300));
        let mut a = KeyStream::from_seed(seed(1));
        let mut b = KeyStream::from_seed(seed(1));
        for _ in 0..100 {
            assert_eq!(a.mask_key(), b.mask_key());
        }
    }

    #[test]
    fn seeds_give_different_streams() {
        let base = stream(seed(1), 64);
        assert_ne!(base, stream(seed(2), 64));
        // One flipped bit anywhere in the seed changes the first block.
        for bit in 0..256 {
            let mut s = seed(1);
            s[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(stream(s, 64), base, "bit {bit}");
        }
    }

    #[test]
    fn split_fills_equal_one_fill() {
        let whole = stream(seed(3), 1000);
        for sizes in [
            &[1usize][..],
            &[4],
            &[3, 5],
            &[16, 64, 0, 65],
            &[63, 1, 128, 2],
            &[200],
            &[0, 7, 129, 4, 4, 4],
        ] {
            let mut ks = KeyStream::from_seed(seed(3));
            let mut got = Vec::new();
            let mut i = 0;
            while got.len() < whole.len() {
                let n = sizes[i % sizes.len()].min(whole.len() - got.len());
                let mut piece = vec![0u8; n];
                ks.fill(&mut piece);
                got.extend_from_slice(&piece);
                i += 1;
                if i > 10_000 {
                    break;
                }
            }
            assert_eq!(got, whole, "{sizes:?}");
        }
    }

    #[test]
    fn mask_keys_continue_the_stream() {
        // Mask keys and fills interleave, aligned or not, as one stream.
        let whole = stream(seed(4), 4 * 40 + 16 + 3);
        let mut ks = KeyStream::from_seed(seed(4));
        let mut got = Vec::new();
        for _ in 0..20 {
            got.extend_from_slice(&ks.mask_key());
        }
        let mut nonce = [0u8; 16];
        ks.fill(&mut nonce);
        got.extend_from_slice(&nonce);
        let mut odd = [0u8; 3];
        ks.fill(&mut odd);
        got.extend_from_slice(&odd);
        for _ in 0..20 {
            // Unaligned now: some of these straddle two blocks.
            got.extend_from_slice(&ks.mask_key());
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn keys_are_not_constant() {
        // A rough sanity check, not a statistical test: in 64 KiB of
        // output every byte value occurs and the bit balance is near half.
        let mut ks = KeyStream::from_seed([0x5a; 32]);
        let mut counts = [0u32; 256];
        let mut ones = 0u64;
        let mut keys = std::collections::HashSet::new();
        for _ in 0..16 * 1024 {
            let k = ks.mask_key();
            keys.insert(k);
            for b in k {
                counts[usize::from(b)] += 1;
                ones += u64::from(b.count_ones());
            }
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        let bits = 16 * 1024 * 32;
        assert!((bits * 49 / 100..bits * 51 / 100).contains(&ones), "{ones}");
        // 2^14 draws from 2^32 values: a repeat is possible but rare.
        assert!(keys.len() > 16 * 1024 - 3);
        let mut empty = [];
        ks.fill(&mut empty);
    }

    #[test]
    fn debug_hides_key_material() {
        let mut ks = KeyStream::from_seed([0xAB; 32]);
        assert_eq!(format!("{ks:?}"), "KeyStream { .. }");
        ks.mask_key();
        assert_eq!(format!("{ks:#?}"), "KeyStream { .. }");
    }

    #[test]
    fn state_is_small() {
        assert!(core::mem::size_of::<KeyStream>() <= 112);
    }
}
