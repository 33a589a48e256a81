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
