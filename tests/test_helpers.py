"""tests/helpers.py's Program: after wait(), its output is all there to count."""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers import TIMEOUT, Program


def test_wait_returns_with_every_line_read() -> None:
    """A grader counts stderr lines right after wait(): none may still be in the pipe.

    Before wait() joined its readers, 124 in 300 of these came back incomplete on a loaded
    machine: missing one in 20 runs by chance is a 1-in-30 000 event.
    """
    incomplete = []
    for n in range(20):
        program = Program(["sh", "-c", f"echo 'line {n}' >&2; exit 1"])
        assert program.wait() == 1
        if program.stderr != [f"line {n}"]:
            incomplete.append((n, program.stderr))
    assert not incomplete, incomplete


def test_wait_says_so_when_a_child_keeps_the_output_open() -> None:
    """The program ended, but a process it left behind still holds its stdout."""
    program = Program(["sh", "-c", "sleep 60 & echo $!"])
    left_behind = int(program.expect(r"^\d+$").group(0))
    program.process.wait(timeout=TIMEOUT)  # the shell itself has ended
    try:
        with pytest.raises(AssertionError, match="its output still open after 2s"):
            program.wait(timeout=2)
    finally:
        os.kill(left_behind, signal.SIGTERM)
