"""Fixtures for the graders: the step a grader module is about (its STEP), and its receiver."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Program, python
from tools import bus, can_sim, table

Start = Callable[..., Program]


@pytest.fixture
def step(request: pytest.FixtureRequest, step_folder: Callable[[int], Path]) -> Path:
    """The folder of the step this grader module is about (its STEP)."""
    return step_folder(request.module.STEP)


@pytest.fixture
def step_env(
    request: pytest.FixtureRequest, tmp_path: Path, runtime_dir: Path
) -> Iterator[dict[str, str]]:
    """os.environ, plus a private session bus for the steps that need one."""
    if "bus" not in table.get(request.module.STEP).needs:
        yield dict(os.environ)
        return
    with bus.private_bus(tmp_path / "bus") as private:
        yield private.env


@pytest.fixture
def receiver(
    request: pytest.FixtureRequest,
    step: Path,
    step_env: dict[str, str],
    runtime_dir: Path,
    programs: list[Program],
) -> Start:
    """receiver(*names_or_paths): start the step's receiver; return once it listens on all."""

    def start(*names: str | Path, extra: tuple[str, ...] = ()) -> Program:
        program = python(step / "receiver.py", *names, *extra, env=step_env)
        programs.append(program)
        sockets = len(names) or 1
        for listening in range(sockets):
            try:
                program.expect(r"^listening on ")
            except AssertionError as error:
                raise AssertionError(
                    f"the receiver listened on {listening} of the {sockets} socket"
                    f"{'s' * (sockets != 1)} it was given (one 'listening on' line each)\n"
                    f"{error}"
                ) from None
        if "bus" in table.get(request.module.STEP).needs:
            program.expect(r"^on the bus as org\.example\.Incoming$")
        return program

    return start


@pytest.fixture
def vcan() -> str:
    """A virtual CAN bus for --can (vcan0, made if need be as root), or a skip saying why not."""
    if reason := can_sim.unavailable():
        pytest.skip(reason)
    if not can_sim.exists():
        if os.geteuid() != 0:
            pytest.skip(f"no {can_sim.IFACE}, and making one needs root: sudo make can-sim")
        can_sim.create()
    return can_sim.IFACE
