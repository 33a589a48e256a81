"""The benchmark service and its client with dbus-python (libdbus, the reference library).

dbus-python dispatches through a GLib main loop (dbus.mainloop.glib). Its usual
runner, GLib.MainLoop from PyGObject, needs more system headers again; we drive
the same default GMainContext through libglib itself (ctypes), one iteration at a
time, which is all GLib.MainLoop.run() does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time

import dbus
import dbus.mainloop.glib
import dbus.service

from tools.bench.common import IFACE, NAME, PATH
from tools.bench.report_ready import ready

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
glib = ctypes.CDLL(ctypes.util.find_library("glib-2.0") or "libglib-2.0.so.0")
glib.g_main_context_iteration.argtypes = [ctypes.c_void_p, ctypes.c_int]
TIMER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
glib.g_timeout_add.argtypes = [ctypes.c_uint, TIMER, ctypes.c_void_p]


def iterate() -> None:
    """Wait for and dispatch what the main loop has (a D-Bus message, a timer)."""
    glib.g_main_context_iteration(None, 1)


@TIMER
def _wake(_data: object) -> int:
    return 1  # keep the timer: it only wakes iterate() so a deadline can be checked


glib.g_timeout_add(100, _wake, None)


class Bench(dbus.service.Object):
    @dbus.service.method(IFACE, in_signature="u", out_signature="u")
    def Echo(self, n: int) -> int:  # noqa: N802 (D-Bus member names)
        return n

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def Emit(self, n: int) -> None:  # noqa: N802
        for seq in range(n):
            self.Tick(dbus.UInt32(seq))

    @dbus.service.signal(IFACE, signature="u")
    def Tick(self, seq: int) -> None:  # noqa: N802
        pass


def serve() -> None:
    bus = dbus.SessionBus()
    name = dbus.service.BusName(NAME, bus)
    service = Bench(bus, PATH)
    ready()
    while name and service:  # both stay referenced while we serve
        iterate()


class Client:
    """Blocking calls for one in flight; reply handlers on the main loop for many."""

    max_inflight = 1_000_000
    has_signals = True

    def __init__(self) -> None:
        self.bus = dbus.SessionBus()
        self.iface = dbus.Interface(self.bus.get_object(NAME, PATH, introspect=False), IFACE)
        self.received = 0
        self.last = 0.0
        self.errors: list[str] = []
        self.bus.add_signal_receiver(
            self._tick, signal_name="Tick", dbus_interface=IFACE, path=PATH
        )
        self.iface.Echo(dbus.UInt32(1))  # a round trip behind the AddMatch

    def _tick(self, seq: int) -> None:
        self.received += 1
        self.last = time.perf_counter()

    def _error(self, error: Exception) -> None:
        self.errors.append(str(error))

    def calls(self, n: int, inflight: int) -> float:
        if inflight == 1:
            start = time.perf_counter()
            for _ in range(n):
                self.iface.Echo(dbus.UInt32(7))
            return time.perf_counter() - start
        started = finished = 0

        def call() -> None:
            nonlocal started
            started += 1
            self.iface.Echo(dbus.UInt32(7), reply_handler=replied, error_handler=self._error)

        def replied(_value: int) -> None:
            nonlocal finished
            finished += 1
            if started < n:
                call()

        start = time.perf_counter()
        for _ in range(min(inflight, n)):
            call()
        while finished < n and not self.errors:
            iterate()
        if self.errors:
            raise RuntimeError(self.errors[0])
        return time.perf_counter() - start

    def signals(self, n: int, timeout: float) -> tuple[float, int]:
        self.received = 0
        replied: list[bool] = []
        start = time.perf_counter()
        self.iface.Emit(
            dbus.UInt32(n), reply_handler=lambda: replied.append(True), error_handler=self._error
        )
        deadline = start + timeout
        while (self.received < n or not replied) and time.perf_counter() < deadline:
            iterate()
        return self.last - start, self.received
