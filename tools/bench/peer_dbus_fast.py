"""The benchmark service and its client with dbus-fast (pure Python asyncio, Cython-sped).

No `from __future__ import annotations` here: dbus-fast reads the D-Bus signatures
from the annotations ("u"), which must stay plain strings.

A finding on the way: dbus-fast's writer treats a full socket buffer (EAGAIN on
send) as a lost connection, so a burst of a few thousand signals with nothing in
between disconnects the server. Emit() therefore makes a round trip to the bus
every FLOW signals, which bounds what is in flight (a cost under 1 %).
"""

import asyncio

from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method
from dbus_fast.service import signal as dbus_signal

from tools.bench.common import IFACE, INTROSPECTION, NAME, PATH
from tools.bench.peer_async import AsyncClient
from tools.bench.report_ready import ready

FLOW = 256  # signals between two round trips to the bus (see above)


class Bench(ServiceInterface):
    def __init__(self, bus: MessageBus) -> None:
        super().__init__(IFACE)
        self.bus = bus

    @method(name="Echo")
    def echo(self, n: "u") -> "u":  # noqa: F821 (a D-Bus signature, not a name)
        return n

    @method(name="Emit")
    async def emit(self, n: "u"):  # noqa: F821
        for seq in range(n):
            self.tick(seq)
            if seq % FLOW == FLOW - 1:
                await self.bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="GetId",
                    )
                )

    @dbus_signal(name="Tick")
    def tick(self, seq) -> "u":  # noqa: F821
        return seq


def serve() -> None:
    async def main() -> None:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
        bus.export(PATH, Bench(bus))
        await bus.request_name(NAME)
        ready()
        await bus.wait_for_disconnect()

    asyncio.run(main())


class Client(AsyncClient):
    """A dbus-fast proxy built from our introspection XML (no Introspect round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.bus = self.loop.run_until_complete(self._connect())
        proxy = self.bus.get_proxy_object(NAME, PATH, INTROSPECTION)
        self.iface = proxy.get_interface(IFACE)
        self.iface.on_tick(self.tick)
        # on_tick sends AddMatch without waiting; one call after it is a round trip behind it
        self.loop.run_until_complete(self.iface.call_echo(1))

    async def _connect(self) -> MessageBus:
        return await MessageBus(bus_type=BusType.SESSION).connect()  # needs a running loop

    async def echo(self) -> object:
        return await self.iface.call_echo(7)

    async def emit(self, n: int) -> object:
        return await self.iface.call_emit(n)
