"""Feeds the steps' sockets with real data, so there is something to see and plot.

    python3 -m tools.feeder load sine [--rate 5] [--count N]

What each socket name gets, one datagram per tick:
    load         this machine's 1-minute load average, from /proc/loadavg
    temperature  a thermal zone's reading in °C, from /sys/class/thermal (if there is one)
    sine         a sine wave (synthetic, and named so)
    anything else  a text line: "hello #N"
A socket nobody listens on yet is retried each tick; the feeder never gives up on it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tools.table import socket_path


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def temperature() -> str:
    zones = sorted(Path("/sys/class/thermal").glob("thermal_zone*/temp"))
    if not zones:
        raise SystemExit("feeder: no thermal zone on this machine; use the socket name 'sine'")
    return f"{int(zones[0].read_text()) / 1000:.1f}"


def source_for(name: str) -> Callable[[int], str]:
    base = name.rsplit("/", 1)[-1]
    if base == "load":
        return lambda tick: load_average()
    if base == "temperature":
        return lambda tick: temperature()
    if base == "sine":
        return lambda tick: f"{math.sin(tick / 10):.3f}"
    return lambda tick: f"hello #{tick}"


def feed(names: list[str], rate: float, count: int | None) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sources = [(socket_path(name), source_for(name)) for name in names]
    tick = 0
    start = time.monotonic()
    while count is None or tick < count:
        for path, source in sources:
            with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                sock.sendto(source(tick).encode(), path)
        tick += 1
        time.sleep(max(0.0, start + tick / rate - time.monotonic()))  # a clock, not a sync


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="feeder", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="socket names or paths")
    parser.add_argument("--rate", type=float, default=5.0, help="datagrams per second per socket")
    parser.add_argument("--count", type=int, default=None, help="stop after this many ticks")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        feed(args.names, args.rate, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
