"""The steps table, steps/steps.toml: read by the tools, the tests, notebooks and slides."""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "steps" / "steps.toml"


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
    folder = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(
        tempfile.gettempdir(), f"incoming-{os.getuid()}"
    )
    return os.path.join(folder, name)
