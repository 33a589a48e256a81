"""Run a step's receiver.py with a way to block its event loop from outside, as a bug would.

    python3 loop_blocker.py receiver.py ARGS...   (from the step's folder)

On SIGUSR1, the main thread (the event loop's) runs a handler that blocks in a
read() of the FIFO $INCOMING_UNBLOCK until someone writes to it: the loop is
stuck, as behind a time.sleep() in a coroutine, while any other thread runs on.
It says "the loop is blocked" first and "the loop runs again" after.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from types import FrameType


def block(signum: int, frame: FrameType | None) -> None:
    print("the loop is blocked", flush=True)
    with open(os.environ["INCOMING_UNBLOCK"], "rb") as fifo:  # waits for a writer, then a byte
        fifo.read(1)
    print("the loop runs again", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, block)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
