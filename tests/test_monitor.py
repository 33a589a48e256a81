"""`make monitor SOURCE=load`: busctl monitor with an arg0 match shows one source only.

A real step server on a private bus listens on two sources (load and sine) plus its
simulated GPIO line; the two are fed alternately. The monitor, started through the
Makefile as a presenter types it, must show load's messages and none of sine's (nor
the GPIO line's), although the server emitted both.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Program, python, send, wait_until
from tools import bus, monitor, table

STEPS = [s for s in table.load() if "bus" in s.needs]
SERVERS = [STEPS[0], STEPS[-1]] if len(STEPS) > 1 else STEPS  # step 06, and the newest


def start_monitor(source: str, address: str, programs: list[Program]) -> Program:
    env = {**os.environ, "BUS": "session", bus.ENV_VAR: address, "SOURCE": source}
    program = Program(["make", "--no-print-directory", "-s", "monitor"], cwd=table.ROOT, env=env)
    programs.append(program)
    return program


def waits_for_monitoring(program: Program) -> None:
    """busctl says so (on stderr) once its BecomeMonitor call, with our match, returned."""
    wait_until(
        lambda: any("Monitoring bus message stream" in line for line in program.stderr),
        f"busctl monitor to start; it said: {program.stderr}",
    )


@pytest.mark.parametrize("step", SERVERS, ids=[f"step-{s.n}" for s in SERVERS])
def test_monitor_source_shows_only_that_source(
    step: table.Step,
    private_bus: bus.Bus,
    runtime_dir: Path,
    programs: list[Program],
    steps_dir: Path,
) -> None:
    receiver = python(steps_dir / step.dir / "receiver.py", "load", "sine")
    programs.append(receiver)
    receiver.expect(r"on the bus as org\.example\.Incoming")
    watcher = start_monitor("load", private_bus.address, programs)
    waits_for_monitoring(watcher)
    for i in range(1, 4):
        send(runtime_dir / "sine", f"sine-{i}".encode())
        send(runtime_dir / "load", f"load-{i}".encode())
        receiver.expect(rf"^sine: sine-{i}$")  # the server got (and emitted) both
        receiver.expect(rf"^load: load-{i}$")
    watcher.expect(r'STRING "load-3";')  # the last one: everything before it is through
    shown = "\n".join(watcher.stdout)
    for i in range(1, 4):
        assert f'STRING "load-{i}";' in shown, f"load-{i} missing from the monitor:\n{shown}"
    assert "sine" not in shown, f"the arg0='load' monitor showed sine's messages:\n{shown}"
    assert "simulated" not in shown, f"the monitor showed the GPIO line's messages:\n{shown}"
    members = set(re.findall(r"Member=(\w+)", shown))
    assert members and members <= {"Message", "MessageFrom"}, members


def test_monitor_without_source_shows_both(
    private_bus: bus.Bus, runtime_dir: Path, programs: list[Program], steps_dir: Path
) -> None:
    """The same run without SOURCE: the negative check above can fail."""
    receiver = python(steps_dir / STEPS[0].dir / "receiver.py", "load", "sine")
    programs.append(receiver)
    receiver.expect(r"on the bus as org\.example\.Incoming")
    watcher = start_monitor("", private_bus.address, programs)
    waits_for_monitoring(watcher)
    send(runtime_dir / "sine", b"sine-1")
    send(runtime_dir / "load", b"load-1")
    watcher.expect(r'STRING "load-1";')
    assert 'STRING "sine-1";' in "\n".join(watcher.stdout)


def test_match_rule_quotes_the_source() -> None:
    assert monitor.match_rule("load") == (
        "type='signal',interface='org.example.Incoming',arg0='load'"
    )
    assert monitor.match_rule("it's").endswith(r"arg0='it'\''s'")


def test_no_bus_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "BUS": "session"}
    env.pop(bus.ENV_VAR, None)
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "monitor", "SOURCE=load"],
        cwd=table.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "monitor: BUS=session but $DBUS_SESSION_BUS_ADDRESS is not set" in result.stderr
    assert "Traceback" not in result.stderr
