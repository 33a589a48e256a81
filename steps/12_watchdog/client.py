#!/usr/bin/env python3
"""Step 11: the live plot of a server on another machine, over ssh.

New in this step: the client can plot the server of another machine, on that
machine's system bus: --host [USER@]HOST[:PORT] (remote.py: sd-bus starts
ssh and systemd-stdio-bridge itself), or --system for this machine's system
bus. Everything after opening the bus is the same as for a local server,
restarts included. What can go wrong is one line each: ssh failing (unknown
host, refused key, no bridge there), the bus's policy refusing (it names
the rule), or the service not running there.

Run:    python3 receiver.py load sine      (the server of this step)
        python3 client.py                  (a live window, if there is a display)
        python3 client.py --save plot.png --seconds 10       (a picture; or .gif)
        python3 client.py --host pi@board  (the server of board's system bus)
"""

import signal

if __name__ == "__main__":  # run, not imported (by a notebook, say):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C waits for main()

import argparse
import asyncio
import sys
import time

import chart
import dgram
from interface import (
    NAME,
    PATH,
    BusLost,
    Incoming,
    open_session_bus,
    open_system_bus,
    watch_bus,
)
from remote import Remote
from sdbus.exceptions import DbusAccessDeniedError, DbusFailedError, SdBusBaseError
from sdbus_async.dbus_daemon import FreedesktopDbus


async def feed_charts(incoming, charts):
    async for source, timestamp_ns, pid, uid, gid, text in incoming.message_from:
        latency_ms = (time.time_ns() - timestamp_ns) / 1e6
        sender = f"pid {pid}, uid {uid}, gid {gid}" if pid else "no process"
        print(
            f"{source}: {text}  (from {sender}; {latency_ms:.2f} ms after the kernel)",
            flush=True,
        )
        charts.add(source, timestamp_ns, text)


def refused(error):
    """Who refused GetIncoming, and by which rule."""
    if str(error).startswith("Rejected send message"):  # dbus-daemon's policy
        return (
            "GetIncoming: refused by the bus's policy: system.conf's <deny send_type="
            '"method_call"/>, and no <allow send_member="GetIncoming"/> for it there'
            " (is org.example.Incoming.conf in /etc/dbus-1/system.d/ there?)"
        )
    # sd-bus, in the server
    return f"GetIncoming: refused by the server: not flagged unprivileged? ({error})"


async def setup_charts(incoming, charts):
    try:
        sources = await incoming.get_incoming()
    except DbusAccessDeniedError as error:
        raise SystemExit(refused(error)) from None
    except DbusFailedError as error:  # gone again before it could answer
        print(f"GetIncoming failed: {error}", flush=True)
        return
    print(f"one chart each for: {', '.join(sources)}", flush=True)
    charts.setup(sources)


async def follow_server(dbus, incoming, charts):
    async for name, _, new_owner in dbus.name_owner_changed:
        if name == NAME and new_owner:
            print(f"{NAME} is here ({new_owner})", flush=True)
            await setup_charts(incoming, charts)
        elif name == NAME:
            print(f"{NAME} is gone; waiting for it to come back", flush=True)


async def redraw(charts, fps=10):
    while charts.draw():  # until the window is closed
        await asyncio.sleep(1 / fps)  # the frame clock


async def main():
    dgram.ctrl_c_once()  # a second Ctrl-C while we stop: no traceback
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--save", help="write a .png picture or a .gif animation instead"
    )
    parser.add_argument(
        "--seconds", type=float, default=10, help="how long to collect for --save"
    )
    parser.add_argument("--system", action="store_true", help="the local system bus")
    parser.add_argument("--host", help="[USER@]HOST[:PORT]: its system bus, over ssh")
    args = parser.parse_args()
    charts = chart.LiveCharts(save=args.save)
    remote = Remote(args.host) if args.host else None
    if remote is None:
        open_system_bus() if args.system else open_session_bus()
    where = " on the system bus" * args.system
    if args.host:
        where = f" on {args.host}'s system bus"
    incoming = Incoming.new_proxy(NAME, PATH)
    dbus = FreedesktopDbus()  # the bus itself: who owns which name
    tasks = [  # a task nothing references is garbage-collected mid-flight: keep them
        asyncio.create_task(feed_charts(incoming, charts)),
        asyncio.create_task(follow_server(dbus, incoming, charts)),
    ]
    await asyncio.sleep(0)  # both subscribe first: the bus keeps our messages in order
    try:
        present = await dbus.name_has_owner(NAME)
    except SdBusBaseError as error:  # the bus never answered: over ssh, ssh says why
        for task in tasks:  # they failed the same way: this one line says it for them
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise SystemExit(
            remote.why() if remote else f"the bus failed: {error}"
        ) from None
    if present:
        await setup_charts(incoming, charts)
    elif where:  # one line, and we wait: a service restarting is not an error
        print(
            f"waiting for {NAME} to appear{where} (is incoming.service running?)",
            flush=True,
        )
    else:
        print(f"waiting for {NAME} to appear", flush=True)
    drawing = asyncio.create_task(redraw(charts))
    # ssh, or the bus
    lost = asyncio.create_task(remote.lost() if remote else watch_bus())
    tasks += [drawing, lost]
    timeout = args.seconds if charts.headless else None  # a window: until it is closed
    await asyncio.wait(
        [drawing, lost], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if charts.headless and charts.figure is not None:
        charts.save()  # what we have, even if the bus or the link went away
        print(f"wrote {charts.save_to}", flush=True)
    if lost.done():
        lost.result()  # raises BusLost
    if charts.headless and charts.figure is None:
        raise SystemExit(f"{NAME} never appeared: nothing to plot")


if __name__ == "__main__":
    dgram.stop_on_signals()  # SIGTERM ends it like Ctrl-C
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except BusLost as lost:  # one line, and a non-zero exit
        sys.exit(str(lost))
