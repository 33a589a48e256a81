# replaces: receiver.py
# why: not waiting in epoll_wait but in pselect6
# what: one task select()s over every socket: a blocking call that stops the loop
import asyncio
import os
import select
import sys

import dgram


async def serve(names, sockets):
    name_of = dict(zip(sockets, names))
    while True:
        ready, _, _ = select.select(sockets, [], [])
        for sock in ready:
            data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
            print(f"{name_of[sock]}: {dgram.describe(data, flags)}", flush=True)
        await asyncio.sleep(0)


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
