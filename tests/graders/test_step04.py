"""Grader for step 04: a second socket is a second task on the same loop, not a thread."""

from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.graders.test_step03 import epoll_in_use
from tests.helpers import send, thread_count

STEP = 4


@pytest.mark.idea
def test_many_sockets_one_thread(receiver: Start, tmp_path: Path) -> None:
    paths = [tmp_path / "load", tmp_path / "sine", tmp_path / "third"]
    program = receiver(*paths)
    for path in reversed(paths):
        send(path, f"to {path.name}".encode())
        program.expect(rf"^{path}: to {path.name}$")
    assert thread_count(program.pid) == 1, "want one thread for all sockets"
    assert epoll_in_use(program.pid)


@pytest.mark.idea
def test_all_socket_files_removed_on_exit(receiver: Start, tmp_path: Path) -> None:
    paths = [tmp_path / "load", tmp_path / "sine"]
    program = receiver(*paths)
    program.signal(2)
    assert program.wait() == 0
    assert not [path for path in paths if path.exists()]
