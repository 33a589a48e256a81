# replaces: receiver.py
# why: threads
# what: the blocking receive loop in asyncio.to_thread(): a thread waits, not the loop
import asyncio
import os
import sys

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


async def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    try:
        print(f"listening on {path}", flush=True)
        await asyncio.to_thread(receive, name, sock)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
