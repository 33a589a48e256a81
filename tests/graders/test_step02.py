"""Grader for step 02: several sockets, one thread each."""

import signal
from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, send, thread_count

STEP = 2


def receive_on_three_sockets(receiver: Start, tmp_path: Path) -> Program:
    """A receiver on three sockets that has printed one message from each."""
    paths = [tmp_path / "load", tmp_path / "sine", tmp_path / "third"]
    program = receiver(*paths)
    for path in reversed(paths):
        send(path, f"to {path.name}".encode())
        program.expect(rf"^{path}: to {path.name}$")
    return program


@pytest.mark.idea
def test_every_socket_has_its_own_thread(receiver: Start, tmp_path: Path) -> None:
    program = receive_on_three_sockets(receiver, tmp_path)
    assert thread_count(program.pid) == 1 + 3, "want one thread per socket, plus main"


@pytest.mark.idea
def test_all_socket_files_removed_on_exit(receiver: Start, tmp_path: Path) -> None:
    paths = [tmp_path / "load", tmp_path / "sine"]
    program = receiver(*paths)
    program.signal(signal.SIGINT)
    assert program.wait() == 0
    assert not [path for path in paths if path.exists()]
