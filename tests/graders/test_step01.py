"""Grader for step 01: one AF_UNIX datagram socket, a receiver and a sender.

The idea: bind a socket to a path, receive datagrams, print each one.
Everything else here (bad input, signals) is in common.py, for every step.
"""

from tests.graders.common import *  # noqa: F403

STEP = 1
