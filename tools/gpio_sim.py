"""A simulated GPIO chip from the kernel's gpio-sim module, and a button to press on it.

For a presenter whose kernel has gpio-sim (Fedora, Arch and Ubuntu kernels do): step 05
then watches a real /dev/gpiochipN through the real kernel GPIO character device, and
"pressing the button" changes the line's pull, which the kernel turns into real edges.

    make gpio-sim      (python3 -m tools.gpio_sim create)   make the chip, print --gpio ...
    make gpio-press    (python3 -m tools.gpio_sim toggle)   flip the line: one edge
    python3 -m tools.gpio_sim press | up | down | status | remove

The chip is made through configfs (/sys/kernel/config/gpio-sim), which needs root; when
run with sudo, the chip's /dev node and the line's pull file are handed to the user who
ran sudo, so the receiver and `make gpio-press` then work without root. The VM test
(tests/gpio_vm/) uses the same create/toggle/remove code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CONFIGFS = Path("/sys/kernel/config")
GPIO_SIM = CONFIGFS / "gpio-sim"
PLATFORM = Path("/sys/devices/platform")
NAME = "incoming"  # the configfs folder of our chip
LINES = 32
LINE = 17  # the talk's example line: gpiochipN:17
PULLS = {"up": "pull-up", "down": "pull-down"}


class GpioSimError(Exception):
    """A one-line reason: no gpio-sim here, no root, no such chip."""


class NeedsRoot(GpioSimError):
    pass


@dataclass(frozen=True)
class Chip:
    """A live gpio-sim chip: its configfs folder, and the gpiochip the kernel made of it."""

    name: str
    dev_name: str  # gpio-sim.0: the platform device
    chip_name: str  # gpiochip1: the GPIO chip, /dev/gpiochip1
    lines: int

    @property
    def device(self) -> Path:
        return Path("/dev") / self.chip_name

    def gpio_arg(self, line: int = LINE) -> str:
        """What step 05's receiver takes: --gpio /dev/gpiochip1:17."""
        return f"{self.device}:{line}"

    def pull_file(self, line: int) -> Path:
        if not 0 <= line < self.lines:
            raise GpioSimError(f"line {line} is out of range: {self.chip_name} has {self.lines}")
        return PLATFORM / self.dev_name / self.chip_name / f"sim_gpio{line}" / "pull"

    def pull(self, line: int = LINE) -> str:
        return self.pull_file(line).read_text().strip()

    def set_pull(self, line: int, pull: str) -> None:
        """pull-up makes a rising edge on a low line, pull-down a falling one on a high line."""
        try:
            self.pull_file(line).write_text(pull)
        except PermissionError:
            raise NeedsRoot(f"no permission to write {self.pull_file(line)}") from None

    def toggle(self, line: int = LINE) -> str:
        """Flip the line's pull; returns the new one."""
        new = "pull-down" if self.pull(line) == "pull-up" else "pull-up"
        self.set_pull(line, new)
        return new


def unavailable() -> str | None:
    """Why this kernel cannot make a gpio-sim chip (one line), or None if it can."""
    if GPIO_SIM.is_dir():
        return None
    release = os.uname().release
    modules = Path("/lib/modules") / release
    listed = ""
    for index in ("modules.dep", "modules.builtin"):
        with contextlib.suppress(OSError):
            listed += (modules / index).read_text()
    if "/gpio-sim.ko" in listed:
        return None  # there, not loaded yet: create() loads it
    return (
        f"this kernel ({release}) has no gpio-sim: no {GPIO_SIM} and no gpio-sim module in "
        f"{modules}; use step 05's --gpio sim, or `make test-gpio-vm` for a real one in a VM"
    )


def load_module() -> None:
    if GPIO_SIM.is_dir():
        return
    if os.geteuid() != 0:
        raise NeedsRoot("loading the gpio-sim module needs root")
    subprocess.run(["modprobe", "gpio-sim"], check=False, capture_output=True)
    if CONFIGFS.is_dir() and not GPIO_SIM.is_dir():
        subprocess.run(["mount", "-t", "configfs", "configfs", str(CONFIGFS)], check=False)
    if not GPIO_SIM.is_dir():
        raise GpioSimError(f"`modprobe gpio-sim` did not give us {GPIO_SIM}")


def find(name: str = NAME) -> Chip | None:
    """The live chip called name, if there is one."""
    folder = GPIO_SIM / name
    try:
        if (folder / "live").read_text().strip() != "1":
            return None
        lines = int((folder / "bank0" / "num_lines").read_text())
        return Chip(
            name,
            (folder / "dev_name").read_text().strip(),
            (folder / "bank0" / "chip_name").read_text().strip(),
            lines,
        )
    except OSError:
        return None


def create(name: str = NAME, lines: int = LINES, owner: int | None = None) -> Chip:
    """Make (or find) a live chip with one bank of lines; owner gets its /dev node."""
    if reason := unavailable():
        raise GpioSimError(reason)
    load_module()
    if (chip := find(name)) is None:
        if os.geteuid() != 0:
            raise NeedsRoot("creating a gpio-sim chip needs root (configfs)")
        folder = GPIO_SIM / name
        if folder.exists():
            remove(name)  # left over, not live
        (folder / "bank0").mkdir(parents=True)
        (folder / "bank0" / "num_lines").write_text(str(lines))
        (folder / "bank0" / "label").write_text(name)
        (folder / "live").write_text("1")
        chip = find(name)
        if chip is None:
            raise GpioSimError(f"{folder}: the chip did not come alive")
    if owner is not None:
        if shutil.which("udevadm"):  # udev sets up the new /dev node: let it finish first
            subprocess.run(["udevadm", "settle"], check=False)
        os.chown(chip.device, owner, -1)
        for line in range(chip.lines):
            os.chown(chip.pull_file(line), owner, -1)
    return chip


def remove(name: str = NAME) -> bool:
    """Take the chip down and delete its configfs folder; False if there was none."""
    folder = GPIO_SIM / name
    if not folder.is_dir():
        return False
    if os.geteuid() != 0:
        raise NeedsRoot("removing a gpio-sim chip needs root (configfs)")
    with contextlib.suppress(OSError):
        (folder / "live").write_text("0")
    for bank in folder.iterdir():
        if bank.is_dir():
            for line in bank.iterdir():
                if line.is_dir():
                    line.rmdir()
            bank.rmdir()
    folder.rmdir()
    return True


def existing(name: str) -> Chip:
    if reason := unavailable():
        raise GpioSimError(reason)
    chip = find(name)
    if chip is None:
        raise GpioSimError(f"no gpio-sim chip {name!r}: make one with `make gpio-sim`")
    return chip


def sudo_owner() -> int | None:
    """The user who ran sudo, who should own the chip."""
    uid = os.environ.get("SUDO_UID")
    return int(uid) if uid and uid.isdigit() and int(uid) != 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.gpio_sim", description=__doc__)
    parser.add_argument(
        "action",
        nargs="?",
        default="status",
        choices=["create", "toggle", "press", "up", "down", "status", "remove"],
    )
    parser.add_argument("--name", default=NAME, help=f"the chip's configfs name ({NAME})")
    parser.add_argument("--line", type=int, default=LINE, help=f"the button's line ({LINE})")
    parser.add_argument("--lines", type=int, default=LINES, help=f"lines on a new chip ({LINES})")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except NeedsRoot as error:
        if os.geteuid() != 0 and shutil.which("sudo") and sys.stdin.isatty():
            print(f"gpio-sim: {error}; asking sudo", file=sys.stderr)
            command = [sys.executable, "-m", "tools.gpio_sim", *(argv or sys.argv[1:])]
            os.execvp("sudo", ["sudo", *command])
        print(f"gpio-sim: {error}: run it with sudo", file=sys.stderr)
    except (GpioSimError, OSError) as error:
        print(f"gpio-sim: {error}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    if args.action == "create":
        chip = create(args.name, args.lines, owner=sudo_owner())
        chip.pull_file(args.line)  # in range?
        print(f"gpio-sim: chip {chip.name!r} is {chip.device} ({chip.lines} lines)")
        arg = chip.gpio_arg(args.line)
        print(f"  run:   python3 steps/05_gpio/receiver.py load sine --gpio {arg}")
        print(f"  press: make gpio-press GPIO_LINE={args.line}   (each press: one edge)")
    elif args.action == "remove":
        if reason := unavailable():
            raise GpioSimError(reason)
        found = remove(args.name)
        print(f"gpio-sim: {'removed' if found else 'there was no'} chip {args.name!r}")
    elif args.action == "status":
        chip = existing(args.name)
        print(f"gpio-sim: {chip.gpio_arg(args.line)} is {chip.pull(args.line)}")
    else:
        chip = existing(args.name)
        if args.action == "toggle":
            pull = chip.toggle(args.line)
        elif args.action == "press":  # down, up and back: a rising and a falling edge
            chip.set_pull(args.line, "pull-up")
            time.sleep(0.2)  # a human's press lasts a while
            pull = "pull-down"
            chip.set_pull(args.line, pull)
        else:
            pull = PULLS[args.action]
            chip.set_pull(args.line, pull)
        print(f"gpio-sim: {chip.gpio_arg(args.line)} is now {pull}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
