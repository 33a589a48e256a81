"""Listen to the incoming server's Message signal on the session bus, independent of the steps.

    python -m tests.dbus_listen [--count N] [--seconds S]

Prints "subscribed" once the bus has confirmed the match rule (so a test can
start sending), then one line per signal: source, timestamp_ns and text,
tab-separated. The graders use it as a client that is not the attendee's code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

import sdbus
from sdbus.sd_bus_internals import SdBusMessage

NAME = INTERFACE = "org.example.Incoming"
PATH = "/org/example/Incoming"


async def listen(count: int | None, seconds: float | None) -> int:
    bus = sdbus.sd_bus_open_user()
    done = asyncio.Event()
    received = 0

    def on_message(message: SdBusMessage) -> None:
        nonlocal received
        source, timestamp_ns, text = message.get_contents()
        sys.stdout.write(f"{source}\t{timestamp_ns}\t{text}\n")
        received += 1
        if count is not None and received >= count:
            done.set()

    slot = await bus.match_signal_async(None, PATH, INTERFACE, "Message", on_message)
    print("subscribed", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), seconds)
    sys.stdout.flush()
    del slot
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dbus_listen")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(listen(args.count, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
