"""systemd's side of the notify protocol (sd_notify(3)), played by a socket of ours.

    python3 -m tools.notify_listen [--watchdog SECONDS] -- COMMAND [ARG...]

binds an AF_UNIX datagram socket, starts COMMAND with $NOTIFY_SOCKET pointing at
it (and $WATCHDOG_USEC, $WATCHDOG_PID for --watchdog), and prints each datagram
it receives as it comes, with the seconds since the last WATCHDOG=1; like
systemd, it says when a watchdog ping is late. No systemd needed: step 12's
server, run this way, shows what it tells systemd (kill -STOP it, or block its
loop, and watch the pings stop). The graders use Listener the same way.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Listener:
    """An AF_UNIX datagram socket at folder/notify (or "@name", abstract), and what arrives."""

    def __init__(self, folder: Path, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:  # no file: a name starting with a NUL byte, written "@" in NOTIFY_SOCKET
            self.path = f"@{folder.name}-notify-{os.getpid()}"
            self.sock.bind("\0" + self.path[1:])
        else:
            self.path = str(folder / "notify")
            self.sock.bind(self.path)

    def env(self, watchdog_usec: int | None = None, pid: int | None = None) -> dict[str, str]:
        """What systemd puts in a Type=notify service's environment."""
        env = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        if pid is not None:
            env["WATCHDOG_PID"] = str(pid)
        return env

    def receive(self, timeout: float) -> tuple[float, list[str]] | None:
        """(monotonic time, its lines) of the next datagram; None if none came in time."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return None
        data = self.sock.recv(4096)
        return time.monotonic(), data.decode(errors="replace").split("\n")

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchdog", type=float, default=4.0, help="WatchdogSec=, in seconds")
    parser.add_argument("command", nargs="+", help="what systemd would start")
    args = parser.parse_args()
    usec = int(args.watchdog * 1e6)
    with tempfile.TemporaryDirectory() as folder:
        listener = Listener(Path(folder))
        env = {**os.environ, **listener.env(usec)}
        try:
            child = subprocess.Popen(args.command, env=env)
        except OSError as error:
            raise SystemExit(
                f"notify_listen: cannot start {args.command[0]}: {error.strerror}"
            ) from None
        print(f"NOTIFY_SOCKET={listener.path} WATCHDOG_USEC={usec}  pid {child.pid}", flush=True)
        last_ping = time.monotonic()
        late = False
        try:
            while child.poll() is None:
                got = listener.receive(timeout=0.5)
                now = time.monotonic()
                if got is None:
                    if now - last_ping > args.watchdog and not late:
                        print(f"no WATCHDOG=1 for {args.watchdog:g} s: systemd would kill it now",
                              flush=True)  # fmt: skip
                        late = True
                    continue
                lines = got[1]
                since = f"  (+{now - last_ping:.2f} s)" if "WATCHDOG=1" in lines else ""
                if "WATCHDOG=1" in lines:
                    last_ping, late = now, False
                print(f"notify: {' | '.join(lines)}{since}", flush=True)
        except KeyboardInterrupt:
            child.terminate()
        finally:
            listener.close()
            sys.exit(child.wait())


if __name__ == "__main__":
    main()
