"""Grader for step 12: systemd watches the loop (the notify protocol, and the watchdog).

Without systemd: a socket of the test's own is $NOTIFY_SOCKET (tools/notify_listen.py),
the way systemd gives a Type=notify service one. READY=1 must come once the name is
owned; WATCHDOG=1 at about half of $WATCHDOG_USEC while the event loop runs, and
none while it is blocked (tests/graders/loop_blocker.py blocks the loop's thread
and only it, as a bug in a coroutine would: a watchdog pinged from another thread
goes on and fails here). On a real systemd: tests/test_board_steps.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.board_fixture import Boards
from tests.graders.common import *  # noqa: F403
from tests.helpers import TIMEOUT, Program, send, wait_until
from tools.notify_listen import Listener

STEP = 12
NAME = "org.example.Incoming"
WATCHDOG_USEC = 1_000_000  # 1 s: pings expected every 0.5 s
BLOCKER = Path(__file__).with_name("loop_blocker.py")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    listening = Listener(tmp_path)
    yield listening
    listening.close()


def serve(
    step: Path, env: dict[str, str], programs: list[Program], *args: str, blocker: bool = False
) -> Program:
    argv: list[str | Path] = [sys.executable, *([BLOCKER] if blocker else []), "receiver.py", *args]
    server = Program(argv, cwd=step, env=env)
    programs.append(server)
    server.expect(rf"^on the bus as {re.escape(NAME)}$")
    return server


def next_datagram(listener: Listener, what: str) -> tuple[float, list[str]]:
    got = listener.receive(TIMEOUT)
    assert got is not None, f"nothing on $NOTIFY_SOCKET in {TIMEOUT:g} s: {what}"
    return got


def until(listener: Listener, field: str, what: str) -> tuple[float, list[str]]:
    """The next datagram with this field (e.g. WATCHDOG=1), skipping the others."""
    while True:
        when, lines = next_datagram(listener, what)
        if field in lines:
            return when, lines


def within(listener: Listener, seconds: float) -> list[list[str]]:
    """Every datagram that comes within the next seconds (0: those already there)."""
    came, deadline = [], time.monotonic() + seconds
    while (got := listener.receive(max(0.0, deadline - time.monotonic()))) is not None:
        came.append(got[1])
    return came


def name_has_owner(env: dict[str, str]) -> bool:
    reply = subprocess.run(
        ["busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus", "NameHasOwner", "s", NAME],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return reply.strip() == "b true"


@pytest.mark.idea
def test_ready_once_it_owns_its_name(
    step: Path, step_env: dict[str, str], listener: Listener, tmp_path: Path,
    programs: list[Program],
) -> None:  # fmt: skip
    path = tmp_path / "load"
    server = Program(
        [sys.executable, "receiver.py", path, "--gpio", "none:0"], cwd=step,
        env={**step_env, **listener.env()},
    )  # fmt: skip
    programs.append(server)
    _, lines = until(listener, "READY=1", "READY=1 once the server owns its name")
    assert name_has_owner(step_env), (
        f"READY=1 came before {NAME} was owned: a client started by it would not find it"
    )
    status = [line for line in lines if line.startswith("STATUS=")]
    assert status and str(path) in status[0], (
        f"READY=1 without a STATUS= line naming the sources ({path}): {lines}"
    )


@pytest.mark.idea
def test_watchdog_pings_every_half_timeout_with_status(
    step: Path, step_env: dict[str, str], listener: Listener, tmp_path: Path,
    programs: list[Program],
) -> None:  # fmt: skip
    path = tmp_path / "load"
    env = {**step_env, **listener.env(WATCHDOG_USEC)}
    serve(step, env, programs, str(path), "--gpio", "none:0")
    until(listener, "READY=1", "READY=1")
    pings: list[float] = []
    while len(pings) < 6:
        send(path, b"0.5")
        when, lines = until(listener, "WATCHDOG=1", f"WATCHDOG=1, WATCHDOG_USEC={WATCHDOG_USEC}")
        pings.append(when)
        status = [line for line in lines if line.startswith("STATUS=")]
        assert status and re.search(r"messages/s", status[0]), (
            f"the pings come without a STATUS= line saying messages/s: {lines}"
        )
    gap = statistics.median(b - a for a, b in zip(pings, pings[1:], strict=False))
    half = WATCHDOG_USEC / 1e6 / 2
    assert gap < 0.8 * 2 * half, (
        f"a WATCHDOG=1 every {gap:.2f} s for WATCHDOG_USEC={WATCHDOG_USEC}: the watchdog"
        " timeout itself is too late by any jitter; ping every half of it"
    )
    assert gap > 0.4 * half, f"a WATCHDOG=1 every {gap:.2f} s: half of WATCHDOG_USEC is {half} s"


@pytest.mark.idea
def test_a_blocked_loop_stops_the_pings(
    step: Path, step_env: dict[str, str], listener: Listener, tmp_path: Path,
    programs: list[Program],
) -> None:  # fmt: skip
    unblock = tmp_path / "unblock"
    os.mkfifo(unblock)
    env = {**step_env, **listener.env(WATCHDOG_USEC), "INCOMING_UNBLOCK": str(unblock)}
    server = serve(step, env, programs, str(tmp_path / "load"), "--gpio", "none:0", blocker=True)
    until(listener, "WATCHDOG=1", "WATCHDOG=1 while the loop runs")
    server.signal(signal.SIGUSR1)
    server.expect("^the loop is blocked$")
    within(listener, 0)  # what was sent before the loop stopped
    during = within(listener, 3 * WATCHDOG_USEC / 1e6)
    with unblock.open("wb") as fifo:
        fifo.write(b"x")
    assert not [lines for lines in during if "WATCHDOG=1" in lines], (
        "WATCHDOG=1 came while the event loop was blocked: pinged from a thread, not a task"
        f" on the loop, it tells systemd a stuck server is fine ({during})"
    )
    server.expect("^the loop runs again$")
    until(listener, "WATCHDOG=1", "WATCHDOG=1 again once the loop runs again")


@pytest.mark.idea
def test_no_pings_for_another_processes_watchdog(
    step: Path, step_env: dict[str, str], listener: Listener, tmp_path: Path,
    programs: list[Program],
) -> None:  # fmt: skip
    env = {**step_env, **listener.env(WATCHDOG_USEC, pid=1)}  # pid 1: not the server's
    serve(step, env, programs, str(tmp_path / "load"), "--gpio", "none:0")
    until(listener, "READY=1", "READY=1")
    came = within(listener, 3 * WATCHDOG_USEC / 1e6)
    assert not [lines for lines in came if "WATCHDOG=1" in lines], (
        "WATCHDOG=1 with WATCHDOG_PID=1: that watchdog is another process's (sd_notify(3):"
        " ping only if $WATCHDOG_PID is unset or our own pid)"
    )


@pytest.mark.idea
def test_abstract_notify_socket(
    step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    abstract = Listener(tmp_path, abstract=True)
    try:
        env = {**step_env, **abstract.env()}
        serve(step, env, programs, str(tmp_path / "load"), "--gpio", "none:0")
        got = abstract.receive(TIMEOUT)
        assert got is not None and "READY=1" in got[1], (
            f"no READY=1 on NOTIFY_SOCKET={abstract.path}: '@' means the abstract namespace,"
            " a NUL byte first"
        )
    finally:
        abstract.close()


@pytest.mark.idea
def test_a_notify_socket_gone_is_one_line(
    step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    env = {**step_env, "NOTIFY_SOCKET": str(tmp_path / "nobody")}
    server = serve(step, env, programs, str(path), "--gpio", "none:0")
    send(path, b"still serving")
    server.expect(rf"^{path}: still serving$")
    # stderr has a reader of its own: the notice (printed at READY=1) may be a moment behind
    with contextlib.suppress(AssertionError):  # none at all: the assertion below says so
        wait_until(lambda: any("nobody" in line for line in server.stderr), "a notice", 5)
    notices = [line for line in server.stderr if "nobody" in line]
    assert len(notices) == 1 and "Traceback" not in "".join(server.stderr), (
        f"a $NOTIFY_SOCKET nobody listens on: want one line on stderr, got {server.stderr}"
    )


@pytest.mark.idea
def test_unit_is_type_notify_with_a_watchdog(step: Path) -> None:
    text = (step / "incoming.service").read_text()
    for setting in ("Type=notify", f"BusName={NAME}", "WatchdogSec=", "Restart=on-failure"):
        assert re.search(rf"^{re.escape(setting)}", text, re.M), f"the unit has no {setting}"
    activation = (step / "org.example.Incoming.service").read_text()
    assert "SystemdService=incoming.service" in activation, "bus activation must start the unit"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here to verify the unit")
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", step / "incoming.service"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if "dbus.socket" in verify.stderr:
        pytest.skip("no dbus.socket here (the system bus's unit) to verify the unit against")
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def test_outside_systemd_nothing_is_sent(
    step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    env = {k: v for k, v in step_env.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)  # a watchdog, but no socket: nobody to tell
    path = tmp_path / "load"
    server = serve(step, env, programs, str(path), "--gpio", "none:0")
    send(path, b"hello")
    server.expect(rf"^{path}: hello$")
    said = [line for line in server.stderr if "notify" in line.lower() or "Traceback" in line]
    assert not said, f"no $NOTIFY_SOCKET means not started by systemd: say nothing ({said})"


@pytest.mark.slow
def test_on_the_board_systemctl_status_shows_the_status(boards: Boards) -> None:
    board = boards.get(STEP)
    board.call()  # bus activation: READY=1 made it active
    shown = board.run("systemctl status incoming --no-pager", check=False).stdout
    assert re.search(r"Status: \"(serving|\d+ sources)", shown), shown
    assert "active (running)" in shown, shown


@pytest.mark.slow
def test_on_the_board_the_watchdog_restarts_a_stopped_server(boards: Boards) -> None:
    board = boards.get(STEP)
    board.call()
    show = "systemctl show -P NRestarts incoming; systemctl show -P MainPID incoming"
    before, pid = board.run(show).stdout.split()
    board.run(f"kill -STOP {pid}")
    board.run(  # systemd's own wait: until the unit runs again under a new pid
        f'for i in $(seq {4 * 10 * 10}); do test "$(systemctl show -P MainPID incoming)" != {pid}'
        " && systemctl is-active -q incoming && exit 0; sleep 0.1; done; exit 1",
        timeout=120,
    )
    after, _ = board.run(show).stdout.split()
    assert int(after) == int(before) + 1, f"NRestarts {before} -> {after}"
    journal = board.run("journalctl -u incoming --no-pager -o cat").stdout
    assert "Watchdog timeout" in journal and "restart counter is at" in journal, journal[-2000:]
