#!/usr/bin/env python3
"""permessage-deflate (RFC 7692) of ngx-websocket as the Python `websockets`
library meets it (t/deflate_python.t).

Usage: deflate.py PORT CASES

CASES (from t/deflate_python.t) is a JSON array of { name, path, offer
(a key of OFFERS), sent (the Sec-WebSocket-Extensions that offer makes, or
null), want (the exact Sec-WebSocket-Extensions of the 101, or null for no
header) }.

The server (t/deflate_python.t) has, on 127.0.0.1:PORT, websocket_echo
locations with `websocket_max_payload_len 2m` and:
  /d15        websocket_deflate on (defaults: windows 15, no context takeover)
  /d9         ... and both websocket_deflate_*_max_window_bits 9
  /takeover   ... and both websocket_deflate_*_context_takeover on
  /takeover9  ... and both takeovers on, both window bits 9
  /plain      no websocket_deflate

Each case connects once (?case=NAME names it in the access log) with one
offer: websockets' default (compression="deflate": `permessage-deflate;
client_max_window_bits`), an explicit ClientPerMessageDeflateFactory, two
of them, or none, and prints two lines:

  OK|FAIL NAME header: the Sec-WebSocket-Extensions of the 101, exactly the
      answer the spec gives for that location and offer (or no header), and
      websockets' own PerMessageDeflate extension active (or no extension);
  OK|FAIL NAME echo: text and binary messages of 0 B to 1 MiB (10 B and
      63 B below websocket_deflate_min_length 64, 512 B JSON-like, 16 KiB,
      1 MiB), multi-byte UTF-8, a message sent uncompressed, fragmented
      messages (a list and an async iterator), the same 200 random bytes
      twice, a ping, close 1000: every echo equal to what was sent.

websockets validates RSV1 and inflates strictly, so an echo that comes back
at all was valid. On top of that every data frame from the server is
recorded (a wrapper around the extension's decode) and checked: RSV1 on the
first frame of each echo exactly when it is at least 64 bytes long (never on
a continuation frame), and each compressed message inflated again by this
script with a raw inflater of the negotiated server window (a fresh one per
message unless the server keeps its context) fed in small steps, so that a
back-reference beyond the window cannot slip through in one big output
buffer. When the server keeps its context the second of the two identical
200-byte messages must come back much smaller than the first.

Prints "DONE n cases" at the end; exits 1 if a line is FAIL.
"""

import asyncio
import json
import os
import sys
import zlib

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Opcode

from wsclient import EXTRA, connect, extensions_of, report, request_headers, response_headers, run

MIN_LENGTH = 64  # websocket_deflate_min_length (default)
EMPTY_BLOCK = b"\x00\x00\xff\xff"

# Offers: keyword arguments of connect() (the case names one; the .t file
# knows the request header each makes).
OFFERS = {
    # websockets' default: compression="deflate".
    "default": {},
    "none": {"compression": None},
    "bits9": {"extensions": [ClientPerMessageDeflateFactory(
        server_max_window_bits=9, client_max_window_bits=9)]},
    "bits12": {"extensions": [ClientPerMessageDeflateFactory(
        server_max_window_bits=12, client_max_window_bits=11)]},
    "nct": {"extensions": [ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True)]},
    "snct": {"extensions": [ClientPerMessageDeflateFactory(server_no_context_takeover=True)]},
    "cnct": {"extensions": [ClientPerMessageDeflateFactory(client_no_context_takeover=True)]},
    # No client_max_window_bits: the client compresses with a 15-bit window.
    "bare": {"extensions": [ClientPerMessageDeflateFactory(client_max_window_bits=None)]},
    # server_max_window_bits=8 must be declined (zlib cannot compress with it).
    "smwb8": {"extensions": [ClientPerMessageDeflateFactory(server_max_window_bits=8)]},
    # The same, then websockets' default: the second offer must win.
    "fallback": {"extensions": [ClientPerMessageDeflateFactory(server_max_window_bits=8),
                                ClientPerMessageDeflateFactory()]},
}


def words(size, seed=0):
    """Compressible ASCII text of exactly `size` bytes."""
    out, n, length = [], seed, 0
    while length < size:
        out.append(f"the quick brown fox {n:06d} jumps over the lazy dog; ")
        length += len(out[-1])
        n += 1
    return "".join(out)[:size]


def json_like(size):
    """A JSON document of exactly `size` bytes (ASCII)."""
    doc = {"type": "update", "items": []}
    n = 0
    while len(json.dumps(doc)) < size - 40:
        doc["items"].append({"id": n, "name": f"item-{n}", "price": n * 1.25, "ok": n % 2 == 0})
        n += 1
    text = json.dumps(doc)
    pad = size - len(text) - len(', "pad": ""')
    doc["pad"] = "x" * pad
    text = json.dumps(doc)
    assert len(text) == size, (len(text), size)
    return text


def blocks(size):
    """Random 1024-byte blocks repeated: back-references at distance 1024."""
    block = os.urandom(1024)
    return (block * (size // 1024 + 1))[:size]


class Recorder:
    """Wraps the extension's decode to see the server's data frames before
    websockets inflates them, and inflates every compressed message again,
    strictly, with a raw inflater of the negotiated server window."""

    def __init__(self, ext):
        self.frames = []
        self.bits = ext.remote_max_window_bits
        self.fresh = ext.remote_no_context_takeover
        self.inflater = zlib.decompressobj(wbits=-self.bits)
        orig = ext.decode

        def decode(frame, **kw):
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self.frames.append((frame.opcode, frame.fin, frame.rsv1, bytes(frame.data)))
            return orig(frame, **kw)

        ext.decode = decode

    def take(self):
        frames, self.frames = self.frames, []
        return frames

    def inflate(self, data):
        """Inflates in steps of at most 256 bytes in and out: zlib then checks
        every distance against the bytes it really keeps (the 2^bits window
        plus this step's output)."""
        if self.fresh:
            self.inflater = zlib.decompressobj(wbits=-self.bits)
        d, out = self.inflater, bytearray()
        for i in range(0, len(data), 256):
            chunk = data[i:i + 256]
            while True:
                out += d.decompress(chunk, 256)
                chunk = d.unconsumed_tail
                if not chunk:
                    break
        while True:
            more = d.decompress(b"", 256)
            if not more:
                break
            out += more
        return bytes(out)


async def echo(ws, rec, problems, what, message, *, sent_compressed=True):
    """Sends `message` (a str/bytes, or a list or async iterator factory of
    fragments), checks the echo and, with deflate, its frames. Returns the
    compressed size of the echo (None if it came back uncompressed)."""
    if callable(message):  # an async iterator, made fresh for sending
        expect_parts = [p async for p in message()]
        await ws.send(message())
    else:
        expect_parts = message if isinstance(message, list) else [message]
        await ws.send(message)
    expect = expect_parts[0][:0].join(expect_parts)
    got = await asyncio.wait_for(ws.recv(), 30)
    if type(got) is not type(expect) or got != expect:
        problems.append(f"{what}: echo differs ({type(got).__name__} of {len(got)}, "
                        f"want {type(expect).__name__} of {len(expect)})")
        return None
    if rec is None:
        return None
    raw = expect.encode() if isinstance(expect, str) else expect
    frames = rec.take()
    if not frames or frames[0][0] == Opcode.CONT or not frames[-1][1]:
        problems.append(f"{what}: frames seen {[(int(f[0]), f[1]) for f in frames]}")
        return None
    if any(f[2] for f in frames[1:]):
        problems.append(f"{what}: RSV1 on a continuation frame")
    compressed = frames[0][2]
    want = len(raw) >= MIN_LENGTH
    if compressed != want:
        problems.append(f"{what}: {len(raw)} bytes echoed "
                        f"{'compressed' if compressed else 'uncompressed'} (RSV1 "
                        f"{'set' if compressed else 'clear'}), want "
                        f"{'compressed' if want else 'uncompressed'} (min_length {MIN_LENGTH})")
    if not compressed:
        return None
    data = b"".join(f[3] for f in frames)
    try:
        again = rec.inflate(data + EMPTY_BLOCK)
        if again != raw:
            problems.append(f"{what}: strict {rec.bits}-bit inflate gives {len(again)} bytes "
                            f"that differ from the {len(raw)} sent")
    except zlib.error as e:
        problems.append(f"{what}: strict {rec.bits}-bit raw inflate of the server's "
                        f"{len(data)} compressed bytes fails: {e}")
    return len(data)


async def round_trip(ws, rec, takeover):
    """The message suite; returns (problems, summary)."""
    problems = []
    count = compressed = 0

    async def one(what, message, **kw):
        nonlocal count, compressed
        size = await echo(ws, rec, problems, what, message, **kw)
        count += 1
        if size is not None:
            compressed += 1
        return size

    await one("text 0 B", "")
    await one("text 10 B", "hello \u2713!")
    await one("text 63 B", words(63))
    await one("text 64 B", words(64))
    await one("JSON text 512 B", json_like(512))
    await one("text 16 KiB", words(16384))
    await one("text 1 MiB", words(1024 * 1024, seed=7))
    await one("UTF-8 text", "gr\u00fc\u00dfe \u20ac \U0001f389 " * 1000)
    for size in (0, 10, 63, 64, 512, 16384, 1024 * 1024):
        await one(f"binary {size} B", os.urandom(size))
    await one("binary 16 KiB of repeated 1 KiB blocks", blocks(16384))
    await one("binary 1 MiB of repeated 1 KiB blocks", blocks(1024 * 1024))
    await one("JSON binary 512 B", json_like(512).encode())

    # Sent without compression (RSV1 clear) on a deflate connection: the
    # echo of 16 KiB is still compressed, the content the same.
    exts = extensions_of(ws)
    if exts:
        ext = exts[0]
        ext.encode = lambda frame: frame
        try:
            await one("text 16 KiB sent uncompressed", words(16384, seed=3))
        finally:
            del ext.encode  # back to the class's encode

    # Fragmented messages: lists and an async iterator.
    await one("fragmented text (short)", ["frag-one ", "frag-two ", "frag-three \u2713"])
    await one("fragmented text (30 KiB)", [words(10240, seed=1), words(10240, seed=2),
                                            "end \u2713" + words(10235, seed=3)])
    await one("fragmented binary", [os.urandom(1000), os.urandom(70000), b""])

    async def fragments():
        for i in range(5):
            yield words(4096, seed=10 * i)

    await one("fragmented text from an async iterator", fragments)

    # The same 200 random bytes twice: with the server's context kept, the
    # second echo is mostly one back-reference to the first.
    same = os.urandom(200)
    first = await one("binary 200 B, first", same)
    second = await one("binary 200 B, again", same)
    context = ""
    if rec is not None and first and second:
        context = f", repeated 200 B compressed to {first} then {second} bytes"
        if takeover and not second < first // 2:
            problems.append(f"the server keeps its context, yet the repeated 200 B echo "
                            f"compressed to {second} bytes after {first}")

    pong = await ws.ping(b"deflate-ping")
    await asyncio.wait_for(pong, 10)
    return problems, f"{count} messages echoed ({compressed} compressed by the server){context}"


async def case(port, name, path, offer, offered, want):
    kwargs = OFFERS[offer]
    uri = f"ws://127.0.0.1:{port}{path}?case={name}"
    reported = False
    try:
        async with connect(uri, max_size=None, open_timeout=10, close_timeout=10,
                           **EXTRA, **kwargs) as ws:
            sent = request_headers(ws).get_all("Sec-WebSocket-Extensions")
            headers = response_headers(ws).get_all("Sec-WebSocket-Extensions")
            exts = list(extensions_of(ws))
            want_sent = [offered] if offered is not None else []
            want_headers = [want] if want is not None else []
            header_ok = sent == want_sent and headers == want_headers
            if want is None:
                ext_ok = exts == []
            else:
                ext_ok = len(exts) == 1 and type(exts[0]).__name__ == "PerMessageDeflate"
            report(header_ok and ext_ok, f"{name} header",
                   f"offer {offer} {sent!r}: Sec-WebSocket-Extensions {headers!r}, "
                   f"extensions {exts!r}"
                   + ("" if header_ok and ext_ok else
                      f"; want offer {want_sent!r}, answer {want_headers!r} and "
                      + ("no extension" if want is None else "PerMessageDeflate active")))
            reported = True

            rec = Recorder(exts[0]) if ext_ok and exts else None
            takeover = rec is not None and not rec.fresh
            problems, summary = await round_trip(ws, rec, takeover)
            await ws.close(1000, "done")
            if ws.close_code != 1000:
                problems.append(f"close code back: {ws.close_code}")
            report(not problems, f"{name} echo",
                   summary + f", close {ws.close_code}"
                   + "".join(f"; {p}" for p in problems))
    except Exception as e:  # reported as the case's outcome
        if not reported:
            report(False, f"{name} header", f"offer {offer}: {type(e).__name__}: {e}")
        report(False, f"{name} echo", f"{type(e).__name__}: {e}")


async def main(port, cases):
    for c in cases:  # one at a time, in this order
        await case(port, c["name"], c["path"], c["offer"], c["sent"], c["want"])
    print(f"DONE {len(cases)} cases", flush=True)


if __name__ == "__main__":
    run(lambda: main(int(sys.argv[1]), json.loads(sys.argv[2])), 80)
