"""Shared test helpers: run a step's programs as a user would, and read what they print.

Synchronisation is always on a real event (a line printed, a process ending, a
file appearing) with a timeout, never a bare sleep.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = float(
    os.environ.get("INCOMING_TEST_TIMEOUT", "20")
)  # seconds: never hit when things work


def default_sigint() -> None:
    """In the child: SIGINT as a terminal delivers it, even if our shell ignored it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def in_child(preexec: Callable[[], None] | None) -> None:
    """What every Program's child does before it runs: default SIGINT, then preexec."""
    default_sigint()
    if preexec is not None:
        preexec()


class Program:
    """A running program whose stdout (and stderr) lines we can wait for."""

    def __init__(
        self,
        argv: Sequence[str | os.PathLike[str]],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=lambda: in_child(preexec),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(stream, sink, forward), daemon=True)
            for stream, sink, forward in (
                (self.process.stdout, self.stdout, True),
                (self.process.stderr, self.stderr, False),
            )
        ]
        for pump in self.pumps:
            pump.start()

    def _pump(self, stream, sink: list[str], forward: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if forward:
                self.lines.put(line.rstrip("\n"))
        if forward:
            self.lines.put(None)  # end of output

    def _ended(self, timeout: float) -> int:
        """Its exit status, once stdout and stderr are read to the end (counting lines is safe)."""
        deadline = time.monotonic() + timeout
        status = self.process.wait(timeout=timeout)
        for pump in self.pumps:
            pump.join(timeout=max(0.0, deadline - time.monotonic()))
            if pump.is_alive():  # a child of its own still holds the pipe
                raise AssertionError(self._report(f"its output still open after {timeout}s"))
        return status

    @property
    def pid(self) -> int:
        return self.process.pid

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait for a stdout line matching the regex; fail with what we saw instead."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.0, remaining))
            except queue.Empty:
                what = f"no line matching {pattern!r} within {timeout}s"
                raise AssertionError(self._report(what)) from None
            if line is None:
                self.lines.put(None)
                raise AssertionError(self._report(f"ended before printing {pattern!r}"))
            if match := regex.search(line):
                return match

    def expect_lines(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        """The next count stdout lines."""
        return [self.expect(".*", timeout).group(0) for _ in range(count)]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self._ended(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self._report(f"still running after {timeout}s")) from None

    def stop(self) -> None:
        """End it whatever state it is in (for fixture teardown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _report(self, what: str) -> str:
        stdout = "\n".join(self.stdout[-20:])
        stderr = "\n".join(self.stderr[-20:])
        return f"{' '.join(self.argv)}: {what}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"


def python(script: Path, *args: str | os.PathLike[str], **kwargs) -> Program:
    """Run a step's script with this interpreter, from the script's own folder."""
    return Program([sys.executable, script.name, *args], cwd=script.parent, **kwargs)


def send(path: str | os.PathLike[str], *payloads: bytes) -> None:
    """Send datagrams straight to a receiver's socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, os.fspath(path))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll a condition that has no event to wait on (a file disappearing, a thread count)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
