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
STOP_SECONDS = 2.0  # a program asleep this long after Ctrl-C/SIGTERM is not going to stop


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

    def expect(
        self, pattern: str, timeout: float = TIMEOUT, what: str | None = None
    ) -> re.Match[str]:
        """Wait for a stdout line matching the regex; fail with what we saw instead.

        what says in words which line that is, for the failure's first line (its why line);
        it fails as soon as the program ends without printing it.
        """
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        wanted = what or f"a line like {readable(pattern)!r}"
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.0, remaining))
            except queue.Empty:
                why = f"why: {wanted} never came (nothing within {timeout:g} s)"
                raise AssertionError(self._report(why, f"no line matching {pattern!r}")) from None
            if line is None:
                self.lines.put(None)
                code = self.process.wait()
                why = f"why: the program ended (exit status {code}) before printing {wanted}"
                raise AssertionError(self._report(why, f"wanted {pattern!r}")) from None
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
            why = f"why: still running after {timeout:g} s"
            raise AssertionError(self._report(why)) from None

    def exited_within(self, seconds: float = STOP_SECONDS) -> bool:
        """Whether it ends within seconds of being asleep: time it spends runnable (waiting
        for a CPU on a loaded machine, or busy) does not count, up to TIMEOUT in all."""
        asleep = 0.0
        give_up = time.monotonic() + TIMEOUT
        while asleep < seconds and time.monotonic() < give_up:
            try:
                self.process.wait(timeout=0.1)
                return True
            except subprocess.TimeoutExpired:
                if not runnable(self.pid):
                    asleep += 0.1
        return self.process.poll() is not None

    def stopped(self, how: str = "Ctrl-C") -> int:
        """The exit status of a program just sent a signal (how: its name, for the why line);
        a failure if it is still there STOP_SECONDS later."""
        if not self.exited_within():
            why = (
                f"why: did not stop on {how} within {STOP_SECONDS:g} s: "
                "is something blocking the event loop?"
            )
            raise AssertionError(self._report(why))
        return self.process.wait()

    def stop(self) -> bool:
        """End it whatever state it is in (for fixture teardown): SIGTERM, then SIGKILL if it
        is still there STOP_SECONDS later. Whether SIGTERM was enough."""
        if self.process.poll() is not None:
            return True
        self.process.send_signal(signal.SIGTERM)
        if self.exited_within():
            return True
        self.process.kill()
        self.process.wait()
        return False

    def _report(self, why: str, detail: str = "") -> str:
        """why first (one line, in words), then what a reader debugging it needs."""
        stdout = "\n".join(self.stdout[-20:])
        stderr = "\n".join(self.stderr[-20:])
        return (
            f"{why}\n{' '.join(self.argv)}{': ' + detail if detail else ''}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )


def readable(pattern: str) -> str:
    """A line's regex as a reader sees it: no anchors, no escapes, a path as its last name."""
    text = pattern.removeprefix("^").removesuffix("$")
    text = re.sub(r"\\([^\w\s])", r"\1", text)  # \. -> .
    return re.sub(r"(?<![\w.])/(?:[^\s/:]+/)+([^\s/:]+)", r"\1", text)  # /tmp/x/load -> load


def runnable(pid: int) -> bool:
    """Whether a process is running or waiting for a CPU (state R), not asleep."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "R"


def python(script: Path, *args: str | os.PathLike[str], **kwargs) -> Program:
    """Run a step's script with this interpreter, from the script's own folder."""
    return Program([sys.executable, script.name, *args], cwd=script.parent, **kwargs)


def send(path: str | os.PathLike[str], *payloads: bytes) -> None:
    """Send datagrams straight to a receiver's socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, os.fspath(path))


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = TIMEOUT,
    program: Program | None = None,
) -> None:
    """Poll a condition that has no event to wait on (a file disappearing, a thread count);
    with program, give up as soon as that program has ended (then it can no longer come)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if program is not None and program.process.poll() is not None and not condition():
            code = program.process.returncode
            raise AssertionError(f"why: the program ended (exit status {code}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"why: timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def red_columns(picture: Path) -> int:
    """How many columns of the picture hold a run of pure red: the restart markers."""
    from PIL import Image  # only the tests that read pictures need it

    image = Image.open(picture).convert("RGB")
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    return sum(
        1
        for x in range(width)
        if sum(1 for y in range(height) if pixels[x, y] == (255, 0, 0)) > height // 10
    )
