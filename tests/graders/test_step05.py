"""Grader for step 05: a GPIO line's edge events as one more task on the loop.

Here the line is the simulated one (no GPIO on most machines); the same receiver
against a real kernel GPIO chip (gpio-sim, in a VM) is tests/gpio_vm/. The CAN bus
(--can) needs a kernel with CAN and a vcan interface: the gpio-vm has both
(tests/test_gpio_vm.py runs these tests there); elsewhere they skip and say why.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import TIMEOUT, Program, send, wait_until
from tools import can_sim

STEP = 5
EDGE = r"^simulated:0: (rising|falling) \[(\d+) ns\]$"


@pytest.mark.idea
def test_one_thread_waits_in_one_epoll_for_the_sockets_and_the_line(
    receiver: Start, tmp_path: Path
) -> None:
    """The GPIO line's fd is one more source of the one loop: no thread reads it, no timer
    polls it. (The simulated line's button is a timer of the loop's own, every 500 ms.)"""
    paths = [tmp_path / "load", tmp_path / "sine"]
    program = receiver(*paths, extra=("--gpio", "sim"))
    program.expect(r"^gpio: a simulated line .*not hardware", what="'gpio: a simulated line'")
    kernel.settle(program.pid)  # the line says a line is coming: its pipe may not be there yet
    sources = {path.name: kernel.socket_fds(program.pid, path) for path in paths}
    sources["the GPIO line's fd"] = kernel.gpio_fds(program.pid)
    why = kernel.loop_verdict(program.pid, sources, own_timer_ms=500)
    assert not why, why


@pytest.mark.idea
def test_simulated_edges_arrive_beside_the_sockets(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "load"
    program = receiver(path, extra=("--gpio", "sim"))
    program.expect(
        r"^gpio: a simulated line .*not hardware", what="'gpio: a simulated line ... not hardware'"
    )  # never passed off as hardware
    edges = [program.expect(EDGE, what="'simulated:0: rising [N ns]' lines") for _ in range(4)]
    kinds = [edge.group(1) for edge in edges]
    assert kinds in (["rising", "falling"] * 2, ["falling", "rising"] * 2), (
        f"why: the edges do not alternate rising, falling: {kinds}"
    )
    stamps = [int(edge.group(2)) for edge in edges]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4, (
        f"why: the edges' timestamps are not increasing, each its own: {stamps}"
    )
    send(path, b"0.42")  # the sockets still work on the same loop
    program.expect(rf"^{path}: 0.42$")


@pytest.mark.idea
@pytest.mark.parametrize("spec", ["gpiochip99:3", "/dev/null:0", "no-colon"])
def test_unusable_line_is_one_clear_line_and_sockets_go_on(
    receiver: Start, tmp_path: Path, spec: str
) -> None:
    path = tmp_path / "load"
    program = receiver(path, extra=("--gpio", spec))
    send(path, b"still here")
    program.expect(rf"^{path}: still here$")
    wait_until(
        lambda: any(line.startswith("gpio: ") for line in program.stderr),
        "a 'gpio: ...' line for the unusable line",
        program=program,
    )
    gpio_errors = [line for line in program.stderr if line.startswith("gpio: ")]
    assert len(gpio_errors) == 1 and spec in gpio_errors[0], (
        f"why: want one 'gpio: ...' line naming {spec!r}: {program.stderr}"
    )
    assert not any("Traceback" in line for line in program.stderr), (
        f"why: a traceback for an unusable GPIO line, not one clear line: {program.stderr[-1:]}"
    )


BURST = 1000


def can_receiver(receiver: Start, path: Path, iface: str) -> Program:
    """The receiver with --can iface, once its CAN socket is bound (it opens it before the
    tasks start, so a datagram's line means frames from now on reach it)."""
    program = receiver(path, extra=("--gpio", "none:0", "--can", iface))  # no edges in between
    send(path, b"ready")
    program.expect(rf"^{path}: ready$")
    return program


@pytest.mark.idea
def test_can_frames_arrive_as_lines_in_order_none_lost(
    receiver: Start, vcan: str, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    program = can_receiver(receiver, path, vcan)
    sources = {path.name: kernel.socket_fds(program.pid, path)}
    sources["the CAN socket"] = kernel.other_socket_fds(program.pid)
    why = kernel.loop_verdict(program.pid, sources)
    assert not why, why  # the CAN socket is one more source of the same loop
    if shutil.which("cansend"):  # can-utils, another process: a frame from outside
        subprocess.run(["cansend", vcan, "123#DEADBEEF"], check=True, timeout=60)
    else:
        can_sim.send([can_sim.parse("123#DEADBEEF")], vcan)
    program.expect(rf"^{vcan}: 123#DEADBEEF$")
    frames = ["12345678#00", "7FF#R", "321#"]  # extended id, remote request, no data
    can_sim.send([can_sim.parse(frame) for frame in frames], vcan)
    assert program.expect_lines(3) == [f"{vcan}: {frame}" for frame in frames]
    can_sim.send(can_sim.burst(BURST), vcan)  # as fast as the sending socket takes them
    got = program.expect_lines(BURST, timeout=TIMEOUT * 3)
    want = [f"{vcan}: 123#{n:08X}" for n in range(BURST)]
    lost = [line for line in want if line not in got]
    assert got == want, f"{len(lost)} of {BURST} frames lost or reordered: {got[:3]}..."
    send(path, b"0.42")  # the sockets still work on the same loop
    program.expect(rf"^{path}: 0.42$")


@pytest.mark.idea
def test_frames_the_kernel_dropped_are_counted_never_silently_lost(
    receiver: Start, vcan: str, tmp_path: Path
) -> None:
    """CAN has no flow control: a burst bigger than the socket's buffer loses frames in the
    kernel. Each line then says how many were dropped before it, and the sum adds up."""
    path = tmp_path / "load"
    program = can_receiver(receiver, path, vcan)
    count = 5 * BURST
    can_sim.send(can_sim.burst(count), vcan)
    # Drops are told with the next frame that fits: after the burst, a marker frame; should
    # the full buffer drop it too, the output goes quiet without it, and the next one follows.
    lines: list[str] = []
    for markers in range(1, 11):
        can_sim.send([can_sim.parse(f"7FF#{markers:02X}")], vcan)
        try:
            while not lines or not lines[-1].endswith(f" 7FF#{markers:02X}"):
                lines.append(program.expect(".*", timeout=5).group(0))
            break
        except AssertionError:  # quiet for 5 s: that marker was dropped as well
            assert program.process.poll() is None, program.stderr
    else:
        pytest.fail(f"10 markers after the burst, none arrived: {lines[-3:]}")
    dropped = 0
    for line in lines:
        if told := re.match(rf"^{vcan}: \((\d+) frames dropped before this one\) ", line):
            dropped += int(told[1])
    assert len(lines) + dropped == count + markers, (
        f"{count + markers} sent, {len(lines)} arrived, {dropped} said dropped: "
        f"{count + markers - len(lines) - dropped} lost without a word"
    )
    print(f"{count + markers} frames sent, {len(lines)} arrived, {dropped} dropped and said so")


@pytest.mark.idea
def test_error_and_fd_frames_are_one_notice_each(
    receiver: Start, vcan: str, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    program = can_receiver(receiver, path, vcan)
    frames = ["20000004#0000000000000000", "123##1DEADBEEF", "456#CAFE"]
    can_sim.send([can_sim.parse(frame) for frame in frames], vcan)
    error, fd, after = program.expect_lines(3)
    assert error.startswith(f"{vcan}: (an error frame") and "20000004#" in error, error
    assert fd.startswith(f"{vcan}: (a CAN FD frame") and "123" in fd, fd
    assert after == f"{vcan}: 456#CAFE", after
    assert not any("Traceback" in line for line in program.stderr), program.stderr


@pytest.mark.idea
def test_interface_going_down_is_one_line_and_frames_follow_once_up(
    receiver: Start, vcan: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"taking {vcan} down needs root")
    path = tmp_path / "load"
    program = can_receiver(receiver, path, vcan)
    can_sim.ip("link", "set", "dev", vcan, "down")
    try:
        program.expect(rf"^{vcan}: \(Network is down\)$")
    finally:
        can_sim.ip("link", "set", "dev", vcan, "up")
    send(path, b"still here")
    program.expect(rf"^{path}: still here$")
    can_sim.send([can_sim.parse("123#01")], vcan)
    program.expect(rf"^{vcan}: 123#01$")


@pytest.mark.idea
@pytest.mark.parametrize("iface", ["nocan9", "lo"], ids=["no such interface", "not CAN"])
def test_unusable_can_is_one_clear_line_and_sockets_go_on(
    receiver: Start, tmp_path: Path, iface: str
) -> None:
    """Here a kernel without CAN support says so, elsewhere the interface is wrong: one line."""
    path = tmp_path / "load"
    program = receiver(path, extra=("--gpio", "none:0", "--can", iface))
    send(path, b"still here")
    program.expect(rf"^{path}: still here$")
    wait_until(
        lambda: any(line.startswith("can: ") for line in program.stderr),
        "a 'can: ...' line for the unusable interface",
        program=program,
    )
    can_errors = [line for line in program.stderr if line.startswith("can: ")]
    assert len(can_errors) == 1 and iface in can_errors[0], (
        f"why: want one 'can: ...' line naming {iface!r}: {program.stderr}"
    )
    if reason := can_sim.unavailable():  # this kernel: socket(AF_CAN) itself fails
        assert "no CAN" in can_errors[0], (reason, can_errors)
    assert not any("Traceback" in line for line in program.stderr), program.stderr
