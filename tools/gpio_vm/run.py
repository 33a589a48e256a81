"""Boot the gpio-vm and run a command of the host's inside it, as root, on a real kernel.

qemu (software emulation: -accel tcg) boots Debian's stock kernel with our initramfs;
the guest mounts the host's / read-only over 9p and runs a script we write for it,
chrooted there, so this very checkout and its .venv are what runs inside. qemu's own
exit status says nothing about the guest's, so the guest prints `gpio-vm: exit status N`
on its console and we read it back.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tools.gpio_vm.build import CACHE, VmError, ready_folder
from tools.table import ROOT

QEMU = "qemu-system-x86_64"
STATUS = re.compile(r"^gpio-vm: exit status (\d+)\s*$")
# Software emulation: KVM does not boot a stock kernel on every machine (nor on ours).
# GPIO_VM_ACCEL=kvm is much faster where it works.
ACCEL = os.environ.get("GPIO_VM_ACCEL") or "tcg"
TIMEOUT = 1200.0  # seconds for a whole boot and test run; hit only if the guest hangs
# What `make test-gpio-vm` runs in the guest: the hardware tests, and the graders' CAN tests
# (the guest's kernel has CAN sockets and vcan; the host's may not).
GUEST_TESTS = (
    "tests/gpio_vm",
    "tests/graders/test_step05.py::test_can_frames_arrive_as_lines_in_order_none_lost",
    "tests/graders/test_step05.py::test_frames_the_kernel_dropped_are_counted_never_silently_lost",
    "tests/graders/test_step05.py::test_error_and_fd_frames_are_one_notice_each",
    "tests/graders/test_step05.py::test_interface_going_down_is_one_line_and_frames_follow_once_up",
    "tests/graders/test_step05.py::test_unusable_can_is_one_clear_line_and_sockets_go_on",
    "tests/graders/test_step06.py::test_can_frames_are_signals_in_order_and_listed",
)


def unavailable() -> str | None:
    """Why the VM cannot run here (one line), or None."""
    if not shutil.which(QEMU):
        return f"no {QEMU}: run `make gpio-vm` (as root on Debian) to install and build the VM"
    if ready_folder() is None:
        return f"the gpio-vm is not built ({CACHE.relative_to(ROOT)}): run `make gpio-vm`"
    return None


def guest_script(command: Sequence[str], env: dict[str, str]) -> str:
    """The shell script the guest runs, chrooted into the host's /."""
    exports = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/run/tmp",  # a tmpfs of the guest's own (/tmp shows the host's too)
        "PYTHONDONTWRITEBYTECODE": "1",  # the share is read-only
        "GPIO_VM": "1",
        **env,
    }
    lines = [f"export {key}={shlex.quote(value)}" for key, value in exports.items()]
    return "\n".join(
        [
            *lines,
            "mkdir -p $TMPDIR",
            f"cd {shlex.quote(str(ROOT))} || exit 2",
            f"exec {shlex.join(command)}",
            "",
        ]
    )


def boot(
    command: Sequence[str],
    env: dict[str, str] | None = None,
    echo: bool = True,
    timeout: float = TIMEOUT,
) -> tuple[int, str]:
    """Run command in the guest; returns its exit status and the console output."""
    if reason := unavailable():
        raise VmError(reason)
    folder = ready_folder()
    assert folder is not None
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=CACHE) as tmp:
        script = Path(tmp) / "guest.sh"
        script.write_text(guest_script(command, env or {}))
        argv = [
            QEMU,
            *("-accel", ACCEL, "-cpu", "max", "-smp", "2", "-m", "1024"),
            *("-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none"),
            *("-serial", "stdio"),
            *("-kernel", str(folder / "vmlinuz"), "-initrd", str(folder / "initramfs.gz")),
            "-append",
            f"console=ttyS0 quiet panic=-1 gpio_vm_script={script}",
            "-virtfs",
            "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
        ]
        qemu = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        # A hung guest prints nothing more: a timer ends qemu, which ends our reading.
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            qemu.kill()

        watchdog = threading.Timer(timeout, stop)
        watchdog.start()
        output: list[str] = []
        status: int | None = None
        assert qemu.stdout is not None
        try:
            for raw in qemu.stdout:
                line = raw.rstrip("\r\n")
                output.append(line)
                if echo:
                    print(line, flush=True)
                if match := STATUS.match(line):
                    status = int(match.group(1))
            qemu.wait()
        finally:
            watchdog.cancel()
            if qemu.poll() is None:
                qemu.kill()
                qemu.wait()
    if status is None and timed_out.is_set():
        raise VmError(f"the guest was still running after {timeout:.0f}s; stopped it")
    if status is None:
        tail = " / ".join(output[-3:])
        raise VmError(f"the guest never reported its exit status (qemu {qemu.returncode}): {tail}")
    return status, "\n".join(output)


def pytest_in_guest(args: Sequence[str], echo: bool = True) -> tuple[int, str]:
    """pytest, with this checkout's venv, inside the guest; STEPS passes through."""
    env = {key: os.environ[key] for key in ("STEPS",) if os.environ.get(key)}
    # Looking for plugins reads every package's metadata: ~12 s in the emulated guest.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["INCOMING_TEST_TIMEOUT"] = "60"  # every instruction emulated: a Python start takes seconds
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return boot(command, env, echo=echo)
