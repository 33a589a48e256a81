"""`make check-N`: grade step N of a steps folder with its tests (the graders in tests/graders/).

    python3 -m tools.grade N [--steps DIR] [pytest options...]

The graders are ordinary pytest files, tests/graders/test_stepNN.py; this runs the
one for step N against DIR (default: $STEPS, else the repo's steps/). A pass is one
line (on a terminal; two in a log: which folder, then the verdict). A failure shows
pytest's report, then the first failure's why line (the idea that does not hold yet,
in words), how many tests did not run, and the step's hint from steps/steps.toml.
With pytest options (the notebooks' check cells pass -v), pytest's output streams as
it runs, pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tools import table

GRADERS = table.ROOT / "tests" / "graders"
VERDICT_VAR = "INCOMING_VERDICT_FILE"  # tests/graders/conftest.py writes the why lines there
BOLD, RED, GREEN, OFF = "\033[1m", "\033[31m", "\033[32m", "\033[0m"  # on a terminal


def grader_for(n: int) -> Path:
    return GRADERS / f"test_step{n:02d}.py"


def styled(text: str, style: str) -> str:
    return f"{style}{text}{OFF}" if sys.stdout.isatty() else text


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
    tty = sys.stdout.isatty()
    print(f"grading step {step.label} in {folder}", end=" ...\r" if tty else "\n", flush=True)
    stream = bool(pytest_args)  # someone asked pytest for more: show it as it comes
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--tb=short",
        str(grader_for(step.n)),
        f"--steps={folder.parent}",
        *pytest_args,
    ]
    if not table.writable(table.ROOT / ".pytest_cache"):  # a shared read-only checkout
        command += ["-p", "no:cacheprovider"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        verdict_file = Path(scratch) / "verdict.json"
        env = {**os.environ, VERDICT_VAR: str(verdict_file)}
        output = None if stream else subprocess.PIPE
        result = subprocess.run(command, cwd=table.ROOT, env=env, stdout=output, stderr=output)
        verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    seconds = time.monotonic() - started
    if result.returncode == 0:
        tests = verdict.get("tests", "all")
        line = f"step {step.n} passes ({tests} tests, {seconds:.1f} s): {step.idea}"
        print(styled(f"✓ {line}", GREEN) if tty else line)
        return 0
    if not stream:
        print(result.stdout.decode(errors="replace").rstrip("\n"))
    whys = verdict.get("whys", [])
    print()
    if whys:
        first = whys[0]
        print(styled(first["why"], BOLD + RED) if tty else first["why"])
        test = first["test"].rpartition("::")[2]
        not_run = verdict["tests"] - verdict["ran"]
        more = f"; {not_run} more tests not run" if not_run else ""
        print(f"  (in {'the idea ' if first['idea'] else ''}{test}{more}, {seconds:.1f} s)")
    print(f"step {step.n} does not pass yet. Hint:")
    print(textwrap.indent(textwrap.fill(step.hint, 76), "    "))
    if step.accepts:
        print("  The grader accepts:")
        print(textwrap.indent(textwrap.fill(step.accepts, 76), "    "))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
