# replaces: receiver.py
# what: one loop.add_reader() callback per socket, no tasks
import asyncio
import os
import sys

import dgram


def on_readable(name, sock):
    data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
    print(f"{name}: {dgram.describe(data, flags)}", flush=True)


async def serve(names, sockets):
    loop = asyncio.get_running_loop()
    for name, sock in zip(names, sockets):
        loop.add_reader(sock.fileno(), on_readable, name, sock)
    await loop.create_future()  # forever


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
