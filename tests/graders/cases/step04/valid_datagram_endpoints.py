# replaces: receiver.py
# what: one loop.create_datagram_endpoint() per socket: the protocols print, no tasks
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


async def serve(names, sockets):
    loop = asyncio.get_running_loop()
    transports = []
    for name, sock in zip(names, sockets):
        transport, _ = await loop.create_datagram_endpoint(
            lambda n=name: Printer(n), sock=sock
        )
        transports.append(transport)
    try:
        await loop.create_future()  # forever
    finally:
        for transport in transports:
            transport.close()


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
