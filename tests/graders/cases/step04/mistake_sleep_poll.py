# replaces: receiver.py
# why: timeout of 50 ms
# what: each task polls its non-blocking socket, `await asyncio.sleep(0.05)` in between
import asyncio
import os
import sys

import dgram


async def receive(name, sock):
    sock.setblocking(False)
    while True:
        try:
            data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        except BlockingIOError:
            await asyncio.sleep(0.05)
            continue
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


async def serve(names, sockets):
    tasks = [asyncio.create_task(receive(n, s)) for n, s in zip(names, sockets)]
    await asyncio.gather(*tasks)


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
