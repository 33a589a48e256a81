# replaces: receiver.py
# why: threads where one event loop
# what: each recvmsg() in loop.run_in_executor(): executor threads wait, not the loop
import asyncio
import os
import sys

import dgram


async def receive(name, sock):
    loop = asyncio.get_running_loop()
    while True:
        data, _, flags, _ = await loop.run_in_executor(
            None, sock.recvmsg, dgram.MAX_SIZE
        )
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
