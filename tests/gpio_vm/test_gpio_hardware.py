"""Step 05's receiver on a real kernel GPIO chip: gpio-sim, through /dev/gpiochipN.

The kernel's GPIO simulator gives a chip whose lines we drive from sysfs (a line's
`pull`), so the edges come in through the real interrupt path and the real GPIO
character device, exactly as from a button. Runs where gpio-sim can be had as root:
inside the gpio-vm (`make test-gpio-vm`, which tests/test_gpio_vm.py runs in `make
test`), or on a machine whose kernel has the module. Skipped elsewhere, with the reason.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import gpiod
import pytest

from tests import helpers
from tests.helpers import Program, python, send, wait_until
from tools import gpio_sim, table

TOGGLES = 20
# In the gpio-vm every instruction is emulated (qemu -accel tcg): a Python start takes
# seconds there, so waits get longer. They end as soon as the awaited line comes.
TIMEOUT = helpers.TIMEOUT * (3 if os.environ.get("GPIO_VM") else 1)


def why_skip() -> str | None:
    if reason := gpio_sim.unavailable():
        return reason
    if os.geteuid() != 0:
        return "making a gpio-sim chip needs root; `make test-gpio-vm` runs this in a VM"
    return None


pytestmark = pytest.mark.skipif(why_skip() is not None, reason=str(why_skip()))


@pytest.fixture
def chip() -> Iterator[gpio_sim.Chip]:
    """A fresh gpio-sim chip of 8 lines, all pulled down; removed afterwards."""
    name = f"pytest-{os.getpid()}"
    made = gpio_sim.create(name, lines=8)
    try:
        yield made
    finally:
        gpio_sim.remove(name)


@pytest.fixture
def receiver(steps_dir: Path, runtime_dir: Path, programs: list[Program]) -> Callable[..., Program]:
    """receiver(socket_path, gpio_spec): the GPIO step's receiver, once it listens."""
    gpio_steps = [step for step in table.load() if "gpio" in step.needs]
    if not gpio_steps:
        pytest.fail("no step in steps/steps.toml needs gpio: where is step 05?")
    script = gpio_steps[0].folder(steps_dir) / "receiver.py"
    if not script.is_file():
        pytest.fail(f"no {script}")

    def start(path: Path, spec: str) -> Program:
        program = python(script, path, "--gpio", spec)
        programs.append(program)
        program.expect(r"^listening on ", TIMEOUT)
        return program

    return start


def line_is_requested(chip: gpio_sim.Chip, line: int) -> bool:
    with gpiod.Chip(str(chip.device)) as handle:
        return handle.get_line_info(line).used


def test_every_edge_arrives_in_order_with_kernel_timestamps(
    chip: gpio_sim.Chip, receiver: Callable[..., Program], tmp_path: Path
) -> None:
    line = 5
    path = tmp_path / "load"
    program = receiver(path, chip.gpio_arg(line))
    # No line is printed once the request is made: ask the kernel who holds the line.
    wait_until(
        lambda: line_is_requested(chip, line) or program.process.poll() is not None,
        f"the request of line {line}",
        TIMEOUT,
    )
    assert program.process.poll() is None, f"the receiver ended: {program.stderr[-5:]}"
    event = re.compile(rf"^{chip.chip_name}:{line}: (rising|falling) \[(\d+) ns\]$")
    last = 0
    for toggle in range(TOGGLES):
        # The kernel's timestamp of an edge must fall between the pull change and its
        # line; the receiver may ask for either clock (monotonic is gpiod's default).
        before = time.monotonic_ns(), time.time_ns()
        pull = chip.toggle(line)
        match = program.expect(rf"^{chip.chip_name}:{line}: .*", TIMEOUT)
        after = time.monotonic_ns(), time.time_ns()
        got = event.match(match.group(0))
        assert got, f"toggle {toggle}: not an edge line: {match.group(0)!r}"
        edge, stamp = got.group(1), int(got.group(2))
        want = "rising" if pull == "pull-up" else "falling"
        assert edge == want, f"toggle {toggle} ({pull}): got {edge}, want {want}"
        assert stamp > last, f"toggle {toggle}: timestamp {stamp} not after {last}"
        assert any(b <= stamp <= a for b, a in zip(before, after, strict=True)), (
            f"toggle {toggle}: timestamp {stamp} ns is not the kernel's time of this edge "
            f"(monotonic {before[0]}..{after[0]}, realtime {before[1]}..{after[1]})"
        )
        last = stamp
    # Nothing more: no duplicated or invented edge is waiting before the next datagram.
    send(path, b"after the edges")
    assert program.expect(r".*", TIMEOUT).group(0) == f"{path}: after the edges"


def test_line_held_by_another_process_is_one_error_line(
    chip: gpio_sim.Chip, receiver: Callable[..., Program], tmp_path: Path
) -> None:
    line = 2
    settings = gpiod.LineSettings()
    with gpiod.request_lines(str(chip.device), consumer="another", config={line: settings}):
        path = tmp_path / "load"
        program = receiver(path, chip.gpio_arg(line))
        assert_one_gpio_error_and_socket_works(program, path)


@pytest.mark.parametrize("where", ["line out of range", "no such chip"])
def test_unusable_line_is_one_error_line(
    chip: gpio_sim.Chip, receiver: Callable[..., Program], tmp_path: Path, where: str
) -> None:
    spec = chip.gpio_arg(chip.lines) if where == "line out of range" else "/dev/gpiochip99:0"
    path = tmp_path / "load"
    program = receiver(path, spec)
    assert_one_gpio_error_and_socket_works(program, path)


def assert_one_gpio_error_and_socket_works(program: Program, path: Path) -> None:
    def has_error() -> bool:
        ended = program.process.poll() is not None
        return ended or any(line.startswith("gpio: ") for line in program.stderr)

    wait_until(has_error, "a `gpio: ` line on stderr", TIMEOUT)
    assert program.process.poll() is None, f"the receiver ended: {program.stderr[-5:]}"
    send(path, b"still here")  # the sockets keep working
    program.expect(rf"^{path}: still here$", TIMEOUT)
    errors = program.stderr
    assert len(errors) == 1 and errors[0].startswith("gpio: "), f"want one `gpio: ` line: {errors}"
