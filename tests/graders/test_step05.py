"""Grader for step 05: a GPIO line's edge events as one more task on the loop.

Here the line is the simulated one (no GPIO on most machines); the same receiver
against a real kernel GPIO chip (gpio-sim, in a VM) is tests/gpio_vm/.
"""

from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import send, wait_until

STEP = 5
EDGE = r"^simulated:0: (rising|falling) \[(\d+) ns\]$"


@pytest.mark.idea
def test_simulated_edges_arrive_beside_the_sockets(receiver: Start, tmp_path: Path) -> None:
    path = tmp_path / "load"
    program = receiver(path, extra=("--gpio", "sim"))
    program.expect(r"^gpio: a simulated line .*not hardware")  # never passed off as hardware
    edges = [program.expect(EDGE) for _ in range(4)]
    kinds = [edge.group(1) for edge in edges]
    assert kinds in (["rising", "falling"] * 2, ["falling", "rising"] * 2), kinds
    stamps = [int(edge.group(2)) for edge in edges]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4, stamps
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
    wait_until(lambda: any(line.startswith("gpio: ") for line in program.stderr), "gpio error")
    gpio_errors = [line for line in program.stderr if line.startswith("gpio: ")]
    assert len(gpio_errors) == 1 and spec in gpio_errors[0], program.stderr
    assert not any("Traceback" in line for line in program.stderr), program.stderr
