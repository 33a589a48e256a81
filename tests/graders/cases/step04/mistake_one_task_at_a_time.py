# replaces: receiver.py
# why: does not watch (sine|load)
# what: each socket's loop awaited in turn: the first never ends, the rest never run
import asyncio
import os
import sys

import dgram


async def receive(name, sock):
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    while True:
        data = await loop.sock_recv(sock, dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, 0)}", flush=True)


async def serve(names, sockets):
    for name, sock in zip(names, sockets):
        await receive(name, sock)  # never returns: the next socket waits forever


async def main():
    names = sys.argv[1:] or ["incoming"]
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    try:
        for path in paths:
            print(f"listening on {path}", flush=True)
        await serve(names, sockets)
    finally:
        for path in paths:
            os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
