# replaces: receiver.py
# why: not waiting in epoll_wait.*select
# what: the task waits for the socket with select.select(): the loop cannot run
import asyncio
import os
import select
import sys

import dgram


async def receive(name, sock):
    while True:
        select.select([sock], [], [])  # readable now, but the loop was stuck in here
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
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
