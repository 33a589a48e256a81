# replaces: receiver.py
# what: the line's fd registered with loop.add_reader(), a callback prints its edges
import argparse
import asyncio
import os
import sys
from datetime import timedelta

import can
import dgram
import gpiod
import simulated_gpio
from gpiod.line import Clock, Edge


async def wait_readable(fd):
    """Suspend the calling task until the event loop sees fd become readable."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(fd, readable.set_result, None)
    try:
        await readable
    finally:
        loop.remove_reader(fd)


async def receive(name, sock):
    while True:
        await wait_readable(sock.fileno())
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)  # ready: returns at once
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


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


def print_edges(name, line):
    for event in line.read_edge_events():
        edge = "rising" if event.event_type is event.Type.RISING_EDGE else "falling"
        print(f"{name}: {edge} [{event.timestamp_ns} ns]", flush=True)


async def watch(name, line):
    loop = asyncio.get_running_loop()
    loop.add_reader(line.fd, print_edges, name, line)
    try:
        await loop.create_future()  # forever
    finally:
        loop.remove_reader(line.fd)


async def read_can(name, can_bus):
    while True:
        await wait_readable(can_bus.fd)
        print(f"{name}: {can_bus.read()}", flush=True)  # one frame: 123#DEADBEEF


async def main():
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
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    try:
        for path in paths:
            print(f"listening on {path}", flush=True)
        line, line_name = open_gpio(args.gpio)
        can_bus = can.open_can(args.can) if args.can else None
        tasks = [asyncio.create_task(receive(n, s)) for n, s in zip(names, sockets)]
        if line is not None:
            tasks.append(asyncio.create_task(watch(line_name, line)))
        if can_bus is not None:
            tasks.append(asyncio.create_task(read_can(args.can, can_bus)))
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
