#!/usr/bin/env python3
"""A private dbus-daemon for the talk, so nothing touches the user's real session bus.

Used by `make bus` / `make bus-stop`, by `make step-N` for the D-Bus steps, by the
tests, the notebooks and the benchmark.

    python3 -m tools.bus start      # starts one in RUN_DIR, prints the export line
    python3 -m tools.bus stop
    python3 -m tools.bus address    # the running one's address, or exit 1
    python3 -m tools.bus run -- CMD ARGS...   # CMD on a bus of its own, stopped afterwards

`make bus`'s daemon lives where the steps put their sockets ($XDG_RUNTIME_DIR, else
/tmp/incoming-UID): a folder of the user's own, never the checkout, which may be read-only
or shared from a Windows or macOS host (where binding an AF_UNIX socket fails).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools import table

RUN_DIR = Path(table.socket_path("incoming-bus"))  # not "bus": that is the real user bus
ENV_VAR = "DBUS_SESSION_BUS_ADDRESS"
NO_DAEMON = (
    "dbus-daemon not found: install it"
    " (Debian/Ubuntu: apt install dbus-daemon; Fedora: dnf install dbus-daemon)"
)


class BusError(RuntimeError):
    """The bus could not be started or found; the message is one line for the user."""


@dataclass
class Bus:
    address: str
    process: subprocess.Popen[bytes] | None  # None: a bus started by someone else
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        """os.environ with this bus as the session bus."""
        return {**os.environ, ENV_VAR: self.address}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def end_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, however it dies (Linux prctl)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(folder: Path, detach: bool = False) -> Bus:
    """Start dbus-daemon listening on a socket in folder; return once it accepts clients."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise BusError(NO_DAEMON)
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "socket"
    if len(str(socket_path)) > 100:  # sun_path holds 108 bytes
        folder = Path(tempfile.mkdtemp(prefix="incoming-bus-"))
        socket_path = folder / "socket"
    socket_path.unlink(missing_ok=True)
    with open(folder / "daemon.log", "ab") as log:  # its warnings are not the talk's business
        process = subprocess.Popen(
            [
                daemon,
                "--session",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                f"--address=unix:path={socket_path}",
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            stderr=log,
            start_new_session=detach,  # `make bus`: outlive the command that started it
            preexec_fn=None if detach else end_with_parent,
        )
    assert process.stdout is not None
    address = process.stdout.readline().decode().strip()  # printed once it listens
    process.stdout.close()
    if not address:
        process.wait(timeout=10)
        raise BusError(f"dbus-daemon exited with status {process.returncode} before listening")
    return Bus(address, process, folder)


@contextlib.contextmanager
def private_bus(folder: Path | None = None) -> Iterator[Bus]:
    """A bus of our own for the duration of a with-block."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="incoming-")))
        bus = start(folder)
        stack.callback(bus.stop)
        yield bus


def running() -> Bus | None:
    """The bus `make bus` started, if it is still alive."""
    try:
        pid = int((RUN_DIR / "pid").read_text())
        address = (RUN_DIR / "address").read_text().strip()
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return Bus(address, None, RUN_DIR)


def cmd_start() -> int:
    bus = running()
    if bus is None:
        RUN_DIR.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as the steps' dgram.py
        if RUN_DIR.parent.stat().st_uid != os.getuid():
            raise BusError(f"{RUN_DIR.parent}: not ours, refusing to use it")
        bus = start(RUN_DIR, detach=True)
        assert bus.process is not None
        (RUN_DIR / "pid").write_text(f"{bus.process.pid}\n")
        (RUN_DIR / "address").write_text(bus.address + "\n")
    print(f"export {ENV_VAR}='{bus.address}'")
    return 0


def cmd_stop() -> int:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((RUN_DIR / "pid").read_text()), signal.SIGTERM)
        print("private bus stopped", file=sys.stderr)
    for name in ("pid", "address", "socket", "daemon.log"):
        (RUN_DIR / name).unlink(missing_ok=True)
    return 0


def cmd_run(argv: list[str]) -> int:
    if not argv:
        raise BusError("usage: bus.py run -- COMMAND [ARGS...]")
    with private_bus() as bus, contextlib.suppress(KeyboardInterrupt):
        return subprocess.run(argv, env=bus.env).returncode
    return 130


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on SIGTERM too
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "start":
            return cmd_start()
        if command == "stop":
            return cmd_stop()
        if command == "address":
            bus = running()
            print(bus.address if bus else "no private bus running (make bus)")
            return 0 if bus else 1
        if command == "run":
            return cmd_run(rest[1:] if rest[:1] == ["--"] else rest)
    except BusError as error:
        print(f"bus.py: {error}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
