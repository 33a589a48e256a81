"""Grader for step 03: an asyncio event loop, one task receiving from one socket.

The idea, seen from the kernel (tests/graders/kernel.py): once idle, the one thread
sleeps in epoll_wait() with no timeout, on an epoll instance that watches the socket.
"""

from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import send

STEP = 3


@pytest.mark.idea
def test_one_thread_receives_on_an_event_loop(receiver: Start, tmp_path: Path) -> None:
    """Its one thread waits in epoll_wait, no timeout, on an epoll that watches the socket."""
    path = tmp_path / "incoming"
    program = receiver(path)
    why = kernel.loop_verdict(program.pid, {path.name: kernel.socket_fds(program.pid, path)})
    assert not why, why  # judged while idle: a line that never comes would take a timeout
    for n in range(3):
        send(path, f"message {n}".encode())
        program.expect(rf"^{path}: message {n}$", what=f"'message {n}', printed")
