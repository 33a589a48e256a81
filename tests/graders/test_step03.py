"""Grader for step 03: an asyncio event loop, one task receiving from one socket."""

from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import send, thread_count

STEP = 3


@pytest.mark.idea
def test_one_thread_receives_on_an_event_loop(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    for n in range(3):
        send(path, f"message {n}".encode())
        program.expect(rf"^{path}: message {n}$")
    assert thread_count(program.pid) == 1, "an event loop needs no second thread"
    assert epoll_in_use(program.pid), "no epoll fd open: is an event loop waiting?"


def epoll_in_use(pid: int) -> bool:
    """asyncio's selector on Linux is an epoll instance: an anon_inode:[eventpoll] fd."""
    fds = Path(f"/proc/{pid}/fd")
    return any("eventpoll" in str(fd.readlink()) for fd in fds.iterdir() if fd.is_symlink())
