"""python -m tools.gpio_vm build|status|test|run: the gpio-vm (see __init__.py).

build [--if-possible]   build (or find) the VM; --if-possible: say why not, exit 0
status                  one line: ready, or why it cannot run here (exit 1)
test [PYTEST ARGS]      run tests/gpio_vm and the CAN graders (or the given pytest args) in the VM
run COMMAND...          run a command of this checkout inside the VM (as root)
"""

from __future__ import annotations

import sys
import time

from tools.gpio_vm.build import VmError, build, ready_folder
from tools.gpio_vm.run import GUEST_TESTS, boot, pytest_in_guest, unavailable


def main(argv: list[str]) -> int:
    action, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if action == "build":
            started = time.monotonic()
            had = ready_folder()
            try:
                folder = build()
            except VmError as error:
                if "--if-possible" in args:
                    print(
                        f"gpio-vm: not built, the VM test will be skipped: {error}", file=sys.stderr
                    )
                    return 0
                raise
            took = "" if had else f" in {time.monotonic() - started:.0f} s"
            print(f"gpio-vm: ready{took}: {folder}")
            return 0
        if action == "status":
            reason = unavailable()
            print(f"gpio-vm: {reason or f'ready: {ready_folder()}'}")
            return 1 if reason else 0
        if action == "test":
            status, _ = pytest_in_guest(args or [*GUEST_TESTS, "-v", "-rs"])
            return status
        if action == "run" and args:
            status, _ = boot(args)
            return status
    except VmError as error:
        print(f"gpio-vm: {error}", file=sys.stderr)
        return 1
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
