"""Every grader's idea tests fail on the previous step's code (rustlings' `dev check`).

For each step N > 1: a scratch steps folder whose step-N folder holds a copy of
step N-1; the idea tests of grader N must fail there, and pass on the real step N.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import grade, table

STEPS = [step for step in table.load() if step.n > 1 and grade.grader_for(step.n).exists()]


def run_idea_tests(
    n: int, steps_dir: Path, timeout: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Grader n's idea tests on steps_dir. timeout shortens the graders' waits, for a line that
    never comes on the previous step's code; the real step keeps the graders' own."""
    env = dict(os.environ)
    if timeout is not None:
        env["INCOMING_TEST_TIMEOUT"] = timeout
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-m",
            "idea",
            "-p",
            "no:cacheprovider",
            str(grade.grader_for(n)),
            f"--steps={steps_dir}",
        ],
        cwd=table.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_step_has_a_grader() -> None:
    missing = [step.label for step in table.load() if not grade.grader_for(step.n).exists()]
    assert not missing, f"steps without tests/graders/test_stepNN.py: {missing}"


@pytest.mark.parametrize("step", STEPS, ids=[f"step{s.n:02d}" for s in STEPS])
def test_idea_tests_fail_on_the_previous_step(step: table.Step, tmp_path: Path) -> None:
    previous = table.get(step.n - 1)
    shutil.copytree(
        previous.folder(), tmp_path / step.dir, ignore=shutil.ignore_patterns("__pycache__")
    )
    result = run_idea_tests(step.n, tmp_path, timeout="4")
    assert "passed" not in result.stdout.splitlines()[-1] or "failed" in result.stdout, (
        result.stdout
    )
    assert result.returncode == 1, (
        f"step {step.n}'s idea tests pass on step {previous.n}:\n{result.stdout}"
    )


@pytest.mark.parametrize("step", STEPS, ids=[f"step{s.n:02d}" for s in STEPS])
def test_idea_tests_exist_and_pass_on_the_step(step: table.Step) -> None:
    result = run_idea_tests(step.n, step.folder().parent)
    assert result.returncode == 0, result.stdout
    assert " passed" in result.stdout.splitlines()[-1], result.stdout
