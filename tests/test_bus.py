"""tools/bus.py: the private dbus-daemon every D-Bus target, test and notebook uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import Program, wait_until
from tools import bus


def daemons_on(folder: Path) -> list[int]:
    """The pids of dbus-daemons whose address lies in folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[0].endswith(b"dbus-daemon") and any(str(folder).encode() in a for a in cmdline):
            pids.append(int(entry.name))
    return pids


def test_private_bus_is_a_real_daemon_and_goes_away(tmp_path: Path) -> None:
    with bus.private_bus(tmp_path) as private:
        assert private.address.startswith(f"unix:path={tmp_path}/socket")
        listed = subprocess.run(["busctl", "--user", "list"], env=private.env, capture_output=True)
        assert listed.returncode == 0, listed.stderr
        assert daemons_on(tmp_path)
    assert not daemons_on(tmp_path)


def test_bus_run_gives_the_command_a_bus_and_its_exit_status() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.bus", "run", "--", "sh", "-c",
         'busctl --user status >/dev/null && echo "$DBUS_SESSION_BUS_ADDRESS"; exit 3'],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stdout.startswith("unix:path=")


def test_bus_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from tools import bus\n"
        "b = bus.start(Path(sys.argv[1])); print('up', flush=True); sys.stdin.read()"
    )
    parent = Program([sys.executable, "-c", script, str(tmp_path)], stdin=subprocess.PIPE)
    parent.expect("^up$")
    assert daemons_on(tmp_path)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    wait_until(lambda: not daemons_on(tmp_path), "the orphaned dbus-daemon to end")


def test_no_dbus_daemon_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing to run there
    result = subprocess.run(
        [sys.executable, "-m", "tools.bus", "run", "--", "true"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"bus.py: {bus.NO_DAEMON}"]
