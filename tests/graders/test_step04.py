"""Grader for step 04: a second socket is a second task on the same loop, not a thread."""

from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.graders.test_step02 import (
    receive_on_three_sockets,
    test_all_socket_files_removed_on_exit,
)

STEP = 4

__all__ = ["test_all_socket_files_removed_on_exit"]  # step 02's test, here against step 04


@pytest.mark.idea
def test_one_thread_waits_in_one_epoll_for_every_socket(receiver: Start, tmp_path: Path) -> None:
    program, paths = receive_on_three_sockets(receiver, tmp_path, kernel.loop_verdict)
