#!/usr/bin/env python3
"""Step 09: the server's recent messages, through a sealed memfd and as bytes.

New in this step (with memfd.py): RecentFd() answers with a file descriptor,
a memfd the server wrote and sealed. This client checks the seals, maps it and
reads the messages straight from the server's pages; then it asks Recent()
for the same bytes copied into the reply (ay) and compares the two. A peer
that hands over a memfd it could still change, or some other fd, is refused.

Run:    python3 receiver.py load sine      (the server of this step)
        python3 snapshot.py [--last N]
"""

import argparse
import asyncio
import json
import time

import dgram
import memfd
from interface import NAME, PATH, Incoming, open_session_bus
from sdbus.exceptions import DbusServiceUnknownError, SdBusBaseError


def parse(mapped):
    """The messages in a snapshot: one JSON list per line, read from the mapping."""
    lines = iter(mapped.readline, b"") if len(mapped) else []
    try:
        rows = [json.loads(line) for line in lines]
    except ValueError:
        raise SystemExit(
            "snapshot.py: the snapshot is not JSON lines: refused"
        ) from None
    if not all(isinstance(row, list) and len(row) == 6 for row in rows):
        raise SystemExit(
            "snapshot.py: a line of the snapshot is not a message: refused"
        )
    return rows


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--last", type=int, default=10, help="how many messages to print"
    )
    args = parser.parse_args()
    open_session_bus()
    incoming = Incoming.new_proxy(NAME, PATH)
    try:
        start = time.perf_counter()
        fd = await incoming.recent_fd()
        try:
            mapped = memfd.read_sealed(fd)  # closes fd, whatever happens
        except memfd.NotSealed as error:
            raise SystemExit(f"snapshot.py: refused the server's fd: {error}") from None
        memfd_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        copied = await incoming.recent()
        bytes_ms = (time.perf_counter() - start) * 1e3
    except DbusServiceUnknownError:
        raise SystemExit(
            f"snapshot.py: {NAME} is not on the bus: start receiver.py"
        ) from None
    except SdBusBaseError as error:  # it went away before answering, or said an error
        raise SystemExit(f"snapshot.py: {NAME} did not answer: {error}") from None
    with memoryview(mapped) as view:  # compares in place, no copy
        same = "the same bytes" if view == copied else "other bytes (new messages?)"
    rows = parse(mapped)
    print(f"{len(rows)} recent messages, {len(mapped)} bytes", flush=True)
    seals = "write, shrink, grow, seal"
    print(f"  as a sealed memfd (h): {memfd_ms:.2f} ms, seals: {seals}")
    print(f"  as bytes (ay):         {bytes_ms:.2f} ms, {same}")
    shown = rows[-args.last :] if args.last else []
    for source, timestamp_ns, pid, uid, gid, text in shown:
        seconds, nanoseconds = divmod(timestamp_ns, 1_000_000_000)
        when = time.strftime("%H:%M:%S", time.localtime(seconds))
        sender = f"pid {pid}, uid {uid}, gid {gid}"
        print(f"{when}.{nanoseconds:09d} {source}: {text}  ({sender})")
    if hasattr(mapped, "close"):
        mapped.close()


if __name__ == "__main__":
    dgram.stop_on_signals()  # SIGTERM ends it like Ctrl-C
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
