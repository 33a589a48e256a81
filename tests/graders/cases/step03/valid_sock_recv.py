# replaces: receiver.py
# what: a non-blocking socket, `await loop.sock_recv()` of one byte more than fits
import asyncio
import os
import socket
import sys

import dgram


async def receive(name, sock):
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    while True:
        data = await loop.sock_recv(sock, dgram.MAX_SIZE + 1)
        flags = socket.MSG_TRUNC if len(data) > dgram.MAX_SIZE else 0
        print(f"{name}: {dgram.describe(data[: dgram.MAX_SIZE], flags)}", flush=True)


async def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    try:
        print(f"listening on {path}", flush=True)
        await asyncio.create_task(receive(name, sock))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
