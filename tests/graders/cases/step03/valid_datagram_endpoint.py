# replaces: receiver.py
# what: loop.create_datagram_endpoint() with a protocol's datagram_received()
import asyncio
import os
import socket
import sys

import dgram


class Printer(asyncio.DatagramProtocol):
    def __init__(self, name):
        self.name = name

    def datagram_received(self, data, addr):
        flags = socket.MSG_TRUNC if len(data) > dgram.MAX_SIZE else 0
        print(
            f"{self.name}: {dgram.describe(data[: dgram.MAX_SIZE], flags)}", flush=True
        )


async def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    try:
        print(f"listening on {path}", flush=True)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: Printer(name), sock=sock
        )
        try:
            await loop.create_future()  # forever: the protocol does the work
        finally:
            transport.close()
    finally:
        os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
