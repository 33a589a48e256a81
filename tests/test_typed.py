"""The live copy of each step lacks exactly the idea's lines of slides/typed.toml, and no more.

The hunks are marked outside the steps' code (slides/typed.toml), so these tests are what
keeps them from drifting: a step edited under a hunk fails here, naming the hunk.
"""

from __future__ import annotations

import difflib
import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from tools import rehearse, table, typed

MOST = 40  # lines to type in any one step
STEPS = sorted(typed.load())


@pytest.mark.parametrize("n", STEPS)
def test_the_live_copy_lacks_exactly_the_marked_lines(n: int, tmp_path: Path) -> None:
    step = table.get(n)
    finished = step.folder(table.ROOT / "steps")
    live = tmp_path / step.dir
    typed.make_live(step, live)
    cuts = typed.cuts(step)
    for path in sorted(finished.iterdir()):
        if path.name == "__pycache__":
            continue
        mine = [cut for cut in cuts if cut.hunk.file == path.name]
        if not mine:
            assert filecmp.cmp(path, live / path.name, shallow=False), f"{path.name} changed"
            continue
        have = (live / path.name).read_text().splitlines(keepends=True)
        want = path.read_text().splitlines(keepends=True)
        missing: list[str] = []
        matcher = difflib.SequenceMatcher(None, have, want, autojunk=False)
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            assert tag in ("equal", "insert"), f"{path.name}: the live copy has lines of its own"
            if tag == "insert":
                missing += want[j1:j2]
        marked = [line for cut in sorted(mine, key=lambda cut: cut.start) for line in cut.lines]
        # blank lines may align either side of a hunk: compare the lines with text
        assert ink(missing) == ink(marked), f"{path.name}: the live copy lacks other lines"
        if path.suffix == ".py":
            compile("".join(have), str(live / path.name), "exec")  # it loads, the idea is missing


@pytest.mark.parametrize("n", STEPS)
def test_each_step_has_at_most_40_lines_to_type(n: int) -> None:
    assert 0 < typed.to_type(table.get(n)) <= MOST


def test_the_editor_opens_where_the_first_hunk_goes(tmp_path: Path) -> None:
    step = table.get(5)
    typed.make_live(step, tmp_path / "live")
    name, line = typed.opening(step)
    lines = (tmp_path / "live" / name).read_text().splitlines()
    first = typed.cuts(step)[0]
    assert name == "receiver.py"  # not can.py, the file with the most new lines
    assert lines[line - 2 : line] != [], "the line is inside the file"
    finished = (step.folder(table.ROOT / "steps") / name).read_text().splitlines()
    assert finished[first.start - 1] == lines[line - 2], "the line above the hunk is the same"
    assert finished[first.start + len(first.lines)] == lines[line - 1], "and the line below"


def test_a_hunk_that_drifted_is_named(tmp_path: Path) -> None:
    hunk = typed.Hunk(3, "receiver.py", "async def no_such_function():", "pass")
    with pytest.raises(ValueError, match="step 3 receiver.py: hunk start .* not found"):
        hunk.locate(["async def receive(name, sock):\n"])


def ink(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def test_the_run_sheet_fits_the_slot_with_slack() -> None:
    """slides/runsheet.toml: 45 minutes with slack kept, <= 25 minutes of typing at 5 lines a
    minute, each typed part's budget above its typing, every step it names in order."""
    sheet = rehearse.load()
    parts = sheet["part"]
    assert sum(part["minutes"] for part in parts) + sheet["slack"] <= sheet["talk"] == 45
    assert sheet["slack"] >= 2
    typed_steps = [part["step"] for part in parts if part["kind"] == "live"]
    typing = sum(typed.to_type(table.get(n)) for n in typed_steps) / typed.LINES_PER_MINUTE
    assert typing <= 25, f"{typing:.1f} minutes of typing"
    for part in parts:
        assert part["kind"] in ("slides", "live", "finished"), part
        if part["kind"] == "live":
            minutes = typed.to_type(table.get(part["step"])) / typed.LINES_PER_MINUTE
            assert minutes < part["minutes"], f"step {part['step']}: no time to talk"
    named = [part["step"] for part in parts if "step" in part]
    assert named == sorted(set(named)), "each step once, in order"
    assert set(typed_steps) <= set(typed.load()), "a typed step without hunks"


@pytest.mark.parametrize("sources", [1, 3, 6])
def test_the_plot_fits_a_1280x720_screen_with_its_toolbar(sources: int) -> None:
    """The live plot's figure: at most 1280 px wide and 600 px high, leaving 120 px of a
    720 px screen to the window's title bar and matplotlib's toolbar (steps 08-11's chart.py)."""
    code = (
        "import chart; charts = chart.LiveCharts(save='unused.png');"
        f" charts.setup([f's{{i}}' for i in range({sources})]);"
        " w, h = charts.figure.get_size_inches() * charts.figure.dpi; print(int(w), int(h))"
    )
    for folder in sorted((table.ROOT / "steps").glob("*/chart.py")):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=folder.parent, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        width, height = map(int, result.stdout.split())
        assert width <= 1280 and height <= 600, f"{folder}: {width}x{height} px"
