# replaces: receiver.py
# what: the tasks in an asyncio.TaskGroup (Python 3.11), each awaiting loop.sock_recv()
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


async def serve(names, sockets):
    async with asyncio.TaskGroup() as group:
        for name, sock in zip(names, sockets):
            group.create_task(receive(name, sock))


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
