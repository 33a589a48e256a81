"""The graders' own test cases: known mistakes and valid alternatives, one file each.

    tests/graders/cases/stepNN/mistake_<slug>.py    must fail, with its idea's why line
    tests/graders/cases/stepNN/valid_<slug>.py      must pass

Each is one complete replacement of one file of step NN. Its first comment lines say

    # replaces: receiver.py
    # why: <a regex the grader's why line must match>      (mistakes only)
    # what: <one line: the mistake, or the alternative>

grade(case, scratch) copies step NN into a scratch steps folder, puts the case file in
and runs the grader as `make check-N` does (tools/grade.py). tests/test_graders_cases.py
asserts each verdict; `make grade-timing` (tools/grade_timing.py) times them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools import table

CASES = table.ROOT / "tests" / "graders" / "cases"
HEADER = re.compile(r"^#\s*(replaces|why|what):\s*(.*?)\s*$")


@dataclass(frozen=True)
class Case:
    step: int
    path: Path
    kind: str  # "mistake" or "valid"
    replaces: str
    why: str  # a regex ("" for a valid one)
    what: str

    @property
    def name(self) -> str:
        return f"step{self.step:02d}/{self.path.stem}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    why: str  # the first failure's why line ("" if none was printed)
    seconds: float
    output: str


def parse(path: Path) -> Case:
    """A case file's header; a bad one is a one-line ValueError naming the file."""
    step = int(path.parent.name.removeprefix("step"))
    kind = path.stem.partition("_")[0]
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not (match := HEADER.match(line)):
            break
        fields[match[1]] = match[2]
    where = path.relative_to(table.ROOT)
    if kind not in ("mistake", "valid"):
        raise ValueError(f"{where}: name it mistake_<slug>.py or valid_<slug>.py")
    wanted = ["replaces", "what"] + (["why"] if kind == "mistake" else [])
    if missing := [name for name in wanted if not fields.get(name)]:
        raise ValueError(f"{where}: no '# {missing[0]}: ...' line at the top")
    if not (table.get(step).folder() / fields["replaces"]).is_file():
        raise ValueError(f"{where}: step {step} has no {fields['replaces']} to replace")
    return Case(step, path, kind, fields["replaces"], fields.get("why", ""), fields["what"])


def load(step: int | None = None) -> list[Case]:
    """Every case (of one step), by step then name."""
    folders = [CASES / f"step{step:02d}"] if step is not None else sorted(CASES.glob("step*"))
    return [parse(path) for folder in folders for path in sorted(folder.glob("*.py"))]


def steps_with_cases() -> list[int]:
    return sorted({case.step for case in load()})


def scratch(case: Case, steps_dir: Path, source: Path | None = None) -> Path:
    """A steps folder under steps_dir holding step N with the case's file in; its path."""
    step = table.get(case.step)
    folder = steps_dir / step.dir
    shutil.copytree(
        (source or table.ROOT / "steps") / step.dir,
        folder,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copyfile(case.path, folder / case.replaces)
    return steps_dir


def grade(case: Case, steps_dir: Path, root: Path = table.ROOT, timeout: float = 600) -> Verdict:
    """Grade the case as `make check-N` does, with the graders of root (this checkout)."""
    scratch(case, steps_dir)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(root)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.grade", str(case.step), f"--steps={steps_dir}"]
        + ["-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    whys = re.findall(r"^\s*(why: .*)$", result.stdout, re.M)
    return Verdict(result.returncode == 0, whys[-1] if whys else "", seconds, result.stdout)
