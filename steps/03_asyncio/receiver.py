#!/usr/bin/env python3
"""Step 03: asyncio, an event loop running a task.

New in this step: nothing blocks any more. Back to one socket, but the receive
loop is now a task on an asyncio event loop. The task asks the loop to wake it
when the socket is readable (add_reader) and suspends with `await`; the loop
waits for the kernel to report ready sockets (epoll_wait) and resumes the
tasks they belong to. One thread, any number of waiters: see step 04.

Run:    python3 receiver.py [NAME_OR_PATH]      (default: incoming)
Then:   python3 sender.py [NAME_OR_PATH]
"""

import asyncio
import os
import sys

import dgram


async def wait_readable(fd):
    """Suspend the calling task until the event loop sees fd become readable."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(fd, readable.set_result, None)
    try:
        await readable
    finally:
        loop.remove_reader(fd)


async def receive(name, sock):
    while True:
        await wait_readable(sock.fileno())
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)  # ready: returns at once
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


async def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    try:
        print(f"listening on {path}", flush=True)
        task = asyncio.create_task(receive(name, sock))
        await task
    finally:
        os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
