"""Grader for step 04: a second socket is a second task on the same loop, not a thread."""

from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.graders.test_step02 import (
    receive_on_three_sockets,
    test_all_socket_files_removed_on_exit,
)
from tests.graders.test_step03 import epoll_in_use
from tests.helpers import thread_count

STEP = 4

__all__ = ["test_all_socket_files_removed_on_exit"]  # step 02's test, here against step 04


@pytest.mark.idea
def test_many_sockets_one_thread(receiver: Start, tmp_path: Path) -> None:
    program = receive_on_three_sockets(receiver, tmp_path)
    assert thread_count(program.pid) == 1, "want one thread for all sockets"
    assert epoll_in_use(program.pid)
