"""The board (make board): a real systemd as PID 1, a real system bus, a real sshd.

The latest step's service is installed with `make install-service`; these tests check
what a board does with it: bus activation on the first call, the journal, `systemctl
restart`, the bus's policy for an unprivileged user, the host's client plotting it over
sd-bus's ssh transport, and how exposed the live unit is (systemd-analyze security).
Root on Debian; skipped with the reason elsewhere (tests/board_fixture.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Program
from tools import table
from tools.board.__main__ import FOLDER
from tools.board.machine import NAME, Board

pytestmark = pytest.mark.slow
EXPOSURE_AT_MOST = 1.0  # systemd-analyze security: 0 (locked down) to 10 (exposed); 0.2 today


def journal(board: Board, invocation: str) -> Program:
    """The journal of one run of the service, followed from its first line."""
    command = f"journalctl --follow --lines=all --output=cat _SYSTEMD_INVOCATION_ID={invocation}"
    return Program(board.ssh(command))


def show(board: Board, prop: str) -> str:
    return board.run(f"systemctl show --property={prop} --value incoming").stdout.strip()


def listening(namespace: str) -> list[str]:
    """Every socket listening on the host's network that a process in namespace holds."""
    found = []
    ss = ["ss", "--listening", "--tcp", "--udp", "--numeric", "--processes", "--no-header"]
    for line in subprocess.run(ss, capture_output=True, text=True, check=True).stdout.splitlines():
        for pid in re.findall(r"pid=(\d+)", line):
            try:
                theirs = os.readlink(f"/proc/{pid}/ns/pid")
            except OSError:
                continue  # it ended meanwhile
            if theirs == namespace:
                netid, _, _, _, local = line.split()[:5]
                found.append(f"{netid} {local}")
                break
    return found


def test_only_sshd_on_127_0_0_1_listens(board: Board) -> None:
    """nspawn shares the host's network: the board may add one listener, ours, and no other."""
    board.call()  # the service too: it must not listen anywhere (PrivateNetwork=yes)
    namespace = os.readlink(f"/proc/{board.leader}/ns/pid")
    assert listening(namespace) == [f"tcp 127.0.0.1:{board.port}"]


def test_the_first_call_starts_the_service(board: Board) -> None:
    board.run("systemctl stop incoming")
    assert show(board, "ActiveState") == "inactive"
    answer = board.call()
    assert re.fullmatch(r'as \d+ "/run/incoming/load" "/run/incoming/sine".*', answer), answer
    assert show(board, "ActiveState") == "active", "a call answered, yet the unit is not active"
    assert show(board, "MainPID") != "0"
    lines = journal(board, show(board, "InvocationID"))
    try:
        lines.expect(rf"^on the bus as {re.escape(NAME)}$")
    finally:
        lines.stop()


def test_systemctl_restart_starts_a_new_server(board: Board) -> None:
    board.call()
    before = show(board, "MainPID")
    board.run("systemctl restart incoming")
    after = show(board, "MainPID")
    assert after not in ("0", before), f"MainPID {before} -> {after}"
    assert show(board, "ActiveState") == "active"
    assert "/run/incoming/load" in board.call(), "the restarted server does not answer"


def test_a_user_may_call_but_not_own_the_name(board: Board) -> None:
    assert "/run/incoming/load" in board.call(user="viewer")
    request = "busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus"
    owned = board.run(f"{request} RequestName su {NAME} 4", user="viewer", check=False)
    assert owned.returncode != 0, f"viewer took the name: {owned.stdout}"
    assert "Access denied" in owned.stderr, owned.stderr
    # The same request from the service's own user is answered: the policy made the difference.
    as_service = "setpriv --reuid=incoming --regid=incoming --clear-groups"
    answer = board.run(f"{as_service} {request} RequestName su {NAME} 4").stdout.strip()
    assert answer in ("u 1", "u 3"), f"the service's user asked for its name: {answer}"


def test_the_host_plots_the_board_over_ssh_through_a_restart(board: Board, tmp_path: Path) -> None:
    board.call()
    board.feed("load", rate=10)
    picture = tmp_path / "board.png"
    plot = Program(
        [sys.executable, "client.py", "--host", board.host(), "--save", picture, "--seconds", "20"],
        cwd=table.get(board.step).folder(table.ROOT / "steps"),
        env=board.client_env(),
    )
    try:
        plot.expect(r"^/run/incoming/load: [\d.]+  ", timeout=30)
        board.run("systemctl restart incoming")
        plot.expect(r"is gone; waiting for it to come back$")
        plot.expect(r"^one chart each for: ")
        plot.expect(r"^/run/incoming/load: [\d.]+  ")
        plot.expect(rf"^wrote {re.escape(str(picture))}$", timeout=40)
        assert plot.wait() == 0
    finally:
        plot.stop()
    assert picture.stat().st_size > 10_000


def test_the_live_unit_is_locked_down(board: Board) -> None:
    board.call()
    said = board.run("systemd-analyze security --no-pager incoming").stdout
    found = re.search(r"Overall exposure level for incoming\.service: ([\d.]+) (\w+)", said)
    assert found, said[-500:]
    print(f"systemd-analyze security incoming on the board: {found[1]} {found[2]}")
    assert float(found[1]) <= EXPOSURE_AT_MOST, said[-2000:]


def test_make_board_ssh_stop(board: Board) -> None:
    """The three targets as a presenter types them (with the board of make board)."""
    if Board.load(FOLDER) is not None:
        pytest.skip("a board of make board is running: not stopping it")

    def make(*args: str) -> str:
        done = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=table.ROOT,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        assert done.returncode == 0, f"make {' '.join(args)}: {done.stderr}"
        return done.stdout

    started = make("board")
    try:
        assert re.search(r"--host viewer@127\.0\.0\.1:\d+$", started, re.M), started
        assert "bus-activated it" in started, started
        assert make("board-ssh", "CMD=systemctl is-active incoming").strip() == "active"
    finally:
        stopped = make("board-stop")
    assert stopped.strip() == "board: stopped"
    assert Board.load(FOLDER) is None
