"""The steps table, steps/steps.toml: read by the tools, the tests, notebooks and slides."""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "steps" / "steps.toml"
RUN = ROOT / "run"  # what a run writes: pictures, captures


@dataclass(frozen=True)
class Step:
    n: int
    dir: str
    title: str
    idea: str
    run: str
    needs: tuple[str, ...]
    sockets: tuple[str, ...]
    client: str
    hint: str
    accepts: str = ""  # what the grader accepts besides the step's own way (the graders' cases)

    def folder(self, steps_dir: Path | str | None = None) -> Path:
        """This step's folder under steps_dir (default: $STEPS, else the repo's steps/)."""
        base = Path(steps_dir or os.environ.get("STEPS") or ROOT / "steps")
        return (base if base.is_absolute() else ROOT / base) / self.dir

    @property
    def label(self) -> str:
        return f"{self.n:02d} {self.title}"


def load(table: Path = TABLE) -> list[Step]:
    with table.open("rb") as file:
        rows = tomllib.load(file)["step"]
    steps = [
        Step(**{**row, "needs": tuple(row["needs"]), "sockets": tuple(row["sockets"])})
        for row in rows
    ]
    numbers = [step.n for step in steps]
    if numbers != list(range(1, len(steps) + 1)):
        raise ValueError(f"{table}: steps must be numbered 1, 2, 3, … in order, got {numbers}")
    return steps


def get(n: int | str) -> Step:
    steps = load()
    number = int(n)
    if not 1 <= number <= len(steps):
        raise SystemExit(f"no step {n}: the steps are 1 to {len(steps)} (see steps/steps.toml)")
    return steps[number - 1]


def socket_path(name: str) -> str:
    """Where the steps' receivers put a socket called name.

    The same rule as dgram.path_for() in every step folder (tests/test_tools.py
    checks that the two agree): a bare name goes into the per-user runtime folder.
    """
    if "/" in name:
        return name
    folder = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isdir(folder):  # unset, or gone (no login session)
        folder = os.path.join(tempfile.gettempdir(), f"incoming-{os.getuid()}")
    return os.path.join(folder, name)


def writable(path: Path) -> bool:
    """Can this user write path, or create it in its nearest existing parent?"""
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def run_dir() -> Path:
    """Where a run's outputs go: run/ in the checkout, or, in a checkout this user cannot
    write (a shared read-only one), a folder of their own, said in one line on stderr."""
    if writable(RUN):
        return RUN
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    mine = cache / "incoming" / "run"
    if not writable(mine):
        mine = Path(tempfile.gettempdir()) / f"incoming-{os.getuid()}" / "run"
    print(f"{RUN} is read-only for you: writing to {mine} instead", file=sys.stderr)
    return mine
