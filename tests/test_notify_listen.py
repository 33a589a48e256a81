"""tools/notify_listen.py (`make watchdog-demo`): systemd's side of the notify protocol.

Step 12's real server on a private bus, with the tool's socket as $NOTIFY_SOCKET: the
tool shows READY=1 and the pings, says when a stopped server misses the watchdog, and
shows the pings again once it runs.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tests.helpers import Program
from tools import bus, table


def test_it_shows_the_pings_and_a_missed_watchdog(
    private_bus: bus.Bus, tmp_path: Path, programs: list[Program]
) -> None:
    step = table.get(12).folder(table.ROOT / "steps")
    listen = Program(
        [sys.executable, "-m", "tools.notify_listen", "--watchdog", "1", "--",
         sys.executable, "receiver.py", tmp_path / "load", "--gpio", "none:0"],
        cwd=step, env={**os.environ, "PYTHONPATH": str(table.ROOT)},
    )  # fmt: skip
    programs.append(listen)
    pid = int(listen.expect(r"^NOTIFY_SOCKET=\S+ WATCHDOG_USEC=1000000  pid (\d+)$").group(1))
    listen.expect(r"^notify: READY=1 \| STATUS=serving ")
    listen.expect(r"^notify: WATCHDOG=1 \| STATUS=1 sources, [\d.]+ messages/s  \(\+[\d.]+ s\)$")
    os.kill(pid, signal.SIGSTOP)
    try:
        listen.expect(r"^no WATCHDOG=1 for 1 s: systemd would kill it now$")
    finally:
        os.kill(pid, signal.SIGCONT)
    listen.expect(r"^notify: WATCHDOG=1 ")
