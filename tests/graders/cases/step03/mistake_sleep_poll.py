# replaces: receiver.py
# why: wakes up every 10 ms|timeout of 10 ms
# what: a non-blocking socket polled with `await asyncio.sleep(0.01)` between tries
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
            await asyncio.sleep(0.01)  # nothing yet: try again soon
            continue
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


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
