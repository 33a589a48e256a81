"""Fixtures for the graders: the step a grader module is about (its STEP), and its receiver.

And what makes a verdict fast and readable, for `make check-N`, `make watch`/`live-N`
(tools/ideas.py) and the notebooks alike:
- the step's idea tests (@pytest.mark.idea) run first, and the first one that fails ends
  the run (the rest are not run: the why line of that idea is what the attendee needs);
- every failure's first line is a `why:` line in words (a test's own, else one made from
  the test's name);
- a receiver still running when its test ends gets SIGTERM and STOP_SECONDS (not counting
  time spent waiting for a CPU); one that outlives that fails the test with its why line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import STOP_SECONDS, Program, python
from tools import bus, can_sim, table

Start = Callable[..., Program]
STOP_WHY = (
    f"why: did not stop on SIGTERM within {STOP_SECONDS:g} s: is something blocking the event loop?"
)


def is_idea(item: pytest.Item) -> bool:
    return item.get_closest_marker("idea") is not None


def own(item: pytest.Item) -> bool:
    """Whether the test is the grader's own, not one it imports from another step's."""
    function = getattr(item, "function", None)
    return getattr(function, "__module__", None) == getattr(item.module, "__name__", "")  # type: ignore[attr-defined]


def grading_one_step(config: pytest.Config) -> bool:
    """Whether this run grades one step (make check-N, watch, live, a notebook's check),
    not the whole suite (make test), which neither reorders nor stops at an idea."""
    return bool(getattr(config, "_grading_one_step", False))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Grading one step: ideas first, the step's own before those it shares with another
    step (a stable sort: otherwise in the grader's order)."""
    modules = {item.nodeid.split("::")[0] for item in items}
    config._grading_one_step = len(modules) == 1 and all(  # type: ignore[attr-defined]
        "graders/test_step" in module for module in modules
    )
    if grading_one_step(config):
        items.sort(key=lambda item: (not is_idea(item), not own(item)))


def why_line(report: pytest.TestReport, name: str) -> str:
    """The failure's why line: the test's own, else one made from the test's name."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    for line in message.splitlines():
        text = line.removeprefix("AssertionError: ").removeprefix("Failed: ").strip()
        if text.startswith("why: "):
            return text
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return f"why: {name.removeprefix('test_').replace('_', ' ')} does not hold: {first}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    item._graded = True  # type: ignore[attr-defined]  # it ran (for the not-run count)
    if not report.failed:
        return
    why = why_line(report, getattr(item, "originalname", item.name))
    report.sections.insert(0, ("why", why))
    item.user_properties.append(("why", why))
    if is_idea(item) and grading_one_step(item.config) and not item.session.shouldstop:
        item.session.shouldstop = f"an idea does not hold yet, the rest not run. {why}"


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
) -> Iterator[Start]:
    """receiver(*names_or_paths): start the step's receiver; return once it listens on all.
    Afterwards each must stop on SIGTERM within STOP_SECONDS (asleep), or the test fails."""
    started: list[Program] = []

    def start(*names: str | Path, extra: tuple[str, ...] = ()) -> Program:
        program = python(step / "receiver.py", *names, *extra, env=step_env)
        programs.append(program)
        started.append(program)
        sockets = len(names) or 1
        for listening in range(sockets):
            program.expect(
                r"^listening on ",
                what=f"a 'listening on' line for each of the {sockets} socket"
                f"{'s' * (sockets != 1)} it was given ({listening} came)",
            )
        if "bus" in table.get(request.module.STEP).needs:
            program.expect(
                r"^on the bus as org\.example\.Incoming$",
                what="'on the bus as org.example.Incoming' (the name, owned on the bus)",
            )
        return program

    yield start
    if not all([program.stop() for program in started]):  # stop each, then judge
        pytest.fail(STOP_WHY, pytrace=False)


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


VERDICT_VAR = "INCOMING_VERDICT_FILE"  # tools/grade.py reads the run's why lines from it


def pytest_sessionfinish(session: pytest.Session) -> None:
    """For tools/grade.py: the failures' why lines, first first, and how many did not run."""
    if not (target := os.environ.get(VERDICT_VAR)):
        return
    items = getattr(session, "items", [])
    ran = [item for item in items if getattr(item, "_graded", False)]
    whys = [
        {"test": item.nodeid, "idea": is_idea(item), "why": why}
        for item in ran
        for name, why in item.user_properties
        if name == "why"
    ]
    verdict = {"tests": len(items), "ran": len(ran), "whys": whys}
    Path(target).write_text(json.dumps(verdict))
