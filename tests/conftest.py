"""Fixtures shared by all tests. The graders (tests/graders/) use --steps / $STEPS."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Program
from tools import bus, table

pytest_plugins = ["tests.board_fixture"]  # the board and boards fixtures (a real systemd)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--steps",
        default=None,
        help="the steps folder to grade (default: $STEPS, else the repo's steps/)",
    )


@pytest.fixture
def steps_dir(request: pytest.FixtureRequest) -> Path:
    chosen = request.config.getoption("--steps") or os.environ.get("STEPS") or "steps"
    path = Path(chosen)
    return path if path.is_absolute() else table.ROOT / path


@pytest.fixture
def step_folder(steps_dir: Path) -> Callable[[int], Path]:
    """step_folder(n): the folder of step n in the steps being graded."""

    def folder(n: int) -> Path:
        path = table.get(n).folder(steps_dir)
        if not path.is_dir():
            pytest.fail(f"step {n}: no folder {path}")
        return path

    return folder


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $XDG_RUNTIME_DIR, so default socket names never meet a real user's."""
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


@pytest.fixture
def programs() -> Iterator[list[Program]]:
    """Append every Program a test starts; all are stopped afterwards, whatever happened."""
    started: list[Program] = []
    yield started
    for program in started:
        program.stop()


@pytest.fixture
def private_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bus.Bus]:
    """A real dbus-daemon on a temporary address, set as the session bus for the test."""
    with bus.private_bus(tmp_path / "bus") as private:
        monkeypatch.setenv(bus.ENV_VAR, private.address)
        yield private
