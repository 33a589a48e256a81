"""`make check-N`: grade step N of a steps folder with its tests (the graders in tests/graders/).

    python3 -m tools.grade N [--steps DIR] [pytest options...]

The graders are ordinary pytest files, tests/graders/test_stepNN.py; this runs the
one for step N against DIR (default: $STEPS, else the repo's steps/) and, when it
fails, prints the step's hint from steps/steps.toml.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

from tools import table

GRADERS = table.ROOT / "tests" / "graders"


def grader_for(n: int) -> Path:
    return GRADERS / f"test_step{n:02d}.py"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make check-N", description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="the step number")
    parser.add_argument("--steps", default=None, help="the steps folder (default: $STEPS)")
    args, pytest_args = parser.parse_known_args(argv)
    step = table.get(args.n)
    folder = step.folder(args.steps)
    if not folder.is_dir():
        print(f"check-{step.n}: {folder}: no such folder (copy steps/{step.dir} there first)")
        return 1
    print(f"grading step {step.label} in {folder}", flush=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        str(grader_for(step.n)),
        f"--steps={folder.parent}",
        *pytest_args,
    ]
    if not table.writable(table.ROOT / ".pytest_cache"):  # a shared read-only checkout
        command += ["-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=table.ROOT)
    if result.returncode == 0:
        print(f"step {step.n} passes: {step.idea}")
    else:
        print(f"\nstep {step.n} does not pass yet. Hint:")
        print(textwrap.indent(textwrap.fill(step.hint, 76), "    "))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
