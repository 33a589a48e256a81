"""Part 5, the broker: dbus-broker against dbus-daemon, with the same sdbus pair.

dbus-broker-launch expects systemd: it is socket-activated and logs to the journal.
Without systemd we give it both, and nothing else: `systemd-socket-activate` for the
listening socket, and a stand-in journal socket on a tmpfs over /run/systemd in a
private mount namespace (`unshare --mount`), so the host's /run is never touched.
If any of that is impossible here, the part is skipped and the output says why.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import Program, wait_until
from tools import bus as busmod
from tools.bench import cost, peers
from tools.bench.common import ROOT, BenchError, Options, Results, bus_env, pin_pid, start_worker

NEEDS = ("dbus-broker-launch", "dbus-broker", "systemd-socket-activate", "unshare", "mount")


def why_not() -> str | None:
    missing = [tool for tool in NEEDS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt install dbus-broker)"
    if os.geteuid() != 0:
        return "a private mount namespace for the journal stand-in needs root"
    if not os.path.isdir("/run/systemd"):
        return "no /run/systemd to put the journal stand-in over"
    return None


def broker_child(launcher: int) -> int | None:
    """The dbus-broker process the launcher started (once a client connected)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if comm == "dbus-broker" and ppid == launcher:
            return int(entry)
    return None


@contextlib.contextmanager
def broker_bus(options: Options) -> Iterator[tuple[busmod.Bus, int]]:
    """A dbus-broker on a socket of our own; yields the bus and the broker's pid."""
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as folder:
        path = os.path.join(folder, "socket")
        script = 'mount -t tmpfs bench-journal /run/systemd && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
        argv += [sys.executable, "-m", "tools.bench.worker", "journal", path]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        program = Program(argv, cwd=ROOT, env=env)
        try:
            try:
                reply = json.loads(program.expect(r"^\{", timeout=30).string)
            except AssertionError as error:
                lines = [line for line in str(error).splitlines() if line.strip()]
                raise BenchError(f"dbus-broker did not start: {lines[-1]}") from None
            if "error" in reply:
                raise BenchError(f"dbus-broker did not start: {reply['error']}")
            address = f"unix:path={path}"
            private = busmod.Bus(address, None, Path(folder))
            found: list[int] = []

            def started() -> bool:
                child = broker_child(reply["launcher"])
                found[:] = [child] if child else []
                return bool(found)

            # the first client's connection activates the launcher, which starts the broker
            with start_worker(["client", "sdbus-blocking"], options, bus_env(private)):
                wait_until(started, "dbus-broker to start")
            broker = found[0]
            if options.pin:
                pin_pid(broker)
            yield private, broker
        finally:
            program.stop()


@contextlib.contextmanager
def daemon_bus(options: Options) -> Iterator[tuple[busmod.Bus, int]]:
    with peers.bus_for(options) as (private, _env):
        assert private.process is not None
        yield private, private.process.pid


def run(options: Options, results: Results) -> None:
    reason = why_not()
    if reason:
        results.skip("broker", "dbus-broker", reason)
    for daemon, opener in (("dbus-daemon", daemon_bus), ("dbus-broker", broker_bus)):
        if daemon == "dbus-broker" and reason:
            continue
        print(f"  broker: {daemon}", file=sys.stderr, flush=True)
        try:
            with opener(options) as (private, pid):
                env = bus_env(private)
                with start_worker(["server", peers.FIXED], options, env) as server:
                    measured = peers.run_pair(peers.FIXED, peers.FIXED, options, env)
                    peers.record(results, "broker", daemon, measured)
                    with start_worker(["client", peers.FIXED], options, env) as client:
                        client.ask(op="calls", n=100, inflight=1)  # warm-up
                        pids = {"client": client.pid, "server": server.pid, "daemon": pid}
                        label = daemon
                        cost.measure_pair(label, "broker", client, pids, options, results)
        except BenchError as error:
            results.skip("broker", daemon, str(error))
    for kind in peers.KINDS:
        names = [f"{d}/{kind}" for d in ("dbus-daemon", "dbus-broker")]
        results.ratios("broker", f"dbus-daemon/{kind}", names)
