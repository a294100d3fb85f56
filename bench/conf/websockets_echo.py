"""scripts/bench, figures deflate-512 and deflate-16k: an echo server with the
Python websockets library (its asyncio serve, default compression: the
library's permessage-deflate settings), one process, loopback.

    python3 websockets_echo.py --port P

Every message goes back as it came (text as text). Keepalive pings are off
(ping_interval=None): the load client treats any control frame as an error.
A connection that the client resets ends its handler quietly; anything else
is logged, and scripts/bench fails the run on a logged error.
"""

import argparse
import asyncio
import logging

import websockets
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(port):
    async with serve(echo, "127.0.0.1", port, ping_interval=None, backlog=4096):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"websockets {websockets.__version__}", flush=True)
    try:
        asyncio.run(main(args.port))
    except KeyboardInterrupt:
        pass
