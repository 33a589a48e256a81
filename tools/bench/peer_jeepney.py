"""The benchmark service and its client with jeepney (pure Python, no C library).

jeepney has no server framework: the server is a loop over received messages.
One call in flight uses its blocking connection; many in flight its asyncio router.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MatchRule,
    MessageType,
    new_method_call,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import open_dbus_router
from jeepney.io.blocking import open_dbus_connection

from tools.bench.common import IFACE, NAME, PATH
from tools.bench.peer_async import in_flight
from tools.bench.report_ready import ready

SERVICE = DBusAddress(PATH, bus_name=NAME, interface=IFACE)


def serve() -> None:
    conn = open_dbus_connection(bus="SESSION")
    conn.send_and_get_reply(message_bus.RequestName(NAME))
    emitter = DBusAddress(PATH, interface=IFACE)
    ready()
    while True:
        msg = conn.receive()
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Echo":
            conn.send(new_method_return(msg, "u", msg.body))
        elif member == "Emit":
            for seq in range(msg.body[0]):
                conn.send(new_signal(emitter, "Tick", "u", (seq,)))
            conn.send(new_method_return(msg))


class Client:
    max_inflight = 1_000_000
    has_signals = True

    def __init__(self) -> None:
        self.conn = open_dbus_connection(bus="SESSION")
        self.rule = MatchRule(type="signal", interface=IFACE, member="Tick", path=PATH)
        self.conn.send_and_get_reply(message_bus.AddMatch(self.rule))
        self.loop = asyncio.new_event_loop()
        self.router: Any = None  # jeepney's DBusRouter, once opened

    def _router(self) -> Any:  # the asyncio router, opened the first time many calls are in flight
        if self.router is None:
            opening = open_dbus_router(bus="SESSION")
            self.router = self.loop.run_until_complete(opening.__aenter__())
        return self.router

    def calls(self, n: int, inflight: int) -> float:
        if inflight == 1:
            start = time.perf_counter()
            for _ in range(n):
                self.conn.send_and_get_reply(new_method_call(SERVICE, "Echo", "u", (7,)))
            return time.perf_counter() - start
        router = self._router()

        def echo() -> Awaitable[object]:
            return router.send_and_get_reply(new_method_call(SERVICE, "Echo", "u", (7,)))

        return self.loop.run_until_complete(in_flight(n, inflight, echo))

    def signals(self, n: int, timeout: float) -> tuple[float, int]:
        received, last, replied = 0, 0.0, False
        start = time.perf_counter()
        serial = next(self.conn.outgoing_serial)
        self.conn.send(new_method_call(SERVICE, "Emit", "u", (n,)), serial=serial)
        deadline = start + timeout
        while received < n or not replied:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                msg = self.conn.receive(timeout=left)
            except TimeoutError:
                break
            header = msg.header
            if header.message_type is MessageType.signal and self.rule.matches(msg):
                received += 1
                last = time.perf_counter()
            elif header.fields.get(HeaderFields.reply_serial) == serial:
                replied = True
        return last - start, received
