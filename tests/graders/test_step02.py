"""Grader for step 02: several sockets, one thread each, each blocked in its own recvmsg()."""

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, send

STEP = 2


def receive_on_three_sockets(
    receiver: Start, tmp_path: Path, verdict: Callable[[int, dict[str, list[int]]], str]
) -> tuple[Program, list[Path]]:
    """A receiver on three sockets, judged by verdict(pid, sockets) once idle (first: a line
    that never comes would take a timeout), that has then printed one message from each."""
    paths = [tmp_path / "load", tmp_path / "sine", tmp_path / "third"]
    program = receiver(*paths)
    why = verdict(program.pid, {path.name: kernel.socket_fds(program.pid, path) for path in paths})
    assert not why, why
    for path in reversed(paths):
        send(path, f"to {path.name}".encode())
        program.expect(rf"^{path}: to {path.name}$", what=f"a message to {path.name}, printed")
    return program, paths


@pytest.mark.idea
def test_every_socket_has_its_own_thread_blocked_in_recvmsg(
    receiver: Start, tmp_path: Path
) -> None:
    receive_on_three_sockets(receiver, tmp_path, kernel.threads_verdict)


@pytest.mark.idea
def test_all_socket_files_removed_on_exit(receiver: Start, tmp_path: Path) -> None:
    paths = [tmp_path / "load", tmp_path / "sine"]
    program = receiver(*paths)
    program.signal(signal.SIGINT)
    program.stopped("Ctrl-C")
    left = [path.name for path in paths if path.exists()]
    assert not left, f"why: socket files left behind after Ctrl-C: {', '.join(left)}"
