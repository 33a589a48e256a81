"""The D-Bus interface of the incoming server, with python-sdbus.

One class serves both sides: the server exports an instance of it, a client
gets a proxy of it from Incoming.new_proxy(NAME, PATH).

    bus name   org.example.Incoming          on the session bus
    object     /org/example/Incoming
    interface  org.example.Incoming
    method     GetIncoming() -> as           the names of the sources it listens on
    signal     Message(s source, t timestamp_ns, s text)
               one per datagram, GPIO edge or CAN frame; timestamp_ns since the epoch

Try it:  busctl --user call org.example.Incoming /org/example/Incoming \\
             org.example.Incoming GetIncoming
"""

import asyncio
import os
import select
import sys

import sdbus
from sdbus import DbusInterfaceCommonAsync, dbus_method_async, dbus_signal_async
from sdbus.exceptions import SdBusLibraryError

NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"


class Incoming(DbusInterfaceCommonAsync, interface_name="org.example.Incoming"):
    def __init__(self, sources):
        super().__init__()
        self.sources = sources

    @dbus_method_async(result_signature="as")
    async def get_incoming(self) -> list[str]:
        return self.sources

    @dbus_signal_async("sts")
    def message(self) -> tuple[str, int, str]:
        raise NotImplementedError  # a signal has no body: it is emitted, not called


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


def publish(incoming, source, timestamp_ns, text):
    """Emit Message, and see that it leaves even when the bus socket is full.

    sd-bus writes a signal straight into the bus socket; only what a full socket
    cannot take (a stalled daemon: some 22 000 signals in, as root) waits in its
    queue. python-sdbus 0.14 asks the loop to wait for "writable" only inside
    bus.process(), which runs when something arrives: that tail would sit there
    until the next incoming message. Calling process() writes what it can and
    registers the writer for the rest (tests/test_signal_queue.py shows both).
    """
    try:
        incoming.message.emit((source, timestamp_ns, text))
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
