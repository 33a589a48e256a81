"""Step 05 on a real kernel: the hardware tests (tests/gpio_vm/) and the graders' CAN tests
(a vcan bus: tests/graders/test_step05.py, test_step06.py) run inside the gpio-vm.

`make test` builds the VM first where it can (Debian, root: `make gpio-vm`); elsewhere
this test is skipped with the reason. The guest's pytest must pass every hardware test:
a run where they were skipped in there (no gpio-sim after all) fails here.
"""

from __future__ import annotations

import re

import pytest

from tools.gpio_vm.build import VmError
from tools.gpio_vm.run import GUEST_TESTS, pytest_in_guest, unavailable


@pytest.mark.slow
def test_hardware_grader_passes_on_a_real_kernel() -> None:
    if reason := unavailable():
        pytest.skip(reason)
    try:
        status, output = pytest_in_guest([*GUEST_TESTS, "-rA", "--color=no"], echo=False)
    except VmError as error:
        pytest.fail(f"gpio-vm: {error}")
    tail = "\n".join(output.splitlines()[-40:])
    assert status == 0, f"pytest in the gpio-vm exited {status}:\n{tail}"
    summary = re.search(r"=+ (.*) in [\d.]+s", output)
    assert summary, f"no pytest summary on the guest's console:\n{tail}"
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (\w+)", summary.group(1)))
    assert counts.get("passed", 0) >= 10 and set(counts) == {"passed"}, summary.group(0)
    for test in ("test_can_frames_arrive", "test_can_frames_are_signals", "test_can_socket_is"):
        assert re.search(rf"^PASSED \S*{test}", output, re.M), f"{test} did not pass:\n{tail}"
