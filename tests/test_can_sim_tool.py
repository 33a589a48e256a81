"""make can-sim / tools/can_sim.py: frames in candump notation, and a kernel without CAN.

Where the kernel has CAN (the gpio-vm), the tool's real work is what the CAN graders
use there: tests/graders/test_step05.py and test_step06.py create vcan0 and send with it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools import can_sim
from tools.table import ROOT

NO_CAN = pytest.mark.skipif(
    can_sim.unavailable() is None, reason="this kernel has CAN: see the graders in the gpio-vm"
)


@pytest.mark.parametrize(
    "text, can_id, data",
    [
        ("123#DEADBEEF", 0x123, b"\xde\xad\xbe\xef"),
        ("12345678#00", 0x12345678 | can_sim.EFF_FLAG, b"\x00"),
        ("7FF#R", 0x7FF | can_sim.RTR_FLAG, b""),
        ("20000004#0000", 0x20000004, b"\x00\x00"),  # an error frame: no EFF flag added
    ],
)
def test_candump_notation_becomes_a_can_frame(text: str, can_id: int, data: bytes) -> None:
    frame = can_sim.parse(text)
    got_id, length, payload = can_sim.CLASSIC.unpack(frame)
    assert (got_id, payload[:length]) == (can_id, data)
    assert all(byte == 0 for byte in payload[length:])


def test_a_can_fd_frame_is_the_bigger_struct() -> None:
    frame = can_sim.parse("123##1" + "AB" * 12)
    can_id, length, flags, payload = can_sim.FD.unpack(frame)
    assert (can_id, length, flags, payload[:12]) == (0x123, 12, 1, b"\xab" * 12)


@pytest.mark.parametrize("text", ["", "123", "12#00", "123#XY", "123#" + "00" * 9, "ZZZ#00"])
def test_what_is_not_a_frame_is_one_clear_error(text: str) -> None:
    with pytest.raises(can_sim.CanSimError, match="is not a frame"):
        can_sim.parse(text)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )


@NO_CAN
@pytest.mark.parametrize("action", [["create"], ["send", "123#00"], ["status"]])
def test_no_can_in_the_kernel_is_one_line_and_a_failure(action: list[str]) -> None:
    done = run(sys.executable, "-m", "tools.can_sim", *action)
    assert done.returncode == 1 and done.stdout == "", done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("can-sim: "), done.stderr
    assert "has no CAN sockets" in lines[0] and "make test-gpio-vm" in lines[0], lines[0]


@NO_CAN
def test_make_can_sim_says_why_and_fails() -> None:
    done = run("make", "-s", "can-sim")
    assert done.returncode != 0, done
    lines = done.stderr.splitlines()
    # On a fresh machine the first run installs can-utils: one line of its own, apt's in a log.
    installing = [line for line in lines if line.startswith("system-deps: installing ")]
    assert len(installing) <= 1 and all("can-utils" in line for line in installing), lines
    ours = [line for line in lines if not line.startswith("make") and line not in installing]
    assert len(ours) == 1 and ours[0].startswith("can-sim: "), done.stderr
