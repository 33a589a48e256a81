"""Working copies of a step, for `make live-N` (the presenter) and `make watch` (attendees).

A step's starting point is the step before it: step N's folder holds a copy of step
N-1, and the person at the keyboard types the one idea. Step 1 has no step 0: its
starting point is step 01 with receiver.py cut down to its docstring.
"""

from __future__ import annotations

import ast
import difflib
import shutil
from pathlib import Path

from tools import table

SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def changed_lines(old: Path, new: Path) -> int:
    """How many lines differ between two files (a missing file has none)."""
    before = old.read_text().splitlines() if old.exists() else []
    after = new.read_text().splitlines() if new.exists() else []
    diff = difflib.unified_diff(before, after, lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def changed_files(step: table.Step) -> list[str]:
    """The files step N changes or adds, the one with the most changed lines first."""
    new = step.folder(table.ROOT / "steps")
    if step.n == 1:
        return ["receiver.py"]  # everything is new; the receiver is what step 1 is about
    old = table.get(step.n - 1).folder(table.ROOT / "steps")
    counts = {path.name: changed_lines(old / path.name, path) for path in new.glob("*.py")}
    changed = [name for name, count in counts.items() if count]
    return sorted(changed, key=lambda name: (-counts[name], name))


def main_file(step: table.Step) -> str:
    """The file step N changes most: the one to open in the editor."""
    return changed_files(step)[0]


def docstring_only(source: str) -> str:
    """A module's source cut down to its leading comments and docstring."""
    body = ast.parse(source).body
    if not body or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Constant):
        return ""
    end = body[0].end_lineno or 0
    return "".join(source.splitlines(keepends=True)[:end]) + "\n"


def make_start(step: table.Step, destination: Path, previous: Path | None = None) -> None:
    """Fill destination (which must not exist) with step N's starting point.

    previous: the folder of step N-1 to start from (default: the finished one in steps/).
    """
    if step.n == 1:
        shutil.copytree(step.folder(table.ROOT / "steps"), destination, ignore=SKIP)
        receiver = destination / "receiver.py"
        receiver.write_text(docstring_only(receiver.read_text()))
        return
    source = previous or table.get(step.n - 1).folder(table.ROOT / "steps")
    shutil.copytree(source, destination, ignore=SKIP)
