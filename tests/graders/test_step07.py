"""Grader for step 07: client.py iterates over the server's Message signal.

The idea is waiting, seen from outside the client: while it waits for messages it makes
no method calls on the bus (a monitor connection watches its unique name, BecomeMonitor
as dbus-monitor does it), and its one thread sleeps in epoll_wait with no timeout on the
bus connection, waking only when a message comes (tests/graders/kernel.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, python, send, wait_until

STEP = 7
MARK = "GetId"  # a call of our own to the bus, the monitor's last line: all before it is in


@pytest.fixture
def client(step: Path, step_env: dict[str, str], programs: list[Program]) -> Callable[[], Program]:
    def start() -> Program:
        program = python(step / "client.py", env=step_env)
        programs.append(program)
        return program

    return start


def unique_names(env: dict[str, str], pid: int) -> list[str]:
    """The unique bus names (":1.7") of process pid's connections, from busctl."""
    listing = subprocess.run(
        ["busctl", "--user", "list", "--unique", "--no-legend", "--no-pager"],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return [row.split()[0] for row in listing.splitlines() if row.split()[1:2] == [str(pid)]]


def method_calls_of(
    env: dict[str, str], names: list[str], programs: list[Program]
) -> Callable[[], list[str]]:
    """Watch the method calls names make; the returned function ends the watch, lists them."""
    rules = [f"type='method_call',sender='{name}'" for name in names]
    rules.append(f"type='method_call',interface='org.freedesktop.DBus',member='{MARK}'")
    monitor = Program(["dbus-monitor", "--session", *rules], env=env)
    programs.append(monitor)
    monitor.expect("member=NameLost")  # its own name, lost as it became a monitor: it is ready

    def calls() -> list[str]:
        subprocess.run(
            ["busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
             "org.freedesktop.DBus", MARK],
            env=env, capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        monitor.expect(rf"member={MARK}$")
        return [
            re.sub(r" time=\S+| serial=\d+", "", line)
            for line in monitor.stdout
            if line.startswith("method call") and f"member={MARK}" not in line
        ]

    return calls


@pytest.mark.idea
def test_client_waits_for_signals_without_calling_or_polling(
    receiver: Start,
    client: Callable[[], Program],
    step_env: dict[str, str],
    tmp_path: Path,
    programs: list[Program],
) -> None:
    path = tmp_path / "load"
    receiver(path, extra=("--gpio", "none:0"))  # nothing happens unless we send
    watching = client()
    watching.expect(rf"^the server listens on: {path}$")
    wait_until(lambda: bool(unique_names(step_env, watching.pid)), "the client's bus name")
    calls = method_calls_of(step_env, unique_names(step_env, watching.pid), programs)
    bus = [fd for fd, what in kernel.fd_targets(watching.pid).items() if what.startswith("socket:")]
    idle = kernel.loop_verdict(watching.pid, {"the bus connection": bus})
    for n in range(3):
        send(path, f"waited for {n}".encode())
        watching.expect(rf"^{path}: waited for {n} ")
    made = calls()
    assert not made, (
        f"why: while waiting for messages the client made {len(made)} method"
        f" call{'s' * (len(made) != 1)} ({made[0].split(' -> ')[-1]}...): it polls the server"
        " instead of iterating over the Message signal (`async for ... in incoming.message`)"
        " and NameOwnerChanged"
    )
    assert not idle, idle


@pytest.mark.idea
def test_client_prints_sources_and_every_message(
    receiver: Start, client: Callable[[], Program], tmp_path: Path
) -> None:
    path = tmp_path / "load"
    receiver(path, extra=("--gpio", "sim"))
    watching = client()
    watching.expect(rf"^the server listens on: {path}, simulated:0$")
    watching.expect(r"^simulated:0: (rising|falling) ")  # proves the subscription is in place
    for n in range(20):
        send(path, f"reading {n}".encode())
    for n in range(20):
        watching.expect(rf"^{path}: reading {n} ")


@pytest.mark.idea
def test_client_waits_for_a_server_started_after_it(
    receiver: Start, client: Callable[[], Program], tmp_path: Path
) -> None:
    watching = client()
    watching.expect(r"^waiting for org\.example\.Incoming to appear$")
    path = tmp_path / "load"
    receiver(path, extra=("--gpio", "none:0"))
    watching.expect(rf"^the server listens on: {path}$")
    send(path, b"hello late client")
    watching.expect(rf"^{path}: hello late client ")


@pytest.mark.idea
def test_client_survives_a_server_restart(
    receiver: Start, client: Callable[[], Program], tmp_path: Path
) -> None:
    path = tmp_path / "load"
    first = receiver(path, extra=("--gpio", "none:0"))
    watching = client()
    watching.expect(rf"^the server listens on: {path}$")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    watching.expect(r"is gone; waiting for it to come back$")
    receiver(path, extra=("--gpio", "none:0"))
    watching.expect(rf"^the server listens on: {path}$")
    send(path, b"after the restart")
    watching.expect(rf"^{path}: after the restart ")
    assert watching.process.poll() is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_client_stops_cleanly(client: Callable[[], Program], signum: int) -> None:
    watching = client()
    watching.expect(r"^waiting for ")
    watching.signal(signum)
    assert watching.wait() == 0
    assert not any("Traceback" in line for line in watching.stderr), watching.stderr


def test_client_without_a_bus_says_so(step: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    program = python(step / "client.py", env=env)
    assert program.wait() != 0
    assert len(program.stderr) == 1 and "no D-Bus session bus" in program.stderr[0]
