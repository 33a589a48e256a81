"""Grader for step 13: the client watches systemd (org.freedesktop.systemd1) on its bus.

Without systemd (a private session bus): one line says there is no unit to watch,
and the client plots as before. On the board (tests/board_fixture.py: a real
systemd as PID 1 in systemd-nspawn, skipped with the reason where it cannot boot):
the client, over ssh, shows the unit's state; the server stopped with SIGSTOP is
killed by the watchdog and restarted, and the client marks the moment on every
chart of its picture; `systemctl restart incoming` is followed the same way.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from PIL import Image

from tests.board_fixture import Boards
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import TIMEOUT, Program, python, send

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


def red_columns(picture: Path) -> int:
    """How many columns of the picture hold a run of pure red: the restart markers."""
    image = Image.open(picture).convert("RGB")
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    return sum(
        1
        for x in range(width)
        if sum(1 for y in range(height) if pixels[x, y] == (255, 0, 0)) > height // 10
    )


def watch(board_host: str, env: dict[str, str], step: Path, picture: Path, seconds: int) -> Program:
    return python(
        step / "client.py", "--host", board_host, "--save", picture, "--seconds", str(seconds),
        env=env,
    )  # fmt: skip


def restarts_in(line: str) -> int:
    found = re.search(r"restarts: (\d+)", line)
    assert found, line
    return int(found.group(1))


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
