"""`make diff-N`: what step N adds to step N-1, as `diff -ru` of the two folders.

python3 -m tools.stepdiff N [--steps DIR] [--color auto|always|never] [--file NAME]

On a terminal the diff is coloured and paged (less -R: space for the next screen, q to
leave), the files the presenter types into (slides/typed.toml) first; FILE=NAME
(`make diff-6 FILE=interface.py`) shows one file's part only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools import table

PAGER = ["less", "-RFX"]  # colours, quit if one screen, leave it on the terminal


def diff_command(n: int, steps_dir: str | None, color: str, empty: str) -> list[str]:
    """diff -ruN of step n-1 (for step 1: the empty folder) and step n, paths as short as can be."""
    new = table.get(n).folder(steps_dir)
    old = table.get(n - 1).folder(steps_dir) if n > 1 else Path(empty)
    command = ["diff", "-ruN", "--exclude=__pycache__", f"--color={color}"]
    return [*command, os.path.relpath(old), os.path.relpath(new)]


def ordered(n: int, steps_dir: str | None, empty: str) -> list[str]:
    """The files step N changes, those typed live first (then by name)."""
    from tools import typed

    new = table.get(n).folder(steps_dir)
    old = table.get(n - 1).folder(steps_dir) if n > 1 else Path(empty)
    names = sorted(
        path.name
        for path in new.iterdir()
        if path.is_file()
        and (not (old / path.name).exists() or (old / path.name).read_bytes() != path.read_bytes())
    )
    first = [name for name in typed.files(table.get(n)) if name in names]
    return first + [name for name in names if name not in first]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make diff-N", description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="the step number")
    parser.add_argument("--steps", default=None, help="the steps folder (default: $STEPS)")
    parser.add_argument("--color", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--file", default="", help="only this file's part, e.g. interface.py")
    args = parser.parse_args(argv)
    step = table.get(args.n)
    paged = sys.stdout.isatty() and shutil.which(PAGER[0]) is not None
    color = "always" if args.color == "auto" and paged else args.color
    with tempfile.TemporaryDirectory() as empty:
        names = ordered(args.n, args.steps, empty)
        if args.file and args.file not in names:
            print(f"diff-{args.n}: step {args.n} does not change {args.file}"
                  f" (it changes: {', '.join(names)})", file=sys.stderr)  # fmt: skip
            return 2
        base = diff_command(args.n, args.steps, color, empty)
        old, new = base[-2:]
        parts = [f"# step {step.label}: {step.idea}\n".encode()]
        for name in [args.file] if args.file else names:
            one = [*base[:-2], os.path.join(old, name), os.path.join(new, name)]
            result = subprocess.run(one, capture_output=True)
            if result.returncode not in (0, 1):  # 1 just means "differs"
                sys.stderr.buffer.write(result.stderr)
                return result.returncode
            parts.append(f"diff -ruN {one[-2]} {one[-1]}\n".encode() + result.stdout)
    text = b"".join(parts)
    if paged:
        subprocess.run(PAGER, input=text)
    else:
        sys.stdout.buffer.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
