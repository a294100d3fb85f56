//! Raw DEFLATE streams (RFC 1951: no zlib or gzip wrapper) for
//! permessage-deflate, over the C zlib library: the one thin layer of the
//! project that calls zlib, so the only `unsafe` code outside the nginx glue.
//!
//! [`Deflater`] compresses with a chosen window (9 to 15 bits), memory
//! level (1 to 9) and compression level, flushing with `Z_SYNC_FLUSH` at
//! the end of a message; [`Inflater`] decompresses into caller-sized pieces,
//! so a caller can bound what one input expands to. Both can be reset
//! between messages (no context takeover) and kept for reuse.
//!
//! Each stream's `z_stream` is boxed: zlib's internal state points back to
//! it, so it must not move after initialisation.

use core::ffi::c_int;
use core::ptr;

use libz_sys as z;

extern "C" {
    // In zlib since 1.2.8 (Debian 12 has 1.2.13); not bound by libz-sys.
    fn inflateGetDictionary(
        strm: *mut z::z_stream,
        dictionary: *mut u8,
        dict_length: *mut z::uInt,
    ) -> c_int;
}

/// Why a stream could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// A parameter zlib refuses (window bits outside 9..=15 for
    /// compression or 8..=15 for decompression, levels outside 1..=9).
    Parameters,
    /// zlib could not allocate its state.
    OutOfMemory,
}

/// Why decompression stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The input is not a valid raw DEFLATE stream.
    Corrupt,
    /// zlib could not allocate its window.
    OutOfMemory,
}

/// How a [`Deflater::compress`] call ends its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Keep what zlib likes to buffer (the middle of a message).
    None,
    /// Make everything given so far decodable, ending at a byte boundary
    /// with an empty stored block (`00 00 ff ff`): the end of a message.
    Sync,
}

/// What one call moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Input bytes taken.
    pub consumed: usize,
    /// Output bytes written.
    pub produced: usize,
    /// For [`Deflater`]: the output space ran out (with [`Flush::Sync`]
    /// the flush is complete only once a call leaves space over). For
    /// [`Inflater`]: same meaning; more output may be waiting.
    pub output_full: bool,
    /// [`Inflater`] only: the stream's final block ended.
    pub stream_end: bool,
}

/// zlib's allocator: the C heap, as zlib's own default.
extern "C" fn zalloc(_opaque: z::voidpf, items: z::uInt, size: z::uInt) -> z::voidpf {
    match (items as usize).checked_mul(size as usize) {
        // SAFETY: plain malloc; zlib checks for NULL.
        Some(bytes) => unsafe { libc::malloc(bytes) },
        None => ptr::null_mut(),
    }
}

extern "C" fn zfree(_opaque: z::voidpf, address: z::voidpf) {
    // SAFETY: `address` came from `zalloc` (zlib frees only what it allocated).
    unsafe { libc::free(address) }
}

fn new_stream() -> Box<z::z_stream> {
    Box::new(z::z_stream {
        next_in: ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: ptr::null_mut(),
        state: ptr::null_mut(),
        zalloc,
        zfree,
        opaque: ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    })
}

fn init_result(rc: c_int) -> Result<(), InitError> {
    match rc {
        z::Z_OK => Ok(()),
        z::Z_MEM_ERROR => Err(InitError::OutOfMemory),
        _ => Err(InitError::Parameters),
    }
}

/// zlib counts in `uInt`: longer slices are offered in parts.
fn clamp(len: usize) -> z::uInt {
    len.min(z::uInt::MAX as usize) as z::uInt
}

/// Points `stream` at `input` and `output`, runs `call` (deflate or
/// inflate), and unhooks the slices again; returns what moved and zlib's
/// result code.
fn run(
    stream: &mut z::z_stream,
    input: &[u8],
    output: &mut [u8],
    call: impl FnOnce(&mut z::z_stream) -> c_int,
) -> (Progress, c_int) {
    let (in_len, out_len) = (clamp(input.len()), clamp(output.len()));
    // zlib reads next_in and writes next_out only within `call`, and never
    // writes through next_in (its type lacks the const).
    stream.next_in = input.as_ptr().cast_mut();
    stream.avail_in = in_len;
    stream.next_out = output.as_mut_ptr();
    stream.avail_out = out_len;
    let rc = call(stream);
    let progress = Progress {
        consumed: (in_len - stream.avail_in) as usize,
        produced: (out_len - stream.avail_out) as usize,
        output_full: stream.avail_out == 0,
        stream_end: false,
    };
    stream.next_in = ptr::null_mut();
    stream.next_out = ptr::null_mut();
    stream.avail_in = 0;
    stream.avail_out = 0;
    (progress, rc)
}

/// The parameters a [`Deflater`] was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// Compression level, 1 (fastest) to 9 (smallest).
    pub level: u8,
    /// LZ77 window: 2^bits bytes, 9 to 15.
    pub window_bits: u8,
    /// Memory for the match finder's hash table and output buffer: 1 to 9.
    pub mem_level: u8,
}

/// A raw DEFLATE compressor.
pub struct Deflater {
    stream: Box<z::z_stream>,
    params: DeflateParams,
}

impl core::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflater")
            .field("params", &self.params)
            .finish()
    }
}

impl Deflater {
    /// A compressor with `params`. zlib cannot make raw DEFLATE with an
    /// 8-bit window, so 8 is refused (not silently raised to 9).
    pub fn new(params: DeflateParams) -> Result<Deflater, InitError> {
        let DeflateParams {
            level,
            window_bits,
            mem_level,
        } = params;
        if !(1..=9).contains(&level) || !(9..=15).contains(&window_bits) {
            return Err(InitError::Parameters);
        }
        if !(1..=9).contains(&mem_level) {
            return Err(InitError::Parameters);
        }
        let mut stream = new_stream();
        // SAFETY: `stream` is a fully initialised z_stream with our
        // allocator, boxed so it never moves; the version and size tell
        // zlib which ABI we were built for.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *stream,
                c_int::from(level),
                z::Z_DEFLATED,
                -c_int::from(window_bits),
                c_int::from(mem_level),
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                core::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        init_result(rc)?;
        Ok(Deflater { stream, params })
    }

    /// What the compressor was made with.
    pub fn params(&self) -> DeflateParams {
        self.params
    }

    /// Compress from `input` into `output`. With [`Flush::Sync`], call
    /// again (with no new input) while [`Progress::output_full`] is set: the
    /// flush is complete when a call leaves output space unused.
    pub fn compress(&mut self, input: &[u8], output: &mut [u8], flush: Flush) -> Progress {
        let mode = match flush {
            Flush::None => z::Z_NO_FLUSH,
            Flush::Sync => z::Z_SYNC_FLUSH,
        };
        // SAFETY: an initialised deflate stream (deflateInit2_), which `run`
        // points at live slices for this call only. Z_OK or Z_BUF_ERROR (no
        // progress possible) are the only results for a valid stream.
        run(&mut self.stream, input, output, |s| unsafe {
            z::deflate(s, mode)
        })
        .0
    }

    /// Forget the history (the next message compresses on its own), keeping
    /// the memory.
    pub fn reset(&mut self) {
        // SAFETY: an initialised stream.
        unsafe { z::deflateReset(&mut *self.stream) };
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: an initialised stream, ended once.
        unsafe { z::deflateEnd(&mut *self.stream) };
    }
}

/// A raw DEFLATE decompressor.
pub struct Inflater {
    stream: Box<z::z_stream>,
    window_bits: u8,
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .finish()
    }
}

impl Inflater {
    /// A decompressor with a window of 2^`window_bits` bytes (8 to 15;
    /// it decodes any stream made with that window or a smaller one). zlib
    /// allocates the window when the first output needs it.
    pub fn new(window_bits: u8) -> Result<Inflater, InitError> {
        if !(8..=15).contains(&window_bits) {
            return Err(InitError::Parameters);
        }
        let mut stream = new_stream();
        // SAFETY: as in `Deflater::new`.
        let rc = unsafe {
            z::inflateInit2_(
                &mut *stream,
                -c_int::from(window_bits),
                z::zlibVersion(),
                core::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        init_result(rc)?;
        Ok(Inflater {
            stream,
            window_bits,
        })
    }

    /// The window size it was made with.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Decompress from `input` into `output`, stopping when either runs
    /// out (or at the end of the stream's final block).
    pub fn decompress(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, InflateError> {
        // SAFETY: an initialised inflate stream (inflateInit2_), which `run`
        // points at live slices for this call only.
        let (mut progress, rc) = run(&mut self.stream, input, output, |s| unsafe {
            z::inflate(s, z::Z_SYNC_FLUSH)
        });
        progress.stream_end = rc == z::Z_STREAM_END;
        match rc {
            z::Z_OK | z::Z_STREAM_END | z::Z_BUF_ERROR => Ok(progress),
            z::Z_MEM_ERROR => Err(InflateError::OutOfMemory),
            // Z_DATA_ERROR, and Z_NEED_DICT (a raw stream has no dictionary
            // id, so this cannot come; treated as corrupt all the same).
            _ => Err(InflateError::Corrupt),
        }
    }

    /// Start a new stream after the peer's final block, keeping the
    /// history: RFC 7692 section 7.2.1 lets more blocks follow a final one
    /// (an endpoint that flushes with `Z_FINISH` appends an empty stored
    /// block), and they may refer back as before. Allocates a copy of the
    /// window for the moment (a rare event: zlib senders do not do this).
    pub fn restart_keeping_window(&mut self) -> Result<(), InflateError> {
        let mut window = vec![0u8; 1usize << self.window_bits];
        let mut len: z::uInt = 0;
        // SAFETY: an initialised stream; `window` has room for the largest
        // dictionary zlib returns (its window, 2^window_bits bytes).
        let rc = unsafe { inflateGetDictionary(&mut *self.stream, window.as_mut_ptr(), &mut len) };
        if rc != z::Z_OK {
            return Err(InflateError::Corrupt);
        }
        // SAFETY: as above; the dictionary is `len` initialised bytes of
        // `window` (raw inflate takes a dictionary at any time).
        let rc = unsafe {
            z::inflateReset(&mut *self.stream);
            if len == 0 {
                z::Z_OK
            } else {
                z::inflateSetDictionary(&mut *self.stream, window.as_ptr(), len)
            }
        };
        if rc != z::Z_OK {
            return Err(InflateError::Corrupt);
        }
        Ok(())
    }

    /// True if the last call stopped between blocks, waiting for the next
    /// block's header: where a complete permessage-deflate message (its
    /// `00 00 ff ff` tail included) leaves the stream. False inside a block.
    pub fn at_block_boundary(&self) -> bool {
        // zlib's documented report: +128 once it stopped right after an
        // end-of-block code (or a stored block), before the next header.
        self.stream.data_type & 128 != 0
    }

    /// Forget the history and any error, keeping the memory.
    pub fn reset(&mut self) {
        // SAFETY: an initialised stream.
        unsafe { z::inflateReset(&mut *self.stream) };
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: an initialised stream, ended once.
        unsafe { z::inflateEnd(&mut *self.stream) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(window_bits: u8) -> DeflateParams {
        DeflateParams {
            level: 1,
            window_bits,
            mem_level: 4,
        }
    }

    fn compress_all(d: &mut Deflater, input: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; input.len() + 64];
        let p = d.compress(input, &mut out, Flush::Sync);
        assert_eq!(p.consumed, input.len());
        assert!(!p.output_full);
        out.truncate(p.produced);
        out
    }

    #[test]
    fn round_trip_every_window() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"v\":\"x{}\"}}", i % 97).into_bytes())
            .collect();
        for bits in 9..=15 {
            let mut d = Deflater::new(params(bits)).unwrap();
            let packed = compress_all(&mut d, &text);
            assert!(packed.ends_with(&[0, 0, 0xff, 0xff]));
            assert!(packed.len() < text.len() / 3, "bits {bits}");
            let mut i = Inflater::new(bits).unwrap();
            let mut out = vec![0u8; text.len() + 1];
            let p = i.decompress(&packed, &mut out).unwrap();
            assert_eq!(p.consumed, packed.len());
            assert_eq!(&out[..p.produced], &text[..]);
        }
    }

    #[test]
    fn refuses_what_zlib_cannot_do() {
        assert_eq!(Deflater::new(params(8)).unwrap_err(), InitError::Parameters);
        assert_eq!(
            Deflater::new(params(16)).unwrap_err(),
            InitError::Parameters
        );
        assert!(Inflater::new(8).is_ok());
        assert_eq!(Inflater::new(7).unwrap_err(), InitError::Parameters);
    }

    #[test]
    fn corrupt_input_is_an_error_and_reset_recovers() {
        let mut i = Inflater::new(15).unwrap();
        let mut out = [0u8; 64];
        // BTYPE 11 is reserved.
        assert_eq!(
            i.decompress(&[0xff, 0xff], &mut out),
            Err(InflateError::Corrupt)
        );
        i.reset();
        let mut d = Deflater::new(params(15)).unwrap();
        let packed = compress_all(&mut d, b"hello");
        let p = i.decompress(&packed, &mut out).unwrap();
        assert_eq!(&out[..p.produced], b"hello");
        assert!(i.at_block_boundary(), "a sync flush ends between blocks");
        // Half a message: inside a block.
        i.reset();
        let long: Vec<u8> = (0..3000u32).map(|n| (n * 31 % 253) as u8).collect();
        let packed = compress_all(&mut d, &long);
        let mut out = vec![0u8; 4000];
        i.decompress(&packed[..packed.len() / 2], &mut out).unwrap();
        assert!(!i.at_block_boundary());
    }

    #[test]
    fn blocks_after_a_final_block_keep_the_history() {
        // "Hello" in a final fixed-Huffman block, then an empty stored block
        // whose 00 00 ff ff was removed: RFC 7692 section 7.2.3.3.
        let mut i = Inflater::new(15).unwrap();
        let mut out = [0u8; 64];
        let input = [
            0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
        ];
        let p = i.decompress(&input, &mut out).unwrap();
        assert!(p.stream_end);
        assert_eq!(&out[..p.produced], b"Hello");
        i.restart_keeping_window().unwrap();
        let q = i.decompress(&input[p.consumed..], &mut out).unwrap();
        assert_eq!((q.consumed, q.produced), (input.len() - p.consumed, 0));
        assert!(i.at_block_boundary());
        // The history survives: a message that refers back to "Hello".
        let mut d = Deflater::new(params(15)).unwrap();
        let mut packed = vec![0u8; 64];
        let _ = d.compress(b"Hello", &mut packed, Flush::Sync);
        let again = d.compress(b"Hello", &mut packed, Flush::Sync);
        let p2 = i.decompress(&packed[..again.produced], &mut out).unwrap();
        assert_eq!(&out[..p2.produced], b"Hello");
    }

    #[test]
    fn output_in_small_pieces() {
        let mut d = Deflater::new(params(15)).unwrap();
        let packed = compress_all(&mut d, &[0u8; 100_000]);
        let mut i = Inflater::new(15).unwrap();
        let (mut at, mut total) = (0, 0);
        let mut out = [0u8; 1000];
        while at < packed.len() {
            let p = i.decompress(&packed[at..], &mut out).unwrap();
            assert!(p.produced <= 1000);
            assert!(out[..p.produced].iter().all(|&b| b == 0));
            at += p.consumed;
            total += p.produced;
        }
        assert_eq!(total, 100_000);
    }

    #[test]
    fn sync_flush_with_little_output_space() {
        let text: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut d = Deflater::new(params(15)).unwrap();
        let mut packed = Vec::new();
        let mut at = 0;
        let mut out = [0u8; 100];
        loop {
            let p = d.compress(&text[at..], &mut out, Flush::Sync);
            at += p.consumed;
            packed.extend_from_slice(&out[..p.produced]);
            if at == text.len() && !p.output_full {
                break;
            }
        }
        assert!(packed.ends_with(&[0, 0, 0xff, 0xff]));
        let mut i = Inflater::new(15).unwrap();
        let mut back = vec![0u8; text.len()];
        let p = i.decompress(&packed, &mut back).unwrap();
        assert_eq!(p.produced, text.len());
        assert_eq!(back, text);
    }
}
