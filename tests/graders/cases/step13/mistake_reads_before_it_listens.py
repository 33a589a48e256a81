# replaces: client.py
# why: before it listens to PropertiesChanged
# what: reads the unit's state, then subscribes: a restart in between is never seen
#!/usr/bin/env python3
"""Step 13: the client watches systemd, on the same bus.

New in this step: systemd is on the bus too (org.freedesktop.systemd1,
systemd.py), and every unit is an object of it. On the bus it plots from
(--system, or --host over ssh), the client reads incoming.service's
ActiveState, SubState, StatusText (the server's STATUS= line, step 12) and
NRestarts, and follows their PropertiesChanged: the plot's title shows them
live, and each time the service stops (the watchdog killed it, or
`systemctl restart incoming`) a red line marks the moment on every chart.
Without systemd on the bus (a session bus), one line says so, and it plots
as before.

Run:    python3 receiver.py load sine      (the server of this step)
        python3 client.py                  (a live window, if there is a display)
        python3 client.py --save plot.png --seconds 10       (a picture; or .gif)
        python3 client.py --host pi@board  (board's system bus: its server and unit)
Watch:  busctl tree org.freedesktop.systemd1   (systemd's objects: one per unit)
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
from systemd import MANAGER, SYSTEMD, UNIT, Manager, ServiceUnit, changes_in, state_of


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


def show_unit(state, charts):
    """The unit's state: the plot's title, and a line when it changed."""
    line = f"{UNIT}: {state['active']} ({state['sub']}), restarts: {state['restarts']}"
    line += f", {state['status']}" if state["status"] else ""
    if line != charts.unit:  # systemd says "changed" for properties we do not show, too
        print(line, flush=True)
        charts.about(line)


async def follow_unit(dbus, charts):
    """incoming.service as systemd sees it, live; each stop marked on every chart."""
    if not await dbus.name_has_owner(SYSTEMD):  # a session bus, a container: no systemd
        print(f"not watching {UNIT}: no systemd on this bus ({SYSTEMD})", flush=True)
        return
    manager = Manager.new_proxy(SYSTEMD, MANAGER)
    try:
        unit = ServiceUnit.new_proxy(SYSTEMD, await manager.load_unit(UNIT))
        loaded = await unit.load_state
        await manager.subscribe()  # older systemd sends units' signals only once asked
    except SdBusBaseError as error:  # e.g. the bus's policy
        print(
            f"not watching {UNIT}: systemd did not answer ({error.args[-1]})",
            flush=True,
        )
        return
    if loaded != "loaded":
        print(f"not watching {UNIT}: systemd has no such unit ({loaded})", flush=True)
        return
    was = await state_of(unit)
    show_unit(was, charts)
    # The signal carries the new values, in order. Read again instead, a quick
    # restart would be over by then, and its stop never seen.
    async for _, changed, _ in unit.properties_changed:
        now = was | changes_in(changed)
        show_unit(now, charts)
        if was["active"] == "active" and now["active"] != "active":  # stopped
            seconds = charts.mark()
            print(
                f"{UNIT} stopped: marked at {seconds:.1f} s on each chart", flush=True
            )
        was = now


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
    # is systemd on this bus? follow_unit() says
    tasks.append(asyncio.create_task(follow_unit(dbus, charts)))
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
