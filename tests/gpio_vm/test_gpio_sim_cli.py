"""The presenter's commands (make gpio-sim, make gpio-press) on a kernel with gpio-sim.

Runs inside the gpio-vm (`make test-gpio-vm`), or as root where the kernel has gpio-sim;
skipped elsewhere. tests/test_gpio_sim_tool.py covers the kernels without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gpio_vm.test_gpio_hardware import why_skip
from tools import gpio_sim
from tools.table import ROOT

pytestmark = pytest.mark.skipif(why_skip() is not None, reason=str(why_skip()))
NAME = f"cli-{os.getpid()}"


def tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "tools.gpio_sim", *args, "--name", NAME]
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    gpio_sim.remove(NAME)


def test_create_prints_the_gpio_argument_and_press_makes_edges(cleanup: None) -> None:
    created = tool("create", "--line", "3", env={**os.environ, "SUDO_UID": "4242"})
    assert created.returncode == 0, created.stderr
    match = re.search(r"--gpio (/dev/gpiochip\d+):3$", created.stdout, re.MULTILINE)
    assert match, created.stdout
    device = Path(match.group(1))
    chip = gpio_sim.find(NAME)
    assert chip is not None and chip.device == device
    # Made with sudo: the presenter's user gets the chip and the button, no root needed later.
    assert device.stat().st_uid == 4242 and chip.pull_file(3).stat().st_uid == 4242
    value = chip.pull_file(3).parent / "value"
    assert value.read_text().strip() == "0"
    pressed = tool("toggle", "--line", "3")
    assert pressed.returncode == 0 and "pull-up" in pressed.stdout, pressed
    assert value.read_text().strip() == "1"
    released = tool("toggle", "--line", "3")
    assert released.returncode == 0 and "pull-down" in released.stdout, released
    assert value.read_text().strip() == "0"
    again = tool("create", "--line", "3")  # idempotent: the same chip
    assert again.returncode == 0 and f"--gpio {device}:3" in again.stdout, again
    removed = tool("remove")
    assert removed.returncode == 0 and not device.exists(), removed
    gone = tool("toggle")
    assert gone.returncode == 1 and gone.stderr.startswith("gpio-sim: no gpio-sim chip"), gone
