"""What the asyncio clients of the peers share: calls with K in flight, and a burst of signals."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable


async def in_flight(n: int, inflight: int, call: Callable[[], Awaitable[object]]) -> float:
    """Seconds for n calls, with at most `inflight` of them awaiting their reply at once."""
    remaining = n

    async def one_at_a_time() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(one_at_a_time() for _ in range(inflight)))
    return time.perf_counter() - start


class AsyncClient:
    """A client on an event loop of its own. A peer library's subclass implements echo() and
    emit() (Echo(7) and Emit(n) on the bench service) and calls tick() for each Tick signal."""

    max_inflight = 1_000_000
    has_signals = True

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.received = 0
        self.expected = 0
        self.last = 0.0
        self.done: asyncio.Future[None] | None = None

    async def echo(self) -> object:
        raise NotImplementedError

    async def emit(self, n: int) -> object:
        raise NotImplementedError

    def tick(self, *_signal_args: object) -> None:
        self.received += 1
        self.last = time.perf_counter()
        if self.received == self.expected and self.done and not self.done.done():
            self.done.set_result(None)

    def calls(self, n: int, inflight: int) -> float:
        return self.loop.run_until_complete(in_flight(n, inflight, self.echo))

    def signals(self, n: int, timeout: float) -> tuple[float, int]:
        async def run() -> tuple[float, int]:
            self.received, self.expected = 0, n
            self.done = self.loop.create_future()
            start = time.perf_counter()
            await self.emit(n)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), timeout)
            return self.last - start, self.received

        return self.loop.run_until_complete(run())
