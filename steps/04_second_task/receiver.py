#!/usr/bin/env python3
"""Step 04: a second socket is a second task, not a second thread.

New in this step: several sockets again, as in step 02, but each one gets a
task on the same event loop instead of a thread. Still one thread: under
`strace -f` it sits in one epoll_wait() for all sockets, where step 02 had
one thread per socket, each blocked in its own recvmsg().

Run:    python3 receiver.py load sine
Then:   python3 sender.py load                  (and: python3 sender.py sine)
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
    names = sys.argv[1:] or ["incoming"]
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    try:
        for path in paths:
            print(f"listening on {path}", flush=True)
        tasks = [asyncio.create_task(receive(n, s)) for n, s in zip(names, sockets)]
        await asyncio.gather(*tasks)  # `tasks` keeps them referenced while they run
    finally:
        for path in paths:
            os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
