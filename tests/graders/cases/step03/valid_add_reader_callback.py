# replaces: receiver.py
# what: a plain callback registered with loop.add_reader() receives and prints, no task
import asyncio
import os
import sys

import dgram


def on_readable(name, sock):
    data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
    print(f"{name}: {dgram.describe(data, flags)}", flush=True)


async def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    loop = asyncio.get_running_loop()
    try:
        print(f"listening on {path}", flush=True)
        loop.add_reader(sock.fileno(), on_readable, name, sock)
        await loop.create_future()  # forever
    finally:
        loop.remove_reader(sock.fileno())
        os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
