"""What every step's receiver must do, collected into each grader (test_stepNN.py).

A grader module sets STEP = N and does `from tests.graders.common import *`, so
these tests run against that step's folder. The tests of the step's one new idea
live in the grader module itself, marked @pytest.mark.idea.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Program, python, send

__all__ = [
    "test_receives_and_prints_a_message",
    "test_sender_sends_each_piped_line",
    "test_non_utf8_datagram_gets_a_notice",
    "test_empty_datagram_gets_a_notice",
    "test_oversized_datagram_is_reported_truncated",
    "test_socket_file_is_owner_only_whatever_the_umask",
    "test_stale_socket_file_is_replaced",
    "test_live_receiver_is_not_robbed_of_its_path",
    "test_clean_exit_on_signal",
    "test_sender_says_when_nobody_listens",
    "test_default_socket_lives_in_the_runtime_dir",
]

Start = Callable[..., Program]


def sender(step: Path, target: str | Path, lines: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the step's sender.py with lines on its standard input (a pipe, not a terminal)."""
    return subprocess.run(
        [sys.executable, "sender.py", str(target)],
        cwd=step,
        input=lines,
        capture_output=True,
        timeout=30,
    )


def test_receives_and_prints_a_message(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"hello")
    program.expect(rf"^{path}: hello$")


def test_sender_sends_each_piped_line(receiver: Start, step: Path, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    result = sender(step, path, "first\nsecond\nwörld\n".encode())
    assert result.returncode == 0, result.stderr.decode()
    for text in ("first", "second", "wörld"):
        program.expect(rf"^{path}: {text}$")


def test_non_utf8_datagram_gets_a_notice(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"\xff\xfe broken", b"after")
    program.expect(rf"^{path}: \(not UTF-8, 9 bytes\)")
    program.expect(rf"^{path}: after$")  # and it keeps receiving


def test_empty_datagram_gets_a_notice(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"", b"after")
    program.expect(rf"^{path}: \(empty datagram\)$")
    program.expect(rf"^{path}: after$")


def test_oversized_datagram_is_reported_truncated(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"x" * 5000, b"after")
    line = program.expect(rf"^{path}: \(truncated to (\d+) bytes\) (x*)$")
    assert len(line.group(2)) == int(line.group(1)) < 5000
    program.expect(rf"^{path}: after$")


def test_socket_file_is_owner_only_whatever_the_umask(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    old = os.umask(0)  # the child inherits the most permissive umask there is
    try:
        receiver(path)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert mode == 0o600, f"socket file mode is {mode:o}, want 600"


def test_stale_socket_file_is_replaced(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    crashed.bind(str(path))
    crashed.close()  # its file stays behind, as after a crash
    program = receiver(path)
    send(path, b"still works")
    program.expect(rf"^{path}: still works$")


def test_live_receiver_is_not_robbed_of_its_path(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "incoming"
    first = receiver(path)
    second = python(step / "receiver.py", path, env=step_env)
    assert second.wait() != 0
    assert len(second.stderr) == 1, second.stderr
    assert re.search("listening there|taken", second.stderr[0]), second.stderr
    send(path, b"still mine")
    first.expect(rf"^{path}: still mine$")


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_clean_exit_on_signal(receiver: Start, tmp_path: Path, signum: int) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    program.signal(signum)
    assert program.wait() == 0
    assert not any("Traceback" in line for line in program.stderr), program.stderr
    assert not path.exists(), f"{path} left behind"


def test_sender_says_when_nobody_listens(step: Path, tmp_path: Path) -> None:
    result = sender(step, tmp_path / "nobody", b"hello?\n")
    assert result.returncode != 0
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "nobody is listening" in lines[0], lines


def test_default_socket_lives_in_the_runtime_dir(receiver: Start, runtime_dir: Path) -> None:
    program = receiver()
    path = runtime_dir / "incoming"
    assert path.exists(), f"no socket at {path}"
    send(path, b"default")
    program.expect(r": default$")
