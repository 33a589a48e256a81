"""The benchmark service and its clients with python-sdbus (sd-bus from libsystemd)."""

from __future__ import annotations

import asyncio
import contextlib
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


class Client:
    """sdbus's asyncio proxy: calls and signals on one event loop."""

    max_inflight = 1_000_000
    has_signals = True

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        open_bus()
        self.proxy = BenchAsync.new_proxy(NAME, PATH)
        self.received = 0
        self.expected = 0
        self.last = 0.0
        self.done: asyncio.Future[None] | None = None
        self.listener = self.loop.create_task(self._listen())

    async def _listen(self) -> None:
        async for _seq in self.proxy.tick:
            self.received += 1
            self.last = time.perf_counter()
            if self.received == self.expected and self.done and not self.done.done():
                self.done.set_result(None)

    def calls(self, n: int, inflight: int) -> float:
        async def run() -> float:
            remaining = n

            async def one_at_a_time() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    await self.proxy.echo(7)

            start = time.perf_counter()
            await asyncio.gather(*(one_at_a_time() for _ in range(inflight)))
            return time.perf_counter() - start

        return self.loop.run_until_complete(run())

    def signals(self, n: int, timeout: float) -> tuple[float, int]:
        async def run() -> tuple[float, int]:
            self.received, self.expected = 0, n
            self.done = self.loop.create_future()
            start = time.perf_counter()
            await self.proxy.emit(n)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), timeout)
            return self.last - start, self.received

        return self.loop.run_until_complete(run())


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
