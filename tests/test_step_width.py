"""Every line of the steps fits make live-N's editor pane on the projector (89 columns at
120x35), so none wraps; the graders' cases are versions of step files, kept to the same.

ruff holds the Python files to it (steps/ruff.toml); this holds every file there.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tools import table

WIDTH = 88
FOLDERS = [table.ROOT / "steps", table.ROOT / "tests" / "graders" / "cases"]


def files() -> list[Path]:
    return sorted(
        path
        for folder in FOLDERS
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def test_ruff_holds_the_steps_to_the_same_width() -> None:
    config = tomllib.loads((table.ROOT / "steps" / "ruff.toml").read_text())
    assert config["line-length"] == WIDTH


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_no_line_is_wider_than_the_editor_pane(folder: Path) -> None:
    wide = [
        f"{path.relative_to(table.ROOT)}:{number}: {len(line)} columns"
        for path in files()
        if folder in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > WIDTH
    ]
    assert not wide, f"wider than {WIDTH} columns:\n" + "\n".join(wide)
