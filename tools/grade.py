"""`make check-N`: grade step N of a steps folder with its tests (the graders in tests/graders/).

    python3 -m tools.grade N [--steps DIR] [pytest options...]

The graders are ordinary pytest files, tests/graders/test_stepNN.py; this runs the
one for step N against DIR (default: $STEPS, else the repo's steps/). A pass is one
line. A failure shows pytest's report, then the first failure's why line (the idea
that does not hold yet, in words), how many tests did not run, and the step's hint
from steps/steps.toml.
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
BOLD, RED, GREEN, OFF = "\033[1m", "\033[31m", "\033[32m", "\033[0m"


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
    if sys.stdout.isatty():
        print(f"grading step {step.label} in {folder} ...", end="\r", flush=True)
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
        result = subprocess.run(
            command, cwd=table.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    seconds = time.monotonic() - started
    output = result.stdout.decode(errors="replace")
    if result.returncode == 0:
        tests = verdict.get("tests", "all")
        line = f"✓ step {step.n} passes ({tests} tests, {seconds:.1f} s): {step.idea}"
        print(styled(line, GREEN).ljust(80))
        return 0
    print(output, end="" if output.endswith("\n") else "\n")
    print(styled(f"✗ step {step.n} does not pass yet ({seconds:.1f} s)", BOLD + RED))
    whys = verdict.get("whys", [])
    if whys:
        first = whys[0]
        print(styled(f"  {first['why']}", BOLD))
        test = first["test"].rpartition("::")[2]
        not_run = verdict["tests"] - verdict["ran"]
        more = f"; {not_run} more tests not run" if not_run else ""
        print(f"  ({'the idea ' if first['idea'] else ''}{test}{more})")
    print("  Hint:")
    print(textwrap.indent(textwrap.fill(step.hint, 74), "    "))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
