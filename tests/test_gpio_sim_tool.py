"""make gpio-sim / tools/gpio_sim.py where the kernel has no gpio-sim (this machine, CI).

One clear line and a non-zero exit, never a traceback. Where gpio-sim exists, the tool's
real work is tested in tests/gpio_vm/ (inside the gpio-vm, `make test-gpio-vm`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools import gpio_sim
from tools.table import ROOT

pytestmark = pytest.mark.skipif(
    gpio_sim.unavailable() is None, reason="this kernel has gpio-sim: see tests/gpio_vm/"
)


@pytest.mark.parametrize("action", ["create", "toggle", "press", "up", "status", "remove"])
def test_no_gpio_sim_is_one_line_and_a_failure(action: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.gpio_sim", action],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpio-sim: "), done.stderr
    assert "has no gpio-sim" in lines[0] and "--gpio sim" in lines[0], lines[0]


def test_make_gpio_sim_says_why_and_fails() -> None:
    done = subprocess.run(
        ["make", "-s", "gpio-sim"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode != 0, done
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1 and ours[0].startswith("gpio-sim: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
