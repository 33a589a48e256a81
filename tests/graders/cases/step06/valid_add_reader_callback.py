# replaces: receiver.py
# what: a reader callback for each readable datagram (add_reader once per socket)
#!/usr/bin/env python3
"""Step 06: an sd-bus server.

New in this step: the receiver goes on the bus. It owns the name
org.example.Incoming and exports an object (interface.py) with a method,
GetIncoming(), that lists its sources, and a signal, Message, that it emits
for every datagram, every GPIO edge and every CAN frame (--can IFACE).

Run:    make bus  (and paste its export line), then
        python3 receiver.py load sine
Watch:  busctl --user monitor org.example.Incoming
"""

import signal

if __name__ == "__main__":  # run, not imported (by a notebook, say):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C waits for main()

import argparse
import asyncio
import os
import sys
import time
from datetime import timedelta

import can
import dgram
import gpiod
import simulated_gpio
from gpiod.line import Clock, Edge
from interface import (
    NAME,
    PATH,
    BusLost,
    Incoming,
    open_session_bus,
    publish,
    watch_bus,
)
from sdbus.exceptions import SdBusRequestNameError


async def wait_readable(fd):
    """Suspend the calling task until the event loop sees fd become readable."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(fd, readable.set_result, None)
    try:
        await readable
    finally:
        loop.remove_reader(fd)


def on_readable(name, sock, incoming):
    data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)  # ready: returns at once
    text = dgram.describe(data, flags)
    print(f"{name}: {text}", flush=True)
    publish(incoming, name, time.time_ns(), text)


async def receive(name, sock, incoming):
    loop = asyncio.get_running_loop()
    loop.add_reader(sock.fileno(), on_readable, name, sock, incoming)
    try:
        await loop.create_future()  # forever: the callback does the work
    finally:
        loop.remove_reader(sock.fileno())


def open_gpio(spec):
    """A gpiod line request for CHIP:LINE (or the simulated line), and its name."""
    if spec == "sim":
        print("gpio: a simulated line (the loop's timer, not hardware)", flush=True)
        return simulated_gpio.SimulatedLine(), "simulated:0"
    chip, _, line = spec.rpartition(":")
    path = chip if chip.startswith("/") else f"/dev/{chip}"
    settings = gpiod.LineSettings(
        edge_detection=Edge.BOTH,
        debounce_period=timedelta(milliseconds=1),  # a real button bounces: raise it
        event_clock=Clock.REALTIME,  # ns since the epoch, like time.time_ns()
    )
    try:
        request = gpiod.request_lines(
            path, consumer="incoming", config={line: settings}
        )
    except (OSError, ValueError) as error:  # no such chip or line, busy, no permission
        reason = getattr(error, "strerror", None) or error
        print(
            f"gpio: {spec}: {reason} (want CHIP:LINE, e.g. gpiochip0:17)",
            file=sys.stderr,
        )
        return None, None
    return request, f"{os.path.basename(path)}:{line}"


async def watch(name, line, incoming):
    while True:
        await wait_readable(line.fd)
        for event in line.read_edge_events():
            edge = "rising" if event.event_type is event.Type.RISING_EDGE else "falling"
            print(f"{name}: {edge} [{event.timestamp_ns} ns]", flush=True)
            publish(incoming, name, event.timestamp_ns, edge)


async def read_can(name, can_bus, incoming):
    while True:
        await wait_readable(can_bus.fd)
        text = can_bus.read()
        print(f"{name}: {text}", flush=True)  # one frame: 123#DEADBEEF
        publish(incoming, name, time.time_ns(), text)


async def main():
    dgram.ctrl_c_once()  # a second Ctrl-C while we stop: no traceback
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=["incoming"])
    parser.add_argument(
        "--gpio", default="sim", help="CHIP:LINE, e.g. gpiochip0:17, or sim"
    )
    parser.add_argument(
        "--can", metavar="IFACE", help="a CAN interface, e.g. can0 or vcan0"
    )
    args = parser.parse_args()
    names = args.names
    bus = open_session_bus()
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    try:
        for path in paths:
            print(f"listening on {path}", flush=True)
        line, line_name = open_gpio(args.gpio)
        can_bus = can.open_can(args.can) if args.can else None
        incoming = Incoming(
            names + ([line_name] if line else []) + ([args.can] if can_bus else [])
        )
        incoming.export_to_dbus(PATH)  # main() keeps it referenced: it stays on the bus
        try:  # the name last: whoever sees it appear finds the object already there
            await bus.request_name_async(NAME, 0)
        except SdBusRequestNameError:
            sys.exit(f"{NAME} is taken on this bus: is another receiver running?")
        print(f"on the bus as {NAME}", flush=True)
        tasks = [
            asyncio.create_task(receive(n, s, incoming)) for n, s in zip(names, sockets)
        ]
        if line is not None:
            tasks.append(asyncio.create_task(watch(line_name, line, incoming)))
        if can_bus is not None:
            tasks.append(asyncio.create_task(read_can(args.can, can_bus, incoming)))
        tasks.append(asyncio.create_task(watch_bus()))  # BusLost: the bus went away
        await asyncio.gather(*tasks)  # `tasks` keeps them referenced while they run
    finally:
        for path in paths:
            os.unlink(path)


if __name__ == "__main__":
    dgram.stop_on_signals()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except BusLost as lost:  # main() has cleaned up; one line, and a non-zero exit
        sys.exit(str(lost))
