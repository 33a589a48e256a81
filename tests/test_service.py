"""make install-service / uninstall-service, into a DESTDIR: every file printed, and it runs.

The installed server is started from DESTDIR with the system's python3 and only the
packages install-service put beside it, on a private bus: proof that the unit's
ExecStart= would find everything it needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Program, send
from tools import bus, table

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="make install-service needs root"),
]


def make(target: str, destdir: Path) -> list[str]:
    result = subprocess.run(
        ["make", "-s", target, f"DESTDIR={destdir}"],
        cwd=table.ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_install_service_into_destdir_runs_and_uninstalls(
    tmp_path: Path, programs: list[Program]
) -> None:
    destdir = tmp_path / "dest"
    said = make("install-service", destdir)
    installed = [line.split()[1] for line in said if line.startswith("  installed ")]
    assert installed and all(path.startswith(str(destdir)) for path in installed), said
    on_disk = {
        str(path) for path in destdir.rglob("*") if path.is_file() and "/site/" not in str(path)
    }
    assert on_disk == {path for path in installed if not path.endswith("/")}, (
        "installed files and printed lines differ"
    )
    assert "users, systemd and the bus left alone" in said[-1], said
    unit = (destdir / "etc/systemd/system/incoming.service").read_text()
    python, receiver = re.search(r"^ExecStart=(\S+) (\S+)", unit, re.M).groups()  # type: ignore[union-attr]
    lib = destdir / Path(receiver).parent.relative_to("/")
    assert (lib / "receiver.py").exists() and (lib / "site" / "sdbus").is_dir()
    if shutil.which("systemd-analyze"):
        installed_unit = destdir / "etc/systemd/system/incoming.service"
        verify = subprocess.run(
            ["systemd-analyze", "verify", installed_unit], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr
    with bus.private_bus(tmp_path / "bus") as private:
        env = {
            **private.env,
            "PYTHONPATH": str(lib / "site"),
            "PYTHONNOUSERSITE": "1",
        }  # only what install-service put there
        server = Program(
            [python, "-s", "receiver.py", tmp_path / "load", "--gpio", "none:0"], cwd=lib, env=env
        )
        programs.append(server)
        server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
        send(tmp_path / "load", b"installed")
        server.expect(r": installed$")
    said = make("uninstall-service", destdir)
    assert [line for line in said if line.startswith("  removed ")], said
    assert not [path for path in destdir.rglob("*") if path.is_file()], "left behind"


def syscall_set(*groups: str) -> set[str]:
    """The system calls of systemd's groups (@system-service, ...), nested groups expanded."""
    names: set[str] = set()
    for group in groups:
        listing = subprocess.run(
            ["systemd-analyze", "syscall-filter", group], capture_output=True, text=True
        ).stdout
        for line in listing.splitlines()[1:]:
            item = line.strip()
            if item.startswith("@"):
                names |= syscall_set(item)
            elif item and not item.startswith("#"):
                names.add(item)
    return names


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_the_unit_syscall_filter_allows_what_the_server_does(
    tmp_path: Path, programs: list[Program]
) -> None:
    """The unit's SystemCallFilter=, checked against the server's real system calls.

    No systemd runs the unit here, so strace records what the server calls while it
    starts, receives, answers the three methods and stops; each call must be one the
    unit's filter lets through (an EPERM there would break the service on the board).
    """
    if not shutil.which("systemd-analyze"):
        pytest.skip("needs systemd-analyze")
    step = table.get(11).folder(table.ROOT / "steps")
    unit = (step / "incoming.service").read_text()
    filters = re.findall(r"^SystemCallFilter=(.*)$", unit, re.M)
    allowed: set[str] = set()
    for line in filters:
        groups = line.lstrip("~").split()
        allowed = allowed - syscall_set(*groups) if line.startswith("~") else syscall_set(*groups)
    assert filters and allowed, "the unit has no SystemCallFilter="
    trace = tmp_path / "trace"
    with bus.private_bus(tmp_path / "bus") as private:
        server = Program(
            ["strace", "-f", "-qq", "-o", trace, sys.executable, "receiver.py", tmp_path / "load",
             "--gpio", "sim"],
            cwd=step, env=private.env,
        )  # fmt: skip
        programs.append(server)
        server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
        send(tmp_path / "load", b"0.5")
        server.expect(r": 0\.5$")
        for method in ("GetIncoming", "Recent", "RecentFd"):
            subprocess.run(
                ["busctl", "--user", "call", "org.example.Incoming", "/org/example/Incoming",
                 "org.example.Incoming", method],
                env=private.env, capture_output=True, check=True, timeout=30,
            )  # fmt: skip
        server.stop()
    called = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", trace.read_text(), re.M))
    assert {"recvmsg", "epoll_wait", "memfd_create"} <= called, sorted(called)
    assert called - allowed == set(), f"the unit's filter would refuse: {sorted(called - allowed)}"
