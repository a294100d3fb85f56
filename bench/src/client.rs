//! The load client: one thread, one epoll, many WebSocket connections.
//!
//! Each connection keeps `inflight` masked binary messages of `size` bytes
//! outstanding. Every message is distinct (its first 8 payload bytes carry
//! the connection id and a sequence number; the rest is a per-connection
//! pseudo-random pattern, masked with a per-connection key) and every byte
//! of every echo is compared with what was sent, whatever framing the
//! server chose (whole frames or fragments), so a fast wrong server cannot
//! win. Against the raw TCP echo the replies are the client's own masked
//! frames, compared byte for byte.
//!
//! Sending costs no copy and little cache: a frame is two pieces, a small
//! head (header and the 8 masked sequence bytes; one per message in flight,
//! message `seq` using head `seq % inflight`) and the rest of the masked
//! payload, the same for every message of a connection. Pending frames
//! leave in one `writev`. A head is reused only after its echo was checked.
//! The unmasked pattern that echoes are compared with is shared by all
//! connections, so it stays in cache.
//!
//! JSON mode (`json`, for the permessage-deflate figures): the messages are
//! text, [`deflate::DISTINCT`] distinct JSON documents of `size` bytes that
//! connections rotate through, each a ready masked frame (see
//! [`deflate::JsonSet`]). Plain, every byte of every echo is compared with
//! the document. With `deflate`, the client offers permessage-deflate,
//! checks the server's answer, sends every message compressed (RSV1) and
//! counts the replies from their frame headers, requiring RSV1 on each
//! reply's first frame; the first reply of every connection is inflated
//! and compared with what was sent.

use std::fmt;
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::deflate::{self, JsonSet};
use crate::sys::{self, Epoll};

/// Payload bytes that carry the connection id and sequence number.
const COUNTER_LEN: usize = 8;
/// Bytes read per `read` call (shared by all connections).
const READ_BUF: usize = 256 * 1024;
/// Most frames handed to one `writev` (two pieces each).
const MAX_FRAMES_PER_WRITE: usize = 64;
/// Longest client frame header.
const MAX_HEADER: usize = 14;

/// What one client run does and against what.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddrV4,
    pub path: String,
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server process whose CPU (and, in idle mode, RSS) is read.
    pub server_pid: Option<u32>,
    /// Replies are the client's own masked frames (raw TCP echo).
    pub expect_masked: bool,
    /// Handshakes in progress at once while opening connections.
    pub connect_batch: usize,
    /// Idle mode: how long to wait after the last echo before reading RSS.
    pub settle: Duration,
    /// Idle mode: connections opened and closed first, so one-time
    /// allocations are not counted per connection.
    pub warm_conns: usize,
    /// JSON text messages instead of binary ones with counters.
    pub json: bool,
    /// Offer permessage-deflate and send the (JSON) messages compressed.
    pub deflate: Option<DeflateOffer>,
}

/// What the client offers for permessage-deflate and accepts back.
#[derive(Debug, Clone)]
pub struct DeflateOffer {
    /// The Sec-WebSocket-Extensions value offered.
    pub offer: String,
    /// The client's compression window; an answer's client_max_window_bits
    /// below it fails the run.
    pub window_bits: u8,
    /// The exact answer required, if any (whitespace ignored).
    pub expect: Option<String>,
}

impl DeflateOffer {
    /// Check the server's Sec-WebSocket-Extensions answer.
    fn check(&self, answer: Option<&str>) -> Result<(), String> {
        let Some(answer) = answer else {
            return Err("the server did not accept permessage-deflate".into());
        };
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        if let Some(want) = &self.expect {
            if squash(want) != squash(answer) {
                return Err(format!(
                    "Sec-WebSocket-Extensions {answer:?}, expected {want:?}"
                ));
            }
        }
        let mut parts = answer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") || answer.contains(',') {
            return Err(format!("Sec-WebSocket-Extensions {answer:?}"));
        }
        let mut no_server_takeover = false;
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("server_no_context_takeover", None) => no_server_takeover = true,
                ("client_no_context_takeover", None) => {}
                ("server_max_window_bits", Some(_)) => {}
                ("client_max_window_bits", Some(v)) => {
                    let bits: u8 = v.parse().map_err(|_| format!("bad parameter {p:?}"))?;
                    if bits < self.window_bits {
                        return Err(format!(
                            "{p} is below the client's window of {} bits",
                            self.window_bits
                        ));
                    }
                }
                _ => return Err(format!("unexpected parameter {p:?} in {answer:?}")),
            }
        }
        if self.offer.contains("server_no_context_takeover") && !no_server_takeover {
            return Err(format!(
                "server_no_context_takeover offered but not in {answer:?}"
            ));
        }
        Ok(())
    }
}

/// Figures of one run, printed as `key=value` pairs on one line.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pairs: Vec<(&'static str, String)>,
}

impl Report {
    fn add(&mut self, key: &'static str, value: impl fmt::Display) {
        self.pairs.push((key, value.to_string()));
    }

    /// The value recorded under `key`.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Handshake,
    Open,
}

/// The 8 sequence bytes of message `seq` on connection `id`.
fn counter(id: u32, seq: u64) -> [u8; COUNTER_LEN] {
    ((u64::from(id) << 40) ^ seq).to_le_bytes()
}

/// A small deterministic generator for payload patterns and keys.
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn base64_16(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Length of a frame header from its first two bytes.
fn header_len(b1: u8) -> usize {
    2 + match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    } + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// One client connection.
struct Conn {
    fd: RawFd,
    id: u32,
    phase: Phase,
    request: Vec<u8>,
    request_off: usize,
    response: Vec<u8>,
    accept: [u8; 28],
    key: [u8; 4],
    /// The unmasked payload pattern, shared by all connections (its first
    /// 8 bytes are replaced by the counter).
    plain: Rc<[u8]>,
    /// Frame heads (header + masked counter bytes), one per message in flight.
    heads: Vec<[u8; MAX_HEADER + COUNTER_LEN]>,
    /// Length of a head: header length + min(8, size).
    head_len: usize,
    /// Header length.
    hl: usize,
    /// The masked payload after the counter bytes, the same in every frame.
    tail: Vec<u8>,
    sent_at: Vec<Instant>,
    /// Next message to queue, next to (finish) writing, next echo expected.
    send_seq: u64,
    written_seq: u64,
    written_off: usize,
    recv_seq: u64,
    /// Messages this connection may send in total (idle mode: 1).
    limit: u64,
    // Reply parser.
    hdr: [u8; 14],
    hdr_have: usize,
    in_payload: bool,
    frame_rem: u64,
    frame_fin: bool,
    msg_started: bool,
    msg_off: usize,
    /// JSON mode: the messages and their frames.
    json: Option<Rc<JsonSet>>,
    /// Deflate: the compressed payload of the sampled reply.
    sample: Vec<u8>,
}

impl Conn {
    fn new(
        fd: RawFd,
        id: u32,
        cfg: &Config,
        limit: u64,
        plain: Rc<[u8]>,
        json: Option<Rc<JsonSet>>,
    ) -> Self {
        let mut rng =
            0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(id) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        for _ in 0..4 {
            xorshift(&mut rng);
        }
        let mut ws_key = [0u8; 16];
        for b in &mut ws_key {
            *b = xorshift(&mut rng) as u8;
        }
        let ws_key = base64_16(&ws_key);
        let accept = ngx_websocket_codec::handshake::accept_key(ws_key.as_bytes());
        let extensions = cfg
            .deflate
            .as_ref()
            .map(|d| format!("Sec-WebSocket-Extensions: {}\r\n", d.offer))
            .unwrap_or_default();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n",
            cfg.path, cfg.addr, ws_key
        )
        .into_bytes();
        let key = (xorshift(&mut rng) as u32).to_ne_bytes();

        // Header: FIN + binary, MASK + length, key.
        let mut header = vec![0x82u8];
        let len = cfg.size as u64;
        if len <= 125 {
            header.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            header.push(0x80 | 127);
            header.extend_from_slice(&len.to_be_bytes());
        }
        header.extend_from_slice(&key);
        let hl = header.len();
        let mut head = [0u8; MAX_HEADER + COUNTER_LEN];
        head[..hl].copy_from_slice(&header);
        let head_len = hl + COUNTER_LEN.min(cfg.size);
        let tail = plain
            .iter()
            .enumerate()
            .skip(COUNTER_LEN)
            .map(|(i, b)| b ^ key[i & 3])
            .collect();

        Self {
            fd,
            id,
            phase: Phase::Connecting,
            request,
            request_off: 0,
            response: Vec::new(),
            accept,
            key,
            plain,
            heads: vec![head; cfg.inflight],
            head_len,
            hl,
            tail,
            sent_at: vec![Instant::now(); cfg.inflight],
            send_seq: 0,
            written_seq: 0,
            written_off: 0,
            recv_seq: 0,
            limit,
            hdr: [0; 14],
            hdr_have: 0,
            in_payload: false,
            frame_rem: 0,
            frame_fin: false,
            msg_started: false,
            msg_off: 0,
            json,
            sample: Vec::new(),
        }
    }

    /// The two pieces of message `seq`'s frame.
    fn frame_parts(&self, seq: u64) -> (&[u8], &[u8]) {
        match &self.json {
            Some(j) => (&[], &j.frames[j.index(self.id, seq)]),
            None => (
                &self.heads[(seq % self.heads.len() as u64) as usize][..self.head_len],
                &self.tail,
            ),
        }
    }

    /// The message being received, in JSON mode.
    fn json_reply(&self) -> Option<&[u8]> {
        let j = self.json.as_ref()?;
        Some(&j.plain[j.index(self.id, self.recv_seq)])
    }

    /// Length of the (uncompressed) message being received.
    fn reply_len(&self) -> usize {
        self.json_reply().map_or(self.plain.len(), <[u8]>::len)
    }

    /// Replies are compressed and only sampled.
    fn compressed(&self) -> bool {
        self.json.as_ref().is_some_and(|j| j.compressed)
    }

    fn outstanding(&self) -> u64 {
        self.send_seq - self.recv_seq
    }

    /// Bytes of message `seq`'s frame on the wire.
    fn frame_len(&self, seq: u64) -> usize {
        let (a, b) = self.frame_parts(seq);
        a.len() + b.len()
    }

    /// Queue messages while the window and the limit allow.
    fn queue(&mut self, sending: bool) {
        if !sending || self.phase != Phase::Open {
            return;
        }
        let w = self.heads.len() as u64;
        while self.outstanding() < w && self.send_seq < self.limit {
            let seq = self.send_seq;
            let slot = (seq % w) as usize;
            if self.json.is_none() {
                let ctr = counter(self.id, seq);
                let (hl, key) = (self.hl, self.key);
                let head = &mut self.heads[slot][..self.head_len];
                for (i, b) in head[hl..].iter_mut().enumerate() {
                    *b = ctr[i] ^ key[i & 3];
                }
            }
            self.sent_at[slot] = Instant::now();
            self.send_seq += 1;
        }
    }

    /// Write queued frames until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        while self.written_seq < self.send_seq {
            let mut iov = [empty; 2 * MAX_FRAMES_PER_WRITE];
            let mut n = 0;
            let mut seq = self.written_seq;
            while seq < self.send_seq && n + 2 <= iov.len() {
                let (head, tail) = self.frame_parts(seq);
                let skip = if seq == self.written_seq {
                    self.written_off
                } else {
                    0
                };
                let (h_skip, t_skip) = if skip < head.len() {
                    (skip, 0)
                } else {
                    (head.len(), skip - head.len())
                };
                for part in [&head[h_skip..], &tail[t_skip..]] {
                    if !part.is_empty() {
                        iov[n] = libc::iovec {
                            iov_base: part.as_ptr().cast_mut().cast(),
                            iov_len: part.len(),
                        };
                        n += 1;
                    }
                }
                seq += 1;
            }
            let mut written = match sys::writev(self.fd, &iov[..n]) {
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            while written > 0 {
                let left = self.frame_len(self.written_seq) - self.written_off;
                if written >= left {
                    written -= left;
                    self.written_seq += 1;
                    self.written_off = 0;
                } else {
                    self.written_off += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }

    /// Compare echoed payload bytes at message offset `off` with what was sent.
    fn check_payload(&mut self, off: usize, data: &[u8], masked: bool) -> bool {
        if self.compressed() {
            // Only the sampled reply (each connection's first) is kept.
            if self.recv_seq == 0 {
                self.sample.extend_from_slice(data);
            }
            return true;
        }
        if let Some(msg) = self.json_reply() {
            return msg.get(off..off + data.len()) == Some(data);
        }
        if masked {
            // The frame as sent: the head's counter bytes, then the tail.
            let head = &self.heads[(self.recv_seq % self.heads.len() as u64) as usize];
            let counter = &head[self.hl..self.head_len];
            let mut i = 0;
            while i < data.len() && off + i < counter.len() {
                if data[i] != counter[off + i] {
                    return false;
                }
                i += 1;
            }
            let t = (off + i).saturating_sub(counter.len());
            return self.tail.get(t..t + data.len() - i) == Some(&data[i..]);
        }
        let ctr = counter(self.id, self.recv_seq);
        let mut i = 0;
        while i < data.len() && off + i < COUNTER_LEN.min(self.plain.len()) {
            if data[i] != ctr[off + i] {
                return false;
            }
            i += 1;
        }
        self.plain.get(off + i..off + data.len()) == Some(&data[i..])
    }

    /// Parse and check echoed bytes; completed messages go to `stats`.
    fn on_bytes(&mut self, data: &[u8], ctx: &mut Ctx) -> Result<(), String> {
        let mut p = 0;
        while p < data.len() {
            if !self.in_payload {
                // Gather a header.
                while self.hdr_have < 2 && p < data.len() {
                    self.hdr[self.hdr_have] = data[p];
                    self.hdr_have += 1;
                    p += 1;
                }
                if self.hdr_have < 2 {
                    break;
                }
                let need = header_len(self.hdr[1]);
                let take = (need - self.hdr_have).min(data.len() - p);
                self.hdr[self.hdr_have..self.hdr_have + take].copy_from_slice(&data[p..p + take]);
                self.hdr_have += take;
                p += take;
                if self.hdr_have < need {
                    break;
                }
                self.start_frame(need, ctx)?;
                if !self.in_payload {
                    continue;
                }
            }
            let n = (self.frame_rem.min((data.len() - p) as u64)) as usize;
            let masked = self.hdr[1] & 0x80 != 0;
            if !self.check_payload(self.msg_off, &data[p..p + n], masked) {
                return Err(format!(
                    "connection {}: message {} differs from what was sent (payload bytes {}..{})",
                    self.id,
                    self.recv_seq,
                    self.msg_off,
                    self.msg_off + n
                ));
            }
            p += n;
            self.msg_off += n;
            self.frame_rem -= n as u64;
            if self.frame_rem == 0 {
                self.end_frame(ctx)?;
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, hl: usize, ctx: &mut Ctx) -> Result<(), String> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        self.hdr_have = 0;
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let len = match b1 & 0x7F {
            126 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
            127 => u64::from_be_bytes(self.hdr[2..10].try_into().unwrap_or_default()),
            n => u64::from(n),
        };
        let masked = b1 & 0x80 != 0;
        let id = self.id;
        let rsv1 = if self.compressed() && !self.msg_started {
            0x40
        } else {
            0
        };
        if b0 & 0x70 != rsv1 {
            return Err(format!(
                "connection {id}: reply frame with RSV bits {:#x}, expected {rsv1:#x}{}",
                b0 & 0x70,
                if rsv1 != 0 {
                    " (a compressed first frame)"
                } else {
                    ""
                }
            ));
        }
        if opcode >= 8 {
            return Err(format!(
                "connection {id}: unexpected control frame (opcode {opcode:#x})"
            ));
        }
        let expected_op = match (self.msg_started, self.json.is_some()) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        if opcode != expected_op {
            return Err(format!(
                "connection {id}: reply opcode {opcode:#x}, expected {expected_op:#x}"
            ));
        }
        if masked != ctx.expect_masked {
            return Err(format!(
                "connection {id}: reply frame {} masked",
                if masked { "is" } else { "is not" }
            ));
        }
        if masked && (self.hdr[hl - 4..hl] != self.key || self.msg_off != 0) {
            return Err(format!(
                "connection {id}: masked reply is not the frame that was sent"
            ));
        }
        // A compressed reply: at most what stored deflate blocks take.
        let bound = if self.compressed() {
            let n = self.reply_len();
            n + n / 8 + 1024
        } else {
            self.reply_len()
        };
        if len > bound.saturating_sub(self.msg_off) as u64 {
            return Err(format!(
                "connection {id}: reply longer than the {} byte message",
                self.reply_len()
            ));
        }
        self.msg_started = true;
        self.frame_fin = fin;
        self.frame_rem = len;
        self.in_payload = true;
        if len == 0 {
            self.end_frame(ctx)?;
        }
        Ok(())
    }

    fn end_frame(&mut self, ctx: &mut Ctx) -> Result<(), String> {
        self.in_payload = false;
        if !self.frame_fin {
            return Ok(());
        }
        if self.compressed() {
            if self.recv_seq == 0 {
                let want = self.json_reply().unwrap_or_default();
                let got = deflate::inflate_message(&self.sample, want.len())
                    .map_err(|e| format!("connection {}: first reply: {e}", self.id))?;
                if got != want {
                    return Err(format!(
                        "connection {}: first reply inflates to {} bytes that differ from the {} sent",
                        self.id,
                        got.len(),
                        want.len()
                    ));
                }
                self.sample = Vec::new();
            }
            if ctx.in_window {
                ctx.wire_bytes += self.msg_off as u64;
            }
        } else if self.msg_off != self.reply_len() {
            return Err(format!(
                "connection {}: message {} echoed with {} of {} bytes",
                self.id,
                self.recv_seq,
                self.msg_off,
                self.reply_len()
            ));
        }
        if self.recv_seq >= self.send_seq {
            return Err(format!(
                "connection {}: echo of a message never sent",
                self.id
            ));
        }
        let slot = (self.recv_seq % self.heads.len() as u64) as usize;
        ctx.completed += 1;
        if ctx.in_window {
            ctx.window_msgs += 1;
            let rtt = self.sent_at[slot].elapsed().as_nanos();
            ctx.samples.push(rtt.min(u128::from(u32::MAX)) as u32);
        }
        self.recv_seq += 1;
        self.msg_off = 0;
        self.msg_started = false;
        self.queue(ctx.sending);
        Ok(())
    }

    /// Handshake bytes: returns the bytes after the response header, if complete.
    fn on_handshake_bytes(
        &mut self,
        data: &[u8],
        deflate: Option<&DeflateOffer>,
    ) -> Result<Option<Vec<u8>>, String> {
        self.response.extend_from_slice(data);
        let Some(end) = self.response.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.response.len() > 16 * 1024 {
                return Err(format!(
                    "connection {}: handshake response too long",
                    self.id
                ));
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.response[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101") {
            return Err(format!(
                "connection {}: handshake refused: {status:?}",
                self.id
            ));
        }
        let header = |want: &str| -> Option<String> {
            head.split("\r\n").skip(1).find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case(want)
                    .then(|| value.trim().to_owned())
            })
        };
        let accept = header("sec-websocket-accept");
        let extensions = header("sec-websocket-extensions");
        match (deflate, extensions) {
            (Some(d), answer) => d
                .check(answer.as_deref())
                .map_err(|e| format!("connection {}: {e}", self.id))?,
            (None, Some(answer)) => {
                return Err(format!(
                    "connection {}: Sec-WebSocket-Extensions {answer:?} without an offer",
                    self.id
                ))
            }
            (None, None) => {}
        }
        if accept.as_deref().map(str::as_bytes) != Some(&self.accept[..]) {
            return Err(format!(
                "connection {}: wrong Sec-WebSocket-Accept {accept:?}",
                self.id
            ));
        }
        let rest = self.response[end + 4..].to_vec();
        self.response = Vec::new();
        self.request = Vec::new();
        Ok(Some(rest))
    }
}

/// Counters shared by the connections of one run.
struct Ctx {
    sending: bool,
    expect_masked: bool,
    deflate: Option<DeflateOffer>,
    /// Payload bytes of compressed replies (measured window only).
    wire_bytes: u64,
    in_window: bool,
    completed: u64,
    window_msgs: u64,
    samples: Vec<u32>,
    opened: usize,
    handshaking: usize,
}

struct Client {
    cfg: Config,
    ep: Epoll,
    conns: Vec<Conn>,
    ctx: Ctx,
    buf: Vec<u8>,
    events: Vec<libc::epoll_event>,
    /// Connections still to open, and how many messages each may send.
    to_open: usize,
    limit: u64,
    send_on_open: bool,
    /// The payload pattern of every connection.
    plain: Rc<[u8]>,
    /// JSON mode: the messages of every connection.
    json: Option<Rc<JsonSet>>,
}

impl Client {
    fn new(cfg: Config) -> Result<Self, String> {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let json = if cfg.json {
            let bits = cfg.deflate.as_ref().map(|d| d.window_bits);
            Some(Rc::new(JsonSet::new(cfg.size, bits)?))
        } else if cfg.deflate.is_some() {
            return Err("permessage-deflate needs JSON messages (--json)".into());
        } else {
            None
        };
        if json.is_some() && cfg.expect_masked {
            return Err("JSON messages cannot be checked against the raw echo".into());
        }
        let plain: Rc<[u8]> = if json.is_some() {
            Rc::from(Vec::new())
        } else {
            (0..cfg.size).map(|_| xorshift(&mut rng) as u8).collect()
        };
        Ok(Self {
            plain,
            json,
            ep: Epoll::new().map_err(|e| format!("epoll: {e}"))?,
            conns: Vec::new(),
            ctx: Ctx {
                sending: false,
                expect_masked: cfg.expect_masked,
                deflate: cfg.deflate.clone(),
                wire_bytes: 0,
                in_window: false,
                completed: 0,
                window_msgs: 0,
                samples: Vec::new(),
                opened: 0,
                handshaking: 0,
            },
            cfg,
            buf: vec![0; READ_BUF],
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            to_open: 0,
            limit: u64::MAX,
            send_on_open: false,
        })
    }

    /// Start connects while fewer than `connect_batch` handshakes are pending.
    fn connect_more(&mut self) -> Result<(), String> {
        while self.to_open > 0 && self.ctx.handshaking < self.cfg.connect_batch.max(1) {
            let fd = sys::connect_nonblocking(self.cfg.addr)
                .map_err(|e| format!("connect to {}: {e}", self.cfg.addr))?;
            let idx = self.conns.len();
            self.ep
                .add(fd, sys::EV_ALL_ET, idx as u64)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
            let id = idx as u32;
            self.conns.push(Conn::new(
                fd,
                id,
                &self.cfg,
                self.limit,
                self.plain.clone(),
                self.json.clone(),
            ));
            self.to_open -= 1;
            self.ctx.handshaking += 1;
        }
        Ok(())
    }

    /// Run the event loop until `done` holds or `deadline` passes; returns
    /// whether `done` held.
    fn run_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, String> {
        loop {
            self.connect_more()?;
            if done(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let n = self
                .ep
                .wait(&mut self.events, deadline - now)
                .map_err(|e| format!("epoll_wait: {e}"))?;
            for i in 0..n {
                let idx = self.events[i].u64 as usize;
                self.on_event(idx)?;
            }
        }
    }

    fn on_event(&mut self, idx: usize) -> Result<(), String> {
        let Self {
            conns,
            ctx,
            buf,
            send_on_open,
            ..
        } = self;
        let conn = &mut conns[idx];
        let id = conn.id;
        if conn.phase == Phase::Connecting {
            if let Some(e) = sys::socket_error(conn.fd) {
                return Err(format!("connection {id}: connect: {e}"));
            }
            conn.phase = Phase::Handshake;
        }
        if conn.phase == Phase::Handshake && conn.request_off < conn.request.len() {
            match sys::write(conn.fd, &conn.request[conn.request_off..]) {
                Ok(n) => conn.request_off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("connection {id}: send handshake: {e}")),
            }
        }
        loop {
            match sys::read(conn.fd, buf) {
                Ok(0) => {
                    return Err(format!(
                        "connection {id}: server closed the connection (after {} echoes)",
                        conn.recv_seq
                    ))
                }
                Ok(n) => {
                    if conn.phase == Phase::Handshake {
                        if let Some(rest) =
                            conn.on_handshake_bytes(&buf[..n], ctx.deflate.as_ref())?
                        {
                            conn.phase = Phase::Open;
                            ctx.handshaking -= 1;
                            ctx.opened += 1;
                            if *send_on_open {
                                conn.queue(true);
                            }
                            conn.on_bytes(&rest, ctx)?;
                        }
                    } else {
                        conn.on_bytes(&buf[..n], ctx)?;
                    }
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {id}: read: {e}")),
            }
        }
        if conn.phase == Phase::Open {
            conn.flush()
                .map_err(|e| format!("connection {id}: write: {e}"))?;
        }
        Ok(())
    }

    /// Open `n` connections (each allowed `limit` messages), handshake them all.
    fn open(&mut self, n: usize, limit: u64, send_on_open: bool) -> Result<(), String> {
        self.to_open = n;
        self.limit = limit;
        self.send_on_open = send_on_open;
        let target = self.ctx.opened + n;
        let deadline =
            Instant::now() + Duration::from_secs(60) + Duration::from_millis(10 * n as u64);
        if !self.run_until(deadline, |c| c.ctx.opened >= target)? {
            return Err(format!(
                "only {} of {target} connections were handshaken in time",
                self.ctx.opened
            ));
        }
        Ok(())
    }

    /// Wait until every connection has its echoes back.
    fn drain(&mut self, timeout: Duration) -> Result<(), String> {
        let ok = self.run_until(Instant::now() + timeout, |c| {
            c.conns.iter().all(|k| k.outstanding() == 0)
        })?;
        if !ok {
            let missing: u64 = self.conns.iter().map(Conn::outstanding).sum();
            return Err(format!(
                "{missing} echoes did not arrive within {timeout:?}"
            ));
        }
        Ok(())
    }

    fn close_all(&mut self) {
        for c in self.conns.drain(..) {
            sys::close_abort(c.fd);
        }
        self.ctx.opened = 0;
    }

    fn server_cpu(&self) -> Option<Duration> {
        self.cfg.server_pid.and_then(|p| sys::process_cpu(p).ok())
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Throughput / latency run: open, warm up, measure for `duration`, drain.
pub fn run_echo(cfg: Config) -> Result<Report, String> {
    if cfg.conns == 0 || cfg.inflight == 0 {
        return Err("need at least one connection and one message in flight".into());
    }
    sys::raise_nofile();
    let mut c = Client::new(cfg.clone())?;
    c.open(cfg.conns, u64::MAX, false)?;

    c.ctx.sending = true;
    for conn in &mut c.conns {
        conn.queue(true);
        conn.flush().map_err(|e| format!("write: {e}"))?;
    }
    let start = Instant::now();
    c.run_until(start + cfg.warmup, |_| false)?;

    c.ctx.in_window = true;
    let t0 = Instant::now();
    let (cpu0, srv0) = (sys::self_cpu(), c.server_cpu());
    c.run_until(t0 + cfg.duration, |_| false)?;
    let elapsed = t0.elapsed();
    let (cpu1, srv1) = (sys::self_cpu(), c.server_cpu());
    c.ctx.in_window = false;
    c.ctx.sending = false;
    c.drain(Duration::from_secs(30))?;
    c.close_all();

    let secs = elapsed.as_secs_f64();
    let msgs = c.ctx.window_msgs;
    let mut samples = std::mem::take(&mut c.ctx.samples);
    samples.sort_unstable();
    let mut r = Report::default();
    r.add("conns", cfg.conns);
    r.add("inflight", cfg.inflight);
    r.add("size", cfg.size);
    r.add("secs", format!("{secs:.3}"));
    r.add("msgs", msgs);
    r.add("msgs_per_s", format!("{:.0}", msgs as f64 / secs));
    r.add(
        "mib_per_s",
        format!("{:.1}", msgs as f64 * cfg.size as f64 / secs / 1048576.0),
    );
    r.add(
        "p50_us",
        format!("{:.1}", percentile(&samples, 50.0) / 1000.0),
    );
    r.add(
        "p99_us",
        format!("{:.1}", percentile(&samples, 99.0) / 1000.0),
    );
    // CPU per message (µs) shows efficiency even when another process
    // steals cycles from the pinned cores.
    let per_msg = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (msgs.max(1) as f64);
    r.add(
        "client_cpu",
        format!("{:.0}", (cpu1 - cpu0).as_secs_f64() / secs * 100.0),
    );
    r.add("client_us_per_msg", format!("{:.3}", per_msg(cpu1 - cpu0)));
    if let (Some(a), Some(b)) = (srv0, srv1) {
        let cpu = b.saturating_sub(a);
        r.add(
            "server_cpu",
            format!("{:.0}", cpu.as_secs_f64() / secs * 100.0),
        );
        r.add("server_us_per_msg", format!("{:.3}", per_msg(cpu)));
    }
    json_figures(&mut r, &c, msgs);
    r.add("verified", c.ctx.completed);
    Ok(r)
}

/// JSON mode: the messages' kind and their mean payload on the wire.
fn json_figures(r: &mut Report, c: &Client, msgs: u64) {
    let Some(j) = &c.json else { return };
    r.add(
        "messages",
        if j.compressed { "json-deflate" } else { "json" },
    );
    r.add("sent_payload_mean", format!("{:.0}", j.mean_payload()));
    if j.compressed && msgs > 0 {
        r.add(
            "reply_payload_mean",
            format!("{:.0}", c.ctx.wire_bytes as f64 / msgs as f64),
        );
    }
}

/// Idle run: hold `conns` handshaken connections (each echoed one message)
/// and read the server's RSS.
pub fn run_idle(cfg: Config) -> Result<Report, String> {
    let pid = cfg
        .server_pid
        .ok_or("idle mode needs --server-pid to read the worker's RSS")?;
    let nofile = sys::raise_nofile();
    if (nofile as usize) < cfg.conns + 64 {
        return Err(format!(
            "open-file limit {nofile} is too low for {} connections",
            cfg.conns
        ));
    }
    let rss = || sys::process_rss(pid).map_err(|e| format!("RSS of {pid}: {e}"));
    let mut c = Client::new(cfg.clone())?;
    c.ctx.sending = true;
    if cfg.warm_conns > 0 {
        c.open(cfg.warm_conns, 1, true)?;
        c.drain(Duration::from_secs(30))?;
        c.close_all();
        std::thread::sleep(cfg.settle);
    }
    let before = rss()?;
    let t0 = Instant::now();
    c.open(cfg.conns, 1, true)?;
    c.drain(Duration::from_secs(60))?;
    let open_secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(cfg.settle);
    let after = rss()?;
    // Every connection must still be there: none was closed meanwhile.
    let _ = c.run_until(Instant::now(), |_| false)?;
    c.close_all();

    let mut r = Report::default();
    r.add("conns", cfg.conns);
    r.add("rss_before", before);
    r.add("rss_after", after);
    r.add(
        "rss_per_conn",
        format!("{:.0}", (after as f64 - before as f64) / cfg.conns as f64),
    );
    r.add("open_secs", format!("{open_secs:.2}"));
    if cfg.json {
        r.add("size", cfg.size);
    }
    json_figures(&mut r, &c, 0);
    r.add("verified", c.ctx.completed);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_16_bytes() {
        // RFC 6455's sample key is base64 of these 16 bytes.
        let raw: [u8; 16] = *b"the sample nonce";
        assert_eq!(base64_16(&raw), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn header_lengths() {
        assert_eq!(header_len(5), 2);
        assert_eq!(header_len(0x80 | 5), 6);
        assert_eq!(header_len(126), 4);
        assert_eq!(header_len(0x80 | 127), 14);
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    /// A raw echo server on a free port for the rest of the test process.
    fn raw_server(corrupt_at: Option<u64>) -> SocketAddrV4 {
        let addr = SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, free_port());
        let opts = crate::raw::Options {
            addr,
            exit_after: Duration::from_secs(60),
            corrupt_at,
        };
        std::thread::spawn(move || crate::raw::run(opts));
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "raw server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        addr
    }

    fn config(addr: SocketAddrV4, size: usize) -> Config {
        Config {
            addr,
            path: "/echo".into(),
            conns: 3,
            inflight: 4,
            size,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            server_pid: Some(std::process::id()),
            expect_masked: true,
            connect_batch: 2,
            settle: Duration::from_millis(10),
            warm_conns: 2,
            json: false,
            deflate: None,
        }
    }

    #[test]
    fn echo_against_raw_server() {
        let addr = raw_server(None);
        for size in [0, 5, 16, 300, 70_000] {
            let r = run_echo(config(addr, size)).unwrap();
            let msgs: u64 = r.get("msgs").unwrap().parse().unwrap();
            assert!(msgs > 0, "{r}");
            assert!(r.get("p99_us").is_some() && r.get("server_cpu").is_some());
        }
    }

    #[test]
    fn unmasked_expectation_fails_on_raw_echo() {
        let addr = raw_server(None);
        let cfg = Config {
            expect_masked: false,
            ..config(addr, 16)
        };
        let err = run_echo(cfg).unwrap_err();
        assert!(err.contains("masked"), "{err}");
    }

    #[test]
    fn corrupted_echo_is_caught() {
        // Byte 20 of each connection's echo stream is inside the payload of
        // its second 16-byte message (frames are 6 + 16 bytes).
        let addr = raw_server(Some(30));
        let err = run_echo(config(addr, 16)).unwrap_err();
        assert!(err.contains("message 1 differs"), "{err}");
    }

    #[test]
    fn idle_mode_reads_rss() {
        let addr = raw_server(None);
        let cfg = Config {
            conns: 50,
            inflight: 1,
            ..config(addr, 16)
        };
        let r = run_idle(cfg).unwrap();
        assert_eq!(r.get("conns"), Some("50"));
        assert_eq!(r.get("verified"), Some("52"), "{r}");
        assert!(r.get("rss_per_conn").is_some());
    }

    #[test]
    fn deflate_answers() {
        let offer = |window_bits, expect: Option<&str>| DeflateOffer {
            offer: "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                .into(),
            window_bits,
            expect: expect.map(Into::into),
        };
        let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert!(offer(15, Some(both)).check(Some(both)).is_ok());
        assert!(offer(15, None)
            .check(Some(
                "permessage-deflate;server_no_context_takeover;server_max_window_bits=12"
            ))
            .is_ok());
        assert!(offer(15, None).check(None).is_err());
        assert!(offer(15, Some(both))
            .check(Some("permessage-deflate; server_no_context_takeover"))
            .is_err());
        // Context takeover where none was offered, unknown parameters, a
        // client window below the client's.
        assert!(offer(15, None).check(Some("permessage-deflate")).is_err());
        assert!(offer(15, None)
            .check(Some("permessage-deflate; server_no_context_takeover; x=1"))
            .is_err());
        assert!(offer(15, None)
            .check(Some(
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
            ))
            .is_err());
        assert!(offer(9, None)
            .check(Some(
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
            ))
            .is_ok());
    }

    #[test]
    fn percentiles() {
        let s: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&[7], 99.0), 7.0);
    }
}
