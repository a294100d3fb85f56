"""What the Python `websockets` clients of the tests share (deflate.py,
policy.py): connect() from whichever implementation this websockets has, the
keyword arguments that keep a proxy out and add headers of our own, the
headers and extensions of an open connection for either implementation, one
OK/FAIL line per check, and the way a script runs and exits.
"""

import asyncio
import inspect
import sys

try:  # websockets >= 13: the new asyncio implementation
    from websockets.asyncio.client import connect
except ImportError:  # websockets 12: the legacy implementation
    from websockets import connect

# No proxy from the environment between the client and 127.0.0.1.
PARAMETERS = inspect.signature(connect).parameters
EXTRA = {"proxy": None} if "proxy" in PARAMETERS else {}
# Headers of our own: additional_headers (new), extra_headers (legacy).
HEADERS_ARG = "additional_headers" if "additional_headers" in PARAMETERS else "extra_headers"

failed = 0


def report(ok, name, what):
    """Prints "OK NAME: what" or "FAIL NAME: what" (and counts the failure)."""
    global failed
    if not ok:
        failed += 1
    print(("OK " if ok else "FAIL ") + f"{name}: {what}", flush=True)


def response_headers(ws):
    if hasattr(ws, "response"):  # new implementation
        return ws.response.headers
    return ws.response_headers  # legacy


def request_headers(ws):
    if hasattr(ws, "request"):  # new implementation
        return ws.request.headers
    return ws.request_headers  # legacy


def extensions_of(ws):
    if hasattr(ws, "protocol") and hasattr(ws.protocol, "extensions"):  # new
        return ws.protocol.extensions
    return ws.extensions  # legacy


def run(main, timeout):
    """Runs the coroutine main() makes within `timeout` seconds and exits: 1
    if anything raised (reported in one FAIL line) or a report() failed,
    else 0."""
    try:
        asyncio.run(asyncio.wait_for(main(), timeout))
    except Exception as e:  # any exception is a failure, reported in one line
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    sys.exit(1 if failed else 0)
