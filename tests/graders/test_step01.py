"""Grader for step 01: one AF_UNIX datagram socket, a receiver and a sender.

The idea: bind a socket to a path, receive datagrams, print each one; in between the
receiver sleeps in recvmsg() (seen from /proc: tests/graders/kernel.py).
Everything else here (bad input, signals) is in common.py, for every step.
"""

from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import send

STEP = 1


@pytest.mark.idea
def test_receiver_sleeps_in_recvmsg_until_a_datagram_comes(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    why = kernel.blocking_verdict(program.pid, {path.name: kernel.socket_fds(program.pid, path)})
    assert not why, why  # judged while idle: a line that never comes would take a timeout
    send(path, b"hello")
    program.expect(rf"^{path}: hello$", what="the datagram 'hello' printed as 'NAME: hello'")
