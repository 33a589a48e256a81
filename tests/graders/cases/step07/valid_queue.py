# replaces: client.py
# what: the signal task hands messages to a printer task in an asyncio.Queue (no poll)
#!/usr/bin/env python3
"""Step 07: a client that iterates over the server's signal in an asyncio task.

New in this step: the other end of the bus. client.py asks the server for its
sources (GetIncoming), and a task iterates over the Message signal with
`async for`, printing each message and how long it took to get here. A second
task watches the bus itself (NameOwnerChanged): started before the server, the
client waits for it; when the server restarts, the client notices and goes on.

Run:    python3 receiver.py load sine      (the server, unchanged from step 06)
        python3 client.py                  (in a second terminal)
"""

import signal

if __name__ == "__main__":  # run, not imported (by a notebook, say):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C waits for main()

import asyncio
import sys
import time

import dgram
from interface import NAME, PATH, BusLost, Incoming, open_session_bus, watch_bus
from sdbus.exceptions import DbusFailedError
from sdbus_async.dbus_daemon import FreedesktopDbus


async def print_messages(incoming):
    arrived = asyncio.Queue()

    async def collect():
        async for message in incoming.message:
            arrived.put_nowait(message)

    collecting = asyncio.create_task(collect())  # referenced here while it runs
    while True:
        source, timestamp_ns, text = await arrived.get()
        delay_ms = (time.time_ns() - timestamp_ns) / 1e6
        print(f"{source}: {text}  ({delay_ms:.1f} ms ago)", flush=True)
    await collecting


async def print_sources(incoming):
    try:
        print(
            f"the server listens on: {', '.join(await incoming.get_incoming())}",
            flush=True,
        )
    except DbusFailedError as error:  # gone again before it could answer
        print(f"GetIncoming failed: {error}", flush=True)


async def follow_server(dbus, incoming):
    async for name, _, new_owner in dbus.name_owner_changed:
        if name == NAME and new_owner:
            print(f"{NAME} is here ({new_owner})", flush=True)
            await print_sources(incoming)
        elif name == NAME:
            print(f"{NAME} is gone; waiting for it to come back", flush=True)


async def main():
    dgram.ctrl_c_once()  # a second Ctrl-C while we stop: no traceback
    open_session_bus()
    incoming = Incoming.new_proxy(NAME, PATH)
    dbus = FreedesktopDbus()  # the bus itself: who owns which name
    tasks = [  # a task nothing references is garbage-collected mid-flight: keep them
        asyncio.create_task(print_messages(incoming)),
        asyncio.create_task(follow_server(dbus, incoming)),
        asyncio.create_task(watch_bus()),  # BusLost: the bus went away
    ]
    await asyncio.sleep(0)  # both subscribe first: the bus keeps our messages in order
    if await dbus.name_has_owner(NAME):
        await print_sources(incoming)
    else:
        print(f"waiting for {NAME} to appear", flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    dgram.stop_on_signals()  # SIGTERM ends it like Ctrl-C
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except BusLost as lost:  # one line, and a non-zero exit
        sys.exit(str(lost))
