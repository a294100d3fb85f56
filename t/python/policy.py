#!/usr/bin/env python3
"""Subprotocol negotiation and the Origin allow-list of ngx-websocket as the
Python `websockets` library meets them (t/python_policy.t).

Usage: policy.py PORT

The server (t/python_policy.t) has, on 127.0.0.1:PORT,
`websocket_protocols chat.v2 chat` and
`websocket_origins http://127.0.0.1:PORT` for the server, and:
  /chat           websocket_echo
  /chat-required  websocket_echo; websocket_require_protocol on
  /same-origin    websocket_echo; websocket_origins $scheme://$http_host

`websockets` is a strict client: it fails a 101 that selects a subprotocol
it did not offer, and accepts one that selects none. Each case connects
once (?case=NAME names it in the access log), and on every connection that
opens sends one text message, checks the echo and closes with 1000. Prints
one line per case, "OK NAME: what happened" or "FAIL NAME: what happened,
want ...", then "DONE n cases"; exits 1 if a case failed.
"""

import asyncio
import sys

from websockets.exceptions import InvalidHandshake

from wsclient import EXTRA, HEADERS_ARG, connect, report, response_headers, run


def refusal_status(e):
    """The HTTP status of a refused handshake: InvalidStatus (new) carries
    the response, InvalidStatusCode (legacy) the code; None otherwise."""
    response = getattr(e, "response", None)
    if response is not None and hasattr(response, "status_code"):
        return response.status_code
    return getattr(e, "status_code", None)


async def attempt(port, name, path, *, host=None, subprotocols=None, origin=None, headers=None):
    """Connects once; returns ("open", subprotocol, [Sec-WebSocket-Protocol
    values of the 101], echo ok, close code) or ("refused", status) or
    ("error", text)."""
    authority = f"{host}:{port}" if host else f"127.0.0.1:{port}"
    uri = f"ws://{authority}{path}?case={name}"
    kwargs = dict(EXTRA, open_timeout=10, close_timeout=10)
    if host:
        # The Host header names `host`; the connection goes to 127.0.0.1.
        kwargs.update(host="127.0.0.1", port=port)
    if subprotocols is not None:
        kwargs["subprotocols"] = subprotocols
    if origin is not None:
        kwargs["origin"] = origin
    if headers is not None:
        kwargs[HEADERS_ARG] = headers
    try:
        async with connect(uri, **kwargs) as ws:
            offered = response_headers(ws).get_all("Sec-WebSocket-Protocol")
            text = f"echo {name} \u2713"
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 10)
            await ws.close(1000, "done")
            return ("open", ws.subprotocol, offered, got == text, ws.close_code)
    except InvalidHandshake as e:
        status = refusal_status(e)
        if status is not None:
            return ("refused", status)
        return ("error", f"{type(e).__name__}: {e}")
    except Exception as e:  # reported as the case's outcome
        return ("error", f"{type(e).__name__}: {e}")


def describe(r):
    if r[0] == "open":
        _, proto, header, echoed, code = r
        return (f"opened, subprotocol {proto!r}, Sec-WebSocket-Protocol {header!r}, "
                f"echo {'ok' if echoed else 'WRONG'}, close {code}")
    if r[0] == "refused":
        return f"refused with HTTP {r[1]}"
    return f"error {r[1]}"


async def expect_open(port, name, path, protocol, **kw):
    r = await attempt(port, name, path, **kw)
    want_header = [protocol] if protocol is not None else []
    ok = r[0] == "open" and r[1] == protocol and r[2] == want_header and r[3] and r[4] == 1000
    report(ok, name, describe(r) + ("" if ok else
           f"; want opened with subprotocol {protocol!r}, echo ok, close 1000"))


async def expect_refused(port, name, path, status, **kw):
    r = await attempt(port, name, path, **kw)
    ok = r == ("refused", status)
    report(ok, name, describe(r) + ("" if ok else f"; want refused with HTTP {status}"))


async def main(port):
    own = f"http://127.0.0.1:{port}"
    cases = [
        # Subprotocols (no Origin sent: websockets sends none by default).
        expect_open(port, "prefer", "/chat", "chat.v2", subprotocols=["chat", "chat.v2"]),
        expect_open(port, "second", "/chat", "chat", subprotocols=["chat"]),
        expect_open(port, "superchat", "/chat", None, subprotocols=["superchat"]),
        expect_open(port, "no-offer", "/chat", None),
        expect_open(port, "require-ok", "/chat-required", "chat", subprotocols=["chat"]),
        expect_refused(port, "require-superchat", "/chat-required", 400, subprotocols=["superchat"]),
        expect_refused(port, "require-no-offer", "/chat-required", 400),
        # Not a list of tokens (the space), sent as a header of our own.
        expect_refused(port, "malformed", "/chat", 400,
                       headers={"Sec-WebSocket-Protocol": "chat v2"}),
        # The literal allow-list.
        expect_open(port, "origin-allowed", "/chat", "chat", subprotocols=["chat"], origin=own),
        expect_open(port, "origin-case", "/chat", "chat", subprotocols=["chat"],
                    origin=f"HTTP://127.0.0.1:{port}"),
        expect_refused(port, "origin-evil", "/chat", 403, subprotocols=["chat"],
                       origin="http://evil.example"),
        expect_refused(port, "origin-other-port", "/chat", 403, subprotocols=["chat"],
                       origin="http://127.0.0.1:1"),
        # $scheme://$http_host: the request's own scheme and Host.
        expect_open(port, "same-origin-ip", "/same-origin", "chat.v2",
                    subprotocols=["chat.v2"], origin=own),
        expect_open(port, "same-origin-name", "/same-origin", "chat.v2", host="chat.example",
                    subprotocols=["chat.v2"], origin=f"http://chat.example:{port}"),
        expect_refused(port, "same-origin-cross", "/same-origin", 403, host="chat.example",
                       subprotocols=["chat.v2"], origin=own),
        expect_refused(port, "same-origin-scheme", "/same-origin", 403,
                       subprotocols=["chat.v2"], origin=f"https://127.0.0.1:{port}"),
        expect_refused(port, "same-origin-evil", "/same-origin", 403,
                       subprotocols=["chat.v2"], origin="http://evil.example"),
    ]
    for case in cases:  # one at a time, in this order
        await case
    print(f"DONE {len(cases)} cases", flush=True)


if __name__ == "__main__":
    run(lambda: main(int(sys.argv[1])), 60)
