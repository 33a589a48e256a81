"""The supervisor in each program pane of `make live-N` (`tools.live pane`).

It runs one program of the active step folder, restarts it when the runner says so
(SIGUSR1), and copies its stderr with each traceback cut down to one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from tools import stage

RED, DIM, OFF = (f"\x1b[{code}m" for code in ("31", "2", "0"))


class Condenser:
    """Copies a program's stderr to ours, each traceback cut down to one line:

    receiver.py:12: NameError: name 'x' is not defined
    """

    CONTINUES = ("During handling of the above exception", "The above exception was the direct")

    def __init__(self, stream: IO[bytes], folder: Path, out: IO[str]) -> None:
        self.stream = stream
        self.folder = folder
        self.out = out
        self.frames: list[tuple[str, str]] = []
        self.inside = False  # in a traceback
        self.pending = ""  # an exception line a chained one may still follow
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        fd = self.stream.fileno()
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if not selector.select(timeout=0.2 if self.pending or buffer else None):
                    self.flush()
                    if buffer and not self.inside:  # a prompt: no newline is coming
                        self.write(buffer.decode(errors="replace"), end="")
                        buffer = b""
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self.line(line.decode(errors="replace"))
        if buffer:
            self.line(buffer.decode(errors="replace"))
        self.flush()

    def line(self, text: str) -> None:
        frame = re.match(r'\s*File "(.*)", line (\d+)', text)
        if text.startswith("Traceback (most recent call last)") or (frame and not self.inside):
            self.pending = ""
            self.inside, self.frames = True, []
        if not self.inside:
            if self.pending and text.startswith(self.CONTINUES):
                self.pending, self.inside, self.frames = "", True, []
            elif self.pending and not text.strip():
                pass  # the blank line before "During handling ..."
            else:
                self.flush()
                self.write(text)
            return
        if frame:
            self.frames.append((frame.group(1), frame.group(2)))
        elif text[:1] not in (" ", "\t", "") and not text.startswith("Traceback"):
            self.inside = False
            self.pending = f"{self.where()}{text.strip()}"

    def where(self) -> str:
        ours = [(name, line) for name, line in self.frames if self.mine(name)]
        name, line = (ours or self.frames or [("", "")])[-1]
        if not name:
            return ""
        shown = Path(name).name if self.mine(name) else name
        return f"{shown}:{line}: "

    def mine(self, name: str) -> bool:
        path = Path(name) if Path(name).is_absolute() else self.folder / name
        return path.parent.resolve() == self.folder.resolve()

    def flush(self) -> None:
        if self.pending:
            self.write(f"{RED}✗ {self.pending}{OFF}")
            self.pending = ""

    def write(self, text: str, end: str = "\n") -> None:
        with contextlib.suppress(OSError):
            print(text, file=self.out, end=end, flush=True)


def supervise(
    name: str, active: Path, argv: list[str], interactive: bool, env: dict[str, str] | None = None
) -> int:
    """Run argv[0] (a file of the active step folder) until told to stop; restart on SIGUSR1.

    The folder to run in is read from the file `active` at each start. A program that ends
    leaves one line and waits: for the next save, or (interactive) for Enter. env: added to
    the program's environment (the live plot window's backend, for a plotting client).
    """
    requests: list[int] = []
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: requests.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: None)  # Ctrl-C: the program ends, not us
    child: subprocess.Popen[bytes] | None = None
    condenser: Condenser | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(wakeup_read, selectors.EVENT_READ, "signal")
        while True:
            folder = Path(active.read_text().strip())
            script = folder / argv[0]
            if child is None and script.exists():
                child = subprocess.Popen(
                    [sys.executable, str(script), *argv[1:]],
                    cwd=stage.outside(),  # what it writes (a plot.png) never lands in steps/
                    stdin=None if interactive else subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env={
                        **os.environ,
                        **(env or {}),
                        "PYTHONUNBUFFERED": "1",
                        "PYTHONDONTWRITEBYTECODE": "1",
                    },
                )
                assert child.stderr is not None
                condenser = Condenser(child.stderr, folder, sys.stdout)
                pidfd = os.pidfd_open(child.pid)
                selector.register(pidfd, selectors.EVENT_READ, "child")
            elif child is None:
                print(f"{DIM}{argv[0]} is not there yet: it starts once you save it{OFF}")
            waiting_for_enter = False
            while True:
                events = [key.data for key, _ in selector.select()]
                if "signal" in events:
                    os.read(wakeup_read, 512)
                if "child" in events and child is not None:
                    selector.unregister(pidfd)
                    os.close(pidfd)
                    status = child.wait()
                    if condenser is not None:
                        condenser.thread.join(timeout=2)
                    child = None
                    again = (
                        "Enter starts it again" if interactive else "it restarts on the next save"
                    )
                    print(f"{DIM}{name} ended (exit status {status}); {again}{OFF}", flush=True)
                    if interactive:
                        selector.register(sys.stdin, selectors.EVENT_READ, "enter")
                        waiting_for_enter = True
                if "enter" in events:
                    sys.stdin.readline()
                    selector.unregister(sys.stdin)
                    break
                if requests:
                    request = requests.pop(0)
                    if child is not None:
                        selector.unregister(pidfd)
                        os.close(pidfd)
                        stage.stop([child])
                        if condenser is not None:
                            condenser.thread.join(timeout=2)
                        child = None
                    if waiting_for_enter:
                        selector.unregister(sys.stdin)
                    if request != signal.SIGUSR1:
                        return 0
                    fresh = "\n" if interactive else ""  # after a prompt with no newline
                    print(f"{fresh}{DIM}--- {name}: restarted ---{OFF}", flush=True)
                    break
