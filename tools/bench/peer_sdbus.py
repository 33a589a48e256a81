"""The benchmark service and its clients with python-sdbus (sd-bus from libsystemd)."""

from __future__ import annotations

import asyncio
import time

import sdbus
from sdbus import (
    DbusInterfaceCommon,
    DbusInterfaceCommonAsync,
    dbus_method,
    dbus_method_async,
    dbus_signal_async,
    request_default_bus_name_async,
)

from tools.bench.common import IFACE, NAME, PATH
from tools.bench.peer_async import AsyncClient
from tools.bench.report_ready import ready


class BenchAsync(DbusInterfaceCommonAsync, interface_name=IFACE):
    @dbus_method_async(input_signature="u", result_signature="u", method_name="Echo")
    async def echo(self, n: int) -> int:
        return n

    @dbus_method_async(input_signature="u", method_name="Emit")
    async def emit(self, n: int) -> None:
        for seq in range(n):
            self.tick.emit(seq)

    @dbus_signal_async("u", signal_name="Tick")
    def tick(self) -> int:
        raise NotImplementedError


class BenchBlocking(DbusInterfaceCommon, interface_name=IFACE):
    @dbus_method(input_signature="u", result_signature="u", method_name="Echo")
    def echo(self, n: int) -> int:
        raise NotImplementedError


def open_bus() -> None:
    """The session bus ($DBUS_SESSION_BUS_ADDRESS): sdbus would take the system bus as root."""
    sdbus.set_default_bus(sdbus.sd_bus_open_user())


def serve() -> None:
    async def main() -> None:
        open_bus()
        service = BenchAsync()
        service.export_to_dbus(PATH)
        await request_default_bus_name_async(NAME)
        ready()
        await asyncio.Event().wait()

    asyncio.run(main())


class Client(AsyncClient):
    """sdbus's asyncio proxy: calls and signals on one event loop."""

    def __init__(self) -> None:
        super().__init__()
        open_bus()
        self.proxy = BenchAsync.new_proxy(NAME, PATH)
        self.listener = self.loop.create_task(self._listen())

    async def _listen(self) -> None:
        async for seq in self.proxy.tick:
            self.tick(seq)

    async def echo(self) -> object:
        return await self.proxy.echo(7)

    async def emit(self, n: int) -> object:
        await self.proxy.emit(n)
        return None


class BlockingClient:
    """sdbus's blocking proxy: one call at a time, no signals."""

    max_inflight = 1
    has_signals = False

    def __init__(self) -> None:
        open_bus()
        self.proxy = BenchBlocking(NAME, PATH)

    def calls(self, n: int, inflight: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.proxy.echo(7)
        return time.perf_counter() - start
