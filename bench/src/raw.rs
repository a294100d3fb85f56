//! The loopback limit: a single-threaded epoll server that answers the
//! WebSocket handshake and then sends every byte back unparsed. The client
//! reads back its own masked frames. Nothing a WebSocket server does per
//! byte (parsing, unmasking, UTF-8) happens here, so it bounds what any
//! server can reach on this machine with one core.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::sys::{self, Epoll};

const LISTENER: u64 = u64::MAX;
const READ_BUF: usize = 256 * 1024;

#[derive(Default)]
struct RawConn {
    /// Request bytes until the handshake header is complete; `None` after.
    handshake: Option<Vec<u8>>,
    /// Echo bytes the socket did not take yet (reading pauses meanwhile),
    /// from `pending_off` on.
    pending: Vec<u8>,
    pending_off: usize,
    /// Bytes echoed so far (for the test-only corruption).
    echoed: u64,
}

/// Options of the raw echo server.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub addr: SocketAddrV4,
    /// Exit after this long, so a forgotten server cannot run on.
    pub exit_after: Duration,
    /// Test only: flip the echo byte at this stream position of every
    /// connection, to prove the client notices.
    pub corrupt_at: Option<u64>,
}

/// The `101` for a request header, or `None` if it has no usable key.
fn handshake_response(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let key = text.split("\r\n").find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim())
    })?;
    let accept = ngx_websocket_codec::handshake::accept_key(key.as_bytes());
    let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: "
        .to_vec();
    out.extend_from_slice(&accept);
    out.extend_from_slice(b"\r\n\r\n");
    Some(out)
}

struct Server {
    opts: Options,
    ep: Epoll,
    listener: RawFd,
    conns: Vec<Option<RawConn>>,
    buf: Vec<u8>,
}

enum Next {
    Keep,
    Close,
}

impl Server {
    fn accept_all(&mut self) -> io::Result<()> {
        loop {
            match sys::accept(self.listener) {
                Ok(fd) => {
                    let i = fd as usize;
                    if self.conns.len() <= i {
                        self.conns.resize_with(i + 1, || None);
                    }
                    self.conns[i] = Some(RawConn {
                        handshake: Some(Vec::new()),
                        ..RawConn::default()
                    });
                    self.ep.add(fd, sys::EV_ALL_ET, fd as u64)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of descriptors or similar: drop this attempt, keep serving.
                Err(_) => return Ok(()),
            }
        }
    }

    /// Send `data` (or queue what the socket does not take).
    fn echo(fd: RawFd, conn: &mut RawConn, data: &mut [u8], corrupt_at: Option<u64>) -> Next {
        if let Some(at) = corrupt_at {
            if (conn.echoed..conn.echoed + data.len() as u64).contains(&at) {
                data[(at - conn.echoed) as usize] ^= 0x01;
            }
        }
        conn.echoed += data.len() as u64;
        if !conn.pending.is_empty() {
            conn.pending.extend_from_slice(data);
            return Next::Keep;
        }
        let mut off = 0;
        while off < data.len() {
            match sys::write(fd, &data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        conn.pending.extend_from_slice(&data[off..]);
        Next::Keep
    }

    fn pump(&mut self, fd: RawFd) -> Next {
        let corrupt_at = self.opts.corrupt_at;
        let Self { conns, buf, .. } = self;
        let Some(Some(conn)) = conns.get_mut(fd as usize) else {
            return Next::Keep;
        };
        loop {
            // Flush what is queued before reading more (backpressure).
            while conn.pending_off < conn.pending.len() {
                match sys::write(fd, &conn.pending[conn.pending_off..]) {
                    Ok(n) => conn.pending_off += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close,
                }
            }
            conn.pending = Vec::new();
            conn.pending_off = 0;
            let n = match sys::read(fd, buf) {
                Ok(0) => return Next::Close,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            };
            if let Some(head) = conn.handshake.as_mut() {
                head.extend_from_slice(&buf[..n]);
                let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                    if head.len() > 16 * 1024 {
                        return Next::Close;
                    }
                    continue;
                };
                let Some(response) = handshake_response(&head[..end]) else {
                    return Next::Close;
                };
                let mut rest = head[end + 4..].to_vec();
                conn.handshake = None;
                // The 101 is not part of the echo stream.
                conn.pending = response;
                if let Next::Close = Self::echo(fd, conn, &mut rest, corrupt_at) {
                    return Next::Close;
                }
                continue;
            }
            if let Next::Close = Self::echo(fd, conn, &mut buf[..n], corrupt_at) {
                return Next::Close;
            }
            if n < buf.len() && conn.pending.is_empty() {
                // Drained: edge-triggered epoll reports the next arrival.
                return Next::Keep;
            }
        }
    }
}

/// Serve until `exit_after` elapses (or the process is killed).
pub fn run(opts: Options) -> io::Result<()> {
    let listener = sys::listen(opts.addr)?;
    let ep = Epoll::new()?;
    ep.add(listener, sys::EV_IN_ET, LISTENER)?;
    sys::raise_nofile();
    let mut s = Server {
        opts,
        ep,
        listener,
        conns: Vec::new(),
        buf: vec![0; READ_BUF],
    };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let end = Instant::now() + opts.exit_after;
    while Instant::now() < end {
        let n = s.ep.wait(&mut events, Duration::from_secs(1))?;
        for ev in &events[..n] {
            let token = ev.u64;
            if token == LISTENER {
                s.accept_all()?;
                continue;
            }
            let fd = token as RawFd;
            if let Next::Close = s.pump(fd) {
                if let Some(slot) = s.conns.get_mut(fd as usize) {
                    *slot = None;
                }
                sys::close(fd);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_rfc_sample_key() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
        let r = handshake_response(head).unwrap();
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("HTTP/1.1 101 "));
        assert!(r.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(handshake_response(b"GET / HTTP/1.1\r\nHost: x").is_none());
    }
}
