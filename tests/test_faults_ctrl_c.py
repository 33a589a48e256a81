"""Ctrl-C at any moment: while the program starts, and twice in a row 1 ms apart.

SIGINT is sent as a terminal sends it (the child has SIGINT at its default, as
tests/helpers.py sets up). Whenever it lands, the program ends without a traceback.
"While it starts" counts from the program's first line, which holds SIGINT back until
main() runs (-X importtime says when it has run: the import after `signal`'s): before that,
the interpreter starting up reports a Ctrl-C itself, whatever the program does (sent the
instant `signal` is imported, the client's KeyboardInterrupt came from inside that line's
call in 2 of 5 tries).
One moment is too short to hit by timing: asyncio.run() building its loop (a Ctrl-C there
leaves a half-built loop, whose __del__ prints a traceback). CI hit it once; the last test
puts the Ctrl-C exactly there.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Program, wait_until
from tools import bus, table

PROGRAMS = [(6, "receiver.py"), (10, "receiver.py"), (11, "receiver.py"), (7, "client.py"),
            (11, "client.py")]  # fmt: skip
MOMENTS = [0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4]  # s after start: imports, bus, sockets...


def argv(n: int, script: str, folder: Path) -> list[str | Path]:
    extra: list[str | Path] = (
        [folder / "load", "--gpio", "none:0"] if script == "receiver.py" else []
    )
    return [sys.executable, "-X", "importtime", script, *extra]


def started(program: Program) -> bool:
    """Has the program's first line run? -X importtime reports `signal` imported just before
    it, and the next top-level import (argparse, asyncio) after it."""
    names = [line.rsplit("|", 1)[1] for line in program.stderr if line.startswith("import time:")]
    top = [name.strip() for name in names if not name.startswith("  ")]  # nested: indented
    return "signal" in top[:-1]


def no_traceback(program: Program) -> None:
    program.wait()
    said = [line for line in program.stderr if not line.startswith("import time:")]
    assert not any("Traceback" in line for line in said), "\n".join(said)


@pytest.mark.parametrize(("n", "script"), PROGRAMS)
def test_ctrl_c_while_starting(n: int, script: str, tmp_path: Path) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        for moment in MOMENTS:
            program = Program(
                argv(n, script, tmp_path), cwd=table.get(n).folder(table.ROOT / "steps"),
                env=private.env,
            )  # fmt: skip
            wait_until(lambda: started(program), "the program's first line")  # noqa: B023
            time.sleep(moment)  # the fault's moment, not a wait for anything
            program.signal(signal.SIGINT)
            no_traceback(program)


@pytest.mark.parametrize(("n", "script"), PROGRAMS)
def test_ctrl_c_twice_1_ms_apart(n: int, script: str, tmp_path: Path) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        for _ in range(5):
            program = Program(
                argv(n, script, tmp_path), cwd=table.get(n).folder(table.ROOT / "steps"),
                env=private.env,
            )  # fmt: skip
            program.expect(r"^on the bus as|^waiting for", timeout=60)
            program.signal(signal.SIGINT)
            time.sleep(0.001)
            program.signal(signal.SIGINT)
            no_traceback(program)


IN_LOOP_BUILDING = """
import runpy, signal, sys
from asyncio import selector_events

build = selector_events.BaseSelectorEventLoop._make_self_pipe


def interrupted(loop):  # Ctrl-C lands while asyncio.run() builds its event loop
    signal.raise_signal(signal.SIGINT)
    build(loop)


selector_events.BaseSelectorEventLoop._make_self_pipe = interrupted
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize(("n", "script"), PROGRAMS)
def test_ctrl_c_while_asyncio_run_builds_its_loop(n: int, script: str, tmp_path: Path) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        program = Program(
            [sys.executable, "-c", IN_LOOP_BUILDING, *argv(n, script, tmp_path)[3:]],
            cwd=table.get(n).folder(table.ROOT / "steps"), env=private.env,
        )  # fmt: skip
        assert program.wait() == 0, "\n".join(program.stderr)
    noise = ("Traceback", "Exception ignored", "was never awaited")
    said = [line for line in program.stderr if any(word in line for word in noise)]
    assert not said, "a Ctrl-C while the loop was built:\n" + "\n".join(program.stderr)
    assert not (tmp_path / "load").exists(), "the receiver's socket was left behind"
