#!/usr/bin/env python3
"""Idle TLS connections for scripts/bench's idle-tls figure.

    tls_idle.py --port P --mode wss|https --cafile CERT --server-pid PID
        [--conns N] [--warm-conns N] [--settle SECS] [--batch N] [--host 127.0.0.1]

Each connection does a full TLS handshake (the server's certificate is
verified against CERT, for the name localhost; no session is resumed), then:

  wss    the WebSocket upgrade of /echo (Sec-WebSocket-Accept checked) and
         one masked 16-byte binary message, whose echo is compared byte for
         byte;
  https  one GET /ka with keep-alive; the response must be 200 "ok" and
         keep the connection open.

Then it stays open and idle. Warm-up connections are opened and closed
first; the server's VmRSS is read before the measured connections are
opened and again a settle time after the last of them was verified. Every
connection must still be open at the end. Prints one line of key=value
figures (like `ngx-websocket-bench client`) and exits 0, or prints why it
failed and exits 1. Loopback only.

The client is Python's standard ssl module (OpenSSL), not the Rust bench
client: only the server's memory is measured here, so the client's speed
does not matter, and it needs no TLS crate in the workspace.
"""

import argparse
import asyncio
import base64
import hashlib
import ipaddress
import os
import resource
import socket
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SIZE = 16


class Failure(Exception):
    pass


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise Failure(f"no VmRSS for process {pid}")


async def read_head(reader, what):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise Failure(f"{what}: connection closed after {len(e.partial)} bytes of response")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def wss_exchange(reader, writer, i, port):
    what = f"connection {i}"
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /echo HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n" % (port, key)
    )
    status, headers = await read_head(reader, what)
    if not status.startswith("HTTP/1.1 101"):
        raise Failure(f"{what}: handshake refused: {status!r}")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        raise Failure(f"{what}: wrong Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}")
    # A distinct message: the connection number, then random bytes.
    payload = struct.pack("<Q", i) + os.urandom(SIZE - 8)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[j & 3] for j, b in enumerate(payload))
    writer.write(bytes([0x82, 0x80 | SIZE]) + mask + masked)
    # The echo, whatever framing the server chose: unmasked frames, binary
    # then continuations, no control frames.
    echo = b""
    first = True
    while True:
        b0, b1 = await reader.readexactly(2)
        opcode = b0 & 0x0F
        if b0 & 0x70 or b1 & 0x80 or opcode != (2 if first else 0):
            raise Failure(f"{what}: unexpected reply frame header {b0:#04x} {b1:#04x}")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", await reader.readexactly(8))
        if len(echo) + n > SIZE:
            raise Failure(f"{what}: reply longer than the {SIZE} byte message")
        echo += await reader.readexactly(n)
        first = False
        if b0 & 0x80:
            break
    if echo != payload:
        raise Failure(f"{what}: echo differs from what was sent")


async def https_exchange(reader, writer, i, port):
    what = f"connection {i}"
    writer.write(b"GET /ka HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % port)
    status, headers = await read_head(reader, what)
    if not status.startswith("HTTP/1.1 200"):
        raise Failure(f"{what}: {status!r}")
    if headers.get("connection", "").lower() != "keep-alive":
        raise Failure(f"{what}: response without keep-alive: {headers.get('connection')!r}")
    body = await reader.readexactly(int(headers.get("content-length", "-1")))
    if body != b"ok":
        raise Failure(f"{what}: body {body!r}")


class Client:
    def __init__(self, args):
        self.args = args
        self.ctx = ssl.create_default_context(cafile=args.cafile)
        self.exchange = wss_exchange if args.mode == "wss" else https_exchange
        self.open_conns = []
        self.verified = 0
        self.next_id = 0
        self.tls = None

    async def open_one(self, sem):
        async with sem:
            i = self.next_id
            self.next_id += 1
            reader, writer = await asyncio.open_connection(
                self.args.host, self.args.port, ssl=self.ctx, server_hostname="localhost"
            )
            self.open_conns.append((reader, writer))
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self.exchange(reader, writer, i, self.args.port)
            if self.tls is None:
                obj = writer.get_extra_info("ssl_object")
                self.tls = (obj.version(), obj.cipher()[0])
            self.verified += 1

    async def open(self, n):
        sem = asyncio.Semaphore(self.args.batch)
        timeout = 60 + 0.01 * n
        tasks = [asyncio.ensure_future(self.open_one(sem)) for _ in range(n)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout)
        except asyncio.TimeoutError:
            raise Failure(f"only {self.verified} connections were verified within {timeout:.0f} s")
        finally:
            for t in tasks:
                t.cancel()

    def still_open(self):
        return sum(1 for r, w in self.open_conns if not r.at_eof() and not w.is_closing())

    async def close_all(self):
        # With an RST (SO_LINGER 0), like the Rust client: no TIME_WAIT.
        for _, w in self.open_conns:
            sock = w.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            w.transport.abort()
        self.open_conns = []
        await asyncio.sleep(0)


async def run(args):
    c = Client(args)
    if args.warm_conns > 0:
        await c.open(args.warm_conns)
        await c.close_all()
        await asyncio.sleep(args.settle)
    before = rss(args.server_pid)
    t0 = time.monotonic()
    await c.open(args.conns)
    open_secs = time.monotonic() - t0
    await asyncio.sleep(args.settle)
    after = rss(args.server_pid)
    alive = c.still_open()
    if alive != args.conns:
        raise Failure(f"{args.conns - alive} of {args.conns} connections were closed while idle")
    await c.close_all()
    fields = [
        ("conns", args.conns),
        ("rss_before", before),
        ("rss_after", after),
        ("rss_per_conn", f"{(after - before) / args.conns:.0f}"),
        ("open_secs", f"{open_secs:.2f}"),
        ("tls", c.tls[0]),
        ("cipher", c.tls[1]),
        ("verified", c.verified),
    ]
    return " ".join(f"{k}={v}" for k, v in fields)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["wss", "https"], required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--conns", type=int, default=3000)
    p.add_argument("--warm-conns", type=int, default=100)
    p.add_argument("--settle", type=float, default=1.0)
    # Connections being opened at once (handshake and first exchange), like
    # --connect-batch of the bench client.
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args()
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            raise Failure(f"{args.host} is not a loopback address")
        if not (1 <= args.conns <= 100_000 and 0 <= args.warm_conns <= 10_000
                and 1 <= args.batch <= 4096 and 0 <= args.settle <= 3600):
            raise Failure("connections, warm-up connections, batch or settle out of range")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = args.conns + args.warm_conns + 64
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < args.conns + 64:
            raise Failure(f"open-file limit {soft} is too low for {args.conns} connections")
        line = asyncio.run(run(args))
    except (Failure, OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as e:
        print(f"tls_idle.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"mode=idle-{args.mode} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
