"""Grader for step 13: the client watches systemd (org.freedesktop.systemd1) on its bus.

Without systemd (a private session bus): one line says there is no unit to watch,
and the client plots as before. On the board (tests/board_fixture.py: a real
systemd as PID 1 in systemd-nspawn, skipped with the reason where it cannot boot):
the client, over ssh, listens to the unit's PropertiesChanged before it reads its state
(a bus monitor sees the order), and shows it; the server stopped with SIGSTOP is
killed by the watchdog and restarted, and the client marks the moment on every
chart of its picture; `systemctl restart incoming` is followed the same way.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from tests.board_fixture import Boards
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import TIMEOUT, Program, python, red_columns, send, wait_until

STEP = 13
UNIT = "incoming.service"
STARTUP = 60  # s: a client importing matplotlib, ssh logging in, on a loaded machine
WATCHDOG = 10  # s: the unit's WatchdogSec=


@pytest.mark.idea
def test_without_systemd_one_line_and_the_plot_as_before(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path,
    programs: list[Program],
) -> None:  # fmt: skip
    path = tmp_path / "load"
    receiver(path)
    picture = tmp_path / "plot.png"
    plot = python(step / "client.py", "--save", picture, "--seconds", "3", env=step_env)
    programs.append(plot)
    plot.expect(rf"^one chart each for: {path}", timeout=STARTUP)
    send(path, b"0.5")
    plot.expect(rf"^{path}: 0\.5 ")
    assert plot.wait(timeout=STARTUP) == 0, plot.stderr
    said = [line for line in plot.stdout if UNIT in line]
    assert len(said) == 1 and re.match(rf"not watching {re.escape(UNIT)}: no systemd", said[0]), (
        f"without systemd on the bus: one line saying {UNIT} is not watched, not {said}"
    )
    assert picture.exists(), "no picture written"


def watch(board_host: str, env: dict[str, str], step: Path, picture: Path, seconds: int) -> Program:
    return python(
        step / "client.py", "--host", board_host, "--save", picture, "--seconds", str(seconds),
        env=env,
    )  # fmt: skip


def restarts_in(line: str) -> int:
    found = re.search(r"restarts: (\d+)", line)
    assert found, line
    return int(found.group(1))


def sent_by_clients(monitor: Program) -> list[dict[str, object]]:
    """The method calls `busctl monitor --json=short` saw, in the bus's order."""
    messages = [json.loads(line) for line in list(monitor.stdout) if line.startswith("{")]
    return [m for m in messages if m.get("type") == "method_call"]


def listens_then_reads(calls: list[dict[str, object]]) -> tuple[int, int] | None:
    """Where the client's AddMatch for the unit's PropertiesChanged and its first read of
    ActiveState are among calls (the same sender), or None if it has not read it yet."""
    reads = [
        (i, call["sender"])
        for i, call in enumerate(calls)
        if call.get("member") in ("Get", "GetAll") and "ActiveState" in json.dumps(call)
    ]
    if not reads:
        return None
    read, client = reads[0]
    matches = [
        i
        for i, call in enumerate(calls)
        if call["sender"] == client and call.get("member") == "AddMatch"
        and "PropertiesChanged" in json.dumps(call) and "incoming_2eservice" in json.dumps(call)
    ]  # fmt: skip
    return (matches[0] if matches else len(calls), read)


@pytest.mark.slow
def test_on_the_board_the_client_listens_before_it_reads(
    boards: Boards, step: Path, tmp_path: Path, programs: list[Program]
) -> None:
    """A change between reading the unit's state and subscribing to its PropertiesChanged
    is never seen (a restart then, and no marker). The bus, watched by a monitor, has the
    client's match for the signal before the client's first read of ActiveState."""
    board = boards.get(STEP)
    board.call()
    monitor = Program(["busctl", f"--address={board.bus_address}", "monitor", "--json=short"])
    programs.append(monitor)
    board.call()  # the monitor's on once it has seen a call
    wait_until(lambda: any(c.get("member") == "GetIncoming" for c in sent_by_clients(monitor)),
               "busctl monitor to see a call")  # fmt: skip
    plot = watch(board.host(), board.client_env(), step, tmp_path / "p.png", 3)
    programs.append(plot)
    plot.expect(rf"^{re.escape(UNIT)}: active \(running\)", STARTUP)
    wait_until(lambda: listens_then_reads(sent_by_clients(monitor)) is not None,
               "the monitor to see the client read ActiveState")  # fmt: skip
    order = listens_then_reads(sent_by_clients(monitor))
    assert order is not None
    match, read = order
    assert match < read, (
        "why: the client reads the unit's ActiveState before it listens to PropertiesChanged:"
        " a restart in between is never seen (subscribe first, then read)"
    )


@pytest.mark.slow
def test_on_the_board_a_watchdog_restart_is_marked(
    boards: Boards, step: Path, tmp_path: Path, programs: list[Program]
) -> None:
    board = boards.get(STEP)
    board.call()  # bus activation: the service runs
    picture = tmp_path / "restart.png"
    plot = watch(board.host(), board.client_env(), step, picture, WATCHDOG * 4)
    programs.append(plot)
    first = plot.expect(rf"^{re.escape(UNIT)}: active \(running\), restarts: \d+", STARTUP)
    before = restarts_in(first.group(0))
    board.run("kill -STOP $(systemctl show -P MainPID incoming)")
    plot.expect(rf"^{re.escape(UNIT)} stopped: marked at [\d.]+ s", timeout=WATCHDOG + TIMEOUT)
    back = plot.expect(rf"^{re.escape(UNIT)}: active \(running\), restarts: \d+", STARTUP)
    assert restarts_in(back.group(0)) == before + 1, back.group(0)
    journal = board.run("journalctl -u incoming --no-pager -o cat").stdout
    assert "Watchdog timeout" in journal, journal[-2000:]
    assert plot.wait(timeout=WATCHDOG * 4 + STARTUP) == 0, plot.stderr
    assert red_columns(picture) >= 1, f"no red restart marker in {picture}"


@pytest.mark.slow
def test_on_the_board_systemctl_restart_is_followed(
    boards: Boards, step: Path, tmp_path: Path, programs: list[Program]
) -> None:
    board = boards.get(STEP)
    board.call()
    plot = watch(board.host(), board.client_env(), step, tmp_path / "p.png", 3 * WATCHDOG)
    programs.append(plot)
    plot.expect(rf"^{re.escape(UNIT)}: active \(running\)", STARTUP)
    plot.signal(signal.SIGSTOP)  # the client busy elsewhere: the restart is over before
    try:  # it reads a thing, and only the signals' values still tell of the stop
        board.run("systemctl restart incoming")  # returns once the new one said READY=1
    finally:
        plot.signal(signal.SIGCONT)
    plot.expect(rf"^{re.escape(UNIT)} stopped: marked at", TIMEOUT)
    plot.expect(rf"^{re.escape(UNIT)}: active \(running\), restarts: \d+, serving", STARTUP)
    assert plot.wait(timeout=3 * WATCHDOG + STARTUP) == 0, plot.stderr
    marked = next(i for i, line in enumerate(plot.stdout) if "stopped: marked" in line)
    again = [line for line in plot.stdout[marked:] if line.startswith("one chart each for: ")]
    assert again, f"the new server was not plotted after the restart: {plot.stdout[marked:]}"
