#!/usr/bin/env python3
"""Round-trip messages through the ngx-websocket echo endpoint with the
Python `websockets` library, an independent client implementation.

Usage: roundtrip.py PORT [PATH]

Sends text and binary messages of several sizes (up to 1 MiB, so the
server needs websocket_max_payload_len >= 1m), fragmented messages and a
ping, checks every echo, closes with 1000 and checks the close code that
came back. Prints "OK ..." and exits 0, or prints "FAIL ..." lines and
exits 1.
"""

import asyncio
import os
import sys

try:  # websockets >= 13: the new asyncio implementation
    from websockets.asyncio.client import connect
except ImportError:  # websockets 12: the legacy implementation
    from websockets import connect

SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)


def response_headers(ws):
    if hasattr(ws, "response"):  # new implementation
        return ws.response.headers
    return ws.response_headers  # legacy


async def main(port, path):
    # max_size=None: the client must not be the one limiting sizes.
    # The client offers permessage-deflate by default; the server must
    # decline it (no Sec-WebSocket-Extensions in the 101).
    async with connect(f"ws://127.0.0.1:{port}{path}", max_size=None,
                       open_timeout=10, close_timeout=10) as ws:
        headers = response_headers(ws)
        # websockets offers permessage-deflate: the answer must be the one the
        # caller expects (ROUNDTRIP_EXTENSIONS), or none.
        want = os.environ.get("ROUNDTRIP_EXTENSIONS")
        got_ext = headers.get("Sec-WebSocket-Extensions")
        check(got_ext == want, "server answered extensions %r, expected %r" % (got_ext, want))
        count = 0
        for size in SIZES:
            text = "".join(chr(0x61 + i % 26) for i in range(size))
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 30)
            check(isinstance(got, str) and got == text, f"text of {size} bytes")
            data = os.urandom(size)
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 30)
            check(isinstance(got, bytes) and got == data, f"binary of {size} bytes")
            count += 2

        # Non-ASCII text: 2-, 3- and 4-byte UTF-8 sequences.
        text = "grüße € 🎉 " * 1000
        await ws.send(text)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == text, "multi-byte UTF-8 text")
        count += 1

        # An iterable is sent as a fragmented message.
        parts = ["frag-one ", "frag-two ", "frag-three ✓"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "".join(parts), "fragmented text message")
        bparts = [os.urandom(1000), os.urandom(70000), b""]
        await ws.send(bparts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == b"".join(bparts), "fragmented binary message")
        count += 2

        pong = await ws.ping(b"py-ping")
        await asyncio.wait_for(pong, 10)

        await ws.close(1000, "done")
        check(ws.close_code == 1000, f"close code back: {ws.close_code}")
        print(f"OK roundtrip: {count} messages, ping answered, close {ws.close_code}",
              flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1])
    path = sys.argv[2] if len(sys.argv) > 2 else "/ws"
    try:
        asyncio.run(asyncio.wait_for(main(port, path), 60))
    except Exception as e:  # any exception is a failure, reported in one line
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    sys.exit(1 if failures else 0)
