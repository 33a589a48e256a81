"""`make diff-N`: what step N adds to step N-1, as `diff -ru` of the two folders.

python3 -m tools.stepdiff N [--steps DIR] [--color auto|always|never]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tools import table


def diff_command(n: int, steps_dir: str | None, color: str, empty: str) -> list[str]:
    """diff -ruN of step n-1 (for step 1: the empty folder) and step n, paths as short as can be."""
    new = table.get(n).folder(steps_dir)
    old = table.get(n - 1).folder(steps_dir) if n > 1 else Path(empty)
    command = ["diff", "-ruN", "--exclude=__pycache__", f"--color={color}"]
    return [*command, os.path.relpath(old), os.path.relpath(new)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make diff-N", description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="the step number")
    parser.add_argument("--steps", default=None, help="the steps folder (default: $STEPS)")
    parser.add_argument("--color", default="auto", choices=["auto", "always", "never"])
    args = parser.parse_args(argv)
    step = table.get(args.n)
    print(f"# step {step.label}: {step.idea}", flush=True)
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(diff_command(args.n, args.steps, args.color, empty))
    return 0 if result.returncode in (0, 1) else result.returncode  # 1 just means "differs"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
