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
    program.expect(rf"^{path}: hello$", what="the datagram 'hello' printed as 'NAME: hello'")


def test_sender_sends_each_piped_line(receiver: Start, step: Path, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    result = sender(step, path, "first\nsecond\nwörld\n".encode())
    assert result.returncode == 0, f"why: sender.py failed: {result.stderr.decode().strip()}"
    for text in ("first", "second", "wörld"):
        program.expect(rf"^{path}: {text}$", what=f"the line {text!r} from sender.py, printed")


def test_non_utf8_datagram_gets_a_notice(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"\xff\xfe broken", b"after")
    program.expect(
        rf"^{path}: \(not UTF-8, 9 bytes\)",
        what="'(not UTF-8, 9 bytes) ...' for a non-UTF-8 datagram",
    )
    program.expect(rf"^{path}: after$", what="the next datagram after a non-UTF-8 one")


def test_empty_datagram_gets_a_notice(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"", b"after")
    program.expect(rf"^{path}: \(empty datagram\)$", what="'(empty datagram)' for an empty one")
    program.expect(rf"^{path}: after$", what="the next datagram after an empty one")


def test_oversized_datagram_is_reported_truncated(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    send(path, b"x" * 5000, b"after")
    line = program.expect(
        rf"^{path}: \(truncated to (\d+) bytes\) (x*)$",
        what="'(truncated to N bytes) xxx...' for a 5000-byte datagram",
    )
    assert len(line.group(2)) == int(line.group(1)) < 5000, (
        f"why: said truncated to {line.group(1)} bytes but printed {len(line.group(2))}"
    )
    program.expect(rf"^{path}: after$", what="the next datagram after an oversized one")


def test_socket_file_is_owner_only_whatever_the_umask(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    old = os.umask(0)  # the child inherits the most permissive umask there is
    try:
        receiver(path)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert stat.S_ISSOCK(path.stat().st_mode), f"why: {path.name} is not a socket"
    assert mode == 0o600, f"why: the socket file's mode is {mode:o}, want 600 (owner only)"


def test_stale_socket_file_is_replaced(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "incoming"
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    crashed.bind(str(path))
    crashed.close()  # its file stays behind, as after a crash
    program = receiver(path)
    send(path, b"still works")
    program.expect(rf"^{path}: still works$", what="a datagram, received where a stale file was")


def test_live_receiver_is_not_robbed_of_its_path(
    receiver: Start,
    step: Path,
    step_env: dict[str, str],
    tmp_path: Path,
    programs: list[Program],
) -> None:
    path = tmp_path / "incoming"
    first = receiver(path)
    second = python(step / "receiver.py", path, env=step_env)
    programs.append(second)
    assert second.exited_within(), (
        "why: a second receiver on a live receiver's path is still running: it should say "
        "the path is taken and exit"
    )
    assert second.wait() != 0, "why: a second receiver on a live receiver's path did not fail"
    assert len(second.stderr) == 1, f"why: want one line saying the path is taken: {second.stderr}"
    assert re.search("listening there|taken", second.stderr[0]), (
        f"why: want one line saying the path is taken: {second.stderr}"
    )
    send(path, b"still mine")
    first.expect(rf"^{path}: still mine$", what="a datagram, to the first receiver still")


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_clean_exit_on_signal(receiver: Start, tmp_path: Path, signum: int) -> None:
    path = tmp_path / "incoming"
    program = receiver(path)
    program.signal(signum)
    how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    code = program.stopped(how)
    assert not any("Traceback" in line for line in program.stderr), (
        f"why: a traceback on {how}, not a clean exit: {program.stderr[-1:]}"
    )
    assert code == 0, f"why: exit status {code} on {how}, want 0"
    assert not path.exists(), f"why: the socket file was left behind after {how}"


def test_sender_says_when_nobody_listens(step: Path, tmp_path: Path) -> None:
    result = sender(step, tmp_path / "nobody", b"hello?\n")
    assert result.returncode != 0, "why: sender.py to a path nobody listens on succeeded"
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "nobody is listening" in lines[0], (
        f"why: want one line 'nobody is listening': {lines}"
    )


def test_default_socket_lives_in_the_runtime_dir(receiver: Start, runtime_dir: Path) -> None:
    program = receiver()
    path = runtime_dir / "incoming"
    assert path.exists(), "why: no socket 'incoming' in $XDG_RUNTIME_DIR without arguments"
    send(path, b"default")
    program.expect(r": default$", what="a datagram to the default socket, printed")
