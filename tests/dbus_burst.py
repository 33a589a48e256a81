"""A burst of Message signals through a step's own publish(), then silence.

    python -m tests.dbus_burst STEP_FOLDER COUNT [BATCH]

Owns org.example.Incoming, prints "ready", emits COUNT signals in a tight loop with
the step's interface.publish(), prints "emitted", and then waits without any further
message to it: whatever sd-bus still holds in its queue must leave on its own.
With BATCH (step 10 on): publish(..., flush=False), and one flush_bus() per BATCH.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def burst(folder: str, count: int, batch: int) -> None:
    sys.path.insert(0, folder)
    import interface
    from interface import NAME, PATH, Incoming, open_session_bus, publish

    bus = open_session_bus()
    await bus.request_name_async(NAME, 0)
    incoming = Incoming(["burst"])
    incoming.export_to_dbus(PATH)
    print("ready", flush=True)  # the test stops the daemon now: the bus socket must fill up
    for n in range(count):
        if batch:
            publish(incoming, "burst", n, str(n), flush=False)
            if n % batch == batch - 1 or n == count - 1:
                interface.flush_bus()
        else:
            publish(incoming, "burst", n, str(n))
    print("emitted", flush=True)
    await asyncio.get_running_loop().create_future()  # serve, and never poke it again


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(burst(sys.argv[1], int(sys.argv[2]), int(sys.argv[3:4] and sys.argv[3] or 0)))
