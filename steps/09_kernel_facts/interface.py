"""The D-Bus interface of the incoming server, with python-sdbus.

One class serves both sides: the server exports an instance of it, a client
gets a proxy of it from Incoming.new_proxy(NAME, PATH).

    bus name   org.example.Incoming          on the session bus
    object     /org/example/Incoming
    interface  org.example.Incoming
    method     GetIncoming() -> as           the names of the sources it listens on
    signal     Message(s source, t timestamp_ns, s text)
               one per datagram, GPIO edge or CAN frame; timestamp_ns since the epoch
    signal     MessageFrom(s source, t timestamp_ns, u pid, u uid, u gid, s text)
               the same message with what the kernel says about it: when it
               received it, and who sent it (pid 0: no process, e.g. a GPIO edge)
    method     Recent() -> ay                the last RECENT messages, JSON lines:
               [source, timestamp_ns, pid, uid, gid, text]
    method     RecentFd() -> h               the same bytes in a sealed memfd

Message is unchanged since step 06, so its clients keep working; MessageFrom
carries the new facts beside it.

Try it:  busctl --user call org.example.Incoming /org/example/Incoming \\
             org.example.Incoming GetIncoming
"""

import asyncio
import json
import os
import select
import sys
from collections import deque

import memfd
import sdbus
from sdbus import DbusInterfaceCommonAsync, dbus_method_async, dbus_signal_async
from sdbus.exceptions import SdBusLibraryError

NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"
RECENT = 1000  # messages kept for Recent() and RecentFd()


class Incoming(DbusInterfaceCommonAsync, interface_name="org.example.Incoming"):
    def __init__(self, sources):
        super().__init__()
        self.sources = sources
        self.history = deque(maxlen=RECENT)  # one JSON line each, oldest first
        self.snapshot = None  # a sealed memfd of the history, shared until it changes

    @dbus_method_async(result_signature="as")
    async def get_incoming(self) -> list[str]:
        return self.sources

    @dbus_signal_async("sts")
    def message(self) -> tuple[str, int, str]:
        raise NotImplementedError  # a signal has no body: it is emitted, not called

    @dbus_signal_async("stuuus")
    def message_from(self) -> tuple[str, int, int, int, int, str]:
        raise NotImplementedError

    @dbus_method_async(result_signature="ay")
    async def recent(self) -> bytes:
        # a reply too big for the socket at once waits in sd-bus's queue: see publish()
        asyncio.get_running_loop().call_soon(sdbus.get_default_bus().process)
        return b"".join(self.history)

    @dbus_method_async(result_signature="h")
    async def recent_fd(self) -> int:
        # sealed, so nobody can change it: every caller can have the same one. One
        # memfd per history, not per call: a caller who never reads its replies pins
        # only that.
        if self.snapshot is None:
            self.snapshot = memfd.sealed(b"".join(self.history))
        # as in recent()
        asyncio.get_running_loop().call_soon(sdbus.get_default_bus().process)
        return self.snapshot  # sd-bus puts a duplicate of it in the reply

    def remember(self, line):
        """Add a line to the history; the shared snapshot is out of date from now on."""
        self.history.append(line)
        if self.snapshot is not None:
            os.close(self.snapshot)  # callers keep their duplicates: their bytes stay
            self.snapshot = None


def open_session_bus():
    """The session bus, $DBUS_SESSION_BUS_ADDRESS: for root, sdbus would pick
    the system bus."""
    try:
        bus = sdbus.sd_bus_open_user()
    except SdBusLibraryError:
        sys.exit(
            "no D-Bus session bus: start one with `make bus` and run its export line, "
            "or run under `dbus-run-session -- ...`"
        )
    sdbus.set_default_bus(bus)
    return bus


def publish(incoming, source, timestamp_ns, text, sender=(0, 0, 0)):
    """Emit Message and MessageFrom; see that they leave even if the bus socket is full.

    sender is (pid, uid, gid), from the kernel; (0, 0, 0) when no process sent it.

    sd-bus writes a signal straight into the bus socket; only what a full socket
    cannot take (a stalled daemon: some 22 000 signals in, as root) waits in its
    queue. python-sdbus 0.14 asks the loop to wait for "writable" only inside
    bus.process(), which runs when something arrives: that tail would sit there
    until the next incoming message. Calling process() writes what it can and
    registers the writer for the rest (tests/test_signal_queue.py shows both).
    """
    try:
        incoming.message.emit((source, timestamp_ns, text))
        incoming.message_from.emit((source, timestamp_ns, *sender, text))
    except SdBusLibraryError:  # the bus went away: watch_bus() notices, and says so
        pass
    incoming.remember(
        json.dumps([source, timestamp_ns, *sender, text]).encode() + b"\n"
    )
    try:
        sdbus.get_default_bus().process()
    except SdBusLibraryError:  # the bus went away: watch_bus() notices, and says so
        pass


class BusLost(Exception):
    """The bus connection is gone; str() is the one line to say so."""


async def watch_bus():
    """Raise BusLost once the bus hangs up (the daemon killed, restarted...).

    The loop watches the bus socket for sd-bus already, but python-sdbus says
    nothing when it closes. So a second epoll of ours watches the same socket for
    the hang-up alone (EPOLLRDHUP), and the loop watches that epoll: this task
    sleeps until the bus goes away, with no timer and no wakeup before.
    """
    bus_socket = os.dup(sdbus.get_default_bus().get_fd())  # sd-bus may close its own fd
    hangup = select.epoll()
    hangup.register(bus_socket, select.EPOLLRDHUP)
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(hangup.fileno(), lambda: gone.done() or gone.set_result(None))
    try:
        await gone
    finally:
        loop.remove_reader(hangup.fileno())
        hangup.close()
        os.close(bus_socket)
    raise BusLost("the bus went away: its connection is closed")
