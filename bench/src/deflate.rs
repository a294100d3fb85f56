//! JSON text messages for the permessage-deflate figures (RFC 7692).
//!
//! [`JsonSet`] holds [`DISTINCT`] different JSON documents of exactly the
//! message size (event records of varied ids, prices, names and tags, as a
//! feed or an API sends them), each as one ready, masked client frame:
//! compressed once (raw deflate, sync flush, the trailing `00 00 ff ff`
//! removed, RSV1 set) when permessage-deflate was negotiated without client
//! context takeover, or plain. Connections rotate through them, so sending
//! costs the client no compression and no masking.
//!
//! Replies are counted from their frame headers; [`inflate_message`]
//! checks a sample of them (the caller's choice) against what was sent.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// How many distinct messages a set rotates through.
pub const DISTINCT: usize = 64;
/// The smallest message size a JSON document is made for.
pub const MIN_SIZE: usize = 64;
/// The tail of a sync-flushed deflate block, removed from messages (RFC 7692 7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The messages of a run and their frames.
pub struct JsonSet {
    /// The JSON documents, each exactly `size` bytes.
    pub plain: Vec<Vec<u8>>,
    /// The masked client frame of each document (compressed or not).
    pub frames: Vec<Vec<u8>>,
    /// Whether the frames are compressed (RSV1 set).
    pub compressed: bool,
}

impl JsonSet {
    /// `DISTINCT` documents of `size` bytes; compressed with a raw deflate
    /// window of `window_bits` (9..=15) when given.
    pub fn new(size: usize, window_bits: Option<u8>) -> Result<Self, String> {
        if size < MIN_SIZE {
            return Err(format!("JSON messages need at least {MIN_SIZE} bytes"));
        }
        let mut rng = 0x5DEE_CE66_D1CE_4E5Bu64;
        let mut plain = Vec::with_capacity(DISTINCT);
        let mut frames = Vec::with_capacity(DISTINCT);
        for i in 0..DISTINCT {
            let doc = document(i, size, &mut rng);
            let payload = match window_bits {
                Some(bits) => compress(&doc, bits)?,
                None => doc.clone(),
            };
            let key = (next(&mut rng) as u32).to_ne_bytes();
            frames.push(frame(&payload, window_bits.is_some(), key));
            plain.push(doc);
        }
        Ok(Self {
            plain,
            frames,
            compressed: window_bits.is_some(),
        })
    }

    /// The message that connection `id` sends as its message `seq`.
    pub fn index(&self, id: u32, seq: u64) -> usize {
        ((u64::from(id) + seq) % self.plain.len() as u64) as usize
    }

    /// Mean payload bytes of a frame on the wire (compressed or not).
    pub fn mean_payload(&self) -> f64 {
        let total: usize = self.frames.iter().map(|f| f.len() - header_len_of(f)).sum();
        total as f64 / self.frames.len() as f64
    }
}

fn header_len_of(frame: &[u8]) -> usize {
    2 + match frame[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    } + 4
}

/// One masked client text frame: FIN, RSV1 when compressed, the key.
fn frame(payload: &[u8], compressed: bool, key: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x81 | if compressed { 0x40 } else { 0 }];
    let len = payload.len() as u64;
    if len <= 125 {
        f.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&len.to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    f
}

/// Raw deflate of one message with a fresh compressor (no context
/// takeover), sync flushed, without the 4-byte tail.
pub fn compress(data: &[u8], window_bits: u8) -> Result<Vec<u8>, String> {
    if !(9..=15).contains(&window_bits) {
        return Err(format!("window bits {window_bits} out of 9..15"));
    }
    let mut c = Compress::new_with_window_bits(Compression::new(6), false, window_bits);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    loop {
        let done = c.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(4096);
        }
        c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .map_err(|e| format!("deflate: {e}"))?;
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    if !out.ends_with(&SYNC_TAIL) {
        return Err("deflate output does not end with a sync flush".into());
    }
    out.truncate(out.len() - SYNC_TAIL.len());
    Ok(out)
}

/// Inflate one compressed message (the payload of all its frames, without
/// the tail) with a fresh raw inflater; at most `limit` bytes.
pub fn inflate_message(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&SYNC_TAIL);
    let mut out = Vec::with_capacity(limit + 1);
    loop {
        let used = d.total_in() as usize;
        let status = d
            .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
            .map_err(|e| format!("inflate: {e}"))?;
        if out.len() > limit {
            return Err(format!("inflates to more than {limit} bytes"));
        }
        if d.total_in() as usize == input.len() {
            break;
        }
        if status == Status::StreamEnd {
            return Err("a final deflate block inside a message".into());
        }
        if out.len() == out.capacity() {
            out.reserve(4096);
        } else if d.total_in() as usize == used {
            return Err("inflate made no progress".into());
        }
    }
    Ok(out)
}

fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn pick<'a>(rng: &mut u64, list: &[&'a str]) -> &'a str {
    list[(next(rng) % list.len() as u64) as usize]
}

const TYPES: [&str; 6] = ["trade", "quote", "order", "cancel", "fill", "heartbeat"];
const SYMBOLS: [&str; 10] = [
    "BTC-USD", "ETH-USD", "SOL-EUR", "AAPL", "MSFT", "NVDA", "EURUSD", "GBPJPY", "XAU", "TSLA",
];
const NAMES: [&str; 12] = [
    "amelia", "noah", "olivia", "liam", "mia", "lucas", "zoé", "mateo", "hana", "ravi", "ingrid",
    "tomás",
];
const COUNTRIES: [&str; 8] = ["DE", "FR", "US", "JP", "BR", "IN", "SE", "ES"];
const TAGS: [&str; 9] = [
    "spot", "api", "margin", "mobile", "web", "vip", "retry", "batch", "eu",
];
const WORDS: [&str; 16] = [
    "order",
    "filled",
    "at",
    "market",
    "price",
    "after",
    "partial",
    "match",
    "with",
    "resting",
    "liquidity",
    "on",
    "the",
    "book",
    "client",
    "request",
];

/// One event record.
fn record(rng: &mut u64, seq: usize, n: usize) -> String {
    let r = next(rng);
    let tags: Vec<String> = (0..1 + r % 3)
        .map(|_| format!("\"{}\"", pick(rng, &TAGS)))
        .collect();
    format!(
        "{{\"id\":{},\"type\":\"{}\",\"symbol\":\"{}\",\"price\":{}.{:02},\"qty\":{}.{:04},\
         \"side\":\"{}\",\"ts\":\"2026-12-01T22:{:02}:{:02}.{:03}Z\",\
         \"user\":{{\"name\":\"{}\",\"country\":\"{}\",\"verified\":{}}},\"tags\":[{}]}}",
        100_000 + seq * 1000 + n * 7 + (r % 997) as usize,
        pick(rng, &TYPES),
        pick(rng, &SYMBOLS),
        next(rng) % 50_000,
        next(rng) % 100,
        next(rng) % 20,
        next(rng) % 10_000,
        if r & 1 == 0 { "buy" } else { "sell" },
        next(rng) % 60,
        next(rng) % 60,
        next(rng) % 1000,
        pick(rng, &NAMES),
        pick(rng, &COUNTRIES),
        r & 2 == 0,
        tags.join(","),
    )
}

/// A JSON document of exactly `size` bytes (valid UTF-8): a header, as many
/// event records as fit, and a note of words that pads it to the size.
fn document(seq: usize, size: usize, rng: &mut u64) -> Vec<u8> {
    let mut doc = format!("{{\"seq\":{seq},\"events\":[");
    // Room for `],"note":""}` and a few words of note.
    let closing = "],\"note\":\"\"}".len();
    let mut n = 0;
    loop {
        let rec = record(rng, seq, n);
        let sep = usize::from(n > 0);
        if doc.len() + sep + rec.len() + closing + 8 > size {
            break;
        }
        if n > 0 {
            doc.push(',');
        }
        doc.push_str(&rec);
        n += 1;
    }
    doc.push_str("],\"note\":\"");
    let room = size.saturating_sub(doc.len() + 2);
    let mut note = String::new();
    while note.len() < room {
        if !note.is_empty() {
            note.push(' ');
        }
        note.push_str(pick(rng, &WORDS));
    }
    // ASCII only in the note, so cutting it keeps the document UTF-8.
    note.truncate(room);
    doc.push_str(&note);
    doc.push_str("\"}");
    let mut bytes = doc.into_bytes();
    // A header too long for a tiny size: cut (still a distinct message).
    bytes.truncate(size);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_json_of_the_size() {
        for size in [64, 512, 16384] {
            let set = JsonSet::new(size, None).unwrap();
            for (i, d) in set.plain.iter().enumerate() {
                assert_eq!(d.len(), size);
                let s = std::str::from_utf8(d).unwrap();
                if size >= 512 {
                    assert!(s.starts_with(&format!("{{\"seq\":{i},")), "{s}");
                    assert!(s.ends_with("\"}"), "{s}");
                    assert!(s.contains("\"price\":"), "{s}");
                }
            }
            let mut distinct = set.plain.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), DISTINCT);
        }
    }

    #[test]
    fn frames_round_trip() {
        for bits in [9, 15] {
            let set = JsonSet::new(16384, Some(bits)).unwrap();
            for (doc, f) in set.plain.iter().zip(&set.frames) {
                assert_eq!(f[0], 0xC1);
                let hl = header_len_of(f);
                let key = &f[hl - 4..hl];
                let payload: Vec<u8> = f[hl..]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[i & 3])
                    .collect();
                assert!(payload.len() < doc.len() / 2, "{}", payload.len());
                assert_eq!(&inflate_message(&payload, doc.len()).unwrap(), doc);
                assert!(inflate_message(&payload, doc.len() - 1).is_err());
            }
            assert!(set.mean_payload() < 8192.0);
        }
    }

    #[test]
    fn corrupt_data_fails_to_inflate() {
        assert!(inflate_message(&[0xff, 0xff, 0xff], 100).is_err());
    }
}
