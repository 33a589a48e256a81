# replaces: receiver.py
# why: event loops|epoll instances
# what: each datagram awaited on a second loop: run_until_complete() in a task
import asyncio
import os
import sys

import dgram


async def read_one(sock):
    loop = asyncio.get_running_loop()
    return await loop.sock_recv(sock, dgram.MAX_SIZE)


def read_now(inner, sock):
    """One datagram, waited for on a loop of its own: the outer loop is stuck."""
    outer = asyncio.get_running_loop()
    asyncio.events._set_running_loop(None)  # what nest_asyncio-style recipes do
    try:
        return inner.run_until_complete(read_one(sock))
    finally:
        asyncio.events._set_running_loop(outer)


async def receive(name, sock):
    sock.setblocking(False)
    inner = asyncio.new_event_loop()
    while True:
        data = read_now(inner, sock)
        print(f"{name}: {dgram.describe(data, 0)}", flush=True)


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
