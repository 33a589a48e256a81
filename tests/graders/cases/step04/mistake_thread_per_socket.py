# replaces: receiver.py
# why: threads where one event loop
# what: step 02's threads in asyncio: each socket's blocking loop in asyncio.to_thread()
import asyncio
import os
import sys

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, flags)}\n", end="", flush=True)


async def serve(names, sockets):
    await asyncio.gather(
        *(asyncio.to_thread(receive, n, s) for n, s in zip(names, sockets))
    )


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
