"""Grader for step 07: client.py iterates over the server's Message signal."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, python, send

STEP = 7


@pytest.fixture
def client(step: Path, step_env: dict[str, str], programs: list[Program]) -> Callable[[], Program]:
    def start() -> Program:
        program = python(step / "client.py", env=step_env)
        programs.append(program)
        return program

    return start


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
