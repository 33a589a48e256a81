#!/usr/bin/env python3
"""Step 08: a live plot of what arrives, one chart per source.

New in this step: the client draws instead of printing. GetIncoming() says
which sources there are, so it sets up one chart each (chart.py: matplotlib);
the Message task feeds them and a third task redraws ten times a second,
however fast messages come. The plot cannot slow the server: the bus delivers
to us at our pace, and the server never waits for a client.

Run:    python3 receiver.py load sine      (the server, unchanged since step 06)
        python3 client.py                  (a live window, if there is a display)
        python3 client.py --save plot.png --seconds 10       (a picture; or .gif)
"""

import signal

if __name__ == "__main__":  # run, not imported (by a notebook, say):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C waits for main()

import argparse
import asyncio
import sys

import chart
import dgram
from interface import NAME, PATH, BusLost, Incoming, open_session_bus, watch_bus
from sdbus.exceptions import DbusFailedError
from sdbus_async.dbus_daemon import FreedesktopDbus


async def feed_charts(incoming, charts):
    async for source, timestamp_ns, text in incoming.message:
        charts.add(source, timestamp_ns, text)


async def setup_charts(incoming, charts):
    try:
        sources = await incoming.get_incoming()
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
    args = parser.parse_args()
    charts = chart.LiveCharts(save=args.save)
    open_session_bus()
    incoming = Incoming.new_proxy(NAME, PATH)
    dbus = FreedesktopDbus()  # the bus itself: who owns which name
    tasks = [  # a task nothing references is garbage-collected mid-flight: keep them
        asyncio.create_task(feed_charts(incoming, charts)),
        asyncio.create_task(follow_server(dbus, incoming, charts)),
    ]
    await asyncio.sleep(0)  # both subscribe first: the bus keeps our messages in order
    if await dbus.name_has_owner(NAME):
        await setup_charts(incoming, charts)
    else:
        print(f"waiting for {NAME} to appear", flush=True)
    drawing = asyncio.create_task(redraw(charts))
    lost = asyncio.create_task(watch_bus())  # BusLost once the bus went away
    tasks += [drawing, lost]
    timeout = args.seconds if charts.headless else None  # a window: until it is closed
    await asyncio.wait(
        [drawing, lost], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if charts.headless and charts.figure is not None:
        charts.save()  # what we have, even if the bus went away
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
