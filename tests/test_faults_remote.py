"""The remote link (step 11's --host): a real sshd stalled with SIGSTOP, or killed.

A stalled link never says it ended: the client asks the remote bus something every
second, and an answer missing for 3 s is reported as a stall, naming the host. Either
way, --save still writes the picture it has.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Program, send
from tools import other_users, system_bus, table

STEP = table.get(11).folder(table.ROOT / "steps")
STARTUP = 60  # s: a client importing matplotlib, ssh logging in, on a loaded machine

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the private system bus needs root")


@pytest.fixture
def system() -> Iterator[system_bus.SystemBus]:
    try:
        system_bus.check()
    except system_bus.Unavailable as why:
        pytest.skip(str(why))
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("no sshd here (openssh-server)")
    with system_bus.start(other_users.stage(STEP)) as running:
        yield running


def descendants(pid: int) -> list[int]:
    """pid and every process below it."""
    found = [pid]
    for each in found:
        for task in Path(f"/proc/{each}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def sshd_pids(folder: Path) -> list[int]:
    """The sshd started with our config, and its sessions (and their bridges)."""
    config = str(folder / "sshd_config").encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if config in (proc / "cmdline").read_bytes():
                    return descendants(int(proc.name))
            except OSError:
                continue
    raise AssertionError("our sshd is not running")


def plot_over_ssh(
    system: system_bus.SystemBus, ssh: system_bus.Sshd, picture: Path, programs: list[Program]
) -> Program:
    run = system.folder_for(system_bus.SERVICE_USER)
    prefix, env = system.python_as(system_bus.SERVICE_USER)
    server = Program(
        [*prefix, "receiver.py", "--bus", "system", run / "load", "--gpio", "none:0"],
        cwd=other_users.stage(STEP), env=env,
    )  # fmt: skip
    programs.append(server)
    server.expect(r"^on the bus as org\.example\.Incoming$", timeout=STARTUP)
    plot = Program(
        [sys.executable, "client.py", "--host", ssh.host(), "--save", picture, "--seconds", "300"],
        cwd=other_users.stage(STEP), env=ssh.client_env("bridge", system.env),
    )  # fmt: skip
    programs.append(plot)
    plot.expect(r"^one chart each for: ", timeout=STARTUP)
    send(run / "load", b"0.5")
    plot.expect(r": 0\.5  ")
    return plot


def test_a_stalled_link_is_reported_as_a_stall_naming_the_host(
    system: system_bus.SystemBus, tmp_path: Path, programs: list[Program]
) -> None:
    picture = tmp_path / "stalled.png"
    with system.sshd() as ssh:
        plot = plot_over_ssh(system, ssh, picture, programs)
        stopped = sshd_pids(ssh.folder)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)  # the link stalls: nothing ends, nothing answers
        try:
            start = time.monotonic()
            plot.expect(rf"^wrote {picture}$", timeout=30)
            took = time.monotonic() - start  # noticed, and the picture written
            code = plot.wait(timeout=30)
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
    print(f"stall noticed, picture written {took:.1f} s after sshd was stopped")
    assert code == 1
    assert len(plot.stderr) == 1, plot.stderr
    assert re.search(rf"--host {re.escape(ssh.host())}: the link stalled", plot.stderr[0]), (
        plot.stderr
    )
    assert picture.stat().st_size > 0, "--save's picture was not written"


def test_a_lost_link_still_writes_the_picture(
    system: system_bus.SystemBus, tmp_path: Path, programs: list[Program]
) -> None:
    picture = tmp_path / "lost.png"
    with system.sshd() as ssh:
        plot = plot_over_ssh(system, ssh, picture, programs)
        for pid in reversed(sshd_pids(ssh.folder)[1:]):  # the sessions; the listener stays
            with contextlib.suppress(ProcessLookupError):  # gone with its parent already
                os.kill(pid, signal.SIGKILL)
        code = plot.wait(timeout=30)
    assert code == 1
    assert len(plot.stderr) == 1 and plot.stderr[0].startswith("lost --host "), plot.stderr
    assert f"wrote {picture}" in plot.stdout
    assert picture.stat().st_size > 0
